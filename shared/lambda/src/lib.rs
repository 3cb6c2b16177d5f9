//! What every Rota Lambda function runs on, whatever its endpoint or event source: JSON logs
//! with the invocation's context, CloudWatch EMF metrics, and diagnostics — per-invocation
//! DynamoDB/Redis cost for the benchmark harness, compiled in only with the `diagnostics`
//! feature (deployed builds leave it off).

#[cfg(feature = "diagnostics")]
pub mod diagnostics;
#[cfg(not(feature = "diagnostics"))]
#[path = "diagnostics_off.rs"]
pub mod diagnostics;
pub mod invocation;
pub mod logging;
pub mod metrics;
