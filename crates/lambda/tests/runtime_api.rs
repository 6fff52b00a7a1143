//! The built `bootstrap` end to end through the Lambda Runtime API protocol, against the local AWS
//! emulator (`tests/moto/server.py`).
//!
//! The test plays the Lambda service: a minimal Runtime API server on 127.0.0.1 (hand-written
//! HTTP/1.1 on a std `TcpListener`) hands out events on `GET /2018-06-01/runtime/invocation/next`
//! with the documented headers, and records what the function posts back to
//! `/2018-06-01/runtime/invocation/{id}/response` or `/error` ("Using the Lambda runtime API for
//! custom runtimes"). The fleet is made with the SDK, as in `crates/cli/tests/moto_e2e.rs`.
//!
//! Run: `python3 tests/moto/server.py 5797 &` then
//! `AMIROLL_MOTO_URL=http://127.0.0.1:5797 cargo test -p amiroll-lambda -- --include-ignored`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:amiroll";
/// Longest the function may take for all the test's invocations.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn moto_url() -> String {
    std::env::var("AMIROLL_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "AMIROLL_MOTO_URL is not set. This test needs the local AWS emulator: run \
             `python3 tests/moto/server.py 5797 &` and set AMIROLL_MOTO_URL=http://127.0.0.1:5797 \
             (scripts/test.sh does both)"
        )
    })
}

fn unique(prefix: &str) -> String {
    amiroll_testkit::unique(&format!("lambda-{prefix}"))
}

// --- The fleet ------------------------------------------------------------------------------

struct Moto {
    url: String,
    ssm: aws_sdk_ssm::Client,
    ec2: aws_sdk_ec2::Client,
    asg: aws_sdk_autoscaling::Client,
}

async fn moto() -> Moto {
    let url = moto_url();
    let conf = amiroll_testkit::sdk_config(&url, "testing", "testing").await;
    Moto {
        url,
        ssm: aws_sdk_ssm::Client::new(&conf),
        ec2: aws_sdk_ec2::Client::new(&conf),
        asg: aws_sdk_autoscaling::Client::new(&conf),
    }
}

/// A launch template on the old AMI, a group on `$Default` (1/2/1), and a parameter of its own
/// naming the new AMI. Returns (target name, template id, new AMI, TOML configuration).
async fn fleet(m: &Moto) -> (String, String, String, String) {
    let (old, new) = amiroll_testkit::amis(&m.ssm, &m.ec2).await;
    let name = unique("fleet");
    let template_id =
        amiroll_testkit::launch_template(&m.ec2, &format!("{name}-lt"), &old, None, None).await;
    let group = format!("{name}-asg");
    amiroll_testkit::group(&m.asg, &group, &template_id, &[]).await;
    let parameter = format!("/amiroll-test/{name}/image_id");
    amiroll_testkit::put_parameter(&m.ssm, &parameter, &new).await;
    let toml = format!(
        "[[target]]\nname = \"{name}\"\nlaunch_template = \"{template_id}\"\nami_parameter = \"{parameter}\"\ngroups = [\"{group}\"]\nstrategy = \"none\"\n"
    );
    (name, template_id, new, toml)
}

// --- A minimal Lambda Runtime API -----------------------------------------------------------

/// What the function posted for one invocation.
#[derive(Debug)]
struct Posted {
    request_id: String,
    /// `response` or `error`.
    kind: String,
    body: Value,
}

struct RuntimeApi {
    port: u16,
    posted: mpsc::Receiver<Posted>,
    stop: Arc<AtomicBool>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Serve `events` (request id, payload) one per `next`, in order; `next` blocks once they are
/// used up, as Lambda's does between invocations.
fn runtime_api(events: Vec<(String, Value)>) -> RuntimeApi {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    let queue = Arc::new(Mutex::new(VecDeque::from(events)));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (queue, stop, tx) = (queue.clone(), stop.clone(), tx.clone());
                std::thread::spawn(move || serve(stream, &queue, &stop, &tx));
            }
        });
    }
    RuntimeApi {
        port,
        posted: rx,
        stop,
    }
}

/// One connection: requests until the client closes it or the test ends.
fn serve(
    stream: TcpStream,
    queue: &Mutex<VecDeque<(String, Value)>>,
    stop: &AtomicBool,
    posted: &mpsc::Sender<Posted>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader) {
        let response = if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
            let next = loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(event) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                    break event;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            let (request_id, payload) = next;
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 300_000)
                .unwrap_or(0);
            let body = payload.to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: {request_id}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: {FUNCTION_ARN}\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-67891233-abcdef012345678912345678;Parent=1234567890abcdef;Sampled=0\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        } else if let Some(rest) = path
            .strip_prefix("/2018-06-01/runtime/invocation/")
            .filter(|_| method == "POST")
        {
            match rest.rsplit_once('/') {
                Some((id, kind @ ("response" | "error"))) => {
                    let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&body).into_owned())
                    });
                    let _ = posted.send(Posted {
                        request_id: id.to_string(),
                        kind: kind.to_string(),
                        body,
                    });
                    accepted()
                }
                _ => not_found(),
            }
        } else if method == "POST" && path == "/2018-06-01/runtime/init/error" {
            let _ = posted.send(Posted {
                request_id: "init".to_string(),
                kind: "init-error".to_string(),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            accepted()
        } else {
            not_found()
        };
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn accepted() -> String {
    let body = r#"{"status":"OK"}"#;
    format!(
        "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn not_found() -> String {
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
}

/// Read one HTTP/1.1 request: (method, path, body). `None` when the connection ends.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().ok()?;
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

// --- The test -------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs the local AWS emulator: scripts/test.sh starts it"]
async fn bootstrap_answers_the_runtime_api_with_a_summary_or_an_error() {
    let m = moto().await;
    let (name, template_id, new_ami, toml) = fleet(&m).await;

    let scheduled = json!({"amiroll": "scheduled"});
    let unknown: Value = serde_json::from_str(include_str!("fixtures/lifecycle-action.json"))
        .expect("fixture is JSON");
    let api = runtime_api(vec![
        ("req-scheduled-1".to_string(), scheduled),
        ("req-unknown-2".to_string(), unknown),
    ]);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("AWS_")
            || k.starts_with("AMIROLL_")
            || [
                "launch_template_id",
                "image_id_ssm_parameter",
                "sns_arn",
                "asg_name",
            ]
            .contains(&k.as_ref())
        {
            cmd.env_remove(&key);
        }
    }
    let nowhere = std::env::temp_dir().join(format!("{}-no-aws-config", unique("none")));
    cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "amiroll")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/26/[$LATEST]0123456789abcdef",
        )
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/amiroll")
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &m.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AMIROLL_CONFIG", &toml)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start bootstrap");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));

    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut posted = Vec::new();
    while posted.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match api.posted.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(p) => posted.push(p),
            Err(_) => break,
        }
    }
    // The function would wait for the next event forever: end it, as Lambda freezes it.
    let _ = child.kill();
    let _ = child.wait();
    let logs = stdout.join().expect("stdout reader");
    let errors = stderr.join().expect("stderr reader");
    assert_eq!(
        posted.len(),
        2,
        "two posts within {RUN_TIMEOUT:?}: {posted:#?}\n--- stdout\n{logs}\n--- stderr\n{errors}"
    );

    // The schedule tick: a JSON summary on /response.
    let first = &posted[0];
    assert_eq!(
        (first.request_id.as_str(), first.kind.as_str()),
        ("req-scheduled-1", "response"),
        "{first:#?}\n--- stdout\n{logs}"
    );
    let summary = &first.body;
    amiroll_testkit::assert_matches_schema("lambda-summary.schema.json", summary);
    assert_eq!(summary["invocation"]["kind"], "scheduled", "{summary:#}");
    assert_eq!(summary["invocation"]["via"], "eventbridge-scheduler");
    assert_eq!(summary["command"], "apply");
    assert_eq!(summary["dry_run"], false);
    assert_eq!(summary["config_source"], "AMIROLL_CONFIG");
    assert_eq!(summary["ok"], true, "{summary:#}");
    let targets = summary["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 1, "{summary:#}");
    let t = &targets[0];
    assert_eq!(t["target"], name.as_str());
    assert_eq!(t["strategy"], "none");
    assert_eq!(t["target_ami"], new_ami.as_str());
    assert_eq!(t["errors"], json!([]), "{t:#}");
    assert_eq!(t["apply_error"], Value::Null, "{t:#}");
    let changed: Vec<&str> = t["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    assert!(
        changed.contains(
            &format!("create a version of {template_id} from v1 with ImageId {new_ami}").as_str()
        ),
        "{changed:?}"
    );
    assert!(
        changed.contains(
            &format!("make the new version the default version of {template_id}").as_str()
        ),
        "{changed:?}"
    );

    // ... and the change is really in (emulated) AWS.
    let header = m
        .ec2
        .describe_launch_templates()
        .launch_template_ids(&template_id)
        .send()
        .await
        .expect("DescribeLaunchTemplates");
    assert_eq!(
        header
            .launch_templates()
            .first()
            .and_then(|t| t.default_version_number()),
        Some(2)
    );

    // The unknown event: an /error post naming what was received.
    let second = &posted[1];
    assert_eq!(
        (second.request_id.as_str(), second.kind.as_str()),
        ("req-unknown-2", "error"),
        "{second:#?}"
    );
    assert_eq!(second.body["errorType"], "amiroll.UnrecognisedEvent");
    let message = second.body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(
            r#"source "aws.autoscaling" and detail-type "EC2 Instance-launch Lifecycle Action""#
        ),
        "{message}"
    );

    // Logs: JSON lines on stdout, no colour codes, with the request id of each invocation.
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(!logs.contains('\u{1b}'), "ANSI escape in the logs");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "invocation done" && l["fields"]["ok"] == true),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "ERROR"
                && l["fields"]["error_type"] == "amiroll.UnrecognisedEvent"),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["requestId"] == "req-scheduled-1"),
        "the request id in the logs: {logs}"
    );
    // The ok run, and only it, printed its embedded metric format line, whole, on stdout (the
    // deploy template's "no successful run" alarm reads it).
    let metrics: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(metrics.len(), 1, "one EMF line: {logs}");
    assert_eq!(
        metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "amiroll"
    );
    assert_eq!(metrics[0]["FunctionName"], "amiroll");
    assert_eq!(metrics[0]["SuccessfulRuns"], 1);
}

/// Read a child's pipe to the end on its own thread.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
