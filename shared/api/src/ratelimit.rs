//! Fixed-window rate limits shared by every Lambda instance through the cache cluster.
//!
//! One Lua script makes increment-and-expire atomic; `redis::Script` sends EVALSHA and falls
//! back to EVAL when Redis has lost its script cache (after a restart or failover). When the
//! cache is down, each container falls back to its own in-memory window: limits loosen (by
//! the number of warm containers) rather than failing every login; the failure is logged and
//! counted as the `RateLimitStoreErrors` metric. That window is bounded: at most
//! [`FALLBACK_KEYS`] keys, the least recently used one forgotten first (the `lru` crate), so a
//! flood of distinct addresses cannot grow a container's memory, and a key in use (an attacker
//! still guessing) keeps its count.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::HeaderValue;
use lambda_http::{Body, Response};

use crate::cache::Cache;
use crate::config::Limit;
use rota_lambda::metrics::Metrics;

const HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// The most keys the in-memory fallback keeps (~100 bytes each: about 1 MB).
const FALLBACK_KEYS: usize = 10_000;

/// The state of one limit after a call: what the RateLimit-* headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    pub allowed: bool,
}

impl Decision {
    /// The decision on a call that made the window's count `count`.
    fn from_count(limit: Limit, count: u64, ttl: u64) -> Self {
        let max = u64::from(limit.max);
        Self {
            limit: limit.max,
            remaining: max.saturating_sub(count) as u32,
            reset_secs: ttl.max(1),
            allowed: count <= max,
        }
    }

    /// Of two limits that both apply, the one to report: a refusal first, else the one with
    /// fewer calls left.
    pub fn tighter(self, other: Decision) -> Decision {
        match (self.allowed, other.allowed) {
            (false, true) => self,
            (true, false) => other,
            _ if other.remaining < self.remaining => other,
            _ => self,
        }
    }

    pub fn apply_headers(&self, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
    }
}

/// Each key's count and the end of its window; least recently used first out.
type Windows = lru::LruCache<String, (u64, Instant)>;

pub struct RateLimiter {
    fallback: Mutex<Windows>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        let cap = NonZeroUsize::new(FALLBACK_KEYS).expect("a positive cap");
        Self {
            fallback: Mutex::new(Windows::new(cap)),
        }
    }

    /// Counts one call against `key` and says whether it is within `limit`.
    pub async fn hit(
        &self,
        cache: Option<&Cache>,
        metrics: &mut Metrics,
        key: &str,
        limit: Limit,
    ) -> Decision {
        let key = format!("rl:{key}");
        if let Some(cache) = cache {
            match Self::remote(cache, &key, limit).await {
                Ok((n, ttl)) => return Decision::from_count(limit, n, ttl),
                Err(err) => {
                    if !crate::cache::is_short_circuit(&err) {
                        tracing::warn!(error = %err, "rate-limit store unavailable; using the container's own window");
                    }
                    metrics.count("RateLimitStoreErrors");
                }
            }
        }
        self.local(&key, limit)
    }

    /// Forgets `key`'s window (a successful login clears the failures counted on its device).
    /// Best effort: a cache that is down keeps the count until the window ends.
    pub async fn reset(&self, cache: Option<&Cache>, key: &str) {
        let key = format!("rl:{key}");
        if let Some(cache) = cache {
            let result: Result<(), redis::RedisError> =
                cache.query(redis::cmd("DEL").arg(&key)).await;
            if let Err(err) = result
                && !crate::cache::is_short_circuit(&err)
            {
                tracing::warn!(error = %err, "could not reset a rate-limit window");
            }
        }
        self.fallback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop(&key);
    }

    async fn remote(
        cache: &Cache,
        key: &str,
        limit: Limit,
    ) -> Result<(u64, u64), redis::RedisError> {
        let script = redis::Script::new(HIT);
        let (n, ttl): (u64, i64) = cache
            .call(|mut conn| async move {
                rota_lambda::diagnostics::redis_call(
                    script
                        .key(key)
                        .arg(limit.window_secs)
                        .invoke_async(&mut conn),
                )
                .await
            })
            .await?;
        Ok((n, ttl.max(0) as u64))
    }

    fn local(&self, key: &str, limit: Limit) -> Decision {
        let now = Instant::now();
        let window = Duration::from_secs(u64::from(limit.window_secs));
        let mut map = self.fallback.lock().unwrap_or_else(|e| e.into_inner());
        // A new key in a full map pushes out the least recently used one: O(1), so a flood
        // costs no more per call than normal traffic.
        let entry = map.get_or_insert_mut(key.to_owned(), || (0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        let ttl = entry.1.saturating_duration_since(now).as_secs_f64().ceil() as u64;
        Decision::from_count(limit, entry.0, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_cache_each_container_still_limits() {
        let limiter = RateLimiter::new();
        let mut m = Metrics::new();
        let limit = Limit::new(2, 60);
        assert!(limiter.hit(None, &mut m, "k", limit).await.allowed);
        let second = limiter.hit(None, &mut m, "k", limit).await;
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        let third = limiter.hit(None, &mut m, "k", limit).await;
        assert!(!third.allowed);
        assert!(third.reset_secs >= 1 && third.reset_secs <= 60);
        assert!(limiter.hit(None, &mut m, "other", limit).await.allowed);
    }

    /// While Redis is down, a flood of distinct addresses (each a new key) keeps the
    /// container's map under its cap, and the keys in use keep their counts: a spent limit
    /// stays spent however many other keys come and go.
    #[tokio::test]
    async fn a_flood_of_distinct_keys_keeps_the_fallback_bounded_and_recent_keys_limited() {
        let limiter = RateLimiter::new();
        let mut m = Metrics::new();
        let limit = Limit::new(2, 900);
        for _ in 0..3 {
            limiter.hit(None, &mut m, "attacker", limit).await;
        }
        for i in 0..FALLBACK_KEYS * 3 {
            limiter.hit(None, &mut m, &format!("ip:{i}"), limit).await;
            if i % 1000 == 0 {
                let attacker = limiter.hit(None, &mut m, "attacker", limit).await;
                assert!(!attacker.allowed, "after {i} other keys");
            }
        }
        let kept = limiter.fallback.lock().unwrap().len();
        assert!(kept <= FALLBACK_KEYS, "{kept} keys kept");
        let newest = format!("ip:{}", FALLBACK_KEYS * 3 - 1);
        assert_eq!(limiter.hit(None, &mut m, &newest, limit).await.remaining, 0);
        assert!(!limiter.hit(None, &mut m, &newest, limit).await.allowed);
    }

    #[test]
    fn the_tighter_decision_is_reported() {
        let a = Decision {
            limit: 30,
            remaining: 20,
            reset_secs: 10,
            allowed: true,
        };
        let b = Decision {
            limit: 10,
            remaining: 3,
            reset_secs: 900,
            allowed: true,
        };
        let c = Decision {
            limit: 10,
            remaining: 0,
            reset_secs: 900,
            allowed: false,
        };
        assert_eq!(a.tighter(b), b);
        assert_eq!(a.tighter(c), c);
        assert_eq!(c.tighter(a), c);
    }
}
