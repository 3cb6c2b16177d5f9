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

use super::{Item, db_error, get_bool, get_n, get_s, is_condition_failed, n, s};
use super::{SendRetried, StoreError};
use rota_domain::refresh_token::RefreshToken;

fn key(family: &str) -> (String, String) {
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

/// The item for a new session whose first token is `token`.
pub fn new_session_item(token: &RefreshToken, user_id: i64, now: i64, expires_at: i64) -> Item {
    let (pk, sk) = key(&token.family);
    Item::from([
        ("PK".into(), s(pk)),
        ("SK".into(), s(sk)),
        ("entity".into(), s("session")),
        ("user_id".into(), n(user_id)),
        ("generation".into(), n(token.generation)),
        ("token_hash".into(), s(token.hash())),
        ("revoked".into(), AttributeValue::Bool(false)),
        ("created_at".into(), n(now)),
        ("expires_at".into(), n(expires_at)),
    ])
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
        match result {
            Ok(_) => Ok(()),
            // Family ids are 128 random bits: the item can only be this put's own earlier
            // attempt, whose answer was lost and which the retry policy sent again.
            Err(err) if is_condition_failed(&err) => Ok(()),
            Err(err) => Err(db_error("PutItem")(err)),
        }
    }

    /// The live (unexpired) session of `family`, revoked or not.
    pub async fn get(&self, family: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let (pk, sk) = key(family);
        let item = super::get_item(self.db, self.table, pk, sk, true).await?;
        let Some(item) = item else {
            return Ok(None);
        };
        let session = Session {
            family: family.to_owned(),
            user_id: get_n(&item, "user_id")?,
            generation: get_n(&item, "generation")?,
            token_hash: get_s(&item, "token_hash")?,
            revoked: get_bool(&item, "revoked")?,
            rotated_at: item
                .contains_key("rotated_at")
                .then(|| get_n(&item, "rotated_at"))
                .transpose()?,
            expires_at: get_n(&item, "expires_at")?,
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
        let (pk, sk) = key(&current.family);
        let result = self
            .db
            .update_item()
            .table_name(self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
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
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failed(&err) => {
                // Lost to another use of the token — or to our own earlier attempt, whose
                // answer was lost: then the session already holds `next`.
                let now = chrono::Utc::now().timestamp();
                Ok(self.get(&current.family, now).await?.is_some_and(|s| {
                    !s.revoked && s.generation == next.generation && s.token_hash == next.hash()
                }))
            }
            Err(err) => Err(db_error("UpdateItem")(err)),
        }
    }

    /// Revokes the family when `presented` is, or once was, one of its tokens: the current
    /// one (hash matches) or an older generation. Returns whether it revoked anything.
    pub async fn revoke_presented(&self, presented: &RefreshToken) -> Result<bool, StoreError> {
        let (pk, sk) = key(&presented.family);
        let result = self
            .db
            .update_item()
            .table_name(self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression("SET revoked = :true")
            .condition_expression(
                "attribute_exists(PK) AND (generation > :gen OR token_hash = :hash)",
            )
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":gen", n(presented.generation))
            .expression_attribute_values(":hash", s(presented.hash()))
            .send_retried()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failed(&err) => Ok(false),
            Err(err) => Err(db_error("UpdateItem")(err)),
        }
    }
}
