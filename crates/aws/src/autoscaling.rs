//! Amazon EC2 Auto Scaling: groups, instance protection, scheduled actions, tags and instance
//! refreshes.

use std::collections::BTreeMap;

use amiroll_core::port::{
    op, AutoScalingGroup, AwsError, InstanceRefresh, LifecycleActionResult, LifecycleHook,
    PutLifecycleHookRequest, ScheduledAction, StartRefreshRequest, UpdateGroupRequest,
};

use crate::convert::{
    map_group, map_lifecycle_hook, map_refresh, map_scheduled_action, required, sdk_desired,
    sdk_mixed_policy, sdk_preferences, sdk_template_spec, smithy_time,
};
use crate::error::from_sdk;
use crate::{all_pages, unique};

/// `MaxRecords` for `DescribeInstanceRefreshes` (its maximum; the default is 50).
const REFRESHES_PAGE: i32 = 100;

/// "DescribeAutoScalingGroups" (all pages) by names or by a filter. MaxRecords defaults to 50;
/// 100 is the most a page holds.
async fn list_groups(
    client: &aws_sdk_autoscaling::Client,
    names: Option<Vec<String>>,
    filter: Option<aws_sdk_autoscaling::types::Filter>,
) -> Result<Vec<AutoScalingGroup>, AwsError> {
    let (names, filter) = (&names, &filter);
    all_pages(|token| async move {
        let out = client
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(names.clone())
            .set_filters(filter.clone().map(|f| vec![f]))
            .max_records(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(op::DESCRIBE_AUTO_SCALING_GROUPS, e))?;
        let groups = out
            .auto_scaling_groups()
            .iter()
            .map(|group| map_group(op::DESCRIBE_AUTO_SCALING_GROUPS, group))
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((groups, out.next_token().map(str::to_owned)))
    })
    .await
}

/// "DescribeAutoScalingGroups" (Amazon EC2 Auto Scaling API Reference), all pages. Missing
/// groups are simply absent.
pub(crate) async fn describe_auto_scaling_groups(
    client: &aws_sdk_autoscaling::Client,
    names: &[String],
) -> Result<Vec<AutoScalingGroup>, AwsError> {
    let names = unique(names);
    if names.is_empty() {
        // No names would list every group in the Region.
        return Ok(Vec::new());
    }
    list_groups(client, Some(names), None).await
}

/// "DescribeAutoScalingGroups" with `Filters` `tag-key`: every group carrying the tag.
pub(crate) async fn describe_auto_scaling_groups_by_tag(
    client: &aws_sdk_autoscaling::Client,
    key: &str,
) -> Result<Vec<AutoScalingGroup>, AwsError> {
    let filter = aws_sdk_autoscaling::types::Filter::builder()
        .name("tag-key")
        .values(key)
        .build();
    list_groups(client, None, Some(filter)).await
}

/// "UpdateAutoScalingGroup" (Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html):
/// only the members given (an omitted size keeps its value; AWS checks
/// min ≤ desired ≤ max and answers `ValidationError` otherwise).
pub(crate) async fn update_auto_scaling_group(
    client: &aws_sdk_autoscaling::Client,
    request: &UpdateGroupRequest,
) -> Result<(), AwsError> {
    client
        .update_auto_scaling_group()
        .auto_scaling_group_name(&request.group_name)
        .set_launch_template(request.launch_template.as_ref().map(sdk_template_spec))
        .set_mixed_instances_policy(
            request
                .mixed_instances_policy
                .as_ref()
                .map(|p| sdk_mixed_policy(p, None)),
        )
        .set_termination_policies(request.termination_policies.clone())
        .set_min_size(request.min_size)
        .set_max_size(request.max_size)
        .set_desired_capacity(request.desired_capacity)
        .send()
        .await
        .map_err(|e| from_sdk(op::UPDATE_AUTO_SCALING_GROUP, e))?;
    Ok(())
}

/// "SetInstanceProtection" (Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceProtection.html):
/// up to 50 `InstanceIds` of one group and `ProtectedFromScaleIn`. An instance outside the
/// group is a `ValidationError` (`Invalid`).
pub(crate) async fn set_instance_protection(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
    instance_ids: &[String],
    protected: bool,
) -> Result<(), AwsError> {
    client
        .set_instance_protection()
        .auto_scaling_group_name(group_name)
        .set_instance_ids(Some(instance_ids.to_vec()))
        .protected_from_scale_in(protected)
        .send()
        .await
        .map_err(|e| from_sdk(op::SET_INSTANCE_PROTECTION, e))?;
    Ok(())
}

/// "DescribeScheduledActions" (Amazon EC2 Auto Scaling API Reference): actions that have not
/// run yet, all pages.
pub(crate) async fn describe_scheduled_actions(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
) -> Result<Vec<ScheduledAction>, AwsError> {
    all_pages(|token| async move {
        let out = client
            .describe_scheduled_actions()
            .auto_scaling_group_name(group_name)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(op::DESCRIBE_SCHEDULED_ACTIONS, e))?;
        let actions = out
            .scheduled_update_group_actions()
            .iter()
            .map(|action| map_scheduled_action(op::DESCRIBE_SCHEDULED_ACTIONS, action))
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((actions, out.next_token().map(str::to_owned)))
    })
    .await
}

/// "PutScheduledUpdateGroupAction" (Amazon EC2 Auto Scaling API Reference): create or update
/// by name. Only the sizes given are sent (an unspecified one keeps its old value on update);
/// `Recurrence` is never sent.
pub(crate) async fn put_scheduled_update_group_action(
    client: &aws_sdk_autoscaling::Client,
    action: &ScheduledAction,
) -> Result<(), AwsError> {
    client
        .put_scheduled_update_group_action()
        .auto_scaling_group_name(&action.group_name)
        .scheduled_action_name(&action.name)
        .start_time(smithy_time(&action.start_time))
        .set_min_size(action.min_size)
        .set_max_size(action.max_size)
        .set_desired_capacity(action.desired_capacity)
        .send()
        .await
        .map_err(|e| from_sdk(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION, e))?;
    Ok(())
}

/// "DeleteScheduledAction" (Amazon EC2 Auto Scaling API Reference).
pub(crate) async fn delete_scheduled_action(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
    action_name: &str,
) -> Result<(), AwsError> {
    client
        .delete_scheduled_action()
        .auto_scaling_group_name(group_name)
        .scheduled_action_name(action_name)
        .send()
        .await
        .map_err(|e| from_sdk(op::DELETE_SCHEDULED_ACTION, e))?;
    Ok(())
}

/// "CreateOrUpdateTags" (Amazon EC2 Auto Scaling API Reference): `ResourceType`
/// `auto-scaling-group`, `PropagateAtLaunch` false.
pub(crate) async fn create_or_update_tags(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tags = tags
        .iter()
        .map(|(key, value)| {
            aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(group_name)
                .resource_type("auto-scaling-group")
                .key(key)
                .value(value)
                .propagate_at_launch(false)
                .build()
        })
        .collect();
    client
        .create_or_update_tags()
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| from_sdk(op::CREATE_OR_UPDATE_TAGS, e))?;
    Ok(())
}

/// "DeleteTags" (Amazon EC2 Auto Scaling API Reference).
pub(crate) async fn delete_tags(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
    keys: &[String],
) -> Result<(), AwsError> {
    if keys.is_empty() {
        return Ok(());
    }
    let tags = keys
        .iter()
        .map(|key| {
            aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(group_name)
                .resource_type("auto-scaling-group")
                .key(key)
                .build()
        })
        .collect();
    client
        .delete_tags()
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| from_sdk(op::DELETE_TAGS, e))?;
    Ok(())
}

/// "StartInstanceRefresh" (Amazon EC2 Auto Scaling API Reference): `Strategy` `Rolling`, the
/// desired launch template version by number when given, and every preference the request
/// has. An active refresh fails with `InstanceRefreshInProgress` (`Conflict`).
pub(crate) async fn start_instance_refresh(
    client: &aws_sdk_autoscaling::Client,
    request: &StartRefreshRequest,
) -> Result<String, AwsError> {
    let out = client
        .start_instance_refresh()
        .auto_scaling_group_name(&request.group_name)
        .strategy(aws_sdk_autoscaling::types::RefreshStrategy::Rolling)
        .set_desired_configuration(sdk_desired(request))
        .preferences(sdk_preferences(&request.preferences))
        .send()
        .await
        .map_err(|e| from_sdk(op::START_INSTANCE_REFRESH, e))?;
    Ok(required(
        out.instance_refresh_id(),
        op::START_INSTANCE_REFRESH,
        "InstanceRefreshId",
    )?
    .to_owned())
}

/// "DescribeInstanceRefreshes" (Amazon EC2 Auto Scaling API Reference): the group's refreshes
/// of the last six weeks, newest first as AWS orders them, all pages (`MaxRecords` 100).
pub(crate) async fn describe_instance_refreshes(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
) -> Result<Vec<InstanceRefresh>, AwsError> {
    const OP: &str = op::DESCRIBE_INSTANCE_REFRESHES;
    all_pages(|token| async move {
        let out = client
            .describe_instance_refreshes()
            .auto_scaling_group_name(group_name)
            .max_records(REFRESHES_PAGE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
        let refreshes = out
            .instance_refreshes()
            .iter()
            .map(|refresh| map_refresh(OP, group_name, refresh))
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((refreshes, out.next_token().map(str::to_owned)))
    })
    .await
}

/// "RollbackInstanceRefresh" (Amazon EC2 Auto Scaling API Reference): no active refresh is
/// `ActiveInstanceRefreshNotFound` (`NotFound`); one without a desired configuration (or on
/// `$Latest`/`$Default` or an SSM-parameter AMI) is `IrreversibleInstanceRefresh` (`Invalid`).
pub(crate) async fn rollback_instance_refresh(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
) -> Result<String, AwsError> {
    let out = client
        .rollback_instance_refresh()
        .auto_scaling_group_name(group_name)
        .send()
        .await
        .map_err(|e| from_sdk(op::ROLLBACK_INSTANCE_REFRESH, e))?;
    Ok(required(
        out.instance_refresh_id(),
        op::ROLLBACK_INSTANCE_REFRESH,
        "InstanceRefreshId",
    )?
    .to_owned())
}

/// "CancelInstanceRefresh" (Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CancelInstanceRefresh.html):
/// `WaitForTransitioningInstances` left at its default (true); no refresh in progress is
/// `ActiveInstanceRefreshNotFound` (`NotFound`). Returns the refresh id.
pub(crate) async fn cancel_instance_refresh(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
) -> Result<String, AwsError> {
    let out = client
        .cancel_instance_refresh()
        .auto_scaling_group_name(group_name)
        .send()
        .await
        .map_err(|e| from_sdk(op::CANCEL_INSTANCE_REFRESH, e))?;
    Ok(required(
        out.instance_refresh_id(),
        op::CANCEL_INSTANCE_REFRESH,
        "InstanceRefreshId",
    )?
    .to_owned())
}

/// "DescribeLifecycleHooks" (Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeLifecycleHooks.html):
/// every hook of the group (no `LifecycleHookNames`; the operation has no paging). An unknown
/// group is a `ValidationError` (`Invalid`).
pub(crate) async fn describe_lifecycle_hooks(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
) -> Result<Vec<LifecycleHook>, AwsError> {
    const OP: &str = op::DESCRIBE_LIFECYCLE_HOOKS;
    let out = client
        .describe_lifecycle_hooks()
        .auto_scaling_group_name(group_name)
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    out.lifecycle_hooks()
        .iter()
        .map(|h| map_lifecycle_hook(OP, group_name, h))
        .collect()
}

/// "PutLifecycleHook" (Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutLifecycleHook.html): create
/// or update by name, with the transition, and the heartbeat timeout and default result when
/// given; no notification target or role (the hook's events reach Amazon EventBridge anyway).
/// A limit of hooks reached is `LimitExceeded`.
pub(crate) async fn put_lifecycle_hook(
    client: &aws_sdk_autoscaling::Client,
    request: &PutLifecycleHookRequest,
) -> Result<(), AwsError> {
    const OP: &str = op::PUT_LIFECYCLE_HOOK;
    let heartbeat = request
        .heartbeat_timeout_secs
        .map(|h| {
            i32::try_from(h).map_err(|_| {
                AwsError::new(
                    OP,
                    amiroll_core::port::ErrorKind::Invalid,
                    "ValidationError",
                    format!("HeartbeatTimeout {h} is out of range"),
                )
            })
        })
        .transpose()?;
    client
        .put_lifecycle_hook()
        .auto_scaling_group_name(&request.group_name)
        .lifecycle_hook_name(&request.name)
        .lifecycle_transition(&request.transition)
        .set_heartbeat_timeout(heartbeat)
        .set_default_result(request.default_result.clone())
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    Ok(())
}

/// "CompleteLifecycleAction" (Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html)
/// with `InstanceId` (no `LifecycleActionToken`). An instance with no lifecycle action under way
/// is answered `ValidationError` ("No active Lifecycle Action found with instance ID …"), which
/// [`crate::classify`] makes `Invalid`: not retried.
pub(crate) async fn complete_lifecycle_action(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
    hook_name: &str,
    instance_id: &str,
    result: LifecycleActionResult,
) -> Result<(), AwsError> {
    client
        .complete_lifecycle_action()
        .auto_scaling_group_name(group_name)
        .lifecycle_hook_name(hook_name)
        .instance_id(instance_id)
        .lifecycle_action_result(result.as_str())
        .send()
        .await
        .map_err(|e| from_sdk(op::COMPLETE_LIFECYCLE_ACTION, e))?;
    Ok(())
}

/// "RecordLifecycleActionHeartbeat" (Amazon EC2 Auto Scaling API Reference,
/// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html)
/// with `InstanceId`: restarts the action's heartbeat timeout. Errors as
/// [`complete_lifecycle_action`].
pub(crate) async fn record_lifecycle_action_heartbeat(
    client: &aws_sdk_autoscaling::Client,
    group_name: &str,
    hook_name: &str,
    instance_id: &str,
) -> Result<(), AwsError> {
    client
        .record_lifecycle_action_heartbeat()
        .auto_scaling_group_name(group_name)
        .lifecycle_hook_name(hook_name)
        .instance_id(instance_id)
        .send()
        .await
        .map_err(|e| from_sdk(op::RECORD_LIFECYCLE_ACTION_HEARTBEAT, e))?;
    Ok(())
}
