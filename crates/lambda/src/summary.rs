//! The JSON an invocation returns: per target, its status, what changed, what is in flight, what
//! failed, and the notification sent. Built from the engine's report (apply) or plan (plan).

use amiroll_core::engine::{ActionResult, ApplyReport, DeadlineStop, TargetOutcome};
use amiroll_core::model::StepResult;
use amiroll_core::model::{Plan, RolloutProgress, TargetPlan, TargetStatus};
use amiroll_core::port::Timestamp;
use serde::Serialize;

use crate::event::{Invocation, ManualCommand};

/// The invocation's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// What asked for this run (the recognised event).
    pub invocation: Invocation,
    /// `apply` or `plan`.
    pub command: ManualCommand,
    /// Nothing was changed and no notification sent (a manual `dry_run`, or `plan`).
    pub dry_run: bool,
    /// Where the configuration came from (`AMIROLL_CONFIG`, `SSM parameter …`, or the seed's
    /// variables).
    pub config_source: String,
    /// Every target is without error and every action succeeded.
    pub ok: bool,
    /// The time of the observation (the planner's "now").
    pub generated_at: Timestamp,
    /// Set when the run stopped starting actions before the invocation's deadline: the fleet may
    /// be half-changed, and the next invocation resumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at_deadline: Option<DeadlineSummary>,
    pub targets: Vec<TargetSummary>,
}

/// The run stopped before the invocation's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineSummary {
    /// For people: why, which targets, and what happens next.
    pub message: String,
    /// The targets left with actions not done (their `not_done` lists them).
    pub targets: Vec<String>,
}

impl DeadlineSummary {
    fn from_stop(stop: &DeadlineStop) -> Self {
        DeadlineSummary {
            message: format!(
                "{}; not finished: {}; the fleet may be half-changed, and the next run resumes from what is really there",
                stop.reason,
                stop.targets.join(", ")
            ),
            targets: stop.targets.clone(),
        }
    }
}

/// One target's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetSummary {
    pub target: String,
    pub status: TargetStatus,
    /// One sentence: what is going on and what happens next.
    pub summary: String,
    pub strategy: String,
    /// The AMI the target should run, when known.
    pub target_ami: Option<String>,
    /// Actions done in this run.
    pub changed: Vec<Step>,
    /// Actions planned but not done: a dry run, `plan`, skipped after a failure, or left for the
    /// next run when the invocation's deadline came close (the detail says which).
    pub not_done: Vec<Step>,
    /// Rollouts under way, per group.
    pub in_flight: Vec<InFlight>,
    /// Why the target could not be planned, and actions that failed.
    pub errors: Vec<String>,
    /// Set when an action failed: what was done and what was not.
    pub apply_error: Option<String>,
    /// `published <event> (<message id>)` or `failed: …`; absent when nothing was to be sent.
    pub notification: Option<String>,
}

/// One action and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub action: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A rollout under way on one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InFlight {
    pub group: String,
    pub strategy: String,
    pub percent: Option<i32>,
    pub detail: String,
}

impl Summary {
    /// From an apply (or dry run) report.
    pub fn from_report(invocation: Invocation, config_source: &str, report: &ApplyReport) -> Self {
        Summary {
            invocation,
            command: ManualCommand::Apply,
            dry_run: report.dry_run,
            config_source: config_source.to_string(),
            ok: report.targets.iter().all(TargetOutcome::succeeded)
                && report.stopped_at_deadline.is_none(),
            generated_at: report.generated_at,
            stopped_at_deadline: report
                .stopped_at_deadline
                .as_ref()
                .map(DeadlineSummary::from_stop),
            targets: report
                .targets
                .iter()
                .map(TargetSummary::from_outcome)
                .collect(),
        }
    }

    /// From a plan (nothing changed).
    pub fn from_plan(invocation: Invocation, config_source: &str, plan: &Plan) -> Self {
        Summary {
            invocation,
            command: ManualCommand::Plan,
            dry_run: true,
            config_source: config_source.to_string(),
            ok: plan.targets.iter().all(|t| t.status != TargetStatus::Error),
            generated_at: plan.generated_at,
            stopped_at_deadline: None,
            targets: plan.targets.iter().map(TargetSummary::from_plan).collect(),
        }
    }

    /// Targets with an error or a failed action.
    pub fn failed_targets(&self) -> Vec<&str> {
        self.targets
            .iter()
            .filter(|t| t.failed())
            .map(|t| t.target.as_str())
            .collect()
    }
}

impl TargetSummary {
    fn base(plan: &TargetPlan) -> Self {
        TargetSummary {
            target: plan.target.clone(),
            status: plan.status,
            summary: plan.summary.clone(),
            strategy: plan.strategy.as_str().to_string(),
            target_ami: plan.target_ami.as_ref().map(|a| a.image_id.clone()),
            changed: Vec::new(),
            not_done: Vec::new(),
            in_flight: plan
                .groups
                .iter()
                .filter_map(|g| g.rollout.as_ref().map(|r| in_flight(&g.name, r)))
                .collect(),
            errors: plan.errors.iter().map(ToString::to_string).collect(),
            apply_error: None,
            notification: None,
        }
    }

    fn from_outcome(outcome: &TargetOutcome) -> Self {
        let mut t = TargetSummary::base(&outcome.plan);
        for r in &outcome.results {
            match r.result {
                StepResult::Done => t.changed.push(step(r)),
                StepResult::Failed => t.errors.push(format!(
                    "{}: {}",
                    r.action,
                    r.detail.as_deref().unwrap_or("failed")
                )),
                StepResult::NotDone => t.not_done.push(step(r)),
            }
        }
        t.apply_error = outcome.apply_error.clone();
        t.notification = outcome.notification.clone();
        t
    }

    fn from_plan(plan: &TargetPlan) -> Self {
        let mut t = TargetSummary::base(plan);
        t.not_done = plan
            .actions
            .iter()
            .map(|a| Step {
                action: a.action.describe(),
                reason: a.reason.clone(),
                detail: Some("plan only".to_string()),
            })
            .collect();
        t
    }

    /// An error stopped the target or an action failed.
    pub fn failed(&self) -> bool {
        self.status == TargetStatus::Error || !self.errors.is_empty() || self.apply_error.is_some()
    }
}

fn step(r: &ActionResult) -> Step {
    Step {
        action: r.action.clone(),
        reason: r.reason.clone(),
        detail: r.detail.clone(),
    }
}

fn in_flight(group: &str, r: &RolloutProgress) -> InFlight {
    InFlight {
        group: group.to_string(),
        strategy: r.strategy.as_str().to_string(),
        percent: r.percent,
        detail: r.detail.clone(),
    }
}
