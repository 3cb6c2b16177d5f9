//! CORS as an HTTP API with a `CorsConfiguration` does it: the gateway answers preflight
//! requests itself (no route or function involved) and adds the configured headers to every
//! response for an allowed origin, ignoring any CORS headers the function returned.
//!
//! From the API Gateway documentation: CORS headers are returned only when the request has an
//! `Origin` header; a preflight is an `OPTIONS` request with both `Origin` and
//! `Access-Control-Request-Method`. Allowed origins are exact, `*`, or `https://*` /
//! `http://*`. Assumed where the documentation is silent: a preflight from an origin that is
//! not allowed is answered `204` without CORS headers (the browser then refuses the call), and
//! the gateway's own answers (404, 429, 413) get the headers like the functions' do.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use crate::template::Cors;

/// The CORS behaviour of one API.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    config: Cors,
}

impl CorsPolicy {
    pub fn new(config: Cors) -> Self {
        Self { config }
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    pub fn allow_origin(&self, origin: &str) -> Option<String> {
        let origin = origin.trim();
        if origin.is_empty() {
            return None;
        }
        let lower = origin.to_ascii_lowercase();
        self.config.allow_origins.iter().find_map(|allowed| {
            let allowed = allowed.trim().to_ascii_lowercase();
            if allowed == "*" {
                Some("*".to_string())
            } else if let Some(scheme) = allowed.strip_suffix("://*") {
                lower
                    .strip_prefix(scheme)
                    .is_some_and(|rest| rest.starts_with("://") && rest.len() > 3)
                    .then(|| origin.to_string())
            } else {
                (allowed == lower).then(|| origin.to_string())
            }
        })
    }

    /// Whether this request is a CORS preflight (which the gateway answers itself).
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The gateway's answer to a preflight: `204`, with the CORS headers only for an allowed
    /// origin.
    pub fn preflight(&self, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::NO_CONTENT;
        let Some(allowed) = origin(headers).and_then(|o| self.allow_origin(o)) else {
            return res;
        };
        let h = res.headers_mut();
        put(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &allowed);
        put_list(
            h,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            &self.config.allow_methods,
        );
        put_list(
            h,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            &self.config.allow_headers,
        );
        if let Some(age) = self.config.max_age {
            put(h, header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
        }
        if self.config.allow_credentials {
            put(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        res
    }

    /// Replaces whatever CORS headers `res` carries with the configured ones for the request's
    /// `Origin` (none when the origin is missing or not allowed).
    pub fn apply(&self, request_origin: Option<&str>, res: &mut Response<Full<Bytes>>) {
        let h = res.headers_mut();
        let theirs: Vec<HeaderName> = h
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for k in theirs {
            h.remove(k);
        }
        let Some(allowed) = request_origin.and_then(|o| self.allow_origin(o)) else {
            return;
        };
        put(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &allowed);
        put_list(
            h,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &self.config.expose_headers,
        );
        if self.config.allow_credentials {
            put(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
    }
}

/// The request's `Origin`, if it is readable.
pub fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

fn put(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn put_list(h: &mut HeaderMap, name: HeaderName, values: &[String]) {
    if !values.is_empty() {
        put(h, name, &values.join(","));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str]) -> CorsPolicy {
        CorsPolicy::new(Cors {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into(), "content-type".into()],
            expose_headers: vec!["x-request-id".into(), "retry-after".into()],
            allow_credentials: false,
            max_age: Some(600),
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn origins_match_exactly_or_by_scheme_wildcard() {
        let p = policy(&["https://app.example.org", "http://localhost:5173"]);
        assert_eq!(
            p.allow_origin("https://app.example.org").as_deref(),
            Some("https://app.example.org")
        );
        assert_eq!(
            p.allow_origin("HTTPS://App.Example.org").as_deref(),
            Some("HTTPS://App.Example.org")
        );
        assert!(p.allow_origin("http://localhost:5173").is_some());
        for refused in [
            "https://app.example.org.evil.test",
            "http://app.example.org",
            "http://localhost:5174",
            "https://evil.test",
            "null",
            "",
        ] {
            assert_eq!(p.allow_origin(refused), None, "{refused}");
        }
        let https = policy(&["https://*"]);
        assert!(https.allow_origin("https://anything.test").is_some());
        assert!(https.allow_origin("http://anything.test").is_none());
        assert!(https.allow_origin("https://").is_none());
        assert_eq!(
            policy(&["*"]).allow_origin("http://x.test").as_deref(),
            Some("*")
        );
    }

    #[test]
    fn preflights_are_answered_with_the_configuration_for_allowed_origins_only() {
        let p = policy(&["https://app.example.org"]);
        let req = headers(&[
            ("origin", "https://app.example.org"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(CorsPolicy::is_preflight(&Method::OPTIONS, &req));
        assert!(!CorsPolicy::is_preflight(&Method::GET, &req));
        assert!(!CorsPolicy::is_preflight(
            &Method::OPTIONS,
            &headers(&[("origin", "https://app.example.org")])
        ));
        let res = p.preflight(&req);
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.example.org");
        assert_eq!(h["access-control-allow-methods"], "GET,POST");
        assert_eq!(
            h["access-control-allow-headers"],
            "authorization,content-type"
        );
        assert_eq!(h["access-control-max-age"], "600");
        assert!(!h.contains_key("access-control-allow-credentials"));

        let res = p.preflight(&headers(&[
            ("origin", "https://evil.test"),
            ("access-control-request-method", "POST"),
        ]));
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(
            !res.headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-"))
        );
    }

    #[test]
    fn responses_get_the_configured_headers_and_lose_the_functions_own() {
        let p = policy(&["https://app.example.org"]);
        let mut res = Response::new(Full::new(Bytes::new()));
        res.headers_mut()
            .insert("access-control-allow-origin", HeaderValue::from_static("*"));
        res.headers_mut()
            .insert("x-request-id", HeaderValue::from_static("r-1"));
        p.apply(Some("https://app.example.org"), &mut res);
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.example.org");
        assert_eq!(
            h["access-control-expose-headers"],
            "x-request-id,retry-after"
        );
        assert_eq!(h["x-request-id"], "r-1");

        for origin in [Some("https://evil.test"), None] {
            let mut res = Response::new(Full::new(Bytes::new()));
            res.headers_mut()
                .insert("access-control-allow-origin", HeaderValue::from_static("*"));
            p.apply(origin, &mut res);
            assert!(
                !res.headers()
                    .keys()
                    .any(|k| k.as_str().starts_with("access-control-")),
                "{origin:?}"
            );
        }
    }
}
