//! Data access, one module per aggregate, behind types that know nothing of HTTP: each
//! returns domain values or a [`StoreError`]. Keys and access patterns are listed in
//! `docs/data-model.md`; every request-path read is a GetItem/Query on a named key or index,
//! never a Scan.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

pub mod activity;
pub mod comments;
pub mod counters;
pub mod health;
pub mod idempotency;
pub mod likes;
pub mod mail;
pub mod notifications;
pub mod posts;
pub mod retry;
pub mod roadmaps;
pub mod sessions;
pub mod stats;
pub mod users;

pub use retry::SendRetried;

pub type Item = HashMap<String, AttributeValue>;

/// What went wrong in the data layer, in its own terms; the HTTP edge maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Concurrent transactions kept conflicting on an item until the retry budget ran out.
    #[error("{0}: transaction conflicts outlasted the retry budget")]
    Conflict(&'static str),
    /// DynamoDB kept throttling until the retry budget ran out.
    #[error("{0}: throttled until the retry budget ran out")]
    Throttled(&'static str),
    /// DynamoDB did not answer (timeouts, connection failures, 5xx) within the budget.
    #[error("{0}: unavailable ({1})")]
    Unavailable(&'static str, String),
    /// A write's condition did not hold where the caller did not expect it to.
    #[error("{0}: condition failed")]
    ConditionFailed(&'static str),
    /// A stored item does not have the shape this code writes.
    #[error("stored item lacks a valid {0}")]
    Corrupt(String),
    /// Anything else: a request we built wrongly, an unexpected answer.
    #[error("{0}")]
    Internal(String),
}

impl StoreError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The configuration of the DynamoDB client every function uses, built once per container:
/// the SDK's own retries off (the data layer has one policy, in [`retry`]) and timeouts on
/// connecting and on each attempt, so a stuck call never runs to the function's timeout.
/// Callers may add interceptors (diagnostics) before building the client.
pub fn dynamodb_config(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(500))
        .operation_attempt_timeout(std::time::Duration::from_millis(1500))
        .operation_timeout(std::time::Duration::from_millis(1500))
        .build();
    aws_sdk_dynamodb::config::Builder::from(sdk)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
}

/// The DynamoDB client as [`dynamodb_config`] describes it.
pub fn dynamodb_client(sdk: &aws_config::SdkConfig) -> Client {
    Client::from_conf(dynamodb_config(sdk).build())
}

/// The SQS client of the reminder functions: like the DynamoDB client, the SDK's own retries
/// off ([`retry`] is the one policy) and bounded attempts.
pub fn sqs_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(1))
        .operation_attempt_timeout(std::time::Duration::from_secs(5))
        .build();
    let conf = aws_sdk_sqs::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(timeouts);
    aws_sdk_sqs::Client::from_conf(conf.build())
}

/// Every page of `query` (each page retried under the request's budget, like every call):
/// the SDK's own paginator would send without the retry policy.
pub async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    mut each: impl FnMut(aws_sdk_dynamodb::operation::query::QueryOutput) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut start = None;
    loop {
        let out = query
            .clone()
            .set_exclusive_start_key(start)
            .send_retried()
            .await
            .map_err(db_error("Query"))?;
        let next = out.last_evaluated_key.clone().filter(|key| !key.is_empty());
        each(out)?;
        match next {
            Some(key) => start = Some(key),
            None => return Ok(()),
        }
    }
}

/// How many items `query` matches, counted by DynamoDB (`Select::Count`) over every page.
pub async fn count_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> StoreResult<u64> {
    let mut total = 0u64;
    let query = query.select(aws_sdk_dynamodb::types::Select::Count);
    query_all(query, |out| {
        total += out.count() as u64;
        Ok(())
    })
    .await?;
    Ok(total)
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(name: &str) -> StoreError {
    StoreError::Corrupt(name.to_owned())
}

pub fn get_s(item: &Item, name: &str) -> StoreResult<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt(name)),
    }
}

pub fn get_n<T: FromStr>(item: &Item, name: &str) -> StoreResult<T> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}

/// An RFC 3339 time attribute.
pub fn get_time(item: &Item, name: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(&get_s(item, name)?)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| corrupt(name))
}

pub fn get_bool(item: &Item, name: &str) -> StoreResult<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        _ => Err(corrupt(name)),
    }
}

/// One item by key (strongly consistent when `consistent`: a caller reads its own writes).
pub async fn get_item(
    db: &Client,
    table: &str,
    pk: String,
    sk: String,
    consistent: bool,
) -> StoreResult<Option<Item>> {
    let out = db
        .get_item()
        .table_name(table)
        .key("PK", s(pk))
        .key("SK", s(sk))
        .consistent_read(consistent)
        .send_retried()
        .await
        .map_err(db_error("GetItem"))?;
    Ok(out.item)
}

/// A transaction write that creates `item` and cancels the transaction if its key exists.
pub fn put_new(table: &str, item: Item) -> StoreResult<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(StoreError::internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// What a call that failed after the retry policy means: transient causes keep their kind
/// (the edge answers 503 + Retry-After), the rest is internal. The SDK's details are logged
/// here and never reach a client.
pub fn db_error<E>(operation: &'static str) -> impl FnOnce(SdkError<E>) -> StoreError
where
    E: std::error::Error
        + ProvideErrorMetadata
        + retry::CancellationReasons
        + Send
        + Sync
        + 'static,
{
    move |err| {
        let code = ProvideErrorMetadata::code(&err).unwrap_or("").to_owned();
        let transient = retry::classify(&err);
        let detail = aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string();
        match transient {
            Some(_) => {
                tracing::warn!(operation, code = %code, error = %detail, "dynamodb call failed")
            }
            None => {
                tracing::error!(operation, code = %code, error = %detail, "dynamodb call failed")
            }
        }
        match transient {
            Some(retry::Transient::Conflict) => StoreError::Conflict(operation),
            Some(retry::Transient::Throttled) => StoreError::Throttled(operation),
            Some(retry::Transient::Unavailable) => StoreError::Unavailable(operation, code),
            None if code == "ConditionalCheckFailedException" => {
                StoreError::ConditionFailed(operation)
            }
            None => StoreError::Internal(format!("dynamodb {operation} failed: {code}")),
        }
    }
}

/// Whether a TransactWriteItems was cancelled and why, per item (`None` = not cancelled).
pub fn cancellation_codes(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
) -> Option<Vec<String>> {
    use retry::CancellationReasons;
    err.as_service_error()?.cancellation_reasons()
}

/// Whether an UpdateItem/PutItem failed only because its condition did not hold.
pub fn is_condition_failed<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    ProvideErrorMetadata::code(err) == Some("ConditionalCheckFailedException")
}

/// How a creating transaction ended whose first `own` items are `attribute_not_exists` puts of
/// new ids and whose others are extra writes (an idempotency completion): `true` when written,
/// `false` when an id was taken (retry with a new one), `ConditionFailed` when an extra write's
/// condition failed (its claim is no longer ours).
pub fn created(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
    >,
    own: usize,
) -> StoreResult<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(err) => match cancellation_codes(&err) {
            Some(codes)
                if codes
                    .iter()
                    .take(own)
                    .any(|c| c == "ConditionalCheckFailed") =>
            {
                Ok(false)
            }
            Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                Err(StoreError::ConditionFailed("TransactWriteItems"))
            }
            _ => Err(db_error("TransactWriteItems")(err)),
        },
    }
}

/// An item's `version` (0 when it has none: written before versions, or never updated).
pub fn get_version(item: &Item) -> StoreResult<u64> {
    match item.get("version") {
        None => Ok(0),
        Some(_) => get_n(item, "version"),
    }
}

/// The condition of a write based on version `read` of an item (the item as read still
/// exists and nobody wrote it since), `and` another condition: an attempt abandoned at its
/// timeout that lands after a newer write finds another version and is refused.
pub trait Versioned: Sized {
    fn versioned_and(self, read: u64, and: Option<&str>) -> Self;

    fn versioned(self, read: u64) -> Self {
        self.versioned_and(read, None)
    }
}

macro_rules! versioned {
    ($($builder:ty),*) => {$(
        impl Versioned for $builder {
            fn versioned_and(self, read: u64, and: Option<&str>) -> Self {
                let own = if read == 0 {
                    "attribute_exists(PK) AND attribute_not_exists(version)"
                } else {
                    "version = :read_version"
                };
                let condition = match and {
                    Some(and) => format!("{own} AND ({and})"),
                    None => own.to_owned(),
                };
                let this = self.condition_expression(condition);
                if read == 0 {
                    this
                } else {
                    this.expression_attribute_values(":read_version", n(read))
                }
            }
        }
    )*};
}

versioned!(
    aws_sdk_dynamodb::types::builders::UpdateBuilder,
    aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder
);
