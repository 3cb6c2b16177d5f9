//! Comments.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | comment | `POST#<post id>` | `COMMENT#<id, 16 digits>` | id, post_id, author_id, author_name, content, created_at |
//! | comment pointer | `COMMENT#<id>` | `COMMENT` | post_id, author_id (finds the comment from its id alone, for DELETE) |
//!
//! A post's comments are one Query on its partition, oldest first (ids sort by time and are
//! zero-padded so the string order is the numeric one). Creating and deleting a comment change
//! the post's `comments_count` in the same transaction.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{entity_item, read};
use super::posts::{Change, counts_key, gone_first, post_pk};
use super::{Key, db_error, n, s};
use super::{SendRetried, StoreError};

pub(crate) fn comment_key(post_id: i64, id: i64) -> Key {
    (post_pk(post_id), comment_sk(id))
}

fn comment_sk(id: i64) -> String {
    format!("COMMENT#{id:016}")
}

pub(crate) fn pointer_key(id: i64) -> Key {
    (format!("COMMENT#{id}"), "COMMENT".into())
}

/// The comment item's attributes as well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub post_id: i64,
    pub author_id: i64,
    pub author_name: String,
    pub content: String,
    #[serde(with = "crate::item::millis")]
    pub created_at: DateTime<Utc>,
}

/// The comment pointer item's attributes: where the comment of an id is, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pointer {
    pub post_id: i64,
    pub author_id: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    PostNotFound,
    IdCollision,
}

pub struct Comments<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Comments<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    fn count_update(
        &self,
        post_id: i64,
        delta: i64,
        require_active: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = super::update(self.table, counts_key(post_id))
            .update_expression("ADD comments_count :d")
            .expression_attribute_values(":d", n(delta));
        super::write_update(if require_active {
            // `top_feed` is on the counts item exactly while the post is active.
            update.condition_expression("attribute_exists(top_feed)")
        } else {
            update.condition_expression("attribute_exists(PK)")
        })
    }

    /// Writes the comment, its pointer and the post's count in one transaction, with `extra`
    /// writes (an idempotency record).
    pub async fn create(
        &self,
        comment: &Comment,
        extra: Vec<TransactWriteItem>,
    ) -> Result<CreateOutcome, StoreError> {
        let item = entity_item(comment_key(comment.post_id, comment.id), "comment", comment)?;
        let pointer = Pointer {
            post_id: comment.post_id,
            author_id: comment.author_id,
        };
        let pointer = entity_item(pointer_key(comment.id), "comment_pointer", &pointer)?;
        let writes = [
            super::put_new(self.table, item)?,
            super::put_new(self.table, pointer)?,
            self.count_update(comment.post_id, 1, true)?,
        ];
        let result = super::transact(self.db, writes.into_iter().chain(extra)).await;
        super::transacted(result, CreateOutcome::Created, |refused| {
            if refused.at(2) {
                Ok(CreateOutcome::PostNotFound)
            } else if refused.before(2) {
                Ok(CreateOutcome::IdCollision)
            } else {
                Err(StoreError::ConditionFailed("TransactWriteItems"))
            }
        })
    }

    /// A page of a post's comments, oldest first, after comment id `after`.
    pub async fn page(
        &self,
        post_id: i64,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Comment>, Option<i64>), StoreError> {
        let query = super::partition_query(self.db, self.table, post_pk(post_id))
            .scan_index_forward(true)
            .limit((limit + 1) as i32);
        let query = match after {
            Some(id) => query
                .key_condition_expression("PK = :pk AND SK BETWEEN :after AND :end")
                .expression_attribute_values(":after", s(comment_sk(id + 1)))
                .expression_attribute_values(":end", s("COMMENT#~")),
            None => query
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":prefix", s("COMMENT#")),
        };
        let out = query.send_retried().await.map_err(db_error("Query"))?;
        let more_in_table = out.last_evaluated_key().is_some();
        let mut comments: Vec<Comment> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(read)
            .collect::<Result<_, _>>()?;
        let more = comments.len() > limit as usize || more_in_table;
        comments.truncate(limit as usize);
        let next = if more {
            comments.last().map(|c| c.id)
        } else {
            None
        };
        Ok((comments, next))
    }

    /// Deletes a comment by its author or an admin, and uncounts it.
    pub async fn delete(
        &self,
        id: i64,
        caller: i64,
        admin: bool,
    ) -> Result<Change<()>, StoreError> {
        let (ppk, psk) = pointer_key(id);
        let Some(pointer) = super::get_item(self.db, self.table, ppk, psk, true).await? else {
            return Ok(Change::NotFound);
        };
        let Pointer { post_id, author_id } = read(pointer)?;
        if author_id != caller && !admin {
            return Ok(Change::Forbidden);
        }
        let writes = [
            super::write_delete(self.table, comment_key(post_id, id), true)?,
            super::write_delete(self.table, pointer_key(id), false)?,
            self.count_update(post_id, -1, false)?,
        ];
        let result = super::transact(self.db, writes).await;
        // Deleted concurrently by someone else: gone either way.
        super::transacted(result, Change::Done(()), gone_first)
    }
}
