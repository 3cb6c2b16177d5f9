//! Configuration from the environment, read once per container.

use std::time::Duration;

/// The environment variable rota-local sets in every function it runs (and the template never
/// sets): only then do the reminder scheduler and worker take their clock from the event.
pub const LOCAL_CLOCK_ENV: &str = "ROTA_LOCAL_CLOCK";

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// `max` requests per `window_secs`, as written in the environment: `"30/60"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_secs: u32,
}

impl Limit {
    pub const fn new(max: u32, window_secs: u32) -> Self {
        Self { max, window_secs }
    }

    fn parse(raw: &str) -> Option<Self> {
        let (max, window) = raw.split_once('/')?;
        let max = max.trim().parse().ok().filter(|m| *m > 0)?;
        let window_secs = window.trim().parse().ok().filter(|w| *w > 0)?;
        Some(Self { max, window_secs })
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The Lambda function's name (AWS_LAMBDA_FUNCTION_NAME), used in logs and metrics.
    pub function_name: String,
    pub table_name: String,
    /// `redis://` or `rediss://` URL of the cache cluster.
    pub redis_url: Option<String>,
    /// SSM parameter holding the JWT signing secret.
    pub jwt_secret_param: Option<String>,
    /// The access tokens' `iss` and `aud` (the template names the stack in both).
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub metrics_namespace: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// How long after a rotation a refresh retried with the same `Idempotency-Key` gets the
    /// same new token back instead of counting as re-use.
    pub refresh_replay_window: Duration,
    /// Login attempts per client IP.
    pub login_ip_limit: Limit,
    /// Login attempts per account (email) and client IP; a success clears the count.
    pub login_account_limit: Limit,
    /// Login attempts per account from clients without a valid device token, all addresses
    /// together (auth/device.rs).
    pub login_untrusted_limit: Limit,
    /// Login attempts per device token (a device that signed in to the account before); a
    /// success clears the count.
    pub login_device_limit: Limit,
    /// Registrations per client IP.
    pub register_ip_limit: Limit,
    /// New posts per user (the owner's 5 per 60 s).
    pub post_limit: Limit,
    /// New comments per user.
    pub comment_limit: Limit,
    /// Roadmaps generated per user.
    pub roadmap_limit: Limit,
    /// Likes and unlikes per user (together).
    pub like_limit: Limit,
    /// Post edits per user.
    pub edit_limit: Limit,
    /// How many partitions the post feeds are spread over (see docs/data-model.md).
    pub feed_shards: u32,
    /// How long community stats are cached (the owner's 300 s).
    pub stats_ttl_secs: u64,
    /// The cache key of the community stats.
    pub stats_cache_key: String,
    /// The SQS queue the reminder scheduler feeds.
    pub reminders_queue_url: Option<String>,
    /// Under rota-local only (`ROTA_LOCAL_CLOCK=1`, which the template never sets): the
    /// reminder scheduler and worker take their clock from the event (`make reminders-now`).
    pub local_clock: bool,
    /// How long one request may spend in the data layer, retries included (then 503). Sized to
    /// the owner's latency targets: a request that needs longer is better answered "retry".
    pub db_retry_budget: Duration,
    /// The most one DynamoDB attempt may take before it is abandoned and retried.
    pub db_attempt_timeout: Duration,
    /// How long the first page of a feed is shared through the cache (zero: not at all).
    pub feed_cache_ttl: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let limit = |name: &str, default: Limit| -> Result<Limit, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => Limit::parse(&raw).ok_or_else(|| {
                    ConfigError(format!("{name} must look like 30/60, got {raw:?}"))
                }),
            }
        };
        let secs = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(raw) => raw
                    .parse()
                    .map(Duration::from_secs)
                    .map_err(|_| ConfigError(format!("{name} must be whole seconds, got {raw:?}"))),
            }
        };
        let millis = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(Duration::from_millis(default)),
                Some(raw) => raw
                    .parse()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        ConfigError(format!("{name} must be whole milliseconds, got {raw:?}"))
                    }),
            }
        };
        Ok(Self {
            function_name: get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "local".into()),
            table_name: get("TABLE_NAME").unwrap_or_else(|| "RotaTable".into()),
            redis_url: get("REDIS_URL").filter(|s| !s.is_empty()),
            jwt_secret_param: get("JWT_SECRET_PARAM").filter(|s| !s.is_empty()),
            jwt_issuer: get("JWT_ISSUER").filter(|s| !s.is_empty()),
            jwt_audience: get("JWT_AUDIENCE").filter(|s| !s.is_empty()),
            metrics_namespace: get("METRICS_NAMESPACE").unwrap_or_else(|| "Rota".into()),
            access_token_ttl: secs("ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_token_ttl: secs("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            refresh_replay_window: secs("REFRESH_REPLAY_WINDOW_SECS", 120)?,
            login_ip_limit: limit("LOGIN_IP_LIMIT", Limit::new(30, 60))?,
            login_account_limit: limit("LOGIN_ACCOUNT_LIMIT", Limit::new(10, 900))?,
            login_untrusted_limit: limit("LOGIN_UNTRUSTED_LIMIT", Limit::new(30, 900))?,
            login_device_limit: limit("LOGIN_DEVICE_LIMIT", Limit::new(10, 900))?,
            register_ip_limit: limit("REGISTER_IP_LIMIT", Limit::new(20, 3600))?,
            post_limit: limit("POST_CREATE_LIMIT", Limit::new(5, 60))?,
            comment_limit: limit("COMMENT_CREATE_LIMIT", Limit::new(20, 60))?,
            roadmap_limit: limit("ROADMAP_CREATE_LIMIT", Limit::new(10, 3600))?,
            like_limit: limit("LIKE_LIMIT", Limit::new(60, 60))?,
            edit_limit: limit("EDIT_LIMIT", Limit::new(20, 60))?,
            feed_shards: match get("FEED_SHARDS") {
                None => 1,
                Some(raw) => raw
                    .parse()
                    .ok()
                    .filter(|n| (1..=32).contains(n))
                    .ok_or_else(|| {
                        ConfigError(format!("FEED_SHARDS must be 1..=32, got {raw:?}"))
                    })?,
            },
            stats_ttl_secs: secs("STATS_TTL_SECS", 300)?.as_secs(),
            stats_cache_key: get("STATS_CACHE_KEY").unwrap_or_else(|| "stats:v2".into()),
            reminders_queue_url: get("REMINDERS_QUEUE_URL").filter(|s| !s.is_empty()),
            local_clock: get(LOCAL_CLOCK_ENV).as_deref() == Some("1"),
            db_retry_budget: millis("DB_RETRY_BUDGET_MS", 1000)?,
            db_attempt_timeout: millis("DB_ATTEMPT_TIMEOUT_MS", 500)?,
            feed_cache_ttl: match get("FEED_CACHE_TTL_MS") {
                None => Duration::from_millis(1000),
                Some(raw) => raw.parse().map(Duration::from_millis).map_err(|_| {
                    ConfigError(format!(
                        "FEED_CACHE_TTL_MS must be whole milliseconds, got {raw:?}"
                    ))
                })?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_as_count_per_seconds() {
        let c = Config::from_lookup(|k| (k == "LOGIN_IP_LIMIT").then(|| "5/10".into())).unwrap();
        assert_eq!(c.login_ip_limit, Limit::new(5, 10));
        assert_eq!(c.login_account_limit, Limit::new(10, 900));
    }

    #[test]
    fn nonsense_limits_fail_at_start_not_at_request_time() {
        assert!(Config::from_lookup(|k| (k == "LOGIN_IP_LIMIT").then(|| "five".into())).is_err());
        assert!(Config::from_lookup(|k| (k == "LOGIN_IP_LIMIT").then(|| "0/60".into())).is_err());
    }
}
