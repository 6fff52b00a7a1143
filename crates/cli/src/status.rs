//! `amiroll status [--wait]`: where each fleet stands, and following a rollout to its end.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use amiroll_core::config::Config;
use amiroll_core::fleet::{self, Place, PlacePlan};
use amiroll_core::model::{Plan, TargetStatus};
use amiroll_core::output::{CliOutput, OutputCommand};
use amiroll_core::port::Aws;
use amiroll_core::{render, Engine};
use indicatif::{ProgressBar, ProgressStyle};

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

/// How long `status --wait` stays silent without a terminal when nothing changes.
const QUIET_LINE_EVERY: Duration = Duration::from_secs(60);

/// Where `status --wait` shows its progress: a bar for a person at a terminal; otherwise (CI
/// logs, containers, files) a line per change, or one a minute when nothing changes, so that a
/// long rollout never looks hung.
enum Progress {
    Bar(ProgressBar),
    Lines {
        last: Option<(u64, String)>,
        last_at: Instant,
        started: Instant,
        out: Box<dyn FnMut(String) + Send>,
    },
}

impl Progress {
    fn for_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::Bar(bar())
        } else {
            Progress::lines(Box::new(|line| eprintln!("{line}")))
        }
    }

    fn lines(out: Box<dyn FnMut(String) + Send>) -> Progress {
        let now = Instant::now();
        Progress::Lines {
            last: None,
            last_at: now,
            started: now,
            out,
        }
    }

    fn show(&mut self, pos: u64, msg: String) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(pos);
                bar.set_message(msg);
            }
            Progress::Lines {
                last,
                last_at,
                started,
                out,
            } => {
                let state = (pos, msg);
                if last.as_ref() != Some(&state) || last_at.elapsed() >= QUIET_LINE_EVERY {
                    out(format!(
                        "amiroll status: [{}] {:>3}% {}",
                        elapsed(started.elapsed()),
                        state.0,
                        state.1
                    ));
                    *last = Some(state);
                    *last_at = Instant::now();
                }
            }
        }
    }

    fn give_up(&mut self) {
        const WHY: &str = "still in flight; gave up waiting";
        match self {
            Progress::Bar(bar) => bar.abandon_with_message(WHY),
            Progress::Lines { out, .. } => out(format!("amiroll status: {WHY}")),
        }
    }

    fn done(&mut self) {
        match self {
            Progress::Bar(bar) => bar.finish_and_clear(),
            Progress::Lines { out, started, .. } => out(format!(
                "amiroll status: [{}] nothing in flight any more",
                elapsed(started.elapsed())
            )),
        }
    }
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Plan again every `interval` seconds while something is `busy`, showing its `progress`, until
/// nothing is in flight or `timeout` seconds have passed; the last plan.
async fn follow<T, Fut>(
    mut current: T,
    busy: impl Fn(&T) -> bool,
    progress: impl Fn(&T) -> (u64, String),
    interval: u64,
    timeout: u64,
    replan: impl Fn() -> Fut,
    mut shown: Progress,
) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    if !busy(&current) {
        return Ok(current);
    }
    let started = Instant::now();
    while busy(&current) {
        let (pos, msg) = progress(&current);
        shown.show(pos, msg);
        if started.elapsed() >= Duration::from_secs(timeout) {
            shown.give_up();
            return Ok(current);
        }
        tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
        current = replan().await?;
    }
    shown.done();
    Ok(current)
}

pub async fn run<A: Aws>(
    engine: &Engine<'_, A>,
    place: Place,
    config: &Config,
    json: bool,
    wait: bool,
    interval: u64,
    timeout: u64,
) -> anyhow::Result<i32> {
    let mut plan = engine.plan(config).await?;
    if wait {
        plan = follow(
            plan,
            in_flight,
            progress,
            interval,
            timeout,
            || async { Ok(engine.plan(config).await?) },
            Progress::for_stderr(),
        )
        .await?;
    }
    let code = plan.exit_code();
    let out = if json {
        let doc = CliOutput::from_plans(
            OutputCommand::Status,
            vec![PlacePlan {
                place,
                plan: Some(plan),
                error: None,
            }],
        );
        format!("{}\n", serde_json::to_string_pretty(&doc)?)
    } else {
        render::status_text(&plan)
    };
    crate::print(&out)?;
    Ok(code)
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
            Progress::for_stderr(),
        )
        .await?;
    }
    let doc = CliOutput::from_plans(OutputCommand::Status, plans.clone());
    let out = if json {
        format!("{}\n", serde_json::to_string_pretty(&doc)?)
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
    Ok(doc.exit_code)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::{Arc, Mutex};

    use super::{follow, Progress};

    fn none(_: &u32) -> (u64, String) {
        (0, String::new())
    }

    fn quiet() -> Progress {
        Progress::lines(Box::new(|_| {}))
    }

    #[tokio::test]
    async fn follow_returns_at_once_when_nothing_is_in_flight_or_time_is_up() {
        let calls = Cell::new(0);
        let replan = || {
            calls.set(calls.get() + 1);
            async { Ok(0u32) }
        };
        let idle = follow(7u32, |n| *n > 0 && *n != 7, none, 1, 60, replan, quiet()).await;
        assert_eq!(idle.ok(), Some(7));
        let timed_out = follow(5u32, |n| *n > 0, none, 1, 0, replan, quiet()).await;
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
        let last = follow(left.get(), |n| *n > 0, none, 1, 60, replan, quiet()).await;
        assert_eq!(last.ok(), Some(0));
        assert_eq!(left.get(), 0, "planned twice more");
    }

    /// Without a terminal, each change is one line; an unchanged state is not repeated (within a
    /// minute), and the end is said.
    #[tokio::test]
    async fn without_a_terminal_each_change_is_one_line() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&lines);
        let shown = Progress::lines(Box::new(move |l| {
            if let Ok(mut v) = sink.lock() {
                v.push(l);
            }
        }));
        // 3 → 2 → 2 → 1 → 0: the percent is (3 - n) × 30; two observations of 2 look the same.
        let progress = |n: &u32| (u64::from(3 - n) * 30, format!("web/ecs-web: {n} left"));
        let seen = Cell::new(0u32);
        let replan_twice_at_two = || {
            seen.set(seen.get() + 1);
            let n = match seen.get() {
                1 | 2 => 2,
                3 => 1,
                _ => 0,
            };
            async move { Ok(n) }
        };
        let last = follow(
            3u32,
            |n| *n > 0,
            progress,
            1,
            60,
            replan_twice_at_two,
            shown,
        )
        .await;
        assert_eq!(last.ok(), Some(0));
        let lines = lines.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].ends_with("  0% web/ecs-web: 3 left"), "{lines:#?}");
        assert!(lines[1].ends_with(" 30% web/ecs-web: 2 left"), "{lines:#?}");
        assert!(lines[2].ends_with(" 60% web/ecs-web: 1 left"), "{lines:#?}");
        assert!(
            lines[3].ends_with("nothing in flight any more"),
            "{lines:#?}"
        );
        assert!(lines.iter().all(|l| l.starts_with("amiroll status: ")));
    }
}
