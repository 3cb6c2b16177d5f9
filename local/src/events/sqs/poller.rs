//! [`SqsPollers`]: long-poll each mapping's queue, gather batches, invoke the function, delete
//! what succeeded; keep going through SQS failures and panics.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use bytes::Bytes;
use tokio::sync::watch;

use super::backoff::Backoff;
use super::event::{BatchResult, batch_result, build_event};
use super::mapping::SqsMapping;
use crate::events::tasks::{Late, TaskGroup, stopped_within};
use crate::lambda_service::{LambdaService, MAX_PAYLOAD_BYTES};

/// SQS's longest long poll.
pub const MAX_WAIT_SECS: i32 = 20;
/// SQS's most messages per ReceiveMessage.
pub const MAX_MESSAGES_PER_RECEIVE: u32 = 10;
/// How long [`SqsPollers::stop`] lets batches in flight finish (invoke, then delete).
const STOP_GRACE: Duration = Duration::from_secs(10);
/// A ReceiveMessage still unanswered this long after its long poll is given up (the messages
/// it may have taken come back after the visibility timeout).
const RECEIVE_SLACK: Duration = Duration::from_secs(10);
/// A DeleteMessageBatch unanswered this long is given up (its messages come back).
const DELETE_TIMEOUT: Duration = Duration::from_secs(30);
/// Waits between failed ReceiveMessage calls: short, since SQS errors are mostly transient.
const BACKOFF_INITIAL: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The running pollers of every mapping.
pub struct SqsPollers {
    tasks: TaskGroup,
}

struct Poller {
    mapping: SqsMapping,
    lambda: Arc<LambdaService>,
    sqs: aws_sdk_sqs::Client,
}

impl SqsPollers {
    /// Starts the pollers: `mapping.concurrency` per mapping, at most `max_concurrency`. Looks
    /// each queue's URL up first (GetQueueUrl), keeping the derived one if that fails.
    ///
    /// Like Lambda's event-source mappings, the pollers receive and delete with the function's
    /// execution role (its `credentials`, when the stack runs with IAM), and the mapping is
    /// checked as Lambda checks it when it is created: GetQueueAttributes with that role.
    pub async fn start(
        lambda: Arc<LambdaService>,
        mappings: Vec<SqsMapping>,
        sdk_config: &SdkConfig,
        max_concurrency: usize,
    ) -> Self {
        let sqs = aws_sdk_sqs::Client::new(sdk_config);
        let mut tasks = TaskGroup::new();
        for mut mapping in mappings {
            let source = format!("SQS mapping {}", mapping.label());
            if !crate::events::lambda_runs(&lambda, &source, &mapping.function) {
                continue;
            }
            match sqs
                .get_queue_url()
                .queue_name(&mapping.queue_name)
                .send()
                .await
            {
                Ok(out) => {
                    if let Some(url) = out.queue_url {
                        mapping.queue_url = url;
                    }
                }
                Err(e) => tracing::warn!(
                    "SQS mapping {}: cannot look up queue {}: {}; polling {}",
                    mapping.label(),
                    mapping.queue_name,
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                    mapping.queue_url
                ),
            }
            let sqs = match lambda
                .function(&mapping.function)
                .and_then(|f| f.credentials.as_ref())
            {
                Some(role) => {
                    let config = aws_sdk_sqs::config::Builder::from(sdk_config)
                        .credentials_provider(role.provider())
                        .build();
                    let as_role = aws_sdk_sqs::Client::from_conf(config);
                    check_role(&as_role, &mapping).await;
                    as_role
                }
                None => sqs.clone(),
            };
            let pollers = mapping.concurrency.min(max_concurrency.max(1));
            if pollers < mapping.concurrency {
                tracing::info!(
                    "SQS mapping {}: MaximumConcurrency {} capped at {pollers} (--max-instances)",
                    mapping.label(),
                    mapping.concurrency
                );
            }
            tracing::info!(
                "SQS mapping {}: {} → {} (batch size {}, window {} s, {}{pollers} poller{})",
                mapping.label(),
                mapping.queue_name,
                mapping.function,
                mapping.batch_size,
                mapping.batching_window.as_secs(),
                if mapping.report_batch_item_failures {
                    "ReportBatchItemFailures, "
                } else {
                    ""
                },
                if pollers == 1 { "" } else { "s" }
            );
            let poller = Arc::new(Poller {
                mapping,
                lambda: lambda.clone(),
                sqs,
            });
            for _ in 0..pollers {
                tasks.spawn(poller.clone().supervise(tasks.signal()));
            }
        }
        Self { tasks }
    }

    /// Number of pollers.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are no pollers.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops polling. Batches in flight get a few seconds to finish (their messages are then
    /// deleted as usual); messages received but not yet handed to the function reappear after
    /// the visibility timeout.
    pub async fn stop(self) {
        self.tasks.stop(STOP_GRACE, Late::Abort).await;
    }
}

/// What Lambda checks when an SQS mapping is created: the role may read the queue's
/// attributes (CreateEventSourceMapping fails otherwise). Logged as an error here: the pollers
/// then meet AccessDenied on every receive, as the mapping would never have existed.
async fn check_role(sqs: &aws_sdk_sqs::Client, mapping: &SqsMapping) {
    let checked = sqs
        .get_queue_attributes()
        .queue_url(&mapping.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
        .send()
        .await;
    if let Err(e) = checked {
        tracing::error!(
            "SQS mapping {}: the execution role of {} cannot read queue {} (AWS would refuse \
             to create this mapping): {}",
            mapping.label(),
            mapping.function,
            mapping.queue_name,
            aws_sdk_sqs::error::DisplayErrorContext(e)
        );
    }
}

impl Poller {
    /// Runs the poller until stopped, restarting it if it panics: a mapping never stops on
    /// its own. The batch a panicking poller held comes back after the visibility timeout.
    async fn supervise(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        use futures_util::FutureExt as _;
        loop {
            let run = std::panic::AssertUnwindSafe(self.clone().run(stop.clone())).catch_unwind();
            if run.await.is_ok() {
                return;
            }
            tracing::error!(
                "SQS mapping {}: the poller panicked; restarting it",
                self.mapping.label()
            );
            if stopped_within(Duration::from_secs(1), &mut stop).await {
                return;
            }
        }
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX);
        loop {
            if *stop.borrow() {
                return;
            }
            let gathered = gather_batch(
                &self.mapping.label(),
                self.mapping.batch_size as usize,
                self.mapping.batching_window,
                &mut stop,
                |want, wait| self.receive(want, wait),
            )
            .await;
            let messages = match gathered {
                Ok(m) => {
                    if backoff.failures() > 0 {
                        tracing::info!(
                            "SQS mapping {}: receiving again after {} failed attempt(s)",
                            self.mapping.label(),
                            backoff.failures()
                        );
                    }
                    backoff.reset();
                    m
                }
                Err(e) => {
                    let wait = backoff.next_wait();
                    // One warning per streak of failures; the recovery is logged too.
                    if backoff.failures() == 1 {
                        tracing::warn!(
                            "SQS mapping {}: ReceiveMessage on {} failed: {e}; retrying in {} ms",
                            self.mapping.label(),
                            self.mapping.queue_url,
                            wait.as_millis()
                        );
                    }
                    if stopped_within(wait, &mut stop).await {
                        return;
                    }
                    continue;
                }
            };
            if !messages.is_empty() {
                self.process(messages).await;
            }
        }
    }

    async fn receive(&self, want: usize, wait_secs: i32) -> Result<Vec<Message>, String> {
        let max = want.clamp(1, MAX_MESSAGES_PER_RECEIVE as usize) as i32;
        let call = self
            .sqs
            .receive_message()
            .queue_url(&self.mapping.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send();
        let limit = Duration::from_secs(u64::try_from(wait_secs).unwrap_or(0)) + RECEIVE_SLACK;
        let out = tokio::time::timeout(limit, call)
            .await
            .map_err(|_| format!("no answer within {} s", limit.as_secs()))?
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(out.messages.unwrap_or_default())
    }

    async fn process(&self, messages: Vec<Message>) {
        let m = &self.mapping;
        let ids: Vec<String> = messages
            .iter()
            .map(|msg| msg.message_id().unwrap_or_default().to_string())
            .collect();
        let event = build_event(&messages, &m.queue_arn);
        let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        let started = Instant::now();
        let result = match self.lambda.invoke(&m.function, payload).await {
            Ok(out) => batch_result(&out.payload, m.report_batch_item_failures, &ids),
            Err(e) => BatchResult::Failure(e.to_string()),
        };
        let ms = started.elapsed().as_millis();
        let n = messages.len();
        let to_delete: Vec<&Message> = match &result {
            BatchResult::Success => {
                tracing::info!(
                    "SQS {}: batch of {n} from {}: ok in {ms} ms, 0 failures",
                    m.function,
                    m.queue_name
                );
                messages.iter().collect()
            }
            BatchResult::PartialFailure(failed) => {
                tracing::info!(
                    "SQS {}: batch of {n} from {}: {} item failure(s) in {ms} ms ({}); deleting \
                     the other {}",
                    m.function,
                    m.queue_name,
                    failed.len(),
                    failed.join(", "),
                    n - failed.len()
                );
                messages
                    .iter()
                    .zip(&ids)
                    .filter(|(_, id)| !failed.contains(id))
                    .map(|(msg, _)| msg)
                    .collect()
            }
            BatchResult::Failure(reason) => {
                tracing::warn!(
                    "SQS {}: batch of {n} from {}: failed in {ms} ms ({reason}); all {n} return \
                     to the queue after its visibility timeout",
                    m.function,
                    m.queue_name
                );
                Vec::new()
            }
        };
        self.delete(&to_delete).await;
    }

    /// Deletes the messages (in batches of 10). What cannot be deleted is only logged: it
    /// comes back after the visibility timeout and is handled again, as in AWS.
    async fn delete(&self, messages: &[&Message]) {
        let m = &self.mapping;
        for chunk in messages.chunks(MAX_MESSAGES_PER_RECEIVE as usize) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, msg)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(msg.receipt_handle().unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            let call = self
                .sqs
                .delete_message_batch()
                .queue_url(&m.queue_url)
                .set_entries(Some(entries))
                .send();
            let failure = match tokio::time::timeout(DELETE_TIMEOUT, call).await {
                Ok(Ok(out)) => {
                    for f in out.failed() {
                        // Entry ids are indexes into the chunk.
                        let id = f
                            .id()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| chunk.get(i))
                            .and_then(|msg| msg.message_id())
                            .unwrap_or("?");
                        tracing::warn!(
                            "SQS {}: could not delete message {id} from {}: {} {}; it comes back \
                             after the visibility timeout",
                            m.function,
                            m.queue_name,
                            f.code(),
                            f.message().unwrap_or_default()
                        );
                    }
                    continue;
                }
                Ok(Err(e)) => aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                Err(_) => format!("no answer within {} s", DELETE_TIMEOUT.as_secs()),
            };
            tracing::warn!(
                "SQS {}: DeleteMessageBatch on {} failed: {failure}; its {} message(s) come back \
                 after the visibility timeout",
                m.function,
                m.queue_name,
                chunk.len()
            );
        }
    }
}

/// Gathers one batch with `receive(max messages, wait seconds)`: long-polls for a first
/// message, then keeps receiving until the batch holds `batch_size` messages or the batching
/// window is over. Returns empty when stopped first, and an error only when nothing was
/// received. A failure while filling the batch hands on what was received: those messages are
/// in flight, and dropping them would only delay them and spend one of their receives
/// (`maxReceiveCount`) for nothing.
async fn gather_batch<F, Fut>(
    label: &str,
    batch_size: usize,
    window: Duration,
    stop: &mut watch::Receiver<bool>,
    mut receive: F,
) -> Result<Vec<Message>, String>
where
    F: FnMut(usize, i32) -> Fut,
    Fut: Future<Output = Result<Vec<Message>, String>>,
{
    let first = tokio::select! {
        r = receive(batch_size, MAX_WAIT_SECS) => r?,
        _ = stop.wait_for(|s| *s) => return Ok(Vec::new()),
    };
    if first.is_empty() {
        return Ok(first);
    }
    let mut batch = first;
    let deadline = Instant::now() + window;
    // Lambda also stops at its 6 MB payload limit; leave room for the event's own fields.
    let budget = MAX_PAYLOAD_BYTES / 2;
    let size = |b: &[Message]| -> usize {
        b.iter()
            .map(|m| m.body().map_or(0, str::len) + 512)
            .sum::<usize>()
    };
    while batch.len() < batch_size && size(&batch) < budget && !*stop.borrow() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let wait = i32::try_from(remaining.as_secs())
            .unwrap_or(MAX_WAIT_SECS)
            .min(MAX_WAIT_SECS);
        if wait == 0 {
            // Under a second left: wait it out, then take what is there.
            tokio::time::sleep(remaining).await;
        }
        match receive(batch_size - batch.len(), wait).await {
            Ok(more) => batch.extend(more),
            Err(e) => {
                tracing::warn!(
                    "SQS mapping {label}: ReceiveMessage failed while filling a batch: {e}; \
                     invoking with the {} message(s) received",
                    batch.len()
                );
                break;
            }
        }
        if wait == 0 {
            break;
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::sqs::test_messages::message;

    type Received = Result<Vec<Message>, String>;
    /// (want, wait) of each call.
    type Calls = Arc<std::sync::Mutex<Vec<(usize, i32)>>>;

    /// A fake ReceiveMessage: answers from a script, and records what it was asked.
    fn scripted(
        script: Vec<Received>,
    ) -> (
        impl FnMut(usize, i32) -> std::future::Ready<Received>,
        Calls,
    ) {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = calls.clone();
        let mut script = script.into_iter();
        let receive = move |want, wait| {
            seen.lock().unwrap().push((want, wait));
            std::future::ready(script.next().unwrap_or(Ok(Vec::new())))
        };
        (receive, calls)
    }

    #[tokio::test]
    async fn a_receive_failure_while_filling_keeps_the_batch() {
        let (_stop_tx, mut stop) = watch::channel(false);
        let (receive, calls) = scripted(vec![
            Ok(vec![message("m1", "a"), message("m2", "b")]),
            Err("InternalError".into()),
            Ok(vec![message("m3", "c")]),
        ]);
        let batch = gather_batch("F.E", 5, Duration::from_secs(5), &mut stop, receive)
            .await
            .unwrap();
        let ids: Vec<_> = batch.iter().filter_map(|m| m.message_id()).collect();
        assert_eq!(ids, ["m1", "m2"]);
        // The first call long-polls; the second asks only for what is missing, within the
        // window; the third is never made.
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0], (5, MAX_WAIT_SECS));
        assert!(calls[1].0 == 3 && calls[1].1 <= 5, "{calls:?}");
    }

    #[tokio::test]
    async fn a_failed_first_receive_is_an_error_and_a_full_batch_stops() {
        let (_stop_tx, mut stop) = watch::channel(false);
        let (receive, _) = scripted(vec![Err("InternalError".into())]);
        let r = gather_batch("F.E", 5, Duration::from_secs(2), &mut stop, receive).await;
        assert_eq!(r.unwrap_err(), "InternalError");

        let (receive, calls) = scripted(vec![
            Ok(vec![message("m1", "a")]),
            Ok(vec![message("m2", "b")]),
        ]);
        let batch = gather_batch("F.E", 2, Duration::from_secs(2), &mut stop, receive)
            .await
            .unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(calls.lock().unwrap().len(), 2);
    }
}
