//! The adapter's conversions on recorded AWS response shapes (`tests/fixtures/`, built from the
//! AWS API reference and CLI examples; see the README there). A small test-only reader turns
//! each JSON document into the SDK's output types, member by member as the AWS data types name
//! them, and the tests check what the port sees against the documents' own values.

use amiroll_core::port::{op, BlockDeviceMapping, EbsBlockDevice, LifecycleHook, TemplateSpec};
use aws_sdk_autoscaling::types as asg;
use aws_smithy_types::DateTime;
use serde_json::Value;

use crate::convert::{
    map_container_instance, map_group, map_lifecycle_hook, map_refresh, map_version, smithy_time,
};

const GROUPS: &str = include_str!("../tests/fixtures/describe_auto_scaling_groups_mixed.json");
const REFRESHES: &str = include_str!("../tests/fixtures/describe_instance_refreshes.json");
const VERSIONS: &str =
    include_str!("../tests/fixtures/describe_launch_template_versions_block_devices.json");
const HOOKS: &str = include_str!("../tests/fixtures/describe_lifecycle_hooks.json");
const CONTAINER_INSTANCES: &str =
    include_str!("../tests/fixtures/describe_container_instances_attributes.json");

fn doc(text: &str) -> Value {
    serde_json::from_str(text).expect("a fixture is JSON")
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn i(v: &Value, key: &str) -> Option<i32> {
    v.get(key)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

fn b(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

/// A time as the examples print it (`Z` or `+00:00`).
fn t(v: &Value, key: &str) -> Option<DateTime> {
    s(v, key).map(|text| {
        let time = chrono::DateTime::parse_from_rfc3339(&text).expect("an ISO 8601 time");
        smithy_time(&time.with_timezone(&chrono::Utc))
    })
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn strings(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key).and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn spec(v: &Value) -> asg::LaunchTemplateSpecification {
    asg::LaunchTemplateSpecification::builder()
        .set_launch_template_id(s(v, "LaunchTemplateId"))
        .set_launch_template_name(s(v, "LaunchTemplateName"))
        .set_version(s(v, "Version"))
        .build()
}

fn mixed(v: &Value) -> asg::MixedInstancesPolicy {
    let lt = v.get("LaunchTemplate");
    asg::MixedInstancesPolicy::builder()
        .set_launch_template(lt.map(|lt| {
            asg::LaunchTemplate::builder()
                .set_launch_template_specification(lt.get("LaunchTemplateSpecification").map(spec))
                .set_overrides(Some(
                    list(lt, "Overrides")
                        .iter()
                        .map(|o| {
                            asg::LaunchTemplateOverrides::builder()
                                .set_instance_type(s(o, "InstanceType"))
                                .set_weighted_capacity(s(o, "WeightedCapacity"))
                                .set_image_id(s(o, "ImageId"))
                                .set_launch_template_specification(
                                    o.get("LaunchTemplateSpecification").map(spec),
                                )
                                .build()
                        })
                        .collect(),
                ))
                .build()
        }))
        .set_instances_distribution(v.get("InstancesDistribution").map(|d| {
            asg::InstancesDistribution::builder()
                .set_on_demand_allocation_strategy(s(d, "OnDemandAllocationStrategy"))
                .set_on_demand_base_capacity(i(d, "OnDemandBaseCapacity"))
                .set_on_demand_percentage_above_base_capacity(i(
                    d,
                    "OnDemandPercentageAboveBaseCapacity",
                ))
                .set_spot_allocation_strategy(s(d, "SpotAllocationStrategy"))
                .set_spot_instance_pools(i(d, "SpotInstancePools"))
                .set_spot_max_price(s(d, "SpotMaxPrice"))
                .build()
        }))
        .build()
}

fn group(g: &Value) -> asg::AutoScalingGroup {
    let instances = list(g, "Instances")
        .iter()
        .map(|x| {
            asg::Instance::builder()
                .set_instance_id(s(x, "InstanceId"))
                .set_instance_type(s(x, "InstanceType"))
                .set_availability_zone(s(x, "AvailabilityZone"))
                .set_lifecycle_state(
                    s(x, "LifecycleState").map(|l| asg::LifecycleState::from(l.as_str())),
                )
                .set_health_status(s(x, "HealthStatus"))
                .set_protected_from_scale_in(b(x, "ProtectedFromScaleIn"))
                .set_launch_template(x.get("LaunchTemplate").map(spec))
                .build()
        })
        .collect();
    asg::AutoScalingGroup::builder()
        .set_auto_scaling_group_name(s(g, "AutoScalingGroupName"))
        .set_auto_scaling_group_arn(s(g, "AutoScalingGroupARN"))
        .set_min_size(i(g, "MinSize"))
        .set_max_size(i(g, "MaxSize"))
        .set_desired_capacity(i(g, "DesiredCapacity"))
        .set_default_cooldown(i(g, "DefaultCooldown"))
        .set_availability_zones(strings(g, "AvailabilityZones"))
        .set_health_check_type(s(g, "HealthCheckType"))
        .set_created_time(t(g, "CreatedTime"))
        .set_launch_template(g.get("LaunchTemplate").map(spec))
        .set_mixed_instances_policy(g.get("MixedInstancesPolicy").map(mixed))
        .set_termination_policies(strings(g, "TerminationPolicies"))
        .set_instances(Some(instances))
        .build()
}

fn refresh(r: &Value) -> asg::InstanceRefresh {
    asg::InstanceRefresh::builder()
        .set_instance_refresh_id(s(r, "InstanceRefreshId"))
        .set_auto_scaling_group_name(s(r, "AutoScalingGroupName"))
        .set_status(s(r, "Status").map(|x| asg::InstanceRefreshStatus::from(x.as_str())))
        .set_status_reason(s(r, "StatusReason"))
        .set_start_time(t(r, "StartTime"))
        .set_end_time(t(r, "EndTime"))
        .set_percentage_complete(i(r, "PercentageComplete"))
        .set_instances_to_update(i(r, "InstancesToUpdate"))
        .set_desired_configuration(r.get("DesiredConfiguration").map(|d| {
            asg::DesiredConfiguration::builder()
                .set_launch_template(d.get("LaunchTemplate").map(spec))
                .set_mixed_instances_policy(d.get("MixedInstancesPolicy").map(mixed))
                .build()
        }))
        .build()
}

fn version(v: &Value) -> aws_sdk_ec2::types::LaunchTemplateVersion {
    use aws_sdk_ec2::types as ec2;
    let data = v.get("LaunchTemplateData").map(|d| {
        ec2::ResponseLaunchTemplateData::builder()
            .set_image_id(s(d, "ImageId"))
            .set_instance_type(s(d, "InstanceType").map(|x| ec2::InstanceType::from(x.as_str())))
            .set_block_device_mappings(Some(
                list(d, "BlockDeviceMappings")
                    .iter()
                    .map(|m| {
                        ec2::LaunchTemplateBlockDeviceMapping::builder()
                            .set_device_name(s(m, "DeviceName"))
                            .set_virtual_name(s(m, "VirtualName"))
                            .set_no_device(s(m, "NoDevice"))
                            .set_ebs(m.get("Ebs").map(|e| {
                                ec2::LaunchTemplateEbsBlockDevice::builder()
                                    .set_snapshot_id(s(e, "SnapshotId"))
                                    .set_volume_size(i(e, "VolumeSize"))
                                    .set_volume_type(
                                        s(e, "VolumeType")
                                            .map(|x| ec2::VolumeType::from(x.as_str())),
                                    )
                                    .set_iops(i(e, "Iops"))
                                    .set_throughput(i(e, "Throughput"))
                                    .set_encrypted(b(e, "Encrypted"))
                                    .set_kms_key_id(s(e, "KmsKeyId"))
                                    .set_delete_on_termination(b(e, "DeleteOnTermination"))
                                    .build()
                            }))
                            .build()
                    })
                    .collect(),
            ))
            .build()
    });
    ec2::LaunchTemplateVersion::builder()
        .set_launch_template_id(s(v, "LaunchTemplateId"))
        .set_launch_template_name(s(v, "LaunchTemplateName"))
        .set_version_number(v.get("VersionNumber").and_then(Value::as_i64))
        .set_version_description(s(v, "VersionDescription"))
        .set_default_version(b(v, "DefaultVersion"))
        .set_create_time(t(v, "CreateTime"))
        .set_created_by(s(v, "CreatedBy"))
        .set_launch_template_data(data)
        .build()
}

fn named(name: &str, version: &str) -> TemplateSpec {
    TemplateSpec {
        template_id: None,
        template_name: Some(name.to_owned()),
        version: Some(version.to_owned()),
    }
}

#[test]
fn a_mixed_instances_group_as_describe_auto_scaling_groups_returns_it() {
    let d = doc(GROUPS);
    let g = map_group(
        op::DESCRIBE_AUTO_SCALING_GROUPS,
        &group(&list(&d, "AutoScalingGroups")[0]),
    )
    .expect("mapped");
    assert_eq!(g.name, "my-asg");
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (1, 5, 2));
    assert_eq!(g.launch_template, None);
    let policy = g.mixed_instances_policy.expect("the policy");
    assert_eq!(
        policy.template,
        named("my-launch-template-for-x86", "$Latest")
    );
    let overrides: Vec<_> = policy
        .overrides
        .iter()
        .map(|o| (o.instance_type.as_deref(), o.template.clone()))
        .collect();
    assert_eq!(
        overrides,
        vec![
            (
                Some("c6g.large"),
                Some(named("my-launch-template-for-arm", "$Latest"))
            ),
            (Some("c5.large"), None),
            (Some("c5a.large"), None),
        ]
    );
    let distribution = policy.distribution.expect("the distribution");
    assert_eq!(
        distribution.on_demand_percentage_above_base_capacity,
        Some(50)
    );
    assert_eq!(
        distribution.spot_allocation_strategy.as_deref(),
        Some("capacity-optimized")
    );
    assert_eq!(distribution.on_demand_base_capacity, None);
    assert!(!policy.overrides.iter().any(|o| o.instance_requirements));

    let instances: Vec<_> = g
        .instances
        .iter()
        .map(|x| {
            (
                x.instance_id.as_str(),
                x.is_in_service(),
                x.is_healthy(),
                x.protected_from_scale_in,
                x.launch_template.as_ref().and_then(|t| t.version.clone()),
            )
        })
        .collect();
    assert_eq!(
        instances,
        vec![
            (
                "i-05b4f7d5be44822a6",
                true,
                true,
                false,
                Some("4".to_owned())
            ),
            (
                "i-0c20ac468fa3049e8",
                false,
                false,
                true,
                Some("2".to_owned())
            ),
        ]
    );
    assert_eq!(g.instances[1].lifecycle_state, "Terminating:Wait");
}

#[test]
fn instance_refreshes_in_every_status() {
    let d = doc(REFRESHES);
    let mapped: Vec<_> = list(&d, "InstanceRefreshes")
        .iter()
        .map(|r| {
            map_refresh(op::DESCRIBE_INSTANCE_REFRESHES, "asked-for", &refresh(r)).expect("mapped")
        })
        .collect();
    // "Terminal" per the status descriptions of API_InstanceRefresh: nothing more happens after.
    let statuses: Vec<_> = mapped
        .iter()
        .map(|r| (r.status.as_str(), r.is_terminal()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("InProgress", false),
            ("Successful", true),
            ("Pending", false),
            ("Failed", true),
            ("Cancelling", false),
            ("Cancelled", true),
            ("RollbackInProgress", false),
            ("RollbackFailed", true),
            ("RollbackSuccessful", true),
            ("Baking", false),
        ]
    );
    let first = &mapped[0];
    assert_eq!(first.id, "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b");
    assert_eq!(first.group_name, "my-auto-scaling-group");
    assert_eq!(first.percentage_complete, Some(50));
    assert_eq!(first.instances_to_update, Some(0));
    assert_eq!(
        first.start_time.map(|t| t.to_rfc3339()),
        Some("2023-06-13T16:46:52+00:00".to_owned())
    );
    assert_eq!(first.end_time, None);
    assert!(first
        .status_reason
        .as_deref()
        .is_some_and(|r| r.starts_with("Waiting for instances to warm up")));
    assert_eq!(
        mapped[1].end_time.map(|t| t.to_rfc3339()),
        Some("2023-06-02T13:59:45+00:00".to_owned())
    );
    // The desired version, whether the desired configuration is a template or a mixed policy.
    assert_eq!(
        mapped[2]
            .desired_template
            .as_ref()
            .and_then(|t| t.version.as_deref()),
        Some("7")
    );
    assert_eq!(
        mapped[6]
            .desired_template
            .as_ref()
            .and_then(|t| t.version.as_deref()),
        Some("8")
    );
    assert_eq!(mapped[3].desired_template, None);
}

#[test]
fn launch_template_versions_with_block_devices() {
    let d = doc(VERSIONS);
    let versions: Vec<_> = list(&d, "LaunchTemplateVersions")
        .iter()
        .map(|v| map_version(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, &version(v)).expect("mapped"))
        .collect();
    let v2 = &versions[0];
    assert_eq!(
        (v2.template_id.as_str(), v2.version, v2.is_default),
        ("lt-068f72b72934aff71", 2, false)
    );
    assert_eq!(v2.image_id.as_deref(), Some("ami-6057e21a"));
    assert_eq!(v2.instance_type.as_deref(), Some("t2.medium"));
    assert_eq!(
        v2.block_device_mappings,
        vec![
            BlockDeviceMapping {
                device_name: "/dev/xvda".to_owned(),
                ebs: Some(EbsBlockDevice {
                    delete_on_termination: Some(true),
                    ..EbsBlockDevice::default()
                }),
                ..BlockDeviceMapping::default()
            },
            BlockDeviceMapping {
                device_name: "/dev/sdf".to_owned(),
                ebs: Some(EbsBlockDevice {
                    snapshot_id: Some("snap-066877671789bd71b".to_owned()),
                    volume_type: Some("gp2".to_owned()),
                    encrypted: Some(true),
                    kms_key_id: Some(
                        "arn:aws:kms:us-east-1:012345678910:key/abcd1234-a123-456a-a12b-a123b4cd56ef"
                            .to_owned()
                    ),
                    delete_on_termination: Some(true),
                    ..EbsBlockDevice::default()
                }),
                ..BlockDeviceMapping::default()
            },
            BlockDeviceMapping {
                device_name: "/dev/sdb".to_owned(),
                virtual_name: Some("ephemeral0".to_owned()),
                ..BlockDeviceMapping::default()
            },
            BlockDeviceMapping {
                device_name: "/dev/sdc".to_owned(),
                no_device: Some(String::new()),
                ..BlockDeviceMapping::default()
            },
        ]
    );
    let v1 = &versions[1];
    assert_eq!((v1.version, v1.is_default), (1, true));
    assert!(v1.block_device_mappings.is_empty());
    assert_eq!(
        v1.create_time.map(|t| t.to_rfc3339()),
        Some("2017-11-20T12:52:33+00:00".to_owned())
    );
}

fn hook(h: &Value) -> asg::LifecycleHook {
    asg::LifecycleHook::builder()
        .set_lifecycle_hook_name(s(h, "LifecycleHookName"))
        .set_auto_scaling_group_name(s(h, "AutoScalingGroupName"))
        .set_lifecycle_transition(s(h, "LifecycleTransition"))
        .set_notification_target_arn(s(h, "NotificationTargetARN"))
        .set_role_arn(s(h, "RoleARN"))
        .set_heartbeat_timeout(i(h, "HeartbeatTimeout"))
        .set_global_timeout(i(h, "GlobalTimeout"))
        .set_default_result(s(h, "DefaultResult"))
        .build()
}

#[test]
fn lifecycle_hooks_as_describe_lifecycle_hooks_returns_them() {
    let d = doc(HOOKS);
    let mapped: Vec<_> = list(&d, "LifecycleHooks")
        .iter()
        .map(|h| {
            map_lifecycle_hook(op::DESCRIBE_LIFECYCLE_HOOKS, "asked-for", &hook(h)).expect("mapped")
        })
        .collect();
    assert_eq!(
        mapped,
        vec![
            LifecycleHook {
                group_name: "my-auto-scaling-group".to_owned(),
                name: "my-lifecycle-hook".to_owned(),
                transition: "autoscaling:EC2_INSTANCE_LAUNCHING".to_owned(),
                heartbeat_timeout_secs: 3600,
                global_timeout_secs: 172_800,
                default_result: "ABANDON".to_owned(),
            },
            LifecycleHook {
                group_name: "my-auto-scaling-group".to_owned(),
                name: "ecs-managed-draining-termination-hook".to_owned(),
                transition: "autoscaling:EC2_INSTANCE_TERMINATING".to_owned(),
                heartbeat_timeout_secs: 300,
                global_timeout_secs: 30_000,
                default_result: "CONTINUE".to_owned(),
            },
        ]
    );
    assert!(!mapped[0].is_terminating());
    assert!(mapped[1].is_terminating());
}

#[test]
fn container_instance_attributes_as_describe_container_instances_returns_them() {
    use aws_sdk_ecs::types as ecs;
    let d = doc(CONTAINER_INSTANCES);
    let c = &list(&d, "containerInstances")[0];
    let sdk = ecs::ContainerInstance::builder()
        .set_container_instance_arn(s(c, "containerInstanceArn"))
        .set_ec2_instance_id(s(c, "ec2InstanceId"))
        .set_status(s(c, "status"))
        .set_agent_connected(b(c, "agentConnected"))
        .set_running_tasks_count(i(c, "runningTasksCount"))
        .set_pending_tasks_count(i(c, "pendingTasksCount"))
        .set_attributes(Some(
            list(c, "attributes")
                .iter()
                .map(|a| {
                    ecs::Attribute::builder()
                        .set_name(s(a, "name"))
                        .set_value(s(a, "value"))
                        .build()
                        .expect("an attribute has a name")
                })
                .collect(),
        ))
        .build();
    let mapped =
        map_container_instance(op::DESCRIBE_CONTAINER_INSTANCES, "default", &sdk).expect("mapped");
    assert_eq!(mapped.ec2_instance_id.as_deref(), Some("i-807f3249"));
    assert_eq!(
        mapped.attributes,
        [
            ("amiroll.drain-since", "2026-11-26T13:00:00Z"),
            ("com.amazonaws.ecs.capability.docker-remote-api.1.17", ""),
            ("ecs.ami-id", "ami-0c0d2b7a8b1b2c3d4"),
            ("ecs.instance-type", "m5.large"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect::<std::collections::BTreeMap<_, _>>()
    );
}
