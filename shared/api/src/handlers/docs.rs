//! `GET /docs`: the API's interactive reference (Swagger UI on `/openapi.json`, "Try it out"
//! against this origin) and its files at `GET /docs/{asset}`. Everything is embedded in the
//! binary, so the page needs nothing from another host: the vendored swagger-ui-dist files
//! (`shared/api/docs-ui/vendor/`, written by `scripts/vendor-docs-ui.sh` at the version pinned
//! in `docs-ui/swagger-ui-dist.version`) and our page and start-up script beside them. Its
//! responses carry the docs page's Content-Security-Policy ([`crate::http::DOCS_PAGE_CSP`]).
//!
//! API Gateway's HTTP APIs never compress an answer, so each file is also compiled in as brotli
//! and gzip, made at build time (`build.rs`), and sent as the request's `Accept-Encoding`
//! allows ([`Coding::negotiate`]); every answer says `Vary: Accept-Encoding`. A first visit is
//! then ~0.45 MB on the wire instead of 2 MB (BENCHMARKS.md). The template's `ApiDocs`
//! parameter leaves the whole endpoint out of a deployment.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::app::{App, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::extract::{FromQuery, FromRequest, Query, QueryParams};
use crate::function::{Handler, Reply};
use crate::http::Csp;
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

/// A file's copies made by `build.rs`: brotli and gzip, each only when smaller than the file.
pub(crate) struct Encoded {
    name: &'static str,
    br: Option<&'static [u8]>,
    gzip: Option<&'static [u8]>,
}

// `ENCODED`: one entry for the page (`index.html`) and for each file of `FILES`.
include!(concat!(env!("OUT_DIR"), "/docs_ui_encoded.rs"));

/// The copies of the page or file `name`.
fn encoded(name: &str) -> &'static Encoded {
    ENCODED
        .iter()
        .find(|e| e.name == name)
        .expect("build.rs encodes every served file")
}

/// A content coding the handler can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

impl Coding {
    /// `Content-Encoding` for this coding (none for identity).
    pub fn header(self) -> Option<&'static str> {
        match self {
            Coding::Br => Some("br"),
            Coding::Gzip => Some("gzip"),
            Coding::Identity => None,
        }
    }

    /// What to send for the `Accept-Encoding` values `accept` (RFC 9110, 12.5.3) when the
    /// copies `has_br` / `has_gzip` exist: the acceptable coding of the highest q-value, brotli
    /// on a tie (smaller than gzip: Chromium's `gzip, deflate, br, zstd` gets brotli); a coding
    /// named with `q=0`, or not named when `*` is not, is not acceptable. Identity when neither
    /// is, which is also the answer to no header at all; an unparsable q-value makes its
    /// coding unacceptable.
    pub fn negotiate<'a>(
        accept: impl IntoIterator<Item = &'a str>,
        has_br: bool,
        has_gzip: bool,
    ) -> Coding {
        // q-values in thousandths: br, gzip, `*`.
        let (mut br, mut gzip, mut any) = (None, None, None);
        for item in accept.into_iter().flat_map(|v| v.split(',')) {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let mut q = Some(1000);
            for param in parts {
                if let Some((name, value)) = param.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    q = qvalue(value.trim());
                }
            }
            let slot = if coding.eq_ignore_ascii_case("br") {
                &mut br
            } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if coding == "*" {
                &mut any
            } else {
                continue;
            };
            // Named twice: the first mention counts.
            slot.get_or_insert(q.unwrap_or(0));
        }
        let br = if has_br { br.or(any).unwrap_or(0) } else { 0 };
        let gzip = if has_gzip {
            gzip.or(any).unwrap_or(0)
        } else {
            0
        };
        if br > 0 && br >= gzip {
            Coding::Br
        } else if gzip > 0 {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }
}

/// A qvalue (`0`, `0.5`, `1.000`: at most three decimals, at most 1) in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The request's `Accept-Encoding` values, for [`Coding::negotiate`].
pub struct AcceptEncoding(Vec<String>);

impl<S: Sync> FromRequest<S> for AcceptEncoding {
    async fn from_request(_: &App<S>, _: &mut Ctx, req: &Request) -> ApiResult<Self> {
        Ok(AcceptEncoding(
            req.headers()
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect(),
        ))
    }
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
        (wanted, Query(VersionTag(tag)), AcceptEncoding(accept)): Self::Input,
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
        let copies = encoded(name);
        let coding = Coding::negotiate(
            accept.iter().map(String::as_str),
            copies.br.is_some(),
            copies.gzip.is_some(),
        );
        // Compressed bytes are binary: base64 to API Gateway, which decodes them on the way out.
        let body = match (coding, plain) {
            (Coding::Br, _) => Body::Binary(copies.br.expect("negotiated when there").to_vec()),
            (Coding::Gzip, _) => Body::Binary(copies.gzip.expect("negotiated when there").to_vec()),
            (Coding::Identity, Content::Text(text)) => Body::Text(text.to_owned()),
            (Coding::Identity, Content::Binary(bytes)) => Body::Binary(bytes.to_vec()),
        };
        let mut response = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CACHE_CONTROL, cache)
            // Every answer, the plain one too: a cache must not give one client's copy to
            // another that asked otherwise.
            .header(header::VARY, "Accept-Encoding");
        if let Some(encoding) = coding.header() {
            response =
                response.header(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        Ok(response
            .body(body)
            .expect("static response parts are valid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn decompressed(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        use std::io::Read as _;
        let mut out = Vec::new();
        match coding {
            Coding::Br => brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .unwrap(),
            Coding::Gzip => flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap(),
            Coding::Identity => unreachable!(),
        };
        out
    }

    #[test]
    fn every_copy_decompresses_to_its_file_and_the_large_files_have_both() {
        let mut names: Vec<&str> = ENCODED.iter().map(|e| e.name).collect();
        names.sort();
        let mut served: Vec<&str> = asset_names().chain(["index.html"]).collect();
        served.sort();
        assert_eq!(names, served);
        for e in ENCODED {
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
    fn the_coding_is_the_most_wanted_of_those_there_brotli_on_a_tie() {
        use Coding::*;
        let pick = |accept: &[&str]| Coding::negotiate(accept.iter().copied(), true, true);
        // No header, or nothing we have: identity.
        assert_eq!(pick(&[]), Identity);
        assert_eq!(pick(&[""]), Identity);
        assert_eq!(pick(&["identity"]), Identity);
        assert_eq!(pick(&["deflate, zstd"]), Identity);
        // Chromium, Firefox; curl --compressed; a gzip-only client.
        assert_eq!(pick(&["gzip, deflate, br, zstd"]), Br);
        assert_eq!(pick(&["gzip, deflate, br"]), Br);
        assert_eq!(pick(&["deflate, gzip"]), Gzip);
        assert_eq!(pick(&["GZIP"]), Gzip);
        assert_eq!(pick(&["x-gzip"]), Gzip);
        // q-values: the highest wins, 0 refuses, a tie goes to brotli.
        assert_eq!(pick(&["gzip;q=1.0, br;q=0.5"]), Gzip);
        assert_eq!(pick(&["gzip;q=0.8, br;q=0.8"]), Br);
        assert_eq!(pick(&["br;q=0, gzip"]), Gzip);
        assert_eq!(pick(&["br; q=0.000, gzip; Q=0"]), Identity);
        assert_eq!(pick(&["br;q=0.001"]), Br);
        // `*` stands for what is not named.
        assert_eq!(pick(&["*"]), Br);
        assert_eq!(pick(&["br;q=0, *"]), Gzip);
        assert_eq!(pick(&["*;q=0"]), Identity);
        assert_eq!(pick(&["gzip, *;q=0"]), Gzip);
        // A bad q-value makes its coding unacceptable; several header lines are one list.
        assert_eq!(pick(&["br;q=2, gzip;q=0.5"]), Gzip);
        assert_eq!(pick(&["br;q=0.0001"]), Identity);
        assert_eq!(pick(&["br;q=-1"]), Identity);
        assert_eq!(pick(&["gzip", "br"]), Br);
        // Only the copies there are.
        assert_eq!(Coding::negotiate(["br, gzip"], false, true), Gzip);
        assert_eq!(Coding::negotiate(["br"], false, true), Identity);
        assert_eq!(Coding::negotiate(["br, gzip"], false, false), Identity);
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
