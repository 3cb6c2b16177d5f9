//! Likes (`POST` / `DELETE /api/community/posts/{id}/like`): idempotent, counted exactly under
//! concurrency, `liked_by_me` on every page, and the like (and edit) limits.

use futures::future::join_all;
use rota_tests::*;
use serde_json::{Value, json};

#[tokio::test]
async fn liking_twice_counts_once_and_unliking_twice_uncounts_once() {
    let api = Api::new();
    let author = api.new_account().await;
    let fan = api.new_account().await;
    let post = api.new_post(&author, "Like me").await;
    let like = format!("{POSTS}/{}/like", post["id"]);
    let token = Some(fan.access_token.as_str());
    for _ in 0..2 {
        let r = api.post(&like, &json!({}), token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json(), json!({"liked": true, "likes_count": 1}));
    }
    let seen = api
        .get(&format!("{POSTS}/{}", post["id"]), token)
        .await
        .json();
    assert_eq!(seen["liked_by_me"], true);
    assert_eq!(
        api.get(&format!("{POSTS}/{}", post["id"]), None)
            .await
            .json()["liked_by_me"],
        false
    );
    for _ in 0..2 {
        let r = api.delete(&like, token).await;
        assert_eq!(r.json(), json!({"liked": false, "likes_count": 0}));
    }
    api.post(&format!("{POSTS}/424242/like"), &json!({}), token)
        .await
        .problem(404);
    api.post(&like, &json!({}), None).await.problem(401);
}

#[tokio::test]
async fn liked_by_me_is_filled_for_a_whole_page() {
    let api = Api::new();
    let me = api.new_account().await;
    let a = api.new_post(&me, "A").await;
    let b = api.new_post(&me, "B").await;
    api.post(
        &format!("{POSTS}/{}/like", a["id"]),
        &json!({}),
        Some(&me.access_token),
    )
    .await;
    let token = Some(me.access_token.as_str());
    let find = async |post: &Value| {
        let id = post["id"].as_i64().unwrap();
        in_new_feed(&api, token, id).await.expect("in the new feed")
    };
    assert_eq!(find(&a).await["liked_by_me"], true);
    assert_eq!(find(&b).await["liked_by_me"], false);
}

#[tokio::test]
async fn likes_and_edits_are_limited_per_user_with_rate_limit_headers() {
    let api = Api::new();
    let me = api.new_account().await;
    let post = api.new_post(&me, "popular").await;
    let like = format!("{POSTS}/{}/like", post["id"]);
    // Likes and unlikes share one window of 60 a minute.
    for i in 0..60 {
        let method = if i % 2 == 0 { "POST" } else { "DELETE" };
        let r = api
            .send(method, &like, Some(&me.access_token), None, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("60"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some((59 - i).to_string().as_str())
        );
    }
    let limited = api
        .send("POST", &like, Some(&me.access_token), None, None)
        .await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
    // Another user's likes are not affected.
    let other = api.new_account().await;
    let r = api
        .send("POST", &like, Some(&other.access_token), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Edits: 20 a minute.
    let path = format!("{POSTS}/{}", post["id"]);
    for i in 0..20 {
        let r = api
            .patch(
                &path,
                &json!({"title": format!("edit {i}")}),
                Some(&me.access_token),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("20"));
    }
    api.patch(&path, &json!({"title": "one more"}), Some(&me.access_token))
        .await
        .problem(429);
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::{likes, posts};

    #[tokio::test]
    async fn fifty_likes_and_twenty_unlikes_at_once_leave_the_count_exact() {
        let mut app = app().await;
        // Eighty invocations share this test's one thread (in Lambda each has an instance of
        // its own), so the per-request data budget is widened: exact counts are the point here,
        // latency is measured by the benchmarks.
        app.set_config(|c| c.db_retry_budget = std::time::Duration::from_secs(10));
        let author = create_user(&app).await;
        let post = create_post(&app, author).await;
        // Likers need no accounts of their own: likes are keyed by the token's user id.
        let base = rota_domain::ids::new_id();
        let early: Vec<i64> = (0..20).map(|i| base + i).collect();
        let late: Vec<i64> = (20..70).map(|i| base + i).collect();
        for user in &early {
            let r = call(
                &app,
                &likes::LikePost,
                &on_post(
                    sample_event("community-posts-like"),
                    post,
                    &member_token(&app, *user),
                ),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let like = |u: &i64| {
            let event = on_post(
                sample_event("community-posts-like"),
                post,
                &member_token(&app, *u),
            );
            let app = &app;
            async move { call(app, &likes::LikePost, &event).await.status }
        };
        let likes = late.iter().map(like);
        let unlikes = early.iter().map(|u| {
            let event = on_post(
                sample_event("community-posts-unlike"),
                post,
                &member_token(&app, *u),
            );
            let app = &app;
            async move { call(app, &likes::UnlikePost, &event).await.status }
        });
        // Repeated likes from the same users must not count twice.
        let repeats = late[..10].iter().map(like);
        let (a, b, c) = tokio::join!(join_all(likes), join_all(unlikes), join_all(repeats));
        assert!(
            a.iter().chain(&b).chain(&c).all(|s| *s == 200),
            "{a:?} {b:?} {c:?}"
        );

        let got = call(
            &app,
            &posts::GetPost,
            &on_post(
                sample_event("community-posts-get"),
                post,
                &member_token(&app, author),
            ),
        )
        .await;
        assert_eq!(got.json()["likes_count"], 50);
        // And the count is exactly the like items behind it (each in its liker's partition).
        let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        let mut items = 0;
        for user in early.iter().chain(&late) {
            let found = db
                .get_item()
                .table_name(&app.config.table_name)
                .key(
                    "PK",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user}")),
                )
                .key(
                    "SK",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("LIKE#{post}")),
                )
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            items += usize::from(found.item.is_some());
        }
        assert_eq!(items, 50);
    }
}
