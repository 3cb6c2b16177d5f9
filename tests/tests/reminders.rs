//! Daily reminders against the real emulator: exactly one per user per local day, whatever
//! is redelivered, duplicated, crashed or raced.

use futures::future::join_all;
use rota_api::Needs;
use rota_api::handlers::{auth, roadmaps, users};
use rota_api::reminders::{Outcome, remind};
use rota_store::users::DueUser;
use rota_tests::*;
use serde_json::json;

const ALL: Needs = Needs {
    db: true,
    cache: true,
    tokens: true,
};

struct Learner {
    id: i64,
    token: String,
}

/// The local hour (Istanbul, UTC+3) of learners' reminders: about 12 hours from now, so a
/// schedule fired by another test for the next hour never picks them up.
fn learner_hour() -> u32 {
    (chrono::Timelike::hour(&chrono::Utc::now()) + 12 + 3) % 24
}

/// A user with reminders in Istanbul time and, when asked, an unfinished roadmap.
async fn learner(app: &rota_api::App, with_roadmap: bool) -> Learner {
    let event = with_body(
        sample_event("auth-register"),
        &json!({"email": unique_email(), "password": "correct horse battery", "display_name": "Learner"}),
    );
    let body = call(app, &auth::Register, &event).await.json();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let patch = with_body(
        with_token(sample_event("users-me-patch"), &token),
        &json!({"reminder_enabled": true, "reminder_hour": learner_hour(), "timezone": "Europe/Istanbul"}),
    );
    assert_eq!(call(app, &users::PatchMe, &patch).await.status, 200);
    if with_roadmap {
        let create = with_token(sample_event("roadmaps-create"), &token);
        let reply = call(app, &roadmaps::CreateRoadmap, &create).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    Learner {
        id: body["user"]["id"].as_i64().unwrap(),
        token,
    }
}

/// A moment just after `due_hour` began: the worker's clock when the hour has come.
fn just_after(due_hour: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(due_hour * 3600 + 300, 0).unwrap()
}

async fn due_hour(app: &rota_api::App, id: i64) -> i64 {
    rota_store::users::Users::new(app.db().unwrap(), app.table())
        .get(id)
        .await
        .unwrap()
        .unwrap()
        .reminder_due_hour
        .expect("reminders are on")
}

async fn reminders_of(app: &rota_api::App, learner: &Learner) -> (Vec<serde_json::Value>, u64) {
    let list = call(
        app,
        &rota_api::handlers::notifications::ListNotifications,
        &with_token(sample_event("notifications-list"), &learner.token),
    )
    .await;
    let items = list.json()["items"].as_array().unwrap().clone();
    let unread = rota_store::notifications::Notifications::new(app.db().unwrap(), app.table())
        .unread(learner.id)
        .await
        .unwrap();
    (items, unread)
}

#[tokio::test]
async fn the_due_hour_is_the_users_local_reminder_hour() {
    let app = app(ALL).await;
    let me = learner(&app, false).await;
    let due = due_hour(&app, me.id).await;
    let at = chrono::DateTime::from_timestamp(due * 3600, 0).unwrap();
    // Istanbul is UTC+3 all year.
    assert_eq!(chrono::Timelike::hour(&at), (learner_hour() + 24 - 3) % 24);
}

#[tokio::test]
async fn a_due_user_gets_exactly_one_reminder_however_often_the_batch_arrives() {
    let app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = DueUser {
        id: me.id,
        due_hour: due_hour(&app, me.id).await,
    };
    let now = just_after(due.due_hour);
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
    assert_eq!(due_hour(&app, me.id).await, due.due_hour + 24);
}

#[tokio::test]
async fn two_workers_on_the_same_user_at_once_deliver_once() {
    let app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = DueUser {
        id: me.id,
        due_hour: due_hour(&app, me.id).await,
    };
    let now = just_after(due.due_hour);
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
    let app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = DueUser {
        id: me.id,
        due_hour: due_hour(&app, me.id).await,
    };
    let day = rota_domain::streak::local_date(
        chrono::DateTime::from_timestamp(due.due_hour * 3600, 0).unwrap(),
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
        remind(&app, due, just_after(due.due_hour)).await.unwrap(),
        Outcome::Duplicate
    );
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_hour(&app, me.id).await, due.due_hour + 24);
}

#[tokio::test]
async fn users_without_an_unfinished_roadmap_get_no_reminder_but_move_on() {
    let app = app(ALL).await;
    let me = learner(&app, false).await;
    let due = DueUser {
        id: me.id,
        due_hour: due_hour(&app, me.id).await,
    };
    assert_eq!(
        remind(&app, due, just_after(due.due_hour)).await.unwrap(),
        Outcome::NothingToRemind
    );
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_hour(&app, me.id).await, due.due_hour + 24);
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
    let app = app(ALL).await;
    let learners = join_all((0..3).map(|_| learner(&app, true))).await;
    let mut users = Vec::new();
    for l in &learners {
        users.push(DueUser {
            id: l.id,
            due_hour: due_hour(&app, l.id).await,
        });
    }
    let good = serde_json::to_string(&rota_api::reminders::Batch {
        users: users.clone(),
    })
    .unwrap();
    // First delivery "dies" after the first user (a worker killed mid-batch): simulate by
    // reminding only that user, leaving the message unacknowledged.
    let now = just_after(users[0].due_hour);
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
async fn the_scheduler_queues_due_users_in_messages_of_at_most_100() {
    let mut app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = due_hour(&app, me.id).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let queue = test_queue(&sqs, "reminders-test-").await;
    app.config.reminders_queue_url = Some(queue.clone());
    let at = chrono::DateTime::from_timestamp(due * 3600, 0).unwrap();
    let mut metrics = rota_lambda::metrics::Metrics::new();
    let queued = rota_api::reminders::schedule(&app, &sqs, at, just_after(due), &mut metrics)
        .await
        .unwrap();
    assert!(queued >= 1);
    let mut seen = 0;
    let mut found = false;
    for body in drain_queue(&sqs, &queue).await {
        let batch: rota_api::reminders::Batch = serde_json::from_str(&body).unwrap();
        assert!(!batch.users.is_empty() && batch.users.len() <= 100);
        assert!(
            batch.users.iter().all(|u| u.due_hour <= due),
            "only users due by then"
        );
        found |= batch.users.iter().any(|u| u.id == me.id);
        seen += batch.users.len();
    }
    assert_eq!(seen, queued);
    assert!(found, "the due user was queued");
    assert_eq!(metrics.get("RemindersEnqueued"), Some(queued as f64));
}

#[tokio::test]
async fn the_redrive_tool_moves_dead_letters_back_to_the_queue() {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let mk = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let (dlq, queue) = (mk(unique("dlq-")).await, mk(unique("main-")).await);
    for i in 0..23 {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let out = rota_admin(&["redrive", &dlq, &queue]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "moved 23 messages"
    );
    let mut bodies = drain_queue(&sqs, &queue).await;
    bodies.sort();
    let mut expected: Vec<String> = (0..23).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
}

#[tokio::test]
async fn a_fired_schedule_reaches_the_worker_through_the_queue_and_reminds_once() {
    let api = Api::new();
    let me = api.new_account().await;
    let token = Some(me.access_token.as_str());
    // Reminders at the current UTC hour. Settings always schedule the *next* occurrence
    // (tomorrow's, as this hour has begun), so the test then moves the due hour to this one,
    // as if a day had passed: the fired schedule finds the user due now.
    let hour = chrono::Timelike::hour(&chrono::Utc::now());
    let patched = api
        .patch(
            "/api/users/me",
            &json!({"reminder_enabled": true, "reminder_hour": hour, "timezone": "UTC"}),
            token,
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let created = api
        .post(
            "/api/roadmaps",
            &json!({"goal": "backend", "level": "beginner", "hours_per_week": 5}),
            token,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let now_hour = rota_domain::reminder_hours::epoch_hour(chrono::Utc::now());
    set_due_hour(
        &aws_sdk_dynamodb::Client::new(&sdk_config().await),
        me.id,
        now_hour,
    )
    .await;
    let at = chrono::Utc::now().to_rfc3339();

    let fire = || fire_reminder_schedule(&at);
    let out = fire();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The stack's SQS mapping hands the batch to the worker: wait for the reminder.
    let mut reminders = Vec::new();
    for _ in 0..150 {
        let page = api
            .get("/api/notifications?unread_only=true", token)
            .await
            .json();
        reminders = page["items"].as_array().unwrap().clone();
        if !reminders.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(reminders.len(), 1, "one reminder arrives");
    assert_eq!(reminders[0]["kind"], "daily_reminder");
    // Firing the same hour again (a retried schedule) sends nothing more.
    assert!(fire().status.success());
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let all = api.get("/api/notifications", token).await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("/api/dashboard", token).await.json()["unread_notifications"],
        1
    );
    // Reading it clears the count.
    let id = reminders[0]["id"].as_i64().unwrap();
    assert_eq!(
        api.send(
            "POST",
            &format!("/api/notifications/{id}/read"),
            token,
            None,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.get("/api/dashboard", token).await.json()["unread_notifications"],
        0
    );
}

#[tokio::test]
async fn notifications_page_read_one_and_read_all_keep_the_unread_count_exact() {
    use rota_api::handlers::notifications::{
        ListNotifications, ReadAllNotifications, ReadNotification,
    };
    use rota_store::notifications::{Delivery, Notification, Notifications};
    let app = app(ALL).await;
    let me = learner(&app, false).await;
    let other = learner(&app, false).await;
    let store = Notifications::new(app.db().unwrap(), app.table());
    let mut ids = Vec::new();
    for i in 0..3 {
        let n = Notification {
            id: rota_domain::ids::new_id(),
            kind: "daily_reminder".into(),
            title: format!("t{i}"),
            body: "b".into(),
            created_at: chrono::Utc::now(),
            read_at: None,
        };
        let key = format!("TEST#{}", n.id);
        assert_eq!(
            store.deliver(me.id, &n, &key, 60, vec![]).await.unwrap(),
            Delivery::Delivered
        );
        ids.push(n.id);
    }
    let list = |query: &str, token: &str| {
        let mut event = with_token(sample_event("notifications-list"), token);
        // lambda_http reads the query from rawQueryString, as API Gateway sends both.
        event["rawQueryString"] = json!(query);
        event["queryStringParameters"] = serde_json::Value::Object(
            query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_owned(), json!(v))
                })
                .collect(),
        );
        event
    };
    let first = call(&app, &ListNotifications, &list("limit=2", &me.token))
        .await
        .json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["items"][0]["id"], ids[2], "newest first");
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = call(
        &app,
        &ListNotifications,
        &list(&format!("limit=2&cursor={cursor}"), &me.token),
    )
    .await
    .json();
    assert_eq!(rest["items"][0]["id"], ids[0]);
    assert!(rest["next_cursor"].is_null());
    // A cursor from the unread-only list is not valid for the full list.
    let unread_page = call(
        &app,
        &ListNotifications,
        &list("unread_only=true&limit=1", &me.token),
    )
    .await
    .json();
    let foreign = unread_page["next_cursor"].as_str().unwrap();
    call(
        &app,
        &ListNotifications,
        &list(&format!("cursor={foreign}"), &me.token),
    )
    .await
    .problem(400);
    call(
        &app,
        &ListNotifications,
        &list("unread_only=maybe", &me.token),
    )
    .await
    .problem(422);

    let read = |id: i64, token: &str| {
        let mut event = with_token(sample_event("notifications-read"), token);
        event["pathParameters"]["id"] = json!(id.to_string());
        event
    };
    assert_eq!(
        call(&app, &ReadNotification, &read(ids[0], &me.token))
            .await
            .status,
        204
    );
    assert_eq!(
        call(&app, &ReadNotification, &read(ids[0], &me.token))
            .await
            .status,
        204,
        "idempotent"
    );
    assert_eq!(store.unread(me.id).await.unwrap(), 2);
    call(&app, &ReadNotification, &read(ids[1], &other.token))
        .await
        .problem(404);
    let unread = call(
        &app,
        &ListNotifications,
        &list("unread_only=true", &me.token),
    )
    .await
    .json();
    assert_eq!(unread["items"].as_array().unwrap().len(), 2);

    let all = with_token(sample_event("notifications-read-all"), &me.token);
    assert_eq!(call(&app, &ReadAllNotifications, &all).await.status, 204);
    assert_eq!(store.unread(me.id).await.unwrap(), 0);
    let unread = call(
        &app,
        &ListNotifications,
        &list("unread_only=true", &me.token),
    )
    .await
    .json();
    assert!(unread["items"].as_array().unwrap().is_empty());
    let everything = call(&app, &ListNotifications, &list("", &me.token))
        .await
        .json();
    assert!(
        everything["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["read_at"].is_string())
    );
}

#[tokio::test]
async fn a_schedule_fired_for_a_future_hour_reminds_nobody_early() {
    let mut app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = due_hour(&app, me.id).await;
    // The worker's clock an hour before the user's hour, whatever the event says.
    let before = just_after(due - 1);
    assert_eq!(
        remind(
            &app,
            DueUser {
                id: me.id,
                due_hour: due
            },
            before
        )
        .await
        .unwrap(),
        Outcome::NotYet
    );
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_hour(&app, me.id).await, due, "left as it was");
    // A scheduler event stamped at the user's hour, run an hour early, does not queue them.
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let queue = test_queue(&sqs, "reminders-future-").await;
    app.config.reminders_queue_url = Some(queue.clone());
    let at = chrono::DateTime::from_timestamp(due * 3600 + 3 * 3600, 0).unwrap();
    let mut metrics = rota_lambda::metrics::Metrics::new();
    rota_api::reminders::schedule(&app, &sqs, at, before, &mut metrics)
        .await
        .unwrap();
    for body in drain_queue(&sqs, &queue).await {
        let batch: rota_api::reminders::Batch = serde_json::from_str(&body).unwrap();
        assert!(batch.users.iter().all(|u| u.id != me.id), "queued early");
        assert!(batch.users.iter().all(|u| u.due_hour < due));
    }
}

#[tokio::test]
async fn after_an_outage_a_user_gets_at_most_the_latest_reminder_then_the_normal_rhythm() {
    let app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = DueUser {
        id: me.id,
        due_hour: due_hour(&app, me.id).await,
    };
    // The scheduler was down for a day and two hours: the user's hour came round twice.
    // Today's came 2 hours ago (within the catch-up): that one reminder, and no other.
    let now = just_after(due.due_hour + 26);
    assert_eq!(remind(&app, due, now).await.unwrap(), Outcome::Delivered);
    let (items, _) = reminders_of(&app, &me).await;
    assert_eq!(items.len(), 1, "one reminder, not one per missed day");
    // The next one is tomorrow at the user's hour: nothing else is due now.
    let next = due_hour(&app, me.id).await;
    assert_eq!(next, due.due_hour + 48);
    let redelivered = DueUser {
        id: me.id,
        due_hour: next,
    };
    assert_eq!(
        remind(&app, redelivered, just_after(due.due_hour + 27))
            .await
            .unwrap(),
        Outcome::NotYet
    );
    assert_eq!(reminders_of(&app, &me).await.0.len(), 1);
}

#[tokio::test]
async fn a_reminder_later_than_the_catch_up_is_skipped_not_sent_at_the_wrong_hour() {
    let app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = DueUser {
        id: me.id,
        due_hour: due_hour(&app, me.id).await,
    };
    // The user's hour passed CATCH_UP_HOURS + 2 hours ago: skip today, move to tomorrow.
    let late = rota_api::reminders::CATCH_UP_HOURS + 2;
    let now = just_after(due.due_hour + late);
    assert_eq!(remind(&app, due, now).await.unwrap(), Outcome::Missed);
    assert!(reminders_of(&app, &me).await.0.is_empty());
    assert_eq!(due_hour(&app, me.id).await, due.due_hour + 24);
    // Exactly at the edge of the catch-up it is still sent.
    let other = learner(&app, true).await;
    let due = DueUser {
        id: other.id,
        due_hour: due_hour(&app, other.id).await,
    };
    let edge = just_after(due.due_hour + rota_api::reminders::CATCH_UP_HOURS);
    assert_eq!(remind(&app, due, edge).await.unwrap(), Outcome::Delivered);
}

#[tokio::test]
async fn a_late_schedule_event_queues_what_is_due_by_the_clock() {
    let mut app = app(ALL).await;
    let me = learner(&app, true).await;
    let due = due_hour(&app, me.id).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let queue = test_queue(&sqs, "reminders-late-").await;
    app.config.reminders_queue_url = Some(queue.clone());
    // An event stamped two days ago (a retried schedule), run when the user is due.
    let at = chrono::DateTime::from_timestamp(due * 3600 - 48 * 3600, 0).unwrap();
    let mut metrics = rota_lambda::metrics::Metrics::new();
    rota_api::reminders::schedule(&app, &sqs, at, just_after(due), &mut metrics)
        .await
        .unwrap();
    let queued: Vec<i64> = drain_queue(&sqs, &queue)
        .await
        .iter()
        .flat_map(|b| {
            serde_json::from_str::<rota_api::reminders::Batch>(b)
                .unwrap()
                .users
                .into_iter()
                .map(|u| u.id)
        })
        .collect();
    assert!(queued.contains(&me.id));
}
