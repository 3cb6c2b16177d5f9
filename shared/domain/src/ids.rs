//! 64-bit ids that stay below 2^53 (exact in JavaScript) and sort by creation time.
//!
//! Layout: milliseconds since 2025-01-01 (41 bits, good until about 2094) then 12 random
//! bits. Many Lambda instances mint ids at once without coordination, so every write that
//! creates an item by id is conditional (`attribute_not_exists`) and retries with a fresh id
//! on the rare collision.

use rand::Rng;

const EPOCH_MS: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z
const RANDOM_BITS: u32 = 12;

pub fn new_id() -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    new_id_at(now, rand::rng().random_range(0..(1 << RANDOM_BITS)))
}

/// The smallest id minted at or after `ms` (epoch milliseconds): "posts since t" is
/// "id >= first_id_at(t)".
pub fn first_id_at(ms: i64) -> i64 {
    new_id_at(ms, 0)
}

fn new_id_at(now_ms: i64, random: i64) -> i64 {
    ((now_ms - EPOCH_MS).max(1) << RANDOM_BITS) | random
}

/// Typed ids: a post id cannot be passed where a comment id is expected. The store takes
/// plain `i64`s (the key formats are its own business); handlers unwrap them there.
macro_rules! typed_ids {
    ($($(#[$doc:meta])* $name:ident($inner:ty);)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $inner);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

typed_ids! {
    /// A community post.
    PostId(i64);
    /// A comment on a post.
    CommentId(i64);
    /// One of a user's roadmaps.
    RoadmapId(i64);
    /// A step of a roadmap: 1..=n in plan order.
    StepId(u32);
    /// A notification in a user's inbox.
    NotificationId(i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_exact_in_javascript_for_decades() {
        let year_2090 = 3_786_912_000_000;
        assert!(new_id_at(year_2090, (1 << RANDOM_BITS) - 1) < (1 << 53));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = new_id_at(EPOCH_MS + 1000, 4095);
        let b = new_id_at(EPOCH_MS + 1001, 0);
        assert!(b > a);
        assert!(new_id() > 0);
    }
}
