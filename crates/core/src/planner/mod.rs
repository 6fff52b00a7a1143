//! The planner: a pure function from (configuration, observation) to a plan.
//!
//! No I/O, no clock reads (the time is `Observation::now`), no randomness. The safety rules live
//! here, so this is where most tests live:
//!
//! - validate the candidate AMI before anything is written (format, existence, state,
//!   architecture, deprecation, downgrade);
//! - create at most one version per (template, source version, AMI), from the version the groups
//!   really launch, with a deterministic `ClientToken`;
//! - never delete the default version, the version a group or an instance or an in-flight rollout
//!   uses, or the rollback version;
//! - never surge past the configured ceiling, never start a rollout while one runs, never roll to
//!   an AMI whose rollout failed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::config::{AmiFormat, Config, Pinned, Prune, Strategy, Target, TargetSettings};
use crate::gates;
use crate::model::*;
use crate::port::{
    AutoScalingGroup, CapacityProvider, GroupInstance, InstanceRefresh, RefreshPreferences,
    TemplateSpec, Timestamp,
};

pub use crate::state::tags;

/// Prefix of every version description amiroll writes; `prune = "own"` deletes only these.
pub const DESCRIPTION_PREFIX: &str = "amiroll:";

mod hold;
mod prune;
mod reads;
mod refresh;
mod revert;
pub(crate) mod surge;
mod view;
mod vocab;

pub(crate) use crate::planner::surge::plan_surge_group;
use crate::planner::surge::plan_surge_target;
use crate::planner::surge::rollback_version_of;
pub(crate) use crate::planner::surge::{start_round, SurgeInput, SurgeOutcome};
pub use crate::planner::surge::{
    surge_capacity, ACTION_PREFIX, HEALTH_GATE_MINUTES, SURGE_LEAD_MINUTES,
};
use hold::gate_reason;
use prune::prune_actions;
pub use prune::versions_to_prune;
pub use reads::*;
pub use refresh::refresh_preferences;
use refresh::{plan_refresh_group, RefreshInput};
use revert::revert_moves;
pub(crate) use view::*;
pub use vocab::*;
/// At most this many versions per `DeleteLaunchTemplateVersions` call (API reference).
pub const MAX_DELETE_PER_CALL: usize = 200;

/// Plan every target.
pub fn plan(config: &crate::config::Config, obs: &Observation) -> Plan {
    plan_with(config, obs, &PlanOptions::default())
}

/// Choices the user makes for one run.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Targets whose failed rollout the user acknowledged: the failure tags are removed and the
    /// AMI may be tried again.
    pub acknowledge: BTreeSet<String>,
}

/// Plan every target that is not observe-only.
pub fn plan_with(config: &crate::config::Config, obs: &Observation, opts: &PlanOptions) -> Plan {
    Plan {
        generated_at: obs.now,
        targets: config
            .targets
            .iter()
            .filter(|t| !t.observe_only)
            .map(|t| plan_target(t, &config.targets, obs, opts))
            .collect(),
    }
}

struct Builder {
    plan: TargetPlan,
}

impl Builder {
    fn new(target: &Target) -> Self {
        Builder {
            plan: TargetPlan {
                target: target.name.clone(),
                status: TargetStatus::Current,
                summary: String::new(),
                template_id: None,
                target_ami: None,
                strategy: target.settings.strategy,
                groups: Vec::new(),
                findings: Vec::new(),
                errors: Vec::new(),
                actions: Vec::new(),
                event: None,
                sns_topic: target.settings.sns_topic.clone(),
            },
        }
    }

    /// Stop the target with a refusal. (A `String` is taken as [`Refusal::Other`] until the
    /// sentences of this file are converted.)
    fn error(mut self, refusal: impl Into<Refusal>) -> TargetPlan {
        self.plan.errors.push(refusal.into());
        self.finish_error()
    }

    fn finish_error(mut self) -> TargetPlan {
        self.plan.status = TargetStatus::Error;
        self.plan.actions.clear();
        self.plan.summary = format!(
            "nothing changed: {}",
            self.plan
                .errors
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        self.plan.event = Some(Event::Error);
        self.plan
    }

    fn warn(&mut self, message: String) {
        self.plan.findings.push(Finding {
            level: Level::Warning,
            message,
        });
    }

    fn info(&mut self, message: String) {
        self.plan.findings.push(Finding {
            level: Level::Info,
            message,
        });
    }

    fn act(&mut self, action: Action, reason: impl Into<String>) {
        self.plan.actions.push(PlannedAction {
            action,
            reason: reason.into(),
        });
    }
}

/// Plan one target.
pub fn plan_target(
    t: &Target,
    all: &[Target],
    obs: &Observation,
    opts: &PlanOptions,
) -> TargetPlan {
    let mut b = Builder::new(t);
    let s = &t.settings;
    let now = obs.now;

    if let Some(e) = obs.target_errors.get(&t.name) {
        return b.error(e.clone());
    }
    if let Some(topic) = &s.sns_topic {
        if obs.topics.get(topic) == Some(&false) {
            b.plan.event = None; // cannot notify a topic that does not exist
            let mut p = b.error(format!("SNS topic `{topic}` does not exist"));
            p.event = None;
            return p;
        }
    }

    // 1. The candidate AMI from its source.
    let Some(param) = obs.parameters.get(&t.ami_parameter) else {
        return b.error(format!(
            "SSM parameter `{}` does not exist in this region (or is not readable)",
            t.ami_parameter
        ));
    };
    let ami = match parse_ami_value(&param.value, t.expected_format(), &t.ami_parameter) {
        Ok(a) => a,
        Err(e) => return b.error(e),
    };

    // 2. The template and the groups.
    let Some(tmpl) = obs.templates.get(&t.launch_template) else {
        return b.error(format!("launch template `{}` not found", t.launch_template));
    };
    let template_id = tmpl.template.id.clone();
    b.plan.template_id = Some(template_id.clone());

    let views = match group_views(&mut b, t, obs, tmpl, &template_id) {
        Ok(Some(views)) => views,
        Ok(None) => return b.plan,
        Err(e) => return b.error(e),
    };

    // Failed earlier? Then hold everything for this AMI.
    let failed_groups: Vec<&str> = views
        .iter()
        .filter(|v| {
            crate::state::Failure::ami_in(&v.group.tags) == Some(ami.as_str())
                || crate::state::Recovery::from_tags(&v.group.tags)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.from == *ami)
        })
        .map(|v| v.group.name.as_str())
        .collect();

    // 3. The version the groups launch from today (the source of the new version).
    let sources: BTreeSet<u64> = views.iter().map(|v| v.effective).collect();
    let source = match sources.len() {
        0 => tmpl.template.default_version,
        1 => sources
            .iter()
            .copied()
            .next()
            .unwrap_or(tmpl.template.default_version),
        _ => {
            let detail = views
                .iter()
                .map(|v| format!("`{}` uses {} (v{})", v.group.name, v.spec_text, v.effective))
                .collect::<Vec<_>>()
                .join(", ");
            return b.error(format!(
                "the groups of this target launch different versions of `{}` ({detail}); amiroll builds the new version from the one version they share — align them or split the target",
                t.launch_template
            ));
        }
    };
    let Some(source_version) = tmpl.version(source) else {
        return b.error(format!(
            "version {source} of launch template `{}` does not exist",
            t.launch_template
        ));
    };
    let Some(source_image) = source_version.image_id.clone() else {
        return b.error(format!(
            "version {source} of launch template `{}` has no ImageId; amiroll only replaces an ImageId and will not add one",
            t.launch_template
        ));
    };
    let alias = source_image.starts_with("resolve:ssm:");

    // 4. Validate the candidate before anything is written.
    let Some(image) = obs.images.get(&ami) else {
        return b.error(format!(
            "AMI `{ami}` (from SSM parameter `{}` version {}) does not exist or is not visible to this account",
            t.ami_parameter, param.version
        ));
    };
    b.plan.target_ami = Some(TargetAmi {
        image_id: ami.clone(),
        name: image.name.clone(),
        parameter: t.ami_parameter.clone(),
        parameter_version: param.version,
    });
    if image.state != "available" {
        return b.error(format!(
            "AMI `{ami}` is in state `{}`, not `available`",
            image.state
        ));
    }
    if let Some(dep) = image.deprecation_time {
        if dep <= now && !s.allow_deprecated {
            return b.error(format!(
                "AMI `{ami}` is deprecated since {}; set allow_deprecated = true to roll to it anyway",
                fmt_time(dep)
            ));
        }
    }
    let mut types: BTreeSet<String> = BTreeSet::new();
    if let Some(it) = &source_version.instance_type {
        types.insert(it.clone());
    }
    for v in &views {
        types.extend(v.override_types.iter().cloned());
    }
    if types.is_empty() {
        b.info(format!(
            "version {source} of `{}` sets no InstanceType; the AMI's architecture ({}) was not checked against instance types",
            t.launch_template, image.architecture
        ));
    }
    for it in &types {
        match obs.instance_types.get(it) {
            Some(archs) if !archs.iter().any(|a| a == &image.architecture) => {
                return b.error(format!(
                    "architecture mismatch: AMI `{ami}` is {} but instance type {it} supports {}",
                    image.architecture,
                    archs.join(", ")
                ));
            }
            Some(_) => {}
            // Types are only read for targets that may change (an incomplete template means the
            // target was plainly current and they were not asked for).
            None if !tmpl.complete => {}
            None => b.warn(format!(
                "instance type {it} is unknown in this region; the AMI's architecture was not checked against it"
            )),
        }
    }
    if !alias && source_image != ami {
        match obs.images.get(&source_image) {
            Some(current) => {
                if let (Some(new_c), Some(cur_c)) = (image.creation_date, current.creation_date) {
                    if new_c < cur_c && !s.allow_downgrade {
                        return b.error(format!(
                            "AMI `{ami}` (created {}) is older than `{source_image}` (created {}) that version {source} uses; refusing to downgrade — set allow_downgrade = true to roll back on purpose",
                            fmt_time(new_c),
                            fmt_time(cur_c)
                        ));
                    }
                }
            }
            None => b.warn(format!(
                "the AMI in use, `{source_image}`, is not visible any more; amiroll could not check that `{ami}` is newer"
            )),
        }
    }

    // Group references that amiroll must not break.
    let refresh = s.strategy == Strategy::InstanceRefresh;
    for v in &views {
        if let VersionSpec::Pinned(n) = v.spec {
            let pinned_image = tmpl.version(n).and_then(|x| x.image_id.clone());
            let moves = pinned_image.as_deref() != Some(ami.as_str()) && !alias;
            // A pin amiroll made (its own version, left by a successful refresh, or a pin taken
            // to keep rollback available) is amiroll's to move.
            let ours = tmpl
                .version(n)
                .and_then(|x| x.description.as_deref())
                .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX))
                || v.group.tags.contains_key(tags::PINNED_FROM);
            if moves && !refresh && s.pinned == Pinned::Update && v.group.launch_template.is_none()
            {
                return b.error(format!(
                    "Auto Scaling group `{}` pins version {n} inside a mixed instances policy; amiroll re-pins only groups with a plain LaunchTemplate — move the policy to $Default or re-pin it yourself",
                    v.group.name
                ));
            }
            if moves && s.pinned == Pinned::Refuse && !(refresh && ours) {
                return b.error(format!(
                    "Auto Scaling group `{}` pins version {n} of launch template `{}`; amiroll cannot roll it without `pinned = \"update\"` in the target (it would then re-pin the group to the new version)",
                    v.group.name, t.launch_template
                ));
            }
        }
    }

    // ECS: a group behind a capacity provider ("Amazon ECS capacity providers").
    let provider_of = |g: &AutoScalingGroup| -> Option<&CapacityProvider> {
        let arn = g.arn.as_deref()?;
        obs.capacity_providers
            .as_ref()?
            .iter()
            .find(|cp| cp.auto_scaling_group_arn == arn)
    };
    for v in &views {
        let Some(cp) = provider_of(v.group) else {
            continue;
        };
        if cp.managed_scaling && s.strategy == Strategy::ScheduledSurge {
            return b.error(format!(
                "Auto Scaling group `{}` backs ECS capacity provider `{}` with managed scaling on: ECS owns the group's desired capacity and would undo a scheduled surge — use strategy = \"instance-refresh\"",
                v.group.name, cp.name
            ));
        }
        if !cp.managed_draining && s.strategy != Strategy::None {
            b.warn(format!(
                "group `{}` backs ECS capacity provider `{}` without managed draining: tasks on replaced instances are stopped without draining — turn managed draining on",
                v.group.name, cp.name
            ));
        }
        if cp.managed_termination_protection && refresh && s.scale_in_protected_instances.is_none()
        {
            b.info(format!(
                "group `{}`: capacity provider `{}` protects instances from scale in; the refresh uses ScaleInProtectedInstances = Refresh so they are replaced",
                v.group.name, cp.name
            ));
        }
    }
    if obs.capacity_providers.is_none()
        && tmpl.complete
        && !views.is_empty()
        && s.strategy != Strategy::None
    {
        b.info("ECS capacity providers could not be read; the ECS checks were skipped".to_string());
    }

    // An acknowledged failure is cleared and the AMI tried again.
    let acknowledged = opts.acknowledge.contains(&t.name);
    if acknowledged {
        for v in views
            .iter()
            .filter(|v| v.group.tags.contains_key(tags::FAILED_AMI))
        {
            b.act(
                Action::UntagGroup {
                    group: v.group.name.clone(),
                    keys: vec![
                        tags::FAILED_AMI.to_string(),
                        tags::FAILED_REASON.to_string(),
                    ],
                },
                "the failure was acknowledged (--acknowledge)",
            );
        }
    }
    let failed_block = !failed_groups.is_empty() && !acknowledged;

    // What holds a new rollout back (in-flight rollouts are still followed).
    let mut hold_reason: Option<String> = None;
    if failed_block {
        let reason = views
            .iter()
            .find_map(|v| crate::state::Failure::from_tags(&v.group.tags)?.reason)
            .unwrap_or_default();
        hold_reason = Some(format!(
            "the rollout to {ami} failed earlier on {} ({reason}); it is not retried until a newer AMI is published or the failure is acknowledged (`amiroll apply --acknowledge {}`)",
            failed_groups.join(", "),
            t.name
        ));
    }
    let flights: Vec<(String, String)> = views
        .iter()
        .filter_map(|v| {
            let g = v.group;
            if g.tags.contains_key(tags::ROLLOUT) {
                return g
                    .tags
                    .get(tags::ROLLOUT_AMI)
                    .map(|a| (g.name.clone(), a.clone()));
            }
            let active = obs
                .refreshes
                .get(&g.name)
                .and_then(|rs| rs.first())
                .filter(|r| !r.is_terminal())?;
            let refresh = crate::state::Refresh::from_tags(&g.tags).unwrap_or_default();
            let what = if refresh.id.as_deref() == Some(active.id.as_str())
                || g.tags.contains_key(tags::REFRESH_AMI)
            {
                refresh.ami.unwrap_or_default()
            } else {
                format!("an instance refresh amiroll did not start ({})", active.id)
            };
            Some((g.name.clone(), what))
        })
        .collect();
    let other_flight: Vec<&(String, String)> = flights.iter().filter(|(_, a)| a != &ami).collect();
    if hold_reason.is_none() && !other_flight.is_empty() {
        hold_reason = Some(format!(
            "a rollout to {} is in flight on {}; {ami} waits until it ends",
            other_flight[0].1,
            other_flight
                .iter()
                .map(|(g, _)| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The AMI failed on a group of another target that shares this template: the template's
    // default must not move to it, so this target holds too.
    if hold_reason.is_none() && !acknowledged {
        let elsewhere: Vec<&str> = obs
            .groups
            .values()
            .filter(|g| !views.iter().any(|v| v.group.name == g.name))
            .filter(|g| crate::state::Failure::ami_in(&g.tags) == Some(ami.as_str()))
            .filter(|g| {
                let spec = g
                    .launch_template
                    .as_ref()
                    .or(g.mixed_instances_policy.as_ref().map(|m| &m.template));
                spec.is_some_and(|s| {
                    s.template_id.as_deref() == Some(template_id.as_str())
                        || s.template_name.as_deref() == Some(tmpl.template.name.as_str())
                })
            })
            .map(|g| g.name.as_str())
            .collect();
        if !elsewhere.is_empty() {
            hold_reason = Some(format!(
                "the rollout to {ami} failed on group(s) {} of another target, which share launch template `{}`; its default does not move to {ami} (acknowledge the failure there to retry)",
                elsewhere.join(", "),
                t.launch_template
            ));
        }
    }
    let starting_new = flights.is_empty();
    if hold_reason.is_none() && starting_new {
        hold_reason = gate_reason(t, all, obs, &ami, image.creation_date);
    }
    let hold = hold_reason.is_some();
    if let Some(r) = &hold_reason {
        if other_flight.is_empty() {
            b.info(r.clone());
        } else {
            // A newer AMI was published while a rollout is in flight: say so.
            b.warn(r.clone());
        }
    }

    // 5. Template changes: one version per AMI, from the source version.
    let mut target_version: Option<VersionRef> = None;
    let mut template_changed = false;
    if alias {
        b.info(format!(
            "version {source} of `{}` takes its AMI from `{}` at launch; amiroll leaves the template as it is and only replaces instances — instance-refresh rollback is not available for such templates",
            t.launch_template, source_image
        ));
        if let Some(alias_param) = source_image.strip_prefix("resolve:ssm:") {
            if alias_param != t.ami_parameter {
                b.warn(format!(
                    "the template resolves `{alias_param}` but the target watches `{}`; new launches may get a different AMI than {ami}",
                    t.ami_parameter
                ));
            }
        }
    } else if !hold {
        if source_image == ami {
            target_version = Some(VersionRef::Number(source));
        } else if let Some(existing) = tmpl.versions.iter().find(|v| {
            v.version > source
                && v.image_id.as_deref() == Some(ami.as_str())
                && v.description.as_deref().is_some_and(|d| {
                    d.starts_with(DESCRIPTION_PREFIX) && d.contains(&format!(" from v{source} "))
                })
        }) {
            target_version = Some(VersionRef::Number(existing.version));
            b.info(format!(
                "version {} already carries {ami} (made by an earlier run); reusing it",
                existing.version
            ));
        } else {
            let description = truncate(
                &format!(
                    "{DESCRIPTION_PREFIX} {ami} ({}) from v{source} via {}:{}",
                    image.name.clone().unwrap_or_else(|| "unnamed".to_string()),
                    t.ami_parameter,
                    param.version
                ),
                255,
            );
            b.act(
                Action::CreateVersion {
                    template_id: template_id.clone(),
                    source_version: source,
                    image_id: ami.clone(),
                    description,
                    client_token: client_token(&template_id, source, &ami),
                },
                format!(
                    "version {source} (what the groups launch) uses {source_image}; SSM parameter {} (version {}) now gives {ami}",
                    t.ami_parameter, param.version
                ),
            );
            target_version = Some(VersionRef::Created);
            template_changed = true;
        }
        let default_image = tmpl
            .version(tmpl.template.default_version)
            .and_then(|v| v.image_id.clone());
        if let (Some(tv), false) = (target_version, refresh) {
            // Without a refresh, the default moves now: that is what makes $Default groups
            // launch the new AMI. (A refresh moves it once the fleet runs the AMI.)
            let already_default = tv == VersionRef::Number(tmpl.template.default_version);
            if !already_default && default_image.as_deref() != Some(ami.as_str()) {
                b.act(
                    Action::SetDefaultVersion {
                        template_id: template_id.clone(),
                        version: tv,
                    },
                    format!(
                        "groups on $Default launch v{} ({}) until the default moves",
                        tmpl.template.default_version,
                        default_image.unwrap_or_else(|| "no ImageId".to_string())
                    ),
                );
                template_changed = true;
            }
            for v in &views {
                if let VersionSpec::Pinned(n) = v.spec {
                    if tv != VersionRef::Number(n) {
                        b.act(
                            Action::PinGroupVersion {
                                group: v.group.name.clone(),
                                template_id: template_id.clone(),
                                version: tv,
                            },
                            format!(
                                "the group pins v{n}; pinned = \"update\" lets amiroll re-pin it"
                            ),
                        );
                        template_changed = true;
                    }
                }
                if v.spec == VersionSpec::Latest {
                    let latest_ok = match tv {
                        VersionRef::Created => true,
                        VersionRef::Number(n) => n == tmpl.template.latest_version,
                    };
                    if !latest_ok {
                        return b.error(format!(
                            "Auto Scaling group `{}` launches $Latest (v{}), which does not carry {ami}, and the version that does is older; pin the group or remove the newer version",
                            v.group.name, tmpl.template.latest_version
                        ));
                    }
                    b.info(format!(
                        "group `{}` launches $Latest: a new version is live for it the moment it is created (validated above)",
                        v.group.name
                    ));
                }
            }
        }
    }

    // 6. The fleet, group by group.
    let mut events: Vec<Event> = Vec::new();
    let mut started = false;
    let mut in_flight = false;
    let mut failed = false;
    let mut all_converged = true;
    let mut revert_to: Option<u64> = None;
    // The AMIs of the rounds that failed in this run.
    let mut failed_amis: BTreeSet<String> = BTreeSet::new();
    let mut pre_actions: Vec<PlannedAction> = Vec::new();
    let mut recover = false;
    let mut surge_held: Option<String> = None;
    // Scheduled surge: every group's round first, then — a target succeeds or fails as a whole —
    // the rounds of the other groups are stopped (or the groups brought back) when one failed.
    let mut surge_outcomes = if s.strategy == Strategy::ScheduledSurge {
        plan_surge_target(
            s,
            &views,
            obs,
            tmpl,
            &template_id,
            (source, source_image.as_str()),
            &ami,
            hold,
            failed_block,
            &hold_reason,
        )
    } else {
        BTreeMap::new()
    };
    for v in &views {
        let inst = instance_views(v.group, obs, &template_id);
        let g = v.group;
        let last_outcome = last_outcome(g);
        match s.strategy {
            Strategy::None => {
                let off = inst
                    .iter()
                    .filter(|i| i.image.as_deref() != Some(ami.as_str()))
                    .count();
                if off > 0 {
                    all_converged = false;
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
                    all_converged = false;
                    b.plan.groups.push(group_report(
                        v,
                        &inst,
                        format!("waits: {}", hold_reason.clone().unwrap_or_default()),
                        None,
                        last_outcome,
                    ));
                    continue;
                };
                b.plan.actions.extend(out.actions);
                for w in out.warnings {
                    b.warn(w);
                }
                for i in out.infos {
                    b.info(i);
                }
                if !out.errors.is_empty() {
                    b.plan.errors.extend(out.errors);
                    return b.finish_error();
                }
                if let Some(h) = &out.held {
                    b.info(h.clone());
                    surge_held = surge_held.or(Some(h.clone()));
                }
                if out.started {
                    events.push(Event::RolloutStarted);
                }
                if out.succeeded {
                    // A round to another AMI than the candidate finishing is a rollback (to the
                    // AMI the fleet ran before), not the candidate's success.
                    events.push(if group_ami == ami {
                        Event::RolloutSucceeded
                    } else {
                        Event::RolledBack
                    });
                }
                if out.announce_failure {
                    events.push(Event::RolloutFailed);
                }
                if out.failed {
                    if !out.already_recorded {
                        events.push(Event::RolloutFailed);
                    }
                    failed_amis.insert(group_ami.clone());
                }
                if out.failed || out.restoring {
                    revert_to = revert_to.or(out.revert_to);
                }
                if out.recover {
                    recover = true;
                }
                started |= out.started;
                failed |= out.failed || out.restoring;
                in_flight |= out.in_flight;
                all_converged &= out.converged;
                let progress = out
                    .in_flight
                    .then(|| surge_progress(g, &group_ami, &inst, now));
                b.plan
                    .groups
                    .push(group_report(v, &inst, out.state, progress, last_outcome));
            }
            Strategy::InstanceRefresh => {
                let out = plan_refresh_group(&RefreshInput {
                    view: v,
                    ami: &ami,
                    instances: &inst,
                    refreshes: obs.refreshes.get(&g.name).map(Vec::as_slice).unwrap_or(&[]),
                    now,
                    settings: s,
                    template_id: &template_id,
                    target_version,
                    alias,
                    may_start: !hold,
                    hold_reason: hold_reason.as_deref(),
                    provider: provider_of(g),
                    // The version the instances run (taking over from the seed, the default
                    // may already name the new AMI).
                    rollback_version: rollback_version_of(
                        &inst,
                        &ami,
                        (source, Some(source_image.as_str())),
                    )
                    .unwrap_or(source),
                    rollback_ami: tag_version(g, &template_id)
                        .and_then(|n| tmpl.version(n))
                        .and_then(|x| x.image_id.as_deref())
                        .filter(|i| is_ami_id(i)),
                });
                pre_actions.extend(out.pre_actions);
                b.plan.actions.extend(out.actions);
                for w in out.warnings {
                    b.warn(w);
                }
                if !out.errors.is_empty() {
                    b.plan.errors.extend(out.errors);
                    return b.finish_error();
                }
                events.extend(out.events.iter().copied());
                started |= out.started;
                failed |= out.failed;
                in_flight |= out.in_flight;
                all_converged &= out.converged;
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
    // Pins that keep rollback available come before the new version exists.
    if !pre_actions.is_empty() {
        let rest = std::mem::take(&mut b.plan.actions);
        b.plan.actions = pre_actions.into_iter().chain(rest).collect();
    }

    // With a refresh, the default follows once the whole fleet runs the AMI.
    if refresh && !hold && !failed && !in_flight && all_converged {
        if let Some(tv) = target_version {
            let default_image = tmpl
                .version(tmpl.template.default_version)
                .and_then(|v| v.image_id.clone());
            if tv != VersionRef::Number(tmpl.template.default_version)
                && default_image.as_deref() != Some(ami.as_str())
            {
                b.act(
                    Action::SetDefaultVersion {
                        template_id: template_id.clone(),
                        version: tv,
                    },
                    format!("every group runs {ami}; the default follows so that other launches get it too"),
                );
                template_changed = true;
            }
        }
    }

    // A target that others wait for (`after`) and that runs the AMI everywhere without having
    // recorded it (strategy `none`, instances replaced by someone else, or current before amiroll
    // rolled it): record it, or the waves behind it would wait forever. The soak of the targets
    // behind it starts now.
    let waiting: Vec<&str> = all
        .iter()
        .filter(|x| x.settings.after.as_deref() == Some(t.name.as_str()))
        .map(|x| x.name.as_str())
        .collect();
    if !waiting.is_empty() && all_converged && !failed && !in_flight && !started {
        for v in &views {
            // Only a fleet that is whole and healthy on the AMI counts (waves trust this tag).
            if healthy_on(v.group, obs, &template_id, &ami).is_err() {
                continue;
            }
            let recorded = crate::state::Success::ami_in(&v.group.tags) == Some(ami.as_str())
                || b.plan.actions.iter().any(|a| {
                    matches!(&a.action, Action::TagGroup { group, tags: t }
                        if *group == v.group.name && t.contains_key(tags::SUCCEEDED_AMI))
                });
            if recorded {
                continue;
            }
            b.act(
                Action::TagGroup {
                    group: v.group.name.clone(),
                    tags: BTreeMap::from([
                        (tags::SUCCEEDED_AMI.to_string(), ami.clone()),
                        (tags::SUCCEEDED_AT.to_string(), fmt_time(now)),
                    ]),
                },
                format!(
                    "every instance runs {ami}; record it, because {} wait(s) for this target (after)",
                    waiting
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    revert_moves(
        &mut b.plan.actions,
        tmpl,
        &template_id,
        &views,
        obs,
        revert_to,
        &failed_amis,
        recover,
    );

    // 7. Prune old versions, keeping the rollback version and everything in use.
    if s.prune != Prune::Off && s.keep_versions > 0 && !hold && !alias && tmpl.complete {
        for (action, reason) in prune_actions(
            s,
            tmpl,
            &template_id,
            source,
            target_version,
            revert_to,
            obs,
            &views,
        ) {
            b.act(action, reason);
        }
    }

    // An outcome an earlier run could not announce is announced now.
    for v in &views {
        // One that cannot be read is left as it is (and not announced), as ever.
        if let Some(crate::state::Unannounced(e)) =
            crate::state::Unannounced::from_tags(&v.group.tags)
                .ok()
                .flatten()
        {
            // A start that was never announced is superseded by an outcome of this run.
            let superseded = e == Event::RolloutStarted
                && events.iter().any(|x| {
                    matches!(
                        x,
                        Event::RolloutSucceeded
                            | Event::RolloutFailed
                            | Event::RolledBack
                            | Event::Cancelled
                    )
                });
            if !superseded {
                events.push(e);
            }
            b.act(
                Action::UntagGroup {
                    group: v.group.name.clone(),
                    keys: vec![tags::UNANNOUNCED.to_string()],
                },
                format!(
                    "{} was not announced by the run that reached it; announced now",
                    e.as_str()
                ),
            );
        }
    }

    // 8. Status, summary and notification.
    let p = &mut b.plan;
    let fleet_moves = p.actions.iter().any(|a| a.action.moves_fleet());
    let succeeded = events.contains(&Event::RolloutSucceeded);
    p.status = if failed || (failed_block && !in_flight) {
        TargetStatus::Failed
    } else if in_flight || !other_flight.is_empty() {
        TargetStatus::Rolling
    } else if fleet_moves || template_changed || !all_converged {
        TargetStatus::Drift
    } else {
        TargetStatus::Current
    };
    if started || (template_changed && s.strategy == Strategy::None) {
        events.push(Event::RolloutStarted);
    }
    if p.status == TargetStatus::Current && s.notify_when_current && events.is_empty() {
        events.push(Event::Current);
    }
    // One notification per run: the most important event.
    p.event = [
        Event::RollbackStarted,
        Event::RolloutFailed,
        Event::RolledBack,
        Event::Cancelled,
        Event::RolloutStarted,
        Event::RolloutSucceeded,
        Event::Current,
    ]
    .into_iter()
    .find(|e| events.contains(e));
    p.summary = match p.status {
        TargetStatus::Current if succeeded => {
            format!("rollout to {ami} finished: every in-service instance runs it")
        }
        TargetStatus::Current => {
            format!("current: template and every in-service instance on {ami}")
        }
        TargetStatus::Drift if started => format!("rolling to {ami} with {}", s.strategy.as_str()),
        TargetStatus::Drift if hold => format!(
            "not on {ami}; waiting: {}",
            hold_reason.clone().unwrap_or_default()
        ),
        TargetStatus::Drift if surge_held.is_some() => format!(
            "not on {ami}; waiting: {}",
            surge_held.clone().unwrap_or_default()
        ),
        TargetStatus::Drift => format!("not on {ami}; the plan moves it"),
        TargetStatus::Rolling => match other_flight.first() {
            Some((_, a)) => format!("rollout to {a} in flight; {ami} waits"),
            None => format!("rollout to {ami} in flight"),
        },
        TargetStatus::Failed if failed_block => hold_reason.clone().unwrap_or_default(),
        TargetStatus::Failed => {
            format!("rollout to {ami} failed; see the groups for what was kept")
        }
        TargetStatus::Error => String::new(),
    };
    b.plan
}

/// The version recorded in a group's `amiroll:rollback-version` tag, for this template.
pub(crate) fn tag_version(g: &AutoScalingGroup, template_id: &str) -> Option<u64> {
    crate::state::RollbackVersion::of_template(&g.tags, template_id)
}

/// The last outcome recorded in a group's tags (a success whose record cannot be read says
/// which tag).
fn last_outcome(g: &AutoScalingGroup) -> Option<String> {
    use crate::state::{Failure, Success};
    if let Some(Failure {
        ami: Some(a),
        reason,
    }) = Failure::from_tags(&g.tags)
    {
        return Some(format!("failed: {a} ({})", reason.unwrap_or_default()));
    }
    match Success::from_tags(&g.tags) {
        Ok(Some(s)) => Some(format!("succeeded: {} at {}", s.ami, fmt_time(s.at))),
        Ok(None) => None,
        Err(e) => Some(format!("succeeded: unreadable, {e}")),
    }
}

fn surge_progress(
    g: &AutoScalingGroup,
    ami: &str,
    inst: &[InstanceView],
    now: Timestamp,
) -> RolloutProgress {
    let total = inst.len().max(1);
    let on = inst
        .iter()
        .filter(|i| i.image.as_deref() == Some(ami) && i.in_service && i.healthy)
        .count();
    let settle = g.tags.get(tags::SETTLE_AT).and_then(|t| parse_time(t));
    RolloutProgress {
        strategy: Strategy::ScheduledSurge,
        percent: Some(((on * 100) / total) as i32),
        detail: match settle {
            Some(at) if at > now => format!(
                "{on}/{total} instance(s) healthy on {ami}; settle in {} min",
                (at - now).num_minutes()
            ),
            _ => format!("{on}/{total} instance(s) healthy on {ami}"),
        },
    }
}

fn group_report(
    v: &GroupView,
    inst: &[InstanceView],
    state: String,
    rollout: Option<RolloutProgress>,
    last_outcome: Option<String>,
) -> GroupReport {
    GroupReport {
        rollout,
        last_outcome,
        name: v.group.name.clone(),
        version_spec: v.spec_text.clone(),
        effective_version: Some(v.effective),
        instances_by_ami: by_ami(inst),
        min_size: v.group.min_size,
        max_size: v.group.max_size,
        desired_capacity: v.group.desired_capacity,
        state,
    }
}
