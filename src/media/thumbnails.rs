//! The named thumbnail sizes, and resizing and encoding with fast_image_resize, libjpeg-turbo and
//! libwebp. One decode feeds every size: the preview is made from the decoded picture and the
//! smaller sizes from the preview whenever it is big enough.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use super::MediaError;

/// How a picture is fitted into a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fill the box exactly, cropping the centre.
    Cover,
    /// Fit inside the box, keeping the aspect ratio; never enlarged.
    Contain,
}

/// An encoded image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Webp,
}

impl Format {
    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Webp => "webp",
        }
    }

    /// Parses `jpeg`/`jpg`/`webp`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "jpeg" | "jpg" => Some(Format::Jpeg),
            "webp" => Some(Format::Webp),
            _ => None,
        }
    }
}

/// A named thumbnail size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
    pub format: Format,
}

/// Every named size, the largest (the preview) first.
pub const SIZES: [Size; 5] = [
    Size {
        name: "preview",
        width: 1920,
        height: 1080,
        fit: Fit::Contain,
        format: Format::Jpeg,
    },
    Size {
        name: "card",
        width: 720,
        height: 360,
        fit: Fit::Cover,
        format: Format::Jpeg,
    },
    Size {
        name: "faces",
        width: 300,
        height: 300,
        fit: Fit::Cover,
        format: Format::Jpeg,
    },
    Size {
        name: "timeline",
        width: 240,
        height: 240,
        fit: Fit::Cover,
        format: Format::Webp,
    },
    Size {
        name: "search",
        width: 80,
        height: 80,
        fit: Fit::Cover,
        format: Format::Webp,
    },
];

/// The named size called `name`.
pub fn size(name: &str) -> Option<Size> {
    SIZES.into_iter().find(|s| s.name == name)
}

/// Quality of stored thumbnails (JPEG and WebP, 1-100).
pub const QUALITY: u8 = 80;

/// The scale (at most 1) a `width` x `height` picture may be reduced to and still give `size`
/// without enlarging anything.
pub fn scale_needed(width: u32, height: u32, size: Size) -> f64 {
    let sx = f64::from(size.width) / f64::from(width.max(1));
    let sy = f64::from(size.height) / f64::from(height.max(1));
    let s = match size.fit {
        Fit::Cover => sx.max(sy),
        Fit::Contain => sx.min(sy),
    };
    s.min(1.0)
}

/// The scale a decoder may reduce a picture to and still give every named size.
pub fn scale_for_all(width: u32, height: u32) -> f64 {
    SIZES
        .iter()
        .map(|s| scale_needed(width, height, *s))
        .fold(0.0, f64::max)
}

/// The output dimensions of `size` from a `width` x `height` picture.
pub fn output_size(width: u32, height: u32, size: Size) -> (u32, u32) {
    match size.fit {
        Fit::Cover => (size.width, size.height),
        Fit::Contain => {
            let s = scale_needed(width, height, size);
            (
                ((f64::from(width) * s).round() as u32).max(1),
                ((f64::from(height) * s).round() as u32).max(1),
            )
        }
    }
}

/// Resizes `source` to `size`.
pub fn resize(source: &RgbImage, size: Size) -> Result<RgbImage, MediaError> {
    let (w, h) = output_size(source.width(), source.height(), size);
    let mut out = RgbImage::new(w, h);
    if (w, h) == source.dimensions() {
        out.copy_from_slice(source);
        return Ok(out);
    }
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    if size.fit == Fit::Cover {
        options = options.fit_into_destination(Some((0.5, 0.5)));
    }
    Resizer::new()
        .resize(source, &mut out, &options)
        .map_err(|e| MediaError::Invalid(format!("resize: {e}")))?;
    Ok(out)
}

/// Encodes `image` as `format` at `quality` (1-100).
pub fn encode(image: &RgbImage, format: Format, quality: u8) -> Result<Vec<u8>, MediaError> {
    let quality = quality.clamp(1, 100);
    match format {
        Format::Jpeg => {
            let mut compressor =
                turbojpeg::Compressor::new().map_err(|e| MediaError::Invalid(e.to_string()))?;
            compressor
                .set_quality(i32::from(quality))
                .and_then(|_| compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2))
                .map_err(|e| MediaError::Invalid(e.to_string()))?;
            compressor
                .compress_to_vec(turbojpeg::Image {
                    pixels: image.as_raw().as_slice(),
                    width: image.width() as usize,
                    pitch: 3 * image.width() as usize,
                    height: image.height() as usize,
                    format: turbojpeg::PixelFormat::RGB,
                })
                .map_err(|e| MediaError::Invalid(format!("JPEG encode: {e}")))
        }
        Format::Webp => Ok(
            webp::Encoder::from_rgb(image.as_raw(), image.width(), image.height())
                .encode(f32::from(quality))
                .to_vec(),
        ),
    }
}

/// One rendered thumbnail.
pub struct Thumbnail {
    pub size: Size,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// Every named size of a picture and its placeholder.
pub struct Rendered {
    pub thumbnails: Vec<Thumbnail>,
    /// A ThumbHash of the picture: a few bytes a client blurs into a stand-in.
    pub thumbhash: Vec<u8>,
}

/// The box a ThumbHash's input fits in (its encoder takes at most 100 x 100 pixels).
const PLACEHOLDER: Size = Size {
    name: "placeholder",
    width: 100,
    height: 100,
    fit: Fit::Contain,
    format: Format::Webp,
};

/// Renders every named size, and the placeholder, from one decoded picture.
pub fn render_all(picture: &RgbImage) -> Result<Rendered, MediaError> {
    let preview = resize(picture, SIZES[0])?;
    let mut out = Vec::with_capacity(SIZES.len());
    for size in SIZES {
        let image = if size == SIZES[0] {
            None
        } else {
            // The preview serves a size it can give without enlarging.
            let from_preview = scale_needed(preview.width(), preview.height(), size) < 1.0;
            Some(resize(if from_preview { &preview } else { picture }, size)?)
        };
        let image = image.as_ref().unwrap_or(&preview);
        out.push(Thumbnail {
            size,
            width: image.width(),
            height: image.height(),
            bytes: encode(image, size.format, QUALITY)?,
        });
    }
    let small = resize(&preview, PLACEHOLDER)?;
    let rgba: Vec<u8> = small
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let (w, h) = (small.width() as usize, small.height() as usize);
    Ok(Rendered {
        thumbnails: out,
        thumbhash: thumbhash::rgba_to_thumb_hash(w, h, &rgba),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_12_megapixel_photo_may_decode_at_half_size() {
        let s = scale_for_all(4000, 3000);
        assert!((0.25..=0.5).contains(&s), "{s}");
        assert_eq!(output_size(4000, 3000, SIZES[0]), (1440, 1080));
        assert_eq!(
            output_size(800, 600, SIZES[0]),
            (800, 600),
            "never enlarged"
        );
        assert_eq!(scale_for_all(100, 100), 1.0);
    }

    #[test]
    fn every_size_renders_with_its_dimensions() {
        let picture = RgbImage::from_fn(1000, 500, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 0])
        });
        let rendered = render_all(&picture).unwrap();
        let thumbs = &rendered.thumbnails;
        let dims: Vec<_> = thumbs
            .iter()
            .map(|t| (t.size.name, t.width, t.height))
            .collect();
        assert_eq!(
            dims,
            [
                ("preview", 1000, 500),
                ("card", 720, 360),
                ("faces", 300, 300),
                ("timeline", 240, 240),
                ("search", 80, 80)
            ]
        );
        assert!(thumbs[3].bytes.starts_with(b"RIFF"));
        assert!(thumbs[0].bytes.starts_with(&[0xFF, 0xD8]));

        // The placeholder keeps the picture's shape (as closely as a ThumbHash's few DCT
        // terms tell it) and colour: red and green, no blue.
        let hash = &rendered.thumbhash;
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(hash).unwrap();
        assert!((1.7..=2.2).contains(&ratio), "{ratio}");
        let (r, g, b, _) = thumbhash::thumb_hash_to_average_rgba(hash).unwrap();
        assert!(r > 0.35 && g > 0.35 && b < 0.1, "{r} {g} {b}");
    }
}
