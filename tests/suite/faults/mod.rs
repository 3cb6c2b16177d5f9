//! What the data layer and the cache do when AWS or Redis fail: the one retry policy against
//! an emulator that fails like DynamoDB, and the cache's circuit breaker. (The whole stack under
//! a fault profile: `storm`, run by scripts/test.sh under `bad-day` too.)

mod cache_outage;
mod dynamo_rules;
mod retry_policy;

use rota_store::posts::Post;

/// A new active post `id` of user 1's, titled `title`, without likes or comments.
fn a_post(id: i64, title: &str, content: String) -> Post {
    let now = chrono::Utc::now();
    Post {
        id,
        author_id: 1,
        author_name: "A".into(),
        title: title.into(),
        content,
        likes_count: 0,
        comments_count: 0,
        created_at: now,
        updated_at: now,
        is_active: true,
    }
}
