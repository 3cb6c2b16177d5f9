//! What a function container builds once (config, clients, keys) and the wrapper every
//! invocation goes through: request id, log context, problem+json mapping, headers, the
//! summary log line and the EMF metrics.

use std::future::Future;

use http::HeaderValue;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

use crate::auth::tokens::{Caller, TokenKeys};
use crate::cache::Cache;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::http::{MAX_BODY_BYTES, body_bytes, valid_request_id};
use crate::ratelimit::{Decision, RateLimiter};
use rota_lambda::invocation::{Container, Ids};
use rota_lambda::metrics::{Metrics, Unit};

/// The clients a function uses; each function builds only what it needs, since every client
/// costs cold-start time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub db: bool,
    pub cache: bool,
    pub tokens: bool,
}

impl Needs {
    pub const NOTHING: Needs = Needs {
        db: false,
        cache: false,
        tokens: false,
    };
}

/// One endpoint's logic. Implementations live in `handlers`; functions' `main`s only name one.
pub trait Handler: Sync {
    const NEEDS: Needs;
    fn handle(
        &self,
        app: &App,
        ctx: &mut Ctx,
        req: Request,
    ) -> impl Future<Output = ApiResult<Response<Body>>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("loading the JWT secret: {0}")]
    Secret(String),
    #[error("cache: {0}")]
    Cache(#[from] redis::RedisError),
}

pub struct App {
    pub config: Config,
    sdk: Option<aws_config::SdkConfig>,
    db: Option<aws_sdk_dynamodb::Client>,
    cache: Option<Cache>,
    tokens: Option<TokenKeys>,
    pub limiter: RateLimiter,
    /// The container's copy of the community stats, used while the cache is down.
    pub stats_memo: crate::stats::Memo,
    /// The hour each user's activity was last recorded by this container: skips the
    /// (conditional, idempotent) write for the rest of that hour.
    activity_seen: std::sync::Mutex<std::collections::HashMap<i64, i64>>,
    /// Cold start, log span and metrics flush of every invocation.
    pub container: Container,
}

impl App {
    /// Builds what `needs` asks for from the environment. Called once per container.
    pub async fn from_env(needs: Needs) -> Result<Self, InitError> {
        let config = Config::from_env()?;
        rota_lambda::diagnostics::init_from_env();
        let sdk = if needs.db || needs.tokens {
            Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
        } else {
            None
        };
        let db = sdk.as_ref().filter(|_| needs.db).map(|sdk| {
            // The data layer's client, counted per request in diagnostic builds.
            let conf = rota_lambda::diagnostics::instrument(rota_store::dynamodb_config(sdk));
            aws_sdk_dynamodb::Client::from_conf(conf.build())
        });
        let tokens = match (&sdk, needs.tokens) {
            (Some(sdk), true) => Some(load_token_keys(sdk, &config).await?),
            _ => None,
        };
        let cache = match (&config.redis_url, needs.cache) {
            (Some(url), true) => Some(Cache::new(url)?),
            _ => None,
        };
        let mut app = Self::new(config, db, cache, tokens);
        app.sdk = sdk;
        Ok(app)
    }

    /// The data layer's time budget for one request: the configured budget, never past the
    /// invocation's own deadline (`deadline_ms`, epoch milliseconds, from the Lambda context)
    /// less a margin to answer.
    pub fn request_budget(&self, deadline_ms: Option<u64>) -> rota_store::retry::Budget {
        let mut total = self.config.db_retry_budget;
        if let Some(deadline_ms) = deadline_ms.filter(|d| *d > 0) {
            let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
            let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
            total = total.min(left.saturating_sub(std::time::Duration::from_millis(500)));
        }
        rota_store::retry::Budget::new(total, self.config.db_attempt_timeout)
    }

    /// A job's budget: the whole invocation, less a margin to report its result.
    pub fn job_budget(&self, deadline_ms: u64) -> rota_store::retry::Budget {
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
            .saturating_sub(std::time::Duration::from_secs(2));
        let total = if deadline_ms == 0 {
            std::time::Duration::from_secs(30)
        } else {
            left
        };
        rota_store::retry::Budget::new(total, self.config.db_attempt_timeout)
    }

    /// The AWS SDK configuration loaded at start (for clients only some functions need).
    pub fn sdk_config(&self) -> ApiResult<&aws_config::SdkConfig> {
        self.sdk
            .as_ref()
            .ok_or_else(|| ApiError::internal("function built without AWS config"))
    }

    pub fn new(
        config: Config,
        db: Option<aws_sdk_dynamodb::Client>,
        cache: Option<Cache>,
        tokens: Option<TokenKeys>,
    ) -> Self {
        Self {
            container: Container::new(&config.function_name, &config.metrics_namespace),
            config,
            sdk: None,
            db,
            cache,
            tokens,
            limiter: RateLimiter::new(),
            stats_memo: crate::stats::Memo::default(),
            activity_seen: Default::default(),
        }
    }

    pub fn db(&self) -> ApiResult<&aws_sdk_dynamodb::Client> {
        self.db
            .as_ref()
            .ok_or_else(|| ApiError::internal("function built without a DynamoDB client"))
    }

    pub fn tokens(&self) -> ApiResult<&TokenKeys> {
        self.tokens
            .as_ref()
            .ok_or_else(|| ApiError::internal("function built without token keys"))
    }

    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    pub fn table(&self) -> &str {
        &self.config.table_name
    }

    /// What the community stats are read from in this function.
    pub fn stats_source(&self) -> ApiResult<crate::stats::StatsSource<'_>> {
        Ok(crate::stats::StatsSource {
            db: self.db()?,
            table: self.table(),
            feed_shards: self.config.feed_shards,
            cache: self.cache(),
            cache_key: &self.config.stats_cache_key,
            ttl_secs: self.config.stats_ttl_secs,
            memo: &self.stats_memo,
        })
    }

    /// The caller of an endpoint that requires authentication (401 otherwise).
    pub async fn authenticate(&self, ctx: &mut Ctx, req: &Request) -> ApiResult<Caller> {
        match self.authenticate_optional(ctx, req).await? {
            Some(caller) => Ok(caller),
            None => Err(ApiError::Unauthorized(
                "This endpoint needs an access token.",
            )),
        }
    }

    /// The caller when a token is sent. A bad token is 401, never silently anonymous.
    pub async fn authenticate_optional(
        &self,
        ctx: &mut Ctx,
        req: &Request,
    ) -> ApiResult<Option<Caller>> {
        let Some(token) = crate::http::bearer_token(req)? else {
            return Ok(None);
        };
        let caller = self.tokens()?.verify_access(token)?;
        ctx.set_user(caller.user_id);
        self.record_activity(ctx, caller.user_id).await;
        Ok(Some(caller))
    }

    /// Marks the caller active (for `active_users_24h` and the DAU/MAU metrics), at most once
    /// per user per hour. A failure here never fails the request.
    async fn record_activity(&self, ctx: &mut Ctx, user_id: i64) {
        let Some(db) = &self.db else { return };
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

    /// Cursors are signed with a key derived from the service secret.
    pub fn cursors(&self) -> ApiResult<&crate::cursor::CursorKey> {
        Ok(self.tokens()?.cursor_key())
    }

    /// The sort key inside a `?cursor=` of `list` (400 when it is not one of ours).
    pub fn read_cursor<K: std::str::FromStr>(
        &self,
        list: &str,
        cursor: Option<&str>,
    ) -> ApiResult<Option<K>> {
        cursor
            .map(|c| {
                self.cursors()?
                    .decode(list, c)?
                    .parse::<K>()
                    .map_err(|_| ApiError::BadRequest("The cursor is invalid.".into()))
            })
            .transpose()
    }

    /// The `next_cursor` of a page of `list` whose last sort key is `next`.
    pub fn next_cursor(
        &self,
        list: &str,
        next: Option<impl ToString>,
    ) -> ApiResult<Option<String>> {
        next.map(|k| self.cursors().map(|c| c.encode(list, &k.to_string())))
            .transpose()
    }
}

async fn load_token_keys(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<TokenKeys, InitError> {
    let name = config
        .jwt_secret_param
        .as_deref()
        .ok_or_else(|| InitError::Secret("JWT_SECRET_PARAM is not set".into()))?;
    let out = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| InitError::Secret(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
    let value = out
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| InitError::Secret("the parameter has no value".into()))?;
    TokenKeys::new(value.as_bytes()).map_err(InitError::Secret)
}

/// Per-invocation state handlers may add to.
pub struct Ctx {
    pub request_id: String,
    pub metrics: Metrics,
    rate_limit: Option<Decision>,
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

impl Ctx {
    /// Records the limit for the response headers without refusing this call.
    pub fn report_limit(&mut self, decision: Decision) {
        self.rate_limit = Some(decision);
    }
}

fn new_request_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one invocation of `handler`. This never fails: every error becomes a problem+json
/// response here, in one place.
pub async fn invoke<H: Handler>(
    app: &App,
    handler: &H,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    // The API's request id: the client's `x-request-id` when valid, else Lambda's, else new.
    let lambda = req.lambda_context_ref();
    let lambda_deadline = lambda.map(|c| c.deadline);
    let lambda_request_id = lambda
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(valid_request_id)
        .or_else(|| lambda_request_id.clone())
        .unwrap_or_else(new_request_id);
    let mut invocation = app.container.begin(Ids {
        lambda_request_id,
        xray_trace_id: lambda.and_then(|c| c.xray_trace_id.clone()),
        correlation_id: Some(request_id.clone()),
    });
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = invocation.span.clone();
    async move {
        let mut ctx = Ctx::new(request_id);
        let budget = app.request_budget(lambda_deadline);
        rota_store::retry::take_retry_counts();
        let result = if body_bytes(&req).len() > MAX_BODY_BYTES {
            Err(ApiError::PayloadTooLarge)
        } else {
            rota_store::retry::with_budget(budget, handler.handle(app, &mut ctx, req)).await
        };
        count_retries(&mut ctx.metrics);
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                if err.status().is_server_error() {
                    tracing::error!(error = %err, "request failed");
                } else {
                    tracing::info!(error = %err, "request refused");
                }
                err.to_response(&ctx.request_id)
            }
        };
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            headers.insert("x-request-id", v);
        }
        crate::http::apply_security_headers(headers);
        if let Some(decision) = ctx.rate_limit {
            decision.apply_headers(&mut response);
        }
        let status = response.status().as_u16();
        tracing::info!(
            method,
            path,
            status,
            duration_ms = invocation.elapsed_ms(),
            "request finished"
        );
        // Read by the benchmark harness; only diagnostic builds with diagnostics on add it.
        if let Some(json) = invocation.diagnostics("request")
            && let Ok(v) = HeaderValue::from_str(&json)
        {
            response.headers_mut().insert("x-rota-diagnostics", v);
        }
        invocation.metrics.merge(std::mem::take(&mut ctx.metrics));
        if status >= 500 {
            invocation.metrics.count("Errors5xx");
        } else if status >= 400 {
            invocation.metrics.count("Errors4xx");
        }
        invocation.finish("Requests", true);
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The data layer's retries in this invocation, as metrics (how often AWS pushed back).
fn count_retries(metrics: &mut Metrics) {
    let [conflicts, throttles, unavailable] = rota_store::retry::take_retry_counts();
    for (name, n) in [
        ("DbConflictRetries", conflicts),
        ("DbThrottleRetries", throttles),
        ("DbUnavailableRetries", unavailable),
    ] {
        if n > 0 {
            metrics.add(name, Unit::Count, f64::from(n));
        }
    }
}

/// A function's whole `main`: logging, the container's clients, then the Lambda runtime loop.
pub async fn run<H: Handler>(handler: H) -> Result<(), lambda_http::Error> {
    rota_lambda::logging::init();
    let app = App::from_env(H::NEEDS).await.inspect_err(|e| {
        tracing::error!(error = %e, "function failed to start");
    })?;
    let app = &app;
    let handler = &handler;
    lambda_http::run(lambda_http::service_fn(move |req| {
        invoke(app, handler, req)
    }))
    .await
}

/// A function fed by an event source other than the HTTP API (a schedule, a queue).
pub trait Job: Sync {
    type Event: serde::de::DeserializeOwned + Send + 'static;
    type Output: serde::Serialize + Send;
    const NEEDS: Needs;
    fn run(
        &self,
        app: &App,
        event: Self::Event,
        metrics: &mut Metrics,
    ) -> impl Future<Output = ApiResult<Self::Output>> + Send;
}

/// The `main` of a function that is not behind the HTTP API (schedules, queues): the same
/// container set-up, log context, summary line and EMF metrics as [`run`]. A job error fails
/// the invocation, so the event source retries it.
pub async fn run_job<J: Job>(job: J) -> Result<(), lambda_runtime::Error> {
    rota_lambda::logging::init();
    let app = App::from_env(J::NEEDS).await.inspect_err(|e| {
        tracing::error!(error = %e, "function failed to start");
    })?;
    let app = &app;
    let job = &job;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<J::Event>| async move {
            let mut invocation = app.container.begin(Ids {
                lambda_request_id: Some(event.context.request_id.clone()),
                xray_trace_id: event.context.xray_trace_id.clone(),
                correlation_id: None,
            });
            let span = invocation.span.clone();
            let budget = app.job_budget(event.context.deadline);
            rota_store::retry::take_retry_counts();
            let result = rota_store::retry::with_budget(
                budget,
                job.run(app, event.payload, &mut invocation.metrics),
            )
            .instrument(span.clone())
            .await;
            count_retries(&mut invocation.metrics);
            {
                let _entered = span.enter();
                let elapsed_ms = invocation.elapsed_ms();
                match &result {
                    Ok(_) => tracing::info!(duration_ms = elapsed_ms, "job finished"),
                    Err(e) => tracing::error!(duration_ms = elapsed_ms, error = %e, "job failed"),
                }
            }
            invocation.diagnostics("job");
            if result.is_err() {
                invocation.metrics.count("JobErrors");
            }
            invocation.finish("Invocations", false);
            result.map_err(|e| lambda_runtime::Error::from(e.to_string()))
        },
    ))
    .await
}
