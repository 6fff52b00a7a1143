//! ECS groups without managed draining: the old container instances are set `DRAINING` when the
//! gate passes, and the settle waits until their tasks have moved (or `drain_timeout` passed).
//!
//! The run that passes the gate records [`Phase::Draining`], moves the scheduled settle to
//! `since + drain_timeout`, protects the new instances it keeps, lifts the protection of the
//! old ones and sets their container instances `DRAINING` ("Draining Amazon ECS container
//! instances", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html:
//! the service scheduler replaces the tasks of a draining instance elsewhere and places no new
//! ones on it). Each of those steps is safe to stop after: if no later run comes, the moved
//! settle fires with only the old instances unprotected and removes them, as the gate decided.
//! A later run settles (the same path as a settle in the gate) once the old instances run no
//! task, or at the drain timeout with a warning that names the tasks left.
//!
//! Only a surge that replaces the whole fleet drains: a capped surge keeps some old instances,
//! and which ones Auto Scaling keeps (AZ balance first, then `OldestLaunchTemplate`) is not
//! known here, so such a round settles at once, as before.

use super::*;

/// The old instances amiroll drains before a settle to `cap`: `Some` for an ECS group without
/// managed draining whose new instances (`new_count`) are enough for the settle, so that every
/// old instance goes. `None`: settle at once.
pub(super) fn to_drain<'a>(
    inp: &SurgeInput,
    old: &[&'a InstanceView],
    new_count: usize,
    cap: Capacity,
) -> Option<Vec<&'a InstanceView>> {
    let ecs = inp.instances.iter().any(|i| i.ecs.is_some());
    let whole = new_count >= usize::try_from(cap.desired).unwrap_or(0);
    let active = old.iter().any(|i| {
        i.ecs
            .as_ref()
            .and_then(|e| e.container_instance.as_ref())
            .is_some_and(|c| c.is_active())
    });
    (ecs && !inp.managed_draining && whole && active).then(|| old.to_vec())
}

/// Set the container instances of `old` that are still `ACTIVE` to `DRAINING`.
fn drain(out: &mut SurgeOutcome, g: &AutoScalingGroup, old: &[&InstanceView], reason: &str) {
    let active: Vec<(&str, &str, &str)> = old
        .iter()
        .filter_map(|i| {
            let e = i.ecs.as_ref()?;
            let c = e.container_instance.as_ref().filter(|c| c.is_active())?;
            Some((
                i.id.as_str(),
                e.cluster.as_str(),
                c.container_instance_arn.as_str(),
            ))
        })
        .collect();
    let Some((_, cluster, _)) = active.first() else {
        return;
    };
    out.act(
        Action::DrainContainerInstances {
            group: g.name.clone(),
            cluster: cluster.to_string(),
            container_instances: active.iter().map(|a| a.2.to_string()).collect(),
            instance_ids: active.iter().map(|a| a.0.to_string()).collect(),
        },
        reason,
    );
}

/// When the old instances drain by: the drain's start plus `drain_timeout`.
fn drain_deadline(inp: &SurgeInput, since: Timestamp) -> Timestamp {
    since + Duration::seconds(i64::try_from(inp.settings.drain_timeout_secs).unwrap_or(600))
}

/// The gate passed in an ECS group that amiroll drains: record the phase, move the settle, set
/// the protection for the settle and drain the old container instances.
#[allow(clippy::too_many_arguments)]
pub(super) fn begin_drain(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    cap: Capacity,
    keep_new: bool,
    keep: &[&InstanceView],
    old: &[&InstanceView],
    settle_pending: bool,
    healthy: usize,
) {
    let g = inp.group;
    let deadline = drain_deadline(inp, inp.now);
    tag_phase(
        out,
        g,
        Phase::Draining {
                    since: inp.now,
                    capacity: cap,
                    keep_new,
                },
        format!(
            "{healthy} new instance(s) on {} are in service, healthy and ACTIVE in ECS: the old container instances drain before the settle",
            inp.rollout_ami
        ),
    );
    if settle_pending {
        out.act(
            Action::PutScheduledAction {
                action: settle_action(g, r, deadline, cap),
            },
            "the scheduled settle waits for the drain (at most drain_timeout); if no run comes, it removes the old instances",
        );
    }
    if keep_new {
        set_protection(
            out,
            g,
            keep,
            true,
            "keep the new instances: Auto Scaling balances Availability Zones before it applies the termination policy, so only the old instances may be taken",
        );
    }
    set_protection(
        out,
        g,
        old,
        false,
        "the new instances passed the health gate; the old ones go at the settle",
    );
    drain(
        out,
        g,
        old,
        "move the old instances' tasks to the new ones before the settle terminates them",
    );
    out.state = format!(
        "round {}: {healthy} new instance(s) healthy; draining {} old instance(s), settling once their tasks have moved (at the latest {})",
        r.id,
        old.len(),
        fmt_time(deadline)
    );
}

/// [`Phase::Draining`]: settle once the old instances run no task, the drain timeout passed, or
/// the scheduled settle fired; until then keep the protection, the settle time and the drain as
/// the gate set them (a run that stopped half way is finished here).
pub(super) fn draining(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    since: Timestamp,
    cap: Capacity,
    keep_new: bool,
) {
    let g = inp.group;
    let fleet = Fleet::of(inp.instances, inp.rollout_ami);
    let settle = inp.pending.iter().find(|a| a.name == r.settle_name);
    let deadline = drain_deadline(inp, since);
    let busy: Vec<(&InstanceView, i32)> = fleet
        .old
        .iter()
        .map(|i| (*i, i.ecs.as_ref().map_or(0, |e| e.running_tasks())))
        .filter(|(_, n)| *n > 0)
        .collect();
    let live = inp.instances.len() as i32;
    let fired = settle.is_none() && live <= g.desired_capacity;
    let timed_out = inp.now >= deadline;
    if busy.is_empty() || timed_out || fired || inp.force_abort.is_some() {
        if !busy.is_empty() && inp.force_abort.is_none() {
            out.warnings.push(format!(
                "group `{}`: the drain timeout ({}s from {}) passed with task(s) still running on old instance(s) {}; the settle terminates them",
                g.name,
                inp.settings.drain_timeout_secs,
                fmt_time(since),
                busy.iter()
                    .map(|(i, n)| format!("{} ({n} task(s))", i.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        tag_phase(
            out,
            g,
            Phase::Settled {
                since: inp.now,
                capacity: cap,
                keep_new,
            },
            if busy.is_empty() {
                "the old container instances run no task: the round settles".to_string()
            } else {
                "the drain ends: the round settles".to_string()
            },
        );
        settled(inp, out, r, inp.now, cap, Settle::Amiroll { keep_new });
        return;
    }
    // Finish what the gate run began (each step is a no-op when done).
    if let Some(a) = settle {
        if a.start_time != deadline && deadline > inp.now {
            out.act(
                Action::PutScheduledAction {
                    action: settle_action(g, r, deadline, cap),
                },
                "the scheduled settle waits for the drain (at most drain_timeout)",
            );
        }
    }
    if keep_new {
        let new: Vec<&InstanceView> = fleet
            .healthy
            .iter()
            .chain(fleet.pending.iter())
            .copied()
            .collect();
        let (keep, _) = keep_split(&new, cap);
        set_protection(
            out,
            g,
            &keep,
            true,
            "keep the new instances while the old ones drain",
        );
    }
    set_protection(
        out,
        g,
        &fleet.old,
        false,
        "the new instances passed the health gate; the old ones go at the settle",
    );
    drain(
        out,
        g,
        &fleet.old,
        "an earlier run stopped before it drained these old container instances",
    );
    let tasks: i32 = busy.iter().map(|(_, n)| n).sum();
    out.state = format!(
        "round {}: draining {} old instance(s); {tasks} task(s) still running on them; settling once they are gone, at the latest {}",
        r.id,
        fleet.old.len(),
        fmt_time(deadline)
    );
}
