//! The Lambda service stand-in: runs function binaries unmodified behind the real Lambda Runtime
//! API protocol.
//!
//! Each function has a pool of instances (execution environments), spawned lazily like Lambda:
//! an invocation that finds no idle instance starts a new process, up to `max_instances` per
//! function; beyond that invocations wait for a free slot (FIFO). An instance handles one
//! invocation at a time and is reused afterwards.
//!
//! **One Runtime API listener per instance.** Every instance gets its own `127.0.0.1:<port>`
//! listener and `AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>`. `lambda_runtime` turns that variable
//! into an `http::Uri`; a bare `host:port` (what Lambda itself sets) parses as an authority, while
//! `host:port/prefix` does not parse at all without a scheme, so per-instance *paths* would need
//! a non-Lambda-like `http://` value. A port per instance also tells the server which instance is
//! polling without trusting anything the client sends.
//!
//! **Faults.** With a fault profile's `lambda` section ([`RuntimeOptions::faults`]) each
//! invocation may meet a fault, drawn from the profile's seed and the function's invocation
//! number: `crash_idle` kills the idle instance it would have run on (it runs on a new one),
//! `crash_mid` kills the instance when it posts the outcome ([`InvokeError::Crashed`]), and
//! `timeout` discards the outcome ([`InvokeError::Timeout`], and the instance is recycled).
//!
//! Instance output (stdout and stderr) is appended line by line, unchanged, to
//! `<logs>/<binary>.log`: those lines are the functions' JSON logs and CloudWatch EMF metrics.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::faults::{LambdaFault, LambdaFaultPlan};
use crate::template::{LOCAL_ACCOUNT_ID, LOCAL_REGION, LocalContext, Template};

/// Lambda's limit on a synchronous invocation's request and response payloads.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// How long a new instance may take to start and poll for its first event (Lambda's init phase
/// limit).
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long instances get to exit after SIGTERM at shutdown before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Variables of rota-local's own environment named `ROTA_FN_<NAME>` reach functions as `<NAME>`.
pub const OVERRIDE_PREFIX: &str = "ROTA_FN_";

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime/";

/// One function as the Lambda stand-in runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    /// Function name (the template's logical id).
    pub name: String,
    /// Binary name; also names the log file.
    pub binary: String,
    /// Path of the executable.
    pub executable: PathBuf,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Resolved template environment.
    pub env: BTreeMap<String, String>,
}

/// Builds the function configurations from a template.
pub fn functions_from_template(
    template: &Template,
    ctx: &LocalContext,
    bin_dir: &Path,
) -> Vec<FunctionConfig> {
    template
        .functions
        .iter()
        .map(|f| FunctionConfig {
            name: f.logical_id.clone(),
            binary: f.binary.clone(),
            executable: bin_dir.join(&f.binary),
            memory_mb: f.memory_size,
            timeout: Duration::from_secs(u64::from(f.timeout_secs)),
            env: {
                let mut env = template.function_env(f, ctx);
                env.extend(f.logging.lambda_env());
                env
            },
        })
        .collect()
}

/// Settings shared by all functions.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Most instances per function.
    pub max_instances: usize,
    /// Where `<binary>.log` files go.
    pub logs_dir: PathBuf,
    /// `AWS_ENDPOINT_URL` of the instances.
    pub aws_endpoint: String,
    /// Applied last to every instance's environment (see [`overrides_from_env`]).
    pub overrides: BTreeMap<String, String>,
    /// See [`DEFAULT_INIT_TIMEOUT`].
    pub init_timeout: Duration,
    /// Faults to inject into invocations (a fault profile's `lambda` section).
    pub faults: Option<Arc<LambdaFaultPlan>>,
}

/// `ROTA_FN_<NAME>=value` variables of this process, as `<NAME> → value`.
pub fn overrides_from_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            let name = k.strip_prefix(OVERRIDE_PREFIX)?.to_string();
            let v = v.into_string().ok()?;
            (!name.is_empty()).then_some((name, v))
        })
        .collect()
}

/// Why an invocation produced no response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    #[error("no function named {0}")]
    UnknownFunction(String),
    #[error("{function}: cannot start {executable}: {reason}")]
    Spawn {
        function: String,
        executable: String,
        reason: String,
    },
    #[error("{function}: initialisation failed: {reason}")]
    Init { function: String, reason: String },
    /// The handler reported an error through `/invocation/{id}/error`.
    #[error("{function}: {error_type}: {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
    #[error("{function}: task timed out after {secs:.2} seconds")]
    Timeout { function: String, secs: f64 },
    #[error("{function}: instance exited during the invocation ({reason})")]
    Crashed { function: String, reason: String },
    #[error("{function}: response payload exceeds {MAX_PAYLOAD_BYTES} bytes")]
    ResponseTooLarge { function: String },
    #[error("the local Lambda service is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl InvokeError {
    /// Whether this is a timeout (API Gateway answers 503 for those, 500 for the rest).
    pub fn is_timeout(&self) -> bool {
        matches!(self, InvokeError::Timeout { .. })
    }
}

/// Per-invocation options.
#[derive(Debug, Clone, Default)]
pub struct InvokeOptions {
    /// X-Ray trace root (`1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`) to continue; a new one if `None`.
    pub trace_root: Option<String>,
}

/// A successful invocation.
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    pub request_id: String,
    /// The response payload exactly as the function posted it.
    pub payload: Bytes,
    /// Whether a new instance was started for this invocation.
    pub cold_start: bool,
    /// Instance number (per function, from 1).
    pub instance: u64,
    /// What Lambda's REPORT line would say about this invocation.
    pub report: InvocationReport,
}

/// The figures of Lambda's `REPORT` log line for one invocation, plus the instance's process id
/// (benchmarks read its CPU time and peak memory from `/proc`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvocationReport {
    /// From the runtime taking the event to its response (Lambda's `Duration`).
    pub duration: Duration,
    /// On a cold start, from starting the process to its first poll for an event (Lambda's
    /// `Init Duration`).
    pub init_duration: Option<Duration>,
    pub pid: Option<u32>,
}

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
            let sink = match sinks.get(&f.binary) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(LogSink::open(
                        &options.logs_dir.join(format!("{}.log", f.binary)),
                    )?);
                    sinks.insert(f.binary.clone(), s.clone());
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves consistent data; keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Pool {
    config: FunctionConfig,
    options: Arc<RuntimeOptions>,
    /// One permit per concurrent invocation; its size caps the number of instances.
    permits: Arc<Semaphore>,
    /// Instances waiting for work, most recently used last (reused first, like Lambda).
    idle: Mutex<Vec<Arc<Instance>>>,
    /// Every running instance, for shutdown and counting.
    live: Mutex<HashMap<u64, Arc<Instance>>>,
    next_instance: AtomicU64,
    /// Invocations so far: the number fault decisions are drawn for.
    invocations: AtomicU64,
    log: Arc<LogSink>,
    shutting_down: Arc<AtomicBool>,
    last_report: Mutex<Option<InvocationReport>>,
}

/// What happened to one attempt to run an invocation on an instance.
enum Attempt {
    /// The outcome and how long the runtime worked on it.
    Done(Result<Bytes, InvokeError>, Duration),
    /// The instance died before taking the event: safe to retry elsewhere.
    NotDelivered,
}

impl Pool {
    async fn invoke(
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
            kill: kill_tx.clone(),
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
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("_HANDLER", "bootstrap".into()),
            ("LAMBDA_TASK_ROOT", dir_of(&cfg.executable)),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
        ];
        for (k, v) in lambda {
            env.insert(k.to_string(), v);
        }
        // Lambda starts from a clean environment; only PATH is kept so binaries behave.
        if let Ok(path) = std::env::var("PATH") {
            env.entry("PATH".into()).or_insert(path);
        }
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

/// Children get their own process group (a Ctrl-C in the terminal reaches only rota-local, which
/// then stops them in order) and die with rota-local even if it is killed outright.
pub(crate) fn harden_child(cmd: &mut Command) {
    cmd.process_group(0);
    die_with_parent(cmd);
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

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

#[derive(Debug, Clone, Copy)]
enum KillSignal {
    Term,
    Kill,
}

/// A running execution environment.
struct Instance {
    number: u64,
    /// Hands the next invocation to the Runtime API (capacity 1: one invocation at a time).
    events: mpsc::Sender<Invocation>,
    dead: watch::Receiver<bool>,
    kill: mpsc::UnboundedSender<KillSignal>,
    api: Arc<RuntimeApi>,
    exit: Mutex<Option<String>>,
    pid: Option<u32>,
    /// When the process was started (for the init duration).
    started: Instant,
}

impl Instance {
    fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    fn signal(&self, sig: KillSignal) {
        let _ = self.kill.send(sig);
    }

    async fn wait_dead(&self) {
        let mut dead = self.dead.clone();
        let _ = dead.wait_for(|d| *d).await;
    }

    /// From process start to the first poll for an event.
    fn init_duration(&self) -> Option<Duration> {
        self.api
            .first_poll
            .get()
            .map(|t| t.saturating_duration_since(self.started))
    }

    fn exit_reason(&self) -> String {
        lock(&self.exit)
            .clone()
            .unwrap_or_else(|| "exited".to_string())
    }

    fn init_failure(&self) -> String {
        match lock(&self.api.init_error).clone() {
            Some(e) => e,
            None => format!(
                "exited before polling for an event ({})",
                self.exit_reason()
            ),
        }
    }
}

struct Invocation {
    request_id: String,
    payload: Bytes,
    timeout: Duration,
    trace_id: String,
    /// Injected when the runtime posts the outcome.
    fault: Option<ResponseFault>,
    /// Told the deadline once the runtime has taken the event.
    picked: oneshot::Sender<Instant>,
    result: oneshot::Sender<Result<Bytes, InvokeError>>,
}

struct InFlight {
    request_id: String,
    timeout: Duration,
    fault: Option<ResponseFault>,
    result: oneshot::Sender<Result<Bytes, InvokeError>>,
}

/// A fault injected when the runtime posts an invocation's outcome (response or error): the
/// handler has done its work, the caller does not get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseFault {
    CrashMid,
    Timeout,
}

/// The Runtime API of one instance.
struct RuntimeApi {
    function: String,
    /// Kills this instance's process (the `crash_mid` fault).
    kill: mpsc::UnboundedSender<KillSignal>,
    faults: Option<Arc<LambdaFaultPlan>>,
    function_arn: String,
    events: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    current: Mutex<Option<InFlight>>,
    init_error: Mutex<Option<String>>,
    /// When the runtime first asked for an event: the end of its init phase.
    first_poll: std::sync::OnceLock<Instant>,
    dead: watch::Receiver<bool>,
}

async fn serve_runtime_api(listener: TcpListener, api: Arc<RuntimeApi>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Usually EMFILE; back off instead of spinning.
                tracing::warn!("runtime API accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let api = api.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(api.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

type ApiResponse = Response<Full<Bytes>>;

fn api_response(status: StatusCode, body: serde_json::Value) -> ApiResponse {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> ApiResponse {
    api_response(
        status,
        serde_json::json!({"errorType": error_type, "errorMessage": message}),
    )
}

impl RuntimeApi {
    async fn handle(&self, req: Request<Incoming>) -> ApiResponse {
        let path = req.uri().path().to_string();
        let Some(rest) = path.strip_prefix(RUNTIME_PREFIX) else {
            return api_error(StatusCode::NOT_FOUND, "NotFound", "unknown path");
        };
        let method = req.method().clone();
        match (method, rest) {
            (Method::GET, "invocation/next") => {
                let _ = self.first_poll.set(Instant::now());
                self.next().await
            }
            (Method::POST, "init/error") => {
                let body = read_body(req.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                let reason = describe_error(&body);
                tracing::warn!("{}: init error: {reason}", self.function);
                *lock(&self.init_error) = Some(reason);
                api_response(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
            }
            (Method::POST, r) if r.starts_with("invocation/") => {
                let r = &r["invocation/".len()..];
                if let Some(id) = r.strip_suffix("/response") {
                    let id = id.to_string();
                    match read_body(req.into_body(), MAX_PAYLOAD_BYTES).await {
                        Some(body) => self.complete(&id, Ok(body)),
                        None => {
                            self.complete(
                                &id,
                                Err(InvokeError::ResponseTooLarge {
                                    function: self.function.clone(),
                                }),
                            );
                            api_error(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "RequestEntityTooLarge",
                                "response payload too large",
                            )
                        }
                    }
                } else if let Some(id) = r.strip_suffix("/error") {
                    let id = id.to_string();
                    let header_type = req
                        .headers()
                        .get("lambda-runtime-function-error-type")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = read_body(req.into_body(), MAX_PAYLOAD_BYTES)
                        .await
                        .unwrap_or_default();
                    let (error_type, message) = parse_error(&body, header_type);
                    tracing::warn!(
                        "{}: invocation {id} failed: {error_type}: {message}",
                        self.function
                    );
                    self.complete(
                        &id,
                        Err(InvokeError::Function {
                            function: self.function.clone(),
                            error_type,
                            message,
                        }),
                    )
                } else {
                    api_error(StatusCode::NOT_FOUND, "NotFound", "unknown path")
                }
            }
            _ => api_error(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
        }
    }

    /// Long-polls for the next event.
    async fn next(&self) -> ApiResponse {
        let mut events = self.events.lock().await;
        let mut dead = self.dead.clone();
        loop {
            let invocation = tokio::select! {
                inv = events.recv() => inv,
                _ = dead.wait_for(|d| *d) => None,
            };
            let Some(inv) = invocation else {
                return api_error(
                    StatusCode::GONE,
                    "ShuttingDown",
                    "execution environment is stopping",
                );
            };
            let deadline = Instant::now() + inv.timeout;
            let deadline_ms = (SystemTime::now() + inv.timeout)
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            // The invoker may have given up meanwhile; then this event is not delivered.
            if inv.picked.send(deadline).is_err() {
                continue;
            }
            *lock(&self.current) = Some(InFlight {
                request_id: inv.request_id.clone(),
                timeout: inv.timeout,
                fault: inv.fault,
                result: inv.result,
            });
            let mut res = Response::new(Full::new(inv.payload));
            let h = res.headers_mut();
            let mut set = |name: &'static str, value: &str| {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    h.insert(name, v);
                }
            };
            set("content-type", "application/json");
            set("lambda-runtime-aws-request-id", &inv.request_id);
            set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
            set("lambda-runtime-invoked-function-arn", &self.function_arn);
            set("lambda-runtime-trace-id", &inv.trace_id);
            return res;
        }
    }

    fn complete(&self, request_id: &str, result: Result<Bytes, InvokeError>) -> ApiResponse {
        let inflight = lock(&self.current).take_if(|c| c.request_id == request_id);
        match inflight {
            Some(c) => {
                let result = match c.fault {
                    Some(fault) => self.inject(fault, request_id, c.timeout),
                    None => result,
                };
                let _ = c.result.send(result);
                api_response(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
            }
            None => api_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "unknown or already completed request id",
            ),
        }
    }
}

impl RuntimeApi {
    /// What the invoker gets instead of the outcome the runtime posted.
    fn inject(
        &self,
        fault: ResponseFault,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        let function = self.function.clone();
        match fault {
            ResponseFault::CrashMid => {
                tracing::warn!(
                    "{function}: fault crash_mid: killing the instance before delivering the \
                     outcome of {request_id}"
                );
                if let Some(f) = &self.faults {
                    f.record(LambdaFault::CrashMid, &function);
                }
                // SIGKILL, as a crash: no chance to flush or clean up.
                let _ = self.kill.send(KillSignal::Kill);
                Err(InvokeError::Crashed {
                    function,
                    reason: "killed by rota-local's crash_mid fault".into(),
                })
            }
            ResponseFault::Timeout => {
                tracing::warn!(
                    "{function}: fault timeout: discarding the outcome of {request_id}; the \
                     instance will be recycled"
                );
                if let Some(f) = &self.faults {
                    f.record(LambdaFault::Timeout, &function);
                }
                // Reported at once rather than after the full timeout (see faults.yaml); the
                // invoker recycles the instance as after any timeout.
                Err(InvokeError::Timeout {
                    function,
                    secs: timeout.as_secs_f64(),
                })
            }
        }
    }
}

/// Reads a body of at most `limit` bytes; `None` if larger or unreadable.
async fn read_body(body: Incoming, limit: usize) -> Option<Bytes> {
    Limited::new(body, limit)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

fn parse_error(body: &[u8], header_type: Option<String>) -> (String, String) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error_type = json
        .get("errorType")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or(header_type)
        .unwrap_or_else(|| "Unhandled".to_string());
    let message = json
        .get("errorMessage")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, message)
}

fn describe_error(body: &[u8]) -> String {
    let (t, m) = parse_error(body, None);
    format!("{t}: {m}")
}

/// The `Lambda-Runtime-Trace-Id` of an invocation: the caller's trace root (API Gateway's
/// `x-amzn-trace-id`, so both tell the same trace) or a new one, and a new parent segment.
fn trace_header(root: Option<&str>) -> String {
    let r: [u8; 20] = rand::random();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let root = match root {
        Some(root) => root.to_string(),
        None => {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("1-{secs:08x}-{}", hex(&r[..12]))
        }
    };
    format!("Root={root};Parent={};Sampled=0", hex(&r[12..]))
}

/// Appends whole lines to a log file shared by all instances of a binary.
pub struct LogSink {
    file: Mutex<std::fs::File>,
}

impl LogSink {
    /// Opens (creating or appending) a log file.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Writes one line (a newline is added) in a single write, so lines of concurrent
    /// instances never interleave; unbuffered, so readers see it at once.
    pub fn write_line(&self, line: &[u8]) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if let Err(e) = lock(&self.file).write_all(&buf) {
            tracing::warn!("cannot write function log: {e}");
        }
    }
}

async fn pump_lines(stream: impl AsyncRead + Unpin, sink: Arc<LogSink>) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                sink.write_line(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runtime_errors() {
        let (t, m) = parse_error(br#"{"errorType":"Boom","errorMessage":"bad"}"#, None);
        assert_eq!((t.as_str(), m.as_str()), ("Boom", "bad"));
        let (t, m) = parse_error(b"plain", Some("Hdr".into()));
        assert_eq!((t.as_str(), m.as_str()), ("Hdr", "plain"));
    }

    #[test]
    fn trace_header_shape() {
        let h = trace_header(None);
        assert!(h.starts_with("Root=1-"));
        assert!(h.contains(";Parent=") && h.ends_with(";Sampled=0"));
        let h = trace_header(Some("1-5e9f0c65-1de4d666d4dd26aced652b6c"));
        assert!(h.starts_with("Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Parent="));
    }

    #[test]
    fn lambda_runtime_accepts_bare_authority() {
        // What lambda_runtime does with AWS_LAMBDA_RUNTIME_API: `host:port` parses, and a path
        // without a scheme would not (hence a port per instance, not a path per instance).
        let ok: Result<http::Uri, _> = "127.0.0.1:9001".try_into();
        assert!(ok.is_ok());
        let bad: Result<http::Uri, _> = "127.0.0.1:9001/fn/a".try_into();
        assert!(bad.is_err());
    }

    #[test]
    fn log_sink_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        {
            let s = LogSink::open(&path).unwrap();
            s.write_line(br#"{"a":1}"#);
        }
        let s = LogSink::open(&path).unwrap();
        s.write_line(b"second");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\nsecond\n"
        );
    }
}
