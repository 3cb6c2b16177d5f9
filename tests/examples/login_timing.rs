//! Login timing of an unknown email vs a wrong password, in process (not a test: wall-clock
//! figures are measurements, not assertions). Same App and handler as the Lambda, against the
//! emulator and Redis of a running stack (`scripts/test.sh`'s environment):
//!
//! ```sh
//! cargo run -p rota-tests --example login_timing -- 300 | grep -v "^{"   # EMF lines out
//! ```
//! Prints p50/p95/mean of each path, interleaved so drift hits both alike, and of the argon2
//! verification alone (real hash vs the dummy one).
// The handlers' futures (extractors, retry budget, SDK calls) nest deeper than the
// compiler's default layout limit when awaited in process.
#![recursion_limit = "256"]

use std::time::{Duration, Instant};

use rota_api::handlers::auth;
use rota_tests::*;
use serde_json::json;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(samples[((samples.len() as f64 - 1.0) * q).round() as usize]);
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    println!(
        "{name:<28} n={:<4} p50 {:>7.2} ms  p95 {:>7.2} ms  mean {:>7.2} ms",
        samples.len(),
        at(0.50),
        at(0.95),
        mean
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let mut app = app().await;
    // Every attempt comes from a fresh IP; the account limit is lifted so the wrong-password
    // path keeps checking the password instead of answering 429.
    app.set_config(|c| c.login_account_limit = rota_api::config::Limit::new(1_000_000, 900));
    let email = unique_email();
    let register = with_body(
        sample_event("auth-register"),
        &json!({"email": email, "password": "correct horse battery", "display_name": "Ada"}),
    );
    assert_eq!(call(&app, &auth::Register, &register).await.status, 201);

    let attempt = |email: String| {
        let app = &app;
        async move {
            let event = with_body(
                sample_event("auth-login"),
                &json!({"email": email, "password": "not-the-password"}),
            );
            let started = Instant::now();
            let reply = call(app, &auth::Login, &event).await;
            assert_eq!(reply.status, 401, "{}", reply.text);
            started.elapsed()
        }
    };
    // Warm up connections and caches.
    for _ in 0..10 {
        attempt(email.clone()).await;
        attempt(unique_email()).await;
    }
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..n {
        if i % 2 == 0 {
            wrong.push(attempt(email.clone()).await);
            unknown.push(attempt(unique_email()).await);
        } else {
            unknown.push(attempt(unique_email()).await);
            wrong.push(attempt(email.clone()).await);
        }
    }
    summary("login, wrong password", wrong);
    summary("login, unknown email", unknown);

    let password = rota_domain::input::Password::parse("not-the-password").unwrap();
    let stored = rota_api::auth::password::hash(&password).await.unwrap();
    let (mut real, mut dummy) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        rota_api::auth::password::verify(&password, Some(stored.clone()))
            .await
            .unwrap();
        real.push(t.elapsed());
        let t = Instant::now();
        rota_api::auth::password::verify(&password, None)
            .await
            .unwrap();
        dummy.push(t.elapsed());
    }
    summary("argon2 verify, real hash", real);
    summary("argon2 verify, dummy hash", dummy);
}
