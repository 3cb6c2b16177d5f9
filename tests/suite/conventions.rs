//! The API's conventions through the gateway, whatever the route: problem+json for bad JSON,
//! content types and sizes, 404 for unknown paths and methods, request ids, and API Gateway's
//! own throttling.

use futures::future::join_all;
use rota_tests::*;

#[tokio::test]
async fn malformed_json_is_400_wrong_content_type_415_and_big_bodies_413() {
    let api = Api::new();
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(70 * 1024));
    for (content_type, body, status) in [
        (Some("application/json"), b"{\"email\":".to_vec(), 400),
        (Some("text/plain"), b"{}".to_vec(), 415),
        (None, b"{}".to_vec(), 415),
        (Some("application/json"), big.into_bytes(), 413),
        (Some("application/json"), b"[1,2]".to_vec(), 422),
    ] {
        api.send_with(
            "POST",
            "/api/auth/login",
            None,
            content_type,
            Some(body),
            &[],
        )
        .await
        .problem(status);
    }
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_a_problem_404() {
    let api = Api::new();
    api.get("/api/nope", None).await.problem(404);
    api.send("DELETE", "/api/auth/login", None)
        .await
        .problem(404);
    api.send("GET", "/api/auth/register", None)
        .await
        .problem(404);
}

#[tokio::test]
async fn request_ids_are_echoed_when_well_formed_and_generated_otherwise() {
    let api = Api::new();
    let live_with_id = async |id: &str| {
        let headers = [("x-request-id", id)];
        api.send_with("GET", "/health/live", None, None, None, &headers)
            .await
    };
    let echoed = live_with_id("abc-123.x_y").await;
    assert_eq!(echoed.header("x-request-id"), Some("abc-123.x_y"));
    let replaced = live_with_id("bad id!").await;
    let id = replaced.header("x-request-id").expect("a request id");
    assert_ne!(id, "bad id!");
    assert!(!id.is_empty());
}

#[tokio::test]
async fn the_gateway_throttles_with_api_gateways_own_429() {
    // The $default route allows a burst of 100 (template.yaml); 400 requests at once exceed it.
    let base = base_url();
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
    // The route's bucket is the whole stack's: hand it back full (it refills at 50/s), or the
    // next test's unknown path is a 429 (this test runs alone: .config/nextest.toml).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        http.get(format!("{base}/throttle-probe"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
