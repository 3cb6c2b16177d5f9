//! `GET /docs`, the interactive reference, and its files at `GET /docs/{asset}`: content types,
//! caching, the page's own Content-Security-Policy (every other header the API's), the usual
//! 404 for an unknown file. That it renders in a browser: tests/browser/ (scripts/docs-check.sh).

use rota_api::handlers::docs::{asset_names, swagger_ui_version};
use rota_api::http::DOCS_PAGE_CSP;
use rota_tests::*;
use serde_json::Value;

/// The API's security headers with the docs page's policy in place of the API's.
fn assert_docs_headers(reply: &HttpReply, cache_control: &str) {
    assert_eq!(
        reply.header("content-security-policy"),
        Some(DOCS_PAGE_CSP),
        "{:?}",
        reply.headers
    );
    for (name, value) in rota_api::http::SECURITY_HEADERS {
        if name != "content-security-policy" {
            assert_eq!(reply.header(name), Some(value), "{name}");
        }
    }
    assert_eq!(reply.header("cache-control"), Some(cache_control));
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_their_types_caching_and_policy() {
    let api = Api::new();
    let page = api.get("/docs", None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_docs_headers(&page, "public, max-age=300");
    assert!(page.header("x-request-id").is_some());
    let version = swagger_ui_version();
    assert!(
        page.text
            .contains(&format!("/docs/swagger-ui-bundle.js?v={version}\"")),
        "{}",
        page.text
    );

    // As the page names it: immutable; without the tag: an hour; our own script: 5 minutes.
    let bundle = api
        .get(&format!("/docs/swagger-ui-bundle.js?v={version}"), None)
        .await;
    assert_eq!(bundle.status, 200);
    assert_eq!(
        bundle.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_docs_headers(&bundle, "public, max-age=31536000, immutable");
    assert!(bundle.text.len() > 1_000_000, "{} bytes", bundle.text.len());
    let css = api.get("/docs/swagger-ui.css?v=0.0.1", None).await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_docs_headers(&css, "public, max-age=3600");
    let init = api.get("/docs/docs-init.js", None).await;
    assert!(init.text.contains("/openapi.json"), "{}", init.text);
    assert_docs_headers(&init, "public, max-age=300");
    let notice = api.get("/docs/NOTICE", None).await;
    assert_eq!(
        notice.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // Binary through the gateway: base64 in the function's answer, the same bytes out.
    let icon = api
        .raw()
        .get(api.url("/docs/favicon-32x32.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/png");
    let bytes = icon.bytes().await.unwrap();
    let vendored =
        std::fs::read(repo_root().join("shared/api/docs-ui/vendor/favicon-32x32.png")).unwrap();
    assert_eq!(bytes.as_ref(), vendored.as_slice());
}

#[tokio::test]
async fn an_unknown_file_is_the_usual_404_under_the_apis_own_policy() {
    let api = Api::new();
    for path in [
        "/docs/nope.js",
        "/docs/SOURCE",
        "/docs/..%2Fopenapi.yaml",
        "/docs/index.html",
    ] {
        let missing = api.get(path, None).await;
        assert_answered_securely(&missing, 404, "no-store");
    }
    // Deeper paths and other methods are not its routes: the `$default` 404.
    let deeper = api.get("/docs/a/b", None).await;
    assert_answered_securely(&deeper, 404, "no-store");
    let post = api.send("POST", "/docs", None).await;
    assert_answered_securely(&post, 404, "no-store");
}

#[test]
fn the_openapi_document_lists_exactly_the_files_served() {
    let doc: Value =
        serde_json::from_str(rota_api::handlers::ops::openapi_json().unwrap()).unwrap();
    let asset = doc["paths"]["/docs/{asset}"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "asset")
        .expect("the asset parameter");
    let mut documented: Vec<&str> = asset["schema"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    documented.sort();
    let mut served: Vec<&str> = asset_names().collect();
    served.sort();
    assert_eq!(documented, served);
    assert_eq!(
        doc["paths"]["/docs"]["get"]["security"],
        serde_json::json!([])
    );
}

/// The handler called in this process with the sample event (and the event made an asset's).
mod in_process {
    use super::*;
    use rota_api::handlers::docs::Docs;

    #[tokio::test]
    async fn the_sample_event_gets_the_page_and_an_assets_event_its_file() {
        let app = app().await;
        let page = call(&app, &Docs, &sample_event("docs")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.text.contains("<title>Rota API reference</title>"));
        assert_docs_headers(&page, "public, max-age=300");

        let mut event = sample_event("docs");
        event["routeKey"] = "GET /docs/{asset}".into();
        event["rawPath"] = "/docs/swagger-ui.css".into();
        event["requestContext"]["http"]["path"] = "/docs/swagger-ui.css".into();
        event["pathParameters"] = serde_json::json!({"asset": "swagger-ui.css"});
        event["rawQueryString"] = format!("v={}", swagger_ui_version()).into();
        event["queryStringParameters"] = serde_json::json!({"v": swagger_ui_version()});
        let css = call(&app, &Docs, &event).await;
        assert_eq!(css.status, 200, "{}", css.text);
        assert!(css.text.contains(".swagger-ui"));
        assert_docs_headers(&css, "public, max-age=31536000, immutable");

        event["pathParameters"] = serde_json::json!({"asset": "missing.css"});
        let missing = call(&app, &Docs, &event).await;
        assert_answered_securely(&missing, 404, "no-store");
    }
}
