//! One function's runs (the first cold, the rest warm) and their figures: durations from the
//! function's REPORT, CPU time and peak memory of its instance from `/proc`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use rota_local::lambda_service::LambdaService;
use serde::Serialize;
use serde_json::Value;

use crate::client::{Client, Req};

/// On-CPU time of every thread of a process, from the scheduler's statistics.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(total))
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The figures of one function.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub function: String,
    /// The function's short name (its handler; the binary `rota` serves them all).
    pub name: String,
    /// What the measured request does.
    pub case: String,
    pub binary_bytes: u64,
    pub init_ms: Option<f64>,
    /// The cold request's duration (after init).
    pub cold_duration_ms: f64,
    pub warm_runs: usize,
    pub warm_duration_ms_p50: f64,
    pub warm_duration_ms_p95: f64,
    pub warm_cpu_ms_p50: f64,
    pub warm_cpu_ms_mean: f64,
    /// The instance's whole CPU time from before the first warm request to after the last,
    /// idle time between requests included, per warm request: the cross-check of the mean.
    pub warm_cpu_ms_process: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// Status codes seen on the measured requests.
    pub statuses: BTreeMap<u16, usize>,
    /// What the last warm request cost (diagnostic mode).
    pub diagnostics: Option<Value>,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one function's runs produced: the first invocation cold, the rest warm.
struct Samples {
    function: String,
    statuses: BTreeMap<u16, usize>,
    durations: Vec<f64>,
    cpu: Vec<f64>,
    /// The instance's CPU time before the first warm request and after the last.
    cpu_span: Option<(Duration, Duration)>,
    init_ms: Option<f64>,
    cold_duration_ms: f64,
    diagnostics: Option<Value>,
    pid: Option<u32>,
}

impl Samples {
    /// Recycles the function's instances so the first invocation starts cold.
    async fn start(lambda: &LambdaService, function: &str) -> Self {
        lambda.recycle(function).await;
        Self {
            function: function.to_string(),
            statuses: BTreeMap::new(),
            durations: Vec::new(),
            cpu: Vec::new(),
            cpu_span: None,
            init_ms: None,
            cold_duration_ms: 0.0,
            diagnostics: None,
            pid: None,
        }
    }

    /// The instance's CPU time so far (call before an invocation).
    fn cpu_before(&self) -> Option<Duration> {
        self.pid.and_then(cpu_time)
    }

    /// Waits until the instance that answered is back asking for its next event: a reply
    /// reaches the client before the function has written its logs and metrics, dropped the
    /// request's state and polled again, and all of that is CPU the invocation costs (Lambda
    /// freezes the instance only in that poll). Reading the CPU at the reply left it out
    /// (issue 24: a function process spent more per request through the gateway than this
    /// harness reported).
    async fn settle(&self, lambda: &LambdaService) {
        let pid = lambda.last_report(&self.function).and_then(|r| r.pid);
        if let Some(pid) = pid {
            lambda
                .wait_parked(&self.function, pid, Duration::from_secs(2))
                .await;
        }
    }

    /// Records one invocation from the function's REPORT.
    fn record(
        &mut self,
        lambda: &LambdaService,
        status: u16,
        cpu_before: Option<Duration>,
        diagnostics: Option<Value>,
    ) -> anyhow::Result<()> {
        *self.statuses.entry(status).or_default() += 1;
        let report = lambda
            .last_report(&self.function)
            .with_context(|| format!("{} reported no invocation", self.function))?;
        self.pid = report.pid;
        if self.statuses.values().sum::<usize>() == 1 {
            self.init_ms = report.init_duration.map(ms);
            self.cold_duration_ms = ms(report.duration);
            return Ok(());
        }
        self.durations.push(ms(report.duration));
        if let (Some(b), Some(a)) = (cpu_before, self.pid.and_then(cpu_time)) {
            self.cpu.push(ms(a.saturating_sub(b)));
            self.cpu_span = Some((self.cpu_span.map_or(b, |(first, _)| first), a));
        }
        self.diagnostics = diagnostics.or(self.diagnostics.take());
        Ok(())
    }

    fn figures(self, lambda: &LambdaService, case: &str) -> anyhow::Result<Figures> {
        let config = lambda
            .function(&self.function)
            .with_context(|| format!("no function {} in the template", self.function))?;
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        Ok(Figures {
            name: config.short_name.clone(),
            binary_bytes: std::fs::metadata(&config.executable).map_or(0, |m| m.len()),
            function: self.function,
            case: case.to_string(),
            init_ms: self.init_ms,
            cold_duration_ms: self.cold_duration_ms,
            warm_runs: self.durations.len(),
            warm_duration_ms_p50: percentile(&self.durations, 50.0),
            warm_duration_ms_p95: percentile(&self.durations, 95.0),
            warm_cpu_ms_p50: percentile(&self.cpu, 50.0),
            warm_cpu_ms_mean: mean(&self.cpu),
            warm_cpu_ms_process: self
                .cpu_span
                .filter(|_| !self.cpu.is_empty())
                .map(|(first, last)| ms(last.saturating_sub(first)) / self.cpu.len() as f64),
            peak_rss_mib: self.pid.and_then(peak_rss_kib).map(|k| k as f64 / 1024.0),
            statuses: self.statuses,
            diagnostics: self.diagnostics,
        })
    }
}

/// Runs the benchmark of one HTTP function: `requests[0]` cold, the rest warm.
pub(crate) async fn measure(
    lambda: &LambdaService,
    client: &Client,
    function: &str,
    case: &str,
    requests: Vec<Req>,
) -> anyhow::Result<Figures> {
    let mut samples = Samples::start(lambda, function).await;
    for req in &requests {
        let before = samples.cpu_before();
        let reply = client.send(req).await?;
        samples.settle(lambda).await;
        samples.record(lambda, reply.status, before, reply.diagnostics)?;
    }
    samples.figures(lambda, case)
}

/// Runs a non-HTTP function (schedule, queue) with a fixed event the same way.
pub(crate) async fn measure_event(
    lambda: &LambdaService,
    function: &str,
    case: &str,
    event: &Value,
    runs: usize,
) -> anyhow::Result<Figures> {
    let payload = bytes::Bytes::from(event.to_string());
    let mut samples = Samples::start(lambda, function).await;
    for _ in 0..=runs {
        let before = samples.cpu_before();
        let status = match lambda.invoke(function, payload.clone()).await {
            Ok(_) => 200,
            Err(_) => 500,
        };
        samples.settle(lambda).await;
        samples.record(lambda, status, before, None)?;
    }
    samples.figures(lambda, case)
}
