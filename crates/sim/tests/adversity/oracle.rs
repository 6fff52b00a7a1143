//! The invariants, read from the simulated account's state after every port call and after every
//! run. The oracle never calls the planner: it knows only what AWS shows and what the
//! configuration says.
//!
//! Transient allowances (each is a place where an invariant is knowingly looser):
//!
//! - **Healthy floor.** The floor of a group is its desired capacity when the scenario starts
//!   (`scheduled-surge`: the old instances stay until the new ones pass the gate) or
//!   ⌈desired × `min_healthy_percentage` / 100⌉ (`instance-refresh`). It is measured with the
//!   simulator's lowest count of `InService` + `Healthy` instances, which is updated at every change
//!   of an instance, so a dip between two calls is caught. The one allowance: a scenario that
//!   changes the group on purpose (a person scaling in, deleting the group) sets a new floor with
//!   [`Oracle::set_floor`] and restarts the measure.
//! - **Announcements.** An outcome (`rollout-succeeded`, `rollout-failed`, `rolled-back`,
//!   `cancelled` for one target and AMI) may be announced one extra time for each run in which a
//!   call failed (a crash, an injected fault, a refusal) after that outcome was published — the
//!   documented "announce again rather than never" — and for each publish that was applied but
//!   answered with an error (an ambiguous write of `Publish`: SNS has no idempotency for standard
//!   topics, so a retry sends it again). Messages about a failed *apply* (`APPLY FAILED`) are not
//!   outcomes.
//! - **Overlapping runs.** Auto Scaling tags have no compare-and-swap, so engines that run at the
//!   same time and each observe an outcome before any of them records it may each announce it:
//!   the race tests allow one extra announcement per engine beyond the first that applies in the
//!   same tick ([`Oracle::allow_overlap`]). Everything else (rounds, refreshes, versions, the
//!   floor, tracked actions) is held to the same invariants under races. The deployed Lambda
//!   keeps its invocations apart with a reserved concurrency of 1 (`deploy/template.yaml`).
//! - **Repeated rounds.** A surge action of one round may fire twice, and a second
//!   `StartInstanceRefresh` for one group and AMI may happen, only when a run planned it with a
//!   reason that says so ("again" or "retry" in the reason).
//! - **Per-run invariants** (the default not on a failed AMI, no untracked `amiroll-` action) are
//!   checked when a run ends — also a run that crashed or failed half way, since a crash can end
//!   any run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use amiroll_core::config::{Config, Strategy};
use amiroll_core::port::{op, AutoScalingGroup, AwsError, TemplateSpec};
use amiroll_core::{ApplyReport, RunError};
use amiroll_sim::SimAws;

/// Outcome events (one per target and AMI, see the module docs).
pub const OUTCOMES: &[&str] = &[
    "rollout-succeeded",
    "rollout-failed",
    "rolled-back",
    "cancelled",
];

#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: &'static str,
    /// Port calls made since the scenario started when it was seen (0 = before the first call).
    pub call: usize,
    /// Runs finished when it was seen.
    pub run: usize,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] after call {} (run {}): {}",
            self.invariant, self.call, self.run, self.detail
        )
    }
}

/// What the oracle watches: the targets of the configuration.
#[derive(Debug, Clone)]
pub struct WatchedTarget {
    pub name: String,
    pub template: String,
    pub groups: Vec<String>,
    pub strategy: Strategy,
    pub min_healthy_percentage: i32,
}

#[derive(Default)]
struct State {
    calls: usize,
    runs: usize,
    checks: usize,
    violations: Vec<Violation>,
    reported: BTreeSet<String>,
    floors: BTreeMap<String, usize>,
    protected: BTreeSet<(String, u64)>,
    /// (template, source version, AMI) → amiroll versions ever seen with it.
    amiroll_versions: BTreeMap<(String, u64, String), BTreeSet<u64>>,
    /// (template, version) → AMI, for every version ever seen.
    version_ami: BTreeMap<(String, u64), String>,
    published_seen: usize,
    /// Every outcome message: (target, event, AMI) → count.
    outcomes: BTreeMap<(String, String, String), usize>,
    /// Every message event per target (any event).
    events: BTreeMap<String, BTreeSet<String>>,
    allowance: BTreeMap<(String, String, String), usize>,
    /// Extra announcements allowed to overlapping engines.
    overlap: usize,
    run_outcomes: Vec<(String, String, String)>,
    failure_after_publish: bool,
    succeeded_tags: BTreeMap<String, Option<String>>,
    events_seen: usize,
    surge_fired: BTreeMap<String, usize>,
    planned_again: BTreeSet<String>,
    refresh_starts_allowed: BTreeMap<(String, String), usize>,
    /// Calls that failed, with the code the caller saw: (call index, op, code).
    errors: Vec<(usize, &'static str, String)>,
    /// Outside changes are under way: the version invariant restarts from the new state.
    paused: bool,
}

/// The invariants of one scenario run. Clones share the same state.
#[derive(Clone)]
pub struct Oracle {
    state: Arc<Mutex<State>>,
    targets: Arc<Vec<WatchedTarget>>,
}

fn amiroll_round(action_name: &str) -> Option<&str> {
    let rest = action_name.strip_prefix("amiroll-")?;
    rest.rsplit_once('-').map(|(round, _)| round)
}

fn ami_in(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("ami-"))
        .unwrap_or("")
        .to_string()
}

impl Oracle {
    /// An oracle for `config` on `sim`, registered to run after every call. The floors are the
    /// groups' capacities now.
    pub fn install(sim: &SimAws, config: &Config) -> Oracle {
        let targets: Vec<WatchedTarget> = config
            .targets
            .iter()
            .map(|t| WatchedTarget {
                name: t.name.clone(),
                template: sim
                    .try_template(&t.launch_template)
                    .map(|lt| lt.id)
                    .unwrap_or_else(|| t.launch_template.clone()),
                groups: t.groups.clone(),
                strategy: t.settings.strategy,
                min_healthy_percentage: t.settings.min_healthy_percentage,
            })
            .collect();
        let oracle = Oracle {
            state: Arc::default(),
            targets: Arc::new(targets),
        };
        for t in oracle.targets.iter() {
            for g in &t.groups {
                if let Some(group) = sim.try_group(g) {
                    let desired = group.desired_capacity.max(0) as usize;
                    let floor = match t.strategy {
                        Strategy::InstanceRefresh => {
                            (desired * t.min_healthy_percentage.max(0) as usize).div_ceil(100)
                        }
                        _ => desired,
                    };
                    sim.reset_stats(g);
                    let mut st = oracle.lock();
                    let f = st.floors.entry(g.clone()).or_insert(floor);
                    *f = (*f).max(floor);
                }
            }
        }
        {
            let mut st = oracle.lock();
            st.published_seen = sim.all_published().len();
            st.events_seen = sim.events().len();
        }
        oracle.check_versions(sim);
        let o = oracle.clone();
        sim.on_every_call(move |sim, operation, error| o.after_call(sim, operation, error));
        oracle
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn targets(&self) -> &[WatchedTarget] {
        &self.targets
    }

    pub fn groups(&self) -> Vec<String> {
        let mut gs: Vec<String> = self.targets.iter().flat_map(|t| t.groups.clone()).collect();
        gs.sort();
        gs.dedup();
        gs
    }

    pub fn checks(&self) -> usize {
        self.lock().checks
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    /// Calls that failed, as (call index, operation, code).
    pub fn errors(&self) -> Vec<(usize, &'static str, String)> {
        self.lock().errors.clone()
    }

    /// Up to `extra` more announcements of each outcome: that many engines beyond the first
    /// apply at the same time (see the module docs).
    pub fn allow_overlap(&self, extra: usize) {
        self.lock().overlap = extra;
    }

    /// A new floor for a group (a deliberate outside change), measured from now.
    pub fn set_floor(&self, sim: &SimAws, group: &str, floor: usize) {
        sim.reset_stats(group);
        self.lock().floors.insert(group.to_string(), floor);
    }

    /// Outside changes happen between `pause` and `resume`; the version invariant then restarts
    /// from what is there (a deleted template is not amiroll's deletion).
    pub fn pause(&self) {
        self.lock().paused = true;
    }

    pub fn resume(&self, sim: &SimAws) {
        self.lock().paused = false;
        self.lock().protected.clear();
        self.check_versions(sim);
    }

    fn violate(&self, invariant: &'static str, key: String, detail: String) {
        let mut st = self.lock();
        if !st.reported.insert(format!("{invariant}/{key}")) {
            return;
        }
        let v = Violation {
            invariant,
            call: st.calls,
            run: st.runs,
            detail,
        };
        st.violations.push(v);
    }

    /// Record a violation found outside the oracle (an end state, a missing message).
    pub fn record(&self, invariant: &'static str, detail: String) {
        let key = detail.clone();
        self.violate(invariant, key, detail);
    }

    fn target_of(&self, group: &str) -> Option<&WatchedTarget> {
        self.targets
            .iter()
            .find(|t| t.groups.iter().any(|g| g == group))
    }

    // ----- after every call -----

    fn after_call(&self, sim: &SimAws, operation: &'static str, error: Option<&AwsError>) {
        {
            let mut st = self.lock();
            st.calls += 1;
            if let Some(e) = error {
                let n = st.calls;
                st.errors.push((n, operation, e.code.clone()));
                if !st.run_outcomes.is_empty() {
                    st.failure_after_publish = true;
                }
            }
        }
        self.check_floor(sim);
        if !self.lock().paused {
            self.check_versions(sim);
        }
        self.check_publishes(sim, operation, error);
        self.check_success_tags(sim);
        self.check_surge_firings(sim);
        self.lock().checks += 5;
    }

    /// Healthy in-service capacity never below the floor.
    fn check_floor(&self, sim: &SimAws) {
        let floors = self.lock().floors.clone();
        for (g, floor) in floors {
            let Some(group) = sim.try_group(&g) else {
                continue;
            };
            let seen = sim.min_in_service_healthy_seen(&g);
            if seen < floor {
                self.violate(
                    "healthy-floor",
                    g.clone(),
                    format!(
                        "group {g}: {seen} InService+Healthy instance(s) at the lowest, floor {floor}; now {}",
                        describe_group(sim, &group)
                    ),
                );
            }
        }
    }

    /// The versions amiroll must keep, as the account shows them now.
    fn protected_now(&self, sim: &SimAws) -> BTreeSet<(String, u64)> {
        let mut keep = BTreeSet::new();
        let resolve = |spec: &TemplateSpec| -> Option<(String, u64)> {
            let id = spec.template_id.clone().or_else(|| {
                spec.template_name
                    .as_ref()
                    .and_then(|n| sim.try_template(n))
                    .map(|t| t.id)
            })?;
            let header = sim.try_template(&id)?;
            let v = match spec.version.as_deref() {
                None | Some("$Default") => header.default_version,
                Some("$Latest") => header.latest_version,
                Some(n) => n.parse().ok()?,
            };
            Some((id, v))
        };
        for t in self.targets.iter() {
            if let Some(h) = sim.try_template(&t.template) {
                keep.insert((h.id.clone(), h.default_version));
            }
        }
        for g in self.groups() {
            let Some(group) = sim.try_group(&g) else {
                continue;
            };
            if let Some((id, v)) = group
                .tags
                .get("amiroll:rollback-version")
                .and_then(|s| s.rsplit_once(':'))
                .and_then(|(id, v)| Some((id.to_string(), v.parse::<u64>().ok()?)))
            {
                keep.insert((id, v));
            }
            if let Some(spec) = &group.launch_template {
                keep.extend(resolve(spec));
            }
            if let Some(m) = &group.mixed_instances_policy {
                keep.extend(resolve(&m.template));
                for o in &m.overrides {
                    if let Some(spec) = &o.template {
                        keep.extend(resolve(spec));
                    }
                }
            }
            for i in &group.instances {
                if let Some(spec) = &i.launch_template {
                    keep.extend(resolve(spec));
                }
            }
            for r in sim.instance_refreshes(&g) {
                if !r.is_terminal() {
                    if let Some(spec) = &r.desired_template {
                        keep.extend(resolve(spec));
                    }
                }
            }
        }
        keep
    }

    /// Protected versions are never deleted; one amiroll version per (template, source, AMI).
    fn check_versions(&self, sim: &SimAws) {
        let before = self.lock().protected.clone();
        let mut templates: Vec<String> = self.targets.iter().map(|t| t.template.clone()).collect();
        templates.sort();
        templates.dedup();
        let mut existing: BTreeSet<(String, u64)> = BTreeSet::new();
        let mut live_templates = BTreeSet::new();
        for tid in &templates {
            let Some(header) = sim.try_template(tid) else {
                continue;
            };
            live_templates.insert(header.id.clone());
            for v in sim.template_versions(&header.id) {
                existing.insert((header.id.clone(), v.version));
                let ami = v.image_id.clone().unwrap_or_default();
                let mut st = self.lock();
                st.version_ami
                    .insert((header.id.clone(), v.version), ami.clone());
                if let Some(d) = v
                    .description
                    .as_deref()
                    .filter(|d| d.starts_with("amiroll:"))
                {
                    if let Some(src) = d
                        .split(" from v")
                        .nth(1)
                        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        st.amiroll_versions
                            .entry((header.id.clone(), src, ami.clone()))
                            .or_default()
                            .insert(v.version);
                    }
                }
            }
        }
        for (tid, v) in &before {
            if live_templates.contains(tid) && !existing.contains(&(tid.clone(), *v)) {
                self.violate(
                    "protected-version-deleted",
                    format!("{tid}:{v}"),
                    format!("{tid} v{v} was deleted while the default, a rollback tag, a group, an instance or a refresh used it"),
                );
            }
        }
        let dups: Vec<((String, u64, String), BTreeSet<u64>)> = self
            .lock()
            .amiroll_versions
            .iter()
            .filter(|(_, vs)| vs.len() > 1)
            .map(|(k, vs)| (k.clone(), vs.clone()))
            .collect();
        for ((tid, src, ami), vs) in dups {
            self.violate(
                "one-version-per-ami",
                format!("{tid}/{src}/{ami}"),
                format!("{tid}: amiroll made versions {vs:?} for {ami} from v{src}"),
            );
        }
        let now = self.protected_now(sim);
        self.lock().protected = now;
    }

    /// New SNS messages: counted per outcome; a success is announced only when it is true.
    fn check_publishes(&self, sim: &SimAws, operation: &'static str, error: Option<&AwsError>) {
        let all = sim.all_published();
        let seen = self.lock().published_seen;
        if all.len() <= seen {
            return;
        }
        self.lock().published_seen = all.len();
        for n in &all[seen..] {
            let event = n.attributes.get("event").cloned().unwrap_or_default();
            let target = n.attributes.get("target").cloned().unwrap_or_default();
            let ami = ami_in(&n.subject);
            self.lock()
                .events
                .entry(target.clone())
                .or_default()
                .insert(event.clone());
            if OUTCOMES.contains(&event.as_str()) && !n.message.contains("APPLY FAILED") {
                let key = (target.clone(), event.clone(), ami.clone());
                let mut st = self.lock();
                *st.outcomes.entry(key.clone()).or_insert(0) += 1;
                st.run_outcomes.push(key.clone());
                if operation == op::PUBLISH && error.is_some() {
                    // Applied, then answered with an error: the retry sends it again.
                    *st.allowance.entry(key).or_insert(0) += 1;
                }
            }
            if event == "rollout-succeeded" {
                self.check_success_is_true(sim, &target, &ami, "announced rollout-succeeded");
            }
        }
    }

    /// A success (message or `amiroll:succeeded-ami` tag) while an in-service instance is
    /// unhealthy, or with fewer healthy instances on the AMI than the desired capacity, is a lie.
    fn check_success_is_true(&self, sim: &SimAws, target: &str, ami: &str, what: &str) {
        let Some(t) = self.targets.iter().find(|t| t.name == target) else {
            return;
        };
        for g in &t.groups {
            let Some(group) = sim.try_group(g) else {
                continue;
            };
            if let Some(problem) = success_problem(sim, &group, ami) {
                self.violate(
                    "success-without-health",
                    format!("{target}/{g}/{ami}/{what}"),
                    format!("{what} for {target} on {ami}, but group {g}: {problem}"),
                );
            }
        }
    }

    fn check_success_tags(&self, sim: &SimAws) {
        for g in self.groups() {
            let now = sim
                .try_group(&g)
                .and_then(|x| x.tags.get("amiroll:succeeded-ami").cloned());
            let before = self.lock().succeeded_tags.insert(g.clone(), now.clone());
            if let Some(ami) = now {
                if before.flatten().as_deref() != Some(ami.as_str()) {
                    if let (Some(group), Some(_)) = (sim.try_group(&g), self.target_of(&g)) {
                        if let Some(problem) = success_problem(sim, &group, &ami) {
                            self.violate(
                                "success-without-health",
                                format!("tag/{g}/{ami}"),
                                format!(
                                    "group {g} tagged amiroll:succeeded-ami={ami}, but {problem}"
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// A round's surge fires once, unless a run re-planned it and said so.
    fn check_surge_firings(&self, sim: &SimAws) {
        let events = sim.events();
        let seen = self.lock().events_seen;
        if events.len() <= seen {
            return;
        }
        self.lock().events_seen = events.len();
        for (_, text) in &events[seen..] {
            let Some(name) = text
                .split("scheduled action ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .filter(|n| n.starts_with("amiroll-") && n.ends_with("-surge"))
            else {
                continue;
            };
            if !text.contains(" fired") {
                continue;
            }
            let (count, again) = {
                let mut st = self.lock();
                let c = st.surge_fired.entry(name.to_string()).or_insert(0);
                *c += 1;
                let count = *c;
                (count, st.planned_again.contains(name))
            };
            if count > 1 && !again {
                self.violate(
                    "one-surge-per-attempt",
                    name.to_string(),
                    format!("the surge action {name} fired {count} times with no planned retry"),
                );
            }
        }
    }

    // ----- after every run -----

    /// A run ended (completed, failed half way, or crashed).
    pub fn end_run(&self, sim: &SimAws, result: &Result<ApplyReport, RunError>) {
        {
            let mut st = self.lock();
            st.runs += 1;
            if st.failure_after_publish {
                let keys = st.run_outcomes.clone();
                for k in keys {
                    *st.allowance.entry(k).or_insert(0) += 1;
                }
            }
            st.failure_after_publish = false;
            st.run_outcomes.clear();
            if let Ok(r) = result {
                for t in &r.targets {
                    for a in &t.plan.actions {
                        let reason = a.reason.to_lowercase();
                        if reason.contains("again") || reason.contains("retry") {
                            if let amiroll_core::model::Action::PutScheduledAction { action } =
                                &a.action
                            {
                                st.planned_again.insert(action.name.clone());
                            }
                            if let amiroll_core::model::Action::StartInstanceRefresh {
                                group, ..
                            } = &a.action
                            {
                                st.planned_again.insert(format!("refresh:{group}"));
                            }
                        }
                    }
                }
            }
            st.checks += 2;
        }
        self.check_default_not_failed(sim);
        self.check_tracked_actions(sim);
    }

    /// The default (and a group's own version) never stays on an AMI recorded as failed.
    fn check_default_not_failed(&self, sim: &SimAws) {
        for t in self.targets.iter() {
            let Some(header) = sim.try_template(&t.template) else {
                continue;
            };
            let default_ami = self.ami_of(sim, &header.id, header.default_version);
            for g in &t.groups {
                let Some(group) = sim.try_group(g) else {
                    continue;
                };
                let Some(failed) = group.tags.get("amiroll:failed-ami") else {
                    continue;
                };
                if default_ami.as_deref() == Some(failed.as_str()) {
                    self.violate(
                        "default-on-failed-ami",
                        format!("{}/{failed}", header.id),
                        format!(
                            "{} default v{} runs {failed}, which failed on group {g}",
                            header.id, header.default_version
                        ),
                    );
                }
                // While a refresh is under way, the group keeps its old version until the
                // refresh succeeds (launches use the refresh's desired version meanwhile).
                let refreshing = sim.instance_refreshes(g).iter().any(|r| !r.is_terminal());
                if let Some(spec) = group.launch_template.as_ref().filter(|_| !refreshing) {
                    if let Some(v) = spec.version.as_deref().and_then(|v| v.parse::<u64>().ok()) {
                        if self.ami_of(sim, &header.id, v).as_deref() == Some(failed.as_str()) {
                            self.violate(
                                "default-on-failed-ami",
                                format!("{g}/pin/{failed}"),
                                format!("group {g} is pinned to v{v}, which runs {failed}, failed on it"),
                            );
                        }
                    }
                }
            }
        }
    }

    fn ami_of(&self, sim: &SimAws, template: &str, version: u64) -> Option<String> {
        sim.template_version_data(template, version)
            .and_then(|d| d.image_id)
            .or_else(|| {
                self.lock()
                    .version_ami
                    .get(&(template.to_string(), version))
                    .cloned()
            })
    }

    /// Every pending `amiroll-` action belongs to the round the group's tags record.
    fn check_tracked_actions(&self, sim: &SimAws) {
        for g in self.groups() {
            let Some(group) = sim.try_group(&g) else {
                continue;
            };
            let round = group.tags.get("amiroll:rollout").cloned();
            for a in sim.scheduled_actions(&g) {
                if let Some(r) = amiroll_round(&a.name) {
                    if round.as_deref() != Some(r) {
                        self.violate(
                            "untracked-scheduled-action",
                            format!("{g}/{}", a.name),
                            format!(
                                "group {g} has {} (at {}, desired {:?}) but its round tag is {round:?}",
                                a.name, a.start_time, a.desired_capacity
                            ),
                        );
                    }
                }
            }
        }
    }

    // ----- at the end -----

    /// Every recorded outcome was announced; none more often than allowed; at most one refresh
    /// per group and AMI unless a retry was planned.
    pub fn end_scenario(&self, sim: &SimAws) {
        let (outcomes, allowance, events, overlap) = {
            let st = self.lock();
            (
                st.outcomes.clone(),
                st.allowance.clone(),
                st.events.clone(),
                st.overlap,
            )
        };
        for ((target, event, ami), n) in &outcomes {
            let allowed = 1
                + overlap
                + allowance
                    .get(&(target.clone(), event.clone(), ami.clone()))
                    .copied()
                    .unwrap_or(0);
            if *n > allowed {
                self.violate(
                    "announced-once",
                    format!("{target}/{event}/{ami}"),
                    format!(
                        "{event} for {target} on {ami} announced {n} times (allowed {allowed})"
                    ),
                );
            }
        }
        for t in self.targets.iter() {
            for g in &t.groups {
                let Some(group) = sim.try_group(g) else {
                    continue;
                };
                if let Some(ami) = group.tags.get("amiroll:succeeded-ami") {
                    // A rollback refresh's success is announced as `rolled-back`.
                    let announced = outcomes.keys().any(|(tt, e, a)| {
                        tt == &t.name
                            && ((e == "rollout-succeeded" && a == ami) || e == "rolled-back")
                    });
                    let pre_existing = ami.is_empty();
                    if !announced && !pre_existing && t.strategy != Strategy::None {
                        self.violate(
                            "outcome-announced",
                            format!("{g}/succeeded/{ami}"),
                            format!(
                                "group {g} records success on {ami}, never announced for {}",
                                t.name
                            ),
                        );
                    }
                }
                if let Some(ami) = group.tags.get("amiroll:failed-ami") {
                    let announced = outcomes
                        .keys()
                        .any(|(tt, e, a)| tt == &t.name && e != "rollout-succeeded" && a == ami)
                        || events
                            .get(&t.name)
                            .is_some_and(|e| e.contains("rollback-started"));
                    if !announced {
                        self.violate(
                            "outcome-announced",
                            format!("{g}/failed/{ami}"),
                            format!(
                                "group {g} records a failure on {ami}, never announced for {}",
                                t.name
                            ),
                        );
                    }
                }
                // One refresh per (group, AMI).
                let mut per_ami: BTreeMap<String, usize> = BTreeMap::new();
                for r in sim.instance_refreshes(g) {
                    let ami = r
                        .desired_template
                        .as_ref()
                        .and_then(|d| {
                            let v = d.version.as_deref()?.parse::<u64>().ok()?;
                            self.ami_of(sim, d.template_id.as_deref()?, v)
                        })
                        .unwrap_or_else(|| "(no desired configuration)".to_string());
                    *per_ami.entry(ami).or_insert(0) += 1;
                }
                let mut found = Vec::new();
                {
                    let st = self.lock();
                    let again = st.planned_again.contains(&format!("refresh:{g}"));
                    for (ami, n) in per_ami {
                        let allowed = 1 + st
                            .refresh_starts_allowed
                            .get(&(g.clone(), ami.clone()))
                            .copied()
                            .unwrap_or(0);
                        if n > allowed && !again {
                            found.push((
                                format!("{g}/{ami}"),
                                format!("group {g}: {n} instance refreshes to {ami} (allowed {allowed})"),
                            ));
                        }
                    }
                }
                for (key, detail) in found {
                    self.violate("one-refresh-per-ami", key, detail);
                }
            }
        }
        // Issue 12: no running task on a terminated instance unless its container instance was
        // draining for drain_timeout (the scenarios use the default, 10 minutes) first.
        for kill in sim.task_kills() {
            let drained_long_enough = kill
                .draining_since
                .is_some_and(|since| kill.at - since >= chrono::Duration::minutes(10));
            if !drained_long_enough {
                self.violate(
                    "no-task-killed-undrained",
                    format!("{}/{}", kill.cluster, kill.instance_id),
                    format!(
                        "{} terminated at {} with {} running task(s) of cluster {}, {}",
                        kill.instance_id,
                        kill.at,
                        kill.tasks,
                        kill.cluster,
                        match kill.draining_since {
                            Some(since) => format!("draining only since {since}"),
                            None => "never drained".to_string(),
                        }
                    ),
                );
            }
        }
        self.lock().checks += 4;
    }
}

/// Why a success claim about `group` on `ami` is false, if it is.
pub fn success_problem(sim: &SimAws, group: &AutoScalingGroup, ami: &str) -> Option<String> {
    let mut healthy_on_ami = 0;
    for i in &group.instances {
        if i.is_in_service() && !i.is_healthy() {
            return Some(format!(
                "{} is InService and {}",
                i.instance_id, i.health_status
            ));
        }
        let on = sim
            .instance(&i.instance_id)
            .is_some_and(|x| x.image_id == ami);
        if on && i.is_in_service() && i.is_healthy() {
            healthy_on_ami += 1;
        }
    }
    if healthy_on_ami < group.desired_capacity {
        return Some(format!(
            "only {healthy_on_ami} healthy in-service instance(s) on {ami} for a desired capacity of {}",
            group.desired_capacity
        ));
    }
    None
}

/// One line: capacity and instances (AMI, state, health).
pub fn describe_group(sim: &SimAws, group: &AutoScalingGroup) -> String {
    let insts: Vec<String> = group
        .instances
        .iter()
        .map(|i| {
            let ami = sim
                .instance(&i.instance_id)
                .map(|x| x.image_id)
                .unwrap_or_default();
            format!(
                "{}:{}/{}",
                &ami[ami.len().saturating_sub(4)..],
                i.lifecycle_state,
                i.health_status
            )
        })
        .collect();
    format!(
        "{}/{}/{} [{}]",
        group.min_size,
        group.max_size,
        group.desired_capacity,
        insts.join(" ")
    )
}
