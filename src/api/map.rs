//! `GET /api/libraries/{library}/map`: the clusters of where the library's files were taken.

use http::Response;

use super::bodies::Items;
use super::state::ApiState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::map::{self, Area, MAX_ZOOM};

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
    Ok(response::ok(&Items { items }))
}
