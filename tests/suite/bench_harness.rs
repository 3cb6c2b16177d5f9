//! The benchmark harness itself (rota-bench) works: it runs functions through the Runtime API
//! and reports init duration, CPU, memory and, in diagnostic mode, DynamoDB cost. No figure is
//! judged here (performance is measured in BENCHMARKS.md, never asserted in a test); the test
//! checks that the harness measures something and that the diagnostics count what the code does.

use std::process::Command;

use rota_tests::{binaries, repo_root, succeeded, unique};
use serde_json::Value;

fn function<'a>(figures: &'a [Value], name: &str) -> &'a Value {
    figures
        .iter()
        .find(|f| f["function"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {figures:?}"))
}

fn num(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing in {v}"))
}

#[test]
fn the_harness_reports_cold_start_cpu_memory_and_dynamodb_cost_per_function() {
    let root = repo_root();
    let out = root.join(".local").join(unique("test-bench-"));
    let run = Command::new(binaries().join("rota-bench"))
        .current_dir(&root)
        .args(["--bin-dir", "target/debug", "--warm", "3"])
        .args(["--only", "HealthLiveFunction"])
        .args(["--only", "CommunityPostsListFunction"])
        .args(["--only", "CommunityPostsLikeFunction"])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("rota-bench runs (built by `cargo build --workspace --bins`)");
    succeeded(&run, "rota-bench");
    let figures: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out.join("functions.json")).unwrap()).unwrap();
    assert_eq!(figures.len(), 3);
    for f in &figures {
        assert!(num(f, "/binary_bytes") > 0.0, "{f}");
        assert!(num(f, "/init_ms") > 0.0, "a cold start was measured: {f}");
        assert!(num(f, "/peak_rss_mib") > 0.0, "{f}");
        assert_eq!(num(f, "/warm_runs"), 3.0, "{f}");
        assert!(num(f, "/warm_cpu_ms_mean") > 0.0, "{f}");
        let statuses = f["statuses"].as_object().unwrap();
        assert!(
            statuses.keys().all(|s| s.starts_with('2')),
            "every measured request succeeded: {f}"
        );
    }

    let live = function(&figures, "HealthLiveFunction");
    assert_eq!(num(live, "/diagnostics/dynamodb_calls"), 0.0, "{live}");

    let list = function(&figures, "CommunityPostsListFunction");
    assert!(num(list, "/diagnostics/dynamodb_calls") >= 1.0, "{list}");
    assert!(num(list, "/diagnostics/round_trips") >= 1.0, "{list}");
    assert!(num(list, "/diagnostics/rcu_estimated") > 0.0, "{list}");
    assert_eq!(num(list, "/diagnostics/wcu_estimated"), 0.0, "{list}");

    // A like is one transaction (like item + post counter): at least 2 × 2 WCU.
    let like = function(&figures, "CommunityPostsLikeFunction");
    let ops = like["diagnostics"]["operations"].as_array().unwrap();
    assert!(ops.iter().any(|o| o == "TransactWriteItems"), "{like}");
    assert!(num(like, "/diagnostics/wcu_estimated") >= 4.0, "{like}");
    let _ = std::fs::remove_dir_all(&out);
}
