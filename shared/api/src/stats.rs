//! Community stats, cached in the cache cluster for `stats_ttl_secs` (the owner's 300 s): the
//! contract's bound on their age, which nothing here passes (the HTTP cache included).
//!
//! Nothing here counts by Scan: totals are counter items written in the same transactions as
//! what they count; "last 24 h" figures are COUNT Queries on the feed and activity indexes,
//! whose cost grows with recent activity only.
//!
//! - **Refresh before expiry**: the cached entry carries the time its computation began. Past
//!   [`refresh_after`] (four fifths of the TTL) one caller takes a Redis lock (SET NX PX) and
//!   computes; the others serve the entry, still within the TTL, at once (`Source::Stale`).
//! - **Stampede guard on a miss**: with no entry, one caller takes the lock and computes; the
//!   others wait for its result, but only as long as their own request can spare: the wait
//!   ends one attempt timeout before the request's budget (`rota_store::retry::Budget`), and a
//!   caller still without a result computes itself. A holder that died or is slow therefore
//!   costs the others a wait, never a 503. The lock lives as long as its holder's budget (its
//!   computation cannot run longer), plus a margin.
//! - **Ages add up**: `Cache-Control: max-age` is what is left of the TTL for the entry served
//!   (at most 60 s), so a response held by an HTTP cache is never older than the TTL either
//!   ([`Served::cache_control`]).
//! - **Cache down**: stats are computed and held in the container for a short time, and the
//!   failure is logged and counted (`CacheErrors`). A computation that fails while a stale
//!   entry is at hand serves the entry.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::error::ApiResult;
use rota_lambda::metrics::{Metrics, Unit};
use rota_store::activity::{Activity, hour_of};
use rota_store::counters;
use rota_store::posts::{Feed, Posts};

/// How long a container keeps its own copy when the cache is down.
const CONTAINER_TTL: Duration = Duration::from_secs(30);
/// Added to the holder's remaining budget for the lock's life: the time to store the result.
const LOCK_MARGIN: Duration = Duration::from_millis(500);
const WAIT_STEP: Duration = Duration::from_millis(50);
/// The most an HTTP cache may hold a stats response.
const MAX_AGE_SECS: u64 = 60;

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
    /// The cached entry, before its refresh point.
    Cache,
    /// The cached entry past its refresh point (within the TTL) while another caller
    /// refreshes it, or because the refresh failed.
    Stale,
    Computed,
    Container,
}

/// The stats served, where from, and how old they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub stats: Stats,
    pub source: Source,
    pub age: Duration,
}

impl Served {
    /// `Cache-Control` for these stats: an HTTP cache may hold them for what is left of `ttl`
    /// (60 s at most), so what it serves is never older than `ttl` either.
    pub fn cache_control(&self, ttl_secs: u64) -> http::HeaderValue {
        let left = Duration::from_secs(ttl_secs)
            .saturating_sub(self.age)
            .as_secs();
        http::HeaderValue::from_str(&format!("public, max-age={}", left.min(MAX_AGE_SECS)))
            .expect("ASCII")
    }
}

/// Past this age a cached entry is refreshed by one caller (and served by the others).
pub fn refresh_after(ttl_secs: u64) -> Duration {
    Duration::from_secs(ttl_secs) * 4 / 5
}

/// What the cache holds: the stats and when their computation began (epoch ms).
#[derive(Serialize, Deserialize)]
struct Entry {
    at_ms: i64,
    stats: Stats,
}

impl Entry {
    fn age(&self) -> Duration {
        let ms = Utc::now().timestamp_millis().saturating_sub(self.at_ms);
        Duration::from_millis(ms.max(0) as u64)
    }
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
    let recent_posts = rota_store::stats::posts_since(db, table, shards, since_id);
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
        posts_last_24h: recent_posts,
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

async fn read(cache: &Cache, key: &str) -> Result<Option<Entry>, redis::RedisError> {
    let raw: Option<String> = cache.query(redis::cmd("GET").arg(key)).await?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

/// Stores `entry` until `ttl_secs` after its computation began.
async fn write(
    cache: &Cache,
    key: &str,
    entry: &Entry,
    ttl_secs: u64,
) -> Result<(), redis::RedisError> {
    let left = Duration::from_secs(ttl_secs).saturating_sub(entry.age());
    if left.is_zero() {
        return Ok(());
    }
    let value = serde_json::to_string(entry).unwrap_or_default();
    let px = left.as_millis().max(1) as u64;
    cache
        .query(redis::cmd("SET").arg(key).arg(value).arg("PX").arg(px))
        .await
}

/// Takes the computation lock; `Some(token)` when this caller holds it. It lives as long as
/// the caller's budget (its computation cannot outlast it), plus a margin.
async fn lock(cache: &Cache, key: &str) -> Result<Option<String>, redis::RedisError> {
    let token = format!("{:x}", rand::random::<u64>());
    let budget = rota_store::retry::Budget::current();
    let ttl_ms = (budget.deadline.saturating_duration_since(Instant::now()) + LOCK_MARGIN)
        .as_millis() as u64;
    let lock_key = format!("{key}:lock");
    let set = redis::cmd("SET")
        .arg(&lock_key)
        .arg(&token)
        .arg("NX")
        .arg("PX")
        .arg(ttl_ms)
        .clone();
    let ok: Option<String> = cache.query(&set).await?;
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
    Hit(Entry, Source),
    /// Compute it; `Some(token)` when this caller holds the computation lock, and the stale
    /// entry to serve if computing fails.
    Compute(Option<String>, Option<Entry>),
}

async fn lookup(
    cache: &Cache,
    key: &str,
    ttl_secs: u64,
    metrics: &mut Metrics,
) -> Result<Lookup, redis::RedisError> {
    let ttl = Duration::from_secs(ttl_secs);
    let found = read(cache, key).await?.filter(|e| e.age() < ttl);
    if let Some(entry) = found {
        metrics.count("CacheHits");
        if entry.age() < refresh_after(ttl_secs) {
            return Ok(Lookup::Hit(entry, Source::Cache));
        }
        // Due for a refresh: one caller computes, the others serve it meanwhile.
        return Ok(match lock(cache, key).await? {
            Some(token) => Lookup::Compute(Some(token), Some(entry)),
            None => Lookup::Hit(entry, Source::Stale),
        });
    }
    metrics.count("CacheMisses");
    let token = lock(cache, key).await?;
    if token.is_none() {
        // Another caller is computing: wait for its result rather than stampeding DynamoDB,
        // but keep what this request needs to compute it itself (one attempt's time).
        let budget = rota_store::retry::Budget::current();
        let give_up = budget.deadline.checked_sub(budget.attempt_timeout);
        while let Some(left) = give_up.map(|at| at.saturating_duration_since(Instant::now()))
            && !left.is_zero()
        {
            tokio::time::sleep(WAIT_STEP.min(left)).await;
            if let Some(entry) = read(cache, key).await?.filter(|e| e.age() < ttl) {
                return Ok(Lookup::Hit(entry, Source::Cache));
            }
        }
        // Its holder is slow (or died): compute without the lock.
        metrics.count("StatsLockWaitsAbandoned");
    }
    Ok(Lookup::Compute(token, None))
}

/// Computes the stats, stores them and releases the lock; serves `stale` if computing fails.
async fn refresh(
    src: &StatsSource<'_>,
    cache: &Cache,
    token: Option<String>,
    stale: Option<Entry>,
    metrics: &mut Metrics,
) -> ApiResult<Served> {
    let at_ms = Utc::now().timestamp_millis();
    let computed = compute(src, metrics).await;
    if let Ok(stats) = &computed {
        let entry = Entry {
            at_ms,
            stats: stats.clone(),
        };
        if let Err(err) = write(cache, src.cache_key, &entry, src.ttl_secs).await {
            cache_failed(metrics, &err);
        }
    }
    if let Some(token) = token {
        let _ = unlock(cache, src.cache_key, &token).await;
    }
    match (computed, stale) {
        (Ok(stats), _) => Ok(Served {
            stats,
            source: Source::Computed,
            age: Duration::from_millis(
                Utc::now().timestamp_millis().saturating_sub(at_ms).max(0) as u64
            ),
        }),
        (Err(err), Some(entry)) => {
            tracing::warn!(
                error = err.log_line(),
                "stats refresh failed; serving the cached entry"
            );
            Ok(Served {
                age: entry.age(),
                stats: entry.stats,
                source: Source::Stale,
            })
        }
        (Err(err), None) => Err(err),
    }
}

/// The stats, from the cache when fresh; see the module docs for what happens otherwise.
pub async fn get(src: &StatsSource<'_>, metrics: &mut Metrics) -> ApiResult<Served> {
    if let Some(cache) = src.cache {
        match lookup(cache, src.cache_key, src.ttl_secs, metrics).await {
            Ok(Lookup::Hit(entry, source)) => {
                return Ok(Served {
                    age: entry.age(),
                    stats: entry.stats,
                    source,
                });
            }
            Ok(Lookup::Compute(token, stale)) => {
                return refresh(src, cache, token, stale, metrics).await;
            }
            Err(err) => cache_failed(metrics, &err),
        }
    }
    if let Some((stats, age)) = src.memo.get(CONTAINER_TTL) {
        return Ok(Served {
            stats,
            source: Source::Container,
            age,
        });
    }
    let stats = compute(src, metrics).await?;
    src.memo.put(stats.clone());
    Ok(Served {
        stats,
        source: Source::Computed,
        age: Duration::ZERO,
    })
}

/// A container-local copy of the stats, for when the cache is down.
#[derive(Default)]
pub struct Memo(std::sync::Mutex<Option<(Instant, Stats)>>);

impl Memo {
    /// The copy and its age, when younger than `max_age`.
    pub fn get(&self, max_age: Duration) -> Option<(Stats, Duration)> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(at, stats)| (stats.clone(), at.elapsed()))
    }

    pub fn put(&self, stats: Stats) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), stats));
    }
}
