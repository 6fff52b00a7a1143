//! Scenarios (a fleet, a configuration, what happens, the end state expected) and the driver that
//! runs the engine at a cadence on the virtual clock until the rollout ends.

use std::time::Duration;

use amiroll_core::config::Config;
use amiroll_core::model::{Level, TargetStatus};
use amiroll_core::port::{op, ErrorKind};
use amiroll_core::{ApplyReport, Engine, RunError};
use amiroll_sim::{throttling_code, GroupSpec, ImageSpec, SimAws, TemplateData};

use super::common::*;
use super::oracle::{describe_group, Oracle};

/// The cadence of runs when a scenario is not perturbed: what docs/scheduled-surge.md asks for
/// while rollouts may be in flight.
pub const BASE_CADENCE: Duration = Duration::from_secs(120);
/// The most runs one scenario may take before it counts as not converging.
pub const MAX_RUNS: usize = 120;
/// The most virtual time one scenario may take.
pub const MAX_DAYS: i64 = 12;

/// When a cue happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Before the first run.
    Start,
    /// After `d` of virtual time since the start (checked after each run).
    After(Duration),
    /// After the first run that leaves a rollout in flight (a round tag or a refresh under way).
    InFlight,
    /// Once the rollout has ended (the next quiet point).
    Quiet,
}

/// Something that happens during a scenario.
#[derive(Clone)]
pub enum Cue {
    /// The parameter moves to this AMI.
    Publish(&'static str),
    /// `amiroll rollback` for every target (retried if it crashes).
    Rollback,
    /// Someone changes the account (named; may move the oracle's floors).
    Outside(&'static str, fn(&World, &Oracle)),
}

/// The end state a scenario must reach.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// Every group on the AMI, healthy, at its original capacity, the default on it, and
    /// `rollout-succeeded` announced for every target.
    On(&'static str),
    /// No instance on the bad AMI in service, every group at its original capacity, the default
    /// not on it, and a failure announced for every target.
    Failed(&'static str),
    /// The failure announced and the default not on the bad AMI (the fleet may not be able to go
    /// back: a `RollbackFailed` refresh).
    FailureAnnounced(&'static str),
    /// Every group back on the AMI at its original capacity, the default on it, and
    /// `rollback-started` announced.
    RolledBack(&'static str),
    /// Only the invariants (an outside change decides the end state).
    Safe,
}

#[derive(Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub build: fn() -> World,
    pub cues: Vec<(When, Cue)>,
    pub expect: Expect,
}

/// The world with the config-file default strategy (instance-refresh).
pub fn refresh_world() -> World {
    let w = World::new();
    World {
        toml: w.toml.replace("strategy = \"scheduled-surge\"\n", ""),
        ..w
    }
}

fn group(w: &World, name: &str, min: i32, max: i32, desired: i32) {
    w.sim
        .create_group(
            GroupSpec::new(name, &w.lt, min, max, desired)
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
}

fn target_table(name: &str, groups: &[&str], lines: &str) -> String {
    let list = groups
        .iter()
        .map(|g| format!("\"{g}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[target]]\nname = \"{name}\"\nlaunch_template = \"ecs\"\nami_parameter = \"{PARAM}\"\ngroups = [{list}]\n{lines}"
    )
}

fn surge_good() -> World {
    World::new()
}

fn surge_capped() -> World {
    let w = World::new().setting("surge_max_capacity = 3");
    w.sim
        .create_group(
            GroupSpec::new("one-az", &w.lt, 1, 4, 2)
                .with_availability_zones(&["us-east-1a"])
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    w.targeting(&["one-az"])
}

fn refresh_no_rollback() -> World {
    refresh_world().setting("auto_rollback = false")
}

/// Eight versions on OLD besides v1 (made by someone else and by amiroll), `prune = "all"`,
/// `keep_versions = 1`: the rollout must keep the default, the rollback version and what the
/// fleet uses.
fn prune_many() -> World {
    let w = World::new()
        .setting("prune = \"all\"")
        .setting("keep_versions = 1");
    for n in 0..8 {
        let description = if n % 2 == 0 {
            format!("experiment {n}")
        } else {
            format!("amiroll: {OLD} (old) from v{n} via {PARAM}:1")
        };
        w.sim
            .create_launch_template_version_raw(
                &w.lt,
                Some(1),
                TemplateData::new(OLD, "m5.large"),
                Some(&description),
            )
            .expect("version");
    }
    w
}

fn pinned_update() -> World {
    let w = World::new();
    w.sim
        .create_group(
            GroupSpec::new("pinned", &w.lt, 1, 4, 2)
                .with_version("1")
                .with_termination_policies(&["OldestLaunchTemplate"]),
        )
        .expect("group");
    w.targeting(&["pinned"]).setting("pinned = \"update\"")
}

fn multi_group() -> World {
    let w = World::new();
    group(&w, "api", 2, 6, 3);
    w.targeting(&["web", "api"])
}

/// Two targets on one template: `web` by scheduled surge, `api` by instance refresh.
fn shared_template() -> World {
    let w = World::new();
    group(&w, "api", 1, 4, 2);
    let topic = w.topic.clone();
    let toml = format!(
        "{}{}",
        target_table(
            "web",
            &["web"],
            &format!("strategy = \"scheduled-surge\"\nsns_topic = \"{topic}\"\n")
        ),
        target_table(
            "api",
            &["api"],
            &format!("strategy = \"instance-refresh\"\nsns_topic = \"{topic}\"\n")
        ),
    );
    World { toml, ..w }
}

/// A wave: `web` (scheduled surge) goes after `staging` (instance refresh).
fn wave() -> World {
    let w = World::new();
    group(&w, "staging", 1, 2, 1);
    let topic = w.topic.clone();
    let toml = format!(
        "{}{}",
        target_table(
            "staging",
            &["staging"],
            &format!("strategy = \"instance-refresh\"\nsns_topic = \"{topic}\"\n")
        ),
        target_table(
            "web",
            &["web"],
            &format!(
                "strategy = \"scheduled-surge\"\nsns_topic = \"{topic}\"\nafter = \"staging\"\n"
            )
        ),
    );
    World { toml, ..w }
}

/// The seed's ECS set-up: the cluster the user data names exists and runs a service, so the
/// runs read its container instances (and faults and crashes hit those reads too).
fn ecs_cluster() -> World {
    let w = World::new();
    w.sim.create_cluster("prod").expect("cluster");
    w.sim.create_service("prod", "api", 2).expect("service");
    w
}

fn deregister_old(w: &World, _: &Oracle) {
    w.sim.register_image(
        ImageSpec::new(
            OLD,
            "ecs-2026.10.01",
            "x86_64",
            w.sim.now() - chrono::Duration::days(56),
        )
        .with_state("deregistered"),
    );
}

/// The seed's ECS set-up rolled by instance refresh, drained through amiroll's lifecycle hook.
fn ecs_refresh_hook() -> World {
    let w = ecs_cluster();
    World {
        toml: w.toml.replace(
            "strategy = \"scheduled-surge\"\n",
            "strategy = \"instance-refresh\"\necs_drain = \"lifecycle-hook\"\n",
        ),
        ..w
    }
}

/// The scenarios every perturbation runs against.
pub fn scenarios() -> Vec<Scenario> {
    use Cue::*;
    use When::*;
    vec![
        Scenario {
            name: "surge-good",
            build: surge_good,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "surge-bad",
            build: surge_good,
            cues: vec![(Start, Publish(BAD))],
            expect: Expect::Failed(BAD),
        },
        Scenario {
            name: "surge-capped",
            build: surge_capped,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "refresh-good",
            build: refresh_world,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "refresh-bad-auto-rollback",
            build: refresh_world,
            cues: vec![(Start, Publish(BAD))],
            expect: Expect::Failed(BAD),
        },
        Scenario {
            name: "refresh-bad-no-auto-rollback",
            build: refresh_no_rollback,
            cues: vec![(Start, Publish(BAD))],
            expect: Expect::Failed(BAD),
        },
        Scenario {
            name: "refresh-rollback-failed",
            build: refresh_world,
            cues: vec![
                (Start, Publish(BAD)),
                (
                    InFlight,
                    Outside("the old AMI is deregistered", deregister_old),
                ),
            ],
            expect: Expect::FailureAnnounced(BAD),
        },
        Scenario {
            name: "rollback-mid-surge",
            build: surge_good,
            cues: vec![(Start, Publish(NEW)), (InFlight, Rollback)],
            expect: Expect::RolledBack(OLD),
        },
        Scenario {
            name: "rollback-mid-refresh",
            build: refresh_world,
            cues: vec![(Start, Publish(NEW)), (InFlight, Rollback)],
            expect: Expect::RolledBack(OLD),
        },
        Scenario {
            // `auto_rollback = false` leaves the group on `$Default`, so Auto Scaling cannot
            // roll the refresh back: `amiroll rollback` cancels it and refreshes back.
            name: "rollback-irreversible-refresh",
            build: refresh_no_rollback,
            cues: vec![(Start, Publish(NEW)), (InFlight, Rollback)],
            expect: Expect::RolledBack(OLD),
        },
        Scenario {
            name: "prune-many-versions",
            build: prune_many,
            cues: vec![(Start, Publish(NEW)), (Quiet, Publish(NEWER))],
            expect: Expect::On(NEWER),
        },
        Scenario {
            name: "pinned-update",
            build: pinned_update,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "multi-group",
            build: multi_group,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "shared-template",
            build: shared_template,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "wave",
            build: wave,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "ecs-cluster",
            build: ecs_cluster,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
        Scenario {
            name: "ecs-refresh-hook",
            build: ecs_refresh_hook,
            cues: vec![(Start, Publish(NEW))],
            expect: Expect::On(NEW),
        },
    ]
}

// ----- perturbations -----

/// One perturbation of a scenario.
#[derive(Clone, Debug)]
pub enum Perturb {
    None,
    /// The process stops after `k` calls (of the whole scenario); the next tick runs fresh.
    Crash(usize),
    /// The `n`-th call of `op` is throttled through every retry.
    Throttle(&'static str, usize),
    /// The `n`-th call of `op` gets one HTTP 500 (the engine retries).
    ServerError(&'static str, usize),
    /// The `n`-th call of `op` times out through every retry.
    Timeout(&'static str, usize),
    /// The `n`-th call of `op` takes effect, then the caller sees a 500.
    Ambiguous(&'static str, usize),
    /// Scheduled actions fire late: (surge, settle, others) seconds.
    Late(u64, u64),
    /// Runs happen every so often instead of [`BASE_CADENCE`].
    Cadence(Duration),
}

/// More than the engine's attempts (5, `RetryPolicy::default`).
const OUTLAST_RETRIES: usize = 6;

impl Perturb {
    pub fn label(&self) -> String {
        match self {
            Perturb::None => "none".to_string(),
            Perturb::Crash(k) => format!("crash after call {k}"),
            Perturb::Throttle(o, n) => format!("throttled {o} #{n} through every retry"),
            Perturb::ServerError(o, n) => format!("HTTP 500 on {o} #{n}"),
            Perturb::Timeout(o, n) => format!("timeout on {o} #{n} through every retry"),
            Perturb::Ambiguous(o, n) => format!("ambiguous write {o} #{n} (applied, then 500)"),
            Perturb::Late(s, t) => format!("scheduled actions late: surge {s} s, settle {t} s"),
            Perturb::Cadence(d) => format!("a run every {} min", d.as_secs() / 60),
        }
    }

    /// The operation the fault hits, and the code the caller sees.
    pub fn fault(&self) -> Option<(&'static str, String)> {
        match self {
            Perturb::Throttle(o, _) => Some((o, throttling_code(o).to_string())),
            Perturb::ServerError(o, _) => Some((o, "InternalFailure".to_string())),
            Perturb::Timeout(o, _) => Some((o, "RequestTimeout".to_string())),
            Perturb::Ambiguous(o, _) => Some((o, "InternalFailure".to_string())),
            _ => None,
        }
    }

    fn arm(&self, sim: &SimAws) {
        match *self {
            Perturb::None | Perturb::Cadence(_) => {}
            Perturb::Crash(k) => sim.crash_after(k),
            Perturb::Throttle(o, n) => sim.throttle(o, n, OUTLAST_RETRIES),
            Perturb::ServerError(o, n) => {
                sim.fail_nth(o, n, ErrorKind::Transient, "InternalFailure")
            }
            Perturb::Timeout(o, n) => sim.time_out(o, n, OUTLAST_RETRIES),
            Perturb::Ambiguous(o, n) => {
                sim.fail_nth_after_effect(o, n, ErrorKind::Transient, "InternalFailure")
            }
            Perturb::Late(surge, settle) => sim.set_scheduled_action_delay(move |a| {
                Duration::from_secs(if a.name.ends_with("-surge") {
                    surge
                } else if a.name.ends_with("-settle") {
                    settle
                } else {
                    surge.max(settle)
                })
            }),
        }
    }

    fn cadence(&self) -> Duration {
        match self {
            Perturb::Cadence(d) => *d,
            _ => BASE_CADENCE,
        }
    }
}

/// Whether an operation changes something (a write), as opposed to a read.
pub fn is_write(operation: &str) -> bool {
    let action = operation.split(':').nth(1).unwrap_or(operation);
    !(action.starts_with("Describe") || action.starts_with("Get") || action.starts_with("List"))
}

// ----- the driver -----

/// What happened in one scenario run.
pub struct Outcome {
    pub oracle: Oracle,
    pub runs: usize,
    pub crashes: usize,
    pub converged: bool,
    /// Every completed run's report, with the run number.
    pub reports: Vec<(usize, ApplyReport)>,
    /// The run after which each outside change happened.
    pub changes: Vec<(&'static str, usize)>,
    /// Every port call of the scenario, in order.
    pub calls: Vec<&'static str>,
    /// Each group's (min, max, desired) when the scenario started.
    pub original: std::collections::BTreeMap<String, (i32, i32, i32)>,
}

impl Outcome {
    /// Whether a report after run `after` carries an error, a warning, an apply error or a
    /// failed status (a failure announced).
    pub fn told_after(&self, after: usize) -> bool {
        self.reports.iter().any(|(n, r)| {
            *n > after
                && r.targets.iter().any(|t| {
                    !t.plan.errors.is_empty()
                        || t.apply_error.is_some()
                        || t.plan.status == TargetStatus::Failed
                        || t.plan.findings.iter().any(|f| f.level == Level::Warning)
                })
        })
    }
}

pub fn config(w: &World) -> Config {
    Config::from_toml(&w.toml, "adversity.toml").expect("valid scenario config")
}

fn run_once(w: &World, config: &Config, rollback: bool) -> Result<ApplyReport, RunError> {
    let engine = Engine::new(&w.sim);
    if rollback {
        futures::executor::block_on(engine.rollback(config, false))
    } else {
        futures::executor::block_on(engine.run(config, false))
    }
}

/// A rollout is in flight on a watched group: a round tag, or a refresh under way.
pub fn in_flight(w: &World, oracle: &Oracle) -> bool {
    oracle.groups().iter().any(|g| {
        w.sim
            .try_group(g)
            .is_some_and(|x| x.tags.contains_key("amiroll:rollout"))
            || w.sim.instance_refreshes(g).iter().any(|r| !r.is_terminal())
    })
}

/// No rollout in flight: every target settled, nothing of amiroll's pending in the account.
pub fn quiet(w: &World, oracle: &Oracle, last: &Result<ApplyReport, RunError>) -> bool {
    let Ok(r) = last else {
        return false;
    };
    let settled = r.targets.iter().all(|t| {
        matches!(
            t.plan.status,
            TargetStatus::Current | TargetStatus::Failed | TargetStatus::Error
        ) && t.apply_error.is_none()
    });
    settled
        && oracle.groups().iter().all(|g| {
            let Some(group) = w.sim.try_group(g) else {
                return true;
            };
            !group.tags.contains_key("amiroll:rollout")
                && !group.tags.contains_key("amiroll:unannounced")
                && w.sim
                    .scheduled_actions(g)
                    .iter()
                    .all(|a| !a.name.starts_with("amiroll-"))
                && w.sim.instance_refreshes(g).iter().all(|x| x.is_terminal())
        })
}

/// Run a scenario under one perturbation, checking the invariants after every call and run, and
/// its end state at the end.
pub fn drive(sc: &Scenario, perturb: &Perturb) -> Outcome {
    let w = (sc.build)();
    drive_world(sc, &w, perturb)
}

pub fn drive_world(sc: &Scenario, w: &World, perturb: &Perturb) -> Outcome {
    let config = config(w);
    let oracle = Oracle::install(&w.sim, &config);
    let original = oracle
        .groups()
        .into_iter()
        .filter_map(|g| {
            w.sim
                .try_group(&g)
                .map(|x| (g, (x.min_size, x.max_size, x.desired_capacity)))
        })
        .collect();
    let start_calls = w.sim.call_log().len();
    let start = w.sim.now();
    let mut cues: Vec<(When, Cue)> = sc.cues.clone();
    let mut changes = Vec::new();
    let mut pending_rollback = false;
    let do_cue = |cue: &Cue,
                  run: usize,
                  changes: &mut Vec<(&'static str, usize)>,
                  rb: &mut bool| match cue {
        Cue::Publish(ami) => w.publish(ami),
        Cue::Rollback => *rb = true,
        Cue::Outside(name, f) => {
            oracle.pause();
            f(w, &oracle);
            oracle.resume(&w.sim);
            changes.push((*name, run));
        }
    };
    cues.retain(|(when, cue)| {
        if *when == When::Start {
            do_cue(cue, 0, &mut changes, &mut pending_rollback);
            false
        } else {
            true
        }
    });
    perturb.arm(&w.sim);
    let cadence = perturb.cadence();
    let event_driven = config.targets.iter().any(|t| t.drain_hook().is_some());
    let mut held_seen = std::collections::BTreeSet::new();
    let wait = |held_seen: &mut std::collections::BTreeSet<String>| {
        wait_for_next_run(w, &oracle, cadence, event_driven, held_seen)
    };
    let mut runs = 0;
    let mut crashes = 0;
    let mut reports = Vec::new();
    let mut converged = false;
    let mut quiet_streak = 0;
    let mut rollback_tries = 0;
    let mut calls_before = 0;
    while runs < MAX_RUNS && w.sim.now() - start < chrono::Duration::days(MAX_DAYS) {
        let rollback = pending_rollback;
        if runs == 0 {
            calls_before = w.sim.call_log().len();
        }
        let result = run_once(w, &config, rollback);
        runs += 1;
        oracle.end_run(&w.sim, &result);
        match &result {
            Err(RunError::Crashed(_)) => {
                crashes += 1;
                w.sim.clear_faults();
            }
            Err(e) => oracle.record("run-error", format!("run {runs} failed as a whole: {e}")),
            Ok(r) => {
                // A person re-runs a rollback that reported an error (at most three tries).
                let failed = r
                    .targets
                    .iter()
                    .any(|t| !t.plan.errors.is_empty() || t.apply_error.is_some());
                if rollback {
                    rollback_tries += 1;
                    if !failed || rollback_tries >= 3 {
                        pending_rollback = false;
                    }
                }
                reports.push((runs, r.clone()));
            }
        }
        let elapsed = w.sim.now() - start;
        cues.retain(|(when, cue)| {
            let due = match *when {
                When::After(d) => elapsed >= chrono::Duration::from_std(d).unwrap_or_default(),
                When::InFlight => in_flight(w, &oracle),
                _ => false,
            };
            if due {
                do_cue(cue, runs, &mut changes, &mut pending_rollback);
            }
            !due
        });
        if pending_rollback {
            if rollback_tries > 0 {
                wait(&mut held_seen);
            }
            continue;
        }
        // The rollout has ended when two runs in a row find nothing in flight (one is not
        // enough: a run that could not read the account reports an error and changes nothing).
        // After an outside change (`Expect::Safe`), a target may stay in error with its round
        // tags left: the end is then two runs in a row that change nothing.
        let wrote = w.sim.call_log()[calls_before..]
            .iter()
            .any(|c| is_write(c) && *c != op::PUBLISH);
        calls_before = w.sim.call_log().len();
        let still = matches!(sc.expect, Expect::Safe)
            && !wrote
            && result.as_ref().is_ok_and(|r| {
                r.targets.iter().all(|t| {
                    t.apply_error.is_none()
                        && matches!(
                            t.plan.status,
                            TargetStatus::Current | TargetStatus::Failed | TargetStatus::Error
                        )
                })
            });
        quiet_streak = if still || quiet(w, &oracle, &result) {
            quiet_streak + 1
        } else {
            0
        };
        if quiet_streak >= 2 && cues.iter().all(|(when, _)| *when == When::Quiet) {
            quiet_streak = 0;
            if let Some(pos) = cues.iter().position(|(when, _)| *when == When::Quiet) {
                let (_, cue) = cues.remove(pos);
                do_cue(&cue, runs, &mut changes, &mut pending_rollback);
            } else {
                converged = true;
                break;
            }
        }
        wait(&mut held_seen);
    }
    if !converged {
        oracle.record(
            "converges",
            format!(
                "no end after {runs} runs ({} of virtual time); groups: {}",
                w.sim.now() - start,
                oracle
                    .groups()
                    .iter()
                    .filter_map(|g| w
                        .sim
                        .try_group(g)
                        .map(|x| format!("{g} {}", describe_group(&w.sim, &x))))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    oracle.end_scenario(&w.sim);
    let calls = w.sim.call_log()[start_calls..].to_vec();
    let outcome = Outcome {
        oracle,
        runs,
        crashes,
        converged,
        reports,
        changes,
        calls,
        original,
    };
    // With runs too far apart for the health gate, a surge round cannot be confirmed: for a
    // target that recorded the AMI as failed, failing safe (back on the old AMI, the failure
    // announced) is the right end too.
    let failed_safe_ok = matches!(perturb, Perturb::Cadence(_));
    check_end(sc.expect, w, &outcome, failed_safe_ok);
    if std::env::var("AMIROLL_ADVERSITY_TRACE").is_ok_and(|v| {
        v == sc.name || v == perturb.label() || v == format!("{}|{}", sc.name, perturb.label())
    }) {
        trace(w, &outcome, perturb);
    }
    outcome
}

/// Let time pass until the next run: `cadence`, or — for a configuration that drains through a
/// lifecycle hook — until Auto Scaling starts holding an instance, as the deploy template's
/// EventBridge rule invokes the function on each "EC2 Instance-terminate Lifecycle Action".
fn wait_for_next_run(
    w: &World,
    oracle: &Oracle,
    cadence: Duration,
    event_driven: bool,
    held_seen: &mut std::collections::BTreeSet<String>,
) {
    if !event_driven {
        w.sim.advance(cadence);
        return;
    }
    let step = Duration::from_secs(60);
    let mut waited = Duration::ZERO;
    while waited < cadence {
        let s = step.min(cadence - waited);
        w.sim.advance(s);
        waited += s;
        let mut new_held = false;
        for g in oracle.groups() {
            if let Some(group) = w.sim.try_group(&g) {
                for i in group
                    .instances
                    .iter()
                    .filter(|i| i.lifecycle_state == "Terminating:Wait")
                {
                    new_held |= held_seen.insert(i.instance_id.clone());
                }
            }
        }
        if new_held {
            return;
        }
    }
}

/// Print the timeline of a case (`AMIROLL_ADVERSITY_TRACE=<scenario name or perturbation label>`).
pub fn trace(w: &World, outcome: &Outcome, perturb: &Perturb) {
    println!("=== trace: {}", perturb.label());
    for (t, e) in w.sim.events() {
        println!("{} {e}", t.format("%d %H:%M:%S"));
    }
    for (n, r) in &outcome.reports {
        for t in &r.targets {
            println!(
                "run {n} {} {:?}: {} | errors {:?} | apply {:?} | findings {:?}",
                t.plan.target,
                t.plan.status,
                t.plan.summary,
                t.plan.errors,
                t.apply_error,
                t.plan
                    .findings
                    .iter()
                    .map(|f| &f.message)
                    .collect::<Vec<_>>()
            );
            for a in &t.results {
                println!("    [{}] {} — {}", a.result, a.action, a.reason);
            }
        }
    }
    for n in w.sim.all_published() {
        println!("published: {}", n.subject);
    }
    for v in outcome.oracle.violations() {
        println!("VIOLATION {v}");
    }
}

fn default_ami(w: &World, oracle: &Oracle) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for t in oracle.targets() {
        if let Some(h) = w.sim.try_template(&t.template) {
            out.push((
                h.id.clone(),
                w.sim
                    .template_version_data(&h.id, h.default_version)
                    .and_then(|d| d.image_id),
            ));
        }
    }
    out
}

/// The scenario's end state (recorded as violations of "end-state"). With `failed_safe_ok`, a
/// target expected on an AMI may instead end failed safe on it.
pub fn check_end(expect: Expect, w: &World, outcome: &Outcome, failed_safe_ok: bool) {
    let oracle = &outcome.oracle;
    let fail = |detail: String| oracle.record("end-state", detail);
    let announced = |target: &str, events: &[&str], ami: Option<&str>| {
        w.sim.all_published().iter().any(|n| {
            n.attributes.get("target").map(String::as_str) == Some(target)
                && n.attributes
                    .get("event")
                    .is_some_and(|e| events.contains(&e.as_str()))
                && !n.message.contains("APPLY FAILED")
                && ami.is_none_or(|a| n.subject.contains(a))
        })
    };
    let capacity_back = |g: &str| {
        let Some(want) = outcome.original.get(g).copied() else {
            return;
        };
        let got = w.sim.group_capacity(g);
        if got != want {
            fail(format!(
                "group {g} ends at min/max/desired {got:?}, not its original {want:?}"
            ));
        }
    };
    let exists = |g: &String| w.sim.try_group(g).is_some();
    let on = |g: &str, ami: &str, what: &str| {
        let group = w.sim.group(g);
        if let Some(p) = super::oracle::success_problem(&w.sim, &group, ami) {
            fail(format!("group {g} not {what} {ami}: {p}"));
        }
        let by_ami = w.sim.instances_by_ami(g);
        if by_ami.keys().any(|a| a != ami) {
            fail(format!("group {g} ends on {by_ami:?}, not {what} {ami}"));
        }
        capacity_back(g);
    };
    let off = |g: &str, bad: &str| {
        let group = w.sim.group(g);
        let on_bad = group
            .instances
            .iter()
            .filter(|i| {
                i.is_in_service()
                    && w.sim
                        .instance(&i.instance_id)
                        .is_some_and(|x| x.image_id == bad)
            })
            .count();
        if on_bad > 0 {
            fail(format!(
                "group {g} ends with {on_bad} in-service instance(s) on the failed {bad}: {}",
                describe_group(&w.sim, &group)
            ));
        }
        capacity_back(g);
    };
    let default_check = |ami: &str, want_on: bool| {
        for (tid, d) in default_ami(w, oracle) {
            if want_on && d.as_deref() != Some(ami) {
                fail(format!("{tid} default runs {d:?}, not {ami}"));
            }
            if !want_on && d.as_deref() == Some(ami) {
                fail(format!("{tid} default ends on the failed {ami}"));
            }
        }
    };
    let failure_announced = |target: &str, bad: &str| {
        if !announced(target, &["rollout-failed", "rolled-back"], Some(bad)) {
            fail(format!("the failure of {target} on {bad} never announced"));
        }
    };
    match expect {
        Expect::Safe => {}
        Expect::On(ami) => {
            let mut any_failed = false;
            for t in oracle.targets() {
                let failed_safe = failed_safe_ok
                    && t.groups.iter().any(|g| {
                        w.sim.try_group(g).is_some_and(|x| {
                            x.tags.get("amiroll:failed-ami").map(String::as_str) == Some(ami)
                        })
                    });
                any_failed |= failed_safe;
                for g in t.groups.iter().filter(|g| exists(g)) {
                    if failed_safe {
                        off(g, ami);
                    } else {
                        on(g, ami, "done on");
                    }
                }
                if failed_safe {
                    failure_announced(&t.name, ami);
                } else if !announced(&t.name, &["rollout-succeeded"], Some(ami)) {
                    fail(format!(
                        "rollout-succeeded for {} on {ami} never announced",
                        t.name
                    ));
                }
            }
            default_check(ami, !any_failed);
        }
        Expect::Failed(bad) | Expect::FailureAnnounced(bad) => {
            for t in oracle.targets() {
                if matches!(expect, Expect::Failed(_)) {
                    for g in t.groups.iter().filter(|g| exists(g)) {
                        off(g, bad);
                    }
                }
                failure_announced(&t.name, bad);
            }
            default_check(bad, false);
        }
        Expect::RolledBack(ami) => {
            for t in oracle.targets() {
                for g in t.groups.iter().filter(|g| exists(g)) {
                    on(g, ami, "back on");
                }
                // The rollback is announced as started, or (when the rollback's own run broke
                // off before its notification: a crash, an ambiguous write) by its outcome.
                if !announced(&t.name, &["rollback-started", "rolled-back"], None) {
                    fail(format!("rollback-started for {} never announced", t.name));
                }
            }
            default_check(ami, true);
        }
    }
}

/// The fault perturbations at call `k` (1-based) of a scenario whose unperturbed calls are
/// `calls`: throttling, a 500, a timeout, and (for writes) an ambiguous write.
pub fn faults_at(calls: &[&'static str], k: usize) -> Vec<Perturb> {
    let operation = calls[k - 1];
    let n = calls[..k].iter().filter(|c| **c == operation).count();
    let mut out = vec![
        Perturb::Throttle(operation, n),
        Perturb::ServerError(operation, n),
        Perturb::Timeout(operation, n),
    ];
    if is_write(operation) {
        out.push(Perturb::Ambiguous(operation, n));
    }
    out
}
