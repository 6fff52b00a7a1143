//! ECS groups: which clusters a run reads (`planner::ecs_reads`, and when the account's clusters
//! are listed to find a capacity provider's: `planner::provider_cluster_reads`) and how the plan sees each
//! instance as a container instance of its cluster (the group report's `ecs`), without any
//! planner decision depending on it yet.

mod common;

use amiroll_core::ecs::encode_base64;
use amiroll_core::model::{ClusterSource, GroupCluster, ObservedCluster};
use amiroll_core::planner::{self, tags};
use amiroll_core::port::{CapacityProvider, ContainerInstance, EcsCluster};
use common::*;

fn user_data(cluster: &str) -> Option<String> {
    Some(encode_base64(
        format!("#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n").as_bytes(),
    ))
}

/// The healthy fleet with v1's user data naming `prod`.
fn ecs_fleet() -> Fleet {
    let mut f = Fleet::healthy();
    f.template_mut().versions[0].user_data = user_data("prod");
    f
}

fn reads(f: &Fleet) -> Vec<(String, String, GroupCluster)> {
    planner::ecs_reads(&f.config(), &f.obs, &["web".to_string()]).groups
}

fn in_cluster(cluster: &str, source: ClusterSource) -> GroupCluster {
    GroupCluster {
        cluster: cluster.to_string(),
        source,
    }
}

fn container_instance(ec2: &str, status: &str, agent: bool, tasks: i32) -> ContainerInstance {
    ContainerInstance {
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".to_string(),
        container_instance_arn: format!(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/{ec2}"
        ),
        ec2_instance_id: Some(ec2.to_string()),
        status: status.to_string(),
        agent_connected: agent,
        running_tasks_count: tasks,
        pending_tasks_count: 0,
        registered_at: None,
        attributes: Default::default(),
    }
}

#[test]
fn the_cluster_comes_from_the_user_data_of_the_version_the_group_launches() {
    let f = ecs_fleet();
    assert_eq!(
        reads(&f),
        vec![(
            "web".to_string(),
            "web-asg".to_string(),
            in_cluster("prod", ClusterSource::UserData { version: 1 })
        )]
    );

    // A group pinned to v2, whose user data names another cluster: v2's.
    let mut f = ecs_fleet();
    let mut v2 = version(2, AMI_OLD, None);
    v2.user_data = user_data("blue");
    f.template_mut().versions.push(v2);
    f.group_mut("web-asg")
        .launch_template
        .as_mut()
        .expect("spec")
        .version = Some("2".to_string());
    assert_eq!(
        reads(&f)[0].2,
        in_cluster("blue", ClusterSource::UserData { version: 2 })
    );

    // v2 names none: the default version's.
    f.template_mut().versions[1].user_data = None;
    assert_eq!(
        reads(&f)[0].2,
        in_cluster("prod", ClusterSource::UserData { version: 1 })
    );
}

#[test]
fn a_configured_cluster_wins_over_the_user_data() {
    let f = ecs_fleet()
        .with_setting("ecs_cluster = \"arn:aws:ecs:us-east-1:123456789012:cluster/other\"");
    assert_eq!(
        reads(&f)[0].2,
        in_cluster(
            "arn:aws:ecs:us-east-1:123456789012:cluster/other",
            ClusterSource::Configured
        )
    );
    // Configured, and no user data at all.
    let f = Fleet::healthy().with_setting("ecs_cluster = \"prod\"");
    assert_eq!(
        reads(&f)[0].2,
        in_cluster("prod", ClusterSource::Configured)
    );
}

#[test]
fn no_cluster_is_read_where_no_instance_is_judged() {
    // No user data, no configuration: a plain EC2 group.
    assert!(reads(&Fleet::healthy()).is_empty());
    // Strategy `none` rolls no instance.
    let f = ecs_fleet().with_setting("strategy = \"none\"");
    let f = Fleet {
        config_toml: f
            .config_toml
            .replace("strategy = \"scheduled-surge\"\n", ""),
        obs: f.obs,
    };
    assert_eq!(f.config().targets[0].settings.strategy.as_str(), "none");
    assert!(reads(&f).is_empty());
    // A group with no instance (or only terminating ones).
    let mut f = ecs_fleet();
    for i in &mut f.group_mut("web-asg").instances {
        i.lifecycle_state = "Terminating".to_string();
    }
    assert!(reads(&f).is_empty());
    // A group amiroll never touches.
    let mut f = ecs_fleet();
    f.group_mut("web-asg")
        .tags
        .insert(tags::SKIP.to_string(), "true".to_string());
    assert!(reads(&f).is_empty());
    // A target without the detailed reads (plainly current).
    let f = ecs_fleet();
    assert!(planner::ecs_reads(&f.config(), &f.obs, &[])
        .groups
        .is_empty());
}

#[test]
fn the_clusters_are_read_once_and_errors_go_to_the_right_targets() {
    let mut f = ecs_fleet();
    f.add_group("web-b", None, (1, 4, 2), AMI_OLD, 1);
    let f = Fleet {
        config_toml: f.config_toml.replace(
            "groups = [\"web-asg\"]",
            "groups = [\"web-asg\", \"web-b\"]",
        ),
        obs: f.obs,
    };
    let r = planner::ecs_reads(&f.config(), &f.obs, &["web".to_string()]);
    assert_eq!(r.groups.len(), 2);
    assert_eq!(r.clusters(), vec!["prod".to_string()]);
    assert_eq!(r.discovered_users("prod"), vec!["web"]);
    assert!(r.configured_users("prod").is_empty());
}

/// The plan of `f` with `prod` read: `registered` are the container instances.
fn plan_with_cluster(
    f: &mut Fleet,
    source: ClusterSource,
    registered: Vec<ContainerInstance>,
) -> amiroll_core::TargetPlan {
    f.obs
        .ecs_clusters
        .insert("web-asg".to_string(), in_cluster("prod", source));
    f.obs.clusters.insert(
        "prod".to_string(),
        ObservedCluster {
            exists: true,
            container_instances: registered,
        },
    );
    planner::plan(&f.config(), &f.obs).targets.remove(0)
}

#[test]
fn the_group_report_shows_each_instance_in_its_cluster() {
    let mut f = ecs_fleet();
    let plain = planner::plan(&f.config(), &f.obs).targets.remove(0);
    assert_eq!(
        plain.groups[0].ecs, None,
        "no cluster read: a plain EC2 group"
    );

    let p = plan_with_cluster(
        &mut f,
        ClusterSource::UserData { version: 1 },
        vec![
            container_instance("i-web-asg-0", "ACTIVE", true, 3),
            container_instance("i-web-asg-1", "DRAINING", false, 1),
            // Another group's instance in the same cluster does not count.
            container_instance("i-other", "ACTIVE", true, 5),
        ],
    );
    let ecs = p.groups[0].ecs.as_ref().expect("an ECS group");
    assert_eq!(ecs.cluster, "prod");
    assert_eq!(
        ecs.instances_by_status,
        [("ACTIVE".to_string(), 1), ("DRAINING".to_string(), 1)]
            .into_iter()
            .collect()
    );
    assert_eq!(ecs.agents_disconnected, 1);
    assert_eq!(ecs.running_tasks, 4);

    // The view changes no decision: the same actions, status and summary as without it.
    assert_eq!(p.actions, plain.actions);
    assert_eq!(p.status, plain.status);
    assert_eq!(p.summary, plain.summary);
    let json = serde_json::to_value(&p).expect("json");
    assert_eq!(json["groups"][0]["ecs"]["running_tasks"], 4);
    let json = serde_json::to_value(&plain).expect("json");
    assert!(json["groups"][0].get("ecs").is_none(), "{json}");
}

#[test]
fn a_found_cluster_none_of_the_group_joined_makes_a_plain_ec2_group() {
    let mut f = ecs_fleet();
    let p = plan_with_cluster(
        &mut f,
        ClusterSource::UserData { version: 1 },
        vec![container_instance("i-other", "ACTIVE", true, 5)],
    );
    assert_eq!(p.groups[0].ecs, None);
}

#[test]
fn a_configured_cluster_makes_an_ecs_group_even_before_any_instance_joins() {
    let mut f = ecs_fleet();
    let p = plan_with_cluster(
        &mut f,
        ClusterSource::Configured,
        vec![container_instance("i-web-asg-1", "ACTIVE", true, 2)],
    );
    let ecs = p.groups[0].ecs.as_ref().expect("an ECS group");
    assert_eq!(
        ecs.instances_by_status,
        [("ACTIVE".to_string(), 1), ("unregistered".to_string(), 1)]
            .into_iter()
            .collect()
    );
    assert_eq!(
        ecs.agents_disconnected, 0,
        "an unregistered instance has no agent to count"
    );

    let mut f = ecs_fleet();
    let p = plan_with_cluster(&mut f, ClusterSource::Configured, Vec::new());
    assert_eq!(
        p.groups[0]
            .ecs
            .as_ref()
            .map(|e| e.instances_by_status.clone()),
        Some([("unregistered".to_string(), 2)].into_iter().collect())
    );
}

#[test]
fn an_instance_registered_again_is_seen_by_its_active_container_instance() {
    let mut f = ecs_fleet();
    let p = plan_with_cluster(
        &mut f,
        ClusterSource::UserData { version: 1 },
        vec![
            container_instance("i-web-asg-0", "REGISTRATION_FAILED", false, 0),
            container_instance("i-web-asg-0", "ACTIVE", true, 2),
            container_instance("i-web-asg-1", "ACTIVE", true, 1),
        ],
    );
    let ecs = p.groups[0].ecs.as_ref().expect("an ECS group");
    assert_eq!(
        ecs.instances_by_status,
        [("ACTIVE".to_string(), 2)].into_iter().collect()
    );
    assert_eq!(ecs.running_tasks, 3);
}

#[test]
fn a_target_that_says_ecs_false_reads_no_cluster() {
    let f = ecs_fleet();
    let mut config = f.config();
    config.targets[0].settings.ecs = false;
    assert!(planner::ecs_reads(&config, &f.obs, &["web".to_string()])
        .groups
        .is_empty());
    // The same fleet without it reads `prod` (the user data names it).
    assert_eq!(reads(&f).len(), 1);
}

const GROUP_ARN: &str =
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/web-asg";

/// `f`'s group backs capacity provider `web-cp`; `cluster`: the cluster that names it, as read.
fn behind_provider(mut f: Fleet, cluster: Option<&str>) -> Fleet {
    f.group_mut("web-asg").arn = Some(GROUP_ARN.to_string());
    f.obs.capacity_providers = Some(vec![CapacityProvider {
        name: "web-cp".to_string(),
        auto_scaling_group_arn: GROUP_ARN.to_string(),
        managed_scaling: false,
        managed_termination_protection: false,
        managed_draining: true,
    }]);
    if let Some(c) = cluster {
        f.obs
            .provider_clusters
            .insert("web-cp".to_string(), c.to_string());
    }
    f
}

fn provider_reads(f: &Fleet) -> Vec<String> {
    planner::provider_cluster_reads(&f.config(), &f.obs, &["web".to_string()])
}

fn from_provider(cluster: &str) -> GroupCluster {
    in_cluster(
        cluster,
        ClusterSource::CapacityProvider {
            provider: "web-cp".to_string(),
        },
    )
}

#[test]
fn the_cluster_comes_from_the_capacity_provider_when_neither_configured_nor_in_the_user_data() {
    // No user data, no `ecs_cluster`, a capacity provider: its cluster is looked for...
    let f = behind_provider(Fleet::healthy(), None);
    assert_eq!(provider_reads(&f), vec!["web".to_string()]);
    // ...and not found (no cluster names the provider): a plain EC2 group.
    assert!(reads(&f).is_empty());

    let f = behind_provider(Fleet::healthy(), Some("prod"));
    assert_eq!(
        reads(&f),
        vec![(
            "web".to_string(),
            "web-asg".to_string(),
            from_provider("prod")
        )]
    );
    let r = planner::ecs_reads(&f.config(), &f.obs, &["web".to_string()]);
    assert_eq!(r.clusters(), vec!["prod".to_string()]);
    assert_eq!(r.discovered_users("prod"), vec!["web"]);
    assert!(r.configured_users("prod").is_empty());

    // Another group's provider (matched by the group ARN) is not this group's.
    let mut f = behind_provider(Fleet::healthy(), Some("prod"));
    f.group_mut("web-asg").arn = Some(GROUP_ARN.replace("web-asg", "other"));
    assert!(provider_reads(&f).is_empty());
    assert!(reads(&f).is_empty());
}

#[test]
fn configured_and_user_data_clusters_win_over_the_capacity_provider() {
    let f = behind_provider(ecs_fleet(), Some("blue"));
    assert!(provider_reads(&f).is_empty(), "the user data names one");
    assert_eq!(
        reads(&f)[0].2,
        in_cluster("prod", ClusterSource::UserData { version: 1 })
    );
    let f = behind_provider(Fleet::healthy(), Some("blue")).with_setting("ecs_cluster = \"prod\"");
    assert!(provider_reads(&f).is_empty(), "configured");
    assert_eq!(
        reads(&f)[0].2,
        in_cluster("prod", ClusterSource::Configured)
    );
}

#[test]
fn a_group_without_a_capacity_provider_or_not_judged_reads_no_cluster_list() {
    // A plain group: no cluster anywhere, no capacity provider (read or not).
    let f = Fleet::healthy();
    assert!(provider_reads(&f).is_empty());
    let mut f = Fleet::healthy();
    f.group_mut("web-asg").arn = Some(GROUP_ARN.to_string());
    f.obs.capacity_providers = Some(Vec::new());
    assert!(provider_reads(&f).is_empty());

    // Behind a provider, but nothing judged as ECS.
    let f = behind_provider(Fleet::healthy(), None).with_setting("ecs = false");
    assert!(provider_reads(&f).is_empty());
    let mut f = behind_provider(Fleet::healthy(), None);
    for i in &mut f.group_mut("web-asg").instances {
        i.lifecycle_state = "Terminating".to_string();
    }
    assert!(provider_reads(&f).is_empty());
    let mut f = behind_provider(Fleet::healthy(), None);
    f.group_mut("web-asg")
        .tags
        .insert(tags::SKIP.to_string(), "true".to_string());
    assert!(provider_reads(&f).is_empty());
    let f = behind_provider(Fleet::healthy(), None);
    let f = Fleet {
        config_toml: f
            .config_toml
            .replace("strategy = \"scheduled-surge\"\n", "strategy = \"none\"\n"),
        obs: f.obs,
    };
    assert!(provider_reads(&f).is_empty());
    // A target without the detailed reads (plainly current).
    let f = behind_provider(Fleet::healthy(), None);
    assert!(planner::provider_cluster_reads(&f.config(), &f.obs, &[]).is_empty());
}

#[test]
fn a_capacity_provider_cluster_makes_an_ecs_group_only_once_an_instance_joined_it() {
    let source = ClusterSource::CapacityProvider {
        provider: "web-cp".to_string(),
    };
    let mut f = behind_provider(Fleet::healthy(), Some("prod"));
    let p = plan_with_cluster(
        &mut f,
        source.clone(),
        vec![container_instance("i-other", "ACTIVE", true, 5)],
    );
    assert_eq!(p.groups[0].ecs, None, "none of the group joined it");

    let mut f = behind_provider(Fleet::healthy(), Some("prod"));
    let p = plan_with_cluster(
        &mut f,
        source,
        vec![container_instance("i-web-asg-0", "ACTIVE", true, 2)],
    );
    let ecs = p.groups[0].ecs.as_ref().expect("an ECS group");
    assert_eq!(ecs.cluster, "prod");
    assert_eq!(
        ecs.instances_by_status,
        [("ACTIVE".to_string(), 1), ("unregistered".to_string(), 1)]
            .into_iter()
            .collect()
    );
}

#[test]
fn each_capacity_provider_maps_to_the_live_cluster_that_names_it() {
    let cluster = |name: &str, status: &str, providers: &[&str]| EcsCluster {
        arn: format!("arn:aws:ecs:us-east-1:123456789012:cluster/{name}"),
        name: name.to_string(),
        status: status.to_string(),
        capacity_providers: providers.iter().map(|p| p.to_string()).collect(),
    };
    let map = planner::clusters_by_provider(vec![
        // Deleted, still discoverable: not the provider's cluster any more.
        cluster("old", "INACTIVE", &["web-cp"]),
        cluster("prod", "ACTIVE", &["web-cp", "batch-cp"]),
        cluster("empty", "ACTIVE", &[]),
        cluster("growing", "PROVISIONING", &["new-cp"]),
        // Cannot happen on AWS (one cluster per provider): the first one listed is kept.
        cluster("again", "ACTIVE", &["batch-cp"]),
    ]);
    assert_eq!(
        map,
        [
            ("batch-cp".to_string(), "prod".to_string()),
            ("new-cp".to_string(), "growing".to_string()),
            ("web-cp".to_string(), "prod".to_string()),
        ]
        .into_iter()
        .collect()
    );
}
