//! Camera RAW files (CR2, NEF, ARW, DNG and other TIFF-based formats): we never develop the
//! sensor data, we find the JPEG previews the camera wrote (the caller takes the largest that
//! decodes) and the size of the picture the sensor data makes (DNG's default crop).

use std::collections::HashSet;
use std::ops::Range;

use image::metadata::Orientation;

use super::MediaError;

/// What a RAW file offers instead of developed sensor data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previews {
    /// Where each embedded JPEG lies in the file, in file order.
    pub ranges: Vec<Range<usize>>,
    /// The RAW's orientation, which the previews do not carry themselves.
    pub orientation: Orientation,
    /// The size of the developed picture as stored (before orientation): DNG's DefaultCropSize,
    /// else the sensor data's own size, when the file says.
    pub sensor_size: Option<(u32, u32)>,
}

const TAG_IMAGE_WIDTH: u16 = 0x0100;
const TAG_IMAGE_LENGTH: u16 = 0x0101;
const TAG_COMPRESSION: u16 = 0x0103;
const TAG_PHOTOMETRIC: u16 = 0x0106;
const TAG_STRIP_OFFSETS: u16 = 0x0111;
const TAG_ORIENTATION: u16 = 0x0112;
const TAG_STRIP_BYTE_COUNTS: u16 = 0x0117;
const TAG_SUB_IFDS: u16 = 0x014A;
const TAG_JPEG_OFFSET: u16 = 0x0201;
const TAG_JPEG_LENGTH: u16 = 0x0202;
const TAG_DNG_VERSION: u16 = 0xC612;
const TAG_DEFAULT_CROP_SIZE: u16 = 0xC620;
/// Photometric interpretations of sensor data: colour filter array and linear raw.
const RAW_PHOTOMETRIC: [u32; 2] = [32803, 34892];
/// Vendor compression codes of sensor data (Nikon NEF, Sony ARW, Pentax).
const RAW_COMPRESSION: [u32; 3] = [34713, 32767, 65535];
/// At most this many IFDs are read, whatever the file claims.
const MAX_IFDS: usize = 32;

/// Finds the previews of a TIFF-based file: `Ok(None)` for an ordinary TIFF image, an error
/// (`Unsupported`, so the job is skipped) for a RAW file that has no JPEG preview.
pub fn previews(bytes: &[u8]) -> Result<Option<Previews>, MediaError> {
    let tiff = Tiff::parse(bytes)?;
    let mut raw = bytes.get(8..10) == Some(b"CR");
    let mut orientation = Orientation::NoTransforms;
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut crop = None;
    let mut sensor = None;
    let mut consider = |range: Range<usize>| {
        let is_jpeg = bytes.get(range.start..range.start + 3) == Some(&[0xFF, 0xD8, 0xFF][..]);
        if is_jpeg && range.end <= bytes.len() && !ranges.contains(&range) {
            ranges.push(range);
        }
    };
    for (index, ifd) in tiff.ifds().iter().enumerate() {
        let value = |tag| tiff.value(ifd, tag);
        if index == 0 {
            raw |= tiff.entry(ifd, TAG_DNG_VERSION).is_some();
            if let Some(o) = value(TAG_ORIENTATION).and_then(|v| Orientation::from_exif(v as u8)) {
                orientation = o;
            }
        }
        let photometric = value(TAG_PHOTOMETRIC);
        let compression = value(TAG_COMPRESSION);
        let sensor_data = photometric.is_some_and(|p| RAW_PHOTOMETRIC.contains(&p))
            || compression.is_some_and(|c| RAW_COMPRESSION.contains(&c));
        raw |= sensor_data;
        if let [w, h] = tiff.sizes(ifd, TAG_DEFAULT_CROP_SIZE)[..] {
            crop = crop.or(Some((w, h)));
        }
        if sensor_data && let (Some(w), Some(h)) = (value(TAG_IMAGE_WIDTH), value(TAG_IMAGE_LENGTH))
        {
            sensor = sensor.or(Some((w, h)));
        }
        if let (Some(offset), Some(len)) = (value(TAG_JPEG_OFFSET), value(TAG_JPEG_LENGTH)) {
            consider(offset as usize..offset as usize + len as usize);
        }
        if !sensor_data && matches!(compression, Some(6 | 7)) {
            let strips = (
                tiff.values(ifd, TAG_STRIP_OFFSETS),
                tiff.values(ifd, TAG_STRIP_BYTE_COUNTS),
            );
            if let ([offset], [len]) = (&strips.0[..], &strips.1[..]) {
                consider(*offset as usize..*offset as usize + *len as usize);
            }
        }
    }
    if !raw {
        return Ok(None);
    }
    if ranges.is_empty() {
        return Err(MediaError::Unsupported(
            "this RAW file has no embedded JPEG preview".into(),
        ));
    }
    Ok(Some(Previews {
        ranges,
        orientation,
        sensor_size: crop.or(sensor).filter(|&(w, h)| w > 0 && h > 0),
    }))
}

/// A minimal TIFF reader: byte order, IFD chains and sub-IFDs, numeric tag values.
struct Tiff<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

/// One IFD: its entries' file offset and count.
#[derive(Clone, Copy)]
struct Ifd {
    entries: usize,
    count: usize,
}

impl<'a> Tiff<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Tiff<'a>, MediaError> {
        let big_endian = match bytes.get(..4) {
            Some(b"II*\0") => false,
            Some(b"MM\0*") => true,
            _ => return Err(MediaError::Invalid("not a TIFF file".into())),
        };
        Ok(Tiff { bytes, big_endian })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn ifd_at(&self, offset: usize) -> Option<Ifd> {
        let count = usize::from(self.u16_at(offset)?);
        let entries = offset + 2;
        self.bytes.get(entries..entries + count * 12)?;
        Some(Ifd { entries, count })
    }

    /// Every IFD reachable from the header through next-IFD links and SubIFDs, each once.
    fn ifds(&self) -> Vec<Ifd> {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        let mut pending: Vec<usize> = self.u32_at(4).map(|o| o as usize).into_iter().collect();
        while let Some(offset) = pending.pop() {
            if offset == 0 || found.len() >= MAX_IFDS || !seen.insert(offset) {
                continue;
            }
            let Some(ifd) = self.ifd_at(offset) else {
                continue;
            };
            found.push(ifd);
            if let Some(next) = self.u32_at(ifd.entries + ifd.count * 12) {
                pending.push(next as usize);
            }
            pending.extend(self.values(&ifd, TAG_SUB_IFDS).iter().map(|&o| o as usize));
        }
        found
    }

    /// Where the entry of `tag` in `ifd` starts.
    fn entry(&self, ifd: &Ifd, tag: u16) -> Option<usize> {
        (0..ifd.count)
            .map(|i| ifd.entries + i * 12)
            .find(|&at| self.u16_at(at) == Some(tag))
    }

    /// The numeric values of `tag` in `ifd` (SHORT or LONG), empty when absent.
    fn values(&self, ifd: &Ifd, tag: u16) -> Vec<u32> {
        let Some(at) = self.entry(ifd, tag) else {
            return Vec::new();
        };
        let (Some(kind), Some(count)) = (self.u16_at(at + 2), self.u32_at(at + 4)) else {
            return Vec::new();
        };
        let size = match kind {
            3 => 2,
            4 | 13 => 4,
            _ => return Vec::new(),
        };
        let count = (count as usize).min(1024);
        let data = if size * count <= 4 {
            at + 8
        } else {
            match self.u32_at(at + 8) {
                Some(offset) => offset as usize,
                None => return Vec::new(),
            }
        };
        (0..count)
            .map_while(|i| match size {
                2 => self.u16_at(data + i * 2).map(u32::from),
                _ => self.u32_at(data + i * 4),
            })
            .collect()
    }

    /// A pair of sizes such as DefaultCropSize, stored as SHORT, LONG or RATIONAL (rounded).
    fn sizes(&self, ifd: &Ifd, tag: u16) -> Vec<u32> {
        let Some(at) = self.entry(ifd, tag) else {
            return Vec::new();
        };
        if self.u16_at(at + 2) != Some(5) {
            return self.values(ifd, tag);
        }
        let (Some(2), Some(data)) = (self.u32_at(at + 4), self.u32_at(at + 8)) else {
            return Vec::new();
        };
        let data = data as usize;
        (0..2)
            .map_while(|i| {
                let (n, d) = (self.u32_at(data + i * 8)?, self.u32_at(data + i * 8 + 4)?);
                (d > 0).then(|| ((u64::from(n) + u64::from(d) / 2) / u64::from(d)) as u32)
            })
            .collect()
    }

    /// The first value of `tag` in `ifd`.
    fn value(&self, ifd: &Ifd, tag: u16) -> Option<u32> {
        self.values(ifd, tag).first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Limits;
    use crate::media::image::{decode, dimensions};

    /// The value of an entry of a test TIFF.
    enum V {
        /// One SHORT or LONG, stored in the entry.
        N(u32),
        /// Where blob `i` starts.
        At(usize),
        /// How long blob `i` is.
        Len(usize),
        /// RATIONALs, stored after the IFDs.
        Rationals(Vec<(u32, u32)>),
        /// Every IFD after the first, as IFD0's SubIFDs.
        SubIfds,
    }

    /// A little-endian TIFF: `ifds[0]` is IFD0, the others its sub-IFDs; then out-of-line
    /// values; then `blobs`.
    fn tiff(ifds: &[Vec<(u16, u16, V)>], blobs: &[&[u8]]) -> Vec<u8> {
        let mut at = 8;
        let ifd_at: Vec<u32> = ifds
            .iter()
            .map(|ifd| {
                let start = at;
                at += 2 + ifd.len() * 12 + 4;
                start as u32
            })
            .collect();
        let subs = &ifd_at[1..];
        let extra_len: usize = ifds
            .iter()
            .flatten()
            .map(|(_, _, v)| match v {
                V::Rationals(r) => r.len() * 8,
                V::SubIfds if subs.len() > 1 => subs.len() * 4,
                _ => 0,
            })
            .sum();
        let extra_at = at;
        let mut blob_at = Vec::new();
        let mut next = extra_at + extra_len;
        for blob in blobs {
            blob_at.push(next as u32);
            next += blob.len();
        }
        let mut out = b"II*\0\x08\0\0\0".to_vec();
        let mut extra = Vec::new();
        for ifd in ifds {
            out.extend((ifd.len() as u16).to_le_bytes());
            for (tag, kind, v) in ifd {
                let (count, value) = match v {
                    V::N(n) => (1, *n),
                    V::At(i) => (1, blob_at[*i]),
                    V::Len(i) => (1, blobs[*i].len() as u32),
                    V::SubIfds if subs.len() == 1 => (1, subs[0]),
                    V::Rationals(_) | V::SubIfds => {
                        let offset = (extra_at + extra.len()) as u32;
                        let words: Vec<u32> = match v {
                            V::Rationals(r) => r.iter().flat_map(|&(n, d)| [n, d]).collect(),
                            _ => subs.to_vec(),
                        };
                        extra.extend(words.iter().flat_map(|w| w.to_le_bytes()));
                        let count = if matches!(v, V::Rationals(_)) {
                            words.len() / 2
                        } else {
                            words.len()
                        };
                        (count as u32, offset)
                    }
                };
                out.extend(tag.to_le_bytes());
                out.extend(kind.to_le_bytes());
                out.extend(count.to_le_bytes());
                out.extend(value.to_le_bytes());
            }
            out.extend(0u32.to_le_bytes());
        }
        out.extend(extra);
        for blob in blobs {
            out.extend(*blob);
        }
        out
    }

    /// IFD0 (orientation 6, optionally a JPEG preview) and one sub-IFD of sensor data (CFA),
    /// like a NEF.
    fn fake_nef(preview: Option<&[u8]>) -> Vec<u8> {
        let mut ifd0 = vec![(TAG_ORIENTATION, 3, V::N(6)), (TAG_SUB_IFDS, 4, V::SubIfds)];
        if preview.is_some() {
            ifd0.push((TAG_JPEG_OFFSET, 4, V::At(0)));
            ifd0.push((TAG_JPEG_LENGTH, 4, V::Len(0)));
        }
        let sensor = vec![
            (TAG_COMPRESSION, 3, V::N(1)),
            (TAG_PHOTOMETRIC, 3, V::N(32803)),
        ];
        tiff(&[ifd0, sensor], &preview.into_iter().collect::<Vec<_>>())
    }

    /// A DNG as cameras and converters write it: a small preview in IFD0, a large one in a
    /// preview sub-IFD (JPEG strip), and the sensor data (6080x4044, default crop 6000x4000).
    fn fake_dng(small: &[u8], large: &[u8]) -> Vec<u8> {
        let ifd0 = vec![
            (TAG_ORIENTATION, 3, V::N(6)),
            (TAG_SUB_IFDS, 4, V::SubIfds),
            (TAG_JPEG_OFFSET, 4, V::At(0)),
            (TAG_JPEG_LENGTH, 4, V::Len(0)),
            (TAG_DNG_VERSION, 1, V::N(0x0000_0401)),
        ];
        let preview = vec![
            (TAG_COMPRESSION, 3, V::N(7)),
            (TAG_PHOTOMETRIC, 3, V::N(6)),
            (TAG_STRIP_OFFSETS, 4, V::At(1)),
            (TAG_STRIP_BYTE_COUNTS, 4, V::Len(1)),
        ];
        let sensor = vec![
            (TAG_IMAGE_WIDTH, 4, V::N(6080)),
            (TAG_IMAGE_LENGTH, 4, V::N(4044)),
            (TAG_COMPRESSION, 3, V::N(7)),
            (TAG_PHOTOMETRIC, 3, V::N(32803)),
            (
                TAG_DEFAULT_CROP_SIZE,
                5,
                V::Rationals(vec![(12_000, 2), (4000, 1)]),
            ),
        ];
        tiff(&[ifd0, preview, sensor], &[small, large])
    }

    /// A JPEG of `w` x `h`: noise at full quality (many bytes) or one flat colour (few).
    fn jpeg(w: u32, h: u32, noisy: bool) -> Vec<u8> {
        let mut seed = 12345u32;
        let picture = image::RgbImage::from_fn(w, h, |_, _| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let v = if noisy { (seed >> 16) as u8 } else { 90 };
            image::Rgb([v, v / 2, 200])
        });
        let mut out = Vec::new();
        let quality = if noisy { 100 } else { 50 };
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&picture)
            .unwrap();
        out
    }

    fn limits() -> Limits {
        Limits {
            max_pixels: 100_000_000,
            max_dimension: 20_000,
            max_duration: std::time::Duration::from_secs(60),
            max_frames: 1000,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(60),
        }
    }

    #[test]
    fn finds_the_preview_and_the_orientation() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];
        let raw = fake_nef(Some(&jpeg));
        let found = previews(&raw).unwrap().unwrap();
        assert_eq!(found.ranges.len(), 1);
        assert_eq!(&raw[found.ranges[0].clone()], &jpeg);
        assert_eq!(found.orientation, Orientation::Rotate90);
        assert_eq!(found.sensor_size, None);
    }

    /// The larger picture wins even when the smaller preview has more bytes, and the file is
    /// as large as its default crop, turned like the RAW.
    #[test]
    fn a_dng_shows_its_largest_preview_at_its_default_crop_size() {
        let (small, large) = (jpeg(256, 171, true), jpeg(1024, 683, false));
        assert!(
            small.len() > large.len(),
            "the small preview is the heavier one"
        );
        let dng = fake_dng(&small, &large);
        let found = previews(&dng).unwrap().unwrap();
        assert_eq!(found.ranges.len(), 2);
        assert_eq!(found.sensor_size, Some((6000, 4000)));
        assert_eq!(dimensions(&dng, "image/tiff").unwrap(), (4000, 6000));
        let picture = decode(&dng, "image/tiff", &|_, _| 1.0, &limits()).unwrap();
        assert_eq!(picture.pixels.dimensions(), (683, 1024));
        assert_eq!((picture.width, picture.height), (4000, 6000));

        // A large preview that does not decode gives way to the next one.
        let mut broken = large.clone();
        let cut = broken.len() / 2;
        broken[cut..].fill(0);
        let dng = fake_dng(&small, &broken);
        let picture = decode(&dng, "image/tiff", &|_, _| 1.0, &limits()).unwrap();
        assert_eq!(picture.pixels.dimensions(), (171, 256));
    }

    #[test]
    fn a_raw_without_preview_is_unsupported_and_a_plain_tiff_is_not_raw() {
        assert!(matches!(
            previews(&fake_nef(None)),
            Err(MediaError::Unsupported(_))
        ));
        let mut plain = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(
                &mut std::io::Cursor::new(&mut plain),
                image::ImageFormat::Tiff,
            )
            .unwrap();
        assert_eq!(previews(&plain), Ok(None));
        assert!(matches!(previews(b"II*\0\xff\xff\xff\xff"), Ok(None)));
    }
}
