//! Where the function's configuration comes from. First match wins:
//!
//! 1. `AMIROLL_CONFIG`: the TOML document itself (inline);
//! 2. `AMIROLL_CONFIG_PARAMETER`: the name (or ARN) of an SSM parameter holding the TOML;
//! 3. the seed Lambda's four variables (`launch_template_id`, `image_id_ssm_parameter`,
//!    `sns_arn`, `asg_name`), so that a user of the seed's function replaces the code and keeps
//!    its settings.
//!
//! A variable that is set but empty counts as unset (templates often pass "" for "not given").
//! [`choose`] is the pure precedence rule; [`load_config`] also reads the parameter through the
//! port.

use amiroll_core::config::{Config, SEED_ENV};
use amiroll_core::port::Aws;

use crate::HandlerError;

/// The TOML configuration, inline.
pub const CONFIG_VAR: &str = "AMIROLL_CONFIG";
/// An SSM parameter (name or ARN) whose value is the TOML configuration.
pub const CONFIG_PARAMETER_VAR: &str = "AMIROLL_CONFIG_PARAMETER";

/// The configuration source the environment selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `AMIROLL_CONFIG`: the document.
    Inline(String),
    /// `AMIROLL_CONFIG_PARAMETER`: the parameter's name.
    Parameter(String),
    /// The seed's four variables (validated by [`Config::from_seed_env`], which names a missing one).
    SeedEnv,
}

/// Pick the configuration source; `lookup` reads one environment variable.
pub fn choose(lookup: &impl Fn(&str) -> Option<String>) -> Result<ConfigSource, HandlerError> {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    if let Some(text) = set(CONFIG_VAR) {
        return Ok(ConfigSource::Inline(text));
    }
    if let Some(name) = set(CONFIG_PARAMETER_VAR) {
        return Ok(ConfigSource::Parameter(name.trim().to_string()));
    }
    if SEED_ENV.iter().any(|v| set(v).is_some()) {
        return Ok(ConfigSource::SeedEnv);
    }
    Err(HandlerError::NoConfiguration)
}

/// Load and validate the configuration the environment selects. Only the parameter source makes
/// an AWS call (`ssm:GetParameters`, one name).
pub async fn load_config<A: Aws>(
    aws: &A,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Config, HandlerError> {
    match choose(lookup)? {
        ConfigSource::Inline(text) => Ok(Config::from_toml(&text, CONFIG_VAR)?),
        ConfigSource::Parameter(name) => {
            let text = read_parameter(aws, &name).await?;
            Config::from_toml(&text, &format!("SSM parameter {name}")).map_err(|e| {
                HandlerError::ConfigParameter {
                    name: name.clone(),
                    message: format!(
                        "{e} (the parameter must be a String or StringList holding TOML; SecureString values are not decrypted)"
                    ),
                }
            })
        }
        ConfigSource::SeedEnv => Ok(Config::from_seed_env(|k| {
            lookup(k).filter(|v| !v.trim().is_empty())
        })?),
    }
}

async fn read_parameter<A: Aws>(aws: &A, name: &str) -> Result<String, HandlerError> {
    let out = aws.get_parameters(&[name.to_string()]).await.map_err(|e| {
        HandlerError::ConfigParameter {
            name: name.to_string(),
            message: e.to_string(),
        }
    })?;
    match out.parameters.into_iter().next() {
        Some(p) => Ok(p.value),
        None => Err(HandlerError::ConfigParameter {
            name: name.to_string(),
            message: "the parameter does not exist (GetParameters lists it as invalid)".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const SEED: [(&str, &str); 4] = [
        ("launch_template_id", "lt-0abc"),
        (
            "image_id_ssm_parameter",
            "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
        ),
        ("sns_arn", "arn:aws:sns:us-east-1:123456789012:ami-updates"),
        ("asg_name", "ecs-asg"),
    ];

    #[test]
    fn inline_config_wins_over_everything() {
        let mut pairs = vec![
            (CONFIG_VAR, "[[target]]"),
            (CONFIG_PARAMETER_VAR, "/amiroll/config"),
        ];
        pairs.extend(SEED);
        assert_eq!(
            choose(&env(&pairs)),
            Ok(ConfigSource::Inline("[[target]]".to_string()))
        );
    }

    #[test]
    fn the_parameter_wins_over_the_seed_variables() {
        let mut pairs = vec![(CONFIG_PARAMETER_VAR, " /amiroll/config ")];
        pairs.extend(SEED);
        assert_eq!(
            choose(&env(&pairs)),
            Ok(ConfigSource::Parameter("/amiroll/config".to_string()))
        );
    }

    #[test]
    fn the_seed_variables_are_the_fallback() {
        assert_eq!(choose(&env(&SEED)), Ok(ConfigSource::SeedEnv));
        // Empty values count as unset, so a template can pass "" for "not given".
        let mut pairs = vec![(CONFIG_VAR, ""), (CONFIG_PARAMETER_VAR, "  ")];
        pairs.extend(SEED);
        assert_eq!(choose(&env(&pairs)), Ok(ConfigSource::SeedEnv));
    }

    #[test]
    fn nothing_set_is_an_error_naming_every_source() {
        let err = choose(&env(&[])).unwrap_err().to_string();
        for needle in [
            CONFIG_VAR,
            CONFIG_PARAMETER_VAR,
            "launch_template_id",
            "asg_name",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn a_partial_seed_environment_names_the_missing_variable() {
        let err =
            futures::executor::block_on(load_config(&amiroll_sim::SimAws::new(), &env(&SEED[..3])))
                .unwrap_err()
                .to_string();
        assert!(err.contains("`asg_name`"), "{err}");
    }
}
