use std::collections::BTreeMap;
use std::time::Duration;

use amiroll_core::port::{op, Aws, ErrorKind, GetParametersOutput, Notification};
use futures::executor::block_on;

use super::{account, fleet, strings};
use crate::{start_time, ImageSpec};

#[test]
fn new_account_defaults() {
    let sim = crate::SimAws::new();
    assert_eq!(sim.now(), super::t("2026-11-26T13:00:00Z"));
    assert_eq!(sim.now(), start_time());
    assert!(sim.call_log().is_empty());
    let types =
        block_on(sim.describe_instance_types(&strings(&["t3.small", "m7g.large"]))).expect("types");
    assert_eq!(types[0].architectures, vec!["x86_64"]);
    assert_eq!(types[1].architectures, vec!["arm64"]);
}

#[test]
fn get_parameters_limits_selectors_and_invalid_names() {
    let sim = crate::SimAws::new();
    assert_eq!(sim.put_parameter("/ami", "ami-old"), 1);
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.put_parameter("/ami", "ami-new"), 2);

    let out = block_on(sim.get_parameters(&strings(&["/ami", "/ami:1", "/missing", "/ami:7"])))
        .expect("get");
    assert_eq!(out.parameters.len(), 2);
    assert_eq!(
        (out.parameters[0].value.as_str(), out.parameters[0].version),
        ("ami-new", 2)
    );
    assert_eq!(out.parameters[0].last_modified, Some(sim.now()));
    assert_eq!(out.parameters[0].data_type.as_deref(), Some("text"));
    assert_eq!(
        (
            out.parameters[1].name.as_str(),
            out.parameters[1].value.as_str()
        ),
        ("/ami", "ami-old")
    );
    assert_eq!(out.invalid_parameters, strings(&["/missing", "/ami:7"]));

    let eleven: Vec<String> = (0..11).map(|i| format!("/p{i}")).collect();
    let err = block_on(sim.get_parameters(&eleven)).expect_err("11 names");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationException")
    );
    // No names: an empty answer and no call, as the SDK adapter does.
    let calls = sim.call_count(op::GET_PARAMETERS);
    assert_eq!(
        block_on(sim.get_parameters(&[])).expect("0 names"),
        GetParametersOutput::default()
    );
    assert_eq!(sim.call_count(op::GET_PARAMETERS), calls);
    let ten: Vec<String> = (0..10).map(|i| format!("/p{i}")).collect();
    assert_eq!(
        block_on(sim.get_parameters(&ten))
            .expect("10")
            .invalid_parameters
            .len(),
        10
    );

    sim.put_parameter_with_type("/img", "ami-new", "aws:ec2:image");
    assert_eq!(
        sim.parameter("/img").and_then(|p| p.data_type).as_deref(),
        Some("aws:ec2:image")
    );
}

#[test]
fn describe_images_and_instance_types() {
    let (sim, _) = account();
    let deprecated = super::t("2026-11-01T00:00:00Z");
    sim.register_image(
        ImageSpec::new("ami-dep", "old", "x86_64", super::t("2024-01-01T00:00:00Z"))
            .deprecated_at(deprecated)
            .owned_by(None, Some("111122223333")),
    );
    let images = block_on(sim.describe_images(&strings(&["ami-new", "ami-gone", "ami-dep"])))
        .expect("images");
    assert_eq!(images.len(), 2, "unknown ids are skipped");
    assert_eq!(images[0].image_id, "ami-new");
    assert_eq!(images[0].state, "available");
    assert_eq!(images[0].owner_alias.as_deref(), Some("amazon"));
    assert_eq!(images[1].deprecation_time, Some(deprecated));
    assert_eq!(images[1].owner_id.as_deref(), Some("111122223333"));

    let err = block_on(sim.describe_instance_types(&strings(&["t3.small", "z9.huge"])))
        .expect_err("unknown type");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "InvalidInstanceType")
    );
    sim.add_instance_type("z9.huge", &["x86_64", "arm64"]);
    let types = block_on(sim.describe_instance_types(&strings(&["z9.huge"]))).expect("known now");
    assert_eq!(types[0].architectures.len(), 2);
}

fn note(topic: &str, subject: &str, message: &str) -> Notification {
    Notification {
        topic_arn: topic.to_string(),
        subject: subject.to_string(),
        message: message.to_string(),
        attributes: BTreeMap::from([("event".to_string(), "rollout".to_string())]),
    }
}

#[test]
fn sns_topic_and_publish_rules() {
    let sim = crate::SimAws::new();
    let topic = sim.create_topic("amiroll");
    assert_eq!(topic, "arn:aws:sns:us-east-1:123456789012:amiroll");
    block_on(sim.get_topic_attributes(&topic)).expect("exists");
    let missing = "arn:aws:sns:us-east-1:123456789012:nope";
    let err = block_on(sim.get_topic_attributes(missing)).expect_err("missing");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::NotFound, "NotFound")
    );
    let err = block_on(sim.publish(&note(missing, "s", "m"))).expect_err("missing");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::NotFound, "NotFound")
    );

    let long = "x".repeat(100);
    for (subject, message) in [(long.as_str(), "m"), ("two\nlines", "m"), ("ok", "")] {
        let err = block_on(sim.publish(&note(&topic, subject, message))).expect_err("invalid");
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Invalid, "InvalidParameter")
        );
    }
    let big = "x".repeat(262_144);
    let err = block_on(sim.publish(&note(&topic, "s", &big))).expect_err("too big with attributes");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        sim.published(&topic).is_empty(),
        "rejected messages are not stored"
    );

    let id1 = block_on(sim.publish(&note(&topic, &"y".repeat(99), "first"))).expect("99 chars");
    let id2 = block_on(sim.publish(&note(&topic, "second", "second"))).expect("second");
    assert_ne!(id1, id2);
    let published = sim.published(&topic);
    assert_eq!(published.len(), 2);
    assert_eq!(published[1].message, "second");
    assert_eq!(sim.all_published(), published);
}

/// "Publish": at most 262,144 bytes for the message and its attributes together ("Amazon SNS
/// message attributes": the name, the data type and the value all count).
#[test]
fn publish_counts_the_attributes_against_the_size_limit() {
    let sim = crate::SimAws::new();
    let topic = sim.create_topic("amiroll");
    let attributes = BTreeMap::from([
        ("event".to_string(), "rollout-failed".to_string()),
        ("target".to_string(), "wéb".to_string()),
    ]);
    // event: 5 + 6 ("String") + 14; target: 6 + 6 + 4 (é is two bytes).
    let budget = 262_144 - (5 + 6 + 14) - (6 + 6 + 4);
    let sized = |len: usize| Notification {
        topic_arn: topic.clone(),
        subject: "s".to_string(),
        message: "x".repeat(len),
        attributes: attributes.clone(),
    };
    block_on(sim.publish(&sized(budget))).expect("exactly at the limit");
    let err = block_on(sim.publish(&sized(budget + 1))).expect_err("one byte over");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "InvalidParameter")
    );
    assert!(err.message.contains("262145 bytes"), "{err}");
    assert_eq!(sim.published(&topic).len(), 1);
}

#[test]
fn group_tags() {
    let (sim, _) = fleet();
    let tags = BTreeMap::from([
        ("amiroll:rollout".to_string(), "ami-new".to_string()),
        ("team".to_string(), "web".to_string()),
    ]);
    block_on(sim.create_or_update_tags("web-asg", &tags)).expect("tag");
    assert_eq!(sim.group("web-asg").tags, tags);
    block_on(sim.delete_tags("web-asg", &strings(&["amiroll:rollout", "absent"]))).expect("delete");
    assert_eq!(sim.group("web-asg").tags.len(), 1);

    let err = block_on(sim.create_or_update_tags("nope", &tags)).expect_err("missing group");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
    let err = block_on(sim.delete_tags("nope", &strings(&["team"]))).expect_err("missing group");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError")
    );
    let reserved = BTreeMap::from([("aws:x".to_string(), "y".to_string())]);
    let err = block_on(sim.create_or_update_tags("web-asg", &reserved)).expect_err("reserved");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(sim.group("web-asg").tags.len(), 1);
}

#[test]
fn timeline_records_what_happened() {
    let (sim, lt) = fleet();
    let topic = sim.create_topic("t");
    block_on(sim.create_launch_template_version(&super::version_request(&lt, 1, "ami-new", "a")))
        .expect("create");
    block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("default");
    sim.set_desired_capacity("web-asg", 5).expect("up");
    sim.advance(Duration::from_secs(90));
    sim.set_desired_capacity("web-asg", 4).expect("down");
    block_on(sim.publish(&note(&topic, "done", "rolled"))).expect("publish");
    let events: Vec<String> = sim.events().into_iter().map(|(_, e)| e).collect();
    for needle in [
        "version 2 created from version 1 (ImageId ami-new)",
        "default version 1 -> 2",
        "launched i-00000000000000005",
        "i-00000000000000005 InService (Healthy)",
        "terminated i-00000000000000001",
        "published \"done\"",
    ] {
        assert!(
            events.iter().any(|e| e.contains(needle)),
            "missing {needle:?} in {events:#?}"
        );
    }
    let times: Vec<_> = sim.events().into_iter().map(|(t, _)| t).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timeline is in time order"
    );
}
