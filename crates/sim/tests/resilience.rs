//! Crashes after any call, faults and throttling at every call site, and concurrent runs: each
//! either succeeds (on retry) or fails cleanly, and a fresh run converges.

mod common;

use amiroll_core::model::TargetStatus;
use amiroll_core::port::{op, ErrorKind};
use amiroll_core::Engine;
use common::*;

/// How many port calls a whole rollout takes from publish to done (no faults).
fn calls_in_a_clean_rollout() -> usize {
    let w = World::new();
    w.publish(NEW);
    let before = w.sim.call_log().len();
    w.converge();
    w.sim.call_log().len() - before
}

fn assert_converged_after_rollout(w: &World, label: &str) {
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.versions(), vec![1, 2], "{label}: exactly one new version");
    assert_eq!(w.sim.template(&w.lt).default_version, 2, "{label}");
    assert!(
        w.sim.max_capacity_seen("web") <= 4,
        "{label}: surged past the ceiling"
    );
}

#[test]
fn a_crash_after_any_call_is_resumed_by_the_next_run() {
    let total = calls_in_a_clean_rollout();
    assert!(total > 20, "the rollout makes {total} calls");
    for n in 0..total {
        let w = World::new();
        w.publish(NEW);
        w.sim.crash_after(n);
        // The crash counter spans runs: call n of the whole rollout, in whichever run it falls.
        let (last, crashes) = w.converge_counting_crashes();
        let label = format!("crash after call {n}");
        assert_eq!(crashes, 1, "{label}: the crash did not happen");
        assert_eq!(
            last.targets[0].plan.status,
            TargetStatus::Current,
            "{label}: {:#?}",
            last.targets[0].plan
        );
        assert_converged_after_rollout(&w, &label);
        // The rollback version is still there.
        assert!(w.versions().contains(&1), "{label}");
        assert!(
            w.events_of("rollout-failed") == 0,
            "{label}: a crash is not a failed rollout"
        );
    }
}

#[test]
fn throttling_at_every_call_site_slows_the_run_but_does_not_fail_it() {
    for operation in op::ALL {
        for nth in 1..=2 {
            let w = World::new();
            w.publish(NEW);
            // Two throttled attempts in a row: the engine's back-off retries past them.
            w.sim.throttle(operation, nth, 2);
            w.converge();
            let label = format!("{operation} throttled at call {nth}");
            assert_converged_after_rollout(&w, &label);
            assert_eq!(w.events_of("rollout-failed"), 0, "{label}");
        }
    }
}

#[test]
fn a_hard_failure_at_any_call_site_fails_cleanly_and_the_next_run_converges() {
    for operation in op::ALL {
        let w = World::new();
        w.publish(NEW);
        w.sim
            .fail_nth(operation, 1, ErrorKind::Other, "InternalFailure");
        let first = w.apply_ok();
        let t = &first.targets[0];
        let label = format!("{operation} failed once");
        if w.sim.call_count(operation) > 0 && *operation != op::PUBLISH {
            // The failure is reported: as an error before anything changed, or as an apply
            // error that lists what was done.
            assert!(
                !t.plan.errors.is_empty() || t.apply_error.is_some(),
                "{label}: not reported: {t:#?}"
            );
            if let Some(e) = &t.apply_error {
                assert!(e.contains("InternalFailure"), "{label}: {e}");
            }
        }
        // Nothing half-done is left to fire: any amiroll action pending belongs to a recorded
        // round (tags present), so a later run can finish or undo it.
        let g = w.sim.group("web");
        let ours = w
            .sim
            .scheduled_actions("web")
            .iter()
            .filter(|a| a.name.starts_with("amiroll-"))
            .count();
        if ours > 0 {
            assert!(
                g.tags.contains_key("amiroll:rollout"),
                "{label}: untracked actions"
            );
        }
        w.converge();
        assert_converged_after_rollout(&w, &label);
    }
}

#[test]
fn a_failed_write_is_announced_with_what_was_done() {
    let w = World::new();
    w.publish(NEW);
    w.sim.fail_nth(
        op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
        2,
        ErrorKind::Invalid,
        "ValidationError",
    );
    let r = w.apply_ok();
    let t = &r.targets[0];
    let e = t.apply_error.as_deref().unwrap_or_default();
    assert!(
        e.contains("already done") && e.contains("create a version"),
        "{e}"
    );
    assert_eq!(w.events_of("rollout-failed"), 1);
    let msg = &w.sim.published(&w.topic)[0].message;
    assert!(
        msg.contains("APPLY FAILED") && msg.contains("[not-done]") || msg.contains("[failed]"),
        "{msg}"
    );
    // The next run schedules the missing settle action from the recorded round.
    w.converge();
    assert_converged_after_rollout(&w, "after a failed put");
}

#[test]
fn two_engines_planning_at_once_make_one_version() {
    let w = World::new();
    w.publish(NEW);
    let config = w.config();
    let a = Engine::new(&w.sim);
    let b = Engine::new(&w.sim);
    futures::executor::block_on(async {
        let obs_a = a.observe(&config).await.expect("observe a");
        let obs_b = b.observe(&config).await.expect("observe b");
        let plan_a = amiroll_core::planner::plan(&config, &obs_a);
        let plan_b = amiroll_core::planner::plan(&config, &obs_b);
        let ra = a.apply(plan_a, false).await.expect("apply a");
        let rb = b.apply(plan_b, false).await.expect("apply b");
        assert!(
            ra.targets[0].apply_error.is_none(),
            "{:?}",
            ra.targets[0].apply_error
        );
        assert!(
            rb.targets[0].apply_error.is_none(),
            "{:?}",
            rb.targets[0].apply_error
        );
    });
    assert_eq!(
        w.versions(),
        vec![1, 2],
        "the ClientToken made the second create a replay"
    );
    let ours: Vec<String> = w
        .sim
        .scheduled_actions("web")
        .into_iter()
        .map(|a| a.name)
        .filter(|n| n.starts_with("amiroll-"))
        .collect();
    assert_eq!(ours.len(), 2, "one round, not two: {ours:?}");
    w.converge();
    assert_converged_after_rollout(&w, "two engines");
}

#[test]
fn two_engines_interleaved_call_by_call_make_one_version() {
    let w = World::new();
    w.sim.set_yield_per_call(true);
    w.publish(NEW);
    let config = w.config();
    let a = Engine::new(&w.sim);
    let b = Engine::new(&w.sim);
    let (ra, rb) = futures::executor::block_on(async {
        futures::join!(a.run(&config, false), b.run(&config, false))
    });
    ra.expect("a runs");
    rb.expect("b runs");
    assert_eq!(w.versions(), vec![1, 2]);
    w.sim.set_yield_per_call(false);
    w.converge();
    assert_converged_after_rollout(&w, "interleaved");
}

#[test]
fn someone_creating_a_version_mid_run_does_not_change_the_source() {
    let w = World::new();
    w.publish(NEW);
    // Right after amiroll read the versions, someone else creates an experimental one.
    w.sim
        .after_call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, 1, |sim| {
            let _ = sim.create_launch_template_version_raw(
                "ecs",
                Some(1),
                amiroll_sim::TemplateData::new(OLD, "m5.24xlarge"),
                Some("someone else"),
            );
        });
    w.apply_ok();
    let created = w
        .sim
        .template_versions(&w.lt)
        .into_iter()
        .find(|v| v.image_id.as_deref() == Some(NEW))
        .expect("amiroll's version");
    assert_eq!(created.instance_type.as_deref(), Some("m5.large"));
    assert_eq!(
        w.sim.template(&w.lt).default_version,
        created.version,
        "default set by number"
    );
}
