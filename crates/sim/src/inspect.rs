//! Inspection: what a test asserts on (groups, instances, templates, notifications, the call log,
//! capacity extremes, the event timeline).

use std::collections::BTreeMap;

use amiroll_core::port::{
    op, AutoScalingGroup, CapacityProvider, ContainerInstance, Ec2Instance, InstanceRefresh,
    LaunchTemplate, LaunchTemplateVersion, LifecycleHook, Notification, ScheduledAction,
    SsmParameter, Timestamp,
};

use crate::account::{self, GroupStats, TemplateState};
use crate::types::{InstanceLifetime, LifecycleWait, TemplateData};
use crate::SimAws;

impl SimAws {
    /// Every message published to `topic_arn`, in order.
    pub fn published(&self, topic_arn: &str) -> Vec<Notification> {
        self.lock()
            .published
            .iter()
            .filter(|n| n.topic_arn == topic_arn)
            .cloned()
            .collect()
    }

    /// Every message published, in order.
    pub fn all_published(&self) -> Vec<Notification> {
        self.lock().published.clone()
    }

    /// The group as `DescribeAutoScalingGroups` shows it, if it exists.
    pub fn try_group(&self, name: &str) -> Option<AutoScalingGroup> {
        let a = self.lock();
        a.groups.get(name).map(|g| a.group_view(g))
    }

    /// The group as `DescribeAutoScalingGroups` shows it.
    ///
    /// # Panics
    /// If the group does not exist (a test assertion helper; see [`SimAws::try_group`]).
    pub fn group(&self, name: &str) -> AutoScalingGroup {
        self.try_group(name)
            .unwrap_or_else(|| panic!("simulated account has no group {name:?}"))
    }

    /// `(min, max, desired)`.
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn group_capacity(&self, name: &str) -> (i32, i32, i32) {
        let g = self.group(name);
        (g.min_size, g.max_size, g.desired_capacity)
    }

    /// Number of live (`Pending` or `InService`) instances of the group per AMI id — its
    /// capacity: instances held in `Terminating:Wait` are not counted; empty for an unknown
    /// group.
    pub fn instances_by_ami(&self, group: &str) -> BTreeMap<String, usize> {
        let a = self.lock();
        let mut counts = BTreeMap::new();
        for i in a.live_instances(group) {
            *counts.entry(i.image_id.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// The group's lifecycle hooks, by name (empty for an unknown group).
    pub fn lifecycle_hooks(&self, group: &str) -> Vec<LifecycleHook> {
        self.lock()
            .groups
            .get(group)
            .map(|g| g.hooks.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The instance's wait for its group's terminating lifecycle hooks (`Terminating:Wait`):
    /// when it began, each hook's action (its deadlines, how it ended) and when the instance
    /// terminated. `None` for an instance Auto Scaling never held (no terminating hook when it
    /// began terminating it, or still live), or an unknown id. Kept after the instance
    /// terminated.
    pub fn lifecycle_wait(&self, instance_id: &str) -> Option<LifecycleWait> {
        self.lock()
            .instances
            .get(instance_id)
            .and_then(|i| i.wait.clone())
    }

    /// One instance as `DescribeInstances` shows it (terminated ones included, whatever their age).
    pub fn instance(&self, instance_id: &str) -> Option<Ec2Instance> {
        let a = self.lock();
        let i = a.instances.get(instance_id)?;
        Some(Ec2Instance {
            instance_id: i.id.clone(),
            image_id: i.image_id.clone(),
            state: match i.lifecycle {
                account::Lifecycle::Pending => "pending",
                account::Lifecycle::InService | account::Lifecycle::TerminatingWait => "running",
                account::Lifecycle::Terminated => "terminated",
            }
            .to_string(),
            launch_time: Some(i.launch_time),
            launch_template_id: i.template_id.clone(),
            launch_template_version: i.template_version,
        })
    }

    /// A template header by id or name, if it exists.
    pub fn try_template(&self, id_or_name: &str) -> Option<LaunchTemplate> {
        let a = self.lock();
        a.template(op::DESCRIBE_LAUNCH_TEMPLATES, id_or_name)
            .ok()
            .map(TemplateState::header)
    }

    /// A template header by id or name.
    ///
    /// # Panics
    /// If the template does not exist (see [`SimAws::try_template`]).
    pub fn template(&self, id_or_name: &str) -> LaunchTemplate {
        self.try_template(id_or_name)
            .unwrap_or_else(|| panic!("simulated account has no launch template {id_or_name:?}"))
    }

    /// Every existing version of a template, ascending; empty for an unknown template.
    pub fn template_versions(&self, id_or_name: &str) -> Vec<LaunchTemplateVersion> {
        self.lock()
            .describe_launch_template_versions(id_or_name)
            .unwrap_or_default()
    }

    /// The full data of one version (to check inheritance), if it exists.
    pub fn template_version_data(&self, id_or_name: &str, version: u64) -> Option<TemplateData> {
        let a = self.lock();
        let t = a
            .template(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, id_or_name)
            .ok()?;
        t.versions.get(&version).map(|v| v.data.clone())
    }

    /// The group's pending scheduled actions; empty for an unknown group.
    pub fn scheduled_actions(&self, group: &str) -> Vec<ScheduledAction> {
        self.lock()
            .describe_scheduled_actions(group)
            .unwrap_or_default()
    }

    /// The current value of a parameter, if it exists.
    pub fn parameter(&self, name: &str) -> Option<SsmParameter> {
        let a = self.lock();
        let p = a.params.get(name)?.last()?;
        Some(SsmParameter {
            name: name.to_string(),
            value: p.value.clone(),
            version: p.version,
            data_type: Some(p.data_type.clone()),
            last_modified: Some(p.last_modified),
        })
    }

    /// Every instance refresh of the group, newest first (whatever their age); empty for an
    /// unknown group.
    pub fn instance_refreshes(&self, group: &str) -> Vec<InstanceRefresh> {
        self.lock().refreshes_of(group)
    }

    /// Every capacity provider, as `DescribeCapacityProviders` shows them.
    pub fn capacity_providers(&self) -> Vec<CapacityProvider> {
        self.lock()
            .describe_capacity_providers()
            .unwrap_or_default()
    }

    /// Every container instance of an ECS cluster (a name or an ARN), `INACTIVE` ones too, in
    /// registration order; empty for an unknown cluster.
    pub fn container_instances(&self, cluster: &str) -> Vec<ContainerInstance> {
        self.lock().container_instances(cluster)
    }

    /// Tasks running per EC2 instance, in every cluster (instances without tasks are left out).
    pub fn tasks_per_instance(&self) -> BTreeMap<String, usize> {
        self.lock().tasks_per_instance()
    }

    /// Tasks running on one EC2 instance.
    pub fn running_tasks(&self, instance_id: &str) -> usize {
        self.tasks_per_instance()
            .get(instance_id)
            .copied()
            .unwrap_or(0)
    }

    /// Tasks of a service running now.
    pub fn service_running_count(&self, cluster: &str, service: &str) -> usize {
        self.lock().service_running(cluster, service)
    }

    /// How many tasks were still running on an instance when it terminated ("tasks killed").
    pub fn tasks_killed(&self) -> usize {
        self.lock().ecs.tasks_killed
    }

    /// Every termination that killed running tasks, with how long its container instance had
    /// been draining.
    pub fn task_kills(&self) -> Vec<crate::container::TaskKill> {
        self.lock().ecs.kills.clone()
    }

    /// Every port call attempted (including failed ones), in order.
    pub fn call_log(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// The most calls of `operation` that were under way at the same time (a call is under way
    /// from the moment the caller makes it until it is answered; with
    /// [`SimAws::set_yield_per_call`] on, concurrent callers overlap).
    pub fn max_in_flight(&self, operation: &str) -> usize {
        self.lock()
            .in_flight
            .get(operation)
            .map_or(0, |(_, max)| *max)
    }

    /// How many calls of `operation` were attempted.
    pub fn call_count(&self, operation: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| **c == operation)
            .count()
    }

    fn stats(&self, group: &str) -> GroupStats {
        self.lock()
            .groups
            .get(group)
            .map(|g| g.stats.clone())
            .unwrap_or_else(|| panic!("simulated account has no group {group:?}"))
    }

    /// The highest of desired capacity and live instance count ever seen for the group (since
    /// creation or [`SimAws::reset_stats`]).
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn max_capacity_seen(&self, group: &str) -> i32 {
        self.stats(group).max_capacity
    }

    /// The highest live instance count ever seen for the group.
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn max_instances_seen(&self, group: &str) -> usize {
        self.stats(group).max_instances
    }

    /// The lowest number of `InService` + `Healthy` instances ever seen for the group.
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn min_in_service_healthy_seen(&self, group: &str) -> usize {
        self.stats(group).min_in_service_healthy.unwrap_or(0)
    }

    /// Every instance the group ever had (terminated ones too, whatever their age), in launch
    /// order: when each launched, came into service and terminated. Empty for an unknown group.
    pub fn instance_lifetimes(&self, group: &str) -> Vec<InstanceLifetime> {
        let a = self.lock();
        let mut lives: Vec<InstanceLifetime> = a
            .instances
            .values()
            .filter(|i| i.group == group)
            .map(|i| {
                let reached = i.lifecycle != account::Lifecycle::Pending
                    && i.terminated_at.is_none_or(|t| t >= i.ready_at);
                InstanceLifetime {
                    instance_id: i.id.clone(),
                    image_id: i.image_id.clone(),
                    launch_time: i.launch_time,
                    in_service_at: reached.then_some(i.ready_at),
                    terminated_at: i.terminated_at,
                }
            })
            .collect();
        lives.sort_by(|x, y| (x.launch_time, &x.instance_id).cmp(&(y.launch_time, &y.instance_id)));
        lives
    }

    /// Instance-seconds the group ran above `baseline` instances between `from` and `to`: the
    /// integral of `max(0, running(t) − baseline)` over that span, where `running(t)` counts
    /// the group's instances EC2 runs at `t` — launched and not yet terminated: `Pending`,
    /// `InService`, and held in `Terminating:Wait` (what EC2 bills). With `baseline` = the
    /// group's desired capacity before a rollout, it is what the rollout's extra instances
    /// cost. 0 for an unknown group or when `to` ≤ `from`.
    pub fn instance_seconds_above(
        &self,
        group: &str,
        baseline: usize,
        from: Timestamp,
        to: Timestamp,
    ) -> i64 {
        if to <= from {
            return 0;
        }
        // +1 at each launch, −1 at each termination, within (from, to]; the count at `from`.
        let mut running: i64 = 0;
        let mut changes: Vec<(Timestamp, i64)> = Vec::new();
        for life in self.instance_lifetimes(group) {
            let ends = life.terminated_at;
            if life.launch_time <= from {
                if ends.is_none_or(|t| t > from) {
                    running += 1;
                }
            } else if life.launch_time < to {
                changes.push((life.launch_time, 1));
            }
            if let Some(t) = ends {
                if t > from && t < to && t >= life.launch_time {
                    changes.push((t, -1));
                }
            }
        }
        changes.sort();
        let baseline = i64::try_from(baseline).unwrap_or(i64::MAX);
        let mut total = 0;
        let mut at = from;
        for (t, delta) in changes {
            total += (running - baseline).max(0) * (t - at).num_seconds();
            at = t;
            running += delta;
        }
        total + (running - baseline).max(0) * (to - at).num_seconds()
    }

    /// Restart the capacity extremes from the group's current state.
    pub fn reset_stats(&self, group: &str) {
        let mut a = self.lock();
        if let Some(g) = a.groups.get_mut(group) {
            g.stats = GroupStats::default();
        }
        a.observe(group);
    }

    /// Human-readable timeline of what happened in the account.
    pub fn events(&self) -> Vec<(Timestamp, String)> {
        self.lock().events.clone()
    }
}
