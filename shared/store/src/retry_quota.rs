//! The container's retry quota: retries that cannot multiply an overloaded dependency's load.
//!
//! A request's budget bounds its own retries, not what all the requests of a container do
//! together. When DynamoDB answers slowly, every attempt runs into its timeout, is abandoned
//! (it keeps running there) and is sent again: the dependency gets about twice the calls just
//! when it can least serve them, and stays overloaded after the cause has gone (a metastable
//! failure; measured locally: 14 396 retries over 5 207 requests, BENCHMARKS.md "500 users").
//!
//! The AWS SDKs' standard retry mode keeps a token bucket per client for this, and this is that
//! bucket with its costs: 500 tokens; a retry after a throttle spends 5, one after a timeout, a
//! lost connection or a 5xx 10 (a transaction conflict spends nothing: it says nothing of the
//! dependency's load, and the SDKs do not retry it); a call that succeeds at its first attempt
//! puts 1 back, one that succeeds after retrying returns what its last retry spent; with too
//! few tokens the error is returned without a retry. A call asking for a transaction's outcome
//! spends it too: with the quota spent it ends as at its deadline, `Unavailable` with the
//! outcome unknown. While the dependency fails, a container retries at most 50 times more than
//! it calls (500 / 10), then about once per ten successes; a first attempt never waits for
//! tokens, so recovery is immediate. The SDK's own bucket
//! (`aws_smithy_runtime::client::retries::TokenBucket`) can only be spent by the SDK's retry
//! strategy (its `acquire` is crate-private), and the SDK's retries are off here: ours know the
//! request's budget and DynamoDB's cancellation reasons (see [`crate::retry`]).
//!
//! One bucket per container (a process; Lambda runs one invocation at a time in it), shared by
//! every DynamoDB and SQS call of the data layer.

use std::sync::atomic::{AtomicU32, Ordering};

/// The bucket's size: the SDKs' standard mode's.
pub const CAPACITY: u32 = 500;
/// A retry after a throttle.
pub const RETRY_COST: u32 = 5;
/// A retry after a timeout, a lost connection or a 5xx: the costlier kind, as in the SDKs.
pub const TIMEOUT_RETRY_COST: u32 = 10;
/// What a call that needed no retry puts back.
const SUCCESS_REFILL: u32 = 1;

/// A token bucket of retries (see the module docs).
#[derive(Debug)]
pub struct RetryQuota {
    tokens: AtomicU32,
    capacity: u32,
}

impl RetryQuota {
    /// A full bucket of `capacity` tokens.
    pub const fn new(capacity: u32) -> Self {
        Self {
            tokens: AtomicU32::new(capacity),
            capacity,
        }
    }

    /// Takes `cost` tokens for one retry; `false` (nothing taken) when fewer are left.
    pub fn acquire(&self, cost: u32) -> bool {
        self.tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                t.checked_sub(cost)
            })
            .is_ok()
    }

    /// A call succeeded: `last_retry_cost` back if its last attempt was a retry (0 if it was
    /// the first attempt, which puts back one token instead), never past the capacity.
    pub fn succeeded(&self, last_retry_cost: u32) {
        let refill = if last_retry_cost == 0 {
            SUCCESS_REFILL
        } else {
            last_retry_cost
        };
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(refill).min(self.capacity))
            });
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Relaxed)
    }
}

/// The container's bucket.
pub static QUOTA: RetryQuota = RetryQuota::new(CAPACITY);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_dependency_gets_fifty_timed_out_retries_then_none() {
        let quota = RetryQuota::new(CAPACITY);
        let retries = (0..1000)
            .take_while(|_| quota.acquire(TIMEOUT_RETRY_COST))
            .count();
        assert_eq!(retries, 50);
        assert_eq!(quota.available(), 0);
        // Ten first-attempt successes pay for one more.
        for _ in 0..9 {
            quota.succeeded(0);
        }
        assert!(!quota.acquire(TIMEOUT_RETRY_COST));
        quota.succeeded(0);
        assert!(quota.acquire(TIMEOUT_RETRY_COST));
    }

    #[test]
    fn a_retry_that_succeeds_is_refunded_and_the_bucket_never_overfills() {
        let quota = RetryQuota::new(CAPACITY);
        assert!(quota.acquire(RETRY_COST));
        assert_eq!(quota.available(), CAPACITY - RETRY_COST);
        quota.succeeded(RETRY_COST);
        assert_eq!(quota.available(), CAPACITY);
        quota.succeeded(0);
        quota.succeeded(TIMEOUT_RETRY_COST);
        assert_eq!(quota.available(), CAPACITY);
    }

    #[test]
    fn too_few_tokens_take_nothing() {
        let quota = RetryQuota::new(7);
        assert!(!quota.acquire(TIMEOUT_RETRY_COST));
        assert_eq!(quota.available(), 7);
        assert!(quota.acquire(RETRY_COST));
        assert_eq!(quota.available(), 2);
    }
}
