//! The cache as ElastiCache Serverless runs it: a cluster (several primaries, the client follows
//! the slot map) over TLS that the functions verify with the CA rota-local gives them
//! (`SSL_CERT_FILE`), and a primary that dies and comes back is survived and used again.

use std::time::{Duration, Instant};

use rota_api::cache::{Cache, CacheOptions};
use rota_tests::*;
use serde_json::{Value, json};

/// `CLUSTER SLOTS` as (first slot, last slot, port of the primary).
async fn slot_map(cache: &Cache) -> Vec<(i64, i64, u16)> {
    let slots: Vec<(i64, i64, Vec<redis::Value>)> = cache
        .call(|mut conn| async move {
            redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async(&mut conn)
                .await
        })
        .await
        .expect("CLUSTER SLOTS");
    slots
        .into_iter()
        .map(|(first, last, primary)| {
            let port = match primary.get(1) {
                Some(redis::Value::Int(p)) => u16::try_from(*p).unwrap(),
                other => panic!("no port in {other:?}"),
            };
            (first, last, port)
        })
        .collect()
}

/// The port of the primary that serves `key`.
async fn owner(cache: &Cache, key: &str) -> u16 {
    let key = key.to_owned();
    let slot: i64 = cache
        .call(|mut conn| async move {
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query_async(&mut conn)
                .await
        })
        .await
        .expect("CLUSTER KEYSLOT");
    slot_map(cache)
        .await
        .into_iter()
        .find(|(first, last, _)| (*first..=*last).contains(&slot))
        .map(|(_, _, port)| port)
        .expect("every slot is served")
}

/// A connection to one node, not the cluster (verified against `stack`'s CA).
async fn node(stack: &Stack, port: u16) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let ca = stack.cache_ca.as_ref().expect("the stack's CA");
    let client = redis::Client::build_with_tls(
        format!("rediss://127.0.0.1:{port}"),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(ca).unwrap()),
        },
    )?;
    client.get_multiplexed_async_connection().await
}

/// A field of the node on `port`'s `INFO <section>` (or `CLUSTER INFO`), while it answers.
async fn node_info(stack: &Stack, port: u16, section: &str, field: &str) -> Option<String> {
    let mut conn = node(stack, port).await.ok()?;
    let mut cmd = if section == "cluster" {
        redis::cmd("CLUSTER")
    } else {
        redis::cmd("INFO")
    };
    cmd.arg(if section == "cluster" {
        "INFO"
    } else {
        section
    });
    let info: String = cmd.query_async(&mut conn).await.ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// The count at `key`, or the error (a node that just came back says CLUSTERDOWN until it
/// has heard from the others).
async fn try_count(cache: &Cache, key: &str) -> redis::RedisResult<Option<u64>> {
    let key = key.to_owned();
    cache
        .call(|mut conn| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<u64>>(&mut conn)
                .await
        })
        .await
}

/// How many times the like and unlike functions fell back to their container's own window.
fn fallbacks(stack: &Stack) -> usize {
    let logs = stack.logs_dir.as_ref().expect("the private stack's logs");
    ["community-posts-like", "community-posts-unlike"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(logs.join(format!("{f}.log")))
                .unwrap_or_default()
                .matches("\"RateLimitStoreErrors\"")
                .count()
        })
        .sum()
}

async fn count(cache: &Cache, key: &str) -> Option<u64> {
    try_count(cache, key).await.expect("GET")
}

#[tokio::test]
async fn the_cache_is_a_cluster_of_three_primaries_over_tls() {
    let stack = stack();
    assert!(
        stack.redis_url.starts_with("rediss://"),
        "{}",
        stack.redis_url
    );
    let map = slot_map(&stack.cache()).await;
    let mut primaries: Vec<u16> = map.iter().map(|(_, _, port)| *port).collect();
    primaries.sort_unstable();
    primaries.dedup();
    assert!(primaries.len() >= 3, "{map:?}");
    let served: i64 = map.iter().map(|(first, last, _)| last - first + 1).sum();
    assert_eq!(served, 16384, "{map:?}");
}

#[tokio::test]
async fn a_client_without_the_stack_ca_is_refused() {
    let stack = stack();
    let right = stack.cache();
    right.ping().await.expect("with the stack's CA");
    // The platform's roots (no SSL_CERT_FILE in this process): the local CA is not among them.
    let platform = Cache::new(&stack.redis_url).unwrap();
    let err = platform
        .ping()
        .await
        .expect_err("the platform roots do not know the local CA");
    eprintln!("without the CA: {err}");
    // Another CA, made for the occasion.
    let dir = repo_root().join(".local").join(unique("test-other-ca-"));
    let other = rota_local::cache_cluster::LocalCa::ensure(&dir).unwrap();
    let wrong = Cache::with_options(
        &stack.redis_url,
        CacheOptions {
            root_ca_pem: Some(std::fs::read(other.ca_cert()).unwrap()),
            ..CacheOptions::default()
        },
    )
    .unwrap();
    let err = wrong.ping().await.expect_err("a certificate of another CA");
    eprintln!("with another CA: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The function binary itself trusts what `SSL_CERT_FILE` names and nothing else: readiness
/// (a PING) through the Lambda Runtime API, with the stack's CA, another CA, and none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_trust_the_ca_rota_local_gives_them() {
    let stack = stack();
    let dir = repo_root().join(".local").join(unique("test-function-ca-"));
    let other = rota_local::cache_cluster::LocalCa::ensure(&dir.join("ca")).unwrap();
    let template = rota_local::template::Template::load(repo_root().join("template.yaml"))
        .unwrap()
        .with_stack_name(stack.name());
    let event = serde_json::to_vec(&sample_event("health-ready")).unwrap();
    // The function's own role, as the stack gives it.
    let credentials: std::collections::BTreeMap<_, _> =
        rota_local::iam::assume(&stack.aws_endpoint, stack.name(), "HealthReadyFunction")
            .await
            .unwrap()
            .map(|c| ("HealthReadyFunction".to_string(), c))
            .into_iter()
            .collect();
    let mut checks = Vec::new();
    for ca in [stack.cache_ca.clone(), Some(other.ca_cert()), None] {
        let ctx = rota_local::template::LocalContext {
            aws_endpoint: stack.aws_endpoint.clone(),
            redis_url: stack.redis_url.clone(),
            cache_ca: ca,
        };
        let lambda = rota_local::server::lambda_service(
            &template,
            &ctx,
            &binaries(),
            &dir.join("logs"),
            1,
            Some("HealthReadyFunction"),
            None,
            &credentials,
            &Default::default(),
        )
        .unwrap();
        let out = lambda
            .invoke("HealthReadyFunction", event.clone().into())
            .await
            .expect("the function answers");
        lambda.shutdown().await;
        let response: Value = serde_json::from_slice(&out.payload).unwrap();
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        checks.push((
            response["statusCode"].clone(),
            body["checks"]["cache"].clone(),
        ));
    }
    assert_eq!(
        checks,
        [
            (json!(200), json!("ok")),
            (json!(503), json!("error")),
            (json!(503), json!("error")),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A primary is killed during a run (through the gateway, the real functions, a stack of the
/// test's own): requests keep being answered, without a 500 (likes limited per container,
/// stats computed, feeds read from DynamoDB); rota-local starts the node again, with its slots
/// and none of its keys; and the functions use it again: the like limit counts in the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_dies_is_survived_and_used_again_once_back() {
    let private = PrivateStack::start(|_| {}).await;
    let stack = &private.stack();
    let api = Api::at(&stack.base_url);
    let cache = stack.cache();
    let seed: u16 = stack.redis_url.rsplit(':').next().unwrap().parse().unwrap();

    // A member whose like limit lives on a node other than the one the functions' URL names
    // (in AWS the endpoint never dies; a shard's node does).
    let mut member = api.new_account().await;
    let mut key = format!("rl:like:user:{}", member.id);
    for _ in 0..10 {
        if owner(&cache, &key).await != seed {
            break;
        }
        member = api.new_account().await;
        key = format!("rl:like:user:{}", member.id);
    }
    let victim = owner(&cache, &key).await;
    assert_ne!(victim, seed, "ten members in a row on the seed node");
    let token = member.token();
    let post = api.new_post(&member, "A node restarts").await;
    let like = format!("/api/community/posts/{}/like", post["id"]);
    // Likes and unlikes in turn: each is one call against the limit.
    let mut liked = false;
    let mut toggle = || {
        liked = !liked;
        let api = api.clone();
        let like = like.clone();
        let liked = liked;
        async move {
            let reply = if liked {
                api.post(&like, &json!({}), token).await
            } else {
                api.delete(&like, token).await
            };
            assert!(
                (200..300).contains(&reply.status),
                "{}: {}",
                reply.status,
                reply.text
            );
            assert!(
                reply.header("ratelimit-remaining").is_some(),
                "{}",
                reply.text
            );
            reply
        }
    };

    toggle().await;
    toggle().await;
    assert_eq!(
        count(&cache, &key).await,
        Some(2),
        "the limit counts in the cache"
    );

    let fallbacks_before = fallbacks(stack);
    let pid = node_info(stack, victim, "server", "process_id")
        .await
        .expect("the node answers");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let down_since = Instant::now();

    // While it is down (and after): every answer is right, none is a 500 (the client asserts
    // that), whether its keys were on the dead node or not.
    for _ in 0..3 {
        toggle().await;
        let stats = api.get("/api/community/stats", token).await;
        assert_eq!(stats.status, 200, "{}", stats.text);
        assert!(stats.json()["total_posts"].as_u64().unwrap() >= 1);
        let feed = api
            .get("/api/community/posts?sort=new&limit=20", token)
            .await;
        assert_eq!(feed.status, 200, "{}", feed.text);
        assert!(ids(&feed.json()).contains(&post["id"].as_i64().unwrap()));
    }

    // Those likes were counted by the containers themselves (their log lines come a moment
    // after the response).
    let waiting = Instant::now();
    while fallbacks(stack) == fallbacks_before {
        assert!(
            waiting.elapsed() < Duration::from_secs(5),
            "no request fell back to the container's own limit while the node was down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // rota-local starts it again (a new process, the same port and slots), and it rejoins.
    let back = loop {
        if let Some(new) = node_info(stack, victim, "server", "process_id").await
            && new != pid
            && node_info(stack, victim, "cluster", "cluster_state")
                .await
                .is_some_and(|state| state == "ok")
        {
            break new;
        }
        assert!(
            down_since.elapsed() < Duration::from_secs(30),
            "the node was not started again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "node :{victim} back as pid {back} after {:?}",
        down_since.elapsed()
    );

    // The functions use the cache again: once their breakers let a call through (the like and
    // the unlike function each have their own container and breaker), every call counts in the
    // (emptied) node again, one for one.
    let (mut last, mut counted_in_a_row) = (None::<u64>, 0);
    let waiting = Instant::now();
    while counted_in_a_row < 4 {
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "the functions never used the cache again after the node came back (last count \
             {last:?})"
        );
        toggle().await;
        let now = try_count(&cache, &key).await.ok().flatten();
        counted_in_a_row = match (last, now) {
            (Some(before), Some(after)) if after == before + 1 => counted_in_a_row + 1,
            _ => 0,
        };
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!(
        "the cache counts again {:?} after the node came back",
        waiting.elapsed()
    );
}
