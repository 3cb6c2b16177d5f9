//! Likes.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | like | `USER#<user id>` | `LIKE#<post id>` | post_id, user_id, created_at |
//!
//! A like lives in the liker's partition, not the post's (see `posts.rs` for why). Its count
//! is on one of the post's like shards (`POST#<post>`/`LIKES#<user mod 16>`), written in the
//! same transaction as the like: likes of many users at once meet on 16 items, not one. The
//! counts item's `likes_count` and `top_score` (the top feed's sort key, which must live on
//! one item) are then folded from the shards by a plain conditional UpdateItem: single-item
//! writes never conflict with each other, and the fold's condition (`likes_ops` only grows)
//! keeps an older fold from landing over a newer one (docs/data-model.md, "Likes of a popular
//! post").

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::entity_item;
use super::posts::{
    LIKE_SHARDS, LikeTally, Posts, counts_key, key_item, like_key, like_shard_item, like_shard_key,
    like_shard_of, liked_post, top_score,
};
use super::{Item, SendRetried, StoreResult, conditional, n};

/// The like item's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Like {
    pub post_id: i64,
    pub user_id: i64,
    #[serde(with = "crate::item::millis")]
    pub created_at: DateTime<Utc>,
}

pub struct Likes<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Likes<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    /// Which of `ids` `user_id` likes: one BatchGetItem in the user's own partition.
    pub async fn of(&self, user_id: i64, ids: &[i64]) -> StoreResult<HashSet<i64>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let keys: Vec<Item> = ids
            .iter()
            .map(|id| key_item(like_key(*id, user_id)))
            .collect();
        let posts = Posts::new(self.db, self.table);
        let mut liked = HashSet::new();
        for items in posts.batch_get_all(&keys, false).await? {
            for item in items {
                liked.extend(liked_post(&item)?);
            }
        }
        Ok(liked)
    }

    /// The like shard's change: `direction` likes, one more operation, only while the post is
    /// live (its delete removes `live` from every shard).
    fn shard_update(
        &self,
        post_id: i64,
        user_id: i64,
        direction: i64,
    ) -> StoreResult<TransactWriteItem> {
        let update = super::update(self.table, like_shard_key(post_id, like_shard_of(user_id)))
            .update_expression("ADD n :d, ops :one")
            .condition_expression("attribute_exists(live)")
            .expression_attribute_values(":d", n(direction))
            .expression_attribute_values(":one", n(1));
        super::write_update(update)
    }

    /// Likes (`liked`) or unlikes a post, idempotently. Returns the post's exact like count
    /// after, or `None` when the post does not exist or is deleted. Either the like and its
    /// count are written, or an error says they were not: never a count for a write that did
    /// not happen. Round trips: the transaction (like + one shard), the tally (one Query),
    /// and the fold (one UpdateItem) when the counts item is behind.
    pub async fn set(
        &self,
        post_id: i64,
        user_id: i64,
        liked: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let posts = Posts::new(self.db, self.table);
        if !self.write(post_id, user_id, liked, now).await? {
            // The shard refused: the post is gone, or was written before the shards.
            let tally = posts.like_tally(post_id).await?;
            if !(tally.active() && tally.shards == 0) {
                return Ok(None);
            }
            self.shard_legacy_post(post_id, &tally).await?;
            if !self.write(post_id, user_id, liked, now).await? {
                return Ok(None);
            }
        }
        let tally = posts.like_tally(post_id).await?;
        if !tally.active() {
            return Ok(None);
        }
        self.fold(post_id, &tally).await;
        Ok(Some(tally.likes))
    }

    /// The like (or unlike) and its shard in one transaction: `false` when the shard refused
    /// it (not live). Already in the wanted state (liked twice, unliked twice) is success.
    async fn write(
        &self,
        post_id: i64,
        user_id: i64,
        liked: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let like_write = if liked {
            let like = Like {
                post_id,
                user_id,
                created_at: now,
            };
            let item = entity_item(like_key(post_id, user_id), "like", &like)?;
            super::put_new(self.table, item)?
        } else {
            super::write_delete(self.table, like_key(post_id, user_id), true)?
        };
        let shard_write = self.shard_update(post_id, user_id, if liked { 1 } else { -1 })?;
        let result = super::transact(self.db, [like_write, shard_write]).await;
        super::transacted(result, true, |refused| {
            if refused.at(1) {
                // The shard is not live (checked first: a deleted post is 404 either way).
                Ok(false)
            } else if refused.at(0) {
                // Already in the wanted state (liked twice, or unliked twice): idempotent.
                Ok(true)
            } else {
                Err(refused.unexpected())
            }
        })
    }

    /// Folds the shards into the counts item (`likes_count`, `top_score`) unless a fold of as
    /// many operations is there already. Best effort: the like stands whatever happens here,
    /// and the next like, unlike or `rota-admin verify --fix` folds again. The fold of the
    /// last like to read the shards reads every operation, so the counts item ends exact
    /// once likes stop (an older fold cannot land over it: `likes_ops` only grows).
    async fn fold(&self, post_id: i64, tally: &LikeTally) {
        if tally.folded_ops().is_some_and(|ops| ops >= tally.ops) {
            return;
        }
        let score = top_score(post_id, tally.likes);
        let result = super::update_item(self.db, self.table, counts_key(post_id))
            .update_expression("SET likes_count = :c, top_score = :t, likes_ops = :o")
            .condition_expression(
                "attribute_exists(top_feed) AND (attribute_not_exists(likes_ops) OR likes_ops < :o)",
            )
            .expression_attribute_values(":c", n(tally.likes))
            .expression_attribute_values(":t", n(score))
            .expression_attribute_values(":o", n(tally.ops))
            .send_retried()
            .await;
        // A failed condition: a fold of more operations landed first, or the post was deleted.
        if let Err(err) = conditional(result, "UpdateItem") {
            tracing::warn!(post_id, error = %err, "like count not folded (the next like folds it)");
        }
    }

    /// Gives a post written before the like shards its shards: its counted likes on shard 0,
    /// in one transaction that holds the counts item to the count read. A concurrent
    /// migration or like makes it fail, and the caller's retry of the like finds the shards.
    async fn shard_legacy_post(&self, post_id: i64, tally: &LikeTally) -> StoreResult<()> {
        let likes = tally.folded_likes()?;
        let hold = super::update(self.table, counts_key(post_id))
            .update_expression("SET likes_ops = :zero")
            .condition_expression("attribute_exists(top_feed) AND likes_count = :c")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":c", n(likes));
        let mut writes = vec![super::write_update(hold)?];
        for k in 0..LIKE_SHARDS {
            let shard = like_shard_item(post_id, k, if k == 0 { likes } else { 0 }, true)?;
            writes.push(super::put_new(self.table, shard)?);
        }
        // Refused: someone else migrated it (or a like moved the count): the retry sees the
        // shards.
        super::transacted(super::transact(self.db, writes).await, (), |_| Ok(()))
    }
}
