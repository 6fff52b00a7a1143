//! Planner scenarios: given this fleet, when the AMI moves, then these actions.

mod common;

use std::collections::BTreeMap;

use amiroll_core::model::{Action, Event, GroupVersion, Refusal, TargetStatus, VersionRef};
use amiroll_core::planner::{self, tags, Capacity};
use common::*;

fn kinds(p: &amiroll_core::model::TargetPlan) -> Vec<&'static str> {
    p.actions
        .iter()
        .map(|a| match a.action {
            Action::CreateVersion { .. } => "create-version",
            Action::SetDefaultVersion { .. } => "set-default",
            Action::DeleteVersions { .. } => "delete-versions",
            Action::PinGroupVersion { .. } => "pin-group",
            Action::RestoreGroupVersion { .. } => "restore-group",
            Action::SetTerminationPolicies { .. } => "set-termination-policies",
            Action::SetInstanceProtection { .. } => "set-protection",
            Action::SetCapacity { .. } => "set-capacity",
            Action::TagGroup { .. } => "tag",
            Action::UntagGroup { .. } => "untag",
            Action::PutScheduledAction { .. } => "put-action",
            Action::DeleteScheduledAction { .. } => "delete-action",
            Action::StartInstanceRefresh { .. } => "start-refresh",
            Action::RollbackInstanceRefresh { .. } => "rollback-refresh",
            Action::CancelInstanceRefresh { .. } => "cancel-refresh",
            Action::DrainContainerInstances { .. } => "drain",
            Action::ActivateContainerInstances { .. } => "activate",
            Action::PutLifecycleHook { .. } => "put-hook",
            Action::MarkDrainStart { .. } => "mark-drain-start",
            Action::RecordLifecycleActionHeartbeat { .. } => "heartbeat",
            Action::CompleteLifecycleAction { .. } => "complete-lifecycle-action",
        })
        .collect()
}

/// The plan of a target that is refused: an error, and no change.
fn refused(f: &Fleet) -> amiroll_core::model::TargetPlan {
    let p = f.plan();
    assert_eq!(
        p.status,
        TargetStatus::Error,
        "expected an error, got {p:#?}"
    );
    assert!(p.actions.is_empty(), "an error plans no change");
    p
}

/// The refusal that stopped the target (the first, if several).
fn refusal_of(f: &Fleet) -> Refusal {
    refused(f)
        .errors
        .into_iter()
        .next()
        .expect("an error names its refusal")
}

#[test]
fn drift_creates_one_version_from_the_launched_version_then_surges() {
    let p = Fleet::healthy().plan();
    assert_eq!(p.status, TargetStatus::Drift);
    assert_eq!(p.event, Some(Event::RolloutStarted));
    assert_eq!(
        kinds(&p),
        vec![
            "create-version",
            "set-default",
            "tag",
            "set-protection",
            "put-action",
            "put-action"
        ]
    );
    match &p.actions[0].action {
        Action::CreateVersion {
            source_version,
            image_id,
            client_token,
            description,
            ..
        } => {
            assert_eq!(*source_version, 1);
            assert_eq!(image_id, AMI_NEW);
            assert_eq!(client_token, &planner::client_token(LT, 1, AMI_NEW));
            assert!(description.starts_with("amiroll:"));
            assert!(description.contains(AMI_NEW) && description.contains(PARAM));
            assert!(description.contains(":5"), "records the parameter version");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.actions[1].action,
        Action::SetDefaultVersion {
            version: VersionRef::Created,
            ..
        }
    ));
    let puts: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::PutScheduledAction { action } => Some(action.clone()),
            _ => None,
        })
        .collect();
    // Surge from the real desired capacity (2 → 4), then restore min/max/desired exactly.
    assert_eq!(puts[0].desired_capacity, Some(4));
    assert_eq!(puts[0].max_size, Some(4));
    assert_eq!(puts[0].min_size, Some(1));
    assert_eq!(
        (puts[1].min_size, puts[1].max_size, puts[1].desired_capacity),
        (Some(1), Some(4), Some(2))
    );
    assert!(puts[0].start_time > now());
    assert_eq!(
        puts[1].start_time - puts[0].start_time,
        chrono::Duration::minutes(15)
    );
    assert_ne!(puts[0].name, puts[1].name);
    assert!(puts
        .iter()
        .all(|a| a.name.starts_with("amiroll-") && a.recurrence.is_none()));
    for a in &p.actions {
        assert!(!a.reason.is_empty(), "every action has a reason");
    }
}

#[test]
fn current_fleet_plans_nothing() {
    let mut f = Fleet::healthy();
    f.set_param(AMI_OLD);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Current, "{p:#?}");
    assert!(p.actions.is_empty());
    assert_eq!(p.event, None);
    let f = f.with_setting("notify_when_current = true");
    assert_eq!(f.plan().event, Some(Event::Current));
}

#[test]
fn template_current_but_fleet_not_is_still_drift() {
    // Seed bug 11: the template already names the new AMI but instances run the old one.
    let mut f = Fleet::healthy();
    f.template_mut().versions[0].image_id = Some(AMI_NEW.to_string());
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Drift);
    assert_eq!(
        kinds(&p),
        vec!["tag", "set-protection", "put-action", "put-action"]
    );
}

#[test]
fn unrelated_latest_version_is_not_the_source() {
    // Seed bug 1/2: someone made an experimental v2 ($Latest); the group launches $Default (v1).
    let mut f = Fleet::healthy();
    let tmpl = f.template_mut();
    let mut exp = version(2, AMI_OLD, Some("experiment"));
    exp.instance_type = Some("m5.24xlarge".to_string());
    tmpl.versions.push(exp);
    tmpl.template.latest_version = 2;
    let p = f.plan();
    match &p.actions[0].action {
        Action::CreateVersion { source_version, .. } => assert_eq!(*source_version, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn existing_version_for_the_ami_is_reused_not_duplicated() {
    let mut f = Fleet::healthy();
    let tmpl = f.template_mut();
    tmpl.versions.push(version(
        2,
        AMI_NEW,
        Some(&format!("amiroll: {AMI_NEW} (x) from v1 via {PARAM}:5")),
    ));
    tmpl.template.latest_version = 2;
    let p = f.plan();
    assert!(!kinds(&p).contains(&"create-version"));
    assert!(matches!(
        p.actions[0].action,
        Action::SetDefaultVersion {
            version: VersionRef::Number(2),
            ..
        }
    ));
}

#[test]
fn json_where_an_id_was_expected_and_vice_versa() {
    let mut f = Fleet::healthy();
    f.set_param(&format!(r#"{{"image_id":"{AMI_NEW}","image_name":"x"}}"#));
    let e = refusal_of(&f);
    assert!(
        matches!(&e, Refusal::ParameterIsJson { parameter } if parameter == PARAM),
        "{e:?}"
    );
    // The wording of the parameter refusals: each names the parameter and the fix.
    let text = e.to_string();
    assert!(
        text.contains("JSON") && text.contains(PARAM) && text.contains("image_id"),
        "{text}"
    );
    // The same JSON is accepted when the format says so.
    let f2 = f.with_setting("ami_format = \"json\"");
    assert_eq!(f2.plan().status, TargetStatus::Drift);

    let f3 = Fleet::healthy().with_setting("ami_format = \"json\"");
    let e = refusal_of(&f3);
    assert!(
        matches!(&e, Refusal::ParameterNotJson { parameter, value } if parameter == PARAM && value == AMI_NEW),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("JSON document") && text.contains("image-id"),
        "{text}"
    );
}

#[test]
fn non_ami_values_are_refused() {
    for bad in ["not-an-ami", "ami-xyz", "resolve:ssm:/x", "ami-0123", ""] {
        let mut f = Fleet::healthy();
        f.set_param(bad);
        let e = refusal_of(&f);
        assert!(
            matches!(&e, Refusal::NotAnAmi { parameter, value } if parameter == PARAM && value == bad),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn missing_parameter_template_group_and_topic_are_named() {
    let mut f = Fleet::healthy();
    f.obs.parameters.clear();
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::ParameterMissing {
            parameter: PARAM.to_string()
        }
    );
    assert!(e.to_string().contains(PARAM), "{e}");

    let mut f = Fleet::healthy();
    f.obs.templates.clear();
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::TemplateMissing {
            template: LT.to_string()
        }
    );
    assert!(e.to_string().contains(LT), "{e}");

    let mut f = Fleet::healthy();
    f.obs.groups.clear();
    assert_eq!(
        refusal_of(&f),
        Refusal::GroupMissing {
            group: "web-asg".to_string()
        }
    );

    let mut f = Fleet::healthy();
    f.obs.topics.insert(TOPIC.to_string(), false);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Error);
    assert_eq!(
        p.errors,
        vec![Refusal::TopicMissing {
            topic: TOPIC.to_string()
        }]
    );
    assert!(p.errors[0].to_string().contains(TOPIC), "{:?}", p.errors);
    assert_eq!(p.event, None, "cannot notify a topic that does not exist");
}

#[test]
fn missing_ami_architecture_mismatch_deprecated_and_downgrade() {
    let mut f = Fleet::healthy();
    f.obs.images.remove(AMI_NEW);
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::AmiMissing {
            ami: AMI_NEW.to_string(),
            parameter: PARAM.to_string(),
            parameter_version: 5,
        }
    );
    assert!(e.to_string().contains(AMI_NEW), "{e}");

    let mut f = Fleet::healthy();
    f.set_param(AMI_ARM);
    assert_eq!(
        refusal_of(&f),
        Refusal::ArchitectureMismatch {
            ami: AMI_ARM.to_string(),
            architecture: "arm64".to_string(),
            instance_type: "m5.large".to_string(),
            supported: vec!["x86_64".to_string()],
        }
    );

    let mut f = Fleet::healthy();
    if let Some(i) = f.obs.images.get_mut(AMI_NEW) {
        i.deprecation_time = Some(t("2026-11-25T00:00:00Z"));
    }
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::AmiDeprecated {
            ami: AMI_NEW.to_string(),
            since: t("2026-11-25T00:00:00Z"),
        }
    );
    // The wording names the setting that allows it.
    assert!(e.to_string().contains("allow_deprecated"), "{e}");
    let f = f.with_setting("allow_deprecated = true");
    assert_eq!(f.plan().status, TargetStatus::Drift);

    let mut f = Fleet::healthy();
    if let Some(i) = f.obs.images.get_mut(AMI_NEW) {
        i.creation_date = Some(t("2026-01-01T00:00:00Z"));
    }
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::Downgrade {
            ami: AMI_NEW.to_string(),
            created: t("2026-01-01T00:00:00Z"),
            current: AMI_OLD.to_string(),
            current_created: t("2026-10-01T00:00:00Z"),
            version: 1,
        }
    );
    // The wording names the setting that allows it.
    assert!(e.to_string().contains("allow_downgrade"), "{e}");

    let mut f = Fleet::healthy();
    if let Some(i) = f.obs.images.get_mut(AMI_NEW) {
        i.state = "pending".to_string();
    }
    assert_eq!(
        refusal_of(&f),
        Refusal::AmiNotAvailable {
            ami: AMI_NEW.to_string(),
            state: "pending".to_string(),
        }
    );
}

#[test]
fn pinned_group_is_refused_unless_opted_in() {
    let mut f = Fleet::healthy();
    f.group_mut("web-asg").launch_template = Some(amiroll_core::port::TemplateSpec {
        template_id: Some(LT.to_string()),
        template_name: None,
        version: Some("1".to_string()),
    });
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::Pinned {
            group: "web-asg".to_string(),
            version: 1,
            template: LT.to_string(),
        }
    );
    // The wording names the setting that opts in.
    assert!(e.to_string().contains("pinned = \"update\""), "{e}");
    let f = f.with_setting("pinned = \"update\"");
    let p = f.plan();
    assert_eq!(
        kinds(&p),
        vec![
            "create-version",
            "set-default",
            "pin-group",
            "tag",
            "set-protection",
            "put-action",
            "put-action"
        ]
    );
}

#[test]
fn desired_equal_to_max_raises_max_for_the_surge_and_restores_it() {
    let mut f = Fleet::healthy();
    let g = f.group_mut("web-asg");
    g.min_size = 1;
    g.max_size = 1;
    g.desired_capacity = 1;
    g.instances.truncate(1);
    let p = f.plan();
    let puts: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::PutScheduledAction { action } => Some(action.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        (puts[0].max_size, puts[0].desired_capacity),
        (Some(2), Some(2))
    );
    assert_eq!(
        (puts[1].min_size, puts[1].max_size, puts[1].desired_capacity),
        (Some(1), Some(1), Some(1))
    );
}

#[test]
fn min_above_one_keeps_min_through_the_surge() {
    let mut f = Fleet::healthy();
    f.add_group("big", None, (3, 6, 3), AMI_OLD, 1);
    f.config_toml = f.config_toml.replace("[\"web-asg\"]", "[\"big\"]");
    let p = f.plan();
    let puts: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::PutScheduledAction { action } => Some(action.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        (puts[0].min_size, puts[0].max_size, puts[0].desired_capacity),
        (Some(3), Some(6), Some(6))
    );
    assert_eq!(
        (puts[1].min_size, puts[1].max_size, puts[1].desired_capacity),
        (Some(3), Some(6), Some(3))
    );
}

#[test]
fn surge_ceiling_caps_and_refuses_when_no_room() {
    let f = Fleet::healthy().with_setting("surge_max_capacity = 3");
    let p = f.plan();
    let surge = p.actions.iter().find_map(|a| match &a.action {
        Action::PutScheduledAction { action } if action.name.ends_with("-surge") => {
            Some(action.clone())
        }
        _ => None,
    });
    assert_eq!(surge.map(|s| s.desired_capacity), Some(Some(3)));
    let f = Fleet::healthy().with_setting("surge_max_capacity = 2");
    assert!(
        matches!(
            refusal_of(&f),
            Refusal::NoSurgeRoom {
                surge_max: 2,
                desired: 2,
                ..
            }
        ),
        "{:?}",
        f.plan().errors
    );
}

#[test]
fn one_version_template_prunes_nothing_and_never_version_zero() {
    // Seed bug 4: latest − 2 = 0.
    let p = Fleet::healthy().plan();
    assert!(!kinds(&p).contains(&"delete-versions"));
}

#[test]
fn prune_keeps_default_rollback_referenced_and_newest() {
    let mut f = Fleet::healthy();
    let tmpl = f.template_mut();
    tmpl.versions = (1..=8)
        .map(|n| {
            version(
                n,
                AMI_OLD,
                Some(&format!(
                    "amiroll: {AMI_OLD} (x) from v{} via p:1",
                    n.max(2) - 1
                )),
            )
        })
        .collect();
    tmpl.template.default_version = 6; // the groups launch v6 ($Default)
    tmpl.template.latest_version = 8;
    // An instance still runs v3.
    if let Some(i) = f.obs.instances.get_mut("i-web-asg-0") {
        i.launch_template_version = Some(3);
    }
    let p = f.plan();
    let deleted: Vec<u64> = p
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::DeleteVersions { versions, .. } => Some(versions.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    // keep 2 newest counting the new one (new + v8); default/rollback v6; in use v1 (other
    // instance) and v3.
    assert_eq!(deleted, vec![2, 4, 5, 7]);
    assert_eq!(
        kinds(&p).last(),
        Some(&"delete-versions"),
        "prune runs last"
    );
}

#[test]
fn prune_own_spares_hand_made_versions_and_all_does_not() {
    let mut f = Fleet::healthy();
    f.set_param(AMI_OLD);
    let tmpl = f.template_mut();
    tmpl.versions = (1..=4)
        .map(|n| version(n, AMI_OLD, Some("hand-made")))
        .collect();
    tmpl.template.default_version = 4;
    tmpl.template.latest_version = 4;
    for i in f.obs.instances.values_mut() {
        i.launch_template_version = Some(4);
    }
    assert!(!kinds(&f.plan()).contains(&"delete-versions"));
    let f = f.with_setting("prune = \"all\"");
    let p = f.plan();
    assert!(
        matches!(&p.actions[0].action, Action::DeleteVersions { versions, .. } if versions == &vec![1, 2])
    );
    assert_eq!(
        p.status,
        TargetStatus::Current,
        "pruning is housekeeping, not drift"
    );
}

#[test]
fn resolve_ssm_template_is_reported_not_rewritten() {
    let mut f = Fleet::healthy();
    f.template_mut().versions[0].image_id = Some(format!("resolve:ssm:{PARAM}"));
    let p = f.plan();
    assert!(!kinds(&p).contains(&"create-version"));
    assert!(!kinds(&p).contains(&"set-default"));
    assert!(p
        .findings
        .iter()
        .any(|x| x.message.contains("resolve:ssm:")));
    // The fleet still runs the old AMI, so the instances are replaced.
    assert_eq!(
        kinds(&p),
        vec!["tag", "set-protection", "put-action", "put-action"]
    );
}

#[test]
fn groups_on_different_versions_are_refused() {
    let mut f = Fleet::healthy();
    let tmpl = f.template_mut();
    tmpl.versions.push(version(2, AMI_OLD, None));
    tmpl.template.latest_version = 2;
    f.add_group("other", Some("$Latest"), (1, 2, 1), AMI_OLD, 2);
    f.config_toml = f
        .config_toml
        .replace("[\"web-asg\"]", "[\"web-asg\", \"other\"]");
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::SourceVersionsDiffer {
            template: LT.to_string(),
            groups: vec![
                GroupVersion {
                    group: "web-asg".to_string(),
                    spec: "$Default".to_string(),
                    version: 1,
                },
                GroupVersion {
                    group: "other".to_string(),
                    spec: "$Latest".to_string(),
                    version: 2,
                },
            ],
        }
    );
    // The wording names the group that differs.
    assert!(e.to_string().contains("`other` uses $Latest (v2)"), "{e}");
}

#[test]
fn group_on_another_template_is_refused() {
    let mut f = Fleet::healthy();
    f.group_mut("web-asg").launch_template = Some(amiroll_core::port::TemplateSpec {
        template_id: Some("lt-0other".to_string()),
        template_name: None,
        version: None,
    });
    assert_eq!(
        refusal_of(&f),
        Refusal::OtherTemplate {
            group: "web-asg".to_string(),
            launches: "lt-0other".to_string(),
            template: LT.to_string(),
        }
    );
}

#[test]
fn termination_policy_suspended_processes_and_protection_are_checked() {
    let mut f = Fleet::healthy();
    f.group_mut("web-asg").termination_policies = vec!["Default".to_string()];
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::TerminationPolicies {
            group: "web-asg".to_string(),
            policies: vec!["Default".to_string()],
        }
    );
    // The wording names the fix.
    let text = e.to_string();
    assert!(
        text.contains("OldestLaunchTemplate") && text.contains("set_termination_policy"),
        "{text}"
    );
    let f = f.with_setting("set_termination_policy = true");
    let p = f.plan();
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::SetTerminationPolicies { policies, .. } if policies == &vec!["OldestLaunchTemplate".to_string(), "Default".to_string()])));

    let mut f = Fleet::healthy();
    f.group_mut("web-asg").suspended_processes = vec!["ScheduledActions".to_string()];
    assert_eq!(
        refusal_of(&f),
        Refusal::SurgeSuspended {
            group: "web-asg".to_string(),
            processes: vec!["ScheduledActions".to_string()],
        }
    );

    let mut f = Fleet::healthy();
    f.group_mut("web-asg").instances[0].protected_from_scale_in = true;
    assert!(
        matches!(refusal_of(&f), Refusal::ProtectedElsewhere { instances, .. } if instances.len() == 1),
        "{:?}",
        f.plan().errors
    );
}

fn in_flight(f: &mut Fleet, surge_pending: bool, settle_pending: bool, surged: bool) -> String {
    // The template already moved (v2 default); a round is recorded in the group's tags.
    let tmpl = f.template_mut();
    tmpl.versions.push(version(
        2,
        AMI_NEW,
        Some(&format!("amiroll: {AMI_NEW} (x) from v1 via {PARAM}:5")),
    ));
    tmpl.template.default_version = 2;
    tmpl.template.latest_version = 2;
    let round = planner::rollout_id("web-asg", AMI_NEW, 1);
    let g = f.group_mut("web-asg");
    let mut tg = BTreeMap::new();
    tg.insert(tags::ROLLOUT.to_string(), round.clone());
    tg.insert(tags::ROLLOUT_AMI.to_string(), AMI_NEW.to_string());
    tg.insert(
        tags::ORIGINAL.to_string(),
        "min=1,max=4,desired=2".to_string(),
    );
    tg.insert(tags::SURGE.to_string(), "max=4,desired=4".to_string());
    tg.insert(
        tags::SURGE_AT.to_string(),
        "2026-11-26T12:50:00Z".to_string(),
    );
    tg.insert(
        tags::SETTLE_AT.to_string(),
        "2026-11-26T13:05:00Z".to_string(),
    );
    tg.insert(tags::ATTEMPT.to_string(), "1".to_string());
    tg.insert(tags::ROLLBACK_VERSION.to_string(), format!("{LT}:1"));
    g.tags = tg;
    // The round protected the old instances when it started.
    for i in g.instances.iter_mut() {
        i.protected_from_scale_in = true;
    }
    let mut pending = vec![];
    let mk = |name: String, at: &str, d: i32| amiroll_core::port::ScheduledAction {
        group_name: "web-asg".to_string(),
        name,
        start_time: t(at),
        min_size: Some(1),
        max_size: Some(4),
        desired_capacity: Some(d),
        recurrence: None,
    };
    if surge_pending {
        pending.push(mk(
            format!("amiroll-{round}-surge"),
            "2026-11-26T13:01:00Z",
            4,
        ));
    }
    if settle_pending {
        pending.push(mk(
            format!("amiroll-{round}-settle"),
            "2026-11-26T13:05:00Z",
            2,
        ));
    }
    f.obs
        .scheduled_actions
        .insert("web-asg".to_string(), pending);
    if surged {
        f.group_mut("web-asg").desired_capacity = 4;
        for i in 2..4 {
            let id = format!("i-new-{i}");
            f.group_mut("web-asg").instances.push(instance(&id));
            f.obs.instances.insert(
                id.clone(),
                amiroll_core::port::Ec2Instance {
                    instance_id: id,
                    image_id: AMI_NEW.to_string(),
                    state: "running".to_string(),
                    launch_time: Some(now()),
                    launch_template_id: Some(LT.to_string()),
                    launch_template_version: Some(2),
                },
            );
        }
    }
    round
}

#[test]
fn round_in_flight_with_surge_pending_starts_nothing() {
    let mut f = Fleet::healthy();
    in_flight(&mut f, true, true, false);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Rolling);
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
    assert_eq!(p.event, None);
}

#[test]
fn surged_and_healthy_waits_for_the_settle() {
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T12:55:00Z");
    in_flight(&mut f, false, true, true);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Rolling);
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
    assert!(p.groups[0].state.contains("2/2"), "{}", p.groups[0].state);
}

#[test]
fn unhealthy_new_instances_abort_the_settle_and_revert_the_default() {
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T12:55:00Z");
    let round = in_flight(&mut f, false, true, true);
    f.group_mut("web-asg").instances[3].health_status = "Unhealthy".to_string();
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Failed);
    assert_eq!(p.event, Some(Event::RolloutFailed));
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::DeleteScheduledAction { name, .. } if name == &format!("amiroll-{round}-settle"))));
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::TagGroup { tags: tg, .. } if tg.get(tags::FAILED_AMI).map(String::as_str) == Some(AMI_NEW))));
    assert!(p.actions.iter().any(|a| matches!(
        &a.action,
        Action::SetDefaultVersion {
            version: VersionRef::Number(1),
            ..
        }
    )));
    assert!(!p.actions.iter().any(|a| matches!(&a.action, Action::DeleteVersions { versions, .. } if versions.contains(&1))),
        "never prune the rollback version");
}

#[test]
fn gate_closes_before_the_settle_when_new_instances_are_missing() {
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T13:03:00Z"); // 2 minutes before the settle
    in_flight(&mut f, false, true, false);
    f.group_mut("web-asg").desired_capacity = 4; // surged, but nothing launched
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Failed, "{p:#?}");
}

#[test]
fn finished_round_untags_and_announces_success() {
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T13:10:00Z");
    in_flight(&mut f, false, false, false);
    for i in f.obs.instances.values_mut() {
        i.image_id = AMI_NEW.to_string();
    }
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Current);
    assert_eq!(p.event, Some(Event::RolloutSucceeded));
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::UntagGroup { keys, .. } if keys.contains(&tags::ROLLOUT.to_string()))));
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::TagGroup { tags: tg, .. } if tg.get(tags::SUCCEEDED_AMI).map(String::as_str) == Some(AMI_NEW))));
}

#[test]
fn settled_but_old_instances_left_starts_another_round_then_gives_up() {
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T13:10:00Z");
    in_flight(&mut f, false, false, false);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Rolling);
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::TagGroup { tags: tg, .. } if tg.get(tags::ATTEMPT).map(String::as_str) == Some("2"))));
    assert_eq!(p.event, None, "no second 'started' notification");

    let mut f = Fleet::healthy().with_setting("max_attempts = 1");
    f.obs.now = t("2026-11-26T13:10:00Z");
    in_flight(&mut f, false, false, false);
    assert_eq!(f.plan().status, TargetStatus::Failed);
}

#[test]
fn crash_after_tagging_reschedules_the_same_round() {
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T12:51:00Z");
    let round = in_flight(&mut f, false, false, false);
    let p = f.plan();
    let names: Vec<String> = p
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::PutScheduledAction { action } => Some(action.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        vec![
            format!("amiroll-{round}-surge"),
            format!("amiroll-{round}-settle")
        ]
    );
}

#[test]
fn failed_ami_is_not_retried_but_a_newer_one_is() {
    let mut f = Fleet::healthy();
    let g = f.group_mut("web-asg");
    g.tags
        .insert(tags::FAILED_AMI.to_string(), AMI_NEW.to_string());
    g.tags
        .insert(tags::FAILED_REASON.to_string(), "unhealthy".to_string());
    g.tags.insert(
        tags::ORIGINAL.to_string(),
        "min=1,max=4,desired=2".to_string(),
    );
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Failed);
    assert!(p.actions.is_empty());

    // A newer AMI clears the block and uses the recorded original capacity.
    let newer = "ami-0ddddddddddddddd4";
    f.obs.images.insert(
        newer.to_string(),
        image(newer, "x86_64", "2026-11-25T00:00:00Z"),
    );
    f.set_param(newer);
    f.group_mut("web-asg").desired_capacity = 4; // left surged by the failed round
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Drift);
    let settle = p.actions.iter().find_map(|a| match &a.action {
        Action::PutScheduledAction { action } if action.name.ends_with("-settle") => {
            Some(action.clone())
        }
        _ => None,
    });
    assert_eq!(settle.and_then(|s| s.desired_capacity), Some(2));
}

#[test]
fn newer_ami_waits_while_a_round_is_in_flight() {
    let mut f = Fleet::healthy();
    in_flight(&mut f, true, true, false);
    let newer = "ami-0ddddddddddddddd4";
    f.obs.images.insert(
        newer.to_string(),
        image(newer, "x86_64", "2026-11-25T00:00:00Z"),
    );
    f.set_param(newer);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Rolling);
    assert!(!kinds(&p).contains(&"create-version"), "{:?}", kinds(&p));
}

#[test]
fn leftover_amiroll_actions_without_a_round_are_removed() {
    let mut f = Fleet::healthy();
    f.set_param(AMI_OLD);
    f.obs.scheduled_actions.insert(
        "web-asg".to_string(),
        vec![amiroll_core::port::ScheduledAction {
            group_name: "web-asg".to_string(),
            name: "amiroll-rdeadbeef00-surge".to_string(),
            start_time: t("2026-11-26T14:00:00Z"),
            min_size: Some(1),
            max_size: Some(8),
            desired_capacity: Some(8),
            recurrence: None,
        }],
    );
    let p = f.plan();
    assert_eq!(kinds(&p), vec!["delete-action"]);
}

#[test]
fn seed_leftover_actions_are_warned_about() {
    let mut f = Fleet::healthy();
    f.obs.scheduled_actions.insert(
        "web-asg".to_string(),
        vec![amiroll_core::port::ScheduledAction {
            group_name: "web-asg".to_string(),
            name: "Desire 1".to_string(),
            start_time: t("2026-11-26T13:17:00Z"),
            min_size: None,
            max_size: None,
            desired_capacity: Some(1),
            recurrence: Some("0 13 * * *".to_string()),
        }],
    );
    let p = f.plan();
    assert!(p.findings.iter().any(|x| x.message.contains("Desire 1")));
}

#[test]
fn capacity_tags_round_trip() {
    let c = Capacity {
        min: 1,
        max: 4,
        desired: 2,
    };
    assert_eq!(Capacity::parse(&c.to_tag()), Some(c));
    assert_eq!(Capacity::parse("min=1,max=x,desired=2"), None);
}

#[test]
fn exit_codes_follow_check_semantics() {
    let cfg = Fleet::healthy().config();
    let mut f = Fleet::healthy();
    assert_eq!(planner::plan(&cfg, &f.obs).exit_code(), 2);
    f.set_param(AMI_OLD);
    assert_eq!(planner::plan(&cfg, &f.obs).exit_code(), 0);
    f.obs.parameters.clear();
    assert_eq!(planner::plan(&cfg, &f.obs).exit_code(), 1);
}

#[test]
fn pinned_mixed_instances_group_is_refused_even_with_update() {
    let mut f = Fleet::healthy().with_setting("pinned = \"update\"");
    let g = f.group_mut("web-asg");
    g.mixed_instances_policy = Some(amiroll_core::port::MixedInstancesPolicy {
        template: amiroll_core::port::TemplateSpec {
            template_id: Some(LT.to_string()),
            template_name: None,
            version: Some("1".to_string()),
        },
        overrides: vec![amiroll_core::port::InstanceOverride {
            instance_type: Some("m5.large".to_string()),
            template: None,
            ..Default::default()
        }],
        distribution: None,
    });
    g.launch_template = None;
    assert_eq!(
        refusal_of(&f),
        Refusal::PinnedInMixedPolicy {
            group: "web-asg".to_string(),
            version: 1,
        }
    );
}

#[test]
fn mixed_instances_override_types_are_checked_for_architecture() {
    let mut f = Fleet::healthy();
    let g = f.group_mut("web-asg");
    g.mixed_instances_policy = Some(amiroll_core::port::MixedInstancesPolicy {
        template: amiroll_core::port::TemplateSpec {
            template_id: Some(LT.to_string()),
            template_name: None,
            version: None,
        },
        overrides: vec![amiroll_core::port::InstanceOverride {
            instance_type: Some("m6g.large".to_string()),
            template: None,
            ..Default::default()
        }],
        distribution: None,
    });
    g.launch_template = None;
    assert_eq!(
        refusal_of(&f),
        Refusal::ArchitectureMismatch {
            ami: AMI_NEW.to_string(),
            architecture: "x86_64".to_string(),
            instance_type: "m6g.large".to_string(),
            supported: vec!["arm64".to_string()],
        }
    );
}

#[test]
fn prune_keeps_a_version_another_target_pins() {
    let mut f = Fleet::healthy().with_setting("prune = \"all\"");
    let tmpl = f.template_mut();
    tmpl.versions = (1..=5).map(|n| version(n, AMI_OLD, None)).collect();
    tmpl.template.default_version = 5;
    tmpl.template.latest_version = 5;
    for i in f.obs.instances.values_mut() {
        i.launch_template_version = Some(5);
    }
    // Observed because another target lists it; it pins v2 of the same template.
    f.add_group("legacy", Some("2"), (1, 1, 1), AMI_OLD, 2);
    let p = f.plan();
    let deleted: Vec<u64> = p
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::DeleteVersions { versions, .. } => Some(versions.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(!deleted.contains(&2), "{deleted:?}");
    assert!(deleted.contains(&1) && deleted.contains(&3));
}

// --- which detailed reads a run makes -------------------------------------------------------

#[test]
fn a_plainly_current_target_gets_no_detailed_reads_unless_every_detail_is_asked() {
    let mut f = Fleet::healthy();
    f.set_param(AMI_OLD);
    // Its instances follow from the version the group records for them; nothing read yet.
    f.obs.instances.clear();
    for i in &mut f.group_mut("web-asg").instances {
        i.launch_template = Some(amiroll_core::port::TemplateSpec {
            template_id: Some(LT.to_string()),
            template_name: None,
            version: Some("1".to_string()),
        });
    }
    let reads = planner::detail_reads(&f.config(), &f.obs, false);
    assert_eq!(reads, planner::DetailReads::default());
    let all = planner::detail_reads(&f.config(), &f.obs, true);
    assert_eq!(all.targets, vec!["web".to_string()]);
    assert_eq!(all.instances.len(), 2);
    // Without the group's record of the version, the instances must be read.
    for i in &mut f.group_mut("web-asg").instances {
        i.launch_template = None;
    }
    assert_eq!(
        planner::detail_reads(&f.config(), &f.obs, false).targets,
        vec!["web".to_string()]
    );
}

#[test]
fn a_drifting_surge_target_reads_its_versions_instances_actions_refreshes_providers_and_topic() {
    let f = Fleet::healthy();
    let reads = planner::detail_reads(&f.config(), &f.obs, false);
    assert_eq!(reads.targets, vec!["web".to_string()]);
    assert_eq!(reads.templates, vec![(LT.to_string(), LT.to_string())]);
    assert_eq!(
        reads.instances,
        vec!["i-web-asg-0".to_string(), "i-web-asg-1".to_string()]
    );
    assert_eq!(
        reads.scheduled_actions,
        vec![("web".to_string(), "web-asg".to_string())]
    );
    // A surge changes the group, which Auto Scaling rejects during a refresh: it reads them.
    assert_eq!(
        reads.refreshes,
        vec![("web".to_string(), "web-asg".to_string())]
    );
    assert_eq!(reads.capacity_providers_for, vec!["web".to_string()]);
    assert_eq!(reads.topics, vec![TOPIC.to_string()]);
}

#[test]
fn a_refresh_tag_is_followed_whatever_the_strategy_and_none_reads_no_rollout_state() {
    // A group left with an amiroll refresh tag (the target moved to scheduled-surge mid-refresh)
    // still gets its refreshes read.
    let mut f = Fleet::healthy();
    f.group_mut("web-asg")
        .tags
        .insert(tags::REFRESH_AMI.to_string(), AMI_NEW.to_string());
    let reads = planner::detail_reads(&f.config(), &f.obs, false);
    assert_eq!(
        reads.refreshes,
        vec![("web".to_string(), "web-asg".to_string())]
    );
    // Strategy `none`: no scheduled actions, no refreshes (without the tag), no ECS providers.
    let mut f = Fleet::healthy();
    f.config_toml = f
        .config_toml
        .replace("strategy = \"scheduled-surge\"", "strategy = \"none\"");
    let reads = planner::detail_reads(&f.config(), &f.obs, false);
    assert_eq!(reads.targets, vec!["web".to_string()]);
    assert!(reads.scheduled_actions.is_empty(), "{reads:?}");
    assert!(reads.refreshes.is_empty(), "{reads:?}");
    assert!(reads.capacity_providers_for.is_empty(), "{reads:?}");
}

/// The new instances of `in_flight` launched at these times.
fn launched_at(f: &mut Fleet, times: [&str; 2]) {
    for (i, at) in (2..4).zip(times) {
        if let Some(e) = f.obs.instances.get_mut(&format!("i-new-{i}")) {
            e.launch_time = Some(t(at));
        }
    }
}

fn settles(p: &amiroll_core::model::TargetPlan) -> bool {
    p.actions.iter().any(|a| {
        matches!(&a.action, Action::TagGroup { tags: tg, .. }
            if tg.get(tags::PHASE).is_some_and(|ph| ph.starts_with("settled")))
    })
}

#[test]
fn the_gate_counts_an_instance_healthy_only_once_auto_scaling_has_checked_it() {
    // Grace period 300 s: Auto Scaling reports an instance Healthy for that long after it comes
    // into service without having checked it. During the round a scaling policy scaled out by
    // one (desired 4 -> 5): that third new instance must be checked before the round settles.
    let in_gate = |scaled_out_at: &str| {
        let mut f = Fleet::healthy();
        f.obs.now = t("2026-11-26T13:03:00Z");
        in_flight(&mut f, false, true, true);
        launched_at(&mut f, ["2026-11-26T12:50:00Z", "2026-11-26T12:50:00Z"]);
        let g = f.group_mut("web-asg");
        g.health_check_grace_period_secs = 300;
        g.max_size = 5;
        g.desired_capacity = 5;
        g.instances.push(instance("i-out"));
        f.obs.instances.insert(
            "i-out".to_string(),
            amiroll_core::port::Ec2Instance {
                instance_id: "i-out".to_string(),
                image_id: AMI_NEW.to_string(),
                state: "running".to_string(),
                launch_time: Some(t(scaled_out_at)),
                launch_template_id: Some(LT.to_string()),
                launch_template_version: Some(2),
            },
        );
        f.plan()
    };
    // Launched 2 minutes ago: reported Healthy, not checked — wait in the gate.
    let p = in_gate("2026-11-26T13:01:00Z");
    assert_eq!(p.status, TargetStatus::Rolling, "{p:#?}");
    assert!(!settles(&p), "{:#?}", p.actions);
    assert!(p.groups[0].state.contains("2/3"), "{}", p.groups[0].state);
    // Launched 9 minutes ago (more than the boot allowance plus the grace period): checked.
    let p = in_gate("2026-11-26T12:54:00Z");
    assert!(settles(&p), "{p:#?}");
}

#[test]
fn the_gate_stops_a_round_whose_new_instances_auto_scaling_replaced() {
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T13:03:00Z");
    in_flight(&mut f, false, true, true);
    // The surge (due 12:50) launched both at 12:50; one is gone and Auto Scaling launched
    // another at 12:58, healthy so far.
    launched_at(&mut f, ["2026-11-26T12:50:00Z", "2026-11-26T12:58:00Z"]);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Failed, "{p:#?}");
    assert_eq!(p.event, Some(Event::RolloutFailed));
    assert!(
        p.actions.iter().any(
            |a| a.reason.contains("Auto Scaling replaced new instance(s)")
                && a.reason.contains("i-new-3")
        ),
        "{:#?}",
        p.actions
    );
    // An old instance replaced with the AMI (the surge's own are all there) is no reason to stop.
    let mut f = Fleet::healthy();
    f.obs.now = t("2026-11-26T13:03:00Z");
    in_flight(&mut f, false, true, true);
    launched_at(&mut f, ["2026-11-26T12:50:00Z", "2026-11-26T12:50:30Z"]);
    let late = "i-new-late";
    f.group_mut("web-asg").instances.push(instance(late));
    f.group_mut("web-asg").instances.remove(0);
    f.obs.instances.insert(
        late.to_string(),
        amiroll_core::port::Ec2Instance {
            instance_id: late.to_string(),
            image_id: AMI_NEW.to_string(),
            state: "running".to_string(),
            launch_time: Some(t("2026-11-26T12:58:00Z")),
            launch_template_id: Some(LT.to_string()),
            launch_template_version: Some(2),
        },
    );
    let p = f.plan();
    assert!(settles(&p), "{p:#?}");
}

// --- Provenance: who published the AMI -----------------------------------------------------

fn owned_by(f: &mut Fleet, owner_id: &str, alias: Option<&str>, public: bool) {
    let i = f.obs.images.get_mut(AMI_NEW).expect("fixture image");
    i.owner_id = Some(owner_id.to_string());
    i.owner_alias = alias.map(str::to_string);
    i.public = Some(public);
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn an_aws_parameter_takes_only_amazon_images_by_default() {
    // The fixture's parameter is AWS's public one and its image Amazon's: it rolls.
    assert_eq!(Fleet::healthy().plan().status, TargetStatus::Drift);

    // A public image of another account behind it is refused, naming the AMI, the owner and
    // the parameter.
    let mut f = Fleet::healthy();
    owned_by(&mut f, "444455556666", None, true);
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::AmiOwnerNotAllowed {
            ami: AMI_NEW.to_string(),
            parameter: PARAM.to_string(),
            owner: "444455556666 (public)".to_string(),
            allowed: strings(&["amazon"]),
            own_account: None,
        }
    );
    for needle in [AMI_NEW, PARAM, "444455556666", "ami_owners"] {
        assert!(e.to_string().contains(needle), "`{needle}` in {e}");
    }

    // Even the account's own image: AWS's parameters name AWS's images.
    let mut f = Fleet::healthy();
    f.group_mut("web-asg").arn = Some(
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0f1e:autoScalingGroupName/web-asg"
            .to_string(),
    );
    owned_by(&mut f, "123456789012", None, false);
    assert!(matches!(
        refusal_of(&f),
        Refusal::AmiOwnerNotAllowed { own_account: Some(id), .. } if id == "123456789012"
    ));
}

#[test]
fn ami_owners_allows_a_vendor_and_self_is_read_from_the_group_arn() {
    let mut f = Fleet::healthy().with_setting("ami_owners = [\"444455556666\"]");
    owned_by(&mut f, "444455556666", None, true);
    assert_eq!(f.plan().status, TargetStatus::Drift, "{:#?}", f.plan());
    // ... and then Amazon's images are no longer allowed.
    let f = Fleet::healthy().with_setting("ami_owners = [\"444455556666\"]");
    assert!(matches!(
        refusal_of(&f),
        Refusal::AmiOwnerNotAllowed { owner, allowed, .. }
            if owner == "591542846629 (amazon, public)" && *allowed == strings(&["444455556666"])
    ));

    // `self`: this account, known from the group's ARN.
    let mut f = Fleet::healthy().with_setting("ami_owners = [\"self\"]");
    owned_by(&mut f, "123456789012", None, false);
    let e = refusal_of(&f);
    assert!(
        matches!(
            &e,
            Refusal::AmiOwnerNotAllowed {
                own_account: None,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("could not be read"), "{e}");
    f.group_mut("web-asg").arn = Some(
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0f1e:autoScalingGroupName/web-asg"
            .to_string(),
    );
    assert_eq!(f.plan().status, TargetStatus::Drift, "{:#?}", f.plan());
    // Another account's image is not `self`.
    owned_by(&mut f, "444455556666", None, false);
    assert!(matches!(
        refusal_of(&f),
        Refusal::AmiOwnerNotAllowed {
            own_account: Some(_),
            ..
        }
    ));
}

#[test]
fn an_alias_is_matched_on_the_alias_aws_sets_not_on_the_account() {
    // `amazon` means ImageOwnerAlias = amazon: an image of Amazon's account id without the
    // alias is not Amazon-published as far as amiroll can tell.
    let mut f = Fleet::healthy();
    owned_by(&mut f, "591542846629", None, true);
    assert!(matches!(refusal_of(&f), Refusal::AmiOwnerNotAllowed { .. }));
    let mut f = Fleet::healthy().with_setting("ami_owners = [\"aws-marketplace\"]");
    owned_by(&mut f, "679593333241", Some("aws-marketplace"), true);
    assert_eq!(f.plan().status, TargetStatus::Drift);
}

#[test]
fn an_image_the_allowed_amis_criteria_reject_is_refused_whoever_owns_it() {
    let mut f = Fleet::healthy();
    f.obs
        .images
        .get_mut(AMI_NEW)
        .expect("fixture image")
        .image_allowed = Some(false);
    let e = refusal_of(&f);
    assert_eq!(
        e,
        Refusal::AmiNotAllowedByAccount {
            ami: AMI_NEW.to_string(),
            parameter: PARAM.to_string(),
            owner: "591542846629 (amazon, public)".to_string(),
        }
    );
    assert!(e.to_string().contains("Allowed AMIs"), "{e}");
    // `true` (the criteria match) changes nothing.
    let mut f = Fleet::healthy();
    f.obs
        .images
        .get_mut(AMI_NEW)
        .expect("fixture image")
        .image_allowed = Some(true);
    assert_eq!(f.plan().status, TargetStatus::Drift);
}
