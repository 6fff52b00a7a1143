//! Races: 2 to 10 engines at once on one account, their calls interleaved by a schedule that
//! proptest generates (and shrinks on failure). Each port call of the simulator yields once to
//! the executor, so one poll of an engine's future makes exactly one call; the schedule says
//! which engine makes the next one. The engines are Lambda-like invocations of different kinds:
//! the scheduled tick (every target), an event for one target (an instance refresh event), a
//! person's `amiroll apply`, and a read-only `amiroll plan`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use amiroll_core::{ApplyReport, Engine, RunError};

use super::oracle::Oracle;
use super::world::{config, quiet, Scenario, BASE_CADENCE};

/// One invocation's kind.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Tick,
    Event,
    Manual,
    Plan,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<Option<ApplyReport>, RunError>> + 'a>>;

/// Poll the runs in the order the schedule picks (round robin once it is used up); return each
/// run's result, in the order given.
pub fn interleave<'a>(
    mut runs: Vec<Run<'a>>,
    schedule: &[u8],
) -> Vec<Result<Option<ApplyReport>, RunError>> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut results: Vec<Option<Result<Option<ApplyReport>, RunError>>> =
        runs.iter().map(|_| None).collect();
    let mut step = 0usize;
    loop {
        let live: Vec<usize> = (0..runs.len()).filter(|i| results[*i].is_none()).collect();
        if live.is_empty() {
            break;
        }
        let pick = match schedule.get(step) {
            Some(b) => live[*b as usize % live.len()],
            None => live[step % live.len()],
        };
        step += 1;
        if let Poll::Ready(r) = runs[pick].as_mut().poll(&mut cx) {
            results[pick] = Some(r);
        }
        assert!(step < 1_000_000, "an engine never finished");
    }
    results.into_iter().map(|r| r.expect("finished")).collect()
}

/// One race case: `kinds` engines at every tick, interleaved by `schedule` (consumed tick after
/// tick), until the rollout ends. Returns the oracle (with what it found) and the ticks run.
pub fn race(sc: &Scenario, kinds: &[Kind], schedule: &[u8]) -> (Oracle, usize, Vec<String>) {
    let w = (sc.build)();
    w.sim.set_yield_per_call(true);
    let cfg = config(&w);
    let oracle = Oracle::install(&w.sim, &cfg);
    let applying = kinds.iter().filter(|k| !matches!(k, Kind::Plan)).count();
    oracle.allow_overlap(applying.saturating_sub(1));
    let original = oracle
        .groups()
        .into_iter()
        .filter_map(|g| {
            w.sim
                .try_group(&g)
                .map(|x| (g, (x.min_size, x.max_size, x.desired_capacity)))
        })
        .collect();
    for (when, cue) in &sc.cues {
        if let (super::world::When::Start, super::world::Cue::Publish(ami)) = (when, cue) {
            w.publish(ami);
        }
    }
    let first_target = cfg.targets[0].name.clone();
    let mut event_cfg = cfg.clone();
    let _ = event_cfg.select(std::slice::from_ref(&first_target));
    let mut offset = 0;
    let mut quiet_streak = 0;
    let mut ticks = 0;
    let mut problems = Vec::new();
    while ticks < 80 {
        ticks += 1;
        let engines: Vec<Engine<'_, amiroll_sim::SimAws>> =
            kinds.iter().map(|_| Engine::new(&w.sim)).collect();
        let runs: Vec<Run<'_>> = engines
            .iter()
            .zip(kinds)
            .map(|(e, k)| -> Run<'_> {
                let cfg = &cfg;
                let event_cfg = &event_cfg;
                match k {
                    Kind::Tick | Kind::Manual => {
                        Box::pin(async move { e.run(cfg, false).await.map(Some) })
                    }
                    Kind::Event => Box::pin(async move { e.run(event_cfg, false).await.map(Some) }),
                    Kind::Plan => Box::pin(async move { e.plan(cfg).await.map(|_| None) }),
                }
            })
            .collect();
        let slice = schedule.get(offset..).unwrap_or(&[]);
        let results = interleave(runs, slice);
        offset += 64;
        for r in &results {
            let as_report: Result<ApplyReport, RunError> = match r {
                Ok(Some(rep)) => Ok(rep.clone()),
                Ok(None) => continue,
                Err(e) => Err(e.clone()),
            };
            if let Err(e) = &as_report {
                problems.push(format!("tick {ticks}: a run failed as a whole: {e}"));
            }
            oracle.end_run(&w.sim, &as_report);
        }
        // One plain run (not raced) tells whether the rollout has ended.
        w.sim.set_yield_per_call(false);
        let probe = futures::executor::block_on(Engine::new(&w.sim).run(&cfg, false));
        oracle.end_run(&w.sim, &probe);
        w.sim.set_yield_per_call(true);
        quiet_streak = if quiet(&w, &oracle, &probe) {
            quiet_streak + 1
        } else {
            0
        };
        if quiet_streak >= 2 {
            break;
        }
        w.sim.advance(BASE_CADENCE);
    }
    oracle.end_scenario(&w.sim);
    let outcome = super::world::Outcome {
        oracle: oracle.clone(),
        runs: ticks,
        crashes: 0,
        converged: quiet_streak >= 2,
        reports: Vec::new(),
        changes: Vec::new(),
        calls: Vec::new(),
        original,
    };
    if !outcome.converged {
        oracle.record("converges", format!("no end after {ticks} ticks"));
    }
    super::world::check_end(sc.expect, &w, &outcome, false);
    (oracle, ticks, problems)
}

/// The proptest strategy of one case: 2–10 engines of random kinds and a schedule.
pub fn case_strategy() -> impl proptest::strategy::Strategy<Value = (Vec<u8>, Vec<u8>)> {
    use proptest::prelude::*;
    (
        proptest::collection::vec(0u8..4, 2..=10),
        proptest::collection::vec(any::<u8>(), 0..2000),
    )
}

pub fn kinds(raw: &[u8], lambda_like: bool) -> Vec<Kind> {
    raw.iter()
        .map(|k| {
            if lambda_like {
                match k % 4 {
                    0 => Kind::Tick,
                    1 => Kind::Event,
                    2 => Kind::Manual,
                    _ => Kind::Plan,
                }
            } else {
                Kind::Tick
            }
        })
        .collect()
}
