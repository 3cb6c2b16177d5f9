//! CORS is explicit: named origins (plain http for local development only), the headers the
//! app sends and reads, no credentials.

use rota_local::template::Template;

use super::*;

#[test]
fn cors_is_explicit() {
    let t = Template::parse(&template_text()).unwrap();
    let cors = t.http_api.cors.expect("CorsConfiguration");
    assert!(!cors.allow_origins.is_empty());
    for o in &cors.allow_origins {
        assert!(
            !o.contains('*') && (o.starts_with("https://") || o.starts_with("http://")),
            "{o}"
        );
        // Only local development may use plain http.
        assert!(
            o.starts_with("https://")
                || o.starts_with("http://localhost:")
                || o.starts_with("http://127.0.0.1:"),
            "{o}"
        );
    }
    for h in [
        "authorization",
        "content-type",
        "x-request-id",
        "idempotency-key",
    ] {
        assert!(cors.allow_headers.iter().any(|x| x == h), "allow {h}");
    }
    for h in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "retry-after",
        "x-request-id",
    ] {
        assert!(cors.expose_headers.iter().any(|x| x == h), "expose {h}");
    }
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(cors.allow_methods.iter().any(|x| x == m), "method {m}");
    }
    assert!(cors.max_age.is_some());
    assert!(!cors.allow_credentials, "bearer tokens, no cookies");
}
