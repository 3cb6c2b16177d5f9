//! Cursors: what the server issues decodes back within its list and under its key; anything
//! else (an edit of any kind, another list's or key's cursor, any string at all) is refused
//! ([`InvalidCursor`], rota-api's 400), never a panic or another page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::cursor::{CursorKey, FeedCursor, InvalidCursor, MAX_CURSOR_LEN, TOP_WINDOW};

fn list() -> impl Strategy<Value = String> {
    prop_oneof![
        "(posts|comments|roadmaps|notifications):[a-z0-9]{0,12}",
        any::<String>()
    ]
}

/// A sort key: any text (a feed cursor's, or whatever another list keeps), up to ~1.5 KB.
fn sort_key() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        feed_cursor().prop_map(|c| c.to_string()),
        ".{0,700}",
    ]
}

fn feed_cursor() -> impl Strategy<Value = FeedCursor> {
    prop_oneof![
        any::<i128>().prop_map(FeedCursor::After),
        vec(any::<i64>(), 0..=TOP_WINDOW).prop_map(FeedCursor::Seen),
    ]
}

fn refused(result: Result<String, InvalidCursor>) -> bool {
    result == Err(InvalidCursor)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A cursor decodes, within its list and under its key, to the sort key it was issued
    /// for, whenever it is within the accepted length (a full top-feed window is: see the
    /// module's tests); a longer one is refused.
    #[test]
    fn cursors_round_trip(secret in vec(any::<u8>(), 0..64), list in list(), key in sort_key()) {
        let keys = CursorKey::derive(&secret);
        let cursor = keys.encode(&list, &key);
        if cursor.len() <= MAX_CURSOR_LEN {
            prop_assert_eq!(keys.decode(&list, &cursor).ok(), Some(key));
        } else {
            prop_assert!(refused(keys.decode(&list, &cursor)));
        }
    }

    /// A cursor is refused by any other list, and under any other secret.
    #[test]
    fn cursors_of_another_list_or_secret_are_refused(
        secret in vec(any::<u8>(), 0..64),
        other_secret in vec(any::<u8>(), 0..64),
        list in list(),
        other_list in list(),
        key in sort_key(),
    ) {
        let cursor = CursorKey::derive(&secret).encode(&list, &key);
        if other_list != list {
            prop_assert!(refused(CursorKey::derive(&secret).decode(&other_list, &cursor)));
        }
        if other_secret != secret {
            prop_assert!(refused(CursorKey::derive(&other_secret).decode(&list, &cursor)));
        }
    }

    /// Any edit of a cursor (a character replaced, inserted or removed, two swapped, a prefix
    /// or suffix cut off) is refused.
    #[test]
    fn edited_cursors_are_refused(
        list in list(),
        key in sort_key(),
        at in any::<prop::sample::Index>(),
        to in any::<prop::sample::Index>(),
        c in prop_oneof![
            prop::sample::select("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/".chars().collect::<Vec<_>>()),
            any::<char>(),
        ],
        edit in 0..6u8,
    ) {
        let keys = CursorKey::derive(b"test-secret");
        let cursor = keys.encode(&list, &key);
        let mut chars: Vec<char> = cursor.chars().collect();
        let (i, j) = (at.index(chars.len()), to.index(chars.len()));
        match edit {
            0 => chars[i] = c,
            1 => chars.insert(i, c),
            2 => { chars.remove(i); }
            3 => chars.swap(i, j),
            4 => chars.truncate(i),
            _ => { chars.drain(..i); }
        }
        let edited: String = chars.into_iter().collect();
        prop_assume!(edited != cursor);
        prop_assert!(refused(keys.decode(&list, &edited)), "{:?} accepted", edited);
    }

    /// Any string at all, and any payload signed with a made-up tag, is refused without a
    /// panic (only the server's key signs).
    #[test]
    fn made_up_cursors_are_refused(
        list in list(),
        raw in prop_oneof![any::<String>(), "[A-Za-z0-9_.=-]{0,80}", ".{2040,2060}"],
        key in sort_key(),
        tag in vec(any::<u8>(), 0..40),
    ) {
        let keys = CursorKey::derive(b"test-secret");
        prop_assert!(refused(keys.decode(&list, &raw)), "{:?} accepted", raw);
        let payload = serde_json::json!({"l": &list, "k": &key}).to_string();
        let forged = format!("{}.{}", B64.encode(payload), B64.encode(&tag));
        prop_assert!(refused(keys.decode(&list, &forged)));
    }

    /// A feed cursor reads back from its text as itself; any text at all is read without a
    /// panic, and what it reads as writes out to a text that reads back the same.
    #[test]
    fn feed_cursors_round_trip(
        cursor in feed_cursor(),
        raw in prop_oneof![any::<String>(), "s[A-Za-z0-9_-]{0,40}", "[+-]?[0-9]{0,45}"],
    ) {
        prop_assert_eq!(cursor.to_string().parse::<FeedCursor>(), Ok(cursor));
        if let Ok(read) = raw.parse::<FeedCursor>() {
            if let FeedCursor::Seen(ids) = &read {
                prop_assert!(ids.len() <= TOP_WINDOW);
            }
            prop_assert_eq!(read.to_string().parse::<FeedCursor>(), Ok(read));
        }
    }

    /// A `Seen` cursor of more ids than the top feed's window is refused.
    #[test]
    fn feed_cursors_past_the_window_are_refused(ids in vec(any::<i64>(), TOP_WINDOW + 1..TOP_WINDOW + 20)) {
        prop_assert!(FeedCursor::Seen(ids).to_string().parse::<FeedCursor>().is_err());
    }
}
