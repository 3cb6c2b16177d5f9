//! The feeds' first pages, shared through the cache cluster for a second.
//!
//! Every feed page and every dashboard reads the newest (or most liked) posts: at ten times the
//! owner's traffic their partitions would pass half of DynamoDB's per-partition read limit (the
//! hot-key report, BENCHMARKS.md). So the first page of each feed, as DynamoDB would answer it
//! without a viewer (posts, counts, the next cursor), is kept in Redis for `FEED_CACHE_TTL_MS`
//! (1 s) and shared by every container; each caller then reads only its own likes, from its own
//! partition. Later pages (with a cursor) are read from DynamoDB as before.
//!
//! - **Fresh after a write**: a generation (`{feed}:gen`) that creating, editing and deleting a
//!   post increment is stored with each page, and a page of another generation is a miss, so an
//!   edited or deleted post shows (or leaves) at once and a new one as soon as the feed index
//!   has it (GSIs are eventually consistent: a page read in that moment is shared for its
//!   second). Likes and comments move counts
//!   and the top order within the second, no staler than the eventually consistent reads the
//!   page makes anyway.
//! - **One round trip, one slot**: the generation and the page are read together (MGET), so
//!   they share a hash slot (the `{feed}` tag): a cluster refuses keys of several slots in one
//!   command. So every feed cache command goes to one slot; see [`SLOT_TAG`] for why that is
//!   kept.
//! - **No stampede**: on a miss one caller takes a short lock and reads DynamoDB; the others wait
//!   a few milliseconds for its page, then read for themselves.
//! - **Cache down**: the circuit breaker answers at once and every page is read from DynamoDB.
//!
//! Later pages of `top` are keyed on the ids listed so far, not on a like count that moves
//! between pages ([`FeedCursor::Seen`]): each is the most liked posts not yet listed, so within
//! the first [`TOP_WINDOW`] posts none is listed twice or skipped however counts move; past
//! them, pages continue below the last like count listed ([`FeedCursor::After`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cursor::{FeedCursor, TOP_WINDOW};
use crate::error::{ApiError, ApiResult};
use crate::state::HasDb;
use rota_lambda::metrics::Metrics;
use rota_store::posts::{Feed, Post, Posts};

/// The hash tag of every feed cache key: the generation must be read in the same command as a
/// page, so both live in one slot (one shard). Kept as one slot rather than a generation copied
/// into each page's slot, because then every post write would have to increment every copy:
/// the slot takes one small command per first-page feed read (feed pages, dashboards) and one
/// INCR per post write: at most about the owner's 1000 requests/s, where one shard serves tens
/// of thousands of such commands a second. Rate-limit and stats keys carry no tag and spread
/// over every slot.
const SLOT_TAG: &str = "{feed}";
const GENERATION: &str = "{feed}:gen";
const LOCK_MS: u64 = 2000;
const WAIT_STEP: Duration = Duration::from_millis(20);
const WAIT_STEPS: u32 = 8;

#[derive(Serialize, Deserialize)]
struct Page {
    posts: Vec<Post>,
    /// The next cursor's sort key, as text (an i128).
    next: Option<String>,
}

/// The key of a feed's first page: `{feed}:v2:<list>:<limit>`, holding `<generation>:<page
/// JSON>`.
fn page_key(feed: Feed, limit: u32) -> String {
    format!("{SLOT_TAG}:v2:{}:{limit}", feed.list())
}

/// The page stored for `generation`, if `stored` is one.
fn page_of(stored: Option<String>, generation: &str) -> Option<Page> {
    let stored = stored?;
    let (of, json) = stored.split_once(':')?;
    (of == generation)
        .then(|| serde_json::from_str(json).ok())
        .flatten()
}

/// Marks every cached page stale (after a post is created, edited or deleted). Best effort: a
/// cache that is down holds no pages, and a page lives a second at most.
pub async fn invalidate<S>(app: &App<S>, metrics: &mut Metrics) {
    let Some(cache) = app.cache() else { return };
    if app.config.feed_cache_ttl.is_zero() {
        return;
    }
    let result: Result<i64, redis::RedisError> =
        cache.query(redis::cmd("INCR").arg(GENERATION)).await;
    if result.is_err() {
        metrics.count("CacheErrors");
    }
}

/// The cursor after a page of `feed` that listed `listed` (ids, in order) and ended at sort
/// key `last`, following `seen` (the ids listed before, on `top`).
fn next_cursor(feed: Feed, mut seen: Vec<i64>, listed: &[i64], last: i128) -> FeedCursor {
    if feed == Feed::New || seen.len() + listed.len() > TOP_WINDOW {
        return FeedCursor::After(last);
    }
    seen.extend_from_slice(listed);
    FeedCursor::Seen(seen)
}

/// A page of `feed` with `viewer`'s likes, after `cursor`; the first page through the cache
/// (module docs).
pub async fn page<S: HasDb>(
    app: &App<S>,
    metrics: &mut Metrics,
    feed: Feed,
    cursor: Option<FeedCursor>,
    limit: u32,
    viewer: Option<i64>,
) -> ApiResult<(Vec<(Post, bool)>, Option<FeedCursor>)> {
    let posts = Posts::new(app.db(), app.table());
    let shards = app.config.feed_shards;
    match cursor {
        None => {}
        Some(FeedCursor::After(key)) => {
            let (page, next) = posts.page(feed, shards, Some(key), limit, viewer).await?;
            return Ok((page, next.map(FeedCursor::After)));
        }
        Some(FeedCursor::Seen(seen)) if feed == Feed::Top => {
            let unseen = seen.iter().copied().collect();
            let page = posts
                .page_unseen(feed, shards, &unseen, limit, viewer)
                .await?;
            let next = page
                .next
                .map(|last| next_cursor(feed, seen, &page.listed, last));
            return Ok((page.posts, next));
        }
        Some(FeedCursor::Seen(_)) => {
            return Err(ApiError::BadRequest("The cursor is invalid.".into()));
        }
    }
    let (page, next) = first_page(app, metrics, &posts, feed, limit, viewer).await?;
    let listed: Vec<i64> = page.iter().map(|(p, _)| p.id).collect();
    let next = next.map(|last| next_cursor(feed, Vec::new(), &listed, last));
    Ok((page, next))
}

/// A feed's first page: shared through the cache (module docs).
async fn first_page<S: HasDb>(
    app: &App<S>,
    metrics: &mut Metrics,
    posts: &Posts<'_>,
    feed: Feed,
    limit: u32,
    viewer: Option<i64>,
) -> ApiResult<(Vec<(Post, bool)>, Option<i128>)> {
    let shards = app.config.feed_shards;
    let ttl = app.config.feed_cache_ttl;
    let cache = app.cache().filter(|_| !ttl.is_zero());
    let Some(cache) = cache else {
        return Ok(posts.page(feed, shards, None, limit, viewer).await?);
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
        None => return Ok(posts.page(feed, shards, None, limit, viewer).await?),
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
    // The generation and the stored page, in one round trip (both keys in the `{feed}` slot).
    let lookup = || async {
        cache
            .query::<(Option<String>, Option<String>)>(redis::cmd("MGET").arg(GENERATION).arg(key))
            .await
            .map(|(generation, stored)| (generation.unwrap_or_else(|| "0".into()), stored))
    };
    let (generation, stored) = match lookup().await {
        Ok(found) => found,
        Err(_) => {
            metrics.count("CacheErrors");
            return Ok(None);
        }
    };
    if let Some(page) = page_of(stored, &generation) {
        metrics.count("FeedCacheHits");
        return Ok(Some(page));
    }
    metrics.count("FeedCacheMisses");
    let lock_key = format!("{key}:lock:{generation}");
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
            if let Ok((current, stored)) = lookup().await
                && let Some(page) = page_of(stored, &current)
            {
                return Ok(Some(page));
            }
        }
    }
    let page = compute().await?;
    let value = format!(
        "{generation}:{}",
        serde_json::to_string(&page).unwrap_or_default()
    );
    let stored: Result<(), _> = cache
        .call(|mut conn| async move {
            redis::cmd("SET")
                .arg(key)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_in_the_feed_slot() {
        let page = page_key(Feed::New, 20);
        for key in [GENERATION, page.as_str(), &format!("{page}:lock:7")] {
            assert!(key.starts_with(SLOT_TAG), "{key}");
        }
    }

    #[test]
    fn a_page_of_another_generation_is_a_miss() {
        let page = r#"{"posts":[],"next":"12"}"#;
        assert!(page_of(Some(format!("3:{page}")), "3").is_some());
        assert!(page_of(Some(format!("2:{page}")), "3").is_none());
        assert!(page_of(Some("3:not json".into()), "3").is_none());
        assert!(page_of(None, "3").is_none());
    }
}
