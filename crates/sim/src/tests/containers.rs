//! ECS clusters: container instances that register and deregister with their EC2 instances,
//! services whose tasks are placed and moved, draining, and the three container-instance
//! operations of the port.

use std::time::Duration;

use amiroll_core::port::{op, Aws, ContainerInstanceStatus, ErrorKind};
use futures::executor::block_on;

use super::{account, fleet, t};
use crate::{GroupSpec, ImageSpec, SimAws, TemplateData};

const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/web";

/// `fleet()` (4 instances whose user data names `web`) with the cluster created first.
fn ecs_fleet() -> (SimAws, String) {
    let (sim, lt) = account();
    assert_eq!(sim.create_cluster("web").expect("cluster"), CLUSTER_ARN);
    sim.create_group(GroupSpec::new("web-asg", &lt, 2, 8, 4))
        .expect("group");
    (sim, lt)
}

/// The ids of `web-asg`'s instances, ascending (in launch order).
fn ids(sim: &SimAws) -> Vec<String> {
    sim.group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect()
}

fn arns(sim: &SimAws) -> Vec<String> {
    block_on(sim.list_container_instances("web")).expect("list")
}

/// Each instance's container-instance status, by EC2 instance id.
fn statuses(sim: &SimAws) -> Vec<(String, String)> {
    sim.container_instances("web")
        .into_iter()
        .map(|c| (c.ec2_instance_id.unwrap_or_default(), c.status))
        .collect()
}

#[test]
fn instances_register_in_the_cluster_their_user_data_names() {
    let (sim, _) = ecs_fleet();
    let listed = arns(&sim);
    assert_eq!(listed.len(), 4);
    assert!(listed
        .iter()
        .all(|a| a.starts_with("arn:aws:ecs:us-east-1:123456789012:container-instance/web/")));
    let out = block_on(sim.describe_container_instances(CLUSTER_ARN, &listed)).expect("describe");
    assert!(out.failures.is_empty());
    let mut ec2: Vec<String> = out
        .container_instances
        .iter()
        .map(|c| c.ec2_instance_id.clone().expect("ec2 id"))
        .collect();
    ec2.sort();
    assert_eq!(ec2, ids(&sim));
    for c in &out.container_instances {
        assert_eq!(c.cluster_arn, CLUSTER_ARN);
        assert_eq!(c.status, "ACTIVE");
        assert!(c.agent_connected);
        assert_eq!((c.running_tasks_count, c.pending_tasks_count), (0, 0));
        assert_eq!(c.registered_at, Some(sim.now()));
    }

    // A new instance registers when it comes into service, not at launch.
    sim.set_desired_capacity("web-asg", 5).expect("scale out");
    assert_eq!(arns(&sim).len(), 4);
    sim.advance(Duration::from_secs(90));
    assert_eq!(arns(&sim).len(), 5);
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("registered as container instance")));
}

#[test]
fn no_cluster_no_registration_until_it_is_created() {
    let (sim, _) = fleet();
    let err = block_on(sim.list_container_instances("web")).expect_err("no cluster");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.code, "ClusterNotFoundException");
    assert_eq!(err.operation, op::LIST_CONTAINER_INSTANCES);
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("cannot register: the cluster does not exist")));
    // The agents retry: creating the cluster registers the instances in service.
    sim.create_cluster("web").expect("cluster");
    assert_eq!(arns(&sim).len(), 4);
    // Creating it again changes nothing.
    assert_eq!(sim.create_cluster("web").expect("again"), CLUSTER_ARN);
    assert_eq!(arns(&sim).len(), 4);
    let err = sim.create_cluster("not valid").expect_err("bad name");
    assert_eq!(err.kind, ErrorKind::Invalid);
}

#[test]
fn an_ami_with_a_broken_agent_runs_but_never_registers() {
    let (sim, lt) = ecs_fleet();
    sim.register_image(
        ImageSpec::new(
            "ami-noagent",
            "al2023-ecs-broken",
            "x86_64",
            t("2026-11-22T00:00:00Z"),
        )
        .with_ecs_agent(false),
    );
    let v2 = sim
        .create_launch_template_version_raw(
            &lt,
            Some(1),
            TemplateData {
                image_id: Some("ami-noagent".to_string()),
                ..TemplateData::default()
            },
            None,
        )
        .expect("version");
    sim.set_default_version(&lt, v2).expect("default");
    sim.set_desired_capacity("web-asg", 6).expect("surge");
    sim.advance(Duration::from_secs(90));
    let g = sim.group("web-asg");
    assert_eq!(g.instances.len(), 6);
    assert!(g
        .instances
        .iter()
        .all(|i| i.is_in_service() && i.is_healthy()));
    assert_eq!(arns(&sim).len(), 4, "the two new instances never register");
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("its ECS agent never registers it")));
}

#[test]
fn the_version_reports_its_user_data_base64_encoded() {
    let (sim, lt) = account();
    let v = block_on(sim.describe_launch_template_versions(&lt)).expect("versions");
    let user_data = v[0].user_data.clone().expect("user data");
    assert_eq!(
        amiroll_core::ecs::decode_base64(&user_data).as_deref(),
        Some(&b"#!/bin/bash\necho ECS_CLUSTER=web >> /etc/ecs/ecs.config"[..])
    );
    assert_eq!(
        amiroll_core::ecs::cluster_from_user_data(&user_data).as_deref(),
        Some("web")
    );
}

#[test]
fn a_terminated_instance_is_deregistered() {
    let (sim, _) = ecs_fleet();
    let before = arns(&sim);
    sim.set_desired_capacity("web-asg", 3).expect("scale in");
    let after = arns(&sim);
    assert_eq!(after.len(), 3);
    let gone: Vec<&String> = before.iter().filter(|a| !after.contains(a)).collect();
    assert_eq!(gone.len(), 1);
    let out =
        block_on(sim.describe_container_instances("web", &[gone[0].clone()])).expect("describe");
    assert_eq!(out.container_instances.len(), 1);
    assert_eq!(out.container_instances[0].status, "INACTIVE");
    assert!(!out.container_instances[0].agent_connected);
    // Forgotten an hour later.
    sim.advance(Duration::from_secs(3600));
    let out =
        block_on(sim.describe_container_instances("web", &[gone[0].clone()])).expect("describe");
    assert!(out.container_instances.is_empty());
    assert_eq!(out.failures[0].reason, "MISSING");
    assert_eq!(out.failures[0].arn.as_deref(), Some(gone[0].as_str()));
}

#[test]
fn service_tasks_spread_and_wait_for_room() {
    let (sim, _) = ecs_fleet();
    sim.set_ecs_tasks_per_instance(2);
    sim.create_service("web", "api", 6).expect("service");
    let per = sim.tasks_per_instance();
    assert_eq!(per.values().sum::<usize>(), 6);
    assert!(per.values().all(|n| (1..=2).contains(n)), "{per:?}");
    assert_eq!(per.len(), 4, "spread over every instance: {per:?}");
    // 10 wanted, room for 8: two wait, and take a new instance as soon as it registers.
    sim.update_service(CLUSTER_ARN, "api", 10).expect("more");
    assert_eq!(sim.service_running_count("web", "api"), 8);
    sim.set_desired_capacity("web-asg", 5).expect("scale out");
    sim.advance(Duration::from_secs(90));
    assert_eq!(sim.service_running_count("web", "api"), 10);
    let newest = ids(&sim).into_iter().max().expect("instance");
    assert_eq!(sim.running_tasks(&newest), 2);
    // Fewer: the newest tasks stop.
    sim.update_service("web", "api", 4).expect("fewer");
    assert_eq!(sim.service_running_count("web", "api"), 4);
    let err = sim
        .create_service("nope", "api", 1)
        .expect_err("no cluster");
    assert_eq!(err.code, "ClusterNotFoundException");
}

#[test]
fn draining_moves_tasks_after_the_drain_time_where_there_is_room() {
    let (sim, _) = ecs_fleet();
    sim.set_ecs_drain_time(Duration::from_secs(120));
    sim.create_service("web", "api", 4).expect("service");
    let instances = ids(&sim);
    let listed = block_on(sim.describe_container_instances("web", &arns(&sim)))
        .expect("describe")
        .container_instances;
    let of = |ec2: &str| {
        listed
            .iter()
            .find(|c| c.ec2_instance_id.as_deref() == Some(ec2))
            .map(|c| c.container_instance_arn.clone())
            .expect("registered")
    };
    let (a, b) = (instances[0].clone(), instances[1].clone());
    let out = block_on(sim.update_container_instances_state(
        "web",
        &[of(&a), of(&b)],
        ContainerInstanceStatus::Draining,
    ))
    .expect("drain");
    assert!(out.failures.is_empty());
    assert!(out
        .container_instances
        .iter()
        .all(|c| c.status == "DRAINING"));
    // Before the drain time the tasks stay.
    sim.advance(Duration::from_secs(119));
    assert_eq!(sim.running_tasks(&a) + sim.running_tasks(&b), 2);
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.running_tasks(&a) + sim.running_tasks(&b), 0);
    assert_eq!(sim.running_tasks(&instances[2]), 2);
    assert_eq!(sim.running_tasks(&instances[3]), 2);
    assert_eq!(sim.service_running_count("web", "api"), 4);
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("a task moved from draining")));
    // Draining: no placement on them.
    sim.update_service("web", "api", 6).expect("more");
    assert_eq!(sim.running_tasks(&a) + sim.running_tasks(&b), 0);
    // Listed (DRAINING is not INACTIVE), and ACTIVE again takes placements.
    assert_eq!(arns(&sim).len(), 4);
    block_on(sim.update_container_instances_state(
        "web",
        &[of(&a)],
        ContainerInstanceStatus::Active,
    ))
    .expect("activate");
    sim.update_service("web", "api", 7).expect("one more");
    assert_eq!(sim.running_tasks(&a), 1);
    assert!(statuses(&sim).contains(&(b.clone(), "DRAINING".to_string())));
}

#[test]
fn tasks_that_find_no_room_stay_on_the_draining_instance_until_room_appears() {
    let (sim, _) = ecs_fleet();
    sim.set_ecs_tasks_per_instance(1);
    sim.set_ecs_drain_time(Duration::ZERO);
    sim.create_service("web", "api", 4).expect("service");
    let instances = ids(&sim);
    let first = sim
        .container_instances("web")
        .into_iter()
        .find(|c| c.ec2_instance_id.as_deref() == Some(instances[0].as_str()))
        .expect("registered");
    block_on(sim.update_container_instances_state(
        "web",
        std::slice::from_ref(&first.container_instance_arn),
        ContainerInstanceStatus::Draining,
    ))
    .expect("drain");
    sim.advance(Duration::from_secs(600));
    assert_eq!(sim.running_tasks(&instances[0]), 1, "nowhere to go");
    // A new instance: the task moves there.
    sim.set_desired_capacity("web-asg", 5).expect("scale out");
    sim.advance(Duration::from_secs(90));
    assert_eq!(sim.running_tasks(&instances[0]), 0);
    let newest = ids(&sim).into_iter().max().expect("instance");
    assert_eq!(sim.running_tasks(&newest), 1);
    assert_eq!(sim.tasks_killed(), 0);
}

#[test]
fn terminating_an_instance_with_tasks_kills_them_and_the_service_replaces_them() {
    let (sim, _) = ecs_fleet();
    sim.create_service("web", "api", 4).expect("service");
    assert_eq!(sim.tasks_killed(), 0);
    sim.set_desired_capacity("web-asg", 3).expect("scale in");
    assert_eq!(sim.tasks_killed(), 1);
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("terminated with 1 running task(s): tasks killed")));
    // Replaced on the instances left; none runs on a terminated instance.
    assert_eq!(sim.service_running_count("web", "api"), 4);
    let live = ids(&sim);
    assert!(sim.tasks_per_instance().keys().all(|i| live.contains(i)));
}

#[test]
fn container_instance_calls_check_their_input() {
    let (sim, _) = ecs_fleet();
    let listed = arns(&sim);
    // Up to 10 per update, up to 100 per describe.
    let eleven: Vec<String> = (0..11).map(|_| listed[0].clone()).collect();
    let err = block_on(sim.update_container_instances_state(
        "web",
        &eleven,
        ContainerInstanceStatus::Draining,
    ))
    .expect_err("eleven");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "InvalidParameterException")
    );
    assert!(
        statuses(&sim).iter().all(|(_, s)| s == "ACTIVE"),
        "nothing changed"
    );
    let many: Vec<String> = (0..101).map(|_| listed[0].clone()).collect();
    let err = block_on(sim.describe_container_instances("web", &many)).expect_err("101");
    assert_eq!(err.kind, ErrorKind::Invalid);
    // No ARNs: no call.
    let calls = sim.call_log().len();
    assert!(block_on(sim.describe_container_instances("web", &[]))
        .expect("empty")
        .container_instances
        .is_empty());
    assert!(block_on(sim.update_container_instances_state(
        "web",
        &[],
        ContainerInstanceStatus::Draining
    ))
    .expect("empty")
    .failures
    .is_empty());
    assert_eq!(sim.call_log().len(), calls);
    // Unknown ones fail one by one; the others are updated.
    let id = listed[0].rsplit('/').next().expect("id").to_string();
    let out = block_on(sim.update_container_instances_state(
        "web",
        &[id, "0123".to_string()],
        ContainerInstanceStatus::Draining,
    ))
    .expect("partial");
    assert_eq!(out.container_instances.len(), 1);
    assert_eq!(out.container_instances[0].container_instance_arn, listed[0]);
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].reason, "MISSING");
    assert_eq!(
        out.failures[0].arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:123456789012:container-instance/web/0123")
    );
    // An ARN of another cluster is missing here.
    sim.create_cluster("other").expect("other");
    let out = block_on(sim.describe_container_instances("other", &listed[..1])).expect("other");
    assert_eq!(out.failures[0].reason, "MISSING");
    // A cluster in another Region is not this one.
    let err =
        block_on(sim.list_container_instances("arn:aws:ecs:eu-west-1:123456789012:cluster/web"))
            .expect_err("elsewhere");
    assert_eq!(err.code, "ClusterNotFoundException");
    let err = block_on(sim.update_container_instances_state(
        "missing",
        &listed[..1],
        ContainerInstanceStatus::Active,
    ))
    .expect_err("no cluster");
    assert_eq!(err.code, "ClusterNotFoundException");
}

#[test]
fn a_deregistered_instance_cannot_be_updated() {
    let (sim, _) = ecs_fleet();
    let before = arns(&sim);
    sim.set_desired_capacity("web-asg", 3).expect("scale in");
    let gone = before
        .into_iter()
        .find(|a| !arns(&sim).contains(a))
        .expect("deregistered");
    let out = block_on(sim.update_container_instances_state(
        "web",
        std::slice::from_ref(&gone),
        ContainerInstanceStatus::Draining,
    ))
    .expect("answered");
    assert!(out.container_instances.is_empty());
    assert_eq!(out.failures[0].reason, "INACTIVE");
}

#[test]
fn managed_termination_protection_protects_only_instances_running_tasks() {
    let (sim, _) = ecs_fleet();
    sim.create_capacity_provider("web-cp", "web-asg", true, true, true)
        .expect("provider");
    // No tasks yet: ECS lifts the protection from every container instance.
    assert!(sim
        .group("web-asg")
        .instances
        .iter()
        .all(|i| !i.protected_from_scale_in));
    sim.create_service("web", "api", 2).expect("service");
    let protected: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .filter(|i| i.protected_from_scale_in)
        .map(|i| i.instance_id.clone())
        .collect();
    let running: Vec<String> = sim.tasks_per_instance().into_keys().collect();
    assert_eq!(protected, running);
    assert_eq!(protected.len(), 2);
    // A scale-in takes only instances without tasks: no task is killed.
    sim.set_desired_capacity("web-asg", 2).expect("scale in");
    assert_eq!(sim.group("web-asg").instances.len(), 2);
    assert_eq!(sim.tasks_killed(), 0);
    assert_eq!(sim.service_running_count("web", "api"), 2);
}

#[test]
fn the_container_instance_calls_take_injected_faults_and_crashes() {
    let (sim, _) = ecs_fleet();
    sim.throttle(op::LIST_CONTAINER_INSTANCES, 1, 1);
    let err = block_on(sim.list_container_instances("web")).expect_err("throttled");
    assert_eq!(err.kind, ErrorKind::Throttling);
    assert_eq!(err.code, "ThrottlingException");
    assert_eq!(arns(&sim).len(), 4);

    let listed = arns(&sim);
    sim.fail_nth_after_effect(
        op::UPDATE_CONTAINER_INSTANCES_STATE,
        1,
        ErrorKind::Transient,
        "ServerException",
    );
    let err = block_on(sim.update_container_instances_state(
        "web",
        &listed[..1],
        ContainerInstanceStatus::Draining,
    ))
    .expect_err("ambiguous");
    assert_eq!(err.code, "ServerException");
    assert_eq!(
        statuses(&sim)
            .iter()
            .filter(|(_, s)| s == "DRAINING")
            .count(),
        1,
        "applied, then the caller saw an error"
    );

    sim.crash_after(0);
    let err = block_on(sim.describe_container_instances("web", &listed)).expect_err("crash");
    assert_eq!(err.kind, ErrorKind::Crash);
    assert_eq!(
        sim.call_log().last().copied(),
        Some(op::DESCRIBE_CONTAINER_INSTANCES)
    );
}

#[test]
fn clusters_are_listed_and_described_with_their_capacity_providers() {
    let (sim, _) = ecs_fleet();
    sim.create_cluster("batch").expect("batch");
    sim.create_capacity_provider("web-cp", "web-asg", false, false, true)
        .expect("provider");
    assert_eq!(
        block_on(sim.list_clusters()).expect("list"),
        vec![
            "arn:aws:ecs:us-east-1:123456789012:cluster/batch".to_string(),
            CLUSTER_ARN.to_string(),
        ]
    );
    let described = |refs: &[&str]| {
        let refs: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        block_on(sim.describe_clusters(&refs)).expect("describe")
    };
    // No provider associated yet.
    assert!(described(&["web"])[0].capacity_providers.is_empty());

    sim.attach_capacity_provider("web", "web-cp")
        .expect("associate");
    // By name or ARN; an unknown cluster is left out.
    let out = described(&[CLUSTER_ARN, "batch", "nope"]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].arn, CLUSTER_ARN);
    assert_eq!(out[0].name, "web");
    assert_eq!(out[0].status, "ACTIVE");
    assert_eq!(out[0].capacity_providers, vec!["web-cp".to_string()]);
    assert_eq!(out[1].name, "batch");
    assert!(out[1].capacity_providers.is_empty());

    // Associating it again with its own cluster changes nothing; with another is refused.
    sim.attach_capacity_provider(CLUSTER_ARN, "web-cp")
        .expect("again");
    assert_eq!(
        described(&["web"])[0].capacity_providers,
        vec!["web-cp".to_string()]
    );
    let err = sim
        .attach_capacity_provider("batch", "web-cp")
        .expect_err("another cluster");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Conflict, "ResourceInUseException")
    );
    assert!(described(&["batch"])[0].capacity_providers.is_empty());
    let err = sim
        .attach_capacity_provider("nope", "web-cp")
        .expect_err("no cluster");
    assert_eq!(err.code, "ClusterNotFoundException");
    let err = sim
        .attach_capacity_provider("batch", "nope")
        .expect_err("no provider");
    assert_eq!(err.kind, ErrorKind::Invalid);

    // Up to 100 per describe; none is answered without a call.
    let many: Vec<String> = (0..101).map(|_| "web".to_string()).collect();
    let err = block_on(sim.describe_clusters(&many)).expect_err("101");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "InvalidParameterException")
    );
    let calls = sim.call_count(op::DESCRIBE_CLUSTERS);
    assert!(block_on(sim.describe_clusters(&[]))
        .expect("none")
        .is_empty());
    assert_eq!(sim.call_count(op::DESCRIBE_CLUSTERS), calls);
}

#[test]
fn an_agent_configured_outside_the_user_data_joins_the_cluster_set_for_its_template() {
    let (sim, _) = account();
    sim.create_cluster("prod").expect("prod");
    let plain = sim
        .create_launch_template(
            "fetched",
            TemplateData::new("ami-old", "t3.small").with_user_data(
                "#!/bin/bash\naws s3 cp s3://config/ecs.config /etc/ecs/ecs.config",
            ),
        )
        .expect("template");
    sim.create_group(GroupSpec::new("cp-asg", &plain, 1, 4, 2))
        .expect("group");
    // The user data names no cluster: no registration.
    assert!(block_on(sim.list_container_instances("prod"))
        .expect("list")
        .is_empty());
    // Set for the template: the instances in service register now (the agent retries)...
    sim.set_agent_cluster("fetched", "prod").expect("agent");
    let members = |sim: &SimAws| -> Vec<String> {
        let mut ids: Vec<String> = sim
            .container_instances("prod")
            .into_iter()
            .filter_map(|c| c.ec2_instance_id)
            .collect();
        ids.sort();
        ids
    };
    let group_ids = |sim: &SimAws| -> Vec<String> {
        sim.group("cp-asg")
            .instances
            .iter()
            .map(|i| i.instance_id.clone())
            .collect()
    };
    assert_eq!(members(&sim), group_ids(&sim));
    // ...and new ones when they come into service.
    sim.set_desired_capacity("cp-asg", 3).expect("scale out");
    sim.advance(Duration::from_secs(90));
    assert_eq!(members(&sim).len(), 3);
    assert_eq!(members(&sim), group_ids(&sim));

    // A cluster the user data names wins over the one set for the template.
    let (sim2, lt) = account();
    sim2.create_cluster("web").expect("web");
    sim2.create_cluster("prod").expect("prod");
    sim2.set_agent_cluster(&lt, "prod").expect("agent");
    sim2.create_group(GroupSpec::new("web-asg", &lt, 1, 4, 2))
        .expect("group");
    sim2.advance(Duration::from_secs(90));
    assert_eq!(sim2.container_instances("web").len(), 2);
    assert!(sim2.container_instances("prod").is_empty());
    let err = sim2
        .set_agent_cluster("no-such-template", "prod")
        .expect_err("unknown template");
    assert_eq!(err.kind, ErrorKind::NotFound);
}
