//! EventBridge schedules: the template's `Schedule` / `ScheduleV2` events fire their functions
//! at their times (wall clock, UTC), with the event EventBridge sends.
//!
//! - [`scheduled_functions`] lists the schedules of a template; [`find_target`] picks one by
//!   function (logical id, handler or binary) and event name.
//! - [`scheduled_event`] builds EventBridge's Scheduled Event;
//!   [`ScheduledFunction::event_at`] gives what the function receives (the event, or `Input`).
//! - [`fire`] invokes a function once with it; `rota-local fire` uses it.
//! - [`ScheduleRunner`] fires every enabled schedule at its times while `serve` runs.
//!
//! Like EventBridge, which invokes functions asynchronously, a firing that ends in a function
//! error (or a timeout, or a crash) is retried twice, one and then two minutes later, with the
//! same event. When the machine slept through several fire times, the schedule fires once, for
//! the latest of them, and logs how many it skipped.

mod runner;
mod target;

pub use runner::{ASYNC_RETRY_DELAYS, ScheduleRunner};
pub use target::{ScheduledFunction, find_target, fire, scheduled_event, scheduled_functions};
