//! Views of a group: how it names its template version, its instances and the AMIs they run,
//! and whether it is whole and healthy on an AMI.

use super::*;
use crate::port::ContainerInstance;

/// A group's `LaunchTemplateSpecification.Version` resolved against its template: how it is
/// written (`$Default` when absent) and the number it means today.
pub(crate) fn resolve_version(
    group: &str,
    version: Option<&str>,
    template: &crate::port::LaunchTemplate,
) -> Result<(VersionSpec, String, u64), Refusal> {
    let text = version.unwrap_or("$Default").to_string();
    let (spec, n) = match text.as_str() {
        "$Default" => (VersionSpec::Default, template.default_version),
        "$Latest" => (VersionSpec::Latest, template.latest_version),
        other => match other.parse::<u64>() {
            Ok(n) => (VersionSpec::Pinned(n), n),
            Err(_) => {
                return Err(Refusal::BadVersionSpec {
                    group: group.to_string(),
                    version: other.to_string(),
                })
            }
        },
    };
    Ok((spec, text, n))
}

/// How a group references its template, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionSpec {
    Default,
    Latest,
    Pinned(u64),
}

pub(crate) struct GroupView<'a> {
    pub(crate) group: &'a AutoScalingGroup,
    pub(crate) spec: VersionSpec,
    pub(crate) spec_text: String,
    pub(crate) effective: u64,
    /// Instance types named by the group's overrides.
    pub(crate) override_types: Vec<String>,
}

/// A non-terminating instance of a group with its AMI.
pub(crate) struct InstanceView {
    pub(crate) id: String,
    pub(crate) image: Option<String>,
    pub(crate) in_service: bool,
    pub(crate) healthy: bool,
    pub(crate) protected: bool,
    /// Its Availability Zone.
    pub(crate) az: String,
    pub(crate) template_version: Option<u64>,
    /// When EC2 launched it (`DescribeInstances`; `None` when not read).
    pub(crate) launched: Option<Timestamp>,
    /// Whether Auto Scaling has checked its health by now: a `Healthy` status means something
    /// only after the group's health-check grace period, which Auto Scaling "waits before
    /// checking the health status of an EC2 instance that has come into service"
    /// ("Set the health check grace period for an Auto Scaling group",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html).
    /// With a grace period, an instance counts as checked [`BOOT_ALLOWANCE_MINUTES`] plus the
    /// grace period after its launch (the grace period starts at `InService`, which no API
    /// dates); without one, at once.
    pub(crate) health_checked: bool,
    /// In an ECS group, not usable by ECS although in service for longer than
    /// [`ECS_JOIN_ALLOWANCE_MINUTES`] (see [`InstanceView::failed`]).
    pub(crate) ecs_overdue: bool,
    /// The instance as a container instance of its group's ECS cluster; `None` for a plain EC2
    /// group (see [`ecs_cluster_of`]).
    pub(crate) ecs: Option<EcsView>,
}

/// An instance of an ECS group, as ECS sees it.
pub(crate) struct EcsView {
    /// The group's cluster (name or ARN, as configured or found).
    pub(crate) cluster: String,
    /// Its container instance in that cluster; `None`: not registered there (not yet, or never:
    /// an agent that does not start, another cluster in the user data, ...).
    pub(crate) container_instance: Option<ContainerInstance>,
}

impl EcsView {
    /// `ACTIVE`, `DRAINING`, ... or `unregistered`.
    pub(crate) fn status(&self) -> &str {
        self.container_instance
            .as_ref()
            .map_or("unregistered", |c| c.status.as_str())
    }

    pub(crate) fn agent_connected(&self) -> bool {
        self.container_instance
            .as_ref()
            .is_some_and(|c| c.agent_connected)
    }

    /// Tasks `RUNNING` on it (none when not registered).
    pub(crate) fn running_tasks(&self) -> i32 {
        self.container_instance
            .as_ref()
            .map_or(0, |c| c.running_tasks_count)
    }
}

/// How long after its launch an instance is taken to reach `InService`, for
/// [`InstanceView::health_checked`].
pub const BOOT_ALLOWANCE_MINUTES: i64 = 3;

/// How long after `InService` (taken as launch + [`BOOT_ALLOWANCE_MINUTES`]) the container agent
/// of an ECS group's instance has to register and connect before the instance counts as failed.
/// The agent starts with the instance and registers within a minute or two on the ECS-optimized
/// AMIs ("Amazon ECS container instance lifecycle",
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-agent-connection.html).
pub const ECS_JOIN_ALLOWANCE_MINUTES: i64 = 5;

impl InstanceView {
    /// For an instance of an ECS group: whether ECS can use it — its container instance is
    /// `ACTIVE` with the agent connected in the group's cluster ("Amazon ECS container instance
    /// agent connection": an instance whose agent is disconnected "can't accept placement
    /// requests"). `None` for a plain EC2 group.
    pub(crate) fn ecs_ready(&self) -> Option<bool> {
        self.ecs.as_ref().map(|e| {
            e.container_instance
                .as_ref()
                .is_some_and(|c| c.is_active() && c.agent_connected)
        })
    }

    /// Healthy as amiroll counts it: `InService`, `Healthy` and checked by Auto Scaling, and for
    /// an ECS group usable by ECS.
    pub(crate) fn counts_healthy(&self) -> bool {
        self.in_service && self.healthy && self.health_checked && self.ecs_ready() != Some(false)
    }

    /// Failed: reported `Unhealthy`, or in an ECS group not usable by ECS
    /// [`ECS_JOIN_ALLOWANCE_MINUTES`] after it came into service (its agent never registered,
    /// registered in another cluster, or disconnected).
    pub(crate) fn failed(&self) -> bool {
        !self.healthy || self.ecs_overdue
    }
}

/// With `ecs_require_tasks`: the instances on `ami` of an ECS group that count healthy but run
/// no task. Empty when the setting is off or the group is a plain EC2 group.
pub(crate) fn idle_on<'a>(
    instances: &'a [InstanceView],
    ami: &str,
    settings: &TargetSettings,
) -> Vec<&'a InstanceView> {
    if !settings.ecs_require_tasks {
        return Vec::new();
    }
    instances
        .iter()
        .filter(|i| i.image.as_deref() == Some(ami) && i.counts_healthy())
        .filter(|i| i.ecs.as_ref().is_some_and(|e| e.running_tasks() == 0))
        .collect()
}

pub(crate) fn instance_views(
    g: &AutoScalingGroup,
    obs: &Observation,
    template_id: &str,
) -> Vec<InstanceView> {
    let cluster = ecs_cluster_of(g, obs);
    g.instances
        .iter()
        .filter(|i| !i.lifecycle_state.starts_with("Terminat"))
        .map(|i| {
            let (image, template_version) = instance_launch(i, obs, template_id);
            let launched = obs
                .instances
                .get(&i.instance_id)
                .and_then(|e| e.launch_time);
            let grace = i64::from(g.health_check_grace_period_secs);
            let health_checked = grace == 0
                || launched.is_some_and(|t| {
                    obs.now
                        >= t + Duration::minutes(BOOT_ALLOWANCE_MINUTES) + Duration::seconds(grace)
                });
            let mut view = InstanceView {
                id: i.instance_id.clone(),
                image,
                in_service: i.is_in_service(),
                healthy: i.is_healthy(),
                protected: i.protected_from_scale_in,
                az: i.availability_zone.clone(),
                template_version,
                launched,
                health_checked,
                ecs_overdue: false,
                ecs: cluster.map(|(name, observed)| EcsView {
                    cluster: name.to_string(),
                    container_instance: container_instance_of(observed, &i.instance_id).cloned(),
                }),
            };
            view.ecs_overdue = view.ecs_ready() == Some(false)
                && view.in_service
                && launched.is_some_and(|t| {
                    obs.now
                        >= t + Duration::minutes(
                            BOOT_ALLOWANCE_MINUTES + ECS_JOIN_ALLOWANCE_MINUTES,
                        )
                });
            view
        })
        .collect()
}

/// The ECS cluster of an ECS group, with its container instances: the group's cluster was read,
/// and either it was configured (`ecs_cluster`: the user says the group is an ECS group) or, found
/// in the user data or from the group's capacity provider, at least one of the group's instances
/// is a container instance of it. Any
/// other group is a plain EC2 group ("A group whose instances are not container instances is a
/// plain EC2 group", issue 12).
pub(crate) fn ecs_cluster_of<'a>(
    g: &AutoScalingGroup,
    obs: &'a Observation,
) -> Option<(&'a str, &'a ObservedCluster)> {
    let gc = obs.ecs_clusters.get(&g.name)?;
    let observed = obs.clusters.get(&gc.cluster)?;
    let registered = || {
        g.instances
            .iter()
            .filter(|i| !i.lifecycle_state.starts_with("Terminat") || is_held(i))
            .any(|i| container_instance_of(observed, &i.instance_id).is_some())
    };
    (gc.source == ClusterSource::Configured || registered())
        .then_some((gc.cluster.as_str(), observed))
}

/// An instance a terminating lifecycle hook holds (`Terminating:Wait`): still running, with
/// its container instance and tasks, until its lifecycle action ends ("Amazon EC2 Auto Scaling
/// lifecycle hooks", https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html).
pub(crate) fn is_held(i: &crate::port::GroupInstance) -> bool {
    i.lifecycle_state == "Terminating:Wait"
}

/// The container instance of an EC2 instance in a cluster: the `ACTIVE` or `DRAINING` one if
/// there are several (an instance registered again), else any.
pub(crate) fn container_instance_of<'a>(
    cluster: &'a ObservedCluster,
    instance_id: &str,
) -> Option<&'a ContainerInstance> {
    let mut of = cluster
        .container_instances
        .iter()
        .filter(|c| c.ec2_instance_id.as_deref() == Some(instance_id));
    let first = of.next()?;
    if first.is_active() || first.is_draining() {
        return Some(first);
    }
    Some(
        of.find(|c| c.is_active() || c.is_draining())
            .unwrap_or(first),
    )
}

/// How the instances of an ECS group stand in their cluster (`None` for a plain EC2 group).
pub(crate) fn ecs_report(views: &[InstanceView]) -> Option<EcsGroupReport> {
    let cluster = views.iter().find_map(|v| v.ecs.as_ref())?.cluster.clone();
    let mut report = EcsGroupReport {
        cluster,
        instances_by_status: BTreeMap::new(),
        agents_disconnected: 0,
        running_tasks: 0,
    };
    for e in views.iter().filter_map(|v| v.ecs.as_ref()) {
        *report
            .instances_by_status
            .entry(e.status().to_string())
            .or_insert(0) += 1;
        if e.container_instance.is_some() && !e.agent_connected() {
            report.agents_disconnected += 1;
        }
        report.running_tasks += i64::from(e.running_tasks());
    }
    Some(report)
}

/// The AMI a group's instance runs and the version of `template_id` it was launched from.
///
/// `DescribeInstances` answers both when it was read. Otherwise the group's own record of the
/// instance (`DescribeAutoScalingGroups` lists each instance's launch template and version) gives
/// the version, and the version gives the AMI: "Launch templates are immutable; after you create a
/// launch template, you can't modify it. Instead, you can create a new version" ("Modify a launch
/// template (manage launch template versions)",
/// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/manage-launch-template-versions.html),
/// so an instance launched from a version runs that version's `ImageId`. That inference is made only for a
/// numbered version of this template that was read and names an AMI id (not a
/// `resolve:ssm:` alias, which is resolved at launch); anything else is `None`, and the
/// engine then reads the instance itself.
pub(crate) fn instance_launch(
    i: &GroupInstance,
    obs: &Observation,
    template_id: &str,
) -> (Option<String>, Option<u64>) {
    if let Some(e) = obs.instances.get(&i.instance_id) {
        let version = e
            .launch_template_version
            .filter(|_| e.launch_template_id.as_deref() == Some(template_id));
        return (Some(e.image_id.clone()), version);
    }
    let Some(spec) = &i.launch_template else {
        return (None, None);
    };
    if spec.template_id.as_deref() != Some(template_id) {
        return (None, None);
    }
    let Some(n) = spec.version.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
        return (None, None);
    };
    let image = obs
        .templates
        .values()
        .find(|t| t.template.id == template_id)
        .and_then(|t| t.version(n))
        .and_then(|v| v.image_id.clone())
        .filter(|id| is_ami_id(id));
    match image {
        Some(id) => (Some(id), Some(n)),
        None => (None, Some(n)),
    }
}

pub(crate) fn by_ami(views: &[InstanceView]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for v in views {
        *m.entry(v.image.clone().unwrap_or_else(|| "unknown".to_string()))
            .or_insert(0) += 1;
    }
    m
}

/// Whether a group is whole and healthy on `ami`: at least its desired capacity of instances on
/// it that are `InService` and `Healthy`, none unhealthy, none on another AMI. `Err` says why not.
pub(crate) fn healthy_on(
    g: &AutoScalingGroup,
    obs: &Observation,
    template_id: &str,
    ami: &str,
) -> Result<(), String> {
    let inst = instance_views(g, obs, template_id);
    let on = |i: &&InstanceView| i.image.as_deref() == Some(ami);
    let healthy = inst.iter().filter(|i| on(i) && i.counts_healthy()).count() as i32;
    let bad: Vec<&str> = inst
        .iter()
        .filter(|i| on(i) && i.failed())
        .map(|i| i.id.as_str())
        .collect();
    let other = inst.iter().filter(|i| !on(i)).count();
    if !bad.is_empty() {
        return Err(format!(
            "instance(s) {} of group `{}` on {ami} are unhealthy",
            bad.join(", "),
            g.name
        ));
    }
    if other > 0 {
        return Err(format!(
            "{other} instance(s) of group `{}` do not run {ami}",
            g.name
        ));
    }
    if healthy < g.desired_capacity {
        return Err(format!(
            "only {healthy} of {} instance(s) of group `{}` on {ami} are in service and healthy",
            g.desired_capacity, g.name
        ));
    }
    Ok(())
}

/// The target's groups as views (how each names its template version, resolved), after the
/// checks that make a target an error (a missing group, another template, a launch
/// configuration, a foreign override, a version that does not exist). Groups tagged
/// `amiroll:skip` are reported and left out. `Ok(None)`: every group opted out.
pub(super) fn group_views<'a>(
    b: &mut Builder,
    t: &Target,
    obs: &'a Observation,
    tmpl: &'a ObservedTemplate,
    template_id: &str,
) -> Result<Option<Vec<GroupView<'a>>>, Refusal> {
    let mut views: Vec<GroupView> = Vec::new();
    let mut skipped: Vec<&AutoScalingGroup> = Vec::new();
    for name in &t.groups {
        let Some(g) = obs.groups.get(name) else {
            return Err(Refusal::GroupMissing {
                group: name.clone(),
            });
        };
        if g.tags.contains_key(tags::SKIP) {
            skipped.push(g);
            continue;
        }
        let (spec, override_types, foreign_override) =
            match (&g.launch_template, &g.mixed_instances_policy) {
                (Some(spec), _) => (spec.clone(), Vec::new(), None),
                (None, Some(mixed)) => {
                    let foreign = mixed
                        .overrides
                        .iter()
                        .filter_map(|o| o.template.as_ref())
                        .find(|ts| {
                            !(ts.template_id.as_deref() == Some(template_id)
                                || ts.template_name.as_deref() == Some(tmpl.template.name.as_str()))
                        });
                    (
                        mixed.template.clone(),
                        mixed
                            .overrides
                            .iter()
                            .filter_map(|o| o.instance_type.clone())
                            .collect(),
                        foreign.cloned(),
                    )
                }
                (None, None) => {
                    return Err(Refusal::NoLaunchTemplate {
                        group: name.clone(),
                    })
                }
            };
        let same_template = spec.template_id.as_deref() == Some(template_id)
            || spec.template_name.as_deref() == Some(tmpl.template.name.as_str());
        if !same_template {
            return Err(Refusal::OtherTemplate {
                group: name.clone(),
                launches: spec
                    .template_id
                    .clone()
                    .or(spec.template_name.clone())
                    .unwrap_or_default(),
                template: t.launch_template.clone(),
            });
        }
        if let Some(f) = foreign_override {
            return Err(Refusal::ForeignOverride {
                group: name.clone(),
                template: f.template_id.or(f.template_name).unwrap_or_default(),
            });
        }
        let (vs, spec_text, effective) =
            resolve_version(name, spec.version.as_deref(), &tmpl.template)?;
        if tmpl.version(effective).is_none() {
            return Err(Refusal::VersionMissing {
                group: name.clone(),
                version: effective,
                template: t.launch_template.clone(),
            });
        }
        views.push(GroupView {
            group: g,
            spec: vs,
            spec_text,
            effective,
            override_types,
        });
    }

    for g in &skipped {
        b.info(format!(
            "group `{}` is tagged {}: amiroll never touches it",
            g.name,
            tags::SKIP
        ));
        let spec = g.launch_template.as_ref().and_then(|s| s.version.clone());
        if !matches!(spec.as_deref(), Some(v) if v.parse::<u64>().is_ok()) {
            b.warn(format!(
                "group `{}` (skipped) launches {} of the template: when its default/latest moves, its new launches follow",
                g.name,
                spec.unwrap_or_else(|| "$Default".to_string())
            ));
        }
        b.plan.groups.push(GroupReport {
            name: g.name.clone(),
            version_spec: g
                .launch_template
                .as_ref()
                .and_then(|s| s.version.clone())
                .unwrap_or_else(|| "$Default".to_string()),
            effective_version: None,
            instances_by_ami: BTreeMap::new(),
            min_size: g.min_size,
            max_size: g.max_size,
            desired_capacity: g.desired_capacity,
            state: format!("skipped ({} tag)", tags::SKIP),
            rollout: None,
            last_outcome: None,
            ecs: None,
        });
    }
    if views.is_empty() && !skipped.is_empty() {
        b.plan.summary = "every group of this target opted out; nothing to do".to_string();
        return Ok(None);
    }
    Ok(Some(views))
}

/// Whether the group's newest instance refresh is still running (`Pending`, `InProgress`,
/// `Cancelling`, `RollbackInProgress`, `Baking`).
pub(crate) fn refresh_active(obs: &Observation, group: &str) -> bool {
    obs.refreshes
        .get(group)
        .and_then(|rs| rs.first())
        .is_some_and(|r| !r.is_terminal())
}
