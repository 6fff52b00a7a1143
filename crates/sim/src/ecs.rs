//! ECS capacity providers backed by Auto Scaling groups ("Amazon ECS capacity providers",
//! "DescribeCapacityProviders", "CreateCapacityProvider", Amazon ECS Developer Guide / API
//! Reference), reduced to what they do to a group: managed termination protection keeps
//! instances protected from scale in (container instances only while they run tasks, see
//! `container.rs`), managed scaling owns the desired capacity.

use amiroll_core::port::{AwsError, CapacityProvider, ErrorKind};

use crate::account::Account;
use crate::state::CapacityProviderState;
use crate::{setup_op, ACCOUNT_ID, REGION};

/// How often the simulated ECS managed scaling looks at its groups (a one-minute tick).
pub(crate) const MANAGED_SCALING_TICK_SECS: i64 = 60;

impl Account {
    /// `CreateCapacityProvider` with an `autoScalingGroupProvider` ("CreateCapacityProvider";
    /// "Amazon ECS capacity providers"): name up to 255 letters, digits, `-` and `_`, not
    /// prefixed `aws`, `ecs` or `fargate`; one provider per group; managed termination
    /// protection needs managed scaling. With managed termination protection, ECS protects the
    /// group's instances from scale in (new ones at launch), and its container instances only
    /// while they run tasks.
    pub(crate) fn create_capacity_provider(
        &mut self,
        name: &str,
        group: &str,
        managed_scaling: bool,
        managed_termination_protection: bool,
        managed_draining: bool,
    ) -> Result<String, AwsError> {
        const OP: &str = setup_op::CREATE_CAPACITY_PROVIDER;
        let client =
            |kind: ErrorKind, message: String| AwsError::new(OP, kind, "ClientException", message);
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || name.chars().count() > 255
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || ["aws", "ecs", "fargate"]
                .iter()
                .any(|p| lower.starts_with(p))
        {
            return Err(client(
                ErrorKind::Invalid,
                format!(
                    "The capacity provider name {name:?} is invalid: up to 255 letters, numbers, hyphens and underscores, not prefixed with aws, ecs or fargate"
                ),
            ));
        }
        if self.capacity_providers.contains_key(name) {
            return Err(client(
                ErrorKind::Conflict,
                format!("A capacity provider named {name} already exists"),
            ));
        }
        let Some(g) = self.groups.get(group) else {
            return Err(client(
                ErrorKind::NotFound,
                format!("The Auto Scaling group {group} does not exist"),
            ));
        };
        if let Some(other) = self.capacity_providers.values().find(|p| p.group == group) {
            return Err(client(
                ErrorKind::Conflict,
                format!(
                    "The Auto Scaling group {group} is already used by capacity provider {}",
                    other.name
                ),
            ));
        }
        if managed_termination_protection && !managed_scaling {
            return Err(AwsError::new(
                OP,
                ErrorKind::Invalid,
                "InvalidParameterException",
                "Managed termination protection requires managed scaling to be enabled",
            ));
        }
        let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:capacity-provider/{name}");
        let target_desired = g.desired;
        self.capacity_providers.insert(
            name.to_string(),
            CapacityProviderState {
                name: name.to_string(),
                group: group.to_string(),
                managed_scaling,
                managed_termination_protection,
                managed_draining,
                target_desired,
            },
        );
        let on = |b: bool| if b { "ENABLED" } else { "DISABLED" };
        self.event(format!(
            "ecs {name}: capacity provider created for {group} (managed scaling {}, managed termination protection {}, managed draining {})",
            on(managed_scaling),
            on(managed_termination_protection),
            on(managed_draining)
        ));
        if managed_termination_protection {
            let ids: Vec<String> = self
                .live_instances(group)
                .into_iter()
                .filter(|i| !i.protected)
                .map(|i| i.id.clone())
                .collect();
            for id in &ids {
                if let Some(i) = self.instances.get_mut(id) {
                    i.protected = true;
                }
            }
            if let Some(g) = self.groups.get_mut(group) {
                g.protect_new = true;
            }
            if !ids.is_empty() {
                self.event(format!(
                    "ecs {name}: managed termination protection protects {} from scale in",
                    ids.join(", ")
                ));
            }
            // Container instances keep it only while they run tasks (`container.rs`).
            self.ecs_step();
        }
        Ok(arn)
    }

    /// `DescribeCapacityProviders` ("DescribeCapacityProviders"): every capacity provider backed
    /// by an Auto Scaling group, by name.
    pub(crate) fn describe_capacity_providers(&self) -> Result<Vec<CapacityProvider>, AwsError> {
        Ok(self
            .capacity_providers
            .values()
            .map(|p| CapacityProvider {
                name: p.name.clone(),
                auto_scaling_group_arn: self
                    .groups
                    .get(&p.group)
                    .map(|g| g.arn.clone())
                    .unwrap_or_default(),
                managed_scaling: p.managed_scaling,
                managed_termination_protection: p.managed_termination_protection,
                managed_draining: p.managed_draining,
            })
            .collect())
    }

    fn managed_scaling_provider(&self, group: &str) -> Option<&CapacityProviderState> {
        self.capacity_providers
            .values()
            .find(|p| p.group == group && p.managed_scaling)
    }

    /// The group's desired capacity changed: if ECS managed scaling owns it and it now differs
    /// from what managed scaling wants, put it back at the next one-minute tick ("Amazon ECS
    /// cluster auto scaling": managed scaling owns the desired capacity).
    pub(crate) fn ecs_note_desired_change(&mut self, group: &str) {
        let Some(target) = self
            .managed_scaling_provider(group)
            .map(|p| p.target_desired)
        else {
            return;
        };
        let now = self.clock;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if g.desired == target || g.ecs_correct_at.is_some() {
            return;
        }
        let secs = now.timestamp();
        let next = (secs.div_euclid(MANAGED_SCALING_TICK_SECS) + 1) * MANAGED_SCALING_TICK_SECS;
        g.ecs_correct_at = chrono::DateTime::from_timestamp(next, 0);
    }

    /// The one-minute tick: managed scaling sets the desired capacity back to its target
    /// (within the group's current min and max).
    pub(crate) fn ecs_correct_desired(&mut self, group: &str) {
        let provider = self
            .managed_scaling_provider(group)
            .map(|p| (p.name.clone(), p.target_desired));
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        g.ecs_correct_at = None;
        let Some((name, target)) = provider else {
            return;
        };
        let target = target.clamp(g.min, g.max.max(g.min));
        if g.desired == target {
            return;
        }
        let before = g.desired;
        g.desired = target;
        self.event(format!(
            "ecs {name}: ECS managed scaling set desired back to {target} (was {before}) for {group}"
        ));
        self.reconcile(group);
    }
}
