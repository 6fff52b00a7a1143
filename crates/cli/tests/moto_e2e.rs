//! The `amiroll` binary end to end against the local AWS emulator (`tests/moto/server.py`: moto
//! with a small shim for the launch-template behaviour moto lacks).
//!
//! Each test builds its own fleet with the AWS SDK (a launch template on an older AMI, a group on
//! `$Default`, an SNS topic, an SSM parameter of its own holding "the newest AMI"), runs the built
//! binary as a user would, and checks the exit code, the output and the AWS state afterwards.
//! Names are unique per test and per run, so the tests run in parallel against one server.
//!
//! Run: `scripts/test.sh`, or `python3 tests/moto/server.py 5790 &` then
//! `AMIROLL_MOTO_URL=http://127.0.0.1:5790 cargo test --workspace --test moto_e2e -- --ignored`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use amiroll_testkit as testkit;
use aws_sdk_autoscaling::types as asg_types;
use aws_sdk_ec2::types as ec2_types;
use serde_json::Value;

const INSTANCE_TYPE: &str = "m5.large";
/// `#!/bin/bash` / `echo ECS_CLUSTER=prod >> /etc/ecs/ecs.config`, base64 as EC2 takes it.
const USER_DATA: &str =
    "IyEvYmluL2Jhc2gKZWNobyBFQ1NfQ0xVU1RFUj1wcm9kID4+IC9ldGMvZWNzL2Vjcy5jb25maWcK";
/// Longest a single `amiroll` run may take against the emulator.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// The seed's environment variables; cleared for every run unless a test sets them.
const SEED_ENV: [&str; 4] = [
    "launch_template_id",
    "image_id_ssm_parameter",
    "sns_arn",
    "asg_name",
];

fn moto_url() -> String {
    std::env::var("AMIROLL_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "AMIROLL_MOTO_URL is not set. These tests need the local AWS emulator: run \
             `python3 tests/moto/server.py 5790 &` and set AMIROLL_MOTO_URL=http://127.0.0.1:5790 \
             (scripts/test.sh does both)"
        )
    })
}

/// SDK clients on the emulator, for fixtures and for checking state afterwards.
struct Moto {
    url: String,
    region: String,
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    asg: aws_sdk_autoscaling::Client,
    sns: aws_sdk_sns::Client,
}

async fn moto() -> Moto {
    moto_in("us-east-1").await
}

/// [`moto`] in another Region.
async fn moto_in(region: &str) -> Moto {
    let url = moto_url();
    let conf = testkit::sdk_config_in(&url, region, "testing", "testing").await;
    Moto {
        url,
        region: region.to_string(),
        ssm: aws_sdk_ssm::Client::new(&conf),
        ec2: aws_sdk_ec2::Client::new(&conf),
        asg: aws_sdk_autoscaling::Client::new(&conf),
        sns: aws_sdk_sns::Client::new(&conf),
    }
}

/// A name no other test (or earlier run against the same server) uses.
fn unique(prefix: &str) -> String {
    testkit::unique(&format!("e2e-{prefix}"))
}

/// Two x86_64 AMIs from moto's default set: `new` is the AL2023 ECS-recommended one (from SSM),
/// `old` another Amazon-owned AL2023 ECS image created no later than it (moto stamps its whole
/// default set with one CreationDate, so ties are broken by name, which carries the build date).
/// amiroll refuses downgrades, so the fleet must start on the older one.
struct Amis {
    old: String,
    new: String,
}

async fn amis(m: &Moto) -> &'static Amis {
    // moto's AMI ids differ by Region: us-east-1's are read once, another Region's each time.
    static AMIS: OnceLock<Amis> = OnceLock::new();
    if m.region != "us-east-1" {
        let (old, new) = testkit::amis(&m.ssm, &m.ec2).await;
        return Box::leak(Box::new(Amis { old, new }));
    }
    if let Some(a) = AMIS.get() {
        return a;
    }
    let (old, new) = testkit::amis(&m.ssm, &m.ec2).await;
    let _ = AMIS.set(Amis { old, new });
    AMIS.get().expect("set above")
}

/// One target's worth of AWS resources, and a config file naming them.
struct Fleet {
    name: String,
    template_id: String,
    group: String,
    topic_arn: String,
    parameter: String,
    old_ami: String,
    new_ami: String,
    dir: tempfile::TempDir,
}

/// A launch template (old AMI, m5.large, user data), a group on `$Default` (min 1, max 2,
/// desired 1, OldestLaunchTemplate), an SNS topic, and an SSM parameter holding the old AMI.
async fn fleet(m: &Moto, label: &str) -> Fleet {
    let amis = amis(m).await;
    let name = unique(label);
    let template_id = testkit::launch_template(
        &m.ec2,
        &format!("{name}-lt"),
        &amis.old,
        Some(USER_DATA),
        Some("hand-made v1"),
    )
    .await;
    let group = format!("{name}-asg");
    testkit::group(&m.asg, &group, &template_id, &["OldestLaunchTemplate"]).await;
    let topic_arn = testkit::topic(&m.sns, &format!("{name}-topic")).await;
    let fleet = Fleet {
        parameter: format!("/amiroll-test/{name}/image_id"),
        name,
        template_id,
        group,
        topic_arn,
        old_ami: amis.old.clone(),
        new_ami: amis.new.clone(),
        dir: tempfile::tempdir().expect("a temporary directory"),
    };
    fleet.set_parameter(m, &fleet.old_ami).await;
    fleet
}

impl Fleet {
    /// Point the fleet's AMI parameter at `value` (a new parameter version).
    async fn set_parameter(&self, m: &Moto, value: &str) {
        testkit::put_parameter(&m.ssm, &self.parameter, value).await;
    }

    /// The `[[target]]` table for this fleet, with `extra` lines appended.
    fn toml(&self, groups: &[&str], topic: &str, extra: &str) -> String {
        let groups = groups
            .iter()
            .map(|g| format!("\"{g}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "[[target]]\nname = \"{}\"\nlaunch_template = \"{}\"\nami_parameter = \"{}\"\ngroups = [{groups}]\nsns_topic = \"{topic}\"\n{}{extra}",
            self.name,
            self.template_id,
            self.parameter,
            if extra.contains("strategy") {
                ""
            } else {
                "strategy = \"scheduled-surge\"\n"
            }
        )
    }

    /// The fleet's own configuration file.
    fn config(&self) -> PathBuf {
        self.write_config(
            "amiroll.toml",
            &self.toml(&[&self.group], &self.topic_arn, ""),
        )
    }

    fn write_config(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).expect("write the configuration file");
        path
    }

    /// The launch template now: (default version, versions by number).
    async fn template(
        &self,
        m: &Moto,
    ) -> (i64, BTreeMap<i64, ec2_types::ResponseLaunchTemplateData>) {
        let header = m
            .ec2
            .describe_launch_templates()
            .launch_template_ids(&self.template_id)
            .send()
            .await
            .expect("DescribeLaunchTemplates");
        let default = header
            .launch_templates()
            .first()
            .and_then(|t| t.default_version_number())
            .expect("default version");
        let versions = m
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(&self.template_id)
            .send()
            .await
            .expect("DescribeLaunchTemplateVersions")
            .launch_template_versions()
            .iter()
            .map(|v| {
                (
                    v.version_number().expect("version number"),
                    v.launch_template_data().cloned().expect("version data"),
                )
            })
            .collect();
        (default, versions)
    }

    /// The group's pending scheduled actions, by name.
    async fn scheduled_actions(
        &self,
        m: &Moto,
    ) -> BTreeMap<String, asg_types::ScheduledUpdateGroupAction> {
        m.asg
            .describe_scheduled_actions()
            .auto_scaling_group_name(&self.group)
            .send()
            .await
            .expect("DescribeScheduledActions")
            .scheduled_update_group_actions()
            .iter()
            .filter(|a| a.auto_scaling_group_name() == Some(self.group.as_str()))
            .map(|a| {
                (
                    a.scheduled_action_name().unwrap_or_default().to_owned(),
                    a.clone(),
                )
            })
            .collect()
    }

    /// The group's tags, key → value.
    async fn tags(&self, m: &Moto) -> BTreeMap<String, String> {
        m.asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.group)
            .send()
            .await
            .expect("DescribeAutoScalingGroups")
            .auto_scaling_groups()
            .first()
            .expect("the group")
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Nothing amiroll would write is there: one version (the default), no scheduled actions, no
    /// amiroll tags.
    async fn assert_untouched(&self, m: &Moto, context: &str) {
        let (default, versions) = self.template(m).await;
        assert_eq!(default, 1, "{context}: the default version moved");
        assert_eq!(
            versions.keys().copied().collect::<Vec<_>>(),
            vec![1],
            "{context}: a version was created"
        );
        assert_eq!(
            versions[&1].image_id(),
            Some(self.old_ami.as_str()),
            "{context}: version 1 changed"
        );
        let actions = self.scheduled_actions(m).await;
        assert!(
            actions.is_empty(),
            "{context}: scheduled actions {actions:?}"
        );
        let tags = self.tags(m).await;
        assert!(
            !tags.keys().any(|k| k.starts_with("amiroll:")),
            "{context}: amiroll tags {tags:?}"
        );
    }
}

/// What one run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// stdout as JSON. A command's document (not `iam-policy`'s) must match the checked-in
    /// schema and carry the process's exit code.
    fn json(&self) -> Value {
        let doc: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout));
        if doc.get("schema_version").is_some() {
            testkit::assert_matches_schema("cli-output.schema.json", &doc);
            assert_eq!(doc["exit_code"], self.code, "exit_code: {doc:#}");
        }
        doc
    }

    fn expect_code(self, code: i32, what: &str) -> Run {
        assert_eq!(
            self.code, code,
            "{what}: exit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Run the built `amiroll` against the emulator. Every `AWS_*` variable and the seed's variables
/// of the calling environment are removed so the run sees only the emulator and `env`.
fn amiroll(m: &Moto, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amiroll"));
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("AMIROLL_") || SEED_ENV.contains(&k.as_ref()) {
            cmd.env_remove(&key);
        }
    }
    // No shared config or credentials files from the machine running the tests.
    let nowhere = std::env::temp_dir().join(format!("{}-no-aws-config", unique("none")));
    cmd.env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &m.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the amiroll binary");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    // A run that hangs (an emulator that stopped answering) fails the test instead of the suite.
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for amiroll") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`amiroll {}` did not finish within {RUN_TIMEOUT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Read a child's pipe to the end on its own thread (so a full pipe never blocks the child).
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn with_config<'a>(config: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--config", config];
    v.extend_from_slice(args);
    v
}

fn target<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let targets = testkit::cli_output_body(doc)["targets"]
        .as_array()
        .expect("`targets` is an array");
    assert_eq!(targets.len(), 1, "one target: {doc:#}");
    assert_eq!(targets[0]["target"], name, "{doc:#}");
    &targets[0]
}

// --- Everything current ---------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn check_exits_0_when_the_parameter_names_the_ami_in_use() {
    let m = moto().await;
    let f = fleet(&m, "current").await;
    let config = f.config();
    let config = config.to_str().expect("utf-8 path");

    let text = amiroll(&m, &with_config(config, &["check"]), &[]).expect_code(0, "check");
    assert!(
        text.stdout
            .contains(&format!("target {} [current]", f.name)),
        "{}",
        text.stdout
    );

    let json = amiroll(
        &m,
        &with_config(config, &["check", "--output", "json"]),
        &[],
    )
    .expect_code(0, "check --output json");
    let doc = json.json();
    let t = target(&doc, &f.name);
    assert_eq!(t["status"], "current", "{t:#}");
    assert_eq!(t["target_ami"]["image_id"], f.old_ami.as_str(), "{t:#}");
    assert_eq!(t["template_id"], f.template_id.as_str(), "{t:#}");
    assert_eq!(t["errors"], Value::Array(vec![]), "{t:#}");
    assert_eq!(t["actions"], Value::Array(vec![]), "{t:#}");

    let plan = amiroll(&m, &with_config(config, &["plan"]), &[]).expect_code(0, "plan");
    assert!(plan.stdout.contains("(no changes)"), "{}", plan.stdout);

    let apply = amiroll(&m, &with_config(config, &["apply"]), &[]).expect_code(0, "apply");
    assert!(apply.stdout.contains("(no changes)"), "{}", apply.stdout);
    f.assert_untouched(&m, "apply on a current fleet").await;
}

/// `--config ssm:NAME` reads the configuration the Lambda reads (`AMIROLL_CONFIG_PARAMETER`) and
/// behaves as the same file does; a parameter that does not exist is an error that names it.
#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn the_configuration_can_come_from_an_ssm_parameter() {
    let m = moto().await;
    let f = fleet(&m, "ssm-config").await;
    let name = format!("/amiroll-test/{}/config", f.name);
    testkit::put_parameter(&m.ssm, &name, &f.toml(&[&f.group], &f.topic_arn, "")).await;
    let source = format!("ssm:{name}");
    let run = amiroll(&m, &["--config", &source, "check", "--output", "json"], &[])
        .expect_code(0, "check with the configuration from SSM");
    let doc = run.json();
    assert_eq!(target(&doc, &f.name)["status"], "current", "{doc:#}");
    let file = f.config();
    let from_file = amiroll(
        &m,
        &with_config(file.to_str().expect("utf-8 path"), &["check"]),
        &[],
    )
    .expect_code(0, "check with the file");
    let from_ssm = amiroll(&m, &["--config", &source, "check"], &[]).expect_code(0, "check");
    assert_eq!(from_ssm.stdout, from_file.stdout);
    let missing = format!("ssm:/amiroll-test/{}/nothing-here", f.name);
    let run = amiroll(&m, &["--config", &missing, "check"], &[])
        .expect_code(1, "a missing configuration parameter");
    assert!(
        run.stderr.contains("nothing-here") && run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
}

// --- Drift: check, plan, dry run, apply, apply again ----------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn a_new_ami_is_planned_then_applied_exactly_once() {
    let m = moto().await;
    let f = fleet(&m, "drift").await;
    f.set_parameter(&m, &f.new_ami).await;
    let config = f.config();
    let config = config.to_str().expect("utf-8 path");

    // check: drift, exit 2.
    let check = amiroll(&m, &with_config(config, &["check", "-o", "json"]), &[])
        .expect_code(2, "check with drift");
    let doc = check.json();
    let t = target(&doc, &f.name);
    assert_eq!(t["status"], "drift", "{t:#}");
    assert_eq!(t["target_ami"]["image_id"], f.new_ami.as_str(), "{t:#}");
    assert_eq!(t["target_ami"]["parameter"], f.parameter.as_str(), "{t:#}");
    assert_eq!(t["target_ami"]["parameter_version"], 2, "{t:#}");

    // plan: exit 2, lists the new version (text and JSON).
    let plan = amiroll(&m, &with_config(config, &["plan"]), &[]).expect_code(2, "plan");
    let create = format!(
        "create a version of {} from v1 with ImageId {}",
        f.template_id, f.new_ami
    );
    assert!(plan.stdout.contains(&create), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&format!(
            "make the new version the default version of {}",
            f.template_id
        )),
        "{}",
        plan.stdout
    );
    let plan = amiroll(&m, &with_config(config, &["plan", "-o", "json"]), &[])
        .expect_code(2, "plan --output json");
    let doc = plan.json();
    let actions = target(&doc, &f.name)["actions"]
        .as_array()
        .expect("actions")
        .clone();
    let created: Vec<&Value> = actions
        .iter()
        .filter(|a| a["type"] == "create-version")
        .collect();
    assert_eq!(created.len(), 1, "{actions:#?}");
    assert_eq!(created[0]["template_id"], f.template_id.as_str());
    assert_eq!(created[0]["source_version"], 1);
    assert_eq!(created[0]["image_id"], f.new_ami.as_str());
    assert!(
        created[0]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "every action carries its reason: {actions:#?}"
    );
    let put: Vec<&Value> = actions
        .iter()
        .filter(|a| a["type"] == "put-scheduled-action")
        .collect();
    assert_eq!(put.len(), 2, "surge and settle: {actions:#?}");

    // apply --dry-run: exit 0, nothing changes.
    let dry = amiroll(&m, &with_config(config, &["apply", "--dry-run"]), &[])
        .expect_code(0, "apply --dry-run");
    assert!(
        dry.stdout.contains("dry run: nothing was changed"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!("[not-done] {create}")),
        "{}",
        dry.stdout
    );
    f.assert_untouched(&m, "apply --dry-run").await;

    // apply: exit 0, and the changes are really there.
    let apply =
        amiroll(&m, &with_config(config, &["apply", "-o", "json"]), &[]).expect_code(0, "apply");
    let doc = apply.json();
    assert_eq!(testkit::cli_output_body(&doc)["dry_run"], false);
    let t = target(&doc, &f.name);
    assert_eq!(t["apply_error"], Value::Null, "{t:#}");
    let results = t["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{t:#}");
    assert!(
        results.iter().all(|r| r["result"] == "done"),
        "every action done: {results:#?}"
    );
    assert!(
        t["notification"]
            .as_str()
            .is_some_and(|n| n.starts_with("published rollout-started")),
        "{t:#}"
    );

    // The template: v2 carries the new AMI and inherits the rest of v1; it is the default.
    let (default, versions) = f.template(&m).await;
    assert_eq!(versions.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(default, 2, "the new version is the default");
    let v2 = &versions[&2];
    assert_eq!(v2.image_id(), Some(f.new_ami.as_str()));
    assert_eq!(
        v2.instance_type().map(|t| t.as_str()),
        Some(INSTANCE_TYPE),
        "InstanceType inherited from v1"
    );
    assert_eq!(
        v2.user_data(),
        Some(USER_DATA),
        "UserData inherited from v1"
    );
    assert_eq!(versions[&1].image_id(), Some(f.old_ami.as_str()), "v1 kept");

    // The group: the round recorded in its tags, and the two scheduled actions of that round.
    let tags = f.tags(&m).await;
    let round = tags
        .get("amiroll:rollout")
        .unwrap_or_else(|| panic!("amiroll:rollout tag: {tags:?}"))
        .clone();
    assert_eq!(
        tags.get("amiroll:rollout-ami"),
        Some(&f.new_ami),
        "{tags:?}"
    );
    assert_eq!(
        tags.get("amiroll:original-capacity").map(String::as_str),
        Some("min=1,max=2,desired=1"),
        "{tags:?}"
    );
    assert_eq!(
        tags.get("amiroll:rollback-version"),
        Some(&format!("{}:1", f.template_id)),
        "{tags:?}"
    );
    let actions = f.scheduled_actions(&m).await;
    let surge_name = format!("amiroll-{round}-surge");
    let settle_name = format!("amiroll-{round}-settle");
    assert_eq!(
        actions.keys().cloned().collect::<Vec<_>>(),
        vec![settle_name.clone(), surge_name.clone()],
        "{actions:#?}"
    );
    let surge = &actions[&surge_name];
    assert_eq!(surge.desired_capacity(), Some(2), "{surge:?}");
    assert_eq!(surge.max_size(), Some(2), "{surge:?}");
    let settle = &actions[&settle_name];
    assert_eq!(
        (
            settle.min_size(),
            settle.max_size(),
            settle.desired_capacity()
        ),
        (Some(1), Some(2), Some(1)),
        "{settle:?}"
    );
    let (surge_at, settle_at) = (
        surge.start_time().expect("surge start time"),
        settle.start_time().expect("settle start time"),
    );
    let now = aws_sdk_autoscaling::primitives::DateTime::from(SystemTime::now());
    assert!(surge_at.secs() > now.secs(), "the surge is in the future");
    assert!(
        settle_at.secs() > surge_at.secs(),
        "the settle comes after the surge"
    );

    // apply again: the rollout is in flight; no second version, the same two actions.
    let again = amiroll(&m, &with_config(config, &["apply", "-o", "json"]), &[])
        .expect_code(0, "apply again");
    let doc = again.json();
    let t = target(&doc, &f.name);
    assert_eq!(t["status"], "rolling", "{t:#}");
    assert!(
        !t["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|r| r["action"]
                .as_str()
                .unwrap_or_default()
                .starts_with("create a version")),
        "{t:#}"
    );
    let (default, versions) = f.template(&m).await;
    assert_eq!(
        versions.keys().copied().collect::<Vec<_>>(),
        vec![1, 2],
        "no second version"
    );
    assert_eq!(default, 2);
    let again_actions = f.scheduled_actions(&m).await;
    assert_eq!(
        again_actions.keys().cloned().collect::<Vec<_>>(),
        vec![settle_name, surge_name]
    );
    assert_eq!(f.tags(&m).await.get("amiroll:rollout"), Some(&round));

    // check while rolling: not current, so exit 2.
    amiroll(&m, &with_config(config, &["check"]), &[]).expect_code(2, "check while rolling");
}

// --- Scheduled surge with no run in the health gate ------------------------------------------

/// The group's instances: (id, protected from scale in, health status).
async fn instances(m: &Moto, group: &str) -> Vec<(String, bool, String)> {
    m.asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .expect("DescribeAutoScalingGroups")
        .auto_scaling_groups()
        .first()
        .expect("the group")
        .instances()
        .iter()
        .map(|i| {
            (
                i.instance_id().unwrap_or_default().to_owned(),
                i.protected_from_scale_in().unwrap_or_default(),
                i.health_status().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn a_settle_with_no_run_in_the_health_gate_never_ends_in_success() {
    // Issue 9, bug 1, over HTTP: the surge fires, the new instance is unhealthy, no run happens in
    // the health gate, the settle fires. The emulator never runs scheduled actions, so both are
    // done by hand, as Auto Scaling would: the surge raises the desired capacity, the settle
    // lowers it and the one-time actions are gone.
    let m = moto().await;
    let f = fleet(&m, "deadman").await;
    f.set_parameter(&m, &f.new_ami).await;
    let config = f.config();
    let config = config.to_str().expect("utf-8 path");
    amiroll(&m, &with_config(config, &["apply"]), &[]).expect_code(0, "apply starts round 1");
    let before = instances(&m, &f.group).await;
    assert_eq!(before.len(), 1, "{before:?}");
    let old_id = before[0].0.clone();
    assert!(
        before[0].1,
        "the round protects the old instance: {before:?}"
    );

    // The surge.
    m.asg
        .set_desired_capacity()
        .auto_scaling_group_name(&f.group)
        .desired_capacity(2)
        .send()
        .await
        .expect("the surge, by hand");
    let surged = instances(&m, &f.group).await;
    let new_id = surged
        .iter()
        .map(|(id, _, _)| id.clone())
        .find(|id| *id != old_id)
        .expect("a new instance");
    m.asg
        .set_instance_health()
        .instance_id(&new_id)
        .health_status("Unhealthy")
        .send()
        .await
        .expect("SetInstanceHealth");

    // The settle, with no amiroll run in between.
    for (name, _) in f.scheduled_actions(&m).await {
        m.asg
            .delete_scheduled_action()
            .auto_scaling_group_name(&f.group)
            .scheduled_action_name(name)
            .send()
            .await
            .expect("the one-time action is gone once it ran");
    }
    m.asg
        .set_desired_capacity()
        .auto_scaling_group_name(&f.group)
        .desired_capacity(1)
        .send()
        .await
        .expect("the settle, by hand");
    let settled = instances(&m, &f.group).await;
    assert_eq!(
        settled
            .iter()
            .map(|(id, _, _)| id.clone())
            .collect::<Vec<_>>(),
        vec![old_id.clone()],
        "scale in skips the protected old instance: {settled:?}"
    );

    // The next run: no success, the old instance still in service.
    let run = amiroll(&m, &with_config(config, &["apply", "-o", "json"]), &[]);
    let doc = run.json();
    let t = target(&doc, &f.name);
    assert_ne!(t["status"], "current", "{t:#}");
    assert!(
        !t["notification"]
            .as_str()
            .unwrap_or_default()
            .contains("rollout-succeeded"),
        "{t:#}"
    );
    assert!(
        f.tags(&m).await.contains_key("amiroll:rollout"),
        "the round is still tracked"
    );
    let after = instances(&m, &f.group).await;
    assert!(
        after
            .iter()
            .any(|(id, protected, health)| *id == old_id && *protected && health == "Healthy"),
        "{after:?}"
    );
}

// --- The seed's environment variables -------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn the_seed_environment_variables_configure_check() {
    let m = moto().await;
    let f = fleet(&m, "seed").await;
    let env = [
        ("launch_template_id", f.template_id.as_str()),
        ("image_id_ssm_parameter", f.parameter.as_str()),
        ("sns_arn", f.topic_arn.as_str()),
        ("asg_name", f.group.as_str()),
    ];

    let current = amiroll(&m, &["check"], &env).expect_code(0, "seed env, current");
    // The seed's configuration names the target after the group.
    assert!(
        current
            .stdout
            .contains(&format!("target {} [current]", f.group)),
        "{}",
        current.stdout
    );

    f.set_parameter(&m, &f.new_ami).await;
    let drift = amiroll(&m, &["check", "-o", "json"], &env).expect_code(2, "seed env, drift");
    let doc = drift.json();
    let t = target(&doc, &f.group);
    assert_eq!(t["status"], "drift", "{t:#}");
    assert_eq!(t["strategy"], "scheduled-surge", "{t:#}");
    assert_eq!(t["sns_topic"], f.topic_arn.as_str(), "{t:#}");
    assert_eq!(t["target_ami"]["image_id"], f.new_ami.as_str(), "{t:#}");
    f.assert_untouched(&m, "check with the seed's variables")
        .await;

    // One variable missing: an error that names it.
    let partial = amiroll(&m, &["check"], &env[..3]).expect_code(1, "seed env without asg_name");
    assert!(partial.stderr.contains("asg_name"), "{}", partial.stderr);
}

// --- Bad input changes nothing --------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn a_missing_group_is_an_error_and_changes_nothing() {
    let m = moto().await;
    let f = fleet(&m, "nogroup").await;
    f.set_parameter(&m, &f.new_ami).await;
    let missing = format!("{}-missing", f.group);
    let config = f.write_config(
        "amiroll.toml",
        &f.toml(&[&f.group, &missing], &f.topic_arn, ""),
    );
    let config = config.to_str().expect("utf-8 path");

    let check = amiroll(&m, &with_config(config, &["check"]), &[]).expect_code(1, "check");
    assert!(
        check
            .output()
            .contains(&format!("Auto Scaling group `{missing}` not found")),
        "{}",
        check.output()
    );
    let apply = amiroll(&m, &with_config(config, &["apply"]), &[]).expect_code(1, "apply");
    assert!(apply.output().contains(&missing), "{}", apply.output());
    f.assert_untouched(&m, "apply with a missing group").await;
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn a_json_parameter_where_an_id_is_expected_is_an_error_and_changes_nothing() {
    let m = moto().await;
    let f = fleet(&m, "json").await;
    // What `…/recommended` (the JSON parameter) holds, put where an AMI id is expected.
    let json = serde_json::json!({
        "image_id": f.new_ami,
        "image_name": "al2023-ami-ecs-hvm-2023.0.20260226-kernel-6.1-x86_64",
        "ecs_agent_version": "1.100.0",
        "os": "Amazon Linux 2023",
        "schema_version": 1,
        "source_image_name": "al2023-ami-minimal-2023.0.20260226-kernel-6.1-x86_64"
    })
    .to_string();
    f.set_parameter(&m, &json).await;
    let config = f.config();
    let config = config.to_str().expect("utf-8 path");

    let check = amiroll(&m, &with_config(config, &["check"]), &[]).expect_code(1, "check");
    assert!(
        check.output().contains(&format!(
            "SSM parameter `{}` holds a JSON document",
            f.parameter
        )),
        "{}",
        check.output()
    );
    let apply = amiroll(&m, &with_config(config, &["apply"]), &[]).expect_code(1, "apply");
    assert!(apply.output().contains(&f.parameter), "{}", apply.output());
    f.assert_untouched(&m, "apply with a JSON parameter").await;
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn a_missing_sns_topic_is_an_error_and_changes_nothing() {
    let m = moto().await;
    let f = fleet(&m, "notopic").await;
    f.set_parameter(&m, &f.new_ami).await;
    let missing = format!("{}-missing", f.topic_arn);
    let config = f.write_config("amiroll.toml", &f.toml(&[&f.group], &missing, ""));
    let config = config.to_str().expect("utf-8 path");

    let check = amiroll(&m, &with_config(config, &["check"]), &[]).expect_code(1, "check");
    assert!(
        check
            .output()
            .contains(&format!("SNS topic `{missing}` does not exist")),
        "{}",
        check.output()
    );
    let apply = amiroll(&m, &with_config(config, &["apply"]), &[]).expect_code(1, "apply");
    assert!(apply.output().contains(&missing), "{}", apply.output());
    f.assert_untouched(&m, "apply with a missing topic").await;
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn an_unknown_config_key_is_an_error_and_changes_nothing() {
    let m = moto().await;
    let f = fleet(&m, "badkey").await;
    f.set_parameter(&m, &f.new_ami).await;
    // The target table takes seven lines; the misspelt key is on line 8.
    let text = f.toml(&[&f.group], &f.topic_arn, "surge_minuets = 20\n");
    assert_eq!(
        text.lines().position(|l| l.starts_with("surge_minuets")),
        Some(7)
    );
    let config = f.write_config("amiroll.toml", &text);
    let config = config.to_str().expect("utf-8 path");

    for args in [&["check"][..], &["apply"][..]] {
        let run = amiroll(&m, &with_config(config, args), &[]).expect_code(1, args[0]);
        assert!(run.stderr.contains("surge_minuets"), "{}", run.stderr);
        assert!(run.stderr.contains("line 8"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "no result on stdout: {}", run.stdout);
    }
    f.assert_untouched(&m, "apply with an unknown key").await;
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn instance_refresh_starts_is_followed_and_rolls_back_over_http() {
    let m = moto().await;
    let f = fleet(&m, "refresh").await;
    f.set_parameter(&m, &f.new_ami).await;
    let config = f.write_config(
        "refresh.toml",
        &f.toml(
            &[&f.group],
            &f.topic_arn,
            "strategy = \"instance-refresh\"\n",
        ),
    );
    let config = config.to_str().expect("utf-8 path");

    // apply: the group is pinned to v1 (rollback needs a numbered version), v2 is created and a
    // refresh to v2 starts; the default stays on v1 until the fleet runs the AMI.
    amiroll(&m, &with_config(config, &["apply"]), &[]).expect_code(0, "apply");
    let group = m
        .asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&f.group)
        .send()
        .await
        .expect("DescribeAutoScalingGroups");
    let spec = group.auto_scaling_groups()[0]
        .launch_template()
        .and_then(|s| s.version())
        .map(str::to_owned);
    assert_eq!(
        spec.as_deref(),
        Some("1"),
        "pinned to keep rollback available"
    );
    let refreshes = m
        .asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(&f.group)
        .send()
        .await
        .expect("DescribeInstanceRefreshes");
    let r = &refreshes.instance_refreshes()[0];
    let id = r.instance_refresh_id().expect("id").to_owned();
    let desired = r
        .desired_configuration()
        .and_then(|d| d.launch_template())
        .and_then(|t| t.version())
        .map(str::to_owned);
    assert_eq!(desired.as_deref(), Some("2"), "desired version by number");
    let prefs = r.preferences().expect("preferences");
    assert_eq!(prefs.min_healthy_percentage(), Some(100));
    assert_eq!(prefs.max_healthy_percentage(), Some(200));
    assert_eq!(prefs.auto_rollback(), Some(true));
    assert_eq!(prefs.skip_matching(), Some(true));
    let tags = f.tags(&m).await;
    assert_eq!(tags.get("amiroll:refresh"), Some(&id), "{tags:?}");

    // A second run while the refresh is in flight starts nothing.
    let again = amiroll(&m, &with_config(config, &["apply", "-o", "json"]), &[])
        .expect_code(0, "apply during the refresh");
    assert_eq!(target(&again.json(), &f.name)["status"], "rolling");
    let count = m
        .asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(&f.group)
        .send()
        .await
        .expect("DescribeInstanceRefreshes")
        .instance_refreshes()
        .len();
    assert_eq!(count, 1, "one refresh only");

    // status: rolling (exit 2), with the refresh in the JSON.
    let status = amiroll(&m, &with_config(config, &["status", "-o", "json"]), &[])
        .expect_code(2, "status during the refresh");
    let doc = status.json();
    let g = &target(&doc, &f.name)["groups"][0];
    assert_eq!(g["rollout"]["strategy"], "instance-refresh", "{g:#}");

    // rollback: RollbackInstanceRefresh; the next run announces the outcome and marks the AMI.
    amiroll(&m, &with_config(config, &["rollback", &f.name]), &[]).expect_code(0, "rollback");
    let refreshes = m
        .asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(&f.group)
        .send()
        .await
        .expect("DescribeInstanceRefreshes");
    assert_eq!(
        refreshes.instance_refreshes()[0]
            .status()
            .map(|s| s.as_str()),
        Some("RollbackSuccessful")
    );
    let after = amiroll(&m, &with_config(config, &["apply", "-o", "json"]), &[])
        .expect_code(1, "apply after the rollback: the target stays failed");
    let t = target(&after.json(), &f.name).clone();
    assert_eq!(t["status"], "failed", "{t:#}");
    let tags = f.tags(&m).await;
    assert_eq!(tags.get("amiroll:failed-ami"), Some(&f.new_ami), "{tags:?}");
    assert_eq!(
        tags.get("amiroll:announced"),
        Some(&format!("{id}:RollbackSuccessful")),
        "{tags:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn several_regions_are_checked_and_a_failing_one_is_named() {
    let m = moto().await;
    let f = fleet(&m, "regions").await;
    // The fleet exists in us-east-1 only: eu-west-1 reports its target as an error.
    let text = format!(
        "regions = [\"us-east-1\", \"eu-west-1\"]\n{}",
        f.toml(&[&f.group], &f.topic_arn, "")
    );
    let config = f.write_config("regions.toml", &text);
    let config = config.to_str().expect("utf-8 path");
    let run = amiroll(&m, &with_config(config, &["check"]), &[]).expect_code(1, "check");
    assert!(
        run.stdout.contains("== own account/eu-west-1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("== own account/us-east-1"),
        "{}",
        run.stdout
    );
    let json = amiroll(&m, &with_config(config, &["check", "-o", "json"]), &[])
        .expect_code(1, "check json")
        .json();
    assert_eq!(json["schema_version"], 1, "{json:#}");
    assert_eq!(json["exit_code"], 1, "{json:#}");
    let places = json["places"].as_array().expect("one entry per place");
    assert_eq!(places.len(), 2);
    let us = places
        .iter()
        .find(|p| p["place"]["region"] == "us-east-1")
        .expect("us-east-1");
    assert_eq!(us["plan"]["targets"][0]["status"], "current", "{us:#}");
    let apply = amiroll(&m, &with_config(config, &["apply", "--dry-run"]), &[])
        .expect_code(1, "apply --dry-run");
    assert!(
        apply.stdout.contains("failed in: own account/eu-west-1"),
        "{}",
        apply.stdout
    );
    // `status` covers every place too, and `--region` picks one of the list.
    let status = amiroll(&m, &with_config(config, &["status"]), &[]).expect_code(1, "status");
    assert!(
        status.stdout.contains("== own account/us-east-1")
            && status.stdout.contains("== own account/eu-west-1"),
        "{}",
        status.stdout
    );
    let one = amiroll(
        &m,
        &with_config(config, &["--region", "us-east-1", "status"]),
        &[],
    )
    .expect_code(0, "status --region us-east-1");
    assert!(!one.stdout.contains("eu-west-1"), "{}", one.stdout);
    let outside = amiroll(
        &m,
        &with_config(config, &["--region", "ap-south-1", "check"]),
        &[],
    )
    .expect_code(1, "a region outside the list");
    assert!(
        outside.stderr.contains("--region ap-south-1 is not one of"),
        "{}",
        outside.stderr
    );
}

// --- Provenance -----------------------------------------------------------------------------

/// The digest's errors of the one target, joined.
fn errors_of(doc: &Value) -> String {
    doc["places"][0]["targets"][0]["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// An image whose owner `ami_owners` does not allow, and one the Region's Allowed AMIs criteria
/// (audit mode) reject, are refused: exit 1, an error naming the AMI, its owner and the
/// parameter, and no change. moto has no Allowed AMIs: shim 15 (tests/moto/server.py). The
/// setting is Region-wide, so this test has ap-southeast-2 to itself.
#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn an_image_of_an_owner_not_allowed_or_rejected_by_allowed_amis_is_refused_over_http() {
    use aws_sdk_ec2::types::{AllowedImagesSettingsEnabledState, ImageCriterionRequest};
    const REGION: &str = "ap-southeast-2";
    let m = moto_in(REGION).await;
    let f = fleet(&m, "provenance").await;
    f.set_parameter(&m, &f.new_ami).await;
    let region = [("AWS_REGION", REGION)];

    // Only the account's own images: moto's Amazon-owned image is refused.
    let own_only = f.write_config(
        "own-only.toml",
        &f.toml(&[&f.group], &f.topic_arn, "ami_owners = [\"self\"]\n"),
    );
    let own_only = own_only.to_str().expect("utf-8 path");
    let run = amiroll(
        &m,
        &with_config(own_only, &["apply", "-o", "json"]),
        &region,
    )
    .expect_code(1, "apply of an Amazon image with ami_owners = [\"self\"]");
    let errors = errors_of(&run.json());
    for needle in [
        f.new_ami.as_str(),
        f.parameter.as_str(),
        "amazon",
        "not allowed",
    ] {
        assert!(errors.contains(needle), "`{needle}` in: {errors}");
    }
    f.assert_untouched(&m, "a refused owner").await;

    // The default owners allow Amazon; the Region's Allowed AMIs criteria (audit mode) do not.
    m.ec2
        .enable_allowed_images_settings()
        .allowed_images_settings_state(AllowedImagesSettingsEnabledState::AuditMode)
        .send()
        .await
        .expect("EnableAllowedImagesSettings");
    let criteria = |provider: &str| {
        ImageCriterionRequest::builder()
            .image_providers(provider)
            .build()
    };
    m.ec2
        .replace_image_criteria_in_allowed_images_settings()
        .image_criteria(criteria("aws-marketplace"))
        .send()
        .await
        .expect("ReplaceImageCriteriaInAllowedImagesSettings");
    let config = f.config();
    let config = config.to_str().expect("utf-8 path");
    let run = amiroll(&m, &with_config(config, &["check", "-o", "json"]), &region)
        .expect_code(1, "check of an image the Allowed AMIs criteria reject");
    let errors = errors_of(&run.json());
    assert!(
        errors.contains("Allowed AMIs") && errors.contains(&f.new_ami),
        "{errors}"
    );
    amiroll(&m, &with_config(config, &["apply"]), &region)
        .expect_code(1, "apply of an image the Allowed AMIs criteria reject");
    f.assert_untouched(&m, "an image Allowed AMIs rejects")
        .await;

    // Criteria that allow Amazon's images: the rollout starts.
    m.ec2
        .replace_image_criteria_in_allowed_images_settings()
        .image_criteria(criteria("amazon"))
        .send()
        .await
        .expect("ReplaceImageCriteriaInAllowedImagesSettings");
    amiroll(&m, &with_config(config, &["apply"]), &region)
        .expect_code(0, "apply once Allowed AMIs allows Amazon's images");
    let (default, versions) = f.template(&m).await;
    assert_eq!(
        (default, versions.keys().copied().collect::<Vec<_>>()),
        (2, vec![1, 2]),
        "the new version is the default"
    );
    m.ec2
        .disable_allowed_images_settings()
        .send()
        .await
        .expect("DisableAllowedImagesSettings");
}
