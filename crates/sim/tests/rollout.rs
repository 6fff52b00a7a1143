//! The engine end to end against the simulated account: rollouts, the seed script's latent bugs
//! (aws-semantics.md §10) as scenarios, and bad input that must change nothing.

mod common;

use std::time::Duration;

use amiroll_core::model::{Refusal, TargetStatus};
use amiroll_core::port::op;
use amiroll_sim::{GroupSpec, TemplateData};
use common::*;

#[test]
fn a_new_ami_rolls_the_whole_fleet_and_restores_capacity() {
    let w = World::new();
    let first = w.apply_ok();
    assert_eq!(first.targets[0].plan.status, TargetStatus::Current);
    assert!(w.writes().is_empty(), "a current fleet is left alone");

    w.publish(NEW);
    w.sim.reset_stats("web");
    let last = w.converge();
    assert_eq!(last.targets[0].plan.status, TargetStatus::Current);
    w.assert_converged("web", NEW, (1, 4, 2));
    // Exactly one new version, default by number, the previous kept to roll back to.
    assert_eq!(w.versions(), vec![1, 2]);
    assert_eq!(w.sim.template(&w.lt).default_version, 2);
    let v2 = w.sim.template_version_data(&w.lt, 2).expect("v2");
    assert_eq!(
        v2.instance_type.as_deref(),
        Some("m5.large"),
        "inherited, not dropped"
    );
    assert_eq!(v2.user_data.as_deref(), Some("ECS_CLUSTER=prod"));
    // Capacity never below the original healthy count, never past the surge.
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
    assert!(w.sim.max_capacity_seen("web") <= 4);
    assert_eq!(w.events_of("rollout-started"), 1);
    assert_eq!(w.events_of("rollout-succeeded"), 1);
    // Done means done: another run changes nothing and says nothing.
    let before = w.sim.call_log().len();
    let again = w.apply_ok();
    assert_eq!(again.targets[0].plan.status, TargetStatus::Current);
    let later: Vec<_> = w.sim.call_log()[before..].to_vec();
    assert!(
        later
            .iter()
            .all(|c| !WRITES.contains(c) && *c != op::PUBLISH),
        "{later:?}"
    );
}

#[test]
fn a_bad_ami_is_stopped_before_the_settle_and_the_old_instances_kept() {
    let w = World::new();
    w.publish(BAD);
    let last = w.converge();
    let t = &last.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Failed, "{:#?}", t.plan);
    // The old instances were protected and kept; the group went back to its sizes, which
    // removed the unhealthy new ones (bug 6: an aborted surge gives the capacity back). The run
    // after the abort sees the scale-in done and closes the round.
    assert!(
        t.plan.groups[0].state.contains("restoring"),
        "{}",
        t.plan.groups[0].state
    );
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Failed);
    let by_ami = w.sim.instances_by_ami("web");
    assert_eq!(by_ami.get(OLD), Some(&2), "{by_ami:?}");
    assert_eq!(by_ami.get(BAD), None, "{by_ami:?}");
    assert_eq!(w.sim.group_capacity("web"), (1, 4, 2));
    let g = w.sim.group("web");
    assert!(
        g.instances.iter().all(|i| !i.protected_from_scale_in),
        "amiroll lifted its protection: {:?}",
        g.instances
    );
    assert!(!g.tags.contains_key("amiroll:rollout"), "{:?}", g.tags);
    assert_eq!(
        g.tags.get("amiroll:failed-ami").map(String::as_str),
        Some(BAD)
    );
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
    // New launches go back to the version the fleet ran before.
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
    assert_eq!(w.events_of("rollout-failed"), 1);
    // Later runs neither retry this AMI nor repeat the notification.
    w.sim.advance(Duration::from_secs(3600));
    for _ in 0..3 {
        let r = w.apply_ok();
        assert_eq!(r.targets[0].plan.status, TargetStatus::Failed);
    }
    assert_eq!(w.events_of("rollout-failed"), 1);
    assert_eq!(w.versions(), vec![1, 2]);
    // A newer good AMI supersedes the failure and restores the recorded original capacity.
    w.publish(NEWER);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("web", NEWER, (1, 4, 2));
}

#[test]
fn seed_bug_1_2_an_unrelated_latest_version_is_not_inherited() {
    let w = World::new();
    // Someone's experiment: v2 is $Latest but not the default.
    w.sim
        .create_launch_template_version_raw(
            &w.lt,
            Some(1),
            TemplateData::new(OLD, "m5.24xlarge"),
            Some("experiment"),
        )
        .expect("v2");
    w.publish(NEW);
    w.apply_ok();
    let v3 = w.sim.template_version_data(&w.lt, 3).expect("v3 created");
    assert_eq!(v3.image_id.as_deref(), Some(NEW));
    assert_eq!(
        v3.instance_type.as_deref(),
        Some("m5.large"),
        "built from v1, what the group launches"
    );
    assert_eq!(w.sim.template(&w.lt).default_version, 3);
}

#[test]
fn seed_bug_4_pruning_never_deletes_version_zero_or_the_rollback_version() {
    let w = World::new().setting("prune = \"all\"");
    w.publish(NEW);
    w.converge();
    assert_eq!(
        w.versions(),
        vec![1, 2],
        "one-version template: nothing to delete"
    );
    assert_eq!(w.sim.call_count(op::DELETE_LAUNCH_TEMPLATE_VERSIONS), 0);
    w.publish(NEWER);
    w.converge();
    // Keep 2: the new v3 and the rollback v2; v1 goes.
    assert_eq!(w.versions(), vec![2, 3]);
    w.assert_converged("web", NEWER, (1, 4, 2));
}

#[test]
fn seed_bug_4_default_prune_spares_versions_amiroll_did_not_make() {
    let w = World::new();
    w.publish(NEW);
    w.converge();
    w.publish(NEWER);
    w.converge();
    // prune = "own": v1 was made by hand and stays; v2 is the rollback version.
    assert_eq!(w.versions(), vec![1, 2, 3]);
}

#[test]
fn seed_bug_5_a_pinned_group_is_refused_and_nothing_changes() {
    let w = World::new();
    w.sim
        .create_group(GroupSpec::new("pinned", &w.lt, 1, 2, 1).with_version("1"))
        .expect("group");
    let w = w.targeting(&["pinned"]);
    w.publish(NEW);
    let r = w.apply_ok();
    let t = &r.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Error);
    assert_eq!(
        t.plan.errors,
        vec![Refusal::Pinned {
            group: "pinned".to_string(),
            version: 1,
            template: "ecs".to_string(),
        }]
    );
    assert!(w.writes().is_empty(), "{:?}", w.writes());
    assert_eq!(w.events_of("error"), 1, "the refusal is notified");

    // With pinned = "update", the group is re-pinned to the new version and rolled.
    let w = w.setting("pinned = \"update\"\nset_termination_policy = true");
    w.converge();
    w.assert_converged("pinned", NEW, (1, 2, 1));
    let g = w.sim.group("pinned");
    assert_eq!(
        g.launch_template.and_then(|s| s.version).as_deref(),
        Some("2")
    );
}

/// Eventual consistency: re-pinning a group to the version just created is retried while Auto
/// Scaling does not see the version yet.
#[test]
fn re_pinning_to_a_version_auto_scaling_does_not_see_yet_is_retried() {
    let w = World::new();
    w.sim
        .create_group(GroupSpec::new("pinned", &w.lt, 1, 2, 1).with_version("1"))
        .expect("group");
    let w = w
        .targeting(&["pinned"])
        .setting("pinned = \"update\"\nset_termination_policy = true");
    w.sim.delay_version_visibility(2);
    w.publish(NEW);
    let first = w.apply_ok();
    assert_eq!(
        first.targets[0].apply_error, None,
        "{:#?}",
        first.targets[0].results
    );
    w.converge();
    w.assert_converged("pinned", NEW, (1, 2, 1));
}

#[test]
fn a_failed_surge_re_pins_a_pinned_group_to_the_version_it_ran_before() {
    // pinned = "update": amiroll re-pins the group to the new version for the round. When the
    // round fails, the group must go back with the default; left on the bad version, its next
    // launch would bring the AMI that failed back into the fleet.
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("pinned", &w.lt, 1, 4, 2)
                .with_version("1")
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["pinned"]).setting("pinned = \"update\"");
    w.publish(BAD);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Failed,
        "{:#?}",
        last.targets[0].plan
    );
    assert_eq!(w.sim.template(&w.lt).default_version, 1);
    let g = w.sim.group("pinned");
    assert_eq!(
        g.launch_template.and_then(|s| s.version).as_deref(),
        Some("1"),
        "the group launches the version it ran before"
    );
    // The failed round removed its new instances; a scale-out now launches the old AMI, not
    // the one that failed.
    w.apply_ok();
    assert_eq!(w.sim.instances_by_ami("pinned").get(BAD), None);
    w.sim.set_desired_capacity("pinned", 4).expect("scale out");
    w.sim.advance(Duration::from_secs(600));
    let by_ami = w.sim.instances_by_ami("pinned");
    assert_eq!(
        by_ami.get(BAD),
        None,
        "no new instance on the bad AMI: {by_ami:?}"
    );
    assert_eq!(by_ami.get(OLD), Some(&4), "{by_ami:?}");
    // Later runs leave it there and do not retry.
    for _ in 0..2 {
        let r = w.apply_ok();
        assert_eq!(r.targets[0].plan.status, TargetStatus::Failed);
    }
    let g = w.sim.group("pinned");
    assert_eq!(
        g.launch_template.and_then(|s| s.version).as_deref(),
        Some("1")
    );
}

#[test]
fn seed_bug_5_latest_group_never_sees_an_unvalidated_version() {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("latest", &w.lt, 1, 3, 1)
                .with_version("$Latest")
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["web", "latest"]);
    w.publish(ARM); // wrong architecture for m5.large
    let r = w.apply_ok();
    assert_eq!(r.targets[0].plan.status, TargetStatus::Error);
    assert!(w.writes().is_empty());
    assert_eq!(w.versions(), vec![1]);
    w.publish(NEW);
    w.converge();
    w.assert_converged("latest", NEW, (1, 3, 1));
    w.assert_converged("web", NEW, (1, 4, 2));
}

#[test]
fn seed_bug_6_recommended_json_is_read_and_misuse_is_refused() {
    // A …/recommended parameter holds JSON; amiroll takes image_id from it.
    let w = World::new();
    let json_param = "/amiroll/ecs/recommended";
    w.sim.put_parameter(
        json_param,
        &format!(r#"{{"schema_version":1,"image_name":"ecs-2026.11.20","image_id":"{NEW}","os":"Amazon Linux 2023"}}"#),
    );
    let w = World {
        toml: w.toml.replace(PARAM, json_param),
        ..w
    };
    w.converge();
    w.assert_converged("web", NEW, (1, 4, 2));

    // The same JSON in a parameter that should hold an id: refused, nothing written.
    let w = World::new();
    w.publish(&format!(r#"{{"image_id":"{NEW}"}}"#));
    let r = w.apply_ok();
    assert!(
        matches!(&r.targets[0].plan.errors[0], Refusal::ParameterIsJson { parameter } if parameter == PARAM),
        "{:?}",
        r.targets[0].plan.errors
    );
    assert!(w.writes().is_empty());
}

#[test]
fn seed_bug_6_deprecated_downgrade_and_missing_amis_change_nothing() {
    // The refusals of a fresh world whose parameter names `ami`; nothing is written.
    let refusals = |ami: &str| {
        let w = World::new();
        w.publish(ami);
        let r = w.apply_ok();
        assert!(w.writes().is_empty(), "{ami}");
        r.targets[0].plan.errors.clone()
    };
    let missing = "ami-0000000000000f999";
    let e = refusals(missing);
    assert!(
        matches!(&e[..], [Refusal::AmiMissing { ami, parameter, .. }] if ami == missing && parameter == PARAM),
        "{e:?}"
    );
    let e = refusals(ARM);
    assert!(
        matches!(&e[..], [Refusal::ArchitectureMismatch { ami, architecture, instance_type, .. }]
            if ami == ARM && architecture == "arm64" && instance_type == "m5.large"),
        "{e:?}"
    );
    let w = World::new();
    w.publish("not-an-ami");
    let r = w.apply_ok();
    assert!(
        matches!(&r.targets[0].plan.errors[0], Refusal::NotAnAmi { parameter, value } if parameter == PARAM && value == "not-an-ami"),
        "{:?}",
        r.targets[0].plan.errors
    );
    assert!(w.writes().is_empty());
    // Downgrade: the fleet runs NEWER; the parameter goes back to NEW.
    let w = World::new();
    w.publish(NEWER);
    w.converge();
    w.publish(NEW);
    let before = w.writes().len();
    let r = w.apply_ok();
    assert!(
        matches!(&r.targets[0].plan.errors[..], [Refusal::Downgrade { ami, current, .. }] if ami == NEW && current == NEWER),
        "{:?}",
        r.targets[0].plan.errors
    );
    assert_eq!(w.writes().len(), before);
}

#[test]
fn seed_bug_7_a_resolve_ssm_template_is_not_rewritten() {
    let w = World::new();
    let lt = w
        .sim
        .create_launch_template(
            "alias",
            TemplateData::new(format!("resolve:ssm:{PARAM}"), "m5.large"),
        )
        .expect("template");
    w.sim
        .create_group(
            GroupSpec::new("alias-asg", &lt, 1, 3, 1)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = World {
        toml: w
            .toml
            .replace("[\"web\"]", "[\"alias-asg\"]")
            .replace("\"ecs\"", "\"alias\""),
        ..w
    };
    w.publish(NEW);
    w.converge();
    assert_eq!(
        w.sim.template_versions(&lt).len(),
        1,
        "no version replaces the alias"
    );
    w.assert_converged("alias-asg", NEW, (1, 3, 1));
}

#[test]
fn seed_bug_8_desired_at_max_and_min_above_one() {
    let w = World::new();
    for (name, (min, max, desired)) in [("full", (1, 1, 1)), ("wide", (2, 4, 2))] {
        w.sim
            .create_group(
                GroupSpec::new(name, &w.lt, min, max, desired)
                    .with_termination_policies(&["OldestLaunchTemplate"]),
            )
            .expect("group");
    }
    let w = w.targeting(&["web", "full", "wide"]);
    w.publish(NEW);
    w.converge();
    w.assert_converged("full", NEW, (1, 1, 1));
    w.assert_converged("wide", NEW, (2, 4, 2));
    assert_eq!(
        w.sim.max_capacity_seen("full"),
        2,
        "max raised by one for the surge only"
    );
}

#[test]
fn seed_bug_9_action_names_are_unique_per_group_and_seed_leftovers_are_reported() {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("api", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["web", "api"]);
    w.sim
        .add_scheduled_action(amiroll_core::port::ScheduledAction {
            group_name: "web".to_string(),
            name: "Desire 2".to_string(),
            start_time: w.sim.now() + chrono::Duration::days(2),
            min_size: None,
            max_size: None,
            desired_capacity: Some(2),
            recurrence: None,
        })
        .expect("seed leftover");
    w.publish(NEW);
    let r = w.apply_ok();
    let web: Vec<String> = w
        .sim
        .scheduled_actions("web")
        .into_iter()
        .map(|a| a.name)
        .collect();
    let api: Vec<String> = w
        .sim
        .scheduled_actions("api")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert!(web
        .iter()
        .filter(|n| n.starts_with("amiroll-"))
        .all(|n| !api.contains(n)));
    assert!(
        web.contains(&"Desire 2".to_string()),
        "someone else's action is left alone"
    );
    assert!(r.targets[0]
        .plan
        .findings
        .iter()
        .any(|f| f.message.contains("Desire 2")));
}

#[test]
fn seed_bug_10_termination_policy_is_required_or_set() {
    let w = World::new();
    w.sim
        .create_group(GroupSpec::new("dflt", &w.lt, 1, 4, 2))
        .expect("group with the Default policy");
    let w = w.targeting(&["dflt"]);
    w.publish(NEW);
    let r = w.apply_ok();
    assert!(
        matches!(&r.targets[0].plan.errors[0], Refusal::TerminationPolicies { group, .. } if group == "dflt"),
        "{:?}",
        r.targets[0].plan.errors
    );
    assert!(w.writes().is_empty());
    let w = w.setting("set_termination_policy = true");
    w.converge();
    w.assert_converged("dflt", NEW, (1, 4, 2));
    assert_eq!(
        w.sim.group("dflt").termination_policies[0],
        "OldestLaunchTemplate"
    );
}

#[test]
fn seed_bug_11_a_template_updated_by_a_crashed_run_still_gets_its_fleet_rolled() {
    let w = World::new();
    // The seed's run got as far as the template, then died: default v2 on NEW, fleet on OLD.
    let v2 = w
        .sim
        .create_launch_template_version_raw(
            &w.lt,
            Some(1),
            TemplateData::new(NEW, "m5.large"),
            Some("Latest-AMI"),
        )
        .expect("v2");
    w.sim.set_default_version(&w.lt, v2).expect("default");
    w.publish(NEW);
    let r = w.apply_ok();
    assert_eq!(
        r.targets[0].plan.status,
        TargetStatus::Drift,
        "not 'AMI is current'"
    );
    w.converge();
    w.assert_converged("web", NEW, (1, 4, 2));
    assert_eq!(w.versions(), vec![1, 2], "no extra version");
}

#[test]
fn seed_bug_12_a_duplicate_invocation_does_the_work_once() {
    let w = World::new();
    w.publish(NEW);
    w.apply_ok();
    let writes = w.writes().len();
    let r = w.apply_ok();
    assert_eq!(w.writes().len(), writes, "the retry changed nothing");
    assert_eq!(r.targets[0].plan.status, TargetStatus::Rolling);
    assert_eq!(w.versions(), vec![1, 2]);
    assert_eq!(w.events_of("rollout-started"), 1);
}

#[test]
fn seed_bug_15_17_notifications_and_descriptions_say_what_happened() {
    let w = World::new();
    w.publish(NEW);
    w.apply_ok();
    let n = &w.sim.published(&w.topic)[0];
    assert!(n.subject.len() < 100 && !n.subject.contains('\n'));
    assert!(n.message.contains(NEW) && n.message.contains("--- detail (JSON) ---"));
    assert_eq!(
        n.attributes.get("event").map(String::as_str),
        Some("rollout-started")
    );
    assert_eq!(n.attributes.get("target").map(String::as_str), Some("web"));
    let v2 = w
        .sim
        .template_versions(&w.lt)
        .into_iter()
        .find(|v| v.version == 2)
        .expect("v2");
    let d = v2.description.unwrap_or_default();
    assert!(
        d.contains(NEW) && d.contains("ecs-2026.11.20") && d.contains(&format!("{PARAM}:2")),
        "{d}"
    );
}

#[test]
fn bad_input_changes_nothing() {
    // Missing group.
    let w = World::new();
    let w = w.targeting(&["nope"]);
    w.publish(NEW);
    let r = w.apply_ok();
    assert_eq!(
        r.targets[0].plan.errors,
        vec![Refusal::GroupMissing {
            group: "nope".to_string()
        }]
    );
    assert!(w.writes().is_empty());
    assert_eq!(r.exit_code(), 1);

    // Missing template.
    let w = World::new();
    let w = World {
        toml: w.toml.replace("\"ecs\"", "\"missing-template\""),
        ..w
    };
    w.publish(NEW);
    let r = w.apply_ok();
    assert_eq!(
        r.targets[0].plan.errors,
        vec![Refusal::TemplateMissing {
            template: "missing-template".to_string()
        }]
    );
    assert!(w.writes().is_empty());

    // Missing parameter.
    let w = World::new();
    let w = World {
        toml: w.toml.replace(PARAM, "/amiroll/none"),
        ..w
    };
    let r = w.apply_ok();
    assert_eq!(
        r.targets[0].plan.errors,
        vec![Refusal::ParameterMissing {
            parameter: "/amiroll/none".to_string()
        }]
    );
    assert!(w.writes().is_empty());

    // A topic that does not exist: nothing written, nothing published.
    let w = World::new();
    let w = World {
        toml: w.toml.replace(":amiroll\"", ":no-such-topic\""),
        ..w
    };
    w.publish(NEW);
    let r = w.apply_ok();
    assert!(
        matches!(&r.targets[0].plan.errors[..], [Refusal::TopicMissing { topic }] if topic.ends_with(":no-such-topic")),
        "{:?}",
        r.targets[0].plan.errors
    );
    assert!(w.writes().is_empty());
    assert_eq!(w.sim.call_count(op::PUBLISH), 0);

    // Deprecated AMI.
    let w = World::new();
    w.sim.register_image(
        amiroll_sim::ImageSpec::new("ami-0000000000000fade", "old", "x86_64", w.sim.now())
            .deprecated_at(w.sim.now() - chrono::Duration::days(1)),
    );
    w.publish("ami-0000000000000fade");
    let r = w.apply_ok();
    assert!(
        matches!(&r.targets[0].plan.errors[..], [Refusal::AmiDeprecated { ami, .. }] if ami == "ami-0000000000000fade"),
        "{:?}",
        r.targets[0].plan.errors
    );
    assert!(w.writes().is_empty());
}

#[test]
fn dry_run_changes_nothing_and_sends_nothing() {
    let w = World::new();
    w.publish(NEW);
    let engine = amiroll_core::Engine::new(&w.sim);
    let r = futures::executor::block_on(engine.run(&w.config(), true)).expect("runs");
    assert!(r.dry_run);
    assert!(!r.targets[0].results.is_empty());
    assert!(r.targets[0]
        .results
        .iter()
        .all(|x| x.result == amiroll_core::model::StepResult::NotDone));
    assert!(w.writes().is_empty());
    assert_eq!(w.sim.call_count(op::PUBLISH), 0);
}

#[test]
fn after_a_failed_surge_there_is_nothing_left_to_roll_back() {
    let w = World::new();
    w.publish(BAD);
    w.converge();
    w.apply_ok();
    // The failed round itself removed the bad instances and restored the capacity.
    w.assert_converged("web", OLD, (1, 4, 2));
    let before = w.sim.call_log().len();
    let engine = amiroll_core::Engine::new(&w.sim);
    let r = futures::executor::block_on(engine.rollback(&w.config(), false)).expect("rollback");
    assert!(
        matches!(&r.targets[0].plan.errors[..], [Refusal::NothingToRollBackTo { group, .. }] if group == "web"),
        "{:?}",
        r.targets[0].plan.errors
    );
    let later: Vec<_> = w.sim.call_log()[before..].to_vec();
    assert!(later.iter().all(|c| !WRITES.contains(c)), "{later:?}");
}

#[test]
fn a_surge_capped_by_the_ceiling_replaces_the_fleet_in_rounds() {
    // One AZ: each capped round replaces one instance.
    let w = World::new().setting("surge_max_capacity = 3");
    w.sim
        .create_group(
            GroupSpec::new("one-az", &w.lt, 1, 4, 2)
                .with_availability_zones(&["us-east-1a"])
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    let w = w.targeting(&["one-az"]);
    w.publish(NEW);
    let last = w.converge();
    assert_eq!(
        last.targets[0].plan.status,
        TargetStatus::Current,
        "{:#?}",
        last.targets[0].plan
    );
    w.assert_converged("one-az", NEW, (1, 4, 2));
    assert!(
        w.sim.max_capacity_seen("one-az") <= 3,
        "never past the ceiling"
    );
}

#[test]
fn a_capped_surge_across_two_zones_is_not_defeated_by_az_balancing() {
    // Two AZs: scale-in balances AZs before any termination policy ("Control which Auto Scaling
    // instances terminate during scale in"), so with only the old instances unprotected a
    // one-instance surge could keep removing new instances. amiroll protects the new instances
    // for its settle, so each round removes an old one, and the rollout ends, never past the
    // ceiling and never below the original healthy capacity.
    let w = World::new().setting("surge_max_capacity = 3");
    w.publish(NEW);
    let last = w.converge();
    let t = &last.targets[0];
    assert_eq!(t.plan.status, TargetStatus::Current, "{:#?}", t.plan);
    w.assert_converged("web", NEW, (1, 4, 2));
    assert!(w.sim.max_capacity_seen("web") <= 3);
    assert!(w.sim.min_in_service_healthy_seen("web") >= 2);
    let g = w.sim.group("web");
    assert!(
        g.instances.iter().all(|i| !i.protected_from_scale_in),
        "amiroll lifted every protection it set: {:?}",
        g.instances
    );
}
