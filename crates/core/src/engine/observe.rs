//! The observe step: every read the planner needs, batched, with the reads in flight bounded.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;

use futures::stream::{self, StreamExt};

use super::{Engine, RunError};
use crate::config::Config;
use crate::model::*;
use crate::planner;
use crate::port::*;

impl<'a, A: Aws> Engine<'a, A> {
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

        // 1b. The lifecycle hooks of the groups of targets that drain through one: every run,
        //     because a group may hold an instance in `Terminating:Wait` (any scale-in) while its
        //     fleet is current, and amiroll creates its hook before a rollout needs it.
        let hook_groups: Vec<(String, String)> = {
            let mut seen = std::collections::BTreeSet::new();
            config
                .targets
                .iter()
                .filter(|t| t.drain_hook().is_some())
                .flat_map(|t| t.groups.iter().map(move |g| (t.name.clone(), g.clone())))
                .filter(|(_, g)| obs.groups.contains_key(g) && seen.insert(g.clone()))
                .collect()
        };
        let hooks = in_flight(hook_groups.iter().map(|(_, g)| {
            self.call(op::DESCRIBE_LIFECYCLE_HOOKS, move || {
                self.aws.describe_lifecycle_hooks(g)
            })
        }))
        .await;
        for ((_, g), result) in hook_groups.iter().zip(hooks) {
            match result {
                Ok(list) => {
                    obs.lifecycle_hooks.insert(g.clone(), list);
                }
                Err(e) => {
                    let affected =
                        targets_where(config, |t| t.drain_hook().is_some() && t.groups.contains(g));
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
                        // A set, not a scan of the list per version: thousands of templates.
                        let mut known: HashSet<(String, u64)> = list
                            .iter()
                            .map(|d| (d.template_id.clone(), d.version))
                            .collect();
                        for v in latest {
                            if known.insert((v.template_id.clone(), v.version)) {
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
            // The listing's versions by template id and by name (a target names its template
            // either way), in listing order: one pass, not one scan per target.
            let mut by_reference: HashMap<&str, Vec<usize>> = HashMap::new();
            for (i, v) in current.iter().enumerate() {
                by_reference
                    .entry(v.template_id.as_str())
                    .or_default()
                    .push(i);
                if let Some(name) = v.template_name.as_deref().filter(|n| *n != v.template_id) {
                    by_reference.entry(name).or_default().push(i);
                }
            }
            for reference in unique(config.targets.iter().map(|t| t.launch_template.clone())) {
                let versions: Vec<LaunchTemplateVersion> = by_reference
                    .get(reference.as_str())
                    .map(|at| at.iter().map(|&i| current[i].clone()).collect())
                    .unwrap_or_default();
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

        // 4b. Which cluster each capacity provider is associated with, only when some judged
        //     group's cluster can be found no other way (neither configured nor in its user
        //     data, and it backs a capacity provider): a run that needs none costs no call.
        let cp_targets = planner::provider_cluster_reads(config, &obs, &reads.targets);
        if !cp_targets.is_empty() {
            let result = self.read_provider_clusters().await;
            merge_provider_clusters(&mut obs, &cp_targets, result)?;
        }

        // 5. What the new reads name: the AMIs of every version and of the running instances,
        //    the instance types of the versions and the groups' overrides, and the ECS clusters
        //    the groups' instances join (known now that every version has been read).
        let ids = planner::wanted_images(config, &obs);
        let types = planner::wanted_instance_types(config, &obs);
        let ecs = planner::ecs_reads(config, &obs, &reads.targets);
        let clusters = ecs.clusters();
        let (images, types, cluster_results) = futures::join!(
            self.read_images(&ids),
            self.read_instance_types(&types),
            self.read_clusters(&clusters),
        );
        merge_images(config, &mut obs, images)?;
        merge_clusters(&mut obs, &ecs, &clusters, cluster_results)?;
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

    /// The ECS clusters' container instances, in the order of `clusters`:
    /// `ListContainerInstances` of each (all pages), then `DescribeContainerInstances` of 100 at
    /// a time, each sent at the same time (at most [`READS_IN_FLIGHT`] of one operation). A
    /// container instance listed and gone before it is described (a `MISSING` failure) is left
    /// out.
    async fn read_clusters(
        &self,
        clusters: &[String],
    ) -> Vec<Result<Vec<ContainerInstance>, AwsError>> {
        let lists = in_flight(clusters.iter().map(|cluster| {
            self.call(op::LIST_CONTAINER_INSTANCES, move || {
                self.aws.list_container_instances(cluster)
            })
        }))
        .await;
        let chunks: Vec<(usize, &[String])> = lists
            .iter()
            .enumerate()
            .filter_map(|(i, list)| list.as_ref().ok().map(|arns| (i, arns)))
            .flat_map(|(i, arns)| {
                arns.chunks(MAX_DESCRIBE_CONTAINER_INSTANCES)
                    .map(move |chunk| (i, chunk))
            })
            .collect();
        let described = in_flight(chunks.iter().map(|(i, chunk)| {
            let cluster = clusters[*i].as_str();
            self.call(op::DESCRIBE_CONTAINER_INSTANCES, move || {
                self.aws.describe_container_instances(cluster, chunk)
            })
        }))
        .await;
        let mut out: Vec<Result<Vec<ContainerInstance>, AwsError>> = lists
            .iter()
            .map(|list| list.as_ref().map(|_| Vec::new()).map_err(Clone::clone))
            .collect();
        for ((i, _), result) in chunks.iter().zip(described) {
            match (&mut out[*i], result) {
                (Ok(all), Ok(o)) => all.extend(o.container_instances),
                (slot @ Ok(_), Err(e)) => *slot = Err(e),
                (Err(_), _) => {}
            }
        }
        out
    }

    /// Capacity provider name → the name of the cluster it is associated with: `ListClusters`
    /// (all pages), then `DescribeClusters` of [`MAX_DESCRIBE_CLUSTERS`] at a time, sent at the
    /// same time (at most [`READS_IN_FLIGHT`]); see [`planner::clusters_by_provider`].
    async fn read_provider_clusters(&self) -> Result<BTreeMap<String, String>, AwsError> {
        let arns = self
            .call(op::LIST_CLUSTERS, || self.aws.list_clusters())
            .await?;
        let described = in_flight(arns.chunks(MAX_DESCRIBE_CLUSTERS).map(|chunk| {
            self.call(op::DESCRIBE_CLUSTERS, move || {
                self.aws.describe_clusters(chunk)
            })
        }))
        .await;
        let mut clusters = Vec::new();
        for result in described {
            clusters.extend(result?);
        }
        Ok(planner::clusters_by_provider(clusters))
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

/// The capacity providers' clusters read into the observation. Not allowed to read them (the
/// policy grants `ecs:ListClusters`/`ecs:DescribeClusters` only to targets without
/// `ecs_cluster`): a warning, and the groups stay plain EC2 groups, as for a cluster in the user
/// data that may not be read; any other failure is an error of the targets that needed them.
fn merge_provider_clusters(
    obs: &mut Observation,
    targets: &[String],
    result: Result<BTreeMap<String, String>, AwsError>,
) -> Result<(), RunError> {
    match result {
        Ok(map) => {
            obs.provider_clusters = map;
            Ok(())
        }
        Err(e) if e.kind == ErrorKind::AccessDenied => {
            tracing::warn!(
                error = %e,
                "cannot read which ECS cluster the groups' capacity providers belong to; set `ecs_cluster` to have the cluster read"
            );
            Ok(())
        }
        Err(e) => {
            let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
            fail(obs, &targets, &e)
        }
    }
}

/// The clusters read into the observation. A cluster that does not exist is recorded as such
/// (its groups are plain EC2 groups), unless a target configured it (`ecs_cluster`): for that
/// target it is bad input. A cluster found in the user data or from a capacity provider that
/// amiroll may not read (the policy grants ECS reads only on configured clusters) is left
/// unknown, with a warning; any other failure is an error of the targets using the cluster.
fn merge_clusters(
    obs: &mut Observation,
    ecs: &planner::EcsReads,
    clusters: &[String],
    results: Vec<Result<Vec<ContainerInstance>, AwsError>>,
) -> Result<(), RunError> {
    for (_, group, c) in &ecs.groups {
        obs.ecs_clusters.insert(group.clone(), c.clone());
    }
    for (cluster, result) in clusters.iter().zip(results) {
        let configured = ecs.configured_users(cluster);
        match result {
            Ok(container_instances) => {
                obs.clusters.insert(
                    cluster.clone(),
                    ObservedCluster {
                        exists: true,
                        container_instances,
                    },
                );
            }
            Err(e) if e.kind == ErrorKind::NotFound => {
                obs.clusters.insert(
                    cluster.clone(),
                    ObservedCluster {
                        exists: false,
                        container_instances: Vec::new(),
                    },
                );
                let e = AwsError {
                    message: format!(
                        "the ECS cluster `{cluster}` (`ecs_cluster`) does not exist: {}",
                        e.message
                    ),
                    ..e
                };
                fail(obs, &configured, &e)?;
            }
            Err(e) if e.kind == ErrorKind::AccessDenied => {
                if !ecs.discovered_users(cluster).is_empty() {
                    tracing::warn!(
                        error = %e,
                        cluster = %cluster,
                        "cannot read the ECS cluster found in the launch template's user data or from the group's capacity provider; set `ecs_cluster` to have it read"
                    );
                    obs.ecs_clusters.retain(|_, c| {
                        &c.cluster != cluster || c.source == ClusterSource::Configured
                    });
                }
                fail(obs, &configured, &e)?;
            }
            Err(e) => {
                let mut users = configured;
                users.extend(ecs.discovered_users(cluster));
                fail(obs, &users, &e)?;
            }
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
            .or_insert_with(|| e.clone());
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
