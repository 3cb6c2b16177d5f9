//! Idempotency records for `Idempotency-Key` (the semantics of Powertools for AWS Lambda's
//! idempotency utility, with the completion made atomic with the write it protects).
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | idempotency record | `IDEMP#<user id>` | `<scope>#<key>` | status (IN_PROGRESS, COMPLETED), request_hash, claim, in_progress_until (epoch ms), response_status, response_body, expires_at (TTL) |
//!
//! A request with a key first *claims* it: a conditional PutItem that succeeds when no live
//! record exists (absent, expired, or an IN_PROGRESS claim whose owner ran past its deadline
//! — it crashed). The protected write then completes the record **in its own transaction**
//! (a conditional Update on our claim), so a crash can never leave a write made and its
//! record unfinished: an orphaned IN_PROGRESS claim always means nothing was written, and
//! taking it over is safe. A failed request releases its claim, so the key may be retried.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::item::{entity_item, read};
use super::{SendRetried, StoreError, StoreResult, conditional, db_error, key_item, n, s};

pub(crate) const IN_PROGRESS: &str = "IN_PROGRESS";
pub(crate) const COMPLETED: &str = "COMPLETED";

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request, complete with [`Record::complete`].
    Acquired(Record),
    /// The same request completed before: answer with its response.
    Replay { status: u16, body: String },
    /// The key was used with another request body.
    Mismatch,
    /// The first request with this key is still running; it ends by `until_ms` at the latest.
    InProgress { until_ms: i64 },
}

/// A claimed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pk: String,
    sk: String,
    claim: String,
    expires_at: i64,
}

/// The record's attributes: a claim as written, and what its completion adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordItem {
    pub status: String,
    pub request_hash: String,
    pub claim: String,
    /// While `IN_PROGRESS`: when the claim's request has certainly ended (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    pub expires_at: i64,
}

pub struct Idempotency<'a> {
    db: &'a Client,
    table: &'a str,
}

impl Record {
    /// The transaction write that marks the request done with its response; cancelled (and so
    /// the whole write) if the claim is no longer ours.
    pub fn complete(&self, table: &str, status: u16, body: &str) -> StoreResult<TransactWriteItem> {
        let update = super::update(table, (self.pk.clone(), self.sk.clone()))
            .update_expression(
                "SET #st = :done, response_status = :code, response_body = :body, expires_at = :exp \
                 REMOVE in_progress_until",
            )
            .condition_expression("claim = :claim AND #st = :running")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":running", s(IN_PROGRESS))
            .expression_attribute_values(":code", n(status))
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":exp", n(self.expires_at))
            .expression_attribute_values(":claim", s(&self.claim));
        super::write_update(update)
    }
}

impl<'a> Idempotency<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    /// Claims `key` of `user_id` for a request whose content hashes to `request_hash`.
    /// `until_ms` is when this attempt will certainly have ended (its invocation's deadline);
    /// the record lives `ttl_secs` after `now_secs`.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim(
        &self,
        user_id: i64,
        scope: &str,
        key: &str,
        request_hash: &str,
        now_ms: i64,
        until_ms: i64,
        ttl_secs: i64,
    ) -> StoreResult<Claim> {
        let pk = format!("IDEMP#{user_id}");
        let sk = format!("{scope}#{key}");
        let claim = super::retry::new_token();
        let expires_at = now_ms / 1000 + ttl_secs;
        let record = RecordItem {
            status: IN_PROGRESS.into(),
            request_hash: request_hash.to_owned(),
            claim: claim.clone(),
            in_progress_until: Some(until_ms),
            response_status: None,
            response_body: None,
            expires_at,
        };
        let item = entity_item((pk.clone(), sk.clone()), "idempotency_record", &record)?;
        let result = self
            .db
            .put_item()
            .table_name(self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR expires_at < :now_s \
                 OR (#st = :running AND in_progress_until < :now_ms)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now_s", n(now_ms / 1000))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":running", s(IN_PROGRESS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send_retried()
            .await;
        let record = Record {
            pk,
            sk,
            claim: claim.clone(),
            expires_at,
        };
        let old = match result {
            Ok(_) => return Ok(Claim::Acquired(record)),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => e
                    .item()
                    .cloned()
                    .ok_or_else(|| StoreError::internal("condition failed without the item"))?,
                _ => return Err(db_error("PutItem")(err)),
            },
        };
        let old: RecordItem = read(old)?;
        // Our own claim, whose first answer was lost and the put retried.
        if old.claim == claim {
            return Ok(Claim::Acquired(record));
        }
        if old.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        let corrupt = |name: &str| StoreError::Corrupt(name.into());
        match old.status.as_str() {
            COMPLETED => Ok(Claim::Replay {
                status: old
                    .response_status
                    .ok_or_else(|| corrupt("response_status"))?,
                body: old.response_body.ok_or_else(|| corrupt("response_body"))?,
            }),
            _ => Ok(Claim::InProgress {
                until_ms: old
                    .in_progress_until
                    .ok_or_else(|| corrupt("in_progress_until"))?,
            }),
        }
    }

    /// Completes a claim on its own (when the request wrote nothing it could join).
    pub async fn complete(&self, record: &Record, status: u16, body: &str) -> StoreResult<()> {
        super::transact(self.db, [record.complete(self.table, status, body)?])
            .await
            .map_err(db_error("TransactWriteItems"))?;
        Ok(())
    }

    /// Gives a claim up after a failed request, so the key can be used again. A claim that is
    /// no longer ours is left alone.
    pub async fn release(&self, record: &Record) -> StoreResult<()> {
        let result = self
            .db
            .delete_item()
            .table_name(self.table)
            .set_key(Some(key_item((record.pk.clone(), record.sk.clone()))))
            .condition_expression("claim = :claim AND #st = :running")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":claim", s(&record.claim))
            .expression_attribute_values(":running", s(IN_PROGRESS))
            .send_retried()
            .await;
        conditional(result, "DeleteItem")?;
        Ok(())
    }
}
