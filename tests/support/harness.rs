//! The local stack the tests run against, found or started here, so that `cargo test likes`
//! (or `cargo nextest run likes`) works from the repository root without scripts/test.sh, in
//! the spirit of zero2prod's `spawn_app`:
//!
//! - `ROTA_BASE_URL` and `AWS_ENDPOINT_URL` set (scripts/test.sh sets them, with ROTA_LOGS_DIR,
//!   TABLE_NAME, REDIS_URL and ROTA_FAULTS): that stack is used as it is; nothing is checked,
//!   built or started.
//! - Otherwise the harness's own stack: `target/debug/rota-local serve --no-schedules` on free
//!   ports, no fault profile, Redis database 14, its state and logs in `.local/test-stack/`.
//!   A stack started earlier is reused while it answers and no binary is newer than it; else it
//!   is stopped and started again. Every test process (nextest runs one per test) first takes
//!   an OS lock on `.local/test-stack/lock`, so exactly one of them builds or starts; the others
//!   wait and reuse. The stack keeps running for the next `cargo test`:
//!   `kill $(cat .local/test-stack/pid)` stops it.
//! - Binaries (every function's, rota-local, rota-admin, rota-bench) must be at least as new as
//!   each source file their dep-info (`target/debug/<bin>.d`) lists. When one is not, the harness
//!   runs `cargo build --workspace --bins` itself: neither `cargo test` nor nextest holds
//!   cargo's build lock while tests run (a build of someone else's makes it wait, no more).
//! - Prerequisites: the `.venv` with moto (`make bootstrap`) and Redis on 127.0.0.1:6379
//!   (started with scripts/ensure-redis.sh when it does not answer). A test that needs the stack
//!   and cannot have it fails with the reason; none passes without it.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Where a stack is and how it runs.
#[derive(Debug, Clone)]
pub struct Stack {
    /// `http://HOST:PORT` of the gateway.
    pub base_url: String,
    /// The emulator (DynamoDB, SQS, SSM) the functions use.
    pub aws_endpoint: String,
    /// The functions' `<binary>.log` files (unknown for a stack given without ROTA_LOGS_DIR).
    pub logs_dir: Option<PathBuf>,
    /// The Redis the functions use.
    pub redis_url: String,
    pub table: String,
    /// The fault profile (`none`: no faults).
    pub faults: String,
}

/// The harness's own stack uses this Redis database, apart from `make run`'s (0) and the
/// bad-day run's (9).
const OWN_REDIS_URL: &str = "redis://127.0.0.1:6379/14";
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

pub fn redis_url() -> String {
    stack().redis_url.clone()
}

pub fn table_name() -> String {
    stack().table.clone()
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
    cmd
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The stack the environment names, if it names one.
fn given_stack() -> Option<Result<Stack, String>> {
    match (env("ROTA_BASE_URL"), env("AWS_ENDPOINT_URL")) {
        (Some(base_url), Some(aws_endpoint)) => Some(Ok(Stack {
            base_url,
            aws_endpoint,
            logs_dir: env("ROTA_LOGS_DIR").map(PathBuf::from),
            redis_url: env("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            table: env("TABLE_NAME").unwrap_or_else(|| "RotaTable".into()),
            faults: env("ROTA_FAULTS").unwrap_or_else(|| "none".into()),
        })),
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
    let newest_binary = current_binaries(&root)?;
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

/// Every function's binary (one crate per function under `functions/`) and the tools.
fn binary_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("functions"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.extend(["rota-local", "rota-admin", "rota-bench"].map(String::from));
    names
}

/// Why the binaries are not current, if they are not: one missing, or a source file its
/// dep-info lists newer than it (or gone). Else the newest binary's modification time.
fn staleness(root: &Path) -> Result<u128, String> {
    let dir = root.join("target").join("debug");
    let mut newest = 0;
    for name in binary_names(root) {
        let bin = dir.join(&name);
        let built = mtime_ms(&bin).ok_or_else(|| format!("{} is not built", bin.display()))?;
        newest = newest.max(built);
        let dep_info = std::fs::read_to_string(dir.join(format!("{name}.d")))
            .map_err(|_| format!("{name}.d (its dep-info) is missing"))?;
        let sources = dep_info.split_once(": ").map_or("", |(_, s)| s);
        for source in sources.split_whitespace().filter(|s| !s.ends_with('\\')) {
            match mtime_ms(Path::new(source)) {
                None => return Err(format!("{source} (a source of {name}) is gone")),
                Some(t) if t > built => return Err(format!("{source} is newer than {name}")),
                Some(_) => {}
            }
        }
    }
    Ok(newest)
}

/// Builds the binaries when they are not current; then the newest one's modification time.
fn current_binaries(root: &Path) -> Result<u128, String> {
    let Err(why) = staleness(root) else {
        return staleness(root);
    };
    eprintln!("rota-tests: {why}: running `cargo build --workspace --bins` first");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--workspace", "--bins"])
        .current_dir(root)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the binaries are not current ({why}) and `cargo build --workspace --bins` failed \
             ({status}): fix the build, run it, then the tests"
        ));
    }
    // Whatever cargo left is current by cargo's own reckoning.
    Ok(staleness(root).unwrap_or_else(|_| now_ms()))
}

/// What the harness records of the stack it started (`.local/test-stack/harness.json`).
struct State {
    pid: u32,
    gateway: String,
    aws_endpoint: String,
    started_ms: u128,
    /// The nextest run that started or last reused it.
    run: Option<String>,
}

impl State {
    fn stack(&self, dir: &Path) -> Stack {
        Stack {
            base_url: self.gateway.clone(),
            aws_endpoint: self.aws_endpoint.clone(),
            logs_dir: Some(dir.join("logs")),
            redis_url: OWN_REDIS_URL.into(),
            table: "RotaTable".into(),
            faults: "none".into(),
        }
    }
}

fn read_state(dir: &Path) -> Option<State> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("harness.json")).ok()?).ok()?;
    Some(State {
        pid: u32::try_from(state["pid"].as_u64()?).ok()?,
        gateway: state["gateway"].as_str()?.to_owned(),
        aws_endpoint: state["aws_endpoint"].as_str()?.to_owned(),
        started_ms: u128::from(state["started_ms"].as_u64()?),
        run: state["run"].as_str().map(str::to_owned),
    })
}

fn write_state(dir: &Path, state: &State) -> Result<(), String> {
    let record = json!({
        "pid": state.pid,
        "gateway": state.gateway,
        "aws_endpoint": state.aws_endpoint,
        "started_ms": u64::try_from(state.started_ms).unwrap_or(u64::MAX),
        "run": state.run,
    });
    std::fs::write(dir.join("harness.json"), format!("{record:#}\n"))
        .and_then(|_| std::fs::write(dir.join("pid"), format!("{}\n", state.pid)))
        .map_err(|e| format!("cannot record the stack in {}: {e}", dir.display()))
}

/// Whether the recorded stack still runs and its gateway answers.
fn answers(state: &State) -> bool {
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", state.pid)).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains("rota-local")
        && http_status(&format!("{}/health/live", state.gateway)) == Some(200)
}

/// The status of a plain HTTP GET (no client library: this runs before any runtime).
fn http_status(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .ok()?
        .next()?;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let n = conn.read(&mut head).ok()?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Stops a stack this harness started (SIGTERM, then SIGKILL).
fn stop(pid: u32) {
    let running = || {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("rota-local"))
    };
    if !running() {
        return;
    }
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let asked = Instant::now();
    while running() && asked.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if running() {
        signal("-KILL");
    }
}

/// The emulator's venv and Redis, or why not.
fn prerequisites(root: &Path) -> Result<(), String> {
    if !root.join(".venv/bin/python").is_file() || !root.join("local/moto-server").is_file() {
        return Err(
            "no .venv with moto (the AWS emulator) in the repository: run `make bootstrap` first"
                .into(),
        );
    }
    if redis_answers() {
        return Ok(());
    }
    let out = Command::new(root.join("scripts/ensure-redis.sh"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run scripts/ensure-redis.sh: {e}"))?;
    if out.status.success() && redis_answers() {
        Ok(())
    } else {
        Err(format!(
            "Redis does not answer on 127.0.0.1:6379 and scripts/ensure-redis.sh could not start \
             it: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn redis_answers() -> bool {
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], 6379).into(),
        Duration::from_secs(1),
    ) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reply = [0u8; 7];
    conn.write_all(b"PING\r\n").is_ok()
        && conn.read(&mut reply).is_ok()
        && reply.starts_with(b"+PONG")
}

/// Starts `rota-local serve` in a process group of its own (so Ctrl-C on the test run leaves
/// it for the next run) and waits until it serves.
fn start(root: &Path, dir: &Path, run: Option<String>) -> Result<State, String> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let stack_file = dir.join("stack.json");
    let _ = std::fs::remove_file(&stack_file);
    let open =
        |name: &str| File::create(dir.join(name)).map_err(|e| format!("cannot create {name}: {e}"));
    let bin = root.join("target/debug");
    let mut child = Command::new(bin.join("rota-local"))
        .current_dir(root)
        .args(["serve", "--no-schedules", "--host", "127.0.0.1"])
        .args(["--port", "0", "--moto-port", "0", "--faults", "none"])
        .args(["--redis-url", OWN_REDIS_URL])
        .arg("--template")
        .arg(root.join("template.yaml"))
        .arg("--bin-dir")
        .arg(&bin)
        .arg("--logs")
        .arg(&logs)
        .stdin(Stdio::null())
        .stdout(open("stdout")?)
        .stderr(open("stderr")?)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start target/debug/rota-local: {e}"))?;
    let stderr_tail = || {
        let text = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    let begun = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the local stack exited at start ({status}):\n{}",
                stderr_tail()
            ));
        }
        let out = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
        if out.contains("serving on") {
            break;
        }
        if begun.elapsed() > START_TIMEOUT {
            stop(child.id());
            return Err(format!(
                "the local stack did not start within {START_TIMEOUT:?}:\n{}",
                stderr_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let recorded: Value = std::fs::read_to_string(&stack_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| format!("the stack serves but wrote no {}", stack_file.display()))?;
    let field = |name: &str| {
        recorded[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{} has no {name}", stack_file.display()))
    };
    let state = State {
        pid: child.id(),
        gateway: field("gateway")?,
        aws_endpoint: field("aws_endpoint")?,
        started_ms: now_ms(),
        run,
    };
    eprintln!(
        "rota-tests: started a local stack at {} (logs in {})",
        state.gateway,
        logs.display()
    );
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository-shaped directory: one function and the tools, built from one source.
    fn fake_repo() -> crate::faults::TempDir {
        let repo = crate::faults::TempDir::new("rota-harness-");
        let root = &repo.path;
        std::fs::create_dir_all(root.join("functions/likes")).unwrap();
        std::fs::write(root.join("functions/likes/Cargo.toml"), "").unwrap();
        let source = root.join("main.rs");
        std::fs::write(&source, "fn main() {}").unwrap();
        let bin = root.join("target/debug");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["likes", "rota-local", "rota-admin", "rota-bench"] {
            std::fs::write(
                bin.join(format!("{name}.d")),
                format!("{}: {}\n", bin.join(name).display(), source.display()),
            )
            .unwrap();
            std::fs::write(bin.join(name), "").unwrap();
        }
        repo
    }

    #[test]
    fn binaries_as_new_as_their_sources_are_current() {
        let repo = fake_repo();
        assert!(staleness(&repo.path).is_ok());
    }

    #[test]
    fn a_newer_source_is_named() {
        let repo = fake_repo();
        let later = SystemTime::now() + Duration::from_secs(60);
        File::options()
            .write(true)
            .open(repo.path.join("main.rs"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        let why = staleness(&repo.path).unwrap_err();
        assert!(why.contains("main.rs is newer than likes"), "{why}");
    }

    #[test]
    fn a_missing_binary_is_named() {
        let repo = fake_repo();
        std::fs::remove_file(repo.path.join("target/debug/rota-admin")).unwrap();
        let why = staleness(&repo.path).unwrap_err();
        assert!(why.contains("rota-admin is not built"), "{why}");
    }

    #[test]
    fn without_the_venv_the_reason_says_make_bootstrap() {
        let repo = fake_repo();
        let why = prerequisites(&repo.path).unwrap_err();
        assert!(why.contains("make bootstrap"), "{why}");
    }

    #[test]
    fn a_dead_or_foreign_pid_is_not_a_stack_to_reuse() {
        let state = State {
            pid: std::process::id(),
            gateway: "http://127.0.0.1:9".into(),
            aws_endpoint: "http://127.0.0.1:9".into(),
            started_ms: now_ms(),
            run: None,
        };
        // This test process is alive but not rota-local.
        assert!(!answers(&state));
    }
}
