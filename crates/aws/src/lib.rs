//! The amiroll port ([`amiroll_core::port::Aws`]) on the official AWS SDK for Rust.
//!
//! Every method is one AWS operation (or one paginated listing of it), named after the API
//! reference page it follows. Errors become [`AwsError`] through [`from_sdk`]; nothing here
//! retries on its own beyond the SDK's retry strategy (configured by [`ConnectOptions`]).
//!
//! `connect` reaches AWS (options, configuration, the clients); `convert` turns SDK shapes into the
//! port's; `ssm`, `ec2`, `autoscaling`, `sns` and `ecs` hold each service's calls, to which the
//! [`Aws`] implementation here delegates.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use amiroll_core::port::{
    AutoScalingGroup, Aws, AwsError, CapacityProvider, ContainerInstanceAttribute,
    ContainerInstanceStatus, ContainerInstancesOutput, CreateVersionRequest, DeleteVersionsOutput,
    Ec2Instance, EcsCluster, GetParametersOutput, Image, InstanceRefresh, InstanceTypeInfo,
    LaunchTemplate, LaunchTemplateVersion, LifecycleActionResult, LifecycleHook, Notification,
    PutLifecycleHookRequest, ScheduledAction, StartRefreshRequest, Timestamp, UpdateGroupRequest,
    VersionAlias,
};

mod autoscaling;
mod connect;
mod convert;
mod ec2;
mod ecs;
mod error;
#[cfg(test)]
mod fixtures;
mod sns;
mod ssm;

pub use connect::{load_config, AwsAdapter, ConnectError, ConnectOptions};
pub use error::{classify, from_sdk};

/// Ids in first-seen order without repeats.
pub(crate) fn unique(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

pub(crate) fn non_empty_token(token: Option<&str>) -> Option<String> {
    token.filter(|t| !t.is_empty()).map(str::to_owned)
}

/// Every page of a listing: `page(token)` sends one request and returns its items and the
/// next token; AWS ends a listing with no token or an empty one.
pub(crate) async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let (page_items, next) = page(token.take()).await?;
        items.extend(page_items);
        match non_empty_token(next.as_deref()) {
            Some(t) => token = Some(t),
            None => return Ok(items),
        }
    }
}

// The port, one AWS operation a method: each delegates to its service's module, where the
// request, the pagination and the error cases are.
impl Aws for AwsAdapter {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// The SDK retries throttling errors (`Throttling`, `ThrottlingException`,
    /// `RequestLimitExceeded`, …), HTTP 500/502/503/504, timeouts and connection errors, in
    /// standard mode with exponential back-off and jitter, 3 attempts unless configured
    /// (`aws_max_attempts`, `aws_retry_mode`, `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, the profile's
    /// `max_attempts`/`retry_mode`) ("Retries", AWS SDK for Rust Developer Guide,
    /// https://docs.aws.amazon.com/sdk-for-rust/latest/dg/retries.html; "Retry behavior", AWS
    /// SDKs and Tools Reference Guide,
    /// https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). What reaches
    /// the engine has been retried already.
    fn retries_transient(&self) -> bool {
        true
    }

    async fn get_parameters(&self, names: &[String]) -> Result<GetParametersOutput, AwsError> {
        ssm::get_parameters(&self.ssm, names).await
    }

    async fn describe_images(&self, image_ids: &[String]) -> Result<Vec<Image>, AwsError> {
        ec2::describe_images(&self.ec2, image_ids).await
    }

    async fn describe_instance_types(
        &self,
        instance_types: &[String],
    ) -> Result<Vec<InstanceTypeInfo>, AwsError> {
        ec2::describe_instance_types(&self.ec2, instance_types).await
    }

    async fn describe_launch_template(&self, id_or_name: &str) -> Result<LaunchTemplate, AwsError> {
        ec2::describe_launch_template(&self.ec2, id_or_name).await
    }

    async fn describe_current_template_versions(
        &self,
        which: VersionAlias,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        ec2::describe_current_template_versions(&self.ec2, which).await
    }

    async fn describe_launch_template_versions(
        &self,
        template_id: &str,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        ec2::describe_launch_template_versions(&self.ec2, template_id).await
    }

    async fn create_launch_template_version(
        &self,
        request: &CreateVersionRequest,
    ) -> Result<LaunchTemplateVersion, AwsError> {
        ec2::create_launch_template_version(&self.ec2, request).await
    }

    async fn modify_launch_template_default_version(
        &self,
        template_id: &str,
        version: u64,
    ) -> Result<LaunchTemplate, AwsError> {
        ec2::modify_launch_template_default_version(&self.ec2, template_id, version).await
    }

    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[u64],
    ) -> Result<DeleteVersionsOutput, AwsError> {
        ec2::delete_launch_template_versions(&self.ec2, template_id, versions).await
    }

    async fn describe_instances(
        &self,
        instance_ids: &[String],
    ) -> Result<Vec<Ec2Instance>, AwsError> {
        ec2::describe_instances(&self.ec2, instance_ids).await
    }

    async fn describe_auto_scaling_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        autoscaling::describe_auto_scaling_groups(&self.autoscaling, names).await
    }

    async fn describe_auto_scaling_groups_by_tag(
        &self,
        key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        autoscaling::describe_auto_scaling_groups_by_tag(&self.autoscaling, key).await
    }

    async fn update_auto_scaling_group(
        &self,
        request: &UpdateGroupRequest,
    ) -> Result<(), AwsError> {
        autoscaling::update_auto_scaling_group(&self.autoscaling, request).await
    }

    async fn set_instance_protection(
        &self,
        group_name: &str,
        instance_ids: &[String],
        protected: bool,
    ) -> Result<(), AwsError> {
        autoscaling::set_instance_protection(&self.autoscaling, group_name, instance_ids, protected)
            .await
    }

    async fn describe_scheduled_actions(
        &self,
        group_name: &str,
    ) -> Result<Vec<ScheduledAction>, AwsError> {
        autoscaling::describe_scheduled_actions(&self.autoscaling, group_name).await
    }

    async fn put_scheduled_update_group_action(
        &self,
        action: &ScheduledAction,
    ) -> Result<(), AwsError> {
        autoscaling::put_scheduled_update_group_action(&self.autoscaling, action).await
    }

    async fn delete_scheduled_action(
        &self,
        group_name: &str,
        action_name: &str,
    ) -> Result<(), AwsError> {
        autoscaling::delete_scheduled_action(&self.autoscaling, group_name, action_name).await
    }

    async fn create_or_update_tags(
        &self,
        group_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        autoscaling::create_or_update_tags(&self.autoscaling, group_name, tags).await
    }

    async fn delete_tags(&self, group_name: &str, keys: &[String]) -> Result<(), AwsError> {
        autoscaling::delete_tags(&self.autoscaling, group_name, keys).await
    }

    async fn get_topic_attributes(&self, topic_arn: &str) -> Result<(), AwsError> {
        sns::get_topic_attributes(&self.sns, topic_arn).await
    }

    async fn publish(&self, notification: &Notification) -> Result<String, AwsError> {
        sns::publish(&self.sns, notification).await
    }

    async fn start_instance_refresh(
        &self,
        request: &StartRefreshRequest,
    ) -> Result<String, AwsError> {
        autoscaling::start_instance_refresh(&self.autoscaling, request).await
    }

    async fn describe_instance_refreshes(
        &self,
        group_name: &str,
    ) -> Result<Vec<InstanceRefresh>, AwsError> {
        autoscaling::describe_instance_refreshes(&self.autoscaling, group_name).await
    }

    async fn rollback_instance_refresh(&self, group_name: &str) -> Result<String, AwsError> {
        autoscaling::rollback_instance_refresh(&self.autoscaling, group_name).await
    }

    async fn cancel_instance_refresh(&self, group_name: &str) -> Result<String, AwsError> {
        autoscaling::cancel_instance_refresh(&self.autoscaling, group_name).await
    }

    async fn describe_lifecycle_hooks(
        &self,
        group_name: &str,
    ) -> Result<Vec<LifecycleHook>, AwsError> {
        autoscaling::describe_lifecycle_hooks(&self.autoscaling, group_name).await
    }

    async fn put_lifecycle_hook(&self, request: &PutLifecycleHookRequest) -> Result<(), AwsError> {
        autoscaling::put_lifecycle_hook(&self.autoscaling, request).await
    }

    async fn complete_lifecycle_action(
        &self,
        group_name: &str,
        hook_name: &str,
        instance_id: &str,
        result: LifecycleActionResult,
    ) -> Result<(), AwsError> {
        autoscaling::complete_lifecycle_action(
            &self.autoscaling,
            group_name,
            hook_name,
            instance_id,
            result,
        )
        .await
    }

    async fn record_lifecycle_action_heartbeat(
        &self,
        group_name: &str,
        hook_name: &str,
        instance_id: &str,
    ) -> Result<(), AwsError> {
        autoscaling::record_lifecycle_action_heartbeat(
            &self.autoscaling,
            group_name,
            hook_name,
            instance_id,
        )
        .await
    }

    async fn describe_capacity_providers(&self) -> Result<Vec<CapacityProvider>, AwsError> {
        ecs::describe_capacity_providers(&self.ecs).await
    }

    async fn list_clusters(&self) -> Result<Vec<String>, AwsError> {
        ecs::list_clusters(&self.ecs).await
    }

    async fn describe_clusters(&self, clusters: &[String]) -> Result<Vec<EcsCluster>, AwsError> {
        ecs::describe_clusters(&self.ecs, clusters).await
    }

    async fn list_container_instances(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        ecs::list_container_instances(&self.ecs, cluster).await
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        container_instances: &[String],
    ) -> Result<ContainerInstancesOutput, AwsError> {
        ecs::describe_container_instances(&self.ecs, cluster, container_instances).await
    }

    async fn update_container_instances_state(
        &self,
        cluster: &str,
        container_instances: &[String],
        status: ContainerInstanceStatus,
    ) -> Result<ContainerInstancesOutput, AwsError> {
        ecs::update_container_instances_state(&self.ecs, cluster, container_instances, status).await
    }

    async fn put_attributes(
        &self,
        cluster: &str,
        attributes: &[ContainerInstanceAttribute],
    ) -> Result<(), AwsError> {
        ecs::put_attributes(&self.ecs, cluster, attributes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_keeps_first_seen_order() {
        let ids = ["b", "a", "b", "c", "a"].map(String::from);
        assert_eq!(unique(&ids), ["b", "a", "c"].map(String::from));
    }

    #[test]
    fn empty_tokens_end_pagination() {
        assert_eq!(non_empty_token(None), None);
        assert_eq!(non_empty_token(Some("")), None);
        assert_eq!(non_empty_token(Some("t")), Some("t".to_owned()));
    }
}
