//! An instance refresh Auto Scaling cannot roll back, cancelled by `amiroll rollback`.
//!
//! `RollbackInstanceRefresh` answers `IrreversibleInstanceRefresh` when the refresh has no
//! desired configuration, or when the configuration saved before it is `$Latest`/`$Default` or
//! takes its AMI from SSM ("RollbackInstanceRefresh",
//! https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RollbackInstanceRefresh.html).
//! `amiroll rollback` then cancels the refresh ("CancelInstanceRefresh": "this does not roll back
//! any changes that it made",
//! https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CancelInstanceRefresh.html) and
//! starts a refresh back onto the rollback version, which replaces what the cancelled one
//! launched. A refresh cannot start while another is `Cancelling`, so the refresh back may have
//! to wait for a later run: the [`Cancel`] record, written before the cancel, lets every run —
//! `amiroll rollback` or a plain `amiroll apply` — take it on from where it stands, until the
//! refresh back has ended.

use super::*;
use crate::state::{Cancel, Failure, Pin, Refresh};

/// What a group with a [`Cancel`] record has.
pub(crate) struct CancelInput<'a> {
    pub(crate) group: &'a AutoScalingGroup,
    /// How the group names its version (`$Default`, `7`).
    pub(crate) spec_text: &'a str,
    pub(crate) record: &'a Cancel,
    /// The group's refreshes, newest first.
    pub(crate) refreshes: &'a [InstanceRefresh],
    pub(crate) template_id: &'a str,
    /// The version the fleet goes back to and its AMI (the group's `amiroll:rollback-version`).
    pub(crate) back: Option<(u64, &'a str)>,
    pub(crate) settings: &'a TargetSettings,
    pub(crate) provider: Option<&'a CapacityProvider>,
    pub(crate) now: Timestamp,
}

/// Where the rollback of a cancelled refresh stands.
pub(crate) enum CancelStep {
    /// The refresh back is in flight: these actions (the failure record, if a run stopped
    /// before it), then the refresh state machine follows it.
    Following(Vec<PlannedAction>),
    /// The refresh back has ended: these actions (the record goes, and the failure record if
    /// missing), then the refresh state machine announces the outcome.
    Ended(Vec<PlannedAction>),
    /// The refresh back has not started yet: what to do now.
    Continue(CancelPlan),
}

pub(crate) struct CancelPlan {
    pub(crate) actions: Vec<PlannedAction>,
    /// The group's state, for the report.
    pub(crate) state: String,
    pub(crate) warning: Option<String>,
    /// The version new launches go back to (`None`: none is recorded).
    pub(crate) back: Option<u64>,
}

/// The failure record of the AMI a rollback rolls away from.
pub(crate) fn mark_failed(group: &str, ami: &str, now: Timestamp) -> Action {
    Action::TagGroup {
        group: group.to_string(),
        tags: Failure::of(
            ami,
            format!("rolled back by `amiroll rollback` at {}", fmt_time(now)),
        )
        .to_tags(),
    }
}

/// A refresh of `g` back onto version `back` (`back_ami`): the record of the AMI it rolls to
/// (and, for a group that names `$Default`/`$Latest`, how it did: the refresh leaves it on the
/// numbered version), the previous refresh forgotten, then the start. `after_cancel`: a
/// refresh amiroll cancelled, which must have ended first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn refresh_back(
    g: &AutoScalingGroup,
    spec_text: &str,
    template_id: &str,
    (back, back_ami): (u64, &str),
    settings: &TargetSettings,
    provider: Option<&CapacityProvider>,
    after_cancel: Option<&str>,
    reason: String,
) -> Vec<PlannedAction> {
    // ECS managed termination protection: replace protected instances too.
    let prefs = refresh_preferences(settings, provider, false, true);
    let mut record = Refresh::to_ami(back_ami).to_tags();
    if spec_text.parse::<u64>().is_err() && !g.tags.contains_key(tags::PINNED_FROM) {
        record.extend(
            Pin {
                from: spec_text.to_string(),
            }
            .to_tags(),
        );
    }
    vec![
        PlannedAction {
            action: Action::TagGroup {
                group: g.name.clone(),
                tags: record,
            },
            reason: "record the AMI this refresh rolls back to".to_string(),
        },
        PlannedAction {
            action: Action::UntagGroup {
                group: g.name.clone(),
                keys: vec![tags::REFRESH.to_string(), tags::ANNOUNCED.to_string()],
            },
            reason: "forget the previous refresh".to_string(),
        },
        PlannedAction {
            action: Action::StartInstanceRefresh {
                group: g.name.clone(),
                template_id: template_id.to_string(),
                version: Some(VersionRef::Number(back)),
                preferences: prefs,
                mixed_instances_policy: g.mixed_instances_policy.clone(),
                after_cancel: after_cancel.map(str::to_string),
            },
            reason,
        },
    ]
}

/// The next step of the rollback of a cancelled refresh.
pub(crate) fn cancel_step(inp: &CancelInput) -> CancelStep {
    let (g, c) = (inp.group, inp.record);
    let at = inp.refreshes.iter().position(|r| r.id == c.refresh);
    // A refresh newer than the cancelled one is the refresh back (amiroll records its id).
    let newer = match at {
        Some(i) => inp.refreshes[..i].first(),
        None => inp.refreshes.first().filter(|r| {
            Refresh::from_tags(&g.tags).and_then(|x| x.id).as_deref() == Some(r.id.as_str())
        }),
    };
    let failed = c
        .ami
        .as_deref()
        .filter(|a| Failure::ami_in(&g.tags) != Some(*a));
    let mark = failed.map(|bad| PlannedAction {
        action: mark_failed(&g.name, bad, inp.now),
        reason: format!("do not roll forward to {bad} again"),
    });
    if let Some(r) = newer {
        if !r.is_terminal() {
            return CancelStep::Following(mark.into_iter().collect());
        }
        let untag = PlannedAction {
            action: Action::UntagGroup {
                group: g.name.clone(),
                keys: Cancel::keys(),
            },
            reason: format!(
                "the refresh back, {}, ended {}: the cancel of {} is over",
                r.id, r.status, c.refresh
            ),
        };
        return CancelStep::Ended([untag].into_iter().chain(mark).collect());
    }
    let cancelled = at.map(|i| &inp.refreshes[i]);
    let mut actions = Vec::new();
    let Some((back, back_ami)) = inp.back else {
        actions.extend(mark);
        return CancelStep::Continue(CancelPlan {
            actions,
            state: format!("instance refresh {} cancelled; no version to go back to is recorded", c.refresh),
            warning: Some(format!(
                "group `{}`: `amiroll rollback` cancelled instance refresh {}, but the version to go back to ({}) is gone or has no AMI; the instances it launched stay — run `amiroll rollback` again",
                g.name, c.refresh, tags::ROLLBACK_VERSION
            )),
            back: None,
        });
    };
    // What happens to the cancelled refresh now, and why the refresh back follows.
    let (why, state) = match cancelled.map(|r| (r, r.status.as_str())) {
        Some((r, "Pending" | "InProgress" | "Baking")) => {
            actions.push(PlannedAction {
                action: Action::CancelInstanceRefresh {
                    group: g.name.clone(),
                    refresh: r.id.clone(),
                },
                reason: "Auto Scaling cannot roll it back: cancel it — what it replaced stays, nothing more is replaced".to_string(),
            });
            (
                Some(format!(
                    "once instance refresh {} is cancelled (at once, or by a later run)",
                    r.id
                )),
                format!(
                    "cancelling instance refresh {}; then a refresh back to v{back} ({back_ami})",
                    r.id
                ),
            )
        }
        Some((r, status)) if !r.is_terminal() => (
            None,
            format!(
                "instance refresh {} is {status}; the refresh back to v{back} ({back_ami}) starts once it has ended",
                r.id
            ),
        ),
        ended => {
            let how = ended
                .map(|(_, status)| format!("ended {status}"))
                .unwrap_or_else(|| "is no longer listed".to_string());
            (
                Some(format!(
                    "instance refresh {} (cancelled by `amiroll rollback`) {how}",
                    c.refresh
                )),
                format!(
                    "instance refresh {} {how}; refresh back to v{back} ({back_ami})",
                    c.refresh
                ),
            )
        }
    };
    if let Some(why) = why {
        actions.extend(refresh_back(
            g,
            inp.spec_text,
            inp.template_id,
            (back, back_ami),
            inp.settings,
            inp.provider,
            Some(&c.refresh),
            format!(
                "{why}; replace the instances it launched{} with v{back} ({back_ami})",
                c.ami
                    .as_deref()
                    .map(|a| format!(" on {a}"))
                    .unwrap_or_default()
            ),
        ));
    }
    actions.extend(mark);
    CancelStep::Continue(CancelPlan {
        actions,
        state,
        warning: None,
        back: Some(back),
    })
}
