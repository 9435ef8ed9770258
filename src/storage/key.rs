//! Blob keys: a scope and a relative path of plain segments, so no key can escape its store.

use std::fmt;

/// The top-level area a blob belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Uploaded originals: `files/{library}/{file}/original`.
    Originals,
    /// Derived files (thumbnails, proxies, waveforms): `cache/{library}/{file}/{variant}`.
    Cache,
    /// User avatars.
    Avatars,
}

impl Scope {
    /// The key prefix of this scope.
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::Originals => "files",
            Scope::Cache => "cache",
            Scope::Avatars => "avatars",
        }
    }
}

/// A validated key: `{scope prefix}/{segment}/{segment}…`, each segment 1-128 characters of
/// `A-Z a-z 0-9 . _ -`, never `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKey(pub String);

impl fmt::Display for InvalidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid blob key segment `{}`", self.0.escape_debug())
    }
}

impl std::error::Error for InvalidKey {}

impl BlobKey {
    /// Builds a key from a scope and path segments, refusing anything that could escape.
    pub fn new<S: AsRef<str>>(scope: Scope, segments: &[S]) -> Result<BlobKey, InvalidKey> {
        let mut key = scope.prefix().to_owned();
        for segment in segments {
            let s = segment.as_ref();
            let plain = !s.is_empty()
                && s.len() <= 128
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !plain {
                return Err(InvalidKey(s.to_owned()));
            }
            key.push('/');
            key.push_str(s);
        }
        Ok(BlobKey(key))
    }

    /// Where the original of `file` in `library` is kept.
    pub fn original(library: &str, file: &str) -> Result<BlobKey, InvalidKey> {
        BlobKey::new(Scope::Originals, &[library, file, "original"])
    }

    /// The prefix of every derived file of `file` in `library`.
    pub fn derived_prefix(library: &str, file: &str) -> Result<BlobKey, InvalidKey> {
        BlobKey::new(Scope::Cache, &[library, file])
    }

    /// The prefixes of everything kept for `library`: its originals and its derived files.
    pub fn library_prefixes(library: &str) -> Result<[BlobKey; 2], InvalidKey> {
        Ok([
            BlobKey::new(Scope::Originals, &[library])?,
            BlobKey::new(Scope::Cache, &[library])?,
        ])
    }

    /// The key as a relative path string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_join_plain_segments_under_their_scope() {
        let key = BlobKey::new(Scope::Cache, &["lib", "file", "thumb_240.webp"]).unwrap();
        assert_eq!(key.as_str(), "cache/lib/file/thumb_240.webp");
        assert_eq!(
            BlobKey::new::<&str>(Scope::Avatars, &[]).unwrap().as_str(),
            "avatars"
        );
    }

    #[test]
    fn traversal_absolute_paths_and_odd_bytes_are_refused() {
        for bad in [
            "..",
            ".",
            "",
            "../../etc/passwd",
            "/etc/passwd",
            "a/b",
            "a\0b",
            "a\\b",
            "ünï",
            &"x".repeat(129),
        ] {
            assert!(
                BlobKey::new(Scope::Originals, &["lib", bad]).is_err(),
                "{bad:?}"
            );
        }
    }
}
