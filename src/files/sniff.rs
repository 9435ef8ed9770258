//! Media type sniffing from a file's first bytes: the content decides, never the name.

/// Bytes needed to recognise every type below.
pub const SNIFF_LEN: usize = 64;

/// The MIME type of content starting with `head`, or `application/octet-stream`.
pub fn mime_of(head: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| head.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if starts(b"RIFF") && at(8, b"WEBP") {
        "image/webp"
    } else if starts(b"RIFF") && at(8, b"WAVE") {
        "audio/wav"
    } else if starts(b"RIFF") && at(8, b"AVI ") {
        "video/x-msvideo"
    } else if starts(b"II*\0") && at(8, b"CR") {
        "image/x-canon-cr2"
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        "image/tiff"
    } else if at(4, b"ftyp") {
        iso_media(head)
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        if head.windows(4).any(|w| w == b"webm") {
            "video/webm"
        } else {
            "video/x-matroska"
        }
    } else if starts(b"fLaC") {
        "audio/flac"
    } else if starts(b"OggS") {
        "audio/ogg"
    } else if starts(b"#!AMR") {
        "audio/amr"
    } else if starts(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        "video/x-ms-asf"
    } else if starts(b"ID3") || (head.len() > 1 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        "audio/mpeg"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else {
        "application/octet-stream"
    }
}

/// ISO base media files (MP4, MOV, HEIF, AVIF, M4A) told apart by their `ftyp` brands.
fn iso_media(head: &[u8]) -> &'static str {
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let brands_end = size.clamp(12, head.len());
    let major = head.get(8..12).unwrap_or(b"    ");
    // Compatible brands follow the major brand and the minor version.
    let compatible: Vec<&[u8]> = head
        .get(16..brands_end)
        .unwrap_or(&[])
        .chunks_exact(4)
        .collect();
    let has = |b: &[u8]| major == b || compatible.contains(&b);
    if has(b"avif") || has(b"avis") {
        "image/avif"
    } else if ["heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"]
        .iter()
        .any(|b| has(b.as_bytes()))
    {
        "image/heic"
    } else if major == b"qt  " {
        "video/quicktime"
    } else if major == b"M4A " || major == b"M4B " {
        "audio/mp4"
    } else if major.starts_with(b"3g") {
        "video/3gpp"
    } else {
        "video/mp4"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut v = size.to_be_bytes().to_vec();
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(major);
        v.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            v.extend_from_slice(*c);
        }
        v
    }

    #[test]
    fn content_decides_the_type() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0xFF, 0xD8, 0xFF, 0xE0], "image/jpeg"),
            (b"\x89PNG\r\n\x1a\n....".to_vec(), "image/png"),
            (b"GIF89a".to_vec(), "image/gif"),
            (b"RIFF\0\0\0\0WEBPVP8 ".to_vec(), "image/webp"),
            (b"RIFF\0\0\0\0WAVEfmt ".to_vec(), "audio/wav"),
            (b"II*\0\x10\0\0\0CR\x02\0".to_vec(), "image/x-canon-cr2"),
            (b"MM\0*\0\0\0\x08".to_vec(), "image/tiff"),
            (ftyp(b"heic", &[b"mif1", b"heic"]), "image/heic"),
            (ftyp(b"mif1", &[b"avif", b"miaf"]), "image/avif"),
            (ftyp(b"isom", &[b"isom", b"avc1"]), "video/mp4"),
            (ftyp(b"qt  ", &[b"qt  "]), "video/quicktime"),
            (ftyp(b"M4A ", &[b"mp42"]), "audio/mp4"),
            (
                b"\x1a\x45\xdf\xa3\x01\0\0\0\0\0\0\x1fB\x86\x81\x01B\xf7\x81\x01B\x82\x84webm"
                    .to_vec(),
                "video/webm",
            ),
            (b"fLaC\0\0\0\x22".to_vec(), "audio/flac"),
            (b"OggS\0\x02".to_vec(), "audio/ogg"),
            (b"ID3\x04\0".to_vec(), "audio/mpeg"),
            (vec![0xFF, 0xFB, 0x90, 0x64], "audio/mpeg"),
            (b"%PDF-1.7".to_vec(), "application/pdf"),
            (
                b"just some text named photo.jpg".to_vec(),
                "application/octet-stream",
            ),
            (vec![], "application/octet-stream"),
        ];
        for (bytes, mime) in cases {
            assert_eq!(mime_of(&bytes), mime, "{bytes:?}");
        }
    }
}
