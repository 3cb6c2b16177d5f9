//! Retrying register and refresh after a lost answer (issue 21): with the same
//! `Idempotency-Key` a retry gets the first answer back (a working token pair), never a 409 or
//! a revoked family; without the key, or with another one, a rotated token is still re-use.

use rota_tests::*;
use serde_json::{Value, json};

fn registration(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password, "display_name": "Deniz"})
}

async fn refresh(api: &Api, token: &str, key: Option<&str>) -> HttpReply {
    match key {
        Some(key) => {
            let body = json!({"refresh_token": token});
            api.post_idempotent("/api/auth/refresh", &body, None, key)
                .await
        }
        None => api.refresh(token).await,
    }
}

#[tokio::test]
async fn a_register_retried_with_its_key_gets_the_first_account_not_409() {
    let api = Api::new();
    let (email, key) = (unique_email(), unique("reg-"));
    let body = registration(&email, "correct horse battery");
    let first = api
        .post_idempotent("/api/auth/register", &body, None, &key)
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    // The answer was lost: the client sends the same request again.
    let again = api
        .post_idempotent("/api/auth/register", &body, None, &key)
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let (first, again) = (first.json(), again.json());
    assert_eq!(again["user"], first["user"]);
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    // Tokens that work: the access token reads the profile, the refresh token rotates.
    let me = api
        .get("/api/users/me", again["access_token"].as_str())
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["id"], first["user"]["id"]);
    refresh(&api, again["refresh_token"].as_str().unwrap(), None)
        .await
        .refresh_token();
    // Without the key the email is simply taken.
    api.post("/api/auth/register", &body, None)
        .await
        .problem(409);
}

#[tokio::test]
async fn a_register_key_reused_with_another_body_is_422() {
    let api = Api::new();
    let (email, key) = (unique_email(), unique("reg-"));
    let first = api
        .post_idempotent(
            "/api/auth/register",
            &registration(&email, "correct horse battery"),
            None,
            &key,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let other = api
        .post_idempotent(
            "/api/auth/register",
            &registration(&email, "another password"),
            None,
            &key,
        )
        .await
        .problem(422);
    assert_eq!(error_fields(&other), ["Idempotency-Key"]);
}

#[tokio::test]
async fn a_refresh_retried_with_its_key_gets_the_same_rotation_back() {
    let (api, account) = Api::signed_up().await;
    let key = unique("refresh-");
    let first = refresh(&api, &account.refresh_token, Some(&key)).await;
    let next = first.refresh_token();
    let again = refresh(&api, &account.refresh_token, Some(&key)).await;
    assert_eq!(again.refresh_token(), next);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let me = api
        .get("/api/users/me", again.json()["access_token"].as_str())
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    // The family lives on: the token handed out twice rotates normally.
    refresh(&api, &next, None).await.refresh_token();
}

#[tokio::test]
async fn a_rotated_token_without_its_key_or_with_another_still_revokes_the_family() {
    let api = Api::new();
    for second_key in [None, Some("another-key")] {
        let account = api.new_account().await;
        let key = unique("refresh-");
        let next = refresh(&api, &account.refresh_token, Some(&key))
            .await
            .refresh_token();
        refresh(&api, &account.refresh_token, second_key)
            .await
            .problem(401);
        // Re-use: the whole family is revoked, the newest token included.
        refresh(&api, &next, None).await.problem(401);
        refresh(&api, &account.refresh_token, Some(&key))
            .await
            .problem(401);
    }
}

/// An in-process refresh (the test secret) with `key`, on `app`.
async fn refresh_in_process(app: &TestApp, token: &str, key: Option<&str>) -> HttpReply {
    let mut event = with_body(
        sample_event("auth-refresh"),
        &json!({"refresh_token": token}),
    );
    if let Some(key) = key {
        event["headers"]["idempotency-key"] = Value::String(key.to_owned());
    }
    call(app, &rota_api::handlers::auth::Refresh, &event).await
}

#[tokio::test]
async fn a_keyed_refresh_retried_after_the_window_is_reuse() {
    let mut app = app().await;
    app.set_config(|c| c.refresh_replay_window = std::time::Duration::ZERO);
    let (_, body) = registered(&app).await;
    let first = body["refresh_token"].as_str().unwrap();
    let next = refresh_in_process(&app, first, Some("k1"))
        .await
        .refresh_token();
    refresh_in_process(&app, first, Some("k1"))
        .await
        .problem(401);
    refresh_in_process(&app, &next, None).await.problem(401);
}

/// The failure: the rotation commits while the profile read beside it stays slow past
/// the budget (503); the client retries with its key and gets the rotation, not a logout.
#[tokio::test]
async fn a_refresh_whose_profile_read_failed_after_the_rotation_succeeds_on_retry_with_its_key() {
    let (server, db, _dir) = faulted_emulator("    seed: 1\n").await;
    let mut config = rota_api::config::Config::from_lookup(|_| None).unwrap();
    config.redis_url = None;
    // One attempt per call: the held read is not retried within the request.
    config.db_retry_budget = std::time::Duration::from_millis(500);
    config.db_attempt_timeout = std::time::Duration::from_millis(500);
    let app = TestApp::with_parts(config, db);
    let (_, body) = registered(&app).await;
    let first = body["refresh_token"].as_str().unwrap();
    let id = body["user"]["id"].as_i64().unwrap();
    hold_next_call(&server.endpoint, "GetItem", &format!("\"USER#{id}\""), 1000).await;
    let lost = refresh_in_process(&app, first, Some("k1")).await;
    lost.problem(503);
    assert_eq!(hold_report(&server.endpoint).await["held"], 1);
    let retried = refresh_in_process(&app, first, Some("k1")).await;
    let next = retried.refresh_token();
    assert_eq!(retried.json()["user"]["id"], id);
    refresh_in_process(&app, &next, None).await.refresh_token();
}
