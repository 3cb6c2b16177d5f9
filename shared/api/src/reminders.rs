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

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::ApiError;
use crate::state::{HasDb, HasMail};
use rota_domain::reminder_hours::{epoch_hour, last_due_hour, next_due_hour};
use rota_lambda::metrics::{Metrics, Unit};
use rota_store::SendRetried;
use rota_store::notifications::{Delivery, Notification, Notifications};
use rota_store::roadmaps::Roadmaps;
use rota_store::users::{DueUser, Users};

/// Users per SQS message (the owner's "100 at a time").
pub const USERS_PER_MESSAGE: usize = 100;
/// Users a worker processes at once: bounds its outbound calls (no sleeps).
pub const WORKER_CONCURRENCY: usize = 16;
/// How late a reminder may still come after its hour (after an outage); later than that, the
/// day's reminder is skipped rather than sent at an hour the user did not choose.
pub const CATCH_UP_HOURS: i64 = 3;

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

/// The scheduler: queues every user due by `now` (the worker's clock, whatever the event's
/// time `at` says: see the module docs), 100 per message, 10 messages per SendMessageBatch.
/// Safe to run twice: the workers deliver once.
pub async fn schedule<S: HasDb>(
    app: &App<S>,
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
    let due = Users::new(app.db(), app.table())
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
pub async fn remind<S: HasDb + HasMail>(
    app: &App<S>,
    user: DueUser,
    now: DateTime<Utc>,
) -> Result<Outcome, ApiError> {
    let db = app.db();
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
    let day = rota_domain::streak::local_date(hour_start(occurrence), &profile.timezone);
    let roadmaps = Roadmaps::new(db, app.table()).list(user.id).await?;
    let Some((roadmap, step)) = roadmaps
        .iter()
        .find_map(|r| r.next_step().map(|(_, title)| (r.title.as_str(), title)))
    else {
        users.advance_reminder(user.id, user.due_hour, next).await?;
        return Ok(Outcome::NothingToRemind);
    };
    // The email first, claimed per user and day: a failure here retries the user before the
    // in-app notification moves their due hour on (crate::email).
    if let Some((mailer, keys)) = app.state.mail() {
        let sent = mailer
            .remind(
                db,
                app.table(),
                keys,
                &profile,
                &day.to_string(),
                roadmap,
                step,
                now,
            )
            .await?;
        tracing::info!(user_id = user.id, outcome = ?sent, "reminder email");
    }
    let notification = Notification {
        id: rota_domain::ids::new_id(),
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
pub async fn work<S: HasDb + HasMail>(
    app: &App<S>,
    event: aws_lambda_events::event::sqs::SqsEvent,
    metrics: &mut Metrics,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    work_at(app, event, Utc::now(), metrics).await
}

/// [`work`] with the clock given (tests run it at chosen hours).
pub async fn work_at<S: HasDb + HasMail>(
    app: &App<S>,
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
