//! The envelope every invocation runs in, whatever the event: a log span carrying the Lambda
//! request id, X-Ray trace id, function name and cold-start flag; the invocation's metrics (its
//! own counters and the cold start) flushed as one line at the end; and, in
//! diagnostic builds, what the invocation cost in DynamoDB and Redis.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::logging::LambdaLevel;
use crate::metrics::Metrics;

/// What stays the same for every invocation of one container (Lambda instance).
#[derive(Debug)]
pub struct Container {
    function: String,
    namespace: String,
    /// The `level` of its metrics lines (see [`crate::logging::emf_level`]).
    emf_level: LambdaLevel,
    cold: AtomicBool,
}

/// The ids an invocation is known by.
#[derive(Debug, Default, Clone)]
pub struct Ids {
    /// Lambda's request id (what Lambda's own START/END/REPORT lines carry).
    pub lambda_request_id: Option<String>,
    pub xray_trace_id: Option<String>,
    /// The caller's own id for the request, logged when it differs from Lambda's.
    pub correlation_id: Option<String>,
}

impl Container {
    pub fn new(function: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            function: function.into(),
            namespace: namespace.into(),
            emf_level: crate::logging::emf_level(crate::logging::application_level()),
            cold: AtomicBool::new(true),
        }
    }

    pub fn function(&self) -> &str {
        &self.function
    }

    /// Starts an invocation; the container's first one is its cold start.
    pub fn begin(&self, ids: Ids) -> Invocation<'_> {
        let started = Instant::now();
        crate::diagnostics::begin();
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let xray_trace_id = ids
            .xray_trace_id
            .or_else(|| std::env::var("_X_AMZN_TRACE_ID").ok())
            .filter(|id| !id.is_empty());
        let lambda_request_id = ids.lambda_request_id.filter(|id| !id.is_empty());
        let log_request_id = lambda_request_id
            .clone()
            .or_else(|| ids.correlation_id.clone())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "invocation",
            request_id = %log_request_id,
            correlation_id = tracing::field::Empty,
            xray_trace_id = tracing::field::Empty,
            function = %self.function,
            cold_start,
            user_id = tracing::field::Empty,
        );
        if let Some(correlation) = ids
            .correlation_id
            .as_deref()
            .filter(|c| lambda_request_id.as_deref().is_some_and(|l| l != *c))
        {
            span.record("correlation_id", correlation);
        }
        if let Some(trace) = &xray_trace_id {
            span.record("xray_trace_id", trace.as_str());
        }
        Invocation {
            container: self,
            span,
            metrics: Metrics::new(),
            started,
            cold_start,
            log_request_id,
        }
    }
}

/// One invocation in progress.
pub struct Invocation<'a> {
    container: &'a Container,
    /// Every log line of the invocation is inside this span.
    pub span: tracing::Span,
    pub metrics: Metrics,
    started: Instant,
    cold_start: bool,
    log_request_id: String,
}

impl Invocation<'_> {
    pub fn cold_start(&self) -> bool {
        self.cold_start
    }

    pub fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// In diagnostic builds with diagnostics on, what the invocation cost, as JSON (also
    /// logged); `None` otherwise.
    pub fn diagnostics(&self, what: &str) -> Option<String> {
        let usage = crate::diagnostics::usage()?;
        let json = serde_json::to_string(&usage).unwrap_or_default();
        let _entered = self.span.enter();
        tracing::info!(diagnostics = %json, "{what} cost");
        Some(json)
    }

    /// Ends the invocation: counts `ColdStart` on a cold start and writes the metrics line.
    /// Its count and duration are not recorded: Lambda's own `Invocations` and `Duration`
    /// (per function, free) are those, and the summary log line carries `duration_ms`.
    pub fn finish(mut self) {
        if self.cold_start {
            self.metrics.count("ColdStart");
        }
        self.metrics.flush(
            &self.container.namespace,
            &self.container.function,
            &self.log_request_id,
            self.container.emf_level,
        );
    }
}
