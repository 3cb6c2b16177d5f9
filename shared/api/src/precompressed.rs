//! Answers compiled in with a brotli and a gzip copy made at build time (`build.rs`): the API
//! reference's page and files (`handlers/docs.rs`) and the OpenAPI document (`handlers/ops.rs`),
//! which API Gateway's HTTP APIs would send as they are (they never compress). Each request
//! gets the copy its `Accept-Encoding` accepts ([`Coding::negotiate`]), with
//! `Content-Encoding` and `Vary: Accept-Encoding` ([`Precompressed::answer`]).

use http::{HeaderValue, header};
use lambda_http::{Body, Request};

use crate::app::{App, Ctx};
use crate::error::ApiResult;
use crate::extract::FromRequest;

/// An answer's body as it is, and its copies made by `build.rs` (each only when smaller).
pub struct Precompressed {
    pub name: &'static str,
    pub br: Option<&'static [u8]>,
    pub gzip: Option<&'static [u8]>,
}

// `DOCS_UI`: the API reference's page (`index.html`) and files, as `handlers/docs.rs` serves
// them; `OPENAPI_JSON`: the OpenAPI document's copies.
include!(concat!(env!("OUT_DIR"), "/precompressed.rs"));

/// The OpenAPI document as JSON, converted from `openapi.yaml` by `build.rs`.
pub const OPENAPI_JSON_TEXT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

impl Precompressed {
    /// The body for a request accepting `accept`, given the answer as it is (`plain`), and the
    /// headers that say what it is. Compressed bytes are binary: base64 to API Gateway, which
    /// decodes them on the way out.
    pub fn answer(
        &self,
        accept: &AcceptEncoding,
        plain: impl FnOnce() -> Body,
        response: http::response::Builder,
    ) -> (http::response::Builder, Body) {
        let coding = Coding::negotiate(
            accept.0.iter().map(String::as_str),
            self.br.is_some(),
            self.gzip.is_some(),
        );
        let body = match coding {
            Coding::Br => self.br.map(|b| Body::Binary(b.to_vec())),
            Coding::Gzip => self.gzip.map(|b| Body::Binary(b.to_vec())),
            Coding::Identity => None,
        };
        // Every answer, the plain one too: a cache must not give one client's copy to another
        // that asked otherwise.
        let mut response = response.header(header::VARY, "Accept-Encoding");
        if let Some(encoding) = coding.header() {
            response =
                response.header(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        (response, body.unwrap_or_else(plain))
    }
}

/// A content coding an answer can be sent in.
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
    /// coding unacceptable. Written here, not taken from a crate: tower-http's negotiation is
    /// private to its compression layer and `headers` 0.4 has no `Accept-Encoding`; the
    /// `Accept-Language` crate the locale uses does not parse codings.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn decompressed(coding: Coding, bytes: &[u8]) -> Vec<u8> {
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
    fn the_openapi_documents_copies_are_the_yaml_as_json() {
        let yaml: serde_json::Value =
            serde_yaml_ng::from_str(include_str!("../openapi.yaml")).unwrap();
        let json: serde_json::Value = serde_json::from_str(OPENAPI_JSON_TEXT).unwrap();
        assert_eq!(json, yaml);
        let (br, gzip) = (OPENAPI_JSON.br.unwrap(), OPENAPI_JSON.gzip.unwrap());
        assert_eq!(decompressed(Coding::Br, br), OPENAPI_JSON_TEXT.as_bytes());
        assert_eq!(
            decompressed(Coding::Gzip, gzip),
            OPENAPI_JSON_TEXT.as_bytes()
        );
        assert!(
            br.len() * 5 < OPENAPI_JSON_TEXT.len(),
            "{} of {}",
            br.len(),
            OPENAPI_JSON_TEXT.len()
        );
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
}
