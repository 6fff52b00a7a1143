//! The instances' lives and the instance-seconds a group ran above a baseline (what the
//! rollout-time example measures a rollout's cost with).

use std::time::Duration;

use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};

const AMI: &str = "ami-0000000000000a001";

fn account() -> SimAws {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    sim.register_image(ImageSpec::new(AMI, "ecs", "x86_64", sim.now()));
    let lt = sim
        .create_launch_template("web", TemplateData::new(AMI, "m5.large"))
        .expect("template");
    sim.create_group(GroupSpec::new("web", &lt, 1, 8, 2))
        .expect("group");
    sim
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

#[test]
fn lifetimes_record_launch_service_and_termination() {
    let sim = account();
    let start = sim.now();
    sim.advance(minutes(10));
    sim.set_desired_capacity("web", 4).expect("scale out");
    sim.advance(minutes(10));
    // The default termination policy takes the lowest instance ids: the two first ones.
    sim.set_desired_capacity("web", 2).expect("scale in");
    let lives = sim.instance_lifetimes("web");
    assert_eq!(lives.len(), 4, "{lives:?}");
    let at = |m: i64| start + chrono::Duration::minutes(m);
    assert_eq!(lives[0].launch_time, start);
    assert_eq!(
        lives[0].in_service_at,
        Some(start),
        "the initial fleet is in service"
    );
    assert_eq!(lives[0].terminated_at, Some(at(20)));
    assert_eq!(lives[1].terminated_at, Some(at(20)));
    assert_eq!(lives[2].launch_time, at(10));
    assert_eq!(
        lives[2].in_service_at,
        Some(at(10) + chrono::Duration::seconds(90)),
        "after the boot time"
    );
    assert_eq!(lives[2].terminated_at, None);
    assert!(lives.iter().all(|l| l.image_id == AMI));
    assert!(sim.instance_lifetimes("nope").is_empty());

    // Four instances for 10 minutes, two above the baseline of 2.
    assert_eq!(sim.instance_seconds_above("web", 2, start, at(30)), 2 * 600);
    // Clipped to the window; a baseline above the count adds nothing.
    assert_eq!(
        sim.instance_seconds_above("web", 2, at(15), at(30)),
        2 * 300
    );
    assert_eq!(
        sim.instance_seconds_above("web", 2, at(15), at(18)),
        2 * 180
    );
    assert_eq!(sim.instance_seconds_above("web", 4, start, at(30)), 0);
    assert_eq!(
        sim.instance_seconds_above("web", 0, start, at(30)),
        4 * 1200
    );
    assert_eq!(sim.instance_seconds_above("web", 0, at(30), at(30)), 0);
    assert_eq!(sim.instance_seconds_above("nope", 0, start, at(30)), 0);
}

#[test]
fn an_instance_terminated_while_pending_never_was_in_service() {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    sim.register_image(ImageSpec::new(AMI, "ecs", "x86_64", sim.now()));
    let lt = sim
        .create_launch_template("web", TemplateData::new(AMI, "m5.large"))
        .expect("template");
    sim.create_group(
        GroupSpec::new("web", &lt, 1, 8, 2).with_termination_policies(&["NewestInstance"]),
    )
    .expect("group");
    sim.advance(Duration::from_secs(60));
    let start = sim.now();
    sim.set_desired_capacity("web", 3).expect("scale out");
    sim.advance(Duration::from_secs(30));
    sim.set_desired_capacity("web", 2).expect("scale in");
    let lives = sim.instance_lifetimes("web");
    let new = lives.last().expect("the launched one");
    assert_eq!(new.launch_time, start);
    assert_eq!(new.in_service_at, None, "{new:?}");
    assert_eq!(
        new.terminated_at,
        Some(start + chrono::Duration::seconds(30))
    );
    // It ran 30 s above the baseline of 2.
    assert_eq!(
        sim.instance_seconds_above("web", 2, start, start + chrono::Duration::hours(1)),
        30
    );
}
