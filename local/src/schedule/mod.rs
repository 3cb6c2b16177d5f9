//! EventBridge schedules: the template's `Schedule` / `ScheduleV2` events fire their functions
//! at their times (wall clock, UTC), with the event EventBridge sends.
//!
//! - [`scheduled_functions`] lists the schedules of a template; [`find_target`] picks one by
//!   function (logical id or binary) and event name.
//! - [`scheduled_event`] builds EventBridge's Scheduled Event;
//!   [`ScheduledFunction::event_at`] gives what the function receives (the event, or `Input`).
//! - [`fire`] invokes a function once with it; `rota-local fire` uses it.
//! - [`ScheduleRunner`] fires every enabled schedule at its times while `serve` runs.
//!
//! Like EventBridge, which invokes functions asynchronously, a firing that ends in a function
//! error (or a timeout, or a crash) is retried twice, one and then two minutes later, with the
//! same event. When the machine slept through several fire times, the schedule fires once, for
//! the latest of them, and logs how many it skipped.

mod expression;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use expression::{ExpressionError, ScheduleExpression};

use crate::runtime::{InvokeError, InvokeOutput, LambdaService};
use crate::template::{LOCAL_ACCOUNT_ID, LOCAL_REGION, ScheduleSource, Template};

/// Lambda's retries of a failed asynchronous invocation, and the waits before each.
pub const ASYNC_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
/// The longest single sleep while waiting for a fire time, so wall-clock changes are noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// How long [`ScheduleRunner::stop`] lets firings in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One schedule of one function.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFunction {
    /// Logical id of the function.
    pub function: String,
    /// Binary of the function.
    pub binary: String,
    /// Name of the event in the function's `Events`.
    pub event: String,
    pub source: ScheduleSource,
}

impl ScheduledFunction {
    /// What the function receives for the firing at `time`: the `Input` JSON when the template
    /// gives one, else EventBridge's Scheduled Event.
    pub fn event_at(&self, time: DateTime<Utc>) -> Json {
        match &self.source.input {
            Some(input) => input.clone(),
            None => scheduled_event(&self.source.arn(), time),
        }
    }

    /// `Function.Event`, for logs.
    pub fn label(&self) -> String {
        format!("{}.{}", self.function, self.event)
    }
}

/// Every `Schedule` / `ScheduleV2` event of the template (disabled ones included; see
/// [`ScheduleSource::enabled`]).
pub fn scheduled_functions(template: &Template) -> Vec<ScheduledFunction> {
    template
        .functions
        .iter()
        .flat_map(|f| {
            f.schedules().map(|(event, source)| ScheduledFunction {
                function: f.logical_id.clone(),
                binary: f.binary.clone(),
                event: event.to_string(),
                source: source.clone(),
            })
        })
        .collect()
}

/// The schedule to fire for `function` (a logical id, else a binary name) and, when the
/// function has several schedules, `event` (the event's name).
pub fn find_target(
    template: &Template,
    function: &str,
    event: Option<&str>,
) -> Result<ScheduledFunction, String> {
    let functions: Vec<_> = match template.function(function) {
        Some(f) => vec![f],
        None => template
            .functions
            .iter()
            .filter(|f| f.binary == function)
            .collect(),
    };
    if functions.is_empty() {
        let names: Vec<_> = template
            .functions
            .iter()
            .filter(|f| f.schedules().next().is_some())
            .map(|f| format!("{} ({})", f.logical_id, f.binary))
            .collect();
        return Err(format!(
            "no function {function} in the template (functions with schedules: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    let candidates: Vec<ScheduledFunction> = functions
        .iter()
        .flat_map(|f| {
            f.schedules().map(|(name, source)| ScheduledFunction {
                function: f.logical_id.clone(),
                binary: f.binary.clone(),
                event: name.to_string(),
                source: source.clone(),
            })
        })
        .filter(|s| event.is_none_or(|e| s.event == e))
        .collect();
    match candidates.len() {
        1 => Ok(candidates.into_iter().next().expect("one candidate")),
        0 => Err(match event {
            Some(e) => format!("{function} has no Schedule or ScheduleV2 event named {e}"),
            None => format!("{function} has no Schedule or ScheduleV2 event"),
        }),
        _ => Err(format!(
            "{function} matches several schedules ({}); choose one with --function <LogicalId> \
             and --event <EventName>",
            candidates
                .iter()
                .map(ScheduledFunction::label)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// EventBridge's Scheduled Event, as a rule sends it to Lambda: `time` is the scheduled time
/// (whole seconds, `Z`), `resources` the rule (or schedule) ARN, `id` a new UUID.
pub fn scheduled_event(resource_arn: &str, time: DateTime<Utc>) -> Json {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": LOCAL_REGION,
        "resources": [resource_arn],
        "detail": {},
    })
}

/// Invokes the function once (synchronously) with the event of the firing at `time`.
pub async fn fire(
    lambda: &LambdaService,
    target: &ScheduledFunction,
    time: DateTime<Utc>,
) -> Result<InvokeOutput, InvokeError> {
    let payload = serde_json::to_vec(&target.event_at(time))
        .map_err(|e| InvokeError::Internal(e.to_string()))?;
    lambda.invoke(&target.function, payload.into()).await
}

/// Fires the enabled schedules at their times until stopped.
pub struct ScheduleRunner {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ScheduleRunner {
    /// Starts one timer per enabled schedule. `anchor` is when `rate()` schedules count from
    /// (EventBridge counts from the rule's creation; `serve` passes its start time).
    pub fn start(
        lambda: Arc<LambdaService>,
        targets: Vec<ScheduledFunction>,
        anchor: DateTime<Utc>,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for target in targets {
            if !target.source.enabled {
                tracing::info!(
                    "schedule {} ({}) is disabled",
                    target.label(),
                    target.source.expression
                );
                continue;
            }
            if lambda.function(&target.function).is_none() {
                tracing::warn!(
                    "schedule {}: the Lambda service does not run {}",
                    target.label(),
                    target.function
                );
                continue;
            }
            tasks.push(tokio::spawn(run_schedule(
                lambda.clone(),
                target,
                anchor,
                stop_rx.clone(),
            )));
        }
        Self { stop, tasks }
    }

    /// Number of schedules with a timer.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no schedule has a timer.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops the timers; firings in flight get a few seconds to finish (and log).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let all = futures_util::future::join_all(self.tasks);
        let _ = tokio::time::timeout(STOP_GRACE * 2, all).await;
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
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => break true,
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
        if attempt > 0 {
            tokio::select! {
                _ = tokio::time::sleep(ASYNC_RETRY_DELAYS[attempt - 1]) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
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
pub(crate) fn preview(payload: &[u8]) -> String {
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
    use aws_lambda_events::event::eventbridge::EventBridgeEvent;

    const TEMPLATE: &str = r#"
Resources:
  Reminders:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: reminders } }
    Properties:
      Events:
        Hourly:
          Type: ScheduleV2
          Properties: { ScheduleExpression: "cron(0 * * * ? *)" }
  Digest:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: digest } }
    Properties:
      Events:
        Daily:
          Type: Schedule
          Properties:
            Schedule: rate(1 day)
            Input: '{"kind": "daily", "n": 1}'
        Weekly:
          Type: Schedule
          Properties:
            ScheduleExpression: cron(0 8 ? * MON *)
            Name: weekly-digest
            Enabled: false
        Api: { Type: HttpApi, Properties: { Path: /digest, Method: GET } }
"#;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn scheduled_event_is_eventbridges() {
        let arn = "arn:aws:events:us-east-1:123456789012:rule/my-rule";
        let e = scheduled_event(arn, t("2024-05-01T10:00:00.750Z"));
        assert_eq!(e["time"], "2024-05-01T10:00:00Z");
        assert_eq!(e["version"], "0");
        assert_eq!(e["detail"], json!({}));
        assert!(uuid::Uuid::parse_str(e["id"].as_str().unwrap()).is_ok());
        let parsed: EventBridgeEvent = serde_json::from_value(e.clone()).unwrap();
        assert_eq!(parsed.detail_type, "Scheduled Event");
        assert_eq!(parsed.source, "aws.events");
        assert_eq!(parsed.account.as_deref(), Some(LOCAL_ACCOUNT_ID));
        assert_eq!(parsed.region.as_deref(), Some("us-east-1"));
        assert_eq!(parsed.time, Some(t("2024-05-01T10:00:00Z")));
        assert_eq!(parsed.resources, Some(vec![arn.to_string()]));
        // Every field AWS sends, and nothing else.
        let mut keys: Vec<_> = e.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "account",
                "detail",
                "detail-type",
                "id",
                "region",
                "resources",
                "source",
                "time",
                "version"
            ]
        );
        // A new id per event.
        assert_ne!(
            e["id"],
            scheduled_event(arn, t("2024-05-01T10:00:00Z"))["id"]
        );
    }

    #[test]
    fn targets_from_the_template() {
        let template = Template::parse(TEMPLATE).unwrap();
        let all = scheduled_functions(&template);
        let labels: Vec<_> = all.iter().map(ScheduledFunction::label).collect();
        assert_eq!(
            labels,
            ["Digest.Daily", "Digest.Weekly", "Reminders.Hourly"]
        );

        let hourly = find_target(&template, "Reminders", None).unwrap();
        assert!(hourly.source.is_v2() && hourly.source.enabled);
        assert_eq!(
            hourly.source.arn(),
            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/RemindersHourly"
        );
        let e: EventBridgeEvent =
            serde_json::from_value(hourly.event_at(t("2024-05-01T10:00:00Z"))).unwrap();
        assert_eq!(
            e.resources.unwrap(),
            ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/RemindersHourly"]
        );
        // By binary name too.
        assert_eq!(find_target(&template, "reminders", None).unwrap(), hourly);

        // Input replaces the event.
        let daily = find_target(&template, "digest", Some("Daily")).unwrap();
        assert_eq!(
            daily.event_at(t("2024-05-01T10:00:00Z")),
            json!({"kind": "daily", "n": 1})
        );
        assert_eq!(
            daily.source.arn(),
            "arn:aws:events:us-east-1:123456789012:rule/rota-local-DigestDaily"
        );
        let weekly = find_target(&template, "Digest", Some("Weekly")).unwrap();
        assert!(!weekly.source.enabled);
        assert_eq!(
            weekly.source.arn(),
            "arn:aws:events:us-east-1:123456789012:rule/weekly-digest"
        );

        let several = find_target(&template, "Digest", None).unwrap_err();
        assert!(several.contains("Digest.Daily, Digest.Weekly"), "{several}");
        assert!(find_target(&template, "Nope", None).is_err());
        assert!(find_target(&template, "Digest", Some("Api")).is_err());
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
