//! The ML stage, all on the CPU: faces (detection, landmarks, embeddings), objects and image
//! tags, audio events, speech transcription, and what a text means (for search). ONNX models
//! run in tract, transcription in whisper.cpp (whisper-rs). Models are verified and loaded once
//! per process ([`models`]); every run holds a slot of [`CpuSlots`], so at most one heavy model
//! runs per core.

pub mod audio_events;
pub mod audio_features;
mod dense_conv;
mod depthwise;
mod epilogue;
pub mod faces;
mod max_pool;
pub mod models;
pub mod objects;
pub mod onnx;
mod phases;
mod pointwise;
pub mod sound_summary;
pub mod text;
pub mod transcribe;

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::media::MediaError;

/// Why an ML run did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlError {
    /// The model is not installed (the job is skipped, not failed).
    ModelMissing(String),
    /// This machine or this file cannot be handled (skipped, not failed).
    Unsupported(String),
    /// The model file does not match its digest or does not load.
    ModelCorrupt(String),
    /// The input could not be decoded or is over a limit.
    Media(MediaError),
    /// The model ran but failed.
    Inference(String),
}

impl std::fmt::Display for MlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MlError::ModelMissing(why) | MlError::Unsupported(why) | MlError::ModelCorrupt(why) => {
                f.write_str(why)
            }
            MlError::Media(e) => e.fmt(f),
            MlError::Inference(why) => write!(f, "inference failed: {why}"),
        }
    }
}

impl std::error::Error for MlError {}

impl From<MediaError> for MlError {
    fn from(e: MediaError) -> MlError {
        MlError::Media(e)
    }
}

/// The CPU budget for model runs: one slot per core (or as configured), shared by every ML job
/// of the process.
pub struct CpuSlots {
    slots: Arc<Semaphore>,
    count: usize,
}

impl CpuSlots {
    /// `configured` slots, or one per core when it is 0.
    pub fn new(configured: u32) -> CpuSlots {
        let count = match configured {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        };
        CpuSlots {
            slots: Arc::new(Semaphore::new(count)),
            count,
        }
    }

    /// How many slots there are.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Waits for `n` slots (at most all of them); they are given back when the permit drops.
    pub async fn acquire(&self, n: usize) -> OwnedSemaphorePermit {
        let n = n.clamp(1, self.count) as u32;
        self.slots
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("the slots semaphore is never closed")
    }
}
