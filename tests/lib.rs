//! Test support: clients for the local gateway and in-process handler calls.
//!
//! `make test` starts the stack (moto, the real Redis, rota-local) and passes its addresses in
//! the environment: ROTA_BASE_URL, AWS_ENDPOINT_URL, TABLE_NAME, REDIS_URL, ROTA_LOGS_DIR.
//! Every test makes its own data (unique emails, its own client IP), so tests run in parallel.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `make test`"))
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::rng().random::<u64>())
}

pub fn unique_email() -> String {
    format!("{}@example.com", unique("user-"))
}

/// A random loopback address other than 127.0.0.1: on Linux every 127/8 address reaches the
/// gateway, which sees it as the client's `sourceIp`. Per-IP limits then never collide
/// between tests.
pub fn random_ip() -> IpAddr {
    let mut r = rand::rng();
    IpAddr::V4(Ipv4Addr::new(
        127,
        r.random_range(1..=254),
        r.random(),
        r.random_range(1..=254),
    ))
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// Attempts before this one whose outcome was unknown (see [`careful`]).
    pub unknown_outcomes: u32,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json error with `status` and returns its body.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        for field in ["type", "title", "detail", "request_id"] {
            assert!(body[field].is_string(), "problem lacks {field}: {body}");
        }
        assert_eq!(body["request_id"].as_str(), self.header("x-request-id"));
        body
    }

    fn is_gateway_throttle(&self) -> bool {
        self.status == 429
            && self.text.contains("Too Many Requests")
            && !self.text.contains("request_id")
    }

    /// API Gateway's own 500/503 (the function crashed or timed out: its work may or may not
    /// have been done), as opposed to a problem+json of ours.
    pub fn is_gateway_error(&self) -> bool {
        (self.status == 500 || self.status == 503) && !self.text.contains("request_id")
    }

    /// A function's own 500 (never allowed).
    pub fn is_function_500(&self) -> bool {
        self.status == 500 && self.text.contains("request_id")
    }

    /// Whether a careful client cannot tell if the request took effect: a crash or a timeout
    /// at the gateway, or a 503 of ours (the retry budget ran out; the last attempt's answer
    /// may have been lost).
    pub fn outcome_unknown(&self) -> bool {
        self.is_gateway_error() || self.status == 503
    }
}

/// Whether the stack under test runs a fault profile (`ROTA_FAULTS`, not `none`): then the
/// client is *careful*, as a real client of a real AWS deployment must be:
/// - a request whose outcome is unknown ([`Reply::outcome_unknown`]) is sent again, after the
///   server's `Retry-After` or a short backoff;
/// - a creating POST without an `Idempotency-Key` gets one (the same for its retries), so a
///   retry never creates twice;
/// - a DELETE whose retry finds the resource gone (404) after an unknown outcome succeeded
///   the first time: reported as the 204 it was.
///
/// Without a profile, every reply is returned as the server sent it.
pub fn careful() -> bool {
    std::env::var("ROTA_FAULTS").is_ok_and(|p| !p.is_empty() && p != "none")
}

/// The creating POSTs that take an `Idempotency-Key`.
fn creates(method: &reqwest::Method, path: &str) -> bool {
    if method != reqwest::Method::POST {
        return false;
    }
    let path = path.split('?').next().unwrap_or(path);
    path == "/api/community/posts"
        || path == "/api/roadmaps"
        || (path.starts_with("/api/community/posts/") && path.ends_with("/comments"))
}

/// A client of the API through the local gateway, from its own client IP.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    pub ip: IpAddr,
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

impl Api {
    pub fn new() -> Self {
        Self::from_ip(random_ip())
    }

    pub fn from_ip(ip: IpAddr) -> Self {
        let http = reqwest::Client::builder()
            .local_address(ip)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            http,
            base: required_env("ROTA_BASE_URL"),
            ip,
        }
    }

    /// Sends a request. API Gateway's own throttling 429 is retried with backoff, as a
    /// well-behaved client does; the functions' own 429s are returned.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.send_with(method, path, token, content_type, body, &[])
            .await
    }

    /// [`Api::send`] with extra request headers.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let careful = careful();
        let auto_key = (careful
            && creates(&method, path)
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("idempotency-key")))
        .then(|| unique("auto-"));
        let mut delay = Duration::from_millis(50);
        let mut unknown_outcomes = 0;
        for _ in 0..40 {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            if let Some(key) = &auto_key {
                req = req.header("idempotency-key", key);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let resp = req.send().await.expect("request reaches the gateway");
            let mut reply = Reply {
                status: resp.status().as_u16(),
                headers: resp.headers().clone(),
                text: resp.text().await.expect("body"),
                unknown_outcomes,
            };
            assert!(
                !reply.is_function_500(),
                "{method} {path}: a function answered 500: {}",
                reply.text
            );
            if reply.is_gateway_throttle() {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
                continue;
            }
            if careful && reply.outcome_unknown() {
                unknown_outcomes += 1;
                let wait = reply
                    .header("retry-after")
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(delay);
                eprintln!(
                    "careful client: {method} {path} answered {} (outcome unknown); retrying",
                    reply.status
                );
                tokio::time::sleep(wait.min(Duration::from_secs(2))).await;
                delay = (delay * 2).min(Duration::from_secs(1));
                continue;
            }
            if careful
                && unknown_outcomes > 0
                && method == reqwest::Method::DELETE
                && reply.status == 404
            {
                eprintln!(
                    "careful client: {method} {path} was done by an attempt whose answer was lost"
                );
                reply.status = 204;
                reply.text.clear();
            }
            return reply;
        }
        panic!("{method} {path} stayed throttled or unavailable");
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send("GET", path, token, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Reply {
        self.post_with(path, body, token, &[]).await
    }

    /// A JSON POST with extra request headers.
    pub async fn post_with(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.send_with(
            "POST",
            path,
            token,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
            headers,
        )
        .await
    }

    /// A JSON POST with an `Idempotency-Key`.
    pub async fn post_idempotent(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        key: &str,
    ) -> Reply {
        self.post_with(path, body, token, &[("idempotency-key", key)])
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> Reply {
        self.send(
            "PATCH",
            path,
            token,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.send("DELETE", path, token, None, None).await
    }

    /// Creates a post as `account` and returns its JSON.
    pub async fn new_post(&self, account: &Account, title: &str) -> Value {
        let reply = self
            .post(
                "/api/community/posts",
                &json!({"title": title, "content": "Some content."}),
                Some(&account.access_token),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }

    pub async fn register(&self, email: &str, password: &str, display_name: &str) -> Reply {
        self.post(
            "/api/auth/register",
            &json!({"email": email, "password": password, "display_name": display_name}),
            None,
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
            None,
        )
        .await
    }

    /// Registers a fresh account and returns it.
    pub async fn new_account(&self) -> Account {
        let email = unique_email();
        let password = unique("pw-");
        let mut reply = self.register(&email, &password, "Test User").await;
        if reply.status == 409 && reply.unknown_outcomes > 0 {
            // The lost attempt created the account: a careful client signs in.
            reply = self.login(&email, &password).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.status = 201;
        }
        assert_eq!(reply.status, 201, "{}", reply.text);
        let body = reply.json();
        Account {
            id: body["user"]["id"].as_i64().expect("id"),
            email,
            password,
            access_token: body["access_token"].as_str().expect("access").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }
}

/// Runs `rota-admin` (built by `make test`) against the stack's emulator.
pub fn rota_admin(args: &[&str]) -> std::process::Output {
    let bin = repo_root().join("target").join("debug").join("rota-admin");
    std::process::Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()))
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// The SDK configuration for the local emulator (from the environment).
pub async fn sdk_config() -> aws_config::SdkConfig {
    required_env("AWS_ENDPOINT_URL");
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// An HS256 JWT of `claims` signed with the running stack's own secret (tests that need
/// claims the API never issues, such as `nbf`).
pub async fn stack_signed_jwt(claims: &Value) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(stack_jwt_secret().await.as_bytes())
        .expect("any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}

async fn stack_jwt_secret() -> String {
    let template =
        rota_local::template::Template::load(repo_root().join("template.yaml")).expect("template");
    let name = template
        .parameter_default("JwtSecretParameterName")
        .expect("JwtSecretParameterName");
    let out = aws_sdk_ssm::Client::new(&sdk_config().await)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .expect("the stack's JWT secret parameter");
    out.parameter.and_then(|p| p.value).expect("value")
}

/// The JWT secret the running stack's functions use (held in the emulator's SSM).
pub async fn stack_token_keys() -> rota_api::auth::tokens::TokenKeys {
    rota_api::auth::tokens::TokenKeys::new(stack_jwt_secret().await.as_bytes()).expect("keys")
}

/// An in-process App for handler tests: real DynamoDB (emulator) and Redis, a test secret.
pub async fn app(needs: rota_api::Needs) -> rota_api::App {
    app_with_redis(needs, std::env::var("REDIS_URL").ok()).await
}

pub async fn app_with_redis(needs: rota_api::Needs, redis_url: Option<String>) -> rota_api::App {
    let mut config = rota_api::config::Config::from_env().expect("config");
    config.redis_url = redis_url;
    let db = if needs.db {
        Some(aws_sdk_dynamodb::Client::new(&sdk_config().await))
    } else {
        None
    };
    let cache = match (&config.redis_url, needs.cache) {
        (Some(url), true) => Some(rota_api::cache::Cache::new(url).expect("redis url")),
        _ => None,
    };
    let tokens = needs.tokens.then(|| {
        rota_api::auth::tokens::TokenKeys::new(b"handler-tests-secret-0123456789abcdef")
            .expect("keys")
    });
    rota_api::App::new(config, db, cache, tokens)
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
pub async fn call<H: rota_api::Handler>(app: &rota_api::App, handler: &H, event: &Value) -> Reply {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses the event");
    let response = rota_api::invoke(app, handler, request)
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

/// Every log line a function wrote under the running stack.
pub fn function_log(binary: &str) -> String {
    let dir = PathBuf::from(required_env("ROTA_LOGS_DIR"));
    assert!(
        dir.is_dir(),
        "ROTA_LOGS_DIR {} is not a directory",
        dir.display()
    );
    std::fs::read_to_string(dir.join(format!("{binary}.log"))).unwrap_or_default()
}

/// A new queue of the emulator, for one test.
pub async fn test_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue url")
}

/// Every message body in `queue`, received (and left to reappear after its visibility timeout).
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        bodies.extend(messages.iter().filter_map(|m| m.body().map(str::to_owned)));
    }
}

/// Fires the reminder schedule once for `at` (RFC 3339) through `rota-local fire`, against the
/// emulator of the environment.
pub fn fire_reminder_schedule(at: &str) -> std::process::Output {
    std::process::Command::new(repo_root().join("target/debug/rota-local"))
        .args([
            "fire",
            "--function",
            "RemindersSchedulerFunction",
            "--time",
            at,
        ])
        .args(["--aws-endpoint", &required_env("AWS_ENDPOINT_URL")])
        .args([
            "--template",
            repo_root()
                .join("template.yaml")
                .to_str()
                .expect("utf-8 path"),
        ])
        .args([
            "--bin-dir",
            repo_root()
                .join("target/debug")
                .to_str()
                .expect("utf-8 path"),
        ])
        .output()
        .expect("rota-local fire")
}

// ---------------------------------------------------------------------------------------------
// Operations and security helpers (restore drill, abuse and header tests).

/// A DynamoDB item.
pub type DbItem = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// An item of a `rota-admin export` line (`{"Item":{…}}` in DynamoDB JSON), read by this
/// independent parser so the drill does not check the tool against itself.
pub fn parse_export_line(line: &str) -> DbItem {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    use base64::Engine;
    fn value(v: &Value) -> Av {
        let (tag, v) = v
            .as_object()
            .and_then(|o| o.iter().next())
            .unwrap_or_else(|| panic!("not a DynamoDB JSON value: {v}"));
        let text = |v: &Value| v.as_str().expect("string").to_owned();
        let texts = |v: &Value| v.as_array().expect("array").iter().map(text).collect();
        let blob = |v: &Value| {
            Blob::new(
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().expect("base64"))
                    .expect("base64"),
            )
        };
        match tag.as_str() {
            "S" => Av::S(text(v)),
            "N" => Av::N(text(v)),
            "B" => Av::B(blob(v)),
            "SS" => Av::Ss(texts(v)),
            "NS" => Av::Ns(texts(v)),
            "BS" => Av::Bs(v.as_array().expect("array").iter().map(blob).collect()),
            "BOOL" => Av::Bool(v.as_bool().expect("bool")),
            "NULL" => Av::Null(v.as_bool().expect("bool")),
            "L" => Av::L(v.as_array().expect("array").iter().map(value).collect()),
            "M" => Av::M(
                v.as_object()
                    .expect("object")
                    .iter()
                    .map(|(k, v)| (k.clone(), value(v)))
                    .collect(),
            ),
            other => panic!("unknown type {other}"),
        }
    }
    let line: Value = serde_json::from_str(line).expect("JSON line");
    line["Item"]
        .as_object()
        .expect("{\"Item\":{…}}")
        .iter()
        .map(|(k, v)| (k.clone(), value(v)))
        .collect()
}

/// `item` with its set members sorted: DynamoDB does not promise the order of a set.
pub fn normalize_sets(item: &DbItem) -> DbItem {
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    fn norm(v: &Av) -> Av {
        match v {
            Av::Ss(s) => Av::Ss(sorted(s.clone())),
            Av::Ns(s) => Av::Ns(sorted(s.clone())),
            Av::Bs(s) => {
                let mut s = s.clone();
                s.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
                Av::Bs(s)
            }
            Av::L(l) => Av::L(l.iter().map(norm).collect()),
            Av::M(m) => Av::M(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
            other => other.clone(),
        }
    }
    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }
    item.iter().map(|(k, v)| (k.clone(), norm(v))).collect()
}

/// The `PK`/`SK` of an item, for indexing and messages.
pub fn item_key(item: &DbItem) -> (String, String) {
    let s = |name: &str| match item.get(name) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
        other => panic!("{name} is {other:?}"),
    };
    (s("PK"), s("SK"))
}

/// Every item of `table` (a consistent Scan, paged).
pub async fn scan_all(db: &aws_sdk_dynamodb::Client, table: &str) -> Vec<DbItem> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key.filter(|k| !k.is_empty());
        if start.is_none() {
            return items;
        }
    }
}

/// Creates `to` with `from`'s key schema, attribute definitions and GSIs (on-demand), as a
/// restore target is created.
pub async fn create_table_like(db: &aws_sdk_dynamodb::Client, from: &str, to: &str) {
    use aws_sdk_dynamodb::types::{BillingMode, GlobalSecondaryIndex};
    let table = db
        .describe_table()
        .table_name(from)
        .send()
        .await
        .expect("DescribeTable")
        .table
        .expect("table");
    let indexes: Vec<GlobalSecondaryIndex> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(g.index_name().expect("index name"))
                .set_key_schema(g.key_schema.clone())
                .set_projection(g.projection.clone())
                .build()
                .expect("index")
        })
        .collect();
    db.create_table()
        .table_name(to)
        .set_attribute_definitions(table.attribute_definitions.clone())
        .set_key_schema(table.key_schema.clone())
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
    for _ in 0..100 {
        let status = db
            .describe_table()
            .table_name(to)
            .send()
            .await
            .expect("DescribeTable")
            .table
            .and_then(|t| t.table_status);
        if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{to} did not become ACTIVE");
}

/// Deletes every item of `table` (BatchWriteItem deletes of 25).
pub async fn delete_all_items(db: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
    let items = scan_all(db, table).await;
    for chunk in items.chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                let key = ["PK", "SK"]
                    .iter()
                    .map(|k| (k.to_string(), item[*k].clone()))
                    .collect();
                WriteRequest::builder()
                    .delete_request(DeleteRequest::builder().set_key(Some(key)).build().unwrap())
                    .build()
            })
            .collect();
        let mut pending = Some(std::collections::HashMap::from([(
            table.to_owned(),
            requests,
        )]));
        while let Some(batch) = pending.filter(|m| !m.is_empty()) {
            pending = db
                .batch_write_item()
                .set_request_items(Some(batch))
                .send()
                .await
                .expect("BatchWriteItem")
                .unprocessed_items;
        }
    }
}

/// The lines of `binary`'s log that contain `needle`, parsed, once `done` holds for them
/// (function output reaches the file a moment after the response; bounded wait).
pub async fn log_lines_with(
    binary: &str,
    needle: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = function_log(binary)
            .lines()
            .filter(|l| l.contains(needle))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        if done(&lines) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lines
}

/// The operations (`GetItem`, `PutItem`, …) a DynamoDB client sent, one entry per HTTP round
/// trip (retries included), in order.
#[derive(Debug, Clone, Default)]
pub struct DynamoCalls(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl DynamoCalls {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl aws_sdk_dynamodb::config::Intercept for DynamoCalls {
    fn name(&self) -> &'static str {
        "DynamoCalls"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.0.lock().unwrap().push(op);
        Ok(())
    }
}

/// A DynamoDB client for the emulator that records every call it makes.
pub async fn counting_dynamodb_client() -> (aws_sdk_dynamodb::Client, DynamoCalls) {
    let calls = DynamoCalls::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .interceptor(calls.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), calls)
}

/// Asserts the security headers every response of our functions carries, and its
/// `cache-control` (`no-store` unless the handler chose its own).
pub fn assert_security_headers(reply: &Reply, cache_control: &str) {
    for (name, value) in [
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(
            reply.header(name),
            Some(value),
            "{name} on a {} response: {:?}",
            reply.status,
            reply.headers
        );
    }
    assert_eq!(
        reply.header("cache-control"),
        Some(cache_control),
        "cache-control on a {} response",
        reply.status
    );
}

// ---------------------------------------------------------------------------------------------
// A private emulator under a fault profile (tests of the retry policy and of the reminders
// pipeline under faults start their own, so their faults never reach other tests).

/// A temporary directory, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The emulator wrapper (local/moto_server.py) on a free port under one profile (`profile` is
/// the YAML body of `profiles.test`, indented by four spaces), with the template's tables,
/// queues and secret; and a DynamoDB client built as the functions build theirs.
pub async fn faulted_emulator(
    profile: &str,
) -> (
    rota_local::stack::MotoServer,
    aws_sdk_dynamodb::Client,
    TempDir,
) {
    use rota_local::stack::{EmulatorFaults, MotoServer, ensure_resources, find_moto_server};
    let dir = TempDir::new("rota-faults-");
    let file = dir.path.join("faults.yaml");
    std::fs::write(&file, format!("profiles:\n  test:\n{profile}")).expect("profile file");
    let server = MotoServer::start_with_faults(
        &find_moto_server(&repo_root()),
        0,
        &dir.path,
        Some(&EmulatorFaults {
            file,
            profile: "test".into(),
        }),
    )
    .await
    .expect("the emulator wrapper starts (make bootstrap creates .venv)");
    let template =
        rota_local::template::Template::load(repo_root().join("template.yaml")).expect("template");
    ensure_resources(&template, &server.endpoint)
        .await
        .expect("resources");
    let sdk = rota_local::stack::sdk_config(&server.endpoint).await;
    (server, rota_store::dynamodb_client(&sdk), dir)
}

/// What a wrapper says it injected (`injected`) and served (`calls`).
pub async fn emulator_counts(server: &rota_local::stack::MotoServer) -> Value {
    reqwest::get(format!("{}/_rota/faults", server.endpoint))
        .await
        .expect("counts")
        .json()
        .await
        .expect("counts JSON")
}

/// The sum of the counts whose name contains `needle`.
pub fn count_of(counts: &Value, needle: &str) -> u64 {
    counts
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.contains(needle))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Moves a user's next reminder to `hour` (epoch hours), as if that hour had come: settings
/// always schedule the next occurrence, never the current one. Through the data layer's
/// retries, so it holds under a fault profile too.
pub async fn set_due_hour(db: &aws_sdk_dynamodb::Client, user_id: i64, hour: i64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use rota_store::SendRetried;
    db.update_item()
        .table_name("RotaTable")
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .update_expression("SET reminder_due_hour = :h")
        .expression_attribute_values(":h", AttributeValue::N(hour.to_string()))
        .send_retried()
        .await
        .expect("UpdateItem");
}
