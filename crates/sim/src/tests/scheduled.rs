use std::time::Duration;

use amiroll_core::port::{Aws, ErrorKind, ScheduledAction, Timestamp};
use futures::executor::block_on;

use super::fleet;
use crate::account::add_secs;

fn action(
    name: &str,
    at: Timestamp,
    min: Option<i32>,
    max: Option<i32>,
    desired: Option<i32>,
) -> ScheduledAction {
    ScheduledAction {
        group_name: "web-asg".to_string(),
        name: name.to_string(),
        start_time: at,
        min_size: min,
        max_size: max,
        desired_capacity: desired,
        recurrence: None,
    }
}

#[test]
fn an_action_fires_when_the_clock_passes_its_start_time() {
    let (sim, _) = fleet();
    let at = add_secs(sim.now(), 600);
    block_on(sim.put_scheduled_update_group_action(&action("surge", at, None, Some(8), Some(8))))
        .expect("put");
    let listed = block_on(sim.describe_scheduled_actions("web-asg")).expect("describe");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].max_size, Some(8));

    sim.advance(Duration::from_secs(599));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4));
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.group_capacity("web-asg"), (2, 8, 8));
    assert_eq!(sim.group("web-asg").instances.len(), 8);
    assert!(block_on(sim.describe_scheduled_actions("web-asg"))
        .expect("describe")
        .is_empty());
    sim.advance(Duration::from_secs(90));
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
    assert_eq!(sim.max_capacity_seen("web-asg"), 8);
    assert!(sim
        .events()
        .iter()
        .any(|(t, e)| *t == at && e.contains("scheduled action surge fired")));
}

#[test]
fn actions_fire_in_time_order_and_scale_back_in() {
    let (sim, _) = fleet();
    let now = sim.now();
    // Put the later one first.
    block_on(sim.put_scheduled_update_group_action(&action(
        "restore",
        add_secs(now, 1200),
        Some(2),
        Some(6),
        Some(4),
    )))
    .expect("restore");
    block_on(sim.put_scheduled_update_group_action(&action(
        "surge",
        add_secs(now, 600),
        None,
        Some(8),
        Some(8),
    )))
    .expect("surge");
    sim.advance(Duration::from_secs(3600));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4));
    assert_eq!(sim.group("web-asg").instances.len(), 4);
    // Default policy: the original (lowest-id) instances go first, four new ones remain.
    assert_eq!(sim.instances_by_ami("web-asg").values().sum::<usize>(), 4);
    let ids: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    assert_eq!(
        ids,
        (5..=8).map(|n| format!("i-{n:017x}")).collect::<Vec<_>>()
    );
}

#[test]
fn put_validation() {
    let (sim, _) = fleet();
    let now = sim.now();
    let past =
        block_on(sim.put_scheduled_update_group_action(&action("a", now, None, None, Some(5))))
            .expect_err("not in the future");
    assert_eq!(
        (past.kind, past.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );

    let empty = block_on(sim.put_scheduled_update_group_action(&action(
        "a",
        add_secs(now, 60),
        None,
        None,
        None,
    )))
    .expect_err("no sizes");
    assert_eq!(empty.kind, ErrorKind::Invalid);

    let mut missing = action("a", add_secs(now, 60), None, None, Some(5));
    missing.group_name = "nope".to_string();
    let err = block_on(sim.put_scheduled_update_group_action(&missing)).expect_err("no group");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::NotFound, "ValidationError")
    );

    block_on(sim.put_scheduled_update_group_action(&action(
        "a",
        add_secs(now, 60),
        None,
        None,
        Some(5),
    )))
    .expect("first");
    let clash = block_on(sim.put_scheduled_update_group_action(&action(
        "b",
        add_secs(now, 60),
        None,
        None,
        Some(3),
    )))
    .expect_err("same start time");
    assert_eq!(clash.kind, ErrorKind::Invalid);

    let inconsistent = block_on(sim.put_scheduled_update_group_action(&action(
        "c",
        add_secs(now, 90),
        Some(5),
        None,
        Some(3),
    )))
    .expect_err("desired below min");
    assert_eq!(inconsistent.kind, ErrorKind::Invalid);
    assert_eq!(
        sim.scheduled_actions("web-asg").len(),
        1,
        "rejected puts created nothing"
    );
}

#[test]
fn put_updates_by_name_and_keeps_unset_fields() {
    let (sim, _) = fleet();
    let now = sim.now();
    block_on(sim.put_scheduled_update_group_action(&action(
        "a",
        add_secs(now, 60),
        Some(1),
        Some(9),
        Some(5),
    )))
    .expect("create");
    block_on(sim.put_scheduled_update_group_action(&action(
        "a",
        add_secs(now, 120),
        None,
        None,
        Some(7),
    )))
    .expect("update");
    let listed = sim.scheduled_actions("web-asg");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].start_time, add_secs(now, 120));
    assert_eq!(
        (
            listed[0].min_size,
            listed[0].max_size,
            listed[0].desired_capacity
        ),
        (Some(1), Some(9), Some(7))
    );

    // Names are per group: the same name in another group is another action.
    sim.create_group(crate::GroupSpec::new("other", "web", 0, 2, 0))
        .expect("group");
    let mut other = action("a", add_secs(now, 120), None, None, Some(1));
    other.group_name = "other".to_string();
    block_on(sim.put_scheduled_update_group_action(&other)).expect("other group");
    assert_eq!(sim.scheduled_actions("web-asg").len(), 1);
    assert_eq!(sim.scheduled_actions("other").len(), 1);
}

#[test]
fn an_out_of_range_desired_fails_at_run_time() {
    let (sim, _) = fleet();
    let at = add_secs(sim.now(), 60);
    block_on(sim.put_scheduled_update_group_action(&action("too-big", at, None, None, Some(9))))
        .expect("put: only desired, checked against the group when it runs");
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4));
    assert!(sim.scheduled_actions("web-asg").is_empty());
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("scheduled action too-big failed")));
}

#[test]
fn min_only_action_moves_desired_into_range() {
    let (sim, _) = fleet();
    let at = add_secs(sim.now(), 60);
    block_on(sim.put_scheduled_update_group_action(&action("floor", at, Some(5), None, None)))
        .expect("put");
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.group_capacity("web-asg"), (5, 6, 5));
}

#[test]
fn suspended_processes_and_scheduled_actions() {
    let (sim, _) = fleet();
    let now = sim.now();
    sim.suspend_processes("web-asg", &["ScheduledActions"])
        .expect("suspend");
    block_on(sim.put_scheduled_update_group_action(&action(
        "skipped",
        add_secs(now, 60),
        None,
        None,
        Some(6),
    )))
    .expect("put");
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4));
    assert!(
        sim.scheduled_actions("web-asg").is_empty(),
        "a skipped action does not run later"
    );
    sim.resume_processes("web-asg", &["ScheduledActions"])
        .expect("resume");
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4));

    sim.suspend_processes("web-asg", &["Launch"])
        .expect("suspend launch");
    block_on(sim.put_scheduled_update_group_action(&action(
        "up",
        add_secs(sim.now(), 60),
        None,
        None,
        Some(6),
    )))
    .expect("put");
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 6));
    assert_eq!(
        sim.group("web-asg").instances.len(),
        4,
        "Launch suspended: no launch"
    );
    sim.resume_processes("web-asg", &["Launch"])
        .expect("resume launch");
    assert_eq!(sim.group("web-asg").instances.len(), 6);
}

#[test]
fn delete_scheduled_action() {
    let (sim, _) = fleet();
    let at = add_secs(sim.now(), 60);
    block_on(sim.put_scheduled_update_group_action(&action("a", at, None, None, Some(5))))
        .expect("put");
    block_on(sim.delete_scheduled_action("web-asg", "a")).expect("delete");
    sim.advance(Duration::from_secs(120));
    assert_eq!(
        sim.group_capacity("web-asg"),
        (2, 6, 4),
        "a deleted action never fires"
    );
    let err = block_on(sim.delete_scheduled_action("web-asg", "a")).expect_err("missing");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
}

#[test]
fn recurring_actions_fire_once_and_stay_listed() {
    let (sim, _) = fleet();
    let mut nightly = action("nightly", add_secs(sim.now(), 60), None, None, Some(2));
    nightly.recurrence = Some("0 2 * * *".to_string());
    sim.add_scheduled_action(nightly).expect("setup put");
    sim.advance(Duration::from_secs(86_400));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 2));
    let listed = sim.scheduled_actions("web-asg");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].recurrence.as_deref(), Some("0 2 * * *"));
    assert_eq!(
        sim.events()
            .iter()
            .filter(|(_, e)| e.contains("nightly fired"))
            .count(),
        1
    );
}

#[test]
fn a_late_action_fires_after_its_delay_and_stays_listed_until_then() {
    let (sim, _) = fleet();
    let at = add_secs(sim.now(), 600);
    sim.set_scheduled_action_delay(|a| {
        Duration::from_secs(if a.name == "surge" { 120 } else { 0 })
    });
    block_on(sim.put_scheduled_update_group_action(&action("surge", at, None, Some(8), Some(8))))
        .expect("put");
    sim.advance(Duration::from_secs(600 + 119));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4), "not yet");
    assert_eq!(
        block_on(sim.describe_scheduled_actions("web-asg"))
            .expect("describe")
            .len(),
        1,
        "still listed while late"
    );
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.group_capacity("web-asg"), (2, 8, 8));
    assert!(sim
        .events()
        .iter()
        .any(|(t, e)| *t == add_secs(at, 120) && e.contains("scheduled action surge fired")));
}

#[test]
fn someone_removing_an_action_stops_it_from_firing() {
    let (sim, _) = fleet();
    let at = add_secs(sim.now(), 60);
    sim.add_scheduled_action(action("surge", at, None, Some(8), Some(8)))
        .expect("put");
    sim.remove_scheduled_action("web-asg", "surge")
        .expect("remove");
    assert!(sim.remove_scheduled_action("web-asg", "surge").is_err());
    sim.advance(Duration::from_secs(120));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4));
}
