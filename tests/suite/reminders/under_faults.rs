//! The reminder pipeline under faults: a private emulator throttles, fails and conflicts
//! DynamoDB calls, fails SQS calls and batch entries; the test plays Lambda's SQS event-source
//! mapping with its at-least-once semantics (a batch whose invocation "crashed" or whose delete
//! failed comes back after the visibility timeout). Every due user gets exactly one reminder,
//! none is lost or doubled, and a message no worker can read ends in the dead-letter queue.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use rota_api::handlers::roadmaps;
use rota_api::reminders::Batch;
use rota_domain::reminder_hours::epoch_minute;
use rota_store::notifications::Notifications;
use rota_tests::*;
use serde_json::json;

const USERS: usize = 24;

async fn queue_pair(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let dlq = sqs
        .create_queue()
        .queue_name(unique("dlq-"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let queue = sqs
        .create_queue()
        .queue_name(unique("reminders-"))
        // Short, so redeliveries come within the test (the template's is 360 s).
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (queue, dlq)
}

fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<_> = messages
        .iter()
        .map(|m| json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(), "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}))
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

#[tokio::test]
async fn under_faults_every_due_user_gets_exactly_one_reminder_and_junk_ends_in_the_dlq() {
    let (server, db, _dir) = faulted_emulator(
        "    seed: 5\n    dynamodb:\n      conflict_window_ms: 15\n      throttle: {\"*\": 0.05}\n      internal_error: {\"*\": 0.02}\n    sqs:\n      failure: {\"*\": 0.1}\n      batch_entry_failure: 0.2\n",
    )
    .await;
    let sdk = rota_local::stack::sdk_config(&server.endpoint).await;
    let sqs = rota_store::sqs_client(&sdk);
    let (queue, dlq) = queue_pair(&sqs).await;
    let mut config = rota_api::config::Config::from_lookup(|_| None).unwrap();
    config.reminders_queue_url = Some(queue.clone());
    config.redis_url = None;
    let app = TestApp::with_parts(config, db.clone());

    // Learners at the current UTC hour, each with a roadmap (through the real handlers).
    let hour = chrono::Timelike::hour(&chrono::Utc::now());
    let mut ids = Vec::new();
    for _ in 0..USERS {
        let (_, body) = registered(&app).await;
        let token = body["access_token"].as_str().unwrap().to_owned();
        let settings = json!({"reminder_enabled": true, "reminder_hour": hour, "timezone": "UTC"});
        assert_eq!(patch_me(&app, &token, &settings).await.status, 200);
        let create = call_as(&app, &roadmaps::CreateRoadmap, "roadmaps-create", &token);
        assert_eq!(create.await.status, 201);
        ids.push(body["user"]["id"].as_i64().unwrap());
    }
    // The settings scheduled tomorrow's occurrence (this hour has begun): a day has passed.
    let now = chrono::Utc::now();
    for id in &ids {
        set_due_minute(&db, *id, epoch_minute(now)).await;
    }

    // The scheduler, retried as EventBridge retries a failed run.
    let mut metrics = rota_lambda::metrics::Metrics::new();
    let mut queued = None;
    for _ in 0..5 {
        if let Ok(n) = rota_api::reminders::schedule(&app, &sqs, now, now, &mut metrics).await {
            queued = Some(n);
            break;
        }
    }
    assert!(queued.unwrap() >= USERS, "every due user queued");
    // And one message no worker can read.
    loop {
        if sqs
            .send_message()
            .queue_url(&queue)
            .message_body("{not json")
            .send()
            .await
            .is_ok()
        {
            break;
        }
    }

    // Lambda's mapping, at least once: receive, invoke, delete what succeeded. The first time
    // a batch of users arrives, the "instance crashes" after the work and before the delete,
    // so it comes back; so does every third batch.
    let mut invocations = 0;
    let mut seen = std::collections::HashSet::<String>::new();
    let mut idle = 0;
    while idle < 4 {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(_) => continue,
        };
        if messages.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        invocations += 1;
        let response =
            rota_api::reminders::work_at(&app, sqs_event(&messages), now, &mut metrics).await;
        let first_delivery_of_users = messages.iter().any(|m| {
            seen.insert(m.message_id().unwrap().to_owned())
                && serde_json::from_str::<Batch>(m.body().unwrap()).is_ok()
        });
        if first_delivery_of_users || invocations % 3 == 0 {
            continue;
        }
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let deletes: Vec<_> = messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id().unwrap()))
            .map(|m| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(m.message_id().unwrap())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        if !deletes.is_empty() {
            // A failed delete (or entry) just means the message comes back.
            let _ = sqs
                .delete_message_batch()
                .queue_url(&queue)
                .set_entries(Some(deletes))
                .send()
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Exactly one reminder each, and an exact unread count.
    let inbox = Notifications::new(&db, "RotaTable");
    let mut per_user = HashMap::new();
    for id in &ids {
        let (items, _) = inbox.page(*id, false, None, 10).await.unwrap();
        per_user.insert(*id, items.len());
        assert_eq!(inbox.unread(*id).await.unwrap(), items.len() as u64);
    }
    assert!(per_user.values().all(|n| *n == 1), "{per_user:?}");
    // The junk message reached the dead-letter queue; nothing else did.
    let mut dead = Vec::new();
    for _ in 0..10 {
        if let Ok(out) = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .send()
            .await
        {
            dead.extend(
                out.messages
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.body),
            );
        }
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead, ["{not json"]);
    for body in &dead {
        assert!(serde_json::from_str::<Batch>(body).is_err());
    }
    let counts = emulator_counts(&server).await;
    let injected = &counts["injected"];
    assert!(
        count_of(injected, "sqs.") > 0 && count_of(injected, "dynamodb.") > 0,
        "faults were injected: {counts}"
    );
    // The crashed batch came back and was not delivered twice.
    assert!(
        metrics.get("ReminderDuplicatesSkipped").unwrap_or(0.0)
            + metrics.get("RemindersSkipped").unwrap_or(0.0)
            >= USERS as f64,
        "{metrics:?}"
    );
}
