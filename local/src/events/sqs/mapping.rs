//! The template's `SQS` events as mappings: queue, batching, concurrency.

use std::time::Duration;

use crate::template::{SqsSource, Template, queue_url};

/// SQS's default visibility timeout, for queues that do not set one.
const DEFAULT_VISIBILITY_TIMEOUT: u32 = 30;

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
            queue_url: queue_url(aws_endpoint, &source.queue_name),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_from_sources() {
        // Worker.Off is disabled: no mapping.
        let t = Template::parse(crate::template::fixtures::EVENTS).unwrap();
        let m = mappings_from_template(&t, "http://127.0.0.1:5005/");
        assert_eq!(
            m,
            vec![
                SqsMapping {
                    function: "Worker".into(),
                    event: "Jobs".into(),
                    queue_name: "jobs".into(),
                    queue_arn: "arn:aws:sqs:us-east-1:123456789012:jobs".into(),
                    queue_url: "http://127.0.0.1:5005/123456789012/jobs".into(),
                    batch_size: 5,
                    batching_window: Duration::from_secs(2),
                    report_batch_item_failures: true,
                    concurrency: 3,
                },
                // The defaults.
                SqsMapping {
                    function: "Worker".into(),
                    event: "Plain".into(),
                    queue_name: "rota-local-dlq".into(),
                    queue_arn: "arn:aws:sqs:us-east-1:123456789012:rota-local-dlq".into(),
                    queue_url: "http://127.0.0.1:5005/123456789012/rota-local-dlq".into(),
                    batch_size: crate::template::DEFAULT_SQS_BATCH_SIZE,
                    batching_window: Duration::ZERO,
                    report_batch_item_failures: false,
                    concurrency: 1,
                }
            ]
        );
    }
}
