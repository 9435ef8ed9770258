//! Camera RAW files (CR2, NEF, ARW, DNG and other TIFF-based formats): we never develop the
//! sensor data, we find the largest embedded JPEG preview the camera wrote and use that.

use std::collections::HashSet;
use std::ops::Range;

use image::metadata::Orientation;

use super::MediaError;

/// The embedded preview of a RAW file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Where the JPEG lies in the file.
    pub range: Range<usize>,
    /// The RAW's orientation, which the preview does not carry itself.
    pub orientation: Orientation,
}

const TAG_COMPRESSION: u16 = 0x0103;
const TAG_PHOTOMETRIC: u16 = 0x0106;
const TAG_STRIP_OFFSETS: u16 = 0x0111;
const TAG_ORIENTATION: u16 = 0x0112;
const TAG_STRIP_BYTE_COUNTS: u16 = 0x0117;
const TAG_SUB_IFDS: u16 = 0x014A;
const TAG_JPEG_OFFSET: u16 = 0x0201;
const TAG_JPEG_LENGTH: u16 = 0x0202;
const TAG_DNG_VERSION: u16 = 0xC612;
/// Photometric interpretations of sensor data: colour filter array and linear raw.
const RAW_PHOTOMETRIC: [u32; 2] = [32803, 34892];
/// Vendor compression codes of sensor data (Nikon NEF, Sony ARW, Pentax).
const RAW_COMPRESSION: [u32; 3] = [34713, 32767, 65535];
/// At most this many IFDs are read, whatever the file claims.
const MAX_IFDS: usize = 32;

/// Finds the preview of a TIFF-based file: `Ok(None)` for an ordinary TIFF image, an error
/// (`Unsupported`, so the job is skipped) for a RAW file that has no JPEG preview.
pub fn preview(bytes: &[u8]) -> Result<Option<Preview>, MediaError> {
    let tiff = Tiff::parse(bytes)?;
    let mut raw = bytes.get(8..10) == Some(b"CR");
    let mut orientation = Orientation::NoTransforms;
    let mut best: Option<Range<usize>> = None;
    let mut consider = |range: Range<usize>| {
        let is_jpeg = bytes.get(range.start..range.start + 3) == Some(&[0xFF, 0xD8, 0xFF][..]);
        if is_jpeg && best.as_ref().is_none_or(|b| range.len() > b.len()) {
            best = Some(range);
        }
    };
    for (index, ifd) in tiff.ifds().iter().enumerate() {
        let value = |tag| tiff.value(ifd, tag);
        if index == 0 {
            raw |= value(TAG_DNG_VERSION).is_some();
            if let Some(o) = value(TAG_ORIENTATION).and_then(|v| Orientation::from_exif(v as u8)) {
                orientation = o;
            }
        }
        let photometric = value(TAG_PHOTOMETRIC);
        let compression = value(TAG_COMPRESSION);
        let sensor_data = photometric.is_some_and(|p| RAW_PHOTOMETRIC.contains(&p))
            || compression.is_some_and(|c| RAW_COMPRESSION.contains(&c));
        raw |= sensor_data;
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
    match best.filter(|r| r.end <= bytes.len()) {
        Some(range) => Ok(Some(Preview { range, orientation })),
        None => Err(MediaError::Unsupported(
            "this RAW file has no embedded JPEG preview".into(),
        )),
    }
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

    /// The numeric values of `tag` in `ifd` (SHORT or LONG), empty when absent.
    fn values(&self, ifd: &Ifd, tag: u16) -> Vec<u32> {
        let entry = (0..ifd.count)
            .map(|i| ifd.entries + i * 12)
            .find(|&at| self.u16_at(at) == Some(tag));
        let Some(at) = entry else {
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

    /// The first value of `tag` in `ifd`.
    fn value(&self, ifd: &Ifd, tag: u16) -> Option<u32> {
        self.values(ifd, tag).first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF with IFD0 (make, orientation 6, optionally a JPEG preview) and one
    /// sub-IFD holding "sensor data" (CFA), like a NEF.
    pub fn fake_raw(preview: Option<&[u8]>) -> Vec<u8> {
        let mut out = b"II*\0\x08\0\0\0".to_vec();
        let entry = |out: &mut Vec<u8>, tag: u16, kind: u16, value: u32| {
            out.extend(tag.to_le_bytes());
            out.extend(kind.to_le_bytes());
            out.extend(1u32.to_le_bytes());
            out.extend(value.to_le_bytes());
        };
        let ifd0_entries = if preview.is_some() { 4 } else { 2 };
        let ifd0_len = 2 + ifd0_entries * 12 + 4;
        let sub_ifd = 8 + ifd0_len as u32;
        let sub_len = 2 + 2 * 12 + 4;
        let jpeg_at = sub_ifd + sub_len as u32;
        out.extend((ifd0_entries as u16).to_le_bytes());
        entry(&mut out, TAG_ORIENTATION, 3, 6);
        entry(&mut out, TAG_SUB_IFDS, 4, sub_ifd);
        if let Some(jpeg) = preview {
            entry(&mut out, TAG_JPEG_OFFSET, 4, jpeg_at);
            entry(&mut out, TAG_JPEG_LENGTH, 4, jpeg.len() as u32);
        }
        out.extend(0u32.to_le_bytes());
        out.extend(2u16.to_le_bytes());
        entry(&mut out, TAG_COMPRESSION, 3, 1);
        entry(&mut out, TAG_PHOTOMETRIC, 3, 32803);
        out.extend(0u32.to_le_bytes());
        if let Some(jpeg) = preview {
            out.extend(jpeg);
        }
        out
    }

    #[test]
    fn finds_the_preview_and_the_orientation() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];
        let raw = fake_raw(Some(&jpeg));
        let found = preview(&raw).unwrap().unwrap();
        assert_eq!(&raw[found.range], &jpeg);
        assert_eq!(found.orientation, Orientation::Rotate90);
    }

    #[test]
    fn a_raw_without_preview_is_unsupported_and_a_plain_tiff_is_not_raw() {
        assert!(matches!(
            preview(&fake_raw(None)),
            Err(MediaError::Unsupported(_))
        ));
        let mut plain = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(
                &mut std::io::Cursor::new(&mut plain),
                image::ImageFormat::Tiff,
            )
            .unwrap();
        assert_eq!(preview(&plain), Ok(None));
        assert!(matches!(preview(b"II*\0\xff\xff\xff\xff"), Ok(None)));
    }
}
