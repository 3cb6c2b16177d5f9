//! Reads the community stats are made of that belong to no single aggregate.

use aws_sdk_dynamodb::Client;

use super::posts::{Feed, feed_partition};
use super::{StoreResult, count_all, n, s};

/// How many posts were created at or after `since_id` (ids sort by creation time): one COUNT
/// Query `id >= since_id` on the `feed-new` index per feed shard, all concurrently (one round
/// trip), summed. Its cost grows with the recent posts only.
pub async fn posts_since(
    db: &Client,
    table: &str,
    feed_shards: u32,
    since_id: i64,
) -> StoreResult<u64> {
    let counts = futures_util::future::try_join_all((0..feed_shards).map(|shard| {
        count_all(
            db.query()
                .table_name(table)
                .index_name(Feed::New.index())
                .key_condition_expression("#feed = :feed AND id >= :since")
                .expression_attribute_names("#feed", "feed")
                .expression_attribute_values(":feed", s(feed_partition(shard)))
                .expression_attribute_values(":since", n(since_id)),
        )
    }))
    .await?;
    Ok(counts.iter().sum())
}
