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

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value as Json, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::runtime::{LambdaService, MAX_PAYLOAD_BYTES};
use crate::template::{LOCAL_REGION, SqsSource, Template};

/// SQS's longest long poll.
pub const MAX_WAIT_SECS: i32 = 20;
/// SQS's most messages per ReceiveMessage.
pub const MAX_MESSAGES_PER_RECEIVE: u32 = 10;
/// SQS's default visibility timeout, for queues that do not set one.
const DEFAULT_VISIBILITY_TIMEOUT: u32 = 30;
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

/// Waits between failed calls: from `initial`, doubling up to `max`. Each wait is drawn
/// between half and all of the current step, so the pollers of a failing queue do not retry in
/// lockstep. A success resets it.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            step: initial,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn next_wait(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.max);
        self.failures = self.failures.saturating_add(1);
        step.mul_f64(rand::random_range(0.5..=1.0))
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a success: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.step = self.initial;
        self.failures = 0;
    }
}

/// One SQS event-source mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMapping {
    /// Logical id of the function.
    pub function: String,
    /// Name of the event in the function's `Events`.
    pub event: String,
    pub queue_name: String,
    pub queue_arn: String,
    /// URL of the queue at the AWS endpoint.
    pub queue_url: String,
    pub batch_size: u32,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    /// Pollers (concurrent batches): `MaximumConcurrency`, else 1.
    pub concurrency: usize,
}

impl SqsMapping {
    /// The mapping of one `SQS` event; `queue_url` is derived from the endpoint (moto's form).
    pub fn new(function: &str, event: &str, source: &SqsSource, aws_endpoint: &str) -> Self {
        Self {
            function: function.to_string(),
            event: event.to_string(),
            queue_name: source.queue_name.clone(),
            queue_arn: source.queue_arn.clone(),
            queue_url: format!(
                "{}/{}/{}",
                aws_endpoint.trim_end_matches('/'),
                crate::template::LOCAL_ACCOUNT_ID,
                source.queue_name
            ),
            batch_size: source.batch_size.max(1),
            batching_window: Duration::from_secs(u64::from(source.maximum_batching_window_secs)),
            report_batch_item_failures: source.report_batch_item_failures,
            concurrency: source.maximum_concurrency.map_or(1, |c| c as usize).max(1),
        }
    }

    /// `Function.Event`, for logs.
    pub fn label(&self) -> String {
        format!("{}.{}", self.function, self.event)
    }
}

/// The enabled `SQS` events of the template, as mappings against `aws_endpoint`. Warns where
/// CloudFormation would refuse the mapping because the queue's visibility timeout is shorter
/// than the function's timeout.
pub fn mappings_from_template(template: &Template, aws_endpoint: &str) -> Vec<SqsMapping> {
    let mut out = Vec::new();
    for f in &template.functions {
        for (event, source) in f.sqs_sources() {
            if !source.enabled {
                tracing::info!("SQS mapping {}.{event} is disabled", f.logical_id);
                continue;
            }
            if let Some(q) = template
                .queues()
                .iter()
                .find(|q| q.name == source.queue_name)
            {
                let visibility = q.visibility_timeout.unwrap_or(DEFAULT_VISIBILITY_TIMEOUT);
                if visibility < f.timeout_secs {
                    tracing::warn!(
                        "SQS mapping {}.{event}: queue {} has a visibility timeout of {visibility} \
                         s, less than the function's timeout of {} s (AWS refuses this mapping)",
                        f.logical_id,
                        q.name,
                        f.timeout_secs
                    );
                }
            } else {
                tracing::warn!(
                    "SQS mapping {}.{event}: queue {} is not declared in the template",
                    f.logical_id,
                    source.queue_name
                );
            }
            out.push(SqsMapping::new(&f.logical_id, event, source, aws_endpoint));
        }
    }
    out
}

/// The event Lambda builds for a batch of messages from the queue `queue_arn`.
pub fn build_event(messages: &[Message], queue_arn: &str) -> Json {
    let records: Vec<Json> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Json> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), Json::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: Map<String, Json> = m
                .message_attributes()
                .map(|attrs| {
                    attrs
                        .iter()
                        .map(|(name, value)| (name.clone(), message_attribute(value)))
                        .collect()
                })
                .unwrap_or_default();
            let mut record = json!({
                "messageId": m.message_id().unwrap_or_default(),
                "receiptHandle": m.receipt_handle().unwrap_or_default(),
                "body": m.body().unwrap_or_default(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body().unwrap_or_default(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": LOCAL_REGION,
            });
            if let Some(md5) = m.md5_of_message_attributes() {
                record["md5OfMessageAttributes"] = json!(md5);
            }
            record
        })
        .collect();
    json!({ "Records": records })
}

fn message_attribute(v: &MessageAttributeValue) -> Json {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut out = json!({
        "stringListValues": v.string_list_values(),
        "binaryListValues": v.binary_list_values().iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>(),
        "dataType": v.data_type(),
    });
    if let Some(s) = v.string_value() {
        out["stringValue"] = json!(s);
    }
    if let Some(b) = v.binary_value() {
        out["binaryValue"] = json!(b64(b.as_ref()));
    }
    out
}

/// What a batch's invocation means for its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchResult {
    /// Delete every message.
    Success,
    /// Delete every message but these (message ids).
    PartialFailure(Vec<String>),
    /// Delete nothing.
    Failure(String),
}

/// Reads a successful invocation's response as Lambda does. Without `ReportBatchItemFailures`
/// any response is a success. With it: `null`, an empty response, an object without
/// `batchItemFailures` (or with it null or empty) succeed; failures whose `itemIdentifier`s are
/// all message ids of the batch fail just those; anything else (not JSON, not an object, a
/// missing, empty, or unknown identifier) fails the whole batch.
pub fn batch_result(
    payload: &[u8],
    report_batch_item_failures: bool,
    message_ids: &[String],
) -> BatchResult {
    if !report_batch_item_failures || payload.iter().all(u8::is_ascii_whitespace) {
        return BatchResult::Success;
    }
    let response: Json = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(_) => return BatchResult::Failure("the response is not JSON".into()),
    };
    let failures = match &response {
        Json::Null => return BatchResult::Success,
        Json::Object(m) => match m.get("batchItemFailures") {
            None | Some(Json::Null) => return BatchResult::Success,
            Some(Json::Array(items)) => items,
            Some(_) => return BatchResult::Failure("batchItemFailures is not a list".into()),
        },
        _ => return BatchResult::Failure("the response is not a JSON object".into()),
    };
    let mut failed = BTreeSet::new();
    for item in failures {
        match item.get("itemIdentifier").and_then(Json::as_str) {
            Some(id) if message_ids.iter().any(|m| m == id) => {
                failed.insert(id.to_string());
            }
            Some("") | None => {
                return BatchResult::Failure(format!(
                    "batch item failure without an itemIdentifier: {item}"
                ));
            }
            Some(id) => {
                return BatchResult::Failure(format!(
                    "itemIdentifier {id} is not a message of the batch"
                ));
            }
        }
    }
    if failed.is_empty() {
        BatchResult::Success
    } else {
        // In batch order.
        BatchResult::PartialFailure(
            message_ids
                .iter()
                .filter(|id| failed.contains(*id))
                .cloned()
                .collect(),
        )
    }
}

/// The running pollers of every mapping.
pub struct SqsPollers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

struct Poller {
    mapping: SqsMapping,
    lambda: Arc<LambdaService>,
    sqs: aws_sdk_sqs::Client,
}

impl SqsPollers {
    /// Starts the pollers: `mapping.concurrency` per mapping, at most `max_concurrency`. Looks
    /// each queue's URL up first (GetQueueUrl), keeping the derived one if that fails.
    pub async fn start(
        lambda: Arc<LambdaService>,
        mappings: Vec<SqsMapping>,
        sdk_config: &SdkConfig,
        max_concurrency: usize,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let sqs = aws_sdk_sqs::Client::new(sdk_config);
        let mut tasks = Vec::new();
        for mut mapping in mappings {
            if lambda.function(&mapping.function).is_none() {
                tracing::warn!(
                    "SQS mapping {}: the Lambda service does not run {}",
                    mapping.label(),
                    mapping.function
                );
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
                sqs: sqs.clone(),
            });
            for _ in 0..pollers {
                tasks.push(tokio::spawn(poller.clone().supervise(stop_rx.clone())));
            }
        }
        Self { stop, tasks }
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
        let _ = self.stop.send(true);
        let aborts: Vec<_> = self.tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(STOP_GRACE, all).await.is_err() {
            for a in aborts {
                a.abort();
            }
        }
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
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return,
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
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return,
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
    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
    use aws_sdk_sqs::primitives::Blob;
    use std::collections::HashMap;

    fn message(id: &str, body: &str) -> Message {
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

    const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";

    #[test]
    fn event_is_lambdas() {
        let mut with_attrs = message("m2", "{\"x\":1}");
        with_attrs.message_attributes = Some(HashMap::from([
            (
                "s".to_string(),
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("v")
                    .build()
                    .unwrap(),
            ),
            (
                "b".to_string(),
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(Blob::new(b"1100".to_vec()))
                    .build()
                    .unwrap(),
            ),
        ]));
        with_attrs.md5_of_message_attributes = Some("attrs-md5".into());
        let event = build_event(&[message("m1", "hello"), with_attrs], ARN);

        let r = &event["Records"][0];
        assert_eq!(
            r,
            &json!({
                "messageId": "m1",
                "receiptHandle": "rh-m1",
                "body": "hello",
                "attributes": {
                    "ApproximateReceiveCount": "2",
                    "SentTimestamp": "1520621625029",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1520621634884"
                },
                "messageAttributes": {},
                "md5OfBody": "md5",
                "eventSource": "aws:sqs",
                "eventSourceARN": ARN,
                "awsRegion": "us-east-1"
            })
        );
        assert_eq!(
            event["Records"][1]["messageAttributes"]["s"],
            json!({"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
        );

        let parsed: SqsEvent = serde_json::from_value(event).unwrap();
        assert_eq!(parsed.records.len(), 2);
        let m = &parsed.records[1];
        assert_eq!(m.message_id.as_deref(), Some("m2"));
        assert_eq!(m.receipt_handle.as_deref(), Some("rh-m2"));
        assert_eq!(m.body.as_deref(), Some("{\"x\":1}"));
        assert_eq!(m.md5_of_body.as_deref(), Some("md5"));
        assert_eq!(m.md5_of_message_attributes.as_deref(), Some("attrs-md5"));
        assert_eq!(m.event_source.as_deref(), Some("aws:sqs"));
        assert_eq!(m.event_source_arn.as_deref(), Some(ARN));
        assert_eq!(m.aws_region.as_deref(), Some("us-east-1"));
        assert_eq!(m.attributes["ApproximateReceiveCount"], "2");
        assert_eq!(m.message_attributes["s"].string_value.as_deref(), Some("v"));
        assert_eq!(
            m.message_attributes["s"].data_type.as_deref(),
            Some("String")
        );
        let b = &m.message_attributes["b"];
        assert_eq!(
            b.binary_value.as_ref().map(|d| d.0.clone()),
            Some(b"1100".to_vec())
        );
        assert_eq!(b.string_value, None);
    }

    #[test]
    fn batch_responses() {
        let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let r = |body: &str| batch_result(body.as_bytes(), true, &ids);
        for ok in [
            "",
            "null",
            "{}",
            r#"{"batchItemFailures": []}"#,
            r#"{"batchItemFailures": null}"#,
            r#"{"other": 1}"#,
        ] {
            assert_eq!(r(ok), BatchResult::Success, "{ok:?}");
        }
        assert_eq!(
            r(
                r#"{"batchItemFailures": [{"itemIdentifier": "c"}, {"itemIdentifier": "a"}, {"itemIdentifier": "a"}]}"#
            ),
            BatchResult::PartialFailure(vec!["a".into(), "c".into()])
        );
        for bad in [
            "not json",
            "\"ok\"",
            "42",
            "[]",
            r#"{"batchItemFailures": {}}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            r#"{"batchItemFailures": [{"itemId": "a"}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": "zzz"}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "zzz"}]}"#,
        ] {
            assert!(matches!(r(bad), BatchResult::Failure(_)), "{bad:?}");
        }
        // Without ReportBatchItemFailures every response is a success.
        assert_eq!(
            batch_result(
                br#"{"batchItemFailures": [{"itemIdentifier": "a"}]}"#,
                false,
                &ids
            ),
            BatchResult::Success
        );
        assert_eq!(batch_result(b"garbage", false, &ids), BatchResult::Success);
        // The batch response format is aws_lambda_events' SqsBatchResponse.
        let typed: SqsBatchResponse =
            serde_json::from_str(r#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#).unwrap();
        assert_eq!(
            batch_result(&serde_json::to_vec(&typed).unwrap(), true, &ids),
            BatchResult::PartialFailure(vec!["b".into()])
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let steps = [200, 400, 800, 1600, 3200, 5000, 5000, 5000];
        for (i, step) in steps.iter().enumerate() {
            let wait = b.next_wait();
            let step = Duration::from_millis(*step);
            assert!(
                wait >= step / 2 && wait <= step,
                "failure {}: {wait:?} not within half of {step:?}",
                i + 1
            );
        }
        assert_eq!(b.failures(), 8);
        b.reset();
        assert_eq!(b.failures(), 0);
        let wait = b.next_wait();
        assert!(wait >= Duration::from_millis(100) && wait <= Duration::from_millis(200));
        // Never stops growing into a panic: saturates.
        let mut b = Backoff::new(Duration::from_millis(1), Duration::from_millis(8));
        for _ in 0..10_000 {
            assert!(b.next_wait() <= Duration::from_millis(8));
        }
    }

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

    #[test]
    fn mappings_from_sources() {
        let t = Template::parse(
            r#"
Resources:
  Dlq: { Type: AWS::SQS::Queue }
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
      VisibilityTimeout: 60
      RedrivePolicy: { deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3 }
  Worker:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 25
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: { MaximumConcurrency: 4 }
        Off:
          Type: SQS
          Properties: { Queue: !GetAtt Dlq.Arn, Enabled: false }
"#,
        )
        .unwrap();
        let m = mappings_from_template(&t, "http://127.0.0.1:5005/");
        assert_eq!(
            m,
            vec![SqsMapping {
                function: "Worker".into(),
                event: "Jobs".into(),
                queue_name: "jobs".into(),
                queue_arn: "arn:aws:sqs:us-east-1:123456789012:jobs".into(),
                queue_url: "http://127.0.0.1:5005/123456789012/jobs".into(),
                batch_size: 25,
                batching_window: Duration::from_secs(2),
                report_batch_item_failures: true,
                concurrency: 4,
            }]
        );
    }
}
