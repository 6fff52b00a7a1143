//! Fault injection: one-shot failures, throttling windows, persistent failures, failures that
//! come after the call took effect (ambiguous writes), a simulated crash after N calls, hooks that
//! run after a given call (to stage a concurrent actor), and an observer that runs after every
//! call.

use std::sync::Arc;

use amiroll_core::port::{AwsError, ErrorKind};

use crate::SimAws;

/// Code AWS uses when it throttles a call of `op`, per service:
/// EC2 `RequestLimitExceeded` ("Request throttling for the Amazon EC2 API"), Auto Scaling
/// `Throttling` ("Rate exceeded"), SSM `ThrottlingException`, SNS `Throttled`
/// (`ThrottledException` in the Amazon SNS API Reference "Publish" errors), ECS
/// `ThrottlingException` ("Common Errors", Amazon ECS API Reference).
pub fn throttling_code(op: &str) -> &'static str {
    match op.split(':').next() {
        Some("ec2") => "RequestLimitExceeded",
        Some("autoscaling") => "Throttling",
        Some("ssm") | Some("ecs") => "ThrottlingException",
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
    /// The call takes effect, then the caller sees the error (an ambiguous write).
    after_effect: bool,
}

/// An injected failure of one call.
pub(crate) struct Injected {
    pub error: AwsError,
    /// Run the operation first and answer with `error` only if it succeeded.
    pub after_effect: bool,
}

struct Crash {
    budget: usize,
    seen: usize,
}

pub(crate) type HookFn = Box<dyn FnOnce(&SimAws) + Send>;

/// Runs after every port call with the operation and the error the caller got, if any.
pub(crate) type ObserverFn = Arc<dyn Fn(&SimAws, &'static str, Option<&AwsError>) + Send + Sync>;

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
    observers: Vec<ObserverFn>,
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
        self.add_rule(op, first, last, kind, code, message, false);
    }

    /// Like [`Faults::fail_range`], but each failing call takes effect first (an ambiguous write).
    pub(crate) fn fail_range_after_effect(
        &mut self,
        op: &'static str,
        first: usize,
        last: usize,
        kind: ErrorKind,
        code: &str,
        message: &str,
    ) {
        self.add_rule(op, first, last, kind, code, message, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_rule(
        &mut self,
        op: &'static str,
        first: usize,
        last: usize,
        kind: ErrorKind,
        code: &str,
        message: &str,
        after_effect: bool,
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
            after_effect,
        });
    }

    pub(crate) fn observe_every_call(&mut self, f: ObserverFn) {
        self.observers.push(f);
    }

    pub(crate) fn observers(&self) -> Vec<ObserverFn> {
        self.observers.clone()
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

    /// Clears failures and the crash; hooks and observers stay.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.crash = None;
    }

    /// Count one attempted call of `op`; the injected failure, if this call must fail.
    pub(crate) fn on_call(&mut self, op: &'static str) -> Option<Injected> {
        let mut error: Option<Injected> = None;
        if let Some(crash) = &mut self.crash {
            crash.seen += 1;
            if crash.seen > crash.budget {
                error = Some(Injected {
                    error: AwsError::new(
                        op,
                        ErrorKind::Crash,
                        "SimulatedCrash",
                        format!(
                            "simulated crash: the process stopped after {} call(s)",
                            crash.budget
                        ),
                    ),
                    after_effect: false,
                });
            }
        }
        for rule in self.rules.iter_mut().filter(|r| r.op == op) {
            rule.seen += 1;
            if error.is_none() && rule.seen >= rule.first && rule.seen <= rule.last {
                error = Some(Injected {
                    error: AwsError::new(op, rule.kind, rule.code.clone(), rule.message.clone()),
                    after_effect: rule.after_effect,
                });
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
