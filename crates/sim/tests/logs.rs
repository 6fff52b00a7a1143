//! The logs tell one rollout's story: spans per target, group action and AWS operation (issue 10,
//! item 5), as the Lambda's JSON logs and `AMIROLL_LOG=debug` show them.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::Value;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

fn has_span(line: &Value, name: &str, field: &str, value: &str) -> bool {
    line["spans"].as_array().is_some_and(|spans| {
        spans
            .iter()
            .any(|s| s["name"] == name && s[field].as_str() == Some(value))
    })
}

#[test]
fn a_rollout_can_be_followed_by_target_group_and_operation_in_the_json_logs() {
    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(buf.clone())
        .finish();
    let w = World::new();
    w.publish(NEW);
    tracing::subscriber::with_default(subscriber, || {
        w.sim.throttle(amiroll_core::port::op::GET_PARAMETERS, 1, 1);
        w.apply_ok();
    });
    let text = String::from_utf8(buf.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .expect("utf-8 logs");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect();
    // The plan, under the target's span, with its summary.
    assert!(
        lines.iter().any(|l| has_span(l, "target", "target", "web")
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("rolling to"))),
        "{text}"
    );
    // Each group's state under the target.
    assert!(
        lines
            .iter()
            .any(|l| has_span(l, "target", "target", "web") && l["fields"]["group"] == "web"),
        "{text}"
    );
    // An AWS call inside the action that made it, inside the target.
    assert!(
        lines.iter().any(|l| has_span(l, "target", "target", "web")
            && has_span(l, "action", "group", "web")
            && has_span(l, "aws", "op", "autoscaling:SetInstanceProtection")),
        "{text}"
    );
    // A retried call says which attempt and why.
    assert!(
        lines
            .iter()
            .any(|l| has_span(l, "aws", "op", "ssm:GetParameters")
                && l["spans"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x["attempt"] == 1))
                && l["fields"]["code"] == "ThrottlingException"),
        "{text}"
    );
}
