//! The template, the OpenAPI document and the logs agree with the contract.

use rota_tests::*;
use serde_json::Value;

fn openapi() -> Value {
    serde_json::from_str(rota_api::handlers::ops::openapi_json().expect("openapi.yaml parses"))
        .unwrap()
}

/// `/api/community/posts/{id}` in the template and in OpenAPI name parameters alike.
fn normalise(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_in_the_template_is_in_the_openapi_document() {
    let doc = openapi();
    let paths = doc["paths"].as_object().expect("paths");
    let documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .map(move |method| (method.to_uppercase(), normalise(path)))
        })
        .collect();
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    let routes = template.routes();
    assert!(
        routes.len() >= 10,
        "the template has {} routes",
        routes.len()
    );
    for route in routes {
        if route.path == "$default" {
            continue;
        }
        let wanted = (route.method.to_uppercase(), normalise(&route.path));
        assert!(
            documented.contains(&wanted),
            "{} {} is not in openapi.yaml",
            route.method,
            route.path
        );
    }
}

#[test]
fn the_openapi_document_covers_every_call_of_the_contract() {
    let doc = openapi();
    let calls = std::fs::read_to_string(repo_root().join("tests").join("contract-calls.txt"))
        .expect("tests/contract-calls.txt: the contract's calls, kept in the repository");
    let paths = doc["paths"].as_object().unwrap();
    let mut checked = 0;
    for line in calls
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (method, path) = line.split_once(' ').expect("METHOD path");
        let found = paths.iter().any(|(p, ops)| {
            normalise(p) == normalise(path) && ops.get(method.to_lowercase()).is_some()
        });
        assert!(
            found,
            "{method} {path} of the contract is missing in openapi.yaml"
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} calls listed");
}

#[test]
fn auth_routes_are_throttled_harder_than_the_default() {
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    let default = template.throttle_for("GET /api/users/me");
    for route in [
        "POST /api/auth/register",
        "POST /api/auth/login",
        "POST /api/community/posts",
    ] {
        let t = template.throttle_for(route);
        assert!(
            t.rate < default.rate && t.burst < default.burst,
            "{route}: {t:?} vs default {default:?}"
        );
    }
}

#[tokio::test]
async fn logs_are_json_with_context_and_never_carry_secrets() {
    let api = Api::new();
    let account = api.new_account().await;
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
        if lines.iter().any(|l| l.get("_aws").is_some()) {
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
    let emf = lines
        .iter()
        .find(|l| l.get("_aws").is_some())
        .expect("an EMF metrics line");
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Rota");
    assert_eq!(emf["Logins"], 1.0);
    assert_eq!(emf["Requests"], 1.0);
}

#[test]
fn the_creating_posts_document_idempotency_keys_and_every_503_says_when_to_retry() {
    let doc = openapi();
    for (path, what) in [
        ("/api/community/posts", "post"),
        ("/api/community/posts/{id}/comments", "comment"),
        ("/api/roadmaps", "roadmap"),
    ] {
        let op = &doc["paths"][path]["post"];
        let params = op["parameters"].to_string();
        assert!(
            params.contains("IdempotencyKey"),
            "{what}: no Idempotency-Key"
        );
        assert_eq!(
            op["responses"]["409"]["$ref"],
            "#/components/responses/InProgress"
        );
        assert!(op["responses"]["201"]["headers"]["Idempotent-Replayed"].is_object());
    }
    let key = &doc["components"]["parameters"]["IdempotencyKey"];
    assert_eq!(key["in"], "header");
    assert_eq!(key["schema"]["maxLength"], 255);
    for name in ["ServiceUnavailable", "InProgress"] {
        assert!(
            doc["components"]["responses"][name]["headers"]["Retry-After"].is_object(),
            "{name} lacks Retry-After"
        );
    }
    // Every operation that can be throttled by a function's own limit says so.
    for (path, method) in [
        ("/api/community/posts/{id}/like", "post"),
        ("/api/community/posts/{id}/like", "delete"),
        ("/api/community/posts/{id}", "patch"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(
            op["responses"]["429"]["$ref"],
            "#/components/responses/RateLimited"
        );
        let ok = &op["responses"]["200"]["headers"];
        assert!(ok["RateLimit-Remaining"].is_object(), "{method} {path}");
    }
}
