//! Auto Scaling's health checks as AWS runs them (issue 11, item 6): an instance is reported
//! `Healthy` until its health-check grace period has passed, and one that fails is replaced —
//! from the same AMI — so a bad AMI shows up as churn, not as instances that stay unhealthy.
//! The surge's health gate must not pass on either.

mod common;

use std::time::Duration;

use amiroll_core::model::TargetStatus;
use amiroll_core::planner::{HEALTH_GATE_MINUTES, SURGE_LEAD_MINUTES};
use amiroll_core::Refusal;
use common::*;

const MIN: u64 = 60;

/// The abort reason of a run, if it stopped a round.
fn stop_reason(r: &amiroll_core::engine::ApplyReport) -> Option<String> {
    r.targets[0]
        .plan
        .actions
        .iter()
        .map(|a| a.reason.clone())
        .find(|reason| reason.contains("stop round"))
}

/// Instances on `ami` Auto Scaling reports `InService` and `Healthy`.
fn reported_healthy_on(w: &World, ami: &str) -> usize {
    w.sim
        .group("web")
        .instances
        .iter()
        .filter(|i| i.is_in_service() && i.is_healthy())
        .filter(|i| {
            w.sim
                .instance(&i.instance_id)
                .map(|e| e.image_id)
                .as_deref()
                == Some(ami)
        })
        .count()
}

#[test]
fn a_bad_ami_reported_healthy_in_its_grace_period_never_passes_the_gate() {
    let w = World::new();
    w.sim.set_health_check_grace_period("web", 300);
    w.publish(BAD);
    let start = w.apply_ok();
    assert_eq!(
        w.events_of("rollout-started"),
        1,
        "{:#?}",
        start.targets[0].plan
    );
    // A run every minute: at some of them Auto Scaling reports the new instances Healthy (in
    // their grace period, or replacements in theirs).
    let mut looked_healthy = 0;
    let mut last = start;
    for _ in 0..40 {
        w.sim.advance(Duration::from_secs(MIN));
        if reported_healthy_on(&w, BAD) > 0 {
            looked_healthy += 1;
        }
        last = w.apply_ok();
        if last.targets[0].plan.status == TargetStatus::Failed {
            break;
        }
    }
    assert!(
        looked_healthy > 0,
        "the bad AMI never looked healthy: the test proves nothing"
    );
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Failed,
        "{:#?}",
        last.targets[0].plan
    );
    assert_eq!(w.events_of("rollout-succeeded"), 0);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Failed);
    assert_eq!(
        w.healthy_on("web", OLD),
        2,
        "{:?}",
        w.sim.instances_by_ami("web")
    );
    assert_eq!(w.sim.instances_by_ami("web").get(BAD), None);
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    w.assert_actions_tracked("web");
}

/// One run in the gate, at every point of the replace-and-relaunch cycle of a bad AMI (grace
/// period 0: 90 s `Pending`, 60 s `InService`/`Unhealthy`, replaced): the run aborts whether it
/// sees the unhealthy instances or only their pending replacements.
#[test]
fn a_single_run_in_the_gate_stops_a_bad_ami_at_any_point_of_its_churn() {
    let surge_minutes = 15;
    let gate = (SURGE_LEAD_MINUTES + surge_minutes - HEALTH_GATE_MINUTES) as u64 * MIN;
    let mut by_replacement = 0;
    let mut by_unhealthy = 0;
    for offset in (0..150).step_by(15) {
        let w = World::new();
        w.publish(BAD);
        w.apply_ok();
        assert_eq!(w.events_of("rollout-started"), 1);
        w.sim.advance(Duration::from_secs(gate + offset));
        let r = w.apply_ok();
        let plan = &r.targets[0].plan;
        assert_eq!(
            plan.status,
            TargetStatus::Failed,
            "offset {offset}: {plan:#?}"
        );
        let reason = stop_reason(&r).unwrap_or_default();
        if reason.contains("Auto Scaling replaced") {
            by_replacement += 1;
        } else if reason.contains("unhealthy") {
            by_unhealthy += 1;
        } else {
            panic!("offset {offset}: stopped for another reason: {reason:?}");
        }
        // Nothing settles onto the bad AMI afterwards.
        w.converge();
        assert_eq!(w.events_of("rollout-succeeded"), 0, "offset {offset}");
        assert_eq!(w.healthy_on("web", OLD), 2, "offset {offset}");
        assert_eq!(
            w.sim.instances_by_ami("web").get(BAD),
            None,
            "offset {offset}"
        );
    }
    // Both signals were exercised.
    assert!(by_replacement > 0, "no run saw only replacements");
    assert!(by_unhealthy > 0, "no run saw the unhealthy instances");
}

#[test]
fn a_surge_shorter_than_the_grace_period_is_refused_and_changes_nothing() {
    let w = World::new();
    w.sim.set_health_check_grace_period("web", 900);
    w.publish(NEW);
    let r = w.apply_ok();
    let t = &r.targets[0];
    assert!(
        matches!(&t.plan.errors[..], [Refusal::SurgeShorterThanGrace { group, grace_secs: 900, surge_minutes: 15, needed_minutes: 23 }] if group == "web"),
        "{:?}",
        t.plan.errors
    );
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    // Long enough: the rollout goes ahead and succeeds once the new instances are checked
    // (24, not 23: `converge` runs every 5 minutes and must find a run in the 3-minute gate).
    let w = w.instead_of_surge("strategy = \"scheduled-surge\"\nsurge_minutes = 24\n");
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("web", NEW, (1, 4, 2));
}

#[test]
fn a_refresh_warm_up_shorter_than_the_grace_period_is_warned_about() {
    let w = World::new();
    w.sim.set_health_check_grace_period("web", 300);
    let w = w.instead_of_surge("strategy = \"instance-refresh\"\ninstance_warmup = \"60s\"\n");
    w.publish(NEW);
    let r = w.apply_ok();
    let warned = |r: &amiroll_core::engine::ApplyReport| {
        r.targets[0].plan.findings.iter().any(|f| {
            f.message.contains(
                "instance_warmup (60 s) is shorter than its health-check grace period (300 s)",
            )
        })
    };
    assert!(warned(&r), "{:#?}", r.targets[0].plan.findings);
    // The same warm-up with no grace period says nothing.
    let w2 = World::new();
    let w2 = w2.instead_of_surge("strategy = \"instance-refresh\"\ninstance_warmup = \"60s\"\n");
    w2.publish(NEW);
    assert!(!warned(&w2.apply_ok()));
}
