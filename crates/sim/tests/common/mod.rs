//! A small ECS-like world in the simulated account, and helpers to run the engine against it.
#![allow(dead_code)]

use std::time::Duration;

use amiroll_core::config::Config;
use amiroll_core::model::TargetStatus;
use amiroll_core::port::op;
use amiroll_core::{ApplyReport, Engine, RunError};
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};
use chrono::TimeZone;

pub const PARAM: &str = "/amiroll/ecs/image_id";
pub const OLD: &str = "ami-0000000000000a001";
pub const NEW: &str = "ami-0000000000000b002";
pub const NEWER: &str = "ami-0000000000000c003";
pub const BAD: &str = "ami-0000000000000d004";
pub const ARM: &str = "ami-0000000000000e005";

/// Operations that change something in AWS (publishing a notification is not one of them).
pub const WRITES: &[&str] = &[
    op::CREATE_LAUNCH_TEMPLATE_VERSION,
    op::MODIFY_LAUNCH_TEMPLATE,
    op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
    op::UPDATE_AUTO_SCALING_GROUP,
    op::SET_INSTANCE_PROTECTION,
    op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
    op::DELETE_SCHEDULED_ACTION,
    op::CREATE_OR_UPDATE_TAGS,
    op::DELETE_TAGS,
];

fn day(y: i32, m: u32, d: u32) -> amiroll_core::port::Timestamp {
    chrono::Utc
        .with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("valid date")
}

pub struct World {
    pub sim: SimAws,
    pub lt: String,
    pub topic: String,
    pub toml: String,
}

impl World {
    /// Template `ecs` v1 on OLD (m5.large, user data); group `web` ($Default, 1/4/2,
    /// OldestLaunchTemplate) with two healthy instances; parameter on OLD; a topic.
    pub fn new() -> World {
        World::with_user_data("ECS_CLUSTER=prod")
    }

    /// [`World::new`] with this user data in template `ecs` v1.
    pub fn with_user_data(user_data: &str) -> World {
        let sim = SimAws::new();
        sim.set_yield_per_call(false);
        for img in [
            ImageSpec::new(OLD, "ecs-2026.10.01", "x86_64", day(2026, 10, 1)),
            ImageSpec::new(NEW, "ecs-2026.11.20", "x86_64", day(2026, 11, 20)),
            ImageSpec::new(NEWER, "ecs-2026.11.24", "x86_64", day(2026, 11, 24)),
            ImageSpec::new(BAD, "ecs-2026.11.21-broken", "x86_64", day(2026, 11, 21)).unhealthy(),
            ImageSpec::new(ARM, "ecs-2026.11.22-arm64", "arm64", day(2026, 11, 22)),
        ] {
            sim.register_image(img);
        }
        sim.put_parameter(PARAM, OLD);
        let lt = sim
            .create_launch_template(
                "ecs",
                TemplateData::new(OLD, "m5.large").with_user_data(user_data),
            )
            .expect("template");
        sim.create_group(
            GroupSpec::new("web", &lt, 1, 4, 2)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
        let topic = sim.create_topic("amiroll");
        let toml = format!(
            "[[target]]\nname = \"web\"\nlaunch_template = \"ecs\"\nami_parameter = \"{PARAM}\"\ngroups = [\"web\"]\nsns_topic = \"{topic}\"\nstrategy = \"scheduled-surge\"\n"
        );
        World {
            sim,
            lt,
            topic,
            toml,
        }
    }

    /// The seed's set-up: [`World::new`] with the ECS cluster `prod` its user data names, and a
    /// service `api` of 4 tasks.
    pub fn ecs() -> World {
        let w = World::new();
        w.sim.create_cluster("prod").expect("cluster");
        w.sim.create_service("prod", "api", 4).expect("service");
        w
    }

    /// The ECS set-up of [`World::ecs`] where the cluster is known only from the group's
    /// capacity provider: template `ecs`'s user data names no cluster (the agent's configuration
    /// is fetched at boot, where amiroll does not look — the agent joins `prod`), and `web`
    /// backs capacity provider `web-cp` (no managed scaling, termination protection or
    /// draining), associated with `prod`.
    pub fn behind_a_capacity_provider() -> World {
        let w = World::with_user_data(
            "#!/bin/bash\naws s3 cp s3://config-bucket/ecs.config /etc/ecs/ecs.config",
        );
        w.sim.set_agent_cluster(&w.lt, "prod").expect("agent");
        w.sim.create_cluster("prod").expect("cluster");
        w.sim.create_service("prod", "api", 4).expect("service");
        w.sim
            .create_capacity_provider("web-cp", "web", false, false, false)
            .expect("provider");
        w.sim
            .attach_capacity_provider("prod", "web-cp")
            .expect("associate");
        w
    }

    /// The target rolls these groups instead of `web`.
    pub fn targeting(mut self, groups: &[&str]) -> World {
        let list = groups
            .iter()
            .map(|g| format!("\"{g}\""))
            .collect::<Vec<_>>()
            .join(", ");
        self.toml = self.toml.replace("[\"web\"]", &format!("[{list}]"));
        self
    }

    /// The target's `strategy = "scheduled-surge"` line replaced by `lines`.
    pub fn instead_of_surge(mut self, lines: &str) -> World {
        self.toml = self.toml.replace("strategy = \"scheduled-surge\"\n", lines);
        self
    }

    pub fn setting(mut self, line: &str) -> World {
        self.toml.push_str(line);
        self.toml.push('\n');
        self
    }

    pub fn config(&self) -> Config {
        Config::from_toml(&self.toml, "test.toml").expect("valid config")
    }

    pub fn publish(&self, ami: &str) {
        self.sim.put_parameter(PARAM, ami);
    }

    /// One `amiroll apply`.
    pub fn apply(&self) -> Result<ApplyReport, RunError> {
        let engine = Engine::new(&self.sim);
        futures::executor::block_on(engine.run(&self.config(), false))
    }

    /// One `amiroll apply`, expected to complete.
    pub fn apply_ok(&self) -> ApplyReport {
        self.apply().expect("run completes")
    }

    /// Apply every 5 virtual minutes until every target is current, failed or in error; a crash
    /// (from `crash_after`) clears the faults and the next run starts fresh, as the next
    /// scheduled invocation would. Returns the last report.
    pub fn converge(&self) -> ApplyReport {
        self.converge_counting_crashes().0
    }

    /// [`World::converge`], also returning how many runs crashed.
    pub fn converge_counting_crashes(&self) -> (ApplyReport, usize) {
        let mut crashes = 0;
        let mut last = None;
        for _ in 0..40 {
            match self.apply() {
                Ok(r) => {
                    let settled = r.targets.iter().all(|t| {
                        matches!(
                            t.plan.status,
                            TargetStatus::Current | TargetStatus::Failed | TargetStatus::Error
                        ) && t.apply_error.is_none()
                    });
                    last = Some(r);
                    if settled {
                        break;
                    }
                }
                Err(RunError::Crashed(_)) => {
                    crashes += 1;
                    self.sim.clear_faults();
                    continue;
                }
                Err(e) => panic!("the run failed as a whole: {e}"),
            }
            self.sim.advance(Duration::from_secs(5 * 60));
        }
        (last.expect("at least one run completed"), crashes)
    }

    pub fn writes(&self) -> Vec<&'static str> {
        self.sim
            .call_log()
            .into_iter()
            .filter(|c| WRITES.contains(c))
            .collect()
    }

    pub fn versions(&self) -> Vec<u64> {
        self.sim
            .template_versions(&self.lt)
            .iter()
            .map(|v| v.version)
            .collect()
    }

    pub fn subjects(&self) -> Vec<String> {
        self.sim
            .published(&self.topic)
            .into_iter()
            .map(|n| n.subject)
            .collect()
    }

    pub fn events_of(&self, event: &str) -> usize {
        self.sim
            .published(&self.topic)
            .iter()
            .filter(|n| n.attributes.get("event").map(String::as_str) == Some(event))
            .count()
    }

    /// The fleet is on `ami` with its original capacity, no amiroll actions pending and no
    /// rollout tags left.
    pub fn assert_converged(&self, group: &str, ami: &str, capacity: (i32, i32, i32)) {
        let by_ami = self.sim.instances_by_ami(group);
        assert_eq!(
            by_ami.keys().collect::<Vec<_>>(),
            vec![ami],
            "group {group} runs {by_ami:?}"
        );
        assert_eq!(by_ami[ami] as i32, capacity.2);
        assert_eq!(self.sim.group_capacity(group), capacity);
        assert!(
            self.sim
                .scheduled_actions(group)
                .iter()
                .all(|a| !a.name.starts_with("amiroll-")),
            "leftover actions: {:?}",
            self.sim.scheduled_actions(group)
        );
        let g = self.sim.group(group);
        assert!(
            !g.tags.keys().any(|k| k.starts_with("amiroll:rollout")),
            "rollout tags left: {:?}",
            g.tags
        );
    }

    /// In-service, healthy instances of `group` that run `ami`.
    pub fn healthy_on(&self, group: &str, ami: &str) -> usize {
        self.sim
            .group(group)
            .instances
            .iter()
            .filter(|i| i.lifecycle_state == "InService" && i.health_status == "Healthy")
            .filter(|i| {
                self.sim.instance(&i.instance_id).map(|e| e.image_id) == Some(ami.to_string())
            })
            .count()
    }

    /// Every `amiroll-*` scheduled action of a group belongs to the round its tags name.
    pub fn assert_actions_tracked(&self, group: &str) {
        let g = self.sim.group(group);
        let round = g.tags.get("amiroll:rollout").cloned();
        for a in self.sim.scheduled_actions(group) {
            if !a.name.starts_with("amiroll-") {
                continue;
            }
            let tracked = round
                .as_ref()
                .is_some_and(|r| a.name.starts_with(&format!("amiroll-{r}-")));
            assert!(
                tracked,
                "scheduled action {} is not tracked by any round (tags {:?})",
                a.name, g.tags
            );
        }
    }

    /// The AMI of the template's default version.
    pub fn default_ami(&self) -> Option<String> {
        let d = self.sim.template(&self.lt).default_version;
        self.sim
            .template_versions(&self.lt)
            .into_iter()
            .find(|v| v.version == d)
            .and_then(|v| v.image_id)
    }

    /// One `amiroll rollback`, expected to run.
    pub fn rollback(&self) -> ApplyReport {
        let engine = Engine::new(&self.sim);
        futures::executor::block_on(engine.rollback(&self.config(), false)).expect("rollback runs")
    }
}
