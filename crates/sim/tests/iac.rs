//! Infrastructure-as-code without drift, end to end against the simulated account: an instance
//! refresh with `auto_rollback` pins a `$Default`/`$Latest` group to a number for its rollout,
//! and after success puts it back on the reference it named, so that the group matches its
//! Terraform or CloudFormation again. A failed refresh leaves the pin; a run that stops between
//! the update and the removal of the record converges.

mod common;

use std::time::Duration;

use amiroll_core::model::TargetStatus;
use amiroll_core::planner::tags;
use amiroll_core::port::{op, InstanceOverride};
use amiroll_core::RunError;
use amiroll_sim::GroupSpec;
use common::*;

/// The world with the config-file default strategy (instance-refresh, auto rollback on).
fn world() -> World {
    let w = World::new();
    World {
        toml: w.toml.replace("strategy = \"scheduled-surge\"\n", ""),
        ..w
    }
}

/// How group `name` names its template version, as Auto Scaling reports it.
fn reference(w: &World, name: &str) -> String {
    let g = w.sim.group(name);
    g.launch_template
        .as_ref()
        .or(g.mixed_instances_policy.as_ref().map(|m| &m.template))
        .and_then(|s| s.version.clone())
        .unwrap_or_default()
}

fn pinned_from(w: &World, name: &str) -> Option<String> {
    w.sim.group(name).tags.get(tags::PINNED_FROM).cloned()
}

/// One run starts the refresh of `group`; then Auto Scaling carries it out (no run needed) until
/// it has ended. The group is pinned to a number all along. Returns the group's instances then.
fn until_refresh_ends(w: &World, group: &str) -> Vec<String> {
    w.apply_ok();
    for _ in 0..240 {
        let ended = w
            .sim
            .instance_refreshes(group)
            .first()
            .is_some_and(|r| r.status == "Successful" || r.status.starts_with("Rollback"));
        if ended {
            return instance_ids(w, group);
        }
        assert!(
            reference(w, group).parse::<u64>().is_ok(),
            "pinned to a number while its refresh runs: {}",
            reference(w, group)
        );
        w.sim.advance(Duration::from_secs(60));
    }
    panic!("the refresh of {group} never ended");
}

fn instance_ids(w: &World, group: &str) -> Vec<String> {
    let mut ids: Vec<String> = w
        .sim
        .group(group)
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_default_group_ends_on_default_after_a_successful_refresh() {
    let w = world();
    w.publish(NEW);
    let refreshed = until_refresh_ends(&w, "web");
    assert_eq!(reference(&w, "web"), "2", "the refresh leaves it on v2");
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(w.sim.template(&w.lt).default_version, 2);
    assert_eq!(reference(&w, "web"), "$Default");
    assert_eq!(pinned_from(&w, "web"), None);
    // Going back replaced no instance: a group's template only decides its next launches.
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(instance_ids(&w, "web"), refreshed);
    // Nothing left to do.
    let before = w.sim.call_log().len();
    w.apply_ok();
    let later: Vec<_> = w.sim.call_log()[before..].to_vec();
    assert!(later.iter().all(|c| !WRITES.contains(c)), "{later:?}");

    // The next AMI pins and puts back again.
    w.publish(NEWER);
    until_refresh_ends(&w, "web");
    w.converge();
    assert_eq!(reference(&w, "web"), "$Default");
    assert_eq!(pinned_from(&w, "web"), None);
    assert_eq!(w.sim.template(&w.lt).default_version, 3);
    w.assert_converged("web", NEWER, (1, 4, 2));
}

#[test]
fn a_latest_group_ends_on_latest_after_a_successful_refresh() {
    let w = world();
    w.sim
        .create_group(
            GroupSpec::new("latest", &w.lt, 1, 4, 2)
                .with_version("$Latest")
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["latest"]);
    w.publish(NEW);
    until_refresh_ends(&w, "latest");
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(reference(&w, "latest"), "$Latest");
    assert_eq!(pinned_from(&w, "latest"), None);
    w.assert_converged("latest", NEW, (1, 4, 2));
}

#[test]
fn a_mixed_group_ends_on_default_through_its_policy() {
    let w = world();
    w.sim
        .create_group(
            GroupSpec::new("mixed", &w.lt, 1, 4, 2)
                .with_overrides(vec![
                    InstanceOverride {
                        instance_type: Some("m5.large".to_string()),
                        ..InstanceOverride::default()
                    },
                    InstanceOverride {
                        instance_type: Some("m5.xlarge".to_string()),
                        ..InstanceOverride::default()
                    },
                ])
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["mixed"]);
    w.publish(NEW);
    until_refresh_ends(&w, "mixed");
    w.converge();
    let g = w.sim.group("mixed");
    let policy = g.mixed_instances_policy.expect("still a mixed group");
    assert_eq!(policy.template.version.as_deref(), Some("$Default"));
    assert_eq!(policy.overrides.len(), 2, "the overrides are kept");
    assert_eq!(pinned_from(&w, "mixed"), None);
    w.assert_converged("mixed", NEW, (1, 4, 2));
}

#[test]
fn a_failed_refresh_leaves_the_group_pinned_where_the_rollback_put_it() {
    let w = world();
    w.publish(BAD);
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Failed);
    assert_eq!(
        w.sim.instance_refreshes("web")[0].status,
        "RollbackSuccessful"
    );
    assert_eq!(reference(&w, "web"), "1", "the saved configuration");
    assert_eq!(pinned_from(&w, "web").as_deref(), Some("$Default"));
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
    // Later runs leave it so.
    w.sim.advance(Duration::from_secs(3600));
    for _ in 0..3 {
        w.apply_ok();
    }
    assert_eq!(reference(&w, "web"), "1");
    assert_eq!(pinned_from(&w, "web").as_deref(), Some("$Default"));
    // A newer good AMI rolls the pinned group (the pin is amiroll's) and puts it back.
    w.publish(NEWER);
    until_refresh_ends(&w, "web");
    w.converge();
    assert_eq!(reference(&w, "web"), "$Default");
    assert_eq!(pinned_from(&w, "web"), None);
    w.assert_converged("web", NEWER, (1, 4, 2));
}

#[test]
fn a_crash_between_the_update_and_the_untag_converges() {
    // Where the restore's update is in a clean rollout's calls.
    let at = {
        let w = world();
        w.publish(NEW);
        let before = w.sim.call_log().len();
        w.converge();
        let log: Vec<&str> = w.sim.call_log()[before..].to_vec();
        let i = log
            .iter()
            .rposition(|c| *c == op::UPDATE_AUTO_SCALING_GROUP)
            .expect("the group was updated");
        assert_eq!(log.get(i + 1), Some(&op::DELETE_TAGS), "{log:?}");
        i + 1
    };
    let w = world();
    w.publish(NEW);
    w.sim.crash_after(at);
    let mut crashed = false;
    for _ in 0..40 {
        match w.apply() {
            Ok(_) => w.sim.advance(Duration::from_secs(5 * 60)),
            Err(RunError::Crashed(_)) => {
                crashed = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(crashed);
    // The group is back on $Default; the record is still there.
    assert_eq!(reference(&w, "web"), "$Default");
    assert_eq!(pinned_from(&w, "web").as_deref(), Some("$Default"));
    w.sim.clear_faults();
    let before = w.sim.call_log().len();
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    assert_eq!(reference(&w, "web"), "$Default");
    assert_eq!(pinned_from(&w, "web"), None);
    w.assert_converged("web", NEW, (1, 4, 2));
    let after: Vec<&str> = w.sim.call_log()[before..].to_vec();
    assert!(
        !after.contains(&op::UPDATE_AUTO_SCALING_GROUP),
        "only the record is removed: {after:?}"
    );
    assert!(after.contains(&op::DELETE_TAGS), "{after:?}");
}

/// The engine checks the reference again just before the update: someone creates a version
/// between the observation and the restore of a `$Latest` group, so `$Latest` would launch
/// theirs. The group stays pinned, its record kept, the step reported not done; later runs
/// leave it pinned while `$Latest` is another version, and say why.
#[test]
fn a_version_made_between_plan_and_restore_keeps_the_group_pinned() {
    let w = world();
    w.sim
        .create_group(
            GroupSpec::new("latest", &w.lt, 1, 4, 2)
                .with_version("$Latest")
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["latest"]);
    w.publish(NEW);
    until_refresh_ends(&w, "latest");
    w.sim.after_call(op::DESCRIBE_INSTANCE_REFRESHES, 1, |sim| {
        let _ = sim.create_launch_template_version_raw(
            "ecs",
            Some(1),
            amiroll_sim::TemplateData::new(OLD, "m5.24xlarge"),
            Some("someone else"),
        );
    });
    let r = w.apply_ok();
    let restore = r.targets[0]
        .results
        .iter()
        .find(|x| x.action.contains("back on $Latest"))
        .expect("the restore was planned");
    assert_eq!(
        restore.result,
        amiroll_core::model::StepResult::NotDone,
        "{restore:?}"
    );
    assert!(
        restore.detail.as_deref().unwrap_or("").contains("v3"),
        "{restore:?}"
    );
    assert_eq!(reference(&w, "latest"), "2");
    assert_eq!(pinned_from(&w, "latest").as_deref(), Some("$Latest"));
    let r = w.apply_ok();
    assert!(
        r.targets[0]
            .plan
            .findings
            .iter()
            .any(|f| f.message.contains("stays pinned to v2")),
        "{:#?}",
        r.targets[0].plan
    );
    assert_eq!(reference(&w, "latest"), "2");
}
