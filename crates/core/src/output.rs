//! The machine contract: what `--output json` prints and the digest the Lambda returns.
//!
//! Every JSON document carries [`SCHEMA_VERSION`]; its JSON Schema, generated from these types
//! (`schemars`), is checked in under `docs/schema/` and real outputs are validated against it
//! (`crates/cli/tests/schema.rs`, `crates/lambda/tests/handler.rs`). A change that breaks a
//! reader (a field removed, renamed or retyped) raises the version; adding a field does not.
//!
//! The CLI prints one shape whatever the number of places (accounts × Regions): a [`CliOutput`]
//! with one [`PlaceOutput`] per place. Each place carries the full plan or report and the same
//! per-target digest ([`TargetSummary`]) the Lambda returns.
//!
//! Exit codes mean the same in every command: 0 all current or succeeded, 2 not current yet
//! (drift, rolling, waiting), 1 an error or a failure (`apply` and `rollback`: 0 or 1).

use serde::Serialize;

use crate::engine::{ActionResult, ApplyReport, DeadlineStop, TargetOutcome};
use crate::fleet::{Place, PlacePlan, PlaceReport};
use crate::model::{Plan, RolloutProgress, StepResult, TargetPlan, TargetStatus};

/// The version of the JSON documents amiroll writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of [`CliOutput`], as checked in at `docs/schema/cli-output.schema.json`
/// (`crates/core/tests/output_schema.rs` fails when the file is stale;
/// `AMIROLL_WRITE_SCHEMA=1 cargo test -p amiroll-core --test output_schema` rewrites it).
pub fn cli_output_schema() -> serde_json::Value {
    schemars::schema_for!(CliOutput).to_value()
}

/// The command a document answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OutputCommand {
    Check,
    Plan,
    Apply,
    Rollback,
    Status,
}

/// What `amiroll … --output json` prints on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CliOutput {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The command; absent when the command line or the configuration could not be read.
    pub command: Option<OutputCommand>,
    /// The process's exit code: 0 all current or succeeded, 2 not current yet, 1 an error or a
    /// failure.
    pub exit_code: i32,
    /// One entry per account × Region (one for a single place).
    pub places: Vec<PlaceOutput>,
    /// Why the command stopped before reaching any place (configuration, connection).
    pub error: Option<String>,
}

/// One place's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PlaceOutput {
    pub place: Place,
    /// `check`, `plan`, `status`: the plan.
    pub plan: Option<Plan>,
    /// `apply`, `rollback`: the report.
    pub report: Option<ApplyReport>,
    /// Per target: the digest the Lambda returns too.
    pub targets: Vec<TargetSummary>,
    /// Why the place failed as a whole (could not connect, the run stopped).
    pub error: Option<String>,
}

/// The exit code of several places: 1 if any is 1, else the highest.
fn combine(codes: impl Iterator<Item = i32>) -> i32 {
    codes.fold(0, |acc, c| if acc == 1 || c == 1 { 1 } else { acc.max(c) })
}

impl CliOutput {
    /// `check`, `plan` or `status` in each place.
    pub fn from_plans(command: OutputCommand, plans: Vec<PlacePlan>) -> CliOutput {
        let places: Vec<PlaceOutput> = plans
            .into_iter()
            .map(|p| PlaceOutput {
                targets: p
                    .plan
                    .as_ref()
                    .map(|plan| plan.targets.iter().map(TargetSummary::from_plan).collect())
                    .unwrap_or_default(),
                place: p.place,
                plan: p.plan,
                report: None,
                error: p.error,
            })
            .collect();
        CliOutput {
            schema_version: SCHEMA_VERSION,
            command: Some(command),
            exit_code: combine(
                places
                    .iter()
                    .map(|p| p.plan.as_ref().map_or(1, Plan::exit_code)),
            ),
            places,
            error: None,
        }
    }

    /// `apply` or `rollback` in each place.
    pub fn from_reports(command: OutputCommand, reports: Vec<PlaceReport>) -> CliOutput {
        let code = |r: &PlaceReport| match (&r.error, &r.report) {
            (None, Some(report)) if command == OutputCommand::Rollback => {
                report.rollback_exit_code()
            }
            (None, Some(report)) => report.exit_code(),
            _ => 1,
        };
        let exit_code = i32::from(reports.iter().any(|r| code(r) != 0));
        let places = reports
            .into_iter()
            .map(|r| PlaceOutput {
                targets: r
                    .report
                    .as_ref()
                    .map(|report| {
                        report
                            .targets
                            .iter()
                            .map(TargetSummary::from_outcome)
                            .collect()
                    })
                    .unwrap_or_default(),
                place: r.place,
                plan: None,
                report: r.report,
                error: r.error,
            })
            .collect();
        CliOutput {
            schema_version: SCHEMA_VERSION,
            command: Some(command),
            exit_code,
            places,
            error: None,
        }
    }

    /// The command stopped before any place.
    pub fn error(command: Option<OutputCommand>, message: String) -> CliOutput {
        CliOutput {
            schema_version: SCHEMA_VERSION,
            command,
            exit_code: 1,
            places: Vec::new(),
            error: Some(message),
        }
    }
}

/// The run stopped before the invocation's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DeadlineSummary {
    /// For people: why, which targets, and what happens next.
    pub message: String,
    /// The targets left with actions not done (their `not_done` lists them).
    pub targets: Vec<String>,
}

impl DeadlineSummary {
    pub fn from_stop(stop: &DeadlineStop) -> Self {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Step {
    pub action: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A rollout under way on one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct InFlight {
    pub group: String,
    pub strategy: String,
    pub percent: Option<i32>,
    pub detail: String,
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

    pub fn from_outcome(outcome: &TargetOutcome) -> Self {
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

    pub fn from_plan(plan: &TargetPlan) -> Self {
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
