//! The run's deadline (the Lambda's): apply starts no action once less than `DEADLINE_MARGIN` is
//! left on the port's clock, reports the rest as not done, and the next run finishes the job.

mod common;

use std::time::Duration;

use amiroll_core::engine::DEADLINE_MARGIN;
use amiroll_core::port::{op, Timestamp};
use amiroll_core::{ApplyReport, Engine};
use common::*;

/// One `amiroll apply` that must stop before `deadline` (virtual time).
fn apply_until(w: &World, deadline: Timestamp) -> ApplyReport {
    let engine = Engine::new(&w.sim).with_deadline(deadline);
    futures::executor::block_on(engine.run(&w.config(), false)).expect("run completes")
}

fn at(w: &World, secs: u64) -> Timestamp {
    w.sim.now() + chrono::Duration::seconds(i64::try_from(secs).expect("small"))
}

#[test]
fn the_deadline_reached_mid_plan_stops_the_writes_and_the_next_run_finishes() {
    assert_eq!(DEADLINE_MARGIN, Duration::from_secs(10));
    let w = World::new();
    w.publish(NEW);
    // The first write takes 55 s of the minute the run has: 5 s are left after it.
    let deadline = at(&w, 60);
    w.sim
        .after_call(op::CREATE_LAUNCH_TEMPLATE_VERSION, 1, |sim| {
            sim.advance(Duration::from_secs(55))
        });
    let before = w.sim.call_log().len();
    let report = apply_until(&w, deadline);

    // No write after the cut-off: the version, then only the notification.
    let calls: Vec<&str> = w.sim.call_log()[before..].to_vec();
    let cut = calls
        .iter()
        .position(|c| *c == op::CREATE_LAUNCH_TEMPLATE_VERSION)
        .expect("the version was created");
    let after: Vec<&&str> = calls[cut + 1..]
        .iter()
        .filter(|c| WRITES.contains(c))
        .collect();
    assert!(after.is_empty(), "writes after the cut-off: {after:?}");
    assert_eq!(
        calls[cut + 1..],
        [op::PUBLISH],
        "only the notification of the half-changed target"
    );

    // The report names what was done and what was not, and why.
    let reason = "stopped before the Lambda's deadline: 5 s left, margin 10 s";
    let stop = report.stopped_at_deadline.as_ref().expect("stopped");
    assert_eq!(stop.reason, reason);
    assert_eq!(stop.targets, vec!["web".to_string()]);
    let t = &report.targets[0];
    assert_eq!(
        t.results[0].result,
        amiroll_core::model::StepResult::Done,
        "{:#?}",
        t.results
    );
    assert!(t.results[0].action.starts_with("create a version"));
    let not_done: Vec<&str> = t.results[1..].iter().map(|r| r.action.as_str()).collect();
    assert!(!not_done.is_empty());
    assert!(
        not_done.iter().any(|a| a.starts_with("schedule `")),
        "{not_done:?}"
    );
    for r in &t.results[1..] {
        assert_eq!(r.result, amiroll_core::model::StepResult::NotDone, "{r:?}");
        assert_eq!(r.detail.as_deref(), Some(reason), "{r:?}");
    }
    let e = t.apply_error.as_deref().expect("the outcome says so");
    assert!(
        e.starts_with(reason)
            && e.contains("the fleet may be half-changed; already done: create a version")
            && e.ends_with("the next run resumes from what is really there"),
        "{e}"
    );
    assert!(!t.succeeded());
    assert_eq!(report.exit_code(), 1);
    // The notification carries it as any failed apply.
    assert_eq!(w.events_of("rollout-failed"), 1);
    let msg = &w.sim.published(&w.topic)[0].message;
    assert!(
        msg.contains("APPLY FAILED") && msg.contains(reason) && msg.contains("[not-done]"),
        "{msg}"
    );

    // The next run, without a deadline, finishes from what is really there: the version made
    // before the cut is used, not made again.
    w.sim.advance(Duration::from_secs(60));
    w.converge();
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.versions(), vec![1, 2]);
    assert_eq!(w.sim.template(&w.lt).default_version, 2);
}

#[test]
fn a_deadline_already_too_close_changes_nothing_and_sends_nothing() {
    let w = World::new();
    w.publish(NEW);
    let writes = w.writes().len();
    // 9 s left when apply begins (the reads take no virtual time).
    let report = apply_until(&w, at(&w, 9));
    assert_eq!(w.writes().len(), writes, "{:?}", w.sim.call_log());
    assert_eq!(w.sim.call_count(op::SET_INSTANCE_PROTECTION), 0);
    assert_eq!(w.sim.call_count(op::PUBLISH), 0);
    let t = &report.targets[0];
    assert!(!t.plan.actions.is_empty());
    assert!(t
        .results
        .iter()
        .all(|r| r.result == amiroll_core::model::StepResult::NotDone));
    assert_eq!(
        t.apply_error.as_deref(),
        Some("stopped before the Lambda's deadline: 9 s left, margin 10 s — nothing was changed; the next run resumes from what is really there")
    );
    assert_eq!(
        t.notification.as_deref(),
        Some("not sent: stopped before the Lambda's deadline: 9 s left, margin 10 s")
    );
    assert_eq!(
        report.stopped_at_deadline.map(|s| s.targets),
        Some(vec!["web".to_string()])
    );

    // With the margin left (exactly 10 s), the run is not stopped.
    let report = apply_until(&w, at(&w, 10));
    assert!(report.stopped_at_deadline.is_none(), "{report:#?}");
    assert!(report.targets[0].apply_error.is_none());
    assert!(w.writes().len() > writes);
}

#[test]
fn a_dry_run_or_a_distant_deadline_is_not_stopped() {
    let w = World::new();
    w.publish(NEW);
    let engine = Engine::new(&w.sim).with_deadline(at(&w, 5));
    let report =
        futures::executor::block_on(engine.run(&w.config(), true)).expect("dry run completes");
    assert!(report.stopped_at_deadline.is_none());
    assert!(report.targets[0]
        .results
        .iter()
        .all(|r| r.detail.as_deref() == Some("dry run")));

    let report = apply_until(&w, at(&w, 900));
    assert!(report.stopped_at_deadline.is_none());
    assert!(report.targets[0].succeeded(), "{report:#?}");
}
