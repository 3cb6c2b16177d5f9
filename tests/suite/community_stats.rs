//! Community stats (`GET /api/community/stats`): every field, computed once per expiry across
//! containers, served from the cache, still answered with the cache down; and the activity
//! records behind the active-user counts.

use rota_tests::*;

#[tokio::test]
async fn stats_answer_with_every_field() {
    let api = Api::new();
    let reply = api.get("/api/community/stats", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let stats = reply.json();
    for field in [
        "total_users",
        "total_posts",
        "posts_last_24h",
        "active_users_24h",
    ] {
        assert!(stats[field].is_u64(), "{field}: {stats}");
    }
    assert!(stats["top_posts"].as_array().unwrap().len() <= 5);
    api.get("/api/community/stats", Some("bad-token"))
        .await
        .problem(401);
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use futures::future::join_all;
    use rota_api::handlers::community_stats;
    use rota_api::stats::Source;

    async fn stats_app(key: &str, redis: Option<String>) -> TestApp {
        let mut app = app_with_redis(redis).await;
        app.set_config(|c| c.stats_cache_key = key.to_owned());
        app
    }

    /// The stats as `app` serves them (no request budget), and where they came from.
    async fn stats_and_source(
        app: &TestApp,
        metrics: &mut rota_lambda::metrics::Metrics,
    ) -> (rota_api::stats::Stats, Source) {
        let served = rota_api::stats::get(&app.stats_source(), metrics)
            .await
            .unwrap();
        (served.stats, served.source)
    }

    /// `GET /api/community/stats` through the handler, as Lambda calls it: a 200.
    async fn stats_through_the_handler(app: &TestApp) -> HttpReply {
        let reply = call(
            app,
            &community_stats::GetStats,
            &sample_event("community-stats"),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
    }

    /// An App on the stack's Redis whose stats have a cache entry of their own (its key).
    async fn app_with_its_own_stats_entry() -> (String, TestApp) {
        let key = unique("stats-test:");
        let app = stats_app(&key, Some(redis_url())).await;
        (key, app)
    }

    /// Holds the stats' computation lock of `key` as `holder` for `ttl_ms`.
    async fn hold_the_lock(app: &TestApp, key: &str, holder: &str, ttl_ms: u64) {
        redis_set(app, &format!("{key}:lock"), holder, ttl_ms).await;
    }

    #[tokio::test]
    async fn concurrent_requests_at_expiry_compute_the_stats_once() {
        let key = unique("stats-test:");
        // Ten containers, each with a cold cache of its own, ask at the same moment.
        let apps = join_all((0..10).map(|_| stats_app(&key, Some(redis_url())))).await;
        let results = join_all(apps.iter().map(|app| async move {
            let mut metrics = rota_lambda::metrics::Metrics::new();
            rota_api::stats::get(&app.stats_source(), &mut metrics)
                .await
                .unwrap()
        }))
        .await;
        let computed = results
            .iter()
            .filter(|served| served.source == Source::Computed)
            .count();
        assert_eq!(
            computed,
            1,
            "{:?}",
            results.iter().map(|r| r.source).collect::<Vec<_>>()
        );
        assert!(
            results.windows(2).all(|w| w[0].stats == w[1].stats),
            "every caller got the same stats"
        );
    }

    #[tokio::test]
    async fn stats_are_served_from_the_cache_until_they_expire() {
        let (_, app) = app_with_its_own_stats_entry().await;
        let mut metrics = rota_lambda::metrics::Metrics::new();
        let (first, source) = stats_and_source(&app, &mut metrics).await;
        assert_eq!(source, Source::Computed);
        let (second, source) = stats_and_source(&app, &mut metrics).await;
        assert_eq!(source, Source::Cache);
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

    /// Sets `key` in the stack's Redis for `ttl_ms` (a lock of a holder that died, say).
    async fn redis_set(app: &TestApp, key: &str, value: &str, ttl_ms: u64) {
        let (key, value) = (key.to_owned(), value.to_owned());
        app.cache()
            .expect("a cache")
            .call(|mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
            .unwrap();
    }

    async fn redis_get(app: &TestApp, key: &str) -> Option<String> {
        let key = key.to_owned();
        app.cache()
            .expect("a cache")
            .call(|mut conn| async move { redis::cmd("GET").arg(key).query_async(&mut conn).await })
            .await
            .unwrap()
    }

    /// Computes the stats into `key`'s cache entry, then makes the entry `age_secs` old (as
    /// if computed then): the stats it holds.
    async fn aged_entry(app: &TestApp, key: &str, age_secs: i64) -> serde_json::Value {
        stats_and_source(app, &mut rota_lambda::metrics::Metrics::new()).await;
        let mut entry: serde_json::Value =
            serde_json::from_str(&redis_get(app, key).await.expect("an entry")).unwrap();
        entry["at_ms"] = (entry["at_ms"].as_i64().unwrap() - age_secs * 1000).into();
        redis_set(app, key, &entry.to_string(), 20_000).await;
        entry["stats"].take()
    }

    /// The stats as a request computes them: within the request's budget, as the runtime runs
    /// the handler.
    async fn get_in_request(app: &TestApp) -> rota_api::stats::Served {
        let mut metrics = rota_lambda::metrics::Metrics::new();
        rota_store::retry::with_budget(
            app.request_budget(None),
            rota_api::stats::get(&app.stats_source(), &mut metrics),
        )
        .await
        .expect("stats within the budget")
    }

    /// A caller that took the computation lock and died (or is slow) must not make every
    /// other request wait past its budget: with no copy to serve, they compute within it.
    #[tokio::test]
    async fn a_lock_held_by_a_dead_holder_still_answers_within_the_budget() {
        let (key, app) = app_with_its_own_stats_entry().await;
        hold_the_lock(&app, &key, "dead-holder", 10_000).await;
        stats_through_the_handler(&app).await;
        // Without waiting for the holder's lock to end: the next caller computed too (the
        // first stored its result, so the entry is read from now on).
        redis_get(&app, &key).await.expect("the result was stored");
        let other = stats_app(&key, Some(redis_url())).await;
        assert_eq!(get_in_request(&other).await.source, Source::Cache);
    }

    /// Past its refresh point an entry is refreshed by the lock's holder; while the holder is
    /// slow or dead, the others serve the entry at once (it is still within the TTL).
    #[tokio::test]
    async fn a_lock_held_by_a_dead_holder_serves_the_entry_due_for_refresh() {
        let (key, app) = app_with_its_own_stats_entry().await;
        let refresh = rota_api::stats::refresh_after(app.config.stats_ttl_secs).as_secs() as i64;
        let stats = aged_entry(&app, &key, refresh + 5).await;
        hold_the_lock(&app, &key, "dead-holder", 10_000).await;
        let served = get_in_request(&app).await;
        assert_eq!(served.source, Source::Stale);
        assert_eq!(serde_json::to_value(&served.stats).unwrap(), stats);
        // Without the lock taken, the next caller refreshes it.
        hold_the_lock(&app, &key, "gone", 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(get_in_request(&app).await.source, Source::Computed);
    }

    /// The contract: stats are never older than the TTL (300 s). An HTTP cache may hold the
    /// response only for what is left of it.
    #[tokio::test]
    async fn stats_and_their_http_cache_lifetime_add_up_to_the_ttl() {
        let (key, app) = app_with_its_own_stats_entry().await;
        let ttl = app.config.stats_ttl_secs;
        let stats = aged_entry(&app, &key, ttl as i64 - 20).await;
        // Another caller is refreshing it: this one serves the entry.
        hold_the_lock(&app, &key, "refreshing", 10_000).await;
        let reply = stats_through_the_handler(&app).await;
        assert_eq!(reply.json(), stats, "the cached entry was served");
        let max_age = |reply: &HttpReply| -> u64 {
            let cache_control = reply.headers["cache-control"].to_str().unwrap();
            cache_control
                .strip_prefix("public, max-age=")
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{cache_control}"))
        };
        assert!(
            max_age(&reply) <= 20,
            "max-age {} on stats {}s old",
            max_age(&reply),
            ttl - 20
        );
        // A TTL under a minute bounds a fresh answer's max-age too.
        let (_, mut short) = app_with_its_own_stats_entry().await;
        short.set_config(|c| c.stats_ttl_secs = 30);
        let reply = stats_through_the_handler(&short).await;
        assert!((1..=30).contains(&max_age(&reply)), "{}", max_age(&reply));
    }

    #[tokio::test]
    async fn with_the_cache_down_stats_still_answer_and_the_failure_is_counted() {
        let key = unique("stats-test:");
        let app = stats_app(&key, Some("redis://127.0.0.1:1".into())).await;
        let mut metrics = rota_lambda::metrics::Metrics::new();
        let (first, source) = stats_and_source(&app, &mut metrics).await;
        assert_eq!(source, Source::Computed);
        assert_eq!(metrics.get("CacheErrors"), Some(1.0));
        // Held briefly in the container rather than recomputed on every call.
        let (second, source) = stats_and_source(&app, &mut metrics).await;
        assert_eq!(source, Source::Container);
        assert_eq!(first, second);
        // And through the handler: a 200, not a 503.
        stats_through_the_handler(&app).await;
    }

    #[tokio::test]
    async fn stats_count_posts_and_users_from_counters_and_indexes() {
        let key = unique("stats-test:");
        let app = stats_app(&key, None).await;
        let writer = app_with_redis(Some(redis_url())).await;
        let mut metrics = rota_lambda::metrics::Metrics::new();
        let before = rota_api::stats::compute(&app.stats_source(), &mut metrics)
            .await
            .unwrap();
        let author = create_user(&writer).await;
        let post = create_post(&writer, author).await;
        // The 24-hour figures come from the feed and activity indexes, which lag the writes
        // (as DynamoDB's do): read again until they show them, as a client would.
        let mut after = rota_api::stats::compute(&app.stats_source(), &mut metrics)
            .await
            .unwrap();
        let waited = std::time::Instant::now();
        while (after.posts_last_24h < 1 || after.active_users_24h < 1)
            && waited.elapsed() < std::time::Duration::from_secs(3)
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            after = rota_api::stats::compute(&app.stats_source(), &mut metrics)
                .await
                .unwrap();
        }
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
        let (db, table) = stack_table().await;
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
        // Counted from the active-users index, which has it a moment later (eventually
        // consistent): a reader waits, as the stats' next computation would.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while activity.count_since(hour).await.unwrap() <= before {
            assert!(std::time::Instant::now() < deadline, "never counted");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Next hour, it is recorded again (and still counted once).
        assert!(activity.record(user, now + 3600).await.unwrap());
    }
}
