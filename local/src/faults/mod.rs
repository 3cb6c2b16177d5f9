//! Fault profiles (`local/faults.yaml`): what rota-local injects itself, and the counts of what
//! it injected.
//!
//! A profile has five sections. `dynamodb` and `sqs` belong to the emulator wrapper
//! (`local/moto_server.py`), which gets `--faults-file` and `--faults` from
//! [`crate::stack::MotoServer`]; rota-local keeps them as written. `redis` is served by the
//! proxy of [`crate::redis_proxy`], `lambda` by the Lambda service ([`LambdaFaultPlan`]). Every
//! decision is drawn from the profile's seed, the kind of fault, its subject and the call
//! number ([`draw`]), so a run with the same seed meets the same faults.
//!
//! What was injected is counted in [`FaultCounts`]; [`FaultReporter`] keeps
//! `<logs>/faults.json` up to date and logs a summary line every 10 s when the counts changed.
//!
//! One module a concern: `profile` reads and checks the file, `seeded` makes the seeded
//! decisions, `lambda` applies them to invocations, `counts` and `report` say what was
//! injected.

mod counts;
mod lambda;
mod profile;
mod report;
mod seeded;

pub use counts::{FaultCounts, REDIS_CONNECTIONS_CUT, REDIS_CONNECTIONS_REFUSED, REDIS_OUTAGES};
pub use lambda::{LambdaFault, LambdaFaultPlan};
pub use profile::{
    FaultProfile, LambdaFaults, OutageMode, RedisFaults, RedisOutage, parse_profiles,
};
pub use report::{FaultReport, FaultReporter, REPORT_FILE, read_report, report_file};
pub use seeded::draw;

/// The profile that injects nothing (`--faults` default). It reads no file.
pub const NO_FAULTS: &str = "none";
/// Where the profiles are, relative to the repository root (the template's directory).
pub const DEFAULT_FAULTS_FILE: &str = "local/faults.yaml";
/// Path of the emulator's own counts, after its endpoint.
pub const EMULATOR_COUNTS_PATH: &str = "/_rota/faults";
