//! Sessions: refresh tokens rotate (`POST /api/auth/refresh`), a reused one revokes its whole
//! family, and logging out (`POST /api/auth/logout`) ends one.

use futures::future::join_all;
use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() {
    let api = Api::new();
    let account = api.new_account().await;
    let first = api
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": account.refresh_token}),
            None,
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let body = first.json();
    let next = body["refresh_token"].as_str().unwrap();
    assert_ne!(next, account.refresh_token);
    assert_eq!(body["user"]["id"], account.id);
    let again = api
        .post("/api/auth/refresh", &json!({"refresh_token": next}), None)
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family() {
    let api = Api::new();
    let account = api.new_account().await;
    let rotated = api
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": account.refresh_token}),
            None,
        )
        .await;
    let current = rotated.json()["refresh_token"].as_str().unwrap().to_owned();

    let reuse = api
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": account.refresh_token}),
            None,
        )
        .await;
    reuse.problem(401);
    // The thief's re-use also kills the legitimate holder's newer token.
    let after = api
        .post(
            "/api/auth/refresh",
            &json!({"refresh_token": current}),
            None,
        )
        .await;
    after.problem(401);
    // Other sessions of the same user are untouched.
    let other = api.login(&account.email, &account.password).await;
    let other_refresh = other.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.post(
            "/api/auth/refresh",
            &json!({"refresh_token": other_refresh}),
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn two_concurrent_uses_of_one_refresh_token_succeed_at_most_once() {
    let api = Api::new();
    let account = api.new_account().await;
    let body = json!({"refresh_token": account.refresh_token});
    let replies = join_all((0..4).map(|_| api.post("/api/auth/refresh", &body, None))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert!(ok <= 1, "{ok} concurrent refreshes succeeded");
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 401));
}

#[tokio::test]
async fn garbage_refresh_tokens_are_401_and_missing_ones_422() {
    let api = Api::new();
    api.post(
        "/api/auth/refresh",
        &json!({"refresh_token": "garbage"}),
        None,
    )
    .await
    .problem(401);
    let missing = api
        .post("/api/auth/refresh", &json!({}), None)
        .await
        .problem(422);
    assert_eq!(missing["errors"][0]["field"], "refresh_token");
}

#[tokio::test]
async fn logging_out_stops_the_refresh_token_and_is_idempotent() {
    let api = Api::new();
    let account = api.new_account().await;
    let body = json!({"refresh_token": account.refresh_token});
    let out = api.post("/api/auth/logout", &body, None).await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert!(out.text.is_empty());
    api.post("/api/auth/refresh", &body, None)
        .await
        .problem(401);
    assert_eq!(api.post("/api/auth/logout", &body, None).await.status, 204);
    api.post(
        "/api/auth/logout",
        &json!({"refresh_token": "not-ours"}),
        None,
    )
    .await
    .problem(401);
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::auth;

    #[tokio::test]
    async fn the_refresh_and_logout_samples_rotate_and_revoke() {
        let app = app().await;
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
}
