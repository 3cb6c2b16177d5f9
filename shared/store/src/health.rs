//! The readiness probe's one read: a GetItem on a key that never exists (`PK = SK =
//! HEALTH`), the cheapest call that proves the table answers, needing only GetItem. Sent once,
//! outside the retry policy: the probe reports what the table says now.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::get_item::GetItemError;

use super::s;

/// One GetItem round trip on the table, no retry; the SDK's error as it came.
pub async fn probe(db: &Client, table: &str) -> Result<(), SdkError<GetItemError>> {
    db.get_item()
        .table_name(table)
        .key("PK", s("HEALTH"))
        .key("SK", s("HEALTH"))
        .send()
        .await
        .map(|_| ())
}
