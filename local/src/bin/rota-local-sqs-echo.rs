//! `rota-local-sqs-echo`: a stand-in Lambda function for rota-local's own tests of event
//! sources (a plain `lambda_runtime` function taking any JSON event).
//!
//! - An SQS event (`Records`) is logged whole on stdout as one line `{"sqs_event": <event>}`,
//!   then each message's body decides: `fail…` is reported as a batch item failure, `fail-once…`
//!   only on its first receive, `error…` fails the whole invocation, `crash…` exits the
//!   process, `malformed…` answers with a batch response naming an unknown message, `sleep:<ms>`
//!   sleeps. The response is `{"batchItemFailures": [...]}`.
//! - Any other event (a scheduled event, a schedule's Input) is logged as
//!   `{"other_event": <event>}` and answered with `{"received": <event>, "env": {...}}` (the
//!   whole environment); an event with `"fail": true` fails instead.

use lambda_http::lambda_runtime::{self, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let Some(records) = payload.get("Records").and_then(Value::as_array) else {
        println!("{}", json!({ "other_event": payload }));
        if payload.get("fail").and_then(Value::as_bool) == Some(true) {
            return Err("failing on request".into());
        }
        let env: serde_json::Map<String, Value> = std::env::vars()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return Ok(json!({ "received": payload, "env": env }));
    };
    println!("{}", json!({ "sqs_event": payload }));
    let mut failures = Vec::new();
    for r in records {
        let id = r["messageId"].as_str().unwrap_or_default();
        let body = r["body"].as_str().unwrap_or_default();
        let receives = r["attributes"]["ApproximateReceiveCount"]
            .as_str()
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(0);
        if let Some(ms) = body.strip_prefix("sleep:").and_then(|m| m.parse().ok()) {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        } else if body.starts_with("error") {
            return Err(format!("failing the batch on request ({body})").into());
        } else if body.starts_with("crash") {
            std::process::exit(3);
        } else if body.starts_with("malformed") {
            return Ok(json!({"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}));
        } else if body.starts_with("fail-once") {
            if receives <= 1 {
                failures.push(json!({ "itemIdentifier": id }));
            }
        } else if body.starts_with("fail") {
            failures.push(json!({ "itemIdentifier": id }));
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
