//! The engine: observe → plan → apply → report, generic over the [`Aws`] port.
//!
//! Observe reads with batched calls; plan is [`crate::planner::plan`]; apply executes the planned
//! actions in order, re-checking preconditions, and stops a target at its first failure (saying
//! what was done and what was not, in the report and in the notification). Every run is safe to
//! repeat: the next run observes what is really there.
//!
//! With a deadline ([`Engine::with_deadline`], the Lambda's), apply starts no action once less
//! than [`DEADLINE_MARGIN`] is left: what remains is reported not done, and the next run resumes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tracing::Instrument;

use crate::config::Config;
use crate::model::*;
use crate::planner;
use crate::port::*;

mod apply;
mod observe;

// The report types live in `model`; they are re-exported here so `engine::ApplyReport` etc. keep
// working.
pub use crate::model::{ActionResult, ApplyReport, DeadlineStop, TargetOutcome};

/// How the engine retries throttling and transient errors (5xx, timeouts) for a port that does
/// not retry them itself ([`Aws::retries_transient`]: the simulator). Against AWS the SDK's own
/// retry configuration (standard or adaptive mode, jittered back-off; `aws_max_attempts`,
/// `aws_retry_mode`) owns them, and this policy is not used: two layers would multiply the
/// attempts (3 × 5 sends of one throttled call) and stretch the back-off past the Lambda's
/// deadline margin.
///
/// What the SDK cannot know about stays with the engine whatever the port: a launch-template
/// version this run created that EC2 or Auto Scaling does not see yet (eventual consistency, see
/// `Engine::call_naming_version`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(20),
        }
    }
}

/// How much time must be left before the deadline for apply to start another action. An action
/// is one or two AWS calls (with the SDK's retries, a throttled call can take longer); the margin also leaves time to publish the notification of a target it cut short
/// and to return the summary before Lambda stops the function ("Configure Lambda function
/// timeout": the invocation is stopped at its deadline, whatever it was doing,
/// https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// A failure that stops the whole run (not just one target).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("the run stopped: {0}")]
    Crashed(AwsError),
    /// Discovery could not read the tagged groups.
    #[error("discovery failed: {0}")]
    Discovery(AwsError),
    /// The configuration, with what discovery found, is not valid (e.g. a conflict).
    #[error("{0}")]
    Config(crate::config::ConfigError),
}

/// Counts of remote calls made by a run, by operation (shown with `-v`).
pub type CallCounts = BTreeMap<&'static str, u32>;

/// The engine over one AWS port.
pub struct Engine<'a, A: Aws> {
    aws: &'a A,
    retry: RetryPolicy,
    calls: std::sync::Mutex<CallCounts>,
    deadline: Option<Timestamp>,
}

impl<'a, A: Aws> Engine<'a, A> {
    pub fn new(aws: &'a A) -> Self {
        Engine {
            aws,
            retry: RetryPolicy::default(),
            calls: std::sync::Mutex::new(CallCounts::new()),
            deadline: None,
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Stop starting actions once less than [`DEADLINE_MARGIN`] is left before `deadline`, as
    /// told by the port's clock ([`Aws::now`]: the wall clock on AWS, the virtual one in the
    /// simulator). The Lambda passes its invocation's deadline.
    pub fn with_deadline(mut self, deadline: Timestamp) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Remote calls made so far (attempts, including retries).
    pub fn call_counts(&self) -> CallCounts {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn count(&self, op: &'static str) {
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(op).or_insert(0) += 1;
        }
    }

    /// One remote call, with back-off on throttling and transient errors when the port does not
    /// retry them itself ([`Aws::retries_transient`]); with one that does (the SDK adapter), its
    /// answer is final.
    async fn call<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let mut attempt = 1;
        loop {
            self.count(op);
            let span = tracing::debug_span!("aws", op, attempt);
            let result = f().instrument(span.clone()).await;
            match &result {
                Ok(_) => span.in_scope(|| tracing::debug!("ok")),
                Err(e) => span
                    .in_scope(|| tracing::debug!(code = %e.code, kind = ?e.kind, "{}", e.message)),
            }
            match result {
                Err(e)
                    if e.kind.is_retryable()
                        && !self.aws.retries_transient()
                        && attempt < self.retry.max_attempts =>
                {
                    let delay = self
                        .retry
                        .base_delay
                        .saturating_mul(1 << (attempt - 1).min(10))
                        .min(self.retry.max_delay);
                    span.in_scope(|| tracing::debug!(code = %e.code, "retrying after {delay:?}"));
                    self.aws.sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Observe, plan, and (unless `dry_run`) apply.
    pub async fn run(&self, config: &Config, dry_run: bool) -> Result<ApplyReport, RunError> {
        self.run_with(config, dry_run, &planner::PlanOptions::default())
            .await
    }

    /// [`Engine::run`] with the user's choices for this run.
    pub async fn run_with(
        &self,
        config: &Config,
        dry_run: bool,
        opts: &planner::PlanOptions,
    ) -> Result<ApplyReport, RunError> {
        let config = self.discover(config).await?;
        let obs = self.observe_in_span(&config, false).await?;
        let plan = planner::plan_with(&config, &obs, opts);
        log_plan(&plan);
        self.apply_concurrently(plan, dry_run, config.scope.concurrency)
            .await
    }

    /// The configuration with a target for every group the `[discover]` rule finds (one
    /// `DescribeAutoScalingGroups` by tag filter, all pages); the configuration itself, not a
    /// copy, when it has no rule (thousands of targets are worth not copying).
    pub async fn discover<'c>(&self, config: &'c Config) -> Result<Cow<'c, Config>, RunError> {
        let Some(rule) = &config.discover else {
            return Ok(Cow::Borrowed(config));
        };
        let groups = match self
            .call(op::DESCRIBE_AUTO_SCALING_GROUPS, || {
                self.aws.describe_auto_scaling_groups_by_tag(&rule.tag)
            })
            .await
        {
            Ok(g) => g,
            Err(e) if e.kind == ErrorKind::Crash => return Err(RunError::Crashed(e)),
            Err(e) => return Err(RunError::Discovery(e)),
        };
        config
            .with_discovered(&groups)
            .map(Cow::Owned)
            .map_err(RunError::Config)
    }

    /// Roll the named targets back (see [`crate::rollback`]), or with `dry_run` show how.
    pub async fn rollback(&self, config: &Config, dry_run: bool) -> Result<ApplyReport, RunError> {
        let config = self.discover(config).await?;
        let obs = self.observe_in_span(&config, true).await?;
        let plan = crate::rollback::plan_rollback(&config, &obs);
        log_plan(&plan);
        self.apply(plan, dry_run).await
    }

    /// [`Engine::observe_with`] inside an `observe` span.
    async fn observe_in_span(
        &self,
        config: &Config,
        every_detail: bool,
    ) -> Result<Observation, RunError> {
        self.observe_with(config, every_detail)
            .instrument(tracing::info_span!(
                "observe",
                targets = config.targets.len()
            ))
            .await
    }

    /// Observe and plan, changing nothing.
    pub async fn plan(&self, config: &Config) -> Result<Plan, RunError> {
        let config = self.discover(config).await?;
        let obs = self.observe_in_span(&config, false).await?;
        let plan = planner::plan(&config, &obs);
        log_plan(&plan);
        Ok(plan)
    }
}

/// One event per target and per group of a plan, so a log shows each rollout's story: what was
/// found, what the plan does, why.
fn log_plan(plan: &Plan) {
    for t in &plan.targets {
        let span = tracing::info_span!("target", target = %t.target, strategy = %t.strategy);
        let _enter = span.enter();
        tracing::info!(
            status = ?t.status,
            event = t.event.map(|e| e.as_str()),
            actions = t.actions.len(),
            "{}",
            t.summary
        );
        for g in &t.groups {
            tracing::info!(group = %g.name, desired = g.desired_capacity, "{}", g.state);
        }
        for f in &t.findings {
            tracing::info!(level = ?f.level, "{}", f.message);
        }
        for e in &t.errors {
            tracing::warn!("{e}");
        }
    }
}
