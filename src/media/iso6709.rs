//! Locations written as ISO 6709 text, as phones store them in videos: QuickTime's `©xyz`
//! atom and Apple's `com.apple.quicktime.location.ISO6709` key (`+48.8584+002.2945+035.0/`).

use super::exif::Gps;

/// The location in an ISO 6709 string: latitude and longitude in decimal degrees, or in
/// degrees and minutes (`±DDMM.M±DDDMM.M`) or degrees, minutes and seconds, then an optional
/// altitude, a CRS name and a closing `/`. `None` for anything else or a point off the globe.
pub fn parse(text: &str) -> Option<Gps> {
    let text = text.trim();
    let text = text.split("CRS").next()?.trim_end_matches('/');
    let mut starts: Vec<usize> = text.match_indices(['+', '-']).map(|(i, _)| i).collect();
    if starts.first() != Some(&0) || !(2..=3).contains(&starts.len()) {
        return None;
    }
    starts.push(text.len());
    let parts: Vec<&str> = starts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    let latitude = angle(parts[0], 2)?;
    let longitude = angle(parts[1], 3)?;
    let altitude = match parts.get(2) {
        Some(a) => Some(a.parse::<f64>().ok().filter(|a| a.is_finite())?),
        None => None,
    };
    ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(Gps {
        latitude,
        longitude,
        altitude,
    })
}

/// One signed angle whose whole degrees take `degree_digits` digits, followed by whole minutes
/// and seconds when the integer part is longer.
fn angle(part: &str, degree_digits: usize) -> Option<f64> {
    let (sign, body) = part.split_at(1);
    let sign = if sign == "-" { -1.0 } else { 1.0 };
    let whole_len = body.find('.').unwrap_or(body.len());
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let number = |s: &str| s.parse::<f64>().ok();
    let value = match whole_len.checked_sub(degree_digits)? {
        0 => number(body)?,
        2 => number(&body[..degree_digits])? + number(&body[degree_digits..])? / 60.0,
        4 => {
            number(&body[..degree_digits])?
                + number(&body[degree_digits..degree_digits + 2])? / 60.0
                + number(&body[degree_digits + 2..])? / 3600.0
        }
        _ => return None,
    };
    Some(sign * value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<(f64, f64, Option<f64>)> {
        parse(text).map(|g| (g.latitude, g.longitude, g.altitude))
    }

    #[test]
    fn decimal_minutes_seconds_and_altitude() {
        assert_eq!(at("+48.8584+002.2945/"), Some((48.8584, 2.2945, None)));
        assert_eq!(
            at("+40.7484-073.9857+044.600CRSWGS_84/"),
            Some((40.7484, -73.9857, Some(44.6)))
        );
        let (lat, lon, _) = at("-3351.00+15112.00/").unwrap();
        assert!((lat + 33.85).abs() < 1e-9 && (lon - 151.2).abs() < 1e-9);
        let (lat, lon, _) = at("+485130+0021740/").unwrap();
        assert!((lat - (48.0 + 51.0 / 60.0 + 30.0 / 3600.0)).abs() < 1e-9);
        assert!((lon - (2.0 + 17.0 / 60.0 + 40.0 / 3600.0)).abs() < 1e-9);
        for bad in [
            "",
            "48.8584,2.2945",
            "+91.0+000.0/",
            "+48.8+2.2/",
            "+4x.1+002.0/",
            "+1+2+3+4/",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
