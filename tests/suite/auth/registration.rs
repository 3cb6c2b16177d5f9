//! Registering (`POST /api/auth/register`): tokens and the user as registered, unique emails
//! (case-insensitively, under a race too), input checked field by field.

use futures::future::join_all;
use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn registering_returns_tokens_and_the_user_as_registered() {
    let api = Api::new();
    let email = format!("Mixed.Case.{}@Example.com", unique(""));
    let reply = api.register(&email, "correct horse battery", "Ada").await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().len() > 20);
    assert!(body["refresh_token"].as_str().unwrap().len() > 20);
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["role"], "member");
    assert!(body["user"]["id"].as_i64().unwrap() < (1i64 << 53));
    assert!(body["user"]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(reply.header("x-request-id").is_some());
    assert!(reply.header("ratelimit-limit").is_some());
}

#[tokio::test]
async fn emails_are_unique_case_insensitively() {
    let api = Api::new();
    let local = unique("dup-");
    assert_eq!(
        api.register(&format!("{local}@example.com"), "password-1", "A")
            .await
            .status,
        201
    );
    let again = api
        .register(
            &format!("{}@EXAMPLE.com", local.to_uppercase()),
            "password-2",
            "B",
        )
        .await;
    again.problem(409);
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_exactly_one_account() {
    let email = unique_email();
    let attempts = (0..12).map(|i| {
        let email = email.clone();
        async move {
            Api::new()
                .register(&email, &format!("password-{i}"), "Racer")
                .await
                .status
        }
    });
    let statuses = join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn registration_input_is_validated_field_by_field() {
    let api = Api::new();
    let body = api
        .post(
            "/api/auth/register",
            &json!({"email": "not-an-email", "password": "short", "display_name": "   "}),
            None,
        )
        .await
        .problem(422);
    let fields = error_fields(&body);
    assert_eq!(fields, ["email", "password", "display_name"]);
    let long = api
        .register(&unique_email(), &"x".repeat(129), "A")
        .await
        .problem(422);
    assert_eq!(long["errors"][0]["field"], "password");
    let typed = api
        .post(
            "/api/auth/register",
            &json!({"email": 5, "password": true, "display_name": []}),
            None,
        )
        .await
        .problem(422);
    assert_eq!(typed["errors"].as_array().unwrap().len(), 3);
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;

    #[tokio::test]
    async fn the_register_sample_creates_an_account() {
        let app = app().await;
        let (email, body) = registered(&app).await;
        assert_eq!(body["user"]["email"], email);
        assert_eq!(body["user"]["display_name"], "Zeynep Yılmaz");
        assert_eq!(body["user"]["role"], "member");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
    }
}
