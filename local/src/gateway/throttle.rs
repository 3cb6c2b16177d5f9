//! Route-level throttling as API Gateway does it: a token bucket per route key, holding at most
//! `burst` tokens and refilled at `rate` tokens per second; a request takes one token or is
//! rejected with 429.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::template::Throttle;

/// One token bucket. Starts full, like an idle API.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(throttle: Throttle, now: Instant) -> Self {
        // u64 → f64 loses precision only above 2^53 requests, far beyond any burst.
        let capacity = throttle.burst as f64;
        Self {
            rate: throttle.rate.max(0.0),
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token if available.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The buckets of all routes of an API.
#[derive(Debug, Default)]
pub struct Throttles {
    buckets: HashMap<String, Mutex<TokenBucket>>,
}

impl Throttles {
    /// One bucket per route key, with the throttle `settings` gives for it.
    pub fn new(route_keys: &[String], settings: impl Fn(&str) -> Throttle) -> Self {
        let now = Instant::now();
        Self {
            buckets: route_keys
                .iter()
                .map(|k| (k.clone(), Mutex::new(TokenBucket::new(settings(k), now))))
                .collect(),
        }
    }

    /// Whether a request on `route_key` may proceed. Unknown keys are not throttled.
    pub fn allow(&self, route_key: &str) -> bool {
        match self.buckets.get(route_key) {
            Some(b) => b
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .try_acquire(Instant::now()),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bucket(rate: f64, burst: u64) -> (TokenBucket, Instant) {
        let t0 = Instant::now();
        (TokenBucket::new(Throttle { rate, burst }, t0), t0)
    }

    #[test]
    fn burst_then_reject() {
        let (mut b, t0) = bucket(1.0, 3);
        assert!(b.try_acquire(t0));
        assert!(b.try_acquire(t0));
        assert!(b.try_acquire(t0));
        assert!(!b.try_acquire(t0));
    }

    #[test]
    fn refills_at_rate() {
        let (mut b, t0) = bucket(10.0, 2);
        assert!(b.try_acquire(t0));
        assert!(b.try_acquire(t0));
        assert!(!b.try_acquire(t0));
        // 50 ms at 10/s is half a token: still nothing.
        assert!(!b.try_acquire(t0 + Duration::from_millis(50)));
        // 100 ms in total: one token.
        assert!(b.try_acquire(t0 + Duration::from_millis(100)));
        assert!(!b.try_acquire(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn refill_caps_at_burst() {
        let (mut b, t0) = bucket(100.0, 5);
        for _ in 0..5 {
            assert!(b.try_acquire(t0));
        }
        let later = t0 + Duration::from_secs(60);
        let granted = (0..20).filter(|_| b.try_acquire(later)).count();
        assert_eq!(granted, 5);
    }

    #[test]
    fn zero_burst_rejects_everything() {
        let (mut b, t0) = bucket(1000.0, 0);
        assert!(!b.try_acquire(t0));
        assert!(!b.try_acquire(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn sustained_rate_is_respected() {
        // 5/s with burst 1 over 2 s of requests every 10 ms: about 1 + 10 granted.
        let (mut b, t0) = bucket(5.0, 1);
        let granted = (0..=200)
            .filter(|i| b.try_acquire(t0 + Duration::from_millis(i * 10)))
            .count();
        assert!((10..=12).contains(&granted), "{granted}");
    }

    #[test]
    fn per_route_buckets() {
        let keys = vec!["POST /a".to_string(), "$default".to_string()];
        let t = Throttles::new(&keys, |k| Throttle {
            rate: 0.0,
            burst: if k == "POST /a" { 1 } else { 2 },
        });
        assert!(t.allow("POST /a"));
        assert!(!t.allow("POST /a"));
        assert!(t.allow("$default"));
        assert!(t.allow("$default"));
        assert!(!t.allow("$default"));
        assert!(t.allow("GET /unknown"));
    }
}
