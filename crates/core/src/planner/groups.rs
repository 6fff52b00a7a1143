//! Step 6: the fleet, group by group, with the target's strategy. A scheduled-surge target
//! succeeds or fails as a whole ([`plan_surge_target`]); an instance refresh is followed per
//! group ([`plan_refresh_group`]).

use super::*;

/// Where one group's rollout stands after this run, as the strategies report it: one value
/// instead of a bundle of flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum GroupPhase {
    /// Not on the AMI, and nothing is under way or starts (held, waiting, or strategy `none`).
    #[default]
    Waiting,
    /// A rollout starts in this run.
    Started,
    /// A rollout is under way.
    Rolling,
    /// Every instance runs the AMI. `succeeded`: the rollout finished in this run (announced).
    Converged { succeeded: bool },
    /// The rollout failed. `rolling`: a round is still under way (the failed one being
    /// stopped, or a recovery round).
    Failed { rolling: bool },
    /// A failed round is being undone: the group goes back to its sizes. `failed_now`: the
    /// failure is recorded in this run; `rolling`: the round is not over yet.
    Restoring { failed_now: bool, rolling: bool },
}

impl GroupPhase {
    pub(crate) fn started(self) -> bool {
        self == GroupPhase::Started
    }
    pub(crate) fn succeeded(self) -> bool {
        self == GroupPhase::Converged { succeeded: true }
    }
    pub(crate) fn converged(self) -> bool {
        matches!(self, GroupPhase::Converged { .. })
    }
    /// The rollout failed in this run (or its failure is recorded now).
    pub(crate) fn failed(self) -> bool {
        matches!(
            self,
            GroupPhase::Failed { .. }
                | GroupPhase::Restoring {
                    failed_now: true,
                    ..
                }
        )
    }
    pub(crate) fn restoring(self) -> bool {
        matches!(self, GroupPhase::Restoring { .. })
    }
    /// A round or a refresh is under way.
    pub(crate) fn in_flight(self) -> bool {
        matches!(
            self,
            GroupPhase::Rolling
                | GroupPhase::Failed { rolling: true }
                | GroupPhase::Restoring { rolling: true, .. }
        )
    }
    /// A round (or refresh) is found under way.
    pub(crate) fn rolling(self) -> GroupPhase {
        match self {
            GroupPhase::Failed { .. } => GroupPhase::Failed { rolling: true },
            GroupPhase::Restoring { failed_now, .. } => GroupPhase::Restoring {
                failed_now,
                rolling: true,
            },
            _ => GroupPhase::Rolling,
        }
    }
    /// The round is over (its tags go); a failure or a restore stays what it is.
    pub(crate) fn round_over(self) -> GroupPhase {
        match self {
            GroupPhase::Rolling => GroupPhase::Waiting,
            GroupPhase::Failed { .. } => GroupPhase::Failed { rolling: false },
            GroupPhase::Restoring { failed_now, .. } => GroupPhase::Restoring {
                failed_now,
                rolling: false,
            },
            other => other,
        }
    }
    /// The rollout failed: a restore under way records it now; otherwise whether a round is
    /// still under way is kept.
    pub(crate) fn fail(self) -> GroupPhase {
        match self {
            GroupPhase::Restoring { rolling, .. } => GroupPhase::Restoring {
                failed_now: true,
                rolling,
            },
            other => GroupPhase::Failed {
                rolling: other.in_flight(),
            },
        }
    }
}

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
                let phase = out.phase;
                if phase.started() {
                    f.events.push(Event::RolloutStarted);
                }
                if phase.succeeded() {
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
                if phase.failed() {
                    if !out.already_recorded {
                        f.events.push(Event::RolloutFailed);
                    }
                    f.failed_amis.insert(group_ami.clone());
                }
                if phase.failed() || phase.restoring() {
                    f.revert_to = f.revert_to.or(out.revert_to);
                }
                if out.recover {
                    f.recover = true;
                }
                f.started |= phase.started();
                f.failed |= phase.failed() || phase.restoring();
                f.in_flight |= phase.in_flight();
                f.all_converged &= phase.converged();
                let progress = phase
                    .in_flight()
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
                // A refresh `amiroll rollback` cancelled: new launches go back too.
                if out.revert_to.is_some() {
                    f.revert_to = f.revert_to.or(out.revert_to);
                    f.failed_amis.extend(out.failed_ami.clone());
                }
                f.started |= out.phase.started();
                f.failed |= out.phase.failed();
                f.in_flight |= out.phase.in_flight();
                f.all_converged &= out.phase.converged();
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
