//! Conversions between SDK shapes and the port's: the small ones, and one `map_*` per SDK type the
//! port reads (a required member that is missing is a `MalformedResponse`).

use std::collections::BTreeMap;

use amiroll_core::port::{
    AutoScalingGroup, AwsError, BlockDeviceMapping, CapacityProvider, ContainerInstance,
    ContainerInstanceAttribute, ContainerInstanceFailure, EbsBlockDevice, Ec2Instance, EcsCluster,
    GroupInstance, Image, InstanceOverride, InstanceRefresh, InstancesDistribution, LaunchTemplate,
    LaunchTemplateVersion, LifecycleHook, MixedInstancesPolicy, RefreshPreferences,
    ScheduledAction, StartRefreshRequest, TemplateSpec, Timestamp,
};
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_smithy_types::DateTime;
use chrono::Utc;

use crate::error::malformed;

/// An SDK timestamp as a port timestamp (`None` if out of chrono's range).
pub(crate) fn timestamp(t: &DateTime) -> Option<Timestamp> {
    chrono::DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

/// A port timestamp as an SDK timestamp.
pub(crate) fn smithy_time(t: &Timestamp) -> DateTime {
    DateTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

/// EC2 reports some times as ISO-8601 strings (`Image.CreationDate`, `Image.DeprecationTime`).
pub(crate) fn parse_iso8601(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A launch-template version number as EC2 reports it (a `Long`).
pub(crate) fn version_number(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

pub(crate) fn template_spec(spec: &LaunchTemplateSpecification) -> TemplateSpec {
    TemplateSpec {
        template_id: spec.launch_template_id().map(str::to_owned),
        template_name: spec.launch_template_name().map(str::to_owned),
        version: spec.version().map(str::to_owned),
    }
}

pub(crate) fn sdk_template_spec(spec: &TemplateSpec) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .set_launch_template_id(spec.template_id.clone())
        .set_launch_template_name(spec.template_name.clone())
        .set_version(spec.version.clone())
        .build()
}

/// The tag EC2 puts on instances launched from a launch template ("Launch an instance from a
/// launch template": `aws:ec2launchtemplate:id` / `aws:ec2launchtemplate:version`).
const TAG_TEMPLATE_ID: &str = "aws:ec2launchtemplate:id";
const TAG_TEMPLATE_VERSION: &str = "aws:ec2launchtemplate:version";

pub(crate) fn required<T>(
    value: Option<T>,
    operation: &'static str,
    what: &str,
) -> Result<T, AwsError> {
    value.ok_or_else(|| malformed(operation, what))
}

pub(crate) fn map_template(
    operation: &'static str,
    t: &aws_sdk_ec2::types::LaunchTemplate,
) -> Result<LaunchTemplate, AwsError> {
    Ok(LaunchTemplate {
        id: required(t.launch_template_id(), operation, "LaunchTemplateId")?.to_owned(),
        name: t.launch_template_name().unwrap_or_default().to_owned(),
        default_version: required(
            t.default_version_number().and_then(version_number),
            operation,
            "DefaultVersionNumber",
        )?,
        latest_version: required(
            t.latest_version_number().and_then(version_number),
            operation,
            "LatestVersionNumber",
        )?,
    })
}

pub(crate) fn map_version(
    operation: &'static str,
    v: &aws_sdk_ec2::types::LaunchTemplateVersion,
) -> Result<LaunchTemplateVersion, AwsError> {
    let data = v.launch_template_data();
    Ok(LaunchTemplateVersion {
        template_id: required(v.launch_template_id(), operation, "LaunchTemplateId")?.to_owned(),
        template_name: v.launch_template_name().map(str::to_owned),
        version: required(
            v.version_number().and_then(version_number),
            operation,
            "VersionNumber",
        )?,
        description: v.version_description().map(str::to_owned),
        image_id: data.and_then(|d| d.image_id()).map(str::to_owned),
        instance_type: data
            .and_then(|d| d.instance_type())
            .map(|t| t.as_str().to_owned()),
        is_default: v.default_version().unwrap_or(false),
        create_time: v.create_time().and_then(timestamp),
        block_device_mappings: data
            .map(|d| d.block_device_mappings())
            .unwrap_or_default()
            .iter()
            .map(|m| map_block_device(operation, m))
            .collect::<Result<Vec<_>, AwsError>>()?,
        user_data: data.and_then(|d| d.user_data()).map(str::to_owned),
    })
}

/// A `LaunchTemplateBlockDeviceMapping` of `DescribeLaunchTemplateVersions`, every member.
pub(crate) fn map_block_device(
    operation: &'static str,
    m: &aws_sdk_ec2::types::LaunchTemplateBlockDeviceMapping,
) -> Result<BlockDeviceMapping, AwsError> {
    Ok(BlockDeviceMapping {
        device_name: required(m.device_name(), operation, "BlockDeviceMappings.DeviceName")?
            .to_owned(),
        virtual_name: m.virtual_name().map(str::to_owned),
        no_device: m.no_device().map(str::to_owned),
        ebs: m.ebs().map(|e| EbsBlockDevice {
            snapshot_id: e.snapshot_id().map(str::to_owned),
            volume_size: e.volume_size(),
            volume_type: e.volume_type().map(|t| t.as_str().to_owned()),
            iops: e.iops(),
            throughput: e.throughput(),
            encrypted: e.encrypted(),
            kms_key_id: e.kms_key_id().map(str::to_owned),
            delete_on_termination: e.delete_on_termination(),
            volume_initialization_rate: e.volume_initialization_rate(),
            ebs_card_index: e.ebs_card_index(),
        }),
    })
}

/// A port block-device mapping as `CreateLaunchTemplateVersion` sends it.
pub(crate) fn sdk_block_device(
    m: &BlockDeviceMapping,
) -> aws_sdk_ec2::types::LaunchTemplateBlockDeviceMappingRequest {
    aws_sdk_ec2::types::LaunchTemplateBlockDeviceMappingRequest::builder()
        .device_name(&m.device_name)
        .set_virtual_name(m.virtual_name.clone())
        .set_no_device(m.no_device.clone())
        .set_ebs(m.ebs.as_ref().map(|e| {
            aws_sdk_ec2::types::LaunchTemplateEbsBlockDeviceRequest::builder()
                .set_snapshot_id(e.snapshot_id.clone())
                .set_volume_size(e.volume_size)
                .set_volume_type(
                    e.volume_type
                        .as_deref()
                        .map(aws_sdk_ec2::types::VolumeType::from),
                )
                .set_iops(e.iops)
                .set_throughput(e.throughput)
                .set_encrypted(e.encrypted)
                .set_kms_key_id(e.kms_key_id.clone())
                .set_delete_on_termination(e.delete_on_termination)
                .set_volume_initialization_rate(e.volume_initialization_rate)
                .set_ebs_card_index(e.ebs_card_index)
                .build()
        }))
        .build()
}

pub(crate) fn map_image(
    operation: &'static str,
    i: &aws_sdk_ec2::types::Image,
) -> Result<Image, AwsError> {
    Ok(Image {
        image_id: required(i.image_id(), operation, "ImageId")?.to_owned(),
        name: i.name().map(str::to_owned),
        state: i.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        architecture: i
            .architecture()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        creation_date: i.creation_date().and_then(parse_iso8601),
        deprecation_time: i.deprecation_time().and_then(parse_iso8601),
        owner_id: i.owner_id().map(str::to_owned),
        owner_alias: i.image_owner_alias().map(str::to_owned),
        public: i.public(),
        image_allowed: i.image_allowed(),
        root_device_name: i.root_device_name().map(str::to_owned),
    })
}

pub(crate) fn map_instance(
    operation: &'static str,
    i: &aws_sdk_ec2::types::Instance,
) -> Result<Ec2Instance, AwsError> {
    let tag = |key: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    };
    Ok(Ec2Instance {
        instance_id: required(i.instance_id(), operation, "InstanceId")?.to_owned(),
        image_id: i.image_id().unwrap_or_default().to_owned(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        launch_time: i.launch_time().and_then(timestamp),
        launch_template_id: tag(TAG_TEMPLATE_ID).map(str::to_owned),
        launch_template_version: tag(TAG_TEMPLATE_VERSION).and_then(|v| v.parse().ok()),
    })
}

pub(crate) fn map_group(
    operation: &'static str,
    g: &aws_sdk_autoscaling::types::AutoScalingGroup,
) -> Result<AutoScalingGroup, AwsError> {
    let mixed_instances_policy = g.mixed_instances_policy().map(map_mixed_policy);
    // Sized up front (a `collect` through `Result` cannot know the length and starts at four).
    let mut instances = Vec::with_capacity(g.instances().len());
    for i in g.instances() {
        instances.push(GroupInstance {
            instance_id: required(i.instance_id(), operation, "Instances.InstanceId")?.to_owned(),
            lifecycle_state: i
                .lifecycle_state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            health_status: i.health_status().unwrap_or_default().to_owned(),
            protected_from_scale_in: i.protected_from_scale_in().unwrap_or(false),
            availability_zone: i.availability_zone().unwrap_or_default().to_owned(),
            launch_template: i.launch_template().map(template_spec),
        });
    }
    let tags = g
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect::<BTreeMap<_, _>>();
    Ok(AutoScalingGroup {
        name: required(
            g.auto_scaling_group_name(),
            operation,
            "AutoScalingGroupName",
        )?
        .to_owned(),
        arn: g.auto_scaling_group_arn().map(str::to_owned),
        min_size: g.min_size().unwrap_or_default(),
        max_size: g.max_size().unwrap_or_default(),
        desired_capacity: g.desired_capacity().unwrap_or_default(),
        launch_template: g.launch_template().map(template_spec),
        mixed_instances_policy,
        termination_policies: g.termination_policies().to_vec(),
        suspended_processes: g
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_owned))
            .collect(),
        instances,
        tags,
        health_check_grace_period_secs: g
            .health_check_grace_period()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or_default(),
    })
}

/// A group's `MixedInstancesPolicy`: its launch template, every override and the instances
/// distribution (`InstanceRequirements` is only flagged: the port does not carry it).
pub(crate) fn map_mixed_policy(
    p: &aws_sdk_autoscaling::types::MixedInstancesPolicy,
) -> MixedInstancesPolicy {
    let lt = p.launch_template();
    MixedInstancesPolicy {
        template: lt
            .and_then(|l| l.launch_template_specification())
            .map(template_spec)
            .unwrap_or_default(),
        overrides: lt
            .map(|l| l.overrides())
            .unwrap_or_default()
            .iter()
            .map(|o| InstanceOverride {
                instance_type: o.instance_type().map(str::to_owned),
                template: o.launch_template_specification().map(template_spec),
                weighted_capacity: o.weighted_capacity().map(str::to_owned),
                image_id: o.image_id().map(str::to_owned),
                instance_requirements: o.instance_requirements().is_some(),
            })
            .collect(),
        distribution: p.instances_distribution().map(|d| InstancesDistribution {
            on_demand_allocation_strategy: d.on_demand_allocation_strategy().map(str::to_owned),
            on_demand_base_capacity: d.on_demand_base_capacity(),
            on_demand_percentage_above_base_capacity: d.on_demand_percentage_above_base_capacity(),
            spot_allocation_strategy: d.spot_allocation_strategy().map(str::to_owned),
            spot_instance_pools: d.spot_instance_pools(),
            spot_max_price: d.spot_max_price().map(str::to_owned),
        }),
    }
}

/// A port `MixedInstancesPolicy` as the SDK sends it, complete (members left out would be
/// reset), with `template` as its launch template when given.
pub(crate) fn sdk_mixed_policy(
    p: &MixedInstancesPolicy,
    template: Option<&TemplateSpec>,
) -> aws_sdk_autoscaling::types::MixedInstancesPolicy {
    use aws_sdk_autoscaling::types as t;
    let overrides = p
        .overrides
        .iter()
        .map(|o| {
            t::LaunchTemplateOverrides::builder()
                .set_instance_type(o.instance_type.clone())
                .set_weighted_capacity(o.weighted_capacity.clone())
                .set_launch_template_specification(o.template.as_ref().map(sdk_template_spec))
                .set_image_id(o.image_id.clone())
                .build()
        })
        .collect::<Vec<_>>();
    t::MixedInstancesPolicy::builder()
        .launch_template(
            t::LaunchTemplate::builder()
                .launch_template_specification(sdk_template_spec(template.unwrap_or(&p.template)))
                .set_overrides((!overrides.is_empty()).then_some(overrides))
                .build(),
        )
        .set_instances_distribution(p.distribution.as_ref().map(|d| {
            t::InstancesDistribution::builder()
                .set_on_demand_allocation_strategy(d.on_demand_allocation_strategy.clone())
                .set_on_demand_base_capacity(d.on_demand_base_capacity)
                .set_on_demand_percentage_above_base_capacity(
                    d.on_demand_percentage_above_base_capacity,
                )
                .set_spot_allocation_strategy(d.spot_allocation_strategy.clone())
                .set_spot_instance_pools(d.spot_instance_pools)
                .set_spot_max_price(d.spot_max_price.clone())
                .build()
        }))
        .build()
}

pub(crate) fn map_scheduled_action(
    operation: &'static str,
    a: &aws_sdk_autoscaling::types::ScheduledUpdateGroupAction,
) -> Result<ScheduledAction, AwsError> {
    Ok(ScheduledAction {
        group_name: required(
            a.auto_scaling_group_name(),
            operation,
            "AutoScalingGroupName",
        )?
        .to_owned(),
        name: required(a.scheduled_action_name(), operation, "ScheduledActionName")?.to_owned(),
        // `Time` is the deprecated alias of `StartTime`.
        start_time: required(
            a.start_time().or(a.time()).and_then(timestamp),
            operation,
            "StartTime",
        )?,
        min_size: a.min_size(),
        max_size: a.max_size(),
        desired_capacity: a.desired_capacity(),
        recurrence: a.recurrence().map(str::to_owned),
    })
}

/// `RefreshPreferences` as the SDK sends them ("RefreshPreferences", Amazon EC2 Auto Scaling API
/// Reference): every member the request has. `None` members, an empty `CheckpointPercentages`
/// and an empty alarm list are left out (the SDK would send an empty list as a bare parameter).
pub(crate) fn sdk_preferences(
    p: &RefreshPreferences,
) -> aws_sdk_autoscaling::types::RefreshPreferences {
    use aws_sdk_autoscaling::types::{
        AlarmSpecification, ScaleInProtectedInstances, StandbyInstances,
    };
    aws_sdk_autoscaling::types::RefreshPreferences::builder()
        .min_healthy_percentage(p.min_healthy_percentage)
        .max_healthy_percentage(p.max_healthy_percentage)
        .skip_matching(p.skip_matching)
        .set_instance_warmup(p.instance_warmup)
        .auto_rollback(p.auto_rollback)
        .set_checkpoint_percentages(
            (!p.checkpoint_percentages.is_empty()).then(|| p.checkpoint_percentages.clone()),
        )
        .set_checkpoint_delay(p.checkpoint_delay)
        .set_alarm_specification((!p.alarms.is_empty()).then(|| {
            AlarmSpecification::builder()
                .set_alarms(Some(p.alarms.clone()))
                .build()
        }))
        .set_bake_time(p.bake_time)
        .set_scale_in_protected_instances(
            p.scale_in_protected_instances
                .as_deref()
                .map(ScaleInProtectedInstances::from),
        )
        .set_standby_instances(p.standby_instances.as_deref().map(StandbyInstances::from))
        .build()
}

/// `StartInstanceRefresh` `DesiredConfiguration`: a `LaunchTemplate` by id and version number, when
/// the request names one.
pub(crate) fn sdk_desired(
    request: &StartRefreshRequest,
) -> Option<aws_sdk_autoscaling::types::DesiredConfiguration> {
    request.desired.as_ref().map(|d| {
        let spec = TemplateSpec {
            template_id: Some(d.template_id.clone()),
            template_name: None,
            version: Some(d.version.to_string()),
        };
        let builder = aws_sdk_autoscaling::types::DesiredConfiguration::builder();
        match &request.mixed_instances_policy {
            // A mixed group: the whole policy with the desired version, as the group takes the
            // desired configuration as given ("StartInstanceRefresh", `DesiredConfiguration`).
            Some(policy) => builder.mixed_instances_policy(sdk_mixed_policy(policy, Some(&spec))),
            None => builder.launch_template(sdk_template_spec(&spec)),
        }
        .build()
    })
}

pub(crate) fn map_refresh(
    operation: &'static str,
    group_name: &str,
    r: &aws_sdk_autoscaling::types::InstanceRefresh,
) -> Result<InstanceRefresh, AwsError> {
    Ok(InstanceRefresh {
        id: required(r.instance_refresh_id(), operation, "InstanceRefreshId")?.to_owned(),
        group_name: r.auto_scaling_group_name().unwrap_or(group_name).to_owned(),
        status: required(r.status(), operation, "Status")?
            .as_str()
            .to_owned(),
        status_reason: r.status_reason().map(str::to_owned),
        start_time: r.start_time().and_then(timestamp),
        end_time: r.end_time().and_then(timestamp),
        percentage_complete: r.percentage_complete(),
        instances_to_update: r.instances_to_update(),
        // A mixed group's refresh names its template inside the desired MixedInstancesPolicy.
        desired_template: r
            .desired_configuration()
            .and_then(|d| {
                d.launch_template().or_else(|| {
                    d.mixed_instances_policy()
                        .and_then(|m| m.launch_template())
                        .and_then(|l| l.launch_template_specification())
                })
            })
            .map(template_spec),
    })
}

/// An ECS capacity provider backed by an Auto Scaling group; `None` for the others (Fargate,
/// ECS Managed Instances).
pub(crate) fn map_capacity_provider(
    operation: &'static str,
    p: &aws_sdk_ecs::types::CapacityProvider,
) -> Result<Option<CapacityProvider>, AwsError> {
    use aws_sdk_ecs::types::{ManagedDraining, ManagedScalingStatus, ManagedTerminationProtection};
    let Some(asg) = p.auto_scaling_group_provider() else {
        return Ok(None);
    };
    Ok(Some(CapacityProvider {
        name: required(p.name(), operation, "capacityProviders.name")?.to_owned(),
        auto_scaling_group_arn: asg.auto_scaling_group_arn().to_owned(),
        managed_scaling: asg.managed_scaling().and_then(|m| m.status())
            == Some(&ManagedScalingStatus::Enabled),
        managed_termination_protection: asg.managed_termination_protection()
            == Some(&ManagedTerminationProtection::Enabled),
        managed_draining: asg.managed_draining() == Some(&ManagedDraining::Enabled),
    }))
}

/// A `Cluster` of `DescribeClusters` ("Cluster", Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Cluster.html): its ARN is
/// required; a missing name is read from the ARN, a missing status is left empty (not
/// `INACTIVE`), missing capacity providers are none.
pub(crate) fn map_cluster(
    operation: &'static str,
    c: &aws_sdk_ecs::types::Cluster,
) -> Result<EcsCluster, AwsError> {
    let arn = required(c.cluster_arn(), operation, "clusters.clusterArn")?.to_owned();
    let name = c.cluster_name().map_or_else(
        || amiroll_core::ecs::cluster_name(&arn).to_owned(),
        str::to_owned,
    );
    Ok(EcsCluster {
        name,
        status: c.status().unwrap_or_default().to_owned(),
        capacity_providers: c.capacity_providers().to_vec(),
        arn,
    })
}

/// The ARN of the cluster a request named (a short name or an ARN). The `ContainerInstance`
/// data type has no cluster member; a short name is completed with the partition, Region and
/// account of the container instance's ARN (`arn:P:ecs:R:A:container-instance/…`), which are the
/// cluster's ("Amazon Resource Names (ARNs) and IDs", Amazon ECS Developer Guide,
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids).
pub(crate) fn cluster_arn(cluster: &str, container_instance_arn: &str) -> String {
    if amiroll_core::ecs::parse_cluster_arn(cluster).is_some() {
        return cluster.to_owned();
    }
    let parts: Vec<&str> = container_instance_arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "ecs", region, account, _] => {
            format!("arn:{partition}:ecs:{region}:{account}:cluster/{cluster}")
        }
        _ => cluster.to_owned(),
    }
}

/// A `ContainerInstance` of `DescribeContainerInstances` / `UpdateContainerInstancesState` in
/// `cluster` (as the request named it).
pub(crate) fn map_container_instance(
    operation: &'static str,
    cluster: &str,
    c: &aws_sdk_ecs::types::ContainerInstance,
) -> Result<ContainerInstance, AwsError> {
    let arn = required(
        c.container_instance_arn(),
        operation,
        "containerInstances.containerInstanceArn",
    )?;
    Ok(ContainerInstance {
        cluster_arn: cluster_arn(cluster, arn),
        container_instance_arn: arn.to_owned(),
        ec2_instance_id: c.ec2_instance_id().map(str::to_owned),
        status: required(c.status(), operation, "containerInstances.status")?.to_owned(),
        agent_connected: c.agent_connected(),
        running_tasks_count: c.running_tasks_count(),
        pending_tasks_count: c.pending_tasks_count(),
        registered_at: c.registered_at().and_then(timestamp),
        // "attributes": name and, when it has one, value ("Attribute", Amazon ECS API
        // Reference, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attribute.html).
        attributes: c
            .attributes()
            .iter()
            .map(|a| {
                (
                    a.name().to_owned(),
                    a.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    })
}

/// One attribute of a `PutAttributes` request. An ARN is sent as it is; a short id needs
/// `targetType` `container-instance` ("This parameter is required if you use the short form ID
/// for a resource instead of the full ARN", "Attribute", Amazon ECS API Reference). An empty
/// value is sent as none (a value has 1–128 characters).
pub(crate) fn sdk_attribute(
    operation: &'static str,
    a: &ContainerInstanceAttribute,
) -> Result<aws_sdk_ecs::types::Attribute, AwsError> {
    let short_id = !a.target_id.starts_with("arn:");
    aws_sdk_ecs::types::Attribute::builder()
        .name(&a.name)
        .set_value((!a.value.is_empty()).then(|| a.value.clone()))
        .target_id(&a.target_id)
        .set_target_type(short_id.then_some(aws_sdk_ecs::types::TargetType::ContainerInstance))
        .build()
        .map_err(|e| {
            AwsError::new(
                operation,
                amiroll_core::port::ErrorKind::Invalid,
                "ConstructionFailure",
                e.to_string(),
            )
        })
}

/// A `LifecycleHook` of `DescribeLifecycleHooks` ("LifecycleHook", Amazon EC2 Auto Scaling API
/// Reference, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html):
/// name, transition, heartbeat and global timeouts and default result are always there.
pub(crate) fn map_lifecycle_hook(
    operation: &'static str,
    group_name: &str,
    h: &aws_sdk_autoscaling::types::LifecycleHook,
) -> Result<LifecycleHook, AwsError> {
    let seconds = |value: Option<i32>, what: &str| -> Result<u32, AwsError> {
        u32::try_from(required(value, operation, what)?)
            .map_err(|_| malformed(operation, &format!("non-negative {what}")))
    };
    Ok(LifecycleHook {
        group_name: h.auto_scaling_group_name().unwrap_or(group_name).to_owned(),
        name: required(h.lifecycle_hook_name(), operation, "LifecycleHookName")?.to_owned(),
        transition: required(h.lifecycle_transition(), operation, "LifecycleTransition")?
            .to_owned(),
        heartbeat_timeout_secs: seconds(h.heartbeat_timeout(), "HeartbeatTimeout")?,
        global_timeout_secs: seconds(h.global_timeout(), "GlobalTimeout")?,
        default_result: required(h.default_result(), operation, "DefaultResult")?.to_owned(),
    })
}

/// A `Failure` of `DescribeContainerInstances` / `UpdateContainerInstancesState`.
pub(crate) fn map_container_instance_failure(
    f: &aws_sdk_ecs::types::Failure,
) -> ContainerInstanceFailure {
    ContainerInstanceFailure {
        arn: f.arn().map(str::to_owned),
        reason: f.reason().unwrap_or_default().to_owned(),
        detail: f.detail().map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amiroll_core::port::op;
    use chrono::TimeZone;

    #[test]
    fn timestamps_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 10, 30, 5).single();
        let Some(t) = t else { panic!("valid date") };
        let t = t + chrono::Duration::milliseconds(250);
        assert_eq!(timestamp(&smithy_time(&t)), Some(t));
    }

    #[test]
    fn ec2_iso_strings_parse() {
        let parsed = parse_iso8601("2024-03-01T12:00:00.000Z");
        assert_eq!(
            parsed,
            Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).single(),
            "CreationDate format"
        );
        assert_eq!(parse_iso8601("not a date"), None);
    }

    #[test]
    fn negative_version_numbers_are_rejected() {
        assert_eq!(version_number(3), Some(3));
        assert_eq!(version_number(-1), None);
    }

    fn preferences() -> RefreshPreferences {
        RefreshPreferences {
            min_healthy_percentage: 100,
            max_healthy_percentage: 200,
            skip_matching: true,
            instance_warmup: Some(30),
            auto_rollback: true,
            checkpoint_percentages: vec![20, 100],
            checkpoint_delay: Some(600),
            alarms: vec!["a".to_owned()],
            bake_time: Some(0),
            scale_in_protected_instances: Some("Refresh".to_owned()),
            standby_instances: Some("Wait".to_owned()),
        }
    }

    #[test]
    fn every_preference_is_sent() {
        let p = sdk_preferences(&preferences());
        assert_eq!(p.min_healthy_percentage(), Some(100));
        assert_eq!(p.max_healthy_percentage(), Some(200));
        assert_eq!(p.skip_matching(), Some(true));
        assert_eq!(p.instance_warmup(), Some(30));
        assert_eq!(p.auto_rollback(), Some(true));
        assert_eq!(p.checkpoint_percentages(), [20, 100]);
        assert_eq!(p.checkpoint_delay(), Some(600));
        assert_eq!(
            p.alarm_specification().map(|a| a.alarms()),
            Some(&["a".to_owned()][..])
        );
        assert_eq!(p.bake_time(), Some(0));
        assert_eq!(
            p.scale_in_protected_instances().map(|s| s.as_str()),
            Some("Refresh")
        );
        assert_eq!(p.standby_instances().map(|s| s.as_str()), Some("Wait"));
    }

    #[test]
    fn absent_preferences_are_left_out() {
        let p = sdk_preferences(&RefreshPreferences {
            instance_warmup: None,
            checkpoint_percentages: Vec::new(),
            checkpoint_delay: None,
            alarms: Vec::new(),
            bake_time: None,
            scale_in_protected_instances: None,
            standby_instances: None,
            ..preferences()
        });
        assert_eq!(p.instance_warmup(), None);
        assert_eq!(p.checkpoint_delay(), None);
        assert_eq!(p.bake_time(), None);
        assert_eq!(p.scale_in_protected_instances(), None);
        assert_eq!(p.standby_instances(), None);
        assert_eq!(p.alarm_specification(), None);
        // `None`, not an empty list (which the Query protocol would send as a bare parameter).
        assert_eq!(p.checkpoint_percentages, None);
        // The four required members are always there.
        assert_eq!(p.min_healthy_percentage(), Some(100));
        assert_eq!(p.max_healthy_percentage(), Some(200));
        assert_eq!(p.skip_matching(), Some(true));
        assert_eq!(p.auto_rollback(), Some(true));
    }

    fn bare() -> RefreshPreferences {
        RefreshPreferences {
            min_healthy_percentage: 90,
            max_healthy_percentage: 100,
            skip_matching: false,
            instance_warmup: None,
            auto_rollback: false,
            checkpoint_percentages: Vec::new(),
            checkpoint_delay: None,
            alarms: Vec::new(),
            bake_time: None,
            scale_in_protected_instances: None,
            standby_instances: None,
        }
    }

    #[test]
    fn desired_configuration_names_the_version_by_number() {
        let mut request = StartRefreshRequest {
            group_name: "g".to_owned(),
            desired: Some(amiroll_core::port::DesiredTemplate {
                template_id: "lt-1".to_owned(),
                version: 7,
            }),
            preferences: bare(),
            mixed_instances_policy: None,
        };
        let desired = sdk_desired(&request).expect("desired configuration");
        let lt = desired.launch_template().expect("launch template");
        assert_eq!(lt.launch_template_id(), Some("lt-1"));
        assert_eq!(lt.launch_template_name(), None);
        assert_eq!(lt.version(), Some("7"));
        assert_eq!(desired.mixed_instances_policy(), None);
        request.desired = None;
        assert_eq!(sdk_desired(&request), None);
    }

    fn mixed_policy() -> MixedInstancesPolicy {
        MixedInstancesPolicy {
            template: TemplateSpec {
                template_id: Some("lt-1".to_owned()),
                template_name: None,
                version: Some("3".to_owned()),
            },
            overrides: vec![
                InstanceOverride {
                    instance_type: Some("m5.large".to_owned()),
                    weighted_capacity: Some("2".to_owned()),
                    ..InstanceOverride::default()
                },
                InstanceOverride {
                    instance_type: Some("m6g.large".to_owned()),
                    template: Some(TemplateSpec {
                        template_id: Some("lt-arm".to_owned()),
                        template_name: None,
                        version: Some("4".to_owned()),
                    }),
                    ..InstanceOverride::default()
                },
            ],
            distribution: Some(InstancesDistribution {
                on_demand_base_capacity: Some(1),
                on_demand_percentage_above_base_capacity: Some(25),
                spot_allocation_strategy: Some("price-capacity-optimized".to_owned()),
                spot_max_price: Some(String::new()),
                ..InstancesDistribution::default()
            }),
        }
    }

    /// A mixed group is refreshed with its whole policy, the desired version in place of the
    /// policy's own, and the policy survives a trip through the SDK shape unchanged.
    #[test]
    fn desired_configuration_of_a_mixed_group_is_the_complete_policy() {
        let request = StartRefreshRequest {
            group_name: "g".to_owned(),
            desired: Some(amiroll_core::port::DesiredTemplate {
                template_id: "lt-1".to_owned(),
                version: 7,
            }),
            preferences: bare(),
            mixed_instances_policy: Some(mixed_policy()),
        };
        let desired = sdk_desired(&request).expect("desired configuration");
        assert_eq!(desired.launch_template(), None);
        let sent = desired
            .mixed_instances_policy()
            .expect("mixed instances policy");
        let lt = sent
            .launch_template()
            .and_then(|l| l.launch_template_specification())
            .expect("template");
        assert_eq!(
            (lt.launch_template_id(), lt.version()),
            (Some("lt-1"), Some("7"))
        );
        let back = map_mixed_policy(sent);
        assert_eq!(back.overrides, mixed_policy().overrides);
        assert_eq!(back.distribution, mixed_policy().distribution);
        assert_eq!(
            map_mixed_policy(&sdk_mixed_policy(&mixed_policy(), None)),
            mixed_policy()
        );
    }

    #[test]
    fn block_device_mappings_are_sent_back_unchanged() {
        let mapping = BlockDeviceMapping {
            device_name: "/dev/xvdb".to_owned(),
            ebs: Some(EbsBlockDevice {
                snapshot_id: Some("snap-1".to_owned()),
                volume_size: Some(100),
                volume_type: Some("gp3".to_owned()),
                iops: Some(3000),
                throughput: Some(125),
                encrypted: Some(true),
                kms_key_id: Some("alias/ebs".to_owned()),
                delete_on_termination: Some(false),
                volume_initialization_rate: Some(300),
                ebs_card_index: None,
            }),
            ..BlockDeviceMapping::default()
        };
        let sent = sdk_block_device(&mapping);
        let e = sent.ebs().expect("ebs");
        // What EC2 stores from the request is what it reports: rebuild the response shape.
        let stored = aws_sdk_ec2::types::LaunchTemplateBlockDeviceMapping::builder()
            .set_device_name(sent.device_name().map(str::to_owned))
            .ebs(
                aws_sdk_ec2::types::LaunchTemplateEbsBlockDevice::builder()
                    .set_snapshot_id(e.snapshot_id().map(str::to_owned))
                    .set_volume_size(e.volume_size())
                    .set_volume_type(e.volume_type().cloned())
                    .set_iops(e.iops())
                    .set_throughput(e.throughput())
                    .set_encrypted(e.encrypted())
                    .set_kms_key_id(e.kms_key_id().map(str::to_owned))
                    .set_delete_on_termination(e.delete_on_termination())
                    .set_volume_initialization_rate(e.volume_initialization_rate())
                    .build(),
            )
            .build();
        assert_eq!(
            map_block_device(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, &stored).expect("mapped"),
            mapping
        );
    }

    #[test]
    fn refreshes_map_status_times_and_desired_template() {
        use aws_sdk_autoscaling::types::{
            DesiredConfiguration, InstanceRefresh as SdkRefresh, InstanceRefreshStatus,
            LaunchTemplateSpecification,
        };
        let sdk = SdkRefresh::builder()
            .instance_refresh_id("r-1")
            .status(InstanceRefreshStatus::RollbackInProgress)
            .status_reason("rolling back")
            .start_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .percentage_complete(40)
            .instances_to_update(3)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .launch_template_id("lt-1")
                            .version("7")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let r = map_refresh(op::DESCRIBE_INSTANCE_REFRESHES, "g", &sdk).expect("mapped");
        assert_eq!(r.id, "r-1");
        assert_eq!(r.group_name, "g", "falls back to the group asked for");
        assert_eq!(r.status, "RollbackInProgress");
        assert!(!r.is_terminal());
        assert_eq!(r.status_reason.as_deref(), Some("rolling back"));
        assert_eq!(r.start_time.map(|t| t.timestamp()), Some(1_700_000_000));
        assert_eq!(r.end_time, None);
        assert_eq!(r.percentage_complete, Some(40));
        assert_eq!(r.instances_to_update, Some(3));
        assert_eq!(
            r.desired_template,
            Some(TemplateSpec {
                template_id: Some("lt-1".to_owned()),
                template_name: None,
                version: Some("7".to_owned()),
            })
        );

        let no_status = SdkRefresh::builder().instance_refresh_id("r-2").build();
        let err = map_refresh(op::DESCRIBE_INSTANCE_REFRESHES, "g", &no_status)
            .expect_err("Status is always sent");
        assert_eq!(err.code, "MalformedResponse");
    }

    #[test]
    fn capacity_providers_without_a_group_are_skipped() {
        use aws_sdk_ecs::types::{
            AutoScalingGroupProvider, CapacityProvider as SdkProvider, ManagedDraining,
            ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection,
        };
        let fargate = SdkProvider::builder().name("FARGATE").build();
        assert_eq!(
            map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &fargate).expect("mapped"),
            None
        );

        let asg = |scaling, protection, draining| {
            AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn("arn:asg")
                .managed_scaling(ManagedScaling::builder().status(scaling).build())
                .managed_termination_protection(protection)
                .managed_draining(draining)
                .build()
                .expect("provider")
        };
        let enabled = SdkProvider::builder()
            .name("cp")
            .auto_scaling_group_provider(asg(
                ManagedScalingStatus::Enabled,
                ManagedTerminationProtection::Enabled,
                ManagedDraining::Enabled,
            ))
            .build();
        assert_eq!(
            map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &enabled).expect("mapped"),
            Some(CapacityProvider {
                name: "cp".to_owned(),
                auto_scaling_group_arn: "arn:asg".to_owned(),
                managed_scaling: true,
                managed_termination_protection: true,
                managed_draining: true,
            })
        );
        let disabled = SdkProvider::builder()
            .name("cp")
            .auto_scaling_group_provider(asg(
                ManagedScalingStatus::Disabled,
                ManagedTerminationProtection::Disabled,
                ManagedDraining::Disabled,
            ))
            .build();
        let mapped = map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &disabled)
            .expect("mapped")
            .expect("an ASG provider");
        assert!(
            !mapped.managed_scaling
                && !mapped.managed_termination_protection
                && !mapped.managed_draining
        );
        // Absent members (older providers, or an emulator that drops them) read as disabled.
        let bare = SdkProvider::builder()
            .name("cp")
            .auto_scaling_group_provider(
                AutoScalingGroupProvider::builder()
                    .auto_scaling_group_arn("arn:asg")
                    .build()
                    .expect("provider"),
            )
            .build();
        let mapped = map_capacity_provider(op::DESCRIBE_CAPACITY_PROVIDERS, &bare)
            .expect("mapped")
            .expect("an ASG provider");
        assert!(!mapped.managed_draining);
    }

    #[test]
    fn container_instances_carry_their_cluster_arn() {
        use aws_sdk_ecs::types::{ContainerInstance as SdkInstance, Failure};
        let long = "arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/0f3c";
        let sdk = SdkInstance::builder()
            .container_instance_arn(long)
            .ec2_instance_id("i-0abc")
            .status("DRAINING")
            .agent_connected(true)
            .running_tasks_count(3)
            .pending_tasks_count(1)
            .registered_at(DateTime::from_secs(1_800_000_000))
            .build();
        let c =
            map_container_instance(op::DESCRIBE_CONTAINER_INSTANCES, "prod", &sdk).expect("mapped");
        assert_eq!(
            c.cluster_arn,
            "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
        );
        assert_eq!(c.container_instance_arn, long);
        assert_eq!(c.ec2_instance_id.as_deref(), Some("i-0abc"));
        assert!(c.is_draining());
        assert!(c.agent_connected);
        assert_eq!((c.running_tasks_count, c.pending_tasks_count), (3, 1));
        assert_eq!(c.registered_at.map(|t| t.timestamp()), Some(1_800_000_000));
        // A cluster given as an ARN is kept; the short ARN format works as well.
        let arn = "arn:aws-cn:ecs:cn-north-1:123456789012:cluster/batch";
        assert_eq!(cluster_arn(arn, long), arn);
        assert_eq!(
            cluster_arn(
                "batch",
                "arn:aws-cn:ecs:cn-north-1:123456789012:container-instance/0f3c"
            ),
            arn
        );
        // No ARN and no status: a malformed answer, not a guess.
        let err = map_container_instance(
            op::DESCRIBE_CONTAINER_INSTANCES,
            "prod",
            &SdkInstance::builder().status("ACTIVE").build(),
        )
        .expect_err("no arn");
        assert_eq!(err.code, "MalformedResponse");
        let err = map_container_instance(
            op::DESCRIBE_CONTAINER_INSTANCES,
            "prod",
            &SdkInstance::builder().container_instance_arn(long).build(),
        )
        .expect_err("no status");
        assert_eq!(err.code, "MalformedResponse");
        let f =
            map_container_instance_failure(&Failure::builder().arn(long).reason("MISSING").build());
        assert_eq!(
            f,
            ContainerInstanceFailure {
                arn: Some(long.to_owned()),
                reason: "MISSING".to_owned(),
                detail: None
            }
        );
    }

    #[test]
    fn lifecycle_hooks_need_every_member_aws_always_sends() {
        use aws_sdk_autoscaling::types::LifecycleHook as SdkHook;
        let full = || {
            SdkHook::builder()
                .lifecycle_hook_name("drain")
                .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
                .heartbeat_timeout(300)
                .global_timeout(30_000)
                .default_result("CONTINUE")
        };
        // The group is the one asked for when the answer leaves it out.
        let h = map_lifecycle_hook(op::DESCRIBE_LIFECYCLE_HOOKS, "web", &full().build())
            .expect("mapped");
        assert_eq!(h.group_name, "web");
        assert_eq!(
            (h.heartbeat_timeout_secs, h.global_timeout_secs),
            (300, 30_000)
        );
        assert!(h.is_terminating());
        for (what, broken) in [
            ("name", full().set_lifecycle_hook_name(None).build()),
            ("transition", full().set_lifecycle_transition(None).build()),
            ("heartbeat", full().set_heartbeat_timeout(None).build()),
            ("global", full().set_global_timeout(None).build()),
            ("default result", full().set_default_result(None).build()),
            ("negative heartbeat", full().heartbeat_timeout(-1).build()),
        ] {
            let err =
                map_lifecycle_hook(op::DESCRIBE_LIFECYCLE_HOOKS, "web", &broken).expect_err(what);
            assert_eq!(err.code, "MalformedResponse", "{what}");
            assert_eq!(err.operation, op::DESCRIBE_LIFECYCLE_HOOKS);
        }
    }

    #[test]
    fn attributes_name_their_target_as_aws_needs_it() {
        use aws_sdk_ecs::types::TargetType;
        let arn = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0f3c";
        let a = sdk_attribute(
            op::PUT_ATTRIBUTES,
            &ContainerInstanceAttribute {
                target_id: arn.to_owned(),
                name: "amiroll.drain-since".to_owned(),
                value: "2026-11-26T13:00:00Z".to_owned(),
            },
        )
        .expect("built");
        // An ARN needs no target type; the value is sent.
        assert_eq!(a.target_id(), Some(arn));
        assert_eq!(a.target_type(), None);
        assert_eq!(a.name(), "amiroll.drain-since");
        assert_eq!(a.value(), Some("2026-11-26T13:00:00Z"));
        // A short id is a container instance's; an empty value is none.
        let a = sdk_attribute(
            op::PUT_ATTRIBUTES,
            &ContainerInstanceAttribute {
                target_id: "0f3c".to_owned(),
                name: "marker".to_owned(),
                value: String::new(),
            },
        )
        .expect("built");
        assert_eq!(a.target_type(), Some(&TargetType::ContainerInstance));
        assert_eq!(a.value(), None);
    }
}
