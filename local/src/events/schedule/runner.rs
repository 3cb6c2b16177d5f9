//! [`ScheduleRunner`]: fires the enabled schedules at their times (wall clock, UTC) while
//! `serve` runs, with EventBridge's asynchronous retries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::target::ScheduledFunction;
use crate::events::tasks::{Late, TaskGroup, stopped_within};
use crate::lambda_service::{InvokeError, LambdaService};
use crate::template::ScheduleExpression;

/// Lambda's retries of a failed asynchronous invocation, and the waits before each.
pub const ASYNC_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
/// The longest single sleep while waiting for a fire time, so wall-clock changes are noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// How long [`ScheduleRunner::stop`] lets firings in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Fires the enabled schedules at their times until stopped.
pub struct ScheduleRunner {
    timers: TaskGroup,
}

impl ScheduleRunner {
    /// Starts one timer per enabled schedule. `anchor` is when `rate()` schedules count from
    /// (EventBridge counts from the rule's creation; `serve` passes its start time).
    pub fn start(
        lambda: Arc<LambdaService>,
        targets: Vec<ScheduledFunction>,
        anchor: DateTime<Utc>,
    ) -> Self {
        let mut timers = TaskGroup::new();
        for target in targets {
            if !target.source.enabled {
                tracing::info!(
                    "schedule {} ({}) is disabled",
                    target.label(),
                    target.source.expression
                );
                continue;
            }
            let source = format!("schedule {}", target.label());
            if !crate::events::lambda_runs(&lambda, &source, &target.function) {
                continue;
            }
            timers.spawn(run_schedule(
                lambda.clone(),
                target,
                anchor,
                timers.signal(),
            ));
        }
        Self { timers }
    }

    /// Number of schedules with a timer.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether no schedule has a timer.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Stops the timers; firings in flight get a few seconds to finish (and log).
    pub async fn stop(self) {
        self.timers.stop(STOP_GRACE * 2, Late::Detach).await;
    }
}

async fn run_schedule(
    lambda: Arc<LambdaService>,
    target: ScheduledFunction,
    anchor: DateTime<Utc>,
    mut stop: watch::Receiver<bool>,
) {
    let expression = &target.source.expression;
    let mut firings = JoinSet::new();
    let mut after = Utc::now();
    let mut first = true;
    loop {
        let Some(mut next) = expression.next_after(after, anchor) else {
            tracing::info!(
                "schedule {} ({expression}) has no more fire times",
                target.label()
            );
            break;
        };
        let when = next.format("%Y-%m-%dT%H:%M:%SZ");
        if first {
            tracing::info!(
                "schedule {} ({expression}): next firing at {when}",
                target.label()
            );
        } else {
            tracing::debug!(
                "schedule {} ({expression}): next firing at {when}",
                target.label()
            );
        }
        first = false;
        // Sleep in short steps against the wall clock, which may jump (suspend, NTP).
        let stopped = loop {
            let now = Utc::now();
            if now >= next {
                break false;
            }
            let wait = (next - now).to_std().unwrap_or_default().min(MAX_SLEEP);
            if stopped_within(wait, &mut stop).await {
                break true;
            }
            while firings.try_join_next().is_some() {}
        };
        if stopped {
            break;
        }
        // Woken late (the machine slept): fire once, for the latest time that has passed.
        let skipped;
        (next, skipped) = latest_due(expression, next, anchor, Utc::now());
        if skipped > 0 {
            tracing::warn!(
                "schedule {}: skipped {skipped} fire time(s) missed while asleep",
                target.label()
            );
        }
        firings.spawn(fire_with_retries(
            lambda.clone(),
            target.clone(),
            next,
            stop.clone(),
        ));
        after = next;
    }
    if !firings.is_empty() {
        let _ = tokio::time::timeout(STOP_GRACE, async {
            while firings.join_next().await.is_some() {}
        })
        .await;
        firings.shutdown().await;
    }
}

/// The latest fire time at or before `now`, starting from the due time `due`, and how many
/// earlier ones that skips.
fn latest_due(
    expression: &ScheduleExpression,
    mut due: DateTime<Utc>,
    anchor: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, u64) {
    let mut skipped = 0;
    while let Some(later) = expression.next_after(due, anchor).filter(|t| *t <= now) {
        due = later;
        skipped += 1;
    }
    (due, skipped)
}

/// One firing, with Lambda's asynchronous retries on failure.
async fn fire_with_retries(
    lambda: Arc<LambdaService>,
    target: ScheduledFunction,
    time: DateTime<Utc>,
    mut stop: watch::Receiver<bool>,
) {
    // A retry carries the same event (same id), as Lambda's retries do.
    let event = target.event_at(time);
    let payload = bytes::Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
    let when = time.format("%Y-%m-%dT%H:%M:%SZ");
    let label = target.label();
    for attempt in 0..=ASYNC_RETRY_DELAYS.len() {
        if attempt > 0 && stopped_within(ASYNC_RETRY_DELAYS[attempt - 1], &mut stop).await {
            return;
        }
        let retry = if attempt > 0 {
            format!(" (retry {attempt})")
        } else {
            String::new()
        };
        let started = Instant::now();
        match lambda.invoke(&target.function, payload.clone()).await {
            Ok(out) => {
                tracing::info!(
                    "schedule {label} fired for {when}{retry}: ok in {} ms: {}",
                    started.elapsed().as_millis(),
                    preview(&out.payload)
                );
                return;
            }
            Err(InvokeError::ShuttingDown) => return,
            Err(e) => {
                let next = match ASYNC_RETRY_DELAYS.get(attempt) {
                    Some(d) => format!("retrying in {} s", d.as_secs()),
                    None => "no retries left".to_string(),
                };
                tracing::warn!(
                    "schedule {label} fired for {when}{retry}: failed after {} ms: {e}; {next}",
                    started.elapsed().as_millis()
                );
            }
        }
    }
}

/// The start of a response, for a log line.
fn preview(payload: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(payload);
    if text.len() <= MAX {
        return text.into_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], payload.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_late_wake_fires_the_latest_missed_time() {
        let e = ScheduleExpression::parse("cron(0 * * * ? *)").unwrap();
        let anchor = t("2024-05-01T00:00:00Z");
        let due = t("2024-05-01T10:00:00Z");
        assert_eq!(
            latest_due(&e, due, anchor, t("2024-05-01T10:00:00.2Z")),
            (due, 0)
        );
        assert_eq!(
            latest_due(&e, due, anchor, t("2024-05-01T12:30:00Z")),
            (t("2024-05-01T12:00:00Z"), 2)
        );
    }

    #[test]
    fn previews_are_short() {
        assert_eq!(preview(b"{}"), "{}");
        let long = "é".repeat(300);
        let p = preview(long.as_bytes());
        assert!(p.ends_with("… (600 bytes)"), "{p}");
    }
}
