//! What observe reads: the pure choice of the detailed reads, the AMIs and the instance types a
//! plan needs, from the configuration and the batched reads.

use super::*;
use crate::state::{Announced, Refresh};

/// Whether a target needs the detailed reads (every template version, instance types, scheduled
/// actions, refreshes, capacity providers, topics) or is plainly current from the batched ones.
/// A target is plainly current when its AMI parses, every group launches a known version whose
/// AMI is the candidate, every instance runs it, and no group carries rollout state.
pub fn needs_detail(t: &Target, obs: &Observation) -> bool {
    if t.settings.notify_when_current || obs.target_errors.contains_key(&t.name) {
        return true;
    }
    if crate::planner::hooks::hook_work(t, obs) {
        return true;
    }
    let Some(ami) = obs
        .parameters
        .get(&t.ami_parameter)
        .and_then(|p| parse_ami_value(&p.value, t.expected_format(), &p.name).ok())
    else {
        return true;
    };
    let Some(tmpl) = obs.templates.get(&t.launch_template) else {
        return true;
    };
    if t.groups.is_empty() {
        return tmpl
            .version(tmpl.template.default_version)
            .and_then(|v| v.image_id.as_deref())
            != Some(ami.as_str());
    }
    for name in &t.groups {
        let Some(g) = obs.groups.get(name) else {
            return true;
        };
        if g.tags.contains_key(tags::SKIP) {
            continue;
        }
        if rollout_state(g) {
            return true;
        }
        let spec = g
            .launch_template
            .as_ref()
            .or(g.mixed_instances_policy.as_ref().map(|m| &m.template));
        let Ok((_, _, n)) = resolve_version(
            name,
            spec.and_then(|s| s.version.as_deref()),
            &tmpl.template,
        ) else {
            return true;
        };
        let image = tmpl.version(n).and_then(|v| v.image_id.clone());
        let alias = image
            .as_deref()
            .is_some_and(|i| i.starts_with("resolve:ssm:"));
        if image.is_none() || (!alias && image.as_deref() != Some(ami.as_str())) {
            return true;
        }
        let off = g
            .instances
            .iter()
            .filter(|i| !i.lifecycle_state.starts_with("Terminat"))
            .any(|i| instance_launch(i, obs, &tmpl.template.id).0.as_deref() != Some(ami.as_str()));
        if off {
            return true;
        }
    }
    false
}

/// Whether the account-wide `$Latest` listing is needed besides the `$Default` one: some group of
/// a target launches `$Latest`, or amiroll pinned one that did (`amiroll:pinned-from`), which
/// goes back on `$Latest` only while that is the version it launches.
pub fn latest_listing_needed(config: &Config, obs: &Observation) -> bool {
    config
        .targets
        .iter()
        .flat_map(|t| t.groups.iter())
        .filter_map(|g| obs.groups.get(g))
        .any(|g| {
            launches_latest(g)
                || crate::state::Pin::from_tags(&g.tags).is_some_and(|p| p.from == "$Latest")
        })
}

/// Whether a group launches `$Latest` of a template (its own, its mixed policy's or an
/// override's).
pub(crate) fn launches_latest(g: &AutoScalingGroup) -> bool {
    let latest = |spec: &TemplateSpec| spec.version.as_deref() == Some("$Latest");
    g.launch_template.as_ref().is_some_and(latest)
        || g.mixed_instances_policy.as_ref().is_some_and(|m| {
            latest(&m.template)
                || m.overrides
                    .iter()
                    .any(|o| o.template.as_ref().is_some_and(latest))
        })
}

/// Every AMI [`plan`] may look at and that was not read yet: the candidates, the AMIs of the
/// versions read, the AMIs the instances read run.
pub fn wanted_images(config: &Config, obs: &Observation) -> Vec<String> {
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for t in &config.targets {
        if let Some(p) = obs.parameters.get(&t.ami_parameter) {
            if let Ok(ami) = parse_ami_value(&p.value, t.expected_format(), &p.name) {
                wanted.insert(ami);
            }
        }
        if let Some(tmpl) = obs.templates.get(&t.launch_template) {
            wanted.extend(tmpl.versions.iter().filter_map(|v| v.image_id.clone()));
        }
    }
    wanted.extend(obs.instances.values().map(|i| i.image_id.clone()));
    wanted
        .into_iter()
        .filter(|i| is_ami_id(i) && !obs.images.contains_key(i))
        .collect()
}

/// The instance types of the versions read and of the groups' overrides.
pub fn wanted_instance_types(config: &Config, obs: &Observation) -> Vec<String> {
    let mut types: BTreeSet<String> = BTreeSet::new();
    for t in &config.targets {
        if let Some(tmpl) = obs.templates.get(&t.launch_template) {
            types.extend(tmpl.versions.iter().filter_map(|v| v.instance_type.clone()));
        }
        for g in t.groups.iter().filter_map(|g| obs.groups.get(g)) {
            if let Some(m) = &g.mixed_instances_policy {
                types.extend(m.overrides.iter().filter_map(|o| o.instance_type.clone()));
            }
        }
    }
    types.into_iter().collect()
}

/// The detailed reads of a run, chosen from the configuration and the batched reads: everything
/// [`plan`] needs for the targets that may change ([`needs_detail`]), or for every target with
/// `every_detail` (a rollback). A target that is plainly current gets none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailReads {
    /// The targets that get them.
    pub targets: Vec<String>,
    /// Every version of these templates: (reference in the configuration, template id).
    pub templates: Vec<(String, String)>,
    /// What the fleet really runs: every instance (not terminating) of those targets' groups.
    pub instances: Vec<String>,
    /// (target, group): the scheduled actions of scheduled-surge targets' groups.
    pub scheduled_actions: Vec<(String, String)>,
    /// (target, group): the instance refreshes of the groups a target may change (every
    /// strategy but `none`, or `pinned = "update"`), and of any group that carries an amiroll
    /// refresh tag (a strategy change must not lose a refresh).
    pub refreshes: Vec<(String, String)>,
    /// The targets that roll groups, for which the ECS capacity providers are read (to know which
    /// groups ECS manages); empty: they are not read.
    pub capacity_providers_for: Vec<String>,
    /// The SNS topics of those targets: a missing topic is bad input, caught before anything
    /// changes.
    pub topics: Vec<String>,
}

/// See [`DetailReads`].
pub fn detail_reads(config: &Config, obs: &Observation, every_detail: bool) -> DetailReads {
    let detailed: Vec<&Target> = config
        .targets
        .iter()
        .filter(|t| every_detail || needs_detail(t, obs))
        .collect();
    let mut r = DetailReads {
        targets: detailed.iter().map(|t| t.name.clone()).collect(),
        ..DetailReads::default()
    };
    let mut seen = BTreeSet::new();
    for t in &detailed {
        if let Some(tmpl) = obs.templates.get(&t.launch_template) {
            if seen.insert(t.launch_template.clone()) {
                r.templates
                    .push((t.launch_template.clone(), tmpl.template.id.clone()));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for g in detailed
        .iter()
        .flat_map(|t| t.groups.iter())
        .filter_map(|g| obs.groups.get(g))
    {
        for i in g
            .instances
            .iter()
            .filter(|i| !i.lifecycle_state.starts_with("Terminat"))
        {
            if seen.insert(i.instance_id.clone()) {
                r.instances.push(i.instance_id.clone());
            }
        }
    }
    for t in &detailed {
        for g in t.groups.iter() {
            let Some(group) = obs.groups.get(g) else {
                continue;
            };
            if t.settings.strategy == Strategy::ScheduledSurge {
                r.scheduled_actions.push((t.name.clone(), g.clone()));
            }
            // A surge or a re-pin changes the group, which Auto Scaling rejects during a
            // refresh: those targets read the refreshes too (`hold::holds` waits for one).
            if t.settings.strategy != Strategy::None
                || t.settings.pinned == crate::config::Pinned::Update
                || group.tags.contains_key(tags::REFRESH_AMI)
            {
                r.refreshes.push((t.name.clone(), g.clone()));
            }
        }
    }
    if !obs.groups.is_empty() {
        r.capacity_providers_for = detailed
            .iter()
            .filter(|t| t.settings.strategy != Strategy::None && !t.groups.is_empty())
            .map(|t| t.name.clone())
            .collect();
    }
    let mut seen = BTreeSet::new();
    r.topics = detailed
        .iter()
        .filter_map(|t| t.settings.sns_topic.clone())
        .filter(|topic| seen.insert(topic.clone()))
        .collect();
    r
}

/// The ECS reads of a run: the cluster of every group whose instances a plan judges, chosen
/// after the detailed reads (so that the version a pinned group launches is known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsReads {
    /// (target, group, its cluster), in configuration order.
    pub groups: Vec<(String, String, GroupCluster)>,
}

impl EcsReads {
    /// The clusters to read, each once, in first-seen order.
    pub fn clusters(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.groups
            .iter()
            .map(|(_, _, c)| c.cluster.clone())
            .filter(|c| seen.insert(c.clone()))
            .collect()
    }

    /// The targets whose groups are in `cluster` by their configuration (`ecs_cluster`).
    pub fn configured_users(&self, cluster: &str) -> Vec<&str> {
        self.users(cluster, |s| *s == ClusterSource::Configured)
    }

    /// The targets whose groups are in `cluster` by their user data or their capacity provider.
    pub fn discovered_users(&self, cluster: &str) -> Vec<&str> {
        self.users(cluster, |s| *s != ClusterSource::Configured)
    }

    fn users(&self, cluster: &str, source: impl Fn(&ClusterSource) -> bool) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.groups
            .iter()
            .filter(|(_, _, c)| c.cluster == cluster && source(&c.source))
            .map(|(t, _, _)| t.as_str())
            .filter(|t| seen.insert(*t))
            .collect()
    }
}

/// Which clusters a run reads ([`EcsReads`]). Only for `targets` (those that get the detailed
/// reads), and among them only where an instance is judged: a target that rolls its groups
/// (not `strategy = "none"`, not observe-only), and a group (not skipped) with an instance that
/// is not terminating — a current fleet, or a group with no instances, costs no ECS call. A
/// group's cluster is the target's `ecs_cluster`, else the one the user data of the version the
/// group launches names, else the one the default version's user data names
/// ([`crate::ecs::cluster_from_user_data`]), else the cluster its ECS capacity provider is
/// associated with (`obs.provider_clusters`, see [`provider_cluster_reads`]); a group with none
/// is a plain EC2 group.
pub fn ecs_reads(config: &Config, obs: &Observation, targets: &[String]) -> EcsReads {
    let mut r = EcsReads::default();
    for (t, name, g) in judged_ecs_groups(config, obs, targets) {
        let cluster = known_cluster(t, g, obs).or_else(|| provider_cluster(g, obs));
        if let Some(c) = cluster {
            r.groups.push((t.name.clone(), name.to_string(), c));
        }
    }
    r
}

/// The targets (of `targets`) for which a run reads which cluster each capacity provider is
/// associated with (`ListClusters`, then `DescribeClusters` of 100 at a time): those with a
/// group [`ecs_reads`] judges that has no configured cluster and none in its user data, and
/// that backs an ECS capacity provider. A capacity provider does not name its cluster
/// ("CapacityProvider": `cluster` is set for ECS Managed Instances only,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProvider.html); a
/// cluster names its capacity providers ("Cluster": `capacityProviders`,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Cluster.html). Empty: nothing
/// is read — the common case, and always for a current fleet (no detailed reads).
pub fn provider_cluster_reads(
    config: &Config,
    obs: &Observation,
    targets: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (t, _, g) in judged_ecs_groups(config, obs, targets) {
        if known_cluster(t, g, obs).is_none()
            && provider_of(obs, g).is_some()
            && !out.contains(&t.name)
        {
            out.push(t.name.clone());
        }
    }
    out
}

/// Capacity provider name → the name of the cluster that names it among its
/// `capacityProviders`, from the clusters `DescribeClusters` gave. Deleted (`INACTIVE`) clusters
/// are left out: they "may remain discoverable in your account for a period of time"
/// ("Cluster", `status`, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Cluster.html).
/// An Auto Scaling group's provider is associated with at most one cluster ("CreateCluster",
/// `capacityProviders`: it "must be created but not associated with another cluster",
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html); should
/// two live clusters name it all the same, the first given is kept.
pub fn clusters_by_provider(
    clusters: impl IntoIterator<Item = crate::port::EcsCluster>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in clusters.into_iter().filter(|c| c.is_live()) {
        for provider in c.capacity_providers {
            out.entry(provider).or_insert_with(|| c.name.clone());
        }
    }
    out
}

/// The groups whose instances a run judges as ECS groups (see [`ecs_reads`]): (target, group
/// name, group), in configuration order.
fn judged_ecs_groups<'a>(
    config: &'a Config,
    obs: &'a Observation,
    targets: &[String],
) -> Vec<(&'a Target, &'a str, &'a AutoScalingGroup)> {
    let mut out = Vec::new();
    for t in config
        .targets
        .iter()
        .filter(|t| targets.contains(&t.name) && !t.observe_only)
        .filter(|t| t.settings.strategy != Strategy::None && t.settings.ecs)
    {
        // An instance a drain hook holds is judged too: amiroll drains it.
        let holds = t.drain_hook().is_some();
        for name in &t.groups {
            let Some(g) = obs.groups.get(name) else {
                continue;
            };
            let judged = g
                .instances
                .iter()
                .any(|i| !i.lifecycle_state.starts_with("Terminat") || (holds && is_held(i)));
            if judged && !g.tags.contains_key(tags::SKIP) {
                out.push((t, name.as_str(), g));
            }
        }
    }
    out
}

/// A group's cluster as configured (`ecs_cluster`) or named in its launch template's user data.
fn known_cluster(t: &Target, g: &AutoScalingGroup, obs: &Observation) -> Option<GroupCluster> {
    match &t.settings.ecs_cluster {
        Some(c) => Some(GroupCluster {
            cluster: c.clone(),
            source: ClusterSource::Configured,
        }),
        None => obs
            .templates
            .get(&t.launch_template)
            .and_then(|tmpl| cluster_in_user_data(g, tmpl)),
    }
}

/// The cluster the group's capacity provider is associated with, when it was read.
fn provider_cluster(g: &AutoScalingGroup, obs: &Observation) -> Option<GroupCluster> {
    let provider = provider_of(obs, g)?;
    let cluster = obs.provider_clusters.get(&provider.name)?;
    Some(GroupCluster {
        cluster: cluster.clone(),
        source: ClusterSource::CapacityProvider {
            provider: provider.name.clone(),
        },
    })
}

/// The cluster the user data of the version `g` launches names, else the default version's.
fn cluster_in_user_data(g: &AutoScalingGroup, tmpl: &ObservedTemplate) -> Option<GroupCluster> {
    let spec = g
        .launch_template
        .as_ref()
        .or(g.mixed_instances_policy.as_ref().map(|m| &m.template));
    let launched = spec
        .and_then(|s| resolve_version(&g.name, s.version.as_deref(), &tmpl.template).ok())
        .map(|(_, _, n)| n);
    [launched, Some(tmpl.template.default_version)]
        .into_iter()
        .flatten()
        .find_map(|n| {
            let v = tmpl.version(n)?;
            let cluster = crate::ecs::cluster_from_user_data(v.user_data.as_deref()?)?;
            Some(GroupCluster {
                cluster,
                source: ClusterSource::UserData { version: n },
            })
        })
}

/// Whether a group carries state of a rollout that is not settled: a surge round, a failure, a
/// refresh `amiroll rollback` cancelled, or a refresh whose outcome has not been announced.
pub(crate) fn rollout_state(g: &AutoScalingGroup) -> bool {
    if g.tags.contains_key(tags::ROLLOUT)
        || g.tags.contains_key(tags::FAILED_AMI)
        || g.tags.contains_key(tags::CANCEL)
    {
        return true;
    }
    if g.tags.contains_key(tags::REFRESH_AMI) {
        // An announcement that cannot be read is none: the refresh is followed again.
        let id = Refresh::from_tags(&g.tags).and_then(|r| r.id);
        let settled = match (id, Announced::from_tags(&g.tags).ok().flatten()) {
            (Some(id), Some(announced)) => announced.refresh == id,
            _ => false,
        };
        return !settled;
    }
    false
}
