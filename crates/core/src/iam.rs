//! `amiroll iam-policy`: the least-privilege IAM policy for a configuration.
//!
//! A pure function of the [`Config`]: exactly the actions the configured targets' strategies and
//! features make amiroll call (`check`, `plan`, `apply`, `status` and `rollback`), each scoped to
//! the narrowest resource IAM can express ("Actions, resources, and condition keys" in the Service
//! Authorization Reference, summarised in `reference/aws-semantics.md` §8):
//!
//! - Reads whose actions support no resource type share one statement on `"*"`.
//! - `ssm:GetParameters` on each AMI parameter: AWS's public parameters (`/aws/service/…`) have an
//!   ARN with an **empty account** (`arn:aws:ssm:REGION::parameter/aws/service/…`), your own ones
//!   carry the account.
//! - Launch-template writes on `launch-template/lt-…`. IAM cannot match a template *name* in an
//!   ARN (the ARN holds the id), so a target naming its template by name gets
//!   `launch-template/*` — name templates by id to scope them.
//! - Auto Scaling writes per group on `autoScalingGroup:*:autoScalingGroupName/NAME` (the `*` is
//!   the group's UUID, which changes when a group is re-created).
//! - `sns:GetTopicAttributes` / `sns:Publish` on the configured topics.
//! - Dependent actions: Auto Scaling checks that the caller may launch from a launch template
//!   whenever a call names one ("Control Amazon EC2 launch template usage in Auto Scaling groups":
//!   `UpdateAutoScalingGroup` with `LaunchTemplate`, `StartInstanceRefresh` with a
//!   `DesiredConfiguration`). amiroll never calls `RunInstances` itself, but such calls fail
//!   without `ec2:RunInstances` (conditioned on the configured templates), `ec2:CreateTags` at
//!   launch (templates with tag specifications) and `iam:PassRole` for the instance profile's role
//!   (given with `--pass-role`; never guessed, since passing any role would let the policy's holder
//!   launch instances with any role).
//!
//! Region and account default to `*` when not given.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{Config, Pinned, Prune, Strategy, Target};
use crate::port::op;

/// The IAM policy language version.
pub const POLICY_VERSION: &str = "2012-10-17";

/// Actions that are not amiroll calls but that AWS checks when amiroll's calls name a launch
/// template (see the module documentation).
pub mod dependent {
    pub const RUN_INSTANCES: &str = "ec2:RunInstances";
    pub const CREATE_TAGS: &str = "ec2:CreateTags";
    pub const PASS_ROLE: &str = "iam:PassRole";
    pub const ALL: &[&str] = &[RUN_INSTANCES, CREATE_TAGS, PASS_ROLE];
}

/// An IAM identity-based policy document, serialised in the IAM JSON policy grammar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

/// Condition operator → condition key → values.
pub type Conditions = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// One `Allow` statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// Alphanumeric, unique within the document; says why the statement is there.
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    #[serde(rename = "Action")]
    pub actions: Vec<String>,
    #[serde(rename = "Resource")]
    pub resources: Vec<String>,
    #[serde(rename = "Condition", skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: Conditions,
}

impl PolicyDocument {
    /// Every action the document allows.
    pub fn actions(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .flat_map(|s| s.actions.iter().cloned())
            .collect()
    }

    /// The statement with this Sid.
    pub fn statement(&self, sid: &str) -> Option<&Statement> {
        self.statements.iter().find(|s| s.sid == sid)
    }

    /// Every resource the document names for `action`.
    pub fn resources_for(&self, action: &str) -> BTreeSet<String> {
        self.statements
            .iter()
            .filter(|s| s.actions.iter().any(|a| a == action))
            .flat_map(|s| s.resources.iter().cloned())
            .collect()
    }

    /// Pretty JSON, as `amiroll iam-policy` prints it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Where the policy applies and what it cannot know from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// The Region in the ARNs (`*` when `None`); also picks the partition (`aws-cn` for `cn-…`,
    /// `aws-us-gov` for `us-gov-…`).
    pub region: Option<&'a str>,
    /// The account id in the ARNs (`*` when `None`).
    pub account: Option<&'a str>,
    /// Overrides the partition derived from the Region (e.g. `${AWS::Partition}`).
    pub partition: Option<&'a str>,
    /// Roles of the templates' instance profiles, for `iam:PassRole` (full role ARNs).
    pub pass_roles: &'a [String],
}

/// The policy for `config`, with ARNs in `region` and `account` (`*` when not given).
pub fn policy(config: &Config, region: Option<&str>, account: Option<&str>) -> PolicyDocument {
    policy_with(
        config,
        &Options {
            region,
            account,
            ..Options::default()
        },
    )
}

/// What the engine can call for one target, split by the resource each action is scoped to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetNeeds {
    /// Actions on the target's launch template.
    pub template: BTreeSet<&'static str>,
    /// Actions on each of the target's groups.
    pub groups: BTreeSet<&'static str>,
    /// Actions on the target's SNS topic.
    pub topic: BTreeSet<&'static str>,
    /// A call names the launch template (a pin or a refresh's desired configuration), so Auto
    /// Scaling checks launch permissions.
    pub launch_checks: bool,
}

/// The engine's calls for one target (see `engine/`, `planner.rs`, `rollback.rs`).
pub fn target_needs(t: &Target) -> TargetNeeds {
    let s = &t.settings;
    let mut n = TargetNeeds::default();
    if s.sns_topic.is_some() {
        // Every target's topic is checked while observing; only planned targets publish.
        n.topic.insert(op::GET_TOPIC_ATTRIBUTES);
        if !t.observe_only {
            n.topic.insert(op::PUBLISH);
        }
    }
    if t.observe_only {
        return n;
    }
    // A new version and a default move: every strategy (scheduled-surge's rollback creates a copy
    // of the previous version too).
    n.template.insert(op::CREATE_LAUNCH_TEMPLATE_VERSION);
    n.template.insert(op::MODIFY_LAUNCH_TEMPLATE);
    if s.prune != Prune::Off {
        n.template.insert(op::DELETE_LAUNCH_TEMPLATE_VERSIONS);
    }
    if t.groups.is_empty() {
        return n;
    }
    // State lives in group tags (rollout rounds, outcomes, failures; `rollback` and
    // `--acknowledge` for every strategy).
    n.groups.insert(op::CREATE_OR_UPDATE_TAGS);
    n.groups.insert(op::DELETE_TAGS);
    let pins = match s.strategy {
        // A refresh with auto rollback first pins a $Default/$Latest group to the number it runs.
        Strategy::InstanceRefresh => s.auto_rollback,
        // pinned = "update" re-pins (forward and rollback).
        Strategy::ScheduledSurge | Strategy::None => s.pinned == Pinned::Update,
    };
    let sets_policies = s.strategy == Strategy::ScheduledSurge && s.set_termination_policy;
    if pins || sets_policies {
        n.groups.insert(op::UPDATE_AUTO_SCALING_GROUP);
    }
    match s.strategy {
        Strategy::ScheduledSurge => {
            n.groups.insert(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION);
            n.groups.insert(op::DELETE_SCHEDULED_ACTION);
            // A surge round may protect instances from its scale-in and set the sizes at once
            // (`SetInstanceProtection`, and `UpdateAutoScalingGroup` with MinSize, MaxSize and
            // DesiredCapacity). Both take the group as their resource ("Actions, resources, and
            // condition keys for Amazon EC2 Auto Scaling", Service Authorization Reference,
            // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html);
            // neither names a launch template, so no launch checks.
            n.groups.insert(op::SET_INSTANCE_PROTECTION);
            n.groups.insert(op::UPDATE_AUTO_SCALING_GROUP);
        }
        Strategy::InstanceRefresh => {
            n.groups.insert(op::START_INSTANCE_REFRESH);
            n.groups.insert(op::ROLLBACK_INSTANCE_REFRESH);
            // `amiroll rollback` cancels a refresh Auto Scaling cannot roll back, and any later
            // run cancels it again if the first stopped before it could. The action takes the
            // group as its resource, as `RollbackInstanceRefresh` does ("Actions, resources, and
            // condition keys for Amazon EC2 Auto Scaling", Service Authorization Reference,
            // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html).
            n.groups.insert(op::CANCEL_INSTANCE_REFRESH);
        }
        Strategy::None => {}
    }
    if let Some((_, ours)) = t.drain_hook() {
        // The drain hook: amiroll lets the instances it holds go, extends their wait, and puts
        // its own hook. All three take the group as their resource ("Actions, resources, and
        // condition keys for Amazon EC2 Auto Scaling", Service Authorization Reference, as above).
        n.groups.insert(op::COMPLETE_LIFECYCLE_ACTION);
        n.groups.insert(op::RECORD_LIFECYCLE_ACTION_HEARTBEAT);
        if ours {
            n.groups.insert(op::PUT_LIFECYCLE_HOOK);
        }
    }
    // StartInstanceRefresh sends the new version in DesiredConfiguration.
    n.launch_checks = pins || s.strategy == Strategy::InstanceRefresh;
    n
}

/// The read actions the engine calls while observing `config` (all `*`-only except
/// `ssm:GetParameters` and the ECS reads with a resource type, which are scoped separately).
pub fn read_actions(config: &Config) -> BTreeSet<&'static str> {
    let mut r: BTreeSet<&'static str> = [
        op::GET_PARAMETERS,
        // The default and latest version of every template in one call, then every version of
        // the templates that may change.
        op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS,
        // The candidate AMI and the AMIs in use; the instance types of the versions in use.
        op::DESCRIBE_IMAGES,
        op::DESCRIBE_INSTANCE_TYPES,
    ]
    .into_iter()
    .collect();
    // Pruning re-reads the template header just before deleting (never the new default), and
    // so does putting a group amiroll pinned (instance refresh with auto rollback) back on
    // $Default/$Latest (only while that still names the version it launches).
    if config.targets.iter().any(|t| {
        !t.observe_only
            && (t.settings.prune != Prune::Off
                || (t.settings.strategy == Strategy::InstanceRefresh && t.settings.auto_rollback))
    }) {
        r.insert(op::DESCRIBE_LAUNCH_TEMPLATES);
    }
    let with_groups = || config.targets.iter().filter(|t| !t.groups.is_empty());
    if with_groups().next().is_some() {
        r.insert(op::DESCRIBE_AUTO_SCALING_GROUPS);
        r.insert(op::DESCRIBE_INSTANCES);
        // Read for instance-refresh targets and for any group an earlier instance refresh tagged
        // (the tag stays, so a target moved to another strategy keeps reading them).
        r.insert(op::DESCRIBE_INSTANCE_REFRESHES);
    }
    if with_groups().any(|t| t.settings.strategy == Strategy::ScheduledSurge) {
        r.insert(op::DESCRIBE_SCHEDULED_ACTIONS);
    }
    if with_groups().any(|t| t.settings.strategy != Strategy::None) {
        r.insert(op::DESCRIBE_CAPACITY_PROVIDERS);
    }
    if config.targets.iter().any(|t| t.drain_hook().is_some()) {
        // The drain hook of each group (`engine/observe.rs`, step 1b).
        r.insert(op::DESCRIBE_LIFECYCLE_HOOKS);
    }
    let clusters = ecs_clusters(config);
    if !clusters.is_empty() {
        // The container instances of the configured clusters (`planner::ecs_reads`).
        r.insert(op::LIST_CONTAINER_INSTANCES);
        r.insert(op::DESCRIBE_CONTAINER_INSTANCES);
    }
    if clusters.any {
        // A target without `ecs_cluster` may find its cluster from its group's capacity
        // provider: the clusters of the account and the capacity providers each names
        // (`planner::provider_cluster_reads`).
        r.insert(op::LIST_CLUSTERS);
        r.insert(op::DESCRIBE_CLUSTERS);
    }
    r
}

/// The ECS clusters a policy covers for some use (reading container instances, draining them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsScope {
    /// The configured clusters (`ecs_cluster`).
    pub clusters: BTreeSet<String>,
    /// A target has no `ecs_cluster` (and not `ecs = false`): amiroll uses the cluster its launch
    /// template's user data names, or else the one its group's capacity provider belongs to,
    /// which the generator cannot know, so the grant covers every cluster of the account. Set `ecs_cluster` to scope it, or `ecs = false` for a plain EC2 fleet.
    pub any: bool,
}

impl EcsScope {
    fn of<'a>(targets: impl Iterator<Item = &'a crate::config::Target>) -> EcsScope {
        let mut scope = EcsScope::default();
        for t in targets.filter(|t| t.settings.ecs) {
            match &t.settings.ecs_cluster {
                Some(c) => {
                    scope.clusters.insert(c.clone());
                }
                None => scope.any = true,
            }
        }
        scope
    }
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty() && !self.any
    }
}

/// The ECS clusters whose container instances the engine reads: those of the targets that roll
/// groups (`planner::ecs_reads`).
pub fn ecs_clusters(config: &Config) -> EcsScope {
    EcsScope::of(
        config
            .targets
            .iter()
            .filter(|t| !t.observe_only && !t.groups.is_empty())
            .filter(|t| t.settings.strategy != Strategy::None),
    )
}

/// The ECS clusters whose container instances amiroll sets `DRAINING`: a scheduled-surge round
/// in its health gate (`planner/surge/gate.rs`), and any target that drains through a lifecycle
/// hook (`planner/hooks.rs`).
pub fn ecs_drain_clusters(config: &Config) -> EcsScope {
    EcsScope::of(
        config
            .targets
            .iter()
            .filter(|t| !t.observe_only && !t.groups.is_empty())
            .filter(|t| {
                t.settings.strategy == Strategy::ScheduledSurge || t.drain_hook().is_some()
            }),
    )
}

/// The ECS clusters on whose container instances amiroll records a drain start
/// (`ecs:PutAttributes`): the targets that drain through a lifecycle hook.
pub fn ecs_hook_clusters(config: &Config) -> EcsScope {
    EcsScope::of(config.targets.iter().filter(|t| t.drain_hook().is_some()))
}

/// Every amiroll operation (an [`op::ALL`] entry) the engine can call for `config`.
pub fn engine_actions(config: &Config) -> BTreeSet<&'static str> {
    let mut all = read_actions(config);
    if !ecs_drain_clusters(config).is_empty() {
        all.insert(op::UPDATE_CONTAINER_INSTANCES_STATE);
    }
    if !ecs_hook_clusters(config).is_empty() {
        all.insert(op::PUT_ATTRIBUTES);
    }
    for t in &config.targets {
        let n = target_needs(t);
        all.extend(n.template);
        all.extend(n.groups);
        all.extend(n.topic);
    }
    all
}

/// Notes for the person deploying the policy (printed on stderr by the CLI).
pub fn notes(config: &Config, opts: &Options) -> Vec<String> {
    let mut out = Vec::new();
    let by_name: Vec<&str> = config
        .targets
        .iter()
        .filter(|t| !t.observe_only && !is_template_id(&t.launch_template))
        .map(|t| t.launch_template.as_str())
        .collect();
    if !by_name.is_empty() {
        out.push(format!(
            "launch template(s) {} are named, not given by id: IAM cannot scope to a template name, so the policy allows launch-template/* — use the lt-… ids in the configuration to scope it",
            by_name.join(", ")
        ));
    }
    let checks: Vec<&str> = config
        .targets
        .iter()
        .filter(|t| target_needs(t).launch_checks)
        .map(|t| t.name.as_str())
        .collect();
    if !checks.is_empty() && opts.pass_roles.is_empty() {
        out.push(format!(
            "target(s) {} make Auto Scaling check launch permissions (a pin or an instance refresh's desired configuration): if the launch template has an instance profile (ECS container instances do), add its role with --pass-role arn:aws:iam::ACCOUNT:role/NAME, or those calls fail with AccessDenied",
            checks.join(", ")
        ));
    }
    let unscoped: Vec<&str> = config
        .targets
        .iter()
        .filter(|t| !t.observe_only && !t.groups.is_empty())
        .filter(|t| t.settings.strategy != Strategy::None)
        .filter(|t| t.settings.ecs && t.settings.ecs_cluster.is_none())
        .map(|t| t.name.as_str())
        .collect();
    if !unscoped.is_empty() {
        out.push(format!(
            "target(s) {} have no ecs_cluster: amiroll reads (and, for scheduled-surge, drains) the ECS cluster their launch template's user data names, or else the one their group's capacity provider belongs to (listing and describing the account's clusters), so the policy allows those ECS calls on every cluster of the account — set ecs_cluster to scope them to one cluster, or ecs = false for a plain EC2 fleet",
            unscoped.join(", ")
        ));
    }
    out
}

/// The policy for `config` with all options.
pub fn policy_with(config: &Config, opts: &Options) -> PolicyDocument {
    let region = opts.region.unwrap_or("*");
    let account = opts.account.unwrap_or("*");
    let partition = opts
        .partition
        .unwrap_or_else(|| partition_of(opts.region.unwrap_or("")));
    let arn = Arns {
        partition,
        region,
        account,
    };
    let mut b = Builder::default();

    // Reads.
    let reads = read_actions(config);
    let star: Vec<&str> = reads
        .iter()
        .copied()
        .filter(|a| {
            ![
                op::GET_PARAMETERS,
                op::DESCRIBE_CAPACITY_PROVIDERS,
                op::LIST_CONTAINER_INSTANCES,
                op::DESCRIBE_CONTAINER_INSTANCES,
                op::DESCRIBE_CLUSTERS,
            ]
            .contains(a)
        })
        .collect();
    b.push(
        "ReadsWithoutResourceLevelPermissions",
        &star,
        vec!["*".into()],
    );
    if reads.contains(op::DESCRIBE_CAPACITY_PROVIDERS) {
        // Every capacity provider is read (to find those backed by the groups). Not being allowed
        // is not fatal: amiroll skips its ECS checks and says so in the plan.
        b.push(
            "EcsCapacityProvidersOfTheAccount",
            &[op::DESCRIBE_CAPACITY_PROVIDERS],
            vec![arn.ecs_capacity_providers()],
        );
    }
    let clusters = ecs_clusters(config);
    if reads.contains(op::DESCRIBE_CLUSTERS) {
        // Finding a group's cluster from its capacity provider: "ListClusters" has no resource
        // type (it is in the `*` statement above); "DescribeClusters" acts on the clusters
        // ("Actions, resources, and condition keys for Amazon Elastic Container Service",
        // Service Authorization Reference,
        // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html),
        // every cluster of the account: any may hold the provider.
        b.push(
            "EcsDescribeClustersOfTheAccount",
            &[op::DESCRIBE_CLUSTERS],
            vec![arn.ecs_cluster("*")],
        );
    }
    if !clusters.is_empty() {
        // "ListContainerInstances" acts on the cluster; "DescribeContainerInstances" on its
        // container instances (`container-instance/CLUSTER/ID`), with the condition key
        // `ecs:cluster` ("Actions, resources, and condition keys for Amazon Elastic Container
        // Service", Service Authorization Reference,
        // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html).
        let (cluster_arns, instance_arns, cond) = ecs_resources(&arn, &clusters);
        b.push(
            "EcsListContainerInstancesOfTheClusters",
            &[op::LIST_CONTAINER_INSTANCES],
            cluster_arns,
        );
        b.push_with(
            "EcsDescribeContainerInstancesOfTheClusters",
            &[op::DESCRIBE_CONTAINER_INSTANCES],
            instance_arns,
            cond,
        );
    }
    let drained = ecs_drain_clusters(config);
    if !drained.is_empty() {
        // "UpdateContainerInstancesState" acts on the container instances, with the condition
        // key `ecs:cluster` (Service Authorization Reference, as above): the surge's health gate
        // sets the old ones `DRAINING`.
        let (_, instance_arns, cond) = ecs_resources(&arn, &drained);
        b.push_with(
            "EcsDrainContainerInstancesOfTheClusters",
            &[op::UPDATE_CONTAINER_INSTANCES_STATE],
            instance_arns,
            cond,
        );
    }
    let marked = ecs_hook_clusters(config);
    if !marked.is_empty() {
        // "PutAttributes" acts on the container instances, with the condition key `ecs:cluster`
        // (Service Authorization Reference, as above): the drain hook records on each held
        // instance when it set it `DRAINING`.
        let (_, instance_arns, cond) = ecs_resources(&arn, &marked);
        b.push_with(
            "EcsRecordDrainStartOfTheClusters",
            &[op::PUT_ATTRIBUTES],
            instance_arns,
            cond,
        );
    }
    let params: BTreeSet<String> = config
        .targets
        .iter()
        .map(|t| arn.parameter(&t.ami_parameter))
        .collect();
    b.push(
        "ReadAmiParameters",
        &[op::GET_PARAMETERS],
        params.into_iter().collect(),
    );

    // Launch templates, grouped by the actions they need; ids and names apart.
    let mut by_id: BTreeMap<Vec<&'static str>, BTreeSet<String>> = BTreeMap::new();
    let mut by_name: BTreeSet<&'static str> = BTreeSet::new();
    let mut run_from: BTreeSet<String> = BTreeSet::new();
    let mut groups: BTreeMap<Vec<&'static str>, BTreeSet<String>> = BTreeMap::new();
    let mut topics: BTreeMap<Vec<&'static str>, BTreeSet<String>> = BTreeMap::new();
    // Actions per resource first (two targets may share a template), then resources per action set.
    let mut per_template: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut per_topic: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for t in &config.targets {
        let n = target_needs(t);
        if !n.template.is_empty() {
            if is_template_id(&t.launch_template) {
                per_template
                    .entry(t.launch_template.clone())
                    .or_default()
                    .extend(n.template.iter().copied());
            } else {
                by_name.extend(n.template.iter().copied());
            }
        }
        if !n.groups.is_empty() {
            let key: Vec<&'static str> = n.groups.iter().copied().collect();
            groups
                .entry(key)
                .or_default()
                .extend(t.groups.iter().map(|g| arn.group(g)));
        }
        if n.launch_checks {
            run_from.insert(arn.template(if is_template_id(&t.launch_template) {
                &t.launch_template
            } else {
                "*"
            }));
        }
        if let Some(topic) = &t.settings.sns_topic {
            per_topic
                .entry(topic.clone())
                .or_default()
                .extend(n.topic.iter().copied());
        }
    }
    for (id, actions) in per_template {
        by_id
            .entry(actions.into_iter().collect())
            .or_default()
            .insert(arn.template(&id));
    }
    for (topic, actions) in per_topic {
        topics
            .entry(actions.into_iter().collect())
            .or_default()
            .insert(topic);
    }
    for (actions, resources) in by_id {
        b.push(
            "LaunchTemplateVersions",
            &actions,
            resources.into_iter().collect(),
        );
    }
    if !by_name.is_empty() {
        let actions: Vec<&str> = by_name.into_iter().collect();
        b.push(
            "LaunchTemplatesGivenByNameSoAnyTemplateUseIdsToScope",
            &actions,
            vec![arn.template("*")],
        );
    }
    for (actions, resources) in groups {
        b.push(
            "AutoScalingGroups",
            &actions,
            resources.into_iter().collect(),
        );
    }

    // What Auto Scaling checks when a call names a launch template.
    if !run_from.is_empty() {
        let mut cond = Conditions::new();
        cond.entry("ArnLike".into())
            .or_default()
            .insert("ec2:LaunchTemplate".into(), run_from.into_iter().collect());
        b.push_with(
            "AutoScalingChecksLaunchFromTheseTemplates",
            &[dependent::RUN_INSTANCES],
            vec![arn.ec2_any()],
            cond,
        );
        let mut cond = Conditions::new();
        cond.entry("StringEquals".into())
            .or_default()
            .insert("ec2:CreateAction".into(), vec!["RunInstances".into()]);
        b.push_with(
            "AutoScalingChecksTagsAtLaunch",
            &[dependent::CREATE_TAGS],
            vec![arn.ec2_any()],
            cond,
        );
        if !opts.pass_roles.is_empty() {
            let mut cond = Conditions::new();
            cond.entry("StringEquals".into()).or_default().insert(
                "iam:PassedToService".into(),
                vec!["ec2.amazonaws.com".into()],
            );
            let roles: BTreeSet<String> = opts.pass_roles.iter().cloned().collect();
            b.push_with(
                "AutoScalingChecksInstanceProfileRole",
                &[dependent::PASS_ROLE],
                roles.into_iter().collect(),
                cond,
            );
        }
    }

    for (actions, resources) in topics {
        b.push("Notifications", &actions, resources.into_iter().collect());
    }
    PolicyDocument {
        version: POLICY_VERSION,
        statements: b.statements,
    }
}

/// A CloudFormation template (YAML) with one `AWS::IAM::ManagedPolicy` holding `doc`, attached
/// to the role named by the optional `RoleName` parameter. Strings containing `${AWS::…}`
/// (the stack's Region, account or partition) become `!Sub`. `source` names the configuration
/// in the description.
pub fn cloudformation(doc: &PolicyDocument, source: &str) -> String {
    let description: String = format!("amiroll least-privilege policy for {source}")
        .chars()
        .filter(|c| !c.is_control())
        .take(1000)
        .collect();
    let description = yaml_string(&description);
    let mut out = format!(
        "# Generated by `amiroll iam-policy --format cloudformation`.\n\
         AWSTemplateFormatVersion: \"2010-09-09\"\n\
         Description: {description}\n\
         Parameters:\n\
         \x20 RoleName:\n\
         \x20   Type: String\n\
         \x20   Default: \"\"\n\
         \x20   Description: Name of an existing IAM role to attach the policy to (e.g. the amiroll function's role); empty attaches it to nothing.\n\
         Conditions:\n\
         \x20 HasRole: !Not [!Equals [!Ref RoleName, \"\"]]\n\
         Resources:\n\
         \x20 AmirollPolicy:\n\
         \x20   Type: AWS::IAM::ManagedPolicy\n\
         \x20   Properties:\n\
         \x20     Description: {description}\n\
         \x20     Roles: !If [HasRole, [!Ref RoleName], !Ref AWS::NoValue]\n\
         \x20     PolicyDocument:\n\
         \x20       Version: \"{}\"\n\
         \x20       Statement:\n",
        doc.version
    );
    let list = |out: &mut String, indent: &str, items: &[String]| {
        for i in items {
            out.push_str(&format!("{indent}- {}\n", cfn_string(i)));
        }
    };
    for st in &doc.statements {
        out.push_str(&format!("          - Sid: {}\n", st.sid));
        out.push_str(&format!("            Effect: {}\n", st.effect));
        out.push_str("            Action:\n");
        list(&mut out, "              ", &st.actions);
        out.push_str("            Resource:\n");
        list(&mut out, "              ", &st.resources);
        if !st.conditions.is_empty() {
            out.push_str("            Condition:\n");
            for (operator, keys) in &st.conditions {
                out.push_str(&format!("              {operator}:\n"));
                for (key, values) in keys {
                    out.push_str(&format!("                {key}:\n"));
                    list(&mut out, "                  ", values);
                }
            }
        }
    }
    out.push_str(
        "Outputs:\n\
         \x20 PolicyArn:\n\
         \x20   Description: The managed policy to attach to the role or user that runs amiroll.\n\
         \x20   Value: !Ref AmirollPolicy\n",
    );
    out
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// A string, or `!Sub` of it when it refers to the stack's pseudo parameters.
fn cfn_string(s: &str) -> String {
    if s.contains("${AWS::") {
        format!("!Sub {}", yaml_string(s))
    } else {
        yaml_string(s)
    }
}

/// `lt-` followed by hex: a template id (anything else is a name).
pub fn is_template_id(s: &str) -> bool {
    s.strip_prefix("lt-")
        .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The partition of a Region name.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The resources of an ECS grant: the clusters, their container instances and the `ecs:cluster`
/// condition that scopes the container instances. Every cluster of the account when the scope
/// is [`EcsScope::any`] (then no condition: it would not narrow anything).
fn ecs_resources(arn: &Arns, scope: &EcsScope) -> (Vec<String>, Vec<String>, Conditions) {
    let mut cond = Conditions::new();
    if scope.any {
        return (
            vec![arn.ecs_cluster("*")],
            vec![arn.ecs_container_instances("*")],
            cond,
        );
    }
    let cluster_arns: Vec<String> = scope.clusters.iter().map(|c| arn.ecs_cluster(c)).collect();
    cond.entry("ArnEquals".into())
        .or_default()
        .insert("ecs:cluster".into(), cluster_arns.clone());
    let instance_arns = scope
        .clusters
        .iter()
        .map(|c| arn.ecs_container_instances(c))
        .collect();
    (cluster_arns, instance_arns, cond)
}

struct Arns<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
}

impl Arns<'_> {
    /// `arn:P:ssm:R::parameter/aws/…` for AWS's public parameters (no account), with the account
    /// for your own. A parameter given as an ARN (shared from another account) is used as is.
    fn parameter(&self, name: &str) -> String {
        if name.starts_with("arn:") {
            return name.to_string();
        }
        let path = name.trim_start_matches('/');
        // Names beginning with `aws` or `ssm` are reserved for AWS ("PutParameter": Name).
        let public = path.starts_with("aws/");
        format!(
            "arn:{}:ssm:{}:{}:parameter/{path}",
            self.partition,
            self.region,
            if public { "" } else { self.account }
        )
    }

    fn template(&self, id: &str) -> String {
        format!(
            "arn:{}:ec2:{}:{}:launch-template/{id}",
            self.partition, self.region, self.account
        )
    }

    fn group(&self, name: &str) -> String {
        format!(
            "arn:{}:autoscaling:{}:{}:autoScalingGroup:*:autoScalingGroupName/{name}",
            self.partition, self.region, self.account
        )
    }

    fn ecs_capacity_providers(&self) -> String {
        format!(
            "arn:{}:ecs:{}:{}:capacity-provider/*",
            self.partition, self.region, self.account
        )
    }

    /// A cluster given by name or ARN, as an ARN (`arn:P:ecs:R:A:cluster/NAME`).
    fn ecs_cluster(&self, cluster: &str) -> String {
        if crate::ecs::parse_cluster_arn(cluster).is_some() {
            return cluster.to_string();
        }
        format!(
            "arn:{}:ecs:{}:{}:cluster/{cluster}",
            self.partition, self.region, self.account
        )
    }

    /// Every container instance of a cluster (`container-instance/CLUSTER/*`; the ARN format
    /// that names the cluster, the only one since 2021: "Amazon Resource Names (ARNs) and IDs",
    /// Amazon ECS Developer Guide,
    /// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids).
    fn ecs_container_instances(&self, cluster: &str) -> String {
        match crate::ecs::parse_cluster_arn(cluster) {
            Some(a) => format!(
                "arn:{}:ecs:{}:{}:container-instance/{}/*",
                a.partition, a.region, a.account, a.name
            ),
            None => format!(
                "arn:{}:ecs:{}:{}:container-instance/{cluster}/*",
                self.partition, self.region, self.account
            ),
        }
    }

    /// Every EC2 resource in the Region (any account: AMIs have none, shared subnets another).
    fn ec2_any(&self) -> String {
        format!("arn:{}:ec2:{}:*:*", self.partition, self.region)
    }
}

#[derive(Default)]
struct Builder {
    statements: Vec<Statement>,
}

impl Builder {
    fn push(&mut self, sid: &str, actions: &[&str], resources: Vec<String>) {
        self.push_with(sid, actions, resources, Conditions::new());
    }

    /// Add a statement; nothing when it has no action or no resource. Sids get a number when
    /// the same kind appears twice.
    fn push_with(
        &mut self,
        sid: &str,
        actions: &[&str],
        resources: Vec<String>,
        conditions: Conditions,
    ) {
        if actions.is_empty() || resources.is_empty() {
            return;
        }
        let mut actions: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
        actions.sort();
        actions.dedup();
        let taken = |s: &str| self.statements.iter().any(|x| x.sid == s);
        let mut name = sid.to_string();
        let mut n = 2;
        while taken(&name) {
            name = format!("{sid}{n}");
            n += 1;
        }
        self.statements.push(Statement {
            sid: name,
            effect: "Allow",
            actions,
            resources,
            conditions,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:amiroll";

    fn config(text: &str) -> Config {
        Config::from_toml(text, "test.toml").expect("valid configuration")
    }

    fn one(extra: &str) -> Config {
        config(&format!(
            "[[target]]\nname = \"prod\"\nlaunch_template = \"lt-0123456789abcdef0\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"ecs-prod\"]\n{extra}"
        ))
    }

    fn actions(c: &Config) -> BTreeSet<String> {
        policy(c, Some("us-east-1"), Some("123456789012")).actions()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Reads every rolling strategy with groups makes.
    const READS: &[&str] = &[
        op::GET_PARAMETERS,
        op::DESCRIBE_LAUNCH_TEMPLATES,
        op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS,
        op::DESCRIBE_IMAGES,
        op::DESCRIBE_INSTANCE_TYPES,
        op::DESCRIBE_AUTO_SCALING_GROUPS,
        op::DESCRIBE_INSTANCES,
        op::DESCRIBE_INSTANCE_REFRESHES,
    ];

    fn with(base: &[&str], more: &[&str]) -> BTreeSet<String> {
        let mut s = set(base);
        s.extend(set(more));
        s
    }

    #[test]
    fn scheduled_surge_actions() {
        let got = actions(&one("strategy = \"scheduled-surge\"\n"));
        let want = with(
            READS,
            &[
                op::DESCRIBE_SCHEDULED_ACTIONS,
                op::DESCRIBE_CAPACITY_PROVIDERS,
                // No ecs_cluster: the cluster in the user data (or the capacity provider's,
                // found among the account's clusters) is read and drained.
                op::LIST_CONTAINER_INSTANCES,
                op::DESCRIBE_CONTAINER_INSTANCES,
                op::LIST_CLUSTERS,
                op::DESCRIBE_CLUSTERS,
                op::UPDATE_CONTAINER_INSTANCES_STATE,
                op::CREATE_LAUNCH_TEMPLATE_VERSION,
                op::MODIFY_LAUNCH_TEMPLATE,
                op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
                op::CREATE_OR_UPDATE_TAGS,
                op::DELETE_TAGS,
                op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
                op::DELETE_SCHEDULED_ACTION,
                op::SET_INSTANCE_PROTECTION,
                op::UPDATE_AUTO_SCALING_GROUP,
            ],
        );
        assert_eq!(got, want);
        // Both are on the group, like the other Auto Scaling writes.
        let p = policy(
            &one("strategy = \"scheduled-surge\"\n"),
            Some("us-east-1"),
            Some("123456789012"),
        );
        let group = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/ecs-prod";
        assert_eq!(p.resources_for(op::SET_INSTANCE_PROTECTION), set(&[group]));
        assert_eq!(
            p.resources_for(op::UPDATE_AUTO_SCALING_GROUP),
            set(&[group])
        );
        // Termination policies need nothing more; re-pinning adds the launch checks.
        let got = actions(&one(
            "strategy = \"scheduled-surge\"\nset_termination_policy = true\n",
        ));
        assert_eq!(got, want);
        let got = actions(&one(
            "strategy = \"scheduled-surge\"\npinned = \"update\"\n",
        ));
        assert_eq!(
            got,
            with(
                &want.iter().map(String::as_str).collect::<Vec<_>>(),
                &[dependent::RUN_INSTANCES, dependent::CREATE_TAGS]
            )
        );
    }

    #[test]
    fn instance_refresh_actions() {
        let got = actions(&one(""));
        let want = with(
            READS,
            &[
                op::DESCRIBE_CAPACITY_PROVIDERS,
                op::LIST_CONTAINER_INSTANCES,
                op::DESCRIBE_CONTAINER_INSTANCES,
                op::LIST_CLUSTERS,
                op::DESCRIBE_CLUSTERS,
                op::CREATE_LAUNCH_TEMPLATE_VERSION,
                op::MODIFY_LAUNCH_TEMPLATE,
                op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
                op::CREATE_OR_UPDATE_TAGS,
                op::DELETE_TAGS,
                op::UPDATE_AUTO_SCALING_GROUP,
                op::START_INSTANCE_REFRESH,
                op::ROLLBACK_INSTANCE_REFRESH,
                op::CANCEL_INSTANCE_REFRESH,
                dependent::RUN_INSTANCES,
                dependent::CREATE_TAGS,
            ],
        );
        assert_eq!(got, want);
        assert!(!got.contains(op::DESCRIBE_SCHEDULED_ACTIONS));
        assert!(!got.contains(op::SET_INSTANCE_PROTECTION));
        // Without auto rollback the group is not pinned first.
        let got = actions(&one("auto_rollback = false\n"));
        assert!(!got.contains(op::UPDATE_AUTO_SCALING_GROUP), "{got:?}");
        assert!(
            got.contains(dependent::RUN_INSTANCES),
            "desired configuration"
        );
    }

    #[test]
    fn strategy_none_actions() {
        let got = actions(&one("strategy = \"none\"\nprune = \"off\"\n"));
        let mut want = with(
            READS,
            &[
                op::CREATE_LAUNCH_TEMPLATE_VERSION,
                op::MODIFY_LAUNCH_TEMPLATE,
                op::CREATE_OR_UPDATE_TAGS,
                op::DELETE_TAGS,
            ],
        );
        want.remove(op::DESCRIBE_LAUNCH_TEMPLATES);
        assert_eq!(got, want);
        // No group at all: only the template and the reads of it.
        let c = config(&format!(
            "[[target]]\nname = \"t\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\nstrategy = \"none\"\n"
        ));
        assert_eq!(
            actions(&c),
            set(&[
                op::GET_PARAMETERS,
                op::DESCRIBE_LAUNCH_TEMPLATES,
                op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS,
                op::DESCRIBE_IMAGES,
                op::DESCRIBE_INSTANCE_TYPES,
                op::CREATE_LAUNCH_TEMPLATE_VERSION,
                op::MODIFY_LAUNCH_TEMPLATE,
                op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
            ])
        );
    }

    #[test]
    fn prune_off_drops_delete_versions() {
        let got = actions(&one("prune = \"off\"\nauto_rollback = false\n"));
        assert!(!got.contains(op::DELETE_LAUNCH_TEMPLATE_VERSIONS));
        // The header is only re-read right before deleting, or before a group amiroll pinned
        // goes back on $Default/$Latest (instance refresh with auto rollback).
        assert!(!got.contains(op::DESCRIBE_LAUNCH_TEMPLATES));
        let got = actions(&one("prune = \"off\"\n"));
        assert!(!got.contains(op::DELETE_LAUNCH_TEMPLATE_VERSIONS));
        assert!(got.contains(op::DESCRIBE_LAUNCH_TEMPLATES));
        let got = actions(&one("prune = \"all\"\n"));
        assert!(got.contains(op::DELETE_LAUNCH_TEMPLATE_VERSIONS));
        assert!(got.contains(op::DESCRIBE_LAUNCH_TEMPLATES));
    }

    #[test]
    fn public_and_own_parameter_arns() {
        let c = config(&format!(
            "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\n\
             [[target]]\nname = \"b\"\nlaunch_template = \"lt-2\"\nami_parameter = \"/golden/ami\"\n\
             [[target]]\nname = \"c\"\nlaunch_template = \"lt-3\"\nami_parameter = \"no-slash\"\n"
        ));
        let p = policy(&c, Some("eu-west-1"), Some("123456789012"));
        assert_eq!(
            p.resources_for(op::GET_PARAMETERS),
            set(&[
                "arn:aws:ssm:eu-west-1::parameter/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/golden/ami",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/no-slash",
            ])
        );
        // Without Region and account: wildcards, the public one still without an account.
        let p = policy(&c, None, None);
        assert!(p
            .resources_for(op::GET_PARAMETERS)
            .contains("arn:aws:ssm:*::parameter/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"));
        assert!(p
            .resources_for(op::GET_PARAMETERS)
            .contains("arn:aws:ssm:*:*:parameter/golden/ami"));
    }

    #[test]
    fn template_by_id_and_by_name() {
        let p = policy(&one(""), Some("us-east-1"), Some("123456789012"));
        let lt = "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0123456789abcdef0";
        assert_eq!(
            p.resources_for(op::CREATE_LAUNCH_TEMPLATE_VERSION),
            set(&[lt])
        );
        let run = p
            .statement("AutoScalingChecksLaunchFromTheseTemplates")
            .expect("launch checks");
        assert_eq!(run.conditions["ArnLike"]["ec2:LaunchTemplate"], vec![lt]);

        let c = config(&format!(
            "[[target]]\nname = \"n\"\nlaunch_template = \"ecs-cluster\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"g\"]\n"
        ));
        let p = policy(&c, Some("us-east-1"), Some("123456789012"));
        let s = p
            .statement("LaunchTemplatesGivenByNameSoAnyTemplateUseIdsToScope")
            .expect("name-only statement");
        assert_eq!(
            s.resources,
            vec!["arn:aws:ec2:us-east-1:123456789012:launch-template/*"]
        );
        assert!(p.statement("LaunchTemplateVersions").is_none());
        let run = p
            .statement("AutoScalingChecksLaunchFromTheseTemplates")
            .expect("launch checks");
        assert_eq!(
            run.conditions["ArnLike"]["ec2:LaunchTemplate"],
            vec!["arn:aws:ec2:us-east-1:123456789012:launch-template/*"]
        );
        let n = notes(&c, &Options::default());
        assert!(n.iter().any(|x| x.contains("ecs-cluster")), "{n:?}");
    }

    #[test]
    fn group_arns_per_group() {
        let c = config(&format!(
            "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"g1\", \"g2\"]\nstrategy = \"scheduled-surge\"\n"
        ));
        let p = policy(&c, Some("us-east-1"), Some("123456789012"));
        assert_eq!(
            p.resources_for(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION),
            set(&[
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/g1",
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/g2",
            ])
        );
    }

    #[test]
    fn no_sns_without_a_topic() {
        let got = actions(&one(""));
        assert!(!got.iter().any(|a| a.starts_with("sns:")), "{got:?}");
        let p = policy(&one(&format!("sns_topic = \"{TOPIC}\"\n")), None, None);
        assert_eq!(p.resources_for(op::PUBLISH), set(&[TOPIC]));
        assert_eq!(p.resources_for(op::GET_TOPIC_ATTRIBUTES), set(&[TOPIC]));
    }

    #[test]
    fn pass_role_only_when_given_and_needed() {
        let roles = vec!["arn:aws:iam::123456789012:role/ecsInstanceRole".to_string()];
        let opts = Options {
            pass_roles: &roles,
            ..Options::default()
        };
        let p = policy_with(&one(""), &opts);
        let s = p
            .statement("AutoScalingChecksInstanceProfileRole")
            .expect("pass role");
        assert_eq!(s.resources, roles);
        assert_eq!(
            s.conditions["StringEquals"]["iam:PassedToService"],
            vec!["ec2.amazonaws.com"]
        );
        assert!(notes(&one("ecs = false\n"), &opts).is_empty());
        assert!(!notes(&one("ecs = false\n"), &Options::default()).is_empty());
        // Nothing names a template in a call: no launch checks, no PassRole.
        let p = policy_with(&one("strategy = \"scheduled-surge\"\n"), &opts);
        assert!(!p.actions().contains(dependent::PASS_ROLE));
        assert!(!p.actions().contains(dependent::RUN_INSTANCES));
    }

    #[test]
    fn observe_only_targets_are_only_read() {
        let mut c = config(&format!(
            "[[target]]\nname = \"canary\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"c\"]\nsns_topic = \"{TOPIC}\"\n\
             [[target]]\nname = \"prod\"\nlaunch_template = \"lt-2\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"p\"]\nstrategy = \"none\"\nafter = \"canary\"\n"
        ));
        c.select(&["prod".to_string()]).expect("select");
        let p = policy(&c, None, None);
        assert!(!p
            .resources_for(op::START_INSTANCE_REFRESH)
            .iter()
            .any(|r| r.ends_with("/c")));
        assert!(p.resources_for(op::PUBLISH).is_empty());
        assert_eq!(p.resources_for(op::GET_TOPIC_ATTRIBUTES), set(&[TOPIC]));
        assert!(p
            .resources_for(op::CREATE_LAUNCH_TEMPLATE_VERSION)
            .iter()
            .all(|r| r.ends_with("/lt-2")));
        // The canary's instance-refresh reads stay (the engine observes it).
        assert!(p.actions().contains(op::DESCRIBE_CAPACITY_PROVIDERS));
    }

    #[test]
    fn partition_follows_the_region() {
        let p = policy(&one(""), Some("cn-north-1"), Some("123456789012"));
        assert!(p
            .resources_for(op::MODIFY_LAUNCH_TEMPLATE)
            .iter()
            .all(|r| r.starts_with("arn:aws-cn:ec2:cn-north-1:")));
    }

    #[test]
    fn read_only_star_statement_has_only_star_only_actions() {
        let p = policy(&one("strategy = \"scheduled-surge\"\n"), None, None);
        let s = p
            .statement("ReadsWithoutResourceLevelPermissions")
            .expect("reads");
        assert_eq!(s.resources, vec!["*"]);
        // `ecs:ListClusters` is the one listing without a resource type (Service Authorization
        // Reference for Amazon ECS).
        assert!(s.actions.iter().any(|a| a == op::LIST_CLUSTERS));
        for a in &s.actions {
            assert!(
                a.contains(":Describe") || a == op::LIST_CLUSTERS,
                "{a} has resource-level permissions"
            );
            assert_ne!(a, op::DESCRIBE_CAPACITY_PROVIDERS);
            assert_ne!(a, op::DESCRIBE_CLUSTERS);
        }
        // Every other statement is scoped.
        for s in p
            .statements
            .iter()
            .filter(|s| s.sid != "ReadsWithoutResourceLevelPermissions")
        {
            assert!(!s.resources.iter().any(|r| r == "*"), "{s:?}");
        }
    }

    #[test]
    fn sids_are_alphanumeric_and_unique() {
        let c = config(&format!(
            "[[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"g1\"]\nprune = \"off\"\n\
             [[target]]\nname = \"b\"\nlaunch_template = \"lt-2\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"g2\"]\nstrategy = \"scheduled-surge\"\n"
        ));
        let p = policy(&c, None, None);
        let sids: Vec<&str> = p.statements.iter().map(|s| s.sid.as_str()).collect();
        let unique: BTreeSet<&str> = sids.iter().copied().collect();
        assert_eq!(unique.len(), sids.len(), "{sids:?}");
        assert!(sids
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())));
        assert!(sids.contains(&"AutoScalingGroups2"), "{sids:?}");
    }

    /// Every action the generator can emit is an amiroll operation (as `op::ALL` spells it for
    /// IAM) or one of the documented dependent actions.
    #[test]
    fn every_action_is_an_operation_or_a_dependent_action() {
        let roles = vec!["arn:aws:iam::1:role/r".to_string()];
        let opts = Options {
            pass_roles: &roles,
            ..Options::default()
        };
        let mut emitted = BTreeSet::new();
        for strategy in ["instance-refresh", "scheduled-surge", "none"] {
            for extra in [
                "",
                "prune = \"off\"\n",
                "pinned = \"update\"\nset_termination_policy = true\n",
            ] {
                let c = one(&format!(
                    "strategy = \"{strategy}\"\nsns_topic = \"{TOPIC}\"\n{extra}"
                ));
                emitted.extend(policy_with(&c, &opts).actions());
            }
        }
        for a in &emitted {
            assert!(
                op::ALL.contains(&a.as_str()) || dependent::ALL.contains(&a.as_str()),
                "{a} is neither an amiroll operation nor a dependent action"
            );
        }
        // IAM action names: service prefix, colon, PascalCase.
        for a in op::ALL.iter().chain(dependent::ALL) {
            let (service, name) = a.split_once(':').expect("prefix:Action");
            assert!(["ssm", "ec2", "autoscaling", "sns", "ecs", "iam"].contains(&service));
            assert!(
                name.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
                "{a}"
            );
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        }
    }

    /// Port operations the engine does not call yet: the lifecycle-hook and ECS-attribute calls
    /// (port, simulator, SDK adapter) that the ECS drain will use. The generated policy grants
    /// none of them until the engine calls them; each leaves this list when it does.
    const NOT_CALLED_YET: &[&str] = &[];

    /// The names of the `op::` constants the engine (and the modules it runs) refers to, read
    /// from the source: a new call cannot be added without the generator knowing of it.
    fn ops_called_in_source() -> BTreeSet<&'static str> {
        let table: &[(&str, &str)] = &[
            ("GET_PARAMETERS", op::GET_PARAMETERS),
            ("DESCRIBE_IMAGES", op::DESCRIBE_IMAGES),
            ("DESCRIBE_INSTANCE_TYPES", op::DESCRIBE_INSTANCE_TYPES),
            ("DESCRIBE_LAUNCH_TEMPLATES", op::DESCRIBE_LAUNCH_TEMPLATES),
            (
                "DESCRIBE_LAUNCH_TEMPLATE_VERSIONS",
                op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS,
            ),
            (
                "CREATE_LAUNCH_TEMPLATE_VERSION",
                op::CREATE_LAUNCH_TEMPLATE_VERSION,
            ),
            ("MODIFY_LAUNCH_TEMPLATE", op::MODIFY_LAUNCH_TEMPLATE),
            (
                "DELETE_LAUNCH_TEMPLATE_VERSIONS",
                op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
            ),
            ("DESCRIBE_INSTANCES", op::DESCRIBE_INSTANCES),
            (
                "DESCRIBE_AUTO_SCALING_GROUPS",
                op::DESCRIBE_AUTO_SCALING_GROUPS,
            ),
            ("UPDATE_AUTO_SCALING_GROUP", op::UPDATE_AUTO_SCALING_GROUP),
            ("SET_INSTANCE_PROTECTION", op::SET_INSTANCE_PROTECTION),
            ("DESCRIBE_SCHEDULED_ACTIONS", op::DESCRIBE_SCHEDULED_ACTIONS),
            (
                "PUT_SCHEDULED_UPDATE_GROUP_ACTION",
                op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
            ),
            ("DELETE_SCHEDULED_ACTION", op::DELETE_SCHEDULED_ACTION),
            ("CREATE_OR_UPDATE_TAGS", op::CREATE_OR_UPDATE_TAGS),
            ("DELETE_TAGS", op::DELETE_TAGS),
            ("GET_TOPIC_ATTRIBUTES", op::GET_TOPIC_ATTRIBUTES),
            ("PUBLISH", op::PUBLISH),
            ("START_INSTANCE_REFRESH", op::START_INSTANCE_REFRESH),
            (
                "DESCRIBE_INSTANCE_REFRESHES",
                op::DESCRIBE_INSTANCE_REFRESHES,
            ),
            ("ROLLBACK_INSTANCE_REFRESH", op::ROLLBACK_INSTANCE_REFRESH),
            ("CANCEL_INSTANCE_REFRESH", op::CANCEL_INSTANCE_REFRESH),
            (
                "DESCRIBE_CAPACITY_PROVIDERS",
                op::DESCRIBE_CAPACITY_PROVIDERS,
            ),
            ("LIST_CONTAINER_INSTANCES", op::LIST_CONTAINER_INSTANCES),
            ("LIST_CLUSTERS", op::LIST_CLUSTERS),
            ("DESCRIBE_CLUSTERS", op::DESCRIBE_CLUSTERS),
            (
                "DESCRIBE_CONTAINER_INSTANCES",
                op::DESCRIBE_CONTAINER_INSTANCES,
            ),
            (
                "UPDATE_CONTAINER_INSTANCES_STATE",
                op::UPDATE_CONTAINER_INSTANCES_STATE,
            ),
            ("PUT_ATTRIBUTES", op::PUT_ATTRIBUTES),
            ("PUT_LIFECYCLE_HOOK", op::PUT_LIFECYCLE_HOOK),
            ("DESCRIBE_LIFECYCLE_HOOKS", op::DESCRIBE_LIFECYCLE_HOOKS),
            ("COMPLETE_LIFECYCLE_ACTION", op::COMPLETE_LIFECYCLE_ACTION),
            (
                "RECORD_LIFECYCLE_ACTION_HEARTBEAT",
                op::RECORD_LIFECYCLE_ACTION_HEARTBEAT,
            ),
        ];
        assert_eq!(
            table.iter().map(|(_, v)| *v).collect::<BTreeSet<_>>(),
            op::ALL.iter().copied().collect::<BTreeSet<_>>(),
            "the table above must list every op::ALL entry"
        );
        let mut called = BTreeSet::new();
        for src in [
            include_str!("engine/mod.rs"),
            include_str!("engine/observe.rs"),
            include_str!("engine/apply.rs"),
            include_str!("planner/mod.rs"),
            include_str!("planner/reads.rs"),
            include_str!("planner/refresh.rs"),
            include_str!("planner/cancel.rs"),
            include_str!("planner/hooks.rs"),
            include_str!("planner/surge/mod.rs"),
            include_str!("planner/surge/gate.rs"),
            include_str!("planner/surge/settle.rs"),
            include_str!("planner/surge/restore.rs"),
            include_str!("planner/surge/start.rs"),
            include_str!("rollback.rs"),
            include_str!("notify.rs"),
            include_str!("gates.rs"),
        ] {
            let mut rest = src;
            while let Some(i) = rest.find("op::") {
                rest = &rest[i + 4..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if let Some((_, v)) = table.iter().find(|(n, _)| *n == name) {
                    called.insert(*v);
                }
            }
        }
        called
    }

    /// For a configuration using every feature, the generated operations are exactly those the
    /// engine can call, and those are every operation of the port.
    #[test]
    fn every_feature_config_gets_exactly_the_engine_calls() {
        let c = config(&format!(
            "[defaults]\nsns_topic = \"{TOPIC}\"\nprune = \"all\"\npinned = \"update\"\n\
             [[target]]\nname = \"ir\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"a\"]\n\
             [[target]]\nname = \"surge\"\nlaunch_template = \"lt-2\"\nami_parameter = \"/own/ami\"\ngroups = [\"b\"]\nstrategy = \"scheduled-surge\"\nset_termination_policy = true\nafter = \"ir\"\necs_cluster = \"batch\"\n\
             [[target]]\nname = \"none\"\nlaunch_template = \"named\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"c\"]\nstrategy = \"none\"\n\
             [[target]]\nname = \"ecs\"\nlaunch_template = \"lt-4\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"d\"]\necs_cluster = \"prod\"\necs_drain = \"lifecycle-hook\"\n"
        ));
        let generated = engine_actions(&c);
        let called = ops_called_in_source();
        assert_eq!(generated, called);
        for o in NOT_CALLED_YET {
            assert!(
                !called.contains(o),
                "{o} is called now: take it off NOT_CALLED_YET and grant it"
            );
        }
        assert_eq!(
            called,
            op::ALL
                .iter()
                .copied()
                .filter(|o| !NOT_CALLED_YET.contains(o))
                .collect::<BTreeSet<_>>(),
            "the port has no operation the engine never calls"
        );
        let mut doc: BTreeSet<String> = policy(&c, None, None).actions();
        for d in dependent::ALL {
            doc.remove(*d);
        }
        assert_eq!(
            doc,
            generated
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn the_drain_hook_is_granted_on_the_group_and_its_cluster() {
        let group = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/ecs-prod";
        let p = policy(
            &one("ecs_cluster = \"prod\"\necs_drain = \"lifecycle-hook\"\n"),
            Some("us-east-1"),
            Some("123456789012"),
        );
        for o in [
            op::PUT_LIFECYCLE_HOOK,
            op::COMPLETE_LIFECYCLE_ACTION,
            op::RECORD_LIFECYCLE_ACTION_HEARTBEAT,
        ] {
            assert_eq!(p.resources_for(o), set(&[group]), "{o}");
        }
        assert_eq!(p.resources_for(op::DESCRIBE_LIFECYCLE_HOOKS), set(&["*"]));
        let instances = set(&["arn:aws:ecs:us-east-1:123456789012:container-instance/prod/*"]);
        assert_eq!(p.resources_for(op::PUT_ATTRIBUTES), instances);
        // An instance refresh drains through the hook too.
        assert_eq!(
            p.resources_for(op::UPDATE_CONTAINER_INSTANCES_STATE),
            instances
        );
        let st = p
            .statement("EcsRecordDrainStartOfTheClusters")
            .expect("attributes statement");
        assert_eq!(
            st.conditions["ArnEquals"]["ecs:cluster"],
            vec!["arn:aws:ecs:us-east-1:123456789012:cluster/prod"]
        );
        // Someone else's hook: amiroll does not put one.
        let p = policy(
            &one("ecs_cluster = \"prod\"\necs_lifecycle_hook = \"drain\"\n"),
            Some("us-east-1"),
            Some("123456789012"),
        );
        assert!(p.resources_for(op::PUT_LIFECYCLE_HOOK).is_empty());
        assert_eq!(
            p.resources_for(op::COMPLETE_LIFECYCLE_ACTION),
            set(&[group])
        );
        // Without a hook, none of it.
        let got = actions(&one("ecs_cluster = \"prod\"\n"));
        for o in [
            op::DESCRIBE_LIFECYCLE_HOOKS,
            op::COMPLETE_LIFECYCLE_ACTION,
            op::PUT_ATTRIBUTES,
            op::UPDATE_CONTAINER_INSTANCES_STATE,
        ] {
            assert!(!got.contains(o), "{o}: {got:?}");
        }
    }

    #[test]
    fn the_account_clusters_are_listed_only_for_targets_without_ecs_cluster() {
        // No `ecs_cluster`: the cluster may come from the capacity provider, found by listing
        // and describing the clusters of the account.
        let p = policy(&one(""), Some("us-east-1"), Some("123456789012"));
        assert_eq!(p.resources_for(op::LIST_CLUSTERS), set(&["*"]));
        assert_eq!(
            p.resources_for(op::DESCRIBE_CLUSTERS),
            set(&["arn:aws:ecs:us-east-1:123456789012:cluster/*"])
        );
        assert!(p.statement("EcsDescribeClustersOfTheAccount").is_some());
        // Configured, plain EC2, not rolling, observe-only: none of it.
        for extra in [
            "ecs_cluster = \"prod\"\n",
            "ecs = false\n",
            "strategy = \"none\"\n",
        ] {
            let got = actions(&one(extra));
            assert!(!got.contains(op::LIST_CLUSTERS), "{extra}: {got:?}");
            assert!(!got.contains(op::DESCRIBE_CLUSTERS), "{extra}: {got:?}");
        }
        let mut c = config(&format!(
            "[[target]]\nname = \"canary\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"c\"]\n\
             [[target]]\nname = \"prod\"\nlaunch_template = \"lt-2\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"p\"]\necs_cluster = \"prod\"\nafter = \"canary\"\n"
        ));
        assert!(actions(&c).contains(op::LIST_CLUSTERS));
        c.select(&["prod".to_string()]).expect("select");
        assert!(!actions(&c).contains(op::LIST_CLUSTERS));
        assert!(!actions(&c).contains(op::DESCRIBE_CLUSTERS));
    }

    #[test]
    fn ecs_reads_are_granted_on_the_configured_clusters_only() {
        // No cluster configured: the one in the user data is read, on any cluster.
        let p = policy(&one(""), Some("us-east-1"), Some("123456789012"));
        assert_eq!(
            p.resources_for(op::LIST_CONTAINER_INSTANCES),
            set(&["arn:aws:ecs:us-east-1:123456789012:cluster/*"])
        );
        assert_eq!(
            p.resources_for(op::DESCRIBE_CONTAINER_INSTANCES),
            set(&["arn:aws:ecs:us-east-1:123456789012:container-instance/*/*"])
        );
        let notes = notes(&one(""), &Options::default());
        assert!(
            notes.iter().any(|n| n.contains("no ecs_cluster")),
            "{notes:?}"
        );
        // `ecs = false`: a plain EC2 fleet, no ECS container-instance grant.
        let got = actions(&one("ecs = false\n"));
        assert!(!got.contains(op::LIST_CONTAINER_INSTANCES), "{got:?}");
        assert!(!got.contains(op::DESCRIBE_CONTAINER_INSTANCES), "{got:?}");
        assert!(
            !got.contains(op::UPDATE_CONTAINER_INSTANCES_STATE),
            "{got:?}"
        );

        let p = policy(
            &one("ecs_cluster = \"prod\"\n"),
            Some("us-east-1"),
            Some("123456789012"),
        );
        assert_eq!(
            p.resources_for(op::LIST_CONTAINER_INSTANCES),
            set(&["arn:aws:ecs:us-east-1:123456789012:cluster/prod"])
        );
        assert_eq!(
            p.resources_for(op::DESCRIBE_CONTAINER_INSTANCES),
            set(&["arn:aws:ecs:us-east-1:123456789012:container-instance/prod/*"])
        );
        let describe = p
            .statement("EcsDescribeContainerInstancesOfTheClusters")
            .expect("describe statement");
        assert_eq!(
            describe.conditions["ArnEquals"]["ecs:cluster"],
            vec!["arn:aws:ecs:us-east-1:123456789012:cluster/prod"]
        );
        // The drain is a scheduled-surge write: not for another strategy.
        assert!(!p.actions().contains(op::UPDATE_CONTAINER_INSTANCES_STATE));
        let p = policy(
            &one("ecs_cluster = \"prod\"\nstrategy = \"scheduled-surge\"\n"),
            Some("us-east-1"),
            Some("123456789012"),
        );
        assert_eq!(
            p.resources_for(op::UPDATE_CONTAINER_INSTANCES_STATE),
            set(&["arn:aws:ecs:us-east-1:123456789012:container-instance/prod/*"])
        );
        let drain = p
            .statement("EcsDrainContainerInstancesOfTheClusters")
            .expect("drain statement");
        assert_eq!(
            drain.conditions["ArnEquals"]["ecs:cluster"],
            vec!["arn:aws:ecs:us-east-1:123456789012:cluster/prod"]
        );

        // A cluster given as an ARN is used as is, in its own Region and account.
        let arn = "arn:aws:ecs:eu-west-1:210987654321:cluster/batch";
        let p = policy(
            &one(&format!("ecs_cluster = \"{arn}\"\n")),
            Some("us-east-1"),
            Some("123456789012"),
        );
        assert_eq!(p.resources_for(op::LIST_CONTAINER_INSTANCES), set(&[arn]));
        assert_eq!(
            p.resources_for(op::DESCRIBE_CONTAINER_INSTANCES),
            set(&["arn:aws:ecs:eu-west-1:210987654321:container-instance/batch/*"])
        );

        // Strategy `none` does not judge instances; neither does an observe-only target.
        let got = actions(&one("ecs_cluster = \"prod\"\nstrategy = \"none\"\n"));
        assert!(!got.contains(op::LIST_CONTAINER_INSTANCES), "{got:?}");
        let mut c = config(&format!(
            "[[target]]\nname = \"canary\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"c\"]\necs_cluster = \"canary\"\n\
             [[target]]\nname = \"prod\"\nlaunch_template = \"lt-2\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"p\"]\necs_cluster = \"prod\"\nafter = \"canary\"\n"
        ));
        c.select(&["prod".to_string()]).expect("select");
        assert_eq!(
            policy(&c, None, None).resources_for(op::LIST_CONTAINER_INSTANCES),
            set(&["arn:aws:ecs:*:*:cluster/prod"])
        );
        // Two clusters in one statement each.
        let c = config(&format!(
            "[defaults]\necs_cluster = \"shared\"\n\
             [[target]]\nname = \"a\"\nlaunch_template = \"lt-1\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"a\"]\n\
             [[target]]\nname = \"b\"\nlaunch_template = \"lt-2\"\nami_parameter = \"{PUBLIC}\"\ngroups = [\"b\"]\necs_cluster = \"other\"\n"
        ));
        let p = policy(&c, None, None);
        assert_eq!(
            p.resources_for(op::LIST_CONTAINER_INSTANCES),
            set(&[
                "arn:aws:ecs:*:*:cluster/other",
                "arn:aws:ecs:*:*:cluster/shared"
            ])
        );
        assert_eq!(
            p.statements
                .iter()
                .filter(|s| s
                    .actions
                    .iter()
                    .any(|a| a.starts_with("ecs:") && a.contains("ContainerInstances")))
                .count(),
            2
        );
    }

    #[test]
    fn serialises_to_the_iam_grammar() {
        let p = policy(&one(&format!("sns_topic = \"{TOPIC}\"\n")), None, None);
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).expect("json");
        assert_eq!(v["Version"], "2012-10-17");
        let st = v["Statement"].as_array().expect("statements");
        assert!(st.iter().all(|s| s["Effect"] == "Allow"
            && s["Sid"].is_string()
            && s["Action"].is_array()
            && s["Resource"].is_array()));
        assert!(st
            .iter()
            .filter(|s| s["Sid"] == "ReadAmiParameters")
            .all(|s| s.get("Condition").is_none()));
    }

    #[test]
    fn cloudformation_template_holds_the_document() {
        let opts = Options {
            region: Some("${AWS::Region}"),
            account: Some("${AWS::AccountId}"),
            partition: Some("${AWS::Partition}"),
            ..Options::default()
        };
        let doc = policy_with(&one(&format!("sns_topic = \"{TOPIC}\"\n")), &opts);
        let y = cloudformation(&doc, "test.toml");
        assert!(y.contains("Type: AWS::IAM::ManagedPolicy"), "{y}");
        assert!(y.contains("Description: \"amiroll least-privilege policy for test.toml\""));
        assert!(
            y.contains("- !Sub \"arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:launch-template/lt-0123456789abcdef0\""),
            "{y}"
        );
        assert!(y.contains(&format!("- \"{TOPIC}\"")), "{y}");
        assert!(y.contains("- \"*\""), "{y}");
        for st in &doc.statements {
            assert!(y.contains(&format!("- Sid: {}\n", st.sid)), "{y}");
        }
        assert!(y.contains("                ec2:LaunchTemplate:\n"), "{y}");
        assert_eq!(
            y.lines()
                .filter(|l| l
                    .strip_prefix("              - ")
                    .is_some_and(|r| !r.starts_with(' ')))
                .count(),
            doc.statements
                .iter()
                .map(|s| s.actions.len() + s.resources.len())
                .sum::<usize>(),
            "every action and resource, once: {y}"
        );
    }

    #[test]
    fn seed_environment_policy() {
        let env: BTreeMap<&str, &str> = [
            ("launch_template_id", "lt-0abc"),
            ("image_id_ssm_parameter", PUBLIC),
            ("sns_arn", TOPIC),
            ("asg_name", "ecs-cluster-asg"),
        ]
        .into_iter()
        .collect();
        let c = Config::from_seed_env(|k| env.get(k).map(|v| v.to_string())).expect("valid");
        let p = policy(&c, Some("us-east-1"), Some("123456789012"));
        assert_eq!(
            p.actions(),
            set(&[
                op::GET_PARAMETERS,
                op::DESCRIBE_LAUNCH_TEMPLATES,
                op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS,
                op::DESCRIBE_IMAGES,
                op::DESCRIBE_INSTANCE_TYPES,
                op::DESCRIBE_AUTO_SCALING_GROUPS,
                op::DESCRIBE_INSTANCES,
                op::DESCRIBE_INSTANCE_REFRESHES,
                op::DESCRIBE_SCHEDULED_ACTIONS,
                op::DESCRIBE_CAPACITY_PROVIDERS,
                // The seed's cluster is the one its user data names (issue 12), or else its
                // capacity provider's.
                op::LIST_CONTAINER_INSTANCES,
                op::DESCRIBE_CONTAINER_INSTANCES,
                op::LIST_CLUSTERS,
                op::DESCRIBE_CLUSTERS,
                op::UPDATE_CONTAINER_INSTANCES_STATE,
                op::CREATE_LAUNCH_TEMPLATE_VERSION,
                op::MODIFY_LAUNCH_TEMPLATE,
                op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
                op::CREATE_OR_UPDATE_TAGS,
                op::DELETE_TAGS,
                op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
                op::DELETE_SCHEDULED_ACTION,
                op::SET_INSTANCE_PROTECTION,
                op::UPDATE_AUTO_SCALING_GROUP,
                op::GET_TOPIC_ATTRIBUTES,
                op::PUBLISH,
            ])
        );
        let notes = notes(&c, &Options::default());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("no ecs_cluster"), "{notes:?}");
    }
}
