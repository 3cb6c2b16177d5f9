//! Data access, one module per aggregate. Keys and access patterns are listed in
//! `docs/data-model.md`; every request-path read is a GetItem/Query on a named key or index,
//! never a Scan.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use crate::error::ApiError;

pub mod activity;
pub mod comments;
pub mod notifications;
pub mod posts;
pub mod roadmaps;
pub mod sessions;
pub mod users;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(name: &str) -> ApiError {
    ApiError::Internal(format!("stored item lacks a valid {name}"))
}

pub fn get_s(item: &Item, name: &str) -> Result<String, ApiError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(corrupt(name)),
    }
}

pub fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T, ApiError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}

/// An RFC 3339 time attribute.
pub fn get_time(item: &Item, name: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    chrono::DateTime::parse_from_rfc3339(&get_s(item, name)?)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| corrupt(name))
}

pub fn get_bool(item: &Item, name: &str) -> Result<bool, ApiError> {
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
) -> Result<Option<Item>, ApiError> {
    let out = db
        .get_item()
        .table_name(table)
        .key("PK", s(pk))
        .key("SK", s(sk))
        .consistent_read(consistent)
        .send()
        .await
        .map_err(db_error("GetItem"))?;
    Ok(out.item)
}

/// A transaction write that creates `item` and cancels the transaction if its key exists.
pub fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, ApiError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(ApiError::internal)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Logs the SDK error with its details (never sent to clients) and maps it to a 500, or to
/// 503 when DynamoDB throttled us or did not answer.
pub fn db_error<E>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_dynamodb::error::SdkError<E>) -> ApiError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
{
    move |err| {
        use aws_sdk_dynamodb::error::SdkError;
        let code = aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&err)
            .unwrap_or("")
            .to_owned();
        tracing::error!(operation, code = %code, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "dynamodb call failed");
        let throttled = matches!(
            code.as_str(),
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
        );
        match err {
            _ if throttled => ApiError::Unavailable("the database"),
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
                ApiError::Unavailable("the database")
            }
            _ => ApiError::Internal(format!("dynamodb {operation} failed: {code}")),
        }
    }
}

/// Whether a TransactWriteItems was cancelled and why, per item (`None` = not cancelled).
pub fn cancellation_codes(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
) -> Option<Vec<String>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

/// Whether an UpdateItem/PutItem failed only because its condition did not hold.
pub fn is_condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    err: &aws_sdk_dynamodb::error::SdkError<E>,
) -> bool {
    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(err)
        == Some("ConditionalCheckFailedException")
}
