//! amiroll-sim: an in-memory simulated AWS account with a virtual clock, implementing the
//! [`amiroll_core::port::Aws`] port.
//!
//! It powers the engine's scenario tests (a crash after any call, injected faults, concurrent
//! runs) and `amiroll demo`. It is deterministic — no randomness, no wall clock: ids come from
//! counters, time only moves with [`SimAws::advance`] (or the port's `sleep`).
//!
//! ```
//! use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};
//!
//! let sim = SimAws::new();
//! sim.register_image(ImageSpec::new("ami-1", "al2023-ecs-1", "x86_64", sim.now()));
//! let lt = sim.create_launch_template("web", TemplateData::new("ami-1", "t3.small")).unwrap();
//! sim.create_group(GroupSpec::new("web-asg", &lt, 1, 4, 2)).unwrap();
//! assert_eq!(sim.instances_by_ami("web-asg").get("ami-1"), Some(&2));
//! ```
//!
//! # How a call works
//!
//! Every port call is recorded in the call log, then fault injection decides whether it fails
//! (see [`SimAws::fail_nth`], [`SimAws::throttle`], [`SimAws::time_out`],
//! [`SimAws::crash_after`]), then the operation runs. A failed call — injected or rejected by the
//! simulated service — changes no state, except an *ambiguous write*
//! ([`SimAws::fail_nth_after_effect`]): the call takes effect, then the caller sees an error.
//! Observers registered with [`SimAws::on_every_call`] run after every call, failed or not.
//! Setup methods and outside actors (a person deleting a group, a template, a parameter or a
//! scheduled action, editing tags: [`SimAws::delete_group`], [`SimAws::tag_group`], ...) are not
//! port calls: they are not logged and no fault applies to them.
//! After a successful call, everything due at the current time is processed (e.g. an instance
//! launched with a zero boot time comes into service). By default each call first yields once to
//! the executor, so engine runs joined on one thread interleave call by call (see
//! [`SimAws::set_yield_per_call`]).
//!
//! The behaviours follow the AWS documentation quoted in `reference/aws-semantics.md`; each
//! operation's doc comment names the AWS page it follows.
//!
//! # Simplifications
//!
//! - **One account, one region** (`123456789012`, `us-east-1`); no eventual consistency (every
//!   call sees the effects of the previous ones); no real throttling (only injected).
//! - **Time** moves only through `advance`/`sleep`; calls take no time. The clock is shared, so
//!   concurrent sleepers each move it forward. Scheduled actions fire exactly at their StartTime
//!   (AWS may be up to ~2 minutes late) unless [`SimAws::set_scheduled_action_delay`] makes them
//!   late; actions are not kept in order then (AWS runs one group's actions in the order given).
//! - **Instances** go `Pending` → `InService` after a fixed boot time (default 90 s) and terminate
//!   instantly (no `Terminating`, lifecycle hooks, warm pools, Standby, draining). Terminated
//!   instances leave the group at once and stay visible to `DescribeInstances` for one hour.
//! - **Unhealthy AMIs**: instances launched from an [`ImageSpec`] with `healthy: false` reach
//!   `InService` with health `Unhealthy` and stay so; real Auto Scaling would replace them again
//!   and again (health checks and `ReplaceUnhealthy` are not modelled).
//! - **Launching**: a launch fails (a timeline event, no instance) when the group's template or
//!   resolved version does not exist, the version has no ImageId, the AMI (or the
//!   `resolve:ssm:` parameter) is unknown or not `available`, or the AMI's architecture does not
//!   match a known instance type. A group below its desired capacity retries every 5 minutes
//!   (no administrative suspension after repeated failures).
//! - **Scale-in protection** applies from launch, not from `InService`.
//! - **Termination policies** ("Control which Auto Scaling instances terminate during scale
//!   in"): AZ balance first (all AZs tied for the most instances are considered together), then
//!   the policies in order. `OldestLaunchTemplate` takes instances on a non-current template, then
//!   the lowest version number (across templates for mixed groups). `Default` is
//!   `OldestLaunchTemplate` followed — instead of "closest to the next billing hour, then random" —
//!   by the **lowest instance id**, which is also the final tie-break for every policy list.
//!   `ClosestToNextInstanceHour` uses launch time modulo one hour. `AllocationStrategy`,
//!   `OldestLaunchConfiguration` (no launch configurations exist here) and custom Lambda policies
//!   are accepted and have no effect.
//! - **Mixed instances policies**: launches rotate through the overrides in order (an override's
//!   own template, else the policy's); no Spot/On-Demand split or allocation strategies.
//!   `UpdateAutoScalingGroup` with `LaunchTemplate` on a mixed group is rejected
//!   (`ValidationError`) since the port cannot express a mixed-policy update.
//! - **Scheduled actions**: `Recurrence` is stored but not evaluated — a recurring action fires
//!   once at its StartTime and stays listed; `EndTime`/`TimeZone` are not modelled. When an action
//!   sets min/max but not desired, the desired capacity is moved into the new range (as
//!   `UpdateAutoScalingGroup` documents); an explicit desired outside the range fails the action.
//!   Size consistency (min ≤ desired ≤ max among the sizes given) is checked at put time too.
//! - **`$Latest`** is the highest existing version (AWS does not document what it becomes after
//!   the highest version is deleted).
//! - **Launch template data** is not validated at `CreateLaunchTemplateVersion` (as EC2's shallow
//!   validation); `ClientToken`s never expire.
//! - **`DeleteLaunchTemplateVersions`** on a template that does not exist reports every version
//!   as failed (`launchTemplateIdDoesNotExist` / `launchTemplateNameDoesNotExist`).
//! - **`DescribeInstances`** skips unknown ids instead of failing with `InvalidInstanceID.NotFound`;
//!   **`DescribeImages`** skips unknown ids (as the SDK adapter does) and returns nothing for an
//!   empty id list.
//! - **SSM**: `name:version` selectors only (labels go to `InvalidParameters`); no SecureString;
//!   data type `text` unless set with [`SimAws::put_parameter_with_type`].
//! - **SNS**: messages are stored, not delivered; message ids are counters in UUID form.
//! - **Missing groups**: `UpdateAutoScalingGroup`, `SetInstanceProtection`,
//!   `PutScheduledUpdateGroupAction`, `DeleteScheduledAction`, `DescribeScheduledActions` and the
//!   instance-refresh operations fail with kind `NotFound` and code `ValidationError`;
//!   `CreateOrUpdateTags`/`DeleteTags` with kind `Invalid`, code `ValidationError`.
//! - **Sizes**: `UpdateAutoScalingGroup` with MinSize/MaxSize/DesiredCapacity checks
//!   min ≤ desired ≤ max (`ValidationError`), moves an unspecified desired capacity into the new
//!   range, and scales at once, like `SetDesiredCapacity` and a scheduled action that fires.
//! - **Instance refreshes** ("StartInstanceRefresh", "RefreshPreferences", "How an instance
//!   refresh works", "Undo changes with a manual or auto rollback"; see `refresh.rs`):
//!   - `Rolling` only, with a launch template `DesiredConfiguration` by version number or none.
//!     On a mixed group the desired template replaces the policy's launch template (override
//!     templates stay; override instance types keep rotating). Ids are counters in UUID form.
//!   - Instances to update are the live instances (`Pending` ones too) when the refresh starts,
//!     replaced in instance-id order. `SkipMatching` matches on template id and version number
//!     only; without a desired configuration every instance is replaced (from the group's own
//!     configuration). `InstancesToUpdate` reports the instances still to update.
//!   - Batches: launch before terminate while the group has fewer than ⌊D × max / 100⌋ live
//!     instances (D = desired capacity; the group's MaxSize is not enforced), terminate then
//!     launch while more than ⌈D × min / 100⌉ instances are `InService`, `Healthy` and not
//!     warming up. When neither is possible and no replacement is under way, one instance is
//!     replaced anyway, terminate then launch (as AWS does with min = max = 100): small groups
//!     can dip below the floor then.
//!   - Warm-up: `InstanceWarmup`, else the group's `DefaultInstanceWarmup`
//!     ([`SimAws::set_instance_warmup`]), else 0 — counted from `InService`
//!     (`HealthCheckGracePeriod` is not modelled). A new instance is judged once, at the end of
//!     its warm-up: `Unhealthy` fails the refresh at once (no retries); a launch failure fails it
//!     at once too. On `Failed`/`RollbackFailed`, launch-before-terminate replacements under way
//!     are abandoned (their new instances terminate, the old ones stay).
//!   - Instances launched before their old ones terminate are not counted against the desired
//!     capacity (no scale-in of them); scale-outs during a refresh launch from the desired
//!     configuration.
//!   - Checkpoints: the refresh starts no more replacements than the next checkpoint needs, and
//!     pauses there for `CheckpointDelay` (default 3600 s) with status `InProgress` and a
//!     StatusReason starting "Waiting for checkpoint" (AWS has no pause status). A checkpoint of
//!     100 does not pause; when the last checkpoint is below 100 the refresh ends `Successful`
//!     after its delay, leaving the rest of the instances as they are.
//!   - `ScaleInProtectedInstances=Wait` (default): unprotected instances are replaced first, then
//!     the refresh waits one hour for protection to go and fails; it applies during a rollback
//!     too. `StandbyInstances` and `AlarmSpecification` are validated but have no effect (no
//!     Standby, no CloudWatch). Suspending `Launch`, `Terminate` or `InstanceRefresh` pauses a
//!     refresh indefinitely. Not modelled: warm pools, `ReplaceRootVolume`, lifecycle hooks, the
//!     14-day limit, `LimitExceeded`, EventBridge events.
//!   - The group takes the desired configuration (pinned by number) only at `Successful`, after
//!     `BakeTime`. A rollback therefore launches from the group's own configuration (the saved
//!     one), replacing the instances the refresh launched; `PercentageComplete` falls linearly
//!     from its value at the rollback to 0. The rollback reason is the StatusReason (the port
//!     has no `RollbackDetails`). `RollbackInstanceRefresh` accepts `Pending`, `InProgress` and
//!     `Baking` refreshes only (others: `ActiveInstanceRefreshNotFound`).
//!   - No refresh is ever cancelled: amiroll never calls `CancelInstanceRefresh`, so the
//!     statuses `Cancelling` and `Cancelled` do not occur here.
//!   - `DescribeInstanceRefreshes` returns the previous six weeks in one page.
//! - **ECS capacity providers** ("Amazon ECS capacity providers", "DescribeCapacityProviders"):
//!   only providers backed by a group (created with [`SimAws::create_capacity_provider`]; no
//!   Fargate providers, clusters, tasks, updates or deletion). Managed termination protection
//!   protects every instance of the group from scale in, existing and new (ECS would protect
//!   only instances running tasks). Managed scaling keeps the desired capacity at its value when
//!   the provider was created: a change by a scheduled action or
//!   [`SimAws::set_desired_capacity`] is put back (within min/max) at the next whole minute, with
//!   the event "ECS managed scaling set desired back to N" — no target tracking. Managed
//!   draining is recorded only (no lifecycle hook, terminations are immediate).

mod account;
mod ecs;
mod faults;
mod ops;
mod refresh;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use amiroll_core::port::{
    op, AutoScalingGroup, Aws, AwsError, CapacityProvider, CreateVersionRequest,
    DeleteVersionsOutput, Ec2Instance, ErrorKind, GetParametersOutput, Image, InstanceRefresh,
    InstanceTypeInfo, LaunchTemplate, LaunchTemplateVersion, MixedInstancesPolicy, Notification,
    ScheduledAction, SsmParameter, StartRefreshRequest, TemplateSpec, Timestamp,
    UpdateGroupRequest, VersionAlias,
};
use chrono::TimeZone;

use account::{Account, GroupState, GroupStats, ParamVersion, TemplateState};

pub use faults::throttling_code;
pub use types::{GroupSpec, ImageSpec, TemplateData, AMAZON_OWNER_ID};

/// The simulated account's id.
pub const ACCOUNT_ID: &str = "123456789012";
/// The simulated account's region.
pub const REGION: &str = "us-east-1";
/// Default time from launch to `InService`.
pub const DEFAULT_BOOT_TIME: Duration = Duration::from_secs(90);

/// Names of setup operations (not port calls: not logged, no faults), used in their errors.
pub mod setup_op {
    pub const CREATE_LAUNCH_TEMPLATE: &str = "ec2:CreateLaunchTemplate";
    pub const CREATE_AUTO_SCALING_GROUP: &str = "autoscaling:CreateAutoScalingGroup";
    pub const SUSPEND_PROCESSES: &str = "autoscaling:SuspendProcesses";
    pub const RESUME_PROCESSES: &str = "autoscaling:ResumeProcesses";
    pub const SET_INSTANCE_PROTECTION: &str = "autoscaling:SetInstanceProtection";
    pub const SET_DESIRED_CAPACITY: &str = "autoscaling:SetDesiredCapacity";
    /// `UpdateAutoScalingGroup` with `DefaultInstanceWarmup`.
    pub const SET_DEFAULT_INSTANCE_WARMUP: &str = "autoscaling:UpdateAutoScalingGroup";
    pub const CREATE_CAPACITY_PROVIDER: &str = "ecs:CreateCapacityProvider";
}

/// Where the virtual clock starts: 2026-11-26T13:00:00Z.
pub fn start_time() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 13, 0, 0)
        .single()
        .unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
}

/// A handle to a simulated AWS account. Clones share the same account.
#[derive(Clone)]
pub struct SimAws {
    inner: Arc<Mutex<Account>>,
}

impl Default for SimAws {
    fn default() -> Self {
        SimAws::new()
    }
}

impl std::fmt::Debug for SimAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.lock();
        f.debug_struct("SimAws")
            .field("now", &a.clock)
            .field("templates", &a.templates.len())
            .field("groups", &a.groups.len())
            .field("instances", &a.instances.len())
            .field("calls", &a.calls.len())
            .finish()
    }
}

/// Returns `Pending` once (after waking itself), then `Ready`: lets other tasks run.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl SimAws {
    /// An empty account (plus the common instance types), clock at [`start_time`].
    pub fn new() -> Self {
        SimAws {
            inner: Arc::new(Mutex::new(Account::new(start_time()))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Account> {
        self.inner.lock().expect("simulated account mutex poisoned")
    }

    /// One port call: log, inject faults, run `f`, process what became due, run hooks.
    fn call<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Account) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let (result, hooks, observers) = {
            let mut a = self.lock();
            a.calls.push(operation);
            if let Some((now, _)) = a.in_flight.get_mut(operation) {
                *now = now.saturating_sub(1);
            }
            let result = match a.faults.on_call(operation) {
                // An ambiguous write: the call takes effect, then the caller sees the error.
                Some(injected) if injected.after_effect => match f(&mut a) {
                    Ok(_) => {
                        a.settle();
                        a.event(format!(
                            "{operation}: applied, but the caller sees {}",
                            injected.error.code
                        ));
                        Err(injected.error)
                    }
                    Err(e) => Err(e),
                },
                Some(injected) => Err(injected.error),
                None => {
                    let r = f(&mut a);
                    if r.is_ok() {
                        a.settle();
                    }
                    r
                }
            };
            let hooks = a.faults.due_hooks(operation);
            (result, hooks, a.faults.observers())
        };
        for hook in hooks {
            hook(self);
        }
        for observer in observers {
            observer(self, operation, result.as_ref().err());
        }
        result
    }

    /// A call of `operation` begins: counted as in flight until [`SimAws::call`] answers it,
    /// then the yield of [`SimAws::pause`].
    async fn enter(&self, operation: &'static str) {
        {
            let mut a = self.lock();
            let (now, max) = a.in_flight.entry(operation).or_insert((0, 0));
            *now += 1;
            *max = (*max).max(*now);
        }
        self.pause().await;
    }

    async fn pause(&self) {
        let yield_now = self.lock().yield_per_call;
        if yield_now {
            YieldOnce(false).await;
        }
    }

    // ----- setup -----

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
                Some(v) => v.data.inherit(&data),
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
                ecs_correct_at: None,
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
    /// it: `false` makes it `Unhealthy` once in service. As for unhealthy AMIs, Auto Scaling's
    /// replacement of unhealthy instances is not modelled. Unknown ids are ignored.
    pub fn set_instance_health(&self, instance_id: &str, healthy: bool) {
        let mut a = self.lock();
        if let Some(i) = a.instances.get_mut(instance_id) {
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

    /// Put a scheduled action without a port call (e.g. one "someone else" created, possibly with
    /// a `Recurrence`). Same validation as the port's `PutScheduledUpdateGroupAction`.
    pub fn add_scheduled_action(&self, action: ScheduledAction) -> Result<(), AwsError> {
        let mut a = self.lock();
        a.put_scheduled_action(&action)?;
        a.settle();
        Ok(())
    }

    // ----- outside actors (not port calls: not logged, no faults) -----

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
        let ids: Vec<String> = a
            .live_instances(group)
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

    /// Time from launch to `InService` for instances launched from now on (default 90 s).
    pub fn set_boot_time(&self, boot_time: Duration) {
        self.lock().boot_time = boot_time;
    }

    // ----- clock -----

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.lock().clock
    }

    /// Move the clock forward, processing every event due on the way in time order (instances
    /// coming into service, scheduled actions firing, launch retries, instance refreshes
    /// progressing, ECS managed scaling ticks).
    pub fn advance(&self, duration: Duration) {
        let mut a = self.lock();
        let target = account::add(a.clock, duration);
        a.run_until(target);
    }

    /// Move the clock to `time` (no-op if it is in the past), processing events on the way.
    pub fn advance_to(&self, time: Timestamp) {
        self.lock().run_until(time);
    }

    // ----- inspection -----

    /// Every message published to `topic_arn`, in order.
    pub fn published(&self, topic_arn: &str) -> Vec<Notification> {
        self.lock()
            .published
            .iter()
            .filter(|n| n.topic_arn == topic_arn)
            .cloned()
            .collect()
    }

    /// Every message published, in order.
    pub fn all_published(&self) -> Vec<Notification> {
        self.lock().published.clone()
    }

    /// The group as `DescribeAutoScalingGroups` shows it, if it exists.
    pub fn try_group(&self, name: &str) -> Option<AutoScalingGroup> {
        let a = self.lock();
        a.groups.get(name).map(|g| a.group_view(g))
    }

    /// The group as `DescribeAutoScalingGroups` shows it.
    ///
    /// # Panics
    /// If the group does not exist (a test assertion helper; see [`SimAws::try_group`]).
    pub fn group(&self, name: &str) -> AutoScalingGroup {
        self.try_group(name)
            .unwrap_or_else(|| panic!("simulated account has no group {name:?}"))
    }

    /// `(min, max, desired)`.
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn group_capacity(&self, name: &str) -> (i32, i32, i32) {
        let g = self.group(name);
        (g.min_size, g.max_size, g.desired_capacity)
    }

    /// Number of live (not terminated) instances of the group per AMI id; empty for an unknown
    /// group.
    pub fn instances_by_ami(&self, group: &str) -> BTreeMap<String, usize> {
        let a = self.lock();
        let mut counts = BTreeMap::new();
        for i in a.live_instances(group) {
            *counts.entry(i.image_id.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// One instance as `DescribeInstances` shows it (terminated ones included, whatever their age).
    pub fn instance(&self, instance_id: &str) -> Option<Ec2Instance> {
        let a = self.lock();
        let i = a.instances.get(instance_id)?;
        Some(Ec2Instance {
            instance_id: i.id.clone(),
            image_id: i.image_id.clone(),
            state: match i.lifecycle {
                account::Lifecycle::Pending => "pending",
                account::Lifecycle::InService => "running",
                account::Lifecycle::Terminated => "terminated",
            }
            .to_string(),
            launch_time: Some(i.launch_time),
            launch_template_id: i.template_id.clone(),
            launch_template_version: i.template_version,
        })
    }

    /// A template header by id or name, if it exists.
    pub fn try_template(&self, id_or_name: &str) -> Option<LaunchTemplate> {
        let a = self.lock();
        a.template(op::DESCRIBE_LAUNCH_TEMPLATES, id_or_name)
            .ok()
            .map(TemplateState::header)
    }

    /// A template header by id or name.
    ///
    /// # Panics
    /// If the template does not exist (see [`SimAws::try_template`]).
    pub fn template(&self, id_or_name: &str) -> LaunchTemplate {
        self.try_template(id_or_name)
            .unwrap_or_else(|| panic!("simulated account has no launch template {id_or_name:?}"))
    }

    /// Every existing version of a template, ascending; empty for an unknown template.
    pub fn template_versions(&self, id_or_name: &str) -> Vec<LaunchTemplateVersion> {
        self.lock()
            .describe_launch_template_versions(id_or_name)
            .unwrap_or_default()
    }

    /// The full data of one version (to check inheritance), if it exists.
    pub fn template_version_data(&self, id_or_name: &str, version: u64) -> Option<TemplateData> {
        let a = self.lock();
        let t = a
            .template(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, id_or_name)
            .ok()?;
        t.versions.get(&version).map(|v| v.data.clone())
    }

    /// The group's pending scheduled actions; empty for an unknown group.
    pub fn scheduled_actions(&self, group: &str) -> Vec<ScheduledAction> {
        self.lock()
            .describe_scheduled_actions(group)
            .unwrap_or_default()
    }

    /// The current value of a parameter, if it exists.
    pub fn parameter(&self, name: &str) -> Option<SsmParameter> {
        let a = self.lock();
        let p = a.params.get(name)?.last()?;
        Some(SsmParameter {
            name: name.to_string(),
            value: p.value.clone(),
            version: p.version,
            data_type: Some(p.data_type.clone()),
            last_modified: Some(p.last_modified),
        })
    }

    /// Every instance refresh of the group, newest first (whatever their age); empty for an
    /// unknown group.
    pub fn instance_refreshes(&self, group: &str) -> Vec<InstanceRefresh> {
        self.lock().refreshes_of(group)
    }

    /// Every capacity provider, as `DescribeCapacityProviders` shows them.
    pub fn capacity_providers(&self) -> Vec<CapacityProvider> {
        self.lock()
            .describe_capacity_providers()
            .unwrap_or_default()
    }

    /// Every port call attempted (including failed ones), in order.
    pub fn call_log(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// The most calls of `operation` that were under way at the same time (a call is under way
    /// from the moment the caller makes it until it is answered; with
    /// [`SimAws::set_yield_per_call`] on, concurrent callers overlap).
    pub fn max_in_flight(&self, operation: &str) -> usize {
        self.lock()
            .in_flight
            .get(operation)
            .map_or(0, |(_, max)| *max)
    }

    /// How many calls of `operation` were attempted.
    pub fn call_count(&self, operation: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| **c == operation)
            .count()
    }

    fn stats(&self, group: &str) -> GroupStats {
        self.lock()
            .groups
            .get(group)
            .map(|g| g.stats.clone())
            .unwrap_or_else(|| panic!("simulated account has no group {group:?}"))
    }

    /// The highest of desired capacity and live instance count ever seen for the group (since
    /// creation or [`SimAws::reset_stats`]).
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn max_capacity_seen(&self, group: &str) -> i32 {
        self.stats(group).max_capacity
    }

    /// The highest live instance count ever seen for the group.
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn max_instances_seen(&self, group: &str) -> usize {
        self.stats(group).max_instances
    }

    /// The lowest number of `InService` + `Healthy` instances ever seen for the group.
    ///
    /// # Panics
    /// If the group does not exist.
    pub fn min_in_service_healthy_seen(&self, group: &str) -> usize {
        self.stats(group).min_in_service_healthy.unwrap_or(0)
    }

    /// Restart the capacity extremes from the group's current state.
    pub fn reset_stats(&self, group: &str) {
        let mut a = self.lock();
        if let Some(g) = a.groups.get_mut(group) {
            g.stats = GroupStats::default();
        }
        a.observe(group);
    }

    /// Human-readable timeline of what happened in the account.
    pub fn events(&self) -> Vec<(Timestamp, String)> {
        self.lock().events.clone()
    }

    // ----- fault injection -----

    /// The `n`-th call of `operation` (1-based, counted from now) fails once with `kind`/`code`.
    pub fn fail_nth(&self, operation: &'static str, n: usize, kind: ErrorKind, code: &str) {
        self.lock().faults.fail_range(
            operation,
            n,
            n.max(1),
            kind,
            code,
            &format!("injected failure of call {n} of {operation}"),
        );
    }

    /// Calls `n ..= n + times - 1` of `operation` (1-based, counted from now) are throttled with
    /// the service's code (see [`throttling_code`]).
    pub fn throttle(&self, operation: &'static str, n: usize, times: usize) {
        if times == 0 {
            return;
        }
        let n = n.max(1);
        self.lock().faults.fail_range(
            operation,
            n,
            n + times - 1,
            ErrorKind::Throttling,
            throttling_code(operation),
            "Rate exceeded",
        );
    }

    /// Every call of `operation` from now on fails with `kind`/`code` until [`SimAws::clear_faults`].
    pub fn fail_always(&self, operation: &'static str, kind: ErrorKind, code: &str) {
        self.lock().faults.fail_range(
            operation,
            1,
            usize::MAX,
            kind,
            code,
            &format!("injected failure of {operation}"),
        );
    }

    /// The next `total_calls` port calls (any operation) succeed as usual; every later one fails
    /// with [`ErrorKind::Crash`] and no effect until [`SimAws::clear_faults`].
    pub fn crash_after(&self, total_calls: usize) {
        self.lock().faults.crash_after(total_calls);
    }

    /// Calls `n ..= n + times - 1` of `operation` (1-based, counted from now) fail with
    /// `ErrorKind::Transient` and code `RequestTimeout`, without effect: the request never reached
    /// the service, or timed out before it acted (the SDK's "timeout" errors; `times` past the
    /// engine's attempts makes the timeout outlast every retry).
    pub fn time_out(&self, operation: &'static str, n: usize, times: usize) {
        if times == 0 {
            return;
        }
        let n = n.max(1);
        self.lock().faults.fail_range(
            operation,
            n,
            n + times - 1,
            ErrorKind::Transient,
            "RequestTimeout",
            "the request timed out",
        );
    }

    /// An *ambiguous write*: the `n`-th call of `operation` (1-based, counted from now) takes
    /// effect as usual, then the caller sees an error of `kind`/`code` (e.g. a 5xx or a timeout
    /// after the service acted). If the operation itself fails, the caller sees that failure.
    pub fn fail_nth_after_effect(
        &self,
        operation: &'static str,
        n: usize,
        kind: ErrorKind,
        code: &str,
    ) {
        self.lock().faults.fail_range_after_effect(
            operation,
            n,
            n.max(1),
            kind,
            code,
            &format!("injected failure of call {n} of {operation}, after it took effect"),
        );
    }

    /// Run `f` after every port call, failed ones included (an injected fault, a crash, an error
    /// of the simulated service), with the operation and the error the caller saw — after the
    /// call's effects and any [`SimAws::after_call`] hook, before the caller sees the result. To
    /// check invariants after every call. Observers stay until the account is dropped
    /// ([`SimAws::clear_faults`] keeps them).
    pub fn on_every_call(
        &self,
        f: impl Fn(&SimAws, &'static str, Option<&AwsError>) + Send + Sync + 'static,
    ) {
        self.lock()
            .faults
            .observe_every_call(std::sync::Arc::new(f));
    }

    /// Make scheduled actions fire late: each one fires at its `StartTime` plus `delay(action)`
    /// instead of at its `StartTime`. AWS documents that an action "usually runs within seconds"
    /// of its start time but may be delayed up to about 2 minutes ("Scheduled scaling for Amazon
    /// EC2 Auto Scaling",
    /// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html).
    /// A late action stays listed by `DescribeScheduledActions` until it fires.
    pub fn set_scheduled_action_delay(
        &self,
        delay: impl Fn(&ScheduledAction) -> Duration + Send + Sync + 'static,
    ) {
        let mut a = self.lock();
        a.action_delay = Some(std::sync::Arc::new(delay));
        a.settle();
    }

    /// Remove every injected failure and the crash (hooks stay).
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Run `f` right after the `n`-th call of `operation` (1-based, counted from now) completes,
    /// before the caller sees the result — to stage a concurrent actor (e.g. someone creating a
    /// version between a describe and a create).
    pub fn after_call(
        &self,
        operation: &'static str,
        n: usize,
        f: impl FnOnce(&SimAws) + Send + 'static,
    ) {
        self.lock().faults.after_call(operation, n, Box::new(f));
    }
}

impl Aws for SimAws {
    fn now(&self) -> Timestamp {
        SimAws::now(self)
    }

    async fn sleep(&self, duration: Duration) {
        self.pause().await;
        self.advance(duration);
    }

    async fn get_parameters(&self, names: &[String]) -> Result<GetParametersOutput, AwsError> {
        self.enter(op::GET_PARAMETERS).await;
        self.call(op::GET_PARAMETERS, |a| a.get_parameters(names))
    }

    async fn describe_images(&self, image_ids: &[String]) -> Result<Vec<Image>, AwsError> {
        self.enter(op::DESCRIBE_IMAGES).await;
        self.call(op::DESCRIBE_IMAGES, |a| a.describe_images(image_ids))
    }

    async fn describe_instance_types(
        &self,
        instance_types: &[String],
    ) -> Result<Vec<InstanceTypeInfo>, AwsError> {
        self.enter(op::DESCRIBE_INSTANCE_TYPES).await;
        self.call(op::DESCRIBE_INSTANCE_TYPES, |a| {
            a.describe_instance_types(instance_types)
        })
    }

    async fn describe_launch_template(&self, id_or_name: &str) -> Result<LaunchTemplate, AwsError> {
        self.enter(op::DESCRIBE_LAUNCH_TEMPLATES).await;
        self.call(op::DESCRIBE_LAUNCH_TEMPLATES, |a| {
            a.describe_launch_template(id_or_name)
        })
    }

    async fn describe_current_template_versions(
        &self,
        which: VersionAlias,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        self.enter(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS).await;
        self.call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, |a| {
            Ok(a.describe_current_template_versions(which))
        })
    }

    async fn describe_launch_template_versions(
        &self,
        template_id: &str,
    ) -> Result<Vec<LaunchTemplateVersion>, AwsError> {
        self.enter(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS).await;
        self.call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, |a| {
            a.describe_launch_template_versions(template_id)
        })
    }

    async fn create_launch_template_version(
        &self,
        request: &CreateVersionRequest,
    ) -> Result<LaunchTemplateVersion, AwsError> {
        self.enter(op::CREATE_LAUNCH_TEMPLATE_VERSION).await;
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
        self.call(op::DELETE_LAUNCH_TEMPLATE_VERSIONS, |a| {
            a.delete_versions(template_id, versions)
        })
    }

    async fn describe_instances(
        &self,
        instance_ids: &[String],
    ) -> Result<Vec<Ec2Instance>, AwsError> {
        self.enter(op::DESCRIBE_INSTANCES).await;
        self.call(op::DESCRIBE_INSTANCES, |a| {
            a.describe_instances(instance_ids)
        })
    }

    async fn describe_auto_scaling_groups(
        &self,
        names: &[String],
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.enter(op::DESCRIBE_AUTO_SCALING_GROUPS).await;
        self.call(op::DESCRIBE_AUTO_SCALING_GROUPS, |a| {
            a.describe_groups(names)
        })
    }

    async fn describe_auto_scaling_groups_by_tag(
        &self,
        key: &str,
    ) -> Result<Vec<AutoScalingGroup>, AwsError> {
        self.enter(op::DESCRIBE_AUTO_SCALING_GROUPS).await;
        self.call(op::DESCRIBE_AUTO_SCALING_GROUPS, |a| {
            Ok(a.describe_groups_by_tag(key))
        })
    }

    async fn update_auto_scaling_group(
        &self,
        request: &UpdateGroupRequest,
    ) -> Result<(), AwsError> {
        self.enter(op::UPDATE_AUTO_SCALING_GROUP).await;
        self.call(op::UPDATE_AUTO_SCALING_GROUP, |a| a.update_group(request))
    }

    async fn set_instance_protection(
        &self,
        group_name: &str,
        instance_ids: &[String],
        protected: bool,
    ) -> Result<(), AwsError> {
        self.enter(op::SET_INSTANCE_PROTECTION).await;
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
        self.call(op::DESCRIBE_SCHEDULED_ACTIONS, |a| {
            a.describe_scheduled_actions(group_name)
        })
    }

    async fn put_scheduled_update_group_action(
        &self,
        action: &ScheduledAction,
    ) -> Result<(), AwsError> {
        self.enter(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION).await;
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
        self.call(op::CREATE_OR_UPDATE_TAGS, |a| {
            a.create_or_update_tags(group_name, tags)
        })
    }

    async fn delete_tags(&self, group_name: &str, keys: &[String]) -> Result<(), AwsError> {
        self.enter(op::DELETE_TAGS).await;
        self.call(op::DELETE_TAGS, |a| a.delete_tags(group_name, keys))
    }

    async fn get_topic_attributes(&self, topic_arn: &str) -> Result<(), AwsError> {
        self.enter(op::GET_TOPIC_ATTRIBUTES).await;
        self.call(op::GET_TOPIC_ATTRIBUTES, |a| {
            a.get_topic_attributes(topic_arn)
        })
    }

    async fn publish(&self, notification: &Notification) -> Result<String, AwsError> {
        self.enter(op::PUBLISH).await;
        self.call(op::PUBLISH, |a| a.publish(notification))
    }

    async fn start_instance_refresh(
        &self,
        request: &StartRefreshRequest,
    ) -> Result<String, AwsError> {
        self.enter(op::START_INSTANCE_REFRESH).await;
        self.call(op::START_INSTANCE_REFRESH, |a| {
            a.start_instance_refresh(request)
        })
    }

    async fn describe_instance_refreshes(
        &self,
        group_name: &str,
    ) -> Result<Vec<InstanceRefresh>, AwsError> {
        self.enter(op::DESCRIBE_INSTANCE_REFRESHES).await;
        self.call(op::DESCRIBE_INSTANCE_REFRESHES, |a| {
            a.describe_instance_refreshes(group_name)
        })
    }

    async fn rollback_instance_refresh(&self, group_name: &str) -> Result<String, AwsError> {
        self.enter(op::ROLLBACK_INSTANCE_REFRESH).await;
        self.call(op::ROLLBACK_INSTANCE_REFRESH, |a| {
            a.rollback_instance_refresh(group_name)
        })
    }

    async fn describe_capacity_providers(&self) -> Result<Vec<CapacityProvider>, AwsError> {
        self.enter(op::DESCRIBE_CAPACITY_PROVIDERS).await;
        self.call(op::DESCRIBE_CAPACITY_PROVIDERS, |a| {
            a.describe_capacity_providers()
        })
    }
}
