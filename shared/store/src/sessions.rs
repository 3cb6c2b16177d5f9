//! Refresh-token sessions ("families").
//!
//! | item | PK | SK | holds |
//! |---|---|---|---|
//! | session | `SESSION#<family>` | `SESSION` | user_id, generation, token_hash (SHA-256), revoked, rotated_at (epoch s, the last rotation), expires_at (TTL) |
//!
//! One item per login. Rotation is a conditional UpdateItem on (generation, token_hash), so
//! of two concurrent uses of one token exactly one wins; the loser is treated as re-use.
//! DynamoDB's TTL deletes expired items within days, so reads also check `expires_at`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::item::{entity_item, read};
use super::{Item, Key, conditional, n, s};
use super::{SendRetried, StoreError};
use rota_domain::refresh_token::RefreshToken;

pub(crate) fn key(family: &str) -> Key {
    (format!("SESSION#{family}"), "SESSION".into())
}

#[derive(Debug, Clone)]
pub struct Session {
    pub family: String,
    pub user_id: i64,
    pub generation: u64,
    pub token_hash: String,
    pub revoked: bool,
    /// When the current token replaced its predecessor (`None`: never rotated).
    pub rotated_at: Option<i64>,
    pub expires_at: i64,
}

/// The session item's attributes (its family is its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionItem {
    pub user_id: i64,
    pub generation: u64,
    pub token_hash: String,
    pub revoked: bool,
    /// Written by each rotation (an UpdateItem), absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<i64>,
    /// When the session began (epoch s); never read back.
    #[serde(default)]
    pub created_at: i64,
    pub expires_at: i64,
}

/// The item for a new session whose first token is `token`.
pub fn new_session_item(token: &RefreshToken, user_id: i64, now: i64, expires_at: i64) -> Item {
    let session = SessionItem {
        user_id,
        generation: token.generation,
        token_hash: token.hash(),
        revoked: false,
        rotated_at: None,
        created_at: now,
        expires_at,
    };
    // Integers, a string and a boolean: serde_dynamo cannot fail on them.
    entity_item(key(&token.family), "session", &session).expect("a session item always maps")
}

pub struct Sessions<'a> {
    db: &'a Client,
    table: &'a str,
}

impl<'a> Sessions<'a> {
    pub fn new(db: &'a Client, table: &'a str) -> Self {
        Self { db, table }
    }

    pub async fn create(&self, item: Item) -> Result<(), StoreError> {
        let result = self
            .db
            .put_item()
            .table_name(self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send_retried()
            .await;
        // Family ids are 128 random bits: an existing item can only be this put's own earlier
        // attempt, whose answer was lost and which the retry policy sent again.
        conditional(result, "PutItem")?;
        Ok(())
    }

    /// The live (unexpired) session of `family`, revoked or not.
    pub async fn get(&self, family: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let (pk, sk) = key(family);
        let item = super::get_item(self.db, self.table, pk, sk, true).await?;
        let Some(item) = item else {
            return Ok(None);
        };
        let stored: SessionItem = read(item)?;
        let session = Session {
            family: family.to_owned(),
            user_id: stored.user_id,
            generation: stored.generation,
            token_hash: stored.token_hash,
            revoked: stored.revoked,
            rotated_at: stored.rotated_at,
            expires_at: stored.expires_at,
        };
        Ok((session.expires_at > now).then_some(session))
    }

    /// Moves the session from `current` to `next` at `now`; `false` when someone else rotated
    /// or revoked it first.
    pub async fn rotate(
        &self,
        current: &Session,
        next: &RefreshToken,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = super::update_item(self.db, self.table, key(&current.family))
            .update_expression(
                "SET generation = :next, token_hash = :new_hash, rotated_at = :now, \
                 expires_at = :exp",
            )
            .condition_expression(
                "generation = :gen AND token_hash = :old_hash AND revoked = :false",
            )
            .expression_attribute_values(":next", n(next.generation))
            .expression_attribute_values(":new_hash", s(next.hash()))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":gen", n(current.generation))
            .expression_attribute_values(":old_hash", s(&current.token_hash))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send_retried()
            .await;
        if conditional(result, "UpdateItem")?.is_some() {
            return Ok(true);
        }
        // Lost to another use of the token — or to our own earlier attempt, whose answer was
        // lost: then the session already holds `next`.
        let now = chrono::Utc::now().timestamp();
        Ok(self.get(&current.family, now).await?.is_some_and(|s| {
            !s.revoked && s.generation == next.generation && s.token_hash == next.hash()
        }))
    }

    /// Revokes the family when `presented` is, or once was, one of its tokens: the current
    /// one (hash matches) or an older generation. Returns whether it revoked anything.
    pub async fn revoke_presented(&self, presented: &RefreshToken) -> Result<bool, StoreError> {
        let result = super::update_item(self.db, self.table, key(&presented.family))
            .update_expression("SET revoked = :true")
            .condition_expression(
                "attribute_exists(PK) AND (generation > :gen OR token_hash = :hash)",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":gen", n(presented.generation))
            .expression_attribute_values(":hash", s(presented.hash()))
            .send_retried()
            .await;
        Ok(conditional(result, "UpdateItem")?.is_some())
    }
}
