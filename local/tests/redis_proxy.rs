//! The Redis outage proxy in front of a real Redis (a plain `redis-server` of each test's own,
//! so the bytes are readable; in front of the stacks' TLS clusters they pass the same way:
//! tests/cache_cluster.rs). Without redis-server these tests fail.
//!
//! The outage schedule is short (down 1.5 s of every 3 s, from 1.5 s), so each test sees one
//! outage from start to end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::plain_redis;
use rota_local::faults::{
    FaultCounts, OutageMode, REDIS_CONNECTIONS_CUT, REDIS_CONNECTIONS_REFUSED, REDIS_OUTAGES,
    RedisOutage,
};
use rota_local::redis_proxy::RedisProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

fn outage(mode: OutageMode) -> RedisOutage {
    RedisOutage {
        every_s: 3.0,
        down_s: 1.5,
        offset_s: 1.5,
        mode,
    }
}

/// What came back for a PING: the reply, `Closed` (EOF or reset), or `Silent` (nothing
/// within the time).
#[derive(Debug, PartialEq, Eq)]
enum PingOutcome {
    Text(String),
    Closed,
    Silent,
}

async fn ping(stream: &mut TcpStream, within: Duration) -> PingOutcome {
    if stream.write_all(PING).await.is_err() {
        return PingOutcome::Closed;
    }
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Err(_) => PingOutcome::Silent,
        Ok(Ok(0) | Err(_)) => PingOutcome::Closed,
        Ok(Ok(n)) => PingOutcome::Text(String::from_utf8_lossy(&buf[..n]).into_owned()),
    }
}

fn pong() -> PingOutcome {
    PingOutcome::Text("+PONG\r\n".into())
}

async fn wait_until(proxy: &RedisProxy, down: bool) {
    let mut state = proxy.state();
    tokio::time::timeout(Duration::from_secs(5), state.wait_for(|d| *d == down))
        .await
        .unwrap_or_else(|_| panic!("the proxy never went {}", if down { "down" } else { "up" }))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_cuts_and_refuses_then_recovers() {
    let redis = plain_redis().await;
    let counts = Arc::new(FaultCounts::new());
    let proxy = RedisProxy::start(
        &format!("{}/7", redis.url()),
        outage(OutageMode::Refuse),
        counts.clone(),
    )
    .await
    .unwrap();
    // Same scheme and database, the proxy's address.
    assert_eq!(proxy.url, format!("redis://{}/7", proxy.addr));
    assert!(!proxy.is_down());

    // Before the outage, bytes pass both ways, on the same connection again and again.
    let mut open = TcpStream::connect(proxy.addr).await.unwrap();
    for _ in 0..3 {
        assert_eq!(ping(&mut open, Duration::from_secs(2)).await, pong());
    }
    // A reply bigger than one read buffer passes whole.
    let mut big = TcpStream::connect(proxy.addr).await.unwrap();
    let value = "x".repeat(100_000);
    let cmd = format!(
        "*3\r\n$3\r\nSET\r\n$18\r\nrota-local-proxy-t\r\n${}\r\n{value}\r\n*2\r\n$3\r\nGET\r\n$18\r\nrota-local-proxy-t\r\n*2\r\n$3\r\nDEL\r\n$18\r\nrota-local-proxy-t\r\n",
        value.len()
    );
    big.write_all(cmd.as_bytes()).await.unwrap();
    let expected = format!("+OK\r\n${}\r\n{value}\r\n:1\r\n", value.len());
    let mut got = vec![0u8; expected.len()];
    tokio::time::timeout(Duration::from_secs(5), big.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got == expected.as_bytes(), "the reply was altered");
    assert_eq!(counts.get(REDIS_OUTAGES), 0);

    wait_until(&proxy, true).await;
    // The open connections were cut...
    assert_eq!(
        ping(&mut open, Duration::from_secs(1)).await,
        PingOutcome::Closed
    );
    assert_eq!(
        ping(&mut big, Duration::from_secs(1)).await,
        PingOutcome::Closed
    );
    // ...and a new one is refused.
    match TcpStream::connect(proxy.addr).await {
        Ok(mut c) => assert_eq!(
            ping(&mut c, Duration::from_secs(1)).await,
            PingOutcome::Closed
        ),
        // The reset can arrive before the connect completes.
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
    }
    assert!(proxy.is_down(), "the outage ended during the checks");
    assert_eq!(counts.get(REDIS_OUTAGES), 1);
    assert_eq!(counts.get(REDIS_CONNECTIONS_CUT), 2);
    assert_eq!(counts.get(REDIS_CONNECTIONS_REFUSED), 1);

    // After the outage, PING works again on a new connection.
    wait_until(&proxy, false).await;
    let mut after = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(ping(&mut after, Duration::from_secs(2)).await, pong());
    assert_eq!(counts.get(REDIS_OUTAGES), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_accepts_and_never_answers() {
    let redis = plain_redis().await;
    let counts = Arc::new(FaultCounts::new());
    let proxy = RedisProxy::start(&redis.url(), outage(OutageMode::Blackhole), counts.clone())
        .await
        .unwrap();
    assert_eq!(proxy.url, format!("redis://{}", proxy.addr));
    let mut open = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(ping(&mut open, Duration::from_secs(2)).await, pong());

    wait_until(&proxy, true).await;
    assert_eq!(
        ping(&mut open, Duration::from_secs(1)).await,
        PingOutcome::Closed
    );
    // Accepted, but nothing ever comes back.
    let mut hole = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(
        ping(&mut hole, Duration::from_millis(500)).await,
        PingOutcome::Silent
    );
    assert!(proxy.is_down(), "the outage ended during the checks");
    assert_eq!(counts.get(REDIS_CONNECTIONS_CUT), 1);
    assert_eq!(counts.get(REDIS_CONNECTIONS_REFUSED), 1);

    // When the outage ends the black-holed connection is closed, and new ones pass.
    wait_until(&proxy, false).await;
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(2), hole.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "the black-holed connection stayed open: {closed:?}"
    );
    let mut after = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(ping(&mut after, Duration::from_secs(2)).await, pong());
}

/// Dropping the proxy closes its port and its connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_proxy_stops_it() {
    let redis = plain_redis().await;
    let proxy = RedisProxy::start(
        &redis.url(),
        RedisOutage {
            every_s: 3600.0,
            down_s: 1.0,
            offset_s: 3000.0,
            mode: OutageMode::Refuse,
        },
        Arc::new(FaultCounts::new()),
    )
    .await
    .unwrap();
    let addr = proxy.addr;
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ping(&mut open, Duration::from_secs(2)).await, pong());
    drop(proxy);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ping(&mut open, Duration::from_secs(1)).await,
        PingOutcome::Closed
    );
    assert!(TcpStream::connect(addr).await.is_err());
}
