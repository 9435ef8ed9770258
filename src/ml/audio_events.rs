//! Turns YAMNet's per-patch class scores into labelled time segments and file-level tags.
//!
//! Patch `i` covers `i × 480 ms .. i × 480 ms + 960 ms` (see `audio_features`). Scores are the
//! model's sigmoid `scores` output, one row of [`NUM_CLASSES`] values per patch. Class names come
//! from `yamnet_class_map.csv`.

use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use super::MlError;
use super::audio_features::{LogMelStream, MEL_BANDS, PATCH_HOP_FRAMES, PATCH_LEN};
use super::models::{Lazy, ModelSpec};
use super::onnx::OnnxModel;
use crate::media::av::SampleSink;

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

/// Hears the sound events of a recording as it is decoded (a [`SampleSink`]): log-mel frames
/// are made as samples come, each 0.96 s patch goes through YAMNet as soon as it is whole, and
/// its scores only extend or close segments, so an hour costs no more memory than a second.
pub struct Listener {
    frames: LogMelStream,
    patches: Patches,
}

/// The patch being filled and what the patches so far were heard as.
struct Patches {
    yamnet: Arc<Yamnet>,
    /// The frames of the patch being filled, frame-major.
    patch: Vec<f32>,
    segments: Segmenter,
    /// The first failure, after which samples are refused.
    error: Option<MlError>,
}

impl Listener {
    /// A listener with the audio-events model from `dir`, keeping classes that score at least
    /// `threshold`.
    pub fn new(dir: &Path, threshold: f32) -> Result<Listener, MlError> {
        let yamnet = YAMNET.get(dir, "audio-events", Yamnet::load)?;
        let segments = Segmenter::new(yamnet.classes.clone(), threshold);
        Ok(Listener {
            frames: LogMelStream::new(),
            patches: Patches {
                yamnet,
                patch: Vec::with_capacity(PATCH_LEN),
                segments,
                error: None,
            },
        })
    }

    /// The segments heard, once the recording has ended.
    pub fn finish(mut self) -> Result<Vec<Segment>, MlError> {
        if self.patches.error.is_none() {
            self.frames
                .finish(&mut |frame| self.patches.add_frame(frame));
        }
        match self.patches.error {
            Some(e) => Err(e),
            None => Ok(self.patches.segments.finish()),
        }
    }
}

impl SampleSink for Listener {
    fn take(&mut self, samples: &[f32]) -> ControlFlow<()> {
        self.frames
            .push(samples, &mut |frame| self.patches.add_frame(frame));
        if self.patches.error.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl Patches {
    fn add_frame(&mut self, frame: &[f32]) {
        if self.error.is_some() {
            return;
        }
        self.patch.extend_from_slice(frame);
        if self.patch.len() < PATCH_LEN {
            return;
        }
        match self.scores() {
            Ok(row) => self.segments.push(&row),
            Err(e) => self.error = Some(e),
        }
        self.patch.drain(..PATCH_HOP_FRAMES * MEL_BANDS);
    }

    /// The model's class scores for the whole patch.
    fn scores(&self) -> Result<Vec<f32>, MlError> {
        let mut outputs = self.yamnet.model.run(self.patch.clone())?;
        // `scores` (sigmoid) is the output whose values all lie in 0..1; the other is logits.
        let scores = outputs
            .iter()
            .rposition(|o| {
                o.data.len() == NUM_CLASSES && o.data.iter().all(|v| (0.0..=1.0).contains(v))
            })
            .or(outputs.len().checked_sub(1));
        match scores {
            Some(i) if outputs[i].data.len() >= NUM_CLASSES => Ok(outputs.swap_remove(i).data),
            _ => Err(MlError::Inference("YAMNet gave no class scores".into())),
        }
    }
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
    let names = class_names.iter().map(|n| n.as_ref().to_owned()).collect();
    let mut segmenter = Segmenter::new(names, threshold);
    for row in scores {
        segmenter.push(row.as_ref());
    }
    segmenter.finish()
}

/// [`segments`] built patch by patch: only each class's open segment is kept.
struct Segmenter {
    names: Vec<String>,
    threshold: f32,
    /// Patches seen so far.
    patches: u64,
    /// Each class's segment still running at the last patch.
    open: Vec<Option<Segment>>,
    closed: Vec<Segment>,
}

impl Segmenter {
    fn new(names: Vec<String>, threshold: f32) -> Segmenter {
        let open = vec![None; names.len()];
        Segmenter {
            names,
            threshold,
            patches: 0,
            open,
            closed: Vec::new(),
        }
    }

    /// Takes the next patch's scores, one per class.
    fn push(&mut self, row: &[f32]) {
        let start_ms = self.patches * PATCH_HOP_MS;
        self.patches += 1;
        for (class, open) in self.open.iter_mut().enumerate() {
            let score = row[class];
            if score < self.threshold || score.is_nan() {
                self.closed.extend(open.take());
            } else if let Some(segment) = open {
                segment.end_ms = start_ms + PATCH_MS;
                segment.peak = segment.peak.max(score);
            } else {
                *open = Some(Segment {
                    class,
                    label: self.names[class].clone(),
                    start_ms,
                    end_ms: start_ms + PATCH_MS,
                    peak: score,
                });
            }
        }
    }

    /// All segments, sorted by start, then peak (highest first), then class.
    fn finish(self) -> Vec<Segment> {
        let mut segments = self.closed;
        segments.extend(self.open.into_iter().flatten());
        segments.sort_by(|a, b| {
            a.start_ms
                .cmp(&b.start_ms)
                .then(b.peak.total_cmp(&a.peak))
                .then(a.class.cmp(&b.class))
        });
        segments
    }
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
