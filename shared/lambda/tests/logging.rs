//! The template's logging settings as Lambda applies them: with the JSON log format Lambda
//! drops every application line below `ApplicationLogLevel` (a line without a valid `level`
//! counts as INFO), and sets `AWS_LAMBDA_LOG_LEVEL` for the function. Whatever that level,
//! the EMF metrics lines must reach CloudWatch (the alarms are on them), and the log lines
//! below it must not be written at all. And every line carries the invocation's ids.

use std::sync::{Arc, Mutex};

use rota_lambda::logging::{FlatJson, LambdaLevel, emf_level, filter};
use rota_lambda::metrics::Metrics;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::JsonFields;

/// Lambda's application log levels in its documented order (least severe first).
const LAMBDA_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// Whether Lambda keeps `line` at `threshold`: its `level` (INFO when missing or invalid) is
/// at or above the threshold. Written from the Lambda documentation, not from our code.
fn lambda_keeps(line: &serde_json::Value, threshold: &str) -> bool {
    let rank = |name: &str| {
        LAMBDA_LEVELS
            .iter()
            .position(|l| l.eq_ignore_ascii_case(name))
    };
    let level = line
        .get("level")
        .and_then(|l| l.as_str())
        .and_then(rank)
        .unwrap_or(2);
    level >= rank(threshold).expect("a Lambda level")
}

/// The template's `Globals.Function.LoggingConfig`, and every function's own if it has one.
fn template_logging() -> Vec<serde_yaml_ng::Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("template.yaml parses");
    let mut configs = vec![doc["Globals"]["Function"]["LoggingConfig"].clone()];
    if let Some(resources) = doc["Resources"].as_mapping() {
        configs.extend(
            resources
                .values()
                .filter(|r| r["Type"] == "AWS::Serverless::Function")
                .filter_map(|r| r["Properties"].get("LoggingConfig").cloned()),
        );
    }
    configs
}

/// What the function writes to stdout, kept for the test.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    /// The function's log subscriber (`logging::init`'s), writing here.
    fn subscriber(&self, filter: EnvFilter) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(move || writer.clone())
            .finish()
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one invocation writes to stdout when Lambda sets `AWS_LAMBDA_LOG_LEVEL=level`: a
/// line at each level and the metrics line.
fn invocation_output(level: &str) -> Vec<serde_json::Value> {
    let application = LambdaLevel::parse(Some(level));
    let buffer = Buffer::default();
    tracing::subscriber::with_default(buffer.subscriber(filter(None, application)), || {
        tracing::trace!("trace line");
        tracing::debug!("debug line");
        tracing::info!("info line");
        tracing::warn!("warn line");
        tracing::error!("error line");
        // The SDK's chatter: from WARN only.
        tracing::info!(target: "aws_config::profile", "sdk info line");
        tracing::warn!(target: "aws_config::profile", "sdk warn line");
    });
    let mut metrics = Metrics::new();
    metrics.count("Errors5xx");
    metrics.count("ColdStart");
    metrics
        .write_line(
            &mut buffer.clone(),
            "Rota",
            "PostsCreate",
            "r-1",
            emf_level(application),
        )
        .unwrap();
    buffer.lines()
}

#[test]
fn emf_lines_reach_cloudwatch_at_every_application_level_and_lower_lines_are_not_written() {
    let configs = template_logging();
    assert!(!configs.is_empty());
    let mut levels = Vec::new();
    for config in &configs {
        // Lambda filters application lines only with the JSON format.
        assert_eq!(config["LogFormat"], "JSON", "{config:?}");
        let level = config["ApplicationLogLevel"]
            .as_str()
            .expect("ApplicationLogLevel");
        assert!(LAMBDA_LEVELS.contains(&level), "{level}");
        levels.push(level.to_owned());
    }
    // The template's level, and the stricter ones an operator may set.
    levels.extend(["WARN", "ERROR", "FATAL"].map(String::from));
    for level in &levels {
        let lines = invocation_output(level);
        let emf: Vec<_> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
        assert_eq!(emf.len(), 1, "{level}: {lines:?}");
        assert!(
            lambda_keeps(emf[0], level),
            "{level}: Lambda drops {}",
            emf[0]
        );
        assert_eq!(emf[0]["Errors5xx"], 1.0);
        for line in lines.iter().filter(|l| l.get("_aws").is_none()) {
            assert!(
                lambda_keeps(line, level),
                "{level}: a line below the level was written: {line}"
            );
        }
        let written = |message: &str| lines.iter().any(|l| l["message"] == message);
        let keeps =
            |line_level: &str| lambda_keeps(&serde_json::json!({ "level": line_level }), level);
        for (message, line_level) in [
            ("debug line", "DEBUG"),
            ("info line", "INFO"),
            ("warn line", "WARN"),
            ("error line", "ERROR"),
            ("sdk warn line", "WARN"),
        ] {
            assert_eq!(written(message), keeps(line_level), "{level}: {message}");
        }
        assert!(!written("sdk info line"), "{level}");
    }
}

#[test]
fn the_application_level_comes_from_lambda_names() {
    assert_eq!(LambdaLevel::parse(Some("WARN")), LambdaLevel::Warn);
    assert_eq!(LambdaLevel::parse(Some("error")), LambdaLevel::Error);
    assert_eq!(LambdaLevel::parse(None), LambdaLevel::Info);
    assert_eq!(emf_level(LambdaLevel::Debug), LambdaLevel::Info);
    assert_eq!(emf_level(LambdaLevel::Fatal), LambdaLevel::Fatal);
}

#[test]
fn every_line_carries_the_invocation_ids_once_under_snake_case_names() {
    let buffer = Buffer::default();
    tracing::subscriber::with_default(buffer.subscriber(EnvFilter::new("info")), || {
        // What lambda_runtime opens around each invocation, then ours inside it.
        let runtime = tracing::info_span!(
            "Lambda runtime invoke",
            requestId = "lambda-1",
            xrayTraceId = "Root=1-a-b"
        );
        let _r = runtime.enter();
        tracing::info!("runtime line");
        let ours = tracing::info_span!(
            "invocation",
            request_id = "lambda-1",
            correlation_id = "client-7",
            xray_trace_id = "Root=1-a-b",
            user_id = 5
        );
        let _o = ours.enter();
        tracing::info!(status = 200, "request finished");
    });
    let lines = buffer.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(line["request_id"], "lambda-1", "{line}");
        assert_eq!(line["xray_trace_id"], "Root=1-a-b", "{line}");
        assert!(line.get("requestId").is_none(), "{line}");
        assert!(line.get("xrayTraceId").is_none(), "{line}");
    }
    assert_eq!(lines[1]["correlation_id"], "client-7");
    assert_eq!(lines[1]["user_id"], 5);
    assert_eq!(lines[1]["status"], 200);
    assert_eq!(lines[1]["message"], "request finished");
}
