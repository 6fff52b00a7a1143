//! Lifecycle hooks and container-instance attributes: the rules `hooks.rs` and `container.rs`
//! check, and what a held instance looks like to each port call.

use amiroll_core::port::{Aws, Ec2Instance};
use futures::executor::block_on;

use super::{account, strings};
use crate::container::{is_attribute_name, is_attribute_value};
use crate::hooks::{global_timeout_secs, is_hook_name};
use crate::GroupSpec;

#[test]
fn global_timeouts_are_100_heartbeats_at_most_48_hours() {
    assert_eq!(global_timeout_secs(30), 3000);
    assert_eq!(global_timeout_secs(300), 30_000);
    assert_eq!(global_timeout_secs(1728), 172_800);
    assert_eq!(global_timeout_secs(1729), 172_800);
    assert_eq!(global_timeout_secs(7200), 172_800);
    assert_eq!(global_timeout_secs(u32::MAX), 172_800);
}

#[test]
fn hook_names_follow_the_api_pattern() {
    for ok in [
        "drain",
        "ecs-managed-draining-termination-hook",
        "a/b_c-1",
        &"x".repeat(255),
    ] {
        assert!(is_hook_name(ok), "{ok}");
    }
    for bad in ["", "a b", "dräin", "a.b", &"x".repeat(256)] {
        assert!(!is_hook_name(bad), "{bad}");
    }
}

#[test]
fn attribute_names_and_values_follow_the_attribute_data_type() {
    for ok in ["amiroll.drain-since", "a/b\\c_d-e.f", &"n".repeat(128)] {
        assert!(is_attribute_name(ok), "{ok}");
    }
    for bad in ["", "a b", "a:b", "a@b", &"n".repeat(129)] {
        assert!(!is_attribute_name(bad), "{bad}");
    }
    for ok in ["2026-11-26T13:00:00Z", "a b", "x@y/z\\w", &"v".repeat(128)] {
        assert!(is_attribute_value(ok), "{ok}");
    }
    for bad in ["", " a", "a ", "a;b", "ä", &"v".repeat(129)] {
        assert!(!is_attribute_value(bad), "{bad}");
    }
}

#[test]
fn a_held_instance_is_listed_running_and_not_protectable() {
    let (sim, lt) = account();
    sim.create_group(GroupSpec::new("web-asg", &lt, 0, 4, 2))
        .expect("group");
    sim.create_terminating_hook("web-asg", "drain", 600, "CONTINUE")
        .expect("hook");
    sim.set_desired_capacity("web-asg", 1).expect("scale in");
    let g = sim.group("web-asg");
    let held: Vec<&str> = g
        .instances
        .iter()
        .filter(|i| i.lifecycle_state == "Terminating:Wait")
        .map(|i| i.instance_id.as_str())
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(g.instances.len(), 2);
    assert!(!g
        .instances
        .iter()
        .any(|i| i.instance_id == held[0] && i.is_in_service()));
    let described: Vec<Ec2Instance> =
        block_on(sim.describe_instances(&strings(&[held[0]]))).expect("describe");
    assert_eq!(described[0].state, "running");
    let e = block_on(Aws::set_instance_protection(
        &sim,
        "web-asg",
        &strings(&[held[0]]),
        true,
    ))
    .expect_err("held");
    assert_eq!(e.code, "ValidationError");
    // Scale in to zero: the other one is held too, nothing else happens.
    sim.set_desired_capacity("web-asg", 0).expect("to zero");
    assert_eq!(
        sim.group("web-asg")
            .instances
            .iter()
            .filter(|i| i.lifecycle_state == "Terminating:Wait")
            .count(),
        2
    );
    assert!(sim.instances_by_ami("web-asg").is_empty());
}
