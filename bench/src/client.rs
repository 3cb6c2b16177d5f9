//! Requests to the local gateway, as a benchmark sends them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::bail;
use serde_json::Value;

/// One HTTP request of a benchmark.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: reqwest::Method,
    pub path: String,
    pub body: Option<Value>,
    pub token: Option<String>,
}

impl Req {
    pub(crate) fn new(method: reqwest::Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            token: None,
        }
    }
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self::new(reqwest::Method::GET, path)
    }
    pub(crate) fn post(path: impl Into<String>, body: Value) -> Self {
        Self::new(reqwest::Method::POST, path).body(body)
    }
    pub(crate) fn patch(path: impl Into<String>, body: Value) -> Self {
        Self::new(reqwest::Method::PATCH, path).body(body)
    }
    pub(crate) fn delete(path: impl Into<String>) -> Self {
        Self::new(reqwest::Method::DELETE, path)
    }
    pub(crate) fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    pub(crate) fn auth(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }
}

/// A response through the local gateway, read whole: status, JSON body (a string when not
/// JSON) and the `x-rota-diagnostics` cost (diagnostic builds).
#[derive(Debug)]
pub struct GatewayResponse {
    pub status: u16,
    pub json: Value,
    pub diagnostics: Option<Value>,
}

/// Talks to the local gateway from its own loopback address (per-IP limits stay apart).
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let ip = IpAddr::V4(Ipv4Addr::new(
            127,
            rand::random_range(1..=254),
            rand::random(),
            rand::random_range(1..=254),
        ));
        Ok(Self {
            http: reqwest::Client::builder()
                .local_address(ip)
                .timeout(Duration::from_secs(60))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// Sends a request; API Gateway's own throttling answer (429 before the function runs) is
    /// waited out and retried, so every reply comes from the function.
    pub async fn send(&self, req: &Req) -> anyhow::Result<GatewayResponse> {
        for _ in 0..200 {
            let mut b = self
                .http
                .request(req.method.clone(), format!("{}{}", self.base, req.path));
            if let Some(t) = &req.token {
                b = b.bearer_auth(t);
            }
            if let Some(body) = &req.body {
                b = b.json(body);
            }
            let res = b.send().await?;
            let status = res.status().as_u16();
            let diagnostics = res
                .headers()
                .get("x-rota-diagnostics")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| serde_json::from_str(v).ok());
            let text = res.text().await?;
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if status == 429 && json.get("message").is_some() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            return Ok(GatewayResponse {
                status,
                json,
                diagnostics,
            });
        }
        bail!(
            "{} {}: throttled by the gateway 200 times",
            req.method,
            req.path
        )
    }

    /// Sends a request that must succeed (set-up steps).
    pub(crate) async fn ok(&self, req: Req) -> anyhow::Result<Value> {
        let r = self.send(&req).await?;
        if !(200..300).contains(&r.status) {
            bail!("{} {} → {}: {}", req.method, req.path, r.status, r.json);
        }
        Ok(r.json)
    }
}
