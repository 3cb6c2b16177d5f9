//! Opaque, tamper-evident pagination cursors.
//!
//! A cursor is `base64url(payload) "." base64url(HMAC-SHA256(key, payload)[..16])`, where the
//! payload names the list it belongs to and the last sort key served. An edited, truncated or
//! foreign cursor fails the MAC or the list check: 400, never a 500 or a wrong page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;

#[derive(Serialize, Deserialize)]
struct Payload {
    /// The list: e.g. `posts:new`, `comments:123`.
    l: String,
    /// The last sort key served.
    k: String,
}

pub struct CursorKey(Vec<u8>);

impl CursorKey {
    /// Derived from the service secret so a cursor cannot be forged without it.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"rota-cursor-v1");
        Self(mac.finalize().into_bytes().to_vec())
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(payload);
        mac
    }

    pub fn encode(&self, list: &str, key: &str) -> String {
        let payload = serde_json::to_vec(&Payload {
            l: list.to_owned(),
            k: key.to_owned(),
        })
        .expect("a struct of strings serialises");
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(&tag[..16]))
    }

    /// The sort key of a cursor issued for `list`.
    pub fn decode(&self, list: &str, cursor: &str) -> Result<String, ApiError> {
        let bad =
            || ApiError::BadRequest("The cursor is invalid or belongs to another list.".into());
        if cursor.len() > 512 {
            return Err(bad());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = B64.decode(payload).map_err(|_| bad())?;
        let tag = B64.decode(tag).map_err(|_| bad())?;
        self.mac(&payload)
            .verify_truncated_left(&tag)
            .map_err(|_| bad())?;
        if tag.len() != 16 {
            return Err(bad());
        }
        let payload: Payload = serde_json::from_slice(&payload).map_err(|_| bad())?;
        if payload.l != list {
            return Err(bad());
        }
        Ok(payload.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::derive(b"test-secret")
    }

    #[test]
    fn cursors_round_trip_within_their_list() {
        let c = key().encode("posts:new", "12345");
        assert_eq!(key().decode("posts:new", &c).unwrap(), "12345");
    }

    #[test]
    fn cursors_from_another_list_or_key_are_refused() {
        let c = key().encode("posts:new", "12345");
        assert!(key().decode("posts:top", &c).is_err());
        assert!(CursorKey::derive(b"other").decode("posts:new", &c).is_err());
    }

    #[test]
    fn edited_and_garbage_cursors_are_refused() {
        let c = key().encode("posts:new", "12345");
        let (payload, tag) = c.split_once('.').unwrap();
        let forged = B64.encode(br#"{"l":"posts:new","k":"99999"}"#);
        assert!(
            key()
                .decode("posts:new", &format!("{forged}.{tag}"))
                .is_err()
        );
        assert!(
            key()
                .decode("posts:new", &format!("{payload}.{}", &tag[..10]))
                .is_err()
        );
        for garbage in ["", ".", "abc", "a.b", "%%%.%%%", &"x".repeat(600)] {
            assert!(key().decode("posts:new", garbage).is_err(), "{garbage:?}");
        }
    }
}
