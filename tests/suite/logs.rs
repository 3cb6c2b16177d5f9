//! The functions' logs through the gateway: JSON lines with the request's context, never a
//! secret, and the correlation ids (Lambda's request id, the trace, the client's own id) on
//! every line of an invocation.

use rota_tests::*;
use serde_json::{Value, json};

#[tokio::test]
async fn logs_are_json_with_context_and_never_carry_secrets() {
    let (api, account) = Api::signed_up().await;
    let login = api.login(&account.email, &account.password).await;
    assert_eq!(login.status, 200);
    let refresh = login.json()["refresh_token"].as_str().unwrap().to_owned();
    let request_id = login.header("x-request-id").unwrap().to_owned();

    // Function output reaches the log file through the gateway's pipe a moment after the
    // response: wait for the request's lines (bounded).
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..50 {
        lines = function_log("auth-login")
            .lines()
            .filter(|l| l.contains(&request_id))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        if lines.iter().any(|l| l.get("Logins").is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let logs = [function_log("auth-register"), function_log("auth-login")].concat();
    for secret in [
        account.password.as_str(),
        refresh.as_str(),
        account.access_token.as_str(),
        "$argon2id$",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    let summary = lines
        .iter()
        .find(|l| l["message"] == "request finished")
        .expect("a summary line for the request");
    assert_eq!(summary["status"], 200);
    assert_eq!(summary["user_id"], account.id);
    assert_eq!(summary["function"], "AuthLoginFunction");
    assert!(summary["cold_start"].is_boolean());
    assert!(summary["duration_ms"].is_number());
    let metrics = lines
        .iter()
        .find(|l| l.get("Logins").is_some())
        .expect("the invocation's metrics line");
    assert_eq!(metrics["Logins"], 1.0);
    assert_eq!(metrics["function"], "AuthLoginFunction");
    // Logins is a property of the line (Logs Insights), not a custom metric; the call's count
    // and duration are AWS/Lambda's own metrics, not recorded again.
    for name in ["Requests", "Latency"] {
        assert!(metrics.get(name).is_none(), "{name}: {metrics}");
    }
    if let Some(aws) = metrics.get("_aws") {
        // A cold start: ColdStart is published, for the whole service.
        let directives = aws["CloudWatchMetrics"].to_string();
        assert!(!directives.contains("Logins"), "{directives}");
        assert_eq!(aws["CloudWatchMetrics"][0]["Namespace"], "Rota");
    }
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
    let (http, base) = (api.raw(), base_url());

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
    // The invocation's metrics line (the 401 counted as Errors4xx) carries the same Lambda
    // request id.
    let metrics = log_lines_with("auth-login", &lambda_id, |l| {
        l.iter().any(|l| l.get("Errors4xx").is_some())
    })
    .await;
    assert!(metrics.iter().any(|l| l["Errors4xx"] == 1.0), "{metrics:?}");

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
