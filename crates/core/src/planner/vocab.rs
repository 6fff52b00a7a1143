//! The vocabulary of amiroll's state: AMI ids and parameter values, deterministic tokens and
//! round ids, capacities and times as tags hold them.

use super::*;
pub(crate) use crate::state::{fmt_time, parse_time};
pub use crate::state::{is_ami_id, Capacity};

/// Read the AMI id out of a parameter value in the expected format.
pub fn parse_ami_value(value: &str, format: AmiFormat, parameter: &str) -> Result<String, Refusal> {
    let v = value.trim();
    let looks_json = v.starts_with('{');
    let id = match format {
        AmiFormat::Json => {
            if !looks_json {
                return Err(Refusal::ParameterNotJson {
                    parameter: parameter.to_string(),
                    value: v.to_string(),
                });
            }
            let doc: serde_json::Value =
                serde_json::from_str(v).map_err(|e| Refusal::ParameterMalformedJson {
                    parameter: parameter.to_string(),
                    error: e.to_string(),
                })?;
            match doc.get("image_id").and_then(|x| x.as_str()) {
                Some(s) => s.to_string(),
                None => {
                    return Err(Refusal::ParameterNoImageId {
                        parameter: parameter.to_string(),
                    })
                }
            }
        }
        AmiFormat::ImageId | AmiFormat::Auto => {
            if looks_json {
                return Err(Refusal::ParameterIsJson {
                    parameter: parameter.to_string(),
                });
            }
            v.to_string()
        }
    };
    if is_ami_id(&id) {
        Ok(id)
    } else {
        Err(Refusal::NotAnAmi {
            parameter: parameter.to_string(),
            value: id,
        })
    }
}

/// Deterministic `ClientToken` for `CreateLaunchTemplateVersion`: a repeated or concurrent run with
/// the same template, source version and AMI gets the original version back instead of a second
/// one ("Ensuring idempotency in Amazon EC2 API requests"). ≤ 128 ASCII characters.
pub fn client_token(template_id: &str, source_version: u64, image_id: &str) -> String {
    let digest = Sha256::digest(format!("{template_id}|{source_version}|{image_id}").as_bytes());
    format!("amiroll-{}", &hex(&digest)[..56])
}

/// Deterministic id of a rollout round.
pub fn rollout_id(group: &str, image_id: &str, attempt: u32) -> String {
    let digest = Sha256::digest(format!("{group}|{image_id}|{attempt}").as_bytes());
    format!("r{}", &hex(&digest)[..10])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
