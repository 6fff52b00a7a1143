//! The product where AWS differs from the happy path (issue 11): a template's block-device
//! snapshots survive the new version, a snapshot on the new AMI's root device is refused.

mod common;

use amiroll_core::model::{Refusal, TargetStatus};
use amiroll_core::port::{op, BlockDeviceMapping, EbsBlockDevice};
use amiroll_sim::{GroupSpec, TemplateData};
use common::*;

fn volume(device: &str, snapshot: Option<&str>, size: i32) -> BlockDeviceMapping {
    BlockDeviceMapping {
        device_name: device.to_string(),
        ebs: Some(EbsBlockDevice {
            snapshot_id: snapshot.map(str::to_string),
            volume_size: Some(size),
            volume_type: Some("gp3".to_string()),
            delete_on_termination: Some(true),
            ..EbsBlockDevice::default()
        }),
        ..BlockDeviceMapping::default()
    }
}

/// `World` with a second template `ecs-data` whose v1 has the given mappings, and group `data`
/// (2 instances) on it; the target rolls `data`.
fn world_with(mappings: Vec<BlockDeviceMapping>) -> World {
    let w = World::new().targeting(&["data"]);
    let mut data = TemplateData::new(OLD, "m5.large");
    for m in mappings {
        data = data.with_block_device(m);
    }
    let lt = w
        .sim
        .create_launch_template("ecs-data", data)
        .expect("template");
    w.sim
        .create_group(
            GroupSpec::new("data", &lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let toml = w.toml.replace(
        "launch_template = \"ecs\"",
        "launch_template = \"ecs-data\"",
    );
    World { toml, lt, ..w }
}

#[test]
fn a_data_volume_restored_from_a_snapshot_keeps_its_snapshot_in_the_new_version() {
    let root = volume("/dev/xvda", None, 30);
    let data = volume("/dev/xvdb", Some("snap-0123456789abcdef0"), 100);
    let w = world_with(vec![root.clone(), data.clone()]);
    w.publish(NEW);
    let report = w.converge();
    assert_eq!(
        report.targets[0].plan.status,
        TargetStatus::Current,
        "{report:?}"
    );
    let versions = w.sim.template_versions("ecs-data");
    let new = versions
        .iter()
        .find(|v| v.image_id.as_deref() == Some(NEW))
        .expect("a version for the new AMI");
    // Without the mappings sent again, the simulator (like EC2) would drop the snapshot.
    assert_eq!(new.block_device_mappings, vec![root, data]);
    assert_eq!(w.sim.instances_by_ami("data").get(NEW), Some(&2));
}

#[test]
fn a_template_without_snapshots_keeps_its_volumes() {
    let root = volume("/dev/xvda", None, 30);
    let scratch = volume("/dev/xvdb", None, 50);
    let w = world_with(vec![root.clone(), scratch.clone()]);
    w.publish(NEW);
    w.converge();
    let versions = w.sim.template_versions("ecs-data");
    let new = versions
        .iter()
        .find(|v| v.image_id.as_deref() == Some(NEW))
        .expect("a version for the new AMI");
    assert_eq!(new.block_device_mappings, vec![root, scratch]);
}

#[test]
fn a_snapshot_on_the_new_amis_root_device_is_refused_and_nothing_changes() {
    let w = world_with(vec![
        volume("/dev/xvda", Some("snap-0aaaaaaaaaaaaaaa1"), 30),
        volume("/dev/xvdb", Some("snap-0bbbbbbbbbbbbbbb2"), 100),
    ]);
    w.publish(NEW);
    let report = w.apply_ok();
    let t = &report.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Error, "{t:?}");
    assert_eq!(
        t.plan.errors,
        vec![Refusal::RootSnapshot {
            template: "ecs-data".to_string(),
            version: 1,
            device: "/dev/xvda".to_string(),
            snapshot: "snap-0aaaaaaaaaaaaaaa1".to_string(),
            ami: NEW.to_string(),
        }]
    );
    // The sentence names them for the user.
    let error = t.plan.errors[0].to_string();
    for named in ["ecs-data", "/dev/xvda", "snap-0aaaaaaaaaaaaaaa1", NEW] {
        assert!(error.contains(named), "`{named}` not named in: {error}");
    }
    assert_eq!(w.sim.call_count(op::CREATE_LAUNCH_TEMPLATE_VERSION), 0);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
}

/// A mixed-instances group (two weighted types, an On-Demand base and Spot above it) on the
/// template `ecs`, `$Default`, rolled by the instance-refresh strategy.
fn mixed_world() -> (World, amiroll_core::port::MixedInstancesPolicy) {
    use amiroll_core::port::{InstanceOverride, InstancesDistribution};
    let w = World::new().targeting(&["mixed"]);
    w.sim.add_instance_type("m5.xlarge", &["x86_64"]);
    let over = |t: &str, weight: &str| InstanceOverride {
        instance_type: Some(t.to_string()),
        weighted_capacity: Some(weight.to_string()),
        ..InstanceOverride::default()
    };
    let distribution = InstancesDistribution {
        on_demand_base_capacity: Some(1),
        on_demand_percentage_above_base_capacity: Some(50),
        spot_allocation_strategy: Some("price-capacity-optimized".to_string()),
        ..InstancesDistribution::default()
    };
    w.sim
        .create_group(
            GroupSpec::new("mixed", &w.lt, 1, 6, 2)
                .with_overrides(vec![over("m5.large", "1"), over("m5.xlarge", "2")])
                .with_distribution(distribution)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let policy = w
        .sim
        .group("mixed")
        .mixed_instances_policy
        .expect("a mixed group");
    let toml = w.toml.replace("strategy = \"scheduled-surge\"\n", "");
    (World { toml, ..w }, policy)
}

#[test]
fn a_mixed_instances_group_keeps_its_overrides_and_distribution_through_a_refresh() {
    let (w, before) = mixed_world();
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    let after = w
        .sim
        .group("mixed")
        .mixed_instances_policy
        .expect("still a mixed group");
    // The pin before the refresh, the refresh's desired configuration and the way back to
    // $Default after it all went through the policy: sending a policy without them would have
    // reset the overrides and the distribution.
    assert_eq!(after.overrides, before.overrides);
    assert_eq!(after.distribution, before.distribution);
    assert!(w.sim.group("mixed").launch_template.is_none());
    assert_eq!(after.template.version.as_deref(), Some("$Default"));
    let version = w.sim.template(&w.lt).default_version;
    let versions = w.sim.template_versions("ecs");
    let image = versions
        .iter()
        .find(|v| v.version == version)
        .and_then(|v| v.image_id.clone());
    assert_eq!(image.as_deref(), Some(NEW));
    assert_eq!(
        w.sim.instances_by_ami("mixed").keys().collect::<Vec<_>>(),
        vec![NEW]
    );
}
