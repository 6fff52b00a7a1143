//! `amiroll iam-policy`: the generated policy is sufficient and consistent.
//!
//! - In the simulator: every call the engine makes while rolling out, rolling back and being
//!   acknowledged, per strategy, is an action of the policy generated for that configuration.
//! - `deploy/template.yaml`'s function policies have the statements and actions the generator
//!   gives for the seed's four environment variables (Strategy scheduled-surge) and for the
//!   configuration the template writes (Strategy instance-refresh).
//! - The CLI: formats, flags, notes.
//! - `#[ignore]`d, against a second emulator that enforces IAM (`AMIROLL_MOTO_IAM_URL`:
//!   `INITIAL_NO_AUTH_ACTION_COUNT=0 python3 tests/iam/server.py PORT`: tests/moto/server.py plus a
//!   fix to moto's signature check, which scripts/test.sh starts): `amiroll check`, `apply`,
//!   `status` and `rollback` succeed as an IAM user that holds only the generated policy, and
//!   `apply` fails with AccessDenied when one action is missing.
//!
//! moto checks the action of each request but not its resource: it evaluates every request
//! against the resource `"*"`, so an Allow scoped to an ARN never matches there (moto-gaps §6). The
//! emulator tests therefore rewrite every `Resource` of the generated policy to `"*"` before
//! attaching it; they prove the action list is sufficient, not the ARNs. The ARNs are covered by
//! the unit tests in `crates/core/src/iam.rs` and by parliament (`tests/iam/lint.sh`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use amiroll_core::config::Config;
use amiroll_core::iam;
use amiroll_core::planner::PlanOptions;
use amiroll_core::port::op;
use amiroll_core::Engine;
use amiroll_sim::{GroupSpec, ImageSpec, SimAws, TemplateData};
use serde_json::{json, Value};

const PUBLIC_PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// --- The CLI --------------------------------------------------------------------------------

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn expect_code(self, code: i32, what: &str) -> Run {
        assert_eq!(
            self.code, code,
            "{what}: exit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// stdout as JSON. A command's document (not `iam-policy`'s) must match the checked-in
    /// schema and carry the process's exit code.
    fn json(&self) -> Value {
        let doc: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout));
        if doc.get("schema_version").is_some() {
            amiroll_testkit::assert_matches_schema("cli-output.schema.json", &doc);
            assert_eq!(doc["exit_code"], self.code, "exit_code: {doc:#}");
        }
        doc
    }
}

const SEED_ENV: [&str; 4] = [
    "launch_template_id",
    "image_id_ssm_parameter",
    "sns_arn",
    "asg_name",
];

/// Run the built binary with only `env` (plus PATH) from the environment that matters: no
/// `AWS_*`, `AMIROLL_*` or seed variables of the caller. `aws` = (endpoint, key id, secret).
fn amiroll(args: &[&str], env: &[(&str, &str)], aws: Option<(&str, &str, &str)>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amiroll"));
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("AWS_") || k.starts_with("AMIROLL_") || SEED_ENV.contains(&k.as_ref()) {
            cmd.env_remove(&key);
        }
    }
    let nowhere = std::env::temp_dir().join(format!("{}-no-aws-config", unique("none")));
    cmd.env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1");
    if let Some((url, id, secret)) = aws {
        cmd.env("AWS_ENDPOINT_URL", url)
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    }
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
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for amiroll") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`amiroll {}` did not finish within 120 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn unique(prefix: &str) -> String {
    amiroll_testkit::unique(&format!("iam-{prefix}"))
}

fn seed_env<'a>(
    template: &'a str,
    parameter: &'a str,
    topic: &'a str,
    group: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("launch_template_id", template),
        ("image_id_ssm_parameter", parameter),
        ("sns_arn", topic),
        ("asg_name", group),
    ]
}

fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("amiroll.toml");
    std::fs::write(&path, text).expect("write the configuration");
    (dir, path)
}

#[test]
fn iam_policy_prints_the_document_and_makes_no_aws_call() {
    let (_dir, path) = write_config(&format!(
        "[[target]]\nname = \"web\"\nlaunch_template = \"lt-0123456789abcdef0\"\nami_parameter = \"{PUBLIC_PARAM}\"\ngroups = [\"web-asg\"]\necs_cluster = \"prod\"\n"
    ));
    let config = path.to_str().expect("utf-8 path");
    // An endpoint that does not answer: the command must not need one.
    let run = amiroll(
        &[
            "--config",
            config,
            "--region",
            "eu-west-1",
            "iam-policy",
            "--account-id",
            "123456789012",
            "--pass-role",
            "arn:aws:iam::123456789012:role/ecsInstanceRole",
        ],
        &[],
        Some(("http://127.0.0.1:9", "x", "y")),
    )
    .expect_code(0, "iam-policy");
    let doc = run.json();
    assert_eq!(doc["Version"], "2012-10-17");
    let text = doc.to_string();
    assert!(
        text.contains("arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0123456789abcdef0"),
        "{doc:#}"
    );
    assert!(
        text.contains("arn:aws:ssm:eu-west-1::parameter/aws/service/ecs/"),
        "{doc:#}"
    );
    assert!(text.contains("iam:PassRole"), "{doc:#}");
    assert!(run.stderr.is_empty(), "no notes needed: {}", run.stderr);

    // Without --pass-role, the instance-refresh target gets a note on stderr.
    let run = amiroll(&["--config", config, "iam-policy"], &[], None).expect_code(0, "notes");
    assert!(run.stderr.contains("--pass-role"), "{}", run.stderr);
    assert!(!run.stdout.contains("iam:PassRole"));

    let run = amiroll(
        &[
            "--config",
            config,
            "iam-policy",
            "--format",
            "cloudformation",
        ],
        &[],
        None,
    )
    .expect_code(0, "cloudformation");
    assert!(
        run.stdout.contains("Type: AWS::IAM::ManagedPolicy"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "!Sub \"arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:launch-template/lt-0123456789abcdef0\""
        ),
        "{}",
        run.stdout
    );

    let bad = amiroll(
        &["--config", config, "iam-policy", "--account-id", "12345"],
        &[],
        None,
    )
    .expect_code(1, "bad account id");
    assert!(bad.stderr.contains("--account-id"), "{}", bad.stderr);
    let bad = amiroll(
        &[
            "--config",
            config,
            "iam-policy",
            "--pass-role",
            "ecsInstanceRole",
        ],
        &[],
        None,
    )
    .expect_code(1, "bad role");
    assert!(bad.stderr.contains("--pass-role"), "{}", bad.stderr);
}

// --- deploy/template.yaml --------------------------------------------------------------------

fn deploy_template() -> String {
    std::fs::read_to_string(workspace().join("deploy/template.yaml")).expect("deploy/template.yaml")
}

/// Sid → actions of the statements between the `BEGIN amiroll iam-policy (BLOCK)` and
/// `END amiroll iam-policy (BLOCK)` markers.
fn template_statements(text: &str, block: &str) -> BTreeMap<String, BTreeSet<String>> {
    let begin = format!("# BEGIN amiroll iam-policy ({block})");
    let end = format!("# END amiroll iam-policy ({block})");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("`{begin}` in deploy/template.yaml"));
    let end = text
        .find(&end)
        .unwrap_or_else(|| panic!("`{end}` in deploy/template.yaml"));
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sid: Option<String> = None;
    let mut in_actions = false;
    for line in text[start..end].lines() {
        let t = line.trim();
        if let Some(s) = t.strip_prefix("- Sid:") {
            sid = Some(s.trim().to_string());
            in_actions = false;
        } else if t == "Action:" {
            in_actions = true;
        } else if in_actions {
            match t.strip_prefix("- ") {
                Some(a) if a.contains(':') && !a.contains(' ') => {
                    out.entry(sid.clone().expect("an Sid before the actions"))
                        .or_default()
                        .insert(a.trim_matches('"').to_string());
                }
                _ => in_actions = false,
            }
        }
    }
    out
}

/// Sid → actions of a generated policy document.
fn generated_statements(policy: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for st in policy["Statement"].as_array().expect("statements") {
        out.insert(
            st["Sid"].as_str().expect("Sid").to_string(),
            st["Action"]
                .as_array()
                .expect("actions")
                .iter()
                .map(|a| a.as_str().expect("action").to_string())
                .collect(),
        );
    }
    out
}

/// The TOML the template writes to its configuration parameter with Strategy instance-refresh
/// (the `!Sub` block of `InstanceRefreshConfiguration`), with each `${…}` replaced from `values`.
fn template_refresh_configuration(text: &str, values: &[(&str, &str)]) -> String {
    let resource = text
        .find("\n  InstanceRefreshConfiguration:\n")
        .expect("InstanceRefreshConfiguration in deploy/template.yaml");
    let block = resource
        + text[resource..]
            .find("        - |\n")
            .expect("its Value: !Sub block")
        + "        - |\n".len();
    let mut toml = String::new();
    for line in text[block..].lines() {
        match line.strip_prefix("          ") {
            Some(l) => {
                toml.push_str(l);
                toml.push('\n');
            }
            None => break,
        }
    }
    for (name, value) in values {
        toml = toml.replace(&format!("${{{name}}}"), value);
    }
    assert!(!toml.contains("${"), "a placeholder left in:\n{toml}");
    toml
}

#[test]
fn the_deploy_template_holds_the_generated_seed_policy() {
    let text = deploy_template();
    let in_template = template_statements(&text, "seed");
    let env = seed_env(
        "lt-0123456789abcdef0",
        PUBLIC_PARAM,
        "arn:aws:sns:us-east-1:123456789012:amiroll",
        "ecs-asg",
    );
    let generated = amiroll(&["iam-policy"], &env, None)
        .expect_code(0, "iam-policy for the seed's variables")
        .json();
    let want = generated_statements(&generated);
    assert_eq!(
        in_template, want,
        "deploy/template.yaml's function policy must equal `amiroll iam-policy` for the seed's variables"
    );
    // The same with a parameter of one's own (only the ARN form differs).
    let own = seed_env(
        "lt-0123456789abcdef0",
        "/golden/ami",
        "arn:aws:sns:us-east-1:123456789012:amiroll",
        "ecs-asg",
    );
    let generated = amiroll(&["iam-policy"], &own, None).expect_code(0, "own parameter");
    assert!(generated
        .stdout
        .contains("\"arn:aws:ssm:*:*:parameter/golden/ami\""));
}

#[test]
fn the_deploy_template_holds_the_generated_instance_refresh_policy() {
    let text = deploy_template();
    let toml = template_refresh_configuration(
        &text,
        &[
            ("AWS::StackName", "amiroll-test"),
            ("AutoScalingGroupName", "ecs-asg"),
            ("LaunchTemplateId", "lt-0123456789abcdef0"),
            ("ImageIdSsmParameter", PUBLIC_PARAM),
            (
                "NotificationTopic",
                "arn:aws:sns:us-east-1:123456789012:amiroll",
            ),
        ],
    );
    // The configuration is a valid one, with the strategy the stack promises.
    let config = Config::from_toml(&toml, "deploy/template.yaml").expect("a valid configuration");
    assert_eq!(config.targets.len(), 1, "{toml}");
    assert!(toml.contains("strategy = \"instance-refresh\""), "{toml}");
    let (_dir, path) = write_config(&toml);
    let path = path.to_str().expect("utf-8 path");
    let generated = amiroll(
        &[
            "--config",
            path,
            "iam-policy",
            "--pass-role",
            "arn:aws:iam::123456789012:role/ecsInstanceRole",
        ],
        &[],
        None,
    )
    .expect_code(0, "iam-policy for the template's configuration")
    .json();
    let in_template = template_statements(&text, "instance-refresh");
    assert_eq!(
        in_template,
        generated_statements(&generated),
        "deploy/template.yaml's instance-refresh policy must equal `amiroll iam-policy --pass-role …` for the configuration it writes"
    );
    // The PassRole statement is there only when InstanceRoleArn is given.
    let pass_role = text
        .find("- Sid: AutoScalingChecksInstanceProfileRole")
        .expect("the PassRole statement");
    assert!(
        text[..pass_role].trim_end().ends_with("- HasInstanceRole"),
        "the PassRole statement must sit in `!If [HasInstanceRole, …]`"
    );
}

// --- Sufficiency in the simulator -------------------------------------------------------------

const OLD: &str = "ami-0a1b2c3d4e5f60718";
const NEW: &str = "ami-0f9e8d7c6b5a49382";
const NEWER: &str = "ami-0123456789abcdef0";

struct Sim {
    sim: SimAws,
    template: String,
    topic: String,
}

/// An account with OLD and NEW registered, the public parameter naming NEW, template `ecs` on
/// OLD, and one group per (name, version spec, termination policies).
fn sim_account(groups: &[(&str, Option<&str>, &[&str])]) -> Sim {
    sim_account_in(groups, None)
}

/// [`sim_account`]; with a cluster, the ECS cluster exists and the template's user data names
/// it, so the instances are its container instances.
fn sim_account_in(groups: &[(&str, Option<&str>, &[&str])], cluster: Option<&str>) -> Sim {
    let sim = SimAws::new();
    sim.set_yield_per_call(false);
    sim.set_boot_time(Duration::from_secs(60));
    let day = chrono::Duration::days(1);
    sim.register_image(ImageSpec::new(
        OLD,
        "al2023-ecs-old",
        "x86_64",
        sim.now() - day * 30,
    ));
    sim.register_image(ImageSpec::new(
        NEW,
        "al2023-ecs-new",
        "x86_64",
        sim.now() - day,
    ));
    sim.put_parameter(PUBLIC_PARAM, NEW);
    let mut data = TemplateData::new(OLD, "m5.large");
    if let Some(cluster) = cluster {
        sim.create_cluster(cluster).expect("cluster");
        data = data.with_user_data(format!(
            "#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config"
        ));
    }
    let template = sim.create_launch_template("ecs", data).expect("template");
    for (name, version, policies) in groups {
        let mut spec =
            GroupSpec::new(*name, &template, 1, 4, 2).with_termination_policies(policies);
        if let Some(v) = version {
            spec = spec.with_version(*v);
        }
        sim.create_group(spec).expect("group");
    }
    let topic = sim.create_topic("amiroll");
    Sim {
        sim,
        template,
        topic,
    }
}

/// Apply every 2 virtual minutes, `runs` times.
async fn apply_for(engine: &Engine<'_, SimAws>, sim: &SimAws, config: &Config, runs: usize) {
    for _ in 0..runs {
        engine.run(config, false).await.expect("the run completes");
        sim.advance(Duration::from_secs(120));
    }
}

/// Publish NEWER (a day newer than NEW) in the parameter.
fn publish_newer(sim: &SimAws) {
    sim.register_image(ImageSpec::new(
        NEWER,
        "al2023-ecs-newer",
        "x86_64",
        sim.now(),
    ));
    sim.advance(Duration::from_secs(60));
    sim.put_parameter(PUBLIC_PARAM, NEWER);
}

thread_local! {
    /// Set by the `…_touches_only_resources_the_policy_allows` tests: [`assert_allowed`] also
    /// evaluates the resources. (A `#[tokio::test]` runs on its test's thread.)
    static PROVE_RESOURCES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The access log's entries already evaluated.
    static ACCESS_CHECKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// How many windows of the access log were evaluated.
    static RESOURCE_CHECKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `tests/iam/evaluate.py`'s decision for each request (`allowed` or `denied`).
fn evaluate(policy: &Value, requests: &[Value]) -> Vec<String> {
    let input = json!({ "policy": policy, "requests": requests }).to_string();
    let mut child = Command::new("python3")
        .arg(workspace().join("tests/iam/evaluate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs tests/iam/evaluate.py");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, input.as_bytes()).expect("write the requests");
    drop(stdin);
    let out = child.wait_with_output().expect("evaluate.py ends");
    assert!(
        out.status.success(),
        "evaluate.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("evaluate.py prints JSON");
    let decisions: Vec<String> = doc["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| d.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(decisions.len(), requests.len(), "one decision per request");
    decisions
}

fn request(a: &amiroll_sim::Access) -> Value {
    json!({ "action": a.action, "resource": a.resource, "context": a.context })
}

/// The same request on another target's resource, and what kind of resource it is; `None` for
/// a resource no target owns alone (`*`, or an ECS cluster when the policy grants every one).
fn elsewhere(a: &amiroll_sim::Access, every_cluster: bool) -> Option<(&'static str, Value)> {
    let r = &a.resource;
    let mut context = a.context.clone();
    let (kind, other) = if let Some(i) = r.find(":launch-template/") {
        let other = format!("{}:launch-template/lt-0000000000000fff9", &r[..i]);
        if context.contains_key("ec2:LaunchTemplate") {
            context.insert("ec2:LaunchTemplate".to_string(), other.clone());
        }
        ("template", other)
    } else if let Some(i) = r.find("autoScalingGroupName/") {
        (
            "group",
            format!("{}autoScalingGroupName/another-target-asg", &r[..i]),
        )
    } else if let Some(i) = r.find(":parameter/") {
        let path = if r[i..].starts_with(":parameter/aws/service/") {
            "aws/service/another/image_id"
        } else {
            "another-target/image_id"
        };
        ("parameter", format!("{}:parameter/{path}", &r[..i]))
    } else if r.starts_with("arn:aws:sns:") {
        let i = r.rfind(':').unwrap_or(r.len());
        ("topic", format!("{}:another-target-topic", &r[..i]))
    } else if !every_cluster && (r.contains(":cluster/") || r.contains(":container-instance/")) {
        let swap = |s: &str| {
            s.replace(":cluster/prod", ":cluster/another-cluster")
                .replace(
                    ":container-instance/prod/",
                    ":container-instance/another-cluster/",
                )
        };
        if let Some(c) = context.get_mut("ecs:cluster") {
            *c = swap(c);
        }
        ("cluster", swap(r))
    } else {
        return None;
    };
    Some((
        kind,
        json!({ "action": a.action, "resource": other, "context": context }),
    ))
}

/// Every authorization the engine needed since the last check is allowed by `config`'s
/// generated policy, evaluated by an IAM policy evaluator; the same actions on another
/// target's template, group, parameter, topic (and cluster, when the policy names clusters)
/// are denied.
fn assert_resources_allowed(sim: &SimAws, config: &Config, what: &str) {
    let log = sim.access_log();
    let from = ACCESS_CHECKED.get().min(log.len());
    ACCESS_CHECKED.set(log.len());
    let window: BTreeSet<&amiroll_sim::Access> = log[from..].iter().collect();
    assert!(
        !window.is_empty(),
        "{what}: the engine needed no authorization"
    );
    let policy = serde_json::to_value(iam::policy(config, Some("us-east-1"), Some("123456789012")))
        .expect("the policy serialises");
    let every_cluster = policy.to_string().contains(":cluster/*");
    let requests: Vec<Value> = window.iter().map(|a| request(a)).collect();
    let decisions = evaluate(&policy, &requests);
    let denied: Vec<&Value> = requests
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| d.as_str() != "allowed")
        .map(|(r, _)| r)
        .collect();
    assert!(
        denied.is_empty(),
        "{what}: the generated policy denies {denied:#?}\npolicy: {policy:#}"
    );
    let others: Vec<(&str, Value)> = window
        .iter()
        .filter_map(|a| elsewhere(a, every_cluster))
        .collect();
    let kinds: BTreeSet<&str> = others.iter().map(|(k, _)| *k).collect();
    for kind in ["template", "group", "parameter"] {
        assert!(
            kinds.contains(kind),
            "{what}: no {kind} request to move elsewhere: {kinds:?}"
        );
    }
    let moved: Vec<Value> = others.iter().map(|(_, r)| r.clone()).collect();
    let decisions = evaluate(&policy, &moved);
    let allowed: Vec<&Value> = moved
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| d.as_str() != "denied")
        .map(|(r, _)| r)
        .collect();
    assert!(
        allowed.is_empty(),
        "{what}: the policy allows another target's resources: {allowed:#?}"
    );
    RESOURCE_CHECKS.set(RESOURCE_CHECKS.get() + 1);
}

/// The operations called since `from` (an index into the call log) are all in `config`'s
/// generated policy; returns them. In the `…_touches_only_resources_the_policy_allows` tests,
/// the resources too ([`assert_resources_allowed`]).
fn assert_allowed(sim: &SimAws, from: usize, config: &Config, what: &str) -> BTreeSet<String> {
    if PROVE_RESOURCES.get() {
        assert_resources_allowed(sim, config, what);
    }
    let allowed = iam::policy(config, Some("us-east-1"), Some("123456789012")).actions();
    let called: BTreeSet<String> = sim.call_log()[from..]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let missing: Vec<&String> = called.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "{what}: the engine called {missing:?}, which the generated policy does not allow\npolicy actions: {allowed:?}"
    );
    called
}

fn assert_refresh_in_flight(sim: &SimAws, group: &str) {
    assert!(
        sim.instance_refreshes(group)
            .first()
            .is_some_and(|r| !r.is_terminal()),
        "a refresh in flight: {:?}",
        sim.instance_refreshes(group)
    );
}

fn contains_all(called: &BTreeSet<String>, ops: &[&str], what: &str) {
    for o in ops {
        assert!(
            called.contains(*o),
            "{what}: the scenario never called {o}: {called:?}"
        );
    }
}

#[tokio::test]
async fn seed_style_scheduled_surge_calls_only_what_the_policy_allows() {
    seed_style_scheduled_surge_scenario().await;
}

/// [`seed_style_scheduled_surge_calls_only_what_the_policy_allows`], with every (action, resource, condition keys) the engine needed evaluated against
/// the generated policy by an IAM policy evaluator, and the same requests on another target's
/// resources denied.
#[tokio::test]
#[ignore = "needs python3 with iamprover (tests/iam/evaluate.py): scripts/test.sh runs it"]
async fn seed_style_scheduled_surge_touches_only_resources_the_policy_allows() {
    PROVE_RESOURCES.set(true);
    seed_style_scheduled_surge_scenario().await;
    assert!(
        RESOURCE_CHECKS.get() > 0,
        "the scenario evaluated its requests"
    );
}

async fn seed_style_scheduled_surge_scenario() {
    let s = sim_account(&[("ecs-asg", None, &["OldestLaunchTemplate", "Default"])]);
    let env = seed_env(&s.template, PUBLIC_PARAM, &s.topic, "ecs-asg");
    let config = Config::from_seed_env(|k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .expect("seed configuration");
    let engine = Engine::new(&s.sim);
    let from = s.sim.call_log().len();

    // A whole rollout to NEW, then NEWER starts, is rolled back, and acknowledged.
    apply_for(&engine, &s.sim, &config, 20).await;
    assert_eq!(
        s.sim.instances_by_ami("ecs-asg").keys().collect::<Vec<_>>(),
        vec![NEW],
        "{:?}",
        s.sim.events()
    );
    publish_newer(&s.sim);
    apply_for(&engine, &s.sim, &config, 2).await;
    engine.rollback(&config, false).await.expect("rollback");
    s.sim.advance(Duration::from_secs(120));
    let opts = PlanOptions {
        acknowledge: [env[3].1.to_string()].into_iter().collect(),
    };
    engine
        .run_with(&config, false, &opts)
        .await
        .expect("acknowledged run");
    apply_for(&engine, &s.sim, &config, 3).await;

    let called = assert_allowed(&s.sim, from, &config, "seed-style scheduled-surge");
    contains_all(
        &called,
        &[
            op::CREATE_LAUNCH_TEMPLATE_VERSION,
            op::MODIFY_LAUNCH_TEMPLATE,
            op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
            op::DELETE_SCHEDULED_ACTION,
            op::CREATE_OR_UPDATE_TAGS,
            op::DELETE_TAGS,
            op::PUBLISH,
        ],
        "seed-style scheduled-surge",
    );
}

#[tokio::test]
async fn instance_refresh_calls_only_what_the_policy_allows() {
    instance_refresh_scenario().await;
}

/// [`instance_refresh_calls_only_what_the_policy_allows`], with every (action, resource, condition keys) the engine needed evaluated against
/// the generated policy by an IAM policy evaluator, and the same requests on another target's
/// resources denied.
#[tokio::test]
#[ignore = "needs python3 with iamprover (tests/iam/evaluate.py): scripts/test.sh runs it"]
async fn instance_refresh_touches_only_resources_the_policy_allows() {
    PROVE_RESOURCES.set(true);
    instance_refresh_scenario().await;
    assert!(
        RESOURCE_CHECKS.get() > 0,
        "the scenario evaluated its requests"
    );
}

async fn instance_refresh_scenario() {
    let s = sim_account(&[("web", None, &["Default"])]);
    let config = Config::from_toml(
        &format!(
            "[[target]]\nname = \"web\"\nlaunch_template = \"{}\"\nami_parameter = \"{PUBLIC_PARAM}\"\ngroups = [\"web\"]\nsns_topic = \"{}\"\nprune = \"all\"\nkeep_versions = 1\n",
            s.template, s.topic
        ),
        "refresh.toml",
    )
    .expect("configuration");
    let engine = Engine::new(&s.sim);
    let from = s.sim.call_log().len();

    apply_for(&engine, &s.sim, &config, 30).await;
    assert_eq!(
        s.sim.instances_by_ami("web").keys().collect::<Vec<_>>(),
        vec![NEW],
        "{:?}",
        s.sim.events()
    );
    // NEWER: the refresh starts and is rolled back while in flight.
    publish_newer(&s.sim);
    engine
        .run(&config, false)
        .await
        .expect("the refresh starts");
    assert_refresh_in_flight(&s.sim, "web");
    engine.rollback(&config, false).await.expect("rollback");
    apply_for(&engine, &s.sim, &config, 30).await;
    let opts = PlanOptions {
        acknowledge: ["web".to_string()].into_iter().collect(),
    };
    engine
        .run_with(&config, false, &opts)
        .await
        .expect("acknowledged run");
    apply_for(&engine, &s.sim, &config, 30).await;

    let called = assert_allowed(&s.sim, from, &config, "instance-refresh");
    contains_all(
        &called,
        &[
            op::UPDATE_AUTO_SCALING_GROUP,
            op::START_INSTANCE_REFRESH,
            op::DESCRIBE_INSTANCE_REFRESHES,
            op::ROLLBACK_INSTANCE_REFRESH,
            op::DELETE_LAUNCH_TEMPLATE_VERSIONS,
            op::DESCRIBE_LAUNCH_TEMPLATES,
            op::PUBLISH,
        ],
        "instance-refresh",
    );
    assert!(!called.contains(op::DESCRIBE_SCHEDULED_ACTIONS));
}

/// `auto_rollback = false` leaves the group on `$Default`: Auto Scaling cannot roll the refresh
/// back, so `amiroll rollback` cancels it and the next runs refresh back onto the old version.
#[tokio::test]
async fn an_irreversible_refresh_rollback_calls_only_what_the_policy_allows() {
    an_irreversible_refresh_rollback_scenario().await;
}

/// [`an_irreversible_refresh_rollback_calls_only_what_the_policy_allows`], with every (action, resource, condition keys) the engine needed evaluated against
/// the generated policy by an IAM policy evaluator, and the same requests on another target's
/// resources denied.
#[tokio::test]
#[ignore = "needs python3 with iamprover (tests/iam/evaluate.py): scripts/test.sh runs it"]
async fn an_irreversible_refresh_rollback_touches_only_resources_the_policy_allows() {
    PROVE_RESOURCES.set(true);
    an_irreversible_refresh_rollback_scenario().await;
    assert!(
        RESOURCE_CHECKS.get() > 0,
        "the scenario evaluated its requests"
    );
}

async fn an_irreversible_refresh_rollback_scenario() {
    let s = sim_account(&[("web", None, &["Default"])]);
    let config = Config::from_toml(
        &format!(
            "[[target]]\nname = \"web\"\nlaunch_template = \"{}\"\nami_parameter = \"{PUBLIC_PARAM}\"\ngroups = [\"web\"]\nsns_topic = \"{}\"\nauto_rollback = false\n",
            s.template, s.topic
        ),
        "irreversible.toml",
    )
    .expect("configuration");
    let engine = Engine::new(&s.sim);
    let from = s.sim.call_log().len();
    engine
        .run(&config, false)
        .await
        .expect("the refresh starts");
    assert_refresh_in_flight(&s.sim, "web");
    engine.rollback(&config, false).await.expect("rollback");
    apply_for(&engine, &s.sim, &config, 10).await;
    assert_eq!(
        s.sim.instances_by_ami("web").keys().collect::<Vec<_>>(),
        vec![OLD],
        "{:?}",
        s.sim.events()
    );

    let called = assert_allowed(&s.sim, from, &config, "irreversible refresh rollback");
    contains_all(
        &called,
        &[
            op::START_INSTANCE_REFRESH,
            op::DESCRIBE_INSTANCE_REFRESHES,
            op::CANCEL_INSTANCE_REFRESH,
            op::CREATE_OR_UPDATE_TAGS,
            op::DELETE_TAGS,
            op::PUBLISH,
        ],
        "irreversible refresh rollback",
    );
    assert!(!called.contains(op::ROLLBACK_INSTANCE_REFRESH));
}

#[tokio::test]
async fn pinned_groups_and_termination_policies_call_only_what_the_policy_allows() {
    pinned_groups_and_termination_policies_scenario().await;
}

/// [`pinned_groups_and_termination_policies_call_only_what_the_policy_allows`], with every (action, resource, condition keys) the engine needed evaluated against
/// the generated policy by an IAM policy evaluator, and the same requests on another target's
/// resources denied.
#[tokio::test]
#[ignore = "needs python3 with iamprover (tests/iam/evaluate.py): scripts/test.sh runs it"]
async fn pinned_groups_and_termination_policies_touches_only_resources_the_policy_allows() {
    PROVE_RESOURCES.set(true);
    pinned_groups_and_termination_policies_scenario().await;
    assert!(
        RESOURCE_CHECKS.get() > 0,
        "the scenario evaluated its requests"
    );
}

async fn pinned_groups_and_termination_policies_scenario() {
    let s = sim_account(&[
        ("pinned", Some("1"), &["OldestLaunchTemplate"]),
        ("surge", None, &["Default"]),
    ]);
    let config = Config::from_toml(
        &format!(
            "[defaults]\nprune = \"off\"\n\
             [[target]]\nname = \"none\"\nlaunch_template = \"{t}\"\nami_parameter = \"{PUBLIC_PARAM}\"\ngroups = [\"pinned\"]\nstrategy = \"none\"\npinned = \"update\"\n\
             [[target]]\nname = \"surge\"\nlaunch_template = \"{t}\"\nami_parameter = \"{PUBLIC_PARAM}\"\ngroups = [\"surge\"]\nstrategy = \"scheduled-surge\"\nset_termination_policy = true\nafter = \"none\"\n",
            t = s.template
        ),
        "mixed.toml",
    )
    .expect("configuration");
    let engine = Engine::new(&s.sim);
    let from = s.sim.call_log().len();
    apply_for(&engine, &s.sim, &config, 20).await;
    publish_newer(&s.sim);
    apply_for(&engine, &s.sim, &config, 2).await;
    engine.rollback(&config, false).await.expect("rollback");
    apply_for(&engine, &s.sim, &config, 3).await;

    let called = assert_allowed(&s.sim, from, &config, "none + scheduled-surge");
    contains_all(
        &called,
        &[
            op::UPDATE_AUTO_SCALING_GROUP,
            op::PUT_SCHEDULED_UPDATE_GROUP_ACTION,
        ],
        "none + scheduled-surge",
    );
    assert!(!called.contains(op::DELETE_LAUNCH_TEMPLATE_VERSIONS));
    let p = iam::policy(&config, None, None).actions();
    assert!(!p.contains(op::DELETE_LAUNCH_TEMPLATE_VERSIONS));
    assert!(!p.contains(op::DESCRIBE_LAUNCH_TEMPLATES));
}

#[tokio::test]
async fn a_configured_ecs_cluster_is_read_only_as_the_policy_allows() {
    a_configured_ecs_cluster_scenario().await;
}

/// [`a_configured_ecs_cluster_is_read_only_as_the_policy_allows`], with every (action, resource, condition keys) the engine needed evaluated against
/// the generated policy by an IAM policy evaluator, and the same requests on another target's
/// resources denied.
#[tokio::test]
#[ignore = "needs python3 with iamprover (tests/iam/evaluate.py): scripts/test.sh runs it"]
async fn a_configured_ecs_cluster_touches_only_resources_the_policy_allows() {
    PROVE_RESOURCES.set(true);
    a_configured_ecs_cluster_scenario().await;
    assert!(
        RESOURCE_CHECKS.get() > 0,
        "the scenario evaluated its requests"
    );
}

async fn a_configured_ecs_cluster_scenario() {
    let s = sim_account_in(&[("web", None, &["Default"])], Some("prod"));
    s.sim.create_service("prod", "api", 3).expect("service");
    let config = Config::from_toml(
        &format!(
            "[[target]]\nname = \"web\"\nlaunch_template = \"{}\"\nami_parameter = \"{PUBLIC_PARAM}\"\ngroups = [\"web\"]\necs_cluster = \"prod\"\n",
            s.template
        ),
        "ecs.toml",
    )
    .expect("configuration");
    let engine = Engine::new(&s.sim);
    let from = s.sim.call_log().len();
    apply_for(&engine, &s.sim, &config, 30).await;
    assert_eq!(
        s.sim.instances_by_ami("web").keys().collect::<Vec<_>>(),
        vec![NEW],
        "{:?}",
        s.sim.events()
    );
    let called = assert_allowed(&s.sim, from, &config, "instance-refresh with ecs_cluster");
    contains_all(
        &called,
        &[
            op::LIST_CONTAINER_INSTANCES,
            op::DESCRIBE_CONTAINER_INSTANCES,
        ],
        "instance-refresh with ecs_cluster",
    );
    let p = iam::policy(&config, Some("us-east-1"), Some("123456789012"));
    assert_eq!(
        p.resources_for(op::LIST_CONTAINER_INSTANCES),
        ["arn:aws:ecs:us-east-1:123456789012:cluster/prod".to_string()]
            .into_iter()
            .collect()
    );
}

#[tokio::test]
async fn a_cluster_found_from_the_capacity_provider_is_read_only_as_the_policy_allows() {
    a_cluster_found_from_the_capacity_provider_scenario().await;
}

/// [`a_cluster_found_from_the_capacity_provider_is_read_only_as_the_policy_allows`], with every (action, resource, condition keys) the engine needed evaluated against
/// the generated policy by an IAM policy evaluator, and the same requests on another target's
/// resources denied.
#[tokio::test]
#[ignore = "needs python3 with iamprover (tests/iam/evaluate.py): scripts/test.sh runs it"]
async fn a_cluster_found_from_the_capacity_provider_touches_only_resources_the_policy_allows() {
    PROVE_RESOURCES.set(true);
    a_cluster_found_from_the_capacity_provider_scenario().await;
    assert!(
        RESOURCE_CHECKS.get() > 0,
        "the scenario evaluated its requests"
    );
}

async fn a_cluster_found_from_the_capacity_provider_scenario() {
    // The user data names no cluster (the agent's configuration is fetched at boot); the group
    // backs a capacity provider associated with `prod`.
    let s = sim_account(&[("ecs-asg", None, &["OldestLaunchTemplate", "Default"])]);
    s.sim.set_agent_cluster(&s.template, "prod").expect("agent");
    s.sim.create_cluster("prod").expect("cluster");
    s.sim.create_service("prod", "api", 3).expect("service");
    s.sim
        .create_capacity_provider("web-cp", "ecs-asg", false, false, false)
        .expect("provider");
    s.sim
        .attach_capacity_provider("prod", "web-cp")
        .expect("associate");
    let env = seed_env(&s.template, PUBLIC_PARAM, &s.topic, "ecs-asg");
    let config = Config::from_seed_env(|k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .expect("seed configuration");
    let engine = Engine::new(&s.sim);
    let from = s.sim.call_log().len();
    apply_for(&engine, &s.sim, &config, 20).await;
    assert_eq!(
        s.sim.instances_by_ami("ecs-asg").keys().collect::<Vec<_>>(),
        vec![NEW],
        "{:?}",
        s.sim.events()
    );
    let what = "scheduled-surge with the cluster from the capacity provider";
    let called = assert_allowed(&s.sim, from, &config, what);
    contains_all(
        &called,
        &[
            op::LIST_CLUSTERS,
            op::DESCRIBE_CLUSTERS,
            op::LIST_CONTAINER_INSTANCES,
            op::DESCRIBE_CONTAINER_INSTANCES,
            op::UPDATE_CONTAINER_INSTANCES_STATE,
        ],
        what,
    );
}

// --- Against an emulator that enforces IAM (#[ignore]) --------------------------------------

fn iam_url() -> String {
    std::env::var("AMIROLL_MOTO_IAM_URL").unwrap_or_else(|_| {
        panic!(
            "AMIROLL_MOTO_IAM_URL is not set. These tests need a second local AWS emulator that \
             enforces IAM: `INITIAL_NO_AUTH_ACTION_COUNT=0 python3 tests/iam/server.py 5791 &` and \
             AMIROLL_MOTO_IAM_URL=http://127.0.0.1:5791 (scripts/test.sh does both)"
        )
    })
}

#[derive(Clone, Debug)]
struct Keys {
    id: String,
    secret: String,
}

fn helper(args: &[&str], keys: Option<&Keys>) -> Keys {
    let script = workspace().join("tests/iam/moto_iam.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).args(args);
    if let Some(k) = keys {
        cmd.env("AWS_ACCESS_KEY_ID", &k.id)
            .env("AWS_SECRET_ACCESS_KEY", &k.secret);
    }
    let out = cmd.output().expect("run python3 tests/iam/moto_iam.py");
    assert!(
        out.status.success(),
        "moto_iam.py {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("keys as JSON");
    Keys {
        id: v["AccessKeyId"].as_str().expect("key id").to_string(),
        secret: v["SecretAccessKey"].as_str().expect("secret").to_string(),
    }
}

/// An admin user (Allow *), made once per test process in an unauthenticated window that no
/// other request of this process can use (every test waits here first).
fn admin() -> &'static Keys {
    static ADMIN: OnceLock<Keys> = OnceLock::new();
    ADMIN.get_or_init(|| helper(&["admin", &iam_url()], None))
}

/// A user holding only `policy` (inline).
fn user_with(policy: &Value) -> Keys {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("policy.json");
    std::fs::write(&file, policy.to_string()).expect("write the policy");
    let name = unique("user");
    helper(
        &[
            "user",
            &iam_url(),
            &name,
            file.to_str().expect("utf-8 path"),
        ],
        Some(admin()),
    )
}

/// The generated policy as moto can evaluate it: every Resource `"*"` (moto matches requests
/// against `"*"` only; conditions it treats as met).
fn for_moto(mut policy: Value) -> Value {
    for st in policy["Statement"]
        .as_array_mut()
        .expect("statements")
        .iter_mut()
    {
        st["Resource"] = json!("*");
    }
    policy
}

fn without(mut policy: Value, action: &str) -> Value {
    for st in policy["Statement"]
        .as_array_mut()
        .expect("statements")
        .iter_mut()
    {
        if let Some(a) = st["Action"].as_array_mut() {
            a.retain(|x| x != action);
        }
    }
    policy["Statement"]
        .as_array_mut()
        .expect("statements")
        .retain(|st| st["Action"].as_array().is_some_and(|a| !a.is_empty()));
    policy
}

struct Clients {
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    asg: aws_sdk_autoscaling::Client,
    sns: aws_sdk_sns::Client,
}

async fn clients(keys: &Keys) -> Clients {
    let conf = amiroll_testkit::sdk_config(&iam_url(), &keys.id, &keys.secret).await;
    Clients {
        ssm: aws_sdk_ssm::Client::new(&conf),
        ec2: aws_sdk_ec2::Client::new(&conf),
        asg: aws_sdk_autoscaling::Client::new(&conf),
        sns: aws_sdk_sns::Client::new(&conf),
    }
}

struct Fleet {
    template_id: String,
    group: String,
    topic_arn: String,
    parameter: String,
}

/// As the admin: a template on the old AMI, a group on `$Default` (OldestLaunchTemplate), a
/// topic, and a parameter of one's own already naming the new AMI.
async fn moto_fleet(c: &Clients, label: &str) -> Fleet {
    let (old, new) = amiroll_testkit::amis(&c.ssm, &c.ec2).await;
    let name = unique(label);
    let template_id =
        amiroll_testkit::launch_template(&c.ec2, &format!("{name}-lt"), &old, None, None).await;
    let group = format!("{name}-asg");
    amiroll_testkit::group(&c.asg, &group, &template_id, &["OldestLaunchTemplate"]).await;
    let topic_arn = amiroll_testkit::topic(&c.sns, &format!("{name}-topic")).await;
    let parameter = format!("/amiroll-iam/{name}/image_id");
    amiroll_testkit::put_parameter(&c.ssm, &parameter, &new).await;
    Fleet {
        template_id,
        group,
        topic_arn,
        parameter,
    }
}

async fn template_versions(c: &Clients, f: &Fleet) -> (i64, Vec<i64>) {
    let header = c
        .ec2
        .describe_launch_templates()
        .launch_template_ids(&f.template_id)
        .send()
        .await
        .expect("DescribeLaunchTemplates (admin)");
    let default = header.launch_templates()[0]
        .default_version_number()
        .expect("default");
    let versions = c
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&f.template_id)
        .send()
        .await
        .expect("DescribeLaunchTemplateVersions (admin)")
        .launch_template_versions()
        .iter()
        .filter_map(|v| v.version_number())
        .collect();
    (default, versions)
}

fn as_user<'a>(url: &'a str, k: &'a Keys) -> Option<(&'a str, &'a str, &'a str)> {
    Some((url, k.id.as_str(), k.secret.as_str()))
}

fn assert_no_denial(run: &Run, what: &str) {
    let out = run.output();
    assert!(
        !out.contains("AccessDenied") && !out.contains("not authorized"),
        "{what}: a call was denied\n{out}"
    );
    assert!(
        !out.contains("capacity providers could not be read")
            && !out.contains("cannot read ECS capacity providers"),
        "{what}: the ECS read was denied\n{out}"
    );
}

#[tokio::test]
#[ignore = "needs an emulator that enforces IAM: scripts/test.sh starts it"]
async fn the_seed_configuration_runs_as_a_user_holding_only_its_generated_policy() {
    let url = iam_url();
    let admin_clients = clients(admin()).await;
    let f = moto_fleet(&admin_clients, "seed").await;
    let env = seed_env(&f.template_id, &f.parameter, &f.topic_arn, &f.group);
    let policy = amiroll(&["iam-policy"], &env, None)
        .expect_code(0, "iam-policy")
        .json();
    let user = user_with(&for_moto(policy));

    // The user is really restricted: a call outside the policy is denied.
    let denied = clients(&user)
        .await
        .ssm
        .put_parameter()
        .name(&f.parameter)
        .value("ami-00000000000000000")
        .overwrite(true)
        .send()
        .await;
    assert!(denied.is_err(), "PutParameter is not in the policy");

    let check = amiroll(&["check", "-o", "json"], &env, as_user(&url, &user))
        .expect_code(2, "check as the restricted user (drift)");
    assert_no_denial(&check, "check");
    let doc = check.json();
    assert_eq!(
        amiroll_testkit::cli_output_body(&doc)["targets"][0]["status"],
        "drift",
        "{doc:#}"
    );

    let apply = amiroll(&["apply", "-o", "json"], &env, as_user(&url, &user))
        .expect_code(0, "apply as the restricted user");
    assert_no_denial(&apply, "apply");
    let doc = apply.json();
    let t = &amiroll_testkit::cli_output_body(&doc)["targets"][0];
    assert_eq!(t["apply_error"], Value::Null, "{t:#}");
    assert!(
        t["notification"]
            .as_str()
            .is_some_and(|n| n.starts_with("published")),
        "{t:#}"
    );
    let (default, versions) = template_versions(&admin_clients, &f).await;
    assert_eq!((default, versions), (2, vec![1, 2]), "v2 made the default");
    let actions = admin_clients
        .asg
        .describe_scheduled_actions()
        .auto_scaling_group_name(&f.group)
        .send()
        .await
        .expect("DescribeScheduledActions (admin)");
    let ours = actions
        .scheduled_update_group_actions()
        .iter()
        .filter(|a| a.auto_scaling_group_name() == Some(f.group.as_str()))
        .count();
    assert_eq!(ours, 2, "surge and settle scheduled");

    // Runs while the round is in flight (what the follow-up schedule does), and status.
    let again = amiroll(&["apply"], &env, as_user(&url, &user)).expect_code(0, "apply again");
    assert_no_denial(&again, "apply again");
    let status = amiroll(&["status"], &env, as_user(&url, &user));
    assert_no_denial(&status, "status");
    assert_eq!(status.code, 2, "rolling: {}", status.output());
}

#[tokio::test]
#[ignore = "needs an emulator that enforces IAM: scripts/test.sh starts it"]
async fn instance_refresh_apply_and_rollback_run_as_a_user_holding_only_its_generated_policy() {
    let url = iam_url();
    let admin_clients = clients(admin()).await;
    let f = moto_fleet(&admin_clients, "refresh").await;
    let (_dir, path) = write_config(&format!(
        "[[target]]\nname = \"web\"\nlaunch_template = \"{}\"\nami_parameter = \"{}\"\ngroups = [\"{}\"]\nsns_topic = \"{}\"\nprune = \"all\"\n",
        f.template_id, f.parameter, f.group, f.topic_arn
    ));
    let config = path.to_str().expect("utf-8 path");
    let policy = amiroll(
        &[
            "--config",
            config,
            "iam-policy",
            "--pass-role",
            "arn:aws:iam::123456789012:role/ecsInstanceRole",
        ],
        &[],
        None,
    )
    .expect_code(0, "iam-policy")
    .json();
    let user = user_with(&for_moto(policy));
    let run = |args: &[&str]| {
        let mut a = vec!["--config", config];
        a.extend_from_slice(args);
        amiroll(&a, &[], as_user(&url, &user))
    };

    let check = run(&["check"]).expect_code(2, "check (drift)");
    assert_no_denial(&check, "check");
    let apply = run(&["apply", "-o", "json"]).expect_code(0, "apply starts the refresh");
    assert_no_denial(&apply, "apply");
    let refreshes = admin_clients
        .asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(&f.group)
        .send()
        .await
        .expect("DescribeInstanceRefreshes (admin)");
    assert_eq!(refreshes.instance_refreshes().len(), 1, "one refresh");

    let rollback = run(&["rollback", "web"]).expect_code(0, "rollback as the restricted user");
    assert_no_denial(&rollback, "rollback");
    // The rolled-back target stays failed (its AMI is rejected): apply's exit code says so.
    let after = run(&["apply", "-o", "json"]).expect_code(1, "apply after the rollback");
    assert_no_denial(&after, "apply after the rollback");
    assert_eq!(
        amiroll_testkit::cli_output_body(&after.json())["targets"][0]["status"],
        "failed"
    );
    let status = run(&["status"]);
    assert_no_denial(&status, "status");
}

#[tokio::test]
#[ignore = "needs an emulator that enforces IAM: scripts/test.sh starts it"]
async fn a_policy_missing_create_launch_template_version_makes_apply_fail_with_access_denied() {
    let url = iam_url();
    let admin_clients = clients(admin()).await;
    let f = moto_fleet(&admin_clients, "denied").await;
    let env = seed_env(&f.template_id, &f.parameter, &f.topic_arn, &f.group);
    let policy = amiroll(&["iam-policy"], &env, None)
        .expect_code(0, "iam-policy")
        .json();
    let user = user_with(&without(
        for_moto(policy),
        op::CREATE_LAUNCH_TEMPLATE_VERSION,
    ));

    // Reading is still allowed.
    amiroll(&["check"], &env, as_user(&url, &user)).expect_code(2, "check (drift)");
    let apply = amiroll(&["apply", "-o", "json"], &env, as_user(&url, &user))
        .expect_code(1, "apply without ec2:CreateLaunchTemplateVersion");
    let doc = apply.json();
    let t = &amiroll_testkit::cli_output_body(&doc)["targets"][0];
    let error = t["apply_error"].as_str().unwrap_or_default();
    assert!(
        error.contains(op::CREATE_LAUNCH_TEMPLATE_VERSION) && error.contains("AccessDenied"),
        "{t:#}"
    );
    let (default, versions) = template_versions(&admin_clients, &f).await;
    assert_eq!((default, versions), (1, vec![1]), "nothing was created");
}
