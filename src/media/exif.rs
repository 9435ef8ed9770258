//! Photo metadata from EXIF: when it was taken (with the time-zone offset when the camera wrote
//! one), where, and with what.

use std::io::Cursor;

use exif::{Exif, In, Tag, Value};
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
}

/// Where a photo was taken, in degrees (WGS 84) and metres.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gps {
    pub latitude: f64,
    pub longitude: f64,
    pub altitude: Option<f64>,
}

/// Reads the EXIF of any container kamadak-exif knows (JPEG, TIFF/RAW, HEIF, PNG, WebP).
/// No EXIF, or EXIF that does not parse, gives an empty [`PhotoInfo`].
pub fn read(bytes: &[u8]) -> PhotoInfo {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let exif = reader
        .read_from_container(&mut Cursor::new(bytes))
        .or_else(|e| e.distill_partial_result(|_| {}));
    match exif {
        Ok(exif) => from_exif(&exif),
        Err(_) => PhotoInfo::default(),
    }
}

fn from_exif(exif: &Exif) -> PhotoInfo {
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
    let taken = text(Tag::DateTimeOriginal)
        .map(|t| (t, text(Tag::OffsetTimeOriginal)))
        .or_else(|| text(Tag::DateTime).map(|t| (t, text(Tag::OffsetTime))))
        .and_then(|(time, offset)| taken(&time, offset.as_deref()));
    PhotoInfo {
        make: text(Tag::Make),
        model: text(Tag::Model),
        lens: text(Tag::LensModel),
        orientation: uint(Tag::Orientation).filter(|o| (1..=8).contains(o)),
        taken,
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
    }
}

fn gps(exif: &Exif) -> Option<Gps> {
    let degrees = |tag, reference, negative: &[u8]| {
        let Value::Rational(dms) = &exif.get_field(tag, In::PRIMARY)?.value else {
            return None;
        };
        let part = |i: usize| dms.get(i).map(|r| r.to_f64()).unwrap_or(0.0);
        let value = part(0) + part(1) / 60.0 + part(2) / 3600.0;
        let flip = match &exif.get_field(reference, In::PRIMARY)?.value {
            Value::Ascii(r) => r.first().is_some_and(|r| r.as_slice() == negative),
            _ => false,
        };
        value
            .is_finite()
            .then_some(if flip { -value } else { value })
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
        _ => None,
    };
    let below_sea = exif
        .get_field(Tag::GPSAltitudeRef, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        == Some(1);
    Some(Gps {
        latitude,
        longitude,
        altitude: altitude.map(|a| if below_sea { -a } else { a }),
    })
}

/// Parses a container's ISO 8601 UTC time (`2024-07-14T16:30:05.000000Z`); the zero times of
/// unset clocks (1904, 1970) are no time at all.
pub fn utc_time(iso: &str) -> Option<Taken> {
    let plain = iso.trim().trim_end_matches('Z').replacen('T', " ", 1);
    let seconds = plain.split('.').next()?;
    taken(seconds, Some("+00:00")).filter(|t| t.epoch_ms > 0)
}

/// Parses EXIF's `YYYY:MM:DD HH:MM:SS` and an optional `±HH:MM` offset.
fn taken(time: &str, offset: Option<&str>) -> Option<Taken> {
    let digits = |s: &str| s.parse::<i64>().ok();
    let (date, clock) = time.trim().split_once(' ')?;
    let mut d = date.split([':', '-']).map(digits);
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.split(':').map(|p| digits(p.get(..2).unwrap_or(p)));
    let (hour, minute, second) = (c.next()??, c.next()??, c.next().flatten().unwrap_or(0));
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
    let wall =
        (days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1000;
    Some(Taken {
        local: format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"),
        offset_minutes,
        epoch_ms: wall - i64::from(offset_minutes.unwrap_or(0)) * 60_000,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn no_exif_is_empty_not_an_error() {
        assert_eq!(read(b"not an image"), PhotoInfo::default());
    }
}
