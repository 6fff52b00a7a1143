//! The checked-in JSON Schema of `--output json` (docs/schema/cli-output.schema.json) is the one
//! the types generate. After a deliberate change of the output types, rewrite it with
//! `AMIROLL_WRITE_SCHEMA=1 cargo test -p amiroll-core --test output_schema` and raise
//! `SCHEMA_VERSION` if a reader would break (a field removed, renamed or retyped).

use std::path::PathBuf;

use amiroll_core::output::cli_output_schema;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema/cli-output.schema.json")
}

#[test]
fn the_checked_in_cli_output_schema_is_the_one_the_types_generate() {
    let schema = cli_output_schema();
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&schema).expect("a schema serialises")
    );
    let path = checked_in();
    if std::env::var_os("AMIROLL_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &text).expect("write the schema");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{} is stale: rewrite it with `AMIROLL_WRITE_SCHEMA=1 cargo test -p amiroll-core --test output_schema` (and raise SCHEMA_VERSION if a reader would break)",
        path.display()
    );
}

#[test]
fn the_schema_requires_the_version_and_one_list_of_places() {
    let schema = cli_output_schema();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for field in ["schema_version", "exit_code", "places"] {
        assert!(
            required.contains(&field),
            "{field} is required: {required:?}"
        );
    }
    assert_eq!(schema["properties"]["places"]["type"], "array");
    // Every place has its own plan or report and its targets' digest.
    let place = &schema["$defs"]["PlaceOutput"]["properties"];
    for field in ["place", "plan", "report", "targets", "error"] {
        assert!(!place[field].is_null(), "PlaceOutput.{field}: {place:#}");
    }
    assert_eq!(schema["properties"]["schema_version"]["type"], "integer");
}
