//! The adapter over real HTTP against the local AWS emulator (`tests/moto/server.py`: moto with a
//! small shim for launch-template, instance-refresh and capacity-provider behaviour moto lacks).
//!
//! Run: `python3 tests/moto/server.py 5790 &` then
//! `AMIROLL_MOTO_URL=http://127.0.0.1:5790 cargo test -p amiroll-aws -- --include-ignored`.
//! Every test makes its own uniquely named resources, so they run in parallel against one server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use amiroll_aws::{AwsAdapter, ConnectOptions};
use amiroll_core::port::{
    Aws, AwsError, BlockDeviceMapping, CapacityProvider, ContainerInstanceAttribute,
    ContainerInstanceStatus, CreateVersionRequest, DesiredTemplate, EbsBlockDevice, ErrorKind,
    InstanceOverride, InstancesDistribution, LifecycleActionResult, LifecycleHook,
    MixedInstancesPolicy, Notification, PutLifecycleHookRequest, RefreshPreferences,
    ScheduledAction, StartRefreshRequest, TemplateSpec, UpdateGroupRequest, VersionAlias,
    LIFECYCLE_TRANSITION_LAUNCHING, LIFECYCLE_TRANSITION_TERMINATING,
};
use aws_sdk_autoscaling::types as asg_types;
use aws_sdk_ec2::types as ec2_types;
use chrono::{Duration, Utc};

/// The AL2023 ECS-optimized AMI parameter moto preloads (its value is moto's snapshot; read it).
const AL2023_PARAMETER: &str =
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
const USER_DATA: &str = "ZWNobyBoZWxsbw=="; // "echo hello"

struct Env {
    adapter: AwsAdapter,
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    asg: aws_sdk_autoscaling::Client,
    sns: aws_sdk_sns::Client,
    ecs: aws_sdk_ecs::Client,
}

async fn env() -> Env {
    let url = amiroll_testkit::emulator_url();
    let conf = amiroll_testkit::sdk_config(&url, "testing", "testing").await;
    Env {
        adapter: AwsAdapter::from_conf(&conf).await,
        ssm: aws_sdk_ssm::Client::new(&conf),
        ec2: aws_sdk_ec2::Client::new(&conf),
        asg: aws_sdk_autoscaling::Client::new(&conf),
        sns: aws_sdk_sns::Client::new(&conf),
        ecs: aws_sdk_ecs::Client::new(&conf),
    }
}

/// A name no other test (or earlier run against the same server) uses.
fn unique(prefix: &str) -> String {
    amiroll_testkit::unique(&format!("amiroll-{prefix}"))
}

/// Two distinct AMIs from moto's default set: the AL2023 ECS-recommended one (from SSM) and another
/// Amazon-owned one.
async fn amis(env: &Env) -> (String, String) {
    static AMIS: OnceLock<(String, String)> = OnceLock::new();
    if let Some(pair) = AMIS.get() {
        return pair.clone();
    }
    let param = env
        .ssm
        .get_parameter()
        .name(AL2023_PARAMETER)
        .send()
        .await
        .expect("GetParameter on the public AL2023 AMI parameter");
    let current = param
        .parameter()
        .and_then(|p| p.value())
        .expect("the AL2023 parameter has a value")
        .to_owned();
    let images = env
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(
            ec2_types::Filter::builder()
                .name("name")
                .values("al2023-ami-ecs-hvm-*")
                .build(),
        )
        .send()
        .await
        .expect("DescribeImages owner amazon");
    let other = images
        .images()
        .iter()
        .filter_map(|i| i.image_id())
        .find(|id| *id != current)
        .expect("a second Amazon-owned AMI in moto's default set")
        .to_owned();
    let _ = AMIS.set((current, other));
    AMIS.get().cloned().expect("set above")
}

/// A launch template with ImageId, InstanceType and UserData; returns its id.
async fn launch_template(env: &Env, name: &str, image_id: &str) -> String {
    let out = env
        .ec2
        .create_launch_template()
        .launch_template_name(name)
        .version_description("v1")
        .launch_template_data(
            ec2_types::RequestLaunchTemplateData::builder()
                .image_id(image_id)
                .instance_type(ec2_types::InstanceType::T3Micro)
                .user_data(USER_DATA)
                .build(),
        )
        .send()
        .await
        .expect("CreateLaunchTemplate");
    out.launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("template id")
        .to_owned()
}

/// A plain SDK `CreateLaunchTemplateVersion` with only an ImageId (fixture, not the adapter).
async fn raw_version(env: &Env, template_id: &str, image_id: &str) -> i64 {
    env.ec2
        .create_launch_template_version()
        .launch_template_id(template_id)
        .source_version("1")
        .launch_template_data(
            ec2_types::RequestLaunchTemplateData::builder()
                .image_id(image_id)
                .build(),
        )
        .send()
        .await
        .expect("CreateLaunchTemplateVersion fixture")
        .launch_template_version()
        .and_then(|v| v.version_number())
        .expect("version number")
}

/// A group of one instance on `template_id` `$Default`, tagged `team=amiroll`.
async fn group(env: &Env, name: &str, template_id: &str) {
    env.asg
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(1)
        .max_size(3)
        .desired_capacity(1)
        .availability_zones("us-east-1a")
        .launch_template(
            asg_types::LaunchTemplateSpecification::builder()
                .launch_template_id(template_id)
                .version("$Default")
                .build(),
        )
        .termination_policies("OldestLaunchTemplate")
        .tags(
            asg_types::Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key("team")
                .value("amiroll")
                .propagate_at_launch(false)
                .build(),
        )
        .send()
        .await
        .expect("CreateAutoScalingGroup");
}

/// A template with two versions (v2 on the other AMI) and a group of one instance on its
/// `$Default`: what an instance refresh test starts from. Returns (template id, group name).
async fn two_version_group(env: &Env) -> (String, String) {
    let (current, other) = amis(env).await;
    let id = launch_template(env, &unique("lt"), &current).await;
    raw_version(env, &id, &other).await;
    let name = unique("asg");
    group(env, &name, &id).await;
    (id, name)
}

/// `UpdateAutoScalingGroup` re-pointing group `name` to version `version` of template `id`.
fn pin_to(name: &str, id: &str, version: u64) -> UpdateGroupRequest {
    UpdateGroupRequest {
        group_name: name.to_owned(),
        launch_template: Some(TemplateSpec {
            template_id: Some(id.to_owned()),
            template_name: None,
            version: Some(version.to_string()),
        }),
        ..UpdateGroupRequest::default()
    }
}

async fn topic(env: &Env) -> String {
    env.sns
        .create_topic()
        .name(unique("topic"))
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("topic arn")
        .to_owned()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// --- SSM -------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn get_parameters_reads_public_and_own_parameters_and_lists_unknown_names() {
    let env = env().await;
    let (current, other) = amis(&env).await;
    let own = format!("/amiroll-test/{}", unique("param"));
    for value in [&other, &current] {
        env.ssm
            .put_parameter()
            .name(&own)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .data_type("aws:ec2:image")
            .overwrite(true)
            .send()
            .await
            .expect("PutParameter");
    }
    let missing = format!("/amiroll-test/{}", unique("missing"));

    let out = env
        .adapter
        .get_parameters(&[AL2023_PARAMETER.to_owned(), own.clone(), missing.clone()])
        .await
        .expect("get_parameters");

    assert_eq!(out.invalid_parameters, vec![missing]);
    assert_eq!(out.parameters.len(), 2);
    let public = out
        .parameters
        .iter()
        .find(|p| p.name == AL2023_PARAMETER)
        .expect("public parameter returned");
    assert_eq!(public.value, current);
    assert!(public.version >= 1);
    let mine = out
        .parameters
        .iter()
        .find(|p| p.name == own)
        .expect("own parameter returned");
    assert_eq!(mine.value, current);
    assert_eq!(mine.version, 2, "the overwrite bumped the version");
    assert_eq!(mine.data_type.as_deref(), Some("aws:ec2:image"));
    assert!(mine.last_modified.is_some());

    let none = env.adapter.get_parameters(&[]).await.expect("no names");
    assert!(none.parameters.is_empty() && none.invalid_parameters.is_empty());
}

// --- EC2 images and instance types ------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_images_leaves_out_unknown_and_malformed_ids() {
    let env = env().await;
    let (current, other) = amis(&env).await;

    let images = env
        .adapter
        .describe_images(&[
            current.clone(),
            "not-an-ami".to_owned(),
            "ami-00000000000000000".to_owned(),
            other.clone(),
            current.clone(),
        ])
        .await
        .expect("describe_images with bad ids mixed in");

    let ids: BTreeSet<_> = images.iter().map(|i| i.image_id.clone()).collect();
    assert_eq!(ids, BTreeSet::from([current.clone(), other.clone()]));
    assert_eq!(images.len(), 2, "each id once");
    for image in &images {
        assert_eq!(image.state, "available");
        assert!(!image.architecture.is_empty());
        assert!(image.creation_date.is_some(), "{image:?}");
        assert!(image.name.is_some(), "{image:?}");
        assert!(image.owner_id.is_some(), "{image:?}");
    }

    let unknown = env
        .adapter
        .describe_images(&strings(&["ami-00000000000000000"]))
        .await
        .expect("only unknown ids");
    assert!(unknown.is_empty());
    assert!(env
        .adapter
        .describe_images(&[])
        .await
        .expect("no ids")
        .is_empty());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_instance_types_reports_architectures() {
    let env = env().await;
    let infos = env
        .adapter
        .describe_instance_types(&strings(&["t3.micro", "m6g.large"]))
        .await
        .expect("describe_instance_types");
    let by_type: BTreeMap<_, _> = infos
        .into_iter()
        .map(|i| (i.instance_type, i.architectures))
        .collect();
    assert_eq!(by_type.len(), 2);
    assert_eq!(by_type["t3.micro"], vec!["x86_64".to_owned()]);
    assert_eq!(by_type["m6g.large"], vec!["arm64".to_owned()]);
}

// --- EC2 launch templates ---------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_launch_template_by_id_and_name_and_missing() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let name = unique("lt");
    let id = launch_template(&env, &name, &current).await;

    let by_id = env
        .adapter
        .describe_launch_template(&id)
        .await
        .expect("by id");
    assert_eq!(by_id.id, id);
    assert_eq!(by_id.name, name);
    assert_eq!((by_id.default_version, by_id.latest_version), (1, 1));

    let by_name = env
        .adapter
        .describe_launch_template(&name)
        .await
        .expect("by name");
    assert_eq!(by_name, by_id);

    let missing_id = env
        .adapter
        .describe_launch_template("lt-0123456789abcdef0")
        .await
        .expect_err("unknown id");
    assert_eq!(missing_id.kind, ErrorKind::NotFound, "{missing_id}");
    assert_eq!(missing_id.operation, "ec2:DescribeLaunchTemplates");

    let missing_name = env
        .adapter
        .describe_launch_template(&unique("no-such-template"))
        .await
        .expect_err("unknown name");
    assert_eq!(missing_name.kind, ErrorKind::NotFound, "{missing_name}");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_launch_template_versions_lists_every_version() {
    let env = env().await;
    let (current, other) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    assert_eq!(raw_version(&env, &id, &other).await, 2);
    assert_eq!(raw_version(&env, &id, &current).await, 3);

    let mut versions = env
        .adapter
        .describe_launch_template_versions(&id)
        .await
        .expect("versions");
    versions.sort_by_key(|v| v.version);

    let numbers: Vec<u64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert!(versions.iter().all(|v| v.template_id == id));
    assert!(versions.iter().all(|v| v.create_time.is_some()));
    assert_eq!(
        versions.iter().map(|v| v.is_default).collect::<Vec<_>>(),
        vec![true, false, false]
    );
    assert_eq!(versions[0].image_id.as_deref(), Some(current.as_str()));
    assert_eq!(versions[1].image_id.as_deref(), Some(other.as_str()));
    assert_eq!(versions[0].instance_type.as_deref(), Some("t3.micro"));
    assert_eq!(versions[0].description.as_deref(), Some("v1"));

    let missing = env
        .adapter
        .describe_launch_template_versions("lt-0123456789abcdef0")
        .await
        .expect_err("unknown template");
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn create_launch_template_version_inherits_and_is_idempotent() {
    let env = env().await;
    let (current, other) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let request = CreateVersionRequest {
        template_id: id.clone(),
        source_version: 1,
        image_id: other.clone(),
        description: format!("amiroll: {other}"),
        client_token: unique("token"),
        block_device_mappings: Vec::new(),
    };

    let created = env
        .adapter
        .create_launch_template_version(&request)
        .await
        .expect("create version");
    assert_eq!(created.template_id, id);
    assert_eq!(created.version, 2);
    assert_eq!(created.image_id.as_deref(), Some(other.as_str()));
    assert_eq!(
        created.description.as_deref(),
        Some(request.description.as_str())
    );
    assert!(!created.is_default);
    // SourceVersion inheritance: the instance type came from version 1.
    assert_eq!(created.instance_type.as_deref(), Some("t3.micro"));

    // ... and so did the user data (read with the SDK: the port does not carry it).
    let v2 = env
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .versions("2")
        .send()
        .await
        .expect("describe v2");
    let data = v2
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .expect("v2 data");
    assert_eq!(data.user_data(), Some(USER_DATA));

    // ClientToken: the same request again returns the same version and creates none.
    let again = env
        .adapter
        .create_launch_template_version(&request)
        .await
        .expect("retry with the same token");
    assert_eq!(again.version, 2);
    let template = env
        .adapter
        .describe_launch_template(&id)
        .await
        .expect("template");
    assert_eq!(template.latest_version, 2, "no second version");
    let versions = env
        .adapter
        .describe_launch_template_versions(&id)
        .await
        .expect("versions");
    assert_eq!(versions.len(), 2);

    // The same token with other parameters is refused.
    let mismatch = env
        .adapter
        .create_launch_template_version(&CreateVersionRequest {
            image_id: current.clone(),
            ..request.clone()
        })
        .await
        .expect_err("token reused with different parameters");
    assert_eq!(mismatch.kind, ErrorKind::Conflict, "{mismatch}");
    assert_eq!(mismatch.code, "IdempotentParameterMismatch");
    assert_eq!(mismatch.operation, "ec2:CreateLaunchTemplateVersion");

    // An unknown source version is an error, not an empty version.
    let bad_source = env
        .adapter
        .create_launch_template_version(&CreateVersionRequest {
            source_version: 99,
            client_token: unique("token"),
            ..request
        })
        .await
        .expect_err("unknown source version");
    assert_eq!(bad_source.kind, ErrorKind::NotFound, "{bad_source}");
    assert_eq!(bad_source.code, "InvalidLaunchTemplateId.VersionNotFound");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn modify_launch_template_default_version_moves_the_default() {
    let env = env().await;
    let (current, other) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    raw_version(&env, &id, &other).await;

    let modified = env
        .adapter
        .modify_launch_template_default_version(&id, 2)
        .await
        .expect("modify");
    assert_eq!(modified.id, id);
    assert_eq!((modified.default_version, modified.latest_version), (2, 2));

    let versions = env
        .adapter
        .describe_launch_template_versions(&id)
        .await
        .expect("versions");
    let defaults: Vec<u64> = versions
        .iter()
        .filter(|v| v.is_default)
        .map(|v| v.version)
        .collect();
    assert_eq!(defaults, vec![2]);

    let missing = env
        .adapter
        .modify_launch_template_default_version(&id, 7)
        .await
        .expect_err("no version 7");
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
    assert_eq!(missing.code, "InvalidLaunchTemplateId.VersionNotFound");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn delete_launch_template_versions_reports_partial_failure() {
    let env = env().await;
    let (current, other) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    for _ in 0..3 {
        raw_version(&env, &id, &other).await;
    }

    let out = env
        .adapter
        .delete_launch_template_versions(&id, &[1, 2, 3, 99])
        .await
        .expect("a partial failure is a success response");
    let mut deleted = out.deleted.clone();
    deleted.sort_unstable();
    assert_eq!(deleted, vec![2, 3]);
    let failed: BTreeMap<u64, String> = out
        .failed
        .iter()
        .map(|f| (f.version, f.code.clone()))
        .collect();
    assert_eq!(
        failed,
        BTreeMap::from([
            (1, "unexpectedError".to_owned()),
            (99, "launchTemplateVersionDoesNotExist".to_owned()),
        ])
    );
    assert!(out.failed.iter().all(|f| !f.message.is_empty()));

    let mut left: Vec<u64> = env
        .adapter
        .describe_launch_template_versions(&id)
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version)
        .collect();
    left.sort_unstable();
    assert_eq!(left, vec![1, 4]);

    let nothing = env
        .adapter
        .delete_launch_template_versions(&id, &[])
        .await
        .expect("nothing to delete");
    assert!(nothing.deleted.is_empty() && nothing.failed.is_empty());
}

// --- Auto Scaling and instances ---------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_auto_scaling_groups_and_their_instances() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;

    let groups = env
        .adapter
        .describe_auto_scaling_groups(&[name.clone(), unique("no-such-group")])
        .await
        .expect("describe groups");
    assert_eq!(groups.len(), 1, "the missing group is absent");
    let g = &groups[0];
    assert_eq!(g.name, name);
    assert!(
        g.arn.as_deref().is_some_and(|a| a.contains(&name)),
        "{:?}",
        g.arn
    );
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (1, 3, 1));
    assert_eq!(
        g.launch_template,
        Some(TemplateSpec {
            template_id: Some(id.clone()),
            template_name: g
                .launch_template
                .as_ref()
                .and_then(|t| t.template_name.clone()),
            version: Some("$Default".to_owned()),
        })
    );
    assert_eq!(g.mixed_instances_policy, None);
    assert_eq!(
        g.termination_policies,
        vec!["OldestLaunchTemplate".to_owned()]
    );
    assert!(g.suspended_processes.is_empty());
    assert_eq!(g.tags.get("team").map(String::as_str), Some("amiroll"));
    assert_eq!(g.instances.len(), 1);
    let instance = &g.instances[0];
    assert!(instance.is_in_service(), "{instance:?}");
    assert!(instance.is_healthy(), "{instance:?}");
    assert!(!instance.protected_from_scale_in);
    assert_eq!(instance.availability_zone, "us-east-1a");

    // DescribeInstances: the AMI and the launch-template tags EC2 adds.
    let instances = env
        .adapter
        .describe_instances(&[
            instance.instance_id.clone(),
            "i-0123456789abcdef0".to_owned(),
        ])
        .await
        .expect("describe instances with an unknown id mixed in");
    assert_eq!(instances.len(), 1);
    let ec2 = &instances[0];
    assert_eq!(ec2.instance_id, instance.instance_id);
    assert_eq!(ec2.image_id, current);
    assert_eq!(ec2.state, "running");
    assert!(ec2.launch_time.is_some());
    assert_eq!(ec2.launch_template_id.as_deref(), Some(id.as_str()));
    assert_eq!(ec2.launch_template_version, Some(1));

    assert!(env
        .adapter
        .describe_auto_scaling_groups(&[])
        .await
        .expect("none")
        .is_empty());
    assert!(env
        .adapter
        .describe_instances(&[])
        .await
        .expect("none")
        .is_empty());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn group_instances_report_their_launch_version() {
    // The engine judges a current fleet's instances by the version the group records for each
    // one (no DescribeInstances): after the default moves to v2, the instance launched from v1
    // must still read v1, and the account-wide listings name v2 as default and latest.
    let env = env().await;
    let (current, other) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;
    let v2 = raw_version(&env, &id, &other).await;
    assert_eq!(v2, 2);
    env.adapter
        .modify_launch_template_default_version(&id, 2)
        .await
        .expect("default v2");

    let groups = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe group");
    let instance = &groups[0].instances[0];
    let spec = instance
        .launch_template
        .as_ref()
        .expect("instance template");
    assert_eq!(spec.template_id.as_deref(), Some(id.as_str()));
    assert_eq!(spec.version.as_deref(), Some("1"), "{instance:?}");

    for (which, number, default) in [
        (VersionAlias::Default, 2, true),
        (VersionAlias::Latest, 2, true),
    ] {
        let listed = env
            .adapter
            .describe_current_template_versions(which)
            .await
            .expect("account-wide listing");
        let ours: Vec<_> = listed.iter().filter(|v| v.template_id == id).collect();
        assert_eq!(ours.len(), 1, "{which:?}: {ours:?}");
        assert_eq!(
            (
                ours[0].version,
                ours[0].is_default,
                ours[0].image_id.as_deref()
            ),
            (number, default, Some(other.as_str())),
            "{which:?}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_auto_scaling_groups_maps_a_mixed_instances_policy() {
    let env = env().await;
    let (current, other) = amis(&env).await;
    let main = launch_template(&env, &unique("lt"), &current).await;
    let arm = launch_template(&env, &unique("lt-arm"), &other).await;
    let name = unique("asg-mixed");
    env.asg
        .create_auto_scaling_group()
        .auto_scaling_group_name(&name)
        .min_size(0)
        .max_size(2)
        .desired_capacity(0)
        .availability_zones("us-east-1a")
        .mixed_instances_policy(
            asg_types::MixedInstancesPolicy::builder()
                .launch_template(
                    asg_types::LaunchTemplate::builder()
                        .launch_template_specification(
                            asg_types::LaunchTemplateSpecification::builder()
                                .launch_template_id(&main)
                                .version("$Latest")
                                .build(),
                        )
                        .overrides(
                            asg_types::LaunchTemplateOverrides::builder()
                                .instance_type("t3.micro")
                                .build(),
                        )
                        .overrides(
                            asg_types::LaunchTemplateOverrides::builder()
                                .instance_type("m6g.medium")
                                .launch_template_specification(
                                    asg_types::LaunchTemplateSpecification::builder()
                                        .launch_template_id(&arm)
                                        .version("$Default")
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateAutoScalingGroup with a MixedInstancesPolicy");

    let groups = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe");
    let g = groups.first().expect("the group");
    assert_eq!(g.launch_template, None);
    let policy = g.mixed_instances_policy.as_ref().expect("mixed policy");
    assert_eq!(policy.template.template_id.as_deref(), Some(main.as_str()));
    assert_eq!(policy.template.version.as_deref(), Some("$Latest"));
    let types: Vec<_> = policy
        .overrides
        .iter()
        .map(|o| o.instance_type.as_deref())
        .collect();
    assert_eq!(types, vec![Some("t3.micro"), Some("m6g.medium")]);
    assert_eq!(policy.overrides[0].template, None);
    let arm_spec = policy.overrides[1]
        .template
        .as_ref()
        .expect("override template");
    assert_eq!(arm_spec.template_id.as_deref(), Some(arm.as_str()));
    assert_eq!(arm_spec.version.as_deref(), Some("$Default"));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn update_auto_scaling_group_sets_termination_policies_and_template() {
    let env = env().await;
    let (id, name) = two_version_group(&env).await;

    env.adapter
        .update_auto_scaling_group(&UpdateGroupRequest {
            group_name: name.clone(),
            launch_template: None,
            termination_policies: Some(strings(&["OldestLaunchTemplate", "OldestInstance"])),
            ..Default::default()
        })
        .await
        .expect("update termination policies");
    let g = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe")
        .pop()
        .expect("the group");
    assert_eq!(
        g.termination_policies,
        strings(&["OldestLaunchTemplate", "OldestInstance"])
    );
    assert_eq!(
        g.launch_template
            .as_ref()
            .and_then(|t| t.version.as_deref()),
        Some("$Default"),
        "the template was left alone"
    );

    env.adapter
        .update_auto_scaling_group(&UpdateGroupRequest {
            group_name: name.clone(),
            launch_template: Some(TemplateSpec {
                template_id: Some(id.clone()),
                template_name: None,
                version: Some("2".to_owned()),
            }),
            termination_policies: None,
            ..Default::default()
        })
        .await
        .expect("re-pin the template");
    let g = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe")
        .pop()
        .expect("the group");
    let spec = g.launch_template.expect("template spec");
    assert_eq!(spec.template_id.as_deref(), Some(id.as_str()));
    assert_eq!(spec.version.as_deref(), Some("2"));
    assert_eq!(
        g.termination_policies,
        strings(&["OldestLaunchTemplate", "OldestInstance"]),
        "the policies were left alone"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn update_auto_scaling_group_sets_the_sizes() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;

    // "UpdateAutoScalingGroup": MinSize, MaxSize and DesiredCapacity together; the group
    // launches to the new desired capacity.
    env.adapter
        .update_auto_scaling_group(&UpdateGroupRequest {
            group_name: name.clone(),
            min_size: Some(2),
            max_size: Some(5),
            desired_capacity: Some(3),
            ..Default::default()
        })
        .await
        .expect("set the sizes");
    let g = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe")
        .pop()
        .expect("the group");
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (2, 5, 3));
    assert_eq!(g.instances.len(), 3);
    assert_eq!(
        g.termination_policies,
        strings(&["OldestLaunchTemplate"]),
        "the policies were left alone"
    );

    // Only the desired capacity: min and max stay.
    env.adapter
        .update_auto_scaling_group(&UpdateGroupRequest {
            group_name: name.clone(),
            desired_capacity: Some(2),
            ..Default::default()
        })
        .await
        .expect("scale in");
    let g = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe")
        .pop()
        .expect("the group");
    assert_eq!((g.min_size, g.max_size, g.desired_capacity), (2, 5, 2));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn set_instance_protection_protects_and_unprotects() {
    // moto records ProtectedFromScaleIn per instance (it ignores ids outside the group and answers
    // 500 for an unknown group, so the AWS validation is tested in the simulator only).
    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;
    env.adapter
        .update_auto_scaling_group(&UpdateGroupRequest {
            group_name: name.clone(),
            desired_capacity: Some(2),
            ..Default::default()
        })
        .await
        .expect("two instances");
    let protected_ids = |g: &amiroll_core::port::AutoScalingGroup| -> BTreeSet<String> {
        g.instances
            .iter()
            .filter(|i| i.protected_from_scale_in)
            .map(|i| i.instance_id.clone())
            .collect()
    };
    let describe = || async {
        env.adapter
            .describe_auto_scaling_groups(std::slice::from_ref(&name))
            .await
            .expect("describe")
            .pop()
            .expect("the group")
    };
    let g = describe().await;
    assert_eq!(g.instances.len(), 2);
    assert!(protected_ids(&g).is_empty());
    let all: Vec<String> = g.instances.iter().map(|i| i.instance_id.clone()).collect();
    let first = all[0].clone();

    env.adapter
        .set_instance_protection(&name, &all, true)
        .await
        .expect("protect both");
    assert_eq!(
        protected_ids(&describe().await),
        all.iter().cloned().collect::<BTreeSet<_>>()
    );

    env.adapter
        .set_instance_protection(&name, std::slice::from_ref(&first), false)
        .await
        .expect("unprotect one");
    let g = describe().await;
    assert_eq!(
        protected_ids(&g),
        all[1..].iter().cloned().collect::<BTreeSet<_>>()
    );
    // Raw read: the adapter sent ProtectedFromScaleIn as a boolean, per instance.
    let raw = env
        .asg
        .describe_auto_scaling_instances()
        .set_instance_ids(Some(all.clone()))
        .send()
        .await
        .expect("DescribeAutoScalingInstances");
    let by_id: BTreeMap<&str, bool> = raw
        .auto_scaling_instances()
        .iter()
        .map(|i| {
            (
                i.instance_id().unwrap_or(""),
                i.protected_from_scale_in().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(by_id.get(first.as_str()), Some(&false));
    assert_eq!(by_id.get(all[1].as_str()), Some(&true));
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn scheduled_actions_put_describe_update_delete() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;
    // Whole seconds: the wire format may drop sub-second precision.
    let base = Utc::now() + Duration::hours(1);
    let base = base - Duration::nanoseconds(i64::from(base.timestamp_subsec_nanos()));
    let up = ScheduledAction {
        group_name: name.clone(),
        name: unique("up"),
        start_time: base,
        min_size: None,
        max_size: None,
        desired_capacity: Some(2),
        recurrence: None,
    };
    let down = ScheduledAction {
        group_name: name.clone(),
        name: unique("down"),
        start_time: base + Duration::minutes(15),
        min_size: Some(1),
        max_size: Some(3),
        desired_capacity: Some(1),
        recurrence: None,
    };
    for action in [&up, &down] {
        env.adapter
            .put_scheduled_update_group_action(action)
            .await
            .expect("put");
    }

    let mut listed = env
        .adapter
        .describe_scheduled_actions(&name)
        .await
        .expect("describe");
    listed.sort_by_key(|a| a.start_time);
    assert_eq!(listed, vec![up.clone(), down.clone()]);

    // Same name again updates it.
    let up3 = ScheduledAction {
        desired_capacity: Some(3),
        ..up.clone()
    };
    env.adapter
        .put_scheduled_update_group_action(&up3)
        .await
        .expect("update by name");
    let listed = env
        .adapter
        .describe_scheduled_actions(&name)
        .await
        .expect("describe");
    assert_eq!(listed.len(), 2);
    let updated = listed.iter().find(|a| a.name == up.name).expect("up");
    assert_eq!(updated.desired_capacity, Some(3));

    env.adapter
        .delete_scheduled_action(&name, &up.name)
        .await
        .expect("delete");
    let listed = env
        .adapter
        .describe_scheduled_actions(&name)
        .await
        .expect("describe");
    assert_eq!(listed, vec![down.clone()]);

    let missing = env
        .adapter
        .delete_scheduled_action(&name, &up.name)
        .await
        .expect_err("already deleted");
    assert_eq!(missing.operation, "autoscaling:DeleteScheduledAction");
    assert_eq!(missing.kind, ErrorKind::Invalid, "{missing}");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn group_tags_create_update_delete() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;
    let tags_of = |name: String| {
        let adapter = env.adapter.clone();
        async move {
            adapter
                .describe_auto_scaling_groups(&[name])
                .await
                .expect("describe")
                .pop()
                .expect("the group")
                .tags
        }
    };

    let tags = BTreeMap::from([
        ("amiroll:state".to_owned(), "rolling".to_owned()),
        ("amiroll:ami".to_owned(), current.clone()),
    ]);
    env.adapter
        .create_or_update_tags(&name, &tags)
        .await
        .expect("create tags");
    let seen = tags_of(name.clone()).await;
    assert_eq!(
        seen.get("amiroll:state").map(String::as_str),
        Some("rolling")
    );
    assert_eq!(seen.get("amiroll:ami"), Some(&current));
    assert_eq!(seen.get("team").map(String::as_str), Some("amiroll"));

    // PropagateAtLaunch false (read with the SDK: the port keeps only key/value).
    let described = env
        .asg
        .describe_tags()
        .filters(
            asg_types::Filter::builder()
                .name("auto-scaling-group")
                .values(&name)
                .build(),
        )
        .send()
        .await
        .expect("DescribeTags");
    let state_tag = described
        .tags()
        .iter()
        .find(|t| t.key() == Some("amiroll:state"))
        .expect("state tag");
    assert_eq!(state_tag.propagate_at_launch(), Some(false));
    assert_eq!(state_tag.resource_type(), Some("auto-scaling-group"));

    env.adapter
        .create_or_update_tags(
            &name,
            &BTreeMap::from([("amiroll:state".to_owned(), "done".to_owned())]),
        )
        .await
        .expect("update tag");
    env.adapter
        .delete_tags(&name, &strings(&["amiroll:ami"]))
        .await
        .expect("delete tag");
    let seen = tags_of(name.clone()).await;
    assert_eq!(seen.get("amiroll:state").map(String::as_str), Some("done"));
    assert!(!seen.contains_key("amiroll:ami"));
    assert_eq!(seen.get("team").map(String::as_str), Some("amiroll"));
}

// --- Instance refresh (the emulator's shim 5) --------------------------------------------------

fn every_preference() -> RefreshPreferences {
    RefreshPreferences {
        min_healthy_percentage: 100,
        max_healthy_percentage: 150,
        skip_matching: true,
        instance_warmup: Some(60),
        auto_rollback: true,
        checkpoint_percentages: vec![50, 100],
        checkpoint_delay: Some(300),
        alarms: strings(&["amiroll-alarm-a", "amiroll-alarm-b"]),
        bake_time: Some(120),
        scale_in_protected_instances: Some("Refresh".to_owned()),
        standby_instances: Some("Terminate".to_owned()),
    }
}

fn bare_preferences() -> RefreshPreferences {
    RefreshPreferences {
        min_healthy_percentage: 90,
        max_healthy_percentage: 100,
        skip_matching: false,
        instance_warmup: None,
        auto_rollback: false,
        checkpoint_percentages: Vec::new(),
        checkpoint_delay: None,
        alarms: Vec::new(),
        bake_time: None,
        scale_in_protected_instances: None,
        standby_instances: None,
    }
}

/// The refreshes as the SDK reads them (the port does not carry `Preferences`).
async fn raw_refreshes(env: &Env, group: &str) -> Vec<asg_types::InstanceRefresh> {
    env.asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .send()
        .await
        .expect("DescribeInstanceRefreshes")
        .instance_refreshes()
        .to_vec()
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn instance_refresh_start_describe_conflict_rollback() {
    let env = env().await;
    let (id, name) = two_version_group(&env).await;
    // A rollback returns to the group's configuration before the refresh, which must be a
    // numbered version ("RollbackInstanceRefresh"): pin the group to version 1.
    env.adapter
        .update_auto_scaling_group(&pin_to(&name, &id, 1))
        .await
        .expect("pin to version 1");
    let request = StartRefreshRequest {
        group_name: name.clone(),
        desired: Some(DesiredTemplate {
            template_id: id.clone(),
            version: 2,
        }),
        preferences: every_preference(),
        mixed_instances_policy: None,
    };

    let refresh_id = env
        .adapter
        .start_instance_refresh(&request)
        .await
        .expect("start");
    assert!(!refresh_id.is_empty());

    let refreshes = env
        .adapter
        .describe_instance_refreshes(&name)
        .await
        .expect("describe");
    assert_eq!(refreshes.len(), 1);
    let r = &refreshes[0];
    assert_eq!(r.id, refresh_id);
    assert_eq!(r.group_name, name);
    assert_eq!(r.status, "Pending");
    assert!(!r.is_terminal());
    assert!(r.start_time.is_some(), "{r:?}");
    assert_eq!(r.end_time, None);
    assert_eq!(r.percentage_complete, Some(0));
    assert_eq!(r.instances_to_update, Some(1));
    assert_eq!(
        r.desired_template,
        Some(TemplateSpec {
            template_id: Some(id.clone()),
            template_name: None,
            version: Some("2".to_owned()),
        })
    );

    // Every preference reached the service (read with the SDK).
    let raw = raw_refreshes(&env, &name).await;
    let sent = raw
        .first()
        .and_then(|r| r.preferences())
        .expect("preferences");
    assert_eq!(sent.min_healthy_percentage(), Some(100));
    assert_eq!(sent.max_healthy_percentage(), Some(150));
    assert_eq!(sent.skip_matching(), Some(true));
    assert_eq!(sent.instance_warmup(), Some(60));
    assert_eq!(sent.auto_rollback(), Some(true));
    assert_eq!(sent.checkpoint_percentages(), [50, 100]);
    assert_eq!(sent.checkpoint_delay(), Some(300));
    assert_eq!(
        sent.alarm_specification().map(|a| a.alarms().to_vec()),
        Some(strings(&["amiroll-alarm-a", "amiroll-alarm-b"]))
    );
    assert_eq!(sent.bake_time(), Some(120));
    assert_eq!(
        sent.scale_in_protected_instances().map(|s| s.as_str()),
        Some("Refresh")
    );
    assert_eq!(
        sent.standby_instances().map(|s| s.as_str()),
        Some("Terminate")
    );
    assert_eq!(
        raw.first().and_then(|r| r.strategy()).map(|s| s.as_str()),
        Some("Rolling")
    );

    // One active refresh per group.
    let conflict = env
        .adapter
        .start_instance_refresh(&request)
        .await
        .expect_err("a refresh is already active");
    assert_eq!(conflict.kind, ErrorKind::Conflict, "{conflict}");
    assert_eq!(conflict.code, "InstanceRefreshInProgress");
    assert_eq!(conflict.operation, "autoscaling:StartInstanceRefresh");

    let rolled_back = env
        .adapter
        .rollback_instance_refresh(&name)
        .await
        .expect("rollback");
    assert_eq!(rolled_back, refresh_id);
    let r = env
        .adapter
        .describe_instance_refreshes(&name)
        .await
        .expect("describe")
        .remove(0);
    assert_eq!(r.status, "RollbackSuccessful");
    assert!(r.is_terminal());
    assert!(r.end_time.is_some(), "{r:?}");

    // Nothing is active any more.
    let none = env
        .adapter
        .rollback_instance_refresh(&name)
        .await
        .expect_err("nothing to roll back");
    assert_eq!(none.kind, ErrorKind::NotFound, "{none}");
    assert_eq!(none.code, "ActiveInstanceRefreshNotFound");
}

/// "CancelInstanceRefresh" through the adapter: the refresh in progress is cancelled and its id
/// comes back; with none in progress the answer is `ActiveInstanceRefreshNotFound` (`NotFound`).
/// The shim goes straight to `Cancelled` (AWS passes through `Cancelling` while instances under
/// way finish; nothing is ever replaced on the emulator).
#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn cancel_instance_refresh_cancels_the_refresh_in_progress() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;

    let none = env
        .adapter
        .cancel_instance_refresh(&name)
        .await
        .expect_err("nothing to cancel yet");
    assert_eq!(none.kind, ErrorKind::NotFound, "{none}");
    assert_eq!(none.code, "ActiveInstanceRefreshNotFound");
    assert_eq!(none.operation, "autoscaling:CancelInstanceRefresh");

    let started = env
        .adapter
        .start_instance_refresh(&StartRefreshRequest {
            group_name: name.clone(),
            desired: None,
            preferences: bare_preferences(),
            mixed_instances_policy: None,
        })
        .await
        .expect("start");
    let cancelled = env
        .adapter
        .cancel_instance_refresh(&name)
        .await
        .expect("cancel");
    assert_eq!(cancelled, started);
    let r = env
        .adapter
        .describe_instance_refreshes(&name)
        .await
        .expect("describe")
        .remove(0);
    assert_eq!(
        (r.id.as_str(), r.status.as_str()),
        (started.as_str(), "Cancelled")
    );
    assert!(r.is_terminal());
    assert!(r.end_time.is_some(), "{r:?}");

    let again = env
        .adapter
        .cancel_instance_refresh(&name)
        .await
        .expect_err("nothing in progress any more");
    assert_eq!(again.kind, ErrorKind::NotFound, "{again}");
    assert_eq!(again.code, "ActiveInstanceRefreshNotFound");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn instance_refresh_without_desired_configuration_cancel_and_order() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;
    let request = StartRefreshRequest {
        group_name: name.clone(),
        desired: None,
        preferences: bare_preferences(),
        mixed_instances_policy: None,
    };

    let first = env
        .adapter
        .start_instance_refresh(&request)
        .await
        .expect("start");
    // No desired configuration, and the optional preferences were left out.
    let raw = raw_refreshes(&env, &name).await;
    let raw = raw.first().expect("the refresh");
    assert_eq!(raw.desired_configuration(), None);
    let sent = raw.preferences().expect("preferences");
    assert_eq!(sent.min_healthy_percentage(), Some(90));
    assert_eq!(sent.max_healthy_percentage(), Some(100));
    assert_eq!(sent.skip_matching(), Some(false));
    assert_eq!(sent.auto_rollback(), Some(false));
    assert_eq!(sent.instance_warmup(), None);
    assert!(sent.checkpoint_percentages().is_empty());
    assert_eq!(sent.checkpoint_delay(), None);
    assert_eq!(sent.alarm_specification(), None);
    assert_eq!(sent.bake_time(), None);
    assert_eq!(sent.scale_in_protected_instances(), None);
    assert_eq!(sent.standby_instances(), None);

    // Without a desired configuration there is nothing to roll back to.
    let irreversible = env
        .adapter
        .rollback_instance_refresh(&name)
        .await
        .expect_err("no desired configuration");
    assert_eq!(irreversible.kind, ErrorKind::Invalid, "{irreversible}");
    assert_eq!(irreversible.code, "IrreversibleInstanceRefresh");
    assert_eq!(
        irreversible.operation,
        "autoscaling:RollbackInstanceRefresh"
    );

    // Someone else cancels it (a plain SDK call, as an operator would; the shim's Cancel).
    let cancelled = env
        .asg
        .cancel_instance_refresh()
        .auto_scaling_group_name(&name)
        .send()
        .await
        .expect("CancelInstanceRefresh fixture");
    assert_eq!(cancelled.instance_refresh_id(), Some(first.as_str()));
    let second = env
        .adapter
        .start_instance_refresh(&request)
        .await
        .expect("start again once the first is cancelled");
    assert_ne!(second, first);

    let refreshes = env
        .adapter
        .describe_instance_refreshes(&name)
        .await
        .expect("describe");
    let seen: Vec<(&str, &str)> = refreshes
        .iter()
        .map(|r| (r.id.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![(second.as_str(), "Pending"), (first.as_str(), "Cancelled")],
        "newest first"
    );
    assert_eq!(refreshes[1].desired_template, None);

    let missing = env
        .adapter
        .start_instance_refresh(&StartRefreshRequest {
            group_name: unique("no-such-group"),
            ..request
        })
        .await
        .expect_err("unknown group");
    assert_eq!(missing.kind, ErrorKind::Invalid, "{missing}");
    assert_eq!(missing.code, "ValidationError");
}

// --- ECS capacity providers ----------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_capacity_providers_maps_group_providers_over_pages() {
    use aws_sdk_ecs::types as ecs_types;

    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;
    let group_arn = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe group")
        .pop()
        .and_then(|g| g.arn)
        .expect("group arn");
    let cluster = unique("cluster");
    env.ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("CreateCluster");

    let provider = |enabled: bool| {
        let (scaling, protection, draining) = if enabled {
            (
                ecs_types::ManagedScalingStatus::Enabled,
                ecs_types::ManagedTerminationProtection::Enabled,
                ecs_types::ManagedDraining::Enabled,
            )
        } else {
            (
                ecs_types::ManagedScalingStatus::Disabled,
                ecs_types::ManagedTerminationProtection::Disabled,
                ecs_types::ManagedDraining::Disabled,
            )
        };
        ecs_types::AutoScalingGroupProvider::builder()
            .auto_scaling_group_arn(&group_arn)
            .managed_scaling(ecs_types::ManagedScaling::builder().status(scaling).build())
            .managed_termination_protection(protection)
            .managed_draining(draining)
            .build()
            .expect("AutoScalingGroupProvider")
    };
    let managed = unique("cp-managed");
    let plain = unique("cp-plain");
    // More providers than one page (10) holds, so the listing has to follow nextToken.
    let mut names = vec![managed.clone(), plain.clone()];
    names.extend((0..9).map(|i| unique(&format!("cp-filler{i}"))));
    for (i, cp) in names.iter().enumerate() {
        env.ecs
            .create_capacity_provider()
            .name(cp)
            .auto_scaling_group_provider(provider(i == 0))
            .send()
            .await
            .expect("CreateCapacityProvider");
    }
    env.ecs
        .put_cluster_capacity_providers()
        .cluster(&cluster)
        .capacity_providers(&managed)
        .capacity_providers(&plain)
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect("PutClusterCapacityProviders");

    let providers = env
        .adapter
        .describe_capacity_providers()
        .await
        .expect("describe_capacity_providers");
    let by_name: BTreeMap<_, _> = providers.iter().map(|p| (p.name.clone(), p)).collect();
    assert_eq!(by_name.len(), providers.len(), "each provider once");
    for cp in &names {
        assert!(by_name.contains_key(cp), "{cp} listed (all pages)");
    }
    assert!(
        !by_name.contains_key("FARGATE") && !by_name.contains_key("FARGATE_SPOT"),
        "providers without an Auto Scaling group are left out"
    );
    assert_eq!(
        *by_name[&managed],
        CapacityProvider {
            name: managed.clone(),
            auto_scaling_group_arn: group_arn.clone(),
            managed_scaling: true,
            managed_termination_protection: true,
            managed_draining: true,
        }
    );
    assert_eq!(
        *by_name[&plain],
        CapacityProvider {
            name: plain.clone(),
            auto_scaling_group_arn: group_arn.clone(),
            managed_scaling: false,
            managed_termination_protection: false,
            managed_draining: false,
        }
    );
}

// --- ECS clusters (the emulator's shim 14 pages the listing) -----------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn clusters_are_listed_over_pages_and_described_with_their_capacity_providers() {
    use aws_sdk_ecs::types as ecs_types;

    let env = env().await;
    let (current, _) = amis(&env).await;
    let id = launch_template(&env, &unique("lt"), &current).await;
    let name = unique("asg");
    group(&env, &name, &id).await;
    let group_arn = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&name))
        .await
        .expect("describe group")
        .pop()
        .and_then(|g| g.arn)
        .expect("group arn");
    // More clusters than one page (100) holds, so the listing has to follow nextToken.
    let clusters: Vec<String> = (0..101).map(|i| unique(&format!("cl{i}"))).collect();
    for c in &clusters {
        env.ecs
            .create_cluster()
            .cluster_name(c)
            .send()
            .await
            .expect("CreateCluster");
    }
    let provider = unique("cp");
    env.ecs
        .create_capacity_provider()
        .name(&provider)
        .auto_scaling_group_provider(
            ecs_types::AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn(&group_arn)
                .managed_termination_protection(ecs_types::ManagedTerminationProtection::Disabled)
                .build()
                .expect("AutoScalingGroupProvider"),
        )
        .send()
        .await
        .expect("CreateCapacityProvider");
    env.ecs
        .put_cluster_capacity_providers()
        .cluster(&clusters[7])
        .capacity_providers(&provider)
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .expect("PutClusterCapacityProviders");

    let listed: BTreeSet<String> = env
        .adapter
        .list_clusters()
        .await
        .expect("list_clusters")
        .into_iter()
        .collect();
    for c in &clusters {
        assert!(
            listed.contains(&format!("arn:aws:ecs:us-east-1:123456789012:cluster/{c}")),
            "{c} listed (all pages)"
        );
    }

    // By name or ARN; an unknown cluster (a `MISSING` failure) is left out.
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{}", clusters[7]);
    let asked = vec![arn.clone(), clusters[8].clone(), unique("no-such-cluster")];
    let described = env
        .adapter
        .describe_clusters(&asked)
        .await
        .expect("describe_clusters");
    assert_eq!(described.len(), 2, "{described:?}");
    let with = described
        .iter()
        .find(|c| c.arn == arn)
        .expect("the provider's cluster");
    assert_eq!(with.name, clusters[7]);
    assert_eq!(with.status, "ACTIVE");
    assert_eq!(with.capacity_providers, vec![provider.clone()]);
    let without = described
        .iter()
        .find(|c| c.name == clusters[8])
        .expect("another cluster");
    assert!(without.capacity_providers.is_empty());
    // None asked: no call (AWS would describe the `default` cluster).
    assert!(env
        .adapter
        .describe_clusters(&[])
        .await
        .expect("none")
        .is_empty());
}

// --- ECS container instances ----------------------------------------------------------------

/// `n` EC2 instances of `image_id`, registered as container instances of `cluster` as their ECS
/// agent would ("RegisterContainerInstance" with the instance identity document; moto's
/// instances never register themselves). Returns (EC2 instance id, container instance ARN).
async fn container_instances(
    env: &Env,
    cluster: &str,
    image_id: &str,
    n: i32,
) -> Vec<(String, String)> {
    let run = env
        .ec2
        .run_instances()
        .image_id(image_id)
        .instance_type(ec2_types::InstanceType::T3Micro)
        .min_count(n)
        .max_count(n)
        .send()
        .await
        .expect("RunInstances");
    let mut out = Vec::new();
    for i in run.instances() {
        let id = i.instance_id().expect("instance id").to_owned();
        let registered = env
            .ecs
            .register_container_instance()
            .cluster(cluster)
            .instance_identity_document(format!("{{\"instanceId\": \"{id}\"}}"))
            .send()
            .await
            .expect("RegisterContainerInstance");
        let arn = registered
            .container_instance()
            .and_then(|c| c.container_instance_arn())
            .expect("container instance arn")
            .to_owned();
        out.push((id, arn));
    }
    out
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn container_instances_are_listed_over_pages_described_and_drained() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let cluster = unique("cluster");
    let cluster_arn = env
        .ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("CreateCluster")
        .cluster()
        .and_then(|c| c.cluster_arn())
        .expect("cluster arn")
        .to_owned();
    // More than one page of ListContainerInstances (100).
    let registered = container_instances(&env, &cluster, &current, 101).await;

    let listed = env
        .adapter
        .list_container_instances(&cluster)
        .await
        .expect("list_container_instances");
    assert_eq!(listed.len(), 101, "every page");
    let unique_arns: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique_arns.len(), 101, "each once");
    for (_, arn) in &registered {
        assert!(listed.contains(arn), "{arn} listed");
    }
    // By ARN as well as by name.
    assert_eq!(
        env.adapter
            .list_container_instances(&cluster_arn)
            .await
            .expect("by arn")
            .len(),
        101
    );

    // Described 100 at a time (the most a call takes); an unknown one is a failure.
    let (first, rest) = listed.split_at(100);
    let out = env
        .adapter
        .describe_container_instances(&cluster, first)
        .await
        .expect("describe 100");
    assert_eq!(out.container_instances.len(), 100);
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    let mut asked = rest.to_vec();
    asked.push("0000000000000000000000000000beef".to_owned());
    let out = env
        .adapter
        .describe_container_instances(&cluster_arn, &asked)
        .await
        .expect("describe the rest");
    assert_eq!(out.container_instances.len(), 1);
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].reason, "MISSING");
    let c = &out.container_instances[0];
    assert_eq!(c.container_instance_arn, rest[0]);
    assert_eq!(c.cluster_arn, cluster_arn);
    assert_eq!(c.status, "ACTIVE");
    assert!(c.agent_connected);
    assert_eq!((c.running_tasks_count, c.pending_tasks_count), (0, 0));
    assert!(c.registered_at.is_some());
    let ec2 = registered
        .iter()
        .find(|(_, arn)| *arn == rest[0])
        .map(|(id, _)| id.clone());
    assert_eq!(c.ec2_instance_id, ec2);
    // No ARNs: no call, nothing.
    assert_eq!(
        env.adapter
            .describe_container_instances(&cluster, &[])
            .await
            .expect("empty"),
        Default::default()
    );

    // Drain two and one that does not exist: the failure is kept, the others are updated.
    let mut drain: Vec<String> = listed[..2].to_vec();
    drain.push("0000000000000000000000000000beef".to_owned());
    let out = env
        .adapter
        .update_container_instances_state(&cluster, &drain, ContainerInstanceStatus::Draining)
        .await
        .expect("drain");
    assert_eq!(out.container_instances.len(), 2);
    assert!(out.container_instances.iter().all(|c| c.is_draining()));
    assert!(out
        .container_instances
        .iter()
        .all(|c| c.cluster_arn == cluster_arn));
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].reason, "MISSING");
    let now = env
        .adapter
        .describe_container_instances(&cluster, &listed[..3])
        .await
        .expect("describe");
    let status: Vec<&str> = now
        .container_instances
        .iter()
        .map(|c| c.status.as_str())
        .collect();
    assert_eq!(status, ["DRAINING", "DRAINING", "ACTIVE"]);
    // Draining instances are still listed (every status but INACTIVE).
    assert_eq!(
        env.adapter
            .list_container_instances(&cluster)
            .await
            .expect("list")
            .len(),
        101
    );
    let out = env
        .adapter
        .update_container_instances_state(&cluster, &listed[..1], ContainerInstanceStatus::Active)
        .await
        .expect("activate");
    assert!(out.container_instances[0].is_active());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn container_instance_calls_on_a_missing_cluster_are_not_found() {
    let env = env().await;
    let cluster = unique("no-cluster");
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}");
    let list = env
        .adapter
        .list_container_instances(&cluster)
        .await
        .expect_err("no cluster");
    let describe = env
        .adapter
        .describe_container_instances(&arn, &["0000000000000000000000000000beef".to_owned()])
        .await
        .expect_err("no cluster");
    let update = env
        .adapter
        .update_container_instances_state(
            &cluster,
            &["0000000000000000000000000000beef".to_owned()],
            ContainerInstanceStatus::Draining,
        )
        .await
        .expect_err("no cluster");
    for (e, op) in [
        (list, "ecs:ListContainerInstances"),
        (describe, "ecs:DescribeContainerInstances"),
        (update, "ecs:UpdateContainerInstancesState"),
    ] {
        assert_eq!(e.operation, op);
        assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
        assert_eq!(e.code, "ClusterNotFoundException", "{e}");
    }
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn template_versions_report_their_user_data_and_its_cluster() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let user_data = amiroll_core::ecs::encode_base64(
        b"#!/bin/bash\necho ECS_CLUSTER=seed-cluster >> /etc/ecs/ecs.config\n",
    );
    let name = unique("lt-ud");
    let id =
        amiroll_testkit::launch_template(&env.ec2, &name, &current, Some(&user_data), None).await;
    let versions = env
        .adapter
        .describe_launch_template_versions(&id)
        .await
        .expect("versions");
    assert_eq!(versions[0].user_data.as_deref(), Some(user_data.as_str()));
    let defaults = env
        .adapter
        .describe_current_template_versions(VersionAlias::Default)
        .await
        .expect("defaults");
    let ours = defaults
        .iter()
        .find(|v| v.template_id == id)
        .expect("listed");
    assert_eq!(
        ours.user_data
            .as_deref()
            .and_then(amiroll_core::ecs::cluster_from_user_data)
            .as_deref(),
        Some("seed-cluster")
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn put_attributes_then_describe_container_instances_shows_them() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let cluster = unique("cluster");
    env.ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("CreateCluster");
    let registered = container_instances(&env, &cluster, &current, 2).await;
    let (first, second) = (registered[0].1.clone(), registered[1].1.clone());
    let attribute = |target: &str, name: &str, value: &str| ContainerInstanceAttribute {
        target_id: target.to_owned(),
        name: name.to_owned(),
        value: value.to_owned(),
    };
    // By ARN, one without a value; by short id (sent with targetType container-instance).
    let short = second.rsplit('/').next().expect("an id").to_owned();
    env.adapter
        .put_attributes(
            &cluster,
            &[
                attribute(&first, "amiroll.drain-since", "2026-11-26T13:00:00Z"),
                attribute(&first, "marker", ""),
                attribute(&short, "amiroll.drain-since", "2026-11-26T13:05:00Z"),
            ],
        )
        .await
        .expect("PutAttributes");
    let out = env
        .adapter
        .describe_container_instances(&cluster, &[first.clone(), second.clone()])
        .await
        .expect("describe");
    let attributes: Vec<_> = out
        .container_instances
        .iter()
        .map(|c| {
            (
                c.container_instance_arn.clone(),
                c.attributes.get("amiroll.drain-since").cloned(),
                c.attributes.get("marker").cloned(),
            )
        })
        .collect();
    assert_eq!(
        attributes,
        vec![
            (
                first.clone(),
                Some("2026-11-26T13:00:00Z".to_owned()),
                Some(String::new())
            ),
            (
                second.clone(),
                Some("2026-11-26T13:05:00Z".to_owned()),
                None
            ),
        ]
    );
    // moto, like the ECS agent, reports built-in attributes too.
    assert!(out.container_instances[0]
        .attributes
        .contains_key("ecs.ami-id"));
    // Put again: replaced.
    env.adapter
        .put_attributes(
            &cluster,
            &[attribute(
                &first,
                "amiroll.drain-since",
                "2026-11-26T14:00:00Z",
            )],
        )
        .await
        .expect("replace");
    let again = env
        .adapter
        .describe_container_instances(&cluster, std::slice::from_ref(&first))
        .await
        .expect("describe");
    assert_eq!(
        again.container_instances[0].attributes["amiroll.drain-since"],
        "2026-11-26T14:00:00Z"
    );
    // Nothing to put: no call, no error.
    env.adapter
        .put_attributes(&cluster, &[])
        .await
        .expect("nothing");

    let unknown_target = env
        .adapter
        .put_attributes(
            &cluster,
            &[attribute(
                &format!(
                    "{}/0000000000000000000000000000beef",
                    first.rsplit_once('/').map_or(first.as_str(), |(h, _)| h)
                ),
                "a",
                "1",
            )],
        )
        .await
        .expect_err("no such container instance");
    let missing_cluster = env
        .adapter
        .put_attributes(
            &format!("{cluster}-missing"),
            &[attribute(&first, "a", "1")],
        )
        .await
        .expect_err("no such cluster");
    for (e, code) in [
        (unknown_target, "TargetNotFoundException"),
        (missing_cluster, "ClusterNotFoundException"),
    ] {
        assert_eq!(e.operation, "ecs:PutAttributes");
        assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
        assert_eq!(e.code, code, "{e}");
    }
}

// --- Lifecycle hooks -------------------------------------------------------------------------

fn hook_request(
    group: &str,
    name: &str,
    transition: &str,
    heartbeat: Option<u32>,
    result: Option<&str>,
) -> PutLifecycleHookRequest {
    PutLifecycleHookRequest {
        group_name: group.to_owned(),
        name: name.to_owned(),
        transition: transition.to_owned(),
        heartbeat_timeout_secs: heartbeat,
        default_result: result.map(str::to_owned),
    }
}

async fn hooks_by_name(env: &Env, group: &str) -> Vec<LifecycleHook> {
    let mut hooks = env
        .adapter
        .describe_lifecycle_hooks(group)
        .await
        .expect("DescribeLifecycleHooks");
    hooks.sort_by(|a, b| a.name.cmp(&b.name));
    hooks
}

fn assert_validation(e: &AwsError, operation: &str) {
    assert_eq!(e.operation, operation, "{e}");
    assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
    assert_eq!(e.code, "ValidationError", "{e}");
    assert!(!e.kind.is_retryable());
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn lifecycle_hooks_put_describe_update_and_validate() {
    let env = env().await;
    let (_, group) = two_version_group(&env).await;
    env.adapter
        .put_lifecycle_hook(&hook_request(
            &group,
            "drain",
            LIFECYCLE_TRANSITION_TERMINATING,
            Some(300),
            Some("CONTINUE"),
        ))
        .await
        .expect("put drain");
    env.adapter
        .put_lifecycle_hook(&hook_request(
            &group,
            "warm",
            LIFECYCLE_TRANSITION_LAUNCHING,
            None,
            None,
        ))
        .await
        .expect("put warm");
    let hook =
        |name: &str, transition: &str, heartbeat: u32, global: u32, result: &str| LifecycleHook {
            group_name: group.clone(),
            name: name.to_owned(),
            transition: transition.to_owned(),
            heartbeat_timeout_secs: heartbeat,
            global_timeout_secs: global,
            default_result: result.to_owned(),
        };
    assert_eq!(
        hooks_by_name(&env, &group).await,
        vec![
            hook(
                "drain",
                LIFECYCLE_TRANSITION_TERMINATING,
                300,
                30_000,
                "CONTINUE"
            ),
            hook(
                "warm",
                LIFECYCLE_TRANSITION_LAUNCHING,
                3600,
                172_800,
                "ABANDON"
            ),
        ]
    );
    // An update keeps what it does not give.
    env.adapter
        .put_lifecycle_hook(&hook_request(
            &group,
            "drain",
            LIFECYCLE_TRANSITION_TERMINATING,
            None,
            Some("ABANDON"),
        ))
        .await
        .expect("update drain");
    assert_eq!(
        hooks_by_name(&env, &group).await[0],
        hook(
            "drain",
            LIFECYCLE_TRANSITION_TERMINATING,
            300,
            30_000,
            "ABANDON"
        )
    );
    for bad in [
        hook_request(
            &group,
            "x",
            LIFECYCLE_TRANSITION_TERMINATING,
            Some(29),
            None,
        ),
        hook_request(
            &group,
            "x",
            LIFECYCLE_TRANSITION_TERMINATING,
            None,
            Some("MAYBE"),
        ),
        hook_request(&group, "x", "autoscaling:EC2_INSTANCE_STOPPING", None, None),
        hook_request(
            &format!("{group}-missing"),
            "x",
            LIFECYCLE_TRANSITION_TERMINATING,
            None,
            None,
        ),
    ] {
        let e = env
            .adapter
            .put_lifecycle_hook(&bad)
            .await
            .expect_err("refused");
        assert_validation(&e, "autoscaling:PutLifecycleHook");
    }
    let e = env
        .adapter
        .describe_lifecycle_hooks(&format!("{group}-missing"))
        .await
        .expect_err("no such group");
    assert_validation(&e, "autoscaling:DescribeLifecycleHooks");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn lifecycle_actions_are_accepted_for_an_instance_of_the_group() {
    let env = env().await;
    let (_, group) = two_version_group(&env).await;
    env.adapter
        .put_lifecycle_hook(&hook_request(
            &group,
            "drain",
            LIFECYCLE_TRANSITION_TERMINATING,
            Some(300),
            None,
        ))
        .await
        .expect("hook");
    let instance = env
        .adapter
        .describe_auto_scaling_groups(std::slice::from_ref(&group))
        .await
        .expect("group")[0]
        .instances[0]
        .instance_id
        .clone();
    // The emulator never holds an instance: one of the group stands for one AWS holds.
    env.adapter
        .record_lifecycle_action_heartbeat(&group, "drain", &instance)
        .await
        .expect("heartbeat");
    for result in [
        LifecycleActionResult::Continue,
        LifecycleActionResult::Abandon,
    ] {
        env.adapter
            .complete_lifecycle_action(&group, "drain", &instance, result)
            .await
            .expect("complete");
    }
    // An instance with no lifecycle action: the mapped error, not retried.
    let e = env
        .adapter
        .complete_lifecycle_action(
            &group,
            "drain",
            "i-0000000000000beef",
            LifecycleActionResult::Continue,
        )
        .await
        .expect_err("no action");
    assert_validation(&e, "autoscaling:CompleteLifecycleAction");
    assert!(
        e.message
            .contains("No active Lifecycle Action found with instance ID i-0000000000000beef"),
        "{e}"
    );
    let e = env
        .adapter
        .record_lifecycle_action_heartbeat(&group, "drain", "i-0000000000000beef")
        .await
        .expect_err("no action");
    assert_validation(&e, "autoscaling:RecordLifecycleActionHeartbeat");
    // A hook that does not exist.
    let e = env
        .adapter
        .complete_lifecycle_action(
            &group,
            "missing",
            &instance,
            LifecycleActionResult::Continue,
        )
        .await
        .expect_err("no hook");
    assert_validation(&e, "autoscaling:CompleteLifecycleAction");
}

// --- SNS -------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn get_topic_attributes_exists_and_missing() {
    let env = env().await;
    let arn = topic(&env).await;
    env.adapter
        .get_topic_attributes(&arn)
        .await
        .expect("existing topic");

    let missing = env
        .adapter
        .get_topic_attributes(&format!("{arn}-missing"))
        .await
        .expect_err("missing topic");
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
    assert_eq!(missing.code, "NotFound");
    assert_eq!(missing.operation, "sns:GetTopicAttributes");
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn publish_returns_a_message_id() {
    let env = env().await;
    let arn = topic(&env).await;
    let notification = Notification {
        topic_arn: arn.clone(),
        subject: "amiroll: prod-asg updated".to_owned(),
        message: "prod-asg now launches ami-0123".to_owned(),
        attributes: BTreeMap::from([
            ("event".to_owned(), "rolled".to_owned()),
            ("target".to_owned(), "prod-asg".to_owned()),
        ]),
    };
    let id = env.adapter.publish(&notification).await.expect("publish");
    assert!(!id.is_empty());

    let missing = env
        .adapter
        .publish(&Notification {
            topic_arn: format!("{arn}-missing"),
            ..notification
        })
        .await
        .expect_err("missing topic");
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
    assert_eq!(missing.operation, "sns:Publish");
}

// --- Without the emulator ---------------------------------------------------------------------

/// An endpoint that answers every request with Auto Scaling's throttling error (HTTP 400, code
/// `Throttling`, "Rate exceeded": "Why are my Amazon EC2 Auto Scaling API calls throttled?",
/// https://repost.aws/knowledge-center/autoscaling-api-calls-throttled), counting the requests.
fn always_throttled() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("the listener's address")
    );
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let error = "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>";
            let response = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{error}",
                error.len()
            );
            let _ = reader.get_mut().write_all(response.as_bytes());
        }
    });
    (url, count)
}

/// One retry layer: against AWS the SDK owns the retries of a throttled call (as many attempts as
/// its retry configuration says, here 3), and the engine sends it no more: the adapter
/// `retries_transient`, so the throttling the SDK gives up on is the engine's answer.
#[tokio::test]
async fn a_throttled_call_is_retried_by_the_sdk_alone() {
    let (url, requests) = always_throttled();
    let conf = amiroll_testkit::sdk_config(&url, "testing", "testing")
        .await
        .into_builder()
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(1))
                .with_max_backoff(std::time::Duration::from_millis(5)),
        )
        .build();
    let adapter = AwsAdapter::from_conf(&conf).await;
    assert!(adapter.retries_transient());
    let config = amiroll_core::Config::from_toml("[discover]\n", "t.toml").expect("config");
    let engine = amiroll_core::Engine::new(&adapter);
    let err = engine
        .discover(&config)
        .await
        .expect_err("always throttled");
    let amiroll_core::RunError::Discovery(e) = err else {
        panic!("not a discovery failure: {err}");
    };
    assert_eq!(e.kind, ErrorKind::Throttling, "{e}");
    assert_eq!(e.code, "Throttling");
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the SDK's 3 attempts, and no more from the engine"
    );
    assert_eq!(
        engine
            .call_counts()
            .get(amiroll_core::port::op::DESCRIBE_AUTO_SCALING_GROUPS),
        Some(&1),
        "one call as the engine sees it"
    );
}

/// A refused connection is a dispatch failure: transient, with the cause in the message.
#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    let adapter = AwsAdapter::load(&ConnectOptions {
        region: Some("us-east-1".to_owned()),
        profile: None,
        endpoint_url: Some("http://127.0.0.1:9".to_owned()),
        max_attempts: Some(1),
        ..ConnectOptions::default()
    })
    .await
    .expect("config");
    // Static credentials so no credential provider is consulted.
    let conf = amiroll_testkit::sdk_config("http://127.0.0.1:9", "testing", "testing").await;
    let offline = AwsAdapter::from_conf(&conf).await;
    assert_eq!(adapter.region().as_deref(), Some("us-east-1"));

    let err = offline
        .get_topic_attributes("arn:aws:sns:us-east-1:123456789012:t")
        .await
        .expect_err("nothing listens on port 9");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert_eq!(err.code, "DispatchFailure");
    assert_eq!(err.operation, "sns:GetTopicAttributes");
}

/// "Snapshots applied to the block device mapping are ignored when creating a new version unless
/// they are explicitly included" (CreateLaunchTemplateVersion, `SourceVersion`; shim 1): the
/// adapter reads every mapping member, and sends mappings again when the request has some.
#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn create_launch_template_version_drops_inherited_snapshots_unless_sent_again() {
    let env = env().await;
    let (current, other) = amis(&env).await;
    let out = env
        .ec2
        .create_launch_template()
        .launch_template_name(unique("lt-snap"))
        .launch_template_data(
            ec2_types::RequestLaunchTemplateData::builder()
                .image_id(&current)
                .block_device_mappings(
                    ec2_types::LaunchTemplateBlockDeviceMappingRequest::builder()
                        .device_name("/dev/xvdb")
                        .ebs(
                            ec2_types::LaunchTemplateEbsBlockDeviceRequest::builder()
                                .snapshot_id("snap-0123456789abcdef0")
                                .volume_size(100)
                                .volume_type(ec2_types::VolumeType::Gp3)
                                .delete_on_termination(true)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateLaunchTemplate");
    let id = out
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("id")
        .to_owned();
    let volume = |snapshot: Option<&str>| BlockDeviceMapping {
        device_name: "/dev/xvdb".to_owned(),
        ebs: Some(EbsBlockDevice {
            snapshot_id: snapshot.map(str::to_owned),
            volume_size: Some(100),
            volume_type: Some("gp3".to_owned()),
            delete_on_termination: Some(true),
            ..EbsBlockDevice::default()
        }),
        ..BlockDeviceMapping::default()
    };
    let versions = env
        .adapter
        .describe_launch_template_versions(&id)
        .await
        .expect("describe");
    assert_eq!(
        versions[0].block_device_mappings,
        vec![volume(Some("snap-0123456789abcdef0"))]
    );
    let request = |token: &str, mappings: Vec<BlockDeviceMapping>| CreateVersionRequest {
        template_id: id.clone(),
        source_version: 1,
        image_id: other.clone(),
        description: "amiroll".to_owned(),
        client_token: unique(token),
        block_device_mappings: mappings,
    };
    let dropped = env
        .adapter
        .create_launch_template_version(&request("t-a", Vec::new()))
        .await
        .expect("create without mappings");
    assert_eq!(dropped.block_device_mappings, vec![volume(None)]);
    let kept = env
        .adapter
        .create_launch_template_version(&request(
            "t-b",
            vec![volume(Some("snap-0123456789abcdef0"))],
        ))
        .await
        .expect("create with mappings");
    assert_eq!(
        kept.block_device_mappings,
        vec![volume(Some("snap-0123456789abcdef0"))]
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn describe_images_reports_the_root_device_name() {
    let env = env().await;
    let (current, _) = amis(&env).await;
    let images = env
        .adapter
        .describe_images(std::slice::from_ref(&current))
        .await
        .expect("describe");
    let root = images
        .first()
        .and_then(|i| i.root_device_name.clone())
        .expect("a root device name");
    assert!(root.starts_with("/dev/"), "{root}");
}

/// A refresh with a desired configuration blocks updates of the group's launch template ("How
/// an instance refresh works", "Update restriction"), and a rollback needs the group's saved
/// configuration to be a numbered version ("RollbackInstanceRefresh").
#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn a_refresh_blocks_template_updates_and_a_default_group_cannot_roll_back() {
    let env = env().await;
    let (id, name) = two_version_group(&env).await;
    env.adapter
        .start_instance_refresh(&StartRefreshRequest {
            group_name: name.clone(),
            desired: Some(DesiredTemplate {
                template_id: id.clone(),
                version: 2,
            }),
            preferences: bare_preferences(),
            mixed_instances_policy: None,
        })
        .await
        .expect("start");
    let err = env
        .adapter
        .update_auto_scaling_group(&pin_to(&name, &id, 2))
        .await
        .expect_err("update during the refresh");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "ValidationError"),
        "{err}"
    );
    env.adapter
        .update_auto_scaling_group(&UpdateGroupRequest {
            group_name: name.clone(),
            max_size: Some(4),
            ..UpdateGroupRequest::default()
        })
        .await
        .expect("sizes may change");
    let err = env
        .adapter
        .rollback_instance_refresh(&name)
        .await
        .expect_err("the group was on $Default");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (ErrorKind::Invalid, "IrreversibleInstanceRefresh"),
        "{err}"
    );
}

/// A mixed group's refresh sends the complete policy as `DesiredConfiguration.MixedInstancesPolicy`
/// with the desired version.
#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn a_mixed_group_refresh_sends_the_whole_policy() {
    let env = env().await;
    let (id, name) = two_version_group(&env).await;
    let policy = MixedInstancesPolicy {
        template: TemplateSpec::default(),
        overrides: vec![
            InstanceOverride {
                instance_type: Some("t3.micro".to_owned()),
                weighted_capacity: Some("1".to_owned()),
                ..InstanceOverride::default()
            },
            InstanceOverride {
                instance_type: Some("t3.small".to_owned()),
                weighted_capacity: Some("2".to_owned()),
                ..InstanceOverride::default()
            },
        ],
        distribution: Some(InstancesDistribution {
            on_demand_base_capacity: Some(1),
            on_demand_percentage_above_base_capacity: Some(50),
            spot_allocation_strategy: Some("price-capacity-optimized".to_owned()),
            ..InstancesDistribution::default()
        }),
    };
    env.adapter
        .start_instance_refresh(&StartRefreshRequest {
            group_name: name.clone(),
            desired: Some(DesiredTemplate {
                template_id: id.clone(),
                version: 2,
            }),
            preferences: bare_preferences(),
            mixed_instances_policy: Some(policy.clone()),
        })
        .await
        .expect("start");
    let raw = raw_refreshes(&env, &name).await;
    let desired = raw
        .first()
        .and_then(|r| r.desired_configuration())
        .expect("desired configuration");
    assert_eq!(desired.launch_template(), None);
    let sent = desired.mixed_instances_policy().expect("mixed policy");
    let lt = sent
        .launch_template()
        .and_then(|l| l.launch_template_specification())
        .expect("template");
    assert_eq!(
        (lt.launch_template_id(), lt.version()),
        (Some(id.as_str()), Some("2"))
    );
    let types: Vec<_> = sent
        .launch_template()
        .map(|l| l.overrides())
        .unwrap_or_default()
        .iter()
        .map(|o| (o.instance_type(), o.weighted_capacity()))
        .collect();
    assert_eq!(
        types,
        vec![(Some("t3.micro"), Some("1")), (Some("t3.small"), Some("2"))]
    );
    let d = sent.instances_distribution().expect("distribution");
    assert_eq!(d.on_demand_base_capacity(), Some(1));
    assert_eq!(d.on_demand_percentage_above_base_capacity(), Some(50));
    assert_eq!(
        d.spot_allocation_strategy(),
        Some("price-capacity-optimized")
    );
    // The port reads the refresh's template from inside the policy.
    let r = env
        .adapter
        .describe_instance_refreshes(&name)
        .await
        .expect("describe")
        .remove(0);
    assert_eq!(
        r.desired_template.and_then(|t| t.version),
        Some("2".to_owned())
    );
}
