//! The reminder schedule: a fired schedule reaches the worker through the queue (through the
//! gateway and the stack's SQS mapping), the scheduler's batches and clock, and the redrive
//! tool for dead letters.

use rota_tests::*;

use super::{
    HOUR, due_at, just_after, notifications_once_delivered, reminded_account, reminders_of,
};

#[tokio::test]
async fn a_fired_schedule_reaches_the_worker_through_the_queue_and_reminds_once() {
    let api = Api::new();
    // Reminders at the current UTC hour. Settings always schedule the *next* occurrence
    // (tomorrow's, as this hour has begun), so the test then moves the due hour to this one,
    // as if a day had passed: the fired schedule finds the user due now.
    let hour = chrono::Timelike::hour(&chrono::Utc::now());
    let me = reminded_account(&api, hour, "UTC").await;
    let token = me.token();
    let now_minute = rota_domain::reminder_hours::epoch_minute(chrono::Utc::now());
    set_due_minute(
        &aws_sdk_dynamodb::Client::new(&sdk_config().await),
        me.id,
        now_minute,
    )
    .await;
    let at = chrono::Utc::now().to_rfc3339();

    let fire = || fire_reminder_schedule(&at);
    let out = fire();
    succeeded(&out, "rota-local fire");

    // The stack's SQS mapping hands the batch to the worker: wait for the reminder.
    let unread = "/api/notifications?unread_only=true";
    let reminders = notifications_once_delivered(&api, unread, token).await;
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
        api.send("POST", &format!("/api/notifications/{id}/read"), token)
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
async fn the_redrive_tool_moves_dead_letters_back_to_the_queue() {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let (dlq, queue) = (
        test_queue(&sqs, "dlq-").await,
        test_queue(&sqs, "main-").await,
    );
    for i in 0..23 {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let out = rota_admin(&["redrive", &dlq, &queue]);
    let said = succeeded(&out, "rota-admin redrive");
    assert_eq!(said.trim(), "moved 23 messages");
    let mut bodies = drain_queue(&sqs, &queue).await;
    bodies.sort();
    let mut expected: Vec<String> = (0..23).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::reminders::{Batch, Outcome, remind};
    use rota_store::users::DueUser;

    /// Runs the scheduler for an event stamped `at`, by the clock `now`, into a queue of its
    /// own: how many users it queued, and the batches in the queue.
    async fn schedule(
        app: &mut TestApp,
        at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (usize, Vec<Batch>) {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
        let queue = test_queue(&sqs, "reminders-test-").await;
        app.set_config(|c| c.reminders_queue_url = Some(queue.clone()));
        let mut metrics = rota_lambda::metrics::Metrics::new();
        let queued = rota_api::reminders::schedule(app, &sqs, at, now, &mut metrics)
            .await
            .unwrap();
        assert_eq!(metrics.get("RemindersEnqueued"), Some(queued as f64));
        let batches = drain_queue(&sqs, &queue).await;
        let batches = batches.iter().map(|b| serde_json::from_str(b).unwrap());
        (queued, batches.collect())
    }

    /// A learner with a roadmap, and when they are due (epoch minutes).
    async fn learner_due(app: &TestApp) -> (Learner, i64) {
        let me = learner(app, true).await;
        let due = due_at(app, me.id).await;
        (me, due)
    }

    #[tokio::test]
    async fn the_scheduler_queues_due_users_in_messages_of_at_most_100() {
        let mut app = app().await;
        let (me, due) = learner_due(&app).await;
        let at = chrono::DateTime::from_timestamp(due * 60, 0).unwrap();
        let (queued, batches) = schedule(&mut app, at, just_after(due)).await;
        assert!(queued >= 1);
        let mut seen = 0;
        let mut found = false;
        for batch in batches {
            assert!(!batch.users.is_empty() && batch.users.len() <= 100);
            assert!(
                batch.users.iter().all(|u| u.due <= due),
                "only users due by then"
            );
            found |= batch.users.iter().any(|u| u.id == me.id);
            seen += batch.users.len();
        }
        assert_eq!(seen, queued);
        assert!(found, "the due user was queued");
    }

    #[tokio::test]
    async fn a_schedule_fired_for_a_future_hour_reminds_nobody_early() {
        let mut app = app().await;
        let (me, due) = learner_due(&app).await;
        // The worker's clock a minute before the user's time, whatever the event says.
        let before = just_after(due - 1);
        assert_eq!(
            remind(&app, DueUser { id: me.id, due }, before)
                .await
                .unwrap(),
            Outcome::NotYet
        );
        assert!(reminders_of(&app, &me).await.0.is_empty());
        assert_eq!(due_at(&app, me.id).await, due, "left as it was");
        // A scheduler event stamped at the user's hour, run an hour early, does not queue them.
        let at = chrono::DateTime::from_timestamp((due + 3 * HOUR) * 60, 0).unwrap();
        for batch in schedule(&mut app, at, before).await.1 {
            assert!(batch.users.iter().all(|u| u.id != me.id), "queued early");
            assert!(batch.users.iter().all(|u| u.due < due));
        }
    }

    #[tokio::test]
    async fn a_late_schedule_event_queues_what_is_due_by_the_clock() {
        let mut app = app().await;
        let (me, due) = learner_due(&app).await;
        // An event stamped two days ago (a retried schedule), run when the user is due.
        let at = chrono::DateTime::from_timestamp((due - 48 * HOUR) * 60, 0).unwrap();
        let (_, batches) = schedule(&mut app, at, just_after(due)).await;
        let queued: Vec<i64> = batches
            .into_iter()
            .flat_map(|b| b.users.into_iter().map(|u| u.id))
            .collect();
        assert!(queued.contains(&me.id));
    }
}
