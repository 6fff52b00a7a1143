//! What IAM would be asked for each call: the action, the resource ARN it is authorized against
//! and the condition keys the request carries. Recorded for every port call, so a test can
//! evaluate a policy against exactly what a scenario touched (`crates/cli/tests/iam.rs`, with
//! the evaluator in `tests/iam/evaluate.py`).
//!
//! The resource of each action is the one the Service Authorization Reference lists for it
//! ("Actions, resources, and condition keys" for Amazon EC2, Amazon EC2 Auto Scaling, AWS Systems
//! Manager, Amazon SNS and Amazon ECS,
//! https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html);
//! `*` for an action with no resource type (the `Describe*` reads, `ecs:ListClusters`). ARN
//! formats are the ones those pages give: a launch template by id, a group with its UUID, an
//! AWS public parameter with an empty account.
//!
//! Simplifications: `ecs:DescribeCapacityProviders` without names is recorded against each
//! capacity provider of the account (AWS does not document which ARN a call without names is
//! authorized against); Auto Scaling's own check of `ec2:RunInstances` when a call names a
//! launch template is recorded against the template with its `ec2:LaunchTemplate` key only (not
//! the image, subnet, network interface… of the launch, which the generated policy covers with
//! `ec2:*` resources under that condition).

use std::collections::BTreeMap;

use amiroll_core::port::op;

use crate::{SimAws, ACCOUNT_ID, REGION};

/// One authorization: IAM action, resource ARN (or `*`), condition keys with their values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

/// An SSM parameter's ARN: AWS's public ones (`/aws/service/…`) have an empty account.
pub fn parameter_arn(name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    let path = name.trim_start_matches('/');
    if name.starts_with("/aws/service/") {
        format!("arn:aws:ssm:{REGION}::parameter/{path}")
    } else {
        format!("arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{path}")
    }
}

/// An ECS cluster's ARN from its name or ARN.
pub fn cluster_arn(cluster: &str) -> String {
    if cluster.starts_with("arn:") {
        cluster.to_string()
    } else {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{cluster}")
    }
}

fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

impl SimAws {
    /// Every authorization the calls so far needed, in call order.
    pub fn access_log(&self) -> Vec<Access> {
        self.lock().access.clone()
    }

    fn record(&self, action: &str, resources: Vec<String>, context: &[(&str, String)]) {
        let context: BTreeMap<String, String> = context
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut a = self.lock();
        for resource in resources {
            a.access.push(Access {
                action: action.to_string(),
                resource,
                context: context.clone(),
            });
        }
    }

    /// An action without a resource type: `*`.
    pub(crate) fn access_any(&self, action: &str) {
        self.record(action, vec!["*".to_string()], &[]);
    }

    /// A launch template by id or name (its ARN names the id).
    pub(crate) fn template_arn(&self, id_or_name: &str) -> String {
        let id = self
            .try_template(id_or_name)
            .map_or(id_or_name.to_string(), |t| t.id);
        format!("arn:aws:ec2:{REGION}:{ACCOUNT_ID}:launch-template/{id}")
    }

    pub(crate) fn access_template(&self, action: &str, id_or_name: &str) {
        let arn = self.template_arn(id_or_name);
        self.record(action, vec![arn], &[]);
    }

    /// A group by name (its ARN carries the UUID AWS gave it).
    pub(crate) fn access_group(&self, action: &str, group: &str) {
        let arn = self.lock().groups.get(group).map(|g| g.arn.clone());
        let arn = arn.unwrap_or_else(|| {
            format!("arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/{group}")
        });
        self.record(action, vec![arn], &[]);
    }

    /// What Auto Scaling checks when a call names a launch template: `ec2:RunInstances` with
    /// `ec2:LaunchTemplate` ("Control Amazon EC2 launch template usage in Auto Scaling groups",
    /// Amazon EC2 Auto Scaling User Guide).
    pub(crate) fn access_launch_from(&self, id_or_name: &str) {
        let arn = self.template_arn(id_or_name);
        self.record(
            "ec2:RunInstances",
            vec![arn.clone()],
            &[("ec2:LaunchTemplate", arn)],
        );
    }

    pub(crate) fn access_parameters(&self, names: &[String]) {
        self.record(
            op::GET_PARAMETERS,
            names.iter().map(|n| parameter_arn(n)).collect(),
            &[],
        );
    }

    pub(crate) fn access_topic(&self, action: &str, topic_arn: &str) {
        self.record(action, vec![topic_arn.to_string()], &[]);
    }

    pub(crate) fn access_clusters(&self, action: &str, clusters: &[String]) {
        self.record(
            action,
            clusters.iter().map(|c| cluster_arn(c)).collect(),
            &[],
        );
    }

    /// Container instances (ids or ARNs) of `cluster`, with the `ecs:cluster` key.
    pub(crate) fn access_container_instances(
        &self,
        action: &str,
        cluster: &str,
        instances: &[String],
    ) {
        let name = cluster_name(cluster);
        let arns = instances
            .iter()
            .map(|i| {
                if i.starts_with("arn:") {
                    i.clone()
                } else {
                    format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container-instance/{name}/{i}")
                }
            })
            .collect();
        self.record(action, arns, &[("ecs:cluster", cluster_arn(cluster))]);
    }

    pub(crate) fn access_capacity_providers(&self) {
        let names: Vec<String> = self.lock().capacity_providers.keys().cloned().collect();
        let arns = names
            .iter()
            .map(|n| format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:capacity-provider/{n}"))
            .collect();
        self.record(op::DESCRIBE_CAPACITY_PROVIDERS, arns, &[]);
    }
}
