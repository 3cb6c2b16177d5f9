//! The signed-in user (`/api/users/me`): reading and updating settings, invalid settings
//! listed field by field, display names kept exactly.

use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn me_can_be_updated_and_invalid_settings_are_listed() {
    let api = Api::new();
    let account = api.new_account().await;
    let token = Some(account.access_token.as_str());
    let reply = api
        .patch(
            "/api/users/me",
            &json!({"reminder_enabled": false, "reminder_hour": 7, "timezone": "America/New_York"}),
            token,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let me = reply.json();
    assert_eq!(me["reminder_enabled"], false);
    assert_eq!(me["reminder_hour"], 7);
    assert_eq!(me["timezone"], "America/New_York");
    assert_eq!(me["email"], account.email);

    let bad = api
        .patch("/api/users/me", &json!({"reminder_hour": 24, "timezone": "Mars/Base", "display_name": "a\u{1}b", "reminder_enabled": "yes"}), token)
        .await
        .problem(422);
    let mut fields = error_fields(&bad);
    fields.sort();
    assert_eq!(
        fields,
        [
            "display_name",
            "reminder_enabled",
            "reminder_hour",
            "timezone"
        ]
    );
    // Nothing of a rejected patch was applied.
    assert_eq!(
        api.get("/api/users/me", token).await.json()["reminder_hour"],
        7
    );
}

#[tokio::test]
async fn unicode_display_names_round_trip_exactly() {
    let api = Api::new();
    let name = "Zeynep 🌍 مرحبا e\u{301} 日本";
    let email = unique_email();
    let reply = api.register(&email, "password-123", name).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["user"]["display_name"], name);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get("/api/users/me", Some(&token)).await.json()["display_name"],
        name
    );
    let login = api.login(&email, "password-123").await;
    assert_eq!(login.json()["user"]["display_name"], name);
}

/// Handlers called in this process, against the stack's emulator and Redis.
mod in_process {
    use super::*;
    use rota_api::handlers::users;

    #[tokio::test]
    async fn the_me_samples_read_and_update_the_profile() {
        let app = app().await;
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
}
