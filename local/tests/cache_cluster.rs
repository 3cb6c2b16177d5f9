//! The stack's cache cluster, started as `serve` starts it (in process): three primaries over
//! TLS that serve every slot, verify TLS, come back (same port and slots) when one dies, and,
//! under a profile with outages, are reached through the proxy and go down with it.
//!
//! Needs redis-server (7 or newer, with TLS); fails without it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::port_of;
use rota_local::cache_cluster::{CA_DIR, CacheConfig, LocalCa, StackCache};
use rota_local::faults::{FaultCounts, OutageMode, REDIS_OUTAGES, RedisOutage};

async fn start(dir: &std::path::Path, outage: Option<RedisOutage>) -> StackCache {
    StackCache::start(CacheConfig {
        given_url: None,
        given_ca: None,
        ca_dir: dir.join(CA_DIR),
        dir: dir.join("cache"),
        logs_dir: dir.join("logs"),
        outage,
        counts: Arc::new(FaultCounts::new()),
    })
    .await
    .unwrap_or_else(|e| panic!("the cache cluster did not start: {e:#}"))
}

fn cluster_client(url: &str, root: Option<&[u8]>) -> redis::cluster::ClusterClient {
    let mut builder = redis::cluster::ClusterClientBuilder::new(vec![url])
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
        .retries(2);
    if let Some(root) = root {
        builder = builder.certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root.to_vec()),
        });
    }
    builder.build().unwrap()
}

async fn node(port: u16, root: &[u8]) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::build_with_tls(
        format!("rediss://127.0.0.1:{port}"),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root.to_vec()),
        },
    )?
    .get_multiplexed_async_connection()
    .await
}

async fn info(port: u16, root: &[u8], section: &str, field: &str) -> Option<String> {
    let mut conn = node(port, root).await.ok()?;
    let text: String = if section == "cluster" {
        redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await
            .ok()?
    } else {
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut conn)
            .await
            .ok()?
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// (first slot, last slot) of each primary, by port.
async fn slots(conn: &mut redis::cluster_async::ClusterConnection) -> Vec<(i64, i64, i64)> {
    let map: Vec<(i64, i64, Vec<redis::Value>)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .unwrap();
    let mut map: Vec<(i64, i64, i64)> = map
        .into_iter()
        .map(|(a, b, primary)| match primary.get(1) {
            Some(redis::Value::Int(port)) => (a, b, *port),
            other => panic!("{other:?}"),
        })
        .collect();
    map.sort_unstable();
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_primaries_over_tls_and_a_node_that_dies_comes_back_with_its_slots() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = start(dir.path(), None).await;
    let ca = cache.ca_file.clone().unwrap();
    let root = std::fs::read(&ca).unwrap();
    assert_eq!(
        ca,
        std::path::absolute(dir.path().join(".local/ca/ca.pem")).unwrap()
    );
    let nodes: Vec<u16> = cache.node_urls().iter().map(|u| port_of(u)).collect();
    assert_eq!(nodes.len(), 3);
    assert_eq!(cache.url, cache.node_urls()[0]);

    let client = cluster_client(&cache.url, Some(&root));
    let mut conn = client.get_async_connection().await.unwrap();
    let before = slots(&mut conn).await;
    assert_eq!(before.len(), 3, "{before:?}");
    assert_eq!(before.iter().map(|(a, b, _)| b - a + 1).sum::<i64>(), 16384);
    // Keys of every node are served; keys of one slot go together, keys of two do not.
    for i in 0..30 {
        redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    let pair: (Option<i64>, Option<i64>) = redis::cmd("MGET")
        .arg("{t}a")
        .arg("{t}b")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pair, (None, None));
    let mut one = node(nodes[0], &root).await.unwrap();
    let cross = redis::cmd("MGET")
        .arg("k1")
        .arg("k2")
        .arg("k3")
        .query_async::<redis::Value>(&mut one)
        .await
        .unwrap_err();
    assert_eq!(
        cross.kind(),
        redis::ErrorKind::Server(redis::ServerErrorKind::CrossSlot),
        "{cross}"
    );

    // Nothing but TLS: the plain protocol gets no answer.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", nodes[1]))
            .await
            .unwrap();
        plain.write_all(b"PING\r\n").await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(2), plain.read(&mut buf)).await;
        assert!(
            !matches!(read, Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")),
            "a node answered the plain protocol"
        );
    }

    // SIGKILL one node: it is started again, same port, same slots, a new process.
    let victim = nodes[1];
    let pid = info(victim, &root, "server", "process_id").await.unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let killed = Instant::now();
    loop {
        if let Some(new) = info(victim, &root, "server", "process_id").await
            && new != pid
            && info(victim, &root, "cluster", "cluster_state")
                .await
                .as_deref()
                == Some("ok")
        {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the node never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("logs/cache-node-1.log")).unwrap();
    assert!(log.matches("Redis is starting").count() >= 2, "{log}");
    // The same client reaches it again (after its own reconnect), and the map is unchanged.
    let started = Instant::now();
    loop {
        let set = redis::cmd("SET")
            .arg("k-after")
            .arg(1)
            .query_async::<()>(&mut conn)
            .await;
        let all: Result<Vec<Option<i64>>, _> = async {
            let mut got = Vec::new();
            for i in 0..30 {
                got.push(
                    redis::cmd("GET")
                        .arg(format!("k{i}"))
                        .query_async(&mut conn)
                        .await?,
                );
            }
            Ok::<_, redis::RedisError>(got)
        }
        .await;
        if let (Ok(()), Ok(all)) = (&set, &all) {
            // The restarted node came back empty: its keys are gone, the others' are there.
            assert!(all.iter().any(Option::is_none), "{all:?}");
            assert!(all.iter().any(Option::is_some), "{all:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{set:?} {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(slots(&mut conn).await, before);

    cache.stop().await;
    for port in nodes {
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "node :{port} still listens"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_local_ca_is_refused() {
    // Relative paths too (`make test` names its stacks' directories so).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    let root = cwd.parent().unwrap();
    let relative = std::path::Path::new("..").join(dir.path().strip_prefix(root).unwrap());
    let mut cache = start(&relative, None).await;
    let right = std::fs::read(cache.ca_file.as_ref().unwrap()).unwrap();
    let other = LocalCa::ensure(&dir.path().join("other-ca")).unwrap();
    let wrong = std::fs::read(other.ca_cert()).unwrap();
    assert!(
        cluster_client(&cache.url, Some(&right))
            .get_async_connection()
            .await
            .is_ok()
    );
    for (what, root) in [("another CA", Some(wrong.as_slice())), ("no CA", None)] {
        let refused = cluster_client(&cache.url, root)
            .get_async_connection()
            .await;
        assert!(refused.is_err(), "{what}: connected");
    }
    // The CA is made once: a second cluster reuses it.
    let mut again = start(dir.path(), None).await;
    assert_eq!(
        std::fs::read(again.ca_file.as_ref().unwrap()).unwrap(),
        right
    );
    again.stop().await;
    cache.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_outages_every_node_is_reached_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let counts = Arc::new(FaultCounts::new());
    let outage = RedisOutage {
        every_s: 4.0,
        down_s: 2.0,
        offset_s: 2.0,
        mode: OutageMode::Refuse,
    };
    let mut cache = StackCache::start(CacheConfig {
        given_url: None,
        given_ca: None,
        ca_dir: dir.path().join(CA_DIR),
        dir: dir.path().join("cache"),
        logs_dir: dir.path().join("logs"),
        outage: Some(outage),
        counts: counts.clone(),
    })
    .await
    .unwrap();
    let root = std::fs::read(cache.ca_file.as_ref().unwrap()).unwrap();
    let direct: Vec<u16> = cache.node_urls().iter().map(|u| port_of(u)).collect();
    assert!(!direct.contains(&port_of(&cache.url)));
    let announced = common::cluster_ports(&cache.url, &root).await;
    assert_eq!(announced.len(), 3);
    assert!(
        announced.iter().all(|p| !direct.contains(p)),
        "{announced:?}"
    );

    // Up, down with the proxy, up again: keys of every node, through one client.
    let client = cluster_client(&cache.url, Some(&root));
    let mut conn = client.get_async_connection().await.unwrap();
    let all_keys = |conn: &mut redis::cluster_async::ClusterConnection| {
        let mut conn = conn.clone();
        async move {
            for i in 0..30 {
                redis::cmd("SET")
                    .arg(format!("k{i}"))
                    .arg(i)
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            Ok::<_, redis::RedisError>(())
        }
    };
    all_keys(&mut conn).await.expect("before the outage");
    let started = Instant::now();
    while counts.get(REDIS_OUTAGES) == 0 {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        all_keys(&mut conn).await.is_err(),
        "the cache answered during an outage"
    );
    loop {
        if all_keys(&mut conn).await.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The nodes themselves never went down.
    for port in direct {
        assert!(node(port, &root).await.is_ok());
    }
    cache.stop().await;
}
