use std::time::Duration;

use amiroll_core::port::{op, Aws, ErrorKind, InstanceOverride, TemplateSpec, UpdateGroupRequest};
use futures::executor::block_on;

use super::{account, fleet, strings, version_request};
use crate::{GroupSpec, TemplateData};

fn ids(sim: &crate::SimAws, group: &str) -> Vec<String> {
    sim.group(group)
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect()
}

fn id(n: u64) -> String {
    format!("i-{n:017x}")
}

#[test]
fn a_new_group_is_a_steady_balanced_fleet() {
    let (sim, lt) = fleet();
    let g = sim.group("web-asg");
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (2, 6, 4));
    assert_eq!(g.instances.len(), 4);
    assert!(g
        .instances
        .iter()
        .all(|i| i.is_in_service() && i.is_healthy()));
    let in_a = g
        .instances
        .iter()
        .filter(|i| i.availability_zone == "us-east-1a")
        .count();
    assert_eq!(in_a, 2);
    assert_eq!(g.termination_policies, vec!["Default"]);
    let spec = g.launch_template.expect("launch template");
    assert_eq!(spec.template_id.as_deref(), Some(lt.as_str()));
    assert_eq!(spec.template_name.as_deref(), Some("web"));
    assert_eq!(spec.version.as_deref(), Some("$Default"));
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
    assert_eq!(sim.max_capacity_seen("web-asg"), 4);

    let instances = block_on(sim.describe_instances(&ids(&sim, "web-asg"))).expect("describe");
    assert!(instances.iter().all(|i| i.state == "running"
        && i.image_id == "ami-old"
        && i.launch_template_id.as_deref() == Some(lt.as_str())
        && i.launch_template_version == Some(1)));
}

#[test]
fn launches_resolve_latest_default_and_pinned_versions_at_launch_time() {
    let (sim, lt) = account();
    for (name, version) in [
        ("latest", "$Latest"),
        ("default", "$Default"),
        ("pinned", "1"),
    ] {
        sim.create_group(GroupSpec::new(name, &lt, 0, 4, 1).with_version(version))
            .expect("group");
    }
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")))
        .expect("v2");
    for g in ["latest", "default", "pinned"] {
        sim.set_desired_capacity(g, 2).expect("scale");
    }
    assert_eq!(sim.instances_by_ami("latest").get("ami-new"), Some(&1));
    assert_eq!(sim.instances_by_ami("default").get("ami-new"), None);
    assert_eq!(sim.instances_by_ami("pinned").get("ami-new"), None);

    block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("default");
    for g in ["latest", "default", "pinned"] {
        sim.set_desired_capacity(g, 3).expect("scale");
    }
    assert_eq!(sim.instances_by_ami("latest").get("ami-new"), Some(&2));
    assert_eq!(sim.instances_by_ami("default").get("ami-new"), Some(&1));
    assert_eq!(sim.instances_by_ami("pinned").get("ami-old"), Some(&3));

    let newest = ids(&sim, "default").pop().expect("instance");
    let described = block_on(sim.describe_instances(&[newest])).expect("describe");
    assert_eq!(described[0].launch_template_version, Some(2));
    assert_eq!(described[0].state, "pending");
}

#[test]
fn instances_come_into_service_after_the_boot_time() {
    let (sim, _) = fleet();
    sim.set_desired_capacity("web-asg", 5).expect("scale");
    let new = id(5);
    let state = |sim: &crate::SimAws| {
        sim.group("web-asg")
            .instances
            .into_iter()
            .find(|i| i.instance_id == new)
            .map(|i| i.lifecycle_state)
    };
    assert_eq!(state(&sim).as_deref(), Some("Pending"));
    sim.advance(Duration::from_secs(89));
    assert_eq!(state(&sim).as_deref(), Some("Pending"));
    sim.advance(Duration::from_secs(1));
    assert_eq!(state(&sim).as_deref(), Some("InService"));

    sim.set_boot_time(Duration::from_secs(10));
    sim.set_desired_capacity("web-asg", 6).expect("scale");
    sim.advance(Duration::from_secs(10));
    assert!(sim
        .group("web-asg")
        .instances
        .iter()
        .all(|i| i.is_in_service()));
}

#[test]
fn unhealthy_ami_instances_reach_in_service_unhealthy() {
    let (sim, lt) = fleet();
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-bad", "bad")))
        .expect("v2");
    block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("default");
    sim.set_desired_capacity("web-asg", 6).expect("surge");
    sim.advance(Duration::from_secs(90));
    let g = sim.group("web-asg");
    let bad: Vec<String> = g
        .instances
        .iter()
        .filter(|i| !i.is_healthy())
        .map(|i| i.instance_id.clone())
        .collect();
    assert_eq!(bad.len(), 2);
    assert!(g
        .instances
        .iter()
        .filter(|i| !i.is_healthy())
        .all(|i| i.is_in_service() && i.health_status == "Unhealthy"));
    // Auto Scaling replaces instances that fail their health checks (here 60 s after the grace
    // period of 0 s): the bad ones are terminated and relaunched, from the bad AMI again.
    sim.advance(Duration::from_secs(60));
    let g = sim.group("web-asg");
    assert!(g.instances.iter().all(|i| !bad.contains(&i.instance_id)));
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-bad"), Some(&2));
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
    assert_eq!(sim.max_capacity_seen("web-asg"), 6);
    // With ReplaceUnhealthy suspended they stay.
    sim.suspend_processes("web-asg", &["ReplaceUnhealthy"])
        .expect("suspend");
    sim.advance(Duration::from_secs(3600));
    let unhealthy = sim
        .group("web-asg")
        .instances
        .iter()
        .filter(|i| i.health_status == "Unhealthy")
        .count();
    assert_eq!(unhealthy, 2);
}

#[test]
fn a_failing_instance_is_reported_healthy_for_its_grace_period_then_replaced() {
    let (sim, lt) = fleet();
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-bad", "bad")))
        .expect("v2");
    block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("default");
    sim.set_health_check_grace_period("web-asg", 300);
    let grace = |sim: &crate::SimAws| sim.group("web-asg").health_check_grace_period_secs;
    assert_eq!(grace(&sim), 300);
    sim.set_desired_capacity("web-asg", 5).expect("surge");
    let bad_ids = |sim: &crate::SimAws| -> Vec<String> {
        let g = sim.group("web-asg");
        g.instances
            .iter()
            .filter(|i| {
                sim.instance(&i.instance_id).map(|e| e.image_id).as_deref() == Some("ami-bad")
            })
            .map(|i| i.instance_id.clone())
            .collect()
    };
    let first = bad_ids(&sim);
    assert_eq!(first.len(), 1);
    let health = |sim: &crate::SimAws, id: &str| {
        sim.group("web-asg")
            .instances
            .iter()
            .find(|i| i.instance_id == id)
            .map(|i| (i.lifecycle_state.clone(), i.health_status.clone()))
    };
    // In service after its boot, and for the grace period reported Healthy: Auto Scaling has
    // not checked it yet.
    sim.advance(Duration::from_secs(90));
    assert_eq!(
        health(&sim, &first[0]),
        Some(("InService".to_string(), "Healthy".to_string()))
    );
    sim.advance(Duration::from_secs(299));
    assert_eq!(
        health(&sim, &first[0]).map(|h| h.1).as_deref(),
        Some("Healthy")
    );
    // Then Unhealthy, then replaced from the same (bad) AMI.
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        health(&sim, &first[0]).map(|h| h.1).as_deref(),
        Some("Unhealthy")
    );
    sim.advance(Duration::from_secs(60));
    assert_eq!(health(&sim, &first[0]), None);
    let second = bad_ids(&sim);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    assert_eq!(
        health(&sim, &second[0]),
        Some(("Pending".to_string(), "Healthy".to_string()))
    );
    // The ground truth never counted it healthy.
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
}

#[test]
fn scale_in_oldest_launch_template_respects_az_balance_first() {
    let (sim, lt) = account();
    sim.create_group(
        GroupSpec::new("g", &lt, 0, 8, 4).with_termination_policies(&["OldestLaunchTemplate"]),
    )
    .expect("group");
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")))
        .expect("v2");
    block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("default");
    sim.set_desired_capacity("g", 6).expect("surge");
    sim.advance(Duration::from_secs(120));
    // a: 1, 3, 5(new)   b: 2, 4, 6(new)
    sim.set_desired_capacity("g", 4).expect("scale in");
    assert_eq!(ids(&sim, "g"), vec![id(3), id(4), id(5), id(6)]);
    sim.set_desired_capacity("g", 2).expect("scale in");
    assert_eq!(ids(&sim, "g"), vec![id(5), id(6)]);
    assert_eq!(sim.instances_by_ami("g").get("ami-new"), Some(&2));
    let zones: Vec<String> = sim
        .group("g")
        .instances
        .iter()
        .map(|i| i.availability_zone.clone())
        .collect();
    assert_eq!(zones, vec!["us-east-1a", "us-east-1b"]);
}

#[test]
fn scale_in_picks_the_fullest_zone_before_applying_the_policy() {
    let (sim, lt) = account();
    sim.create_group(
        GroupSpec::new("g", &lt, 0, 4, 1).with_termination_policies(&["NewestInstance"]),
    )
    .expect("group");
    sim.advance(Duration::from_secs(3600));
    // i-1 (a, old); then i-2 (b) and i-3 (a), both newest.
    sim.set_desired_capacity("g", 3).expect("scale out");
    sim.advance(Duration::from_secs(120));
    sim.set_desired_capacity("g", 2).expect("scale in");
    assert_eq!(
        ids(&sim, "g"),
        vec![id(1), id(2)],
        "newest in the fullest zone (a), not i-2"
    );
}

fn repoint(sim: &crate::SimAws, group: &str, template: &str, version: Option<&str>) {
    block_on(sim.update_auto_scaling_group(&UpdateGroupRequest {
        group_name: group.to_string(),
        launch_template: Some(TemplateSpec {
            template_id: None,
            template_name: Some(template.to_string()),
            version: version.map(str::to_string),
        }),
        termination_policies: None,
        ..Default::default()
    }))
    .expect("update");
}

#[test]
fn scale_in_prefers_instances_on_another_template() {
    let (sim, lt) = account();
    sim.create_group(GroupSpec::new("g", &lt, 0, 6, 2))
        .expect("group");
    let other = sim
        .create_launch_template("web-v2", TemplateData::new("ami-new", "t3.small"))
        .expect("other");
    repoint(&sim, "g", "web-v2", None);
    sim.set_desired_capacity("g", 4).expect("surge");
    // Back to the first template: the newer instances (3, 4) are now on a non-current template.
    repoint(&sim, "g", "web", None);
    sim.set_desired_capacity("g", 2).expect("scale in");
    assert_eq!(ids(&sim, "g"), vec![id(1), id(2)]);
    let described = block_on(sim.describe_instances(&ids(&sim, "g"))).expect("describe");
    assert!(described
        .iter()
        .all(|i| i.launch_template_id.as_deref() == Some(lt.as_str())));
    assert_ne!(other, lt);
}

#[test]
fn scale_in_oldest_launch_template_takes_the_oldest_version_even_if_current() {
    let (sim, lt) = account();
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")))
        .expect("v2");
    sim.create_group(GroupSpec::new("g", &lt, 0, 6, 2).with_version("2"))
        .expect("group");
    // Roll back by pinning version 1; the surge instances (3, 4) run version 1.
    repoint(&sim, "g", "web", Some("1"));
    sim.set_desired_capacity("g", 4).expect("surge");
    sim.set_desired_capacity("g", 2).expect("scale in");
    assert_eq!(ids(&sim, "g"), vec![id(1), id(2)]);
    assert_eq!(sim.instances_by_ami("g").get("ami-new"), Some(&2));
}

#[test]
fn protected_instances_are_never_terminated() {
    let (sim, lt) = account();
    sim.create_group(GroupSpec::new("p", &lt, 0, 4, 3).protected_from_scale_in(true))
        .expect("group");
    assert!(sim
        .group("p")
        .instances
        .iter()
        .all(|i| i.protected_from_scale_in));
    sim.set_desired_capacity("p", 1).expect("scale in");
    assert_eq!(
        sim.group_capacity("p"),
        (0, 4, 1),
        "desired is still decremented"
    );
    assert_eq!(sim.group("p").instances.len(), 3);
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("all remaining instances are protected")));

    // Removing protection from one instance lets the pending scale-in take exactly it.
    sim.set_instance_protection("p", &[id(2).as_str()], false)
        .expect("unprotect");
    assert_eq!(ids(&sim, "p"), vec![id(1), id(3)]);
}

#[test]
fn scale_in_skips_protected_instances_in_the_chosen_zone() {
    let (sim, _) = fleet();
    // a: i-1, i-3   b: i-2, i-4
    sim.set_instance_protection("web-asg", &[id(1).as_str(), id(2).as_str()], true)
        .expect("protect");
    sim.set_desired_capacity("web-asg", 2).expect("scale in");
    assert_eq!(ids(&sim, "web-asg"), vec![id(1), id(2)]);
    let err = sim
        .set_instance_protection("web-asg", &["i-00000000000000099"], true)
        .expect_err("not in group");
    assert_eq!(err.kind, ErrorKind::Invalid);
}

#[test]
fn launch_fails_without_a_usable_ami() {
    let (sim, _) = account();
    let lt_missing = sim
        .create_launch_template("missing-ami", TemplateData::new("ami-nope", "t3.small"))
        .expect("template");
    sim.create_group(GroupSpec::new("m", &lt_missing, 0, 2, 1))
        .expect("group");
    assert!(sim.group("m").instances.is_empty());

    let lt_arch = sim
        .create_launch_template("wrong-arch", TemplateData::new("ami-arm", "t3.small"))
        .expect("template");
    sim.create_group(GroupSpec::new("w", &lt_arch, 0, 2, 1))
        .expect("group");
    assert!(sim.group("w").instances.is_empty());

    let lt_ssm = sim
        .create_launch_template("ssm", TemplateData::new("resolve:ssm:/ami/web", "t3.small"))
        .expect("template");
    sim.create_group(GroupSpec::new("s", &lt_ssm, 0, 2, 1))
        .expect("group");
    assert!(sim.group("s").instances.is_empty());
    sim.put_parameter("/ami/web", "ami-new");
    sim.advance(Duration::from_secs(300));
    assert_eq!(
        sim.instances_by_ami("s").get("ami-new"),
        Some(&1),
        "the retry resolves the SSM parameter at launch"
    );

    let events: Vec<String> = sim.events().into_iter().map(|(_, e)| e).collect();
    assert!(events
        .iter()
        .any(|e| e.contains("autoscaling m: launch failed: InvalidAMIID.NotFound")));
    assert!(events
        .iter()
        .any(|e| e.contains("autoscaling w: launch failed: InvalidParameterValue")));
}

#[test]
fn mixed_groups_rotate_through_overrides() {
    let (sim, lt) = account();
    let arm = sim
        .create_launch_template("web-arm", TemplateData::new("ami-arm", "m6g.large"))
        .expect("arm");
    sim.create_group(GroupSpec::new("mixed", &lt, 0, 4, 4).with_overrides(vec![
        InstanceOverride {
            instance_type: Some("t3.large".to_string()),
            template: None,
            ..InstanceOverride::default()
        },
        InstanceOverride {
            instance_type: Some("m6g.large".to_string()),
            template: Some(TemplateSpec {
                template_id: Some(arm.clone()),
                template_name: None,
                version: Some("$Latest".to_string()),
            }),
            ..InstanceOverride::default()
        },
    ]))
    .expect("group");
    let by_ami = sim.instances_by_ami("mixed");
    assert_eq!(
        (by_ami.get("ami-old"), by_ami.get("ami-arm")),
        (Some(&2), Some(&2))
    );
    let g = sim.group("mixed");
    assert!(g.launch_template.is_none());
    let policy = g.mixed_instances_policy.expect("mixed");
    assert_eq!(policy.template.template_name.as_deref(), Some("web"));
    assert_eq!(
        policy.overrides[1]
            .template
            .as_ref()
            .and_then(|t| t.template_name.as_deref()),
        Some("web-arm")
    );
    let err = block_on(sim.update_auto_scaling_group(&UpdateGroupRequest {
        group_name: "mixed".to_string(),
        launch_template: Some(TemplateSpec {
            template_id: Some(lt),
            template_name: None,
            version: Some("1".to_string()),
        }),
        termination_policies: None,
        ..Default::default()
    }))
    .expect_err("mixed group");
    assert_eq!(err.kind, ErrorKind::Invalid);
}

#[test]
fn describe_auto_scaling_groups_limits() {
    let (sim, _) = fleet();
    let groups = block_on(sim.describe_auto_scaling_groups(&strings(&["web-asg", "nope"])))
        .expect("describe");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "web-asg");
    assert!(groups[0]
        .arn
        .as_deref()
        .is_some_and(|a| a.ends_with("autoScalingGroupName/web-asg")));
    let many: Vec<String> = (0..101).map(|i| format!("g{i}")).collect();
    let err = block_on(sim.describe_auto_scaling_groups(&many)).expect_err("101 names");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
    assert_eq!(err.operation, op::DESCRIBE_AUTO_SCALING_GROUPS);
}

#[test]
fn update_group_validates_policies_and_template() {
    let (sim, lt) = fleet();
    let update = |policies: &[&str]| UpdateGroupRequest {
        group_name: "web-asg".to_string(),
        launch_template: None,
        termination_policies: Some(strings(policies)),
        ..Default::default()
    };
    for bad in [&["Bogus"][..], &["Default", "OldestInstance"][..]] {
        let err = block_on(sim.update_auto_scaling_group(&update(bad))).expect_err("invalid");
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Invalid, "ValidationError")
        );
    }
    assert_eq!(sim.group("web-asg").termination_policies, vec!["Default"]);
    block_on(sim.update_auto_scaling_group(&update(&["OldestLaunchTemplate", "Default"])))
        .expect("valid");
    assert_eq!(
        sim.group("web-asg").termination_policies,
        vec!["OldestLaunchTemplate", "Default"]
    );

    let bad_version = UpdateGroupRequest {
        group_name: "web-asg".to_string(),
        launch_template: Some(TemplateSpec {
            template_id: Some(lt.clone()),
            template_name: None,
            version: Some("5".to_string()),
        }),
        termination_policies: None,
        ..Default::default()
    };
    let err = block_on(sim.update_auto_scaling_group(&bad_version)).expect_err("no v5");
    assert_eq!(err.kind, ErrorKind::Invalid);

    let missing = UpdateGroupRequest {
        group_name: "nope".to_string(),
        launch_template: None,
        termination_policies: None,
        ..Default::default()
    };
    let err = block_on(sim.update_auto_scaling_group(&missing)).expect_err("no group");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::NotFound, "ValidationError")
    );
}

#[test]
fn terminated_instances_stay_visible_for_an_hour() {
    let (sim, _) = fleet();
    sim.set_desired_capacity("web-asg", 3).expect("scale in");
    let all: Vec<String> = (1..=4).map(id).collect();
    let described = block_on(sim.describe_instances(&all)).expect("describe");
    assert_eq!(described.len(), 4);
    assert_eq!(
        described.iter().filter(|i| i.state == "terminated").count(),
        1
    );
    assert_eq!(sim.group("web-asg").instances.len(), 3);
    sim.advance(Duration::from_secs(3600));
    let described = block_on(sim.describe_instances(&all)).expect("describe");
    assert_eq!(described.len(), 3);
    assert!(described.iter().all(|i| i.state == "running"));
}

#[test]
fn suspended_launch_and_terminate() {
    let (sim, _) = fleet();
    sim.suspend_processes("web-asg", &["Launch", "Terminate"])
        .expect("suspend");
    sim.set_desired_capacity("web-asg", 6).expect("up");
    assert_eq!(sim.group("web-asg").instances.len(), 4);
    sim.set_desired_capacity("web-asg", 2).expect("down");
    assert_eq!(sim.group("web-asg").instances.len(), 4);
    sim.resume_processes("web-asg", &["Terminate"])
        .expect("resume");
    assert_eq!(sim.group("web-asg").instances.len(), 2);
    let err = sim
        .suspend_processes("web-asg", &["Bogus"])
        .expect_err("bad name");
    assert_eq!(err.kind, ErrorKind::Invalid);
}

/// The port's `SetInstanceProtection`: a logged call, validated as AWS does.
fn protect(sim: &crate::SimAws, group: &str, ids: &[String], protected: bool) {
    block_on(Aws::set_instance_protection(sim, group, ids, protected)).expect("protect");
}

#[test]
fn set_instance_protection_is_a_port_call_validated_like_aws() {
    let (sim, lt) = fleet();
    protect(&sim, "web-asg", &[id(1), id(3)], true);
    let g = sim.group("web-asg");
    let protected: Vec<&str> = g
        .instances
        .iter()
        .filter(|i| i.protected_from_scale_in)
        .map(|i| i.instance_id.as_str())
        .collect();
    assert_eq!(protected, vec![id(1).as_str(), id(3).as_str()]);
    assert_eq!(sim.call_count(op::SET_INSTANCE_PROTECTION), 1);

    let rejected = |group: &str, ids: Vec<String>| {
        let err =
            block_on(Aws::set_instance_protection(&sim, group, &ids, false)).expect_err("rejected");
        assert_eq!(err.code, "ValidationError", "{err}");
        assert_eq!(err.operation, op::SET_INSTANCE_PROTECTION);
        err
    };
    let err = rejected("web-asg", vec![id(1), "i-00000000000000099".to_string()]);
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message
            .contains("The instance i-00000000000000099 is not part of Auto Scaling group web-asg"),
        "{err}"
    );
    // An instance of another group is not part of this one either.
    sim.create_group(GroupSpec::new("other", &lt, 0, 2, 1))
        .expect("other group");
    let foreign = ids(&sim, "other");
    assert_eq!(rejected("web-asg", foreign).kind, ErrorKind::Invalid);
    assert_eq!(
        rejected("no-such-group", vec![id(1)]).kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        rejected("web-asg", (0..51).map(|_| id(1)).collect()).kind,
        ErrorKind::Invalid
    );
    assert_eq!(rejected("web-asg", Vec::new()).kind, ErrorKind::Invalid);
    // A rejected call changed nothing (i-1 is still protected).
    assert!(sim
        .group("web-asg")
        .instances
        .iter()
        .any(|i| i.instance_id == id(1) && i.protected_from_scale_in));

    // Fifty is the most one call takes.
    let fifty: Vec<String> = (0..50).map(|_| id(2)).collect();
    protect(&sim, "web-asg", &fifty, true);

    // An injected fault fails the call without effect.
    sim.fail_nth(
        op::SET_INSTANCE_PROTECTION,
        1,
        ErrorKind::Throttling,
        "Throttling",
    );
    let err = block_on(Aws::set_instance_protection(
        &sim,
        "web-asg",
        &[id(4)],
        true,
    ))
    .expect_err("injected");
    assert_eq!(err.kind, ErrorKind::Throttling);
    assert!(sim
        .group("web-asg")
        .instances
        .iter()
        .any(|i| i.instance_id == id(4) && !i.protected_from_scale_in));
}

/// The old instances protected, a scale-in takes the new ones even though
/// `OldestLaunchTemplate` would pick the old ones first ("Use instance scale-in protection";
/// "Control which Auto Scaling instances terminate during scale in").
#[test]
fn scale_in_takes_unprotected_new_instances_before_protected_old_ones() {
    let (sim, lt) = account();
    for name in ["protected", "control"] {
        sim.create_group(
            GroupSpec::new(name, &lt, 0, 8, 2).with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    }
    // protected: i-1, i-2 (v1); control: i-3, i-4 (v1).
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")))
        .expect("v2");
    block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("default");
    let old = ids(&sim, "protected");
    assert_eq!(old, vec![id(1), id(2)]);
    protect(&sim, "protected", &old, true);
    let resize = |group: &str, desired: i32| UpdateGroupRequest {
        group_name: group.to_string(),
        min_size: Some(0),
        max_size: Some(8),
        desired_capacity: Some(desired),
        ..Default::default()
    };
    for group in ["protected", "control"] {
        block_on(sim.update_auto_scaling_group(&resize(group, 4))).expect("surge");
    }
    sim.advance(Duration::from_secs(120));
    assert_eq!(sim.instances_by_ami("protected").get("ami-new"), Some(&2));
    for group in ["protected", "control"] {
        block_on(sim.update_auto_scaling_group(&resize(group, 2))).expect("scale in");
    }
    assert_eq!(
        ids(&sim, "protected"),
        old,
        "the unprotected new instances went"
    );
    assert_eq!(sim.instances_by_ami("protected").get("ami-old"), Some(&2));
    assert_eq!(
        sim.instances_by_ami("control").get("ami-new"),
        Some(&2),
        "without protection OldestLaunchTemplate takes the old ones"
    );
}

#[test]
fn update_group_sizes_are_validated_and_applied_at_once() {
    let (sim, _) = fleet();
    let sizes = |min: Option<i32>, max: Option<i32>, desired: Option<i32>| UpdateGroupRequest {
        group_name: "web-asg".to_string(),
        min_size: min,
        max_size: max,
        desired_capacity: desired,
        ..Default::default()
    };
    for (bad, what) in [
        (sizes(Some(3), Some(6), Some(2)), "desired below min"),
        (sizes(Some(2), Some(6), Some(7)), "desired above max"),
        (sizes(Some(5), Some(3), None), "min above max"),
        (sizes(None, None, Some(7)), "desired above the current max"),
        (sizes(None, Some(1), None), "max below the current min"),
        (sizes(Some(-1), None, None), "negative"),
    ] {
        let err = block_on(sim.update_auto_scaling_group(&bad)).expect_err(what);
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Invalid, "ValidationError"),
            "{what}: {err}"
        );
        assert_eq!(sim.group_capacity("web-asg"), (2, 6, 4), "{what}");
    }

    block_on(sim.update_auto_scaling_group(&sizes(Some(3), Some(8), Some(7)))).expect("grow");
    assert_eq!(sim.group_capacity("web-asg"), (3, 8, 7));
    assert_eq!(sim.group("web-asg").instances.len(), 7, "launched at once");
    // Without a desired capacity, a max below it moves it down (and terminates at once).
    block_on(sim.update_auto_scaling_group(&sizes(None, Some(5), None))).expect("shrink");
    assert_eq!(sim.group_capacity("web-asg"), (3, 5, 5));
    assert_eq!(sim.group("web-asg").instances.len(), 5);
    // ... and a min above it moves it up.
    block_on(sim.update_auto_scaling_group(&sizes(Some(5), Some(8), None))).expect("raise min");
    assert_eq!(sim.group_capacity("web-asg"), (5, 8, 5));
    block_on(sim.update_auto_scaling_group(&sizes(Some(6), None, None))).expect("raise min");
    assert_eq!(sim.group_capacity("web-asg"), (6, 8, 6));
    assert_eq!(sim.group("web-asg").instances.len(), 6);
}
