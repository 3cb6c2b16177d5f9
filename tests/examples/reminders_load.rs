//! Load: N users (default 5000) due in the same hour, processed end to end by the real
//! scheduler and worker binaries through the local stack (rota-local's SQS mapping).
//! Run by `scripts/reminders-load.sh`, which starts the stack and passes its addresses.
// The handlers' futures (extractors, retry budget, SDK calls) nest deeper than the
// compiler's default layout limit when awaited in process.
#![recursion_limit = "256"]

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use rota_tests::*;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[tokio::main]
async fn main() {
    let users: i64 = std::env::var("USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let sdk = sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "RotaTable".into());
    // Due at the whole hour two hours from now (epoch minutes), so nothing else in the stack
    // is due then.
    let due = (rota_domain::reminder_hours::epoch_minute(chrono::Utc::now()) / 60 + 2) * 60;
    let base = rota_domain::ids::new_id();

    let seeding = Instant::now();
    let mut requests = Vec::new();
    for i in 0..users {
        let id = base + i;
        let user = [
            ("PK", s(format!("USER#{id}"))),
            ("SK", s("PROFILE")),
            ("entity", s("user")),
            ("id", n(id)),
            ("email", s(format!("load-{id}@example.com"))),
            ("display_name", s("Load")),
            ("role", s("member")),
            ("created_at", s("2026-11-25T00:00:00.000Z")),
            ("reminder_enabled", AttributeValue::Bool(true)),
            ("reminder_hour", n(((due / 60 % 24) + 3) % 24)),
            ("timezone", s("Europe/Istanbul")),
            ("reminder_bucket", s("DUE")),
            ("reminder_due_hour", n(due)),
        ];
        let roadmap = [
            ("PK", s(format!("USER#{id}"))),
            ("SK", s(format!("ROADMAP#{:016}", id))),
            ("entity", s("roadmap")),
            ("id", n(id)),
            ("user_id", n(id)),
            ("title", s("Backend developer roadmap")),
            ("goal", s("backend")),
            ("level", s("beginner")),
            ("hours_per_week", n(10)),
            ("total_hours", n(472)),
            ("total_weeks", n(48)),
            ("created_at", s("2026-11-25T00:00:00.000Z")),
            (
                "steps",
                s(r#"[[1,"Command line basics"],[2,"A backend language"]]"#),
            ),
            ("steps_total", n(2)),
            ("done", AttributeValue::M(Default::default())),
        ];
        for item in [&user[..], &roadmap[..]] {
            let put = PutRequest::builder()
                .set_item(Some(
                    item.iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect(),
                ))
                .build()
                .unwrap();
            requests.push(WriteRequest::builder().put_request(put).build());
        }
    }
    let mut batch_writes = 0;
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            batch_writes += 1;
            let out = db
                .batch_write_item()
                .request_items(&table, pending.clone())
                .send()
                .await
                .unwrap();
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&table))
                .unwrap_or_default();
        }
    }
    println!(
        "seeded {users} users + roadmaps with {batch_writes} BatchWriteItem calls in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let queue = sqs
        .get_queue_url()
        .queue_name("RemindersQueue")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let at = chrono::DateTime::from_timestamp(due * 60, 0)
        .unwrap()
        .to_rfc3339();
    let started = Instant::now();
    let out = fire_reminder_schedule(&at);
    succeeded(&out, "rota-local fire");
    println!(
        "scheduler: {} in {:.1} s",
        String::from_utf8_lossy(&out.stdout).trim(),
        started.elapsed().as_secs_f64()
    );

    // Done when the queue is empty and nothing is in flight.
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let get = |k: aws_sdk_sqs::types::QueueAttributeName| {
            attrs
                .attributes()
                .and_then(|a| a.get(&k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let visible = get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages);
        let in_flight =
            get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        if visible == 0 && in_flight == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "not done in 30 minutes"
        );
    }
    let elapsed = started.elapsed().as_secs_f64();

    // Check: every user has exactly one reminder and moved on by a day.
    let mut delivered = 0;
    for i in 0..users {
        let id = base + i;
        let inbox = db
            .get_item()
            .table_name(&table)
            .key("PK", s(format!("USER#{id}")))
            .key("SK", s("INBOX"))
            .send()
            .await
            .unwrap();
        if inbox.item.and_then(|i| i.get("unread").cloned()) == Some(n(1)) {
            delivered += 1;
        }
    }
    println!(
        "delivered {delivered}/{users} reminders end to end in {elapsed:.1} s after the scheduler fired"
    );
    assert_eq!(delivered, users);
}
