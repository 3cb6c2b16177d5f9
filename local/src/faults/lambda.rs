//! The `lambda` section as the Lambda service applies it: which invocation meets which fault.

use std::sync::Arc;

use super::{FaultCounts, FaultProfile, LambdaFaults, draw};

/// A fault the Lambda service injects into an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaFault {
    /// The instance is killed when it posts its response (or error).
    CrashMid,
    /// The idle instance is killed before it takes the event; a new one runs it.
    CrashIdle,
    /// The response is discarded and the invocation times out.
    Timeout,
}

impl LambdaFault {
    /// The profile key (and the middle of the count key).
    pub fn as_str(self) -> &'static str {
        match self {
            LambdaFault::CrashMid => "crash_mid",
            LambdaFault::CrashIdle => "crash_idle",
            LambdaFault::Timeout => "timeout",
        }
    }

    /// `lambda.<kind>.<Function>`.
    pub fn count_key(self, function: &str) -> String {
        format!("lambda.{}.{function}", self.as_str())
    }
}

/// The `lambda` section as the Lambda service applies it.
#[derive(Debug)]
pub struct LambdaFaultPlan {
    seed: u64,
    faults: LambdaFaults,
    counts: Arc<FaultCounts>,
}

impl LambdaFaultPlan {
    pub fn new(seed: u64, faults: LambdaFaults, counts: Arc<FaultCounts>) -> Self {
        Self {
            seed,
            faults,
            counts,
        }
    }

    /// The plan of a profile, or `None` when it has no `lambda` section.
    pub fn from_profile(profile: &FaultProfile, counts: Arc<FaultCounts>) -> Option<Self> {
        let faults = profile.lambda.clone()?;
        Some(Self::new(profile.seed, faults, counts))
    }

    /// Whether `kind` strikes the `n`-th invocation (from 1) of `function`.
    pub fn strikes(&self, kind: LambdaFault, function: &str, n: u64) -> bool {
        let rate = match kind {
            LambdaFault::CrashMid => self.faults.crash_mid,
            LambdaFault::CrashIdle => self.faults.crash_idle,
            LambdaFault::Timeout => self.faults.timeout,
        };
        let applies = self
            .faults
            .functions
            .as_ref()
            .is_none_or(|only| only.iter().any(|f| f == function));
        rate > 0.0 && applies && draw(self.seed, kind.as_str(), function, n) < rate
    }

    /// Counts one injected fault.
    pub fn record(&self, kind: LambdaFault, function: &str) {
        self.counts.add(&kind.count_key(function));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_respects_rates_and_functions() {
        let counts = Arc::new(FaultCounts::new());
        let plan = LambdaFaultPlan::new(
            1,
            LambdaFaults {
                crash_mid: 1.0,
                crash_idle: 0.0,
                timeout: 0.5,
                functions: Some(vec!["A".into()]),
            },
            counts.clone(),
        );
        assert!((1..100).all(|n| plan.strikes(LambdaFault::CrashMid, "A", n)));
        assert!((1..100).all(|n| !plan.strikes(LambdaFault::CrashMid, "B", n)));
        assert!((1..100).all(|n| !plan.strikes(LambdaFault::CrashIdle, "A", n)));
        let timeouts = (1..1000)
            .filter(|n| plan.strikes(LambdaFault::Timeout, "A", *n))
            .count();
        assert!((400..600).contains(&timeouts), "{timeouts}");
        plan.record(LambdaFault::CrashMid, "A");
        plan.record(LambdaFault::CrashMid, "A");
        assert_eq!(counts.get("lambda.crash_mid.A"), 2);
    }
}
