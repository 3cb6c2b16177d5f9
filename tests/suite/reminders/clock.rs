//! Time: the local clock knob (`make reminders-now AT=…`, i.e. `rota-local fire --time`) end
//! to end and its refusal outside rota-local, and profiles still holding an epoch hour from
//! before due times moved to minutes.

use rota_api::reminders::{Batch, Outcome, remind};
use rota_domain::reminder_hours::{epoch_minute, minute_start};
use rota_store::users::DueUser;
use rota_tests::*;
use serde_json::json;

use super::{
    due_at, due_learner, just_after, notifications_once_delivered, reminded_account, reminders_of,
};

/// `rota-local fire --time AT` on the test stack: the scheduler queues who is due by AT and the
/// stack's worker (through the queue) judges by AT too. A user due at AT gets the reminder
/// (stamped AT), one due 15 minutes after AT does not. Both are due minutes from now (not a
/// day away), so a schedule fired this way reaches no other test's users.
#[tokio::test]
async fn a_schedule_fired_for_a_time_reminds_who_is_due_then_and_nobody_due_later() {
    let api = Api::new();
    // Reminders at 9 in Kathmandu: moved to minutes from now below.
    let due_then = reminded_account(&api, 9, "Asia/Kathmandu").await;
    let due_later = reminded_account(&api, 9, "Asia/Kathmandu").await;
    let at = epoch_minute(chrono::Utc::now()) + 5;
    let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    set_due_minute(&db, due_then.id, at).await;
    set_due_minute(&db, due_later.id, at + 15).await;

    let out = fire_reminder_schedule(&minute_start(at).to_rfc3339());
    succeeded(&out, "rota-local fire");

    let token = due_then.token();
    let reminders = notifications_once_delivered(&api, "/api/notifications", token).await;
    assert_eq!(reminders.len(), 1, "the user due at AT is reminded");
    assert_eq!(reminders[0]["kind"], "daily_reminder");
    let created: chrono::DateTime<chrono::Utc> = reminders[0]["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(created, minute_start(at), "delivered by AT's clock");
    // The user due later was never queued: nothing, and their due time is untouched.
    let later = api
        .get("/api/notifications", due_later.token())
        .await
        .json();
    assert_eq!(later["items"], json!([]));
    let app = app().await;
    assert_eq!(due_at(&app, due_later.id).await, at + 15);
    // The next one is the next 09:00 in Kathmandu after AT (AT's clock, not the wall's).
    let next = rota_domain::reminder_hours::next_due_minute(minute_start(at), 9, "Asia/Kathmandu");
    assert_eq!(due_at(&app, due_then.id).await, next);
}

fn sqs_event(body: String) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_value(json!({"Records": [{"messageId": "m", "receiptHandle": "h", "body": body, "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}]}))
        .unwrap()
}

/// A worker without rota-local's variable (a deployed one) ignores a clock stamped in its
/// message: a user due tomorrow is not reminded today, whatever the message says. With it,
/// the stamp is the clock.
#[tokio::test]
async fn a_worker_outside_rota_local_ignores_the_clock_in_its_message() {
    let mut app = app().await;
    let (me, due) = due_learner(&app, true).await;
    let stamped = serde_json::to_string(&Batch {
        users: vec![due],
        clock: Some(just_after(due.due)),
    })
    .unwrap();
    let wall = chrono::Utc::now();
    assert!(minute_start(due.due) > wall, "due later than now");
    app.set_config(|c| c.local_clock = false);
    let mut metrics = rota_lambda::metrics::Metrics::new();
    rota_api::reminders::work_at(&app, sqs_event(stamped.clone()), wall, &mut metrics).await;
    assert_eq!(metrics.get("RemindersDelivered"), None);
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_at(&app, me.id).await, due.due);

    app.set_config(|c| c.local_clock = true);
    rota_api::reminders::work_at(&app, sqs_event(stamped), wall, &mut metrics).await;
    assert_eq!(metrics.get("RemindersDelivered"), Some(1.0));
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

/// A profile written before minutes holds the epoch hour its local time was rounded down to
/// (09:00 Kolkata, 03:30 UTC, was stored as 03:00). The scheduler's minute query returns it at
/// once (an hour is far below any minute); the worker stores the minute it stands for and
/// reminds nobody early; at that minute the reminder comes, once.
#[tokio::test]
async fn a_profile_holding_a_legacy_hour_is_moved_to_its_minute_and_reminded_on_it() {
    let app = app().await;
    let me = learner(&app, true).await;
    let settings = json!({"reminder_hour": 9, "timezone": "Asia/Kolkata"});
    assert_eq!(patch_me(&app, &me.token, &settings).await.status, 200);
    let minute = due_at(&app, me.id).await;
    assert_eq!(minute.rem_euclid(60), 30, "09:00 Kolkata is :30 UTC");
    let legacy = minute.div_euclid(60);
    let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    set_due_minute(&db, me.id, legacy).await; // the value as the hour code wrote it
    let users = rota_store::users::Users::new(app.db(), app.table());
    let queued = users
        .due_for_reminders(epoch_minute(chrono::Utc::now()))
        .await
        .unwrap();
    assert!(queued.contains(&DueUser {
        id: me.id,
        due: legacy
    }));

    let old = DueUser {
        id: me.id,
        due: legacy,
    };
    let on_the_hour = minute_start(legacy * 60) + chrono::Duration::minutes(10);
    assert_eq!(
        remind(&app, old, on_the_hour).await.unwrap(),
        Outcome::NotYet
    );
    assert!(
        reminders_of(&app, &me).await.0.is_empty(),
        "not 20 minutes early"
    );
    assert_eq!(due_at(&app, me.id).await, minute, "migrated to its minute");

    let new = DueUser {
        id: me.id,
        due: minute,
    };
    assert_eq!(
        remind(&app, new, just_after(minute)).await.unwrap(),
        Outcome::Delivered
    );
    assert_eq!(
        remind(&app, old, just_after(minute)).await.unwrap(),
        Outcome::Stale
    );
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}
