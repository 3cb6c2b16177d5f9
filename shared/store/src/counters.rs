//! The community totals (`total_users`, `total_posts`), exact and without a hot item.
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | counter shard | `STATS#<0..SHARDS>` | `COUNTERS` | users, posts_active (partial sums) |
//!
//! Every registration and every post create/delete adds ±1 to one shard, chosen at random, in
//! the same transaction as the item it counts, so the sum over the shards is always exactly
//! the number of items behind it. One item for all of them would be touched by every such
//! write: under load, concurrent transactions on it cancel each other (TransactionConflict).
//! Spread over SHARDS items (each its own partition), two writes meet on an item SHARDS times
//! less often. Reading is one BatchGetItem of the shards, once per stats cache period.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{KeysAndAttributes, TransactWriteItem};
use rand::Rng;

use serde::Deserialize;

use super::item::read;
use super::{Item, Key, SendRetried, StoreError, StoreResult, db_error, key_item, n};

/// Figures in docs/data-model.md: ~23 counted writes/s at the owner's peak → ~3/s per shard.
pub const SHARDS: u32 = 8;
pub const SK: &str = "COUNTERS";

/// A counter shard's partial sums (each absent until its first ADD).
#[derive(Debug, Default, Deserialize)]
struct Shard {
    #[serde(default)]
    users: i64,
    #[serde(default)]
    posts_active: i64,
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Users,
    ActivePosts,
}

impl Counter {
    fn attribute(self) -> &'static str {
        match self {
            Counter::Users => "users",
            Counter::ActivePosts => "posts_active",
        }
    }
}

pub fn shard_pk(shard: u32) -> String {
    format!("STATS#{shard}")
}

pub fn shard_key(shard: u32) -> Key {
    (shard_pk(shard), SK.into())
}

/// The transaction write that adds `delta` to `counter` on `shard`.
fn add_to(table: &str, shard: u32, counter: Counter, delta: i64) -> StoreResult<TransactWriteItem> {
    let update = super::update(table, shard_key(shard))
        .update_expression("ADD #c :d")
        .expression_attribute_names("#c", counter.attribute())
        .expression_attribute_values(":d", n(delta));
    super::write_update(update)
}

/// The transaction write that adds `delta` to `counter` on a random shard.
pub fn add(table: &str, counter: Counter, delta: i64) -> StoreResult<TransactWriteItem> {
    add_to(table, rand::rng().random_range(0..SHARDS), counter, delta)
}

/// The totals: the sum over every shard (one BatchGetItem).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub users: u64,
    pub active_posts: u64,
}

pub async fn totals(db: &Client, table: &str) -> StoreResult<Totals> {
    let keys: Vec<Item> = (0..SHARDS)
        .map(|shard| key_item(shard_key(shard)))
        .collect();
    let mut request = Some(
        KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .map_err(StoreError::internal)?,
    );
    let (mut users, mut posts) = (0i64, 0i64);
    while let Some(keys) = request.take() {
        let out = db
            .batch_get_item()
            .request_items(table, keys)
            .send_retried()
            .await
            .map_err(db_error("BatchGetItem"))?;
        for item in out
            .responses
            .and_then(|mut r| r.remove(table))
            .into_iter()
            .flatten()
        {
            let shard: Shard = read(item)?;
            users += shard.users;
            posts += shard.posts_active;
        }
        request = out
            .unprocessed_keys
            .and_then(|mut u| u.remove(table))
            .filter(|k| !k.keys().is_empty());
        if request.is_some() {
            tokio::time::sleep(super::retry::backoff(2)).await;
        }
    }
    Ok(Totals {
        users: users.max(0) as u64,
        active_posts: posts.max(0) as u64,
    })
}

/// Adds `delta` to `counter` outside any transaction (repairs by `rota-admin verify --fix`;
/// run it on a quiet table, as a recount cannot see writes made while it scans).
pub async fn adjust(db: &Client, table: &str, counter: Counter, delta: i64) -> StoreResult<()> {
    // A transaction of one: its ClientRequestToken keeps a retried ADD from counting twice.
    super::transact(db, [add_to(table, 0, counter, delta)?])
        .await
        .map_err(db_error("TransactWriteItems"))?;
    Ok(())
}
