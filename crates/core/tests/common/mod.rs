//! Builder-style fixtures: `Fleet::healthy()` is a steady account with one target whose fleet runs
//! the old AMI while SSM already names the new one; each test changes one thing.
#![allow(dead_code)]

use std::collections::BTreeMap;

use amiroll_core::config::Config;
use amiroll_core::model::{Observation, ObservedTemplate};
use amiroll_core::port::*;
use chrono::{TimeZone, Utc};

pub const PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
pub const AMI_OLD: &str = "ami-0aaaaaaaaaaaaaaa1";
pub const AMI_NEW: &str = "ami-0bbbbbbbbbbbbbbb2";
pub const AMI_ARM: &str = "ami-0ccccccccccccccc3";
pub const LT: &str = "lt-0123456789abcdef0";
pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:amiroll";

pub fn t(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("fixture time")
        .with_timezone(&Utc)
}

pub fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 26, 13, 0, 0)
        .single()
        .expect("time")
}

pub fn image(id: &str, arch: &str, created: &str) -> Image {
    Image {
        image_id: id.to_string(),
        name: Some(format!("al2023-ami-ecs-{id}")),
        state: "available".to_string(),
        architecture: arch.to_string(),
        creation_date: Some(t(created)),
        deprecation_time: None,
        owner_id: Some("591542846629".to_string()),
        owner_alias: Some("amazon".to_string()),
        public: Some(true),
        image_allowed: None,
        root_device_name: Some("/dev/xvda".to_string()),
    }
}

pub fn version(n: u64, ami: &str, description: Option<&str>) -> LaunchTemplateVersion {
    LaunchTemplateVersion {
        template_id: LT.to_string(),
        template_name: Some("ecs".to_string()),
        version: n,
        description: description.map(str::to_string),
        image_id: Some(ami.to_string()),
        instance_type: Some("m5.large".to_string()),
        is_default: false,
        create_time: None,
        block_device_mappings: Vec::new(),
        user_data: None,
    }
}

pub fn instance(id: &str) -> GroupInstance {
    GroupInstance {
        instance_id: id.to_string(),
        lifecycle_state: "InService".to_string(),
        health_status: "Healthy".to_string(),
        protected_from_scale_in: false,
        availability_zone: "us-east-1a".to_string(),
        launch_template: None,
    }
}

pub struct Fleet {
    pub config_toml: String,
    pub obs: Observation,
}

impl Fleet {
    /// One target `web`: template v1 on AMI_OLD, group `web-asg` ($Default, 1/4/2) with two
    /// healthy instances on AMI_OLD; the parameter names AMI_NEW.
    pub fn healthy() -> Fleet {
        let mut obs = Observation {
            now: now(),
            ..Observation::default()
        };
        obs.parameters.insert(
            PARAM.to_string(),
            SsmParameter {
                name: PARAM.to_string(),
                value: AMI_NEW.to_string(),
                version: 5,
                data_type: Some("text".to_string()),
                last_modified: Some(t("2026-11-20T00:00:00Z")),
            },
        );
        for img in [
            image(AMI_OLD, "x86_64", "2026-10-01T00:00:00Z"),
            image(AMI_NEW, "x86_64", "2026-11-20T00:00:00Z"),
            image(AMI_ARM, "arm64", "2026-11-21T00:00:00Z"),
        ] {
            obs.images.insert(img.image_id.clone(), img);
        }
        obs.instance_types
            .insert("m5.large".to_string(), vec!["x86_64".to_string()]);
        obs.instance_types
            .insert("m6g.large".to_string(), vec!["arm64".to_string()]);
        obs.templates.insert(
            LT.to_string(),
            ObservedTemplate {
                template: LaunchTemplate {
                    id: LT.to_string(),
                    name: "ecs".to_string(),
                    default_version: 1,
                    latest_version: 1,
                },
                versions: vec![version(1, AMI_OLD, Some("hand-made"))],
                complete: true,
            },
        );
        let mut f = Fleet {
            config_toml: format!(
                "[[target]]\nname = \"web\"\nlaunch_template = \"{LT}\"\nami_parameter = \"{PARAM}\"\ngroups = [\"web-asg\"]\nsns_topic = \"{TOPIC}\"\nstrategy = \"scheduled-surge\"\n"
            ),
            obs,
        };
        f.add_group("web-asg", None, (1, 4, 2), AMI_OLD, 1);
        f.obs.topics.insert(TOPIC.to_string(), true);
        f
    }

    /// Add a group with `n = desired` in-service instances on `ami` launched from `version`.
    pub fn add_group(
        &mut self,
        name: &str,
        spec_version: Option<&str>,
        (min, max, desired): (i32, i32, i32),
        ami: &str,
        from_version: u64,
    ) {
        let mut instances = Vec::new();
        for i in 0..desired {
            let id = format!("i-{name}-{i}");
            instances.push(instance(&id));
            self.obs.instances.insert(
                id.clone(),
                Ec2Instance {
                    instance_id: id,
                    image_id: ami.to_string(),
                    state: "running".to_string(),
                    launch_time: Some(t("2026-10-02T00:00:00Z")),
                    launch_template_id: Some(LT.to_string()),
                    launch_template_version: Some(from_version),
                },
            );
        }
        self.obs.groups.insert(
            name.to_string(),
            AutoScalingGroup {
                name: name.to_string(),
                arn: None,
                min_size: min,
                max_size: max,
                desired_capacity: desired,
                launch_template: Some(TemplateSpec {
                    template_id: Some(LT.to_string()),
                    template_name: None,
                    version: spec_version.map(str::to_string),
                }),
                mixed_instances_policy: None,
                termination_policies: vec!["OldestLaunchTemplate".to_string()],
                suspended_processes: vec![],
                instances,
                tags: BTreeMap::new(),
                health_check_grace_period_secs: 0,
            },
        );
        self.obs.scheduled_actions.insert(name.to_string(), vec![]);
    }

    pub fn with_setting(mut self, line: &str) -> Fleet {
        self.config_toml.push_str(line);
        self.config_toml.push('\n');
        self
    }

    pub fn config(&self) -> Config {
        Config::from_toml(&self.config_toml, "test.toml").expect("fixture config is valid")
    }

    pub fn group_mut(&mut self, name: &str) -> &mut AutoScalingGroup {
        self.obs.groups.get_mut(name).expect("fixture group")
    }

    pub fn template_mut(&mut self) -> &mut ObservedTemplate {
        self.obs.templates.get_mut(LT).expect("fixture template")
    }

    pub fn set_param(&mut self, value: &str) {
        if let Some(p) = self.obs.parameters.get_mut(PARAM) {
            p.value = value.to_string();
        }
    }

    pub fn plan(&self) -> amiroll_core::model::TargetPlan {
        let plan = amiroll_core::planner::plan(&self.config(), &self.obs);
        plan.targets.into_iter().next().expect("one target")
    }
}
