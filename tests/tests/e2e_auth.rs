//! End to end through the local gateway (`rota-local`), over HTTP, against the real function
//! binaries: every Auth row of API.md and the error conventions.

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
async fn login_with_any_case_of_the_email_returns_it_as_registered() {
    let api = Api::new();
    let account = api.new_account().await;
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
    let api = Api::new();
    let account = api.new_account().await;
    let wrong = api.login(&account.email, "not-the-password").await;
    let unknown = api.login(&unique_email(), "not-the-password").await;
    let (mut a, mut b) = (wrong.problem(401), unknown.problem(401));
    a.as_object_mut().unwrap().remove("request_id");
    b.as_object_mut().unwrap().remove("request_id");
    assert_eq!(a, b);
}

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

#[tokio::test]
async fn me_needs_a_valid_access_token() {
    let api = Api::new();
    let account = api.new_account().await;
    api.get("/api/users/me", None).await.problem(401);
    let mut tampered = account.access_token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    api.get("/api/users/me", Some(&tampered)).await.problem(401);
    api.get("/api/users/me", Some("not.a.jwt"))
        .await
        .problem(401);
    let basic = api.send("GET", "/api/users/me", None, None, None).await;
    basic.problem(401);
}

#[tokio::test]
async fn a_properly_signed_token_not_valid_yet_is_refused() {
    let api = Api::new();
    let account = api.new_account().await;
    let now = chrono::Utc::now().timestamp();
    let claims = |nbf: i64| {
        json!({"sub": account.id.to_string(), "role": "member", "iat": now, "exp": now + 900,
            "iss": "rota", "aud": "rota-api", "nbf": nbf})
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
    let api = Api::new();
    let account = api.new_account().await;
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
        json!({"sub": account.id.to_string(), "role": "admin", "iat": now, "exp": now + 900, "iss": "rota", "aud": "rota-api"})
            .to_string(),
    );
    api.get("/api/users/me", Some(&format!("{header}.{claims}.")))
        .await
        .problem(401);
}

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
    let mut fields: Vec<_> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
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
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
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

#[tokio::test]
async fn malformed_json_is_400_wrong_content_type_415_and_big_bodies_413() {
    let api = Api::new();
    let path = "/api/auth/login";
    api.send(
        "POST",
        path,
        None,
        Some("application/json"),
        Some(b"{\"email\":".to_vec()),
    )
    .await
    .problem(400);
    api.send("POST", path, None, Some("text/plain"), Some(b"{}".to_vec()))
        .await
        .problem(415);
    api.send("POST", path, None, None, Some(b"{}".to_vec()))
        .await
        .problem(415);
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(70 * 1024));
    api.send(
        "POST",
        path,
        None,
        Some("application/json"),
        Some(big.into_bytes()),
    )
    .await
    .problem(413);
    api.send(
        "POST",
        path,
        None,
        Some("application/json"),
        Some(b"[1,2]".to_vec()),
    )
    .await
    .problem(422);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_a_problem_404() {
    let api = Api::new();
    api.get("/api/nope", None).await.problem(404);
    api.send("DELETE", "/api/auth/login", None, None, None)
        .await
        .problem(404);
    api.send("GET", "/api/auth/register", None, None, None)
        .await
        .problem(404);
}

#[tokio::test]
async fn request_ids_are_echoed_when_well_formed_and_generated_otherwise() {
    let api = Api::new();
    let http = reqwest::Client::builder()
        .local_address(api.ip)
        .build()
        .unwrap();
    let base = std::env::var("ROTA_BASE_URL").unwrap();
    let echoed = http
        .get(format!("{base}/health/live"))
        .header("x-request-id", "abc-123.x_y")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123.x_y");
    let replaced = http
        .get(format!("{base}/health/live"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    let id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "bad id!");
    assert!(!id.is_empty());
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
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
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

#[tokio::test]
async fn the_gateway_throttles_with_api_gateways_own_429() {
    // The $default route allows a burst of 100 (template.yaml); 400 requests at once exceed it.
    let base = std::env::var("ROTA_BASE_URL").unwrap();
    let http = reqwest::Client::new();
    let replies =
        join_all((0..400).map(|_| http.get(format!("{base}/throttle-probe")).send())).await;
    let mut throttled = 0;
    for reply in replies {
        let reply = reply.unwrap();
        if reply.status() == 429 {
            assert_eq!(
                reply.text().await.unwrap(),
                r#"{"message":"Too Many Requests"}"#
            );
            throttled += 1;
        } else {
            assert_eq!(reply.status(), 404);
        }
    }
    assert!(throttled > 0, "no request was throttled");
}
