//! What the data layer and the cache do when AWS or Redis fail: the one retry policy against
//! an emulator that fails like DynamoDB, and the cache's circuit breaker. (The whole stack under
//! a fault profile: `storm`, run by scripts/test.sh under `bad-day` too.)

mod cache_outage;
mod dynamo_rules;
mod retry_policy;
