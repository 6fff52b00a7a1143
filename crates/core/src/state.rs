//! The rollout state amiroll keeps in a group's tags, read and written in one place.
//!
//! State that must outlive a run lives in AWS, never on local disk: a scheduled-surge round is a
//! set of `amiroll:*` tags on its group (`planner::tags` names them). [`SurgeRound::from_tags`]
//! reads a round back and names the tag when one is malformed; [`SurgeRound::to_tags`] writes it.

use std::collections::BTreeMap;

use crate::port::{AutoScalingGroup, Timestamp};

/// The phase of a round, in `amiroll:phase` as `<phase> <since> <capacity> [keep-new]`. No tag:
/// surging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The round is open: the old instances are protected, the surge and the settle scheduled.
    Surge,
    /// The gate passed; amiroll settled the group to `capacity` at `since`. With `keep_new`,
    /// amiroll protected the new instances for the settle (so that Auto Scaling's AZ balancing,
    /// which comes before the termination policy, can only take old ones) and lifts that
    /// protection when the round ends.
    Settled {
        since: Timestamp,
        capacity: Capacity,
        keep_new: bool,
    },
    /// The round was stopped at `since`; the group goes back to `capacity` with the old
    /// instances protected, so that the scale-in removes the new ones.
    Restore {
        since: Timestamp,
        capacity: Capacity,
    },
}

impl Phase {
    /// The phase a tag value names (`None` for a malformed one).
    pub fn parse(s: Option<&String>) -> Option<Phase> {
        let Some(s) = s else {
            return Some(Phase::Surge);
        };
        let mut parts = s.split_whitespace();
        let (name, since, cap) = (parts.next()?, parts.next()?, parts.next()?);
        let since = parse_time(since)?;
        let capacity = Capacity::parse(cap)?;
        let keep_new = match parts.next() {
            None => false,
            Some("keep-new") => true,
            Some(_) => return None,
        };
        if parts.next().is_some() {
            return None;
        }
        match name {
            "settled" => Some(Phase::Settled {
                since,
                capacity,
                keep_new,
            }),
            "restore" if !keep_new => Some(Phase::Restore { since, capacity }),
            _ => None,
        }
    }

    /// The tag value (`None` for [`Phase::Surge`], which has no tag).
    pub fn to_tag(self) -> Option<String> {
        match self {
            Phase::Surge => None,
            Phase::Settled {
                since,
                capacity,
                keep_new,
            } => Some(format!(
                "settled {} {}{}",
                fmt_time(since),
                capacity.to_tag(),
                if keep_new { " keep-new" } else { "" }
            )),
            Phase::Restore { since, capacity } => {
                Some(format!("restore {} {}", fmt_time(since), capacity.to_tag()))
            }
        }
    }
}

/// A scheduled-surge round, as its group's tags hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurgeRound {
    /// `amiroll:rollout`: `r` + 10 hex digits, from group, AMI and attempt.
    pub id: String,
    /// `amiroll:rollout-ami`.
    pub ami: String,
    /// `amiroll:original-capacity`: the sizes before the rollout.
    pub original: Capacity,
    /// `amiroll:surge-capacity`: `(max, desired)` of the surge.
    pub surge: (i32, i32),
    /// `amiroll:surge-at`.
    pub surge_at: Timestamp,
    /// `amiroll:settle-at`.
    pub settle_at: Timestamp,
    /// `amiroll:attempt`: the round number, from 1.
    pub attempt: u32,
    /// `amiroll:phase`.
    pub phase: Phase,
    /// `amiroll:settle-capacity`: the settle sizes when an outside change moved them.
    pub settle_capacity: Option<Capacity>,
    /// `amiroll:recovering-from`: on a recovery round, the AMI that failed.
    pub recovering_from: Option<String>,
}

/// A round tag that is missing or cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tag `{tag}` {}", match value { Some(v) => format!("= `{v}` cannot be read"), None => "is missing".to_string() })]
pub struct StateError {
    /// The tag's key.
    pub tag: &'static str,
    /// Its value, if it is there.
    pub value: Option<String>,
}

impl SurgeRound {
    /// The round in `tags`; `Ok(None)` when there is none (no `amiroll:rollout`).
    pub fn from_tags(t: &BTreeMap<String, String>) -> Result<Option<SurgeRound>, StateError> {
        let Some(id) = t.get(tags::ROLLOUT) else {
            return Ok(None);
        };
        fn need<'a, T>(
            t: &'a BTreeMap<String, String>,
            tag: &'static str,
            read: impl Fn(&'a str) -> Option<T>,
        ) -> Result<T, StateError> {
            let v = t.get(tag).ok_or(StateError { tag, value: None })?;
            read(v).ok_or_else(|| StateError {
                tag,
                value: Some(v.clone()),
            })
        }
        fn maybe<'a, T>(
            t: &'a BTreeMap<String, String>,
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
        let ami = need(t, tags::ROLLOUT_AMI, |v| {
            is_ami_id(v).then(|| v.to_string())
        })?;
        Ok(Some(SurgeRound {
            id: id.clone(),
            ami,
            original: need(t, tags::ORIGINAL, Capacity::parse)?,
            surge: need(t, tags::SURGE, Capacity::parse_surge)?,
            surge_at: need(t, tags::SURGE_AT, parse_time)?,
            settle_at: need(t, tags::SETTLE_AT, parse_time)?,
            attempt: need(t, tags::ATTEMPT, |v| {
                v.parse::<u32>().ok().filter(|n| *n >= 1)
            })?,
            phase: match t.get(tags::PHASE) {
                None => Phase::Surge,
                Some(v) => Phase::parse(Some(v)).ok_or_else(|| StateError {
                    tag: tags::PHASE,
                    value: Some(v.clone()),
                })?,
            },
            settle_capacity: maybe(t, tags::SETTLE_CAPACITY, Capacity::parse)?,
            recovering_from: maybe(t, tags::RECOVERING_FROM, |v| {
                is_ami_id(v).then(|| v.to_string())
            })?,
        }))
    }

    /// The tags that hold this round (those of absent optional parts are left out).
    pub fn to_tags(&self) -> BTreeMap<String, String> {
        let mut t = BTreeMap::new();
        t.insert(tags::ROLLOUT.to_string(), self.id.clone());
        t.insert(tags::ROLLOUT_AMI.to_string(), self.ami.clone());
        t.insert(tags::ORIGINAL.to_string(), self.original.to_tag());
        t.insert(
            tags::SURGE.to_string(),
            format!("max={},desired={}", self.surge.0, self.surge.1),
        );
        t.insert(tags::SURGE_AT.to_string(), fmt_time(self.surge_at));
        t.insert(tags::SETTLE_AT.to_string(), fmt_time(self.settle_at));
        t.insert(tags::ATTEMPT.to_string(), self.attempt.to_string());
        if let Some(p) = self.phase.to_tag() {
            t.insert(tags::PHASE.to_string(), p);
        }
        if let Some(c) = self.settle_capacity {
            t.insert(tags::SETTLE_CAPACITY.to_string(), c.to_tag());
        }
        if let Some(a) = &self.recovering_from {
            t.insert(tags::RECOVERING_FROM.to_string(), a.clone());
        }
        t
    }
}

/// Group tags that carry rollout state between runs. State that must outlive a run lives in AWS,
/// never on local disk.
pub mod tags {
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
