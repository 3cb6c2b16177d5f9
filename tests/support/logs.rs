//! The functions' log lines under the running stack (`<binary>.log` in its logs directory).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::harness::stack;

/// Every log line a function wrote under the running stack.
pub fn function_log(binary: &str) -> String {
    let dir: PathBuf = stack().logs_dir.clone().unwrap_or_else(|| {
        panic!("ROTA_LOGS_DIR is not set: the stack's logs directory is needed")
    });
    assert!(
        dir.is_dir(),
        "the stack's logs directory {} is not a directory",
        dir.display()
    );
    std::fs::read_to_string(dir.join(format!("{binary}.log"))).unwrap_or_default()
}

/// The lines of `binary`'s log that contain `needle`, parsed, once `done` holds for them
/// (function output reaches the file a moment after the response; bounded wait).
pub async fn log_lines_with(
    binary: &str,
    needle: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = function_log(binary)
            .lines()
            .filter(|l| l.contains(needle))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        if done(&lines) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lines
}
