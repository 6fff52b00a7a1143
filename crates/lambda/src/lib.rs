//! amiroll as a Lambda function: the `bootstrap` binary for the `provided.al2023` runtime runs the
//! same engine as the CLI.
//!
//! [`handle`] is the whole function, generic over the [`Aws`] port so that tests run it against
//! the simulated account: recognise the event ([`event`]), narrow the configuration to what the
//! event concerns, run the engine (`apply`, a dry run, or `plan`), and return a [`Summary`].
//! `main.rs` only wires the real SDK adapter, the configuration from the environment
//! ([`settings`]), the invocation's deadline and JSON logs to the Lambda runtime.
//!
//! Deadline: [`handle_until`] hands the invocation's deadline to the engine, which starts no
//! action once less than [`amiroll_core::engine::DEADLINE_MARGIN`] is left. The rest is reported
//! not done (in the summary's `stopped_at_deadline` and each target's `not_done`), and the next
//! invocation resumes from what is really there. Without it Lambda would stop the function
//! mid-action at its timeout, with no summary and no notification.
//!
//! Idempotency: the engine is a reconciler, so an invocation delivered twice (EventBridge and
//! Scheduler deliver at least once; Lambda retries a failed asynchronous invocation twice) finds
//! the work of the first already done in AWS and does nothing more. No state is kept in the
//! function.

pub mod event;
pub mod settings;
pub mod summary;

use amiroll_core::config::{Config, ConfigError};
use amiroll_core::planner::PlanOptions;
use amiroll_core::port::{Aws, Timestamp};
use amiroll_core::{Engine, RunError};
use serde_json::Value;

pub use event::{EventError, Invocation, ManualCommand};
pub use settings::{choose, load_config, ConfigSource};
pub use summary::Summary;

/// Why an invocation failed as a whole. (A target that fails is reported in the [`Summary`]
/// instead: the other targets' results still matter.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("no configuration: set AMIROLL_CONFIG (the TOML document), AMIROLL_CONFIG_PARAMETER (an SSM parameter holding it), or the seed's variables launch_template_id, image_id_ssm_parameter, sns_arn and asg_name")]
    NoConfiguration,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("configuration parameter {name}: {message}")]
    ConfigParameter { name: String, message: String },
    #[error("invalid request: {0}")]
    Request(String),
    #[error("{detail_type:?} names group {group:?}, which is in no target of the configuration ({source_name}); configured groups: {configured}")]
    GroupNotConfigured {
        detail_type: String,
        group: String,
        source_name: String,
        configured: String,
    },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot set up AWS clients: {0}")]
    Connect(String),
}

impl HandlerError {
    /// A stable name for the Lambda error response's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Event(e) => e.error_type(),
            HandlerError::NoConfiguration => "amiroll.NoConfiguration",
            HandlerError::Config(_) | HandlerError::ConfigParameter { .. } => {
                "amiroll.InvalidConfiguration"
            }
            HandlerError::Request(_) => "amiroll.InvalidRequest",
            HandlerError::GroupNotConfigured { .. } => "amiroll.GroupNotConfigured",
            // A configuration that discovery made invalid (a conflict) is the configuration's
            // fault, not the run's.
            HandlerError::Run(RunError::Config(_)) => "amiroll.InvalidConfiguration",
            HandlerError::Run(_) => "amiroll.RunStopped",
            HandlerError::Connect(_) => "amiroll.Connect",
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// One invocation: recognise `event`, run the engine on the targets it concerns, summarise.
pub async fn handle<A: Aws>(
    aws: &A,
    config: Config,
    event: &Value,
) -> Result<Summary, HandlerError> {
    handle_until(aws, config, event, None).await
}

/// [`handle`], starting no action once the `deadline` (the invocation's, from the Lambda
/// context) is closer than [`amiroll_core::engine::DEADLINE_MARGIN`], as told by the port's
/// clock.
pub async fn handle_until<A: Aws>(
    aws: &A,
    mut config: Config,
    event: &Value,
    deadline: Option<Timestamp>,
) -> Result<Summary, HandlerError> {
    let invocation = event::parse(event)?;
    tracing::info!(
        invocation = %serde_json::to_string(&invocation).unwrap_or_default(),
        config_source = %config.source,
        "invocation received"
    );
    let mut dry_run = false;
    let mut command = ManualCommand::Apply;
    let mut options = PlanOptions::default();
    match &invocation {
        Invocation::Scheduled(_) => {}
        Invocation::Manual(request) => {
            config
                .select(&request.targets)
                .map_err(|e| HandlerError::Request(e.to_string()))?;
            for name in &request.acknowledge {
                if !config
                    .targets
                    .iter()
                    .any(|t| &t.name == name && !t.observe_only)
                {
                    return Err(HandlerError::Request(format!(
                        "`acknowledge` names `{name}`, which is not a selected target"
                    )));
                }
            }
            command = request.command;
            dry_run = request.dry_run;
            options.acknowledge = request.acknowledge.iter().cloned().collect();
        }
        Invocation::InstanceRefresh(_) | Invocation::LifecycleAction(_) => {
            let (group, detail_type) = match &invocation {
                Invocation::InstanceRefresh(ev) => (&ev.group, ev.detail_type.as_str()),
                Invocation::LifecycleAction(ev) => {
                    (&ev.group, crate::event::TERMINATE_LIFECYCLE_DETAIL_TYPE)
                }
                _ => unreachable!("matched above"),
            };
            let owners: Vec<String> = config
                .targets
                .iter()
                .filter(|t| t.groups.iter().any(|g| g == group))
                .map(|t| t.name.clone())
                .collect();
            if owners.is_empty() {
                let configured: Vec<&str> = config
                    .targets
                    .iter()
                    .flat_map(|t| t.groups.iter().map(String::as_str))
                    .collect();
                return Err(HandlerError::GroupNotConfigured {
                    detail_type: detail_type.to_string(),
                    group: group.clone(),
                    source_name: config.source.clone(),
                    configured: if configured.is_empty() {
                        "none".to_string()
                    } else {
                        configured.join(", ")
                    },
                });
            }
            config.select(&owners)?;
        }
    }

    let mut engine = Engine::new(aws);
    if let Some(deadline) = deadline {
        engine = engine.with_deadline(deadline);
    }
    let summary = match command {
        ManualCommand::Apply => {
            let report = engine.run_with(&config, dry_run, &options).await?;
            Summary::from_report(invocation, &config.source, &report)
        }
        ManualCommand::Plan => {
            let plan = engine.plan(&config).await?;
            Summary::from_plan(invocation, &config.source, &plan)
        }
    };
    log_summary(&summary);
    emit_success_metric(&summary);
    tracing::debug!(calls = ?engine.call_counts(), "AWS calls made");
    Ok(summary)
}

/// On Lambda, a run whose summary is `ok` prints one CloudWatch embedded metric format line to
/// stdout: `amiroll/SuccessfulRuns` = 1 for the function. The deploy template alarms when a day
/// and more passes without one. Lambda sends stdout to the log group, and CloudWatch Logs makes
/// the metric from the line itself, so the function needs no `cloudwatch:PutMetricData` ("Using
/// the embedded metric format with Lambda"). Off Lambda (no `AWS_LAMBDA_FUNCTION_NAME`) nothing
/// is printed.
fn emit_success_metric(summary: &Summary) {
    let Ok(function_name) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") else {
        return;
    };
    if summary.ok {
        println!(
            "{}",
            success_metric_line(&function_name, summary.generated_at)
        );
    }
}

/// The embedded metric format document of one successful run at `at`, on one line
/// ("Specification: Embedded metric format": the metric's value and its dimension's value are
/// members of the document beside `_aws`). It is a JSON object on its own, so Lambda's JSON log
/// format stores it as it is rather than wrapping it.
pub fn success_metric_line(function_name: &str, at: Timestamp) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "amiroll",
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": "SuccessfulRuns", "Unit": "Count"}],
            }],
        },
        "FunctionName": function_name,
        "SuccessfulRuns": 1,
    })
    .to_string()
}

/// One log line per target (ERROR for a failed one, so a metric filter can alarm on it), then
/// the whole summary.
fn log_summary(summary: &Summary) {
    for t in &summary.targets {
        let changed: Vec<&str> = t.changed.iter().map(|s| s.action.as_str()).collect();
        if t.failed() {
            tracing::error!(
                target_name = %t.target,
                status = t.status.as_str(),
                errors = ?t.errors,
                apply_error = t.apply_error.as_deref().unwrap_or(""),
                changed = ?changed,
                notification = t.notification.as_deref().unwrap_or(""),
                "{}", t.summary
            );
        } else {
            tracing::info!(
                target_name = %t.target,
                status = t.status.as_str(),
                changed = ?changed,
                in_flight = t.in_flight.len(),
                notification = t.notification.as_deref().unwrap_or(""),
                "{}", t.summary
            );
        }
    }
    if let Some(stop) = &summary.stopped_at_deadline {
        tracing::warn!(targets = ?stop.targets, "{}", stop.message);
    }
    tracing::info!(
        ok = summary.ok,
        dry_run = summary.dry_run,
        summary = %serde_json::to_string(summary).unwrap_or_default(),
        "invocation done"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_successful_run_is_one_embedded_metric_format_line() {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 13, 0, 5)
            .single()
            .expect("a valid time");
        let line = success_metric_line("amiroll-prod", at);
        assert!(!line.contains('\n'), "one log line: {line}");
        let doc: Value = serde_json::from_str(&line).expect("the line is JSON");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_698_005_000_i64);
        assert_eq!(directive["Namespace"], "amiroll");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["FunctionName"]])
        );
        assert_eq!(directive["Metrics"][0]["Name"], "SuccessfulRuns");
        assert_eq!(directive["Metrics"][0]["Unit"], "Count");
        // The spec: each dimension and each metric names a member of the document.
        assert_eq!(doc["FunctionName"], "amiroll-prod");
        assert_eq!(doc["SuccessfulRuns"], 1);
    }
}
