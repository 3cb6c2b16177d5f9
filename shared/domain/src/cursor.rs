//! Opaque, tamper-evident pagination cursors.
//!
//! A cursor is `base64url(payload) "." base64url(HMAC-SHA256(key, payload)[..16])`, where the
//! payload names the list it belongs to and the last sort key served. An edited, truncated or
//! foreign cursor fails the MAC or the list check: [`InvalidCursor`] (rota-api answers 400),
//! never a panic or a wrong page. Here, not in rota-api, so that the fuzz targets build it
//! without the SDKs (fuzz/).
//!
//! The feeds' cursors are [`FeedCursor`]s: a sort key, or on the top feed (whose sort key, the
//! like count, moves between pages) the ids listed so far.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// A cursor that is not one this key issued for this list (edited, truncated, foreign, or not
/// a cursor at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is invalid or belongs to another list")]
pub struct InvalidCursor;

#[derive(Serialize, Deserialize)]
struct Payload {
    /// The list: e.g. `posts:new`, `comments:123`.
    l: String,
    /// The last sort key served.
    k: String,
}

/// The longest cursor accepted: a top-feed cursor carrying [`TOP_WINDOW`] ids is ~1.5 KB.
pub const MAX_CURSOR_LEN: usize = 2048;

/// How many posts of a `sort=top` listing are paged by the ids already listed (none skipped,
/// none repeated while counts move); past them, pages continue by like count.
pub const TOP_WINDOW: usize = 100;

/// Where the next page of a feed starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedCursor {
    /// Below this sort key: the `new` feed, and `top` past its [`TOP_WINDOW`].
    After(i128),
    /// The `top` feed within its window: the ids listed so far (the next page is the most
    /// liked posts not among them).
    Seen(Vec<i64>),
}

impl std::fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // A bare number: the form every feed cursor had before `Seen`.
            FeedCursor::After(key) => write!(f, "{key}"),
            FeedCursor::Seen(ids) => {
                let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
                write!(f, "s{}", B64.encode(bytes))
            }
        }
    }
}

impl std::str::FromStr for FeedCursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.strip_prefix('s') {
            Some(ids) => {
                let bytes = B64.decode(ids).map_err(|_| ())?;
                if bytes.len() % 8 != 0 || bytes.len() / 8 > TOP_WINDOW {
                    return Err(());
                }
                Ok(FeedCursor::Seen(
                    bytes
                        .chunks_exact(8)
                        .map(|c| i64::from_be_bytes(c.try_into().expect("8 bytes")))
                        .collect(),
                ))
            }
            None => s.parse().map(FeedCursor::After).map_err(|_| ()),
        }
    }
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
    pub fn decode(&self, list: &str, cursor: &str) -> Result<String, InvalidCursor> {
        let bad = || InvalidCursor;
        if cursor.len() > MAX_CURSOR_LEN {
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
        for garbage in [
            "",
            ".",
            "abc",
            "a.b",
            "%%%.%%%",
            &"x".repeat(MAX_CURSOR_LEN + 1),
        ] {
            assert!(key().decode("posts:new", garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn feed_cursors_round_trip_and_a_full_top_window_fits() {
        for cursor in [
            FeedCursor::After(-5),
            FeedCursor::After(30_000_000_000_000_000_249_574_301_227_867),
            FeedCursor::Seen(vec![]),
            FeedCursor::Seen(vec![249_574_301_227_867, 1, i64::MAX]),
        ] {
            assert_eq!(cursor.to_string().parse::<FeedCursor>(), Ok(cursor));
        }
        let full = FeedCursor::Seen((0..TOP_WINDOW as i64).map(|i| i << 50).collect());
        let encoded = key().encode("posts:top", &full.to_string());
        assert!(encoded.len() <= MAX_CURSOR_LEN, "{}", encoded.len());
        let decoded = key().decode("posts:top", &encoded).unwrap();
        assert_eq!(decoded.parse::<FeedCursor>(), Ok(full));
        let over = FeedCursor::Seen(vec![1; TOP_WINDOW + 1]).to_string();
        assert!(over.parse::<FeedCursor>().is_err());
        for garbage in ["s!", "s", "sAAAA", "x12", ""] {
            let parsed = garbage.parse::<FeedCursor>();
            assert!(
                parsed.is_err() || parsed == Ok(FeedCursor::Seen(vec![])),
                "{garbage:?}"
            );
        }
    }
}
