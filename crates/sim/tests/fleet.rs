//! Many targets without a long config (discovery by tag), and many accounts and regions at once.

use amiroll_core::config::Config;
use amiroll_core::fleet::{apply_everywhere, places, Place};
use amiroll_core::model::TargetStatus;
use amiroll_core::planner::PlanOptions;
use amiroll_core::port::{op, ErrorKind};
use amiroll_core::{Engine, RetryPolicy, RunError};
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};

const PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
const OLD: &str = "ami-0000000000000a001";
const NEW: &str = "ami-0000000000000b002";

/// An account with `n` groups tagged for discovery (and one untagged), on OLD; SSM names NEW.
fn account(n: usize) -> SimAws {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    sim.register_image(ImageSpec::new(
        OLD,
        "old",
        "x86_64",
        sim.now() - chrono::Duration::days(30),
    ));
    sim.register_image(ImageSpec::new(
        NEW,
        "new",
        "x86_64",
        sim.now() - chrono::Duration::days(5),
    ));
    sim.put_parameter(PARAM, NEW);
    for i in 0..n {
        let lt = sim
            .create_launch_template(&format!("ecs-{i}"), TemplateData::new(OLD, "m5.large"))
            .expect("template");
        sim.create_group(
            GroupSpec::new(format!("ecs-{i}-asg"), &lt, 1, 2, 1)
                .with_termination_policies(&["OldestLaunchTemplate"])
                .with_tag("amiroll:ami-parameter", PARAM),
        )
        .expect("group");
    }
    let lt = sim
        .create_launch_template("untagged", TemplateData::new(OLD, "m5.large"))
        .expect("template");
    sim.create_group(GroupSpec::new("untagged-asg", &lt, 1, 2, 1))
        .expect("group");
    sim
}

const DISCOVER: &str = "[discover]\nstrategy = \"scheduled-surge\"\n";

#[test]
fn tagged_groups_become_targets_with_a_few_lines_of_config() {
    let sim = account(30);
    let config = Config::from_toml(DISCOVER, "d.toml").expect("config");
    let engine = Engine::new(&sim);
    let plan = futures::executor::block_on(engine.plan(&config)).expect("plan");
    assert_eq!(plan.targets.len(), 30);
    assert!(plan.targets.iter().all(|t| t.status == TargetStatus::Drift));
    assert!(!plan.targets.iter().any(|t| t.target == "untagged-asg"));
    // Discovery is one call; the observe step stays batched.
    assert_eq!(sim.call_count(op::DESCRIBE_AUTO_SCALING_GROUPS), 1 + 1);
    assert_eq!(sim.call_count(op::GET_PARAMETERS), 1);
}

#[test]
fn explicit_and_discovered_targets_merge_and_conflicts_are_errors() {
    let sim = account(3);
    let text = format!(
        "{DISCOVER}[[target]]\nname = \"other\"\nlaunch_template = \"untagged\"\nami_parameter = \"{PARAM}\"\ngroups = [\"untagged-asg\"]\nstrategy = \"scheduled-surge\"\n"
    );
    let config = Config::from_toml(&text, "d.toml").expect("config");
    let engine = Engine::new(&sim);
    let plan = futures::executor::block_on(engine.plan(&config)).expect("plan");
    let names: Vec<&str> = plan.targets.iter().map(|t| t.target.as_str()).collect();
    assert_eq!(names, vec!["other", "ecs-0-asg", "ecs-1-asg", "ecs-2-asg"]);

    // A group both listed and tagged: an error naming both, and no change.
    let text = format!(
        "{DISCOVER}[[target]]\nname = \"mine\"\nlaunch_template = \"ecs-0\"\nami_parameter = \"{PARAM}\"\ngroups = [\"ecs-0-asg\"]\n"
    );
    let config = Config::from_toml(&text, "d.toml").expect("config");
    let err = futures::executor::block_on(engine.run(&config, false)).expect_err("conflict");
    let RunError::Config(e) = err else {
        panic!("{err:?}")
    };
    let message = e.to_string();
    assert!(
        message.contains("ecs-0-asg") && message.contains("mine"),
        "{message}"
    );
    assert_eq!(sim.call_count(op::CREATE_LAUNCH_TEMPLATE_VERSION), 0);
}

#[test]
fn a_discovered_fleet_rolls() {
    let sim = account(5);
    let config = Config::from_toml(DISCOVER, "d.toml").expect("config");
    for _ in 0..12 {
        let engine = Engine::new(&sim);
        futures::executor::block_on(engine.run(&config, false)).expect("run");
        sim.advance(std::time::Duration::from_secs(300));
    }
    for i in 0..5 {
        let by = sim.instances_by_ami(&format!("ecs-{i}-asg"));
        assert_eq!(
            by.keys().collect::<Vec<_>>(),
            vec![NEW],
            "ecs-{i}-asg: {by:?}"
        );
    }
}

#[test]
fn many_places_in_parallel_one_failing_does_not_stop_the_others() {
    let text = format!(
        "regions = [\"us-east-1\", \"eu-west-1\"]\nconcurrency = 2\n[[account]]\nid = \"111111111111\"\nrole_arn = \"arn:aws:iam::111111111111:role/amiroll\"\n[[account]]\nid = \"222222222222\"\nrole_arn = \"arn:aws:iam::222222222222:role/amiroll\"\nexternal_id = \"x\"\n{DISCOVER}"
    );
    let config = Config::from_toml(&text, "m.toml").expect("config");
    let all = places(&config);
    assert_eq!(all.len(), 4);
    let accounts: Vec<SimAws> = (0..4).map(|_| account(3)).collect();
    // 222…/eu-west-1 denies everything; 111…/us-east-1 throttles hard but recovers.
    accounts[3].fail_always(
        op::DESCRIBE_AUTO_SCALING_GROUPS,
        ErrorKind::AccessDenied,
        "AccessDenied",
    );
    for operation in [
        op::GET_PARAMETERS,
        op::DESCRIBE_INSTANCES,
        op::DESCRIBE_IMAGES,
    ] {
        accounts[0].throttle(operation, 1, 3);
    }
    let ports: Vec<(Place, Result<SimAws, String>)> = all
        .iter()
        .cloned()
        .zip(accounts.iter().cloned().map(Ok))
        .collect();
    let retry = RetryPolicy {
        max_attempts: 5,
        ..RetryPolicy::default()
    };
    let reports = futures::executor::block_on(apply_everywhere(
        &ports,
        &config,
        false,
        &PlanOptions::default(),
        retry,
    ));
    assert_eq!(reports.len(), 4);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.place.to_string())
        .collect();
    assert_eq!(failed, vec!["222222222222/eu-west-1".to_string()]);
    let bad = reports.iter().find(|r| r.failed()).expect("one failed");
    assert!(
        bad.error
            .as_deref()
            .is_some_and(|e| e.contains("AccessDenied")),
        "{bad:?}"
    );
    for r in reports.iter().filter(|r| !r.failed()) {
        let report = r.report.as_ref().expect("report");
        assert_eq!(report.targets.len(), 3, "{}", r.place);
        assert!(report.targets.iter().all(|t| t.apply_error.is_none()));
    }
    // The throttled place retried and still finished.
    assert!(accounts[0].call_count(op::GET_PARAMETERS) >= 4);
    assert!(accounts[0].call_count(op::CREATE_LAUNCH_TEMPLATE_VERSION) >= 3);
}

#[test]
fn account_and_scope_settings_are_validated() {
    for (text, needle) in [
        (
            "[[account]]\nid = \"12\"\nrole_arn = \"arn:aws:iam::12:role/x\"\n[discover]\n",
            "12-digit",
        ),
        ("concurrency = 0\n[discover]\n", "concurrency"),
        ("aws_max_attempts = 0\n[discover]\n", "aws_max_attempts"),
        ("aws_retry_mode = \"yolo\"\n[discover]\n", "yolo"),
        ("[discover]\nafter = \"x\"\n", "after"),
        ("[discover]\nsurge_factor = 1\n", "surge_factor"),
        ("[discover]\nsns_topic = \"nope\"\n", "sns_topic"),
    ] {
        let err = Config::from_toml(text, "c.toml")
            .expect_err(text)
            .to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn target_selection_applies_to_discovered_targets() {
    let sim = account(4);
    let mut config = Config::from_toml(DISCOVER, "d.toml").expect("config");
    config.select(&["ecs-2-asg".to_string()]).expect("deferred");
    let engine = Engine::new(&sim);
    let plan = futures::executor::block_on(engine.plan(&config)).expect("plan");
    let names: Vec<&str> = plan.targets.iter().map(|t| t.target.as_str()).collect();
    assert_eq!(names, vec!["ecs-2-asg"]);
    futures::executor::block_on(engine.run(&config, false)).expect("run");
    assert_eq!(
        sim.call_count(op::CREATE_LAUNCH_TEMPLATE_VERSION),
        1,
        "only the selected one"
    );

    let mut config = Config::from_toml(DISCOVER, "d.toml").expect("config");
    config.select(&["nope".to_string()]).expect("deferred");
    let err = futures::executor::block_on(engine.plan(&config)).expect_err("unknown");
    assert!(err.to_string().contains("`nope`"), "{err}");
}
