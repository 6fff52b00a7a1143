//! Step 6: the fleet, group by group, with the target's strategy. A scheduled-surge target
//! succeeds or fails as a whole ([`plan_surge_target`]); an instance refresh is followed per
//! group ([`plan_refresh_group`]).

use super::*;

/// What the target's groups do in this run.
#[derive(Default)]
pub(crate) struct FleetOutcome {
    /// Pins that keep rollback available: they come before the new version exists.
    pub(crate) pre_actions: Vec<PlannedAction>,
    pub(crate) actions: Vec<PlannedAction>,
    pub(crate) events: Vec<Event>,
    pub(crate) started: bool,
    pub(crate) in_flight: bool,
    pub(crate) failed: bool,
    pub(crate) all_converged: bool,
    /// The default goes back to this version (a surge round failed or is being restored).
    pub(crate) revert_to: Option<u64>,
    /// The AMIs of the rounds that failed in this run.
    pub(crate) failed_amis: BTreeSet<String>,
    /// A recovery round starts: the default goes to a copy of the rollback version.
    pub(crate) recover: bool,
    /// Why a new surge round waits (another actor's scheduled action falls inside it, …).
    pub(crate) surge_held: Option<String>,
}

/// Step 6. `Err` carries the errors of a group that make the target an error.
pub(super) fn plan_groups(
    b: &mut Builder,
    cx: &Ctx,
    holds: &Holds,
    target_version: Option<VersionRef>,
) -> Result<FleetOutcome, Stop> {
    let (s, obs, tmpl, template_id, ami) = (
        &cx.t.settings,
        cx.obs,
        cx.tmpl,
        cx.template_id,
        cx.ami.as_str(),
    );
    let (source, source_image) = (cx.source.number, cx.source.image.as_str());
    let hold = holds.hold();
    let mut f = FleetOutcome {
        all_converged: true,
        ..FleetOutcome::default()
    };
    // Scheduled surge: every group's round first, then — a target succeeds or fails as a whole —
    // the rounds of the other groups are stopped (or the groups brought back) when one failed.
    let mut surge_outcomes = if s.strategy == Strategy::ScheduledSurge {
        plan_surge_target(
            s,
            &cx.views,
            obs,
            tmpl,
            template_id,
            (source, source_image),
            ami,
            hold,
            holds.failed_block,
            &holds.reason,
        )
    } else {
        BTreeMap::new()
    };
    for v in &cx.views {
        let inst = instance_views(v.group, obs, template_id);
        let g = v.group;
        let last_outcome = last_outcome(g);
        match s.strategy {
            Strategy::None => {
                let off = inst
                    .iter()
                    .filter(|i| i.image.as_deref() != Some(ami))
                    .count();
                if off > 0 {
                    f.all_converged = false;
                }
                let state = if off == 0 {
                    "on target".to_string()
                } else if hold {
                    format!("{off} instance(s) not on {ami}; waiting")
                } else {
                    format!("{off} instance(s) not on {ami}; strategy `none` leaves them until they are replaced")
                };
                b.plan
                    .groups
                    .push(group_report(v, &inst, state, None, last_outcome));
            }
            Strategy::ScheduledSurge => {
                let Some((out, group_ami)) = surge_outcomes.remove(&g.name) else {
                    f.all_converged = false;
                    b.plan.groups.push(group_report(
                        v,
                        &inst,
                        format!("waits: {}", holds.reason.clone().unwrap_or_default()),
                        None,
                        last_outcome,
                    ));
                    continue;
                };
                f.actions.extend(out.actions);
                for w in out.warnings {
                    b.warn(w);
                }
                for i in out.infos {
                    b.info(i);
                }
                if !out.errors.is_empty() {
                    return Err(Stop::Errors(out.errors));
                }
                if let Some(h) = &out.held {
                    b.info(h.clone());
                    f.surge_held = f.surge_held.or(Some(h.clone()));
                }
                if out.started {
                    f.events.push(Event::RolloutStarted);
                }
                if out.succeeded {
                    // A round to another AMI than the candidate finishing is a rollback (to the
                    // AMI the fleet ran before), not the candidate's success.
                    f.events.push(if group_ami == ami {
                        Event::RolloutSucceeded
                    } else {
                        Event::RolledBack
                    });
                }
                if out.announce_failure {
                    f.events.push(Event::RolloutFailed);
                }
                if out.failed {
                    if !out.already_recorded {
                        f.events.push(Event::RolloutFailed);
                    }
                    f.failed_amis.insert(group_ami.clone());
                }
                if out.failed || out.restoring {
                    f.revert_to = f.revert_to.or(out.revert_to);
                }
                if out.recover {
                    f.recover = true;
                }
                f.started |= out.started;
                f.failed |= out.failed || out.restoring;
                f.in_flight |= out.in_flight;
                f.all_converged &= out.converged;
                let progress = out
                    .in_flight
                    .then(|| surge_progress(g, &group_ami, &inst, obs.now));
                b.plan
                    .groups
                    .push(group_report(v, &inst, out.state, progress, last_outcome));
            }
            Strategy::InstanceRefresh => {
                let out = plan_refresh_group(&RefreshInput {
                    view: v,
                    ami,
                    instances: &inst,
                    refreshes: obs.refreshes.get(&g.name).map(Vec::as_slice).unwrap_or(&[]),
                    now: obs.now,
                    settings: s,
                    template_id,
                    target_version,
                    alias: cx.source.alias,
                    may_start: !hold,
                    hold_reason: holds.reason.as_deref(),
                    provider: provider_of(obs, g),
                    // The version the instances run (taking over from the seed, the default
                    // may already name the new AMI).
                    rollback_version: rollback_version_of(&inst, ami, (source, Some(source_image)))
                        .unwrap_or(source),
                    rollback_ami: tag_version(g, template_id)
                        .and_then(|n| tmpl.version(n))
                        .and_then(|x| x.image_id.as_deref())
                        .filter(|i| is_ami_id(i)),
                });
                f.pre_actions.extend(out.pre_actions);
                f.actions.extend(out.actions);
                for w in out.warnings {
                    b.warn(w);
                }
                if !out.errors.is_empty() {
                    return Err(Stop::Errors(out.errors));
                }
                f.events.extend(out.events.iter().copied());
                f.started |= out.started;
                f.failed |= out.failed;
                f.in_flight |= out.in_flight;
                f.all_converged &= out.converged;
                b.plan.groups.push(group_report(
                    v,
                    &inst,
                    out.state,
                    out.progress,
                    last_outcome,
                ));
            }
        }
    }
    Ok(f)
}
