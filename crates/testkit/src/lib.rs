//! Fixtures for the tests that talk to the local AWS emulator (`tests/moto/server.py`): an SDK
//! configuration for it, names no other test uses, the two AMIs every scenario rolls between, and
//! the pieces of a one-target fleet. Dev-only: the product crates never depend on it.
//!
//! Each helper panics with a message naming the call when the emulator refuses it: a fixture that
//! cannot be made is a broken test environment, not a result.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{
    ArchitectureValues, Filter, Image, InstanceType, RequestLaunchTemplateData,
};

/// The AL2023 ECS-optimized AMI parameter moto preloads (its value is moto's snapshot; read it).
pub const AL2023_PARAMETER: &str =
    "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

/// The emulator at `url`, in us-east-1, with these keys and no SDK retries (a test sees the
/// emulator's first answer).
pub async fn sdk_config(url: &str, access_key: &str, secret_key: &str) -> SdkConfig {
    sdk_config_in(url, "us-east-1", access_key, secret_key).await
}

/// [`sdk_config`] in another Region (a test that changes a Region-wide setting, such as Allowed
/// AMIs, keeps it away from the tests running at the same time in us-east-1).
pub async fn sdk_config_in(
    url: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "moto"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// The emulator's URL from `AMIROLL_MOTO_URL`; a panic that says how to start it when unset.
pub fn emulator_url() -> String {
    std::env::var("AMIROLL_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "AMIROLL_MOTO_URL is not set. These tests need the local AWS emulator: run \
             `python3 tests/moto/server.py 5790 &` and set AMIROLL_MOTO_URL=http://127.0.0.1:5790 \
             (scripts/test.sh does both)"
        )
    })
}

/// `{prefix}-{pid}-{nanos}-{n}`: a name no other test, or earlier run against the same emulator,
/// uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `(old, new)`: two x86_64 AMIs from moto's default set. `new` is the AL2023 ECS-recommended one
/// (from SSM); `old` another Amazon-owned AL2023 ECS image created no later than it (moto stamps
/// its whole default set with one CreationDate, so ties are broken by name, which carries the
/// build date). amiroll refuses downgrades, so a fleet must start on the older one.
pub async fn amis(ssm: &aws_sdk_ssm::Client, ec2: &aws_sdk_ec2::Client) -> (String, String) {
    let new = ssm
        .get_parameter()
        .name(AL2023_PARAMETER)
        .send()
        .await
        .expect("GetParameter on the public AL2023 AMI parameter")
        .parameter()
        .and_then(|p| p.value())
        .expect("the AL2023 parameter has a value")
        .to_owned();
    let images = ec2
        .describe_images()
        .owners("amazon")
        .filters(
            Filter::builder()
                .name("name")
                .values("al2023-ami-ecs-hvm-*")
                .build(),
        )
        .filters(
            Filter::builder()
                .name("architecture")
                .values("x86_64")
                .build(),
        )
        .send()
        .await
        .expect("DescribeImages owner amazon");
    let key = |i: &Image| {
        (
            i.creation_date().unwrap_or_default().to_owned(),
            i.name().unwrap_or_default().to_owned(),
        )
    };
    let newest = images
        .images()
        .iter()
        .find(|i| i.image_id() == Some(new.as_str()))
        .map(key)
        .expect("the AL2023 ECS-recommended AMI is among moto's x86_64 images");
    let old = images
        .images()
        .iter()
        .filter(|i| i.image_id() != Some(new.as_str()))
        .filter(|i| i.architecture() == Some(&ArchitectureValues::X8664))
        .filter(|i| key(i) < newest)
        .min_by_key(|i| key(i))
        .and_then(|i| i.image_id())
        .expect("an older x86_64 Amazon-owned AMI in moto's default set")
        .to_owned();
    (old, new)
}

/// A launch template `name` whose v1 has `image_id`, m5.large and, when given, user data and a
/// version description. Returns its id.
pub async fn launch_template(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    image_id: &str,
    user_data: Option<&str>,
    description: Option<&str>,
) -> String {
    ec2.create_launch_template()
        .launch_template_name(name)
        .set_version_description(description.map(str::to_owned))
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(image_id)
                .instance_type(InstanceType::from("m5.large"))
                .set_user_data(user_data.map(str::to_owned))
                .build(),
        )
        .send()
        .await
        .expect("CreateLaunchTemplate")
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("template id")
        .to_owned()
}

/// A group `name` in us-east-1a on `$Default` of `template_id`, min 1, max 2, desired 1, with
/// these termination policies (none: the Default policy).
pub async fn group(
    asg: &aws_sdk_autoscaling::Client,
    name: &str,
    template_id: &str,
    termination_policies: &[&str],
) {
    // The client's Region's first zone (us-east-1a for most tests).
    let zone = format!(
        "{}a",
        asg.config().region().map_or("us-east-1", |r| r.as_ref())
    );
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(1)
        .max_size(2)
        .desired_capacity(1)
        .availability_zones(zone)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_id(template_id)
                .version("$Default")
                .build(),
        )
        .set_termination_policies(
            (!termination_policies.is_empty())
                .then(|| termination_policies.iter().map(|p| p.to_string()).collect()),
        )
        .send()
        .await
        .expect("CreateAutoScalingGroup");
}

/// A String parameter `name` holding `value` (a new version when it exists).
pub async fn put_parameter(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("PutParameter");
}

/// An SNS topic `name`; returns its ARN.
pub async fn topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    sns.create_topic()
        .name(name)
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("topic arn")
        .to_owned()
}

/// The one place's plan (`check`, `plan`, `status`) or report (`apply`, `rollback`) in what
/// `amiroll … --output json` printed: `places[0].plan` or `places[0].report` (the shape is
/// `CliOutput`, docs/schema/cli-output.schema.json). Panics, showing the document, unless it
/// matches that schema and has schema version 1 and exactly one place.
pub fn cli_output_body(doc: &serde_json::Value) -> &serde_json::Value {
    assert_matches_schema("cli-output.schema.json", doc);
    assert_eq!(doc["schema_version"], 1, "schema_version: {doc:#}");
    let places = doc["places"].as_array().expect("`places` is an array");
    assert_eq!(places.len(), 1, "one place: {doc:#}");
    let place = &places[0];
    if place["report"].is_null() {
        &place["plan"]
    } else {
        &place["report"]
    }
}

/// Checks `doc` against a JSON Schema checked in under `docs/schema/` (`file`: its name there,
/// e.g. `cli-output.schema.json`), with a maintained validator (the `jsonschema` crate); panics
/// listing every violation and the document.
pub fn assert_matches_schema(file: &str, doc: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid JSON Schema: {e}", path.display()));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the document does not match {file}:\n{}\n--- document\n{doc:#}",
        errors.join("\n")
    );
}
