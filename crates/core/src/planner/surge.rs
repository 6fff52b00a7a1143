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
use crate::planner::{fmt_time, rollout_id, tags, truncate, Capacity, InstanceView};
use crate::port::{AutoScalingGroup, ScheduledAction, Timestamp};
use crate::state::{Phase, SurgeRound};

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
}

#[derive(Default)]
pub(crate) struct SurgeOutcome {
    pub(crate) actions: Vec<PlannedAction>,
    pub(crate) errors: Vec<String>,
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
    pub(crate) state: String,
    pub(crate) started: bool,
    pub(crate) succeeded: bool,
    /// The round failed in this run (announce `rollout-failed`).
    pub(crate) failed: bool,
    /// A failure recorded earlier is being cleaned up (restore under way).
    pub(crate) restoring: bool,
    pub(crate) in_flight: bool,
    pub(crate) converged: bool,
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

fn opt(v: Option<i32>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "-".to_string())
}

/// The instances of a group, split by the AMI a round rolls to.
struct Fleet<'a> {
    /// Instances not on the round's AMI (the old fleet).
    old: Vec<&'a InstanceView>,
    /// Instances on the round's AMI that are `InService` and `Healthy`.
    healthy: Vec<&'a InstanceView>,
    /// Instances on the round's AMI whose health is not `Healthy` (whatever their state).
    unhealthy: Vec<&'a InstanceView>,
    /// Instances on the round's AMI that are healthy but not yet in service.
    pending: Vec<&'a InstanceView>,
}

impl<'a> Fleet<'a> {
    fn of(instances: &'a [InstanceView], ami: &str) -> Fleet<'a> {
        let on = |i: &&InstanceView| i.image.as_deref() == Some(ami);
        Fleet {
            old: instances.iter().filter(|i| !on(i)).collect(),
            healthy: instances
                .iter()
                .filter(|i| on(i) && i.in_service && i.healthy)
                .collect(),
            unhealthy: instances.iter().filter(|i| on(i) && !i.healthy).collect(),
            pending: instances
                .iter()
                .filter(|i| on(i) && !i.in_service && i.healthy)
                .collect(),
        }
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
            out.in_flight = true;
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
                    out.errors.push(format!(
                        "group `{}` runs {live} of {} instance(s) and its Launch process is suspended; resume it first",
                        g.name, g.desired_capacity
                    ));
                    return out;
                }
                out.state = format!(
                    "{live} of {} instance(s) running, all on {}; waiting for the group to launch the rest",
                    g.desired_capacity, inp.rollout_ami
                );
                return out;
            }
            out.converged = true;
            out.state = "on target".to_string();
            return out;
        }
        if g.desired_capacity == 0 && !g.tags.contains_key(tags::ORIGINAL) {
            out.converged = true;
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
            out.errors.push(format!(
            "group `{}` carries a malformed amiroll round: {e} ({}); remove the amiroll:* tags of the group (and the scale-in protection amiroll set on its old instances) to reset it",
            g.name,
            g.tags
                .iter()
                .filter(|(k, _)| k.starts_with("amiroll:"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
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
        ..
    } = state;
    out.in_flight = true;
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
    if let Some(failed) = g.tags.get(tags::RECOVERING_FROM) {
        if g.tags.get(tags::FAILED_AMI) != Some(failed) {
            let reason = g
                .tags
                .get(tags::FAILED_REASON)
                .cloned()
                .unwrap_or_else(|| format!("the rollout to {failed} failed"));
            out.act(
                Action::TagGroup {
                    group: g.name.clone(),
                    tags: BTreeMap::from([
                        (tags::FAILED_AMI.to_string(), failed.clone()),
                        (tags::FAILED_REASON.to_string(), truncate(&reason, 250)),
                    ]),
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

/// The open round: wait for the surge, keep the old instances protected, follow the operator's
/// capacity changes, and in the gate either settle (healthy) or abort.
fn surging(inp: &SurgeInput, out: &mut SurgeOutcome, r: &Round) {
    let g = inp.group;
    let ami = inp.rollout_ami;
    let fleet = Fleet::of(inp.instances, ami);
    let pending_of = |name: &str| inp.pending.iter().find(|a| a.name == name);
    let surge_pending = pending_of(&r.surge_name).is_some();
    let settle = pending_of(&r.settle_name);
    let lead = Duration::minutes(SURGE_LEAD_MINUTES);

    if let Some(reason) = inp.force_abort {
        abort(inp, out, r, reason);
        return;
    }
    if !surge_pending
        && settle.is_none()
        && inp.now >= r.settle_at
        && g.desired_capacity <= r.settle_cap.desired
    {
        // The scheduled settle fired (or was deleted after its time) and no run passed the
        // gate: with the old instances protected, it removed the new ones.
        settled(inp, out, r, r.settle_at, r.settle_cap, Settle::Schedule);
        return;
    }
    if !fleet.unhealthy.is_empty() {
        abort(
            inp,
            out,
            r,
            &format!(
                "new instance(s) {} on {ami} are unhealthy",
                ids(&fleet.unhealthy)
            ),
        );
        return;
    }
    // Another actor's capacity change due before the settle is an outside change: say so.
    for a in inp
        .pending
        .iter()
        .filter(|a| !a.name.starts_with(ACTION_PREFIX))
    {
        if let Some(at) = capacity_change_before(a, inp.now, r.settle_at) {
            out.warnings.push(format!(
                "group `{}`: scheduled action `{}` (not amiroll's) sets min={} max={} desired={} at {}, inside round {}; amiroll treats the change as an outside change (the old instances stay protected until the gate)",
                g.name, a.name, opt(a.min_size), opt(a.max_size), opt(a.desired_capacity), fmt_time(at), r.id
            ));
        }
    }
    // The old instances stay protected while the round is open (a crash before the protection,
    // or someone lifting it, is repaired here).
    let lifted: Vec<&InstanceView> = fleet.old.iter().copied().filter(|i| !i.protected).collect();
    if !lifted.is_empty() {
        out.warnings.push(format!(
            "group `{}`: old instance(s) {} are not protected from scale in during round {} (someone lifted it, or an earlier run stopped before setting it); amiroll protects them again",
            g.name,
            ids(&lifted),
            r.id
        ));
    }
    protect_old(
        out,
        g,
        &fleet.old,
        true,
        "keep the old instances until the new ones pass the health gate",
    );
    let new_protected: Vec<&InstanceView> = fleet
        .healthy
        .iter()
        .chain(fleet.pending.iter())
        .copied()
        .filter(|i| i.protected)
        .collect();
    if !new_protected.is_empty() {
        out.warnings.push(format!(
            "group `{}`: new instance(s) {} are protected from scale in (not by amiroll); if no run passes the health gate, the scheduled settle cannot remove them",
            g.name,
            ids(&new_protected)
        ));
    }

    // The settle the group will get: the original sizes, plus whatever a person or a scaling
    // policy added to (or took from) the surged capacity since the surge.
    let surge_fired = !surge_pending && (inp.now >= r.surge_at || fleet.on_count() > 0);
    // A surge tag that does not surge (written from a stale view) says nothing about outside
    // changes.
    let delta = if surge_fired
        && r.surged.1 > r.original.desired
        && g.desired_capacity != r.surged.1
        && g.desired_capacity != r.original.desired
    {
        g.desired_capacity - r.surged.1
    } else {
        0
    };
    let settle_cap = settle_capacity(r.original, delta);
    if delta != 0 {
        out.warnings.push(format!(
            "group `{}`: desired capacity is {} instead of the surged {} (changed by a person or a scaling policy during round {}); the settle keeps the change: desired {} instead of {}",
            g.name, g.desired_capacity, r.surged.1, r.id, settle_cap.desired, r.original.desired
        ));
    }
    let settle_action = |at: Timestamp, cap: Capacity| ScheduledAction {
        group_name: g.name.clone(),
        name: r.settle_name.clone(),
        start_time: at,
        min_size: Some(cap.min),
        max_size: Some(cap.max),
        desired_capacity: Some(cap.desired),
        recurrence: None,
    };

    if surge_pending
        && inp.now
            >= r.gate_opens()
                .max(r.surge_at + Duration::minutes(LATE_ACTION_MINUTES + 1))
    {
        // The surge should have fired long ago (is `ScheduledActions` suspended?): the round
        // cannot be checked in its gate.
        abort(
            inp,
            out,
            r,
            &format!(
                "the surge action (due {}) had not fired when the health gate opened",
                fmt_time(r.surge_at)
            ),
        );
        return;
    }
    if surge_pending {
        out.state = format!(
            "round {}: surge scheduled at {}",
            r.id,
            fmt_time(r.surge_at)
        );
        if settle.is_none() {
            let at = r
                .settle_at
                .max(inp.now + lead + Duration::minutes(inp.settings.surge_minutes as i64));
            out.act(
                Action::PutScheduledAction {
                    action: settle_action(at, settle_cap),
                },
                "the settle action is missing (an earlier run stopped before creating it); it restores the sizes if no run passes the health gate",
            );
        }
        return;
    }

    if settle.is_none() {
        if inp.now < r.settle_at
            && g.desired_capacity == r.original.desired
            && fleet.on_count() == 0
        {
            // Neither action pending, nothing surged: the round's actions were never created (a
            // crash after tagging) or were removed. Schedule the same round again.
            start_round(inp, out, r.attempt, &fleet.old);
            out.started = false;
            out.state = format!(
                "round {} lost its scheduled actions; scheduling them again",
                r.id
            );
            return;
        }
        // The group is surged and its settle is gone: deleted by someone, or removed by a
        // concurrent run that settled the group (this run may have read the tags before and the
        // actions after). Putting it back from a view that may be stale could leave an action no
        // round tracks; without it the group stays surged until a run passes the gate, which is
        // safe (the old instances stay) and is said.
        out.warnings.push(format!(
            "group `{}`: the settle action of round {} is missing; the group stays surged until a run passes the health gate (from {}) and settles it",
            g.name,
            r.id,
            fmt_time(r.gate_opens())
        ));
    }

    // Keep the dead man's settle in step with the operator's change.
    let want = match settle {
        Some(a) => Capacity {
            min: a.min_size.unwrap_or(settle_cap.min),
            max: a.max_size.unwrap_or(settle_cap.max),
            desired: a.desired_capacity.unwrap_or(settle_cap.desired),
        },
        None => settle_cap,
    };
    if let (true, Some(settle)) = (delta != 0 && want != settle_cap, settle) {
        // The sizes are recorded first: a run that finds the settle fired (no run in the gate)
        // must know what it restored.
        out.act(
            Action::TagGroup {
                group: g.name.clone(),
                tags: BTreeMap::from([(tags::SETTLE_CAPACITY.to_string(), settle_cap.to_tag())]),
            },
            "record the settle sizes that keep the outside change",
        );
        out.act(
            Action::PutScheduledAction {
                action: settle_action(settle.start_time, settle_cap),
            },
            format!(
                "the settle keeps the outside change: desired {} (original {} {:+})",
                settle_cap.desired, r.original.desired, delta
            ),
        );
    }
    let cap = if delta != 0 { settle_cap } else { want };

    // How many new instances must be healthy: as many as the settle keeps of them.
    let launched = (g.desired_capacity - fleet.old.len() as i32).max(0);
    let expected = cap.desired.min(launched).max(1);
    let healthy = fleet.healthy.len() as i32;
    if inp.now < r.gate_opens() {
        if !surge_fired && g.desired_capacity < r.surged.1 && fleet.on_count() == 0 {
            out.state = format!("round {}: waiting for the surge", r.id);
        } else {
            out.state = format!(
                "round {}: surged to {}; {healthy}/{expected} new instance(s) healthy; health gate opens at {}",
                r.id,
                g.desired_capacity,
                fmt_time(r.gate_opens())
            );
        }
        return;
    }
    let launching = !fleet.pending.is_empty();
    if healthy < expected && launching && inp.now < r.settle_at {
        // A late surge (Auto Scaling may start it up to about 2 minutes late) or slow boots:
        // wait in the gate; if they are not healthy by the settle, the scheduled settle removes
        // them (the old instances are protected) or a run stops the round.
        out.state = format!(
            "round {}: in the health gate; {healthy}/{expected} new instance(s) healthy, {} still launching",
            r.id,
            fleet.pending.len().max(1)
        );
        return;
    }
    if healthy < expected || launched == 0 {
        let why = if g.desired_capacity < r.surged.1 && fleet.on_count() == 0 {
            format!(
                " (the group's desired capacity is {}, not the surged {}: the surge action was deleted or a scale-in undid it)",
                g.desired_capacity, r.surged.1
            )
        } else {
            String::new()
        };
        abort(
            inp,
            out,
            r,
            &format!(
                "only {healthy} of {expected} new instance(s) on {ami} are in service and healthy at the health gate{why}"
            ),
        );
        return;
    }
    // The gate passes: settle now. The new instances are protected for the settle, unless the
    // group protects them itself (then amiroll would not know which protection to lift).
    let new: Vec<&InstanceView> = fleet
        .healthy
        .iter()
        .chain(fleet.pending.iter())
        .copied()
        .collect();
    let keep_new = !new.iter().any(|i| i.protected);
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: BTreeMap::from([(
                tags::PHASE.to_string(),
                Phase::Settled {
                    since: inp.now,
                    capacity: cap,
                    keep_new,
                }
                .to_tag()
                .unwrap_or_default(),
            )]),
        },
        format!("{healthy} new instance(s) on {ami} are in service and healthy: the round settles"),
    );
    if keep_new {
        protect_old(
            out,
            g,
            &new,
            true,
            "keep the new instances: Auto Scaling balances Availability Zones before it applies the termination policy, so only the old instances may be taken",
        );
    }
    finish_settle(
        out,
        g,
        &fleet.old,
        cap,
        settle.map(|_| r.settle_name.as_str()),
    );
    out.state = format!(
        "round {}: {healthy} new instance(s) healthy; settling to min={} max={} desired={}",
        r.id, cap.min, cap.max, cap.desired
    );
}

/// The settle itself, in an order that is safe to stop at any point: lift the protection (the
/// scheduled settle, if it fires now, then removes the old instances as intended), restore the
/// sizes, drop the scheduled settle.
fn finish_settle(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    old: &[&InstanceView],
    cap: Capacity,
    settle_name: Option<&str>,
) {
    protect_old(
        out,
        g,
        old,
        false,
        "the new instances passed the health gate; the old ones may go",
    );
    if crate::planner::Capacity::of(g) != cap {
        out.act(
            Action::SetCapacity {
                group: g.name.clone(),
                min: cap.min,
                max: cap.max,
                desired: cap.desired,
            },
            "restore the sizes; OldestLaunchTemplate removes the instances on the old version",
        );
    }
    if let Some(name) = settle_name {
        out.act(
            Action::DeleteScheduledAction {
                group: g.name.clone(),
                name: name.to_string(),
            },
            "amiroll settled the group itself; the scheduled settle is no longer needed",
        );
    }
}

/// Protect (or unprotect) the old instances that are not already so.
fn protect_old(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    old: &[&InstanceView],
    protect: bool,
    reason: &str,
) {
    let ids: Vec<String> = old
        .iter()
        .filter(|i| i.protected != protect)
        .map(|i| i.id.clone())
        .collect();
    if !ids.is_empty() {
        out.act(
            Action::SetInstanceProtection {
                group: g.name.clone(),
                instance_ids: ids,
                protected: protect,
            },
            reason,
        );
    }
}

/// The settle sizes: the original, plus an outside change of `delta`, at least the original min
/// and with max raised to fit.
fn settle_capacity(original: Capacity, delta: i32) -> Capacity {
    let desired = (original.desired + delta).max(original.min);
    Capacity {
        min: original.min,
        max: original.max.max(desired),
        desired,
    }
}

/// After the settle: the outcome, judged from the running fleet.
/// Who settled a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// amiroll, in the health gate (`keep_new`: it protected the new instances for the settle).
    Amiroll { keep_new: bool },
    /// The scheduled settle, as a dead man's switch: no run passed the gate.
    Schedule,
}

fn settled(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    since: Timestamp,
    cap: Capacity,
    how: Settle,
) {
    let g = inp.group;
    let ami = inp.rollout_ami;
    let fleet = Fleet::of(inp.instances, ami);
    let by_schedule = how == Settle::Schedule;
    let keep_new = how == Settle::Amiroll { keep_new: true };
    let new: Vec<&InstanceView> = fleet
        .healthy
        .iter()
        .chain(fleet.pending.iter())
        .chain(fleet.unhealthy.iter())
        .copied()
        .collect();
    if !by_schedule {
        if keep_new && !fleet.old.is_empty() {
            protect_old(
                out,
                g,
                &new,
                true,
                "keep the new instances while the old ones are removed",
            );
        }
        protect_old(
            out,
            g,
            &fleet.old,
            false,
            "the round settled; the old instances may go",
        );
        let half_done: Vec<&String> = [&r.surge_name, &r.settle_name]
            .into_iter()
            .filter(|n| inp.pending.iter().any(|a| &&a.name == n))
            .collect();
        if !half_done.is_empty() {
            // A run stopped half way through the settle (the scheduled settle is deleted last):
            // finish it.
            if Capacity::of(g) != cap {
                out.act(
                    Action::SetCapacity {
                        group: g.name.clone(),
                        min: cap.min,
                        max: cap.max,
                        desired: cap.desired,
                    },
                    "finish the settle an earlier run began",
                );
            }
            for name in half_done {
                out.act(
                    Action::DeleteScheduledAction {
                        group: g.name.clone(),
                        name: name.clone(),
                    },
                    "amiroll settles the group itself",
                );
            }
            out.state = format!("round {}: settling", r.id);
            return;
        }
    }
    let live = inp.instances.len() as i32;
    if keep_new && live <= g.desired_capacity {
        // The scale-in is done: amiroll lifts the protection it put on the new instances.
        protect_old(
            out,
            g,
            &new,
            false,
            "the settle is done; amiroll lifts the protection it set on the new instances",
        );
    }
    if let Some(reason) = inp.force_abort {
        if fleet.on_count() > 0 {
            start_recovery(inp, out, reason, r.attempt);
        } else {
            end_round(
                out,
                g,
                &fleet.old,
                r,
                "the target failed; this group's round ends on the old AMI",
            );
            out.state = format!("round {} stopped: {reason}", r.id);
        }
        return;
    }
    if !fleet.unhealthy.is_empty() {
        start_recovery(
            inp,
            out,
            &format!(
                "after the settle, instance(s) {} on {ami} are unhealthy",
                ids(&fleet.unhealthy)
            ),
            r.attempt,
        );
        return;
    }
    if live > g.desired_capacity {
        out.state = format!(
            "round {}: scale-in under way ({live} instance(s) for desired {})",
            r.id, g.desired_capacity
        );
        return;
    }
    let healthy = fleet.healthy.len() as i32;
    if fleet.old.is_empty() {
        if healthy >= g.desired_capacity {
            succeed(inp, out, r);
            return;
        }
        if inp.now < since + Duration::minutes(SETTLE_GRACE_MINUTES) {
            out.state = format!(
                "round {}: {healthy} of {} instance(s) on {ami} in service and healthy; waiting for the rest",
                r.id, g.desired_capacity
            );
            return;
        }
        start_recovery(
            inp,
            out,
            &format!(
                "{} minutes after the settle only {healthy} of {} instance(s) on {ami} are in service and healthy",
                SETTLE_GRACE_MINUTES, g.desired_capacity
            ),
            r.attempt,
        );
        return;
    }
    // Old instances remain: a capped surge, or no run passed the gate and the scheduled settle
    // removed the new instances.
    let missed = by_schedule && fleet.on_count() == 0;
    let why = if missed {
        format!(
            "no amiroll run passed the health gate of round {} (it opens {HEALTH_GATE_MINUTES} minutes before the settle at {}), so the scheduled settle removed the new instances and kept the old ones",
            r.id,
            fmt_time(r.settle_at)
        )
    } else {
        format!(
            "after round {}, instance(s) {} still run an old AMI",
            r.attempt,
            ids(&fleet.old)
        )
    };
    let allowed = if missed {
        inp.settings.max_attempts
    } else {
        r.rounds_allowed(inp.settings.max_attempts)
    };
    if r.attempt < allowed {
        out.warnings.push(format!(
            "group `{}`: {why}; starting round {}{}",
            g.name,
            r.attempt + 1,
            if missed {
                " — schedule amiroll every 1–2 minutes while rollouts may be in flight"
            } else {
                ""
            }
        ));
        start_round(inp, out, r.attempt + 1, &fleet.old);
        out.started = false;
        return;
    }
    let reason = format!("{why}; {} round(s) tried", r.attempt);
    fail_and_end(inp, out, r, &reason, &fleet.old);
}

/// The round succeeded: every instance runs the AMI, in service and healthy, enough of them.
fn succeed(inp: &SurgeInput, out: &mut SurgeOutcome, r: &Round) {
    let g = inp.group;
    let keys: Vec<String> = tags::ROUND
        .iter()
        .chain([tags::ORIGINAL, tags::ROLLBACK_VERSION].iter())
        .map(|k| k.to_string())
        .filter(|k| g.tags.contains_key(k))
        .collect();
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: [
                (tags::SUCCEEDED_AMI.to_string(), inp.rollout_ami.to_string()),
                (tags::SUCCEEDED_AT.to_string(), fmt_time(inp.now)),
            ]
            .into_iter()
            .collect(),
        },
        "record the success (waves wait for it)",
    );
    out.act(
        Action::UntagGroup {
            group: g.name.clone(),
            keys,
        },
        format!(
            "every instance runs {} and is in service and healthy; round {} is done",
            inp.rollout_ami, r.id
        ),
    );
    out.succeeded = true;
    out.in_flight = false;
    out.converged = true;
    out.state = format!(
        "rollout finished: {} instance(s) on {}, in service and healthy",
        inp.instances.len(),
        inp.rollout_ami
    );
}

/// Close a round whose fleet is settled on the old AMI: lift amiroll's protection, drop the
/// round tags (the record of the outcome, if any, is planned by the caller).
fn end_round(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    old: &[&InstanceView],
    r: &Round,
    reason: &str,
) {
    protect_old(
        out,
        g,
        old,
        false,
        "the round is over; amiroll lifts the protection it set",
    );
    // The phase tag may have been planned in this very run: name it whether or not it is there
    // yet (DeleteTags ignores a key the group does not have).
    let keys: Vec<String> = tags::ROUND
        .iter()
        .filter(|k| g.tags.contains_key(**k) || **k == tags::PHASE)
        .map(|k| k.to_string())
        .collect();
    out.act(
        Action::UntagGroup {
            group: g.name.clone(),
            keys,
        },
        format!("round {} is over: {reason}", r.id),
    );
    out.in_flight = false;
}

/// The failure record: the reason first (a change), the AMI last (written after the
/// notification, as an outcome record).
fn record_failure(inp: &SurgeInput, out: &mut SurgeOutcome, reason: &str) {
    let g = inp.group;
    if g.tags.get(tags::FAILED_AMI).map(String::as_str) == Some(inp.rollout_ami) {
        out.already_recorded = true;
        return;
    }
    if let Some(failed) = g.tags.get(tags::FAILED_AMI) {
        // A recovery round (back to the AMI the fleet ran before) failed: the AMI that failed
        // first stays recorded — overwriting it would let the next run roll forward to it — and
        // no further recovery round is started ([`start_recovery`]).
        out.act(
            Action::TagGroup {
                group: g.name.clone(),
                tags: BTreeMap::from([
                    (tags::FAILED_AMI.to_string(), failed.clone()),
                    (
                        tags::FAILED_REASON.to_string(),
                        truncate(
                            &if reason.starts_with(RECOVERY_FAILED) {
                                reason.to_string()
                            } else {
                                format!("{RECOVERY_FAILED} (to {}): {reason}", inp.rollout_ami)
                            },
                            250,
                        ),
                    ),
                ]),
            },
            "the recovery round failed; the first failure stays recorded",
        );
        return;
    }
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: BTreeMap::from([
                (tags::FAILED_AMI.to_string(), inp.rollout_ami.to_string()),
                (tags::FAILED_REASON.to_string(), truncate(reason, 250)),
            ]),
        },
        "remember the failure so later runs do not retry this AMI",
    );
}

fn revert_version(inp: &SurgeInput) -> Option<u64> {
    inp.group
        .tags
        .get(tags::ROLLBACK_VERSION)
        .and_then(|v| v.rsplit_once(':'))
        .filter(|(tid, _)| *tid == inp.template_id)
        .and_then(|(_, n)| n.parse().ok())
}

/// A round that failed with old instances still in service: end it there, record the failure.
fn fail_and_end(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    reason: &str,
    old: &[&InstanceView],
) {
    let g = inp.group;
    // The failure is recorded before the round's tags go (both after the notification): a run
    // that stops between them must not leave a failed round looking like no round at all.
    record_failure(inp, out, reason);
    end_round(out, g, old, r, reason);
    out.failed = true;
    out.revert_to = revert_version(inp);
    out.state = format!("rollout failed: {reason}");
}

/// Stop an open round: the old instances stay protected, the scheduled actions go, and the
/// group goes back to its settle sizes, which removes the new instances (they are the only
/// unprotected ones). The phase tag goes first, so that a run that stops half way is resumed
/// as a restore; the failure record is written after the notification.
fn abort(inp: &SurgeInput, out: &mut SurgeOutcome, r: &Round, reason: &str) {
    let g = inp.group;
    let fleet = Fleet::of(inp.instances, inp.rollout_ami);
    if fleet.old.is_empty() && fleet.on_count() > 0 {
        // No old instance is left to go back to (their protection was lifted and a scale-in
        // took them): only a recovery round brings the old AMI back.
        start_recovery(inp, out, reason, r.attempt);
        return;
    }
    let surge_pending = inp.pending.iter().any(|a| a.name == r.surge_name);
    let cap =
        if surge_pending || (g.desired_capacity <= r.original.desired && fleet.on_count() == 0) {
            // The surge has not fired: whatever the capacity is now is someone else's (or the
            // original); the restore keeps it, never below the original unless they asked for less.
            Capacity {
                min: r.original.min,
                max: r.original.max.max(g.desired_capacity),
                desired: g.desired_capacity.max(r.original.min),
            }
        } else if g.desired_capacity != r.surged.1 && g.desired_capacity != r.settle_cap.desired {
            settle_capacity(r.original, g.desired_capacity - r.surged.1)
        } else {
            r.settle_cap
        };
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: BTreeMap::from([
                (
                    tags::PHASE.to_string(),
                    Phase::Restore {
                        since: inp.now,
                        capacity: cap,
                    }
                    .to_tag()
                    .unwrap_or_default(),
                ),
                (tags::FAILED_REASON.to_string(), truncate(reason, 250)),
            ]),
        },
        format!("{reason}: stop round {} and bring the group back", r.id),
    );
    out.failed = true;
    out.revert_to = revert_version(inp);
    // Recorded before the round's tags may go (see `fail_and_end`).
    record_failure(inp, out, reason);
    restore_steps(inp, out, r, cap, &fleet, reason);
}

/// The steps of a restore (also repeated by later runs until it is done).
fn restore_steps(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    cap: Capacity,
    fleet: &Fleet,
    reason: &str,
) {
    let g = inp.group;
    protect_old(
        out,
        g,
        &fleet.old,
        true,
        "keep the old instances while the new ones are removed",
    );
    for name in [&r.surge_name, &r.settle_name] {
        if inp.pending.iter().any(|a| &a.name == name) {
            out.act(
                Action::DeleteScheduledAction {
                    group: g.name.clone(),
                    name: name.clone(),
                },
                format!("{reason}: do not surge or settle"),
            );
        }
    }
    let live = inp.instances.len() as i32;
    if Capacity::of(g) != cap {
        out.act(
            Action::SetCapacity {
                group: g.name.clone(),
                min: cap.min,
                max: cap.max,
                desired: cap.desired,
            },
            format!(
                "back to min={} max={} desired={}: the scale-in removes the {} new instance(s) on {} (the old ones are protected)",
                cap.min,
                cap.max,
                cap.desired,
                fleet.on_count(),
                inp.rollout_ami
            ),
        );
        out.state = format!(
            "rollout failed: {reason}; restoring min={} max={} desired={}, old instances kept",
            cap.min, cap.max, cap.desired
        );
        return;
    }
    let new_unprotected = fleet
        .healthy
        .iter()
        .chain(fleet.pending.iter())
        .chain(fleet.unhealthy.iter())
        .any(|i| !i.protected);
    if fleet.on_count() > 0 && live > cap.desired && new_unprotected {
        out.state = format!(
            "rollout failed: {reason}; removing {} instance(s) on {}",
            fleet.on_count(),
            inp.rollout_ami
        );
        return;
    }
    end_round(
        out,
        g,
        &fleet.old,
        r,
        "the group is back to its sizes on the old instances",
    );
    if fleet.on_count() > 0 {
        out.warnings.push(format!(
            "group `{}`: instance(s) {} still run {} after the restore (launched to replace old ones); the next run replaces them with a recovery round",
            g.name,
            fleet
                .healthy
                .iter()
                .chain(fleet.pending.iter())
                .chain(fleet.unhealthy.iter())
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            inp.rollout_ami,
        ));
    }
    out.state = format!(
        "rollout failed: {reason}; group back to min={} max={} desired={} on the old instances",
        cap.min, cap.max, cap.desired
    );
}

/// A restore in progress (a later run after an abort).
fn restoring(inp: &SurgeInput, out: &mut SurgeOutcome, r: &Round, since: Timestamp, cap: Capacity) {
    let g = inp.group;
    let fleet = Fleet::of(inp.instances, inp.rollout_ami);
    let reason = g
        .tags
        .get(tags::FAILED_REASON)
        .cloned()
        .unwrap_or_else(|| format!("round {} was stopped at {}", r.id, fmt_time(since)));
    out.restoring = true;
    out.revert_to = revert_version(inp);
    if g.tags.get(tags::FAILED_AMI).map(String::as_str) != Some(inp.rollout_ami) {
        // The run that stopped the round ended before it announced and recorded the failure.
        out.failed = true;
        record_failure(inp, out, &reason);
    }
    restore_steps(inp, out, r, cap, &fleet, &reason);
}

/// The group already runs the AMI that failed: announce, put the default back, and start a
/// recovery round onto the rollback version's AMI (a copy of that version, made the default by
/// the target, so that the settle removes the failed AMI's instances, which are on an older
/// version).
fn start_recovery(inp: &SurgeInput, out: &mut SurgeOutcome, reason: &str, attempt: u32) {
    let g = inp.group;
    out.failed = true;
    out.revert_to = revert_version(inp);
    record_failure(inp, out, reason);
    if g.tags
        .get(tags::FAILED_REASON)
        .is_some_and(|r| r.starts_with(RECOVERY_FAILED))
    {
        out.warnings.push(format!(
            "group `{}`: {reason}; a recovery round already failed ({}), so amiroll starts no other — run `amiroll rollback {}` or fix the group by hand, then `amiroll apply --acknowledge`",
            g.name,
            g.tags.get(tags::FAILED_REASON).cloned().unwrap_or_default(),
            g.name
        ));
        out.in_flight = false;
        out.state = format!("rollout failed: {reason}; the recovery round failed too");
        return;
    }
    let Some(back) = inp.rollback_ami.filter(|a| *a != inp.rollout_ami) else {
        out.warnings.push(format!(
            "group `{}`: {reason}, and no version with another AMI is recorded to go back to; run `amiroll rollback` once you know which version to return to",
            g.name
        ));
        if g.tags.contains_key(tags::ROLLOUT) {
            let fleet = Fleet::of(inp.instances, inp.rollout_ami);
            out.act(
                Action::UntagGroup {
                    group: g.name.clone(),
                    keys: tags::ROUND
                        .iter()
                        .filter(|k| g.tags.contains_key(**k))
                        .map(|k| k.to_string())
                        .collect(),
                },
                "the round is over",
            );
            protect_old(out, g, &fleet.old, false, "the round is over");
        }
        out.in_flight = false;
        out.state = format!("rollout failed: {reason}; nothing to go back to");
        return;
    };
    let _ = attempt;
    let instances_off: Vec<&InstanceView> = inp
        .instances
        .iter()
        .filter(|i| i.image.as_deref() != Some(back))
        .collect();
    let rec = SurgeInput {
        group: g,
        rollout_ami: back,
        instances: inp.instances,
        pending: inp.pending,
        now: inp.now,
        settings: inp.settings,
        template_id: inp.template_id,
        rollback_version: None,
        rollback_ami: None,
        force_abort: None,
        keep_failure: true,
    };
    let mut sub = SurgeOutcome::default();
    start_round(&rec, &mut sub, 1, &instances_off);
    if sub.started {
        // The recovery round says what it recovers from, with its own tags (before the
        // notification): a run that stops after announcing still knows the AMI failed.
        for a in sub.actions.iter_mut() {
            if let Action::TagGroup { tags: t, .. } = &mut a.action {
                if t.contains_key(tags::ROLLOUT) {
                    t.insert(
                        tags::RECOVERING_FROM.to_string(),
                        inp.rollout_ami.to_string(),
                    );
                    t.insert(tags::FAILED_REASON.to_string(), truncate(reason, 250));
                }
            }
        }
        // The failed round's own actions must not fire into the recovery round.
        let keep = rollout_id(&g.name, back, 1);
        for a in inp
            .pending
            .iter()
            .filter(|a| a.name.starts_with(ACTION_PREFIX))
            .filter(|a| !a.name.starts_with(&format!("{ACTION_PREFIX}{keep}-")))
        {
            out.act(
                Action::DeleteScheduledAction {
                    group: g.name.clone(),
                    name: a.name.clone(),
                },
                "the failed round's action must not fire into the recovery round",
            );
        }
    }
    out.errors.extend(sub.errors);
    out.warnings.extend(sub.warnings);
    if let Some(h) = sub.held {
        out.warnings
            .push(format!("group `{}`: the recovery round waits: {h}", g.name));
    }
    // (The failure record is an outcome record: the engine writes it after the notification.)
    out.actions.extend(sub.actions);
    out.recover = sub.started;
    out.in_flight = sub.started;
    out.state = format!(
        "rollout failed: {reason}; recovery round back to {back}{}",
        if sub.started {
            format!(" — {}", sub.state)
        } else {
            String::new()
        }
    );
}

/// A round whose tags were removed (by a person, a script) while its scheduled actions are still
/// pending: its tags, rebuilt from the settle action (which carries the original sizes) and the
/// round id (a hash of group, AMI and attempt, so the attempt is found by trying each).
fn rebuild_lost_round(
    inp: &SurgeInput,
    ours: &[&ScheduledAction],
) -> Option<BTreeMap<String, String>> {
    let g = inp.group;
    let (attempt, round) = (1..=inp.settings.max_attempts.max(1))
        .map(|n| (n, rollout_id(&g.name, inp.rollout_ami, n)))
        .find(|(_, r)| {
            ours.iter()
                .any(|a| a.name == format!("{ACTION_PREFIX}{r}-settle"))
        })?;
    let settle = ours
        .iter()
        .find(|a| a.name == format!("{ACTION_PREFIX}{round}-settle"))?;
    // What the surge was: its action, or — once it fired — the group's surged size. A view with
    // the settle alone and a group at its settle size says nothing (it may be a stale one, taken
    // while another run was starting the round).
    let surge = ours
        .iter()
        .find(|a| a.name == format!("{ACTION_PREFIX}{round}-surge"));
    if surge.is_none()
        && settle
            .desired_capacity
            .is_none_or(|d| g.desired_capacity <= d)
    {
        return None;
    }
    let original = g
        .tags
        .get(tags::ORIGINAL)
        .and_then(|t| Capacity::parse(t))
        .or_else(|| {
            Some(Capacity {
                min: settle.min_size?,
                max: settle.max_size?,
                desired: settle.desired_capacity?,
            })
        })?;
    let surge_at = surge
        .map(|a| a.start_time)
        .unwrap_or(settle.start_time - Duration::minutes(inp.settings.surge_minutes as i64));
    let (surge_max, surge_desired) = match surge {
        Some(a) => (
            a.max_size.unwrap_or(g.max_size),
            a.desired_capacity.unwrap_or(g.desired_capacity),
        ),
        None => (g.max_size, g.desired_capacity),
    };
    let mut t = BTreeMap::new();
    t.insert(tags::ROLLOUT.to_string(), round);
    t.insert(tags::ROLLOUT_AMI.to_string(), inp.rollout_ami.to_string());
    t.insert(tags::ORIGINAL.to_string(), original.to_tag());
    t.insert(
        tags::SURGE.to_string(),
        format!("max={surge_max},desired={surge_desired}"),
    );
    t.insert(tags::SURGE_AT.to_string(), fmt_time(surge_at));
    t.insert(tags::SETTLE_AT.to_string(), fmt_time(settle.start_time));
    t.insert(tags::ATTEMPT.to_string(), attempt.to_string());
    if !g.tags.contains_key(tags::ROLLBACK_VERSION) {
        if let Some(rv) = inp.rollback_version {
            t.insert(
                tags::ROLLBACK_VERSION.to_string(),
                format!("{}:{rv}", inp.template_id),
            );
        }
    }
    Some(t)
}

/// When another actor's scheduled action changes the group's capacity between `now` and `until`
/// (allowing for its start up to [`LATE_ACTION_MINUTES`] late): its start time, or for a
/// recurring action its next occurrence (Unix cron in UTC; the port does not read `TimeZone`).
pub(crate) fn capacity_change_before(
    a: &ScheduledAction,
    now: Timestamp,
    until: Timestamp,
) -> Option<Timestamp> {
    if a.min_size.is_none() && a.max_size.is_none() && a.desired_capacity.is_none() {
        return None;
    }
    let late = Duration::minutes(LATE_ACTION_MINUTES);
    let at = match &a.recurrence {
        Some(cron) => {
            let from = (now - late).max(a.start_time);
            gates::next_cron(cron, from).unwrap_or(a.start_time)
        }
        None => a.start_time,
    };
    (at <= until + late && at + late >= now).then_some(at)
}

/// Begin a surge round: tags first (so a crash after them is resumed), the protection of the old
/// instances, then the two actions.
pub(crate) fn start_round(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    attempt: u32,
    off_target: &[&InstanceView],
) {
    let g = inp.group;
    let s = inp.settings;
    let blocked: Vec<&String> = g
        .suspended_processes
        .iter()
        .filter(|p| matches!(p.as_str(), "Launch" | "Terminate" | "ScheduledActions"))
        .collect();
    if !blocked.is_empty() {
        out.errors.push(format!(
            "group `{}` has suspended processes {}; a scheduled surge cannot launch, terminate or run its actions — resume them first",
            g.name,
            blocked.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
        ));
        return;
    }
    let in_round = g.tags.contains_key(tags::ROLLOUT);
    if !in_round {
        let protected: Vec<&str> = off_target
            .iter()
            .filter(|i| i.protected)
            .map(|i| i.id.as_str())
            .collect();
        if !protected.is_empty() {
            out.errors.push(format!(
                "instance(s) {} of group `{}` are protected from scale in by someone else (or by an amiroll round whose tags were removed); amiroll protects the old instances itself during a round and lifts the protection at the end, so it cannot tell them apart — remove the protection first",
                protected.join(", "),
                g.name
            ));
            return;
        }
    }
    if g.termination_policies.first().map(String::as_str) != Some("OldestLaunchTemplate") {
        if s.set_termination_policy {
            let mut policies = vec!["OldestLaunchTemplate".to_string()];
            policies.extend(
                g.termination_policies
                    .iter()
                    .filter(|p| p.as_str() != "OldestLaunchTemplate")
                    .cloned(),
            );
            out.act(
                Action::SetTerminationPolicies {
                    group: g.name.clone(),
                    policies,
                },
                "the settle must remove the instances on the old version first",
            );
        } else {
            out.errors.push(format!(
                "group `{}` has termination policies [{}]; scheduled-surge needs OldestLaunchTemplate first so that the settle removes the old instances — set it, or add set_termination_policy = true to the target",
                g.name,
                g.termination_policies.join(", ")
            ));
            return;
        }
    }
    // After a failed round the group may still be surged: its real size is the recorded original
    // — or, within a rollout, the settle sizes that kept an outside change.
    let original = if g.tags.contains_key(tags::FAILED_AMI) || in_round {
        g.tags
            .get(tags::SETTLE_CAPACITY)
            .filter(|_| in_round)
            .or_else(|| g.tags.get(tags::ORIGINAL))
            .and_then(|t| Capacity::parse(t))
            .unwrap_or_else(|| Capacity::of(g))
    } else {
        Capacity::of(g)
    };
    let Some((surge_desired, surge_max)) = surge_capacity(
        original,
        g.desired_capacity,
        s.surge_factor,
        s.surge_max_capacity,
    ) else {
        out.errors.push(format!(
            "group `{}`: surge_max_capacity {} leaves no room above the desired capacity {}; raise it",
            g.name,
            s.surge_max_capacity.unwrap_or_default(),
            original.desired
        ));
        return;
    };
    let round = rollout_id(&g.name, inp.rollout_ami, attempt);
    let surge_at = inp.now + Duration::minutes(SURGE_LEAD_MINUTES);
    let settle_at = surge_at + Duration::minutes(s.surge_minutes as i64);
    // Never start a round across another actor's capacity change: it would scale the group
    // before the health gate has looked at the new instances.
    let mut clash: Vec<(Timestamp, &ScheduledAction)> = inp
        .pending
        .iter()
        .filter(|a| !a.name.starts_with(ACTION_PREFIX))
        .filter_map(|a| capacity_change_before(a, inp.now, settle_at).map(|at| (at, a)))
        .collect();
    clash.sort_by_key(|(at, _)| *at);
    if let Some((at, a)) = clash.last() {
        let msg = format!(
            "group `{}` has a scheduled action `{}` (not amiroll's) that sets min={} max={} desired={} at {}, inside the round's window ({} to {}); the round starts after it",
            g.name,
            a.name,
            opt(a.min_size),
            opt(a.max_size),
            opt(a.desired_capacity),
            fmt_time(*at),
            fmt_time(inp.now),
            fmt_time(settle_at)
        );
        out.held = Some(msg.clone());
        out.state = format!("waits: {msg}");
        return;
    }
    for a in inp
        .pending
        .iter()
        .filter(|a| !a.name.starts_with(ACTION_PREFIX))
    {
        out.warnings.push(format!(
            "group `{}` has a scheduled action `{}` (not amiroll's) due {}{} that will set min={} max={} desired={}; remove it if it is the seed's leftover (a round never starts across it)",
            g.name,
            a.name,
            fmt_time(a.start_time),
            a.recurrence
                .as_ref()
                .map(|r| format!(", recurring `{r}`"))
                .unwrap_or_default(),
            opt(a.min_size),
            opt(a.max_size),
            opt(a.desired_capacity)
        ));
    }
    let mut t = SurgeRound {
        id: round.clone(),
        ami: inp.rollout_ami.to_string(),
        original,
        surge: (surge_max, surge_desired),
        surge_at,
        settle_at,
        attempt,
        phase: Phase::Surge,
        settle_capacity: None,
        recovering_from: None,
    }
    .to_tags();
    if let Some(rv) = inp.rollback_version.filter(|_| !in_round) {
        t.insert(
            tags::ROLLBACK_VERSION.to_string(),
            format!("{}:{rv}", inp.template_id),
        );
    }
    let stale: Vec<String> = [tags::PHASE, tags::SETTLE_CAPACITY]
        .iter()
        .filter(|k| g.tags.contains_key(**k))
        .map(|k| k.to_string())
        .collect();
    if !stale.is_empty() {
        out.act(
            Action::UntagGroup {
                group: g.name.clone(),
                keys: stale,
            },
            "a new round begins",
        );
    }
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: t,
        },
        "record the round and the original capacity in the group, so any later run can finish or undo it",
    );
    // Only a fresh round (a newer AMI, or one acknowledged) clears a failure: the next round of
    // a recovery round keeps it.
    if g.tags.contains_key(tags::FAILED_AMI) && !inp.keep_failure && !in_round {
        out.act(
            Action::UntagGroup {
                group: g.name.clone(),
                keys: vec![
                    tags::FAILED_AMI.to_string(),
                    tags::FAILED_REASON.to_string(),
                ],
            },
            "a new AMI supersedes the one that failed",
        );
    }
    protect_old(
        out,
        g,
        off_target,
        true,
        "keep the old instances until the new ones pass the health gate: if no run checks them, the scheduled settle removes the new ones instead",
    );
    out.act(
        Action::PutScheduledAction {
            action: ScheduledAction {
                group_name: g.name.clone(),
                name: format!("{ACTION_PREFIX}{round}-surge"),
                start_time: surge_at,
                min_size: Some(original.min),
                max_size: Some(surge_max),
                desired_capacity: Some(surge_desired),
                recurrence: None,
            },
        },
        format!(
            "{} instance(s) run an old AMI; launch {} new one(s) next to them (desired {} → {surge_desired}{})",
            off_target.len(),
            surge_desired - original.desired,
            original.desired,
            if surge_max > original.max {
                format!(", max {} → {surge_max}", original.max)
            } else {
                String::new()
            }
        ),
    );
    out.act(
        Action::PutScheduledAction {
            action: ScheduledAction {
                group_name: g.name.clone(),
                name: format!("{ACTION_PREFIX}{round}-settle"),
                start_time: settle_at,
                min_size: Some(original.min),
                max_size: Some(original.max),
                desired_capacity: Some(original.desired),
                recurrence: None,
            },
        },
        format!(
            "dead man's switch: if no run passes the health gate ({HEALTH_GATE_MINUTES} minutes before), restore min={} max={} desired={} at {}, which removes the new instances (the old ones are protected)",
            original.min, original.max, original.desired, fmt_time(settle_at)
        ),
    );
    out.started = true;
    out.state = format!(
        "round {round}: surge to {surge_desired} at {}, health gate from {}",
        fmt_time(surge_at),
        fmt_time(settle_at - Duration::minutes(HEALTH_GATE_MINUTES))
    );
}

/// The surge size: enough new instances to replace the whole original fleet
/// (`original.desired × (factor − 1)`) on top of what runs now — `desired × factor` for a group
/// at its original size — capped by the ceiling, with max raised to fit. `None` when the ceiling
/// leaves no room for even one new instance.
pub fn surge_capacity(
    original: Capacity,
    current_desired: i32,
    factor: u32,
    ceiling: Option<i32>,
) -> Option<(i32, i32)> {
    let base = current_desired.max(original.desired);
    let extra = original
        .desired
        .saturating_mul(factor.saturating_sub(1) as i32);
    let mut desired = base.saturating_add(extra);
    if let Some(c) = ceiling {
        desired = desired.min(c);
    }
    if desired <= base {
        return None;
    }
    Some((desired, original.max.max(desired)))
}

/// The version the fleet runs before a rollout: the version most old instances were launched
/// from (the newest on a tie), among versions whose AMI is not the one being rolled to; else
/// `fallback` (the version the groups launch) when its AMI differs. Taking over from the seed,
/// the default already names the new AMI while the instances run the old one.
pub(crate) fn rollback_version_of(
    instances: &[InstanceView],
    ami: &str,
    fallback: (u64, Option<&str>),
) -> Option<u64> {
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for i in instances.iter().filter(|i| i.image.as_deref() != Some(ami)) {
        if let (Some(v), Some(_)) = (i.template_version, i.image.as_deref()) {
            *count.entry(v).or_default() += 1;
        }
    }
    let best = count
        .iter()
        .max_by_key(|(v, n)| (**n, **v))
        .map(|(v, _)| *v);
    best.or_else(|| (fallback.1 != Some(ami)).then_some(fallback.0))
}
