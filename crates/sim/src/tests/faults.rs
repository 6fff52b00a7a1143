use std::time::Duration;

use amiroll_core::port::{op, Aws, ErrorKind};
use futures::executor::block_on;

use super::{account, fleet, strings, version_request};
use crate::{throttling_code, TemplateData};

#[test]
fn fail_nth_fails_exactly_that_call_without_effect() {
    let (sim, lt) = account();
    sim.fail_nth(
        op::CREATE_LAUNCH_TEMPLATE_VERSION,
        2,
        ErrorKind::Transient,
        "InternalError",
    );
    let first =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")));
    assert_eq!(first.expect("first").version, 2);
    let second =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "b")))
            .expect_err("second fails");
    assert_eq!(
        (second.kind, second.code.as_str()),
        (ErrorKind::Transient, "InternalError")
    );
    assert_eq!(second.operation, op::CREATE_LAUNCH_TEMPLATE_VERSION);
    assert_eq!(
        sim.template(&lt).latest_version,
        2,
        "the failed call created nothing"
    );
    // The failed call did not record its token: a retry with it creates the version once.
    let retry =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "b")))
            .expect("retry");
    assert_eq!(retry.version, 3);
    assert_eq!(sim.call_count(op::CREATE_LAUNCH_TEMPLATE_VERSION), 3);
    assert_eq!(
        sim.call_log(),
        vec![op::CREATE_LAUNCH_TEMPLATE_VERSION; 3],
        "failed calls are logged too"
    );
}

#[test]
fn fail_nth_counts_only_its_operation() {
    let (sim, lt) = account();
    sim.fail_nth(
        op::MODIFY_LAUNCH_TEMPLATE,
        1,
        ErrorKind::AccessDenied,
        "UnauthorizedOperation",
    );
    block_on(sim.describe_launch_template(&lt)).expect("other op unaffected");
    let err = block_on(sim.modify_launch_template_default_version(&lt, 1)).expect_err("injected");
    assert_eq!(err.kind, ErrorKind::AccessDenied);
    block_on(sim.modify_launch_template_default_version(&lt, 1)).expect("one-shot");
}

#[test]
fn throttle_window_uses_the_service_code() {
    let (sim, _) = fleet();
    sim.throttle(op::DESCRIBE_AUTO_SCALING_GROUPS, 2, 2);
    let names = strings(&["web-asg"]);
    let results: Vec<_> = (0..4)
        .map(|_| block_on(sim.describe_auto_scaling_groups(&names)))
        .collect();
    assert!(results[0].is_ok());
    for r in &results[1..3] {
        let e = r.as_ref().expect_err("throttled");
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Throttling, "Throttling")
        );
        assert!(e.kind.is_retryable());
    }
    assert!(results[3].is_ok());
    assert_eq!(throttling_code(op::DESCRIBE_IMAGES), "RequestLimitExceeded");
    assert_eq!(throttling_code(op::GET_PARAMETERS), "ThrottlingException");

    sim.throttle(op::GET_PARAMETERS, 1, 1);
    let e = block_on(sim.get_parameters(&strings(&["/x"]))).expect_err("throttled");
    assert_eq!(e.code, "ThrottlingException");
}

#[test]
fn crash_after_n_calls_applies_n_and_nothing_after() {
    let (sim, lt) = account();
    sim.crash_after(2);
    let a = block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")));
    let b = block_on(sim.modify_launch_template_default_version(&lt, 2));
    assert!(a.is_ok() && b.is_ok());
    let c = block_on(sim.delete_launch_template_versions(&lt, &[1])).expect_err("crash");
    assert_eq!(c.kind, ErrorKind::Crash);
    let d = block_on(sim.describe_launch_template(&lt)).expect_err("still crashed");
    assert_eq!(d.kind, ErrorKind::Crash);
    assert_eq!(
        sim.template_versions(&lt).len(),
        2,
        "the delete had no effect"
    );
    assert_eq!(
        sim.template(&lt).default_version,
        2,
        "call 2's effect was applied"
    );
    assert_eq!(sim.call_log().len(), 4);

    sim.clear_faults();
    let out = block_on(sim.delete_launch_template_versions(&lt, &[1])).expect("after clear");
    assert_eq!(out.deleted, vec![1]);
}

#[test]
fn crash_after_zero_and_time_keeps_running() {
    let (sim, _) = fleet();
    sim.crash_after(0);
    let err = block_on(put_desired_action(&sim)).expect_err("crash");
    assert_eq!(err.kind, ErrorKind::Crash);
    assert!(sim.scheduled_actions("web-asg").is_empty());
    // The world goes on without the crashed process.
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.group("web-asg").instances.len(), 4);
}

async fn put_desired_action(sim: &crate::SimAws) -> Result<(), amiroll_core::port::AwsError> {
    let at = crate::account::add_secs(Aws::now(sim), 60);
    sim.put_scheduled_update_group_action(&amiroll_core::port::ScheduledAction {
        group_name: "web-asg".to_string(),
        name: "x".to_string(),
        start_time: at,
        min_size: None,
        max_size: None,
        desired_capacity: Some(5),
        recurrence: None,
    })
    .await
}

#[test]
fn fail_always_until_cleared() {
    let (sim, _) = fleet();
    let topic = sim.create_topic("t");
    sim.fail_always(
        op::GET_TOPIC_ATTRIBUTES,
        ErrorKind::AccessDenied,
        "AuthorizationError",
    );
    for _ in 0..3 {
        let e = block_on(sim.get_topic_attributes(&topic)).expect_err("denied");
        assert_eq!(e.kind, ErrorKind::AccessDenied);
    }
    sim.clear_faults();
    block_on(sim.get_topic_attributes(&topic)).expect("cleared");
}

#[test]
fn after_call_hook_stages_a_concurrent_actor() {
    let (sim, lt) = account();
    sim.after_call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, 1, |s| {
        s.create_launch_template_version_raw(
            "web",
            Some(1),
            TemplateData::default(),
            Some("someone else"),
        )
        .expect("concurrent version");
    });
    let seen = block_on(sim.describe_launch_template_versions(&lt)).expect("describe");
    assert_eq!(
        seen.len(),
        1,
        "the hook runs after the call's result is computed"
    );
    let created =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")))
            .expect("create");
    assert_eq!(created.version, 3);
}

#[test]
fn joined_runs_interleave_call_by_call() {
    let (sim, lt) = fleet();
    let a = sim.clone();
    let b = sim.clone();
    let names = strings(&["web-asg"]);
    let run_a = async {
        for _ in 0..3 {
            a.describe_launch_template(&lt).await.expect("a");
        }
    };
    let run_b = async {
        for _ in 0..3 {
            b.describe_auto_scaling_groups(&names).await.expect("b");
        }
    };
    block_on(futures::future::join(run_a, run_b));
    let log = sim.call_log();
    assert_eq!(
        log,
        [
            op::DESCRIBE_LAUNCH_TEMPLATES,
            op::DESCRIBE_AUTO_SCALING_GROUPS
        ]
        .repeat(3)
    );

    sim.set_yield_per_call(false);
    let a = sim.clone();
    let b = sim.clone();
    let run_a = async {
        for _ in 0..2 {
            a.describe_launch_template(&lt).await.expect("a");
        }
    };
    let run_b = async {
        b.describe_auto_scaling_groups(&names).await.expect("b");
    };
    block_on(futures::future::join(run_a, run_b));
    assert_eq!(
        &sim.call_log()[6..],
        &[
            op::DESCRIBE_LAUNCH_TEMPLATES,
            op::DESCRIBE_LAUNCH_TEMPLATES,
            op::DESCRIBE_AUTO_SCALING_GROUPS
        ]
    );
}

#[test]
fn sleep_advances_virtual_time_without_a_call() {
    let (sim, _) = fleet();
    let before = sim.now();
    block_on(Aws::sleep(&sim, Duration::from_secs(30)));
    assert_eq!(sim.now() - before, chrono::Duration::seconds(30));
    assert!(sim.call_log().is_empty());
}

#[test]
fn an_ambiguous_write_takes_effect_and_the_caller_sees_an_error() {
    let (sim, lt) = account();
    sim.fail_nth_after_effect(
        op::CREATE_LAUNCH_TEMPLATE_VERSION,
        1,
        ErrorKind::Transient,
        "InternalError",
    );
    let err =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "t")))
            .expect_err("the caller sees a failure");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Transient, "InternalError")
    );
    assert_eq!(
        sim.template(&lt).latest_version,
        2,
        "the version was created"
    );
    // The retry with the same token is a replay, as with AWS.
    let retry =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "t")))
            .expect("retry");
    assert_eq!(retry.version, 2);
    assert_eq!(sim.template(&lt).latest_version, 2);
}

#[test]
fn a_time_out_fails_without_effect_for_its_window() {
    let (sim, lt) = account();
    sim.time_out(op::MODIFY_LAUNCH_TEMPLATE, 1, 2);
    for _ in 0..2 {
        let e = block_on(sim.modify_launch_template_default_version(&lt, 1)).expect_err("timeout");
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Transient, "RequestTimeout")
        );
    }
    block_on(sim.modify_launch_template_default_version(&lt, 1)).expect("third call passes");
}

#[test]
fn observers_see_every_call_failed_ones_too() {
    use std::sync::{Arc, Mutex};
    let (sim, lt) = account();
    type Seen = Vec<(String, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = Arc::clone(&seen);
    sim.on_every_call(move |s, operation, error| {
        // The observer may read the account: the lock is not held.
        let _ = s.now();
        log.lock()
            .expect("log")
            .push((operation.to_string(), error.map(|e| e.code.clone())));
    });
    sim.fail_nth(op::DESCRIBE_LAUNCH_TEMPLATES, 1, ErrorKind::Other, "Boom");
    let _ = block_on(sim.describe_launch_template(&lt));
    block_on(sim.describe_launch_template(&lt)).expect("second");
    sim.crash_after(0);
    let _ = block_on(sim.describe_launch_template(&lt));
    sim.clear_faults();
    block_on(sim.describe_launch_template(&lt)).expect("observers survive clear_faults");
    let seen = seen.lock().expect("log").clone();
    let codes: Vec<Option<&str>> = seen.iter().map(|(_, c)| c.as_deref()).collect();
    assert_eq!(
        codes,
        vec![Some("Boom"), None, Some("SimulatedCrash"), None]
    );
    assert!(seen.iter().all(|(o, _)| o == op::DESCRIBE_LAUNCH_TEMPLATES));
}

#[test]
fn outside_actors_delete_and_tag_without_port_calls() {
    let (sim, lt) = fleet();
    sim.tag_group("web-asg", &[("owner", "ops"), ("team", "a")])
        .expect("tag");
    sim.untag_group("web-asg", &["team"]).expect("untag");
    assert_eq!(
        sim.group("web-asg").tags.keys().collect::<Vec<_>>(),
        vec!["owner"]
    );
    sim.put_parameter("/p", "ami-new");
    sim.delete_parameter("/p").expect("delete parameter");
    assert!(sim.parameter("/p").is_none());
    assert!(sim.delete_parameter("/p").is_err());
    let live: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    sim.delete_group("web-asg").expect("delete group");
    assert!(sim.try_group("web-asg").is_none());
    assert!(live
        .iter()
        .all(|id| sim.instance(id).expect("still described").state == "terminated"));
    sim.delete_launch_template(&lt).expect("delete template");
    assert!(sim.try_template(&lt).is_none());
    assert!(sim.call_log().is_empty(), "no port call was made");
}
