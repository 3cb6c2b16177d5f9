//! Handlers called in this process, as Lambda would call them, against the stack's emulator
//! and Redis: the App, the sample events of `events/`, and accounts, posts and learners made
//! through the handlers.

use rand::Rng;
use serde_json::{Value, json};

use crate::accounts::unique_email;
use crate::harness::{redis_url, repo_root, sdk_config, stack};
use crate::http::Reply;

/// Everything a handler may need: the table, the cache and token keys.
pub const ALL: rota::Needs = rota::Needs {
    db: true,
    cache: true,
    tokens: true,
};

/// The functions' configuration, with the stack's table and Redis.
pub fn config() -> rota::config::Config {
    let stack = stack();
    rota::config::Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(stack.table.clone()),
        "REDIS_URL" => Some(stack.redis_url.clone()),
        _ => std::env::var(name).ok(),
    })
    .expect("config")
}

/// An in-process App for handler tests: real DynamoDB (emulator) and Redis, a test secret.
pub async fn app(needs: rota::Needs) -> rota::App {
    let redis = (needs.db || needs.cache).then(redis_url);
    app_with_redis(needs, redis).await
}

pub async fn app_with_redis(needs: rota::Needs, redis_url: Option<String>) -> rota::App {
    // An App that needs neither table nor cache needs no stack either.
    let mut config = if needs.db || needs.cache {
        config()
    } else {
        rota::config::Config::from_env().expect("config")
    };
    config.redis_url = redis_url;
    let db = if needs.db {
        Some(aws_sdk_dynamodb::Client::new(&sdk_config().await))
    } else {
        None
    };
    let cache = match (&config.redis_url, needs.cache) {
        (Some(url), true) => Some(rota::cache::Cache::new(url).expect("redis url")),
        _ => None,
    };
    let tokens = needs.tokens.then(|| {
        rota::auth::tokens::TokenKeys::new(b"handler-tests-secret-0123456789abcdef").expect("keys")
    });
    rota::App::new(config, db, cache, tokens)
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
pub async fn call<H: rota::Handler>(app: &rota::App, handler: &H, event: &Value) -> Reply {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses the event");
    let response = rota::invoke(app, handler, request)
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
    Reply {
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

/// An access token of a member, signed with the in-process App's keys.
pub fn member_token(app: &rota::App, user_id: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    app.tokens()
        .unwrap()
        .issue_access(
            rota::auth::tokens::Caller {
                user_id,
                role: rota::domain::Role::Member,
            },
            now,
            900,
        )
        .unwrap()
}

/// Registers a fresh account through the register handler (password "correct horse battery",
/// display name "Zeynep Yılmaz"): its email and the handler's answer.
pub async fn registered(app: &rota::App) -> (String, Value) {
    let email = unique_email();
    let event = with_body(
        sample_event("auth-register"),
        &json!({"email": email, "password": "correct horse battery", "display_name": "Zeynep Yılmaz"}),
    );
    let reply = call(app, &rota::handlers::auth::Register, &event).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (email, reply.json())
}

/// A fresh account's user id (through the register handler).
pub async fn create_user(app: &rota::App) -> i64 {
    registered(app).await.1["user"]["id"].as_i64().unwrap()
}

/// A post of `author`'s (the sample event's, through the create handler): its id.
pub async fn create_post(app: &rota::App, author: i64) -> i64 {
    let event = with_token(
        sample_event("community-posts-create"),
        &member_token(app, author),
    );
    let reply = call(app, &rota::handlers::community::CreatePost, &event).await;
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
pub async fn learner(app: &rota::App, with_roadmap: bool) -> Learner {
    let (_, body) = registered(app).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let patch = with_body(
        with_token(sample_event("users-me-patch"), &token),
        &json!({"reminder_enabled": true, "reminder_hour": learner_hour(), "timezone": "Europe/Istanbul"}),
    );
    assert_eq!(
        call(app, &rota::handlers::users::PatchMe, &patch)
            .await
            .status,
        200
    );
    if with_roadmap {
        let create = with_token(sample_event("roadmaps-create"), &token);
        let reply = call(app, &rota::handlers::roadmaps::CreateRoadmap, &create).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    Learner {
        id: body["user"]["id"].as_i64().unwrap(),
        token,
    }
}
