//! Access tokens (HS256 JWTs, 15 minutes) and opaque refresh tokens.
//!
//! A refresh token reads `<family>.<generation>.<secret>`: the family is a random 128-bit id
//! naming one login session, the generation counts rotations, the secret is 256 random bits.
//! Only its SHA-256 is stored. Knowing a family id means having held a token of that family,
//! so presenting an older generation is re-use of a rotated token and revokes the family.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use rota_domain::input::Role;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
}

/// The caller, as proven by a valid access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i64,
    pub role: Role,
}

/// Who issues the access tokens and for whom (`iss`, `aud`): the stack, so that a token of
/// another stack (staging's, in the same account) is refused even under the same secret.
/// The template sets them per stack (`JWT_ISSUER`, `JWT_AUDIENCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    pub issuer: String,
    pub audience: String,
}

pub struct TokenKeys {
    cursor: crate::cursor::CursorKey,
    /// HMAC key for values the server must be able to recompute (a retried request's refresh
    /// token, device tokens): derived from the secret, so only the functions know it.
    derive: Vec<u8>,
    scope: TokenScope,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8], scope: TokenScope) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the JWT secret must be at least 32 bytes".into());
        }
        if scope.issuer.is_empty() || scope.audience.is_empty() {
            return Err("the tokens' issuer and audience must not be empty".into());
        }
        // Only HS256 is accepted: `alg: none` and algorithm confusion fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&scope.issuer]);
        validation.set_audience(&[&scope.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        // A token is not valid before its `nbf` (jsonwebtoken checks it only when asked).
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            cursor: crate::cursor::CursorKey::derive(secret),
            derive: hmac_sha256(secret, &[b"rota-derive-v1"]).to_vec(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            scope,
        })
    }

    pub fn cursor_key(&self) -> &crate::cursor::CursorKey {
        &self.cursor
    }

    /// 32 bytes only the functions can compute: HMAC-SHA256 under a key derived from the
    /// secret, over `purpose` and `parts` (each length-prefixed, so parts cannot be shifted
    /// into each other).
    pub fn derive(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut framed: Vec<&[u8]> = Vec::with_capacity(1 + 2 * parts.len());
        let lengths: Vec<[u8; 8]> = parts
            .iter()
            .map(|p| (p.len() as u64).to_be_bytes())
            .collect();
        framed.push(purpose.as_bytes());
        for (part, len) in parts.iter().zip(&lengths) {
            framed.push(len);
            framed.push(part);
        }
        hmac_sha256(&self.derive, &framed)
    }

    /// Whether `tag` is [`Self::derive`]'s answer for `purpose` and `parts`, compared in
    /// constant time (a tag must not be learnable byte by byte).
    pub fn is_derived(&self, tag: &[u8], purpose: &str, parts: &[&[u8]]) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.derive(purpose, parts);
        tag.ct_eq(&expected).into()
    }

    /// Keys for unit tests: `secret` with a fixed issuer and audience.
    #[cfg(test)]
    pub(crate) fn for_tests(secret: &[u8]) -> Self {
        let scope = TokenScope {
            issuer: "i".into(),
            audience: "a".into(),
        };
        Self::new(secret, scope).unwrap()
    }

    pub fn issue_access(
        &self,
        caller: Caller,
        now: i64,
        ttl_secs: i64,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: caller.user_id.to_string(),
            role: caller.role,
            iat: now,
            exp: now + ttl_secs,
            iss: self.scope.issuer.clone(),
            aud: self.scope.audience.clone(),
            nbf: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    pub fn verify_access(&self, token: &str) -> Result<Caller, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::info!(reason = %e.kind_to_str(), "access token rejected");
                ApiError::Unauthorized("The access token is invalid or expired.")
            })?;
        // Issued in the future: not a token we signed (our clock is the one that matters).
        if data.claims.iat > chrono::Utc::now().timestamp() + LEEWAY_SECS as i64 {
            tracing::info!(reason = "issued in the future", "access token rejected");
            return Err(ApiError::Unauthorized(
                "The access token is invalid or expired.",
            ));
        }
        let user_id = data
            .claims
            .sub
            .parse()
            .map_err(|_| ApiError::Unauthorized("The access token is invalid or expired."))?;
        Ok(Caller {
            user_id,
            role: data.claims.role,
        })
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

trait KindName {
    fn kind_to_str(&self) -> &'static str;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_to_str(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind::*;
        match self.kind() {
            ExpiredSignature => "expired",
            ImmatureSignature => "not valid yet (nbf)",
            InvalidSignature => "bad signature",
            InvalidAlgorithm | InvalidAlgorithmName => "wrong algorithm",
            InvalidIssuer | InvalidAudience => "wrong issuer or audience",
            _ => "malformed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn scope(stack: &str) -> TokenScope {
        TokenScope {
            issuer: format!("rota/us-east-1/{stack}"),
            audience: format!("rota-api/us-east-1/{stack}"),
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", scope("prod")).unwrap()
    }

    const ME: Caller = Caller {
        user_id: 42,
        role: Role::Member,
    };

    #[test]
    fn access_tokens_round_trip() {
        let now = chrono::Utc::now().timestamp();
        let t = keys().issue_access(ME, now, 900).unwrap();
        assert_eq!(keys().verify_access(&t).unwrap(), ME);
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_rejected() {
        let now = chrono::Utc::now().timestamp();
        let expired = keys().issue_access(ME, now - 3600, 900).unwrap();
        assert!(keys().verify_access(&expired).is_err());

        let good = keys().issue_access(ME, now, 900).unwrap();
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert!(keys().verify_access(&tampered).is_err());

        let other = TokenKeys::new(b"another-secret-another-secret-xx", scope("prod")).unwrap();
        assert!(other.verify_access(&good).is_err());
    }

    #[test]
    fn tokens_of_another_stack_are_rejected_even_under_the_same_secret() {
        let now = chrono::Utc::now().timestamp();
        let secret = b"0123456789abcdef0123456789abcdef";
        let staging = TokenKeys::new(secret, scope("staging")).unwrap();
        let token = staging.issue_access(ME, now, 900).unwrap();
        assert_eq!(staging.verify_access(&token).unwrap(), ME);
        assert!(keys().verify_access(&token).is_err());
        // Each claim on its own decides: the issuer, then the audience.
        let issuer_only = TokenScope {
            issuer: scope("staging").issuer,
            audience: scope("prod").audience,
        };
        let audience_only = TokenScope {
            issuer: scope("prod").issuer,
            audience: scope("staging").audience,
        };
        for other in [issuer_only, audience_only] {
            let t = TokenKeys::new(secret, other.clone())
                .unwrap()
                .issue_access(ME, now, 900)
                .unwrap();
            assert!(keys().verify_access(&t).is_err(), "{other:?}");
        }
    }

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap()
    }

    #[test]
    fn properly_signed_tokens_not_valid_yet_are_rejected() {
        let now = chrono::Utc::now().timestamp();
        let claims = |nbf: i64, iat: i64| {
            serde_json::json!({"sub": "42", "role": "member", "iat": iat, "exp": now + 900,
                "iss": scope("prod").issuer, "aud": scope("prod").audience, "nbf": nbf})
        };
        // The same signed shape passes when nbf is now: only the time is wrong below.
        assert_eq!(keys().verify_access(&signed(claims(now, now))).unwrap(), ME);
        assert!(
            keys()
                .verify_access(&signed(claims(now + 600, now)))
                .is_err()
        );
        // Issued in the future, without nbf.
        let mut future = claims(now, now + 600);
        future.as_object_mut().unwrap().remove("nbf");
        assert!(keys().verify_access(&signed(future)).is_err());
    }

    #[test]
    fn unsigned_alg_none_tokens_are_rejected() {
        let now = chrono::Utc::now().timestamp();
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = B64.encode(
            format!(r#"{{"sub":"42","role":"admin","iat":{now},"exp":{},"iss":"rota/us-east-1/prod","aud":"rota-api/us-east-1/prod"}}"#, now + 900)
                .as_bytes(),
        );
        assert!(
            keys()
                .verify_access(&format!("{header}.{claims}."))
                .is_err()
        );
    }

    #[test]
    fn short_secrets_and_an_empty_scope_are_refused() {
        assert!(TokenKeys::new(b"short", scope("prod")).is_err());
        let secret = b"0123456789abcdef0123456789abcdef";
        let mut empty = scope("prod");
        empty.issuer.clear();
        assert!(TokenKeys::new(secret, empty).is_err());
        let mut empty = scope("prod");
        empty.audience.clear();
        assert!(TokenKeys::new(secret, empty).is_err());
    }
}
