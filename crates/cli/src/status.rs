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

/// Plan again every `interval` seconds while something is `busy`, with its `progress` on a bar,
/// until nothing is in flight or `timeout` seconds have passed; the last plan.
async fn follow<T, Fut>(
    mut current: T,
    busy: impl Fn(&T) -> bool,
    progress: impl Fn(&T) -> (u64, String),
    interval: u64,
    timeout: u64,
    replan: impl Fn() -> Fut,
) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    if !busy(&current) {
        return Ok(current);
    }
    let bar = bar();
    let started = std::time::Instant::now();
    while busy(&current) {
        let (pos, msg) = progress(&current);
        bar.set_position(pos);
        bar.set_message(msg);
        if started.elapsed() >= Duration::from_secs(timeout) {
            bar.abandon_with_message("still in flight; gave up waiting");
            return Ok(current);
        }
        tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
        current = replan().await?;
    }
    bar.finish_and_clear();
    Ok(current)
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
    if wait {
        plan = follow(plan, in_flight, progress, interval, timeout, || async {
            Ok(engine.plan(config).await?)
        })
        .await?;
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
    if wait {
        let each = |plans: &Vec<PlacePlan>| {
            let prefixes: Vec<String> = plans.iter().map(|p| format!("{} ", p.place)).collect();
            let each: Vec<(&str, &Plan)> = plans
                .iter()
                .zip(&prefixes)
                .filter_map(|(p, prefix)| p.plan.as_ref().map(|plan| (prefix.as_str(), plan)))
                .collect();
            progress_of(&each)
        };
        plans = follow(
            plans,
            |p| busy(p),
            each,
            interval,
            timeout,
            || async { Ok(fleet::plan_everywhere(ports, config, retry).await) },
        )
        .await?;
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::follow;

    fn none(_: &u32) -> (u64, String) {
        (0, String::new())
    }

    #[tokio::test]
    async fn follow_returns_at_once_when_nothing_is_in_flight_or_time_is_up() {
        let calls = Cell::new(0);
        let replan = || {
            calls.set(calls.get() + 1);
            async { Ok(0u32) }
        };
        let idle = follow(7u32, |n| *n > 0 && *n != 7, none, 1, 60, replan).await;
        assert_eq!(idle.ok(), Some(7));
        let timed_out = follow(5u32, |n| *n > 0, none, 1, 0, replan).await;
        assert_eq!(timed_out.ok(), Some(5), "still in flight, given up");
        assert_eq!(calls.get(), 0, "no plan was made again");
    }

    #[tokio::test]
    async fn follow_plans_again_until_nothing_is_in_flight() {
        let left = Cell::new(2u32);
        let replan = || {
            left.set(left.get() - 1);
            let n = left.get();
            async move { Ok(n) }
        };
        let last = follow(left.get(), |n| *n > 0, none, 1, 60, replan).await;
        assert_eq!(last.ok(), Some(0));
        assert_eq!(left.get(), 0, "planned twice more");
    }
}
