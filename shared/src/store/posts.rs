//! Posts and likes.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | post | `POST#<id>` | `POST` | author, title, content, likes_count, comments_count, times, is_active; while active also `feed` = `FEED#<shard>` |
//! | like | `POST#<post id>` | `LIKE#<user id>` | post_id, user_id, created_at; `liker` = `LIKES#<user id>` for the user's-likes index |
//!
//! Indexes (both sparse: a post leaves them when `feed` is removed, in the same write that
//! deletes it):
//! - `feed-new`: `feed` + `id` (ids sort by creation time) → newest first.
//! - `feed-top`: `feed` + `top_score` = likes_count × 10^16 + id → most liked first, ties
//!   newest first. Like and unlike move it with `ADD`, so no read is needed to keep it exact.
//! - `likes-by-user`: `liker` + `post_id` → a user's likes (the owner's idx_likes_user_post).
//!
//! Counters change in the same TransactWriteItems as the like or comment item, so they are
//! always exactly the number of items behind them.

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use super::{
    Item, cancellation_codes, db_error, get_bool, get_n, get_s, is_condition_failed, n, s,
};
use crate::error::ApiError;

/// Multiplier of likes in `top_score`: above every id (ids stay below 2^53 < 10^16).
const SCORE_STEP: i128 = 10_000_000_000_000_000;

pub const COUNTERS_PK: &str = "STATS";
pub const COUNTERS_SK: &str = "COUNTERS";

pub fn post_key(id: i64) -> (String, String) {
    (format!("POST#{id}"), "POST".into())
}

fn like_key(post_id: i64, user_id: i64) -> (String, String) {
    (format!("POST#{post_id}"), format!("LIKE#{user_id}"))
}

pub fn feed_partition(shard: u32) -> String {
    format!("FEED#{shard}")
}

pub fn shard_of(id: i64, shards: u32) -> u32 {
    (id.rem_euclid(i64::from(shards.max(1)))) as u32
}

fn key_item(pk: String, sk: String) -> Item {
    Item::from([("PK".into(), s(pk)), ("SK".into(), s(sk))])
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

    fn sort_key(self, post: &Post) -> i128 {
        match self {
            Feed::New => i128::from(post.id),
            Feed::Top => post.top_score(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
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

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Post {
    pub fn top_score(&self) -> i128 {
        i128::from(self.likes_count) * SCORE_STEP + i128::from(self.id)
    }

    fn to_item(&self, shards: u32) -> Item {
        let (pk, sk) = post_key(self.id);
        let mut item = Item::from([
            ("PK".into(), s(pk)),
            ("SK".into(), s(sk)),
            ("entity".into(), s("post")),
            ("id".into(), n(self.id)),
            ("author_id".into(), n(self.author_id)),
            ("author_name".into(), s(&self.author_name)),
            ("title".into(), s(&self.title)),
            ("content".into(), s(&self.content)),
            ("likes_count".into(), n(self.likes_count)),
            ("comments_count".into(), n(self.comments_count)),
            ("top_score".into(), n(self.top_score())),
            ("created_at".into(), s(timestamp(self.created_at))),
            ("updated_at".into(), s(timestamp(self.updated_at))),
            ("is_active".into(), AttributeValue::Bool(self.is_active)),
        ]);
        if self.is_active {
            item.insert("feed".into(), s(feed_partition(shard_of(self.id, shards))));
        }
        item
    }

    pub fn from_item(item: &Item) -> Result<Self, ApiError> {
        Ok(Self {
            id: get_n(item, "id")?,
            author_id: get_n(item, "author_id")?,
            author_name: get_s(item, "author_name")?,
            title: get_s(item, "title")?,
            content: get_s(item, "content")?,
            likes_count: get_n(item, "likes_count")?,
            comments_count: get_n(item, "comments_count")?,
            created_at: super::get_time(item, "created_at")?,
            updated_at: super::get_time(item, "updated_at")?,
            is_active: get_bool(item, "is_active")?,
        })
    }
}

/// What an author-or-admin change found.
#[derive(Debug)]
pub enum Change<T> {
    Done(T),
    NotFound,
    Forbidden,
}

/// Retries a transaction DynamoDB cancelled for a conflicting concurrent transaction.
async fn backoff(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt.min(5))).await;
}

pub struct Posts<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Posts<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    fn counters_update(&self, attribute: &str, delta: i64) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(self.table)
            .key("PK", s(COUNTERS_PK))
            .key("SK", s(COUNTERS_SK))
            .update_expression("ADD #c :d")
            .expression_attribute_names("#c", attribute)
            .expression_attribute_values(":d", n(delta))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Writes a new post and counts it; `false` when its id was taken (retry with a new one).
    pub async fn create(&self, post: &Post, shards: u32) -> Result<bool, ApiError> {
        let put = Put::builder()
            .table_name(self.table)
            .set_item(Some(post.to_item(shards)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(ApiError::internal)?;
        let result = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.counters_update("posts_active", 1)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match cancellation_codes(&err) {
                Some(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    Ok(false)
                }
                _ => Err(db_error("TransactWriteItems")(err)),
            },
        }
    }

    /// The post, deleted or not (strongly consistent: authors see their own writes).
    pub async fn get(&self, id: i64) -> Result<Option<Post>, ApiError> {
        let (pk, sk) = post_key(id);
        let item = super::get_item(self.db, self.table, pk, sk, true).await?;
        item.as_ref().map(Post::from_item).transpose()
    }

    pub async fn get_active(&self, id: i64) -> Result<Option<Post>, ApiError> {
        Ok(self.get(id).await?.filter(|p| p.is_active))
    }

    /// Edits title and/or content; only the author may.
    pub async fn edit(
        &self,
        id: i64,
        caller: i64,
        title: Option<&str>,
        content: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Change<Post>, ApiError> {
        let Some(post) = self.get_active(id).await? else {
            return Ok(Change::NotFound);
        };
        if post.author_id != caller {
            return Ok(Change::Forbidden);
        }
        let (pk, sk) = post_key(id);
        let mut sets = vec!["updated_at = :now"];
        let mut request = self
            .db
            .update_item()
            .table_name(self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .condition_expression("is_active = :true AND author_id = :me")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":me", n(caller))
            .expression_attribute_values(":now", s(timestamp(now)))
            .return_values(ReturnValue::AllNew);
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
            .send()
            .await
        {
            Ok(out) => out
                .attributes
                .as_ref()
                .map(Post::from_item)
                .transpose()?
                .map_or(Ok(Change::NotFound), |p| Ok(Change::Done(p))),
            // Deleted between the read and the write.
            Err(err) if is_condition_failed(&err) => Ok(Change::NotFound),
            Err(err) => Err(db_error("UpdateItem")(err)),
        }
    }

    /// Soft delete by the author or an admin: the post leaves both feeds (its `feed` key is
    /// removed) and the active-post counter in one transaction.
    pub async fn soft_delete(
        &self,
        id: i64,
        caller: i64,
        admin: bool,
        now: DateTime<Utc>,
    ) -> Result<Change<()>, ApiError> {
        let Some(post) = self.get_active(id).await? else {
            return Ok(Change::NotFound);
        };
        if post.author_id != caller && !admin {
            return Ok(Change::Forbidden);
        }
        let (pk, sk) = post_key(id);
        let update = Update::builder()
            .table_name(self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression("SET is_active = :false, updated_at = :now REMOVE #feed")
            .condition_expression("is_active = :true")
            .expression_attribute_names("#feed", "feed")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":now", s(timestamp(now)))
            .build()
            .map_err(ApiError::internal)?;
        let result = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.counters_update("posts_active", -1)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Change::Done(())),
            Err(err) => match cancellation_codes(&err) {
                // Someone deleted it first: it is gone either way.
                Some(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    Ok(Change::NotFound)
                }
                _ => Err(db_error("TransactWriteItems")(err)),
            },
        }
    }

    fn score_update(&self, post_id: i64, direction: i64) -> Result<TransactWriteItem, ApiError> {
        let (pk, sk) = post_key(post_id);
        let update = Update::builder()
            .table_name(self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression("ADD likes_count :one, top_score :step")
            .condition_expression("is_active = :true")
            .expression_attribute_values(":one", n(direction))
            .expression_attribute_values(":step", n(SCORE_STEP * i128::from(direction)))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(ApiError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Likes (`liked`) or unlikes a post, idempotently. Returns the post's like count after,
    /// or `None` when the post does not exist or is deleted.
    pub async fn set_like(
        &self,
        post_id: i64,
        user_id: i64,
        liked: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, ApiError> {
        let (pk, sk) = like_key(post_id, user_id);
        for attempt in 0..6 {
            let like_write = if liked {
                let mut item = key_item(pk.clone(), sk.clone());
                item.extend([
                    ("entity".into(), s("like")),
                    ("post_id".into(), n(post_id)),
                    ("user_id".into(), n(user_id)),
                    ("liker".into(), s(format!("LIKES#{user_id}"))),
                    ("created_at".into(), s(timestamp(now))),
                ]);
                let put = Put::builder()
                    .table_name(self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
                    .map_err(ApiError::internal)?;
                TransactWriteItem::builder().put(put).build()
            } else {
                let delete = Delete::builder()
                    .table_name(self.table)
                    .set_key(Some(key_item(pk.clone(), sk.clone())))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .map_err(ApiError::internal)?;
                TransactWriteItem::builder().delete(delete).build()
            };
            let result = self
                .db
                .transact_write_items()
                .transact_items(like_write)
                .transact_items(self.score_update(post_id, if liked { 1 } else { -1 })?)
                .send()
                .await;
            match result {
                Ok(_) => break,
                Err(err) => match cancellation_codes(&err) {
                    // Already in the wanted state (liked twice, or unliked twice): idempotent.
                    Some(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                        break;
                    }
                    Some(codes) if codes.get(1).is_some_and(|c| c == "ConditionalCheckFailed") => {
                        return Ok(None);
                    }
                    Some(codes) if codes.iter().any(|c| c == "TransactionConflict") => {
                        backoff(attempt).await
                    }
                    _ => return Err(db_error("TransactWriteItems")(err)),
                },
            }
        }
        Ok(self.get_active(post_id).await?.map(|p| p.likes_count))
    }

    /// One page of a feed, newest or most liked first, after the sort key `after`.
    ///
    /// Each shard is queried concurrently for `limit + 1` items after the same key (sort keys
    /// are unique across shards), and the results merged. A shard cut short by DynamoDB's
    /// 1 MB page bounds what can be served: nothing below its last key is safe to emit yet.
    pub async fn page(
        &self,
        feed: Feed,
        shards: u32,
        after: Option<i128>,
        limit: u32,
    ) -> Result<(Vec<Post>, Option<i128>), ApiError> {
        let queries = (0..shards.max(1)).map(|shard| {
            let mut query = self
                .db
                .query()
                .table_name(self.table)
                .index_name(feed.index())
                .scan_index_forward(false)
                .limit((limit + 1) as i32)
                .expression_attribute_names("#feed", "feed")
                .expression_attribute_values(":feed", s(feed_partition(shard)));
            query = match after {
                Some(key) => query
                    .key_condition_expression("#feed = :feed AND #sort < :after")
                    .expression_attribute_names("#sort", feed.sort_attribute())
                    .expression_attribute_values(":after", n(key)),
                None => query.key_condition_expression("#feed = :feed"),
            };
            query.send()
        });
        let mut merged = Vec::new();
        let mut boundary: Option<i128> = None;
        for result in futures_util::future::join_all(queries).await {
            let out = result.map_err(db_error("Query"))?;
            let posts: Vec<Post> = out
                .items()
                .iter()
                .map(Post::from_item)
                .collect::<Result<_, _>>()?;
            if out.last_evaluated_key().is_some()
                && posts.len() <= limit as usize
                && let Some(last) = posts.last()
            {
                let key = feed.sort_key(last);
                boundary = Some(boundary.map_or(key, |b| b.max(key)));
            }
            merged.extend(posts);
        }
        merged.sort_by_key(|p| std::cmp::Reverse(feed.sort_key(p)));
        if let Some(boundary) = boundary {
            merged.retain(|p| feed.sort_key(p) >= boundary);
        }
        let more = merged.len() > limit as usize || boundary.is_some();
        merged.truncate(limit as usize);
        let next = if more {
            merged.last().map(|p| feed.sort_key(p))
        } else {
            None
        };
        Ok((merged, next))
    }

    /// Which of `post_ids` `user_id` likes: one BatchGetItem for the whole page (retrying
    /// whatever DynamoDB leaves unprocessed).
    pub async fn liked_by(&self, user_id: i64, post_ids: &[i64]) -> Result<HashSet<i64>, ApiError> {
        let mut liked = HashSet::new();
        for chunk in post_ids.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| {
                    let (pk, sk) = like_key(*id, user_id);
                    key_item(pk, sk)
                })
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .projection_expression("post_id")
                    .build()
                    .map_err(ApiError::internal)?,
            );
            let mut attempt = 0;
            while let Some(keys) = request.take() {
                let out = self
                    .db
                    .batch_get_item()
                    .request_items(self.table, keys)
                    .send()
                    .await
                    .map_err(db_error("BatchGetItem"))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(self.table))
                    .into_iter()
                    .flatten()
                {
                    liked.insert(get_n(item, "post_id")?);
                }
                request = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
                if request.is_some() {
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        Ok(liked)
    }
}
