//! The drain hook pass (`planner/hooks.rs`) on hand-made observations: what one run does with
//! each instance a terminating lifecycle hook holds.

mod common;

use amiroll_core::config::AMIROLL_HOOK;
use amiroll_core::model::{
    Action, ClusterSource, GroupCluster, ObservedCluster, TargetPlan, DRAIN_SINCE_ATTRIBUTE,
};
use amiroll_core::planner::hooks::heartbeat_for;
use amiroll_core::port::{ContainerInstance, LifecycleHook, LIFECYCLE_TRANSITION_TERMINATING};
use chrono::Duration;
use common::*;

/// The current fleet (parameter on the AMI the group runs), ECS cluster `prod` configured,
/// `ecs_drain = "lifecycle-hook"` on an instance refresh, amiroll's hook in place; instance
/// `i-web-asg-1` held in `Terminating:Wait` with `held` as its container instance.
fn fleet(held: Option<ContainerInstance>, extra: &str) -> Fleet {
    let mut f = Fleet::healthy()
        .with_setting("ecs_cluster = \"prod\"")
        .with_setting("ecs_drain = \"lifecycle-hook\"")
        .with_setting(extra);
    f.config_toml = f.config_toml.replace(
        "strategy = \"scheduled-surge\"\n",
        "strategy = \"instance-refresh\"\n",
    );
    f.set_param(AMI_OLD);
    f.obs.lifecycle_hooks.insert(
        "web-asg".to_string(),
        vec![hook(AMIROLL_HOOK, heartbeat_for(600))],
    );
    let g = f.group_mut("web-asg");
    g.instances[1].lifecycle_state = "Terminating:Wait".to_string();
    f.obs.ecs_clusters.insert(
        "web-asg".to_string(),
        GroupCluster {
            cluster: "prod".to_string(),
            source: ClusterSource::Configured,
        },
    );
    let mut registered = vec![ci("i-web-asg-0", "ACTIVE", 2, None)];
    registered.extend(held);
    f.obs.clusters.insert(
        "prod".to_string(),
        ObservedCluster {
            exists: true,
            container_instances: registered,
        },
    );
    f
}

fn hook(name: &str, heartbeat: u32) -> LifecycleHook {
    LifecycleHook {
        group_name: "web-asg".to_string(),
        name: name.to_string(),
        transition: LIFECYCLE_TRANSITION_TERMINATING.to_string(),
        heartbeat_timeout_secs: heartbeat,
        global_timeout_secs: 100 * heartbeat,
        default_result: "CONTINUE".to_string(),
    }
}

fn ci(ec2: &str, status: &str, tasks: i32, since: Option<&str>) -> ContainerInstance {
    ContainerInstance {
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".to_string(),
        container_instance_arn: format!(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/{ec2}"
        ),
        ec2_instance_id: Some(ec2.to_string()),
        status: status.to_string(),
        agent_connected: true,
        running_tasks_count: tasks,
        pending_tasks_count: 0,
        registered_at: None,
        attributes: since
            .map(|s| {
                [(DRAIN_SINCE_ATTRIBUTE.to_string(), s.to_string())]
                    .into_iter()
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn actions(p: &TargetPlan) -> Vec<&Action> {
    p.actions.iter().map(|a| &a.action).collect()
}

fn completes(p: &TargetPlan) -> bool {
    actions(p).iter().any(|a| {
        matches!(a, Action::CompleteLifecycleAction { instance_id, hook, .. }
            if instance_id == "i-web-asg-1" && hook == AMIROLL_HOOK)
    })
}

fn heartbeats(p: &TargetPlan) -> bool {
    actions(p)
        .iter()
        .any(|a| matches!(a, Action::RecordLifecycleActionHeartbeat { .. }))
}

fn ago(minutes: i64) -> String {
    (now() - Duration::minutes(minutes)).to_rfc3339()
}

#[test]
fn an_active_instance_with_tasks_is_drained_and_its_start_recorded() {
    let p = fleet(Some(ci("i-web-asg-1", "ACTIVE", 3, None)), "").plan();
    let a = actions(&p);
    let drain = a
        .iter()
        .position(|a| matches!(a, Action::DrainContainerInstances { instance_ids, .. } if instance_ids == &vec!["i-web-asg-1".to_string()]))
        .expect("drain");
    let mark = a
        .iter()
        .position(|a| matches!(a, Action::MarkDrainStart { since, .. } if *since == now()))
        .expect("mark");
    // The drain first: a run that stops in between gives the instance more time, never less.
    assert!(drain < mark, "{a:?}");
    assert!(!completes(&p));
}

#[test]
fn an_instance_with_no_task_left_goes() {
    for c in [
        ci("i-web-asg-1", "DRAINING", 0, Some(&ago(3))),
        ci("i-web-asg-1", "ACTIVE", 0, None),
    ] {
        let p = fleet(Some(c), "").plan();
        assert!(completes(&p), "{:#?}", p.actions);
        assert!(!actions(&p)
            .iter()
            .any(|a| matches!(a, Action::DrainContainerInstances { .. })));
    }
    // Not registered in the cluster: nothing to drain.
    let p = fleet(None, "").plan();
    assert!(completes(&p), "{:#?}", p.actions);
}

#[test]
fn a_draining_instance_waits_within_the_drain_timeout_and_goes_after_it_with_a_warning() {
    let p = fleet(Some(ci("i-web-asg-1", "DRAINING", 2, Some(&ago(4)))), "").plan();
    assert!(!completes(&p));
    // amiroll's hook waits drain_timeout + 5 minutes: no heartbeat needed.
    assert!(!heartbeats(&p));
    let p = fleet(Some(ci("i-web-asg-1", "DRAINING", 2, Some(&ago(10)))), "").plan();
    assert!(completes(&p));
    assert!(
        p.findings
            .iter()
            .any(|f| f.message.contains("i-web-asg-1") && f.message.contains("drain_timeout")),
        "{:#?}",
        p.findings
    );
    // DRAINING without the record (a run stopped in between): its timeout starts now.
    let p = fleet(Some(ci("i-web-asg-1", "DRAINING", 2, None)), "").plan();
    assert!(!completes(&p));
    assert!(actions(&p)
        .iter()
        .any(|a| matches!(a, Action::MarkDrainStart { .. })));
}

#[test]
fn someone_elses_short_hook_gets_heartbeats_only_within_the_drain_timeout() {
    let mut f = fleet(
        Some(ci("i-web-asg-1", "DRAINING", 2, Some(&ago(4)))),
        "ecs_lifecycle_hook = \"drain\"\ndrain_timeout = \"20m\"",
    );
    f.config_toml = f
        .config_toml
        .replace("ecs_drain = \"lifecycle-hook\"\n", "");
    f.obs
        .lifecycle_hooks
        .insert("web-asg".to_string(), vec![hook("drain", 300)]);
    // 4 minutes in, 16 left: a 5-minute heartbeat fits.
    let p = f.plan();
    assert!(heartbeats(&p), "{:#?}", p.actions);
    assert!(!completes(&p));
    assert!(!actions(&p)
        .iter()
        .any(|a| matches!(a, Action::PutLifecycleHook { .. })));
    // 17 minutes in: a heartbeat would carry it past the drain timeout.
    f.obs
        .clusters
        .get_mut("prod")
        .expect("prod")
        .container_instances[1] = ci("i-web-asg-1", "DRAINING", 2, Some(&ago(17)));
    let p = f.plan();
    assert!(!heartbeats(&p), "{:#?}", p.actions);
}

#[test]
fn amiroll_puts_its_hook_when_it_is_missing_or_differs() {
    let mut f = fleet(None, "");
    f.obs.lifecycle_hooks.insert("web-asg".to_string(), vec![]);
    let p = f.plan();
    let put: Vec<&Action> = actions(&p)
        .into_iter()
        .filter(|a| matches!(a, Action::PutLifecycleHook { .. }))
        .collect();
    assert_eq!(
        put,
        vec![&Action::PutLifecycleHook {
            group: "web-asg".to_string(),
            hook: AMIROLL_HOOK.to_string(),
            heartbeat_timeout_secs: 900,
            default_result: "CONTINUE".to_string(),
        }]
    );
    // A drain_timeout changed since: the hook is corrected.
    let f = fleet(None, "drain_timeout = \"30m\"");
    let p = f.plan();
    assert!(actions(&p).iter().any(|a| matches!(
        a,
        Action::PutLifecycleHook {
            heartbeat_timeout_secs: 2100,
            ..
        }
    )));
    // As wanted: nothing to put.
    let p = fleet(None, "").plan();
    assert!(!actions(&p)
        .iter()
        .any(|a| matches!(a, Action::PutLifecycleHook { .. })));
}

#[test]
fn a_named_hook_that_holds_launches_is_refused() {
    let mut f = fleet(None, "ecs_lifecycle_hook = \"drain\"");
    f.config_toml = f
        .config_toml
        .replace("ecs_drain = \"lifecycle-hook\"\n", "");
    let mut h = hook("drain", 300);
    h.transition = "autoscaling:EC2_INSTANCE_LAUNCHING".to_string();
    f.obs.lifecycle_hooks.insert("web-asg".to_string(), vec![h]);
    let p = f.plan();
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
    let text = p.errors.iter().map(|e| e.to_string()).collect::<String>();
    assert!(
        text.contains("drain") && text.contains("EC2_INSTANCE_LAUNCHING"),
        "{text}"
    );
}

/// A refresh of an ECS group that nothing drains says so while the group is rolling; with the
/// hook, it does not.
#[test]
fn an_undrained_refresh_of_an_ecs_group_is_warned_about() {
    let warned = |p: &TargetPlan| {
        p.findings
            .iter()
            .any(|f| f.message.contains("nothing to drain it"))
    };
    let mut f = fleet(None, "");
    f.config_toml = f
        .config_toml
        .replace("ecs_drain = \"lifecycle-hook\"\n", "");
    f.group_mut("web-asg").instances[1].lifecycle_state = "InService".to_string();
    f.obs.lifecycle_hooks.clear();
    // Current: nothing to say.
    assert!(!warned(&f.plan()));
    f.set_param(AMI_NEW);
    let p = f.plan();
    assert!(warned(&p), "{:#?}", p.findings);
    // With the hook: drained, no warning.
    let mut f = fleet(None, "");
    f.group_mut("web-asg").instances[1].lifecycle_state = "InService".to_string();
    f.set_param(AMI_NEW);
    assert!(!warned(&f.plan()));
}

/// A target whose rollout stops on an error (here the parameter names no AMI) still drains the
/// instances Auto Scaling holds for its hook: the error is about the next rollout, their tasks
/// run now. The plan stays an error and carries only the pass over the held instances.
#[test]
fn a_target_in_error_still_drains_what_its_hook_holds_and_nothing_else() {
    let mut f = fleet(Some(ci("i-web-asg-1", "ACTIVE", 3, None)), "");
    f.set_param("not-an-ami");
    let p = f.plan();
    assert_eq!(p.status, amiroll_core::model::TargetStatus::Error, "{p:#?}");
    assert!(!p.errors.is_empty());
    let a = actions(&p);
    assert!(
        a.iter().all(|a| matches!(
            a,
            Action::DrainContainerInstances { .. } | Action::MarkDrainStart { .. }
        )),
        "{a:?}"
    );
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::DrainContainerInstances { instance_ids, .. } if instance_ids == &vec!["i-web-asg-1".to_string()])),
        "{a:?}"
    );
    assert!(p.summary.contains("held instance"), "{}", p.summary);
    assert!(
        p.findings.iter().any(
            |f| f.message.contains("i-web-asg-1") && f.message.contains("stopped by the error")
        ),
        "{:#?}",
        p.findings
    );

    // Once its tasks have moved, a later run in error lets it go.
    let mut f = fleet(Some(ci("i-web-asg-1", "DRAINING", 0, Some(&ago(3)))), "");
    f.set_param("not-an-ami");
    let p = f.plan();
    assert_eq!(p.status, amiroll_core::model::TargetStatus::Error);
    assert!(completes(&p), "{:#?}", p.actions);
}

/// In error, amiroll changes no hook (a missing or different one of its own is not put), and a
/// group whose ECS cluster is not known this run is left to the hook's timeout rather than let
/// go undrained.
#[test]
fn a_target_in_error_puts_no_hook_and_lets_nothing_go_blind() {
    let mut f = fleet(Some(ci("i-web-asg-1", "ACTIVE", 3, None)), "");
    f.set_param("not-an-ami");
    f.obs.lifecycle_hooks.insert(
        "web-asg".to_string(),
        vec![hook(AMIROLL_HOOK, heartbeat_for(600) + 60)],
    );
    let p = f.plan();
    assert!(
        !actions(&p)
            .iter()
            .any(|a| matches!(a, Action::PutLifecycleHook { .. })),
        "{:#?}",
        p.actions
    );
    assert!(actions(&p)
        .iter()
        .any(|a| matches!(a, Action::DrainContainerInstances { .. })));

    let mut f = fleet(Some(ci("i-web-asg-1", "ACTIVE", 3, None)), "");
    f.set_param("not-an-ami");
    f.obs.ecs_clusters.clear();
    let p = f.plan();
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
    assert!(p.summary.starts_with("nothing changed"), "{}", p.summary);

    // Without a hook configured, an error plan has no action at all.
    let mut f = Fleet::healthy();
    f.set_param("not-an-ami");
    let p = f.plan();
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
}
