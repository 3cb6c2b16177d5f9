//! Access tokens: missing, tampered, not valid yet, expired and unsigned ones are refused.

use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn me_needs_a_valid_access_token() {
    let (api, account) = Api::signed_up().await;
    api.get("/api/users/me", None).await.problem(401);
    let mut tampered = account.access_token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    api.get("/api/users/me", Some(&tampered)).await.problem(401);
    api.get("/api/users/me", Some("not.a.jwt"))
        .await
        .problem(401);
    let basic = api.send("GET", "/api/users/me", None).await;
    basic.problem(401);
}

#[tokio::test]
async fn a_properly_signed_token_not_valid_yet_is_refused() {
    let (api, account) = Api::signed_up().await;
    let now = chrono::Utc::now().timestamp();
    let scope = stack_token_scope();
    let claims = |nbf: i64| {
        json!({"sub": account.id.to_string(), "role": "member", "iat": now, "exp": now + 900,
            "iss": scope.issuer, "aud": scope.audience, "nbf": nbf})
    };
    // Signed with the stack's key: with nbf = now it is accepted, so only nbf decides below.
    let valid = stack_signed_jwt(&claims(now)).await;
    assert_eq!(api.get("/api/users/me", Some(&valid)).await.status, 200);
    let later = stack_signed_jwt(&claims(now + 600)).await;
    api.get("/api/users/me", Some(&later)).await.problem(401);
}

#[tokio::test]
async fn expired_and_unsigned_tokens_are_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (api, account) = Api::signed_up().await;
    let keys = stack_token_keys().await;
    let caller = rota_api::auth::tokens::Caller {
        user_id: account.id,
        role: rota_domain::input::Role::Member,
    };
    let now = chrono::Utc::now().timestamp();

    let valid = keys.issue_access(caller, now, 900).unwrap();
    assert_eq!(
        api.get("/api/users/me", Some(&valid)).await.status,
        200,
        "the stack's key signs valid tokens"
    );
    let expired = keys.issue_access(caller, now - 3600, 900).unwrap();
    api.get("/api/users/me", Some(&expired)).await.problem(401);

    let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = b64.encode(
        json!({"sub": account.id.to_string(), "role": "admin", "iat": now, "exp": now + 900,
            "iss": stack_token_scope().issuer, "aud": stack_token_scope().audience})
        .to_string(),
    );
    api.get("/api/users/me", Some(&format!("{header}.{claims}.")))
        .await
        .problem(401);
}
