//! Instance refreshes: `StartInstanceRefresh`, `DescribeInstanceRefreshes`,
//! `RollbackInstanceRefresh`, `CancelInstanceRefresh`, and how a refresh progresses in virtual
//! time ("How an instance refresh works", "RefreshPreferences", "Undo changes with a manual or
//! auto rollback", "Cancel an instance refresh", Amazon EC2 Auto Scaling User Guide / API
//! Reference).
//!
//! A refresh replaces instances one *replacement* at a time, many in parallel: either launch a
//! new instance and terminate an old one once the new one is healthy and warmed up
//! (launch before terminate, allowed while the group stays within `MaxHealthyPercentage`), or
//! terminate an old one and launch its replacement at once (terminate then launch, allowed while
//! the group keeps `MinHealthyPercentage` healthy). A rollback runs the same machine backwards:
//! the instances the refresh launched are replaced from the group's own (pre-refresh)
//! configuration.

use amiroll_core::port::{
    op, AwsError, DesiredTemplate, ErrorKind, InstanceRefresh, MixedInstancesPolicy,
    RefreshPreferences, StartRefreshRequest, TemplateSpec, Timestamp,
};

use crate::account::{add_secs, Account, Lifecycle};
use crate::state::{desired_spec, RefreshState, Replacement, RollbackState, Status};

/// How long `Wait` waits for scale-in protection to be removed before the refresh fails
/// ("RefreshPreferences": `ScaleInProtectedInstances`).
pub(crate) const PROTECTED_WAIT_SECS: i64 = 3600;
/// How long a refresh keeps replacing new instances that fail their health checks before it
/// fails: "When an instance refresh is unable to continue making replacements because [...] the
/// new instances do not pass their health checks, Amazon EC2 Auto Scaling keeps retrying for an
/// hour" ("How an instance refresh works", Limitations, "One-hour timeout",
/// https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html).
pub(crate) const UNHEALTHY_RETRY_SECS: i64 = 3600;
/// `CheckpointDelay` when checkpoints are given without a delay ("RefreshPreferences").
pub(crate) const DEFAULT_CHECKPOINT_DELAY_SECS: i64 = 3600;
/// Largest `CheckpointDelay` and `BakeTime` ("RefreshPreferences").
pub(crate) const MAX_DELAY_SECS: i32 = 172_800;
/// `DescribeInstanceRefreshes` lists refreshes of the previous six weeks.
pub(crate) const HISTORY_SECS: i64 = 42 * 24 * 3600;

fn invalid(operation: &'static str, code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(operation, ErrorKind::Invalid, code, message)
}

fn no_active(operation: &'static str, group: &str) -> AwsError {
    AwsError::new(
        operation,
        ErrorKind::NotFound,
        "ActiveInstanceRefreshNotFound",
        format!("No in-progress or pending Instance Refresh found for Auto Scaling group {group}"),
    )
}

/// Checks `RefreshPreferences` against the API's ranges ("RefreshPreferences").
fn validate_preferences(p: &RefreshPreferences) -> Result<(), String> {
    if !(0..=100).contains(&p.min_healthy_percentage) {
        return Err(format!(
            "MinHealthyPercentage must be between 0 and 100 (got {})",
            p.min_healthy_percentage
        ));
    }
    if !(100..=200).contains(&p.max_healthy_percentage) {
        return Err(format!(
            "MaxHealthyPercentage must be between 100 and 200 (got {})",
            p.max_healthy_percentage
        ));
    }
    if p.max_healthy_percentage - p.min_healthy_percentage > 100 {
        return Err(format!(
            "The difference between MaxHealthyPercentage ({}) and MinHealthyPercentage ({}) must not exceed 100",
            p.max_healthy_percentage, p.min_healthy_percentage
        ));
    }
    if let Some(w) = p.instance_warmup {
        if w < 0 {
            return Err(format!("InstanceWarmup must not be negative (got {w})"));
        }
    }
    let mut previous = 0;
    for &c in &p.checkpoint_percentages {
        if !(1..=100).contains(&c) {
            return Err(format!(
                "CheckpointPercentages values must be between 1 and 100 (got {c})"
            ));
        }
        if c <= previous {
            return Err("CheckpointPercentages must be unique and in ascending order".to_string());
        }
        previous = c;
    }
    for (name, value) in [
        ("CheckpointDelay", p.checkpoint_delay),
        ("BakeTime", p.bake_time),
    ] {
        if let Some(v) = value {
            if !(0..=MAX_DELAY_SECS).contains(&v) {
                return Err(format!(
                    "{name} must be between 0 and {MAX_DELAY_SECS} seconds (got {v})"
                ));
            }
        }
    }
    if p.checkpoint_delay.is_some() && p.checkpoint_percentages.is_empty() {
        return Err("CheckpointDelay requires CheckpointPercentages".to_string());
    }
    if p.alarms.len() > 10 {
        return Err(format!(
            "AlarmSpecification accepts at most 10 alarms (got {})",
            p.alarms.len()
        ));
    }
    if let Some(v) = &p.scale_in_protected_instances {
        if !["Refresh", "Ignore", "Wait"].contains(&v.as_str()) {
            return Err(format!(
                "ScaleInProtectedInstances must be Refresh, Ignore or Wait (got {v})"
            ));
        }
    }
    if let Some(v) = &p.standby_instances {
        if !["Terminate", "Ignore", "Wait"].contains(&v.as_str()) {
            return Err(format!(
                "StandbyInstances must be Terminate, Ignore or Wait (got {v})"
            ));
        }
    }
    Ok(())
}

fn ceil_div(a: usize, b: usize) -> usize {
    if b == 0 {
        0
    } else {
        a.div_ceil(b)
    }
}

/// What ended a step early.
enum Outcome {
    Continue,
    Fail(String),
}

impl Account {
    fn refresh_event(&mut self, idx: usize, text: &str) {
        let r = &self.refreshes[idx];
        let line = format!(
            "autoscaling {}: instance refresh {} {} ({}%){}",
            r.group,
            r.id,
            r.status.as_str(),
            r.percentage(),
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        );
        self.event(line);
    }

    pub(crate) fn set_status(&mut self, idx: usize, status: Status, text: &str) {
        let now = self.clock;
        let r = &mut self.refreshes[idx];
        let before = r.status;
        r.status = status;
        if !status.is_active() {
            r.end_time = Some(now);
            r.wake_at = None;
            r.paused_until = None;
            r.bake_until = None;
            r.wait_since = None;
            r.unhealthy_since = None;
        }
        let text = if before == status {
            text.to_string()
        } else if text.is_empty() {
            format!("was {}", before.as_str())
        } else {
            format!("was {}; {text}", before.as_str())
        };
        self.refresh_event(idx, &text);
    }

    /// The index of the group's active refresh, if any.
    pub(crate) fn active_refresh(&self, group: &str) -> Option<usize> {
        self.refreshes
            .iter()
            .position(|r| r.group == group && r.status.is_active())
    }

    /// The spec the group launches from while a refresh is active: scale-outs during a refresh
    /// use the desired configuration ("How an instance refresh works").
    pub(crate) fn refresh_launch_spec(&self, group: &str) -> Option<TemplateSpec> {
        self.active_refresh(group)
            .and_then(|i| self.refreshes[i].launch_spec())
    }

    /// Instances a launch-before-terminate refresh holds above the desired capacity (Auto
    /// Scaling does not scale them in).
    pub(crate) fn refresh_surplus(&self, group: &str) -> usize {
        let Some(i) = self.active_refresh(group) else {
            return 0;
        };
        let live = |id: &str| self.instances.get(id).is_some_and(|i| i.live());
        self.refreshes[i]
            .in_flight
            .iter()
            .filter(|rep| live(&rep.new_id) && rep.old_id.as_deref().is_some_and(live))
            .count()
    }

    pub(crate) fn refresh_wake_times(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.refreshes
            .iter()
            .filter(|r| r.status.is_active())
            .filter_map(|r| r.wake_at)
    }

    fn refresh_view(&self, r: &RefreshState) -> InstanceRefresh {
        let to_int = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        InstanceRefresh {
            id: r.id.clone(),
            group_name: r.group.clone(),
            status: r.status.as_str().to_string(),
            status_reason: r.status_reason.clone(),
            start_time: Some(r.start_time),
            end_time: r.end_time,
            percentage_complete: Some(to_int(r.percentage())),
            instances_to_update: Some(to_int(r.pending.len() + r.in_flight.len())),
            desired_template: r.desired.as_ref().map(|d| self.spec_view(&desired_spec(d))),
        }
    }

    /// The group's refreshes, newest first (all of them, whatever their age).
    pub(crate) fn refreshes_of(&self, group: &str) -> Vec<InstanceRefresh> {
        self.refreshes
            .iter()
            .rev()
            .filter(|r| r.group == group)
            .map(|r| self.refresh_view(r))
            .collect()
    }

    // ----- the port's operations -----

    /// `StartInstanceRefresh` ("StartInstanceRefresh", "RefreshPreferences"): `Rolling` with a
    /// launch template `DesiredConfiguration` by version number, or none. One active refresh
    /// per group (`InstanceRefreshInProgress`).
    pub(crate) fn start_instance_refresh(
        &mut self,
        req: &StartRefreshRequest,
    ) -> Result<String, AwsError> {
        const OP: &str = op::START_INSTANCE_REFRESH;
        let group = req.group_name.as_str();
        if !self.groups.contains_key(group) {
            return Err(Account::group_not_found(OP, ErrorKind::NotFound, group));
        }
        let p = &req.preferences;
        validate_preferences(p).map_err(|m| invalid(OP, "ValidationError", m))?;
        let desired_template_id = match &req.desired {
            Some(d) => {
                let Some(t) = self
                    .template_id(&d.template_id)
                    .and_then(|id| self.templates.get(&id))
                else {
                    return Err(invalid(
                        OP,
                        "ValidationError",
                        format!(
                            "The launch template {} of the desired configuration does not exist",
                            d.template_id
                        ),
                    ));
                };
                if !t.versions.contains_key(&d.version) {
                    return Err(invalid(
                        OP,
                        "ValidationError",
                        format!(
                            "The desired configuration's launch template version {} of {} does not exist",
                            d.version, t.id
                        ),
                    ));
                }
                Some(t.id.clone())
            }
            None if p.auto_rollback => {
                return Err(invalid(
                    OP,
                    "ValidationError",
                    "AutoRollback requires a DesiredConfiguration, and none was given",
                ));
            }
            None => None,
        };
        // "You can only roll back to a previous version of a launch template if the version is a
        // specific numbered version" ("Undo changes with a manual or auto rollback").
        let g = self
            .groups
            .get(group)
            .ok_or_else(|| Account::group_not_found(OP, ErrorKind::NotFound, group))?;
        let group_spec = g
            .launch_template
            .as_ref()
            .or(g.mixed.as_ref().map(|m| &m.template))
            .and_then(|s| s.version.clone());
        let numbered = group_spec
            .as_deref()
            .is_some_and(|v| v.parse::<u64>().is_ok());
        if p.auto_rollback && !numbered {
            return Err(invalid(
                OP,
                "ValidationError",
                format!(
                    "AutoRollback is not supported: group {group} uses the launch template's {} version",
                    group_spec.unwrap_or_else(|| "$Default".to_string())
                ),
            ));
        }
        let saved = g
            .launch_template
            .clone()
            .or_else(|| g.mixed.as_ref().map(|m| m.template.clone()));
        // AutoRollback "is not supported [when] the Auto Scaling group has a launch template
        // that uses an AWS Systems Manager parameter instead of an AMI ID for the ImageId
        // property" ("RefreshPreferences", `AutoRollback`,
        // https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html):
        // the group's own (saved) configuration, the one a rollback returns to.
        if p.auto_rollback && saved.as_ref().is_some_and(|s| self.spec_uses_ssm(s)) {
            return Err(invalid(
                OP,
                "ValidationError",
                format!(
                    "AutoRollback is not supported: the launch template of group {group} uses an AWS Systems Manager parameter (resolve:ssm:) for ImageId"
                ),
            ));
        }
        if req.desired.is_some()
            && req
                .mixed_instances_policy
                .as_ref()
                .is_some_and(MixedInstancesPolicy::has_instance_requirements)
        {
            return Err(invalid(
                OP,
                "ValidationError",
                "A DesiredConfiguration is not supported for a group whose mixed instances policy uses InstanceRequirements",
            ));
        }
        if let Some(d) = &req.desired {
            self.check_version_visible(
                OP,
                &TemplateSpec {
                    template_id: Some(d.template_id.clone()),
                    template_name: None,
                    version: Some(d.version.to_string()),
                },
            )?;
        }
        if let Some(i) = self.active_refresh(group) {
            return Err(AwsError::new(
                OP,
                ErrorKind::Conflict,
                "InstanceRefreshInProgress",
                format!(
                    "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh (active refresh {} is {})",
                    self.refreshes[i].id,
                    self.refreshes[i].status.as_str()
                ),
            ));
        }

        // "Instance warmup: the default instance warmup, if defined, or the health check grace
        // period otherwise" ("Understand the default values for an instance refresh",
        // https://docs.aws.amazon.com/autoscaling/ec2/userguide/understand-instance-refresh-default-values.html).
        let warmup_secs = p
            .instance_warmup
            .map(i64::from)
            .or_else(|| {
                g.default_warmup
                    .and_then(|w| i64::try_from(w.as_secs()).ok())
            })
            .unwrap_or_else(|| i64::try_from(g.grace_period.as_secs()).unwrap_or(i64::MAX));
        let desired = req.desired.as_ref().map(|d| DesiredTemplate {
            template_id: desired_template_id.clone().unwrap_or_default(),
            version: d.version,
        });
        let ignore_protected = p.scale_in_protected_instances.as_deref() == Some("Ignore");
        let mut pending: Vec<String> = self
            .live_instances(group)
            .into_iter()
            .filter(|i| {
                let matches = match (&desired, p.skip_matching) {
                    (Some(d), true) => {
                        i.template_id.as_deref() == Some(d.template_id.as_str())
                            && i.template_version == Some(d.version)
                    }
                    _ => false,
                };
                let skipped = matches || (ignore_protected && i.protected);
                !skipped
            })
            .map(|i| i.id.clone())
            .collect();
        pending.sort();

        self.refresh_counter += 1;
        let id = format!("00000000-0000-4000-a000-{:012x}", self.refresh_counter);
        let now = self.clock;
        self.refreshes.push(RefreshState {
            id: id.clone(),
            group: group.to_string(),
            status: Status::Pending,
            status_reason: None,
            start_time: now,
            end_time: None,
            desired_mixed: desired
                .as_ref()
                .and(req.mixed_instances_policy.clone())
                .map(|m| MixedInstancesPolicy {
                    template: desired.as_ref().map(desired_spec).unwrap_or_default(),
                    ..m
                }),
            desired,
            prefs: p.clone(),
            saved,
            warmup_secs,
            total: pending.len(),
            pending,
            in_flight: Vec::new(),
            replaced: 0,
            launched: Vec::new(),
            next_checkpoint: 0,
            paused_until: None,
            bake_until: None,
            unhealthy_since: None,
            wait_since: None,
            wake_at: Some(now),
            rollback: None,
        });
        let idx = self.refreshes.len() - 1;
        let target = match &req.desired {
            Some(d) => format!(
                "desired {} version {}",
                desired_template_id.unwrap_or_default(),
                d.version
            ),
            None => "no desired configuration".to_string(),
        };
        let total = self.refreshes[idx].total;
        self.refresh_event(
            idx,
            &format!(
                "started ({target}; {total} instance(s) to update; min/max healthy {}/{}%)",
                p.min_healthy_percentage, p.max_healthy_percentage
            ),
        );
        Ok(id)
    }

    /// `DescribeInstanceRefreshes` ("DescribeInstanceRefreshes"): the group's refreshes of the
    /// previous six weeks, newest first.
    pub(crate) fn describe_instance_refreshes(
        &self,
        group: &str,
    ) -> Result<Vec<InstanceRefresh>, AwsError> {
        if !self.groups.contains_key(group) {
            return Err(Account::group_not_found(
                op::DESCRIBE_INSTANCE_REFRESHES,
                ErrorKind::NotFound,
                group,
            ));
        }
        let since = add_secs(self.clock, -HISTORY_SECS);
        Ok(self
            .refreshes
            .iter()
            .rev()
            .filter(|r| r.group == group && r.start_time >= since)
            .map(|r| self.refresh_view(r))
            .collect())
    }

    /// `RollbackInstanceRefresh` ("RollbackInstanceRefresh"; "Undo changes with a manual or auto
    /// rollback"): only a refresh that is `Pending`, `InProgress` or `Baking`; it must have a
    /// desired configuration whose template does not use `resolve:ssm:`.
    pub(crate) fn rollback_instance_refresh(&mut self, group: &str) -> Result<String, AwsError> {
        const OP: &str = op::ROLLBACK_INSTANCE_REFRESH;
        if !self.groups.contains_key(group) {
            return Err(Account::group_not_found(OP, ErrorKind::NotFound, group));
        }
        let Some(idx) = self.active_refresh(group).filter(|i| {
            matches!(
                self.refreshes[*i].status,
                Status::Pending | Status::InProgress | Status::Baking
            )
        }) else {
            return Err(no_active(OP, group));
        };
        let r = &self.refreshes[idx];
        if r.desired.is_none() {
            return Err(invalid(
                OP,
                "IrreversibleInstanceRefresh",
                format!(
                    "Instance refresh {} cannot be rolled back: it was started without a DesiredConfiguration",
                    r.id
                ),
            ));
        }
        // "A rollback is not supported in the following situations: There is no desired
        // configuration specified for the instance refresh. The Auto Scaling group has a launch
        // template that uses an AWS Systems Manager parameter instead of an AMI ID for the
        // ImageId property. The Auto Scaling group uses the launch template's $Latest or $Default
        // version." ("RollbackInstanceRefresh",
        // https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RollbackInstanceRefresh.html)
        // — the group's configuration saved before the refresh, the one a rollback returns to.
        let saved_version = r.saved.as_ref().and_then(|s| s.version.clone());
        if saved_version
            .as_deref()
            .is_none_or(|v| v.parse::<u64>().is_err())
        {
            return Err(invalid(
                OP,
                "IrreversibleInstanceRefresh",
                format!(
                    "Instance refresh {} cannot be rolled back: the group's previous configuration uses the launch template's {} version",
                    r.id,
                    saved_version.unwrap_or_else(|| "$Default".to_string())
                ),
            ));
        }
        if r.saved.as_ref().is_some_and(|s| self.spec_uses_ssm(s)) {
            return Err(invalid(
                OP,
                "IrreversibleInstanceRefresh",
                format!(
                    "Instance refresh {} cannot be rolled back: the group's previous launch template uses an AWS Systems Manager parameter for ImageId",
                    r.id
                ),
            ));
        }
        let id = r.id.clone();
        self.start_rollback(
            idx,
            "Rollback requested by RollbackInstanceRefresh".to_string(),
        );
        Ok(id)
    }

    /// `CancelInstanceRefresh` ("CancelInstanceRefresh",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CancelInstanceRefresh.html:
    /// "Cancels an instance refresh or rollback that is in progress [...] When you cancel an
    /// instance refresh, this does not roll back any changes that it made"): the group's refresh
    /// (or rollback) becomes `Cancelling` — no replacement starts any more, the ones under way
    /// finish (`WaitForTransitioningInstances` defaults to true) — and `Cancelled` once none is
    /// left ("The status of the instance refresh is set to Cancelling. After the cancellation is
    /// complete, the status of the instance refresh is set to Cancelled", "Cancel an instance
    /// refresh",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/cancel-instance-refresh.html). No
    /// refresh in progress, or one already `Cancelling`, is `ActiveInstanceRefreshNotFound`.
    pub(crate) fn cancel_instance_refresh(
        &mut self,
        operation: &'static str,
        group: &str,
        why: &str,
    ) -> Result<String, AwsError> {
        if !self.groups.contains_key(group) {
            return Err(Account::group_not_found(
                operation,
                ErrorKind::NotFound,
                group,
            ));
        }
        let Some(idx) = self
            .active_refresh(group)
            .filter(|i| self.refreshes[*i].status != Status::Cancelling)
        else {
            return Err(no_active(operation, group));
        };
        let now = self.clock;
        let r = &mut self.refreshes[idx];
        r.pending.clear();
        r.paused_until = None;
        r.bake_until = None;
        r.wait_since = None;
        r.wake_at = Some(now);
        r.status_reason = Some(why.to_string());
        let id = r.id.clone();
        let under_way = r.in_flight.len();
        self.set_status(
            idx,
            Status::Cancelling,
            &format!("{why}; {under_way} replacement(s) under way finish"),
        );
        Ok(id)
    }

    /// A `Cancelling` refresh: the replacements under way finish — a new instance healthy after
    /// its warm-up takes its old one's place — then it is `Cancelled`. Simplified: a new instance
    /// unhealthy after its warm-up ends the replacements still under way as a failure does
    /// (launch before terminate: the new instances go, the old ones stay).
    fn step_cancelling(&mut self, idx: usize) {
        if let Outcome::Fail(reason) = self.settle_in_flight(idx) {
            self.abandon_in_flight(idx);
            self.refreshes[idx].status_reason = Some(reason);
        }
        if self.refreshes[idx].in_flight.is_empty() {
            self.set_status(idx, Status::Cancelled, "");
        }
    }

    /// Whether the version a spec resolves to now takes its ImageId from an SSM parameter.
    fn spec_uses_ssm(&self, spec: &TemplateSpec) -> bool {
        self.spec_template_id(spec)
            .and_then(|id| self.templates.get(&id))
            .and_then(|t| {
                t.resolve(spec.version.as_deref())
                    .ok()
                    .and_then(|n| t.versions.get(&n))
            })
            .and_then(|v| v.data.image_id.as_deref())
            .is_some_and(|i| i.starts_with("resolve:ssm:"))
    }

    // ----- progress -----

    /// Turn the refresh into a rollback: abandon launch-before-terminate replacements under way
    /// (their old instances stay), then replace every instance the refresh launched from the
    /// group's own configuration.
    fn start_rollback(&mut self, idx: usize, reason: String) {
        let now = self.clock;
        self.abandon_in_flight(idx);
        let start_percentage = self.refreshes[idx].percentage();
        let mut restore: Vec<String> = self.refreshes[idx]
            .launched
            .iter()
            .filter(|id| self.instances.get(*id).is_some_and(|i| i.live()))
            .cloned()
            .collect();
        restore.sort();
        let r = &mut self.refreshes[idx];
        r.rollback = Some(RollbackState {
            reason: reason.clone(),
            total: restore.len(),
            start_percentage,
        });
        r.pending = restore;
        r.in_flight.clear();
        r.replaced = 0;
        r.paused_until = None;
        r.bake_until = None;
        r.wait_since = None;
        r.wake_at = Some(now);
        r.status_reason = Some(reason.clone());
        let back_to = r
            .saved
            .as_ref()
            .map(|s| {
                format!(
                    "{} version {}",
                    s.template_id
                        .clone()
                        .or_else(|| s.template_name.clone())
                        .unwrap_or_default(),
                    s.version.clone().unwrap_or_else(|| "$Default".to_string())
                )
            })
            .unwrap_or_else(|| "the group's configuration".to_string());
        let total = r.pending.len();
        self.set_status(
            idx,
            Status::RollbackInProgress,
            &format!("{reason}; replacing {total} instance(s) back with {back_to}"),
        );
    }

    /// Abandon the replacements under way: a launch-before-terminate one loses its new instance
    /// (its old one stays); a terminate-then-launch one keeps what it launched.
    fn abandon_in_flight(&mut self, idx: usize) {
        let abandoned: Vec<String> = self.refreshes[idx]
            .in_flight
            .drain(..)
            .filter(|rep| rep.old_id.is_some())
            .map(|rep| rep.new_id)
            .collect();
        for id in &abandoned {
            self.begin_termination(id);
        }
    }

    /// A failure: roll back (forward refresh with `AutoRollback`) or end `Failed` /
    /// `RollbackFailed`. Unfinished launch-before-terminate replacements are abandoned.
    fn fail_refresh(&mut self, idx: usize, reason: String) {
        let r = &self.refreshes[idx];
        if r.rollback.is_none() && r.prefs.auto_rollback && r.desired.is_some() {
            self.start_rollback(idx, reason);
            return;
        }
        self.abandon_in_flight(idx);
        let status = if self.refreshes[idx].rollback.is_some() {
            Status::RollbackFailed
        } else {
            Status::Failed
        };
        self.refreshes[idx].status_reason = Some(reason.clone());
        self.set_status(idx, status, &reason);
    }

    /// The forward refresh is done: bake, then `Successful` and the group takes the desired
    /// configuration ("How an instance refresh works").
    fn finish_forward(&mut self, idx: usize) {
        let now = self.clock;
        let bake = self.refreshes[idx].prefs.bake_time.unwrap_or(0);
        if bake > 0 && self.refreshes[idx].status != Status::Baking {
            let until = add_secs(now, i64::from(bake));
            let r = &mut self.refreshes[idx];
            r.bake_until = Some(until);
            r.status_reason = Some(format!("Baking for {bake} seconds"));
            self.set_status(idx, Status::Baking, &format!("baking for {bake} s"));
            return;
        }
        let r = &mut self.refreshes[idx];
        r.status_reason = None;
        let group = r.group.clone();
        let desired = r.desired.clone();
        let desired_mixed = r.desired_mixed.clone();
        self.set_status(idx, Status::Successful, "");
        if let Some(d) = desired {
            // "After the instance refresh succeeds, Amazon EC2 Auto Scaling updates the Auto
            // Scaling group settings to reflect the new desired configuration" ("How an instance
            // refresh works",
            // https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html):
            // the group takes the desired configuration as given — a desired LaunchTemplate
            // replaces a mixed instances policy too, and a desired MixedInstancesPolicy replaces
            // the group's whole policy (what it leaves out is reset).
            let spec = desired_spec(&d);
            if let Some(g) = self.groups.get_mut(&group) {
                match desired_mixed {
                    Some(m) => {
                        g.mixed = Some(m);
                        g.launch_template = None;
                    }
                    None => {
                        g.mixed = None;
                        g.launch_template = Some(spec);
                    }
                }
            }
            self.event(format!(
                "autoscaling {group}: launch template set to {} version {} by the instance refresh",
                d.template_id, d.version
            ));
        }
    }

    /// Process every active refresh.
    pub(crate) fn step_refreshes(&mut self) {
        let active: Vec<usize> = (0..self.refreshes.len())
            .filter(|i| self.refreshes[*i].status.is_active())
            .collect();
        for idx in active {
            // A step can unblock the next one (a status change, a pause ending, a rollback
            // starting); repeat until nothing changes.
            for _ in 0..100 {
                let before = self.refreshes[idx].progress_key();
                self.step_refresh(idx);
                if self.refreshes[idx].progress_key() == before {
                    break;
                }
            }
            let group = self.refreshes[idx].group.clone();
            self.observe(&group);
            self.refreshes[idx].wake_at = self.compute_wake(idx);
        }
    }

    fn compute_wake(&self, idx: usize) -> Option<Timestamp> {
        let r = &self.refreshes[idx];
        if !r.status.is_active() {
            return None;
        }
        let now = self.clock;
        let mut times: Vec<Timestamp> = Vec::new();
        for rep in &r.in_flight {
            if let Some(i) = self.instances.get(&rep.new_id) {
                match i.lifecycle {
                    Lifecycle::Pending => times.push(i.ready_at),
                    Lifecycle::InService => times.push(add_secs(i.ready_at, r.warmup_secs)),
                    Lifecycle::TerminatingWait | Lifecycle::Terminated => {}
                }
            }
        }
        times.extend(r.paused_until);
        times.extend(r.bake_until);
        times.extend(r.wait_since.map(|t| add_secs(t, PROTECTED_WAIT_SECS)));
        times.extend(r.unhealthy_since.map(|t| add_secs(t, UNHEALTHY_RETRY_SECS)));
        times.into_iter().filter(|t| *t > now).min()
    }

    fn instance_live(&self, id: &str) -> bool {
        self.instances.get(id).is_some_and(|i| i.live())
    }

    /// Whether `id` is an old instance the refresh began terminating that a terminating
    /// lifecycle hook still holds in `Terminating:Wait`. AWS runs terminating hooks for
    /// "Instance Refresh: Replacement instances" ("Amazon EC2 Auto Scaling lifecycle hooks",
    /// Lifecycle hook availability,
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html) and lets a
    /// cancelled refresh "wait for in-flight launches and terminations to complete"
    /// ("CancelInstanceRefresh", `WaitForTransitioningInstances`,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CancelInstanceRefresh.html),
    /// but does not say when a replacement whose old instance is held counts as done. The
    /// conservative reading is modelled: only once the old instance has terminated — the
    /// refresh's percentage, its checkpoints, its end and a cancellation wait for it; further
    /// replacements still start within the healthy percentages (a held instance is not in
    /// service, so it is not counted as healthy capacity).
    pub(crate) fn terminating_held(&self, id: Option<&str>) -> bool {
        id.and_then(|id| self.instances.get(id))
            .is_some_and(|i| i.lifecycle == Lifecycle::TerminatingWait)
    }

    fn step_refresh(&mut self, idx: usize) {
        let now = self.clock;
        if !self.refreshes[idx].status.is_active() {
            return;
        }
        if self.refreshes[idx].status == Status::Cancelling {
            self.step_cancelling(idx);
            return;
        }
        if self.refreshes[idx].status == Status::Pending {
            self.set_status(idx, Status::InProgress, "");
        }
        if self.refreshes[idx].status == Status::Baking {
            if self.refreshes[idx].bake_until.is_some_and(|t| t <= now) {
                self.finish_forward(idx);
            }
            return;
        }
        if let Outcome::Fail(reason) = self.settle_in_flight(idx) {
            self.fail_refresh(idx, reason);
            return;
        }
        let rolling_back = self.refreshes[idx].status == Status::RollbackInProgress;

        // Checkpoint pause ("RefreshPreferences": CheckpointPercentages / CheckpointDelay).
        if let Some(until) = self.refreshes[idx].paused_until {
            if until > now {
                return;
            }
            let r = &mut self.refreshes[idx];
            r.paused_until = None;
            r.status_reason = None;
            self.refresh_event(idx, "checkpoint delay over");
        }

        let r = &self.refreshes[idx];
        let percentage = r.percentage();
        let checkpoint = if rolling_back {
            None
        } else {
            r.prefs
                .checkpoint_percentages
                .get(r.next_checkpoint)
                .and_then(|c| usize::try_from(*c).ok())
        };
        if let Some(cp) = checkpoint {
            if r.in_flight.is_empty() && percentage >= cp && percentage < 100 {
                let delay = r
                    .prefs
                    .checkpoint_delay
                    .map_or(DEFAULT_CHECKPOINT_DELAY_SECS, i64::from);
                let until = add_secs(now, delay);
                let cps = r.prefs.checkpoint_percentages.clone();
                let r = &mut self.refreshes[idx];
                while cps
                    .get(r.next_checkpoint)
                    .and_then(|c| usize::try_from(*c).ok())
                    .is_some_and(|c| c <= percentage)
                {
                    r.next_checkpoint += 1;
                }
                if r.next_checkpoint >= cps.len() {
                    // The last checkpoint, below 100: "The percentage of the Auto Scaling group
                    // that needs to be successfully replaced is indicated by the last value
                    // [...] in the CheckpointPercentages array" ("Add checkpoints to an instance
                    // refresh",
                    // https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-adding-checkpoints-instance-refresh.html):
                    // reaching it ends the refresh, with no delay.
                    self.refresh_event(idx, &format!("last checkpoint {cp}% reached"));
                    self.finish_forward(idx);
                    return;
                }
                r.paused_until = Some(until);
                r.status_reason = Some(format!(
                    "Waiting for checkpoint: {percentage}% complete, resuming at {}",
                    crate::account::fmt_time(until)
                ));
                self.refresh_event(idx, &format!("checkpoint {cp}% reached; waiting {delay} s"));
                return;
            }
        }

        let r = &self.refreshes[idx];
        if r.pending.is_empty() && r.in_flight.is_empty() {
            if rolling_back {
                let r = &mut self.refreshes[idx];
                if let Some(rb) = &r.rollback {
                    r.status_reason = Some(rb.reason.clone());
                }
                self.set_status(idx, Status::RollbackSuccessful, "");
            } else {
                self.finish_forward(idx);
            }
            return;
        }

        // Processes that stop a refresh ("Suspend and resume Amazon EC2 Auto Scaling processes").
        let group = r.group.clone();
        let suspended = self.groups.get(&group).and_then(|g| {
            ["InstanceRefresh", "Launch", "Terminate"]
                .into_iter()
                .find(|p| g.suspended.contains(*p))
        });
        if let Some(p) = suspended {
            self.refreshes[idx].status_reason =
                Some(format!("Waiting: the group's {p} process is suspended"));
            return;
        }
        // A cap so that the refresh stops at the next checkpoint.
        let r = &self.refreshes[idx];
        let cap = checkpoint
            .filter(|cp| *cp < 100)
            .map(|cp| ceil_div(r.total * cp, 100))
            .unwrap_or(usize::MAX);
        if let Outcome::Fail(reason) = self.start_replacements(idx, cap) {
            self.fail_refresh(idx, reason);
        }
    }

    /// Drop vanished instances, complete replacements whose new instance is healthy and warmed
    /// up, and report a new instance that is not healthy after its warm-up.
    fn settle_in_flight(&mut self, idx: usize) -> Outcome {
        let now = self.clock;

        // Old instances that left the group another way need no replacement.
        let pending = std::mem::take(&mut self.refreshes[idx].pending);
        let (kept, gone): (Vec<String>, Vec<String>) =
            pending.into_iter().partition(|id| self.instance_live(id));
        self.refreshes[idx].pending = kept;
        self.refreshes[idx].replaced += gone.len();

        let in_flight = std::mem::take(&mut self.refreshes[idx].in_flight);
        let warmup = self.refreshes[idx].warmup_secs;
        let mut kept = Vec::new();
        let mut outcome = Outcome::Continue;
        for rep in in_flight {
            if matches!(outcome, Outcome::Fail(_)) {
                kept.push(rep);
                continue;
            }
            // An old instance a terminating lifecycle hook holds: the replacement is done once
            // it has terminated (see `Account::terminating_held`).
            if rep.finishing {
                if self.terminating_held(rep.old_terminating.as_deref()) {
                    kept.push(rep);
                } else {
                    self.refreshes[idx].replaced += 1;
                }
                continue;
            }
            let Some(new) = self.instances.get(&rep.new_id).filter(|i| i.live()) else {
                // The new instance left the group (scale-in): replace its old one again later.
                match rep.old_id.clone().filter(|o| self.instance_live(o)) {
                    Some(old) => self.refreshes[idx].pending.insert(0, old),
                    None if self.terminating_held(rep.old_terminating.as_deref()) => {
                        kept.push(Replacement {
                            finishing: true,
                            ..rep
                        });
                    }
                    None => self.refreshes[idx].replaced += 1,
                }
                continue;
            };
            if new.lifecycle != Lifecycle::InService || add_secs(new.ready_at, warmup) > now {
                kept.push(rep);
                continue;
            }
            // Judged as Auto Scaling reports it: a warm-up shorter than the grace period lets a
            // failing instance pass (Auto Scaling replaces it later, outside the refresh).
            if !new.reported_healthy(now) {
                // "If the new instances don't pass their health checks, Amazon EC2 Auto Scaling
                // terminates and replaces them. If the instance refresh can't launch any healthy
                // instances, it will eventually fail" ("How an instance refresh works").
                let image = new.image_id.clone();
                let since = *self.refreshes[idx].unhealthy_since.get_or_insert(now);
                if add_secs(since, UNHEALTHY_RETRY_SECS) <= now {
                    outcome = Outcome::Fail(format!(
                        "New instances did not pass their health checks for {UNHEALTHY_RETRY_SECS} s: instance {} ({image}) is InService but Unhealthy after its warm-up of {warmup} s",
                        rep.new_id
                    ));
                    kept.push(rep);
                    continue;
                }
                self.begin_termination(&rep.new_id);
                self.refresh_event(
                    idx,
                    &format!(
                        "new instance {} ({image}) is Unhealthy after its warm-up; replacing it",
                        rep.new_id
                    ),
                );
                match rep.old_id.filter(|o| self.instance_live(o)) {
                    // Launch before terminate: its old instance is still there, replace it again.
                    Some(old) => self.refreshes[idx].pending.insert(0, old),
                    // Terminate then launch: launch another replacement now.
                    None => {
                        let group = self.refreshes[idx].group.clone();
                        let spec = self.refreshes[idx].launch_spec();
                        match self.launch_from(&group, spec) {
                            Ok(id) => {
                                if self.refreshes[idx].rollback.is_none() {
                                    self.refreshes[idx].launched.push(id.clone());
                                }
                                kept.push(Replacement {
                                    new_id: id,
                                    old_id: None,
                                    old_terminating: rep.old_terminating.clone(),
                                    finishing: false,
                                });
                            }
                            Err(reason) => {
                                outcome = Outcome::Fail(format!(
                                    "Failed to launch a replacement instance: {reason}"
                                ));
                            }
                        }
                    }
                }
                continue;
            }
            let mut old_terminating = rep.old_terminating.clone();
            if let Some(old) = &rep.old_id {
                self.begin_termination(old);
                old_terminating = Some(old.clone());
            }
            self.refreshes[idx].unhealthy_since = None;
            if self.terminating_held(old_terminating.as_deref()) {
                kept.push(Replacement {
                    new_id: rep.new_id,
                    old_id: None,
                    old_terminating,
                    finishing: true,
                });
            } else {
                self.refreshes[idx].replaced += 1;
            }
        }
        self.refreshes[idx].in_flight = kept;
        outcome
    }

    /// Start as many replacements as the healthy percentages allow ("RefreshPreferences":
    /// `MinHealthyPercentage`, `MaxHealthyPercentage`).
    fn start_replacements(&mut self, idx: usize, cap: usize) -> Outcome {
        let now = self.clock;
        let r = &self.refreshes[idx];
        let group = r.group.clone();
        let Some(g) = self.groups.get(&group) else {
            return Outcome::Continue;
        };
        let d = usize::try_from(g.desired).unwrap_or(0);
        let min_pct = usize::try_from(r.prefs.min_healthy_percentage).unwrap_or(0);
        let max_pct = usize::try_from(r.prefs.max_healthy_percentage).unwrap_or(100);
        let floor = ceil_div(d * min_pct, 100);
        let ceiling = d * max_pct / 100;
        let spec = r.launch_spec();
        let wait_protected = r.protection_policy() == "Wait";

        // Healthy = InService, healthy and not still warming up as a replacement. An instance a
        // terminating lifecycle hook holds is not live, so not counted either way.
        let warming: Vec<&str> = r
            .in_flight
            .iter()
            .filter(|rep| rep.warming())
            .map(|rep| rep.new_id.as_str())
            .collect();
        let live = self.live_instances(&group);
        let mut total_live = live.len();
        let mut healthy = live
            .iter()
            .filter(|i| i.in_service_reported_healthy(now) && !warming.contains(&i.id.as_str()))
            .count();

        let eligible: Vec<String> = r
            .pending
            .iter()
            .filter(|id| !(wait_protected && self.instances.get(*id).is_some_and(|i| i.protected)))
            .cloned()
            .collect();
        if eligible.is_empty() {
            if r.in_flight.is_empty() && !r.pending.is_empty() {
                let since = r.wait_since.unwrap_or(now);
                let list = r.pending.join(", ");
                let r = &mut self.refreshes[idx];
                if r.wait_since.is_none() {
                    r.wait_since = Some(since);
                    r.status_reason = Some(format!(
                        "Waiting for scale-in protection to be removed from {list} (ScaleInProtectedInstances is Wait)"
                    ));
                    self.refresh_event(idx, &format!("waiting for protected instance(s) {list}"));
                }
                if add_secs(since, PROTECTED_WAIT_SECS) <= now {
                    return Outcome::Fail(format!(
                        "Instance refresh waited {PROTECTED_WAIT_SECS} seconds for scale-in protection to be removed from {list} (ScaleInProtectedInstances is Wait)"
                    ));
                }
            }
            return Outcome::Continue;
        }
        if self.refreshes[idx].wait_since.take().is_some() {
            self.refreshes[idx].status_reason = None;
        }

        let started = self.refreshes[idx].replaced + self.refreshes[idx].in_flight.len();
        for old in eligible.into_iter().take(cap.saturating_sub(started)) {
            let old_healthy = self
                .instances
                .get(&old)
                .is_some_and(|i| i.in_service_reported_healthy(now));
            let nothing_under_way = self.refreshes[idx].in_flight.is_empty();
            let launch_first = max_pct > 100 && total_live < ceiling;
            let terminate_first = !old_healthy || healthy > floor;
            // With nothing under way and no room either way, replace one at a time anyway (as
            // MinHealthyPercentage=100 without a higher maximum does).
            let forced = nothing_under_way && !launch_first && !terminate_first;
            if !(launch_first || terminate_first || forced) {
                break;
            }
            let new = match self.launch_from(&group, spec.clone()) {
                Ok(id) => id,
                Err(reason) => {
                    return Outcome::Fail(format!(
                        "Failed to launch a replacement instance: {reason}"
                    ));
                }
            };
            if self.refreshes[idx].rollback.is_none() {
                self.refreshes[idx].launched.push(new.clone());
            }
            self.refreshes[idx].pending.retain(|p| p != &old);
            if launch_first {
                total_live += 1;
                self.refreshes[idx].in_flight.push(Replacement {
                    new_id: new,
                    old_id: Some(old),
                    old_terminating: None,
                    finishing: false,
                });
            } else {
                if old_healthy {
                    healthy = healthy.saturating_sub(1);
                }
                self.begin_termination(&old);
                self.refreshes[idx].in_flight.push(Replacement {
                    new_id: new,
                    old_id: None,
                    old_terminating: Some(old),
                    finishing: false,
                });
            }
        }
        Outcome::Continue
    }
}
