//! Fault profiles (`local/faults.yaml`): what rota-local injects itself, and the counts of what
//! it injected.
//!
//! A profile has five sections. `dynamodb` and `sqs` belong to the emulator wrapper
//! (`local/moto_server.py`), which gets `--faults-file` and `--faults` from
//! [`crate::stack::MotoServer`]; rota-local keeps them as written. `redis` is served by the
//! proxy of [`crate::redis_proxy`], `lambda` by the runtime ([`LambdaFaultPlan`]). Every
//! decision is drawn from the profile's seed, the kind of fault, its subject and the call
//! number ([`draw`]), so a run with the same seed meets the same faults.
//!
//! What was injected is counted in [`FaultCounts`]; [`FaultReporter`] keeps
//! `<logs>/faults.json` up to date and logs a summary line every 10 s when the counts changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::Hasher as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The profile that injects nothing (`--faults` default). It reads no file.
pub const NO_FAULTS: &str = "none";
/// Where the profiles are, relative to the repository root (the template's directory).
pub const DEFAULT_FAULTS_FILE: &str = "local/faults.yaml";
/// Name of the counts file in the logs directory.
pub const REPORT_FILE: &str = "faults.json";
/// Path of the emulator's own counts, after its endpoint.
pub const EMULATOR_COUNTS_PATH: &str = "/_rota/faults";
/// How often the summary line may be logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Count keys of the Redis proxy.
pub const REDIS_OUTAGES: &str = "redis.outages";
pub const REDIS_CONNECTIONS_CUT: &str = "redis.connections_cut";
pub const REDIS_CONNECTIONS_REFUSED: &str = "redis.connections_refused";

/// The profiles file: `profiles: {name: profile}`.
#[derive(Debug, Deserialize)]
struct ProfilesFile {
    profiles: BTreeMap<String, FaultProfile>,
}

/// One fault profile.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultProfile {
    /// Its name in the file (not part of the YAML).
    #[serde(skip)]
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    /// For the emulator wrapper; not interpreted here.
    #[serde(default)]
    pub dynamodb: Option<serde_yaml_ng::Value>,
    /// For the emulator wrapper; not interpreted here.
    #[serde(default)]
    pub sqs: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub redis: Option<RedisFaults>,
    #[serde(default)]
    pub lambda: Option<LambdaFaults>,
}

/// The `redis` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisFaults {
    #[serde(default)]
    pub outage: Option<RedisOutage>,
}

/// `redis.outage`: down for `down_s` seconds of every `every_s`, starting `offset_s` into each
/// period (counted from the proxy's start).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOutage {
    pub every_s: f64,
    pub down_s: f64,
    #[serde(default)]
    pub offset_s: f64,
    #[serde(default)]
    pub mode: OutageMode,
}

/// What a new connection meets during an outage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// Accepted and reset at once: the client sees a refused/reset connection.
    #[default]
    Refuse,
    /// Accepted, read and never answered, like a failed node behind a load balancer.
    Blackhole,
}

/// The `lambda` section: rates per invocation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaFaults {
    #[serde(default)]
    pub crash_mid: f64,
    #[serde(default)]
    pub crash_idle: f64,
    #[serde(default)]
    pub timeout: f64,
    /// Function logical ids the faults apply to (default: all).
    #[serde(default)]
    pub functions: Option<Vec<String>>,
}

impl FaultProfile {
    /// The `none` profile.
    pub fn none() -> Self {
        Self {
            name: NO_FAULTS.into(),
            ..Self::default()
        }
    }

    /// The profile `name` of the file at `path`. `none` is built in and reads no file, so a
    /// stack without faults never depends on it.
    pub fn load(path: &Path, name: &str) -> anyhow::Result<Self> {
        if name == NO_FAULTS {
            return Ok(Self::none());
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the fault profiles {}", path.display()))?;
        Self::parse(&text, name).with_context(|| format!("in {}", path.display()))
    }

    /// The profile `name` of a profiles file's text.
    pub fn parse(yaml: &str, name: &str) -> anyhow::Result<Self> {
        let mut all = parse_profiles(yaml)?;
        match all.remove(name) {
            Some(p) => Ok(p),
            None => bail!(
                "no fault profile {name:?}; the profiles are: {}",
                all.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Whether the emulator has something to inject (a `dynamodb` or `sqs` section).
    pub fn has_emulator_faults(&self) -> bool {
        self.dynamodb.is_some() || self.sqs.is_some()
    }

    /// The Redis outage schedule, if any.
    pub fn redis_outage(&self) -> Option<RedisOutage> {
        self.redis.as_ref().and_then(|r| r.outage)
    }

    /// One line for the log: what this profile injects, and where.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.has_emulator_faults() {
            let sections: Vec<&str> = [("dynamodb", &self.dynamodb), ("sqs", &self.sqs)]
                .iter()
                .filter(|(_, s)| s.is_some())
                .map(|(n, _)| *n)
                .collect();
            parts.push(format!("{} in the emulator", sections.join(" and ")));
        }
        if let Some(o) = self.redis_outage() {
            parts.push(format!(
                "Redis down {} s of every {} s from {} s ({})",
                o.down_s,
                o.every_s,
                o.offset_s,
                match o.mode {
                    OutageMode::Refuse => "refuse",
                    OutageMode::Blackhole => "blackhole",
                }
            ));
        }
        if let Some(l) = &self.lambda {
            let mut s = format!(
                "Lambda crash_mid {}, crash_idle {}, timeout {}",
                l.crash_mid, l.crash_idle, l.timeout
            );
            if let Some(f) = &l.functions {
                let _ = write!(s, " (only {})", f.join(", "));
            }
            parts.push(s);
        }
        if parts.is_empty() {
            format!("fault profile {}: no faults", self.name)
        } else {
            format!(
                "fault profile {} (seed {}): {}",
                self.name,
                self.seed,
                parts.join("; ")
            )
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(o) = self.redis_outage() {
            let finite = [o.every_s, o.down_s, o.offset_s]
                .iter()
                .all(|v| v.is_finite());
            if !finite || o.every_s <= 0.0 {
                bail!("redis.outage.every_s must be a positive number of seconds");
            }
            if !(0.0..=o.every_s).contains(&o.down_s) {
                bail!(
                    "redis.outage.down_s must be between 0 and every_s ({})",
                    o.every_s
                );
            }
            if o.offset_s < 0.0 {
                bail!("redis.outage.offset_s must not be negative");
            }
        }
        if let Some(l) = &self.lambda {
            for (key, rate) in [
                ("crash_mid", l.crash_mid),
                ("crash_idle", l.crash_idle),
                ("timeout", l.timeout),
            ] {
                if !(0.0..=1.0).contains(&rate) {
                    bail!("lambda.{key} is a probability: 0.0 to 1.0, not {rate}");
                }
            }
        }
        Ok(())
    }
}

/// Every profile of a profiles file, checked.
pub fn parse_profiles(yaml: &str) -> anyhow::Result<BTreeMap<String, FaultProfile>> {
    let file: ProfilesFile =
        serde_yaml_ng::from_str(yaml).context("the fault profiles do not parse")?;
    let mut out = BTreeMap::new();
    for (name, mut profile) in file.profiles {
        profile
            .validate()
            .with_context(|| format!("fault profile {name}"))?;
        profile.name = name.clone();
        out.insert(name, profile);
    }
    Ok(out)
}

/// A number in `[0, 1)` fixed by `(seed, kind, subject, n)`. FNV-1a of those seeds a
/// `StdRng`; std's own hasher is not guaranteed stable across Rust releases, and a replay must
/// draw the same numbers.
pub fn draw(seed: u64, kind: &str, subject: &str, n: u64) -> f64 {
    let mut h = Fnv1a::default();
    h.write_u64(seed);
    h.write(kind.as_bytes());
    h.write_u8(0);
    h.write(subject.as_bytes());
    h.write_u8(0);
    h.write_u64(n);
    rand::rngs::StdRng::seed_from_u64(h.finish()).random::<f64>()
}

struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    // Fixed byte order, so a replay on another machine draws the same.
    fn write_u64(&mut self, n: u64) {
        self.write(&n.to_le_bytes());
    }
}

/// A fault the runtime injects into an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaFault {
    /// The instance is killed when it posts its response (or error).
    CrashMid,
    /// The idle instance is killed before it takes the event; a new one runs it.
    CrashIdle,
    /// The response is discarded and the invocation times out.
    Timeout,
}

impl LambdaFault {
    /// The profile key (and the middle of the count key).
    pub fn as_str(self) -> &'static str {
        match self {
            LambdaFault::CrashMid => "crash_mid",
            LambdaFault::CrashIdle => "crash_idle",
            LambdaFault::Timeout => "timeout",
        }
    }

    /// `lambda.<kind>.<Function>`.
    pub fn count_key(self, function: &str) -> String {
        format!("lambda.{}.{function}", self.as_str())
    }
}

/// The `lambda` section as the runtime applies it.
#[derive(Debug)]
pub struct LambdaFaultPlan {
    seed: u64,
    faults: LambdaFaults,
    counts: Arc<FaultCounts>,
}

impl LambdaFaultPlan {
    pub fn new(seed: u64, faults: LambdaFaults, counts: Arc<FaultCounts>) -> Self {
        Self {
            seed,
            faults,
            counts,
        }
    }

    /// The plan of a profile, or `None` when it has no `lambda` section.
    pub fn from_profile(profile: &FaultProfile, counts: Arc<FaultCounts>) -> Option<Self> {
        let faults = profile.lambda.clone()?;
        Some(Self::new(profile.seed, faults, counts))
    }

    /// Whether `kind` strikes the `n`-th invocation (from 1) of `function`.
    pub fn strikes(&self, kind: LambdaFault, function: &str, n: u64) -> bool {
        let rate = match kind {
            LambdaFault::CrashMid => self.faults.crash_mid,
            LambdaFault::CrashIdle => self.faults.crash_idle,
            LambdaFault::Timeout => self.faults.timeout,
        };
        let applies = self
            .faults
            .functions
            .as_ref()
            .is_none_or(|only| only.iter().any(|f| f == function));
        rate > 0.0 && applies && draw(self.seed, kind.as_str(), function, n) < rate
    }

    /// Counts one injected fault.
    pub fn record(&self, kind: LambdaFault, function: &str) {
        self.counts.add(&kind.count_key(function));
    }
}

/// What rota-local injected, by count key. Shared by the proxy, the runtime and the reporter.
#[derive(Debug)]
pub struct FaultCounts {
    counts: Mutex<BTreeMap<String, u64>>,
    /// Bumped on every change, so the reporter wakes up.
    changes: watch::Sender<u64>,
}

impl Default for FaultCounts {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultCounts {
    pub fn new() -> Self {
        Self {
            counts: Mutex::new(BTreeMap::new()),
            changes: watch::Sender::new(0),
        }
    }

    /// Adds one to `key`.
    pub fn add(&self, key: &str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default() += 1;
        self.changes.send_modify(|n| *n += 1);
    }

    /// Lists `key` (at 0 unless counted already), so readers see what may be injected.
    pub fn declare(&self, key: &str) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default();
    }

    pub fn get(&self, key: &str) -> u64 {
        self.snapshot().get(key).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

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
        if let Err(e) = write_atomically(&path, report) {
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

fn write_atomically(path: &Path, report: &FaultReport) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let mut text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_fixed_by_their_inputs() {
        let a = draw(7, "crash_mid", "Fn", 3);
        assert_eq!(a, draw(7, "crash_mid", "Fn", 3));
        assert!((0.0..1.0).contains(&a));
        assert_ne!(a, draw(8, "crash_mid", "Fn", 3));
        assert_ne!(a, draw(7, "timeout", "Fn", 3));
        assert_ne!(a, draw(7, "crash_mid", "Other", 3));
        assert_ne!(a, draw(7, "crash_mid", "Fn", 4));
        // Roughly uniform: a 10 % rate strikes about 10 % of 10 000 calls.
        let hits = (1..=10_000).filter(|n| draw(1, "k", "f", *n) < 0.1).count();
        assert!((800..1200).contains(&hits), "{hits}");
    }

    #[test]
    fn plan_respects_rates_and_functions() {
        let counts = Arc::new(FaultCounts::new());
        let plan = LambdaFaultPlan::new(
            1,
            LambdaFaults {
                crash_mid: 1.0,
                crash_idle: 0.0,
                timeout: 0.5,
                functions: Some(vec!["A".into()]),
            },
            counts.clone(),
        );
        assert!((1..100).all(|n| plan.strikes(LambdaFault::CrashMid, "A", n)));
        assert!((1..100).all(|n| !plan.strikes(LambdaFault::CrashMid, "B", n)));
        assert!((1..100).all(|n| !plan.strikes(LambdaFault::CrashIdle, "A", n)));
        let timeouts = (1..1000)
            .filter(|n| plan.strikes(LambdaFault::Timeout, "A", *n))
            .count();
        assert!((400..600).contains(&timeouts), "{timeouts}");
        plan.record(LambdaFault::CrashMid, "A");
        plan.record(LambdaFault::CrashMid, "A");
        assert_eq!(counts.get("lambda.crash_mid.A"), 2);
    }
}
