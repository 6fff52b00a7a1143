//! Fault injection: one-shot failures, throttling windows, persistent failures, a simulated crash
//! after N calls, and hooks that run after a given call (to stage a concurrent actor).

use amiroll_core::port::{AwsError, ErrorKind};

use crate::SimAws;

/// Code AWS uses when it throttles a call of `op`, per service:
/// EC2 `RequestLimitExceeded` ("Request throttling for the Amazon EC2 API"), Auto Scaling
/// `Throttling` ("Rate exceeded"), SSM `ThrottlingException`, SNS `Throttled`
/// (`ThrottledException` in the Amazon SNS API Reference "Publish" errors).
pub fn throttling_code(op: &str) -> &'static str {
    match op.split(':').next() {
        Some("ec2") => "RequestLimitExceeded",
        Some("autoscaling") => "Throttling",
        Some("ssm") => "ThrottlingException",
        Some("sns") => "Throttled",
        _ => "Throttling",
    }
}

/// Fails calls `first..=last` (1-based, counted from registration) of one operation.
struct Rule {
    op: &'static str,
    seen: usize,
    first: usize,
    last: usize,
    kind: ErrorKind,
    code: String,
    message: String,
}

struct Crash {
    budget: usize,
    seen: usize,
}

pub(crate) type HookFn = Box<dyn FnOnce(&SimAws) + Send>;

struct Hook {
    op: &'static str,
    remaining: usize,
    f: HookFn,
}

#[derive(Default)]
pub(crate) struct Faults {
    rules: Vec<Rule>,
    crash: Option<Crash>,
    hooks: Vec<Hook>,
}

impl Faults {
    pub(crate) fn fail_range(
        &mut self,
        op: &'static str,
        first: usize,
        last: usize,
        kind: ErrorKind,
        code: &str,
        message: &str,
    ) {
        let first = first.max(1);
        if last < first {
            return;
        }
        self.rules.push(Rule {
            op,
            seen: 0,
            first,
            last,
            kind,
            code: code.to_string(),
            message: message.to_string(),
        });
    }

    pub(crate) fn crash_after(&mut self, budget: usize) {
        self.crash = Some(Crash { budget, seen: 0 });
    }

    pub(crate) fn after_call(&mut self, op: &'static str, n: usize, f: HookFn) {
        self.hooks.push(Hook {
            op,
            remaining: n.max(1),
            f,
        });
    }

    /// Clears failures and the crash; hooks stay.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.crash = None;
    }

    /// Count one attempted call of `op`; the injected error, if this call must fail.
    pub(crate) fn on_call(&mut self, op: &'static str) -> Option<AwsError> {
        let mut error = None;
        if let Some(crash) = &mut self.crash {
            crash.seen += 1;
            if crash.seen > crash.budget {
                error = Some(AwsError::new(
                    op,
                    ErrorKind::Crash,
                    "SimulatedCrash",
                    format!(
                        "simulated crash: the process stopped after {} call(s)",
                        crash.budget
                    ),
                ));
            }
        }
        for rule in self.rules.iter_mut().filter(|r| r.op == op) {
            rule.seen += 1;
            if error.is_none() && rule.seen >= rule.first && rule.seen <= rule.last {
                error = Some(AwsError::new(
                    op,
                    rule.kind,
                    rule.code.clone(),
                    rule.message.clone(),
                ));
            }
        }
        self.rules.retain(|r| r.seen < r.last);
        error
    }

    /// Hooks due after this call of `op` (each runs once).
    pub(crate) fn due_hooks(&mut self, op: &'static str) -> Vec<HookFn> {
        let mut due = Vec::new();
        let mut kept = Vec::new();
        for mut hook in self.hooks.drain(..) {
            if hook.op == op {
                hook.remaining -= 1;
                if hook.remaining == 0 {
                    due.push(hook.f);
                    continue;
                }
            }
            kept.push(hook);
        }
        self.hooks = kept;
        due
    }
}
