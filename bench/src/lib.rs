//! The benchmark harness (`rota-bench`): every function binary run the way Lambda runs it,
//! through the Runtime API of [`rota_local::lambda_service`], behind the local gateway.
//!
//! For each function: a cold start (its instances recycled first, so the first request starts a
//! new process), then `warm` invocations on the same instance. Per function it reports
//! - the binary size;
//! - the init duration (process start → first poll for an event, Lambda's `Init Duration`);
//! - CPU time per warm invocation: the instance's on-CPU time (all threads, from
//!   `/proc/<pid>/task/*/schedstat`) before and after each request, so gateway and emulator
//!   work is not counted;
//! - the invocation duration (Lambda's `Duration`), which includes waiting for DynamoDB
//!   (the local emulator, not AWS) and Redis;
//! - peak RSS (`VmHWM`) of the instance after the warm runs (Lambda's `Max Memory Used`);
//! - in diagnostic mode (`ROTA_DIAGNOSTICS=1`, set for every instance), what the last warm
//!   request cost: DynamoDB calls, sequential round trips, Redis calls, capacity units.
//!
//! Each measured request makes its own data first (a post to like, a comment to delete, a
//! refresh token to rotate) through the other functions, outside the measurement.
//!
//! The parts: `client` (requests to the gateway), `measure` (one function's cold and warm runs,
//! and what `/proc` says about its instance), `run` (every case, with the data each needs) and
//! `report` (the Markdown table).

mod client;
mod measure;
mod report;
mod run;

pub use client::{Client, GatewayResponse, Req};
pub use measure::{Figures, cpu_time, peak_rss_kib};
pub use report::{default_out_dir, markdown, since};
pub use run::{Plan, run_all};
