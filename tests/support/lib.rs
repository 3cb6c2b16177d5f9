//! Test support (the library `rota_tests`): how to reach the local stack, or start it, and
//! clients for it. The tests themselves are in `tests/suite/` (one file or folder per
//! resource). Every test makes its own data (unique emails, its own client IP), so tests run
//! in parallel, in one process or one process each.
//!
//! | module | its one job |
//! |---|---|
//! | `harness` | the stack: the one scripts/test.sh names, or one started (or reused) here |
//! | `http` | the gateway's HTTP client ([`Api`], [`HttpReply`], the careful client) |
//! | `accounts` | accounts, posts and roadmaps made through the API |
//! | `in_process` | handlers called in this process: the App, sample events, fixtures |
//! | `tokens` | tokens signed with the stack's own secret |
//! | `dynamodb`, `sqs` | direct access to the emulator's tables and queues |
//! | `logs` | the functions' log lines |
//! | `tools` | rota-admin and `rota-local fire` against the stack |
//! | `tamper` | a DynamoDB client that loses chosen answers, refuses chosen calls, replays requests |
//! | `faults` | a private emulator under a fault profile |
//! | `grants` | a function's grants against the calls it made (the grant test's check) |
//! | `private_stack` | a whole stack of a test's own (its own emulator, roles and gateway) |
// The handlers' futures (extractors, retry budget, SDK calls) nest deeper than the
// compiler's default layout limit when awaited in process.
#![recursion_limit = "256"]

mod accounts;
mod dynamodb;
mod faults;
pub mod grants;
mod harness;
mod http;
mod in_process;
mod logs;
mod private_stack;
mod sqs;
mod tamper;
mod tokens;
mod tools;

pub use accounts::*;
pub use dynamodb::*;
pub use faults::*;
pub use harness::*;
pub use http::*;
pub use in_process::*;
pub use logs::*;
pub use private_stack::*;
pub use sqs::*;
pub use tamper::*;
pub use tokens::*;
pub use tools::*;
