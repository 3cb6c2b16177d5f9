//! What rota-local's integration tests share: where things are, the prerequisites (each test
//! that needs one fails, naming it and how to provide it), a Lambda service and a gateway over
//! the stand-in functions, and `rota-local serve` as a child process.
//!
//! `make test` (scripts/test.sh) provides every prerequisite: the repo's `.venv` with moto
//! (`make bootstrap`) and `redis-server` (7 or newer, with TLS; the stacks start their own).

// Each test file compiles its own copy of this module and uses only some of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rota_local::faults;
use rota_local::gateway::{self, Gateway};
use rota_local::lambda_service::{self, LambdaService, RuntimeOptions};
use rota_local::stack::{self, MotoServer};
use rota_local::template::{LocalContext, Template};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where cargo puts this package's binaries for its integration tests: `rota-local` and the
/// stand-in functions `rota-local-echo` and `rota-local-sqs-echo`.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_rota-local-sqs-echo"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The repo's Python venv with moto; the test fails when it is missing.
pub fn require_venv() {
    for file in [".venv/bin/python", ".venv/bin/moto_server"] {
        let path = repo_root().join(file);
        assert!(
            path.is_file(),
            "the AWS emulator (moto) is missing: {} does not exist. Create the venv with \
             `make bootstrap` (python3 -m venv .venv && .venv/bin/pip install -r \
             requirements-serve.txt); `make test` does it before running the tests",
            path.display()
        );
    }
}

/// The emulator as `serve` starts it (the wrapper `local/moto-server`), on a free port.
pub async fn start_moto(logs: &Path) -> MotoServer {
    require_venv();
    MotoServer::start(&stack::find_moto_server(&repo_root()), 0, logs)
        .await
        .unwrap_or_else(|e| panic!("the AWS emulator did not start: {e:#}"))
}

/// A plain Redis of the test's own (`redis-server` on a free port, no TLS, no cluster), for
/// tests of bytes passing through the outage proxy. Killed when dropped.
pub struct PlainRedis {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    _child: Child,
}

impl PlainRedis {
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

pub async fn plain_redis() -> PlainRedis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server (apt-get install redis-server; `make test` needs it)");
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(mut c) = tokio::net::TcpStream::connect(&addr).await {
            use tokio::io::AsyncWriteExt as _;
            let mut buf = [0u8; 7];
            if c.write_all(b"PING\r\n").await.is_ok()
                && tokio::time::timeout(Duration::from_secs(1), c.read_exact(&mut buf))
                    .await
                    .is_ok_and(|r| r.is_ok())
                && &buf == b"+PONG\r\n"
            {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not answer on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    PlainRedis {
        addr,
        _child: child,
    }
}

/// Where the stand-ins are for stacks that need no AWS: nothing listens on port 9.
pub fn offline_context() -> LocalContext {
    LocalContext {
        aws_endpoint: "http://127.0.0.1:9".into(),
        redis_url: "redis://127.0.0.1:6379".into(),
        cache_ca: None,
    }
}

/// Lambda service settings for tests: logs in `logs`, no overrides, no faults.
pub fn runtime_options(logs: &Path, max_instances: usize) -> RuntimeOptions {
    RuntimeOptions {
        max_instances,
        logs_dir: logs.to_path_buf(),
        aws_endpoint: offline_context().aws_endpoint,
        overrides: BTreeMap::new(),
        init_timeout: Duration::from_secs(10),
        faults: None,
    }
}

/// A Lambda service running the template's functions (the stand-ins of [`bin_dir`]).
pub fn lambda_service(template: &Template, options: RuntimeOptions) -> LambdaService {
    let functions =
        lambda_service::functions_from_template(template, &offline_context(), &bin_dir());
    LambdaService::new(functions, options).unwrap()
}

/// The gateway of a template, serving on a free port until stopped.
pub struct GatewayTask {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl GatewayTask {
    pub async fn start(template: &Template, lambda: Arc<LambdaService>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway::serve(
            listener,
            Arc::new(Gateway::new(template, lambda)),
            async move {
                let _ = stopped.await;
            },
        ));
        Self { addr, stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Waits (5 s at most) until `<logs>/faults.json` says `key` is `n`.
pub async fn wait_for_report(logs: &Path, key: &str, n: u64) -> faults::FaultReport {
    let path = faults::report_file(logs);
    let started = Instant::now();
    loop {
        if let Ok(r) = faults::read_report(&path)
            && r.injected.get(key) == Some(&n)
        {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "faults.json never said {key} = {n}: {:?}",
            std::fs::read_to_string(&path)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks what `serve` (with its logs in `<dir>/logs`, its template in `<dir>`) recorded in
/// `<dir>/stack.json`; returns that file's path and what it holds about the cache.
pub fn assert_stack_file(
    dir: &Path,
    aws_endpoint: &str,
    gateway: &str,
    faults: &str,
) -> (PathBuf, RecordedCache) {
    let path = dir.join("stack.json");
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // The stack's name: rota-local-<port>, or with --port 0 (as the tests start it) its pid's.
    let name = info
        .as_object_mut()
        .unwrap()
        .remove("stack_name")
        .expect("stack.json names the stack");
    assert!(
        name.as_str().is_some_and(|n| n.starts_with("rota-local-")),
        "{name}"
    );
    // The stack's own cache cluster, over TLS, and the CA made beside the template.
    let fields = info.as_object_mut().unwrap();
    let text = |v: Option<serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_owned));
    let cache = RecordedCache {
        url: text(fields.remove("cache")).unwrap_or_default(),
        ca: text(fields.remove("cache_ca")).unwrap_or_default(),
        nodes: fields
            .remove("cache_nodes")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
    };
    assert!(cache.url.starts_with("rediss://127.0.0.1:"), "{cache:?}");
    assert_eq!(
        Path::new(&cache.ca),
        std::path::absolute(dir.join(".local/ca/ca.pem")).unwrap(),
        "{cache:?}"
    );
    assert_eq!(cache.nodes.len(), 3, "{cache:?}");
    assert_eq!(
        info,
        // The stand-in templates run without IAM (`--no-iam`).
        serde_json::json!({"aws_endpoint": aws_endpoint, "gateway": gateway, "faults": faults, "iam": false})
    );
    (path, cache)
}

/// What `stack.json` says about the stack's cache.
#[derive(Debug, Clone)]
pub struct RecordedCache {
    /// What the functions get.
    pub url: String,
    pub ca: String,
    /// The nodes, direct.
    pub nodes: Vec<String>,
}

impl RecordedCache {
    pub fn node_ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| port_of(n)).collect()
    }
}

/// The port of a `scheme://host:port` URL.
pub fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// The ports the cluster behind `url` announces for its primaries (its CLUSTER SLOTS), asked
/// through a cluster client that trusts `root`.
pub async fn cluster_ports(url: &str, root: &[u8]) -> Vec<u16> {
    let client = redis::cluster::ClusterClientBuilder::new(vec![url])
        .certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root.to_vec()),
        })
        .build()
        .unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let slots: Vec<(i64, i64, Vec<redis::Value>)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut ports: Vec<u16> = slots
        .iter()
        .map(|(_, _, primary)| match primary.get(1) {
            Some(redis::Value::Int(p)) => u16::try_from(*p).unwrap(),
            other => panic!("no port in {other:?}"),
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// `rota-local <args>` (the binary of this package).
pub fn rota_local() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rota-local"))
}

/// `rota-local serve` running as a child process.
pub struct Serve {
    /// The gateway's URL, from serve's one line on stdout.
    pub gateway: String,
    child: Child,
    // Kept open: serve may still write to it.
    _stdout: Lines<BufReader<ChildStdout>>,
    stderr: JoinHandle<String>,
}

impl Serve {
    /// Starts `command` (a `serve` of [`rota_local`]) and waits until it listens.
    pub async fn start(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Drain stderr while serve runs (a full pipe would block it).
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text).await;
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
            .await
            .expect("serve did not start")
            .unwrap()
            .expect("serve exited");
        let gateway = line
            .strip_prefix("rota-local: serving on ")
            .unwrap()
            .to_string();
        Self {
            gateway,
            child,
            _stdout: stdout,
            stderr,
        }
    }

    /// SIGTERM; serve must stop cleanly. Returns what it wrote on stderr.
    pub async fn terminate(mut self) -> String {
        let pid = i32::try_from(self.child.id().unwrap()).unwrap();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("serve did not stop")
            .unwrap();
        assert!(status.success(), "{status}");
        self.stderr.await.unwrap()
    }
}
