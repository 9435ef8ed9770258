//! Removing where a recording was made from an MP4 or QuickTime file without remuxing it.
//!
//! Such a file is a sequence of boxes (4-byte size, 4-byte type, payload); phones keep the
//! location in the movie header box (`moov`): QuickTime's `©xyz` and 3GPP's `loci` in user data,
//! Apple's `com.apple.quicktime.location.*` keys in a `meta` box, and XMP. The server reads the
//! `moov` box, rewrites it in place at the same length and sends it in place of the original's
//! bytes, so Content-Length, sample offsets and Range requests stay valid and every sample is
//! the original's, byte for byte.

use std::ops::Range;

/// Longest movie header read before giving up (an hour of phone video has a few MB).
pub const MAX_MOVIE_HEADER: u64 = 64 << 20;

/// Boxes whose payload is a list of boxes that may hold a location.
const CONTAINERS: [&[u8; 4]; 6] = [b"moov", b"trak", b"mdia", b"minf", b"udta", b"meta"];
/// User-data boxes that hold nothing but a location.
const LOCATION_BOXES: [&[u8; 4]; 2] = [b"\xA9xyz", b"loci"];
/// The UUID of an XMP packet's box.
const XMP_UUID: [u8; 16] = [
    0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
];

/// A box's header: its type, where its payload starts and its whole length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub kind: [u8; 4],
    pub header_len: u64,
    /// The box's whole length, header included; `None` when it runs to the end of the file.
    pub len: Option<u64>,
}

/// The header of the box starting at `head` (its first 16 bytes suffice), when well formed.
pub fn box_header(head: &[u8]) -> Option<BoxHeader> {
    let size = u32::from_be_bytes(head.get(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = head.get(4..8)?.try_into().ok()?;
    let (header_len, len) = match size {
        0 => (8, None),
        1 => (
            16,
            Some(u64::from_be_bytes(head.get(8..16)?.try_into().ok()?)),
        ),
        n => (8, Some(u64::from(n))),
    };
    if len.is_some_and(|len| len < header_len) {
        return None;
    }
    Some(BoxHeader {
        kind,
        header_len,
        len,
    })
}

/// Removes every location from a `moov` box (the whole box, header included), in place,
/// keeping its length. Returns whether anything was removed. Location boxes become `free` boxes
/// of zeros; a location key's value and an XMP packet that mentions a place are blanked. A box
/// structure too broken to follow is left as it is from the broken box on.
pub fn strip_movie_location(moov: &mut [u8]) -> bool {
    strip_children(moov, 0..moov.len(), &[])
}

/// The boxes inside `range` of `buf`: where each starts, its type and its payload. Stops at the
/// first box that is broken or runs past `range`.
fn children(buf: &[u8], range: Range<usize>) -> Vec<(usize, [u8; 4], Range<usize>)> {
    let mut found = Vec::new();
    let mut at = range.start;
    while at + 8 <= range.end {
        let Some(header) = box_header(&buf[at..range.end]) else {
            break;
        };
        let end = match header.len {
            None => range.end,
            Some(len) => match usize::try_from(len).ok().and_then(|l| at.checked_add(l)) {
                Some(end) if end <= range.end => end,
                _ => break,
            },
        };
        found.push((at, header.kind, at + header.header_len as usize..end));
        at = end;
    }
    found
}

/// Strips the boxes inside `range` of `buf`; `location_keys` are the 1-based indices of the
/// enclosing `meta` box's keys that name a location.
fn strip_children(buf: &mut [u8], range: Range<usize>, location_keys: &[u32]) -> bool {
    let mut removed = false;
    for (at, kind, payload) in children(buf, range) {
        removed |= strip_box(buf, at, kind, payload, location_keys);
    }
    removed
}

/// Strips one box whose type is `kind`, starting at `at` with its payload at `payload`.
fn strip_box(
    buf: &mut [u8],
    at: usize,
    kind: [u8; 4],
    payload: Range<usize>,
    location_keys: &[u32],
) -> bool {
    let index = u32::from_be_bytes(kind);
    if LOCATION_BOXES.contains(&&kind) {
        free(buf, at, payload);
        true
    } else if &kind == b"meta" {
        // QuickTime's `meta` holds boxes at once; ISO's starts with a version and flags.
        let start = if buf.get(payload.start + 4..payload.start + 8) == Some(&b"hdlr"[..]) {
            payload.start
        } else {
            payload.start + 4
        };
        let keys = location_key_indices(buf, start..payload.end);
        strip_children(buf, start.min(payload.end)..payload.end, &keys)
    } else if &kind == b"ilst" {
        strip_children(buf, payload, location_keys)
    } else if location_keys.contains(&index) {
        blank_values(buf, payload)
    } else if CONTAINERS.contains(&&kind) {
        strip_children(buf, payload, location_keys)
    } else if is_located_xmp(buf, kind, &payload) {
        free(buf, at, payload);
        true
    } else {
        false
    }
}

/// Whether a box holds an XMP packet (`uuid` with XMP's UUID, or QuickTime's `XMP_`) that
/// mentions a place.
fn is_located_xmp(buf: &[u8], kind: [u8; 4], payload: &Range<usize>) -> bool {
    let packet = match &kind {
        b"XMP_" => &buf[payload.clone()],
        b"uuid" if buf.get(payload.start..payload.start + 16) == Some(&XMP_UUID[..]) => {
            &buf[payload.start + 16..payload.end]
        }
        _ => return false,
    };
    super::location::mentions_location(packet)
}

/// Turns the box at `at` into a `free` box of zeros.
fn free(buf: &mut [u8], at: usize, payload: Range<usize>) {
    buf[at + 4..at + 8].copy_from_slice(b"free");
    buf[payload].fill(0);
}

/// The 1-based indices of the keys named in a `keys` box among the boxes in `range` that name a
/// location (`com.apple.quicktime.location.ISO6709` and its accuracy and name companions).
fn location_key_indices(buf: &[u8], range: Range<usize>) -> Vec<u32> {
    children(buf, range)
        .into_iter()
        .find(|(_, kind, _)| kind == b"keys")
        .map(|(_, _, payload)| keys_naming_location(&buf[payload]))
        .unwrap_or_default()
}

/// A `keys` payload's location keys: version and flags, a count, then (size, namespace, name)
/// entries.
fn keys_naming_location(keys: &[u8]) -> Vec<u32> {
    let mut found = Vec::new();
    let mut at = 8;
    let mut index = 1;
    while let Some(size) = keys
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap_or_default()) as usize)
    {
        let Some(name) = keys.get(at + 8..at + size.max(8)) else {
            break;
        };
        if size < 8 {
            break;
        }
        if name
            .to_ascii_lowercase()
            .windows(8)
            .any(|w| w == b"location")
        {
            found.push(index);
        }
        at += size;
        index += 1;
    }
    found
}

/// Blanks the values of an `ilst` item: each `data` box's value (after its type and locale)
/// becomes spaces, which no reader takes for a place. Returns whether a value was not blank.
fn blank_values(buf: &mut [u8], item: Range<usize>) -> bool {
    let mut blanked = false;
    for (_, kind, payload) in children(buf, item) {
        if &kind == b"data" && payload.len() >= 8 {
            let value = &mut buf[payload.start + 8..payload.end];
            blanked |= value.iter().any(|b| *b != b' ');
            value.fill(b' ');
        }
    }
    blanked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn user_data_locations_and_location_keys_are_removed_at_the_same_length() {
        let xyz = boxed(b"\xA9xyz", b"\x00\x12\x15\xc7+48.8584+002.2945/");
        let title = boxed(b"\xA9nam", b"\x00\x05\x15\xc7Paris");
        let udta = boxed(b"udta", &[xyz, title].concat());
        let hdlr = boxed(b"hdlr", &[0u8; 25]);
        let key = |name: &str| {
            let mut entry = ((name.len() + 8) as u32).to_be_bytes().to_vec();
            entry.extend_from_slice(b"mdta");
            entry.extend_from_slice(name.as_bytes());
            entry
        };
        let keys = boxed(
            b"keys",
            &[
                &[0, 0, 0, 0, 0, 0, 0, 2][..],
                &key("com.apple.quicktime.make"),
                &key("com.apple.quicktime.location.ISO6709"),
            ]
            .concat(),
        );
        let data = |text: &str| {
            boxed(
                b"data",
                &[&[0, 0, 0, 1, 0, 0, 0, 0][..], text.as_bytes()].concat(),
            )
        };
        let ilst = boxed(
            b"ilst",
            &[
                boxed(&1u32.to_be_bytes(), &data("Apple")),
                boxed(&2u32.to_be_bytes(), &data("-33.8500+151.2000+010.000/")),
            ]
            .concat(),
        );
        let meta = boxed(b"meta", &[hdlr, keys, ilst].concat());
        let mvhd = boxed(b"mvhd", &[7u8; 100]);
        let mut moov = boxed(b"moov", &[mvhd.clone(), udta, meta].concat());
        let before = moov.clone();

        assert!(strip_movie_location(&mut moov));
        assert_eq!(moov.len(), before.len());
        assert!(!contains(&moov, b"+48.8584"));
        assert!(!contains(&moov, b"-33.8500"));
        assert!(!contains(&moov, b"\xA9xyz"));
        assert!(contains(&moov, b"Paris"), "other user data stays");
        assert!(contains(&moov, b"Apple"), "other keys keep their values");
        assert!(contains(&moov, &mvhd), "the rest is untouched");
        assert!(
            !strip_movie_location(&mut moov),
            "nothing left the second time"
        );
    }

    #[test]
    fn broken_boxes_are_left_alone() {
        let mut moov = boxed(b"moov", &[0xFF; 12]);
        let before = moov.clone();
        assert!(!strip_movie_location(&mut moov));
        assert_eq!(moov, before);
        assert_eq!(box_header(b"\x00\x00\x00\x04free"), None);
        assert_eq!(
            box_header(b"\x00\x00\x00\x01mdat\x00\x00\x00\x01\x00\x00\x00\x00"),
            Some(BoxHeader {
                kind: *b"mdat",
                header_len: 16,
                len: Some(1 << 32)
            })
        );
    }
}
