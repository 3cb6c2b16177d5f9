//! Rota's HTTP API: configuration, the one error type and its problem+json mapping, request
//! parsing, auth, rate limits, the Redis-backed caches, and one handler per endpoint (grouped
//! by resource in `handlers/`). Each function's `main` names one [`function::Handler`] (or
//! [`function::Job`]) and hands it to [`function::run`] (or [`function::run_job`]). Data
//! access is `rota-store`; validated input types are `rota-domain`; logs and metrics are
//! `rota-lambda`.

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod cursor;
pub mod email;
pub mod error;
pub mod extract;
pub mod feeds;
pub mod fields;
pub mod function;
pub mod handlers;
pub mod http;
pub mod idempotency;
pub mod precompressed;
pub mod ratelimit;
pub mod reminders;
pub mod roadmap_text;
pub mod state;
pub mod stats;

#[cfg(test)]
mod proptests;

pub use app::{App, Ctx};
pub use error::{ApiError, ApiResult};
pub use function::{Handler, Job, invoke, run, run_job};
