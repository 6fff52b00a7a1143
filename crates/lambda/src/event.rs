//! The invocations the function accepts, recognised strictly from the raw JSON payload.
//!
//! Five shapes, and nothing else (docs/lambda.md, "Events"):
//!
//! - an EventBridge **scheduled rule** event: `"source": "aws.events"`, `"detail-type": "Scheduled
//!   Event"` ("Amazon EventBridge scheduled event" example);
//! - the **EventBridge Scheduler** target input `{"amiroll": "scheduled"}` — Scheduler delivers a
//!   target's `Input` verbatim, with no envelope of its own;
//! - a **manual** request `{"amiroll": "apply", "dry_run": true, "targets": ["web"],
//!   "acknowledge": []}` or `{"amiroll": "plan", "targets": ["web"]}`;
//! - an **instance refresh** event from Auto Scaling: `"source": "aws.autoscaling"` with one of
//!   the detail-types in [`REFRESH_DETAIL_TYPES`] and `detail.AutoScalingGroupName` ("Instance
//!   refresh example events and patterns");
//! - a **lifecycle action** event from Auto Scaling: `"detail-type": "EC2 Instance-terminate
//!   Lifecycle Action"` with `detail.AutoScalingGroupName`, `detail.LifecycleHookName` and
//!   `detail.EC2InstanceId` ("Amazon EventBridge events for Amazon EC2 Auto Scaling",
//!   https://docs.aws.amazon.com/autoscaling/ec2/userguide/automating-ec2-auto-scaling-with-eventbridge.html):
//!   an instance is held by a terminating hook, and the run drains it.
//!
//! Anything else is an [`EventError`] that says what was received; the function never guesses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The key that marks amiroll's own payloads (Scheduler input and manual requests).
pub const MARKER: &str = "amiroll";

/// `detail-type`s of the instance refresh events Auto Scaling sends to EventBridge ("Instance
/// refresh example events and patterns"; "Amazon EC2 Auto Scaling events" in the EventBridge
/// events reference). Each makes the function observe the group named in the event.
pub const REFRESH_DETAIL_TYPES: [&str; 9] = [
    "EC2 Auto Scaling Instance Refresh Started",
    "EC2 Auto Scaling Instance Refresh Checkpoint Reached",
    "EC2 Auto Scaling Instance Refresh Started Baking",
    "EC2 Auto Scaling Instance Refresh Succeeded",
    "EC2 Auto Scaling Instance Refresh Failed",
    "EC2 Auto Scaling Instance Refresh Cancelled",
    "EC2 Auto Scaling Instance Refresh Rollback Started",
    "EC2 Auto Scaling Instance Refresh Rollback Succeeded",
    "EC2 Auto Scaling Instance Refresh Rollback Failed",
];

/// The `detail-type` of the event Auto Scaling sends when a terminating lifecycle hook holds an
/// instance ("Amazon EventBridge events for Amazon EC2 Auto Scaling", as above).
pub const TERMINATE_LIFECYCLE_DETAIL_TYPE: &str = "EC2 Instance-terminate Lifecycle Action";

/// What asked for this invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Invocation {
    /// A schedule tick: `apply` on every target.
    Scheduled(ScheduleTick),
    /// A person or a script invoking the function directly.
    Manual(ManualRequest),
    /// Auto Scaling announced a change of an instance refresh: observe the target(s) holding the
    /// group, which follows the refresh and announces its outcome.
    InstanceRefresh(RefreshEvent),
    /// A terminating lifecycle hook holds an instance: `apply` the target(s) holding the group,
    /// which drains it (`planner/hooks.rs`).
    LifecycleAction(LifecycleEvent),
}

/// A terminating lifecycle action event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LifecycleEvent {
    /// `detail.AutoScalingGroupName`.
    pub group: String,
    /// `detail.LifecycleHookName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// `detail.EC2InstanceId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Which scheduler sent a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleSource {
    /// An EventBridge rule with a schedule expression (the event envelope).
    EventbridgeRule,
    /// EventBridge Scheduler with the target input `{"amiroll": "scheduled"}`.
    EventbridgeScheduler,
}

/// A schedule tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ScheduleTick {
    pub via: ScheduleSource,
    /// The EventBridge event `id` (rule events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The event `time` (rule events), or the Scheduler input's optional `scheduled_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The rule ARN (rule events' `resources`), or the Scheduler input's optional `schedule_arn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// What a manual invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ManualCommand {
    /// Observe, plan and change (unless `dry_run`), as `amiroll apply`.
    Apply,
    /// Observe and plan only, as `amiroll plan`.
    Plan,
}

/// A manual invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ManualRequest {
    pub command: ManualCommand,
    pub dry_run: bool,
    /// Only these targets (all when empty).
    pub targets: Vec<String>,
    /// Targets whose failed rollout is acknowledged (`amiroll apply --acknowledge`).
    pub acknowledge: Vec<String>,
}

/// An instance refresh event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RefreshEvent {
    pub detail_type: String,
    /// `detail.AutoScalingGroupName`.
    pub group: String,
    /// `detail.InstanceRefreshId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_refresh_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl RefreshEvent {
    /// The part of the detail-type after "EC2 Auto Scaling Instance Refresh " (e.g. `Succeeded`).
    pub fn outcome(&self) -> &str {
        self.detail_type
            .strip_prefix("EC2 Auto Scaling Instance Refresh ")
            .unwrap_or(&self.detail_type)
    }
}

/// A payload the function does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: received {received}. amiroll accepts an EventBridge scheduled rule event (source \"aws.events\", detail-type \"Scheduled Event\"), the EventBridge Scheduler input {{\"amiroll\":\"scheduled\"}}, a manual request {{\"amiroll\":\"apply\"|\"plan\", ...}}, and EC2 Auto Scaling instance refresh and terminate lifecycle action events (source \"aws.autoscaling\"); see docs/lambda.md")]
    Unrecognised { received: String },
    #[error("invalid amiroll request {received}: {message}")]
    InvalidRequest { received: String, message: String },
    #[error("{detail_type:?} event {event_id}: {message}")]
    InvalidEvent {
        detail_type: String,
        event_id: String,
        message: String,
    },
}

impl EventError {
    /// A stable name for the Lambda error response's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            EventError::Unrecognised { .. } => "amiroll.UnrecognisedEvent",
            EventError::InvalidRequest { .. } => "amiroll.InvalidRequest",
            EventError::InvalidEvent { .. } => "amiroll.InvalidEvent",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduled {
    #[allow(dead_code)]
    amiroll: String,
    /// Optional EventBridge Scheduler context attributes (`<aws.scheduler.scheduled-time>`,
    /// `<aws.scheduler.schedule-arn>`), for the logs.
    #[serde(default)]
    scheduled_time: Option<String>,
    #[serde(default)]
    schedule_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApply {
    #[allow(dead_code)]
    amiroll: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    acknowledge: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    #[allow(dead_code)]
    amiroll: String,
    #[serde(default)]
    targets: Vec<String>,
}

/// Recognise a payload.
pub fn parse(payload: &Value) -> Result<Invocation, EventError> {
    let Some(object) = payload.as_object() else {
        return Err(EventError::Unrecognised {
            received: describe(payload),
        });
    };
    if let Some(marker) = object.get(MARKER) {
        return parse_request(payload, marker);
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    match (text("source"), text("detail-type")) {
        (Some("aws.events"), Some("Scheduled Event")) => Ok(Invocation::Scheduled(ScheduleTick {
            via: ScheduleSource::EventbridgeRule,
            event_id: text("id").map(str::to_string),
            time: text("time").map(str::to_string),
            schedule: object
                .get("resources")
                .and_then(Value::as_array)
                .and_then(|r| r.first())
                .and_then(Value::as_str)
                .map(str::to_string),
        })),
        (Some("aws.autoscaling"), Some(detail_type))
            if REFRESH_DETAIL_TYPES.contains(&detail_type) =>
        {
            parse_refresh(object, detail_type)
        }
        (Some("aws.autoscaling"), Some(TERMINATE_LIFECYCLE_DETAIL_TYPE)) => {
            let (group, event_id) = group_of(object, TERMINATE_LIFECYCLE_DETAIL_TYPE)?;
            let detail = |key: &str| {
                object
                    .get("detail")
                    .and_then(|d| d.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            Ok(Invocation::LifecycleAction(LifecycleEvent {
                group,
                hook: detail("LifecycleHookName"),
                instance_id: detail("EC2InstanceId"),
                event_id,
                time: text("time").map(str::to_string),
            }))
        }
        _ => Err(EventError::Unrecognised {
            received: describe(payload),
        }),
    }
}

fn parse_request(payload: &Value, marker: &Value) -> Result<Invocation, EventError> {
    let invalid = |message: String| EventError::InvalidRequest {
        received: abbreviate(payload),
        message,
    };
    let command = marker.as_str().unwrap_or_default();
    match command {
        "scheduled" => {
            let raw: RawScheduled =
                serde_json::from_value(payload.clone()).map_err(|e| invalid(e.to_string()))?;
            Ok(Invocation::Scheduled(ScheduleTick {
                via: ScheduleSource::EventbridgeScheduler,
                event_id: None,
                time: raw.scheduled_time,
                schedule: raw.schedule_arn,
            }))
        }
        "apply" => {
            let raw: RawApply =
                serde_json::from_value(payload.clone()).map_err(|e| invalid(e.to_string()))?;
            Ok(Invocation::Manual(ManualRequest {
                command: ManualCommand::Apply,
                dry_run: raw.dry_run,
                targets: raw.targets,
                acknowledge: raw.acknowledge,
            }))
        }
        "plan" => {
            let raw: RawPlan = serde_json::from_value(payload.clone()).map_err(|e| {
                invalid(format!(
                    "{e} (`plan` changes nothing; `dry_run` and `acknowledge` belong to `apply`)"
                ))
            })?;
            Ok(Invocation::Manual(ManualRequest {
                command: ManualCommand::Plan,
                dry_run: true,
                targets: raw.targets,
                acknowledge: Vec::new(),
            }))
        }
        _ => Err(invalid(format!(
            "`{MARKER}` must be \"scheduled\", \"apply\" or \"plan\", not {}",
            abbreviate(marker)
        ))),
    }
}

/// `detail.AutoScalingGroupName` of an Auto Scaling event, and the event's id.
fn group_of(
    object: &Map<String, Value>,
    detail_type: &str,
) -> Result<(String, Option<String>), EventError> {
    let event_id = object.get("id").and_then(Value::as_str).map(str::to_string);
    let group = object
        .get("detail")
        .and_then(Value::as_object)
        .and_then(|d| d.get("AutoScalingGroupName"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|g| !g.is_empty());
    match group {
        Some(group) => Ok((group.to_string(), event_id)),
        None => Err(EventError::InvalidEvent {
            detail_type: detail_type.to_string(),
            event_id: event_id.unwrap_or_else(|| "(no id)".to_string()),
            message: "it has no `detail.AutoScalingGroupName`, so there is no group to observe"
                .to_string(),
        }),
    }
}

fn parse_refresh(object: &Map<String, Value>, detail_type: &str) -> Result<Invocation, EventError> {
    let (group, event_id) = group_of(object, detail_type)?;
    let detail = object.get("detail").and_then(Value::as_object);
    Ok(Invocation::InstanceRefresh(RefreshEvent {
        detail_type: detail_type.to_string(),
        group,
        instance_refresh_id: detail
            .and_then(|d| d.get("InstanceRefreshId"))
            .and_then(Value::as_str)
            .map(str::to_string),
        event_id,
        time: object
            .get("time")
            .and_then(Value::as_str)
            .map(str::to_string),
    }))
}

/// A short description of a payload for an error message: what kind of event it looks like,
/// never its whole content.
pub fn describe(payload: &Value) -> String {
    match payload {
        Value::Object(o) if o.is_empty() => "an empty JSON object".to_string(),
        Value::Object(o) => {
            let text = |key: &str| o.get(key).and_then(Value::as_str);
            match (text("source"), text("detail-type")) {
                (Some(source), Some(detail_type)) => {
                    format!("an event with source {source:?} and detail-type {detail_type:?}")
                }
                _ => {
                    let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
                    format!(
                        "a JSON object with keys {}{}",
                        keys.join(", "),
                        if o.len() > keys.len() { ", ..." } else { "" }
                    )
                }
            }
        }
        Value::Array(a) => format!("a JSON array of {} elements", a.len()),
        Value::String(_) => format!("the JSON string {}", abbreviate(payload)),
        Value::Number(_) | Value::Bool(_) => format!("the JSON value {payload}"),
        Value::Null => "null".to_string(),
    }
}

/// The payload as compact JSON, cut at 200 characters.
fn abbreviate(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    #[test]
    fn a_scheduled_rule_event_is_a_tick() {
        let ev = parse(&fixture(include_str!(
            "../tests/fixtures/scheduled-rule.json"
        )));
        assert_eq!(
            ev,
            Ok(Invocation::Scheduled(ScheduleTick {
                via: ScheduleSource::EventbridgeRule,
                event_id: Some("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa".to_string()),
                time: Some("2026-11-26T13:00:00Z".to_string()),
                schedule: Some(
                    "arn:aws:events:us-east-1:123456789012:rule/amiroll-nightly".to_string()
                ),
            }))
        );
    }

    #[test]
    fn the_scheduler_input_is_a_tick() {
        let ev = parse(&fixture(include_str!(
            "../tests/fixtures/scheduler-input.json"
        )));
        assert_eq!(
            ev,
            Ok(Invocation::Scheduled(ScheduleTick {
                via: ScheduleSource::EventbridgeScheduler,
                event_id: None,
                time: None,
                schedule: None,
            }))
        );
        // With the Scheduler's context attributes substituted in.
        let ev = parse(&serde_json::json!({
            "amiroll": "scheduled",
            "scheduled_time": "2026-11-26T13:00:00Z",
            "schedule_arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/amiroll"
        }));
        assert!(
            matches!(&ev, Ok(Invocation::Scheduled(t)) if t.time.as_deref() == Some("2026-11-26T13:00:00Z")),
            "{ev:?}"
        );
    }

    #[test]
    fn manual_requests_carry_their_options() {
        let ev = parse(&fixture(include_str!(
            "../tests/fixtures/manual-apply.json"
        )));
        assert_eq!(
            ev,
            Ok(Invocation::Manual(ManualRequest {
                command: ManualCommand::Apply,
                dry_run: true,
                targets: vec!["web".to_string()],
                acknowledge: vec![],
            }))
        );
        let ev = parse(&serde_json::json!({"amiroll": "apply", "acknowledge": ["web"]}));
        assert_eq!(
            ev,
            Ok(Invocation::Manual(ManualRequest {
                command: ManualCommand::Apply,
                dry_run: false,
                targets: vec![],
                acknowledge: vec!["web".to_string()],
            }))
        );
        let ev = parse(&fixture(include_str!("../tests/fixtures/manual-plan.json")));
        assert_eq!(
            ev,
            Ok(Invocation::Manual(ManualRequest {
                command: ManualCommand::Plan,
                dry_run: true,
                targets: vec![],
                acknowledge: vec![],
            }))
        );
    }

    #[test]
    fn every_documented_instance_refresh_event_names_its_group() {
        for (file, text, outcome) in [
            (
                "refresh-started",
                include_str!("../tests/fixtures/refresh-started.json"),
                "Started",
            ),
            (
                "refresh-checkpoint-reached",
                include_str!("../tests/fixtures/refresh-checkpoint-reached.json"),
                "Checkpoint Reached",
            ),
            (
                "refresh-succeeded",
                include_str!("../tests/fixtures/refresh-succeeded.json"),
                "Succeeded",
            ),
            (
                "refresh-failed",
                include_str!("../tests/fixtures/refresh-failed.json"),
                "Failed",
            ),
            (
                "refresh-cancelled",
                include_str!("../tests/fixtures/refresh-cancelled.json"),
                "Cancelled",
            ),
            (
                "refresh-rollback-succeeded",
                include_str!("../tests/fixtures/refresh-rollback-succeeded.json"),
                "Rollback Succeeded",
            ),
        ] {
            match parse(&fixture(text)) {
                Ok(Invocation::InstanceRefresh(ev)) => {
                    assert_eq!(ev.group, "my-asg", "{file}");
                    assert_eq!(ev.outcome(), outcome, "{file}");
                    assert!(ev.instance_refresh_id.is_some(), "{file}");
                    assert_eq!(
                        ev.event_id.as_deref(),
                        Some("12345678-1234-1234-1234-123456789012"),
                        "{file}"
                    );
                }
                other => panic!("{file}: {other:?}"),
            }
        }
    }

    /// The example of "Amazon EventBridge events for Amazon EC2 Auto Scaling" (terminate
    /// lifecycle action), with amiroll's hook.
    #[test]
    fn a_terminate_lifecycle_action_names_its_group_hook_and_instance() {
        match parse(&fixture(include_str!(
            "../tests/fixtures/terminate-lifecycle-action.json"
        ))) {
            Ok(Invocation::LifecycleAction(ev)) => {
                assert_eq!(ev.group, "my-asg");
                assert_eq!(ev.hook.as_deref(), Some("amiroll-ecs-drain"));
                assert_eq!(ev.instance_id.as_deref(), Some("i-1234567890abcdef0"));
                assert_eq!(ev.time.as_deref(), Some("2026-12-05T13:04:00Z"));
            }
            other => panic!("{other:?}"),
        }
        let mut no_group = fixture(include_str!(
            "../tests/fixtures/terminate-lifecycle-action.json"
        ));
        if let Some(d) = no_group.get_mut("detail").and_then(Value::as_object_mut) {
            d.remove("AutoScalingGroupName");
        }
        let err = parse(&no_group).expect_err("no group");
        assert!(err.to_string().contains("AutoScalingGroupName"), "{err}");
    }

    #[test]
    fn other_events_are_rejected_naming_what_was_received() {
        let err = parse(&fixture(include_str!(
            "../tests/fixtures/lifecycle-action.json"
        )))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("unrecognised event"), "{err}");
        assert!(
            err.contains(
                r#"source "aws.autoscaling" and detail-type "EC2 Instance-launch Lifecycle Action""#
            ),
            "{err}"
        );

        for (payload, needle) in [
            (serde_json::json!({}), "an empty JSON object"),
            (serde_json::json!({"foo": 1, "bar": 2}), "keys bar, foo"),
            (serde_json::json!([1, 2]), "a JSON array of 2 elements"),
            (serde_json::json!("apply"), r#"the JSON string "apply""#),
            (serde_json::json!(null), "null"),
            (
                serde_json::json!({"source": "aws.events", "detail-type": "Something Else"}),
                r#"source "aws.events" and detail-type "Something Else""#,
            ),
            (
                serde_json::json!({"source": "aws.autoscaling", "detail-type": "EC2 Instance Launch Successful", "detail": {"AutoScalingGroupName": "web"}}),
                "EC2 Instance Launch Successful",
            ),
        ] {
            let err = parse(&payload).unwrap_err();
            assert_eq!(err.error_type(), "amiroll.UnrecognisedEvent", "{payload}");
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }

    #[test]
    fn malformed_requests_say_what_is_wrong() {
        for (payload, needle) in [
            (
                serde_json::json!({"amiroll": "apply", "dry-run": true}),
                "unknown field `dry-run`",
            ),
            (
                serde_json::json!({"amiroll": "apply", "targets": "web"}),
                "invalid type",
            ),
            (
                serde_json::json!({"amiroll": "plan", "dry_run": true}),
                "belong to `apply`",
            ),
            (
                serde_json::json!({"amiroll": "rollback"}),
                r#"must be "scheduled", "apply" or "plan", not "rollback""#,
            ),
            (
                serde_json::json!({"amiroll": "scheduled", "targets": ["web"]}),
                "unknown field `targets`",
            ),
        ] {
            let err = parse(&payload).unwrap_err();
            assert_eq!(err.error_type(), "amiroll.InvalidRequest", "{payload}");
            assert!(err.to_string().contains(needle), "{payload}: {err}");
        }
    }

    #[test]
    fn a_refresh_event_without_a_group_is_invalid() {
        let payload = serde_json::json!({
            "id": "e-1",
            "source": "aws.autoscaling",
            "detail-type": "EC2 Auto Scaling Instance Refresh Succeeded",
            "detail": {"InstanceRefreshId": "r-1"}
        });
        let err = parse(&payload).unwrap_err();
        assert_eq!(err.error_type(), "amiroll.InvalidEvent");
        assert!(
            err.to_string().contains("detail.AutoScalingGroupName"),
            "{err}"
        );
    }
}
