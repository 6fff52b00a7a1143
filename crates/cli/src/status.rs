//! `amiroll status [--wait]`: where each fleet stands, and following a rollout to its end.

use std::time::Duration;

use amiroll_core::config::Config;
use amiroll_core::model::{Plan, TargetStatus};
use amiroll_core::port::Aws;
use amiroll_core::{render, Engine};
use indicatif::{ProgressBar, ProgressStyle};

/// Exit code of a status: 0 all current, 1 a failure or error, 2 otherwise.
fn code(plan: &Plan) -> i32 {
    if plan
        .targets
        .iter()
        .any(|t| matches!(t.status, TargetStatus::Failed | TargetStatus::Error))
    {
        1
    } else if plan
        .targets
        .iter()
        .all(|t| t.status == TargetStatus::Current)
    {
        0
    } else {
        2
    }
}

fn in_flight(plan: &Plan) -> bool {
    plan.targets
        .iter()
        .any(|t| t.status == TargetStatus::Rolling)
}

/// Mean progress of the rollouts in flight, and a one-line description.
fn progress(plan: &Plan) -> (u64, String) {
    let mut percents = Vec::new();
    let mut details = Vec::new();
    for t in &plan.targets {
        for g in &t.groups {
            if let Some(r) = &g.rollout {
                percents.push(r.percent.unwrap_or(0).clamp(0, 100) as u64);
                details.push(format!("{}/{}: {}", t.target, g.name, r.detail));
            }
        }
    }
    let mean = if percents.is_empty() {
        0
    } else {
        percents.iter().sum::<u64>() / percents.len() as u64
    };
    (mean, details.join(" | "))
}

pub async fn run<A: Aws>(
    engine: &Engine<'_, A>,
    config: &Config,
    json: bool,
    wait: bool,
    interval: u64,
    timeout: u64,
) -> anyhow::Result<i32> {
    let mut plan = engine.plan(config).await?;
    if wait && in_flight(&plan) {
        let bar = ProgressBar::new(100);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let started = std::time::Instant::now();
        while in_flight(&plan) {
            let (pos, msg) = progress(&plan);
            bar.set_position(pos);
            bar.set_message(msg);
            if started.elapsed() >= Duration::from_secs(timeout) {
                bar.abandon_with_message("still in flight; gave up waiting");
                break;
            }
            tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
            plan = engine.plan(config).await?;
        }
        bar.finish_and_clear();
    }
    let out = if json {
        format!("{}\n", serde_json::to_string_pretty(&plan)?)
    } else {
        render::status_text(&plan)
    };
    crate::print(&out)?;
    Ok(code(&plan))
}
