//! Lifecycle hooks on instance termination ("Amazon EC2 Auto Scaling lifecycle hooks", "How
//! lifecycle hooks work in Auto Scaling groups", "PutLifecycleHook", "CompleteLifecycleAction",
//! "RecordLifecycleActionHeartbeat", "DeleteLifecycleHook", Amazon EC2 Auto Scaling User Guide /
//! API Reference).
//!
//! - Whenever Auto Scaling terminates an instance of a group that has `EC2_INSTANCE_TERMINATING`
//!   hooks — scale-in, instance refresh replacements, unhealthy replacements — the instance goes
//!   to `Terminating:Wait` ([`Account::begin_termination`]): "When a scale-in event occurs, a
//!   lifecycle hook pauses the instance before it is terminated" ("Amazon EC2 Auto Scaling
//!   lifecycle hooks", https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html;
//!   the table "Lifecycle hook availability" lists instance refresh replacements, and footnote 1
//!   says hooks apply to "all launches and terminations, whether they are initiated automatically
//!   or manually" but not to "delete the group with the force delete option"). The EC2 instance
//!   keeps running, its container instance and tasks are untouched, the group lists it, and it no
//!   longer counts toward the group's capacity ([`crate::account::InstanceState::live`]).
//! - Each terminating hook the group has when the wait begins starts one lifecycle action (all at
//!   once; AWS does not document an order). An action ends on `CompleteLifecycleAction`, or
//!   with the hook's default result when it times out: the heartbeat timeout after the start or
//!   the last `RecordLifecycleActionHeartbeat`, never later than the global timeout ("48 hours or
//!   100 times the heartbeat timeout, whichever is smaller", "Considerations and limitations").
//!   "If an instance is terminating, both abandon and continue allow the instance to terminate.
//!   However, abandon stops any remaining actions, such as other lifecycle hooks, and continue
//!   allows any other lifecycle hooks to complete" (same page): an `ABANDON` ends every action of
//!   the instance. With none left, the instance goes `Terminating:Proceed` and terminates at once.
//! - `EC2_INSTANCE_LAUNCHING` hooks are stored and described but hold nothing (no
//!   `Pending:Wait`; `docs/fidelity.md`).

use amiroll_core::port::{
    op, AwsError, ErrorKind, LifecycleActionResult, LifecycleHook, PutLifecycleHookRequest,
    Timestamp, LIFECYCLE_TRANSITION_LAUNCHING, LIFECYCLE_TRANSITION_TERMINATING,
};

use crate::account::{add_secs, Account, Lifecycle};
use crate::types::{ActionEnd, ActionEndKind, LifecycleAction, LifecycleWait};

/// `HeartbeatTimeout` range and default ("PutLifecycleHook": "The range is from 30 to 7200
/// seconds. The default value is 3600 seconds").
pub(crate) const MIN_HEARTBEAT_SECS: u32 = 30;
pub(crate) const MAX_HEARTBEAT_SECS: u32 = 7200;
pub(crate) const DEFAULT_HEARTBEAT_SECS: u32 = 3600;
/// The longest wait: "The global timeout is 48 hours or 100 times the heartbeat timeout,
/// whichever is smaller".
pub(crate) const MAX_GLOBAL_TIMEOUT_SECS: u32 = 48 * 3600;
/// "If you exceed your maximum limit of lifecycle hooks, which by default is 50 per Auto Scaling
/// group, the call fails" ("PutLifecycleHook").
pub(crate) const MAX_HOOKS_PER_GROUP: usize = 50;

/// The global timeout of a hook with this heartbeat timeout.
pub(crate) fn global_timeout_secs(heartbeat_secs: u32) -> u32 {
    heartbeat_secs
        .saturating_mul(100)
        .min(MAX_GLOBAL_TIMEOUT_SECS)
}

fn validation(operation: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::new(operation, ErrorKind::Invalid, "ValidationError", message)
}

/// `LifecycleHookName`: "Minimum length of 1. Maximum length of 255. Pattern:
/// `[A-Za-z0-9\-_\/]+`" ("PutLifecycleHook").
pub(crate) fn is_hook_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/'))
}

fn result_of(text: &str) -> LifecycleActionResult {
    if text == "CONTINUE" {
        LifecycleActionResult::Continue
    } else {
        LifecycleActionResult::Abandon
    }
}

impl Account {
    fn no_active_action(operation: &'static str, instance: &str) -> AwsError {
        validation(
            operation,
            format!("No active Lifecycle Action found with instance ID {instance}"),
        )
    }

    // ----- the port's operations -----

    /// `PutLifecycleHook` ("PutLifecycleHook",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html):
    /// creates the hook, or updates the one of that name. Checked: the group exists, the name
    /// (1–255 of `[A-Za-z0-9-_/]`), the transition (one of the two), `HeartbeatTimeout` 30–7200,
    /// `DefaultResult` `CONTINUE`/`ABANDON` (all `ValidationError`), and at most 50 hooks per
    /// group (`LimitExceeded`). A new hook gets 3600 s and `ABANDON` unless given; an update
    /// keeps the values it is not given (the transition being "optional when updating existing
    /// hooks" says as much; the rest is inferred). Actions already under way keep the timeouts
    /// they started with (a heartbeat then uses the hook's new one).
    pub(crate) fn put_lifecycle_hook(
        &mut self,
        operation: &'static str,
        req: &PutLifecycleHookRequest,
    ) -> Result<(), AwsError> {
        let group = req.group_name.as_str();
        let Some(g) = self.groups.get(group) else {
            return Err(Account::group_not_found(
                operation,
                ErrorKind::Invalid,
                group,
            ));
        };
        if !is_hook_name(&req.name) {
            return Err(validation(
                operation,
                format!(
                    "1 validation error detected: Value '{}' at 'lifecycleHookName' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9\\-_\\/]+ and have length between 1 and 255",
                    req.name
                ),
            ));
        }
        if ![
            LIFECYCLE_TRANSITION_TERMINATING,
            LIFECYCLE_TRANSITION_LAUNCHING,
        ]
        .contains(&req.transition.as_str())
        {
            return Err(validation(
                operation,
                format!("Invalid Lifecycle Transition name: {}", req.transition),
            ));
        }
        if let Some(h) = req.heartbeat_timeout_secs {
            if !(MIN_HEARTBEAT_SECS..=MAX_HEARTBEAT_SECS).contains(&h) {
                return Err(validation(
                    operation,
                    format!(
                        "Heartbeat timeout must be between {MIN_HEARTBEAT_SECS} and {MAX_HEARTBEAT_SECS} seconds (got {h})"
                    ),
                ));
            }
        }
        if let Some(r) = &req.default_result {
            if !["CONTINUE", "ABANDON"].contains(&r.as_str()) {
                return Err(validation(
                    operation,
                    format!("Invalid default result: {r} (CONTINUE or ABANDON)"),
                ));
            }
        }
        let existing = g.hooks.get(&req.name).cloned();
        if existing.is_none() && g.hooks.len() >= MAX_HOOKS_PER_GROUP {
            return Err(AwsError::new(
                operation,
                ErrorKind::Other,
                "LimitExceeded",
                format!(
                    "Lifecycle hook limit of {MAX_HOOKS_PER_GROUP} reached for Auto Scaling group {group}"
                ),
            ));
        }
        let heartbeat = req
            .heartbeat_timeout_secs
            .or(existing.as_ref().map(|h| h.heartbeat_timeout_secs))
            .unwrap_or(DEFAULT_HEARTBEAT_SECS);
        let default_result = req
            .default_result
            .clone()
            .or(existing.as_ref().map(|h| h.default_result.clone()))
            .unwrap_or_else(|| "ABANDON".to_string());
        let hook = LifecycleHook {
            group_name: group.to_string(),
            name: req.name.clone(),
            transition: req.transition.clone(),
            heartbeat_timeout_secs: heartbeat,
            global_timeout_secs: global_timeout_secs(heartbeat),
            default_result,
        };
        let text = format!(
            "autoscaling {group}: lifecycle hook {} {} ({}, heartbeat {} s, global {} s, default {})",
            hook.name,
            if existing.is_some() { "updated" } else { "created" },
            hook.transition,
            hook.heartbeat_timeout_secs,
            hook.global_timeout_secs,
            hook.default_result
        );
        if let Some(g) = self.groups.get_mut(group) {
            g.hooks.insert(hook.name.clone(), hook);
        }
        self.event(text);
        Ok(())
    }

    /// `DescribeLifecycleHooks` ("DescribeLifecycleHooks"): the group's hooks, by name; an
    /// unknown group is a `ValidationError`.
    pub(crate) fn describe_lifecycle_hooks(
        &self,
        group: &str,
    ) -> Result<Vec<LifecycleHook>, AwsError> {
        self.groups
            .get(group)
            .map(|g| g.hooks.values().cloned().collect())
            .ok_or_else(|| {
                Account::group_not_found(op::DESCRIBE_LIFECYCLE_HOOKS, ErrorKind::Invalid, group)
            })
    }

    /// `DeleteLifecycleHook` ("DeleteLifecycleHook",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteLifecycleHook.html):
    /// "If there are any outstanding lifecycle actions, they are completed first (ABANDON for
    /// launching instances, CONTINUE for terminating instances)". An unknown group is a
    /// `ValidationError`; an unknown hook is not an error (the page lists none).
    pub(crate) fn delete_lifecycle_hook(
        &mut self,
        operation: &'static str,
        group: &str,
        name: &str,
    ) -> Result<(), AwsError> {
        let Some(g) = self.groups.get_mut(group) else {
            return Err(Account::group_not_found(
                operation,
                ErrorKind::Invalid,
                group,
            ));
        };
        if g.hooks.remove(name).is_none() {
            return Ok(());
        }
        self.event(format!(
            "autoscaling {group}: lifecycle hook {name} deleted"
        ));
        for (id, idx) in self.open_actions(|i, a| i.group == group && a.hook == name) {
            self.end_action(
                &id,
                idx,
                LifecycleActionResult::Continue,
                ActionEndKind::HookDeleted,
            );
        }
        Ok(())
    }

    /// The action of `hook` on `instance` that is under way, as (instance id, action index):
    /// the group and the hook exist, and the instance is the group's, in `Terminating:Wait`, with
    /// that hook's action not ended. Otherwise a `ValidationError`.
    fn active_action(
        &self,
        operation: &'static str,
        group: &str,
        hook: &str,
        instance: &str,
    ) -> Result<usize, AwsError> {
        let Some(g) = self.groups.get(group) else {
            return Err(Account::group_not_found(
                operation,
                ErrorKind::Invalid,
                group,
            ));
        };
        if !g.hooks.contains_key(hook) {
            return Err(validation(
                operation,
                format!("No Lifecycle Hook found with name {hook} for Auto Scaling group {group}"),
            ));
        }
        self.instances
            .get(instance)
            .filter(|i| i.group == group && i.lifecycle == Lifecycle::TerminatingWait)
            .and_then(|i| i.wait.as_ref())
            .and_then(|w| {
                w.actions
                    .iter()
                    .position(|a| a.hook == hook && a.ended.is_none())
            })
            .ok_or_else(|| Account::no_active_action(operation, instance))
    }

    /// `CompleteLifecycleAction` by instance id ("CompleteLifecycleAction",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html):
    /// ends the hook's action with `result`; the instance terminates once no action is left
    /// (at once after an `ABANDON`).
    pub(crate) fn complete_lifecycle_action(
        &mut self,
        group: &str,
        hook: &str,
        instance: &str,
        result: LifecycleActionResult,
    ) -> Result<(), AwsError> {
        let idx = self.active_action(op::COMPLETE_LIFECYCLE_ACTION, group, hook, instance)?;
        self.end_action(instance, idx, result, ActionEndKind::Completed);
        Ok(())
    }

    /// `RecordLifecycleActionHeartbeat` by instance id ("RecordLifecycleActionHeartbeat": "This
    /// extends the timeout by the length of time defined using the PutLifecycleHook API call",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html):
    /// the action now times out the hook's heartbeat timeout from now, but never after its
    /// global timeout.
    pub(crate) fn record_lifecycle_action_heartbeat(
        &mut self,
        group: &str,
        hook: &str,
        instance: &str,
    ) -> Result<(), AwsError> {
        const OP: &str = op::RECORD_LIFECYCLE_ACTION_HEARTBEAT;
        let idx = self.active_action(OP, group, hook, instance)?;
        let now = self.clock;
        let heartbeat = self
            .groups
            .get(group)
            .and_then(|g| g.hooks.get(hook))
            .map_or(DEFAULT_HEARTBEAT_SECS, |h| h.heartbeat_timeout_secs);
        let Some(a) = self
            .instances
            .get_mut(instance)
            .and_then(|i| i.wait.as_mut())
            .and_then(|w| w.actions.get_mut(idx))
        else {
            return Err(Account::no_active_action(OP, instance));
        };
        a.deadline = add_secs(now, i64::from(heartbeat)).min(a.global_deadline);
        let deadline = a.deadline;
        self.event(format!(
            "autoscaling {group}: {instance} lifecycle action {hook} heartbeat; times out at {}",
            crate::account::fmt_time(deadline)
        ));
        Ok(())
    }

    // ----- Auto Scaling's own behaviour -----

    /// Auto Scaling terminates `id` (scale-in, an instance refresh, an unhealthy replacement):
    /// with terminating lifecycle hooks on its group, the instance goes to `Terminating:Wait`
    /// and one action per hook starts; without, it terminates at once. An instance that is not
    /// live (already waiting, or terminated) is left as it is.
    pub(crate) fn begin_termination(&mut self, id: &str) {
        let now = self.clock;
        let Some(i) = self.instances.get(id).filter(|i| i.live()) else {
            return;
        };
        let group = i.group.clone();
        let hooks: Vec<LifecycleHook> = self
            .groups
            .get(&group)
            .map(|g| {
                g.hooks
                    .values()
                    .filter(|h| h.is_terminating())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if hooks.is_empty() {
            self.terminate(id);
            return;
        }
        let actions: Vec<LifecycleAction> = hooks
            .iter()
            .map(|h| {
                let global_deadline = add_secs(now, i64::from(h.global_timeout_secs));
                LifecycleAction {
                    hook: h.name.clone(),
                    heartbeat_timeout_secs: h.heartbeat_timeout_secs,
                    default_result: result_of(&h.default_result),
                    deadline: add_secs(now, i64::from(h.heartbeat_timeout_secs))
                        .min(global_deadline),
                    global_deadline,
                    ended: None,
                }
            })
            .collect();
        let names: Vec<&str> = hooks.iter().map(|h| h.name.as_str()).collect();
        let text = format!(
            "autoscaling {group}: {id} Terminating:Wait (hook {})",
            names.join(", ")
        );
        if let Some(i) = self.instances.get_mut(id) {
            i.lifecycle = Lifecycle::TerminatingWait;
            i.wait = Some(LifecycleWait {
                since: now,
                ended_at: None,
                actions,
            });
        }
        self.event(text);
    }

    /// The actions under way that `select` picks, as (instance id, action index).
    fn open_actions(
        &self,
        select: impl Fn(&crate::account::InstanceState, &LifecycleAction) -> bool,
    ) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for i in self
            .instances
            .values()
            .filter(|i| i.lifecycle == Lifecycle::TerminatingWait)
        {
            let Some(w) = &i.wait else {
                continue;
            };
            for (idx, a) in w.actions.iter().enumerate() {
                if a.ended.is_none() && select(i, a) {
                    out.push((i.id.clone(), idx));
                }
            }
        }
        out
    }

    /// When the next lifecycle action times out.
    pub(crate) fn lifecycle_wake_times(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.instances
            .values()
            .filter(|i| i.lifecycle == Lifecycle::TerminatingWait)
            .filter_map(|i| i.wait.as_ref())
            .flat_map(|w| {
                w.actions
                    .iter()
                    .filter(|a| a.ended.is_none())
                    .map(|a| a.deadline)
            })
    }

    /// End every action whose timeout has passed, with its hook's default result.
    pub(crate) fn lifecycle_timeouts(&mut self) {
        let now = self.clock;
        let mut due: Vec<(Timestamp, String, usize)> = Vec::new();
        for (id, idx) in self.open_actions(|_, a| a.deadline <= now) {
            if let Some(a) = self
                .instances
                .get(&id)
                .and_then(|i| i.wait.as_ref())
                .and_then(|w| w.actions.get(idx))
            {
                due.push((a.deadline, id, idx));
            }
        }
        due.sort();
        for (_, id, idx) in due {
            let Some(result) = self
                .instances
                .get(&id)
                .and_then(|i| i.wait.as_ref())
                .and_then(|w| w.actions.get(idx))
                .filter(|a| a.ended.is_none())
                .map(|a| a.default_result)
            else {
                continue;
            };
            self.end_action(&id, idx, result, ActionEndKind::TimedOut);
        }
    }

    /// End one action; an `ABANDON` ends the instance's other actions too. With none left the
    /// instance goes `Terminating:Proceed` and terminates.
    fn end_action(
        &mut self,
        id: &str,
        idx: usize,
        result: LifecycleActionResult,
        how: ActionEndKind,
    ) {
        let now = self.clock;
        let Some(i) = self.instances.get_mut(id) else {
            return;
        };
        let group = i.group.clone();
        let Some(w) = i.wait.as_mut() else {
            return;
        };
        let Some(a) = w.actions.get_mut(idx).filter(|a| a.ended.is_none()) else {
            return;
        };
        a.ended = Some(ActionEnd {
            at: now,
            result,
            how,
        });
        let mut lines = vec![format!(
            "autoscaling {group}: {id} lifecycle action {} {} ({})",
            a.hook,
            result.as_str(),
            how.as_str()
        )];
        if result == LifecycleActionResult::Abandon {
            for other in w.actions.iter_mut().filter(|a| a.ended.is_none()) {
                other.ended = Some(ActionEnd {
                    at: now,
                    result: LifecycleActionResult::Abandon,
                    how: ActionEndKind::StoppedByAbandon,
                });
                lines.push(format!(
                    "autoscaling {group}: {id} lifecycle action {} ABANDON ({})",
                    other.hook,
                    ActionEndKind::StoppedByAbandon.as_str()
                ));
            }
        }
        let done = w.actions.iter().all(|a| a.ended.is_some());
        for line in lines {
            self.event(line);
        }
        if done {
            self.event(format!("autoscaling {group}: {id} Terminating:Proceed"));
            self.terminate(id);
        }
    }
}
