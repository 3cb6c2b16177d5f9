//! The harness's own stack: its record in `.local/test-stack/`, whether it still answers, how
//! it is started and stopped, and what it needs first (the venv, redis-server).

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{START_TIMEOUT, Stack, now_ms};

/// What the harness records of the stack it started (`.local/test-stack/harness.json`).
pub(super) struct State {
    pub(super) pid: u32,
    pub(super) gateway: String,
    pub(super) aws_endpoint: String,
    /// The cache the functions get, and the CA it is signed by.
    pub(super) cache: String,
    pub(super) cache_ca: Option<String>,
    pub(super) started_ms: u128,
    /// The nextest run that started or last reused it.
    pub(super) run: Option<String>,
}

impl State {
    pub(super) fn stack(&self, dir: &Path) -> Stack {
        Stack {
            base_url: self.gateway.clone(),
            aws_endpoint: self.aws_endpoint.clone(),
            logs_dir: Some(dir.join("logs")),
            redis_url: self.cache.clone(),
            cache_ca: self.cache_ca.as_ref().map(PathBuf::from),
            table: "RotaTable".into(),
            faults: "none".into(),
            name: super::recorded_stack_name(&dir.join("logs")),
        }
    }
}

pub(super) fn read_state(dir: &Path) -> Option<State> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("harness.json")).ok()?).ok()?;
    Some(State {
        pid: u32::try_from(state["pid"].as_u64()?).ok()?,
        gateway: state["gateway"].as_str()?.to_owned(),
        aws_endpoint: state["aws_endpoint"].as_str()?.to_owned(),
        cache: state["cache"].as_str()?.to_owned(),
        cache_ca: state["cache_ca"].as_str().map(str::to_owned),
        started_ms: u128::from(state["started_ms"].as_u64()?),
        run: state["run"].as_str().map(str::to_owned),
    })
}

pub(super) fn write_state(dir: &Path, state: &State) -> Result<(), String> {
    let record = json!({
        "pid": state.pid,
        "gateway": state.gateway,
        "aws_endpoint": state.aws_endpoint,
        "cache": state.cache,
        "cache_ca": state.cache_ca,
        "started_ms": u64::try_from(state.started_ms).unwrap_or(u64::MAX),
        "run": state.run,
    });
    std::fs::write(dir.join("harness.json"), format!("{record:#}\n"))
        .and_then(|_| std::fs::write(dir.join("pid"), format!("{}\n", state.pid)))
        .map_err(|e| format!("cannot record the stack in {}: {e}", dir.display()))
}

/// Whether the recorded stack still runs and its gateway answers.
pub(super) fn answers(state: &State) -> bool {
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
pub(super) fn stop(pid: u32) {
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

/// The emulator's venv and redis-server (the stack starts its own cache cluster), or why not.
pub(super) fn prerequisites(root: &Path) -> Result<(), String> {
    if !root.join(".venv/bin/python").is_file() || !root.join("local/moto-server").is_file() {
        return Err(
            "no .venv with moto (the AWS emulator) in the repository: run `make bootstrap` first"
                .into(),
        );
    }
    match Command::new("redis-server").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(
            "redis-server is not installed: the stack's cache is a Redis cluster over TLS \
                  (apt-get install redis-server, 7 or newer)"
                .into(),
        ),
    }
}

/// Starts `rota-local serve` in a process group of its own (so Ctrl-C on the test run leaves
/// it for the next run) and waits until it serves.
pub(super) fn start(root: &Path, dir: &Path, run: Option<String>) -> Result<State, String> {
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
        cache: field("cache")?,
        cache_ca: recorded["cache_ca"].as_str().map(str::to_owned),
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
    use super::super::fake_repo;
    use super::*;

    #[test]
    fn without_the_venv_the_reason_says_make_bootstrap() {
        let repo = fake_repo();
        let why = prerequisites(repo.path()).unwrap_err();
        assert!(why.contains("make bootstrap"), "{why}");
    }

    #[test]
    fn a_dead_or_foreign_pid_is_not_a_stack_to_reuse() {
        let state = State {
            pid: std::process::id(),
            gateway: "http://127.0.0.1:9".into(),
            aws_endpoint: "http://127.0.0.1:9".into(),
            cache: "rediss://127.0.0.1:9".into(),
            cache_ca: None,
            started_ms: now_ms(),
            run: None,
        };
        // This test process is alive but not rota-local.
        assert!(!answers(&state));
    }
}
