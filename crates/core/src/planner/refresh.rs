//! The instance-refresh state machine for one group.

use super::cancel::{cancel_step, CancelInput, CancelStep};
use super::*;
use crate::state::{Announced, Cancel, Failure, Pin, Refresh, RollbackVersion, Success};

pub(crate) struct RefreshInput<'a> {
    pub(crate) view: &'a GroupView<'a>,
    pub(crate) ami: &'a str,
    pub(crate) instances: &'a [InstanceView],
    /// Newest first.
    pub(crate) refreshes: &'a [InstanceRefresh],
    pub(crate) now: Timestamp,
    pub(crate) settings: &'a TargetSettings,
    pub(crate) template_id: &'a str,
    pub(crate) target_version: Option<VersionRef>,
    pub(crate) alias: bool,
    pub(crate) may_start: bool,
    pub(crate) hold_reason: Option<&'a str>,
    pub(crate) provider: Option<&'a CapacityProvider>,
    pub(crate) rollback_version: u64,
    /// The AMI of the version in the group's `amiroll:rollback-version` tag.
    pub(crate) rollback_ami: Option<&'a str>,
}

#[derive(Default)]
pub(crate) struct RefreshOutcome {
    /// Actions that must run before the template changes (pins that keep rollback available).
    pub(crate) pre_actions: Vec<PlannedAction>,
    pub(crate) actions: Vec<PlannedAction>,
    pub(crate) errors: Vec<Refusal>,
    pub(crate) warnings: Vec<String>,
    pub(crate) events: Vec<Event>,
    pub(crate) state: String,
    pub(crate) progress: Option<RolloutProgress>,
    /// Where the group's refresh stands.
    pub(crate) phase: GroupPhase,
    /// A recovery refresh back to this version was planned.
    pub(crate) recover: Option<u64>,
    /// New launches go back to this version: `amiroll rollback` cancelled the group's refresh,
    /// whose AMI (`failed_ami`) failed.
    pub(crate) revert_to: Option<u64>,
    pub(crate) failed_ami: Option<String>,
}

impl RefreshOutcome {
    fn act(&mut self, action: Action, reason: impl Into<String>) {
        self.actions.push(PlannedAction {
            action,
            reason: reason.into(),
        });
    }
}

/// The preferences amiroll sends, from the target's settings and the group's ECS setup.
pub fn refresh_preferences(
    s: &TargetSettings,
    provider: Option<&CapacityProvider>,
    auto_rollback: bool,
    skip_matching: bool,
) -> RefreshPreferences {
    let protected = s.scale_in_protected_instances.map(|p| p.aws_name()).or(
        // ECS managed termination protection keeps instances protected; replace them anyway
        // ("Amazon ECS managed instance draining").
        provider
            .filter(|cp| cp.managed_termination_protection)
            .map(|_| "Refresh"),
    );
    RefreshPreferences {
        min_healthy_percentage: s.min_healthy_percentage,
        max_healthy_percentage: s.max_healthy_percentage,
        skip_matching,
        instance_warmup: s.instance_warmup_secs.map(|v| v as i32),
        auto_rollback,
        checkpoint_percentages: s.checkpoint_percentages.clone(),
        checkpoint_delay: s.checkpoint_delay_secs.map(|v| v as i32),
        alarms: s.alarms.clone(),
        bake_time: s.bake_time_secs.map(|v| v as i32),
        scale_in_protected_instances: protected.map(str::to_string),
        standby_instances: s.standby_instances.map(|x| x.aws_name().to_string()),
    }
}

/// The instance-refresh state machine for one group, derived every run from the group's
/// refreshes (`DescribeInstanceRefreshes`), its tags and its instances. A refresh that
/// `amiroll rollback` cancelled (the `amiroll:cancel` record) is taken on first: until the
/// refresh back onto the rollback version has started, that is all the group does.
pub(crate) fn plan_refresh_group(inp: &RefreshInput) -> RefreshOutcome {
    let g = inp.view.group;
    let mut first = Vec::new();
    if let Some(c) = Cancel::from_tags(&g.tags) {
        let back = RollbackVersion::of_template(&g.tags, inp.template_id).zip(inp.rollback_ami);
        match cancel_step(&CancelInput {
            group: g,
            spec_text: &inp.view.spec_text,
            record: &c,
            refreshes: inp.refreshes,
            template_id: inp.template_id,
            back,
            settings: inp.settings,
            provider: inp.provider,
            now: inp.now,
        }) {
            CancelStep::Following(actions) | CancelStep::Ended(actions) => first = actions,
            CancelStep::Continue(plan) => {
                return RefreshOutcome {
                    actions: plan.actions,
                    warnings: plan.warning.into_iter().collect(),
                    state: plan.state,
                    phase: GroupPhase::Failed { rolling: true },
                    revert_to: plan.back,
                    failed_ami: c.ami,
                    ..RefreshOutcome::default()
                };
            }
        }
    }
    let mut out = follow_refresh(inp);
    out.actions.splice(0..0, first);
    out
}

/// [`plan_refresh_group`] once no cancelled refresh is in the way.
fn follow_refresh(inp: &RefreshInput) -> RefreshOutcome {
    let g = inp.view.group;
    let s = inp.settings;
    let mut out = RefreshOutcome::default();
    let record = Refresh::from_tags(&g.tags).unwrap_or_default();
    let ours = record.id.as_ref();
    let latest = inp.refreshes.first();

    // A refresh in flight: follow it, never start another ("one at a time per group").
    if let Some(r) = latest.filter(|r| !r.is_terminal()) {
        out.phase = GroupPhase::Rolling;
        let pct = r.percentage_complete.unwrap_or(0);
        out.progress = Some(RolloutProgress {
            strategy: Strategy::InstanceRefresh,
            percent: Some(pct),
            detail: format!(
                "{} {}{}",
                r.id,
                r.status,
                r.status_reason
                    .as_ref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            ),
        });
        out.state = format!("instance refresh {} {} ({pct}% done)", r.id, r.status);
        if ours.map(String::as_str) != Some(r.id.as_str()) {
            if g.tags.contains_key(tags::REFRESH_AMI) {
                // Started by an amiroll run that stopped before recording the id.
                out.act(
                    Action::TagGroup {
                        group: g.name.clone(),
                        tags: Refresh::with_id(&r.id).to_tags(),
                    },
                    "adopt the refresh an earlier run started but did not record",
                );
            } else {
                out.warnings.push(format!(
                    "group `{}` has an instance refresh amiroll did not start ({} {}); amiroll waits for it",
                    g.name, r.id, r.status
                ));
            }
        }
        return out;
    }

    // A finished refresh amiroll started: announce its outcome once.
    let ours_done = latest.filter(|r| {
        Some(&r.id) == ours || (ours.is_none() && g.tags.contains_key(tags::REFRESH_AMI))
    });
    if let Some(r) = ours_done {
        let announced = Announced {
            refresh: r.id.clone(),
            status: r.status.clone(),
        };
        // An announcement that cannot be read is none: the outcome is announced again.
        if Announced::from_tags(&g.tags).ok().flatten().as_ref() != Some(&announced) {
            let rolled = record.ami.clone().unwrap_or_else(|| inp.ami.to_string());
            let mut reason = r.status_reason.clone().unwrap_or_default();
            // "Successful" is Auto Scaling's word; amiroll's is the running fleet's: the rolled
            // AMI's instances in service and healthy, none unhealthy, enough of them.
            let mut status = r.status.clone();
            if status == "Successful" {
                let on = |i: &&InstanceView| i.image.as_deref() == Some(rolled.as_str());
                let bad: Vec<&str> = inp
                    .instances
                    .iter()
                    .filter(|i| on(i) && i.failed())
                    .map(|i| i.id.as_str())
                    .collect();
                let healthy = inp
                    .instances
                    .iter()
                    .filter(|i| on(i) && i.counts_healthy())
                    .count() as i32;
                let others = inp.instances.iter().filter(|i| !on(i)).count() as i32;
                let ended = r.end_time.unwrap_or(inp.now);
                let idle: Vec<&str> = crate::planner::idle_on(inp.instances, &rolled, inp.settings)
                    .iter()
                    .map(|i| i.id.as_str())
                    .collect();
                let grace_over = inp.now
                    >= ended + Duration::minutes(crate::planner::surge::SETTLE_GRACE_MINUTES);
                if !bad.is_empty() {
                    status = "Unhealthy".to_string();
                    reason = format!(
                        "the refresh ended Successful, but instance(s) {} on {rolled} are unhealthy (or, in an ECS group, not usable by ECS)",
                        bad.join(", ")
                    );
                } else if healthy + others < g.desired_capacity {
                    if !grace_over {
                        out.phase = GroupPhase::Rolling;
                        out.state = format!(
                            "instance refresh {} ended Successful; {healthy} of {} instance(s) on {rolled} in service and healthy, waiting for the rest",
                            r.id, g.desired_capacity
                        );
                        return out;
                    }
                    status = "Unhealthy".to_string();
                    reason = format!(
                        "{} minutes after the refresh ended Successful, only {healthy} of {} instance(s) on {rolled} are in service and healthy",
                        crate::planner::surge::SETTLE_GRACE_MINUTES,
                        g.desired_capacity
                    );
                } else if !idle.is_empty() {
                    if !grace_over {
                        out.phase = GroupPhase::Rolling;
                        out.state = format!(
                            "instance refresh {} ended Successful; waiting for tasks on {} (ecs_require_tasks)",
                            r.id,
                            idle.join(", ")
                        );
                        return out;
                    }
                    status = "Unhealthy".to_string();
                    reason = format!(
                        "{} minutes after the refresh ended Successful, instance(s) {} on {rolled} run no task (ecs_require_tasks)",
                        crate::planner::surge::SETTLE_GRACE_MINUTES,
                        idle.join(", ")
                    );
                }
            }
            let mut t = announced.to_tags();
            t.extend(Refresh::with_id(&r.id).to_tags());
            let success = Success {
                ami: rolled.clone(),
                at: r.end_time.unwrap_or(inp.now),
            };
            let event = match status.as_str() {
                "Successful" if rolled != inp.ami => {
                    t.extend(success.to_tags());
                    Event::RolledBack
                }
                "Successful" => {
                    t.extend(success.to_tags());
                    Event::RolloutSucceeded
                }
                status => {
                    t.extend(
                        Failure {
                            ami: (rolled == inp.ami || !g.tags.contains_key(tags::FAILED_AMI))
                                .then(|| rolled.clone()),
                            reason: Some(truncate(
                                &format!("instance refresh {status}: {reason}"),
                                250,
                            )),
                        }
                        .to_tags(),
                    );
                    match status {
                        "RollbackSuccessful" => Event::RolledBack,
                        "Cancelled" => Event::Cancelled,
                        _ => Event::RolloutFailed,
                    }
                }
            };
            out.act(
                Action::TagGroup {
                    group: g.name.clone(),
                    tags: t,
                },
                format!(
                    "instance refresh {} ended {}{}; record it so it is announced once",
                    r.id,
                    r.status,
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({reason})")
                    }
                ),
            );
            out.events.push(event);
            if status == "Unhealthy" {
                // The fleet runs the AMI and it is not healthy: go back to the version the
                // fleet ran before, with a refresh of its own.
                if let Some(rv) = RollbackVersion::of_template(&g.tags, inp.template_id)
                    .filter(|_| rolled == inp.ami)
                {
                    out.recover = Some(rv);
                    if let Some(back) = inp.rollback_ami {
                        // The run that follows adopts the recovery refresh by this tag (the
                        // outcome record above names the refresh that ended).
                        out.act(
                            Action::TagGroup {
                                group: g.name.clone(),
                                tags: Refresh::to_ami(back).to_tags(),
                            },
                            "record the AMI the recovery refresh rolls back to",
                        );
                    }
                    out.act(
                        Action::StartInstanceRefresh {
                            group: g.name.clone(),
                            template_id: inp.template_id.to_string(),
                            version: Some(VersionRef::Number(rv)),
                            preferences: refresh_preferences(s, inp.provider, false, true),
                            mixed_instances_policy: g.mixed_instances_policy.clone(),
                            after_cancel: None,
                        },
                        format!(
                            "{reason}: replace them with v{rv}, the version the fleet ran before"
                        ),
                    );
                } else {
                    out.warnings.push(format!(
                        "group `{}`: {reason}; no rollback version is recorded — run `amiroll rollback`",
                        g.name
                    ));
                }
            }
            if status != "Successful" {
                out.phase = GroupPhase::Failed { rolling: false };
                out.state = format!(
                    "instance refresh {} ended {}{}",
                    r.id,
                    r.status,
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    }
                );
                return out;
            }
        }
    }

    let off_target: Vec<&InstanceView> = inp
        .instances
        .iter()
        .filter(|i| i.image.as_deref() != Some(inp.ami))
        .collect();
    if off_target.is_empty() {
        out.phase = GroupPhase::Converged { succeeded: false };
        out.state = "on target".to_string();
        return out;
    }
    if !inp.may_start {
        out.state = format!(
            "{} instance(s) not on {}; waits: {}",
            off_target.len(),
            inp.ami,
            inp.hold_reason.unwrap_or("held")
        );
        return out;
    }
    let blocked: Vec<&String> = g
        .suspended_processes
        .iter()
        .filter(|p| matches!(p.as_str(), "Launch" | "Terminate" | "InstanceRefresh"))
        .collect();
    if !blocked.is_empty() {
        out.errors.push(Refusal::RefreshSuspended {
            group: g.name.clone(),
            processes: blocked.into_iter().cloned().collect(),
        });
        return out;
    }

    // Rollback needs a numbered desired version, a template without `resolve:ssm:`, and a group
    // that is not on $Latest/$Default ("Undo changes with a manual or auto rollback").
    let unnumbered = inp.view.spec != VersionSpec::Pinned(inp.view.effective);
    let mut auto_rollback = s.auto_rollback && !inp.alias;
    if inp.alias && s.auto_rollback {
        out.warnings.push(format!(
            "group `{}`: the template resolves its AMI from SSM, so the refresh has no desired configuration, skips nothing and cannot roll back",
            g.name
        ));
    }
    if unnumbered && auto_rollback {
        // Pin the group to the number it launches today: nothing changes for its launches, and
        // the saved configuration a rollback returns to becomes that numbered version.
        // The tag goes first: a run that stops between the two still knows the pin is amiroll's.
        out.pre_actions.push(PlannedAction {
            action: Action::TagGroup {
                group: g.name.clone(),
                tags: Pin {
                    from: inp.view.spec_text.clone(),
                }
                .to_tags(),
            },
            reason: "remember how the group named its version before amiroll pins it".to_string(),
        });
        out.pre_actions.push(PlannedAction {
            action: Action::PinGroupVersion {
                group: g.name.clone(),
                template_id: inp.template_id.to_string(),
                version: VersionRef::Number(inp.view.effective),
                mixed_instances_policy: g.mixed_instances_policy.clone(),
            },
            reason: format!(
                "the group launches {} (v{}); rollback is only available from a numbered version, so pin it to v{} first — its launches do not change",
                inp.view.spec_text, inp.view.effective, inp.view.effective
            ),
        });
    }
    if !s.auto_rollback && !inp.alias {
        out.warnings.push(format!(
            "group `{}`: auto_rollback = false — a failed refresh stops where it is and the new instances stay",
            g.name
        ));
        auto_rollback = false;
    }
    let skip_matching = s.skip_matching && !inp.alias;
    let prefs = refresh_preferences(s, inp.provider, auto_rollback, skip_matching);
    let mut t = Refresh::to_ami(inp.ami).to_tags();
    t.extend(
        RollbackVersion {
            template_id: inp.template_id.to_string(),
            version: inp.rollback_version,
        }
        .to_tags(),
    );
    out.act(
        Action::TagGroup {
            group: g.name.clone(),
            tags: t,
        },
        "record the AMI this refresh rolls to, so any later run can follow and announce it",
    );
    out.act(
        Action::UntagGroup {
            group: g.name.clone(),
            keys: vec![tags::REFRESH.to_string(), tags::ANNOUNCED.to_string()],
        },
        "forget the previous refresh",
    );
    out.act(
        Action::StartInstanceRefresh {
            group: g.name.clone(),
            template_id: inp.template_id.to_string(),
            version: if inp.alias { None } else { inp.target_version },
            preferences: prefs,
            mixed_instances_policy: g.mixed_instances_policy.clone(),
            after_cancel: None,
        },
        format!(
            "{} instance(s) run an old AMI; replace them launch-before-terminate",
            off_target.len()
        ),
    );
    out.phase = GroupPhase::Started;
    out.state = format!(
        "instance refresh to {} starts ({} instance(s) to replace)",
        inp.ami,
        off_target.len()
    );
    out
}
