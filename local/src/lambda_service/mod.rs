//! The Lambda service stand-in: runs function binaries unmodified behind the real Lambda Runtime
//! API protocol.
//!
//! Each function has a pool of instances (execution environments), spawned lazily like Lambda:
//! an invocation that finds no idle instance starts a new process, up to `max_instances` per
//! function; beyond that invocations wait for a free slot (FIFO). An instance handles one
//! invocation at a time and is reused afterwards.
//!
//! **One Runtime API listener per instance.** Every instance gets its own `127.0.0.1:<port>`
//! listener and `AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>`. `lambda_runtime` turns that variable
//! into an `http::Uri`; a bare `host:port` (what Lambda itself sets) parses as an authority, while
//! `host:port/prefix` does not parse at all without a scheme, so per-instance *paths* would need
//! a non-Lambda-like `http://` value. A port per instance also tells the server which instance is
//! polling without trusting anything the client sends.
//!
//! **Faults.** With a fault profile's `lambda` section ([`RuntimeOptions::faults`]) each
//! invocation may meet a fault, drawn from the profile's seed and the function's invocation
//! number: `crash_idle` kills the idle instance it would have run on (it runs on a new one),
//! `crash_mid` kills the instance when it posts the outcome ([`InvokeError::Crashed`]), and
//! `timeout` discards the outcome ([`InvokeError::Timeout`], and the instance is recycled).
//!
//! Instance output (stdout and stderr) is appended line by line, unchanged, to
//! `<logs>/<function short name>.log`: those lines are the functions' JSON logs and CloudWatch EMF metrics.
//!
//! The parts: `config` (what runs: functions and shared settings), `invocation` (what an
//! invocation gives back), `service` ([`LambdaService`], the entry point), `pool` (one function's
//! instances: scheduling, spawning, faults), `instance` (a running process and its log), `api`
//! (the Runtime API an instance polls) and `lock`.

mod api;
mod config;
mod instance;
mod invocation;
mod lock;
mod pool;
mod service;

pub use config::{
    DEFAULT_INIT_TIMEOUT, FunctionConfig, OVERRIDE_PREFIX, RuntimeOptions, functions_from_template,
    overrides_from_env,
};
pub use instance::LogSink;
pub use invocation::{
    InvocationReport, InvokeError, InvokeOptions, InvokeOutput, MAX_PAYLOAD_BYTES,
};
pub use service::LambdaService;
