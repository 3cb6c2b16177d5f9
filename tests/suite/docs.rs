//! `GET /docs`, the interactive reference, and its files at `GET /docs/{asset}`: content types,
//! caching, the page's own Content-Security-Policy (every other header the API's), the usual
//! 404 for an unknown file; the compressed answers (what each `Accept-Encoding` gets, a first
//! visit's bytes on the wire) and a stack without the reference (`ApiDocs=Disabled`). That it
//! renders in a browser: tests/browser/ (scripts/docs-check.sh).

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
    assert_eq!(reply.header("vary"), Some("Accept-Encoding"));
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
    let icon = fetch(&api, "/docs/favicon-32x32.png", None).await;
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("content-type"), Some("image/png"));
    let vendored =
        std::fs::read(repo_root().join("shared/api/docs-ui/vendor/favicon-32x32.png")).unwrap();
    assert_eq!(icon.body, vendored);
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
    let doc: Value = serde_json::from_str(rota_api::handlers::ops::openapi_json()).unwrap();
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

/// What Chromium sends (and so every browser worth the name: brotli and gzip).
const CHROMIUM: &str = "gzip, deflate, br, zstd";

/// An answer as it came over the wire: status, headers, the body's bytes undecoded.
struct Wire {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Bytes on the wire: the status line, the header lines and the body (HTTP/1.1, as the
    /// gateway speaks it; API Gateway adds a few headers of its own).
    fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
            .sum();
        "HTTP/1.1 200 OK\r\n".len() + headers + 2 + self.body.len()
    }

    /// The body with its `Content-Encoding` undone.
    fn decoded(&self) -> Vec<u8> {
        use std::io::Read as _;
        let mut out = Vec::new();
        match self.header("content-encoding") {
            None => return self.body.clone(),
            Some("br") => brotli::Decompressor::new(&self.body[..], 4096)
                .read_to_end(&mut out)
                .expect("valid brotli"),
            Some("gzip") => flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .expect("valid gzip"),
            Some(other) => panic!("content-encoding {other}"),
        };
        out
    }
}

/// `GET path` with this `Accept-Encoding` (none: `None`), the body as sent. The gateway's own
/// 429 (the docs routes allow 5 a second) is waited out.
async fn fetch(api: &Api, path: &str, accept: Option<&str>) -> Wire {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        let mut req = api.raw().get(api.url(path));
        if let Some(accept) = accept {
            req = req.header("accept-encoding", accept);
        }
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body").to_vec();
        if status == 429 && !headers.contains_key("x-request-id") {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(1));
            continue;
        }
        return Wire {
            status,
            headers,
            body,
        };
    }
}

/// What the page loads by itself: its `<link href>` and `<script src>` (its `<a href>`s are
/// only followed on a click), then the document its start-up script fetches.
fn loaded_by(page: &str) -> Vec<String> {
    let mut urls: Vec<String> = page
        .split('<')
        .filter_map(|tag| {
            let attr = if tag.starts_with("link ") {
                " href=\""
            } else if tag.starts_with("script ") {
                " src=\""
            } else {
                return None;
            };
            Some(tag.split_once(attr)?.1.split('"').next()?.to_owned())
        })
        .collect();
    urls.push("/openapi.json".into());
    urls
}

/// A first visit in Chromium: the page, then everything it loads, nothing cached yet. Before
/// the compressed copies every client got the files as they are (the `identity` visit).
#[tokio::test]
async fn a_first_visit_is_at_most_half_a_megabyte_on_the_wire() {
    let api = Api::new();
    let mut totals = Vec::new();
    for accept in [Some(CHROMIUM), Some("gzip"), None] {
        let page = fetch(&api, "/docs", accept).await;
        assert_eq!(page.status, 200);
        let urls = loaded_by(&String::from_utf8(page.decoded()).unwrap());
        assert_eq!(urls.len(), 5, "{urls:?}");
        let mut total = page.size();
        let mut lines = vec![format!("/docs {}", page.size())];
        for url in &urls {
            let answer = fetch(&api, url, accept).await;
            assert_eq!(answer.status, 200, "{url}");
            if accept == Some(CHROMIUM) && !url.contains(".png") {
                assert_eq!(answer.header("content-encoding"), Some("br"), "{url}");
            }
            total += answer.size();
            lines.push(format!("{url} {}", answer.size()));
        }
        eprintln!(
            "first visit, Accept-Encoding {}: {total} bytes ({})",
            accept.unwrap_or("(none)"),
            lines.join(", ")
        );
        totals.push(total);
    }
    let [chromium, gzip, identity] = totals[..] else {
        unreachable!()
    };
    assert!(chromium <= 500_000, "{chromium} bytes with brotli");
    assert!(gzip < identity / 3, "gzip {gzip} of {identity}");
    assert!(chromium < gzip, "brotli {chromium} vs gzip {gzip}");
    // What every visit cost before: the files as they are.
    assert!(identity > 1_900_000, "{identity} bytes as they are");
}

/// The bytes a file (or the OpenAPI document) answers with are the file's, whatever the
/// coding; the coding is the one the client accepts; every answer says it varies with
/// `Accept-Encoding`.
#[tokio::test]
async fn each_client_gets_the_coding_it_accepts_and_the_files_bytes() {
    let api = Api::new();
    let version = swagger_ui_version();
    let page = fetch(&api, "/docs", None).await;
    assert_eq!(page.header("content-encoding"), None);
    let vendor = repo_root().join("shared/api/docs-ui/vendor");
    let files = [
        (
            format!("/docs/swagger-ui-bundle.js?v={version}"),
            std::fs::read(vendor.join("swagger-ui-bundle.js")).unwrap(),
        ),
        (
            format!("/docs/swagger-ui.css?v={version}"),
            std::fs::read(vendor.join("swagger-ui.css")).unwrap(),
        ),
        (
            "/docs/docs-init.js".into(),
            std::fs::read(repo_root().join("shared/api/docs-ui/docs-init.js")).unwrap(),
        ),
        (
            "/docs/LICENSE".into(),
            std::fs::read(vendor.join("LICENSE")).unwrap(),
        ),
        ("/docs".into(), page.body.clone()),
        // What the page's script fetches: compressed the same way.
        (
            "/openapi.json".into(),
            rota_api::handlers::ops::openapi_json().as_bytes().to_vec(),
        ),
    ];
    for (path, plain) in &files {
        for (accept, coding) in [
            (Some(CHROMIUM), Some("br")),
            (Some("br"), Some("br")),
            (Some("gzip"), Some("gzip")),
            (Some("br;q=0, gzip"), Some("gzip")),
            (Some("gzip;q=1, br;q=0.5"), Some("gzip")),
            (Some("identity"), None),
            (Some("deflate"), None),
            (Some("*;q=0"), None),
            (None, None),
        ] {
            let answer = fetch(&api, path, accept).await;
            assert_eq!(answer.status, 200, "{path}");
            assert_eq!(
                answer.header("content-encoding"),
                coding,
                "{path} {accept:?}"
            );
            assert_eq!(
                answer.header("vary"),
                Some("Accept-Encoding"),
                "{path} {accept:?}"
            );
            // The gateway's length is the bytes sent, not the file's.
            assert_eq!(
                answer.header("content-length"),
                Some(answer.body.len().to_string().as_str()),
                "{path} {accept:?}"
            );
            if coding.is_some() {
                assert!(answer.body.len() < plain.len(), "{path} {accept:?}");
            }
            assert!(
                answer.decoded() == *plain,
                "{path} {accept:?}: not the file's bytes"
            );
        }
    }
    // The caching follows the URL, not the coding: immutable only under the pinned version.
    let tagged = fetch(
        &api,
        &format!("/docs/swagger-ui.css?v={version}"),
        Some(CHROMIUM),
    )
    .await;
    assert_eq!(
        tagged.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let untagged = fetch(&api, "/docs/swagger-ui.css", Some(CHROMIUM)).await;
    assert_eq!(
        untagged.header("cache-control"),
        Some("public, max-age=3600")
    );
    assert_eq!(untagged.header("content-encoding"), Some("br"));
    // An icon is compressed already: it goes as it is, to everyone.
    let icon = fetch(&api, "/docs/favicon-32x32.png", Some(CHROMIUM)).await;
    assert_eq!(icon.header("content-encoding"), None);
    assert_eq!(icon.header("vary"), Some("Accept-Encoding"));
    assert_eq!(
        icon.body,
        std::fs::read(vendor.join("favicon-32x32.png")).unwrap()
    );
}

/// `ApiDocs=Disabled`: no function, no route; the catch-all answers `/docs` and its files
/// with the usual 404, and the document stays.
#[tokio::test]
async fn a_stack_without_the_reference_answers_404_there() {
    let stack = PrivateStack::start(|config| {
        config
            .parameter_overrides
            .insert("ApiDocs".into(), "Disabled".into());
    })
    .await;
    let api = stack.api();
    for path in [
        "/docs",
        "/docs/swagger-ui-bundle.js",
        &format!("/docs/swagger-ui-bundle.js?v={}", swagger_ui_version()),
    ] {
        let missing = api.get(path, None).await;
        assert_answered_securely(&missing, 404, "no-store");
    }
    assert_eq!(api.get("/openapi.json", None).await.status, 200);
    let info = stack.running.info();
    assert_eq!(info.parameter_overrides["ApiDocs"], "Disabled");
    let lambda = &stack.running.lambda;
    assert!(lambda.function("NotFoundFunction").is_some());
    assert!(
        lambda.function("DocsFunction").is_none(),
        "the docs function runs"
    );
    stack.stop().await;
}
