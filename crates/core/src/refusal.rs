//! Why the planner refuses to touch a target: one variant per kind of refusal, with the data it
//! names (group, template, AMI, parameter, versions, …).
//!
//! A refusal's `Display` is the sentence the user reads (text and JSON output, notifications,
//! the Lambda's summary), and it serializes as that sentence, so the output does not depend on
//! the type. Tests match the variant, not the sentence.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::port::{AwsError, Timestamp};
use crate::state::{fmt_time, StateError};

/// One group and the template version it launches, as a refusal names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVersion {
    pub group: String,
    /// How the group names the version (`$Default`, `$Latest`, a number).
    pub spec: String,
    /// The version number that means today.
    pub version: u64,
}

/// Why a target is left as it is. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Observing the target failed; the AWS error keeps its kind and code.
    #[error("{0}")]
    Observe(AwsError),

    // --- the AMI's source (SSM parameter) ---
    #[error("SSM parameter `{parameter}` does not exist in this region (or is not readable)")]
    ParameterMissing { parameter: String },
    #[error(
        "SSM parameter `{parameter}` holds `{}`, but a JSON document (a …/recommended parameter) was expected; point ami_parameter at the JSON parameter or set ami_format = \"image-id\"",
        crate::planner::truncate(.value, 60)
    )]
    ParameterNotJson { parameter: String, value: String },
    /// `error` is what the JSON parser said.
    #[error("SSM parameter `{parameter}` holds malformed JSON: {error}")]
    ParameterMalformedJson { parameter: String, error: String },
    #[error("the JSON in SSM parameter `{parameter}` has no string field `image_id`")]
    ParameterNoImageId { parameter: String },
    #[error(
        "SSM parameter `{parameter}` holds a JSON document, but an AMI id was expected; point ami_parameter at …/recommended/image_id or set ami_format = \"json\""
    )]
    ParameterIsJson { parameter: String },
    #[error(
        "SSM parameter `{parameter}` gives `{}`, which is not an AMI id (ami- followed by 8 or 17 hex digits)",
        crate::planner::truncate(.value, 60)
    )]
    NotAnAmi { parameter: String, value: String },

    // --- the template and its versions ---
    #[error("launch template `{template}` not found")]
    TemplateMissing { template: String },
    #[error(
        "the groups of this target launch different versions of `{template}` ({}); amiroll builds the new version from the one version they share — align them or split the target",
        group_versions(.groups)
    )]
    SourceVersionsDiffer {
        template: String,
        groups: Vec<GroupVersion>,
    },
    #[error("version {version} of launch template `{template}` does not exist")]
    SourceVersionMissing { template: String, version: u64 },
    #[error(
        "version {version} of launch template `{template}` has no ImageId; amiroll only replaces an ImageId and will not add one"
    )]
    SourceVersionNoImage { template: String, version: u64 },
    /// The source version restores the new AMI's root device from a snapshot (see
    /// `planner::template::carried_mappings`).
    #[error(
        "version {version} of launch template `{template}` restores the root device {device} from snapshot `{snapshot}`; the root volume of AMI `{ami}` comes from the AMI, so amiroll will not carry that snapshot into the new version — remove the snapshot from the root device mapping (a data volume may keep its snapshot)"
    )]
    RootSnapshot {
        template: String,
        version: u64,
        device: String,
        snapshot: String,
        ami: String,
    },

    // --- the candidate AMI ---
    #[error(
        "AMI `{ami}` (from SSM parameter `{parameter}` version {parameter_version}) does not exist or is not visible to this account"
    )]
    AmiMissing {
        ami: String,
        parameter: String,
        parameter_version: i64,
    },
    #[error("AMI `{ami}` is in state `{state}`, not `available`")]
    AmiNotAvailable { ami: String, state: String },
    /// The image's owner is not in `ami_owners` (or its default). `owner`: its `OwnerId`, with
    /// `ImageOwnerAlias` and `public` when AWS gives them; `allowed`: the list it was checked
    /// against; `own_account`: this account's id when known (what `self` means).
    #[error(
        "AMI `{ami}` (from SSM parameter `{parameter}`) is owned by {owner}, which is not allowed: ami_owners = [{}]{}; amiroll rolls only images of allowed owners — add the owner's account id to ami_owners if you trust it",
        .allowed.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", "),
        match .own_account {
            Some(id) => format!(" (`self` is {id})"),
            None if .allowed.iter().any(|o| o == "self") => " (`self`: this account's id could not be read from its groups' ARNs)".to_string(),
            None => String::new(),
        }
    )]
    AmiOwnerNotAllowed {
        ami: String,
        parameter: String,
        owner: String,
        allowed: Vec<String>,
        own_account: Option<String>,
    },
    /// `DescribeImages` reported `ImageAllowed = false`: the account's Allowed AMIs criteria
    /// (in audit mode) reject the image.
    #[error(
        "AMI `{ami}` (from SSM parameter `{parameter}`, owned by {owner}) is rejected by this account's Allowed AMIs criteria (DescribeImages reports ImageAllowed = false; the setting is in audit mode, and enabling it would block the image); amiroll will not roll it — change the criteria or the parameter"
    )]
    AmiNotAllowedByAccount {
        ami: String,
        parameter: String,
        owner: String,
    },
    #[error(
        "AMI `{ami}` is deprecated since {}; set allow_deprecated = true to roll to it anyway",
        fmt_time(*.since)
    )]
    AmiDeprecated { ami: String, since: Timestamp },
    #[error(
        "architecture mismatch: AMI `{ami}` is {architecture} but instance type {instance_type} supports {}",
        .supported.join(", ")
    )]
    ArchitectureMismatch {
        ami: String,
        architecture: String,
        instance_type: String,
        supported: Vec<String>,
    },
    /// `current` is the AMI that `version` (the source version) uses.
    #[error(
        "AMI `{ami}` (created {}) is older than `{current}` (created {}) that version {version} uses; refusing to downgrade — set allow_downgrade = true to roll back on purpose",
        fmt_time(*.created),
        fmt_time(*.current_created)
    )]
    Downgrade {
        ami: String,
        created: Timestamp,
        current: String,
        current_created: Timestamp,
        version: u64,
    },

    // --- the groups ---
    #[error("Auto Scaling group `{group}` not found")]
    GroupMissing { group: String },
    #[error(
        "Auto Scaling group `{group}` names launch template version `{version}`, which is neither a number, $Default nor $Latest"
    )]
    BadVersionSpec { group: String, version: String },
    #[error(
        "Auto Scaling group `{group}` does not launch from a launch template (launch configurations are not supported)"
    )]
    NoLaunchTemplate { group: String },
    /// `launches` is the template the group names (id or name); `template` the target's.
    #[error(
        "Auto Scaling group `{group}` launches from launch template `{launches}`, not `{template}`"
    )]
    OtherTemplate {
        group: String,
        launches: String,
        template: String,
    },
    #[error(
        "Auto Scaling group `{group}` has a mixed-instances override with its own launch template `{template}`; amiroll rolls one template per target and would leave those instances behind"
    )]
    ForeignOverride { group: String, template: String },
    #[error(
        "Auto Scaling group `{group}` launches version {version} of `{template}`, which does not exist: the group cannot launch instances; fix the group first"
    )]
    VersionMissing {
        group: String,
        version: u64,
        template: String,
    },
    #[error(
        "Auto Scaling group `{group}` pins version {version} inside a mixed instances policy; amiroll re-pins only groups with a plain LaunchTemplate — move the policy to $Default or re-pin it yourself"
    )]
    PinnedInMixedPolicy { group: String, version: u64 },
    #[error(
        "Auto Scaling group `{group}` pins version {version} of launch template `{template}`; amiroll cannot roll it without `pinned = \"update\"` in the target (it would then re-pin the group to the new version)"
    )]
    Pinned {
        group: String,
        version: u64,
        template: String,
    },
    #[error(
        "Auto Scaling group `{group}` launches $Latest (v{latest}), which does not carry {ami}, and the version that does is older; pin the group or remove the newer version"
    )]
    LatestWithoutAmi {
        group: String,
        latest: u64,
        ami: String,
    },
    #[error(
        "Auto Scaling group `{group}` backs ECS capacity provider `{provider}` with managed scaling on: ECS owns the group's desired capacity and would undo a scheduled surge — use strategy = \"instance-refresh\""
    )]
    EcsManagedScaling { group: String, provider: String },

    // --- notifications ---
    #[error("SNS topic `{topic}` does not exist")]
    TopicMissing { topic: String },

    // --- scheduled surge ---
    #[error(
        "group `{group}` runs {live} of {desired} instance(s) and its Launch process is suspended; resume it first"
    )]
    LaunchSuspended {
        group: String,
        live: i32,
        desired: i32,
    },
    /// The health gate would open before Auto Scaling has checked the new instances' health.
    #[error(
        "group `{group}` has a health-check grace period of {grace_secs} s: Auto Scaling reports new instances Healthy for that long without checking them, so a surge of {surge_minutes} minutes reaches its health gate before they are checked; set surge_minutes to at least {needed_minutes}"
    )]
    SurgeShorterThanGrace {
        group: String,
        grace_secs: u32,
        surge_minutes: u32,
        needed_minutes: u32,
    },
    /// `ecs_lifecycle_hook` names a hook the group does not have.
    #[error(
        "group `{group}` has no lifecycle hook `{hook}` (ecs_lifecycle_hook): amiroll cannot drain the instances Auto Scaling terminates — create the hook, or use ecs_drain = \"lifecycle-hook\" to have amiroll create its own"
    )]
    DrainHookMissing { group: String, hook: String },
    /// `ecs_lifecycle_hook` names a hook that does not hold terminating instances.
    #[error(
        "lifecycle hook `{hook}` of group `{group}` (ecs_lifecycle_hook) is a {transition} hook, not autoscaling:EC2_INSTANCE_TERMINATING: it holds no terminating instance for amiroll to drain"
    )]
    DrainHookNotTerminating {
        group: String,
        hook: String,
        transition: String,
    },
    /// `tags` are the group's `amiroll:*` tags.
    #[error(
        "group `{group}` carries a malformed amiroll round: {error} ({}); remove the amiroll:* tags of the group (and the scale-in protection amiroll set on its old instances) to reset it",
        tag_list(.tags)
    )]
    MalformedRound {
        group: String,
        error: StateError,
        tags: BTreeMap<String, String>,
    },
    #[error(
        "group `{group}` has suspended processes {}; a scheduled surge cannot launch, terminate or run its actions — resume them first",
        .processes.join(", ")
    )]
    SurgeSuspended {
        group: String,
        processes: Vec<String>,
    },
    #[error(
        "instance(s) {} of group `{group}` are protected from scale in by someone else (or by an amiroll round whose tags were removed); amiroll protects the old instances itself during a round and lifts the protection at the end, so it cannot tell them apart — remove the protection first",
        .instances.join(", ")
    )]
    ProtectedElsewhere {
        group: String,
        instances: Vec<String>,
    },
    #[error(
        "group `{group}` has termination policies [{}]; scheduled-surge needs OldestLaunchTemplate first so that the settle removes the old instances — set it, or add set_termination_policy = true to the target",
        .policies.join(", ")
    )]
    TerminationPolicies {
        group: String,
        policies: Vec<String>,
    },
    #[error(
        "group `{group}`: surge_max_capacity {surge_max} leaves no room above the desired capacity {desired}; raise it"
    )]
    NoSurgeRoom {
        group: String,
        surge_max: i32,
        desired: i32,
    },

    // --- instance refresh ---
    /// A refresh sends the group's `MixedInstancesPolicy` complete; the port does not carry
    /// `InstanceRequirements`, so the policy cannot be sent back faithfully.
    #[error(
        "Auto Scaling group `{group}` selects instance types by attributes (InstanceRequirements) in its mixed instances policy; amiroll sends the policy back in full with an instance refresh and cannot carry those attributes — use strategy = \"scheduled-surge\" or list the instance types as overrides"
    )]
    InstanceRequirements { group: String },
    #[error(
        "group `{group}` has suspended processes {}; an instance refresh cannot launch or replace instances — resume them first",
        .processes.join(", ")
    )]
    RefreshSuspended {
        group: String,
        processes: Vec<String>,
    },

    // --- rollback ---
    /// Auto Scaling cannot undo this refresh (`RollbackInstanceRefresh` would answer
    /// `IrreversibleInstanceRefresh`), and amiroll cannot cancel it and refresh back instead
    /// (`blocker` says why: no version to go back to, or a strategy other than
    /// instance-refresh).
    #[error(
        "group `{group}`: instance refresh {refresh} cannot be rolled back by Auto Scaling ({why}), and amiroll cannot cancel it and refresh back instead: {blocker}"
    )]
    IrreversibleRefresh {
        group: String,
        refresh: String,
        why: String,
        blocker: String,
    },
    #[error("group `{group}`: instance refresh {refresh} is already {status}")]
    RefreshAlreadyUndoing {
        group: String,
        refresh: String,
        status: String,
    },
    #[error(
        "group `{group}` launches v{version} of `{template}` and no earlier version with another AMI is left to roll back to"
    )]
    NothingToRollBackTo {
        group: String,
        version: u64,
        template: String,
    },
    #[error("version {version} of `{template}` has no ImageId")]
    RollbackVersionNoImage { template: String, version: u64 },
    /// A round back to the earlier version cannot start yet (`reason` says why).
    #[error("group `{group}`: {reason}; roll back after it")]
    RollbackHeld { group: String, reason: String },
    /// Several refusals of one group, read as one ("; " between them).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<Refusal>),
}

impl From<AwsError> for Refusal {
    fn from(e: AwsError) -> Self {
        Refusal::Observe(e)
    }
}

impl Refusal {
    /// Several refusals read as one: the only one itself, else [`Refusal::Several`].
    pub fn joined(mut all: Vec<Refusal>) -> Refusal {
        if all.len() == 1 {
            all.remove(0)
        } else {
            Refusal::Several(all)
        }
    }
}

/// As its sentence: a string in the JSON Schema of the outputs.
impl schemars::JsonSchema for Refusal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Refusal".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <String as schemars::JsonSchema>::json_schema(generator)
    }
}

/// As its sentence.
impl Serialize for Refusal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn group_versions(groups: &[GroupVersion]) -> String {
    groups
        .iter()
        .map(|g| format!("`{}` uses {} (v{})", g.group, g.spec, g.version))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tag_list(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::ErrorKind;
    use crate::state::parse_time;

    /// Every refusal reads exactly as the sentence the planner wrote before refusals were typed
    /// (the `format!` calls are copied from it), so the output does not change.
    #[test]
    fn each_refusal_reads_as_its_sentence() {
        let (group, template, ami, parameter) = ("web", "lt-0abc", "ami-0123456789abcdef0", "/p");
        let (topic, provider, source_image) = ("arn:t", "cp", "ami-00000000000000001");
        let (at, cur) = (
            parse_time("2026-11-20T10:00:00Z").expect("time"),
            parse_time("2026-11-21T10:00:00Z").expect("time"),
        );
        let long = "x".repeat(80);
        let (source, n, effective, live, desired) = (3u64, 4u64, 5u64, 1, 2);
        let aws = AwsError::new(
            "ec2:DescribeImages",
            ErrorKind::AccessDenied,
            "Denied",
            "no",
        );
        let s = |x: &str| x.to_string();
        let round_error = StateError {
            tag: "amiroll:surge-at",
            value: Some(s("x")),
        };
        let cases: Vec<(Refusal, String)> = vec![
            (Refusal::Observe(aws.clone()), aws.to_string()),
            (
                Refusal::ParameterMissing { parameter: s(parameter) },
                format!("SSM parameter `{}` does not exist in this region (or is not readable)", parameter),
            ),
            (
                Refusal::ParameterNotJson { parameter: s(parameter), value: long.clone() },
                format!("SSM parameter `{parameter}` holds `{}`, but a JSON document (a …/recommended parameter) was expected; point ami_parameter at the JSON parameter or set ami_format = \"image-id\"", crate::planner::truncate(&long, 60)),
            ),
            (
                Refusal::ParameterMalformedJson { parameter: s(parameter), error: s("EOF") },
                format!("SSM parameter `{parameter}` holds malformed JSON: {}", "EOF"),
            ),
            (
                Refusal::ParameterNoImageId { parameter: s(parameter) },
                format!("the JSON in SSM parameter `{parameter}` has no string field `image_id`"),
            ),
            (
                Refusal::ParameterIsJson { parameter: s(parameter) },
                format!("SSM parameter `{parameter}` holds a JSON document, but an AMI id was expected; point ami_parameter at …/recommended/image_id or set ami_format = \"json\""),
            ),
            (
                Refusal::NotAnAmi { parameter: s(parameter), value: long.clone() },
                format!("SSM parameter `{parameter}` gives `{}`, which is not an AMI id (ami- followed by 8 or 17 hex digits)", crate::planner::truncate(&long, 60)),
            ),
            (
                Refusal::TemplateMissing { template: s(template) },
                format!("launch template `{}` not found", template),
            ),
            (
                Refusal::SourceVersionsDiffer {
                    template: s(template),
                    groups: vec![
                        GroupVersion { group: s("a"), spec: s("$Default"), version: 1 },
                        GroupVersion { group: s("b"), spec: s("2"), version: 2 },
                    ],
                },
                {
                    let detail = "`a` uses $Default (v1), `b` uses 2 (v2)";
                    format!("the groups of this target launch different versions of `{}` ({detail}); amiroll builds the new version from the one version they share — align them or split the target", template)
                },
            ),
            (
                Refusal::SourceVersionMissing { template: s(template), version: source },
                format!("version {source} of launch template `{}` does not exist", template),
            ),
            (
                Refusal::SourceVersionNoImage { template: s(template), version: source },
                format!("version {source} of launch template `{}` has no ImageId; amiroll only replaces an ImageId and will not add one", template),
            ),
            (
                Refusal::AmiMissing { ami: s(ami), parameter: s(parameter), parameter_version: 7 },
                format!("AMI `{ami}` (from SSM parameter `{}` version {}) does not exist or is not visible to this account", parameter, 7),
            ),
            (
                Refusal::AmiNotAvailable { ami: s(ami), state: s("pending") },
                format!("AMI `{ami}` is in state `{}`, not `available`", "pending"),
            ),
            (
                Refusal::AmiOwnerNotAllowed {
                    ami: s(ami),
                    parameter: s(parameter),
                    owner: s("444455556666 (public)"),
                    allowed: vec![s("self"), s("amazon")],
                    own_account: Some(s("123456789012")),
                },
                format!("AMI `{ami}` (from SSM parameter `{parameter}`) is owned by 444455556666 (public), which is not allowed: ami_owners = [\"self\", \"amazon\"] (`self` is 123456789012); amiroll rolls only images of allowed owners — add the owner's account id to ami_owners if you trust it"),
            ),
            (
                Refusal::AmiOwnerNotAllowed {
                    ami: s(ami),
                    parameter: s(parameter),
                    owner: s("123456789012"),
                    allowed: vec![s("self")],
                    own_account: None,
                },
                format!("AMI `{ami}` (from SSM parameter `{parameter}`) is owned by 123456789012, which is not allowed: ami_owners = [\"self\"] (`self`: this account's id could not be read from its groups' ARNs); amiroll rolls only images of allowed owners — add the owner's account id to ami_owners if you trust it"),
            ),
            (
                Refusal::AmiNotAllowedByAccount { ami: s(ami), parameter: s(parameter), owner: s("444455556666") },
                format!("AMI `{ami}` (from SSM parameter `{parameter}`, owned by 444455556666) is rejected by this account's Allowed AMIs criteria (DescribeImages reports ImageAllowed = false; the setting is in audit mode, and enabling it would block the image); amiroll will not roll it — change the criteria or the parameter"),
            ),
            (
                Refusal::AmiDeprecated { ami: s(ami), since: at },
                format!("AMI `{ami}` is deprecated since {}; set allow_deprecated = true to roll to it anyway", fmt_time(at)),
            ),
            (
                Refusal::ArchitectureMismatch {
                    ami: s(ami),
                    architecture: s("arm64"),
                    instance_type: s("m5.large"),
                    supported: vec![s("x86_64"), s("i386")],
                },
                {
                    let it = "m5.large";
                    format!("architecture mismatch: AMI `{ami}` is {} but instance type {it} supports {}", "arm64", ["x86_64", "i386"].join(", "))
                },
            ),
            (
                Refusal::Downgrade {
                    ami: s(ami),
                    created: at,
                    current: s(source_image),
                    current_created: cur,
                    version: source,
                },
                format!("AMI `{ami}` (created {}) is older than `{source_image}` (created {}) that version {source} uses; refusing to downgrade — set allow_downgrade = true to roll back on purpose", fmt_time(at), fmt_time(cur)),
            ),
            (
                Refusal::GroupMissing { group: s(group) },
                format!("Auto Scaling group `{}` not found", group),
            ),
            (
                Refusal::BadVersionSpec { group: s(group), version: s("$Nope") },
                format!("Auto Scaling group `{group}` names launch template version `{}`, which is neither a number, $Default nor $Latest", "$Nope"),
            ),
            (
                Refusal::NoLaunchTemplate { group: s(group) },
                format!("Auto Scaling group `{}` does not launch from a launch template (launch configurations are not supported)", group),
            ),
            (
                Refusal::OtherTemplate { group: s(group), launches: s("lt-0other"), template: s(template) },
                format!("Auto Scaling group `{}` launches from launch template `{}`, not `{}`", group, "lt-0other", template),
            ),
            (
                Refusal::ForeignOverride { group: s(group), template: s("lt-0other") },
                format!("Auto Scaling group `{}` has a mixed-instances override with its own launch template `{}`; amiroll rolls one template per target and would leave those instances behind", group, "lt-0other"),
            ),
            (
                Refusal::VersionMissing { group: s(group), version: effective, template: s(template) },
                format!("Auto Scaling group `{}` launches version {effective} of `{}`, which does not exist: the group cannot launch instances; fix the group first", group, template),
            ),
            (
                Refusal::PinnedInMixedPolicy { group: s(group), version: n },
                format!("Auto Scaling group `{}` pins version {n} inside a mixed instances policy; amiroll re-pins only groups with a plain LaunchTemplate — move the policy to $Default or re-pin it yourself", group),
            ),
            (
                Refusal::Pinned { group: s(group), version: n, template: s(template) },
                format!("Auto Scaling group `{}` pins version {n} of launch template `{}`; amiroll cannot roll it without `pinned = \"update\"` in the target (it would then re-pin the group to the new version)", group, template),
            ),
            (
                Refusal::LatestWithoutAmi { group: s(group), latest: n, ami: s(ami) },
                format!("Auto Scaling group `{}` launches $Latest (v{}), which does not carry {ami}, and the version that does is older; pin the group or remove the newer version", group, n),
            ),
            (
                Refusal::EcsManagedScaling { group: s(group), provider: s(provider) },
                format!("Auto Scaling group `{}` backs ECS capacity provider `{}` with managed scaling on: ECS owns the group's desired capacity and would undo a scheduled surge — use strategy = \"instance-refresh\"", group, provider),
            ),
            (
                Refusal::TopicMissing { topic: s(topic) },
                format!("SNS topic `{topic}` does not exist"),
            ),
            (
                Refusal::SurgeShorterThanGrace { group: s(group), grace_secs: 600, surge_minutes: 15, needed_minutes: 18 },
                format!("group `{}` has a health-check grace period of 600 s: Auto Scaling reports new instances Healthy for that long without checking them, so a surge of 15 minutes reaches its health gate before they are checked; set surge_minutes to at least 18", group),
            ),
            (
                Refusal::DrainHookMissing { group: s(group), hook: s("drain") },
                format!("group `{group}` has no lifecycle hook `drain` (ecs_lifecycle_hook): amiroll cannot drain the instances Auto Scaling terminates — create the hook, or use ecs_drain = \"lifecycle-hook\" to have amiroll create its own"),
            ),
            (
                Refusal::DrainHookNotTerminating { group: s(group), hook: s("drain"), transition: s("autoscaling:EC2_INSTANCE_LAUNCHING") },
                format!("lifecycle hook `drain` of group `{group}` (ecs_lifecycle_hook) is a autoscaling:EC2_INSTANCE_LAUNCHING hook, not autoscaling:EC2_INSTANCE_TERMINATING: it holds no terminating instance for amiroll to drain"),
            ),
            (
                Refusal::LaunchSuspended { group: s(group), live, desired },
                format!("group `{}` runs {live} of {} instance(s) and its Launch process is suspended; resume it first", group, desired),
            ),
            (
                Refusal::MalformedRound {
                    group: s(group),
                    error: round_error.clone(),
                    tags: BTreeMap::from([(s("amiroll:rollout"), s("r1")), (s("amiroll:surge-at"), s("x"))]),
                },
                format!("group `{}` carries a malformed amiroll round: {} ({}); remove the amiroll:* tags of the group (and the scale-in protection amiroll set on its old instances) to reset it", group, round_error, "amiroll:rollout=r1 amiroll:surge-at=x"),
            ),
            (
                Refusal::SurgeSuspended { group: s(group), processes: vec![s("Launch"), s("Terminate")] },
                format!("group `{}` has suspended processes {}; a scheduled surge cannot launch, terminate or run its actions — resume them first", group, "Launch, Terminate"),
            ),
            (
                Refusal::ProtectedElsewhere { group: s(group), instances: vec![s("i-1"), s("i-2")] },
                format!("instance(s) {} of group `{}` are protected from scale in by someone else (or by an amiroll round whose tags were removed); amiroll protects the old instances itself during a round and lifts the protection at the end, so it cannot tell them apart — remove the protection first", "i-1, i-2", group),
            ),
            (
                Refusal::TerminationPolicies { group: s(group), policies: vec![s("Default"), s("OldestInstance")] },
                format!("group `{}` has termination policies [{}]; scheduled-surge needs OldestLaunchTemplate first so that the settle removes the old instances — set it, or add set_termination_policy = true to the target", group, "Default, OldestInstance"),
            ),
            (
                Refusal::NoSurgeRoom { group: s(group), surge_max: 2, desired: 2 },
                format!("group `{}`: surge_max_capacity {} leaves no room above the desired capacity {}; raise it", group, 2, 2),
            ),
            (
                Refusal::RefreshSuspended { group: s(group), processes: vec![s("InstanceRefresh")] },
                format!("group `{}` has suspended processes {}; an instance refresh cannot launch or replace instances — resume them first", group, "InstanceRefresh"),
            ),
            (
                Refusal::RefreshAlreadyUndoing { group: s(group), refresh: s("rf-1"), status: s("Cancelling") },
                {
                    let name = group;
                    format!("group `{name}`: instance refresh {} is already {}", "rf-1", "Cancelling")
                },
            ),
            (
                Refusal::NothingToRollBackTo { group: s(group), version: effective, template: s(template) },
                {
                    let name = group;
                    format!("group `{name}` launches v{effective} of `{}` and no earlier version with another AMI is left to roll back to", template)
                },
            ),
            (
                Refusal::RollbackVersionNoImage { template: s(template), version: n },
                {
                    let prev = n;
                    format!("version {prev} of `{}` has no ImageId", template)
                },
            ),
            (
                Refusal::RollbackHeld { group: s(group), reason: s("a clash") },
                {
                    let (name, h) = (group, "a clash");
                    format!("group `{name}`: {h}; roll back after it")
                },
            ),
            (
                Refusal::Several(vec![
                    Refusal::GroupMissing { group: s("a") },
                    Refusal::GroupMissing { group: s("b") },
                ]),
                ["Auto Scaling group `a` not found", "Auto Scaling group `b` not found"].join("; "),
            ),
        ];
        for (refusal, sentence) in cases {
            assert_eq!(refusal.to_string(), sentence, "{refusal:?}");
            assert_eq!(
                serde_json::to_value(&refusal).expect("serializes"),
                serde_json::Value::String(sentence),
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn one_refusal_joined_is_itself() {
        let one = Refusal::GroupMissing {
            group: "a".to_string(),
        };
        assert_eq!(Refusal::joined(vec![one.clone()]), one);
        assert!(matches!(
            Refusal::joined(vec![one.clone(), one]),
            Refusal::Several(v) if v.len() == 2
        ));
    }

    #[test]
    fn observe_errors_keep_their_kind_and_serialize_as_their_message() {
        let e = AwsError::new(
            "ec2:DescribeLaunchTemplates",
            ErrorKind::AccessDenied,
            "UnauthorizedOperation",
            "not allowed",
        );
        let r = Refusal::from(e.clone());
        assert!(matches!(&r, Refusal::Observe(x) if x.kind == ErrorKind::AccessDenied));
        let obs = crate::model::Observation {
            target_errors: BTreeMap::from([("web".to_string(), e.clone())]),
            ..Default::default()
        };
        let json = serde_json::to_value(&obs).expect("serializes");
        assert_eq!(
            json["target_errors"]["web"],
            serde_json::Value::String(e.to_string())
        );
    }
}
