//! The batched observe step: a current fleet costs a few calls whatever its size, and only the
//! targets that may change get the detailed reads. A regression to per-target calls fails here.

use amiroll_core::config::Config;
use amiroll_core::model::TargetStatus;
use amiroll_core::port::{op, Aws, UpdateGroupRequest};
use amiroll_core::Engine;
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};

const OLD: &str = "ami-0000000000000a001";
const NEW: &str = "ami-0000000000000b002";

/// `n` targets, each with its own parameter, template and one-instance group, all current.
fn fleet(n: usize) -> (SimAws, Config) {
    fleet_with(n, |_| String::new())
}

/// [`fleet`] with `extra(i)` added to target `i`'s table.
fn fleet_with(n: usize, extra: impl Fn(usize) -> String) -> (SimAws, Config) {
    fleet_in(n, "", extra)
}

/// [`fleet_with`], with `top` (top-level settings) at the head of the configuration.
fn fleet_in(n: usize, top: &str, extra: impl Fn(usize) -> String) -> (SimAws, Config) {
    let sim = account();
    let topic = sim.create_topic("amiroll");
    let mut toml = format!("{top}\n[defaults]\nsns_topic = \"{topic}\"\n");
    for i in 0..n {
        let param = format!("/fleet/{i}/image_id");
        sim.put_parameter(&param, OLD);
        let lt = sim
            .create_launch_template(
                &format!("web-template-{i}"),
                TemplateData::new(OLD, "m5.large"),
            )
            .expect("template");
        sim.create_group(
            GroupSpec::new(format!("asg-{i}"), &lt, 1, 2, 1)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
        toml.push_str(&format!(
            "[[target]]\nname = \"t{i}\"\nlaunch_template = \"{lt}\"\nami_parameter = \"{param}\"\ngroups = [\"asg-{i}\"]\n{}\n",
            extra(i)
        ));
    }
    let config = Config::from_toml(&toml, "scale.toml").expect("config");
    (sim, config)
}

/// An account with the old and the new AMI.
fn account() -> SimAws {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    let day = |d| sim.now() - chrono::Duration::days(d);
    sim.register_image(ImageSpec::new(OLD, "ecs-old", "x86_64", day(30)));
    sim.register_image(ImageSpec::new(NEW, "ecs-new", "x86_64", day(5)));
    sim
}

fn budget(n: usize) -> usize {
    3 + n.div_ceil(10) + 2 * n.div_ceil(100)
}

#[test]
fn a_current_fleet_is_checked_with_batched_calls() {
    for n in [1, 50, 200] {
        let (sim, config) = fleet(n);
        let engine = Engine::new(&sim);
        let plan = futures::executor::block_on(engine.plan(&config)).expect("plan");
        assert!(plan
            .targets
            .iter()
            .all(|t| t.status == TargetStatus::Current));
        let calls = sim.call_log().len();
        assert!(
            calls <= budget(n),
            "{n} targets: {calls} calls > {} ({:?})",
            budget(n),
            engine.call_counts()
        );
        assert_eq!(sim.call_count(op::GET_PARAMETERS), n.div_ceil(10));
        assert_eq!(
            sim.call_count(op::DESCRIBE_AUTO_SCALING_GROUPS),
            n.div_ceil(100)
        );
        assert_eq!(sim.call_count(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS), 1);
        assert_eq!(sim.call_count(op::DESCRIBE_IMAGES), 1);
        assert_eq!(sim.call_count(op::DESCRIBE_LAUNCH_TEMPLATES), 0);
        assert_eq!(sim.call_count(op::DESCRIBE_INSTANCE_REFRESHES), 0);
        assert_eq!(sim.call_count(op::GET_TOPIC_ATTRIBUTES), 0);
        // The instances' AMIs follow from the versions their groups record for them.
        assert_eq!(sim.call_count(op::DESCRIBE_INSTANCES), 0);
        for t in &plan.targets {
            let running: Vec<(&String, &usize)> = t
                .groups
                .iter()
                .flat_map(|g| g.instances_by_ami.iter())
                .collect();
            assert_eq!(running, vec![(&OLD.to_string(), &1)], "{}", t.target);
        }
    }
}

#[test]
fn the_batched_reads_overlap_but_at_most_four_of_one_kind_at_once() {
    // 200 targets: 20 GetParameters and 2 DescribeAutoScalingGroups. Each simulated call yields
    // once before it is answered, so reads sent together are under way together.
    let (sim, config) = fleet(200);
    sim.set_yield_per_call(true);
    let engine = Engine::new(&sim);
    let plan = futures::executor::block_on(engine.plan(&config)).expect("plan");
    assert!(plan
        .targets
        .iter()
        .all(|t| t.status == TargetStatus::Current));
    assert_eq!(
        sim.max_in_flight(op::GET_PARAMETERS),
        4,
        "bounded, and more than one"
    );
    assert_eq!(sim.max_in_flight(op::DESCRIBE_AUTO_SCALING_GROUPS), 2);
    assert_eq!(sim.max_in_flight(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS), 1);
    // The kinds were under way at the same time: answers to GetParameters came after the
    // template listing's.
    let log = sim.call_log();
    let first_listing = log
        .iter()
        .position(|c| *c == op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS)
        .expect("listing");
    let parameters_after = log[first_listing..]
        .iter()
        .filter(|c| **c == op::GET_PARAMETERS)
        .count();
    assert!(parameters_after > 0, "{log:?}");
}

/// `n` targets of [`fleet_in`] (`top`: top-level settings), every parameter moved to the new
/// AMI, applied for real with each simulated call yielding once (so calls made together are under
/// way together); the most `CreateLaunchTemplateVersion` calls under way at once.
fn rollout_writes_in_flight(n: usize, top: &str) -> usize {
    let (sim, config) = fleet_in(n, top, |_| String::new());
    for i in 0..n {
        sim.put_parameter(&format!("/fleet/{i}/image_id"), NEW);
    }
    sim.set_yield_per_call(true);
    let engine = Engine::new(&sim);
    let report = futures::executor::block_on(engine.run(&config, false)).expect("run");
    assert_eq!(report.exit_code(), 0, "{report:?}");
    let names: Vec<&str> = report
        .targets
        .iter()
        .map(|t| t.plan.target.as_str())
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    assert_eq!(names, expected, "the report keeps the plan's order");
    assert_eq!(sim.call_count(op::CREATE_LAUNCH_TEMPLATE_VERSION), n);
    sim.max_in_flight(op::CREATE_LAUNCH_TEMPLATE_VERSION)
}

#[test]
fn apply_changes_different_targets_at_the_same_time_at_most_concurrency_at_once() {
    // The default `concurrency` (4): the rollouts of 8 targets overlap, 4 at a time.
    assert_eq!(rollout_writes_in_flight(8, ""), 4);
    // `concurrency = 1`: one target after another, as before.
    assert_eq!(rollout_writes_in_flight(8, "concurrency = 1"), 1);
}

#[test]
fn only_the_targets_that_may_change_get_the_detailed_reads() {
    let (sim, config) = fleet(50);
    for i in [3, 17] {
        sim.put_parameter(&format!("/fleet/{i}/image_id"), NEW);
    }
    let engine = Engine::new(&sim);
    let plan = futures::executor::block_on(engine.plan(&config)).expect("plan");
    let drifting: Vec<&str> = plan
        .targets
        .iter()
        .filter(|t| t.status != TargetStatus::Current)
        .map(|t| t.target.as_str())
        .collect();
    let mut sorted = drifting.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec!["t17", "t3"]);
    // One full version listing and one refresh listing per drifting target, not per target.
    assert_eq!(sim.call_count(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS), 1 + 2);
    assert_eq!(sim.call_count(op::DESCRIBE_INSTANCE_REFRESHES), 2);
    assert_eq!(sim.call_count(op::GET_TOPIC_ATTRIBUTES), 1);
    // The drifting targets' instances are read, in one call.
    assert_eq!(sim.call_count(op::DESCRIBE_INSTANCES), 1);
}

/// The plan from every detail read (every version, every instance), as `rollback` observes.
fn full_plan(engine: &Engine<'_, SimAws>, config: &Config) -> amiroll_core::model::Plan {
    futures::executor::block_on(async {
        let obs = engine.observe_with(config, true).await.expect("observe");
        amiroll_core::planner::plan(config, &obs)
    })
}

/// The plan of each target as status + summary, for comparing two plans.
fn verdicts(plan: &amiroll_core::model::Plan) -> Vec<(String, TargetStatus, String)> {
    plan.targets
        .iter()
        .map(|t| (t.target.clone(), t.status, t.summary.clone()))
        .collect()
}

#[test]
fn a_template_that_is_current_with_instances_on_an_older_version_still_rolls() {
    // The default version carries the candidate, but the group's instance was launched from v1
    // (the old AMI): the group's record says v1, so the target gets the detailed reads and the
    // plan rolls the group, exactly as when every instance is read.
    let (sim, config) = fleet(3);
    let lt = sim.template("web-template-1").id;
    let v2 = sim
        .create_launch_template_version_raw(&lt, None, TemplateData::new(NEW, "m5.large"), None)
        .expect("v2");
    sim.set_default_version(&lt, v2).expect("default");
    sim.put_parameter("/fleet/1/image_id", NEW);
    let engine = Engine::new(&sim);
    let plan = futures::executor::block_on(engine.plan(&config)).expect("plan");
    let t1 = plan.targets.iter().find(|t| t.target == "t1").expect("t1");
    assert_ne!(t1.status, TargetStatus::Current, "{}", t1.summary);
    assert_eq!(
        t1.groups[0].instances_by_ami.get(OLD),
        Some(&1),
        "the instance is seen on the old AMI"
    );
    assert_eq!(sim.call_count(op::DESCRIBE_INSTANCES), 1);
    let full = full_plan(&engine, &config);
    assert_eq!(verdicts(&plan), verdicts(&full));
}

#[test]
fn a_group_on_latest_costs_one_more_listing_and_sees_the_latest_version() {
    let sim = account();
    sim.put_parameter("/latest/image_id", NEW);
    let lt = sim
        .create_launch_template("latest-template", TemplateData::new(OLD, "m5.large"))
        .expect("template");
    // v2 carries the candidate but is not the default; the group launches $Latest = v2.
    sim.create_launch_template_version_raw(&lt, None, TemplateData::new(NEW, "m5.large"), None)
        .expect("v2");
    sim.create_group(GroupSpec::new("asg-latest", &lt, 1, 2, 1).with_version("$Latest"))
        .expect("group");
    let config = Config::from_toml(
        &format!(
            "[[target]]\nname = \"latest\"\nlaunch_template = \"{lt}\"\nami_parameter = \"/latest/image_id\"\ngroups = [\"asg-latest\"]\nstrategy = \"scheduled-surge\"\n"
        ),
        "latest.toml",
    )
    .expect("config");
    let engine = Engine::new(&sim);
    let obs = futures::executor::block_on(engine.observe(&config)).expect("observe");
    assert_eq!(sim.call_count(op::DESCRIBE_LAUNCH_TEMPLATE_VERSIONS), 2);
    let tmpl = obs.templates.get(&lt).expect("template observed");
    assert_eq!(
        (tmpl.template.default_version, tmpl.template.latest_version),
        (1, 2)
    );
    // The same verdict as with every detail read.
    let plan = amiroll_core::planner::plan(&config, &obs);
    let full = full_plan(&engine, &config);
    assert_eq!(verdicts(&plan), verdicts(&full));
}

#[test]
fn the_batched_plan_is_the_plan_with_every_detail_read() {
    // Six states, twice each: untouched; parameter moved; new default carrying the candidate
    // with the instance still on v1; the same with the instance replaced from v2; a group on
    // $Latest; a group launching a pinned old version.
    let (sim, config) = fleet(12);
    for i in 0..12 {
        let lt = sim.template(&format!("web-template-{i}")).id;
        let param = format!("/fleet/{i}/image_id");
        let group = format!("asg-{i}");
        let new_version = || {
            sim.create_launch_template_version_raw(
                &lt,
                None,
                TemplateData::new(NEW, "m5.large"),
                None,
            )
            .expect("v2")
        };
        match i % 6 {
            0 => {}
            1 => {
                sim.put_parameter(&param, NEW);
            }
            2 => {
                let v2 = new_version();
                sim.set_default_version(&lt, v2).expect("default");
                sim.put_parameter(&param, NEW);
            }
            3 => {
                let v2 = new_version();
                sim.set_default_version(&lt, v2).expect("default");
                sim.put_parameter(&param, NEW);
                sim.set_desired_capacity(&group, 2).expect("scale out");
                sim.advance(std::time::Duration::from_secs(600));
                sim.set_desired_capacity(&group, 1).expect("scale in");
                sim.advance(std::time::Duration::from_secs(600));
                assert_eq!(
                    sim.instances_by_ami(&group).get(NEW),
                    Some(&1),
                    "the group was replaced onto v2"
                );
            }
            4 => {
                new_version();
                sim.put_parameter(&param, NEW);
                let mut spec = sim.group(&group).launch_template.expect("spec");
                spec.version = Some("$Latest".to_string());
                spec.template_name = None;
                futures::executor::block_on(sim.update_auto_scaling_group(&UpdateGroupRequest {
                    group_name: group.clone(),
                    launch_template: Some(spec),
                    termination_policies: None,
                    ..Default::default()
                }))
                .expect("launch $Latest");
            }
            _ => {
                let v2 = new_version();
                sim.set_default_version(&lt, v2).expect("default");
            }
        }
    }
    let engine = Engine::new(&sim);
    let batched = futures::executor::block_on(engine.plan(&config)).expect("plan");
    let full = full_plan(&engine, &config);
    assert_eq!(verdicts(&batched), verdicts(&full));
    for (b, f) in batched.targets.iter().zip(&full.targets) {
        let by_ami = |t: &amiroll_core::model::TargetPlan| {
            t.groups
                .iter()
                .map(|g| (g.name.clone(), g.instances_by_ami.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(by_ami(b), by_ami(f), "{}", b.target);
    }
    // Only untouched targets and the one replaced onto v2 were current without their instances.
    let current: Vec<&str> = batched
        .targets
        .iter()
        .filter(|t| t.status == TargetStatus::Current)
        .map(|t| t.target.as_str())
        .collect();
    assert!(
        current.contains(&"t3") && current.contains(&"t9"),
        "{current:?}"
    );
}

/// One thing that happens to a small fleet between two looks at it.
#[derive(Debug, Clone)]
enum Step {
    /// The target's parameter names this AMI.
    Publish(usize, &'static str),
    /// Someone adds a version with this AMI (not the default).
    NewVersion(usize, &'static str),
    /// Someone makes the newest version the default.
    DefaultToLatest(usize),
    /// The group launches this version reference.
    Launch(usize, &'static str),
    /// The group's desired capacity changes; ten minutes pass.
    Scale(usize, i32),
    /// One `amiroll apply`; five minutes pass.
    Apply,
    /// Time passes.
    Wait(u64),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let ami = prop_oneof![Just(OLD), Just(NEW)];
    prop_oneof![
        (0..3usize, ami.clone()).prop_map(|(t, a)| Step::Publish(t, a)),
        (0..3usize, ami).prop_map(|(t, a)| Step::NewVersion(t, a)),
        (0..3usize).prop_map(Step::DefaultToLatest),
        (
            0..3usize,
            prop_oneof![Just("$Default"), Just("$Latest"), Just("1")]
        )
            .prop_map(|(t, v)| Step::Launch(t, v)),
        (0..3usize, 1..=2i32).prop_map(|(t, d)| Step::Scale(t, d)),
        Just(Step::Apply),
        Just(Step::Apply),
        (1..120u64).prop_map(Step::Wait),
    ]
}

fn run(sim: &SimAws, config: &Config, s: &Step) {
    let lt = |t: usize| sim.template(&format!("web-template-{t}")).id;
    let minutes = |m: u64| std::time::Duration::from_secs(60 * m);
    match *s {
        Step::Publish(t, ami) => {
            sim.put_parameter(&format!("/fleet/{t}/image_id"), ami);
        }
        Step::NewVersion(t, ami) => {
            let _ = sim.create_launch_template_version_raw(
                &lt(t),
                None,
                TemplateData::new(ami, "m5.large"),
                None,
            );
        }
        Step::DefaultToLatest(t) => {
            let id = lt(t);
            let _ = sim.set_default_version(&id, sim.template(&id).latest_version);
        }
        Step::Launch(t, version) => {
            let group = format!("asg-{t}");
            let Some(mut spec) = sim.group(&group).launch_template else {
                return;
            };
            spec.version = Some(version.to_string());
            spec.template_name = None;
            let _ =
                futures::executor::block_on(sim.update_auto_scaling_group(&UpdateGroupRequest {
                    group_name: group,
                    launch_template: Some(spec),
                    termination_policies: None,
                    ..Default::default()
                }));
        }
        Step::Scale(t, desired) => {
            let _ = sim.set_desired_capacity(&format!("asg-{t}"), desired);
            sim.advance(minutes(10));
        }
        Step::Apply => {
            let engine = Engine::new(sim);
            let _ = futures::executor::block_on(engine.run(config, false));
            sim.advance(minutes(5));
        }
        Step::Wait(m) => sim.advance(minutes(m)),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever happened to the fleet (people adding versions, moving defaults, re-pointing and
    /// scaling groups, amiroll rolling it), the plan made from the batched reads is the plan
    /// made with every instance and version read: a target judged current without reading its
    /// instances really is current, and every other target gets the same actions.
    #[test]
    fn the_batched_plan_matches_the_full_plan_whatever_happened(
        steps in proptest::collection::vec(step(), 1..14)
    ) {
        // One target per strategy; a pinned group may be re-pinned.
        let (sim, config) = fleet_with(3, |i| {
            let strategy = ["instance-refresh", "scheduled-surge", "none"][i];
            format!("strategy = \"{strategy}\"\npinned = \"update\"\nset_termination_policy = true")
        });
        for s in &steps {
            run(&sim, &config, s);
            let engine = Engine::new(&sim);
            let batched = futures::executor::block_on(engine.plan(&config)).expect("plan");
            let full = full_plan(&engine, &config);
            for (b, f) in batched.targets.iter().zip(&full.targets) {
                let ami_of = |p: &amiroll_core::model::TargetPlan| {
                    p.groups.iter().map(|g| g.instances_by_ami.clone()).collect::<Vec<_>>()
                };
                proptest::prop_assert_eq!(ami_of(b), ami_of(f), "{} after {:?}", &b.target, s);
                // Only pruning may differ: it needs every version, which the batched reads
                // leave out for a target that is plainly current.
                let kept = |p: &amiroll_core::model::TargetPlan| {
                    p.actions
                        .iter()
                        .filter(|a| {
                            !matches!(a.action, amiroll_core::model::Action::DeleteVersions { .. })
                        })
                        .cloned()
                        .collect::<Vec<_>>()
                };
                proptest::prop_assert_eq!(b.status, f.status, "{} after {:?}", &b.target, s);
                proptest::prop_assert_eq!(kept(b), kept(f), "{} after {:?}", &b.target, s);
            }
        }
    }
}
