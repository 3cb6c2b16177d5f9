//! Moving dead-lettered SQS messages back to their queue after a fix (`rota-admin redrive`).
//!
//! Round trips per batch of up to 10: a ReceiveMessage on the dead-letter queue, a
//! SendMessageBatch to the queue, then a DeleteMessageBatch on the dead-letter queue. Each
//! batch is sent before it is deleted, so a failure part-way leaves copies, never losses — and
//! the workers' idempotency keys make copies harmless. Every call goes through the one retry
//! policy ([`crate::retry`]), under the caller's budget.

use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchError;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageError;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};

use crate::SendRetried;

/// Why a redrive stopped (the messages moved before it stay moved).
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("receiving from the dead-letter queue failed")]
    Receive(#[source] SdkError<ReceiveMessageError>),
    #[error("a message could not be put into a batch")]
    Entry(#[source] aws_sdk_sqs::error::BuildError),
    #[error("sending back to the queue failed")]
    Send(#[source] SdkError<SendMessageBatchError>),
    #[error("{0} messages could not be sent back; they stay in the DLQ")]
    NotSent(usize),
    #[error("deleting the moved messages from the dead-letter queue failed")]
    Delete(#[source] SdkError<DeleteMessageBatchError>),
}

/// Moves every message from the dead-letter queue `from` back to `to`; how many it moved.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    from: &str,
    to: &str,
) -> Result<usize, RedriveError> {
    let mut moved = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send_retried()
            .await
            .map_err(RedriveError::Receive)?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(moved);
        }
        // One id per message in both batches: the send's and the delete's.
        let mut sends = Vec::with_capacity(messages.len());
        let mut deletes = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            let id = i.to_string();
            let send = SendMessageBatchRequestEntry::builder()
                .id(&id)
                .message_body(message.body().unwrap_or_default());
            sends.push(send.build().map_err(RedriveError::Entry)?);
            let delete = DeleteMessageBatchRequestEntry::builder()
                .id(id)
                .set_receipt_handle(message.receipt_handle().map(str::to_owned));
            // (A message without a receipt handle cannot be deleted: it is received again.)
            deletes.extend(delete.build().ok());
        }
        let sent = sqs
            .send_message_batch()
            .queue_url(to)
            .set_entries(Some(sends))
            .send_retried()
            .await
            .map_err(RedriveError::Send)?;
        if !sent.failed().is_empty() {
            return Err(RedriveError::NotSent(sent.failed().len()));
        }
        sqs.delete_message_batch()
            .queue_url(from)
            .set_entries(Some(deletes))
            .send_retried()
            .await
            .map_err(RedriveError::Delete)?;
        moved += messages.len();
    }
}
