//! The signed-in user (`/api/users/me`): reading and updating settings, invalid settings
//! listed field by field, display names kept exactly.

use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn me_can_be_updated_and_invalid_settings_are_listed() {
    let (api, account) = Api::signed_up().await;
    let token = account.token();
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
        let (_, token) = member(&app).await;
        let me = call_as(&app, &users::GetMe, "users-me-get", &token).await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json()["reminder_hour"], 9);
        assert_eq!(me.json()["timezone"], "UTC");

        let patched = call_as(&app, &users::PatchMe, "users-me-patch", &token).await;
        assert_eq!(patched.status, 200, "{}", patched.text);
        let again = call_as(&app, &users::GetMe, "users-me-get", &token).await;
        let again = again.json();
        assert_eq!(again["display_name"], "Zeynep");
        assert_eq!(again["reminder_hour"], 20);
        assert_eq!(again["timezone"], "Europe/Istanbul");
    }
}

/// PATCH /api/users/me is one write, conditional on the version read: the reminder index
/// keys (on the profile itself) always follow the settings they were computed from.
mod one_write {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    async fn profile(
        app: &TestApp,
        user: i64,
    ) -> std::collections::HashMap<String, AttributeValue> {
        let pk = format!("USER#{user}");
        item_at(app.db(), app.table(), &pk, "PROFILE")
            .await
            .unwrap()
    }

    /// The reminder keys agree with the settings: indexed exactly while reminders are on, at
    /// an hour that is the reminder hour in the user's time zone.
    fn assert_index_follows_settings(item: &std::collections::HashMap<String, AttributeValue>) {
        let enabled = *item["reminder_enabled"].as_bool().unwrap();
        assert_eq!(item.contains_key("reminder_bucket"), enabled, "{item:?}");
        if enabled {
            let due: i64 = item["reminder_due_hour"].as_n().unwrap().parse().unwrap();
            let hour: u32 = item["reminder_hour"].as_n().unwrap().parse().unwrap();
            let tz: chrono_tz::Tz = item["timezone"].as_s().unwrap().parse().unwrap();
            let local = chrono::DateTime::from_timestamp(due * 60, 0)
                .unwrap()
                .with_timezone(&tz);
            assert_eq!(chrono::Timelike::hour(&local), hour, "{item:?}");
        }
    }

    #[tokio::test]
    async fn a_failure_after_the_settings_cannot_leave_the_reminder_index_behind() {
        let (mut app, tamper) = tampered_app().await;
        let (user, token) = member(&app).await;
        app.set_config(deployed_budget);
        // Every profile write after the first never reaches DynamoDB.
        tamper.refuse(&["UpdateItem"], "PROFILE", 1, usize::MAX);
        let reply = patch_me(&app, &token, &json!({"reminder_enabled": false})).await;
        tamper.clear();
        let item = profile(&app, user).await;
        assert_index_follows_settings(&item);
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    #[tokio::test]
    async fn concurrent_updates_end_with_the_index_matching_the_profile() {
        let app = app().await;
        let (user, token) = member(&app).await;
        for round in 0..6u32 {
            let a = json!({"reminder_hour": round, "timezone": "Asia/Tokyo"});
            let b = json!({"reminder_hour": 12 + round, "timezone": "America/New_York"});
            let (ra, rb) = tokio::join!(
                Box::pin(patch_me(&app, &token, &a)),
                Box::pin(patch_me(&app, &token, &b))
            );
            assert_eq!(
                (ra.status, rb.status),
                (200, 200),
                "{} {}",
                ra.text,
                rb.text
            );
            assert_index_follows_settings(&profile(&app, user).await);
        }
    }

    #[tokio::test]
    async fn a_late_attempt_of_an_older_update_cannot_undo_a_newer_one() {
        let (app, tamper) = tampered_app().await;
        let (user, token) = member(&app).await;
        let older = patch_me(&app, &token, &json!({"display_name": "Eski Ad"})).await;
        assert_eq!(older.status, 200, "{}", older.text);
        let older = tamper
            .sent(&["UpdateItem"], "Eski Ad")
            .pop()
            .expect("the update");
        let newer = patch_me(&app, &token, &json!({"display_name": "Yeni Ad"})).await;
        assert_eq!(newer.status, 200, "{}", newer.text);
        let (status, text) = older.replay().await;
        let item = profile(&app, user).await;
        assert_eq!(
            item["display_name"].as_s().unwrap(),
            "Yeni Ad",
            "the late attempt ({status} {text}) undid the newer update"
        );
    }
}

/// Registers with `accept_language` (none when `None`) and answers the new account's locale.
async fn locale_registered_with(api: &Api, accept_language: Option<&str>) -> String {
    let body = json!({"email": unique_email(), "password": "password-123", "display_name": "Ada"});
    let headers: Vec<(&str, &str)> = accept_language
        .map(|v| ("accept-language", v))
        .into_iter()
        .collect();
    let reply = api
        .send_with(
            "POST",
            "/api/auth/register",
            None,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
            &headers,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let me = api.get("/api/users/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    me.json()["locale"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_new_account_speaks_the_language_its_accept_language_prefers() {
    let api = Api::new();
    for (header, expected) in [
        (Some("tr-TR,tr;q=0.9,en;q=0.8"), "tr"),
        (Some("en-US"), "en"),
        (None, "en"),
        (Some("de"), "en"),
        // q-values, not the order, decide; q=0 refuses a language.
        (Some("en;q=0.4, de, tr;q=0.7"), "tr"),
        (Some("tr;q=0, en;q=0.2"), "en"),
    ] {
        assert_eq!(
            locale_registered_with(&api, header).await,
            expected,
            "Accept-Language: {header:?}"
        );
    }
}

#[tokio::test]
async fn the_locale_can_be_changed_to_tr_or_en_only() {
    let (api, account) = Api::signed_up().await;
    let token = account.token();
    assert_eq!(api.get("/api/users/me", token).await.json()["locale"], "en");
    let reply = api
        .patch("/api/users/me", &json!({"locale": "tr"}), token)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["locale"], "tr");
    assert_eq!(api.get("/api/users/me", token).await.json()["locale"], "tr");
    for bad in [json!("de"), json!("TR"), json!("tr-TR"), json!(1)] {
        let problem = api
            .patch("/api/users/me", &json!({"locale": bad}), token)
            .await
            .problem(422);
        assert_eq!(error_fields(&problem), ["locale"], "{bad}");
    }
    // Other settings leave it as it is.
    let reply = api
        .patch("/api/users/me", &json!({"reminder_hour": 8}), token)
        .await;
    assert_eq!(reply.json()["locale"], "tr");
}
