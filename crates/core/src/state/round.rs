//! A scheduled-surge round and its phase.

use std::collections::BTreeMap;

use super::{fmt_time, is_ami_id, maybe, need, parse_time, tags, Capacity, Recovery, StateError};
use crate::port::Timestamp;

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
    /// ECS group without managed draining: the gate passed at `since`; amiroll protected the new
    /// instances it keeps (with `keep_new`), lifted the protection of the old ones, moved the
    /// scheduled settle to `since + drain_timeout` and set the old container instances
    /// `DRAINING`. A later run settles to `capacity` once their tasks have moved (or the drain
    /// timeout passed); if none comes, the scheduled settle removes the old instances.
    Draining {
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
            "draining" => Some(Phase::Draining {
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
            Phase::Draining {
                since,
                capacity,
                keep_new,
            } => Some(format!(
                "draining {} {}{}",
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

impl SurgeRound {
    /// The round in `tags`; `Ok(None)` when there is none (no `amiroll:rollout`).
    pub fn from_tags(t: &BTreeMap<String, String>) -> Result<Option<SurgeRound>, StateError> {
        let Some(id) = t.get(tags::ROLLOUT) else {
            return Ok(None);
        };
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
            recovering_from: Recovery::from_tags(t)?.map(|r| r.from),
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
        if let Some(from) = &self.recovering_from {
            t.extend(Recovery { from: from.clone() }.to_tags());
        }
        t
    }
}
