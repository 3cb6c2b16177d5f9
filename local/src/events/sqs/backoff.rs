//! [`Backoff`]: the waits between failed calls to SQS.

use std::time::Duration;

/// Waits between failed calls: the project's one backoff
/// ([`rota_domain::backoff::full_jitter`]), from `initial` doubling up to `max`, so the
/// pollers of a failing queue do not retry in lockstep. Counts the failures since the last
/// success, which resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn next_wait(&mut self) -> Duration {
        let wait = rota_domain::backoff::full_jitter(self.initial, self.max, self.failures);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a success: the next failure waits up to `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_counts_failures_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let ceilings = [200, 400, 800, 1600, 3200, 5000, 5000, 5000];
        for (i, ceiling) in ceilings.iter().enumerate() {
            let wait = b.next_wait();
            assert!(
                wait <= Duration::from_millis(*ceiling),
                "failure {}: {wait:?} above {ceiling} ms",
                i + 1
            );
        }
        assert_eq!(b.failures(), 8);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.next_wait() <= Duration::from_millis(200));
        // Never grows into a panic: saturates.
        let mut b = Backoff::new(Duration::from_millis(1), Duration::from_millis(8));
        for _ in 0..10_000 {
            assert!(b.next_wait() <= Duration::from_millis(8));
        }
    }
}
