//! Request parsing at the edge and response building.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response, request::RequestContext};
use serde::Serialize;

use crate::error::{ApiError, ApiResult, FieldError};

/// Request bodies above this size get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

fn is_json_content_type(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The body as a JSON object: 413 when too large, 415 when not JSON, 400 when malformed,
/// 422 when valid JSON but not an object.
pub fn json_object(req: &Request) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if !is_json_content_type(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "The body is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])),
    }
}

/// The client's address as API Gateway saw it (`requestContext.http.sourceIp`). Never taken
/// from a client-supplied header such as X-Forwarded-For.
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// `Authorization: Bearer <token>`; `None` when no Authorization header is sent.
pub fn bearer_token(req: &Request) -> ApiResult<Option<&str>> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("The Authorization header is malformed."))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::Unauthorized(
            "Use the Authorization header as: Bearer <access_token>.",
        )),
    }
}

pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResult<Response<Body>> {
    let text = serde_json::to_string(value).map_err(ApiError::internal)?;
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(text))
        .expect("static response parts are valid"))
}

/// A JSON response from already serialised text.
pub fn json_text(status: StatusCode, text: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(text))
        .expect("static response parts are valid")
}

pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("static response parts are valid")
}

/// Headers every response of ours carries (success and problem+json alike), for browsers that
/// reach the API directly: HTTPS only for two years, no MIME sniffing, never framed, no
/// active content, no Referer leaking ids in URLs. The API serves JSON only, so the strictest
/// values cost nothing. API Gateway's own throttling 429 is answered before any function runs
/// and carries none of them.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
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
];

/// The Content-Security-Policy of the interactive reference at `GET /docs` (Swagger UI), the
/// one page the API serves: its own scripts, styles and images (`data:` for the icons its
/// stylesheet embeds), calls to this origin only ("Try it out", `/openapi.json`), never
/// framed. Found by running the page in Chromium under it with no violation reported
/// (tests/browser/); every other response keeps `SECURITY_HEADERS`' policy.
pub const DOCS_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Which Content-Security-Policy a response carries: the API's, or the docs page's. A closed
/// set, so a handler can only pick a reviewed policy ([`crate::function::Handler::CSP`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csp {
    /// `SECURITY_HEADERS`' `default-src 'none'`: nothing active (every JSON response).
    Api,
    /// [`DOCS_PAGE_CSP`]: the docs page and its files, and nothing else.
    DocsPage,
}

/// Adds [`SECURITY_HEADERS`] (replacing a handler's value: they are not negotiable), with the
/// docs page's policy instead of the API's when `csp` says so, and `cache-control: no-store`
/// unless the handler chose its own caching (the OpenAPI document, the catalog and the docs
/// page are cacheable; everything else is per-user or changes).
pub fn apply_security_headers(headers: &mut http::HeaderMap, csp: Csp) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if csp == Csp::DocsPage {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_PAGE_CSP),
        );
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// An inbound `x-request-id` is kept when it is 1..=128 chars of `[A-Za-z0-9._-]`.
pub fn valid_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        b.body(Body::Text(body.to_owned())).unwrap()
    }

    #[test]
    fn json_bodies_need_a_json_content_type() {
        assert!(matches!(
            json_object(&request(Some("text/plain"), "{}")),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            json_object(&request(None, "{}")),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(json_object(&request(Some("application/json; charset=utf-8"), "{}")).is_ok());
        assert!(json_object(&request(Some("application/merge-patch+json"), "{}")).is_ok());
    }

    #[test]
    fn malformed_json_is_a_bad_request_and_non_objects_are_invalid() {
        assert!(matches!(
            json_object(&request(Some("application/json"), "{\"a\":")),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            json_object(&request(Some("application/json"), "[1]")),
            Err(ApiError::Validation(_))
        ));
    }

    #[test]
    fn bodies_over_64_kib_are_too_large() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            json_object(&request(Some("application/json"), &big)),
            Err(ApiError::PayloadTooLarge)
        ));
    }

    #[test]
    fn request_ids_are_echoed_only_when_well_formed() {
        assert_eq!(
            valid_request_id(&HeaderValue::from_static("abc-1.2_3")).as_deref(),
            Some("abc-1.2_3")
        );
        assert!(valid_request_id(&HeaderValue::from_static("has space")).is_none());
        assert!(valid_request_id(&HeaderValue::from_str(&"a".repeat(129)).unwrap()).is_none());
    }

    /// A response's headers that already hold `name: value`, after the security headers of
    /// `csp` are applied.
    fn secured(name: http::header::HeaderName, value: &'static str, csp: Csp) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        apply_security_headers(&mut h, csp);
        h
    }

    #[test]
    fn security_headers_keep_a_handlers_own_caching_only() {
        let h = secured(header::X_FRAME_OPTIONS, "SAMEORIGIN", Csp::Api);
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=63072000; includeSubDomains"
        );
        let h = secured(header::CACHE_CONTROL, "public, max-age=300", Csp::Api);
        assert_eq!(h["cache-control"], "public, max-age=300");
        assert_eq!(h.len(), SECURITY_HEADERS.len() + 1);
    }

    #[test]
    fn only_the_docs_page_policy_differs_and_only_in_its_csp() {
        let api = secured(header::CONTENT_SECURITY_POLICY, "script-src *", Csp::Api);
        assert_eq!(
            api["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        let docs = secured(
            header::CONTENT_SECURITY_POLICY,
            "script-src *",
            Csp::DocsPage,
        );
        assert_eq!(docs["content-security-policy"], DOCS_PAGE_CSP);
        for (name, value) in api.iter() {
            if name != header::CONTENT_SECURITY_POLICY {
                assert_eq!(docs[name], value, "{name}");
            }
        }
        assert_eq!(docs.len(), api.len());
        // Still nothing from another origin, nothing inline, never framed.
        assert!(DOCS_PAGE_CSP.starts_with("default-src 'none';"));
        assert!(DOCS_PAGE_CSP.contains("frame-ancestors 'none'"));
        assert!(!DOCS_PAGE_CSP.contains("unsafe"));
        assert!(!DOCS_PAGE_CSP.contains('*'));
        assert!(!DOCS_PAGE_CSP.contains("http"));
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let with = |authorization: &str| {
            http::Request::builder()
                .header("authorization", authorization)
                .body(Body::Empty)
                .unwrap()
        };
        assert_eq!(bearer_token(&with("bearer abc")).unwrap(), Some("abc"));
        assert!(bearer_token(&with("Basic abc")).is_err());
    }
}
