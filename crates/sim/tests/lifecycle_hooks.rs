//! Lifecycle hooks on instance termination in the simulator: Auto Scaling holds what it
//! terminates in `Terminating:Wait` until every hook's action is completed or times out
//! ("Amazon EC2 Auto Scaling lifecycle hooks",
//! https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html); and the ECS
//! custom attributes of container instances (`PutAttributes`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use amiroll_core::port::{
    op, Aws, AwsError, ContainerInstanceAttribute, DesiredTemplate, ErrorKind,
    LifecycleActionResult, PutLifecycleHookRequest, RefreshPreferences, ScheduledAction,
    StartRefreshRequest, Timestamp, LIFECYCLE_TRANSITION_LAUNCHING,
    LIFECYCLE_TRANSITION_TERMINATING,
};
use amiroll_sim::{ActionEndKind, TemplateData};
use common::*;
use futures::executor::block_on;

/// The group's instances as `DescribeAutoScalingGroups` lists them: (id, lifecycle state).
fn listed(w: &World) -> Vec<(String, String)> {
    w.sim
        .group("web")
        .instances
        .into_iter()
        .map(|i| (i.instance_id, i.lifecycle_state))
        .collect()
}

fn in_state(w: &World, state: &str) -> Vec<String> {
    listed(w)
        .into_iter()
        .filter(|(_, s)| s == state)
        .map(|(id, _)| id)
        .collect()
}

fn secs(from: Timestamp, to: Timestamp) -> i64 {
    (to - from).num_seconds()
}

fn ec2_state(w: &World, id: &str) -> String {
    w.sim.instance(id).expect("instance").state
}

fn assert_invalid(e: &AwsError, operation: &str, code: &str, message_has: &str) {
    assert_eq!(e.operation, operation, "{e}");
    assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
    assert!(!e.kind.is_retryable());
    assert_eq!(e.code, code, "{e}");
    assert!(e.message.contains(message_has), "{e}");
}

/// `World::ecs()` (group `web`, two instances running the 4 tasks of `api`) with a terminating
/// hook `drain`.
fn held_world(heartbeat: u32, default_result: &str) -> World {
    let w = World::ecs();
    w.sim
        .create_terminating_hook("web", "drain", heartbeat, default_result)
        .expect("hook");
    w
}

/// Scale `web` in by one; returns the instance Auto Scaling took.
fn scale_in(w: &World) -> String {
    w.sim.set_desired_capacity("web", 1).expect("scale in");
    let waiting = in_state(w, "Terminating:Wait");
    assert_eq!(waiting.len(), 1, "{:#?}", w.sim.events());
    waiting[0].clone()
}

#[test]
fn scale_in_holds_the_instance_in_terminating_wait_with_its_tasks_running() {
    let w = held_world(300, "CONTINUE");
    let before: Vec<String> = listed(&w).into_iter().map(|(id, _)| id).collect();
    let tasks_before = w.sim.tasks_per_instance();
    let start = w.sim.now();
    let victim = scale_in(&w);
    let kept = in_state(&w, "InService");

    // Listed with its lifecycle state; the EC2 instance runs; nothing else was terminated or
    // launched to make up for it; it is no longer the group's capacity.
    assert_eq!(kept.len(), 1);
    assert_eq!(listed(&w).len(), 2);
    assert!(before.contains(&victim) && before.contains(&kept[0]));
    assert_eq!(ec2_state(&w, &victim), "running");
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 1));
    assert_eq!(
        w.sim.instances_by_ami("web"),
        BTreeMap::from([(OLD.to_string(), 1)])
    );
    // Its container instance is untouched: ACTIVE, its tasks still running there.
    assert_eq!(w.sim.running_tasks(&victim), tasks_before[&victim]);
    assert!(w
        .sim
        .container_instances("prod")
        .iter()
        .any(|c| c.ec2_instance_id.as_deref() == Some(victim.as_str()) && c.is_active()));
    let wait = w.sim.lifecycle_wait(&victim).expect("held");
    assert_eq!(wait.since, start);
    assert_eq!(wait.ended_at, None);
    assert_eq!(wait.actions.len(), 1);
    assert_eq!(wait.actions[0].hook, "drain");
    assert_eq!(secs(start, wait.actions[0].deadline), 300);
    assert!(w
        .sim
        .events()
        .iter()
        .any(|(_, e)| e == &format!("autoscaling web: {victim} Terminating:Wait (hook drain)")));

    // Time passes, Auto Scaling reconciles: still one held, one in service, nothing launched.
    w.sim.advance(Duration::from_secs(299));
    assert_eq!(in_state(&w, "Terminating:Wait"), vec![victim.clone()]);
    assert_eq!(in_state(&w, "InService"), kept);
    assert_eq!(w.sim.max_instances_seen("web"), 2);

    // The heartbeat timeout passes: the default result, then terminated.
    w.sim.advance(Duration::from_secs(1));
    assert_eq!(ec2_state(&w, &victim), "terminated");
    assert_eq!(listed(&w), vec![(kept[0].clone(), "InService".to_string())]);
    let wait = w
        .sim
        .lifecycle_wait(&victim)
        .expect("kept after termination");
    assert_eq!(wait.ended_at.map(|t| secs(start, t)), Some(300));
    let end = wait.actions[0].ended.expect("ended");
    assert_eq!(
        (end.result, end.how),
        (LifecycleActionResult::Continue, ActionEndKind::TimedOut)
    );
    // Nobody drained it: its tasks died with it (ECS draining is not part of the hook).
    assert_eq!(w.sim.tasks_killed(), tasks_before[&victim]);
}

#[test]
fn without_a_terminating_hook_scale_in_terminates_at_once() {
    let w = World::ecs();
    // A launching hook holds nothing on termination.
    w.sim
        .add_lifecycle_hook(&PutLifecycleHookRequest {
            group_name: "web".to_string(),
            name: "warm".to_string(),
            transition: LIFECYCLE_TRANSITION_LAUNCHING.to_string(),
            heartbeat_timeout_secs: None,
            default_result: None,
        })
        .expect("launch hook");
    w.sim.set_desired_capacity("web", 1).expect("scale in");
    assert_eq!(listed(&w).len(), 1);
    assert!(in_state(&w, "Terminating:Wait").is_empty());
}

#[test]
fn a_scheduled_scale_in_is_held_too() {
    let w = held_world(600, "ABANDON");
    let at = w.sim.now() + chrono::Duration::minutes(10);
    w.sim
        .add_scheduled_action(ScheduledAction {
            group_name: "web".to_string(),
            name: "night".to_string(),
            start_time: at,
            min_size: None,
            max_size: None,
            desired_capacity: Some(1),
            recurrence: None,
        })
        .expect("action");
    w.sim.advance(Duration::from_secs(600));
    let waiting = in_state(&w, "Terminating:Wait");
    assert_eq!(waiting.len(), 1, "{:#?}", w.sim.events());
    assert_eq!(
        w.sim.lifecycle_wait(&waiting[0]).map(|wt| wt.since),
        Some(at)
    );
    assert_eq!(in_state(&w, "InService").len(), 1);
}

#[test]
fn a_heartbeat_restarts_the_timeout_and_the_default_result_applies_when_it_passes() {
    let w = held_world(300, "ABANDON");
    let start = w.sim.now();
    let victim = scale_in(&w);
    w.sim.advance(Duration::from_secs(200));
    block_on(
        w.sim
            .record_lifecycle_action_heartbeat("web", "drain", &victim),
    )
    .expect("heartbeat");
    let wait = w.sim.lifecycle_wait(&victim).expect("held");
    assert_eq!(secs(start, wait.actions[0].deadline), 500);
    // Past the first timeout: still held.
    w.sim.advance(Duration::from_secs(299));
    assert_eq!(in_state(&w, "Terminating:Wait"), vec![victim.clone()]);
    w.sim.advance(Duration::from_secs(1));
    assert_eq!(ec2_state(&w, &victim), "terminated");
    let wait = w.sim.lifecycle_wait(&victim).expect("record");
    assert_eq!(wait.ended_at.map(|t| secs(start, t)), Some(500));
    let end = wait.actions[0].ended.expect("ended");
    assert_eq!(
        (end.result, end.how),
        (LifecycleActionResult::Abandon, ActionEndKind::TimedOut)
    );
    assert_eq!(w.sim.call_count(op::RECORD_LIFECYCLE_ACTION_HEARTBEAT), 1);
}

#[test]
fn heartbeats_never_extend_the_wait_past_the_global_timeout() {
    // Heartbeat 30 s: the global timeout is 100 × 30 = 3000 s (under 48 h).
    let w = held_world(30, "CONTINUE");
    let hooks = block_on(w.sim.describe_lifecycle_hooks("web")).expect("hooks");
    assert_eq!(hooks[0].global_timeout_secs, 3000);
    let start = w.sim.now();
    let victim = scale_in(&w);
    let mut beats = 0;
    loop {
        w.sim.advance(Duration::from_secs(20));
        match block_on(
            w.sim
                .record_lifecycle_action_heartbeat("web", "drain", &victim),
        ) {
            Ok(()) => beats += 1,
            Err(e) => {
                assert_invalid(
                    &e,
                    op::RECORD_LIFECYCLE_ACTION_HEARTBEAT,
                    "ValidationError",
                    &format!("No active Lifecycle Action found with instance ID {victim}"),
                );
                break;
            }
        }
        assert!(beats < 1000, "the wait never ended");
    }
    // Heartbeats every 20 s kept it alive up to the global timeout, not a second longer.
    assert_eq!(beats, 149);
    let wait = w.sim.lifecycle_wait(&victim).expect("record");
    assert_eq!(wait.ended_at.map(|t| secs(start, t)), Some(3000));
    assert_eq!(secs(start, wait.actions[0].global_deadline), 3000);
    assert_eq!(ec2_state(&w, &victim), "terminated");
}

#[test]
fn the_global_timeout_is_at_most_48_hours() {
    let w = held_world(7200, "CONTINUE");
    let hooks = block_on(w.sim.describe_lifecycle_hooks("web")).expect("hooks");
    // 100 × 7200 s would be 200 h.
    assert_eq!(hooks[0].global_timeout_secs, 48 * 3600);
}

#[test]
fn complete_lifecycle_action_ends_the_wait_once_every_hook_is_done() {
    let w = held_world(3600, "ABANDON");
    w.sim
        .create_terminating_hook("web", "logs", 3600, "ABANDON")
        .expect("second hook");
    let victim = scale_in(&w);
    assert_eq!(
        w.sim.lifecycle_wait(&victim).expect("held").actions.len(),
        2
    );
    block_on(w.sim.complete_lifecycle_action(
        "web",
        "drain",
        &victim,
        LifecycleActionResult::Continue,
    ))
    .expect("complete drain");
    // CONTINUE "allows any other lifecycle hooks to complete": still held for `logs`.
    assert_eq!(in_state(&w, "Terminating:Wait"), vec![victim.clone()]);
    // The same action again: it is over.
    let again = block_on(w.sim.complete_lifecycle_action(
        "web",
        "drain",
        &victim,
        LifecycleActionResult::Continue,
    ))
    .expect_err("already completed");
    assert_invalid(
        &again,
        op::COMPLETE_LIFECYCLE_ACTION,
        "ValidationError",
        "No active Lifecycle Action found",
    );
    block_on(w.sim.complete_lifecycle_action(
        "web",
        "logs",
        &victim,
        LifecycleActionResult::Continue,
    ))
    .expect("complete logs");
    assert_eq!(ec2_state(&w, &victim), "terminated");
    assert!(w
        .sim
        .events()
        .iter()
        .any(|(_, e)| e == &format!("autoscaling web: {victim} Terminating:Proceed")));
    let after = block_on(w.sim.complete_lifecycle_action(
        "web",
        "logs",
        &victim,
        LifecycleActionResult::Continue,
    ))
    .expect_err("terminated");
    assert_invalid(
        &after,
        op::COMPLETE_LIFECYCLE_ACTION,
        "ValidationError",
        &format!("No active Lifecycle Action found with instance ID {victim}"),
    );
}

#[test]
fn abandon_ends_the_other_hooks_actions_too() {
    let w = held_world(3600, "CONTINUE");
    w.sim
        .create_terminating_hook("web", "logs", 3600, "CONTINUE")
        .expect("second hook");
    let victim = scale_in(&w);
    block_on(w.sim.complete_lifecycle_action(
        "web",
        "logs",
        &victim,
        LifecycleActionResult::Abandon,
    ))
    .expect("abandon");
    // "abandon stops any remaining actions, such as other lifecycle hooks".
    assert_eq!(ec2_state(&w, &victim), "terminated");
    let wait = w.sim.lifecycle_wait(&victim).expect("record");
    let ends: Vec<(String, ActionEndKind)> = wait
        .actions
        .iter()
        .map(|a| (a.hook.clone(), a.ended.expect("ended").how))
        .collect();
    assert_eq!(
        ends,
        vec![
            ("drain".to_string(), ActionEndKind::StoppedByAbandon),
            ("logs".to_string(), ActionEndKind::Completed),
        ]
    );
}

#[test]
fn deleting_the_hook_continues_its_actions_and_a_force_delete_bypasses_hooks() {
    let w = held_world(3600, "ABANDON");
    let victim = scale_in(&w);
    w.sim.delete_lifecycle_hook("web", "drain").expect("delete");
    // "outstanding lifecycle actions [...] are completed first (... CONTINUE for terminating
    // instances)".
    assert_eq!(ec2_state(&w, &victim), "terminated");
    let end = w.sim.lifecycle_wait(&victim).expect("record").actions[0]
        .ended
        .expect("ended");
    assert_eq!(
        (end.result, end.how),
        (LifecycleActionResult::Continue, ActionEndKind::HookDeleted)
    );
    // Deleting it again is no error.
    w.sim
        .delete_lifecycle_hook("web", "drain")
        .expect("idempotent");

    // A force delete of the group terminates what a hook holds, and holds nothing more.
    w.sim
        .create_terminating_hook("web", "drain", 3600, "CONTINUE")
        .expect("hook again");
    w.sim.set_desired_capacity("web", 2).expect("scale out");
    w.sim.advance(Duration::from_secs(90));
    let second = scale_in(&w);
    let rest = in_state(&w, "InService");
    w.sim.delete_group("web").expect("force delete");
    for id in rest.iter().chain([&second]) {
        assert_eq!(ec2_state(&w, id), "terminated", "{id}");
    }
    assert_eq!(w.sim.lifecycle_wait(&rest[0]), None, "never held");
}

#[test]
fn an_unhealthy_instance_is_replaced_through_the_hook_even_when_protected() {
    let w = held_world(300, "CONTINUE");
    let ids: Vec<String> = listed(&w).into_iter().map(|(id, _)| id).collect();
    let sick = ids[0].clone();
    w.sim
        .set_instance_protection("web", &[sick.as_str()], true)
        .expect("protect");
    let start = w.sim.now();
    w.sim.set_instance_health(&sick, false);
    // Replaced 60 s after it failed: held, and a replacement launched at once (it left the
    // group's capacity).
    w.sim.advance(Duration::from_secs(60));
    assert_eq!(in_state(&w, "Terminating:Wait"), vec![sick.clone()]);
    assert_eq!(in_state(&w, "Pending").len(), 1);
    assert_eq!(in_state(&w, "InService"), vec![ids[1].clone()]);
    assert_eq!(
        w.sim.lifecycle_wait(&sick).map(|wt| secs(start, wt.since)),
        Some(60)
    );
    // It stays held until its hook times out; the replacement comes into service meanwhile and
    // no other instance is touched.
    w.sim.advance(Duration::from_secs(299));
    assert_eq!(in_state(&w, "Terminating:Wait"), vec![sick.clone()]);
    assert_eq!(in_state(&w, "InService").len(), 2);
    w.sim.advance(Duration::from_secs(1));
    assert_eq!(ec2_state(&w, &sick), "terminated");
    assert_eq!(w.sim.group("web").instances.len(), 2);
    assert!(w
        .sim
        .group("web")
        .instances
        .iter()
        .all(|i| i.is_in_service()));
}

fn prefs(min: i32, max: i32) -> RefreshPreferences {
    RefreshPreferences {
        min_healthy_percentage: min,
        max_healthy_percentage: max,
        skip_matching: false,
        instance_warmup: Some(0),
        auto_rollback: false,
        checkpoint_percentages: Vec::new(),
        checkpoint_delay: None,
        alarms: Vec::new(),
        bake_time: None,
        scale_in_protected_instances: None,
        standby_instances: None,
    }
}

/// Version 2 of the template on NEW, and a refresh of `web` onto it.
fn refresh_to_new(w: &World, min: i32, max: i32) -> String {
    let v = w
        .sim
        .create_launch_template_version_raw(
            &w.lt,
            Some(1),
            TemplateData {
                image_id: Some(NEW.to_string()),
                ..TemplateData::default()
            },
            None,
        )
        .expect("version");
    block_on(w.sim.start_instance_refresh(&StartRefreshRequest {
        group_name: "web".to_string(),
        desired: Some(DesiredTemplate {
            template_id: w.lt.clone(),
            version: v,
        }),
        preferences: prefs(min, max),
        mixed_instances_policy: None,
    }))
    .expect("refresh")
}

fn refresh_status(w: &World) -> (String, Option<i32>) {
    let r = w.sim.instance_refreshes("web").remove(0);
    (r.status, r.percentage_complete)
}

#[test]
fn an_instance_refresh_counts_a_replacement_done_only_once_its_old_instance_has_terminated() {
    let w = held_world(600, "CONTINUE");
    let old: Vec<String> = listed(&w).into_iter().map(|(id, _)| id).collect();
    // Launch before terminate: both new instances first.
    refresh_to_new(&w, 100, 200);
    w.sim.advance(Duration::from_secs(90));
    // The new instances are in service; Auto Scaling began terminating the old ones, which the
    // hook holds: the refresh is not done.
    let mut held = in_state(&w, "Terminating:Wait");
    held.sort();
    assert_eq!(held, old);
    assert_eq!(
        w.sim.instances_by_ami("web"),
        BTreeMap::from([(NEW.to_string(), 2)])
    );
    assert_eq!(refresh_status(&w), ("InProgress".to_string(), Some(0)));
    w.sim.advance(Duration::from_secs(500));
    assert_eq!(refresh_status(&w), ("InProgress".to_string(), Some(0)));
    assert_eq!(
        w.sim.instance_refreshes("web")[0].instances_to_update,
        Some(2)
    );
    // One action completed: that replacement is done.
    block_on(w.sim.complete_lifecycle_action(
        "web",
        "drain",
        &old[0],
        LifecycleActionResult::Continue,
    ))
    .expect("complete");
    assert_eq!(refresh_status(&w), ("InProgress".to_string(), Some(50)));
    // The other times out, 600 s after the wait began: done.
    w.sim.advance(Duration::from_secs(99));
    assert_eq!(refresh_status(&w), ("InProgress".to_string(), Some(50)));
    w.sim.advance(Duration::from_secs(1));
    assert_eq!(ec2_state(&w, &old[1]), "terminated");
    assert_eq!(refresh_status(&w), ("Successful".to_string(), Some(100)));
}

#[test]
fn a_refresh_terminating_first_holds_its_old_instances_and_keeps_the_new_ones_counted() {
    let w = held_world(3600, "CONTINUE");
    w.sim.set_desired_capacity("web", 4).expect("four");
    w.sim.advance(Duration::from_secs(90));
    // Terminate then launch, half at a time.
    refresh_to_new(&w, 50, 100);
    w.sim.advance(Duration::from_secs(1));
    let held = in_state(&w, "Terminating:Wait");
    assert_eq!(held.len(), 2, "{:#?}", listed(&w));
    w.sim.advance(Duration::from_secs(90));
    // The first two new instances are healthy: the next two old ones are replaced even though
    // the first ones are still held (held instances are no capacity either way).
    assert_eq!(in_state(&w, "Terminating:Wait").len(), 4);
    assert_eq!(refresh_status(&w), ("InProgress".to_string(), Some(0)));
    w.sim.advance(Duration::from_secs(90));
    assert_eq!(
        w.sim.instances_by_ami("web"),
        BTreeMap::from([(NEW.to_string(), 4)])
    );
    assert_eq!(refresh_status(&w).0, "InProgress");
    for id in in_state(&w, "Terminating:Wait") {
        block_on(w.sim.complete_lifecycle_action(
            "web",
            "drain",
            &id,
            LifecycleActionResult::Continue,
        ))
        .expect("complete");
    }
    assert_eq!(refresh_status(&w), ("Successful".to_string(), Some(100)));
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
}

#[test]
fn a_cancelled_refresh_waits_for_the_old_instances_its_hooks_hold() {
    let w = held_world(600, "CONTINUE");
    refresh_to_new(&w, 100, 200);
    w.sim.advance(Duration::from_secs(90));
    assert_eq!(in_state(&w, "Terminating:Wait").len(), 2);
    block_on(w.sim.cancel_instance_refresh("web")).expect("cancel");
    // "wait for in-flight launches and terminations to complete".
    assert_eq!(refresh_status(&w).0, "Cancelling");
    w.sim.advance(Duration::from_secs(600));
    assert_eq!(refresh_status(&w).0, "Cancelled");
    assert!(in_state(&w, "Terminating:Wait").is_empty());
}

#[test]
fn lifecycle_hook_calls_are_validated_like_aws() {
    let w = World::ecs();
    let put = |name: &str, transition: &str, heartbeat: Option<u32>, result: Option<&str>| {
        block_on(w.sim.put_lifecycle_hook(&PutLifecycleHookRequest {
            group_name: "web".to_string(),
            name: name.to_string(),
            transition: transition.to_string(),
            heartbeat_timeout_secs: heartbeat,
            default_result: result.map(str::to_string),
        }))
    };
    let t = LIFECYCLE_TRANSITION_TERMINATING;
    for (e, has) in [
        (
            put("h", "autoscaling:EC2_INSTANCE_STOPPING", None, None),
            "Lifecycle Transition",
        ),
        (put("h", t, Some(29), None), "between 30 and 7200"),
        (put("h", t, Some(7201), None), "between 30 and 7200"),
        (put("h", t, None, Some("MAYBE")), "CONTINUE or ABANDON"),
        (put("a b", t, None, None), "lifecycleHookName"),
        (put("", t, None, None), "lifecycleHookName"),
    ] {
        assert_invalid(
            &e.expect_err("refused"),
            op::PUT_LIFECYCLE_HOOK,
            "ValidationError",
            has,
        );
    }
    let unknown = block_on(w.sim.put_lifecycle_hook(&PutLifecycleHookRequest {
        group_name: "nope".to_string(),
        name: "h".to_string(),
        transition: t.to_string(),
        heartbeat_timeout_secs: None,
        default_result: None,
    }))
    .expect_err("unknown group");
    assert_invalid(&unknown, op::PUT_LIFECYCLE_HOOK, "ValidationError", "nope");
    let e = block_on(w.sim.describe_lifecycle_hooks("nope")).expect_err("unknown group");
    assert_invalid(&e, op::DESCRIBE_LIFECYCLE_HOOKS, "ValidationError", "nope");

    // Defaults on create; an update keeps what it does not give.
    put("drain", t, None, None).expect("create");
    let hooks = block_on(w.sim.describe_lifecycle_hooks("web")).expect("hooks");
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    assert_eq!(
        (
            h.group_name.as_str(),
            h.name.as_str(),
            h.transition.as_str(),
            h.heartbeat_timeout_secs,
            h.global_timeout_secs,
            h.default_result.as_str(),
        ),
        ("web", "drain", t, 3600, 172_800, "ABANDON")
    );
    assert!(h.is_terminating());
    put("drain", t, Some(120), None).expect("update timeout");
    put("drain", t, None, Some("CONTINUE")).expect("update result");
    let h = block_on(w.sim.describe_lifecycle_hooks("web")).expect("hooks")[0].clone();
    assert_eq!(
        (
            h.heartbeat_timeout_secs,
            h.global_timeout_secs,
            h.default_result.as_str()
        ),
        (120, 12_000, "CONTINUE")
    );

    // At most 50 hooks a group.
    for n in 1..50 {
        put(&format!("hook-{n}"), t, None, None).expect("within the limit");
    }
    let e = put("hook-50", t, None, None).expect_err("the 51st");
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Other, "LimitExceeded")
    );
    put("hook-1", t, Some(60), None).expect("updating one is still allowed");

    // Actions: unknown group, unknown hook, an instance that is not held, another group's.
    let id = listed(&w)[0].0.clone();
    let complete = |group: &str, hook: &str, instance: &str| {
        block_on(w.sim.complete_lifecycle_action(
            group,
            hook,
            instance,
            LifecycleActionResult::Continue,
        ))
        .expect_err("refused")
    };
    assert_invalid(
        &complete("nope", "drain", &id),
        op::COMPLETE_LIFECYCLE_ACTION,
        "ValidationError",
        "nope",
    );
    assert_invalid(
        &complete("web", "missing", &id),
        op::COMPLETE_LIFECYCLE_ACTION,
        "ValidationError",
        "No Lifecycle Hook found",
    );
    assert_invalid(
        &complete("web", "drain", &id),
        op::COMPLETE_LIFECYCLE_ACTION,
        "ValidationError",
        &format!("No active Lifecycle Action found with instance ID {id}"),
    );
    assert_invalid(
        &complete("web", "drain", "i-0000000000000ffff"),
        op::COMPLETE_LIFECYCLE_ACTION,
        "ValidationError",
        "No active Lifecycle Action found",
    );
    let beat = block_on(w.sim.record_lifecycle_action_heartbeat("web", "drain", &id))
        .expect_err("not held");
    assert_invalid(
        &beat,
        op::RECORD_LIFECYCLE_ACTION_HEARTBEAT,
        "ValidationError",
        "No active Lifecycle Action found",
    );
    // A failed call changed nothing: both instances still in service.
    assert_eq!(in_state(&w, "InService").len(), 2);
}

// ----- ECS custom attributes -----

fn attribute(target: &str, name: &str, value: &str) -> ContainerInstanceAttribute {
    ContainerInstanceAttribute {
        target_id: target.to_string(),
        name: name.to_string(),
        value: value.to_string(),
    }
}

fn attributes_of(w: &World, arn: &str) -> BTreeMap<String, String> {
    block_on(
        w.sim
            .describe_container_instances("prod", &[arn.to_string()]),
    )
    .expect("describe")
    .container_instances
    .remove(0)
    .attributes
}

#[test]
fn put_attributes_round_trip_through_describe_container_instances() {
    let w = World::ecs();
    let arns = block_on(w.sim.list_container_instances("prod")).expect("list");
    // No built-in `ecs.*` attributes in the simulator.
    assert!(attributes_of(&w, &arns[0]).is_empty());
    let since = "2026-11-26T13:00:00Z";
    block_on(w.sim.put_attributes(
        "prod",
        &[
            attribute(&arns[0], "amiroll.drain-since", since),
            attribute(&arns[1], "amiroll.drain-since", since),
            attribute(&arns[1], "marker", ""),
        ],
    ))
    .expect("put");
    assert_eq!(
        attributes_of(&w, &arns[0]),
        BTreeMap::from([("amiroll.drain-since".to_string(), since.to_string())])
    );
    assert_eq!(
        attributes_of(&w, &arns[1]),
        BTreeMap::from([
            ("amiroll.drain-since".to_string(), since.to_string()),
            ("marker".to_string(), String::new()),
        ])
    );
    // Put again: the value is replaced; by short id (the cluster as an ARN) as well.
    let short = arns[0].rsplit('/').next().expect("id").to_string();
    block_on(w.sim.put_attributes(
        "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        &[attribute(
            &short,
            "amiroll.drain-since",
            "2026-11-26T14:00:00Z",
        )],
    ))
    .expect("replace");
    assert_eq!(
        attributes_of(&w, &arns[0])["amiroll.drain-since"],
        "2026-11-26T14:00:00Z"
    );
    // None: no call.
    block_on(w.sim.put_attributes("prod", &[])).expect("nothing");
    assert_eq!(w.sim.call_count(op::PUT_ATTRIBUTES), 2);
}

#[test]
fn put_attributes_is_refused_like_aws() {
    let w = World::ecs();
    let arns = block_on(w.sim.list_container_instances("prod")).expect("list");
    let arn = arns[0].as_str();
    let put = |cluster: &str, attrs: &[ContainerInstanceAttribute]| {
        block_on(w.sim.put_attributes(cluster, attrs)).expect_err("refused")
    };
    let kind_code = |e: AwsError| (e.operation, e.kind, e.code);
    let invalid = (
        op::PUT_ATTRIBUTES,
        ErrorKind::Invalid,
        "InvalidParameterException".to_string(),
    );
    assert_eq!(
        kind_code(put("nope", &[attribute(arn, "a", "1")])),
        (
            op::PUT_ATTRIBUTES,
            ErrorKind::NotFound,
            "ClusterNotFoundException".to_string()
        )
    );
    assert_eq!(
        kind_code(put(
            "prod",
            &[attribute(
                "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/00000000000000000000000000000bad",
                "a",
                "1"
            )]
        )),
        (op::PUT_ATTRIBUTES, ErrorKind::NotFound, "TargetNotFoundException".to_string())
    );
    let eleven: Vec<ContainerInstanceAttribute> = (0..11)
        .map(|n| attribute(arn, &format!("a{n}"), "1"))
        .collect();
    assert_eq!(kind_code(put("prod", &eleven)), invalid);
    assert_eq!(
        kind_code(put("prod", &[attribute(arn, "bad name", "1")])),
        invalid
    );
    assert_eq!(
        kind_code(put("prod", &[attribute(arn, "a", " padded")])),
        invalid
    );
    assert_eq!(
        kind_code(put("prod", &[attribute(arn, "a", "semi;colon")])),
        invalid
    );
    assert_eq!(
        kind_code(put("prod", &[attribute(arn, &"n".repeat(129), "1")])),
        invalid
    );
    // A refused call puts nothing, not even its valid attributes.
    assert_eq!(
        kind_code(put(
            "prod",
            &[attribute(arn, "good", "1"), attribute(arn, "a", " padded")]
        )),
        invalid
    );
    assert!(attributes_of(&w, arn).is_empty());

    // Ten custom attributes a container instance, no more.
    let ten: Vec<ContainerInstanceAttribute> = (0..10)
        .map(|n| attribute(arn, &format!("a{n}"), "1"))
        .collect();
    block_on(w.sim.put_attributes("prod", &ten)).expect("ten");
    assert_eq!(
        kind_code(put("prod", &[attribute(arn, "one-more", "1")])),
        (
            op::PUT_ATTRIBUTES,
            ErrorKind::Other,
            "AttributeLimitExceededException".to_string()
        )
    );
    // Replacing one of the ten is fine.
    block_on(w.sim.put_attributes("prod", &[attribute(arn, "a0", "2")])).expect("replace");
    assert_eq!(attributes_of(&w, arn).len(), 10);
}
