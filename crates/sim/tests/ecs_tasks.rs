//! Issue 12, rule 2's option `ecs_require_tasks`: a new instance of an ECS group counts for
//! success only once it runs a task. An AMI whose agent connects but whose tasks never start
//! (a broken container runtime, say) passes every health check Auto Scaling and ECS have; with
//! the option, amiroll catches it — and when its old instances were draining, it stops the round
//! with them set back to `ACTIVE` rather than stopping their tasks at the drain timeout.

mod common;

use std::time::Duration;

use amiroll_core::model::TargetStatus;
use amiroll_core::port::op;
use amiroll_sim::{GroupSpec, ImageSpec};
use chrono::TimeZone;
use common::*;

/// An AMI whose ECS agent registers and connects but on which no task starts.
const NO_TASKS: &str = "ami-0000000000000d004";

fn with_no_task_ami(w: World) -> World {
    let day = chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .single()
        .expect("date");
    w.sim.register_image(
        ImageSpec::new(NO_TASKS, "ecs-2026.11.23-runtime-broken", "x86_64", day)
            .with_ecs_tasks(false),
    );
    w
}

fn instance_ids(w: &World) -> Vec<String> {
    w.sim
        .group("web")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect()
}

/// Why the rollout of `web` failed (its `amiroll:failed-reason` tag).
fn failed_reason(w: &World) -> String {
    w.sim
        .group("web")
        .tags
        .get("amiroll:failed-reason")
        .cloned()
        .unwrap_or_default()
}

fn statuses_of(w: &World, ids: &[String]) -> Vec<String> {
    w.sim
        .container_instances("prod")
        .into_iter()
        .filter(|c| c.ec2_instance_id.as_ref().is_some_and(|i| ids.contains(i)))
        .map(|c| c.status)
        .collect()
}

/// The seed-style group (surge, drained in the gate): the drain cannot move the tasks, the new
/// instances run none; at the drain timeout the round stops, the old instances go back to
/// `ACTIVE` with their tasks, and the broken AMI's instances are removed. No task is killed.
#[test]
fn a_surge_onto_an_ami_that_runs_no_task_stops_at_the_drain_with_the_old_tasks_alive() {
    let w = with_no_task_ami(World::ecs().setting("ecs_require_tasks = true"));
    let old = instance_ids(&w);
    w.publish(NO_TASKS);
    let mut drained_seen = false;
    for _ in 0..30 {
        w.apply_ok();
        drained_seen |= statuses_of(&w, &old).iter().any(|s| s == "DRAINING");
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(
        drained_seen,
        "the gate passed and drained the old instances"
    );
    let last = w.converge();
    let t = &last.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Failed, "{t:#?}");
    let reason = failed_reason(&w);
    assert!(
        reason.contains("ecs_require_tasks") && reason.contains("runs no task"),
        "{reason}"
    );
    // The old instances serve again, with every task; the broken AMI is gone.
    assert_eq!(statuses_of(&w, &old), vec!["ACTIVE", "ACTIVE"]);
    assert_eq!(w.healthy_on("web", OLD), 2);
    assert_eq!(w.sim.instances_by_ami("web").get(NO_TASKS), None);
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(w.events_of("rollout-succeeded"), 0);
    // Drained once, set back once.
    assert_eq!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE), 2);
}

/// The same AMI without the option: ECS sees nothing wrong, the drain times out with a warning
/// and the settle stops the tasks left on the old instances (what the option is for; it also
/// shows the simulator can tell the difference).
#[test]
fn without_the_option_the_same_ami_rolls_and_the_tasks_die_at_the_drain_timeout() {
    let w = with_no_task_ami(World::ecs());
    w.publish(NO_TASKS);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(w.healthy_on("web", NO_TASKS), 2);
    assert!(w.sim.tasks_killed() > 0);
    assert_eq!(w.sim.service_running_count("prod", "api"), 0);
}

/// A good AMI with the option: the tasks move onto the new instances and the round succeeds.
#[test]
fn a_good_ami_rolls_with_the_option_once_its_instances_run_tasks() {
    let w = World::ecs().setting("ecs_require_tasks = true");
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.events_of("rollout-succeeded"), 1);
    assert_eq!(w.sim.tasks_killed(), 0);
}

/// An instance refresh (drained through amiroll's hook): the refresh ends `Successful` on the
/// AMI that runs no task; 15 minutes later amiroll calls it a failure and refreshes back.
#[test]
fn a_refresh_onto_an_ami_that_runs_no_task_is_no_success_and_goes_back() {
    let w = with_no_task_ami(
        World::ecs()
            .instead_of_surge("strategy = \"instance-refresh\"\necs_drain = \"lifecycle-hook\"\n")
            .setting("ecs_require_tasks = true"),
    );
    w.publish(NO_TASKS);
    let mut waited = false;
    for _ in 0..40 {
        let r = w.apply_ok();
        waited |= r.targets[0]
            .plan
            .groups
            .iter()
            .any(|g| g.state.contains("waiting for tasks"));
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(waited, "the success rule waited for tasks first");
    let last = w.converge();
    assert_ne!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(w.events_of("rollout-succeeded"), 0);
    let reason = failed_reason(&w);
    assert!(reason.contains("run no task"), "{reason}");
    assert_eq!(w.healthy_on("web", OLD), 2);
    assert_eq!(w.sim.instances_by_ami("web").get(NO_TASKS), None);
}

/// Two ECS groups in one target, both draining their old instances (tasks move slowly): a new
/// instance of `web2` fails (its ECS agent disconnects). `web2`'s round stops, and so does `web`'s — the target fails as a
/// whole — with the old instances of both set back to `ACTIVE`, the new ones removed, and no
/// task killed.
#[test]
fn a_failure_while_the_old_instances_drain_stops_every_group_with_them_active_again() {
    let w = World::ecs();
    w.sim
        .create_group(
            GroupSpec::new("web2", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w
        .targeting(&["web", "web2"])
        .setting("drain_timeout = \"30m\"");
    w.sim.set_ecs_drain_time(Duration::from_secs(20 * 60));
    let old: Vec<String> = ["web", "web2"]
        .iter()
        .flat_map(|g| w.sim.group(g).instances)
        .map(|i| i.instance_id)
        .collect();
    w.publish(NEW);
    let mut both_draining = false;
    for _ in 0..30 {
        w.apply_ok();
        if statuses_of(&w, &old)
            .iter()
            .filter(|s| *s == "DRAINING")
            .count()
            == 4
        {
            both_draining = true;
            break;
        }
        w.sim.advance(Duration::from_secs(2 * 60));
    }
    assert!(both_draining, "both groups passed their gates and drain");
    // The agents of web2's new instances lose their connection: ECS cannot use them (Auto
    // Scaling still calls them healthy and does not replace them).
    let mut disconnected = 0;
    for i in w.sim.group("web2").instances {
        if w.sim.instance(&i.instance_id).map(|e| e.image_id) == Some(NEW.to_string()) {
            w.sim.set_agent_connected(&i.instance_id, false);
            disconnected += 1;
        }
    }
    assert_eq!(disconnected, 2);
    for _ in 0..20 {
        w.sim.advance(Duration::from_secs(2 * 60));
        w.apply_ok();
    }
    assert_eq!(
        w.events_of("rollout-succeeded"),
        0,
        "{:#?}\n{:#?}",
        w.subjects(),
        w.sim.events()
    );
    assert!(w.events_of("rollout-failed") >= 1);
    for g in ["web", "web2"] {
        assert_eq!(w.sim.instances_by_ami(g).get(NEW), None, "{g}");
        assert_eq!(w.healthy_on(g, OLD), 2, "{g}");
        assert_eq!(w.sim.group_capacity(g), (1, 4, 2), "{g}");
    }
    assert_eq!(statuses_of(&w, &old), vec!["ACTIVE"; 4]);
    assert_eq!(w.sim.tasks_killed(), 0, "{:#?}", w.sim.task_kills());
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
}
