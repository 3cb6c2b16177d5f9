//! `rota-local`: the local stand-in for API Gateway (HTTP API) and the Lambda service.
//!
//! The real function binaries run unmodified through the Lambda Runtime API protocol, behind a
//! gateway that behaves like an HTTP API with payload format 2.0; DynamoDB, SQS and SSM are moto.
//! Everything is derived from `template.yaml`.
//!
//! - [`template`]: parse the SAM template (the model, loading, intrinsics, routes, schedule
//!   expressions).
//! - [`stack`]: start moto and create the template's resources in it.
//! - [`iam`]: the functions' execution roles (created in the emulator, which enforces them).
//! - [`lambda_service`]: the Lambda service (lazily spawned instances, the Runtime API they poll).
//! - [`gateway`]: the HTTP API (routing, throttling, events, responses).
//! - [`events`]: the other event sources: EventBridge schedules and SQS → Lambda mappings.
//! - [`faults`]: fault profiles (`local/faults.yaml`), the Lambda faults and the counts.
//! - [`redis_proxy`]: the proxy in front of Redis that takes it down on a profile's schedule.
//! - [`cache_cluster`]: the stack's cache, a Redis cluster over TLS (and its local CA).
//! - [`server`]: all of it together, as `rota-local serve` runs it.
//! - `process`: how child processes (moto, instances, cache nodes) are started; `net`: how the
//!   servers accept connections; `json_file`: the JSON files other processes read.

pub mod cache_cluster;
pub mod events;
pub mod faults;
pub mod gateway;
pub mod iam;
mod json_file;
pub mod lambda_service;
mod net;
mod process;
pub mod redis_proxy;
pub mod server;
pub mod stack;
pub mod template;
