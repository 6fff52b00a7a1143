//! Planner scenarios for the instance-refresh strategy, the gates, ECS awareness and rollback.

mod common;

use amiroll_core::model::{Action, Event, Level, PlannedAction, Refusal, TargetStatus, VersionRef};
use amiroll_core::planner::{self, tags, PlanOptions};
use amiroll_core::port::{CapacityProvider, InstanceRefresh, TemplateSpec};
use common::*;

const ARN: &str =
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1111:autoScalingGroupName/web-asg";

/// The healthy fixture with the instance-refresh strategy (the config-file default).
fn refresh_fleet() -> Fleet {
    let mut f = Fleet::healthy();
    f.config_toml = f
        .config_toml
        .replace("strategy = \"scheduled-surge\"\n", "");
    f.group_mut("web-asg").arn = Some(ARN.to_string());
    f.obs.refreshes.insert("web-asg".to_string(), vec![]);
    f.obs.capacity_providers = Some(vec![]);
    f
}

fn refresh(id: &str, status: &str, version: Option<&str>) -> InstanceRefresh {
    InstanceRefresh {
        id: id.to_string(),
        group_name: "web-asg".to_string(),
        status: status.to_string(),
        status_reason: (status == "Failed").then(|| "i-1 failed health checks".to_string()),
        start_time: Some(t("2026-11-26T12:00:00Z")),
        end_time: None,
        percentage_complete: Some(50),
        instances_to_update: Some(1),
        desired_template: version.map(|v| TemplateSpec {
            template_id: Some(LT.to_string()),
            template_name: None,
            version: Some(v.to_string()),
        }),
    }
}

fn start_of(
    p: &amiroll_core::model::TargetPlan,
) -> Option<(Option<VersionRef>, amiroll_core::port::RefreshPreferences)> {
    p.actions.iter().find_map(|a| match &a.action {
        Action::StartInstanceRefresh {
            version,
            preferences,
            ..
        } => Some((*version, preferences.clone())),
        _ => None,
    })
}

fn plan_opts(f: &Fleet, opts: &PlanOptions) -> amiroll_core::model::TargetPlan {
    planner::plan_with(&f.config(), &f.obs, opts)
        .targets
        .into_iter()
        .next()
        .expect("one target")
}

#[test]
fn refresh_starts_with_a_numbered_version_and_safe_preferences() {
    let p = refresh_fleet().plan();
    assert_eq!(p.status, TargetStatus::Drift);
    assert_eq!(p.event, Some(Event::RolloutStarted));
    // The group is pinned to the number it launches first, so rollback stays available; the
    // default only moves once the fleet runs the AMI.
    let first = &p.actions[1].action;
    assert!(
        matches!(
            first,
            Action::PinGroupVersion {
                version: VersionRef::Number(1),
                ..
            }
        ),
        "{first:?}"
    );
    assert!(!p
        .actions
        .iter()
        .any(|a| matches!(a.action, Action::SetDefaultVersion { .. })));
    let (version, prefs) = start_of(&p).expect("a refresh");
    assert_eq!(version, Some(VersionRef::Created));
    assert_eq!(
        (prefs.min_healthy_percentage, prefs.max_healthy_percentage),
        (100, 200)
    );
    assert!(prefs.skip_matching && prefs.auto_rollback);
    let pos = |k: fn(&Action) -> bool| p.actions.iter().position(|a| k(&a.action));
    assert!(
        pos(|a| matches!(a, Action::PinGroupVersion { .. }))
            < pos(|a| matches!(a, Action::CreateVersion { .. })),
        "pin before the new version exists"
    );
}

#[test]
fn preferences_come_from_the_config() {
    let f = refresh_fleet().with_setting(
        "min_healthy_percentage = 90\nmax_healthy_percentage = 120\ninstance_warmup = \"5m\"\ncheckpoint_percentages = [20, 100]\ncheckpoint_delay = \"10m\"\nalarms = [\"web-5xx\"]\nbake_time = \"15m\"\nscale_in_protected_instances = \"ignore\"\nstandby_instances = \"terminate\"\nskip_matching = false",
    );
    let (_, prefs) = start_of(&f.plan()).expect("a refresh");
    assert_eq!(prefs.min_healthy_percentage, 90);
    assert_eq!(prefs.max_healthy_percentage, 120);
    assert_eq!(prefs.instance_warmup, Some(300));
    assert_eq!(prefs.checkpoint_percentages, vec![20, 100]);
    assert_eq!(prefs.checkpoint_delay, Some(600));
    assert_eq!(prefs.alarms, vec!["web-5xx".to_string()]);
    assert_eq!(prefs.bake_time, Some(900));
    assert_eq!(
        prefs.scale_in_protected_instances.as_deref(),
        Some("Ignore")
    );
    assert_eq!(prefs.standby_instances.as_deref(), Some("Terminate"));
    assert!(!prefs.skip_matching);
}

#[test]
fn refresh_preferences_out_of_range_are_config_errors() {
    for (line, needle) in [
        ("min_healthy_percentage = 101", "min_healthy_percentage"),
        ("max_healthy_percentage = 250", "max_healthy_percentage"),
        (
            "min_healthy_percentage = 50\nmax_healthy_percentage = 200",
            "at most 100 above",
        ),
        (
            "checkpoint_percentages = [50, 20]",
            "checkpoint_percentages",
        ),
        ("bake_time = \"3d\"", "bake_time"),
        ("min_ami_age = \"soon\"", "min_ami_age"),
        (
            "maintenance_window = \"0 2 * * FUNDAY\"",
            "maintenance_window",
        ),
        (
            "maintenance_window = \"0 2 * * SAT\"\ntime_zone = \"Mars/Olympus\"",
            "time_zone",
        ),
        ("after = \"nobody\"", "nobody"),
    ] {
        let f = refresh_fleet().with_setting(line);
        let err = amiroll_core::Config::from_toml(&f.config_toml, "t.toml")
            .expect_err(line)
            .to_string();
        assert!(err.contains(needle), "{line}: {err}");
    }
}

#[test]
fn a_refresh_in_flight_is_followed_and_nothing_else_starts() {
    let mut f = refresh_fleet();
    let tmpl = f.template_mut();
    tmpl.versions.push(version(
        2,
        AMI_NEW,
        Some(&format!("amiroll: {AMI_NEW} (x) from v1 via {PARAM}:5")),
    ));
    tmpl.template.latest_version = 2;
    f.group_mut("web-asg")
        .tags
        .insert(tags::REFRESH.to_string(), "r-1".to_string());
    f.group_mut("web-asg")
        .tags
        .insert(tags::REFRESH_AMI.to_string(), AMI_NEW.to_string());
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-1", "InProgress", Some("2"))],
    );
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Rolling);
    assert!(
        p.actions.iter().all(|a| !a.action.moves_fleet()),
        "{:#?}",
        p.actions
    );
    let progress = p.groups[0].rollout.clone().expect("progress");
    assert_eq!(progress.percent, Some(50));
}

#[test]
fn someone_elses_refresh_holds_the_rollout() {
    let mut f = refresh_fleet();
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-x", "InProgress", None)],
    );
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Rolling);
    assert!(start_of(&p).is_none());
    assert!(p
        .findings
        .iter()
        .any(|x| x.message.contains("did not start")));
}

#[test]
fn outcomes_are_announced_once() {
    for (status, event) in [
        ("Successful", Event::RolloutSucceeded),
        ("Failed", Event::RolloutFailed),
        ("RollbackSuccessful", Event::RolledBack),
        ("Cancelled", Event::Cancelled),
    ] {
        let mut f = refresh_fleet();
        let g = f.group_mut("web-asg");
        g.tags.insert(tags::REFRESH.to_string(), "r-1".to_string());
        g.tags
            .insert(tags::REFRESH_AMI.to_string(), AMI_NEW.to_string());
        f.obs.refreshes.insert(
            "web-asg".to_string(),
            vec![refresh("r-1", status, Some("2"))],
        );
        if status == "Successful" {
            for i in f.obs.instances.values_mut() {
                i.image_id = AMI_NEW.to_string();
            }
        }
        let p = f.plan();
        assert_eq!(p.event, Some(event), "{status}: {p:#?}");
        let tagged = p.actions.iter().find_map(|a| match &a.action {
            Action::TagGroup { tags: tg, .. } if tg.contains_key(tags::ANNOUNCED) => {
                Some(tg.clone())
            }
            _ => None,
        });
        let tg = tagged.expect("the outcome is recorded");
        assert_eq!(tg[tags::ANNOUNCED], format!("r-1:{status}"));
        if status == "Successful" {
            assert_eq!(tg[tags::SUCCEEDED_AMI], AMI_NEW);
        } else {
            assert_eq!(tg[tags::FAILED_AMI], AMI_NEW);
            assert_eq!(p.status, TargetStatus::Failed);
            assert!(start_of(&p).is_none(), "{status}: never restarted blindly");
        }
        // Recorded: the next run says nothing more.
        f.group_mut("web-asg").tags.extend(tg);
        assert_eq!(f.plan().event, None, "{status} announced twice");
    }
}

#[test]
fn success_moves_the_default_and_keeps_the_rollback_version() {
    let mut f = refresh_fleet();
    let tmpl = f.template_mut();
    tmpl.versions.push(version(
        2,
        AMI_NEW,
        Some(&format!("amiroll: {AMI_NEW} (x) from v1 via {PARAM}:5")),
    ));
    tmpl.template.latest_version = 2;
    // The refresh pinned the group to v2 and replaced every instance.
    let g = f.group_mut("web-asg");
    g.launch_template = Some(TemplateSpec {
        template_id: Some(LT.to_string()),
        template_name: None,
        version: Some("2".to_string()),
    });
    g.tags
        .insert(tags::PINNED_FROM.to_string(), "$Default".to_string());
    g.tags
        .insert(tags::ANNOUNCED.to_string(), "r-1:Successful".to_string());
    g.tags.insert(tags::REFRESH.to_string(), "r-1".to_string());
    for i in f.obs.instances.values_mut() {
        i.image_id = AMI_NEW.to_string();
        i.launch_template_version = Some(2);
    }
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-1", "Successful", Some("2"))],
    );
    let p = f.plan();
    assert!(p.actions.iter().any(|a| matches!(
        a.action,
        Action::SetDefaultVersion {
            version: VersionRef::Number(2),
            ..
        }
    )));
    assert!(!p.actions.iter().any(
        |a| matches!(&a.action, Action::DeleteVersions { versions, .. } if versions.contains(&1))
    ));
    // The group's pin to v2 is amiroll's own: a newer AMI rolls it without `pinned = "update"`.
    let newer = "ami-0ddddddddddddddd4";
    f.obs.images.insert(
        newer.to_string(),
        image(newer, "x86_64", "2026-11-25T00:00:00Z"),
    );
    f.set_param(newer);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Drift, "{:?}", p.errors);
    let (v, prefs) = start_of(&p).expect("refresh");
    assert_eq!(v, Some(VersionRef::Created));
    assert!(
        prefs.auto_rollback,
        "a pinned group keeps rollback without another pin"
    );
}

#[test]
fn resolve_ssm_templates_lose_rollback_and_are_told() {
    let mut f = refresh_fleet();
    f.template_mut().versions[0].image_id = Some(format!("resolve:ssm:{PARAM}"));
    let p = f.plan();
    let (v, prefs) = start_of(&p).expect("refresh");
    assert_eq!(v, None, "no desired configuration");
    assert!(!prefs.auto_rollback && !prefs.skip_matching);
    assert!(p
        .findings
        .iter()
        .any(|x| x.message.contains("cannot roll back")));
}

#[test]
fn ecs_capacity_providers_shape_the_rollout() {
    let cp = |scaling: bool, mtp: bool, draining: bool| CapacityProvider {
        name: "cp-web".to_string(),
        auto_scaling_group_arn: ARN.to_string(),
        managed_scaling: scaling,
        managed_termination_protection: mtp,
        managed_draining: draining,
    };
    // Managed termination protection → protected instances are replaced.
    let mut f = refresh_fleet();
    f.obs.capacity_providers = Some(vec![cp(true, true, true)]);
    let (_, prefs) = start_of(&f.plan()).expect("refresh");
    assert_eq!(
        prefs.scale_in_protected_instances.as_deref(),
        Some("Refresh")
    );
    // Managed draining off → a warning.
    f.obs.capacity_providers = Some(vec![cp(true, false, false)]);
    assert!(f
        .plan()
        .findings
        .iter()
        .any(|x| x.message.contains("without draining")
            || x.message.contains("without managed draining")));
    // Managed scaling refuses scheduled-surge and points to instance-refresh.
    let mut f = Fleet::healthy();
    f.group_mut("web-asg").arn = Some(ARN.to_string());
    f.obs.capacity_providers = Some(vec![cp(true, false, true)]);
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Error);
    assert_eq!(
        p.errors,
        vec![Refusal::EcsManagedScaling {
            group: "web-asg".to_string(),
            provider: "cp-web".to_string(),
        }]
    );
    let e = p.errors[0].to_string();
    assert!(e.contains("instance-refresh"), "{e}");
}

#[test]
fn soak_holds_until_the_ami_is_old_enough() {
    // AMI_NEW was created 2026-11-20; now is 2026-11-26 13:00.
    let f = refresh_fleet().with_setting("min_ami_age = \"7d\"");
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Drift);
    assert!(p.actions.iter().all(|a| !a.action.moves_fleet()));
    assert!(p.summary.contains("2026-11-27T00:00:00Z"), "{}", p.summary);
    let mut f = f;
    f.obs.now = t("2026-11-27T00:00:00Z");
    assert!(
        start_of(&f.plan()).is_some(),
        "released at the eligible time"
    );
}

#[test]
fn maintenance_window_plans_but_does_not_start_outside() {
    let mut f = refresh_fleet().with_setting(
        "maintenance_window = \"0 2 * * SAT\"\ntime_zone = \"Europe/Berlin\"\nmaintenance_window_duration = \"4h\"",
    );
    let p = f.plan();
    assert!(start_of(&p).is_none());
    assert!(p.summary.contains("2026-11-28T01:00:00Z"), "{}", p.summary);
    f.obs.now = t("2026-11-28T01:30:00Z");
    assert!(start_of(&f.plan()).is_some());
    f.obs.now = t("2026-11-28T05:00:00Z");
    assert!(start_of(&f.plan()).is_none(), "closed again");
}

#[test]
fn opted_out_groups_are_never_touched() {
    let mut f = refresh_fleet();
    f.group_mut("web-asg")
        .tags
        .insert(tags::SKIP.to_string(), "true".to_string());
    let p = f.plan();
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
    assert!(p.groups[0].state.contains("skipped"));
    assert!(p.findings.iter().any(|x| x.message.contains(tags::SKIP)));
}

#[test]
fn waves_wait_for_the_earlier_target_and_its_soak() {
    let mut f = refresh_fleet();
    // Staging runs the AMI, healthy (a success tag alone does not open the gate).
    f.add_group("staging-asg", None, (1, 2, 1), AMI_NEW, 1);
    f.config_toml.push_str(&format!(
        "after = \"staging\"\nafter_soak = \"24h\"\n[[target]]\nname = \"staging\"\nlaunch_template = \"{LT}\"\nami_parameter = \"{PARAM}\"\ngroups = [\"staging-asg\"]\n"
    ));
    let prod = |f: &Fleet| {
        planner::plan(&f.config(), &f.obs)
            .targets
            .into_iter()
            .find(|t| t.target == "web")
            .expect("prod")
    };
    let p = prod(&f);
    assert!(start_of(&p).is_none());
    assert!(p.summary.contains("staging"), "{}", p.summary);
    // Staging succeeded at 12:00 today: prod waits until tomorrow 12:00.
    let g = f.group_mut("staging-asg");
    g.tags
        .insert(tags::SUCCEEDED_AMI.to_string(), AMI_NEW.to_string());
    g.tags.insert(
        tags::SUCCEEDED_AT.to_string(),
        "2026-11-26T12:00:00Z".to_string(),
    );
    let p = prod(&f);
    assert!(start_of(&p).is_none());
    assert!(p.summary.contains("2026-11-27T12:00:00Z"), "{}", p.summary);
    f.obs.now = t("2026-11-27T12:00:00Z");
    assert!(start_of(&prod(&f)).is_some());
    // The success tag is not enough: staging's fleet must still be healthy on the AMI.
    f.group_mut("staging-asg").instances[0].health_status = "Unhealthy".to_string();
    let p = prod(&f);
    assert!(start_of(&p).is_none());
    assert!(p.summary.contains("unhealthy"), "{}", p.summary);
    f.group_mut("staging-asg").instances[0].health_status = "Healthy".to_string();
    // Nor does it count once the rollout to the AMI failed there.
    f.group_mut("staging-asg")
        .tags
        .insert(tags::FAILED_AMI.to_string(), AMI_NEW.to_string());
    let p = prod(&f);
    assert!(start_of(&p).is_none());
    assert!(p.summary.contains("failed"), "{}", p.summary);
}

#[test]
fn acknowledging_a_failure_clears_it_and_retries() {
    let mut f = refresh_fleet();
    let g = f.group_mut("web-asg");
    g.tags
        .insert(tags::FAILED_AMI.to_string(), AMI_NEW.to_string());
    g.tags.insert(
        tags::FAILED_REASON.to_string(),
        "instance refresh Failed".to_string(),
    );
    let p = f.plan();
    assert_eq!(p.status, TargetStatus::Failed);
    assert!(start_of(&p).is_none());
    assert!(p.summary.contains("--acknowledge web"), "{}", p.summary);
    let opts = PlanOptions {
        acknowledge: ["web".to_string()].into_iter().collect(),
    };
    let p = plan_opts(&f, &opts);
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::UntagGroup { keys, .. } if keys.contains(&tags::FAILED_AMI.to_string()))));
    assert!(start_of(&p).is_some());
}

#[test]
fn rollback_of_a_refresh_in_flight_uses_the_api() {
    let mut f = refresh_fleet();
    let g = f.group_mut("web-asg");
    // As amiroll leaves a group before its refresh: pinned to the version it launched, so that
    // the saved configuration is a numbered version (a rollback needs one).
    if let Some(spec) = g.launch_template.as_mut() {
        spec.version = Some("1".to_string());
    }
    g.tags
        .insert(tags::PINNED_FROM.to_string(), "$Default".to_string());
    g.tags.insert(tags::REFRESH.to_string(), "r-1".to_string());
    g.tags
        .insert(tags::REFRESH_AMI.to_string(), AMI_NEW.to_string());
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-1", "InProgress", Some("2"))],
    );
    let plan = amiroll_core::rollback::plan_rollback(&f.config(), &f.obs);
    let p = &plan.targets[0];
    assert!(matches!(
        p.actions[0].action,
        Action::RollbackInstanceRefresh { .. }
    ));
    assert!(p.actions.iter().any(|a| matches!(&a.action,
        Action::TagGroup { tags: tg, .. } if tg.get(tags::FAILED_AMI).map(String::as_str) == Some(AMI_NEW))));
    assert_eq!(p.event, Some(Event::RollbackStarted));

    // On `$Default`, Auto Scaling could not undo it ("IrreversibleInstanceRefresh"): amiroll
    // cancels it and refreshes back onto v1 — the cancel recorded first, the failure last.
    let g = f.group_mut("web-asg");
    if let Some(spec) = g.launch_template.as_mut() {
        spec.version = None;
    }
    g.tags.remove(tags::PINNED_FROM);
    let plan = amiroll_core::rollback::plan_rollback(&f.config(), &f.obs);
    let p = &plan.targets[0];
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.event, Some(Event::RollbackStarted));
    match &p.actions[..] {
        [PlannedAction {
            action: Action::TagGroup { tags: record, .. },
            ..
        }, PlannedAction {
            action: Action::CancelInstanceRefresh { refresh, .. },
            ..
        }, PlannedAction {
            action: Action::TagGroup { tags: back, .. },
            ..
        }, PlannedAction {
            action: Action::UntagGroup { .. },
            ..
        }, PlannedAction {
            action:
                Action::StartInstanceRefresh {
                    version: Some(VersionRef::Number(1)),
                    after_cancel: Some(after),
                    ..
                },
            ..
        }, PlannedAction {
            action: Action::TagGroup { tags: failed, .. },
            ..
        }] => {
            assert_eq!(record.get(tags::CANCEL).map(String::as_str), Some("r-1"));
            assert_eq!(
                record.get(tags::CANCEL_AMI).map(String::as_str),
                Some(AMI_NEW)
            );
            assert_eq!(record.get(tags::ROLLBACK_VERSION), Some(&format!("{LT}:1")));
            assert_eq!(refresh, "r-1");
            assert_eq!(
                back.get(tags::REFRESH_AMI).map(String::as_str),
                Some(AMI_OLD)
            );
            assert_eq!(
                back.get(tags::PINNED_FROM).map(String::as_str),
                Some("$Default")
            );
            assert_eq!(after, "r-1");
            assert_eq!(
                failed.get(tags::FAILED_AMI).map(String::as_str),
                Some(AMI_NEW)
            );
        }
        other => panic!("{other:#?}"),
    }
    assert!(
        p.findings.iter().any(|x| x.level == Level::Warning
            && x.message.contains("cannot be rolled back by Auto Scaling")
            && x.message.contains("stay until that refresh replaces them")),
        "{:?}",
        p.findings
    );

    // Nothing with another AMI to go back to: refused, nothing planned.
    f.template_mut().versions[0].image_id = Some(AMI_NEW.to_string());
    let plan = amiroll_core::rollback::plan_rollback(&f.config(), &f.obs);
    let p = &plan.targets[0];
    assert!(
        matches!(&p.errors[..], [amiroll_core::Refusal::IrreversibleRefresh { refresh, why, blocker, .. }]
            if refresh == "r-1" && why.contains("$Default") && blocker.contains("no earlier version")),
        "{:?}",
        p.errors
    );
    assert!(p.actions.is_empty(), "{:?}", p.actions);
}

/// v2 on AMI_NEW, the default.
fn new_default(f: &mut Fleet) {
    let tmpl = f.template_mut();
    tmpl.versions
        .push(version(2, AMI_NEW, Some("amiroll: x from v1 via p:1")));
    tmpl.template.latest_version = 2;
    tmpl.template.default_version = 2;
}

/// The fleet after `amiroll rollback` cancelled refresh r-1 (to AMI_NEW, v2) of a `$Default`
/// group: the cancel record, the version to go back to (v1), one instance on each AMI. The
/// default is still v2 (the run stopped before it moved back).
fn cancelled_fleet(status: &str) -> Fleet {
    let mut f = refresh_fleet();
    new_default(&mut f);
    if let Some(i) = f.obs.instances.get_mut("i-web-asg-1") {
        i.image_id = AMI_NEW.to_string();
        i.launch_template_version = Some(2);
    }
    let g = f.group_mut("web-asg");
    for (k, v) in [
        (tags::CANCEL, "r-1".to_string()),
        (tags::CANCEL_AMI, AMI_NEW.to_string()),
        (tags::ROLLBACK_VERSION, format!("{LT}:1")),
        (tags::REFRESH, "r-1".to_string()),
        (tags::REFRESH_AMI, AMI_NEW.to_string()),
    ] {
        g.tags.insert(k.to_string(), v);
    }
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-1", status, Some("2"))],
    );
    f
}

fn has(p: &amiroll_core::model::TargetPlan, k: fn(&Action) -> bool) -> bool {
    p.actions.iter().any(|a| k(&a.action))
}

/// A plain `amiroll apply` (the Lambda) takes on a rollback whose refresh `amiroll rollback`
/// cancelled: cancel again if the cancel never happened, wait while it is Cancelling, then
/// refresh back; never forward to the AMI it cancelled.
#[test]
fn a_plain_apply_takes_on_a_refresh_amiroll_rollback_cancelled() {
    let cancel =
        |a: &Action| matches!(a, Action::CancelInstanceRefresh { refresh, .. } if refresh == "r-1");
    let back = |a: &Action| matches!(a, Action::StartInstanceRefresh { version: Some(VersionRef::Number(1)), after_cancel: Some(id), .. } if id == "r-1");
    let default_back = |a: &Action| {
        matches!(
            a,
            Action::SetDefaultVersion {
                version: VersionRef::Number(1),
                ..
            }
        )
    };
    let forward = |a: &Action| {
        matches!(
            a,
            Action::CreateVersion { .. }
                | Action::StartInstanceRefresh {
                    version: Some(VersionRef::Number(2)) | Some(VersionRef::Created),
                    ..
                }
        )
    };
    let failed = |a: &Action| matches!(a, Action::TagGroup { tags: t, .. } if t.get(tags::FAILED_AMI).map(String::as_str) == Some(AMI_NEW));

    // The run stopped right after recording the cancel: cancel, refresh back, default back.
    let p = cancelled_fleet("InProgress").plan();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(
        has(&p, cancel) && has(&p, back) && has(&p, default_back) && has(&p, failed),
        "{:#?}",
        p.actions
    );
    assert!(!has(&p, forward), "{:#?}", p.actions);
    assert_eq!(p.status, TargetStatus::Failed);
    // Held as a failed AMI before the failure is recorded.
    assert!(
        p.summary.contains("failed earlier on web-asg"),
        "{}",
        p.summary
    );
    let at = |k: fn(&Action) -> bool| p.actions.iter().position(|a| k(&a.action));
    assert!(at(default_back) < at(cancel) && at(cancel) < at(back));

    // Cancelling: nothing more than waiting (and the default back).
    let p = cancelled_fleet("Cancelling").plan();
    assert!(
        !has(&p, cancel) && !has(&p, back) && !has(&p, forward),
        "{:#?}",
        p.actions
    );
    assert!(has(&p, default_back));
    assert!(
        p.groups[0].state.contains("Cancelling"),
        "{}",
        p.groups[0].state
    );

    // Cancelled: the refresh back.
    let p = cancelled_fleet("Cancelled").plan();
    assert!(
        has(&p, back) && !has(&p, cancel) && !has(&p, forward),
        "{:#?}",
        p.actions
    );

    // The refresh back runs: followed, the record kept; once it has ended, the record goes and
    // the outcome is announced.
    let mut f = cancelled_fleet("Cancelled");
    let g = f.group_mut("web-asg");
    g.tags.insert(tags::REFRESH.to_string(), "r-2".to_string());
    g.tags
        .insert(tags::REFRESH_AMI.to_string(), AMI_OLD.to_string());
    g.tags
        .insert(tags::FAILED_AMI.to_string(), AMI_NEW.to_string());
    f.template_mut().template.default_version = 1;
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![
            refresh("r-2", "InProgress", Some("1")),
            refresh("r-1", "Cancelled", Some("2")),
        ],
    );
    let p = f.plan();
    assert!(
        !has(&p, cancel) && !has(&p, back) && !has(&p, forward),
        "{:#?}",
        p.actions
    );
    assert!(
        !has(&p, |a| matches!(a, Action::UntagGroup { .. })),
        "{:#?}",
        p.actions
    );
    assert_eq!(p.status, TargetStatus::Rolling);
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![
            refresh("r-2", "Successful", Some("1")),
            refresh("r-1", "Cancelled", Some("2")),
        ],
    );
    for i in f.obs.instances.values_mut() {
        i.image_id = AMI_OLD.to_string();
        i.launch_template_version = Some(1);
    }
    let p = f.plan();
    assert!(
        matches!(&p.actions[0].action, Action::UntagGroup { keys, .. } if keys.contains(&tags::CANCEL.to_string())),
        "{:#?}",
        p.actions
    );
    assert_eq!(p.event, Some(Event::RolledBack));
    assert!(!has(&p, forward), "{:#?}", p.actions);
    assert!(!has(&p, failed), "recorded already: {:#?}", p.actions);
    // A run that stopped before the failure record: it is written now, or the next run would
    // roll forward to AMI_NEW again.
    f.group_mut("web-asg").tags.remove(tags::FAILED_AMI);
    let p = f.plan();
    assert!(has(&p, failed), "{:#?}", p.actions);
}

#[test]
fn rollback_after_success_returns_to_the_previous_version() {
    let mut f = refresh_fleet();
    new_default(&mut f);
    for i in f.obs.instances.values_mut() {
        i.image_id = AMI_NEW.to_string();
    }
    let plan = amiroll_core::rollback::plan_rollback(&f.config(), &f.obs);
    let p = &plan.targets[0];
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert!(matches!(
        p.actions[0].action,
        Action::SetDefaultVersion {
            version: VersionRef::Number(1),
            ..
        }
    ));
    let (v, _) = start_of(p).expect("refresh back");
    assert_eq!(v, Some(VersionRef::Number(1)));

    // Nothing older left: a clear error, no change.
    let f = refresh_fleet();
    let plan = amiroll_core::rollback::plan_rollback(&f.config(), &f.obs);
    assert_eq!(plan.targets[0].status, TargetStatus::Error);
    assert!(
        matches!(
            &plan.targets[0].errors[..],
            [Refusal::NothingToRollBackTo { group, version: 1, .. }] if group == "web-asg"
        ),
        "{:?}",
        plan.targets[0].errors
    );
    assert!(plan.targets[0].actions.is_empty());
}

#[test]
fn a_surge_target_waits_for_a_refresh_someone_runs_on_its_group() {
    // `UpdateAutoScalingGroup` is rejected while a refresh with a desired configuration runs: a
    // surge (or a re-pin) must not start, even when the refresh rolls to the same AMI (the
    // target moved from instance-refresh to scheduled-surge while amiroll's refresh ran).
    let mut f = Fleet::healthy();
    f.config_toml.push_str("pinned = \"update\"\n");
    let g = f.group_mut("web-asg");
    g.tags
        .insert(tags::REFRESH.to_string(), "r-someone".to_string());
    g.tags
        .insert(tags::REFRESH_AMI.to_string(), AMI_NEW.to_string());
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-someone", "InProgress", Some("1"))],
    );
    let p = f.plan();
    assert!(
        !p.actions.iter().any(|a| a.action.moves_fleet()),
        "{:?}",
        p.actions
    );
    assert!(
        p.summary
            .contains("instance refresh is in progress on web-asg"),
        "{}",
        p.summary
    );
    // Once it ends, the surge goes ahead.
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-someone", "Successful", Some("1"))],
    );
    let p = f.plan();
    assert!(
        p.actions.iter().any(|a| a.action.moves_fleet()),
        "{:?}",
        p.actions
    );
}

#[test]
fn a_refresh_of_a_group_choosing_types_by_attributes_is_refused() {
    // A refresh sends the group's policy back complete, and the port cannot carry
    // `InstanceRequirements`: sending the rest would replace the attribute-based selection.
    let mut f = refresh_fleet();
    let g = f.group_mut("web-asg");
    g.mixed_instances_policy = Some(amiroll_core::port::MixedInstancesPolicy {
        template: TemplateSpec {
            template_id: Some(LT.to_string()),
            template_name: None,
            version: None,
        },
        overrides: vec![amiroll_core::port::InstanceOverride {
            instance_requirements: true,
            ..Default::default()
        }],
        distribution: None,
    });
    g.launch_template = None;
    let p = f.plan();
    assert_eq!(
        p.errors,
        vec![amiroll_core::Refusal::InstanceRequirements {
            group: "web-asg".to_string()
        }]
    );
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    // With listed types instead, the refresh goes ahead.
    let g = f.group_mut("web-asg");
    if let Some(m) = g.mixed_instances_policy.as_mut() {
        m.overrides[0].instance_requirements = false;
        m.overrides[0].instance_type = Some("m5.large".to_string());
    }
    assert!(start_of(&f.plan()).is_some());
}

/// The fleet after a successful refresh r-1 of a group that named `from`: amiroll pinned it
/// (`amiroll:pinned-from`), the refresh left it on v2 (AMI_NEW), every instance runs v2 and the
/// outcome is recorded. The default is still v1 (it follows in this run).
fn pinned_after_success(from: &str) -> Fleet {
    let mut f = refresh_fleet();
    let tmpl = f.template_mut();
    tmpl.versions.push(version(
        2,
        AMI_NEW,
        Some(&format!("amiroll: {AMI_NEW} (x) from v1 via {PARAM}:5")),
    ));
    tmpl.template.latest_version = 2;
    let g = f.group_mut("web-asg");
    if let Some(spec) = g.launch_template.as_mut() {
        spec.version = Some("2".to_string());
    }
    for (k, v) in [
        (tags::PINNED_FROM, from.to_string()),
        (tags::REFRESH, "r-1".to_string()),
        (tags::REFRESH_AMI, AMI_NEW.to_string()),
        (tags::ANNOUNCED, "r-1:Successful".to_string()),
        (tags::SUCCEEDED_AMI, AMI_NEW.to_string()),
        (tags::SUCCEEDED_AT, "2026-11-26T12:30:00Z".to_string()),
        (tags::ROLLBACK_VERSION, format!("{LT}:1")),
    ] {
        g.tags.insert(k.to_string(), v);
    }
    for i in f.obs.instances.values_mut() {
        i.image_id = AMI_NEW.to_string();
        i.launch_template_version = Some(2);
    }
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![refresh("r-1", "Successful", Some("2"))],
    );
    f
}

fn restore_of(p: &amiroll_core::model::TargetPlan) -> Option<(String, u64)> {
    p.actions.iter().find_map(|a| match &a.action {
        Action::RestoreGroupVersion {
            version, pinned, ..
        } => Some((version.clone(), *pinned)),
        _ => None,
    })
}

/// After a successful refresh the group goes back on the reference it named before amiroll
/// pinned it, once that reference names the version it runs: `$Default` after the default
/// follows (in the same plan, after it), `$Latest` at once. A run that stopped between the
/// update and the removal of the record only removes the record.
#[test]
fn a_successful_refresh_puts_the_group_back_on_its_reference() {
    let mut f = pinned_after_success("$Default");
    let p = f.plan();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(restore_of(&p), Some(("$Default".to_string(), 2)));
    let pos = |k: fn(&Action) -> bool| p.actions.iter().position(|a| k(&a.action));
    assert!(
        pos(|a| matches!(a, Action::SetDefaultVersion { .. }))
            < pos(|a| matches!(a, Action::RestoreGroupVersion { .. })),
        "the default moves first: {:#?}",
        p.actions
    );
    assert!(
        p.actions.iter().all(|a| !matches!(
            &a.action,
            Action::UntagGroup { keys, .. } if keys.iter().any(|k| k == tags::PINNED_FROM)
        )),
        "the record goes with the restore, not before"
    );

    // The default moved in an earlier run: only the restore, and the target is current.
    f.template_mut().template.default_version = 2;
    let p = f.plan();
    assert_eq!(restore_of(&p), Some(("$Default".to_string(), 2)));
    assert_eq!(p.status, TargetStatus::Current);
    assert_eq!(p.event, None);

    // The run stopped after the update: the group names $Default with the record left.
    if let Some(spec) = f.group_mut("web-asg").launch_template.as_mut() {
        spec.version = Some("$Default".to_string());
    }
    let p = f.plan();
    assert_eq!(restore_of(&p), None);
    assert!(
        matches!(&p.actions[..], [PlannedAction { action: Action::UntagGroup { keys, .. }, .. }]
            if keys == &vec![tags::PINNED_FROM.to_string()]),
        "{:#?}",
        p.actions
    );
    // Done: nothing more.
    f.group_mut("web-asg").tags.remove(tags::PINNED_FROM);
    assert!(f.plan().actions.is_empty(), "{:#?}", f.plan().actions);

    // A record that names no reference amiroll pins from is left alone, with a warning.
    let p = pinned_after_success("7").plan();
    assert_eq!(restore_of(&p), None);
    assert!(
        p.findings
            .iter()
            .any(|x| x.level == Level::Warning && x.message.contains("stays pinned to v2")),
        "{:?}",
        p.findings
    );

    // $Latest: v2 is the latest.
    let p = pinned_after_success("$Latest").plan();
    assert_eq!(restore_of(&p), Some(("$Latest".to_string(), 2)));
    // Someone made v3 since: $Latest would launch it, so the group stays pinned and says why.
    let mut f = pinned_after_success("$Latest");
    f.template_mut()
        .versions
        .push(version(3, AMI_OLD, Some("hand-made")));
    f.template_mut().template.latest_version = 3;
    let p = f.plan();
    assert_eq!(restore_of(&p), None);
    assert!(
        p.findings
            .iter()
            .any(|x| x.message.contains("stays pinned to v2") && x.message.contains("v3")),
        "{:?}",
        p.findings
    );
}

/// Never while a refresh runs, nor after a failed or rolled-back one: the group stays where
/// Auto Scaling (or `amiroll rollback`) put it.
#[test]
fn a_pin_stays_after_a_failure_a_rollback_or_during_a_refresh() {
    // In flight (a newer refresh someone started).
    let mut f = pinned_after_success("$Default");
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![
            refresh("r-2", "InProgress", Some("2")),
            refresh("r-1", "Successful", Some("2")),
        ],
    );
    assert_eq!(restore_of(&f.plan()), None);

    // Rolled back by Auto Scaling: the group is on v1 again (its saved configuration) and v2's
    // AMI failed; the default is still v1.
    for status in ["RollbackSuccessful", "Failed"] {
        let mut f = pinned_after_success("$Default");
        if let Some(spec) = f.group_mut("web-asg").launch_template.as_mut() {
            spec.version = Some("1".to_string());
        }
        let g = f.group_mut("web-asg");
        g.tags.remove(tags::SUCCEEDED_AMI);
        g.tags.remove(tags::SUCCEEDED_AT);
        g.tags
            .insert(tags::ANNOUNCED.to_string(), format!("r-1:{status}"));
        g.tags
            .insert(tags::FAILED_AMI.to_string(), AMI_NEW.to_string());
        for i in f.obs.instances.values_mut() {
            i.image_id = AMI_OLD.to_string();
            i.launch_template_version = Some(1);
        }
        f.obs.refreshes.insert(
            "web-asg".to_string(),
            vec![refresh("r-1", status, Some("2"))],
        );
        let p = f.plan();
        assert_eq!(restore_of(&p), None, "{status}");
        assert!(
            !p.actions.iter().any(|a| matches!(
                &a.action,
                Action::UntagGroup { keys, .. } if keys.iter().any(|k| k == tags::PINNED_FROM)
            )),
            "{status}: the record stays"
        );
    }

    // `amiroll rollback` refreshed the group back onto v1 (refresh r-2, Successful) and moved
    // the default back to v1: the group is pinned to v1, AMI_NEW is recorded as failed and the
    // parameter still names it. The group stays where the rollback put it, record and all.
    let mut f = pinned_after_success("$Default");
    if let Some(spec) = f.group_mut("web-asg").launch_template.as_mut() {
        spec.version = Some("1".to_string());
    }
    for i in f.obs.instances.values_mut() {
        i.image_id = AMI_OLD.to_string();
        i.launch_template_version = Some(1);
    }
    let g = f.group_mut("web-asg");
    for (k, v) in [
        (tags::REFRESH, "r-2"),
        (tags::REFRESH_AMI, AMI_OLD),
        (tags::ANNOUNCED, "r-2:Successful"),
        (tags::SUCCEEDED_AMI, AMI_OLD),
        (tags::FAILED_AMI, AMI_NEW),
    ] {
        g.tags.insert(k.to_string(), v.to_string());
    }
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![
            refresh("r-2", "Successful", Some("1")),
            refresh("r-1", "Successful", Some("2")),
        ],
    );
    let p = f.plan();
    assert_eq!(restore_of(&p), None, "{:#?}", p.actions);
    assert!(
        !p.actions.iter().any(|a| matches!(
            &a.action,
            Action::UntagGroup { keys, .. } if keys.iter().any(|k| k == tags::PINNED_FROM)
        )),
        "the record stays"
    );

    // Someone else's refresh, started after amiroll's and rolled back by Auto Scaling: the fleet
    // is whole on the AMI, the default is v2, and still the group stays where that rollback put it.
    let mut f = pinned_after_success("$Default");
    f.template_mut().template.default_version = 2;
    f.obs.refreshes.insert(
        "web-asg".to_string(),
        vec![
            refresh("r-x", "RollbackSuccessful", Some("2")),
            refresh("r-1", "Successful", Some("2")),
        ],
    );
    assert_eq!(restore_of(&f.plan()), None);

    // Outside the maintenance window nothing changes, the pin neither (the clock is at 13:00).
    let mut f = pinned_after_success("$Default")
        .with_setting("maintenance_window = \"0 2 * * *\"\nmaintenance_window_duration = \"1h\"");
    f.template_mut().template.default_version = 2;
    let p = f.plan();
    assert_eq!(restore_of(&p), None, "{:#?}", p.actions);
    assert!(p.actions.is_empty(), "{:#?}", p.actions);

    // A cancelled refresh being rolled back by amiroll: never.
    let mut f = pinned_after_success("$Default");
    f.template_mut().template.default_version = 2;
    f.group_mut("web-asg")
        .tags
        .insert(tags::CANCEL.to_string(), "r-0".to_string());
    assert_eq!(restore_of(&f.plan()), None);
}
