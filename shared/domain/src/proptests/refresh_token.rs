//! Refresh tokens, `<family>.<generation>.<secret>`: every token we issue parses back to
//! itself; a presented string parses only when it has that shape (a 16-byte family and a
//! 32-byte secret in unpadded base64url, a decimal generation); what parses is held to the
//! SHA-256 of every byte presented, so no edit of a token can stand for it. Any string at all
//! is read without panicking.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD as B64};
use proptest::prelude::*;

use crate::refresh_token::RefreshToken;

/// A part of a token and whether it is of the documented shape.
type Part = (String, bool);

/// A family (16 bytes) or secret (32 bytes) in unpadded base64url, or a near miss: one byte
/// short or over, padded, the standard alphabet's `+` and `/`, a last character with bits
/// set beyond the bytes it ends (not the canonical spelling), a stray character.
fn encoded(len: usize) -> impl Strategy<Value = Part> {
    let bytes = |n: usize| prop::collection::vec(any::<u8>(), n);
    prop_oneof![
        4 => bytes(len).prop_map(|b| (B64.encode(b), true)),
        1 => prop_oneof![bytes(len - 1), bytes(len + 1), bytes(0)].prop_map(|b| (B64.encode(b), false)),
        1 => bytes(len).prop_map(|b| (URL_SAFE.encode(b), false)),
        1 => (bytes(len), prop::sample::select(vec!['+', '/', '=', '.', ' ', 'é'])).prop_map(
            |(b, c)| {
                let mut s = B64.encode(b);
                s.replace_range(..1, c.encode_utf8(&mut [0; 4]));
                (s, false)
            }
        ),
        1 => bytes(len).prop_filter_map("standard alphabet needed", |b| {
            let s = STANDARD_NO_PAD.encode(&b);
            (s.contains(['+', '/'])).then_some((s, false))
        }),
        // 16 and 32 bytes both leave bits over in the last character (2 and 4 bits of it
        // name bytes): setting the lowest makes a spelling no encoder writes.
        1 => bytes(len).prop_map(|b| {
            let mut s = B64.encode(b);
            let last = s.pop().unwrap();
            let pos = ALPHABET.find(last).unwrap();
            s.push(ALPHABET.as_bytes()[pos | 1] as char);
            (s, false)
        }),
    ]
}

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A generation: any u64 in decimal, or something that is not one.
fn generation() -> impl Strategy<Value = Part> {
    prop_oneof![
        4 => any::<u64>().prop_map(|g| (g.to_string(), true)),
        1 => prop::sample::select(vec![
            "", "-1", "18446744073709551616", "1.0", "0x1", " 1", "1 ", "1e3", "one", "٣",
        ])
        .prop_map(|g| (g.to_owned(), false)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// A token of any family, generation and secret parses back to itself: the same family,
    /// generation, text and hash (64 lowercase hex digits).
    #[test]
    fn refresh_tokens_round_trip(
        family in any::<[u8; 16]>(),
        generation in any::<u64>(),
        secret in any::<[u8; 32]>(),
    ) {
        let family = RefreshToken::family_from(&family);
        let token = RefreshToken::with_secret(&family, generation, &secret);
        let parsed = RefreshToken::parse(token.as_str());
        prop_assert_eq!(parsed.as_ref(), Some(&token));
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed.family, &family);
        prop_assert_eq!(parsed.generation, generation);
        prop_assert_eq!(parsed.hash(), token.hash());
        prop_assert!(token.hash().len() == 64 && token.hash().bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }

    /// A string of three dot-separated parts parses exactly when each part has its shape.
    #[test]
    fn refresh_tokens_parse_exactly_when_each_part_has_its_shape(
        (family, family_ok) in encoded(16),
        (generation, generation_ok) in generation(),
        (secret, secret_ok) in encoded(32),
    ) {
        let raw = format!("{family}.{generation}.{secret}");
        let parsed = RefreshToken::parse(&raw);
        prop_assert_eq!(parsed.is_some(), family_ok && generation_ok && secret_ok, "{}", raw);
        if let Some(token) = parsed {
            prop_assert_eq!(token.family, family);
            prop_assert_eq!(token.generation.to_string(), generation);
        }
    }

    /// Any edit of a token (a character replaced, inserted or removed, a prefix or suffix)
    /// either does not parse or hashes differently: the stored hash never matches it.
    #[test]
    fn edited_refresh_tokens_never_stand_for_the_token(
        family in any::<[u8; 16]>(),
        generation in any::<u64>(),
        secret in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        c in prop_oneof![prop::sample::select(ALPHABET.chars().collect::<Vec<_>>()), Just('.'), any::<char>()],
        edit in 0..5u8,
    ) {
        let token = RefreshToken::with_secret(&RefreshToken::family_from(&family), generation, &secret);
        let mut chars: Vec<char> = token.as_str().chars().collect();
        let i = at.index(chars.len());
        match edit {
            0 => chars[i] = c,
            1 => chars.insert(i, c),
            2 => { chars.remove(i); }
            3 => chars.truncate(i),
            _ => { chars.drain(..i); }
        }
        let edited: String = chars.into_iter().collect();
        prop_assume!(edited != token.as_str());
        if let Some(parsed) = RefreshToken::parse(&edited) {
            prop_assert_eq!(parsed.as_str(), edited.as_str());
            prop_assert_ne!(parsed.hash(), token.hash());
        }
    }

    /// Another spelling of a token's generation (a `+`, leading zeros) still reads as a number,
    /// but the hash covers the text presented, so it does not stand for the token.
    #[test]
    fn other_spellings_of_a_generation_hash_differently(
        family in any::<[u8; 16]>(),
        generation in any::<u64>(),
        secret in any::<[u8; 32]>(),
        prefix in prop::sample::select(vec!["+", "0", "00", "+0"]),
    ) {
        let family = RefreshToken::family_from(&family);
        let token = RefreshToken::with_secret(&family, generation, &secret);
        let secret = token.as_str().rsplit('.').next().unwrap();
        let respelt = format!("{family}.{prefix}{generation}.{secret}");
        if let Some(parsed) = RefreshToken::parse(&respelt) {
            prop_assert_eq!(parsed.generation, generation);
            prop_assert_ne!(parsed.hash(), token.hash());
        }
    }

    /// Any string at all is read without panicking; what parses is at most 200 bytes and
    /// keeps the text presented.
    #[test]
    fn any_string_is_read_as_a_refresh_token_or_refused(
        raw in prop_oneof![any::<String>(), "[A-Za-z0-9_.-]{0,120}", ".{190,210}"],
    ) {
        if let Some(token) = RefreshToken::parse(&raw) {
            prop_assert!(raw.len() <= 200);
            prop_assert_eq!(token.as_str(), raw.as_str());
        }
    }
}
