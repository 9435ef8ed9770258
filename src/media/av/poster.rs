//! A video's poster frame: the first bright enough frame among a few spread over its start.

use std::path::Path;

use ::image::RgbImage;
use rsmpeg::avutil::{AVFrame, AVRational};

use super::input::{Frames, nothing_decoded};
use super::video::{VideoPipe, filter_chain, fit, open_video, rgb_image};
use super::{AvInfo, frame_us};
use crate::media::{Limits, MediaError};

/// Posters darker than this mean luma (0..255) are passed over for a later frame.
pub(super) const MIN_POSTER_LUMA: f64 = 16.0;

/// Candidate poster frames tried, spread over the start of the video.
pub(super) const POSTER_TRIES: i64 = 10;

/// Frames decoded after a seek while waiting for the target time, before taking what comes.
pub(super) const MAX_FRAMES_PER_SEEK: usize = 300;

/// A poster frame, upright and at most `max_side` px on its long side: the first frame that is
/// not near-black among ten spread over the first 10 % (at most 30 s) from about 1 s in, else
/// the brightest of them. HDR is tone-mapped to SDR BT.709 when FFmpeg has zscale.
pub fn poster(
    path: &Path,
    info: &AvInfo,
    max_side: u32,
    limits: &Limits,
) -> Result<RgbImage, MediaError> {
    let rotation = info
        .video
        .as_ref()
        .map(|video| video.rotation)
        .ok_or_else(|| MediaError::Unsupported("no video stream".into()))?;
    let (mut frames, source) = open_video(path, rotation, limits)?;
    let side = f64::from(max_side.max(1));
    let (width, height) = fit(source.display, (side, side), false);
    let chain = filter_chain(rotation, source.tonemap, width, height, "rgb24");
    let mut pipe = VideoPipe::new(&chain, source.time_base)?;

    let mut best: Option<(f64, RgbImage)> = None;
    for target in poster_targets(frames.input.start_us(), info.duration_ms) {
        frames.seek(target);
        let Some(frame) = frame_at(&mut frames, target, source.time_base, limits)? else {
            break;
        };
        for picture in pipe.run(frame)? {
            let image = rgb_image(&picture)?;
            let luma = mean_luma(&image);
            if luma >= MIN_POSTER_LUMA {
                return Ok(image);
            }
            if best.as_ref().is_none_or(|(brightest, _)| luma > *brightest) {
                best = Some((luma, image));
            }
        }
    }
    if let Some((_, image)) = best {
        return Ok(image);
    }
    // Nothing at the targets (the file is shorter than it says, or cannot seek): its first frame.
    let (mut frames, _) = open_video(path, rotation, limits)?;
    while let Some((_, frame)) = frames.next_frame(limits)? {
        if let Some(picture) = pipe.run(frame)?.first() {
            return rgb_image(picture);
        }
    }
    Err(nothing_decoded("video", &frames))
}

/// Mean BT.709 luma (0..255) of about 32 x 32 pixels spread over `image`.
pub(super) fn mean_luma(image: &RgbImage) -> f64 {
    let (width, height) = image.dimensions();
    let step_x = usize::try_from((width / 32).max(1)).unwrap_or(1);
    let step_y = usize::try_from((height / 32).max(1)).unwrap_or(1);
    let mut sum = 0.0;
    let mut count = 0u32;
    for y in (0..height).step_by(step_y) {
        for x in (0..width).step_by(step_x) {
            let [r, g, b] = image.get_pixel(x, y).0;
            sum += 0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b);
            count += 1;
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

/// When (microseconds, absolute) to look for a poster: ten points over the first 10 % (at most
/// 30 s) from 1 s in, or from the start for clips under 3 s.
pub(super) fn poster_targets(start_us: i64, duration_ms: Option<i64>) -> Vec<i64> {
    let duration = duration_ms
        .filter(|ms| *ms > 0)
        .map(|ms| ms.saturating_mul(1000));
    let (first, span) = match duration {
        Some(us) if us >= 3_000_000 => (1_000_000, (us / 10).min(30_000_000)),
        Some(us) => (0, us / 10),
        None => (1_000_000, 10_000_000),
    };
    (0..POSTER_TRIES)
        .map(|k| start_us.saturating_add(first + span * k / POSTER_TRIES))
        .collect()
}

/// Decodes up to the first frame at or after `target` (microseconds); after a few hundred frames
/// without getting there, takes the next one. None at the end of the file.
pub(super) fn frame_at(
    frames: &mut Frames,
    target: i64,
    time_base: AVRational,
    limits: &Limits,
) -> Result<Option<AVFrame>, MediaError> {
    for _ in 0..MAX_FRAMES_PER_SEEK {
        let Some((_, frame)) = frames.next_frame(limits)? else {
            return Ok(None);
        };
        if frame_us(&frame, time_base).is_none_or(|us| us >= target) {
            return Ok(Some(frame));
        }
    }
    Ok(frames.next_frame(limits)?.map(|(_, frame)| frame))
}
