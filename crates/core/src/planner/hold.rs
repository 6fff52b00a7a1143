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
