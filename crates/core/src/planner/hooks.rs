//! ECS draining through a terminating lifecycle hook: any strategy, any scale-in.
//!
//! With `ecs_drain = "lifecycle-hook"` amiroll puts an `autoscaling:EC2_INSTANCE_TERMINATING`
//! hook ([`crate::config::AMIROLL_HOOK`]) on every group of the target; with `ecs_lifecycle_hook` it uses a
//! hook someone else made. Auto Scaling then holds each instance it terminates — an instance
//! refresh's replacements, a scheduled settle, a scaling policy, a replacement of an unhealthy
//! instance — in `Terminating:Wait` "until you complete the lifecycle action, or until the
//! timeout period ends" ("Amazon EC2 Auto Scaling lifecycle hooks",
//! https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html). Each run does one
//! pass over the held instances and never waits:
//!
//! 1. An `ACTIVE` container instance that runs tasks is set `DRAINING`
//!    (`UpdateContainerInstancesState`; the service scheduler moves its service tasks, "Draining
//!    Amazon ECS container instances",
//!    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html),
//!    and the time is recorded on it ([`DRAIN_SINCE_ATTRIBUTE`], `PutAttributes`): the start of
//!    its `drain_timeout`. The drain comes first: a run that stops between the two leaves a
//!    `DRAINING` instance without the attribute, and the next run records its own time — later,
//!    so the instance gets more time, never less.
//! 2. An instance with no task left (running or pending), with no container instance in the
//!    group's cluster (never registered, deregistered), or not an ECS instance at all: its
//!    lifecycle action is completed (`CompleteLifecycleAction` `CONTINUE`) and it terminates.
//! 3. One whose `drain_timeout` has passed: completed too, with a warning that names its tasks.
//! 4. Otherwise it waits for the next run. A heartbeat (`RecordLifecycleActionHeartbeat`) extends
//!    the wait by the hook's heartbeat timeout only when that cannot carry it past the drain
//!    timeout. amiroll's own hook has a heartbeat timeout of `drain_timeout` plus
//!    [`HOOK_MARGIN_SECS`] (at most 7200 s, the API's limit; a longer drain timeout is reached
//!    with heartbeats) and `DefaultResult = CONTINUE`: if no run comes, Auto Scaling itself lets
//!    the instance go a few minutes after the drain timeout.
//!
//! A group behind a capacity provider with ECS managed instance draining is left to ECS.

use super::*;
use crate::port::LifecycleHook;

/// The most `HeartbeatTimeout` allows: "The maximum value is 7200 seconds"
/// ("PutLifecycleHook", https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html).
const MAX_HEARTBEAT_SECS: u64 = 7200;
/// The least `HeartbeatTimeout` allows (30 seconds, same page).
const MIN_HEARTBEAT_SECS: u64 = 30;

/// How much longer than `drain_timeout` amiroll's hook holds an instance: room for the run at
/// the drain timeout (runs come every few minutes) to let it go itself and say so, with the
/// tasks it still ran; Auto Scaling's timeout is the fallback when no run comes.
pub const HOOK_MARGIN_SECS: u64 = 300;

/// The heartbeat timeout of amiroll's own hook for a drain timeout: `drain_timeout` plus
/// [`HOOK_MARGIN_SECS`], within the API's 30–7200 s.
pub fn heartbeat_for(drain_timeout_secs: u64) -> u32 {
    u32::try_from(
        (drain_timeout_secs + HOOK_MARGIN_SECS).clamp(MIN_HEARTBEAT_SECS, MAX_HEARTBEAT_SECS),
    )
    .unwrap_or(7200)
}

/// The hook as amiroll wants it on a group, if it is amiroll's.
fn wanted(t: &Target) -> Option<(u32, &'static str)> {
    matches!(t.drain_hook(), Some((_, true)))
        .then(|| (heartbeat_for(t.settings.drain_timeout_secs), "CONTINUE"))
}

fn is_ours_as_wanted(h: &LifecycleHook, heartbeat: u32, result: &str) -> bool {
    h.is_terminating() && h.heartbeat_timeout_secs == heartbeat && h.default_result == result
}

/// Whether a target has hook work this run (so that its details are read even when its fleet is
/// current): a group without amiroll's hook as it should be, or an instance held in
/// `Terminating:Wait`.
pub(crate) fn hook_work(t: &Target, obs: &Observation) -> bool {
    let Some((name, _)) = t.drain_hook() else {
        return false;
    };
    t.groups.iter().filter_map(|g| obs.groups.get(g)).any(|g| {
        let hook_off = match (obs.lifecycle_hooks.get(&g.name), wanted(t)) {
            (Some(hooks), Some((hb, res))) => !hooks
                .iter()
                .any(|h| h.name == name && is_ours_as_wanted(h, hb, res)),
            (Some(hooks), None) => !hooks.iter().any(|h| h.name == name),
            (None, _) => false,
        };
        hook_off || g.instances.iter().any(is_held)
    })
}

/// What the hooks of one target need this run.
#[derive(Default)]
pub(crate) struct HookPlan {
    /// Hooks to put before anything terminates instances (before the fleet's actions).
    pub(crate) front: Vec<PlannedAction>,
    /// The pass over the held instances.
    pub(crate) back: Vec<PlannedAction>,
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
    pub(crate) errors: Vec<Refusal>,
}

impl HookPlan {
    fn act(v: &mut Vec<PlannedAction>, action: Action, reason: impl Into<String>) {
        v.push(PlannedAction {
            action,
            reason: reason.into(),
        });
    }
}

/// The hook pass of one target (see the module documentation).
pub(crate) fn plan_hooks(cx: &Ctx) -> HookPlan {
    let mut p = HookPlan::default();
    let t = cx.t;
    let obs = cx.obs;
    let Some((hook, ours)) = t.drain_hook() else {
        if t.settings.strategy == Strategy::InstanceRefresh {
            undrained_refresh_warnings(&mut p, cx);
        }
        return p;
    };
    for v in &cx.views {
        let g = v.group;
        if crate::planner::provider_of(obs, g).is_some_and(|cp| cp.managed_draining) {
            p.infos.push(format!(
                "group `{}`: its capacity provider drains with ECS managed instance draining; amiroll leaves the draining to ECS",
                g.name
            ));
            continue;
        }
        let Some(hooks) = obs.lifecycle_hooks.get(&g.name) else {
            continue;
        };
        let found = hooks.iter().find(|h| h.name == hook);
        match (ours, found) {
            (true, _) => {
                let (heartbeat, result) =
                    wanted(t).unwrap_or((heartbeat_for(t.settings.drain_timeout_secs), "CONTINUE"));
                if !found.is_some_and(|h| is_ours_as_wanted(h, heartbeat, result)) {
                    HookPlan::act(
                        &mut p.front,
                        Action::PutLifecycleHook {
                            group: g.name.clone(),
                            hook: hook.to_string(),
                            heartbeat_timeout_secs: heartbeat,
                            default_result: result.to_string(),
                        },
                        if found.is_some() {
                            "amiroll's drain hook differs from the configuration (drain_timeout): correct it"
                        } else {
                            "hold each instance Auto Scaling terminates until amiroll has drained its tasks (ecs_drain = \"lifecycle-hook\")"
                        },
                    );
                }
            }
            (false, Some(h)) if !h.is_terminating() => {
                p.errors.push(Refusal::DrainHookNotTerminating {
                    group: g.name.clone(),
                    hook: hook.to_string(),
                    transition: h.transition.clone(),
                });
                continue;
            }
            (false, None) => {
                p.errors.push(Refusal::DrainHookMissing {
                    group: g.name.clone(),
                    hook: hook.to_string(),
                });
                continue;
            }
            (false, Some(_)) => {}
        }
        let heartbeat = found.map_or_else(
            || i64::from(heartbeat_for(t.settings.drain_timeout_secs)),
            |h| i64::from(h.heartbeat_timeout_secs),
        );
        held_pass(&mut p, t, obs, g, hook, heartbeat);
    }
    p
}

/// The pass over the held instances of a target whose rollout stopped on an error (an AMI
/// refused, a parameter or template missing, a group that is not as amiroll needs it): the
/// instances Auto Scaling terminates now — a scaling policy's scale-in, a refresh under way —
/// are drained all the same, since the error is about the next rollout and their tasks run now.
/// Nothing else: no hook is put or corrected, and a group whose ECS cluster is not known this
/// run (say, found from the user data of a template that is missing) is left to the hook's
/// timeout rather than let go undrained.
pub(crate) fn held_pass_despite_error(t: &Target, obs: &Observation) -> HookPlan {
    let mut p = HookPlan::default();
    let Some((hook, _)) = t.drain_hook() else {
        return p;
    };
    for g in t.groups.iter().filter_map(|g| obs.groups.get(g)) {
        if g.tags.contains_key(tags::SKIP)
            || !g.instances.iter().any(is_held)
            || ecs_cluster_of(g, obs).is_none()
            || crate::planner::provider_of(obs, g).is_some_and(|cp| cp.managed_draining)
        {
            continue;
        }
        let Some(found) = obs
            .lifecycle_hooks
            .get(&g.name)
            .and_then(|hooks| hooks.iter().find(|h| h.name == hook))
            .filter(|h| h.is_terminating())
        else {
            continue;
        };
        held_pass(
            &mut p,
            t,
            obs,
            g,
            hook,
            i64::from(found.heartbeat_timeout_secs),
        );
    }
    p
}

/// An instance refresh of an ECS group that nothing drains (no capacity provider, no hook) stops
/// the tasks of the instances it replaces: say so while a group is not on the AMI.
fn undrained_refresh_warnings(p: &mut HookPlan, cx: &Ctx) {
    for v in &cx.views {
        let g = v.group;
        if crate::planner::provider_of(cx.obs, g).is_some() {
            continue; // `validate::capacity_providers` speaks for those.
        }
        let Some((cluster, _)) = ecs_cluster_of(g, cx.obs) else {
            continue;
        };
        let off = instance_views(g, cx.obs, cx.template_id)
            .iter()
            .any(|i| i.image.as_deref() != Some(cx.ami.as_str()));
        if off {
            p.warnings.push(format!(
                "group `{}` is an ECS group (cluster `{cluster}`) with nothing to drain it: an instance refresh terminates the old instances with their tasks running — set ecs_drain = \"lifecycle-hook\" to have amiroll drain them first",
                g.name
            ));
        }
    }
}

/// One pass over the instances `hook` holds in group `g`.
fn held_pass(
    p: &mut HookPlan,
    t: &Target,
    obs: &Observation,
    g: &AutoScalingGroup,
    hook: &str,
    heartbeat: i64,
) {
    let now = obs.now;
    let drain = Duration::seconds(i64::try_from(t.settings.drain_timeout_secs).unwrap_or(600));
    let cluster = ecs_cluster_of(g, obs);
    // Per cluster: the container instances to drain, and those whose drain start to record.
    let mut to_drain: Vec<(String, String)> = Vec::new();
    let mut to_mark: Vec<(String, String)> = Vec::new();
    let complete = |p: &mut HookPlan, id: &str, why: String| {
        HookPlan::act(
            &mut p.back,
            Action::CompleteLifecycleAction {
                group: g.name.clone(),
                hook: hook.to_string(),
                instance_id: id.to_string(),
            },
            why,
        );
    };
    for i in g.instances.iter().filter(|i| is_held(i)) {
        let id = i.instance_id.as_str();
        let Some((cluster_name, observed)) = cluster else {
            complete(p, id, "not an ECS instance: nothing to drain".to_string());
            continue;
        };
        let Some(ci) = container_instance_of(observed, id) else {
            complete(
                p,
                id,
                format!("no container instance in ECS cluster `{cluster_name}`: nothing to drain"),
            );
            continue;
        };
        let tasks = ci.running_tasks_count + ci.pending_tasks_count;
        if tasks == 0 {
            complete(
                p,
                id,
                format!("its container instance runs no task ({})", ci.status),
            );
            continue;
        }
        if ci.is_active() {
            to_drain.push((ci.container_instance_arn.clone(), id.to_string()));
            to_mark.push((ci.container_instance_arn.clone(), id.to_string()));
            continue;
        }
        if !ci.is_draining() {
            complete(
                p,
                id,
                format!(
                    "its container instance is {} (no placements to move)",
                    ci.status
                ),
            );
            continue;
        }
        let since = ci
            .attributes
            .get(DRAIN_SINCE_ATTRIBUTE)
            .and_then(|v| chrono::DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        let Some(since) = since else {
            // DRAINING, but not by a run that recorded it (it stopped in between, or someone
            // else drained it): its drain timeout starts now.
            to_mark.push((ci.container_instance_arn.clone(), id.to_string()));
            continue;
        };
        let deadline = since + drain;
        if now >= deadline {
            p.warnings.push(format!(
                "group `{}`: instance {id} still runs {} task(s) {}s after amiroll set it DRAINING (drain_timeout); amiroll lets it terminate",
                g.name,
                tasks,
                t.settings.drain_timeout_secs
            ));
            complete(
                p,
                id,
                format!(
                    "the drain timeout passed at {} with {tasks} task(s) left",
                    fmt_time(deadline)
                ),
            );
            continue;
        }
        if now + Duration::seconds(heartbeat) <= deadline {
            HookPlan::act(
                &mut p.back,
                Action::RecordLifecycleActionHeartbeat {
                    group: g.name.clone(),
                    hook: hook.to_string(),
                    instance_id: id.to_string(),
                },
                format!(
                    "{tasks} task(s) still move off it; keep it until {} at most",
                    fmt_time(deadline)
                ),
            );
        }
    }
    if let (Some((cluster_name, _)), false) = (cluster, to_drain.is_empty()) {
        HookPlan::act(
            &mut p.back,
            Action::DrainContainerInstances {
                group: g.name.clone(),
                cluster: cluster_name.to_string(),
                container_instances: to_drain.iter().map(|(a, _)| a.clone()).collect(),
                instance_ids: to_drain.iter().map(|(_, i)| i.clone()).collect(),
            },
            "Auto Scaling terminates these instances: move their tasks first",
        );
    }
    if let (Some((cluster_name, _)), false) = (cluster, to_mark.is_empty()) {
        HookPlan::act(
            &mut p.back,
            Action::MarkDrainStart {
                group: g.name.clone(),
                cluster: cluster_name.to_string(),
                container_instances: to_mark.iter().map(|(a, _)| a.clone()).collect(),
                instance_ids: to_mark.iter().map(|(_, i)| i.clone()).collect(),
                since: now,
            },
            format!(
                "their drain timeout ({}s) starts now",
                t.settings.drain_timeout_secs
            ),
        );
    }
}
