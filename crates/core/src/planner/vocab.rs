//! The vocabulary of amiroll's state: AMI ids and parameter values, deterministic tokens and
//! round ids, capacities and times as tags hold them.

use super::*;
pub(crate) use crate::state::{fmt_time, parse_time};
pub use crate::state::{is_ami_id, Capacity};

/// Read the AMI id out of a parameter value in the expected format.
pub fn parse_ami_value(value: &str, format: AmiFormat, parameter: &str) -> Result<String, String> {
    let v = value.trim();
    let looks_json = v.starts_with('{');
    let id = match format {
        AmiFormat::Json => {
            if !looks_json {
                return Err(format!(
                    "SSM parameter `{parameter}` holds `{}`, but a JSON document (a …/recommended parameter) was expected; point ami_parameter at the JSON parameter or set ami_format = \"image-id\"",
                    truncate(v, 60)
                ));
            }
            let doc: serde_json::Value = serde_json::from_str(v)
                .map_err(|e| format!("SSM parameter `{parameter}` holds malformed JSON: {e}"))?;
            match doc.get("image_id").and_then(|x| x.as_str()) {
                Some(s) => s.to_string(),
                None => {
                    return Err(format!(
                        "the JSON in SSM parameter `{parameter}` has no string field `image_id`"
                    ))
                }
            }
        }
        AmiFormat::ImageId | AmiFormat::Auto => {
            if looks_json {
                return Err(format!(
                    "SSM parameter `{parameter}` holds a JSON document, but an AMI id was expected; point ami_parameter at …/recommended/image_id or set ami_format = \"json\""
                ));
            }
            v.to_string()
        }
    };
    if is_ami_id(&id) {
        Ok(id)
    } else {
        Err(format!(
            "SSM parameter `{parameter}` gives `{}`, which is not an AMI id (ami- followed by 8 or 17 hex digits)",
            truncate(&id, 60)
        ))
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
