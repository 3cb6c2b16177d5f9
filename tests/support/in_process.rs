//! Handlers called in this process, as Lambda would call them, against the stack's emulator
//! and Redis: the App, the sample events of `events/`, and accounts, posts and learners made
//! through the handlers.

use rand::Rng;
use serde_json::{Value, json};

use crate::accounts::unique_email;
use crate::harness::{cache_options, redis_url, repo_root, sdk_config, stack};
use crate::http::HttpReply;
use rota_api::App;
use rota_api::auth::tokens::TokenKeys;
use rota_api::state::{Db, DbAndTokens, NoClients, WithRedis};

/// The functions' configuration, with the stack's table and Redis.
pub fn config() -> rota_api::config::Config {
    let stack = stack();
    rota_api::config::Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(stack.table.clone()),
        "REDIS_URL" => Some(stack.redis_url.clone()),
        _ => std::env::var(name).ok(),
    })
    .expect("config")
}

/// A data budget: the request's total and one attempt's most.
#[derive(Debug, Clone, Copy)]
pub struct DataBudget {
    pub total: std::time::Duration,
    pub attempt: std::time::Duration,
}

/// The budget the template deploys (`DB_RETRY_BUDGET_MS`, `DB_ATTEMPT_TIMEOUT_MS`).
pub fn template_budget() -> DataBudget {
    let template =
        rota_local::template::Template::load(crate::harness::repo_root().join("template.yaml"))
            .expect("template");
    let millis = |name: &str| {
        let value = template
            .shared_env(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("no function gets {name}"));
        std::time::Duration::from_millis(value.parse().expect("whole milliseconds"))
    };
    DataBudget {
        total: millis("DB_RETRY_BUDGET_MS"),
        attempt: millis("DB_ATTEMPT_TIMEOUT_MS"),
    }
}

/// The budget of the stack under test: the wider one scripts/test.sh gives the plain stack's
/// functions and in-process tests (the same variables), or else the template's.
pub fn stack_budget() -> DataBudget {
    let config = config();
    match std::env::var("DB_RETRY_BUDGET_MS") {
        Ok(_) => DataBudget {
            total: config.db_retry_budget,
            attempt: config.db_attempt_timeout,
        },
        Err(_) => template_budget(),
    }
}

/// Sets the budget the template deploys, for a test that spends it on purpose: the plain test
/// stack's is wider (scripts/test.sh), so that a slow emulator under the suite's load never
/// spends it.
pub fn deployed_budget(config: &mut rota_api::config::Config) {
    let budget = template_budget();
    config.db_retry_budget = budget.total;
    config.db_attempt_timeout = budget.attempt;
}

const TEST_SECRET: &[u8] = b"handler-tests-secret-0123456789abcdef";

/// The keys of in-process handlers: a test secret, and an issuer and audience of a stack of
/// their own (the template names the stack in both; tests/suite/auth/stacks.rs).
pub fn in_process_token_keys() -> TokenKeys {
    let scope = rota_api::auth::tokens::TokenScope {
        issuer: "rota/us-east-1/in-process".into(),
        audience: "rota-api/us-east-1/in-process".into(),
    };
    TokenKeys::new(TEST_SECRET, scope).expect("keys")
}

/// One App per kind of function state, on the stack's table and Redis and a test secret, so
/// that any handler can be called on it: each through an App of its own state, as each
/// function has its own container. Derefs to the App of the cached member endpoints.
pub struct TestApp {
    cached: App<WithRedis<DbAndTokens>>,
    members: App<DbAndTokens>,
    data: App<Db>,
    cached_data: App<WithRedis<Db>>,
    bare: App<NoClients>,
}

impl TestApp {
    /// Changes the configuration of every App (limits, shards, keys a test isolates).
    pub fn set_config(&mut self, change: impl Fn(&mut rota_api::config::Config)) {
        change(&mut self.cached.config);
        change(&mut self.members.config);
        change(&mut self.data.config);
        change(&mut self.cached_data.config);
        change(&mut self.bare.config);
    }
}

impl std::ops::Deref for TestApp {
    type Target = App<WithRedis<DbAndTokens>>;
    fn deref(&self) -> &Self::Target {
        &self.cached
    }
}

/// Something that holds an App of state `S`: an App itself, or a [`TestApp`].
pub trait AppFor<S> {
    fn app(&self) -> &App<S>;
}

impl<S> AppFor<S> for App<S> {
    fn app(&self) -> &App<S> {
        self
    }
}

macro_rules! test_app_for {
    ($($state:ty => $field:ident),+) => {$(
        impl AppFor<$state> for TestApp {
            fn app(&self) -> &App<$state> {
                &self.$field
            }
        }
    )+};
}
test_app_for!(WithRedis<DbAndTokens> => cached, DbAndTokens => members, Db => data, WithRedis<Db> => cached_data, NoClients => bare);

/// An in-process TestApp: real DynamoDB (emulator) and Redis, a test secret.
pub async fn app() -> TestApp {
    app_with_redis(Some(redis_url())).await
}

/// A TestApp whose cached states use `redis_url` (an unreachable one for outage tests).
pub async fn app_with_redis(redis_url: Option<String>) -> TestApp {
    let mut config = config();
    config.redis_url = redis_url;
    TestApp::with_parts(config, aws_sdk_dynamodb::Client::new(&sdk_config().await))
}

impl TestApp {
    /// A TestApp on `db` (a faulted emulator's, say) and `config` (Redis from its
    /// `redis_url`, none when unset), signing with the test secret.
    pub fn with_parts(config: rota_api::config::Config, db: aws_sdk_dynamodb::Client) -> Self {
        Self::build(config, db)
    }

    fn build(config: rota_api::config::Config, db: aws_sdk_dynamodb::Client) -> Self {
        // Trusting the stack's CA, as the functions do through SSL_CERT_FILE.
        let options = cache_options();
        let cache = || {
            config.redis_url.as_deref().map(|url| {
                rota_api::cache::Cache::with_options(url, options.clone()).expect("redis url")
            })
        };
        let members = || DbAndTokens {
            db: db.clone(),
            tokens: in_process_token_keys(),
        };
        TestApp {
            cached: App::new(config.clone(), WithRedis(members()), cache()),
            members: App::new(config.clone(), members(), None),
            data: App::new(config.clone(), Db { db: db.clone() }, None),
            cached_data: App::new(config.clone(), WithRedis(Db { db: db.clone() }), cache()),
            bare: App::new(config, NoClients, None),
        }
    }
}

/// A sample event from `events/`, as JSON to adjust before use. Its source IP is made unique
/// so per-IP limits (kept in the shared Redis) never couple tests or runs.
pub fn sample_event(function: &str) -> Value {
    let path = repo_root().join("events").join(format!("{function}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut event: Value = serde_json::from_str(&text).expect("event JSON");
    let mut r = rand::rng();
    // 198.18.0.0/15 is reserved for benchmarking: never a real client.
    let ip = format!(
        "198.{}.{}.{}",
        r.random_range(18..=19),
        r.random::<u8>(),
        r.random::<u8>()
    );
    event["requestContext"]["http"]["sourceIp"] = Value::String(ip);
    event
}

/// Parses an API Gateway HTTP API event the way the Lambda runtime does, and runs `handler`.
pub async fn call<H: rota_api::Handler>(
    app: &impl AppFor<H::State>,
    handler: &H,
    event: &Value,
) -> HttpReply {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses the event");
    let response = rota_api::invoke(app.app(), handler, request)
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let text = match body {
        lambda_http::Body::Empty => String::new(),
        lambda_http::Body::Text(t) => t,
        lambda_http::Body::Binary(b) => String::from_utf8(b).expect("utf-8"),
        _ => String::new(),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in parts.headers.iter() {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()).expect("name"),
            reqwest::header::HeaderValue::from_bytes(v.as_bytes()).expect("value"),
        );
    }
    HttpReply {
        status: parts.status.as_u16(),
        headers,
        text,
        unknown_outcomes: 0,
    }
}

/// Replaces a sample event's JSON body.
pub fn with_body(mut event: Value, body: &Value) -> Value {
    event["body"] = Value::String(body.to_string());
    event
}

/// Sets the sample event's bearer token.
pub fn with_token(mut event: Value, token: &str) -> Value {
    event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
    event
}

/// The sample event `sample` through `handler`, as `token`'s user.
pub async fn call_as<H: rota_api::Handler>(
    app: &impl AppFor<H::State>,
    handler: &H,
    sample: &str,
    token: &str,
) -> HttpReply {
    call(app, handler, &with_token(sample_event(sample), token)).await
}

/// `PATCH /api/users/me` with `settings` as `token`'s user, through the handler.
pub async fn patch_me(app: &TestApp, token: &str, settings: &Value) -> HttpReply {
    let event = with_body(with_token(sample_event("users-me-patch"), token), settings);
    call(app, &rota_api::handlers::users::PatchMe, &event).await
}

/// An access token of a member, signed with the in-process App's keys.
pub fn member_token<A: ?Sized>(_app: &A, user_id: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    in_process_token_keys()
        .issue_access(
            rota_api::auth::tokens::Caller {
                user_id,
                role: rota_domain::input::Role::Member,
            },
            now,
            900,
        )
        .unwrap()
}

/// Registers a fresh account through the register handler (password "correct horse battery",
/// display name "Zeynep Yılmaz"): its email and the handler's answer.
pub async fn registered(app: &impl AppFor<WithRedis<DbAndTokens>>) -> (String, Value) {
    let email = unique_email();
    let event = with_body(
        sample_event("auth-register"),
        &json!({"email": email, "password": "correct horse battery", "display_name": "Zeynep Yılmaz"}),
    );
    let reply = call(app, &rota_api::handlers::auth::Register, &event).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (email, reply.json())
}

/// A fresh member (through the register handler): their user id and access token.
pub async fn member(app: &impl AppFor<WithRedis<DbAndTokens>>) -> (i64, String) {
    let (_, body) = registered(app).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    (body["user"]["id"].as_i64().unwrap(), token)
}

/// A fresh account's user id (through the register handler).
pub async fn create_user(app: &impl AppFor<WithRedis<DbAndTokens>>) -> i64 {
    registered(app).await.1["user"]["id"].as_i64().unwrap()
}

/// A post of `author`'s (the sample event's, through the create handler): its id.
pub async fn create_post(app: &impl AppFor<WithRedis<DbAndTokens>>, author: i64) -> i64 {
    let event = with_token(
        sample_event("community-posts-create"),
        &member_token(app, author),
    );
    let reply = call(app, &rota_api::handlers::posts::CreatePost, &event).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json()["id"].as_i64().unwrap()
}

/// A sample event of a post's route (like, unlike, get) aimed at `post_id`, as `user_token`.
pub fn on_post(mut event: Value, post_id: i64, user_token: &str) -> Value {
    let path = event["rawPath"]
        .as_str()
        .unwrap()
        .replace("1234567890", &post_id.to_string());
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"]["id"] = json!(post_id.to_string());
    with_token(event, user_token)
}

/// A post's route through its handler as `user` (a member token of theirs): `sample` names
/// the route's sample event (community-posts-like, -unlike, -get, -delete).
pub async fn on_post_as<H: rota_api::Handler>(
    app: &impl AppFor<H::State>,
    handler: &H,
    sample: &str,
    post: i64,
    user: i64,
) -> HttpReply {
    let event = on_post(sample_event(sample), post, &member_token(app, user));
    call(app, handler, &event).await
}

/// `user` likes `post` (through the like handler).
pub async fn like_as(app: &TestApp, post: i64, user: i64) -> HttpReply {
    let like = rota_api::handlers::likes::LikePost;
    on_post_as(app, &like, "community-posts-like", post, user).await
}

/// `user` takes back their like of `post` (through the unlike handler).
pub async fn unlike_as(app: &TestApp, post: i64, user: i64) -> HttpReply {
    let unlike = rota_api::handlers::likes::UnlikePost;
    on_post_as(app, &unlike, "community-posts-unlike", post, user).await
}

/// `post` as `user` reads it (through the get handler).
pub async fn get_post_as(app: &TestApp, post: i64, user: i64) -> HttpReply {
    let get = rota_api::handlers::posts::GetPost;
    on_post_as(app, &get, "community-posts-get", post, user).await
}

/// A new (unread) notification of `kind` titled `title`, with an id of its own.
pub fn new_notification(kind: &str, title: String) -> rota_store::notifications::Notification {
    rota_store::notifications::Notification {
        id: rota_domain::ids::new_id(),
        kind: kind.into(),
        title,
        body: "b".into(),
        created_at: chrono::Utc::now(),
        read_at: None,
    }
}

/// A user with daily reminders (see [`learner`]).
pub struct Learner {
    pub id: i64,
    pub token: String,
}

/// The local hour (Istanbul, UTC+3) of learners' reminders: about 12 hours from now, so a
/// schedule fired by another test for the next hour never picks them up.
pub fn learner_hour() -> u32 {
    (chrono::Timelike::hour(&chrono::Utc::now()) + 12 + 3) % 24
}

/// A user with reminders in Istanbul time and, when asked, an unfinished roadmap.
pub async fn learner(app: &TestApp, with_roadmap: bool) -> Learner {
    let (_, body) = registered(app).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let settings = json!({"reminder_enabled": true, "reminder_hour": learner_hour(), "timezone": "Europe/Istanbul"});
    assert_eq!(patch_me(app, &token, &settings).await.status, 200);
    if with_roadmap {
        let create = rota_api::handlers::roadmaps::CreateRoadmap;
        let reply = call_as(app, &create, "roadmaps-create", &token).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let id = body["user"]["id"].as_i64().unwrap();
    // The scheduler reads the reminders-due index, which lags the profile a moment.
    crate::wait_for_reminder_index(app.db(), app.table(), id).await;
    Learner { id, token }
}
