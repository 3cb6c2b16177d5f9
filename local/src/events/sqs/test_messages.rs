//! SQS messages for the unit tests, as ReceiveMessage returns them.

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};

/// A message with the system attributes Lambda passes on.
pub(super) fn message(id: &str, body: &str) -> Message {
    Message::builder()
        .message_id(id)
        .receipt_handle(format!("rh-{id}"))
        .body(body)
        .md5_of_body("md5")
        .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
        .attributes(MessageSystemAttributeName::SentTimestamp, "1520621625029")
        .attributes(MessageSystemAttributeName::SenderId, "AIDAEXAMPLE")
        .attributes(
            MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
            "1520621634884",
        )
        .build()
}
