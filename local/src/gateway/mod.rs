//! The API Gateway (HTTP API) stand-in: HTTP/1.1 server, route selection, throttling, payload
//! format 2.0 events, and the error answers API Gateway itself gives.

pub mod cors;
pub mod event;
pub mod router;
pub mod throttle;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::lambda_service::{InvokeError, InvokeOptions, LambdaService, MAX_PAYLOAD_BYTES};
use crate::template::Template;
use cors::CorsPolicy;
use event::RequestInfo;
use router::{RouteMatch, Router};
use throttle::Throttles;

/// HTTP API's limit on request payloads.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// HTTP API's longest integration timeout.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway: routes, throttles and the Lambda service behind them.
pub struct Gateway {
    router: Router,
    throttles: Throttles,
    lambda: Arc<LambdaService>,
    integration_timeout: Duration,
    /// The API's `CorsConfiguration`, if any.
    cors: Option<CorsPolicy>,
}

impl Gateway {
    /// Routes and throttling from the template, functions from `lambda`.
    pub fn new(template: &Template, lambda: Arc<LambdaService>) -> Self {
        let router = Router::new(&template.routes());
        let throttles = Throttles::new(&router.route_keys(), |k| template.throttle_for(k));
        Self {
            router,
            throttles,
            lambda,
            integration_timeout: INTEGRATION_TIMEOUT,
            cors: template.http_api.cors.clone().map(CorsPolicy::new),
        }
    }

    /// Answers one request. Never panics on bad input: every failure is an HTTP answer.
    pub async fn handle<B>(
        &self,
        req: Request<B>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = new_request_id();
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let origin = cors::origin(req.headers()).map(str::to_string);
        let (function, mut res) = match &self.cors {
            // With CORS configured, API Gateway answers preflights itself, before routing
            // and throttling.
            Some(cors) if CorsPolicy::is_preflight(req.method(), req.headers()) => {
                (None, cors.preflight(req.headers()))
            }
            _ => {
                let route = self.router.route(&method, &path);
                let function = route.as_ref().map(|r| r.function.clone());
                let mut res = match route {
                    Some(route) => self.dispatch(req, route, peer, local, &request_id).await,
                    None => message(StatusCode::NOT_FOUND, "Not Found"),
                };
                if let Some(cors) = &self.cors {
                    cors.apply(origin.as_deref(), &mut res);
                }
                (function, res)
            }
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut().insert("apigw-requestid", v);
        }
        tracing::info!(
            target: "access",
            "{method} {path} {} {} {}ms {request_id}",
            res.status().as_u16(),
            function.as_deref().unwrap_or("-"),
            started.elapsed().as_millis()
        );
        res
    }

    async fn dispatch<B>(
        &self,
        req: Request<B>,
        route: RouteMatch,
        peer: SocketAddr,
        local: SocketAddr,
        request_id: &str,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // API Gateway throttles before anything else reaches the integration.
        if !self.throttles.allow(&route.route_key) {
            return message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        let (parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
            }
            Err(e) => {
                tracing::debug!("cannot read request body: {e}");
                return message(StatusCode::BAD_REQUEST, "Bad Request");
            }
        };
        let protocol = format!("{:?}", parts.version);
        let event = event::build_event(&RequestInfo {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            body: &body,
            peer,
            local,
            route_key: &route.route_key,
            path_parameters: &route.path_parameters,
            request_id,
            time: chrono::Utc::now(),
            protocol: &protocol,
        });
        let payload = Bytes::from(event.to_string());
        if payload.len() > MAX_PAYLOAD_BYTES {
            // Lambda refuses synchronous payloads over 6 MB.
            return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        let trace_root = event["headers"]["x-amzn-trace-id"]
            .as_str()
            .and_then(|t| {
                t.split(';')
                    .find_map(|part| part.trim().strip_prefix("Root="))
            })
            .map(str::to_string);
        let invocation =
            self.lambda
                .invoke_with(&route.function, payload, InvokeOptions { trace_root });
        let output = match tokio::time::timeout(self.integration_timeout, invocation).await {
            Err(_) => {
                tracing::warn!(
                    "{}: no response within the {:?} integration timeout",
                    route.function,
                    self.integration_timeout
                );
                return message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
            }
            Ok(Err(e)) => {
                tracing::warn!("{e}");
                return match e {
                    InvokeError::Timeout { .. } | InvokeError::ShuttingDown => {
                        message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                    }
                    _ => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
                };
            }
            Ok(Ok(output)) => output,
        };
        match event::parse_response(&output.payload) {
            Ok(r) => {
                let mut res = Response::new(Full::new(r.body));
                *res.status_mut() = r.status;
                for (k, v) in r.headers {
                    res.headers_mut().append(k, v);
                }
                res
            }
            Err(why) => {
                tracing::warn!("{}: malformed response: {why}", route.function);
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

/// API Gateway's own answers: `{"message": ...}` as JSON.
fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "message": text }).to_string();
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// A request id shaped like API Gateway's (`LV7fzho-PHcEJPw=`).
fn new_request_id() -> String {
    let r: [u8; 11] = rand::random();
    base64::engine::general_purpose::URL_SAFE.encode(r)
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes, then lets in-flight requests finish
/// (for a few seconds at most).
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = crate::net::accept(&listener, "gateway") => accepted,
        };
        let _ = stream.set_nodelay(true);
        let gw = gateway.clone();
        let svc = service_fn(move |req| {
            let gw = gw.clone();
            async move {
                // A bug must cost one request a 500, not the connection or the server.
                let res = std::panic::AssertUnwindSafe(gw.handle(req, peer, local))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        tracing::error!("request handler panicked");
                        message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                    });
                Ok::<_, Infallible>(res)
            }
        });
        let conn = http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open at shutdown");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda_service::RuntimeOptions;
    use std::collections::BTreeMap;

    const TEMPLATE: &str = include_str!("testdata/gateway.yaml");

    fn gateway(dir: &std::path::Path) -> Gateway {
        let t = Template::parse(TEMPLATE).unwrap();
        let ctx = crate::template::LocalContext {
            aws_endpoint: "http://127.0.0.1:1".into(),
            redis_url: "redis://127.0.0.1:1".into(),
            cache_ca: None,
        };
        let fns = crate::lambda_service::functions_from_template(&t, &ctx, dir);
        let lambda = LambdaService::new(
            fns,
            RuntimeOptions {
                max_instances: 1,
                logs_dir: dir.join("logs"),
                aws_endpoint: ctx.aws_endpoint.clone(),
                overrides: BTreeMap::new(),
                init_timeout: Duration::from_secs(1),
                faults: None,
            },
        )
        .unwrap();
        Gateway::new(&t, Arc::new(lambda))
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:3000".parse().unwrap()
    }

    /// A `GET` through the gateway's handler, from and to the same address.
    async fn get(gw: &Gateway, path: &str) -> Response<Full<Bytes>> {
        let req = Request::get(path).body(Full::new(Bytes::new())).unwrap();
        gw.handle(req, addr(), addr()).await
    }

    async fn body_json(res: Response<Full<Bytes>>) -> serde_json::Value {
        let b = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&b).unwrap()
    }

    #[tokio::test]
    async fn gateway_errors() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        // No route and no $default.
        let res = get(&gw, "/nope").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers().contains_key("apigw-requestid"));
        // First request passes throttling but the binary is missing: 500.
        let res = get(&gw, "/limited").await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(body_json(res).await["message"], "Internal Server Error");
        // Burst of 1, no refill: throttled.
        let res = get(&gw, "/limited").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(
            body_json(res).await,
            serde_json::json!({"message": "Too Many Requests"})
        );
        // Over 10 MB: 413, without a declared length too.
        let big = Bytes::from(vec![b'a'; MAX_REQUEST_BYTES + 1]);
        let res = gw
            .handle(
                Request::post("/upload").body(Full::new(big)).unwrap(),
                addr(),
                addr(),
            )
            .await;
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body_json(res).await["message"], "Request Entity Too Large");
    }

    #[tokio::test]
    async fn cors_preflights_and_headers_come_from_the_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path());
        let send = |method: &str, path: &str, headers: &[(&str, &str)]| {
            let mut b = Request::builder().method(method).uri(path);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            gw.handle(b.body(Full::new(Bytes::new())).unwrap(), addr(), addr())
        };
        // A preflight for a route with no OPTIONS route never reaches routing or a function.
        let res = send(
            "OPTIONS",
            "/thing",
            &[
                ("origin", "http://localhost:5173"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization"),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "http://localhost:5173"
        );
        assert_eq!(res.headers()["access-control-allow-methods"], "GET,POST");
        assert_eq!(res.headers()["access-control-max-age"], "300");
        // The gateway's own answers carry the headers for an allowed origin...
        let res = send("GET", "/nope", &[("origin", "https://app.example.org")]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://app.example.org"
        );
        assert_eq!(
            res.headers()["access-control-expose-headers"],
            "x-request-id"
        );
        // ...and none for another origin, or without one.
        for headers in [&[("origin", "https://evil.test")][..], &[][..]] {
            let res = send("GET", "/nope", headers).await;
            assert!(!res.headers().contains_key("access-control-allow-origin"));
        }
        let res = send(
            "OPTIONS",
            "/thing",
            &[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(!res.headers().contains_key("access-control-allow-origin"));

        // With the condition false there is no CORS: OPTIONS is routed like any request.
        let off = Template::parse(&TEMPLATE.replace(
            r#"Default: "https://app.example.org,http://localhost:5173""#,
            r#"Default: """#,
        ))
        .unwrap();
        assert_eq!(off.http_api.cors, None);
    }

    #[test]
    fn request_ids_look_like_api_gateway() {
        let id = new_request_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
    }
}
