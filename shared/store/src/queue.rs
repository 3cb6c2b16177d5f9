//! Queueing messages on SQS: the reminder scheduler's batches of due users.
//!
//! Round trips: one SendMessageBatch per 10 bodies (SQS's limit per call); the entries SQS
//! reports failed are sent again, at most [`ATTEMPTS`] times per group. Every call goes through
//! the one retry policy ([`crate::retry`]), under the caller's budget.

use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::SendRetried;

/// SQS's most entries per SendMessageBatch.
const BATCH: usize = 10;
/// How many times a group's failed entries are sent before the whole call fails.
pub const ATTEMPTS: usize = 3;

/// Why queueing stopped (the groups sent before it stay queued).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("a message could not be put into a batch")]
    Entry(#[source] aws_sdk_sqs::error::BuildError),
    #[error("SendMessageBatch failed")]
    Send(#[source] Box<SdkError<SendMessageBatchError>>),
    #[error("{0} messages could not be queued after {ATTEMPTS} attempts")]
    NotSent(usize),
}

/// Sends every body to `queue`, 10 per SendMessageBatch.
pub async fn send_all(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    bodies: &[String],
) -> Result<(), QueueError> {
    for group in bodies.chunks(BATCH) {
        let mut pending: Vec<(String, &String)> = group
            .iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), b))
            .collect();
        for attempt in 1..=ATTEMPTS {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body.as_str())
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(QueueError::Entry)?;
            let out = sqs
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send_retried()
                .await
                .map_err(|e| QueueError::Send(Box::new(e)))?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            pending.retain(|(id, _)| failed.contains(&id.as_str()));
            if pending.is_empty() {
                break;
            }
            if attempt == ATTEMPTS {
                return Err(QueueError::NotSent(pending.len()));
            }
        }
    }
    Ok(())
}
