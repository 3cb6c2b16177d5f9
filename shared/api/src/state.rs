//! What a function's container builds once, as a type: each handler names its `State`, and
//! only a state that holds a client can hand it out. A handler that needs a caller but whose
//! state has no token keys does not compile, instead of failing at run time.
//!
//! | state | DynamoDB | token keys | SQS | used by |
//! |---|---|---|---|---|
//! | [`NoClients`] | | | | liveness, the OpenAPI document, the `$default` route |
//! | [`Db`] | ✓ | | | logout, the mail events |
//! | [`DbAndTokens`] | ✓ | ✓ | | endpoints with a caller |
//! | [`DbAndQueue`] | ✓ | | ✓ | the reminder scheduler |
//! | [`DbTokensAndMail`] | ✓ | ✓ | | the reminder worker (plus SES: the reminder email) |
//! | [`WithRedis<S>`] | as `S` | as `S` | as `S` | plus a Redis connection (held by the `App`): rate limits, shared feed pages, stats |
//!
//! Every client costs cold-start time, so a state builds only what it holds. Redis stays
//! optional even in a [`WithRedis`] state, by design: when it is unconfigured or down, limits
//! fail open, and feeds and stats are read from DynamoDB (`cache.rs`).

use std::future::Future;

use crate::auth::tokens::{TokenKeys, TokenScope};
use crate::config::Config;

/// Why a container could not start (the function then fails its init, never a request).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("loading the JWT secret: {0}")]
    Secret(String),
    #[error("mail: {0}")]
    Mail(String),
    #[error("cache: {0}")]
    Cache(#[from] redis::RedisError),
}

/// A function's per-container state.
pub trait State: Sized + Send + Sync + 'static {
    /// Whether the container also connects to Redis.
    const CACHE: bool = false;
    /// Builds the state from the environment (AWS SDK configuration loaded only when needed).
    fn build(config: &Config) -> impl Future<Output = Result<Self, InitError>> + Send;
}

/// States that hold the DynamoDB client.
pub trait HasDb {
    fn db(&self) -> &aws_sdk_dynamodb::Client;
}

/// States that may send the reminder email: only [`DbTokensAndMail`] does (the others send none).
pub trait HasMail {
    fn mail(&self) -> Option<(&crate::email::Mailer, &TokenKeys)> {
        None
    }
}

/// States that hold the keys access tokens and cursors are signed with.
pub trait HasTokens: HasDb {
    fn tokens(&self) -> &TokenKeys;
}

/// No client at all.
pub struct NoClients;

impl State for NoClients {
    async fn build(_: &Config) -> Result<Self, InitError> {
        Ok(NoClients)
    }
}

/// The DynamoDB client.
pub struct Db {
    pub db: aws_sdk_dynamodb::Client,
}

impl Db {
    fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        // The data layer's configuration, counted per request in diagnostic builds.
        let conf = rota_lambda::diagnostics::instrument(rota_store::dynamodb_config(sdk));
        Self {
            db: aws_sdk_dynamodb::Client::from_conf(conf.build()),
        }
    }
}

impl State for Db {
    async fn build(_: &Config) -> Result<Self, InitError> {
        Ok(Self::from_sdk(&sdk().await))
    }
}

impl HasDb for Db {
    fn db(&self) -> &aws_sdk_dynamodb::Client {
        &self.db
    }
}

impl HasMail for Db {}

/// DynamoDB, the token keys (the unsubscribe links' key) and SES: the reminder worker.
pub struct DbTokensAndMail {
    pub db: aws_sdk_dynamodb::Client,
    pub tokens: TokenKeys,
    /// `None` when the function is given no sender (`MAIL_FROM`): in-app reminders only.
    pub mailer: Option<crate::email::Mailer>,
}

impl State for DbTokensAndMail {
    async fn build(config: &Config) -> Result<Self, InitError> {
        let sdk = sdk().await;
        let DbAndTokens { db, tokens } = DbAndTokens::from_sdk(&sdk, config).await?;
        Ok(Self {
            db,
            tokens,
            mailer: crate::email::Mailer::from_env(&sdk).map_err(InitError::Mail)?,
        })
    }
}

impl HasDb for DbTokensAndMail {
    fn db(&self) -> &aws_sdk_dynamodb::Client {
        &self.db
    }
}

impl HasTokens for DbTokensAndMail {
    fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }
}

impl HasMail for DbTokensAndMail {
    fn mail(&self) -> Option<(&crate::email::Mailer, &TokenKeys)> {
        self.mailer.as_ref().map(|m| (m, &self.tokens))
    }
}

/// DynamoDB and the token keys: endpoints that know their caller.
pub struct DbAndTokens {
    pub db: aws_sdk_dynamodb::Client,
    pub tokens: TokenKeys,
}

impl DbAndTokens {
    async fn from_sdk(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Self, InitError> {
        Ok(Self {
            db: Db::from_sdk(sdk).db,
            tokens: load_token_keys(sdk, config).await?,
        })
    }
}

impl State for DbAndTokens {
    async fn build(config: &Config) -> Result<Self, InitError> {
        Self::from_sdk(&sdk().await, config).await
    }
}

impl HasDb for DbAndTokens {
    fn db(&self) -> &aws_sdk_dynamodb::Client {
        &self.db
    }
}

impl HasMail for DbAndTokens {}

impl HasTokens for DbAndTokens {
    fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }
}

/// DynamoDB and SQS: the reminder scheduler.
pub struct DbAndQueue {
    pub db: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl State for DbAndQueue {
    async fn build(_: &Config) -> Result<Self, InitError> {
        let sdk = sdk().await;
        Ok(Self {
            db: Db::from_sdk(&sdk).db,
            sqs: rota_store::sqs_client(&sdk),
        })
    }
}

impl HasDb for DbAndQueue {
    fn db(&self) -> &aws_sdk_dynamodb::Client {
        &self.db
    }
}

/// `S` plus a Redis connection (held by the `App`, since it may be absent or down).
pub struct WithRedis<S>(pub S);

impl<S: State> State for WithRedis<S> {
    const CACHE: bool = true;
    async fn build(config: &Config) -> Result<Self, InitError> {
        Ok(WithRedis(S::build(config).await?))
    }
}

impl<S: HasDb> HasDb for WithRedis<S> {
    fn db(&self) -> &aws_sdk_dynamodb::Client {
        self.0.db()
    }
}

impl<S: HasMail> HasMail for WithRedis<S> {
    fn mail(&self) -> Option<(&crate::email::Mailer, &TokenKeys)> {
        self.0.mail()
    }
}

impl<S: HasTokens> HasTokens for WithRedis<S> {
    fn tokens(&self) -> &TokenKeys {
        self.0.tokens()
    }
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

async fn load_token_keys(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> Result<TokenKeys, InitError> {
    let name = config
        .jwt_secret_param
        .as_deref()
        .ok_or_else(|| InitError::Secret("JWT_SECRET_PARAM is not set".into()))?;
    // Required like the secret: a function falling back to a constant would accept the tokens
    // of every other stack that does the same.
    let required = |value: &Option<String>, var: &str| {
        value
            .clone()
            .ok_or_else(|| InitError::Secret(format!("{var} is not set")))
    };
    let scope = TokenScope {
        issuer: required(&config.jwt_issuer, "JWT_ISSUER")?,
        audience: required(&config.jwt_audience, "JWT_AUDIENCE")?,
    };
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
    TokenKeys::new(value.as_bytes(), scope).map_err(InitError::Secret)
}
