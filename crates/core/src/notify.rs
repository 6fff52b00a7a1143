//! SNS notifications: a message a person can read, then a JSON detail block for machines.
//!
//! `Publish` constraints ("Publish", Amazon SNS API Reference,
//! https://docs.aws.amazon.com/sns/latest/api/API_Publish.html): `Subject` fewer than 100
//! characters with no line breaks; the message at most 262,144 bytes **including its message
//! attributes**, whose names, data types and values all count ("Amazon SNS message attributes",
//! https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html). amiroll sends the
//! attributes `event` and `target` (String) for subscription filter policies.

use std::collections::BTreeMap;

use crate::model::{Event, TargetOutcome};
use crate::port::Notification;

/// Longest subject SNS accepts ("must be less than 100 characters").
pub const MAX_SUBJECT: usize = 99;
/// Largest message SNS accepts, in bytes, message attributes included.
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// The data type of every attribute amiroll sends.
const ATTRIBUTE_TYPE: &str = "String";
/// Ends a message that was cut to fit.
pub const TRUNCATED_MARKER: &str = "\n… (truncated to fit SNS's 256 KB limit)\n";

/// Build the notification for one target's outcome.
pub fn compose(outcome: &TargetOutcome, event: Event, topic_arn: &str) -> Notification {
    let p = &outcome.plan;
    let ami = p
        .target_ami
        .as_ref()
        .map(|a| a.image_id.clone())
        .unwrap_or_default();
    let what = match event {
        Event::RolloutStarted => format!("rolling to {ami}"),
        Event::RolloutSucceeded => format!("now on {ami}"),
        Event::RolloutFailed => format!("rollout to {ami} FAILED"),
        Event::RolledBack => format!("rollout to {ami} ROLLED BACK"),
        Event::Cancelled => format!("rollout to {ami} cancelled"),
        Event::RollbackStarted => "rolling back".to_string(),
        Event::Error => "error, nothing changed".to_string(),
        Event::Current => format!("current on {ami}"),
    };
    let subject = one_line(&format!("amiroll: {} {what}", p.target), MAX_SUBJECT);

    let mut text = String::new();
    text.push_str(&format!(
        "amiroll — target `{}`: {}\n",
        p.target,
        event.as_str()
    ));
    text.push_str(&format!("Summary: {}\n", p.summary));
    if let Some(err) = &outcome.apply_error {
        text.push_str(&format!(
            "\nAPPLY FAILED — the fleet may be half-changed:\n  {err}\n"
        ));
    }
    if let Some(a) = &p.target_ami {
        text.push_str(&format!(
            "Target AMI: {} ({}) from {} version {}\n",
            a.image_id,
            a.name.clone().unwrap_or_else(|| "unnamed".to_string()),
            a.parameter,
            a.parameter_version
        ));
    }
    if let Some(t) = &p.template_id {
        text.push_str(&format!("Launch template: {t}; strategy: {}\n", p.strategy));
    }
    for e in &p.errors {
        text.push_str(&format!("Error: {e}\n"));
    }
    if !p.groups.is_empty() {
        text.push_str("\nGroups:\n");
        for g in &p.groups {
            text.push_str(&format!("  - {}\n", crate::render::group_line(g)));
        }
    }
    if !outcome.results.is_empty() {
        text.push_str("\nActions:\n");
        for r in &outcome.results {
            text.push_str(&format!(
                "  [{}] {}{}\n",
                r.result,
                r.action,
                r.detail
                    .as_ref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default()
            ));
        }
    }
    if !p.findings.is_empty() {
        text.push_str("\nNotes:\n");
        for f in &p.findings {
            text.push_str(&format!("  - {}\n", f.message));
        }
    }
    let detail = serde_json::to_string_pretty(outcome).unwrap_or_else(|_| "{}".to_string());
    let mut attributes = BTreeMap::new();
    attributes.insert("event".to_string(), event.as_str().to_string());
    attributes.insert("target".to_string(), p.target.clone());
    let mut message = format!("{text}\n--- detail (JSON) ---\n{detail}\n");
    fit(&mut message, message_budget(&attributes));
    Notification {
        topic_arn: topic_arn.to_string(),
        subject,
        message,
        attributes,
    }
}

/// The bytes left for the message once the attributes are counted: each attribute's name, data
/// type and value, in UTF-8 ("Amazon SNS message attributes").
pub fn message_budget(attributes: &BTreeMap<String, String>) -> usize {
    let used: usize = attributes
        .iter()
        .map(|(name, value)| name.len() + ATTRIBUTE_TYPE.len() + value.len())
        .sum();
    MAX_MESSAGE_BYTES.saturating_sub(used)
}

/// Cut `message` on a character boundary so that it and [`TRUNCATED_MARKER`] fit in `budget`
/// bytes; a message that fits is left alone.
fn fit(message: &mut String, budget: usize) {
    if message.len() <= budget {
        return;
    }
    let mut cut = budget.saturating_sub(TRUNCATED_MARKER.len());
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
    if message.len() + TRUNCATED_MARKER.len() <= budget {
        message.push_str(TRUNCATED_MARKER);
    }
}

/// Collapse whitespace and control characters and cut to `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if cleaned.chars().count() <= max {
        cleaned
    } else {
        let mut out: String = cleaned.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TargetPlan, TargetStatus};

    /// A failed apply of `target` whose summary is `summary` (the summary is in the message twice:
    /// in the text and in the JSON detail).
    fn outcome(target: &str, summary: String) -> TargetOutcome {
        TargetOutcome {
            plan: TargetPlan {
                target: target.to_string(),
                status: TargetStatus::Drift,
                summary,
                template_id: Some("lt-0123456789abcdef0".to_string()),
                target_ami: None,
                strategy: crate::config::Strategy::ScheduledSurge,
                groups: Vec::new(),
                findings: Vec::new(),
                errors: Vec::new(),
                actions: Vec::new(),
                event: None,
                sns_topic: None,
            },
            results: Vec::new(),
            apply_error: Some("autoscaling:PutScheduledUpdateGroupAction failed".to_string()),
            notification: None,
        }
    }

    /// What SNS counts against its limit: the message and every attribute's name, data type and
    /// value ("Amazon SNS message attributes").
    fn sns_size(n: &Notification) -> usize {
        n.message.len()
            + n.attributes
                .iter()
                .map(|(k, v)| k.len() + "String".len() + v.len())
                .sum::<usize>()
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:amiroll";

    #[test]
    fn a_huge_report_is_cut_to_exactly_the_limit_with_its_attributes() {
        // A long (multi-byte) target name makes the attributes weigh 150+ bytes; cutting the
        // message alone to 262,144 bytes would overshoot by that much.
        let target = format!("web-{}", "é".repeat(70));
        let n = compose(
            &outcome(&target, "x".repeat(140_000)),
            Event::RolloutFailed,
            TOPIC,
        );
        assert_eq!(n.attributes["target"], target);
        assert!(n.message.ends_with(TRUNCATED_MARKER), "visibly truncated");
        // The cut lands in ASCII (the summary in the JSON detail), so the bound is met exactly.
        assert_eq!(sns_size(&n), MAX_MESSAGE_BYTES);
        assert_eq!(
            n.message.len(),
            MAX_MESSAGE_BYTES
                - ("event".len() + 6 + "rollout-failed".len())
                - ("target".len() + 6 + target.len())
        );
    }

    #[test]
    fn a_cut_through_multi_byte_text_stays_on_a_char_boundary() {
        for filler in ["é", "€", "𝄞"] {
            let n = compose(
                &outcome("web", filler.repeat(200_000 / filler.len())),
                Event::RolloutFailed,
                TOPIC,
            );
            let size = sns_size(&n);
            assert!(size <= MAX_MESSAGE_BYTES, "{filler}: {size}");
            // At most one character short of the limit.
            assert!(size > MAX_MESSAGE_BYTES - filler.len(), "{filler}: {size}");
            assert!(n.message.ends_with(TRUNCATED_MARKER));
        }
    }

    #[test]
    fn a_report_that_fits_is_left_alone() {
        let n = compose(
            &outcome("web", "rolling".to_string()),
            Event::RolloutFailed,
            TOPIC,
        );
        assert!(!n.message.contains("truncated"));
        assert!(n.message.contains("Summary: rolling"));
        assert!(n.message.contains("APPLY FAILED"));
        // Just under the budget: whole; one byte over: cut.
        let budget = message_budget(&n.attributes);
        let mut exact = "a".repeat(budget);
        fit(&mut exact, budget);
        assert_eq!(exact.len(), budget);
        let mut over = "a".repeat(budget + 1);
        fit(&mut over, budget);
        assert_eq!(over.len(), budget);
        assert!(over.ends_with(TRUNCATED_MARKER));
    }

    #[test]
    fn subject_is_one_line_and_short() {
        let s = one_line(
            &format!("amiroll: {}\nrolling", "x".repeat(200)),
            MAX_SUBJECT,
        );
        assert!(s.chars().count() <= MAX_SUBJECT);
        assert!(!s.contains('\n'));
    }
}
