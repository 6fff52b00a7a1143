//! Issue 12, item 3 (scheduled surge): the run that passes the health gate of an ECS group
//! without managed draining sets the old container instances `DRAINING`, and the group settles
//! only once their tasks have moved (or `drain_timeout` passed, with a warning).

mod common;

use std::time::Duration;

use amiroll_core::model::{ApplyReport, TargetStatus};
use amiroll_core::port::{op, ErrorKind};
use amiroll_core::RunError;
use common::*;

fn warnings(r: &ApplyReport) -> Vec<String> {
    r.targets
        .iter()
        .flat_map(|t| t.plan.findings.iter().map(|f| f.message.clone()))
        .collect()
}

/// The old instances' container instances, by status.
fn old_statuses(w: &World, old: &[String]) -> Vec<String> {
    w.sim
        .container_instances("prod")
        .into_iter()
        .filter(|c| c.ec2_instance_id.as_ref().is_some_and(|i| old.contains(i)))
        .map(|c| c.status)
        .collect()
}

fn instance_ids(w: &World) -> Vec<String> {
    w.sim
        .group("web")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect()
}

#[test]
fn a_seed_style_ecs_group_drains_its_old_container_instances_before_the_settle() {
    let w = World::ecs();
    let old = instance_ids(&w);
    w.publish(NEW);
    let mut drained_seen = false;
    let mut last = None;
    for _ in 0..20 {
        let before = w.sim.group_capacity("web");
        let r = w.apply_ok();
        assert!(r.targets[0].apply_error.is_none(), "{:#?}", r.targets[0]);
        let after = w.sim.group_capacity("web");
        let statuses = old_statuses(&w, &old);
        if statuses.iter().any(|s| s == "DRAINING") {
            drained_seen = true;
            // The run that drains does not settle.
            assert_eq!(before, after, "the drain run settled: {:#?}", r.targets[0]);
        }
        if after.2 < before.2 {
            // The settle: the old instances were drained by an earlier run.
            assert!(drained_seen, "settled before draining");
        }
        let done = r.targets[0].plan.status == TargetStatus::Current;
        last = Some(r);
        if done {
            break;
        }
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    let last = last.expect("a run");
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert!(drained_seen);
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.events());
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
    // One call drains both old instances (at most 10 a call).
    assert_eq!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE), 1);
}

#[test]
fn a_crash_right_after_the_drain_is_continued_by_the_next_run() {
    let w = World::ecs();
    w.publish(NEW);
    // The drain takes effect, then the run dies.
    w.sim.fail_nth_after_effect(
        op::UPDATE_CONTAINER_INSTANCES_STATE,
        1,
        ErrorKind::Crash,
        "Crash",
    );
    let (last, crashes) = w.converge_counting_crashes();
    assert_eq!(crashes, 1);
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.events());
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
}

#[test]
fn a_crash_before_the_drain_is_finished_by_the_next_run() {
    let w = World::ecs();
    let old = instance_ids(&w);
    w.publish(NEW);
    // The gate run dies at its drain call (before it takes effect): the phase is recorded.
    w.sim.fail_nth(
        op::UPDATE_CONTAINER_INSTANCES_STATE,
        1,
        ErrorKind::Crash,
        "Crash",
    );
    let mut crashed = false;
    for _ in 0..10 {
        match w.apply() {
            Err(RunError::Crashed(_)) => {
                crashed = true;
                w.sim.clear_faults();
                assert!(old_statuses(&w, &old).iter().all(|s| s == "ACTIVE"));
                // The next run drains them.
                let r = w.apply_ok();
                assert!(r.targets[0].apply_error.is_none(), "{:#?}", r.targets[0]);
                assert!(
                    old_statuses(&w, &old).iter().all(|s| s == "DRAINING"),
                    "{:#?}",
                    r.targets[0]
                );
                break;
            }
            Ok(_) => w.sim.advance(Duration::from_secs(5 * 60)),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(crashed);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.events());
}

#[test]
fn tasks_that_cannot_move_hold_the_settle_until_the_drain_timeout_then_a_warning_names_them() {
    let w = World::ecs().setting("drain_timeout = \"7m\"");
    // Two tasks an instance: `api` fills the old instances, and `batch`, waiting for room,
    // takes the new instances as they join: `api`'s tasks find no room to move to.
    w.sim.set_ecs_tasks_per_instance(2);
    w.sim.create_service("prod", "batch", 4).expect("service");
    // The moved settle fires late (Auto Scaling may start an action about 2 minutes late), so
    // that a run sees the timeout before it.
    w.sim
        .set_scheduled_action_delay(|_| Duration::from_secs(2 * 60));
    let old = instance_ids(&w);
    w.publish(NEW);
    let mut all = Vec::new();
    let mut held = false;
    for _ in 0..40 {
        let r = w.apply_ok();
        all.extend(warnings(&r));
        let statuses = old_statuses(&w, &old);
        if statuses.len() == 2 && statuses.iter().all(|s| s == "DRAINING") {
            held = true;
        }
        if r.targets[0].plan.status == TargetStatus::Current {
            break;
        }
        w.sim.advance(Duration::from_secs(60));
    }
    assert!(
        held,
        "the old instances drained and stayed while their tasks could not move"
    );
    let warning = all
        .iter()
        .find(|m| m.contains("drain timeout"))
        .unwrap_or_else(|| panic!("no drain-timeout warning: {all:#?}"));
    for id in &old {
        assert!(warning.contains(id.as_str()), "{warning}");
    }
    assert!(warning.contains("2 task(s)"), "{warning}");
    w.assert_converged("web", NEW, (1, 4, 2));
    assert!(w.sim.tasks_killed() > 0);
}

#[test]
fn a_bad_agent_drains_nothing() {
    let w = World::ecs().setting("drain_timeout = \"5m\"");
    w.publish(BAD);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Failed);
    assert_eq!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE), 0);
    assert_eq!(w.sim.tasks_killed(), 0);
}

/// `UpdateContainerInstancesState` takes at most 10 container instances
/// (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html):
/// a group of 12 drains in two calls, and every task moves before its instance goes.
#[test]
fn a_group_of_twelve_drains_in_batches_of_ten() {
    let w = World::new();
    w.sim.create_cluster("prod").expect("cluster");
    w.sim
        .create_group(
            amiroll_sim::GroupSpec::new("big", &w.lt, 1, 24, 12)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    w.sim.create_service("prod", "api", 24).expect("service");
    let w = w.targeting(&["big"]);
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("big", NEW, (1, 24, 12));
    assert_eq!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE), 2);
    assert_eq!(w.sim.tasks_killed(), 0);
    assert_eq!(w.sim.service_running_count("prod", "api"), 24);
}

/// A capped surge (`surge_max_capacity`) keeps some old instances: amiroll chooses which old
/// instances the settle removes, drains exactly those, and keeps the rest protected and `ACTIVE`
/// (issue 12, item 3: "a capped surge keeps some old ones: leave those ACTIVE").
#[test]
fn a_capped_surge_drains_only_the_old_instances_its_settle_removes() {
    let w = World::new();
    w.sim.create_cluster("prod").expect("cluster");
    w.sim
        .create_group(
            amiroll_sim::GroupSpec::new("big", &w.lt, 1, 12, 6)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    w.sim.create_service("prod", "api", 12).expect("service");
    let w = w.targeting(&["big"]).setting("surge_max_capacity = 9");
    let old: Vec<String> = w
        .sim
        .group("big")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    w.publish(NEW);
    let mut drain_runs = 0;
    let mut last = None;
    for _ in 0..40 {
        let before: Vec<String> = w
            .sim
            .group("big")
            .instances
            .iter()
            .map(|i| i.instance_id.clone())
            .collect();
        let r = w.apply_ok();
        assert!(r.targets[0].apply_error.is_none(), "{:#?}", r.targets[0]);
        let draining: Vec<String> = w
            .sim
            .container_instances("prod")
            .into_iter()
            .filter(|c| c.status == "DRAINING")
            .filter_map(|c| c.ec2_instance_id)
            .filter(|i| before.contains(i))
            .collect();
        if !draining.is_empty() {
            drain_runs += 1;
            // Only the three the settle removes drain; the other old ones stay protected.
            assert_eq!(draining.len(), 3, "{draining:?}");
            let g = w.sim.group("big");
            for i in g.instances.iter().filter(|i| old.contains(&i.instance_id)) {
                let drains = draining.contains(&i.instance_id);
                assert_eq!(
                    i.protected_from_scale_in, !drains,
                    "{} (draining: {drains}): {:#?}",
                    i.instance_id, r.targets[0].plan
                );
            }
        }
        let done = r.targets[0].plan.status == TargetStatus::Current;
        last = Some(r);
        if done {
            break;
        }
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    let last = last.expect("a run");
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    assert!(drain_runs >= 2, "both rounds drained: {drain_runs}");
    w.assert_converged("big", NEW, (1, 12, 6));
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(w.sim.service_running_count("prod", "api"), 12);
}

/// Someone deletes the scheduled settle while the old instances drain: the next run puts it back
/// (so the drained instances go even if no run follows), and with no run after that the settle
/// removes exactly the drained instances with no task left on them.
#[test]
fn a_settle_deleted_during_the_drain_is_put_back() {
    let w = World::ecs();
    let old = instance_ids(&w);
    w.publish(NEW);
    let mut drained = false;
    for _ in 0..20 {
        w.apply_ok();
        if old_statuses(&w, &old).iter().all(|s| s == "DRAINING") {
            drained = true;
            break;
        }
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(drained);
    let settle: Vec<String> = w
        .sim
        .scheduled_actions("web")
        .into_iter()
        .map(|a| a.name)
        .filter(|n| n.ends_with("-settle"))
        .collect();
    assert_eq!(settle.len(), 1, "{settle:?}");
    w.sim
        .remove_scheduled_action("web", &settle[0])
        .expect("removed");
    // Tasks cannot move yet (the drain takes longer than this run's view): the run puts the
    // settle back instead of settling.
    w.sim.set_ecs_drain_time(Duration::from_secs(8 * 60));
    let r = w.apply_ok();
    assert!(r.targets[0].apply_error.is_none(), "{:#?}", r.targets[0]);
    assert!(
        w.sim
            .scheduled_actions("web")
            .iter()
            .any(|a| a.name == settle[0]),
        "{:#?}",
        r.targets[0].plan
    );
    // No run comes any more: the settle fires at the drain timeout.
    w.sim.advance(Duration::from_secs(30 * 60));
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    let g = w.sim.group("web");
    assert!(g.instances.iter().all(|i| !old.contains(&i.instance_id)));
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
}

/// `amiroll rollback` stops a round in which the ECS service scheduler placed tasks on the new
/// instances (the service scaled out during the round): the restore drains them first, and no
/// task is killed when the new instances go (issue 12, item 3: "rollback drains the same way").
#[test]
fn a_rollback_mid_round_drains_the_new_instances_before_removing_them() {
    let w = World::ecs();
    let old = instance_ids(&w);
    w.publish(NEW);
    // Until the new instances are in service.
    let mut surged = false;
    for _ in 0..6 {
        w.apply_ok();
        w.sim.advance(Duration::from_secs(5 * 60));
        if w.healthy_on("web", NEW) == 2 {
            surged = true;
            break;
        }
    }
    assert!(surged, "{:?}", w.sim.events());
    w.sim.update_service("prod", "api", 8).expect("scale out");
    let on_new: usize = instance_ids(&w)
        .iter()
        .filter(|i| !old.contains(i))
        .map(|i| w.sim.running_tasks(i))
        .sum();
    assert!(
        on_new > 0,
        "the scheduler placed tasks on the new instances"
    );
    let engine = amiroll_core::Engine::new(&w.sim);
    let r = futures::executor::block_on(engine.rollback(&w.config(), false)).expect("rollback");
    assert!(r.targets[0].apply_error.is_none(), "{:#?}", r.targets[0]);
    // The new instances drain; the group is not restored yet.
    let draining_new = w
        .sim
        .container_instances("prod")
        .into_iter()
        .filter(|c| c.status == "DRAINING")
        .filter(|c| c.ec2_instance_id.as_ref().is_some_and(|i| !old.contains(i)))
        .count();
    assert_eq!(draining_new, 2, "{:#?}", r.targets[0].plan);
    // The target reports the rollout failed at once; the runs that follow finish the restore.
    let mut last = None;
    for _ in 0..6 {
        w.sim.advance(Duration::from_secs(5 * 60));
        last = Some(w.apply_ok());
    }
    let last = last.expect("a run");
    assert!(
        matches!(
            last.targets[0].plan.status,
            TargetStatus::Current | TargetStatus::Failed
        ),
        "{:#?}",
        last.targets[0].plan
    );
    assert_eq!(
        w.sim.instances_by_ami("web").keys().collect::<Vec<_>>(),
        vec![OLD],
        "{:#?}",
        last.targets[0].plan
    );
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(w.sim.service_running_count("prod", "api"), 8);
}
