//! Moments: named time ranges of a video or audio file, with a title, a description and tags.
//! A moment can be exported as a clip (re-encoded, so the cut is frame-accurate) by the file's
//! `moment_export` job; the clip is stored under a key that carries the moment's version, and
//! changing the range bumps the version and removes the old clip.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::db::schema::moments;
use crate::db::{Conn, Cursor, Db, now_ms};
use crate::error::{Error, Result};
use crate::files::{File, MediaKind};
use crate::jobs::{JobKind, store as job_store};
use crate::storage::BlobKey;
use crate::with_conn;

/// Longest title kept, in characters.
const MAX_TITLE: usize = 200;
/// Longest description kept, in characters.
const MAX_DESCRIPTION: usize = 5_000;
/// Most tags on one moment, and the longest tag.
const MAX_TAGS: usize = 50;
const MAX_TAG: usize = 64;

/// A moment row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = moments)]
#[diesel(treat_none_as_null = true)]
pub struct Moment {
    pub id: String,
    pub library_id: String,
    pub file_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub title: String,
    pub description: String,
    /// JSON array of strings.
    pub tags: String,
    pub version: i32,
    pub clip_wanted: bool,
    /// The version the stored clip was cut for (current when it equals `version`).
    pub clip_version: Option<i32>,
    pub clip_size: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a moment's clip stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClipState {
    /// No clip was asked for.
    None,
    /// Asked for; the file's `moment_export` job makes it.
    Pending,
    /// Cut for the current range.
    Ready,
}

/// A moment as the API shows it; times in seconds.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MomentView {
    pub id: String,
    pub library_id: String,
    pub file_id: String,
    pub start: f64,
    pub end: f64,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub version: i32,
    pub clip: ClipState,
    /// Size of the ready clip in bytes.
    pub clip_size: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Moment {
    /// The API view.
    pub fn view(&self) -> MomentView {
        MomentView {
            id: self.id.clone(),
            library_id: self.library_id.clone(),
            file_id: self.file_id.clone(),
            start: self.start_ms as f64 / 1000.0,
            end: self.end_ms as f64 / 1000.0,
            title: self.title.clone(),
            description: self.description.clone(),
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            version: self.version,
            clip: self.clip_state(),
            clip_size: self.clip_size.filter(|_| self.clip_ready()),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// Whether the stored clip matches the current range.
    pub fn clip_ready(&self) -> bool {
        self.clip_version == Some(self.version)
    }

    fn clip_state(&self) -> ClipState {
        if self.clip_ready() {
            ClipState::Ready
        } else if self.clip_wanted {
            ClipState::Pending
        } else {
            ClipState::None
        }
    }

    /// Length of the range in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.end_ms - self.start_ms
    }
}

/// The cache key of a moment's clip for one version of its range: an MP4 for a video, an M4A
/// for an audio file.
pub fn clip_key(moment: &Moment, file_kind: MediaKind, version: i32) -> Result<BlobKey> {
    let ext = if file_kind == MediaKind::Audio {
        "m4a"
    } else {
        "mp4"
    };
    let variant = format!("moment-{}-v{version}.{ext}", moment.id);
    BlobKey::new(
        crate::storage::Scope::Cache,
        &[
            moment.library_id.as_str(),
            moment.file_id.as_str(),
            &variant,
        ],
    )
    .map_err(|e| Error::Internal(e.to_string()))
}

/// What a create or edit request sets; absent fields keep their value on edit.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "MomentFields")]
pub struct Fields {
    /// Start of the range in seconds from the beginning of the file.
    pub start: Option<f64>,
    /// End of the range in seconds; after `start`, at most the file's duration.
    pub end: Option<f64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Seconds to whole milliseconds; refused when not a finite, non-negative number.
fn to_ms(seconds: f64, name: &str) -> Result<i64> {
    if !(0.0..=1e9).contains(&seconds) {
        return Err(Error::Invalid(format!(
            "{name} must be a number of seconds, 0 or more"
        )));
    }
    Ok((seconds * 1000.0).round() as i64)
}

/// The range checked against the file: end after start, both inside its duration.
fn check_range(file: &File, start_ms: i64, end_ms: i64) -> Result<()> {
    if !file.media_kind().plays() {
        return Err(Error::Invalid(
            "moments are time ranges of a video or audio file".into(),
        ));
    }
    let Some(duration) = file.media.duration_ms else {
        return Err(Error::Conflict(
            "duration_unknown",
            "the file's duration is not known yet; try again when its metadata is read".into(),
        ));
    };
    if end_ms <= start_ms {
        return Err(Error::Invalid("end must be after start".into()));
    }
    if end_ms > duration {
        return Err(Error::Invalid(format!(
            "end is past the end of the file ({:.3} s)",
            duration as f64 / 1000.0
        )));
    }
    Ok(())
}

fn clean_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::Invalid("a moment needs a title".into()));
    }
    Ok(title.chars().take(MAX_TITLE).collect())
}

fn clean_tags(tags: &[String]) -> Result<String> {
    if tags.len() > MAX_TAGS {
        return Err(Error::Invalid(format!("at most {MAX_TAGS} tags")));
    }
    let mut kept: Vec<String> = Vec::new();
    for tag in tags {
        let tag: String = tag.trim().chars().take(MAX_TAG).collect();
        if !tag.is_empty() && !kept.contains(&tag) {
            kept.push(tag);
        }
    }
    serde_json::to_string(&kept).map_err(|e| Error::Internal(e.to_string()))
}

/// Creates a moment on `file`.
pub async fn create(conn: &mut Conn, file: &File, actor: &str, fields: &Fields) -> Result<Moment> {
    let (Some(start), Some(end)) = (fields.start, fields.end) else {
        return Err(Error::Invalid("a moment needs start and end".into()));
    };
    let (start_ms, end_ms) = (to_ms(start, "start")?, to_ms(end, "end")?);
    check_range(file, start_ms, end_ms)?;
    let now = now_ms();
    let moment = Moment {
        id: uuid::Uuid::new_v4().to_string(),
        library_id: file.library_id.clone(),
        file_id: file.id.clone(),
        start_ms,
        end_ms,
        title: clean_title(fields.title.as_deref().unwrap_or_default())?,
        description: clean_description(fields.description.as_deref())?,
        tags: clean_tags(fields.tags.as_deref().unwrap_or_default())?,
        version: 1,
        clip_wanted: false,
        clip_version: None,
        clip_size: None,
        created_by: Some(actor.to_owned()),
        created_at: now,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(moments::table).values(&moment).execute(c).await)?;
    Ok(moment)
}

fn clean_description(description: Option<&str>) -> Result<String> {
    let description = description.unwrap_or_default().trim();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Error::Invalid(format!(
            "the description is longer than {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(description.to_owned())
}

/// The moment `id` of `library_id`.
pub async fn get(conn: &mut Conn, library_id: &str, id: &str) -> Result<Moment> {
    with_conn!(conn, c => moments::table
        .filter(moments::id.eq(id))
        .filter(moments::library_id.eq(library_id))
        .select(Moment::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or(Error::NotFound)
}

/// The moments of one file, in time order.
pub async fn of_file(conn: &mut Conn, file_id: &str) -> Result<Vec<Moment>> {
    Ok(with_conn!(conn, c => moments::table
        .filter(moments::file_id.eq(file_id))
        .order((moments::start_ms, moments::id))
        .select(Moment::as_select())
        .load(c)
        .await)?)
}

/// One page of a library's moments, newest first, and the cursor of the next page.
pub async fn of_library(
    conn: &mut Conn,
    library_id: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<(Vec<Moment>, Option<Cursor>)> {
    let mut rows: Vec<Moment> = with_conn!(conn, c => {
        let mut query = moments::table
            .filter(moments::library_id.eq(library_id))
            .order((moments::created_at.desc(), moments::id.desc()))
            .limit(limit + 1)
            .select(Moment::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(
                moments::created_at
                    .lt(after.at)
                    .or(moments::created_at.eq(after.at).and(moments::id.lt(&after.id))),
            );
        }
        query.load(c).await
    })?;
    let next = Cursor::next_page(&mut rows, limit, |m| Cursor {
        at: m.created_at,
        id: m.id.clone(),
    });
    Ok((rows, next))
}

/// Edits a moment. A new range bumps the version and removes the old clip; a wanted clip is
/// then cut again.
pub async fn update(app: &App, file: &File, moment: Moment, fields: &Fields) -> Result<Moment> {
    let mut next = moment.clone();
    let start_ms = fields
        .start
        .map(|s| to_ms(s, "start"))
        .transpose()?
        .unwrap_or(moment.start_ms);
    let end_ms = fields
        .end
        .map(|s| to_ms(s, "end"))
        .transpose()?
        .unwrap_or(moment.end_ms);
    let moved = (start_ms, end_ms) != (moment.start_ms, moment.end_ms);
    if moved {
        check_range(file, start_ms, end_ms)?;
        next.start_ms = start_ms;
        next.end_ms = end_ms;
        next.version += 1;
    }
    if let Some(title) = &fields.title {
        next.title = clean_title(title)?;
    }
    if fields.description.is_some() {
        next.description = clean_description(fields.description.as_deref())?;
    }
    if let Some(tags) = &fields.tags {
        next.tags = clean_tags(tags)?;
    }
    next.updated_at = now_ms();
    let mut conn = app.db.conn().await?;
    // Only the row as it was read is changed: a concurrent edit makes this one a conflict.
    let changed = with_conn!(&mut conn, c => diesel::update(
            moments::table
                .find(&moment.id)
                .filter(moments::version.eq(moment.version)),
        )
        .set(&next)
        .execute(c)
        .await)?;
    if changed == 0 {
        return Err(Error::Conflict(
            "moment_changed",
            "the moment was changed meanwhile; reload it and try again".into(),
        ));
    }
    if moved {
        remove_clip(app, file, &moment).await;
        if next.clip_wanted {
            request_export(app, &mut conn, &next).await?;
        }
    }
    Ok(next)
}

/// Deletes a moment and its clip.
pub async fn delete(app: &App, file: &File, moment: &Moment) -> Result<()> {
    let mut conn = app.db.conn().await?;
    with_conn!(&mut conn, c => diesel::delete(moments::table.find(&moment.id)).execute(c).await)?;
    remove_clip(app, file, moment).await;
    Ok(())
}

/// Asks for the moment's clip: marks it wanted and queues the file's export job, unless the
/// clip for the current range is already there.
pub async fn request_export(app: &App, conn: &mut Conn, moment: &Moment) -> Result<()> {
    with_conn!(conn, c => diesel::update(moments::table.find(&moment.id))
        .set(moments::clip_wanted.eq(true))
        .execute(c)
        .await)?;
    if !moment.clip_ready() {
        let queued = job_store::enqueue(conn, &moment.file_id, JobKind::MomentExport).await?;
        app.queue.announce(&[queued]).await;
    }
    Ok(())
}

/// Removes a moment's stored clip, if any (a cache file: a failure only leaves it behind until
/// the file is purged).
async fn remove_clip(app: &App, file: &File, moment: &Moment) {
    if let Some(version) = moment.clip_version
        && let Ok(key) = clip_key(moment, file.media_kind(), version)
        && let Err(e) = app.storage.delete(&key).await
    {
        tracing::warn!(moment = %moment.id, "removing an old clip: {e}");
    }
}

/// The moments of `file` whose wanted clip is missing or cut for an older range.
pub async fn clips_to_cut(conn: &mut Conn, file_id: &str) -> Result<Vec<Moment>> {
    Ok(of_file(conn, file_id)
        .await?
        .into_iter()
        .filter(|m| m.clip_wanted && !m.clip_ready())
        .collect())
}

/// Records a clip cut for `version`. Returns false when the range moved meanwhile (the clip
/// is then stale and the caller removes it).
pub async fn record_clip(db: &Db, moment_id: &str, version: i32, size: i64) -> Result<bool> {
    let mut conn = db.conn().await?;
    let changed = with_conn!(&mut conn, c => diesel::update(
            moments::table
                .find(moment_id)
                .filter(moments::version.eq(version)),
        )
        .set((
            moments::clip_version.eq(version),
            moments::clip_size.eq(size),
        ))
        .execute(c)
        .await)?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_become_milliseconds_and_nonsense_is_refused() {
        assert_eq!(to_ms(1.2345, "start").unwrap(), 1235);
        assert_eq!(to_ms(0.0, "start").unwrap(), 0);
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(to_ms(bad, "start").is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        let tags = vec![
            " goal ".to_owned(),
            "goal".into(),
            "".into(),
            "x".repeat(100),
        ];
        let kept: Vec<String> = serde_json::from_str(&clean_tags(&tags).unwrap()).unwrap();
        assert_eq!(kept, vec!["goal".to_owned(), "x".repeat(MAX_TAG)]);
        assert!(clean_tags(&vec!["t".to_owned(); MAX_TAGS + 1]).is_err());
        assert!(clean_title("   ").is_err());
    }
}
