//! What the observe step saw, the plan the planner makes from it, and the report of applying it.

pub use crate::config::Strategy;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::port::{
    AutoScalingGroup, AwsError, CapacityProvider, ContainerInstance, Ec2Instance, Image,
    InstanceRefresh, LaunchTemplate, LaunchTemplateVersion, LifecycleHook, RefreshPreferences,
    ScheduledAction, SsmParameter, Timestamp,
};
pub use crate::refusal::{GroupVersion, Refusal};

/// A launch template with all of its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ObservedTemplate {
    /// The template. `latest_version` is known when `complete` or when the account-wide
    /// `$Latest` listing was read (a group launches `$Latest`); otherwise it is the default.
    pub template: LaunchTemplate,
    /// Every version when `complete`; otherwise the default (and the latest when read).
    pub versions: Vec<LaunchTemplateVersion>,
    /// Whether `versions` lists every version (needed to reuse one or to prune).
    pub complete: bool,
}

impl ObservedTemplate {
    pub fn version(&self, n: u64) -> Option<&LaunchTemplateVersion> {
        self.versions.iter().find(|v| v.version == n)
    }

    /// Every version of the template, as read: the default and the latest follow from them.
    pub fn set_complete(&mut self, versions: Vec<LaunchTemplateVersion>) {
        if let Some(d) = versions.iter().find(|v| v.is_default) {
            self.template.default_version = d.version;
        }
        if let Some(latest) = versions.iter().map(|v| v.version).max() {
            self.template.latest_version = latest;
        }
        self.versions = versions;
        self.complete = true;
    }
}

/// Everything the observe step read, keyed for the planner. Errors met while observing one target
/// are kept per target so that one broken target does not hide the others.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Observation {
    pub now: Timestamp,
    /// Parameters that exist, by name.
    pub parameters: BTreeMap<String, SsmParameter>,
    /// Images that exist, by id.
    pub images: BTreeMap<String, Image>,
    /// Instance type → supported architectures.
    pub instance_types: BTreeMap<String, Vec<String>>,
    /// Templates by the reference the config uses (id or name).
    pub templates: BTreeMap<String, ObservedTemplate>,
    /// Groups that exist, by name.
    pub groups: BTreeMap<String, AutoScalingGroup>,
    /// EC2 instances by id.
    pub instances: BTreeMap<String, Ec2Instance>,
    /// Pending scheduled actions by group (only for groups whose strategy uses them).
    pub scheduled_actions: BTreeMap<String, Vec<ScheduledAction>>,
    /// Instance refreshes by group, newest first (groups of instance-refresh targets, and any
    /// group with an amiroll refresh tag).
    pub refreshes: BTreeMap<String, Vec<InstanceRefresh>>,
    /// ECS capacity providers of the account; `None` if they could not be read.
    pub capacity_providers: Option<Vec<CapacityProvider>>,
    /// Capacity provider name → the name of the cluster it is associated with
    /// (`ListClusters` + `DescribeClusters`), read only when some group's cluster can be found
    /// no other way ([`crate::planner::provider_cluster_reads`]). Empty when not read.
    pub provider_clusters: BTreeMap<String, String>,
    /// SNS topics: `true` if it exists.
    pub topics: BTreeMap<String, bool>,
    /// The ECS cluster of each group whose instances a plan judges (a group of a rolling
    /// target with instances), by group name: configured (`ecs_cluster`), named in the launch
    /// template's user data, or the cluster of the group's capacity provider. A group without an
    /// entry is not known to be an ECS group.
    pub ecs_clusters: BTreeMap<String, GroupCluster>,
    /// The container instances of those clusters, by the cluster as `ecs_clusters` names it.
    /// A cluster that could not be read is absent.
    pub clusters: BTreeMap<String, ObservedCluster>,
    /// The lifecycle hooks of the groups of targets that drain through one
    /// ([`crate::config::Target::drain_hook`]), by group name. A group without an entry was not
    /// read.
    pub lifecycle_hooks: BTreeMap<String, Vec<LifecycleHook>>,
    /// Target name → an error that stopped observing it (missing template, access denied, ...),
    /// with its kind and code; serialized as its message.
    #[serde(serialize_with = "messages")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub target_errors: BTreeMap<String, AwsError>,
}

/// Where a group's ECS cluster was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterSource {
    /// The target's `ecs_cluster`.
    Configured,
    /// An `ECS_CLUSTER=` assignment in the user data of this version of the launch template
    /// (the version the group launches, else the default).
    UserData { version: u64 },
    /// The cluster the group's ECS capacity provider (named here) is associated with: neither
    /// configured nor in the user data.
    CapacityProvider { provider: String },
}

/// The ECS cluster a group's instances join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GroupCluster {
    /// A cluster name or ARN, as configured or found.
    pub cluster: String,
    pub source: ClusterSource,
}

/// One cluster's container instances, as `ListContainerInstances` and
/// `DescribeContainerInstances` gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ObservedCluster {
    /// `false`: the cluster does not exist (`ClusterNotFoundException`).
    pub exists: bool,
    /// Every container instance of the cluster that is not `INACTIVE`.
    pub container_instances: Vec<ContainerInstance>,
}

/// Each error as its message.
fn messages<S: serde::Serializer>(
    errors: &BTreeMap<String, AwsError>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(errors.iter().map(|(k, e)| (k, e.to_string())))
}

/// Overall state of one target after planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetStatus {
    /// Template and every in-service instance are on the target AMI.
    Current,
    /// Not on the target AMI; the plan moves it.
    Drift,
    /// A rollout is under way; the plan follows it.
    Rolling,
    /// A rollout for this AMI failed earlier; nothing is done until a new AMI or an acknowledgement.
    Failed,
    /// Bad input or a refused situation: nothing is changed.
    Error,
}

impl TargetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetStatus::Current => "current",
            TargetStatus::Drift => "drift",
            TargetStatus::Rolling => "rolling",
            TargetStatus::Failed => "failed",
            TargetStatus::Error => "error",
        }
    }
}

/// A version number known at plan time, or the one the plan's `CreateVersion` will produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VersionRef {
    Number(u64),
    Created,
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionRef::Number(n) => write!(f, "v{n}"),
            VersionRef::Created => write!(f, "the new version"),
        }
    }
}

/// One change the engine will make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    CreateVersion {
        template_id: String,
        source_version: u64,
        image_id: String,
        description: String,
        client_token: String,
        /// Block-device mappings sent again because the source version restores a volume from
        /// a snapshot: `CreateLaunchTemplateVersion` drops inherited snapshots unless they are
        /// explicitly included (`SourceVersion`,
        /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        block_device_mappings: Vec<crate::port::BlockDeviceMapping>,
    },
    SetDefaultVersion {
        template_id: String,
        version: VersionRef,
    },
    DeleteVersions {
        template_id: String,
        versions: Vec<u64>,
    },
    /// Re-pin a group to a version number of its template.
    PinGroupVersion {
        group: String,
        template_id: String,
        version: VersionRef,
        /// The group's `MixedInstancesPolicy`, sent in full with the new version: a mixed group
        /// launches from its policy's template, and fields left out of a policy sent are reset
        /// ("UpdateAutoScalingGroup",
        /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mixed_instances_policy: Option<crate::port::MixedInstancesPolicy>,
    },
    /// Put a group that amiroll pinned to a number back on the reference it named before
    /// (`$Default` or `$Latest`, from `amiroll:pinned-from`), then remove that tag: after a
    /// successful refresh the group matches its infrastructure-as-code again. `pinned` is the
    /// number the group launches now; the engine first checks that `version` resolves to it (so
    /// what the group launches does not change) and otherwise leaves the group pinned for a
    /// later run.
    RestoreGroupVersion {
        group: String,
        template_id: String,
        /// `$Default` or `$Latest`.
        version: String,
        pinned: u64,
        /// As for [`Action::PinGroupVersion`]: a mixed group is restored through its policy,
        /// sent in full.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mixed_instances_policy: Option<crate::port::MixedInstancesPolicy>,
    },
    SetTerminationPolicies {
        group: String,
        policies: Vec<String>,
    },
    /// Set (or remove) scale-in protection on instances of a group (`SetInstanceProtection`; the
    /// engine sends at most 50 ids a call).
    SetInstanceProtection {
        group: String,
        instance_ids: Vec<String>,
        protected: bool,
    },
    /// Set a group's sizes at once (`UpdateAutoScalingGroup` with MinSize, MaxSize and
    /// DesiredCapacity): the group launches or terminates right away.
    SetCapacity {
        group: String,
        min: i32,
        max: i32,
        desired: i32,
    },
    TagGroup {
        group: String,
        tags: BTreeMap<String, String>,
    },
    UntagGroup {
        group: String,
        keys: Vec<String>,
    },
    PutScheduledAction {
        action: ScheduledAction,
    },
    DeleteScheduledAction {
        group: String,
        name: String,
    },
    /// Start an instance refresh; the engine tags the group with the refresh id it gets back.
    StartInstanceRefresh {
        group: String,
        template_id: String,
        /// `None`: no desired configuration (a `resolve:ssm:` template).
        version: Option<VersionRef>,
        preferences: RefreshPreferences,
        /// The group's `MixedInstancesPolicy`, sent complete as
        /// `DesiredConfiguration.MixedInstancesPolicy`: the group takes the desired
        /// configuration as given ("StartInstanceRefresh",
        /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mixed_instances_policy: Option<crate::port::MixedInstancesPolicy>,
        /// The id of a refresh amiroll cancelled on the group: the engine starts this one only
        /// once that refresh has ended (a refresh cannot start while another is `Cancelling`),
        /// else leaves it to the next run; once started, it removes the cancel record
        /// (`amiroll:cancel`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_cancel: Option<String>,
    },
    RollbackInstanceRefresh {
        group: String,
    },
    /// Cancel the group's instance refresh (`CancelInstanceRefresh`): what it replaced stays,
    /// nothing more is replaced. `refresh` is its id, as observed.
    CancelInstanceRefresh {
        group: String,
        refresh: String,
    },
    /// Set container instances of a group's ECS cluster to `DRAINING`
    /// (`UpdateContainerInstancesState`; the engine sends at most 10 a call), so that the ECS
    /// service scheduler moves their tasks before Auto Scaling terminates the instances. An
    /// instance already gone (`INACTIVE`, unknown) is reported, not an error.
    DrainContainerInstances {
        group: String,
        /// The cluster, as configured or found (name or ARN).
        cluster: String,
        /// The container instance ARNs.
        container_instances: Vec<String>,
        /// Their EC2 instances, for people.
        instance_ids: Vec<String>,
    },
    /// Set container instances amiroll drained back to `ACTIVE` (`UpdateContainerInstancesState`,
    /// at most 10 a call): a round stopped while its old instances drained keeps them, and ECS
    /// may place tasks on them again. An instance already gone is reported, not an error.
    ActivateContainerInstances {
        group: String,
        cluster: String,
        container_instances: Vec<String>,
        instance_ids: Vec<String>,
    },
    /// Create (or correct) amiroll's `EC2_INSTANCE_TERMINATING` lifecycle hook on a group
    /// (`PutLifecycleHook`), so that Auto Scaling holds each instance it terminates in
    /// `Terminating:Wait` until amiroll has drained it.
    PutLifecycleHook {
        group: String,
        hook: String,
        heartbeat_timeout_secs: u32,
        /// `CONTINUE`: if no run lets the instance go, it terminates at the timeout anyway.
        default_result: String,
    },
    /// Record on container instances when amiroll set them `DRAINING` (the custom attribute
    /// [`DRAIN_SINCE_ATTRIBUTE`], `PutAttributes`, at most 10 a call): the start of their
    /// `drain_timeout`.
    MarkDrainStart {
        group: String,
        cluster: String,
        container_instances: Vec<String>,
        instance_ids: Vec<String>,
        since: Timestamp,
    },
    /// Extend the wait of an instance held by a lifecycle hook
    /// (`RecordLifecycleActionHeartbeat`).
    RecordLifecycleActionHeartbeat {
        group: String,
        hook: String,
        instance_id: String,
    },
    /// Let an instance held by a lifecycle hook go on terminating (`CompleteLifecycleAction`
    /// `CONTINUE`).
    CompleteLifecycleAction {
        group: String,
        hook: String,
        instance_id: String,
    },
}

/// The container-instance attribute in which amiroll records when it set a held instance
/// `DRAINING` (an RFC 3339 time). Custom attribute names may hold letters, digits, hyphens,
/// underscores, periods and slashes ("Attribute", Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attribute.html).
pub const DRAIN_SINCE_ATTRIBUTE: &str = "amiroll.drain-since";

impl Action {
    /// The Auto Scaling group the action changes, if it changes one.
    pub fn group(&self) -> Option<&str> {
        match self {
            Action::PinGroupVersion { group, .. }
            | Action::RestoreGroupVersion { group, .. }
            | Action::SetTerminationPolicies { group, .. }
            | Action::TagGroup { group, .. }
            | Action::UntagGroup { group, .. }
            | Action::DeleteScheduledAction { group, .. }
            | Action::StartInstanceRefresh { group, .. }
            | Action::RollbackInstanceRefresh { group }
            | Action::CancelInstanceRefresh { group, .. }
            | Action::SetInstanceProtection { group, .. }
            | Action::DrainContainerInstances { group, .. }
            | Action::ActivateContainerInstances { group, .. }
            | Action::PutLifecycleHook { group, .. }
            | Action::MarkDrainStart { group, .. }
            | Action::RecordLifecycleActionHeartbeat { group, .. }
            | Action::CompleteLifecycleAction { group, .. }
            | Action::SetCapacity { group, .. } => Some(group),
            Action::PutScheduledAction { action } => Some(&action.group_name),
            Action::CreateVersion { .. }
            | Action::SetDefaultVersion { .. }
            | Action::DeleteVersions { .. } => None,
        }
    }

    /// A one-line description for people.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateVersion {
                template_id,
                source_version,
                image_id,
                ..
            } => format!(
                "create a version of {template_id} from v{source_version} with ImageId {image_id}"
            ),
            Action::SetDefaultVersion {
                template_id,
                version,
            } => format!("make {version} the default version of {template_id}"),
            Action::DeleteVersions {
                template_id,
                versions,
            } => format!(
                "delete versions {} of {template_id}",
                versions
                    .iter()
                    .map(|v| format!("v{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::PinGroupVersion {
                group,
                template_id,
                version,
                ..
            } => format!("pin group {group} to {version} of {template_id}"),
            Action::RestoreGroupVersion {
                group,
                template_id,
                version,
                pinned,
                ..
            } => format!(
                "put group {group} back on {version} of {template_id} (v{pinned}, what it launches now) and remove its {} tag",
                crate::state::tags::PINNED_FROM
            ),
            Action::SetTerminationPolicies { group, policies } => {
                format!(
                    "set termination policies of {group} to {}",
                    policies.join(", ")
                )
            }
            Action::SetInstanceProtection {
                group,
                instance_ids,
                protected,
            } => format!(
                "{} scale-in protection {} {} instance(s) of {group}: {}",
                if *protected { "set" } else { "remove" },
                if *protected { "on" } else { "from" },
                instance_ids.len(),
                id_list(instance_ids)
            ),
            Action::SetCapacity {
                group,
                min,
                max,
                desired,
            } => format!("set {group} to min={min} max={max} desired={desired} at once"),
            Action::TagGroup { group, tags } => format!(
                "tag group {group}: {}",
                tags.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Action::UntagGroup { group, keys } => {
                format!("remove tags {} from group {group}", keys.join(", "))
            }
            Action::PutScheduledAction { action } => format!(
                "schedule `{}` on {} at {}: min={} max={} desired={}",
                action.name,
                action.group_name,
                action.start_time.format("%Y-%m-%dT%H:%M:%SZ"),
                opt(action.min_size),
                opt(action.max_size),
                opt(action.desired_capacity)
            ),
            Action::DeleteScheduledAction { group, name } => {
                format!("delete scheduled action `{name}` of {group}")
            }
            Action::StartInstanceRefresh {
                group,
                template_id,
                version,
                preferences: p,
                after_cancel,
                ..
            } => format!(
                "start an instance refresh of {group}{} (healthy {}–{}%, skip matching {}, auto rollback {}{}{}){}",
                match version {
                    Some(v) => format!(" to {v} of {template_id}"),
                    None => " (no desired configuration)".to_string(),
                },
                p.min_healthy_percentage,
                p.max_healthy_percentage,
                p.skip_matching,
                p.auto_rollback,
                if p.checkpoint_percentages.is_empty() {
                    String::new()
                } else {
                    format!(", checkpoints {:?}", p.checkpoint_percentages)
                },
                p.scale_in_protected_instances
                    .as_ref()
                    .map(|x| format!(", protected instances {x}"))
                    .unwrap_or_default(),
                after_cancel
                    .as_ref()
                    .map(|id| format!(" once the cancelled refresh {id} has ended"))
                    .unwrap_or_default()
            ),
            Action::RollbackInstanceRefresh { group } => {
                format!("roll back the instance refresh in flight on {group}")
            }
            Action::CancelInstanceRefresh { group, refresh } => {
                format!("cancel instance refresh {refresh} of {group}")
            }
            Action::DrainContainerInstances {
                group,
                cluster,
                instance_ids,
                ..
            } => format!(
                "set {} container instance(s) of {group} in ECS cluster `{cluster}` to DRAINING: {}",
                instance_ids.len(),
                id_list(instance_ids)
            ),
            Action::ActivateContainerInstances {
                group,
                cluster,
                instance_ids,
                ..
            } => format!(
                "set {} container instance(s) of {group} in ECS cluster `{cluster}` back to ACTIVE: {}",
                instance_ids.len(),
                id_list(instance_ids)
            ),
            Action::PutLifecycleHook {
                group,
                hook,
                heartbeat_timeout_secs,
                default_result,
            } => format!(
                "put lifecycle hook {hook} on {group} (EC2_INSTANCE_TERMINATING, heartbeat timeout {heartbeat_timeout_secs}s, default result {default_result})"
            ),
            Action::MarkDrainStart {
                group,
                instance_ids,
                since,
                ..
            } => format!(
                "record on the container instance(s) of {group} that they drain since {}: {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                id_list(instance_ids)
            ),
            Action::RecordLifecycleActionHeartbeat {
                group,
                hook,
                instance_id,
            } => format!("extend the wait of {instance_id} in {group} (lifecycle hook {hook})"),
            Action::CompleteLifecycleAction {
                group,
                hook,
                instance_id,
            } => format!(
                "let {instance_id} of {group} terminate (lifecycle hook {hook}: CONTINUE)"
            ),
        }
    }

    /// Whether this action records that an outcome was reached and announced (a rollout's
    /// success or failure, a refresh's end). The engine writes these after the notification.
    pub fn records_outcome(&self) -> bool {
        match self {
            Action::TagGroup { tags, .. } => crate::state::records_outcome(tags),
            Action::UntagGroup { keys, .. } => crate::state::clears_outcome(keys),
            _ => false,
        }
    }

    /// Whether this action changes what instances launch or how many run (not housekeeping).
    /// Scale-in protection does not: it only decides which instances a later scale-in may take.
    pub fn moves_fleet(&self) -> bool {
        matches!(
            self,
            Action::CreateVersion { .. }
                | Action::SetDefaultVersion { .. }
                | Action::PinGroupVersion { .. }
                | Action::SetTerminationPolicies { .. }
                | Action::SetCapacity { .. }
                | Action::PutScheduledAction { .. }
                | Action::StartInstanceRefresh { .. }
                | Action::RollbackInstanceRefresh { .. }
                | Action::CancelInstanceRefresh { .. }
                | Action::DrainContainerInstances { .. }
                | Action::ActivateContainerInstances { .. }
                | Action::CompleteLifecycleAction { .. }
        )
    }
}

/// Instance ids for a description: the first few, then how many more.
fn id_list(ids: &[String]) -> String {
    const SHOWN: usize = 5;
    if ids.len() <= SHOWN {
        ids.join(", ")
    } else {
        format!("{} and {} more", ids[..SHOWN].join(", "), ids.len() - SHOWN)
    }
}

fn opt(v: Option<i32>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "-".to_string())
}

/// An action and why it is planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PlannedAction {
    #[serde(flatten)]
    pub action: Action,
    pub reason: String,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    RolloutStarted,
    RolloutSucceeded,
    RolloutFailed,
    RolledBack,
    Cancelled,
    RollbackStarted,
    Error,
    Current,
}

impl Event {
    /// The event an [`Event::as_str`] name stands for.
    pub fn parse(s: &str) -> Option<Event> {
        [
            Event::RolloutStarted,
            Event::RolloutSucceeded,
            Event::RolloutFailed,
            Event::RolledBack,
            Event::Cancelled,
            Event::RollbackStarted,
            Event::Error,
            Event::Current,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Event::RolloutStarted => "rollout-started",
            Event::RolloutSucceeded => "rollout-succeeded",
            Event::RolloutFailed => "rollout-failed",
            Event::RolledBack => "rolled-back",
            Event::Cancelled => "cancelled",
            Event::RollbackStarted => "rollback-started",
            Event::Error => "error",
            Event::Current => "current",
        }
    }
}

/// How one group stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GroupReport {
    pub name: String,
    /// How the group names its template version (`$Default`, `$Latest`, `7`).
    pub version_spec: String,
    /// The number that resolves to, if known.
    pub effective_version: Option<u64>,
    /// Instances per AMI (not terminating).
    pub instances_by_ami: BTreeMap<String, usize>,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    /// One line on the group's state (e.g. "surged; 2/2 new instances healthy; settle at …").
    pub state: String,
    /// A rollout under way on this group, if any.
    pub rollout: Option<RolloutProgress>,
    /// The last recorded outcome (from the group's amiroll tags), if any.
    pub last_outcome: Option<String>,
    /// For an ECS group: its instances as container instances of its cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsGroupReport>,
}

/// How a group's instances (not terminating) stand in their ECS cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EcsGroupReport {
    /// The cluster (name or ARN, as configured or found).
    pub cluster: String,
    /// Instances per container-instance status (`ACTIVE`, `DRAINING`, ...); `unregistered`:
    /// not a container instance of the cluster (yet).
    pub instances_by_status: BTreeMap<String, usize>,
    /// Container instances whose agent is not connected.
    pub agents_disconnected: usize,
    /// Tasks `RUNNING` on the group's container instances.
    pub running_tasks: i64,
}

/// Progress of a rollout in flight, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RolloutProgress {
    pub strategy: Strategy,
    /// 0–100 when known.
    pub percent: Option<i32>,
    /// E.g. the refresh status and reason, or the surge's time left.
    pub detail: String,
}

/// A non-fatal observation worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub level: Level,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
}

/// The target AMI and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TargetAmi {
    pub image_id: String,
    pub name: Option<String>,
    pub parameter: String,
    pub parameter_version: i64,
}

/// The plan for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TargetPlan {
    pub target: String,
    pub status: TargetStatus,
    /// One sentence: what is going on and what happens next.
    pub summary: String,
    pub template_id: Option<String>,
    pub target_ami: Option<TargetAmi>,
    pub strategy: Strategy,
    pub groups: Vec<GroupReport>,
    pub findings: Vec<Finding>,
    /// Errors that stop this target (bad input, refused situations). No actions when non-empty.
    /// Each serializes as its sentence.
    pub errors: Vec<Refusal>,
    pub actions: Vec<PlannedAction>,
    /// The notification this plan calls for, if any.
    pub event: Option<Event>,
    pub sns_topic: Option<String>,
}

/// The plan for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub generated_at: Timestamp,
    pub targets: Vec<TargetPlan>,
}

impl Plan {
    /// `check`/`plan` exit code: 1 if any target has an error, 2 if any is not current, else 0.
    /// 0 every target current, 1 an error or a failed rollout, 2 not current yet (drift,
    /// rolling, waiting); the same in every command (`crate::output`).
    pub fn exit_code(&self) -> i32 {
        if self
            .targets
            .iter()
            .any(|t| matches!(t.status, TargetStatus::Error | TargetStatus::Failed))
        {
            1
        } else if self
            .targets
            .iter()
            .any(|t| t.status != TargetStatus::Current)
        {
            2
        } else {
            0
        }
    }
}

/// What happened to one planned action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ActionResult {
    pub action: String,
    pub reason: String,
    /// `done`, `failed` or `not-done` (skipped after an earlier failure or in a dry run).
    pub result: StepResult,
    pub detail: Option<String>,
}

/// What became of one planned action.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum StepResult {
    Done,
    Failed,
    /// Skipped: after an earlier failure, in a dry run, or at the deadline.
    NotDone,
}

impl StepResult {
    pub fn as_str(self) -> &'static str {
        match self {
            StepResult::Done => "done",
            StepResult::Failed => "failed",
            StepResult::NotDone => "not-done",
        }
    }
}

impl std::fmt::Display for StepResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A target after apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TargetOutcome {
    #[serde(flatten)]
    pub plan: TargetPlan,
    pub results: Vec<ActionResult>,
    /// Set when an action failed: the fleet may be half-changed, and this says how.
    pub apply_error: Option<String>,
    /// `published <id>`, `failed: …`, or absent when nothing was to be sent.
    pub notification: Option<String>,
}

impl TargetOutcome {
    pub fn succeeded(&self) -> bool {
        self.apply_error.is_none() && self.plan.status != TargetStatus::Error
    }
}

/// The report of an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ApplyReport {
    pub dry_run: bool,
    pub generated_at: Timestamp,
    pub targets: Vec<TargetOutcome>,
    /// Set when apply stopped before the deadline. The targets' results say which actions were
    /// not done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at_deadline: Option<DeadlineStop>,
}

/// Apply stopped starting actions because the deadline was too close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DeadlineStop {
    /// "stopped before the Lambda's deadline: N s left, margin M s".
    pub reason: String,
    /// The targets left with actions (or an announcement) not done, in plan order.
    pub targets: Vec<String>,
}

impl ApplyReport {
    /// `apply`'s exit code: 1 if an action failed, a target has an error or its rollout failed
    /// (stopped by a gate, or rolled back: it stays failed until a newer AMI or
    /// `--acknowledge`); 0 otherwise — the same meaning as `check`'s 1.
    pub fn exit_code(&self) -> i32 {
        let failed = |t: &TargetOutcome| !t.succeeded() || t.plan.status == TargetStatus::Failed;
        i32::from(self.targets.iter().any(failed))
    }

    /// `rollback`'s exit code: 1 if an action failed or a target has an error, 0 otherwise. A
    /// rolled-back target is `failed` by design (its AMI is recorded as rejected), which is
    /// the success of a rollback.
    pub fn rollback_exit_code(&self) -> i32 {
        i32::from(!self.targets.iter().all(TargetOutcome::succeeded))
    }
}
