//! Stopping a round: the restore of the group's sizes, and recovery rounds.

use super::*;

/// Stop an open round: the old instances stay protected, the scheduled actions go, and the
/// group goes back to its settle sizes, which removes the new instances (they are the only
/// unprotected ones). The phase tag goes first, so that a run that stops half way is resumed
/// as a restore; the failure record is written after the notification.
pub(super) fn abort(inp: &SurgeInput, out: &mut SurgeOutcome, r: &Round, reason: &str) {
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
            tags: {
                let mut t = BTreeMap::from([(
                    tags::PHASE.to_string(),
                    Phase::Restore {
                        since: inp.now,
                        capacity: cap,
                    }
                    .to_tag()
                    .unwrap_or_default(),
                )]);
                t.extend(
                    Failure {
                        ami: None,
                        reason: Some(truncate(reason, 250)),
                    }
                    .to_tags(),
                );
                t
            },
        },
        format!("{reason}: stop round {} and bring the group back", r.id),
    );
    out.phase = out.phase.fail();
    out.revert_to = revert_version(inp);
    // Recorded before the round's tags may go (see `fail_and_end`).
    record_failure(inp, out, reason);
    restore_steps(inp, out, r, cap, &fleet, reason, inp.now);
}

/// The steps of a restore (also repeated by later runs until it is done); `since`: when the
/// round was stopped.
pub(super) fn restore_steps(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    cap: Capacity,
    fleet: &Fleet,
    reason: &str,
    since: Timestamp,
) {
    let g = inp.group;
    set_protection(
        out,
        g,
        &fleet.old,
        true,
        "keep the old instances while the new ones are removed",
    );
    // Stopped while its old instances drained: they serve again, and the new ones (protected
    // by the gate when it kept them) may go.
    undrain_old(inp, out, fleet);
    let new: Vec<&InstanceView> = fleet.new_instances();
    set_protection(out, g, &new, false, "the restore removes the new instances");
    if drain_new_first(inp, out, r, cap, fleet, since) {
        return;
    }
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
    if set_capacity(
        out,
        g,
        cap,
        format!(
            "back to min={} max={} desired={}: the scale-in removes the {} new instance(s) on {} (the old ones are protected)",
            cap.min,
            cap.max,
            cap.desired,
            fleet.on_count(),
            inp.rollout_ami
        ),
    ) {
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

/// In a group amiroll drains, the old container instances that are `DRAINING` (the round was
/// stopped after its gate began their drain) go back to `ACTIVE`, before anything else of the
/// restore: the ECS service scheduler places tasks only on `ACTIVE` instances ("Draining Amazon
/// ECS container instances",
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html),
/// and the tasks of the new instances must find room on the old ones before those go.
fn undrain_old(inp: &SurgeInput, out: &mut SurgeOutcome, fleet: &Fleet) {
    if !drain_applies(inp) {
        return;
    }
    let draining = container_instances_of(&fleet.old, ContainerInstance::is_draining);
    let Some((_, cluster, _)) = draining.first() else {
        return;
    };
    out.act(
        Action::ActivateContainerInstances {
            group: inp.group.name.clone(),
            cluster: cluster.to_string(),
            container_instances: draining.iter().map(|(_, _, a)| a.to_string()).collect(),
            instance_ids: draining.iter().map(|(i, _, _)| i.to_string()).collect(),
        },
        "the round is stopped: the old instances keep serving, so ECS may place tasks on them again",
    );
}

/// In a group amiroll drains, the ECS service scheduler may have placed tasks on the new
/// instances (a service that scaled out during the round): drain them before the restore removes
/// them, as the gate drains the old ones before a settle ("Draining Amazon ECS container
/// instances", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html).
/// Until their tasks have moved (at most `drain_timeout` after the round was stopped) the group
/// stays surged with the old instances protected, and the scheduled settle, moved to the drain's
/// end, restores it if no run comes. Returns whether the restore waits.
fn drain_new_first(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    cap: Capacity,
    fleet: &Fleet,
    since: Timestamp,
) -> bool {
    if !drain_applies(inp) {
        return false;
    }
    let g = inp.group;
    let new: Vec<&InstanceView> = fleet.new_instances();
    let tasks: i32 = new
        .iter()
        .filter_map(|i| i.ecs.as_ref())
        .map(|e| e.running_tasks())
        .sum();
    let deadline =
        since + Duration::seconds(i64::try_from(inp.settings.drain_timeout_secs).unwrap_or(600));
    if tasks == 0 || inp.now >= deadline || Capacity::of(g) == cap {
        if tasks > 0 && inp.now >= deadline {
            out.warnings.push(format!(
                "group `{}`: the new instances still run {tasks} task(s) {}s after the round was stopped (drain_timeout); the restore removes them",
                g.name, inp.settings.drain_timeout_secs
            ));
        }
        return false;
    }
    drain(
        out,
        g,
        &new,
        "the round was stopped: move the tasks placed on the new instances before the restore removes them",
    );
    if inp.pending.iter().any(|a| a.name == r.surge_name) {
        out.act(
            Action::DeleteScheduledAction {
                group: g.name.clone(),
                name: r.surge_name.clone(),
            },
            "the round was stopped: do not surge",
        );
    }
    let settle = inp.pending.iter().find(|a| a.name == r.settle_name);
    if settle.is_none_or(|a| a.start_time != deadline) && deadline > inp.now {
        out.act(
            Action::PutScheduledAction {
                action: settle_action(g, r, deadline, cap),
            },
            "if no run comes, the scheduled settle restores the sizes once the drain has had its time (the old instances are protected)",
        );
    }
    out.state = format!(
        "round {} stopped; {tasks} task(s) move off the {} new instance(s) before the restore (at the latest {})",
        r.id,
        new.len(),
        fmt_time(deadline)
    );
    true
}

/// A restore in progress (a later run after an abort).
pub(super) fn restoring(
    inp: &SurgeInput,
    out: &mut SurgeOutcome,
    r: &Round,
    since: Timestamp,
    cap: Capacity,
) {
    let g = inp.group;
    let fleet = Fleet::of(inp.instances, inp.rollout_ami);
    let failure = Failure::from_tags(&g.tags).unwrap_or_default();
    let reason = failure
        .reason
        .unwrap_or_else(|| format!("round {} was stopped at {}", r.id, fmt_time(since)));
    out.phase = GroupPhase::Restoring {
        failed_now: false,
        rolling: out.phase.in_flight(),
    };
    out.revert_to = revert_version(inp);
    if failure.ami.as_deref() != Some(inp.rollout_ami) {
        // The run that stopped the round ended before it announced and recorded the failure.
        out.phase = out.phase.fail();
        record_failure(inp, out, &reason);
    }
    restore_steps(inp, out, r, cap, &fleet, &reason, since);
}

/// The group already runs the AMI that failed: announce, put the default back, and start a
/// recovery round onto the rollback version's AMI (a copy of that version, made the default by
/// the target, so that the settle removes the failed AMI's instances, which are on an older
/// version).
pub(super) fn start_recovery(inp: &SurgeInput, out: &mut SurgeOutcome, reason: &str, attempt: u32) {
    let g = inp.group;
    out.phase = out.phase.fail();
    out.revert_to = revert_version(inp);
    record_failure(inp, out, reason);
    if let Some(failed) = Failure::from_tags(&g.tags)
        .and_then(|f| f.reason)
        .filter(|r| r.starts_with(RECOVERY_FAILED))
    {
        out.warnings.push(format!(
            "group `{}`: {reason}; a recovery round already failed ({failed}), so amiroll starts no other — run `amiroll rollback {}` or fix the group by hand, then `amiroll apply --acknowledge`",
            g.name,
            g.name
        ));
        out.phase = out.phase.round_over();
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
            set_protection(out, g, &fleet.old, false, "the round is over");
        }
        out.phase = out.phase.round_over();
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
        managed_draining: inp.managed_draining,
    };
    let mut sub = SurgeOutcome::default();
    start_round(&rec, &mut sub, 1, &instances_off);
    if sub.phase.started() {
        // The recovery round says what it recovers from, with its own tags (before the
        // notification): a run that stops after announcing still knows the AMI failed.
        for a in sub.actions.iter_mut() {
            if let Action::TagGroup { tags: t, .. } = &mut a.action {
                if t.contains_key(tags::ROLLOUT) {
                    t.extend(
                        Recovery {
                            from: inp.rollout_ami.to_string(),
                        }
                        .to_tags(),
                    );
                    t.extend(
                        Failure {
                            ami: None,
                            reason: Some(truncate(reason, 250)),
                        }
                        .to_tags(),
                    );
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
    out.recover = sub.phase.started();
    out.phase = if sub.phase.started() {
        out.phase.rolling()
    } else {
        out.phase.round_over()
    };
    out.state = format!(
        "rollout failed: {reason}; recovery round back to {back}{}",
        if sub.phase.started() {
            format!(" — {}", sub.state)
        } else {
            String::new()
        }
    );
}
