//! The timeline in day buckets, as Immich lays it out: per day (or month, for very long
//! timelines) the number of files and their aspect ratios (enough for a client to lay out the
//! whole grid before loading any file), and one bucket's lean items. Days are the client's calendar days: times are shifted by its offset
//! from UTC before they are cut into days.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use super::{
    ListFilter, MediaKind, coalesce, contains_pattern, duplicated_hashes, lower, narrowed,
};
use crate::calendar::{self, DAY_MS};
use crate::db::Conn;
use crate::db::schema::{audio_events, faces, file_labels, files, people, transcript_segments};
use crate::error::Result;
use crate::jobs::store;
use crate::jobs::{JobKind, JobStatus};
use crate::with_conn;

/// One day (or month) of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Bucket {
    /// The day, `YYYY-MM-DD`, or with `size=month` the month, `YYYY-MM`.
    pub day: String,
    pub count: usize,
    /// Width over height of each file of the bucket (upright; 1 when not known yet), in the
    /// order of the bucket's items.
    pub ratios: Vec<f32>,
}

/// A file as the timeline grid needs it; the full view stays on the file's own route.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: String,
    pub kind: MediaKind,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
    /// When it was taken (when it arrived, until its metadata is read), in ms.
    pub taken_at: i64,
    /// A ThumbHash of the picture (base64), to show while the thumbnail loads.
    pub thumbhash: Option<String>,
    /// The version of its thumbnails, for the thumbnail URL's `v` (cached for good with it).
    pub thumb_version: Option<i32>,
    /// Some of its jobs are still to run.
    pub processing: bool,
    /// Another live original in the library has the same bytes.
    pub is_duplicate: bool,
}

/// Whole minutes east of UTC a client may be at.
pub const MAX_OFFSET_MINUTES: i64 = 14 * 60;

/// Files whose jobs and hashes are looked up in one query (well under both backends' limits
/// on bound parameters).
const LOOKUP_CHUNK: usize = 2000;

/// How much of the calendar one bucket holds: a day, or a month for very long timelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    /// `day` or `month`.
    pub fn parse(text: &str) -> Option<Period> {
        match text {
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The first day of the period holding `day` (days since the epoch).
    fn start(self, day: i64) -> i64 {
        match self {
            Period::Day => day,
            Period::Month => calendar::month_start(day),
        }
    }

    /// The key of the bucket starting on day `start`.
    fn key(self, start: i64) -> String {
        match self {
            Period::Day => calendar::day_key(start),
            Period::Month => calendar::month_key(start),
        }
    }
}

/// The days a bucket key covers: its first day and the first day after it; `YYYY-MM-DD` is a
/// day, `YYYY-MM` a month.
pub fn bucket_days(key: &str) -> Option<(i64, i64)> {
    calendar::parse_day_key(key)
        .map(|day| (day, day + 1))
        .or_else(|| calendar::parse_month_key(key))
}

/// The days (or months) of a library's live originals that match `filter`, newest first;
/// `offset_minutes` is the client's offset from UTC.
pub async fn buckets(
    conn: &mut Conn,
    library_id: &str,
    filter: &ListFilter,
    offset_minutes: i64,
    period: Period,
) -> Result<Vec<Bucket>> {
    let pattern = filter.search.as_deref().map(contains_pattern);
    let rows: Vec<(i64, Option<i32>, Option<i32>)> = with_conn!(conn, c => {
        let taken = coalesce(files::captured_at, files::created_at);
        let query = files::table
            .filter(files::library_id.eq(library_id))
            .filter(files::source_file_id.is_null())
            .select((taken, files::width, files::height))
            .order((taken.desc(), files::id.desc()))
            .into_boxed();
        narrowed!(query, filter, &pattern).load(c).await
    })?;
    let shift = offset_minutes * 60_000;
    let mut out: Vec<(i64, Bucket)> = Vec::new();
    for (taken, width, height) in rows {
        let start = period.start((taken + shift).div_euclid(DAY_MS));
        if out.last().is_none_or(|(s, _)| *s != start) {
            let bucket = Bucket {
                day: period.key(start),
                count: 0,
                ratios: Vec::new(),
            };
            out.push((start, bucket));
        }
        let (_, bucket) = out.last_mut().expect("pushed above");
        bucket.count += 1;
        bucket.ratios.push(ratio(width, height));
    }
    Ok(out.into_iter().map(|(_, b)| b).collect())
}

/// Width over height to three decimals; 1 when either is unknown or zero.
fn ratio(width: Option<i32>, height: Option<i32>) -> f32 {
    match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w as f32 / h as f32 * 1000.0).round() / 1000.0,
        _ => 1.0,
    }
}

/// The items of a bucket, from its first day to the first day after it (days since the epoch,
/// on the client's calendar; see [`bucket_days`]), in the order of its bucket's ratios.
pub async fn bucket_items(
    conn: &mut Conn,
    library_id: &str,
    filter: &ListFilter,
    offset_minutes: i64,
    (first, end): (i64, i64),
) -> Result<Vec<Item>> {
    let pattern = filter.search.as_deref().map(contains_pattern);
    let shift = offset_minutes * 60_000;
    let (start, end) = (first * DAY_MS - shift, end * DAY_MS - shift);
    let rows: Vec<LeanRow> = with_conn!(conn, c => {
        let taken = coalesce(files::captured_at, files::created_at);
        let query = files::table
            .filter(files::library_id.eq(library_id))
            .filter(files::source_file_id.is_null())
            .filter(taken.ge(start).and(taken.lt(end)))
            .select(lean_columns())
            .order((taken.desc(), files::id.desc()))
            .into_boxed();
        narrowed!(query, filter, &pattern).load(c).await
    })?;
    lean_items(conn, library_id, rows).await
}

/// A lean item's columns of `files`: id, kind, width, height, duration, taken, ThumbHash and
/// SHA-256.
pub type LeanRow = (
    String,
    String,
    Option<i32>,
    Option<i32>,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
);

/// The select clause of a [`LeanRow`].
#[diesel::dsl::auto_type]
pub fn lean_columns() -> _ {
    let taken: coalesce<files::captured_at, files::created_at> =
        coalesce(files::captured_at, files::created_at);
    (
        files::id,
        files::kind,
        files::width,
        files::height,
        files::duration_ms,
        taken,
        files::thumbhash,
        files::sha256,
    )
}

/// The lean items of `rows` (files of one library), in their order, with their job and
/// duplicate facts.
pub async fn lean_items(
    conn: &mut Conn,
    library_id: &str,
    rows: Vec<LeanRow>,
) -> Result<Vec<Item>> {
    // Job and duplicate facts in chunks: a day of a scanned archive may hold thousands.
    let mut duplicated = HashSet::new();
    let mut facts: HashMap<String, (bool, Option<i32>)> = HashMap::new();
    for chunk in rows.chunks(LOOKUP_CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|r| r.0.clone()).collect();
        let hashes: Vec<String> = chunk.iter().filter_map(|r| r.7.clone()).collect();
        duplicated.extend(duplicated_hashes(conn, library_id, &hashes).await?);
        for job in store::states_of(conn, &ids).await? {
            let (processing, thumbs) = facts.entry(job.file_id).or_default();
            *processing |= matches!(job.status, JobStatus::Queued | JobStatus::Processing);
            if job.kind == JobKind::Thumbnails && job.status == JobStatus::Done {
                *thumbs = job.done_version;
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, kind, width, height, duration_ms, taken_at, thumbhash, sha256)| {
                let (processing, thumb_version) = facts.get(&id).copied().unwrap_or_default();
                Item {
                    kind: MediaKind::parse(&kind).unwrap_or(MediaKind::Other),
                    is_duplicate: sha256.is_some_and(|h| duplicated.contains(&h)),
                    id,
                    width,
                    height,
                    duration_ms,
                    taken_at,
                    thumbhash,
                    thumb_version,
                    processing,
                }
            },
        )
        .collect())
}

/// Files taken on the same calendar day as `today` (days since the epoch, on the client's
/// calendar) in earlier years, newest year first: (year, items) for each year that has some.
/// A 29 February is remembered only in leap years.
pub async fn on_this_day(
    conn: &mut Conn,
    library_id: &str,
    offset_minutes: i64,
    today: i64,
) -> Result<Vec<(i64, Vec<Item>)>> {
    let first: Option<i64> = with_conn!(conn, c => files::table
        .filter(super::live_original_of(library_id))
        .select(diesel::dsl::min(coalesce(files::captured_at, files::created_at)))
        .first(c)
        .await)?;
    let Some(first) = first else {
        return Ok(Vec::new());
    };
    let (year, month, day) = calendar::civil_from_days(today);
    let first_year =
        calendar::civil_from_days((first + offset_minutes * 60_000).div_euclid(DAY_MS)).0;
    let filter = ListFilter::default();
    let mut out = Vec::new();
    for earlier in (first_year..year).rev() {
        let days = calendar::days_from_civil(earlier, month, day);
        if calendar::civil_from_days(days) != (earlier, month, day) {
            continue;
        }
        let items =
            bucket_items(conn, library_id, &filter, offset_minutes, (days, days + 1)).await?;
        if !items.is_empty() {
            out.push((earlier, items));
        }
    }
    Ok(out)
}
