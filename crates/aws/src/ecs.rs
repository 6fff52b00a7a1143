//! Amazon ECS: the capacity providers that name Auto Scaling groups, the clusters (and the
//! capacity providers each names), and the container instances of a cluster.

use amiroll_core::port::{
    op, AwsError, CapacityProvider, ContainerInstanceAttribute, ContainerInstanceStatus,
    ContainerInstancesOutput, EcsCluster, MAX_LIST_CLUSTERS, MAX_LIST_CONTAINER_INSTANCES,
};

use crate::all_pages;
use crate::convert::{
    map_capacity_provider, map_cluster, map_container_instance, map_container_instance_failure,
    sdk_attribute,
};
use crate::error::from_sdk;

/// "DescribeCapacityProviders" (Amazon ECS API Reference) without names: every capacity
/// provider of the account, all pages. Providers without an `autoScalingGroupProvider`
/// (`FARGATE`, `FARGATE_SPOT`, ECS Managed Instances) are left out.
pub(crate) async fn describe_capacity_providers(
    client: &aws_sdk_ecs::Client,
) -> Result<Vec<CapacityProvider>, AwsError> {
    const OP: &str = op::DESCRIBE_CAPACITY_PROVIDERS;
    all_pages(|token| async move {
        let out = client
            .describe_capacity_providers()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
        let providers = out
            .capacity_providers()
            .iter()
            .map(|provider| map_capacity_provider(OP, provider))
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, AwsError>>()?;
        Ok((providers, out.next_token().map(str::to_owned)))
    })
    .await
}

/// "ListClusters" (Amazon ECS API Reference): the ARN of every cluster of the account in the
/// Region, every page of `maxResults` 100 (the most it takes: "This value can be between 1 and
/// 100").
pub(crate) async fn list_clusters(client: &aws_sdk_ecs::Client) -> Result<Vec<String>, AwsError> {
    const OP: &str = op::LIST_CLUSTERS;
    let page_size = i32::try_from(MAX_LIST_CLUSTERS).unwrap_or(100);
    all_pages(|token| async move {
        let out = client
            .list_clusters()
            .max_results(page_size)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
        Ok((
            out.cluster_arns().to_vec(),
            out.next_token().map(str::to_owned),
        ))
    })
    .await
}

/// "DescribeClusters" (Amazon ECS API Reference) of up to 100 clusters (names or ARNs), with
/// their `capacityProviders` (returned without `include`). None is answered without a call:
/// without `clusters` AWS describes the `default` cluster. The `failures` (`MISSING` for an
/// unknown cluster) are dropped: an unknown cluster is left out.
pub(crate) async fn describe_clusters(
    client: &aws_sdk_ecs::Client,
    clusters: &[String],
) -> Result<Vec<EcsCluster>, AwsError> {
    const OP: &str = op::DESCRIBE_CLUSTERS;
    if clusters.is_empty() {
        return Ok(Vec::new());
    }
    let out = client
        .describe_clusters()
        .set_clusters(Some(clusters.to_vec()))
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    out.clusters().iter().map(|c| map_cluster(OP, c)).collect()
}

/// "ListContainerInstances" (Amazon ECS API Reference) of one cluster, every page of
/// `maxResults` 100 (the most it takes), no status filter (every status but `INACTIVE`).
pub(crate) async fn list_container_instances(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
) -> Result<Vec<String>, AwsError> {
    const OP: &str = op::LIST_CONTAINER_INSTANCES;
    let page_size = i32::try_from(MAX_LIST_CONTAINER_INSTANCES).unwrap_or(100);
    all_pages(|token| async move {
        let out = client
            .list_container_instances()
            .cluster(cluster)
            .max_results(page_size)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| from_sdk(OP, e))?;
        Ok((
            out.container_instance_arns().to_vec(),
            out.next_token().map(str::to_owned),
        ))
    })
    .await
}

/// "DescribeContainerInstances" of up to 100 container instances of one cluster; none is
/// answered without a call (AWS requires at least one).
pub(crate) async fn describe_container_instances(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    container_instances: &[String],
) -> Result<ContainerInstancesOutput, AwsError> {
    const OP: &str = op::DESCRIBE_CONTAINER_INSTANCES;
    if container_instances.is_empty() {
        return Ok(ContainerInstancesOutput::default());
    }
    let out = client
        .describe_container_instances()
        .cluster(cluster)
        .set_container_instances(Some(container_instances.to_vec()))
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    output(OP, cluster, out.container_instances(), out.failures())
}

/// "UpdateContainerInstancesState" of up to 10 container instances of one cluster to `ACTIVE`
/// or `DRAINING`; none is answered without a call. The per-instance failures are kept.
pub(crate) async fn update_container_instances_state(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    container_instances: &[String],
    status: ContainerInstanceStatus,
) -> Result<ContainerInstancesOutput, AwsError> {
    use aws_sdk_ecs::types::ContainerInstanceStatus as Sdk;
    const OP: &str = op::UPDATE_CONTAINER_INSTANCES_STATE;
    if container_instances.is_empty() {
        return Ok(ContainerInstancesOutput::default());
    }
    let out = client
        .update_container_instances_state()
        .cluster(cluster)
        .set_container_instances(Some(container_instances.to_vec()))
        .status(match status {
            ContainerInstanceStatus::Active => Sdk::Active,
            ContainerInstanceStatus::Draining => Sdk::Draining,
        })
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    output(OP, cluster, out.container_instances(), out.failures())
}

/// The container instances and failures of a `DescribeContainerInstances` or
/// `UpdateContainerInstancesState` answer.
fn output(
    operation: &'static str,
    cluster: &str,
    instances: &[aws_sdk_ecs::types::ContainerInstance],
    failures: &[aws_sdk_ecs::types::Failure],
) -> Result<ContainerInstancesOutput, AwsError> {
    Ok(ContainerInstancesOutput {
        container_instances: instances
            .iter()
            .map(|c| map_container_instance(operation, cluster, c))
            .collect::<Result<Vec<_>, AwsError>>()?,
        failures: failures
            .iter()
            .map(map_container_instance_failure)
            .collect(),
    })
}

/// "PutAttributes" (Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PutAttributes.html): up to 10
/// custom attributes on container instances of one cluster; none is answered without a call
/// (AWS requires at least one). `ClusterNotFoundException` and `TargetNotFoundException` are
/// `NotFound`; the attributes echoed back are not read.
pub(crate) async fn put_attributes(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    attributes: &[ContainerInstanceAttribute],
) -> Result<(), AwsError> {
    const OP: &str = op::PUT_ATTRIBUTES;
    if attributes.is_empty() {
        return Ok(());
    }
    let attributes = attributes
        .iter()
        .map(|a| sdk_attribute(OP, a))
        .collect::<Result<Vec<_>, AwsError>>()?;
    client
        .put_attributes()
        .cluster(cluster)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| from_sdk(OP, e))?;
    Ok(())
}
