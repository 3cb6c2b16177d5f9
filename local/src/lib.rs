//! `rota-local`: the local stand-in for API Gateway (HTTP API) and the Lambda service.
//!
//! The real function binaries run unmodified through the Lambda Runtime API protocol, behind a
//! gateway that behaves like an HTTP API with payload format 2.0; DynamoDB, SQS and SSM are moto.
//! Everything is derived from `template.yaml`.
//!
//! - [`template`]: parse the SAM template (routes, throttling, functions, tables, queues).
//! - [`stack`]: start moto and create the template's resources in it.
//! - [`runtime`]: the Lambda service (Runtime API, lazily spawned instances).
//! - [`gateway`]: the HTTP API (routing, throttling, events, responses).
//! - [`server`]: all of it together, as `rota-local serve` runs it.

pub mod gateway;
pub mod runtime;
pub mod server;
pub mod stack;
pub mod template;
