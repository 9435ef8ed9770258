//! Proleptic Gregorian dates and days since 1970-01-01, both ways (Howard Hinnant's
//! algorithms), for capture times and the timeline's day buckets.

/// The months' English names.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A day as `YYYY-MM-DD`, from days since the epoch.
pub fn day_key(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since the epoch of a `YYYY-MM-DD` day; `None` for anything else, or a date that does
/// not exist.
pub fn parse_day_key(key: &str) -> Option<i64> {
    let digits = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let mut parts = key.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let days = days_from_civil(digits(y)?, digits(m)?, digits(d)?);
    (day_key(days) == key).then_some(days)
}

/// The month of a day as `YYYY-MM`, from days since the epoch.
pub fn month_key(days: i64) -> String {
    let (y, m, _) = civil_from_days(days);
    format!("{y:04}-{m:02}")
}

/// The first day of a month, from days since the epoch of any day in it.
pub fn month_start(days: i64) -> i64 {
    let (y, m, _) = civil_from_days(days);
    days_from_civil(y, m, 1)
}

/// The days (since the epoch) a `YYYY-MM` month covers: its first day and the first day after
/// it; `None` for anything else.
pub fn parse_month_key(key: &str) -> Option<(i64, i64)> {
    let (y, m) = key.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(y, 4) || !digits(m, 2) {
        return None;
    }
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if !(1..=12).contains(&m) {
        return None;
    }
    let (next_y, next_m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some((days_from_civil(y, m, 1), days_from_civil(next_y, next_m, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_across_eras_and_leap_days() {
        for days in [-800_000, -1, 0, 1, 11_016, 19_782, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(day_key(0), "1970-01-01");
        assert_eq!(day_key(19_782), "2024-02-29");
        assert_eq!(parse_day_key("2024-02-29"), Some(19_782));
    }

    #[test]
    fn months_cover_their_days() {
        assert_eq!(month_key(19_782), "2024-02");
        assert_eq!(month_start(19_782), days_from_civil(2024, 2, 1));
        let (first, end) = parse_month_key("2024-02").unwrap();
        assert_eq!((day_key(first), end - first), ("2024-02-01".to_owned(), 29));
        let (first, end) = parse_month_key("2023-12").unwrap();
        assert_eq!(
            (day_key(first), day_key(end)),
            ("2023-12-01".to_owned(), "2024-01-01".to_owned())
        );
        for bad in [
            "2024-13",
            "2024-00",
            "2024-1",
            "24-01",
            "2024-01-01",
            "May",
            "",
        ] {
            assert_eq!(parse_month_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_keys_that_are_not_dates_are_refused() {
        for bad in [
            "",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01",
            "2024-01-01-01",
            "2024-01-0x",
            "+024-01-01",
            "2024-00-10",
        ] {
            assert_eq!(parse_day_key(bad), None, "{bad}");
        }
    }
}
