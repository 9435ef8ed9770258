//! YAMNet log-mel front end, a port of `models/reference/yamnet_feat.py`.
//!
//! 16 kHz mono samples in -1..1 are cut into 512-sample frames every 160 samples (10 ms), with no
//! centring or padding at the start. Each frame is multiplied by a 400-sample periodic Hann window
//! centred in the 512 points. The magnitude of its real FFT (257 bins) goes through a 64-band HTK mel
//! filterbank (125–7500 Hz, triangular, unnormalised), and the result is `ln(mel + 0.001)`.
//! Patches of 96 frames (0.96 s) with a hop of 48 frames (0.48 s) are the model's `[1, 1, 96, 64]`
//! input.

use std::f64::consts::TAU;
use std::iter;
use std::sync::{Arc, LazyLock};

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Sample rate the features and YAMNet expect, in Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// Mel bands per frame.
pub const MEL_BANDS: usize = 64;
/// Frames per patch (0.96 s).
pub const PATCH_FRAMES: usize = 96;
/// Frames between the starts of consecutive patches (0.48 s).
pub const PATCH_HOP_FRAMES: usize = 48;
/// Values in one patch, frame-major: the model's `[1, 1, 96, 64]` input.
pub const PATCH_LEN: usize = PATCH_FRAMES * MEL_BANDS;
/// Samples between the starts of consecutive frames (10 ms).
pub const FRAME_HOP: usize = 160;
/// Samples needed for exactly one patch: 512 + 95 × 160 = 15 712. Shorter input is zero-padded to
/// this length.
pub const MIN_SAMPLES: usize = FFT_LEN + (PATCH_FRAMES - 1) * FRAME_HOP;

const FFT_LEN: usize = 512;
const FFT_BINS: usize = FFT_LEN / 2 + 1;
const WINDOW_LEN: usize = 400;
const WINDOW_OFFSET: usize = (FFT_LEN - WINDOW_LEN) / 2;
const MEL_MIN_HZ: f64 = 125.0;
const MEL_MAX_HZ: f64 = 7500.0;
const LOG_OFFSET: f32 = 0.001;

/// Everything that does not depend on the input, built on first use.
struct Frontend {
    fft: Arc<dyn Fft<f32>>,
    /// Periodic Hann window of `WINDOW_LEN` samples, zero-padded on both sides to `FFT_LEN`.
    window: [f32; FFT_LEN],
    /// Band-major filterbank: `MEL_BANDS` rows of `FFT_BINS` weights.
    filterbank: Vec<[f32; FFT_BINS]>,
}

static FRONTEND: LazyLock<Frontend> = LazyLock::new(|| {
    let mut window = [0.0; FFT_LEN];
    for (n, w) in window[WINDOW_OFFSET..WINDOW_OFFSET + WINDOW_LEN]
        .iter_mut()
        .enumerate()
    {
        *w = (0.5 - 0.5 * (TAU * n as f64 / WINDOW_LEN as f64).cos()) as f32;
    }
    Frontend {
        fft: FftPlanner::<f32>::new().plan_fft_forward(FFT_LEN),
        window,
        filterbank: mel_filterbank(),
    }
});

fn hz_to_mel(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

fn mel_to_hz(mel: f64) -> f64 {
    700.0 * ((mel / 1127.0).exp() - 1.0)
}

/// HTK mel triangles with edges equally spaced in mel between `MEL_MIN_HZ` and `MEL_MAX_HZ`, evaluated
/// at the FFT bin frequencies, as `mel_fb()` in the reference (computed in f64, stored as f32).
fn mel_filterbank() -> Vec<[f32; FFT_BINS]> {
    let (mel_min, mel_max) = (hz_to_mel(MEL_MIN_HZ), hz_to_mel(MEL_MAX_HZ));
    let edges: Vec<f64> = (0..MEL_BANDS + 2)
        .map(|i| mel_to_hz(mel_min + i as f64 * (mel_max - mel_min) / (MEL_BANDS + 1) as f64))
        .collect();
    let bin_hz = f64::from(SAMPLE_RATE) / FFT_LEN as f64;
    edges
        .windows(3)
        .map(|edge| {
            let (lo, centre, hi) = (edge[0], edge[1], edge[2]);
            let mut band = [0.0; FFT_BINS];
            for (k, weight) in band.iter_mut().enumerate() {
                let hz = k as f64 * bin_hz;
                let rising = (hz - lo) / (centre - lo);
                let falling = (hi - hz) / (hi - centre);
                *weight = rising.min(falling).max(0.0) as f32;
            }
            band
        })
        .collect()
}

/// A log-mel spectrogram: `frames` rows of [`MEL_BANDS`] values.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMel {
    frames: usize,
    data: Vec<f32>,
}

impl LogMel {
    /// Number of 10 ms frames.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The [`MEL_BANDS`] values of frame `index`. Panics if `index >= self.frames()`.
    pub fn frame(&self, index: usize) -> &[f32] {
        &self.data[index * MEL_BANDS..(index + 1) * MEL_BANDS]
    }

    /// All values, frame-major (`frames() × MEL_BANDS`).
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Number of items [`patches`](Self::patches) yields.
    pub fn patch_count(&self) -> usize {
        self.frames
            .checked_sub(PATCH_FRAMES)
            .map_or(0, |extra| extra / PATCH_HOP_FRAMES + 1)
    }

    /// Patches of [`PATCH_FRAMES`] frames every [`PATCH_HOP_FRAMES`] frames, as `(start frame,
    /// PATCH_LEN values)`. Like `patches()` in the reference, trailing frames that do not fill a
    /// whole patch are dropped. Patch `i` starts at `i × 0.48 s`.
    pub fn patches(&self) -> impl Iterator<Item = (usize, &[f32])> {
        self.data
            .windows(PATCH_LEN)
            .step_by(PATCH_HOP_FRAMES * MEL_BANDS)
            .enumerate()
            .map(|(i, patch)| (i * PATCH_HOP_FRAMES, patch))
    }
}

/// Computes the log-mel spectrogram of 16 kHz mono `samples` in -1..1.
///
/// This gives `1 + (len - 512) / 160` frames, as in the reference. Unlike the reference, input
/// shorter than [`MIN_SAMPLES`] (0.982 s), including empty input, is zero-padded to that length,
/// so it gives exactly [`PATCH_FRAMES`] frames and one patch.
pub fn log_mel(samples: &[f32]) -> LogMel {
    let mut stream = LogMelStream::new();
    let mut data = Vec::with_capacity((samples.len() / FRAME_HOP + 1) * MEL_BANDS);
    stream.push(samples, &mut |frame| data.extend_from_slice(frame));
    stream.finish(&mut |frame| data.extend_from_slice(frame));
    LogMel {
        frames: data.len() / MEL_BANDS,
        data,
    }
}

/// The log-mel front end fed piece by piece, as a recording is decoded: each frame comes out as
/// soon as its samples are in, and only the samples of the next frame are kept. Gives the same
/// frames as [`log_mel`] on the whole recording.
pub struct LogMelStream {
    /// Samples from the start of the next frame on.
    pending: Vec<f32>,
    /// Frames given out so far.
    frames: usize,
    buffer: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl Default for LogMelStream {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMelStream {
    pub fn new() -> LogMelStream {
        LogMelStream {
            pending: Vec::with_capacity(2 * FFT_LEN),
            frames: 0,
            buffer: vec![Complex::new(0.0, 0.0); FFT_LEN],
            scratch: vec![Complex::new(0.0, 0.0); FRONTEND.fft.get_inplace_scratch_len()],
        }
    }

    /// Takes the next `samples`, handing each frame they complete to `frame`.
    pub fn push(&mut self, samples: &[f32], frame: &mut dyn FnMut(&[f32; MEL_BANDS])) {
        self.pending.extend_from_slice(samples);
        let mut at = 0;
        while self.pending.len() - at >= FFT_LEN {
            let out = self.frame(at);
            frame(&out);
            at += FRAME_HOP;
        }
        self.pending.drain(..at);
    }

    /// Ends the input: a recording shorter than [`MIN_SAMPLES`] is zero-padded to one patch.
    pub fn finish(&mut self, frame: &mut dyn FnMut(&[f32; MEL_BANDS])) {
        let mut at = 0;
        while self.frames < PATCH_FRAMES {
            let out = self.frame(at);
            frame(&out);
            at += FRAME_HOP;
        }
        self.pending.clear();
    }

    /// The frame starting `at` samples into `pending` (zero-padded past its end).
    fn frame(&mut self, at: usize) -> [f32; MEL_BANDS] {
        let frontend = &*FRONTEND;
        let tail = self.pending.get(at..).unwrap_or_default();
        let padded = tail.iter().chain(iter::repeat(&0.0));
        for ((slot, &w), &x) in self.buffer.iter_mut().zip(&frontend.window).zip(padded) {
            *slot = Complex::new(x * w, 0.0);
        }
        frontend
            .fft
            .process_with_scratch(&mut self.buffer, &mut self.scratch);
        let mut magnitude = [0.0_f32; FFT_BINS];
        for (m, c) in magnitude.iter_mut().zip(&self.buffer) {
            *m = c.norm();
        }
        self.frames += 1;
        std::array::from_fn(|band| {
            let mel: f32 = frontend.filterbank[band]
                .iter()
                .zip(&magnitude)
                .map(|(w, m)| w * m)
                .sum();
            (mel + LOG_OFFSET).ln()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0.5 × sin(2π·1000 t) + 0.25 × sin(2π·(300 + 1000 t)·t): a steady 1 kHz tone plus a chirp
    /// rising from 300 Hz, computed in f64 and rounded to f32 (numpy does the same).
    fn test_signal(len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| {
                let t = n as f64 / f64::from(SAMPLE_RATE);
                (0.5 * (TAU * 1000.0 * t).sin() + 0.25 * (TAU * (300.0 + 1000.0 * t) * t).sin())
                    as f32
            })
            .collect()
    }

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() < 3e-3,
            "{what}: {actual} != {expected}"
        );
    }

    fn mean(lm: &LogMel) -> f64 {
        lm.data().iter().map(|&v| f64::from(v)).sum::<f64>() / lm.data().len() as f64
    }

    /// Expected values come from `logmel()` and `patches()` in `reference/yamnet_feat.py`
    /// (numpy 2.4) on the same signal.
    #[test]
    fn matches_python_reference() {
        let lm = log_mel(&test_signal(24_000)); // 1.5 s
        assert_eq!(lm.frames(), 147);
        assert_eq!(lm.data().len(), 147 * MEL_BANDS);
        assert_eq!(lm.patch_count(), 2);
        let starts: Vec<usize> = lm.patches().map(|(start, _)| start).collect();
        assert_eq!(starts, [0, 48]);

        for (frame, band, expected) in [
            (0, 5, 3.21796),
            (0, 19, 4.12064),
            (20, 15, 3.48318),
            (60, 27, 3.74799),
            (100, 36, 3.88849),
            (146, 43, 3.78264),
            (146, 63, -6.87807),
        ] {
            let actual = f64::from(lm.frame(frame)[band]);
            assert_close(actual, expected, &format!("frame {frame} band {band}"));
        }
        assert_close(mean(&lm), -4.29915, "mean");

        let (_, second) = lm.patches().nth(1).unwrap();
        assert_eq!(second.len(), PATCH_LEN);
        assert_eq!(&second[47 * MEL_BANDS..48 * MEL_BANDS], lm.frame(95));
    }

    #[test]
    fn short_clip_is_padded_to_one_patch() {
        assert_eq!(MIN_SAMPLES, 15_712);
        let lm = log_mel(&test_signal(8_000)); // 0.5 s
        assert_eq!(lm.frames(), PATCH_FRAMES);
        assert_eq!(lm.patches().count(), 1);
        assert_eq!(lm.patch_count(), 1);
        // Reference on the same clip zero-padded to 15 712 samples.
        assert_close(f64::from(lm.frame(0)[19]), 4.12064, "frame 0 band 19");
        assert_close(f64::from(lm.frame(30)[10]), -4.49107, "frame 30 band 10");
        assert_close(mean(&lm), -5.54179, "mean");
        // From frame 50 on, the windowed samples are all padding.
        let floor = LOG_OFFSET.ln();
        for frame in 50..PATCH_FRAMES {
            assert!(lm.frame(frame).iter().all(|&v| (v - floor).abs() < 1e-6));
        }
    }

    #[test]
    fn empty_input_gives_one_silent_patch() {
        let lm = log_mel(&[]);
        assert_eq!(lm.patch_count(), 1);
        assert!(lm.data().iter().all(|&v| v == LOG_OFFSET.ln()));
    }

    #[test]
    fn stream_in_odd_pieces_gives_the_whole_recordings_frames() {
        let signal = test_signal(40_000);
        let whole = log_mel(&signal);
        let mut stream = LogMelStream::new();
        let mut data = Vec::new();
        for piece in signal.chunks(1_237) {
            stream.push(piece, &mut |frame| data.extend_from_slice(frame));
        }
        stream.finish(&mut |frame| data.extend_from_slice(frame));
        assert_eq!(data, whole.data());
        assert_eq!(whole.frames(), 1 + (40_000 - FFT_LEN) / FRAME_HOP);
    }
}
