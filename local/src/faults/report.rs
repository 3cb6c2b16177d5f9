//! `<logs>/faults.json` and the summary line: what was injected, for the tests and the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{FaultCounts, FaultProfile};

/// Name of the counts file in the logs directory.
pub const REPORT_FILE: &str = "faults.json";
/// How often the summary line may be logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// `<logs>/faults.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    pub profile: String,
    pub seed: u64,
    /// What rota-local injected, by count key.
    pub injected: BTreeMap<String, u64>,
    /// Where the emulator serves its own counts (`<endpoint>/_rota/faults`).
    pub emulator: String,
}

/// `<logs>/faults.json`.
pub fn report_file(logs_dir: &Path) -> PathBuf {
    logs_dir.join(REPORT_FILE)
}

/// Reads `faults.json`.
pub fn read_report(path: &Path) -> anyhow::Result<FaultReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a faults report", path.display()))
}

/// Keeps `faults.json` up to date (shortly after every change) and logs a summary line at
/// most every 10 s while the counts change.
pub struct FaultReporter {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl FaultReporter {
    /// Writes the file at once (with what is counted so far) and starts the reporter.
    pub fn start(
        path: PathBuf,
        profile: &FaultProfile,
        emulator: String,
        counts: Arc<FaultCounts>,
    ) -> Self {
        let report = FaultReport {
            profile: profile.name.clone(),
            seed: profile.seed,
            injected: BTreeMap::new(),
            emulator,
        };
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(report_loop(path, report, counts, stop_rx));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Writes the final counts and stops.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for FaultReporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn report_loop(
    path: PathBuf,
    mut report: FaultReport,
    counts: Arc<FaultCounts>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut changes = counts.subscribe();
    let mut summary =
        tokio::time::interval_at(tokio::time::Instant::now() + SUMMARY_EVERY, SUMMARY_EVERY);
    summary.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut logged = summary_line(&counts.snapshot());
    let write = |report: &mut FaultReport| {
        report.injected = counts.snapshot();
        if let Err(e) = crate::json_file::write_atomically(&path, report) {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    };
    write(&mut report);
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                // Faults come in bursts (an outage cuts every connection): one write for them.
                tokio::time::sleep(Duration::from_millis(50)).await;
                changes.borrow_and_update();
                write(&mut report);
            }
            _ = summary.tick() => {
                let now = summary_line(&counts.snapshot());
                if now != logged {
                    tracing::info!("faults injected so far ({}): {now}", report.profile);
                    logged = now;
                }
            }
            _ = &mut stop => break,
        }
    }
    write(&mut report);
}

fn summary_line(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if parts.is_empty() {
        "nothing yet".into()
    } else {
        parts.join(" ")
    }
}
