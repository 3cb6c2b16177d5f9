//! CloudWatch Embedded Metric Format: metrics are JSON log lines that CloudWatch turns into
//! metrics, so recording one costs no API call (the Powertools approach).

use std::io::Write;

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

/// Metrics also published with the `service` dimension alone (alarmed on in template.yaml).
pub const SERVICE_WIDE: [&str; 5] = [
    "CacheErrors",
    "RateLimitStoreErrors",
    "DbConflictRetries",
    "DbThrottleRetries",
    "DbUnavailableRetries",
];

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

    /// The EMF document: dimensions `service` and `function`; `request_id` rides along as a
    /// property (searchable in Logs Insights, not a dimension, so it costs no extra metric).
    pub fn to_emf(
        &self,
        namespace: &str,
        function: &str,
        request_id: &str,
        timestamp_ms: i64,
    ) -> serde_json::Value {
        let definitions: Vec<_> = self
            .values
            .iter()
            .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut directives = vec![serde_json::json!({
            "Namespace": namespace,
            "Dimensions": [["service", "function"]],
            "Metrics": definitions,
        })];
        // Dependency health is also published for the whole service, so one alarm watches
        // every function (alarms cannot sum a search over per-function series).
        let service_wide: Vec<_> = self
            .values
            .iter()
            .filter(|(name, _, _)| SERVICE_WIDE.contains(name))
            .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        if !service_wide.is_empty() {
            directives.push(serde_json::json!({
                "Namespace": namespace,
                "Dimensions": [["service"]],
                "Metrics": service_wide,
            }));
        }
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": directives,
            },
            "service": "rota",
            "function": function,
            "request_id": request_id,
        });
        for (name, _, value) in &self.values {
            doc[*name] = serde_json::json!(value);
        }
        doc
    }

    /// Writes the EMF line to stdout (Lambda ships stdout to CloudWatch Logs).
    pub fn flush(&mut self, namespace: &str, function: &str, request_id: &str) {
        if self.values.is_empty() {
            return;
        }
        let doc = self.to_emf(
            namespace,
            function,
            request_id,
            chrono::Utc::now().timestamp_millis(),
        );
        let mut out = std::io::stdout().lock();
        // A failed log write must not fail the request.
        let _ = writeln!(out, "{doc}");
        self.values.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_every_metric_they_carry() {
        let mut m = Metrics::new();
        m.count("Requests");
        m.count("Requests");
        m.add("Latency", Unit::Milliseconds, 12.5);
        let doc = m.to_emf("Rota", "AuthLogin", "r-1", 1000);
        let defs = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(defs["Namespace"], "Rota");
        assert_eq!(defs["Metrics"][0]["Name"], "Requests");
        assert_eq!(defs["Metrics"][1]["Unit"], "Milliseconds");
        assert_eq!(doc["Requests"], 2.0);
        assert_eq!(doc["Latency"], 12.5);
        assert_eq!(doc["function"], "AuthLogin");
        assert_eq!(
            defs["Dimensions"][0],
            serde_json::json!(["service", "function"])
        );
    }
}
