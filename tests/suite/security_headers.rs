//! Security headers on every response of ours, errors and our own 429s included, through the
//! gateway and in process.

use rota_tests::*;

#[tokio::test]
async fn responses_through_the_gateway_carry_the_security_headers() {
    let api = Api::new();
    assert_security_headers(&api.get("/health/live", None).await, "no-store");
    let doc = api.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_security_headers(&doc, "public, max-age=300");
    let missing = api.get("/api/nope", None).await;
    missing.problem(404);
    assert_security_headers(&missing, "no-store");
    let wrong_method = api.send("PUT", "/api/users/me", None).await;
    wrong_method.problem(404);
    assert_security_headers(&wrong_method, "no-store");
    let me = api.get("/api/users/me", None).await;
    me.problem(401);
    assert_security_headers(&me, "no-store");
    let account = api.new_account().await;
    let me = api.get("/api/users/me", account.token()).await;
    assert_eq!(me.status, 200);
    assert_security_headers(&me, "no-store");
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
        assert_eq!(live.status, 200, "{}", live.text);
        assert_security_headers(&live, "no-store");

        // A handler's own caching is kept (the OpenAPI document is cacheable).
        let doc = call(&app, &ops::OpenApi, &sample_event("openapi")).await;
        assert_eq!(doc.status, 200);
        assert_security_headers(&doc, "public, max-age=300");

        // The $default route's 404.
        let missing = call(&app, &ops::NotFound, &sample_event("not-found")).await;
        missing.problem(404);
        assert_security_headers(&missing, "no-store");

        // 401 without a token, 422, 401 bad credentials, 413, and a list that succeeds.
        let me = call(&app, &users::GetMe, &sample_event("users-me-get")).await;
        me.problem(401);
        assert_security_headers(&me, "no-store");
        let invalid = call(
            &app,
            &auth::Register,
            &with_body(sample_event("auth-register"), &json!({"email": "x"})),
        )
        .await;
        invalid.problem(422);
        assert_security_headers(&invalid, "no-store");
        let login = call(
            &app,
            &auth::Login,
            &with_body(
                sample_event("auth-login"),
                &json!({"email": unique_email(), "password": "wrong-password"}),
            ),
        )
        .await;
        login.problem(401);
        assert_security_headers(&login, "no-store");
        let big = call(
            &app,
            &auth::Login,
            &with_body(
                sample_event("auth-login"),
                &json!({"email": "x".repeat(70 * 1024)}),
            ),
        )
        .await;
        big.problem(413);
        assert_security_headers(&big, "no-store");
        let posts = call(
            &app,
            &posts::ListPosts,
            &sample_event("community-posts-list"),
        )
        .await;
        assert_eq!(posts.status, 200, "{}", posts.text);
        assert_security_headers(&posts, "no-store");
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
        limited.problem(429);
        assert!(limited.header("retry-after").is_some());
        assert_security_headers(&limited, "no-store");
    }
}
