//! What rota-local injected, by count key.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

/// Count keys of the Redis proxy.
pub const REDIS_OUTAGES: &str = "redis.outages";
pub const REDIS_CONNECTIONS_CUT: &str = "redis.connections_cut";
pub const REDIS_CONNECTIONS_REFUSED: &str = "redis.connections_refused";

/// What rota-local injected, by count key. Shared by the proxy, the Lambda service and the reporter.
#[derive(Debug)]
pub struct FaultCounts {
    counts: Mutex<BTreeMap<String, u64>>,
    /// Bumped on every change, so the reporter wakes up.
    changes: watch::Sender<u64>,
}

impl Default for FaultCounts {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultCounts {
    pub fn new() -> Self {
        Self {
            counts: Mutex::new(BTreeMap::new()),
            changes: watch::Sender::new(0),
        }
    }

    /// Adds one to `key`.
    pub fn add(&self, key: &str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default() += 1;
        self.changes.send_modify(|n| *n += 1);
    }

    /// Lists `key` (at 0 unless counted already), so readers see what may be injected.
    pub fn declare(&self, key: &str) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_string())
            .or_default();
    }

    pub fn get(&self, key: &str) -> u64 {
        self.snapshot().get(key).copied().unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
