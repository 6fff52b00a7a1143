//! Unit tests for the simulated account's modelled behaviours.

mod containers;
mod ecs;
mod faults;
mod groups;
mod hooks;
mod refresh;
mod scheduled;
mod services;
mod templates;

use amiroll_core::port::{CreateVersionRequest, Timestamp};

use crate::{GroupSpec, ImageSpec, SimAws, TemplateData};

pub(crate) fn t(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("test timestamp")
        .with_timezone(&chrono::Utc)
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// An account with two healthy x86 AMIs (`ami-old`, `ami-new`), one unhealthy (`ami-bad`), one
/// arm64 (`ami-arm`), a template `web` (v1: `ami-old`, t3.small, user data, a security group).
pub(crate) fn account() -> (SimAws, String) {
    let sim = SimAws::new();
    sim.register_image(ImageSpec::new(
        "ami-old",
        "al2023-ecs-old",
        "x86_64",
        t("2026-10-01T00:00:00Z"),
    ));
    sim.register_image(ImageSpec::new(
        "ami-new",
        "al2023-ecs-new",
        "x86_64",
        t("2026-11-20T00:00:00Z"),
    ));
    sim.register_image(
        ImageSpec::new(
            "ami-bad",
            "al2023-ecs-bad",
            "x86_64",
            t("2026-11-21T00:00:00Z"),
        )
        .unhealthy(),
    );
    sim.register_image(ImageSpec::new(
        "ami-arm",
        "al2023-ecs-arm",
        "arm64",
        t("2026-11-20T00:00:00Z"),
    ));
    let lt = sim
        .create_launch_template(
            "web",
            TemplateData::new("ami-old", "t3.small")
                .with_user_data("#!/bin/bash\necho ECS_CLUSTER=web >> /etc/ecs/ecs.config")
                .with("SecurityGroupIds", "sg-1"),
        )
        .expect("template");
    (sim, lt)
}

/// `account()` plus a group `web-asg` (min 2, max 6, desired 4) on `$Default`.
pub(crate) fn fleet() -> (SimAws, String) {
    let (sim, lt) = account();
    sim.create_group(GroupSpec::new("web-asg", &lt, 2, 6, 4))
        .expect("group");
    (sim, lt)
}

pub(crate) fn version_request(
    template: &str,
    source: u64,
    ami: &str,
    token: &str,
) -> CreateVersionRequest {
    CreateVersionRequest {
        template_id: template.to_string(),
        source_version: source,
        image_id: ami.to_string(),
        description: format!("amiroll: {ami}"),
        client_token: token.to_string(),
        block_device_mappings: Vec::new(),
    }
}

/// Pin a group to a version number (`UpdateAutoScalingGroup`): refreshes with AutoRollback need
/// a numbered version ("Undo changes with a manual or auto rollback").
pub(crate) fn pin(sim: &SimAws, group: &str, template: &str, version: u64) {
    use amiroll_core::port::{Aws, TemplateSpec, UpdateGroupRequest};
    futures::executor::block_on(sim.update_auto_scaling_group(&UpdateGroupRequest {
        group_name: group.to_string(),
        launch_template: Some(TemplateSpec {
            template_id: Some(template.to_string()),
            template_name: None,
            version: Some(version.to_string()),
        }),
        termination_policies: None,
        ..Default::default()
    }))
    .expect("pin the group");
}
