//! Reminder email: the per-user-per-day send claim, suppressed addresses and the profile's
//! `email_reminders` switch (keys in docs/data-model.md).
//!
//! - `USER#<id>` / `EMAILED#<local date>`: the claim of a day's reminder email, written before
//!   SES is called (`state` `sending`, then `sent` with SES's message id, or `released` when
//!   SES refused it: nothing sent, it may be claimed again); a retry that finds it `sending`
//!   or `sent` does not send again. TTL `expires_at`.
//! - `SUPPRESSION#<address>` / `SUPPRESSION`: an address SES reported as a hard bounce or a
//!   complaint; the claim's transaction checks it, so a suppressed address is never mailed.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::item::entity_item;
use crate::users::{user_key, user_pk};
use crate::{Key, SendRetried, StoreError, StoreResult, conditional, db_error, key_item, s};

pub(crate) fn claim_key(user_id: i64, day: &str) -> Key {
    (user_pk(user_id), format!("EMAILED#{day}"))
}

/// A day's email claim as first written (`sending`); `mark_sent` and `release` update it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClaimItem {
    pub state: String,
    pub created_at: String,
    pub expires_at: i64,
}

/// A suppressed address's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Suppression {
    pub reason: String,
    pub created_at: String,
}

/// Addresses are compared case-insensitively (SES reports them as the recipient wrote them).
pub(crate) fn suppression_key(address: &str) -> Key {
    (
        format!("SUPPRESSION#{}", address.trim().to_lowercase()),
        "SUPPRESSION".into(),
    )
}

/// How claiming a day's email ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours: send, then [`Mail::mark_sent`].
    Claimed,
    /// Claimed before (sent, or a send whose outcome is unknown): never send again.
    AlreadyClaimed,
    /// The address bounced or complained: never send.
    Suppressed,
}

pub struct Mail<'a> {
    db: &'a aws_sdk_dynamodb::Client,
    table: &'a str,
}

impl<'a> Mail<'a> {
    pub fn new(db: &'a aws_sdk_dynamodb::Client, table: &'a str) -> Self {
        Self { db, table }
    }

    /// Claims `user_id`'s email of local day `day` to `address`: one TransactWriteItems (the
    /// address's suppression item must not exist; the claim must not exist yet).
    pub async fn claim(
        &self,
        user_id: i64,
        day: &str,
        address: &str,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> StoreResult<Claim> {
        let check = ConditionCheck::builder()
            .table_name(self.table)
            .set_key(Some(key_item(suppression_key(address))))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(StoreError::internal)?;
        let claim = ClaimItem {
            state: "sending".into(),
            created_at: now.to_rfc3339(),
            expires_at: now.timestamp() + ttl_secs,
        };
        let claim = Put::builder()
            .table_name(self.table)
            .set_item(Some(entity_item(
                claim_key(user_id, day),
                "email_claim",
                &claim,
            )?))
            // A claim given back (SES refused the send) may be claimed again.
            .condition_expression("attribute_not_exists(PK) OR #state = :released")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":released", s("released"))
            .build()
            .map_err(StoreError::internal)?;
        let writes = [
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(claim).build(),
        ];
        let result = crate::transact(self.db, writes).await;
        crate::transacted(result, Claim::Claimed, |refused| {
            if refused.at(0) {
                Ok(Claim::Suppressed)
            } else if refused.at(1) {
                Ok(Claim::AlreadyClaimed)
            } else {
                Err(refused.unexpected())
            }
        })
    }

    /// Records that the claimed email was accepted by SES (one UpdateItem; for operators).
    pub async fn mark_sent(&self, user_id: i64, day: &str, message_id: &str) -> StoreResult<()> {
        crate::update_item(self.db, self.table, claim_key(user_id, day))
            .update_expression("SET #state = :sent, message_id = :id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":id", s(message_id))
            .send_retried()
            .await
            .map_err(db_error("UpdateItem"))?;
        Ok(())
    }

    /// Gives a claim back after SES refused the send outright (nothing was sent): the retry
    /// may claim and send. One UpdateItem, only while it is still `sending`.
    pub async fn release(&self, user_id: i64, day: &str) -> StoreResult<()> {
        let result = crate::update_item(self.db, self.table, claim_key(user_id, day))
            .update_expression("SET #state = :released")
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":released", s("released"))
            .expression_attribute_values(":sending", s("sending"))
            .send_retried()
            .await;
        // Not `sending` any more: marked sent (or released) already.
        conditional(result, "UpdateItem")?;
        Ok(())
    }

    /// Suppresses `address` (a hard bounce or a complaint): one PutItem, idempotent.
    pub async fn suppress(
        &self,
        address: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let suppression = Suppression {
            reason: reason.to_owned(),
            created_at: at.to_rfc3339(),
        };
        let item = entity_item(suppression_key(address), "suppression", &suppression)?;
        self.db
            .put_item()
            .table_name(self.table)
            .set_item(Some(item))
            .send_retried()
            .await
            .map_err(db_error("PutItem"))?;
        Ok(())
    }

    /// Whether `address` is suppressed (one strongly consistent GetItem).
    pub async fn is_suppressed(&self, address: &str) -> StoreResult<bool> {
        let (pk, sk) = suppression_key(address);
        Ok(crate::get_item(self.db, self.table, pk, sk, true)
            .await?
            .is_some())
    }

    /// Turns `user_id`'s email reminders on or off (one UpdateItem of the profile; `false`
    /// when the user does not exist). Leaves `version` alone: the profile's other settings
    /// and their reminder index keys are not touched.
    pub async fn set_email_reminders(&self, user_id: i64, on: bool) -> StoreResult<bool> {
        let result = crate::update_item(self.db, self.table, user_key(user_id))
            .update_expression("SET email_reminders = :on")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":on", AttributeValue::Bool(on))
            .send_retried()
            .await;
        Ok(conditional(result, "UpdateItem")?.is_some())
    }
}
