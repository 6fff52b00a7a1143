//! `amiroll status [--wait]`: where each fleet stands, and following a rollout to its end.

use std::time::Duration;

use amiroll_core::config::Config;
use amiroll_core::fleet::{self, Place, PlacePlan};
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
    progress_of(&[("", plan)])
}

/// [`progress`] over several places; each description starts with its place's prefix.
fn progress_of(plans: &[(&str, &Plan)]) -> (u64, String) {
    let mut percents = Vec::new();
    let mut details = Vec::new();
    for (prefix, plan) in plans {
        for t in &plan.targets {
            for g in &t.groups {
                if let Some(r) = &g.rollout {
                    percents.push(r.percent.unwrap_or(0).clamp(0, 100) as u64);
                    details.push(format!("{prefix}{}/{}: {}", t.target, g.name, r.detail));
                }
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

fn bar() -> ProgressBar {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
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
        let bar = bar();
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

/// `status` in several accounts or regions: every place observed at once (bounded), one status
/// per place; with `wait`, again every `interval` seconds until no place has a rollout in flight.
/// A place that cannot be read counts as an error (exit 1).
pub async fn run_many<A: Aws>(
    ports: &[(Place, Result<A, String>)],
    config: &Config,
    json: bool,
    wait: bool,
    interval: u64,
    timeout: u64,
) -> anyhow::Result<i32> {
    let retry = amiroll_core::RetryPolicy::default();
    let busy = |plans: &[PlacePlan]| plans.iter().any(|p| p.plan.as_ref().is_some_and(in_flight));
    let mut plans = fleet::plan_everywhere(ports, config, retry).await;
    if wait && busy(&plans) {
        let bar = bar();
        let started = std::time::Instant::now();
        while busy(&plans) {
            let prefixes: Vec<String> = plans.iter().map(|p| format!("{} ", p.place)).collect();
            let each: Vec<(&str, &Plan)> = plans
                .iter()
                .zip(&prefixes)
                .filter_map(|(p, prefix)| p.plan.as_ref().map(|plan| (prefix.as_str(), plan)))
                .collect();
            let (pos, msg) = progress_of(&each);
            bar.set_position(pos);
            bar.set_message(msg);
            if started.elapsed() >= Duration::from_secs(timeout) {
                bar.abandon_with_message("still in flight; gave up waiting");
                break;
            }
            tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
            plans = fleet::plan_everywhere(ports, config, retry).await;
        }
        bar.finish_and_clear();
    }
    let out = if json {
        format!("{}\n", serde_json::to_string_pretty(&plans)?)
    } else {
        let mut out = String::new();
        for p in &plans {
            out.push_str(&format!("== {}\n", p.place));
            match (&p.plan, &p.error) {
                (Some(plan), _) => out.push_str(&render::status_text(plan)),
                (None, e) => {
                    out.push_str(&format!("FAILED: {}\n\n", e.clone().unwrap_or_default()))
                }
            }
        }
        out
    };
    crate::print(&out)?;
    Ok(plans
        .iter()
        .map(|p| p.plan.as_ref().map_or(1, code))
        .fold(0, |acc, c| if acc == 1 || c == 1 { 1 } else { acc.max(c) }))
}
