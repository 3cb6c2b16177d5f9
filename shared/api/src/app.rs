//! What a function's container holds for every invocation: its configuration, its typed
//! [`State`] (the clients it built once), the optional cache, the rate limiter and the
//! invocation envelope; and [`Ctx`], what one invocation accumulates.

use lambda_http::Request;

use crate::auth::tokens::Caller;
use crate::cache::Cache;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{Decision, RateLimiter};
use crate::state::{HasDb, HasTokens, InitError, State};
use rota_lambda::invocation::Container;
use rota_lambda::metrics::Metrics;

pub struct App<S> {
    pub config: Config,
    pub state: S,
    /// Redis, in states that use it and when configured; `None` degrades, never fails.
    cache: Option<Cache>,
    pub limiter: RateLimiter,
    /// The container's copy of the community stats, used while the cache is down.
    pub stats_memo: crate::stats::Memo,
    /// The hour each user's activity was last recorded by this container: skips the
    /// (conditional, idempotent) write for the rest of that hour.
    activity_seen: std::sync::Mutex<std::collections::HashMap<i64, i64>>,
    /// Cold start, log span and metrics flush of every invocation.
    pub container: Container,
}

impl<S: State> App<S> {
    /// Builds the container's state from the environment. Called once per container.
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        rota_lambda::diagnostics::init_from_env();
        let state = S::build(&config).await?;
        let cache = match (&config.redis_url, S::CACHE) {
            (Some(url), true) => Some(Cache::new(url)?),
            _ => None,
        };
        Ok(Self::new(config, state, cache))
    }
}

impl<S> App<S> {
    pub fn new(config: Config, state: S, cache: Option<Cache>) -> Self {
        Self {
            container: Container::new(&config.function_name, &config.metrics_namespace),
            config,
            state,
            cache,
            limiter: RateLimiter::new(),
            stats_memo: crate::stats::Memo::default(),
            activity_seen: Default::default(),
        }
    }

    /// The data layer's time budget for one request: the configured budget, never past the
    /// invocation's own deadline (`deadline_ms`, epoch milliseconds, from the Lambda context)
    /// less a margin to answer. A transaction whose outcome is pending may be waited for up to
    /// that deadline less the margin (`Budget::outcome_deadline`, see `rota_store::retry`).
    pub fn request_budget(&self, deadline_ms: Option<u64>) -> rota_store::retry::Budget {
        let margin = std::time::Duration::from_millis(500);
        let mut total = self.config.db_retry_budget;
        let mut outcome = None;
        if let Some(deadline_ms) = deadline_ms.filter(|d| *d > 0) {
            let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
            let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
                .saturating_sub(margin);
            total = total.min(left);
            outcome = Some(std::time::Instant::now() + left);
        }
        let budget = rota_store::retry::Budget::new(total, self.config.db_attempt_timeout);
        match outcome {
            Some(at) => budget.with_outcome_deadline(at),
            None => budget,
        }
    }

    /// A job's budget: the whole invocation, less a margin to report its result (a pending
    /// outcome is waited for within it).
    pub fn job_budget(&self, deadline_ms: u64) -> rota_store::retry::Budget {
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
            .saturating_sub(std::time::Duration::from_secs(2));
        let total = if deadline_ms == 0 {
            std::time::Duration::from_secs(30)
        } else {
            left
        };
        let budget = rota_store::retry::Budget::new(total, self.config.db_attempt_timeout);
        budget.with_outcome_deadline(budget.deadline)
    }

    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    pub fn table(&self) -> &str {
        &self.config.table_name
    }

    /// Counts one call against `key`'s `limit` (RateLimit-* headers on the response; 429 when
    /// the limit is spent).
    pub async fn enforce_limit(
        &self,
        ctx: &mut Ctx,
        key: &str,
        limit: crate::config::Limit,
    ) -> ApiResult<()> {
        let decision = self
            .limiter
            .hit(self.cache(), &mut ctx.metrics, key, limit)
            .await;
        ctx.limit(decision)
    }
}

impl<S: HasDb> App<S> {
    pub fn db(&self) -> &aws_sdk_dynamodb::Client {
        self.state.db()
    }

    /// What the community stats are read from in this function.
    pub fn stats_source(&self) -> crate::stats::StatsSource<'_> {
        crate::stats::StatsSource {
            db: self.db(),
            table: self.table(),
            feed_shards: self.config.feed_shards,
            cache: self.cache(),
            cache_key: &self.config.stats_cache_key,
            ttl_secs: self.config.stats_ttl_secs,
            memo: &self.stats_memo,
        }
    }
}

impl<S: HasTokens> App<S> {
    pub fn tokens(&self) -> &crate::auth::tokens::TokenKeys {
        self.state.tokens()
    }

    /// The caller of an endpoint that requires authentication (401 otherwise). Verifies the
    /// token only; the `MarkedActive` extractor also records the caller's activity.
    pub fn authenticate(&self, ctx: &mut Ctx, req: &Request) -> ApiResult<Caller> {
        match self.authenticate_optional(ctx, req)? {
            Some(caller) => Ok(caller),
            None => Err(ApiError::Unauthorized(
                "This endpoint needs an access token.",
            )),
        }
    }

    /// The caller when a token is sent. A bad token is 401, never silently anonymous.
    pub fn authenticate_optional(&self, ctx: &mut Ctx, req: &Request) -> ApiResult<Option<Caller>> {
        let Some(token) = crate::http::bearer_token(req)? else {
            return Ok(None);
        };
        let caller = self.tokens().verify_access(token)?;
        ctx.set_user(caller.user_id);
        Ok(Some(caller))
    }

    /// Marks `user_id` active (for `active_users_24h` and the DAU/MAU metrics): one
    /// conditional UpdateItem, at most once per user per hour in this container. A failure
    /// here never fails the request. Called by the `MarkedActive` extractor.
    pub async fn record_activity(&self, ctx: &mut Ctx, user_id: i64) {
        let db = self.db();
        let now = chrono::Utc::now().timestamp();
        let hour = rota_store::activity::hour_of(now);
        {
            let mut seen = self.activity_seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get(&user_id) == Some(&hour) {
                return;
            }
            if seen.len() > 50_000 {
                seen.clear();
            }
            seen.insert(user_id, hour);
        }
        match rota_store::activity::Activity::new(db, self.table())
            .record(user_id, now)
            .await
        {
            Ok(true) => ctx.metrics.count("ActiveUserHours"),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "could not record activity"),
        }
    }

    /// Cursors are signed with a key derived from the service secret.
    pub fn cursors(&self) -> &crate::cursor::CursorKey {
        self.tokens().cursor_key()
    }

    /// The sort key inside a `?cursor=` of `list` (400 when it is not one of ours).
    pub fn read_cursor<K: std::str::FromStr>(
        &self,
        list: &str,
        cursor: Option<&str>,
    ) -> ApiResult<Option<K>> {
        cursor
            .map(|c| {
                self.cursors()
                    .decode(list, c)?
                    .parse::<K>()
                    .map_err(|_| ApiError::BadRequest("The cursor is invalid.".into()))
            })
            .transpose()
    }

    /// The `next_cursor` of a page of `list` whose last sort key is `next`.
    pub fn next_cursor(&self, list: &str, next: Option<impl ToString>) -> Option<String> {
        next.map(|k| self.cursors().encode(list, &k.to_string()))
    }
}

/// Per-invocation state handlers may add to.
pub struct Ctx {
    pub request_id: String,
    pub metrics: Metrics,
    pub(crate) rate_limit: Option<Decision>,
    user_id: Option<i64>,
}

impl Ctx {
    pub fn new(request_id: String) -> Self {
        Self {
            request_id,
            metrics: Metrics::new(),
            rate_limit: None,
            user_id: None,
        }
    }

    pub fn set_user(&mut self, user_id: i64) {
        self.user_id = Some(user_id);
        tracing::Span::current().record("user_id", user_id);
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user_id
    }

    /// Records the limit this call is under (its RateLimit-* headers go on the response,
    /// errors included) and fails with 429 when it is exhausted.
    pub fn limit(&mut self, decision: Decision) -> ApiResult<()> {
        self.rate_limit = Some(decision);
        if decision.allowed {
            Ok(())
        } else {
            self.metrics.count("RateLimited");
            Err(ApiError::RateLimited {
                retry_after_secs: decision.reset_secs,
            })
        }
    }
}
