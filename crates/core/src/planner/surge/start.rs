//! Starting a round, and what it starts from: the surge size, the rollback version, another
//! actor's scheduled actions, and rebuilding a round whose tags were removed.

use super::*;

/// A round whose tags were removed (by a person, a script) while its scheduled actions are still
/// pending: its tags, rebuilt from the settle action (which carries the original sizes) and the
/// round id (a hash of group, AMI and attempt, so the attempt is found by trying each).
pub(super) fn rebuild_lost_round(
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
        if let Some(version) = inp.rollback_version {
            t.extend(
                RollbackVersion {
                    template_id: inp.template_id.to_string(),
                    version,
                }
                .to_tags(),
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
        out.errors.push(Refusal::SurgeSuspended {
            group: g.name.clone(),
            processes: blocked.into_iter().cloned().collect(),
        });
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
            out.errors.push(Refusal::ProtectedElsewhere {
                group: g.name.clone(),
                instances: protected.into_iter().map(str::to_string).collect(),
            });
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
            out.errors.push(Refusal::TerminationPolicies {
                group: g.name.clone(),
                policies: g.termination_policies.clone(),
            });
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
        out.errors.push(Refusal::NoSurgeRoom {
            group: g.name.clone(),
            surge_max: s.surge_max_capacity.unwrap_or_default(),
            desired: original.desired,
        });
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
    if let Some(version) = inp.rollback_version.filter(|_| !in_round) {
        t.extend(
            RollbackVersion {
                template_id: inp.template_id.to_string(),
                version,
            }
            .to_tags(),
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
    set_protection(
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
    out.phase = GroupPhase::Started;
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
