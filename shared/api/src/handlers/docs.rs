//! `GET /docs`: the API's interactive reference (Swagger UI on `/openapi.json`, "Try it out"
//! against this origin) and its files at `GET /docs/{asset}`. Everything is embedded in the
//! binary, so the page needs nothing from another host: the vendored swagger-ui-dist files
//! (`shared/api/docs-ui/vendor/`, written by `scripts/vendor-docs-ui.sh` at the version pinned
//! in `docs-ui/swagger-ui-dist.version`) and our page and start-up script beside them. Its
//! responses carry the docs page's Content-Security-Policy ([`crate::http::DOCS_PAGE_CSP`]).
//!
//! API Gateway's HTTP APIs never compress an answer, so the page and each file are also
//! compiled in as brotli and gzip, made at build time, and sent as the request's
//! `Accept-Encoding` allows ([`crate::precompressed`]). A first visit is then ~0.4 MB on the
//! wire instead of 2 MB (BENCHMARKS.md). The template's `ApiDocs` parameter leaves the whole
//! endpoint out of a deployment.

use http::{StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::app::{App, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::extract::{FromQuery, FromRequest, Query, QueryParams};
use crate::function::{Handler, Reply};
use crate::http::Csp;
use crate::precompressed::{AcceptEncoding, DOCS_UI, Precompressed};
use crate::state::NoClients;

/// The vendored swagger-ui-dist version (`docs-ui/swagger-ui-dist.version`).
pub fn swagger_ui_version() -> &'static str {
    include_str!("../../docs-ui/swagger-ui-dist.version").trim()
}

/// The page and our own files change with a deploy: cached briefly, like `/openapi.json`.
const OWN_CACHE: &str = "public, max-age=300";
/// A vendored file asked for without the pinned version's tag: it changes with an upgrade.
const VENDORED_CACHE: &str = "public, max-age=3600";
/// A vendored file asked for as the page names it (`?v=<pinned version>`): what that URL
/// answers never changes, since an upgrade changes the URL.
const VERSIONED_CACHE: &str = "public, max-age=31536000, immutable";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const PNG: &str = "image/png";
const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Clone, Copy)]
enum Content {
    Text(&'static str),
    Binary(&'static [u8]),
}

/// One file of the page, served at `/docs/<name>`.
pub struct File {
    name: &'static str,
    content_type: &'static str,
    content: Content,
    /// From swagger-ui-dist (cacheable for long under its version tag), not ours.
    vendored: bool,
}

/// A file of swagger-ui-dist, compiled in: `Text(include_str)` or `Binary(include_bytes)`.
macro_rules! vendored {
    ($name:literal, $type:expr, $content:ident($include:ident)) => {
        File {
            name: $name,
            content_type: $type,
            content: Content::$content($include!(concat!("../../docs-ui/vendor/", $name))),
            vendored: true,
        }
    };
}

/// Every file `/docs/{asset}` serves: what the page loads, and the licences it links to.
const FILES: &[File] = &[
    File {
        name: "docs-init.js",
        content_type: JS,
        content: Content::Text(include_str!("../../docs-ui/docs-init.js")),
        vendored: false,
    },
    vendored!("swagger-ui-bundle.js", JS, Text(include_str)),
    vendored!("swagger-ui.css", CSS, Text(include_str)),
    vendored!("favicon-32x32.png", PNG, Binary(include_bytes)),
    vendored!("LICENSE", TEXT, Text(include_str)),
    vendored!("NOTICE", TEXT, Text(include_str)),
    vendored!("swagger-ui-bundle.js.LICENSE.txt", TEXT, Text(include_str)),
];

/// The names `GET /docs/{asset}` answers (the OpenAPI document lists them).
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|f| f.name)
}

/// The copies of the page (`index.html`) or the file `name`.
fn encoded(name: &str) -> &'static Precompressed {
    DOCS_UI
        .iter()
        .find(|e| e.name == name)
        .expect("build.rs encodes every served file")
}

/// The page, its asset URLs tagged with the pinned version (by `build.rs`).
fn page() -> &'static str {
    include_str!(concat!(env!("OUT_DIR"), "/docs-ui/index.html"))
}

/// What a request names: the page (`GET /docs`, no `asset`) or one of its files; any other
/// name is the usual 404 before the handler runs.
pub enum Wanted {
    Page,
    File(&'static File),
}

impl<S: Sync> FromRequest<S> for Wanted {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        let Some(name) = req.path_parameters_ref().and_then(|p| p.first("asset")) else {
            return Ok(Wanted::Page);
        };
        FILES
            .iter()
            .find(|f| f.name == name)
            .map(Wanted::File)
            .ok_or_else(|| ApiError::NotFound("The API reference has no such file.".into()))
    }
}

/// `?v=`: the version tag the page puts on the vendored files' URLs.
pub struct VersionTag(Option<String>);

impl FromQuery for VersionTag {
    fn from_query(query: &mut QueryParams<'_>) -> Self {
        VersionTag(query.get("v").map(str::to_owned))
    }
}

pub struct Docs;

impl Handler for Docs {
    type State = NoClients;
    type Input = (Wanted, Query<VersionTag>, AcceptEncoding);
    const CSP: Csp = Csp::DocsPage;

    async fn handle(
        &self,
        _: &App<NoClients>,
        _: &mut Ctx,
        (wanted, Query(VersionTag(tag)), accept): Self::Input,
    ) -> Reply {
        let (name, content_type, cache, plain) = match wanted {
            Wanted::Page => ("index.html", HTML, OWN_CACHE, Content::Text(page())),
            Wanted::File(file) => {
                let cache = if !file.vendored {
                    OWN_CACHE
                } else if tag.as_deref() == Some(swagger_ui_version()) {
                    VERSIONED_CACHE
                } else {
                    VENDORED_CACHE
                };
                (file.name, file.content_type, cache, file.content)
            }
        };
        let response = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CACHE_CONTROL, cache);
        let (response, body) = encoded(name).answer(
            &accept,
            || match plain {
                Content::Text(text) => Body::Text(text.to_owned()),
                Content::Binary(bytes) => Body::Binary(bytes.to_vec()),
            },
            response,
        );
        Ok(response
            .body(body)
            .expect("static response parts are valid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precompressed::Coding;
    use crate::precompressed::tests::decompressed;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs-ui");

    /// The `/docs/<name>` URLs of the page (without their query).
    fn named_by_page() -> Vec<String> {
        page()
            .split("\"/docs/")
            .skip(1)
            .map(|rest| rest.split(['"', '?']).next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_page_names_only_served_files_and_every_served_file_is_named_or_vendored() {
        let named = named_by_page();
        assert!(named.len() >= 6, "{named:?}");
        for name in &named {
            assert!(FILES.iter().any(|f| f.name == name), "{name} is not served");
        }
        // Every vendored file but SOURCE (the provenance note) is served, nothing unused.
        let mut vendored: Vec<String> = std::fs::read_dir(format!("{DIR}/vendor"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "SOURCE")
            .collect();
        vendored.sort();
        let mut served: Vec<&str> = FILES
            .iter()
            .filter(|f| f.vendored)
            .map(|f| f.name)
            .collect();
        served.sort();
        assert_eq!(vendored, served);
        for f in FILES {
            assert!(named.iter().any(|n| n == f.name), "{} is not used", f.name);
        }
    }

    #[test]
    fn the_pinned_version_is_the_vendored_one_and_tags_the_pages_urls() {
        let version = swagger_ui_version();
        assert!(
            version.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{version}"
        );
        let source = std::fs::read_to_string(format!("{DIR}/vendor/SOURCE")).unwrap();
        assert!(
            source.starts_with(&format!("swagger-ui-dist@{version} ")),
            "{source}"
        );
        assert!(!page().contains("{{"), "a placeholder is left");
        assert!(page().contains(&format!("swagger-ui-bundle.js?v={version}\"")));
    }

    #[test]
    fn every_copy_decompresses_to_its_file_and_the_large_files_have_both() {
        let mut names: Vec<&str> = DOCS_UI.iter().map(|e| e.name).collect();
        names.sort();
        let mut served: Vec<&str> = asset_names().chain(["index.html"]).collect();
        served.sort();
        assert_eq!(names, served);
        for e in DOCS_UI {
            let plain = match FILES.iter().find(|f| f.name == e.name) {
                Some(File {
                    content: Content::Text(text),
                    ..
                }) => text.as_bytes(),
                Some(File {
                    content: Content::Binary(bytes),
                    ..
                }) => bytes,
                None => page().as_bytes(),
            };
            for (coding, copy) in [(Coding::Br, e.br), (Coding::Gzip, e.gzip)] {
                if let Some(copy) = copy {
                    assert!(copy.len() < plain.len(), "{} {coding:?}", e.name);
                    assert_eq!(decompressed(coding, copy), plain, "{} {coding:?}", e.name);
                }
            }
        }
        // What a first visit loads: brotli beats gzip; the large files shrink to a quarter (brotli)
        // or a third (gzip) or less.
        for name in [
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "index.html",
            "docs-init.js",
        ] {
            let e = encoded(name);
            let plain = FILES
                .iter()
                .find(|f| f.name == name)
                .map_or(page().len(), |f| match f.content {
                    Content::Text(t) => t.len(),
                    Content::Binary(b) => b.len(),
                });
            let (br, gzip) = (e.br.unwrap().len(), e.gzip.unwrap().len());
            assert!(br <= gzip, "{name}: brotli {br} > gzip {gzip}");
            if plain > 100_000 {
                assert!(br * 4 < plain, "{name}: brotli {br} of {plain}");
                assert!(gzip * 3 < plain, "{name}: gzip {gzip} of {plain}");
            }
        }
        // A PNG is compressed already: no copy saves anything.
        assert!(encoded("favicon-32x32.png").gzip.is_none());
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_nothing_from_another_host() {
        let page = page();
        assert_eq!(
            page.matches("<script").count(),
            page.matches("<script src=\"/docs/").count()
        );
        assert!(!page.contains("<style") && !page.contains("style="));
        assert!(!page.contains("http:") && !page.contains("https:") && !page.contains("//"));
    }
}
