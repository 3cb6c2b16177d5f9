//! Posts: the post item, its counts and the two feeds (likes: `likes.rs`).
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | post | `POST#<id>` | `POST` | id, author, title, content, times, is_active; while active `feed` = `FEED#<shard>` |
//! | post counts | `POST#<id>` | `COUNTS` | post_id, likes_count (folded), likes_ops, comments_count, top_score; while active `top_feed` = `FEED#<shard>` |
//! | like shard | `POST#<id>` | `LIKES#<00..15>` | post_id, n, ops; while active `live` |
//!
//! The like count is sharded ([`LIKE_SHARDS`] items per post, the liker's id picks one): one
//! item takes only ~60 transactions a second, and a popular post's likes would all conflict
//! on it. The exact count is the sum of the shards (one Query, [`Posts::like_tally`]); the
//! counts item keeps a folded copy (`likes_count`, `top_score` for the top feed), written
//! after each like by a plain conditional UpdateItem (`likes.rs`), which feed pages read.
//!
//! The counters live on their own small item, so a like or a comment rewrites ~100 bytes
//! (1 WCU) whatever the post's size, and never contends with an edit of the post.
//!
//! Indexes, both sparse and KEYS_ONLY (an entry is ~100 bytes: a like moves one small entry,
//! a page's index read is half a read unit whatever the posts' sizes):
//! - `feed-new`: `feed` + `id` on the post item (ids sort by creation time) → newest first.
//! - `feed-top`: `top_feed` + `top_score` = likes_count × 10^16 + id on the counts item → most
//!   liked first, ties newest first. Like and unlike move it with `ADD`: no read needed.
//!
//! A like lives in the liker's partition, not the post's: the 20 newest posts are read by every
//! feed page, and a viewer's `liked_by_me` for them would otherwise land on those same
//! partitions (the hot-key report measured it); in the viewer's partition it spreads over users,
//! and a user's likes are one Query of their own partition (the owner's idx_likes_user_post).
//!
//! A page is an index Query per feed shard (concurrently), then one BatchGetItem of exactly the
//! posts shown, their counts and the caller's likes: two round trips, and reads only what the
//! page shows. A delete removes both feed keys in the same transaction that uncounts the post.
//!
//! Counters change in the same TransactWriteItems as the like or comment item (a like shard,
//! the counts item), so they are always exactly the number of items behind them.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::counters::{self, Counter};
use super::item::{entity_item, is_zero, read};
pub(crate) use super::key_item;
use super::{
    Item, Key, SendRetried, StoreError, StoreResult, Versioned, db_error, get_bool, get_n, get_s,
    n, s, timestamp,
};

/// Multiplier of likes in `top_score`: above every id (ids stay below 2^53 < 10^16).
pub const SCORE_STEP: i128 = 10_000_000_000_000_000;

/// The top feed's sort key of a post with `likes` likes: most liked first, ties newest first.
pub fn top_score(post_id: i64, likes: i64) -> i128 {
    i128::from(likes) * SCORE_STEP + i128::from(post_id)
}
/// How many items a post's like count is spread over. Fixed: a like and its unlike must meet
/// the same shard (`user id mod LIKE_SHARDS`), so changing it needs a migration. 16 shards
/// take ~16 × 60 likes a second under DynamoDB's conflict rule; each costs 2 WCU at create and
/// at delete (docs/data-model.md, "Likes of a popular post").
pub const LIKE_SHARDS: i64 = 16;
/// BatchGetItem's limit of keys per call.
const BATCH_KEYS: usize = 100;

pub fn post_pk(id: i64) -> String {
    format!("POST#{id}")
}

pub fn post_key(id: i64) -> Key {
    (post_pk(id), "POST".into())
}

pub fn counts_key(id: i64) -> Key {
    (post_pk(id), "COUNTS".into())
}

/// The like item's key (`likes.rs`): here because a page's one BatchGetItem reads the
/// caller's likes together with the posts.
pub fn like_key(post_id: i64, user_id: i64) -> Key {
    (super::users::user_pk(user_id), format!("LIKE#{post_id}"))
}

/// The post a like item (at [`like_key`]) is of, from its sort key: what a page needs of the
/// viewer's likes, without mapping each like (its time is never shown).
pub(crate) fn liked_post(item: &Item) -> StoreResult<Option<i64>> {
    get_s(item, "SK")?
        .strip_prefix("LIKE#")
        .map(|id| id.parse().map_err(|_| StoreError::Corrupt("SK".into())))
        .transpose()
}

/// The key of the like shard `shard` of a post.
pub fn like_shard_key(post_id: i64, shard: i64) -> Key {
    (post_pk(post_id), format!("LIKES#{shard:02}"))
}

/// The like shard a user's likes and unlikes meet on (ids end in 12 random bits: uniform).
pub(crate) fn like_shard_of(user_id: i64) -> i64 {
    user_id.rem_euclid(LIKE_SHARDS)
}

/// The sort keys of a post's counts item and like shards, and nothing else of its
/// partition (`COMMENT#…` sorts before, `POST` after): one Query reads them.
const TALLY_FROM: &str = "COUNTS";
const TALLY_TO: &str = "LIKES#~";

/// A like shard's attributes: `n` likes on it after `ops` likes and unlikes; `live` (present,
/// `true`) while the post takes likes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LikeShard {
    #[serde(default)]
    pub post_id: i64,
    pub n: i64,
    #[serde(default)]
    pub ops: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub live: bool,
}

/// A like shard's item: `likes` on it (all of a new post's likes on shard 0), live or not.
pub(crate) fn like_shard_item(
    post_id: i64,
    shard: i64,
    likes: i64,
    live: bool,
) -> StoreResult<Item> {
    let attributes = LikeShard {
        post_id,
        n: likes,
        ops: 0,
        live,
    };
    entity_item(like_shard_key(post_id, shard), "like_shard", &attributes)
}

/// The post item's attributes (the feed index key is added by [`Post::to_items`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PostItem {
    pub id: i64,
    pub author_id: i64,
    pub author_name: String,
    pub title: String,
    pub content: String,
    #[serde(with = "crate::item::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::item::millis")]
    pub updated_at: DateTime<Utc>,
    pub is_active: bool,
    /// Incremented by every edit (absent: never edited).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u64,
}

/// The counts item's attributes (the top feed's index keys, `top_feed` and `top_score`, are
/// added by [`Post::to_items`] and moved by likes' folds). Pages read only the counts: the
/// post id defaults when absent, as it was never read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CountsItem {
    #[serde(default)]
    pub post_id: i64,
    pub likes_count: i64,
    /// The like operations `likes_count` was folded from (absent before the like shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes_ops: Option<i64>,
    pub comments_count: i64,
}

/// A post's likes as its shards hold them, read with its counts item in one Query.
#[derive(Debug, Default)]
pub struct LikeTally {
    /// The exact like count: the sum of the shards.
    pub likes: i64,
    /// Likes and unlikes applied to the shards so far (only grows).
    pub ops: i64,
    /// How many shards were found (0: a post written before the shards).
    pub shards: usize,
    pub counts: Option<Item>,
}

impl LikeTally {
    /// Whether the post is active (its counts item still in the top feed).
    pub fn active(&self) -> bool {
        self.counts
            .as_ref()
            .is_some_and(|c| c.contains_key("top_feed"))
    }

    /// The like operations the counts item's folded `likes_count` reflects.
    pub fn folded_ops(&self) -> Option<i64> {
        self.folded().and_then(|c| c.likes_ops)
    }

    /// The folded like count on the counts item.
    pub fn folded_likes(&self) -> StoreResult<i64> {
        let counts = self
            .counts
            .as_ref()
            .ok_or(StoreError::ConditionFailed("COUNTS"))?;
        Ok(read::<CountsItem>(counts.clone())?.likes_count)
    }

    fn folded(&self) -> Option<CountsItem> {
        self.counts.clone().and_then(|c| read(c).ok())
    }
}

pub fn feed_partition(shard: u32) -> String {
    format!("FEED#{shard}")
}

pub fn shard_of(id: i64, shards: u32) -> u32 {
    (id.rem_euclid(i64::from(shards.max(1)))) as u32
}

/// The post id of a `POST#<id>` partition key.
fn id_of_pk(item: &Item) -> StoreResult<i64> {
    get_s(item, "PK")?
        .strip_prefix("POST#")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("PK".into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    New,
    Top,
}

impl Feed {
    pub fn index(self) -> &'static str {
        match self {
            Feed::New => "feed-new",
            Feed::Top => "feed-top",
        }
    }

    fn partition_attribute(self) -> &'static str {
        match self {
            Feed::New => "feed",
            Feed::Top => "top_feed",
        }
    }

    fn sort_attribute(self) -> &'static str {
        match self {
            Feed::New => "id",
            Feed::Top => "top_score",
        }
    }

    /// The list name cursors are bound to.
    pub fn list(self) -> &'static str {
        match self {
            Feed::New => "posts:new",
            Feed::Top => "posts:top",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Post {
    pub id: i64,
    pub author_id: i64,
    /// The author's display name when they posted (denormalised; see docs/data-model.md).
    pub author_name: String,
    pub title: String,
    pub content: String,
    pub likes_count: i64,
    pub comments_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_active: bool,
}

impl Post {
    pub fn top_score(&self) -> i128 {
        top_score(self.id, self.likes_count)
    }

    pub(crate) fn to_items(&self, shards: u32) -> StoreResult<(Item, Item, Vec<Item>)> {
        let feed = feed_partition(shard_of(self.id, shards));
        let attributes = PostItem {
            id: self.id,
            author_id: self.author_id,
            author_name: self.author_name.clone(),
            title: self.title.clone(),
            content: self.content.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            is_active: self.is_active,
            version: 0,
        };
        let mut post = entity_item(post_key(self.id), "post", &attributes)?;
        let counts = CountsItem {
            post_id: self.id,
            likes_count: self.likes_count,
            likes_ops: Some(0),
            comments_count: self.comments_count,
        };
        let mut counts = entity_item(counts_key(self.id), "post_counts", &counts)?;
        // The top feed's sort key, kept while the post is deleted (a like's fold reads none).
        counts.insert("top_score".into(), n(self.top_score()));
        if self.is_active {
            post.insert("feed".into(), s(feed.clone()));
            counts.insert("top_feed".into(), s(feed));
        }
        let like_shards = (0..LIKE_SHARDS)
            .map(|k| {
                let likes = if k == 0 { self.likes_count } else { 0 };
                like_shard_item(self.id, k, likes, self.is_active)
            })
            .collect::<StoreResult<_>>()?;
        Ok((post, counts, like_shards))
    }

    /// A post from its item and its counts item (absent counts read as zero).
    pub fn from_items(post: Item, counts: Option<Item>) -> StoreResult<Self> {
        let post: PostItem = read(post)?;
        let counts: Option<CountsItem> = counts.map(read).transpose()?;
        Ok(Self {
            id: post.id,
            author_id: post.author_id,
            author_name: post.author_name,
            title: post.title,
            content: post.content,
            likes_count: counts.as_ref().map_or(0, |c| c.likes_count),
            comments_count: counts.as_ref().map_or(0, |c| c.comments_count),
            created_at: post.created_at,
            updated_at: post.updated_at,
            is_active: post.is_active,
        })
    }
}

/// A page of [`Posts::page_unseen`].
#[derive(Debug)]
pub struct UnseenPage {
    pub posts: Vec<(Post, bool)>,
    /// The index entries the page went past, in order.
    pub listed: Vec<i64>,
    /// The page's last sort key, while more entries follow.
    pub next: Option<i128>,
}

/// What an author-or-admin change found.
#[derive(Debug)]
pub enum Change<T> {
    Done(T),
    NotFound,
    Forbidden,
}

/// A delete whose first write (conditional on the item existing) was refused: someone deleted
/// it first, and it is gone either way.
pub(crate) fn gone_first<T>(refused: super::Refused) -> StoreResult<Change<T>> {
    if refused.at(0) {
        Ok(Change::NotFound)
    } else {
        Err(refused.unexpected())
    }
}

/// Posts (with their counts) and a viewer's likes, read by key in one round trip.
#[derive(Debug, Default)]
pub struct Fetched {
    posts: HashMap<i64, Item>,
    counts: HashMap<i64, Item>,
    pub liked: HashSet<i64>,
}

impl Fetched {
    /// The active post `id`, with its current counts (taken out: each is read once).
    pub fn take_active(&mut self, id: i64) -> StoreResult<Option<Post>> {
        self.posts
            .remove(&id)
            .map(|p| Post::from_items(p, self.counts.remove(&id)))
            .transpose()
            .map(|p| p.filter(|p| p.is_active))
    }

    /// The version of post `id` as read (0: never edited), `None` when there is none.
    pub fn version(&self, id: i64) -> StoreResult<Option<u64>> {
        self.posts
            .get(&id)
            .map(|p| read::<PostItem>(p.clone()).map(|p| p.version))
            .transpose()
    }

    /// `post` (as an edit left it) with the counts read here.
    pub fn with_counts(&self, post: Post) -> StoreResult<Post> {
        let counts: Option<CountsItem> =
            self.counts.get(&post.id).cloned().map(read).transpose()?;
        Ok(Post {
            likes_count: counts.as_ref().map_or(0, |c| c.likes_count),
            comments_count: counts.as_ref().map_or(0, |c| c.comments_count),
            ..post
        })
    }
}

/// How an edit ended.
#[derive(Debug)]
pub enum Edit {
    Done(Post),
    /// The post changed since its version was read: nothing written (read it again).
    Stale,
    NotFound,
    Forbidden,
}

pub struct Posts<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Posts<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    /// Writes a new post, its counts, its like shards and the active-post count in one
    /// transaction (3 + LIKE_SHARDS items), with
    /// `extra` writes (an idempotency record). `false` when its id was taken (retry with a
    /// new one).
    pub async fn create(
        &self,
        post: &Post,
        shards: u32,
        extra: Vec<TransactWriteItem>,
    ) -> StoreResult<bool> {
        let (post_item, counts_item, like_shards) = post.to_items(shards)?;
        let mut writes = vec![
            super::put_new(self.table, post_item)?,
            super::put_new(self.table, counts_item)?,
            counters::add(self.table, Counter::ActivePosts, 1)?,
        ];
        // No condition of their own: the post's and the counts' cancel a taken id.
        for shard in like_shards {
            writes.push(super::write_put(self.table, shard, None)?);
        }
        super::created(
            super::transact(self.db, writes.into_iter().chain(extra)).await,
            2,
        )
    }

    /// Posts, their counts and (for `viewer`) the viewer's likes, by id, in one round trip
    /// (BatchGetItem; concurrent calls of 100 keys when there are more). `consistent` for a
    /// caller that must read its own writes.
    pub async fn fetch(
        &self,
        ids: &[i64],
        viewer: Option<i64>,
        consistent: bool,
    ) -> StoreResult<Fetched> {
        let mut keys = Vec::with_capacity(ids.len() * 3);
        for &id in ids {
            keys.push(key_item(post_key(id)));
            keys.push(key_item(counts_key(id)));
            if let Some(user) = viewer {
                keys.push(key_item(like_key(id, user)));
            }
        }
        let mut fetched = Fetched::default();
        for items in self.batch_get_all(&keys, consistent).await? {
            for item in items {
                if let Some(id) = liked_post(&item)? {
                    fetched.liked.insert(id);
                    continue;
                }
                let sk = get_s(&item, "SK")?;
                let id = id_of_pk(&item)?;
                match sk.as_str() {
                    "POST" => {
                        fetched.posts.insert(id, item);
                    }
                    "COUNTS" => {
                        fetched.counts.insert(id, item);
                    }
                    _ => {}
                }
            }
        }
        Ok(fetched)
    }

    /// The items at `keys`: concurrent BatchGetItems of up to 100 keys (each answer's items).
    pub(crate) async fn batch_get_all(
        &self,
        keys: &[Item],
        consistent: bool,
    ) -> StoreResult<Vec<Vec<Item>>> {
        let calls = keys
            .chunks(BATCH_KEYS)
            .map(|chunk| self.batch_get(chunk.to_vec(), consistent));
        futures_util::future::try_join_all(calls).await
    }

    /// One BatchGetItem, re-asking for whatever DynamoDB leaves unprocessed.
    async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> StoreResult<Vec<Item>> {
        let mut found = Vec::new();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(StoreError::internal)?,
        );
        let mut attempt = 0;
        while let Some(keys) = request.take() {
            let out = self
                .db
                .batch_get_item()
                .request_items(self.table, keys)
                .send_retried()
                .await
                .map_err(db_error("BatchGetItem"))?;
            // Moved out, not copied: a feed page's 40-60 items.
            if let Some(items) = out.responses.and_then(|mut r| r.remove(self.table)) {
                found.extend(items);
            }
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(self.table))
                .filter(|k| !k.keys().is_empty());
            if request.is_some() {
                tokio::time::sleep(super::retry::backoff(attempt)).await;
                attempt += 1;
            }
        }
        Ok(found)
    }

    /// The active post `id`, with its exact like count, and whether `viewer` likes it: one
    /// round trip (a BatchGetItem and the like tally's Query, concurrently; strongly
    /// consistent: authors see their own writes).
    pub async fn get_active(
        &self,
        id: i64,
        viewer: Option<i64>,
    ) -> StoreResult<Option<(Post, bool)>> {
        let (mut fetched, tally) =
            futures_util::future::try_join(self.fetch(&[id], viewer, true), self.like_tally(id))
                .await?;
        Ok(fetched.take_active(id)?.map(|mut post| {
            // A post written before the shards has its exact count on the counts item.
            if tally.shards > 0 {
                post.likes_count = tally.likes;
            }
            (post, fetched.liked.contains(&id))
        }))
    }

    /// The post's like shards and counts item: one strongly consistent Query on the post's
    /// partition (`COUNTS` ..= `LIKES#~`, 17 items of ~100 B: 1 RCU).
    pub async fn like_tally(&self, id: i64) -> StoreResult<LikeTally> {
        let query = super::partition_query(self.db, self.table, post_pk(id))
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":from", s(TALLY_FROM))
            .expression_attribute_values(":to", s(TALLY_TO))
            .consistent_read(true);
        let mut tally = LikeTally::default();
        super::query_all(query, |out| {
            for item in out.items.unwrap_or_default() {
                if get_s(&item, "SK")? == TALLY_FROM {
                    tally.counts = Some(item);
                } else if item.contains_key("n") {
                    // (Not the key-only items a delete of a post written before the shards
                    // leaves: its `REMOVE live` creates them.)
                    let shard: LikeShard = read(item)?;
                    tally.likes += shard.n;
                    tally.ops += shard.ops;
                    tally.shards += 1;
                }
            }
            Ok(())
        })
        .await?;
        Ok(tally)
    }

    /// Whether the post exists and is active (the post item only).
    pub async fn is_active(&self, id: i64) -> StoreResult<bool> {
        let (pk, sk) = post_key(id);
        let item = super::get_item(self.db, self.table, pk, sk, true).await?;
        Ok(item.is_some_and(|i| get_bool(&i, "is_active").unwrap_or(false)))
    }

    /// Edits title and/or content; only the author may. One UpdateItem conditional on the
    /// post's version as read (`read_version`): an abandoned attempt landing after a newer
    /// edit is refused rather than undoing it. When the condition fails, the old item
    /// (returned with the failure) says whether the post is gone, someone else's, changed
    /// since (`Stale`), or already this very edit (an earlier attempt whose answer was lost).
    /// The returned post carries no counts (the caller has them).
    pub async fn edit(
        &self,
        id: i64,
        caller: i64,
        read_version: u64,
        title: Option<&str>,
        content: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Edit> {
        let next_version = read_version + 1;
        let mut sets = vec!["updated_at = :now", "version = :next_version"];
        let mut request = super::update_item(self.db, self.table, post_key(id))
            .versioned_and(read_version, Some("is_active = :true AND author_id = :me"))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":me", n(caller))
            .expression_attribute_values(":now", s(timestamp(now)))
            .expression_attribute_values(":next_version", n(next_version))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(title) = title {
            sets.push("title = :title");
            request = request.expression_attribute_values(":title", s(title));
        }
        if let Some(content) = content {
            sets.push("content = :content");
            request = request.expression_attribute_values(":content", s(content));
        }
        match request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send_retried()
            .await
        {
            Ok(out) => match out.attributes {
                Some(item) => Ok(Edit::Done(Post::from_items(item, None)?)),
                None => Ok(Edit::NotFound),
            },
            Err(err) => {
                use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
                if let Some(UpdateItemError::ConditionalCheckFailedException(e)) =
                    err.as_service_error()
                {
                    let Some(old) = e.item() else {
                        return Ok(Edit::NotFound);
                    };
                    let stored: PostItem = read(old.clone())?;
                    if !stored.is_active {
                        return Ok(Edit::NotFound);
                    }
                    if stored.author_id != caller {
                        return Ok(Edit::Forbidden);
                    }
                    // This edit's own timestamp at the next version: an earlier attempt of
                    // this very call committed.
                    let ours = stored.version == next_version
                        && timestamp(stored.updated_at) == timestamp(now);
                    return Ok(if ours {
                        Edit::Done(Post::from_items(old.clone(), None)?)
                    } else {
                        Edit::Stale
                    });
                }
                Err(db_error("UpdateItem")(err))
            }
        }
    }

    /// Soft delete by the author or an admin: in one transaction the post leaves both feeds
    /// (its `feed` and `top_feed` keys are removed) and the active-post count.
    pub async fn soft_delete(
        &self,
        id: i64,
        caller: i64,
        admin: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Change<()>> {
        let (pk, sk) = post_key(id);
        let Some(post) = super::get_item(self.db, self.table, pk, sk, true).await? else {
            return Ok(Change::NotFound);
        };
        let post: PostItem = read(post)?;
        if !post.is_active {
            return Ok(Change::NotFound);
        }
        if post.author_id != caller && !admin {
            return Ok(Change::Forbidden);
        }
        let update = super::update(self.table, post_key(id))
            .update_expression("SET is_active = :false, updated_at = :now REMOVE #feed")
            .condition_expression("is_active = :true")
            .expression_attribute_names("#feed", "feed")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", s(timestamp(now)));
        let off_top =
            super::update(self.table, counts_key(id)).update_expression("REMOVE top_feed");
        let mut writes = vec![
            super::write_update(update)?,
            super::write_update(off_top)?,
            counters::add(self.table, Counter::ActivePosts, -1)?,
        ];
        // Every like shard stops taking likes in the same transaction (a like after it is
        // refused by its shard's `live` condition: 404).
        for shard in 0..LIKE_SHARDS {
            let dead = super::update(self.table, like_shard_key(id, shard))
                .update_expression("REMOVE live");
            writes.push(super::write_update(dead)?);
        }
        // Someone deleted it first: it is gone either way.
        let result = super::transact(self.db, writes).await;
        super::transacted(result, Change::Done(()), gone_first)
    }

    /// One page of a feed, newest or most liked first, after the sort key `after`: the posts'
    /// ids from the feed index, then the posts themselves (see [`Posts::fetch`]).
    ///
    /// Each shard is queried concurrently for `limit + 1` entries after the same key (sort
    /// keys are unique across shards), and the results merged. A shard cut short by
    /// DynamoDB's 1 MB page bounds what can be served: nothing below its last key is safe to
    /// emit yet. The index is eventually consistent: a post deleted a moment ago may still be
    /// listed there, and is left out of the page (the cursor still moves past it).
    pub async fn page(
        &self,
        feed: Feed,
        shards: u32,
        after: Option<i128>,
        limit: u32,
        viewer: Option<i64>,
    ) -> StoreResult<(Vec<(Post, bool)>, Option<i128>)> {
        let (entries, next) = self
            .index_page(feed, shards, after, &HashSet::new(), limit)
            .await?;
        let ids: Vec<i64> = entries.iter().map(|(id, _)| *id).collect();
        Ok((self.posts_of(&ids, viewer).await?, next))
    }

    /// One page of a feed from its top, leaving out the posts of `seen` (ids already listed):
    /// the `top` feed's pages while like counts move (a post that rose is listed next, one
    /// that fell is not listed again). Each shard's query reads `limit + 1 + seen.len()`
    /// entries (the seen ones among them at most). Also returns the ids of the index entries
    /// the page went past (those of posts deleted a moment ago included): the next page's
    /// `seen` adds them. `next` is the page's last sort key while more entries follow.
    pub async fn page_unseen(
        &self,
        feed: Feed,
        shards: u32,
        seen: &HashSet<i64>,
        limit: u32,
        viewer: Option<i64>,
    ) -> StoreResult<UnseenPage> {
        let (entries, next) = self.index_page(feed, shards, None, seen, limit).await?;
        let listed: Vec<i64> = entries.iter().map(|(id, _)| *id).collect();
        Ok(UnseenPage {
            posts: self.posts_of(&listed, viewer).await?,
            listed,
            next,
        })
    }

    /// The active posts among `ids`, in that order, with `viewer`'s likes.
    async fn posts_of(&self, ids: &[i64], viewer: Option<i64>) -> StoreResult<Vec<(Post, bool)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut fetched = self.fetch(ids, viewer, false).await?;
        let mut posts = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(post) = fetched.take_active(id)? {
                posts.push((post, fetched.liked.contains(&id)));
            }
        }
        Ok(posts)
    }

    /// The ids and sort keys of one page of a feed index, after `after` and without `skip`.
    async fn index_page(
        &self,
        feed: Feed,
        shards: u32,
        after: Option<i128>,
        skip: &HashSet<i64>,
        limit: u32,
    ) -> StoreResult<(Vec<(i64, i128)>, Option<i128>)> {
        // Enough for a full page and one more even if every skipped post is in this shard.
        let read = limit as usize + 1 + skip.len();
        let queries = (0..shards.max(1)).map(|shard| {
            let mut query = self
                .db
                .query()
                .table_name(self.table)
                .index_name(feed.index())
                .scan_index_forward(false)
                .limit(read as i32)
                .expression_attribute_names("#feed", feed.partition_attribute())
                .expression_attribute_values(":feed", s(feed_partition(shard)));
            query = match after {
                Some(key) => query
                    .key_condition_expression("#feed = :feed AND #sort < :after")
                    .expression_attribute_names("#sort", feed.sort_attribute())
                    .expression_attribute_values(":after", n(key)),
                None => query.key_condition_expression("#feed = :feed"),
            };
            query.send_retried()
        });
        let mut merged: Vec<(i64, i128)> = Vec::new();
        let mut boundary: Option<i128> = None;
        for result in futures_util::future::join_all(queries).await {
            let out = result.map_err(db_error("Query"))?;
            let mut entries = Vec::with_capacity(out.items().len());
            let mut last = None;
            for item in out.items() {
                let entry = (id_of_pk(item)?, get_n::<i128>(item, feed.sort_attribute())?);
                last = Some(entry.1);
                if !skip.contains(&entry.0) {
                    entries.push(entry);
                }
            }
            // Cut short with no more than a page left: nothing below its last key is safe.
            if out.last_evaluated_key().is_some()
                && entries.len() <= limit as usize
                && let Some(key) = last
            {
                boundary = Some(boundary.map_or(key, |b| b.max(key)));
            }
            merged.extend(entries);
        }
        merged.sort_by_key(|&(_, key)| std::cmp::Reverse(key));
        if let Some(boundary) = boundary {
            merged.retain(|&(_, key)| key >= boundary);
        }
        let more = merged.len() > limit as usize || boundary.is_some();
        merged.truncate(limit as usize);
        let next = if more {
            merged.last().map(|&(_, key)| key)
        } else {
            None
        };
        Ok((merged, next))
    }
}
