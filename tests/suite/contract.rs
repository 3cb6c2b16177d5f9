//! The contract's documents agree: every route of the template is in the OpenAPI document, so
//! is every call of the contract (tests/contract-calls.txt), idempotency keys and retries are
//! documented, auth routes are throttled harder, and every function has a sample event that
//! parses as its route's request.

use rota_tests::*;
use serde_json::Value;

fn openapi() -> Value {
    serde_json::from_str(rota_api::handlers::ops::openapi_json()).unwrap()
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

#[test]
fn every_sample_event_parses_as_an_http_api_request_of_its_route() {
    use lambda_http::RequestExt;
    let dir = repo_root().join("events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        if event.get("routeKey").is_none() {
            // Scheduled and SQS events: checked by the reminder tests.
            continue;
        }
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            req.method().as_str(),
            event["requestContext"]["http"]["method"],
            "{}",
            path.display()
        );
        assert_eq!(req.uri().path(), event["rawPath"], "{}", path.display());
        assert!(req.request_context_ref().is_some());
        assert_eq!(
            rota_api::http::source_ip(&req).as_deref(),
            Some("203.0.113.10")
        );
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} sample events");
}

#[test]
fn there_is_a_sample_event_for_every_function_in_the_template() {
    let template = rota_local::template::Template::load(repo_root().join("template.yaml")).unwrap();
    for route in template.routes() {
        let path = repo_root()
            .join("events")
            .join(format!("{}.json", route.name));
        assert!(path.exists(), "no sample event for {}", route.name);
    }
}
