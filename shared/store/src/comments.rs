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
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::posts::{Change, counts_key, post_key, timestamp};
use super::{Item, cancellation_codes, db_error, get_n, get_s, n, s};
use super::{SendRetried, StoreError};

fn comment_sk(id: i64) -> String {
    format!("COMMENT#{id:016}")
}

fn pointer_key(id: i64) -> (String, String) {
    (format!("COMMENT#{id}"), "COMMENT".into())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: i64,
    pub post_id: i64,
    pub author_id: i64,
    pub author_name: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

impl Comment {
    fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            id: get_n(item, "id")?,
            post_id: get_n(item, "post_id")?,
            author_id: get_n(item, "author_id")?,
            author_name: get_s(item, "author_name")?,
            content: get_s(item, "content")?,
            created_at: super::get_time(item, "created_at")?,
        })
    }
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
        let (pk, sk) = counts_key(post_id);
        let mut update = Update::builder()
            .table_name(self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression("ADD comments_count :d")
            .expression_attribute_values(":d", n(delta));
        update = if require_active {
            // `top_feed` is on the counts item exactly while the post is active.
            update.condition_expression("attribute_exists(top_feed)")
        } else {
            update.condition_expression("attribute_exists(PK)")
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(StoreError::internal)?)
            .build())
    }

    /// Writes the comment, its pointer and the post's count in one transaction, with `extra`
    /// writes (an idempotency record).
    pub async fn create(
        &self,
        comment: &Comment,
        extra: Vec<TransactWriteItem>,
    ) -> Result<CreateOutcome, StoreError> {
        let (post_pk, _) = post_key(comment.post_id);
        let item = Item::from([
            ("PK".into(), s(post_pk)),
            ("SK".into(), s(comment_sk(comment.id))),
            ("entity".into(), s("comment")),
            ("id".into(), n(comment.id)),
            ("post_id".into(), n(comment.post_id)),
            ("author_id".into(), n(comment.author_id)),
            ("author_name".into(), s(&comment.author_name)),
            ("content".into(), s(&comment.content)),
            ("created_at".into(), s(timestamp(comment.created_at))),
        ]);
        let (ppk, psk) = pointer_key(comment.id);
        let pointer = Item::from([
            ("PK".into(), s(ppk)),
            ("SK".into(), s(psk)),
            ("entity".into(), s("comment_pointer")),
            ("post_id".into(), n(comment.post_id)),
            ("author_id".into(), n(comment.author_id)),
        ]);
        let mut request = self
            .db
            .transact_write_items()
            .transact_items(super::put_new(self.table, item)?)
            .transact_items(super::put_new(self.table, pointer)?)
            .transact_items(self.count_update(comment.post_id, 1, true)?);
        for write in extra {
            request = request.transact_items(write);
        }
        match request.send_retried().await {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(err) => match cancellation_codes(&err) {
                Some(codes) if codes.get(2).is_some_and(|c| c == "ConditionalCheckFailed") => {
                    Ok(CreateOutcome::PostNotFound)
                }
                Some(codes) if codes.iter().take(2).any(|c| c == "ConditionalCheckFailed") => {
                    Ok(CreateOutcome::IdCollision)
                }
                Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                    Err(StoreError::ConditionFailed("TransactWriteItems"))
                }
                _ => Err(db_error("TransactWriteItems")(err)),
            },
        }
    }

    /// A page of a post's comments, oldest first, after comment id `after`.
    pub async fn page(
        &self,
        post_id: i64,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Comment>, Option<i64>), StoreError> {
        let (pk, _) = post_key(post_id);
        let query = self
            .db
            .query()
            .table_name(self.table)
            .expression_attribute_values(":pk", s(pk))
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
        let mut comments: Vec<Comment> = out
            .items()
            .iter()
            .map(Comment::from_item)
            .collect::<Result<_, _>>()?;
        let more = comments.len() > limit as usize || out.last_evaluated_key().is_some();
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
        let pointer = super::get_item(self.db, self.table, ppk.clone(), psk.clone(), true).await?;
        let Some(pointer) = pointer else {
            return Ok(Change::NotFound);
        };
        let post_id: i64 = get_n(&pointer, "post_id")?;
        let author_id: i64 = get_n(&pointer, "author_id")?;
        if author_id != caller && !admin {
            return Ok(Change::Forbidden);
        }
        let (post_pk, _) = post_key(post_id);
        let delete =
            |pk: String, sk: String, condition: bool| -> Result<TransactWriteItem, StoreError> {
                let mut d = Delete::builder()
                    .table_name(self.table)
                    .key("PK", s(pk))
                    .key("SK", s(sk));
                if condition {
                    d = d.condition_expression("attribute_exists(PK)");
                }
                Ok(TransactWriteItem::builder()
                    .delete(d.build().map_err(StoreError::internal)?)
                    .build())
            };
        let result = self
            .db
            .transact_write_items()
            .transact_items(delete(post_pk, comment_sk(id), true)?)
            .transact_items(delete(ppk, psk, false)?)
            .transact_items(self.count_update(post_id, -1, false)?)
            .send_retried()
            .await;
        match result {
            Ok(_) => Ok(Change::Done(())),
            Err(err) => match cancellation_codes(&err) {
                // Deleted concurrently by someone else: gone either way.
                Some(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    Ok(Change::NotFound)
                }
                _ => Err(db_error("TransactWriteItems")(err)),
            },
        }
    }
}
