//! The port ([`Aws`]) on the simulated account: every call is logged, counted in flight, may
//! fail as injected, then runs on the account.

use std::collections::BTreeMap;
use std::time::Duration;

use amiroll_core::port::{
    op, AutoScalingGroup, Aws, AwsError, CapacityProvider, ContainerInstanceAttribute,
    ContainerInstanceStatus, ContainerInstancesOutput, CreateVersionRequest, DeleteVersionsOutput,
    Ec2Instance, EcsCluster, GetParametersOutput, Image, InstanceRefresh, InstanceTypeInfo,
    LaunchTemplate, LaunchTemplateVersion, LifecycleActionResult, LifecycleHook, Notification,
    PutLifecycleHookRequest, ScheduledAction, StartRefreshRequest, Timestamp, UpdateGroupRequest,
    VersionAlias,
};

use crate::SimAws;

impl Aws for SimAws {
    fn now(&self) -> Timestamp {
        SimAws::now(self)
    }

    async fn sleep(&self, duration: Duration) {
        self.pause().await;
        self.advance(duration);
    }

    /// No SDK here: a throttled or failing call is answered once, and the engine's own back-off
    /// retries it (what the adversity suite exercises).
    fn retries_transient(&self) -> bool {
        false
    }

    async fn get_parameters(&self, names: &[String]) -> Result<GetParametersOutput, AwsError> {
        // No names: answered without a call, as the SDK adapter does (AWS would reject the
        // request: `Names` has at least one member).
        if names.is_empty() {
            return Ok(GetParametersOutput::default());
        }
        self.enter(op::GET_PARAMETERS).await;
        self.access_parameters(names);
        self.call(op::GET_PARAMETERS, |a| a.get_parameters(names))
    }

    async fn describe_images(&self, image_ids: &[String]) -> Result<Vec<Image>, AwsError> {
        self.enter(op::DESCRIBE_IMAGES).await;
        self.access_any(op::DESCRIBE_IMAGES);
        self.call(op::DESCRIBE_IMAGES, |a| a.describe_images(image_ids))
    }

    async fn describe_instance_types(
        &self,
        instance_types: &[String],
    ) -> Result<Vec<InstanceTypeInfo>, AwsError> {
        self.enter(op::DESCRIBE_INSTANCE_TYPES).await;
        self.access_any(op::DESCRIBE_INSTANCE_TYPES);
        self.call(op::DESCRIBE_INSTANCE_TYPES, |a| {
            a.describe_instance_types(instance_types)
        })
    }

    async fn describe_launch_template(&self, id_or_name: &str) -> Result<LaunchTemplate, AwsError> {
        self.enter(op::DESCRIBE_LAUNCH_TEMPLATES).await;
        self.access_any(op::DESCRIBE_LAUNCH_TEMPLATES);
        self.call(op::DESCRIBE_LAUNCH_TEMPLATES, |a| {
            a.describe_launch_template(id_or_name)
        })
    }

    async fn describe_current_template_versions(
        &self,
        which: VersionAlias,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        self.enter(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS).await;
        self.access_any(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS);
        self.call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, |a| {
            Ok(a.describe_current_template_versions(which))
        })
    }

    async fn describe_launch_template_versions(
        &self,
        template_id: &str,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        self.enter(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS).await;
        self.access_any(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS);
        self.call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, |a| {
            a.describe_launch_template_versions(template_id)
        })
    }

    async fn create_launch_template_version(
        &self,
        request: &CreateVersionRequest,
    ) -> Result<LaunchTemplateVersion, AwsError> {
        self.enter(op::CREATE_LAUNCH_TEMPLATE_VERSION).await;
        self.access_template(op::CREATE_LAUNCH_TEMPLATE_VERSION, &request.template_id);
        self.call(op::CREATE_LAUNCH_TEMPLATE_VERSION, |a| {
            a.create_launch_template_version(request)
        })
    }

    async fn modify_launch_template_default_version(
        &self,
        template_id: &str,
        version: u64,
    ) -> Result<LaunchTemplate, AwsError> {
        self.enter(op::MODIFY_LAUNCH_TEMPLATE).await;
        self.access_template(op::MODIFY_LAUNCH_TEMPLATE, template_id);
        self.call(op::MODIFY_LAUNCH_TEMPLATE, |a| {
            a.set_default(op::MODIFY_LAUNCH_TEMPLATE, template_id, version)
        })
    }

    async fn delete_launch_template_versions(
        &self,
        template_id: &str,
        versions: &[u64],
    ) -> Result<DeleteVersionsOutput, AwsError> {
        self.enter(op::DELETE_LAUNCH_TEMPLATE_VERSIONS).await;
        self.access_template(op::DELETE_LAUNCH_TEMPLATE_VERSIONS, template_id);
        self.call(op::DELETE_LAUNCH_TEMPLATE_VERSIONS, |a| {
            a.delete_versions(template_id, versions)
        })
    }

    async fn describe_instances(
        &self,
        instance_ids: &[String],
    ) -> Result<Vec<Ec2Instance>, AwsError> {
        self.enter(op::DESCRIBE_INSTANCES).await;
        self.access_any(op::DESCRIBE_INSTANCES);
        self.call(op::DESCRIBE_INSTANCES, |a| {
            a.describe_instances(instance_ids)
        })
    }

    async fn describe_auto_scaling_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.enter(op::DESCRIBE_AUTO_SCALING_GROUPS).await;
        self.access_any(op::DESCRIBE_AUTO_SCALING_GROUPS);
        self.call(op::DESCRIBE_AUTO_SCALING_GROUPS, |a| {
            a.describe_groups(names)
        })
    }

    async fn describe_auto_scaling_groups_by_tag(
        &self,
        key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.enter(op::DESCRIBE_AUTO_SCALING_GROUPS).await;
        self.access_any(op::DESCRIBE_AUTO_SCALING_GROUPS);
        self.call(op::DESCRIBE_AUTO_SCALING_GROUPS, |a| {
            Ok(a.describe_groups_by_tag(key))
        })
    }

    async fn update_auto_scaling_group(
        &self,
        request: &UpdateGroupRequest,
    ) -> Result<(), AwsError> {
        self.enter(op::UPDATE_AUTO_SCALING_GROUP).await;
        self.access_group(op::UPDATE_AUTO_SCALING_GROUP, &request.group_name);
        for spec in request
            .launch_template
            .iter()
            .chain(request.mixed_instances_policy.iter().map(|p| &p.template))
        {
            if let Some(t) = spec.template_id.as_ref().or(spec.template_name.as_ref()) {
                self.access_launch_from(t);
            }
        }
        self.call(op::UPDATE_AUTO_SCALING_GROUP, |a| a.update_group(request))
    }

    async fn set_instance_protection(
        &self,
        group_name: &str,
        instance_ids: &[String],
        protected: bool,
    ) -> Result<(), AwsError> {
        self.enter(op::SET_INSTANCE_PROTECTION).await;
        self.access_group(op::SET_INSTANCE_PROTECTION, group_name);
        self.call(op::SET_INSTANCE_PROTECTION, |a| {
            a.set_instance_protection(
                op::SET_INSTANCE_PROTECTION,
                group_name,
                instance_ids,
                protected,
            )
        })
    }

    async fn describe_scheduled_actions(
        &self,
        group_name: &str,
    ) -> Result<Vec<ScheduledAction>, AwsError> {
        self.enter(op::DESCRIBE_SCHEDULED_ACTIONS).await;
        self.access_any(op::DESCRIBE_SCHEDULED_ACTIONS);
        self.call(op::DESCRIBE_SCHEDULED_ACTIONS, |a| {
            a.describe_scheduled_actions(group_name)
        })
    }

    async fn put_scheduled_update_group_action(
        &self,
        action: &ScheduledAction,
    ) -> Result<(), AwsError> {
        self.enter(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION).await;
        self.access_group(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION, &action.group_name);
        self.call(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION, |a| {
            a.put_scheduled_action(action)
        })
    }

    async fn delete_scheduled_action(
        &self,
        group_name: &str,
        action_name: &str,
    ) -> Result<(), AwsError> {
        self.enter(op::DELETE_SCHEDULED_ACTION).await;
        self.access_group(op::DELETE_SCHEDULED_ACTION, group_name);
        self.call(op::DELETE_SCHEDULED_ACTION, |a| {
            a.delete_scheduled_action(group_name, action_name)
        })
    }

    async fn create_or_update_tags(
        &self,
        group_name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        self.enter(op::CREATE_OR_UPDATE_TAGS).await;
        self.access_group(op::CREATE_OR_UPDATE_TAGS, group_name);
        self.call(op::CREATE_OR_UPDATE_TAGS, |a| {
            a.create_or_update_tags(group_name, tags)
        })
    }

    async fn delete_tags(&self, group_name: &str, keys: &[String]) -> Result<(), AwsError> {
        self.enter(op::DELETE_TAGS).await;
        self.access_group(op::DELETE_TAGS, group_name);
        self.call(op::DELETE_TAGS, |a| a.delete_tags(group_name, keys))
    }

    async fn get_topic_attributes(&self, topic_arn: &str) -> Result<(), AwsError> {
        self.enter(op::GET_TOPIC_ATTRIBUTES).await;
        self.access_topic(op::GET_TOPIC_ATTRIBUTES, topic_arn);
        self.call(op::GET_TOPIC_ATTRIBUTES, |a| {
            a.get_topic_attributes(topic_arn)
        })
    }

    async fn publish(&self, notification: &Notification) -> Result<String, AwsError> {
        self.enter(op::PUBLISH).await;
        self.access_topic(op::PUBLISH, &notification.topic_arn);
        self.call(op::PUBLISH, |a| a.publish(notification))
    }

    async fn start_instance_refresh(
        &self,
        request: &StartRefreshRequest,
    ) -> Result<String, AwsError> {
        self.enter(op::START_INSTANCE_REFRESH).await;
        self.access_group(op::START_INSTANCE_REFRESH, &request.group_name);
        if let Some(d) = &request.desired {
            self.access_launch_from(&d.template_id);
        }
        self.call(op::START_INSTANCE_REFRESH, |a| {
            a.start_instance_refresh(request)
        })
    }

    async fn describe_instance_refreshes(
        &self,
        group_name: &str,
    ) -> Result<Vec<InstanceRefresh>, AwsError> {
        self.enter(op::DESCRIBE_INSTANCE_REFRESHES).await;
        self.access_any(op::DESCRIBE_INSTANCE_REFRESHES);
        self.call(op::DESCRIBE_INSTANCE_REFRESHES, |a| {
            a.describe_instance_refreshes(group_name)
        })
    }

    async fn rollback_instance_refresh(&self, group_name: &str) -> Result<String, AwsError> {
        self.enter(op::ROLLBACK_INSTANCE_REFRESH).await;
        self.access_group(op::ROLLBACK_INSTANCE_REFRESH, group_name);
        self.call(op::ROLLBACK_INSTANCE_REFRESH, |a| {
            a.rollback_instance_refresh(group_name)
        })
    }

    async fn cancel_instance_refresh(&self, group_name: &str) -> Result<String, AwsError> {
        self.enter(op::CANCEL_INSTANCE_REFRESH).await;
        self.access_group(op::CANCEL_INSTANCE_REFRESH, group_name);
        self.call(op::CANCEL_INSTANCE_REFRESH, |a| {
            a.cancel_instance_refresh(
                op::CANCEL_INSTANCE_REFRESH,
                group_name,
                "CancelInstanceRefresh was called",
            )
        })
    }

    async fn describe_lifecycle_hooks(
        &self,
        group_name: &str,
    ) -> Result<Vec<LifecycleHook>, AwsError> {
        self.enter(op::DESCRIBE_LIFECYCLE_HOOKS).await;
        self.access_any(op::DESCRIBE_LIFECYCLE_HOOKS);
        self.call(op::DESCRIBE_LIFECYCLE_HOOKS, |a| {
            a.describe_lifecycle_hooks(group_name)
        })
    }

    async fn put_lifecycle_hook(&self, request: &PutLifecycleHookRequest) -> Result<(), AwsError> {
        self.enter(op::PUT_LIFECYCLE_HOOK).await;
        self.access_group(op::PUT_LIFECYCLE_HOOK, &request.group_name);
        self.call(op::PUT_LIFECYCLE_HOOK, |a| {
            a.put_lifecycle_hook(op::PUT_LIFECYCLE_HOOK, request)
        })
    }

    async fn complete_lifecycle_action(
        &self,
        group_name: &str,
        hook_name: &str,
        instance_id: &str,
        result: LifecycleActionResult,
    ) -> Result<(), AwsError> {
        self.enter(op::COMPLETE_LIFECYCLE_ACTION).await;
        self.access_group(op::COMPLETE_LIFECYCLE_ACTION, group_name);
        self.call(op::COMPLETE_LIFECYCLE_ACTION, |a| {
            a.complete_lifecycle_action(group_name, hook_name, instance_id, result)
        })
    }

    async fn record_lifecycle_action_heartbeat(
        &self,
        group_name: &str,
        hook_name: &str,
        instance_id: &str,
    ) -> Result<(), AwsError> {
        self.enter(op::RECORD_LIFECYCLE_ACTION_HEARTBEAT).await;
        self.access_group(op::RECORD_LIFECYCLE_ACTION_HEARTBEAT, group_name);
        self.call(op::RECORD_LIFECYCLE_ACTION_HEARTBEAT, |a| {
            a.record_lifecycle_action_heartbeat(group_name, hook_name, instance_id)
        })
    }

    async fn describe_capacity_providers(&self) -> Result<Vec<CapacityProvider>, AwsError> {
        self.enter(op::DESCRIBE_CAPACITY_PROVIDERS).await;
        self.access_capacity_providers();
        self.call(op::DESCRIBE_CAPACITY_PROVIDERS, |a| {
            a.describe_capacity_providers()
        })
    }

    async fn list_clusters(&self) -> Result<Vec<String>, AwsError> {
        self.enter(op::LIST_CLUSTERS).await;
        self.access_any(op::LIST_CLUSTERS);
        self.call(op::LIST_CLUSTERS, |a| a.list_clusters())
    }

    async fn describe_clusters(&self, clusters: &[String]) -> Result<Vec<EcsCluster>, AwsError> {
        // No clusters: answered without a call, as the SDK adapter does (AWS would describe the
        // `default` cluster).
        if clusters.is_empty() {
            return Ok(Vec::new());
        }
        self.enter(op::DESCRIBE_CLUSTERS).await;
        self.access_clusters(op::DESCRIBE_CLUSTERS, clusters);
        self.call(op::DESCRIBE_CLUSTERS, |a| a.describe_clusters(clusters))
    }

    async fn list_container_instances(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        self.enter(op::LIST_CONTAINER_INSTANCES).await;
        self.access_clusters(op::LIST_CONTAINER_INSTANCES, &[cluster.to_string()]);
        self.call(op::LIST_CONTAINER_INSTANCES, |a| {
            a.list_container_instances(cluster)
        })
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        container_instances: &[String],
    ) -> Result<ContainerInstancesOutput, AwsError> {
        // No ARNs: answered without a call, as the SDK adapter does (AWS requires at least one).
        if container_instances.is_empty() {
            return Ok(ContainerInstancesOutput::default());
        }
        self.enter(op::DESCRIBE_CONTAINER_INSTANCES).await;
        self.access_container_instances(
            op::DESCRIBE_CONTAINER_INSTANCES,
            cluster,
            container_instances,
        );
        self.call(op::DESCRIBE_CONTAINER_INSTANCES, |a| {
            a.describe_container_instances(cluster, container_instances)
        })
    }

    async fn update_container_instances_state(
        &self,
        cluster: &str,
        container_instances: &[String],
        status: ContainerInstanceStatus,
    ) -> Result<ContainerInstancesOutput, AwsError> {
        // No ARNs: answered without a call, as the SDK adapter does (AWS requires at least one).
        if container_instances.is_empty() {
            return Ok(ContainerInstancesOutput::default());
        }
        self.enter(op::UPDATE_CONTAINER_INSTANCES_STATE).await;
        self.access_container_instances(
            op::UPDATE_CONTAINER_INSTANCES_STATE,
            cluster,
            container_instances,
        );
        self.call(op::UPDATE_CONTAINER_INSTANCES_STATE, |a| {
            a.update_container_instances_state(cluster, container_instances, status)
        })
    }

    async fn put_attributes(
        &self,
        cluster: &str,
        attributes: &[ContainerInstanceAttribute],
    ) -> Result<(), AwsError> {
        // No attributes: answered without a call, as the SDK adapter does (AWS requires at
        // least one).
        if attributes.is_empty() {
            return Ok(());
        }
        self.enter(op::PUT_ATTRIBUTES).await;
        let targets: Vec<String> = attributes.iter().map(|a| a.target_id.clone()).collect();
        self.access_container_instances(op::PUT_ATTRIBUTES, cluster, &targets);
        self.call(op::PUT_ATTRIBUTES, |a| {
            a.put_attributes(cluster, attributes)
        })
    }
}
