//! Bad input must change nothing in the account: the whole simulated state (templates, versions
//! and their data, the default, groups with their instances, tags and sizes, scheduled actions,
//! instance refreshes, parameters) is the same before and after two runs, and no rollout is
//! announced.

use std::time::Duration;

use amiroll_core::config::Config;
use amiroll_sim::{GroupSpec, ImageSpec, TemplateData};

use super::common::*;
use super::world::refresh_world;

/// One bad input: a fleet and a configuration (or a configuration that must not load).
pub struct BadInput {
    pub name: String,
    pub world: World,
    /// Groups, templates and parameters to snapshot besides the world's own.
    pub groups: Vec<&'static str>,
    /// The configuration must be refused when it loads.
    pub config_error: bool,
}

/// Everything the account shows about these resources, as text.
pub fn snapshot(w: &World, groups: &[&str], params: &[&str]) -> String {
    let mut out = String::new();
    let mut templates: Vec<String> = vec![w.lt.clone()];
    for g in groups {
        if let Some(group) = w.sim.try_group(g) {
            if let Some(id) = group
                .launch_template
                .as_ref()
                .and_then(|s| s.template_id.clone())
            {
                templates.push(id);
            }
            out.push_str(&format!("{group:?}\n"));
            for i in &group.instances {
                out.push_str(&format!("{:?}\n", w.sim.instance(&i.instance_id)));
            }
        }
        out.push_str(&format!("{:?}\n", w.sim.scheduled_actions(g)));
        out.push_str(&format!("{:?}\n", w.sim.instance_refreshes(g)));
    }
    templates.sort();
    templates.dedup();
    for t in &templates {
        out.push_str(&format!("{:?}\n", w.sim.try_template(t)));
        for v in w.sim.template_versions(t) {
            out.push_str(&format!(
                "{v:?} {:?}\n",
                w.sim.template_version_data(t, v.version)
            ));
        }
    }
    for p in params {
        out.push_str(&format!("{:?}\n", w.sim.parameter(p)));
    }
    out
}

fn with_param(value: &str) -> World {
    let w = World::new();
    w.publish(value);
    w
}

fn with_image(spec: ImageSpec) -> World {
    let w = World::new();
    let id = spec.image_id.clone();
    w.sim.register_image(spec);
    w.publish(&id);
    w
}

fn case(name: impl Into<String>, world: World) -> BadInput {
    BadInput {
        name: name.into(),
        world,
        groups: vec!["web"],
        config_error: false,
    }
}

fn bad_config(name: &str, line: &str) -> BadInput {
    let w = World::new().setting(line);
    w.publish(NEW);
    BadInput {
        name: format!("config: {name}"),
        world: w,
        groups: vec!["web"],
        config_error: true,
    }
}

pub fn inputs() -> Vec<BadInput> {
    let now = amiroll_sim::start_time();
    let mut v = vec![
        case("parameter: empty", with_param("")),
        case("parameter: `ami-` alone", with_param("ami-")),
        case("parameter: too short an id", with_param("ami-12")),
        case("parameter: upper case", with_param("AMI-0000000000000B002")),
        case("parameter: not hex", with_param("ami-zzzzzzzzzzzzzzzzz")),
        case(
            "parameter: a resolve:ssm reference",
            with_param("resolve:ssm:/other/parameter"),
        ),
        case(
            "parameter: two ids",
            with_param("ami-0000000000000b002,ami-0000000000000c003"),
        ),
        case(
            "parameter: JSON where an id is expected",
            with_param(&format!(r#"{{"image_id":"{NEW}"}}"#)),
        ),
        case("parameter: broken JSON", with_param("{")),
        case("parameter: null", with_param("null")),
        case("parameter: a number", with_param("12345")),
        case("parameter: 4 KB of text", with_param(&"a".repeat(4096))),
        case(
            "parameter: an AMI that does not exist",
            with_param("ami-0000000000000f999"),
        ),
        case("parameter: not an AMI", with_param("not-an-ami")),
        case(
            "parameter: unicode look-alike",
            with_param("аmi-0000000000000b002"),
        ),
        case(
            "parameter: an instance id",
            with_param("i-0000000000000b002"),
        ),
    ];
    for (name, value) in [
        ("JSON format: empty object", "{}".to_string()),
        (
            "JSON format: image_id a number",
            r#"{"image_id":5}"#.to_string(),
        ),
        (
            "JSON format: image_id not an AMI",
            r#"{"image_id":"not-an-ami"}"#.to_string(),
        ),
        ("JSON format: a plain id", NEW.to_string()),
        ("JSON format: an array", format!(r#"["{NEW}"]"#)),
    ] {
        let w = World::new().setting("ami_format = \"json\"");
        w.publish(&value);
        v.push(case(format!("parameter, {name}"), w));
    }
    v.extend([
        case("AMI: wrong architecture", with_param(ARM)),
        case(
            "AMI: deprecated",
            with_image(
                ImageSpec::new("ami-0000000000000fade", "old", "x86_64", now)
                    .deprecated_at(now - chrono::Duration::days(1)),
            ),
        ),
        case(
            "AMI: deregistered",
            with_image(
                ImageSpec::new("ami-000000000000000d1", "gone", "x86_64", now)
                    .with_state("deregistered"),
            ),
        ),
        case(
            "AMI: pending",
            with_image(
                ImageSpec::new("ami-000000000000000d2", "baking", "x86_64", now)
                    .with_state("pending"),
            ),
        ),
        case(
            "AMI: failed",
            with_image(
                ImageSpec::new("ami-000000000000000d3", "broken", "x86_64", now)
                    .with_state("failed"),
            ),
        ),
        case(
            "AMI: older than the one in use (downgrade)",
            with_image(ImageSpec::new(
                "ami-000000000000000d5",
                "ancient",
                "x86_64",
                now - chrono::Duration::days(400),
            )),
        ),
        case("AMI: younger than min_ami_age", {
            let w = World::new().setting("min_ami_age = \"30d\"");
            w.publish(NEW);
            w
        }),
        case("missing: the parameter", {
            let w = World::new();
            World {
                toml: w.toml.replace(PARAM, "/amiroll/none"),
                ..w
            }
        }),
        case("missing: the template", {
            let w = World::new();
            w.publish(NEW);
            World {
                toml: w.toml.replace("\"ecs\"", "\"missing-template\""),
                ..w
            }
        }),
        case("missing: the group", {
            let w = World::new().targeting(&["nope"]);
            w.publish(NEW);
            w
        }),
        case("missing: one of two groups", {
            let w = World::new().targeting(&["web", "nope"]);
            w.publish(NEW);
            w
        }),
        case("missing: the SNS topic", {
            let w = World::new();
            w.publish(NEW);
            World {
                toml: w.toml.replace(":amiroll\"", ":no-such-topic\""),
                ..w
            }
        }),
    ]);
    // Fleets amiroll must refuse.
    let fleet = |name: &str, spec: fn(&World) -> GroupSpec, lines: &str| {
        let w = World::new();
        w.sim.create_group(spec(&w)).expect("group");
        let mut w = w.targeting(&["odd"]);
        for l in lines.lines() {
            if l.starts_with("strategy") {
                w.toml = w.toml.replace("strategy = \"scheduled-surge\"", l);
            } else {
                w = w.setting(l);
            }
        }
        w.publish(NEW);
        BadInput {
            name: format!("fleet: {name}"),
            world: w,
            groups: vec!["odd", "web"],
            config_error: false,
        }
    };
    v.push(fleet(
        "a group pinned by someone else",
        |w| GroupSpec::new("odd", &w.lt, 1, 4, 2).with_version("1"),
        "",
    ));
    v.push(fleet(
        "surge without OldestLaunchTemplate",
        |w| GroupSpec::new("odd", &w.lt, 1, 4, 2),
        "",
    ));
    v.push(fleet(
        "surge with Launch suspended",
        |w| {
            GroupSpec::new("odd", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"])
                .with_suspended_processes(&["Launch"])
        },
        "",
    ));
    v.push(fleet(
        "surge with ScheduledActions suspended",
        |w| {
            GroupSpec::new("odd", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"])
                .with_suspended_processes(&["ScheduledActions"])
        },
        "",
    ));
    v.push(fleet(
        "refresh with InstanceRefresh suspended",
        |w| {
            GroupSpec::new("odd", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"])
                .with_suspended_processes(&["InstanceRefresh"])
        },
        "strategy = \"instance-refresh\"",
    ));
    v.push(fleet(
        "a group tagged amiroll:skip",
        |w| {
            GroupSpec::new("odd", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"])
                .with_tag("amiroll:skip", "true")
        },
        "",
    ));
    v.push(fleet(
        "round tags that cannot be parsed",
        |w| {
            GroupSpec::new("odd", &w.lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"])
                .with_tag("amiroll:rollout", "r0000000000")
                .with_tag("amiroll:original-capacity", "min=one")
                .with_tag("amiroll:attempt", "many")
        },
        "",
    ));
    // A surge target on a group behind ECS managed scaling.
    {
        let w = World::new();
        w.sim
            .create_group(
                GroupSpec::new("odd", &w.lt, 1, 4, 2)
                    .with_termination_policies(&["OldestLaunchTemplate"]),
            )
            .expect("group");
        w.sim
            .create_capacity_provider("cp", "odd", true, false, true)
            .expect("provider");
        let w = w.targeting(&["odd"]);
        w.publish(NEW);
        v.push(BadInput {
            name: "fleet: surge on ECS managed scaling".to_string(),
            world: w,
            groups: vec!["odd"],
            config_error: false,
        });
    }
    // A group that launches another template than the target's.
    {
        let w = World::new();
        let other = w
            .sim
            .create_launch_template("other", TemplateData::new(OLD, "m5.large"))
            .expect("template");
        w.sim
            .create_group(
                GroupSpec::new("odd", &other, 1, 4, 2)
                    .with_termination_policies(&["OldestLaunchTemplate"]),
            )
            .expect("group");
        let w = w.targeting(&["web", "odd"]);
        w.publish(NEW);
        v.push(BadInput {
            name: "fleet: a group on another template".to_string(),
            world: w,
            groups: vec!["odd", "web"],
            config_error: false,
        });
    }
    // Two groups of one target that launch different versions.
    {
        let w = World::new();
        w.sim
            .create_launch_template_version_raw(
                &w.lt,
                Some(1),
                TemplateData::new(OLD, "m5.xlarge"),
                Some("bigger"),
            )
            .expect("v2");
        w.sim
            .create_group(
                GroupSpec::new("odd", &w.lt, 1, 4, 2)
                    .with_version("2")
                    .with_termination_policies(&["OldestLaunchTemplate"]),
            )
            .expect("group");
        let w = w.targeting(&["web", "odd"]).setting("pinned = \"update\"");
        w.publish(NEW);
        v.push(BadInput {
            name: "fleet: groups launching different versions".to_string(),
            world: w,
            groups: vec!["odd", "web"],
            config_error: false,
        });
    }
    // The fleet already runs NEWER; the parameter goes back to NEW (made current first).
    {
        let w = refresh_world();
        w.publish(NEWER);
        let _ = converge_quietly(&w);
        w.publish(NEW);
        v.push(case("AMI: downgrade after a rollout", w));
    }
    for (name, line) in [
        ("an unknown key", "surge_speed = 3"),
        ("an unknown strategy", "strategy = \"yolo\""),
        ("surge_factor 1", "surge_factor = 1"),
        ("surge_minutes 2", "surge_minutes = 2"),
        ("max_healthy_percentage 300", "max_healthy_percentage = 300"),
        ("min_healthy_percentage -1", "min_healthy_percentage = -1"),
        ("keep_versions 500", "keep_versions = 500"),
        ("max_attempts 0", "max_attempts = 0"),
        ("a topic that is not an ARN", "sns_topic = \"amiroll\""),
        ("`after` an unknown target", "after = \"nope\""),
        ("min_ami_age not a duration", "min_ami_age = \"soon\""),
        ("surge_max_capacity 0", "surge_max_capacity = 0"),
    ] {
        v.push(bad_config(name, line));
    }
    v
}

/// Apply until nothing is in flight (a fleet prepared for a case).
fn converge_quietly(w: &World) -> usize {
    let mut n = 0;
    for _ in 0..40 {
        n += 1;
        let done = w.apply().is_ok_and(|r| {
            r.targets.iter().all(|t| {
                t.plan.status == amiroll_core::model::TargetStatus::Current
                    && t.apply_error.is_none()
            })
        });
        if done {
            break;
        }
        w.sim.advance(Duration::from_secs(120));
    }
    n
}

/// Run one bad input: `None` if nothing changed, else what did.
pub fn check(input: &BadInput) -> Result<(), String> {
    let w = &input.world;
    if input.config_error {
        return match Config::from_toml(&w.toml, "adversity.toml") {
            Err(_) => Ok(()),
            Ok(_) => Err("the configuration loaded".to_string()),
        };
    }
    let config: Config = Config::from_toml(&w.toml, "adversity.toml")
        .map_err(|e| format!("harness: the case's configuration does not load: {e}"))?;
    let before = snapshot(w, &input.groups, &[PARAM]);
    let messages_before = w.sim.all_published().len();
    for _ in 0..2 {
        let engine = amiroll_core::Engine::new(&w.sim);
        futures::executor::block_on(engine.run(&config, false))
            .map_err(|e| format!("the run failed as a whole: {e}"))?;
        w.sim.advance(Duration::from_secs(600));
    }
    let after = snapshot(w, &input.groups, &[PARAM]);
    if before != after {
        let diff: Vec<String> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .take(3)
            .collect();
        return Err(format!("the account changed:\n{}", diff.join("\n")));
    }
    let announced: Vec<String> = w.sim.all_published()[messages_before..]
        .iter()
        .filter_map(|n| n.attributes.get("event").cloned())
        .filter(|e| e.starts_with("rollout-") || e == "rolled-back")
        .collect();
    if !announced.is_empty() {
        return Err(format!("announced {announced:?}"));
    }
    Ok(())
}
