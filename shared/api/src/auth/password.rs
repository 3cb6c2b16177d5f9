//! Password hashing with argon2id.
//!
//! Parameters: m = 19 MiB, t = 2, p = 1 — the OWASP minimum for argon2id, chosen for the
//! 1024 MB auth functions (about 0.58 vCPU) so that a login stays well inside the owner's
//! 200 ms target; BENCHMARKS.md has the measured hash time. Hashing runs on the blocking pool
//! so it never stalls the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ApiError;
use rota_domain::input::Password;

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// A well-formed hash with the current parameters that no known password matches. Verifying
/// against it when the
/// email is unknown makes that answer cost the same as a wrong password, so response time
/// does not reveal which emails have accounts. A unit test keeps its parameters current.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0bE5tJ8P5m3Rk3jHdbKx8fyrxXuChS1W0QevWDtHYzw";

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("argon2 parameters are valid constants");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of a new hash with a random salt.
pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many argon2 verifications this process has run, dummy-hash ones included. The
/// enumeration test uses it to show that an unknown email costs exactly what a wrong password
/// does; one relaxed atomic add per login is free next to the hash.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

/// Checks `password` against a stored PHC string (its own parameters are used).
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => {
            VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }
        Err(_) => false,
    }
}

pub async fn hash(password: &Password) -> Result<String, ApiError> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(ApiError::internal)?
}

/// Verifies against `stored`, or against the dummy hash when there is no account, so both
/// failures take the same time.
pub async fn verify(password: &Password, stored: Option<String>) -> Result<bool, ApiError> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        verify_blocking(&password, &phc) && known
    })
    .await
    .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_blocking("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_blocking("correct horse", &h));
        assert!(!verify_blocking("correct horsE", &h));
    }

    #[test]
    fn the_dummy_hash_uses_the_current_parameters() {
        // Otherwise unknown emails would answer faster or slower than wrong passwords.
        let fresh = hash_blocking("x").unwrap();
        let params = |phc: &str| phc.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(DUMMY_HASH), params(&fresh));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn garbage_stored_hashes_never_verify() {
        assert!(!verify_blocking("x", "not a hash"));
    }

    #[test]
    fn verifications_are_counted() {
        let before = verifications();
        assert!(!verify_blocking("x", DUMMY_HASH));
        // Other tests of this process may verify concurrently: at least ours was counted.
        assert!(verifications() > before);
    }
}
