//! The processing pipeline: the worker loop that claims jobs from the queue ([`worker`]), the
//! dispatch of each job kind to its stage ([`stages`]), the media stages ([`media`]) and the
//! model stages ([`ml`]), and reprocessing ([`reprocess`]). It sits above `jobs` (the queue),
//! `media` and `ml` (pure work: bytes or tensors in, results out).

pub mod media;
pub mod ml;
pub mod reprocess;
pub mod stages;
pub mod worker;

use tokio::sync::watch;

/// Progress a handler reports: percent and estimated milliseconds left.
pub type Progress = watch::Sender<Option<(i32, Option<i64>)>>;

/// Reports a job `done` (0..1) that started at `started`, with the time left estimated from its
/// pace so far.
pub fn report_progress(progress: &Progress, started: std::time::Instant, done: f64) {
    let elapsed = started.elapsed().as_millis() as f64;
    let eta = (done > 0.01).then(|| (elapsed * (1.0 - done) / done) as i64);
    progress.send_replace(Some(((done * 100.0) as i32, eta)));
}
