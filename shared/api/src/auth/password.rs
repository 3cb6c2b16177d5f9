//! Password hashing with argon2id.
//!
//! Parameters: m = 19 MiB, t = 2, p = 1 — the OWASP minimum for argon2id, chosen for the
//! 1024 MB auth functions (about 0.58 vCPU) so that a login stays well inside the owner's
//! 200 ms target; BENCHMARKS.md has the measured hash time. Hashing runs on the blocking pool
//! so it never stalls the async runtime.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use zeroize::Zeroize;

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

/// argon2's working memory (m = 19 MiB), kept and reused: the crate's own `hash_password`
/// allocates a fresh block per hash, and glibc serves later ones from arenas that keep them, so
/// an auth instance grew to ~140 MB after a few dozen logins and paid page faults on fresh
/// memory every time (BENCHMARKS.md, "Password hashing"). A small pool, not one buffer, so
/// concurrent hashes in one process (tests) do not wait for each other; a Lambda instance
/// serves one request at a time and keeps one. Kept memory is wiped after every hash (see
/// [`hash_into`]).
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// `argon` over `password` and `salt` into `out`, in memory from [`MEMORY`].
fn hash_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let pool = || MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    let mut memory = pool().pop().unwrap_or_default();
    let blocks = argon.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let result = argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]);
    // The blocks are derived from the password: wiped before the memory waits for the next
    // hash, on error too, so a later memory disclosure (a core dump, a bug reading freed or
    // pooled memory) finds nothing of the last password. `zeroize` writes are not elided.
    memory.iter_mut().zeroize();
    pool().push(memory);
    result
}

/// The PHC string of a new hash with a random salt.
pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let argon = hasher();
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(ApiError::internal)?;
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        Ok(hash_into(&argon, password.as_bytes(), raw_salt, out)?)
    })
    .map_err(ApiError::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(ApiError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many argon2 verifications this process has run, dummy-hash ones included. The
/// enumeration test uses it to show that an unknown email costs exactly what a wrong password
/// does; one relaxed atomic add per login is free next to the hash.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

/// Checks `password` against a stored PHC string (its own algorithm, version and parameters
/// are used). What `PasswordVerifier::verify_password` does, with the reused memory; the
/// comparison is `Output`'s, in constant time.
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut salt_bytes = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    Output::init_with(expected.len(), |out| {
        Ok(hash_into(&argon, password.as_bytes(), raw_salt, out)?)
    })
    .is_ok_and(|computed| computed == expected)
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
    fn hashes_agree_with_the_crates_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Ours verifies with the crate's verifier, and the crate's hash verifies with ours.
        let ours = hash_blocking("correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(hasher().verify_password(b"correct horse", &parsed).is_ok());
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let theirs = hasher()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_blocking("battery staple", &theirs));
        assert!(!verify_blocking("battery stapler", &theirs));
        // A stored hash with other parameters is checked with its own (the memory grows).
        let params = Params::new(MEMORY_KIB * 2, 1, 1, None).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_blocking("staple", &other));
        assert!(!verify_blocking("stapl", &other));
    }

    #[test]
    fn the_working_memory_is_wiped_after_each_hash() {
        let zero = |memory: &Vec<Block>| memory.iter().all(|b| b.as_ref().iter().all(|w| *w == 0));
        hash_blocking("correct horse").unwrap();
        assert!(!verify_blocking("correct horse", DUMMY_HASH));
        let pool = MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
        // Memory in use by a concurrent test is not in the pool; everything pooled is zero.
        assert!(!pool.is_empty());
        assert!(
            pool.iter().all(zero),
            "pooled argon2 blocks hold derived data"
        );
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
