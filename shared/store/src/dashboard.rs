//! What the dashboard reads of one user's own items, in one call.
//!
//! The profile, the streak, the inbox's unread count and the user's likes of the posts shown
//! all live in the user's partition (`USER#<id>`) under known sort keys, so one strongly
//! consistent BatchGetItem reads them together (`docs/data-model.md`, "The dashboard's
//! reads"): one DynamoDB call where there were four (three GetItems and the likes'
//! BatchGetItem), each of which cost its own signing, connection and response parsing.

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use rota_domain::streak::Streak;

use super::item::read;
use super::posts::{Posts, like_key, liked_post};
use super::roadmaps::{StreakItem, streak_key};
use super::users::{User, inbox_key, user_key};
use super::{Item, StoreResult, get_n, get_s, key_item};

/// The user's own items the dashboard shows.
#[derive(Debug, Default)]
pub struct OwnItems {
    /// `None`: the account is gone.
    pub user: Option<User>,
    pub streak: Option<Streak>,
    /// Unread notifications (the inbox item's count; 0 without one).
    pub unread: u64,
    /// Which of the posts asked about the user likes.
    pub liked: HashSet<i64>,
}

pub struct Dashboard<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Dashboard<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    /// The profile, streak and inbox of `user_id`, and their likes of `posts`: one
    /// BatchGetItem of 3 + `posts.len()` keys, strongly consistent (a user sees their own
    /// writes: a step just marked, a post just liked).
    pub async fn own_items(&self, user_id: i64, posts: &[i64]) -> StoreResult<OwnItems> {
        let mut keys: Vec<Item> = [user_key(user_id), streak_key(user_id), inbox_key(user_id)]
            .into_iter()
            .map(key_item)
            .collect();
        keys.extend(posts.iter().map(|&id| key_item(like_key(id, user_id))));
        let mut own = OwnItems::default();
        let answers = Posts::new(self.db, self.table)
            .batch_get_all(&keys, true)
            .await?;
        for item in answers.into_iter().flatten() {
            if let Some(post) = liked_post(&item)? {
                own.liked.insert(post);
                continue;
            }
            match get_s(&item, "SK")?.as_str() {
                "PROFILE" => own.user = Some(read(item)?),
                "STREAK" => {
                    let streak: StreakItem = read(item)?;
                    own.streak = Some(Streak {
                        last_day: streak.last_day,
                        days: streak.days,
                    });
                }
                "INBOX" => own.unread = get_n::<i64>(&item, "unread").unwrap_or(0).max(0) as u64,
                _ => {}
            }
        }
        Ok(own)
    }
}
