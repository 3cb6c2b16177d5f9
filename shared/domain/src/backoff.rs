//! The one backoff of every retry loop (the data layer's retry policy, the admin import's
//! unprocessed items, the local SQS pollers): exponential with full jitter (AWS Architecture
//! Blog, "Exponential Backoff And Jitter"). Retries of many callers spread from zero up instead
//! of meeting again in lockstep.
//!
//! Written here rather than taken from a crate: the formula is two lines, and the crates that
//! offer it either are unmaintained (`backoff`) or add jitter on top of the step (`backon`),
//! which is not full jitter.

use std::time::Duration;

use rand::Rng;

/// The wait before retry `attempt + 1` (`attempt` 0: the first retry): uniform in
/// `0..=min(cap, base · 2^attempt)`, at millisecond resolution.
pub fn full_jitter(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(20)).min(cap);
    Duration::from_millis(rand::rng().random_range(0..=ceiling.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_wait_never_exceeds_the_growing_ceiling_nor_the_cap(
            base_ms in 1u64..1000,
            cap_ms in 1u64..100_000,
            attempt in 0u32..64,
        ) {
            let (base, cap) = (Duration::from_millis(base_ms), Duration::from_millis(cap_ms));
            let ceiling = base.saturating_mul(1 << attempt.min(20)).min(cap);
            prop_assert!(full_jitter(base, cap, attempt) <= ceiling);
        }
    }

    #[test]
    fn waits_spread_from_zero_up_to_the_ceiling() {
        let (base, cap) = (Duration::from_millis(10), Duration::from_millis(200));
        for attempt in 0..10 {
            let ceiling = (base * (1 << attempt)).min(cap);
            for _ in 0..50 {
                assert!(full_jitter(base, cap, attempt) <= ceiling);
            }
        }
        // Full jitter: many different waits, the short ones included.
        let samples: std::collections::HashSet<_> =
            (0..200).map(|_| full_jitter(base, cap, 5)).collect();
        assert!(samples.len() > 5, "{samples:?}");
        assert!(samples.iter().any(|w| *w < cap / 2), "{samples:?}");
    }
}
