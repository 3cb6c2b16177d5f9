//! The HTTP client of the local gateway: [`Api`] (each from a client IP of its own), the
//! [`HttpReply`] it reads, and the careful client a fault profile calls for.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::accounts::unique;

/// The community's posts (the feeds, and each post's likes and comments below it).
pub const POSTS: &str = "/api/community/posts";

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

/// An HTTP response, read whole: the gateway's (through [`Api`]) or an in-process handler's
/// (through `call`). Named for what it is, apart from the API crate's `Reply` (a handler's
/// result, before it is an HTTP response) and the benchmark client's.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// Attempts before this one whose outcome was unknown (see [`careful`]).
    pub unknown_outcomes: u32,
}

impl HttpReply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The seconds of its `Retry-After` header (which it must have).
    pub fn retry_after(&self) -> u64 {
        self.header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds")
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
/// - a request whose outcome is unknown ([`HttpReply::outcome_unknown`]) is sent again, after the
///   server's `Retry-After` or a short backoff;
/// - a creating POST without an `Idempotency-Key` gets one (the same for its retries), so a
///   retry never creates twice;
/// - a DELETE whose retry finds the resource gone (404) after an unknown outcome succeeded
///   the first time: reported as the 204 it was.
///
/// Without a profile, every reply is returned as the server sent it.
pub fn careful() -> bool {
    crate::harness::stack().faults != "none"
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
    /// Whether it is the careful client ([`careful`]).
    careful: bool,
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}

impl Api {
    pub fn new() -> Self {
        Self::on(crate::harness::base_url(), random_ip(), careful())
    }

    /// A client of the gateway at `base` (a private stack's, without faults), from its own
    /// client IP.
    pub fn at(base: &str) -> Self {
        Self::on(base, random_ip(), false)
    }

    /// The careful client ([`careful`]) of the gateway at `base` (a private stack's under a
    /// fault profile), from its own client IP.
    pub fn careful_at(base: &str) -> Self {
        Self::on(base, random_ip(), true)
    }

    fn on(base: &str, ip: IpAddr, careful: bool) -> Self {
        let http = reqwest::Client::builder()
            .local_address(ip)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            ip,
            careful,
        }
    }

    /// Sends a request without a body (any method, as `token`).
    pub async fn send(&self, method: &str, path: &str, token: Option<&str>) -> HttpReply {
        self.send_with(method, path, token, None, None, &[]).await
    }

    /// Sends a request. API Gateway's own throttling 429 is retried with backoff, as a
    /// well-behaved client does; the functions' own 429s are returned.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> HttpReply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let careful = self.careful;
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
            let mut reply = HttpReply {
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

    pub async fn get(&self, path: &str, token: Option<&str>) -> HttpReply {
        self.send("GET", path, token).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> HttpReply {
        self.post_with(path, body, token, &[]).await
    }

    /// A JSON POST with extra request headers.
    pub async fn post_with(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> HttpReply {
        self.send_json("POST", path, body, token, headers).await
    }

    /// A JSON POST with an `Idempotency-Key`.
    pub async fn post_idempotent(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        key: &str,
    ) -> HttpReply {
        self.post_with(path, body, token, &[("idempotency-key", key)])
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> HttpReply {
        self.send_json("PATCH", path, body, token, &[]).await
    }

    /// A request (any method) with `body` as JSON.
    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> HttpReply {
        let body = Some(body.to_string().into_bytes());
        self.send_with(method, path, token, Some("application/json"), body, headers)
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> HttpReply {
        self.send("DELETE", path, token).await
    }

    /// The same client against another stack's gateway (`http://HOST:PORT`).
    pub fn against(mut self, base_url: &str) -> Self {
        base_url.trim_end_matches('/').clone_into(&mut self.base);
        self
    }

    /// The plain HTTP client behind this one (same client IP), for requests the API methods
    /// do not make (preflights, other origins, own request ids, raw bodies).
    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }

    /// The gateway's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The JSON answer of a stand-in's own endpoint (the emulator's `/_rota/…`), `what` naming it
/// in a failure.
pub async fn get_json(url: &str, what: &str) -> Value {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

/// The fields a 422 problem lists, in order.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// `path` (which has a query already) for the page after `cursor` (the first without one).
pub fn with_cursor(path: &str, cursor: Option<&str>) -> String {
    match cursor {
        Some(c) => format!("{path}&cursor={c}"),
        None => path.to_owned(),
    }
}

/// The post `id` as the new feed shows it to `token`'s user, once it shows (within 3 s), else
/// `None`. Feed pages are eventually consistent (docs/api.md): the index behind them lags in
/// AWS, and while the cache is down for a post's writer a page cached just before the post can
/// be served for its second (seen under the bad-day profile).
pub async fn in_new_feed(api: &Api, token: Option<&str>, id: i64) -> Option<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let found = find_in_new_feed(api, token, id).await;
        if found.is_some() || std::time::Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// One look for `id` in the new feed: read page by page until it or an older post turns up
/// (ids sort by creation time). Other tests create posts all the while, so a fixed first page
/// may already have moved past it.
async fn find_in_new_feed(api: &Api, token: Option<&str>, id: i64) -> Option<Value> {
    let mut cursor: Option<String> = None;
    loop {
        let path = with_cursor(&format!("{POSTS}?sort=new&limit=100"), cursor.as_deref());
        let page = api.get(&path, token).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let page = page.json();
        let items = page["items"].as_array().unwrap();
        if let Some(post) = items.iter().find(|p| p["id"].as_i64() == Some(id)) {
            return Some(post.clone());
        }
        let passed = items
            .last()
            .and_then(|p| p["id"].as_i64())
            .is_some_and(|last| last < id);
        match page["next_cursor"].as_str() {
            Some(next) if !passed => cursor = Some(next.to_owned()),
            _ => return None,
        }
    }
}

/// The ids of a page's items, in order.
pub fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

/// The (likes count, id) of each post of a feed page, in order.
pub fn likes_and_ids(page: &Value) -> Vec<(i64, i64)> {
    let posts = page["items"].as_array().unwrap();
    let like_and_id = |p: &Value| {
        (
            p["likes_count"].as_i64().unwrap(),
            p["id"].as_i64().unwrap(),
        )
    };
    posts.iter().map(like_and_id).collect()
}

/// Asserts that `reply` has `status` (as a problem+json from 400 up) and the security headers,
/// with `cache_control` (see [`assert_security_headers`]).
pub fn assert_answered_securely(reply: &HttpReply, status: u16, cache_control: &str) {
    if status >= 400 {
        reply.problem(status);
    } else {
        assert_eq!(reply.status, status, "{}", reply.text);
    }
    assert_security_headers(reply, cache_control);
}

/// Asserts the security headers every response of our functions carries, and its
/// `cache-control` (`no-store` unless the handler chose its own).
pub fn assert_security_headers(reply: &HttpReply, cache_control: &str) {
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
