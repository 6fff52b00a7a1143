//! Setup shapes: what a test or the demo puts into the simulated account.

use std::collections::BTreeMap;

use amiroll_core::port::{
    BlockDeviceMapping, InstanceOverride, InstancesDistribution, LifecycleActionResult, Timestamp,
};

/// Owner id of Amazon-owned public AMIs such as the ECS-optimized ones (observed in public data
/// sources, not documented; see `reference/aws-semantics.md` §5).
pub const AMAZON_OWNER_ID: &str = "591542846629";

/// An AMI registered in the simulated account (`DescribeImages` shape plus simulation knobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub image_id: String,
    pub name: String,
    /// `x86_64`, `arm64`, ...
    pub architecture: String,
    /// `available`, `pending`, `failed`, `deregistered`, ... Only `available` images launch.
    pub state: String,
    pub creation_date: Timestamp,
    pub deprecation_time: Option<Timestamp>,
    /// `false`: instances launched from this image reach `InService` but never become healthy.
    pub healthy: bool,
    pub owner_alias: Option<String>,
    pub owner_id: Option<String>,
    /// `RootDeviceName`; `/dev/xvda` unless set (as Amazon Linux AMIs).
    pub root_device_name: Option<String>,
    /// `false`: the ECS agent of this image never registers its instances in a cluster (they
    /// run, and are healthy for Auto Scaling, but are no container instances).
    pub ecs_agent: bool,
    /// `false`: the ECS agent of this image registers and connects, but no task starts on its
    /// instances (a broken container runtime, say). Simplified: ECS places no task there, so
    /// the container instance stays `ACTIVE` with `runningTasksCount` 0; AWS would place tasks
    /// that then stop before `RUNNING`, which amiroll sees the same way (no running task).
    pub ecs_tasks_start: bool,
    /// `Public`: anyone can launch it. A private image of another account is visible here only
    /// because it is shared with this account (the simulator does not model launch permissions:
    /// every registered image is visible).
    pub public: bool,
}

/// The account's Allowed AMIs setting ("Control the discovery and use of AMIs in Amazon EC2
/// with Allowed AMIs", Amazon EC2 User Guide,
/// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-allowed-amis.html, and
/// `EnableAllowedImagesSettings` / `ImageCriterion` in the EC2 API Reference). The criteria are
/// image providers: `amazon`, `aws-marketplace`, `aws-backup-vault` (matched against the
/// image's `ImageOwnerAlias`), 12-digit account ids (its `OwnerId`), or `none` (the account's
/// own images only). The account's own images are always allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedAmis {
    /// The setting is off: `DescribeImages` returns no `ImageAllowed`.
    #[default]
    Disabled,
    /// `audit-mode`: nothing is restricted; each image reports `ImageAllowed`.
    AuditMode(Vec<String>),
    /// `enabled`: an image outside the criteria is neither returned by `DescribeImages` nor
    /// launched. (Simplification: the simulator leaves it out of `DescribeImages` entirely and
    /// fails its launches with `InvalidAMIID.NotFound`; AWS does not document the launch error.)
    Enabled(Vec<String>),
}

impl AllowedAmis {
    /// `ImageAllowed` for `image` in account `account`: `None` when the setting is off.
    pub fn image_allowed(&self, image: &ImageSpec, account: &str) -> Option<bool> {
        let providers = match self {
            AllowedAmis::Disabled => return None,
            AllowedAmis::AuditMode(p) | AllowedAmis::Enabled(p) => p,
        };
        let own = image.owner_id.as_deref() == Some(account);
        let listed = providers.iter().any(|p| {
            image.owner_alias.as_deref() == Some(p.as_str())
                || image.owner_id.as_deref() == Some(p.as_str())
        });
        Some(own || listed)
    }

    /// Whether the setting hides (and refuses to launch) images outside its criteria.
    pub fn enforced(&self) -> bool {
        matches!(self, AllowedAmis::Enabled(_))
    }
}

impl ImageSpec {
    /// An `available`, healthy, Amazon-owned image.
    pub fn new(
        image_id: impl Into<String>,
        name: impl Into<String>,
        architecture: impl Into<String>,
        creation_date: Timestamp,
    ) -> Self {
        ImageSpec {
            image_id: image_id.into(),
            name: name.into(),
            architecture: architecture.into(),
            state: "available".to_string(),
            creation_date,
            deprecation_time: None,
            healthy: true,
            owner_alias: Some("amazon".to_string()),
            owner_id: Some(AMAZON_OWNER_ID.to_string()),
            root_device_name: Some("/dev/xvda".to_string()),
            ecs_agent: true,
            ecs_tasks_start: true,
            public: true,
        }
    }

    /// Set `Public` (`false`: a private image, the account's own or shared with it).
    pub fn with_public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }

    /// Whether the image's ECS agent works (`false`: its instances never register in a
    /// cluster, whatever their user data says).
    pub fn with_ecs_agent(mut self, works: bool) -> Self {
        self.ecs_agent = works;
        self
    }

    /// Whether tasks start on the image's instances (`false`: the agent connects, but no task
    /// ever runs there; see [`ImageSpec::ecs_tasks_start`]).
    pub fn with_ecs_tasks(mut self, start: bool) -> Self {
        self.ecs_tasks_start = start;
        self
    }

    /// Set the root device name (`/dev/sda1`, ...).
    pub fn with_root_device(mut self, name: impl Into<String>) -> Self {
        self.root_device_name = Some(name.into());
        self
    }

    /// Instances launched from this image never pass health checks.
    pub fn unhealthy(mut self) -> Self {
        self.healthy = false;
        self
    }

    /// Set the image state (`pending`, `failed`, `deregistered`, ...).
    pub fn with_state(mut self, state: impl Into<String>) -> Self {
        self.state = state.into();
        self
    }

    /// Set a deprecation time (deprecated once it is in the past).
    pub fn deprecated_at(mut self, time: Timestamp) -> Self {
        self.deprecation_time = Some(time);
        self
    }

    /// Set the owner (e.g. `(None, Some("111122223333"))` for a private image).
    pub fn owned_by(mut self, alias: Option<&str>, owner_id: Option<&str>) -> Self {
        self.owner_alias = alias.map(str::to_string);
        self.owner_id = owner_id.map(str::to_string);
        self
    }
}

/// The data of one launch-template version (`RequestLaunchTemplateData`, reduced). Everything
/// amiroll does not read lives in `other`, so inheritance from a source version can be checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateData {
    /// An AMI id, a `resolve:ssm:<name>[:<version>]` reference, or absent.
    pub image_id: Option<String>,
    pub instance_type: Option<String>,
    /// `UserData` as text (the script itself); the port returns it base64-encoded, as EC2 does.
    pub user_data: Option<String>,
    /// `BlockDeviceMappings`, in order.
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Any other launch parameter (security groups, IAM profile, ...), by name.
    pub other: BTreeMap<String, String>,
}

impl TemplateData {
    /// Data with an image id and an instance type.
    pub fn new(image_id: impl Into<String>, instance_type: impl Into<String>) -> Self {
        TemplateData {
            image_id: Some(image_id.into()),
            instance_type: Some(instance_type.into()),
            ..TemplateData::default()
        }
    }

    pub fn with_user_data(mut self, user_data: impl Into<String>) -> Self {
        self.user_data = Some(user_data.into());
        self
    }

    /// Add one block-device mapping.
    pub fn with_block_device(mut self, mapping: BlockDeviceMapping) -> Self {
        self.block_device_mappings.push(mapping);
        self
    }

    /// Add one other launch parameter.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.other.insert(key.into(), value.into());
        self
    }

    /// A new version created from `self` as its `SourceVersion` with `overrides` as its
    /// `LaunchTemplateData`: "Snapshots applied to the block device mapping are ignored when
    /// creating a new version unless they are explicitly included" ("CreateLaunchTemplateVersion",
    /// `SourceVersion`,
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html):
    /// an inherited mapping keeps its device and volume settings but loses its `SnapshotId`;
    /// mappings given in `overrides` replace the inherited list as a whole.
    pub(crate) fn new_version(&self, overrides: &TemplateData) -> TemplateData {
        let mut source = self.clone();
        for m in &mut source.block_device_mappings {
            if let Some(ebs) = &mut m.ebs {
                ebs.snapshot_id = None;
            }
        }
        source.inherit(overrides)
    }

    /// `self` as a source version with `overrides` applied: every member set in `overrides`
    /// replaces the inherited one wholesale; `other` entries are merged by key.
    pub(crate) fn inherit(&self, overrides: &TemplateData) -> TemplateData {
        let mut data = self.clone();
        if overrides.image_id.is_some() {
            data.image_id = overrides.image_id.clone();
        }
        if overrides.instance_type.is_some() {
            data.instance_type = overrides.instance_type.clone();
        }
        if overrides.user_data.is_some() {
            data.user_data = overrides.user_data.clone();
        }
        if !overrides.block_device_mappings.is_empty() {
            data.block_device_mappings = overrides.block_device_mappings.clone();
        }
        for (k, v) in &overrides.other {
            data.other.insert(k.clone(), v.clone());
        }
        data
    }
}

/// An Auto Scaling group to create (`CreateAutoScalingGroup`, reduced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    /// Launch template id (`lt-…`) or name.
    pub template: String,
    /// A number, `$Latest`, `$Default`, or absent (= `$Default`).
    pub version: Option<String>,
    /// `Some`: the group uses a `MixedInstancesPolicy` with `template` as its launch template and
    /// these overrides (an override may name its own template).
    pub overrides: Option<Vec<InstanceOverride>>,
    /// The mixed instances policy's `InstancesDistribution` (with `overrides` only).
    pub distribution: Option<InstancesDistribution>,
    /// `HealthCheckGracePeriod` (seconds; 0 unless set, as `CreateAutoScalingGroup` defaults).
    pub health_check_grace_period: u32,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    /// Default `["Default"]`.
    pub termination_policies: Vec<String>,
    /// Default `["us-east-1a", "us-east-1b"]`.
    pub availability_zones: Vec<String>,
    pub suspended_processes: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub new_instances_protected_from_scale_in: bool,
}

impl GroupSpec {
    /// A group on `template` (`$Default`), with default policies and two AZs.
    pub fn new(
        name: impl Into<String>,
        template: impl Into<String>,
        min_size: i32,
        max_size: i32,
        desired_capacity: i32,
    ) -> Self {
        GroupSpec {
            name: name.into(),
            template: template.into(),
            version: None,
            overrides: None,
            distribution: None,
            health_check_grace_period: 0,
            min_size,
            max_size,
            desired_capacity,
            termination_policies: vec!["Default".to_string()],
            availability_zones: vec!["us-east-1a".to_string(), "us-east-1b".to_string()],
            suspended_processes: Vec::new(),
            tags: BTreeMap::new(),
            new_instances_protected_from_scale_in: false,
        }
    }

    /// `LaunchTemplateSpecification.Version`: a number, `$Latest` or `$Default`.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Use a mixed instances policy with these overrides.
    pub fn with_overrides(mut self, overrides: Vec<InstanceOverride>) -> Self {
        self.overrides = Some(overrides);
        self
    }

    /// The mixed instances policy's `InstancesDistribution` (set overrides too).
    pub fn with_distribution(mut self, distribution: InstancesDistribution) -> Self {
        self.distribution = Some(distribution);
        self
    }

    /// `HealthCheckGracePeriod` in seconds.
    pub fn with_health_check_grace_period(mut self, seconds: u32) -> Self {
        self.health_check_grace_period = seconds;
        self
    }

    pub fn with_termination_policies(mut self, policies: &[&str]) -> Self {
        self.termination_policies = policies.iter().map(|p| p.to_string()).collect();
        self
    }

    pub fn with_availability_zones(mut self, zones: &[&str]) -> Self {
        self.availability_zones = zones.iter().map(|z| z.to_string()).collect();
        self
    }

    pub fn with_suspended_processes(mut self, processes: &[&str]) -> Self {
        self.suspended_processes = processes.iter().map(|p| p.to_string()).collect();
        self
    }

    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// `NewInstancesProtectedFromScaleIn`.
    pub fn protected_from_scale_in(mut self, protected: bool) -> Self {
        self.new_instances_protected_from_scale_in = protected;
        self
    }
}

/// One instance's life in its group, as [`crate::SimAws::instance_lifetimes`] reports it: when it
/// launched, came into service and terminated (kept for every instance the group ever had).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceLifetime {
    pub instance_id: String,
    pub image_id: String,
    /// `RunInstances`: from then on EC2 runs (and bills) it, `Pending` first.
    pub launch_time: Timestamp,
    /// When it reached `InService`; `None` while `Pending`, or when it terminated before.
    pub in_service_at: Option<Timestamp>,
    /// When it terminated; `None` while it runs (a wait in `Terminating:Wait` still runs).
    pub terminated_at: Option<Timestamp>,
}

/// How an instance's wait for its terminating lifecycle hooks went (`Terminating:Wait`), as
/// [`crate::SimAws::lifecycle_wait`] reports it; kept after the instance has terminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleWait {
    /// When Auto Scaling began terminating the instance and the hooks started holding it.
    pub since: Timestamp,
    /// When every action had ended and the instance terminated (`Terminating:Proceed`).
    pub ended_at: Option<Timestamp>,
    /// One action per terminating hook the group had when the wait began, by hook name.
    pub actions: Vec<LifecycleAction>,
}

/// One hook's lifecycle action on a waiting instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleAction {
    pub hook: String,
    /// The hook's `HeartbeatTimeout` when the wait began (seconds).
    pub heartbeat_timeout_secs: u32,
    /// The hook's `DefaultResult` when the wait began.
    pub default_result: LifecycleActionResult,
    /// When the action times out unless completed or extended: the last heartbeat (or the start)
    /// plus the heartbeat timeout, capped by [`LifecycleAction::global_deadline`].
    pub deadline: Timestamp,
    /// The start plus the hook's `GlobalTimeout` (min(48 h, 100 × heartbeat)).
    pub global_deadline: Timestamp,
    /// How the action ended, if it has.
    pub ended: Option<ActionEnd>,
}

/// How a lifecycle action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionEnd {
    pub at: Timestamp,
    pub result: LifecycleActionResult,
    pub how: ActionEndKind,
}

/// What ended a lifecycle action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionEndKind {
    /// `CompleteLifecycleAction`.
    Completed,
    /// The heartbeat or global timeout passed: the hook's default result applied.
    TimedOut,
    /// Another hook's action ended with `ABANDON`, which "stops any remaining actions".
    StoppedByAbandon,
    /// The hook was deleted: "If there are any outstanding lifecycle actions, they are
    /// completed first (ABANDON for launching instances, CONTINUE for terminating instances)"
    /// ("DeleteLifecycleHook",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteLifecycleHook.html).
    HookDeleted,
}

impl ActionEndKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionEndKind::Completed => "completed",
            ActionEndKind::TimedOut => "timed out",
            ActionEndKind::StoppedByAbandon => "stopped by ABANDON",
            ActionEndKind::HookDeleted => "hook deleted",
        }
    }
}
