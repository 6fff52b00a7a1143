//! The amiroll port ([`amiroll_core::port::Aws`]) on the official AWS SDK for Rust.
//!
//! Every method is one AWS operation (or one paginated listing of it), named after the API
//! reference page it follows. Errors become [`AwsError`] through [`from_sdk`]; nothing here
//! retries on its own beyond the SDK's retry strategy (configured by [`ConnectOptions`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use amiroll_core::port::{
    op, AutoScalingGroup, Aws, AwsError, CapacityProvider, CreateVersionRequest,
    DeleteVersionsOutput, Ec2Instance, ErrorKind, GetParametersOutput, GroupInstance, Image,
    InstanceOverride, InstanceRefresh, InstanceTypeInfo, LaunchTemplate, LaunchTemplateVersion,
    MixedInstancesPolicy, Notification, RefreshPreferences, ScheduledAction, SsmParameter,
    StartRefreshRequest, TemplateSpec, Timestamp, UpdateGroupRequest, VersionAlias,
    VersionDeleteFailure,
};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

mod convert;
mod error;

pub use error::{classify, from_sdk};

use convert::{
    parse_iso8601, sdk_template_spec, smithy_time, template_spec, timestamp, version_number,
};
use error::malformed;

/// The tag EC2 puts on instances launched from a launch template ("Launch an instance from a
/// launch template": `aws:ec2launchtemplate:id` / `aws:ec2launchtemplate:version`).
const TAG_TEMPLATE_ID: &str = "aws:ec2launchtemplate:id";
const TAG_TEMPLATE_VERSION: &str = "aws:ec2launchtemplate:version";

/// `MaxResults` for `DescribeLaunchTemplateVersions` (its maximum).
const VERSIONS_PAGE: i32 = 200;

/// `MaxRecords` for `DescribeInstanceRefreshes` (its maximum; the default is 50).
const REFRESHES_PAGE: i32 = 100;

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
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    sns: aws_sdk_sns::Client,
    ecs: aws_sdk_ecs::Client,
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

fn required<T>(value: Option<T>, operation: &'static str, what: &str) -> Result<T, AwsError> {
    value.ok_or_else(|| malformed(operation, what))
}

/// Ids in first-seen order without repeats.
fn unique(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

fn non_empty_token(token: Option<&str>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(str::to_owned)
}

/// Every page of a listing: `page(token)` sends one request and returns its items and the
/// next token; AWS ends a listing with no token or an empty one.
async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let (page_items, next) = page(token.take()).await?;
        items.extend(page_items);
        match non_empty_token(next.as_deref()) {
            Some(t) => token = Some(t),
            None => return Ok(items),
        }
    }
}

/// `DescribeImages`: "If you specify an AMI ID that does not exist, an error is returned"
/// (`InvalidAMIID.NotFound`, or `InvalidAMIID.Malformed` for a badly formed id) — for the whole call.
fn is_unknown_image(err: &AwsError) -> bool {
    err.code == "InvalidAMIID.NotFound" || err.code == "InvalidAMIID.Malformed"
}

/// `DescribeInstances`: an unknown instance id fails the whole call with `InvalidInstanceID.NotFound`.
fn is_unknown_instance(err: &AwsError) -> bool {
    err.code == "InvalidInstanceID.NotFound" || err.code == "InvalidInstanceID.Malformed"
}

fn map_template(
    operation: &'static str,
    t: &aws_sdk_ec2::types::LaunchTemplate,
) -> Result<LaunchTemplate, AwsError> {
    Ok(LaunchTemplate {
        id: required(t.launch_template_id(), operation, "LaunchTemplateId")?.to_owned(),
        name: t.launch_template_name().unwrap_or_default().to_owned(),
        default_version: required(
            t.default_version_number().and_then(version_number),
            operation,
            "DefaultVersionNumber",
        )?,
        latest_version: required(
            t.latest_version_number().and_then(version_number),
            operation,
            "LatestVersionNumber",
        )?,
    })
}

fn map_version(
    operation: &'static str,
    v: &aws_sdk_ec2::types::LaunchTemplateVersion,
) -> Result<LaunchTemplateVersion, AwsError> {
    let data = v.launch_template_data();
    Ok(LaunchTemplateVersion {
        template_id: required(v.launch_template_id(), operation, "LaunchTemplateId")?.to_owned(),
        template_name: v.launch_template_name().map(str::to_owned),
        version: required(
            v.version_number().and_then(version_number),
            operation,
            "VersionNumber",
        )?,
        description: v.version_description().map(str::to_owned),
        image_id: data.and_then(|d| d.image_id()).map(str::to_owned),
        instance_type: data
            .and_then(|d| d.instance_type())
            .map(|t| t.as_str().to_owned()),
        is_default: v.default_version().unwrap_or(false),
        create_time: v.create_time().and_then(timestamp),
    })
}

fn map_image(operation: &'static str, i: &aws_sdk_ec2::types::Image) -> Result<Image, AwsError> {
    Ok(Image {
        image_id: required(i.image_id(), operation, "ImageId")?.to_owned(),
        name: i.name().map(str::to_owned),
        state: i.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        architecture: i
            .architecture()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        creation_date: i.creation_date().and_then(parse_iso8601),
        deprecation_time: i.deprecation_time().and_then(parse_iso8601),
        owner_id: i.owner_id().map(str::to_owned),
        owner_alias: i.image_owner_alias().map(str::to_owned),
    })
}

fn map_instance(
    operation: &'static str,
    i: &aws_sdk_ec2::types::Instance,
) -> Result<Ec2Instance, AwsError> {
    let tag = |key: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    };
    Ok(Ec2Instance {
        instance_id: required(i.instance_id(), operation, "InstanceId")?.to_owned(),
        image_id: i.image_id().unwrap_or_default().to_owned(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        launch_time: i.launch_time().and_then(timestamp),
        launch_template_id: tag(TAG_TEMPLATE_ID).map(str::to_owned),
        launch_template_version: tag(TAG_TEMPLATE_VERSION).and_then(|v| v.parse().ok()),
    })
}

fn map_group(
    operation: &'static str,
    g: &aws_sdk_autoscaling::types::AutoScalingGroup,
) -> Result<AutoScalingGroup, AwsError> {
    let mixed_instances_policy = g.mixed_instances_policy().map(|p| {
        let lt = p.launch_template();
        MixedInstancesPolicy {
            template: lt
                .and_then(|l| l.launch_template_specification())
                .map(template_spec)
                .unwrap_or(TemplateSpec {
                    template_id: None,
                    template_name: None,
                    version: None,
                }),
            overrides: lt
                .map(|l| l.overrides())
                .unwrap_or_default()
                .iter()
                .map(|o| InstanceOverride {
                    instance_type: o.instance_type().map(str::to_owned),
                    template: o.launch_template_specification().map(template_spec),
                })
                .collect(),
        }
    });
    let instances = g
        .instances()
        .iter()
        .map(|i| {
            Ok(GroupInstance {
                instance_id: required(i.instance_id(), operation, "Instances.InstanceId")?
                    .to_owned(),
                lifecycle_state: i
                    .lifecycle_state()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                health_status: i.health_status().unwrap_or_default().to_owned(),
                protected_from_scale_in: i.protected_from_scale_in().unwrap_or(false),
                availability_zone: i.availability_zone().unwrap_or_default().to_owned(),
                launch_template: i.launch_template().map(template_spec),
            })
        })
        .collect::<Result<Vec<_>, AwsError>>()?;
    let tags = g
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect::<BTreeMap<_, _>>();
    Ok(AutoScalingGroup {
        name: required(
            g.auto_scaling_group_name(),
            operation,
            "AutoScalingGroupName",
        )?
        .to_owned(),
        arn: g.auto_scaling_group_arn().map(str::to_owned),
        min_size: g.min_size().unwrap_or_default(),
        max_size: g.max_size().unwrap_or_default(),
        desired_capacity: g.desired_capacity().unwrap_or_default(),
        launch_template: g.launch_template().map(template_spec),
        mixed_instances_policy,
        termination_policies: g.termination_policies().to_vec(),
        suspended_processes: g
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_owned))
            .collect(),
        instances,
        tags,
    })
}

fn map_scheduled_action(
    operation: &'static str,
    a: &aws_sdk_autoscaling::types::ScheduledUpdateGroupAction,
) -> Result<ScheduledAction, AwsError> {
    Ok(ScheduledAction {
        group_name: required(
            a.auto_scaling_group_name(),
            operation,
            "AutoScalingGroupName",
        )?
        .to_owned(),
        name: required(a.scheduled_action_name(), operation, "ScheduledActionName")?.to_owned(),
        // `Time` is the deprecated alias of `StartTime`.
        start_time: required(
            a.start_time().or(a.time()).and_then(timestamp),
            operation,
            "StartTime",
        )?,
        min_size: a.min_size(),
        max_size: a.max_size(),
        desired_capacity: a.desired_capacity(),
        recurrence: a.recurrence().map(str::to_owned),
    })
}

/// `RefreshPreferences` as the SDK sends them ("RefreshPreferences", Amazon EC2 Auto Scaling API
/// Reference): every member the request has. `None` members, an empty `CheckpointPercentages`
/// and an empty alarm list are left out (the SDK would send an empty list as a bare parameter).
fn sdk_preferences(p: &RefreshPreferences) -> aws_sdk_autoscaling::types::RefreshPreferences {
    use aws_sdk_autoscaling::types::{
        AlarmSpecification, ScaleInProtectedInstances, StandbyInstances,
    };
    aws_sdk_autoscaling::types::RefreshPreferences::builder()
        .min_healthy_percentage(p.min_healthy_percentage)
        .max_healthy_percentage(p.max_healthy_percentage)
        .skip_matching(p.skip_matching)
        .set_instance_warmup(p.instance_warmup)
        .auto_rollback(p.auto_rollback)
        .set_checkpoint_percentages(
            (!p.checkpoint_percentages.is_empty()).then(|| p.checkpoint_percentages.clone()),
        )
        .set_checkpoint_delay(p.checkpoint_delay)
        .set_alarm_specification((!p.alarms.is_empty()).then(|| {
            AlarmSpecification::builder()
                .set_alarms(Some(p.alarms.clone()))
                .build()
        }))
        .set_bake_time(p.bake_time)
        .set_scale_in_protected_instances(
            p.scale_in_protected_instances
                .as_deref()
                .map(ScaleInProtectedInstances::from),
        )
        .set_standby_instances(p.standby_instances.as_deref().map(StandbyInstances::from))
        .build()
}

/// `StartInstanceRefresh` `DesiredConfiguration`: a `LaunchTemplate` by id and version number, when
/// the request names one.
fn sdk_desired(
    request: &StartRefreshRequest,
) -> Option<aws_sdk_autoscaling::types::DesiredConfiguration> {
    request.desired.as_ref().map(|d| {
        aws_sdk_autoscaling::types::DesiredConfiguration::builder()
            .launch_template(
                aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                    .launch_template_id(&d.template_id)
                    .version(d.version.to_string())
                    .build(),
            )
            .build()
    })
}

fn map_refresh(
    operation: &'static str,
    group_name: &str,
    r: &aws_sdk_autoscaling::types::InstanceRefresh,
) -> Result<InstanceRefresh, AwsError> {
    Ok(InstanceRefresh {
        id: required(r.instance_refresh_id(), operation, "InstanceRefreshId")?.to_owned(),
        group_name: r.auto_scaling_group_name().unwrap_or(group_name).to_owned(),
        status: required(r.status(), operation, "Status")?
            .as_str()
            .to_owned(),
        status_reason: r.status_reason().map(str::to_owned),
        start_time: r.start_time().and_then(timestamp),
        end_time: r.end_time().and_then(timestamp),
        percentage_complete: r.percentage_complete(),
        instances_to_update: r.instances_to_update(),
        desired_template: r
            .desired_configuration()
            .and_then(|d| d.launch_template())
            .map(template_spec),
    })
}

/// An ECS capacity provider backed by an Auto Scaling group; `None` for the others (Fargate,
/// ECS Managed Instances).
fn map_capacity_provider(
    operation: &'static str,
    p: &aws_sdk_ecs::types::CapacityProvider,
) -> Result<Option<CapacityProvider>, AwsError> {
    use aws_sdk_ecs::types::{ManagedDraining, ManagedScalingStatus, ManagedTerminationProtection};
    let Some(asg) = p.auto_scaling_group_provider() else {
        return Ok(None);
    };
    Ok(Some(CapacityProvider {
        name: required(p.name(), operation, "capacityProviders.name")?.to_owned(),
        auto_scaling_group_arn: asg.auto_scaling_group_arn().to_owned(),
        managed_scaling: asg.managed_scaling().and_then(|m| m.status())
            == Some(&ManagedScalingStatus::Enabled),
        managed_termination_protection: asg.managed_termination_protection()
            == Some(&ManagedTerminationProtection::Enabled),
        managed_draining: asg.managed_draining() == Some(&ManagedDraining::Enabled),
    }))
}

impl AwsAdapter {
    /// One `DescribeImages` call (all pages) for `ids`.
    async fn describe_images_once(&self, ids: &[String]) -> Result<Vec<Image>, AwsError> {
        all_pages(|token| async move {
            let out = self
                .ec2
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
    async fn describe_instances_once(&self, ids: &[String]) -> Result<Vec<Ec2Instance>, AwsError> {
        all_pages(|token| async move {
            let out = self
                .ec2
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
}

impl AwsAdapter {
    /// "DescribeLaunchTemplateVersions" (all pages, 200 a page): every version of one template, or
    /// with `which` and no template that version of every template of the account.
    async fn list_versions(
        &self,
        template_id: Option<&str>,
        which: Option<VersionAlias>,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        all_pages(|token| async move {
            let out = self
                .ec2
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

    /// "DescribeAutoScalingGroups" (all pages) by names or by a filter. MaxRecords defaults to 50;
    /// 100 is the most a page holds.
    async fn list_groups(
        &self,
        names: Option<Vec<String>>,
        filter: Option<aws_sdk_autoscaling::types::Filter>,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        let (names, filter) = (&names, &filter);
        all_pages(|token| async move {
            let out = self
                .autoscaling
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(names.clone())
                .set_filters(filter.clone().map(|f| vec![f]))
                .max_records(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(op::DESCRIBE_AUTO_SCALING_GROUPS, e))?;
            let groups = out
                .auto_scaling_groups()
                .iter()
                .map(|group| map_group(op::DESCRIBE_AUTO_SCALING_GROUPS, group))
                .collect::<Result<Vec<_>, AwsError>>()?;
            Ok((groups, out.next_token().map(str::to_owned)))
        })
        .await
    }
}

impl Aws for AwsAdapter {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// "GetParameters" (AWS Systems Manager API Reference): unknown names come back in
    /// `InvalidParameters`, not as an error.
    async fn get_parameters(&self, names: &[String]) -> Result<GetParametersOutput, AwsError> {
        if names.is_empty() {
            return Ok(GetParametersOutput::default());
        }
        let out = self
            .ssm
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

    /// "DescribeImages" (Amazon EC2 API Reference). One unknown or malformed id fails the whole
    /// call (`InvalidAMIID.NotFound` / `InvalidAMIID.Malformed`), so on those codes this asks
    /// again one id at a time and leaves out the ids that fail that way.
    async fn describe_images(&self, image_ids: &[String]) -> Result<Vec<Image>, AwsError> {
        let ids = unique(image_ids);
        if ids.is_empty() {
            // No ids would list every image the caller can see.
            return Ok(Vec::new());
        }
        match self.describe_images_once(&ids).await {
            Err(err) if is_unknown_image(&err) => {
                let mut images = Vec::new();
                for id in &ids {
                    match self.describe_images_once(std::slice::from_ref(id)).await {
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
    async fn describe_instance_types(
        &self,
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
            let out = self
                .ec2
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
    async fn describe_launch_template(&self, id_or_name: &str) -> Result<LaunchTemplate, AwsError> {
        let request = self.ec2.describe_launch_templates();
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
            t.launch_template_id() == Some(id_or_name)
                || t.launch_template_name() == Some(id_or_name)
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

    /// "DescribeLaunchTemplateVersions" (Amazon EC2 API Reference): every version, MaxResults 200
    /// per page with NextToken.
    /// "DescribeLaunchTemplateVersions" (Amazon EC2 API Reference): with no template named, only
    /// `$Latest` and `$Default` are allowed, and they describe every template's latest and
    /// default versions — the whole fleet's in one call (plus pages).
    async fn describe_current_template_versions(
        &self,
        which: VersionAlias,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        self.list_versions(None, Some(which)).await
    }

    async fn describe_launch_template_versions(
        &self,
        template_id: &str,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        self.list_versions(Some(template_id), None).await
    }

    /// "CreateLaunchTemplateVersion" (Amazon EC2 API Reference): with `SourceVersion` the new
    /// version inherits the source's parameters and only `ImageId` is replaced. The SDK does not
    /// fill `ClientToken` for this operation, so the caller's deterministic token is always sent
    /// ("Ensuring idempotency in Amazon EC2 API requests").
    async fn create_launch_template_version(
        &self,
        request: &CreateVersionRequest,
    ) -> Result<LaunchTemplateVersion, AwsError> {
        let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
            .image_id(&request.image_id)
            .build();
        let out = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(&request.template_id)
            .source_version(request.source_version.to_string())
            .version_description(&request.description)
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
    async fn modify_launch_template_default_version(
        &self,
        template_id: &str,
        version: u64,
    ) -> Result<LaunchTemplate, AwsError> {
        let out = self
            .ec2
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
    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[u64],
    ) -> Result<DeleteVersionsOutput, AwsError> {
        if versions.is_empty() {
            return Ok(DeleteVersionsOutput::default());
        }
        const OP: &str = op::DELETE_LAUNCH_TEMPLATE_VERSIONS;
        let out = self
            .ec2
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
    async fn describe_instances(
        &self,
        instance_ids: &[String],
    ) -> Result<Vec<Ec2Instance>, AwsError> {
        let ids = unique(instance_ids);
        if ids.is_empty() {
            // No ids would list every instance in the Region.
            return Ok(Vec::new());
        }
        match self.describe_instances_once(&ids).await {
            Err(err) if is_unknown_instance(&err) => {
                let mut instances = Vec::new();
                for id in &ids {
                    match self.describe_instances_once(std::slice::from_ref(id)).await {
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

    /// "DescribeAutoScalingGroups" (Amazon EC2 Auto Scaling API Reference), all pages. Missing
    /// groups are simply absent.
    async fn describe_auto_scaling_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        let names = unique(names);
        if names.is_empty() {
            // No names would list every group in the Region.
            return Ok(Vec::new());
        }
        self.list_groups(Some(names), None).await
    }

    /// "DescribeAutoScalingGroups" with `Filters` `tag-key`: every group carrying the tag.
    async fn describe_auto_scaling_groups_by_tag(
        &self,
        key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        let filter = aws_sdk_autoscaling::types::Filter::builder()
            .name("tag-key")
            .values(key)
            .build();
        self.list_groups(None, Some(filter)).await
    }

    /// "UpdateAutoScalingGroup" (Amazon EC2 Auto Scaling API Reference,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html):
    /// only the members given (an omitted size keeps its value; AWS checks
    /// min ≤ desired ≤ max and answers `ValidationError` otherwise).
    async fn update_auto_scaling_group(
        &self,
        request: &UpdateGroupRequest,
    ) -> Result<(), AwsError> {
        self.autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(&request.group_name)
            .set_launch_template(request.launch_template.as_ref().map(sdk_template_spec))
            .set_termination_policies(request.termination_policies.clone())
            .set_min_size(request.min_size)
            .set_max_size(request.max_size)
            .set_desired_capacity(request.desired_capacity)
            .send()
            .await
            .map_err(|e| from_sdk(op::UPDATE_AUTO_SCALING_GROUP, e))?;
        Ok(())
    }

    /// "SetInstanceProtection" (Amazon EC2 Auto Scaling API Reference,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceProtection.html):
    /// up to 50 `InstanceIds` of one group and `ProtectedFromScaleIn`. An instance outside the
    /// group is a `ValidationError` (`Invalid`).
    async fn set_instance_protection(
        &self,
        group_name: &str,
        instance_ids: &[String],
        protected: bool,
    ) -> Result<(), AwsError> {
        self.autoscaling
            .set_instance_protection()
            .auto_scaling_group_name(group_name)
            .set_instance_ids(Some(instance_ids.to_vec()))
            .protected_from_scale_in(protected)
            .send()
            .await
            .map_err(|e| from_sdk(op::SET_INSTANCE_PROTECTION, e))?;
        Ok(())
    }

    /// "DescribeScheduledActions" (Amazon EC2 Auto Scaling API Reference): actions that have not
    /// run yet, all pages.
    async fn describe_scheduled_actions(
        &self,
        group_name: &str,
    ) -> Result<Vec<ScheduledAction>, AwsError> {
        all_pages(|token| async move {
            let out = self
                .autoscaling
                .describe_scheduled_actions()
                .auto_scaling_group_name(group_name)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(op::DESCRIBE_SCHEDULED_ACTIONS, e))?;
            let actions = out
                .scheduled_update_group_actions()
                .iter()
                .map(|action| map_scheduled_action(op::DESCRIBE_SCHEDULED_ACTIONS, action))
                .collect::<Result<Vec<_>, AwsError>>()?;
            Ok((actions, out.next_token().map(str::to_owned)))
        })
        .await
    }

    /// "PutScheduledUpdateGroupAction" (Amazon EC2 Auto Scaling API Reference): create or update
    /// by name. Only the sizes given are sent (an unspecified one keeps its old value on update);
    /// `Recurrence` is never sent.
    async fn put_scheduled_update_group_action(
        &self,
        action: &ScheduledAction,
    ) -> Result<(), AwsError> {
        self.autoscaling
            .put_scheduled_update_group_action()
            .auto_scaling_group_name(&action.group_name)
            .scheduled_action_name(&action.name)
            .start_time(smithy_time(&action.start_time))
            .set_min_size(action.min_size)
            .set_max_size(action.max_size)
            .set_desired_capacity(action.desired_capacity)
            .send()
            .await
            .map_err(|e| from_sdk(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION, e))?;
        Ok(())
    }

    /// "DeleteScheduledAction" (Amazon EC2 Auto Scaling API Reference).
    async fn delete_scheduled_action(
        &self,
        group_name: &str,
        action_name: &str,
    ) -> Result<(), AwsError> {
        self.autoscaling
            .delete_scheduled_action()
            .auto_scaling_group_name(group_name)
            .scheduled_action_name(action_name)
            .send()
            .await
            .map_err(|e| from_sdk(op::DELETE_SCHEDULED_ACTION, e))?;
        Ok(())
    }

    /// "CreateOrUpdateTags" (Amazon EC2 Auto Scaling API Reference): `ResourceType`
    /// `auto-scaling-group`, `PropagateAtLaunch` false.
    async fn create_or_update_tags(
        &self,
        group_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        if tags.is_empty() {
            return Ok(());
        }
        let tags = tags
            .iter()
            .map(|(key, value)| {
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(group_name)
                    .resource_type("auto-scaling-group")
                    .key(key)
                    .value(value)
                    .propagate_at_launch(false)
                    .build()
            })
            .collect();
        self.autoscaling
            .create_or_update_tags()
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| from_sdk(op::CREATE_OR_UPDATE_TAGS, e))?;
        Ok(())
    }

    /// "DeleteTags" (Amazon EC2 Auto Scaling API Reference).
    async fn delete_tags(&self, group_name: &str, keys: &[String]) -> Result<(), AwsError> {
        if keys.is_empty() {
            return Ok(());
        }
        let tags = keys
            .iter()
            .map(|key| {
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(group_name)
                    .resource_type("auto-scaling-group")
                    .key(key)
                    .build()
            })
            .collect();
        self.autoscaling
            .delete_tags()
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| from_sdk(op::DELETE_TAGS, e))?;
        Ok(())
    }

    /// "GetTopicAttributes" (Amazon SNS API Reference): a missing topic is `NotFound`.
    async fn get_topic_attributes(&self, topic_arn: &str) -> Result<(), AwsError> {
        self.sns
            .get_topic_attributes()
            .topic_arn(topic_arn)
            .send()
            .await
            .map_err(|e| from_sdk(op::GET_TOPIC_ATTRIBUTES, e))?;
        Ok(())
    }

    /// "Publish" (Amazon SNS API Reference) with `TopicArn`, `Subject`, `Message` and String
    /// message attributes.
    async fn publish(&self, notification: &Notification) -> Result<String, AwsError> {
        let mut attributes = HashMap::new();
        for (name, value) in &notification.attributes {
            let value = aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| {
                    AwsError::new(
                        op::PUBLISH,
                        ErrorKind::Invalid,
                        "InvalidParameter",
                        e.to_string(),
                    )
                })?;
            attributes.insert(name.clone(), value);
        }
        let out = self
            .sns
            .publish()
            .topic_arn(&notification.topic_arn)
            .subject(&notification.subject)
            .message(&notification.message)
            .set_message_attributes((!attributes.is_empty()).then_some(attributes))
            .send()
            .await
            .map_err(|e| from_sdk(op::PUBLISH, e))?;
        Ok(required(out.message_id(), op::PUBLISH, "MessageId")?.to_owned())
    }

    /// "StartInstanceRefresh" (Amazon EC2 Auto Scaling API Reference): `Strategy` `Rolling`, the
    /// desired launch template version by number when given, and every preference the request
    /// has. An active refresh fails with `InstanceRefreshInProgress` (`Conflict`).
    async fn start_instance_refresh(
        &self,
        request: &StartRefreshRequest,
    ) -> Result<String, AwsError> {
        let out = self
            .autoscaling
            .start_instance_refresh()
            .auto_scaling_group_name(&request.group_name)
            .strategy(aws_sdk_autoscaling::types::RefreshStrategy::Rolling)
            .set_desired_configuration(sdk_desired(request))
            .preferences(sdk_preferences(&request.preferences))
            .send()
            .await
            .map_err(|e| from_sdk(op::START_INSTANCE_REFRESH, e))?;
        Ok(required(
            out.instance_refresh_id(),
            op::START_INSTANCE_REFRESH,
            "InstanceRefreshId",
        )?
        .to_owned())
    }

    /// "DescribeInstanceRefreshes" (Amazon EC2 Auto Scaling API Reference): the group's refreshes
    /// of the last six weeks, newest first as AWS orders them, all pages (`MaxRecords` 100).
    async fn describe_instance_refreshes(
        &self,
        group_name: &str,
    ) -> Result<Vec<InstanceRefresh>, AwsError> {
        const OP: &str = op::DESCRIBE_INSTANCE_REFRESHES;
        all_pages(|token| async move {
            let out = self
                .autoscaling
                .describe_instance_refreshes()
                .auto_scaling_group_name(group_name)
                .max_records(REFRESHES_PAGE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(OP, e))?;
            let refreshes = out
                .instance_refreshes()
                .iter()
                .map(|refresh| map_refresh(OP, group_name, refresh))
                .collect::<Result<Vec<_>, AwsError>>()?;
            Ok((refreshes, out.next_token().map(str::to_owned)))
        })
        .await
    }

    /// "RollbackInstanceRefresh" (Amazon EC2 Auto Scaling API Reference): no active refresh is
    /// `ActiveInstanceRefreshNotFound` (`NotFound`); one without a desired configuration (or on
    /// `$Latest`/`$Default` or an SSM-parameter AMI) is `IrreversibleInstanceRefresh` (`Invalid`).
    async fn rollback_instance_refresh(&self, group_name: &str) -> Result<String, AwsError> {
        let out = self
            .autoscaling
            .rollback_instance_refresh()
            .auto_scaling_group_name(group_name)
            .send()
            .await
            .map_err(|e| from_sdk(op::ROLLBACK_INSTANCE_REFRESH, e))?;
        Ok(required(
            out.instance_refresh_id(),
            op::ROLLBACK_INSTANCE_REFRESH,
            "InstanceRefreshId",
        )?
        .to_owned())
    }

    /// "DescribeCapacityProviders" (Amazon ECS API Reference) without names: every capacity
    /// provider of the account, all pages. Providers without an `autoScalingGroupProvider`
    /// (`FARGATE`, `FARGATE_SPOT`, ECS Managed Instances) are left out.
    async fn describe_capacity_providers(&self) -> Result<Vec<CapacityProvider>, AwsError> {
        const OP: &str = op::DESCRIBE_CAPACITY_PROVIDERS;
        all_pages(|token| async move {
            let out = self
                .ecs
                .describe_capacity_providers()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| from_sdk(OP, e))?;
            let providers = out
                .capacity_providers()
                .iter()
                .map(|provider| map_capacity_provider(OP, provider))
                .filter_map(Result::transpose)
                .collect::<Result<Vec<_>, AwsError>>()?;
            Ok((providers, out.next_token().map(str::to_owned)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_keeps_first_seen_order() {
        let ids = ["b", "a", "b", "c", "a"].map(String::from);
        assert_eq!(unique(&ids), ["b", "a", "c"].map(String::from));
    }

    #[test]
    fn empty_tokens_end_pagination() {
        assert_eq!(non_empty_token(None), None);
        assert_eq!(non_empty_token(Some("")), None);
        assert_eq!(non_empty_token(Some("t")), Some("t".to_owned()));
    }

    fn preferences() -> RefreshPreferences {
        RefreshPreferences {
            min_healthy_percentage: 100,
            max_healthy_percentage: 200,
            skip_matching: true,
            instance_warmup: Some(30),
            auto_rollback: true,
            checkpoint_percentages: vec![20, 100],
            checkpoint_delay: Some(600),
            alarms: vec!["a".to_owned()],
            bake_time: Some(0),
            scale_in_protected_instances: Some("Refresh".to_owned()),
            standby_instances: Some("Wait".to_owned()),
        }
    }

    #[test]
    fn every_preference_is_sent() {
        let p = sdk_preferences(&preferences());
        assert_eq!(p.min_healthy_percentage(), Some(100));
        assert_eq!(p.max_healthy_percentage(), Some(200));
        assert_eq!(p.skip_matching(), Some(true));
        assert_eq!(p.instance_warmup(), Some(30));
        assert_eq!(p.auto_rollback(), Some(true));
        assert_eq!(p.checkpoint_percentages(), [20, 100]);
        assert_eq!(p.checkpoint_delay(), Some(600));
        assert_eq!(
            p.alarm_specification().map(|a| a.alarms()),
            Some(&["a".to_owned()][..])
        );
        assert_eq!(p.bake_time(), Some(0));
        assert_eq!(
            p.scale_in_protected_instances().map(|s| s.as_str()),
            Some("Refresh")
        );
        assert_eq!(p.standby_instances().map(|s| s.as_str()), Some("Wait"));
    }

    #[test]
    fn absent_preferences_are_left_out() {
        let p = sdk_preferences(&RefreshPreferences {
            instance_warmup: None,
            checkpoint_percentages: Vec::new(),
            checkpoint_delay: None,
            alarms: Vec::new(),
            bake_time: None,
            scale_in_protected_instances: None,
            standby_instances: None,
            ..preferences()
        });
        assert_eq!(p.instance_warmup(), None);
        assert_eq!(p.checkpoint_delay(), None);
        assert_eq!(p.bake_time(), None);
        assert_eq!(p.scale_in_protected_instances(), None);
        assert_eq!(p.standby_instances(), None);
        assert_eq!(p.alarm_specification(), None);
        // `None`, not an empty list (which the Query protocol would send as a bare parameter).
        assert_eq!(p.checkpoint_percentages, None);
        // The four required members are always there.
        assert_eq!(p.min_healthy_percentage(), Some(100));
        assert_eq!(p.max_healthy_percentage(), Some(200));
        assert_eq!(p.skip_matching(), Some(true));
        assert_eq!(p.auto_rollback(), Some(true));
    }

    fn bare() -> RefreshPreferences {
        RefreshPreferences {
            min_healthy_percentage: 90,
            max_healthy_percentage: 100,
            skip_matching: false,
            instance_warmup: None,
            auto_rollback: false,
            checkpoint_percentages: Vec::new(),
            checkpoint_delay: None,
            alarms: Vec::new(),
            bake_time: None,
            scale_in_protected_instances: None,
            standby_instances: None,
        }
    }

    #[test]
    fn desired_configuration_names_the_version_by_number() {
        let mut request = StartRefreshRequest {
            group_name: "g".to_owned(),
            desired: Some(amiroll_core::port::DesiredTemplate {
                template_id: "lt-1".to_owned(),
                version: 7,
            }),
            preferences: bare(),
        };
        let desired = sdk_desired(&request).expect("desired configuration");
        let lt = desired.launch_template().expect("launch template");
        assert_eq!(lt.launch_template_id(), Some("lt-1"));
        assert_eq!(lt.launch_template_name(), None);
        assert_eq!(lt.version(), Some("7"));
        assert_eq!(desired.mixed_instances_policy(), None);
        request.desired = None;
        assert_eq!(sdk_desired(&request), None);
    }

    #[test]
    fn refreshes_map_status_times_and_desired_template() {
        use aws_sdk_autoscaling::types::{
            DesiredConfiguration, InstanceRefresh as SdkRefresh, InstanceRefreshStatus,
            LaunchTemplateSpecification,
        };
        let sdk = SdkRefresh::builder()
            .instance_refresh_id("r-1")
            .status(InstanceRefreshStatus::RollbackInProgress)
            .status_reason("rolling back")
            .start_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .percentage_complete(40)
            .instances_to_update(3)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .launch_template_id("lt-1")
                            .version("7")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let r = map_refresh(op::DESCRIBE_INSTANCE_REFRESHES, "g", &sdk).expect("mapped");
        assert_eq!(r.id, "r-1");
        assert_eq!(r.group_name, "g", "falls back to the group asked for");
        assert_eq!(r.status, "RollbackInProgress");
        assert!(!r.is_terminal());
        assert_eq!(r.status_reason.as_deref(), Some("rolling back"));
        assert_eq!(r.start_time.map(|t| t.timestamp()), Some(1_700_000_000));
        assert_eq!(r.end_time, None);
        assert_eq!(r.percentage_complete, Some(40));
        assert_eq!(r.instances_to_update, Some(3));
        assert_eq!(
            r.desired_template,
            Some(TemplateSpec {
                template_id: Some("lt-1".to_owned()),
                template_name: None,
                version: Some("7".to_owned()),
            })
        );

        let no_status = SdkRefresh::builder().instance_refresh_id("r-2").build();
        let err = map_refresh(op::DESCRIBE_INSTANCE_REFRESHES, "g", &no_status)
            .expect_err("Status is always sent");
        assert_eq!(err.code, "MalformedResponse");
    }

    #[test]
    fn capacity_providers_without_a_group_are_skipped() {
        use aws_sdk_ecs::types::{
            AutoScalingGroupProvider, CapacityProvider as SdkProvider, ManagedDraining,
            ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection,
        };
        let fargate = SdkProvider::builder().name("FARGATE").build();
        assert_eq!(
            map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &fargate).expect("mapped"),
            None
        );

        let asg = |scaling, protection, draining| {
            AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn("arn:asg")
                .managed_scaling(ManagedScaling::builder().status(scaling).build())
                .managed_termination_protection(protection)
                .managed_draining(draining)
                .build()
                .expect("provider")
        };
        let enabled = SdkProvider::builder()
            .name("cp")
            .auto_scaling_group_provider(asg(
                ManagedScalingStatus::Enabled,
                ManagedTerminationProtection::Enabled,
                ManagedDraining::Enabled,
            ))
            .build();
        assert_eq!(
            map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &enabled).expect("mapped"),
            Some(CapacityProvider {
                name: "cp".to_owned(),
                auto_scaling_group_arn: "arn:asg".to_owned(),
                managed_scaling: true,
                managed_termination_protection: true,
                managed_draining: true,
            })
        );
        let disabled = SdkProvider::builder()
            .name("cp")
            .auto_scaling_group_provider(asg(
                ManagedScalingStatus::Disabled,
                ManagedTerminationProtection::Disabled,
                ManagedDraining::Disabled,
            ))
            .build();
        let mapped = map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &disabled)
            .expect("mapped")
            .expect("an ASG provider");
        assert!(
            !mapped.managed_scaling
                && !mapped.managed_termination_protection
                && !mapped.managed_draining
        );
        // Absent members (older providers, or an emulator that drops them) read as disabled.
        let bare = SdkProvider::builder()
            .name("cp")
            .auto_scaling_group_provider(
                AutoScalingGroupProvider::builder()
                    .auto_scaling_group_arn("arn:asg")
                    .build()
                    .expect("provider"),
            )
            .build();
        let mapped = map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &bare)
            .expect("mapped")
            .expect("an ASG provider");
        assert!(!mapped.managed_draining);
    }

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
