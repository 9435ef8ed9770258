//! Faces in a picture: UltraFace finds them, CenterFace places five landmarks on a crop around
//! each, a similarity transform maps those onto the ArcFace template, and MobileFaceNet turns
//! the aligned 112x112 face into an L2-normalised embedding.

use std::path::Path;

use image::{Rgb, RgbImage};

use super::MlError;
use super::models::Lazy;
use super::onnx::{OnnxModel, Outputs, PixelFormat, nms, planar};

/// A face found in a picture. Coordinates are fractions of the picture's width and height.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundFace {
    pub score: f32,
    /// `[x, y, width, height]`.
    pub bbox: [f32; 4],
    /// Left eye, right eye, nose, left and right mouth corner (as seen by the viewer).
    pub landmarks: [[f32; 2]; 5],
    /// 128 values, L2-normalised.
    pub embedding: Vec<f32>,
}

static DETECTOR: Lazy<OnnxModel> = Lazy::new();
static LANDMARKS: Lazy<OnnxModel> = Lazy::new();
static EMBEDDER: Lazy<OnnxModel> = Lazy::new();

/// UltraFace's input size.
const DETECT_SIZE: (u32, u32) = (320, 240);
const MIN_SCORE: f32 = 0.7;
const NMS_IOU: f32 = 0.3;
/// The landmark crop: this many times the face box's longer side, at this size.
const CROP_EXPAND: f32 = 1.5;
const CROP_SIDE: u32 = 128;
/// CenterFace's output stride and its lowest accepted heatmap peak.
const STRIDE: f32 = 4.0;
const MIN_HEAT: f32 = 0.5;
/// The aligned face's side and the ArcFace template's five points on it.
const ALIGNED_SIDE: u32 = 112;
const ARCFACE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Every face in `picture` with its landmarks and embedding, best first. A face whose landmarks
/// cannot be placed is left out: without alignment its embedding would be noise.
pub fn find(dir: &Path, picture: &RgbImage) -> Result<Vec<FoundFace>, MlError> {
    let detector = DETECTOR.get(dir, "face-detector", OnnxModel::load)?;
    let landmarker = LANDMARKS.get(dir, "face-landmarks", OnnxModel::load)?;
    let embedder = EMBEDDER.get(dir, "face-embedder", OnnxModel::load)?;
    let (w, h) = (picture.width() as f32, picture.height() as f32);
    let small = sample_rect(picture, [0.0, 0.0, w, h], DETECT_SIZE.0, DETECT_SIZE.1);
    let outputs = detector.run(planar(&small, PixelFormat::rgb_centred(127.0)))?;
    let by_width = |n: usize| {
        outputs
            .iter()
            .find(|o| o.shape.last() == Some(&n))
            .ok_or_else(|| MlError::Inference("UltraFace outputs are not scores and boxes".into()))
    };
    let (scores, boxes) = (by_width(2)?, by_width(4)?);
    let mut candidates: Vec<[f32; 4]> = Vec::new();
    let mut candidate_scores: Vec<f32> = Vec::new();
    for (pair, corners) in scores.data.chunks_exact(2).zip(boxes.data.chunks_exact(4)) {
        if pair[1] > MIN_SCORE {
            candidates.push([
                corners[0] * w,
                corners[1] * h,
                corners[2] * w,
                corners[3] * h,
            ]);
            candidate_scores.push(pair[1]);
        }
    }
    let mut faces = Vec::new();
    for i in nms(&candidates, &candidate_scores, NMS_IOU) {
        let corners = candidates[i];
        let Some(points) = landmarks(&landmarker, picture, corners)? else {
            continue;
        };
        let aligned = align(picture, &points);
        let embedding = embedder
            .run(planar(&aligned, PixelFormat::rgb_centred(127.5)))?
            .into_iter()
            .next()
            .map(|o| normalised(o.data))
            .ok_or_else(|| MlError::Inference("MobileFaceNet gave no output".into()))?;
        let x1 = corners[0].clamp(0.0, w);
        let y1 = corners[1].clamp(0.0, h);
        let x2 = corners[2].clamp(0.0, w);
        let y2 = corners[3].clamp(0.0, h);
        faces.push(FoundFace {
            score: candidate_scores[i],
            bbox: [x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h],
            landmarks: points.map(|[x, y]| [x / w, y / h]),
            embedding,
        });
    }
    Ok(faces)
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// CenterFace's five landmarks (picture pixels) for the face in `corners`, from a square crop
/// around it; `None` when no face peak lies inside the box.
fn landmarks(
    model: &OnnxModel,
    picture: &RgbImage,
    corners: [f32; 4],
) -> Result<Option<[[f32; 2]; 5]>, MlError> {
    let [bx1, by1, bx2, by2] = corners;
    let side = CROP_EXPAND * (bx2 - bx1).max(by2 - by1);
    let (x0, y0) = ((bx1 + bx2 - side) / 2.0, (by1 + by2 - side) / 2.0);
    let crop = sample_rect(picture, [x0, y0, side, side], CROP_SIDE, CROP_SIDE);
    let outputs = model.run(planar(&crop, PixelFormat::BGR_RAW))?;
    let [heat, scale, offset, marks] = match outputs.as_slice() {
        [a, b, c, d] => [a, b, c, d],
        _ => return Err(MlError::Inference("CenterFace gave no 4 outputs".into())),
    };
    let cells = (CROP_SIDE as f32 / STRIDE) as usize;
    let plane = cells * cells;
    let k = CROP_SIDE as f32 / side;
    let inside = [
        (bx1 - x0) * k,
        (by1 - y0) * k,
        (bx2 - x0) * k,
        (by2 - y0) * k,
    ];
    // The strongest peak whose cell centre lies in the detected box: a neighbour's face in the
    // enlarged crop can never win.
    let best = (0..plane)
        .filter(|idx| {
            let (cx, cy) = (
                ((idx % cells) as f32 + 0.5) * STRIDE,
                ((idx / cells) as f32 + 0.5) * STRIDE,
            );
            cx >= inside[0] && cx <= inside[2] && cy >= inside[1] && cy <= inside[3]
        })
        .max_by(|a, b| heat.data[*a].total_cmp(&heat.data[*b]));
    let Some(idx) = best.filter(|idx| heat.data[*idx] >= MIN_HEAT) else {
        return Ok(None);
    };
    let at = |o: &Outputs, channel: usize| o.data[channel * plane + idx];
    let (row, col) = ((idx / cells) as f32, (idx % cells) as f32);
    let fh = at(scale, 0).exp() * STRIDE;
    let fw = at(scale, 1).exp() * STRIDE;
    let cx = (col + at(offset, 1) + 0.5) * STRIDE;
    let cy = (row + at(offset, 0) + 0.5) * STRIDE;
    let (fx1, fy1) = (cx - fw / 2.0, cy - fh / 2.0);
    let mut points = [[0.0f32; 2]; 5];
    for (j, point) in points.iter_mut().enumerate() {
        let x = at(marks, 2 * j + 1) * fw + fx1;
        let y = at(marks, 2 * j) * fh + fy1;
        *point = [x / k + x0, y / k + y0];
    }
    Ok(Some(points))
}

/// The least-squares similarity (rotation, uniform scale, translation) taking `from` onto `to`,
/// as `(a, b, tx, ty)` for the matrix `[[a, -b, tx], [b, a, ty]]`.
fn similarity(from: &[[f32; 2]; 5], to: &[[f32; 2]; 5]) -> (f32, f32, f32, f32) {
    let mean = |p: &[[f32; 2]; 5]| {
        let n = p.len() as f32;
        (
            p.iter().map(|q| q[0]).sum::<f32>() / n,
            p.iter().map(|q| q[1]).sum::<f32>() / n,
        )
    };
    let ((fx, fy), (tx, ty)) = (mean(from), mean(to));
    let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
    for (f, t) in from.iter().zip(to) {
        let (sx, sy, dx, dy) = (f[0] - fx, f[1] - fy, t[0] - tx, t[1] - ty);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        norm += sx * sx + sy * sy;
    }
    let (a, b) = if norm > 0.0 {
        (dot / norm, cross / norm)
    } else {
        (1.0, 0.0)
    };
    (a, b, tx - (a * fx - b * fy), ty - (b * fx + a * fy))
}

/// The 112x112 face with `points` (picture pixels) moved onto the ArcFace template.
fn align(picture: &RgbImage, points: &[[f32; 2]; 5]) -> RgbImage {
    // Pixel centres sit at integer coordinates in the template's convention.
    let from = points.map(|[x, y]| [x - 0.5, y - 0.5]);
    let (a, b, tx, ty) = similarity(&from, &ARCFACE);
    let det = a * a + b * b;
    let mut out = RgbImage::new(ALIGNED_SIDE, ALIGNED_SIDE);
    if det <= f32::EPSILON {
        return out;
    }
    for (u, v, px) in out.enumerate_pixels_mut() {
        let (du, dv) = (u as f32 - tx, v as f32 - ty);
        let x = (a * du + b * dv) / det;
        let y = (-b * du + a * dv) / det;
        *px = bilinear(picture, x, y);
    }
    out
}

/// The pixel at (`x`, `y`), pixel centres at integer coordinates; black outside the picture.
fn bilinear(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (w, h) = (img.width() as i64, img.height() as i64);
    let mut acc = [0.0f32; 3];
    for (dx, dy, weight) in [
        (0, 0, (1.0 - fx) * (1.0 - fy)),
        (1, 0, fx * (1.0 - fy)),
        (0, 1, (1.0 - fx) * fy),
        (1, 1, fx * fy),
    ] {
        let (px, py) = (x0 as i64 + dx, y0 as i64 + dy);
        if weight > 0.0 && (0..w).contains(&px) && (0..h).contains(&py) {
            let p = img.get_pixel(px as u32, py as u32).0;
            for c in 0..3 {
                acc[c] += weight * f32::from(p[c]);
            }
        }
    }
    Rgb(acc.map(|v| v.round().clamp(0.0, 255.0) as u8))
}

/// The rectangle `[x, y, width, height]` (picture pixels, may extend past the picture, which
/// is black there) resampled to `out_w` x `out_h`, bilinear.
fn sample_rect(img: &RgbImage, rect: [f32; 4], out_w: u32, out_h: u32) -> RgbImage {
    let [x0, y0, cw, ch] = rect;
    let (sx, sy) = (cw / out_w as f32, ch / out_h as f32);
    RgbImage::from_fn(out_w, out_h, |i, j| {
        bilinear(
            img,
            x0 + (i as f32 + 0.5) * sx - 0.5,
            y0 + (j as f32 + 0.5) * sy - 0.5,
        )
    })
}

/// A square `side` x `side` picture of the face in `bbox` (fractions), with some room around
/// it, kept inside the picture where it fits.
pub fn thumbnail(picture: &RgbImage, bbox: [f32; 4], side: u32) -> RgbImage {
    let (w, h) = (picture.width() as f32, picture.height() as f32);
    let [x, y, bw, bh] = [bbox[0] * w, bbox[1] * h, bbox[2] * w, bbox[3] * h];
    let size = (1.6 * bw.max(bh)).min(w.max(h)).max(1.0);
    let fit = |start: f32, room: f32| {
        if size <= room {
            start.clamp(0.0, room - size)
        } else {
            start
        }
    };
    let x0 = fit(x + bw / 2.0 - size / 2.0, w);
    let y0 = fit(y + bh / 2.0 - size / 2.0, h);
    sample_rect(picture, [x0, y0, size, size], side, side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        // Rotate by 10 degrees, scale by 2, shift by (5, -3).
        let (a, b) = (
            2.0 * 10f32.to_radians().cos(),
            2.0 * 10f32.to_radians().sin(),
        );
        let moved = ARCFACE.map(|[x, y]| [a * x - b * y + 5.0, b * x + a * y - 3.0]);
        let (ra, rb, tx, ty) = similarity(&ARCFACE, &moved);
        assert!((ra - a).abs() < 1e-3 && (rb - b).abs() < 1e-3, "{ra} {rb}");
        assert!(
            (tx - 5.0).abs() < 1e-2 && (ty + 3.0).abs() < 1e-2,
            "{tx} {ty}"
        );
    }

    #[test]
    fn sampling_a_rect_matches_the_pixels_and_pads_with_black() {
        let img = RgbImage::from_fn(4, 4, |x, y| Rgb([(x * 10) as u8, (y * 10) as u8, 0]));
        let same = sample_rect(&img, [0.0, 0.0, 4.0, 4.0], 4, 4);
        assert_eq!(same, img);
        let outside = sample_rect(&img, [-10.0, -10.0, 4.0, 4.0], 2, 2);
        assert!(outside.pixels().all(|p| p.0 == [0, 0, 0]));
    }
}
