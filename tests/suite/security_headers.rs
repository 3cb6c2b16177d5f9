//! Security headers on every response of ours, errors and our own 429s included, through the
//! gateway and in process.

use rota_tests::*;

#[tokio::test]
async fn responses_through_the_gateway_carry_the_security_headers() {
    let (api, account) = Api::signed_up().await;
    for (method, path, token, status, cache_control) in [
        ("GET", "/health/live", None, 200, "no-store"),
        ("GET", "/openapi.json", None, 200, "public, max-age=300"),
        ("GET", "/api/nope", None, 404, "no-store"),
        ("PUT", "/api/users/me", None, 404, "no-store"),
        ("GET", "/api/users/me", None, 401, "no-store"),
        ("GET", "/api/users/me", account.token(), 200, "no-store"),
    ] {
        let reply = api.send(method, path, token).await;
        assert_answered_securely(&reply, status, cache_control);
    }
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::{auth, ops, posts, users};
    use serde_json::json;

    #[tokio::test]
    async fn every_handler_response_carries_the_security_headers_errors_included() {
        let app = app().await;

        let live = call(&app, &ops::HealthLive, &sample_event("health-live")).await;
        assert_answered_securely(&live, 200, "no-store");

        // A handler's own caching is kept (the OpenAPI document is cacheable).
        let doc = call(&app, &ops::OpenApi, &sample_event("openapi")).await;
        assert_answered_securely(&doc, 200, "public, max-age=300");

        // The $default route's 404.
        let missing = call(&app, &ops::NotFound, &sample_event("not-found")).await;
        assert_answered_securely(&missing, 404, "no-store");

        // 401 without a token, 422, 401 bad credentials, 413, and a list that succeeds.
        let me = call(&app, &users::GetMe, &sample_event("users-me-get")).await;
        assert_answered_securely(&me, 401, "no-store");
        let register = |body: serde_json::Value| with_body(sample_event("auth-register"), &body);
        let login = |body: serde_json::Value| with_body(sample_event("auth-login"), &body);
        let invalid = call(&app, &auth::Register, &register(json!({"email": "x"}))).await;
        assert_answered_securely(&invalid, 422, "no-store");
        let wrong = json!({"email": unique_email(), "password": "wrong-password"});
        let refused = call(&app, &auth::Login, &login(wrong)).await;
        assert_answered_securely(&refused, 401, "no-store");
        let too_big = json!({"email": "x".repeat(70 * 1024)});
        let big = call(&app, &auth::Login, &login(too_big)).await;
        assert_answered_securely(&big, 413, "no-store");
        let list = sample_event("community-posts-list");
        let posts = call(&app, &posts::ListPosts, &list).await;
        assert_answered_securely(&posts, 200, "no-store");
    }

    #[tokio::test]
    async fn our_own_429s_carry_the_security_headers() {
        let mut app = app().await;
        app.set_config(|c| c.login_ip_limit = rota_api::config::Limit::new(1, 60));
        let event = with_body(
            sample_event("auth-login"),
            &json!({"email": unique_email(), "password": "wrong-password"}),
        );
        assert_eq!(call(&app, &auth::Login, &event).await.status, 401);
        let limited = call(&app, &auth::Login, &event).await;
        assert_answered_securely(&limited, 429, "no-store");
        assert!(limited.header("retry-after").is_some());
    }
}
