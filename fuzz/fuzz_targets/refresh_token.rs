//! Refresh tokens on any text: nothing panics, and what parses is a token of our shape that
//! keeps every byte presented (its hash covers them all), whose family and generation read
//! back from that text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rota_domain::refresh_token::RefreshToken;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(token) = RefreshToken::parse(raw) {
        assert_eq!(token.as_str(), raw);
        assert!(raw.len() <= 200);
        let mut parts = raw.split('.');
        assert_eq!(parts.next(), Some(token.family.as_str()));
        assert_eq!(parts.next().map(str::parse), Some(Ok(token.generation)));
        assert_eq!(parts.count(), 1);
        assert_eq!(token.hash().len(), 64);
    }
});
