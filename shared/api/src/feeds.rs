//! The feeds' first pages, shared through the cache cluster for a second.
//!
//! Every feed page and every dashboard reads the newest (or most liked) posts: at ten times the
//! owner's traffic their partitions would pass half of DynamoDB's per-partition read limit (the
//! hot-key report, BENCHMARKS.md). So the first page of each feed, as DynamoDB would answer it
//! without a viewer (posts, counts, the next cursor), is kept in Redis for `FEED_CACHE_TTL_MS`
//! (1 s) and shared by every container; each caller then reads only its own likes, from its own
//! partition. Later pages (with a cursor) are read from DynamoDB as before.
//!
//! - **Fresh after a write**: the cache key carries a generation (`feed:gen`) that creating,
//!   editing and deleting a post increment, so an edited or deleted post shows (or leaves) at
//!   once and a new one as soon as the feed index has it (GSIs are eventually consistent: a
//!   page read in that moment is shared for its second); a page computed before the write is
//!   stored under the old generation and is never read again. Likes and comments move counts and the top order within the second, no
//!   staler than the eventually consistent reads the page makes anyway.
//! - **No stampede**: on a miss one caller takes a short lock and reads DynamoDB; the others wait
//!   a few milliseconds for its page, then read for themselves.
//! - **Cache down**: the circuit breaker answers at once and every page is read from DynamoDB.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::ApiResult;
use crate::state::HasDb;
use rota_lambda::metrics::Metrics;
use rota_store::posts::{Feed, Post, Posts};

const GENERATION: &str = "feed:gen";
const LOCK_MS: u64 = 2000;
const WAIT_STEP: Duration = Duration::from_millis(20);
const WAIT_STEPS: u32 = 8;

#[derive(Serialize, Deserialize)]
struct Page {
    posts: Vec<Post>,
    /// The next cursor's sort key, as text (an i128).
    next: Option<String>,
}

/// `GET feed:gen` and the page of that generation, in one round trip.
const LOOKUP: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen)}
";

fn page_key(feed: Feed, limit: u32) -> String {
    format!("feed:v1:{}:{limit}:", feed.list())
}

/// Marks every cached page stale (after a post is created, edited or deleted). Best effort: a
/// cache that is down holds no pages, and a page lives a second at most.
pub async fn invalidate<S>(app: &App<S>, metrics: &mut Metrics) {
    let Some(cache) = app.cache() else { return };
    if app.config.feed_cache_ttl.is_zero() {
        return;
    }
    let result: Result<i64, redis::RedisError> = cache
        .call(|mut conn| async move {
            rota_lambda::diagnostics::redis_call(
                redis::cmd("INCR").arg(GENERATION).query_async(&mut conn),
            )
            .await
        })
        .await;
    if result.is_err() {
        metrics.count("CacheErrors");
    }
}

/// A page of `feed` with `viewer`'s likes; the first page through the cache (module docs).
pub async fn page<S: HasDb>(
    app: &App<S>,
    metrics: &mut Metrics,
    feed: Feed,
    after: Option<i128>,
    limit: u32,
    viewer: Option<i64>,
) -> ApiResult<(Vec<(Post, bool)>, Option<i128>)> {
    let posts = Posts::new(app.db(), app.table());
    let shards = app.config.feed_shards;
    let ttl = app.config.feed_cache_ttl;
    let cache = app.cache().filter(|_| after.is_none() && !ttl.is_zero());
    let Some(cache) = cache else {
        return Ok(posts.page(feed, shards, after, limit, viewer).await?);
    };
    let key = page_key(feed, limit);
    let shared = match shared_page(cache, &key, ttl, metrics, || async {
        let (page, next) = posts.page(feed, shards, None, limit, None).await?;
        Ok(Page {
            posts: page.into_iter().map(|(p, _)| p).collect(),
            next: next.map(|n| n.to_string()),
        })
    })
    .await?
    {
        Some(page) => page,
        None => return Ok(posts.page(feed, shards, after, limit, viewer).await?),
    };
    let liked = match viewer {
        Some(user) => {
            let ids: Vec<i64> = shared.posts.iter().map(|p| p.id).collect();
            rota_store::likes::Likes::new(app.db(), app.table())
                .of(user, &ids)
                .await?
        }
        None => Default::default(),
    };
    let next = shared.next.and_then(|n| n.parse().ok());
    let page = shared
        .posts
        .into_iter()
        .map(|p| {
            let liked = liked.contains(&p.id);
            (p, liked)
        })
        .collect();
    Ok((page, next))
}

/// The shared page at `key`: from the cache, or computed by one caller and stored. `None`
/// when the cache failed (the caller reads DynamoDB itself).
async fn shared_page<F, Fut>(
    cache: &crate::cache::Cache,
    key: &str,
    ttl: Duration,
    metrics: &mut Metrics,
    compute: F,
) -> ApiResult<Option<Page>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ApiResult<Page>>,
{
    let lookup = |key: String| async move {
        cache
            .call(|mut conn| async move {
                rota_lambda::diagnostics::redis_call(
                    redis::Script::new(LOOKUP)
                        .key(GENERATION)
                        .arg(key)
                        .invoke_async::<(String, Option<String>)>(&mut conn),
                )
                .await
            })
            .await
    };
    let (generation, found) = match lookup(key.to_owned()).await {
        Ok(found) => found,
        Err(_) => {
            metrics.count("CacheErrors");
            return Ok(None);
        }
    };
    if let Some(page) = found.and_then(|raw| serde_json::from_str::<Page>(&raw).ok()) {
        metrics.count("FeedCacheHits");
        return Ok(Some(page));
    }
    metrics.count("FeedCacheMisses");
    let full_key = format!("{key}{generation}");
    let lock_key = format!("{full_key}:lock");
    let locked: Result<Option<String>, _> = cache
        .call(|mut conn| {
            let lock_key = lock_key.clone();
            async move {
                redis::cmd("SET")
                    .arg(lock_key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(LOCK_MS)
                    .query_async(&mut conn)
                    .await
            }
        })
        .await;
    if matches!(locked, Ok(None)) {
        // Another caller is reading it: wait a moment for its page.
        for _ in 0..WAIT_STEPS {
            tokio::time::sleep(WAIT_STEP).await;
            if let Ok((_, Some(raw))) = lookup(key.to_owned()).await
                && let Ok(page) = serde_json::from_str::<Page>(&raw)
            {
                return Ok(Some(page));
            }
        }
    }
    let page = compute().await?;
    let value = serde_json::to_string(&page).unwrap_or_default();
    let stored: Result<(), _> = cache
        .call(|mut conn| async move {
            redis::cmd("SET")
                .arg(full_key)
                .arg(value)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async(&mut conn)
                .await
        })
        .await;
    if stored.is_err() {
        metrics.count("CacheErrors");
    }
    Ok(Some(page))
}
