//! Where files were taken: each file's GPS position (from EXIF or an import's sidecar, kept in
//! `files.latitude`/`longitude`), the map's clusters computed in the database on a grid that
//! follows the zoom level, and the box that search filters by.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Text};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use crate::db::Conn;
use crate::error::Result;
use crate::with_conn;

/// A box on the map, in degrees; `west` is greater than `east` when it crosses the 180th
/// meridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl Area {
    /// Parses `west,south,east,north`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Area, String> {
        let numbers: Vec<f64> = text
            .split(',')
            .map(|n| n.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{text}` is not a box: west,south,east,north in degrees"))?;
        let [west, south, east, north] = numbers[..] else {
            return Err(format!(
                "`{text}` is not a box: west,south,east,north in degrees"
            ));
        };
        let longitude = |x: f64| (-180.0..=180.0).contains(&x);
        let latitude = |y: f64| (-90.0..=90.0).contains(&y);
        if !(longitude(west) && longitude(east) && latitude(south) && latitude(north)) {
            return Err(format!(
                "`{text}`: longitudes are -180 to 180 and latitudes -90 to 90"
            ));
        }
        if south > north {
            return Err(format!(
                "`{text}`: the south edge is north of the north edge"
            ));
        }
        Ok(Area {
            west,
            south,
            east,
            north,
        })
    }

    /// The SQL condition (on `files.`) of being inside, with the numbers written in: they are
    /// parsed floats, so this is safe.
    pub fn sql(&self) -> String {
        let longitude = if self.west <= self.east {
            format!("files.longitude BETWEEN {} AND {}", self.west, self.east)
        } else {
            format!(
                "(files.longitude >= {} OR files.longitude <= {})",
                self.west, self.east
            )
        };
        format!(
            "files.latitude BETWEEN {} AND {} AND {longitude}",
            self.south, self.north
        )
    }
}

/// Files taken close together, as one marker.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema, QueryableByName)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// How many files.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
    /// Their mean position.
    #[diesel(sql_type = Double)]
    pub latitude: f64,
    #[diesel(sql_type = Double)]
    pub longitude: f64,
    /// The box holding them all, for listing them (`bbox` of the search).
    #[diesel(sql_type = Double)]
    pub west: f64,
    #[diesel(sql_type = Double)]
    pub south: f64,
    #[diesel(sql_type = Double)]
    pub east: f64,
    #[diesel(sql_type = Double)]
    pub north: f64,
    /// The newest file taken there.
    #[diesel(sql_type = Text)]
    pub cover_id: String,
}

/// Deepest zoom level (as web maps count them: the world is 2^zoom tiles wide).
pub const MAX_ZOOM: u32 = 22;
/// Grid cells per map tile: clusters are about 32 pixels of a 256-pixel tile apart.
const CELLS_PER_TILE: f64 = 8.0;
/// Most clusters answered, the largest first.
const MOST_CLUSTERS: i64 = 2000;

/// The clusters of the library's live originals inside `area` at `zoom`: files in one cell of
/// a grid as wide as [`CELLS_PER_TILE`] cells per tile at that zoom, grouped by the database.
pub async fn clusters(
    conn: &mut Conn,
    library_id: &str,
    area: &Area,
    zoom: u32,
) -> Result<Vec<Cluster>> {
    let cell = 360.0 / f64::from(1u32 << zoom.min(MAX_ZOOM)) / CELLS_PER_TILE;
    // Positions shifted to be positive, so that truncation is the floor on both backends.
    let (row, column) = match conn {
        Conn::Pg(_) => (
            format!("floor((files.latitude + 90) / {cell})"),
            format!("floor((files.longitude + 180) / {cell})"),
        ),
        Conn::Sqlite(_) => (
            format!("CAST((files.latitude + 90) / {cell} AS INTEGER)"),
            format!("CAST((files.longitude + 180) / {cell} AS INTEGER)"),
        ),
    };
    // The newest file of a cell: the largest of taken time (zero-padded) and id, cut after.
    let newest = match conn {
        Conn::Pg(_) => {
            "lpad(COALESCE(files.captured_at, files.created_at)::text, 20, '0') || files.id"
        }
        Conn::Sqlite(_) => {
            "printf('%020d', COALESCE(files.captured_at, files.created_at)) || files.id"
        }
    };
    let sql = format!(
        "SELECT count(*) AS count, avg(files.latitude) AS latitude, \
         avg(files.longitude) AS longitude, min(files.longitude) AS west, \
         min(files.latitude) AS south, max(files.longitude) AS east, \
         max(files.latitude) AS north, substr(max({newest}), 21) AS cover_id \
         FROM files WHERE files.library_id = $1 AND files.source_file_id IS NULL \
         AND files.trashed_at IS NULL AND files.latitude IS NOT NULL AND {inside} \
         GROUP BY {row}, {column} ORDER BY count DESC, cover_id LIMIT {MOST_CLUSTERS}",
        inside = area.sql(),
    );
    let sql = match conn {
        Conn::Pg(_) => sql,
        Conn::Sqlite(_) => sql.replace("$1", "?"),
    };
    let clusters = with_conn!(conn, c => diesel::sql_query(&sql)
        .bind::<Text, _>(library_id)
        .load::<Cluster>(c)
        .await)?;
    Ok(clusters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_parse_and_say_what_is_wrong() {
        let area = Area::parse("170,-10,-170,10.5").unwrap();
        assert_eq!((area.west, area.north), (170.0, 10.5));
        assert!(area.sql().contains(" OR "), "crosses the 180th meridian");
        assert!(
            Area::parse("1,2,3")
                .unwrap_err()
                .contains("west,south,east,north")
        );
        assert!(
            Area::parse("0,0,200,1")
                .unwrap_err()
                .contains("-180 to 180")
        );
        assert!(Area::parse("0,5,1,4").unwrap_err().contains("south edge"));
        assert!(Area::parse("a,b,c,d").is_err());
    }
}
