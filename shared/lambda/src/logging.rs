//! JSON logs, one object per line, with the invocation's span fields flattened into every
//! line, as CloudWatch Logs Insights likes them:
//!
//! - `request_id`: the Lambda request id (the one in Lambda's own START/END/REPORT lines);
//! - `correlation_id`: the API's request id (`x-request-id`, also in problem bodies) when the
//!   client sent its own, so differs from `request_id`; absent otherwise (they are equal);
//! - `xray_trace_id`: the X-Ray trace (`Root=1-…;Parent=…;Sampled=…`), as Powertools logs it;
//! - `function`, `cold_start`, `user_id` (once known).
//!
//! The Lambda runtime's own span names the first two `requestId` and `xrayTraceId`; they are
//! renamed here so a line never carries one value under two names.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Lambda's application log levels (advanced logging controls), least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LambdaLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LambdaLevel {
    /// The level Lambda gives a line: its `level` field, INFO when it is missing or not one
    /// of Lambda's (its documented rule for JSON application logs).
    pub fn parse(name: Option<&str>) -> Self {
        match name.map(str::to_ascii_uppercase).as_deref() {
            Some("TRACE") => Self::Trace,
            Some("DEBUG") => Self::Debug,
            Some("WARN" | "WARNING") => Self::Warn,
            Some("ERROR") => Self::Error,
            Some("FATAL") => Self::Fatal,
            _ => Self::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }

    /// The `tracing` directive that keeps exactly the lines Lambda would keep (tracing has no
    /// FATAL, so at FATAL no line of ours would reach CloudWatch: none is written).
    fn directive(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Fatal => "off",
        }
    }
}

/// The function's application log level: `AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from the
/// template's `LoggingConfig.ApplicationLogLevel` (JSON format); INFO when unset.
pub fn application_level() -> LambdaLevel {
    LambdaLevel::parse(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref())
}

/// The `level` of an EMF line (`metrics.rs`): Lambda drops a JSON line below the application
/// log level and reads a line without `level` as INFO, so a metrics line carries the
/// threshold itself (INFO at most verbose): it always passes, and the alarms on its metrics
/// keep their data whatever the level.
pub fn emf_level(application: LambdaLevel) -> LambdaLevel {
    application.max(LambdaLevel::Info)
}

/// The filter of the application's log lines: `RUST_LOG` when set (per-target directives,
/// for local debugging), else the application log level; the SDK's and hyper's chatter only
/// from WARN (or the application level, when stricter).
pub fn filter(rust_log: Option<&str>, application: LambdaLevel) -> EnvFilter {
    let base = rust_log.unwrap_or(application.directive());
    let noisy = application.max(LambdaLevel::Warn).directive();
    EnvFilter::try_new(format!(
        "{base},aws_config={noisy},aws_smithy_runtime={noisy},hyper={noisy}"
    ))
    .unwrap_or_else(|_| EnvFilter::new(application.directive()))
}

/// Installs the JSON logger once per container, at [`application_level`] (or `RUST_LOG`).
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(rust_log.as_deref(), application_level()))
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .with_writer(std::io::stdout)
        .try_init();
}

pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = serde_json::Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(serde_json::Value::Object(map)) =
                        serde_json::from_str(fields.fields.as_str())
                {
                    line.extend(map.into_iter().map(|(k, v)| (snake_case(k), v)));
                }
            }
        }
        let mut visitor = Visitor(&mut line);
        event.record(&mut visitor);
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

/// The Lambda runtime span's field names in ours.
fn snake_case(name: String) -> String {
    match name.as_str() {
        "requestId" => "request_id".into(),
        "xrayTraceId" => "xray_trace_id".into(),
        "tenantId" => "tenant_id".into(),
        _ => name,
    }
}

struct Visitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}
