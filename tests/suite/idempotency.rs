//! `Idempotency-Key` on the creating POSTs, through the gateway: a retry gets the first
//! response and never a second resource; another body with the same key is 422; a key still
//! in flight is 409; keys are per caller and endpoint and expire.

use rota_api::idempotency::request_hash;
use rota_store::idempotency::{Claim, Idempotency};
use rota_tests::*;
use serde_json::{Value, json};

fn post_body(title: &str) -> Value {
    json!({"title": title, "content": "Retried after a timeout."})
}

/// `me` posts `title` with a fresh `Idempotency-Key`: the key and the 201.
async fn posted_with_a_key(api: &Api, me: &Account, title: &str) -> (String, HttpReply) {
    let key = unique("key-");
    let first = api
        .post_idempotent(POSTS, &post_body(title), me.token(), &key)
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    (key, first)
}

/// The ids of the newest posts of the feed (enough to see one post appear once).
async fn newest_ids(api: &Api) -> Vec<i64> {
    api.get(&format!("{POSTS}?sort=new&limit=50"), None)
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

async fn store() -> (aws_sdk_dynamodb::Client, String) {
    (
        rota_store::dynamodb_client(&sdk_config().await),
        table_name(),
    )
}

#[tokio::test]
async fn a_retried_post_gets_the_first_response_and_creates_one_post() {
    let (api, me) = Api::signed_up().await;
    let key = unique("key-");
    let body = post_body("Once only");
    let first = api.post_idempotent(POSTS, &body, me.token(), &key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    // A like in between changes the post, not the replayed response.
    let id = first.json()["id"].as_i64().unwrap();
    let liked = api
        .post(&format!("{POSTS}/{id}/like"), &json!({}), me.token())
        .await;
    assert_eq!(liked.status, 200, "{}", liked.text);
    for _ in 0..3 {
        let again = api.post_idempotent(POSTS, &body, me.token(), &key).await;
        assert_eq!(again.status, 201, "{}", again.text);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(
            again.json(),
            first.json(),
            "the first response, byte for byte"
        );
    }
    let ids = newest_ids(&api).await;
    assert_eq!(ids.iter().filter(|i| **i == id).count(), 1);
    // The JSON's key order does not make it another request.
    let reordered = r#"{"content": "Retried after a timeout.", "title": "Once only"}"#;
    let same = api
        .send_with(
            "POST",
            POSTS,
            me.token(),
            Some("application/json"),
            Some(reordered.as_bytes().to_vec()),
            &[("idempotency-key", &key)],
        )
        .await;
    assert_eq!(same.status, 201);
    assert_eq!(same.json()["id"], id);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_creates_nothing() {
    let (api, me) = Api::signed_up().await;
    let (key, first) = posted_with_a_key(&api, &me, "First").await;
    let other = api
        .post_idempotent(POSTS, &post_body("Second"), me.token(), &key)
        .await;
    let problem = other.problem(422);
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    // Every post of the feed from the newest down to the first one (other tests post too),
    // once the feed index shows the first (it lags the write, as DynamoDB's does).
    let first_id = first.json()["id"].as_i64().unwrap();
    assert!(
        in_new_feed(&api, None, first_id).await.is_some(),
        "the first post never showed in the feed"
    );
    let mut titles: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = with_cursor(&format!("{POSTS}?sort=new&limit=100"), cursor.as_deref());
        let page = api.get(&path, None).await.json();
        let items = page["items"].as_array().unwrap().clone();
        titles.extend(
            items
                .iter()
                .filter(|p| p["author"]["id"] == me.id)
                .map(|p| p["title"].clone()),
        );
        let past_first = items.iter().any(|p| p["id"].as_i64().unwrap() <= first_id);
        match page["next_cursor"].as_str() {
            Some(c) if !past_first => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    assert_eq!(titles, [json!("First")]);
}

#[tokio::test]
async fn a_key_still_in_flight_is_409_with_retry_after_and_a_crashed_claim_is_taken_over() {
    let (api, me) = Api::signed_up().await;
    let (db, table) = store().await;
    let body = post_body("In flight");
    let hash = request_hash("POST", POSTS, &body);
    let now = chrono::Utc::now().timestamp_millis();
    // Another invocation holds the key and is still within its deadline.
    let busy = unique("key-");
    let claim = Idempotency::new(&db, &table)
        .claim(me.id, "posts.create", &busy, &hash, now, now + 8_000, 3600)
        .await
        .unwrap();
    assert!(matches!(claim, Claim::Acquired(_)), "{claim:?}");
    let reply = api.post_idempotent(POSTS, &body, me.token(), &busy).await;
    reply.problem(409);
    let wait = reply.retry_after();
    assert!((1..=8).contains(&wait), "Retry-After {wait}");
    // An invocation that died holding a key (its deadline passed, nothing written): the next
    // request takes the key over and is served.
    let orphan = unique("key-");
    Idempotency::new(&db, &table)
        .claim(
            me.id,
            "posts.create",
            &orphan,
            &hash,
            now - 20_000,
            now - 10_000,
            3600,
        )
        .await
        .unwrap();
    let reply = api.post_idempotent(POSTS, &body, me.token(), &orphan).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

#[tokio::test]
async fn keys_belong_to_their_caller_and_endpoint_and_expire() {
    let api = Api::new();
    let (alice, bob) = (api.new_account().await, api.new_account().await);
    let key = unique("key-");
    let body = post_body("Mine");
    let a = api.post_idempotent(POSTS, &body, alice.token(), &key).await;
    let b = api.post_idempotent(POSTS, &body, bob.token(), &key).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.json()["id"], b.json()["id"], "two callers, two posts");
    // The same key on another endpoint is another key.
    let id = a.json()["id"].as_i64().unwrap();
    let comment = api
        .post_idempotent(
            &format!("{POSTS}/{id}/comments"),
            &json!({"content": "Nice"}),
            alice.token(),
            &key,
        )
        .await;
    assert_eq!(comment.status, 201, "{}", comment.text);
    // An expired record is gone: the key serves a new request (another body, even).
    let (db, table) = store().await;
    let old = unique("key-");
    let hash = request_hash("POST", POSTS, &post_body("Long ago"));
    let now = chrono::Utc::now().timestamp_millis();
    let store = Idempotency::new(&db, &table);
    let Claim::Acquired(record) = store
        .claim(
            alice.id,
            "posts.create",
            &old,
            &hash,
            now - 90_000_000,
            now - 89_990_000,
            3600,
        )
        .await
        .unwrap()
    else {
        panic!("a fresh key is acquired");
    };
    store.complete(&record, 201, "{}").await.unwrap();
    let reused = api
        .post_idempotent(POSTS, &post_body("Today"), alice.token(), &old)
        .await;
    assert_eq!(reused.status, 201, "{}", reused.text);
    assert_eq!(reused.json()["title"], "Today");
}

#[tokio::test]
async fn a_replay_does_not_count_against_the_rate_limit_and_bad_keys_are_400() {
    let (api, me) = Api::signed_up().await;
    let (first_key, first) = posted_with_a_key(&api, &me, "p0").await;
    for i in 1..5 {
        let r = api
            .post(POSTS, &post_body(&format!("p{i}")), me.token())
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // The 5-a-minute limit is spent; a retry of the first is still answered.
    let replay = api
        .post_idempotent(POSTS, &post_body("p0"), me.token(), &first_key)
        .await;
    assert_eq!(replay.status, 201, "{}", replay.text);
    assert_eq!(replay.json(), first.json());
    let sixth = api
        .post_idempotent(POSTS, &post_body("p5"), me.token(), &unique("key-"))
        .await;
    sixth.problem(429);
    for bad in [String::new(), "x".repeat(256), "tab\tinside".into()] {
        let reply = api
            .post_idempotent(POSTS, &post_body("p6"), me.token(), &bad)
            .await;
        reply.problem(400);
    }
}

#[tokio::test]
async fn a_retried_roadmap_is_created_once() {
    let (api, me) = Api::signed_up().await;
    let key = unique("key-");
    let body = json!({"goal": "backend", "level": "beginner", "hours_per_week": 6});
    let first = api
        .post_idempotent("/api/roadmaps", &body, me.token(), &key)
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = api
        .post_idempotent("/api/roadmaps", &body, me.token(), &key)
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json(), first.json());
    let list = api.get("/api/roadmaps", me.token()).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}
