//! Removing where a photo was taken from a JPEG without re-encoding it or changing its size.
//!
//! A JPEG's metadata sits in the segments before its first SOS (start of scan) marker. The
//! server reads those bytes (the header), rewrites them in place at the same length and streams
//! them followed by the untouched rest of the file, so Content-Length, byte offsets and Range
//! requests stay valid and the pixel data is the original's, byte for byte.

use super::jpeg::{Segment, segments};

/// Longest JPEG header read before giving up (metadata segments before the image data).
pub const MAX_HEADER: usize = 1 << 20;

const EXIF: &[u8] = b"Exif\0\0";
const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXTENSION: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
/// Text whose presence in an XMP packet means it may say where the photo was taken: EXIF GPS
/// properties (`exif:GPSLatitude`), vendor ones (`drone-dji:GpsLatitude`), IPTC locations
/// (`Iptc4xmpCore:Location`, `Iptc4xmpExt:LocationCreated`) and cities (`photoshop:City`).
const XMP_LOCATION: &str = "GPS Gps Latitude Longitude Location :City";
const GPS_INFO: usize = 0x8825;
const ENTRY: usize = 12;

/// Length of a JPEG's header: the bytes before its first SOS (start of scan) marker, when `head`
/// (the file's first bytes) reaches it. `None` when `head` is not a JPEG, is cut short before
/// SOS, or the segment structure is broken.
pub fn jpeg_header_len(head: &[u8]) -> Option<usize> {
    segments(head).ok()?.1
}

/// Removes every location from a JPEG header (as cut by [`jpeg_header_len`]), in place, keeping
/// its length. Returns whether anything was removed. Errors (with a short English sentence) only
/// when the header is not a well-formed sequence of JPEG segments; the header is then unchanged
/// and must not be served as location-free.
///
/// - EXIF: every GPSInfo (0x8825) entry of IFD0 and IFD1 is removed (later entries move up,
///   the freed 12 bytes are zeroed) and the GPS IFD it pointed to, with its out-of-line values,
///   is zeroed. Nothing else moves, so every other tag stays readable. A TIFF structure too
///   broken to follow is left as it is, as are pointers and values out of its bounds.
/// - XMP: a standard XMP packet mentioning GPS, a latitude, a longitude, a location or a city
///   is blanked whole (marker turned into APP15, payload zeroed), losing its other properties
///   too. Extended XMP is treated as one packet: if any of its chunks matches, all are blanked.
/// - IPTC (APP13) is left alone: it can name a city or sublocation but holds no coordinates.
pub fn strip_jpeg_location(header: &mut [u8]) -> Result<bool, String> {
    let (segments, _) = segments(header)?;
    let mut removed = false;
    let mut extension = Vec::new();
    let mut extension_located = false;
    for segment in segments.iter().filter(|s| s.marker == 0xE1) {
        let payload = &header[segment.payload.clone()];
        if payload.starts_with(EXIF) {
            let tiff = segment.payload.start + EXIF.len()..segment.payload.end;
            removed |= strip_tiff(&mut header[tiff]);
        } else if payload.starts_with(XMP) && mentions_location(payload) {
            blank(header, segment);
            removed = true;
        } else if payload.starts_with(XMP_EXTENSION) {
            extension_located |= mentions_location(payload);
            extension.push(segment);
        }
    }
    if extension_located {
        for segment in extension {
            blank(header, segment);
        }
        removed = true;
    }
    Ok(removed)
}

pub(super) fn mentions_location(payload: &[u8]) -> bool {
    XMP_LOCATION.split(' ').any(|needle| {
        payload
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    })
}

/// Turns a segment into an all-zero APP15 segment of the same length, which readers skip.
fn blank(header: &mut [u8], segment: &Segment) {
    header[segment.code_at] = 0xEF;
    header[segment.payload.clone()].fill(0);
}

/// Removes the GPS IFD from a TIFF structure (EXIF's payload); whether it found one.
fn strip_tiff(tiff: &mut [u8]) -> bool {
    let be = match tiff.get(..2) {
        Some(b"II") => false,
        Some(b"MM") => true,
        _ => return false,
    };
    let (Some(42), Some(ifd0)) = (read(tiff, 2, 2, be), read(tiff, 4, 4, be)) else {
        return false;
    };
    let mut gps = Vec::new();
    let mut removed = remove_gps_entries(tiff, ifd0, be, &mut gps);
    if let Some(count) = read(tiff, ifd0, 2, be)
        && let Some(ifd1) = read(tiff, ifd0 + 2 + ENTRY * count, 4, be)
        && ifd1 != 0
        && ifd1 != ifd0
    {
        removed |= remove_gps_entries(tiff, ifd1, be, &mut gps);
    }
    for ifd in gps {
        wipe_ifd(tiff, ifd, be);
    }
    removed
}

/// Removes every GPSInfo entry from the IFD at `ifd`, pushing where each pointed onto `gps`.
/// Entries that run past the end of `tiff` are not looked at.
fn remove_gps_entries(tiff: &mut [u8], ifd: usize, be: bool, gps: &mut Vec<usize>) -> bool {
    let Some(mut count) = read(tiff, ifd, 2, be) else {
        return false;
    };
    let mut removed = false;
    let mut index = 0;
    while index < count && ifd + 2 + ENTRY * (index + 1) <= tiff.len() {
        let at = ifd + 2 + ENTRY * index;
        if read(tiff, at, 2, be) != Some(GPS_INFO) {
            index += 1;
            continue;
        }
        gps.extend(gps_pointer(tiff, at, be));
        // The later entries and the next-IFD offset move up, as much of them as exists.
        let end = (ifd + 2 + ENTRY * count + 4).min(tiff.len());
        tiff.copy_within(at + ENTRY..end, at);
        tiff[end - ENTRY..end].fill(0);
        count -= 1;
        write16(tiff, ifd, count, be);
        removed = true;
    }
    removed
}

/// The offset of the GPS IFD a GPSInfo entry at `at` points to.
fn gps_pointer(tiff: &[u8], at: usize, be: bool) -> Option<usize> {
    match (read(tiff, at + 2, 2, be)?, read(tiff, at + 4, 4, be)?) {
        (4 | 13, 1) => read(tiff, at + 8, 4, be),
        (3, 1) => read(tiff, at + 8, 2, be),
        _ => None,
    }
}

/// Zeroes the IFD at `ifd`: its entries, their out-of-line values and its next-IFD offset.
fn wipe_ifd(tiff: &mut [u8], ifd: usize, be: bool) {
    let Some(count) = read(tiff, ifd, 2, be) else {
        return;
    };
    for at in (0..count).map(|index| ifd + 2 + ENTRY * index) {
        let (Some(kind), Some(n), Some(offset)) = (
            read(tiff, at + 2, 2, be),
            read(tiff, at + 4, 4, be),
            read(tiff, at + 8, 4, be),
        ) else {
            break;
        };
        // Bytes per value of each TIFF type; values of more than 4 bytes live at `offset`.
        let size = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 | 13 => 4,
            5 | 10 | 12 => 8,
            _ => continue,
        };
        if let Some(size) = n.checked_mul(size)
            && size > 4
            && let Some(value) = offset
                .checked_add(size)
                .and_then(|end| tiff.get_mut(offset..end))
        {
            value.fill(0);
        }
    }
    let end = (ifd + 2 + ENTRY * count + 4).min(tiff.len());
    tiff[ifd..end].fill(0);
}

/// The `width`-byte unsigned integer at `at`, if it is inside `tiff`.
fn read(tiff: &[u8], at: usize, width: usize, be: bool) -> Option<usize> {
    let bytes = tiff.get(at..at.checked_add(width)?)?;
    let fold = |value: usize, byte: &u8| (value << 8) | usize::from(*byte);
    Some(if be {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    })
}

fn write16(tiff: &mut [u8], at: usize, value: usize, be: bool) {
    let mut bytes = u16::try_from(value).unwrap_or(u16::MAX).to_be_bytes();
    if !be {
        bytes.reverse();
    }
    tiff[at..at + 2].copy_from_slice(&bytes);
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use serde_json::{Map, Value};

    use super::*;

    fn run(tool: &str, args: &[&str]) -> String {
        let out = Command::new(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{tool}`, which these tests need: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A scratch directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let pid = std::process::id();
            let dir = std::env::temp_dir().join(format!("alcoves-location-{pid}-{name}"));
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// A real 64×48 JPEG written by ImageMagick, then tagged by exiftool with `tags`.
        fn photo(&self, tags: &[&str]) -> PathBuf {
            let path = self.0.join("in.jpg");
            let file = path.to_str().unwrap();
            run("convert", &["-size", "64x48", "gradient:red-blue", file]);
            let args = [&["-overwrite_original"][..], tags, &[file]].concat();
            run("exiftool", &args);
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn tags(path: &Path) -> Map<String, Value> {
        let json = run("exiftool", &["-j", "-G", "-n", path.to_str().unwrap()]);
        let mut parsed: Vec<Map<String, Value>> = serde_json::from_str(&json).unwrap();
        parsed.remove(0)
    }

    fn has_gps(tags: &Map<String, Value>) -> bool {
        tags.keys().any(|k| k.to_ascii_lowercase().contains("gps"))
    }

    #[test]
    fn a_real_photo_loses_its_location_and_nothing_else() {
        let scratch = Scratch::new("gps");
        let tags_to_write = "-Make=TestCam -Model=X1 -GPSLatitude=48.8584 -GPSLatitudeRef=N \
            -GPSLongitude=2.2945 -GPSLongitudeRef=E -GPSAltitude=35 -XMP:GPSLatitude=48.8584 \
            -XMP:GPSLongitude=2.2945";
        let mut tags_to_write: Vec<&str> = tags_to_write.split_whitespace().collect();
        tags_to_write.push("-DateTimeOriginal=2024:05:06 07:08:09");
        let input = scratch.photo(&tags_to_write);
        assert!(has_gps(&tags(&input)), "exiftool wrote no GPS tags");

        // What the server does: strip the header, then stream the rest unchanged.
        let original = fs::read(&input).unwrap();
        let len = jpeg_header_len(&original[..original.len().min(MAX_HEADER)]).unwrap();
        let mut stripped = original[..len].to_vec();
        assert_eq!(strip_jpeg_location(&mut stripped), Ok(true));
        stripped.extend_from_slice(&original[len..]);
        let output = scratch.0.join("out.jpg");
        fs::write(&output, &stripped).unwrap();

        assert_eq!(stripped.len(), original.len());
        assert!(stripped[len..] == original[len..], "the image data changed");
        let left = tags(&output);
        assert!(!has_gps(&left), "location left: {left:?}");
        assert_eq!(left["EXIF:Make"], "TestCam");
        assert_eq!(left["EXIF:Model"], "X1");
        assert_eq!(left["EXIF:DateTimeOriginal"], "2024:05:06 07:08:09");
        let validate = |path: &Path| {
            run(
                "exiftool",
                &["-validate", "-warning", "-a", path.to_str().unwrap()],
            )
        };
        let (was, is) = (validate(&input), validate(&output));
        // The only new warning is the minor one about the blanked XMP, now an APP15 segment.
        for warning in is.lines().filter(|line| line.starts_with("Warning")) {
            let known = was.contains(warning) || warning.ends_with("] Unknown APP15 segment");
            assert!(known, "new warning: {warning}\n{is}");
        }
        assert!(!is.contains("Error"), "{is}");
        let pixels = |path: &Path| ::image::open(path).unwrap().to_rgb8();
        assert!(pixels(&input) == pixels(&output), "the pixels changed");
    }

    #[test]
    fn a_photo_without_location_is_untouched() {
        let scratch = Scratch::new("plain");
        let input = scratch.photo(&["-Make=TestCam", "-XMP-dc:Title=Holiday"]);
        let bytes = fs::read(input).unwrap();
        let len = jpeg_header_len(&bytes).unwrap();
        let mut header = bytes[..len].to_vec();
        assert_eq!(strip_jpeg_location(&mut header), Ok(false));
        assert_eq!(header, bytes[..len]);
    }

    /// Appends `value` as `width` bytes in the byte order `be` says.
    fn put(out: &mut Vec<u8>, be: bool, width: usize, value: u32) {
        let mut bytes = value.to_be_bytes()[4 - width..].to_vec();
        if !be {
            bytes.reverse();
        }
        out.extend(bytes);
    }

    type Entry = (u16, u16, u32, u32);
    const WIDTH: Entry = (0x0100, 4, 1, 64);
    const HEIGHT: Entry = (0x0101, 4, 1, 48);
    const GPS: u16 = 0x8825;

    /// An IFD of `entries` (tag, type, count, value or offset) followed by the next-IFD offset 0.
    fn ifd(be: bool, entries: &[Entry]) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, be, 2, entries.len() as u32);
        for &(tag, kind, count, value) in entries {
            put(&mut out, be, 2, tag.into());
            put(&mut out, be, 2, kind.into());
            put(&mut out, be, 4, count);
            put(&mut out, be, 4, value);
        }
        put(&mut out, be, 4, 0);
        out
    }

    /// SOI, then an APP1 segment holding `payload`.
    fn app1(payload: &[u8]) -> Vec<u8> {
        let length = u16::try_from(payload.len() + 2).unwrap().to_be_bytes();
        [&[0xFF, 0xD8, 0xFF, 0xE1][..], &length, payload].concat()
    }

    /// An EXIF header with IFD0 (of `entries`) at TIFF offset 8, followed by `data`.
    fn exif(be: bool, entries: &[Entry], data: &[u8]) -> Vec<u8> {
        let mut tiff = Vec::from(if be { b"MM\0\x2a" } else { b"II\x2a\0" });
        put(&mut tiff, be, 4, 8);
        app1(&[EXIF, &tiff, &ifd(be, entries), data].concat())
    }

    /// IFD0: width, GPS pointer, height (ends at 50); the GPS IFD at 50 has one latitude entry
    /// whose three rationals are at 68; then "keep" at 92.
    fn gps_header(be: bool) -> Vec<u8> {
        let mut data = ifd(be, &[(0x0002, 5, 3, 68)]);
        for value in [48, 1, 51, 1, 30, 1] {
            put(&mut data, be, 4, value);
        }
        data.extend(b"keep");
        exif(be, &[WIDTH, (GPS, 4, 1, 50), HEIGHT], &data)
    }

    #[test]
    fn the_gps_entry_and_ifd_go_in_both_byte_orders() {
        for be in [false, true] {
            let mut header = gps_header(be);
            assert_eq!(strip_jpeg_location(&mut header), Ok(true));
            let rest = [&[0; 12 + 18 + 24][..], b"keep"].concat();
            assert_eq!(
                header,
                exif(be, &[WIDTH, HEIGHT], &rest),
                "big-endian: {be}"
            );
            assert_eq!(strip_jpeg_location(&mut header), Ok(false));
        }
    }

    #[test]
    fn the_header_ends_at_the_first_scan() {
        let mut file = gps_header(false);
        let len = file.len();
        file.extend([0xFF, 0xD0, 0xFF, 0xFF, 0xDA, 0, 2, 0xAB]);
        assert_eq!(jpeg_header_len(&file), Some(len + 3));
        for cut in 0..len + 3 {
            assert_eq!(jpeg_header_len(&file[..cut]), None, "cut at {cut}");
            let _ = strip_jpeg_location(&mut file[..cut].to_vec());
        }
        assert_eq!(jpeg_header_len(b"GIF89a"), None);
        assert!(strip_jpeg_location(&mut [0xFF, 0xD8, 0x12]).is_err());
        assert!(strip_jpeg_location(&mut file[..40]).is_err(), "truncated");
    }

    #[test]
    fn xmp_with_a_location_is_blanked() {
        let xmp = |text: &str| app1(&[XMP, text.as_bytes()].concat());
        let mut located = xmp("<rdf:Description exif:GPSLatitude='48,51.5N'/>");
        let length = [located[4], located[5]];
        assert_eq!(strip_jpeg_location(&mut located), Ok(true));
        assert_eq!(located[..6], [0xFF, 0xD8, 0xFF, 0xEF, length[0], length[1]]);
        assert!(located[6..].iter().all(|&b| b == 0));
        let mut plain = xmp("<rdf:Description dc:title='Holiday'/>");
        assert_eq!(strip_jpeg_location(&mut plain), Ok(false));
    }

    #[test]
    fn hostile_exif_does_not_panic() {
        // A GPS pointer past the end: only the entry goes.
        for be in [false, true] {
            let mut header = exif(be, &[WIDTH, (GPS, 4, 1, 0xFFFF_FF00), HEIGHT], b"keep");
            assert_eq!(strip_jpeg_location(&mut header), Ok(true));
            let rest = [&[0; 12][..], b"keep"].concat();
            assert_eq!(header, exif(be, &[WIDTH, HEIGHT], &rest));
        }
        // An entry count of 65535 (at byte 20), with and without a GPS entry.
        for entries in [[(GPS, 4, 1, 8), WIDTH], [WIDTH, HEIGHT]] {
            let mut header = exif(false, &entries, b"");
            header[20..22].copy_from_slice(&[0xFF, 0xFF]);
            assert!(strip_jpeg_location(&mut header).is_ok());
        }
        // Every byte of valid headers set to a few values, then random bytes as TIFF data.
        for valid in [gps_header(false), gps_header(true)] {
            for at in 0..valid.len() {
                for value in [0, 1, 5, 0x32, 0x88, 0xFF] {
                    let mut header = valid.clone();
                    header[at] = value;
                    let _ = jpeg_header_len(&header);
                    let _ = strip_jpeg_location(&mut header);
                }
            }
        }
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        for round in 0..2000 {
            let tiff = [b"II\x2a\0\x08\0\0\0", b"MM\0\x2a\0\0\0\x08"][round % 2];
            let random: Vec<u8> = (0..round % 160)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let mut header = app1(&[EXIF, tiff, &random].concat());
            assert!(strip_jpeg_location(&mut header).is_ok());
        }
    }
}
