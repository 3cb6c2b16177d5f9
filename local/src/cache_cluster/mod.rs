//! The cache as ElastiCache Serverless runs it: a Redis cluster (cluster mode, [`PRIMARIES`]
//! primaries, every slot served) over TLS only, one per stack, started and stopped with it.
//!
//! - Each node is a `redis-server` child (7.0 or newer, built with TLS: Debian's is) listening on
//!   TLS only (`--port 0 --tls-port`), the cluster bus over TLS too, with the certificate of a
//!   local CA made once per repository ([`ca`], `.local/ca/`). Nothing is persisted (`--save ""
//!   --appendonly no`): it is a cache.
//! - The slots are split evenly (CLUSTER ADDSLOTSRANGE), the nodes meet (CLUSTER MEET), and the
//!   stack serves only once every node reports `cluster_state:ok` and the whole slot map.
//! - A node that dies is started again with the same ports and `nodes.conf` (in the stack's own
//!   directory), so it comes back with its identity and slots, empty, as a replaced node does;
//!   the functions' client reconnects to it (`shared/api/src/cache.rs`).
//! - The functions get `rediss://127.0.0.1:<port of the first node>` (one endpoint, as
//!   ElastiCache Serverless gives; the client reads the slot map from it) and trust the CA
//!   through `SSL_CERT_FILE` (the platform root store the redis crate reads, so the binary is
//!   the one that runs in AWS).
//! - Under a profile with `redis.outage`, a proxy listener stands in front of each node, on one
//!   schedule, and each node announces its listener's port (`cluster-announce-tls-port`): the
//!   slot map then sends every client connection through the proxy.
//! - `--redis-url` points the functions at an existing Redis cluster instead (and `--cache-ca`
//!   at the CA it is signed by, if not a public one).
//!
//! Why one cluster per stack rather than one shared: cluster mode has only database 0, so
//! stacks (`make run`, a second port, the test harness, the bad-day run) would share keys.

pub mod ca;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::faults::{FaultCounts, RedisOutage};
use crate::redis_proxy::RedisProxy;
pub use ca::LocalCa;

/// Primaries of the stack's own cluster (no replicas: a node that dies is restarted).
pub const PRIMARIES: usize = 3;
/// Redis Cluster's hash slots.
const SLOTS: u16 = 16384;
/// How long the nodes may take to start and agree on the slot map.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node gets to stop before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before a node that died is started again.
const RESTART_DELAY: Duration = Duration::from_millis(300);
/// Where the local CA is made, relative to the repository root.
pub const CA_DIR: &str = ".local/ca";

/// What the stack's cache is made of (`serve`'s `--redis-url`, `--cache-ca` and profile).
pub struct CacheConfig {
    /// An existing Redis to use instead of a cluster of the stack's own.
    pub given_url: Option<String>,
    /// The CA the functions trust for `given_url` (their `SSL_CERT_FILE`).
    pub given_ca: Option<PathBuf>,
    /// Where the local CA is (made there on first use).
    pub ca_dir: PathBuf,
    /// The stack's directory for its nodes (emptied at start).
    pub dir: PathBuf,
    /// Where each node's log goes (`cache-node-<n>.log`).
    pub logs_dir: PathBuf,
    /// The fault profile's Redis outages, if any.
    pub outage: Option<RedisOutage>,
    pub counts: Arc<FaultCounts>,
}

/// The cache the functions get; stop it with [`StackCache::stop`] (dropping it kills the nodes).
pub struct StackCache {
    /// The URL the functions get (`REDIS_URL`): the first node's, or its proxy's.
    pub url: String,
    /// The CA the functions trust (`SSL_CERT_FILE`), when there is one to give.
    pub ca_file: Option<PathBuf>,
    cluster: Option<CacheCluster>,
    proxy: Option<RedisProxy>,
}

impl StackCache {
    pub async fn start(config: CacheConfig) -> anyhow::Result<Self> {
        if let Some(url) = &config.given_url {
            warn_if_unreachable(url).await;
            let proxy = match config.outage {
                Some(outage) => Some(RedisProxy::start(url, outage, config.counts.clone()).await?),
                None => None,
            };
            return Ok(Self {
                url: proxy
                    .as_ref()
                    .map_or_else(|| url.clone(), |p| p.url.clone()),
                ca_file: config.given_ca.clone(),
                cluster: None,
                proxy,
            });
        }
        let ca = LocalCa::ensure(&config.ca_dir)?;
        // The proxy's listeners come first: the nodes announce their ports.
        let mut listeners = Vec::new();
        if config.outage.is_some() {
            for _ in 0..PRIMARIES {
                listeners.push(
                    TcpListener::bind(("127.0.0.1", 0))
                        .await
                        .context("cannot listen for the Redis proxy")?,
                );
            }
        }
        let announce = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<_>>>()?;
        let cluster = CacheCluster::start(&ca, &config.dir, &config.logs_dir, &announce).await?;
        let proxy = match config.outage {
            Some(outage) => {
                let url = format!("rediss://127.0.0.1:{}", announce[0]);
                let routes = listeners
                    .into_iter()
                    .zip(
                        cluster
                            .nodes
                            .iter()
                            .map(|n| format!("127.0.0.1:{}", n.tls_port)),
                    )
                    .collect();
                Some(RedisProxy::start_routes(
                    routes,
                    url,
                    outage,
                    config.counts.clone(),
                )?)
            }
            None => None,
        };
        Ok(Self {
            url: proxy
                .as_ref()
                .map_or_else(|| cluster.url.clone(), |p| p.url.clone()),
            ca_file: Some(ca.ca_cert()),
            cluster: Some(cluster),
            proxy,
        })
    }

    /// The nodes of the stack's own cluster, as `rediss://127.0.0.1:<port>` (direct, not
    /// through the proxy); empty with `--redis-url`.
    pub fn node_urls(&self) -> Vec<String> {
        self.cluster.as_ref().map_or_else(Vec::new, |c| {
            c.nodes
                .iter()
                .map(|n| format!("rediss://127.0.0.1:{}", n.tls_port))
                .collect()
        })
    }

    /// Stops the proxy, then the nodes.
    pub async fn stop(&mut self) {
        drop(self.proxy.take());
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.stop().await;
        }
    }
}

/// Warns (only) when nothing accepts connections at `url`: the functions report it themselves.
async fn warn_if_unreachable(url: &str) {
    let Ok(target) = crate::redis_proxy::RedisTarget::parse(url) else {
        return;
    };
    let connect = tokio::net::TcpStream::connect(target.upstream.as_str());
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok(_)) => {}
        _ => tracing::warn!("Redis at {url} does not accept connections"),
    }
}

/// One node: how it is started (again, after a crash, with the same ports and files).
#[derive(Debug, Clone)]
struct NodeSpec {
    index: usize,
    tls_port: u16,
    bus_port: u16,
    /// The client port it announces (its proxy's), when not its own.
    announce_port: Option<u16>,
    dir: PathBuf,
    log: PathBuf,
    ca: LocalCa,
}

impl NodeSpec {
    fn spawn(&self) -> anyhow::Result<Child> {
        let path = |p: &Path| p.display().to_string();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", "0"])
            .args(["--tls-port", &self.tls_port.to_string()])
            .args(["--tls-cert-file", &path(&self.ca.server_cert())])
            .args(["--tls-key-file", &path(&self.ca.server_key())])
            .args(["--tls-ca-cert-file", &path(&self.ca.ca_cert())])
            // Clients authenticate nothing at the TLS level, as with ElastiCache.
            .args(["--tls-auth-clients", "no"])
            .args(["--tls-cluster", "yes", "--tls-replication", "yes"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &path(&self.dir.join("nodes.conf"))])
            .args(["--cluster-port", &self.bus_port.to_string()])
            .args(["--cluster-node-timeout", "5000"])
            // The other nodes' slots keep being served while one node is down.
            .args(["--cluster-require-full-coverage", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &path(&self.dir)])
            .args(["--logfile", &path(&self.log)])
            .args(["--daemonize", "no"]);
        if let Some(port) = self.announce_port {
            cmd.args(["--cluster-announce-tls-port", &port.to_string()]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        crate::process::harden_child(&mut cmd);
        cmd.spawn().context(
            "cannot start redis-server (the local cache needs Redis 7 built with TLS: \
             apt-get install redis-server)",
        )
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }

    /// The last lines of its log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

/// The stack's own cluster; stopped by [`CacheCluster::stop`], killed if dropped.
struct CacheCluster {
    nodes: Vec<NodeSpec>,
    /// The first node's URL.
    url: String,
    stop: watch::Sender<bool>,
    supervisors: Vec<JoinHandle<()>>,
}

impl CacheCluster {
    async fn start(
        ca: &LocalCa,
        dir: &Path,
        logs_dir: &Path,
        announce: &[u16],
    ) -> anyhow::Result<Self> {
        // Absolute paths: redis-server changes into its --dir before it opens the others.
        let dir = &std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let logs_dir = &std::path::absolute(logs_dir).unwrap_or_else(|_| logs_dir.to_path_buf());
        // A fresh cluster every time: an old nodes.conf names ports that are gone.
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot empty {}", dir.display()))?;
        }
        std::fs::create_dir_all(logs_dir)
            .with_context(|| format!("cannot create {}", logs_dir.display()))?;
        let ports = free_ports(2 * PRIMARIES)?;
        let mut nodes = Vec::new();
        for index in 0..PRIMARIES {
            let node_dir = dir.join(format!("node-{index}"));
            std::fs::create_dir_all(&node_dir)
                .with_context(|| format!("cannot create {}", node_dir.display()))?;
            nodes.push(NodeSpec {
                index,
                tls_port: ports[2 * index],
                bus_port: ports[2 * index + 1],
                announce_port: announce.get(index).copied(),
                dir: node_dir,
                log: logs_dir.join(format!("cache-node-{index}.log")),
                ca: ca.clone(),
            });
        }
        let root = std::fs::read(ca.ca_cert())?;
        let mut children = Vec::new();
        for node in &nodes {
            children.push(node.spawn()?);
        }
        // Children are killed if anything below fails (kill_on_drop).
        let started = Instant::now();
        for (node, child) in nodes.iter().zip(children.iter_mut()) {
            wait_until_up(node, child, &root, started).await?;
        }
        form(&nodes, &root).await?;
        tracing::info!(
            "cache: Redis cluster of {PRIMARIES} primaries over TLS on {} (CA {})",
            nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.tls_port))
                .collect::<Vec<_>>()
                .join(", "),
            ca.ca_cert().display()
        );
        let (stop, stopping) = watch::channel(false);
        let supervisors = nodes
            .iter()
            .cloned()
            .zip(children)
            .map(|(node, child)| {
                tokio::spawn(supervise(node, child, stopping.clone(), root.clone()))
            })
            .collect();
        Ok(Self {
            url: nodes[0].url(),
            nodes,
            stop,
            supervisors,
        })
    }

    /// SIGTERM to every node (SIGKILL after [`STOP_TIMEOUT`]).
    async fn stop(&mut self) {
        let _ = self.stop.send(true);
        for task in self.supervisors.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for CacheCluster {
    fn drop(&mut self) {
        // Aborting a supervisor drops its child, which kills it (kill_on_drop).
        for task in &self.supervisors {
            task.abort();
        }
    }
}

/// `n` distinct free ports on 127.0.0.1 (held together while chosen, then released).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let held = (0..n)
        .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot find free ports for the cache")?;
    Ok(held
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect())
}

/// A connection to one node, verified against the local CA.
async fn connect(url: &str, root: &[u8]) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root.to_vec()),
        },
    )?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn ping(url: &str, root: &[u8]) -> redis::RedisResult<()> {
    let mut conn = connect(url, root).await?;
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    Ok(())
}

/// Waits until `node` answers PING over TLS; fails at once if it exited.
async fn wait_until_up(
    node: &NodeSpec,
    child: &mut Child,
    root: &[u8],
    started: Instant,
) -> anyhow::Result<()> {
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "cache node {} exited at start ({status}); {}:\n{}",
                node.index,
                node.log.display(),
                node.log_tail()
            );
        }
        match ping(&node.url(), root).await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() > START_TIMEOUT => {
                bail!(
                    "cache node {} does not answer on {} within {START_TIMEOUT:?}: {e}",
                    node.index,
                    node.url()
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Splits the slots, introduces the nodes, and waits until every node serves the whole map.
async fn form(nodes: &[NodeSpec], root: &[u8]) -> anyhow::Result<()> {
    let per_node = SLOTS / nodes.len() as u16;
    for (i, node) in nodes.iter().enumerate() {
        let first = per_node * i as u16;
        let last = if i + 1 == nodes.len() {
            SLOTS - 1
        } else {
            first + per_node - 1
        };
        let mut conn = connect(&node.url(), root).await?;
        redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(first)
            .arg(last)
            .query_async::<()>(&mut conn)
            .await
            .with_context(|| format!("cache node {}: CLUSTER ADDSLOTSRANGE", node.index))?;
    }
    let mut first = connect(&nodes[0].url(), root).await?;
    for node in &nodes[1..] {
        redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(node.tls_port)
            .arg(node.bus_port)
            .query_async::<()>(&mut first)
            .await
            .with_context(|| format!("cache node 0: CLUSTER MEET node {}", node.index))?;
    }
    let expected: Vec<u16> = nodes
        .iter()
        .map(|n| n.announce_port.unwrap_or(n.tls_port))
        .collect();
    let started = Instant::now();
    loop {
        let mut formed = true;
        for node in nodes {
            if !serves_whole_map(node, root, &expected).await {
                formed = false;
                break;
            }
        }
        if formed {
            return Ok(());
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("the cache nodes did not agree on the slot map within {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `node` says the cluster is ok and lists every node, at its announced port, as
/// serving its slots (what a client reads when it connects there).
async fn serves_whole_map(node: &NodeSpec, root: &[u8], ports: &[u16]) -> bool {
    let Ok(mut conn) = connect(&node.url(), root).await else {
        return false;
    };
    let info: String = match redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut conn)
        .await
    {
        Ok(info) => info,
        Err(_) => return false,
    };
    if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
        return false;
    }
    let slots: Vec<(i64, i64, Vec<redis::Value>)> = match redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async::<redis::Value>(&mut conn)
        .await
    {
        Ok(redis::Value::Array(ranges)) => ranges
            .into_iter()
            .filter_map(|r| redis::from_redis_value(r).ok())
            .collect(),
        _ => return false,
    };
    let mut seen: Vec<u16> = slots
        .iter()
        .filter_map(|(_, _, primary)| match primary.get(1) {
            Some(redis::Value::Int(port)) => u16::try_from(*port).ok(),
            _ => None,
        })
        .collect();
    let covered: i64 = slots.iter().map(|(a, b, _)| b - a + 1).sum();
    seen.sort_unstable();
    let mut want = ports.to_vec();
    want.sort_unstable();
    covered == i64::from(SLOTS) && seen == want
}

/// Keeps `node` running until the stack stops: a node that dies is started again with the
/// same ports and `nodes.conf` (its identity and slots), as ElastiCache replaces a failed node.
async fn supervise(
    node: NodeSpec,
    mut child: Child,
    mut stopping: watch::Receiver<bool>,
    root: Vec<u8>,
) {
    loop {
        let exited = tokio::select! {
            status = child.wait() => Some(status),
            _ = stopping.wait_for(|stop| *stop) => None,
        };
        let Some(status) = exited else {
            terminate(&mut child).await;
            return;
        };
        if *stopping.borrow() {
            return;
        }
        tracing::warn!(
            "cache node {} (127.0.0.1:{}) exited ({}); starting it again with its slots",
            node.index,
            node.tls_port,
            status.map_or_else(|e| e.to_string(), |s| s.to_string()),
        );
        child = loop {
            tokio::time::sleep(RESTART_DELAY).await;
            if *stopping.borrow() {
                return;
            }
            match node.spawn() {
                Ok(c) => break c,
                Err(e) => tracing::warn!("cache node {}: {e:#}", node.index),
            }
        };
        match wait_until_up(&node, &mut child, &root, Instant::now()).await {
            Ok(()) => tracing::info!("cache node {} is back", node.index),
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if tokio::time::timeout(STOP_TIMEOUT, child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}
