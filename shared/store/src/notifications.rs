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
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::item::{entity_item, read};
use super::users::{inbox_key, user_pk};
use super::{Key, db_error, get_n, n, s, timestamp};
use super::{SendRetried, StoreError};

fn notif_sk(id: i64) -> String {
    format!("NOTIF#{id:016}")
}

pub(crate) fn notification_key(user_id: i64, id: i64) -> Key {
    (user_pk(user_id), notif_sk(id))
}

/// The notification item's attributes as well (`read_at` absent while unread: the unread
/// filter is `attribute_not_exists(read_at)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    #[serde(with = "crate::item::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::item::millis::option"
    )]
    pub read_at: Option<DateTime<Utc>>,
}

/// The item that makes a delivery happen once: which notification it delivered, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeliveryKey {
    pub notification_id: i64,
    pub expires_at: i64,
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
        let update = super::update(self.table, inbox_key(user_id))
            .update_expression("ADD unread :d")
            .expression_attribute_values(":d", n(delta));
        super::write_update(update)
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
        let key = DeliveryKey {
            notification_id: notification.id,
            expires_at: notification.created_at.timestamp() + key_ttl_secs,
        };
        let key = entity_item(
            (user_pk(user_id), idempotency_key.to_owned()),
            "idempotency_key",
            &key,
        )?;
        // A new notification is unread (`read_at` is set by `mark_read`, never here).
        let unread = Notification {
            read_at: None,
            ..notification.clone()
        };
        let item = entity_item(
            notification_key(user_id, notification.id),
            "notification",
            &unread,
        )?;
        let writes = [
            super::put_new(self.table, key)?,
            super::put_new(self.table, item)?,
            self.inbox_update(user_id, 1)?,
        ];
        let result = super::transact(self.db, writes.into_iter().chain(extra)).await;
        super::transacted(result, Delivery::Delivered, |refused| {
            if refused.at(0) {
                Ok(Delivery::Duplicate)
            } else if refused.failed().iter().skip(3).any(|f| *f) {
                Ok(Delivery::Cancelled)
            } else {
                Err(refused.unexpected())
            }
        })
    }

    /// A page of the user's notifications, newest first, before id `before`.
    pub async fn page(
        &self,
        user_id: i64,
        unread_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Notification>, Option<i64>), StoreError> {
        let mut found: Vec<Notification> = Vec::new();
        let mut start = None;
        // With `unread_only`, DynamoDB applies the filter after `Limit`: keep reading until
        // the page is full or the partition ends.
        loop {
            let mut query = super::partition_query(self.db, self.table, user_pk(user_id))
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
            for item in out.items.unwrap_or_default() {
                found.push(read(item)?);
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
        let writes = [
            self.read_update(user_id, id, now)?,
            self.inbox_update(user_id, -1)?,
        ];
        let result = super::transact(self.db, writes).await;
        let written = super::transacted(result, true, |refused| {
            if refused.at(0) {
                Ok(false)
            } else {
                Err(refused.unexpected())
            }
        })?;
        if written {
            return Ok(Some(()));
        }
        // Already read (idempotent) or no such notification.
        let item =
            super::get_item(self.db, self.table, user_pk(user_id), notif_sk(id), true).await?;
        Ok(item.map(|_| ()))
    }

    /// The write that marks notification `id` read at `now`, only while it exists unread.
    fn read_update(
        &self,
        user_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = super::update(self.table, notification_key(user_id, id))
            .update_expression("SET read_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(read_at)")
            .expression_attribute_values(":now", s(timestamp(now)));
        super::write_update(update)
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
                let mut writes = unread
                    .iter()
                    .map(|id| self.read_update(user_id, *id, now))
                    .collect::<Result<Vec<_>, _>>()?;
                writes.push(self.inbox_update(user_id, -(unread.len() as i64))?);
                let result = super::transact(self.db, writes).await;
                // The notifications already read (or gone): done, not counted again.
                let refused =
                    super::transacted(result, None, |refused| Ok(Some(refused.failed().to_vec())))?;
                let Some(refused) = refused else {
                    break;
                };
                let mut refused = refused.into_iter();
                unread.retain(|_| !refused.next().unwrap_or(false));
            }
        }
    }

    /// The ids of up to `limit` unread notifications, newest first, read strongly
    /// consistently (every page of the partition until `limit` are found).
    async fn unread_page(&self, user_id: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = super::partition_query(self.db, self.table, user_pk(user_id))
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .filter_expression("attribute_not_exists(read_at)")
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
        let (pk, sk) = inbox_key(user_id);
        let item = super::get_item(self.db, self.table, pk, sk, true).await?;
        Ok(item
            .and_then(|item| get_n::<i64>(&item, "unread").ok())
            .unwrap_or(0)
            .max(0) as u64)
    }
}
