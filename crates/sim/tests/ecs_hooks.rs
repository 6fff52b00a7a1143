//! Issue 12, item 3 (instance refresh and any scale-in): with `ecs_drain = "lifecycle-hook"`
//! amiroll puts a terminating lifecycle hook on the group; Auto Scaling holds each instance it
//! terminates in `Terminating:Wait`, and each run drains it and lets it go once its tasks have
//! moved (or `drain_timeout` passed, with a warning).

mod common;

use std::time::Duration;

use amiroll_core::config::AMIROLL_HOOK;
use amiroll_core::model::{ApplyReport, TargetStatus, DRAIN_SINCE_ATTRIBUTE};
use amiroll_core::port::{op, Aws, ErrorKind, UpdateGroupRequest};
use amiroll_core::RunError;
use amiroll_sim::ActionEndKind;
use common::*;
use futures::executor::block_on;

const REFRESH_WITH_HOOK: &str = "strategy = \"instance-refresh\"\necs_drain = \"lifecycle-hook\"\n";

fn findings(r: &ApplyReport) -> Vec<String> {
    r.targets
        .iter()
        .flat_map(|t| t.plan.findings.iter().map(|f| f.message.clone()))
        .collect()
}

fn held(w: &World) -> Vec<String> {
    w.sim
        .group("web")
        .instances
        .into_iter()
        .filter(|i| i.lifecycle_state == "Terminating:Wait")
        .map(|i| i.instance_id)
        .collect()
}

fn old_ids(w: &World) -> Vec<String> {
    w.sim
        .group("web")
        .instances
        .into_iter()
        .map(|i| i.instance_id)
        .collect()
}

/// Someone lowers the group's desired capacity from 2 to 1 (a scale-in Auto Scaling makes).
fn scale_in_to_one(w: &World) {
    block_on(w.sim.update_auto_scaling_group(&UpdateGroupRequest {
        group_name: "web".to_string(),
        desired_capacity: Some(1),
        ..UpdateGroupRequest::default()
    }))
    .expect("scale in");
}

/// The instances amiroll's hook held, and how each wait ended.
fn ends(w: &World, ids: &[String]) -> Vec<ActionEndKind> {
    ids.iter()
        .filter_map(|id| w.sim.lifecycle_wait(id))
        .flat_map(|wait| wait.actions)
        .filter(|a| a.hook == AMIROLL_HOOK)
        .filter_map(|a| a.ended.map(|e| e.how))
        .collect()
}

#[test]
fn an_instance_refresh_with_the_drain_hook_moves_every_task_before_its_instance_goes() {
    let w = World::ecs().instead_of_surge(REFRESH_WITH_HOOK);
    let old = old_ids(&w);
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
    // amiroll's hook: heartbeat = drain_timeout (10 minutes) + 5, CONTINUE if no run comes.
    let hook = w
        .sim
        .lifecycle_hooks("web")
        .into_iter()
        .find(|h| h.name == AMIROLL_HOOK)
        .expect("amiroll's hook");
    assert!(hook.is_terminating());
    assert_eq!(hook.heartbeat_timeout_secs, 600 + 300);
    assert_eq!(hook.default_result, "CONTINUE");
    // Both old instances were held, drained, and let go by a run (not by the timeout).
    assert_eq!(
        ends(&w, &old),
        vec![ActionEndKind::Completed, ActionEndKind::Completed]
    );
    assert!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE) >= 1);
    assert!(w.sim.call_count(op::PUT_ATTRIBUTES) >= 1);
}

/// The same refresh without the hook: Auto Scaling terminates the old instances with their
/// tasks running (what the hook is for; it also shows the simulator can tell the difference).
#[test]
fn without_the_hook_a_refresh_kills_the_old_instances_tasks() {
    let w = World::ecs().instead_of_surge("strategy = \"instance-refresh\"\n");
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert!(w.sim.tasks_killed() > 0);
}

/// Any scale-in is drained, not only a rollout's: with the fleet current, someone lowers the
/// desired capacity; the held instance is drained by the next run and goes once its tasks moved.
#[test]
fn a_scale_in_while_current_is_drained_too() {
    let w = World::ecs().instead_of_surge(REFRESH_WITH_HOOK);
    // The first run puts the hook (nothing to roll).
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Current);
    assert!(w
        .sim
        .lifecycle_hooks("web")
        .iter()
        .any(|h| h.name == AMIROLL_HOOK));
    scale_in_to_one(&w);
    let gone = held(&w);
    assert_eq!(gone.len(), 1, "{:?}", w.sim.group("web").instances);
    assert!(w.sim.running_tasks(&gone[0]) > 0);
    // The next run drains it and records when.
    let r = w.apply_ok();
    assert!(r.targets[0].apply_error.is_none(), "{:#?}", r.targets[0]);
    let ci = w
        .sim
        .container_instances("prod")
        .into_iter()
        .find(|c| c.ec2_instance_id.as_deref() == Some(gone[0].as_str()))
        .expect("container instance");
    assert_eq!(ci.status, "DRAINING");
    assert!(ci.attributes.contains_key(DRAIN_SINCE_ATTRIBUTE), "{ci:?}");
    // Runs every 5 minutes let it go once its tasks have moved.
    for _ in 0..4 {
        w.sim.advance(Duration::from_secs(5 * 60));
        w.apply_ok();
    }
    assert!(held(&w).is_empty());
    assert_eq!(ends(&w, &gone), vec![ActionEndKind::Completed]);
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
}

/// A scale-in while the target is in error (someone pointed the parameter at something that is
/// not an AMI): the rollout is refused and changes nothing, but the held instance is drained
/// all the same and goes once its tasks have moved — without that, Auto Scaling would let it go
/// at the hook's timeout with its tasks running.
#[test]
fn a_scale_in_while_the_target_is_in_error_is_drained_too() {
    let w = World::ecs().instead_of_surge(REFRESH_WITH_HOOK);
    w.apply_ok();
    w.publish("not-an-ami");
    scale_in_to_one(&w);
    let gone = held(&w);
    assert_eq!(gone.len(), 1);
    assert!(w.sim.running_tasks(&gone[0]) > 0);
    let template_before = w.sim.template_versions("ecs").len();
    assert!(template_before > 0);
    let mut errors = 0;
    for _ in 0..5 {
        let r = w.apply_ok();
        let t = &r.targets[0];
        assert_eq!(t.plan.status, TargetStatus::Error, "{t:#?}");
        assert!(t.apply_error.is_none(), "{t:#?}");
        errors += 1;
        if held(&w).is_empty() {
            break;
        }
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(errors >= 2, "the drain took more than one run");
    assert!(held(&w).is_empty());
    assert_eq!(ends(&w, &gone), vec![ActionEndKind::Completed]);
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
    // Nothing of the rollout changed.
    assert_eq!(w.sim.template_versions("ecs").len(), template_before);
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 0);
}

/// Tasks that cannot move keep the instance until `drain_timeout`; then amiroll lets it go with
/// a warning that names it.
#[test]
fn tasks_that_cannot_move_are_let_go_at_the_drain_timeout_with_a_warning() {
    let w = World::ecs()
        .instead_of_surge(REFRESH_WITH_HOOK)
        .setting("drain_timeout = \"15m\"");
    w.apply_ok();
    w.sim.set_ecs_drain_time(Duration::from_secs(24 * 3600));
    scale_in_to_one(&w);
    let gone = held(&w);
    assert_eq!(gone.len(), 1);
    let start = w.sim.now();
    let mut warned = false;
    for _ in 0..8 {
        let r = w.apply_ok();
        warned |= findings(&r)
            .iter()
            .any(|f| f.contains(&gone[0]) && f.contains("drain_timeout"));
        if held(&w).is_empty() {
            break;
        }
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(warned);
    let wait = w.sim.lifecycle_wait(&gone[0]).expect("held");
    let ended = wait.ended_at.expect("terminated");
    assert!((ended - start).num_seconds() >= 15 * 60, "{wait:?}");
    // The run at the drain timeout let it go (the hook would have waited 5 minutes more).
    assert_eq!(ends(&w, &gone), vec![ActionEndKind::Completed]);
    assert!((ended - start).num_seconds() < 20 * 60, "{wait:?}");
}

/// A run that stops right after the drain, before it records the start: the next run records
/// its own time and the instance still goes only once its tasks have moved.
#[test]
fn a_crash_between_the_drain_and_its_record_is_finished_by_the_next_run() {
    let w = World::ecs().instead_of_surge(REFRESH_WITH_HOOK);
    w.apply_ok();
    scale_in_to_one(&w);
    let gone = held(&w);
    w.sim.fail_nth_after_effect(
        op::UPDATE_CONTAINER_INSTANCES_STATE,
        1,
        ErrorKind::Crash,
        "Crash",
    );
    assert!(matches!(w.apply(), Err(RunError::Crashed(_))));
    w.sim.clear_faults();
    assert_eq!(w.sim.call_count(op::PUT_ATTRIBUTES), 0);
    for _ in 0..4 {
        w.apply_ok();
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(w.sim.call_count(op::PUT_ATTRIBUTES) >= 1);
    assert!(held(&w).is_empty());
    assert_eq!(ends(&w, &gone), vec![ActionEndKind::Completed]);
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
}

/// If no run comes after the drain, Auto Scaling itself lets the instance go when amiroll's hook
/// times out (heartbeat timeout = drain_timeout + 5 minutes, default result CONTINUE).
#[test]
fn with_no_run_the_hook_lets_the_instance_go_at_the_drain_timeout() {
    let w = World::ecs()
        .instead_of_surge(REFRESH_WITH_HOOK)
        .setting("drain_timeout = \"12m\"");
    w.apply_ok();
    scale_in_to_one(&w);
    let gone = held(&w);
    w.apply_ok();
    w.sim.advance(Duration::from_secs(60 * 60));
    let wait = w.sim.lifecycle_wait(&gone[0]).expect("held");
    let ended = wait.ended_at.expect("terminated without a run");
    assert_eq!((ended - wait.since).num_seconds(), 17 * 60, "{wait:?}");
    assert_eq!(ends(&w, &gone), vec![ActionEndKind::TimedOut]);
    // The drain had moved the tasks long before.
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
}

/// `ecs_lifecycle_hook` names a hook the group does not have: an error that names it, no change.
#[test]
fn a_named_hook_that_is_missing_is_an_error_and_changes_nothing() {
    let w = World::ecs().instead_of_surge(
        "strategy = \"instance-refresh\"\necs_lifecycle_hook = \"drain-tasks\"\n",
    );
    w.publish(NEW);
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Error);
    let text = r.targets[0]
        .plan
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(
        text.contains("drain-tasks") && text.contains("web"),
        "{text}"
    );
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 0);
}

/// A scheduled surge with the hook: the gate drains the old instances, and the settle's
/// terminations, held by the hook, go as soon as a run sees them without tasks.
#[test]
fn a_scheduled_surge_with_the_hook_kills_no_task() {
    let w = World::ecs()
        .instead_of_surge("strategy = \"scheduled-surge\"\necs_drain = \"lifecycle-hook\"\n");
    let old = old_ids(&w);
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(ends(&w, &old).len(), 2);
}
