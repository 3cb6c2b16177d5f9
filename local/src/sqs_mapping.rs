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

use std::collections::BTreeSet;
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
                tasks.push(tokio::spawn(poller.clone().run(stop_rx.clone())));
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
    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        let mut failing = false;
        loop {
            if *stop.borrow() {
                return;
            }
            let messages = match self.gather(&mut stop).await {
                Ok(m) => {
                    if failing {
                        tracing::info!("SQS mapping {}: receiving again", self.mapping.label());
                    }
                    failing = false;
                    backoff = Duration::from_millis(500);
                    m
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(
                            "SQS mapping {}: ReceiveMessage on {} failed: {e}; retrying",
                            self.mapping.label(),
                            self.mapping.queue_url
                        );
                    }
                    failing = true;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if !messages.is_empty() {
                self.process(messages).await;
            }
        }
    }

    /// Receives one batch: waits (long polls) for a first message, then keeps receiving until
    /// the batch is full or the batching window is over. Returns empty when stopped first.
    async fn gather(&self, stop: &mut watch::Receiver<bool>) -> Result<Vec<Message>, String> {
        let batch_size = self.mapping.batch_size as usize;
        let first = tokio::select! {
            r = self.receive(batch_size, MAX_WAIT_SECS) => r?,
            _ = stop.wait_for(|s| *s) => return Ok(Vec::new()),
        };
        if first.is_empty() {
            return Ok(first);
        }
        let mut batch = first;
        let deadline = Instant::now() + self.mapping.batching_window;
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
            let more = self.receive(batch_size - batch.len(), wait).await?;
            batch.extend(more);
            if wait == 0 {
                break;
            }
        }
        Ok(batch)
    }

    async fn receive(&self, want: usize, wait_secs: i32) -> Result<Vec<Message>, String> {
        let max = want.clamp(1, MAX_MESSAGES_PER_RECEIVE as usize) as i32;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.mapping.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_secs)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
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

    async fn delete(&self, messages: &[&Message]) {
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
            let result = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.mapping.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(out) => {
                    for f in out.failed() {
                        tracing::warn!(
                            "SQS {}: could not delete a message from {}: {} {}",
                            self.mapping.function,
                            self.mapping.queue_name,
                            f.code(),
                            f.message().unwrap_or_default()
                        );
                    }
                }
                Err(e) => tracing::warn!(
                    "SQS {}: DeleteMessageBatch on {} failed: {}",
                    self.mapping.function,
                    self.mapping.queue_name,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ),
            }
        }
    }
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
