//! The account's state, the virtual clock, and what Auto Scaling does on its own: launching,
//! terminating, instances coming into service, scheduled actions firing (instance refreshes
//! progress in `refresh.rs`, ECS managed scaling in `ecs.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use amiroll_core::port::{
    AutoScalingGroup, AwsError, ErrorKind, GroupInstance, LaunchTemplate, LaunchTemplateVersion,
    LifecycleHook, MixedInstancesPolicy, Notification, ScheduledAction, TemplateSpec, Timestamp,
};
use chrono::SecondsFormat;

use crate::container::Ecs;
use crate::faults::Faults;
use crate::state::{CapacityProviderState, RefreshState};
use crate::types::{ImageSpec, LifecycleWait, TemplateData};

/// Terminated instances stay visible to `DescribeInstances` this long (about an hour in EC2).
pub(crate) const TERMINATED_VISIBLE_SECS: i64 = 3600;
/// A group that failed to launch tries again after this long.
pub(crate) const LAUNCH_RETRY_SECS: i64 = 300;
/// How long after its health-check grace period ends an unhealthy instance is replaced. AWS
/// documents that unhealthy instances are replaced but not how soon; the simulator reports the
/// instance `Unhealthy` for this long first.
pub(crate) const UNHEALTHY_REPLACEMENT_SECS: i64 = 60;

pub(crate) const PROCESSES: &[&str] = &[
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
];

pub(crate) const TERMINATION_POLICIES: &[&str] = &[
    "Default",
    "AllocationStrategy",
    "OldestLaunchTemplate",
    "OldestLaunchConfiguration",
    "ClosestToNextInstanceHour",
    "NewestInstance",
    "OldestInstance",
];

pub(crate) fn fmt_time(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `t + d`, saturating at the end of representable time.
pub(crate) fn add(t: Timestamp, d: Duration) -> Timestamp {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

pub(crate) fn add_secs(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add_signed(chrono::Duration::seconds(secs))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

#[derive(Debug, Clone)]
pub(crate) struct ParamVersion {
    pub version: i64,
    pub value: String,
    pub data_type: String,
    pub last_modified: Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) struct VersionState {
    pub description: Option<String>,
    pub data: TemplateData,
    pub create_time: Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) struct TemplateState {
    pub id: String,
    pub name: String,
    pub default_version: u64,
    /// The number the next version gets; numbers are never reused.
    pub next_version: u64,
    pub versions: BTreeMap<u64, VersionState>,
}

impl TemplateState {
    /// The highest existing version number.
    pub fn latest(&self) -> u64 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }

    pub fn header(&self) -> LaunchTemplate {
        LaunchTemplate {
            id: self.id.clone(),
            name: self.name.clone(),
            default_version: self.default_version,
            latest_version: self.latest(),
        }
    }

    pub fn view(&self, number: u64) -> Option<LaunchTemplateVersion> {
        self.versions.get(&number).map(|v| LaunchTemplateVersion {
            template_id: self.id.clone(),
            template_name: Some(self.name.clone()),
            version: number,
            description: v.description.clone(),
            image_id: v.data.image_id.clone(),
            instance_type: v.data.instance_type.clone(),
            is_default: number == self.default_version,
            create_time: Some(v.create_time),
            block_device_mappings: v.data.block_device_mappings.clone(),
            user_data: v
                .data
                .user_data
                .as_ref()
                .map(|u| amiroll_core::ecs::encode_base64(u.as_bytes())),
        })
    }

    /// The version a launch with `version` (number, `$Latest`, `$Default`, absent) uses.
    pub fn resolve(&self, version: Option<&str>) -> Result<u64, String> {
        match version {
            None | Some("$Default") => Ok(self.default_version),
            Some("$Latest") => Ok(self.latest()),
            Some(n) => n
                .parse::<u64>()
                .map_err(|_| format!("invalid launch template version {n:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Pending,
    InService,
    /// Auto Scaling is terminating it and a terminating lifecycle hook holds it (`hooks.rs`):
    /// still running, still listed by the group, no longer part of its capacity.
    TerminatingWait,
    Terminated,
}

#[derive(Debug, Clone)]
pub(crate) struct InstanceState {
    pub id: String,
    pub group: String,
    pub az: String,
    pub image_id: String,
    pub template_id: Option<String>,
    pub template_version: Option<u64>,
    pub launch_time: Timestamp,
    pub ready_at: Timestamp,
    pub lifecycle: Lifecycle,
    /// Whether the instance passes health checks once in service (from the AMI).
    pub image_healthy: bool,
    /// When Auto Scaling starts checking its health: `InService` plus the group's health-check
    /// grace period at launch. Before, a failing instance is still reported `Healthy`.
    pub checks_from: Timestamp,
    /// When a health check started failing an instance that was healthy before
    /// ([`crate::SimAws::set_instance_health`]); `None` for one whose AMI never was.
    pub failing_since: Option<Timestamp>,
    pub protected: bool,
    pub terminated_at: Option<Timestamp>,
    /// The wait for the group's terminating lifecycle hooks, once Auto Scaling began
    /// terminating the instance while the group had some (kept after it terminated).
    pub wait: Option<LifecycleWait>,
}

impl InstanceState {
    /// Part of the group's capacity: `Pending` or `InService`. An instance in
    /// `Terminating:Wait` is not: "The terminating instance stops counting toward the group's
    /// aggregated instance metrics shortly after the Amazon EC2 Auto Scaling termination workflow
    /// begins" ("Amazon EC2 Auto Scaling lifecycle hooks", Scaling considerations,
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html), and the
    /// scale-in that began terminating it has already lowered the desired capacity.
    pub fn live(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Pending | Lifecycle::InService)
    }

    /// Listed by the group and running on EC2: live, or held in `Terminating:Wait`.
    pub fn in_group(&self) -> bool {
        self.lifecycle != Lifecycle::Terminated
    }

    /// In service and really healthy (the ground truth the invariants count, whatever Auto
    /// Scaling reports during the grace period).
    pub fn in_service_healthy(&self) -> bool {
        self.lifecycle == Lifecycle::InService && self.image_healthy
    }

    /// In service and reported `Healthy` by Auto Scaling at `now` (see [`Self::reported_healthy`]).
    pub fn in_service_reported_healthy(&self, now: Timestamp) -> bool {
        self.lifecycle == Lifecycle::InService && self.reported_healthy(now)
    }

    /// The health Auto Scaling reports at `now`: "Amazon EC2 Auto Scaling waits before checking
    /// the health status of an EC2 instance that has come into service and marking it unhealthy"
    /// for the health-check grace period ("Set the health check grace period for an Auto Scaling
    /// group", https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
    pub fn reported_healthy(&self, now: Timestamp) -> bool {
        self.image_healthy
            || !matches!(
                self.lifecycle,
                Lifecycle::InService | Lifecycle::TerminatingWait
            )
            || now < self.checks_from
    }

    pub fn group_view(&self, now: Timestamp) -> GroupInstance {
        GroupInstance {
            instance_id: self.id.clone(),
            lifecycle_state: match self.lifecycle {
                Lifecycle::Pending => "Pending",
                Lifecycle::InService => "InService",
                Lifecycle::TerminatingWait => "Terminating:Wait",
                Lifecycle::Terminated => "Terminated",
            }
            .to_string(),
            health_status: if self.reported_healthy(now) {
                "Healthy"
            } else {
                "Unhealthy"
            }
            .to_string(),
            protected_from_scale_in: self.protected,
            availability_zone: self.az.clone(),
            launch_template: self.template_id.as_ref().map(|id| TemplateSpec {
                template_id: Some(id.clone()),
                template_name: None,
                version: self.template_version.map(|v| v.to_string()),
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ActionState {
    pub action: ScheduledAction,
    /// Only for recurring actions, which stay listed after their first run.
    pub fired: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct GroupStats {
    pub max_capacity: i32,
    pub max_instances: usize,
    pub min_in_service_healthy: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupState {
    pub name: String,
    pub arn: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub launch_template: Option<TemplateSpec>,
    pub mixed: Option<MixedInstancesPolicy>,
    pub termination_policies: Vec<String>,
    pub azs: Vec<String>,
    pub suspended: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
    pub protect_new: bool,
    pub actions: BTreeMap<String, ActionState>,
    pub launch_counter: u64,
    pub retry_at: Option<Timestamp>,
    /// Last problem reported in the timeline (reported again only when it changes).
    pub last_problem: Option<String>,
    pub stats: GroupStats,
    /// `DefaultInstanceWarmup` (instance refreshes use it when the request sets no warm-up).
    pub default_warmup: Option<Duration>,
    /// `HealthCheckGracePeriod`: the warm-up of an instance refresh when neither the request nor
    /// `DefaultInstanceWarmup` sets one.
    pub grace_period: Duration,
    /// When ECS managed scaling next puts the desired capacity back.
    pub ecs_correct_at: Option<Timestamp>,
    /// Lifecycle hooks by name (`PutLifecycleHook`, `hooks.rs`).
    pub hooks: BTreeMap<String, LifecycleHook>,
}

pub(crate) struct Account {
    pub clock: Timestamp,
    pub boot_time: Duration,
    pub yield_per_call: bool,
    /// Calls of each operation under way (entered, not answered yet), and the most seen at once.
    pub in_flight: BTreeMap<&'static str, (usize, usize)>,
    pub params: BTreeMap<String, Vec<ParamVersion>>,
    pub images: BTreeMap<String, ImageSpec>,
    /// The account's Allowed AMIs setting.
    pub allowed_amis: crate::types::AllowedAmis,
    /// Every authorization the calls needed ([`crate::Access`]).
    pub access: Vec<crate::Access>,
    pub instance_types: BTreeMap<String, Vec<String>>,
    pub templates: BTreeMap<String, TemplateState>,
    pub template_counter: u64,
    /// `CreateLaunchTemplateVersion` client tokens → (request, template id, version returned).
    pub version_tokens: BTreeMap<
        String,
        (
            amiroll_core::port::CreateVersionRequest,
            LaunchTemplateVersion,
        ),
    >,
    pub groups: BTreeMap<String, GroupState>,
    pub group_counter: u64,
    pub instances: BTreeMap<String, InstanceState>,
    pub instance_counter: u64,
    pub topics: BTreeSet<String>,
    pub published: Vec<Notification>,
    pub message_counter: u64,
    /// Every instance refresh, oldest first.
    pub refreshes: Vec<RefreshState>,
    pub refresh_counter: u64,
    pub capacity_providers: BTreeMap<String, CapacityProviderState>,
    /// ECS clusters, container instances, services and tasks (`container.rs`).
    pub ecs: Ecs,
    pub events: Vec<(Timestamp, String)>,
    pub calls: Vec<&'static str>,
    pub faults: Faults,
    /// How late each scheduled action fires after its StartTime (none: on time).
    pub action_delay: Option<ActionDelayFn>,
    /// Eventual consistency (`SimAws::delay_version_visibility`): for how many Auto Scaling
    /// calls naming it a version created from now on stays unknown to Auto Scaling.
    pub visibility_delay: usize,
    /// Versions Auto Scaling does not see yet → calls naming them still to fail. A `RefCell`
    /// so that a validation (`&self`) can count the call.
    pub invisible_versions: std::cell::RefCell<BTreeMap<(String, u64), usize>>,
}

/// How late a scheduled action fires (see `SimAws::set_scheduled_action_delay`).
pub(crate) type ActionDelayFn = std::sync::Arc<dyn Fn(&ScheduledAction) -> Duration + Send + Sync>;

impl Account {
    pub(crate) fn new(start: Timestamp) -> Self {
        let mut instance_types = BTreeMap::new();
        let families: &[(&str, &[&str], &str)] = &[
            (
                "t3",
                &[
                    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge",
                ],
                "x86_64",
            ),
            ("m5", &["large", "xlarge", "2xlarge", "4xlarge"], "x86_64"),
            ("c5", &["large", "xlarge", "2xlarge", "4xlarge"], "x86_64"),
            (
                "t4g",
                &[
                    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge",
                ],
                "arm64",
            ),
            (
                "m6g",
                &["medium", "large", "xlarge", "2xlarge", "4xlarge"],
                "arm64",
            ),
            (
                "c6g",
                &["medium", "large", "xlarge", "2xlarge", "4xlarge"],
                "arm64",
            ),
            (
                "m7g",
                &["medium", "large", "xlarge", "2xlarge", "4xlarge"],
                "arm64",
            ),
        ];
        for (family, sizes, arch) in families {
            for size in *sizes {
                instance_types.insert(format!("{family}.{size}"), vec![arch.to_string()]);
            }
        }
        Account {
            clock: start,
            boot_time: Duration::from_secs(90),
            yield_per_call: true,
            in_flight: BTreeMap::new(),
            params: BTreeMap::new(),
            images: BTreeMap::new(),
            allowed_amis: crate::types::AllowedAmis::Disabled,
            access: Vec::new(),
            instance_types,
            templates: BTreeMap::new(),
            template_counter: 0,
            version_tokens: BTreeMap::new(),
            groups: BTreeMap::new(),
            group_counter: 0,
            instances: BTreeMap::new(),
            instance_counter: 0,
            topics: BTreeSet::new(),
            published: Vec::new(),
            message_counter: 0,
            refreshes: Vec::new(),
            refresh_counter: 0,
            capacity_providers: BTreeMap::new(),
            ecs: Ecs::default(),
            events: Vec::new(),
            calls: Vec::new(),
            faults: Faults::default(),
            action_delay: None,
            visibility_delay: 0,
            invisible_versions: std::cell::RefCell::new(BTreeMap::new()),
        }
    }

    pub(crate) fn event(&mut self, text: impl Into<String>) {
        self.events.push((self.clock, text.into()));
    }

    // ----- lookups -----

    /// The id of the template `id_or_name` names, if it exists (`lt-…` is an id, else a name).
    pub(crate) fn template_id(&self, id_or_name: &str) -> Option<String> {
        if id_or_name.starts_with("lt-") {
            self.templates.get(id_or_name).map(|t| t.id.clone())
        } else {
            self.templates
                .values()
                .find(|t| t.name == id_or_name)
                .map(|t| t.id.clone())
        }
    }

    /// `InvalidLaunchTemplateId.NotFound` for an id, `InvalidLaunchTemplateName.NotFoundException`
    /// for a name ("Error codes for the Amazon EC2 API").
    pub(crate) fn template_not_found(op: &'static str, id_or_name: &str) -> AwsError {
        if id_or_name.starts_with("lt-") {
            AwsError::new(
                op,
                ErrorKind::NotFound,
                "InvalidLaunchTemplateId.NotFound",
                format!(
                    "The specified launch template, with template ID {id_or_name}, does not exist."
                ),
            )
        } else {
            AwsError::new(
                op,
                ErrorKind::NotFound,
                "InvalidLaunchTemplateName.NotFoundException",
                format!("The specified launch template, with template name {id_or_name}, does not exist."),
            )
        }
    }

    pub(crate) fn template(
        &self,
        op: &'static str,
        id_or_name: &str,
    ) -> Result<&TemplateState, AwsError> {
        self.template_id(id_or_name)
            .and_then(|id| self.templates.get(&id))
            .ok_or_else(|| Self::template_not_found(op, id_or_name))
    }

    pub(crate) fn spec_template_id(&self, spec: &TemplateSpec) -> Option<String> {
        match (&spec.template_id, &spec.template_name) {
            (Some(id), _) => self.templates.get(id).map(|t| t.id.clone()),
            (None, Some(name)) => self.template_id(name),
            (None, None) => None,
        }
    }

    /// A template spec as Auto Scaling reports it: both id and name, version `$Default` if unset.
    pub(crate) fn spec_view(&self, spec: &TemplateSpec) -> TemplateSpec {
        let template = self
            .spec_template_id(spec)
            .and_then(|id| self.templates.get(&id));
        TemplateSpec {
            template_id: template
                .map(|t| t.id.clone())
                .or_else(|| spec.template_id.clone()),
            template_name: template
                .map(|t| t.name.clone())
                .or_else(|| spec.template_name.clone()),
            version: Some(
                spec.version
                    .clone()
                    .unwrap_or_else(|| "$Default".to_string()),
            ),
        }
    }

    pub(crate) fn group_not_found(op: &'static str, kind: ErrorKind, group: &str) -> AwsError {
        AwsError::new(
            op,
            kind,
            "ValidationError",
            format!("AutoScalingGroup name not found - AutoScalingGroup '{group}' not found"),
        )
    }

    /// The group's capacity: its `Pending` and `InService` instances.
    pub(crate) fn live_instances(&self, group: &str) -> Vec<&InstanceState> {
        self.instances
            .values()
            .filter(|i| i.group == group && i.live())
            .collect()
    }

    /// Every instance the group lists: its live ones and those in `Terminating:Wait`.
    pub(crate) fn group_instances(&self, group: &str) -> Vec<&InstanceState> {
        self.instances
            .values()
            .filter(|i| i.group == group && i.in_group())
            .collect()
    }

    pub(crate) fn group_view(&self, g: &GroupState) -> AutoScalingGroup {
        AutoScalingGroup {
            name: g.name.clone(),
            arn: Some(g.arn.clone()),
            min_size: g.min,
            max_size: g.max,
            desired_capacity: g.desired,
            launch_template: g.launch_template.as_ref().map(|s| self.spec_view(s)),
            mixed_instances_policy: g.mixed.as_ref().map(|m| MixedInstancesPolicy {
                template: self.spec_view(&m.template),
                overrides: m
                    .overrides
                    .iter()
                    .map(|o| amiroll_core::port::InstanceOverride {
                        template: o.template.as_ref().map(|t| self.spec_view(t)),
                        ..o.clone()
                    })
                    .collect(),
                distribution: m.distribution.clone(),
            }),
            termination_policies: g.termination_policies.clone(),
            suspended_processes: g.suspended.iter().cloned().collect(),
            // "The launch template for the instance" (API_Instance): id, name and version.
            // Instances in `Terminating:Wait` are listed, with that `LifecycleState`.
            instances: self
                .group_instances(&g.name)
                .into_iter()
                .map(|i| {
                    let view = i.group_view(self.clock);
                    GroupInstance {
                        launch_template: view.launch_template.as_ref().map(|s| self.spec_view(s)),
                        ..view
                    }
                })
                .collect(),
            tags: g.tags.clone(),
            health_check_grace_period_secs: u32::try_from(g.grace_period.as_secs())
                .unwrap_or(u32::MAX),
        }
    }

    /// Checks termination policy names per "Control which Auto Scaling instances terminate during
    /// scale in": predefined names or a Lambda ARN (first only), `Default` last.
    pub(crate) fn validate_policies(op: &'static str, policies: &[String]) -> Result<(), AwsError> {
        let invalid =
            |message: String| AwsError::new(op, ErrorKind::Invalid, "ValidationError", message);
        for (i, p) in policies.iter().enumerate() {
            if p.starts_with("arn:aws:lambda:") {
                if i != 0 {
                    return Err(invalid(format!(
                        "A custom termination policy ({p}) must be the first termination policy"
                    )));
                }
            } else if !TERMINATION_POLICIES.contains(&p.as_str()) {
                return Err(invalid(format!("Termination policy {p} is not valid")));
            } else if p == "Default" && i + 1 != policies.len() {
                return Err(invalid(
                    "The Default termination policy must be the last one in the list".to_string(),
                ));
            }
        }
        Ok(())
    }

    /// Checks a group's template spec: exactly one of id/name, the template exists, and a numeric
    /// version exists.
    pub(crate) fn validate_spec(
        &self,
        op: &'static str,
        spec: &TemplateSpec,
    ) -> Result<(), AwsError> {
        let invalid =
            |message: String| AwsError::new(op, ErrorKind::Invalid, "ValidationError", message);
        if spec.template_id.is_some() == spec.template_name.is_some() {
            return Err(invalid(
                "Specify exactly one of LaunchTemplateId and LaunchTemplateName".to_string(),
            ));
        }
        let Some(id) = self.spec_template_id(spec) else {
            let given = spec
                .template_id
                .clone()
                .or_else(|| spec.template_name.clone())
                .unwrap_or_default();
            return Err(invalid(format!(
                "You must use a valid fully-formed launch template. The specified launch template {given} does not exist."
            )));
        };
        let Some(t) = self.templates.get(&id) else {
            return Err(invalid(format!("launch template {id} does not exist")));
        };
        let number = t.resolve(spec.version.as_deref()).map_err(invalid)?;
        if !t.versions.contains_key(&number) {
            return Err(invalid(format!(
                "You must use a valid fully-formed launch template. The specified launch template version {number} of {id} does not exist."
            )));
        }
        Ok(())
    }

    /// Eventual consistency ("Eventual consistency in the Amazon EC2 API",
    /// https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): a version
    /// created a moment ago may be unknown to Auto Scaling, which then answers as for a version
    /// that does not exist. Counts one call naming an invisible version.
    pub(crate) fn check_version_visible(
        &self,
        op: &'static str,
        spec: &TemplateSpec,
    ) -> Result<(), AwsError> {
        let Some(id) = self.spec_template_id(spec) else {
            return Ok(());
        };
        let Some(number) = self
            .templates
            .get(&id)
            .and_then(|t| t.resolve(spec.version.as_deref()).ok())
        else {
            return Ok(());
        };
        let mut invisible = self.invisible_versions.borrow_mut();
        let Some(left) = invisible.get_mut(&(id.clone(), number)) else {
            return Ok(());
        };
        *left -= 1;
        if *left == 0 {
            invisible.remove(&(id.clone(), number));
        }
        Err(AwsError::new(
            op,
            ErrorKind::Invalid,
            "ValidationError",
            format!(
                "You must use a valid fully-formed launch template. The specified launch template version {number} of {id} does not exist."
            ),
        ))
    }

    // ----- Auto Scaling's own behaviour -----

    /// Launch one instance into `group` for a scale-out: from the group's configuration, or
    /// from the desired configuration of an active instance refresh ("How an instance refresh
    /// works": scale-outs during a refresh use the desired configuration).
    pub(crate) fn launch_one(&mut self, group: &str) -> Result<String, String> {
        let spec = self.refresh_launch_spec(group);
        self.launch_from(group, spec)
    }

    /// Launch one instance into `group`, per "Launch an instance from a launch template": the
    /// template version (the group's, or `spec_override`'s) is resolved now and its ImageId used.
    /// For a mixed instances policy the overrides' instance types still rotate. `Err` = why it
    /// failed.
    pub(crate) fn launch_from(
        &mut self,
        group: &str,
        spec_override: Option<TemplateSpec>,
    ) -> Result<String, String> {
        let Some(g) = self.groups.get_mut(group) else {
            return Err(format!("group {group} does not exist"));
        };
        let counter = g.launch_counter;
        g.launch_counter += 1;
        let (spec, type_override) = match (&g.mixed, &g.launch_template) {
            (Some(m), _) if !m.overrides.is_empty() => {
                let idx = usize::try_from(counter % m.overrides.len() as u64).unwrap_or(0);
                let o = &m.overrides[idx];
                (
                    o.template.clone().unwrap_or_else(|| m.template.clone()),
                    o.instance_type.clone(),
                )
            }
            (Some(m), _) => (m.template.clone(), None),
            (None, Some(spec)) => (spec.clone(), None),
            (None, None) => return Err("the group has no launch template".to_string()),
        };
        let spec = spec_override.unwrap_or(spec);
        let azs = g.azs.clone();
        let protect = g.protect_new;

        let template_id = self.spec_template_id(&spec).ok_or_else(|| {
            "InvalidLaunchTemplateId.NotFound: the launch template does not exist".to_string()
        })?;
        let t = self
            .templates
            .get(&template_id)
            .ok_or_else(|| format!("launch template {template_id} does not exist"))?;
        let number = t.resolve(spec.version.as_deref())?;
        let v = t.versions.get(&number).ok_or_else(|| {
            format!(
                "InvalidLaunchTemplateId.VersionNotFound: version {number} of {template_id} does not exist"
            )
        })?;
        let image_ref = v
            .data
            .image_id
            .clone()
            .ok_or_else(|| format!("{template_id} version {number} has no ImageId"))?;
        let instance_type = type_override.or_else(|| v.data.instance_type.clone());
        let image_id = self.resolve_image_ref(&image_ref)?;
        let image = self
            .images
            .get(&image_id)
            .ok_or_else(|| format!("InvalidAMIID.NotFound: the image {image_id} does not exist"))?;
        if self.allowed_amis.enforced()
            && self.allowed_amis.image_allowed(image, crate::ACCOUNT_ID) == Some(false)
        {
            return Err(format!(
                "InvalidAMIID.NotFound: the image {image_id} is outside the account's Allowed AMIs criteria"
            ));
        }
        if image.state != "available" {
            return Err(format!(
                "InvalidAMIID.Unavailable: image {image_id} is {}",
                image.state
            ));
        }
        if let Some(archs) = instance_type
            .as_ref()
            .and_then(|it| self.instance_types.get(it))
        {
            if !archs.contains(&image.architecture) {
                return Err(format!(
                    "InvalidParameterValue: the architecture '{}' of image {image_id} does not match instance type {} ({})",
                    image.architecture,
                    instance_type.clone().unwrap_or_default(),
                    archs.join(",")
                ));
            }
        }
        let image_healthy = image.healthy;
        let grace = self
            .groups
            .get(group)
            .map(|g| g.grace_period)
            .unwrap_or_default();

        // Balance across AZs: the zone with the fewest live instances, first in list order on ties.
        let mut az = azs
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1a".to_string());
        let mut fewest = usize::MAX;
        for zone in &azs {
            let n = self
                .live_instances(group)
                .iter()
                .filter(|i| &i.az == zone)
                .count();
            if n < fewest {
                fewest = n;
                az = zone.clone();
            }
        }

        self.instance_counter += 1;
        let id = format!("i-{:017x}", self.instance_counter);
        let type_text = instance_type
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let now = self.clock;
        self.instances.insert(
            id.clone(),
            InstanceState {
                id: id.clone(),
                group: group.to_string(),
                az: az.clone(),
                image_id: image_id.clone(),
                template_id: Some(template_id.clone()),
                template_version: Some(number),
                launch_time: now,
                ready_at: add(now, self.boot_time),
                checks_from: add(add(now, self.boot_time), grace),
                failing_since: None,
                lifecycle: Lifecycle::Pending,
                image_healthy,
                protected: protect,
                terminated_at: None,
                wait: None,
            },
        );
        self.event(format!(
            "autoscaling {group}: launched {id}{type_text} in {az} from {template_id} version {number} ({image_id})"
        ));
        Ok(id)
    }

    /// An AMI id, or a `resolve:ssm:<name>[:<version>]` reference resolved now.
    fn resolve_image_ref(&self, image_ref: &str) -> Result<String, String> {
        let Some(param) = image_ref.strip_prefix("resolve:ssm:") else {
            return Ok(image_ref.to_string());
        };
        let (name, version) = split_selector(param);
        let history = self
            .params
            .get(name)
            .ok_or_else(|| format!("ParameterNotFound: {name}"))?;
        let entry = match version {
            Some(v) => history.iter().find(|p| p.version == v),
            None => history.last(),
        };
        entry
            .map(|p| p.value.clone())
            .ok_or_else(|| format!("ParameterVersionNotFound: {param}"))
    }

    /// Terminate the instance now: no lifecycle hook runs (a force delete of its group, or the
    /// end of its `Terminating:Wait`). What Auto Scaling terminates goes through
    /// [`Account::begin_termination`] instead.
    pub(crate) fn terminate(&mut self, id: &str) {
        let now = self.clock;
        if let Some(i) = self.instances.get_mut(id) {
            if i.lifecycle == Lifecycle::Terminated {
                return;
            }
            i.lifecycle = Lifecycle::Terminated;
            i.terminated_at = Some(now);
            if let Some(w) = &mut i.wait {
                w.ended_at.get_or_insert(now);
            }
            let text = format!(
                "autoscaling {}: terminated {} in {} ({})",
                i.group, i.id, i.az, i.image_id
            );
            self.event(text);
            self.ecs_instance_terminated(id);
        }
    }

    fn note_problem(&mut self, group: &str, problem: String) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if g.last_problem.as_deref() != Some(problem.as_str()) {
            g.last_problem = Some(problem.clone());
            self.event(format!("autoscaling {group}: {problem}"));
        }
    }

    /// Bring the group's live instances to its desired capacity (unless `Launch`/`Terminate` is
    /// suspended), per "Suspend and resume Amazon EC2 Auto Scaling processes".
    pub(crate) fn reconcile(&mut self, group: &str) {
        if let Some(g) = self.groups.get_mut(group) {
            g.retry_at = None;
        }
        loop {
            let Some(g) = self.groups.get(group) else {
                return;
            };
            let live = self.live_instances(group).len();
            // Instances an instance refresh launched ahead of terminating old ones are extra.
            let desired = usize::try_from(g.desired).unwrap_or(0) + self.refresh_surplus(group);
            if live < desired {
                if g.suspended.contains("Launch") {
                    break;
                }
                match self.launch_one(group) {
                    Ok(_) => {
                        if let Some(g) = self.groups.get_mut(group) {
                            g.last_problem = None;
                        }
                    }
                    Err(reason) => {
                        let retry = add_secs(self.clock, LAUNCH_RETRY_SECS);
                        if let Some(g) = self.groups.get_mut(group) {
                            g.retry_at = Some(retry);
                        }
                        self.note_problem(group, format!("launch failed: {reason}"));
                        break;
                    }
                }
            } else if live > desired {
                if g.suspended.contains("Terminate") {
                    break;
                }
                match self.pick_victim(group) {
                    Some(id) => self.begin_termination(&id),
                    None => {
                        self.note_problem(
                            group,
                            "could not scale to desired capacity because all remaining instances are protected from scale-in".to_string(),
                        );
                        break;
                    }
                }
            } else {
                break;
            }
        }
        self.observe(group);
    }

    /// The instance scale-in terminates, per "Control which Auto Scaling instances terminate
    /// during scale in": first the AZ with the most instances that has an unprotected instance
    /// (all tied AZs together), then the group's policies in order within it, then — instead of
    /// "closest to the next billing hour, then random" — the lowest instance id.
    pub(crate) fn pick_victim(&self, group: &str) -> Option<String> {
        let g = self.groups.get(group)?;
        let live = self.live_instances(group);
        let mut per_az: BTreeMap<&str, usize> = BTreeMap::new();
        for i in &live {
            *per_az.entry(i.az.as_str()).or_default() += 1;
        }
        let most = live
            .iter()
            .filter(|i| !i.protected)
            .map(|i| per_az.get(i.az.as_str()).copied().unwrap_or(0))
            .max()?;
        let mut candidates: Vec<&InstanceState> = live
            .iter()
            .copied()
            .filter(|i| !i.protected && per_az.get(i.az.as_str()).copied() == Some(most))
            .collect();

        let mut current: BTreeSet<String> = BTreeSet::new();
        if let Some(s) = &g.launch_template {
            current.extend(self.spec_template_id(s));
        }
        if let Some(m) = &g.mixed {
            current.extend(self.spec_template_id(&m.template));
            for o in &m.overrides {
                if let Some(t) = &o.template {
                    current.extend(self.spec_template_id(t));
                }
            }
        }
        let now = self.clock;
        for policy in &g.termination_policies {
            if candidates.len() <= 1 {
                break;
            }
            match policy.as_str() {
                "OldestLaunchTemplate" | "Default" => {
                    candidates = oldest_launch_template(candidates, &current);
                }
                "OldestInstance" => {
                    let oldest = candidates.iter().map(|i| i.launch_time).min();
                    candidates.retain(|i| Some(i.launch_time) == oldest);
                }
                "NewestInstance" => {
                    let newest = candidates.iter().map(|i| i.launch_time).max();
                    candidates.retain(|i| Some(i.launch_time) == newest);
                }
                "ClosestToNextInstanceHour" => {
                    let left = |i: &InstanceState| {
                        3600 - (now - i.launch_time).num_seconds().rem_euclid(3600)
                    };
                    let closest = candidates.iter().map(|i| left(i)).min();
                    candidates.retain(|i| Some(left(i)) == closest);
                }
                // OldestLaunchConfiguration ranks launch configurations only; AllocationStrategy and
                // custom Lambda policies are not modelled.
                _ => {}
            }
        }
        candidates.iter().map(|i| i.id.clone()).min()
    }

    /// Track the capacity extremes tests assert on.
    pub(crate) fn observe(&mut self, group: &str) {
        let live = self.live_instances(group);
        let count = live.len();
        let healthy = live.iter().filter(|i| i.in_service_healthy()).count();
        if let Some(g) = self.groups.get_mut(group) {
            let count_i32 = i32::try_from(count).unwrap_or(i32::MAX);
            g.stats.max_capacity = g.stats.max_capacity.max(g.desired).max(count_i32);
            g.stats.max_instances = g.stats.max_instances.max(count);
            g.stats.min_in_service_healthy = Some(
                g.stats
                    .min_in_service_healthy
                    .map_or(healthy, |m| m.min(healthy)),
            );
        }
    }

    /// Run a scheduled action, per "Scheduled scaling for Amazon EC2 Auto Scaling".
    fn fire_action(&mut self, group: &str, name: &str) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let Some(state) = g.actions.get_mut(name) else {
            return;
        };
        let action = state.action.clone();
        if action.recurrence.is_some() {
            state.fired = true;
        } else {
            g.actions.remove(name);
        }
        if g.suspended.contains("ScheduledActions") {
            self.event(format!(
                "autoscaling {group}: scheduled action {name} skipped (ScheduledActions suspended)"
            ));
            return;
        }
        let min = action.min_size.unwrap_or(g.min);
        let max = action.max_size.unwrap_or(g.max);
        let desired = match action.desired_capacity {
            Some(d) => d,
            // UpdateAutoScalingGroup: a new min above (max below) the current desired moves it.
            None if min <= max => g.desired.clamp(min, max),
            None => g.desired,
        };
        if min > max || desired < min || desired > max {
            self.event(format!(
                "autoscaling {group}: scheduled action {name} failed: Desired capacity:{desired} must be between the specified min size:{min} and max size:{max}"
            ));
            return;
        }
        let before = (g.min, g.max, g.desired);
        g.min = min;
        g.max = max;
        g.desired = desired;
        self.event(format!(
            "autoscaling {group}: scheduled action {name} fired: min/max/desired {}/{}/{} -> {min}/{max}/{desired}",
            before.0, before.1, before.2
        ));
        self.ecs_note_desired_change(group);
        self.reconcile(group);
    }

    /// When a scheduled action fires: its StartTime, plus the injected delay if any.
    fn fire_time(&self, action: &ScheduledAction) -> Timestamp {
        match &self.action_delay {
            Some(delay) => add(action.start_time, delay(action)),
            None => action.start_time,
        }
    }

    /// When Auto Scaling replaces `i`, an instance that fails its health checks: "Amazon EC2
    /// Auto Scaling waits until the health check grace period ends before checking the health
    /// status of the instance" and "automatically replaces instances that fail health checks"
    /// ("Health checks for instances in an Auto Scaling group",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html),
    /// at any time — also during an instance refresh (whose own new instances the refresh
    /// replaces itself) — unless `HealthCheck` or `ReplaceUnhealthy` is suspended. Scale-in
    /// protection does not prevent it. `None`: not to be replaced.
    fn unhealthy_replacement_time(&self, i: &InstanceState) -> Option<Timestamp> {
        if i.lifecycle != Lifecycle::InService || i.image_healthy {
            return None;
        }
        let g = self.groups.get(&i.group)?;
        if g.suspended.contains("HealthCheck") || g.suspended.contains("ReplaceUnhealthy") {
            return None;
        }
        let refreshing = self.active_refresh(&i.group).is_some_and(|r| {
            self.refreshes[r]
                .in_flight
                .iter()
                .any(|rep| rep.warming() && rep.new_id == i.id)
        });
        if refreshing {
            return None;
        }
        let failing = i
            .failing_since
            .map_or(i.checks_from, |t| t.max(i.checks_from));
        Some(add_secs(failing, UNHEALTHY_REPLACEMENT_SECS))
    }

    fn next_event_time(&self) -> Option<Timestamp> {
        let ready = self
            .instances
            .values()
            .filter(|i| i.lifecycle == Lifecycle::Pending)
            .map(|i| i.ready_at);
        let actions = self.groups.values().flat_map(|g| {
            g.actions
                .values()
                .filter(|a| !a.fired)
                .map(|a| self.fire_time(&a.action))
        });
        let retries = self.groups.values().filter_map(|g| g.retry_at);
        let ecs = self.groups.values().filter_map(|g| g.ecs_correct_at);
        let unhealthy = self
            .instances
            .values()
            .filter_map(|i| self.unhealthy_replacement_time(i));
        ready
            .chain(unhealthy)
            .chain(actions)
            .chain(retries)
            .chain(ecs)
            .chain(self.refresh_wake_times())
            .chain(self.ecs_wake_times())
            .chain(self.lifecycle_wake_times())
            .min()
    }

    /// Process everything due at or before the current time (instance refreshes first react to
    /// what the call changed).
    pub(crate) fn settle(&mut self) {
        self.step_refreshes();
        let target = self.clock;
        self.run_until(target);
    }

    /// Move the clock to `target`, processing every event due on the way in time order.
    pub(crate) fn run_until(&mut self, target: Timestamp) {
        while let Some(t) = self.next_event_time().filter(|t| *t <= target) {
            if t > self.clock {
                self.clock = t;
            }
            self.process_due();
        }
        if target > self.clock {
            self.clock = target;
        }
    }

    fn process_due(&mut self) {
        let now = self.clock;
        let ready: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.lifecycle == Lifecycle::Pending && i.ready_at <= now)
            .map(|i| i.id.clone())
            .collect();
        for id in ready {
            let Some(i) = self.instances.get_mut(&id) else {
                continue;
            };
            i.lifecycle = Lifecycle::InService;
            let group = i.group.clone();
            let health = if i.image_healthy {
                "Healthy"
            } else {
                "Unhealthy"
            };
            self.event(format!("autoscaling {group}: {id} InService ({health})"));
            self.observe(&group);
            self.ecs_instance_in_service(&id);
        }

        let unhealthy: Vec<(String, String)> = self
            .instances
            .values()
            .filter(|i| self.unhealthy_replacement_time(i).is_some_and(|t| t <= now))
            .map(|i| (i.group.clone(), i.id.clone()))
            .collect();
        for (group, id) in unhealthy {
            self.event(format!(
                "autoscaling {group}: {id} failed its health checks; terminating and replacing it"
            ));
            self.begin_termination(&id);
            self.reconcile(&group);
        }

        self.lifecycle_timeouts();

        let mut due: Vec<(Timestamp, String, String)> = self
            .groups
            .values()
            .flat_map(|g| {
                g.actions
                    .values()
                    .filter(|a| !a.fired && self.fire_time(&a.action) <= now)
                    .map(|a| {
                        (
                            self.fire_time(&a.action),
                            g.name.clone(),
                            a.action.name.clone(),
                        )
                    })
            })
            .collect();
        due.sort();
        for (_, group, name) in due {
            self.fire_action(&group, &name);
        }

        let retries: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.retry_at.is_some_and(|t| t <= now))
            .map(|g| g.name.clone())
            .collect();
        for group in retries {
            self.reconcile(&group);
        }

        let corrections: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.ecs_correct_at.is_some_and(|t| t <= now))
            .map(|g| g.name.clone())
            .collect();
        for group in corrections {
            self.ecs_correct_desired(&group);
        }

        self.ecs_step();

        self.step_refreshes();
    }
}

/// `OldestLaunchTemplate`: instances on a template other than the group's current one(s) first,
/// then those on the oldest (lowest-numbered) version.
fn oldest_launch_template<'a>(
    candidates: Vec<&'a InstanceState>,
    current: &BTreeSet<String>,
) -> Vec<&'a InstanceState> {
    let foreign: Vec<&InstanceState> = candidates
        .iter()
        .copied()
        .filter(|i| !matches!(&i.template_id, Some(t) if current.contains(t)))
        .collect();
    if !foreign.is_empty() {
        return foreign;
    }
    let oldest = candidates.iter().filter_map(|i| i.template_version).min();
    candidates
        .into_iter()
        .filter(|i| i.template_version == oldest)
        .collect()
}

/// `name:version` → (`name`, `Some(version)`); anything else → (`whole`, `None`).
pub(crate) fn split_selector(selector: &str) -> (&str, Option<i64>) {
    if let Some((name, version)) = selector.rsplit_once(':') {
        if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(v) = version.parse::<i64>() {
                return (name, Some(v));
            }
        }
    }
    (selector, None)
}
