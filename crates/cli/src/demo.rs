//! `amiroll demo`: a whole rollout against the simulated account, in virtual time.
//!
//! An ECS account: launch template `ecs-cluster` for two groups (one on `$Default` whose instances
//! run service `api` of ECS cluster `prod`, one pinned to a version number), and `ecs-batch` for an
//! ECS cluster `batch` whose group (on `$Latest`) runs a service of 4 tasks. AWS publishes a new
//! ECS-optimized AMI; the engine runs the way the scheduled Lambda would, virtual time passes
//! through the refresh (its terminations held by amiroll's lifecycle hook until drained), the
//! surge, the drain of the old container instances and the settle, and the demo prints the
//! timeline and the end state.

use std::fmt::Write as _;
use std::time::Duration;

use amiroll_core::config::Config;
use amiroll_core::model::TargetStatus;
use amiroll_core::{render, ApplyReport, Engine};
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};
use chrono::TimeZone;

const PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
const OLD_AMI: &str = "ami-0a1b2c3d4e5f60718";
const NEW_AMI: &str = "ami-0f9e8d7c6b5a49382";

fn demo_config(topic: &str) -> String {
    format!(
        r#"[defaults]
keep_versions = 2

# ecs-web: the default strategy, an instance refresh (launch before terminate, auto rollback).
# Its instances join ECS cluster `prod` (user data); amiroll's lifecycle hook holds each old
# instance the refresh terminates until its tasks have moved.
[[target]]
name = "web"
launch_template = "ecs-cluster"
ami_parameter = "{PARAM}"
groups = ["ecs-web"]
instance_warmup = "2m"
ecs_drain = "lifecycle-hook"
sns_topic = "{topic}"

# ecs-batch launches $Latest and uses the seed's way, fixed: a scheduled surge and settle. Its
# template's user data names ECS cluster `batch`: a new instance counts healthy only once its agent
# has joined, and the old container instances are drained before the settle.
[[target]]
name = "batch"
launch_template = "ecs-batch"
ami_parameter = "{PARAM}"
groups = ["ecs-batch"]
strategy = "scheduled-surge"
surge_minutes = 15
sns_topic = "{topic}"

# ecs-legacy pins version 1: amiroll refuses to touch it unless told (pinned = "update").
[[target]]
name = "legacy"
launch_template = "ecs-cluster"
ami_parameter = "{PARAM}"
groups = ["ecs-legacy"]
strategy = "scheduled-surge"
"#
    )
}

/// Build the account, run the rollout, and return the text to print.
pub async fn run() -> anyhow::Result<String> {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    let created = |y, m, d| {
        chrono::Utc
            .with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .unwrap_or_else(|| sim.now())
    };
    sim.register_image(ImageSpec::new(
        OLD_AMI,
        "al2023-ami-ecs-hvm-2023.0.20261015-kernel-6.1-x86_64",
        "x86_64",
        created(2026, 10, 15),
    ));
    sim.put_parameter(PARAM, OLD_AMI);
    let lt = sim
        .create_launch_template(
            "ecs-cluster",
            TemplateData::new(OLD_AMI, "m5.large")
                .with_user_data("#!/bin/bash\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config"),
        )
        .map_err(|e| anyhow::anyhow!("demo setup: {e}"))?;
    let batch_lt = sim
        .create_launch_template(
            "ecs-batch",
            TemplateData::new(OLD_AMI, "m5.large")
                .with_user_data("#!/bin/bash\necho ECS_CLUSTER=batch >> /etc/ecs/ecs.config"),
        )
        .map_err(|e| anyhow::anyhow!("demo setup: {e}"))?;
    for cluster in ["prod", "batch"] {
        sim.create_cluster(cluster)
            .map_err(|e| anyhow::anyhow!("demo setup: {e}"))?;
    }
    for spec in [
        GroupSpec::new("ecs-web", &lt, 2, 8, 4),
        GroupSpec::new("ecs-batch", &batch_lt, 1, 3, 2).with_version("$Latest"),
        GroupSpec::new("ecs-legacy", &lt, 1, 1, 1).with_version("1"),
    ] {
        sim.create_group(spec.with_termination_policies(&["OldestLaunchTemplate", "Default"]))
            .map_err(|e| anyhow::anyhow!("demo setup: {e}"))?;
    }
    sim.create_service("prod", "api", 8)
        .map_err(|e| anyhow::anyhow!("demo setup: {e}"))?;
    sim.create_service("batch", "worker", 4)
        .map_err(|e| anyhow::anyhow!("demo setup: {e}"))?;
    let topic = sim.create_topic("amiroll-demo");
    let config = Config::from_toml(&demo_config(&topic), "demo.toml")?;

    let mut out = String::new();
    writeln!(out, "amiroll demo — a simulated AWS account, virtual time")?;
    writeln!(out, "====================================================")?;
    writeln!(
        out,
        "Account: launch template `ecs-cluster` ({lt}) v1 on {OLD_AMI} for groups ecs-web (4 instances, $Default, container instances of ECS cluster `prod` running service `api`, 8 tasks) and ecs-legacy (1, pinned to v1); launch template `ecs-batch` ({batch_lt}) v1 on {OLD_AMI} for group ecs-batch (2, $Latest), container instances of ECS cluster `batch` running service `worker` (4 tasks)."
    )?;
    writeln!(out, "Configuration:\n{}", indent(&demo_config(&topic)))?;

    let engine = Engine::new(&sim);
    writeln!(out, "── {} amiroll check", clock(&sim))?;
    let plan = engine.plan(&config).await?;
    out.push_str(&indent(&render::check_text(&plan)));

    sim.advance(Duration::from_secs(3600));
    sim.register_image(ImageSpec::new(
        NEW_AMI,
        "al2023-ami-ecs-hvm-2023.0.20261120-kernel-6.1-x86_64",
        "x86_64",
        created(2026, 11, 20),
    ));
    sim.put_parameter(PARAM, NEW_AMI);
    writeln!(
        out,
        "── {} AWS publishes a new ECS-optimized AMI: {PARAM} = {NEW_AMI}\n",
        clock(&sim)
    )?;

    // The scheduled Lambda runs `apply`; we run it every few virtual minutes until all is done.
    let mut last_status = String::new();
    for step in 0..12 {
        let report = engine.run(&config, false).await?;
        let status = statuses(&report);
        if step == 0
            || status != last_status
            || report.targets.iter().any(|t| !t.results.is_empty())
        {
            writeln!(out, "── {} amiroll apply", clock(&sim))?;
            out.push_str(&indent(&render::report_text(&report)));
        }
        let done = report.targets.iter().all(|t| {
            matches!(
                t.plan.status,
                TargetStatus::Current | TargetStatus::Error | TargetStatus::Failed
            )
        });
        if done && step > 0 {
            break;
        }
        last_status = status;
        sim.advance(Duration::from_secs(5 * 60));
    }

    writeln!(out, "── Timeline of the simulated account")?;
    for (t, e) in sim.events() {
        writeln!(out, "   {}  {e}", t.format("%H:%M:%S"))?;
    }
    writeln!(out, "\n── End state")?;
    writeln!(
        out,
        "   launch template ecs-cluster (default v{}):",
        sim.template(&lt).default_version
    )?;
    for v in sim.template_versions(&lt) {
        writeln!(
            out,
            "     v{} {} — {}",
            v.version,
            v.image_id.unwrap_or_default(),
            v.description.unwrap_or_default()
        )?;
    }
    for g in ["ecs-web", "ecs-batch", "ecs-legacy"] {
        let (min, max, desired) = sim.group_capacity(g);
        let amis = sim
            .instances_by_ami(g)
            .iter()
            .map(|(a, n)| format!("{n}× {a}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "   {g:<11} min {min} max {max} desired {desired}: {amis}"
        )?;
    }
    writeln!(
        out,
        "   launch template ecs-batch (default v{}, latest v{})",
        sim.template(&batch_lt).default_version,
        sim.template(&batch_lt).latest_version
    )?;
    let drained = sim
        .events()
        .iter()
        .filter(|(_, e)| e.starts_with("ecs batch:") && e.ends_with("DRAINING"))
        .count();
    let held = sim
        .events()
        .iter()
        .filter(|(_, e)| e.starts_with("autoscaling ecs-web:") && e.contains("Terminating:Wait"))
        .count();
    let killed = |cluster: &str| {
        sim.task_kills()
            .iter()
            .filter(|k| k.cluster == cluster)
            .map(|k| k.tasks)
            .sum::<usize>()
    };
    writeln!(
        out,
        "   ECS cluster prod: service api {}/8 tasks running; {held} old instance(s) held by amiroll's lifecycle hook and drained before they terminated; tasks killed on terminated instances: {}",
        sim.service_running_count("prod", "api"),
        killed("prod")
    )?;
    writeln!(
        out,
        "   ECS cluster batch: service worker {}/4 tasks running; {drained} old container instance(s) drained before the settle; tasks killed on terminated instances: {}",
        sim.service_running_count("batch", "worker"),
        killed("batch")
    )?;
    writeln!(out, "   notifications sent to {topic}:")?;
    for n in sim.published(&topic) {
        writeln!(out, "     • {}", n.subject)?;
    }
    writeln!(
        out,
        "\nThe pinned group was refused with an explanation and left alone. ecs-web was replaced by an instance refresh (launch before terminate, rollback available) whose old instances were held until their tasks had moved, and ecs-batch by a health-gated surge whose old container instances were drained (their tasks moved to the new instances) before the settle; both run {NEW_AMI}. Version 1 is kept for rollback."
    )?;
    Ok(out)
}

fn statuses(report: &ApplyReport) -> String {
    report
        .targets
        .iter()
        .map(|t| format!("{}={}", t.plan.target, t.plan.status.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

fn clock(sim: &SimAws) -> String {
    sim.now().format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("   {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn demo_rolls_the_fleet_and_refuses_the_pinned_group() {
        let out = super::run().await.expect("demo runs");
        assert!(out.contains("pins version 1"), "{out}");
        assert!(
            out.contains("ecs-web     min 2 max 8 desired 4: 4× ami-0f9e8d7c6b5a49382"),
            "{out}"
        );
        assert!(
            out.contains("ecs-batch   min 1 max 3 desired 2: 2× ami-0f9e8d7c6b5a49382"),
            "{out}"
        );
        assert!(
            out.contains("ecs-legacy  min 1 max 1 desired 1: 1× ami-0a1b2c3d4e5f60718"),
            "{out}"
        );
        assert!(out.contains("web now on ami-0f9e8d7c6b5a49382"), "{out}");
        assert!(out.contains("batch now on ami-0f9e8d7c6b5a49382"), "{out}");
        assert!(out.contains("instance refresh"), "{out}");
        assert!(
            out.contains("ECS cluster batch: service worker 4/4 tasks running; 2 old container instance(s) drained before the settle; tasks killed on terminated instances: 0"),
            "{out}"
        );
        assert!(
            out.contains("ECS cluster prod: service api 8/8 tasks running; 4 old instance(s) held by amiroll's lifecycle hook and drained before they terminated; tasks killed on terminated instances: 0"),
            "{out}"
        );
    }
}
