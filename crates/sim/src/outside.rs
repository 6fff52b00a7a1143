//! Outside actors: what someone else does to the account while amiroll runs (not port calls:
//! not logged, no faults).

use std::collections::BTreeMap;
use std::time::Duration;

use amiroll_core::port::{
    op, AwsError, ErrorKind, PutLifecycleHookRequest, LIFECYCLE_TRANSITION_TERMINATING,
};

use crate::account::Account;
use crate::{setup_op, SimAws};

impl SimAws {
    /// Someone deletes a scheduled action (as `DeleteScheduledAction`: an unknown name is a
    /// `ValidationError`).
    pub fn remove_scheduled_action(&self, group: &str, name: &str) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.delete_scheduled_action(group, name)?;
        a.settle();
        Ok(())
    }

    /// Someone sets tags on a group (as `CreateOrUpdateTags`).
    pub fn tag_group(&self, group: &str, tags: &[(&str, &str)]) -> Result<(), AwsError> {
        let tags: BTreeMap<String, String> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut a = self.lock();
        a.create_or_update_tags(group, &tags)?;
        a.settle();
        Ok(())
    }

    /// Someone removes tags from a group (as `DeleteTags`).
    pub fn untag_group(&self, group: &str, keys: &[&str]) -> Result<(), AwsError> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut a = self.lock();
        a.delete_tags(group, &keys)?;
        a.settle();
        Ok(())
    }

    /// `DeleteAutoScalingGroup` with `ForceDelete`: the group, its scheduled actions and its
    /// instances go at once (no draining, no lifecycle hooks; the instances stay visible to
    /// `DescribeInstances` as terminated). Its instance refreshes stay in the refresh list.
    pub fn delete_group(&self, group: &str) -> Result<(), AwsError> {
        let mut a = self.lock();
        if !a.groups.contains_key(group) {
            return Err(Account::group_not_found(
                "autoscaling:DeleteAutoScalingGroup",
                ErrorKind::NotFound,
                group,
            ));
        }
        // Those held in `Terminating:Wait` too: lifecycle hooks do not run for a force delete
        // ("Amazon EC2 Auto Scaling lifecycle hooks", Lifecycle hook availability, footnote 1).
        let ids: Vec<String> = a
            .group_instances(group)
            .iter()
            .map(|i| i.id.clone())
            .collect();
        for id in ids {
            a.terminate(&id);
        }
        a.groups.remove(group);
        a.event(format!("autoscaling {group}: group deleted"));
        a.settle();
        Ok(())
    }

    /// `DeleteLaunchTemplate` (by id or name): the template and every version go; groups that
    /// launch it fail their next launches.
    pub fn delete_launch_template(&self, template: &str) -> Result<(), AwsError> {
        let mut a = self.lock();
        let id = a.template("ec2:DeleteLaunchTemplate", template)?.id.clone();
        a.templates.remove(&id);
        a.event(format!("ec2 {id}: launch template deleted"));
        a.settle();
        Ok(())
    }

    /// `DeleteParameter`: the parameter and its history go.
    pub fn delete_parameter(&self, name: &str) -> Result<(), AwsError> {
        let mut a = self.lock();
        if a.params.remove(name).is_none() {
            return Err(AwsError::new(
                "ssm:DeleteParameter",
                ErrorKind::NotFound,
                "ParameterNotFound",
                format!("Parameter {name} not found."),
            ));
        }
        a.event(format!("ssm {name}: deleted"));
        Ok(())
    }

    /// `CancelInstanceRefresh`, as an operator runs it (the console or the AWS CLI): the same
    /// model as the port's call — the group's refresh is `Cancelling` while the replacements
    /// under way finish, then `Cancelled`; instances already replaced stay, the group keeps its
    /// configuration ("Cancel an instance refresh",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/cancel-instance-refresh.html).
    /// Returns the refresh id. Not a port call: not logged, no faults.
    pub fn cancel_refresh(&self, group: &str) -> Result<String, AwsError> {
        let mut a = self.lock();
        let id = a.cancel_instance_refresh(
            "autoscaling:CancelInstanceRefresh",
            group,
            "cancelled by the operator",
        )?;
        a.settle();
        Ok(id)
    }

    /// `DefaultInstanceWarmup` of a group: the warm-up instance refreshes use when their
    /// preferences set none (without either, the warm-up is 0 s after `InService`).
    pub fn set_instance_warmup(&self, group: &str, warmup: Duration) -> Result<(), AwsError> {
        let mut a = self.lock();
        let Some(g) = a.groups.get_mut(group) else {
            return Err(Account::group_not_found(
                setup_op::SET_DEFAULT_INSTANCE_WARMUP,
                ErrorKind::NotFound,
                group,
            ));
        };
        g.default_warmup = Some(warmup);
        a.event(format!(
            "autoscaling {group}: default instance warm-up {} s",
            warmup.as_secs()
        ));
        Ok(())
    }

    /// `CreateCapacityProvider` for an Auto Scaling group; returns the provider's ARN.
    ///
    /// - Managed termination protection needs managed scaling (`InvalidParameterException`);
    ///   with it, the group's instances (and every new one) are protected from scale in.
    /// - Managed scaling keeps the group's desired capacity at its value now: a change (a
    ///   scheduled action, [`SimAws::set_desired_capacity`]) is put back at the next one-minute
    ///   tick, with the event "ECS managed scaling set desired back to N".
    /// - Managed draining is recorded only.
    ///
    /// Other errors (`ClientException`): invalid or duplicate name, unknown group, group already
    /// used by another provider.
    pub fn create_capacity_provider(
        &self,
        name: &str,
        group_name: &str,
        managed_scaling: bool,
        managed_termination_protection: bool,
        managed_draining: bool,
    ) -> Result<String, AwsError> {
        let mut a = self.lock();
        let arn = a.create_capacity_provider(
            name,
            group_name,
            managed_scaling,
            managed_termination_protection,
            managed_draining,
        )?;
        a.settle();
        Ok(arn)
    }

    /// `PutLifecycleHook`, as someone else runs it (an operator, a CloudFormation stack, ECS
    /// managed draining): creates or updates the group's hook `name`, validated as the port's
    /// call (`hooks.rs`). Not a port call: not logged, no faults.
    pub fn add_lifecycle_hook(&self, request: &PutLifecycleHookRequest) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.put_lifecycle_hook(op::PUT_LIFECYCLE_HOOK, request)?;
        a.settle();
        Ok(())
    }

    /// A terminating lifecycle hook on `group` (`autoscaling:EC2_INSTANCE_TERMINATING`) with
    /// this heartbeat timeout (seconds) and default result (`CONTINUE` or `ABANDON`): from now
    /// on every instance Auto Scaling terminates in the group waits in `Terminating:Wait` (see
    /// [`SimAws::add_lifecycle_hook`]).
    pub fn create_terminating_hook(
        &self,
        group: &str,
        name: &str,
        heartbeat_timeout_secs: u32,
        default_result: &str,
    ) -> Result<(), AwsError> {
        self.add_lifecycle_hook(&PutLifecycleHookRequest {
            group_name: group.to_string(),
            name: name.to_string(),
            transition: LIFECYCLE_TRANSITION_TERMINATING.to_string(),
            heartbeat_timeout_secs: Some(heartbeat_timeout_secs),
            default_result: Some(default_result.to_string()),
        })
    }

    /// `DeleteLifecycleHook`: the hook goes, and the lifecycle actions it has under way end
    /// first — `CONTINUE` for terminating instances ("DeleteLifecycleHook",
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteLifecycleHook.html);
    /// an instance with no action left terminates. An unknown hook is not an error; an unknown
    /// group is a `ValidationError`.
    pub fn delete_lifecycle_hook(&self, group: &str, name: &str) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.delete_lifecycle_hook(setup_op::DELETE_LIFECYCLE_HOOK, group, name)?;
        a.settle();
        Ok(())
    }

    /// Time from launch to `InService` for instances launched from now on (default 90 s).
    pub fn set_boot_time(&self, boot_time: Duration) {
        self.lock().boot_time = boot_time;
    }
}
