//! CloudWatch Embedded Metric Format: metrics are JSON log lines that CloudWatch turns into
//! metrics, so recording one costs no API call (the Powertools approach). Only the few names
//! in [`PUBLISHED`] become custom metrics, with few dimensions; the rest of an invocation's
//! counters are properties of the same line.

use std::io::Write;

use crate::logging::LambdaLevel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// The dimensions a metric is published with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimensions {
    /// `service` alone: one custom metric for the whole service, whichever function records it.
    Service,
    /// `service` and `function`: one custom metric per function (per route: one function per
    /// route). Only for values that are absent in a healthy hour, so the hourly pro-rating
    /// keeps them near free.
    Function,
}

impl Dimensions {
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Dimensions::Service => &["service"],
            Dimensions::Function => &["service", "function"],
        }
    }
}

/// The metrics CloudWatch gets, each a custom metric billed per dimension set and hour with
/// data (docs/operations.md, "What is a metric and what is not"). Everything else an
/// invocation records (sign-ups, logins, posts, feed cache hits, 4xx, ...) stays in its log
/// line as a plain property: searchable with Logs Insights, no custom metric. Per-route
/// traffic, latency and function errors are AWS/Lambda's own free metrics (one function per
/// route), so no `Requests` or `Latency` is recorded at all.
pub const PUBLISHED: &[(&str, Dimensions)] = &[
    // The owner's KPIs: DAU / MAU and the stats cache hit rate.
    ("ActiveUsers24h", Dimensions::Service),
    ("ActiveUsers30d", Dimensions::Service),
    ("CacheHits", Dimensions::Service),
    ("CacheMisses", Dimensions::Service),
    // Cold starts, all functions (per function: the `cold_start` field of the log lines).
    ("ColdStart", Dimensions::Service),
    // Server errors per route (a function answering 500 is no Lambda error).
    ("Errors5xx", Dimensions::Function),
    // The functions' own 429s (per user / IP limits in Redis).
    ("RateLimited", Dimensions::Service),
    // A refresh token used twice: the family is revoked (a stolen token, or a client bug).
    ("RefreshTokenReuse", Dimensions::Service),
    // Dependency health, alarmed on in template.yaml.
    ("CacheErrors", Dimensions::Service),
    ("RateLimitStoreErrors", Dimensions::Service),
    ("DbConflictRetries", Dimensions::Service),
    ("DbThrottleRetries", Dimensions::Service),
    ("DbUnavailableRetries", Dimensions::Service),
    // Daily reminders (scheduler and workers).
    ("RemindersDue", Dimensions::Service),
    ("RemindersEnqueued", Dimensions::Service),
    ("RemindersDelivered", Dimensions::Service),
    ("ReminderFailures", Dimensions::Service),
    ("ReminderLagSeconds", Dimensions::Service),
    ("JobErrors", Dimensions::Service),
];

/// How `name` is published, if it is (see [`PUBLISHED`]).
pub fn published(name: &str) -> Option<Dimensions> {
    PUBLISHED.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// Metrics of one invocation, flushed as a single EMF line at its end.
#[derive(Debug, Default)]
pub struct Metrics {
    values: Vec<(&'static str, Unit, f64)>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds to a metric; repeated names are summed.
    pub fn add(&mut self, name: &'static str, unit: Unit, value: f64) {
        match self.values.iter_mut().find(|(n, _, _)| *n == name) {
            Some(entry) => entry.2 += value,
            None => self.values.push((name, unit, value)),
        }
    }

    pub fn count(&mut self, name: &'static str) {
        self.add(name, Unit::Count, 1.0);
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: Metrics) {
        for (name, unit, value) in other.values {
            self.add(name, unit, value);
        }
    }

    /// The value recorded so far for `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, v)| *v)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The invocation's log line: every recorded value as a property, and an EMF directive
    /// (`_aws`) declaring those of them that are [`PUBLISHED`], per dimension set. Without a
    /// published value the line is plain JSON (no `_aws`): CloudWatch makes no metric of it.
    /// `request_id` rides along as a property (searchable in Logs Insights, not a dimension,
    /// so it costs no extra metric).
    pub fn to_emf(
        &self,
        namespace: &str,
        function: &str,
        request_id: &str,
        timestamp_ms: i64,
    ) -> serde_json::Value {
        let mut directives = Vec::new();
        for dims in [Dimensions::Service, Dimensions::Function] {
            let declared: Vec<_> = self
                .values
                .iter()
                .filter(|(name, _, _)| published(name) == Some(dims))
                .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit.as_str()}))
                .collect();
            if !declared.is_empty() {
                directives.push(serde_json::json!({
                    "Namespace": namespace,
                    "Dimensions": [dims.keys()],
                    "Metrics": declared,
                }));
            }
        }
        let mut doc = serde_json::json!({
            "service": "rota",
            "function": function,
            "request_id": request_id,
        });
        if !directives.is_empty() {
            doc["_aws"] = serde_json::json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": directives,
            });
        }
        for (name, _, value) in &self.values {
            doc[*name] = serde_json::json!(value);
        }
        doc
    }

    /// Writes the line straight to stdout (Lambda ships stdout to CloudWatch Logs), not
    /// through the log subscriber, so the application log filter never drops it; `level` is
    /// [`crate::logging::emf_level`], so Lambda's own filter keeps it too. Nothing when nothing
    /// was recorded.
    pub fn flush(&mut self, namespace: &str, function: &str, request_id: &str, level: LambdaLevel) {
        // A failed log write must not fail the request.
        let _ = self.write_line(
            &mut std::io::stdout().lock(),
            namespace,
            function,
            request_id,
            level,
        );
    }

    /// [`Self::flush`] into `out`.
    pub fn write_line(
        &mut self,
        out: &mut impl Write,
        namespace: &str,
        function: &str,
        request_id: &str,
        level: LambdaLevel,
    ) -> std::io::Result<()> {
        if self.values.is_empty() {
            return Ok(());
        }
        let mut doc = self.to_emf(
            namespace,
            function,
            request_id,
            chrono::Utc::now().timestamp_millis(),
        );
        doc["level"] = level.as_str().into();
        self.values.clear();
        writeln!(out, "{doc}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_metrics_are_declared_with_their_dimensions_and_the_rest_are_properties() {
        let mut m = Metrics::new();
        m.count("ColdStart");
        m.count("Errors5xx");
        m.count("Logins");
        m.count("Logins");
        m.add("ReminderLagSeconds", Unit::Seconds, 12.5);
        let doc = m.to_emf("Rota", "AuthLogin", "r-1", 1000);
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2, "{doc}");
        let service = &directives[0];
        assert_eq!(service["Namespace"], "Rota");
        assert_eq!(service["Dimensions"], serde_json::json!([["service"]]));
        assert_eq!(service["Metrics"][0]["Name"], "ColdStart");
        assert_eq!(service["Metrics"][1]["Name"], "ReminderLagSeconds");
        assert_eq!(service["Metrics"][1]["Unit"], "Seconds");
        let function = &directives[1];
        assert_eq!(
            function["Dimensions"],
            serde_json::json!([["service", "function"]])
        );
        assert_eq!(function["Metrics"][0]["Name"], "Errors5xx");
        // Not published, still in the line.
        assert!(!doc["_aws"].to_string().contains("Logins"), "{doc}");
        assert_eq!(doc["Logins"], 2.0);
        assert_eq!(doc["ReminderLagSeconds"], 12.5);
        assert_eq!(doc["function"], "AuthLogin");
        assert_eq!(doc["service"], "rota");
    }

    #[test]
    fn a_line_without_published_values_has_no_emf_directive() {
        let mut m = Metrics::new();
        m.count("SignUps");
        let doc = m.to_emf("Rota", "AuthRegister", "r-2", 1000);
        assert!(doc.get("_aws").is_none(), "{doc}");
        assert_eq!(doc["SignUps"], 1.0);
    }

    #[test]
    fn few_metrics_are_published_and_only_error_counts_per_function() {
        // Each published name is a custom metric ($0.30 a month while it has data every
        // hour): keep the list short (scripts/cost_model.py prices it).
        assert!(PUBLISHED.len() <= 20, "{}", PUBLISHED.len());
        for (name, dims) in PUBLISHED {
            if *dims == Dimensions::Function {
                assert!(name.starts_with("Errors"), "{name} per function");
            }
        }
        for name in ["Requests", "Latency", "Invocations", "Errors4xx"] {
            assert!(published(name).is_none(), "{name} duplicates a free metric");
        }
    }
}
