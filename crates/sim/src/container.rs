//! ECS clusters on the group's instances: container instances, services and their tasks, and
//! draining ("Amazon ECS container instances", "Container instance draining",
//! "UpdateContainerInstancesState", "ListContainerInstances", "DescribeContainerInstances",
//! Amazon ECS Developer Guide / API Reference).
//!
//! - An instance registers as a container instance of the cluster its launch template version's
//!   user data names (`ECS_CLUSTER=`, read as amiroll reads it:
//!   [`amiroll_core::ecs::cluster_from_user_data`]; else the cluster set for its template with
//!   [`crate::SimAws::set_agent_cluster`]) when it comes into service: `ACTIVE`, agent
//!   connected. It never registers when its AMI's agent is broken ([`crate::ImageSpec::with_ecs_agent`])
//!   or while the cluster does not exist (creating the cluster later registers the waiting
//!   instances, as the agent retries). When the instance terminates, its container instance is
//!   deregistered (`INACTIVE`, agent disconnected); its tasks die with it ("tasks killed": an
//!   event and [`crate::SimAws::tasks_killed`]), and their services replace them elsewhere.
//! - Services keep a desired count of tasks `RUNNING` on `ACTIVE` container instances whose agent
//!   is connected, at most [`crate::SimAws::set_ecs_tasks_per_instance`] tasks an instance (the
//!   room), placed one at a time on the instance with the fewest tasks, then the one registered
//!   first (spread). Tasks start `RUNNING` at once (no `PENDING`), and running tasks are never
//!   rebalanced: a new instance takes only tasks that found no room before. No task is placed on
//!   an instance whose AMI runs none ([`crate::ImageSpec::with_ecs_tasks`]; AWS would place
//!   tasks that stop before `RUNNING`: the same zero running tasks, without the churn).
//! - `DRAINING`: no new placements; after the drain time ([`crate::SimAws::set_ecs_drain_time`],
//!   60 s by default) each of its tasks moves (stopped there, started elsewhere at once) to an
//!   `ACTIVE` instance with room; tasks that find none stay, and move as soon as room appears.
//!   AWS: "Service tasks on the container instance that are in the RUNNING state are stopped and
//!   replaced according to the service's deployment configuration parameters" ("Draining Amazon
//!   ECS container instances",
//!   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html);
//!   the deployment configuration (`minimumHealthyPercent`, `maximumPercent`) is not modelled.
//!   Setting a `DRAINING` instance `ACTIVE` again ends the drain.
//! - Managed termination protection of a capacity provider protects from scale in exactly the
//!   group's container instances that run tasks: "Amazon ECS prevents Amazon EC2 instances that
//!   contain tasks and that are in an Auto Scaling group from being terminated during a scale-in
//!   action" ("Managed termination protection", Amazon ECS Developer Guide,
//!   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/managed-termination-protection.html).
//!   ECS sets and removes the protection as tasks come and go (here at once); instances that are
//!   not container instances keep the protection they launched with.

use std::collections::BTreeMap;
use std::time::Duration;

use amiroll_core::ecs::{
    cluster_from_user_data, encode_base64, is_cluster_name, parse_cluster_arn,
};
use amiroll_core::port::{
    op, AwsError, ContainerInstance, ContainerInstanceAttribute, ContainerInstanceFailure,
    ContainerInstanceStatus, ContainerInstancesOutput, EcsCluster, ErrorKind, Timestamp,
    MAX_DESCRIBE_CLUSTERS, MAX_DESCRIBE_CONTAINER_INSTANCES, MAX_PUT_ATTRIBUTES,
    MAX_UPDATE_CONTAINER_INSTANCES,
};

use crate::account::{add, add_secs, Account, Lifecycle, TERMINATED_VISIBLE_SECS};
use crate::{setup_op, ACCOUNT_ID, REGION};

/// How long a draining instance's tasks run before they move, unless set.
pub(crate) const DEFAULT_DRAIN_TIME: Duration = Duration::from_secs(60);
/// How many tasks fit on one container instance, unless set.
pub(crate) const DEFAULT_TASKS_PER_INSTANCE: usize = 8;
/// "You can apply up to 10 custom attributes for each resource"
/// (`AttributeLimitExceededException`, "PutAttributes", Amazon ECS API Reference,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PutAttributes.html).
pub(crate) const MAX_CUSTOM_ATTRIBUTES: usize = 10;

/// Everything ECS: the clusters and the knobs.
#[derive(Debug, Clone)]
pub(crate) struct Ecs {
    pub clusters: BTreeMap<String, Cluster>,
    /// Numbers container instance and task ids.
    pub counter: u64,
    pub drain_time: Duration,
    pub tasks_per_instance: usize,
    /// Tasks that were running on an instance when it terminated.
    pub tasks_killed: usize,
    /// Each termination that killed tasks.
    pub kills: Vec<TaskKill>,
    /// Template id → the cluster its instances' agents join when the user data names none
    /// ([`crate::SimAws::set_agent_cluster`]).
    pub agent_clusters: BTreeMap<String, String>,
}

impl Default for Ecs {
    fn default() -> Self {
        Ecs {
            clusters: BTreeMap::new(),
            counter: 0,
            drain_time: DEFAULT_DRAIN_TIME,
            tasks_per_instance: DEFAULT_TASKS_PER_INSTANCE,
            tasks_killed: 0,
            kills: Vec::new(),
            agent_clusters: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub name: String,
    /// By id (32 hex digits from the counter, so in registration order).
    pub instances: BTreeMap<String, Registration>,
    /// Service name → desired count.
    pub services: BTreeMap<String, usize>,
    /// Task id → (service, container instance id).
    pub tasks: BTreeMap<String, (String, String)>,
    /// The names of the capacity providers associated with the cluster, in the order attached.
    pub capacity_providers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CiStatus {
    Active,
    Draining,
    Inactive,
}

impl CiStatus {
    fn as_str(self) -> &'static str {
        match self {
            CiStatus::Active => "ACTIVE",
            CiStatus::Draining => "DRAINING",
            CiStatus::Inactive => "INACTIVE",
        }
    }
}

/// One container instance.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub id: String,
    pub ec2_instance_id: String,
    pub status: CiStatus,
    pub agent_connected: bool,
    pub registered_at: Timestamp,
    pub deregistered_at: Option<Timestamp>,
    /// Draining: when its tasks may move (cleared once that time has been processed).
    pub drain_at: Option<Timestamp>,
    /// Draining, and the drain time has passed: its tasks move wherever there is room.
    pub drained: bool,
    /// Since when it is `DRAINING` (`None` when it is not).
    pub draining_since: Option<Timestamp>,
    /// Custom attributes (`PutAttributes`): name → value ("" for none). No built-in `ecs.*`
    /// attribute is modelled.
    pub attributes: BTreeMap<String, String>,
    /// `false`: no task starts on it ([`crate::ImageSpec::with_ecs_tasks`]); ECS places none.
    pub tasks_start: bool,
}

/// Tasks that were running on an instance when it terminated ([`crate::SimAws::task_kills`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskKill {
    pub cluster: String,
    pub instance_id: String,
    pub tasks: usize,
    pub at: Timestamp,
    /// Since when its container instance was `DRAINING`, if it was.
    pub draining_since: Option<Timestamp>,
}

fn cluster_arn(name: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{name}")
}

fn container_instance_arn(cluster: &str, id: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container-instance/{cluster}/{id}")
}

fn cluster_not_found(op: &'static str) -> AwsError {
    AwsError::new(
        op,
        ErrorKind::NotFound,
        "ClusterNotFoundException",
        "Cluster not found.",
    )
}

fn invalid(op: &'static str, message: String) -> AwsError {
    AwsError::new(op, ErrorKind::Invalid, "InvalidParameterException", message)
}

impl Cluster {
    fn running_on(&self, id: &str) -> usize {
        self.tasks.values().filter(|(_, ci)| ci == id).count()
    }

    /// A container instance by id, short ARN (`container-instance/ID`) or long ARN
    /// (`container-instance/CLUSTER/ID`, of this cluster).
    fn find(&self, reference: &str) -> Option<&Registration> {
        let id = match reference.split_once(":container-instance/") {
            Some((prefix, rest)) => {
                if prefix != format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}") {
                    return None;
                }
                match rest.split_once('/') {
                    Some((cluster, id)) if cluster == self.name => id,
                    Some(_) => return None,
                    None => rest,
                }
            }
            None => reference,
        };
        self.instances.get(id)
    }

    fn view(&self, r: &Registration) -> ContainerInstance {
        ContainerInstance {
            cluster_arn: cluster_arn(&self.name),
            container_instance_arn: container_instance_arn(&self.name, &r.id),
            ec2_instance_id: Some(r.ec2_instance_id.clone()),
            status: r.status.as_str().to_string(),
            agent_connected: r.agent_connected,
            running_tasks_count: i32::try_from(self.running_on(&r.id)).unwrap_or(i32::MAX),
            pending_tasks_count: 0,
            registered_at: Some(r.registered_at),
            attributes: r.attributes.clone(),
        }
    }

    /// Where the next task goes: an `ACTIVE` instance with its agent connected and room, the
    /// fewest tasks first, then the first registered.
    fn placement(&self, room: usize) -> Option<String> {
        self.instances
            .values()
            .filter(|r| r.status == CiStatus::Active && r.agent_connected && r.tasks_start)
            .map(|r| (self.running_on(&r.id), r.id.clone()))
            .filter(|(n, _)| *n < room)
            .min()
            .map(|(_, id)| id)
    }
}

impl Account {
    /// The cluster a request names (a short name, or an ARN in this account and Region).
    fn cluster_name_of(&self, reference: &str) -> Option<String> {
        let name = if reference.starts_with("arn:") {
            let arn = parse_cluster_arn(reference)?;
            if arn.partition != "aws" || arn.region != REGION || arn.account != ACCOUNT_ID {
                return None;
            }
            arn.name
        } else {
            reference
        };
        self.ecs
            .clusters
            .contains_key(name)
            .then(|| name.to_string())
    }

    /// The cluster a request of `operation` names, or `ClusterNotFoundException`.
    fn cluster(&self, operation: &'static str, reference: &str) -> Result<&Cluster, AwsError> {
        self.cluster_name_of(reference)
            .and_then(|name| self.ecs.clusters.get(&name))
            .ok_or_else(|| cluster_not_found(operation))
    }

    fn ec2_of(&self, cluster: &str, ci: &str) -> String {
        self.ecs
            .clusters
            .get(cluster)
            .and_then(|c| c.instances.get(ci))
            .map(|r| r.ec2_instance_id.clone())
            .unwrap_or_default()
    }

    // ----- set-up -----

    /// `CreateCluster`: a name of up to 255 letters, digits, hyphens and underscores; creating
    /// one that exists returns it. Instances in service whose user data names it register now.
    pub(crate) fn create_cluster(&mut self, name: &str) -> Result<String, AwsError> {
        if !is_cluster_name(name) {
            return Err(invalid(
                setup_op::CREATE_CLUSTER,
                format!("Invalid cluster name {name:?}: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed"),
            ));
        }
        if !self.ecs.clusters.contains_key(name) {
            self.ecs.clusters.insert(
                name.to_string(),
                Cluster {
                    name: name.to_string(),
                    instances: BTreeMap::new(),
                    services: BTreeMap::new(),
                    tasks: BTreeMap::new(),
                    capacity_providers: Vec::new(),
                },
            );
            self.event(format!("ecs {name}: cluster created"));
            let waiting: Vec<String> = self
                .instances
                .values()
                .filter(|i| i.lifecycle == Lifecycle::InService)
                .map(|i| i.id.clone())
                .collect();
            for id in waiting {
                if self.is_container_instance(&id) {
                    continue;
                }
                if self.cluster_of_instance(&id).as_deref() == Some(name) {
                    self.ecs_instance_in_service(&id);
                }
            }
        }
        Ok(cluster_arn(name))
    }

    /// `PutClusterCapacityProviders` adding one provider to the cluster's list: the cluster must
    /// exist (`ClusterNotFoundException`), the provider too (`InvalidParameterException`); an
    /// Auto Scaling group's provider is associated with at most one cluster ("CreateCluster",
    /// `capacityProviders`: it "must be created but not associated with another cluster",
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html), so one
    /// already associated with another cluster is refused (`ResourceInUseException`; AWS does not
    /// document the code). Attaching it to its own cluster again changes nothing.
    pub(crate) fn attach_capacity_provider(
        &mut self,
        cluster: &str,
        provider: &str,
    ) -> Result<(), AwsError> {
        const OP: &str = setup_op::PUT_CLUSTER_CAPACITY_PROVIDERS;
        let name = self.cluster(OP, cluster)?.name.clone();
        if !self.capacity_providers.contains_key(provider) {
            return Err(invalid(
                OP,
                format!("The specified capacity provider {provider} does not exist."),
            ));
        }
        if let Some(other) = self
            .ecs
            .clusters
            .values()
            .find(|c| c.name != name && c.capacity_providers.iter().any(|p| p == provider))
        {
            return Err(AwsError::new(
                OP,
                ErrorKind::Conflict,
                "ResourceInUseException",
                format!(
                    "The capacity provider {provider} is already associated with cluster {}.",
                    other.name
                ),
            ));
        }
        let Some(c) = self.ecs.clusters.get_mut(&name) else {
            return Err(cluster_not_found(OP));
        };
        if !c.capacity_providers.iter().any(|p| p == provider) {
            c.capacity_providers.push(provider.to_string());
            self.event(format!(
                "ecs {name}: capacity provider {provider} associated with the cluster"
            ));
        }
        Ok(())
    }

    /// The instances of the template `template_id` whose user data names no cluster join
    /// `cluster`; instances already in service that are not container instances register now
    /// (their agent retries), as [`Account::create_cluster`] does.
    pub(crate) fn set_agent_cluster(&mut self, template_id: &str, cluster: &str) {
        let name = amiroll_core::ecs::cluster_name(cluster).to_string();
        self.ecs
            .agent_clusters
            .insert(template_id.to_string(), name.clone());
        let waiting: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.lifecycle == Lifecycle::InService)
            .filter(|i| i.template_id.as_deref() == Some(template_id))
            .map(|i| i.id.clone())
            .collect();
        for id in waiting {
            if !self.is_container_instance(&id)
                && self.cluster_of_instance(&id).as_deref() == Some(name.as_str())
            {
                self.ecs_instance_in_service(&id);
            }
        }
    }

    /// `CreateService` / `UpdateService` with a desired count: its tasks are placed (or the
    /// newest ones stopped) at once.
    pub(crate) fn set_service(
        &mut self,
        operation: &'static str,
        cluster: &str,
        service: &str,
        desired: usize,
    ) -> Result<(), AwsError> {
        let name = self.cluster(operation, cluster)?.name.clone();
        if service.is_empty()
            || service.len() > 255
            || !service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                operation,
                format!("Invalid service name {service:?}"),
            ));
        }
        let Some(c) = self.ecs.clusters.get_mut(&name) else {
            return Err(cluster_not_found(operation));
        };
        let before = c.services.insert(service.to_string(), desired);
        let mut stopped = Vec::new();
        loop {
            let newest = c
                .tasks
                .iter()
                .filter(|(_, (s, _))| s == service)
                .map(|(t, _)| t.clone())
                .next_back();
            let running = c.tasks.values().filter(|(s, _)| s == service).count();
            match newest {
                Some(t) if running > desired => {
                    c.tasks.remove(&t);
                    stopped.push(t);
                }
                _ => break,
            }
        }
        self.event(format!(
            "ecs {name}: service {service} desired count {} -> {desired}{}",
            before.map_or("-".to_string(), |b| b.to_string()),
            if stopped.is_empty() {
                String::new()
            } else {
                format!(" ({} task(s) stopped)", stopped.len())
            }
        ));
        self.ecs_step();
        Ok(())
    }

    // ----- hooks: what happens to EC2 instances -----

    /// Whether `instance` is a registered (not `INACTIVE`) container instance of any cluster.
    fn is_container_instance(&self, instance: &str) -> bool {
        self.ecs.clusters.values().any(|c| {
            c.instances
                .values()
                .any(|r| r.ec2_instance_id == instance && r.status != CiStatus::Inactive)
        })
    }

    /// The cluster the instance's agent joins: the one the user data of its launch template
    /// version names, else the one set for its template ([`Account::set_agent_cluster`]).
    fn cluster_of_instance(&self, instance: &str) -> Option<String> {
        let i = self.instances.get(instance)?;
        let template_id = i.template_id.as_ref()?;
        let template = self.templates.get(template_id)?;
        let data = &template.versions.get(&i.template_version?)?.data;
        let named = data
            .user_data
            .as_ref()
            .and_then(|u| cluster_from_user_data(&encode_base64(u.as_bytes())));
        match named {
            Some(cluster) => Some(amiroll_core::ecs::cluster_name(&cluster).to_string()),
            None => self.ecs.agent_clusters.get(template_id).cloned(),
        }
    }

    /// Hook: the instance came into service. Its agent registers it in the cluster its user
    /// data names, if that cluster exists and its AMI's agent works.
    pub(crate) fn ecs_instance_in_service(&mut self, instance: &str) {
        let Some(cluster) = self.cluster_of_instance(instance) else {
            return;
        };
        let broken_agent = self
            .instances
            .get(instance)
            .and_then(|i| self.images.get(&i.image_id))
            .is_some_and(|image| !image.ecs_agent);
        if broken_agent {
            self.event(format!(
                "ecs {cluster}: {instance} is in service, but its ECS agent never registers it (broken agent in its AMI)"
            ));
            return;
        }
        if !self.ecs.clusters.contains_key(&cluster) {
            self.event(format!(
                "ecs {cluster}: {instance} cannot register: the cluster does not exist"
            ));
            return;
        }
        let tasks_start = self
            .instances
            .get(instance)
            .and_then(|i| self.images.get(&i.image_id))
            .is_none_or(|image| image.ecs_tasks_start);
        self.ecs.counter += 1;
        let id = format!("{:032x}", self.ecs.counter);
        let now = self.clock;
        if let Some(c) = self.ecs.clusters.get_mut(&cluster) {
            c.instances.insert(
                id.clone(),
                Registration {
                    id: id.clone(),
                    ec2_instance_id: instance.to_string(),
                    status: CiStatus::Active,
                    agent_connected: true,
                    registered_at: now,
                    deregistered_at: None,
                    drain_at: None,
                    drained: false,
                    draining_since: None,
                    attributes: BTreeMap::new(),
                    tasks_start,
                },
            );
        }
        self.event(format!(
            "ecs {cluster}: {instance} registered as container instance {id} (ACTIVE)"
        ));
        self.ecs_step();
    }

    /// Hook: the instance terminated. Its container instance is deregistered (`INACTIVE`); tasks
    /// still running on it are killed (an event, and the count), and their services replace them.
    pub(crate) fn ecs_instance_terminated(&mut self, instance: &str) {
        let now = self.clock;
        let mut killed: Vec<(String, usize, Option<Timestamp>)> = Vec::new();
        for c in self.ecs.clusters.values_mut() {
            let ids: Vec<String> = c
                .instances
                .values()
                .filter(|r| r.ec2_instance_id == instance && r.status != CiStatus::Inactive)
                .map(|r| r.id.clone())
                .collect();
            for id in ids {
                let tasks: Vec<String> = c
                    .tasks
                    .iter()
                    .filter(|(_, (_, ci))| *ci == id)
                    .map(|(t, _)| t.clone())
                    .collect();
                for t in &tasks {
                    c.tasks.remove(t);
                }
                let mut since = None;
                if let Some(r) = c.instances.get_mut(&id) {
                    since = r.draining_since.take();
                    r.status = CiStatus::Inactive;
                    r.agent_connected = false;
                    r.deregistered_at = Some(now);
                    r.drain_at = None;
                    r.drained = false;
                }
                killed.push((c.name.clone(), tasks.len(), since));
            }
        }
        if killed.is_empty() {
            return;
        }
        for (cluster, n, draining_since) in killed {
            if n > 0 {
                self.ecs.tasks_killed += n;
                self.ecs.kills.push(TaskKill {
                    cluster: cluster.clone(),
                    instance_id: instance.to_string(),
                    tasks: n,
                    at: now,
                    draining_since,
                });
                self.event(format!(
                    "ecs {cluster}: {instance} terminated with {n} running task(s): tasks killed"
                ));
            } else {
                self.event(format!(
                    "ecs {cluster}: {instance} terminated; container instance deregistered (INACTIVE)"
                ));
            }
        }
        self.ecs_step();
    }

    /// When the next drain time is due.
    pub(crate) fn ecs_wake_times(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.ecs
            .clusters
            .values()
            .flat_map(|c| c.instances.values().filter_map(|r| r.drain_at))
    }

    /// The ECS service scheduler: drain times that passed, tasks of drained instances moved
    /// where there is room, missing tasks placed; then managed termination protection.
    pub(crate) fn ecs_step(&mut self) {
        let now = self.clock;
        let room = self.ecs.tasks_per_instance;
        let mut counter = self.ecs.counter;
        let mut events = Vec::new();
        for c in self.ecs.clusters.values_mut() {
            for r in c.instances.values_mut() {
                if r.drain_at.is_some_and(|t| t <= now) {
                    r.drain_at = None;
                    r.drained = r.status == CiStatus::Draining;
                }
            }
            // Tasks of drained instances move, one at a time, while there is room.
            let drained: Vec<String> = c
                .instances
                .values()
                .filter(|r| r.status == CiStatus::Draining && r.drained)
                .map(|r| r.id.clone())
                .collect();
            for from in drained {
                let tasks: Vec<(String, String)> = c
                    .tasks
                    .iter()
                    .filter(|(_, (_, ci))| *ci == from)
                    .map(|(t, (s, _))| (t.clone(), s.clone()))
                    .collect();
                for (task, service) in tasks {
                    let Some(to) = c.placement(room) else {
                        break;
                    };
                    c.tasks.remove(&task);
                    counter += 1;
                    c.tasks
                        .insert(format!("{counter:032x}"), (service.clone(), to.clone()));
                    events.push((c.name.clone(), service, Some(from.clone()), to));
                }
            }
            // Services below their desired count.
            let services: Vec<(String, usize)> =
                c.services.iter().map(|(s, n)| (s.clone(), *n)).collect();
            for (service, desired) in services {
                while c.tasks.values().filter(|(s, _)| *s == service).count() < desired {
                    let Some(to) = c.placement(room) else {
                        break;
                    };
                    counter += 1;
                    c.tasks
                        .insert(format!("{counter:032x}"), (service.clone(), to.clone()));
                    events.push((c.name.clone(), service.clone(), None, to));
                }
            }
        }
        self.ecs.counter = counter;
        for (cluster, service, from, to) in events {
            let to = self.ec2_of(&cluster, &to);
            match from {
                Some(from) => {
                    let from = self.ec2_of(&cluster, &from);
                    self.event(format!(
                        "ecs {cluster}: service {service}: a task moved from draining {from} to {to}"
                    ));
                }
                None => self.event(format!(
                    "ecs {cluster}: service {service}: a task started on {to}"
                )),
            }
        }
        self.managed_termination_protection();
    }

    /// ECS managed termination protection: container instances of a group whose capacity
    /// provider has it are protected from scale in exactly while they run tasks.
    fn managed_termination_protection(&mut self) {
        let groups: Vec<(String, String)> = self
            .capacity_providers
            .values()
            .filter(|p| p.managed_termination_protection)
            .map(|p| (p.name.clone(), p.group.clone()))
            .collect();
        for (provider, group) in groups {
            let mut changed: Vec<(String, bool)> = Vec::new();
            for i in self.live_instances(&group) {
                let tasks: Option<usize> = self.ecs.clusters.values().find_map(|c| {
                    c.instances
                        .values()
                        .find(|r| r.ec2_instance_id == i.id && r.status != CiStatus::Inactive)
                        .map(|r| c.running_on(&r.id))
                });
                if let Some(n) = tasks {
                    if i.protected != (n > 0) {
                        changed.push((i.id.clone(), n > 0));
                    }
                }
            }
            for (id, protect) in changed {
                if let Some(i) = self.instances.get_mut(&id) {
                    i.protected = protect;
                }
                self.event(format!(
                    "ecs {provider}: managed termination protection {} {id} ({})",
                    if protect {
                        "protects"
                    } else {
                        "no longer protects"
                    },
                    if protect { "it runs tasks" } else { "no tasks" }
                ));
            }
        }
    }

    // ----- the port -----

    /// `ListClusters`: the ARN of every cluster, by name (the pages are joined).
    pub(crate) fn list_clusters(&self) -> Result<Vec<String>, AwsError> {
        Ok(self.ecs.clusters.keys().map(|n| cluster_arn(n)).collect())
    }

    /// `DescribeClusters`: up to 100 names or ARNs (`InvalidParameterException` beyond); an
    /// unknown one (a `MISSING` failure on AWS) is left out, as the port says. Every cluster is
    /// `ACTIVE` (none is ever deleted here).
    pub(crate) fn describe_clusters(
        &self,
        references: &[String],
    ) -> Result<Vec<EcsCluster>, AwsError> {
        const OP: &str = op::DESCRIBE_CLUSTERS;
        if references.len() > MAX_DESCRIBE_CLUSTERS {
            return Err(invalid(
                OP,
                format!("clusters can have at most {MAX_DESCRIBE_CLUSTERS} items"),
            ));
        }
        Ok(references
            .iter()
            .filter_map(|r| self.cluster_name_of(r))
            .filter_map(|n| self.ecs.clusters.get(&n))
            .map(|c| EcsCluster {
                arn: cluster_arn(&c.name),
                name: c.name.clone(),
                status: "ACTIVE".to_string(),
                capacity_providers: c.capacity_providers.clone(),
            })
            .collect())
    }

    /// `ListContainerInstances` without a status filter: every container instance but the
    /// `INACTIVE` ones, in registration order (the pages are joined).
    pub(crate) fn list_container_instances(&self, cluster: &str) -> Result<Vec<String>, AwsError> {
        let c = self.cluster(op::LIST_CONTAINER_INSTANCES, cluster)?;
        Ok(c.instances
            .values()
            .filter(|r| r.status != CiStatus::Inactive)
            .map(|r| container_instance_arn(&c.name, &r.id))
            .collect())
    }

    /// `DescribeContainerInstances`: up to 100; an unknown one (or one deregistered more than
    /// an hour ago) is a `MISSING` failure.
    pub(crate) fn describe_container_instances(
        &self,
        cluster: &str,
        references: &[String],
    ) -> Result<ContainerInstancesOutput, AwsError> {
        const OP: &str = op::DESCRIBE_CONTAINER_INSTANCES;
        let c = self.cluster(OP, cluster)?;
        at_most(OP, references, MAX_DESCRIBE_CONTAINER_INSTANCES)?;
        let forgotten = |r: &Registration| {
            r.deregistered_at
                .is_some_and(|t| add_secs(t, TERMINATED_VISIBLE_SECS) <= self.clock)
        };
        let mut out = ContainerInstancesOutput::default();
        for reference in references {
            match c.find(reference).filter(|r| !forgotten(r)) {
                Some(r) => out.container_instances.push(c.view(r)),
                None => out.failures.push(missing(&c.name, reference)),
            }
        }
        Ok(out)
    }

    /// `UpdateContainerInstancesState` to `ACTIVE` or `DRAINING`, up to 10. `DRAINING` starts
    /// the drain time; `ACTIVE` ends a drain. An unknown instance is a `MISSING` failure, an
    /// `INACTIVE` one an `INACTIVE` failure; the others are updated.
    pub(crate) fn update_container_instances_state(
        &mut self,
        cluster: &str,
        references: &[String],
        status: ContainerInstanceStatus,
    ) -> Result<ContainerInstancesOutput, AwsError> {
        const OP: &str = op::UPDATE_CONTAINER_INSTANCES_STATE;
        let name = self.cluster(OP, cluster)?.name.clone();
        at_most(OP, references, MAX_UPDATE_CONTAINER_INSTANCES)?;
        let now = self.clock;
        let drain_at = add(now, self.ecs.drain_time);
        let mut out = ContainerInstancesOutput::default();
        let mut events = Vec::new();
        let Some(c) = self.ecs.clusters.get_mut(&name) else {
            return Err(cluster_not_found(OP));
        };
        for reference in references {
            let Some(id) = c.find(reference).map(|r| r.id.clone()) else {
                out.failures.push(missing(&c.name, reference));
                continue;
            };
            let Some(r) = c.instances.get_mut(&id) else {
                continue;
            };
            match (r.status, status) {
                (CiStatus::Inactive, _) => {
                    out.failures.push(ContainerInstanceFailure {
                        arn: Some(container_instance_arn(&c.name, &id)),
                        reason: "INACTIVE".to_string(),
                        detail: Some(
                            "the container instance is deregistered; only ACTIVE and DRAINING instances can be updated"
                                .to_string(),
                        ),
                    });
                    continue;
                }
                (CiStatus::Active, ContainerInstanceStatus::Draining) => {
                    r.status = CiStatus::Draining;
                    r.drain_at = Some(drain_at);
                    r.drained = false;
                    r.draining_since = Some(now);
                    events.push(format!(
                        "ecs {}: {} (container instance {id}) DRAINING",
                        c.name, r.ec2_instance_id
                    ));
                }
                (CiStatus::Draining, ContainerInstanceStatus::Active) => {
                    r.status = CiStatus::Active;
                    r.drain_at = None;
                    r.drained = false;
                    r.draining_since = None;
                    events.push(format!(
                        "ecs {}: {} (container instance {id}) ACTIVE again",
                        c.name, r.ec2_instance_id
                    ));
                }
                _ => {}
            }
            if let Some(r) = c.instances.get(&id) {
                out.container_instances.push(c.view(r));
            }
        }
        for e in events {
            self.event(e);
        }
        self.ecs_step();
        // The answer shows the instances as the update left them (before tasks move).
        Ok(out)
    }

    /// `PutAttributes` ("PutAttributes",
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PutAttributes.html; the
    /// `Attribute` data type,
    /// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attribute.html): up to 10
    /// attributes on container instances of the cluster (an id or an ARN as `targetId`), each
    /// created or its value replaced. The whole call is refused when one attribute is: more than
    /// 10 or a bad name or value (`InvalidParameterException`), an unknown target or one
    /// deregistered more than an hour ago (`TargetNotFoundException`), more than 10 custom
    /// attributes on one container instance afterwards (`AttributeLimitExceededException`).
    pub(crate) fn put_attributes(
        &mut self,
        cluster: &str,
        attributes: &[ContainerInstanceAttribute],
    ) -> Result<(), AwsError> {
        const OP: &str = op::PUT_ATTRIBUTES;
        let name = self.cluster(OP, cluster)?.name.clone();
        if attributes.is_empty() || attributes.len() > MAX_PUT_ATTRIBUTES {
            return Err(invalid(
                OP,
                format!(
                    "attributes must have between 1 and {MAX_PUT_ATTRIBUTES} items (got {})",
                    attributes.len()
                ),
            ));
        }
        let now = self.clock;
        let Some(c) = self.ecs.clusters.get_mut(&name) else {
            return Err(cluster_not_found(OP));
        };
        let mut targets: Vec<String> = Vec::new();
        for a in attributes {
            if !is_attribute_name(&a.name) {
                return Err(invalid(
                    OP,
                    format!("Invalid attribute name {:?}: 1 to 128 letters, numbers, hyphens, underscores, forward or back slashes, or periods", a.name),
                ));
            }
            if !a.value.is_empty() && !is_attribute_value(&a.value) {
                return Err(invalid(
                    OP,
                    format!("Invalid value {:?} for attribute {}: 1 to 128 letters, numbers, hyphens, underscores, periods, at signs, forward or back slashes, colons or spaces, not starting or ending with a space", a.value, a.name),
                ));
            }
            let found = c.find(&a.target_id).filter(|r| {
                r.deregistered_at
                    .is_none_or(|t| add_secs(t, TERMINATED_VISIBLE_SECS) > now)
            });
            let Some(r) = found else {
                return Err(AwsError::new(
                    OP,
                    ErrorKind::NotFound,
                    "TargetNotFoundException",
                    format!("Could not find {}", a.target_id),
                ));
            };
            targets.push(r.id.clone());
        }
        // All or nothing: the attributes each instance would hold afterwards.
        let mut after: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (a, id) in attributes.iter().zip(&targets) {
            let current = match after.get_mut(id) {
                Some(m) => m,
                None => {
                    let existing = c
                        .instances
                        .get(id)
                        .map(|r| r.attributes.clone())
                        .unwrap_or_default();
                    after.entry(id.clone()).or_insert(existing)
                }
            };
            current.insert(a.name.clone(), a.value.clone());
        }
        if let Some((id, _)) = after.iter().find(|(_, m)| m.len() > MAX_CUSTOM_ATTRIBUTES) {
            return Err(AwsError::new(
                OP,
                ErrorKind::Other,
                "AttributeLimitExceededException",
                format!(
                    "The container instance {} would have more than {MAX_CUSTOM_ATTRIBUTES} custom attributes",
                    container_instance_arn(&c.name, id)
                ),
            ));
        }
        let mut events = Vec::new();
        for (id, attrs) in after {
            if let Some(r) = c.instances.get_mut(&id) {
                r.attributes = attrs;
                events.push(format!(
                    "ecs {}: {} (container instance {id}) attributes {}",
                    c.name,
                    r.ec2_instance_id,
                    r.attributes
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        for e in events {
            self.event(e);
        }
        Ok(())
    }

    // ----- inspection -----

    pub(crate) fn container_instances(&self, cluster: &str) -> Vec<ContainerInstance> {
        self.cluster_name_of(cluster)
            .and_then(|n| self.ecs.clusters.get(&n))
            .map(|c| c.instances.values().map(|r| c.view(r)).collect())
            .unwrap_or_default()
    }

    /// Running tasks per EC2 instance (instances with none are left out), every cluster.
    pub(crate) fn tasks_per_instance(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in self.ecs.clusters.values() {
            for (_, ci) in c.tasks.values() {
                if let Some(r) = c.instances.get(ci) {
                    *out.entry(r.ec2_instance_id.clone()).or_insert(0) += 1;
                }
            }
        }
        out
    }

    /// Running tasks of a service.
    pub(crate) fn service_running(&self, cluster: &str, service: &str) -> usize {
        self.cluster_name_of(cluster)
            .and_then(|n| self.ecs.clusters.get(&n))
            .map_or(0, |c| {
                c.tasks.values().filter(|(s, _)| s == service).count()
            })
    }
}

/// An attribute name: "between 1 and 128 characters [...] letters (uppercase and lowercase),
/// numbers, hyphens (-), underscores (_), forward slashes (/), back slashes (\\), or periods (.)"
/// (the `Attribute` data type, Amazon ECS API Reference).
pub(crate) fn is_attribute_name(name: &str) -> bool {
    (1..=128).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '\\' | '.'))
}

/// An attribute value: "between 1 and 128 characters. It can contain letters (uppercase and
/// lowercase), numbers, hyphens (-), underscores (_), periods (.), at signs (@), forward slashes
/// (/), back slashes (\\), colons (:), or spaces. The value can't start or end with a space."
pub(crate) fn is_attribute_value(value: &str) -> bool {
    (1..=128).contains(&value.chars().count())
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '/' | '\\' | ':' | ' ')
        })
}

/// `InvalidParameterException` for more container instances than a call takes.
fn at_most(operation: &'static str, references: &[String], max: usize) -> Result<(), AwsError> {
    if references.len() > max {
        return Err(invalid(
            operation,
            format!("containerInstances can have at most {max} items"),
        ));
    }
    Ok(())
}

/// A `MISSING` failure for a reference, as an ARN.
fn missing(cluster: &str, reference: &str) -> ContainerInstanceFailure {
    ContainerInstanceFailure {
        arn: Some(if reference.starts_with("arn:") {
            reference.to_string()
        } else {
            container_instance_arn(cluster, reference)
        }),
        reason: "MISSING".to_string(),
        detail: None,
    }
}
