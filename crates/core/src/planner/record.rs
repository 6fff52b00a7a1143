//! Records the run leaves for the future: a success recorded for the waves behind a target,
//! and an outcome an earlier run could not announce, announced now.

use super::*;

/// A target that others wait for (`after`) and that runs the AMI everywhere without having
/// recorded it (strategy `none`, instances replaced by someone else, or current before amiroll
/// rolled it): record it, or the waves behind it would wait forever. The soak of the targets
/// behind it starts now. `planned` are the actions planned so far (a success recorded by them
/// counts).
pub(super) fn wave_records(
    cx: &Ctx,
    fleet: &FleetOutcome,
    planned: &[PlannedAction],
) -> Vec<PlannedAction> {
    let (t, obs, ami) = (cx.t, cx.obs, cx.ami.as_str());
    let waiting: Vec<&str> = cx
        .all
        .iter()
        .filter(|x| x.settings.after.as_deref() == Some(t.name.as_str()))
        .map(|x| x.name.as_str())
        .collect();
    if waiting.is_empty()
        || !fleet.all_converged
        || fleet.failed
        || fleet.in_flight
        || fleet.started
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for v in &cx.views {
        // Only a fleet that is whole and healthy on the AMI counts (waves trust this tag).
        if healthy_on(v.group, obs, cx.template_id, ami).is_err() {
            continue;
        }
        let recorded = crate::state::Success::ami_in(&v.group.tags) == Some(ami)
            || planned.iter().any(|a| {
                matches!(&a.action, Action::TagGroup { group, tags: t }
                    if *group == v.group.name && t.contains_key(tags::SUCCEEDED_AMI))
            });
        if recorded {
            continue;
        }
        out.push(PlannedAction {
            action: Action::TagGroup {
                group: v.group.name.clone(),
                tags: crate::state::Success {
                    ami: ami.to_string(),
                    at: obs.now,
                }
                .to_tags(),
            },
            reason: format!(
                "every instance runs {ami}; record it, because {} wait(s) for this target (after)",
                waiting
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    out
}

/// An outcome an earlier run could not announce is announced now (added to `events`), and its
/// record removed. A start never announced is superseded by an outcome of this run.
pub(super) fn late_announcements(cx: &Ctx, events: &mut Vec<Event>) -> Vec<PlannedAction> {
    let mut out = Vec::new();
    for v in &cx.views {
        // One that cannot be read is left as it is (and not announced), as ever.
        let Some(crate::state::Unannounced(e)) =
            crate::state::Unannounced::from_tags(&v.group.tags)
                .ok()
                .flatten()
        else {
            continue;
        };
        let superseded = e == Event::RolloutStarted
            && events.iter().any(|x| {
                matches!(
                    x,
                    Event::RolloutSucceeded
                        | Event::RolloutFailed
                        | Event::RolledBack
                        | Event::Cancelled
                )
            });
        if !superseded {
            events.push(e);
        }
        out.push(PlannedAction {
            action: Action::UntagGroup {
                group: v.group.name.clone(),
                keys: vec![tags::UNANNOUNCED.to_string()],
            },
            reason: format!(
                "{} was not announced by the run that reached it; announced now",
                e.as_str()
            ),
        });
    }
    out
}
