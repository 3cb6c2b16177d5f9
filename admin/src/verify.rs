//! `rota-admin verify [--fix]`: recounts every counter from the items behind it.
//!
//! The API promises exact counters (docs/api.md: `likes_count` and `comments_count` are always the
//! number of rows behind them; the stats totals and the unread count likewise). The functions
//! keep that promise by changing each counter in the same transaction as its item; this tool
//! checks it from the outside, after an incident, a restore or a fault-injection run: one
//! consistent Scan of the table (parallel segments), counting
//! - users (`USER#…`/`PROFILE`) and active posts against the sharded totals (`STATS#…`),
//! - each post's likes (`USER#<liker>`/`LIKE#<post>`) against the sum of its like shards
//!   (`POST#<post>`/`LIKES#…`, the exact count) and the folded `likes_count` and `top_score` of
//!   its counts item, and its `COMMENT#…` items against the counts item,
//! - each user's unread notifications against their inbox.
//!
//! A Scan is fine here: an operator tool, never a request path. It reads a moving table, so
//! run it on a quiet one (or accept that a write racing the scan shows as a mismatch that a
//! second run does not repeat). `--fix` sets each wrong counter to its recount.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use rota_store::posts::{counts_key, like_key, like_shard_key, post_key, top_score};
use rota_store::users::{inbox_key, user_key};
use rota_store::{Item, SendRetried, StoreError, counters, db_error, n, update_item};

#[derive(Debug, Default)]
struct Recount {
    users: u64,
    active_posts: u64,
    /// The counter shards' sums. A shard alone may be negative (a post counted on one shard at
    /// its create and on another at its delete), so only the sum means anything.
    stored_users: i64,
    stored_active_posts: i64,
    /// post id → (likes_count, comments_count, top_score) as stored on its counts item.
    stored: BTreeMap<i64, (i64, i64, i128)>,
    likes: HashMap<i64, i64>,
    /// post id → (sum of its like shards' `n`, how many shards).
    shards: HashMap<i64, (i64, usize)>,
    comments: HashMap<i64, i64>,
    /// user id → unread as stored on the inbox item.
    inbox: BTreeMap<i64, i64>,
    unread: HashMap<i64, i64>,
    items: u64,
}

/// One mismatch between a counter and its recount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub what: String,
    pub stored: i64,
    pub recounted: i64,
}

fn string(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

fn number<T: std::str::FromStr + Default>(item: &Item, name: &str) -> T {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or_default(),
        _ => T::default(),
    }
}

fn id_after(pk: &str, prefix: &str) -> Option<i64> {
    pk.strip_prefix(prefix)?.parse().ok()
}

impl Recount {
    fn add(&mut self, item: &Item) {
        self.items += 1;
        let (Some(pk), Some(sk)) = (string(item, "PK"), string(item, "SK")) else {
            return;
        };
        // Items are recognised by the store's own key builders.
        let key = (pk, sk);
        let (pk, sk) = (&key.0, &key.1);
        if let Some(user) = id_after(pk, "USER#") {
            if let Some(post) = id_after(sk, "LIKE#").filter(|p| key == like_key(*p, user)) {
                *self.likes.entry(post).or_default() += 1;
            } else if key == user_key(user) {
                self.users += 1;
            } else if key == inbox_key(user) {
                self.inbox.insert(user, number(item, "unread"));
            } else if sk.starts_with("NOTIF#") && !item.contains_key("read_at") {
                *self.unread.entry(user).or_default() += 1;
            }
        } else if let Some(post) = id_after(pk, "POST#") {
            if key == post_key(post) {
                if matches!(item.get("is_active"), Some(AttributeValue::Bool(true))) {
                    self.active_posts += 1;
                }
            } else if key == counts_key(post) {
                self.stored.insert(
                    post,
                    (
                        number(item, "likes_count"),
                        number(item, "comments_count"),
                        number(item, "top_score"),
                    ),
                );
            } else if sk.starts_with("COMMENT#") {
                *self.comments.entry(post).or_default() += 1;
            } else if sk.starts_with("LIKES#") && item.contains_key("n") {
                // (A delete of a post written before the shards leaves key-only items.)
                let shards = self.shards.entry(post).or_default();
                shards.0 += number::<i64>(item, "n");
                shards.1 += 1;
            }
        } else if pk.starts_with("STATS#") && sk == counters::SK {
            self.stored_users += number::<i64>(item, "users");
            self.stored_active_posts += number::<i64>(item, "posts_active");
        }
    }

    fn mismatches(&self) -> Vec<Mismatch> {
        let mut out = Vec::new();
        let mut check = |what: String, stored: i64, recounted: i64| {
            if stored != recounted {
                out.push(Mismatch {
                    what,
                    stored,
                    recounted,
                });
            }
        };
        check("total_users".into(), self.stored_users, self.users as i64);
        check(
            "total_posts".into(),
            self.stored_active_posts,
            self.active_posts as i64,
        );
        for (&post, &(likes, comments, score)) in &self.stored {
            let real_likes = self.likes.get(&post).copied().unwrap_or(0);
            check(format!("post {post} likes_count"), likes, real_likes);
            // A post written before the shards has none until its next like.
            if let Some(&(sum, _)) = self.shards.get(&post) {
                check(format!("post {post} like shards"), sum, real_likes);
            }
            check(
                format!("post {post} comments_count"),
                comments,
                self.comments.get(&post).copied().unwrap_or(0),
            );
            if score != top_score(post, real_likes) {
                check(
                    format!("post {post} top_score / 10^16"),
                    (score / rota_store::posts::SCORE_STEP) as i64,
                    real_likes,
                );
            }
        }
        for post in self.likes.keys().chain(self.comments.keys()) {
            if !self.stored.contains_key(post) {
                check(format!("post {post} has no counts item"), 0, 1);
            }
        }
        for (&user, &unread) in &self.inbox {
            check(
                format!("user {user} unread"),
                unread,
                self.unread.get(&user).copied().unwrap_or(0),
            );
        }
        for (&user, &n) in &self.unread {
            if !self.inbox.contains_key(&user) {
                check(format!("user {user} unread"), 0, n);
            }
        }
        out
    }
}

async fn scan(db: &Client, table: &str, segments: i32) -> Result<Recount, StoreError> {
    let scans = (0..segments).map(|segment| async move {
        let mut recount = Recount::default();
        let mut start = None;
        loop {
            let page = db
                .scan()
                .table_name(table)
                .consistent_read(true)
                .segment(segment)
                .total_segments(segments)
                .set_exclusive_start_key(start)
                .send_retried()
                .await
                .map_err(db_error("Scan"))?;
            for item in page.items() {
                recount.add(item);
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok::<_, StoreError>(recount);
            }
        }
    });
    let mut total = Recount::default();
    for part in futures_util::future::try_join_all(scans).await? {
        total.users += part.users;
        total.active_posts += part.active_posts;
        total.stored_users += part.stored_users;
        total.stored_active_posts += part.stored_active_posts;
        total.items += part.items;
        total.stored.extend(part.stored);
        total.inbox.extend(part.inbox);
        for (k, (sum, count)) in part.shards {
            let shards = total.shards.entry(k).or_default();
            shards.0 += sum;
            shards.1 += count;
        }
        for (k, v) in part.likes {
            *total.likes.entry(k).or_default() += v;
        }
        for (k, v) in part.comments {
            *total.comments.entry(k).or_default() += v;
        }
        for (k, v) in part.unread {
            *total.unread.entry(k).or_default() += v;
        }
    }
    Ok(total)
}

/// Sets the wrong counters to their recount.
async fn fix(db: &Client, table: &str, recount: &Recount) -> Result<usize, StoreError> {
    let mut fixed = 0;
    let users = recount.users as i64 - recount.stored_users;
    if users != 0 {
        counters::adjust(db, table, counters::Counter::Users, users).await?;
        fixed += 1;
    }
    let posts = recount.active_posts as i64 - recount.stored_active_posts;
    if posts != 0 {
        counters::adjust(db, table, counters::Counter::ActivePosts, posts).await?;
        fixed += 1;
    }
    // Each fix is one UpdateItem.
    let send =
        |request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| async move {
            request.send_retried().await.map_err(db_error("UpdateItem"))
        };
    for (&post, &(likes, comments, score)) in &recount.stored {
        let real_likes = recount.likes.get(&post).copied().unwrap_or(0);
        let real_comments = recount.comments.get(&post).copied().unwrap_or(0);
        let real_score = top_score(post, real_likes);
        if let Some(&(sum, _)) = recount.shards.get(&post)
            && sum != real_likes
        {
            // The difference on shard 0, and one more operation, so that the next like's fold
            // (which only lands with more operations than the last) is not refused.
            send(
                update_item(db, table, like_shard_key(post, 0))
                    .update_expression("ADD n :d, ops :one")
                    .expression_attribute_values(":d", n(real_likes - sum))
                    .expression_attribute_values(":one", n(1)),
            )
            .await?;
            fixed += 1;
        }
        if (likes, comments, score) == (real_likes, real_comments, real_score) {
            continue;
        }
        send(
            update_item(db, table, counts_key(post))
                .update_expression("SET likes_count = :l, comments_count = :c, top_score = :t")
                .expression_attribute_values(":l", n(real_likes))
                .expression_attribute_values(":c", n(real_comments))
                .expression_attribute_values(":t", n(real_score)),
        )
        .await?;
        fixed += 1;
    }
    let users: std::collections::BTreeSet<i64> = recount
        .inbox
        .keys()
        .chain(recount.unread.keys())
        .copied()
        .collect();
    for user in users {
        let stored = recount.inbox.get(&user).copied().unwrap_or(0);
        let real = recount.unread.get(&user).copied().unwrap_or(0);
        if stored == real {
            continue;
        }
        send(
            update_item(db, table, inbox_key(user))
                .update_expression("SET unread = :u")
                .expression_attribute_values(":u", n(real)),
        )
        .await?;
        fixed += 1;
    }
    Ok(fixed)
}

/// What `verify` found.
#[derive(Debug)]
pub struct Report {
    pub items: u64,
    pub posts: usize,
    pub users: u64,
    pub mismatches: Vec<Mismatch>,
    pub fixed: usize,
}

pub async fn verify(db: &Client, table: &str, apply_fix: bool) -> Result<Report, StoreError> {
    // An operator's tool: a Scan page of a large table may take seconds, and it may wait.
    let budget = rota_store::retry::Budget::new(
        std::time::Duration::from_secs(600),
        std::time::Duration::from_secs(60),
    );
    rota_store::retry::with_budget(budget, verify_within_budget(db, table, apply_fix)).await
}

async fn verify_within_budget(
    db: &Client,
    table: &str,
    apply_fix: bool,
) -> Result<Report, StoreError> {
    let recount = scan(db, table, 4).await?;
    let mismatches = recount.mismatches();
    let fixed = if apply_fix && !mismatches.is_empty() {
        fix(db, table, &recount).await?
    } else {
        0
    };
    Ok(Report {
        items: recount.items,
        posts: recount.stored.len(),
        users: recount.users,
        mismatches,
        fixed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    /// A post's counts item as stored.
    fn counts(post: i64, likes: i64, comments: i64, score: i128) -> Item {
        let (pk, sk) = counts_key(post);
        item(&[
            ("PK", s(&pk)),
            ("SK", s(&sk)),
            ("likes_count", n(likes)),
            ("comments_count", n(comments)),
            ("top_score", n(score)),
        ])
    }

    #[test]
    fn a_counter_shard_below_zero_counts_in_the_sum() {
        // Two posts counted on shard 1 at their creates, one deleted through shard 2.
        let mut r = Recount::default();
        for (shard, posts) in [("STATS#1", 2), ("STATS#2", -1)] {
            r.add(&item(&[
                ("PK", s(shard)),
                ("SK", s("COUNTERS")),
                ("posts_active", n(posts)),
            ]));
        }
        r.add(&item(&[
            ("PK", s("POST#7")),
            ("SK", s("POST")),
            ("is_active", AttributeValue::Bool(true)),
        ]));
        assert_eq!(r.mismatches(), []);
    }

    #[test]
    fn a_counter_off_by_one_is_reported_and_exact_ones_are_not() {
        let mut r = Recount::default();
        r.add(&counts(7, 2, 1, top_score(7, 2)));
        r.add(&item(&[("PK", s("USER#1")), ("SK", s("LIKE#7"))]));
        r.add(&item(&[("PK", s("USER#2")), ("SK", s("LIKE#7"))]));
        for (shard, likes) in [("LIKES#00", 3), ("LIKES#05", -1), ("LIKES#15", 0)] {
            r.add(&item(&[
                ("PK", s("POST#7")),
                ("SK", s(shard)),
                ("n", n(likes)),
            ]));
        }
        r.add(&item(&[
            ("PK", s("POST#7")),
            ("SK", s("COMMENT#0000000000000001")),
        ]));
        r.add(&item(&[
            ("PK", s("POST#7")),
            ("SK", s("POST")),
            ("is_active", AttributeValue::Bool(true)),
        ]));
        r.add(&item(&[
            ("PK", s("STATS#3")),
            ("SK", s("COUNTERS")),
            ("posts_active", n(1)),
            ("users", n(1)),
        ]));
        r.add(&item(&[("PK", s("USER#1")), ("SK", s("PROFILE"))]));
        assert_eq!(r.mismatches(), []);
        // One like too many on the counter, one unread the inbox does not know of.
        r.add(&counts(8, 1, 0, top_score(8, 1)));
        r.add(&item(&[
            ("PK", s("POST#8")),
            ("SK", s("LIKES#01")),
            ("n", n(1)),
        ]));
        r.add(&item(&[
            ("PK", s("USER#1")),
            ("SK", s("NOTIF#0000000000000009")),
        ]));
        let found = r.mismatches();
        assert!(found.contains(&Mismatch {
            what: "post 8 likes_count".into(),
            stored: 1,
            recounted: 0
        }));
        assert!(found.contains(&Mismatch {
            what: "post 8 like shards".into(),
            stored: 1,
            recounted: 0
        }));
        assert!(found.contains(&Mismatch {
            what: "user 1 unread".into(),
            stored: 0,
            recounted: 1
        }));
    }
}
