//! The gates that hold a new rollout back: soak, maintenance window, waves.

use super::*;
use crate::state::{Failure, Success};

/// Soak, maintenance window and wave: the first gate that holds a new rollout back.
pub(crate) fn gate_reason(
    t: &Target,
    all: &[Target],
    obs: &Observation,
    ami: &str,
    created: Option<Timestamp>,
) -> Option<String> {
    let s = &t.settings;
    let now = obs.now;
    if s.min_ami_age_secs > 0 {
        match created {
            Some(c) => {
                if let Some(at) = gates::soak_until(c, s.min_ami_age_secs, now) {
                    return Some(format!(
                        "{ami} was created {} and is younger than min_ami_age ({}); it becomes eligible at {}",
                        fmt_time(c),
                        humantime::format_duration(std::time::Duration::from_secs(s.min_ami_age_secs)),
                        fmt_time(at)
                    ));
                }
            }
            None => {
                return Some(format!(
                    "{ami} has no creation date, so min_ami_age cannot be checked"
                ))
            }
        }
    }
    if let Some(w) = &s.maintenance_window {
        match gates::window_state(w, now) {
            // A surge round must end inside the window: its surge, its health gate and its
            // settle (allowing for a late scheduled action) all fall before the window closes.
            Ok(gates::WindowState::Open { closes })
                if s.strategy == Strategy::ScheduledSurge
                    && now
                        + Duration::minutes(
                            SURGE_LEAD_MINUTES
                                + s.surge_minutes as i64
                                + crate::planner::surge::LATE_ACTION_MINUTES,
                        )
                        > closes =>
            {
                let opens = gates::window_state(w, closes + Duration::seconds(1))
                    .ok()
                    .and_then(|st| match st {
                        gates::WindowState::Closed { opens } => Some(opens),
                        gates::WindowState::Open { .. } => None,
                    });
                return Some(format!(
                    "the maintenance window `{}` ({}) closes at {}, before a surge round started now would end; it next opens at {}",
                    w.cron,
                    w.time_zone,
                    fmt_time(closes),
                    opens.map(fmt_time).unwrap_or_else(|| "an unknown time".to_string())
                ));
            }
            Ok(gates::WindowState::Open { .. }) => {}
            Ok(gates::WindowState::Closed { opens }) => {
                return Some(format!(
                    "outside the maintenance window `{}` ({}); it next opens at {}",
                    w.cron,
                    w.time_zone,
                    fmt_time(opens)
                ))
            }
            Err(e) => return Some(e),
        }
    }
    if let Some(prev_name) = &s.after {
        let prev = all.iter().find(|x| &x.name == prev_name)?;
        let groups: Vec<&AutoScalingGroup> = prev
            .groups
            .iter()
            .filter_map(|g| obs.groups.get(g))
            .collect();
        if groups.is_empty() {
            return Some(format!(
                "waits for target `{prev_name}`, whose groups could not be observed"
            ));
        }
        let mut since: Option<Timestamp> = None;
        let prev_template = obs
            .templates
            .get(&prev.launch_template)
            .map(|t| t.template.id.clone())
            .unwrap_or_default();
        for g in &groups {
            if Failure::ami_in(&g.tags) == Some(ami) {
                return Some(format!(
                    "waits for target `{prev_name}`: its rollout to {ami} failed on group `{}`",
                    g.name
                ));
            }
            if let Err(why) = healthy_on(g, obs, &prev_template, ami) {
                if Success::ami_in(&g.tags) == Some(ami) {
                    return Some(format!(
                        "waits for target `{prev_name}`: it recorded {ami} as a success, but now {why}"
                    ));
                }
            }
            match Success::from_tags(&g.tags) {
                Ok(Some(done)) if done.ami == ami => {
                    since = Some(since.map_or(done.at, |s: Timestamp| s.max(done.at)))
                }
                // A success whose time cannot be read does not count, and says which tag.
                Err(e) if Success::ami_in(&g.tags) == Some(ami) => {
                    return Some(format!(
                        "waits for target `{prev_name}` to run {ami} successfully (group `{}`: {e})",
                        g.name
                    ))
                }
                _ => {
                    return Some(format!(
                        "waits for target `{prev_name}` to run {ami} successfully (group `{}` has not yet)",
                        g.name
                    ))
                }
            }
        }
        let since = since?;
        let ready = since + Duration::seconds(s.after_soak_secs as i64);
        if now < ready {
            return Some(format!(
                "target `{prev_name}` has run {ami} since {}; after_soak holds this target until {}",
                fmt_time(since),
                fmt_time(ready)
            ));
        }
    }
    None
}

/// What holds a new rollout back, decided before the template moves (in-flight rollouts are
/// still followed).
pub(crate) struct Holds {
    /// The first reason a new rollout is held back.
    pub(crate) reason: Option<String>,
    /// The candidate failed earlier on these groups and the failure was not acknowledged.
    pub(crate) failed_block: bool,
    /// Rollouts in flight to something other than the candidate.
    pub(crate) other_flight: Vec<(String, String)>,
    /// Untags of failures the user acknowledged.
    pub(crate) acknowledgements: Vec<PlannedAction>,
}

impl Holds {
    pub(crate) fn hold(&self) -> bool {
        self.reason.is_some()
    }
}

/// The holds of a target: a failure recorded for the candidate (here or on another target that
/// shares the template), a rollout in flight to another AMI, then the gates.
pub(super) fn holds(
    b: &mut Builder,
    cx: &Ctx,
    opts: &PlanOptions,
    created: Option<Timestamp>,
) -> Holds {
    let (t, obs, views, ami) = (cx.t, cx.obs, &cx.views, cx.ami.as_str());
    // Failed earlier? Then hold everything for this AMI.
    let failed_groups: Vec<&str> = views
        .iter()
        .filter(|v| {
            crate::state::Failure::ami_in(&v.group.tags) == Some(ami)
                // A refresh to it that `amiroll rollback` cancelled: it failed, even before the
                // failure is recorded.
                || crate::state::Cancel::from_tags(&v.group.tags)
                    .and_then(|c| c.ami)
                    .as_deref()
                    == Some(ami)
                || crate::state::Recovery::from_tags(&v.group.tags)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.from == ami)
        })
        .map(|v| v.group.name.as_str())
        .collect();
    // An acknowledged failure is cleared and the AMI tried again.
    let acknowledged = opts.acknowledge.contains(&t.name);
    let acknowledgements = if acknowledged {
        views
            .iter()
            .filter(|v| v.group.tags.contains_key(tags::FAILED_AMI))
            .map(|v| PlannedAction {
                action: Action::UntagGroup {
                    group: v.group.name.clone(),
                    keys: vec![
                        tags::FAILED_AMI.to_string(),
                        tags::FAILED_REASON.to_string(),
                    ],
                },
                reason: "the failure was acknowledged (--acknowledge)".to_string(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let failed_block = !failed_groups.is_empty() && !acknowledged;

    let mut reason: Option<String> = None;
    if failed_block {
        let why = views
            .iter()
            .find_map(|v| crate::state::Failure::from_tags(&v.group.tags)?.reason)
            .unwrap_or_default();
        reason = Some(format!(
            "the rollout to {ami} failed earlier on {} ({why}); it is not retried until a newer AMI is published or the failure is acknowledged (`amiroll apply --acknowledge {}`)",
            failed_groups.join(", "),
            t.name
        ));
    }
    let flights: Vec<(String, String)> = views
        .iter()
        .filter_map(|v| {
            let g = v.group;
            if g.tags.contains_key(tags::ROLLOUT) {
                return g
                    .tags
                    .get(tags::ROLLOUT_AMI)
                    .map(|a| (g.name.clone(), a.clone()));
            }
            let active = obs
                .refreshes
                .get(&g.name)
                .and_then(|rs| rs.first())
                .filter(|r| !r.is_terminal())?;
            let refresh = crate::state::Refresh::from_tags(&g.tags).unwrap_or_default();
            let what = if refresh.id.as_deref() == Some(active.id.as_str())
                || g.tags.contains_key(tags::REFRESH_AMI)
            {
                refresh.ami.unwrap_or_default()
            } else {
                format!("an instance refresh amiroll did not start ({})", active.id)
            };
            Some((g.name.clone(), what))
        })
        .collect();
    let other_flight: Vec<(String, String)> =
        flights.iter().filter(|(_, a)| a != ami).cloned().collect();
    if reason.is_none() && !other_flight.is_empty() {
        reason = Some(format!(
            "a rollout to {} is in flight on {}; {ami} waits until it ends",
            other_flight[0].1,
            other_flight
                .iter()
                .map(|(g, _)| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // A group in an instance refresh cannot be changed: `UpdateAutoScalingGroup` is rejected
    // while a refresh with a desired configuration is active ("Update an Auto Scaling group",
    // https://docs.aws.amazon.com/autoscaling/ec2/userguide/update-auto-scaling-group.html), and
    // a surge or a re-pin would fight the refresh. Only the instance-refresh strategy follows
    // one; every other strategy waits for it to end.
    if reason.is_none() && cx.t.settings.strategy != Strategy::InstanceRefresh {
        let refreshing: Vec<&str> = views
            .iter()
            .filter(|v| refresh_active(obs, &v.group.name))
            .map(|v| v.group.name.as_str())
            .collect();
        if !refreshing.is_empty() {
            reason = Some(format!(
                "an instance refresh is in progress on {}; amiroll changes no group while one runs and waits until it ends",
                refreshing.join(", ")
            ));
        }
    }
    // The AMI failed on a group of another target that shares this template: the template's
    // default must not move to it, so this target holds too.
    if reason.is_none() && !acknowledged {
        let elsewhere: Vec<&str> = obs
            .groups
            .values()
            .filter(|g| !views.iter().any(|v| v.group.name == g.name))
            .filter(|g| crate::state::Failure::ami_in(&g.tags) == Some(ami))
            .filter(|g| {
                let spec = g
                    .launch_template
                    .as_ref()
                    .or(g.mixed_instances_policy.as_ref().map(|m| &m.template));
                spec.is_some_and(|s| {
                    s.template_id.as_deref() == Some(cx.template_id)
                        || s.template_name.as_deref() == Some(cx.tmpl.template.name.as_str())
                })
            })
            .map(|g| g.name.as_str())
            .collect();
        if !elsewhere.is_empty() {
            reason = Some(format!(
                "the rollout to {ami} failed on group(s) {} of another target, which share launch template `{}`; its default does not move to {ami} (acknowledge the failure there to retry)",
                elsewhere.join(", "),
                t.launch_template
            ));
        }
    }
    if reason.is_none() && flights.is_empty() {
        reason = gate_reason(t, cx.all, obs, ami, created);
    }
    if let Some(r) = &reason {
        if other_flight.is_empty() {
            b.info(r.clone());
        } else {
            // A newer AMI was published while a rollout is in flight: say so.
            b.warn(r.clone());
        }
    }
    Holds {
        reason,
        failed_block,
        other_flight,
        acknowledgements,
    }
}
