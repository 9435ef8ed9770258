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

/// Computes the waveform of 16 kHz mono `samples`.
pub fn peaks(samples: &[f32]) -> Waveform {
    let window = (SAMPLE_RATE / PEAKS_PER_SECOND) as usize;
    let peaks = samples
        .chunks(window)
        .map(|w| {
            let peak = w.iter().fold(0f32, |m, s| m.max(s.abs())).min(1.0);
            (peak * 1000.0).round() / 1000.0
        })
        .collect();
    Waveform {
        sample_rate: SAMPLE_RATE,
        peaks_per_second: PEAKS_PER_SECOND,
        duration_ms: samples.len() as i64 * 1000 / i64::from(SAMPLE_RATE),
        peaks,
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
        let w = peaks(&samples);
        assert_eq!(w.peaks.len(), 100);
        assert_eq!(w.duration_ms, 2000);
        assert_eq!(w.peaks[0], 0.5);
        assert_eq!(w.peaks[99], 0.25);
    }
}
