//! Google Takeout's layout: which JSON sidecar describes which photo, what a sidecar says (when
//! the photo was taken, where, its description), and which folders are albums. Google names a
//! sidecar after the photo's original title but cuts long names short, numbers the sidecars of
//! same-named photos (`IMG.jpg(1).json` for `IMG(1).jpg`), adds `.supplemental-metadata` in
//! newer exports, and gives an edited copy (`IMG-edited.jpg`) no sidecar of its own; the
//! sidecar's `title` names the photo, so matching goes by title first and by the cut name last.

use std::collections::HashMap;

use serde::Deserialize;

use crate::files::sidecar::Sidecar;

/// The longest sidecar file name Google writes, `.json` included.
const SIDECAR_NAME_MAX: usize = 51;
/// Suffixes Google gives edited copies, by export language.
const EDITED: [&str; 6] = [
    "-edited",
    "-bearbeitet",
    "-modifié",
    "-editado",
    "-modificato",
    "-bewerkt",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    title: Option<String>,
    description: Option<String>,
    photo_taken_time: Option<Time>,
    geo_data: Option<Geo>,
}

#[derive(Deserialize)]
struct Time {
    timestamp: String,
}

#[derive(Deserialize)]
struct Geo {
    latitude: f64,
    longitude: f64,
}

/// A sidecar read from its JSON: the photo title it names and what it says; `None` for JSON
/// that is not a photo's sidecar (album metadata, print orders).
pub fn parse(json: &[u8]) -> Option<(String, Sidecar)> {
    let raw: Raw = serde_json::from_slice(json).ok()?;
    let title = raw.title?;
    raw.photo_taken_time.as_ref()?;
    let taken_at = raw
        .photo_taken_time
        .and_then(|t| t.timestamp.parse::<i64>().ok())
        .filter(|s| *s > 0)
        .map(|s| s * 1000);
    let location = raw
        .geo_data
        // Google writes 0, 0 when it did not know.
        .filter(|g| g.latitude != 0.0 || g.longitude != 0.0)
        .filter(|g| g.latitude.abs() <= 90.0 && g.longitude.abs() <= 180.0)
        .map(|g| (g.latitude, g.longitude));
    let description = raw
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    Some((
        title,
        Sidecar {
            taken_at,
            location,
            description,
        },
    ))
}

/// The album title in a folder's `metadata.json`, if it is one.
pub fn album_title(json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Album {
        title: String,
    }
    let album: Album = serde_json::from_slice(json).ok()?;
    let title = album.title.trim();
    (!title.is_empty()).then(|| title.to_owned())
}

/// Whether a Takeout folder holds a year of photos (`Photos from 2019`) rather than an album.
pub fn is_year_folder(name: &str) -> bool {
    name.strip_prefix("Photos from ")
        .is_some_and(|year| year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a JSON file in a folder is the folder's album metadata rather than a sidecar.
pub fn is_album_metadata(name: &str) -> bool {
    name == "metadata.json" || (name.starts_with("metadata(") && name.ends_with(").json"))
}

/// The sidecars of one folder, by file name, matched to its photos.
#[derive(Default)]
pub struct Sidecars {
    /// Sidecar file name -> (photo title, what it says).
    by_file: HashMap<String, (String, Sidecar)>,
}

impl Sidecars {
    /// Adds the sidecar in file `name` (ignored when it is not a photo's sidecar).
    pub fn add(&mut self, name: &str, json: &[u8]) {
        if let Some(parsed) = parse(json) {
            self.by_file.insert(name.to_owned(), parsed);
        }
    }

    /// The sidecar of the photo in file `name`, if Google wrote one.
    pub fn of(&self, name: &str) -> Option<&Sidecar> {
        let titled = |title: &str| -> Vec<_> {
            self.by_file
                .iter()
                .filter(|(_, (t, _))| t == title)
                .collect()
        };
        if let Some(exact) = shortest(titled(name)) {
            return Some(exact);
        }
        // A same-named photo's sidecar carries its number; an edited copy has its original's.
        let (base, number) = split_number(name);
        let wanted = |file: &str| match number {
            Some(n) => file.ends_with(&format!("({n}).json")),
            None => !file.ends_with(").json"),
        };
        let original = unedited(&base);
        let matching = titled(&original)
            .into_iter()
            .filter(|(file, _)| wanted(file))
            .collect();
        if let Some(found) = shortest(matching) {
            return Some(found);
        }
        // A title Google changed: the sidecar's name is the photo's, cut short.
        let cut = self
            .by_file
            .iter()
            .filter(|(file, _)| {
                let stem = file.trim_end_matches(".json");
                let stem = stem.split(".supplemental-metadata").next().unwrap_or(stem);
                stem.len() >= SIDECAR_NAME_MAX - 7 && name.starts_with(stem) && wanted(file)
            })
            .collect();
        shortest(cut)
    }
}

/// The sidecar with the shortest file name among `found`.
fn shortest<'a>(found: Vec<(&'a String, &'a (String, Sidecar))>) -> Option<&'a Sidecar> {
    found
        .into_iter()
        .min_by_key(|(file, _)| file.len())
        .map(|(_, (_, sidecar))| sidecar)
}

/// `IMG(1).jpg` -> (`IMG.jpg`, Some(1)); other names are returned as they are.
fn split_number(name: &str) -> (String, Option<u32>) {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    if let Some(open) = stem.rfind('(')
        && stem.ends_with(')')
        && let Ok(n) = stem[open + 1..stem.len() - 1].parse::<u32>()
    {
        return (format!("{}{ext}", &stem[..open]), Some(n));
    }
    (name.to_owned(), None)
}

/// `IMG-edited.jpg` -> `IMG.jpg`: an edited copy is described by its original's sidecar.
fn unedited(name: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    EDITED
        .iter()
        .find_map(|suffix| stem.strip_suffix(suffix))
        .map_or_else(|| name.to_owned(), |original| format!("{original}{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecar(title: &str, taken: i64) -> Vec<u8> {
        serde_json::json!({
            "title": title,
            "description": "",
            "photoTakenTime": { "timestamp": taken.to_string(), "formatted": "" },
            "geoData": { "latitude": 0.0, "longitude": 0.0, "altitude": 0.0 },
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_sidecar_says_when_where_and_what() {
        let json = br#"{"title":"IMG_1.jpg","description":" Grandma's garden ",
            "photoTakenTime":{"timestamp":"1557662533","formatted":"12 May 2019"},
            "geoData":{"latitude":48.8584,"longitude":2.2945,"altitude":30.0}}"#;
        let (title, sidecar) = parse(json).unwrap();
        assert_eq!(title, "IMG_1.jpg");
        assert_eq!(sidecar.taken_at, Some(1_557_662_533_000));
        assert_eq!(sidecar.location, Some((48.8584, 2.2945)));
        assert_eq!(sidecar.description.as_deref(), Some("Grandma's garden"));
        let (_, nowhere) = parse(&sidecar_of_zero()).unwrap();
        assert_eq!(nowhere.location, None);
        assert_eq!(parse(br#"{"title":"Summer","access":"private"}"#), None);
        assert_eq!(parse(b"not json"), None);
    }

    fn sidecar_of_zero() -> Vec<u8> {
        sidecar("x.jpg", 1)
    }

    #[test]
    fn photos_find_their_sidecars_the_ways_google_names_them() {
        let mut folder = Sidecars::default();
        folder.add("IMG_1.jpg.json", &sidecar("IMG_1.jpg", 100));
        folder.add("IMG_1.jpg(1).json", &sidecar("IMG_1.jpg", 200));
        folder.add(
            "IMG_2.jpg.supplemental-metadata.json",
            &sidecar("IMG_2.jpg", 300),
        );
        let long = "a-very-long-file-name-from-a-phone-camera-app-2019-05-12.jpg";
        let cut = format!("{}.json", &long[..SIDECAR_NAME_MAX - 5]);
        folder.add(&cut, &sidecar("renamed by google.jpg", 400));
        folder.add("metadata.json", br#"{"title":"Album"}"#);
        folder.add("Photo(1).jpg.json", &sidecar("Photo(1).jpg", 500));
        let taken = |name: &str| folder.of(name).and_then(|s| s.taken_at);
        assert_eq!(taken("IMG_1.jpg"), Some(100_000));
        assert_eq!(taken("IMG_1(1).jpg"), Some(200_000));
        assert_eq!(taken("IMG_1-edited.jpg"), Some(100_000));
        assert_eq!(taken("IMG_2.jpg"), Some(300_000));
        assert_eq!(taken(long), Some(400_000));
        assert_eq!(
            taken("Photo(1).jpg"),
            Some(500_000),
            "a name with a number of its own"
        );
        assert_eq!(taken("IMG_3.jpg"), None);
    }

    #[test]
    fn year_folders_and_album_metadata_are_told_apart() {
        assert!(is_year_folder("Photos from 2019"));
        assert!(!is_year_folder("Photos from Rome"));
        assert!(!is_year_folder("Summer 2019"));
        assert!(is_album_metadata("metadata.json"));
        assert!(is_album_metadata("metadata(1).json"));
        assert!(!is_album_metadata("IMG_1.jpg.json"));
        assert_eq!(
            album_title(br#"{"title":" Rome 2019 ","description":""}"#).as_deref(),
            Some("Rome 2019")
        );
    }
}
