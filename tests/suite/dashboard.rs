//! The dashboard (`GET /api/dashboard`): everything in one call.

use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn the_dashboard_brings_everything_in_one_call() {
    let (api, me) = Api::signed_up().await;
    let token = me.token();
    // No reminder may arrive while this test looks at the unread count.
    api.patch("/api/users/me", &json!({"reminder_enabled": false}), token)
        .await;
    api.new_post(&me, "dashboard post").await;
    api.create_roadmap(
        &me,
        json!({"goal": "data-science", "level": "beginner", "hours_per_week": 10}),
    )
    .await;
    let reply = api.get("/api/dashboard", token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let dash = reply.json();
    assert_eq!(
        dash["user"],
        json!({"id": me.id, "display_name": "Test User"})
    );
    assert_eq!(dash["streak_days"], 0);
    assert_eq!(dash["unread_notifications"], 0);
    assert_eq!(dash["roadmaps"].as_array().unwrap().len(), 1);
    let recent = dash["recent_posts"].as_array().unwrap();
    assert!(!recent.is_empty() && recent.len() <= 5);
    let ids: Vec<i64> = recent.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(recent.iter().all(|p| p["liked_by_me"].is_boolean()));
    for field in ["total_users", "total_posts", "posts_last_24h"] {
        assert!(dash["community"][field].is_u64(), "{field}");
    }
    api.get("/api/dashboard", None).await.problem(401);
}

#[tokio::test]
async fn the_dashboard_shows_which_recent_posts_i_like() {
    let (api, me) = Api::signed_up().await;
    let token = me.token();
    api.new_post(&me, "a post to like").await;
    let first = api.get("/api/dashboard", token).await.json();
    let liked: Vec<i64> = first["recent_posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!liked.is_empty());
    for id in &liked {
        let reply = api
            .post(
                &format!("/api/community/posts/{id}/like"),
                &json!({}),
                token,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // Other tests post meanwhile: whatever is recent now, exactly the posts liked show as liked.
    let again = api.get("/api/dashboard", token).await.json();
    for post in again["recent_posts"].as_array().unwrap() {
        let id = post["id"].as_i64().unwrap();
        assert_eq!(post["liked_by_me"], liked.contains(&id), "post {id}");
    }
}

mod in_process {
    use rota_api::handlers::dashboard::Dashboard;
    use rota_api::state::{DbAndTokens, WithRedis};
    use rota_tests::*;

    /// The dashboard's DynamoDB calls: the roadmaps' Query and one BatchGetItem of the user's
    /// profile, streak, inbox and likes (docs/data-model.md, "The dashboard's reads"), when the
    /// feed's first page comes from the cache. Other tests' posts invalidate that page at any
    /// moment (a miss adds the page's own calls: a Query per feed shard and a BatchGetItem),
    /// so a few requests are made and one of them must have been served from the cache.
    #[tokio::test]
    async fn the_dashboard_reads_dynamodb_twice_when_the_feed_page_is_cached() {
        let (db, calls) = counting_dynamodb_client().await;
        let base = app().await;
        let tokens = in_process_token_keys();
        let app = rota_api::App::new(
            base.config.clone(),
            WithRedis(DbAndTokens { db, tokens }),
            Some(stack().cache()),
        );
        let (_, token) = member(&app).await;
        let mut seen = Vec::new();
        for _ in 0..5 {
            calls.take();
            let reply = call_as(&app, &Dashboard, "dashboard", &token).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            // (The activity write, an UpdateItem once an hour per user and container, is not
            // the dashboard's own read.)
            let mut made: Vec<String> = calls
                .take()
                .into_iter()
                .filter(|c| c != "UpdateItem")
                .collect();
            made.sort();
            if made == ["BatchGetItem", "Query"] {
                return;
            }
            seen.push(made);
        }
        panic!("no dashboard read only its two calls: {seen:?}");
    }
}
