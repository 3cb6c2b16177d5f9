//! Community stats, cached in the cache cluster for `stats_ttl_secs` (the owner's 300 s).
//!
//! Nothing here counts by Scan: totals are counter items written in the same transactions as
//! what they count; "last 24 h" figures are COUNT Queries on the feed and activity indexes,
//! whose cost grows with recent activity only.
//!
//! Stampede guard: on a miss, one caller takes a short Redis lock (SET NX PX) and computes;
//! the others wait for its result, so a popular key expiring under load is computed once.
//! With the cache down, stats are computed and held in the container for a short time, and
//! the failure is logged and counted (`CacheErrors`).

use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::error::ApiResult;
use rota_lambda::metrics::{Metrics, Unit};
use rota_store::activity::{Activity, hour_of};
use rota_store::posts::{Feed, Posts, feed_partition};
use rota_store::{counters, n, s};

/// How long a container keeps its own copy when the cache is down.
const CONTAINER_TTL: Duration = Duration::from_secs(30);
const LOCK_TTL_MS: u64 = 10_000;
const WAIT_STEP: Duration = Duration::from_millis(50);
const WAIT_STEPS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopPost {
    pub id: i64,
    pub title: String,
    pub likes_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub total_users: u64,
    pub total_posts: u64,
    pub posts_last_24h: u64,
    pub active_users_24h: u64,
    pub top_posts: Vec<TopPost>,
}

/// Where an answer came from (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Computed,
    Container,
}

/// Where the stats come from: the table, the cache (when the function has one) and this
/// container's own copy. Built by [`crate::app::App::stats_source`].
pub struct StatsSource<'a> {
    pub db: &'a aws_sdk_dynamodb::Client,
    pub table: &'a str,
    pub feed_shards: u32,
    pub cache: Option<&'a Cache>,
    pub cache_key: &'a str,
    pub ttl_secs: u64,
    pub memo: &'a Memo,
}

/// Computes the stats from DynamoDB: one round of concurrent calls.
pub async fn compute(src: &StatsSource<'_>, metrics: &mut Metrics) -> ApiResult<Stats> {
    let (db, table) = (src.db, src.table);
    let now = Utc::now();
    let hour = hour_of(now.timestamp());
    let since_id = rota_domain::ids::first_id_at(now.timestamp_millis() - 24 * 3600 * 1000);
    let shards = src.feed_shards;

    let totals = counters::totals(db, table);
    let recent_posts = futures_util::future::try_join_all((0..shards).map(|shard| {
        rota_store::count_all(
            db.query()
                .table_name(table)
                .index_name(Feed::New.index())
                .key_condition_expression("#feed = :feed AND id >= :since")
                .expression_attribute_names("#feed", "feed")
                .expression_attribute_values(":feed", s(feed_partition(shard)))
                .expression_attribute_values(":since", n(since_id)),
        )
    }));
    let activity = Activity::new(db, table);
    let posts = Posts::new(db, table);
    let (totals, recent_posts, daily, monthly, top) = tokio::try_join!(
        totals,
        recent_posts,
        activity.count_since(hour - 23),
        activity.count_since(hour - 24 * 30 + 1),
        posts.page(Feed::Top, shards, None, 5, None),
    )?;
    // The owner's DAU/MAU KPIs, as metrics.
    metrics.add("ActiveUsers24h", Unit::Count, daily as f64);
    metrics.add("ActiveUsers30d", Unit::Count, monthly as f64);
    metrics.count("StatsComputed");
    Ok(Stats {
        total_users: totals.users,
        total_posts: totals.active_posts,
        posts_last_24h: recent_posts.iter().sum(),
        active_users_24h: daily,
        top_posts: top
            .0
            .into_iter()
            .map(|(p, _)| TopPost {
                id: p.id,
                title: p.title,
                likes_count: p.likes_count,
            })
            .collect(),
    })
}

async fn read(cache: &Cache, key: &str) -> Result<Option<Stats>, redis::RedisError> {
    let raw: Option<String> = cache
        .call(|mut conn| async move {
            rota_lambda::diagnostics::redis_call(redis::cmd("GET").arg(key).query_async(&mut conn))
                .await
        })
        .await?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

async fn write(
    cache: &Cache,
    key: &str,
    stats: &Stats,
    ttl_secs: u64,
) -> Result<(), redis::RedisError> {
    let value = serde_json::to_string(stats).unwrap_or_default();
    cache
        .call(|mut conn| async move {
            rota_lambda::diagnostics::redis_call(
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("EX")
                    .arg(ttl_secs.max(1))
                    .query_async::<()>(&mut conn),
            )
            .await
        })
        .await
}

/// Takes the computation lock; `Some(token)` when this caller holds it.
async fn lock(cache: &Cache, key: &str) -> Result<Option<String>, redis::RedisError> {
    let token = format!("{:x}", rand::random::<u64>());
    let ok: Option<String> = cache
        .call(|mut conn| {
            let token = token.clone();
            async move {
                rota_lambda::diagnostics::redis_call(
                    redis::cmd("SET")
                        .arg(format!("{key}:lock"))
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(LOCK_TTL_MS)
                        .query_async(&mut conn),
                )
                .await
            }
        })
        .await?;
    Ok(ok.map(|_| token))
}

async fn unlock(cache: &Cache, key: &str, token: &str) -> Result<(), redis::RedisError> {
    // Delete only our own lock (it may have expired and been taken by another caller).
    const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
    cache
        .call(|mut conn| async move {
            rota_lambda::diagnostics::redis_call(
                redis::Script::new(UNLOCK)
                    .key(format!("{key}:lock"))
                    .arg(token)
                    .invoke_async::<i64>(&mut conn),
            )
            .await
        })
        .await
        .map(|_| ())
}

fn cache_failed(metrics: &mut Metrics, err: &redis::RedisError) {
    if !crate::cache::is_short_circuit(err) {
        tracing::warn!(error = %err, "stats cache unavailable; computing without it");
    }
    metrics.count("CacheErrors");
}

/// What the cache said.
enum Lookup {
    Hit(Stats),
    /// Compute it; `Some(token)` when this caller holds the computation lock.
    Compute(Option<String>),
}

async fn lookup(
    cache: &Cache,
    key: &str,
    metrics: &mut Metrics,
) -> Result<Lookup, redis::RedisError> {
    if let Some(stats) = read(cache, key).await? {
        metrics.count("CacheHits");
        return Ok(Lookup::Hit(stats));
    }
    metrics.count("CacheMisses");
    let token = lock(cache, key).await?;
    if token.is_none() {
        // Another caller is computing: wait for its result rather than stampeding DynamoDB.
        for _ in 0..WAIT_STEPS {
            tokio::time::sleep(WAIT_STEP).await;
            if let Some(stats) = read(cache, key).await? {
                return Ok(Lookup::Hit(stats));
            }
        }
        // Its holder took too long (or died): compute without the lock.
    }
    Ok(Lookup::Compute(token))
}

/// The stats, from the cache when fresh; see the module docs for what happens otherwise.
pub async fn get(src: &StatsSource<'_>, metrics: &mut Metrics) -> ApiResult<(Stats, Source)> {
    let key = src.cache_key;
    if let Some(cache) = src.cache {
        match lookup(cache, key, metrics).await {
            Ok(Lookup::Hit(stats)) => return Ok((stats, Source::Cache)),
            Ok(Lookup::Compute(token)) => {
                let computed = compute(src, metrics).await;
                if let Ok(stats) = &computed
                    && let Err(err) = write(cache, key, stats, src.ttl_secs).await
                {
                    cache_failed(metrics, &err);
                }
                if let Some(token) = token {
                    let _ = unlock(cache, key, &token).await;
                }
                return computed.map(|stats| (stats, Source::Computed));
            }
            Err(err) => cache_failed(metrics, &err),
        }
    }
    if let Some(stats) = src.memo.get(CONTAINER_TTL) {
        return Ok((stats, Source::Container));
    }
    let stats = compute(src, metrics).await?;
    src.memo.put(stats.clone());
    Ok((stats, Source::Computed))
}

/// A container-local copy of the stats, for when the cache is down.
#[derive(Default)]
pub struct Memo(std::sync::Mutex<Option<(Instant, Stats)>>);

impl Memo {
    pub fn get(&self, max_age: Duration) -> Option<Stats> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, stats)| stats.clone())
    }

    pub fn put(&self, stats: Stats) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), stats));
    }
}
