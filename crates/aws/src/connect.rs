//! Reaching AWS: the options, the shared SDK configuration (Region, profile, endpoint, retries,
//! an assumed role) and the adapter holding one client per service.

use std::fmt;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// How to reach AWS. Everything unset falls back to the standard chain (environment, shared
/// config/credentials files, SSO, container/instance metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Overrides the endpoint of every client (a local emulator). `AWS_ENDPOINT_URL` and the
    /// per-service `AWS_ENDPOINT_URL_<SERVICE>` are honoured without this.
    pub endpoint_url: Option<String>,
    /// Attempts per call including the first (SDK default: 3).
    pub max_attempts: Option<u32>,
    /// Adaptive retry mode (client-side rate limiting after throttling) instead of standard.
    pub retry_mode_adaptive: bool,
    /// Assume this role (another account) with session name `amiroll`.
    pub role_arn: Option<String>,
    /// The external id the role's trust policy asks for.
    pub external_id: Option<String>,
}

/// Why [`AwsAdapter::load`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// No Region given, none in the environment or the profile.
    NoRegion,
    /// `max_attempts` must be at least 1.
    InvalidMaxAttempts,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NoRegion => f.write_str(
                "no AWS Region: pass one, set AWS_REGION, or set `region` in the AWS profile",
            ),
            ConnectError::InvalidMaxAttempts => f.write_str("max attempts must be at least 1"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// The port on the AWS SDK: one client per service, sharing one configuration.
#[derive(Debug, Clone)]
pub struct AwsAdapter {
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) autoscaling: aws_sdk_autoscaling::Client,
    pub(crate) sns: aws_sdk_sns::Client,
    pub(crate) ecs: aws_sdk_ecs::Client,
    region: Option<String>,
}

impl AwsAdapter {
    /// Clients from an already loaded configuration.
    pub async fn from_conf(conf: &SdkConfig) -> Self {
        AwsAdapter {
            ssm: aws_sdk_ssm::Client::new(conf),
            ec2: aws_sdk_ec2::Client::new(conf),
            autoscaling: aws_sdk_autoscaling::Client::new(conf),
            sns: aws_sdk_sns::Client::new(conf),
            ecs: aws_sdk_ecs::Client::new(conf),
            region: conf.region().map(|r| r.as_ref().to_owned()),
        }
    }

    /// Loads the configuration with the standard credential chain and `options` on top.
    pub async fn load(options: &ConnectOptions) -> Result<Self, ConnectError> {
        let conf = load_config(options).await?;
        Ok(Self::from_conf(&conf).await)
    }

    /// The Region the clients talk to.
    pub fn region(&self) -> Option<String> {
        self.region.clone()
    }

    pub fn ssm_client(&self) -> &aws_sdk_ssm::Client {
        &self.ssm
    }
    pub fn ec2_client(&self) -> &aws_sdk_ec2::Client {
        &self.ec2
    }
    pub fn autoscaling_client(&self) -> &aws_sdk_autoscaling::Client {
        &self.autoscaling
    }
    pub fn sns_client(&self) -> &aws_sdk_sns::Client {
        &self.sns
    }
    pub fn ecs_client(&self) -> &aws_sdk_ecs::Client {
        &self.ecs
    }
}

/// The `SdkConfig` [`AwsAdapter::load`] uses, for callers that need more clients on it.
pub async fn load_config(options: &ConnectOptions) -> Result<SdkConfig, ConnectError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if options.max_attempts.is_some() || options.retry_mode_adaptive {
        // "Retries" (AWS SDK for Rust developer guide): standard mode, 3 attempts by default.
        let mut retry = if options.retry_mode_adaptive {
            RetryConfig::adaptive()
        } else {
            RetryConfig::standard()
        };
        if let Some(attempts) = options.max_attempts {
            if attempts == 0 {
                return Err(ConnectError::InvalidMaxAttempts);
            }
            retry = retry.with_max_attempts(attempts);
        }
        loader = loader.retry_config(retry);
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        return Err(ConnectError::NoRegion);
    }
    let Some(role) = &options.role_arn else {
        return Ok(conf);
    };
    // Another account: assume its role with the session name `amiroll` ("AssumeRole", AWS STS
    // API Reference); the base credentials come from the standard chain above.
    let mut assume = aws_config::sts::AssumeRoleProvider::builder(role.clone())
        .session_name("amiroll")
        .configure(&conf);
    if let Some(id) = &options.external_id {
        assume = assume.external_id(id.clone());
    }
    let provider = assume.build().await;
    Ok(conf
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn load_rejects_zero_attempts() {
        let options = ConnectOptions {
            region: Some("us-east-1".into()),
            max_attempts: Some(0),
            ..ConnectOptions::default()
        };
        assert_eq!(
            AwsAdapter::load(&options).await.err(),
            Some(ConnectError::InvalidMaxAttempts)
        );
    }

    #[tokio::test]
    async fn load_uses_the_given_region() {
        let options = ConnectOptions {
            region: Some("eu-west-1".into()),
            endpoint_url: Some("http://127.0.0.1:1".into()),
            max_attempts: Some(1),
            ..ConnectOptions::default()
        };
        let adapter = AwsAdapter::load(&options).await;
        assert_eq!(
            adapter.ok().and_then(|a| a.region()),
            Some("eu-west-1".to_owned())
        );
    }
}
