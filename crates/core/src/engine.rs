//! The engine: observe → plan → apply → report, generic over the [`Aws`] port.
//!
//! Observe reads with batched calls; plan is [`crate::planner::plan`]; apply executes the planned
//! actions in order, re-checking preconditions, and stops a target at its first failure (saying
//! what was done and what was not, in the report and in the notification). Every run is safe to
//! repeat: the next run observes what is really there.
//!
//! With a deadline ([`Engine::with_deadline`], the Lambda's), apply starts no action once less
//! than [`DEADLINE_MARGIN`] is left: what remains is reported not done, and the next run resumes.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::Config;
use crate::model::*;
use crate::notify;
use crate::planner;
use crate::port::*;

/// How the engine retries retryable errors (throttling, 5xx) that reach it. The SDK adapter
/// retries on its own first; this outer layer makes an unattended run slow down rather than fail.
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
/// is one or two AWS calls (with the SDK's and the engine's retries, a throttled call can take
/// longer); the margin also leaves time to publish the notification of a target it cut short
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
    Config(String),
}

/// What happened to one planned action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionResult {
    pub action: String,
    pub reason: String,
    /// `done`, `failed` or `not-done` (skipped after an earlier failure or in a dry run).
    pub result: String,
    pub detail: Option<String>,
}

/// A target after apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetOutcome {
    #[serde(flatten)]
    pub plan: TargetPlan,
    pub results: Vec<ActionResult>,
    /// Set when an action failed: the fleet may be half-changed, and this says how.
    pub apply_error: Option<String>,
    /// `published <id>`, `failed: …`, or absent when nothing was to be sent.
    pub notification: Option<String>,
}

impl TargetOutcome {
    pub fn succeeded(&self) -> bool {
        self.apply_error.is_none() && self.plan.status != TargetStatus::Error
    }
}

/// The report of an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub dry_run: bool,
    pub generated_at: Timestamp,
    pub targets: Vec<TargetOutcome>,
    /// Set when apply stopped before the deadline. The targets' results say which actions were
    /// not done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at_deadline: Option<DeadlineStop>,
}

/// Apply stopped starting actions because the deadline was too close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineStop {
    /// "stopped before the Lambda's deadline: N s left, margin M s".
    pub reason: String,
    /// The targets left with actions (or an announcement) not done, in plan order.
    pub targets: Vec<String>,
}

impl ApplyReport {
    /// 1 if anything failed or a target has an error; 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.targets.iter().all(|t| t.succeeded()) {
            0
        } else {
            1
        }
    }
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

/// How applying a list of actions ended.
enum Applied {
    /// Every action was done.
    All,
    /// An action failed; the rest were not done.
    Failed,
    /// Too little time was left to start the next action (the reason); the rest were not done.
    OutOfTime(String),
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

    /// Why no further action may start, when the deadline is too close.
    fn out_of_time(&self) -> Option<String> {
        let deadline = self.deadline?;
        let left = (deadline - self.aws.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        (left < DEADLINE_MARGIN).then(|| {
            format!(
                "stopped before the Lambda's deadline: {} s left, margin {} s",
                left.as_secs(),
                DEADLINE_MARGIN.as_secs()
            )
        })
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

    /// One remote call with back-off on retryable errors.
    async fn call<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let mut attempt = 1;
        loop {
            self.count(op);
            match f().await {
                Err(e) if e.kind.is_retryable() && attempt < self.retry.max_attempts => {
                    let delay = self
                        .retry
                        .base_delay
                        .saturating_mul(1 << (attempt - 1).min(10))
                        .min(self.retry.max_delay);
                    tracing::debug!(operation = op, attempt, code = %e.code, "retrying after {delay:?}");
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
        let obs = self.observe(&config).await?;
        let plan = planner::plan_with(&config, &obs, opts);
        self.apply(plan, dry_run).await
    }

    /// The configuration with a target for every group the `[discover]` rule finds (one
    /// `DescribeAutoScalingGroups` by tag filter, all pages).
    pub async fn discover(&self, config: &Config) -> Result<Config, RunError> {
        let Some(rule) = &config.discover else {
            return Ok(config.clone());
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
            .map_err(|e| RunError::Config(e.to_string()))
    }

    /// Roll the named targets back (see [`crate::rollback`]), or with `dry_run` show how.
    pub async fn rollback(&self, config: &Config, dry_run: bool) -> Result<ApplyReport, RunError> {
        let config = self.discover(config).await?;
        let obs = self.observe_with(&config, true).await?;
        let plan = crate::rollback::plan_rollback(&config, &obs);
        self.apply(plan, dry_run).await
    }

    /// Observe and plan, changing nothing.
    pub async fn plan(&self, config: &Config) -> Result<Plan, RunError> {
        let config = self.discover(config).await?;
        let obs = self.observe(&config).await?;
        Ok(planner::plan(&config, &obs))
    }

    /// Read everything the planner needs, with batched calls.
    pub async fn observe(&self, config: &Config) -> Result<Observation, RunError> {
        self.observe_with(config, false).await
    }

    /// [`Engine::observe`]; with `every_detail`, the detailed reads are made for every target,
    /// not only the ones that may change (a rollback needs every version and refresh).
    pub async fn observe_with(
        &self,
        config: &Config,
        every_detail: bool,
    ) -> Result<Observation, RunError> {
        let mut obs = Observation {
            now: self.aws.now(),
            ..Observation::default()
        };
        let all_targets: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();

        // 1. The batched reads, sent at the same time: SSM (one GetParameters per 10 names), the
        //    groups (one DescribeAutoScalingGroups per 100 names) and the default version of
        //    every launch template (one account-wide listing).
        let names: Vec<String> = unique(config.targets.iter().map(|t| t.ami_parameter.clone()));
        let group_names: Vec<String> = unique(config.targets.iter().flat_map(|t| t.groups.clone()));
        let name_chunks: Vec<&[String]> = names.chunks(10).collect();
        let group_chunks: Vec<&[String]> = group_names.chunks(100).collect();
        let (params, groups, defaults) = futures::join!(
            in_flight(name_chunks.iter().map(|chunk| {
                self.call(op::GET_PARAMETERS, move || self.aws.get_parameters(chunk))
            })),
            in_flight(group_chunks.iter().map(|chunk| {
                self.call(op::DESCRIBE_AUTO_SCALING_GROUPS, move || {
                    self.aws.describe_auto_scaling_groups(chunk)
                })
            })),
            self.call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, || {
                self.aws
                    .describe_current_template_versions(VersionAlias::Default)
            }),
        );
        for (chunk, result) in name_chunks.iter().zip(params) {
            match result {
                Ok(out) => {
                    for p in out.parameters {
                        obs.parameters.insert(p.name.clone(), p);
                    }
                }
                Err(e) => {
                    let affected = targets_where(config, |t| chunk.contains(&t.ami_parameter));
                    fail(&mut obs, &affected, &e)?;
                }
            }
        }
        for (chunk, result) in group_chunks.iter().zip(groups) {
            match result {
                Ok(list) => {
                    for g in list {
                        obs.groups.insert(g.name.clone(), g);
                    }
                }
                Err(e) => {
                    let affected =
                        targets_where(config, |t| t.groups.iter().any(|g| chunk.contains(g)));
                    fail(&mut obs, &affected, &e)?;
                }
            }
        }

        // 2. Templates. The `$Latest` version of every template too, in one more listing, only
        //    when a group launches `$Latest` (most fleets launch `$Default` or a number).
        let mut current = match defaults {
            Ok(list) => Some(list),
            Err(e) => {
                fail(&mut obs, &all_targets, &e)?;
                None
            }
        };
        let latest_wanted = planner::latest_listing_needed(config, &obs);
        if latest_wanted && current.is_some() {
            match self
                .call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, || {
                    self.aws
                        .describe_current_template_versions(VersionAlias::Latest)
                })
                .await
            {
                Ok(latest) => {
                    if let Some(list) = current.as_mut() {
                        for v in latest {
                            if !list
                                .iter()
                                .any(|d| d.template_id == v.template_id && d.version == v.version)
                            {
                                list.push(v);
                            }
                        }
                    }
                }
                Err(e) => {
                    fail(&mut obs, &all_targets, &e)?;
                    current = None;
                }
            }
        }
        if let Some(current) = current {
            for reference in unique(config.targets.iter().map(|t| t.launch_template.clone())) {
                let versions: Vec<LaunchTemplateVersion> = current
                    .iter()
                    .filter(|v| {
                        v.template_id == reference
                            || v.template_name.as_deref() == Some(reference.as_str())
                    })
                    .cloned()
                    .collect();
                match versions.first() {
                    Some(first) => {
                        let template = LaunchTemplate {
                            id: first.template_id.clone(),
                            name: first.template_name.clone().unwrap_or_default(),
                            default_version: versions
                                .iter()
                                .find(|v| v.is_default)
                                .map_or(first.version, |v| v.version),
                            latest_version: versions.iter().map(|v| v.version).max().unwrap_or(0),
                        };
                        obs.templates.insert(
                            reference,
                            ObservedTemplate {
                                template,
                                versions,
                                complete: false,
                            },
                        );
                    }
                    // Not in the account-wide listing: ask for the template itself before
                    // calling it missing (a listing cut short must not read as "not found").
                    None => self.observe_template(config, &reference, &mut obs).await?,
                }
            }
        }

        // 3. Images: the candidates and the AMIs of the versions known so far.
        let ids = planner::wanted_images(config, &obs);
        let images = self.read_images(&ids).await;
        merge_images(config, &mut obs, images)?;

        // 4. The details, only for targets that may change: a fleet that is current costs the
        //    batched reads above and nothing more (its instances' AMIs follow from the versions
        //    the groups record for them; see `planner::instance_launch`). The reads are
        //    independent and are sent at the same time.
        let reads = planner::detail_reads(config, &obs, every_detail);
        if reads.targets.is_empty() {
            return Ok(obs);
        }
        let instance_chunks: Vec<&[String]> = reads.instances.chunks(1000).collect();

        let (versions, instances, actions, refreshes, providers, topic_results) = futures::join!(
            in_flight(reads.templates.iter().map(|(_, id)| {
                self.call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, move || {
                    self.aws.describe_launch_template_versions(id)
                })
            })),
            in_flight(instance_chunks.iter().map(|chunk| {
                self.call(op::DESCRIBE_INSTANCES, move || {
                    self.aws.describe_instances(chunk)
                })
            })),
            in_flight(reads.scheduled_actions.iter().map(|(_, g)| {
                self.call(op::DESCRIBE_SCHEDULED_ACTIONS, move || {
                    self.aws.describe_scheduled_actions(g)
                })
            })),
            in_flight(reads.refreshes.iter().map(|(_, g)| {
                self.call(op::DESCRIBE_INSTANCE_REFRESHES, move || {
                    self.aws.describe_instance_refreshes(g)
                })
            })),
            async {
                if !reads.capacity_providers_for.is_empty() {
                    Some(
                        self.call(op::DESCRIBE_CAPACITY_PROVIDERS, || {
                            self.aws.describe_capacity_providers()
                        })
                        .await,
                    )
                } else {
                    None
                }
            },
            in_flight(reads.topics.iter().map(|topic| {
                self.call(op::GET_TOPIC_ATTRIBUTES, move || {
                    self.aws.get_topic_attributes(topic)
                })
            })),
        );
        for ((reference, _), result) in reads.templates.iter().zip(versions) {
            match result {
                Ok(versions) => {
                    if let Some(t) = obs.templates.get_mut(reference) {
                        t.set_complete(versions);
                    }
                }
                Err(e) => {
                    let users = targets_where(config, |t| &t.launch_template == reference);
                    fail(&mut obs, &users, &e)?;
                }
            }
        }
        for result in instances {
            match result {
                Ok(list) => {
                    for i in list {
                        obs.instances.insert(i.instance_id.clone(), i);
                    }
                }
                Err(e) => {
                    let users: Vec<&str> = reads.targets.iter().map(String::as_str).collect();
                    fail(&mut obs, &users, &e)?;
                }
            }
        }
        for ((target, g), result) in reads.scheduled_actions.iter().zip(actions) {
            match result {
                Ok(list) => {
                    obs.scheduled_actions.insert(g.clone(), list);
                }
                Err(e) => fail(&mut obs, &[target.as_str()], &e)?,
            }
        }
        for ((target, g), result) in reads.refreshes.iter().zip(refreshes) {
            match result {
                Ok(list) => {
                    obs.refreshes.insert(g.clone(), list);
                }
                Err(e) => fail(&mut obs, &[target.as_str()], &e)?,
            }
        }
        match providers {
            Some(Ok(list)) => obs.capacity_providers = Some(list),
            // Not allowed to read them (an account without ECS permissions): skip the ECS
            // checks; the plan says so.
            Some(Err(e)) if e.kind == ErrorKind::AccessDenied => {
                tracing::warn!(error = %e, "cannot read ECS capacity providers; ECS checks skipped");
            }
            Some(Err(e)) => {
                let rolling: Vec<&str> = reads
                    .capacity_providers_for
                    .iter()
                    .map(String::as_str)
                    .collect();
                fail(&mut obs, &rolling, &e)?
            }
            None => {}
        }
        for (topic, result) in reads.topics.iter().zip(topic_results) {
            match result {
                Ok(()) => {
                    obs.topics.insert(topic.clone(), true);
                }
                Err(e) if e.kind == ErrorKind::NotFound => {
                    obs.topics.insert(topic.clone(), false);
                }
                Err(e) => {
                    let affected = targets_where(config, |t| {
                        t.settings.sns_topic.as_deref() == Some(topic.as_str())
                    });
                    fail(&mut obs, &affected, &e)?;
                }
            }
        }

        // 5. What the new reads name: the AMIs of every version and of the running instances,
        //    and the instance types of the versions and the groups' overrides.
        let ids = planner::wanted_images(config, &obs);
        let types = planner::wanted_instance_types(config, &obs);
        let (images, types) =
            futures::join!(self.read_images(&ids), self.read_instance_types(&types));
        merge_images(config, &mut obs, images)?;
        let all: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        for result in types {
            match result {
                Ok(list) => {
                    for it in list {
                        obs.instance_types
                            .insert(it.instance_type, it.architectures);
                    }
                }
                Err(e) => fail(&mut obs, &all, &e)?,
            }
        }
        Ok(obs)
    }

    /// A template missing from the account-wide listing: `DescribeLaunchTemplates` for it, then
    /// all its versions. A template that really does not exist is left out (the planner says so).
    async fn observe_template(
        &self,
        config: &Config,
        reference: &str,
        obs: &mut Observation,
    ) -> Result<(), RunError> {
        let users = || targets_where(config, |t| t.launch_template == reference);
        let template = match self
            .call(op::DESCRIBE_LAUNCH_TEMPLATES, || {
                self.aws.describe_launch_template(reference)
            })
            .await
        {
            Ok(template) => template,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) => return fail(obs, &users(), &e),
        };
        let id = template.id.clone();
        match self
            .call(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS, || {
                self.aws.describe_launch_template_versions(&id)
            })
            .await
        {
            Ok(versions) => {
                obs.templates.insert(
                    reference.to_string(),
                    ObservedTemplate {
                        template,
                        versions,
                        complete: true,
                    },
                );
                Ok(())
            }
            Err(e) => fail(obs, &users(), &e),
        }
    }

    /// `DescribeImages` for `ids`, 100 a call, sent at the same time.
    async fn read_images(&self, ids: &[String]) -> Vec<Result<Vec<Image>, AwsError>> {
        in_flight(
            ids.chunks(100).map(|chunk| {
                self.call(op::DESCRIBE_IMAGES, move || self.aws.describe_images(chunk))
            }),
        )
        .await
    }

    /// `DescribeInstanceTypes` for `types`, 100 a call. An unknown type fails the whole call:
    /// such a chunk is asked again one type at a time, and the planner reports the unknown ones
    /// as "not checked".
    async fn read_instance_types(
        &self,
        types: &[String],
    ) -> Vec<Result<Vec<InstanceTypeInfo>, AwsError>> {
        let mut out = Vec::new();
        for chunk in types.chunks(100) {
            match self
                .call(op::DESCRIBE_INSTANCE_TYPES, || {
                    self.aws.describe_instance_types(chunk)
                })
                .await
            {
                Err(e) if e.kind == ErrorKind::Invalid => {
                    for it in chunk {
                        if let Ok(list) = self
                            .call(op::DESCRIBE_INSTANCE_TYPES, || {
                                self.aws.describe_instance_types(std::slice::from_ref(it))
                            })
                            .await
                        {
                            out.push(Ok(list));
                        }
                    }
                }
                other => out.push(other),
            }
        }
        out
    }

    /// Execute a plan (or, with `dry_run`, report what would be done) and notify.
    pub async fn apply(&self, plan: Plan, dry_run: bool) -> Result<ApplyReport, RunError> {
        let mut targets = Vec::new();
        let mut stopped_at_deadline: Option<DeadlineStop> = None;
        for tp in plan.targets {
            let (outcome, stop) = self.apply_target(tp, dry_run).await?;
            if let Some(reason) = stop {
                stopped_at_deadline
                    .get_or_insert_with(|| DeadlineStop {
                        reason,
                        targets: Vec::new(),
                    })
                    .targets
                    .push(outcome.plan.target.clone());
            }
            targets.push(outcome);
        }
        Ok(ApplyReport {
            dry_run,
            generated_at: plan.generated_at,
            targets,
            stopped_at_deadline,
        })
    }

    /// One target's apply, and the reason when the deadline stopped it.
    async fn apply_target(
        &self,
        tp: TargetPlan,
        dry_run: bool,
    ) -> Result<(TargetOutcome, Option<String>), RunError> {
        let mut outcome = TargetOutcome {
            results: Vec::new(),
            apply_error: None,
            notification: None,
            plan: tp,
        };
        if dry_run {
            outcome.results = outcome
                .plan
                .actions
                .iter()
                .map(|a| ActionResult {
                    action: a.action.describe(),
                    reason: a.reason.clone(),
                    result: "not-done".to_string(),
                    detail: Some("dry run".to_string()),
                })
                .collect();
            return Ok((outcome, None));
        }
        let mut created: Option<u64> = None;
        // Outcome records (the tags that say an outcome was announced) are written after the
        // notification: a run that stops in between announces again rather than never.
        let (records, changes): (Vec<PlannedAction>, Vec<PlannedAction>) = outcome
            .plan
            .actions
            .clone()
            .into_iter()
            .partition(|a| a.action.records_outcome());
        let applied = self
            .execute_all(&changes, &mut created, &mut outcome)
            .await?;
        let mut stop = match &applied {
            Applied::OutOfTime(reason) => Some(reason.clone()),
            _ => None,
        };
        // Notify: the plan's event, or a failure if apply broke off. Past the deadline's margin
        // only a target that changed something is announced (its fleet may be half-changed);
        // one that changed nothing is planned again by the next run.
        let event = if outcome.apply_error.is_some() {
            Some(Event::RolloutFailed)
        } else {
            outcome.plan.event
        };
        let changed_something = outcome.results.iter().any(|r| r.result == "done");
        let late = if changed_something {
            None
        } else {
            stop.clone().or_else(|| self.out_of_time())
        };
        let to_announce = event.is_some() && outcome.plan.sns_topic.is_some();
        if let Some(reason) = &late {
            if outcome.apply_error.is_none() && (to_announce || !records.is_empty()) {
                // Nothing to change, but an announcement or its record is left for later.
                outcome.apply_error = Some(format!(
                    "{reason} — nothing was changed; the next run resumes from what is really there"
                ));
            }
            if outcome.apply_error.is_some() {
                stop = Some(reason.clone());
            }
        }
        // An outcome whose notification failed is still recorded (a failure record is what keeps
        // later runs off a failed AMI), and `amiroll:unannounced` on the target's first group
        // makes the next run announce it again: every outcome is announced at least once.
        let mut unannounced: Option<Event> = None;
        if let (Some(event), Some(topic)) = (event, outcome.plan.sns_topic.clone()) {
            if let Some(reason) = &late {
                outcome.notification = Some(format!("not sent: {reason}"));
            } else {
                let n = notify::compose(&outcome, event, &topic);
                match self.call(op::PUBLISH, || self.aws.publish(&n)).await {
                    Ok(id) => {
                        outcome.notification = Some(format!("published {} ({id})", event.as_str()))
                    }
                    Err(e) if e.kind == ErrorKind::Crash => return Err(RunError::Crashed(e)),
                    Err(e) => {
                        outcome.notification = Some(format!(
                            "failed: {e}; the next run announces {} again",
                            event.as_str()
                        ));
                        unannounced = Some(event);
                    }
                }
            }
        }
        let mut records = records;
        if let (Some(event), Some(group)) = (
            unannounced.filter(|e| !matches!(e, Event::Error | Event::Current)),
            outcome.plan.groups.first().map(|g| g.name.clone()),
        ) {
            records.push(PlannedAction {
                action: Action::TagGroup {
                    group,
                    tags: [(
                        planner::tags::UNANNOUNCED.to_string(),
                        event.as_str().to_string(),
                    )]
                    .into_iter()
                    .collect(),
                },
                reason: format!(
                    "the {} notification failed; the next run announces it",
                    event.as_str()
                ),
            });
        }
        if matches!(applied, Applied::All) && late.is_none() {
            if let Applied::OutOfTime(reason) = self
                .execute_all(&records, &mut created, &mut outcome)
                .await?
            {
                stop = Some(reason);
            }
        } else {
            let why = late
                .or_else(|| stop.clone())
                .unwrap_or_else(|| "skipped after the failure above".to_string());
            for r in &records {
                outcome.results.push(ActionResult {
                    action: r.action.describe(),
                    reason: r.reason.clone(),
                    result: "not-done".to_string(),
                    detail: Some(why.clone()),
                });
            }
        }
        Ok((outcome, stop))
    }

    /// Execute actions in order, stopping at the first failure or when the deadline is too close
    /// (recorded in `outcome`). A crash ends the run.
    async fn execute_all(
        &self,
        actions: &[PlannedAction],
        created: &mut Option<u64>,
        outcome: &mut TargetOutcome,
    ) -> Result<Applied, RunError> {
        for (i, pa) in actions.iter().enumerate() {
            if let Some(reason) = self.out_of_time() {
                tracing::warn!(target = %outcome.plan.target, "{reason}");
                for rest in &actions[i..] {
                    outcome.results.push(ActionResult {
                        action: rest.action.describe(),
                        reason: rest.reason.clone(),
                        result: "not-done".to_string(),
                        detail: Some(reason.clone()),
                    });
                }
                let done = done_so_far(outcome);
                outcome.apply_error = Some(format!(
                    "{reason} — {}; the next run resumes from what is really there",
                    if done.is_empty() {
                        "nothing was changed".to_string()
                    } else {
                        format!(
                            "the fleet may be half-changed; already done: {}",
                            done.join("; ")
                        )
                    }
                ));
                return Ok(Applied::OutOfTime(reason));
            }
            match self.execute(&pa.action, created).await {
                Ok(detail) => {
                    tracing::info!(target = %outcome.plan.target, action = %pa.action.describe(), "done");
                    outcome.results.push(ActionResult {
                        action: pa.action.describe(),
                        reason: pa.reason.clone(),
                        result: "done".to_string(),
                        detail,
                    })
                }
                Err(e) => {
                    if e.kind == ErrorKind::Crash {
                        return Err(RunError::Crashed(e));
                    }
                    outcome.results.push(ActionResult {
                        action: pa.action.describe(),
                        reason: pa.reason.clone(),
                        result: "failed".to_string(),
                        detail: Some(e.to_string()),
                    });
                    for rest in &actions[i + 1..] {
                        outcome.results.push(ActionResult {
                            action: rest.action.describe(),
                            reason: rest.reason.clone(),
                            result: "not-done".to_string(),
                            detail: Some("skipped after the failure above".to_string()),
                        });
                    }
                    let done = done_so_far(outcome);
                    outcome.apply_error = Some(format!(
                        "{} — {}; the next run resumes from what is really there",
                        e,
                        if done.is_empty() {
                            "nothing was changed".to_string()
                        } else {
                            format!("already done: {}", done.join("; "))
                        }
                    ));
                    return Ok(Applied::Failed);
                }
            }
        }
        Ok(Applied::All)
    }

    fn resolve(version: VersionRef, created: &Option<u64>) -> Result<u64, AwsError> {
        match version {
            VersionRef::Number(n) => Ok(n),
            VersionRef::Created => created.ok_or_else(|| {
                AwsError::new(
                    op::MODIFY_LAUNCH_TEMPLATE,
                    ErrorKind::Other,
                    "amiroll.NoVersion",
                    "the plan refers to a new version that was not created",
                )
            }),
        }
    }

    async fn execute(
        &self,
        action: &Action,
        created: &mut Option<u64>,
    ) -> Result<Option<String>, AwsError> {
        match action {
            Action::CreateVersion {
                template_id,
                source_version,
                image_id,
                description,
                client_token,
            } => {
                let req = CreateVersionRequest {
                    template_id: template_id.clone(),
                    source_version: *source_version,
                    image_id: image_id.clone(),
                    description: description.clone(),
                    client_token: client_token.clone(),
                };
                let v = self
                    .call(op::CREATE_LAUNCH_TEMPLATE_VERSION, || {
                        self.aws.create_launch_template_version(&req)
                    })
                    .await?;
                if v.image_id.as_deref() != Some(image_id.as_str()) {
                    return Err(AwsError::new(
                        op::CREATE_LAUNCH_TEMPLATE_VERSION,
                        ErrorKind::Other,
                        "amiroll.UnexpectedVersion",
                        format!(
                            "version {} of {template_id} has ImageId {:?}, not {image_id}",
                            v.version, v.image_id
                        ),
                    ));
                }
                *created = Some(v.version);
                Ok(Some(format!("created v{}", v.version)))
            }
            Action::SetDefaultVersion {
                template_id,
                version,
            } => {
                let n = Self::resolve(*version, created)?;
                // EC2 is eventually consistent: a version just created can briefly be
                // `VersionNotFound` ("Eventual consistency in the Amazon EC2 API").
                let mut tries = 0;
                loop {
                    match self
                        .call(op::MODIFY_LAUNCH_TEMPLATE, || {
                            self.aws
                                .modify_launch_template_default_version(template_id, n)
                        })
                        .await
                    {
                        Err(e)
                            if e.kind == ErrorKind::NotFound && created.is_some() && tries < 4 =>
                        {
                            tries += 1;
                            self.aws.sleep(Duration::from_secs(2 << tries)).await;
                        }
                        Err(e) => return Err(e),
                        Ok(t) => return Ok(Some(format!("default is v{}", t.default_version))),
                    }
                }
            }
            Action::DeleteVersions {
                template_id,
                versions,
            } => {
                // Re-check: never delete what became the default since the plan was made.
                let header = self
                    .call(op::DESCRIBE_LAUNCH_TEMPLATES, || {
                        self.aws.describe_launch_template(template_id)
                    })
                    .await?;
                let keep = [header.default_version, created.unwrap_or(0)];
                let doomed: Vec<u64> = versions
                    .iter()
                    .copied()
                    .filter(|v| !keep.contains(v))
                    .collect();
                if doomed.is_empty() {
                    return Ok(Some("nothing left to delete".to_string()));
                }
                let out = self
                    .call(op::DELETE_LAUNCH_TEMPLATE_VERSIONS, || {
                        self.aws
                            .delete_launch_template_versions(template_id, &doomed)
                    })
                    .await?;
                // A 200 response can still list versions it did not delete.
                let real_failures: Vec<&VersionDeleteFailure> = out
                    .failed
                    .iter()
                    .filter(|f| f.code != "launchTemplateVersionDoesNotExist")
                    .collect();
                if !real_failures.is_empty() {
                    return Err(AwsError::new(
                        op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
                        ErrorKind::Other,
                        real_failures[0].code.clone(),
                        format!(
                            "deleted {:?}; could not delete {}",
                            out.deleted,
                            real_failures
                                .iter()
                                .map(|f| format!("v{} ({}: {})", f.version, f.code, f.message))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                Ok(Some(format!(
                    "deleted {}",
                    out.deleted
                        .iter()
                        .map(|v| format!("v{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            Action::PinGroupVersion {
                group,
                template_id,
                version,
            } => {
                let n = Self::resolve(*version, created)?;
                let req = UpdateGroupRequest {
                    group_name: group.clone(),
                    launch_template: Some(TemplateSpec {
                        template_id: Some(template_id.clone()),
                        template_name: None,
                        version: Some(n.to_string()),
                    }),
                    ..UpdateGroupRequest::default()
                };
                self.call(op::UPDATE_AUTO_SCALING_GROUP, || {
                    self.aws.update_auto_scaling_group(&req)
                })
                .await?;
                Ok(Some(format!("pinned to v{n}")))
            }
            Action::SetTerminationPolicies { group, policies } => {
                let req = UpdateGroupRequest {
                    group_name: group.clone(),
                    termination_policies: Some(policies.clone()),
                    ..UpdateGroupRequest::default()
                };
                self.call(op::UPDATE_AUTO_SCALING_GROUP, || {
                    self.aws.update_auto_scaling_group(&req)
                })
                .await?;
                Ok(None)
            }
            Action::SetInstanceProtection {
                group,
                instance_ids,
                protected,
            } => {
                // At most 50 ids per call ("SetInstanceProtection", Amazon EC2 Auto Scaling API
                // Reference). A call that fails stops the action; the calls before it stay done,
                // and the next run plans from what is really protected.
                for chunk in instance_ids.chunks(MAX_PROTECTION_IDS) {
                    self.call(op::SET_INSTANCE_PROTECTION, || {
                        self.aws.set_instance_protection(group, chunk, *protected)
                    })
                    .await?;
                }
                Ok(Some(format!(
                    "{} {} instance(s)",
                    if *protected {
                        "protected"
                    } else {
                        "unprotected"
                    },
                    instance_ids.len()
                )))
            }
            Action::SetCapacity {
                group,
                min,
                max,
                desired,
            } => {
                let req = UpdateGroupRequest {
                    group_name: group.clone(),
                    min_size: Some(*min),
                    max_size: Some(*max),
                    desired_capacity: Some(*desired),
                    ..UpdateGroupRequest::default()
                };
                self.call(op::UPDATE_AUTO_SCALING_GROUP, || {
                    self.aws.update_auto_scaling_group(&req)
                })
                .await?;
                Ok(None)
            }
            Action::TagGroup { group, tags } => {
                self.call(op::CREATE_OR_UPDATE_TAGS, || {
                    self.aws.create_or_update_tags(group, tags)
                })
                .await?;
                Ok(None)
            }
            Action::UntagGroup { group, keys } => {
                if keys.is_empty() {
                    return Ok(None);
                }
                self.call(op::DELETE_TAGS, || self.aws.delete_tags(group, keys))
                    .await?;
                Ok(None)
            }
            Action::PutScheduledAction { action } => {
                // StartTime must be in the future; refuse clearly rather than let AWS reject it.
                let now = self.aws.now();
                if action.start_time <= now {
                    return Err(AwsError::new(
                        op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
                        ErrorKind::Invalid,
                        "amiroll.StartTimeInPast",
                        format!(
                            "scheduled action `{}` was planned for {} but it is already {}; run again to re-plan",
                            action.name, action.start_time, now
                        ),
                    ));
                }
                self.call(op::PUT_SCHEDULED_UPDATE_GROUP_ACTION, || {
                    self.aws.put_scheduled_update_group_action(action)
                })
                .await?;
                Ok(None)
            }
            Action::StartInstanceRefresh {
                group,
                template_id,
                version,
                preferences,
            } => {
                let desired = match version {
                    Some(v) => Some(DesiredTemplate {
                        template_id: template_id.clone(),
                        version: Self::resolve(*v, created)?,
                    }),
                    None => None,
                };
                let req = StartRefreshRequest {
                    group_name: group.clone(),
                    desired,
                    preferences: preferences.clone(),
                };
                let id =
                    match self
                        .call(op::START_INSTANCE_REFRESH, || {
                            self.aws.start_instance_refresh(&req)
                        })
                        .await
                    {
                        Ok(id) => id,
                        // One refresh at a time per group: someone is already rolling it. That is
                        // "already rolling", not an error to retry; the next run follows it.
                        Err(e) if e.code == "InstanceRefreshInProgress" => return Ok(Some(
                            "an instance refresh is already in progress; the next run follows it"
                                .to_string(),
                        )),
                        Err(e) => return Err(e),
                    };
                let tags: BTreeMap<String, String> =
                    [(planner::tags::REFRESH.to_string(), id.clone())]
                        .into_iter()
                        .collect();
                self.call(op::CREATE_OR_UPDATE_TAGS, || {
                    self.aws.create_or_update_tags(group, &tags)
                })
                .await?;
                Ok(Some(format!("started {id}")))
            }
            Action::RollbackInstanceRefresh { group } => {
                let id = self
                    .call(op::ROLLBACK_INSTANCE_REFRESH, || {
                        self.aws.rollback_instance_refresh(group)
                    })
                    .await?;
                Ok(Some(format!("rolling back {id}")))
            }
            Action::DeleteScheduledAction { group, name } => {
                match self
                    .call(op::DELETE_SCHEDULED_ACTION, || {
                        self.aws.delete_scheduled_action(group, name)
                    })
                    .await
                {
                    Ok(()) => Ok(None),
                    // Already gone (it fired, or another run removed it): the goal is reached.
                    Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Invalid) => {
                        Ok(Some(format!("already gone ({})", e.code)))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// The actions of `outcome` done so far, described.
fn done_so_far(outcome: &TargetOutcome) -> Vec<String> {
    outcome
        .results
        .iter()
        .filter(|r| r.result == "done")
        .map(|r| r.action.clone())
        .collect()
}

/// How many reads of one kind (one operation) are in flight at once. The batched reads of a
/// fleet are few (one per 10 parameters, per 100 groups, …), so a small bound keeps a large fleet
/// from bursting into the per-account request-rate limits ("Request throttling for the Amazon EC2
/// API"; SSM and Auto Scaling throttle the same way) while independent reads still overlap.
const READS_IN_FLIGHT: usize = 4;

/// Run `reads` with at most [`READS_IN_FLIGHT`] in flight; results in input order.
async fn in_flight<T>(reads: impl IntoIterator<Item = impl Future<Output = T>>) -> Vec<T> {
    stream::iter(reads)
        .buffered(READS_IN_FLIGHT)
        .collect()
        .await
}

fn merge_images(
    config: &Config,
    obs: &mut Observation,
    results: Vec<Result<Vec<Image>, AwsError>>,
) -> Result<(), RunError> {
    let all: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    for result in results {
        match result {
            Ok(images) => {
                for i in images {
                    obs.images.insert(i.image_id.clone(), i);
                }
            }
            Err(e) => fail(obs, &all, &e)?,
        }
    }
    Ok(())
}

/// Record an observe error against targets; a crash ends the run.
fn fail(obs: &mut Observation, targets: &[&str], e: &AwsError) -> Result<(), RunError> {
    if e.kind == ErrorKind::Crash {
        return Err(RunError::Crashed(e.clone()));
    }
    for t in targets {
        obs.target_errors
            .entry(t.to_string())
            .or_insert_with(|| e.to_string());
    }
    Ok(())
}

/// The names of the targets that match.
fn targets_where(config: &Config, f: impl Fn(&crate::config::Target) -> bool) -> Vec<&str> {
    config
        .targets
        .iter()
        .filter(|t| f(t))
        .map(|t| t.name.as_str())
        .collect()
}

fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}
