//! Security headers on every response of ours (in process and through the gateway) and the
//! correlation ids on every log line of an invocation.

use rota_api::app::Handler;
use rota_api::handlers::{auth, community, ops, users};
use rota_tests::*;
use serde_json::json;

const ALL: rota_api::Needs = rota_api::Needs {
    db: true,
    cache: true,
    tokens: true,
};

#[tokio::test]
async fn every_handler_response_carries_the_security_headers_errors_included() {
    let app = app(ALL).await;

    let live = call(&app, &ops::HealthLive, &sample_event("health-live")).await;
    assert_eq!(live.status, 200, "{}", live.text);
    assert_security_headers(&live, "no-store");

    // A handler's own caching is kept (the OpenAPI document is cacheable).
    let doc = call(&app, &ops::OpenApi, &sample_event("openapi")).await;
    assert_eq!(doc.status, 200);
    assert_security_headers(&doc, "public, max-age=300");

    // The $default route's 404.
    let missing = call(&app, &ops::NotFound, &sample_event("not-found")).await;
    missing.problem(404);
    assert_security_headers(&missing, "no-store");

    // 401 without a token, 422, 401 bad credentials, 413, and a list that succeeds.
    let me = call(&app, &users::GetMe, &sample_event("users-me-get")).await;
    me.problem(401);
    assert_security_headers(&me, "no-store");
    let invalid = call(
        &app,
        &auth::Register,
        &with_body(sample_event("auth-register"), &json!({"email": "x"})),
    )
    .await;
    invalid.problem(422);
    assert_security_headers(&invalid, "no-store");
    let login = call(
        &app,
        &auth::Login,
        &with_body(
            sample_event("auth-login"),
            &json!({"email": unique_email(), "password": "wrong-password"}),
        ),
    )
    .await;
    login.problem(401);
    assert_security_headers(&login, "no-store");
    let big = call(
        &app,
        &auth::Login,
        &with_body(
            sample_event("auth-login"),
            &json!({"email": "x".repeat(70 * 1024)}),
        ),
    )
    .await;
    big.problem(413);
    assert_security_headers(&big, "no-store");
    let posts = call(
        &app,
        &community::ListPosts,
        &sample_event("community-posts-list"),
    )
    .await;
    assert_eq!(posts.status, 200, "{}", posts.text);
    assert_security_headers(&posts, "no-store");
}

#[tokio::test]
async fn our_own_429s_carry_the_security_headers() {
    let mut app = app(auth::Login::NEEDS).await;
    app.config.login_ip_limit = rota_api::config::Limit::new(1, 60);
    let event = with_body(
        sample_event("auth-login"),
        &json!({"email": unique_email(), "password": "wrong-password"}),
    );
    assert_eq!(call(&app, &auth::Login, &event).await.status, 401);
    let limited = call(&app, &auth::Login, &event).await;
    limited.problem(429);
    assert!(limited.header("retry-after").is_some());
    assert_security_headers(&limited, "no-store");
}

#[tokio::test]
async fn responses_through_the_gateway_carry_the_security_headers() {
    let api = Api::new();
    assert_security_headers(&api.get("/health/live", None).await, "no-store");
    let doc = api.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_security_headers(&doc, "public, max-age=300");
    let missing = api.get("/api/nope", None).await;
    missing.problem(404);
    assert_security_headers(&missing, "no-store");
    let wrong_method = api.send("PUT", "/api/users/me", None, None, None).await;
    wrong_method.problem(404);
    assert_security_headers(&wrong_method, "no-store");
    let me = api.get("/api/users/me", None).await;
    me.problem(401);
    assert_security_headers(&me, "no-store");
    let account = api.new_account().await;
    let me = api.get("/api/users/me", Some(&account.access_token)).await;
    assert_eq!(me.status, 200);
    assert_security_headers(&me, "no-store");
}

/// The lines the invocation that answered with `request_id` wrote, once its summary line is in.
async fn invocation_lines(binary: &str, needle: &str) -> Vec<serde_json::Value> {
    log_lines_with(binary, needle, |lines| {
        lines.iter().any(|l| l["message"] == "request finished")
    })
    .await
}

#[tokio::test]
async fn log_lines_carry_the_lambda_request_id_the_trace_and_the_clients_correlation_id() {
    let api = Api::new();
    let http = reqwest::Client::builder()
        .local_address(api.ip)
        .build()
        .unwrap();
    let base = std::env::var("ROTA_BASE_URL").unwrap();

    // A client's own request id: echoed, and logged as correlation_id beside Lambda's id.
    let mine = unique("corr-");
    let reply = http
        .post(format!("{base}/api/auth/login"))
        .header("x-request-id", &mine)
        .json(&json!({"email": unique_email(), "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    assert_eq!(reply.headers()["x-request-id"], mine.as_str());
    let lines = invocation_lines("auth-login", &mine).await;
    assert!(
        lines.len() >= 2,
        "the refusal and the summary line: {lines:?}"
    );
    let lambda_id = lines[0]["request_id"]
        .as_str()
        .expect("request_id")
        .to_owned();
    assert_ne!(lambda_id, mine);
    for line in &lines {
        assert_eq!(line["correlation_id"], mine.as_str(), "{line}");
        assert_eq!(line["request_id"], lambda_id.as_str(), "{line}");
        let trace = line["xray_trace_id"].as_str().expect("xray_trace_id");
        assert!(trace.starts_with("Root=1-"), "{trace}");
        assert!(
            line.get("requestId").is_none(),
            "one name per value: {line}"
        );
    }
    assert!(
        lines.iter().any(|l| l["message"] == "request refused"),
        "{lines:?}"
    );
    // The invocation's EMF metrics line carries the same Lambda request id.
    let emf = log_lines_with("auth-login", &lambda_id, |l| {
        l.iter().any(|l| l.get("_aws").is_some())
    })
    .await;
    assert!(emf.iter().any(|l| l.get("_aws").is_some()), "{emf:?}");

    // Without one, the response's id is Lambda's, and there is no separate correlation_id.
    let reply = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": unique_email(), "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    let id = reply.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str());
    let lines = invocation_lines("auth-login", &id).await;
    let summary = lines
        .iter()
        .find(|l| l["message"] == "request finished")
        .expect("summary line");
    assert_eq!(summary["request_id"], id.as_str());
    assert!(summary.get("correlation_id").is_none(), "{summary}");
    assert!(summary["xray_trace_id"].is_string(), "{summary}");
}
