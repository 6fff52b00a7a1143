//! The adversity suite: a real engine and planner against the simulated account, scenarios ×
//! perturbations, with invariants checked after every simulated call and every run
//! (`adversity/oracle.rs`), and each scenario's end state checked at its end
//! (`adversity/world.rs`).
//!
//! - every scenario unperturbed;
//! - a crash after every call index k, then fresh runs at the next ticks;
//! - at every call index k: throttling and a timeout that outlast every retry, one HTTP 500, and
//!   for writes an ambiguous write (applied, then a 500);
//! - scheduled actions up to 2 minutes late, and runs every 5 minutes, 30 minutes or 24 hours;
//! - races: 2 to 10 engines with random interleavings of their calls (`adversity/races.rs`);
//! - people changing things mid-rollout (`adversity/outside.rs`);
//! - bad input that must change nothing in the account (`adversity/bad_inputs.rs`).
//!
//! `AMIROLL_ADVERSITY=full` runs every call index (what `scripts/reliability.sh` does); by default
//! a sample runs. Each test prints its tally (and appends it to `AMIROLL_ADVERSITY_OUT`).

#[path = "../common/mod.rs"]
mod common;

mod bad_inputs;
mod oracle;
mod outside;
mod races;
mod tally;
mod world;

use std::time::Duration;

use tally::{emit, sample, verdict, Tally};
use world::{drive, faults_at, scenarios, Outcome, Perturb, Scenario};

/// Run one case and fold what it found into `t`.
fn case(t: &mut Tally, sc: &Scenario, p: &Perturb) -> Outcome {
    let out = drive(sc, p);
    t.runs += out.runs;
    t.checks += out.oracle.checks();
    t.violations_of(
        &format!("{} / {}", sc.name, p.label()),
        &out.oracle.violations(),
    );
    out
}

/// Each scenario on its own thread.
fn per_scenario(test: &str, f: impl Fn(&Scenario, usize) -> Tally + Sync) -> Tally {
    let all = scenarios();
    let tallies: Vec<(String, Tally)> = std::thread::scope(|s| {
        let handles: Vec<_> = all
            .iter()
            .enumerate()
            .map(|(i, sc)| {
                let f = &f;
                s.spawn(move || (sc.name.to_string(), f(sc, i)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scenario thread"))
            .collect()
    });
    let mut total = Tally::default();
    for (name, t) in &tallies {
        emit(test, name, t);
        total.add(t);
    }
    total
}

/// The calls of a scenario's unperturbed run.
fn baseline(sc: &Scenario) -> Vec<&'static str> {
    drive(sc, &Perturb::None).calls
}

#[test]
fn every_scenario_ends_as_expected_unperturbed() {
    let total = per_scenario("unperturbed", |sc, _| {
        let mut t = Tally {
            scenarios: 1,
            ..Tally::default()
        };
        let out = case(&mut t, sc, &Perturb::None);
        assert!(
            out.calls.len() > 5,
            "{}: only {} calls",
            sc.name,
            out.calls.len()
        );
        t
    });
    verdict("unperturbed", &total);
}

#[test]
fn a_crash_after_any_call_is_survived_by_the_next_runs() {
    let total = per_scenario("crash", |sc, i| {
        let mut t = Tally::default();
        let n = baseline(sc).len();
        for k in sample(n, 5, i) {
            let p = Perturb::Crash(k);
            let out = case(&mut t, sc, &p);
            t.crash_points += 1;
            if out.crashes == 0 {
                t.harness_errors
                    .push(format!("{} / {}: no run crashed", sc.name, p.label()));
            }
        }
        t
    });
    verdict("crash", &total);
}

#[test]
fn a_fault_at_any_call_is_retried_or_fails_cleanly_and_the_next_runs_converge() {
    let total = per_scenario("faults", |sc, i| {
        let mut t = Tally::default();
        let calls = baseline(sc);
        for k0 in sample(calls.len(), 3, i) {
            for p in faults_at(&calls, k0 + 1) {
                let out = case(&mut t, sc, &p);
                let (operation, code) = p.fault().expect("a fault");
                let hit = out
                    .oracle
                    .errors()
                    .iter()
                    .any(|(_, o, c)| *o == operation && *c == code);
                if !hit {
                    t.harness_errors.push(format!(
                        "{} / {}: the fault hit no call",
                        sc.name,
                        p.label()
                    ));
                }
                t.faults += 1;
                *t.faults_by_op.entry(operation.to_string()).or_insert(0) += 1;
            }
        }
        t
    });
    let uncovered: Vec<&str> = amiroll_core::port::op::ALL
        .iter()
        .copied()
        .filter(|o| !total.faults_by_op.contains_key(*o))
        .collect();
    tally::note(serde_json::json!({
        "note": "fault-coverage",
        "ops": amiroll_core::port::op::ALL,
        "uncovered": uncovered,
    }));
    verdict("faults", &total);
}

#[test]
fn late_scheduled_actions_and_coarse_run_cadences_stay_safe() {
    let variants = [
        Perturb::Late(30, 30),
        Perturb::Late(120, 120),
        Perturb::Late(120, 0),
        Perturb::Late(0, 120),
        Perturb::Late(60, 90),
        Perturb::Cadence(Duration::from_secs(5 * 60)),
        Perturb::Cadence(Duration::from_secs(30 * 60)),
        Perturb::Cadence(Duration::from_secs(24 * 3600)),
    ];
    let total = per_scenario("timings", |sc, i| {
        let mut t = Tally::default();
        for j in sample(variants.len(), 4, i) {
            case(&mut t, sc, &variants[j]);
            t.timings += 1;
        }
        t
    });
    verdict("timings", &total);
}

/// The scenarios the races run on: a surge target, a refresh target, a target of two groups,
/// and two targets sharing a template.
fn race_scenarios() -> Vec<Scenario> {
    scenarios()
        .into_iter()
        .filter(|s| {
            matches!(
                s.name,
                "surge-good" | "refresh-good" | "multi-group" | "shared-template"
            )
        })
        .collect()
}

#[test]
fn engines_racing_with_random_interleavings_stay_safe() {
    use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
    let cases: u32 = if tally::full() { 40 } else { 2 };
    let total = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for sc in race_scenarios() {
            for lambda_like in [false, true] {
                let sc = sc.clone();
                handles.push(s.spawn(move || {
                    let mut t = Tally::default();
                    let seen = std::sync::Mutex::new(Tally::default());
                    // proptest stops at the first failure (and shrinks it); start again with
                    // another seed until `cases` schedules have been tried.
                    let mut tried = 0u32;
                    let mut attempt = 0u8;
                    while tried < cases && attempt < if tally::full() { 40 } else { 2 } {
                        attempt += 1;
                        let before = seen.lock().unwrap_or_else(|e| e.into_inner()).schedules;
                        let mut seed = [0u8; 32];
                        seed[0] = attempt;
                        seed[1] = lambda_like as u8;
                        let mut runner = TestRunner::new_with_rng(
                            Config {
                                cases: cases - tried,
                                failure_persistence: None,
                                max_shrink_iters: if tally::full() { 100 } else { 8 },
                                ..Config::default()
                            },
                            TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
                        );
                        let result = runner.run(&races::case_strategy(), |(kinds, schedule)| {
                            let kinds = races::kinds(&kinds, lambda_like);
                            let (oracle, ticks, problems) = races::race(&sc, &kinds, &schedule);
                            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                            s.schedules += 1;
                            s.runs += ticks * kinds.len();
                            s.checks += oracle.checks();
                            s.max_engines = s.max_engines.max(kinds.len());
                            let vs = oracle.violations();
                            if vs.is_empty() && problems.is_empty() {
                                Ok(())
                            } else {
                                Err(TestCaseError::fail(format!(
                                    "{} engines {kinds:?}: {}{}",
                                    kinds.len(),
                                    vs.iter()
                                        .map(|v| v.to_string())
                                        .collect::<Vec<_>>()
                                        .join("; "),
                                    problems.join("; ")
                                )))
                            }
                        });
                        let after = seen.lock().unwrap_or_else(|e| e.into_inner()).schedules;
                        match result {
                            Ok(()) => tried = cases,
                            Err(e) => {
                                // Shrinking re-runs count as schedules tried, not as cases.
                                tried += 1 + ((after - before) as u32).min(cases) / 8;
                                t.violations.push(format!(
                                    "{} / races{}: minimal failing schedule: {e}",
                                    sc.name,
                                    if lambda_like {
                                        " (tick, event, manual, plan)"
                                    } else {
                                        ""
                                    }
                                ));
                            }
                        }
                    }
                    t.add(&seen.lock().unwrap_or_else(|e| e.into_inner()));
                    let name = format!(
                        "{}{}",
                        sc.name,
                        if lambda_like { " (lambda-like)" } else { "" }
                    );
                    (name, t)
                }));
            }
        }
        let mut total = Tally::default();
        for h in handles {
            let (name, t) = h.join().expect("race thread");
            emit("races", &name, &t);
            total.add(&t);
        }
        total
    });
    verdict("races", &total);
}

#[test]
fn outside_changes_mid_rollout_end_safe_and_are_told() {
    let changes = outside::changes();
    assert!(changes.len() >= 10);
    let total = std::thread::scope(|s| {
        let handles: Vec<_> = changes
            .iter()
            .map(|c| {
                s.spawn(move || {
                    let mut t = Tally {
                        outside_changes: 1,
                        ..Tally::default()
                    };
                    let sc = outside::scenario(c);
                    let w = (c.build)();
                    let out = world::drive_world(&sc, &w, &Perturb::None);
                    t.runs += out.runs;
                    t.checks += out.oracle.checks();
                    t.violations_of(c.name, &out.oracle.violations());
                    match out.changes.first() {
                        None => t
                            .harness_errors
                            .push(format!("{}: the change never happened", c.name)),
                        Some((_, run)) => {
                            if c.must_tell && !out.told_after(*run) {
                                t.violations.push(format!(
                                    "{}: [told] no run after the change reported an error, a warning or an apply error",
                                    c.name
                                ));
                            }
                        }
                    }
                    if let Some(end) = c.end {
                        if let Some(problem) = end(&w) {
                            t.violations.push(format!("{}: [end-state] {problem}", c.name));
                        }
                    }
                    (c.name, t)
                })
            })
            .collect();
        let mut total = Tally::default();
        for h in handles {
            let (name, t) = h.join().expect("outside thread");
            emit("outside", name, &t);
            total.add(&t);
        }
        total
    });
    verdict("outside", &total);
}

#[test]
fn bad_input_changes_nothing_in_the_account() {
    let inputs = bad_inputs::inputs();
    assert!(inputs.len() >= 40, "{} bad inputs", inputs.len());
    let mut t = Tally::default();
    for input in &inputs {
        t.bad_inputs += 1;
        if let Err(e) = bad_inputs::check(input) {
            t.violations
                .push(format!("{}: [no-change] {e}", input.name));
        }
    }
    emit("bad-inputs", "bad inputs", &t);
    verdict("bad-inputs", &t);
}
