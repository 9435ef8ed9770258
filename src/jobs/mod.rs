//! The job system: a job is (kind, file, version). Each file has one `file_jobs` row per kind
//! holding what the UI shows (status, progress, eta, error) and what the embedded queue needs
//! (attempts, run_after, lease). Workers claim rows with a lease, heartbeat while working, and
//! record results only while they still hold the lease, so re-requested (version bumped) or
//! reaped jobs never record a stale result.

pub mod handlers;
pub mod queue;
pub mod redis;
pub mod store;
pub mod worker;

use std::time::Duration;

/// What a worker can do to a file. The order of [`JobKind::ALL`] is the pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// SHA-256 of the original (uploads are hashed while streaming; imported files here).
    Hash,
    /// Size and content-sniffed type of the original; the media stage extends it.
    Metadata,
}

impl JobKind {
    /// Every kind, in pipeline order.
    pub const ALL: [JobKind; 2] = [JobKind::Hash, JobKind::Metadata];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Hash => "hash",
            JobKind::Metadata => "metadata",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The stage that follows this one when it finishes.
    pub fn next(self) -> Option<JobKind> {
        match self {
            JobKind::Hash => Some(JobKind::Metadata),
            JobKind::Metadata => None,
        }
    }

    /// How many of these run at once in one worker process.
    pub fn concurrency(self) -> usize {
        match self {
            JobKind::Hash | JobKind::Metadata => 2,
        }
    }

    /// Longest a single run may take before it is abandoned and retried.
    pub fn time_budget(self) -> Duration {
        match self {
            JobKind::Hash => Duration::from_secs(60 * 60),
            JobKind::Metadata => Duration::from_secs(5 * 60),
        }
    }
}

/// A job's state as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Processing,
    Done,
    Failed,
    Skipped,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Processing => "processing",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Skipped => "skipped",
        }
    }
}

/// Attempts before a job is marked failed.
pub const MAX_ATTEMPTS: i32 = 3;

/// The delay before attempt `attempt + 1`: `base`, then doubling.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    base * 2u32.saturating_pow(attempt.saturating_sub(1).clamp(0, 16) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_form_a_pipeline() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(JobKind::parse("thumbnails"), None);
        assert_eq!(JobKind::Hash.next(), Some(JobKind::Metadata));
    }

    #[test]
    fn backoff_doubles() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 3), Duration::from_secs(20));
    }
}
