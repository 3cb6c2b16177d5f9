//! Handler tests without a socket: the sample events in `events/` are parsed by lambda_http
//! exactly as in Lambda and handed to the handlers, which use the real emulator and Redis.

use rota_api::handlers::{auth, ops, users};
use rota_api::{Needs, app::Handler};
use rota_tests::*;
use serde_json::json;

const ALL: Needs = Needs {
    db: true,
    cache: true,
    tokens: true,
};

#[test]
fn every_sample_event_parses_as_an_http_api_request_of_its_route() {
    use lambda_http::RequestExt;
    let dir = repo_root().join("events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        if event.get("routeKey").is_none() {
            // Scheduled and SQS events: checked by the reminder tests.
            continue;
        }
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            req.method().as_str(),
            event["requestContext"]["http"]["method"],
            "{}",
            path.display()
        );
        assert_eq!(req.uri().path(), event["rawPath"], "{}", path.display());
        assert!(req.request_context_ref().is_some());
        assert_eq!(
            rota_api::http::source_ip(&req).as_deref(),
            Some("203.0.113.10")
        );
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} sample events");
}

#[test]
fn there_is_a_sample_event_for_every_function_in_the_template() {
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    for route in template.routes() {
        let path = repo_root()
            .join("events")
            .join(format!("{}.json", route.binary));
        assert!(path.exists(), "no sample event for {}", route.binary);
    }
}

async fn registered(app: &rota_api::App) -> (String, serde_json::Value) {
    let email = unique_email();
    let event = with_body(
        sample_event("auth-register"),
        &json!({"email": email, "password": "correct horse battery", "display_name": "Zeynep Yılmaz"}),
    );
    let reply = call(app, &auth::Register, &event).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    (email, reply.json())
}

#[tokio::test]
async fn the_register_sample_creates_an_account() {
    let app = app(auth::Register::NEEDS).await;
    let (email, body) = registered(&app).await;
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["display_name"], "Zeynep Yılmaz");
    assert_eq!(body["user"]["role"], "member");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
}

#[tokio::test]
async fn the_login_sample_logs_in_and_carries_rate_limit_headers() {
    let app = app(ALL).await;
    let (email, _) = registered(&app).await;
    let event = with_body(
        sample_event("auth-login"),
        &json!({"email": email, "password": "correct horse battery"}),
    );
    let reply = call(&app, &auth::Login, &event).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.header("ratelimit-limit").is_some());
    assert!(reply.header("ratelimit-remaining").is_some());
    assert!(reply.header("ratelimit-reset").is_some());
    assert_eq!(reply.header("x-request-id"), Some("sample-request-1"));
}

#[tokio::test]
async fn the_me_samples_read_and_update_the_profile() {
    let app = app(ALL).await;
    let (_, body) = registered(&app).await;
    let token = body["access_token"].as_str().unwrap();
    let me = call(
        &app,
        &users::GetMe,
        &with_token(sample_event("users-me-get"), token),
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["reminder_hour"], 9);
    assert_eq!(me.json()["timezone"], "UTC");

    let patched = call(
        &app,
        &users::PatchMe,
        &with_token(sample_event("users-me-patch"), token),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let again = call(
        &app,
        &users::GetMe,
        &with_token(sample_event("users-me-get"), token),
    )
    .await
    .json();
    assert_eq!(again["display_name"], "Zeynep");
    assert_eq!(again["reminder_hour"], 20);
    assert_eq!(again["timezone"], "Europe/Istanbul");
}

#[tokio::test]
async fn the_refresh_and_logout_samples_rotate_and_revoke() {
    let app = app(ALL).await;
    let (_, body) = registered(&app).await;
    let refresh = body["refresh_token"].as_str().unwrap();
    let rotated = call(
        &app,
        &auth::Refresh,
        &with_body(
            sample_event("auth-refresh"),
            &json!({"refresh_token": refresh}),
        ),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let next = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    let out = call(
        &app,
        &auth::Logout,
        &with_body(sample_event("auth-logout"), &json!({"refresh_token": next})),
    )
    .await;
    assert_eq!(out.status, 204);
    let after = call(
        &app,
        &auth::Refresh,
        &with_body(
            sample_event("auth-refresh"),
            &json!({"refresh_token": next}),
        ),
    )
    .await;
    after.problem(401);
}

#[tokio::test]
async fn readiness_is_ok_when_dynamodb_and_the_cache_answer() {
    let app = app(ops::HealthReady::NEEDS).await;
    let reply = call(&app, &ops::HealthReady, &sample_event("health-ready")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"status": "ok", "checks": {"dynamodb": "ok", "cache": "ok"}})
    );
}

#[tokio::test]
async fn readiness_names_the_cache_when_it_is_down() {
    // Nothing listens on port 1.
    let app = app_with_redis(ops::HealthReady::NEEDS, Some("redis://127.0.0.1:1".into())).await;
    let reply = call(&app, &ops::HealthReady, &sample_event("health-ready")).await;
    let body = reply.problem(503);
    assert_eq!(body["checks"], json!({"dynamodb": "ok", "cache": "error"}));
    assert!(body["detail"].as_str().unwrap().contains("cache"), "{body}");
}

#[tokio::test]
async fn login_limits_still_hold_when_the_cache_is_down() {
    let mut app = app_with_redis(ALL, Some("redis://127.0.0.1:1".into())).await;
    app.config.login_ip_limit = rota_api::config::Limit::new(2, 60);
    let event = with_body(
        sample_event("auth-login"),
        &json!({"email": unique_email(), "password": "whatever-it-is"}),
    );
    assert_eq!(call(&app, &auth::Login, &event).await.status, 401);
    assert_eq!(call(&app, &auth::Login, &event).await.status, 401);
    let third = call(&app, &auth::Login, &event).await;
    third.problem(429);
    assert!(third.header("retry-after").is_some());
}

#[tokio::test]
async fn the_liveness_openapi_and_default_route_samples_answer() {
    let app = app(Needs::NOTHING).await;
    assert_eq!(
        call(&app, &ops::HealthLive, &sample_event("health-live"))
            .await
            .status,
        200
    );
    let doc = call(&app, &ops::OpenApi, &sample_event("openapi")).await;
    assert_eq!(doc.status, 200);
    assert!(doc.json()["openapi"].as_str().unwrap().starts_with("3."));
    let missing = call(&app, &ops::NotFound, &sample_event("not-found")).await;
    let body = missing.problem(404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/nothing-here")
    );
}
