//! `amiroll rollback` of an instance refresh Auto Scaling cannot undo (issue 11, item 3): the
//! group's saved configuration is `$Default`, so `RollbackInstanceRefresh` would answer
//! `IrreversibleInstanceRefresh`. amiroll cancels the refresh itself and refreshes the group back
//! onto the rollback version — in the same run when the cancel completes at once, else in a later
//! run, a plain scheduled `apply` included. The operator does nothing more.

mod common;

use std::time::Duration;

use amiroll_core::model::{Level, StepResult};
use amiroll_core::port::op;
use amiroll_core::RunError;
use common::*;

/// The instance-refresh strategy with `auto_rollback = false`: amiroll does not pin the group
/// before the refresh, so the configuration the refresh saves is `$Default`.
fn world() -> World {
    let w = World::new();
    World {
        toml: w.toml.replace(
            "strategy = \"scheduled-surge\"\n",
            "auto_rollback = false\n",
        ),
        ..w
    }
}

/// NEW published and its refresh started; `until` says when it has gone far enough.
fn refresh_to_new(w: &World, until: impl Fn(&World) -> bool) {
    w.publish(NEW);
    w.apply_ok();
    assert_eq!(w.sim.instance_refreshes("web").len(), 1);
    for _ in 0..120 {
        if until(w) {
            break;
        }
        w.sim.advance(Duration::from_secs(10));
    }
    assert!(until(w), "{:?}", w.sim.instance_refreshes("web"));
    assert_eq!(w.sim.instance_refreshes("web")[0].status, "InProgress");
}

/// Replacements under way: new instances on NEW next to the old ones, the refresh running.
fn replacing(w: &World) -> bool {
    let by_ami = w.sim.instances_by_ami("web");
    by_ami.contains_key(NEW) && by_ami.contains_key(OLD)
}

/// Scheduled `amiroll apply` runs every 2 minutes (a crash is followed by a fresh run) until
/// every refresh has ended and the group runs only OLD; returns how many runs it took.
fn apply_until_back_on_old(w: &World) -> usize {
    for run in 1..=60 {
        match w.apply() {
            Ok(r) => assert!(r.targets[0].plan.errors.is_empty(), "{:?}", r.targets[0]),
            Err(RunError::Crashed(_)) => w.sim.clear_faults(),
            Err(e) => panic!("the run failed as a whole: {e}"),
        }
        let ended = w
            .sim
            .instance_refreshes("web")
            .iter()
            .all(|r| r.is_terminal());
        let by_ami = w.sim.instances_by_ami("web");
        if ended && by_ami.keys().collect::<Vec<_>>() == vec![OLD] && w.healthy_on("web", OLD) == 2
        {
            return run;
        }
        w.sim.advance(Duration::from_secs(120));
    }
    panic!(
        "not back on {OLD}: {:?}; refreshes {:?}",
        w.sim.instances_by_ami("web"),
        w.sim.instance_refreshes("web")
    );
}

/// The statuses of the group's refreshes, newest first.
fn statuses(w: &World) -> Vec<String> {
    w.sim
        .instance_refreshes("web")
        .into_iter()
        .map(|r| r.status)
        .collect()
}

/// The end every case must reach: every instance on OLD, healthy; the refresh AMI recorded as
/// failed; the default on OLD; one cancel; the cancel record gone; the rollback announced.
fn assert_rolled_back(w: &World) {
    assert_eq!(
        w.sim.instances_by_ami("web").keys().collect::<Vec<_>>(),
        vec![OLD]
    );
    assert_eq!(w.healthy_on("web", OLD), 2);
    let tags = w.sim.group("web").tags;
    assert_eq!(
        tags.get("amiroll:failed-ami").map(String::as_str),
        Some(NEW),
        "{tags:?}"
    );
    assert!(!tags.contains_key("amiroll:cancel"), "{tags:?}");
    assert_eq!(w.default_ami().as_deref(), Some(OLD));
    assert_eq!(w.sim.call_count(op::CANCEL_INSTANCE_REFRESH), 1);
    assert_eq!(w.sim.call_count(op::ROLLBACK_INSTANCE_REFRESH), 0);
    assert_eq!(
        statuses(w),
        ["Successful", "Cancelled"],
        "the refresh back, then the cancelled one"
    );
    assert!(
        w.events_of("rollback-started") + w.events_of("rolled-back") >= 1,
        "{:?}",
        w.subjects()
    );
    // Nothing rolls forward to NEW again.
    for _ in 0..3 {
        w.sim.advance(Duration::from_secs(600));
        w.apply_ok();
    }
    assert_eq!(
        w.sim.instances_by_ami("web").keys().collect::<Vec<_>>(),
        vec![OLD]
    );
    assert_eq!(w.sim.instance_refreshes("web").len(), 2);
}

#[test]
fn a_refresh_auto_scaling_cannot_roll_back_is_cancelled_and_refreshed_back_with_no_operator_step() {
    let w = world();
    refresh_to_new(&w, replacing);

    let report = w.rollback();
    let t = &report.targets[0];
    assert!(t.plan.errors.is_empty(), "{:?}", t.plan.errors);
    assert!(t.apply_error.is_none(), "{:?}", t.apply_error);
    // Why Auto Scaling cannot roll it back, and what stays meanwhile.
    let warning = t
        .plan
        .findings
        .iter()
        .find(|f| f.level == Level::Warning)
        .map(|f| f.message.clone())
        .unwrap_or_default();
    assert!(
        warning.contains("$Default") && warning.contains("stay until that refresh replaces them"),
        "{warning}"
    );
    assert_eq!(w.sim.call_count(op::CANCEL_INSTANCE_REFRESH), 1);
    // The replacements under way finish first: the refresh is Cancelling, so the refresh back
    // waits for a later run.
    assert_eq!(w.sim.instance_refreshes("web")[0].status, "Cancelling");
    let start = t
        .results
        .iter()
        .find(|r| r.action.starts_with("start an instance refresh"))
        .expect("the refresh back is planned");
    assert_eq!(start.result, StepResult::NotDone, "{start:?}");
    assert!(
        start.detail.as_deref().unwrap_or("").contains("Cancelling"),
        "{start:?}"
    );
    assert_eq!(
        w.sim
            .group("web")
            .tags
            .get("amiroll:failed-ami")
            .map(String::as_str),
        Some(NEW),
        "marked failed at the cancel"
    );
    // New launches are back on OLD already.
    assert_eq!(w.default_ami().as_deref(), Some(OLD));

    // Only the scheduled runs from here on.
    apply_until_back_on_old(&w);
    assert_rolled_back(&w);
}

#[test]
fn a_cancel_that_completes_at_once_refreshes_back_in_the_same_run() {
    // A checkpoint at 50 %: the refresh pauses with nothing under way, so the cancel completes
    // at once.
    let w = world().setting("checkpoint_percentages = [50, 100]\ncheckpoint_delay = \"1h\"");
    refresh_to_new(&w, |w| {
        w.sim.instance_refreshes("web")[0]
            .status_reason
            .as_deref()
            .is_some_and(|x| x.starts_with("Waiting for checkpoint"))
    });
    assert_eq!(w.sim.instances_by_ami("web").get(NEW), Some(&1));

    let report = w.rollback();
    let t = &report.targets[0];
    assert!(t.plan.errors.is_empty(), "{:?}", t.plan.errors);
    assert_eq!(
        statuses(&w),
        ["InProgress", "Cancelled"],
        "the refresh back started in the same run"
    );
    assert!(
        t.results.iter().all(|r| r.result == StepResult::Done),
        "{:#?}",
        t.results
    );

    apply_until_back_on_old(&w);
    assert_rolled_back(&w);
}

#[test]
fn a_crash_right_after_the_cancel_is_taken_on_by_the_next_plain_apply() {
    let w = world();
    refresh_to_new(&w, replacing);
    // The process stops right after CancelInstanceRefresh answered: before the refresh back,
    // the failure record and the notification.
    w.sim
        .after_call(op::CANCEL_INSTANCE_REFRESH, 1, |sim| sim.crash_after(0));
    let engine = amiroll_core::Engine::new(&w.sim);
    let crashed = futures::executor::block_on(engine.rollback(&w.config(), false));
    assert!(matches!(crashed, Err(RunError::Crashed(_))), "{crashed:?}");
    w.sim.clear_faults();
    let tags = w.sim.group("web").tags;
    assert_eq!(
        tags.get("amiroll:cancel-ami").map(String::as_str),
        Some(NEW),
        "{tags:?}"
    );
    assert!(!tags.contains_key("amiroll:failed-ami"), "{tags:?}");

    // No operator: the scheduled `apply` finishes the rollback, never rolling forward to NEW.
    apply_until_back_on_old(&w);
    assert_rolled_back(&w);
}
