//! Step 8: the target's status, summary and the one notification of the run; the group reports.

use super::*;

/// What step 8 needs besides the plan built so far.
pub(super) struct Outcome<'a> {
    pub(super) holds: &'a Holds,
    pub(super) fleet: &'a FleetOutcome,
    pub(super) events: Vec<Event>,
    pub(super) template_changed: bool,
}

/// Step 8: status, summary and the most important event.
pub(super) fn finish(p: &mut TargetPlan, cx: &Ctx, o: Outcome) {
    let (s, ami) = (&cx.t.settings, cx.ami.as_str());
    let Outcome {
        holds,
        fleet,
        mut events,
        template_changed,
    } = o;
    let hold_reason = holds.reason.clone().unwrap_or_default();
    let fleet_moves = p.actions.iter().any(|a| a.action.moves_fleet());
    let succeeded = events.contains(&Event::RolloutSucceeded);
    p.status = if fleet.failed || (holds.failed_block && !fleet.in_flight) {
        TargetStatus::Failed
    } else if fleet.in_flight || !holds.other_flight.is_empty() {
        TargetStatus::Rolling
    } else if fleet_moves || template_changed || !fleet.all_converged {
        TargetStatus::Drift
    } else {
        TargetStatus::Current
    };
    if fleet.started || (template_changed && s.strategy == Strategy::None) {
        events.push(Event::RolloutStarted);
    }
    if p.status == TargetStatus::Current && s.notify_when_current && events.is_empty() {
        events.push(Event::Current);
    }
    // One notification per run: the most important event.
    p.event = [
        Event::RollbackStarted,
        Event::RolloutFailed,
        Event::RolledBack,
        Event::Cancelled,
        Event::RolloutStarted,
        Event::RolloutSucceeded,
        Event::Current,
    ]
    .into_iter()
    .find(|e| events.contains(e));
    p.summary = match p.status {
        TargetStatus::Current if succeeded => {
            format!("rollout to {ami} finished: every in-service instance runs it")
        }
        TargetStatus::Current => {
            format!("current: template and every in-service instance on {ami}")
        }
        TargetStatus::Drift if fleet.started => {
            format!("rolling to {ami} with {}", s.strategy.as_str())
        }
        TargetStatus::Drift if holds.hold() => format!("not on {ami}; waiting: {hold_reason}"),
        TargetStatus::Drift if fleet.surge_held.is_some() => format!(
            "not on {ami}; waiting: {}",
            fleet.surge_held.clone().unwrap_or_default()
        ),
        TargetStatus::Drift => format!("not on {ami}; the plan moves it"),
        TargetStatus::Rolling => match holds.other_flight.first() {
            Some((_, a)) => format!("rollout to {a} in flight; {ami} waits"),
            None => format!("rollout to {ami} in flight"),
        },
        TargetStatus::Failed if holds.failed_block => hold_reason,
        TargetStatus::Failed => {
            format!("rollout to {ami} failed; see the groups for what was kept")
        }
        TargetStatus::Error => String::new(),
    };
}

/// The version recorded in a group's `amiroll:rollback-version` tag, for this template.
pub(crate) fn tag_version(g: &AutoScalingGroup, template_id: &str) -> Option<u64> {
    crate::state::RollbackVersion::of_template(&g.tags, template_id)
}

/// The last outcome recorded in a group's tags (a success whose record cannot be read says
/// which tag).
pub(super) fn last_outcome(g: &AutoScalingGroup) -> Option<String> {
    use crate::state::{Failure, Success};
    if let Some(Failure {
        ami: Some(a),
        reason,
    }) = Failure::from_tags(&g.tags)
    {
        return Some(format!("failed: {a} ({})", reason.unwrap_or_default()));
    }
    match Success::from_tags(&g.tags) {
        Ok(Some(s)) => Some(format!("succeeded: {} at {}", s.ami, fmt_time(s.at))),
        Ok(None) => None,
        Err(e) => Some(format!("succeeded: unreadable, {e}")),
    }
}

pub(super) fn surge_progress(
    g: &AutoScalingGroup,
    ami: &str,
    inst: &[InstanceView],
    now: Timestamp,
) -> RolloutProgress {
    let total = inst.len().max(1);
    let on = inst
        .iter()
        .filter(|i| i.image.as_deref() == Some(ami) && i.counts_healthy())
        .count();
    let settle = g.tags.get(tags::SETTLE_AT).and_then(|t| parse_time(t));
    RolloutProgress {
        strategy: Strategy::ScheduledSurge,
        percent: Some(((on * 100) / total) as i32),
        detail: match settle {
            Some(at) if at > now => format!(
                "{on}/{total} instance(s) healthy on {ami}; settle in {} min",
                (at - now).num_minutes()
            ),
            _ => format!("{on}/{total} instance(s) healthy on {ami}"),
        },
    }
}

pub(super) fn group_report(
    v: &GroupView,
    inst: &[InstanceView],
    state: String,
    rollout: Option<RolloutProgress>,
    last_outcome: Option<String>,
) -> GroupReport {
    GroupReport {
        rollout,
        last_outcome,
        name: v.group.name.clone(),
        version_spec: v.spec_text.clone(),
        effective_version: Some(v.effective),
        instances_by_ami: by_ami(inst),
        min_size: v.group.min_size,
        max_size: v.group.max_size,
        desired_capacity: v.group.desired_capacity,
        state,
        ecs: ecs_report(inst),
    }
}
