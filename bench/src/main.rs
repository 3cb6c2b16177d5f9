//! `rota-bench`: per-function cold start, CPU per warm invocation, peak memory, binary size and
//! (diagnostic mode) DynamoDB/Redis cost per request, measured through the Lambda Runtime API.
//! The harness is this crate's library (`rota_bench`); the figures are in BENCHMARKS.md.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use rota_bench::Plan;
use rota_local::server::{self, AwsSource, ServeConfig};

#[derive(Parser)]
#[command(name = "rota-bench", about)]
struct Cli {
    /// Directory of the function binaries (build them with `cargo build --release`).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Warm invocations per function after the cold one.
    #[arg(long, default_value_t = 30)]
    warm: usize,
    /// Only these functions (template logical ids); all when not given.
    #[arg(long = "only", value_name = "LogicalId")]
    only: Vec<String>,
    /// Where results (JSON, Markdown) and the run's logs go.
    #[arg(long, default_value = ".local/bench")]
    out: PathBuf,
    /// An existing Redis cluster instead of the run's own (a cluster of three primaries over
    /// TLS, as `rota-local serve` starts).
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// The CA that signed the certificate of --redis-url.
    #[arg(long, value_name = "PEM", requires = "redis_url")]
    cache_ca: Option<PathBuf>,
    /// Run the stack without IAM (the emulator allows every call), to measure what
    /// enforcement costs.
    #[arg(long)]
    no_iam: bool,
}

/// The per-user and per-IP limits would refuse a benchmark's repeated requests from one client;
/// they are raised for the instances (the limiter still runs: its Redis call is measured).
const OVERRIDES: &[(&str, &str)] = &[
    ("ROTA_FN_ROTA_DIAGNOSTICS", "1"),
    ("ROTA_FN_LOGIN_IP_LIMIT", "1000000/60"),
    ("ROTA_FN_LOGIN_ACCOUNT_LIMIT", "1000000/60"),
    ("ROTA_FN_REGISTER_IP_LIMIT", "1000000/60"),
    ("ROTA_FN_POST_CREATE_LIMIT", "1000000/60"),
    ("ROTA_FN_COMMENT_CREATE_LIMIT", "1000000/60"),
    ("ROTA_FN_ROADMAP_CREATE_LIMIT", "1000000/60"),
    ("ROTA_FN_LIKE_LIMIT", "1000000/60"),
    ("ROTA_FN_EDIT_LIMIT", "1000000/60"),
];

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    for (k, v) in OVERRIDES {
        // SAFETY: still single-threaded: no runtime or other thread has started yet.
        unsafe { std::env::set_var(k, v) };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROTA_LOCAL_LOG")
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let logs = cli.out.join("logs");
    let running = server::start(ServeConfig {
        host: "127.0.0.1".into(),
        port: 0,
        template: cli.template.clone(),
        bin_dir: cli.bin_dir.clone(),
        aws: AwsSource::Moto { port: 0 },
        redis_url: cli.redis_url.clone(),
        cache_ca: cli.cache_ca.clone(),
        logs_dir: logs,
        // One instance per function: every warm request lands on the instance being measured.
        max_instances: 1,
        schedules: false,
        // Figures are for the functions as they are, never under a fault profile.
        faults: rota_local::faults::NO_FAULTS.into(),
        faults_file: None,
        // As the stack runs by default: each function with its role, checked by the emulator
        // (--no-iam measures what the checks cost).
        iam: !cli.no_iam,
        ..ServeConfig::default()
    })
    .await?;
    let repo_root = cli
        .template
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let plan = Plan {
        warm: cli.warm,
        only: cli.only.clone(),
    };
    let result = rota_bench::run_all(&running.lambda, &running.url(), &repo_root, &plan).await;
    running.shutdown().await;
    let figures = result?;
    std::fs::create_dir_all(&cli.out)?;
    let json_path = cli.out.join("functions.json");
    std::fs::write(&json_path, serde_json::to_vec_pretty(&figures)?)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let table = rota_bench::markdown(&figures);
    std::fs::write(cli.out.join("functions.md"), &table)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "{} functions in {}; JSON in {}",
        figures.len(),
        rota_bench::since(t0),
        json_path.display()
    )?;
    Ok(())
}
