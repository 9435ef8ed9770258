//! Decoding untrusted still images into upright sRGB pixels. The size is checked from the
//! header before any pixel is decoded; JPEGs decode at 1/2, 1/4 or 1/8 scale when the caller
//! needs fewer pixels, which is most of the speed on big photos.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use super::{Limits, MediaError, raw};

/// A decoded picture, upright and in sRGB.
pub struct Picture {
    /// The pixels, possibly reduced in size (see [`decode`]).
    pub pixels: RgbImage,
    /// Width of the full-size picture, upright.
    pub width: u32,
    /// Height of the full-size picture, upright.
    pub height: u32,
}

/// The MIME types [`decode`] reads.
pub fn is_decodable(mime: &str) -> bool {
    matches!(
        mime,
        "image/jpeg"
            | "image/png"
            | "image/webp"
            | "image/gif"
            | "image/tiff"
            | "image/heic"
            | "image/avif"
            | "image/x-canon-cr2"
    )
}

/// Decodes `bytes` (of the sniffed type `mime`). `min_scale` gets the upright full size and says
/// how far the decoder may shrink the picture (1.0 = full size) without the caller losing detail.
pub fn decode(
    bytes: &[u8],
    mime: &str,
    min_scale: &dyn Fn(u32, u32) -> f64,
    limits: &Limits,
) -> Result<Picture, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Invalid("the file is empty".into()));
    }
    match mime {
        "image/jpeg" => decode_jpeg(bytes, None, min_scale, limits),
        "image/heic" | "image/avif" => decode_heif(bytes, limits),
        "image/tiff" | "image/x-canon-cr2" => match raw::previews(bytes)? {
            Some(previews) => decode_raw(bytes, &previews, min_scale, limits),
            None => decode_generic(bytes, ImageFormat::Tiff, limits),
        },
        "image/png" => decode_generic(bytes, ImageFormat::Png, limits),
        "image/webp" => decode_generic(bytes, ImageFormat::WebP, limits),
        "image/gif" => decode_generic(bytes, ImageFormat::Gif, limits),
        other => Err(MediaError::Unsupported(format!(
            "{other} is not a still image"
        ))),
    }
}

fn invalid<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> MediaError + '_ {
    move |e| MediaError::Invalid(format!("{what}: {e}"))
}

/// The upright full size of a picture, read from its header without decoding pixels (and so
/// without limits: a decompression bomb's claimed size is recorded, decoding it is refused).
pub fn dimensions(bytes: &[u8], mime: &str) -> Result<(u32, u32), MediaError> {
    let jpeg = |bytes: &[u8], orientation: Option<Orientation>| {
        let exif = JpegSegments::read(bytes)?.exif;
        let orientation = orientation
            .or_else(|| exif.and_then(Orientation::from_exif_chunk))
            .unwrap_or(Orientation::NoTransforms);
        let header = turbojpeg::read_header(bytes).map_err(invalid("JPEG header"))?;
        Ok(upright(
            header.width as u32,
            header.height as u32,
            orientation,
        ))
    };
    match mime {
        "image/jpeg" => jpeg(bytes, None),
        "image/heic" | "image/avif" => {
            let context = libheif_rs::HeifContext::read_from_bytes(bytes)
                .map_err(invalid("HEIF container"))?;
            let handle = context
                .primary_image_handle()
                .map_err(invalid("HEIF primary image"))?;
            Ok((handle.width(), handle.height()))
        }
        "image/tiff" | "image/x-canon-cr2" => match raw::previews(bytes)? {
            Some(previews) => match previews.sensor_size {
                Some((w, h)) => Ok(upright(w, h, previews.orientation)),
                None => match by_size(bytes, &previews).first() {
                    Some(largest) => jpeg(largest, Some(previews.orientation)),
                    None => Err(no_preview()),
                },
            },
            None => generic_dimensions(bytes, ImageFormat::Tiff),
        },
        "image/png" => generic_dimensions(bytes, ImageFormat::Png),
        "image/webp" => generic_dimensions(bytes, ImageFormat::WebP),
        "image/gif" => generic_dimensions(bytes, ImageFormat::Gif),
        other => Err(MediaError::Unsupported(format!(
            "{other} is not a still image"
        ))),
    }
}

/// A RAW file's JPEG previews, largest first by the size their headers state (a preview whose
/// header does not read is left out).
fn by_size<'a>(bytes: &'a [u8], previews: &raw::Previews) -> Vec<&'a [u8]> {
    let mut sized: Vec<(u64, &[u8])> = previews
        .ranges
        .iter()
        .filter_map(|range| {
            let jpeg = bytes.get(range.clone())?;
            let header = turbojpeg::read_header(jpeg).ok()?;
            Some((header.width as u64 * header.height as u64, jpeg))
        })
        .collect();
    sized.sort_by_key(|s| std::cmp::Reverse(s.0));
    sized.into_iter().map(|(_, jpeg)| jpeg).collect()
}

fn no_preview() -> MediaError {
    MediaError::Unsupported("this RAW file has no embedded preview that decodes".into())
}

/// The largest preview of a RAW file that decodes, turned as the RAW says; the picture's size
/// is the developed sensor data's (the default crop) when the file states it.
fn decode_raw(
    bytes: &[u8],
    previews: &raw::Previews,
    min_scale: &dyn Fn(u32, u32) -> f64,
    limits: &Limits,
) -> Result<Picture, MediaError> {
    let mut failure = no_preview();
    for jpeg in by_size(bytes, previews) {
        match decode_jpeg(jpeg, Some(previews.orientation), min_scale, limits) {
            Ok(mut picture) => {
                if let Some((w, h)) = previews.sensor_size {
                    (picture.width, picture.height) = upright(w, h, previews.orientation);
                }
                return Ok(picture);
            }
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

fn generic_dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32), MediaError> {
    let what = format!("{format:?}");
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(invalid(&what))?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok(upright(w, h, orientation))
}

/// JPEG through libjpeg-turbo, shrunk while decoding. `orientation` overrides the file's EXIF
/// (a RAW file's embedded preview takes the RAW's orientation).
fn decode_jpeg(
    bytes: &[u8],
    orientation: Option<Orientation>,
    min_scale: &dyn Fn(u32, u32) -> f64,
    limits: &Limits,
) -> Result<Picture, MediaError> {
    let segments = JpegSegments::read(bytes)?;
    let orientation = orientation.unwrap_or_else(|| {
        segments
            .exif
            .and_then(Orientation::from_exif_chunk)
            .unwrap_or(Orientation::NoTransforms)
    });
    let mut decompressor = turbojpeg::Decompressor::new().map_err(invalid("JPEG decoder"))?;
    let header = decompressor
        .read_header(bytes)
        .map_err(invalid("JPEG header"))?;
    let (w, h) = (header.width as u32, header.height as u32);
    limits.check_size(w, h)?;
    let (upright_w, upright_h) = upright(w, h, orientation);
    let wanted = min_scale(upright_w, upright_h);
    let factor = [
        turbojpeg::ScalingFactor::ONE_EIGHTH,
        turbojpeg::ScalingFactor::ONE_QUARTER,
        turbojpeg::ScalingFactor::ONE_HALF,
    ]
    .into_iter()
    .find(|f| f.num() as f64 / f.denom() as f64 >= wanted)
    .unwrap_or(turbojpeg::ScalingFactor::ONE);
    decompressor
        .set_scaling_factor(factor)
        .map_err(invalid("JPEG scaling"))?;
    let scaled = header.scaled(factor);
    let mut pixels = vec![0u8; 3 * scaled.width * scaled.height];
    decompressor
        .decompress(
            bytes,
            turbojpeg::Image {
                pixels: pixels.as_mut_slice(),
                width: scaled.width,
                pitch: 3 * scaled.width,
                height: scaled.height,
                format: turbojpeg::PixelFormat::RGB,
            },
        )
        .map_err(invalid("JPEG data"))?;
    limits.check_time()?;
    let mut rgb = RgbImage::from_raw(scaled.width as u32, scaled.height as u32, pixels)
        .ok_or_else(|| MediaError::Invalid("JPEG decoder returned a short buffer".into()))?;
    if let Some(icc) = segments.icc {
        to_srgb(&mut rgb, &icc);
    }
    let mut image = DynamicImage::ImageRgb8(rgb);
    image.apply_orientation(orientation);
    Ok(Picture {
        pixels: image.into_rgb8(),
        width: upright_w,
        height: upright_h,
    })
}

/// HEIC and AVIF through libheif, which applies the file's rotation and mirroring itself.
fn decode_heif(bytes: &[u8], limits: &Limits) -> Result<Picture, MediaError> {
    use libheif_rs::{ColorSpace, HeifContext, LibHeif, RgbChroma};
    let context = HeifContext::read_from_bytes(bytes).map_err(invalid("HEIF container"))?;
    let handle = context
        .primary_image_handle()
        .map_err(invalid("HEIF primary image"))?;
    limits.check_size(handle.width(), handle.height())?;
    let image = LibHeif::new()
        .decode(&handle, ColorSpace::Rgb(RgbChroma::Rgb), None)
        .map_err(invalid("HEIF image data"))?;
    limits.check_time()?;
    let icc = image.color_profile_raw().map(|p| p.data);
    let plane = image
        .planes()
        .interleaved
        .ok_or_else(|| MediaError::Invalid("HEIF decoder returned no RGB plane".into()))?;
    let (w, h) = (plane.width, plane.height);
    let row = 3 * w as usize;
    let mut pixels = Vec::with_capacity(row * h as usize);
    for line in plane.data.chunks(plane.stride).take(h as usize) {
        pixels.extend_from_slice(
            line.get(..row)
                .ok_or_else(|| MediaError::Invalid("HEIF decoder returned a short row".into()))?,
        );
    }
    let mut rgb = RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| MediaError::Invalid("HEIF decoder returned a short buffer".into()))?;
    if let Some(icc) = icc {
        to_srgb(&mut rgb, &icc);
    }
    Ok(Picture {
        pixels: rgb,
        width: w,
        height: h,
    })
}

/// PNG, WebP, GIF (first frame) and TIFF through image-rs, with its own allocation limits too.
fn decode_generic(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<Picture, MediaError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_dimension);
    image_limits.max_image_height = Some(limits.max_dimension);
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(image_limits);
    let what = format!("{format:?}");
    let mut decoder = reader.into_decoder().map_err(invalid(&what))?;
    let (w, h) = decoder.dimensions();
    limits.check_size(w, h)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    let mut image = DynamicImage::from_decoder(decoder).map_err(invalid(&what))?;
    limits.check_time()?;
    image.apply_orientation(orientation);
    let mut rgb = flatten(image);
    if let Some(icc) = icc {
        to_srgb(&mut rgb, &icc);
    }
    let (width, height) = rgb.dimensions();
    Ok(Picture {
        pixels: rgb,
        width,
        height,
    })
}

/// RGB with any transparency composited onto white, as thumbnails show it.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = RgbImage::new(w, h);
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(px[3]);
        for c in 0..3 {
            out[c] = ((u32::from(px[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    rgb
}

/// The size of a `w` x `h` picture once `orientation` is applied.
fn upright(w: u32, h: u32, orientation: Orientation) -> (u32, u32) {
    match orientation {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (h, w),
        _ => (w, h),
    }
}

/// Converts pixels in the colour space of the ICC profile `icc` to sRGB, unless the profile is
/// sRGB already or cannot be read (then the pixels are taken as sRGB).
fn to_srgb(rgb: &mut RgbImage, icc: &[u8]) {
    let Ok(source) = moxcms::ColorProfile::new_from_slice(icc) else {
        return;
    };
    let srgb = moxcms::ColorProfile::new_srgb();
    let same = |a: moxcms::Xyzd, b: moxcms::Xyzd| {
        (a.x - b.x).abs() < 0.003 && (a.y - b.y).abs() < 0.003 && (a.z - b.z).abs() < 0.003
    };
    if source.color_space != moxcms::DataColorSpace::Rgb
        || (same(source.red_colorant, srgb.red_colorant)
            && same(source.green_colorant, srgb.green_colorant)
            && same(source.blue_colorant, srgb.blue_colorant))
    {
        return;
    }
    let Ok(transform) = source.create_transform_8bit(
        moxcms::Layout::Rgb,
        &srgb,
        moxcms::Layout::Rgb,
        moxcms::TransformOptions::default(),
    ) else {
        return;
    };
    let src = rgb.as_raw().clone();
    if transform.transform(&src, rgb.as_mut()).is_err() {
        rgb.as_mut().copy_from_slice(&src);
    }
}

/// What a JPEG's header segments carry besides the image: EXIF and the ICC profile.
pub struct JpegSegments<'a> {
    /// The EXIF TIFF structure (after the `Exif\0\0` header).
    pub exif: Option<&'a [u8]>,
    /// The ICC profile, reassembled from its APP2 chunks.
    pub icc: Option<Vec<u8>>,
}

impl<'a> JpegSegments<'a> {
    /// Walks the segments up to the first scan. Fails on a JPEG without an end-of-image marker,
    /// the sign of a truncated file that libjpeg would otherwise fill with grey.
    pub fn read(bytes: &'a [u8]) -> Result<JpegSegments<'a>, MediaError> {
        let tail = &bytes[bytes.len().saturating_sub(64 * 1024)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err(MediaError::Invalid(
                "the JPEG is truncated (no end-of-image marker)".into(),
            ));
        }
        let mut segments = JpegSegments {
            exif: None,
            icc: None,
        };
        let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
        let mut at = 2;
        while at + 4 <= bytes.len() && bytes[at] == 0xFF {
            let marker = bytes[at + 1];
            if marker == 0xDA || marker == 0xD9 {
                break;
            }
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            let Some(body) = bytes.get(at + 4..at + 2 + len.max(2)) else {
                break;
            };
            if marker == 0xE1 && body.starts_with(b"Exif\0\0") && segments.exif.is_none() {
                segments.exif = Some(&body[6..]);
            } else if marker == 0xE2 && body.starts_with(b"ICC_PROFILE\0") && body.len() > 14 {
                icc_chunks.push((body[12], &body[14..]));
            }
            at += 2 + len;
        }
        if !icc_chunks.is_empty() {
            icc_chunks.sort_by_key(|(seq, _)| *seq);
            segments.icc = Some(
                icc_chunks
                    .into_iter()
                    .flat_map(|(_, c)| c.to_vec())
                    .collect(),
            );
        }
        Ok(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_gamut_pixels_come_out_in_srgb_and_srgb_is_left_alone() {
        let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
        let mut rgb = RgbImage::from_pixel(2, 2, image::Rgb([200, 100, 50]));
        to_srgb(&mut rgb, &p3);
        let [r, g, b] = rgb.get_pixel(1, 1).0;
        // Display P3 (200, 100, 50) is about sRGB (216, 92, 30): more saturated.
        assert!(r >= 210 && g <= 96 && b <= 40, "{r} {g} {b}");

        let srgb = moxcms::ColorProfile::new_srgb().encode().unwrap();
        let mut same = RgbImage::from_pixel(2, 2, image::Rgb([200, 100, 50]));
        to_srgb(&mut same, &srgb);
        assert_eq!(same.get_pixel(0, 0).0, [200, 100, 50]);
    }

    #[test]
    fn a_truncated_jpeg_is_refused_before_decoding() {
        let jpeg = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/models/testdata/dog.jpg"),
        )
        .unwrap();
        assert!(JpegSegments::read(&jpeg).is_ok());
        let cut = &jpeg[..jpeg.len() / 2];
        assert!(
            matches!(JpegSegments::read(cut), Err(MediaError::Invalid(m)) if m.contains("truncated"))
        );
    }
}
