//! A concurrency storm: many users liking, unliking, commenting, posting and deleting at once,
//! on a few hot posts, through the gateway. Run in `make test` against the plain stack and
//! against the stack under the `bad-day` fault profile (conflicts on hot items, throttles, a
//! latency tail, Redis outages, instance crashes).
//!
//! Each user acts in sequence (one logical operation at a time) as a careful client does: an
//! answer whose outcome is unknown (the gateway's 500/503 after a crash or timeout, our 503
//! after the retry budget) is sent again — creates with their Idempotency-Key — until a
//! definite answer comes. The test keeps its own model of what was acknowledged and checks
//! afterwards:
//! - no function ever answered 500 (a gateway 500 is only ever an injected crash);
//! - every acknowledged write is there (each 201 post and comment exists, each 204 delete is
//!   gone, each like/unlike's final state is what the last acknowledgement said);
//! - nothing was created twice (each user's posts are exactly the acknowledged ones);
//! - every counter equals a recount of its items (`likes_count` against the model, and
//!   `rota-admin verify` over the whole table).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;
use rota_tests::*;
use serde_json::{Value, json};

const USERS: usize = 12;

const ROUNDS: usize = 14;

const HOT_POSTS: usize = 2;

#[derive(Default)]
struct Tally {
    /// Answers by status (after retries: definite answers only).
    statuses: BTreeMap<u16, u32>,
    /// Attempts whose outcome was unknown, retried.
    unknown: u32,
}

/// What one user was told.
#[derive(Default)]
struct Seen {
    /// Posts this user created (201) and whether they deleted them since (204).
    posts: BTreeMap<i64, bool>,
    /// Comments this user created, by post, and whether deleted.
    comments: BTreeMap<i64, (i64, bool)>,
    /// The last acknowledged like state per post.
    likes: BTreeMap<i64, bool>,
}

async fn act(
    api: &Api,
    tally: &mut Tally,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> HttpReply {
    let reply = match body {
        Some(b) => api.send_json(method, path, &b, Some(token), &[]).await,
        None => api.send(method, path, Some(token)).await,
    };
    tally.unknown += reply.unknown_outcomes;
    *tally.statuses.entry(reply.status).or_default() += 1;
    // `send` already refuses any function 500 and retries unknown outcomes when careful.
    assert!(
        !reply.outcome_unknown() || !careful(),
        "{method} {path}: still unknown after retries: {} {}",
        reply.status,
        reply.text
    );
    reply
}

/// One user's storm: a random mix of operations on the hot posts and their own.
async fn storm_user(api: Api, me: Account, hot: Vec<i64>, seed: u64) -> (Seen, Tally) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut seen = Seen::default();
    let mut tally = Tally::default();
    let token = me.access_token.clone();
    let mut send = async |method: &str, path: &str, body: Option<Value>| {
        act(&api, &mut tally, method, path, &token, body).await
    };
    for round in 0..ROUNDS {
        let pick = rng.random_range(0..100);
        let hot_post = hot[rng.random_range(0..hot.len())];
        match pick {
            // Like or unlike a hot post (the contended counter).
            0..=44 => {
                let like = rng.random_bool(0.6);
                let method = if like { "POST" } else { "DELETE" };
                let path = format!("{POSTS}/{hot_post}/like");
                let r = send(method, &path, None).await;
                match r.status {
                    200 => {
                        assert_eq!(r.json()["liked"], like);
                        seen.likes.insert(hot_post, like);
                    }
                    429 => {}
                    other => panic!("{method} {path}: {other} {}", r.text),
                }
            }
            // Comment on a hot post.
            45..=64 => {
                let path = format!("{POSTS}/{hot_post}/comments");
                let r = send(
                    "POST",
                    &path,
                    Some(json!({"content": format!("storm {round}")})),
                )
                .await;
                match r.status {
                    201 => {
                        let id = r.json()["id"].as_i64().unwrap();
                        assert!(
                            seen.comments.insert(id, (hot_post, false)).is_none(),
                            "a comment id twice"
                        );
                    }
                    429 => {}
                    other => panic!("POST {path}: {other} {}", r.text),
                }
            }
            // Delete one of my comments.
            65..=72 => {
                let Some((&id, _)) = seen.comments.iter().find(|(_, (_, deleted))| !deleted) else {
                    continue;
                };
                let r = send("DELETE", &format!("/api/community/comments/{id}"), None).await;
                assert_eq!(r.status, 204, "{}", r.text);
                seen.comments.get_mut(&id).unwrap().1 = true;
            }
            // Post something.
            73..=87 => {
                let r = send(
                    "POST",
                    POSTS,
                    Some(json!({"title": format!("storm {seed}/{round}"), "content": "weather"})),
                )
                .await;
                match r.status {
                    201 => {
                        let id = r.json()["id"].as_i64().unwrap();
                        assert!(seen.posts.insert(id, false).is_none(), "a post id twice");
                    }
                    429 => {}
                    other => panic!("POST {POSTS}: {other} {}", r.text),
                }
            }
            // Delete one of my posts.
            _ => {
                let Some((&id, _)) = seen.posts.iter().find(|(_, deleted)| !**deleted) else {
                    continue;
                };
                let r = send("DELETE", &format!("{POSTS}/{id}"), None).await;
                assert_eq!(r.status, 204, "{}", r.text);
                seen.posts.insert(id, true);
            }
        }
    }
    (seen, tally)
}

/// Reads with a careful client's patience: the feed index is eventually consistent in AWS.
async fn get_ok(api: &Api, path: &str, token: Option<&str>) -> Value {
    let r = api.get(path, token).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text);
    r.json()
}

#[tokio::test]
async fn a_storm_of_likes_comments_posts_and_deletes_leaves_every_count_exact() {
    let api = Api::new();
    let users: Vec<Account> =
        futures::future::join_all((0..USERS).map(|_| async { Api::new().new_account().await }))
            .await;
    // The hot posts, by the first users.
    let mut hot = Vec::new();
    for author in users.iter().take(HOT_POSTS) {
        hot.push(
            api.new_post(author, "Hot post").await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let seed: u64 = rand::rng().random();
    eprintln!("storm seed {seed}");
    let results = futures::future::join_all(users.iter().enumerate().map(|(i, me)| {
        storm_user(
            Api::new(),
            me.clone(),
            hot.clone(),
            seed.wrapping_add(i as u64),
        )
    }))
    .await;

    let mut tally = Tally::default();
    for (_, t) in &results {
        tally.unknown += t.unknown;
        for (status, n) in &t.statuses {
            *tally.statuses.entry(*status).or_default() += n;
        }
    }
    eprintln!(
        "storm answers {:?}; unknown outcomes retried: {}",
        tally.statuses, tally.unknown
    );
    assert!(
        !tally.statuses.contains_key(&500),
        "a 500 reached a careful client"
    );

    // Every acknowledged like state holds, and each hot post counts exactly its likers.
    for &post in &hot {
        let likers: BTreeSet<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, (seen, _))| seen.likes.get(&post) == Some(&true))
            .map(|(i, _)| i)
            .collect();
        for (i, (seen, _)) in results.iter().enumerate() {
            if let Some(&liked) = seen.likes.get(&post) {
                let view = get_ok(
                    &api,
                    &format!("{POSTS}/{post}"),
                    Some(&users[i].access_token),
                )
                .await;
                assert_eq!(
                    view["liked_by_me"], liked,
                    "user {i}'s last acknowledged like of {post}"
                );
            }
        }
        let view = get_ok(&api, &format!("{POSTS}/{post}"), None).await;
        assert_eq!(view["likes_count"], likers.len(), "likes_count of {post}");
        // Comments: the count equals the listed comments, which are exactly the
        // acknowledged, undeleted ones of the storm.
        let mut listed = BTreeSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = with_cursor(
                &format!("{POSTS}/{post}/comments?limit=100"),
                cursor.as_deref(),
            );
            let page = get_ok(&api, &path, None).await;
            for c in page["items"].as_array().unwrap() {
                assert!(
                    listed.insert(c["id"].as_i64().unwrap()),
                    "a comment listed twice"
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let expected: BTreeSet<i64> = results
            .iter()
            .flat_map(|(seen, _)| seen.comments.iter())
            .filter(|(_, (p, deleted))| *p == post && !deleted)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(listed, expected, "the comments of {post}");
        assert_eq!(
            view["comments_count"],
            expected.len(),
            "comments_count of {post}"
        );
    }

    // Every acknowledged post exists (or is gone when its delete was acknowledged), once.
    for (i, (seen, _)) in results.iter().enumerate() {
        for (&post, &deleted) in &seen.posts {
            let r = api.get(&format!("{POSTS}/{post}"), None).await;
            if deleted {
                r.problem(404);
            } else {
                assert_eq!(r.status, 200, "user {i}'s post {post}: {}", r.text);
                assert_eq!(r.json()["author"]["id"], users[i].id);
            }
        }
    }
    let live: BTreeSet<i64> = results
        .iter()
        .flat_map(|(seen, _)| seen.posts.iter().filter(|(_, d)| !**d).map(|(id, _)| *id))
        .chain(hot.iter().copied())
        .collect();
    let authors: BTreeSet<i64> = users.iter().map(|u| u.id).collect();
    let mut in_feed = BTreeSet::new();
    let mut cursor: Option<String> = None;
    // The storm's posts are the newest; walk until every one of ours is seen or the feed ends.
    for _ in 0..50 {
        let path = with_cursor(&format!("{POSTS}?sort=new&limit=100"), cursor.as_deref());
        let page = get_ok(&api, &path, None).await;
        for p in page["items"].as_array().unwrap() {
            if authors.contains(&p["author"]["id"].as_i64().unwrap()) {
                assert!(
                    in_feed.insert(p["id"].as_i64().unwrap()),
                    "a post twice in the feed"
                );
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) if !live.is_subset(&in_feed) => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    assert_eq!(
        in_feed, live,
        "the storm users' posts in the feed are exactly the acknowledged ones"
    );

    // And the whole table's counters against a recount of their items. Other tests write
    // while the Scan runs, so a transaction landing between two of its pages can show as a
    // passing mismatch; a real drift shows in every run.
    let mut last = String::new();
    for _ in 0..10 {
        let out = rota_admin(&["verify"]);
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() && last.contains(" 0 mismatches") {
            return;
        }
        eprintln!("verify: {last}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("rota-admin verify found counters that differ from their items: {last}");
}
