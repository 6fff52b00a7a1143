//! ECS groups: which clusters a run reads (`planner::ecs_reads`) and how the plan sees each
//! instance as a container instance of its cluster (the group report's `ecs`), without any
//! planner decision depending on it yet.

mod common;

use amiroll_core::ecs::encode_base64;
use amiroll_core::model::{ClusterSource, GroupCluster, ObservedCluster};
use amiroll_core::planner::{self, tags};
use amiroll_core::port::ContainerInstance;
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
