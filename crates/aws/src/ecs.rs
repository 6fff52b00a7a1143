//! Amazon ECS: the capacity providers that name Auto Scaling groups.

use amiroll_core::port::{op, AwsError, CapacityProvider};

use crate::all_pages;
use crate::convert::map_capacity_provider;
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
