//! The media stage: decoding untrusted images, audio and video, reading their metadata, and
//! deriving thumbnails, posters, browser-playable proxies and waveforms. Everything here is
//! blocking CPU work; job handlers run it on the blocking pool.

pub mod av;
pub mod exif;
pub mod image;
pub mod iptc;
pub mod iso6709;
pub mod jpeg;
pub mod location;
pub mod mp4;
pub mod raw;
pub mod thumbnails;
pub mod waveform;
pub mod xmp;

use std::time::{Duration, Instant};

use crate::config::Config;

/// Why media could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// Not a kind of media this stage handles (the job is skipped, not failed).
    Unsupported(String),
    /// Corrupt, truncated or not what it claims to be.
    Invalid(String),
    /// Over a configured limit (pixels, dimensions, frames, duration), checked before decoding.
    TooLarge(String),
    /// The job's time budget ran out.
    TimedOut,
}

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaError::Unsupported(why) => write!(f, "unsupported: {why}"),
            MediaError::Invalid(why) => write!(f, "unreadable media: {why}"),
            MediaError::TooLarge(why) => write!(f, "too large: {why}"),
            MediaError::TimedOut => write!(f, "processing took longer than its time budget"),
        }
    }
}

/// Bounds on what one job may decode, checked on the probe before decoding starts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_pixels: u64,
    pub max_dimension: u32,
    pub max_duration: Duration,
    pub max_frames: u64,
    /// When the job's time budget runs out.
    pub deadline: Instant,
}

impl Limits {
    /// The configured limits with a deadline `budget` from now.
    pub fn new(config: &Config, budget: Duration) -> Limits {
        Limits {
            max_pixels: config.media_max_megapixels.saturating_mul(1_000_000),
            max_dimension: config.media_max_dimension,
            max_duration: Duration::from_secs(config.media_max_duration_hours.saturating_mul(3600)),
            max_frames: config.media_max_frames,
            deadline: Instant::now() + budget,
        }
    }

    /// Fails unless a `width` x `height` picture is within the pixel and dimension limits.
    pub fn check_size(&self, width: u32, height: u32) -> Result<(), MediaError> {
        if width == 0 || height == 0 {
            return Err(MediaError::Invalid(format!(
                "{width}x{height} has no pixels"
            )));
        }
        if width.max(height) > self.max_dimension {
            return Err(MediaError::TooLarge(format!(
                "{width}x{height} is over the {} px side limit",
                self.max_dimension
            )));
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(MediaError::TooLarge(format!(
                "{width}x{height} is over the {} megapixel limit",
                self.max_pixels / 1_000_000
            )));
        }
        Ok(())
    }

    /// Fails once the deadline has passed.
    pub fn check_time(&self) -> Result<(), MediaError> {
        if Instant::now() >= self.deadline {
            Err(MediaError::TimedOut)
        } else {
            Ok(())
        }
    }
}
