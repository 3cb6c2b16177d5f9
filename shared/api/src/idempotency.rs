//! `Idempotency-Key` on the creating POSTs (posts, comments, roadmaps): a client that lost a
//! response may send the same request again and gets the first response, never a second
//! resource. The IETF draft "The Idempotency-Key HTTP Header Field" and Powertools for AWS
//! Lambda agree on the answers:
//!
//! - same key, same request, first one finished → its response again (`idempotent-replayed:
//!   true`), whatever happened since;
//! - same key, another request body → 422;
//! - same key while the first is still running → 409 with `Retry-After`;
//! - keys are scoped to the caller and the endpoint and expire after 24 hours.
//!
//! Storage and atomicity: `store::idempotency`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::types::TransactWriteItem;
use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::HasDb;
use rota_store::StoreResult;
use rota_store::idempotency::{Claim, Idempotency, Record};

pub const HEADER: &str = "idempotency-key";
/// How long a key is remembered.
pub const TTL_SECS: i64 = 24 * 3600;
/// How long a claim holds when the invocation's deadline is unknown (tests).
const DEFAULT_HOLD_MS: i64 = 30_000;

/// A request's `Idempotency-Key`: 1..=255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key of `req`, if it sent one (400 when it is malformed).
    pub fn of(req: &Request) -> ApiResult<Option<Self>> {
        let Some(value) = req.headers().get(HEADER) else {
            return Ok(None);
        };
        let bad = || {
            ApiError::BadRequest(
                "Idempotency-Key must be 1 to 255 visible ASCII characters.".into(),
            )
        };
        let text = value.to_str().map_err(|_| bad())?;
        if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a retry of a creating request must match, taken from the request by the
/// `Idempotent` extractor: the key, if one was sent, and the request's hash.
pub struct Replay {
    key: Option<IdempotencyKey>,
    request_hash: String,
    /// The invocation's deadline (epoch ms): how long a claim holds.
    deadline_ms: Option<i64>,
}

impl Replay {
    /// `canonical_body` is the request body as parsed (its canonical form is what "the same
    /// request" means); hashed only when a key was sent.
    pub fn new(
        req: &Request,
        key: Option<IdempotencyKey>,
        canonical_body: serde_json::Value,
    ) -> Self {
        let request_hash = if key.is_some() {
            request_hash(req.method().as_str(), req.uri().path(), &canonical_body)
        } else {
            String::new()
        };
        Self {
            key,
            request_hash,
            deadline_ms: req.lambda_context_ref().map(|c| c.deadline as i64),
        }
    }
}

/// What the protected work gets: the write that completes the key, to put in its own
/// transaction.
#[derive(Clone)]
pub struct Guard {
    table: String,
    record: Option<Record>,
    used: Arc<AtomicBool>,
}

impl Guard {
    /// The transaction writes that record `status`/`body` as this request's response (none
    /// when the request sent no key).
    pub fn completion(
        &self,
        status: StatusCode,
        body: &str,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        match &self.record {
            Some(record) => {
                self.used.store(true, Ordering::Relaxed);
                Ok(vec![record.complete(&self.table, status.as_u16(), body)?])
            }
            None => Ok(Vec::new()),
        }
    }
}

/// What "the same request" means: method, path and the body's canonical JSON, hashed.
pub fn request_hash(method: &str, path: &str, canonical_body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method);
    hasher.update(b" ");
    hasher.update(path);
    hasher.update(b"\n");
    // serde_json's maps are sorted by key: the same JSON always hashes the same.
    hasher.update(canonical_body.to_string());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn response_body(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// Runs `work` at most once per key: see the module docs.
pub async fn run<S: HasDb, F, Fut>(
    app: &App<S>,
    replay: Replay,
    user_id: i64,
    scope: &str,
    work: F,
) -> ApiResult<Response<Body>>
where
    F: FnOnce(Guard) -> Fut,
    Fut: Future<Output = ApiResult<Response<Body>>>,
{
    let table = app.table().to_owned();
    let Some(key) = replay.key else {
        return work(Guard {
            table,
            record: None,
            used: Arc::default(),
        })
        .await;
    };
    let store = Idempotency::new(app.db(), app.table());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let until_ms = replay
        .deadline_ms
        .filter(|d| *d > now_ms)
        .unwrap_or(now_ms + DEFAULT_HOLD_MS);
    let claim = store
        .claim(
            user_id,
            scope,
            &key.0,
            &replay.request_hash,
            now_ms,
            until_ms,
            TTL_SECS,
        )
        .await?;
    let record = match claim {
        Claim::Acquired(record) => record,
        Claim::Replay { status, body } => return replayed(status, body),
        Claim::Mismatch => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "Idempotency-Key",
                "was already used with a different request",
            )]));
        }
        Claim::InProgress { until_ms: until } => {
            let secs = ((until - now_ms).max(0) as u64).div_ceil(1000).max(1);
            return Err(ApiError::InProgress {
                retry_after_secs: secs,
            });
        }
    };
    let guard = Guard {
        table,
        record: Some(record.clone()),
        used: Arc::default(),
    };
    let used = guard.used.clone();
    match work(guard).await {
        Ok(response) => {
            if !used.load(Ordering::Relaxed) {
                // The work wrote nothing it could join: record its response on its own.
                store
                    .complete(
                        &record,
                        response.status().as_u16(),
                        &response_body(&response),
                    )
                    .await?;
            }
            Ok(response)
        }
        Err(err) => {
            // Nothing was written: free the key for a retry (best effort; an orphaned claim
            // expires at `until_ms`).
            if let Err(e) = store.release(&record).await {
                tracing::warn!(error = %e, "could not release an idempotency claim");
            }
            Err(err)
        }
    }
}

/// Marks `response` as the answer of an earlier request with the same key.
pub fn mark_replayed(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

fn replayed(status: u16, body: String) -> ApiResult<Response<Body>> {
    let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
    let mut response = Response::builder()
        .status(status)
        .body(if body.is_empty() {
            Body::Empty
        } else {
            Body::Text(body)
        })
        .map_err(ApiError::internal)?;
    let headers = response.headers_mut();
    if status != StatusCode::NO_CONTENT {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
