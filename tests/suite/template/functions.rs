//! The functions' settings: one binary whose handler table serves every function's `Handler`,
//! reserved concurrency for the costly ones within the account's pool, and X-Ray tracing
//! sampled by function.

use super::*;

/// The functions whose cost (argon2id, big writes, stats queries, queue fan-out) must not be
/// able to take the account's whole concurrency pool.
const RESERVED_CONCURRENCY: &[&str] = &[
    "AuthRegisterFunction",
    "AuthLoginFunction",
    "RoadmapsCreateFunction",
    "CommunityStatsFunction",
    "RemindersWorkerFunction",
];

/// Lambda's default account concurrency and the part AWS keeps unreserved.
const ACCOUNT_CONCURRENCY: i64 = 1000;

const UNRESERVED_MINIMUM: i64 = 100;

/// The handler names the `rota` binary serves (`rota --handlers`).
fn served_handlers() -> Vec<String> {
    let rota = rota_tests::binaries().join("rota");
    let out = std::process::Command::new(&rota)
        .arg("--handlers")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", rota.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn every_function_runs_the_one_binary_under_a_handler_it_serves() {
    let t = template();
    let served = served_handlers();
    assert!(served.len() > 30, "{served:?}");
    let mut used = Vec::new();
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let binary = &f["Metadata"]["BuildProperties"]["Binary"];
        assert_eq!(binary, "rota", "{id}: Metadata.BuildProperties.Binary");
        let handler = f["Properties"]["Handler"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no Handler"));
        assert!(
            served.iter().any(|h| h == handler),
            "{id}: rota does not serve {handler}"
        );
        used.push(handler.to_string());
    }
    used.sort();
    let mut unique = used.clone();
    unique.dedup();
    assert_eq!(used, unique, "two functions share a handler");
    let mut served = served;
    served.sort();
    assert_eq!(used, served, "handlers no function of the template runs");
}

#[test]
fn an_unknown_handler_fails_the_instance_at_start_and_names_the_known_ones() {
    let rota = rota_tests::binaries().join("rota");
    let out = std::process::Command::new(&rota)
        .env("_HANDLER", "no-such-endpoint")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-endpoint"), "{stderr}");
    assert!(stderr.contains("users-me-get"), "{stderr}");
}

#[test]
fn costly_functions_have_reserved_concurrency_within_the_account_pool() {
    let t = template();
    let mut reserved_total = 0;
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        if let Some(n) = f["Properties"].get("ReservedConcurrentExecutions") {
            let n = n.as_i64().unwrap_or_else(|| panic!("{id}: not a number"));
            assert!(n > 0, "{id}: 0 would disable the function");
            reserved_total += n;
        }
    }
    for id in RESERVED_CONCURRENCY {
        let props = &t["Resources"][id]["Properties"];
        assert!(
            props["ReservedConcurrentExecutions"].as_i64().is_some(),
            "{id} has no ReservedConcurrentExecutions"
        );
    }
    assert!(
        reserved_total <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM,
        "{reserved_total} reserved: AWS keeps {UNRESERVED_MINIMUM} of {ACCOUNT_CONCURRENCY} unreserved"
    );
    // An SQS source's MaximumConcurrency above the reserved concurrency would throttle it.
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        for e in f["Properties"]["Events"].as_object().into_iter().flatten() {
            let max = &e.1["Properties"]["ScalingConfig"]["MaximumConcurrency"];
            if let (Some(max), Some(reserved)) = (
                max.as_i64(),
                f["Properties"]["ReservedConcurrentExecutions"].as_i64(),
            ) {
                assert!(
                    max <= reserved,
                    "{id}: MaximumConcurrency {max} > {reserved}"
                );
            }
        }
    }
}

/// The functions that trace (X-Ray, `Tracing: Active`) without a deploy-time switch: few
/// calls each, where a trace answers something (argon2id, roadmap generation, the jobs).
const TRACED: &[&str] = &[
    "AuthRegisterFunction",
    "AuthLoginFunction",
    "RoadmapsCreateFunction",
    "RemindersSchedulerFunction",
    "RemindersWorkerFunction",
];

/// The largest share of the day's API calls the traced routes may carry.
const TRACED_SHARE_MAX: f64 = 0.02;

#[test]
fn tracing_is_sampled_by_function() {
    let t = template();
    // Lambda's own sampling cannot be configured (the first call each second plus 5 %:
    // about half of Rota's calls): the rest traces only when deployed with TracingMode=Active.
    assert_eq!(t["Globals"]["Function"]["Tracing"]["Ref"], "TracingMode");
    let mode = &t["Parameters"]["TracingMode"];
    assert_eq!(mode["Default"], "PassThrough");
    let allowed: Vec<_> = one_or_many(&mode["AllowedValues"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, ["PassThrough", "Active"]);
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let tracing = &f["Properties"]["Tracing"];
        if TRACED.contains(&id.as_str()) {
            assert_eq!(tracing, "Active", "{id}");
        } else {
            assert!(tracing.is_null(), "{id} sets its own Tracing: {tracing}");
        }
    }
    // The traced routes carry a small share of the calls (bench/endpoints.json, the cost
    // model's input): Lambda's reservoir of one trace a second records about all of them and
    // no more (scripts/cost_model.py prices it).
    let endpoints: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("bench/endpoints.json")).unwrap(),
    )
    .unwrap();
    let (mut traced, mut total) = (0.0, 0.0);
    for e in endpoints["endpoints"].as_object().unwrap().values() {
        let share = e["share"].as_f64().unwrap();
        total += share;
        if TRACED.contains(&e["function"].as_str().unwrap()) {
            traced += share;
        }
    }
    assert!(traced > 0.0, "no traced route");
    assert!(
        traced / total <= TRACED_SHARE_MAX,
        "traced routes carry {:.1} % of the calls",
        100.0 * traced / total
    );
}
