//! Apple's iCloud Photos export, imported the same way as Google's: the photos come with a
//! `Photo Details.csv` (one row per photo: `imgName`, …, `originalCreationDate` written like
//! `Saturday June 27,2020 5:09 PM GMT`, its comma unquoted), and each album is an
//! `Albums/<name>.csv` listing its photos' names.

use crate::files::sidecar::Sidecar;
use crate::media::exif;

/// Whether a file of the export is a photo details list (`Photo Details.csv`,
/// `Photo Details-1.csv`, …).
pub fn is_details(name: &str) -> bool {
    name.starts_with("Photo Details") && name.ends_with(".csv")
}

/// The album an `Albums/<name>.csv` file lists, by its path in the export.
pub fn album_of_list(path: &str) -> Option<&str> {
    let (folder, name) = path.rsplit_once('/')?;
    let in_albums = folder.rsplit('/').next() == Some("Albums");
    in_albums.then(|| name.strip_suffix(".csv")).flatten()
}

/// The photos a details list describes, by file name, with when each was taken.
pub fn details(csv: &str) -> Vec<(String, Sidecar)> {
    let mut lines = csv.lines();
    let Some(header) = lines
        .next()
        .and_then(|h| crate::csv::record(h.trim_start_matches('\u{feff}')).ok())
    else {
        return Vec::new();
    };
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(name_at), Some(date_at)) = (column("imgName"), column("originalCreationDate")) else {
        return Vec::new();
    };
    lines
        .filter_map(|line| crate::csv::record(line).ok())
        .filter_map(|fields| {
            // A date's unquoted comma splits it in two fields (and later dates split too).
            let date = if fields.len() > header.len() {
                format!("{},{}", fields.get(date_at)?, fields.get(date_at + 1)?)
            } else {
                fields.get(date_at)?.clone()
            };
            let name = fields.get(name_at)?.trim().to_owned();
            let taken_at = creation_date(&date)?;
            Some((
                name,
                Sidecar {
                    taken_at: Some(taken_at),
                    ..Sidecar::default()
                },
            ))
        })
        .collect()
}

/// The photo names an album list holds (its first column, after the header).
pub fn album_images(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .filter_map(|line| crate::csv::record(line).ok())
        .filter_map(|fields| fields.into_iter().next())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// `Saturday June 27,2020 5:09 PM GMT` in ms since the epoch.
fn creation_date(text: &str) -> Option<i64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [_weekday, month, day_year, clock, half, zone] = words[..] else {
        return None;
    };
    if zone != "GMT" && zone != "UTC" {
        return None;
    }
    let month = crate::calendar::MONTHS.iter().position(|m| *m == month)? + 1;
    let (day, year) = day_year.split_once(',')?;
    let (hour, minute) = clock.split_once(':')?;
    let hour: u32 = hour.parse().ok()?;
    let hour = match (half, hour) {
        ("AM", 12) => 0,
        ("AM", h) => h,
        ("PM", 12) => 12,
        ("PM", h) => h + 12,
        _ => return None,
    };
    let iso = format!("{year}-{month:02}-{day:0>2} {hour:02}:{minute}");
    exif::parse_time(&iso, Some("+00:00"), "sidecar").map(|t| t.epoch_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_details_list_gives_each_photo_its_date() {
        let csv = "imgName,fileChecksum,favorite,hidden,deleted,originalCreationDate,viewCount,importDate\n\
                   IMG_0001.HEIC,abc,no,no,no,Saturday June 27,2020 5:09 PM GMT,3,Saturday June 27,2020 5:10 PM GMT\n\
                   IMG_0002.JPG,def,no,no,no,Monday January 1,2018 12:00 AM GMT,0,\n\
                   broken,line\n";
        let found = details(csv);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "IMG_0001.HEIC");
        assert_eq!(found[0].1.taken_at, Some(1_593_277_740_000));
        assert_eq!(found[1].1.taken_at, Some(1_514_764_800_000));
        assert!(details("nothing,useful\n1,2\n").is_empty());
    }

    #[test]
    fn album_lists_name_their_album_and_photos() {
        assert_eq!(
            album_of_list("iCloud Photos/Albums/Summer.csv"),
            Some("Summer")
        );
        assert_eq!(album_of_list("iCloud Photos/Photo Details.csv"), None);
        assert_eq!(
            album_images("Images\nIMG_0001.HEIC\nIMG_0002.JPG\n"),
            ["IMG_0001.HEIC", "IMG_0002.JPG"]
        );
        assert!(is_details("Photo Details-1.csv"));
        assert!(!is_details("Summer.csv"));
    }
}
