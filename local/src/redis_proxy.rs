//! Redis outages: a TCP proxy in front of the real Redis that goes down on a schedule
//! (`redis.outage` of a fault profile).
//!
//! Outside outages bytes pass both ways unchanged. When an outage starts every proxied
//! connection is cut (reset), and until it ends new connections are reset at once
//! ([`OutageMode::Refuse`]) or accepted, read and never answered ([`OutageMode::Blackhole`];
//! closed when the outage ends). The functions get the proxy's URL as `REDIS_URL`, with the
//! scheme, credentials and database of the real one, so they meet the outage as they would
//! meet a failed ElastiCache node. In front of the stack's own cluster there is one listener
//! per node, all on one schedule, and each node announces its listener's port
//! (`cluster-announce-tls-port`), so the slot map sends clients through the proxy too. TLS
//! passes through unchanged (the certificate names 127.0.0.1, where the proxy listens).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::faults::{
    FaultCounts, OutageMode, REDIS_CONNECTIONS_CUT, REDIS_CONNECTIONS_REFUSED, REDIS_OUTAGES,
    RedisOutage,
};

/// A running proxy. Dropping it stops it and closes every connection.
pub struct RedisProxy {
    /// Where it listens (127.0.0.1, a free port); the first of [`RedisProxy::addrs`].
    pub addr: SocketAddr,
    /// Every listener: one per upstream (a cluster's nodes each have their own).
    pub addrs: Vec<SocketAddr>,
    /// The Redis URL to give the functions.
    pub url: String,
    state: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RedisProxy {
    /// Starts a proxy to the Redis of `redis_url` that follows `outage` (its clock starts now).
    pub async fn start(
        redis_url: &str,
        outage: RedisOutage,
        counts: Arc<FaultCounts>,
    ) -> anyhow::Result<Self> {
        let target = RedisTarget::parse(redis_url)?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen for the Redis proxy")?;
        let url = target.url_via(listener.local_addr()?);
        Self::start_routes(vec![(listener, target.upstream)], url, outage, counts)
    }

    /// Starts one outage schedule (its clock starts now) over several listeners, each in front
    /// of its own upstream `host:port`: a cluster's nodes, each announcing its proxy's port so
    /// that clients reach every node through it. `url` is what the functions get.
    pub fn start_routes(
        routes: Vec<(TcpListener, String)>,
        url: String,
        outage: RedisOutage,
        counts: Arc<FaultCounts>,
    ) -> anyhow::Result<Self> {
        let addrs = routes
            .iter()
            .map(|(listener, _)| listener.local_addr())
            .collect::<std::io::Result<Vec<_>>>()?;
        let Some(&addr) = addrs.first() else {
            bail!("a Redis proxy needs at least one upstream");
        };
        for key in [
            REDIS_OUTAGES,
            REDIS_CONNECTIONS_CUT,
            REDIS_CONNECTIONS_REFUSED,
        ] {
            counts.declare(key);
        }
        let (state_tx, state) = watch::channel(false);
        let upstreams: Vec<String> = routes.iter().map(|(_, up)| up.clone()).collect();
        let mut tasks = vec![tokio::spawn(run_schedule(
            outage,
            Instant::now(),
            state_tx,
            counts.clone(),
        ))];
        for (listener, upstream) in routes {
            tasks.push(tokio::spawn(accept_loop(
                listener,
                upstream,
                outage.mode,
                state.clone(),
                counts.clone(),
            )));
        }
        let pairs: Vec<String> = addrs
            .iter()
            .zip(&upstreams)
            .map(|(a, up)| format!("{a} → {up}"))
            .collect();
        tracing::info!(
            "Redis proxy {} (outage {} s of every {} s from {} s, {:?}); functions get \
             REDIS_URL={url}",
            pairs.join(", "),
            outage.down_s,
            outage.every_s,
            outage.offset_s,
            outage.mode
        );
        Ok(Self {
            addr,
            addrs,
            url,
            state,
            tasks,
        })
    }

    /// Whether an outage is going on.
    pub fn is_down(&self) -> bool {
        *self.state.borrow()
    }

    /// Follows the outages: `true` while Redis is down.
    pub fn state(&self) -> watch::Receiver<bool> {
        self.state.clone()
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        // The accept loop owns the connection tasks (a JoinSet): aborting it ends them all.
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Where a Redis URL points, and how to rewrite it to go through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// `host:port` of the real Redis.
    pub upstream: String,
    scheme: String,
    /// `user:password@`, or empty.
    userinfo: String,
    /// Everything after the authority (`/db`, `?query`), unchanged.
    tail: String,
}

impl RedisTarget {
    /// Parses `redis://[user:password@]host[:port][/db][?query]` (or `rediss://`).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("{url} is not a Redis URL");
        };
        if scheme != "redis" && scheme != "rediss" {
            bail!("the Redis proxy needs a TCP Redis URL (redis:// or rediss://), not {url}");
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((user, hp)) => (format!("{user}@"), hp),
            None => (String::new(), authority),
        };
        // `[::1]:6379` or `host:6379`; the port defaults to Redis's.
        let has_port = match host_port.rfind(':') {
            Some(i) => !host_port[i..].contains(']'),
            None => false,
        };
        let upstream = if host_port.is_empty() {
            bail!("{url} names no host");
        } else if has_port {
            host_port.to_string()
        } else {
            format!("{host_port}:6379")
        };
        Ok(Self {
            upstream,
            scheme: scheme.to_string(),
            userinfo,
            tail: tail.to_string(),
        })
    }

    /// The same URL with the proxy as host and port.
    pub fn url_via(&self, proxy: SocketAddr) -> String {
        format!("{}://{}{proxy}{}", self.scheme, self.userinfo, self.tail)
    }
}

/// Whether Redis is down `elapsed` after the proxy started.
pub fn is_down_at(outage: &RedisOutage, elapsed: Duration) -> bool {
    let t = elapsed.as_secs_f64() - outage.offset_s;
    t >= 0.0 && t.rem_euclid(outage.every_s) < outage.down_s
}

/// How long after `elapsed` the state next changes (`None`: never).
fn next_change(outage: &RedisOutage, elapsed: Duration) -> Option<Duration> {
    if outage.down_s <= 0.0 {
        return None;
    }
    let t = elapsed.as_secs_f64() - outage.offset_s;
    let wait = if t < 0.0 {
        -t
    } else {
        let phase = t.rem_euclid(outage.every_s);
        if outage.down_s >= outage.every_s {
            return None;
        }
        if phase < outage.down_s {
            outage.down_s - phase
        } else {
            outage.every_s - phase
        }
    };
    Some(Duration::from_secs_f64(wait))
}

async fn run_schedule(
    outage: RedisOutage,
    started: Instant,
    state: watch::Sender<bool>,
    counts: Arc<FaultCounts>,
) {
    let mut since = Instant::now();
    loop {
        let elapsed = started.elapsed();
        let down = is_down_at(&outage, elapsed);
        if down != *state.borrow() {
            state.send_replace(down);
            if down {
                counts.add(REDIS_OUTAGES);
                tracing::warn!(
                    "Redis outage #{} starts: down for {} s ({:?})",
                    counts.get(REDIS_OUTAGES),
                    outage.down_s,
                    outage.mode
                );
            } else {
                tracing::info!(
                    "Redis outage ends after {:.1} s: connections pass again",
                    since.elapsed().as_secs_f64()
                );
            }
            since = Instant::now();
        }
        let Some(wait) = next_change(&outage, elapsed) else {
            // Never changes again: nothing left to do but keep the state.
            std::future::pending::<()>().await;
            return;
        };
        // A millisecond past the boundary, so float rounding never leaves us just before it.
        tokio::time::sleep(wait + Duration::from_millis(1)).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    mode: OutageMode,
    state: watch::Receiver<bool>,
    counts: Arc<FaultCounts>,
) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (client, _) = crate::net::accept(&listener, "Redis proxy").await;
        if !*state.borrow() {
            connections.spawn(pass(
                client,
                upstream.clone(),
                state.clone(),
                counts.clone(),
            ));
            continue;
        }
        counts.add(REDIS_CONNECTIONS_REFUSED);
        match mode {
            OutageMode::Refuse => reset(client),
            OutageMode::Blackhole => {
                connections.spawn(blackhole(client, state.clone()));
            }
        }
    }
}

/// Proxies one connection until either side closes it or an outage cuts it.
async fn pass(
    mut client: TcpStream,
    upstream: String,
    mut state: watch::Receiver<bool>,
    counts: Arc<FaultCounts>,
) {
    let mut server = match TcpStream::connect(&upstream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("Redis proxy: cannot reach Redis at {upstream}: {e}");
            reset(client);
            return;
        }
    };
    // Redis traffic is small request/response pairs: no Nagle delays through the proxy.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = state.wait_for(|down| *down) => {
            counts.add(REDIS_CONNECTIONS_CUT);
            reset(client);
            reset(server);
        }
    }
}

/// Reads and discards until the client gives up or the outage ends (then closes).
async fn blackhole(mut client: TcpStream, mut state: watch::Receiver<bool>) {
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            r = client.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) {
                return;
            },
            _ = state.wait_for(|down| !*down) => return,
        }
    }
}

/// Closes with a reset rather than an orderly shutdown: a cut, not a goodbye.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(every_s: f64, down_s: f64, offset_s: f64) -> RedisOutage {
        RedisOutage {
            every_s,
            down_s,
            offset_s,
            mode: OutageMode::Refuse,
        }
    }

    #[test]
    fn schedule() {
        let o = outage(20.0, 10.0, 5.0);
        let at = |s: f64| is_down_at(&o, Duration::from_secs_f64(s));
        assert!(!at(0.0) && !at(4.9));
        assert!(at(5.0) && at(14.9));
        assert!(!at(15.0) && !at(24.9));
        assert!(at(25.0) && at(34.9) && !at(35.0));
        let next = |s: f64| next_change(&o, Duration::from_secs_f64(s)).map(|d| d.as_secs_f64());
        assert_eq!(next(0.0), Some(5.0));
        assert_eq!(next(5.0), Some(10.0));
        assert_eq!(next(15.0), Some(10.0));
        assert_eq!(next(26.0), Some(9.0));
        // Never down, or always down after the offset: no further changes.
        assert_eq!(next_change(&outage(20.0, 0.0, 0.0), Duration::ZERO), None);
        assert!(!is_down_at(&outage(20.0, 0.0, 0.0), Duration::from_secs(3)));
        let always = outage(20.0, 20.0, 1.0);
        assert_eq!(
            next_change(&always, Duration::ZERO),
            Some(Duration::from_secs(1))
        );
        assert!(is_down_at(&always, Duration::from_secs(100)));
        assert_eq!(next_change(&always, Duration::from_secs(2)), None);
    }

    #[test]
    fn urls_keep_everything_but_the_address() {
        let proxy: SocketAddr = "127.0.0.1:41000".parse().unwrap();
        let cases = [
            (
                "redis://127.0.0.1:6379",
                "127.0.0.1:6379",
                "redis://127.0.0.1:41000",
            ),
            (
                "redis://127.0.0.1:6379/12",
                "127.0.0.1:6379",
                "redis://127.0.0.1:41000/12",
            ),
            (
                "redis://localhost/3?protocol=resp3",
                "localhost:6379",
                "redis://127.0.0.1:41000/3?protocol=resp3",
            ),
            (
                "rediss://user:p%40ss@cache:6380/1",
                "cache:6380",
                "rediss://user:p%40ss@127.0.0.1:41000/1",
            ),
            (
                "redis://[::1]:6390/2",
                "[::1]:6390",
                "redis://127.0.0.1:41000/2",
            ),
            ("redis://[::1]", "[::1]:6379", "redis://127.0.0.1:41000"),
        ];
        for (url, upstream, via) in cases {
            let t = RedisTarget::parse(url).unwrap();
            assert_eq!(t.upstream, upstream, "{url}");
            assert_eq!(t.url_via(proxy), via, "{url}");
        }
        for bad in [
            "127.0.0.1:6379",
            "redis+unix:///tmp/redis.sock",
            "redis:///0",
        ] {
            assert!(RedisTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
