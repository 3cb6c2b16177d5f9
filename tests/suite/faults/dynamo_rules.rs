//! The code under DynamoDB's rules that the emulator now keeps (local/moto_rules.py), one test
//! per rule the code can meet: a transaction still in progress after its attempt timed out
//! (waited for, applied once; through the gateway too), BatchGetItem's 100 keys and 16 MB
//! answers, Query's 1 MB pages, transactions of at most 100 actions, and a lagging index read
//! to decide a write (the reminders). The rest of the suite runs with the index lag on.
//!
//! The private emulators here (`faulted_emulator` with a profile of no faults) keep big items
//! and global counters out of the shared stack's table.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use rota_local::stack::MotoServer;
use rota_store::StoreError;
use rota_store::likes::Likes;
use rota_store::notifications::Notifications;
use rota_store::posts::{Post, Posts};
use rota_store::retry::{Budget, with_budget};
use rota_store::{SendRetried, query_all};
use rota_tests::*;
use serde_json::json;

const NO_FAULTS: &str = "    seed: 1\n";

fn post(id: i64, content: String) -> Post {
    super::a_post(id, "Rules", content)
}

/// A private emulator without faults, with one post in it: the emulator, its client, its
/// directory (removed on drop) and the post's id.
async fn emulator_with_a_post() -> (MotoServer, aws_sdk_dynamodb::Client, tempfile::TempDir, i64) {
    let (server, db, dir) = faulted_emulator(NO_FAULTS).await;
    let id = rota_domain::ids::new_id();
    let posts = Posts::new(&db, "RotaTable");
    assert!(
        posts
            .create(&post(id, "x".into()), 1, vec![])
            .await
            .unwrap()
    );
    (server, db, dir, id)
}

/// Holds the next like transaction of post `id` in `server` for `ms`.
async fn hold_the_next_like(server: &MotoServer, id: i64, ms: u64) {
    let like = format!("LIKE#{id}");
    hold_next_call(&server.endpoint, "TransactWriteItems", &like, ms).await;
}

/// The like's transaction is held 1.5 s in the emulator: its first attempt is abandoned at the
/// 500 ms attempt timeout and goes on; the retries with its token are told it is in progress
/// until it commits, then get its result. One like, counted once, and the read after it (the
/// count) still has a budget.
#[tokio::test]
async fn a_transaction_still_running_after_its_attempt_timed_out_is_waited_for_and_applied_once() {
    let (server, db, _dir, id) = emulator_with_a_post().await;
    let posts = Posts::new(&db, "RotaTable");
    hold_the_next_like(&server, id, 1500).await;
    let likes = Likes::new(&db, "RotaTable");
    let liked = with_budget(
        Budget::new(Duration::from_millis(1000), Duration::from_millis(500)),
        likes.set(id, 7, true, chrono::Utc::now()),
    )
    .await;
    assert_eq!(liked.unwrap(), Some(1));
    let report = hold_report(&server.endpoint).await;
    assert_eq!(report["held"], 1, "{report}");
    assert!(report["in_progress"].as_u64().unwrap() >= 1, "{report}");
    let (view, liked_by_me) = posts.get_active(id, Some(7)).await.unwrap().unwrap();
    assert_eq!((view.likes_count, liked_by_me), (1, true));
}

/// A transaction still in progress when even the invocation's deadline comes: 503 (retryable),
/// never a 500. Its outcome was unknown: it commits after the answer, once, so a client that
/// retries (with the same Idempotency-Key on creates) is safe.
#[tokio::test]
async fn a_transaction_in_progress_past_the_outcome_deadline_is_unavailable_never_a_500() {
    let (server, db, _dir, id) = emulator_with_a_post().await;
    let posts = Posts::new(&db, "RotaTable");
    hold_the_next_like(&server, id, 2500).await;
    let started = Instant::now();
    let budget = Budget::new(Duration::from_millis(400), Duration::from_millis(200))
        .with_outcome_deadline(started + Duration::from_millis(1000));
    let likes = Likes::new(&db, "RotaTable");
    let result = with_budget(budget, likes.set(id, 7, true, chrono::Utc::now())).await;
    assert!(
        matches!(&result, Err(StoreError::Unavailable("TransactWriteItems", code)) if code == "TransactionInProgressException"),
        "{result:?}"
    );
    let response = rota_api::ApiError::from(result.unwrap_err()).to_response("r");
    assert_eq!(response.status(), 503);
    assert!(
        hold_report(&server.endpoint).await["in_progress"]
            .as_u64()
            .unwrap()
            >= 2,
        "asked again while it ran"
    );
    // The first attempt goes on and commits, once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (view, _) = posts.get_active(id, Some(7)).await.unwrap().unwrap();
        if view.likes_count == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the held transaction never landed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Through the gateway: a like whose transaction runs half a second past the stack's whole
/// budget (1.5 s with the deployed 1 s budget and 500 ms attempts) is answered 200 with its
/// count, not 500.
#[tokio::test]
async fn a_like_whose_transaction_outlives_the_attempt_timeout_is_200_and_counted_once() {
    let (api, _, fan, post) = Api::a_post_and_a_reader("Slow like").await;
    let matching = format!("LIKE#{}", post["id"]);
    let endpoint = &stack().aws_endpoint;
    let held = stack_budget().total + Duration::from_millis(500);
    hold_next_call(
        endpoint,
        "TransactWriteItems",
        &matching,
        held.as_millis() as u64,
    )
    .await;
    let like = format!("{POSTS}/{}/like", post["id"]);
    let r = api.post(&like, &json!({}), fan.token()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"liked": true, "likes_count": 1}));
    let report = hold_report(endpoint).await;
    let waiting = report["holds"].as_array().unwrap();
    assert!(
        !waiting.iter().any(|h| h["match"] == matching.as_str()),
        "the like's transaction was held: {report}"
    );
    let seen = api
        .get(&format!("{POSTS}/{}", post["id"]), fan.token())
        .await
        .json();
    assert_eq!(
        (seen["likes_count"].clone(), seen["liked_by_me"].clone()),
        (json!(1), json!(true))
    );
}

/// A page's posts, counts and likes are read 100 keys per BatchGetItem (DynamoDB refuses 101),
/// and an answer cut at 16 MB is completed from its UnprocessedKeys. The posts here are bigger
/// than the API lets anyone write (390 KB each, 17.6 MB in all), to make DynamoDB cut it.
#[tokio::test]
async fn batch_reads_keep_to_100_keys_and_complete_answers_cut_at_16_mb() {
    let (server, db, _dir) = faulted_emulator(NO_FAULTS).await;
    let posts = Posts::new(&db, "RotaTable");
    // Consecutive ids: ids minted in one millisecond may collide (12 random bits).
    let base = rota_domain::ids::new_id();
    let small: Vec<i64> = (base..base + 40).collect();
    for &id in &small {
        assert!(
            posts
                .create(&post(id, "x".into()), 1, vec![])
                .await
                .unwrap()
        );
    }
    // 40 posts, their counts and the viewer's likes: 120 keys.
    let mut fetched = posts.fetch(&small, Some(9), false).await.unwrap();
    for &id in &small {
        assert!(fetched.take_active(id).unwrap().is_some(), "post {id}");
    }
    let big: Vec<i64> = (base + 40..base + 85).collect();
    let content = "v".repeat(390 * 1024);
    // 17.6 MB through the emulator: more time than a request's budget on a busy machine.
    let generous = || Budget::new(Duration::from_secs(60), Duration::from_secs(20));
    for &id in &big {
        let big_post = post(id, content.clone());
        let created = with_budget(generous(), posts.create(&big_post, 1, vec![]));
        assert!(created.await.unwrap());
    }
    let before = calls_of(&server, "dynamodb.BatchGetItem").await;
    let mut fetched = with_budget(generous(), posts.fetch(&big, None, false))
        .await
        .unwrap();
    for &id in &big {
        let found = fetched.take_active(id).unwrap().expect("every big post");
        assert_eq!(found.content.len(), content.len());
    }
    let calls = calls_of(&server, "dynamodb.BatchGetItem").await - before;
    assert!(
        calls >= 2,
        "one answer of 17.6 MB: DynamoDB cuts it ({calls} calls)"
    );
}

/// Queries read at most 1 MB per page: `query_all` (every list and count of the data layer that
/// may span pages) follows LastEvaluatedKey, so 1.5 MB of items in one partition are all read,
/// and counted.
#[tokio::test]
async fn queries_over_more_than_1_mb_are_read_page_by_page() {
    let (server, db, _dir) = faulted_emulator(NO_FAULTS).await;
    let pk = format!("PAGES#{}", rota_domain::ids::new_id());
    for i in 0..15 {
        db.put_item()
            .table_name("RotaTable")
            .item("PK", AttributeValue::S(pk.clone()))
            .item("SK", AttributeValue::S(format!("ITEM#{i:02}")))
            .item("blob", AttributeValue::S("v".repeat(100 * 1024)))
            .send_retried()
            .await
            .unwrap();
    }
    let query = || {
        db.query()
            .table_name("RotaTable")
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
    };
    let before = calls_of(&server, "dynamodb.Query").await;
    let mut pages = Vec::new();
    query_all(query(), |out| {
        pages.push(out.items().len());
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(pages, vec![10, 5], "10 items of 100 KB fill a 1 MB page");
    assert_eq!(rota_store::count_all(query()).await.unwrap(), 15);
    let calls = calls_of(&server, "dynamodb.Query").await - before;
    assert_eq!(calls, 4);
}

/// Mark-all-read writes in transactions of at most 100 actions (99 notifications and the
/// unread count): 150 unread notifications take two, and all end read.
#[tokio::test]
async fn mark_all_read_keeps_each_transaction_to_100_actions() {
    let db = rota_store::dynamodb_client(&sdk_config().await);
    let table = table_name();
    let store = Notifications::new(&db, &table);
    let user = rota_domain::ids::new_id();
    for i in 0..150 {
        let notification = new_notification("test", format!("#{i}"));
        store
            .deliver(user, &notification, &format!("TEST#{i}"), 3600, vec![])
            .await
            .unwrap();
    }
    assert_eq!(store.unread(user).await.unwrap(), 150);
    store.mark_all_read(user, chrono::Utc::now()).await.unwrap();
    assert_eq!(store.unread(user).await.unwrap(), 0);
    let (unread, _) = store.page(user, true, None, 100).await.unwrap();
    assert!(unread.is_empty());
}

/// The scheduler decides who to queue from the `reminders-due` index, which lags the profile
/// (here by 1.5..3 s, to make the moment long): a user who turned reminders off a moment ago is
/// still listed as due. The worker reads the profile itself (strongly consistent) and reminds
/// them of nothing.
#[tokio::test]
async fn a_reminder_turned_off_while_the_index_lags_is_never_delivered() {
    use rota_api::handlers::roadmaps;
    use rota_api::reminders::{Outcome, remind};
    use rota_domain::reminder_hours::epoch_minute;
    use rota_store::users::Users;
    let (_server, db, _dir) =
        faulted_emulator("    seed: 1\n    dynamodb:\n      gsi_lag_ms: 3000\n").await;
    let mut config = rota_api::config::Config::from_lookup(|_| None).unwrap();
    config.redis_url = None;
    let app = TestApp::with_parts(config, db.clone());
    let (id, token) = member(&app).await;
    let hour = chrono::Timelike::hour(&chrono::Utc::now());
    let on = json!({"reminder_enabled": true, "reminder_hour": hour, "timezone": "UTC"});
    assert_eq!(patch_me(&app, &token, &on).await.status, 200);
    let create = call_as(&app, &roadmaps::CreateRoadmap, "roadmaps-create", &token);
    assert_eq!(create.await.status, 201);
    let now = chrono::Utc::now();
    set_due_minute(&db, id, epoch_minute(now)).await; // waits until the index has it
    let off = json!({"reminder_enabled": false});
    assert_eq!(patch_me(&app, &token, &off).await.status, 200);
    let due = Users::new(&db, "RotaTable")
        .due_for_reminders(epoch_minute(now))
        .await
        .unwrap();
    let stale = *due
        .iter()
        .find(|u| u.id == id)
        .expect("the index still lists the user as due");
    assert_eq!(remind(&app, stale, now).await.unwrap(), Outcome::Stale);
    let (delivered, _) = Notifications::new(&db, "RotaTable")
        .page(id, false, None, 10)
        .await
        .unwrap();
    assert!(delivered.is_empty(), "{delivered:?}");
}
