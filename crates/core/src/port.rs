//! The port: every remote call amiroll makes, as one trait.
//!
//! Two implementations exist: `amiroll-aws` (the official AWS SDK for Rust) and `amiroll-sim` (an
//! in-memory account with a virtual clock). The engine is generic over [`Aws`], so the same code
//! runs against both. Types here are the tool's own view of AWS shapes — only the fields amiroll
//! reads — named as AWS names them.
//!
//! Every method is one AWS operation (or one paginated listing of it); batching limits are the
//! caller's job and are documented on each method.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A point in time. AWS returns UTC everywhere amiroll looks.
pub type Timestamp = DateTime<Utc>;

/// What kind of failure an AWS call had; decides whether it is retried and how it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// `Throttling`, `ThrottlingException`, `RequestLimitExceeded`: retry with back-off (by the
    /// port when [`Aws::retries_transient`], else by the engine).
    Throttling,
    /// HTTP 5xx, timeouts, `ResourceContention`: retry with back-off (as throttling).
    Transient,
    /// The named resource does not exist (`InvalidLaunchTemplateId.NotFound`, `ParameterNotFound`,
    /// `NotFound` for SNS topics, `InvalidAMIID.NotFound`, ...).
    NotFound,
    /// The request was rejected as invalid (`ValidationError`, `InvalidParameterValue`, ...).
    Invalid,
    /// `UnauthorizedOperation`, `AccessDenied`, `AccessDeniedException`.
    AccessDenied,
    /// Another operation holds the resource (`InstanceRefreshInProgress`, `ScalingActivityInProgress`,
    /// `AlreadyExists`, `IdempotentParameterMismatch`).
    Conflict,
    /// The process stopped (simulated crash) or the connection was lost mid-call; nothing more can
    /// be done in this run.
    Crash,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Errors worth retrying after a pause.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Throttling | ErrorKind::Transient)
    }
}

/// An error from one AWS call, with the AWS error code kept for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct AwsError {
    /// IAM-style operation name, e.g. `ec2:CreateLaunchTemplateVersion`.
    pub operation: &'static str,
    pub kind: ErrorKind,
    /// The AWS error code (e.g. `InvalidLaunchTemplateId.NotFound`).
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(
        operation: &'static str,
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            operation,
            kind,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Operation names, as IAM spells them. Used in errors, call counts, fault injection and the
/// generated IAM policy.
pub mod op {
    pub const GET_PARAMETERS: &str = "ssm:GetParameters";
    pub const DESCRIBE_IMAGES: &str = "ec2:DescribeImages";
    pub const DESCRIBE_INSTANCE_TYPES: &str = "ec2:DescribeInstanceTypes";
    pub const DESCRIBE_LAUNCH_TEMPLATES: &str = "ec2:DescribeLaunchTemplates";
    pub const DESCRIBE_LAUNCH_TEMPLATE_VERSIONS: &str = "ec2:DescribeLaunchTemplateVersions";
    pub const CREATE_LAUNCH_TEMPLATE_VERSION: &str = "ec2:CreateLaunchTemplateVersion";
    pub const MODIFY_LAUNCH_TEMPLATE: &str = "ec2:ModifyLaunchTemplate";
    pub const DELETE_LAUNCH_TEMPLATE_VERSIONS: &str = "ec2:DeleteLaunchTemplateVersions";
    pub const DESCRIBE_INSTANCES: &str = "ec2:DescribeInstances";
    pub const DESCRIBE_AUTO_SCALING_GROUPS: &str = "autoscaling:DescribeAutoScalingGroups";
    pub const UPDATE_AUTO_SCALING_GROUP: &str = "autoscaling:UpdateAutoScalingGroup";
    pub const SET_INSTANCE_PROTECTION: &str = "autoscaling:SetInstanceProtection";
    pub const DESCRIBE_SCHEDULED_ACTIONS: &str = "autoscaling:DescribeScheduledActions";
    pub const PUT_SCHEDULED_UPDATE_GROUP_ACTION: &str = "autoscaling:PutScheduledUpdateGroupAction";
    pub const DELETE_SCHEDULED_ACTION: &str = "autoscaling:DeleteScheduledAction";
    pub const CREATE_OR_UPDATE_TAGS: &str = "autoscaling:CreateOrUpdateTags";
    pub const DELETE_TAGS: &str = "autoscaling:DeleteTags";
    pub const GET_TOPIC_ATTRIBUTES: &str = "sns:GetTopicAttributes";
    pub const PUBLISH: &str = "sns:Publish";
    pub const START_INSTANCE_REFRESH: &str = "autoscaling:StartInstanceRefresh";
    pub const DESCRIBE_INSTANCE_REFRESHES: &str = "autoscaling:DescribeInstanceRefreshes";
    pub const ROLLBACK_INSTANCE_REFRESH: &str = "autoscaling:RollbackInstanceRefresh";
    pub const CANCEL_INSTANCE_REFRESH: &str = "autoscaling:CancelInstanceRefresh";
    pub const DESCRIBE_CAPACITY_PROVIDERS: &str = "ecs:DescribeCapacityProviders";
    pub const LIST_CONTAINER_INSTANCES: &str = "ecs:ListContainerInstances";
    pub const DESCRIBE_CONTAINER_INSTANCES: &str = "ecs:DescribeContainerInstances";
    pub const LIST_CLUSTERS: &str = "ecs:ListClusters";
    pub const DESCRIBE_CLUSTERS: &str = "ecs:DescribeClusters";
    pub const UPDATE_CONTAINER_INSTANCES_STATE: &str = "ecs:UpdateContainerInstancesState";
    pub const PUT_ATTRIBUTES: &str = "ecs:PutAttributes";
    pub const PUT_LIFECYCLE_HOOK: &str = "autoscaling:PutLifecycleHook";
    pub const DESCRIBE_LIFECYCLE_HOOKS: &str = "autoscaling:DescribeLifecycleHooks";
    pub const COMPLETE_LIFECYCLE_ACTION: &str = "autoscaling:CompleteLifecycleAction";
    pub const RECORD_LIFECYCLE_ACTION_HEARTBEAT: &str =
        "autoscaling:RecordLifecycleActionHeartbeat";

    /// Every operation the port has, in a stable order.
    pub const ALL: &[&str] = &[
        GET_PARAMETERS,
        DESCRIBE_IMAGES,
        DESCRIBE_INSTANCE_TYPES,
        DESCRIBE_LAUNCH_TEMPLATES,
        DESCRIBE_LAUNCH_TEMPLATE_VERSIONS,
        CREATE_LAUNCH_TEMPLATE_VERSION,
        MODIFY_LAUNCH_TEMPLATE,
        DELETE_LAUNCH_TEMPLATE_VERSIONS,
        DESCRIBE_INSTANCES,
        DESCRIBE_AUTO_SCALING_GROUPS,
        UPDATE_AUTO_SCALING_GROUP,
        SET_INSTANCE_PROTECTION,
        DESCRIBE_SCHEDULED_ACTIONS,
        PUT_SCHEDULED_UPDATE_GROUP_ACTION,
        DELETE_SCHEDULED_ACTION,
        CREATE_OR_UPDATE_TAGS,
        DELETE_TAGS,
        GET_TOPIC_ATTRIBUTES,
        PUBLISH,
        START_INSTANCE_REFRESH,
        DESCRIBE_INSTANCE_REFRESHES,
        ROLLBACK_INSTANCE_REFRESH,
        CANCEL_INSTANCE_REFRESH,
        DESCRIBE_CAPACITY_PROVIDERS,
        LIST_CONTAINER_INSTANCES,
        DESCRIBE_CONTAINER_INSTANCES,
        LIST_CLUSTERS,
        DESCRIBE_CLUSTERS,
        UPDATE_CONTAINER_INSTANCES_STATE,
        PUT_ATTRIBUTES,
        PUT_LIFECYCLE_HOOK,
        DESCRIBE_LIFECYCLE_HOOKS,
        COMPLETE_LIFECYCLE_ACTION,
        RECORD_LIFECYCLE_ACTION_HEARTBEAT,
    ];
}

/// One SSM parameter as `GetParameters` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SsmParameter {
    pub name: String,
    pub value: String,
    /// Increments on every update of the parameter.
    pub version: i64,
    /// `text` or `aws:ec2:image`, when AWS reports it.
    pub data_type: Option<String>,
    pub last_modified: Option<Timestamp>,
}

/// Result of one `GetParameters` call (1–10 names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetParametersOutput {
    pub parameters: Vec<SsmParameter>,
    /// Names that do not exist (`InvalidParameters`); not an error in AWS.
    pub invalid_parameters: Vec<String>,
}

/// An AMI as `DescribeImages` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Image {
    pub image_id: String,
    pub name: Option<String>,
    /// `available`, `pending`, `failed`, `deregistered`, ...
    pub state: String,
    /// `x86_64`, `arm64`, `i386`, ...
    pub architecture: String,
    pub creation_date: Option<Timestamp>,
    /// Present only when a deprecation date is set; deprecated once it is in the past.
    pub deprecation_time: Option<Timestamp>,
    /// `OwnerId`: the account that owns the image.
    pub owner_id: Option<String>,
    /// `ImageOwnerAlias`: set by AWS, not by the owner — `amazon` for images AWS publishes,
    /// `aws-marketplace`, `aws-backup-vault` ("Image", Amazon EC2 API Reference,
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html).
    pub owner_alias: Option<String>,
    /// `Public`: anyone can launch it.
    #[serde(default)]
    pub public: Option<bool>,
    /// `ImageAllowed`: whether the account's Allowed AMIs criteria let it be discovered and
    /// used; `false` is returned in audit mode, while enabled mode hides the image ("Control
    /// the discovery and use of AMIs in Amazon EC2 with Allowed AMIs", Amazon EC2 User Guide,
    /// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-allowed-amis.html). Absent when
    /// the setting is off.
    #[serde(default)]
    pub image_allowed: Option<bool>,
    /// `RootDeviceName` (e.g. `/dev/xvda`): the device the AMI provides as its root volume. A
    /// block-device mapping of a launch template on this device takes its snapshot from the AMI
    /// ("Block device mappings for volumes on Amazon EC2 instances",
    /// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-device-mapping-concepts.html).
    #[serde(default)]
    pub root_device_name: Option<String>,
}

/// The architectures an instance type supports (`DescribeInstanceTypes`
/// `ProcessorInfo.SupportedArchitectures`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTypeInfo {
    pub instance_type: String,
    pub architectures: Vec<String>,
}

/// A launch template's header (`DescribeLaunchTemplates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LaunchTemplate {
    pub id: String,
    pub name: String,
    pub default_version: u64,
    pub latest_version: u64,
}

/// One launch template version (`DescribeLaunchTemplateVersions`), reduced to what amiroll reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LaunchTemplateVersion {
    pub template_id: String,
    /// The template's name, when AWS reports it.
    pub template_name: Option<String>,
    pub version: u64,
    pub description: Option<String>,
    /// An AMI id, a `resolve:ssm:` reference, or absent (templates may omit it).
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    pub is_default: bool,
    pub create_time: Option<Timestamp>,
    /// `LaunchTemplateData.BlockDeviceMappings`, in the order EC2 reports them.
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// `LaunchTemplateData.UserData`, base64-encoded as EC2 returns it ("RequestLaunchTemplateData",
    /// `UserData`: "The user data must be base64-encoded",
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RequestLaunchTemplateData.html).
    /// Read only to find the ECS cluster an instance joins ([`crate::ecs::cluster_from_user_data`]).
    #[serde(default)]
    pub user_data: Option<String>,
}

/// One `LaunchTemplateBlockDeviceMapping` ("LaunchTemplateBlockDeviceMappingRequest", Amazon EC2
/// API Reference,
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LaunchTemplateBlockDeviceMappingRequest.html):
/// every member, so that a mapping read from one version can be sent again unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlockDeviceMapping {
    /// `DeviceName`, e.g. `/dev/xvdb`.
    pub device_name: String,
    /// `VirtualName` (`ephemeralN`, an instance-store volume).
    #[serde(default)]
    pub virtual_name: Option<String>,
    /// `NoDevice`: suppress the device the AMI maps at this name.
    #[serde(default)]
    pub no_device: Option<String>,
    #[serde(default)]
    pub ebs: Option<EbsBlockDevice>,
}

/// `LaunchTemplateEbsBlockDeviceRequest` (Amazon EC2 API Reference,
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LaunchTemplateEbsBlockDeviceRequest.html).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EbsBlockDevice {
    /// `SnapshotId`: the volume is restored from this snapshot. `CreateLaunchTemplateVersion`
    /// with a `SourceVersion` drops inherited snapshots unless they are sent again.
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// `VolumeSize` in GiB.
    #[serde(default)]
    pub volume_size: Option<i32>,
    /// `VolumeType` (`gp3`, `io2`, ...).
    #[serde(default)]
    pub volume_type: Option<String>,
    #[serde(default)]
    pub iops: Option<i32>,
    #[serde(default)]
    pub throughput: Option<i32>,
    #[serde(default)]
    pub encrypted: Option<bool>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
    /// `VolumeInitializationRate` (MiB/s) for a volume restored from a snapshot.
    #[serde(default)]
    pub volume_initialization_rate: Option<i32>,
    /// `EbsCardIndex`.
    #[serde(default)]
    pub ebs_card_index: Option<i32>,
}

/// `CreateLaunchTemplateVersion` with a numeric `SourceVersion` and only `ImageId` overridden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreateVersionRequest {
    pub template_id: String,
    pub source_version: u64,
    pub image_id: String,
    /// `VersionDescription`, at most 255 characters.
    pub description: String,
    /// Deterministic `ClientToken` (≤ 128 ASCII characters).
    pub client_token: String,
    /// `LaunchTemplateData.BlockDeviceMappings`, sent only when not empty. "Snapshots applied to
    /// the block device mapping are ignored when creating a new version unless they are
    /// explicitly included" (`SourceVersion`, "CreateLaunchTemplateVersion", Amazon EC2 API
    /// Reference,
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html),
    /// so a caller that keeps a snapshot sends the mappings again; a list sent replaces the
    /// inherited one as a whole.
    #[serde(default)]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
}

/// A version `DeleteLaunchTemplateVersions` could not delete (listed in a 200 response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionDeleteFailure {
    pub version: u64,
    pub code: String,
    pub message: String,
}

/// Result of `DeleteLaunchTemplateVersions`: partial failure is a successful response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeleteVersionsOutput {
    pub deleted: Vec<u64>,
    pub failed: Vec<VersionDeleteFailure>,
}

/// A `LaunchTemplateSpecification` as a group holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TemplateSpec {
    pub template_id: Option<String>,
    pub template_name: Option<String>,
    /// A number, `$Latest`, `$Default`, or absent (= `$Default`).
    pub version: Option<String>,
}

/// A `MixedInstancesPolicy` ("MixedInstancesPolicy", Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_MixedInstancesPolicy.html): the
/// launch template, its overrides and the instances distribution — what an
/// `UpdateAutoScalingGroup` or an instance refresh's `DesiredConfiguration.MixedInstancesPolicy`
/// must send again in full, since the members left out are reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MixedInstancesPolicy {
    pub template: TemplateSpec,
    pub overrides: Vec<InstanceOverride>,
    /// `InstancesDistribution` (On-Demand/Spot split and allocation strategies).
    #[serde(default)]
    pub distribution: Option<InstancesDistribution>,
}

impl MixedInstancesPolicy {
    /// Whether an override selects instance types by attributes (`InstanceRequirements`), which
    /// the port does not carry: such a policy cannot be sent again faithfully, and AWS refuses an
    /// instance refresh with a `DesiredConfiguration` on such a group ("How an instance refresh
    /// works", Limitations,
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html).
    pub fn has_instance_requirements(&self) -> bool {
        self.overrides.iter().any(|o| o.instance_requirements)
    }
}

/// One `LaunchTemplateOverrides` entry ("LaunchTemplateOverrides",
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LaunchTemplateOverrides.html).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InstanceOverride {
    pub instance_type: Option<String>,
    /// An override may name its own template (e.g. a different AMI per architecture).
    pub template: Option<TemplateSpec>,
    /// `WeightedCapacity` (a string of 1–999 in the API).
    #[serde(default)]
    pub weighted_capacity: Option<String>,
    /// `ImageId`: the override's own AMI (it takes precedence over the template's).
    #[serde(default)]
    pub image_id: Option<String>,
    /// The override has `InstanceRequirements` (attribute-based selection; not carried).
    #[serde(default)]
    pub instance_requirements: bool,
}

/// `InstancesDistribution` ("InstancesDistribution",
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_InstancesDistribution.html).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InstancesDistribution {
    pub on_demand_allocation_strategy: Option<String>,
    pub on_demand_base_capacity: Option<i32>,
    pub on_demand_percentage_above_base_capacity: Option<i32>,
    pub spot_allocation_strategy: Option<String>,
    pub spot_instance_pools: Option<i32>,
    /// `SpotMaxPrice`; an empty string means "On-Demand price" and is kept as such.
    pub spot_max_price: Option<String>,
}

/// An instance as the group lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupInstance {
    pub instance_id: String,
    /// `Pending`, `InService`, `Terminating`, `Standby`, ... (may carry `:Wait`/`:Proceed`).
    pub lifecycle_state: String,
    /// `Healthy` or `Unhealthy`.
    pub health_status: String,
    pub protected_from_scale_in: bool,
    pub availability_zone: String,
    /// The launch template and the version the instance was launched from, as Auto Scaling
    /// records it (the `Instance` data type's `LaunchTemplate`: "The launch template for the
    /// instance", https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_Instance.html).
    /// The `OldestLaunchTemplate` termination policy and instance refresh's skip matching act on
    /// this per-instance version. Absent for instances launched from a launch configuration.
    #[serde(default)]
    pub launch_template: Option<TemplateSpec>,
}

impl GroupInstance {
    pub fn is_in_service(&self) -> bool {
        self.lifecycle_state == "InService"
    }
    pub fn is_healthy(&self) -> bool {
        self.health_status.eq_ignore_ascii_case("healthy")
    }
}

/// A version alias that names one version of every template in an account-wide listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum VersionAlias {
    /// `$Default`.
    Default,
    /// `$Latest`.
    Latest,
}

impl VersionAlias {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionAlias::Default => "$Default",
            VersionAlias::Latest => "$Latest",
        }
    }
}

/// An Auto Scaling group (`DescribeAutoScalingGroups`), reduced to what amiroll reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AutoScalingGroup {
    pub name: String,
    pub arn: Option<String>,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    pub launch_template: Option<TemplateSpec>,
    pub mixed_instances_policy: Option<MixedInstancesPolicy>,
    pub termination_policies: Vec<String>,
    /// Names of suspended processes (`Launch`, `Terminate`, `ScheduledActions`, ...).
    pub suspended_processes: Vec<String>,
    pub instances: Vec<GroupInstance>,
    pub tags: BTreeMap<String, String>,
    /// `HealthCheckGracePeriod` in seconds: how long Auto Scaling "waits before checking the
    /// health status of an EC2 instance that has come into service and marking it unhealthy"
    /// (0 turns it off; "Set the health check grace period for an Auto Scaling group",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
    /// Until then an instance is reported `Healthy` whatever its state.
    #[serde(default)]
    pub health_check_grace_period_secs: u32,
}

/// An EC2 instance (`DescribeInstances`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ec2Instance {
    pub instance_id: String,
    pub image_id: String,
    /// `pending`, `running`, `shutting-down`, `terminated`, ...
    pub state: String,
    pub launch_time: Option<Timestamp>,
    /// From the `aws:ec2launchtemplate:id` tag EC2 adds to instances launched from a template.
    pub launch_template_id: Option<String>,
    /// From the `aws:ec2launchtemplate:version` tag.
    pub launch_template_version: Option<u64>,
}

/// `UpdateAutoScalingGroup` with only the members amiroll changes; `None` leaves a member as it
/// is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpdateGroupRequest {
    pub group_name: String,
    /// Re-point the group's `LaunchTemplate` (used to re-pin a pinned group).
    pub launch_template: Option<TemplateSpec>,
    /// Replace the group's `MixedInstancesPolicy` (a mixed group is re-pinned through it, in
    /// full: "UpdateAutoScalingGroup", `MixedInstancesPolicy`). Not with `launch_template`.
    /// Rejected while an instance refresh with a desired configuration is active, like
    /// `launch_template` ("How an instance refresh works", Limitations, "Update restriction",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html).
    #[serde(default)]
    pub mixed_instances_policy: Option<MixedInstancesPolicy>,
    pub termination_policies: Option<Vec<String>>,
    /// `MinSize`. AWS requires min ≤ desired ≤ max after the update, and moves the desired
    /// capacity into a new [min, max] when none is given ("UpdateAutoScalingGroup", Amazon EC2
    /// Auto Scaling API Reference,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html).
    #[serde(default)]
    pub min_size: Option<i32>,
    /// `MaxSize`.
    #[serde(default)]
    pub max_size: Option<i32>,
    /// `DesiredCapacity`: the group launches or terminates at once to reach it.
    #[serde(default)]
    pub desired_capacity: Option<i32>,
}

/// Most instance ids one `SetInstanceProtection` call takes ("SetInstanceProtection", Amazon EC2
/// Auto Scaling API Reference: `InstanceIds`, "You can specify up to 50 instances",
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceProtection.html).
pub const MAX_PROTECTION_IDS: usize = 50;

/// A scheduled action (`PutScheduledUpdateGroupAction` / `DescribeScheduledActions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScheduledAction {
    pub group_name: String,
    pub name: String,
    pub start_time: Timestamp,
    pub min_size: Option<i32>,
    pub max_size: Option<i32>,
    pub desired_capacity: Option<i32>,
    /// Present on actions others created; amiroll never sets one.
    pub recurrence: Option<String>,
}

/// An SNS message (`Publish` with `TopicArn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Notification {
    pub topic_arn: String,
    /// Fewer than 100 characters, no line breaks.
    pub subject: String,
    pub message: String,
    /// String message attributes (`event`, `target`).
    pub attributes: BTreeMap<String, String>,
}

/// `RefreshPreferences` of `StartInstanceRefresh` ("RefreshPreferences", Auto Scaling API
/// reference). amiroll always sends every member, so AWS defaults never apply by accident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefreshPreferences {
    /// 0–100; 100 with a max above 100 means launch before terminate.
    pub min_healthy_percentage: i32,
    /// 100–200; at most 100 above the minimum.
    pub max_healthy_percentage: i32,
    pub skip_matching: bool,
    /// Seconds after InService before an instance counts as updated.
    pub instance_warmup: Option<i32>,
    pub auto_rollback: bool,
    /// Ascending, unique, 1–100; the refresh pauses at each.
    pub checkpoint_percentages: Vec<i32>,
    /// Seconds to wait at a checkpoint.
    pub checkpoint_delay: Option<i32>,
    /// CloudWatch alarm names; one in ALARM fails the refresh.
    pub alarms: Vec<String>,
    /// Seconds to wait after the last replacement before `Successful`.
    pub bake_time: Option<i32>,
    /// `Refresh`, `Ignore` or `Wait`.
    pub scale_in_protected_instances: Option<String>,
    /// `Terminate`, `Ignore` or `Wait`.
    pub standby_instances: Option<String>,
}

/// `StartInstanceRefresh`, `Strategy` `Rolling`. `desired` names a template version by number in
/// `DesiredConfiguration` (so that `AutoRollback` and `RollbackInstanceRefresh` stay available);
/// `None` sends no desired configuration (templates whose ImageId is `resolve:ssm:` cannot have
/// one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StartRefreshRequest {
    pub group_name: String,
    pub desired: Option<DesiredTemplate>,
    pub preferences: RefreshPreferences,
    /// For a group with a `MixedInstancesPolicy`: the policy to send as
    /// `DesiredConfiguration.MixedInstancesPolicy`, with its launch template replaced by
    /// `desired`. It must be complete — overrides, instances distribution — because the group
    /// takes the desired configuration as given when the refresh succeeds ("StartInstanceRefresh",
    /// `DesiredConfiguration`,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html).
    /// Ignored without `desired`.
    #[serde(default)]
    pub mixed_instances_policy: Option<MixedInstancesPolicy>,
}

/// `DesiredConfiguration.LaunchTemplate`: a template and a version number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DesiredTemplate {
    pub template_id: String,
    pub version: u64,
}

/// One instance refresh (`DescribeInstanceRefreshes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InstanceRefresh {
    pub id: String,
    pub group_name: String,
    /// `Pending`, `InProgress`, `Successful`, `Failed`, `Cancelling`, `Cancelled`,
    /// `RollbackInProgress`, `RollbackFailed`, `RollbackSuccessful`, `Baking`.
    pub status: String,
    pub status_reason: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub percentage_complete: Option<i32>,
    pub instances_to_update: Option<i32>,
    /// The desired configuration's launch template, when one was given.
    pub desired_template: Option<TemplateSpec>,
}

impl InstanceRefresh {
    /// Statuses after which nothing more happens (inferred from the status descriptions).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Successful" | "Failed" | "Cancelled" | "RollbackSuccessful" | "RollbackFailed"
        )
    }
}

/// An ECS capacity provider backed by an Auto Scaling group (`DescribeCapacityProviders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CapacityProvider {
    pub name: String,
    pub auto_scaling_group_arn: String,
    /// Managed scaling `ENABLED`: ECS owns the group's desired capacity.
    pub managed_scaling: bool,
    /// Managed termination protection `ENABLED`.
    pub managed_termination_protection: bool,
    /// Managed draining `ENABLED`.
    pub managed_draining: bool,
}

/// Most results one `ListClusters` page holds: `maxResults` "can be between 1 and 100"
/// ("ListClusters", Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListClusters.html).
pub const MAX_LIST_CLUSTERS: usize = 100;

/// Most clusters one `DescribeClusters` call takes: "A list of up to 100 cluster names or full
/// cluster Amazon Resource Name (ARN) entries" ("DescribeClusters", Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeClusters.html).
pub const MAX_DESCRIBE_CLUSTERS: usize = 100;

/// An ECS cluster (`DescribeClusters`, the `Cluster` data type,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Cluster.html), reduced to what
/// amiroll reads: which capacity providers it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EcsCluster {
    /// `clusterArn` (`arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`).
    pub arn: String,
    /// `clusterName`.
    pub name: String,
    /// `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED` or `INACTIVE` (deleted: "Clusters
    /// with an INACTIVE status may remain discoverable in your account for a period of time").
    pub status: String,
    /// `capacityProviders`: the names of "the capacity providers associated with the cluster".
    /// An Auto Scaling group's capacity provider is associated with at most one cluster
    /// ("CreateCluster", `capacityProviders`: it "must be created but not associated with another
    /// cluster", https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html).
    pub capacity_providers: Vec<String>,
}

impl EcsCluster {
    /// Not deleted.
    pub fn is_live(&self) -> bool {
        self.status != "INACTIVE"
    }
}

/// Most results one `ListContainerInstances` page holds: `maxResults` "can be between 1 and
/// 100" ("ListContainerInstances", Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListContainerInstances.html).
pub const MAX_LIST_CONTAINER_INSTANCES: usize = 100;

/// Most container instances one `DescribeContainerInstances` call takes: "A list of up to 100
/// container instance IDs or full Amazon Resource Name (ARN) entries" ("DescribeContainerInstances",
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeContainerInstances.html).
pub const MAX_DESCRIBE_CONTAINER_INSTANCES: usize = 100;

/// Most container instances one `UpdateContainerInstancesState` call takes: "A list of up to 10
/// container instance IDs or full ARN entries" ("UpdateContainerInstancesState",
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html).
pub const MAX_UPDATE_CONTAINER_INSTANCES: usize = 10;

/// An ECS container instance (`DescribeContainerInstances`, the `ContainerInstance` data type,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerInstance.html), reduced
/// to what amiroll reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContainerInstance {
    /// The cluster's ARN (`arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`). AWS does not return it in
    /// the `ContainerInstance`; it is the cluster the call named, as an ARN.
    pub cluster_arn: String,
    pub container_instance_arn: String,
    /// `ec2InstanceId`: the EC2 instance (absent for external instances).
    pub ec2_instance_id: Option<String>,
    /// `REGISTERING`, `REGISTRATION_FAILED`, `ACTIVE`, `INACTIVE`, `DEREGISTERING` or `DRAINING`.
    pub status: String,
    /// `agentConnected`: the container agent is connected to ECS. An instance whose agent is not
    /// connected "can't accept placement requests".
    pub agent_connected: bool,
    /// `runningTasksCount`: tasks in the `RUNNING` status.
    pub running_tasks_count: i32,
    /// `pendingTasksCount`: tasks in the `PENDING` status.
    pub pending_tasks_count: i32,
    /// `registeredAt`, when AWS reports it.
    #[serde(default)]
    pub registered_at: Option<Timestamp>,
    /// `attributes`: name → value (empty when the attribute has none). AWS reports its own
    /// (`ecs.ami-id`, `ecs.capability.…`, …) and the custom ones set with `PutAttributes`
    /// ("Attribute", Amazon ECS API Reference,
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attribute.html).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl ContainerInstance {
    /// `ACTIVE`: the instance accepts placements (when its agent is connected).
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// `DRAINING`: no new placements; its service tasks are being replaced elsewhere.
    pub fn is_draining(&self) -> bool {
        self.status == "DRAINING"
    }
}

/// A container instance a call could not describe or update (the `Failure` data type:
/// `arn`, `reason`, `detail`; e.g. reason `MISSING` for an unknown ARN,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Failure.html). A partial
/// failure is a successful response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContainerInstanceFailure {
    pub arn: Option<String>,
    pub reason: String,
    pub detail: Option<String>,
}

/// The answer of `DescribeContainerInstances` and of `UpdateContainerInstancesState`: the
/// container instances (as they are after the update) and the ones that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContainerInstancesOutput {
    pub container_instances: Vec<ContainerInstance>,
    pub failures: Vec<ContainerInstanceFailure>,
}

/// The statuses `UpdateContainerInstancesState` sets: "The only valid values for this action
/// are ACTIVE and DRAINING. A container instance can only be updated to DRAINING status once it
/// has reached an ACTIVE state" ("UpdateContainerInstancesState", `status`,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ContainerInstanceStatus {
    Active,
    Draining,
}

impl ContainerInstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerInstanceStatus::Active => "ACTIVE",
            ContainerInstanceStatus::Draining => "DRAINING",
        }
    }
}

/// Most attributes one `PutAttributes` call takes: "You can specify up to 10 attributes in a
/// single call" ("PutAttributes", `attributes`, Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PutAttributes.html).
pub const MAX_PUT_ATTRIBUTES: usize = 10;

/// One custom attribute to put on a container instance (`PutAttributes`, the `Attribute` data
/// type, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attribute.html): a name
/// of 1–128 letters, digits, `-`, `_`, `/`, `\` or `.`; a value of 1–128 letters, digits, `-`,
/// `_`, `.`, `@`, `/`, `\`, `:` or spaces, not starting or ending with a space. An existing
/// attribute of that name gets the new value ("If the attribute exists, its value is replaced
/// with the specified value"). A resource holds at most 10 custom attributes
/// (`AttributeLimitExceededException`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ContainerInstanceAttribute {
    /// `targetId`: the container instance's ARN (a short id works too).
    pub target_id: String,
    pub name: String,
    /// Empty: the attribute has no value (`value` is optional in the API).
    pub value: String,
}

/// `LifecycleTransition` of a hook that holds instances Auto Scaling terminates
/// ("PutLifecycleHook", `LifecycleTransition`,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html).
pub const LIFECYCLE_TRANSITION_TERMINATING: &str = "autoscaling:EC2_INSTANCE_TERMINATING";
/// `LifecycleTransition` of a hook that holds instances Auto Scaling launches.
pub const LIFECYCLE_TRANSITION_LAUNCHING: &str = "autoscaling:EC2_INSTANCE_LAUNCHING";

/// A lifecycle hook of a group (`DescribeLifecycleHooks`, the `LifecycleHook` data type,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html), reduced to
/// what amiroll reads (no notification target, role or metadata).
///
/// While a hook holds an instance ("Terminating:Wait" for a terminating hook), the instance
/// waits until the lifecycle action is completed or times out: the heartbeat timeout after the
/// wait began or after the last `RecordLifecycleActionHeartbeat`, and never later than the
/// global timeout, "48 hours or 100 times the heartbeat timeout, whichever is smaller"; then the
/// default result applies ("Amazon EC2 Auto Scaling lifecycle hooks", Considerations and
/// limitations, https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LifecycleHook {
    pub group_name: String,
    pub name: String,
    /// `LifecycleTransition`: [`LIFECYCLE_TRANSITION_TERMINATING`] or
    /// [`LIFECYCLE_TRANSITION_LAUNCHING`].
    pub transition: String,
    /// `HeartbeatTimeout` in seconds (30–7200; 3600 by default).
    pub heartbeat_timeout_secs: u32,
    /// `GlobalTimeout` in seconds: the longest an instance can wait for this hook.
    pub global_timeout_secs: u32,
    /// `DefaultResult`: `CONTINUE` or `ABANDON` (the default). For a terminating instance both
    /// let it terminate; `ABANDON` "stops any remaining actions, such as other lifecycle hooks".
    pub default_result: String,
}

impl LifecycleHook {
    /// A hook on instance termination (`autoscaling:EC2_INSTANCE_TERMINATING`).
    pub fn is_terminating(&self) -> bool {
        self.transition == LIFECYCLE_TRANSITION_TERMINATING
    }
}

/// `PutLifecycleHook`: create a hook, or update the one of that name ("PutLifecycleHook",
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html). No
/// notification target or role is sent (the hook's events still reach Amazon EventBridge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PutLifecycleHookRequest {
    pub group_name: String,
    pub name: String,
    /// `LifecycleTransition` (always sent, though AWS needs it only to create a hook).
    pub transition: String,
    /// `HeartbeatTimeout` in seconds, 30–7200; `None` sends none (3600 for a new hook).
    pub heartbeat_timeout_secs: Option<u32>,
    /// `DefaultResult`, `CONTINUE` or `ABANDON`; `None` sends none (`ABANDON` for a new hook).
    pub default_result: Option<String>,
}

/// `LifecycleActionResult` of `CompleteLifecycleAction` ("CompleteLifecycleAction",
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum LifecycleActionResult {
    Continue,
    Abandon,
}

impl LifecycleActionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleActionResult::Continue => "CONTINUE",
            LifecycleActionResult::Abandon => "ABANDON",
        }
    }
}

/// Every remote call amiroll makes, plus the clock.
///
/// Futures are `Send` so the engine can run on a multi-threaded runtime (the Lambda).
pub trait Aws: Sync {
    /// The current time (the virtual clock in the simulator).
    fn now(&self) -> Timestamp;

    /// Wait (virtual time in the simulator). Used for back-off between retries.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;

    /// Whether the port retries throttling and transient errors ([`ErrorKind::is_retryable`])
    /// itself, with jittered back-off, before it answers. The engine retries them only for a
    /// port that does not, so that no call is retried by two layers at once.
    ///
    /// The SDK adapter does: the SDK's retry configuration (standard or adaptive mode) owns
    /// those retries. The simulator has no SDK and answers every call once.
    fn retries_transient(&self) -> bool;

    /// `ssm:GetParameters` for 1–10 names. No names is answered with an empty output and no
    /// call (AWS requires at least one name: "GetParameters", `Names`, "Array Members: Minimum
    /// number of 1 item",
    /// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html).
    fn get_parameters(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<GetParametersOutput, AwsError>> + Send;

    /// `ec2:DescribeImages` by image id. Unknown ids are left out of the result (the adapter
    /// turns `InvalidAMIID.NotFound` into absence so that one bad id does not hide the rest).
    fn describe_images(
        &self,
        image_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Image>, AwsError>> + Send;

    /// `ec2:DescribeInstanceTypes`.
    fn describe_instance_types(
        &self,
        instance_types: &[String],
    ) -> impl Future<Output = Result<Vec<InstanceTypeInfo>, AwsError>> + Send;

    /// `ec2:DescribeLaunchTemplates` for one template by id or name. A missing template is a
    /// `NotFound` error.
    fn describe_launch_template(
        &self,
        id_or_name: &str,
    ) -> impl Future<Output = Result<LaunchTemplate, AwsError>> + Send;

    /// `ec2:DescribeLaunchTemplateVersions` naming no template, with `Versions` `$Default` or
    /// `$Latest`: that version of every launch template in the account (all pages) — one call
    /// for a whole fleet ("DescribeLaunchTemplateVersions": "To describe the default or latest
    /// version of every launch template, specify $Default or $Latest and no launch template",
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html).
    fn describe_current_template_versions(
        &self,
        which: VersionAlias,
    ) -> impl Future<Output = Result<Vec<LaunchTemplateVersion>, AwsError>> + Send;

    /// `ec2:DescribeLaunchTemplateVersions`: every version of one template (all pages).
    fn describe_launch_template_versions(
        &self,
        template_id: &str,
    ) -> impl Future<Output = Result<Vec<LaunchTemplateVersion>, AwsError>> + Send;

    /// `ec2:CreateLaunchTemplateVersion`.
    fn create_launch_template_version(
        &self,
        request: &CreateVersionRequest,
    ) -> impl Future<Output = Result<LaunchTemplateVersion, AwsError>> + Send;

    /// `ec2:ModifyLaunchTemplate` setting the default version by number.
    fn modify_launch_template_default_version(
        &self,
        template_id: &str,
        version: u64,
    ) -> impl Future<Output = Result<LaunchTemplate, AwsError>> + Send;

    /// `ec2:DeleteLaunchTemplateVersions` (≤ 200 numbers).
    fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[u64],
    ) -> impl Future<Output = Result<DeleteVersionsOutput, AwsError>> + Send;

    /// `ec2:DescribeInstances` by instance id (all pages). Terminated instances may be absent.
    fn describe_instances(
        &self,
        instance_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Ec2Instance>, AwsError>> + Send;

    /// `autoscaling:DescribeAutoScalingGroups` for up to 100 names. Missing groups are absent.
    fn describe_auto_scaling_groups(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AutoScalingGroup>, AwsError>> + Send;

    /// `autoscaling:DescribeAutoScalingGroups` with the filter `tag-key` = `key`: every group
    /// carrying that tag (all pages).
    fn describe_auto_scaling_groups_by_tag(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Vec<AutoScalingGroup>, AwsError>> + Send;

    /// `autoscaling:UpdateAutoScalingGroup`.
    fn update_auto_scaling_group(
        &self,
        request: &UpdateGroupRequest,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `autoscaling:SetInstanceProtection`: set or remove scale-in protection on 1–50 instances of
    /// one group ("SetInstanceProtection", Amazon EC2 Auto Scaling API Reference,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceProtection.html).
    /// A protected instance is never chosen by a scale-in ("Use instance scale-in protection",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html);
    /// an instance that is not in the group is a `ValidationError`. Splitting longer lists is
    /// the caller's job.
    fn set_instance_protection(
        &self,
        group_name: &str,
        instance_ids: &[String],
        protected: bool,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `autoscaling:DescribeScheduledActions` for one group (pending actions only, as AWS).
    fn describe_scheduled_actions(
        &self,
        group_name: &str,
    ) -> impl Future<Output = Result<Vec<ScheduledAction>, AwsError>> + Send;

    /// `autoscaling:PutScheduledUpdateGroupAction` (create or update by name).
    fn put_scheduled_update_group_action(
        &self,
        action: &ScheduledAction,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `autoscaling:DeleteScheduledAction`.
    fn delete_scheduled_action(
        &self,
        group_name: &str,
        action_name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `autoscaling:CreateOrUpdateTags` on a group (not propagated to instances).
    fn create_or_update_tags(
        &self,
        group_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `autoscaling:DeleteTags` on a group.
    fn delete_tags(
        &self,
        group_name: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `sns:GetTopicAttributes`: `Ok(())` when the topic exists, `NotFound` otherwise.
    fn get_topic_attributes(
        &self,
        topic_arn: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `sns:Publish` to a topic; returns the message id.
    fn publish(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// `autoscaling:StartInstanceRefresh`; returns the refresh id. An active refresh is a
    /// `Conflict` with code `InstanceRefreshInProgress`.
    fn start_instance_refresh(
        &self,
        request: &StartRefreshRequest,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// `autoscaling:DescribeInstanceRefreshes` for one group, newest first (AWS keeps six weeks).
    fn describe_instance_refreshes(
        &self,
        group_name: &str,
    ) -> impl Future<Output = Result<Vec<InstanceRefresh>, AwsError>> + Send;

    /// `autoscaling:RollbackInstanceRefresh`; returns the refresh id.
    fn rollback_instance_refresh(
        &self,
        group_name: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// `autoscaling:CancelInstanceRefresh`: cancel the group's refresh (or rollback) in progress;
    /// returns its id. "When you cancel an instance refresh, this does not roll back any changes
    /// that it made"; with no refresh in progress the answer is `ActiveInstanceRefreshNotFound`
    /// (`NotFound`) ("CancelInstanceRefresh", Amazon EC2 Auto Scaling API Reference,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CancelInstanceRefresh.html).
    /// `WaitForTransitioningInstances` is left at its default (true): the refresh is
    /// `Cancelling` while launches and terminations under way finish, then `Cancelled` ("Cancel
    /// an instance refresh",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/cancel-instance-refresh.html).
    fn cancel_instance_refresh(
        &self,
        group_name: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// `autoscaling:DescribeLifecycleHooks`: every lifecycle hook of one group
    /// (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeLifecycleHooks.html).
    /// A group that does not exist is a `ValidationError` (`Invalid`).
    fn describe_lifecycle_hooks(
        &self,
        group_name: &str,
    ) -> impl Future<Output = Result<Vec<LifecycleHook>, AwsError>> + Send;

    /// `autoscaling:PutLifecycleHook`: create or update (by name) a lifecycle hook
    /// (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html). A
    /// group that does not exist, or a value out of range, is a `ValidationError` (`Invalid`);
    /// more than 50 hooks on a group is `LimitExceeded`.
    fn put_lifecycle_hook(
        &self,
        request: &PutLifecycleHookRequest,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `autoscaling:CompleteLifecycleAction` by `InstanceId` (no token): end the instance's
    /// lifecycle action for `hook_name` with `result`
    /// (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html).
    /// For a terminating instance both results let it terminate; `ABANDON` ends its other hooks'
    /// actions too ("Amazon EC2 Auto Scaling lifecycle hooks", Considerations and limitations,
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html).
    ///
    /// An instance with no lifecycle action under way for that hook (not in a wait state, its
    /// action already ended or timed out) is answered `ValidationError` "No active Lifecycle
    /// Action found with instance ID …"; an unknown group or hook is a `ValidationError` too.
    /// All are [`ErrorKind::Invalid`]: a rejected request that no retry can fix — a caller that
    /// gets it for an instance it was draining can read it as "that wait is over".
    fn complete_lifecycle_action(
        &self,
        group_name: &str,
        hook_name: &str,
        instance_id: &str,
        result: LifecycleActionResult,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `autoscaling:RecordLifecycleActionHeartbeat` by `InstanceId`: restart the heartbeat
    /// timeout of the instance's lifecycle action for `hook_name` ("This extends the timeout by
    /// the length of time defined using the PutLifecycleHook API call",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html),
    /// never past the hook's global timeout. Errors as [`Aws::complete_lifecycle_action`].
    fn record_lifecycle_action_heartbeat(
        &self,
        group_name: &str,
        hook_name: &str,
        instance_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// `ecs:DescribeCapacityProviders`: every capacity provider of the account (all pages).
    fn describe_capacity_providers(
        &self,
    ) -> impl Future<Output = Result<Vec<CapacityProvider>, AwsError>> + Send;

    /// `ecs:ListClusters`: the ARNs of every cluster of the account in the Region, all pages of at
    /// most [`MAX_LIST_CLUSTERS`]
    /// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListClusters.html).
    fn list_clusters(&self) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// `ecs:DescribeClusters` of 1–[`MAX_DESCRIBE_CLUSTERS`] clusters (names or ARNs)
    /// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeClusters.html).
    /// Unknown ones (a `MISSING` failure in a successful answer) are left out. No clusters is
    /// answered empty without a call: AWS would describe the `default` cluster ("If you do not
    /// specify a cluster, the default cluster is assumed"). Splitting longer lists is the
    /// caller's job.
    fn describe_clusters(
        &self,
        clusters: &[String],
    ) -> impl Future<Output = Result<Vec<EcsCluster>, AwsError>> + Send;

    /// `ecs:ListContainerInstances` of one cluster (short name or ARN), all pages of at most
    /// [`MAX_LIST_CONTAINER_INSTANCES`]: the ARNs of its container instances in every status but
    /// `INACTIVE` (no `status` filter: "the default is to include container instances set to all
    /// states other than INACTIVE",
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListContainerInstances.html).
    /// A cluster that does not exist is a `NotFound` error (`ClusterNotFoundException`).
    fn list_container_instances(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// `ecs:DescribeContainerInstances` of 1–[`MAX_DESCRIBE_CONTAINER_INSTANCES`] container
    /// instances (ARNs or ids) of one cluster
    /// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeContainerInstances.html).
    /// Unknown ones are listed in `failures`. No ARNs is answered empty without a call (AWS
    /// requires at least one). Splitting longer lists is the caller's job.
    fn describe_container_instances(
        &self,
        cluster: &str,
        container_instances: &[String],
    ) -> impl Future<Output = Result<ContainerInstancesOutput, AwsError>> + Send;

    /// `ecs:UpdateContainerInstancesState` of 1–[`MAX_UPDATE_CONTAINER_INSTANCES`] container
    /// instances of one cluster to `ACTIVE` or `DRAINING`
    /// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html).
    /// Returns the instances as they are after the update, and per instance the ones that could
    /// not be updated (`failures`, kept for the caller). No ARNs is answered empty without a
    /// call. Splitting longer lists is the caller's job.
    fn update_container_instances_state(
        &self,
        cluster: &str,
        container_instances: &[String],
        status: ContainerInstanceStatus,
    ) -> impl Future<Output = Result<ContainerInstancesOutput, AwsError>> + Send;

    /// `ecs:PutAttributes`: create or replace 1–[`MAX_PUT_ATTRIBUTES`] custom attributes on
    /// container instances of one cluster
    /// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PutAttributes.html);
    /// `DescribeContainerInstances` then reports them in [`ContainerInstance::attributes`]. A
    /// cluster that does not exist is `ClusterNotFoundException` (`NotFound`), a target that
    /// does not exist `TargetNotFoundException` (`NotFound`), more than 10 custom attributes on
    /// one container instance `AttributeLimitExceededException`. No attributes is answered
    /// without a call (AWS requires at least one). Splitting longer lists is the caller's job.
    fn put_attributes(
        &self,
        cluster: &str,
        attributes: &[ContainerInstanceAttribute],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}
