//! The rollout state amiroll keeps in a group's tags, read and written in one place.
//!
//! State that must outlive a run lives in AWS, never on local disk: it is a set of `amiroll:*`
//! tags on each group ([`tags`] names them). Every group of tags has one typed record here, read
//! with `from_tags` and written with `to_tags`:
//!
//! | Record | Tags |
//! |---|---|
//! | [`SurgeRound`] (with its [`Phase`]) | the round tags ([`tags::ROUND`]) and `amiroll:original-capacity` |
//! | [`Refresh`] | `amiroll:refresh-ami`, `amiroll:refresh` |
//! | [`Pin`] | `amiroll:pinned-from` |
//! | [`RollbackVersion`] | `amiroll:rollback-version` |
//! | [`Failure`] | `amiroll:failed-ami`, `amiroll:failed-reason` |
//! | [`Success`] | `amiroll:succeeded-ami`, `amiroll:succeeded-at` |
//! | [`Announced`] | `amiroll:announced` |
//! | [`Unannounced`] | `amiroll:unannounced` |
//! | [`Recovery`] | `amiroll:recovering-from` |
//! | [`Cancel`] | `amiroll:cancel`, `amiroll:cancel-ami` |
//!
//! A tag with a format (a time, a capacity, `template:version`, …) that cannot be read is a
//! [`StateError`] naming the tag. Free-text tags (an AMI as the template named it, a reason, a
//! refresh id) cannot be malformed: their records read them back as they are.
//! Which tag writes record an outcome (written after the notification) is
//! [`records_outcome`] / [`clears_outcome`].

mod records;
mod round;

use std::collections::BTreeMap;

use crate::port::{AutoScalingGroup, Timestamp};

pub use records::{
    clears_outcome, records_outcome, Announced, Cancel, Failure, Pin, Recovery, Refresh,
    RollbackVersion, Success, Unannounced,
};
pub use round::{Phase, SurgeRound};

/// A group's tags.
pub type Tags = BTreeMap<String, String>;

/// A state tag that is missing or cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tag `{tag}` {}", match value { Some(v) => format!("= `{v}` cannot be read"), None => "is missing".to_string() })]
pub struct StateError {
    /// The tag's key.
    pub tag: &'static str,
    /// Its value, if it is there.
    pub value: Option<String>,
}

/// The value of a tag a record needs, read with `read`.
fn need<'a, T>(
    t: &'a Tags,
    tag: &'static str,
    read: impl Fn(&'a str) -> Option<T>,
) -> Result<T, StateError> {
    let v = t.get(tag).ok_or(StateError { tag, value: None })?;
    read(v).ok_or_else(|| StateError {
        tag,
        value: Some(v.clone()),
    })
}

/// The value of a tag a record may have, read with `read`.
fn maybe<'a, T>(
    t: &'a Tags,
    tag: &'static str,
    read: impl Fn(&'a str) -> Option<T>,
) -> Result<Option<T>, StateError> {
    match t.get(tag) {
        None => Ok(None),
        Some(v) => read(v).map(Some).ok_or_else(|| StateError {
            tag,
            value: Some(v.clone()),
        }),
    }
}

/// One tag, as a `(key, value)` pair of a [`Tags`] map.
fn tag(tag: &str, value: impl Into<String>) -> (String, String) {
    (tag.to_string(), value.into())
}

/// Group tags that carry rollout state between runs. State that must outlive a run lives in AWS,
/// never on local disk.
pub mod tags {
    /// What every amiroll tag key starts with.
    pub const PREFIX: &str = "amiroll:";
    /// The default key of the discovery tag (`config::DISCOVERY_TAG`): on a group, the SSM
    /// parameter of its AMI.
    pub const AMI_PARAMETER: &str = "amiroll:ami-parameter";
    /// Id of the rollout round in flight.
    pub const ROLLOUT: &str = "amiroll:rollout";
    /// AMI the round rolls to.
    pub const ROLLOUT_AMI: &str = "amiroll:rollout-ami";
    /// `min=…,max=…,desired=…` before the surge.
    pub const ORIGINAL: &str = "amiroll:original-capacity";
    /// `max=…,desired=…` during the surge.
    pub const SURGE: &str = "amiroll:surge-capacity";
    pub const SURGE_AT: &str = "amiroll:surge-at";
    pub const SETTLE_AT: &str = "amiroll:settle-at";
    /// `lt-…:N`: the version the group launched before the rollout.
    pub const ROLLBACK_VERSION: &str = "amiroll:rollback-version";
    pub const ATTEMPT: &str = "amiroll:attempt";
    /// AMI whose rollout failed on this group; blocks that AMI until removed.
    pub const FAILED_AMI: &str = "amiroll:failed-ami";
    pub const FAILED_REASON: &str = "amiroll:failed-reason";

    /// Opt-out: a group with this tag (any value) is never touched.
    pub const SKIP: &str = "amiroll:skip";
    /// Id of the instance refresh amiroll started.
    pub const REFRESH: &str = "amiroll:refresh";
    /// AMI that refresh rolls to.
    pub const REFRESH_AMI: &str = "amiroll:refresh-ami";
    /// `refresh-id:Status` of the last outcome announced, so it is announced once.
    pub const ANNOUNCED: &str = "amiroll:announced";
    /// AMI the group last rolled to successfully, and when (for waves).
    pub const SUCCEEDED_AMI: &str = "amiroll:succeeded-ami";
    pub const SUCCEEDED_AT: &str = "amiroll:succeeded-at";
    /// How the group named its version before amiroll pinned it to keep rollback available.
    pub const PINNED_FROM: &str = "amiroll:pinned-from";
    /// An outcome (`rollout-failed`, …) whose notification failed: the next run announces it.
    pub const UNANNOUNCED: &str = "amiroll:unannounced";

    /// `<phase> <since> <capacity>` of a surge round that left the surge phase: `settled` (the
    /// health gate passed and amiroll settled the group) or `restore` (the round was stopped and
    /// the group goes back to its sizes). No tag: the round is surging.
    pub const PHASE: &str = "amiroll:phase";

    /// `min=…,max=…,desired=…` the settle restores when an outside change moved it.
    pub const SETTLE_CAPACITY: &str = "amiroll:settle-capacity";
    /// On a recovery round: the AMI whose failure it recovers from.
    pub const RECOVERING_FROM: &str = "amiroll:recovering-from";

    /// Id of an instance refresh `amiroll rollback` cancels because Auto Scaling cannot roll it
    /// back; the refresh back onto the rollback version follows.
    pub const CANCEL: &str = "amiroll:cancel";
    /// AMI that cancelled refresh rolled to (it failed).
    pub const CANCEL_AMI: &str = "amiroll:cancel-ami";

    /// Tags removed when a round ends (succeeded or failed).
    pub const ROUND: &[&str] = &[
        ROLLOUT,
        ROLLOUT_AMI,
        SURGE,
        SURGE_AT,
        SETTLE_AT,
        ATTEMPT,
        PHASE,
        SETTLE_CAPACITY,
        RECOVERING_FROM,
    ];
}

/// Group capacity as stored in tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

impl Capacity {
    pub fn of(g: &AutoScalingGroup) -> Capacity {
        Capacity {
            min: g.min_size,
            max: g.max_size,
            desired: g.desired_capacity,
        }
    }
    pub fn to_tag(self) -> String {
        format!("min={},max={},desired={}", self.min, self.max, self.desired)
    }
    pub fn parse(s: &str) -> Option<Capacity> {
        let [min, max, desired] = fields(s, ["min", "max", "desired"])?;
        Some(Capacity { min, max, desired })
    }
    /// `(max, desired)` from an `amiroll:surge-capacity` tag (`max=…,desired=…`).
    pub fn parse_surge(s: &str) -> Option<(i32, i32)> {
        let [max, desired] = fields(s, ["max", "desired"])?;
        Some((max, desired))
    }
}

pub fn fmt_time(t: Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn parse_time(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// `ami-` followed by 8 or 17 lower-case hex digits.
pub fn is_ami_id(s: &str) -> bool {
    match s.strip_prefix("ami-") {
        Some(hex) => {
            (hex.len() == 8 || hex.len() == 17)
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

/// The integer values of `k=v,k=v` in the order of `keys`: every key present (the last one
/// counts), no other key.
fn fields<const N: usize>(s: &str, keys: [&str; N]) -> Option<[i32; N]> {
    let mut out = [None; N];
    for part in s.split(',') {
        let (k, v) = part.split_once('=')?;
        let i = keys.iter().position(|key| *key == k.trim())?;
        out[i] = Some(v.trim().parse().ok()?);
    }
    let mut values = [0; N];
    for (value, found) in values.iter_mut().zip(out) {
        *value = found?;
    }
    Some(values)
}
