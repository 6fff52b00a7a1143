//! The scheduled-surge state machine for one group.
//!
//! A round is: protect the old instances from scale in, surge (a scheduled action), check the new
//! instances in the health gate, then settle. Its state lives in the group (`amiroll:*` tags, the
//! pending scheduled actions, the capacity, the instances and their scale-in protection), so any
//! run can pick it up, whenever it happens.
//!
//! **Safety does not depend on a run happening in time.** The old instances are protected from
//! scale in while the round is open ("Use instance scale-in protection",
//! https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html:
//! Auto Scaling does not terminate protected instances when it scales in). The run that sees the
//! new instances healthy in the gate settles the group itself: it lifts the protection, restores
//! the sizes (`OldestLaunchTemplate` then removes the old instances) and deletes the scheduled
//! settle. The scheduled settle is only a dead man's switch: if no run passes the gate, it fires
//! with the old instances still protected, so the scale-in removes the *new* instances and the
//! fleet is back where it started. A missed gate costs a round, never the old fleet.
//!
//! Scheduled actions may start late ("Scheduled scaling for Amazon EC2 Auto Scaling",
//! https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html);
//! every decision here holds whether they fire on time, late, or not at all.

use std::collections::BTreeMap;

use chrono::Duration;

use crate::config::TargetSettings;
use crate::gates;
use crate::model::*;
use crate::planner::{
    fmt_time, instance_views, is_ami_id, rollout_id, tag_version, tags, truncate, Capacity,
    GroupPhase, GroupView, InstanceView,
};
use crate::port::{AutoScalingGroup, ContainerInstance, ScheduledAction, Timestamp};
use crate::state::{Failure, Phase, Recovery, RollbackVersion, Success, SurgeRound};

mod drain;
mod gate;
mod restore;
mod settle;
mod start;

use drain::*;
use gate::*;
use restore::*;
use settle::*;
use start::rebuild_lost_round;
pub use start::surge_capacity;
pub(crate) use start::{capacity_change_before, rollback_version_of, start_round};

/// Prefix of every scheduled action amiroll creates.
pub const ACTION_PREFIX: &str = "amiroll-";
/// How far ahead the surge action is scheduled. `PutScheduledUpdateGroupAction` rejects a start
/// time in the past ("Scheduled scaling for Amazon EC2 Auto Scaling"), so leave room for the apply.
pub const SURGE_LEAD_MINUTES: i64 = 2;
/// The health gate opens this long before the settle time: a run from then on that sees every
/// new instance healthy settles the group; one that does not, aborts the round.
pub const HEALTH_GATE_MINUTES: i64 = 3;
/// How late a scheduled action may start. Auto Scaling runs it "within a few minutes" of its
/// start time; two minutes is what the simulator and the adversity suite allow.
pub const LATE_ACTION_MINUTES: i64 = 2;
/// How long after the settle the new instances may take to be healthy before the round fails.
pub const SETTLE_GRACE_MINUTES: i64 = 15;

/// How `amiroll:failed-reason` begins when a recovery round failed too.
const RECOVERY_FAILED: &str = "recovery failed";

pub(crate) struct SurgeInput<'a> {
    pub(crate) group: &'a AutoScalingGroup,
    pub(crate) rollout_ami: &'a str,
    pub(crate) instances: &'a [InstanceView],
    pub(crate) pending: &'a [ScheduledAction],
    pub(crate) now: Timestamp,
    pub(crate) settings: &'a TargetSettings,
    pub(crate) template_id: &'a str,
    /// The version the fleet runs before this rollout, recorded in `amiroll:rollback-version`
    /// when round 1 starts. `None` keeps what the group's tag says.
    pub(crate) rollback_version: Option<u64>,
    /// The AMI of the group's rollback version: where a recovery round goes.
    pub(crate) rollback_ami: Option<&'a str>,
    /// The target failed (on this group or another): stop this group's round now, or bring the
    /// group back if it already runs the AMI that failed.
    pub(crate) force_abort: Option<&'a str>,
    /// A recovery or rollback round: the recorded failure stays.
    pub(crate) keep_failure: bool,
    /// The group backs an ECS capacity provider with managed instance draining: ECS drains
    /// what Auto Scaling terminates, amiroll does not.
    pub(crate) managed_draining: bool,
}

#[derive(Default)]
pub(crate) struct SurgeOutcome {
    pub(crate) actions: Vec<PlannedAction>,
    pub(crate) errors: Vec<Refusal>,
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
    pub(crate) state: String,
    /// Where the group's round stands.
    pub(crate) phase: GroupPhase,
    /// The default must go back to the rollback version.
    pub(crate) revert_to: Option<u64>,
    /// The group runs the failed AMI and starts a recovery round onto the rollback AMI: the
    /// target must make a copy of the rollback version the default (so that the settle removes
    /// the failed AMI's instances, which are on an older version).
    pub(crate) recover: bool,
    /// A new round is held back (e.g. another actor's scheduled action falls inside it).
    pub(crate) held: Option<String>,
    /// The failure was recorded (and announced) by an earlier run: not announced again.
    pub(crate) already_recorded: bool,
    /// A failure recorded in this run for another AMI than the round's (a recovery round whose
    /// start was not followed by its record): announce `rollout-failed`.
    pub(crate) announce_failure: bool,
}

impl SurgeOutcome {
    fn act(&mut self, action: Action, reason: impl Into<String>) {
        self.actions.push(PlannedAction {
            action,
            reason: reason.into(),
        });
    }
}

fn ids(v: &[&InstanceView]) -> String {
    v.iter()
        .map(|i| i.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The settle action of round `r`, at `at`, to `cap`.
fn settle_action(g: &AutoScalingGroup, r: &Round, at: Timestamp, cap: Capacity) -> ScheduledAction {
    ScheduledAction {
        group_name: g.name.clone(),
        name: r.settle_name.clone(),
        start_time: at,
        min_size: Some(cap.min),
        max_size: Some(cap.max),
        desired_capacity: Some(cap.desired),
        recurrence: None,
    }
}

/// Record the round's phase (`amiroll:phase`).
fn tag_phase(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    phase: Phase,
    reason: impl Into<String>,
) {
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: BTreeMap::from([(tags::PHASE.to_string(), phase.to_tag().unwrap_or_default())]),
        },
        reason,
    );
}

/// What is wrong with failed instances ([`InstanceView::failed`]): "a, b are unhealthy" and/or
/// "c is not ACTIVE with a connected agent in ECS cluster `x`".
fn failed_text(failed: &[&InstanceView]) -> String {
    let unhealthy: Vec<&InstanceView> = failed.iter().copied().filter(|i| !i.healthy).collect();
    let ecs: Vec<&InstanceView> = failed.iter().copied().filter(|i| i.healthy).collect();
    let mut parts = Vec::new();
    if !unhealthy.is_empty() {
        parts.push(format!("{} are unhealthy", ids(&unhealthy)));
    }
    if let Some(cluster) = ecs.iter().find_map(|i| i.ecs.as_ref()).map(|e| &e.cluster) {
        parts.push(format!(
            "{} are not ACTIVE with a connected agent in ECS cluster `{cluster}` more than {} minutes after coming into service",
            ids(&ecs),
            crate::planner::ECS_JOIN_ALLOWANCE_MINUTES
        ));
    }
    parts.join("; ")
}

fn opt(v: Option<i32>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "-".to_string())
}

/// The instances of a group, split by the AMI a round rolls to.
struct Fleet<'a> {
    /// Instances not on the round's AMI (the old fleet).
    old: Vec<&'a InstanceView>,
    /// Instances on the round's AMI that are `InService` and `Healthy`, whose health Auto
    /// Scaling has checked ([`InstanceView::health_checked`]), and, in an ECS group, `ACTIVE`
    /// with a connected agent ([`InstanceView::counts_healthy`]).
    healthy: Vec<&'a InstanceView>,
    /// Instances on the round's AMI that failed ([`InstanceView::failed`]).
    unhealthy: Vec<&'a InstanceView>,
    /// Instances on the round's AMI that have not failed but do not count healthy yet: not in
    /// service, within their health-check grace period, or (ECS) not yet registered.
    pending: Vec<&'a InstanceView>,
}

impl<'a> Fleet<'a> {
    fn of(instances: &'a [InstanceView], ami: &str) -> Fleet<'a> {
        let on = |i: &&InstanceView| i.image.as_deref() == Some(ami);
        Fleet {
            old: instances.iter().filter(|i| !on(i)).collect(),
            healthy: instances
                .iter()
                .filter(|i| on(i) && i.counts_healthy())
                .collect(),
            unhealthy: instances.iter().filter(|i| on(i) && i.failed()).collect(),
            pending: instances
                .iter()
                .filter(|i| on(i) && !i.failed() && !i.counts_healthy())
                .collect(),
        }
    }
    /// Every instance on the round's AMI: healthy, pending and failed.
    fn new_instances(&self) -> Vec<&'a InstanceView> {
        self.healthy
            .iter()
            .chain(self.pending.iter())
            .chain(self.unhealthy.iter())
            .copied()
            .collect()
    }
    fn on_count(&self) -> usize {
        self.healthy.len() + self.unhealthy.len() + self.pending.len()
    }
}

/// The scheduled-surge state machine for one group, derived every run from the group's tags,
/// its pending scheduled actions, its capacity and its instances.
pub(crate) fn plan_surge_group(inp: &SurgeInput) -> SurgeOutcome {
    let g = inp.group;
    let mut out = SurgeOutcome::default();
    let ours: Vec<&ScheduledAction> = inp
        .pending
        .iter()
        .filter(|a| a.name.starts_with(ACTION_PREFIX))
        .collect();

    let Some(round) = g.tags.get(tags::ROLLOUT).cloned() else {
        for a in &ours {
            out.act(
                Action::DeleteScheduledAction {
                    group: g.name.clone(),
                    name: a.name.clone(),
                },
                "left over from a rollout that is no longer tracked; it would change capacity when it fires",
            );
        }
        let fleet = Fleet::of(inp.instances, inp.rollout_ami);
        if let Some(rebuilt) = rebuild_lost_round(inp, &ours) {
            out.actions.clear();
            out.warnings.push(format!(
                "group `{}`: the tags of round {} were removed while its scheduled actions were pending; amiroll rebuilt them from the actions and follows the round",
                g.name,
                rebuilt.get(tags::ROLLOUT).cloned().unwrap_or_default()
            ));
            out.act(
                Action::TagGroup {
                    group: g.name.clone(),
                    tags: rebuilt,
                },
                "rebuild the round's tags from its scheduled actions",
            );
            out.phase = out.phase.rolling();
            out.state = "round tags rebuilt; the round goes on".to_string();
            return out;
        }
        if let Some(reason) = inp.force_abort {
            // The target failed: a group that already runs the failed AMI goes back.
            if fleet.on_count() > 0 {
                start_recovery(inp, &mut out, reason, 1);
            } else {
                out.state = format!("not rolled: {reason}");
            }
            return out;
        }
        if fleet.old.is_empty() {
            let live = inp.instances.len() as i32;
            if live < g.desired_capacity {
                // Fewer instances than wanted, none on another AMI: the group is still
                // launching (or cannot launch). Not "on target" until it has them.
                if g.suspended_processes.iter().any(|p| p == "Launch") {
                    out.errors.push(Refusal::LaunchSuspended {
                        group: g.name.clone(),
                        live,
                        desired: g.desired_capacity,
                    });
                    return out;
                }
                out.state = format!(
                    "{live} of {} instance(s) running, all on {}; waiting for the group to launch the rest",
                    g.desired_capacity, inp.rollout_ami
                );
                return out;
            }
            out.phase = GroupPhase::Converged { succeeded: false };
            out.state = "on target".to_string();
            return out;
        }
        if g.desired_capacity == 0 && !g.tags.contains_key(tags::ORIGINAL) {
            out.phase = GroupPhase::Converged { succeeded: false };
            out.state = "no instances wanted; new launches use the new AMI".to_string();
            return out;
        }
        start_round(inp, &mut out, 1, &fleet.old);
        return out;
    };

    // A round is in flight: read its state back from the tags.
    let state = match SurgeRound::from_tags(&g.tags) {
        Ok(Some(state)) => state,
        Ok(None) => return out,
        Err(e) => {
            out.errors.push(Refusal::MalformedRound {
                group: g.name.clone(),
                error: e,
                tags: g
                    .tags
                    .iter()
                    .filter(|(k, _)| k.starts_with(tags::PREFIX))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
            return out;
        }
    };
    let SurgeRound {
        original,
        surge: surged,
        surge_at,
        settle_at,
        attempt,
        phase,
        settle_capacity,
        recovering_from,
        ..
    } = state;
    out.phase = out.phase.rolling();
    let r = Round {
        id: round,
        original,
        surged,
        surge_at,
        settle_at,
        attempt,
        surge_name: format!("{ACTION_PREFIX}{}-surge", g.tags[tags::ROLLOUT]),
        settle_name: format!("{ACTION_PREFIX}{}-settle", g.tags[tags::ROLLOUT]),
        settle_cap: settle_capacity.unwrap_or(original),
    };
    // A recovery round whose start was not followed by the failure record (a run that stopped
    // after it announced): record it now, and announce it.
    if let Some(failed) = &recovering_from {
        let failure = Failure::from_tags(&g.tags).unwrap_or_default();
        if failure.ami.as_ref() != Some(failed) {
            let reason = failure
                .reason
                .unwrap_or_else(|| format!("the rollout to {failed} failed"));
            out.act(
                Action::TagGroup {
                    group: g.name.clone(),
                    tags: Failure::of(failed, truncate(&reason, 250)).to_tags(),
                },
                "the run that started the recovery round stopped before it recorded the failure",
            );
            out.announce_failure = true;
        }
    }
    for a in ours
        .iter()
        .filter(|a| a.name != r.surge_name && a.name != r.settle_name)
    {
        out.act(
            Action::DeleteScheduledAction {
                group: g.name.clone(),
                name: a.name.clone(),
            },
            format!(
                "left over from an earlier round; round {} is in flight",
                r.id
            ),
        );
    }
    match phase {
        Phase::Surge => surging(inp, &mut out, &r),
        Phase::Settled {
            since,
            capacity,
            keep_new,
        } => settled(
            inp,
            &mut out,
            &r,
            since,
            capacity,
            Settle::Amiroll { keep_new },
        ),
        Phase::Draining {
            since,
            capacity,
            keep_new,
        } => draining(inp, &mut out, &r, since, capacity, keep_new),
        Phase::Restore { since, capacity } => restoring(inp, &mut out, &r, since, capacity),
    }
    out
}

/// A round's facts, from the group's tags.
struct Round {
    id: String,
    original: Capacity,
    /// `max` and `desired` of the surge.
    surged: (i32, i32),
    surge_at: Timestamp,
    settle_at: Timestamp,
    attempt: u32,
    surge_name: String,
    settle_name: String,
    /// The settle sizes as last recorded (`amiroll:settle-capacity`, written when an outside
    /// change moved them), else the original sizes.
    settle_cap: Capacity,
}

impl Round {
    fn gate_opens(&self) -> Timestamp {
        self.settle_at - Duration::minutes(HEALTH_GATE_MINUTES)
    }
    /// How many rounds the rollout may take: the rounds a capped surge needs to replace the
    /// original fleet (`⌈desired ÷ new instances per round⌉`), plus `max_attempts − 1` retries.
    fn rounds_allowed(&self, max_attempts: u32) -> u32 {
        let per_round = (self.surged.1 - self.original.desired).max(1);
        let needed = (self.original.desired.max(1) + per_round - 1) / per_round;
        (needed.max(1) as u32).saturating_add(max_attempts.max(1) - 1)
    }
}

/// Scheduled surge, step 6 for a whole target: every group's round first, then — a target
/// succeeds or fails as a whole — the rounds of the other groups are stopped (or the groups
/// brought back) when one failed, and a group's success waits for the last group. Returns each
/// group's outcome and the AMI its round is for.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan_surge_target(
    s: &TargetSettings,
    views: &[GroupView],
    obs: &Observation,
    tmpl: &ObservedTemplate,
    template_id: &str,
    (source, source_image): (u64, &str),
    ami: &str,
    hold: bool,
    failed_block: bool,
    hold_reason: &Option<String>,
) -> BTreeMap<String, (SurgeOutcome, String)> {
    let now = obs.now;
    let mut surge_outcomes: BTreeMap<String, (SurgeOutcome, String)> = BTreeMap::new();
    // The version the groups ran before, for a recovery round of a group that has no tag of
    // its own (its round succeeded before another group's failed).
    let target_rollback: Option<u64> = views.iter().find_map(|v| tag_version(v.group, template_id));
    let run_group = |v: &GroupView, rollout_ami: &str, force: Option<&str>| -> SurgeOutcome {
        let g = v.group;
        let inst = instance_views(g, obs, template_id);
        let pending = obs
            .scheduled_actions
            .get(&g.name)
            .cloned()
            .unwrap_or_default();
        let fresh = rollback_version_of(&inst, rollout_ami, (source, Some(source_image)));
        let recorded = tag_version(g, template_id).or(target_rollback).or(fresh);
        let rollback_ami = recorded
            .and_then(|n| tmpl.version(n))
            .and_then(|x| x.image_id.clone())
            .filter(|i| is_ami_id(i));
        plan_surge_group(&SurgeInput {
            group: g,
            rollout_ami,
            instances: &inst,
            pending: &pending,
            now,
            settings: s,
            template_id,
            rollback_version: fresh,
            rollback_ami: rollback_ami.as_deref(),
            force_abort: force,
            keep_failure: false,
            managed_draining: crate::planner::provider_of(obs, g)
                .is_some_and(|cp| cp.managed_draining),
        })
    };
    let runs_ami = |v: &GroupView, a: &str| {
        instance_views(v.group, obs, template_id)
            .iter()
            .any(|i| i.image.as_deref() == Some(a))
    };
    for v in views {
        let g = v.group;
        let round_ami = g.tags.get(tags::ROLLOUT_AMI).cloned();
        let (group_ami, force) = match (&round_ami, hold) {
            (Some(a), _) => (a.clone(), None),
            (None, false) => (ami.to_string(), None),
            // The AMI failed earlier (on this group or another): a group that runs it goes
            // back, whatever its own round said.
            (None, true) if failed_block && runs_ami(v, ami) => {
                (ami.to_string(), hold_reason.clone())
            }
            (None, true) => continue,
        };
        let out = run_group(v, &group_ami, force.as_deref());
        surge_outcomes.insert(g.name.clone(), (out, group_ami));
    }
    let failure = surge_outcomes.iter().find_map(|(name, (o, a))| {
        (o.phase.failed() || o.phase.restoring())
            .then(|| (name.clone(), a.clone(), o.state.clone()))
    });
    if let Some((failed_group, failed_ami, why)) = failure {
        let reason = format!(
            "the rollout to {failed_ami} failed on group `{failed_group}` ({why}); the target rolls back as a whole"
        );
        for v in views {
            let g = v.group;
            let Some((o, group_ami)) = surge_outcomes.get(&g.name) else {
                continue;
            };
            if o.phase.failed() || o.phase.restoring() || *group_ami != failed_ami {
                continue;
            }
            let out = run_group(v, &failed_ami, Some(&reason));
            surge_outcomes.insert(g.name.clone(), (out, failed_ami.clone()));
        }
    }
    // The target's success is announced once, when its last group finishes.
    let still_rolling = surge_outcomes
        .values()
        .any(|(o, a)| o.phase.in_flight() && !o.phase.succeeded() && *a == ami);
    if still_rolling {
        for (o, _) in surge_outcomes.values_mut() {
            if o.phase.succeeded() {
                o.phase = GroupPhase::Converged { succeeded: false };
                o.infos.push("this group is done; the target's success is announced when its last group finishes".to_string());
            }
        }
    }
    surge_outcomes
}
