//! The functions' settings: one binary whose handler table serves every function's `Handler`,
//! reserved concurrency for the costly ones within the account's pool, and X-Ray tracing.

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

#[test]
fn functions_are_traced_with_x_ray() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Tracing"], "Active");
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let tracing = &f["Properties"]["Tracing"];
        assert!(
            tracing.is_null() || tracing == "Active",
            "{id} turns tracing off"
        );
    }
}
