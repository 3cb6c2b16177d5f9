//! The one error type of the API and its single mapping to RFC 9457 problem+json.
//!
//! Internal causes are logged by the invocation wrapper and never sent to the client.

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::json;

/// One invalid input field, reported in a 422's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A request with the same Idempotency-Key is still running: 409 + Retry-After.
    #[error("a request with this idempotency key is in progress")]
    InProgress { retry_after_secs: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// A dependency stayed down, busy or contended past the retry budget: 503 + Retry-After.
    #[error("dependency unavailable: {0}")]
    Unavailable(&'static str),
    /// Anything unexpected. The cause and its whole source chain are logged
    /// ([`ApiError::log_line`]); the client sees a generic 500.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// An internal error caused by `cause` (an error, kept with its sources, or a message).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    /// The error and each of its sources, `: `-separated: what its log line says.
    pub fn log_line(&self) -> String {
        let mut line = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            line.push_str(": ");
            line.push_str(&cause.to_string());
            source = cause.source();
        }
        line
    }

    pub fn validation(field: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::InProgress { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "Malformed request"),
            Self::Unauthorized(_) => ("unauthorized", "Authentication required"),
            Self::Forbidden => ("forbidden", "Not allowed"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::InProgress { .. } => ("in-progress", "Request in progress"),
            Self::PayloadTooLarge => ("payload-too-large", "Request body too large"),
            Self::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            Self::Validation(_) => ("validation", "Validation failed"),
            Self::RateLimited { .. } => ("rate-limited", "Too many requests"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The client-facing explanation; never includes internal causes.
    fn detail(&self) -> String {
        match self {
            Self::BadRequest(d) | Self::Conflict(d) | Self::NotFound(d) => d.clone(),
            Self::Unauthorized(d) => (*d).to_string(),
            Self::Forbidden => "You are not allowed to do this.".into(),
            Self::PayloadTooLarge => "Request bodies are limited to 64 KiB.".into(),
            Self::UnsupportedMediaType => "Send the body as application/json.".into(),
            Self::Validation(_) => "One or more fields are invalid.".into(),
            Self::RateLimited { retry_after_secs } => {
                format!("Rate limit reached; retry in {retry_after_secs} s.")
            }
            Self::InProgress { retry_after_secs } => format!(
                "A request with this Idempotency-Key is still being processed; retry in {retry_after_secs} s."
            ),
            Self::Unavailable(dep) => format!("{dep} is not answering; try again shortly."),
            Self::Internal(_) => "Something went wrong on our side.".into(),
        }
    }

    /// The problem+json response for this error.
    pub fn to_response(&self, request_id: &str) -> Response<Body> {
        let status = self.status();
        let (slug, title) = self.slug_and_title();
        let mut body = json!({
            "type": format!("urn:rota:problem:{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": self.detail(),
            "request_id": request_id,
        });
        if let Self::Validation(errors) = self {
            body["errors"] = json!(errors);
        }
        let mut response = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/problem+json")
            .body(Body::Text(body.to_string()))
            .expect("static response parts are valid");
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
            }
            Self::RateLimited { retry_after_secs } | Self::InProgress { retry_after_secs } => {
                headers.insert(
                    http::header::RETRY_AFTER,
                    HeaderValue::from(*retry_after_secs),
                );
            }
            Self::Unavailable(_) => {
                headers.insert(
                    http::header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What a 503 tells clients to wait: conflicts and throttles pass in well under a second, and
/// a retry a moment later spreads the load.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// The data layer's errors at the HTTP edge: whatever passes with time is 503 (the request's
/// retry budget is spent; the client may retry), a surprise is 500.
impl From<rota_domain::cursor::InvalidCursor> for ApiError {
    fn from(_: rota_domain::cursor::InvalidCursor) -> Self {
        ApiError::BadRequest("The cursor is invalid or belongs to another list.".into())
    }
}

impl From<rota_store::StoreError> for ApiError {
    fn from(err: rota_store::StoreError) -> Self {
        use rota_store::StoreError;
        match err {
            StoreError::Conflict(_) | StoreError::Throttled(_) | StoreError::Unavailable(..) => {
                tracing::warn!(error = %err, "the database stayed unavailable");
                ApiError::Unavailable("the database")
            }
            StoreError::ConditionFailed(_) => {
                ApiError::Conflict("The resource changed meanwhile; try again.".into())
            }
            StoreError::Corrupt(_) | StoreError::Mapping(_) | StoreError::Internal(_) => {
                ApiError::internal(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(r: &Response<Body>) -> serde_json::Value {
        match r.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn internal_errors_never_leak_their_cause() {
        let r =
            ApiError::internal("dynamodb: table rota-prod arn:aws:... failed").to_response("r1");
        assert_eq!(r.status(), 500);
        let text = body_json(&r).to_string();
        assert!(!text.contains("dynamodb"), "{text}");
        assert!(!text.contains("arn:"), "{text}");
    }

    #[test]
    fn the_log_line_of_an_internal_error_carries_its_whole_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the profile")]
        struct Outer(#[source] rota_store::StoreError);
        let err = ApiError::internal(Outer(rota_store::StoreError::Corrupt("locale".into())));
        assert_eq!(
            err.log_line(),
            "internal error: reading the profile: stored item lacks a valid locale"
        );
        let from_store = ApiError::from(rota_store::StoreError::internal("bad request shape"));
        assert_eq!(from_store.log_line(), "internal error: bad request shape");
        // The answer is the same generic 500 whatever the chain.
        let body = body_json(&err.to_response("r"));
        assert_eq!(body["detail"], "Something went wrong on our side.");
        assert_eq!(body["status"], 500);
    }

    #[test]
    fn validation_problems_list_each_field() {
        let r = ApiError::Validation(vec![FieldError::new("email", "must be an email address")])
            .to_response("abc");
        assert_eq!(r.status(), 422);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let b = body_json(&r);
        assert_eq!(b["errors"][0]["field"], "email");
        assert_eq!(b["request_id"], "abc");
        assert_eq!(b["status"], 422);
    }

    #[test]
    fn a_database_that_stays_busy_is_503_with_retry_after_never_500() {
        use rota_store::StoreError;
        for err in [
            StoreError::Conflict("TransactWriteItems"),
            StoreError::Throttled("GetItem"),
            StoreError::Unavailable("Query", "InternalServerError".into()),
        ] {
            let r = ApiError::from(err).to_response("x");
            assert_eq!(r.status(), 503);
            assert_eq!(r.headers()["retry-after"], "1");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
        }
        let r = ApiError::from(StoreError::Corrupt("likes_count".into())).to_response("x");
        assert_eq!(r.status(), 500);
    }

    #[test]
    fn rate_limited_problems_say_when_to_retry() {
        let r = ApiError::RateLimited {
            retry_after_secs: 42,
        }
        .to_response("x");
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "42");
    }
}
