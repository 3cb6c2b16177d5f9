//! The cache cluster (ElastiCache Redis; locally the real Redis on 127.0.0.1:6379).
//!
//! The connection is made lazily and shared by every invocation of the container, so a cache
//! outage never stops a function from starting. Every command goes through [`Cache::call`],
//! behind a circuit breaker: when Redis stops answering (refused, cut, or silent past the
//! timeout), the breaker opens and for [`COOL_DOWN`] every call fails at once without touching
//! the network; then one call (the probe) tries again — success closes the breaker, failure
//! opens it for another period. A dead cache therefore costs each container at most one
//! connection attempt every few seconds instead of one per request, and callers fall back
//! (per-container limits, computed stats) within microseconds.
//!
//! Hand-written rather than a crate: it is a few lines around one `Mutex`, and the crates on
//! offer (failsafe) bring policies and a future adaptor this does not need.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the breaker stays open before one call may try Redis again.
pub const COOL_DOWN: Duration = Duration::from_secs(5);

/// The message of the error an open breaker answers with.
const SHORT_CIRCUIT: &str = "cache circuit open";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    /// Failing fast until then.
    Open(Instant),
    /// One probe is out; the others fail fast until it reports.
    Probing,
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

    /// Whether a call may go out now.
    fn admit(&self) -> bool {
        let mut guard = self.lock();
        let (state, stats) = &mut *guard;
        let admitted = match *state {
            State::Closed => true,
            State::Open(until) if Instant::now() >= until => {
                *state = State::Probing;
                true
            }
            State::Open(_) | State::Probing => false,
        };
        if admitted {
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
}

/// Whether `err` says Redis itself is unreachable (as opposed to an answer we did not like).
fn is_outage(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_unrecoverable_error()
}

/// Whether `err` is the breaker's own fast answer (no network was used).
pub fn is_short_circuit(err: &redis::RedisError) -> bool {
    err.to_string().contains(SHORT_CIRCUIT)
}

pub struct Cache {
    client: redis::Client,
    conn: tokio::sync::OnceCell<ConnectionManager>,
    breaker: Breaker,
}

impl Cache {
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Self::with_cool_down(url, COOL_DOWN)
    }

    /// A cache whose breaker stays open for `cool_down` (tests use a short one).
    pub fn with_cool_down(url: &str, cool_down: Duration) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: tokio::sync::OnceCell::new(),
            breaker: Breaker::new(cool_down),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    CONNECT_TIMEOUT * 2,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "connect timed out")))?
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs `command` on the shared connection, behind the circuit breaker (module docs).
    pub async fn call<T, F, Fut>(&self, command: F) -> Result<T, redis::RedisError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, redis::RedisError>>,
    {
        if !self.breaker.admit() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                SHORT_CIRCUIT,
            )));
        }
        let result = async {
            let conn = self.connection().await?;
            // The manager's own timeouts bound each read; this bounds the whole command
            // (a reconnect included).
            tokio::time::timeout(RESPONSE_TIMEOUT * 2, command(conn))
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "command timed out")))?
        }
        .await;
        match &result {
            Err(err) if is_outage(err) => {
                tracing::warn!(error = %err, "cache unreachable; circuit open for {:?}", self.breaker.cool_down);
                self.breaker.record(false);
            }
            _ => self.breaker.record(true),
        }
        result
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

    #[test]
    fn an_open_breaker_lets_one_probe_through_after_its_cool_down() {
        let breaker = Breaker::new(Duration::from_millis(30));
        assert!(breaker.admit());
        breaker.record(false);
        // Open: everyone fails fast.
        assert!(!breaker.admit());
        assert!(!breaker.admit());
        std::thread::sleep(Duration::from_millis(40));
        // One probe, and only one, until it reports.
        assert!(breaker.admit());
        assert!(!breaker.admit());
        breaker.record(false);
        assert!(!breaker.admit());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.admit());
        breaker.record(true);
        assert!(breaker.admit());
        assert!(breaker.admit());
        let stats = breaker.lock().1;
        assert_eq!(stats.opened, 2);
        assert_eq!(stats.short_circuited, 4);
        assert_eq!(stats.attempts, 5);
    }
}
