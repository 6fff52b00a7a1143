//! What each test tried and found, printed and (with `AMIROLL_ADVERSITY_OUT`) appended as JSON
//! lines for `scripts/reliability.sh`; and the sampling of the sweeps.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use super::oracle::Violation;

/// `AMIROLL_ADVERSITY=full`: every call index, every schedule; anything else (the default for a
/// plain `cargo test`): a sample that runs in a few tens of seconds.
pub fn full() -> bool {
    std::env::var("AMIROLL_ADVERSITY").is_ok_and(|v| v == "full")
}

/// The indices of `0..n` to try: all of them in full mode, else about `per` of them spread
/// evenly, shifted by `salt` so that different scenarios try different calls.
pub fn sample(n: usize, per: usize, salt: usize) -> Vec<usize> {
    if full() || n <= per {
        return (0..n).collect();
    }
    let stride = n.div_ceil(per);
    (0..n).filter(|i| i % stride == salt % stride).collect()
}

#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub scenarios: usize,
    pub runs: usize,
    pub crash_points: usize,
    pub faults: usize,
    pub faults_by_op: BTreeMap<String, usize>,
    pub timings: usize,
    pub schedules: usize,
    pub max_engines: usize,
    pub outside_changes: usize,
    pub bad_inputs: usize,
    pub checks: usize,
    /// Each violation with the case that found it.
    pub violations: Vec<String>,
    /// Cases the harness itself got wrong (a fault that hit no call): never acceptable.
    pub harness_errors: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.scenarios += other.scenarios;
        self.runs += other.runs;
        self.crash_points += other.crash_points;
        self.faults += other.faults;
        for (k, v) in &other.faults_by_op {
            *self.faults_by_op.entry(k.clone()).or_insert(0) += v;
        }
        self.timings += other.timings;
        self.schedules += other.schedules;
        self.max_engines = self.max_engines.max(other.max_engines);
        self.outside_changes += other.outside_changes;
        self.bad_inputs += other.bad_inputs;
        self.checks += other.checks;
        self.violations.extend(other.violations.iter().cloned());
        self.harness_errors
            .extend(other.harness_errors.iter().cloned());
    }

    pub fn violations_of(&mut self, case: &str, vs: &[Violation]) {
        for v in vs {
            self.violations.push(format!("{case}: {v}"));
        }
    }
}

fn escape(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

static OUT: Mutex<()> = Mutex::new(());

/// Print the tally of one test for one scenario, append it to `AMIROLL_ADVERSITY_OUT` if set.
pub fn emit(test: &str, scenario: &str, t: &Tally) {
    let by_op = serde_json::to_string(&t.faults_by_op).unwrap_or_else(|_| "{}".to_string());
    let violations: Vec<String> = t.violations.iter().map(|v| escape(v)).collect();
    let line = format!(
        "{{\"test\":{},\"scenario\":{},\"mode\":\"{}\",\"scenarios\":{},\"runs\":{},\"crash_points\":{},\"faults\":{},\"faults_by_op\":{},\"timings\":{},\"schedules\":{},\"max_engines\":{},\"outside_changes\":{},\"bad_inputs\":{},\"checks\":{},\"violations\":[{}]}}",
        escape(test),
        escape(scenario),
        if full() { "full" } else { "sampled" },
        t.scenarios,
        t.runs,
        t.crash_points,
        t.faults,
        by_op,
        t.timings,
        t.schedules,
        t.max_engines,
        t.outside_changes,
        t.bad_inputs,
        t.checks,
        violations.join(",")
    );
    let _guard = OUT.lock().unwrap_or_else(|e| e.into_inner());
    println!("adversity: {line}");
    if let Ok(path) = std::env::var("AMIROLL_ADVERSITY_OUT") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Append a free-form JSON object (e.g. the operations no scenario calls) for the report.
pub fn note(value: serde_json::Value) {
    let line = value.to_string();
    let _guard = OUT.lock().unwrap_or_else(|e| e.into_inner());
    println!("adversity: {line}");
    if let Ok(path) = std::env::var("AMIROLL_ADVERSITY_OUT") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Fail the test if anything was found: harness errors first, then the violations.
pub fn verdict(test: &str, t: &Tally) {
    assert!(
        t.harness_errors.is_empty(),
        "{test}: the harness is wrong ({} case(s)):\n{}",
        t.harness_errors.len(),
        t.harness_errors.join("\n")
    );
    assert!(
        t.violations.is_empty(),
        "{test}: {} violation(s):\n{}",
        t.violations.len(),
        t.violations
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
