//! What a picture shows: YOLOX-Nano boxes for the 80 COCO object classes, and EfficientNet-Lite0
//! tags from the 1000 ImageNet classes. Both read the upright preview of a photo or a video's
//! poster frame.

use std::path::Path;

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use super::MlError;
use super::models::{Lazy, read_labels};
use super::onnx::{OnnxModel, PixelFormat, nms, planar, resize_exact};

/// Where a label came from.
pub const OBJECT: &str = "object";
pub const TAG: &str = "tag";

/// A label found in a picture. Boxes are `[x, y, width, height]` as fractions of the picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Label {
    pub source: String,
    pub name: String,
    pub score: f32,
    pub bbox: Option<[f32; 4]>,
}

/// A model with its class names.
pub struct Classifier {
    model: OnnxModel,
    labels: Vec<String>,
}

impl Classifier {
    fn load(dir: &Path, spec: &super::models::ModelSpec) -> Result<Classifier, String> {
        Ok(Classifier {
            model: OnnxModel::load(dir, spec)?,
            labels: read_labels(dir, spec)?,
        })
    }

    fn label(&self, class: usize) -> String {
        // ImageNet lines list synonyms ("tabby, tabby cat"); the first is the name.
        self.labels
            .get(class)
            .and_then(|l| l.split(", ").next())
            .unwrap_or("unknown")
            .to_owned()
    }
}

static DETECTOR: Lazy<Classifier> = Lazy::new();
static TAGGER: Lazy<Classifier> = Lazy::new();

/// YOLOX-Nano's input side.
const DETECTOR_SIDE: u32 = 416;
/// The grid strides of YOLOX's three heads.
const STRIDES: [usize; 3] = [8, 16, 32];
/// Overlap above which two boxes of one class are the same object.
const DETECTOR_NMS_IOU: f32 = 0.45;
/// Boxes of two classes that overlap this much are one thing (a dog also scored as a cat).
const SAME_THING_IOU: f32 = 0.85;
/// EfficientNet-Lite0's input side.
const TAGGER_SIDE: u32 = 224;
/// Most tags kept per picture.
const MAX_TAGS: usize = 5;

/// Objects in `picture` scoring at least `min_score`, best first.
pub fn detect(dir: &Path, picture: &RgbImage, min_score: f32) -> Result<Vec<Label>, MlError> {
    let detector = DETECTOR.get(dir, "object-detector", Classifier::load)?;
    let (w, h) = picture.dimensions();
    let r = (DETECTOR_SIDE as f32 / w as f32).min(DETECTOR_SIDE as f32 / h as f32);
    let (rw, rh) = (
        ((w as f32 * r).round() as u32).clamp(1, DETECTOR_SIDE),
        ((h as f32 * r).round() as u32).clamp(1, DETECTOR_SIDE),
    );
    let resized = resize_exact(picture, rw, rh)?;
    let mut canvas = RgbImage::from_pixel(DETECTOR_SIDE, DETECTOR_SIDE, Rgb([114, 114, 114]));
    image::imageops::replace(&mut canvas, &resized, 0, 0);
    let outputs = detector.model.run(planar(&canvas, PixelFormat::BGR_RAW))?;
    let rows = outputs
        .first()
        .ok_or_else(|| MlError::Inference("YOLOX gave no output".into()))?;
    let width = rows.shape.last().copied().unwrap_or(0);
    if width < 6 {
        return Err(MlError::Inference(format!(
            "YOLOX output shape {:?}",
            rows.shape
        )));
    }
    let mut found: Vec<(usize, [f32; 4], f32)> = Vec::new();
    let mut row = rows.data.chunks_exact(width);
    for stride in STRIDES {
        let cells = DETECTOR_SIDE as usize / stride;
        for gy in 0..cells {
            for gx in 0..cells {
                let Some(cell) = row.next() else { break };
                let (class, best) =
                    cell[5..]
                        .iter()
                        .enumerate()
                        .fold(
                            (0, 0.0f32),
                            |acc, (i, &s)| if s > acc.1 { (i, s) } else { acc },
                        );
                let score = cell[4] * best;
                if score < min_score {
                    continue;
                }
                let cx = (cell[0] + gx as f32) * stride as f32 / r;
                let cy = (cell[1] + gy as f32) * stride as f32 / r;
                let bw = cell[2].exp() * stride as f32 / r;
                let bh = cell[3].exp() * stride as f32 / r;
                let corners = [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0];
                found.push((class, corners, score));
            }
        }
    }
    let mut kept: Vec<(usize, [f32; 4], f32)> = Vec::new();
    let mut classes: Vec<usize> = found.iter().map(|f| f.0).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let of_class: Vec<&(usize, [f32; 4], f32)> =
            found.iter().filter(|f| f.0 == class).collect();
        let boxes: Vec<[f32; 4]> = of_class.iter().map(|f| f.1).collect();
        let scores: Vec<f32> = of_class.iter().map(|f| f.2).collect();
        for i in nms(&boxes, &scores, DETECTOR_NMS_IOU) {
            kept.push((class, boxes[i], scores[i]));
        }
    }
    // Then across classes, best first: one thing seen as two classes keeps the likelier.
    let boxes: Vec<[f32; 4]> = kept.iter().map(|k| k.1).collect();
    let scores: Vec<f32> = kept.iter().map(|k| k.2).collect();
    Ok(nms(&boxes, &scores, SAME_THING_IOU)
        .into_iter()
        .map(|i| Label {
            source: OBJECT.into(),
            name: detector.label(kept[i].0),
            score: kept[i].2,
            bbox: Some(fraction_box(kept[i].1, w as f32, h as f32)),
        })
        .collect())
}

/// A corner box in pixels as `[x, y, width, height]` fractions of a `w` x `h` picture.
fn fraction_box(corners: [f32; 4], w: f32, h: f32) -> [f32; 4] {
    let x1 = (corners[0] / w).clamp(0.0, 1.0);
    let y1 = (corners[1] / h).clamp(0.0, 1.0);
    let x2 = (corners[2] / w).clamp(0.0, 1.0);
    let y2 = (corners[3] / h).clamp(0.0, 1.0);
    [x1, y1, x2 - x1, y2 - y1]
}

/// Up to five ImageNet tags of `picture` with a probability of at least `min_score`, best
/// first. The picture's centre square is what the model sees.
pub fn tag(dir: &Path, picture: &RgbImage, min_score: f32) -> Result<Vec<Label>, MlError> {
    let tagger = TAGGER.get(dir, "image-tagger", Classifier::load)?;
    let (w, h) = picture.dimensions();
    let side = w.min(h);
    let square =
        image::imageops::crop_imm(picture, (w - side) / 2, (h - side) / 2, side, side).to_image();
    let input = resize_exact(&square, TAGGER_SIDE, TAGGER_SIDE)?;
    let outputs = tagger
        .model
        .run(planar(&input, PixelFormat::rgb_centred(127.0)))?;
    // The second output holds the softmaxed probabilities; the first, the logits.
    let probs = outputs
        .iter()
        .find(|o| (o.data.iter().sum::<f32>() - 1.0).abs() < 0.01)
        .or(outputs.last())
        .ok_or_else(|| MlError::Inference("EfficientNet gave no output".into()))?;
    let mut ranked: Vec<(usize, f32)> = probs.data.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(ranked
        .into_iter()
        .take(MAX_TAGS)
        .filter(|(_, p)| *p >= min_score)
        .map(|(class, score)| Label {
            source: TAG.into(),
            name: tagger.label(class),
            score,
            bbox: None,
        })
        .collect())
}
