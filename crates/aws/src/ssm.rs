//! AWS Systems Manager: the AMI parameters.

use amiroll_core::port::{op, AwsError, GetParametersOutput, SsmParameter};

use crate::convert::{required, timestamp};
use crate::error::from_sdk;

/// "GetParameters" (AWS Systems Manager API Reference): unknown names come back in
/// `InvalidParameters`, not as an error.
pub(crate) async fn get_parameters(
    client: &aws_sdk_ssm::Client,
    names: &[String],
) -> Result<GetParametersOutput, AwsError> {
    if names.is_empty() {
        return Ok(GetParametersOutput::default());
    }
    let out = client
        .get_parameters()
        .set_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| from_sdk(op::GET_PARAMETERS, e))?;
    let parameters = out
        .parameters()
        .iter()
        .map(|p| {
            Ok(SsmParameter {
                name: required(p.name(), op::GET_PARAMETERS, "Parameter.Name")?.to_owned(),
                value: required(p.value(), op::GET_PARAMETERS, "Parameter.Value")?.to_owned(),
                version: p.version(),
                data_type: p.data_type().map(str::to_owned),
                last_modified: p.last_modified_date().and_then(timestamp),
            })
        })
        .collect::<Result<Vec<_>, AwsError>>()?;
    Ok(GetParametersOutput {
        parameters,
        invalid_parameters: out.invalid_parameters().to_vec(),
    })
}
