//! A private emulator under a fault profile: tests of the retry policy and of the reminders
//! pipeline under faults start their own, so their faults never reach other tests.

use serde_json::Value;
use tempfile::TempDir;

use crate::harness::repo_root;

/// A new temporary directory named `prefix…`, removed on drop.
pub fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

/// The emulator wrapper (local/moto_server.py) on a free port under one profile (`profile` is
/// the YAML body of `profiles.test`, indented by four spaces), with the template's tables,
/// queues and secret; and a DynamoDB client built as the functions build theirs.
pub async fn faulted_emulator(
    profile: &str,
) -> (
    rota_local::stack::MotoServer,
    aws_sdk_dynamodb::Client,
    TempDir,
) {
    use rota_local::stack::{EmulatorFaults, MotoServer, ensure_resources, find_moto_server};
    let root = repo_root();
    assert!(
        root.join(".venv/bin/python").is_file() && root.join("local/moto-server").is_file(),
        "no .venv with moto (the AWS emulator) in the repository: run `make bootstrap` first"
    );
    let dir = temp_dir("rota-faults-");
    let file = dir.path().join("faults.yaml");
    std::fs::write(&file, format!("profiles:\n  test:\n{profile}")).expect("profile file");
    let server = MotoServer::start_with_faults(
        &find_moto_server(&repo_root()),
        0,
        dir.path(),
        Some(&EmulatorFaults {
            file,
            profile: "test".into(),
        }),
    )
    .await
    .expect("the emulator wrapper starts (make bootstrap creates .venv)");
    let template =
        rota_local::template::Template::load(repo_root().join("template.yaml")).expect("template");
    ensure_resources(&template, &server.endpoint)
        .await
        .expect("resources");
    let sdk = rota_local::stack::sdk_config(&server.endpoint).await;
    (server, rota_store::dynamodb_client(&sdk), dir)
}

/// What a wrapper says it injected (`injected`) and served (`calls`).
pub async fn emulator_counts(server: &rota_local::stack::MotoServer) -> Value {
    let url = format!("{}/_rota/faults", server.endpoint);
    crate::http::get_json(&url, "the wrapper's counts").await
}

/// How many calls of `operation` (`dynamodb.Query`, say) a wrapper has served.
pub async fn calls_of(server: &rota_local::stack::MotoServer, operation: &str) -> u64 {
    emulator_counts(server).await["calls"][operation]
        .as_u64()
        .unwrap_or(0)
}

/// The sum of the counts whose name contains `needle`.
pub fn count_of(counts: &Value, needle: &str) -> u64 {
    counts
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.contains(needle))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Holds the next call of `operation` whose request contains `matching` for `ms` in the
/// emulator at `endpoint` (the wrapper's test knob, local/moto_rules.py): a transaction held so
/// outlives its caller's attempt timeout, as a slow DynamoDB transaction does.
pub async fn hold_next_call(endpoint: &str, operation: &str, matching: &str, ms: u64) {
    hold_calls(endpoint, operation, matching, ms, 1).await;
}

/// The next `times` calls of `operation` whose body contains `matching` are each held `ms`
/// before the emulator serves them (a slow dependency, until [`release_holds`]).
pub async fn hold_calls(endpoint: &str, operation: &str, matching: &str, ms: u64, times: u64) {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/_rota/hold"))
        .json(&serde_json::json!({"operation": operation, "match": matching, "ms": ms, "times": times}))
        .send()
        .await
        .expect("the emulator wrapper answers /_rota/hold");
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
}

/// Drops every hold still waiting for calls (the dependency heals; held calls finish).
pub async fn release_holds(endpoint: &str) {
    let response = reqwest::Client::new()
        .delete(format!("{endpoint}/_rota/hold"))
        .send()
        .await
        .expect("the emulator wrapper answers /_rota/hold");
    assert!(response.status().is_success(), "{response:?}");
}

/// The wrapper's holds still waiting for their call, how many calls it held, and how many
/// TransactionInProgressException answers it gave.
pub async fn hold_report(endpoint: &str) -> Value {
    crate::http::get_json(&format!("{endpoint}/_rota/hold"), "the hold report").await
}
