//! Community logic in-process against the real emulator and Redis: concurrency, the stats
//! cache and what happens when the cache is down.

use futures::future::join_all;
use rota_api::handlers::community;
use rota_api::{Needs, app::Handler, auth::tokens::Caller};
use rota_domain::input::Role;
use rota_tests::*;
use serde_json::json;

const ALL: Needs = Needs {
    db: true,
    cache: true,
    tokens: true,
};

fn token(app: &rota_api::App, user_id: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    app.tokens()
        .unwrap()
        .issue_access(
            Caller {
                user_id,
                role: Role::Member,
            },
            now,
            900,
        )
        .unwrap()
}

async fn create_user(app: &rota_api::App) -> i64 {
    let event = with_body(
        sample_event("auth-register"),
        &json!({"email": unique_email(), "password": "correct horse battery", "display_name": "Liker"}),
    );
    let reply = call(app, &rota_api::handlers::auth::Register, &event).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()["user"]["id"].as_i64().unwrap()
}

async fn create_post(app: &rota_api::App, author: i64) -> i64 {
    let event = with_token(sample_event("community-posts-create"), &token(app, author));
    let reply = call(app, &community::CreatePost, &event).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()["id"].as_i64().unwrap()
}

fn on_post(mut event: serde_json::Value, post_id: i64, user_token: &str) -> serde_json::Value {
    let path = event["rawPath"]
        .as_str()
        .unwrap()
        .replace("1234567890", &post_id.to_string());
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"]["id"] = json!(post_id.to_string());
    with_token(event, user_token)
}

#[tokio::test]
async fn fifty_likes_and_twenty_unlikes_at_once_leave_the_count_exact() {
    let app = app(ALL).await;
    let author = create_user(&app).await;
    let post = create_post(&app, author).await;
    // Likers need no accounts of their own: likes are keyed by the token's user id.
    let base = rota_domain::ids::new_id();
    let early: Vec<i64> = (0..20).map(|i| base + i).collect();
    let late: Vec<i64> = (20..70).map(|i| base + i).collect();
    for user in &early {
        let r = call(
            &app,
            &community::LikePost,
            &on_post(
                sample_event("community-posts-like"),
                post,
                &token(&app, *user),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let likes = late.iter().map(|u| {
        let event = on_post(sample_event("community-posts-like"), post, &token(&app, *u));
        let app = &app;
        async move { call(app, &community::LikePost, &event).await.status }
    });
    let unlikes = early.iter().map(|u| {
        let event = on_post(
            sample_event("community-posts-unlike"),
            post,
            &token(&app, *u),
        );
        let app = &app;
        async move { call(app, &community::UnlikePost, &event).await.status }
    });
    // Repeated likes from the same users must not count twice.
    let repeats = late[..10].iter().map(|u| {
        let event = on_post(sample_event("community-posts-like"), post, &token(&app, *u));
        let app = &app;
        async move { call(app, &community::LikePost, &event).await.status }
    });
    let (a, b, c) = tokio::join!(join_all(likes), join_all(unlikes), join_all(repeats));
    assert!(
        a.iter().chain(&b).chain(&c).all(|s| *s == 200),
        "{a:?} {b:?} {c:?}"
    );

    let got = call(
        &app,
        &community::GetPost,
        &on_post(
            sample_event("community-posts-get"),
            post,
            &token(&app, author),
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

async fn stats_app(key: &str, redis: Option<String>) -> rota_api::App {
    let mut app = app_with_redis(community::GetStats::NEEDS, redis).await;
    app.config.stats_cache_key = key.to_owned();
    app
}

#[tokio::test]
async fn concurrent_requests_at_expiry_compute_the_stats_once() {
    let key = unique("stats-test:");
    // Ten containers, each with a cold cache of its own, ask at the same moment.
    let apps = join_all((0..10).map(|_| stats_app(&key, std::env::var("REDIS_URL").ok()))).await;
    let results = join_all(apps.iter().map(|app| async move {
        let mut metrics = rota_lambda::metrics::Metrics::new();
        rota_api::stats::get(&app.stats_source().unwrap(), &mut metrics)
            .await
            .unwrap()
    }))
    .await;
    let computed = results
        .iter()
        .filter(|(_, source)| *source == rota_api::stats::Source::Computed)
        .count();
    assert_eq!(
        computed,
        1,
        "{:?}",
        results.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    assert!(
        results.windows(2).all(|w| w[0].0 == w[1].0),
        "every caller got the same stats"
    );
}

#[tokio::test]
async fn stats_are_served_from_the_cache_until_they_expire() {
    let key = unique("stats-test:");
    let app = stats_app(&key, std::env::var("REDIS_URL").ok()).await;
    let mut metrics = rota_lambda::metrics::Metrics::new();
    let (first, source) = rota_api::stats::get(&app.stats_source().unwrap(), &mut metrics)
        .await
        .unwrap();
    assert_eq!(source, rota_api::stats::Source::Computed);
    let (second, source) = rota_api::stats::get(&app.stats_source().unwrap(), &mut metrics)
        .await
        .unwrap();
    assert_eq!(source, rota_api::stats::Source::Cache);
    assert_eq!(first, second);
    assert_eq!(metrics.get("CacheHits"), Some(1.0));
    assert_eq!(metrics.get("CacheMisses"), Some(1.0));
    assert!(
        metrics.get("ActiveUsers24h").is_some(),
        "DAU is emitted as a metric"
    );
    assert!(
        metrics.get("ActiveUsers30d").is_some(),
        "MAU is emitted as a metric"
    );
}

#[tokio::test]
async fn with_the_cache_down_stats_still_answer_and_the_failure_is_counted() {
    let key = unique("stats-test:");
    let app = stats_app(&key, Some("redis://127.0.0.1:1".into())).await;
    let mut metrics = rota_lambda::metrics::Metrics::new();
    let (first, source) = rota_api::stats::get(&app.stats_source().unwrap(), &mut metrics)
        .await
        .unwrap();
    assert_eq!(source, rota_api::stats::Source::Computed);
    assert_eq!(metrics.get("CacheErrors"), Some(1.0));
    // Held briefly in the container rather than recomputed on every call.
    let (second, source) = rota_api::stats::get(&app.stats_source().unwrap(), &mut metrics)
        .await
        .unwrap();
    assert_eq!(source, rota_api::stats::Source::Container);
    assert_eq!(first, second);
    // And through the handler: a 200, not a 503.
    let reply = call(&app, &community::GetStats, &sample_event("community-stats")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn stats_count_posts_and_users_from_counters_and_indexes() {
    let key = unique("stats-test:");
    let app = stats_app(&key, None).await;
    let writer = app_with_redis(ALL, std::env::var("REDIS_URL").ok()).await;
    let mut metrics = rota_lambda::metrics::Metrics::new();
    let before = rota_api::stats::compute(&app.stats_source().unwrap(), &mut metrics)
        .await
        .unwrap();
    let author = create_user(&writer).await;
    let post = create_post(&writer, author).await;
    let after = rota_api::stats::compute(&app.stats_source().unwrap(), &mut metrics)
        .await
        .unwrap();
    // Other tests run at the same time, so only lower bounds hold.
    assert!(after.total_users > before.total_users);
    assert!(after.total_posts >= 1);
    assert!(after.posts_last_24h >= 1);
    assert!(
        after.active_users_24h >= 1,
        "the author's authenticated call counts as activity"
    );
    assert!(after.top_posts.len() <= 5);
    let _ = post;
}

#[tokio::test]
async fn activity_is_recorded_once_per_user_per_hour() {
    let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = rota_api::config::Config::from_env().unwrap().table_name;
    let activity = rota_store::activity::Activity::new(&db, &table);
    let user = rota_domain::ids::new_id();
    let now = chrono::Utc::now().timestamp();
    let hour = rota_store::activity::hour_of(now);
    let before = activity.count_since(hour).await.unwrap();
    assert!(activity.record(user, now).await.unwrap());
    assert!(
        !activity.record(user, now + 1).await.unwrap(),
        "second record in the hour"
    );
    let after = activity.count_since(hour).await.unwrap();
    assert!(after > before);
    // Next hour, it is recorded again (and still counted once).
    assert!(activity.record(user, now + 3600).await.unwrap());
}

#[tokio::test]
async fn post_limits_still_hold_per_container_when_the_cache_is_down() {
    let app = app_with_redis(ALL, Some("redis://127.0.0.1:1".into())).await;
    let author = create_user(&app).await;
    for _ in 0..5 {
        create_post(&app, author).await;
    }
    let event = with_token(sample_event("community-posts-create"), &token(&app, author));
    let reply = call(&app, &community::CreatePost, &event).await;
    reply.problem(429);
    assert_eq!(reply.header("ratelimit-limit"), Some("5"));
}

#[tokio::test]
async fn streaks_survive_timezones_and_dst_and_concurrent_writers() {
    use chrono::TimeZone;
    use rota_domain::streak::{after_completion, current, local_date};
    let db = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = rota_api::config::Config::from_env().unwrap().table_name;
    let store = rota_store::roadmaps::Roadmaps::new(&db, &table);
    let user = rota_domain::ids::new_id();
    let tz = "America/New_York";
    // 23:30 local on 7, 8 and 9 March 2026: the clocks spring forward on the 8th.
    let instants = [
        (2026, 3, 8, 4, 30),
        (2026, 3, 9, 3, 30),
        (2026, 3, 10, 3, 30),
    ];
    for (y, m, d, h, min) in instants {
        let at = chrono::Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap();
        let previous = store.streak(user).await.unwrap();
        let next = after_completion(previous, local_date(at, tz));
        assert!(store.save_streak(user, previous, next).await.unwrap());
    }
    let saved = store.streak(user).await.unwrap().unwrap();
    assert_eq!(saved.days, 3);
    let march_10 = chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    assert_eq!(current(Some(saved), march_10), 3);
    // A writer holding a stale copy loses the race instead of overwriting.
    let stale = rota_domain::streak::Streak {
        last_day: saved.last_day,
        days: 1,
    };
    assert!(
        !store
            .save_streak(user, Some(stale), after_completion(Some(stale), march_10))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn pages_read_across_feed_shards_stay_ordered_without_gaps_or_duplicates() {
    let mut app = app(ALL).await;
    app.config.feed_shards = 3;
    // Posts until every shard holds some (ids are random, so keep going, bounded); a new author
    // every four posts stays under the five-a-minute limit.
    let mut mine = Vec::new();
    let mut author = 0;
    while mine.len() < 12
        || !(0..3).all(|s| {
            mine.iter()
                .any(|id| rota_store::posts::shard_of(*id, 3) == s)
        })
    {
        assert!(mine.len() < 60, "ids never covered every shard");
        if mine.len() % 4 == 0 {
            author = create_user(&app).await;
        }
        mine.push(create_post(&app, author).await);
    }
    for sort in ["new", "top"] {
        let mut seen: Vec<(i64, i64)> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut event = sample_event("community-posts-list");
            let query = match &cursor {
                Some(c) => format!("sort={sort}&limit=5&cursor={c}"),
                None => format!("sort={sort}&limit=5"),
            };
            event["rawQueryString"] = json!(query);
            let reply = call(&app, &community::ListPosts, &event).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let page = reply.json();
            for p in page["items"].as_array().unwrap() {
                seen.push((
                    p["likes_count"].as_i64().unwrap(),
                    p["id"].as_i64().unwrap(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let ids: Vec<i64> = seen.iter().map(|(_, id)| *id).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{sort}: duplicates across pages");
        let ordered = if sort == "new" {
            ids.windows(2).all(|w| w[0] > w[1])
        } else {
            seen.windows(2).all(|w| w[0] > w[1])
        };
        assert!(ordered, "{sort}: out of order across shards");
        for id in &mine {
            assert!(ids.contains(id), "{sort}: post {id} skipped");
        }
    }
}

#[tokio::test]
async fn the_first_feed_page_is_shared_and_a_new_post_shows_at_once() {
    use rota_store::posts::Feed;
    let app = app(ALL).await;
    let author = create_user(&app).await;
    let mut metrics = rota_lambda::metrics::Metrics::new();
    rota_api::feeds::page(&app, &mut metrics, Feed::New, None, 100, Some(author))
        .await
        .unwrap();
    let (second, _) = rota_api::feeds::page(&app, &mut metrics, Feed::New, None, 100, Some(author))
        .await
        .unwrap();
    // The second read within the second came from the cache (another test may have
    // invalidated it in between: then it is a miss, never a stale page).
    let hits = metrics.get("FeedCacheHits").unwrap_or(0.0);
    let misses = metrics.get("FeedCacheMisses").unwrap_or(0.0);
    assert_eq!(hits + misses, 2.0);
    // A post created through the handler (which invalidates) is on the next page at once,
    // and a like by the reader shows as liked_by_me (read from the reader's own partition).
    let post = create_post(&app, author).await;
    assert!(!second.iter().any(|(p, _)| p.id == post));
    let like = on_post(
        sample_event("community-posts-like"),
        post,
        &token(&app, author),
    );
    assert_eq!(call(&app, &community::LikePost, &like).await.status, 200);
    let (third, _) = rota_api::feeds::page(&app, &mut metrics, Feed::New, None, 100, Some(author))
        .await
        .unwrap();
    let mine = third
        .iter()
        .find(|(p, _)| p.id == post)
        .expect("the new post at once");
    assert!(mine.1, "liked_by_me");
}

#[tokio::test]
async fn with_the_cache_down_feed_pages_are_read_from_the_table() {
    use rota_store::posts::Feed;
    let up = app(ALL).await;
    let author = create_user(&up).await;
    let post = create_post(&up, author).await;
    let down = app_with_redis(ALL, Some("redis://127.0.0.1:1".into())).await;
    let mut metrics = rota_lambda::metrics::Metrics::new();
    let (page, _) = rota_api::feeds::page(&down, &mut metrics, Feed::New, None, 50, None)
        .await
        .unwrap();
    assert!(page.iter().any(|(p, _)| p.id == post));
    assert!(metrics.get("CacheErrors").unwrap_or(0.0) >= 1.0);
}
