//! The Lambda handler against the simulated account: given this fleet, when this event arrives,
//! then these AWS calls, this summary, this end state.

use std::collections::BTreeMap;
use std::time::Duration;

use amiroll_core::config::Config;
use amiroll_core::model::TargetStatus;
use amiroll_core::port::op;
use amiroll_core::{planner, Engine};
use amiroll_lambda::settings::{CONFIG_PARAMETER_VAR, CONFIG_VAR};
use amiroll_lambda::{handle, handle_until, load_config, HandlerError, ManualCommand, Summary};
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};
use chrono::TimeZone;
use serde_json::{json, Value};

const PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
const OLD_AMI: &str = "ami-0a1b2c3d4e5f60718";
const NEW_AMI: &str = "ami-0f9e8d7c6b5a49382";

/// Every port operation that changes something in AWS.
const WRITES: [&str; 18] = [
    op::CREATE_LAUNCH_TEMPLATE_VERSION,
    op::MODIFY_LAUNCH_TEMPLATE,
    op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
    op::UPDATE_AUTO_SCALING_GROUP,
    op::SET_INSTANCE_PROTECTION,
    op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
    op::DELETE_SCHEDULED_ACTION,
    op::CREATE_OR_UPDATE_TAGS,
    op::DELETE_TAGS,
    op::PUBLISH,
    op::START_INSTANCE_REFRESH,
    op::ROLLBACK_INSTANCE_REFRESH,
    op::CANCEL_INSTANCE_REFRESH,
    op::UPDATE_CONTAINER_INSTANCES_STATE,
    op::PUT_ATTRIBUTES,
    op::PUT_LIFECYCLE_HOOK,
    op::COMPLETE_LIFECYCLE_ACTION,
    op::RECORD_LIFECYCLE_ACTION_HEARTBEAT,
];

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An instance refresh event (the documented example) for `group`.
fn refresh_event(outcome: &str, group: &str) -> Value {
    let mut ev = fixture(&format!("refresh-{outcome}"));
    ev["detail"]["AutoScalingGroupName"] = json!(group);
    ev
}

/// An ECS-like account: template `ecs-cluster` v1 on OLD_AMI, group `ecs-web` ($Default, 1/4/2)
/// and group `ecs-batch` ($Default, 1/3/1) running it, an SNS topic, and the AMI parameter
/// already naming NEW_AMI.
struct Account {
    sim: SimAws,
    topic: String,
}

fn account() -> Account {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    let day = |m, d| {
        chrono::Utc
            .with_ymd_and_hms(2026, m, d, 0, 0, 0)
            .single()
            .expect("a date")
    };
    sim.register_image(ImageSpec::new(
        OLD_AMI,
        "al2023-ami-ecs-hvm-2023.0.20261015-kernel-6.1-x86_64",
        "x86_64",
        day(10, 15),
    ));
    sim.register_image(ImageSpec::new(
        NEW_AMI,
        "al2023-ami-ecs-hvm-2023.0.20261120-kernel-6.1-x86_64",
        "x86_64",
        day(11, 20),
    ));
    sim.put_parameter(PARAM, NEW_AMI);
    let lt = sim
        .create_launch_template("ecs-cluster", TemplateData::new(OLD_AMI, "m5.large"))
        .expect("template");
    for spec in [
        GroupSpec::new("ecs-web", &lt, 1, 4, 2),
        GroupSpec::new("ecs-batch", &lt, 1, 3, 1),
    ] {
        sim.create_group(spec.with_termination_policies(&["OldestLaunchTemplate", "Default"]))
            .expect("group");
    }
    let topic = sim.create_topic("amiroll");
    Account { sim, topic }
}

impl Account {
    /// Target `web` (group ecs-web) with `strategy`, and target `batch` (group ecs-batch,
    /// strategy none).
    fn toml(&self, strategy: &str) -> String {
        format!(
            r#"[[target]]
name = "web"
launch_template = "ecs-cluster"
ami_parameter = "{PARAM}"
groups = ["ecs-web"]
strategy = "{strategy}"
sns_topic = "{topic}"

[[target]]
name = "batch"
launch_template = "ecs-cluster"
ami_parameter = "{PARAM}"
groups = ["ecs-batch"]
strategy = "none"
"#,
            topic = self.topic
        )
    }

    fn config(&self, strategy: &str) -> Config {
        Config::from_toml(&self.toml(strategy), "AMIROLL_CONFIG").expect("valid configuration")
    }

    fn writes(&self) -> usize {
        WRITES.iter().map(|op| self.sim.call_count(op)).sum()
    }

    /// Every summary a test sees matches the checked-in schema.
    async fn invoke(&self, strategy: &str, event: &Value) -> Result<Summary, HandlerError> {
        let summary = handle(&self.sim, self.config(strategy), event).await?;
        let doc = serde_json::to_value(&summary).expect("summary serialises");
        amiroll_testkit::assert_matches_schema("lambda-summary.schema.json", &doc);
        Ok(summary)
    }
}

fn target<'a>(summary: &'a Summary, name: &str) -> &'a amiroll_lambda::summary::TargetSummary {
    summary
        .targets
        .iter()
        .find(|t| t.target == name)
        .unwrap_or_else(|| panic!("no target {name} in {summary:#?}"))
}

fn changed(summary: &Summary, name: &str) -> Vec<String> {
    target(summary, name)
        .changed
        .iter()
        .map(|s| s.action.clone())
        .collect()
}

#[test]
fn the_checked_in_summary_schema_is_the_one_the_types_generate() {
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&amiroll_lambda::summary::schema()).expect("serialises")
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema/lambda-summary.schema.json");
    if std::env::var_os("AMIROLL_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &text).expect("write the schema");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{} is stale: rewrite it with `AMIROLL_WRITE_SCHEMA=1 cargo test -p amiroll-lambda --test handler` (and raise SCHEMA_VERSION if a reader would break)",
        path.display()
    );
}

// --- Schedule ticks -------------------------------------------------------------------------

#[tokio::test]
async fn a_scheduled_event_rolls_the_fleet_to_the_new_ami() {
    let a = account();
    let tick = fixture("scheduled-rule");

    let first = a
        .invoke("scheduled-surge", &tick)
        .await
        .expect("first tick");
    assert!(first.ok, "{first:#?}");
    assert_eq!(first.command, ManualCommand::Apply);
    assert!(!first.dry_run);
    let web = changed(&first, "web");
    assert!(
        web.iter().any(|c| c.starts_with("create a version of")),
        "{web:?}"
    );
    assert!(web.iter().any(|c| c.starts_with("schedule `")), "{web:?}");
    assert_eq!(
        target(&first, "web")
            .notification
            .as_deref()
            .map(|n| n.starts_with("published rollout-started")),
        Some(true),
        "{first:#?}"
    );
    let summary_json = serde_json::to_value(&first).expect("summary serialises");
    assert_eq!(summary_json["invocation"]["kind"], "scheduled");
    assert_eq!(summary_json["invocation"]["via"], "eventbridge-rule");
    assert_eq!(summary_json["targets"][0]["target"], "web");

    // The schedule keeps ticking; virtual time passes through the surge and the settle.
    let mut last = first;
    for _ in 0..12 {
        if target(&last, "web").status == TargetStatus::Current {
            break;
        }
        a.sim.advance(Duration::from_secs(5 * 60));
        last = a.invoke("scheduled-surge", &tick).await.expect("tick");
        assert!(last.ok, "{last:#?}");
    }
    assert_eq!(
        target(&last, "web").status,
        TargetStatus::Current,
        "{last:#?}"
    );
    assert_eq!(
        a.sim.instances_by_ami("ecs-web"),
        BTreeMap::from([(NEW_AMI.to_string(), 2)])
    );
    assert_eq!(a.sim.group_capacity("ecs-web"), (1, 4, 2), "sizes restored");
    let published: Vec<String> = a
        .sim
        .published(&a.topic)
        .iter()
        .map(|n| n.attributes.get("event").cloned().unwrap_or_default())
        .collect();
    assert!(
        published.contains(&"rollout-succeeded".to_string()),
        "{published:?}"
    );
}

#[tokio::test]
async fn the_same_tick_delivered_twice_does_the_work_once() {
    for strategy in ["scheduled-surge", "instance-refresh"] {
        let a = account();
        let tick = fixture("scheduled-rule");
        let first = a.invoke(strategy, &tick).await.expect("first delivery");
        assert!(!changed(&first, "web").is_empty(), "{strategy}: {first:#?}");
        let writes = a.writes();
        let published = a.sim.all_published().len();

        // Lambda's retry of the same event, and EventBridge's at-least-once duplicate.
        let second = a.invoke(strategy, &tick).await.expect("second delivery");
        assert_eq!(a.writes(), writes, "{strategy}: {:?}", a.sim.call_log());
        assert_eq!(a.sim.all_published().len(), published, "{strategy}");
        for t in &second.targets {
            assert!(t.changed.is_empty(), "{strategy}: {t:#?}");
        }
        assert_eq!(
            target(&second, "web").status,
            TargetStatus::Rolling,
            "{strategy}"
        );
        assert!(
            !target(&second, "web").in_flight.is_empty(),
            "{strategy}: the rollout in flight is reported: {second:#?}"
        );
    }
}

#[tokio::test]
async fn the_scheduler_input_is_a_tick_too() {
    let a = account();
    let summary = a
        .invoke("none", &fixture("scheduler-input"))
        .await
        .expect("tick");
    assert_eq!(
        serde_json::to_value(&summary.invocation).expect("json")["via"],
        "eventbridge-scheduler"
    );
    assert!(changed(&summary, "web")
        .iter()
        .any(|c| c.starts_with("make the new version the default")));
    assert_eq!(a.sim.template("ecs-cluster").default_version, 2);
}

#[tokio::test]
async fn a_tick_near_the_deadline_stops_its_writes_and_says_so() {
    let a = account();
    let tick = fixture("scheduled-rule");
    // The invocation has a minute; creating the version takes 55 s of it (virtual time).
    let deadline = a.sim.now() + chrono::Duration::seconds(60);
    a.sim
        .after_call(op::CREATE_LAUNCH_TEMPLATE_VERSION, 1, |sim| {
            sim.advance(Duration::from_secs(55))
        });
    let summary = handle_until(&a.sim, a.config("scheduled-surge"), &tick, Some(deadline))
        .await
        .expect("the invocation returns a summary");

    // Nothing was written after the version: only the half-changed target's notification.
    let log = a.sim.call_log();
    let cut = log
        .iter()
        .position(|c| *c == op::CREATE_LAUNCH_TEMPLATE_VERSION)
        .expect("the version was created");
    assert_eq!(
        log[cut + 1..]
            .iter()
            .filter(|c| WRITES.contains(c))
            .collect::<Vec<_>>(),
        vec![&op::PUBLISH]
    );

    let reason = "stopped before the Lambda's deadline: 5 s left, margin 10 s";
    assert!(!summary.ok, "{summary:#?}");
    let stop = summary
        .stopped_at_deadline
        .as_ref()
        .expect("the summary says the run stopped");
    assert!(stop.message.starts_with(reason), "{}", stop.message);
    assert!(
        stop.message.contains("the fleet may be half-changed")
            && stop.message.contains("the next run resumes"),
        "{}",
        stop.message
    );
    assert_eq!(stop.targets.first().map(String::as_str), Some("web"));
    let web = target(&summary, "web");
    assert_eq!(web.changed.len(), 1, "{web:#?}");
    assert!(web.changed[0].action.starts_with("create a version of"));
    assert!(!web.not_done.is_empty());
    assert!(web
        .not_done
        .iter()
        .all(|s| s.detail.as_deref() == Some(reason)));
    assert!(web
        .apply_error
        .as_deref()
        .is_some_and(|e| e.contains("the fleet may be half-changed")));
    assert_eq!(
        web.notification
            .as_deref()
            .map(|n| n.starts_with("published rollout-failed")),
        Some(true),
        "{web:#?}"
    );
    // The later target was not touched: its actions are left for the next run too.
    assert_eq!(stop.targets, vec!["web".to_string(), "batch".to_string()]);
    let batch = target(&summary, "batch");
    assert!(batch.changed.is_empty(), "{batch:#?}");
    assert!(!batch.not_done.is_empty(), "{batch:#?}");
    assert!(batch
        .not_done
        .iter()
        .all(|s| s.detail.as_deref() == Some(reason)));
    assert!(batch
        .apply_error
        .as_deref()
        .is_some_and(|e| e.contains("nothing was changed")));
    let json = serde_json::to_value(&summary).expect("summary serialises");
    assert_eq!(json["stopped_at_deadline"]["targets"][0], "web");

    // The next tick, with time to spare, goes on from there.
    a.sim.advance(Duration::from_secs(60));
    let deadline = a.sim.now() + chrono::Duration::seconds(900);
    let next = handle_until(&a.sim, a.config("scheduled-surge"), &tick, Some(deadline))
        .await
        .expect("next tick");
    assert!(next.ok, "{next:#?}");
    assert!(next.stopped_at_deadline.is_none());
    assert!(serde_json::to_value(&next).expect("json")["stopped_at_deadline"].is_null());
    assert_eq!(
        a.sim
            .template_versions("ecs-cluster")
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        vec![1, 2],
        "the version made before the cut is used"
    );
}

// --- Manual invocations ---------------------------------------------------------------------

#[tokio::test]
async fn a_manual_dry_run_changes_nothing() {
    let a = account();
    let summary = a
        .invoke("scheduled-surge", &fixture("manual-apply"))
        .await
        .expect("dry run");
    assert!(summary.dry_run);
    assert_eq!(
        summary
            .targets
            .iter()
            .map(|t| t.target.as_str())
            .collect::<Vec<_>>(),
        vec!["web"],
        "only the selected target"
    );
    let web = target(&summary, "web");
    assert_eq!(web.status, TargetStatus::Drift);
    assert!(web.changed.is_empty(), "{web:#?}");
    assert!(
        web.not_done
            .iter()
            .any(|s| s.action.starts_with("create a version of")),
        "{web:#?}"
    );
    assert_eq!(web.notification, None);
    assert_eq!(a.writes(), 0, "{:?}", a.sim.call_log());
    assert_eq!(a.sim.template("ecs-cluster").default_version, 1);
}

#[tokio::test]
async fn a_manual_plan_changes_nothing() {
    let a = account();
    let summary = a
        .invoke(
            "scheduled-surge",
            &json!({"amiroll": "plan", "targets": ["batch"]}),
        )
        .await
        .expect("plan");
    assert_eq!(summary.command, ManualCommand::Plan);
    assert!(summary.dry_run);
    let batch = target(&summary, "batch");
    assert_eq!(batch.status, TargetStatus::Drift);
    assert!(!batch.not_done.is_empty());
    assert_eq!(a.writes(), 0);
}

#[tokio::test]
async fn a_manual_request_for_an_unknown_target_is_refused() {
    let a = account();
    for (event, needle) in [
        (
            json!({"amiroll": "apply", "targets": ["nope"]}),
            "no target named `nope`",
        ),
        (
            json!({"amiroll": "apply", "targets": ["web"], "acknowledge": ["batch"]}),
            "`acknowledge` names `batch`",
        ),
    ] {
        let err = a.invoke("none", &event).await.unwrap_err();
        assert_eq!(err.error_type(), "amiroll.InvalidRequest", "{event}");
        assert!(err.to_string().contains(needle), "{event}: {err}");
    }
    assert_eq!(a.writes(), 0);
}

// --- Instance refresh events ----------------------------------------------------------------

#[tokio::test]
async fn a_refresh_event_for_a_group_in_no_target_is_a_clear_error() {
    let a = account();
    let err = a
        .invoke("instance-refresh", &fixture("refresh-succeeded"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "amiroll.GroupNotConfigured");
    let text = err.to_string();
    for needle in [
        "\"my-asg\"",
        "EC2 Auto Scaling Instance Refresh Succeeded",
        "ecs-web, ecs-batch",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(a.sim.call_log().is_empty(), "nothing was called");
}

#[tokio::test]
async fn a_refresh_succeeded_event_announces_the_outcome_of_that_group_only() {
    let a = account();
    a.invoke("instance-refresh", &fixture("scheduler-input"))
        .await
        .expect("tick starts the refresh");
    let refreshes = a.sim.instance_refreshes("ecs-web");
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");

    // Auto Scaling replaces the instances; the refresh ends and EventBridge says so.
    for _ in 0..24 {
        if a.sim.instance_refreshes("ecs-web")[0].is_terminal() {
            break;
        }
        a.sim.advance(Duration::from_secs(5 * 60));
    }
    assert_eq!(a.sim.instance_refreshes("ecs-web")[0].status, "Successful");
    let before = a.sim.published(&a.topic).len();

    let summary = a
        .invoke("instance-refresh", &refresh_event("succeeded", "ecs-web"))
        .await
        .expect("refresh event");
    assert_eq!(
        summary
            .targets
            .iter()
            .map(|t| t.target.as_str())
            .collect::<Vec<_>>(),
        vec!["web"],
        "only the target holding the group"
    );
    let web = target(&summary, "web");
    assert_eq!(web.status, TargetStatus::Current, "{web:#?}");
    assert_eq!(
        web.notification
            .as_deref()
            .map(|n| n.starts_with("published rollout-succeeded")),
        Some(true),
        "{web:#?}"
    );
    assert_eq!(a.sim.published(&a.topic).len(), before + 1);

    // The same event again (at-least-once delivery): announced once.
    let again = a
        .invoke("instance-refresh", &refresh_event("succeeded", "ecs-web"))
        .await
        .expect("duplicate refresh event");
    assert_eq!(target(&again, "web").notification, None, "{again:#?}");
    assert_eq!(a.sim.published(&a.topic).len(), before + 1);
}

#[tokio::test]
async fn unknown_events_are_rejected_before_any_call() {
    let a = account();
    let err = a
        .invoke("none", &fixture("lifecycle-action"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "amiroll.UnrecognisedEvent");
    assert!(
        err.to_string()
            .contains("\"EC2 Instance-launch Lifecycle Action\""),
        "{err}"
    );
    assert!(a.sim.call_log().is_empty());
}

// --- Configuration --------------------------------------------------------------------------

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

#[tokio::test]
async fn the_seed_variables_plan_exactly_as_the_equivalent_toml() {
    let a = account();
    let seed = [
        ("launch_template_id", "ecs-cluster"),
        ("image_id_ssm_parameter", PARAM),
        ("sns_arn", a.topic.as_str()),
        ("asg_name", "ecs-web"),
    ];
    let from_env = load_config(&a.sim, &env(&seed)).await.expect("seed config");
    let toml = format!(
        r#"[[target]]
name = "ecs-web"
launch_template = "ecs-cluster"
ami_parameter = "{PARAM}"
groups = ["ecs-web"]
strategy = "scheduled-surge"
sns_topic = "{}"
"#,
        a.topic
    );
    let from_toml = load_config(&a.sim, &env(&[(CONFIG_VAR, &toml)]))
        .await
        .expect("TOML config");
    assert_eq!(from_env.targets, from_toml.targets);

    let engine = Engine::new(&a.sim);
    let obs_env = engine.observe(&from_env).await.expect("observe");
    let obs_toml = engine.observe(&from_toml).await.expect("observe");
    let plan_env = planner::plan(&from_env, &obs_env);
    let plan_toml = planner::plan(&from_toml, &obs_toml);
    assert_eq!(plan_env, plan_toml);
    assert_eq!(plan_env.targets[0].status, TargetStatus::Drift);
    assert!(!plan_env.targets[0].actions.is_empty());
}

#[tokio::test]
async fn the_configuration_can_live_in_an_ssm_parameter() {
    let a = account();
    a.sim.put_parameter("/amiroll/config", &a.toml("none"));
    let config = load_config(&a.sim, &env(&[(CONFIG_PARAMETER_VAR, "/amiroll/config")]))
        .await
        .expect("config from the parameter");
    assert_eq!(config.source, "SSM parameter /amiroll/config");
    assert_eq!(config.targets, a.config("none").targets);
    assert_eq!(a.sim.call_log(), vec![op::GET_PARAMETERS]);

    let err = load_config(&a.sim, &env(&[(CONFIG_PARAMETER_VAR, "/amiroll/missing")]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "amiroll.InvalidConfiguration");
    assert!(err.to_string().contains("/amiroll/missing"), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");

    a.sim
        .put_parameter("/amiroll/bad", "[[target]]\nname = 1\n");
    let err = load_config(&a.sim, &env(&[(CONFIG_PARAMETER_VAR, "/amiroll/bad")]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("SSM parameter /amiroll/bad"),
        "{err}"
    );
}

#[test]
fn a_configuration_discovery_made_invalid_is_reported_as_one() {
    // A discovery conflict is the configuration's fault: `InvalidConfiguration`, not `RunStopped`.
    let conflict = amiroll_lambda::HandlerError::Run(amiroll_core::RunError::Config(
        amiroll_core::config::ConfigError::Invalid {
            source_name: "d.toml".to_string(),
            target: "mine".to_string(),
            message: "group `ecs-0-asg` is also discovered".to_string(),
        },
    ));
    assert_eq!(conflict.error_type(), "amiroll.InvalidConfiguration");
    let crashed = amiroll_lambda::HandlerError::Run(amiroll_core::RunError::Crashed(
        amiroll_core::port::AwsError::new(
            op::GET_PARAMETERS,
            amiroll_core::port::ErrorKind::Crash,
            "Crash",
            "stopped",
        ),
    ));
    assert_eq!(crashed.error_type(), "amiroll.RunStopped");
}
