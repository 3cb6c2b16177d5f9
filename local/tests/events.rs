//! Event sources end to end: SQS event-source mappings against a real moto (batching, partial
//! batch failures, whole-batch failures, redrive to the DLQ), `rota-local fire`, `serve`'s
//! `stack.json`, and the schedule runner. The function is `rota-local-sqs-echo` (built with this
//! package), which logs every event it gets to `<logs>/rota-local-sqs-echo.log`.
//!
//! The moto tests need the repo's `.venv` (`make bootstrap`) and fail, saying so, without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use chrono::{TimeZone, Utc};
use common::{Serve, bin_dir, lambda_service, runtime_options, start_moto};
use rota_local::events::schedule::{self, ScheduleRunner};
use rota_local::server::{self, AwsSource, ServeConfig};
use rota_local::stack;
use rota_local::template::Template;
use serde_json::Value;

/// Worker reads the jobs queue (redriven to the DLQ), Reminders runs hourly and answers
/// `GET /env`, Failing fails daily.
const TEMPLATE: &str = include_str!("fixtures/echo_stack.yaml");

const ECHO: &str = "rota-local-sqs-echo";

/// A temporary directory holding `template.yaml` and `logs/`.
fn workdir() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(&template, TEMPLATE).unwrap();
    let logs = dir.path().join("logs");
    (dir, template, logs)
}

/// Every SQS event the echo function logged, as `aws_lambda_events` parses it.
fn sqs_batches(logs: &Path) -> Vec<SqsEvent> {
    let text = std::fs::read_to_string(logs.join(format!("{ECHO}.log"))).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("sqs_event").cloned())
        .map(|e| serde_json::from_value(e).expect("the SQS event parses as SqsEvent"))
        .collect()
}

/// (body, receive count) of every record received so far, in order.
fn deliveries(logs: &Path) -> Vec<(String, u32)> {
    sqs_batches(logs)
        .iter()
        .flat_map(|b| b.records.iter())
        .map(|r: &SqsMessage| {
            (
                r.body.clone().unwrap_or_default(),
                r.attributes["ApproximateReceiveCount"].parse().unwrap(),
            )
        })
        .collect()
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send(sqs: &aws_sdk_sqs::Client, url: &str, bodies: &[&str]) {
    let entries = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(*b)
                .build()
                .unwrap()
        })
        .collect();
    let out = sqs
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    assert!(out.failed().is_empty());
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u32 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|k| attrs[k].parse::<u32>().unwrap())
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqs_mapping_with_lambda_semantics() {
    let (_dir, template, logs) = workdir();
    let mut moto = start_moto(&logs).await;
    let running = server::start(ServeConfig {
        port: 0,
        template: template.clone(),
        bin_dir: bin_dir(),
        aws: AwsSource::Endpoint(moto.endpoint.clone()),
        logs_dir: logs.clone(),
        schedules: false,
        // The stand-in functions' templates are about events, not roles (IAM: tests/suite/iam.rs).
        iam: false,
        ..ServeConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(running.poller_count(), 1);
    assert_eq!(running.schedule_count(), 0);

    let sqs = aws_sdk_sqs::Client::new(&stack::sdk_config(&moto.endpoint).await);
    let url = |name: &str| {
        let sqs = sqs.clone();
        let name = name.to_string();
        async move {
            sqs.get_queue_url()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let jobs = url("events-jobs").await;
    let dlq = url("events-dlq").await;

    // 1. Batches of the configured size (3), gathered within the 1 s window.
    let bodies: Vec<String> = (1..=7).map(|i| format!("ok-{i}")).collect();
    send(
        &sqs,
        &jobs,
        &bodies.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    wait_for("7 deliveries", Duration::from_secs(20), || {
        deliveries(&logs).len() >= 7
    })
    .await;
    let mut sizes: Vec<usize> = sqs_batches(&logs).iter().map(|b| b.records.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [1, 3, 3]);
    let first = &sqs_batches(&logs)[0].records[0];
    assert_eq!(first.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(
        first.event_source_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:events-jobs")
    );
    assert_eq!(first.aws_region.as_deref(), Some("us-east-1"));
    let md5 = first.md5_of_body.as_deref().unwrap();
    assert!(
        md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()),
        "{md5}"
    );
    for key in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(first.attributes.contains_key(key), "{key}");
    }
    assert!(first.receipt_handle.is_some() && first.message_id.is_some());

    // 2. A reported item failure comes back after the visibility timeout (2 s); the rest of
    // its batch is deleted.
    send(&sqs, &jobs, &["keep-a", "fail-once-b", "keep-c"]).await;
    let started = Instant::now();
    wait_for("the redelivery", Duration::from_secs(20), || {
        deliveries(&logs).contains(&("fail-once-b".into(), 2))
    })
    .await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let batch = sqs_batches(&logs)
        .into_iter()
        .find(|b| {
            b.records
                .iter()
                .any(|r| r.body.as_deref() == Some("keep-a"))
        })
        .unwrap();
    assert_eq!(batch.records.len(), 3);

    // 3. A message failing maxReceiveCount (2) times lands in the DLQ.
    send(&sqs, &jobs, &["fail-always"]).await;
    let mut in_dlq = Vec::new();
    let started = Instant::now();
    while in_dlq.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing in the DLQ"
        );
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        in_dlq.extend(out.messages.unwrap_or_default());
    }
    assert_eq!(in_dlq.len(), 1);
    assert_eq!(in_dlq[0].body(), Some("fail-always"));
    let counts: Vec<u32> = deliveries(&logs)
        .into_iter()
        .filter(|(b, _)| b == "fail-always")
        .map(|(_, c)| c)
        .collect();
    assert_eq!(counts, [1, 2]);

    // 4. A function error fails the whole batch: nothing is deleted, so the message that the
    // function would have accepted comes back too.
    send(&sqs, &jobs, &["fine-y", "error-x"]).await;
    wait_for(
        "the failed batch's redelivery",
        Duration::from_secs(20),
        || {
            let d = deliveries(&logs);
            d.contains(&("fine-y".into(), 2)) && d.contains(&("error-x".into(), 2))
        },
    )
    .await;

    // 5. A malformed batch response (an unknown itemIdentifier) fails the whole batch as well.
    send(&sqs, &jobs, &["malformed-m"]).await;
    wait_for(
        "the malformed batch's redelivery",
        Duration::from_secs(20),
        || deliveries(&logs).contains(&("malformed-m".into(), 2)),
    )
    .await;

    // Let every message settle: deleted ones never came back, failing ones went to the DLQ.
    let started = Instant::now();
    while queue_depth(&sqs, &jobs).await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the queue never emptied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let d = deliveries(&logs);
    let count = |body: &str| d.iter().filter(|(b, _)| b == body).count();
    for body in bodies
        .iter()
        .map(String::as_str)
        .chain(["keep-a", "keep-c"])
    {
        assert_eq!(count(body), 1, "{body} was delivered again: {d:?}");
    }
    assert_eq!(count("fail-once-b"), 2);
    assert_eq!(count("error-x"), 2);
    assert_eq!(count("malformed-m"), 2);

    // The batches are logged on stderr (tracing) too; the mapping stops with the stack.
    running.shutdown().await;
    moto.stop().await;
}

/// Runs `rota-local <args>`; (exit success, stdout, stderr).
async fn rota_local(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = common::rota_local()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The arguments `serve` and `fire` share: the template, the binaries, the logs, and the AWS
/// endpoint unless they are to find it (`fire` reads a running stack's `stack.json`).
fn stack_args(template: &Path, logs: &Path, aws_endpoint: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "--template".to_string(),
        template.display().to_string(),
        "--bin-dir".into(),
        bin_dir().display().to_string(),
        "--logs".into(),
        logs.display().to_string(),
    ];
    if let Some(endpoint) = aws_endpoint {
        args.extend(["--aws-endpoint".to_string(), endpoint.to_string()]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_invokes_a_schedule_once() {
    let (_dir, template, logs) = workdir();
    let mut moto = start_moto(&logs).await;
    let t = Template::load(&template).unwrap();
    stack::ensure_resources(&t, &moto.endpoint).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&stack::sdk_config(&moto.endpoint).await);
    let jobs_url = sqs
        .get_queue_url()
        .queue_name("events-jobs")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let common = stack_args(&template, &logs, Some(&moto.endpoint));
    let fire = |extra: &[&str]| {
        let mut args: Vec<String> = std::iter::once("fire")
            .chain(extra.iter().copied())
            .map(String::from)
            .collect();
        args.extend(common.iter().cloned());
        args
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rota_local(&args, &[("ROTA_FN_EXTRA", "override")]).await
    };

    let (ok, stdout, stderr) = run(fire(&[
        "--function",
        "Reminders",
        "--time",
        "2024-05-01T10:00:00Z",
    ]))
    .await;
    assert!(ok, "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    let event: EventBridgeEvent = serde_json::from_value(response["received"].clone()).unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(event.source, "aws.events");
    assert_eq!(event.version.as_deref(), Some("0"));
    assert_eq!(
        event.time,
        Some(Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap())
    );
    assert_eq!(
        event.resources,
        Some(vec![
            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/RemindersHourly".into()
        ])
    );
    assert_eq!(event.detail, serde_json::json!({}));
    // The same environment as `serve` gives: the endpoint, resolved queue references, and
    // the ROTA_FN_* overrides.
    let env = &response["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "Reminders");
    assert_eq!(env["AWS_ENDPOINT_URL"], moto.endpoint.as_str());
    assert_eq!(env["QUEUE_URL"], jobs_url.as_str());
    assert_eq!(
        env["QUEUE_ARN"],
        "arn:aws:sqs:us-east-1:123456789012:events-jobs"
    );
    assert_eq!(env["QUEUE_NAME"], "events-jobs");
    assert_eq!(env["EXTRA"], "override");
    // The function's own output went to its log, not to stdout.
    let log = std::fs::read_to_string(logs.join(format!("{ECHO}.log"))).unwrap();
    assert!(log.contains(r#""other_event""#));

    // Without --time: now.
    let (ok, stdout, stderr) = run(fire(&["--function", "Reminders"])).await;
    assert!(ok, "{stderr}");
    let response: Value = serde_json::from_str(stdout.trim()).unwrap();
    let event: EventBridgeEvent = serde_json::from_value(response["received"].clone()).unwrap();
    let age = Utc::now() - event.time.unwrap();
    assert!(age.num_seconds() >= 0 && age.num_seconds() < 60, "{age}");

    // A function error: non-zero exit, nothing on stdout. The Input replaces the event.
    let (ok, stdout, stderr) = run(fire(&["--function", "Failing"])).await;
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("failing on request"), "{stderr}");

    // By binary name, which three functions share (two with schedules): ambiguous.
    let (ok, _, stderr) = run(fire(&["--function", ECHO])).await;
    assert!(!ok);
    assert!(stderr.contains("several schedules"), "{stderr}");
    let (ok, _, stderr) = run(fire(&["--function", "Worker"])).await;
    assert!(!ok);
    assert!(stderr.contains("no Schedule"), "{stderr}");
    let (ok, _, stderr) = run(fire(&["--function", "Reminders", "--time", "noon"])).await;
    assert!(!ok);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    moto.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_records_the_stack_for_fire() {
    let (dir, template, logs) = workdir();
    let mut moto = start_moto(&logs).await;
    let mut command = common::rota_local();
    command
        .args(["serve", "--no-schedules", "--no-iam", "--port", "0"])
        .args(stack_args(&template, &logs, Some(&moto.endpoint)))
        // No fault profile from the caller's environment.
        .env_remove("ROTA_FAULTS");
    let serve = Serve::start(command).await;
    let gateway = serve.gateway.clone();

    let (stack_file, cache) =
        common::assert_stack_file(dir.path(), &moto.endpoint, &gateway, "none");

    // `fire` finds the running stack's endpoint and cache through stack.json.
    let mut args = vec!["fire".to_string(), "--function".into(), "Reminders".into()];
    args.extend(stack_args(&template, &logs, None));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = rota_local(&args, &[]).await;
    assert!(ok, "{err}");
    let response: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(response["env"]["AWS_ENDPOINT_URL"], moto.endpoint.as_str());
    assert_eq!(response["env"]["REDIS_URL"], cache.url.as_str());
    assert_eq!(response["env"]["SSL_CERT_FILE"], cache.ca.as_str());

    // SIGTERM stops serve cleanly and removes stack.json.
    let stderr = serve.terminate().await;
    assert!(stderr.contains("schedules are off"), "{stderr}");
    assert!(!stack_file.exists());
    moto.stop().await;
}

/// The runner fires on the wall clock with the event of the scheduled time. No AWS needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_fires_at_the_scheduled_time() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let template = Template::parse(
        r#"
Resources:
  Ticker:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: rota-local-sqs-echo } }
    Properties:
      Events:
        EveryMinute: { Type: Schedule, Properties: { Schedule: rate(1 minute) } }
        Off: { Type: Schedule, Properties: { Schedule: rate(1 minute), Enabled: false } }
"#,
    )
    .unwrap();
    // A function with no HTTP route is still run by the Lambda service.
    let lambda = Arc::new(lambda_service(&template, runtime_options(&logs, 2)));
    // The rate counts from the anchor: 58.5 s ago, so the first firing is 1.5 s away.
    let anchor = Utc::now() - chrono::Duration::milliseconds(58_500);
    let expected = anchor
        .with_timezone(&Utc)
        .checked_add_signed(chrono::Duration::seconds(60))
        .unwrap();
    let expected = expected.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let runner = ScheduleRunner::start(
        lambda.clone(),
        schedule::scheduled_functions(&template),
        anchor,
    );
    assert_eq!(runner.len(), 1);
    let log = logs.join(format!("{ECHO}.log"));
    let started = Instant::now();
    let events = loop {
        let events: Vec<EventBridgeEvent> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("other_event").cloned())
            .map(|e| serde_json::from_value(e).unwrap())
            .collect();
        if !events.is_empty() {
            break events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the schedule did not fire"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.detail_type, "Scheduled Event");
    assert_eq!(
        e.time.unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        expected
    );
    assert_eq!(
        e.resources.as_deref(),
        Some(
            &[
                "arn:aws:events:us-east-1:123456789012:rule/rota-local-TickerEveryMinute"
                    .to_string()
            ][..]
        )
    );
    runner.stop().await;
    lambda.shutdown().await;
}
