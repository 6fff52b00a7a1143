//! SNS notifications: a message a person can read, then a JSON detail block for machines.
//!
//! `Publish` constraints ("Publish", Amazon SNS API reference): `Subject` fewer than 100
//! characters with no line breaks; `Message` at most 256 KB; message attributes `event` and
//! `target` (String) for subscription filter policies.

use std::collections::BTreeMap;

use crate::engine::TargetOutcome;
use crate::model::Event;
use crate::port::Notification;

/// Longest subject SNS accepts ("must be less than 100 characters").
pub const MAX_SUBJECT: usize = 99;
/// Largest message SNS accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 262_144;

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
    let mut message = format!("{text}\n--- detail (JSON) ---\n{detail}\n");
    if message.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES - 64;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("\n… (truncated to fit SNS's 256 KB limit)\n");
    }
    let mut attributes = BTreeMap::new();
    attributes.insert("event".to_string(), event.as_str().to_string());
    attributes.insert("target".to_string(), p.target.clone());
    Notification {
        topic_arn: topic_arn.to_string(),
        subject,
        message,
        attributes,
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
