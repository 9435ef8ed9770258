//! Audio waveforms: peak levels of 16 kHz mono samples, 50 per second, for drawing.

use serde::Serialize;

/// Peaks per second of audio.
pub const PEAKS_PER_SECOND: u32 = 50;

/// Sample rate the peaks are computed at.
pub const SAMPLE_RATE: u32 = 16_000;

/// A waveform as stored (JSON) and served.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Waveform {
    pub sample_rate: u32,
    pub peaks_per_second: u32,
    pub duration_ms: i64,
    /// The largest absolute sample in each window, 0..1, rounded to 3 decimals.
    pub peaks: Vec<f32>,
}

/// The waveform of 16 kHz mono samples fed in pieces of any length as they are decoded, so a
/// long recording is never held in memory whole.
#[derive(Debug, Default)]
pub struct Peaks {
    peaks: Vec<f32>,
    /// The largest absolute sample of the window being filled, and how many it has seen.
    open: (f32, usize),
    samples: u64,
}

impl Peaks {
    const WINDOW: usize = (SAMPLE_RATE / PEAKS_PER_SECOND) as usize;

    /// Takes the next samples.
    pub fn push(&mut self, samples: &[f32]) {
        self.samples += samples.len() as u64;
        for &sample in samples {
            let (peak, seen) = &mut self.open;
            *peak = peak.max(sample.abs());
            *seen += 1;
            if *seen == Self::WINDOW {
                self.close();
            }
        }
    }

    fn close(&mut self) {
        let peak = self.open.0.min(1.0);
        self.peaks.push((peak * 1000.0).round() / 1000.0);
        self.open = (0.0, 0);
    }

    /// The waveform of every sample pushed.
    pub fn finish(mut self) -> Waveform {
        if self.open.1 > 0 {
            self.close();
        }
        Waveform {
            sample_rate: SAMPLE_RATE,
            peaks_per_second: PEAKS_PER_SECOND,
            duration_ms: (self.samples * 1000 / u64::from(SAMPLE_RATE)) as i64,
            peaks: self.peaks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_peaks_a_second() {
        let samples: Vec<f32> = (0..32_000)
            .map(|i| if i < 16_000 { 0.5 } else { -0.25 })
            .collect();
        let mut whole = Peaks::default();
        whole.push(&samples);
        let w = whole.finish();
        assert_eq!(w.peaks.len(), 100);
        assert_eq!(w.duration_ms, 2000);
        assert_eq!(w.peaks[0], 0.5);
        assert_eq!(w.peaks[99], 0.25);

        // Pieces of any length as a decoder gives them, and a last window left half full.
        let mut pieces = Peaks::default();
        for piece in samples[..31_840].chunks(1_153) {
            pieces.push(piece);
        }
        let p = pieces.finish();
        assert_eq!((p.peaks.len(), p.duration_ms), (100, 1990));
        assert_eq!(p.peaks[..99], w.peaks[..99]);
    }
}
