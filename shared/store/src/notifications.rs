//! Notifications and the unread counter.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | notification | `USER#<user id>` | `NOTIF#<id, 16 digits>` | id, kind, title, body, created_at, read_at (absent while unread) |
//! | inbox | `USER#<user id>` | `INBOX` | unread |
//! | reminder key | `USER#<user id>` | `REMINDER#<local date>` | expires_at (TTL): at most one daily reminder per local day |
//!
//! Creating a notification and reading one change `unread` in the same transaction, so the
//! count the dashboard shows is exact.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::posts::timestamp;
use super::{Item, cancellation_codes, db_error, get_n, get_s, n, s};
use super::{SendRetried, StoreError};

fn user_pk(user_id: i64) -> String {
    format!("USER#{user_id}")
}

fn notif_sk(id: i64) -> String {
    format!("NOTIF#{id:016}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl Notification {
    fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            id: get_n(item, "id")?,
            kind: get_s(item, "kind")?,
            title: get_s(item, "title")?,
            body: get_s(item, "body")?,
            created_at: super::get_time(item, "created_at")?,
            read_at: match item.get("read_at") {
                Some(AttributeValue::S(_)) => Some(super::get_time(item, "read_at")?),
                _ => None,
            },
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The idempotency key already existed: this notification was delivered before.
    Duplicate,
    /// One of the `extra` writes' conditions failed: nothing was written.
    Cancelled,
}

pub struct Notifications<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Notifications<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    fn inbox_update(&self, user_id: i64, delta: i64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table)
            .key("PK", s(user_pk(user_id)))
            .key("SK", s("INBOX"))
            .update_expression("ADD unread :d")
            .expression_attribute_values(":d", n(delta))
            .build()
            .map_err(StoreError::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Delivers a notification exactly once per `idempotency_key` (an item written in the same
    /// transaction, conditional on not existing, expiring after `key_ttl_secs`), together with
    /// the unread count and any `extra` writes.
    pub async fn deliver(
        &self,
        user_id: i64,
        notification: &Notification,
        idempotency_key: &str,
        key_ttl_secs: i64,
        extra: Vec<TransactWriteItem>,
    ) -> Result<Delivery, StoreError> {
        let key = Item::from([
            ("PK".into(), s(user_pk(user_id))),
            ("SK".into(), s(idempotency_key)),
            ("entity".into(), s("idempotency_key")),
            ("notification_id".into(), n(notification.id)),
            (
                "expires_at".into(),
                n(notification.created_at.timestamp() + key_ttl_secs),
            ),
        ]);
        let item = Item::from([
            ("PK".into(), s(user_pk(user_id))),
            ("SK".into(), s(notif_sk(notification.id))),
            ("entity".into(), s("notification")),
            ("id".into(), n(notification.id)),
            ("kind".into(), s(&notification.kind)),
            ("title".into(), s(&notification.title)),
            ("body".into(), s(&notification.body)),
            ("created_at".into(), s(timestamp(notification.created_at))),
        ]);
        let mut request = self
            .db
            .transact_write_items()
            .transact_items(super::put_new(self.table, key)?)
            .transact_items(super::put_new(self.table, item)?)
            .transact_items(self.inbox_update(user_id, 1)?);
        for write in extra {
            request = request.transact_items(write);
        }
        match request.send_retried().await {
            Ok(_) => Ok(Delivery::Delivered),
            Err(err) => match cancellation_codes(&err) {
                Some(codes) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                    Ok(Delivery::Duplicate)
                }
                Some(codes) if codes.iter().skip(3).any(|c| c == "ConditionalCheckFailed") => {
                    Ok(Delivery::Cancelled)
                }
                _ => Err(db_error("TransactWriteItems")(err)),
            },
        }
    }

    /// A page of the user's notifications, newest first, before id `before`.
    pub async fn page(
        &self,
        user_id: i64,
        unread_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Notification>, Option<i64>), StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        // With `unread_only`, DynamoDB applies the filter after `Limit`: keep reading until
        // the page is full or the partition ends.
        loop {
            let mut query = self
                .db
                .query()
                .table_name(self.table)
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .scan_index_forward(false)
                .limit((limit + 1) as i32)
                .set_exclusive_start_key(start);
            query = match before {
                Some(id) => query
                    .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
                    .expression_attribute_values(":lo", s("NOTIF#"))
                    .expression_attribute_values(":hi", s(notif_sk(id - 1))),
                None => query
                    .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                    .expression_attribute_values(":prefix", s("NOTIF#")),
            };
            if unread_only {
                query = query.filter_expression("attribute_not_exists(read_at)");
            }
            let out = query.send_retried().await.map_err(db_error("Query"))?;
            for item in out.items() {
                found.push(Notification::from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && found.len() <= limit as usize => start = Some(key),
                last => {
                    let more = found.len() > limit as usize || last.is_some_and(|k| !k.is_empty());
                    found.truncate(limit as usize);
                    let next = if more {
                        found.last().map(|n| n.id)
                    } else {
                        None
                    };
                    return Ok((found, next));
                }
            }
        }
    }

    /// Marks one notification read; `None` when it does not exist.
    pub async fn mark_read(
        &self,
        user_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<()>, StoreError> {
        let update = Update::builder()
            .table_name(self.table)
            .key("PK", s(user_pk(user_id)))
            .key("SK", s(notif_sk(id)))
            .update_expression("SET read_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(read_at)")
            .expression_attribute_values(":now", s(timestamp(now)))
            .build()
            .map_err(StoreError::internal)?;
        let result = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.inbox_update(user_id, -1)?)
            .send_retried()
            .await;
        match result {
            Ok(_) => Ok(Some(())),
            Err(err)
                if cancellation_codes(&err)
                    .is_some_and(|c| c.first().is_some_and(|c| c == "ConditionalCheckFailed")) =>
            {
                // Already read (idempotent) or no such notification.
                let item =
                    super::get_item(self.db, self.table, user_pk(user_id), notif_sk(id), true)
                        .await?;
                Ok(item.map(|_| ()))
            }
            Err(err) => Err(db_error("TransactWriteItems")(err)),
        }
    }

    /// Marks every unread notification read, in transactions of up to 99 plus the counter.
    ///
    /// The unread page is read strongly consistently: an eventually consistent one may still
    /// list what the previous transaction marked read, and a loop over such pages never ends.
    /// A notification read meanwhile (read-one, another device) fails its condition and
    /// cancels the transaction; it is dropped from the batch and the rest sent again, so each
    /// attempt either commits or shrinks the batch.
    pub async fn mark_all_read(&self, user_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        loop {
            let mut unread = self.unread_page(user_id, 99).await?;
            if unread.is_empty() {
                return Ok(());
            }
            while !unread.is_empty() {
                let mut request = self.db.transact_write_items();
                for id in &unread {
                    let update = Update::builder()
                        .table_name(self.table)
                        .key("PK", s(user_pk(user_id)))
                        .key("SK", s(notif_sk(*id)))
                        .update_expression("SET read_at = :now")
                        .condition_expression(
                            "attribute_exists(PK) AND attribute_not_exists(read_at)",
                        )
                        .expression_attribute_values(":now", s(timestamp(now)))
                        .build()
                        .map_err(StoreError::internal)?;
                    request =
                        request.transact_items(TransactWriteItem::builder().update(update).build());
                }
                request =
                    request.transact_items(self.inbox_update(user_id, -(unread.len() as i64))?);
                match request.send_retried().await {
                    Ok(_) => break,
                    Err(err) => match cancellation_codes(&err) {
                        Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                            // Already read (or gone): done, not counted again.
                            let mut codes = codes.into_iter();
                            unread.retain(|_| {
                                codes.next().is_none_or(|c| c != "ConditionalCheckFailed")
                            });
                        }
                        _ => return Err(db_error("TransactWriteItems")(err)),
                    },
                }
            }
        }
    }

    /// The ids of up to `limit` unread notifications, newest first, read strongly
    /// consistently (every page of the partition until `limit` are found).
    async fn unread_page(&self, user_id: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .filter_expression("attribute_not_exists(read_at)")
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .expression_attribute_values(":prefix", s("NOTIF#"))
                .projection_expression("id")
                .consistent_read(true)
                .scan_index_forward(false)
                .limit(limit as i32)
                .set_exclusive_start_key(start)
                .send_retried()
                .await
                .map_err(db_error("Query"))?;
            for item in out.items() {
                found.push(get_n(item, "id")?);
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(key) if found.len() < limit => start = Some(key),
                _ => {
                    found.truncate(limit);
                    return Ok(found);
                }
            }
        }
    }

    pub async fn unread(&self, user_id: i64) -> Result<u64, StoreError> {
        let item =
            super::get_item(self.db, self.table, user_pk(user_id), "INBOX".into(), true).await?;
        Ok(item
            .and_then(|item| get_n::<i64>(&item, "unread").ok())
            .unwrap_or(0)
            .max(0) as u64)
    }
}
