//! The data layer's one retry policy against a real emulator that fails the way DynamoDB does
//! (local/moto_server.py with profiles written here): conflicts on a hot item are retried
//! until they pass and every count stays exact; throttling and 5xx that do not pass end as
//! `StoreError::Throttled` / `Unavailable` (503 + Retry-After at the edge), never as a 2xx or
//! a 500; and every one of those was retried, not given up on at the first refusal.

use std::time::Duration;

use rota_store::StoreError;
use rota_store::posts::{Post, Posts};
use rota_store::retry::{Budget, with_budget};
use rota_tests::*;

fn post(id: i64) -> Post {
    super::a_post(id, "Hot", "Liked by everyone at once.".into())
}

/// A request's budget that ends before the faults do: 400 ms, attempts of 200 ms.
fn short_budget() -> Budget {
    Budget::new(Duration::from_millis(400), Duration::from_millis(200))
}

/// The active posts the table's counters count.
async fn active_posts(db: &aws_sdk_dynamodb::Client) -> u64 {
    let totals = rota_store::counters::totals(db, "RotaTable").await;
    totals.unwrap().active_posts
}

#[tokio::test]
async fn conflicts_on_a_hot_item_are_retried_until_every_like_is_counted() {
    let (server, db, _dir) =
        faulted_emulator("    seed: 1\n    dynamodb:\n      conflict_window_ms: 40\n").await;
    let posts = Posts::new(&db, "RotaTable");
    let id = rota_domain::ids::new_id();
    assert!(posts.create(&post(id), 1, vec![]).await.unwrap());
    // 30 users like one post at once: every transaction touches its counts item.
    let results = futures::future::join_all((0..30).map(|user| {
        let likes = rota_store::likes::Likes::new(&db, "RotaTable");
        with_budget(
            Budget::new(Duration::from_secs(20), Duration::from_secs(2)),
            async move { likes.set(id, 1000 + user, true, chrono::Utc::now()).await },
        )
    }))
    .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let (view, _) = posts.get_active(id, None).await.unwrap().unwrap();
    assert_eq!(view.likes_count, 30);
    let counts = emulator_counts(&server).await;
    let conflicts = count_of(&counts["injected"], "TransactionConflict");
    assert!(conflicts > 0, "the hot item never conflicted: {counts}");
    // Every conflict was retried: one more transaction per conflict than likes.
    assert!(
        counts["calls"]["dynamodb.TransactWriteItems"]
            .as_u64()
            .unwrap()
            >= 31 + conflicts,
        "{counts}"
    );
}

#[tokio::test]
async fn throttling_that_outlasts_the_budget_is_throttled_never_a_success() {
    let (server, db, _dir) =
        faulted_emulator("    seed: 2\n    dynamodb:\n      throttle: {GetItem: 1.0}\n").await;
    let result = with_budget(
        short_budget(),
        rota_store::get_item(&db, "RotaTable", "USER#1".into(), "PROFILE".into(), true),
    )
    .await;
    assert!(
        matches!(result, Err(StoreError::Throttled("GetItem"))),
        "{result:?}"
    );
    let counts = emulator_counts(&server).await;
    let throttled = count_of(&counts["injected"], "dynamodb.throttle.GetItem");
    assert!(throttled >= 2, "retried before giving up: {counts}");
    let response = rota_api::ApiError::from(result.unwrap_err()).to_response("r");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
}

#[tokio::test]
async fn server_errors_are_retried_and_a_transaction_that_never_lands_is_unavailable() {
    let (server, db, _dir) = faulted_emulator(
        "    seed: 3\n    dynamodb:\n      internal_error: {TransactWriteItems: 1.0}\n",
    )
    .await;
    let posts = Posts::new(&db, "RotaTable");
    let result = with_budget(
        short_budget(),
        posts.create(&post(rota_domain::ids::new_id()), 1, vec![]),
    )
    .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(..))),
        "{result:?}"
    );
    let counts = emulator_counts(&server).await;
    let failed = count_of(
        &counts["injected"],
        "dynamodb.internal_error.TransactWriteItems",
    );
    assert!(failed >= 2, "retried before giving up: {counts}");
    // Nothing was written: no post and no counter.
    assert_eq!(active_posts(&db).await, 0);
}

#[tokio::test]
async fn a_few_percent_of_throttles_and_errors_never_reach_the_caller() {
    let (server, db, _dir) = faulted_emulator(
        "    seed: 4\n    dynamodb:\n      throttle: {\"*\": 0.1}\n      internal_error: {\"*\": 0.05}\n",
    )
    .await;
    let posts = Posts::new(&db, "RotaTable");
    for _ in 0..40 {
        let id = rota_domain::ids::new_id();
        assert!(posts.create(&post(id), 4, vec![]).await.unwrap());
        assert!(posts.get_active(id, Some(7)).await.unwrap().is_some());
    }
    let counts = emulator_counts(&server).await;
    assert!(
        count_of(&counts["injected"], "throttle") + count_of(&counts["injected"], "internal_error")
            > 0
    );
    assert_eq!(active_posts(&db).await, 40);
}

/// Issue 25: DynamoDB answers slower than the attempt timeout for three seconds while eight
/// callers keep asking. Without a retry quota every request would send about three attempts
/// (each abandoned one still served); with it the dependency gets one call per request plus
/// the quota's 50 retries (`CAPACITY / TIMEOUT_RETRY_COST`) and no more, every request ends as
/// `Unavailable` (503 at the edge), and the first request after it heals succeeds at its
/// first attempt, the quota empty or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_dependency_gets_at_most_the_quotas_retries_and_serves_again_at_once() {
    use rota_store::retry_quota::{CAPACITY, QUOTA, TIMEOUT_RETRY_COST};
    let (server, db, _dir) = faulted_emulator("    seed: 5\n").await;
    let read = || {
        with_budget(
            // Attempts of 100 ms in a budget of 300 ms: three per request without the quota.
            Budget::new(Duration::from_millis(300), Duration::from_millis(100)),
            rota_store::get_item(&db, "RotaTable", "USER#25".into(), "PROFILE".into(), true),
        )
    };
    hold_calls(&server.endpoint, "GetItem", "USER#25", 150, 1_000_000).await;
    let slow_until = tokio::time::Instant::now() + Duration::from_secs(3);
    let requests = futures::future::join_all((0..8).map(|_| async {
        let mut made = 0u64;
        while tokio::time::Instant::now() < slow_until {
            let result = read().await;
            assert!(
                matches!(result, Err(StoreError::Unavailable(..))),
                "{result:?}"
            );
            made += 1;
        }
        made
    }))
    .await
    .into_iter()
    .sum::<u64>();
    // The abandoned attempts still reach the emulator: let the last ones arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = hold_report(&server.endpoint).await["held"]
        .as_u64()
        .unwrap();
    let quota_retries = u64::from(CAPACITY / TIMEOUT_RETRY_COST);
    eprintln!("slow for 3 s: {requests} requests, {calls} calls reached the emulator");
    assert!(
        requests > 2 * quota_retries,
        "enough requests to spend the quota: {requests}"
    );
    assert!(
        calls <= requests + quota_retries,
        "{calls} calls for {requests} requests: more retries than the quota's {quota_retries}"
    );
    assert!(
        calls >= requests + quota_retries / 2,
        "{calls} calls for {requests} requests: retried until the quota was spent"
    );
    assert!(QUOTA.available() < TIMEOUT_RETRY_COST, "the quota is spent");

    release_holds(&server.endpoint).await;
    let before = calls_of(&server, "dynamodb.GetItem").await;
    assert!(matches!(read().await, Ok(None)), "served at once");
    assert_eq!(calls_of(&server, "dynamodb.GetItem").await, before + 1);
}
