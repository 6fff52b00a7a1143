//! The ECS view of a fleet, end to end in the simulator: the engine finds a group's cluster
//! (configured, in the launch template's user data, or from the group's capacity provider),
//! reads its container instances where
//! instances are judged, and the plan reports each group's instances as container instances; a
//! new instance of an ECS group counts healthy only when ECS can use it.

mod common;

use std::time::Duration;

use amiroll_core::model::{EcsGroupReport, Plan, TargetStatus};
use amiroll_core::port::{op, ErrorKind};
use amiroll_core::Engine;
use amiroll_sim::{GroupSpec, ImageSpec, TemplateData};
use chrono::TimeZone;
use common::*;

fn plan(w: &World) -> Plan {
    futures::executor::block_on(Engine::new(&w.sim).plan(&w.config())).expect("plan")
}

fn ecs_of(p: &Plan) -> Option<EcsGroupReport> {
    p.targets[0].groups[0].ecs.clone()
}

fn statuses(report: &EcsGroupReport) -> Vec<(&str, usize)> {
    report
        .instances_by_status
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect()
}

#[test]
fn an_ecs_fleet_is_seen_instance_by_container_instance() {
    let w = World::ecs();
    w.publish(NEW);
    let p = plan(&w);
    let ecs = ecs_of(&p).expect("an ECS group");
    assert_eq!(ecs.cluster, "prod");
    assert_eq!(statuses(&ecs), vec![("ACTIVE", 2)]);
    assert_eq!(ecs.agents_disconnected, 0);
    assert_eq!(ecs.running_tasks, 4);
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 1);
    assert_eq!(w.sim.call_count(op::DESCRIBE_CONTAINER_INSTANCES), 1);
    assert_eq!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE), 0);
}

#[test]
fn a_current_fleet_costs_no_ecs_call() {
    // The cluster in the user data, or known only from the capacity provider: no ECS call.
    for w in [World::ecs(), World::behind_a_capacity_provider()] {
        let report = w.apply_ok();
        assert_eq!(report.targets[0].plan.status, TargetStatus::Current);
        for o in [
            op::LIST_CONTAINER_INSTANCES,
            op::DESCRIBE_CONTAINER_INSTANCES,
            op::DESCRIBE_CAPACITY_PROVIDERS,
            op::LIST_CLUSTERS,
            op::DESCRIBE_CLUSTERS,
        ] {
            assert_eq!(w.sim.call_count(o), 0, "{o}");
        }
    }
}

/// Issue 12: "otherwise discover it: from the capacity provider's cluster". The user data names
/// no cluster; the group backs capacity provider `web-cp`, which `prod` names among its
/// capacity providers: `prod` is the group's cluster, found with one `ListClusters` and one
/// `DescribeClusters`.
#[test]
fn a_group_behind_a_capacity_provider_is_seen_in_its_providers_cluster() {
    let w = World::behind_a_capacity_provider();
    w.publish(NEW);
    let p = plan(&w);
    assert!(p.targets[0].errors.is_empty(), "{:?}", p.targets[0].errors);
    let ecs = ecs_of(&p).expect("an ECS group");
    assert_eq!(ecs.cluster, "prod");
    assert_eq!(statuses(&ecs), vec![("ACTIVE", 2)]);
    assert_eq!(ecs.running_tasks, 4);
    assert_eq!(w.sim.call_count(op::LIST_CLUSTERS), 1);
    assert_eq!(w.sim.call_count(op::DESCRIBE_CLUSTERS), 1);
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 1);

    // The provider associated with no cluster: the clusters are read, none names it, and the
    // group is a plain EC2 group.
    let w = World::with_user_data(
        "#!/bin/bash\naws s3 cp s3://config-bucket/ecs.config /etc/ecs/ecs.config",
    );
    w.sim.set_agent_cluster(&w.lt, "prod").expect("agent");
    w.sim.create_cluster("prod").expect("cluster");
    w.sim
        .create_capacity_provider("web-cp", "web", false, false, false)
        .expect("provider");
    w.publish(NEW);
    let p = plan(&w);
    assert_eq!(ecs_of(&p), None);
    assert_eq!(w.sim.call_count(op::LIST_CLUSTERS), 1);
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 0);
}

#[test]
fn the_clusters_are_listed_only_when_no_other_source_names_the_groups_cluster() {
    // The cluster is in the user data (the provider is associated with it as well).
    let w = World::ecs();
    w.sim
        .create_capacity_provider("web-cp", "web", false, false, false)
        .expect("provider");
    w.sim
        .attach_capacity_provider("prod", "web-cp")
        .expect("associate");
    w.publish(NEW);
    assert_eq!(ecs_of(&plan(&w)).expect("an ECS group").cluster, "prod");
    assert_eq!(w.sim.call_count(op::LIST_CLUSTERS), 0);
    assert_eq!(w.sim.call_count(op::DESCRIBE_CLUSTERS), 0);

    // Configured.
    let w = World::behind_a_capacity_provider().setting("ecs_cluster = \"prod\"");
    w.publish(NEW);
    assert_eq!(ecs_of(&plan(&w)).expect("an ECS group").cluster, "prod");
    assert_eq!(w.sim.call_count(op::LIST_CLUSTERS), 0);

    // A plain EC2 group: no cluster anywhere and no capacity provider.
    let w = World::with_user_data("#!/bin/bash\nyum install -y nginx");
    w.publish(NEW);
    assert_eq!(ecs_of(&plan(&w)), None);
    assert_eq!(w.sim.call_count(op::LIST_CLUSTERS), 0);
    assert_eq!(w.sim.call_count(op::DESCRIBE_CLUSTERS), 0);
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 0);

    // `ecs = false`, and strategy `none`: nothing judged as ECS.
    for w in [
        World::behind_a_capacity_provider().setting("ecs = false"),
        World::behind_a_capacity_provider().instead_of_surge("strategy = \"none\"\n"),
    ] {
        w.publish(NEW);
        assert_eq!(ecs_of(&plan(&w)), None);
        assert_eq!(w.sim.call_count(op::LIST_CLUSTERS), 0);
    }
}

#[test]
fn failing_cluster_reads_leave_a_plain_group_when_denied_and_stop_the_target_otherwise() {
    // Denied: a warning, and the group stays a plain EC2 group.
    let w = World::behind_a_capacity_provider();
    w.sim.fail_always(
        op::LIST_CLUSTERS,
        ErrorKind::AccessDenied,
        "AccessDeniedException",
    );
    w.publish(NEW);
    let p = plan(&w);
    assert!(p.targets[0].errors.is_empty(), "{:?}", p.targets[0].errors);
    assert_eq!(ecs_of(&p), None);
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 0);

    // Throttled twice: the engine's back-off gets past it.
    let w = World::behind_a_capacity_provider();
    w.publish(NEW);
    w.sim.throttle(op::DESCRIBE_CLUSTERS, 1, 2);
    let p = plan(&w);
    assert!(p.targets[0].errors.is_empty(), "{:?}", p.targets[0].errors);
    assert_eq!(ecs_of(&p).expect("an ECS group").cluster, "prod");

    // Failing for good: the target is in error, nothing is changed.
    let w = World::behind_a_capacity_provider();
    w.publish(NEW);
    w.sim
        .fail_always(op::DESCRIBE_CLUSTERS, ErrorKind::Other, "ServerException");
    let report = w.apply_ok();
    assert_eq!(report.targets[0].plan.status, TargetStatus::Error);
    assert!(w.writes().is_empty(), "{:?}", w.writes());

    // A crash ends the run.
    let w = World::behind_a_capacity_provider();
    w.publish(NEW);
    w.sim
        .fail_always(op::LIST_CLUSTERS, ErrorKind::Crash, "Crash");
    assert!(matches!(w.apply(), Err(amiroll_core::RunError::Crashed(_))));
}

#[test]
fn the_clusters_are_described_a_hundred_at_a_time() {
    let w = World::behind_a_capacity_provider();
    for i in 0..149 {
        w.sim.create_cluster(&format!("c{i:03}")).expect("cluster");
    }
    w.publish(NEW);
    let ecs = ecs_of(&plan(&w)).expect("an ECS group");
    assert_eq!(ecs.cluster, "prod");
    assert_eq!(w.sim.call_count(op::LIST_CLUSTERS), 1);
    // 150 clusters: two calls.
    assert_eq!(w.sim.call_count(op::DESCRIBE_CLUSTERS), 2);
}

/// Issue 12, rule 2, for a group whose cluster is known only from its capacity provider: an AMI
/// whose agent never registers is stopped by the surge's health gate; nothing is drained or
/// killed.
#[test]
fn a_bad_agent_behind_a_capacity_provider_is_stopped_by_the_gate() {
    let broken = "ami-0000000000000f006";
    let day = chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .single()
        .expect("date");
    let w = World::behind_a_capacity_provider();
    w.sim.register_image(
        ImageSpec::new(broken, "ecs-2026.11.23-agent-broken", "x86_64", day).with_ecs_agent(false),
    );
    w.publish(broken);
    let mut saw_unregistered = false;
    for _ in 0..12 {
        if let Some(ecs) = ecs_of(&plan(&w)) {
            assert_eq!(ecs.cluster, "prod");
            if ecs
                .instances_by_status
                .get("unregistered")
                .is_some_and(|n| *n > 0)
            {
                saw_unregistered = true;
            }
        }
        w.apply_ok();
        w.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(
        saw_unregistered,
        "the surged instances on the broken AMI never register"
    );
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Failed,
        "{:#?}",
        last.targets[0].plan
    );
    let reason = w
        .sim
        .group("web")
        .tags
        .get("amiroll:failed-reason")
        .cloned()
        .unwrap_or_default();
    assert!(
        reason.contains("not ACTIVE with a connected agent in ECS cluster `prod`"),
        "{reason}"
    );
    assert_eq!(w.healthy_on("web", OLD), 2);
    assert_eq!(w.sim.instances_by_ami("web").get(broken), None);
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
    assert_eq!(w.sim.tasks_killed(), 0);
    assert_eq!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE), 0);
}

#[test]
fn a_good_ami_rolls_a_group_behind_a_capacity_provider_with_its_tasks_drained() {
    let w = World::behind_a_capacity_provider();
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("web", NEW, (1, 4, 2));
    // The surge drained the old container instances in its gate: no task was killed.
    assert!(w.sim.call_count(op::UPDATE_CONTAINER_INSTANCES_STATE) >= 1);
    assert_eq!(w.sim.tasks_killed(), 0);
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
}

/// Issue 12, rule 2: a new instance of an ECS group is healthy only when its container instance
/// is `ACTIVE` with a connected agent. An AMI whose agent never registers passes every EC2 check;
/// the gate stops it for the ECS group and nothing is drained or killed, while the same fleet
/// without a cluster (plain EC2: amiroll cannot know) rolls onto it.
#[test]
fn a_bad_agent_is_stopped_by_the_gate_where_plain_ec2_cannot_tell() {
    let broken = "ami-0000000000000f006";
    let day = chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .single()
        .expect("date");
    let with_ecs = World::ecs();
    let without = World::new();
    for w in [&with_ecs, &without] {
        w.sim.register_image(
            ImageSpec::new(broken, "ecs-2026.11.23-agent-broken", "x86_64", day)
                .with_ecs_agent(false),
        );
        w.publish(broken);
    }
    let mut saw_unregistered = false;
    for _ in 0..12 {
        let a = plan(&with_ecs);
        assert_eq!(
            plan(&without).targets[0].groups[0].ecs,
            None,
            "no cluster: plain EC2"
        );
        if let Some(ecs) = ecs_of(&a) {
            if ecs
                .instances_by_status
                .get("unregistered")
                .is_some_and(|n| *n > 0)
            {
                saw_unregistered = true;
            }
        }
        with_ecs.apply_ok();
        without.apply_ok();
        with_ecs.sim.advance(Duration::from_secs(5 * 60));
        without.sim.advance(Duration::from_secs(5 * 60));
    }
    assert!(
        saw_unregistered,
        "the surged instances on the broken AMI never register"
    );
    let last = with_ecs.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Failed,
        "{:#?}",
        last.targets[0].plan
    );
    let reason = with_ecs
        .sim
        .group("web")
        .tags
        .get("amiroll:failed-reason")
        .cloned()
        .unwrap_or_default();
    assert!(
        reason.contains("not ACTIVE with a connected agent in ECS cluster `prod`"),
        "{reason}"
    );
    assert_eq!(with_ecs.events_of("rollout-succeeded"), 0);
    assert_eq!(with_ecs.healthy_on("web", OLD), 2);
    assert_eq!(with_ecs.sim.instances_by_ami("web").get(broken), None);
    assert_eq!(
        with_ecs.sim.service_running_count("prod", "api"),
        4,
        "the old tasks run on"
    );
    assert_eq!(with_ecs.sim.tasks_killed(), 0);
    assert_eq!(
        with_ecs
            .sim
            .call_count(op::UPDATE_CONTAINER_INSTANCES_STATE),
        0,
        "nothing drained"
    );
    // Plain EC2 cannot tell: the fleet rolls onto the broken AMI.
    let last = without.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(without.healthy_on("web", broken), 2);
}

#[test]
fn a_cluster_named_in_the_user_data_that_does_not_exist_leaves_a_plain_ec2_group() {
    let w = World::new();
    w.publish(NEW);
    let p = plan(&w);
    assert!(p.targets[0].errors.is_empty(), "{:?}", p.targets[0].errors);
    assert_eq!(ecs_of(&p), None);
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 1);
}

#[test]
fn a_configured_cluster_that_does_not_exist_is_an_error_naming_it() {
    let w = World::new().setting("ecs_cluster = \"nope\"");
    w.publish(NEW);
    let report = w.apply_ok();
    let t = &report.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Error);
    let text = t
        .plan
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(
        text.contains("`nope`") && text.contains("ecs_cluster"),
        "{text}"
    );
    assert!(w.writes().is_empty(), "{:?}", w.writes());
}

#[test]
fn a_configured_cluster_is_read_even_when_the_user_data_names_another() {
    let w =
        World::ecs().setting("ecs_cluster = \"arn:aws:ecs:us-east-1:123456789012:cluster/prod\"");
    w.sim.create_cluster("other").expect("other");
    w.publish(NEW);
    let ecs = ecs_of(&plan(&w)).expect("an ECS group");
    assert_eq!(
        ecs.cluster,
        "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
    );
    assert_eq!(statuses(&ecs), vec![("ACTIVE", 2)]);

    // Configured on a cluster the instances did not join: every instance is unregistered.
    let w = World::ecs().setting("ecs_cluster = \"other\"");
    w.sim.create_cluster("other").expect("other");
    w.publish(NEW);
    let ecs = ecs_of(&plan(&w)).expect("an ECS group");
    assert_eq!(statuses(&ecs), vec![("unregistered", 2)]);
}

#[test]
fn a_cluster_amiroll_may_not_read_is_skipped_when_found_and_an_error_when_configured() {
    let w = World::ecs();
    w.sim.fail_always(
        op::LIST_CONTAINER_INSTANCES,
        ErrorKind::AccessDenied,
        "AccessDeniedException",
    );
    w.publish(NEW);
    let p = plan(&w);
    assert!(p.targets[0].errors.is_empty(), "{:?}", p.targets[0].errors);
    assert_eq!(ecs_of(&p), None);

    let w = World::ecs().setting("ecs_cluster = \"prod\"");
    w.sim.fail_always(
        op::LIST_CONTAINER_INSTANCES,
        ErrorKind::AccessDenied,
        "AccessDeniedException",
    );
    w.publish(NEW);
    let p = plan(&w);
    assert_eq!(p.targets[0].status, TargetStatus::Error);
}

#[test]
fn a_failed_cluster_read_is_an_error_of_its_targets_and_is_retried() {
    let w = World::ecs();
    w.publish(NEW);
    // Throttled twice: the engine's back-off gets past it.
    w.sim.throttle(op::DESCRIBE_CONTAINER_INSTANCES, 1, 2);
    let p = plan(&w);
    assert!(p.targets[0].errors.is_empty());
    assert!(ecs_of(&p).is_some());
    // Failing for good: the target is in error, nothing is changed.
    w.sim.fail_always(
        op::DESCRIBE_CONTAINER_INSTANCES,
        ErrorKind::Other,
        "ServerException",
    );
    let report = w.apply_ok();
    assert_eq!(report.targets[0].plan.status, TargetStatus::Error);
    assert!(w.writes().is_empty(), "{:?}", w.writes());
}

#[test]
fn container_instances_are_described_a_hundred_at_a_time() {
    let w = World::ecs().targeting(&["big"]);
    w.sim
        .create_group(
            GroupSpec::new("big", &w.lt, 1, 200, 150)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    w.publish(NEW);
    let p = plan(&w);
    let ecs = ecs_of(&p).expect("an ECS group");
    assert_eq!(statuses(&ecs), vec![("ACTIVE", 150)]);
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 1);
    // 152 container instances (the `web` group's two too): two calls.
    assert_eq!(w.sim.call_count(op::DESCRIBE_CONTAINER_INSTANCES), 2);
}

#[test]
fn the_reads_of_several_clusters_keep_four_calls_of_an_operation_under_way() {
    let w = World::ecs();
    w.sim.create_cluster("other").expect("cluster");
    let other = w
        .sim
        .create_launch_template(
            "ecs-other",
            TemplateData::new(OLD, "m5.large").with_user_data("ECS_CLUSTER=other"),
        )
        .expect("template");
    for (name, template) in [("a", w.lt.as_str()), ("b", other.as_str())] {
        w.sim
            .create_group(
                GroupSpec::new(name, template, 1, 300, 250)
                    .with_termination_policies(&["OldestLaunchTemplate"]),
            )
            .expect("group");
    }
    let toml = ["a", "b"]
        .iter()
        .zip(["ecs", "ecs-other"])
        .map(|(g, t)| {
            format!(
                "[[target]]\nname = \"{g}\"\nlaunch_template = \"{t}\"\nami_parameter = \"{PARAM}\"\ngroups = [\"{g}\"]\nstrategy = \"scheduled-surge\"\n"
            )
        })
        .collect::<String>();
    let w = World { toml, ..w };
    w.publish(NEW);
    // Calls overlap, as on a multi-threaded runtime.
    w.sim.set_yield_per_call(true);
    let p = plan(&w);
    for t in &p.targets {
        let ecs = t.groups[0].ecs.as_ref().expect("an ECS group");
        assert_eq!(
            ecs.instances_by_status.get("ACTIVE"),
            Some(&250),
            "{}",
            t.target
        );
    }
    assert_eq!(w.sim.call_count(op::LIST_CONTAINER_INSTANCES), 2);
    // prod: 252 container instances (`web`'s two too), other: 250 — three calls each.
    assert_eq!(w.sim.call_count(op::DESCRIBE_CONTAINER_INSTANCES), 6);
    assert_eq!(w.sim.max_in_flight(op::DESCRIBE_CONTAINER_INSTANCES), 4);
    assert_eq!(w.sim.max_in_flight(op::LIST_CONTAINER_INSTANCES), 2);
}

#[test]
fn a_good_ami_rolls_an_ecs_group_once_its_agents_have_joined() {
    let w = World::ecs();
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("web", NEW, (1, 4, 2));
    let live: Vec<String> = w
        .sim
        .group("web")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    let active = w
        .sim
        .container_instances("prod")
        .into_iter()
        .filter(|c| c.is_active() && c.agent_connected)
        .filter(|c| {
            c.ec2_instance_id
                .as_ref()
                .is_some_and(|id| live.contains(id))
        })
        .count();
    assert_eq!(active, 2, "every new instance joined the cluster");
    assert_eq!(w.sim.service_running_count("prod", "api"), 4);
}
