//! SQS → Lambda event-source mappings, with Lambda's semantics.
//!
//! For each `Type: SQS` event, pollers long-poll the queue with the AWS SDK (ReceiveMessage,
//! `WaitTimeSeconds` 20, at most 10 messages per call, repeated to fill `BatchSize` within
//! `MaximumBatchingWindowInSeconds`, all system and message attributes), build the event Lambda
//! builds ([`build_event`]) and invoke the function synchronously. Then, as Lambda does:
//!
//! - function error, timeout or crash: nothing is deleted; the messages reappear after the
//!   queue's visibility timeout, and the queue's `RedrivePolicy` moves them to the dead-letter
//!   queue after `maxReceiveCount` receives (moto does this on receive, as SQS does);
//! - success with `ReportBatchItemFailures` and `{"batchItemFailures":[{"itemIdentifier": id}]}`:
//!   every other message is deleted (DeleteMessageBatch), the failed ones stay;
//! - success otherwise: every message is deleted.
//!
//! A response that does not follow the batch-response format (with `ReportBatchItemFailures`)
//! fails the whole batch ([`batch_result`]). One poller runs per mapping, or
//! `ScalingConfig.MaximumConcurrency` pollers (each with one batch in flight), capped at the
//! Lambda service's instances per function. Each batch is logged (function, size, failures).
//!
//! SQS failing (a fault profile's `sqs` section, or a real outage) never stops a poller or
//! loses a message: a failed ReceiveMessage is retried after a short [`Backoff`]; a failure
//! while filling a batch hands on what was already received; a failed DeleteMessageBatch (or
//! entry of it) leaves those messages to come back after the visibility timeout, as in AWS; a
//! call that hangs is given up after a timeout; a poller that panics is restarted.

mod backoff;
mod event;
mod mapping;
mod poller;
#[cfg(test)]
mod test_messages;

pub use backoff::Backoff;
pub use event::{BatchResult, batch_result, build_event};
pub use mapping::{SqsMapping, mappings_from_template};
pub use poller::{MAX_MESSAGES_PER_RECEIVE, MAX_WAIT_SECS, SqsPollers};
