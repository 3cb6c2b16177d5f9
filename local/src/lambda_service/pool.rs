//! One function's instances: invocations wait for a slot, run on an idle instance or a new
//! one, and meet the fault profile's Lambda faults. Spawning an instance starts its Runtime API
//! listener, then the process, with Lambda's environment.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use super::api::{Invocation, ResponseFault, RuntimeApi, serve_runtime_api, trace_header};
use super::config::{FunctionConfig, RuntimeOptions};
use super::instance::{Instance, KillSignal, LogSink, SHUTDOWN_GRACE, pump_lines};
use super::invocation::{InvocationReport, InvokeError, InvokeOptions, InvokeOutput};
use super::lock::lock;
use crate::faults::LambdaFault;
use crate::process::harden_child;
use crate::template::{LOCAL_ACCOUNT_ID, LOCAL_REGION};

/// The instances of one function.
pub(super) struct Pool {
    pub(super) config: FunctionConfig,
    pub(super) options: Arc<RuntimeOptions>,
    /// One permit per concurrent invocation; its size caps the number of instances.
    pub(super) permits: Arc<Semaphore>,
    /// Instances waiting for work, most recently used last (reused first, like Lambda).
    pub(super) idle: Mutex<Vec<Arc<Instance>>>,
    /// Every running instance, for shutdown and counting.
    pub(super) live: Mutex<HashMap<u64, Arc<Instance>>>,
    pub(super) next_instance: AtomicU64,
    /// Invocations so far: the number fault decisions are drawn for.
    pub(super) invocations: AtomicU64,
    pub(super) log: Arc<LogSink>,
    pub(super) shutting_down: Arc<AtomicBool>,
    pub(super) last_report: Mutex<Option<InvocationReport>>,
}

/// What happened to one attempt to run an invocation on an instance.
enum Attempt {
    /// The outcome and how long the runtime worked on it.
    Done(Result<Bytes, InvokeError>, Duration),
    /// The instance died before taking the event: safe to retry elsewhere.
    NotDelivered,
}

impl Pool {
    pub(super) async fn invoke(
        self: Arc<Self>,
        payload: Bytes,
        options: InvokeOptions,
    ) -> Result<InvokeOutput, InvokeError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(InvokeError::ShuttingDown);
        }
        // Holding a permit is what allows using or starting an instance: with at most
        // `max_instances` permits, there are never more instances than that.
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| InvokeError::ShuttingDown)?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let trace_id = trace_header(options.trace_root.as_deref());
        let n = self.invocations.fetch_add(1, Ordering::SeqCst) + 1;
        let strikes = |kind| {
            self.options
                .faults
                .as_ref()
                .is_some_and(|f| f.strikes(kind, &self.config.name, n))
        };
        let mut crash_idle = strikes(LambdaFault::CrashIdle);
        // An instance that crashes never gets to time out: crash_mid goes first.
        let on_response = if strikes(LambdaFault::CrashMid) {
            Some(ResponseFault::CrashMid)
        } else if strikes(LambdaFault::Timeout) {
            Some(ResponseFault::Timeout)
        } else {
            None
        };
        for _ in 0..3 {
            let (instance, cold_start) = match self.take_idle() {
                // Only an idle instance can crash while idle; a cold start has none to lose.
                Some(i) if crash_idle => {
                    crash_idle = false;
                    self.crash_idle(&i, &request_id).await;
                    (self.clone().spawn().await?, true)
                }
                Some(i) => (i, false),
                None => (self.clone().spawn().await?, true),
            };
            match self
                .run_on(
                    &instance,
                    &request_id,
                    &trace_id,
                    payload.clone(),
                    on_response,
                )
                .await
            {
                Attempt::NotDelivered if !cold_start => continue,
                Attempt::NotDelivered => {
                    instance.signal(KillSignal::Kill);
                    return Err(InvokeError::Init {
                        function: self.config.name.clone(),
                        reason: instance.init_failure(),
                    });
                }
                Attempt::Done(result, duration) => {
                    let report = InvocationReport {
                        duration,
                        init_duration: cold_start.then(|| instance.init_duration()).flatten(),
                        pid: instance.pid,
                    };
                    *lock(&self.last_report) = Some(report);
                    let keep = match &result {
                        Ok(_) | Err(InvokeError::Function { .. }) => true,
                        Err(_) => false,
                    };
                    if keep && !instance.is_dead() {
                        lock(&self.idle).push(instance.clone());
                    } else {
                        // Lambda discards an environment after a timeout or a runtime failure.
                        instance.signal(KillSignal::Kill);
                    }
                    return result.map(|payload| InvokeOutput {
                        request_id,
                        payload,
                        cold_start,
                        instance: instance.number,
                        report,
                    });
                }
            }
        }
        Err(InvokeError::Crashed {
            function: self.config.name.clone(),
            reason: "instances kept exiting before taking the event".into(),
        })
    }

    /// The `crash_idle` fault: kills an idle instance (and waits for it to go, so the
    /// replacement does not exceed the instance cap).
    async fn crash_idle(&self, instance: &Instance, request_id: &str) {
        tracing::warn!(
            "{}: fault crash_idle: killing idle instance {} before invocation {request_id}",
            self.config.name,
            instance.number
        );
        if let Some(f) = &self.options.faults {
            f.record(LambdaFault::CrashIdle, &self.config.name);
        }
        instance.signal(KillSignal::Kill);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, instance.wait_dead()).await;
    }

    fn take_idle(&self) -> Option<Arc<Instance>> {
        let mut idle = lock(&self.idle);
        while let Some(i) = idle.pop() {
            if !i.is_dead() {
                return Some(i);
            }
        }
        None
    }

    async fn run_on(
        &self,
        instance: &Instance,
        request_id: &str,
        trace_id: &str,
        payload: Bytes,
        fault: Option<ResponseFault>,
    ) -> Attempt {
        let function = &self.config.name;
        let (picked_tx, picked_rx) = oneshot::channel();
        let (result_tx, result_rx) = oneshot::channel();
        let invocation = Invocation {
            request_id: request_id.to_string(),
            payload,
            timeout: self.config.timeout,
            trace_id: trace_id.to_string(),
            fault,
            picked: picked_tx,
            result: result_tx,
        };
        if instance.events.try_send(invocation).is_err() {
            return Attempt::NotDelivered;
        }
        let mut dead = instance.dead.clone();
        let deadline = tokio::select! {
            biased;
            picked = picked_rx => match picked {
                Ok(deadline) => deadline,
                Err(_) => return Attempt::NotDelivered,
            },
            _ = dead.wait_for(|d| *d) => return Attempt::NotDelivered,
            _ = tokio::time::sleep(self.options.init_timeout) => {
                return Attempt::Done(Err(InvokeError::Init {
                    function: function.clone(),
                    reason: format!(
                        "did not poll for an event within {:?}",
                        self.options.init_timeout
                    ),
                }), Duration::ZERO);
            }
        };
        let picked_at = Instant::now();
        let outcome = tokio::select! {
            // A response posted just before the process exits must still count.
            biased;
            r = result_rx => r.unwrap_or_else(|_| Err(InvokeError::Crashed {
                function: function.clone(),
                reason: "instance stopped".into(),
            })),
            _ = dead.wait_for(|d| *d) => Err(InvokeError::Crashed {
                function: function.clone(),
                reason: instance.exit_reason(),
            }),
            _ = tokio::time::sleep_until(deadline.into()) => Err(InvokeError::Timeout {
                function: function.clone(),
                secs: self.config.timeout.as_secs_f64(),
            }),
        };
        Attempt::Done(outcome, picked_at.elapsed())
    }

    /// Starts a new instance: its Runtime API listener first, then the process.
    async fn spawn(self: Arc<Self>) -> Result<Arc<Instance>, InvokeError> {
        let cfg = &self.config;
        let spawn_err = |reason: String| InvokeError::Spawn {
            function: cfg.name.clone(),
            executable: cfg.executable.display().to_string(),
            reason,
        };
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| spawn_err(format!("cannot bind the Runtime API: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| spawn_err(e.to_string()))?
            .port();
        let number = self.next_instance.fetch_add(1, Ordering::SeqCst);
        let log_stream = format!(
            "{}/[$LATEST]{}",
            chrono::Utc::now().format("%Y/%m/%d"),
            uuid::Uuid::new_v4().simple()
        );

        let mut cmd = Command::new(&cfg.executable);
        cmd.env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in self.environment(port, &log_stream) {
            cmd.env(k, v);
        }
        harden_child(&mut cmd);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| spawn_err(e.to_string()))?;
        let pid = child.id();

        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump_lines(out, self.log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump_lines(err, self.log.clone()));
        }

        let (events_tx, events_rx) = mpsc::channel(1);
        let (dead_tx, dead_rx) = watch::channel(false);
        let (kill_tx, kill_rx) = mpsc::unbounded_channel();
        let api = Arc::new(RuntimeApi {
            kill: {
                let kill = kill_tx.clone();
                Box::new(move || {
                    let _ = kill.send(KillSignal::Kill);
                })
            },
            faults: self.options.faults.clone(),
            function_arn: format!(
                "arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{}",
                cfg.name
            ),
            function: cfg.name.clone(),
            events: tokio::sync::Mutex::new(events_rx),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
            first_poll: std::sync::OnceLock::new(),
            parked: watch::Sender::new(false),
            dead: dead_rx.clone(),
        });
        let server = tokio::spawn(serve_runtime_api(listener, api.clone()));
        let instance = Arc::new(Instance {
            number,
            events: events_tx,
            dead: dead_rx,
            kill: kill_tx,
            api,
            exit: Mutex::new(None),
            pid,
            started,
        });
        lock(&self.live).insert(number, instance.clone());
        tracing::info!(
            "{}: started instance {number} (pid {}, runtime API 127.0.0.1:{port})",
            cfg.name,
            pid.map_or_else(|| "?".into(), |p| p.to_string())
        );
        tokio::spawn(supervise(
            self.clone(),
            instance.clone(),
            child,
            kill_rx,
            dead_tx,
            server,
        ));
        Ok(instance)
    }

    /// The instance environment: template variables, then Lambda's own, then the overrides.
    fn environment(&self, port: u16, log_stream: &str) -> BTreeMap<String, String> {
        let cfg = &self.config;
        let mut env = cfg.env.clone();
        let lambda = [
            ("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}")),
            ("AWS_LAMBDA_FUNCTION_NAME", cfg.name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", cfg.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", cfg.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_string()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", LOCAL_REGION.into()),
            ("AWS_DEFAULT_REGION", LOCAL_REGION.into()),
            ("AWS_ENDPOINT_URL", self.options.aws_endpoint.clone()),
            ("_HANDLER", cfg.handler.clone()),
            ("LAMBDA_TASK_ROOT", dir_of(&cfg.executable)),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
        ];
        for (k, v) in lambda {
            env.insert(k.to_string(), v);
        }
        match &cfg.credentials {
            Some(role) => env.extend(role.env().map(|(k, v)| (k.to_string(), v))),
            // Without IAM any key is accepted; placeholders keep the SDK from looking further.
            None => {
                env.insert("AWS_ACCESS_KEY_ID".into(), "testing".into());
                env.insert("AWS_SECRET_ACCESS_KEY".into(), "testing".into());
            }
        }
        // Lambda starts from a clean environment; only PATH is kept so binaries behave.
        if let Ok(path) = std::env::var("PATH") {
            env.entry("PATH".into()).or_insert(path);
        }
        // Lets the reminder functions take their clock from the event (`make reminders-now`);
        // the template never sets it (tests/suite/template), so no deployed function can.
        env.insert("ROTA_LOCAL_CLOCK".into(), "1".into());
        for (k, v) in &self.options.overrides {
            env.insert(k.clone(), v.clone());
        }
        env
    }
}

fn dir_of(p: &Path) -> String {
    p.parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

/// Waits for the process to exit (or kills it on request), then marks the instance dead.
async fn supervise(
    pool: Arc<Pool>,
    instance: Arc<Instance>,
    mut child: Child,
    mut kill: mpsc::UnboundedReceiver<KillSignal>,
    dead: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
) {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            Some(sig) = kill.recv() => match sig {
                KillSignal::Kill => { let _ = child.start_kill(); }
                KillSignal::Term => {
                    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                        // SAFETY: plain kill(2) on our own child's pid.
                        unsafe { libc::kill(pid, libc::SIGTERM) };
                    }
                }
            },
        }
    };
    let reason = match &status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    };
    *lock(&instance.exit) = Some(reason.clone());
    lock(&pool.live).remove(&instance.number);
    server.abort();
    let _ = dead.send(true);
    tracing::info!(
        "{}: instance {} exited ({reason})",
        pool.config.name,
        instance.number
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn lambda_runtime_accepts_bare_authority() {
        // What lambda_runtime does with AWS_LAMBDA_RUNTIME_API: `host:port` parses, and a path
        // without a scheme would not (hence a port per instance, not a path per instance).
        let ok: Result<http::Uri, _> = "127.0.0.1:9001".try_into();
        assert!(ok.is_ok());
        let bad: Result<http::Uri, _> = "127.0.0.1:9001/fn/a".try_into();
        assert!(bad.is_err());
    }
}
