//! The port's operations on the account. Each validates everything first and only then changes
//! state, so a rejected call leaves the account untouched.

use std::collections::{BTreeMap, BTreeSet};

use amiroll_core::port::{
    op, AutoScalingGroup, AwsError, CreateVersionRequest, DeleteVersionsOutput, Ec2Instance,
    ErrorKind, GetParametersOutput, Image, InstanceTypeInfo, LaunchTemplate, LaunchTemplateVersion,
    Notification, ScheduledAction, SsmParameter, UpdateGroupRequest, VersionAlias,
    MAX_PROTECTION_IDS,
};

use crate::account::{
    add_secs, fmt_time, split_selector, Account, ActionState, Lifecycle, VersionState,
    TERMINATED_VISIBLE_SECS,
};
use crate::types::TemplateData;

/// Largest SNS message, in bytes ("Publish", Amazon SNS API Reference).
pub(crate) const MAX_MESSAGE_BYTES: usize = 262_144;
/// Scheduled actions per group ("Quotas for Amazon EC2 Auto Scaling").
pub(crate) const MAX_SCHEDULED_ACTIONS: usize = 125;
/// Tags per group ("Tag Auto Scaling groups and instances").
pub(crate) const MAX_GROUP_TAGS: usize = 50;

fn invalid(operation: &'static str, code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(operation, ErrorKind::Invalid, code, message)
}

fn dedup(items: &[String]) -> Vec<&String> {
    let mut seen = BTreeSet::new();
    items.iter().filter(|i| seen.insert(i.as_str())).collect()
}

impl Account {
    /// `GetParameters` ("GetParameters", AWS Systems Manager API Reference): 1–10 names, each a
    /// name or `name:version`; unknown names (and unknown versions, and label selectors) are
    /// listed in `InvalidParameters`, not an error.
    pub(crate) fn get_parameters(&self, names: &[String]) -> Result<GetParametersOutput, AwsError> {
        if names.len() > 10 {
            return Err(invalid(
                op::GET_PARAMETERS,
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1 (got {})",
                    names.len()
                ),
            ));
        }
        let mut out = GetParametersOutput::default();
        for requested in dedup(names) {
            let (name, version) = split_selector(requested);
            let found = self.params.get(name).and_then(|history| match version {
                Some(v) => history.iter().find(|p| p.version == v),
                None => history.last(),
            });
            match found {
                Some(p) => out.parameters.push(SsmParameter {
                    name: name.to_string(),
                    value: p.value.clone(),
                    version: p.version,
                    data_type: Some(p.data_type.clone()),
                    last_modified: Some(p.last_modified),
                }),
                None => out.invalid_parameters.push(requested.clone()),
            }
        }
        Ok(out)
    }

    /// `DescribeImages` by id ("DescribeImages", Amazon EC2 API Reference). Unknown ids are left
    /// out (the adapter maps `InvalidAMIID.NotFound` to absence); deprecated images are returned
    /// when asked for by id. With Allowed AMIs `enabled`, an image outside the criteria is left
    /// out too; otherwise `ImageAllowed` says whether it matches them (see [`crate::AllowedAmis`]).
    pub(crate) fn describe_images(&self, image_ids: &[String]) -> Result<Vec<Image>, AwsError> {
        Ok(dedup(image_ids)
            .into_iter()
            .filter_map(|id| self.images.get(id.as_str()))
            .filter(|spec| {
                !(self.allowed_amis.enforced()
                    && self.allowed_amis.image_allowed(spec, crate::ACCOUNT_ID) == Some(false))
            })
            .map(|spec| Image {
                image_id: spec.image_id.clone(),
                name: Some(spec.name.clone()).filter(|n| !n.is_empty()),
                state: spec.state.clone(),
                architecture: spec.architecture.clone(),
                creation_date: Some(spec.creation_date),
                deprecation_time: spec.deprecation_time,
                owner_id: spec.owner_id.clone(),
                owner_alias: spec.owner_alias.clone(),
                public: Some(spec.public),
                image_allowed: self.allowed_amis.image_allowed(spec, crate::ACCOUNT_ID),
                root_device_name: spec.root_device_name.clone(),
            })
            .collect())
    }

    /// `DescribeInstanceTypes` ("DescribeInstanceTypes", Amazon EC2 API Reference): an unknown
    /// type fails the whole call with `InvalidInstanceType`; no names lists every known type.
    pub(crate) fn describe_instance_types(
        &self,
        types: &[String],
    ) -> Result<Vec<InstanceTypeInfo>, AwsError> {
        let info = |(name, archs): (&String, &Vec<String>)| InstanceTypeInfo {
            instance_type: name.clone(),
            architectures: archs.clone(),
        };
        if types.is_empty() {
            return Ok(self.instance_types.iter().map(info).collect());
        }
        let unknown: Vec<&str> = dedup(types)
            .into_iter()
            .filter(|t| !self.instance_types.contains_key(t.as_str()))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(invalid(
                op::DESCRIBE_INSTANCE_TYPES,
                "InvalidInstanceType",
                format!(
                    "The following supplied instance types do not exist: [{}]",
                    unknown.join(", ")
                ),
            ));
        }
        Ok(dedup(types)
            .into_iter()
            .filter_map(|t| self.instance_types.get_key_value(t.as_str()))
            .map(info)
            .collect())
    }

    /// `DescribeLaunchTemplates` for one id or name ("DescribeLaunchTemplates").
    pub(crate) fn describe_launch_template(
        &self,
        id_or_name: &str,
    ) -> Result<LaunchTemplate, AwsError> {
        Ok(self
            .template(op::DESCRIBE_LAUNCH_TEMPLATES, id_or_name)?
            .header())
    }

    /// `DescribeLaunchTemplateVersions` ("DescribeLaunchTemplateVersions"): every existing
    /// version of one template, in ascending order.
    pub(crate) fn describe_launch_template_versions(
        &self,
        id_or_name: &str,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        let t = self.template(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, id_or_name)?;
        Ok(t.versions.keys().filter_map(|n| t.view(*n)).collect())
    }

    /// `DescribeLaunchTemplateVersions` with `$Default` or `$Latest` and no template: that
    /// version of every template.
    pub(crate) fn describe_current_template_versions(
        &self,
        which: VersionAlias,
    ) -> Vec<LaunchTemplateVersion> {
        self.templates
            .values()
            .filter_map(|t| {
                t.view(match which {
                    VersionAlias::Default => t.default_version,
                    VersionAlias::Latest => t.latest(),
                })
            })
            .collect()
    }

    /// Store a new version (no validation); returns its number.
    pub(crate) fn add_version(
        &mut self,
        template_id: &str,
        data: TemplateData,
        description: Option<String>,
        source: Option<u64>,
    ) -> Option<u64> {
        let now = self.clock;
        let t = self.templates.get_mut(template_id)?;
        let number = t.next_version;
        t.next_version += 1;
        let image = data.image_id.clone().unwrap_or_else(|| "-".to_string());
        t.versions.insert(
            number,
            VersionState {
                description,
                data,
                create_time: now,
            },
        );
        let from = source
            .map(|s| format!(" from version {s}"))
            .unwrap_or_default();
        self.event(format!(
            "ec2 {template_id}: version {number} created{from} (ImageId {image})"
        ));
        Some(number)
    }

    /// `CreateLaunchTemplateVersion` ("CreateLaunchTemplateVersion"; "Ensuring idempotency in
    /// Amazon EC2 API requests"): inherits everything from `SourceVersion`, overwrites ImageId.
    pub(crate) fn create_launch_template_version(
        &mut self,
        req: &CreateVersionRequest,
    ) -> Result<LaunchTemplateVersion, AwsError> {
        const OP: &str = op::CREATE_LAUNCH_TEMPLATE_VERSION;
        if req.client_token.len() > 128 || !req.client_token.is_ascii() {
            return Err(invalid(
                OP,
                "InvalidParameterValue",
                "ClientToken must be at most 128 ASCII characters",
            ));
        }
        if !req.client_token.is_empty() {
            if let Some((original, version)) = self.version_tokens.get(&req.client_token) {
                if original != req {
                    return Err(AwsError::new(
                        OP,
                        ErrorKind::Conflict,
                        "IdempotentParameterMismatch",
                        format!(
                            "The client token {} was already used with different parameters",
                            req.client_token
                        ),
                    ));
                }
                let current = self
                    .templates
                    .get(&version.template_id)
                    .and_then(|t| t.view(version.version));
                return Ok(current.unwrap_or_else(|| LaunchTemplateVersion {
                    is_default: false,
                    ..version.clone()
                }));
            }
        }
        if req.description.chars().count() > 255 {
            return Err(invalid(
                OP,
                "InvalidParameterValue",
                "VersionDescription must be at most 255 characters",
            ));
        }
        if req.image_id.is_empty() {
            return Err(invalid(
                OP,
                "InvalidParameterValue",
                "ImageId must not be empty",
            ));
        }
        let t = self.template(OP, &req.template_id)?;
        let Some(source) = t.versions.get(&req.source_version) else {
            return Err(AwsError::new(
                OP,
                ErrorKind::NotFound,
                "InvalidLaunchTemplateId.VersionNotFound",
                format!(
                    "Could not find launch template version {} for {}",
                    req.source_version, t.id
                ),
            ));
        };
        let template_id = t.id.clone();
        let data = source.data.new_version(&TemplateData {
            image_id: Some(req.image_id.clone()),
            block_device_mappings: req.block_device_mappings.clone(),
            ..TemplateData::default()
        });
        let description = Some(req.description.clone()).filter(|d| !d.is_empty());
        let number = self
            .add_version(&template_id, data, description, Some(req.source_version))
            .ok_or_else(|| Account::template_not_found(OP, &req.template_id))?;
        let view = self
            .templates
            .get(&template_id)
            .and_then(|t| t.view(number))
            .ok_or_else(|| Account::template_not_found(OP, &req.template_id))?;
        if !req.client_token.is_empty() {
            self.version_tokens
                .insert(req.client_token.clone(), (req.clone(), view.clone()));
        }
        if self.visibility_delay > 0 {
            self.invisible_versions
                .borrow_mut()
                .insert((template_id, number), self.visibility_delay);
        }
        Ok(view)
    }

    /// `ModifyLaunchTemplate` with `SetDefaultVersion` ("ModifyLaunchTemplate").
    pub(crate) fn set_default(
        &mut self,
        operation: &'static str,
        id_or_name: &str,
        version: u64,
    ) -> Result<LaunchTemplate, AwsError> {
        let id = self.template(operation, id_or_name)?.id.clone();
        let Some(t) = self.templates.get_mut(&id) else {
            return Err(Account::template_not_found(operation, id_or_name));
        };
        if !t.versions.contains_key(&version) {
            return Err(AwsError::new(
                operation,
                ErrorKind::NotFound,
                "InvalidLaunchTemplateId.VersionNotFound",
                format!("Could not find launch template version {version} for {id}"),
            ));
        }
        let before = t.default_version;
        t.default_version = version;
        let header = t.header();
        if before != version {
            self.event(format!("ec2 {id}: default version {before} -> {version}"));
        }
        Ok(header)
    }

    /// `DeleteLaunchTemplateVersions` ("DeleteLaunchTemplateVersions"): ≤ 200 numbers; partial
    /// failure is a successful response. EC2 does not check whether a group uses a version.
    pub(crate) fn delete_versions(
        &mut self,
        id_or_name: &str,
        versions: &[u64],
    ) -> Result<DeleteVersionsOutput, AwsError> {
        const OP: &str = op::DELETE_LAUNCH_TEMPLATE_VERSIONS;
        if versions.is_empty() {
            return Err(invalid(
                OP,
                "MissingParameter",
                "The request must contain the parameter LaunchTemplateVersion",
            ));
        }
        if versions.len() > 200 {
            return Err(invalid(
                OP,
                "InvalidParameterValue",
                format!(
                    "You can specify at most 200 launch template versions per request (got {})",
                    versions.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        let unique: Vec<u64> = versions
            .iter()
            .copied()
            .filter(|v| seen.insert(*v))
            .collect();
        let mut out = DeleteVersionsOutput::default();
        let Some(id) = self.template_id(id_or_name) else {
            let (code, message) = if id_or_name.starts_with("lt-") {
                (
                    "launchTemplateIdDoesNotExist",
                    "The specified launch template ID does not exist",
                )
            } else {
                (
                    "launchTemplateNameDoesNotExist",
                    "The specified launch template name does not exist",
                )
            };
            out.failed = unique
                .into_iter()
                .map(|version| amiroll_core::port::VersionDeleteFailure {
                    version,
                    code: code.to_string(),
                    message: message.to_string(),
                })
                .collect();
            return Ok(out);
        };
        let Some(t) = self.templates.get_mut(&id) else {
            return Err(Account::template_not_found(OP, id_or_name));
        };
        for version in unique {
            if !t.versions.contains_key(&version) {
                out.failed.push(amiroll_core::port::VersionDeleteFailure {
                    version,
                    code: "launchTemplateVersionDoesNotExist".to_string(),
                    message: format!("Version {version} of {id} does not exist"),
                });
            } else if version == t.default_version {
                out.failed.push(amiroll_core::port::VersionDeleteFailure {
                    version,
                    code: "unexpectedError".to_string(),
                    message: format!(
                        "Version {version} is the default version of {id}; the default version cannot be deleted"
                    ),
                });
            } else {
                t.versions.remove(&version);
                out.deleted.push(version);
            }
        }
        if !out.deleted.is_empty() {
            let list: Vec<String> = out.deleted.iter().map(u64::to_string).collect();
            self.event(format!("ec2 {id}: deleted version(s) {}", list.join(", ")));
        }
        Ok(out)
    }

    /// `DescribeInstances` by id ("DescribeInstances"). Unknown ids are skipped; terminated
    /// instances are listed for an hour after termination, then left out.
    pub(crate) fn describe_instances(&self, ids: &[String]) -> Result<Vec<Ec2Instance>, AwsError> {
        let now = self.clock;
        Ok(dedup(ids)
            .into_iter()
            .filter_map(|id| self.instances.get(id.as_str()))
            .filter(|i| match i.terminated_at {
                None => true,
                Some(at) => add_secs(at, TERMINATED_VISIBLE_SECS) > now,
            })
            .map(|i| Ec2Instance {
                instance_id: i.id.clone(),
                image_id: i.image_id.clone(),
                state: match i.lifecycle {
                    Lifecycle::Pending => "pending",
                    // A hook holds it in `Terminating:Wait`: the EC2 instance still runs.
                    Lifecycle::InService | Lifecycle::TerminatingWait => "running",
                    Lifecycle::Terminated => "terminated",
                }
                .to_string(),
                launch_time: Some(i.launch_time),
                launch_template_id: i.template_id.clone(),
                launch_template_version: i.template_version,
            })
            .collect())
    }

    /// `DescribeAutoScalingGroups` ("DescribeAutoScalingGroups"): ≤ 100 names, missing groups
    /// absent, no names = every group.
    /// `DescribeAutoScalingGroups` with the filter `tag-key` ("DescribeAutoScalingGroups":
    /// `Filters`): every group carrying the tag.
    pub(crate) fn describe_groups_by_tag(&self, key: &str) -> Vec<AutoScalingGroup> {
        self.groups
            .values()
            .filter(|g| g.tags.contains_key(key))
            .map(|g| self.group_view(g))
            .collect()
    }

    pub(crate) fn describe_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        if names.len() > 100 {
            return Err(invalid(
                op::DESCRIBE_AUTO_SCALING_GROUPS,
                "ValidationError",
                format!(
                    "The number of AutoScalingGroupNames must not exceed 100 (got {})",
                    names.len()
                ),
            ));
        }
        if names.is_empty() {
            return Ok(self.groups.values().map(|g| self.group_view(g)).collect());
        }
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        Ok(self
            .groups
            .values()
            .filter(|g| wanted.contains(g.name.as_str()))
            .map(|g| self.group_view(g))
            .collect())
    }

    /// `UpdateAutoScalingGroup` ("UpdateAutoScalingGroup", Amazon EC2 Auto Scaling API Reference,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html):
    /// re-point the launch template, replace the termination policies (both affect future
    /// launches only) and set the sizes. Sizes given must leave min ≤ desired ≤ max
    /// (`ValidationError`); without a desired capacity, a new min above (max below) the current
    /// one moves it to the new min (max), as that page says. The group then scales at once.
    pub(crate) fn update_group(&mut self, req: &UpdateGroupRequest) -> Result<(), AwsError> {
        const OP: &str = op::UPDATE_AUTO_SCALING_GROUP;
        let Some(g) = self.groups.get(&req.group_name) else {
            return Err(Account::group_not_found(
                OP,
                ErrorKind::NotFound,
                &req.group_name,
            ));
        };
        if req.launch_template.is_some() && req.mixed_instances_policy.is_some() {
            return Err(invalid(
                OP,
                "ValidationError",
                "Specify either LaunchTemplate or MixedInstancesPolicy, not both",
            ));
        }
        // "Update restriction — If you attempt to update an Auto Scaling group's launch template,
        // launch configuration, or mixed instances policy while an instance refresh with a
        // desired configuration is active, the request will fail" ("How an instance refresh
        // works", Limitations,
        // https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html).
        let changes_configuration =
            req.launch_template.is_some() || req.mixed_instances_policy.is_some();
        if changes_configuration
            && self
                .active_refresh(&req.group_name)
                .is_some_and(|i| self.refreshes[i].desired.is_some())
        {
            return Err(invalid(
                OP,
                "ValidationError",
                "An active instance refresh with a desired configuration exists. All configuration options derived from the desired configuration are not available for update while the instance refresh is active.",
            ));
        }
        if let Some(spec) = &req.launch_template {
            if g.mixed.is_some() {
                return Err(invalid(
                    OP,
                    "ValidationError",
                    "The group uses a MixedInstancesPolicy; update its launch template through the MixedInstancesPolicy",
                ));
            }
            self.validate_spec(OP, spec)?;
            self.check_version_visible(OP, spec)?;
        }
        if let Some(policy) = &req.mixed_instances_policy {
            self.validate_spec(OP, &policy.template)?;
            self.check_version_visible(OP, &policy.template)?;
            for t in policy.overrides.iter().filter_map(|o| o.template.as_ref()) {
                self.validate_spec(OP, t)?;
            }
        }
        let policies = req.termination_policies.as_ref().map(|p| {
            if p.is_empty() {
                vec!["Default".to_string()]
            } else {
                p.clone()
            }
        });
        if let Some(p) = &policies {
            Account::validate_policies(OP, p)?;
        }
        let sizes =
            if req.min_size.is_some() || req.max_size.is_some() || req.desired_capacity.is_some() {
                Some(Account::new_sizes(
                    (g.min, g.max, g.desired),
                    req.min_size,
                    req.max_size,
                    req.desired_capacity,
                )?)
            } else {
                None
            };
        let mut changes = Vec::new();
        let name = req.group_name.clone();
        if let Some(g) = self.groups.get_mut(&name) {
            if let Some(spec) = &req.launch_template {
                g.launch_template = Some(spec.clone());
                changes.push(format!(
                    "launch template {} version {}",
                    spec.template_id
                        .clone()
                        .or_else(|| spec.template_name.clone())
                        .unwrap_or_default(),
                    spec.version
                        .clone()
                        .unwrap_or_else(|| "$Default".to_string())
                ));
            }
            if let Some(policy) = &req.mixed_instances_policy {
                // The policy given replaces the group's as a whole (members left out are reset);
                // a group on a plain LaunchTemplate becomes a mixed group.
                g.mixed = Some(policy.clone());
                g.launch_template = None;
                changes.push(format!(
                    "mixed instances policy: template {} version {}, {} override(s)",
                    policy
                        .template
                        .template_id
                        .clone()
                        .or_else(|| policy.template.template_name.clone())
                        .unwrap_or_default(),
                    policy
                        .template
                        .version
                        .clone()
                        .unwrap_or_else(|| "$Default".to_string()),
                    policy.overrides.len()
                ));
            }
            if let Some(p) = policies {
                changes.push(format!("termination policies [{}]", p.join(", ")));
                g.termination_policies = p;
            }
            if let Some((min, max, desired)) = sizes {
                changes.push(format!(
                    "min/max/desired {}/{}/{} -> {min}/{max}/{desired}",
                    g.min, g.max, g.desired
                ));
                g.min = min;
                g.max = max;
                g.desired = desired;
            }
        }
        if !changes.is_empty() {
            self.event(format!(
                "autoscaling {name}: updated {}",
                changes.join(", ")
            ));
        }
        if sizes.is_some() {
            self.ecs_note_desired_change(&name);
        }
        self.reconcile(&name);
        Ok(())
    }

    /// The group's (min, max, desired) after an `UpdateAutoScalingGroup` with these sizes, or the
    /// `ValidationError` AWS answers ("UpdateAutoScalingGroup": "the new MinSize is larger than
    /// the current size of the group, this sets the group's DesiredCapacity to the new MinSize
    /// value", and the same for MaxSize; the messages are the ones AWS is seen to send).
    fn new_sizes(
        (min_now, max_now, desired_now): (i32, i32, i32),
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> Result<(i32, i32, i32), AwsError> {
        const OP: &str = op::UPDATE_AUTO_SCALING_GROUP;
        if let Some(negative) = [min, max, desired].into_iter().flatten().find(|n| *n < 0) {
            return Err(invalid(
                OP,
                "ValidationError",
                format!("1 validation error detected: Value '{negative}' failed to satisfy constraint: Member must have value greater than or equal to 0"),
            ));
        }
        let min = min.unwrap_or(min_now);
        let max = max.unwrap_or(max_now);
        if min > max {
            return Err(invalid(
                OP,
                "ValidationError",
                format!("Max bound, {max}, must be greater than or equal to min bound, {min}"),
            ));
        }
        let desired = desired.unwrap_or_else(|| desired_now.clamp(min, max));
        if desired < min || desired > max {
            return Err(invalid(
                OP,
                "ValidationError",
                format!("Desired capacity:{desired} must be between the specified min size:{min} and max size:{max}"),
            ));
        }
        Ok((min, max, desired))
    }

    /// `SetInstanceProtection` ("SetInstanceProtection", Amazon EC2 Auto Scaling API Reference,
    /// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetInstanceProtection.html):
    /// 1–50 ids (`InstanceIds` is required, "You can specify up to 50 instances"), every one a
    /// live instance of the group ("The instance i-… is not part of Auto Scaling group …",
    /// `ValidationError`; one in `Terminating:Wait` is refused the same way — AWS does not say,
    /// and refusing is the stricter answer); a missing group is `ValidationError` too. Then the group is brought to
    /// its desired capacity again: removing protection lets a scale-in that was held up by
    /// protected instances proceed ("Use instance scale-in protection",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html).
    pub(crate) fn set_instance_protection(
        &mut self,
        operation: &'static str,
        group: &str,
        instance_ids: &[impl AsRef<str>],
        protected: bool,
    ) -> Result<(), AwsError> {
        if !self.groups.contains_key(group) {
            return Err(Account::group_not_found(
                operation,
                ErrorKind::NotFound,
                group,
            ));
        }
        if instance_ids.is_empty() || instance_ids.len() > MAX_PROTECTION_IDS {
            return Err(invalid(
                operation,
                "ValidationError",
                format!(
                    "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length between 1 and {MAX_PROTECTION_IDS} (got {})",
                    instance_ids.len()
                ),
            ));
        }
        if let Some(bad) = instance_ids.iter().map(AsRef::as_ref).find(|id| {
            !self
                .instances
                .get(*id)
                .is_some_and(|i| i.group == group && i.live())
        }) {
            return Err(invalid(
                operation,
                "ValidationError",
                format!("The instance {bad} is not part of Auto Scaling group {group} or not in the InService or Pending state."),
            ));
        }
        let ids: Vec<&str> = instance_ids.iter().map(AsRef::as_ref).collect();
        for id in &ids {
            if let Some(i) = self.instances.get_mut(*id) {
                i.protected = protected;
            }
        }
        self.event(format!(
            "autoscaling {group}: scale-in protection {} for {}",
            if protected { "set" } else { "removed" },
            ids.join(", ")
        ));
        self.reconcile(group);
        Ok(())
    }

    /// `DescribeScheduledActions` ("DescribeScheduledActions"): actions that have not run yet
    /// (recurring ones stay listed), by start time.
    pub(crate) fn describe_scheduled_actions(
        &self,
        group: &str,
    ) -> Result<Vec<ScheduledAction>, AwsError> {
        let Some(g) = self.groups.get(group) else {
            return Err(Account::group_not_found(
                op::DESCRIBE_SCHEDULED_ACTIONS,
                ErrorKind::NotFound,
                group,
            ));
        };
        let mut actions: Vec<ScheduledAction> =
            g.actions.values().map(|a| a.action.clone()).collect();
        actions.sort_by(|a, b| (a.start_time, &a.name).cmp(&(b.start_time, &b.name)));
        Ok(actions)
    }

    /// `PutScheduledUpdateGroupAction` ("PutScheduledUpdateGroupAction"; "Scheduled scaling for
    /// Amazon EC2 Auto Scaling"): create or update by name per group; unset fields keep their
    /// value on update; StartTime in the future; one action per start time; ≥ 1 size.
    pub(crate) fn put_scheduled_action(
        &mut self,
        action: &ScheduledAction,
    ) -> Result<(), AwsError> {
        const OP: &str = op::PUT_SCHEDULED_UPDATE_GROUP_ACTION;
        let group = action.group_name.as_str();
        let Some(g) = self.groups.get(group) else {
            return Err(Account::group_not_found(OP, ErrorKind::NotFound, group));
        };
        let name = action.name.as_str();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(invalid(
                OP,
                "ValidationError",
                "ScheduledActionName must be 1 to 255 characters",
            ));
        }
        if action.start_time <= self.clock {
            return Err(invalid(
                OP,
                "ValidationError",
                format!(
                    "Given start time {} is in the past (now {})",
                    fmt_time(action.start_time),
                    fmt_time(self.clock)
                ),
            ));
        }
        let existing = g.actions.get(name).map(|a| &a.action);
        if existing.is_none()
            && action.min_size.is_none()
            && action.max_size.is_none()
            && action.desired_capacity.is_none()
        {
            return Err(invalid(
                OP,
                "ValidationError",
                "At least one of MinSize, MaxSize or DesiredCapacity must be specified",
            ));
        }
        let merged = ScheduledAction {
            group_name: group.to_string(),
            name: name.to_string(),
            start_time: action.start_time,
            min_size: action.min_size.or(existing.and_then(|e| e.min_size)),
            max_size: action.max_size.or(existing.and_then(|e| e.max_size)),
            desired_capacity: action
                .desired_capacity
                .or(existing.and_then(|e| e.desired_capacity)),
            recurrence: action
                .recurrence
                .clone()
                .or_else(|| existing.and_then(|e| e.recurrence.clone())),
        };
        for size in [merged.min_size, merged.max_size, merged.desired_capacity]
            .into_iter()
            .flatten()
        {
            if size < 0 {
                return Err(invalid(OP, "ValidationError", "Sizes must not be negative"));
            }
        }
        if let (Some(min), Some(max)) = (merged.min_size, merged.max_size) {
            if min > max {
                return Err(invalid(
                    OP,
                    "ValidationError",
                    format!("Max size:{max} must be greater than or equal to min size:{min}"),
                ));
            }
        }
        if let Some(desired) = merged.desired_capacity {
            if merged.min_size.is_some_and(|min| desired < min) {
                return Err(invalid(
                    OP,
                    "ValidationError",
                    "Desired capacity must be greater than or equal to min size",
                ));
            }
            if merged.max_size.is_some_and(|max| desired > max) {
                return Err(invalid(
                    OP,
                    "ValidationError",
                    "Desired capacity must be less than or equal to max size",
                ));
            }
        }
        if let Some(other) = g
            .actions
            .values()
            .find(|a| a.action.name != name && a.action.start_time == merged.start_time)
        {
            return Err(invalid(
                OP,
                "ValidationError",
                format!(
                    "Scheduled action {} of group {group} already starts at {}; start times must be unique",
                    other.action.name,
                    fmt_time(merged.start_time)
                ),
            ));
        }
        if existing.is_none() && g.actions.len() >= MAX_SCHEDULED_ACTIONS {
            return Err(invalid(
                OP,
                "LimitExceeded",
                format!("A group can have at most {MAX_SCHEDULED_ACTIONS} scheduled actions"),
            ));
        }
        let verb = if existing.is_some() {
            "updated"
        } else {
            "created"
        };
        let size = |v: Option<i32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let text = format!(
            "autoscaling {group}: scheduled action {name} {verb} for {}: min/max/desired {}/{}/{}",
            fmt_time(merged.start_time),
            size(merged.min_size),
            size(merged.max_size),
            size(merged.desired_capacity)
        );
        if let Some(g) = self.groups.get_mut(group) {
            g.actions.insert(
                name.to_string(),
                ActionState {
                    action: merged,
                    fired: false,
                },
            );
        }
        self.event(text);
        Ok(())
    }

    /// `DeleteScheduledAction` ("DeleteScheduledAction"): a missing name is a `ValidationError`.
    pub(crate) fn delete_scheduled_action(
        &mut self,
        group: &str,
        name: &str,
    ) -> Result<(), AwsError> {
        const OP: &str = op::DELETE_SCHEDULED_ACTION;
        let Some(g) = self.groups.get_mut(group) else {
            return Err(Account::group_not_found(OP, ErrorKind::NotFound, group));
        };
        if g.actions.remove(name).is_none() {
            return Err(invalid(
                OP,
                "ValidationError",
                format!("Scheduled Update Group Action name not found - {name}"),
            ));
        }
        self.event(format!(
            "autoscaling {group}: scheduled action {name} deleted"
        ));
        Ok(())
    }

    /// `CreateOrUpdateTags` on a group ("CreateOrUpdateTags"; "Tag Auto Scaling groups and
    /// instances"): keys 1–128 characters, not `aws:`-prefixed; values ≤ 256; ≤ 50 tags.
    pub(crate) fn create_or_update_tags(
        &mut self,
        group: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        const OP: &str = op::CREATE_OR_UPDATE_TAGS;
        let Some(g) = self.groups.get(group) else {
            return Err(Account::group_not_found(OP, ErrorKind::Invalid, group));
        };
        for (k, v) in tags {
            if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
                return Err(invalid(
                    OP,
                    "ValidationError",
                    format!("Tag {k:?}: keys must be 1-128 characters and values at most 256"),
                ));
            }
            if k.starts_with("aws:") {
                return Err(invalid(
                    OP,
                    "ValidationError",
                    format!("Tag keys starting with 'aws:' are reserved ({k})"),
                ));
            }
        }
        let total = g
            .tags
            .keys()
            .chain(tags.keys())
            .collect::<BTreeSet<_>>()
            .len();
        if total > MAX_GROUP_TAGS {
            return Err(invalid(
                OP,
                "LimitExceeded",
                format!("A group can have at most {MAX_GROUP_TAGS} tags"),
            ));
        }
        if let Some(g) = self.groups.get_mut(group) {
            for (k, v) in tags {
                g.tags.insert(k.clone(), v.clone());
            }
        }
        if !tags.is_empty() {
            let list: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.event(format!("autoscaling {group}: tags set {}", list.join(", ")));
        }
        Ok(())
    }

    /// `DeleteTags` on a group ("DeleteTags"); missing keys are ignored.
    pub(crate) fn delete_tags(&mut self, group: &str, keys: &[String]) -> Result<(), AwsError> {
        let Some(g) = self.groups.get_mut(group) else {
            return Err(Account::group_not_found(
                op::DELETE_TAGS,
                ErrorKind::Invalid,
                group,
            ));
        };
        let removed: Vec<String> = keys
            .iter()
            .filter(|k| g.tags.remove(k.as_str()).is_some())
            .cloned()
            .collect();
        if !removed.is_empty() {
            self.event(format!(
                "autoscaling {group}: tags deleted {}",
                removed.join(", ")
            ));
        }
        Ok(())
    }

    fn topic_not_found(operation: &'static str, arn: &str) -> AwsError {
        AwsError::new(
            operation,
            ErrorKind::NotFound,
            "NotFound",
            format!("Topic does not exist: {arn}"),
        )
    }

    /// `GetTopicAttributes` ("GetTopicAttributes", Amazon SNS API Reference).
    pub(crate) fn get_topic_attributes(&self, arn: &str) -> Result<(), AwsError> {
        if self.topics.contains(arn) {
            Ok(())
        } else {
            Err(Account::topic_not_found(op::GET_TOPIC_ATTRIBUTES, arn))
        }
    }

    /// `Publish` to a topic ("Publish", Amazon SNS API Reference): Subject < 100 characters
    /// without line breaks or control characters; message non-empty, ≤ 262,144 bytes including
    /// message attributes.
    pub(crate) fn publish(&mut self, n: &Notification) -> Result<String, AwsError> {
        const OP: &str = op::PUBLISH;
        if !self.topics.contains(&n.topic_arn) {
            return Err(Account::topic_not_found(OP, &n.topic_arn));
        }
        if n.subject.chars().count() >= 100 {
            return Err(invalid(
                OP,
                "InvalidParameter",
                "Invalid parameter: Subject must be less than 100 characters",
            ));
        }
        if n.subject.chars().any(char::is_control) {
            return Err(invalid(
                OP,
                "InvalidParameter",
                "Invalid parameter: Subject must not contain line breaks or control characters",
            ));
        }
        if n.message.is_empty() {
            return Err(invalid(
                OP,
                "InvalidParameter",
                "Invalid parameter: Empty message",
            ));
        }
        let size = n.message.len()
            + n.attributes
                .iter()
                .map(|(k, v)| k.len() + "String".len() + v.len())
                .sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(invalid(
                OP,
                "InvalidParameter",
                format!("Invalid parameter: Message too long ({size} bytes > {MAX_MESSAGE_BYTES})"),
            ));
        }
        self.message_counter += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", self.message_counter);
        self.published.push(n.clone());
        self.event(format!("sns {}: published {:?}", n.topic_arn, n.subject));
        Ok(id)
    }
}
