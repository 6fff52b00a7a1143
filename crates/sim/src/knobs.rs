//! The knobs a test turns: the virtual clock, and injected faults, hooks and delays.

use std::time::Duration;

use amiroll_core::port::{AwsError, ErrorKind, ScheduledAction, Timestamp};

use crate::account;
use crate::{throttling_code, SimAws};

impl SimAws {
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

    /// Eventual consistency ("Eventual consistency in the Amazon EC2 API",
    /// https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): every launch
    /// template version `CreateLaunchTemplateVersion` creates from now on is unknown to Auto
    /// Scaling for the next `calls` `UpdateAutoScalingGroup` / `StartInstanceRefresh` calls that
    /// name it — they fail with `ValidationError` as for a version that does not exist — and
    /// visible after that. 0 turns it off (versions created before keep their count).
    pub fn delay_version_visibility(&self, calls: usize) {
        self.lock().visibility_delay = calls;
    }

    /// How long a `DRAINING` container instance keeps its tasks before they move to other
    /// `ACTIVE` instances (60 s by default); for instances set to `DRAINING` from now on.
    pub fn set_ecs_drain_time(&self, drain_time: Duration) {
        self.lock().ecs.drain_time = drain_time;
    }

    /// How many tasks fit on one container instance (8 by default): services place no more.
    pub fn set_ecs_tasks_per_instance(&self, tasks: usize) {
        let mut a = self.lock();
        a.ecs.tasks_per_instance = tasks;
        a.ecs_step();
        a.settle();
    }

    /// The ECS agent of an EC2 instance loses (`false`) or regains its connection: its container
    /// instance shows `agentConnected` accordingly; tasks already there keep running, and no new
    /// task is placed on it while it is disconnected ("Amazon ECS container agent connection",
    /// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-agent-connection.html).
    /// Unknown ids are ignored.
    pub fn set_agent_connected(&self, instance_id: &str, connected: bool) {
        let mut a = self.lock();
        for c in a.ecs.clusters.values_mut() {
            for r in c.instances.values_mut() {
                if r.ec2_instance_id == instance_id
                    && r.status != crate::container::CiStatus::Inactive
                {
                    r.agent_connected = connected;
                }
            }
        }
        a.ecs_step();
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
