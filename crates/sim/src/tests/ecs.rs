use std::time::Duration;

use amiroll_core::port::{Aws, ErrorKind, ScheduledAction};
use futures::executor::block_on;

use super::fleet;
use crate::account::add_secs;

#[test]
fn capacity_providers_are_listed_with_the_group_arn() {
    let (sim, _) = fleet();
    let group_arn = sim.group("web-asg").arn.expect("arn");
    assert!(
        group_arn.starts_with("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:")
            && group_arn.ends_with(":autoScalingGroupName/web-asg"),
        "{group_arn}"
    );
    assert!(block_on(sim.describe_capacity_providers())
        .expect("describe")
        .is_empty());
    let arn = sim
        .create_capacity_provider("web-cp", "web-asg", true, false, true)
        .expect("create");
    assert_eq!(
        arn,
        "arn:aws:ecs:us-east-1:123456789012:capacity-provider/web-cp"
    );
    let listed = block_on(sim.describe_capacity_providers()).expect("describe");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "web-cp");
    assert_eq!(listed[0].auto_scaling_group_arn, group_arn);
    assert!(listed[0].managed_scaling);
    assert!(!listed[0].managed_termination_protection);
    assert!(listed[0].managed_draining);
    assert_eq!(sim.capacity_providers(), listed);
}

#[test]
fn capacity_provider_setup_validation() {
    let (sim, _) = fleet();
    let err = sim
        .create_capacity_provider("web-cp", "web-asg", false, true, true)
        .expect_err("protection without scaling");
    assert_eq!(err.kind, ErrorKind::Invalid);
    let err = sim
        .create_capacity_provider("web-cp", "nope", true, true, true)
        .expect_err("no group");
    assert_eq!(err.kind, ErrorKind::NotFound);
    for name in ["", "ecs-web", "FARGATE_x", "has space"] {
        let err = sim
            .create_capacity_provider(name, "web-asg", true, true, true)
            .expect_err(name);
        assert_eq!(err.kind, ErrorKind::Invalid, "{name}");
    }
    sim.create_capacity_provider("web-cp", "web-asg", true, true, true)
        .expect("create");
    let err = sim
        .create_capacity_provider("web-cp", "web-asg", true, true, true)
        .expect_err("duplicate");
    assert_eq!(err.kind, ErrorKind::Conflict);
    let err = sim
        .create_capacity_provider("other-cp", "web-asg", true, true, true)
        .expect_err("group taken");
    assert_eq!(err.kind, ErrorKind::Conflict);
}

#[test]
fn managed_termination_protection_protects_instances() {
    let (sim, _) = fleet();
    sim.create_capacity_provider("web-cp", "web-asg", true, true, true)
        .expect("create");
    assert!(sim
        .group("web-asg")
        .instances
        .iter()
        .all(|i| i.protected_from_scale_in));
    // New instances are protected at launch; a scale-in cannot terminate any.
    sim.set_desired_capacity("web-asg", 5).expect("scale out");
    assert!(sim
        .group("web-asg")
        .instances
        .iter()
        .all(|i| i.protected_from_scale_in));
}

#[test]
fn managed_scaling_counteracts_a_scheduled_desired_change() {
    let (sim, _) = fleet();
    sim.create_capacity_provider("web-cp", "web-asg", true, false, true)
        .expect("create");
    // Fires 30 s into a minute; ECS puts it back at the next whole minute.
    let at = add_secs(sim.now(), 630);
    block_on(sim.put_scheduled_update_group_action(&ScheduledAction {
        group_name: "web-asg".to_string(),
        name: "surge".to_string(),
        start_time: at,
        min_size: None,
        max_size: Some(6),
        desired_capacity: Some(6),
        recurrence: None,
    }))
    .expect("put");
    sim.advance(Duration::from_secs(630));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 6));
    assert_eq!(sim.group("web-asg").instances.len(), 6);
    sim.advance(Duration::from_secs(29));
    assert_eq!(sim.group_capacity("web-asg").2, 6);
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4));
    assert_eq!(sim.group("web-asg").instances.len(), 4);
    let at_tick = add_secs(at, 30);
    assert!(sim
        .events()
        .iter()
        .any(|(t, e)| *t == at_tick && e.contains("ECS managed scaling set desired back to 4")));

    // Without managed scaling nothing counteracts.
    let (sim, _) = fleet();
    sim.create_capacity_provider("web-cp", "web-asg", false, false, false)
        .expect("create");
    sim.set_desired_capacity("web-asg", 6).expect("desired");
    sim.advance(Duration::from_secs(300));
    assert_eq!(sim.group_capacity("web-asg").2, 6);
}

#[test]
fn ecs_protected_fleets_refresh_with_refresh_preference() {
    use amiroll_core::port::{DesiredTemplate, RefreshPreferences, StartRefreshRequest};
    let (sim, lt) = fleet();
    sim.create_capacity_provider("web-cp", "web-asg", true, true, true)
        .expect("create");
    let v2 = sim
        .create_launch_template_version_raw(
            &lt,
            Some(1),
            crate::TemplateData {
                image_id: Some("ami-new".to_string()),
                ..crate::TemplateData::default()
            },
            None,
        )
        .expect("version");
    super::pin(&sim, "web-asg", &lt, 1);
    let preferences = RefreshPreferences {
        min_healthy_percentage: 100,
        max_healthy_percentage: 200,
        skip_matching: true,
        instance_warmup: Some(0),
        auto_rollback: true,
        checkpoint_percentages: Vec::new(),
        checkpoint_delay: None,
        alarms: Vec::new(),
        bake_time: None,
        scale_in_protected_instances: Some("Refresh".to_string()),
        standby_instances: Some("Ignore".to_string()),
    };
    block_on(sim.start_instance_refresh(&StartRefreshRequest {
        group_name: "web-asg".to_string(),
        desired: Some(DesiredTemplate {
            template_id: lt.clone(),
            version: v2,
        }),
        preferences,
        mixed_instances_policy: None,
    }))
    .expect("start");
    sim.advance(Duration::from_secs(90));
    let r = block_on(sim.describe_instance_refreshes("web-asg")).expect("describe");
    assert_eq!(r[0].status, "Successful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
    assert!(sim
        .group("web-asg")
        .instances
        .iter()
        .all(|i| i.protected_from_scale_in));
}
