//! Pagination cursors on any text: without the server's key nothing decodes (the fuzzer
//! cannot forge a MAC), nothing panics, and a feed cursor that parses writes out to a text
//! that parses back the same. Any text as a sort key round-trips through a cursor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rota_domain::cursor::{CursorKey, FeedCursor, MAX_CURSOR_LEN, TOP_WINDOW};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let keys = CursorKey::derive(b"fuzz");
    assert!(keys.decode("posts:new", raw).is_err(), "{raw:?} decoded");
    let cursor = keys.encode("posts:new", raw);
    if cursor.len() <= MAX_CURSOR_LEN {
        assert_eq!(keys.decode("posts:new", &cursor).ok().as_deref(), Some(raw));
        assert!(keys.decode("posts:top", &cursor).is_err());
    }
    if let Ok(feed) = raw.parse::<FeedCursor>() {
        if let FeedCursor::Seen(ids) = &feed {
            assert!(ids.len() <= TOP_WINDOW);
        }
        assert_eq!(feed.to_string().parse::<FeedCursor>(), Ok(feed));
    }
});
