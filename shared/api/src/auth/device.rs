//! Device tokens: OWASP's "Slow Down Online Guessing Attacks with Device Cookies", for clients
//! that are apps (a response member and a request member instead of a cookie).
//!
//! A successful login hands out a token bound to the account (its email): `<id>.<tag>`, a
//! random 128-bit id and an HMAC tag over the email and the id under a key derived from the
//! service secret, so it cannot be forged nor moved to another account. A login presenting a
//! valid token for its email is *trusted* and limited per device; every other attempt on the
//! account shares one cap across all addresses. When attackers spend that cap, untrusted
//! attempts are refused for the window, while a device that has signed in before keeps its
//! own allowance: the cap cannot be aimed at the owner.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;

use super::tokens::TokenKeys;

const PURPOSE: &str = "device-token";

/// A device token valid for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken {
    id: String,
    raw: String,
}

impl DeviceToken {
    /// A new token for the account of `email_key` (the email's case-folded key).
    pub fn mint(keys: &TokenKeys, email_key: &str) -> Self {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let id = B64.encode(id);
        let tag = B64.encode(Self::tag(keys, email_key, &id));
        Self {
            raw: format!("{id}.{tag}"),
            id,
        }
    }

    /// `presented` when it is a token of ours for the account of `email_key`; a forged token,
    /// another account's, or garbage is `None` (the attempt is untrusted).
    pub fn verify(keys: &TokenKeys, email_key: &str, presented: &str) -> Option<Self> {
        let (id, tag) = presented.split_once('.')?;
        if B64.decode(id).ok()?.len() != 16 {
            return None;
        }
        let tag = B64.decode(tag).ok()?;
        let same = keys.is_derived(&tag, PURPOSE, &[email_key.as_bytes(), id.as_bytes()]);
        same.then(|| Self {
            id: id.to_owned(),
            raw: presented.to_owned(),
        })
    }

    fn tag(keys: &TokenKeys, email_key: &str, id: &str) -> [u8; 32] {
        keys.derive(PURPOSE, &[email_key.as_bytes(), id.as_bytes()])
    }

    /// The device's id: what its own limit counts under.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_tokens_verify_for_their_account_only() {
        let k = TokenKeys::for_tests(b"0123456789abcdef0123456789abcdef");
        let t = DeviceToken::mint(&k, "ada@example.com");
        assert_eq!(
            DeviceToken::verify(&k, "ada@example.com", t.as_str()),
            Some(t.clone())
        );
        assert_eq!(DeviceToken::verify(&k, "bo@example.com", t.as_str()), None);
        let other = TokenKeys::for_tests(b"another-secret-another-secret-xx");
        assert_eq!(
            DeviceToken::verify(&other, "ada@example.com", t.as_str()),
            None
        );
        let (id, _) = t.as_str().split_once('.').unwrap();
        let forged = format!("{id}.{}", B64.encode([0u8; 32]));
        assert_eq!(DeviceToken::verify(&k, "ada@example.com", &forged), None);
        for garbage in ["", ".", "x.y", "a.b.c"] {
            assert_eq!(DeviceToken::verify(&k, "ada@example.com", garbage), None);
        }
    }
}
