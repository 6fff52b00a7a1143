//! Setting up the world: parameters, images, instance types, launch templates, groups, topics,
//! and the group and instance changes a test makes before (or between) runs.

use std::collections::BTreeMap;
use std::time::Duration;

use amiroll_core::port::{
    op, AwsError, ErrorKind, MixedInstancesPolicy, ScheduledAction, TemplateSpec,
};

use crate::account::{self, Account, GroupState, GroupStats, ParamVersion, TemplateState};
use crate::types::{GroupSpec, ImageSpec, TemplateData};
use crate::{setup_op, SimAws, ACCOUNT_ID, REGION};

impl SimAws {
    /// Whether each port call yields once to the executor first (default `true`), so concurrent
    /// engine runs interleave call by call.
    pub fn set_yield_per_call(&self, enabled: bool) {
        self.lock().yield_per_call = enabled;
    }

    /// Create or overwrite an SSM parameter (data type `text`); returns its new version.
    pub fn put_parameter(&self, name: &str, value: &str) -> i64 {
        self.put_parameter_with_type(name, value, "text")
    }

    /// Create or overwrite an SSM parameter with a data type (`text`, `aws:ec2:image`); bumps
    /// Version, sets LastModified to now and keeps the history for `name:version` selectors.
    pub fn put_parameter_with_type(&self, name: &str, value: &str, data_type: &str) -> i64 {
        let mut a = self.lock();
        let now = a.clock;
        let history = a.params.entry(name.to_string()).or_default();
        let version = history.last().map_or(1, |p| p.version + 1);
        history.push(ParamVersion {
            version,
            value: value.to_string(),
            data_type: data_type.to_string(),
            last_modified: now,
        });
        a.event(format!("ssm {name}: version {version} = {value}"));
        version
    }

    /// Set the account's Allowed AMIs setting (`EnableAllowedImagesSettings` and the image
    /// criteria, or `DisableAllowedImagesSettings`).
    pub fn set_allowed_amis(&self, setting: crate::AllowedAmis) {
        let mut a = self.lock();
        let text = format!("ec2: Allowed AMIs set to {setting:?}");
        a.allowed_amis = setting;
        a.event(text);
    }

    /// Register (or replace) an AMI.
    pub fn register_image(&self, spec: ImageSpec) {
        let mut a = self.lock();
        let text = format!(
            "ec2 {}: image registered ({}, {}, {})",
            spec.image_id,
            spec.architecture,
            spec.state,
            if spec.healthy { "healthy" } else { "unhealthy" }
        );
        a.images.insert(spec.image_id.clone(), spec);
        a.event(text);
    }

    /// Add (or replace) an instance type with its supported architectures.
    pub fn add_instance_type(&self, name: &str, architectures: &[&str]) {
        self.lock().instance_types.insert(
            name.to_string(),
            architectures.iter().map(|s| s.to_string()).collect(),
        );
    }

    /// `CreateLaunchTemplate`: version 1 (the default) holds `data`. Returns the template id
    /// (`lt-` + 16 hex digits from a counter).
    pub fn create_launch_template(
        &self,
        name: &str,
        data: TemplateData,
    ) -> Result<String, AwsError> {
        let mut a = self.lock();
        if name.len() < 3 || name.len() > 128 {
            return Err(AwsError::new(
                setup_op::CREATE_LAUNCH_TEMPLATE,
                ErrorKind::Invalid,
                "InvalidLaunchTemplateName.MalformedException",
                "A launch template name must be 3 to 128 characters",
            ));
        }
        if name.starts_with("lt-") || a.template_id(name).is_some() {
            return Err(AwsError::new(
                setup_op::CREATE_LAUNCH_TEMPLATE,
                if name.starts_with("lt-") {
                    ErrorKind::Invalid
                } else {
                    ErrorKind::Conflict
                },
                if name.starts_with("lt-") {
                    "InvalidLaunchTemplateName.MalformedException"
                } else {
                    "InvalidLaunchTemplateName.AlreadyExistsException"
                },
                format!("Launch template name {name} is already in use or malformed"),
            ));
        }
        a.template_counter += 1;
        let id = format!("lt-{:016x}", a.template_counter);
        a.templates.insert(
            id.clone(),
            TemplateState {
                id: id.clone(),
                name: name.to_string(),
                default_version: 1,
                next_version: 1,
                versions: BTreeMap::new(),
            },
        );
        a.event(format!("ec2 {id}: launch template {name} created"));
        a.add_version(&id, data, None, None);
        a.settle();
        Ok(id)
    }

    /// Create a version directly (not logged, no faults). With `source_version`, the new version
    /// inherits the source's data and every member set in `data` overrides it (`other` merged by
    /// key); without, it holds only `data`. Returns the new number. Does not move the default.
    pub fn create_launch_template_version_raw(
        &self,
        template: &str,
        source_version: Option<u64>,
        data: TemplateData,
        description: Option<&str>,
    ) -> Result<u64, AwsError> {
        const OP: &str = op::CREATE_LAUNCH_TEMPLATE_VERSION;
        let mut a = self.lock();
        let t = a.template(OP, template)?;
        let id = t.id.clone();
        let data = match source_version {
            Some(s) => match t.versions.get(&s) {
                Some(v) => v.data.new_version(&data),
                None => {
                    return Err(AwsError::new(
                        OP,
                        ErrorKind::NotFound,
                        "InvalidLaunchTemplateId.VersionNotFound",
                        format!("Could not find launch template version {s} for {id}"),
                    ))
                }
            },
            None => data,
        };
        let number = a
            .add_version(&id, data, description.map(str::to_string), source_version)
            .ok_or_else(|| Account::template_not_found(OP, template))?;
        a.settle();
        Ok(number)
    }

    /// Move a template's default version (like `ModifyLaunchTemplate`, not logged).
    pub fn set_default_version(&self, template: &str, version: u64) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.set_default(op::MODIFY_LAUNCH_TEMPLATE, template, version)?;
        a.settle();
        Ok(())
    }

    /// `CreateAutoScalingGroup`: launches `desired` instances that are already `InService` (a
    /// steady fleet; health per their AMI).
    pub fn create_group(&self, spec: GroupSpec) -> Result<(), AwsError> {
        const OP: &str = setup_op::CREATE_AUTO_SCALING_GROUP;
        let invalid = |m: String| AwsError::new(OP, ErrorKind::Invalid, "ValidationError", m);
        let mut a = self.lock();
        if a.groups.contains_key(&spec.name) {
            return Err(AwsError::new(
                OP,
                ErrorKind::Conflict,
                "AlreadyExists",
                format!(
                    "AutoScalingGroup by this name already exists - {}",
                    spec.name
                ),
            ));
        }
        if spec.min_size < 0
            || spec.min_size > spec.max_size
            || spec.desired_capacity < spec.min_size
            || spec.desired_capacity > spec.max_size
        {
            return Err(invalid(format!(
                "Desired capacity:{} must be between the specified min size:{} and max size:{}",
                spec.desired_capacity, spec.min_size, spec.max_size
            )));
        }
        if spec.availability_zones.is_empty() {
            return Err(invalid(
                "At least one Availability Zone is required".to_string(),
            ));
        }
        let policies = if spec.termination_policies.is_empty() {
            vec!["Default".to_string()]
        } else {
            spec.termination_policies.clone()
        };
        Account::validate_policies(OP, &policies)?;
        for p in &spec.suspended_processes {
            if !account::PROCESSES.contains(&p.as_str()) {
                return Err(invalid(format!("Unknown process {p}")));
            }
        }
        let template_spec = if spec.template.starts_with("lt-") {
            TemplateSpec {
                template_id: Some(spec.template.clone()),
                template_name: None,
                version: spec.version.clone(),
            }
        } else {
            TemplateSpec {
                template_id: None,
                template_name: Some(spec.template.clone()),
                version: spec.version.clone(),
            }
        };
        a.validate_spec(OP, &template_spec)?;
        if let Some(overrides) = &spec.overrides {
            for t in overrides.iter().filter_map(|o| o.template.as_ref()) {
                a.validate_spec(OP, t)?;
            }
        }
        let (launch_template, mixed) = match spec.overrides {
            Some(overrides) => (
                None,
                Some(MixedInstancesPolicy {
                    template: template_spec,
                    overrides,
                    distribution: spec.distribution,
                }),
            ),
            None => (Some(template_spec), None),
        };
        a.group_counter += 1;
        let arn = format!(
            "arn:aws:autoscaling:{REGION}:{ACCOUNT_ID}:autoScalingGroup:00000000-0000-4000-8000-{:012x}:autoScalingGroupName/{}",
            a.group_counter, spec.name
        );
        let name = spec.name.clone();
        a.groups.insert(
            name.clone(),
            GroupState {
                name: name.clone(),
                arn,
                min: spec.min_size,
                max: spec.max_size,
                desired: spec.desired_capacity,
                launch_template,
                mixed,
                termination_policies: policies,
                azs: spec.availability_zones,
                suspended: spec.suspended_processes.into_iter().collect(),
                tags: spec.tags,
                protect_new: spec.new_instances_protected_from_scale_in,
                actions: BTreeMap::new(),
                launch_counter: 0,
                retry_at: None,
                last_problem: None,
                stats: GroupStats::default(),
                default_warmup: None,
                grace_period: Duration::from_secs(u64::from(spec.health_check_grace_period)),
                ecs_correct_at: None,
                hooks: BTreeMap::new(),
            },
        );
        a.event(format!(
            "autoscaling {name}: group created (min/max/desired {}/{}/{})",
            spec.min_size, spec.max_size, spec.desired_capacity
        ));
        // The initial fleet is already in service.
        let boot = a.boot_time;
        a.boot_time = Duration::ZERO;
        a.reconcile(&name);
        a.boot_time = boot;
        a.settle();
        if let Some(g) = a.groups.get_mut(&name) {
            g.stats = GroupStats::default();
        }
        a.observe(&name);
        Ok(())
    }

    /// Create an SNS topic; returns its ARN.
    pub fn create_topic(&self, name: &str) -> String {
        let arn = format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}");
        let mut a = self.lock();
        if a.topics.insert(arn.clone()) {
            a.event(format!("sns {arn}: topic created"));
        }
        arn
    }

    fn set_processes(
        &self,
        group: &str,
        processes: &[&str],
        suspend: bool,
    ) -> Result<(), AwsError> {
        let operation = if suspend {
            setup_op::SUSPEND_PROCESSES
        } else {
            setup_op::RESUME_PROCESSES
        };
        let mut a = self.lock();
        if let Some(p) = processes.iter().find(|p| !account::PROCESSES.contains(p)) {
            return Err(AwsError::new(
                operation,
                ErrorKind::Invalid,
                "ValidationError",
                format!("Unknown process {p}"),
            ));
        }
        let Some(g) = a.groups.get_mut(group) else {
            return Err(Account::group_not_found(
                operation,
                ErrorKind::NotFound,
                group,
            ));
        };
        // No names = every process, as the API does.
        let all: Vec<&str> = if processes.is_empty() {
            account::PROCESSES.to_vec()
        } else {
            processes.to_vec()
        };
        for p in &all {
            if suspend {
                g.suspended.insert(p.to_string());
            } else {
                g.suspended.remove(*p);
            }
        }
        a.event(format!(
            "autoscaling {group}: {} {}",
            if suspend { "suspended" } else { "resumed" },
            all.join(", ")
        ));
        a.reconcile(group);
        a.settle();
        Ok(())
    }

    /// `UpdateAutoScalingGroup` with only `HealthCheckGracePeriod` (seconds), by someone else:
    /// instances launched from now on get it (the simulator fixes each instance's grace period
    /// at launch). Unknown groups are ignored.
    pub fn set_health_check_grace_period(&self, group: &str, seconds: u32) {
        let mut a = self.lock();
        if let Some(g) = a.groups.get_mut(group) {
            g.grace_period = Duration::from_secs(u64::from(seconds));
        }
        a.settle();
    }

    /// `SuspendProcesses` (`Launch`, `Terminate`, `ScheduledActions`, ...; none = all).
    pub fn suspend_processes(&self, group: &str, processes: &[&str]) -> Result<(), AwsError> {
        self.set_processes(group, processes, true)
    }

    /// `ResumeProcesses` (none = all); the group then catches up with its desired capacity.
    pub fn resume_processes(&self, group: &str, processes: &[&str]) -> Result<(), AwsError> {
        self.set_processes(group, processes, false)
    }

    /// `SetInstanceProtection` without a port call (not logged, no faults); the same validation
    /// as the port's (1–50 ids, all in the group). Removing protection lets a pending scale-in
    /// proceed.
    pub fn set_instance_protection(
        &self,
        group: &str,
        instance_ids: &[&str],
        protected: bool,
    ) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.set_instance_protection(
            setup_op::SET_INSTANCE_PROTECTION,
            group,
            instance_ids,
            protected,
        )?;
        a.settle();
        Ok(())
    }

    /// An instance's health as a health check (or `SetInstanceHealth` by someone else) reports
    /// it: `false` makes it `Unhealthy` once in service, and Auto Scaling then replaces it (see
    /// the crate docs, "Unhealthy AMIs"). Unknown ids are ignored.
    pub fn set_instance_health(&self, instance_id: &str, healthy: bool) {
        let mut a = self.lock();
        let now = a.clock;
        if let Some(i) = a.instances.get_mut(instance_id) {
            if i.image_healthy && !healthy {
                i.failing_since = Some(now);
            }
            i.image_healthy = healthy;
        }
        a.settle();
    }

    /// `SetDesiredCapacity` (must be within [min, max]); launches or terminates at once.
    pub fn set_desired_capacity(&self, group: &str, desired: i32) -> Result<(), AwsError> {
        const OP: &str = setup_op::SET_DESIRED_CAPACITY;
        let mut a = self.lock();
        let Some(g) = a.groups.get_mut(group) else {
            return Err(Account::group_not_found(OP, ErrorKind::NotFound, group));
        };
        if desired < g.min || desired > g.max {
            return Err(AwsError::new(
                OP,
                ErrorKind::Invalid,
                "ValidationError",
                format!(
                    "New SetDesiredCapacity value {desired} is outside min {} and max {}",
                    g.min, g.max
                ),
            ));
        }
        let before = g.desired;
        g.desired = desired;
        a.event(format!(
            "autoscaling {group}: desired capacity {before} -> {desired}"
        ));
        a.ecs_note_desired_change(group);
        a.reconcile(group);
        a.settle();
        Ok(())
    }

    /// `CreateCluster` (ECS): a name of up to 255 letters, digits, hyphens and underscores
    /// (`InvalidParameterException` otherwise); an existing name returns the same cluster.
    /// Returns its ARN. Instances already in service whose user data names it register now
    /// (their agent retries), so the cluster may come before or after the group.
    pub fn create_cluster(&self, name: &str) -> Result<String, AwsError> {
        let mut a = self.lock();
        let arn = a.create_cluster(name)?;
        a.settle();
        Ok(arn)
    }

    /// `PutClusterCapacityProviders` adding one capacity provider (created with
    /// [`SimAws::create_capacity_provider`]) to the cluster's list; `DescribeClusters` then names
    /// it in the cluster's `capacityProviders`. The cluster is a name or an ARN
    /// (`ClusterNotFoundException` when unknown); an unknown provider is
    /// `InvalidParameterException`; a provider already associated with another cluster is
    /// refused (`ResourceInUseException`): an Auto Scaling group's provider belongs to one
    /// cluster at most. No default capacity provider strategy is modelled (no task is placed by
    /// one).
    pub fn attach_capacity_provider(&self, cluster: &str, provider: &str) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.attach_capacity_provider(cluster, provider)?;
        a.settle();
        Ok(())
    }

    /// The ECS agent of instances launched from `template` (an id or a name) joins `cluster`
    /// when their version's user data names no cluster: the agent's configuration comes from
    /// somewhere amiroll does not read (a file fetched at boot, compressed user data, a
    /// Bottlerocket setting). A cluster the user data names still wins. Instances of the
    /// template already in service that are not container instances register now (their agent
    /// retries). An unknown template is the error `DescribeLaunchTemplates` gives for it.
    pub fn set_agent_cluster(&self, template: &str, cluster: &str) -> Result<(), AwsError> {
        let mut a = self.lock();
        let id = a.describe_launch_template(template)?.id;
        a.set_agent_cluster(&id, cluster);
        a.settle();
        Ok(())
    }

    /// `CreateService` (ECS, EC2 launch type, no load balancer): `desired` tasks, placed at once
    /// on the cluster's `ACTIVE` container instances with room (spread); the rest wait for room.
    /// The cluster is a name or an ARN (`ClusterNotFoundException` when unknown).
    pub fn create_service(
        &self,
        cluster: &str,
        service: &str,
        desired: usize,
    ) -> Result<(), AwsError> {
        self.set_service(setup_op::CREATE_SERVICE, cluster, service, desired)
    }

    /// `UpdateService` with a new desired count: tasks are placed, or the newest ones stopped,
    /// at once.
    pub fn update_service(
        &self,
        cluster: &str,
        service: &str,
        desired: usize,
    ) -> Result<(), AwsError> {
        self.set_service(setup_op::UPDATE_SERVICE, cluster, service, desired)
    }

    fn set_service(
        &self,
        operation: &'static str,
        cluster: &str,
        service: &str,
        desired: usize,
    ) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.set_service(operation, cluster, service, desired)?;
        a.settle();
        Ok(())
    }

    /// Put a scheduled action without a port call (e.g. one "someone else" created, possibly with
    /// a `Recurrence`). Same validation as the port's `PutScheduledUpdateGroupAction`.
    pub fn add_scheduled_action(&self, action: ScheduledAction) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.put_scheduled_action(&action)?;
        a.settle();
        Ok(())
    }
}
