//! The API Gateway HTTP API payload format 2.0: building the request event and reading the
//! function's response.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value as Json, json};

use crate::template::{LOCAL_ACCOUNT_ID, LOCAL_API_ID};

/// Hop-by-hop headers: they describe the client's connection to the gateway, not the request,
/// so API Gateway does not pass them on (and does not take them from responses).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Everything the event is built from.
#[derive(Debug, Clone)]
pub struct RequestInfo<'a> {
    pub method: &'a str,
    /// Path as received (percent-encoded).
    pub path: &'a str,
    /// Query string as received, without `?` (empty if none).
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// TCP peer of the client connection.
    pub peer: SocketAddr,
    /// Address the gateway listens on (for `host` and `x-forwarded-port`).
    pub local: SocketAddr,
    pub route_key: &'a str,
    pub path_parameters: &'a BTreeMap<String, String>,
    pub request_id: &'a str,
    pub time: DateTime<Utc>,
    /// e.g. `HTTP/1.1`.
    pub protocol: &'a str,
}

/// Builds the payload format 2.0 event exactly as API Gateway lays it out: lower-case header
/// names, repeated headers and query parameters comma-joined, cookies split out of the `cookie`
/// header, optional fields left out when empty, and `sourceIp` from the TCP peer only.
pub fn build_event(req: &RequestInfo<'_>) -> Json {
    let source_ip = canonical_ip(req.peer.ip()).to_string();

    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in req.headers {
        let name = name.as_str();
        let value = header_text(value);
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        if HOP_BY_HOP.contains(&name) {
            continue;
        }
        headers
            .entry(name.to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    // The gateway's own headers, like API Gateway adds them.
    let host = headers
        .get("host")
        .filter(|h| h.parse::<http::uri::Authority>().is_ok())
        .cloned()
        // lambda_http builds the request URL from `host`; an unparsable one would break it,
        // and API Gateway always sends its own domain here anyway.
        .unwrap_or_else(|| req.local.to_string());
    headers.insert("host".into(), host.clone());
    let xff = match headers.get("x-forwarded-for") {
        Some(v) => format!("{v}, {source_ip}"),
        None => source_ip.clone(),
    };
    headers.insert("x-forwarded-for".into(), xff);
    headers.insert("x-forwarded-port".into(), req.local.port().to_string());
    headers.insert("x-forwarded-proto".into(), "http".into());
    headers
        .entry("x-amzn-trace-id".into())
        .or_insert_with(|| amzn_trace_id(req.time));
    if !req.body.is_empty() || headers.contains_key("content-length") {
        headers.insert("content-length".into(), req.body.len().to_string());
    }

    // HTTP APIs hand over the path decoded (keeping it raw when it does not decode to UTF-8).
    let path = percent_encoding::percent_decode_str(req.path)
        .decode_utf8()
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| req.path.to_string());
    let domain_name = host_without_port(&host);
    let domain_prefix = if domain_name.parse::<IpAddr>().is_ok() {
        domain_name.clone()
    } else {
        domain_name
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string()
    };

    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(req.route_key));
    event.insert("rawPath".into(), json!(path));
    event.insert("rawQueryString".into(), json!(req.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), json!(headers));
    let query = query_parameters(req.raw_query);
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    if !req.path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(req.path_parameters));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": req.method,
                "path": path,
                "protocol": req.protocol,
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": req.request_id,
            "routeKey": req.route_key,
            "stage": "$default",
            "time": req.time.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": req.time.timestamp_millis(),
        }),
    );
    let base64 = !req.body.is_empty()
        && (!is_textual(headers.get("content-type").map(String::as_str))
            || std::str::from_utf8(req.body).is_err());
    if !req.body.is_empty() {
        let body = if base64 {
            B64.encode(req.body)
        } else {
            String::from_utf8_lossy(req.body).into_owned()
        };
        event.insert("body".into(), json!(body));
    }
    event.insert("isBase64Encoded".into(), json!(base64));
    Json::Object(event)
}

/// `::ffff:1.2.3.4` → `1.2.3.4`, as a client on a dual-stack socket is reported.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn header_text(v: &HeaderValue) -> String {
    match v.to_str() {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
    }
}

fn host_without_port(host: &str) -> String {
    match host.parse::<http::uri::Authority>() {
        Ok(a) => a
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        Err(_) => host.to_string(),
    }
}

/// `Root=1-<epoch hex>-<96 random bits>`.
fn amzn_trace_id(time: DateTime<Utc>) -> String {
    let r: [u8; 12] = rand::random();
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    format!("Root=1-{:08x}-{hex}", time.timestamp())
}

/// Decoded query parameters, repeated names comma-joined.
pub fn query_parameters(raw: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k);
        let v = decode(v);
        out.entry(k)
            .and_modify(|x| {
                x.push(',');
                x.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether API Gateway passes a body of this content type as text (else base64).
pub fn is_textual(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || media.ends_with("+json")
        || media.ends_with("+xml")
        || matches!(
            media.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/ecmascript"
                | "application/x-javascript"
                | "application/graphql"
                | "application/yaml"
                | "application/x-yaml"
        )
}

/// A function's response, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// Reads a payload format 2.0 response. A JSON value without `statusCode` is taken as the body of
/// a 200 `application/json` response, as API Gateway does; anything else malformed is an error
/// (API Gateway answers those with 500).
pub fn parse_response(payload: &[u8]) -> Result<HttpResponse, String> {
    let value: Json =
        serde_json::from_slice(payload).map_err(|e| format!("response is not JSON: {e}"))?;
    let Some(obj) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Ok(HttpResponse {
            status: StatusCode::OK,
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: Bytes::copy_from_slice(payload),
        });
    };

    let status = match &obj["statusCode"] {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|c| u16::try_from(c).ok())
    .filter(|c| (100..=599).contains(c))
    .and_then(|c| StatusCode::from_u16(c).ok())
    .ok_or_else(|| format!("invalid statusCode {}", obj["statusCode"]))?;

    let mut headers = Vec::new();
    let mut add = |name: &str, value: &str| -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&name.as_str()) || name == "content-length" {
            return Ok(());
        }
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let v =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value of header {name}"))?;
        headers.push((n, v));
        Ok(())
    };
    let scalar = |v: &Json| -> Option<String> {
        match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    // `headers` holds one value per name (null: none), `multiValueHeaders` a list per name.
    for (field, multi) in [("headers", false), ("multiValueHeaders", true)] {
        match obj.get(field) {
            None | Some(Json::Null) => {}
            Some(Json::Object(h)) => {
                for (k, v) in h {
                    let values = match v {
                        _ if multi => v
                            .as_array()
                            .ok_or_else(|| format!("{field}.{k} is not a list"))?
                            .as_slice(),
                        Json::Null => continue,
                        _ => std::slice::from_ref(v),
                    };
                    for v in values {
                        let v = scalar(v).ok_or_else(|| format!("header {k} is not a string"))?;
                        add(k, &v)?;
                    }
                }
            }
            Some(_) => return Err(format!("{field} is not an object")),
        }
    }
    match obj.get("cookies") {
        None | Some(Json::Null) => {}
        Some(Json::Array(cs)) => {
            for c in cs {
                let c = c.as_str().ok_or("cookies holds a non-string")?;
                add("set-cookie", c)?;
            }
        }
        Some(_) => return Err("cookies is not a list".into()),
    }
    let base64 = match obj.get("isBase64Encoded") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err("isBase64Encoded is not a boolean".into()),
    };
    let body = match obj.get("body") {
        None | Some(Json::Null) => Bytes::new(),
        Some(Json::String(s)) if base64 => B64
            .decode(s)
            .map(Bytes::from)
            .map_err(|e| format!("body is not valid base64: {e}"))?,
        Some(Json::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err("body is not a string".into()),
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::router::path_params;
    use chrono::TimeZone;
    use lambda_http::RequestExt;
    use lambda_http::request::{LambdaRequest, RequestContext};

    fn sample_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:3000"));
        h.insert("user-agent", HeaderValue::from_static("curl/8.0"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.append("x-multi", HeaderValue::from_static("a"));
        h.append("x-multi", HeaderValue::from_static("b"));
        h.insert("X-Forwarded-For", HeaderValue::from_static("6.6.6.6"));
        h.append("cookie", HeaderValue::from_static("a=1; b=2"));
        h.append("cookie", HeaderValue::from_static("c=3"));
        h.insert("connection", HeaderValue::from_static("keep-alive"));
        h
    }

    fn event_for(
        headers: &HeaderMap,
        body: &[u8],
        params: &BTreeMap<String, String>,
        path: &str,
        query: &str,
    ) -> Json {
        build_event(&RequestInfo {
            method: "PATCH",
            path,
            raw_query: query,
            headers,
            body,
            peer: "10.1.2.3:45678".parse().unwrap(),
            local: "127.0.0.1:3000".parse().unwrap(),
            route_key: "PATCH /api/roadmaps/{id}/steps/{step_id}",
            path_parameters: params,
            request_id: "Abcdefghijklmno=",
            time: Utc.with_ymd_and_hms(2020, 4, 21, 15, 8, 21).unwrap(),
            protocol: "HTTP/1.1",
        })
    }

    /// The event of the sample request (PATCH /api/roadmaps/12/steps/34) with `query`.
    fn sample_event(query: &str) -> Json {
        event_for(
            &sample_headers(),
            br#"{"done":true}"#,
            &params(),
            "/api/roadmaps/12/steps/34",
            query,
        )
    }

    fn params() -> BTreeMap<String, String> {
        path_params(&[("id", "12"), ("step_id", "34")])
    }

    #[test]
    fn event_layout() {
        let e = sample_event("a=1&b=x%20y&a=2&flag");
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "PATCH /api/roadmaps/{id}/steps/{step_id}");
        assert_eq!(e["rawPath"], "/api/roadmaps/12/steps/34");
        assert_eq!(e["rawQueryString"], "a=1&b=x%20y&a=2&flag");
        assert_eq!(e["cookies"], json!(["a=1", "b=2", "c=3"]));
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert!(e["headers"].get("connection").is_none());
        assert_eq!(e["headers"]["x-forwarded-for"], "6.6.6.6, 10.1.2.3");
        assert_eq!(e["headers"]["content-length"], "13");
        assert_eq!(
            e["queryStringParameters"],
            json!({"a": "1,2", "b": "x y", "flag": ""})
        );
        assert_eq!(e["pathParameters"], json!({"id": "12", "step_id": "34"}));
        let rc = &e["requestContext"];
        assert_eq!(rc["http"]["sourceIp"], "10.1.2.3");
        assert_eq!(rc["http"]["method"], "PATCH");
        assert_eq!(rc["http"]["userAgent"], "curl/8.0");
        assert_eq!(rc["stage"], "$default");
        assert_eq!(rc["time"], "21/Apr/2020:15:08:21 +0000");
        assert_eq!(rc["timeEpoch"], 1587481701000i64);
        assert_eq!(rc["domainName"], "127.0.0.1");
        assert_eq!(e["body"], r#"{"done":true}"#);
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn optional_fields_left_out() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("bad host"));
        let e = event_for(&h, b"", &BTreeMap::new(), "/", "");
        let o = e.as_object().unwrap();
        for k in ["cookies", "queryStringParameters", "pathParameters", "body"] {
            assert!(!o.contains_key(k), "{k}");
        }
        assert_eq!(e["rawQueryString"], "");
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(e["headers"]["host"], "127.0.0.1:3000");
        assert!(e["headers"].get("content-length").is_none());
    }

    #[test]
    fn binary_and_untyped_bodies_are_base64() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let e = event_for(&h, &[0xff, 0xfe], &BTreeMap::new(), "/", "");
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "//4=");
        let e = event_for(&HeaderMap::new(), b"hello", &BTreeMap::new(), "/", "");
        assert_eq!(e["isBase64Encoded"], true);
        h.insert("content-type", HeaderValue::from_static("image/png"));
        let e = event_for(&h, b"hello", &BTreeMap::new(), "/", "");
        assert_eq!(e["isBase64Encoded"], true);
        h.insert(
            "content-type",
            HeaderValue::from_static("application/problem+json; charset=utf-8"),
        );
        let e = event_for(&h, b"{}", &BTreeMap::new(), "/", "");
        assert_eq!(e["isBase64Encoded"], false);
    }

    /// The event must be what the real functions' runtime (lambda_http) understands.
    #[test]
    fn lambda_http_reads_the_event() {
        let e = sample_event("a=1&b=x%20y&a=2");
        let lr: LambdaRequest = serde_json::from_value(e).unwrap();
        assert!(matches!(lr, LambdaRequest::ApiGatewayV2(_)));
        let req: lambda_http::Request = lr.into();
        assert_eq!(req.method(), http::Method::PATCH);
        assert_eq!(req.uri().path(), "/api/roadmaps/12/steps/34");
        assert_eq!(req.raw_http_path(), "/api/roadmaps/12/steps/34");
        let pp = req.path_parameters();
        assert_eq!(pp.first("id"), Some("12"));
        assert_eq!(pp.first("step_id"), Some("34"));
        let q = req.query_string_parameters();
        assert_eq!(q.all("a"), Some(vec!["1", "2"]));
        assert_eq!(q.first("b"), Some("x y"));
        assert_eq!(req.headers()["x-multi"], "a,b");
        assert_eq!(req.headers()["content-type"], "application/json");
        assert_eq!(req.headers()["cookie"], "a=1; b=2; c=3");
        match req.body() {
            lambda_http::Body::Text(t) => assert_eq!(t, r#"{"done":true}"#),
            other => panic!("unexpected body {other:?}"),
        }
        match req.request_context() {
            RequestContext::ApiGatewayV2(ctx) => {
                assert_eq!(ctx.http.source_ip.as_deref(), Some("10.1.2.3"));
                assert_eq!(ctx.request_id.as_deref(), Some("Abcdefghijklmno="));
                assert_eq!(ctx.stage.as_deref(), Some("$default"));
            }
            other => panic!("unexpected context {other:?}"),
        }
    }

    #[test]
    fn lambda_http_reads_binary_event() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/octet-stream"),
        );
        let e = event_for(&h, &[0, 1, 2, 255], &BTreeMap::new(), "/a%20b", "");
        assert_eq!(e["rawPath"], "/a b");
        let lr: LambdaRequest = serde_json::from_value(e).unwrap();
        let req: lambda_http::Request = lr.into();
        assert_eq!(req.uri().path(), "/a%20b");
        match req.body() {
            lambda_http::Body::Binary(b) => assert_eq!(b, &[0, 1, 2, 255]),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn response_from_lambda_http_shape() {
        let r = parse_response(
            br#"{"statusCode":201,"headers":{"content-type":"application/json","x-request-id":"r1"},"multiValueHeaders":{"x-two":["1","2"]},"body":"{\"a\":1}","isBase64Encoded":false,"cookies":["s=1; HttpOnly","t=2"]}"#,
        )
        .unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body, Bytes::from_static(br#"{"a":1}"#));
        let get = |n: &str| -> Vec<&str> {
            r.headers
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap())
                .collect()
        };
        assert_eq!(get("content-type"), vec!["application/json"]);
        assert_eq!(get("x-two"), vec!["1", "2"]);
        assert_eq!(get("set-cookie"), vec!["s=1; HttpOnly", "t=2"]);
    }

    #[test]
    fn response_variants() {
        let r = parse_response(br#"{"statusCode":204}"#).unwrap();
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.body.is_empty());
        let r =
            parse_response(br#"{"statusCode":200,"body":"AAE=","isBase64Encoded":true}"#).unwrap();
        assert_eq!(r.body, Bytes::from_static(&[0, 1]));
        // No statusCode: the JSON itself is the body.
        let r = parse_response(br#"{"hello":"world"}"#).unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, Bytes::from_static(br#"{"hello":"world"}"#));
        // Transfer headers from the function are dropped.
        let r = parse_response(
            br#"{"statusCode":200,"headers":{"content-length":"999","connection":"close"}}"#,
        )
        .unwrap();
        assert!(r.headers.is_empty());
    }

    #[test]
    fn malformed_responses() {
        for bad in [
            &b"not json"[..],
            br#"{"statusCode":"abc"}"#,
            br#"{"statusCode":42}"#,
            br#"{"statusCode":700}"#,
            br#"{"statusCode":200,"body":{"a":1}}"#,
            br#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#,
            br#"{"statusCode":200,"headers":{"bad name":"x"}}"#,
            br#"{"statusCode":200,"headers":{"x":"a\nb"}}"#,
            br#"{"statusCode":200,"headers":[]}"#,
            br#"{"statusCode":200,"cookies":"a=1"}"#,
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
