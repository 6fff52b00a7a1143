use std::time::Duration;

use amiroll_core::port::{
    Aws, DesiredTemplate, ErrorKind, InstanceOverride, InstanceRefresh, InstancesDistribution,
    MixedInstancesPolicy, RefreshPreferences, StartRefreshRequest, TemplateSpec,
    UpdateGroupRequest,
};
use futures::executor::block_on;

use super::{account, fleet, pin};
use crate::{GroupSpec, SimAws, TemplateData};

fn prefs(min: i32, max: i32) -> RefreshPreferences {
    RefreshPreferences {
        min_healthy_percentage: min,
        max_healthy_percentage: max,
        skip_matching: false,
        instance_warmup: Some(60),
        auto_rollback: false,
        checkpoint_percentages: Vec::new(),
        checkpoint_delay: None,
        alarms: Vec::new(),
        bake_time: None,
        scale_in_protected_instances: None,
        standby_instances: None,
    }
}

fn request(
    group: &str,
    lt: &str,
    version: u64,
    preferences: RefreshPreferences,
) -> StartRefreshRequest {
    StartRefreshRequest {
        group_name: group.to_string(),
        desired: Some(DesiredTemplate {
            template_id: lt.to_string(),
            version,
        }),
        preferences,
        mixed_instances_policy: None,
    }
}

/// A new version of the template with `ami`; returns its number.
fn version(sim: &SimAws, lt: &str, ami: &str) -> u64 {
    sim.create_launch_template_version_raw(
        lt,
        Some(1),
        TemplateData {
            image_id: Some(ami.to_string()),
            ..TemplateData::default()
        },
        None,
    )
    .expect("version")
}

/// A new version of the template whose ImageId is the SSM parameter `/amiroll/web`.
fn ssm_version(sim: &SimAws, lt: &str) -> u64 {
    sim.create_launch_template_version_raw(
        lt,
        Some(1),
        TemplateData {
            image_id: Some("resolve:ssm:/amiroll/web".to_string()),
            ..TemplateData::default()
        },
        None,
    )
    .expect("ssm version")
}

fn latest(sim: &SimAws, group: &str) -> InstanceRefresh {
    sim.instance_refreshes(group)
        .into_iter()
        .next()
        .expect("a refresh")
}

/// Advance in 10-second steps until the refresh is terminal (at most `limit` seconds), checking
/// `check` after every step; returns the seconds it took.
fn run_to_end(sim: &SimAws, group: &str, limit: u64, mut check: impl FnMut(&SimAws)) -> u64 {
    let mut waited = 0;
    while !latest(sim, group).is_terminal() {
        assert!(
            waited < limit,
            "refresh still {:?} after {waited} s",
            latest(sim, group)
        );
        sim.advance(Duration::from_secs(10));
        waited += 10;
        check(sim);
    }
    waited
}

/// `account()` plus a group `big` (min 0, max 20, desired 10).
fn big_fleet() -> (SimAws, String) {
    let (sim, lt) = account();
    sim.create_group(GroupSpec::new("big", &lt, 0, 20, 10))
        .expect("group");
    (sim, lt)
}

#[test]
fn a_good_ami_launches_before_terminating_and_pins_the_group() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    let id = block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start");

    let r = latest(&sim, "web-asg");
    assert_eq!(r.id, id);
    assert_eq!(r.status, "InProgress");
    assert_eq!(r.instances_to_update, Some(4));
    assert_eq!(r.percentage_complete, Some(0));
    assert_eq!(r.start_time, Some(sim.now()));
    let desired = r.desired_template.expect("desired template");
    assert_eq!(desired.template_id.as_deref(), Some(lt.as_str()));
    assert_eq!(desired.version.as_deref(), Some("2"));
    // Launch before terminate: four new instances next to the four old ones.
    assert_eq!(sim.group("web-asg").instances.len(), 8);

    run_to_end(&sim, "web-asg", 3600, |sim| {
        let g = sim.group("web-asg");
        assert!(g.instances.len() <= 8);
        let healthy = g
            .instances
            .iter()
            .filter(|i| i.is_in_service() && i.is_healthy())
            .count();
        assert!(healthy >= 4, "{healthy} healthy");
    });
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Successful");
    assert_eq!(r.percentage_complete, Some(100));
    assert_eq!(r.instances_to_update, Some(0));
    assert!(r.end_time.is_some());
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
    assert_eq!(sim.instances_by_ami("web-asg").len(), 1);
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
    assert_eq!(sim.max_instances_seen("web-asg"), 8);
    assert!(sim.max_capacity_seen("web-asg") <= 8);

    // The group now uses the desired configuration, pinned by number.
    let spec = sim.group("web-asg").launch_template.expect("template");
    assert_eq!(spec.template_id.as_deref(), Some(lt.as_str()));
    assert_eq!(spec.version.as_deref(), Some("2"));
    // Warm-up: InService at 90 s, counted after 60 s more, then the old ones go.
    let events = sim.events();
    assert!(events
        .iter()
        .any(|(_, e)| e.contains(&id) && e.contains("Successful")));
    assert!(events
        .iter()
        .any(|(_, e)| e.contains("launch template set to") && e.contains("version 2")));
    assert_eq!(
        r.end_time
            .map(|t| (t - r.start_time.unwrap()).num_seconds()),
        Some(150)
    );
}

#[test]
fn skip_matching_leaves_matching_instances_alone() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    sim.set_default_version(&lt, v2).expect("default");
    sim.set_desired_capacity("web-asg", 6).expect("scale out");
    sim.advance(Duration::from_secs(90));
    let matching: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .filter(|i| sim.instance(&i.instance_id).unwrap().image_id == "ami-new")
        .map(|i| i.instance_id.clone())
        .collect();
    assert_eq!(matching.len(), 2);
    sim.reset_stats("web-asg");

    let mut p = prefs(100, 150);
    p.skip_matching = true;
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    assert_eq!(latest(&sim, "web-asg").instances_to_update, Some(4));
    run_to_end(&sim, "web-asg", 3600, |_| {});
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&6));
    let ids: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    assert!(matching.iter().all(|m| ids.contains(m)));
    // 150% of 6: at most 9 instances.
    assert_eq!(sim.max_instances_seen("web-asg"), 9);
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 6);

    // Without skip matching every instance is replaced.
    let mut p = prefs(100, 200);
    p.instance_warmup = Some(0);
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    assert_eq!(latest(&sim, "web-asg").instances_to_update, Some(6));
    run_to_end(&sim, "web-asg", 3600, |_| {});
    let ids_after: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    assert!(matching.iter().all(|m| !ids_after.contains(m)));
}

#[test]
fn terminate_then_launch_stays_within_the_floor() {
    let (sim, lt) = big_fleet();
    let v2 = version(&sim, &lt, "ami-new");
    block_on(sim.start_instance_refresh(&request("big", &lt, v2, prefs(90, 100)))).expect("start");
    // 90% of 10: one instance at a time, terminated first.
    let g = sim.group("big");
    assert_eq!(g.instances.len(), 10);
    assert_eq!(
        g.instances
            .iter()
            .filter(|i| i.lifecycle_state == "Pending")
            .count(),
        1
    );
    let took = run_to_end(&sim, "big", 36_000, |sim| {
        assert!(sim.group("big").instances.len() <= 10);
    });
    assert_eq!(latest(&sim, "big").status, "Successful");
    assert_eq!(sim.instances_by_ami("big").get("ami-new"), Some(&10));
    assert_eq!(sim.max_instances_seen("big"), 10);
    assert_eq!(sim.min_in_service_healthy_seen("big"), 9);
    // Ten rounds of boot (90 s) plus warm-up (60 s).
    assert!((1500..=1510).contains(&took), "{took}");
}

#[test]
fn a_bad_ami_fails_the_refresh_after_the_warm_up() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-bad");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start");
    // The first new instances are Unhealthy at InService (90 s) + warm-up (60 s); the refresh
    // replaces them again and again ("terminates and replaces them") and fails after an hour
    // of it ("One-hour timeout"): at the first check past 150 + 3600 s.
    sim.advance(Duration::from_secs(160));
    assert_eq!(latest(&sim, "web-asg").status, "InProgress");
    assert!(sim
        .events()
        .iter()
        .any(|(_, e)| e.contains("is Unhealthy after its warm-up; replacing it")));
    run_to_end(&sim, "web-asg", 7200, |_| {});
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Failed");
    let reason = r.status_reason.expect("reason");
    assert!(
        reason.contains("Unhealthy") && reason.contains("i-"),
        "{reason}"
    );
    assert_eq!(
        r.end_time
            .map(|t| (t - r.start_time.unwrap()).num_seconds()),
        Some(3750)
    );
    // The surplus bad instances are gone; the old fleet never lost capacity.
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-old"), Some(&4));
    assert_eq!(sim.instances_by_ami("web-asg").len(), 1);
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
    // The group keeps its configuration.
    let spec = sim.group("web-asg").launch_template.expect("template");
    assert_eq!(spec.version.as_deref(), Some("$Default"));
}

#[test]
fn auto_rollback_replaces_a_bad_ami_back_with_the_old_one() {
    let (sim, lt) = big_fleet();
    let v2 = version(&sim, &lt, "ami-bad");
    let mut p = prefs(90, 100);
    p.auto_rollback = true;
    super::pin(&sim, "big", &lt, 1);
    block_on(sim.start_instance_refresh(&request("big", &lt, v2, p))).expect("start");
    // An hour of unhealthy replacements (from 150 s on), then the rollback.
    sim.advance(Duration::from_secs(3749));
    assert_eq!(latest(&sim, "big").status, "InProgress");
    sim.advance(Duration::from_secs(1));
    let r = latest(&sim, "big");
    assert_eq!(r.status, "RollbackInProgress");
    assert!(r
        .status_reason
        .as_deref()
        .unwrap_or("")
        .contains("Unhealthy"));
    run_to_end(&sim, "big", 3600, |_| {});
    let r = latest(&sim, "big");
    assert_eq!(r.status, "RollbackSuccessful");
    assert_eq!(r.percentage_complete, Some(0));
    assert!(r
        .status_reason
        .as_deref()
        .unwrap_or("")
        .contains("Unhealthy"));
    assert_eq!(sim.instances_by_ami("big").get("ami-old"), Some(&10));
    assert_eq!(sim.instances_by_ami("big").len(), 1);
    let events = sim.events();
    assert!(events.iter().any(|(_, e)| e.contains("RollbackInProgress")));
    assert!(events.iter().any(|(_, e)| e.contains("RollbackSuccessful")));
}

#[test]
fn auto_rollback_during_launch_before_terminate_drops_the_new_instances() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-bad");
    let mut p = prefs(100, 200);
    p.auto_rollback = true;
    super::pin(&sim, "web-asg", &lt, 1);
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    run_to_end(&sim, "web-asg", 7200, |_| {});
    assert_eq!(latest(&sim, "web-asg").status, "RollbackSuccessful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-old"), Some(&4));
    assert_eq!(sim.instances_by_ami("web-asg").len(), 1);
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
}

#[test]
fn a_checkpoint_pauses_for_the_delay() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    let mut p = prefs(100, 200);
    p.checkpoint_percentages = vec![50, 100];
    p.checkpoint_delay = Some(600);
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    // Only half the fleet is replaced before the checkpoint.
    assert_eq!(sim.group("web-asg").instances.len(), 6);
    sim.advance(Duration::from_secs(150));
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "InProgress");
    assert_eq!(r.percentage_complete, Some(50));
    assert!(r
        .status_reason
        .as_deref()
        .unwrap_or("")
        .contains("Waiting for checkpoint"));
    sim.advance(Duration::from_secs(599));
    assert_eq!(sim.group("web-asg").instances.len(), 4);
    assert_eq!(latest(&sim, "web-asg").percentage_complete, Some(50));
    sim.advance(Duration::from_secs(1));
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status_reason, None);
    assert_eq!(sim.group("web-asg").instances.len(), 6);
    sim.advance(Duration::from_secs(150));
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Successful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
}

#[test]
fn the_last_checkpoint_below_100_ends_the_refresh_there() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    let mut p = prefs(100, 200);
    p.checkpoint_percentages = vec![25];
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    // "The percentage of the Auto Scaling group that needs to be successfully replaced is
    // indicated by the last value": the refresh ends when it is reached (one replacement, booted
    // in 90 s and warmed up in 60 s), with no checkpoint delay.
    sim.advance(Duration::from_secs(149));
    assert_eq!(latest(&sim, "web-asg").status, "InProgress");
    sim.advance(Duration::from_secs(1));
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Successful");
    assert_eq!(r.percentage_complete, Some(25));
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&1));
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-old"), Some(&3));
}

#[test]
fn bake_time_delays_successful() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    let mut p = prefs(100, 200);
    p.bake_time = Some(300);
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    sim.advance(Duration::from_secs(150));
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Baking");
    assert_eq!(r.percentage_complete, Some(100));
    assert!(!r.is_terminal());
    // Not yet pinned while baking.
    assert_eq!(
        sim.group("web-asg")
            .launch_template
            .unwrap()
            .version
            .as_deref(),
        Some("$Default")
    );
    sim.advance(Duration::from_secs(299));
    assert_eq!(latest(&sim, "web-asg").status, "Baking");
    sim.advance(Duration::from_secs(1));
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
    assert_eq!(
        sim.group("web-asg")
            .launch_template
            .unwrap()
            .version
            .as_deref(),
        Some("2")
    );
}

#[test]
fn one_active_refresh_per_group() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    let first = block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start");
    let err = block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect_err("second");
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(err.code, "InstanceRefreshInProgress");
    run_to_end(&sim, "web-asg", 3600, |_| {});
    let second =
        block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
            .expect("after the first ended");
    assert_ne!(first, second);
    let listed = block_on(sim.describe_instance_refreshes("web-asg")).expect("describe");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, second);
    assert_eq!(listed[1].id, first);
}

#[test]
fn rollback_needs_an_active_refresh() {
    let (sim, _) = fleet();
    let err = block_on(sim.rollback_instance_refresh("web-asg")).expect_err("rollback");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.code, "ActiveInstanceRefreshNotFound");
    let err = block_on(sim.describe_instance_refreshes("nope")).expect_err("missing group");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::NotFound, "ValidationError")
    );
}

#[test]
fn start_validation() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    let ssm = ssm_version(&sim, &lt);
    let start = |r: StartRefreshRequest| block_on(sim.start_instance_refresh(&r));

    let mut p = prefs(100, 200);
    p.auto_rollback = true;
    let err = start(StartRefreshRequest {
        group_name: "web-asg".to_string(),
        desired: None,
        preferences: p.clone(),
        mixed_instances_policy: None,
    })
    .expect_err("no desired");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
    assert!(
        err.message.contains("DesiredConfiguration"),
        "{}",
        err.message
    );
    // AutoRollback from a group on $Default/$Latest: not a numbered version to return to.
    let err = start(request("web-asg", &lt, v2, p.clone())).expect_err("$Default group");
    assert!(err.message.contains("$Default"), "{}", err.message);
    let err = start(request("nope", &lt, v2, prefs(100, 200))).expect_err("group");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::NotFound, "ValidationError")
    );
    let err = start(request("web-asg", &lt, 99, prefs(100, 200))).expect_err("version");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );

    type Change = Box<dyn Fn(&mut RefreshPreferences)>;
    let bad: Vec<Change> = vec![
        Box::new(|p| p.min_healthy_percentage = 101),
        Box::new(|p| p.min_healthy_percentage = -1),
        Box::new(|p| p.max_healthy_percentage = 99),
        Box::new(|p| p.max_healthy_percentage = 201),
        Box::new(|p| {
            p.min_healthy_percentage = 50;
            p.max_healthy_percentage = 200;
        }),
        Box::new(|p| p.checkpoint_percentages = vec![50, 50]),
        Box::new(|p| p.checkpoint_percentages = vec![60, 20]),
        Box::new(|p| p.checkpoint_percentages = vec![0]),
        Box::new(|p| p.checkpoint_percentages = vec![101]),
        Box::new(|p| {
            p.checkpoint_percentages = vec![50];
            p.checkpoint_delay = Some(172_801);
        }),
        Box::new(|p| p.bake_time = Some(172_801)),
        Box::new(|p| p.instance_warmup = Some(-1)),
        Box::new(|p| p.scale_in_protected_instances = Some("Replace".to_string())),
    ];
    for (i, change) in bad.iter().enumerate() {
        let mut p = prefs(100, 200);
        change(&mut p);
        let err = start(request("web-asg", &lt, v2, p)).expect_err(&format!("case {i}"));
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Invalid, "ValidationError"),
            "case {i}"
        );
    }
    // Nothing was started.
    assert!(sim.instance_refreshes("web-asg").is_empty());
    // Without AutoRollback an SSM-parameter template is fine.
    sim.put_parameter("/amiroll/web", "ami-new");
    start(request("web-asg", &lt, ssm, prefs(100, 200))).expect("ssm without rollback");
}

#[test]
fn manual_rollback_and_irreversible_refreshes() {
    let (sim, lt) = fleet();
    // No desired configuration: irreversible.
    block_on(sim.start_instance_refresh(&StartRefreshRequest {
        group_name: "web-asg".to_string(),
        desired: None,
        preferences: prefs(100, 200),
        mixed_instances_policy: None,
    }))
    .expect("start");
    let err = block_on(sim.rollback_instance_refresh("web-asg")).expect_err("irreversible");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "IrreversibleInstanceRefresh")
    );
    run_to_end(&sim, "web-asg", 3600, |_| {});
    // Without a desired configuration the group's own configuration is used and kept.
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-old"), Some(&4));

    let v2 = version(&sim, &lt, "ami-new");
    sim.reset_stats("web-asg");
    let id = block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start");
    sim.advance(Duration::from_secs(150));
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
    // It completed; a finished refresh cannot be rolled back. Start another with a bake time.
    let v3 = version(&sim, &lt, "ami-old");
    let mut p = prefs(100, 200);
    p.bake_time = Some(600);
    let _ = id;
    let id = block_on(sim.start_instance_refresh(&request("web-asg", &lt, v3, p))).expect("start");
    sim.advance(Duration::from_secs(150));
    assert_eq!(latest(&sim, "web-asg").status, "Baking");
    assert_eq!(
        block_on(sim.rollback_instance_refresh("web-asg")).expect("rollback"),
        id
    );
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "RollbackInProgress");
    assert_eq!(r.percentage_complete, Some(100));
    run_to_end(&sim, "web-asg", 3600, |_| {});
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "RollbackSuccessful");
    assert!(r
        .status_reason
        .unwrap_or_default()
        .contains("RollbackInstanceRefresh"));
    // Back on version 2 (the group's configuration before this refresh).
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
    assert_eq!(
        sim.group("web-asg")
            .launch_template
            .unwrap()
            .version
            .as_deref(),
        Some("2")
    );
    assert_eq!(sim.min_in_service_healthy_seen("web-asg"), 4);
}

fn protect_two(sim: &SimAws) -> Vec<String> {
    let ids: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .take(2)
        .map(|i| i.instance_id.clone())
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    sim.set_instance_protection("web-asg", &refs, true)
        .expect("protect");
    ids
}

#[test]
fn protected_instances_wait_then_fail() {
    let (sim, lt) = fleet();
    let protected = protect_two(&sim);
    let v2 = version(&sim, &lt, "ami-new");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start");
    assert_eq!(latest(&sim, "web-asg").instances_to_update, Some(4));
    sim.advance(Duration::from_secs(150));
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "InProgress");
    assert_eq!(r.percentage_complete, Some(50));
    assert!(r.status_reason.unwrap_or_default().contains(&protected[0]));
    sim.advance(Duration::from_secs(3599));
    assert_eq!(latest(&sim, "web-asg").status, "InProgress");
    sim.advance(Duration::from_secs(1));
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Failed");
    assert!(r.status_reason.unwrap_or_default().contains("protection"));
}

#[test]
fn protected_instances_wait_until_protection_is_removed() {
    let (sim, lt) = fleet();
    let protected = protect_two(&sim);
    let v2 = version(&sim, &lt, "ami-new");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start");
    sim.advance(Duration::from_secs(600));
    let refs: Vec<&str> = protected.iter().map(String::as_str).collect();
    sim.set_instance_protection("web-asg", &refs, false)
        .expect("unprotect");
    sim.advance(Duration::from_secs(150));
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
}

#[test]
fn protected_instances_ignored_or_refreshed() {
    let (sim, lt) = fleet();
    let protected = protect_two(&sim);
    let v2 = version(&sim, &lt, "ami-new");
    let mut p = prefs(100, 200);
    p.scale_in_protected_instances = Some("Ignore".to_string());
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    assert_eq!(latest(&sim, "web-asg").instances_to_update, Some(2));
    sim.advance(Duration::from_secs(150));
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
    let ids: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    assert!(protected.iter().all(|p| ids.contains(p)));
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-old"), Some(&2));

    let mut p = prefs(100, 200);
    p.scale_in_protected_instances = Some("Refresh".to_string());
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    assert_eq!(latest(&sim, "web-asg").instances_to_update, Some(4));
    sim.advance(Duration::from_secs(150));
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
    let ids: Vec<String> = sim
        .group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    assert!(protected.iter().all(|p| !ids.contains(p)));
}

#[test]
fn warm_up_defaults_to_the_group_and_then_zero() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    let mut p = prefs(100, 200);
    p.instance_warmup = None;
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p.clone()))).expect("start");
    sim.advance(Duration::from_secs(90));
    assert_eq!(latest(&sim, "web-asg").status, "Successful");

    sim.set_instance_warmup("web-asg", Duration::from_secs(300))
        .expect("warmup");
    let v3 = version(&sim, &lt, "ami-old");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v3, p))).expect("start");
    sim.advance(Duration::from_secs(389));
    assert_eq!(latest(&sim, "web-asg").status, "InProgress");
    sim.advance(Duration::from_secs(1));
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
}

#[test]
fn scale_outs_during_a_refresh_use_the_desired_configuration() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 150))))
        .expect("start");
    // 150% of 4: two at a time.
    assert_eq!(sim.group("web-asg").instances.len(), 6);
    sim.set_desired_capacity("web-asg", 5).expect("scale out");
    // The extra instance comes from version 2 and does not count against the refresh.
    assert_eq!(sim.group("web-asg").instances.len(), 7);
    run_to_end(&sim, "web-asg", 3600, |_| {});
    assert_eq!(latest(&sim, "web-asg").status, "Successful");
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&5));
    assert_eq!(sim.instances_by_ami("web-asg").len(), 1);
}

/// AutoRollback and RollbackInstanceRefresh need the group's *saved* configuration (the one a
/// rollback returns to) to be a numbered version whose ImageId is not an SSM parameter
/// ("RollbackInstanceRefresh", "RefreshPreferences" `AutoRollback`); the desired version may use
/// one.
#[test]
fn rollback_prerequisites_are_on_the_saved_configuration() {
    let (sim, lt) = fleet();
    sim.put_parameter("/amiroll/web", "ami-new");
    let ssm = ssm_version(&sim, &lt);
    let v3 = version(&sim, &lt, "ami-new");
    let start = |r: StartRefreshRequest| block_on(sim.start_instance_refresh(&r));
    let mut auto = prefs(100, 200);
    auto.auto_rollback = true;

    // Saved: version 1 (an AMI id); desired: the SSM version. Allowed both ways.
    pin(&sim, "web-asg", &lt, 1);
    start(request("web-asg", &lt, ssm, auto.clone())).expect("AutoRollback onto an SSM version");
    block_on(sim.rollback_instance_refresh("web-asg")).expect("rollback to version 1");
    run_to_end(&sim, "web-asg", 3600, |_| {});
    assert_eq!(latest(&sim, "web-asg").status, "RollbackSuccessful");

    // Saved: the SSM version. AutoRollback is refused, and so is a manual rollback.
    pin(&sim, "web-asg", &lt, ssm);
    let err = start(request("web-asg", &lt, v3, auto)).expect_err("saved SSM");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
    assert!(err.message.contains("resolve:ssm:"), "{}", err.message);
    start(request("web-asg", &lt, v3, prefs(100, 200))).expect("start without AutoRollback");
    let err = block_on(sim.rollback_instance_refresh("web-asg")).expect_err("saved SSM");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "IrreversibleInstanceRefresh")
    );
    run_to_end(&sim, "web-asg", 3600, |_| {});
    assert_eq!(latest(&sim, "web-asg").status, "Successful");

    // Saved: $Latest. A manual rollback is irreversible too.
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start from $Default");
    let err = block_on(sim.rollback_instance_refresh("web-asg")).expect_err("saved $Default");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "IrreversibleInstanceRefresh")
    );
    assert!(err.message.contains("$Default"), "{}", err.message);
}

fn mixed_group(sim: &SimAws, lt: &str) -> MixedInstancesPolicy {
    let overrides = vec![
        InstanceOverride {
            instance_type: Some("t3.large".to_string()),
            weighted_capacity: Some("2".to_string()),
            ..InstanceOverride::default()
        },
        InstanceOverride {
            instance_type: Some("m5.large".to_string()),
            ..InstanceOverride::default()
        },
    ];
    let distribution = InstancesDistribution {
        on_demand_base_capacity: Some(1),
        on_demand_percentage_above_base_capacity: Some(25),
        spot_allocation_strategy: Some("price-capacity-optimized".to_string()),
        ..InstancesDistribution::default()
    };
    sim.create_group(
        GroupSpec::new("mixed", lt, 0, 6, 4)
            .with_version("1")
            .with_overrides(overrides)
            .with_distribution(distribution),
    )
    .expect("group");
    sim.group("mixed").mixed_instances_policy.expect("mixed")
}

/// A refresh with `DesiredConfiguration.MixedInstancesPolicy` leaves the group on that policy
/// (its overrides and distribution kept, the new version pinned); one with only a
/// `LaunchTemplate` leaves the group on that launch template, its mixed instances policy gone
/// ("How an instance refresh works": the group settings are updated to the desired
/// configuration).
#[test]
fn a_refresh_gives_the_group_exactly_its_desired_configuration() {
    let (sim, lt) = account();
    let before = mixed_group(&sim, &lt);
    let v2 = version(&sim, &lt, "ami-new");
    let mut req = request("mixed", &lt, v2, prefs(100, 200));
    req.mixed_instances_policy = Some(MixedInstancesPolicy {
        template: TemplateSpec::default(),
        ..before.clone()
    });
    block_on(sim.start_instance_refresh(&req)).expect("start");
    run_to_end(&sim, "mixed", 3600, |_| {});
    assert_eq!(latest(&sim, "mixed").status, "Successful");
    let after = sim
        .group("mixed")
        .mixed_instances_policy
        .expect("still mixed");
    assert_eq!(after.overrides, before.overrides);
    assert_eq!(after.distribution, before.distribution);
    assert_eq!(after.template.version.as_deref(), Some("2"));

    let v3 = version(&sim, &lt, "ami-old");
    block_on(sim.start_instance_refresh(&request("mixed", &lt, v3, prefs(100, 200))))
        .expect("start with a LaunchTemplate only");
    run_to_end(&sim, "mixed", 3600, |_| {});
    let g = sim.group("mixed");
    assert_eq!(g.mixed_instances_policy, None);
    assert_eq!(
        g.launch_template.and_then(|t| t.version),
        Some("3".to_string())
    );
}

/// "Update restriction": while a refresh with a desired configuration is active, an update of
/// the group's launch template or mixed instances policy fails with a `ValidationError`; other
/// members (sizes) can still be updated, and so can the template once the refresh is over.
#[test]
fn no_configuration_update_during_a_refresh_with_a_desired_configuration() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect("start");
    let repin = UpdateGroupRequest {
        group_name: "web-asg".to_string(),
        launch_template: Some(TemplateSpec {
            template_id: Some(lt.clone()),
            template_name: None,
            version: Some("1".to_string()),
        }),
        ..UpdateGroupRequest::default()
    };
    let err = block_on(sim.update_auto_scaling_group(&repin)).expect_err("during the refresh");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
    assert!(
        err.message
            .starts_with("An active instance refresh with a desired configuration exists."),
        "{}",
        err.message
    );
    block_on(sim.update_auto_scaling_group(&UpdateGroupRequest {
        group_name: "web-asg".to_string(),
        max_size: Some(8),
        ..UpdateGroupRequest::default()
    }))
    .expect("sizes may change");
    run_to_end(&sim, "web-asg", 3600, |_| {});
    block_on(sim.update_auto_scaling_group(&repin)).expect("after the refresh");

    // Without a desired configuration nothing is derived from it: the update goes through.
    block_on(sim.start_instance_refresh(&StartRefreshRequest {
        group_name: "web-asg".to_string(),
        desired: None,
        preferences: prefs(100, 200),
        mixed_instances_policy: None,
    }))
    .expect("start");
    block_on(sim.update_auto_scaling_group(&repin)).expect("no desired configuration");
}

/// `UpdateAutoScalingGroup` with a `MixedInstancesPolicy` replaces the whole policy: what the
/// request leaves out (here the distribution and an override) is gone.
#[test]
fn a_mixed_instances_policy_update_replaces_the_policy() {
    let (sim, lt) = account();
    let before = mixed_group(&sim, &lt);
    let policy = MixedInstancesPolicy {
        overrides: before.overrides[..1].to_vec(),
        distribution: None,
        // DescribeAutoScalingGroups reports both the template's id and name; a request names
        // exactly one.
        template: TemplateSpec {
            template_id: before.template.template_id.clone(),
            template_name: None,
            version: Some("1".to_string()),
        },
    };
    block_on(sim.update_auto_scaling_group(&UpdateGroupRequest {
        group_name: "mixed".to_string(),
        mixed_instances_policy: Some(policy),
        ..UpdateGroupRequest::default()
    }))
    .expect("update");
    let after = sim.group("mixed").mixed_instances_policy.expect("mixed");
    assert_eq!(after.overrides, before.overrides[..1].to_vec());
    assert_eq!(after.distribution, None);
}

/// The warm-up of a refresh without `InstanceWarmup`: the group's `DefaultInstanceWarmup`, else
/// its health-check grace period ("Understand the default values for an instance refresh").
#[test]
fn warmup_defaults_to_the_health_check_grace_period() {
    let (sim, lt) = account();
    sim.create_group(GroupSpec::new("web-asg", &lt, 1, 2, 1).with_health_check_grace_period(300))
        .expect("group");
    let v2 = version(&sim, &lt, "ami-new");
    let mut p = prefs(100, 200);
    p.instance_warmup = None;
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    // Boot 90 s, then 300 s of warm-up before the old instance goes.
    let took = run_to_end(&sim, "web-asg", 3600, |_| {});
    assert!((390..=400).contains(&took), "took {took} s");
}

/// Eventual consistency: a version just created can be unknown to Auto Scaling for a few calls
/// (`SimAws::delay_version_visibility`), then it is there.
#[test]
fn a_new_version_can_be_invisible_to_auto_scaling_for_a_few_calls() {
    let (sim, lt) = fleet();
    sim.delay_version_visibility(2);
    let v2 = block_on(
        sim.create_launch_template_version(&super::version_request(&lt, 1, "ami-new", "tok-v2")),
    )
    .expect("create")
    .version;
    let pin = UpdateGroupRequest {
        group_name: "web-asg".to_string(),
        launch_template: Some(TemplateSpec {
            template_id: Some(lt.clone()),
            template_name: None,
            version: Some(v2.to_string()),
        }),
        ..UpdateGroupRequest::default()
    };
    let err = block_on(sim.update_auto_scaling_group(&pin)).expect_err("not visible yet");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
    assert!(
        err.message.contains(&format!("version {v2} ")),
        "{}",
        err.message
    );
    let err = block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 200))))
        .expect_err("still not visible");
    assert_eq!(err.code, "ValidationError");
    assert!(sim.instance_refreshes("web-asg").is_empty());
    block_on(sim.update_auto_scaling_group(&pin)).expect("visible now");
    // Versions that existed before are not affected.
    sim.delay_version_visibility(0);
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, 1, prefs(100, 200))))
        .expect("version 1");
}

/// "CancelInstanceRefresh": the refresh is `Cancelling` while the replacements under way finish,
/// then `Cancelled`; what was replaced stays, nothing else is, the group keeps its configuration.
#[test]
fn cancel_lets_the_replacements_under_way_finish_and_rolls_nothing_back() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-new");
    // 125 % of 4: one replacement at a time, launch before terminate.
    let id = block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 125))))
        .expect("start");
    assert_eq!(
        sim.group("web-asg").instances.len(),
        5,
        "one launched first"
    );

    let cancelled = block_on(sim.cancel_instance_refresh("web-asg")).expect("cancel");
    assert_eq!(cancelled, id);
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Cancelling");
    assert!(!r.is_terminal());
    // Still active: another refresh cannot start, and a second cancel finds none in progress.
    let busy = block_on(sim.start_instance_refresh(&request("web-asg", &lt, 1, prefs(100, 125))))
        .expect_err("a refresh while one is cancelling");
    assert_eq!(busy.code, "InstanceRefreshInProgress");
    let again = block_on(sim.cancel_instance_refresh("web-asg")).expect_err("cancel twice");
    assert_eq!(
        (again.kind, again.code.as_str()),
        (ErrorKind::NotFound, "ActiveInstanceRefreshNotFound")
    );

    run_to_end(&sim, "web-asg", 3600, |_| {});
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Cancelled");
    assert!(r.end_time.is_some());
    // The one replacement under way finished (its old instance went); the rest were not touched.
    let by_ami = sim.instances_by_ami("web-asg");
    assert_eq!(by_ami.get("ami-new"), Some(&1), "{by_ami:?}");
    assert_eq!(by_ami.get("ami-old"), Some(&3), "{by_ami:?}");
    assert_eq!(sim.group("web-asg").instances.len(), 4);
    // The group did not take the desired configuration.
    let spec = sim.group("web-asg").launch_template.expect("template");
    assert_eq!(spec.version.as_deref(), Some("$Default"));
    // Once it is over, a refresh may start again.
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, 1, prefs(100, 125))))
        .expect("a refresh after the cancel");
}

/// With nothing under way (baking, or no refresh at all), the cancel ends at once or is
/// `ActiveInstanceRefreshNotFound`; the outside (operator) cancel is the same model.
#[test]
fn cancel_with_nothing_under_way_ends_at_once_and_needs_a_refresh_in_progress() {
    let (sim, lt) = fleet();
    let none = block_on(sim.cancel_instance_refresh("web-asg")).expect_err("nothing to cancel");
    assert_eq!(
        (none.kind, none.code.as_str()),
        (ErrorKind::NotFound, "ActiveInstanceRefreshNotFound")
    );
    let missing = block_on(sim.cancel_instance_refresh("nope")).expect_err("no such group");
    assert_eq!(
        (missing.kind, missing.code.as_str()),
        (ErrorKind::NotFound, "ValidationError")
    );

    let v2 = version(&sim, &lt, "ami-new");
    let mut p = prefs(100, 200);
    p.bake_time = Some(600);
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, p))).expect("start");
    while latest(&sim, "web-asg").status != "Baking" {
        sim.advance(Duration::from_secs(10));
    }
    sim.cancel_refresh("web-asg").expect("the operator cancels");
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Cancelled", "{r:?}");
    // Baking is over without Successful: the group keeps its own configuration.
    assert_eq!(
        sim.group("web-asg")
            .launch_template
            .expect("template")
            .version
            .as_deref(),
        Some("$Default")
    );
    assert_eq!(sim.instances_by_ami("web-asg").get("ami-new"), Some(&4));
}

/// A replacement whose new instance turns out unhealthy while the refresh is cancelling: Auto
/// Scaling terminates the new instance (as it replaces any that fails its health checks, "How an
/// instance refresh works"), the cancelled refresh starts no other, and its old one stays.
#[test]
fn a_bad_new_instance_while_cancelling_is_dropped_and_its_old_one_stays() {
    let (sim, lt) = fleet();
    let v2 = version(&sim, &lt, "ami-bad");
    block_on(sim.start_instance_refresh(&request("web-asg", &lt, v2, prefs(100, 125))))
        .expect("start");
    block_on(sim.cancel_instance_refresh("web-asg")).expect("cancel");
    run_to_end(&sim, "web-asg", 3600, |_| {});
    let r = latest(&sim, "web-asg");
    assert_eq!(r.status, "Cancelled", "{r:?}");
    let by_ami = sim.instances_by_ami("web-asg");
    assert_eq!(by_ami.get("ami-old"), Some(&4), "{by_ami:?}");
    assert_eq!(by_ami.get("ami-bad"), None, "{by_ami:?}");
}
