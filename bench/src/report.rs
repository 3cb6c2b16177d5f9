//! The figures as the CLI reports them.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

use crate::measure::Figures;

/// The figures as a Markdown table.
pub fn markdown(figures: &[Figures]) -> String {
    let mut s = String::from(
        "| function | case | binary MB | init ms | cold run ms | warm p50 / p95 ms | CPU ms / warm inv. (p50, mean; process) | peak RSS MB | DynamoDB calls / round trips / Redis calls | est. RCU / WCU | statuses |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in figures {
        let d = f.diagnostics.as_ref();
        let num = |k: &str| d.and_then(|d| d.get(k)).cloned().unwrap_or(Value::Null);
        let diag = if d.is_some() {
            format!(
                "{} / {} / {}",
                num("dynamodb_calls"),
                num("round_trips"),
                num("redis_calls")
            )
        } else {
            "–".into()
        };
        let cap = if d.is_some() {
            format!("{} / {}", num("rcu_estimated"), num("wcu_estimated"))
        } else {
            "–".into()
        };
        let statuses = f
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(" ");
        s.push_str(&format!(
            "| {} | {} | {:.1} | {} | {:.1} | {:.2} / {:.2} | {:.2}, {:.2}; {} | {} | {} | {} | {} |\n",
            f.name,
            f.case,
            f.binary_bytes as f64 / 1_048_576.0,
            f.init_ms.map_or("–".into(), |v| format!("{v:.1}")),
            f.cold_duration_ms,
            f.warm_duration_ms_p50,
            f.warm_duration_ms_p95,
            f.warm_cpu_ms_p50,
            f.warm_cpu_ms_mean,
            f.warm_cpu_ms_process.map_or("–".into(), |v| format!("{v:.2}")),
            f.peak_rss_mib.map_or("–".into(), |v| format!("{v:.1}")),
            diag,
            cap,
            statuses
        ));
    }
    s
}

/// Where results go by default.
pub fn default_out_dir() -> PathBuf {
    PathBuf::from(".local/bench")
}

/// Elapsed-time helper for the CLI.
pub fn since(t: Instant) -> String {
    format!("{:.1} s", t.elapsed().as_secs_f64())
}
