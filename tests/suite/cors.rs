//! CORS end to end through the local gateway, which takes it from template.yaml
//! (`CorsConfiguration`, origins from the `AllowedOrigins` parameter's default, which includes
//! the web app's dev server http://localhost:5173): preflights are answered by the gateway,
//! allowed origins get the headers on every answer (errors too, so the app can read them), and
//! other origins get none.

use rota_tests::*;

const APP_DEV: &str = "http://localhost:5173";
const OTHER: &str = "https://evil.example";

/// A plain client from a client IP of its own, and the gateway's URL.
fn client() -> (reqwest::Client, &'static str) {
    (Api::new().raw().clone(), base_url())
}

/// `GET {path}` from `origin` (`None`: without an Origin header).
async fn get_from(path: &str, origin: Option<&str>) -> reqwest::Response {
    let (http, base) = client();
    let mut req = http.get(format!("{base}{path}"));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

/// A preflight of `POST /api/auth/login` from `origin`, asking for `headers` when given.
async fn preflight(origin: &str, headers: Option<&str>) -> reqwest::Response {
    let (http, base) = client();
    let mut req = http
        .request(reqwest::Method::OPTIONS, format!("{base}/api/auth/login"))
        .header("origin", origin)
        .header("access-control-request-method", "POST");
    if let Some(h) = headers {
        req = req.header("access-control-request-headers", h);
    }
    req.send().await.unwrap()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

fn list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect()
}

/// Asserts that the comma-separated header `name` of `res` lists each of `expected`.
fn assert_lists(res: &reqwest::Response, name: &str, expected: &[&str]) {
    let listed = list(header(res, name));
    for item in expected {
        assert!(listed.iter().any(|x| x == item), "{name}: {listed:?}");
    }
}

#[tokio::test]
async fn preflights_are_answered_by_the_gateway_for_allowed_origins() {
    // No OPTIONS route exists: the answer can only come from the gateway.
    let asked = "authorization,content-type,idempotency-key";
    let res = preflight(APP_DEV, Some(asked)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(APP_DEV));
    let methods = ["get", "post", "patch", "delete"];
    assert_lists(&res, "access-control-allow-methods", &methods);
    let headers = [
        "authorization",
        "content-type",
        "x-request-id",
        "idempotency-key",
    ];
    assert_lists(&res, "access-control-allow-headers", &headers);
    assert!(header(&res, "access-control-max-age").is_some());
    assert_eq!(header(&res, "access-control-allow-credentials"), None);

    let res = preflight(OTHER, None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn responses_carry_cors_headers_only_for_allowed_origins() {
    let res = get_from("/health/live", Some(APP_DEV)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(APP_DEV));
    let exposed = [
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ];
    assert_lists(&res, "access-control-expose-headers", &exposed);

    for origin in [Some(OTHER), None] {
        let res = get_from("/health/live", origin).await;
        assert_eq!(res.status(), 200);
        assert!(
            !res.headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{origin:?}: {:?}",
            res.headers()
        );
    }
}

#[tokio::test]
async fn errors_carry_them_too_so_the_app_can_read_the_problem() {
    let (http, base) = client();
    let res = http
        .post(format!("{base}/api/auth/login"))
        .header("origin", APP_DEV)
        .header("content-type", "application/json")
        .body(r#"{"email":"nobody@example.com","password":"wrong password"}"#)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(header(&res, "access-control-allow-origin"), Some(APP_DEV));
    // An unknown path is answered by the not-found function through $default.
    let res = get_from("/no/such/path", Some(APP_DEV)).await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(APP_DEV));
}
