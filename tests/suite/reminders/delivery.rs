//! The reminder worker, in process: one reminder per due user however often a batch comes, two
//! workers racing, a crash between delivery and the next due hour, bad messages, outages and
//! the catch-up window.

use futures::future::join_all;
use rota_api::reminders::{Outcome, remind};
use rota_store::users::DueUser;
use rota_tests::*;
use serde_json::json;

use super::{HOUR, due_at, due_learner, just_after, reminders_of};

#[tokio::test]
async fn the_due_time_is_the_users_local_reminder_hour() {
    let app = app().await;
    let me = learner(&app, false).await;
    let due = due_at(&app, me.id).await;
    let at = chrono::DateTime::from_timestamp(due * 60, 0).unwrap();
    assert_eq!(chrono::Timelike::minute(&at), 0);
    // Istanbul is UTC+3 all year.
    assert_eq!(chrono::Timelike::hour(&at), (learner_hour() + 24 - 3) % 24);
}

#[tokio::test]
async fn a_due_user_gets_exactly_one_reminder_however_often_the_batch_arrives() {
    let app = app().await;
    let (me, due) = due_learner(&app, true).await;
    let now = just_after(due.due);
    assert_eq!(remind(&app, due, now).await.unwrap(), Outcome::Delivered);
    // SQS redelivery / the same batch sent twice.
    for _ in 0..3 {
        assert_eq!(remind(&app, due, now).await.unwrap(), Outcome::Stale);
    }
    let (items, unread) = reminders_of(&app, &me).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "daily_reminder");
    assert!(items[0]["read_at"].is_null());
    assert_eq!(unread, 1);
    // The next one is due a day later.
    assert_eq!(due_at(&app, me.id).await, due.due + 24 * HOUR);
}

#[tokio::test]
async fn two_workers_on_the_same_user_at_once_deliver_once() {
    let app = app().await;
    let (me, due) = due_learner(&app, true).await;
    let now = just_after(due.due);
    let outcomes = join_all((0..6).map(|_| remind(&app, due, now))).await;
    let delivered = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Outcome::Delivered)))
        .count();
    assert_eq!(delivered, 1, "{outcomes:?}");
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

#[tokio::test]
async fn a_crash_between_delivery_and_the_next_due_update_cannot_send_twice() {
    // The idempotency key is already there (as if a worker died after delivering but before
    // anything else moved on): the retry skips it as a duplicate and moves the user on.
    let app = app().await;
    let (me, due) = due_learner(&app, true).await;
    let day = rota_domain::streak::local_date(
        chrono::DateTime::from_timestamp(due.due * 60, 0).unwrap(),
        "Europe/Istanbul",
    );
    let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    db.put_item()
        .table_name(app.table())
        .item(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", me.id)),
        )
        .item(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REMINDER#{day}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        remind(&app, due, just_after(due.due)).await.unwrap(),
        Outcome::Duplicate
    );
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_at(&app, me.id).await, due.due + 24 * HOUR);
}

#[tokio::test]
async fn users_without_an_unfinished_roadmap_get_no_reminder_but_move_on() {
    let app = app().await;
    let (me, due) = due_learner(&app, false).await;
    assert_eq!(
        remind(&app, due, just_after(due.due)).await.unwrap(),
        Outcome::NothingToRemind
    );
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_at(&app, me.id).await, due.due + 24 * HOUR);
}

fn sqs_event(bodies: &[(&str, String)]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<_> = bodies
        .iter()
        .map(|(id, body)| json!({"messageId": id, "receiptHandle": "h", "body": body, "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}))
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

#[tokio::test]
async fn one_bad_message_fails_alone_and_a_worker_killed_mid_batch_loses_and_repeats_nothing() {
    let app = app().await;
    let learners = join_all((0..3).map(|_| learner(&app, true))).await;
    let mut users = Vec::new();
    for l in &learners {
        users.push(DueUser {
            id: l.id,
            due: due_at(&app, l.id).await,
        });
    }
    let good = serde_json::to_string(&rota_api::reminders::Batch {
        users: users.clone(),
        clock: None,
    })
    .unwrap();
    // First delivery "dies" after the first user (a worker killed mid-batch): simulate by
    // reminding only that user, leaving the message unacknowledged.
    let now = just_after(users[0].due);
    remind(&app, users[0], now).await.unwrap();
    // Redelivery of the whole message, alongside a malformed one.
    let event = sqs_event(&[("good", good.clone()), ("bad", "{not json".into())]);
    let mut metrics = rota_lambda::metrics::Metrics::new();
    let response = rota_api::reminders::work_at(&app, event, now, &mut metrics).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["bad"]);
    assert_eq!(metrics.get("RemindersDelivered"), Some(2.0));
    // And the same batch once more: nothing new.
    let again =
        rota_api::reminders::work_at(&app, sqs_event(&[("good", good)]), now, &mut metrics).await;
    assert!(again.batch_item_failures.is_empty());
    for l in &learners {
        assert_eq!(reminders_of(&app, l).await.0.len(), 1, "one reminder each");
    }
}

#[tokio::test]
async fn after_an_outage_a_user_gets_at_most_the_latest_reminder_then_the_normal_rhythm() {
    let app = app().await;
    let (me, due) = due_learner(&app, true).await;
    // The scheduler was down for a day and two hours: the user's hour came round twice.
    // Today's came 2 hours ago (within the catch-up): that one reminder, and no other.
    let now = just_after(due.due + 26 * HOUR);
    assert_eq!(remind(&app, due, now).await.unwrap(), Outcome::Delivered);
    let (items, _) = reminders_of(&app, &me).await;
    assert_eq!(items.len(), 1, "one reminder, not one per missed day");
    // The next one is tomorrow at the user's hour: nothing else is due now.
    let next = due_at(&app, me.id).await;
    assert_eq!(next, due.due + 48 * HOUR);
    let redelivered = DueUser {
        id: me.id,
        due: next,
    };
    assert_eq!(
        remind(&app, redelivered, just_after(due.due + 27 * HOUR))
            .await
            .unwrap(),
        Outcome::NotYet
    );
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

#[tokio::test]
async fn a_reminder_later_than_the_catch_up_is_skipped_not_sent_at_the_wrong_hour() {
    let app = app().await;
    let (me, due) = due_learner(&app, true).await;
    // The user's time passed the catch-up (3 hours) and one second ago: skip today, move to
    // tomorrow. (Whole hours used to allow up to 3 h 59 min.)
    let bound = chrono::Duration::minutes(rota_api::reminders::CATCH_UP_MINUTES);
    assert_eq!(bound, chrono::Duration::hours(3));
    let start = |due: i64| chrono::DateTime::from_timestamp(due * 60, 0).unwrap();
    let now = start(due.due) + bound + chrono::Duration::seconds(1);
    assert_eq!(remind(&app, due, now).await.unwrap(), Outcome::Missed);
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_at(&app, me.id).await, due.due + 24 * HOUR);
    // Exactly at the edge of the catch-up it is still sent.
    let (_other, due) = due_learner(&app, true).await;
    let edge = start(due.due) + bound;
    assert_eq!(remind(&app, due, edge).await.unwrap(), Outcome::Delivered);
}

#[tokio::test]
async fn a_turkish_learner_is_reminded_in_turkish() {
    let app = app().await;
    let (me, due) = due_learner(&app, true).await;
    let reply = patch_me(&app, &me.token, &json!({"locale": "tr"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let now = just_after(due.due);
    assert_eq!(remind(&app, due, now).await.unwrap(), Outcome::Delivered);
    let (items, _) = reminders_of(&app, &me).await;
    assert_eq!(items.len(), 1);
    // The roadmap's and its next step's names in Turkish too.
    let roadmap = rota_store::roadmaps::Roadmaps::new(app.db(), app.table())
        .list(me.id)
        .await
        .unwrap()
        .remove(0);
    let level = roadmap.level.parse().unwrap();
    let locale = rota_roadmap::Locale::Tr;
    let name =
        rota_roadmap::plan_title(&roadmap.goal, level, roadmap.hours_per_week, locale).unwrap();
    let (_, step) = roadmap.next_step().unwrap();
    let step = rota_roadmap::step_title_in(&roadmap.goal, step, locale).unwrap();
    assert_eq!(items[0]["title"], "Bugünkü adımın seni bekliyor");
    assert_eq!(
        items[0]["body"],
        format!("Sıradaki adımın: {step} ({name}).")
    );
    assert!(name.contains("yol haritası"), "{name}");
}
