//! Logging in (`POST /api/auth/login`): any case of the email, one 401 for an unknown email
//! and a wrong password, the limits per client IP and per account (which hold with the cache
//! down too), and logins that hold when DynamoDB throttles and fails. What a login costs in
//! DynamoDB calls and round trips: tests/alone/login_cost.rs.

use rota_tests::*;

#[tokio::test]
async fn login_with_any_case_of_the_email_returns_it_as_registered() {
    let (api, account) = Api::signed_up().await;
    let reply = api
        .login(&account.email.to_uppercase(), &account.password)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["user"]["email"], account.email);
    assert_eq!(body["user"]["id"], account.id);
    let me = api
        .get("/api/users/me", body["access_token"].as_str())
        .await;
    assert_eq!(me.status, 200);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let (api, account) = Api::signed_up().await;
    let wrong = api.login(&account.email, "not-the-password").await;
    let unknown = api.login(&unique_email(), "not-the-password").await;
    let (mut a, mut b) = (wrong.problem(401), unknown.problem(401));
    a.as_object_mut().unwrap().remove("request_id");
    b.as_object_mut().unwrap().remove("request_id");
    assert_eq!(a, b);
}

#[tokio::test]
async fn logins_are_limited_per_client_ip() {
    let api = Api::new();
    let mut last = None;
    for _ in 0..30 {
        // A new email each time, so only the per-IP limit is in play.
        let reply = api.login(&unique_email(), "wrong-password").await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        last = Some(reply);
    }
    assert_eq!(last.unwrap().header("ratelimit-remaining"), Some("0"));
    let limited = api.login(&unique_email(), "wrong-password").await;
    limited.problem(429);
    assert!(limited.retry_after() >= 1);
    assert_eq!(limited.header("ratelimit-limit"), Some("30"));
    // A different client is not affected.
    assert_eq!(
        Api::new()
            .login(&unique_email(), "wrong-password")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn login_attempts_are_limited_per_account_and_client_ip_and_a_success_clears_them() {
    let account = Api::new().new_account().await;
    let device = Api::new();
    for _ in 0..9 {
        assert_eq!(
            device.login(&account.email, "wrong-password").await.status,
            401
        );
    }
    // The 10th attempt is the right one: it passes and clears this device's count.
    let ok = device.login(&account.email, &account.password).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    for _ in 0..10 {
        assert_eq!(
            device.login(&account.email, "wrong-password").await.status,
            401
        );
    }
    // Now this device waits, even with the right password...
    let locked = device.login(&account.email, &account.password).await;
    locked.problem(429);
    assert!(locked.header("retry-after").is_some());
    // ...but not the account's owner elsewhere, nor another account.
    assert_eq!(
        Api::new()
            .login(&account.email, &account.password)
            .await
            .status,
        200
    );
    let other = Api::new().new_account().await;
    assert_eq!(
        device.login(&other.email, &other.password).await.status,
        200
    );
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::auth;
    use serde_json::json;

    #[tokio::test]
    async fn the_login_sample_logs_in_and_carries_rate_limit_headers() {
        let app = app().await;
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
    async fn login_limits_still_hold_when_the_cache_is_down() {
        let mut app = app_with_redis(Some("redis://127.0.0.1:1".into())).await;
        app.set_config(|c| c.login_ip_limit = rota_api::config::Limit::new(2, 60));
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
    async fn logins_hold_when_dynamodb_throttles_and_fails() {
        // The profile read and the session put go out together, each retried on its own: a
        // throttle or a 5xx on either never turns a right password into an error or a refresh
        // token that does not work.
        let (server, db, _dir) = faulted_emulator(
            "    seed: 13\n    dynamodb:\n      throttle: {\"*\": 0.1}\n      internal_error: {\"*\": 0.05}\n",
        )
        .await;
        let app = TestApp::with_parts(config(), db);
        let (email, registration) = registered(&app).await;
        for _ in 0..12 {
            let event = with_body(
                sample_event("auth-login"),
                &json!({"email": email, "password": "correct horse battery"}),
            );
            let login = call(&app, &auth::Login, &event).await;
            assert_eq!(login.status, 200, "{}", login.text);
            assert_eq!(login.json()["user"], registration["user"]);
            let refresh = login.json()["refresh_token"].clone();
            let event = with_body(
                sample_event("auth-refresh"),
                &json!({ "refresh_token": refresh }),
            );
            let refreshed = call(&app, &auth::Refresh, &event).await;
            assert_eq!(refreshed.status, 200, "{}", refreshed.text);
        }
        let counts = emulator_counts(&server).await;
        let injected = count_of(&counts["injected"], "throttle")
            + count_of(&counts["injected"], "internal_error");
        assert!(injected > 0, "{counts}");
    }
}
