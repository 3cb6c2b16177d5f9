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

/// Installs the JSON logger once per container. `LOG_LEVEL` (or `RUST_LOG`) sets the level.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("LOG_LEVEL"))
        .unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(format!(
        "{filter},aws_config=warn,aws_smithy_runtime=warn,hyper=warn"
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_carries_the_invocation_ids_once_under_snake_case_names() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
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
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
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
}
