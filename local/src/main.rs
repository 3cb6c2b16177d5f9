//! `rota-local`: run Rota's functions locally behind an API Gateway (HTTP API) stand-in.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use rota_local::events::schedule;
use rota_local::server::{self, AwsSource, ServeConfig};
use rota_local::stack;
use rota_local::template::{LocalContext, Template};

#[derive(Parser)]
#[command(name = "rota-local", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start moto (unless --aws-endpoint) and the cache cluster (unless --redis-url), create the
    /// resources, and serve the HTTP API.
    Serve(ServeArgs),
    /// Create the template's tables, queues and JWT secret at an AWS endpoint, then exit.
    Resources(ResourcesArgs),
    /// Fire a function's schedule once: invoke it with the scheduled event (or the schedule's
    /// Input), print its response JSON on stdout, and fail if the function fails.
    Fire(FireArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port; the line on stdout tells which).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Directory holding the function binaries.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// Use the AWS stand-in at this URL instead of starting moto.
    #[arg(long, value_name = "URL")]
    aws_endpoint: Option<String>,
    /// Port for the moto server started here (0: any free port).
    #[arg(long, default_value_t = 5005, conflicts_with = "aws_endpoint")]
    moto_port: u16,
    /// An existing Redis cluster for the functions, instead of the stack's own (a cluster of
    /// three primaries over TLS, started here).
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// The CA that signed the certificate of --redis-url (the functions' SSL_CERT_FILE).
    #[arg(long, value_name = "PEM", requires = "redis_url")]
    cache_ca: Option<PathBuf>,
    /// Directory for `<function short name>.log` and `moto.log`.
    #[arg(long, default_value = ".local/logs")]
    logs: PathBuf,
    /// Most instances per function; further requests wait.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    max_instances: u16,
    /// Do not fire schedules on their own (fire them with `rota-local fire`).
    #[arg(long)]
    no_schedules: bool,
    /// Fault profile to run under (see local/faults.yaml; `none`: no faults).
    #[arg(
        long,
        env = "ROTA_FAULTS",
        default_value = "none",
        value_name = "PROFILE"
    )]
    faults: String,
    /// The fault profiles [default: local/faults.yaml in the template's directory].
    #[arg(long, value_name = "PATH")]
    faults_file: Option<PathBuf>,
    /// Run without IAM: every function gets placeholder keys and the emulator allows every
    /// call. By default each function runs with its own execution role's credentials and
    /// every DynamoDB, SQS and SSM call is checked against that role, as in AWS.
    #[arg(long)]
    no_iam: bool,
    /// The stack's name (`AWS::StackName`): it names the stack's JWT secret and its tokens'
    /// issuer and audience [default: rota-local-<port>; with --port 0, rota-local-pid<pid>].
    #[arg(long, value_name = "NAME")]
    stack_name: Option<String>,
    /// Do not poll the template's SQS event sources (for a stack sharing another stack's
    /// emulator through --aws-endpoint, whose messages it must not take).
    #[arg(long)]
    no_queue_pollers: bool,
    /// Template parameters, as `sam deploy` takes them (`ApiDocs=Disabled`); the rest keep
    /// their defaults. Conditions follow: a resource whose condition is false is not created.
    #[arg(long, value_name = "NAME=VALUE", num_args = 1.., value_parser = parameter_override)]
    parameter_overrides: Vec<(String, String)>,
}

/// `Name=Value` of `--parameter-overrides`.
fn parameter_override(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

#[derive(Args)]
struct FireArgs {
    /// The function: its logical id, or its short name (handler).
    #[arg(long, value_name = "LogicalIdOrBinary")]
    function: String,
    /// The schedule event's name, when the function has several.
    #[arg(long, value_name = "EventName")]
    event: Option<String>,
    /// The scheduled time the event carries (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339")]
    time: Option<String>,
    /// The AWS stand-in the function uses (default: the running stack's, from
    /// `<logs>/../stack.json`).
    #[arg(long, value_name = "URL")]
    aws_endpoint: Option<String>,
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Directory holding the function binaries.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// The cache the function uses (default: the running stack's, from `<logs>/../stack.json`;
    /// none when no stack runs).
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// The CA that signed the cache's certificate (default: the running stack's).
    #[arg(long, value_name = "PEM")]
    cache_ca: Option<PathBuf>,
    /// Directory for `<function short name>.log` (its parent holds the running stack's `stack.json`).
    #[arg(long, default_value = ".local/logs")]
    logs: PathBuf,
    /// The stack's name (`AWS::StackName`) [default: the running stack's, from its
    /// `stack.json`].
    #[arg(long, value_name = "NAME")]
    stack_name: Option<String>,
    /// Template parameters (`NAME=VALUE`) [default: the running stack's, from its
    /// `stack.json`].
    #[arg(long, value_name = "NAME=VALUE", num_args = 1.., value_parser = parameter_override)]
    parameter_overrides: Option<Vec<(String, String)>>,
}

#[derive(Args)]
struct ResourcesArgs {
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// The AWS stand-in to create the resources in.
    #[arg(long, value_name = "URL")]
    aws_endpoint: String,
    /// The stack's name (`AWS::StackName`), which names its JWT secret.
    #[arg(long, value_name = "NAME", default_value = rota_local::template::LOCAL_STACK_NAME)]
    stack_name: String,
    /// Template parameters (`NAME=VALUE`); the rest keep their defaults.
    #[arg(long, value_name = "NAME=VALUE", num_args = 1.., value_parser = parameter_override)]
    parameter_overrides: Vec<(String, String)>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rota-local: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Resources(args) => resources(args).await,
            Command::Fire(args) => fire(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rota-local: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // The SDK is chatty at info; keep rota-local's own lines and the access log.
    let filter = EnvFilter::try_from_env("ROTA_LOCAL_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn,aws_sdk_dynamodb=warn,aws_sdk_sqs=warn,aws_sdk_ssm=warn,hyper=warn")
    });
    // stdout carries only the "serving on" line; every diagnostic goes to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Two local stacks differ as two stacks of one account do: by name (their JWT secrets,
    // their tokens' issuer and audience).
    let stack_name = args.stack_name.unwrap_or_else(|| match args.port {
        0 => format!("rota-local-pid{}", std::process::id()),
        port => format!("rota-local-{port}"),
    });
    tracing::info!("stack name {stack_name}");
    let config = ServeConfig {
        host: args.host,
        port: args.port,
        template: args.template,
        bin_dir: args.bin_dir,
        aws: match args.aws_endpoint {
            Some(url) => AwsSource::Endpoint(url),
            None => AwsSource::Moto {
                port: args.moto_port,
            },
        },
        redis_url: args.redis_url,
        cache_ca: args.cache_ca,
        logs_dir: args.logs.clone(),
        max_instances: usize::from(args.max_instances),
        schedules: !args.no_schedules,
        faults: args.faults,
        faults_file: args.faults_file,
        iam: !args.no_iam,
        strip_roles_of: Vec::new(),
        function_env: Default::default(),
        stack_name,
        queue_pollers: !args.no_queue_pollers,
        parameter_overrides: args.parameter_overrides.into_iter().collect(),
    };
    // Signal handlers go in before anything is started, so no child outlives an early signal.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let running = tokio::select! {
        r = server::start(config) => r?,
        _ = tokio::signal::ctrl_c() => return Ok(()),
        _ = sigterm.recv() => return Ok(()),
    };
    // Other tools (`rota-local fire`, `make reminders-now`) find the running stack here.
    let stack_file = server::stack_file(&args.logs);
    let info = running.info();
    match server::write_stack_file(&stack_file, &info) {
        Ok(()) => tracing::info!("stack recorded in {}", stack_file.display()),
        Err(e) => tracing::warn!("cannot write {}: {e}", stack_file.display()),
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "rota-local: serving on {}", running.url())?;
        out.flush()?;
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
    }
    tracing::info!("stopping");
    server::remove_stack_file(&stack_file, &info);
    running.shutdown().await;
    Ok(())
}

async fn fire(args: FireArgs) -> anyhow::Result<()> {
    let running = server::read_stack_file(&server::stack_file(&args.logs)).ok();
    let stack_name = match (&args.stack_name, &running) {
        (Some(name), _) => name.clone(),
        (None, Some(info)) => info.stack_name.clone(),
        (None, None) => rota_local::template::LOCAL_STACK_NAME.to_string(),
    };
    let parameters = match (args.parameter_overrides, &running) {
        (Some(given), _) => given.into_iter().collect(),
        (None, Some(info)) => info.parameter_overrides.clone(),
        (None, None) => Default::default(),
    };
    let template = Template::load_with(&args.template, &parameters)?.with_stack_name(stack_name);
    let target = schedule::find_target(&template, &args.function, args.event.as_deref())
        .map_err(anyhow::Error::msg)?;
    let time = match &args.time {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--time {t} is not an RFC 3339 time"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let aws_endpoint = match (args.aws_endpoint, &running) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Some(stack)) => stack.aws_endpoint.clone(),
        (None, None) => anyhow::bail!("no --aws-endpoint given and no running stack found"),
    };
    stack::wait_until_ready(&aws_endpoint, std::time::Duration::from_secs(5)).await?;
    // The running stack's cache, unless one is given; without either the function runs
    // without a cache (it degrades as under an outage).
    let (redis_url, cache_ca) = match (args.redis_url, running) {
        (Some(url), _) => (url, args.cache_ca),
        (None, Some(stack)) => (
            stack.cache,
            args.cache_ca.or(stack.cache_ca.map(PathBuf::from)),
        ),
        (None, None) => (String::new(), args.cache_ca),
    };
    let ctx = LocalContext {
        aws_endpoint,
        redis_url,
        cache_ca,
    };
    // The function's role session, when that emulator enforces IAM (as `serve` gives it).
    let credentials =
        rota_local::iam::assume(&ctx.aws_endpoint, template.stack_name(), &target.function)
            .await?
            .map(|c| (target.function.clone(), c))
            .into_iter()
            .collect();
    let lambda = server::lambda_service(
        &template,
        &ctx,
        &args.bin_dir,
        &args.logs,
        1,
        Some(&target.function),
        None,
        &credentials,
        &Default::default(),
    )?;
    tracing::info!(
        "firing {} ({}) for {}",
        target.label(),
        target.source.expression,
        time.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let result = schedule::fire(&lambda, &target, time).await;
    lambda.shutdown().await;
    let output = result.with_context(|| format!("{} failed", target.label()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&output.payload)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

async fn resources(args: ResourcesArgs) -> anyhow::Result<()> {
    let parameters = args.parameter_overrides.into_iter().collect();
    let template =
        Template::load_with(&args.template, &parameters)?.with_stack_name(args.stack_name);
    let report = stack::ensure_resources(&template, &args.aws_endpoint).await?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    println!(
        "tables created: {}; already there: {}",
        list(&report.tables_created),
        list(&report.tables_existing)
    );
    println!(
        "queues created: {}; already there: {}",
        list(&report.queues_created),
        list(&report.queues_existing)
    );
    match report.secret_created {
        Some(name) => println!("secret created: {name}"),
        None => println!("secret: already there (or none declared)"),
    }
    Ok(())
}
