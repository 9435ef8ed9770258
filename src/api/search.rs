//! `GET /api/libraries/{library}/search`: the search box's query (`q`, see
//! [`crate::search::query`]) and the same filters as query parameters (`person`, `label`,
//! `sound`, `camera`, `folder`, `kind`, `after`, `before`, `has`, `is`), in pages.

use http::Response;

use super::bodies::Page;
use super::state::ApiState;
use crate::files::timeline::MAX_OFFSET_MINUTES;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::search::find::{self, Found};
use crate::search::query::Query;

/// Results per page unless `limit` says otherwise, and the most it may say.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

/// Query parameters that are filters, as in the query language.
const FILTERS: [&str; 13] = [
    "person", "label", "sound", "word", "within", "camera", "folder", "kind", "after", "before",
    "has", "is", "bbox",
];

/// The client's offset from UTC in minutes (`tz`), 0 when not given.
pub(super) fn utc_offset(ctx: &Ctx) -> ApiResult<i64> {
    match ctx.query_param("tz") {
        Some(tz) => tz
            .parse::<i64>()
            .ok()
            .filter(|m| m.abs() <= MAX_OFFSET_MINUTES)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "tz must be minutes east of UTC, at most {MAX_OFFSET_MINUTES} either way"
                ))
            }),
        None => Ok(0),
    }
}

/// `GET /api/libraries/{library}/search`.
pub async fn search(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let mut query = Query::parse(&ctx.query_param("q").unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(format!("q: {e}")))?;
    for (key, value) in ctx.query() {
        if FILTERS.contains(&key.as_str()) {
            query.apply(&key, value).map_err(ApiError::BadRequest)?;
        }
    }
    query.validate().map_err(ApiError::BadRequest)?;
    if query.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to look for: give q or a filter".into(),
        ));
    }
    let offset = utc_offset(ctx)?;
    let limit = ctx.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let after = ctx.cursor()?;
    let mut conn = app.db.conn().await?;
    let words: Vec<String> = query.terms.iter().map(|t| t.join(" ")).collect();
    let close = match words.is_empty() {
        true => None,
        false => {
            let (models, text) = (app.config.models_dir(), words.join(" "));
            app.meaning.close_to(&mut conn, &models, &text).await?
        }
    };
    let (items, next) = find::find(
        &mut conn,
        &ctx.library_id()?,
        &query,
        offset,
        close.as_deref(),
        after.as_ref(),
        limit,
    )
    .await?;
    Ok(response::ok(&Page::<Found> {
        items,
        next_cursor: next.map(|c| c.encode()),
    }))
}
