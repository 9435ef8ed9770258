//! Capture times from a file's XMP packet, which editors, scanners and some phones write
//! instead of (or beside) EXIF.
//!
//! XMP is RDF/XML embedded as plain text in JPEG, TIFF, PNG, HEIF, WebP and MP4 alike, so the
//! packet is found by its `<x:xmpmeta` wrapper wherever it sits and read without a full XML
//! parser: a property is either an attribute (`exif:DateTimeOriginal="…"`) or an element
//! (`<exif:DateTimeOriginal>…</exif:DateTimeOriginal>`).

use super::exif::{Taken, parse_time};

/// The XMP date properties that say when a photo was taken, in the order exiftool's
/// composite `DateTimeOriginal` prefers them.
const CAPTURE_DATES: [&str; 3] = [
    "exif:DateTimeOriginal",
    "photoshop:DateCreated",
    "xmp:CreateDate",
];

/// How far into a file a packet is looked for (XMP sits in the header of every format read).
const SEARCH_BYTES: usize = 4 << 20;

/// The XMP packet of a file, if it has one.
pub fn packet(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(SEARCH_BYTES)];
    let start = find(head, b"<x:xmpmeta")?;
    let end = start + find(&head[start..], b"</x:xmpmeta>")? + b"</x:xmpmeta>".len();
    std::str::from_utf8(&head[start..end]).ok()
}

/// When the packet says the photo was taken, with its offset from UTC when it gives one.
pub fn capture_time(packet: &str) -> Option<Taken> {
    CAPTURE_DATES
        .iter()
        .filter_map(|name| property(packet, name))
        .find_map(|value| parse_iso(&value))
}

/// A simple property's text, as an attribute or as an element.
fn property(packet: &str, name: &str) -> Option<String> {
    let attribute = format!("{name}=");
    let mut rest = packet;
    while let Some(at) = rest.find(&attribute) {
        let preceded_by_space = rest[..at].ends_with(|c: char| c.is_whitespace());
        let after = &rest[at + attribute.len()..];
        if let Some(quote @ ('"' | '\'')) = after.chars().next().filter(|_| preceded_by_space) {
            let value = &after[1..];
            return value.find(quote).map(|end| unescape(&value[..end]));
        }
        rest = after;
    }
    let open = format!("<{name}>");
    let start = packet.find(&open)? + open.len();
    let end = start + packet[start..].find(&format!("</{name}>"))?;
    Some(unescape(packet[start..end].trim()))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An XMP date (ISO 8601: `2009-09-09T20:27:09.60+04:00`, `…Z`, without seconds, or a bare
/// date); `None` for anything else.
fn parse_iso(value: &str) -> Option<Taken> {
    let value = value.trim();
    let (date, time) = value.split_once('T').unwrap_or((value, "00:00:00"));
    let zone_at = time.find(['+', '-', 'Z']);
    let (clock, zone) = zone_at.map_or((time, None), |i| (&time[..i], Some(&time[i..])));
    let clock = clock.split('.').next()?;
    let clock = if clock.len() == 5 {
        format!("{clock}:00")
    } else {
        clock.to_owned()
    };
    let offset = zone.map(|z| if z == "Z" { "+00:00" } else { z });
    parse_time(&format!("{date} {clock}"), offset, "xmp")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(rdf: &str) -> String {
        format!(
            "<?xpacket begin=''?><x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><rdf:Description \
             rdf:about=''{rdf}</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
        )
    }

    #[test]
    fn dates_as_attributes_and_elements_with_zones() {
        let bytes = format!(
            "junk{}junk",
            wrap(" xmp:CreateDate='2021-03-04T05:06:07+01:00'>")
        );
        let p = packet(bytes.as_bytes()).unwrap();
        let t = capture_time(p).unwrap();
        assert_eq!(
            (t.local.as_str(), t.offset_minutes),
            ("2021-03-04T05:06:07", Some(60))
        );
        let element = wrap(
            "><exif:DateTimeOriginal>2009-09-09T20:27:09.60+04:00</exif:DateTimeOriginal><xmp:CreateDate>2001-01-01T00:00:00Z</xmp:CreateDate>",
        );
        let t = capture_time(&element).unwrap();
        assert_eq!(
            (t.local.as_str(), t.offset_minutes),
            ("2009-09-09T20:27:09", Some(240))
        );
        let utc = capture_time(&wrap(
            "><photoshop:DateCreated>2020-02-02T10:20Z</photoshop:DateCreated>",
        ))
        .unwrap();
        assert_eq!(
            (utc.local.as_str(), utc.offset_minutes),
            ("2020-02-02T10:20:00", Some(0))
        );
        let day = capture_time(&wrap(" photoshop:DateCreated=\"1998-07-01\">")).unwrap();
        assert_eq!(
            (day.local.as_str(), day.offset_minutes),
            ("1998-07-01T00:00:00", None)
        );
        assert_eq!(capture_time(&wrap(" xmp:CreateDate='soon'>")), None);
        assert_eq!(packet(b"no packet here"), None);
    }
}
