//! End to end through the real protocol: HTTP client → gateway → Runtime API → a real
//! `lambda_http` function process (`rota-local-echo`) and back. No AWS stand-in is needed.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{GatewayTask, lambda_service, runtime_options};
use rota_local::lambda_service::{LambdaService, RuntimeOptions};
use rota_local::template::Template;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEMPLATE: &str = include_str!("fixtures/echo_http.yaml");

struct Stack {
    addr: SocketAddr,
    lambda: Arc<LambdaService>,
    logs: PathBuf,
    _dir: tempfile::TempDir,
    gateway: GatewayTask,
}

impl Stack {
    async fn start(max_instances: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let template = Template::parse(TEMPLATE).unwrap();
        let logs = dir.path().join("logs");
        let lambda = Arc::new(lambda_service(
            &template,
            RuntimeOptions {
                overrides: BTreeMap::from([("EXTRA".to_string(), "override".to_string())]),
                ..runtime_options(&logs, max_instances)
            },
        ));
        let gateway = GatewayTask::start(&template, lambda.clone()).await;
        Stack {
            addr: gateway.addr,
            lambda,
            logs,
            _dir: dir,
            gateway,
        }
    }

    async fn stop(self) {
        self.gateway.stop().await;
        self.lambda.shutdown().await;
    }
}

/// An HTTP response as it came off the wire: status, headers (names lowercased), body.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
async fn call(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

async fn get(addr: SocketAddr, target: &str) -> RawResponse {
    call(addr, "GET", target, &[], b"").await
}

async fn read_log(path: &Path, needle: &str) -> String {
    // Lines are written as the function prints them; give the pipe a moment.
    for _ in 0..50 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{needle} not in {}", path.display());
}

#[tokio::test]
async fn request_roundtrip_through_a_real_function() {
    let stack = Stack::start(4).await;
    let r = call(
        stack.addr,
        "GET",
        "/echo/42?a=1&a=2&b=x%20y",
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("cookie", "c1=v1; c2=v2"),
            ("x-multi", "a"),
            ("x-multi", "b"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header_values("set-cookie"), vec!["a=1; Path=/", "b=2"]);
    assert_eq!(r.header_values("content-type"), vec!["application/json"]);
    assert_eq!(r.header_values("apigw-requestid").len(), 1);
    let e = r.json();
    assert_eq!(e["method"], "GET");
    assert_eq!(e["path"], "/echo/42");
    assert_eq!(e["path_params"]["id"], "42");
    assert_eq!(e["query"], "a=1&a=2&b=x%20y");
    assert_eq!(e["route_key"], "GET /echo/{id}");
    // The TCP peer, never the client's X-Forwarded-For.
    assert_eq!(e["source_ip"], "127.0.0.1");
    assert_eq!(e["headers"]["x-forwarded-for"], "6.6.6.6, 127.0.0.1");
    assert_eq!(e["headers"]["cookie"], "c1=v1; c2=v2");
    assert_eq!(e["headers"]["x-multi"], "a,b");
    let env = &e["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "EchoFunction");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:9");
    assert_eq!(env["TABLE_NAME"], "rota-test");
    assert_eq!(env["LOG_LEVEL"], "info");
    assert_eq!(env["EXTRA"], "override");
    // Lambda starts functions from a clean environment.
    assert_eq!(env["HOME"], Value::Null);

    // POST body, and the warm instance is reused.
    let r2 = call(
        stack.addr,
        "POST",
        "/echo",
        &[("content-type", "application/json")],
        br#"{"x":1}"#,
    )
    .await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.json()["body"], r#"{"x":1}"#);
    assert_eq!(r2.json()["pid"], e["pid"]);

    // Greedy route, unknown path and wrong method.
    let r = call(stack.addr, "PUT", "/any/a/b/c", &[], b"").await;
    assert_eq!(r.json()["path_params"]["proxy"], "a/b/c");
    for (m, p) in [
        ("GET", "/nope"),
        ("DELETE", "/echo/1"),
        ("GET", "/echo/1/x"),
    ] {
        let r = call(stack.addr, m, p, &[], b"").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["route_key"], "$default", "{m} {p}");
        assert_eq!(
            r.json()["env"]["AWS_LAMBDA_FUNCTION_NAME"],
            "DefaultFunction"
        );
    }

    // Function output, unchanged, in <logs>/<binary>.log.
    let log = read_log(
        &stack.logs.join("rota-local-echo.log"),
        "stderr line for /any/a/b/c",
    )
    .await;
    assert!(
        log.lines()
            .any(|l| l == r#"{"level":"INFO","message":"echo","path":"/echo/42"}"#)
    );
    assert!(log.lines().any(|l| l.starts_with(r#"{"_aws":"#)));
    stack.stop().await;
}

#[tokio::test]
async fn throttling_answers_429_before_the_function() {
    let stack = Stack::start(2).await;
    assert_eq!(get(stack.addr, "/limited").await.status, 200);
    assert_eq!(get(stack.addr, "/limited").await.status, 200);
    let r = get(stack.addr, "/limited").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header_values("content-type"), vec!["application/json"]);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "Too Many Requests"})
    );
    stack.stop().await;
}

#[tokio::test]
async fn timeouts_crashes_and_errors() {
    let stack = Stack::start(2).await;
    let first = get(stack.addr, "/echo/1").await.json()["pid"].clone();

    // A handled error keeps the instance.
    let r = get(stack.addr, "/error").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "Internal Server Error"})
    );
    assert_eq!(get(stack.addr, "/echo/1").await.json()["pid"], first);

    // Timeout (1 s): 503 and the instance is replaced.
    let started = Instant::now();
    let r = get(stack.addr, "/sleep?ms=5000").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "Service Unavailable"})
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    let after_timeout = get(stack.addr, "/echo/1").await;
    assert_eq!(after_timeout.status, 200);
    assert_ne!(after_timeout.json()["pid"], first);

    // Crash: 500 for the request in flight, a new instance for the next one.
    let r = get(stack.addr, "/crash").await;
    assert_eq!(r.status, 500);
    let after_crash = get(stack.addr, "/echo/1").await;
    assert_eq!(after_crash.status, 200);
    assert_ne!(after_crash.json()["pid"], after_timeout.json()["pid"]);
    stack.stop().await;
}

#[tokio::test]
async fn instances_are_capped_and_requests_queue() {
    let stack = Stack::start(2).await;
    let addr = stack.addr;
    let lambda = stack.lambda.clone();
    let watcher = tokio::spawn(async move {
        let mut most = 0;
        for _ in 0..100 {
            most = most.max(lambda.instance_count("EchoFunction"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        most
    });
    let started = Instant::now();
    let calls: Vec<_> = (0..5)
        .map(|_| tokio::spawn(async move { get(addr, "/sleep?ms=300").await }))
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for c in calls {
        let r = c.await.unwrap();
        assert_eq!(r.status, 200);
        pids.insert(r.json()["pid"].to_string());
    }
    // 5 requests of 300 ms on 2 instances: three rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(850),
        "{:?}",
        started.elapsed()
    );
    assert!(pids.len() <= 2, "{pids:?}");
    assert!(watcher.await.unwrap() <= 2);
    stack.stop().await;
}
