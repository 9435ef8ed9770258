//! The domain error: what went wrong in terms of the library, not of a protocol. It reads as a
//! sentence (job rows store its `Display` text), the API maps it to a status in
//! `http::error`, and the worker maps it to retry or fail by its meaning.

use std::fmt;

/// A failed domain operation.
#[derive(Debug)]
pub enum Error {
    /// Nothing with this id, or nothing the caller may know about.
    NotFound,
    /// The input is invalid; the text says why.
    Invalid(String),
    /// The operation conflicts with the current state (for good, until someone changes it),
    /// with a stable code.
    Conflict(&'static str, String),
    /// The input is larger than this many bytes.
    TooLarge(u64),
    /// A backing service (database pool, queue, blob store, import folder) is unreachable or
    /// timed out; trying again later may work.
    Unavailable(String),
    /// The disk (or the database's disk) is full.
    DiskFull,
    /// A database query failed.
    Database(String),
    /// A bug or unexpected failure.
    Internal(String),
}

/// Result of domain operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a user is told when the disk is full.
pub const DISK_FULL: &str =
    "the server's disk is full: free some space (empty the trash) and try again";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound => f.write_str("not found"),
            Error::Invalid(m) | Error::Conflict(_, m) | Error::Unavailable(m) => f.write_str(m),
            Error::Internal(m) => f.write_str(m),
            Error::TooLarge(limit) => write!(f, "larger than {limit} bytes"),
            Error::DiskFull => f.write_str(DISK_FULL),
            Error::Database(m) => write!(f, "database: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// A failed local file operation while `doing` something: a full disk is
    /// [`Error::DiskFull`], anything else internal.
    pub fn io(doing: &str, e: std::io::Error) -> Error {
        if is_disk_full(&e) {
            Error::DiskFull
        } else {
            Error::Internal(format!("{doing}: {e}"))
        }
    }

    /// A failed blob store operation while `doing` something: a full disk is
    /// [`Error::DiskFull`], anything else the store being unavailable.
    pub fn blob(doing: &str, e: std::io::Error) -> Error {
        match Error::io(doing, e) {
            Error::Internal(m) => Error::Unavailable(m),
            full => full,
        }
    }

    /// Whether the same operation may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Unavailable(_) | Error::DiskFull | Error::Database(_)
        )
    }
}

/// True when `error` says the disk (or the user's quota) is full.
pub fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || error.raw_os_error() == Some(libc::ENOSPC)
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        if crate::db::is_disk_full(&e) {
            Error::DiskFull
        } else {
            Error::Database(e.to_string())
        }
    }
}

impl From<crate::db::PoolError> for Error {
    fn from(e: crate::db::PoolError) -> Self {
        Error::Unavailable(format!("database pool: {e}"))
    }
}

impl From<crate::db::DbError> for Error {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Pool(e) => e.into(),
            crate::db::DbError::Query(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_a_sentence() {
        let unbound = Error::Conflict("library_unbound", "the library is not bound".into());
        assert_eq!(unbound.to_string(), "the library is not bound");
        assert!(!unbound.is_transient());
        assert_eq!(Error::DiskFull.to_string(), DISK_FULL);
        assert!(Error::Unavailable("queue: down".into()).is_transient());
    }
}
