//! [`Backoff`]: the waits between failed calls to SQS.

use std::time::Duration;

/// Waits between failed calls: from `initial`, doubling up to `max`. Each wait is drawn
/// between half and all of the current step, so the pollers of a failing queue do not retry in
/// lockstep. A success resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            step: initial,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn next_wait(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        self.failures = self.failures.saturating_add(1);
        step.mul_f64(rand::random_range(0.5..=1.0))
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a success: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.step = self.initial;
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let steps = [200, 400, 800, 1600, 3200, 5000, 5000, 5000];
        for (i, step) in steps.iter().enumerate() {
            let wait = b.next_wait();
            let step = Duration::from_millis(*step);
            assert!(
                wait >= step / 2 && wait <= step,
                "failure {}: {wait:?} not within half of {step:?}",
                i + 1
            );
        }
        assert_eq!(b.failures(), 8);
        b.reset();
        assert_eq!(b.failures(), 0);
        let wait = b.next_wait();
        assert!(wait >= Duration::from_millis(100) && wait <= Duration::from_millis(200));
        // Never stops growing into a panic: saturates.
        let mut b = Backoff::new(Duration::from_millis(1), Duration::from_millis(8));
        for _ in 0..10_000 {
            assert!(b.next_wait() <= Duration::from_millis(8));
        }
    }
}
