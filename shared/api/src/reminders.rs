//! Daily reminders: a scheduler run every 15 minutes finds the users due through the
//! `reminders-due` index and queues them in messages of 100 users (the owner's batch size);
//! SQS-triggered workers deliver one `daily_reminder` per user per local day.
//!
//! Due times are stored per user as the next UTC minute at which their local
//! `reminder_hour`:00 comes round (`reminder_due_hour`, epoch minutes), computed in their
//! timezone, so daylight saving changes are handled where they happen. Every due minute is on
//! a UTC quarter hour (`rota_domain::reminder_hours`), so the 15-minute schedule meets each one
//! on time; a run queues everything due by its clock, so a missed run delays, never loses.
//! Items written before minutes hold an epoch hour: the first run queues them (an hour is far
//! below any minute) and the worker stores the minute it stands for, or delivers it if due. Exactly once: the worker's delivery writes an
//! idempotency item `REMINDER#<local date>` in the same transaction as the notification, so
//! redeliveries, duplicate batches, crashes mid-batch and concurrent workers all write it once.
//!
//! Time is the worker's clock, never the schedule event's: a run fired late (an outage, a
//! retried event) or for a future hour (a skewed clock, a manual run) queues what is due *now*.
//! After an outage a user gets the reminder of the latest occurrence of their hour if it is at
//! most [`CATCH_UP_MINUTES`] old, else none that day; either way the next one is computed from
//! now, so missed days never come as a burst.
//!
//! The one exception is local: under rota-local (which sets [`LOCAL_CLOCK_ENV`] in every
//! function's environment; the template never does, tested) the scheduler takes the event's
//! `time` as its clock and stamps it on its messages, and the worker judges by that stamp, so
//! `make reminders-now AT=…` shows what would be sent at `AT`. A deployed function ignores both.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::ApiError;
use crate::state::{HasDb, HasMail};
use rota_domain::locale::Locale;
use rota_domain::reminder_hours::{
    LEGACY_HOUR_LIMIT, epoch_minute, last_due_minute, minute_start, next_due_minute,
    stored_due_minute,
};
use rota_lambda::metrics::{Metrics, Unit};
use rota_store::notifications::{Delivery, Notification, Notifications};
use rota_store::roadmaps::{Roadmap, Roadmaps};
use rota_store::users::{DueUser, Users};

/// Users per SQS message (the owner's "100 at a time").
pub const USERS_PER_MESSAGE: usize = 100;
/// Users a worker processes at once: bounds its outbound calls (no sleeps).
pub const WORKER_CONCURRENCY: usize = 16;
/// How late a reminder may still come after its time (after an outage): exactly 3 hours;
/// later than that, the day's reminder is skipped rather than sent at an hour the user did not
/// choose.
pub const CATCH_UP_MINUTES: i64 = 180;

pub use crate::config::LOCAL_CLOCK_ENV;

/// The body of one SQS message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub users: Vec<DueUser>,
    /// The scheduler's clock, stamped only under rota-local (see the module docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<DateTime<Utc>>,
}

/// The scheduler's clock: the wall clock, or under rota-local the event's `time`.
pub fn scheduler_clock(
    local_clock: bool,
    event_time: Option<DateTime<Utc>>,
    wall: DateTime<Utc>,
) -> DateTime<Utc> {
    match event_time {
        Some(at) if local_clock => at,
        _ => wall,
    }
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

/// The instant a stored due value names (a legacy hour's start; see the module docs).
fn stored_start(stored: i64) -> DateTime<Utc> {
    if stored >= LEGACY_HOUR_LIMIT {
        minute_start(stored)
    } else {
        minute_start(stored * 60)
    }
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
        .due_for_reminders(epoch_minute(now))
        .await?;
    metrics.add("RemindersDue", Unit::Count, due.len() as f64);
    let bodies: Vec<String> = due
        .chunks(USERS_PER_MESSAGE)
        .map(|users| {
            serde_json::to_string(&Batch {
                users: users.to_vec(),
                clock: app.config.local_clock.then_some(now),
            })
            .map_err(ApiError::internal)
        })
        .collect::<Result<_, _>>()?;
    // Failing the run makes EventBridge retry it; already-queued users are safe.
    rota_store::queue::send_all(sqs, queue, &bodies)
        .await
        .map_err(ApiError::internal)?;
    metrics.add("RemindersEnqueued", Unit::Count, due.len() as f64);
    Ok(due.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Duplicate,
    /// Due no more (settings changed, or another worker advanced it).
    Stale,
    /// Not due yet by the worker's clock (a run fired for a future hour): left as it is (a
    /// legacy hour value is replaced by the minute it stands for).
    NotYet,
    /// Its time passed more than CATCH_UP_MINUTES ago (an outage): skipped, moved to the next.
    Missed,
    /// Reminders are only for users with an unfinished roadmap.
    NothingToRemind,
}

/// The in-app reminder's title and body in the user's language, naming the roadmap and its
/// next step (stored as `step`, in English) in that language too.
fn reminder_text(roadmap: &Roadmap, step: &str, locale: Locale) -> (String, String) {
    let name = crate::roadmap_text::summary_title(roadmap, locale);
    let step = crate::roadmap_text::step_title(roadmap, step, locale);
    match locale {
        Locale::En => (
            "Time for today's step".into(),
            format!("Next up in {name}: {step}."),
        ),
        Locale::Tr => (
            "Bugünkü adımın seni bekliyor".into(),
            format!("Sıradaki adımın: {step} ({name})."),
        ),
    }
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
    if !profile.reminder_enabled || profile.reminder_due != Some(user.due) {
        return Ok(Outcome::Stale);
    }
    let (hour, timezone) = (profile.reminder_hour, profile.timezone.as_str());
    let due = stored_due_minute(user.due, hour, timezone);
    if minute_start(due) > now {
        if due != user.due {
            // A legacy hour not due yet: store its minute, so runs skip it until then.
            users.advance_reminder(user.id, user.due, due).await?;
        }
        return Ok(Outcome::NotYet);
    }
    // The occurrence to deliver is the latest one by now (after an outage, not the old due
    // one); the next is computed from now, so nothing missed comes as a burst.
    let occurrence = last_due_minute(now, hour, timezone).max(due);
    let next = next_due_minute(now, hour, timezone);
    if now - minute_start(occurrence) > chrono::Duration::minutes(CATCH_UP_MINUTES) {
        users.advance_reminder(user.id, user.due, next).await?;
        return Ok(Outcome::Missed);
    }
    let day = rota_domain::streak::local_date(minute_start(occurrence), timezone);
    let roadmaps = Roadmaps::new(db, app.table()).list(user.id).await?;
    let Some((roadmap, step)) = roadmaps
        .iter()
        .find_map(|r| r.next_step().map(|(_, title)| (r, title)))
    else {
        users.advance_reminder(user.id, user.due, next).await?;
        return Ok(Outcome::NothingToRemind);
    };
    // The email first, claimed per user and day: a failure here retries the user before the
    // in-app notification moves their due hour on (crate::email).
    if let Some((mailer, keys)) = app.state.mail() {
        // The roadmap's and the step's names in the learner's language, as in the app.
        let name = crate::roadmap_text::summary_title(roadmap, profile.locale);
        let step = crate::roadmap_text::step_title(roadmap, step, profile.locale);
        let sent = mailer
            .remind(
                db,
                app.table(),
                keys,
                &profile,
                &day.to_string(),
                &name,
                step,
                now,
            )
            .await?;
        tracing::info!(user_id = user.id, outcome = ?sent, "reminder email");
    }
    let (title, body) = reminder_text(roadmap, step, profile.locale);
    let notification = Notification {
        id: rota_domain::ids::new_id(),
        kind: "daily_reminder".into(),
        title,
        body,
        created_at: now,
        read_at: None,
    };
    let advance = users.advance_reminder_write(user.id, user.due, next)?;
    let key = format!("REMINDER#{day}");
    match Notifications::new(db, app.table())
        .deliver(user.id, &notification, &key, 3 * 24 * 3600, vec![advance])
        .await?
    {
        Delivery::Delivered => Ok(Outcome::Delivered),
        Delivery::Duplicate => {
            users.advance_reminder(user.id, user.due, next).await?;
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

/// [`work`] with the clock given (tests run it at chosen times); under rota-local a batch's
/// stamped clock replaces it (see the module docs).
pub async fn work_at<S: HasDb + HasMail>(
    app: &App<S>,
    event: aws_lambda_events::event::sqs::SqsEvent,
    now: DateTime<Utc>,
    metrics: &mut Metrics,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let mut failures = Vec::new();
    for record in &event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let body = record.body.as_deref();
        let batch: Batch = match body.map(serde_json::from_str) {
            Some(Ok(batch)) => batch,
            _ => {
                // A malformed message never succeeds: after maxReceiveCount it reaches the DLQ.
                tracing::error!(message_id, "unreadable reminder message");
                metrics.count("ReminderFailures");
                failures.push(message_id);
                continue;
            }
        };
        let now = match batch.clock {
            Some(clock) if app.config.local_clock => clock,
            _ => now,
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
                        (now - stored_start(user.due)).num_milliseconds().max(0) as f64 / 1000.0;
                    metrics.add("ReminderLagSeconds", Unit::Seconds, lag);
                }
                Outcome::Duplicate => metrics.count("ReminderDuplicatesSkipped"),
                Outcome::Stale | Outcome::NothingToRemind | Outcome::NotYet => {
                    metrics.count("RemindersSkipped")
                }
                Outcome::Missed => metrics.count("RemindersMissed"),
            }
        }
        for (user, err) in &failed {
            tracing::error!(user_id = user.id, error = err.log_line(), "reminder failed");
        }
        if !failed.is_empty() {
            metrics.add("ReminderFailures", Unit::Count, failed.len() as f64);
            failures.push(message_id);
        }
    }
    crate::function::sqs_failures(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_local_clock_takes_the_events_time() {
        let wall = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = wall + chrono::Duration::hours(5);
        assert_eq!(scheduler_clock(false, Some(at), wall), wall);
        assert_eq!(scheduler_clock(true, Some(at), wall), at);
        assert_eq!(scheduler_clock(true, None, wall), wall);
    }

    #[test]
    fn batches_read_with_and_without_a_clock_and_in_the_old_form() {
        let old: Batch = serde_json::from_str(r#"{"users":[{"id":7,"due_hour":493000}]}"#).unwrap();
        assert_eq!(old.users, [DueUser { id: 7, due: 493000 }]);
        assert_eq!(old.clock, None);
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"users":[{"id":7,"due_hour":493000}]}"#
        );
        let stamped: Batch =
            serde_json::from_str(r#"{"users":[],"clock":"2026-12-07T03:30:00Z"}"#).unwrap();
        assert_eq!(
            stamped.clock.unwrap().to_rfc3339(),
            "2026-12-07T03:30:00+00:00"
        );
    }

    #[test]
    fn rota_local_clock_is_read_from_its_variable_only() {
        let with = |v: Option<&str>| {
            crate::config::Config::from_lookup(|k| {
                (k == LOCAL_CLOCK_ENV)
                    .then(|| v.map(str::to_owned))
                    .flatten()
            })
            .unwrap()
            .local_clock
        };
        assert!(!with(None));
        assert!(!with(Some("0")));
        assert!(with(Some("1")));
    }

    #[tokio::test]
    async fn workers_report_exactly_the_users_that_failed() {
        let users: Vec<DueUser> = (1..=50).map(|id| DueUser { id, due: 1 }).collect();
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
