use amiroll_core::port::{op, Aws, BlockDeviceMapping, EbsBlockDevice, ErrorKind};
use futures::executor::block_on;

use super::{account, fleet, version_request};
use crate::{GroupSpec, TemplateData};

#[test]
fn create_version_inherits_source_and_overwrites_only_image_id() {
    let (sim, lt) = account();
    let v =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "tok-1")))
            .expect("create");
    assert_eq!(v.version, 2);
    assert_eq!(v.template_id, lt);
    assert_eq!(v.image_id.as_deref(), Some("ami-new"));
    assert_eq!(v.instance_type.as_deref(), Some("t3.small"));
    assert_eq!(v.description.as_deref(), Some("amiroll: ami-new"));
    assert!(!v.is_default);
    assert_eq!(v.create_time, Some(sim.now()));

    let v1 = sim.template_version_data(&lt, 1).expect("v1");
    let v2 = sim.template_version_data(&lt, 2).expect("v2");
    assert_eq!(v2.user_data, v1.user_data);
    assert!(v2.user_data.is_some());
    assert_eq!(
        v2.other.get("SecurityGroupIds").map(String::as_str),
        Some("sg-1")
    );
    assert_eq!(v2.image_id.as_deref(), Some("ami-new"));

    // Creating a version moves $Latest only, never the default.
    let header = sim.template(&lt);
    assert_eq!((header.default_version, header.latest_version), (1, 2));
}

#[test]
fn create_version_inherits_from_the_named_source_not_the_latest() {
    let (sim, lt) = account();
    // An "experimental" latest version with another instance type and an extra parameter.
    let v2 = sim
        .create_launch_template_version_raw(
            &lt,
            Some(1),
            TemplateData {
                instance_type: Some("m5.large".to_string()),
                ..TemplateData::default()
            }
            .with("KeyName", "debug"),
            Some("experimental"),
        )
        .expect("raw version");
    assert_eq!(v2, 2);
    let raw = sim.template_version_data(&lt, 2).expect("v2");
    assert_eq!(
        raw.image_id.as_deref(),
        Some("ami-old"),
        "raw version inherits too"
    );
    assert_eq!(raw.instance_type.as_deref(), Some("m5.large"));

    let v3 =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "tok")))
            .expect("create");
    assert_eq!(v3.version, 3);
    let data = sim.template_version_data(&lt, 3).expect("v3");
    assert_eq!(data.instance_type.as_deref(), Some("t3.small"));
    assert!(!data.other.contains_key("KeyName"));

    // Without a source a raw version holds only what is given.
    let v4 = sim
        .create_launch_template_version_raw(
            &lt,
            None,
            TemplateData::new("ami-new", "t3.micro"),
            None,
        )
        .expect("raw");
    let data = sim.template_version_data(&lt, v4).expect("v4");
    assert_eq!(data.user_data, None);
    assert!(data.other.is_empty());
}

#[test]
fn create_version_errors() {
    let (sim, lt) = account();
    let missing_source =
        block_on(sim.create_launch_template_version(&version_request(&lt, 9, "ami-new", "a")))
            .expect_err("missing source");
    assert_eq!(missing_source.kind, ErrorKind::NotFound);
    assert_eq!(
        missing_source.code,
        "InvalidLaunchTemplateId.VersionNotFound"
    );
    assert_eq!(missing_source.operation, op::CREATE_LAUNCH_TEMPLATE_VERSION);

    let missing_template = block_on(sim.create_launch_template_version(&version_request(
        "lt-0000000000000099",
        1,
        "ami-new",
        "b",
    )))
    .expect_err("missing template");
    assert_eq!(missing_template.kind, ErrorKind::NotFound);
    assert_eq!(missing_template.code, "InvalidLaunchTemplateId.NotFound");

    let mut long = version_request(&lt, 1, "ami-new", "c");
    long.description = "x".repeat(256);
    let too_long = block_on(sim.create_launch_template_version(&long)).expect_err("256 chars");
    assert_eq!(too_long.kind, ErrorKind::Invalid);
    long.description = "x".repeat(255);
    let ok = block_on(sim.create_launch_template_version(&long)).expect("255 chars");
    assert_eq!(ok.version, 2);
    // Only the successful call created anything.
    assert_eq!(sim.template(&lt).latest_version, 2);
    assert_eq!(sim.template_versions(&lt).len(), 2);
}

#[test]
fn client_token_replay_returns_the_original_and_creates_nothing() {
    let (sim, lt) = account();
    let req = version_request(&lt, 1, "ami-new", "lt-1/1/ami-new");
    let first = block_on(sim.create_launch_template_version(&req)).expect("first");
    let again = block_on(sim.create_launch_template_version(&req)).expect("replay");
    assert_eq!(first, again);
    assert_eq!(sim.template_versions(&lt).len(), 2);
    assert_eq!(sim.template(&lt).latest_version, 2);
    assert_eq!(sim.call_count(op::CREATE_LAUNCH_TEMPLATE_VERSION), 2);

    // The replay reports the version's current default flag.
    block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("default");
    let replay = block_on(sim.create_launch_template_version(&req)).expect("replay");
    assert!(replay.is_default);
    assert_eq!(replay.version, 2);
}

#[test]
fn client_token_with_different_parameters_is_a_mismatch() {
    let (sim, lt) = account();
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "tok")))
        .expect("first");
    let err =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-arm", "tok")))
            .expect_err("mismatch");
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(err.code, "IdempotentParameterMismatch");
    assert_eq!(sim.template_versions(&lt).len(), 2);
    // Another token with the same parameters creates a second version (tokens are the only dedup).
    let other =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "tok-2")))
            .expect("other token");
    assert_eq!(other.version, 3);
}

#[test]
fn version_numbers_are_never_reused_and_latest_is_highest_existing() {
    let (sim, lt) = account();
    for (i, token) in ["a", "b"].iter().enumerate() {
        let v = block_on(
            sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", token)),
        )
        .expect("create");
        assert_eq!(v.version, i as u64 + 2);
    }
    let out = block_on(sim.delete_launch_template_versions(&lt, &[3])).expect("delete");
    assert_eq!(out.deleted, vec![3]);
    assert_eq!(sim.template(&lt).latest_version, 2);
    let v = block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "c")))
        .expect("create");
    assert_eq!(v.version, 4, "number 3 is not reissued");
    let numbers: Vec<u64> = block_on(sim.describe_launch_template_versions(&lt))
        .expect("describe")
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(numbers, vec![1, 2, 4]);
}

#[test]
fn modify_default_version() {
    let (sim, lt) = account();
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")))
        .expect("create");
    let header = block_on(sim.modify_launch_template_default_version(&lt, 2)).expect("modify");
    assert_eq!((header.default_version, header.latest_version), (2, 2));
    let versions = block_on(sim.describe_launch_template_versions(&lt)).expect("describe");
    let defaults: Vec<u64> = versions
        .iter()
        .filter(|v| v.is_default)
        .map(|v| v.version)
        .collect();
    assert_eq!(defaults, vec![2]);

    let err = block_on(sim.modify_launch_template_default_version(&lt, 7)).expect_err("missing");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.code, "InvalidLaunchTemplateId.VersionNotFound");
    assert_eq!(
        sim.template(&lt).default_version,
        2,
        "failed modify changed nothing"
    );
}

#[test]
fn describe_launch_template_by_id_or_name() {
    let (sim, lt) = account();
    let by_name = block_on(sim.describe_launch_template("web")).expect("by name");
    let by_id = block_on(sim.describe_launch_template(&lt)).expect("by id");
    assert_eq!(by_name, by_id);
    assert_eq!(by_id.name, "web");
    assert_eq!(lt, "lt-0000000000000001");

    let err = block_on(sim.describe_launch_template("lt-0000000000000042")).expect_err("id");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::NotFound, "InvalidLaunchTemplateId.NotFound")
    );
    let err = block_on(sim.describe_launch_template("nope")).expect_err("name");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (
            ErrorKind::NotFound,
            "InvalidLaunchTemplateName.NotFoundException"
        )
    );
    let err = block_on(sim.describe_launch_template_versions("nope")).expect_err("versions");
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[test]
fn delete_versions_rules() {
    let (sim, lt) = account();
    for token in ["a", "b", "c"] {
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", token)))
            .expect("create");
    }
    block_on(sim.modify_launch_template_default_version(&lt, 3)).expect("default 3");
    let out = block_on(sim.delete_launch_template_versions(&lt, &[1, 3, 9, 2])).expect("delete");
    assert_eq!(out.deleted, vec![1, 2]);
    assert_eq!(out.failed.len(), 2);
    let default = out
        .failed
        .iter()
        .find(|f| f.version == 3)
        .expect("default failed");
    assert_eq!(default.code, "unexpectedError");
    assert!(default
        .message
        .contains("default version cannot be deleted"));
    let missing = out
        .failed
        .iter()
        .find(|f| f.version == 9)
        .expect("missing failed");
    assert_eq!(missing.code, "launchTemplateVersionDoesNotExist");
    let left: Vec<u64> = sim
        .template_versions(&lt)
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(left, vec![3, 4]);

    let many: Vec<u64> = (1..=201).collect();
    let err = block_on(sim.delete_launch_template_versions(&lt, &many)).expect_err("201");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_eq!(
        sim.template_versions(&lt).len(),
        2,
        "rejected delete removed nothing"
    );

    let out = block_on(sim.delete_launch_template_versions("lt-00000000000000ff", &[1]))
        .expect("missing template is a per-version failure");
    assert_eq!(out.failed[0].code, "launchTemplateIdDoesNotExist");
}

#[test]
fn deleting_a_pinned_version_is_allowed_but_the_group_can_no_longer_launch() {
    let (sim, lt) = account();
    block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "a")))
        .expect("create");
    sim.create_group(GroupSpec::new("pinned", &lt, 1, 4, 2).with_version("2"))
        .expect("group");
    assert_eq!(sim.instances_by_ami("pinned").get("ami-new"), Some(&2));

    let out = block_on(sim.delete_launch_template_versions(&lt, &[2])).expect("delete");
    assert_eq!(out.deleted, vec![2], "EC2 does not check group references");

    sim.set_desired_capacity("pinned", 3).expect("scale out");
    sim.advance(std::time::Duration::from_secs(600));
    assert_eq!(
        sim.group("pinned").instances.len(),
        2,
        "no instance from a deleted version"
    );
    assert_eq!(sim.group_capacity("pinned"), (1, 4, 3));
    let failures: Vec<String> = sim
        .events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.contains("launch failed") && e.contains("VersionNotFound"))
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "repeated identical failures are reported once: {failures:?}"
    );

    // Re-pointing the group lets the retry succeed.
    block_on(
        sim.update_auto_scaling_group(&amiroll_core::port::UpdateGroupRequest {
            group_name: "pinned".to_string(),
            launch_template: Some(amiroll_core::port::TemplateSpec {
                template_id: Some(lt.clone()),
                template_name: None,
                version: Some("1".to_string()),
            }),
            termination_policies: None,
            ..Default::default()
        }),
    )
    .expect("update");
    assert_eq!(sim.group("pinned").instances.len(), 3);
    assert_eq!(sim.instances_by_ami("pinned").get("ami-old"), Some(&1));
}

#[test]
fn fleet_template_ids_are_deterministic() {
    let (a, lt_a) = fleet();
    let (b, lt_b) = fleet();
    assert_eq!(lt_a, lt_b);
    assert_eq!(a.group("web-asg"), b.group("web-asg"));
    assert_eq!(a.events(), b.events());
    let ids: Vec<String> = a
        .group("web-asg")
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    assert_eq!(ids[0], "i-00000000000000001");
    assert_eq!(ids.len(), 4);
}

fn data_volume(snapshot: Option<&str>) -> BlockDeviceMapping {
    BlockDeviceMapping {
        device_name: "/dev/xvdb".to_string(),
        ebs: Some(EbsBlockDevice {
            snapshot_id: snapshot.map(str::to_string),
            volume_size: Some(100),
            volume_type: Some("gp3".to_string()),
            delete_on_termination: Some(true),
            ..EbsBlockDevice::default()
        }),
        ..BlockDeviceMapping::default()
    }
}

/// "Snapshots applied to the block device mapping are ignored when creating a new version
/// unless they are explicitly included" (CreateLaunchTemplateVersion, `SourceVersion`): the
/// inherited mapping stays, without its snapshot; mappings sent again keep theirs.
#[test]
fn create_version_drops_inherited_snapshots_unless_sent_again() {
    let (sim, _) = account();
    let lt = sim
        .create_launch_template(
            "data",
            TemplateData::new("ami-old", "t3.small")
                .with_block_device(data_volume(Some("snap-0123456789abcdef0"))),
        )
        .expect("template");
    let v1 = block_on(sim.describe_launch_template_versions(&lt)).expect("describe");
    assert_eq!(
        v1[0].block_device_mappings,
        vec![data_volume(Some("snap-0123456789abcdef0"))]
    );

    let v2 =
        block_on(sim.create_launch_template_version(&version_request(&lt, 1, "ami-new", "tok-a")))
            .expect("create");
    assert_eq!(v2.block_device_mappings, vec![data_volume(None)]);

    let mut request = version_request(&lt, 1, "ami-new", "tok-b");
    request.block_device_mappings = vec![data_volume(Some("snap-0123456789abcdef0"))];
    let v3 = block_on(sim.create_launch_template_version(&request)).expect("create");
    assert_eq!(
        v3.block_device_mappings,
        vec![data_volume(Some("snap-0123456789abcdef0"))]
    );
    // Someone else's version from the console-like setup call follows the same rule.
    let v4 = sim
        .create_launch_template_version_raw(&lt, Some(1), TemplateData::default(), None)
        .expect("raw");
    assert_eq!(
        sim.template_version_data(&lt, v4)
            .expect("v4")
            .block_device_mappings,
        vec![data_volume(None)]
    );
}
