//! Face recall and false positives on a labelled set made from the shared test photos: each
//! photo as it is, aged like an 1890s studio print (sepia, faded, grainy, soft), and all the
//! people shrunk into one crowd picture; plus photos without faces. The face boxes of the
//! sources were placed by hand (checked by eye on overlays); the aged and crowd pictures carry
//! them along. Runs the face finder the faces stage runs, on pictures the size of the preview
//! it reads, and prints the table (`cargo test face_recall -- --nocapture`).

use alcoves::ml::faces::{self, FoundFace};
use image::{Rgb, RgbImage, imageops};

use crate::files::testdata;

/// A source photo and its faces, `[x, y, width, height]` in its own pixels.
struct Labelled {
    file: &'static str,
    faces: &'static [[f32; 4]],
}

const SET: &[Labelled] = &[
    Labelled {
        file: "two_faces_ultraface13.jpg",
        faces: &[[91.0, 18.0, 64.0, 85.0], [300.0, 84.0, 63.0, 87.0]],
    },
    Labelled {
        file: "astronaut.jpg",
        faces: &[[179.0, 63.0, 91.0, 111.0]],
    },
    Labelled {
        file: "faces/p1_1.jpg",
        faces: &[[799.0, 184.0, 380.0, 500.0]],
    },
    Labelled {
        file: "faces/p1_2.jpg",
        faces: &[[351.0, 79.0, 132.0, 203.0]],
    },
    Labelled {
        file: "faces/p1_3.jpg",
        faces: &[[611.0, 244.0, 265.0, 382.0]],
    },
    Labelled {
        file: "faces/p2_1.jpg",
        faces: &[[382.0, 177.0, 452.0, 622.0]],
    },
    Labelled {
        file: "faces/p2_2.jpg",
        faces: &[[253.0, 189.0, 560.0, 700.0]],
    },
    Labelled {
        file: "faces/p3_1.jpg",
        faces: &[[194.0, 114.0, 257.0, 372.0]],
    },
    Labelled {
        file: "faces/p3_2.jpg",
        faces: &[[263.0, 253.0, 474.0, 676.0]],
    },
    Labelled {
        file: "faces/p4_1.jpg",
        faces: &[[312.0, 70.0, 272.0, 418.0]],
    },
    Labelled {
        file: "faces/p4_2.jpg",
        faces: &[[88.0, 93.0, 214.0, 282.0]],
    },
    Labelled {
        file: "faces/p5_2.jpg",
        faces: &[[366.0, 96.0, 218.0, 277.0]],
    },
];

/// Photos with no face in them.
const WITHOUT_FACES: [&str; 3] = ["dog.jpg", "chelsea.png", "coffee.png"];

/// A detection matches a labelled face when their boxes overlap this much (intersection over
/// union): loose, since hand boxes and the detector's differ in where a face ends.
const MATCH_IOU: f32 = 0.3;

fn load(name: &str) -> RgbImage {
    image::open(testdata(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgb8()
}

/// The picture at the size the faces stage sees (the preview fits 1920x1080), and the scale.
fn at_preview_size(picture: &RgbImage) -> (RgbImage, f32) {
    let (w, h) = picture.dimensions();
    let scale = (1920.0 / w as f32).min(1080.0 / h as f32).min(1.0);
    let (nw, nh) = (
        (w as f32 * scale).round() as u32,
        (h as f32 * scale).round() as u32,
    );
    let resized = imageops::resize(picture, nw, nh, imageops::FilterType::Triangle);
    (resized, scale)
}

/// An 1890s studio print: brown monochrome, faded to a quarter of the tonal range, grainy, soft.
fn aged(picture: &RgbImage) -> RgbImage {
    let mut seed = 0x2545_f491_u32;
    let mut grain = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 51) as f32 - 25.0
    };
    let faded = RgbImage::from_fn(picture.width(), picture.height(), |x, y| {
        let [r, g, b] = picture.get_pixel(x, y).0;
        let luma = 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b);
        let v = 105.0 + luma / 255.0 * 64.0 + grain();
        let tone = |k: f32| (v * k).clamp(0.0, 255.0) as u8;
        Rgb([tone(1.08), tone(0.94), tone(0.76)])
    });
    imageops::blur(&faded, 1.6)
}

/// Every labelled person shrunk so their faces are about `face_px` wide, side by side on a
/// 1920x1080 grey backdrop, with the boxes where they landed.
fn crowd(face_px: f32) -> (RgbImage, Vec<[f32; 4]>) {
    let mut canvas = RgbImage::from_pixel(1920, 1080, Rgb([128, 124, 118]));
    let mut boxes = Vec::new();
    let (mut x, mut y, mut row_h) = (40u32, 40u32, 0u32);
    for labelled in SET {
        let source = load(labelled.file);
        let widest = labelled.faces.iter().map(|f| f[2]).fold(0.0, f32::max);
        let scale = face_px / widest;
        let (w, h) = (
            (source.width() as f32 * scale).round() as u32,
            (source.height() as f32 * scale).round() as u32,
        );
        if x + w > 1880 {
            (x, y, row_h) = (40, y + row_h + 30, 0);
        }
        let small = imageops::resize(&source, w, h, imageops::FilterType::Triangle);
        imageops::replace(&mut canvas, &small, i64::from(x), i64::from(y));
        for f in labelled.faces {
            boxes.push([
                x as f32 + f[0] * scale,
                y as f32 + f[1] * scale,
                f[2] * scale,
                f[3] * scale,
            ]);
        }
        x += w + 30;
        row_h = row_h.max(h);
    }
    (canvas, boxes)
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let iy = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    let inter = ix.max(0.0) * iy.max(0.0);
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}

/// Found faces matched one to one against `truth` (boxes in the picture's pixels): how many
/// labelled faces were found, and how many detections match none.
fn tally(found: &[FoundFace], truth: &[[f32; 4]], picture: &RgbImage) -> (usize, usize) {
    let (w, h) = (picture.width() as f32, picture.height() as f32);
    let mut taken = vec![false; truth.len()];
    let mut false_positives = 0;
    for face in found {
        let b = [
            face.bbox[0] * w,
            face.bbox[1] * h,
            face.bbox[2] * w,
            face.bbox[3] * h,
        ];
        let best = (0..truth.len())
            .filter(|&i| !taken[i])
            .max_by(|&i, &j| iou(b, truth[i]).total_cmp(&iou(b, truth[j])));
        match best {
            Some(i) if iou(b, truth[i]) >= MATCH_IOU => taken[i] = true,
            _ => false_positives += 1,
        }
    }
    (taken.iter().filter(|t| **t).count(), false_positives)
}

/// One row of the table: labelled faces, found, false positives.
#[derive(Default)]
struct Row {
    faces: usize,
    found: usize,
    false_positives: usize,
}

impl Row {
    fn add(&mut self, picture: &RgbImage, truth: &[[f32; 4]]) {
        let found = faces::find(&crate::ml::shared_models(), picture).unwrap();
        let (hits, fps) = tally(&found, truth, picture);
        self.faces += truth.len();
        self.found += hits;
        self.false_positives += fps;
    }

    fn recall(&self) -> f32 {
        self.found as f32 / self.faces.max(1) as f32
    }
}

#[test]
fn faces_are_found_in_old_photos_and_in_crowds() {
    let (mut clean, mut old, mut none) = (Row::default(), Row::default(), Row::default());
    for labelled in SET {
        let (picture, scale) = at_preview_size(&load(labelled.file));
        let truth: Vec<[f32; 4]> = labelled
            .faces
            .iter()
            .map(|f| f.map(|v| v * scale))
            .collect();
        clean.add(&picture, &truth);
        old.add(&aged(&picture), &truth);
    }
    for name in WITHOUT_FACES {
        let (picture, _) = at_preview_size(&load(name));
        none.add(&picture, &[]);
        none.add(&aged(&picture), &[]);
    }
    let mut crowds = Vec::new();
    for face_px in [40.0, 28.0, 20.0] {
        let (picture, truth) = crowd(face_px);
        let mut row = Row::default();
        row.add(&picture, &truth);
        crowds.push((face_px, row));
    }
    println!("set                      faces  found  recall  false positives");
    let line = |name: &str, row: &Row| {
        println!(
            "{name:<24} {:>5}  {:>5}  {:>6.2}  {:>5}",
            row.faces,
            row.found,
            row.recall(),
            row.false_positives
        )
    };
    line("photos as they are", &clean);
    line("aged like an 1890s print", &old);
    for (px, row) in &crowds {
        line(&format!("crowd, faces {px} px wide"), row);
    }
    line("photos without faces", &none);

    assert_eq!(clean.recall(), 1.0, "every face of the clean photos");
    assert!(old.recall() >= 0.9, "faces in aged prints");
    for (px, row) in &crowds {
        assert!(row.recall() >= 0.8, "faces {px} px wide in a crowd");
    }
    let false_positives = clean.false_positives
        + old.false_positives
        + none.false_positives
        + crowds.iter().map(|(_, r)| r.false_positives).sum::<usize>();
    assert!(false_positives <= 1, "false positives: {false_positives}");
}
