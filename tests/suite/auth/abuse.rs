//! Abuse of the auth endpoints through the real gateway (brute force, spraying, a targeted
//! account, registration floods). Account enumeration by timing, shown structurally (what a
//! login costs): tests/alone/login_cost.rs.
//!
//! auth/login.rs already checks the plain per-IP login limit (30 unknown emails) and that 10
//! failures from many IPs lock an account; these tests cover the attacks around them.
//! Limits (config.rs): login 30 / 60 s per IP, 10 failures / 900 s per account, registration
//! 20 / 3600 s per IP.

use futures::future::join_all;
use rota_tests::*;
use serde_json::json;

/// Registers `n` accounts, each from its own client IP (registration is limited per IP).
async fn accounts(n: usize) -> Vec<Account> {
    join_all((0..n).map(|_| async { Api::new().new_account().await })).await
}

#[tokio::test]
async fn brute_force_from_one_ip_gets_429_at_the_31st_attempt_even_with_the_right_password() {
    // Four accounts, so no account reaches its own limit (≤ 8 failures each) and only the
    // per-IP limit is in play.
    let victims = accounts(4).await;
    let attacker = Api::new();
    for i in 0..30 {
        let victim = &victims[i % victims.len()];
        let reply = attacker
            .login(&victim.email, &format!("guess-{i:04}"))
            .await;
        reply.problem(401);
    }
    let right = attacker
        .login(&victims[0].email, &victims[0].password)
        .await;
    let body = right.problem(429);
    assert_eq!(body["type"], "urn:rota:problem:rate-limited");
    let wait = right.retry_after();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(right.header("ratelimit-limit"), Some("30"));
    assert_eq!(right.header("ratelimit-remaining"), Some("0"));
    assert_security_headers(&right, "no-store");
    assert!(
        !right.text.contains("access_token"),
        "no tokens while limited"
    );
    // The accounts themselves were never locked: their owners log in from elsewhere.
    for victim in &victims {
        let reply = Api::new().login(&victim.email, &victim.password).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
}

#[tokio::test]
async fn one_ip_spraying_many_accounts_is_stopped_by_the_per_ip_limit() {
    // Password spraying: one common password against many accounts, one try each, so every
    // account stays far below its own limit of 10; only the IP limit can stop it.
    let victims = accounts(32).await;
    let sprayer = Api::new();
    let mut statuses = Vec::new();
    for victim in &victims {
        let reply = sprayer.login(&victim.email, "Summer2026!").await;
        statuses.push(reply.status);
        if reply.status == 429 {
            reply.problem(429);
            assert!(reply.retry_after() >= 1);
            assert_eq!(reply.header("ratelimit-limit"), Some("30"));
        }
    }
    assert_eq!(statuses[..30], [401; 30], "{statuses:?}");
    assert_eq!(statuses[30..], [429, 429], "{statuses:?}");
    // Each account is below its own limit: one failure each, the owners are not locked out.
    let owners = join_all(
        victims
            .iter()
            .map(|v| async { Api::new().login(&v.email, &v.password).await.status }),
    )
    .await;
    assert!(owners.iter().all(|s| *s == 200), "{owners:?}");
}

#[tokio::test]
async fn an_account_attacked_from_elsewhere_never_locks_its_owner_out() {
    let owner = Api::new().new_account().await;
    // The owner has signed in from their device before: it holds a device token.
    let device = Api::new().login(&owner.email, &owner.password).await;
    assert_eq!(device.status, 200, "{}", device.text);
    let device_token = device.json()["device_token"].as_str().unwrap().to_owned();
    let attacker = Api::new();
    for i in 0..10 {
        attacker
            .login(&owner.email, &format!("wrong-guess-{i}"))
            .await
            .problem(401);
    }
    // The attacker's IP is locked out of this account for the 15-minute window, even with
    // the right password...
    for guess in ["wrong-more", owner.password.as_str()] {
        let reply = attacker.login(&owner.email, guess).await;
        reply.problem(429);
        assert_eq!(reply.header("ratelimit-limit"), Some("10"));
        let wait = reply.retry_after();
        assert!(wait > 60 && wait <= 900, "Retry-After {wait}");
    }
    // ...and more addresses do not multiply the guesses: every address gets at most its own
    // 10, and all of them together at most the account's cap of 30 untrusted attempts...
    let mut guessed = 10;
    let mut capped = false;
    for i in 0..4 {
        let ip = Api::new();
        for j in 0..11 {
            let reply = ip.login(&owner.email, &format!("spray-{i}-{j}")).await;
            if reply.status == 429 {
                reply.problem(429);
                capped |= reply.header("ratelimit-limit") == Some("30");
                break;
            }
            reply.problem(401);
            guessed += 1;
            assert!(j < 10, "an address guessed more than 10 times");
        }
    }
    assert!(capped, "the account's cap never applied");
    assert!(guessed < 30, "{guessed} guesses on one account");
    // ...so an untrusted client, even with the right password, now waits for the window...
    Api::new()
        .login(&owner.email, &owner.password)
        .await
        .problem(429);
    // ...while the owner's device, from any address, signs in as always.
    let own = Api::new()
        .post(
            "/api/auth/login",
            &json!({"email": owner.email, "password": owner.password, "device_token": device_token}),
            None,
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    // Sessions the owner already has are untouched: the access token works and the refresh
    // token rotates.
    let api = Api::new();
    assert_eq!(api.get("/api/users/me", owner.token()).await.status, 200);
    let refreshed = api.refresh(&owner.refresh_token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
}

#[tokio::test]
async fn concurrent_guesses_cannot_overshoot_the_limit_they_are_counted_before_the_hash() {
    let owner = Api::new().new_account().await;
    let attacker = Api::new();
    // 25 guesses at once from one IP: each is counted before its password is checked, so at
    // most 10 ever reach the hash; the rest are refused.
    let replies = futures::future::join_all((0..25).map(|i| {
        let attacker = attacker.clone();
        let email = owner.email.clone();
        async move {
            attacker
                .login(&email, &format!("burst-guess-{i}"))
                .await
                .status
        }
    }))
    .await;
    let checked = replies.iter().filter(|s| **s == 401).count();
    let refused = replies.iter().filter(|s| **s == 429).count();
    assert_eq!(checked, 10, "{replies:?}");
    assert_eq!(refused, 15, "{replies:?}");
}

#[tokio::test]
async fn a_registration_flood_from_one_ip_is_stopped_after_20_per_hour() {
    let flooder = Api::new();
    let mut created = Vec::new();
    for _ in 0..20 {
        let email = unique_email();
        let reply = flooder.register(&email, "flood-password", "Bot").await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        created.push(email);
    }
    let refused_email = unique_email();
    let refused = flooder
        .register(&refused_email, "flood-password", "Bot")
        .await;
    refused.problem(429);
    assert_eq!(refused.header("ratelimit-limit"), Some("20"));
    let wait = refused.retry_after();
    assert!(wait > 60 && wait <= 3600, "Retry-After {wait}");
    assert_security_headers(&refused, "no-store");
    // The refused registration created nothing; another client still registers.
    Api::new()
        .login(&refused_email, "flood-password")
        .await
        .problem(401);
    assert_eq!(
        Api::new()
            .register(&unique_email(), "fine-password", "Human")
            .await
            .status,
        201
    );
}
