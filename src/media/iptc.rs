//! Capture times from a JPEG's IPTC record (Photoshop's APP13 segment), which news, archive
//! and scanning software write: `DateCreated` (2:55, `CCYYMMDD`) and `TimeCreated` (2:60,
//! `HHMMSS±HHMM`).

use super::exif::{Taken, parse_time};
use super::jpeg;

const PHOTOSHOP: &[u8] = b"Photoshop 3.0\0";
const IPTC_RESOURCE: u16 = 0x0404;
const DATE_CREATED: u8 = 55;
const TIME_CREATED: u8 = 60;

/// When the JPEG's IPTC record says the photo was taken; `None` without one.
pub fn capture_time(jpeg: &[u8]) -> Option<Taken> {
    let (segments, _) = jpeg::segments(jpeg).ok()?;
    let record = segments
        .iter()
        .filter(|s| s.marker == 0xED)
        .find_map(|s| iptc_resource(jpeg[s.payload.clone()].strip_prefix(PHOTOSHOP)?))?;
    let date = dataset(record, DATE_CREATED)?;
    let time = dataset(record, TIME_CREATED);
    let digits = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .map(str::to_owned)
    };
    let date = digits(date.get(..8)?)?;
    let (clock, offset) = match time {
        Some(t) if t.len() >= 6 => {
            let clock = digits(&t[..6])?;
            let zone = std::str::from_utf8(&t[6..]).ok().filter(|z| z.len() == 5);
            (clock, zone.map(|z| format!("{}:{}", &z[..3], &z[3..])))
        }
        _ => ("000000".to_owned(), None),
    };
    parse_time(
        &format!(
            "{}:{}:{} {}:{}:{}",
            &date[..4],
            &date[4..6],
            &date[6..],
            &clock[..2],
            &clock[2..4],
            &clock[4..]
        ),
        offset.as_deref(),
        "iptc",
    )
}

/// The IPTC-NAA block among Photoshop's image resources (`8BIM`, id, padded Pascal name,
/// length, padded data).
fn iptc_resource(mut resources: &[u8]) -> Option<&[u8]> {
    while resources.len() >= 12 && resources.starts_with(b"8BIM") {
        let id = u16::from_be_bytes([resources[4], resources[5]]);
        let name_len = usize::from(resources[6]);
        let name_end = 6 + (1 + name_len).next_multiple_of(2);
        let size_bytes = resources.get(name_end..name_end + 4)?;
        let size = u32::from_be_bytes(size_bytes.try_into().ok()?) as usize;
        let data = resources.get(name_end + 4..name_end + 4 + size)?;
        if id == IPTC_RESOURCE {
            return Some(data);
        }
        resources = resources.get(name_end + 4 + size.next_multiple_of(2)..)?;
    }
    None
}

/// The first record-2 dataset `number` (`0x1C 2 number length data`).
fn dataset(mut record: &[u8], number: u8) -> Option<&[u8]> {
    while record.len() >= 5 && record[0] == 0x1C {
        let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
        if len & 0x8000 != 0 {
            return None;
        }
        let data = record.get(5..5 + len)?;
        if record[1] == 2 && record[2] == number {
            return Some(data);
        }
        record = &record[5 + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG header holding only an APP13 segment with the given IPTC datasets.
    fn jpeg_with_iptc(datasets: &[(u8, &[u8])]) -> Vec<u8> {
        let mut iptc = vec![0x1C, 1, 90, 0, 3, 0x1B, b'%', b'G'];
        for (number, data) in datasets {
            iptc.extend([0x1C, 2, *number]);
            iptc.extend((data.len() as u16).to_be_bytes());
            iptc.extend(*data);
        }
        let mut app13 = PHOTOSHOP.to_vec();
        app13.extend(b"8BIM\x04\x04\0\0");
        app13.extend((iptc.len() as u32).to_be_bytes());
        app13.extend(&iptc);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xED];
        jpeg.extend(((app13.len() + 2) as u16).to_be_bytes());
        jpeg.extend(app13);
        jpeg.extend([0xFF, 0xDA]);
        jpeg
    }

    #[test]
    fn date_and_time_with_offset() {
        let t = capture_time(&jpeg_with_iptc(&[
            (DATE_CREATED, b"20100102"),
            (TIME_CREATED, b"101112+0530"),
        ]))
        .unwrap();
        assert_eq!(
            (t.local.as_str(), t.offset_minutes),
            ("2010-01-02T10:11:12", Some(330))
        );
        let day = capture_time(&jpeg_with_iptc(&[(DATE_CREATED, b"19991231")])).unwrap();
        assert_eq!(
            (day.local.as_str(), day.offset_minutes),
            ("1999-12-31T00:00:00", None)
        );
        assert_eq!(
            capture_time(&jpeg_with_iptc(&[(TIME_CREATED, b"101112")])),
            None
        );
        assert_eq!(
            capture_time(&jpeg_with_iptc(&[(DATE_CREATED, b"2010xx02")])),
            None
        );
        assert_eq!(capture_time(b"\xFF\xD8\xFF\xD9"), None);
    }
}
