//! Every test of Rota's backend, one module per resource: `cargo test likes` (or
//! `cargo nextest run likes`) runs `likes::*` and whatever else names likes, from the
//! repository root, against the local stack that `rota_tests` finds or starts (see
//! `tests/support/harness/mod.rs`; `make test` runs everything, twice for a subset under faults).
//!
//! In a file, tests through the gateway (HTTP to the real function binaries) come first; the
//! tests that call the handlers in this process, against the stack's emulator and Redis, sit in
//! its `mod in_process` (scripts/test.sh leaves them out of the run under faults).
//!
//! | module | what |
//! |---|---|
//! | `architecture` | the crate and module graphs (docs/architecture.md) |
//! | `auth` | registration, login and its limits, sessions, access tokens, abuse |
//! | `users` | `/api/users/me` |
//! | `posts` | posts, and `posts::feeds` (the new and top feeds, pages, cursors) |
//! | `likes`, `comments` | a post's likes and comments |
//! | `community_stats` | `/api/community/stats` and the activity behind it |
//! | `roadmaps`, `dashboard` | roadmaps, steps and streaks; the dashboard |
//! | `notifications`, `reminders` | the inbox; daily reminders (worker, schedule, under faults) |
//! | `health` | readiness, liveness, the OpenAPI route, the default route |
//! | `docs` | `/docs`, the interactive reference, and its files (in a browser: tests/browser/) |
//! | `design_docs` | docs/architecture.md, data-model.md, operations.md against the code and the template |
//! | `conventions` | problem+json, request ids, API Gateway's own throttling |
//! | `security_headers`, `cors`, `logs` | headers on every response, CORS, log lines |
//! | `idempotency` | `Idempotency-Key` on the creating POSTs |
//! | `storm` | many users at once on hot posts: every count exact |
//! | `faults` | the data layer's retry policy and the cache's circuit breaker |
//! | `iam` | every function under its own role, enforced by the emulator; who may write a user's role |
//! | `cache` | the cache cluster over TLS, verified; a primary that dies is survived |
//! | `contract` | the template, the OpenAPI document, the contract's calls, the sample events |
//! | `openapi_exact` | the OpenAPI document declares what the code enforces (enums, patterns, statuses, links) |
//! | `template` | `template.yaml` against the operations and security rules, by topic |
//! | `restore_drill`, `bench_harness` | export/import of the table; rota-bench works |
//!
//! One test has a process of its own (it reads a process-wide counter): `tests/alone/`.
// The handlers' futures (extractors, retry budget, SDK calls) nest deeper than the
// compiler's default layout limit when awaited in process.
#![recursion_limit = "256"]

mod architecture;
mod auth;
mod bench_harness;
mod cache;
mod comments;
mod community_stats;
mod contract;
mod conventions;
mod cors;
mod dashboard;
mod design_docs;
mod docs;
mod faults;
mod health;
mod iam;
mod idempotency;
mod likes;
mod logs;
mod notifications;
mod openapi_exact;
mod posts;
mod reminders;
mod restore_drill;
mod roadmaps;
mod security_headers;
mod storm;
mod template;
mod users;
