//! Likes.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | like | `USER#<user id>` | `LIKE#<post id>` | post_id, user_id, created_at |
//!
//! A like lives in the liker's partition, not the post's (see `posts.rs` for why), and its
//! count on the post's counts item, written in the same transaction as the like, together
//! with the post's `top_score` in the top feed.

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::posts::{BATCH_KEYS, Posts, SCORE_STEP, counts_key, key_item, like_key, timestamp};
use super::{
    Item, SendRetried, StoreError, StoreResult, cancellation_codes, db_error, get_n, n, s,
};

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
        let calls = keys
            .chunks(BATCH_KEYS)
            .map(|chunk| posts.batch_get(chunk.to_vec(), false));
        let mut liked = HashSet::new();
        for items in futures_util::future::try_join_all(calls).await? {
            for item in items {
                liked.insert(get_n(&item, "post_id")?);
            }
        }
        Ok(liked)
    }

    fn score_update(&self, post_id: i64, direction: i64) -> StoreResult<TransactWriteItem> {
        let (pk, sk) = counts_key(post_id);
        let update = Update::builder()
            .table_name(self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression("ADD likes_count :one, top_score :step")
            // Only active posts are in a feed: `top_feed` is removed by the delete.
            .condition_expression("attribute_exists(top_feed)")
            .expression_attribute_values(":one", n(direction))
            .expression_attribute_values(":step", n(SCORE_STEP * i128::from(direction)))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Likes (`liked`) or unlikes a post, idempotently. Returns the post's like count after,
    /// or `None` when the post does not exist or is deleted. Either the like and its count are
    /// written, or an error says they were not: never a count for a write that did not happen.
    pub async fn set(
        &self,
        post_id: i64,
        user_id: i64,
        liked: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let like_write = if liked {
            let mut item = key_item(like_key(post_id, user_id));
            item.extend([
                ("entity".into(), s("like")),
                ("post_id".into(), n(post_id)),
                ("user_id".into(), n(user_id)),
                ("created_at".into(), s(timestamp(now))),
            ]);
            let put = Put::builder()
                .table_name(self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(StoreError::internal)?;
            TransactWriteItem::builder().put(put).build()
        } else {
            let delete = Delete::builder()
                .table_name(self.table)
                .set_key(Some(key_item(like_key(post_id, user_id))))
                .condition_expression("attribute_exists(PK)")
                .build()
                .map_err(StoreError::internal)?;
            TransactWriteItem::builder().delete(delete).build()
        };
        let result = self
            .db
            .transact_write_items()
            .transact_items(like_write)
            .transact_items(self.score_update(post_id, if liked { 1 } else { -1 })?)
            .send_retried()
            .await;
        match result {
            Ok(_) => {}
            Err(err) => match cancellation_codes(&err) {
                // The post is gone (checked first: a deleted post is 404 either way).
                Some(codes) if codes.get(1).is_some_and(|c| c == "ConditionalCheckFailed") => {
                    return Ok(None);
                }
                // Already in the wanted state (liked twice, or unliked twice): idempotent.
                Some(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {}
                _ => return Err(db_error("TransactWriteItems")(err)),
            },
        }
        let (pk, sk) = counts_key(post_id);
        let counts = super::get_item(self.db, self.table, pk, sk, true).await?;
        match counts {
            Some(c) if c.contains_key("top_feed") => Ok(Some(get_n(&c, "likes_count")?)),
            _ => Ok(None),
        }
    }
}
