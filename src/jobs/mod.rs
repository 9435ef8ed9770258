//! The job system: a job is (kind, file, version). Each file has one `file_jobs` row per kind
//! holding what the UI shows (status, progress, eta, error) and what the embedded queue needs
//! (attempts, run_after, lease). Workers claim rows with a lease, heartbeat while working, and
//! record results only while they still hold the lease, so re-requested (version bumped) or
//! reaped jobs never record a stale result.

pub mod instance;
pub mod queue;
pub mod redis;
pub mod store;

use std::time::Duration;

/// What a worker can do to a file. The order of [`JobKind::PIPELINE`] is the pipeline order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// SHA-256 of the original (uploads are hashed while streaming; imported files here).
    Hash,
    /// Size, content-sniffed type, and what the media says of itself (EXIF, codecs, duration).
    Metadata,
    /// The named thumbnail sizes, from a photo or a video's poster frame.
    Thumbnails,
    /// A browser-playable copy of a video or audio file, when the original is not.
    Proxy,
    /// Peak levels of an audio file for drawing its waveform.
    Waveform,
    /// Faces in a photo or video poster, grouped into people (libraries that opt in).
    Faces,
    /// Objects and tags in a photo or video poster (libraries that opt in).
    Objects,
    /// Sound events in an audio file or a video's sound track.
    AudioEvents,
    /// What is said in an audio file or a video.
    Transcribe,
    /// Clips of the file's moments (on request; not a pipeline stage).
    MomentExport,
}

impl JobKind {
    /// The stages every file goes through, in order.
    pub const PIPELINE: [JobKind; 9] = [
        JobKind::Hash,
        JobKind::Metadata,
        JobKind::Thumbnails,
        JobKind::Proxy,
        JobKind::Waveform,
        JobKind::Faces,
        JobKind::Objects,
        JobKind::AudioEvents,
        JobKind::Transcribe,
    ];

    /// Every kind: the pipeline, then the jobs run on request.
    pub const ALL: [JobKind; 10] = [
        JobKind::Hash,
        JobKind::Metadata,
        JobKind::Thumbnails,
        JobKind::Proxy,
        JobKind::Waveform,
        JobKind::Faces,
        JobKind::Objects,
        JobKind::AudioEvents,
        JobKind::Transcribe,
        JobKind::MomentExport,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Hash => "hash",
            JobKind::Metadata => "metadata",
            JobKind::Thumbnails => "thumbnails",
            JobKind::Proxy => "proxy",
            JobKind::Waveform => "waveform",
            JobKind::Faces => "faces",
            JobKind::Objects => "objects",
            JobKind::AudioEvents => "audio_events",
            JobKind::Transcribe => "transcribe",
            JobKind::MomentExport => "moment_export",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The stage that follows this one when it finishes (or is skipped).
    pub fn next(self) -> Option<JobKind> {
        let at = JobKind::PIPELINE.iter().position(|k| *k == self)?;
        JobKind::PIPELINE.get(at + 1).copied()
    }

    /// Whether what the stage finds goes into the search index.
    pub fn is_searchable(self) -> bool {
        matches!(
            self,
            JobKind::Metadata
                | JobKind::Faces
                | JobKind::Objects
                | JobKind::AudioEvents
                | JobKind::Transcribe
        )
    }

    /// Whether later stages need this one's result, so a file that failed it goes no further
    /// (without a hash or its type there is nothing to build on). Every later stage checks its
    /// own inputs.
    pub fn needed_later(self) -> bool {
        matches!(self, JobKind::Hash | JobKind::Metadata)
    }

    /// How many of these run at once in one worker process.
    pub fn concurrency(self) -> usize {
        match self {
            JobKind::Hash | JobKind::Metadata | JobKind::Thumbnails => 2,
            // Transcodes use every core themselves; one at a time keeps a NAS responsive.
            JobKind::Proxy | JobKind::Waveform | JobKind::MomentExport => 1,
            // Model runs also share the process's CPU slots (`App::ml_slots`).
            JobKind::Faces | JobKind::Objects | JobKind::AudioEvents | JobKind::Transcribe => 1,
        }
    }

    /// Longest a single run may take before it is abandoned and retried.
    pub fn time_budget(self) -> Duration {
        match self {
            JobKind::Hash => Duration::from_secs(60 * 60),
            JobKind::Metadata | JobKind::Thumbnails => Duration::from_secs(5 * 60),
            JobKind::Faces | JobKind::Objects => Duration::from_secs(5 * 60),
            JobKind::AudioEvents => Duration::from_secs(60 * 60),
            JobKind::Transcribe => Duration::from_secs(4 * 60 * 60),
            JobKind::Proxy => Duration::from_secs(6 * 60 * 60),
            JobKind::Waveform => Duration::from_secs(30 * 60),
            JobKind::MomentExport => Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// A job's state as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
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

    /// Whether the job is yet to settle.
    pub fn pending(self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Processing)
    }
}

/// Reading a stored kind (a row's `kind` column).
impl TryFrom<String> for JobKind {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        JobKind::parse(&s).ok_or_else(|| format!("unknown job kind `{s}` in the database"))
    }
}

/// Reading a stored status (a row's `status` column).
impl TryFrom<String> for JobStatus {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        [
            JobStatus::Queued,
            JobStatus::Processing,
            JobStatus::Done,
            JobStatus::Failed,
            JobStatus::Skipped,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| format!("unknown job status `{s}` in the database"))
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
        assert_eq!(JobKind::parse("people"), None);
        assert_eq!(JobKind::Hash.next(), Some(JobKind::Metadata));
        assert_eq!(JobKind::Metadata.next(), Some(JobKind::Thumbnails));
        assert_eq!(JobKind::Waveform.next(), Some(JobKind::Faces));
        assert_eq!(JobKind::Transcribe.next(), None);
    }

    #[test]
    fn backoff_doubles() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 3), Duration::from_secs(20));
    }
}
