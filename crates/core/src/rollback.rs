//! `amiroll rollback`: plan the way back to the version each group ran before.
//!
//! - A refresh in flight → `RollbackInstanceRefresh` ("Undo changes with a manual or auto
//!   rollback"): Auto Scaling replaces what it deployed so far with the saved configuration.
//!   When Auto Scaling cannot (`IrreversibleInstanceRefresh`), an instance-refresh target cancels
//!   the refresh and refreshes back onto the rollback version instead (`planner::cancel`); any
//!   later run, `amiroll apply` too, takes that on from where it stands.
//! - Otherwise the retained previous version (the `amiroll:rollback-version` tag, else the newest
//!   older version with another AMI — pruning keeps it) becomes the default again and the group
//!   is rolled back to it with the target's strategy.
//!
//! The AMI rolled away from is recorded as failed on each group, so later runs do not roll
//! forward to it again until a newer AMI is published or the failure is acknowledged.

use std::collections::BTreeMap;

use crate::config::{Config, Strategy, Target};
use crate::model::*;
use crate::planner::cancel::{self, cancel_step, refresh_back, CancelInput, CancelStep};
use crate::planner::{self, tags, SurgeInput, SurgeOutcome};
use crate::port::AutoScalingGroup;
use crate::state::{Cancel, Failure, Refresh, RollbackVersion};

/// Plan a rollback of every (selected) target.
pub fn plan_rollback(config: &Config, obs: &Observation) -> Plan {
    Plan {
        generated_at: obs.now,
        targets: config
            .targets
            .iter()
            .filter(|t| !t.observe_only)
            .map(|t| rollback_target(t, obs))
            .collect(),
    }
}

fn blank(t: &Target) -> TargetPlan {
    TargetPlan {
        target: t.name.clone(),
        status: TargetStatus::Rolling,
        summary: String::new(),
        template_id: None,
        target_ami: None,
        strategy: t.settings.strategy,
        groups: Vec::new(),
        findings: Vec::new(),
        errors: Vec::new(),
        actions: Vec::new(),
        event: Some(Event::RollbackStarted),
        sns_topic: t.settings.sns_topic.clone(),
    }
}

fn error(mut p: TargetPlan, refusal: impl Into<Refusal>) -> TargetPlan {
    let refusal = refusal.into();
    p.summary = format!("nothing changed: {refusal}");
    p.errors.push(refusal);
    p.actions.clear();
    p.status = TargetStatus::Error;
    p.event = Some(Event::Error);
    p
}

fn act(p: &mut TargetPlan, action: Action, reason: impl Into<String>) {
    p.actions.push(PlannedAction {
        action,
        reason: reason.into(),
    });
}

fn rollback_target(t: &Target, obs: &Observation) -> TargetPlan {
    let mut p = blank(t);
    let s = &t.settings;
    if let Some(e) = obs.target_errors.get(&t.name) {
        return error(p, e.clone());
    }
    let Some(tmpl) = obs.templates.get(&t.launch_template) else {
        return error(
            p,
            Refusal::TemplateMissing {
                template: t.launch_template.clone(),
            },
        );
    };
    let template_id = tmpl.template.id.clone();
    p.template_id = Some(template_id.clone());
    let stamp = planner::fmt_time(obs.now);
    let mut default_to: Option<u64> = None;
    // Records that go before every other action (the cancel records: a run that stops after
    // them is taken on by the next one).
    let mut front: Vec<PlannedAction> = Vec::new();
    // With scheduled-surge, the version (copied from this one) that the rollback creates.
    let mut copy: Option<u64> = None;
    for name in &t.groups {
        let Some(g) = obs.groups.get(name) else {
            return error(
                p,
                Refusal::GroupMissing {
                    group: name.clone(),
                },
            );
        };
        if g.tags.contains_key(tags::SKIP) {
            p.findings.push(Finding {
                level: Level::Info,
                message: format!("group `{name}` is tagged {}: left alone", tags::SKIP),
            });
            continue;
        }
        let spec = g
            .launch_template
            .as_ref()
            .or(g.mixed_instances_policy.as_ref().map(|m| &m.template));
        let (_, spec_text, effective) = match planner::resolve_version(
            name,
            spec.and_then(|s| s.version.as_deref()),
            &tmpl.template,
        ) {
            Ok(r) => r,
            Err(e) => return error(p, e),
        };
        let current_ami = tmpl
            .version(effective)
            .and_then(|v| v.image_id.clone())
            .unwrap_or_default();
        let mark_failed = |ami: &str| cancel::mark_failed(name, ami, obs.now);
        let refresh = Refresh::from_tags(&g.tags).unwrap_or_default();
        let provider = planner::provider_of(obs, g);
        let refreshes = obs.refreshes.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let image_of = |n: u64| {
            tmpl.version(n)
                .and_then(|v| v.image_id.as_deref())
                .filter(|i| planner::is_ami_id(i))
        };
        let default_image = tmpl
            .version(tmpl.template.default_version)
            .and_then(|v| v.image_id.clone());

        // 0. A refresh an earlier `amiroll rollback` cancelled: take it on from where it is.
        if let Some(c) = Cancel::from_tags(&g.tags) {
            let back = RollbackVersion::of_template(&g.tags, &template_id)
                .and_then(|n| image_of(n).map(|i| (n, i)));
            match cancel_step(&CancelInput {
                group: g,
                spec_text: &spec_text,
                record: &c,
                refreshes,
                template_id: &template_id,
                back,
                settings: s,
                provider,
                now: obs.now,
            }) {
                CancelStep::Following(actions) => {
                    p.actions.extend(actions);
                    p.findings.push(Finding {
                        level: Level::Info,
                        message: format!(
                            "group `{name}`: the refresh back after the cancel of instance refresh {} is in flight; nothing more to roll back",
                            c.refresh
                        ),
                    });
                    p.groups.push(report(
                        g,
                        &spec_text,
                        effective,
                        format!("refresh back after the cancel of {} in flight", c.refresh),
                    ));
                    continue;
                }
                // The rollback is over: this is a new one.
                CancelStep::Ended(actions) => p.actions.extend(actions),
                CancelStep::Continue(plan) => {
                    if plan.back.is_some() && default_image.is_some() && default_image == c.ami {
                        default_to = plan.back;
                    }
                    p.actions.extend(plan.actions);
                    if let Some(w) = plan.warning {
                        p.findings.push(Finding {
                            level: Level::Warning,
                            message: w,
                        });
                    }
                    p.groups.push(report(g, &spec_text, effective, plan.state));
                    continue;
                }
            }
        }

        // 1. A refresh in flight: Auto Scaling undoes it.
        if let Some(r) = obs
            .refreshes
            .get(name)
            .and_then(|rs| rs.first())
            .filter(|r| !r.is_terminal())
        {
            let refresh_ami = refresh.ami.clone();
            if r.status.starts_with("Rollback")
                && refresh_ami.is_some()
                && Failure::ami_in(&g.tags) != refresh_ami.as_deref()
            {
                // An earlier `amiroll rollback` started this rollback and stopped before it
                // announced and recorded it: finish that, nothing more.
                let ami = refresh_ami.unwrap_or_default();
                act(
                    &mut p,
                    mark_failed(&ami),
                    format!("instance refresh {} is {} (an earlier rollback started it); do not roll forward to {ami} again", r.id, r.status),
                );
                p.groups.push(report(
                    g,
                    &spec_text,
                    effective,
                    format!("instance refresh {} is {}", r.id, r.status),
                ));
                continue;
            }
            if r.status.starts_with("Rollback") || r.status == "Cancelling" {
                return error(
                    p,
                    Refusal::RefreshAlreadyUndoing {
                        group: name.clone(),
                        refresh: r.id.clone(),
                        status: r.status.clone(),
                    },
                );
            }
            // "A rollback is not supported in the following situations: There is no desired
            // configuration specified for the instance refresh. The Auto Scaling group has a
            // launch template that uses an AWS Systems Manager parameter instead of an AMI ID for
            // the ImageId property. The Auto Scaling group uses the launch template's $Latest or
            // $Default version." ("RollbackInstanceRefresh",
            // https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RollbackInstanceRefresh.html).
            // Until the refresh succeeds, the group's own configuration is the one saved before
            // it, the one a rollback returns to.
            let saved_alias = tmpl
                .version(effective)
                .and_then(|v| v.image_id.as_deref())
                .is_some_and(|i| i.starts_with("resolve:ssm:"));
            let irreversible = if r.desired_template.is_none() {
                Some("it was started without a desired configuration".to_string())
            } else if spec_text.parse::<u64>().is_err() {
                Some(format!(
                    "the configuration it returns to uses the launch template's {spec_text} version"
                ))
            } else if saved_alias {
                Some(format!(
                    "v{effective}, the version it returns to, takes its AMI from SSM (resolve:ssm:)"
                ))
            } else {
                None
            };
            if let Some(why) = irreversible {
                // Auto Scaling cannot undo it: cancel it, then refresh back onto the version the
                // fleet ran before, which replaces what it launched.
                let desired = r
                    .desired_template
                    .as_ref()
                    .and_then(|d| d.version.as_deref())
                    .and_then(|v| v.parse::<u64>().ok());
                // The AMI it rolls to: amiroll's record when the refresh is amiroll's, else
                // its desired version's, else what the group launches now.
                let ours = refresh.id.as_deref().is_none_or(|id| id == r.id);
                let bad = refresh
                    .ami
                    .clone()
                    .filter(|_| ours)
                    .or_else(|| desired.and_then(image_of).map(str::to_string))
                    .unwrap_or_else(|| current_ami.clone());
                let below = desired.unwrap_or(effective);
                let usable = |n: u64| image_of(n).filter(|i| *i != bad).map(|i| (n, i));
                let back = RollbackVersion::of_template(&g.tags, &template_id)
                    .and_then(usable)
                    .or_else(|| {
                        tmpl.versions
                            .iter()
                            .filter(|v| v.version < below)
                            .filter_map(|v| usable(v.version))
                            .max_by_key(|(n, _)| *n)
                    });
                let blocker = if s.strategy != Strategy::InstanceRefresh {
                    Some(format!(
                        "the target's strategy is {}; cancel it (`aws autoscaling cancel-instance-refresh --auto-scaling-group-name {name}`), then run `amiroll rollback` again",
                        s.strategy.as_str()
                    ))
                } else if back.is_none() {
                    Some(format!(
                        "no earlier version of `{}` with another AMI than {bad} is left to go back to",
                        t.launch_template
                    ))
                } else {
                    None
                };
                let (Some((back, back_ami)), None) = (back, blocker.clone()) else {
                    return error(
                        p,
                        Refusal::IrreversibleRefresh {
                            group: name.clone(),
                            refresh: r.id.clone(),
                            why,
                            blocker: blocker.unwrap_or_default(),
                        },
                    );
                };
                let c = Cancel {
                    refresh: r.id.clone(),
                    ami: Some(bad.clone()),
                };
                let mut record = c.to_tags();
                record.extend(
                    RollbackVersion {
                        template_id: template_id.clone(),
                        version: back,
                    }
                    .to_tags(),
                );
                front.push(PlannedAction {
                    action: Action::TagGroup {
                        group: name.clone(),
                        tags: record,
                    },
                    reason: format!(
                        "record the cancel of {} and the version to go back to before anything else: any later run (`amiroll apply` too) finishes the rollback from them",
                        r.id
                    ),
                });
                let CancelStep::Continue(plan) = cancel_step(&CancelInput {
                    group: g,
                    spec_text: &spec_text,
                    record: &c,
                    refreshes,
                    template_id: &template_id,
                    back: Some((back, back_ami)),
                    settings: s,
                    provider,
                    now: obs.now,
                }) else {
                    // The refresh in flight is the newest one, so the step is to cancel it.
                    continue;
                };
                if default_image.as_deref() == Some(bad.as_str()) {
                    default_to = Some(back);
                }
                let launched = planner::instance_views(g, obs, &template_id)
                    .iter()
                    .filter(|i| i.image.as_deref() == Some(bad.as_str()))
                    .count();
                p.findings.push(Finding {
                    level: Level::Warning,
                    message: format!(
                        "group `{name}`: instance refresh {} cannot be rolled back by Auto Scaling ({why}); amiroll cancels it and refreshes the group back onto v{back} ({back_ami}). The {launched} instance(s) it already launched on {bad} stay until that refresh replaces them: in this run if the cancel completes at once, else in the next run (`amiroll apply` or `amiroll rollback`)",
                        r.id
                    ),
                });
                p.actions.extend(plan.actions);
                p.groups.push(report(g, &spec_text, effective, plan.state));
                continue;
            }
            let ami = refresh.ami.unwrap_or_else(|| current_ami.clone());
            act(
                &mut p,
                Action::RollbackInstanceRefresh { group: name.clone() },
                format!("instance refresh {} is {}; Auto Scaling replaces what it deployed so far with the configuration saved before it", r.id, r.status),
            );
            act(
                &mut p,
                mark_failed(&ami),
                format!("do not roll forward to {ami} again"),
            );
            p.groups.push(report(
                g,
                &spec_text,
                effective,
                format!("rolling back instance refresh {}", r.id),
            ));
            continue;
        }

        // 2. A surge round that has not settled: stop it. The old instances are protected, so
        //    bringing the group back to its sizes removes only the new ones; when none launched
        //    yet, deleting the round's actions is all it takes. No recovery round is needed.
        if s.strategy == Strategy::ScheduledSurge
            && g.tags.contains_key(tags::ROLLOUT)
            && !g
                .tags
                .get(tags::PHASE)
                .is_some_and(|ph| ph.starts_with("settled"))
        {
            let round_ami = g.tags.get(tags::ROLLOUT_AMI).cloned().unwrap_or_default();
            if g.tags.contains_key(tags::RECOVERING_FROM)
                || Failure::ami_in(&g.tags).is_some_and(|bad| bad != round_ami)
            {
                // A recovery round is already taking the group back (to the AMI the fleet ran
                // before the failed one): stopping it would keep the failed AMI.
                p.findings.push(Finding {
                    level: Level::Info,
                    message: format!(
                        "group `{name}`: a recovery round back to {round_ami} is already in flight; nothing more to roll back"
                    ),
                });
                p.groups.push(report(
                    g,
                    &spec_text,
                    effective,
                    format!("recovery round back to {round_ami} in flight"),
                ));
                continue;
            }
            let inst = planner::instance_views(g, obs, &template_id);
            let pending = obs.scheduled_actions.get(name).cloned().unwrap_or_default();
            let reason = format!("rolled back by `amiroll rollback` at {stamp}");
            let out = planner::plan_surge_group(&SurgeInput {
                group: g,
                rollout_ami: &round_ami,
                instances: &inst,
                pending: &pending,
                now: obs.now,
                settings: s,
                template_id: &template_id,
                rollback_version: None,
                rollback_ami: None,
                force_abort: Some(&reason),
                keep_failure: true,
                managed_draining: planner::provider_of(obs, g)
                    .is_some_and(|cp| cp.managed_draining),
            });
            if !out.errors.is_empty() {
                return error(p, Refusal::joined(out.errors));
            }
            if let Some(rv) = out.revert_to {
                if tmpl.version(rv).is_some()
                    && tmpl
                        .version(tmpl.template.default_version)
                        .and_then(|v| v.image_id.as_deref())
                        == Some(round_ami.as_str())
                {
                    default_to = Some(rv);
                }
                if spec_text.parse::<u64>().is_ok() && effective != rv {
                    act(
                        &mut p,
                        Action::PinGroupVersion {
                            group: name.clone(),
                            template_id: template_id.clone(),
                            version: VersionRef::Number(rv),
                            mixed_instances_policy: g.mixed_instances_policy.clone(),
                        },
                        format!("the group pins v{effective}; pin it back to v{rv}"),
                    );
                }
            }
            p.actions.extend(out.actions);
            p.groups.push(report(g, &spec_text, effective, out.state));
            continue;
        }

        // 2. After a failed round the default already went back, but instances on the failed AMI
        //    may still run (a failed surge keeps them), or a refresh that ended without success
        //    (cancelled: "Cancel an instance refresh",
        //    https://docs.aws.amazon.com/autoscaling/ec2/userguide/cancel-instance-refresh.html,
        //    keeps the instances it replaced) left instances on its AMI: roll the group onto the
        //    version it launches now, which removes them.
        let stray = |bad: &str| {
            bad != current_ami
                && planner::instance_views(g, obs, &template_id)
                    .iter()
                    .any(|i| i.image.as_deref() == Some(bad))
        };
        let failed_earlier = Failure::ami_in(&g.tags).is_some_and(stray);
        // The AMI of a refresh that ended without success and left instances behind: it is
        // recorded as failed below, or the next run would roll forward to it again.
        let stray_refresh = refresh.ami.clone().filter(|a| !failed_earlier && stray(a));
        let cleanup = failed_earlier || stray_refresh.is_some();
        // 3. Otherwise the retained previous version.
        let tagged = RollbackVersion::of_template(&g.tags, &template_id)
            .filter(|n| *n != effective && tmpl.version(*n).is_some());
        let previous = if cleanup {
            Some(effective)
        } else {
            tagged.or_else(|| {
                tmpl.versions
                    .iter()
                    .filter(|v| v.version < effective)
                    .filter(|v| {
                        v.image_id
                            .as_deref()
                            .is_some_and(|i| planner::is_ami_id(i) && i != current_ami)
                    })
                    .map(|v| v.version)
                    .max()
            })
        };
        let Some(prev) = previous else {
            return error(
                p,
                Refusal::NothingToRollBackTo {
                    group: name.clone(),
                    version: effective,
                    template: t.launch_template.clone(),
                },
            );
        };
        let Some(prev_ami) = tmpl.version(prev).and_then(|v| v.image_id.clone()) else {
            return error(
                p,
                Refusal::RollbackVersionNoImage {
                    template: t.launch_template.clone(),
                    version: prev,
                },
            );
        };
        let surge_copy = s.strategy == Strategy::ScheduledSurge;
        if tmpl
            .version(tmpl.template.default_version)
            .and_then(|v| v.image_id.as_deref())
            == Some(current_ami.as_str())
            && (surge_copy || prev != tmpl.template.default_version)
        {
            default_to = Some(prev);
        }
        // Stop a surge round in flight first: its settle would remove the wrong instances.
        let pending = obs.scheduled_actions.get(name).cloned().unwrap_or_default();
        for a in pending
            .iter()
            .filter(|a| a.name.starts_with(planner::ACTION_PREFIX))
        {
            act(
                &mut p,
                Action::DeleteScheduledAction {
                    group: name.clone(),
                    name: a.name.clone(),
                },
                "stop the surge round in flight before rolling back",
            );
        }
        // A settled round in flight is replaced by the rollback round below: its tags are
        // overwritten, never deleted (a deletion applied after the new tags would lose the new
        // round).
        if !cleanup {
            act(
                &mut p,
                mark_failed(&current_ami),
                format!("do not roll forward to {current_ami} again"),
            );
        }
        if let Some(bad) = &stray_refresh {
            act(
                &mut p,
                mark_failed(bad),
                format!(
                    "the refresh to {bad} ended without success; do not roll forward to it again"
                ),
            );
        }
        // A scheduled surge removes instances of the oldest version first ("Control which Auto
        // Scaling instances terminate during scale in"), so going back to an *older* version
        // would remove the very instances it launched. Roll forward instead, to a new version
        // that copies the previous one.
        let back_to = if s.strategy == Strategy::ScheduledSurge {
            if copy.is_none() {
                copy = Some(prev);
                act(
                    &mut p,
                    Action::CreateVersion {
                        template_id: template_id.clone(),
                        source_version: prev,
                        image_id: prev_ami.clone(),
                        description: planner::truncate(
                            &format!(
                                "{} {prev_ami} (rollback) from v{prev} via amiroll rollback",
                                planner::DESCRIPTION_PREFIX
                            ),
                            255,
                        ),
                        client_token: planner::client_token(&template_id, prev, &prev_ami),
                        block_device_mappings: tmpl
                            .version(prev)
                            .map(planner::snapshot_mappings)
                            .unwrap_or_default(),
                    },
                    format!("a copy of v{prev} ({prev_ami}) newer than v{effective}, so the settle removes the v{effective} instances"),
                );
            }
            VersionRef::Created
        } else {
            VersionRef::Number(prev)
        };
        if spec_text.parse::<u64>().is_ok() && s.strategy != Strategy::InstanceRefresh {
            act(
                &mut p,
                Action::PinGroupVersion {
                    group: name.clone(),
                    template_id: template_id.clone(),
                    version: back_to,
                    mixed_instances_policy: g.mixed_instances_policy.clone(),
                },
                format!("the group pins v{effective}; pin it back to {back_to} ({prev_ami})"),
            );
        }
        let state = match s.strategy {
            Strategy::InstanceRefresh => {
                // The refresh leaves the group on the numbered version it names (its desired
                // configuration): a group that named `$Default`/`$Latest` is then pinned by
                // amiroll, and the pin record says so (and what it named before).
                p.actions.extend(refresh_back(
                    g,
                    &spec_text,
                    &template_id,
                    (prev, &prev_ami),
                    s,
                    provider,
                    None,
                    format!("replace the instances on {current_ami} with v{prev} ({prev_ami})"),
                ));
                format!("instance refresh back to v{prev} ({prev_ami})")
            }
            Strategy::ScheduledSurge => {
                let inst = planner::instance_views(g, obs, &template_id);
                let off: Vec<&planner::InstanceView> = inst
                    .iter()
                    .filter(|i| i.image.as_deref() != Some(prev_ami.as_str()))
                    .collect();
                let mut out = SurgeOutcome::default();
                let foreign: Vec<_> = pending
                    .iter()
                    .filter(|a| !a.name.starts_with(planner::ACTION_PREFIX))
                    .cloned()
                    .collect();
                planner::start_round(
                    &SurgeInput {
                        group: g,
                        rollout_ami: &prev_ami,
                        instances: &inst,
                        pending: &foreign,
                        now: obs.now,
                        settings: s,
                        template_id: &template_id,
                        // The version the fleet ran before the rollout stays recorded (a round
                        // in flight keeps its tag); none is invented here.
                        rollback_version: None,
                        rollback_ami: None,
                        force_abort: None,
                        keep_failure: true,
                        managed_draining: planner::provider_of(obs, g)
                            .is_some_and(|cp| cp.managed_draining),
                    },
                    &mut out,
                    1,
                    &off,
                );
                if !out.errors.is_empty() {
                    return error(p, Refusal::joined(out.errors));
                }
                if let Some(h) = out.held {
                    return error(
                        p,
                        Refusal::RollbackHeld {
                            group: name.clone(),
                            reason: h,
                        },
                    );
                }
                p.actions.extend(out.actions);
                format!("surge back to v{prev} ({prev_ami}) — {}", out.state)
            }
            Strategy::None => format!("new launches use v{prev} ({prev_ami}) again"),
        };
        p.groups.push(report(g, &spec_text, effective, state));
    }
    if let Some(prev) = default_to {
        // The default goes back first (right after the copy, if any), so that every launch from
        // here on uses the old AMI.
        let after_copy = p
            .actions
            .iter()
            .position(|a| matches!(a.action, Action::CreateVersion { .. }))
            .map_or(0, |i| i + 1);
        let (at, version) = match copy {
            Some(_) => (after_copy, VersionRef::Created),
            None => (0, VersionRef::Number(prev)),
        };
        p.actions.insert(
            at,
            PlannedAction {
                action: Action::SetDefaultVersion {
                    template_id: template_id.clone(),
                    version,
                },
                reason: format!("new launches go back to the AMI of v{prev}"),
            },
        );
    }
    p.actions.splice(0..0, front);
    p.summary = format!(
        "rolling back {} group(s) to the version they ran before",
        p.groups.len()
    );
    p
}

fn report(g: &AutoScalingGroup, spec: &str, effective: u64, state: String) -> GroupReport {
    GroupReport {
        name: g.name.clone(),
        version_spec: spec.to_string(),
        effective_version: Some(effective),
        instances_by_ami: BTreeMap::new(),
        min_size: g.min_size,
        max_size: g.max_size,
        desired_capacity: g.desired_capacity,
        state,
        rollout: None,
        last_outcome: None,
        ecs: None,
    }
}
