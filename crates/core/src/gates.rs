//! Gates that decide when a rollout may start: AMI soak, maintenance window, waves.
//!
//! Pure functions of the configuration, the observation and `now`.

use std::str::FromStr;

use chrono::{Duration, TimeZone};
use chrono_tz::Tz;
use croner::Cron;
use serde::Serialize;

use crate::port::Timestamp;

/// A maintenance window: starts at each occurrence of a cron expression (5 fields) in a time
/// zone and lasts `duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MaintenanceWindow {
    pub cron: String,
    pub time_zone: String,
    pub duration_secs: u64,
}

fn parse(w: &MaintenanceWindow) -> Result<(Cron, Tz), String> {
    let fields = w.cron.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "`maintenance_window` = \"{}\" must be a 5-field cron expression (minute hour day-of-month month day-of-week)",
            w.cron
        ));
    }
    let cron = Cron::from_str(&w.cron).map_err(|e| {
        format!(
            "`maintenance_window` = \"{}\" is not a cron expression: {e}",
            w.cron
        )
    })?;
    let tz = Tz::from_str(&w.time_zone).map_err(|_| {
        format!(
            "`time_zone` = \"{}\" is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)",
            w.time_zone
        )
    })?;
    Ok((cron, tz))
}

/// Check a window at configuration time.
pub fn validate_window(w: &MaintenanceWindow) -> Result<(), String> {
    parse(w)?;
    if w.duration_secs == 0 || w.duration_secs > 7 * 24 * 3600 {
        return Err("`maintenance_window_duration` must be between 1s and 7d".to_string());
    }
    Ok(())
}

/// Where `now` is relative to a maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    Open { closes: Timestamp },
    Closed { opens: Timestamp },
}

/// Whether `now` is inside the window, and if not, when it next opens.
pub fn window_state(w: &MaintenanceWindow, now: Timestamp) -> Result<WindowState, String> {
    let (cron, tz) = parse(w)?;
    let local_now = tz.from_utc_datetime(&now.naive_utc());
    let duration = Duration::seconds(w.duration_secs as i64);
    // The latest opening at or before now: if it is less than `duration` ago, we are inside.
    if let Ok(prev) = cron.find_previous_occurrence(&local_now, true) {
        let opened = prev.with_timezone(&chrono::Utc);
        if now < opened + duration {
            return Ok(WindowState::Open {
                closes: opened + duration,
            });
        }
    }
    let next = cron
        .find_next_occurrence(&local_now, false)
        .map_err(|e| format!("`maintenance_window` = \"{}\" never opens: {e}", w.cron))?;
    Ok(WindowState::Closed {
        opens: next.with_timezone(&chrono::Utc),
    })
}

/// When an AMI created at `created` has soaked for `min_age_secs`; `None` if it already has.
pub fn soak_until(created: Timestamp, min_age_secs: u64, now: Timestamp) -> Option<Timestamp> {
    let eligible = created + Duration::seconds(min_age_secs as i64);
    (eligible > now).then_some(eligible)
}

/// The next occurrence at or after `from` of an Auto Scaling `Recurrence` (Unix cron, five
/// fields, read in UTC: "Scheduled scaling for Amazon EC2 Auto Scaling",
/// https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html;
/// an action's `TimeZone` is not read by amiroll). `None` if it does not parse or never occurs.
pub fn next_cron(recurrence: &str, from: Timestamp) -> Option<Timestamp> {
    if recurrence.split_whitespace().count() != 5 {
        return None;
    }
    let cron = Cron::from_str(recurrence).ok()?;
    cron.find_next_occurrence(&from, true).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn window(cron: &str, tz: &str, hours: u64) -> MaintenanceWindow {
        MaintenanceWindow {
            cron: cron.to_string(),
            time_zone: tz.to_string(),
            duration_secs: hours * 3600,
        }
    }

    #[test]
    fn window_opens_and_closes_in_its_time_zone() {
        // Saturdays 02:00–06:00 in Berlin (UTC+1 in November).
        let w = window("0 2 * * SAT", "Europe/Berlin", 4);
        assert_eq!(
            window_state(&w, at("2026-11-26T13:00:00Z")),
            Ok(WindowState::Closed {
                opens: at("2026-11-28T01:00:00Z")
            })
        );
        assert_eq!(
            window_state(&w, at("2026-11-28T01:00:00Z")),
            Ok(WindowState::Open {
                closes: at("2026-11-28T05:00:00Z")
            })
        );
        assert!(matches!(
            window_state(&w, at("2026-11-28T04:59:00Z")),
            Ok(WindowState::Open { .. })
        ));
        assert!(matches!(
            window_state(&w, at("2026-11-28T05:00:00Z")),
            Ok(WindowState::Closed { .. })
        ));
    }

    #[test]
    fn bad_windows_are_named() {
        assert!(validate_window(&window("0 2 * *", "UTC", 1))
            .unwrap_err()
            .contains("5-field"));
        assert!(validate_window(&window("0 2 * * FUNDAY", "UTC", 1))
            .unwrap_err()
            .contains("maintenance_window"));
        assert!(validate_window(&window("0 2 * * SAT", "Mars/Olympus", 1))
            .unwrap_err()
            .contains("time_zone"));
    }

    #[test]
    fn soak_says_when_an_ami_becomes_eligible() {
        let created = at("2026-11-25T00:00:00Z");
        let now = at("2026-11-26T13:00:00Z");
        assert_eq!(
            soak_until(created, 3 * 86400, now),
            Some(at("2026-11-28T00:00:00Z"))
        );
        assert_eq!(soak_until(created, 86400, now), None);
    }
}
