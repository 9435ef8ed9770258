//! `GET /api/libraries/{library}/map`: the clusters of where the library's files were taken.

use http::Response;
use schemars::JsonSchema;
use serde::Serialize;

use super::state::ApiState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::map::{self, Area, Cluster, MAX_ZOOM};

/// The clusters in view, and where street-map tiles come from when the owner set a tile server.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MapView {
    pub items: Vec<Cluster>,
    /// The tile server's URL template, `…/{z}/{x}/{y}.png` (Web Mercator); `null` keeps the map
    /// offline, on the outlines bundled with the web UI.
    pub tile_url: Option<String>,
    /// The credit to show under the tiles.
    pub tile_attribution: Option<String>,
}

/// The whole world.
const WORLD: Area = Area {
    west: -180.0,
    south: -90.0,
    east: 180.0,
    north: 90.0,
};

/// `GET /api/libraries/{library}/map?bbox=…&zoom=…`.
pub async fn clusters(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let area = match ctx.query_param("bbox") {
        Some(bbox) => Area::parse(&bbox).map_err(|e| ApiError::BadRequest(format!("bbox: {e}")))?,
        None => WORLD,
    };
    let zoom = match ctx.query_param("zoom") {
        Some(zoom) => zoom
            .parse::<u32>()
            .ok()
            .filter(|z| *z <= MAX_ZOOM)
            .ok_or_else(|| ApiError::BadRequest(format!("zoom must be 0 to {MAX_ZOOM}")))?,
        None => 0,
    };
    let mut conn = app.db.conn().await?;
    let items = map::clusters(&mut conn, &ctx.library_id()?, &area, zoom).await?;
    let tiles = app.config.map_tile_url.as_ref();
    let attribution = &app.config.map_tile_attribution;
    Ok(response::ok(&MapView {
        items,
        tile_url: tiles.map(|t| t.template.clone()),
        tile_attribution: tiles
            .and(Some(attribution.trim()))
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
    }))
}
