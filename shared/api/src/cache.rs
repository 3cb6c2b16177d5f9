//! The cache: ElastiCache Serverless in AWS (Valkey, cluster mode, TLS only); locally a Redis
//! cluster of three primaries over TLS that `rota-local` starts (local/README.md).
//!
//! A cluster client: `REDIS_URL` names one endpoint (ElastiCache Serverless gives one), the
//! client reads the slot map from it and sends each command to the node that owns its key's
//! slot, following MOVED redirects and reconnecting to a node that went away. Every command and
//! script therefore names all its keys, and the keys of one command or script share a slot
//! (`{...}` hash tags; ElastiCache refuses a script that touches a key it did not declare, and
//! a cluster answers CROSSSLOT to keys in several slots). TLS roots: the platform's store, read
//! by rustls-native-certs, which honours `SSL_CERT_FILE`; rota-local sets it to its own CA, so
//! the binary is the one that runs in AWS.
//!
//! The connection is made lazily and shared by every invocation of the container, so a cache
//! outage never stops a function from starting. Every command goes through [`Cache::call`],
//! behind a circuit breaker: when the cache stops answering (refused, cut, or silent past the
//! timeout), the breaker opens and for [`COOL_DOWN`] every call fails at once without touching
//! the network; then one call (the probe) tries again — success closes the breaker, failure
//! opens it for another period (a probe whose caller drops it reports nothing, and the next call
//! probes again: the breaker never stays half-open). A dead cache (or a dead node: one breaker per container, not
//! per node) therefore costs each container at most one attempt every few seconds instead of
//! one per request, and callers fall back (per-container limits, computed stats, DynamoDB feed
//! reads) within microseconds.
//!
//! Hand-written rather than a crate: it is a few lines around one `Mutex`, and the crates on
//! offer (failsafe) bring policies and a future adaptor this does not need.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;

/// Per node connection (TCP and the TLS handshake): what a silent node costs a container's
/// probe, once per [`COOL_DOWN`] (a refused or reset one fails at once). A handshake takes a few
/// ms, but it needs CPU: locally a burst of cold containers (argon2 at once) starves it past
/// 250 ms, where a plain TCP connect never waited.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The whole first connection of a container: the seed, its slot map, then every node.
const CONNECT_BUDGET: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// Retries inside one command: a MOVED redirect (a slot that changed node) or a reconnect to a
/// node that went away; the whole command stays within [`RESPONSE_TIMEOUT`] * 2.
const RETRIES: u32 = 2;
/// How long the breaker stays open before one call may try Redis again.
pub const COOL_DOWN: Duration = Duration::from_secs(5);
/// The longest a probe can take (its connection, then its command), plus a margin: past it,
/// another call may probe.
const PROBE_DEADLINE: Duration = Duration::from_millis(
    CONNECT_BUDGET.as_millis() as u64 + 2 * RESPONSE_TIMEOUT.as_millis() as u64 + 500,
);

/// The message of the error an open breaker answers with.
const SHORT_CIRCUIT: &str = "cache circuit open";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    /// Failing fast until then.
    Open(Instant),
    /// One probe is out; the others fail fast until it reports, or until then (a probe that
    /// neither reports nor is dropped, never polled again, cannot hold the breaker).
    Probing(Instant),
}

/// Counts of what the breaker did (read by tests and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BreakerStats {
    /// Calls that reached Redis (or tried to connect).
    pub attempts: u64,
    /// Calls answered at once because the breaker was open.
    pub short_circuited: u64,
    /// Times the breaker opened.
    pub opened: u64,
}

struct Breaker {
    state: Mutex<(State, BreakerStats)>,
    cool_down: Duration,
}

impl Breaker {
    fn new(cool_down: Duration) -> Self {
        Self {
            state: Mutex::new((State::Closed, BreakerStats::default())),
            cool_down,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (State, BreakerStats)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go out now: `Some(true)` for the probe of an open breaker.
    fn admit(&self) -> Option<bool> {
        let mut guard = self.lock();
        let (state, stats) = &mut *guard;
        let now = Instant::now();
        let admitted = match *state {
            State::Closed => Some(false),
            State::Open(until) | State::Probing(until) if now >= until => {
                *state = State::Probing(now + PROBE_DEADLINE);
                Some(true)
            }
            State::Open(_) | State::Probing(_) => None,
        };
        if admitted.is_some() {
            stats.attempts += 1;
        } else {
            stats.short_circuited += 1;
        }
        admitted
    }

    fn record(&self, healthy: bool) {
        let mut guard = self.lock();
        let (state, stats) = &mut *guard;
        if healthy {
            *state = State::Closed;
        } else if !matches!(*state, State::Open(_)) {
            *state = State::Open(Instant::now() + self.cool_down);
            stats.opened += 1;
        }
    }

    /// A probe dropped before it reported (its caller cancelled it) learned nothing: the next
    /// call probes at once.
    fn abandon_probe(&self) {
        let mut guard = self.lock();
        if matches!(guard.0, State::Probing(_)) {
            guard.0 = State::Open(Instant::now());
        }
    }

    /// Runs `call` if the breaker admits it, and records how it went; a probe's future dropped
    /// before it ends leaves the breaker open for the next call to probe, never half-open.
    async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, redis::RedisError>>,
    ) -> Result<T, redis::RedisError> {
        /// Drop guard: armed while a probe is out.
        struct Probe<'a>(Option<&'a Breaker>);
        impl Drop for Probe<'_> {
            fn drop(&mut self) {
                if let Some(breaker) = self.0 {
                    breaker.abandon_probe();
                }
            }
        }

        let Some(probe) = self.admit() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                SHORT_CIRCUIT,
            )));
        };
        let mut guard = Probe(probe.then_some(self));
        let result = call.await;
        guard.0 = None;
        match &result {
            Err(err) if is_outage(err) => {
                tracing::warn!(error = %err, "cache unreachable; circuit open for {:?}", self.cool_down);
                self.record(false);
            }
            _ => self.record(true),
        }
        result
    }
}

/// Whether `err` says the cache (or the node that owns the key) is unreachable, as opposed to
/// an answer we did not like: a refused, cut or silent connection, or a cluster that says a
/// slot has no serving node (CLUSTERDOWN, TRYAGAIN, MASTERDOWN, LOADING after a restart).
fn is_outage(err: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_unrecoverable_error()
        || err.is_cluster_error()
        || matches!(
            err.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading)
        )
}

/// Whether `err` is the breaker's own fast answer (no network was used).
pub fn is_short_circuit(err: &redis::RedisError) -> bool {
    err.to_string().contains(SHORT_CIRCUIT)
}

/// How a [`Cache`] is made; [`Cache::new`] takes the defaults.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// How long the breaker stays open ([`COOL_DOWN`]; tests use a short one).
    pub cool_down: Duration,
    /// The roots to trust, PEM, instead of the platform's store (`SSL_CERT_FILE`): for tests
    /// that build their own client in process. The functions never set it.
    pub root_ca_pem: Option<Vec<u8>>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            cool_down: COOL_DOWN,
            root_ca_pem: None,
        }
    }
}

pub struct Cache {
    client: ClusterClient,
    conn: tokio::sync::OnceCell<ClusterConnection>,
    breaker: Breaker,
}

impl Cache {
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Self::with_options(url, CacheOptions::default())
    }

    /// A cache whose breaker stays open for `cool_down` (tests use a short one).
    pub fn with_cool_down(url: &str, cool_down: Duration) -> Result<Self, redis::RedisError> {
        Self::with_options(
            url,
            CacheOptions {
                cool_down,
                ..CacheOptions::default()
            },
        )
    }

    pub fn with_options(url: &str, options: CacheOptions) -> Result<Self, redis::RedisError> {
        let mut builder = ClusterClientBuilder::new(vec![url])
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .overall_response_timeout(Some(RESPONSE_TIMEOUT * 2))
            .retries(RETRIES)
            .min_retry_wait(5)
            .max_retry_wait(50);
        if let Some(root) = options.root_ca_pem {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root),
            });
        }
        Ok(Self {
            client: builder.build()?,
            conn: tokio::sync::OnceCell::new(),
            breaker: Breaker::new(options.cool_down),
        })
    }

    async fn connection(&self) -> Result<ClusterConnection, redis::RedisError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                tokio::time::timeout(CONNECT_BUDGET, self.client.get_async_connection())
                    .await
                    .map_err(|_| {
                        redis::RedisError::from((redis::ErrorKind::Io, "connect timed out"))
                    })?
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs `command` on the shared connection, behind the circuit breaker (module docs).
    pub async fn call<T, F, Fut>(&self, command: F) -> Result<T, redis::RedisError>
    where
        F: FnOnce(ClusterConnection) -> Fut,
        Fut: Future<Output = Result<T, redis::RedisError>>,
    {
        self.breaker
            .run(async {
                let conn = self.connection().await?;
                // The client's own timeouts bound each attempt; this bounds the whole command
                // (a reconnect included).
                tokio::time::timeout(RESPONSE_TIMEOUT * 2, command(conn))
                    .await
                    .map_err(|_| {
                        redis::RedisError::from((redis::ErrorKind::Io, "command timed out"))
                    })?
            })
            .await
    }

    /// Runs one plain command through [`Self::call`] (counted as a Redis call in diagnostic
    /// builds): what every user of the cache sends but scripts.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, redis::RedisError> {
        self.call(|mut conn| async move {
            rota_lambda::diagnostics::redis_call(command.query_async(&mut conn)).await
        })
        .await
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        self.call(|mut conn| async move {
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    /// What the breaker has done so far in this container.
    pub fn breaker_stats(&self) -> BreakerStats {
        self.breaker.lock().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ElastiCache runs a Lua script only when it names every key it touches in `KEYS` (and a
    /// cluster only when they share a slot): every `redis.call` of every script in this crate
    /// takes `KEYS[n]` as its key.
    #[test]
    fn every_script_declares_the_keys_it_touches() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let needle = concat!("redis", ".call(");
        let mut calls = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for call in text.split(needle).skip(1) {
                let args = call.split(')').next().unwrap_or_default();
                let key = args.split(',').nth(1).map(str::trim).unwrap_or_default();
                assert!(
                    key.starts_with("KEYS["),
                    "{}: {needle}{args}) touches a key it does not declare",
                    file.display()
                );
                calls += 1;
            }
        }
        // The rate limit's script (INCR, TTL, EXPIRE) and the stats lock's (GET, DEL).
        assert!(calls >= 5, "{calls} calls found");
    }

    #[test]
    fn an_open_breaker_lets_one_probe_through_after_its_cool_down() {
        let breaker = Breaker::new(Duration::from_millis(30));
        assert!(breaker.admit().is_some());
        breaker.record(false);
        // Open: everyone fails fast.
        assert!(breaker.admit().is_none());
        assert!(breaker.admit().is_none());
        std::thread::sleep(Duration::from_millis(40));
        // One probe, and only one, until it reports.
        assert!(breaker.admit().is_some());
        assert!(breaker.admit().is_none());
        breaker.record(false);
        assert!(breaker.admit().is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.admit().is_some());
        breaker.record(true);
        assert!(breaker.admit().is_some());
        assert!(breaker.admit().is_some());
        let stats = breaker.lock().1;
        assert_eq!(stats.opened, 2);
        assert_eq!(stats.short_circuited, 4);
        assert_eq!(stats.attempts, 5);
    }

    /// A probe whose caller gives up (its future dropped: a request timing out, a `select!`
    /// taking another branch) must not leave the breaker half-open: the next call probes again.
    #[test]
    fn a_probe_that_never_reports_is_replaced_after_its_deadline() {
        let breaker = Breaker::new(Duration::from_millis(10));
        breaker.lock().0 = State::Probing(Instant::now() + Duration::from_millis(20));
        assert_eq!(breaker.admit(), None, "the probe is still out");
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(
            breaker.admit(),
            Some(true),
            "a new probe after the deadline"
        );
    }

    #[tokio::test]
    async fn a_cancelled_probe_does_not_leave_the_breaker_half_open() {
        // A server that accepts connections and never answers: every call hangs.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", silent.local_addr().unwrap());
        let cache = Cache::with_cool_down(&url, Duration::from_millis(20)).unwrap();
        cache.breaker.record(false);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let ping = || tokio::time::timeout(Duration::from_millis(50), cache.ping());
        // The probe goes out and is abandoned by its caller.
        assert!(ping().await.is_err(), "the silent server answered");
        assert_eq!(cache.breaker_stats().attempts, 1);
        // The next call is let through as a probe of its own, not short-circuited forever.
        let _ = ping().await;
        let stats = cache.breaker_stats();
        assert_eq!(stats.attempts, 2, "{stats:?}");
        assert_eq!(stats.short_circuited, 0, "{stats:?}");
        drop(silent);
    }
}
