//! The open round: the surge, the old instances kept protected, outside capacity changes, and
//! the health gate that settles or aborts.

use super::*;

/// The open round: wait for the surge, keep the old instances protected, follow the operator's
/// capacity changes, and in the gate either settle (healthy) or abort.
pub(super) fn surging(inp: &SurgeInput, out: &mut SurgeOutcome, r: &Round) {
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
                "new instance(s) on {ami}: {}",
                failed_text(&fleet.unhealthy)
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
    set_protection(
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
                    action: settle_action(g, r, at, settle_cap),
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
            out.phase = GroupPhase::Rolling;
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
                action: settle_action(g, r, settle.start_time, settle_cap),
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
    // Auto Scaling "automatically replaces instances that fail health checks" ("Health checks for
    // instances in an Auto Scaling group",
    // https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html),
    // from the group's template, so with the round's AMI: a run in the gate may see only
    // replacements, still within their grace period, or healthy replacements of instances that
    // failed. When instances the surge launched (from its start to LATE_ACTION_MINUTES + 1
    // after) are gone and others on the AMI came later, the round does not pass on them.
    // (Replacements of old instances that failed come with the AMI too, but leave the surge's
    // own in place.)
    let fired_by = r.surge_at + Duration::minutes(LATE_ACTION_MINUTES + 1);
    let on_ami: Vec<&InstanceView> = fleet
        .healthy
        .iter()
        .chain(fleet.pending.iter())
        .copied()
        .collect();
    let surged_own = on_ami
        .iter()
        .filter(|i| i.launched.is_some_and(|t| t >= r.surge_at && t <= fired_by))
        .count() as i32;
    let relaunched: Vec<&InstanceView> = on_ami
        .iter()
        .copied()
        .filter(|i| i.launched.is_some_and(|t| t > fired_by))
        .collect();
    let surge_size = (r.surged.1 - r.original.desired).max(0);
    if surge_fired && surged_own < surge_size && !relaunched.is_empty() {
        abort(
            inp,
            out,
            r,
            &format!(
                "Auto Scaling replaced new instance(s) on {ami} during the round: {} of the {surge_size} the surge launched are left and {} launched later; {healthy} of {expected} healthy at the health gate — an instance Auto Scaling replaces has most likely failed its health checks",
                surged_own,
                ids(&relaunched),
            ),
        );
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
    // Never more than the settle keeps: with every instance protected the scale-in could not
    // happen (when Auto Scaling replaced failed old instances with the AMI, all are new).
    let (keep, _) = keep_split(&new, cap);
    // In a group amiroll drains, the settle removes the old instances amiroll chooses (all of
    // them unless the surge was capped); elsewhere Auto Scaling chooses among all old ones.
    let leaving = if drain_applies(inp) {
        leaving(inp.instances, &fleet.old, cap)
    } else {
        fleet.old.clone()
    };
    if let Some(old) = to_drain(inp, &leaving) {
        begin_drain(
            inp,
            out,
            r,
            cap,
            keep_new,
            &keep,
            &old,
            settle.is_some(),
            fleet.healthy.len(),
        );
        return;
    }
    tag_phase(
        out,
        g,
        Phase::Settled {
            since: inp.now,
            capacity: cap,
            keep_new,
        },
        format!("{healthy} new instance(s) on {ami} are in service and healthy: the round settles"),
    );
    if keep_new {
        set_protection(
            out,
            g,
            &keep,
            true,
            "keep the new instances: Auto Scaling balances Availability Zones before it applies the termination policy, so only the old instances may be taken",
        );
    }
    finish_settle(
        out,
        g,
        &leaving,
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
pub(super) fn finish_settle(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    old: &[&InstanceView],
    cap: Capacity,
    settle_name: Option<&str>,
) {
    set_protection(
        out,
        g,
        old,
        false,
        "the new instances passed the health gate; the old ones may go",
    );
    set_capacity(
        out,
        g,
        cap,
        "restore the sizes; OldestLaunchTemplate removes the instances on the old version",
    );
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

/// The new instances amiroll protects for a settle to `cap` (as many as it keeps, in the order
/// given: healthy ones first), and the rest.
pub(super) fn keep_split<'a>(
    new: &[&'a InstanceView],
    cap: Capacity,
) -> (Vec<&'a InstanceView>, Vec<&'a InstanceView>) {
    let n = usize::try_from(cap.desired).unwrap_or(0).min(new.len());
    (new[..n].to_vec(), new[n..].to_vec())
}

/// Protect (or unprotect) the given instances that are not already so.
pub(super) fn set_protection(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    instances: &[&InstanceView],
    protect: bool,
    reason: &str,
) {
    let ids: Vec<String> = instances
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

/// Set the group to `cap`, unless it is there already.
pub(super) fn set_capacity(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    cap: Capacity,
    reason: impl Into<String>,
) -> bool {
    if Capacity::of(g) == cap {
        return false;
    }
    out.act(
        Action::SetCapacity {
            group: g.name.clone(),
            min: cap.min,
            max: cap.max,
            desired: cap.desired,
        },
        reason,
    );
    true
}

/// The settle sizes: the original, plus an outside change of `delta`, at least the original min
/// and with max raised to fit.
pub(super) fn settle_capacity(original: Capacity, delta: i32) -> Capacity {
    let desired = (original.desired + delta).max(original.min);
    Capacity {
        min: original.min,
        max: original.max.max(desired),
        desired,
    }
}
