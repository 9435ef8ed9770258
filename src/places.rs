//! Place names for GPS positions, offline: the nearest town of GeoNames' cities1000 (every town
//! of at least 1,000 people, with its region), and its country, from the manifest's `places`
//! data (installed like a model). Looked up by the metadata stage, shown in the viewer and
//! indexed for search.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;

use crate::app::App;
use crate::db::schema::files;
use crate::error::{Error, Result};
use crate::ml::MlError;
use crate::ml::models::{self, Lazy, ModelSpec, read_labels, weights_path};
use crate::with_conn;

/// The manifest's name of the towns and countries.
pub const DATA: &str = "places";
/// Farthest a town may be from a position to name it, in km: out at sea or in a desert,
/// no name is better than a wrong one.
const MAX_DISTANCE_KM: f64 = 100.0;
/// Mean radius of the Earth, in km.
const EARTH_RADIUS_KM: f64 = 6371.0;
/// Files named per round of [`name_missing`].
const BACKFILL_BATCH: i64 = 500;
/// Largest file the town list may inflate to, against a corrupt or hostile install.
const MOST_BYTES: u64 = 256 << 20;

/// One town of the list.
struct Town {
    latitude: f32,
    longitude: f32,
    name: Box<str>,
    /// Index into [`Gazetteer::regions`].
    region: u32,
    country: [u8; 2],
}

/// The towns of the world on a grid of one-degree cells, for finding the nearest.
pub struct Gazetteer {
    towns: Vec<Town>,
    /// Region names, each once.
    regions: Vec<String>,
    /// Country names by ISO 3166 code.
    countries: HashMap<[u8; 2], String>,
    /// Towns by cell: (floor of latitude, floor of longitude).
    cells: HashMap<(i16, i16), Vec<u32>>,
}

/// A town as the data lists it (`geocode.gz`, a JSON array).
#[derive(Deserialize)]
struct Listed {
    country_code: String,
    city: String,
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    state: Option<String>,
}

static GAZETTEER: Lazy<Gazetteer> = Lazy::new();

/// The towns from `dir`, loaded on first use. Blocking.
pub fn gazetteer(dir: &Path) -> Result<Arc<Gazetteer>, MlError> {
    GAZETTEER.get(dir, DATA, Gazetteer::load)
}

/// The name of the place at `position` (latitude, longitude) as "town, region, country", or
/// `None` when no town is near or the data is not installed.
pub async fn name_at(dir: &Path, position: (f64, f64)) -> Option<String> {
    models::require(dir, DATA).ok()?;
    let dir = dir.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        gazetteer(&dir).map(|g| g.name_at(position.0, position.1))
    })
    .await;
    match found {
        Ok(Ok(name)) => name,
        Ok(Err(e)) => {
            tracing::warn!("naming places: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("naming places crashed: {e}");
            None
        }
    }
}

/// Names the places of the files that have a position but no name (read before the data was
/// installed, or with no town near), in rounds, and refreshes their search documents; returns
/// how many got a name. Does nothing without the data.
pub async fn name_missing(app: &App) -> Result<usize> {
    let dir = app.config.models_dir();
    if models::require(&dir, DATA).is_err() {
        return Ok(0);
    }
    let mut named = 0;
    let mut after = String::new();
    loop {
        let mut conn = app.db.conn().await?;
        let conn = &mut conn;
        let rows: Vec<(String, f64, f64)> = with_conn!(conn, c => files::table
            .filter(files::place.is_null())
            .filter(files::latitude.is_not_null())
            .filter(files::longitude.is_not_null())
            .filter(files::id.gt(&after))
            .order(files::id)
            .select((files::id, files::latitude.assume_not_null(), files::longitude.assume_not_null()))
            .limit(BACKFILL_BATCH)
            .load(c)
            .await)?;
        let Some((last, _, _)) = rows.last() else {
            return Ok(named);
        };
        after = last.clone();
        let data = dir.clone();
        type Named = (String, (f64, f64), String);
        let names: Vec<Named> = tokio::task::spawn_blocking(move || {
            let places = gazetteer(&data)?;
            Ok::<_, MlError>(
                rows.into_iter()
                    .filter_map(|(id, lat, lon)| Some((id, (lat, lon), places.name_at(lat, lon)?)))
                    .collect(),
            )
        })
        .await
        .map_err(|e| Error::Internal(format!("naming places crashed: {e}")))?
        .map_err(|e| Error::Internal(format!("naming places: {e}")))?;
        let mut ids = Vec::new();
        for (id, (latitude, longitude), name) in names {
            // Only where the metadata stage has not named it, or moved it, meanwhile.
            let updated = with_conn!(conn, c => diesel::update(files::table
                .find(&id)
                .filter(files::place.is_null())
                .filter(files::latitude.eq(latitude))
                .filter(files::longitude.eq(longitude)))
                .set(files::place.eq(name))
                .execute(c)
                .await)?;
            if updated > 0 {
                ids.push(id);
            }
        }
        crate::search::refresh(conn, &ids).await?;
        named += ids.len();
    }
}

impl Gazetteer {
    fn load(dir: &Path, spec: &ModelSpec) -> Result<Gazetteer, String> {
        let file = std::fs::File::open(weights_path(dir, spec)).map_err(|e| e.to_string())?;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(file)
            .take(MOST_BYTES)
            .read_to_end(&mut json)
            .map_err(|e| format!("{}: {e}", spec.file))?;
        let listed: Vec<Listed> =
            serde_json::from_slice(&json).map_err(|e| format!("{}: {e}", spec.file))?;
        drop(json);
        let countries = read_labels(dir, spec)?
            .iter()
            .filter_map(|line| {
                let (code, name) = line.split_once(',')?;
                Some((code_of(code)?, name.trim().trim_matches('"').to_owned()))
            })
            .collect();
        Ok(Gazetteer::new(listed, countries))
    }

    fn new(listed: Vec<Listed>, countries: HashMap<[u8; 2], String>) -> Gazetteer {
        let mut gazetteer = Gazetteer {
            towns: Vec::with_capacity(listed.len()),
            regions: Vec::new(),
            countries,
            cells: HashMap::new(),
        };
        let mut region_ids: HashMap<String, u32> = HashMap::new();
        for town in listed {
            let on_earth = (-90.0..=90.0).contains(&town.latitude)
                && (-180.0..=180.0).contains(&town.longitude);
            let Some(country) = code_of(&town.country_code).filter(|_| on_earth) else {
                continue;
            };
            let region = town.state.unwrap_or_default();
            let next = region_ids.len() as u32;
            let region = *region_ids.entry(region.clone()).or_insert_with(|| {
                gazetteer.regions.push(region);
                next
            });
            let index = gazetteer.towns.len() as u32;
            gazetteer
                .cells
                .entry(cell_of(town.latitude, town.longitude))
                .or_default()
                .push(index);
            gazetteer.towns.push(Town {
                latitude: town.latitude as f32,
                longitude: town.longitude as f32,
                name: town.city.into_boxed_str(),
                region,
                country,
            });
        }
        gazetteer
    }

    /// "Town, region, country" of the town nearest to (latitude, longitude), without repeats
    /// ("Andorra la Vella, Andorra"); `None` when none is within [`MAX_DISTANCE_KM`].
    pub fn name_at(&self, latitude: f64, longitude: f64) -> Option<String> {
        let town = &self.towns[self.nearest(latitude, longitude)?];
        let country = std::str::from_utf8(&town.country).unwrap_or_default();
        let parts = [
            &*town.name,
            self.regions[town.region as usize].as_str(),
            self.countries
                .get(&town.country)
                .map_or(country, String::as_str),
        ];
        let mut name: Vec<&str> = Vec::new();
        for part in parts {
            if !part.is_empty() && name.last() != Some(&part) {
                name.push(part);
            }
        }
        Some(name.join(", "))
    }

    /// The index of the town nearest to the position, looking through the cells that reach
    /// [`MAX_DISTANCE_KM`] around it (wider in longitude towards the poles).
    fn nearest(&self, latitude: f64, longitude: f64) -> Option<usize> {
        let angle = MAX_DISTANCE_KM / EARTH_RADIUS_KM;
        let reach = angle.to_degrees();
        // How far in longitude a circle of that radius reaches; all the way round when it
        // holds a pole.
        let (sin_angle, cos_latitude) = (angle.sin(), latitude.to_radians().cos());
        let wide = if cos_latitude <= sin_angle {
            180.0
        } else {
            (sin_angle / cos_latitude).asin().to_degrees()
        };
        let rows = (latitude - reach).max(-90.0).floor() as i32
            ..=(latitude + reach).min(90.0).floor() as i32;
        let columns = (longitude - wide).floor() as i32..=(longitude + wide).floor() as i32;
        let mut best: Option<(usize, f64)> = None;
        for row in rows {
            for column in columns.clone() {
                // Columns past the 180th meridian come round the other side.
                let column = (column + 180).rem_euclid(360) - 180;
                let Some(towns) = self.cells.get(&(row as i16, column as i16)) else {
                    continue;
                };
                for &i in towns {
                    let town = &self.towns[i as usize];
                    let km = distance_km(
                        (latitude, longitude),
                        (f64::from(town.latitude), f64::from(town.longitude)),
                    );
                    if km <= MAX_DISTANCE_KM && best.is_none_or(|(_, b)| km < b) {
                        best = Some((i as usize, km));
                    }
                }
            }
        }
        best.map(|(i, _)| i)
    }
}

/// An ISO 3166 country code as two upper-case letters.
fn code_of(text: &str) -> Option<[u8; 2]> {
    let code: [u8; 2] = text.trim().as_bytes().try_into().ok()?;
    code.iter().all(u8::is_ascii_uppercase).then_some(code)
}

/// The one-degree cell of a position.
fn cell_of(latitude: f64, longitude: f64) -> (i16, i16) {
    let column = (longitude.floor() as i32 + 180).rem_euclid(360) - 180;
    (latitude.floor() as i16, column as i16)
}

/// Great-circle distance between two (latitude, longitude) positions, in km (haversine).
fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la, lb) = (a.0.to_radians(), b.0.to_radians());
    let d_lat = lb - la;
    let d_lon = (b.1 - a.1).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + la.cos() * lb.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn town(country: &str, city: &str, latitude: f64, longitude: f64, state: &str) -> Listed {
        Listed {
            country_code: country.into(),
            city: city.into(),
            latitude,
            longitude,
            state: Some(state.into()),
        }
    }

    fn sample() -> Gazetteer {
        let countries = [
            (*b"FR", "France"),
            (*b"FJ", "Fiji"),
            (*b"AD", "Andorra"),
            (*b"NO", "Norway"),
        ]
        .into_iter()
        .map(|(c, n)| (c, n.to_owned()))
        .collect();
        Gazetteer::new(
            vec![
                town("FR", "Paris", 48.85341, 2.3488, "Île-de-France"),
                town("FR", "Versailles", 48.80359, 2.13424, "Île-de-France"),
                town("FJ", "Levuka", -17.68333, 178.83333, "Eastern"),
                town("FJ", "Waiyevo", -16.78333, -179.98333, "Northern"),
                town(
                    "AD",
                    "Andorra la Vella",
                    42.50779,
                    1.52109,
                    "Andorra la Vella",
                ),
                town("XX1", "Nowhere", 0.0, 0.0, ""),
                town("NO", "Pole", 89.6, 0.0, "Svalbard"),
            ],
            countries,
        )
    }

    #[test]
    fn the_nearest_town_names_the_place() {
        let places = sample();
        let eiffel_tower = places.name_at(48.8584, 2.2945);
        assert_eq!(
            eiffel_tower.as_deref(),
            Some("Paris, Île-de-France, France")
        );
        let palace = places.name_at(48.8049, 2.1204);
        assert_eq!(palace.as_deref(), Some("Versailles, Île-de-France, France"));
        let andorra = places.name_at(42.51, 1.53);
        assert_eq!(andorra.as_deref(), Some("Andorra la Vella, Andorra"));
        // Across the 180th meridian: the point is east of it, Waiyevo 4 km away on the west.
        let taveuni = places.name_at(-16.8, 179.98);
        assert_eq!(taveuni.as_deref(), Some("Waiyevo, Northern, Fiji"));
        let levuka = places.name_at(-17.7, 178.8);
        assert_eq!(levuka.as_deref(), Some("Levuka, Eastern, Fiji"));
        // Across the North Pole, 89 km away on the other side of the world.
        let over_the_pole = places.name_at(89.6, 180.0);
        assert_eq!(over_the_pole.as_deref(), Some("Pole, Svalbard, Norway"));
        // Mid-Atlantic, and a town listed with a bad country code: no name.
        assert_eq!(places.name_at(30.0, -40.0), None);
        assert_eq!(places.name_at(0.0, 0.0), None);
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        let paris_versailles = distance_km((48.85341, 2.3488), (48.80359, 2.13424));
        assert!((paris_versailles - 16.8).abs() < 0.5, "{paris_versailles}");
        let across = distance_km((0.0, 179.9), (0.0, -179.9));
        assert!((across - 22.2).abs() < 0.5, "{across}");
        assert_eq!(cell_of(-0.5, 180.0), (-1, -180));
    }
}
