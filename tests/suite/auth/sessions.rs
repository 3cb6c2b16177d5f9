//! Sessions: refresh tokens rotate (`POST /api/auth/refresh`), a reused one revokes its whole
//! family, and logging out (`POST /api/auth/logout`) ends one.

use futures::future::join_all;
use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() {
    let (api, account) = Api::signed_up().await;
    let first = api.refresh(&account.refresh_token).await;
    let next = first.refresh_token();
    assert_ne!(next, account.refresh_token);
    assert_eq!(first.json()["user"]["id"], account.id);
    let again = api.refresh(&next).await;
    assert_eq!(again.status, 200, "{}", again.text);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family() {
    let (api, account) = Api::signed_up().await;
    let current = api.refresh(&account.refresh_token).await.refresh_token();

    api.refresh(&account.refresh_token).await.problem(401);
    // The thief's re-use also kills the legitimate holder's newer token.
    api.refresh(&current).await.problem(401);
    // Other sessions of the same user are untouched.
    let other = api.login(&account.email, &account.password).await;
    let other_refresh = other.refresh_token();
    assert_eq!(api.refresh(&other_refresh).await.status, 200);
}

#[tokio::test]
async fn two_concurrent_uses_of_one_refresh_token_succeed_at_most_once() {
    let (api, account) = Api::signed_up().await;
    let replies = join_all((0..4).map(|_| api.refresh(&account.refresh_token))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert!(ok <= 1, "{ok} concurrent refreshes succeeded");
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 401));
}

#[tokio::test]
async fn garbage_refresh_tokens_are_401_and_missing_ones_422() {
    let api = Api::new();
    api.refresh("garbage").await.problem(401);
    let missing = api
        .post("/api/auth/refresh", &json!({}), None)
        .await
        .problem(422);
    assert_eq!(missing["errors"][0]["field"], "refresh_token");
}

#[tokio::test]
async fn logging_out_stops_the_refresh_token_and_is_idempotent() {
    let (api, account) = Api::signed_up().await;
    let out = api.logout(&account.refresh_token).await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert!(out.text.is_empty());
    api.refresh(&account.refresh_token).await.problem(401);
    assert_eq!(api.logout(&account.refresh_token).await.status, 204);
    api.logout("not-ours").await.problem(401);
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::auth;

    /// The `name` sample (auth-refresh, auth-logout) through `handler`, with `refresh_token`.
    async fn with_refresh_token<H: rota_api::Handler>(
        app: &TestApp,
        handler: &H,
        name: &str,
        refresh_token: &str,
    ) -> HttpReply
    where
        TestApp: AppFor<H::State>,
    {
        let body = json!({"refresh_token": refresh_token});
        call(app, handler, &with_body(sample_event(name), &body)).await
    }

    #[tokio::test]
    async fn the_refresh_and_logout_samples_rotate_and_revoke() {
        let app = app().await;
        let (_, body) = registered(&app).await;
        let refresh = body["refresh_token"].as_str().unwrap();
        let rotated = with_refresh_token(&app, &auth::Refresh, "auth-refresh", refresh).await;
        let next = rotated.refresh_token();
        let out = with_refresh_token(&app, &auth::Logout, "auth-logout", &next).await;
        assert_eq!(out.status, 204);
        with_refresh_token(&app, &auth::Refresh, "auth-refresh", &next)
            .await
            .problem(401);
    }
}
