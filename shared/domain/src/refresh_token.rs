//! Opaque refresh tokens: `<family>.<generation>.<secret>`. The family is a random 128-bit
//! id naming one login session, the generation counts rotations, the secret is 256 random
//! bits. Only the token's SHA-256 is stored. Knowing a family id means having held a token of
//! that family, so presenting an older generation is re-use of a rotated token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A refresh token as presented by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub family: String,
    pub generation: u64,
    raw: String,
}

impl RefreshToken {
    /// A new token of `family` at `generation`.
    pub fn mint(family: &str, generation: u64) -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let raw = format!("{family}.{generation}.{}", B64.encode(secret));
        Self {
            family: family.to_owned(),
            generation,
            raw,
        }
    }

    /// The token of `family` at `generation` with a given secret: a token the server can
    /// recompute (the secret derived with a server key from the request that minted it).
    pub fn with_secret(family: &str, generation: u64, secret: &[u8; 32]) -> Self {
        let raw = format!("{family}.{generation}.{}", B64.encode(secret));
        Self {
            family: family.to_owned(),
            generation,
            raw,
        }
    }

    /// A family id from 16 given bytes (derived, like [`Self::with_secret`]'s secret).
    pub fn family_from(id: &[u8; 16]) -> String {
        B64.encode(id)
    }

    pub fn new_family() -> String {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        B64.encode(id)
    }

    /// Parses a presented token; anything that is not of our shape is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > 200 {
            return None;
        }
        let mut parts = raw.split('.');
        let (family, generation, secret) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let family_ok = B64.decode(family).is_ok_and(|b| b.len() == 16);
        let secret_ok = B64.decode(secret).is_ok_and(|b| b.len() == 32);
        let generation = generation.parse().ok()?;
        (family_ok && secret_ok).then(|| Self {
            family: family.to_owned(),
            generation,
            raw: raw.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// What is stored: the SHA-256 of the whole token, hex.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.raw.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_parse_back_and_hash_stably() {
        let family = RefreshToken::new_family();
        let t = RefreshToken::mint(&family, 3);
        let parsed = RefreshToken::parse(t.as_str()).unwrap();
        assert_eq!(parsed, t);
        assert_eq!(parsed.generation, 3);
        assert_eq!(parsed.hash(), t.hash());
        assert_eq!(t.hash().len(), 64);
        assert_ne!(RefreshToken::mint(&family, 3).hash(), t.hash());
    }

    #[test]
    fn garbage_refresh_tokens_do_not_parse() {
        for bad in ["", "a.b.c", "x", "....", &"a".repeat(500)] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad:?}");
        }
    }
}
