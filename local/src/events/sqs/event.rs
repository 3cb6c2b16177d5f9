//! What Lambda sends for a batch of messages, and what its answer means for them.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::{Message, MessageAttributeValue};
use base64::Engine as _;
use serde_json::{Map, Value as Json, json};

use crate::template::LOCAL_REGION;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::sqs::test_messages::message;
    use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
    use aws_sdk_sqs::primitives::Blob;
    use std::collections::HashMap;

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
}
