//! Reads the SAM template (`template.yaml`) into what the local stack needs.
//!
//! `template.yaml` is the single source of truth for routes, throttling, functions, tables and
//! queues, so the local stack derives everything from it instead of keeping its own copy.
//!
//! CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, ...) are normalised to their long form
//! (`{"Ref": ..}`, `{"Fn::Sub": ..}`, `{"Fn::GetAtt": [res, attr]}`) while loading, so the rest of
//! the code only deals with one shape. Intrinsics are resolved for local use by
//! [`Template::resolve`] / [`Template::function_env`].
//!
//! ```no_run
//! let t = rota_local::template::Template::load("template.yaml")?;
//! for r in t.routes() {
//!     println!("{} {} -> {} ({})", r.method, r.path, r.function, r.name);
//! }
//! # Ok::<(), rota_local::template::TemplateError>(())
//! ```
//!
//! The parts, each with one job (they use each other directly, never through this file):
//! - `model`: the types ([`Template`], [`Function`], [`Table`], [`Queue`], ...) and the local
//!   account's constants;
//! - `yaml`: template text to JSON, short tags in their long form ([`template_json`]);
//! - `load`: [`Template::load`] / [`Template::parse`]: parameters, the HTTP API, functions;
//! - `events`: a function's schedule and SQS events;
//! - `resources`: tables and queues;
//! - `intrinsics`: `Ref`, `Fn::Sub`, conditions, ... resolved for local use;
//! - `routes`: the routes and their throttling, as the gateway serves them;
//! - `schedule_expression`: `rate()`, `cron()` and `at()` with their fire times.

mod events;
mod intrinsics;
mod load;
mod model;
mod resources;
mod routes;
mod schedule_expression;
mod yaml;

pub(crate) use model::queue_url;
pub use model::{
    ACCOUNT_BURST_LIMIT, ACCOUNT_RATE_LIMIT, AttributeDefinition, Cors, DEFAULT_ROUTE_KEY,
    DEFAULT_SQS_BATCH_SIZE, EventSource, Function, FunctionEvent, HttpApi, HttpRoute,
    KeySchemaElement, LOCAL_ACCOUNT_ID, LOCAL_API_ID, LOCAL_REGION, LOCAL_STACK_NAME, LocalContext,
    LoggingConfig, Parameter, Projection, Queue, RedrivePolicy, ScheduleSource, SecondaryIndex,
    SqsSource, Table, Template, TemplateError, Throttle, ThrottleSettings, TimeToLive,
};
pub use routes::{RouteInfo, normalize_route_key};
pub use schedule_expression::{ExpressionError, ScheduleExpression};
pub use yaml::template_json;

#[cfg(test)]
mod tests;

/// Templates the unit tests share (`testdata/`), so each part is tested on the same stack.
#[cfg(test)]
pub(crate) mod fixtures {
    /// Every kind of resource: parameters, globals, the HTTP API, a table, a cache, queues and
    /// functions.
    pub(crate) const STACK: &str = include_str!("testdata/stack.yaml");
    /// Functions with SQS, schedule and HTTP events, and the queues they read.
    pub(crate) const EVENTS: &str = include_str!("testdata/events.yaml");
}
