//! Rota's shared library: everything the Lambda functions have in common. Each function's
//! `main` names one [`app::Handler`] and hands it to [`app::run`].

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod cursor;
pub mod diagnostics;
pub mod domain;
pub mod error;
pub mod feeds;
pub mod handlers;
pub mod http;
pub mod ids;
pub mod logging;
pub mod metrics;
pub mod ratelimit;
pub mod reminders;
pub mod stats;
pub mod store;
pub mod streak;

pub use app::{App, Ctx, Handler, Job, Needs, invoke, run, run_job};
pub use error::{ApiError, ApiResult};
