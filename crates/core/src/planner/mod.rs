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

pub(crate) mod cancel;
mod groups;
mod hold;
pub mod hooks;
mod prune;
mod reads;
mod record;
mod refresh;
mod report;
mod restore;
mod revert;
pub(crate) mod surge;
mod template;
mod validate;
mod view;
mod vocab;

pub(crate) use crate::planner::surge::plan_surge_group;
use crate::planner::surge::plan_surge_target;
use crate::planner::surge::rollback_version_of;
pub(crate) use crate::planner::surge::{start_round, SurgeInput, SurgeOutcome};
pub use crate::planner::surge::{
    surge_capacity, ACTION_PREFIX, HEALTH_GATE_MINUTES, LATE_ACTION_MINUTES, SURGE_LEAD_MINUTES,
};
pub(crate) use groups::GroupPhase;
use groups::{plan_groups, FleetOutcome};
use hold::Holds;
use prune::prune_actions;
pub use prune::versions_to_prune;
pub use reads::*;
pub use refresh::refresh_preferences;
use refresh::{plan_refresh_group, RefreshInput};
pub(crate) use report::tag_version;
use report::{group_report, last_outcome, surge_progress};
use revert::{revert_moves, Revert};
pub(crate) use template::snapshot_mappings;
use template::Source;
pub(crate) use validate::provider_of;
pub(crate) use view::*;
pub use view::{BOOT_ALLOWANCE_MINUTES, ECS_JOIN_ALLOWANCE_MINUTES};
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
                // One report per group: sized up front, not grown (thousands of targets).
                groups: Vec::with_capacity(target.groups.len()),
                findings: Vec::new(),
                errors: Vec::new(),
                actions: Vec::new(),
                event: None,
                sns_topic: target.settings.sns_topic.clone(),
            },
        }
    }

    /// Stop the target with a refusal.
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

/// Why planning a target stopped early.
pub(crate) enum Stop {
    /// A refusal: the target is an error and nothing changes.
    Refused(Refusal),
    /// The errors of a group that make the target an error.
    Errors(Vec<Refusal>),
    /// Nothing to plan (every group opted out); the plan so far stands.
    Nothing,
}

/// What the steps after the reads of one target share.
pub(crate) struct Ctx<'a> {
    pub(crate) t: &'a Target,
    pub(crate) all: &'a [Target],
    pub(crate) obs: &'a Observation,
    pub(crate) tmpl: &'a ObservedTemplate,
    pub(crate) template_id: &'a str,
    pub(crate) views: Vec<GroupView<'a>>,
    /// The candidate AMI.
    pub(crate) ami: String,
    /// The version the groups launch today.
    pub(crate) source: Source<'a>,
}

/// Plan one target.
pub fn plan_target(
    t: &Target,
    all: &[Target],
    obs: &Observation,
    opts: &PlanOptions,
) -> TargetPlan {
    let mut b = Builder::new(t);
    if let Some(e) = obs.target_errors.get(&t.name) {
        return b.error(e.clone());
    }
    if let Some(topic) = &t.settings.sns_topic {
        if obs.topics.get(topic) == Some(&false) {
            // Cannot notify a topic that does not exist.
            let mut p = b.error(Refusal::TopicMissing {
                topic: topic.clone(),
            });
            p.event = None;
            return p;
        }
    }
    match plan_steps(&mut b, t, all, obs, opts) {
        Ok(()) | Err(Stop::Nothing) => b.plan,
        Err(Stop::Refused(e)) => drain_despite_error(b.error(e), t, obs),
        Err(Stop::Errors(errors)) => {
            b.plan.errors.extend(errors);
            drain_despite_error(b.finish_error(), t, obs)
        }
    }
}

/// A target in error changes nothing of its rollout, but the instances its drain hook holds are
/// drained all the same ([`hooks::held_pass_despite_error`]): the plan keeps its error and
/// carries only those actions, and says so.
fn drain_despite_error(mut plan: TargetPlan, t: &Target, obs: &Observation) -> TargetPlan {
    let p = hooks::held_pass_despite_error(t, obs);
    if p.back.is_empty() {
        return plan;
    }
    let held: BTreeSet<&str> = p
        .back
        .iter()
        .flat_map(|a| match &a.action {
            Action::DrainContainerInstances { instance_ids, .. }
            | Action::MarkDrainStart { instance_ids, .. } => {
                instance_ids.iter().map(String::as_str).collect()
            }
            Action::RecordLifecycleActionHeartbeat { instance_id, .. }
            | Action::CompleteLifecycleAction { instance_id, .. } => vec![instance_id.as_str()],
            _ => Vec::new(),
        })
        .collect();
    for w in p.warnings {
        plan.findings.push(Finding {
            level: Level::Warning,
            message: w,
        });
    }
    let first = plan
        .errors
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    plan.findings.push(Finding {
        level: Level::Warning,
        message: format!(
            "the rollout is stopped by the error, but {} instance(s) Auto Scaling is terminating ({}) still run tasks or wait for the drain hook: amiroll drains them and lets them go as on any run",
            held.len(),
            held.iter().copied().collect::<Vec<_>>().join(", ")
        ),
    });
    plan.summary = format!(
        "rollout unchanged: {first}; only the drain of {} held instance(s) goes on",
        held.len()
    );
    plan.actions = p.back;
    plan
}

/// The steps of [`plan_target`], in the order the safety rules need them.
fn plan_steps(
    b: &mut Builder,
    t: &Target,
    all: &[Target],
    obs: &Observation,
    opts: &PlanOptions,
) -> Result<(), Stop> {
    let s = &t.settings;
    // 1. The candidate AMI from its source.
    let (param, ami) = validate::candidate(t, obs)?;

    // 2. The template and the groups.
    let Some(tmpl) = obs.templates.get(&t.launch_template) else {
        return Err(Stop::Refused(Refusal::TemplateMissing {
            template: t.launch_template.clone(),
        }));
    };
    let template_id = tmpl.template.id.as_str();
    b.plan.template_id = Some(template_id.to_string());
    let views = group_views(b, t, obs, tmpl, template_id)
        .map_err(Stop::Refused)?
        .ok_or(Stop::Nothing)?;

    // 3. The version the groups launch today (the source of the new version).
    let source = template::source(t, tmpl, &views)?;

    // 4. Validate the candidate before anything is written, and the group references and ECS
    //    set-ups amiroll must not break.
    let image = validate::image(b, t, obs, (&ami, param), tmpl, &source, &views)?;
    let cx = Ctx {
        t,
        all,
        obs,
        tmpl,
        template_id,
        views,
        ami,
        source,
    };
    validate::group_references(&cx)?;
    validate::surge_window(b, &cx)?;
    validate::capacity_providers(b, &cx)?;
    // The drain hook: a hook named in the configuration that is not there is bad input.
    let hook_plan = hooks::plan_hooks(&cx);
    if !hook_plan.errors.is_empty() {
        return Err(Stop::Errors(hook_plan.errors));
    }
    for w in &hook_plan.warnings {
        b.warn(w.clone());
    }
    for i in &hook_plan.infos {
        b.info(i.clone());
    }

    // What holds a new rollout back: a failure, another rollout in flight, the gates.
    let holds = hold::holds(b, &cx, opts, image.creation_date);
    let hold = holds.hold();

    // 5. The template moves, decided: one version per AMI, from the source version.
    let moves = template::decide(b, &cx, param, image, hold)?;

    // 6. The fleet, group by group; then, if a round failed, the template goes back.
    let fleet = plan_groups(b, &cx, &holds, moves.target_version)?;
    let revert = revert_moves(&cx, &fleet);

    // The plan in the order it must run: the moves back first, the pins that keep rollback
    // available before the new version exists, then the template moves, then the groups, then
    // the default following the fleet and the pins undone.
    let mut template_changed = moves.changes();
    let follows = template::default_follows(&cx, &moves, &fleet, hold);
    template_changed |= follows.is_some();
    // Once the fleet is done, the groups amiroll pinned go back on $Default/$Latest (after the
    // default has moved, so that they launch the same).
    let default_to = follows.as_ref().and_then(|a| match a.action {
        Action::SetDefaultVersion {
            version: VersionRef::Number(n),
            ..
        } => Some(n),
        _ => None,
    });
    let restores = restore::restore_pins(b, &cx, &fleet, hold, default_to);
    let target_version = moves.target_version;
    let p = &mut b.plan;
    // The drain hook before anything that terminates instances.
    p.actions.extend(hook_plan.front.iter().cloned());
    p.actions.extend(revert.front.iter().cloned());
    p.actions.extend(fleet.pre_actions.iter().cloned());
    p.actions.extend(holds.acknowledgements.iter().cloned());
    p.actions.extend(moves.actions(&revert));
    p.actions.extend(fleet.actions.iter().cloned());
    p.actions.extend(hook_plan.back.iter().cloned());
    p.actions.extend(follows);
    p.actions.extend(restores);
    let records = record::wave_records(&cx, &fleet, &p.actions);
    p.actions.extend(records);

    // 7. Prune old versions, keeping the rollback version and everything in use.
    if s.prune != Prune::Off && s.keep_versions > 0 && !hold && !cx.source.alias && tmpl.complete {
        for (action, reason) in prune_actions(
            s,
            tmpl,
            template_id,
            cx.source.number,
            target_version,
            fleet.revert_to,
            obs,
            &cx.views,
        ) {
            b.act(action, reason);
        }
    }

    // An outcome an earlier run could not announce is announced now.
    let mut events = fleet.events.clone();
    let late = record::late_announcements(&cx, &mut events);
    b.plan.actions.extend(late);

    // 8. Status, summary and notification.
    report::finish(
        &mut b.plan,
        &cx,
        report::Outcome {
            holds: &holds,
            fleet: &fleet,
            events,
            template_changed,
        },
    );
    Ok(())
}
