//! Amazon EC2: images, instance types, launch templates and their versions, instances.

use amiroll_core::port::{
    op, AwsError, CreateVersionRequest, DeleteVersionsOutput, Ec2Instance, ErrorKind, Image,
    InstanceTypeInfo, LaunchTemplate, LaunchTemplateVersion, VersionAlias, VersionDeleteFailure,
};

use crate::convert::{
    map_image, map_instance, map_template, map_version, required, sdk_block_device, version_number,
};
use crate::error::from_sdk;
use crate::{all_pages, unique};

/// `MaxResults` for `DescribeLaunchTemplateVersions` (its maximum).
const VERSIONS_PAGE: i32 = 200;

/// `DescribeImages`: "If you specify an AMI ID that does not exist, an error is returned"
/// (`InvalidAMIID.NotFound`, or `InvalidAMIID.Malformed` for a badly formed id) — for the whole call.
fn is_unknown_image(err: &AwsError) -> bool {
    err.code == "InvalidAMIID.NotFound" || err.code == "InvalidAMIID.Malformed"
}

/// `DescribeInstances`: an unknown instance id fails the whole call with `InvalidInstanceID.NotFound`.
fn is_unknown_instance(err: &AwsError) -> bool {
    err.code == "InvalidInstanceID.NotFound" || err.code == "InvalidInstanceID.Malformed"
}

/// One `DescribeImages` call (all pages) for `ids`.
async fn describe_images_once(
    client: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<Vec<Image>, AwsError> {
    all_pages(|token| async move {
        let out = client
            .describe_images()
            .set_image_ids(Some(ids.to_vec()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(op::DESCRIBE_IMAGES, e))?;
        let images = out
            .images()
            .iter()
            .map(|image| map_image(op::DESCRIBE_IMAGES, image))
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((images, out.next_token().map(str::to_owned)))
    })
    .await
}

/// One `DescribeInstances` listing (all pages) for `ids`.
async fn describe_instances_once(
    client: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<Vec<Ec2Instance>, AwsError> {
    all_pages(|token| async move {
        let out = client
            .describe_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(op::DESCRIBE_INSTANCES, e))?;
        let instances = out
            .reservations()
            .iter()
            .flat_map(|reservation| reservation.instances())
            .map(|instance| map_instance(op::DESCRIBE_INSTANCES, instance))
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((instances, out.next_token().map(str::to_owned)))
    })
    .await
}

/// "DescribeLaunchTemplateVersions" (all pages, 200 a page): every version of one template, or
/// with `which` and no template that version of every template of the account.
async fn list_versions(
    client: &aws_sdk_ec2::Client,
    template_id: Option<&str>,
    which: Option<VersionAlias>,
) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
    all_pages(|token| async move {
        let out = client
            .describe_launch_template_versions()
            .set_launch_template_id(template_id.map(str::to_owned))
            .set_versions(which.map(|w| vec![w.as_str().to_owned()]))
            .max_results(VERSIONS_PAGE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, e))?;
        let versions = out
            .launch_template_versions()
            .iter()
            .map(|version| map_version(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, version))
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((versions, out.next_token().map(str::to_owned)))
    })
    .await
}

/// "DescribeImages" (Amazon EC2 API Reference). One unknown or malformed id fails the whole
/// call (`InvalidAMIID.NotFound` / `InvalidAMIID.Malformed`), so on those codes this asks
/// again one id at a time and leaves out the ids that fail that way.
pub(crate) async fn describe_images(
    client: &aws_sdk_ec2::Client,
    image_ids: &[String],
) -> Result<Vec<Image>, AwsError> {
    let ids = unique(image_ids);
    if ids.is_empty() {
        // No ids would list every image the caller can see.
        return Ok(Vec::new());
    }
    match describe_images_once(client, &ids).await {
        Err(err) if is_unknown_image(&err) => {
            let mut images = Vec::new();
            for id in &ids {
                match describe_images_once(client, std::slice::from_ref(id)).await {
                    Ok(found) => images.extend(found),
                    Err(err) if is_unknown_image(&err) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(images)
        }
        other => other,
    }
}

/// "DescribeInstanceTypes" (Amazon EC2 API Reference), `ProcessorInfo.SupportedArchitectures`.
pub(crate) async fn describe_instance_types(
    client: &aws_sdk_ec2::Client,
    instance_types: &[String],
) -> Result<Vec<InstanceTypeInfo>, AwsError> {
    let types = unique(instance_types);
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: &Vec<aws_sdk_ec2::types::InstanceType> = &types
        .iter()
        .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()))
        .collect();
    all_pages(|token| async move {
        let out = client
            .describe_instance_types()
            .set_instance_types(Some(wanted.clone()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(op::DESCRIBE_INSTANCE_TYPES, e))?;
        let infos = out
            .instance_types()
            .iter()
            .map(|info| {
                let instance_type = required(
                    info.instance_type(),
                    op::DESCRIBE_INSTANCE_TYPES,
                    "InstanceType",
                )?;
                Ok(InstanceTypeInfo {
                    instance_type: instance_type.as_str().to_owned(),
                    architectures: info
                        .processor_info()
                        .map(|p| p.supported_architectures())
                        .unwrap_or_default()
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((infos, out.next_token().map(str::to_owned)))
    })
    .await
}

/// "DescribeLaunchTemplates" (Amazon EC2 API Reference). Ids start with `lt-`; anything else
/// is a name. An empty answer is reported as `InvalidLaunchTemplateId.NotFound`.
pub(crate) async fn describe_launch_template(
    client: &aws_sdk_ec2::Client,
    id_or_name: &str,
) -> Result<LaunchTemplate, AwsError> {
    let request = client.describe_launch_templates();
    let request = if id_or_name.starts_with("lt-") {
        request.launch_template_ids(id_or_name)
    } else {
        request.launch_template_names(id_or_name)
    };
    let out = request
        .send()
        .await
        .map_err(|e| from_sdk(op::DESCRIBE_LAUNCH_TEMPLATES, e))?;
    let found = out.launch_templates().iter().find(|t| {
        t.launch_template_id() == Some(id_or_name) || t.launch_template_name() == Some(id_or_name)
    });
    match found {
        Some(t) => map_template(op::DESCRIBE_LAUNCH_TEMPLATES, t),
        None => Err(AwsError::new(
            op::DESCRIBE_LAUNCH_TEMPLATES,
            ErrorKind::NotFound,
            if id_or_name.starts_with("lt-") {
                "InvalidLaunchTemplateId.NotFound"
            } else {
                "InvalidLaunchTemplateName.NotFoundException"
            },
            format!("launch template {id_or_name} does not exist"),
        )),
    }
}

/// "DescribeLaunchTemplateVersions" (Amazon EC2 API Reference): with no template named, only
/// `$Latest` and `$Default` are allowed, and they describe every template's latest and
/// default versions — the whole fleet's in one call (plus pages).
pub(crate) async fn describe_current_template_versions(
    client: &aws_sdk_ec2::Client,
    which: VersionAlias,
) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
    list_versions(client, None, Some(which)).await
}

/// "DescribeLaunchTemplateVersions" (Amazon EC2 API Reference): every version, MaxResults 200
/// per page with NextToken.
pub(crate) async fn describe_launch_template_versions(
    client: &aws_sdk_ec2::Client,
    template_id: &str,
) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
    list_versions(client, Some(template_id), None).await
}

/// "CreateLaunchTemplateVersion" (Amazon EC2 API Reference): with `SourceVersion` the new
/// version inherits the source's parameters and only `ImageId` is replaced — and
/// `BlockDeviceMappings` when the request has some (inherited snapshots are dropped unless
/// sent again). The SDK does not
/// fill `ClientToken` for this operation, so the caller's deterministic token is always sent
/// ("Ensuring idempotency in Amazon EC2 API requests").
pub(crate) async fn create_launch_template_version(
    client: &aws_sdk_ec2::Client,
    request: &CreateVersionRequest,
) -> Result<LaunchTemplateVersion, AwsError> {
    let mappings: Vec<_> = request
        .block_device_mappings
        .iter()
        .map(sdk_block_device)
        .collect();
    let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
        .image_id(&request.image_id)
        .set_block_device_mappings((!mappings.is_empty()).then_some(mappings))
        .build();
    let out = client
        .create_launch_template_version()
        .launch_template_id(&request.template_id)
        .source_version(request.source_version.to_string())
        .set_version_description(Some(request.description.clone()).filter(|d| !d.is_empty()))
        .client_token(&request.client_token)
        .launch_template_data(data)
        .send()
        .await
        .map_err(|e| from_sdk(op::CREATE_LAUNCH_TEMPLATE_VERSION, e))?;
    if let Some(warning) = out.warning() {
        for e in warning.errors() {
            tracing::warn!(
                template_id = %request.template_id,
                code = e.code().unwrap_or_default(),
                message = e.message().unwrap_or_default(),
                "CreateLaunchTemplateVersion returned a validation warning"
            );
        }
    }
    let version = required(
        out.launch_template_version(),
        op::CREATE_LAUNCH_TEMPLATE_VERSION,
        "LaunchTemplateVersion",
    )?;
    map_version(op::CREATE_LAUNCH_TEMPLATE_VERSION, version)
}

/// "ModifyLaunchTemplate" (Amazon EC2 API Reference): `DefaultVersion` (wire name
/// `SetDefaultVersion`) by number.
pub(crate) async fn modify_launch_template_default_version(
    client: &aws_sdk_ec2::Client,
    template_id: &str,
    version: u64,
) -> Result<LaunchTemplate, AwsError> {
    let out = client
        .modify_launch_template()
        .launch_template_id(template_id)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(|e| from_sdk(op::MODIFY_LAUNCH_TEMPLATE, e))?;
    let template = required(
        out.launch_template(),
        op::MODIFY_LAUNCH_TEMPLATE,
        "LaunchTemplate",
    )?;
    map_template(op::MODIFY_LAUNCH_TEMPLATE, template)
}

/// "DeleteLaunchTemplateVersions" (Amazon EC2 API Reference) — partial failure is a 200:
/// each version is in `SuccessfullyDeletedLaunchTemplateVersions` or in
/// `UnsuccessfullyDeletedLaunchTemplateVersions` with a `ResponseError` (e.g. the default
/// version cannot be deleted).
pub(crate) async fn delete_launch_template_versions(
    client: &aws_sdk_ec2::Client,
    template_id: &str,
    versions: &[u64],
) -> Result<DeleteVersionsOutput, AwsError> {
    if versions.is_empty() {
        return Ok(DeleteVersionsOutput::default());
    }
    const OP: &str = op::DELETE_LAUNCH_TEMPLATE_VERSIONS;
    let out = client
        .delete_launch_template_versions()
        .launch_template_id(template_id)
        .set_versions(Some(versions.iter().map(u64::to_string).collect()))
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    let deleted = out
        .successfully_deleted_launch_template_versions()
        .iter()
        .map(|item| {
            required(
                item.version_number().and_then(version_number),
                OP,
                "SuccessfullyDeletedLaunchTemplateVersions.VersionNumber",
            )
        })
        .collect::<Result<Vec<_>, AwsError>>()?;
    let failed = out
        .unsuccessfully_deleted_launch_template_versions()
        .iter()
        .map(|item| {
            let error = item.response_error();
            Ok(VersionDeleteFailure {
                version: required(
                    item.version_number().and_then(version_number),
                    OP,
                    "UnsuccessfullyDeletedLaunchTemplateVersions.VersionNumber",
                )?,
                code: error
                    .and_then(|e| e.code())
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default(),
                message: error
                    .and_then(|e| e.message())
                    .unwrap_or_default()
                    .to_owned(),
            })
        })
        .collect::<Result<Vec<_>, AwsError>>()?;
    Ok(DeleteVersionsOutput { deleted, failed })
}

/// "DescribeInstances" (Amazon EC2 API Reference), all pages. An unknown id fails the whole
/// call (`InvalidInstanceID.NotFound`, e.g. long-terminated instances), so on that code this
/// asks one id at a time and leaves the unknown ones out.
pub(crate) async fn describe_instances(
    client: &aws_sdk_ec2::Client,
    instance_ids: &[String],
) -> Result<Vec<Ec2Instance>, AwsError> {
    let ids = unique(instance_ids);
    if ids.is_empty() {
        // No ids would list every instance in the Region.
        return Ok(Vec::new());
    }
    match describe_instances_once(client, &ids).await {
        Err(err) if is_unknown_instance(&err) => {
            let mut instances = Vec::new();
            for id in &ids {
                match describe_instances_once(client, std::slice::from_ref(id)).await {
                    Ok(found) => instances.extend(found),
                    Err(err) if is_unknown_instance(&err) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(instances)
        }
        other => other,
    }
}
