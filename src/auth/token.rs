//! Random secrets (session ids, access tokens, invite tokens) and their stored hashes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Prefix of personal access tokens, so they are recognisable in logs and secret scanners.
pub const ACCESS_TOKEN_PREFIX: &str = "alc_";

/// A URL-safe random secret of 256 bits.
pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The hex SHA-256 of a secret: what the database stores instead of the secret itself.
pub fn hash_secret(secret: &str) -> String {
    crate::digest::sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_long_distinct_and_hash_stably() {
        let (a, b) = (super::random_secret(), super::random_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(
            super::hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
