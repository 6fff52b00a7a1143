//! The apply step: execute each target's actions in order, stop a target at its first failure or
//! when the deadline is too close, and notify. Different targets are applied at the same time,
//! a bounded number at once ([`Engine::apply_concurrently`]).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tracing::Instrument;

use super::{Engine, RunError, DEADLINE_MARGIN};
use crate::model::*;
use crate::notify;
use crate::port::*;

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

    /// Execute a plan (or, with `dry_run`, report what would be done) and notify, one target
    /// after another.
    pub async fn apply(&self, plan: Plan, dry_run: bool) -> Result<ApplyReport, RunError> {
        self.apply_concurrently(plan, dry_run, 1).await
    }

    /// [`Engine::apply`], with up to `concurrency` targets applied at the same time. Each
    /// target's actions stay in order, and targets that share a launch template go one after
    /// another in plan order (they create and move versions of the same template), so the writes
    /// are the same as one target at a time; only unrelated targets overlap, which turns a
    /// fleet's rollout from one round trip per write of every target in turn into one per write
    /// of the slowest lane. The report keeps the plan's order. A crash ends the run, as before:
    /// targets still in flight are dropped and the next run observes what is there.
    pub async fn apply_concurrently(
        &self,
        plan: Plan,
        dry_run: bool,
        concurrency: usize,
    ) -> Result<ApplyReport, RunError> {
        let generated_at = plan.generated_at;
        let mut lanes: Vec<Vec<(usize, TargetPlan)>> = Vec::new();
        let mut lane_of_template: BTreeMap<String, usize> = BTreeMap::new();
        for (i, tp) in plan.targets.into_iter().enumerate() {
            let shared = tp
                .template_id
                .as_ref()
                .and_then(|id| lane_of_template.get(id).copied());
            match shared {
                Some(lane) => lanes[lane].push((i, tp)),
                None => {
                    if let Some(id) = &tp.template_id {
                        lane_of_template.insert(id.clone(), lanes.len());
                    }
                    lanes.push(vec![(i, tp)]);
                }
            }
        }
        let mut lanes = stream::iter(lanes)
            .map(|lane| async move {
                let mut done = Vec::with_capacity(lane.len());
                for (i, tp) in lane {
                    let span =
                        tracing::info_span!("target", target = %tp.target, strategy = %tp.strategy);
                    let (outcome, stop) = self.apply_target(tp, dry_run).instrument(span).await?;
                    done.push((i, outcome, stop));
                }
                Ok::<_, RunError>(done)
            })
            .buffered(concurrency.max(1));
        let mut applied = Vec::new();
        while let Some(lane) = lanes.next().await {
            applied.extend(lane?);
        }
        applied.sort_by_key(|(i, _, _)| *i);
        let mut targets = Vec::with_capacity(applied.len());
        let mut stopped_at_deadline: Option<DeadlineStop> = None;
        for (_, outcome, stop) in applied {
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
            generated_at,
            targets,
            stopped_at_deadline,
        })
    }

    /// `UpdateContainerInstancesState` of `container_instances` to `status`, at most 10 per
    /// call ("UpdateContainerInstancesState", `containerInstances`,
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html).
    /// A call that fails stops the action; the calls before it stay done, and the next run plans
    /// from what the cluster really shows. An instance deregistered since the observation
    /// (`INACTIVE`, or no longer known: `MISSING`) is reported, not an error.
    async fn set_container_instances(
        &self,
        cluster: &str,
        container_instances: &[String],
        status: ContainerInstanceStatus,
    ) -> Result<Option<String>, AwsError> {
        let mut set = 0;
        let mut gone = Vec::new();
        let mut failed = Vec::new();
        for chunk in container_instances.chunks(MAX_UPDATE_CONTAINER_INSTANCES) {
            let out = self
                .call(op::UPDATE_CONTAINER_INSTANCES_STATE, || {
                    self.aws
                        .update_container_instances_state(cluster, chunk, status)
                })
                .await?;
            set += out.container_instances.len();
            for f in out.failures {
                let text = format!(
                    "{}: {}{}",
                    f.arn.as_deref().unwrap_or("-"),
                    f.reason,
                    f.detail.map(|d| format!(" ({d})")).unwrap_or_default()
                );
                let upper = text.to_ascii_uppercase();
                if upper.contains("INACTIVE") || upper.contains("MISSING") {
                    gone.push(text);
                } else {
                    failed.push(text);
                }
            }
        }
        let word = status.as_str();
        let mut detail = format!("{set} container instance(s) {word}");
        if !gone.is_empty() {
            detail.push_str(&format!("; already gone: {}", gone.join(", ")));
        }
        if !failed.is_empty() {
            return Err(AwsError::new(
                op::UPDATE_CONTAINER_INSTANCES_STATE,
                ErrorKind::Other,
                if status == ContainerInstanceStatus::Draining {
                    "amiroll.DrainFailed"
                } else {
                    "amiroll.ActivateFailed"
                },
                format!("{detail}; could not set {word}: {}", failed.join(", ")),
            ));
        }
        Ok(Some(detail))
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
                    result: StepResult::NotDone,
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
        let changed_something = outcome.results.iter().any(|r| r.result == StepResult::Done);
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
                    tags: crate::state::Unannounced(event).to_tags(),
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
                    result: StepResult::NotDone,
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
                        result: StepResult::NotDone,
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
            let span = tracing::info_span!(
                "action",
                group = pa.action.group().unwrap_or("-"),
                action = %pa.action.describe()
            );
            let result = match self.not_yet(&pa.action).instrument(span.clone()).await {
                Ok(Some(why)) => {
                    tracing::info!(target = %outcome.plan.target, action = %pa.action.describe(), "not yet: {why}");
                    outcome.results.push(ActionResult {
                        action: pa.action.describe(),
                        reason: pa.reason.clone(),
                        result: StepResult::NotDone,
                        detail: Some(why),
                    });
                    continue;
                }
                Ok(None) => self.execute(&pa.action, created).instrument(span).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(detail) => {
                    tracing::info!(target = %outcome.plan.target, action = %pa.action.describe(), "done");
                    outcome.results.push(ActionResult {
                        action: pa.action.describe(),
                        reason: pa.reason.clone(),
                        result: StepResult::Done,
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
                        result: StepResult::Failed,
                        detail: Some(e.to_string()),
                    });
                    for rest in &actions[i + 1..] {
                        outcome.results.push(ActionResult {
                            action: rest.action.describe(),
                            reason: rest.reason.clone(),
                            result: StepResult::NotDone,
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

    /// Why an action is not done now, when the plan could not know; both are about instance
    /// refreshes a moment after the observation:
    ///
    /// - a cancel is sent only while the refresh planned is still the one in progress (not
    ///   one another run started since, such as the refresh back);
    /// - a refresh back after a cancel starts only once the cancelled refresh has ended: it is
    ///   `Cancelling` until the replacements under way finish ("Cancel an instance refresh",
    ///   https://docs.aws.amazon.com/autoscaling/ec2/userguide/cancel-instance-refresh.html), and
    ///   no refresh starts while another is active. When the cancel completed at once, the
    ///   refresh back starts in the same run; otherwise the next run starts it.
    async fn not_yet(&self, action: &Action) -> Result<Option<String>, AwsError> {
        if let Action::RestoreGroupVersion {
            template_id,
            version,
            pinned,
            ..
        } = action
        {
            return self.restore_not_yet(template_id, version, *pinned).await;
        }
        let (group, id, cancel) = match action {
            Action::CancelInstanceRefresh { group, refresh } => (group, refresh, true),
            Action::StartInstanceRefresh {
                group,
                after_cancel: Some(id),
                ..
            } => (group, id, false),
            _ => return Ok(None),
        };
        let refreshes = self
            .call(op::DESCRIBE_INSTANCE_REFRESHES, || {
                self.aws.describe_instance_refreshes(group)
            })
            .await?;
        let active = refreshes.iter().find(|r| !r.is_terminal());
        Ok(match active {
            Some(r) if cancel && r.id != *id => Some(format!(
                "instance refresh {} is the one in progress now, not {id}; it is left alone",
                r.id
            )),
            Some(r) if cancel && r.status == "Cancelling" => {
                Some(format!("instance refresh {id} is already Cancelling"))
            }
            Some(_) if cancel => None,
            None if cancel => Some(format!(
                "instance refresh {id} is no longer in progress; nothing more is replaced"
            )),
            Some(r) if r.id == *id => Some(format!(
                "instance refresh {id} is still {}; the next run starts this one",
                r.status
            )),
            // Another refresh is active (someone's, or this one started by a concurrent run):
            // the start answers InstanceRefreshInProgress and the next run follows it.
            _ => None,
        })
    }

    /// Why a group pinned to `pinned` is not put back on `version` now: the reference no longer
    /// resolves to `pinned` (another version became the default or the latest since the plan was
    /// made, or the default move planned before it has not shown yet). Then the group would
    /// launch something else than it does, so it stays pinned, its `amiroll:pinned-from` record
    /// kept, and a later run plans again from what is there. The template's header names both
    /// ("DescribeLaunchTemplates": `DefaultVersionNumber`, `LatestVersionNumber`,
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplates.html).
    async fn restore_not_yet(
        &self,
        template_id: &str,
        version: &str,
        pinned: u64,
    ) -> Result<Option<String>, AwsError> {
        let header = self
            .call(op::DESCRIBE_LAUNCH_TEMPLATES, || {
                self.aws.describe_launch_template(template_id)
            })
            .await?;
        let now = match version {
            "$Latest" => header.latest_version,
            _ => header.default_version,
        };
        Ok((now != pinned).then(|| {
            format!(
                "{version} of {template_id} is v{now} now, not v{pinned}: the group stays pinned to v{pinned} until a later run"
            )
        }))
    }

    /// A call that names launch-template version `n`. EC2 is eventually consistent ("Eventual
    /// consistency in the Amazon EC2 API",
    /// https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html): a version
    /// created a moment ago can be unknown for a while — to EC2 (`VersionNotFound`) and to Auto
    /// Scaling, which answers `ValidationError` naming the version. When `n` is the version this
    /// run created, such an answer is retried up to 4 times, 4–32 s apart.
    async fn call_naming_version<T, F, Fut>(
        &self,
        operation: &'static str,
        n: u64,
        created: &Option<u64>,
        f: F,
    ) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        let mut tries = 0;
        loop {
            match self.call(operation, &f).await {
                Err(e) if *created == Some(n) && tries < 4 && version_unseen(&e, n) => {
                    tries += 1;
                    self.aws.sleep(Duration::from_secs(2 << tries)).await;
                }
                other => return other,
            }
        }
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
                block_device_mappings,
            } => {
                let req = CreateVersionRequest {
                    template_id: template_id.clone(),
                    source_version: *source_version,
                    image_id: image_id.clone(),
                    description: description.clone(),
                    client_token: client_token.clone(),
                    block_device_mappings: block_device_mappings.clone(),
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
                let t = self
                    .call_naming_version(op::MODIFY_LAUNCH_TEMPLATE, n, created, || {
                        self.aws
                            .modify_launch_template_default_version(template_id, n)
                    })
                    .await?;
                Ok(Some(format!("default is v{}", t.default_version)))
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
                mixed_instances_policy,
            } => {
                let n = Self::resolve(*version, created)?;
                let spec = TemplateSpec {
                    template_id: Some(template_id.clone()),
                    template_name: None,
                    version: Some(n.to_string()),
                };
                // A mixed group is re-pinned through its policy, sent in full with only the
                // template changed; a plain group through its `LaunchTemplate`.
                let req = match mixed_instances_policy {
                    Some(policy) => UpdateGroupRequest {
                        group_name: group.clone(),
                        mixed_instances_policy: Some(MixedInstancesPolicy {
                            template: spec,
                            ..policy.clone()
                        }),
                        ..UpdateGroupRequest::default()
                    },
                    None => UpdateGroupRequest {
                        group_name: group.clone(),
                        launch_template: Some(spec),
                        ..UpdateGroupRequest::default()
                    },
                };
                self.call_naming_version(op::UPDATE_AUTO_SCALING_GROUP, n, created, || {
                    self.aws.update_auto_scaling_group(&req)
                })
                .await?;
                Ok(Some(format!("pinned to v{n}")))
            }
            Action::RestoreGroupVersion {
                group,
                template_id,
                version,
                pinned: _,
                mixed_instances_policy,
            } => {
                // A group's launch template (version) only decides what it launches next: "If you
                // associate a new launch configuration or template with an Auto Scaling group, all
                // new instances will get the updated configuration. Existing instances continue to
                // run with the configuration that they were originally launched with"
                // ("UpdateAutoScalingGroup", Amazon EC2 Auto Scaling API Reference,
                // https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html).
                // A mixed group's policy goes back unchanged but for the version, so its purchasing
                // options replace nothing either. And `not_yet` checked that `version` names the
                // number the group launches today: not even new launches change.
                let spec = TemplateSpec {
                    template_id: Some(template_id.clone()),
                    template_name: None,
                    version: Some(version.clone()),
                };
                let req = match mixed_instances_policy {
                    Some(policy) => UpdateGroupRequest {
                        group_name: group.clone(),
                        mixed_instances_policy: Some(MixedInstancesPolicy {
                            template: spec,
                            ..policy.clone()
                        }),
                        ..UpdateGroupRequest::default()
                    },
                    None => UpdateGroupRequest {
                        group_name: group.clone(),
                        launch_template: Some(spec),
                        ..UpdateGroupRequest::default()
                    },
                };
                self.call(op::UPDATE_AUTO_SCALING_GROUP, || {
                    self.aws.update_auto_scaling_group(&req)
                })
                .await?;
                // The record goes only after the update: a run that stops in between finds the
                // group on `version` with the record, and the next plan removes it.
                let keys = [crate::state::tags::PINNED_FROM.to_string()];
                self.call(op::DELETE_TAGS, || self.aws.delete_tags(group, &keys))
                    .await?;
                Ok(Some(format!("on {version} again")))
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
                mixed_instances_policy,
                after_cancel: _,
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
                    mixed_instances_policy: mixed_instances_policy.clone(),
                };
                let named = req.desired.as_ref().map_or(0, |d| d.version);
                let id =
                    match self
                        .call_naming_version(op::START_INSTANCE_REFRESH, named, created, || {
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
                let tags = crate::state::Refresh::with_id(&id).to_tags();
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
            Action::CancelInstanceRefresh { group, refresh } => {
                match self
                    .call(op::CANCEL_INSTANCE_REFRESH, || {
                        self.aws.cancel_instance_refresh(group)
                    })
                    .await
                {
                    Ok(id) if id == *refresh => Ok(Some(format!("cancelling {id}"))),
                    Ok(id) => Ok(Some(format!("cancelling {id} (the plan saw {refresh})"))),
                    // "If an instance refresh or rollback is not in progress, an
                    // ActiveInstanceRefreshNotFound error occurs" ("CancelInstanceRefresh"): it
                    // ended, or is already cancelling; either way nothing more is replaced.
                    Err(e) if e.kind == ErrorKind::NotFound => Ok(Some(format!(
                        "no refresh in progress any more ({}); nothing more is replaced",
                        e.code
                    ))),
                    Err(e) => Err(e),
                }
            }
            Action::DrainContainerInstances {
                cluster,
                container_instances,
                ..
            } => {
                self.set_container_instances(
                    cluster,
                    container_instances,
                    ContainerInstanceStatus::Draining,
                )
                .await
            }
            Action::ActivateContainerInstances {
                cluster,
                container_instances,
                ..
            } => {
                self.set_container_instances(
                    cluster,
                    container_instances,
                    ContainerInstanceStatus::Active,
                )
                .await
            }
            Action::PutLifecycleHook {
                group,
                hook,
                heartbeat_timeout_secs,
                default_result,
            } => {
                let req = PutLifecycleHookRequest {
                    group_name: group.clone(),
                    name: hook.clone(),
                    transition: LIFECYCLE_TRANSITION_TERMINATING.to_string(),
                    heartbeat_timeout_secs: Some(*heartbeat_timeout_secs),
                    default_result: Some(default_result.clone()),
                };
                self.call(op::PUT_LIFECYCLE_HOOK, || self.aws.put_lifecycle_hook(&req))
                    .await?;
                Ok(None)
            }
            Action::MarkDrainStart {
                cluster,
                container_instances,
                since,
                ..
            } => {
                let value = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let attributes: Vec<ContainerInstanceAttribute> = container_instances
                    .iter()
                    .map(|arn| ContainerInstanceAttribute {
                        target_id: arn.clone(),
                        name: DRAIN_SINCE_ATTRIBUTE.to_string(),
                        value: value.clone(),
                    })
                    .collect();
                // At most 10 attributes a call ("PutAttributes", `attributes`).
                for chunk in attributes.chunks(MAX_PUT_ATTRIBUTES) {
                    match self
                        .call(op::PUT_ATTRIBUTES, || {
                            self.aws.put_attributes(cluster, chunk)
                        })
                        .await
                    {
                        Ok(()) => {}
                        // Deregistered since the observation: nothing left to time.
                        Err(e) if e.code.contains("TargetNotFound") => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(None)
            }
            Action::RecordLifecycleActionHeartbeat {
                group,
                hook,
                instance_id,
            } => wait_over(
                self.call(op::RECORD_LIFECYCLE_ACTION_HEARTBEAT, || {
                    self.aws
                        .record_lifecycle_action_heartbeat(group, hook, instance_id)
                })
                .await,
            ),
            Action::CompleteLifecycleAction {
                group,
                hook,
                instance_id,
            } => wait_over(
                self.call(op::COMPLETE_LIFECYCLE_ACTION, || {
                    self.aws.complete_lifecycle_action(
                        group,
                        hook,
                        instance_id,
                        LifecycleActionResult::Continue,
                    )
                })
                .await,
            ),
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

/// Whether `e` says that launch-template version `n` does not exist: EC2's `NotFound` codes
/// (`InvalidLaunchTemplateId.VersionNotFound`), or Auto Scaling's `ValidationError` whose
/// message names version `n`.
fn version_unseen(e: &AwsError, n: u64) -> bool {
    match e.kind {
        ErrorKind::NotFound => true,
        ErrorKind::Invalid if e.code == "ValidationError" => {
            let message = e.message.to_ascii_lowercase();
            let number = n.to_string();
            message.contains("version")
                && message
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|word| word == number)
        }
        _ => false,
    }
}

/// The actions of `outcome` done so far, described.
fn done_so_far(outcome: &TargetOutcome) -> Vec<String> {
    outcome
        .results
        .iter()
        .filter(|r| r.result == StepResult::Done)
        .map(|r| r.action.clone())
        .collect()
}

/// A lifecycle-action call answered "No active Lifecycle Action" (`ValidationError`): the wait
/// ended since the observation (timed out, or completed by another run) and the instance is
/// terminating anyway — done, with a note.
fn wait_over(result: Result<(), AwsError>) -> Result<Option<String>, AwsError> {
    match result {
        Ok(()) => Ok(None),
        Err(e) if e.kind == ErrorKind::Invalid => {
            Ok(Some(format!("the wait is over already ({})", e.message)))
        }
        Err(e) => Err(e),
    }
}
