//! The whole local stack, as `rota-local serve` runs it: AWS stand-ins, resources, Lambda
//! service, gateway, schedule runner and SQS event-source mappings, under a fault profile.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cache_cluster::{self, CacheConfig, StackCache};
use crate::events::schedule::{self, ScheduleRunner};
use crate::events::sqs::{self, SqsPollers};
use crate::faults::{self, FaultCounts, FaultProfile, FaultReporter, LambdaFaultPlan};
use crate::gateway::{self, Gateway};
use crate::iam::{self, RoleCredentials};
use crate::lambda_service::{self, LambdaService, RuntimeOptions};
use crate::stack::{self, EmulatorFaults, MotoServer};
use crate::template::{LocalContext, Template};

/// Where the AWS stand-ins come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsSource {
    /// Use what answers at this URL.
    Endpoint(String),
    /// Start moto on this port (0: any free port).
    Moto { port: u16 },
}

/// Settings of `rota-local serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub host: String,
    /// 0: any free port.
    pub port: u16,
    pub template: PathBuf,
    /// Directory of the function binaries.
    pub bin_dir: PathBuf,
    pub aws: AwsSource,
    /// An existing Redis for the functions (`--redis-url`); `None`: a cluster of the stack's own
    /// (`cache_cluster`).
    pub redis_url: Option<String>,
    /// The CA the functions trust for `redis_url` (`--cache-ca`; their `SSL_CERT_FILE`).
    pub cache_ca: Option<PathBuf>,
    pub logs_dir: PathBuf,
    pub max_instances: usize,
    /// Fire the template's schedules at their times (`--no-schedules` turns this off; `fire`
    /// still fires them on demand).
    pub schedules: bool,
    /// Fault profile (`--faults`; [`faults::NO_FAULTS`] for none).
    pub faults: String,
    /// The fault profiles (`--faults-file`; default `local/faults.yaml` in the template's
    /// directory).
    pub faults_file: Option<PathBuf>,
    /// Every function runs with its own execution role's credentials and the emulator checks
    /// each call against the role, as AWS does (`--no-iam` turns it off). Needs the emulator
    /// wrapper (started here, or at `AwsSource::Endpoint` started with `--iam`).
    pub iam: bool,
    /// Functions (logical ids) whose roles are created without any policy (tests).
    pub strip_roles_of: Vec<String>,
    /// Variables every function gets last, after `ROTA_FN_*` (a test's stack of its own sets
    /// its limits here rather than in its process's environment, which every stack it starts
    /// would inherit).
    pub function_env: BTreeMap<String, String>,
    /// `AWS::StackName` (`--stack-name`): names the stack's JWT secret and its tokens' issuer
    /// and audience, so two local stacks refuse each other's tokens as two stacks in AWS do.
    pub stack_name: String,
    /// Poll the template's SQS event sources (`--no-queue-pollers` turns this off: a stack
    /// sharing another's emulator must not take that stack's messages).
    pub queue_pollers: bool,
    /// Template parameters given values (`--parameter-overrides Name=Value ...`, as `sam
    /// deploy` takes them); the rest keep their defaults.
    pub parameter_overrides: BTreeMap<String, String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            template: "template.yaml".into(),
            bin_dir: "target/debug".into(),
            aws: AwsSource::Moto { port: 5005 },
            redis_url: None,
            cache_ca: None,
            logs_dir: ".local/logs".into(),
            max_instances: 8,
            schedules: true,
            faults: faults::NO_FAULTS.into(),
            faults_file: None,
            iam: true,
            strip_roles_of: Vec::new(),
            function_env: BTreeMap::new(),
            stack_name: crate::template::LOCAL_STACK_NAME.into(),
            queue_pollers: true,
            parameter_overrides: BTreeMap::new(),
        }
    }
}

/// A running local stack. Stop it with [`Running::shutdown`].
pub struct Running {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// The AWS endpoint the functions use.
    pub aws_endpoint: String,
    /// The Redis URL the functions get (the outage proxy's, under a profile with outages).
    pub redis_url: String,
    /// The CA the functions trust for it (`SSL_CERT_FILE`), if any.
    pub cache_ca: Option<PathBuf>,
    pub lambda: Arc<LambdaService>,
    /// The fault profile the stack runs under.
    pub faults: FaultProfile,
    /// Whether the functions run with their roles' credentials, checked by the emulator.
    pub iam: bool,
    /// `AWS::StackName`.
    pub stack_name: String,
    /// The template parameters given values (the rest at their defaults).
    pub parameter_overrides: BTreeMap<String, String>,
    /// What rota-local injected so far (also in `<logs>/faults.json`).
    pub fault_counts: Arc<FaultCounts>,
    cache: Option<StackCache>,
    reporter: Option<FaultReporter>,
    stop: Option<oneshot::Sender<()>>,
    gateway_task: tokio::task::JoinHandle<std::io::Result<()>>,
    schedules: Option<ScheduleRunner>,
    pollers: Option<SqsPollers>,
    moto: Option<MotoServer>,
}

impl Running {
    /// `http://HOST:PORT` of the gateway.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What `stack.json` records about this stack.
    pub fn info(&self) -> StackInfo {
        StackInfo {
            aws_endpoint: self.aws_endpoint.clone(),
            gateway: self.url(),
            faults: self.faults.name.clone(),
            iam: self.iam,
            stack_name: self.stack_name.clone(),
            parameter_overrides: self.parameter_overrides.clone(),
            cache: self.redis_url.clone(),
            cache_ca: self.cache_ca.as_ref().map(|p| p.display().to_string()),
            cache_nodes: self.cache_nodes(),
        }
    }

    /// The nodes of the stack's own cache cluster, direct (`rediss://127.0.0.1:<port>`); empty
    /// with `--redis-url`.
    pub fn cache_nodes(&self) -> Vec<String> {
        self.cache
            .as_ref()
            .map_or_else(Vec::new, StackCache::node_urls)
    }

    /// Number of schedules with a timer (0 with schedules off).
    pub fn schedule_count(&self) -> usize {
        self.schedules.as_ref().map_or(0, ScheduleRunner::len)
    }

    /// Number of SQS pollers.
    pub fn poller_count(&self) -> usize {
        self.pollers.as_ref().map_or(0, SqsPollers::len)
    }

    /// Stops the schedules and SQS pollers and the gateway (batches and requests in flight
    /// finish briefly), then every function instance, then the cache (and its proxy) and moto; writes
    /// the final fault counts.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let (schedules, pollers) = (self.schedules.take(), self.pollers.take());
        let schedules = async move {
            if let Some(s) = schedules {
                s.stop().await;
            }
        };
        let pollers = async move {
            if let Some(p) = pollers {
                p.stop().await;
            }
        };
        let gateway_task = &mut self.gateway_task;
        let gateway = async {
            match tokio::time::timeout(Duration::from_secs(10), &mut *gateway_task).await {
                Ok(Ok(Err(e))) => tracing::warn!("gateway stopped with an error: {e}"),
                Ok(_) => {}
                Err(_) => gateway_task.abort(),
            }
        };
        tokio::join!(schedules, pollers, gateway);
        self.lambda.shutdown().await;
        if let Some(cache) = self.cache.as_mut() {
            cache.stop().await;
        }
        if let Some(reporter) = self.reporter.take() {
            reporter.stop().await;
        }
        if let Some(moto) = self.moto.as_mut() {
            moto.stop().await;
        }
    }
}

/// Starts everything and returns once the gateway listens.
pub async fn start(config: ServeConfig) -> anyhow::Result<Running> {
    let template = Template::load_with(&config.template, &config.parameter_overrides)?
        .with_stack_name(&config.stack_name);
    if !config.parameter_overrides.is_empty() {
        tracing::info!("parameters given: {:?}", config.parameter_overrides);
    }
    // The repository root is where template.yaml lives; the moto venv is there.
    let repo_root = repo_root(&config);
    let faults_file = config
        .faults_file
        .clone()
        .unwrap_or_else(|| repo_root.join(faults::DEFAULT_FAULTS_FILE));
    let profile = FaultProfile::load(&faults_file, &config.faults)?;
    tracing::info!("{}", profile.describe());

    let (moto, aws_endpoint) = match &config.aws {
        AwsSource::Endpoint(url) => {
            if profile.has_emulator_faults() {
                tracing::warn!(
                    "the emulator at {url} was not started here: its DynamoDB and SQS faults \
                     are whatever it was started with (local/moto-server --faults-file {} \
                     --faults {})",
                    faults_file.display(),
                    profile.name
                );
            }
            stack::wait_until_ready(url, Duration::from_secs(30)).await?;
            (None, url.trim_end_matches('/').to_string())
        }
        AwsSource::Moto { port } => {
            let exe = stack::find_moto_server(&repo_root);
            let emulator_faults = emulator_faults(&exe, &faults_file, &profile)?;
            let moto = MotoServer::start_with(
                &exe,
                *port,
                &config.logs_dir,
                emulator_faults.as_ref(),
                config.iam,
            )
            .await?;
            let endpoint = moto.endpoint.clone();
            if stack::is_moto_wrapper(&exe) {
                tracing::info!(
                    "emails sent land in {}/ (one .eml file each)",
                    stack::mail_dir(&config.logs_dir).display()
                );
            }
            (Some(moto), endpoint)
        }
    };
    // From here on, a failure must not leave moto running.
    let mut moto = moto;
    let counts = Arc::new(FaultCounts::new());
    let result = start_rest(
        &config,
        &repo_root,
        &template,
        &aws_endpoint,
        &profile,
        &counts,
    )
    .await;
    let (lambda, listener, cache) = match result {
        Ok(v) => v,
        Err(e) => {
            if let Some(m) = moto.as_mut() {
                m.stop().await;
            }
            return Err(e);
        }
    };
    let addr = listener.local_addr()?;
    let reporter = FaultReporter::start(
        faults::report_file(&config.logs_dir),
        &profile,
        format!("{aws_endpoint}{}", faults::EMULATOR_COUNTS_PATH),
        counts.clone(),
    );
    let gateway = Arc::new(Gateway::new(&template, lambda.clone()));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let gateway_task = tokio::spawn(gateway::serve(listener, gateway, async move {
        let _ = stop_rx.await;
    }));

    let schedules = if config.schedules {
        let runner = ScheduleRunner::start(
            lambda.clone(),
            schedule::scheduled_functions(&template),
            chrono::Utc::now(),
        );
        tracing::info!("{} schedule(s) running", runner.len());
        Some(runner)
    } else {
        tracing::info!("schedules are off (--no-schedules); fire them with `rota-local fire`");
        None
    };
    let mappings = if config.queue_pollers {
        sqs::mappings_from_template(&template, &aws_endpoint)
    } else {
        tracing::info!("queue pollers are off (--no-queue-pollers)");
        Vec::new()
    };
    let pollers = if mappings.is_empty() {
        None
    } else {
        let sdk = stack::sdk_config(&aws_endpoint).await;
        Some(SqsPollers::start(lambda.clone(), mappings, &sdk, config.max_instances.max(1)).await)
    };
    Ok(Running {
        addr,
        aws_endpoint,
        redis_url: cache.url.clone(),
        cache_ca: cache.ca_file.clone(),
        lambda,
        faults: profile,
        iam: config.iam,
        stack_name: config.stack_name.clone(),
        parameter_overrides: config.parameter_overrides.clone(),
        fault_counts: counts,
        cache: Some(cache),
        reporter: Some(reporter),
        stop: Some(stop_tx),
        gateway_task,
        schedules,
        pollers,
        moto,
    })
}

/// What the emulator wrapper is started with: the profile, unless it is `none` (so a stack
/// without faults runs with any moto). A profile with DynamoDB or SQS faults needs the wrapper.
fn emulator_faults(
    exe: &Path,
    faults_file: &Path,
    profile: &FaultProfile,
) -> anyhow::Result<Option<EmulatorFaults>> {
    if profile.name == faults::NO_FAULTS {
        return Ok(None);
    }
    if !stack::is_moto_wrapper(exe) {
        if profile.has_emulator_faults() {
            anyhow::bail!(
                "fault profile {} has DynamoDB/SQS faults, which need the emulator wrapper \
                 local/moto-server and the repo's .venv (found only {})",
                profile.name,
                exe.display()
            );
        }
        return Ok(None);
    }
    Ok(Some(EmulatorFaults {
        file: std::path::absolute(faults_file).unwrap_or_else(|_| faults_file.to_path_buf()),
        profile: profile.name.clone(),
    }))
}

/// The Lambda service for the template's functions (or only the one named `only`), with the
/// environment `serve` gives them: the template's variables resolved against `ctx`, the logging
/// configuration, Lambda's own variables, then the `ROTA_FN_*` overrides. `bin_dir` is made
/// absolute so instances do not depend on the working directory. `faults`: the Lambda faults
/// to inject, if any.
/// Each function gets its role's `credentials` (by logical id; one without gets placeholder
/// keys, for an emulator without IAM) and `function_env` last of all.
#[allow(clippy::too_many_arguments)]
pub fn lambda_service(
    template: &Template,
    ctx: &LocalContext,
    bin_dir: &Path,
    logs_dir: &Path,
    max_instances: usize,
    only: Option<&str>,
    faults: Option<Arc<LambdaFaultPlan>>,
    credentials: &BTreeMap<String, RoleCredentials>,
    function_env: &BTreeMap<String, String>,
) -> anyhow::Result<LambdaService> {
    let bin_dir = std::path::absolute(bin_dir).unwrap_or_else(|_| bin_dir.to_path_buf());
    let functions = lambda_service::functions_from_template(template, ctx, &bin_dir)
        .into_iter()
        .filter(|f| only.is_none_or(|name| f.name == name))
        .map(|mut f| {
            f.credentials = credentials.get(&f.name).cloned();
            f
        })
        .collect();
    LambdaService::new(
        functions,
        RuntimeOptions {
            max_instances: max_instances.max(1),
            logs_dir: logs_dir.to_path_buf(),
            aws_endpoint: ctx.aws_endpoint.clone(),
            overrides: {
                let mut overrides = lambda_service::overrides_from_env();
                overrides.extend(function_env.clone());
                overrides
            },
            init_timeout: lambda_service::DEFAULT_INIT_TIMEOUT,
            faults,
        },
    )
    .with_context(|| format!("cannot prepare logs in {}", logs_dir.display()))
}

/// Where a running stack is, as `serve` records it in `stack.json` for other tools
/// (`rota-local fire`, `make reminders-now`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackInfo {
    /// The AWS endpoint (moto) the functions use.
    pub aws_endpoint: String,
    /// `http://HOST:PORT` of the gateway.
    pub gateway: String,
    /// The fault profile (`none` in files written before profiles existed).
    #[serde(default = "no_faults")]
    pub faults: String,
    /// Whether the emulator checks the functions' calls against their roles.
    #[serde(default)]
    pub iam: bool,
    /// `AWS::StackName` (`rota-local` in files written before stacks had names of their own).
    #[serde(default = "default_stack_name")]
    pub stack_name: String,
    /// The template parameters the stack was given (`--parameter-overrides`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameter_overrides: BTreeMap<String, String>,
    /// The cache URL the functions get (`REDIS_URL`): `rediss://127.0.0.1:<port>` of the
    /// stack's own cluster, or of its outage proxy.
    #[serde(default)]
    pub cache: String,
    /// The CA that signed the cache's certificate (the functions' `SSL_CERT_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ca: Option<String>,
    /// The nodes of the stack's own cluster, direct (`rediss://127.0.0.1:<port>`; not through
    /// the outage proxy); empty with `--redis-url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_nodes: Vec<String>,
}

fn default_stack_name() -> String {
    crate::template::LOCAL_STACK_NAME.into()
}

fn no_faults() -> String {
    faults::NO_FAULTS.into()
}

/// `stack.json` next to the logs directory: `<logs>/../stack.json`.
pub fn stack_file(logs_dir: &Path) -> PathBuf {
    let logs = std::path::absolute(logs_dir).unwrap_or_else(|_| logs_dir.to_path_buf());
    match logs.parent() {
        Some(parent) if logs.file_name().is_some() => parent.join("stack.json"),
        _ => logs.join("..").join("stack.json"),
    }
}

/// Writes `stack.json` (atomically: readers never see half a file).
pub fn write_stack_file(path: &Path, info: &StackInfo) -> std::io::Result<()> {
    crate::json_file::write_atomically(path, info)
}

/// Reads `stack.json`.
pub fn read_stack_file(path: &Path) -> anyhow::Result<StackInfo> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a stack file", path.display()))
}

/// Removes `stack.json` if it still describes `info` (another stack may have replaced it).
pub fn remove_stack_file(path: &Path, info: &StackInfo) {
    if read_stack_file(path).is_ok_and(|current| &current == info) {
        let _ = std::fs::remove_file(path);
    }
}

/// What [`start_rest`] starts: the Lambda service, the gateway's listener and the cache.
type Started = (Arc<LambdaService>, TcpListener, StackCache);

async fn start_rest(
    config: &ServeConfig,
    repo_root: &Path,
    template: &Template,
    aws_endpoint: &str,
    profile: &FaultProfile,
    counts: &Arc<FaultCounts>,
) -> anyhow::Result<Started> {
    let report = stack::ensure_resources(template, aws_endpoint).await?;
    tracing::info!(
        "resources ready: tables created {:?}, existing {:?}; queues created {:?}, existing {:?}",
        report.tables_created,
        report.tables_existing,
        report.queues_created,
        report.queues_existing
    );
    // The cache (and, under outages, its proxy) goes in before the functions that use it.
    let cache = StackCache::start(CacheConfig {
        given_url: config.redis_url.clone(),
        given_ca: config.cache_ca.clone(),
        ca_dir: repo_root.join(cache_cluster::CA_DIR),
        dir: stack_dir(&config.logs_dir).join("cache"),
        logs_dir: config.logs_dir.clone(),
        outage: profile.redis_outage(),
        counts: counts.clone(),
    })
    .await?;

    let ctx = LocalContext {
        aws_endpoint: aws_endpoint.to_string(),
        redis_url: cache.url.clone(),
        cache_ca: cache.ca_file.clone(),
    };
    let credentials = if config.iam {
        let credentials =
            iam::setup(repo_root, template, aws_endpoint, &config.strip_roles_of).await?;
        tracing::info!(
            "IAM enforced: {} functions run with their own role's credentials",
            credentials.len()
        );
        credentials
    } else {
        tracing::warn!("IAM is off (--no-iam): the emulator allows every call");
        Default::default()
    };
    // Every function of the template, whatever its events (HTTP, schedules, SQS).
    let lambda = lambda_service(
        template,
        &ctx,
        &config.bin_dir,
        &config.logs_dir,
        config.max_instances,
        None,
        LambdaFaultPlan::from_profile(profile, counts.clone()).map(Arc::new),
        &credentials,
        &config.function_env,
    )?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    Ok((Arc::new(lambda), listener, cache))
}

/// The repository root: the template's directory.
fn repo_root(config: &ServeConfig) -> PathBuf {
    config
        .template
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The stack's own directory: the one that holds its logs directory and `stack.json`.
pub fn stack_dir(logs_dir: &Path) -> PathBuf {
    stack_file(logs_dir)
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
