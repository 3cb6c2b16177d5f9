//! Event sources: what invokes functions besides the gateway.
//!
//! - [`schedule`]: EventBridge schedules (`Schedule` / `ScheduleV2` events), fired at their
//!   times or on demand (`rota-local fire`);
//! - [`sqs`]: SQS → Lambda event-source mappings (`SQS` events), with Lambda's semantics.
//!
//! Both read their events from the template and invoke through the Lambda service
//! ([`crate::lambda_service`]).

pub mod schedule;
pub mod sqs;
mod tasks;

/// Whether the Lambda service runs `function`. When it does not, the event source (`source`,
/// for the log) is skipped with a warning: the rest of the stack still runs.
fn lambda_runs(
    lambda: &crate::lambda_service::LambdaService,
    source: &str,
    function: &str,
) -> bool {
    let runs = lambda.function(function).is_some();
    if !runs {
        tracing::warn!("{source}: the Lambda service does not run {function}");
    }
    runs
}
