//! Scheduled surge under adversity: one test per bug of issue 9 (success without health, run
//! cadence, `rollback` mid-surge, an operator's scale-out, a target failing by halves, the
//! capacity of an aborted surge, another actor's scheduled action, taking over from the seed).
//! Each fails on the code before the fix.

mod common;

use std::time::Duration;

use amiroll_core::model::TargetStatus;
use amiroll_core::port::ScheduledAction;
use amiroll_sim::{GroupSpec, TemplateData};
use common::*;

const MIN: u64 = 60;

#[test]
fn bug1_a_settle_with_no_run_in_the_gate_never_ends_in_success() {
    let w = World::new();
    w.publish(BAD);
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Drift);
    // No run for a day: the surge fires, the new instances are unhealthy, the settle fires.
    w.sim.advance(Duration::from_secs(24 * 3600));
    let r = w.apply_ok();
    let t = &r.targets[0];
    assert_ne!(t.plan.event.map(|e| e.as_str()), Some("rollout-succeeded"));
    assert_eq!(w.events_of("rollout-succeeded"), 0);
    // The old fleet was never given up: the scheduled settle removed the new instances.
    assert_eq!(
        w.healthy_on("web", OLD),
        2,
        "{:?}",
        w.sim.instances_by_ami("web")
    );
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
    // A daily cadence ends in an honest failure, never in a success, never below capacity.
    for _ in 0..4 {
        w.sim.advance(Duration::from_secs(24 * 3600));
        w.apply_ok();
    }
    assert_eq!(w.events_of("rollout-succeeded"), 0);
    let r = w.apply_ok();
    let t = &r.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Failed, "{:#?}", t.plan);
    assert!(
        t.plan.summary.contains("health gate") || t.plan.groups[0].state.contains("health gate"),
        "{} / {}",
        t.plan.summary,
        t.plan.groups[0].state
    );
    assert_eq!(w.sim.template(&w.lt).default_version, 1, "default back");
    assert_eq!(w.healthy_on("web", OLD), 2);
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
    w.assert_actions_tracked("web");
}

#[test]
fn bug1_new_instances_unhealthy_after_the_settle_take_the_abort_path() {
    // Someone lifts the protection of the old instances mid-round (or an emulator ignores it):
    // the settle removes the old instances and leaves only unhealthy new ones.
    let w = World::new();
    w.publish(BAD);
    w.apply_ok();
    w.sim.advance(Duration::from_secs(5 * MIN));
    let old: Vec<String> = w
        .sim
        .group("web")
        .instances
        .iter()
        .filter(|i| i.protected_from_scale_in)
        .map(|i| i.instance_id.clone())
        .collect();
    assert_eq!(old.len(), 2, "the round protects the old instances");
    let ids: Vec<&str> = old.iter().map(String::as_str).collect();
    w.sim
        .set_instance_protection("web", &ids, false)
        .expect("unprotect");
    w.sim.advance(Duration::from_secs(24 * 3600));
    assert_eq!(
        w.sim.instances_by_ami("web").get(BAD),
        Some(&2),
        "the settle left only the bad instances"
    );
    let r = w.apply_ok();
    let t = &r.targets[0];
    assert_eq!(
        t.plan.event.map(|e| e.as_str()),
        Some("rollout-failed"),
        "{:#?}",
        t.plan
    );
    assert_eq!(w.events_of("rollout-succeeded"), 0);
    // The default goes back to the AMI the fleet ran before, and a recovery round starts.
    assert_eq!(w.default_ami().as_deref(), Some(OLD));
    let g = w.sim.group("web");
    assert_eq!(
        g.tags.get("amiroll:failed-ami").map(String::as_str),
        Some(BAD)
    );
    assert_eq!(
        g.tags.get("amiroll:rollout-ami").map(String::as_str),
        Some(OLD)
    );
    w.assert_actions_tracked("web");
    // The recovery round brings the fleet back.
    for _ in 0..12 {
        w.sim.advance(Duration::from_secs(2 * MIN));
        w.apply_ok();
    }
    assert_eq!(
        w.healthy_on("web", OLD),
        2,
        "{:?}",
        w.sim.instances_by_ami("web")
    );
    assert_eq!(w.sim.instances_by_ami("web").get(BAD), None);
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    assert_eq!(w.events_of("rolled-back"), 1, "{:?}", w.subjects());
    assert_eq!(w.events_of("rollout-succeeded"), 0);
    w.assert_actions_tracked("web");
}

#[test]
fn bug2_a_good_ami_succeeds_with_a_run_every_two_minutes_and_late_actions() {
    let w = World::new();
    w.sim
        .set_scheduled_action_delay(|_| Duration::from_secs(110));
    w.publish(NEW);
    for _ in 0..20 {
        w.apply_ok();
        if w.events_of("rollout-succeeded") == 1 {
            break;
        }
        w.sim.advance(Duration::from_secs(2 * MIN));
    }
    assert_eq!(w.events_of("rollout-succeeded"), 1, "{:?}", w.subjects());
    w.assert_converged("web", NEW, (1, 4, 2));
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
    let g = w.sim.group("web");
    assert!(g.instances.iter().all(|i| !i.protected_from_scale_in));
}

#[test]
fn bug2_a_good_ami_with_a_coarse_cadence_never_loses_the_old_fleet() {
    for minutes in [30, 24 * 60] {
        let w = World::new();
        w.publish(NEW);
        for _ in 0..5 {
            w.apply_ok();
            assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
            w.sim.advance(Duration::from_secs(minutes * MIN));
        }
        // No run in any gate: no success claimed, the old fleet kept, capacity back.
        assert_eq!(w.events_of("rollout-succeeded"), 0, "cadence {minutes} min");
        assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
        assert_eq!(w.healthy_on("web", OLD), 2, "cadence {minutes} min");
        w.assert_actions_tracked("web");
    }
}

#[test]
fn bug3_rollback_before_the_surge_needs_no_surge() {
    let w = World::new();
    w.publish(NEW);
    w.apply_ok();
    assert_eq!(w.sim.scheduled_actions("web").len(), 2);
    let r = w.rollback();
    let t = &r.targets[0];
    assert!(t.plan.errors.is_empty(), "{:?}", t.plan.errors);
    assert!(t.apply_error.is_none(), "{:?}", t.apply_error);
    w.assert_actions_tracked("web");
    // Nothing surges: the round's actions are gone, the default is back, the failure recorded.
    assert!(w
        .sim
        .scheduled_actions("web")
        .iter()
        .all(|a| !a.name.starts_with("amiroll-")));
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
    let g = w.sim.group("web");
    assert_eq!(
        g.tags.get("amiroll:failed-ami").map(String::as_str),
        Some(NEW)
    );
    assert!(!g.tags.contains_key("amiroll:rollout"), "{:?}", g.tags);
    assert!(g.instances.iter().all(|i| !i.protected_from_scale_in));
    w.sim.advance(Duration::from_secs(3600));
    assert_eq!(
        w.sim.max_instances_seen("web"),
        2,
        "no instance was ever launched"
    );
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Failed);
    assert_eq!(w.sim.instances_by_ami("web").get(OLD), Some(&2));
}

#[test]
fn bug3_rollback_mid_surge_removes_the_new_instances_and_tracks_everything() {
    let w = World::new();
    w.publish(NEW);
    w.apply_ok();
    w.sim.advance(Duration::from_secs(5 * MIN));
    assert_eq!(w.sim.instances_by_ami("web").get(NEW), Some(&2));
    let r = w.rollback();
    assert!(r.targets[0].plan.errors.is_empty());
    w.assert_actions_tracked("web");
    for _ in 0..5 {
        w.sim.advance(Duration::from_secs(2 * MIN));
        w.apply_ok();
        w.assert_actions_tracked("web");
    }
    w.assert_converged("web", OLD, (1, 4, 2));
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
    let g = w.sim.group("web");
    assert!(g.instances.iter().all(|i| !i.protected_from_scale_in));
}

#[test]
fn bug3_rollback_after_success_runs_a_tracked_recovery_round() {
    let w = World::new();
    w.publish(NEW);
    for _ in 0..15 {
        w.apply_ok();
        w.sim.advance(Duration::from_secs(2 * MIN));
    }
    w.assert_converged("web", NEW, (1, 4, 2));
    let r = w.rollback();
    assert!(
        r.targets[0].plan.errors.is_empty(),
        "{:?}",
        r.targets[0].plan.errors
    );
    let g = w.sim.group("web");
    assert_eq!(
        g.tags.get("amiroll:rollout-ami").map(String::as_str),
        Some(OLD),
        "{:?}",
        g.tags
    );
    assert_eq!(w.sim.scheduled_actions("web").len(), 2);
    w.assert_actions_tracked("web");
    for _ in 0..15 {
        w.sim.advance(Duration::from_secs(2 * MIN));
        w.apply_ok();
        w.assert_actions_tracked("web");
    }
    w.assert_converged("web", OLD, (1, 4, 2));
    assert_eq!(w.events_of("rolled-back"), 1, "{:?}", w.subjects());
}

#[test]
fn bug4_an_operators_scale_out_during_the_surge_is_kept() {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("big", &w.lt, 1, 8, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["big"]);
    w.publish(NEW);
    w.apply_ok();
    w.sim.advance(Duration::from_secs(5 * MIN));
    assert_eq!(w.sim.group_capacity("big").2, 4);
    // A traffic spike: an operator scales the group to 6.
    w.sim.set_desired_capacity("big", 6).expect("scale out");
    let mut warned = false;
    for _ in 0..15 {
        w.sim.advance(Duration::from_secs(2 * MIN));
        let r = w.apply_ok();
        warned |= r.targets[0]
            .plan
            .findings
            .iter()
            .any(|f| f.message.contains("settle keeps the change"));
    }
    assert!(warned, "the output says the change is kept");
    assert_eq!(w.events_of("rollout-succeeded"), 1, "{:?}", w.subjects());
    // Original desired 2 + the operator's 2: the settle keeps four instances, all on the AMI.
    let (_, _, desired) = w.sim.group_capacity("big");
    assert_eq!(desired, 4);
    assert_eq!(w.sim.instances_by_ami("big").get(NEW), Some(&4));
    let last = w.sim.published(&w.topic);
    assert!(!last.is_empty());
}

#[test]
fn bug5_a_target_of_two_groups_fails_as_a_whole() {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("web2", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["web", "web2"]);
    w.publish(NEW);
    w.apply_ok();
    w.sim.advance(Duration::from_secs(5 * MIN));
    // web's new instances go bad; web2's are fine.
    let bad: Vec<String> = w
        .sim
        .group("web")
        .instances
        .iter()
        .filter(|i| w.sim.instance(&i.instance_id).map(|e| e.image_id) == Some(NEW.to_string()))
        .map(|i| i.instance_id.clone())
        .collect();
    assert_eq!(bad.len(), 2);
    for id in &bad {
        w.sim.set_instance_health(id, false);
    }
    for _ in 0..15 {
        w.sim.advance(Duration::from_secs(2 * MIN));
        w.apply_ok();
    }
    assert_eq!(w.events_of("rollout-succeeded"), 0, "{:?}", w.subjects());
    assert!(w.events_of("rollout-failed") >= 1);
    for g in ["web", "web2"] {
        assert_eq!(
            w.sim.instances_by_ami(g).get(NEW),
            None,
            "group {g} must not be left on the failed AMI: {:?}",
            w.sim.instances_by_ami(g)
        );
        assert_eq!(w.healthy_on(g, OLD), 2, "{g}");
        assert_eq!(w.sim.group_capacity(g), (1, 4, 2), "{g}");
        w.assert_actions_tracked(g);
    }
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
}

#[test]
fn bug6_an_aborted_surge_gives_the_capacity_back() {
    let w = World::new();
    w.publish(BAD);
    for _ in 0..12 {
        w.apply_ok();
        w.sim.advance(Duration::from_secs(2 * MIN));
    }
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    assert_eq!(w.sim.instances_by_ami("web").get(BAD), None);
    assert_eq!(w.healthy_on("web", OLD), 2);
    let g = w.sim.group("web");
    assert!(!g.tags.contains_key("amiroll:rollout"), "{:?}", g.tags);
    assert!(g.instances.iter().all(|i| !i.protected_from_scale_in));
}

#[test]
fn bug7_a_round_never_starts_across_another_actors_capacity_change() {
    let w = World::new();
    let at = w.sim.now() + chrono::Duration::minutes(10);
    w.sim
        .add_scheduled_action(ScheduledAction {
            group_name: "web".to_string(),
            name: "Desire 1".to_string(),
            start_time: at,
            min_size: None,
            max_size: None,
            desired_capacity: Some(2),
            recurrence: None,
        })
        .expect("foreign action");
    w.publish(NEW);
    let r = w.apply_ok();
    let t = &r.targets[0];
    assert!(
        t.plan.summary.contains("Desire 1"),
        "the hold names the action: {}",
        t.plan.summary
    );
    assert!(w
        .sim
        .scheduled_actions("web")
        .iter()
        .all(|a| !a.name.starts_with("amiroll-")));
    // After it fired, the round starts.
    w.sim.advance(Duration::from_secs(15 * MIN));
    w.apply_ok();
    assert_eq!(
        w.sim
            .scheduled_actions("web")
            .iter()
            .filter(|a| a.name.starts_with("amiroll-"))
            .count(),
        2
    );
}

#[test]
fn bug7_a_recurring_action_holds_the_round_until_after_its_next_occurrence() {
    let w = World::new();
    let now = w.sim.now();
    let next = now + chrono::Duration::minutes(10);
    use chrono::Timelike;
    let cron = format!("{} {} * * *", next.minute(), next.hour());
    w.sim
        .add_scheduled_action(ScheduledAction {
            group_name: "web".to_string(),
            name: "business-hours".to_string(),
            start_time: now + chrono::Duration::minutes(5),
            min_size: Some(1),
            max_size: Some(4),
            desired_capacity: Some(2),
            recurrence: Some(cron),
        })
        .expect("foreign action");
    w.publish(NEW);
    let r = w.apply_ok();
    assert!(
        r.targets[0].plan.summary.contains("business-hours"),
        "{}",
        r.targets[0].plan.summary
    );
    assert!(w
        .sim
        .scheduled_actions("web")
        .iter()
        .all(|a| !a.name.starts_with("amiroll-")));
}

#[test]
fn bug8_taking_over_from_the_seed_records_the_version_the_instances_run() {
    let w = World::new();
    // The seed made v2 (the new AMI) the default; the instances still run v1.
    let v2 = w
        .sim
        .create_launch_template_version_raw(
            &w.lt,
            Some(1),
            TemplateData::new(NEW, "m5.large").with_user_data("ECS_CLUSTER=prod"),
            Some("Latest-AMI"),
        )
        .expect("v2");
    w.sim.set_default_version(&w.lt, v2).expect("default");
    w.publish(NEW);
    w.apply_ok();
    let g = w.sim.group("web");
    assert_eq!(
        g.tags.get("amiroll:rollback-version").cloned(),
        Some(format!("{}:1", w.lt)),
        "{:?}",
        g.tags
    );
}

#[test]
fn bug2_a_surge_round_starts_only_when_it_ends_inside_the_maintenance_window() {
    let w = World::new()
        .setting("maintenance_window = \"0 13 * * *\"\nmaintenance_window_duration = \"30m\"");
    w.publish(NEW);
    // 13:15: a round (2 + 15 minutes, and a late settle) would end after 13:30.
    w.sim.advance(Duration::from_secs(15 * MIN));
    let r = w.apply_ok();
    assert!(
        r.targets[0].plan.summary.contains("closes at"),
        "{}",
        r.targets[0].plan.summary
    );
    assert!(w.sim.scheduled_actions("web").is_empty());
    // The next day at 13:00 it fits.
    w.sim.advance(Duration::from_secs(23 * 3600 + 45 * MIN));
    w.apply_ok();
    assert_eq!(w.sim.scheduled_actions("web").len(), 2);
}
