//! Daily reminders: an hourly scheduler finds the users due through the `reminders-due`
//! index and queues them in messages of 100 users (the owner's batch size); SQS-triggered
//! workers deliver one `daily_reminder` per user per local day.
//!
//! Due times are stored per user as the next UTC hour at which their local `reminder_hour`
//! comes round (`reminder_due_hour`, epoch hours), computed in their timezone, so daylight
//! saving changes are handled where they happen. Exactly once: the worker's delivery writes an
//! idempotency item `REMINDER#<local date>` in the same transaction as the notification, so
//! redeliveries, duplicate batches, crashes mid-batch and concurrent workers all write it once.
//!
//! Time is the worker's clock, never the schedule event's: a run fired late (an outage, a
//! retried event) or for a future hour (a skewed clock, a manual run) queues what is due *now*.
//! After an outage a user gets the reminder of the latest occurrence of their hour if it is at
//! most [`CATCH_UP_HOURS`] old, else none that day; either way the next one is computed from
//! now, so missed days never come as a burst.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::ApiError;
use crate::metrics::{Metrics, Unit};
use crate::store::SendRetried;
use crate::store::notifications::{Delivery, Notification, Notifications};
use crate::store::roadmaps::Roadmaps;
use crate::store::users::Users;

/// Users per SQS message (the owner's "100 at a time").
pub const USERS_PER_MESSAGE: usize = 100;
/// Users a worker processes at once: bounds its outbound calls (no sleeps).
pub const WORKER_CONCURRENCY: usize = 16;
/// How late a reminder may still come after its hour (after an outage); later than that, the
/// day's reminder is skipped rather than sent at an hour the user did not choose.
pub const CATCH_UP_HOURS: i64 = 3;

pub fn epoch_hour(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

/// The first UTC hour strictly after `after` at which it is `hour`:00 local time in
/// `timezone`. On a spring-forward day whose `hour` does not exist, the reminder comes at the
/// first instant after the gap; on a fall-back day, at the first of the repeated hours.
pub fn next_due_hour(after: DateTime<Utc>, hour: u8, timezone: &str) -> i64 {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let local_today = after.with_timezone(&tz).date_naive();
    for offset in 0..3 {
        let day = local_today + Duration::days(offset);
        let Some(due) = local_instant(&tz, day, hour) else {
            continue;
        };
        let due_hour = epoch_hour(due);
        if due_hour > epoch_hour(after) {
            return due_hour;
        }
    }
    epoch_hour(after) + 24
}

/// The latest UTC hour at or before `now`'s hour at which it is `hour`:00 local time (the
/// occurrence a late run may still deliver).
pub fn last_due_hour(now: DateTime<Utc>, hour: u8, timezone: &str) -> i64 {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    let local_today = now.with_timezone(&tz).date_naive();
    for offset in 0..3 {
        let day = local_today - Duration::days(offset);
        let Some(due) = local_instant(&tz, day, hour) else {
            continue;
        };
        let due_hour = epoch_hour(due);
        if due_hour <= epoch_hour(now) {
            return due_hour;
        }
    }
    epoch_hour(now) - 24
}

fn local_instant(tz: &chrono_tz::Tz, day: NaiveDate, hour: u8) -> Option<DateTime<Utc>> {
    let naive = day.and_hms_opt(u32::from(hour), 0, 0)?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        // In a DST gap: the first instant after it.
        chrono::LocalResult::None => {
            (1..=3).find_map(
                |h| match tz.from_local_datetime(&(naive + Duration::hours(h))) {
                    chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                        Some(t.with_timezone(&Utc).with_minute(0)?)
                    }
                    chrono::LocalResult::None => None,
                },
            )
        }
    }
}

/// One queued user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueUser {
    pub id: i64,
    pub due_hour: i64,
}

/// The body of one SQS message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub users: Vec<DueUser>,
}

/// Runs `work` over `users` with at most WORKER_CONCURRENCY at once; returns the failures.
pub async fn for_each_user<F, Fut>(users: &[DueUser], work: F) -> Vec<(DueUser, ApiError)>
where
    F: Fn(DueUser) -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    futures_util::stream::iter(users.iter().copied())
        .map(|u| {
            let fut = work(u);
            async move { fut.await.err().map(|e| (u, e)) }
        })
        .buffer_unordered(WORKER_CONCURRENCY)
        .filter_map(|r| async move { r })
        .collect()
        .await
}

fn hour_start(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default()
}

/// The SQS client of the reminder functions: like the DynamoDB client, the SDK's own retries
/// off (`store::retry` is the one policy) and bounded attempts.
pub fn sqs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(std::time::Duration::from_secs(5))
        .build();
    let conf = aws_sdk_sqs::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(timeouts);
    aws_sdk_sqs::Client::from_conf(conf.build())
}

/// The scheduler: queues every user due by `now` (the worker's clock, whatever the event's
/// time `at` says: see the module docs), 100 per message, 10 messages per SendMessageBatch.
/// Safe to run twice: the workers deliver once.
pub async fn schedule(
    app: &App,
    sqs: &aws_sdk_sqs::Client,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    metrics: &mut Metrics,
) -> Result<usize, ApiError> {
    let late_secs = (now - at).num_seconds();
    if late_secs.abs() > 3600 {
        tracing::warn!(event_time = %at, late_secs, "schedule event far from now; using now");
    }
    let queue = app
        .config
        .reminders_queue_url
        .as_deref()
        .ok_or_else(|| ApiError::internal("REMINDERS_QUEUE_URL is not set"))?;
    let due = Users::new(app.db()?, app.table())
        .due_for_reminders(epoch_hour(now))
        .await?;
    metrics.add("RemindersDue", Unit::Count, due.len() as f64);
    let bodies: Vec<String> = due
        .chunks(USERS_PER_MESSAGE)
        .map(|users| {
            serde_json::to_string(&Batch {
                users: users.to_vec(),
            })
            .map_err(ApiError::internal)
        })
        .collect::<Result<_, _>>()?;
    for group in bodies.chunks(10) {
        let mut pending: Vec<(String, &String)> = group
            .iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), b))
            .collect();
        for attempt in 0..3 {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body.as_str())
                        .build()
                        .map_err(ApiError::internal)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = sqs
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send_retried()
                .await
                .map_err(|e| {
                    ApiError::Internal(format!(
                        "SendMessageBatch: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ))
                })?;
            let failed: Vec<String> = out.failed().iter().map(|f| f.id().to_owned()).collect();
            pending.retain(|(id, _)| failed.contains(id));
            if pending.is_empty() {
                break;
            }
            if attempt == 2 {
                // Failing the run makes EventBridge retry it; already-queued users are safe.
                return Err(ApiError::Internal(format!(
                    "{} reminder batches could not be queued",
                    pending.len()
                )));
            }
        }
    }
    metrics.add("RemindersEnqueued", Unit::Count, due.len() as f64);
    Ok(due.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Duplicate,
    /// Due no more (settings changed, or another worker advanced it).
    Stale,
    /// Not due yet by the worker's clock (a run fired for a future hour): left as it is.
    NotYet,
    /// Its hour passed more than CATCH_UP_HOURS ago (an outage): skipped, moved to the next.
    Missed,
    /// Reminders are only for users with an unfinished roadmap.
    NothingToRemind,
}

/// Delivers `user`'s reminder exactly once per local day, at `now` (see the module docs for
/// late and early runs).
pub async fn remind(app: &App, user: DueUser, now: DateTime<Utc>) -> Result<Outcome, ApiError> {
    let db = app.db()?;
    let users = Users::new(db, app.table());
    let Some(profile) = users.get(user.id).await? else {
        return Ok(Outcome::Stale);
    };
    if !profile.reminder_enabled || profile.reminder_due_hour != Some(user.due_hour) {
        return Ok(Outcome::Stale);
    }
    let now_hour = epoch_hour(now);
    if user.due_hour > now_hour {
        return Ok(Outcome::NotYet);
    }
    // The occurrence to deliver is the latest one by now (after an outage, not the old due
    // one); the next is computed from now, so nothing missed comes as a burst.
    let occurrence =
        last_due_hour(now, profile.reminder_hour, &profile.timezone).max(user.due_hour);
    let next = next_due_hour(now, profile.reminder_hour, &profile.timezone);
    if now_hour - occurrence > CATCH_UP_HOURS {
        users.advance_reminder(user.id, user.due_hour, next).await?;
        return Ok(Outcome::Missed);
    }
    let day = crate::streak::local_date(hour_start(occurrence), &profile.timezone);
    let roadmaps = Roadmaps::new(db, app.table()).list(user.id).await?;
    let Some((roadmap, step)) = roadmaps
        .iter()
        .find_map(|r| r.next_step().map(|(_, title)| (r.title.as_str(), title)))
    else {
        users.advance_reminder(user.id, user.due_hour, next).await?;
        return Ok(Outcome::NothingToRemind);
    };
    let notification = Notification {
        id: crate::ids::new_id(),
        kind: "daily_reminder".into(),
        title: "Time for today's step".into(),
        body: format!("Next up in {roadmap}: {step}."),
        created_at: now,
        read_at: None,
    };
    let advance = users.advance_reminder_write(user.id, user.due_hour, next)?;
    let key = format!("REMINDER#{day}");
    match Notifications::new(db, app.table())
        .deliver(user.id, &notification, &key, 3 * 24 * 3600, vec![advance])
        .await?
    {
        Delivery::Delivered => Ok(Outcome::Delivered),
        Delivery::Duplicate => {
            users.advance_reminder(user.id, user.due_hour, next).await?;
            Ok(Outcome::Duplicate)
        }
        Delivery::Cancelled => Ok(Outcome::Stale),
    }
}

/// The SQS worker: each message is a batch of users; a message with any failed user is
/// reported in `batchItemFailures` (redelivered alone; its delivered users are skipped as
/// duplicates then), the rest are deleted by Lambda.
pub async fn work(
    app: &App,
    event: aws_lambda_events::event::sqs::SqsEvent,
    metrics: &mut Metrics,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    work_at(app, event, Utc::now(), metrics).await
}

/// [`work`] with the clock given (tests run it at chosen hours).
pub async fn work_at(
    app: &App,
    event: aws_lambda_events::event::sqs::SqsEvent,
    now: DateTime<Utc>,
    metrics: &mut Metrics,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let mut failures = Vec::new();
    for record in &event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let batch: Batch = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(batch)) => batch,
            _ => {
                // A malformed message never succeeds: after maxReceiveCount it reaches the DLQ.
                tracing::error!(message_id, "unreadable reminder message");
                metrics.count("ReminderFailures");
                failures.push(message_id);
                continue;
            }
        };
        let outcomes = std::sync::Mutex::new(Vec::new());
        let failed = for_each_user(&batch.users, |u| {
            let outcomes = &outcomes;
            async move {
                let outcome = remind(app, u, now).await?;
                outcomes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((u, outcome));
                Ok(())
            }
        })
        .await;
        for (user, outcome) in outcomes.into_inner().unwrap_or_else(|e| e.into_inner()) {
            match outcome {
                Outcome::Delivered => {
                    metrics.count("RemindersDelivered");
                    let lag =
                        (now - hour_start(user.due_hour)).num_milliseconds().max(0) as f64 / 1000.0;
                    metrics.add("ReminderLagSeconds", Unit::Seconds, lag);
                }
                Outcome::Duplicate => metrics.count("ReminderDuplicatesSkipped"),
                Outcome::Stale | Outcome::NothingToRemind | Outcome::NotYet => {
                    metrics.count("RemindersSkipped")
                }
                Outcome::Missed => metrics.count("RemindersMissed"),
            }
        }
        if !failed.is_empty() {
            for (user, err) in &failed {
                tracing::error!(user_id = user.id, error = %err, "reminder failed");
            }
            metrics.add("ReminderFailures", Unit::Count, failed.len() as f64);
            failures.push(message_id);
        }
    }
    let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = aws_lambda_events::event::sqs::BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// Moves every message from the dead-letter queue `from` back to `to` (after a fix): each
/// batch is sent before it is deleted, so a failure part-way leaves copies, never losses —
/// and the workers' idempotency keys make copies harmless.
pub async fn redrive(sqs: &aws_sdk_sqs::Client, from: &str, to: &str) -> Result<usize, String> {
    let mut moved = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body().unwrap_or_default())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = sqs
            .send_message_batch()
            .queue_url(to)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        if !sent.failed().is_empty() {
            return Err(format!(
                "{} messages could not be sent back; they stay in the DLQ",
                sent.failed().len()
            ));
        }
        let deletes = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect::<Vec<_>>();
        sqs.delete_message_batch()
            .queue_url(from)
            .set_entries(Some(deletes))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        moved += messages.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn hour_to_utc(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(h * 3600, 0).unwrap()
    }

    #[test]
    fn the_next_due_hour_is_the_local_hour_in_the_users_timezone() {
        // 09:00 in Istanbul (UTC+3) is 06:00 UTC.
        let due = next_due_hour(at(2026, 11, 25, 5, 0), 9, "Europe/Istanbul");
        assert_eq!(hour_to_utc(due), at(2026, 11, 25, 6, 0));
        // Once that hour has started, the next one is tomorrow's.
        let due = next_due_hour(at(2026, 11, 25, 6, 10), 9, "Europe/Istanbul");
        assert_eq!(hour_to_utc(due), at(2026, 11, 26, 6, 0));
    }

    #[test]
    fn daylight_saving_moves_the_utc_hour_not_the_local_one() {
        let tz = "America/New_York";
        // 09:00 EST = 14:00 UTC before 8 March 2026; 09:00 EDT = 13:00 UTC after.
        assert_eq!(
            hour_to_utc(next_due_hour(at(2026, 3, 7, 15, 0), 9, tz)),
            at(2026, 3, 8, 13, 0)
        );
        assert_eq!(
            hour_to_utc(next_due_hour(at(2026, 3, 6, 15, 0), 9, tz)),
            at(2026, 3, 7, 14, 0)
        );
        // 02:00 does not exist on 8 March: the reminder comes at 03:00 EDT (07:00 UTC).
        assert_eq!(
            hour_to_utc(next_due_hour(at(2026, 3, 8, 0, 0), 2, tz)),
            at(2026, 3, 8, 7, 0)
        );
        // 01:00 happens twice on 1 November: the first one (05:00 UTC, EDT) counts, once.
        let first = next_due_hour(at(2026, 11, 1, 0, 0), 1, tz);
        assert_eq!(hour_to_utc(first), at(2026, 11, 1, 5, 0));
        assert_eq!(
            hour_to_utc(next_due_hour(hour_to_utc(first), 1, tz)),
            at(2026, 11, 2, 6, 0)
        );
    }

    #[test]
    fn the_last_due_hour_is_the_latest_occurrence_at_or_before_now() {
        let tz = "Europe/Istanbul";
        // 09:00 Istanbul = 06:00 UTC.
        assert_eq!(
            hour_to_utc(last_due_hour(at(2026, 11, 25, 6, 30), 9, tz)),
            at(2026, 11, 25, 6, 0)
        );
        assert_eq!(
            hour_to_utc(last_due_hour(at(2026, 11, 25, 5, 59), 9, tz)),
            at(2026, 11, 24, 6, 0)
        );
        // Never after now, and the next one is strictly after.
        let now = at(2026, 3, 8, 12, 0);
        for hour in 0..24 {
            let last = last_due_hour(now, hour, "America/New_York");
            let next = next_due_hour(now, hour, "America/New_York");
            assert!(last <= epoch_hour(now) && next > epoch_hour(now), "{hour}");
            assert!(next - last <= 25, "{hour}: {last} {next}");
        }
    }

    #[tokio::test]
    async fn workers_report_exactly_the_users_that_failed() {
        let users: Vec<DueUser> = (1..=50).map(|id| DueUser { id, due_hour: 1 }).collect();
        let failures = for_each_user(&users, |u| async move {
            if u.id % 10 == 0 {
                Err(ApiError::internal("boom"))
            } else {
                Ok(())
            }
        })
        .await;
        let mut ids: Vec<i64> = failures.iter().map(|(u, _)| u.id).collect();
        ids.sort();
        assert_eq!(ids, [10, 20, 30, 40, 50]);
    }
}
