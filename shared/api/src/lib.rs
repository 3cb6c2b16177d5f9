//! Rota's HTTP API: configuration, the one error type and its problem+json mapping, request
//! parsing, auth, rate limits, the Redis-backed caches, and one handler per endpoint (grouped
//! by resource in `handlers/`). Each function's `main` names one [`app::Handler`] (or
//! [`app::Job`]) and hands it to [`app::run`] (or [`app::run_job`]). Data access is
//! `rota-store`; validated input types are `rota-domain`; logs and metrics are `rota-lambda`.

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod cursor;
pub mod error;
pub mod feeds;
pub mod fields;
pub mod handlers;
pub mod http;
pub mod ratelimit;
pub mod reminders;
pub mod stats;

pub use app::{App, Ctx, Handler, Job, Needs, invoke, run, run_job};
pub use error::{ApiError, ApiResult};
