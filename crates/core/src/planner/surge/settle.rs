//! After the settle: the outcome judged from the running fleet, and the end of a round.

use super::*;

/// After the settle: the outcome, judged from the running fleet.
/// Who settled a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settle {
    /// amiroll, in the health gate (`keep_new`: it protected the new instances for the settle).
    Amiroll { keep_new: bool },
    /// The scheduled settle, as a dead man's switch: no run passed the gate.
    Schedule,
}

pub(super) fn settled(
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
    let new: Vec<&InstanceView> = fleet.new_instances();
    let live = inp.instances.len() as i32;
    if !by_schedule {
        if keep_new && live > g.desired_capacity {
            let (keep, rest) = keep_split(&new, cap);
            set_protection(
                out,
                g,
                &keep,
                true,
                "keep the new instances while the old ones are removed",
            );
            set_protection(
                out,
                g,
                &rest,
                false,
                "more new instances than the settle keeps: Auto Scaling may remove these too",
            );
        }
        if live > cap.desired {
            // The scale-in is still to come: the old instances it takes lose their protection
            // (in a group amiroll drains, only those it chose; a capped surge keeps the rest).
            let leaving = if drain_applies(inp) {
                leaving(inp.instances, &fleet.old, cap)
            } else {
                fleet.old.clone()
            };
            set_protection(
                out,
                g,
                &leaving,
                false,
                "the round settled; these old instances may go",
            );
        }
        let half_done: Vec<&String> = [&r.surge_name, &r.settle_name]
            .into_iter()
            .filter(|n| inp.pending.iter().any(|a| &&a.name == n))
            .collect();
        if !half_done.is_empty() {
            // A run stopped half way through the settle (the scheduled settle is deleted last):
            // finish it.
            set_capacity(out, g, cap, "finish the settle an earlier run began");
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
    if keep_new && live <= g.desired_capacity {
        // The scale-in is done: amiroll lifts the protection it put on the new instances.
        set_protection(
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
                "after the settle, instance(s) on {ami}: {}",
                failed_text(&fleet.unhealthy)
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
            let idle = crate::planner::idle_on(inp.instances, ami, inp.settings);
            if idle.is_empty() {
                succeed(inp, out, r);
            } else if inp.now < since + Duration::minutes(SETTLE_GRACE_MINUTES) {
                out.state = format!(
                    "round {}: {healthy} instance(s) on {ami} in service and healthy; waiting for tasks on {} (ecs_require_tasks)",
                    r.id,
                    ids(&idle)
                );
            } else {
                start_recovery(
                    inp,
                    out,
                    &format!(
                        "{SETTLE_GRACE_MINUTES} minutes after the settle, instance(s) {} on {ami} run no task (ecs_require_tasks)",
                        ids(&idle)
                    ),
                    r.attempt,
                );
            }
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
        out.phase = GroupPhase::Rolling;
        return;
    }
    let reason = format!("{why}; {} round(s) tried", r.attempt);
    fail_and_end(inp, out, r, &reason, &fleet.old);
}

/// The round succeeded: every instance runs the AMI, in service and healthy, enough of them.
pub(super) fn succeed(inp: &SurgeInput, out: &mut SurgeOutcome, r: &Round) {
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
            tags: Success {
                ami: inp.rollout_ami.to_string(),
                at: inp.now,
            }
            .to_tags(),
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
    out.phase = GroupPhase::Converged { succeeded: true };
    out.state = format!(
        "rollout finished: {} instance(s) on {}, in service and healthy",
        inp.instances.len(),
        inp.rollout_ami
    );
}

/// Close a round whose fleet is settled on the old AMI: lift amiroll's protection, drop the
/// round tags (the record of the outcome, if any, is planned by the caller).
pub(super) fn end_round(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    old: &[&InstanceView],
    r: &Round,
    reason: &str,
) {
    set_protection(
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
    out.phase = out.phase.round_over();
}

/// The failure record: the reason first (a change), the AMI last (written after the
/// notification, as an outcome record).
pub(super) fn record_failure(inp: &SurgeInput, out: &mut SurgeOutcome, reason: &str) {
    let g = inp.group;
    if Failure::ami_in(&g.tags) == Some(inp.rollout_ami) {
        out.already_recorded = true;
        return;
    }
    if let Some(failed) = Failure::ami_in(&g.tags) {
        // A recovery round (back to the AMI the fleet ran before) failed: the AMI that failed
        // first stays recorded — overwriting it would let the next run roll forward to it — and
        // no further recovery round is started ([`start_recovery`]).
        out.act(
            Action::TagGroup {
                group: g.name.clone(),
                tags: Failure::of(
                    failed,
                    truncate(
                        &if reason.starts_with(RECOVERY_FAILED) {
                            reason.to_string()
                        } else {
                            format!("{RECOVERY_FAILED} (to {}): {reason}", inp.rollout_ami)
                        },
                        250,
                    ),
                )
                .to_tags(),
            },
            "the recovery round failed; the first failure stays recorded",
        );
        return;
    }
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: Failure::of(inp.rollout_ami, truncate(reason, 250)).to_tags(),
        },
        "remember the failure so later runs do not retry this AMI",
    );
}

pub(super) fn revert_version(inp: &SurgeInput) -> Option<u64> {
    RollbackVersion::of_template(&inp.group.tags, inp.template_id)
}

/// A round that failed with old instances still in service: end it there, record the failure.
pub(super) fn fail_and_end(
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
    out.phase = out.phase.fail();
    out.revert_to = revert_version(inp);
    out.state = format!("rollout failed: {reason}");
}
