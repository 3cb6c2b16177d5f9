//! Health and the ops routes, in process: readiness names what is down, liveness, the OpenAPI
//! document and the default route's 404.
use rota_api::handlers::ops;
use rota_tests::*;
use serde_json::json;

#[tokio::test]
async fn readiness_is_ok_when_dynamodb_and_the_cache_answer() {
    let app = app().await;
    let reply = call(&app, &ops::HealthReady, &sample_event("health-ready")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"status": "ok", "checks": {"dynamodb": "ok", "cache": "ok"}})
    );
}

#[tokio::test]
async fn readiness_names_the_cache_when_it_is_down() {
    // Nothing listens on port 1.
    let app = app_with_redis(Some("redis://127.0.0.1:1".into())).await;
    let reply = call(&app, &ops::HealthReady, &sample_event("health-ready")).await;
    let body = reply.problem(503);
    assert_eq!(body["checks"], json!({"dynamodb": "ok", "cache": "error"}));
    assert!(body["detail"].as_str().unwrap().contains("cache"), "{body}");
}

#[tokio::test]
async fn the_liveness_openapi_and_default_route_samples_answer() {
    let app = app().await;
    assert_eq!(
        call(&app, &ops::HealthLive, &sample_event("health-live"))
            .await
            .status,
        200
    );
    let doc = call(&app, &ops::OpenApi, &sample_event("openapi")).await;
    assert_eq!(doc.status, 200);
    assert!(doc.json()["openapi"].as_str().unwrap().starts_with("3."));
    let missing = call(&app, &ops::NotFound, &sample_event("not-found")).await;
    let body = missing.problem(404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/nothing-here")
    );
}
