//! Photo metadata from EXIF: when it was taken (with the time-zone offset when the camera wrote
//! one), where, and with what.

use std::io::Cursor;

use exif::{Exif, In, Tag, Value};

use super::{iptc, xmp};
use serde::Serialize;

/// What a photo's EXIF says. Every field is optional: phones, scanners and editors differ.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoInfo {
    pub make: Option<String>,
    pub model: Option<String>,
    pub lens: Option<String>,
    /// EXIF orientation, 1-8.
    pub orientation: Option<u32>,
    pub taken: Option<Taken>,
    pub gps: Option<Gps>,
    pub exposure_time: Option<String>,
    pub f_number: Option<f64>,
    pub iso: Option<u32>,
    pub focal_length_mm: Option<f64>,
}

/// When a photo was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Taken {
    /// The wall-clock time the camera recorded, `YYYY-MM-DDTHH:MM:SS`.
    pub local: String,
    /// The camera's offset from UTC in minutes, when it wrote one.
    pub offset_minutes: Option<i32>,
    /// Milliseconds since the epoch: exact with an offset, else the wall clock read as UTC.
    pub epoch_ms: i64,
    /// Where the time was read: `exif`, `xmp`, `iptc` or `container`.
    pub source: &'static str,
}

/// Where a photo was taken, in degrees (WGS 84) and metres.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gps {
    pub latitude: f64,
    pub longitude: f64,
    pub altitude: Option<f64>,
}

/// Reads a photo's metadata: the EXIF of any container kamadak-exif knows (JPEG, TIFF/RAW,
/// HEIF, PNG, WebP), and the capture time from XMP or IPTC when EXIF has no valid one. No
/// metadata, or metadata that does not parse, gives an empty [`PhotoInfo`].
pub fn read(bytes: &[u8]) -> PhotoInfo {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let exif = reader
        .read_from_container(&mut Cursor::new(bytes))
        .or_else(|e| e.distill_partial_result(|_| {}));
    let (mut info, original, modified) = match exif {
        Ok(exif) => from_exif(&exif),
        Err(_) => (PhotoInfo::default(), None, None),
    };
    let xmp = xmp::packet(bytes).and_then(xmp::capture_time);
    info.taken = capture_time(original, xmp, || iptc::capture_time(bytes), modified);
    info
}

/// The capture time in the order exiftool's composite tags use: EXIF `DateTimeOriginal`
/// (completed by XMP's offset when both name the same wall-clock time), XMP, IPTC, and last
/// EXIF `DateTime` (when the file was last changed).
fn capture_time(
    original: Option<Taken>,
    xmp: Option<Taken>,
    iptc: impl FnOnce() -> Option<Taken>,
    modified: Option<Taken>,
) -> Option<Taken> {
    match (original, xmp) {
        (Some(exif), Some(xmp))
            if exif.offset_minutes.is_none()
                && xmp.offset_minutes.is_some()
                && exif.local == xmp.local =>
        {
            Some(Taken {
                source: "exif",
                ..xmp
            })
        }
        (Some(exif), _) => Some(exif),
        (None, Some(xmp)) => Some(xmp),
        (None, None) => iptc().or(modified),
    }
}

/// The EXIF fields, with the capture time (`DateTimeOriginal`) and modification time
/// (`DateTime`) apart for [`capture_time`] to choose from.
fn from_exif(exif: &Exif) -> (PhotoInfo, Option<Taken>, Option<Taken>) {
    let field = |tag| exif.get_field(tag, In::PRIMARY).map(|f| &f.value);
    let text = |tag| match field(tag) {
        Some(Value::Ascii(parts)) => parts
            .first()
            .map(|p| String::from_utf8_lossy(p).trim().to_owned())
            .filter(|s| !s.is_empty()),
        _ => None,
    };
    let number = |tag| match field(tag) {
        Some(Value::Rational(r)) => r.first().map(|r| r.to_f64()).filter(|v| v.is_finite()),
        Some(Value::SRational(r)) => r.first().map(|r| r.to_f64()).filter(|v| v.is_finite()),
        Some(v) => v.get_uint(0).map(f64::from),
        None => None,
    };
    let uint = |tag| field(tag).and_then(|v| v.get_uint(0));
    let time = |time, offset| parse_time(&text(time)?, text(offset).as_deref(), "exif");
    let original = time(Tag::DateTimeOriginal, Tag::OffsetTimeOriginal);
    let modified = time(Tag::DateTime, Tag::OffsetTime);
    let info = PhotoInfo {
        make: text(Tag::Make),
        model: text(Tag::Model),
        lens: text(Tag::LensModel),
        orientation: uint(Tag::Orientation).filter(|o| (1..=8).contains(o)),
        taken: None,
        gps: gps(exif),
        exposure_time: match field(Tag::ExposureTime) {
            Some(Value::Rational(r)) => r.first().filter(|r| r.denom != 0).map(|r| {
                if r.num == 1 || r.num >= r.denom {
                    format!("{}/{}", r.num, r.denom)
                } else {
                    format!("1/{}", (f64::from(r.denom) / f64::from(r.num)).round())
                }
            }),
            _ => None,
        },
        f_number: number(Tag::FNumber),
        iso: uint(Tag::PhotographicSensitivity),
        focal_length_mm: number(Tag::FocalLength),
    };
    (info, original, modified)
}

fn gps(exif: &Exif) -> Option<Gps> {
    // Degrees, minutes and seconds as RATIONAL (the standard) or SRATIONAL (some phones, which
    // may also carry the hemisphere in the sign); south or west when the value or the
    // reference (which some writers leave out) says so.
    let degrees = |tag, reference, negative: &[u8]| {
        let dms: Vec<f64> = match &exif.get_field(tag, In::PRIMARY)?.value {
            Value::Rational(r) => r.iter().map(|r| r.to_f64()).collect(),
            Value::SRational(r) => r.iter().map(|r| r.to_f64()).collect(),
            _ => return None,
        };
        let part = |i: usize| dms.get(i).copied().unwrap_or(0.0);
        let value = part(0) + part(1).copysign(part(0)) / 60.0 + part(2).copysign(part(0)) / 3600.0;
        let flip = match exif.get_field(reference, In::PRIMARY).map(|f| &f.value) {
            Some(Value::Ascii(r)) => r.first().is_some_and(|r| r.as_slice() == negative),
            _ => false,
        };
        value.is_finite().then_some(if flip || value < 0.0 {
            -value.abs()
        } else {
            value
        })
    };
    let latitude = degrees(Tag::GPSLatitude, Tag::GPSLatitudeRef, b"S")?;
    let longitude = degrees(Tag::GPSLongitude, Tag::GPSLongitudeRef, b"W")?;
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return None;
    }
    let altitude = match exif
        .get_field(Tag::GPSAltitude, In::PRIMARY)
        .map(|f| &f.value)
    {
        Some(Value::Rational(r)) => r.first().map(|r| r.to_f64()).filter(|a| a.is_finite()),
        Some(Value::SRational(r)) => r.first().map(|r| r.to_f64()).filter(|a| a.is_finite()),
        _ => None,
    };
    let below_sea = exif
        .get_field(Tag::GPSAltitudeRef, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        == Some(1);
    Some(Gps {
        latitude,
        longitude,
        altitude: altitude.map(|a| if below_sea { -a.abs() } else { a }),
    })
}

/// Parses a container's ISO 8601 UTC time (`2024-07-14T16:30:05.000000Z`); the zero times of
/// unset clocks (1904, 1970) are no time at all.
pub fn utc_time(iso: &str) -> Option<Taken> {
    let plain = iso.trim().trim_end_matches('Z').replacen('T', " ", 1);
    let seconds = plain.split('.').next()?;
    parse_time(seconds, Some("+00:00"), "container").filter(|t| t.epoch_ms > 0)
}

/// Parses EXIF's `YYYY:MM:DD HH:MM[:SS[.fraction]]` (dashes allowed in the date) and an
/// optional `±HH:MM` offset, read from `source`. A malformed time (extra fields, letters) is
/// no time, so a cleaner one elsewhere in the file is used instead.
pub fn parse_time(time: &str, offset: Option<&str>, source: &'static str) -> Option<Taken> {
    let digits = |s: &str| {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (date, clock) = time.trim().split_once(' ')?;
    let date: Vec<_> = date.split([':', '-']).collect();
    let [year, month, day] = date[..] else {
        return None;
    };
    let (year, month, day) = (digits(year)?, digits(month)?, digits(day)?);
    let clock: Vec<_> = clock.trim().split(':').collect();
    let (hour, minute, second) = match clock[..] {
        [h, m] => (digits(h)?, digits(m)?, 0),
        [h, m, s] => {
            let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
            digits(fraction.get(..fraction.len().min(4))?)?;
            (digits(h)?, digits(m)?, digits(whole)?)
        }
        _ => return None,
    };
    let valid = (1800..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    if !valid {
        return None;
    }
    let offset_minutes = offset.and_then(|o| {
        let (sign, rest) = match o.trim().as_bytes().first()? {
            b'+' => (1, &o.trim()[1..]),
            b'-' => (-1, &o.trim()[1..]),
            _ => return None,
        };
        let (h, m) = rest.split_once(':')?;
        let minutes = digits(h)? * 60 + digits(m)?;
        (minutes <= 14 * 60).then_some(sign * minutes as i32)
    });
    let wall = (crate::calendar::days_from_civil(year, month, day) * 86_400
        + hour * 3600
        + minute * 60
        + second)
        * 1000;
    Some(Taken {
        local: format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"),
        offset_minutes,
        epoch_ms: wall - i64::from(offset_minutes.unwrap_or(0)) * 60_000,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_times_with_and_without_offsets() {
        let t = taken("2024:07:14 18:30:05", Some("+02:00")).unwrap();
        assert_eq!(t.local, "2024-07-14T18:30:05");
        assert_eq!(t.offset_minutes, Some(120));
        // 2024-07-14T16:30:05Z
        assert_eq!(t.epoch_ms, 1_720_974_605_000);
        let naive = taken("2024:07:14 18:30:05", None).unwrap();
        assert_eq!(naive.epoch_ms, 1_720_981_805_000);
        assert_eq!(
            taken("2024:07:14 18:30:05", Some("-05:30"))
                .unwrap()
                .offset_minutes,
            Some(-330)
        );
        assert_eq!(taken("0000:00:00 00:00:00", None), None);
        assert_eq!(taken("garbage", None), None);
        let utc = utc_time("2024-07-14T16:30:05.000000Z").unwrap();
        assert_eq!(utc.epoch_ms, 1_720_974_605_000);
        assert_eq!(
            utc_time("1970-01-01T00:00:00Z").map(|t| t.epoch_ms),
            None,
            "an unset tag"
        );
    }

    fn taken(time: &str, offset: Option<&str>) -> Option<Taken> {
        parse_time(time, offset, "exif")
    }

    /// A TIFF holding only `fields` in its IFD0 and GPS IFD, written by kamadak-exif.
    fn tiff(fields: &[exif::Field]) -> Vec<u8> {
        let mut writer = exif::experimental::Writer::new();
        for field in fields {
            writer.push_field(field);
        }
        let mut out = Cursor::new(Vec::new());
        writer.write(&mut out, false).unwrap();
        out.into_inner()
    }

    fn field(tag: Tag, value: Value) -> exif::Field {
        exif::Field {
            tag,
            ifd_num: In::PRIMARY,
            value,
        }
    }

    fn ascii(text: &str) -> Value {
        Value::Ascii(vec![text.as_bytes().to_vec()])
    }

    #[test]
    fn gps_as_signed_rationals_with_and_without_references() {
        let srational = |d: i32, m: i32, s: i32| {
            Value::SRational(
                [(d, 1), (m, 1), (s, 100)]
                    .map(|(num, denom)| exif::SRational { num, denom })
                    .to_vec(),
            )
        };
        // As an HMD/Nokia phone writes it: SRATIONAL values with N/E references.
        let nokia = tiff(&[
            field(Tag::GPSLatitudeRef, ascii("N")),
            field(Tag::GPSLatitude, srational(60, 10, 3000)),
            field(Tag::GPSLongitudeRef, ascii("E")),
            field(Tag::GPSLongitude, srational(24, 56, 1500)),
        ]);
        let gps = read(&nokia).gps.expect("SRATIONAL GPS is read");
        assert!((gps.latitude - 60.175).abs() < 1e-9, "{gps:?}");
        assert!(
            (gps.longitude - (24.0 + 56.0 / 60.0 + 15.0 / 3600.0)).abs() < 1e-9,
            "{gps:?}"
        );
        // The hemisphere carried by the sign alone, with no reference tags.
        let signed = tiff(&[
            field(Tag::GPSLatitude, srational(-33, 51, 0)),
            field(Tag::GPSLongitude, srational(-70, 30, 0)),
        ]);
        let gps = read(&signed).gps.expect("signed GPS without references");
        assert!((gps.latitude + 33.85).abs() < 1e-9, "{gps:?}");
        assert!((gps.longitude + 70.5).abs() < 1e-9, "{gps:?}");
        // A south reference with a (redundantly) negative value is still south.
        let both = tiff(&[
            field(Tag::GPSLatitudeRef, ascii("S")),
            field(Tag::GPSLatitude, srational(-33, 51, 0)),
            field(Tag::GPSLongitudeRef, ascii("E")),
            field(Tag::GPSLongitude, srational(151, 12, 0)),
        ]);
        let gps = read(&both).gps.unwrap();
        assert!((gps.latitude + 33.85).abs() < 1e-9, "{gps:?}");
    }

    #[test]
    fn capture_time_falls_back_to_xmp_then_iptc() {
        let xmp = |date: &str| {
            format!(
                "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><rdf:Description rdf:about='' \
                 exif:DateTimeOriginal='{date}'/></rdf:RDF></x:xmpmeta>"
            )
        };
        // A malformed EXIF DateTimeOriginal next to a clean XMP value with an offset.
        let mut file = tiff(&[field(
            Tag::DateTimeOriginal,
            ascii("2009:09:09 20:27:09.60:04:00"),
        )]);
        file.extend(xmp("2009-09-09T20:27:09.60+04:00").as_bytes());
        let t = read(&file).taken.expect("XMP's time");
        assert_eq!(
            (t.local.as_str(), t.offset_minutes, t.source),
            ("2009-09-09T20:27:09", Some(240), "xmp")
        );
        assert_eq!(
            t.epoch_ms,
            taken("2009:09:09 16:27:09", None).unwrap().epoch_ms
        );
        // A valid EXIF time without offset takes XMP's offset when both say the same time.
        let mut file = tiff(&[field(Tag::DateTimeOriginal, ascii("2009:09:09 20:27:09"))]);
        file.extend(xmp("2009-09-09T20:27:09+04:00").as_bytes());
        let t = read(&file).taken.unwrap();
        assert_eq!((t.offset_minutes, t.source), (Some(240), "exif"));
        // A different XMP time does not override EXIF.
        let mut file = tiff(&[field(Tag::DateTimeOriginal, ascii("2010:01:01 10:00:00"))]);
        file.extend(xmp("2009-09-09T20:27:09+04:00").as_bytes());
        assert_eq!(read(&file).taken.unwrap().local, "2010-01-01T10:00:00");
        // Only a modification time in EXIF: XMP's capture time wins over it.
        let mut file = tiff(&[field(Tag::DateTime, ascii("2020:05:05 05:05:05"))]);
        file.extend(xmp("2001-02-03T04:05:06Z").as_bytes());
        assert_eq!(read(&file).taken.unwrap().local, "2001-02-03T04:05:06");
        assert_eq!(
            read(&tiff(&[field(Tag::DateTime, ascii("2020:05:05 05:05:05"))]))
                .taken
                .unwrap()
                .local,
            "2020-05-05T05:05:05"
        );
        assert_eq!(
            taken("2009:09:09 20:27:09.60:04:00", None),
            None,
            "malformed"
        );
        assert_eq!(
            taken("2009:09:09 20:27:09.60", None).unwrap().local,
            "2009-09-09T20:27:09"
        );
    }

    #[test]
    fn no_exif_is_empty_not_an_error() {
        assert_eq!(read(b"not an image"), PhotoInfo::default());
    }
}
