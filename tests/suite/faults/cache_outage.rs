//! A cache that stops answering costs a container one connection attempt per cool-down, not
//! one per request (the circuit breaker in `shared/api/src/cache.rs`), whether Redis refuses
//! connections or accepts them and never answers (a failed node behind a load balancer).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rota_api::cache::{Cache, CacheOptions, is_short_circuit};
use rota_tests::{cache_options, redis_url};

/// A TCP listener that accepts connections and never answers; counts them.
async fn blackhole() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn a_silent_cache_is_tried_once_per_cool_down_not_once_per_request() {
    let (url, accepted) = blackhole().await;
    let cache = Cache::with_cool_down(&url, Duration::from_secs(1)).unwrap();
    // 50 requests in a row: the first waits for its timeout, the rest fail at once.
    let mut short = 0;
    for _ in 0..50 {
        let err = cache.ping().await.unwrap_err();
        if is_short_circuit(&err) {
            short += 1;
        }
    }
    assert_eq!(short, 49);
    let stats = cache.breaker_stats();
    assert_eq!(
        (stats.attempts, stats.opened, stats.short_circuited),
        (1, 1, 49)
    );
    let connections = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&connections),
        "{connections} connections for 50 requests"
    );
    // After the cool-down one request probes again (and only one).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (a, b) = tokio::join!(cache.ping(), cache.ping());
    assert!(a.is_err() && b.is_err());
    assert!(is_short_circuit(a.as_ref().unwrap_err()) ^ is_short_circuit(b.as_ref().unwrap_err()));
    assert_eq!(cache.breaker_stats().attempts, 2);
}

#[tokio::test]
async fn a_refusing_cache_is_tried_once_per_cool_down_and_recovers_when_back() {
    // A port nobody listens on refuses at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = Cache::with_cool_down(
        &format!("redis://127.0.0.1:{port}"),
        Duration::from_millis(300),
    )
    .unwrap();
    for _ in 0..30 {
        assert!(cache.ping().await.is_err());
    }
    assert_eq!(cache.breaker_stats().attempts, 1);
    // The real cache behind a breaker that closes again after a success.
    let real = Cache::with_options(
        &redis_url(),
        CacheOptions {
            cool_down: Duration::from_millis(300),
            ..cache_options()
        },
    )
    .unwrap();
    for _ in 0..5 {
        real.ping().await.expect("the real cache answers");
    }
    let stats = real.breaker_stats();
    assert_eq!((stats.attempts, stats.opened), (5, 0));
}
