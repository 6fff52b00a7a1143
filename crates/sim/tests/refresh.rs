//! The instance-refresh strategy end to end against the simulated account: good and bad AMIs,
//! checkpoints, concurrent runs, gates, rollback from each state, and crashes.

mod common;

use std::time::Duration;

use amiroll_core::model::{Refusal, TargetStatus};
use amiroll_core::planner::PlanOptions;
use amiroll_core::port::op;
use amiroll_core::Engine;
use amiroll_sim::GroupSpec;
use common::*;

/// The world with the config-file default strategy (instance-refresh).
fn world() -> World {
    let w = World::new();
    World {
        toml: w.toml.replace("strategy = \"scheduled-surge\"\n", ""),
        ..w
    }
}

fn rollback(w: &World) -> amiroll_core::ApplyReport {
    let engine = Engine::new(&w.sim);
    futures::executor::block_on(engine.rollback(&w.config(), false)).expect("rollback runs")
}

/// [`world`] with a second target `staging` (group `staging`, 1/2/1, on the same template) that
/// `web` waits for (`after`); `web_lines` and `staging_lines` go into each target's table.
fn with_staging(web_lines: &str, staging_lines: &str) -> World {
    let w = world();
    w.sim
        .create_group(
            GroupSpec::new("staging", &w.lt, 1, 2, 1)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let toml = format!(
        "{}after = \"staging\"\n{web_lines}[[target]]\nname = \"staging\"\nlaunch_template = \"ecs\"\nami_parameter = \"{PARAM}\"\ngroups = [\"staging\"]\n{staging_lines}",
        w.toml
    );
    World { toml, ..w }
}

fn on(w: &World, group: &str) -> Vec<String> {
    w.sim.instances_by_ami(group).keys().cloned().collect()
}

#[test]
fn a_good_ami_rolls_the_whole_fleet_never_below_the_healthy_floor() {
    let w = world();
    w.publish(NEW);
    w.sim.reset_stats("web");
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    assert!(
        w.sim.min_in_service_healthy_seen("web") >= 2,
        "dropped below 100% healthy"
    );
    assert!(w.sim.max_instances_seen("web") <= 4, "past 200%");
    assert_eq!(w.versions(), vec![1, 2]);
    assert_eq!(
        w.sim.template(&w.lt).default_version,
        2,
        "default follows the fleet"
    );
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 1);
    assert_eq!(w.events_of("rollout-started"), 1);
    assert_eq!(w.events_of("rollout-succeeded"), 1);
    // Repeating changes nothing.
    let before = w.sim.call_log().len();
    w.apply_ok();
    let later: Vec<_> = w.sim.call_log()[before..].to_vec();
    assert!(
        later
            .iter()
            .all(|c| !WRITES.contains(c) && *c != op::START_INSTANCE_REFRESH && *c != op::PUBLISH),
        "{later:?}"
    );
}

#[test]
fn a_bad_ami_fails_rolls_back_and_is_announced_once() {
    let w = world();
    w.publish(BAD);
    let last = w.converge();
    let t = &last.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Failed, "{:#?}", t.plan);
    assert_eq!(
        on(&w, "web"),
        vec![OLD.to_string()],
        "the fleet ends on the old AMI"
    );
    assert_eq!(w.events_of("rolled-back"), 1);
    assert_eq!(
        w.sim.template(&w.lt).default_version,
        1,
        "the default never moved"
    );
    w.sim.advance(Duration::from_secs(3600));
    for _ in 0..3 {
        w.apply_ok();
    }
    assert_eq!(w.events_of("rolled-back"), 1, "announced once");
    assert_eq!(
        w.sim.call_count(op::START_INSTANCE_REFRESH),
        1,
        "never retried blindly"
    );
    // Acknowledging the failure tries the same AMI again.
    let engine = Engine::new(&w.sim);
    let opts = PlanOptions {
        acknowledge: ["web".to_string()].into_iter().collect(),
    };
    futures::executor::block_on(engine.run_with(&w.config(), false, &opts)).expect("runs");
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 2);
}

#[test]
fn a_checkpoint_pauses_the_refresh() {
    let w = world().setting("checkpoint_percentages = [50, 100]\ncheckpoint_delay = \"1h\"");
    w.sim
        .create_group(
            GroupSpec::new("big", &w.lt, 1, 8, 4)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["big"]);
    w.publish(NEW);
    w.apply_ok();
    // Enough time for half the fleet, not for the checkpoint delay.
    w.sim.advance(Duration::from_secs(20 * 60));
    let r = &w.sim.instance_refreshes("big")[0];
    assert_eq!(r.status, "InProgress");
    assert_eq!(r.percentage_complete, Some(50), "{r:?}");
    let by = w.sim.instances_by_ami("big");
    assert!(
        by.get(OLD).copied().unwrap_or(0) >= 2,
        "paused with old instances left: {by:?}"
    );
    w.converge();
    assert_eq!(on(&w, "big"), vec![NEW.to_string()]);
}

#[test]
fn a_run_during_a_refresh_starts_nothing() {
    let w = world();
    w.publish(NEW);
    w.apply_ok();
    w.sim.advance(Duration::from_secs(60));
    let before = w.writes().len();
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Rolling);
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 1);
    assert_eq!(w.writes().len(), before, "{:?}", w.writes());
    // A newer AMI published meanwhile waits for the refresh in flight.
    w.publish(NEWER);
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Rolling);
    assert_eq!(w.versions(), vec![1, 2]);
}

#[test]
fn soak_gate_holds_then_releases_at_the_right_time() {
    // NEWER was created 2026-11-24 00:00; the clock starts 2026-11-26 13:00.
    let w = world().setting("min_ami_age = \"3d\"");
    w.publish(NEWER);
    let r = w.apply_ok();
    assert!(
        r.targets[0].plan.summary.contains("2026-11-27T00:00:00Z"),
        "{}",
        r.targets[0].plan.summary
    );
    assert!(w.writes().is_empty());
    w.sim.advance(Duration::from_secs(10 * 3600)); // 23:00
    w.apply_ok();
    assert!(w.writes().is_empty());
    w.sim.advance(Duration::from_secs(3600)); // 00:00 the next day
    w.apply_ok();
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 1);
}

#[test]
fn window_gate_holds_then_releases() {
    // Every day 14:00–15:00 UTC; the clock starts at 13:00.
    let w = world()
        .setting("maintenance_window = \"0 14 * * *\"\nmaintenance_window_duration = \"1h\"");
    w.publish(NEW);
    w.apply_ok();
    assert!(w.writes().is_empty());
    w.sim.advance(Duration::from_secs(3600));
    w.apply_ok();
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 1);
    // A refresh in flight goes on after the window closes.
    w.converge();
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
}

#[test]
fn opt_out_gate_never_touches_the_group() {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("frozen", &w.lt, 1, 2, 1)
                .with_termination_policies(&["OldestLaunchTemplate"])
                .with_version("1")
                .with_tag("amiroll:skip", "true"),
        )
        .expect("group");
    let w = World {
        toml: w
            .toml
            .replace("strategy = \"scheduled-surge\"\n", "")
            .replace("[\"web\"]", "[\"web\", \"frozen\"]"),
        ..w
    };
    w.publish(NEW);
    w.converge();
    assert_eq!(on(&w, "frozen"), vec![OLD.to_string()]);
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
    let frozen = w.sim.group("frozen");
    assert_eq!(
        frozen.launch_template.and_then(|s| s.version).as_deref(),
        Some("1")
    );
    assert!(!frozen
        .tags
        .keys()
        .any(|k| k != "amiroll:skip" && k.starts_with("amiroll:")));
}

#[test]
fn wave_gate_waits_for_staging_and_its_soak() {
    let w = with_staging("after_soak = \"24h\"\n", "");
    w.publish(NEW);
    w.converge();
    assert_eq!(on(&w, "staging"), vec![NEW.to_string()]);
    assert_eq!(
        on(&w, "web"),
        vec![OLD.to_string()],
        "prod waits for the soak"
    );
    let r = w.apply_ok();
    let prod = r
        .targets
        .iter()
        .find(|t| t.plan.target == "web")
        .expect("prod");
    assert!(
        prod.plan.summary.contains("after_soak"),
        "{}",
        prod.plan.summary
    );
    w.sim.advance(Duration::from_secs(24 * 3600));
    w.converge();
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
}

#[test]
fn a_wave_does_not_wait_forever_for_a_target_that_never_records_a_rollout() {
    // Staging uses strategy `none`: amiroll moves its template, and someone replaces the
    // instances. No rollout of amiroll's ever finishes there, so no success is recorded; prod
    // (after = "staging") must still go once staging runs the AMI, not wait forever.
    let w = with_staging("", "strategy = \"none\"\n");
    w.publish(NEW);
    w.apply_ok();
    assert_eq!(
        on(&w, "staging"),
        vec![OLD.to_string()],
        "strategy none leaves them"
    );
    assert_eq!(
        on(&w, "web"),
        vec![OLD.to_string()],
        "prod waits for staging"
    );
    // Someone replaces staging's instance (it launches the new default).
    w.sim.set_desired_capacity("staging", 2).expect("scale out");
    w.sim.advance(Duration::from_secs(600));
    w.sim.set_desired_capacity("staging", 1).expect("scale in");
    w.sim.advance(Duration::from_secs(600));
    assert_eq!(on(&w, "staging"), vec![NEW.to_string()]);
    // A check records nothing and shows staging as current.
    let engine = Engine::new(&w.sim);
    let plan = futures::executor::block_on(engine.plan(&w.config())).expect("plan");
    let staging = plan
        .targets
        .iter()
        .find(|t| t.target == "staging")
        .expect("staging");
    assert_eq!(staging.status, TargetStatus::Current, "{}", staging.summary);
    // The next runs record that staging runs the AMI, and prod follows.
    let last = w.converge();
    assert!(
        last.targets
            .iter()
            .all(|t| t.plan.status == TargetStatus::Current),
        "{:#?}",
        last.targets
            .iter()
            .map(|t| (&t.plan.target, t.plan.status, &t.plan.summary))
            .collect::<Vec<_>>()
    );
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
    assert_eq!(
        w.sim
            .group("staging")
            .tags
            .get("amiroll:succeeded-ami")
            .map(String::as_str),
        Some(NEW)
    );
}

#[test]
fn rollback_during_a_refresh_returns_the_fleet_to_the_old_ami() {
    let w = world().setting("instance_warmup = \"10m\"");
    w.publish(NEW);
    w.apply_ok();
    w.sim.advance(Duration::from_secs(120));
    let r = rollback(&w);
    assert!(
        r.targets[0].apply_error.is_none(),
        "{:?}",
        r.targets[0].apply_error
    );
    assert_eq!(w.sim.call_count(op::ROLLBACK_INSTANCE_REFRESH), 1);
    w.converge();
    assert_eq!(on(&w, "web"), vec![OLD.to_string()]);
    assert_eq!(w.events_of("rollback-started"), 1);
    // Later runs do not roll forward to the AMI rolled away from.
    w.sim.advance(Duration::from_secs(3600));
    w.apply_ok();
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 1);
}

#[test]
fn rollback_after_success_rolls_back_to_the_previous_version() {
    let w = world();
    w.publish(NEW);
    w.converge();
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
    rollback(&w);
    w.converge();
    assert_eq!(on(&w, "web"), vec![OLD.to_string()]);
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
    let after = w.sim.call_count(op::START_INSTANCE_REFRESH);
    w.sim.advance(Duration::from_secs(3600));
    w.apply_ok();
    assert_eq!(
        w.sim.call_count(op::START_INSTANCE_REFRESH),
        after,
        "no roll forward"
    );
}

#[test]
fn rollback_of_a_surge_target_after_success_surges_back() {
    let w = World::new();
    w.publish(NEW);
    w.converge();
    let r = rollback(&w);
    assert!(
        r.targets[0].apply_error.is_none(),
        "{:?}",
        r.targets[0].apply_error
    );
    w.converge();
    w.assert_converged("web", OLD, (1, 4, 2));
}

#[test]
fn rollback_with_nothing_to_roll_back_to_changes_nothing() {
    let w = world();
    let r = rollback(&w);
    assert_eq!(r.targets[0].plan.status, TargetStatus::Error);
    assert!(w.writes().is_empty());
}

#[test]
fn a_crash_after_any_call_during_a_refresh_is_resumed() {
    let clean = {
        let w = world();
        w.publish(NEW);
        let before = w.sim.call_log().len();
        w.converge();
        w.sim.call_log().len() - before
    };
    for n in 0..clean {
        let w = world();
        w.publish(NEW);
        w.sim.crash_after(n);
        let (last, crashes) = w.converge_counting_crashes();
        let label = format!("crash after call {n}");
        assert_eq!(crashes, 1, "{label}");
        assert_eq!(
            last.targets[0].plan.status,
            TargetStatus::Current,
            "{label}: {:#?}",
            last.targets[0].plan
        );
        assert_eq!(on(&w, "web"), vec![NEW.to_string()], "{label}");
        assert_eq!(w.versions(), vec![1, 2], "{label}");
        assert_eq!(w.sim.template(&w.lt).default_version, 2, "{label}");
        // At least once: a crash between the notification and its record repeats it once.
        assert!(
            (1..=2).contains(&w.events_of("rollout-succeeded")),
            "{label}"
        );
    }
}

#[test]
fn ecs_managed_termination_protection_is_refreshed_and_scaling_refuses_surge() {
    let w = world();
    w.sim
        .create_capacity_provider("cp-web", "web", true, true, true)
        .expect("provider");
    w.publish(NEW);
    w.converge();
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
    let r = &w.sim.instance_refreshes("web")[0];
    assert_eq!(r.status, "Successful");

    let w = World::new(); // scheduled-surge
    w.sim
        .create_capacity_provider("cp-web", "web", true, false, false)
        .expect("provider");
    w.publish(NEW);
    let r = w.apply_ok();
    assert_eq!(
        r.targets[0].plan.errors,
        vec![Refusal::EcsManagedScaling {
            group: "web".to_string(),
            provider: "cp-web".to_string(),
        }]
    );
    assert!(w.writes().is_empty());
}

#[test]
fn a_refresh_that_ends_successful_with_an_unhealthy_instance_is_a_failure_and_goes_back() {
    // "Successful" is Auto Scaling's word; the fleet must be healthy on the AMI for amiroll's
    // success (issue 9, bug 1's rule for instance-refresh outcomes).
    let w = world();
    w.publish(NEW);
    w.apply_ok();
    for _ in 0..60 {
        let done = w
            .sim
            .instance_refreshes("web")
            .first()
            .is_some_and(|r| r.status == "Successful");
        if done {
            break;
        }
        w.sim.advance(Duration::from_secs(60));
    }
    assert_eq!(
        w.sim.instance_refreshes("web")[0].status,
        "Successful",
        "the refresh ended"
    );
    let bad = w
        .sim
        .group("web")
        .instances
        .first()
        .map(|i| i.instance_id.clone())
        .expect("an instance");
    w.sim.set_instance_health(&bad, false);
    let r = w.apply_ok();
    let t = &r.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Failed, "{:#?}", t.plan);
    assert_eq!(w.events_of("rollout-succeeded"), 0, "{:?}", w.subjects());
    assert_eq!(w.events_of("rollout-failed"), 1, "{:?}", w.subjects());
    let g = w.sim.group("web");
    assert_eq!(
        g.tags.get("amiroll:failed-ami").map(String::as_str),
        Some(NEW)
    );
    // A refresh back to the version the fleet ran before is under way, and the default never
    // moved to the AMI.
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
    let back = &w.sim.instance_refreshes("web")[0];
    assert_ne!(back.status, "Successful", "{back:?}");
    w.sim.set_instance_health(&bad, true);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Failed);
    assert_eq!(on(&w, "web"), vec![OLD.to_string()]);
    assert_eq!(w.events_of("rolled-back"), 1, "{:?}", w.subjects());
    assert_eq!(w.events_of("rollout-succeeded"), 0);
}

/// Eventual consistency: the version this run created is unknown to Auto Scaling for its first
/// two `StartInstanceRefresh` calls (`ValidationError` naming the version). The engine retries
/// such an answer for a version it created, so the run starts the refresh anyway.
#[test]
fn a_new_version_auto_scaling_does_not_see_yet_is_retried() {
    let w = world();
    w.sim.delay_version_visibility(2);
    w.publish(NEW);
    let first = w.apply_ok();
    let t = &first.targets[0];
    assert_eq!(t.apply_error, None, "{:#?}", t.results);
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 3);
    assert_eq!(w.sim.instance_refreshes("web").len(), 1);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(on(&w, "web"), vec![NEW.to_string()]);
}

/// The retry is bounded and only for the version the run created: a version that stays
/// invisible fails the run after the retries.
#[test]
fn a_version_that_stays_invisible_fails_the_run_after_bounded_retries() {
    let w = world();
    w.sim.delay_version_visibility(50);
    w.publish(NEW);
    let first = w.apply_ok();
    let error = first.targets[0].apply_error.clone().unwrap_or_default();
    assert!(error.contains("ValidationError"), "{error}");
    assert_eq!(w.sim.call_count(op::START_INSTANCE_REFRESH), 5);
}
