//! The records of an instance refresh, of the version to go back to and of a rollout's outcome.

use super::{fmt_time, is_ami_id, maybe, need, parse_time, tag, tags, StateError, Tags};
use crate::model::Event;
use crate::port::Timestamp;

/// `amiroll:rollback-version`, `<template id>:<version>`: the version the group launched before
/// the rollout (a surge round's or an instance refresh's), kept so that it can go back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackVersion {
    pub template_id: String,
    pub version: u64,
}

impl RollbackVersion {
    /// The record a tag value names (`None` for a malformed one).
    pub fn parse(s: &str) -> Option<RollbackVersion> {
        let (template_id, n) = s.rsplit_once(':')?;
        Some(RollbackVersion {
            template_id: template_id.to_string(),
            version: n.parse().ok()?,
        })
    }

    pub fn to_tag(&self) -> String {
        format!("{}:{}", self.template_id, self.version)
    }

    /// The record in `t`; `Ok(None)` when there is none.
    pub fn from_tags(t: &Tags) -> Result<Option<RollbackVersion>, StateError> {
        maybe(t, tags::ROLLBACK_VERSION, RollbackVersion::parse)
    }

    pub fn to_tags(&self) -> Tags {
        Tags::from([tag(tags::ROLLBACK_VERSION, self.to_tag())])
    }

    /// The version recorded in `t` for `template_id`. A record of another template, or one that
    /// cannot be read, counts as none: the planner then has no recorded version to go back to
    /// (and looks for another, or says so), as without the tag.
    pub fn of_template(t: &Tags, template_id: &str) -> Option<u64> {
        RollbackVersion::from_tags(t)
            .ok()
            .flatten()
            .filter(|r| r.template_id == template_id)
            .map(|r| r.version)
    }
}

/// The instance refresh amiroll follows on a group: `amiroll:refresh-ami`, the AMI it rolls to
/// (written before it starts, so a run that stops right after the start can adopt it), and
/// `amiroll:refresh`, its id (recorded once known, and with its outcome). Both are free text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refresh {
    pub ami: Option<String>,
    pub id: Option<String>,
}

impl Refresh {
    /// The record in `t`; `None` when neither tag is there.
    pub fn from_tags(t: &Tags) -> Option<Refresh> {
        let [ami, id] = either(t, [tags::REFRESH_AMI, tags::REFRESH])?;
        Some(Refresh { ami, id })
    }

    /// The tags of the parts that are there.
    pub fn to_tags(&self) -> Tags {
        present([(tags::REFRESH_AMI, &self.ami), (tags::REFRESH, &self.id)])
    }

    /// The record of a refresh that rolls to `ami`, before it starts.
    pub fn to_ami(ami: &str) -> Refresh {
        Refresh {
            ami: Some(ami.to_string()),
            id: None,
        }
    }

    /// The record of refresh `id` (its AMI is already recorded).
    pub fn with_id(id: &str) -> Refresh {
        Refresh {
            ami: None,
            id: Some(id.to_string()),
        }
    }
}

/// `amiroll:pinned-from`: how the group named its version (`$Latest`, `$Default`) before amiroll
/// pinned it to a number to keep rollback available. Free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub from: String,
}

impl Pin {
    /// The record in `t`; `None` when there is none.
    pub fn from_tags(t: &Tags) -> Option<Pin> {
        t.get(tags::PINNED_FROM)
            .map(|from| Pin { from: from.clone() })
    }

    pub fn to_tags(&self) -> Tags {
        Tags::from([tag(tags::PINNED_FROM, self.from.clone())])
    }
}

/// A failed rollout: `amiroll:failed-ami`, the AMI that failed (blocks it until the failure is
/// acknowledged or a newer AMI comes), and `amiroll:failed-reason`. A surge round that is being
/// restored carries the reason before the AMI is recorded, so either may be there alone. Both
/// are free text (the AMI as the template named it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failure {
    pub ami: Option<String>,
    pub reason: Option<String>,
}

impl Failure {
    /// The record in `t`; `None` when neither tag is there.
    pub fn from_tags(t: &Tags) -> Option<Failure> {
        let [ami, reason] = either(t, [tags::FAILED_AMI, tags::FAILED_REASON])?;
        Some(Failure { ami, reason })
    }

    /// The tags of the parts that are there.
    pub fn to_tags(&self) -> Tags {
        present([
            (tags::FAILED_AMI, &self.ami),
            (tags::FAILED_REASON, &self.reason),
        ])
    }

    /// The record that `ami` failed, for `reason`.
    pub fn of(ami: &str, reason: String) -> Failure {
        Failure {
            ami: Some(ami.to_string()),
            reason: Some(reason),
        }
    }

    /// The AMI in `t` that failed, if any.
    pub fn ami_in(t: &Tags) -> Option<&str> {
        t.get(tags::FAILED_AMI).map(String::as_str)
    }
}

/// A successful rollout: `amiroll:succeeded-ami` (free text) and `amiroll:succeeded-at`, when
/// (waves wait for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    pub ami: String,
    pub at: Timestamp,
}

impl Success {
    /// The record in `t`; `Ok(None)` when there is none (no `amiroll:succeeded-ami`).
    pub fn from_tags(t: &Tags) -> Result<Option<Success>, StateError> {
        let Some(ami) = t.get(tags::SUCCEEDED_AMI) else {
            return Ok(None);
        };
        Ok(Some(Success {
            ami: ami.clone(),
            at: need(t, tags::SUCCEEDED_AT, parse_time)?,
        }))
    }

    pub fn to_tags(&self) -> Tags {
        Tags::from([
            tag(tags::SUCCEEDED_AMI, self.ami.clone()),
            tag(tags::SUCCEEDED_AT, fmt_time(self.at)),
        ])
    }

    /// The AMI in `t` that succeeded, if any (whether or not its time can be read).
    pub fn ami_in(t: &Tags) -> Option<&str> {
        t.get(tags::SUCCEEDED_AMI).map(String::as_str)
    }
}

/// `amiroll:announced`, `<refresh id>:<status>`: the end of an instance refresh that was
/// announced, so that it is announced once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub refresh: String,
    pub status: String,
}

impl Announced {
    /// The record a tag value names (`None` for a malformed one).
    pub fn parse(s: &str) -> Option<Announced> {
        let (refresh, status) = s.split_once(':')?;
        (!refresh.is_empty() && !status.is_empty()).then(|| Announced {
            refresh: refresh.to_string(),
            status: status.to_string(),
        })
    }

    /// The record in `t`; `Ok(None)` when there is none.
    pub fn from_tags(t: &Tags) -> Result<Option<Announced>, StateError> {
        maybe(t, tags::ANNOUNCED, Announced::parse)
    }

    pub fn to_tags(&self) -> Tags {
        Tags::from([tag(
            tags::ANNOUNCED,
            format!("{}:{}", self.refresh, self.status),
        )])
    }
}

/// `amiroll:unannounced`: an outcome whose notification failed; the next run announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unannounced(pub Event);

impl Unannounced {
    /// The record in `t`; `Ok(None)` when there is none.
    pub fn from_tags(t: &Tags) -> Result<Option<Unannounced>, StateError> {
        maybe(t, tags::UNANNOUNCED, |v| Event::parse(v).map(Unannounced))
    }

    pub fn to_tags(&self) -> Tags {
        Tags::from([tag(tags::UNANNOUNCED, self.0.as_str())])
    }
}

/// `amiroll:recovering-from`: on a recovery round, the AMI (an AMI id) whose failure it
/// recovers from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub from: String,
}

impl Recovery {
    /// The record in `t`; `Ok(None)` when there is none.
    pub fn from_tags(t: &Tags) -> Result<Option<Recovery>, StateError> {
        maybe(t, tags::RECOVERING_FROM, |v| {
            is_ami_id(v).then(|| Recovery {
                from: v.to_string(),
            })
        })
    }

    pub fn to_tags(&self) -> Tags {
        Tags::from([tag(tags::RECOVERING_FROM, self.from.clone())])
    }
}

/// A refresh `amiroll rollback` cancels because Auto Scaling cannot roll it back
/// (`IrreversibleInstanceRefresh`): `amiroll:cancel`, its id, and `amiroll:cancel-ami`, the AMI
/// it rolled to. Written before the cancel; until the refresh back onto the rollback version
/// has ended, every run (`amiroll apply` too) takes the rollback on from it. Both free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    pub refresh: String,
    pub ami: Option<String>,
}

impl Cancel {
    /// The record in `t`; `None` without `amiroll:cancel`.
    pub fn from_tags(t: &Tags) -> Option<Cancel> {
        t.get(tags::CANCEL).map(|refresh| Cancel {
            refresh: refresh.clone(),
            ami: t.get(tags::CANCEL_AMI).cloned(),
        })
    }

    pub fn to_tags(&self) -> Tags {
        let mut t = Tags::from([tag(tags::CANCEL, self.refresh.clone())]);
        t.extend(present([(tags::CANCEL_AMI, &self.ami)]));
        t
    }

    /// The tag keys of the record.
    pub fn keys() -> Vec<String> {
        vec![tags::CANCEL.to_string(), tags::CANCEL_AMI.to_string()]
    }
}

/// The values of free-text tags of which any may be there; `None` when none is.
fn either<const N: usize>(t: &Tags, keys: [&str; N]) -> Option<[Option<String>; N]> {
    let values = keys.map(|k| t.get(k).cloned());
    values.iter().any(Option::is_some).then_some(values)
}

/// The tags of the values that are there.
fn present<const N: usize>(parts: [(&str, &Option<String>); N]) -> Tags {
    parts
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| tag(k, v.clone())))
        .collect()
}

/// Tags whose writing records that an outcome was reached and announced.
const OUTCOME: [&str; 4] = [
    tags::ANNOUNCED,
    tags::FAILED_AMI,
    tags::SUCCEEDED_AMI,
    tags::UNANNOUNCED,
];

/// Whether writing `t` records an outcome (a rollout's success or failure, a refresh's end, an
/// outcome left to announce): the engine writes these after the notification.
pub fn records_outcome(t: &Tags) -> bool {
    OUTCOME.iter().any(|k| t.contains_key(*k))
}

/// Whether removing `keys` records an outcome: closing a surge round, or clearing an outcome
/// announced late.
pub fn clears_outcome(keys: &[String]) -> bool {
    keys.iter()
        .any(|k| k == tags::ROLLOUT || k == tags::UNANNOUNCED)
}
