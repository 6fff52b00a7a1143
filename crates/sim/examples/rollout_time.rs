//! Rollout time in the simulator's virtual time (issue 15, section 5): a group of N instances
//! rolled onto a new AMI by amiroll run on the deploy template's schedule, per configuration —
//! minutes from the AMI's publication (the parameter change) to the last instance on the old AMI
//! gone, the lowest in-service healthy count seen, and the extra instance-minutes paid.
//!
//! ```sh
//! cargo run --release -p amiroll-sim --example rollout_time                # JSON on stdout
//! cargo run --release -p amiroll-sim --example rollout_time -- --sizes 4,40 --template deploy/template.yaml
//! ```
//!
//! `bench/run.sh` (`BENCH_ONLY=rollout`) runs it and renders the "Rollout time (virtual time)"
//! section of `docs/performance.md` from its output (`bench/rollout_md.py`).
//!
//! The model, stated in the output's `settings`:
//!
//! - **The scheduler** fires at the default `ScheduleExpression` and `FollowUpScheduleExpression`
//!   of `deploy/template.yaml` (read from the file; UTC), each tick one `amiroll apply` (the
//!   Lambda's scheduled invocation runs `apply` on every target). Two schedules firing at the same
//!   minute are one run. Instance-refresh events (`RefreshEventsRule`) only announce an outcome,
//!   so they are not modelled: they change no figure here.
//! - **The publication** is the parameter change, at a chosen offset after the daily run (see
//!   `--publication`); runs before it find the fleet current and are skipped.
//! - **The group**: min 1, max 2N, desired N (the seed's example 1/2/1, scaled),
//!   `OldestLaunchTemplate`, two AZs, `$Default`, health-check grace period 300 s (the console's
//!   default for a new group), no `DefaultInstanceWarmup` (so a refresh's warm-up is the grace
//!   period), the simulator's boot time (90 s from launch to `InService`).
//! - **The figures** come from the simulator's own records: [`SimAws::instance_lifetimes`]
//!   (launch, in service, terminated per instance), [`SimAws::min_in_service_healthy_seen`] and
//!   [`SimAws::instance_seconds_above`].
//!
//! Deterministic: the simulator has no randomness and no wall clock.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Instant;

use amiroll_core::config::{Config, Strategy};
use amiroll_core::model::TargetStatus;
use amiroll_core::port::Timestamp;
use amiroll_core::Engine;
use amiroll_sim::{GroupSpec, ImageSpec, InstanceLifetime, SimAws, TemplateData};
use serde_json::{json, Value};

/// The deploy template's default AMI parameter (AWS's public ECS-optimized AL2023 one).
const PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
const OLD: &str = "ami-0000000000000a001";
const NEW: &str = "ami-0000000000000b002";
const GROUP: &str = "fleet";
/// `HealthCheckGracePeriod` of the group: the console's default for a new group (the API's is 0).
const GRACE_SECS: u32 = 300;
/// How long after the publication a rollout may take before it counts as not finished.
const HORIZON_DAYS: i64 = 4;

/// One configuration of the comparison.
struct Variant {
    key: &'static str,
    label: &'static str,
    /// Lines added to the target's table.
    toml: &'static str,
    /// amiroll's own defaults: held to "never below 100 % healthy capacity".
    amiroll_defaults: bool,
    /// What the settings are, for the document.
    settings: &'static str,
}

const VARIANTS: &[Variant] = &[
    Variant {
        key: "a",
        label: "amiroll defaults, instance-refresh",
        toml: "strategy = \"instance-refresh\"\n",
        amiroll_defaults: true,
        settings: "`strategy = \"instance-refresh\"`, everything else amiroll's default: MinHealthyPercentage 100, MaxHealthyPercentage 200, SkipMatching, AutoRollback (the group pinned first), no InstanceWarmup or BakeTime sent (the group's warm-up; AWS's bake time 0)",
    },
    Variant {
        key: "b",
        label: "amiroll defaults, scheduled-surge",
        toml: "strategy = \"scheduled-surge\"\n",
        amiroll_defaults: true,
        settings: "`strategy = \"scheduled-surge\"`, everything else amiroll's default: surge_factor 2, surge_minutes 15, no surge_max_capacity, max_attempts 3 (the deploy template's default configuration: the seed's four variables)",
    },
    Variant {
        key: "c",
        label: "instance-refresh, AWS console defaults",
        toml: "strategy = \"instance-refresh\"\nmin_healthy_percentage = 90\nmax_healthy_percentage = 100\nskip_matching = true\nauto_rollback = false\nscale_in_protected_instances = \"ignore\"\nstandby_instances = \"ignore\"\n",
        amiroll_defaults: false,
        settings: "amiroll starts the refresh with the console's defaults (\"Understand the default values for an instance refresh\"): MinHealthyPercentage 90, MaxHealthyPercentage 100 (no instance maintenance policy), SkipMatching on, AutoRollback off, ScaleInProtectedInstances and StandbyInstances Ignore, no checkpoints, alarms or bake time, no InstanceWarmup (the group's: its grace period)",
    },
    Variant {
        key: "d",
        label: "the seed's surge (amiroll scheduled-surge, seed's settings)",
        toml: "strategy = \"scheduled-surge\"\nsurge_factor = 2\nsurge_minutes = 14\n",
        amiroll_defaults: false,
        settings: "the seed surges to twice its size 1 minute after its run and settles 14 minutes later (\"Desire 2\" at +1 min, \"Desire 1\" at +15 min for its 1/2/1 group); the stand-in is amiroll's `scheduled-surge` with surge_factor 2 and surge_minutes 14 (amiroll's surge lead is a fixed 2 minutes, not the seed's 1), on the same schedule",
    },
];

/// An EventBridge Scheduler cron expression that fires every day: the minutes and hours.
#[derive(Debug, Clone)]
struct Daily {
    expression: String,
    hours: BTreeSet<u32>,
    minutes: BTreeSet<u32>,
}

impl Daily {
    /// `cron(minutes hours day-of-month month day-of-week year)` with `*`/`?` in the last four.
    fn parse(expression: &str) -> Result<Daily, String> {
        let inner = expression
            .trim()
            .strip_prefix("cron(")
            .and_then(|e| e.strip_suffix(')'))
            .ok_or_else(|| format!("`{expression}` is not a cron(...) expression"))?;
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!("`{expression}`: a cron expression has 6 fields"));
        }
        if fields[2..].iter().any(|f| *f != "*" && *f != "?") {
            return Err(format!(
                "`{expression}`: only daily schedules are modelled (day, month, weekday and year `*` or `?`)"
            ));
        }
        Ok(Daily {
            expression: expression.trim().to_string(),
            minutes: cron_field(fields[0], 59).map_err(|e| format!("`{expression}`: {e}"))?,
            hours: cron_field(fields[1], 23).map_err(|e| format!("`{expression}`: {e}"))?,
        })
    }

    /// The times of day it fires, in seconds after midnight, ascending.
    fn seconds_of_day(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for h in &self.hours {
            for m in &self.minutes {
                out.push(i64::from(*h) * 3600 + i64::from(*m) * 60);
            }
        }
        out
    }
}

/// One cron field: `*`, `N`, `A-B`, `*/S`, `N/S`, `A-B/S`, comma-separated.
fn cron_field(field: &str, max: u32) -> Result<BTreeSet<u32>, String> {
    let mut set = BTreeSet::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step in `{part}`"))?,
            ),
            None => (part, 1),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| format!("bad value `{s}` in `{part}`"))
        };
        let (from, to) = match range {
            "*" => (0, max),
            r => match r.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                // `N/S` runs from N to the end of the range.
                None if part.contains('/') => (num(r)?, max),
                None => (num(r)?, num(r)?),
            },
        };
        if from > to {
            return Err(format!("empty range `{part}`"));
        }
        set.extend((from..=to).step_by(step as usize));
    }
    Ok(set)
}

/// The deploy template's schedule: the daily run and the follow-up runs.
struct Schedule {
    main: Daily,
    follow_up: Daily,
    time_zone: String,
    source: String,
}

impl Schedule {
    /// The `Default:` of the parameters `ScheduleExpression`, `FollowUpScheduleExpression` and
    /// `ScheduleTimezone` in a CloudFormation template.
    fn from_template(path: &str) -> Result<Schedule, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let default_of = |name: &str| -> Result<String, String> {
            let header = format!("  {name}:");
            let mut lines = text.lines().skip_while(|l| l.trim_end() != header);
            lines
                .next()
                .ok_or_else(|| format!("{path}: no parameter {name}"))?;
            for line in lines {
                // The parameter's block ends at the next line indented as little as its name.
                if !line.starts_with("   ") && !line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.trim().strip_prefix("Default:") {
                    return Ok(v.trim().trim_matches('"').trim_matches('\'').to_string());
                }
            }
            Err(format!("{path}: parameter {name} has no Default"))
        };
        let time_zone = default_of("ScheduleTimezone")?;
        if time_zone != "UTC" {
            return Err(format!(
                "{path}: ScheduleTimezone defaults to {time_zone}; the model runs in UTC"
            ));
        }
        Ok(Schedule {
            main: Daily::parse(&default_of("ScheduleExpression")?)?,
            follow_up: Daily::parse(&default_of("FollowUpScheduleExpression")?)?,
            time_zone,
            source: path.to_string(),
        })
    }

    /// Every tick in `[from, to]`, ascending, with what fired ("daily", "follow-up" or both).
    fn ticks(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, &'static str)> {
        let main = self.main.seconds_of_day();
        let follow = self.follow_up.seconds_of_day();
        let mut out = Vec::new();
        let mut day = midnight(from);
        while day <= to {
            let mut secs: BTreeSet<i64> = main.iter().copied().collect();
            secs.extend(follow.iter().copied());
            for s in secs {
                let t = day + chrono::Duration::seconds(s);
                if t < from || t > to {
                    continue;
                }
                let kind = match (main.contains(&s), follow.contains(&s)) {
                    (true, true) => "daily+follow-up",
                    (true, false) => "daily",
                    _ => "follow-up",
                };
                out.push((t, kind));
            }
            day += chrono::Duration::days(1);
        }
        out
    }

    /// The follow-up schedule's interval: the shortest gap between two of its ticks in a day.
    fn follow_up_interval_secs(&self) -> i64 {
        let s = self.follow_up.seconds_of_day();
        s.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(86_400)
    }

    /// Gaps between consecutive follow-up ticks longer than the interval (e.g. the hour change).
    fn follow_up_holes(&self) -> Vec<(String, String)> {
        let s = self.follow_up.seconds_of_day();
        let interval = self.follow_up_interval_secs();
        s.windows(2)
            .filter(|w| w[1] - w[0] > interval)
            .map(|w| (clock(w[0]), clock(w[1])))
            .collect()
    }
}

fn clock(secs_of_day: i64) -> String {
    format!("{:02}:{:02}", secs_of_day / 3600, secs_of_day % 3600 / 60)
}

fn midnight(t: Timestamp) -> Timestamp {
    t - chrono::Duration::seconds(i64::from(chrono::Timelike::num_seconds_from_midnight(&t)))
}

fn hms(t: Timestamp) -> String {
    t.format("%H:%M:%S").to_string()
}

fn minutes(secs: i64) -> f64 {
    (secs as f64 / 60.0 * 100.0).round() / 100.0
}

/// The goal of a strategy, from amiroll's defaults.
struct Goal {
    minutes: f64,
    text: String,
}

/// "Within one warm-up + bake + one follow-up interval after publication": warm-up and bake from
/// amiroll's defaults for the strategy (`crates/core/src/config.rs`; the group's warm-up when
/// amiroll sends none), the interval from the deploy template.
fn goal(strategy: Strategy, schedule: &Schedule) -> Result<Goal, String> {
    let toml = format!(
        "[[target]]\nname = \"x\"\nlaunch_template = \"x\"\nami_parameter = \"{PARAM}\"\ngroups = [\"x\"]\nstrategy = \"{}\"\n",
        strategy.as_str()
    );
    let config = Config::from_toml(&toml, "defaults.toml").map_err(|e| e.to_string())?;
    let s = &config
        .targets
        .first()
        .ok_or("no target in the defaults configuration")?
        .settings;
    let interval = schedule.follow_up_interval_secs();
    match strategy {
        Strategy::InstanceRefresh => {
            let (warmup, warmup_from) = match s.instance_warmup_secs {
                Some(w) => (w as i64, "instance_warmup"),
                None => (
                    i64::from(GRACE_SECS),
                    "the group's: no DefaultInstanceWarmup, so its health-check grace period",
                ),
            };
            let bake = s.bake_time_secs.map_or(0, |b| b as i64);
            let bake_from = if s.bake_time_secs.is_some() {
                "bake_time"
            } else {
                "none sent: AWS's default, 0"
            };
            Ok(Goal {
                minutes: minutes(warmup + bake + interval),
                text: format!(
                    "warm-up {} min ({warmup_from}) + bake {} min ({bake_from}) + follow-up interval {} min",
                    minutes(warmup),
                    minutes(bake),
                    minutes(interval)
                ),
            })
        }
        _ => {
            let surge = i64::from(s.surge_minutes) * 60;
            Ok(Goal {
                minutes: minutes(surge + interval),
                text: format!(
                    "surge_minutes {} min (the surge's warm-up and bake: the new instances run next to the old ones until the settle; no instance_warmup or bake_time applies) + follow-up interval {} min",
                    minutes(surge),
                    minutes(interval)
                ),
            })
        }
    }
}

/// One amiroll run on a tick.
struct Run {
    at: Timestamp,
    kind: &'static str,
    status: TargetStatus,
    actions: usize,
    summary: String,
}

/// The figures of one rollout.
struct Figures {
    publication: Timestamp,
    runs: Vec<Run>,
    lives: Vec<InstanceLifetime>,
    last_old_gone: Option<Timestamp>,
    lowest_healthy: usize,
    extra_instance_secs: i64,
    end: Timestamp,
    final_status: TargetStatus,
    final_summary: String,
    /// The target's `surge_minutes` (scheduled surge: the settle comes this long after the surge).
    surge_minutes: i64,
}

/// Roll a group of `n` with `variant`, the AMI published `offset_secs` after the sim's start
/// (13:00:00, the daily run).
fn simulate(
    n: i32,
    variant: &Variant,
    schedule: &Schedule,
    offset_secs: i64,
) -> Result<Figures, String> {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    let start = sim.now();
    let publication = start + chrono::Duration::seconds(offset_secs);
    sim.register_image(ImageSpec::new(
        OLD,
        "al2023-ami-ecs-hvm-old",
        "x86_64",
        start - chrono::Duration::days(30),
    ));
    sim.register_image(ImageSpec::new(
        NEW,
        "al2023-ami-ecs-hvm-new",
        "x86_64",
        publication,
    ));
    sim.put_parameter(PARAM, OLD);
    let lt = sim
        .create_launch_template("fleet", TemplateData::new(OLD, "m5.large"))
        .map_err(|e| e.to_string())?;
    sim.create_group(
        GroupSpec::new(GROUP, &lt, 1, 2 * n, n)
            .with_termination_policies(&["OldestLaunchTemplate"])
            .with_health_check_grace_period(GRACE_SECS),
    )
    .map_err(|e| e.to_string())?;
    let topic = sim.create_topic("amiroll");
    let toml = format!(
        "[[target]]\nname = \"{GROUP}\"\nlaunch_template = \"{lt}\"\nami_parameter = \"{PARAM}\"\ngroups = [\"{GROUP}\"]\nsns_topic = \"{topic}\"\n{}",
        variant.toml
    );
    let config = Config::from_toml(&toml, "rollout.toml").map_err(|e| e.to_string())?;
    let surge_minutes = config
        .targets
        .first()
        .map_or(0, |t| i64::from(t.settings.surge_minutes));

    sim.advance_to(publication);
    sim.put_parameter(PARAM, NEW);
    sim.reset_stats(GROUP);

    let horizon = publication + chrono::Duration::days(HORIZON_DAYS);
    let mut runs = Vec::new();
    let engine = Engine::new(&sim);
    for (at, kind) in schedule.ticks(publication + chrono::Duration::seconds(1), horizon) {
        sim.advance_to(at);
        let report = futures::executor::block_on(engine.run(&config, false))
            .map_err(|e| format!("the run at {at} failed as a whole: {e}"))?;
        let outcome = report.targets.first().ok_or("the report has no target")?;
        let plan = &outcome.plan;
        if let Some(e) = &outcome.apply_error {
            return Err(format!("the run at {at} failed: {e}"));
        }
        runs.push(Run {
            at,
            kind,
            status: plan.status,
            actions: plan.actions.len(),
            summary: plan.summary.clone(),
        });
        let by_ami = sim.instances_by_ami(GROUP);
        let done = plan.status == TargetStatus::Current
            && by_ami.keys().all(|k| k == NEW)
            && by_ami.get(NEW).copied() == usize::try_from(n).ok();
        if done || matches!(plan.status, TargetStatus::Failed | TargetStatus::Error) {
            break;
        }
    }
    let end = runs.last().map_or(publication, |r| r.at);
    let lives = sim.instance_lifetimes(GROUP);
    let old: Vec<&InstanceLifetime> = lives.iter().filter(|l| l.image_id == OLD).collect();
    let last_old_gone = if old.iter().all(|l| l.terminated_at.is_some()) {
        old.iter().filter_map(|l| l.terminated_at).max()
    } else {
        None
    };
    let (final_status, final_summary) = runs
        .last()
        .map_or((TargetStatus::Drift, String::new()), |r| {
            (r.status, r.summary.clone())
        });
    Ok(Figures {
        publication,
        lowest_healthy: sim.min_in_service_healthy_seen(GROUP),
        extra_instance_secs: sim.instance_seconds_above(
            GROUP,
            usize::try_from(n).unwrap_or(0),
            publication,
            end,
        ),
        runs,
        lives,
        last_old_gone,
        end,
        final_status,
        final_summary,
        surge_minutes,
    })
}

/// Where the time went, read from the runs and the instances' lives.
struct Phases {
    /// The first run after the publication that changed something, and what fired it.
    pickup: Option<(Timestamp, &'static str)>,
    /// New instances per launch time, ascending.
    waves: Vec<(Timestamp, usize)>,
    /// Launch → `InService` of the new instances (the longest).
    boot_secs: Option<i64>,
    first_in_service: Option<Timestamp>,
    last_in_service: Option<Timestamp>,
    /// The first old instance terminated before the first new one launched (terminate, then
    /// launch).
    terminate_first: bool,
    /// The first run that reported the target current.
    reported_current: Option<Timestamp>,
}

impl Phases {
    fn of(f: &Figures) -> Phases {
        let new: Vec<&InstanceLifetime> = f.lives.iter().filter(|l| l.image_id == NEW).collect();
        let mut waves: Vec<(Timestamp, usize)> = Vec::new();
        for l in &new {
            match waves.last_mut() {
                Some((t, count)) if *t == l.launch_time => *count += 1,
                _ => waves.push((l.launch_time, 1)),
            }
        }
        let first_launch = waves.first().map(|w| w.0);
        let first_old_gone = f
            .lives
            .iter()
            .filter(|l| l.image_id == OLD)
            .filter_map(|l| l.terminated_at)
            .min();
        Phases {
            pickup: f
                .runs
                .iter()
                .find(|r| r.actions > 0)
                .map(|r| (r.at, r.kind)),
            boot_secs: new
                .iter()
                .filter_map(|l| l.in_service_at.map(|s| (s - l.launch_time).num_seconds()))
                .max(),
            first_in_service: new.iter().filter_map(|l| l.in_service_at).min(),
            last_in_service: new.iter().filter_map(|l| l.in_service_at).max(),
            terminate_first: matches!((first_old_gone, first_launch), (Some(g), Some(l)) if g <= l),
            reported_current: f
                .runs
                .iter()
                .find(|r| r.status == TargetStatus::Current)
                .map(|r| r.at),
            waves,
        }
    }

    fn json(&self, f: &Figures) -> Value {
        let since = |t: Timestamp| minutes((t - f.publication).num_seconds());
        json!({
            "pickup_run": self.pickup.map(|(at, kind)| json!({"at": at.to_rfc3339(), "kind": kind, "after_min": since(at)})),
            "new_instances_launched": self.waves.iter().map(|w| w.1).sum::<usize>(),
            "new_instance_waves": self.waves.iter().map(|(t, n)| json!({"at_min": since(*t), "instances": n})).collect::<Vec<_>>(),
            "terminate_first": self.terminate_first,
            "boot_min": self.boot_secs.map(minutes),
            "first_new_in_service_at_min": self.first_in_service.map(since),
            "last_new_in_service_at_min": self.last_in_service.map(since),
            "last_old_gone_at_min": f.last_old_gone.map(since),
            "runs": f.runs.len(),
            "runs_with_actions": f.runs.iter().filter(|r| r.actions > 0).count(),
            "amiroll_reported_current_at_min": self.reported_current.map(since),
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Where the time goes, and — over the goal — what takes the time the goal does not count.
fn explain(
    strategy: Strategy,
    f: &Figures,
    ph: &Phases,
    goal: &Goal,
    schedule: &Schedule,
) -> String {
    let p = f.publication;
    let since = |t: Timestamp| minutes((t - p).num_seconds());
    let Some(gone) = f.last_old_gone else {
        return format!(
            "not finished within {HORIZON_DAYS} days: amiroll's last run ({}) said \"{}\"",
            f.runs
                .last()
                .map_or("none".to_string(), |r| r.at.to_rfc3339()),
            f.final_summary
        );
    };
    let Some((pickup, kind)) = ph.pickup else {
        return "no run changed anything".to_string();
    };
    let total = since(gone);
    let wait = since(pickup);
    let after = round2(total - wait);
    let interval = minutes(schedule.follow_up_interval_secs());
    let boot = ph.boot_secs.map_or(0.0, minutes);
    let k = ph.waves.len();
    let day = if midnight(pickup) > midnight(p) {
        " the next day"
    } else {
        ""
    };
    let mut text = format!(
        "published {}, the first run to act is the {kind} run at {}{day} ({wait} min later)",
        hms(p),
        hms(pickup)
    );
    let warm = minutes(i64::from(GRACE_SECS));
    // A surge round's gate, when its first run came after it opened: (opens, the run, the
    // follow-up schedule's hole around it).
    let late_gate = match (strategy, ph.waves.first()) {
        (Strategy::ScheduledSurge, Some((surged, _))) => {
            let settle = *surged + chrono::Duration::minutes(f.surge_minutes);
            let opens = settle - chrono::Duration::minutes(3);
            f.runs
                .iter()
                .find(|r| r.at >= opens && r.at < settle)
                .filter(|r| r.at > opens)
                .map(|r| {
                    let of_day = |t: Timestamp| (t - midnight(t)).num_seconds();
                    let hole = schedule.follow_up_holes().into_iter().find(|(a, b)| {
                        let (o, ran) = (clock(of_day(opens)), clock(of_day(r.at)));
                        *a < o && o < *b && *b <= ran
                    });
                    (opens, r.at, hole)
                })
        }
        _ => None,
    };
    match strategy {
        Strategy::InstanceRefresh => {
            let sizes: Vec<String> = ph.waves.iter().map(|w| w.1.to_string()).collect();
            if ph.terminate_first {
                text.push_str(&format!(
                    "; the refresh terminates before it launches (MaxHealthyPercentage 100) and keeps MinHealthyPercentage of the group healthy, so it replaces {} at a time in {k} waves ({}): each wave's old instances go once the previous wave's replacements have booted ({boot} min) and warmed up ({warm} min); the last old instances go when the last wave starts, {after} min after the run = {} × ({boot} + {warm}) min",
                    ph.waves.first().map_or(0, |w| w.1),
                    sizes.join(", "),
                    k.saturating_sub(1)
                ));
            } else {
                text.push_str(&format!(
                    "; the refresh launches before it terminates (MaxHealthyPercentage 200): {k} wave(s) ({}), boot {boot} min (launch → InService) + warm-up {warm} min, then the old instances go: {after} min after the run",
                    sizes.join(", ")
                ));
            }
        }
        _ => {
            let lead = ph.waves.first().map_or(0.0, |w| round2(since(w.0) - wait));
            let in_service = ph.last_in_service.map_or(0.0, since);
            let gate_wait = round2(total - in_service);
            if k > 1 {
                // Each round: surged at s, gate [s + surge_minutes − 3, s + surge_minutes).
                let rounds: Vec<String> = ph
                    .waves
                    .iter()
                    .enumerate()
                    .map(|(i, (s, _))| {
                        let settle = *s + chrono::Duration::minutes(f.surge_minutes);
                        let opens = settle - chrono::Duration::minutes(3);
                        let in_gate: Vec<String> = f
                            .runs
                            .iter()
                            .filter(|r| r.at >= opens && r.at < settle)
                            .map(|r| hms(r.at))
                            .collect();
                        let before: Vec<&Run> = f.runs.iter().filter(|r| r.at < opens).collect();
                        let after: Option<&Run> = f.runs.iter().find(|r| r.at >= settle);
                        let day = if midnight(*s) > midnight(p) { " (next day)" } else { "" };
                        if in_gate.is_empty() {
                            format!(
                                "round {} surged at {}{day}, its health gate {}–{} had no run (the runs before and after it: {} and {}{}), so the settle removed its new instances",
                                i + 1,
                                hms(*s),
                                hms(opens),
                                hms(settle),
                                before.last().map_or("none".to_string(), |r| hms(r.at)),
                                after.map_or("none".to_string(), |r| hms(r.at)),
                                if after.is_some_and(|r| midnight(r.at) > midnight(*s)) { " the next day" } else { "" }
                            )
                        } else {
                            format!(
                                "round {} surged at {}{day} and the run at {} passed its gate",
                                i + 1,
                                hms(*s),
                                in_gate[0]
                            )
                        }
                    })
                    .collect();
                text.push_str(&format!("; {k} surge rounds: {}", rounds.join("; ")));
            } else {
                text.push_str(&format!(
                    "; the surge fires {lead} min after that run (amiroll's fixed lead), the new instances are in service {boot} min later, then wait {gate_wait} min for the health gate (it opens 3 min before the settle); the run in the gate settles the group and the old instances go: {after} min after the run{}",
                    late_gate.as_ref().map_or(String::new(), |(opens, ran, _)| format!(
                        " (the gate opened at {}, the first run in it came at {})",
                        hms(*opens),
                        hms(*ran)
                    ))
                ));
            }
        }
    }
    if total <= goal.minutes {
        return text;
    }
    let over = round2(total - goal.minutes);
    let allowance = round2(goal.minutes - interval);
    let mut why = Vec::new();
    if wait > interval {
        why.push(format!(
            "waiting for a run took {wait} min, {} min more than one follow-up interval{}",
            round2(wait - interval),
            if day.is_empty() {
                String::new()
            } else {
                format!(
                    " (the follow-up schedule runs only {}–{} after the daily run; a publication outside it waits for the next daily run)",
                    schedule.follow_up.seconds_of_day().first().map_or(String::new(), |s| clock(*s)),
                    schedule.follow_up.seconds_of_day().last().map_or(String::new(), |s| clock(*s)),
                )
            }
        ));
    }
    if after > allowance {
        let part = match strategy {
            Strategy::InstanceRefresh if ph.terminate_first => format!(
                "the refresh took {after} min after the run against the goal's {allowance} min (warm-up + bake): {} waves after the first, each {boot} min boot + {warm} min warm-up",
                k.saturating_sub(1)
            ),
            Strategy::InstanceRefresh => format!(
                "the refresh took {after} min after the run against the goal's {allowance} min (warm-up + bake): the {boot} min boot (launch → InService) comes before the warm-up, which starts at InService, and the goal has no room for it{}",
                if k > 1 {
                    format!("; and {k} waves instead of one")
                } else {
                    String::new()
                }
            ),
            _ => format!(
                "the surge took {after} min after the run against the goal's {allowance} min (surge_minutes){}",
                match (&late_gate, k) {
                    (_, k) if k > 1 => format!(": {k} rounds"),
                    (Some((opens, ran, hole)), _) => format!(
                        ": the first run in the health gate came {} min after it opened{}",
                        minutes((*ran - *opens).num_seconds()),
                        hole.as_ref().map_or(String::new(), |(a, b)| format!(
                            " (the follow-up schedule has no run between {a} and {b})"
                        ))
                    ),
                    _ => String::new(),
                }
            ),
        };
        why.push(part);
    }
    format!(
        "{text}. MISS by {over} min against {} min ({}): {}",
        goal.minutes,
        goal.text,
        why.join("; ")
    )
}

/// `--name value` from the arguments.
fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// One configuration at one size, the AMI published `offset` s after the sim's start.
fn row(
    n: i32,
    v: &Variant,
    strategy: Strategy,
    g: &Goal,
    schedule: &Schedule,
    offset: i64,
) -> Result<(Value, Figures), String> {
    let t0 = Instant::now();
    let f = simulate(n, v, schedule, offset)?;
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let ph = Phases::of(&f);
    let mins = f
        .last_old_gone
        .map(|t| minutes((t - f.publication).num_seconds()));
    let healthy_pct = f.lowest_healthy as f64 * 100.0 / f64::from(n);
    let value = json!({
        "size": n,
        "config": v.key,
        "label": v.label,
        "strategy": strategy.as_str(),
        "surge_minutes": (strategy == Strategy::ScheduledSurge).then_some(f.surge_minutes),
        "publication": f.publication.to_rfc3339(),
        "minutes": mins,
        "lowest_healthy": f.lowest_healthy,
        "lowest_healthy_pct": (healthy_pct * 10.0).round() / 10.0,
        "extra_instance_minutes": minutes(f.extra_instance_secs),
        "goal_minutes": g.minutes,
        "goal": g.text,
        "time_pass": mins.is_some_and(|m| m <= g.minutes),
        "healthy_goal": v.amiroll_defaults,
        "healthy_pass": v.amiroll_defaults.then_some(healthy_pct >= 100.0),
        "final_status": f.final_status.as_str(),
        "final_summary": f.final_summary,
        "measured_until": f.end.to_rfc3339(),
        "phases": ph.json(&f),
        "where_the_time_goes": explain(strategy, &f, &ph, g, schedule),
        "wall_ms": (wall_ms * 10.0).round() / 10.0,
        "runs": f.runs.iter().filter(|r| r.actions > 0 || r.status != TargetStatus::Rolling).map(|r| json!({
            "at": r.at.to_rfc3339(), "kind": r.kind, "status": r.status.as_str(),
            "actions": r.actions, "summary": r.summary,
        })).collect::<Vec<_>>(),
    });
    Ok((value, f))
}

/// The publication at every time of the day: one rollout per gap between two runs, published
/// 1 s after the earlier run (the longest wait for the later one; every publication in the gap
/// is picked up by the same run, so only the wait differs). Summed exactly over the day: the
/// best and worst case, the mean for a publication time uniform over the day, and the share of
/// the day whose publications meet the time goal.
fn sweep(
    n: i32,
    v: &Variant,
    strategy: Strategy,
    g: &Goal,
    schedule: &Schedule,
    start: Timestamp,
) -> Result<Value, String> {
    let day = chrono::Duration::days(1);
    let ticks: Vec<Timestamp> = schedule
        .ticks(start, start + day - chrono::Duration::seconds(1))
        .into_iter()
        .map(|t| t.0)
        .collect();
    let mut gaps = Vec::new();
    let (mut weighted, mut meeting, mut finished_all) = (0.0_f64, 0.0_f64, true);
    let mut worst: Option<(f64, Value)> = None;
    let mut best: Option<f64> = None;
    let (mut worst_extra, mut lowest_pct) = (0.0_f64, f64::MAX);
    for (i, t) in ticks.iter().enumerate() {
        let next = ticks.get(i + 1).copied().unwrap_or(ticks[0] + day);
        let gap = (next - *t).num_seconds();
        let offset = (*t - start).num_seconds() + 1;
        let (value, f) = row(n, v, strategy, g, schedule, offset)?;
        worst_extra = worst_extra.max(minutes(f.extra_instance_secs));
        lowest_pct = lowest_pct.min(f.lowest_healthy as f64 * 100.0 / f64::from(n));
        let Some(total) = value.get("minutes").and_then(Value::as_f64) else {
            finished_all = false;
            gaps.push(
                json!({"after_run": hms(*t), "gap_min": minutes(gap), "minutes_worst": null}),
            );
            continue;
        };
        // The rollout after its pickup, whatever the wait.
        let after = total - minutes(gap - 1);
        let gap_min = minutes(gap);
        weighted += gap_min * (after + gap_min / 2.0);
        meeting += (g.minutes - after).clamp(0.0, gap_min);
        best = Some(best.map_or(after, |b: f64| b.min(after)));
        if worst.as_ref().is_none_or(|(w, _)| total > *w) {
            worst = Some((total, value.clone()));
        }
        gaps.push(json!({"after_run": hms(*t), "gap_min": gap_min, "minutes_worst": total, "minutes_after_pickup": round2(after)}));
    }
    Ok(json!({
        "size": n,
        "config": v.key,
        "finished_all": finished_all,
        "best_minutes": best.map(round2),
        "mean_minutes": finished_all.then(|| round2(weighted / 1440.0)),
        "worst_minutes": worst.as_ref().map(|w| w.0),
        "worst_publication": worst.as_ref().and_then(|w| w.1.get("publication").cloned()),
        "worst_where_the_time_goes": worst.as_ref().and_then(|w| w.1.get("where_the_time_goes").cloned()),
        "worst_extra_instance_minutes": worst_extra,
        "lowest_healthy_pct": (lowest_pct * 10.0).round() / 10.0,
        "share_meeting_time_goal": round2(meeting / 1440.0 * 100.0),
        "gaps": gaps,
    }))
}

fn run() -> Result<Value, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<i32> = arg(&args, "--sizes")
        .unwrap_or_else(|| "4,40,400".to_string())
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=5000).contains(n))
                .ok_or_else(|| format!("--sizes: `{s}` is not a group size from 1 to 5000"))
        })
        .collect::<Result<_, _>>()?;
    let template = arg(&args, "--template").unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/template.yaml").to_string()
    });
    let do_sweep = !args.iter().any(|a| a == "--no-sweep");
    let schedule = Schedule::from_template(&template)?;
    let start = SimAws::new().now();
    // The publication: 1 s after the (first) daily run, so the next run is the first follow-up
    // tick a whole interval later — the longest wait for a run while the follow-up schedule runs.
    let daily = schedule
        .main
        .seconds_of_day()
        .first()
        .copied()
        .ok_or("the daily schedule never fires")?;
    let start_of_day = i64::from(chrono::Timelike::num_seconds_from_midnight(&start));
    let offset: i64 = match arg(&args, "--publication-offset") {
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|o| (1..86_400).contains(o))
            .ok_or_else(|| format!("--publication-offset: `{s}` is not 1..86399 seconds"))?,
        None => (daily - start_of_day).rem_euclid(86_400) + 1,
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut sweeps = Vec::new();
    for &n in &sizes {
        for v in VARIANTS {
            let strategy = if v.toml.contains("instance-refresh") {
                Strategy::InstanceRefresh
            } else {
                Strategy::ScheduledSurge
            };
            let g = goal(strategy, &schedule)?;
            let (value, f) = row(n, v, strategy, &g, &schedule, offset)?;
            eprintln!(
                "[rollout] N={n} {}: {} min, lowest healthy {} of {n}, extra {} instance-min ({} ms)",
                v.key,
                value
                    .get("minutes")
                    .and_then(Value::as_f64)
                    .map_or("not finished".to_string(), |m| m.to_string()),
                f.lowest_healthy,
                minutes(f.extra_instance_secs),
                value.get("wall_ms").and_then(Value::as_f64).unwrap_or(0.0)
            );
            rows.push(value);
            if do_sweep {
                let t0 = Instant::now();
                let s = sweep(n, v, strategy, &g, &schedule, start)?;
                eprintln!(
                    "[rollout] N={n} {}: publication over the day: worst {} min, mean {} min ({:.0} ms)",
                    v.key,
                    s.get("worst_minutes").and_then(Value::as_f64).unwrap_or(f64::NAN),
                    s.get("mean_minutes").and_then(Value::as_f64).unwrap_or(f64::NAN),
                    t0.elapsed().as_secs_f64() * 1000.0
                );
                sweeps.push(s);
            }
        }
    }
    let follow = schedule.follow_up.seconds_of_day();
    Ok(json!({
        "settings": {
            "template": schedule.source,
            "schedule": schedule.main.expression,
            "follow_up_schedule": schedule.follow_up.expression,
            "time_zone": schedule.time_zone,
            "follow_up_interval_min": minutes(schedule.follow_up_interval_secs()),
            "follow_up_holes": schedule.follow_up_holes(),
            "follow_up_first": follow.first().map(|s| clock(*s)),
            "follow_up_last": follow.last().map(|s| clock(*s)),
            "follow_up_runs_per_day": follow.len(),
            "daily_runs": schedule.main.seconds_of_day().iter().map(|s| clock(*s)).collect::<Vec<_>>(),
            "sim_start": start.to_rfc3339(),
            "publication_offset_s": offset,
            "publication": (start + chrono::Duration::seconds(offset)).to_rfc3339(),
            "boot_s": amiroll_sim::DEFAULT_BOOT_TIME.as_secs(),
            "health_check_grace_period_s": GRACE_SECS,
            "default_instance_warmup": null,
            "group": "min 1, max 2N, desired N; OldestLaunchTemplate; two AZs; $Default; m5.large; no ECS cluster",
            "parameter": PARAM,
            "horizon_days": HORIZON_DAYS,
            "sizes": sizes,
            "variants": VARIANTS.iter().map(|v| json!({
                "key": v.key, "label": v.label, "toml": v.toml, "settings": v.settings,
                "amiroll_defaults": v.amiroll_defaults,
            })).collect::<Vec<_>>(),
        },
        "rows": rows,
        "sweep": sweeps,
        "wall_s": round2(started.elapsed().as_secs_f64()),
    }))
}

fn main() -> ExitCode {
    match run().and_then(|v| serde_json::to_string_pretty(&v).map_err(|e| e.to_string())) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rollout_time: {e}");
            ExitCode::FAILURE
        }
    }
}
