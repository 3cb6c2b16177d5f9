//! Event sources: what invokes functions besides the gateway.
//!
//! - [`schedule`]: EventBridge schedules (`Schedule` / `ScheduleV2` events), fired at their
//!   times or on demand (`rota-local fire`);
//! - [`sqs`]: SQS → Lambda event-source mappings (`SQS` events), with Lambda's semantics.
//!
//! Both read their events from the template and invoke through the Lambda service
//! ([`crate::runtime`]).

pub mod schedule;
pub mod sqs;
mod tasks;
