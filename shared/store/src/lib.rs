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
pub mod dashboard;
pub mod health;
pub mod idempotency;
pub mod item;
#[cfg(test)]
mod item_tests;
pub mod likes;
pub mod mail;
pub mod notifications;
pub mod posts;
pub mod queue;
pub mod redrive;
pub mod retry;
pub mod retry_quota;
pub mod roadmaps;
pub mod sessions;
pub mod stats;
pub mod users;

pub use retry::SendRetried;

pub type Item = HashMap<String, AttributeValue>;

/// An item's key: (`PK`, `SK`).
pub type Key = (String, String);

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
    /// An entity and its item do not map onto each other (serde_dynamo names the attribute).
    #[error("an item does not map to its entity")]
    Mapping(#[from] serde_dynamo::Error),
    /// Anything else: a request we built wrongly, an unexpected answer (the cause kept as the
    /// source, for the log).
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }
}

/// A DynamoDB call that failed for a reason no retry changes, with the SDK's error as source.
#[derive(Debug, thiserror::Error)]
#[error("dynamodb {operation} failed: {code}")]
pub struct DynamoFailed {
    operation: &'static str,
    code: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
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

/// A Query of the partition `pk` (its key condition names it `:pk`).
pub fn partition_query(
    db: &Client,
    table: &str,
    pk: String,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    db.query()
        .table_name(table)
        .expression_attribute_values(":pk", s(pk))
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

/// A time as the items store it (`2026-01-02T03:04:05.678Z`), and as the API shows it.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    item::millis::format(&t)
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

pub fn get_bool(item: &Item, name: &str) -> StoreResult<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        _ => Err(corrupt(name)),
    }
}

/// A key's attributes (`PK`, `SK`), as an item or a key of a request.
pub fn key_item((pk, sk): Key) -> Item {
    Item::from([("PK".into(), s(pk)), ("SK".into(), s(sk))])
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
        .set_key(Some(key_item((pk, sk))))
        .consistent_read(consistent)
        .send_retried()
        .await
        .map_err(db_error("GetItem"))?;
    Ok(out.item)
}

/// An UpdateItem of the item at `key` (its expressions added by the caller).
pub fn update_item(
    db: &Client,
    table: &str,
    key: Key,
) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
    db.update_item()
        .table_name(table)
        .set_key(Some(key_item(key)))
}

/// The same as a write of a transaction (built with [`write_update`]).
pub fn update(table: &str, key: Key) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    aws_sdk_dynamodb::types::Update::builder()
        .table_name(table)
        .set_key(Some(key_item(key)))
}

/// A transaction write of `update`.
pub fn write_update(
    update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
) -> StoreResult<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(StoreError::internal)?)
        .build())
}

/// A transaction write that deletes the item at `key` (cancelling the transaction when it does
/// not exist, if `must_exist`).
pub fn write_delete(table: &str, key: Key, must_exist: bool) -> StoreResult<TransactWriteItem> {
    let mut delete = aws_sdk_dynamodb::types::Delete::builder()
        .table_name(table)
        .set_key(Some(key_item(key)));
    if must_exist {
        delete = delete.condition_expression("attribute_exists(PK)");
    }
    Ok(TransactWriteItem::builder()
        .delete(delete.build().map_err(StoreError::internal)?)
        .build())
}

/// A transaction write that puts `item`, under `condition` if any.
pub fn write_put(
    table: &str,
    item: Item,
    condition: Option<&str>,
) -> StoreResult<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(StoreError::internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A transaction write that creates `item` and cancels the transaction if its key exists.
pub fn put_new(table: &str, item: Item) -> StoreResult<TransactWriteItem> {
    write_put(table, item, Some("attribute_not_exists(PK)"))
}

/// How a single-item conditional write ended: its output, `None` when its condition did not
/// hold (each caller says what that means after a retry), or the error.
pub fn conditional<O, E>(
    result: Result<O, SdkError<E>>,
    operation: &'static str,
) -> StoreResult<Option<O>>
where
    E: OperationError,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err) if is_condition_failed(&err) => Ok(None),
        Err(err) => Err(db_error(operation)(err)),
    }
}

/// One TransactWriteItems of `writes`, in order, under the retry policy.
pub async fn transact(
    db: &Client,
    writes: impl IntoIterator<Item = TransactWriteItem>,
) -> TransactResult {
    db.transact_write_items()
        .set_transact_items(Some(writes.into_iter().collect()))
        .send_retried()
        .await
}

type TransactResult = Result<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
    SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
>;

/// A TransactWriteItems cancelled because conditions failed: which of its writes' did.
pub struct Refused {
    failed: Vec<bool>,
    err: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
}

impl Refused {
    /// Whether the condition of write `i` (in request order) failed.
    pub fn at(&self, i: usize) -> bool {
        self.failed.get(i).copied().unwrap_or(false)
    }

    /// Whether the condition of one of the first `n` writes failed.
    pub fn before(&self, n: usize) -> bool {
        self.failed.iter().take(n).any(|f| *f)
    }

    /// Per write, whether its condition failed.
    pub fn failed(&self) -> &[bool] {
        &self.failed
    }

    /// A refusal the caller did not expect: an error like any other failed call.
    pub fn unexpected(self) -> StoreError {
        db_error("TransactWriteItems")(self.err)
    }
}

/// How a TransactWriteItems ended: `committed`, what `refused` makes of a cancellation by
/// failed conditions, or the error (any other failure, a cancellation for other reasons).
pub fn transacted<T>(
    result: TransactResult,
    committed: T,
    refused: impl FnOnce(Refused) -> StoreResult<T>,
) -> StoreResult<T> {
    let err = match result {
        Ok(_) => return Ok(committed),
        Err(err) => err,
    };
    match cancellation_codes(&err) {
        Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => refused(Refused {
            failed: codes
                .iter()
                .map(|c| c == "ConditionalCheckFailed")
                .collect(),
            err,
        }),
        _ => Err(db_error("TransactWriteItems")(err)),
    }
}

/// The error of a DynamoDB (or SQS) operation, as the data layer reads it.
pub trait OperationError:
    std::error::Error + ProvideErrorMetadata + retry::CancellationReasons + Send + Sync + 'static
{
}

impl<E> OperationError for E where
    E: std::error::Error
        + ProvideErrorMetadata
        + retry::CancellationReasons
        + Send
        + Sync
        + 'static
{
}

/// What a call that failed after the retry policy means: transient causes keep their kind
/// (the edge answers 503 + Retry-After), the rest is internal. The SDK's details are logged
/// here and never reach a client.
pub fn db_error<E>(operation: &'static str) -> impl FnOnce(SdkError<E>) -> StoreError
where
    E: OperationError,
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
            None => StoreError::internal(DynamoFailed {
                operation,
                code,
                source: Box::new(err),
            }),
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
pub fn created(result: TransactResult, own: usize) -> StoreResult<bool> {
    transacted(result, true, |refused| {
        if refused.before(own) {
            Ok(false)
        } else {
            Err(StoreError::ConditionFailed("TransactWriteItems"))
        }
    })
}

/// The expression setters the two update builders (UpdateItem and a transaction's Update)
/// share, so one function can fill either.
pub trait UpdateRequest: Sized {
    fn update_expression(self, expression: impl Into<String>) -> Self;
    fn condition_expression(self, expression: impl Into<String>) -> Self;
    fn expression_attribute_names(self, k: impl Into<String>, v: impl Into<String>) -> Self;
    fn expression_attribute_values(self, k: impl Into<String>, v: AttributeValue) -> Self;
}

macro_rules! update_request {
    ($($builder:ty),*) => {$(
        impl UpdateRequest for $builder {
            fn update_expression(self, expression: impl Into<String>) -> Self {
                self.update_expression(expression)
            }
            fn condition_expression(self, expression: impl Into<String>) -> Self {
                self.condition_expression(expression)
            }
            fn expression_attribute_names(self, k: impl Into<String>, v: impl Into<String>) -> Self {
                self.expression_attribute_names(k, v)
            }
            fn expression_attribute_values(self, k: impl Into<String>, v: AttributeValue) -> Self {
                self.expression_attribute_values(k, v)
            }
        }
    )*};
}

update_request!(
    aws_sdk_dynamodb::types::builders::UpdateBuilder,
    aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder
);

/// The condition of a write based on version `read` of an item (the item as read still
/// exists and nobody wrote it since), `and` another condition: an attempt abandoned at its
/// timeout that lands after a newer write finds another version and is refused.
pub trait Versioned: UpdateRequest {
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

    fn versioned(self, read: u64) -> Self {
        self.versioned_and(read, None)
    }
}

impl<T: UpdateRequest> Versioned for T {}
