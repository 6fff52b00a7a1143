//! Crashes after any call, faults and throttling at every call site, and concurrent runs: each
//! either succeeds (on retry) or fails cleanly, and a fresh run converges.

mod common;

use std::sync::{Arc, Mutex};

use amiroll_core::model::TargetStatus;
use amiroll_core::port::{op, ErrorKind};
use amiroll_core::Engine;
use amiroll_sim::throttling_code;
use common::*;

/// The world of these tests: pruning on (`prune = "all"`, `keep_versions = 1`) and two old
/// versions besides v1, so that a run really deletes versions and the rollback version's
/// protection is tested.
fn world() -> World {
    let w = World::new().setting("prune = \"all\"\nkeep_versions = 1");
    for n in 0..2 {
        w.sim
            .create_launch_template_version_raw(
                &w.lt,
                Some(1),
                amiroll_sim::TemplateData::new(OLD, "m5.large"),
                Some(&format!("experiment {n}")),
            )
            .expect("old version");
    }
    w
}

/// After every call: the default and the version in `amiroll:rollback-version` exist. Returns
/// the violations seen (shared with the observer).
fn watch_rollback_version(w: &World) -> Arc<Mutex<Vec<String>>> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let lt = w.lt.clone();
    w.sim.on_every_call(move |sim, operation, _| {
        let versions: Vec<u64> = sim
            .template_versions(&lt)
            .iter()
            .map(|v| v.version)
            .collect();
        let default = sim.template(&lt).default_version;
        let tagged = sim
            .try_group("web")
            .and_then(|g| g.tags.get("amiroll:rollback-version").cloned())
            .and_then(|t| t.rsplit_once(':').and_then(|(_, v)| v.parse::<u64>().ok()));
        let mut log = log.lock().expect("log");
        if !versions.contains(&default) {
            log.push(format!("after {operation}: the default v{default} is gone"));
        }
        if let Some(v) = tagged.filter(|v| !versions.contains(v)) {
            log.push(format!(
                "after {operation}: the rollback version v{v} is gone"
            ));
        }
    });
    seen
}

/// Every call of a whole rollout from publish to done (no faults), in order.
fn calls_in_a_clean_rollout() -> Vec<&'static str> {
    let w = world();
    w.publish(NEW);
    let before = w.sim.call_log().len();
    w.converge();
    assert!(
        w.sim.call_count(op::DELETE_LAUNCH_TEMPLATE_VERSIONS) > 0,
        "the clean rollout prunes, so the rollback version's protection is tested"
    );
    w.sim.call_log()[before..].to_vec()
}

/// The version amiroll made for NEW, the only one.
fn new_version(w: &World, label: &str) -> u64 {
    let made: Vec<u64> = w
        .sim
        .template_versions(&w.lt)
        .iter()
        .filter(|v| v.image_id.as_deref() == Some(NEW))
        .map(|v| v.version)
        .collect();
    assert_eq!(made.len(), 1, "{label}: exactly one new version: {made:?}");
    made[0]
}

fn assert_converged_after_rollout(w: &World, label: &str) {
    w.assert_converged("web", NEW, (1, 4, 2));
    let v = new_version(w, label);
    assert_eq!(w.sim.template(&w.lt).default_version, v, "{label}");
    assert!(
        w.sim.max_capacity_seen("web") <= 4,
        "{label}: surged past the ceiling"
    );
}

/// Records every error the engine saw: (operation, code).
fn watch_errors(w: &World) -> Arc<Mutex<Vec<(&'static str, String)>>> {
    let seen: Arc<Mutex<Vec<(&'static str, String)>>> = Arc::default();
    let log = Arc::clone(&seen);
    w.sim.on_every_call(move |_, operation, error| {
        if let Some(e) = error {
            log.lock().expect("log").push((operation, e.code.clone()));
        }
    });
    seen
}

#[test]
fn a_crash_after_any_call_is_resumed_by_the_next_run() {
    let total = calls_in_a_clean_rollout().len();
    assert!(total > 20, "the rollout makes {total} calls");
    for n in 0..total {
        let w = world();
        let gone = watch_rollback_version(&w);
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
        // The default and the rollback version existed after every call, pruning included.
        let gone = gone.lock().expect("log");
        assert!(gone.is_empty(), "{label}: {gone:?}");
        assert_eq!(
            w.events_of("rollout-failed"),
            0,
            "{label}: a crash is not a failed rollout"
        );
    }
}

/// The operations a clean rollout calls (a fault on any other would hit nothing).
fn called_operations() -> Vec<&'static str> {
    let calls = calls_in_a_clean_rollout();
    let called: Vec<&'static str> = op::ALL
        .iter()
        .copied()
        .filter(|o| calls.contains(o))
        .collect();
    assert!(called.len() >= 10, "{called:?}");
    called
}

#[test]
fn throttling_at_every_call_site_slows_the_run_but_does_not_fail_it() {
    for operation in called_operations() {
        for nth in 1..=2 {
            if calls_in_a_clean_rollout()
                .iter()
                .filter(|c| **c == operation)
                .count()
                < nth
            {
                continue;
            }
            let w = world();
            let errors = watch_errors(&w);
            w.publish(NEW);
            // Two throttled attempts in a row: the engine's back-off retries past them.
            w.sim.throttle(operation, nth, 2);
            w.converge();
            let label = format!("{operation} throttled at call {nth}");
            let hits = errors
                .lock()
                .expect("log")
                .iter()
                .filter(|(o, c)| *o == operation && c.as_str() == throttling_code(operation))
                .count();
            assert_eq!(hits, 2, "{label}: the throttling hit {hits} call(s)");
            assert_converged_after_rollout(&w, &label);
            assert_eq!(w.events_of("rollout-failed"), 0, "{label}");
        }
    }
}

#[test]
fn a_hard_failure_at_any_call_site_fails_cleanly_and_the_next_run_converges() {
    for operation in called_operations() {
        let w = world();
        let errors = watch_errors(&w);
        w.publish(NEW);
        w.sim
            .fail_nth(operation, 1, ErrorKind::Other, "InternalFailure");
        // The first call of some operations comes in a later run of the rollout.
        let mut first = w.apply_ok();
        for _ in 0..20 {
            if w.sim.call_count(operation) > 0 {
                break;
            }
            w.sim.advance(std::time::Duration::from_secs(120));
            first = w.apply_ok();
        }
        let label = format!("{operation} failed once");
        assert!(
            errors
                .lock()
                .expect("log")
                .iter()
                .any(|(o, c)| *o == operation && c == "InternalFailure"),
            "{label}: the failure hit no call"
        );
        let t = &first.targets[0];
        if operation != op::PUBLISH {
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
    // The message says the apply failed, which action failed, and what had been done.
    assert!(msg.contains("APPLY FAILED"), "{msg}");
    assert!(msg.contains("[failed]"), "{msg}");
    assert!(msg.contains("[done]"), "{msg}");
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
    // One round, not two: one surge and one settle, under the one round the tags record.
    let round = w
        .sim
        .group("web")
        .tags
        .get("amiroll:rollout")
        .cloned()
        .expect("a round is recorded");
    let mut ours: Vec<String> = w
        .sim
        .scheduled_actions("web")
        .into_iter()
        .map(|a| a.name)
        .filter(|n| n.starts_with("amiroll-"))
        .collect();
    ours.sort();
    assert_eq!(
        ours,
        vec![
            format!("amiroll-{round}-settle"),
            format!("amiroll-{round}-surge")
        ],
        "one round, not two"
    );
    w.sim.set_yield_per_call(false);
    w.converge();
    assert_converged_after_rollout(&w, "interleaved");
    // The surge fired once over the whole rollout.
    let surges = w
        .sim
        .events()
        .iter()
        .filter(|(_, e)| e.contains("-surge fired"))
        .count();
    assert_eq!(surges, 1, "one surge over the whole rollout");
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
