//! The JSON an invocation returns: per target, its status, what changed, what is in flight, what
//! failed, and the notification sent. Built from the engine's report (apply) or plan (plan).

use amiroll_core::engine::{ApplyReport, TargetOutcome};
use amiroll_core::model::{Plan, TargetStatus};
pub use amiroll_core::output::{DeadlineSummary, InFlight, Step, TargetSummary, SCHEMA_VERSION};
use amiroll_core::port::Timestamp;
use serde::Serialize;

use crate::event::{Invocation, ManualCommand};

/// The JSON Schema of [`Summary`], as checked in at `docs/schema/lambda-summary.schema.json`
/// (`crates/lambda/tests/handler.rs` fails when the file is stale;
/// `AMIROLL_WRITE_SCHEMA=1 cargo test -p amiroll-lambda --test handler` rewrites it).
pub fn schema() -> serde_json::Value {
    schemars::schema_for!(Summary).to_value()
}

/// The invocation's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// [`SCHEMA_VERSION`]: the version of this document (docs/schema/lambda-summary.schema.json).
    pub schema_version: u32,
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

impl Summary {
    /// From an apply (or dry run) report.
    pub fn from_report(invocation: Invocation, config_source: &str, report: &ApplyReport) -> Self {
        Summary {
            schema_version: SCHEMA_VERSION,
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
            schema_version: SCHEMA_VERSION,
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
