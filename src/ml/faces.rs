//! Faces in a picture: UltraFace finds them, CenterFace places five landmarks on a crop around
//! each, a similarity transform maps those onto the ArcFace template, and MobileFaceNet turns
//! the aligned 112x112 face into an L2-normalised embedding.
//!
//! UltraFace sees 320x240 pixels, so on the whole of a 1920 px preview it misses faces under
//! about 60 px. A large picture that is not a close-up is therefore also searched in overlapping
//! tiles, each seen at [`TILE_ZOOM`] preview pixels per detector pixel; and what the models see
//! is stretched to the full tonal range first when it is faded (old prints, fog, backlight).

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
/// Preview pixels per detector pixel in a tile: faces down to about 10 px x this are found.
const TILE_ZOOM: f32 = 1.5;
/// Share of a tile that its neighbour also covers, so a face on a seam is whole in one of them.
const TILE_OVERLAP: f32 = 0.25;
/// A face this tall (share of the picture's height) makes it a close-up, not searched in tiles:
/// the people that matter are the big ones, and tiles cost a detector run each.
const CLOSE_UP: f32 = 0.25;
/// A picture is tiled when it is this many times the detector's size or more.
const TILE_FROM: f32 = 2.0;
/// Share of a face's box inside a larger face that makes it part of that face.
const CONTAINED: f32 = 0.5;
/// A picture whose middle 98% of brightness spans fewer levels than this is stretched.
const FADED_RANGE: u8 = 160;
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
    let mut found = detect(&detector, picture, [0.0, 0.0, w, h])?;
    let close_up = found.iter().any(|(c, _)| c[3] - c[1] >= CLOSE_UP * h);
    if !close_up {
        for tile in tiles(w, h) {
            found.extend(detect(&detector, picture, tile)?);
        }
    }
    let (candidates, candidate_scores): (Vec<[f32; 4]>, Vec<f32>) = found.into_iter().unzip();
    let kept = nms(&candidates, &candidate_scores, NMS_IOU);
    let mut faces = Vec::new();
    for &i in kept
        .iter()
        .filter(|&&i| !inside_a_larger(&candidates, &kept, i))
    {
        let corners = candidates[i];
        let Some(points) = landmarks(&landmarker, picture, corners)? else {
            continue;
        };
        let mut aligned = align(picture, &points);
        stretch_if_faded(&mut aligned);
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

/// Overlapping tiles `[x, y, width, height]` of the detector's shape over a large picture
/// (none for a small one).
fn tiles(w: f32, h: f32) -> Vec<[f32; 4]> {
    let mut tiles = Vec::new();
    let (dw, dh) = (DETECT_SIZE.0 as f32, DETECT_SIZE.1 as f32);
    if w.max(h) < TILE_FROM * dw {
        return tiles;
    }
    let (tw, th) = ((dw * TILE_ZOOM).min(w), (dh * TILE_ZOOM).min(h));
    let starts = |room: f32, tile: f32| {
        let steps = ((room - tile) / (tile * (1.0 - TILE_OVERLAP)))
            .ceil()
            .max(0.0) as usize;
        (0..=steps).map(move |i| {
            if steps == 0 {
                0.0
            } else {
                (room - tile) * i as f32 / steps as f32
            }
        })
    };
    for y in starts(h, th) {
        tiles.extend(starts(w, tw).map(|x| [x, y, tw, th]));
    }
    tiles
}

/// UltraFace on one view of `picture`: each face's corners in picture pixels, with its score.
/// A tile's face that touches an inner edge of the tile is cut off there and left to the view
/// that holds it whole.
fn detect(
    detector: &OnnxModel,
    picture: &RgbImage,
    view: [f32; 4],
) -> Result<Vec<([f32; 4], f32)>, MlError> {
    let [vx, vy, vw, vh] = view;
    let mut input = sample_rect(picture, view, DETECT_SIZE.0, DETECT_SIZE.1);
    stretch_if_faded(&mut input);
    let outputs = detector.run(planar(&input, PixelFormat::rgb_centred(127.0)))?;
    let by_width = |n: usize| {
        outputs
            .iter()
            .find(|o| o.shape.last() == Some(&n))
            .ok_or_else(|| MlError::Inference("UltraFace outputs are not scores and boxes".into()))
    };
    let (scores, boxes) = (by_width(2)?, by_width(4)?);
    let (pw, ph) = (picture.width() as f32, picture.height() as f32);
    let margin = 0.01;
    let cut = |at: f32, start: f32, end: f32, whole: f32| {
        (at < margin && start > 0.0) || (at > 1.0 - margin && end < whole)
    };
    let mut found = Vec::new();
    for (pair, c) in scores.data.chunks_exact(2).zip(boxes.data.chunks_exact(4)) {
        if pair[1] <= MIN_SCORE {
            continue;
        }
        let tile = vw < pw || vh < ph;
        if tile
            && (cut(c[0], vx, vx + vw, pw)
                || cut(c[2], vx, vx + vw, pw)
                || cut(c[1], vy, vy + vh, ph)
                || cut(c[3], vy, vy + vh, ph))
        {
            continue;
        }
        let corners = [
            vx + c[0] * vw,
            vy + c[1] * vh,
            vx + c[2] * vw,
            vy + c[3] * vh,
        ];
        found.push((corners, pair[1]));
    }
    Ok(found)
}

/// Whether candidate `i` lies mostly inside a larger kept one: a tile that holds only part of a
/// big face (its mouth and chin) can take that part for a face.
fn inside_a_larger(candidates: &[[f32; 4]], kept: &[usize], i: usize) -> bool {
    let area = |b: &[f32; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let a = &candidates[i];
    kept.iter().map(|&k| &candidates[k]).any(|b| {
        let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
        let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        area(b) > area(a) && ix * iy >= CONTAINED * area(a)
    })
}

/// Stretches a faded picture's brightness to the full range (the same gain on every channel,
/// so colours keep their balance); a picture with contrast enough is left as it is.
fn stretch_if_faded(picture: &mut RgbImage) {
    let mut histogram = [0u32; 256];
    for p in picture.pixels() {
        let [r, g, b] = p.0;
        histogram[((u32::from(r) * 77 + u32::from(g) * 150 + u32::from(b) * 29) >> 8) as usize] +=
            1;
    }
    let total: u32 = histogram.iter().sum();
    let level_at = |share: f32| {
        let wanted = (total as f32 * share) as u32;
        let mut seen = 0;
        histogram
            .iter()
            .position(|&n| {
                seen += n;
                seen > wanted
            })
            .unwrap_or(255) as u8
    };
    let (low, high) = (level_at(0.01), level_at(0.99));
    if high.saturating_sub(low) >= FADED_RANGE || high <= low {
        return;
    }
    let gain = 255.0 / f32::from(high - low);
    for p in picture.pixels_mut() {
        p.0 =
            p.0.map(|v| ((f32::from(v) - f32::from(low)) * gain).clamp(0.0, 255.0) as u8);
    }
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
    let mut crop = sample_rect(picture, [x0, y0, side, side], CROP_SIDE, CROP_SIDE);
    stretch_if_faded(&mut crop);
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
