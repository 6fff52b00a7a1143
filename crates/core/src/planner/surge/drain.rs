//! ECS groups without managed draining: the old container instances are set `DRAINING` when the
//! gate passes, and the settle waits until their tasks have moved (or `drain_timeout` passed).
//!
//! The run that passes the gate records [`Phase::Draining`], moves the scheduled settle to
//! `since + drain_timeout`, protects the new instances it keeps, lifts the protection of the
//! old ones the settle removes and sets their container instances `DRAINING` ("Draining Amazon
//! ECS container instances", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html:
//! the service scheduler replaces the tasks of a draining instance elsewhere and places no new
//! ones on it). Each of those steps is safe to stop after: if no later run comes, the moved
//! settle fires with only the leaving old instances unprotected and removes them, as the gate
//! decided. A later run settles once the leaving instances run no task, or at the drain timeout
//! with a warning that names the tasks left.
//!
//! A capped surge (`surge_max_capacity`) keeps some old instances. amiroll chooses which ones
//! go ([`leaving`]) and makes the settle take exactly those: they are the only unprotected
//! instances, and Auto Scaling's scale-in considers only instances "not protected from scale in"
//! ("Control which Auto Scaling instances terminate during scale in",
//! https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html).
//! The old instances that stay keep their protection and stay `ACTIVE`.

use super::*;

/// Whether amiroll drains this group's old instances in the gate: an ECS group whose capacity
/// provider (if any) does not drain for it.
pub(super) fn drain_applies(inp: &SurgeInput) -> bool {
    !inp.managed_draining && inp.instances.iter().any(|i| i.ecs.is_some())
}

/// The old instances a settle to `cap` removes, in a group amiroll drains: all of them when the
/// new instances fill the settle; for a capped surge, as many as the scale-in takes (the live
/// instances above `cap.desired`): first those already `DRAINING` (an earlier run chose them),
/// then, one at a time, an old instance from the Availability Zone with the most instances
/// (Auto Scaling balances zones, and this keeps them balanced), preferring one that runs no task,
/// then the lowest id.
pub(super) fn leaving<'a>(
    instances: &'a [InstanceView],
    old: &[&'a InstanceView],
    cap: Capacity,
) -> Vec<&'a InstanceView> {
    let remove = usize::try_from(instances.len() as i32 - cap.desired).unwrap_or(0);
    if remove >= old.len() {
        return old.to_vec();
    }
    let is_draining = |i: &InstanceView| {
        i.ecs
            .as_ref()
            .and_then(|e| e.container_instance.as_ref())
            .is_some_and(|c| c.is_draining())
    };
    let mut chosen: Vec<&InstanceView> = old.iter().copied().filter(|i| is_draining(i)).collect();
    let mut per_az: BTreeMap<&str, usize> = BTreeMap::new();
    for i in instances
        .iter()
        .filter(|i| !chosen.iter().any(|c| c.id == i.id))
    {
        *per_az.entry(i.az.as_str()).or_default() += 1;
    }
    while chosen.len() < remove {
        let next = old
            .iter()
            .copied()
            .filter(|i| !chosen.iter().any(|c| c.id == i.id))
            .max_by(|a, b| {
                let key = |i: &InstanceView| {
                    (
                        per_az.get(i.az.as_str()).copied().unwrap_or(0),
                        i.ecs.as_ref().map_or(0, |e| e.running_tasks()) == 0,
                    )
                };
                // Highest zone count, then idle, then the lowest id.
                key(a).cmp(&key(b)).then_with(|| b.id.cmp(&a.id))
            });
        let Some(next) = next else { break };
        if let Some(n) = per_az.get_mut(next.az.as_str()) {
            *n = n.saturating_sub(1);
        }
        chosen.push(next);
    }
    chosen
}

/// The old instances amiroll drains before a settle to `cap` (see [`leaving`]): `Some` for an
/// ECS group amiroll drains where one of them is still `ACTIVE`. `None`: settle at once.
pub(super) fn to_drain<'a>(
    inp: &SurgeInput,
    leaving: &[&'a InstanceView],
) -> Option<Vec<&'a InstanceView>> {
    let active = leaving.iter().any(|i| {
        i.ecs
            .as_ref()
            .and_then(|e| e.container_instance.as_ref())
            .is_some_and(|c| c.is_active())
    });
    (drain_applies(inp) && active).then(|| leaving.to_vec())
}

/// The old instances that stay after the settle (a capped surge): still protected.
fn staying<'a>(old: &[&'a InstanceView], leaving: &[&InstanceView]) -> Vec<&'a InstanceView> {
    old.iter()
        .copied()
        .filter(|i| !leaving.iter().any(|l| l.id == i.id))
        .collect()
}

/// The (instance id, cluster, container instance ARN) of those `instances` whose container
/// instance matches `which`.
pub(super) fn container_instances_of<'a>(
    instances: &[&'a InstanceView],
    which: impl Fn(&ContainerInstance) -> bool,
) -> Vec<(&'a str, &'a str, &'a str)> {
    instances
        .iter()
        .filter_map(|i| {
            let e = i.ecs.as_ref()?;
            let c = e.container_instance.as_ref().filter(|c| which(c))?;
            Some((
                i.id.as_str(),
                e.cluster.as_str(),
                c.container_instance_arn.as_str(),
            ))
        })
        .collect()
}

/// Set the container instances of `old` that are still `ACTIVE` to `DRAINING`.
pub(super) fn drain(
    out: &mut SurgeOutcome,
    g: &AutoScalingGroup,
    old: &[&InstanceView],
    reason: &str,
) {
    let active = container_instances_of(old, ContainerInstance::is_active);
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

/// When the moved scheduled settle fires: [`crate::planner::hooks::HOOK_MARGIN_SECS`] after the
/// drain timeout, so that the run at the timeout decides (settles with a warning naming the
/// tasks left, or, with `ecs_require_tasks`, stops a round whose new instances run no task)
/// rather than racing the settle; the settle is the fallback when no run comes.
fn settle_fallback(inp: &SurgeInput, since: Timestamp) -> Timestamp {
    let margin = i64::try_from(crate::planner::hooks::HOOK_MARGIN_SECS).unwrap_or(300);
    drain_deadline(inp, since) + Duration::seconds(margin)
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
    let fallback = settle_fallback(inp, inp.now);
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
                action: settle_action(g, r, fallback, cap),
            },
            "the scheduled settle waits for the drain (drain_timeout, and 5 minutes for the run at the timeout to decide); if no run comes, it removes the old instances",
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

/// [`Phase::Draining`]: settle once the leaving old instances run no task, the drain timeout
/// passed, or the scheduled settle fired; until then keep the protection, the settle time and
/// the drain as the gate set them (a run that stopped half way is finished here).
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
    let leaving = leaving(inp.instances, &fleet.old, cap);
    let staying = staying(&fleet.old, &leaving);
    let busy: Vec<(&InstanceView, i32)> = leaving
        .iter()
        .map(|i| (*i, i.ecs.as_ref().map_or(0, |e| e.running_tasks())))
        .filter(|(_, n)| *n > 0)
        .collect();
    // The scheduled settle fired when it is gone and the group is back at the settle's size
    // (gone with the group still surged: someone deleted it).
    let fired = settle.is_none() && g.desired_capacity <= cap.desired;
    let timed_out = inp.now >= deadline;
    let new: Vec<&InstanceView> = fleet
        .healthy
        .iter()
        .chain(fleet.pending.iter())
        .copied()
        .collect();
    let (keep, _) = keep_split(&new, cap);
    if !fleet.unhealthy.is_empty() && !fired {
        // A new instance failed while the old ones drained: they are still there, so the round
        // stops as a failed gate does (the old instances back to ACTIVE, the new ones removed).
        abort(
            inp,
            out,
            r,
            &format!(
                "new instance(s) on {} failed while the old instances drained: {}",
                inp.rollout_ami,
                failed_text(&fleet.unhealthy)
            ),
        );
        return;
    }
    if let Some(reason) = inp.force_abort.filter(|_| !fired) {
        // The target failed elsewhere while this group's old instances drained: they are still
        // there, so the round stops here (they go back to ACTIVE, the new instances go).
        abort(inp, out, r, reason);
        return;
    }
    let idle = crate::planner::idle_on(inp.instances, inp.rollout_ami, inp.settings);
    if timed_out && !busy.is_empty() && !idle.is_empty() && !fired {
        // `ecs_require_tasks`: the tasks could not move, and new instances run none — the new
        // AMI does not run tasks; settling would stop the tasks still on the old instances.
        abort(
            inp,
            out,
            r,
            &format!(
                "the drain timeout ({}s) passed with task(s) still on the old instances and none on new instance(s) {} (ecs_require_tasks): the new AMI runs no task",
                inp.settings.drain_timeout_secs,
                ids(&idle)
            ),
        );
        return;
    }
    if busy.is_empty() || timed_out || fired || inp.force_abort.is_some() {
        if !busy.is_empty() && inp.force_abort.is_none() && !fired {
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
                "the leaving old container instances run no task: the round settles".to_string()
            } else {
                "the drain ends: the round settles".to_string()
            },
        );
        if fired {
            settled(inp, out, r, inp.now, cap, Settle::Amiroll { keep_new });
            return;
        }
        // Settle now, whether or not the scheduled settle is still there (someone may have
        // deleted it): the same steps as a settle in the gate.
        if keep_new {
            set_protection(
                out,
                g,
                &keep,
                true,
                "keep the new instances while the old ones are removed",
            );
        }
        set_protection(
            out,
            g,
            &staying,
            true,
            "a capped surge keeps these old instances for a later round",
        );
        finish_settle(
            out,
            g,
            &leaving,
            cap,
            settle.map(|_| r.settle_name.as_str()),
        );
        out.state = format!(
            "round {}: drained; settling to min={} max={} desired={}",
            r.id, cap.min, cap.max, cap.desired
        );
        return;
    }
    // Finish what the gate run began (each step is a no-op when done).
    let fallback = settle_fallback(inp, since);
    match settle {
        Some(a) if a.start_time != fallback && fallback > inp.now => out.act(
            Action::PutScheduledAction {
                action: settle_action(g, r, fallback, cap),
            },
            "the scheduled settle waits for the drain (drain_timeout, and 5 minutes for the run at the timeout to decide)",
        ),
        None => out.act(
            Action::PutScheduledAction {
                action: settle_action(g, r, fallback, cap),
            },
            "the scheduled settle is missing (deleted by someone): put it back, so that the drained instances go even if no run comes",
        ),
        Some(_) => {}
    }
    if keep_new {
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
        &staying,
        true,
        "a capped surge keeps these old instances for a later round",
    );
    set_protection(
        out,
        g,
        &leaving,
        false,
        "the new instances passed the health gate; these old ones go at the settle",
    );
    drain(
        out,
        g,
        &leaving,
        "an earlier run stopped before it drained these old container instances",
    );
    let tasks: i32 = busy.iter().map(|(_, n)| n).sum();
    out.state = format!(
        "round {}: draining {} old instance(s); {tasks} task(s) still running on them; settling once they are gone, at the latest {}",
        r.id,
        leaving.len(),
        fmt_time(deadline)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::EcsView;
    use crate::port::ContainerInstance;

    fn instance(id: &str, az: &str, image: &str, status: &str, tasks: i32) -> InstanceView {
        InstanceView {
            id: id.to_string(),
            image: Some(image.to_string()),
            in_service: true,
            healthy: true,
            protected: true,
            az: az.to_string(),
            template_version: None,
            launched: None,
            health_checked: true,
            ecs_overdue: false,
            ecs: Some(EcsView {
                cluster: "prod".to_string(),
                container_instance: Some(ContainerInstance {
                    cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".to_string(),
                    container_instance_arn: format!("ci/{id}"),
                    ec2_instance_id: Some(id.to_string()),
                    status: status.to_string(),
                    agent_connected: true,
                    running_tasks_count: tasks,
                    pending_tasks_count: 0,
                    registered_at: None,
                    attributes: Default::default(),
                }),
            }),
        }
    }

    fn cap(desired: i32) -> Capacity {
        Capacity {
            min: 1,
            max: 12,
            desired,
        }
    }

    fn ids(v: &[&InstanceView]) -> Vec<String> {
        let mut ids: Vec<String> = v.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_settle_that_keeps_no_old_instance_takes_them_all() {
        let all = vec![
            instance("i-1", "a", "old", "ACTIVE", 2),
            instance("i-2", "b", "old", "ACTIVE", 2),
            instance("i-3", "a", "new", "ACTIVE", 0),
            instance("i-4", "b", "new", "ACTIVE", 0),
        ];
        let old: Vec<&InstanceView> = all[..2].iter().collect();
        assert_eq!(ids(&leaving(&all, &old, cap(2))), vec!["i-1", "i-2"]);
    }

    #[test]
    fn a_capped_settle_takes_from_the_fullest_zone_and_prefers_idle_instances() {
        // Zone a holds 3 old + 1 new, zone b 2 old + 1 new; the settle removes 2 of 7.
        let all = vec![
            instance("i-1", "a", "old", "ACTIVE", 2),
            instance("i-2", "a", "old", "ACTIVE", 0),
            instance("i-3", "a", "old", "ACTIVE", 2),
            instance("i-4", "b", "old", "ACTIVE", 2),
            instance("i-5", "b", "old", "ACTIVE", 2),
            instance("i-6", "a", "new", "ACTIVE", 0),
            instance("i-7", "b", "new", "ACTIVE", 0),
        ];
        let old: Vec<&InstanceView> = all[..5].iter().collect();
        // First from zone a (4 instances): the idle i-2. Then a and b hold 3 each and every
        // candidate is busy: the lowest id, i-1.
        let chosen = leaving(&all, &old, cap(5));
        assert_eq!(chosen.len(), 2);
        assert_eq!(chosen[0].id, "i-2");
        assert_eq!(chosen[1].id, "i-1");
    }

    #[test]
    fn instances_already_draining_stay_chosen() {
        let all = vec![
            instance("i-1", "a", "old", "ACTIVE", 2),
            instance("i-2", "a", "old", "ACTIVE", 0),
            instance("i-3", "b", "old", "DRAINING", 1),
            instance("i-4", "a", "new", "ACTIVE", 0),
        ];
        let old: Vec<&InstanceView> = all[..3].iter().collect();
        assert_eq!(ids(&leaving(&all, &old, cap(3))), vec!["i-3"]);
    }
}
