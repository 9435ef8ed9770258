//! The timeline in day buckets: the bucket list lays out the whole grid, a bucket's lean items
//! fill the days in view. Both take the file list's filters (never the trash) and `tz`, the
//! client's offset from UTC in minutes, so days are the client's days.

use http::Response;
use schemars::JsonSchema;
use serde::Serialize;

use super::bodies::Items;
use super::files::list_filter;
use super::search::utc_offset;
use super::state::ApiState;
use crate::calendar;
use crate::db::now_ms;
use crate::files::ListFilter;
use crate::files::timeline::{self, Bucket, Item, Period};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};

/// Every day (or month) of the timeline, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Buckets {
    pub buckets: Vec<Bucket>,
}

/// The files taken on this day in earlier years.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Memories {
    /// Newest year first; years without files are left out.
    pub years: Vec<MemoryYear>,
}

/// One earlier year's files of this day.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryYear {
    pub year: i64,
    pub years_ago: i64,
    pub items: Vec<Item>,
}

/// The filter and the client's offset from UTC of a timeline request.
fn filter_and_offset(ctx: &Ctx) -> ApiResult<(ListFilter, i64)> {
    let filter = ListFilter {
        trashed: false,
        ..list_filter(ctx)?
    };
    let offset = utc_offset(ctx)?;
    Ok((filter, offset))
}

/// `GET /api/libraries/{library}/timeline/buckets`, per day or (`size=month`) per month.
pub async fn buckets(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let (filter, offset) = filter_and_offset(ctx)?;
    let period = match ctx.query_param("size") {
        Some(size) => Period::parse(&size).ok_or_else(|| {
            ApiError::BadRequest(format!("size `{size}` is not `day` or `month`"))
        })?,
        None => Period::Day,
    };
    let mut conn = app.db.conn().await?;
    let library = ctx.library_id()?;
    let buckets = timeline::buckets(&mut conn, &library, &filter, offset, period).await?;
    Ok(response::ok(&Buckets { buckets }))
}

/// `GET /api/libraries/{library}/timeline/bucket/{day}`: the lean items of a day (`YYYY-MM-DD`)
/// or a month (`YYYY-MM`).
pub async fn bucket(app: &ApiState, ctx: &Ctx, key: &str) -> ApiResult<Response<Body>> {
    let days = timeline::bucket_days(key).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{key}` is not a day (YYYY-MM-DD) or a month (YYYY-MM)"
        ))
    })?;
    let (filter, offset) = filter_and_offset(ctx)?;
    let mut conn = app.db.conn().await?;
    let items =
        timeline::bucket_items(&mut conn, &ctx.library_id()?, &filter, offset, days).await?;
    Ok(response::ok(&Items { items }))
}

/// `GET /api/libraries/{library}/memories`: "on this day", for today on the client's calendar
/// (`tz`) or for `day` (`YYYY-MM-DD`, its year ignored but for leap days).
pub async fn memories(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let offset = utc_offset(ctx)?;
    let today = match ctx.query_param("day") {
        Some(day) => calendar::parse_day_key(&day)
            .ok_or_else(|| ApiError::BadRequest(format!("`{day}` is not a day: YYYY-MM-DD")))?,
        None => (now_ms() + offset * 60_000).div_euclid(calendar::DAY_MS),
    };
    let this_year = calendar::civil_from_days(today).0;
    let mut conn = app.db.conn().await?;
    let years = timeline::on_this_day(&mut conn, &ctx.library_id()?, offset, today)
        .await?
        .into_iter()
        .map(|(year, items)| MemoryYear {
            year,
            years_ago: this_year - year,
            items,
        })
        .collect();
    Ok(response::ok(&Memories { years }))
}
