//! The batched observe step: a current fleet costs a few calls whatever its size, and only the
//! targets that may change get the detailed reads. A regression to per-target calls fails here.

use amiroll_core::config::Config;
use amiroll_core::model::TargetStatus;
use amiroll_core::port::op;
use amiroll_core::Engine;
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};

const OLD: &str = "ami-0000000000000a001";
const NEW: &str = "ami-0000000000000b002";

/// `n` targets, each with its own parameter, template and one-instance group, all current.
fn fleet(n: usize) -> (SimAws, Config) {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    let day = |d| sim.now() - chrono::Duration::days(d);
    sim.register_image(ImageSpec::new(OLD, "ecs-old", "x86_64", day(30)));
    sim.register_image(ImageSpec::new(NEW, "ecs-new", "x86_64", day(5)));
    let topic = sim.create_topic("amiroll");
    let mut toml = format!("[defaults]\nsns_topic = \"{topic}\"\n");
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
            "[[target]]\nname = \"t{i}\"\nlaunch_template = \"{lt}\"\nami_parameter = \"{param}\"\ngroups = [\"asg-{i}\"]\n"
        ));
    }
    let config = Config::from_toml(&toml, "scale.toml").expect("config");
    (sim, config)
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
    }
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
}
