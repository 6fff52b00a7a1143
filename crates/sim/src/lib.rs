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
//! `docs/fidelity.md` is the full list: every AWS behaviour amiroll depends on, what this
//! simulator and the emulator (`tests/moto/server.py`) do about it, and the test that pins it;
//! the conformance suite (`crates/aws/tests/conformance.rs`) checks the two against each other.
//! In short:
//!
//! - **One account, one region** (`123456789012`, `us-east-1`); every call sees the effects of
//!   the previous ones unless [`SimAws::delay_version_visibility`] hides new launch-template
//!   versions from Auto Scaling for a few calls (eventual consistency); no real throttling (only
//!   injected).
//! - **Time** moves only through `advance`/`sleep`; calls take no time. The clock is shared, so
//!   concurrent sleepers each move it forward. Scheduled actions fire exactly at their StartTime
//!   (AWS may be up to ~2 minutes late) unless [`SimAws::set_scheduled_action_delay`] makes them
//!   late; actions are not kept in order then (AWS runs one group's actions in the order given).
//! - **Instances** go `Pending` → `InService` after a fixed boot time (default 90 s) and terminate
//!   instantly — no `Terminating` state, warm pools, Standby or draining — unless a terminating
//!   lifecycle hook holds them (below). Terminated instances leave the group at once and stay
//!   visible to `DescribeInstances` for one hour.
//! - **Lifecycle hooks** (`hooks.rs`; "Amazon EC2 Auto Scaling lifecycle hooks", "PutLifecycleHook",
//!   "CompleteLifecycleAction", "RecordLifecycleActionHeartbeat", "DeleteLifecycleHook"):
//!   `PutLifecycleHook` creates or updates by name, validated as AWS documents (transition, name,
//!   `HeartbeatTimeout` 30–7200 default 3600, `DefaultResult` default `ABANDON`, ≤ 50 a group →
//!   `LimitExceeded`, unknown group → `ValidationError`); an update keeps the values it does not
//!   give (inferred); `GlobalTimeout` = min(48 h, 100 × heartbeat). [`SimAws::add_lifecycle_hook`],
//!   [`SimAws::create_terminating_hook`] and [`SimAws::delete_lifecycle_hook`] are someone else's.
//!   - Whatever Auto Scaling terminates in a group with `EC2_INSTANCE_TERMINATING` hooks — scale-in
//!     (a desired capacity lowered by any means, a scheduled action, ECS managed scaling),
//!     instance-refresh replacements (old instances, new ones it gives up, rollbacks), unhealthy
//!     replacements — waits in `Terminating:Wait`: listed by the group with that state, EC2
//!     `running`, its container instance and tasks untouched, not part of the group's capacity
//!     (not counted by the reconcile loop, scale-in, AZ balance, the refresh's healthy counts or
//!     [`SimAws::instances_by_ami`]; an unhealthy instance's replacement launches at once).
//!     Scale-in protection no longer matters; `SetInstanceProtection` refuses such an instance (AWS
//!     does not say). A force delete ([`SimAws::delete_group`]) terminates it with the rest, hooks
//!     bypassed.
//!   - One action per terminating hook the group has when the wait begins, all at once (AWS
//!     documents no order); each ends on `CompleteLifecycleAction` (by instance id) or, with the
//!     hook's default result, when its timeout passes: the heartbeat timeout after the start or
//!     the last `RecordLifecycleActionHeartbeat` (the hook's heartbeat then), never past start +
//!     `GlobalTimeout`. `ABANDON` ends the instance's other actions too; deleting a hook ends its
//!     actions with `CONTINUE`. With none left the instance goes `Terminating:Proceed` and
//!     terminates at once. Calls for an instance not waiting on that hook (or an unknown group or
//!     hook) are `ValidationError` ("No active Lifecycle Action found with instance ID …").
//!     [`SimAws::lifecycle_wait`] reports each wait.
//!   - Instance refresh: a replacement counts as done only once its old instance has terminated
//!     (AWS does not say; the conservative reading): percentage, checkpoints, the end of the
//!     refresh and a cancellation wait for held instances, while further replacements start within
//!     the healthy percentages.
//!   - `EC2_INSTANCE_LAUNCHING` hooks are stored and described but hold nothing (no
//!     `Pending:Wait`); no notifications, tokens, EventBridge events or instance lifecycle policies
//!     (retention).
//! - **Unhealthy AMIs**: instances launched from an [`ImageSpec`] with `healthy: false` (or marked
//!   with [`SimAws::set_instance_health`]) reach `InService` and are reported `Healthy` until the
//!   group's health-check grace period (fixed per instance at its launch) has passed — Auto
//!   Scaling has not checked them yet — then `Unhealthy`; 60 s later (or 60 s after a later
//!   `set_instance_health(false)`) Auto Scaling terminates and replaces them, from the group's
//!   template (a replacement from a bad AMI fails again), unless `HealthCheck` or
//!   `ReplaceUnhealthy` is suspended. AWS does not say how soon; scale-in protection does not
//!   prevent it. Health checks themselves (EC2 status checks, ELB) are not modelled: health is
//!   the AMI's, or what `set_instance_health` says.
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
//! - **Mixed instances policies**: kept and reported as given (overrides with weights, templates
//!   and ImageIds, instances distribution); launches rotate through the overrides in order (an
//!   override's own template, else the policy's); no Spot/On-Demand split, weights or allocation
//!   strategies. `UpdateAutoScalingGroup` with a `MixedInstancesPolicy` replaces the policy as a
//!   whole; with a `LaunchTemplate` on a mixed group it is rejected (`ValidationError`; AWS would
//!   switch the group to the template).
//! - **Scheduled actions**: `Recurrence` is stored but not evaluated — a recurring action fires
//!   once at its StartTime and stays listed; `EndTime`/`TimeZone` are not modelled. When an action
//!   sets min/max but not desired, the desired capacity is moved into the new range (as
//!   `UpdateAutoScalingGroup` documents); an explicit desired outside the range fails the action.
//!   Size consistency (min ≤ desired ≤ max among the sizes given) is checked at put time too.
//! - **`$Latest`** is the highest existing version (AWS does not document what it becomes after
//!   the highest version is deleted).
//! - **Launch template data** is not validated at `CreateLaunchTemplateVersion` (as EC2's shallow
//!   validation); `ClientToken`s never expire. A version created from a `SourceVersion` loses the
//!   inherited block devices' `SnapshotId`s unless the request sends mappings again.
//! - **`DeleteLaunchTemplateVersions`** on a template that does not exist reports every version
//!   as failed (`launchTemplateIdDoesNotExist` / `launchTemplateNameDoesNotExist`).
//! - **`DescribeInstances`** skips unknown ids instead of failing with `InvalidInstanceID.NotFound`;
//!   **`DescribeImages`** skips unknown ids (as the SDK adapter does) and returns nothing for an
//!   empty id list.
//! - **SSM**: `name:version` selectors only (labels go to `InvalidParameters`); no SecureString;
//!   data type `text` unless set with [`SimAws::put_parameter_with_type`]. `GetParameters` with no
//!   names is answered empty without a call, as the SDK adapter does.
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
//!   - `Rolling` only, with a `DesiredConfiguration` by version number — a launch template, or a
//!     mixed instances policy with that template — or none. Replacements launch from the desired
//!     template (a mixed group's own override instance types keep rotating). Ids are counters in
//!     UUID form. `UpdateAutoScalingGroup` of the launch template or mixed instances policy is
//!     rejected while a refresh with a desired configuration is active.
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
//!     ([`SimAws::set_instance_warmup`]), else its health-check grace period
//!     ([`GroupSpec::with_health_check_grace_period`], 0 by default as in the API) — counted from
//!     `InService`. A new instance is judged at the end of its warm-up: an `Unhealthy` one is
//!     terminated and replaced, and the refresh fails once its new instances have kept failing
//!     for an hour ("One-hour timeout"); a launch failure fails it at once. On `Failed`/`RollbackFailed`, launch-before-terminate replacements under way
//!     are abandoned (their new instances terminate, the old ones stay).
//!   - Instances launched before their old ones terminate are not counted against the desired
//!     capacity (no scale-in of them); scale-outs during a refresh launch from the desired
//!     configuration.
//!   - Checkpoints: the refresh starts no more replacements than the next checkpoint needs, and
//!     pauses there for `CheckpointDelay` (default 3600 s) with status `InProgress` and a
//!     StatusReason starting "Waiting for checkpoint" (AWS has no pause status). A checkpoint of
//!     100 does not pause; when the last checkpoint is below 100 the refresh ends `Successful`
//!     when it is reached, without a delay, leaving the rest of the instances as they are.
//!   - `ScaleInProtectedInstances=Wait` (default): unprotected instances are replaced first, then
//!     the refresh waits one hour for protection to go and fails; it applies during a rollback
//!     too. `StandbyInstances` and `AlarmSpecification` are validated but have no effect (no
//!     Standby, no CloudWatch). Suspending `Launch`, `Terminate` or `InstanceRefresh` pauses a
//!     refresh indefinitely. Not modelled: warm pools, `ReplaceRootVolume`, launching lifecycle hooks, the
//!     14-day limit, `LimitExceeded`, EventBridge events.
//!   - The group takes the desired configuration (pinned by number) only at `Successful`, after
//!     `BakeTime`, exactly as given: a desired launch template drops a mixed instances policy, a
//!     desired policy replaces the group's. A rollback therefore launches from the group's own configuration (the saved
//!     one), replacing the instances the refresh launched; `PercentageComplete` falls linearly
//!     from its value at the rollback to 0. The rollback reason is the StatusReason (the port
//!     has no `RollbackDetails`). `RollbackInstanceRefresh` accepts `Pending`, `InProgress` and
//!     `Baking` refreshes only (others: `ActiveInstanceRefreshNotFound`); it and `AutoRollback`
//!     need a desired configuration and the saved configuration on a numbered version without
//!     `resolve:ssm:` (else `IrreversibleInstanceRefresh` / `ValidationError`).
//!   - `CancelInstanceRefresh` (the port's call, and [`SimAws::cancel_refresh`] for an
//!     operator) accepts a refresh or rollback that is `Pending`, `InProgress`, `Baking` or
//!     `RollbackInProgress` (others, and one already `Cancelling`: `ActiveInstanceRefreshNotFound`).
//!     It becomes `Cancelling`: no replacement starts any more, those under way finish as they
//!     would have (`WaitForTransitioningInstances` is always true), nothing is rolled back, the
//!     group keeps its own configuration; with none left it is `Cancelled` — at once when
//!     nothing was under way. A `Cancelling` refresh is still active (another one cannot start).
//!     Simplified: a new instance unhealthy after its warm-up ends the replacements still under
//!     way as a failure does.
//!   - `DescribeInstanceRefreshes` returns the previous six weeks in one page.
//! - **ECS capacity providers** ("Amazon ECS capacity providers", "DescribeCapacityProviders"):
//!   only providers backed by a group (created with [`SimAws::create_capacity_provider`]; no
//!   Fargate providers, updates or deletion), associated with a cluster by
//!   [`SimAws::attach_capacity_provider`] (`PutClusterCapacityProviders` adding one provider; a
//!   provider belongs to one cluster at most; no default capacity provider strategy, no task is
//!   placed through a provider). Managed termination
//!   protection protects the group's instances from scale in from launch; ECS then keeps it on
//!   its container instances exactly while they run tasks, setting and lifting it at once ("Amazon
//!   ECS prevents Amazon EC2 instances that contain tasks … from being terminated during a
//!   scale-in action", "Managed termination protection"). Managed scaling keeps the desired capacity at its value when
//!   the provider was created: a change by a scheduled action or
//!   [`SimAws::set_desired_capacity`] is put back (within min/max) at the next whole minute, with
//!   the event "ECS managed scaling set desired back to N" — no target tracking. Managed
//!   draining is recorded only: ECS attaches no lifecycle hook and drains nothing (a test adds the
//!   hook itself with [`SimAws::create_terminating_hook`]).
//! - **ECS clusters** (`container.rs`; "Amazon ECS container instances", "Draining Amazon ECS
//!   container instances", "ListContainerInstances", "DescribeContainerInstances",
//!   "UpdateContainerInstancesState"): clusters ([`SimAws::create_cluster`]) and services with a
//!   desired count of tasks ([`SimAws::create_service`], [`SimAws::update_service`]) — no task
//!   definitions, resources, ports, placement constraints, daemon or standalone tasks, Fargate,
//!   deployments or load balancers.
//!   - An instance registers as a container instance (`ACTIVE`, agent connected) when it comes
//!     into service, in the cluster its version's user data names (`ECS_CLUSTER=`, read as
//!     amiroll reads it, so both agree on the forms understood), else in the one set for its
//!     template with [`SimAws::set_agent_cluster`] (an agent configured where amiroll does not
//!     look); with neither it never registers (the real agent would join `default`). It never registers when its
//!     AMI's agent is broken ([`ImageSpec::with_ecs_agent`]), nor while the cluster does not
//!     exist (creating the cluster registers the instances in service: the agent retries). The
//!     agent never disconnects on its own. A terminated instance's container instance is
//!     deregistered at once (`INACTIVE`), described for an hour, then `MISSING`.
//!   - Tasks start `RUNNING` at once (never `PENDING`) on `ACTIVE` instances with a connected
//!     agent and room ([`SimAws::set_ecs_tasks_per_instance`], 8 by default), the instance with
//!     the fewest tasks first, then the one registered first; running tasks are never rebalanced.
//!     Tasks still running on an instance when it terminates are killed — a timeline event and
//!     [`SimAws::tasks_killed`] — and their service starts replacements where there is room.
//!   - `DRAINING`: no new placements; after the drain time ([`SimAws::set_ecs_drain_time`], 60 s
//!     by default) each task moves at once (stopped, started elsewhere) to an `ACTIVE` instance
//!     with room; the others stay and move as soon as room appears. The service's deployment
//!     configuration (`minimumHealthyPercent`, `maximumPercent`) is not modelled.
//!   - `ListClusters` answers every page in one port call; `DescribeClusters` takes up to 100
//!     (`InvalidParameterException` beyond), leaves unknown clusters out, and reports every
//!     cluster `ACTIVE` with its capacity providers (no cluster is ever deleted).
//!   - `ListContainerInstances` answers every page in one port call (no `status` or `filter`);
//!     `DescribeContainerInstances` takes up to 100 and `UpdateContainerInstancesState` up to 10
//!     (`InvalidParameterException` beyond); unknown ids are `MISSING` failures; updating an
//!     `INACTIVE` instance is a failure with reason `INACTIVE` (AWS only says "an error"). A
//!     cluster is a name or an ARN of this account and Region (`ClusterNotFoundException`
//!     otherwise). Container-instance ARNs use the format with the cluster name.
//!   - Attributes: only the custom ones `PutAttributes` sets (no built-in `ecs.*` or
//!     `com.amazonaws.ecs.capability.*` attribute). `PutAttributes` takes 1–10 attributes
//!     (`InvalidParameterException` beyond, or for a name or value the `Attribute` data type does
//!     not allow), targets by id or ARN (unknown, or deregistered more than an hour ago:
//!     `TargetNotFoundException`), at most 10 custom attributes a container instance
//!     (`AttributeLimitExceededException`); a refused call puts nothing. An empty value is an
//!     attribute without a value. `DeleteAttributes`/`ListAttributes` and cluster-level targets
//!     are not modelled.

// `SimAws`'s methods: the handle and its call machinery are here; `setup` builds the world,
// `outside` is someone else changing it, `knobs` turns the clock and injects faults, `inspect` is
// what tests assert on, and `port` is the `Aws` implementation. The account they act on is
// modelled in `account`, `ops`, `refresh`, `ecs`, `container`, `state` and `faults`.
mod access;
pub use access::{cluster_arn, parameter_arn, Access};
mod account;
mod container;
pub use container::TaskKill;
mod ecs;
mod faults;
mod hooks;
mod inspect;
mod knobs;
mod ops;
mod outside;
mod port;
mod refresh;
mod setup;
mod state;
mod types;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use amiroll_core::port::{AwsError, Timestamp};
use chrono::TimeZone;

use account::Account;

pub use faults::throttling_code;
pub use types::{
    ActionEnd, ActionEndKind, AllowedAmis, GroupSpec, ImageSpec, InstanceLifetime, LifecycleAction,
    LifecycleWait, TemplateData, AMAZON_OWNER_ID,
};

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
    pub const CREATE_CLUSTER: &str = "ecs:CreateCluster";
    pub const PUT_CLUSTER_CAPACITY_PROVIDERS: &str = "ecs:PutClusterCapacityProviders";
    pub const CREATE_SERVICE: &str = "ecs:CreateService";
    pub const UPDATE_SERVICE: &str = "ecs:UpdateService";
    pub const DELETE_LIFECYCLE_HOOK: &str = "autoscaling:DeleteLifecycleHook";
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
}
