//! A JPEG's marker segments before its image data, where its metadata lives (APP1 EXIF and
//! XMP, APP13 IPTC).

use std::ops::Range;

/// One marker segment with a length field.
pub struct Segment {
    /// Where the marker's code byte is, just after its 0xFF.
    pub code_at: usize,
    pub marker: u8,
    /// The bytes after the length field.
    pub payload: Range<usize>,
}

/// Splits `buf` into segments up to its first SOS marker (also returning where that marker's
/// 0xFF is) or its end (then `None`).
pub fn segments(buf: &[u8]) -> Result<(Vec<Segment>, Option<usize>), String> {
    if !buf.starts_with(&[0xFF, 0xD8]) {
        return Err("This is not a JPEG: it does not start with an SOI marker.".into());
    }
    let mut segments = Vec::new();
    let mut pos = 2;
    while let Some(&byte) = buf.get(pos) {
        if byte != 0xFF {
            return Err(format!("The JPEG has no marker at byte {pos}."));
        }
        let mut code_at = pos + 1;
        while buf.get(code_at) == Some(&0xFF) {
            code_at += 1;
        }
        let Some(&marker) = buf.get(code_at) else {
            break;
        };
        let at = code_at - 1;
        pos = code_at + 1;
        let length = match marker {
            0xDA => return Ok((segments, Some(at))),
            0x01 | 0xD0..=0xD7 => continue,
            0x00 | 0xD8 | 0xD9 => 0,
            _ => buf
                .get(pos..pos + 2)
                .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
        };
        if length < 2 || pos + length > buf.len() {
            return Err(format!(
                "The JPEG marker FF{marker:02X} at byte {at} is misplaced, broken or cut short."
            ));
        }
        let payload = pos + 2..pos + length;
        segments.push(Segment {
            code_at,
            marker,
            payload,
        });
        pos += length;
    }
    Ok((segments, None))
}
