//! Small conversions between SDK shapes and the port's.

use amiroll_core::port::{TemplateSpec, Timestamp};
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_smithy_types::DateTime;
use chrono::Utc;

/// An SDK timestamp as a port timestamp (`None` if out of chrono's range).
pub(crate) fn timestamp(t: &DateTime) -> Option<Timestamp> {
    chrono::DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

/// A port timestamp as an SDK timestamp.
pub(crate) fn smithy_time(t: &Timestamp) -> DateTime {
    DateTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

/// EC2 reports some times as ISO-8601 strings (`Image.CreationDate`, `Image.DeprecationTime`).
pub(crate) fn parse_iso8601(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A launch-template version number as EC2 reports it (a `Long`).
pub(crate) fn version_number(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

pub(crate) fn template_spec(spec: &LaunchTemplateSpecification) -> TemplateSpec {
    TemplateSpec {
        template_id: spec.launch_template_id().map(str::to_owned),
        template_name: spec.launch_template_name().map(str::to_owned),
        version: spec.version().map(str::to_owned),
    }
}

pub(crate) fn sdk_template_spec(spec: &TemplateSpec) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .set_launch_template_id(spec.template_id.clone())
        .set_launch_template_name(spec.template_name.clone())
        .set_version(spec.version.clone())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 11, 26, 10, 30, 5).single();
        let Some(t) = t else { panic!("valid date") };
        let t = t + chrono::Duration::milliseconds(250);
        assert_eq!(timestamp(&smithy_time(&t)), Some(t));
    }

    #[test]
    fn ec2_iso_strings_parse() {
        let parsed = parse_iso8601("2024-03-01T12:00:00.000Z");
        assert_eq!(
            parsed,
            Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).single(),
            "CreationDate format"
        );
        assert_eq!(parse_iso8601("not a date"), None);
    }

    #[test]
    fn negative_version_numbers_are_rejected() {
        assert_eq!(version_number(3), Some(3));
        assert_eq!(version_number(-1), None);
    }
}
