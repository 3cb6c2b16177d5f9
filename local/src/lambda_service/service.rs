//! [`LambdaService`]: the Lambda service stand-in, one pool of instances per function.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Semaphore;

use super::config::{FunctionConfig, RuntimeOptions};
use super::instance::{KillSignal, LogSink, SHUTDOWN_GRACE};
use super::invocation::{InvocationReport, InvokeError, InvokeOptions, InvokeOutput};
use super::lock::lock;
use super::pool::Pool;

/// The Lambda service stand-in. Cheap to share behind an `Arc`.
pub struct LambdaService {
    pools: HashMap<String, Arc<Pool>>,
    shutting_down: Arc<AtomicBool>,
}

impl LambdaService {
    /// Stops a function's idle instances, as Lambda recycles environments: the next invocation
    /// starts cold. Benchmarks use it to measure cold starts on demand.
    pub async fn recycle(&self, function: &str) {
        let Some(pool) = self.pools.get(function) else {
            return;
        };
        let idle: Vec<_> = lock(&pool.idle).drain(..).collect();
        for i in &idle {
            i.signal(KillSignal::Term);
        }
        for i in &idle {
            if tokio::time::timeout(SHUTDOWN_GRACE, i.wait_dead())
                .await
                .is_err()
            {
                i.signal(KillSignal::Kill);
                i.wait_dead().await;
            }
        }
    }

    /// Waits (up to `limit`) until the instance of `function` with process id `pid` is back in
    /// `GET invocation/next`, where Lambda would freeze it: its work after posting a response
    /// (logs, metrics, dropping the request's state, the next poll) is done. `false` when it
    /// did not get there in time or is not running.
    pub async fn wait_parked(&self, function: &str, pid: u32, limit: std::time::Duration) -> bool {
        let Some(pool) = self.pools.get(function) else {
            return false;
        };
        let instance = lock(&pool.live)
            .values()
            .find(|i| i.pid == Some(pid))
            .cloned();
        let Some(instance) = instance else {
            return false;
        };
        let mut parked = instance.api.parked.subscribe();
        tokio::time::timeout(limit, parked.wait_for(|p| *p))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The report of a function's most recent completed invocation.
    pub fn last_report(&self, function: &str) -> Option<InvocationReport> {
        self.pools.get(function).and_then(|p| *lock(&p.last_report))
    }
}

impl LambdaService {
    /// Prepares the pools (nothing is started until the first invocation). Fails only when the
    /// logs directory or a log file cannot be created.
    pub fn new(functions: Vec<FunctionConfig>, options: RuntimeOptions) -> std::io::Result<Self> {
        std::fs::create_dir_all(&options.logs_dir)?;
        let options = Arc::new(options);
        let shutting_down = Arc::new(AtomicBool::new(false));
        let mut sinks: HashMap<String, Arc<LogSink>> = HashMap::new();
        let mut pools = HashMap::new();
        for f in functions {
            if !f.executable.is_file() {
                tracing::warn!(
                    "{}: {} does not exist yet (build it); requests to it will fail until it does",
                    f.name,
                    f.executable.display()
                );
            }
            let sink = match sinks.get(&f.short_name) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(LogSink::open(
                        &options.logs_dir.join(format!("{}.log", f.short_name)),
                    )?);
                    sinks.insert(f.short_name.clone(), s.clone());
                    s
                }
            };
            let pool = Arc::new(Pool {
                permits: Arc::new(Semaphore::new(options.max_instances.max(1))),
                idle: Mutex::new(Vec::new()),
                live: Mutex::new(HashMap::new()),
                next_instance: AtomicU64::new(1),
                invocations: AtomicU64::new(0),
                log: sink,
                options: options.clone(),
                shutting_down: shutting_down.clone(),
                last_report: Mutex::new(None),
                config: f,
            });
            pools.insert(pool.config.name.clone(), pool);
        }
        Ok(Self {
            pools,
            shutting_down,
        })
    }

    /// Names of the functions this service runs.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }

    /// The configuration of a function.
    pub fn function(&self, name: &str) -> Option<&FunctionConfig> {
        self.pools.get(name).map(|p| &p.config)
    }

    /// Number of running instances of a function.
    pub fn instance_count(&self, name: &str) -> usize {
        self.pools.get(name).map_or(0, |p| lock(&p.live).len())
    }

    /// Invokes a function synchronously (RequestResponse) with a JSON payload. Runs to completion
    /// even if the caller stops waiting, as Lambda does, so instances are never left half-used.
    pub async fn invoke(
        &self,
        function: &str,
        payload: Bytes,
    ) -> Result<InvokeOutput, InvokeError> {
        self.invoke_with(function, payload, InvokeOptions::default())
            .await
    }

    /// [`LambdaService::invoke`] with options.
    pub async fn invoke_with(
        &self,
        function: &str,
        payload: Bytes,
        options: InvokeOptions,
    ) -> Result<InvokeOutput, InvokeError> {
        let pool = self
            .pools
            .get(function)
            .ok_or_else(|| InvokeError::UnknownFunction(function.to_string()))?
            .clone();
        tokio::spawn(async move { pool.invoke(payload, options).await })
            .await
            .unwrap_or_else(|e| {
                Err(InvokeError::Internal(format!(
                    "invocation task failed: {e}"
                )))
            })
    }

    /// Stops every instance: SIGTERM, then SIGKILL after a short grace period. Invocations that
    /// are waiting for a slot fail with [`InvokeError::ShuttingDown`].
    pub async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let mut instances = Vec::new();
        for pool in self.pools.values() {
            pool.permits.close();
            lock(&pool.idle).clear();
            instances.extend(lock(&pool.live).values().cloned());
        }
        for i in &instances {
            i.signal(KillSignal::Term);
        }
        let all_dead = futures_util::future::join_all(instances.iter().map(|i| i.wait_dead()));
        if tokio::time::timeout(SHUTDOWN_GRACE, all_dead)
            .await
            .is_err()
        {
            for i in &instances {
                i.signal(KillSignal::Kill);
            }
            let all_dead = futures_util::future::join_all(instances.iter().map(|i| i.wait_dead()));
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_dead).await;
        }
    }
}
