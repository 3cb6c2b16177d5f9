//! The Lambda Runtime API of one instance: `GET invocation/next` hands out the next event,
//! `POST invocation/{id}/response|error` and `POST init/error` take the outcome back (with the
//! profile's `crash_mid` and `timeout` faults injected there).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::invocation::{InvokeError, MAX_PAYLOAD_BYTES};
use super::lock::lock;
use crate::faults::{LambdaFault, LambdaFaultPlan};

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime/";

/// An event on its way to the instance, and where its outcome goes.
pub(super) struct Invocation {
    pub(super) request_id: String,
    pub(super) payload: Bytes,
    pub(super) timeout: Duration,
    pub(super) trace_id: String,
    /// Injected when the runtime posts the outcome.
    pub(super) fault: Option<ResponseFault>,
    /// Told the deadline once the runtime has taken the event.
    pub(super) picked: oneshot::Sender<Instant>,
    pub(super) result: oneshot::Sender<Result<Bytes, InvokeError>>,
}

/// The invocation an instance is working on.
pub(super) struct InFlight {
    request_id: String,
    timeout: Duration,
    fault: Option<ResponseFault>,
    result: oneshot::Sender<Result<Bytes, InvokeError>>,
}

/// A fault injected when the runtime posts an invocation's outcome (response or error): the
/// handler has done its work, the caller does not get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResponseFault {
    CrashMid,
    Timeout,
}

/// The Runtime API of one instance.
pub(super) struct RuntimeApi {
    pub(super) function: String,
    /// Kills this instance's process with SIGKILL (the `crash_mid` fault).
    pub(super) kill: Box<dyn Fn() + Send + Sync>,
    pub(super) faults: Option<Arc<LambdaFaultPlan>>,
    pub(super) function_arn: String,
    pub(super) events: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pub(super) current: Mutex<Option<InFlight>>,
    pub(super) init_error: Mutex<Option<String>>,
    /// When the runtime first asked for an event: the end of its init phase.
    pub(super) first_poll: std::sync::OnceLock<Instant>,
    /// Whether the runtime is waiting in `GET invocation/next`: where Lambda freezes an
    /// instance, so what it does between posting a response and asking again is the
    /// invocation's cost (benchmarks wait for it before reading the process's CPU time).
    pub(super) parked: watch::Sender<bool>,
    pub(super) dead: watch::Receiver<bool>,
}

/// Serves the Runtime API on `listener` until the task is aborted (when the instance exits).
pub(super) async fn serve_runtime_api(listener: TcpListener, api: Arc<RuntimeApi>) {
    loop {
        let (stream, _) = crate::net::accept(&listener, "runtime API").await;
        let api = api.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let api = api.clone();
                async move { Ok::<_, Infallible>(api.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

type ApiResponse = Response<Full<Bytes>>;

fn api_response(status: StatusCode, body: serde_json::Value) -> ApiResponse {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> ApiResponse {
    api_response(
        status,
        serde_json::json!({"errorType": error_type, "errorMessage": message}),
    )
}

impl RuntimeApi {
    async fn handle(&self, req: Request<Incoming>) -> ApiResponse {
        let path = req.uri().path().to_string();
        let Some(rest) = path.strip_prefix(RUNTIME_PREFIX) else {
            return api_error(StatusCode::NOT_FOUND, "NotFound", "unknown path");
        };
        let method = req.method().clone();
        match (method, rest) {
            (Method::GET, "invocation/next") => {
                let _ = self.first_poll.set(Instant::now());
                self.parked.send_replace(true);
                let event = self.next().await;
                self.parked.send_replace(false);
                event
            }
            (Method::POST, "init/error") => {
                let body = read_body(req.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                let reason = describe_error(&body);
                tracing::warn!("{}: init error: {reason}", self.function);
                *lock(&self.init_error) = Some(reason);
                api_response(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
            }
            (Method::POST, r) if r.starts_with("invocation/") => {
                let r = &r["invocation/".len()..];
                if let Some(id) = r.strip_suffix("/response") {
                    let id = id.to_string();
                    match read_body(req.into_body(), MAX_PAYLOAD_BYTES).await {
                        Some(body) => self.complete(&id, Ok(body)),
                        None => {
                            self.complete(
                                &id,
                                Err(InvokeError::ResponseTooLarge {
                                    function: self.function.clone(),
                                }),
                            );
                            api_error(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "RequestEntityTooLarge",
                                "response payload too large",
                            )
                        }
                    }
                } else if let Some(id) = r.strip_suffix("/error") {
                    let id = id.to_string();
                    let header_type = req
                        .headers()
                        .get("lambda-runtime-function-error-type")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = read_body(req.into_body(), MAX_PAYLOAD_BYTES)
                        .await
                        .unwrap_or_default();
                    let (error_type, message) = parse_error(&body, header_type);
                    tracing::warn!(
                        "{}: invocation {id} failed: {error_type}: {message}",
                        self.function
                    );
                    self.complete(
                        &id,
                        Err(InvokeError::Function {
                            function: self.function.clone(),
                            error_type,
                            message,
                        }),
                    )
                } else {
                    api_error(StatusCode::NOT_FOUND, "NotFound", "unknown path")
                }
            }
            _ => api_error(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
        }
    }

    /// Long-polls for the next event.
    async fn next(&self) -> ApiResponse {
        let mut events = self.events.lock().await;
        let mut dead = self.dead.clone();
        loop {
            let invocation = tokio::select! {
                inv = events.recv() => inv,
                _ = dead.wait_for(|d| *d) => None,
            };
            let Some(inv) = invocation else {
                return api_error(
                    StatusCode::GONE,
                    "ShuttingDown",
                    "execution environment is stopping",
                );
            };
            let deadline = Instant::now() + inv.timeout;
            let deadline_ms = (SystemTime::now() + inv.timeout)
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            // The invoker may have given up meanwhile; then this event is not delivered.
            if inv.picked.send(deadline).is_err() {
                continue;
            }
            *lock(&self.current) = Some(InFlight {
                request_id: inv.request_id.clone(),
                timeout: inv.timeout,
                fault: inv.fault,
                result: inv.result,
            });
            let mut res = Response::new(Full::new(inv.payload));
            let h = res.headers_mut();
            let mut set = |name: &'static str, value: &str| {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    h.insert(name, v);
                }
            };
            set("content-type", "application/json");
            set("lambda-runtime-aws-request-id", &inv.request_id);
            set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
            set("lambda-runtime-invoked-function-arn", &self.function_arn);
            set("lambda-runtime-trace-id", &inv.trace_id);
            return res;
        }
    }

    fn complete(&self, request_id: &str, result: Result<Bytes, InvokeError>) -> ApiResponse {
        let inflight = lock(&self.current).take_if(|c| c.request_id == request_id);
        match inflight {
            Some(c) => {
                let result = match c.fault {
                    Some(fault) => self.inject(fault, request_id, c.timeout),
                    None => result,
                };
                let _ = c.result.send(result);
                api_response(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
            }
            None => api_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "unknown or already completed request id",
            ),
        }
    }
}

impl RuntimeApi {
    /// What the invoker gets instead of the outcome the runtime posted.
    fn inject(
        &self,
        fault: ResponseFault,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Bytes, InvokeError> {
        let function = self.function.clone();
        match fault {
            ResponseFault::CrashMid => {
                tracing::warn!(
                    "{function}: fault crash_mid: killing the instance before delivering the \
                     outcome of {request_id}"
                );
                if let Some(f) = &self.faults {
                    f.record(LambdaFault::CrashMid, &function);
                }
                // SIGKILL, as a crash: no chance to flush or clean up.
                (self.kill)();
                Err(InvokeError::Crashed {
                    function,
                    reason: "killed by rota-local's crash_mid fault".into(),
                })
            }
            ResponseFault::Timeout => {
                tracing::warn!(
                    "{function}: fault timeout: discarding the outcome of {request_id}; the \
                     instance will be recycled"
                );
                if let Some(f) = &self.faults {
                    f.record(LambdaFault::Timeout, &function);
                }
                // Reported at once rather than after the full timeout (see faults.yaml); the
                // invoker recycles the instance as after any timeout.
                Err(InvokeError::Timeout {
                    function,
                    secs: timeout.as_secs_f64(),
                })
            }
        }
    }
}

/// Reads a body of at most `limit` bytes; `None` if larger or unreadable.
async fn read_body(body: Incoming, limit: usize) -> Option<Bytes> {
    Limited::new(body, limit)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

fn parse_error(body: &[u8], header_type: Option<String>) -> (String, String) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error_type = json
        .get("errorType")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or(header_type)
        .unwrap_or_else(|| "Unhandled".to_string());
    let message = json
        .get("errorMessage")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, message)
}

fn describe_error(body: &[u8]) -> String {
    let (t, m) = parse_error(body, None);
    format!("{t}: {m}")
}

/// The `Lambda-Runtime-Trace-Id` of an invocation: the caller's trace root (API Gateway's
/// `x-amzn-trace-id`, so both tell the same trace) or a new one, and a new parent segment.
pub(super) fn trace_header(root: Option<&str>) -> String {
    let r: [u8; 20] = rand::random();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let root = match root {
        Some(root) => root.to_string(),
        None => {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("1-{secs:08x}-{}", hex(&r[..12]))
        }
    };
    format!("Root={root};Parent={};Sampled=0", hex(&r[12..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runtime_errors() {
        let (t, m) = parse_error(br#"{"errorType":"Boom","errorMessage":"bad"}"#, None);
        assert_eq!((t.as_str(), m.as_str()), ("Boom", "bad"));
        let (t, m) = parse_error(b"plain", Some("Hdr".into()));
        assert_eq!((t.as_str(), m.as_str()), ("Hdr", "plain"));
    }

    #[test]
    fn trace_header_shape() {
        let h = trace_header(None);
        assert!(h.starts_with("Root=1-"));
        assert!(h.contains(";Parent=") && h.ends_with(";Sampled=0"));
        let h = trace_header(Some("1-5e9f0c65-1de4d666d4dd26aced652b6c"));
        assert!(h.starts_with("Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Parent="));
    }
}
