//! The machine contract, end to end in the simulated account: the documents `--output json`
//! prints for `check`, `plan`, `status`, `apply` and `rollback`, in one place and in several, in
//! every state a target can be in (current, drift, rolling, failed, error), match the checked-in
//! JSON Schema (docs/schema/cli-output.schema.json), checked with a maintained validator, and
//! carry the exit code the table in the README gives: 0 current or succeeded, 2 not current yet,
//! 1 an error or a failure.
//!
//! The documents are built as the CLI builds them (`CliOutput::from_plans` /
//! `CliOutput::from_reports`, crates/cli/src/main.rs); the emulator tests
//! (crates/cli/tests/moto_e2e.rs) check the binary's own stdout against the same schema.

mod common;

use amiroll_core::engine::RetryPolicy;
use amiroll_core::fleet::{self, Place, PlacePlan, PlaceReport};
use amiroll_core::output::{CliOutput, OutputCommand};
use amiroll_core::{ApplyReport, Engine};
use amiroll_sim::SimAws;
use common::{World, BAD, NEW};
use serde_json::{json, Value};

fn schema() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema/cli-output.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// The violations of `doc` against the checked-in schema.
fn violations(doc: &Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// `out` serialised, checked against the schema, and returned.
fn valid(out: &CliOutput) -> Value {
    let doc = serde_json::to_value(out).expect("serialises");
    let errors = violations(&doc);
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    doc
}

fn here() -> Place {
    Place {
        account: None,
        region: Some("us-east-1".to_string()),
    }
}

fn plan_doc(w: &World, command: OutputCommand) -> Value {
    let plan = futures::executor::block_on(Engine::new(&w.sim).plan(&w.config())).expect("plan");
    valid(&CliOutput::from_plans(
        command,
        vec![PlacePlan {
            place: here(),
            plan: Some(plan),
            error: None,
        }],
    ))
}

fn report_doc(command: OutputCommand, report: ApplyReport) -> Value {
    valid(&CliOutput::from_reports(
        command,
        vec![PlaceReport {
            place: here(),
            report: Some(report),
            error: None,
            calls: Default::default(),
        }],
    ))
}

/// The one target's status and the document's exit code.
fn status_and_code(doc: &Value, body: &str) -> (String, i64) {
    let places = doc["places"].as_array().expect("places");
    assert_eq!(places.len(), 1, "{doc:#}");
    let t = &places[0][body]["targets"][0];
    (
        t["plan"]["status"]
            .as_str()
            .or(t["status"].as_str())
            .unwrap_or_default()
            .to_string(),
        doc["exit_code"].as_i64().expect("exit_code"),
    )
}

#[test]
fn every_command_in_every_state_prints_the_one_shape_with_its_exit_code() {
    let w = World::new();
    assert_eq!(
        status_and_code(&plan_doc(&w, OutputCommand::Check), "plan"),
        ("current".to_string(), 0)
    );

    w.publish(NEW);
    let plan = plan_doc(&w, OutputCommand::Plan);
    assert_eq!(status_and_code(&plan, "plan"), ("drift".to_string(), 2));
    // The per-target digest lists the planned actions as not done, "plan only".
    let digest = &plan["places"][0]["targets"][0];
    assert_eq!(digest["target"], "web");
    assert!(
        digest["not_done"]
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s["detail"] == "plan only")),
        "{digest:#}"
    );

    let apply = report_doc(OutputCommand::Apply, w.apply_ok());
    assert_eq!(apply["exit_code"], 0, "{apply:#}");
    assert_eq!(apply["places"][0]["report"]["dry_run"], false);
    assert!(
        apply["places"][0]["targets"][0]["changed"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{apply:#}"
    );

    // Rolling: not current yet.
    let status = plan_doc(&w, OutputCommand::Status);
    assert_eq!(status["command"], "status");
    assert_eq!(status_and_code(&status, "plan"), ("rolling".to_string(), 2));
    assert!(
        status["places"][0]["targets"][0]["in_flight"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "{status:#}"
    );

    let rollback = report_doc(OutputCommand::Rollback, w.rollback());
    assert_eq!(rollback["command"], "rollback");
    assert_eq!(rollback["exit_code"], 0, "{rollback:#}");
}

#[test]
fn a_failed_rollout_is_exit_1_in_check_and_apply() {
    let w = World::new();
    w.publish(BAD);
    let last = w.converge();
    let apply = report_doc(OutputCommand::Apply, last);
    assert_eq!(status_and_code(&apply, "report"), ("failed".to_string(), 1));
    let check = plan_doc(&w, OutputCommand::Check);
    assert_eq!(status_and_code(&check, "plan"), ("failed".to_string(), 1));
    assert!(
        check["places"][0]["targets"][0]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{check:#}"
    );
}

#[test]
fn a_target_in_error_is_exit_1_with_its_error() {
    let w = World::new().targeting(&["no-such-group"]);
    let check = plan_doc(&w, OutputCommand::Check);
    assert_eq!(status_and_code(&check, "plan"), ("error".to_string(), 1));
    let errors = &check["places"][0]["targets"][0]["errors"];
    assert!(
        errors.as_array().is_some_and(|e| e
            .iter()
            .any(|e| e.as_str().unwrap_or("").contains("no-such-group"))),
        "{check:#}"
    );
}

#[test]
fn several_places_have_the_same_shape_and_one_failed_place_makes_exit_1() {
    let w = World::new();
    w.publish(NEW);
    let other = Place {
        account: Some("111122223333".to_string()),
        region: Some("eu-west-1".to_string()),
    };
    let ports: Vec<(Place, Result<SimAws, String>)> = vec![
        (here(), Ok(w.sim.clone())),
        (other, Err("cannot assume role".to_string())),
    ];
    let plans = futures::executor::block_on(fleet::plan_everywhere(
        &ports,
        &w.config(),
        RetryPolicy::default(),
    ));
    let doc = valid(&CliOutput::from_plans(OutputCommand::Check, plans));
    assert_eq!(doc["exit_code"], 1, "{doc:#}");
    let places = doc["places"].as_array().expect("places");
    assert_eq!(places.len(), 2);
    let ok = places
        .iter()
        .find(|p| p["place"]["account"].is_null())
        .expect("own account");
    assert_eq!(ok["plan"]["targets"][0]["status"], "drift", "{doc:#}");
    let failed = places
        .iter()
        .find(|p| p["place"]["account"] == "111122223333")
        .expect("other account");
    assert!(failed["plan"].is_null(), "{doc:#}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot assume role")),
        "{doc:#}"
    );

    // Only drift everywhere: 2.
    let ports: Vec<(Place, Result<SimAws, String>)> = vec![(here(), Ok(w.sim.clone()))];
    let plans = futures::executor::block_on(fleet::plan_everywhere(
        &ports,
        &w.config(),
        RetryPolicy::default(),
    ));
    assert_eq!(
        valid(&CliOutput::from_plans(OutputCommand::Check, plans))["exit_code"],
        2
    );
}

#[test]
fn an_error_before_any_place_has_the_same_shape() {
    let doc = valid(&CliOutput::error(
        None,
        "configuration test.toml: unknown key `stratgy`".to_string(),
    ));
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["places"], json!([]));
    assert!(doc["command"].is_null());
}

#[test]
fn the_schema_rejects_the_old_shapes() {
    // Before schema version 1: a bare plan for one place, a bare list for several.
    let w = World::new();
    let plan = futures::executor::block_on(Engine::new(&w.sim).plan(&w.config())).expect("plan");
    let bare = serde_json::to_value(&plan).expect("serialises");
    assert!(!violations(&bare).is_empty(), "a bare plan is rejected");
    assert!(!violations(&json!([{ "place": {}, "plan": bare }])).is_empty());
    // A document without its version is rejected.
    let mut doc = valid(&CliOutput::error(None, "x".to_string()));
    doc.as_object_mut()
        .expect("object")
        .remove("schema_version");
    assert!(!violations(&doc).is_empty());
}
