//! The local stack the tests run against, found or started here, so that `cargo test likes`
//! (or `cargo nextest run likes`) works from the repository root without scripts/test.sh, in
//! the spirit of zero2prod's `spawn_app`:
//!
//! - `ROTA_BASE_URL` and `AWS_ENDPOINT_URL` set (scripts/test.sh sets them, with ROTA_LOGS_DIR,
//!   TABLE_NAME, REDIS_URL, ROTA_CACHE_CA and ROTA_FAULTS): that stack is used as it is;
//!   nothing is checked, built or started. Without REDIS_URL, the cache is read from the
//!   stack's `stack.json` (beside ROTA_LOGS_DIR). Its name (which names its JWT secret and its
//!   tokens' issuer and audience) is ROTA_STACK_NAME, else what it recorded in that
//!   `stack.json`.
//! - Otherwise the harness's own stack: `target/debug/rota-local serve --no-schedules` on free
//!   ports, no fault profile, its own cache cluster, its state and logs in
//!   `.local/test-stack/`.
//!   A stack started earlier is reused while it answers and no binary, nor the template or the
//!   emulator's code (local/*.py), is newer than it; else it is stopped and started again.
//!   Every test process (nextest runs one per test) first takes
//!   an OS lock on `.local/test-stack/lock`, so exactly one of them builds or starts; the others
//!   wait and reuse. The stack keeps running for the next `cargo test`:
//!   `kill $(cat .local/test-stack/pid)` stops it.
//! - Binaries (every function's, rota-local, rota-admin, rota-bench) must be at least as new as
//!   each source file their dep-info (`target/debug/<bin>.d`) lists. When one is not, the harness
//!   runs `cargo build --workspace --bins` itself: neither `cargo test` nor nextest holds
//!   cargo's build lock while tests run (a build of someone else's makes it wait, no more).
//! - Prerequisites: the `.venv` with moto (`make bootstrap`) and `redis-server` (7 or newer,
//!   with TLS) for the stack's cache cluster. A test that needs the stack and cannot have it
//!   fails with the reason; none passes without it.
//! - [`private_stack`]: a stack of a test's own, for a test that breaks it (kills a cache
//!   node) and must not disturb the others.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod build;
mod own_stack;

use build::current_binaries;
use own_stack::{answers, prerequisites, read_state, start, stop, write_state};

/// Where a stack is and how it runs.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `http://HOST:PORT` of the gateway.
    pub base_url: String,
    /// The emulator (DynamoDB, SQS, SSM) the functions use.
    pub aws_endpoint: String,
    /// The functions' `<binary>.log` files (unknown for a stack given without ROTA_LOGS_DIR).
    pub logs_dir: Option<PathBuf>,
    /// The cache the functions use (`rediss://…` of the stack's cluster).
    pub redis_url: String,
    /// The CA the cache's certificate is signed by (the functions' `SSL_CERT_FILE`).
    pub cache_ca: Option<PathBuf>,
    pub table: String,
    /// The fault profile (`none`: no faults).
    pub faults: String,
    /// `AWS::StackName` as the stack resolves it (its JWT secret's name, its tokens' issuer and
    /// audience): ROTA_STACK_NAME, else what the stack recorded in `stack.json` beside its logs.
    pub name: Option<String>,
}

impl Stack {
    /// The stack's name, or a panic saying why it is unknown.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_else(|| {
            panic!(
                "the stack's name is unknown: set ROTA_STACK_NAME, or ROTA_LOGS_DIR to a stack's \
                 logs (its stack.json says)"
            )
        })
    }
}

/// The name a stack recorded in the `stack.json` beside its logs (`rota-local serve` writes it).
fn recorded_stack_name(logs_dir: &Path) -> Option<String> {
    rota_local::server::read_stack_file(&rota_local::server::stack_file(logs_dir))
        .ok()
        .map(|info| info.stack_name)
}

/// How long a stack may take to start (the emulator alone may take a while on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The stack of this test run (see the module's comment). Panics with the reason when there is
/// none and none can be started.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Result<Stack, String>> = OnceLock::new();
    match STACK.get_or_init(find_or_start) {
        Ok(stack) => stack,
        Err(why) => panic!("no local stack for this test: {why}"),
    }
}

/// `target/debug`, with every binary current (built here first when one is not; see the
/// module's comment). Under a stack given in the environment, as it is.
pub fn binaries() -> PathBuf {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = repo_root().join("target").join("debug");
    if given_stack().is_none() {
        let checked = CHECKED.get_or_init(|| {
            let _lock = lock()?;
            current_binaries(&repo_root()).map(|_| ())
        });
        if let Err(why) = checked {
            panic!("{why}");
        }
    }
    dir
}

pub fn base_url() -> &'static str {
    &stack().base_url
}

/// The stack's cache URL (what the functions get as `REDIS_URL`).
pub fn redis_url() -> String {
    stack().redis_url.clone()
}

/// How a client in a test reaches the stack's cache: trusting its CA (the functions trust it
/// through `SSL_CERT_FILE`; a test process builds its client with it instead).
pub fn cache_options() -> rota_api::cache::CacheOptions {
    stack().cache_options()
}

impl Stack {
    /// [`cache_options`] for this stack.
    pub fn cache_options(&self) -> rota_api::cache::CacheOptions {
        rota_api::cache::CacheOptions {
            root_ca_pem: self
                .cache_ca
                .as_ref()
                .map(|ca| std::fs::read(ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display()))),
            ..Default::default()
        }
    }

    /// A client of this stack's cache (as the functions' own, with the test's trust).
    pub fn cache(&self) -> rota_api::cache::Cache {
        rota_api::cache::Cache::with_options(&self.redis_url, self.cache_options())
            .unwrap_or_else(|e| panic!("{}: {e}", self.redis_url))
    }
}

pub fn table_name() -> String {
    stack().table.clone()
}

/// A DynamoDB client of the stack's emulator (the SDK's defaults) and the stack's table name.
pub async fn stack_table() -> (aws_sdk_dynamodb::Client, String) {
    let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    (db, table_name())
}

/// The SDK configuration for the stack's emulator (dummy credentials, us-east-1).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&stack().aws_endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "rota-tests",
        ))
        .load()
        .await
}

/// A command for one of the repository's tools, with the stack's environment (as the
/// functions get theirs).
pub fn stack_command(program: impl AsRef<Path>) -> Command {
    let stack = stack();
    let mut cmd = Command::new(program.as_ref());
    cmd.env("AWS_ENDPOINT_URL", &stack.aws_endpoint)
        .env("TABLE_NAME", &stack.table)
        .env("REDIS_URL", &stack.redis_url)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1");
    if let Some(ca) = &stack.cache_ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    cmd
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The stack the environment names, if it names one.
fn given_stack() -> Option<Result<Stack, String>> {
    match (env("ROTA_BASE_URL"), env("AWS_ENDPOINT_URL")) {
        (Some(base_url), Some(aws_endpoint)) => {
            let logs_dir = env("ROTA_LOGS_DIR").map(PathBuf::from);
            // The cache: from the environment, else from the stack's own record.
            let recorded = logs_dir.as_deref().and_then(|logs| {
                rota_local::server::read_stack_file(&rota_local::server::stack_file(logs)).ok()
            });
            let redis_url = env("REDIS_URL").or_else(|| recorded.as_ref().map(|r| r.cache.clone()));
            let Some(redis_url) = redis_url.filter(|u| !u.is_empty()) else {
                return Some(Err(
                    "set REDIS_URL (and ROTA_CACHE_CA) for the given stack, or \
                                 ROTA_LOGS_DIR beside its stack.json"
                        .into(),
                ));
            };
            let cache_ca = env("ROTA_CACHE_CA")
                .or_else(|| recorded.and_then(|r| r.cache_ca))
                .map(PathBuf::from);
            Some(Ok(Stack {
                base_url,
                aws_endpoint,
                name: env("ROTA_STACK_NAME").or_else(|| {
                    env("ROTA_LOGS_DIR").and_then(|logs| recorded_stack_name(Path::new(&logs)))
                }),
                logs_dir,
                redis_url,
                cache_ca,
                table: env("TABLE_NAME").unwrap_or_else(|| "RotaTable".into()),
                faults: env("ROTA_FAULTS").unwrap_or_else(|| "none".into()),
            }))
        }
        (None, None) => None,
        _ => Some(Err(
            "set both ROTA_BASE_URL and AWS_ENDPOINT_URL (a running stack) or neither (the \
             harness starts its own)"
                .into(),
        )),
    }
}

fn find_or_start() -> Result<Stack, String> {
    if let Some(given) = given_stack() {
        return given;
    }
    let root = repo_root();
    let dir = stack_dir();
    let _lock = lock()?;
    // What the stack is made of besides the binaries: the template (routes, roles) and the
    // emulator's code. A stack older than any of them is started again.
    let newest_input = std::fs::read_dir(root.join("local"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .chain([root.join("template.yaml")])
        .filter_map(|p| mtime_ms(&p))
        .max()
        .unwrap_or(0);
    let newest_binary = current_binaries(&root)?.max(newest_input);
    // The processes of one nextest run share its id: binaries relinked by someone else's build
    // halfway through a run do not restart the stack under the run's other tests.
    let run = env("NEXTEST_RUN_ID");
    if let Some(mut state) = read_state(&dir) {
        let same_run = run.is_some() && state.run == run;
        if (same_run || state.started_ms >= newest_binary) && answers(&state) {
            if !same_run && run.is_some() {
                state.run = run;
                write_state(&dir, &state)?;
            }
            return Ok(state.stack(&dir));
        }
        stop(state.pid);
    }
    prerequisites(&root)?;
    let state = start(&root, &dir, run)?;
    write_state(&dir, &state)?;
    Ok(state.stack(&dir))
}

fn stack_dir() -> PathBuf {
    repo_root().join(".local").join("test-stack")
}

/// The harness's lock, held until dropped (an OS file lock: released when the process dies).
fn lock() -> Result<File, String> {
    let dir = stack_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("lock");
    let file = File::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(file)
}

fn mtime_ms(path: &Path) -> Option<u128> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_millis())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
}

/// A repository-shaped directory for the submodules' tests: the functions' binary and the
/// tools, built from one source.
#[cfg(test)]
fn fake_repo() -> tempfile::TempDir {
    let repo = crate::faults::temp_dir("rota-harness-");
    let root = repo.path();
    let source = root.join("main.rs");
    std::fs::write(&source, "fn main() {}").unwrap();
    let bin = root.join("target/debug");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["rota", "rota-local", "rota-admin", "rota-bench"] {
        std::fs::write(
            bin.join(format!("{name}.d")),
            format!("{}: {}\n", bin.join(name).display(), source.display()),
        )
        .unwrap();
        std::fs::write(bin.join(name), "").unwrap();
    }
    repo
}
