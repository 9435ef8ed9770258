//! Turns YAMNet's per-patch class scores into labelled time segments and file-level tags.
//!
//! Patch `i` covers `i × 480 ms .. i × 480 ms + 960 ms` (see `audio_features`). Scores are the
//! model's sigmoid `scores` output, one row of [`NUM_CLASSES`] values per patch. Class names come
//! from `yamnet_class_map.csv`.

use std::fmt;
use std::path::Path;

use super::MlError;
use super::audio_features::log_mel;
use super::models::{Lazy, ModelSpec};
use super::onnx::OnnxModel;

/// YAMNet with its class names.
pub struct Yamnet {
    model: OnnxModel,
    classes: Vec<String>,
}

impl Yamnet {
    fn load(dir: &Path, spec: &ModelSpec) -> Result<Yamnet, String> {
        let file = spec.labels.as_deref().unwrap_or_default();
        let csv = std::fs::read_to_string(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
        Ok(Yamnet {
            model: OnnxModel::load(dir, spec)?,
            classes: parse_class_map(&csv).map_err(|e| format!("{file}: {e}"))?,
        })
    }
}

static YAMNET: Lazy<Yamnet> = Lazy::new();

/// The sound events in 16 kHz mono `samples`: every class scoring at least `threshold` in
/// consecutive 0.96 s patches, as one segment each. `on_progress` gets the fraction done.
pub fn detect(
    dir: &Path,
    samples: &[f32],
    threshold: f32,
    on_progress: &mut dyn FnMut(f64),
) -> Result<Vec<Segment>, MlError> {
    let yamnet = YAMNET.get(dir, "audio-events", Yamnet::load)?;
    let features = log_mel(samples);
    let total = features.patch_count().max(1);
    let mut scores: Vec<Vec<f32>> = Vec::with_capacity(total);
    for (i, (_, patch)) in features.patches().enumerate() {
        let outputs = yamnet.model.run(patch.to_vec())?;
        // `scores` (sigmoid) is the output whose values all lie in 0..1; the other is logits.
        let row = outputs
            .iter()
            .rev()
            .find(|o| o.data.len() == NUM_CLASSES && o.data.iter().all(|v| (0.0..=1.0).contains(v)))
            .or(outputs.last())
            .ok_or_else(|| MlError::Inference("YAMNet gave no output".into()))?;
        scores.push(row.data.clone());
        on_progress((i + 1) as f64 / total as f64);
    }
    Ok(segments(&scores, &yamnet.classes, threshold))
}

/// Number of YAMNet classes.
pub const NUM_CLASSES: usize = 521;
/// Time between the starts of consecutive patches, in milliseconds.
pub const PATCH_HOP_MS: u64 = 480;
/// Length of one patch, in milliseconds.
pub const PATCH_MS: u64 = 960;

/// A stretch of consecutive patches in which one class scored at or above the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Class index (row of the class map).
    pub class: usize,
    /// Display name of the class.
    pub label: String,
    /// Start of the first patch.
    pub start_ms: u64,
    /// End of the last patch.
    pub end_ms: u64,
    /// Highest score of the class within the segment.
    pub peak: f32,
}

/// Merges the active classes of consecutive patches into segments.
///
/// A class is active in a patch when its score is `>= threshold` (the configured `audio_event_min_score`).
/// Each run of consecutive patches in which the same class is active becomes one [`Segment`].
/// The result is sorted by start time, then by peak score, highest first.
///
/// # Panics
///
/// Panics if a row of `scores` has fewer values than `class_names`.
pub fn segments<S: AsRef<[f32]>, N: AsRef<str>>(
    scores: &[S],
    class_names: &[N],
    threshold: f32,
) -> Vec<Segment> {
    let mut segments = Vec::new();
    for (class, name) in class_names.iter().enumerate() {
        let mut current: Option<Segment> = None;
        for (patch, row) in scores.iter().enumerate() {
            let score = row.as_ref()[class];
            let start_ms = patch as u64 * PATCH_HOP_MS;
            if score < threshold || score.is_nan() {
                segments.extend(current.take());
            } else if let Some(segment) = &mut current {
                segment.end_ms = start_ms + PATCH_MS;
                segment.peak = segment.peak.max(score);
            } else {
                current = Some(Segment {
                    class,
                    label: name.as_ref().to_owned(),
                    start_ms,
                    end_ms: start_ms + PATCH_MS,
                    peak: score,
                });
            }
        }
        segments.extend(current);
    }
    segments.sort_by(|a, b| a.start_ms.cmp(&b.start_ms).then(b.peak.total_cmp(&a.peak)));
    segments
}

/// A malformed line in the class map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMapError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for ClassMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "class map line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ClassMapError {}

/// Parses `yamnet_class_map.csv` (`index,mid,display_name`, header first, LF or CRLF line ends)
/// into the display names, indexed by class.
///
/// Fields may be quoted (`"Child speech, kid speaking"`), with `""` for a literal quote; a quoted
/// field cannot span lines. Indices must run 0, 1, 2, … in order. Blank lines are ignored.
pub fn parse_class_map(csv: &str) -> Result<Vec<String>, ClassMapError> {
    let mut names = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        let error = |reason| ClassMapError {
            line: i + 1,
            reason,
        };
        let fields = crate::csv::record(line).map_err(error)?;
        let Ok([index, _mid, name]) = <[String; 3]>::try_from(fields) else {
            return Err(error("expected 3 fields"));
        };
        if index.parse() != Ok(names.len()) {
            return Err(error("index out of sequence"));
        }
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["Speech", "Music", "Dog"];

    fn scores() -> Vec<[f32; 3]> {
        vec![
            [0.9, 0.1, 0.5],
            [0.8, 0.35, 0.2],
            [0.2, 0.4, 0.3], // Dog exactly at the threshold counts
            [0.95, 0.0, 0.31],
        ]
    }

    fn summary(segments: &[Segment]) -> Vec<(&str, u64, u64, f32)> {
        segments
            .iter()
            .map(|s| (s.label.as_str(), s.start_ms, s.end_ms, s.peak))
            .collect()
    }

    #[test]
    fn merges_consecutive_patches_per_class() {
        let segments = segments(&scores(), &NAMES, 0.3);
        assert_eq!(
            summary(&segments),
            [
                ("Speech", 0, 1440, 0.9),
                ("Dog", 0, 960, 0.5),
                ("Music", 480, 1920, 0.4),
                ("Dog", 960, 2400, 0.31),
                ("Speech", 1440, 2400, 0.95),
            ]
        );
        assert_eq!(segments[2].class, 1);
    }

    #[test]
    fn threshold_is_a_parameter() {
        let segments = segments(&scores(), &NAMES, 0.85);
        assert_eq!(
            summary(&segments),
            [("Speech", 0, 960, 0.9), ("Speech", 1440, 2400, 0.95)]
        );
    }

    #[test]
    fn single_long_run_and_no_patches() {
        let rows = vec![[0.7_f32]; 5];
        assert_eq!(
            summary(&segments(&rows, &["Beep"], 0.3)),
            [("Beep", 0, 2880, 0.7)]
        );
        let none: &[[f32; 1]] = &[];
        assert!(segments(none, &["Beep"], 0.3).is_empty());
    }

    #[test]
    fn parses_quoted_names_and_crlf() {
        // The first lines of yamnet_class_map.csv, with its CRLF line ends.
        let csv = "index,mid,display_name\r\n\
                   0,/m/09x0r,Speech\r\n\
                   1,/m/0ytgt,\"Child speech, kid speaking\"\r\n\
                   2,/m/01h8n0,Conversation\r\n";
        assert_eq!(
            parse_class_map(csv).unwrap(),
            ["Speech", "Child speech, kid speaking", "Conversation"]
        );
    }

    #[test]
    fn rejects_bad_class_maps() {
        let skipped = "index,mid,display_name\n0,/m/a,A\n2,/m/c,C\n";
        assert_eq!(
            parse_class_map(skipped),
            Err(ClassMapError {
                line: 3,
                reason: "index out of sequence"
            })
        );
        let short = "index,mid,display_name\n0,/m/a\n";
        assert_eq!(parse_class_map(short).unwrap_err().line, 2);
    }
}
