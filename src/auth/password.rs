//! Argon2id password hashing, run off the async threads. Each hash takes 19 MiB and a core for
//! a while, so at most [`MAX_HASHING`] run at once and the rest wait their turn: a burst of
//! registrations or logins costs time, never unbounded memory (and `main` makes the allocator
//! give such large blocks back once freed).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::Error;

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;
/// Longest password accepted (hashing cost grows with length).
pub const MAX_LEN: usize = 1024;

/// Checks a new password's length.
pub fn validate(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < MIN_LEN || password.len() > MAX_LEN {
        return Err(Error::Invalid(format!(
            "password must be {MIN_LEN} to {MAX_LEN} characters"
        )));
    }
    Ok(())
}

/// Password hashes (and verifications) run at once.
pub const MAX_HASHING: usize = 2;

static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_HASHING);

/// Runs one argon2 computation on the blocking pool once a hashing slot is free.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _slot = HASHING.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub async fn hash(password: &str) -> Result<String, Error> {
    let password = password.to_owned();
    hashing(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| Error::Internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
    .await
    .ok_or_else(|| Error::Internal("the hash task failed".into()))?
}

/// Verifies a password against a stored PHC hash; a malformed hash never matches.
pub async fn verify(password: &str, stored: &str) -> bool {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    hashing(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, verified against when the user does not exist so that
/// unknown usernames take as long as wrong passwords.
pub async fn dummy_verify(password: &str) {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    if let Ok(h) = DUMMY
        .get_or_try_init(|| hash("not-a-real-password-0123"))
        .await
    {
        verify(password, h).await;
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let a = super::hash("correct horse").await.unwrap();
        let b = super::hash("correct horse").await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(super::verify("correct horse", &a).await);
        assert!(!super::verify("wrong horse", &a).await);
        assert!(!super::verify("correct horse", "garbage").await);
    }
}
