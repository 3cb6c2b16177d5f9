//! The whole local stack, as `rota-local serve` runs it: AWS stand-ins, resources, Lambda
//! service and gateway.
//!
//! Later additions (an EventBridge schedule runner, an SQS → Lambda event-source mapping) fit
//! here as further tasks that call [`LambdaService::invoke`] with their own events, reading their
//! configuration from [`crate::template::EventSource::Other`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::gateway::{self, Gateway};
use crate::runtime::{self, LambdaService, RuntimeOptions};
use crate::stack::{self, MotoServer};
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
    pub redis_url: String,
    pub logs_dir: PathBuf,
    pub max_instances: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            template: "template.yaml".into(),
            bin_dir: "target/debug".into(),
            aws: AwsSource::Moto { port: 5005 },
            redis_url: "redis://127.0.0.1:6379".into(),
            logs_dir: ".local/logs".into(),
            max_instances: 8,
        }
    }
}

/// A running local stack. Stop it with [`Running::shutdown`].
pub struct Running {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// The AWS endpoint the functions use.
    pub aws_endpoint: String,
    pub lambda: Arc<LambdaService>,
    stop: Option<oneshot::Sender<()>>,
    gateway_task: tokio::task::JoinHandle<std::io::Result<()>>,
    moto: Option<MotoServer>,
}

impl Running {
    /// `http://HOST:PORT` of the gateway.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets in-flight ones finish briefly, stops every function
    /// instance, then moto.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.gateway_task).await {
            Ok(Ok(Err(e))) => tracing::warn!("gateway stopped with an error: {e}"),
            Ok(_) => {}
            Err(_) => self.gateway_task.abort(),
        }
        self.lambda.shutdown().await;
        if let Some(moto) = self.moto.as_mut() {
            moto.stop().await;
        }
    }
}

/// Starts everything and returns once the gateway listens.
pub async fn start(config: ServeConfig) -> anyhow::Result<Running> {
    let template = Template::load(&config.template)?;
    // The repository root is where template.yaml lives; the moto venv is there.
    let repo_root = config
        .template
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));

    let (moto, aws_endpoint) = match &config.aws {
        AwsSource::Endpoint(url) => {
            stack::wait_until_ready(url, Duration::from_secs(30)).await?;
            (None, url.trim_end_matches('/').to_string())
        }
        AwsSource::Moto { port } => {
            let exe = stack::find_moto_server(&repo_root);
            let moto = MotoServer::start(&exe, *port, &config.logs_dir).await?;
            let endpoint = moto.endpoint.clone();
            (Some(moto), endpoint)
        }
    };
    // From here on, a failure must not leave moto running.
    let mut moto = moto;
    let result = start_rest(&config, &template, &aws_endpoint).await;
    let (lambda, listener) = match result {
        Ok(v) => v,
        Err(e) => {
            if let Some(m) = moto.as_mut() {
                m.stop().await;
            }
            return Err(e);
        }
    };
    let addr = listener.local_addr()?;
    let gateway = Arc::new(Gateway::new(&template, lambda.clone()));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let gateway_task = tokio::spawn(gateway::serve(listener, gateway, async move {
        let _ = stop_rx.await;
    }));
    Ok(Running {
        addr,
        aws_endpoint,
        lambda,
        stop: Some(stop_tx),
        gateway_task,
        moto,
    })
}

async fn start_rest(
    config: &ServeConfig,
    template: &Template,
    aws_endpoint: &str,
) -> anyhow::Result<(Arc<LambdaService>, TcpListener)> {
    let report = stack::ensure_resources(template, aws_endpoint).await?;
    tracing::info!(
        "resources ready: tables created {:?}, existing {:?}; queues created {:?}, existing {:?}",
        report.tables_created,
        report.tables_existing,
        report.queues_created,
        report.queues_existing
    );
    check_redis(&config.redis_url).await;

    let ctx = LocalContext {
        aws_endpoint: aws_endpoint.to_string(),
        redis_url: config.redis_url.clone(),
    };
    // Absolute, so that instances do not depend on the working directory.
    let bin_dir = std::path::absolute(&config.bin_dir).unwrap_or_else(|_| config.bin_dir.clone());
    let functions = runtime::functions_from_template(template, &ctx, &bin_dir);
    let lambda = LambdaService::new(
        functions,
        RuntimeOptions {
            max_instances: config.max_instances.max(1),
            logs_dir: config.logs_dir.clone(),
            aws_endpoint: aws_endpoint.to_string(),
            overrides: runtime::overrides_from_env(),
            init_timeout: runtime::DEFAULT_INIT_TIMEOUT,
        },
    )
    .with_context(|| format!("cannot prepare logs in {}", config.logs_dir.display()))?;
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    Ok((Arc::new(lambda), listener))
}

/// Warns (only) when Redis does not accept connections: the functions report it themselves.
async fn check_redis(url: &str) {
    let Some(authority) = url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .map(|a| a.rsplit_once('@').map_or(a, |(_, host)| host))
    else {
        return;
    };
    let target = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:6379")
    };
    let connect = tokio::net::TcpStream::connect(target.as_str());
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok(_)) => {}
        _ => tracing::warn!("Redis at {url} does not accept connections"),
    }
}
