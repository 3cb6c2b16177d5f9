//! The per-account login cap across addresses, and device tokens (OWASP's device cookies):
//! attempts from many addresses spend one cap per account, after which untrusted attempts
//! are refused even with the right password, while a device that signed in before keeps its
//! own allowance. Forged tokens and other accounts' tokens are untrusted.

use rota_api::config::Limit;
use rota_api::handlers::auth;
use rota_tests::*;
use serde_json::{Value, json};

/// A login from a fresh address (each sample event has its own source IP).
async fn login(app: &TestApp, email: &str, password: &str, device: Option<&str>) -> HttpReply {
    let mut body = json!({"email": email, "password": password});
    if let Some(device) = device {
        body["device_token"] = Value::String(device.to_owned());
    }
    call(
        app,
        &auth::Login,
        &with_body(sample_event("auth-login"), &body),
    )
    .await
}

fn device_token(reply: &HttpReply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["device_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn many_addresses_spend_the_account_cap_but_not_the_owners_device_allowance() {
    let mut app = app().await;
    app.set_config(|c| c.login_untrusted_limit = Limit::new(4, 900));
    let (email, _) = registered(&app).await;
    let (other_email, _) = registered(&app).await;
    const PASSWORD: &str = "correct horse battery";
    // The owner signs in once (an untrusted attempt: 1 of 4) and keeps the device token.
    let owner = device_token(&login(&app, &email, PASSWORD, None).await);
    let other_accounts = device_token(&login(&app, &other_email, PASSWORD, None).await);
    // Guesses from three more addresses spend the cap.
    for _ in 0..3 {
        login(&app, &email, "wrong-password", None)
            .await
            .problem(401);
    }
    // Now any untrusted attempt is refused, the right password included, from a new address,
    // with a forged token, or with another account's valid one.
    let refused = login(&app, &email, PASSWORD, None).await.problem(429);
    assert_eq!(refused["status"], 429);
    let (id, _) = owner.split_once('.').unwrap();
    let forged = format!("{id}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    login(&app, &email, PASSWORD, Some(&forged))
        .await
        .problem(429);
    login(&app, &email, PASSWORD, Some(&other_accounts))
        .await
        .problem(429);
    // The owner's device still signs in, and keeps its token.
    let again = login(&app, &email, PASSWORD, Some(&owner)).await;
    assert_eq!(device_token(&again), owner);
    // A wrong password from the trusted device is still 401, counted on the device alone.
    login(&app, &email, "wrong-password", Some(&owner))
        .await
        .problem(401);
    // The other account is untouched by this one's cap.
    assert_eq!(login(&app, &other_email, PASSWORD, None).await.status, 200);
}

#[tokio::test]
async fn a_trusted_device_is_limited_on_its_own() {
    let mut app = app().await;
    app.set_config(|c| c.login_device_limit = Limit::new(2, 900));
    let (email, _) = registered(&app).await;
    let device = device_token(&login(&app, &email, "correct horse battery", None).await);
    for _ in 0..2 {
        login(&app, &email, "wrong-password", Some(&device))
            .await
            .problem(401);
    }
    login(&app, &email, "correct horse battery", Some(&device))
        .await
        .problem(429);
    // Untrusted clients elsewhere are not affected by the device's count.
    assert_eq!(
        login(&app, &email, "correct horse battery", None)
            .await
            .status,
        200
    );
}
