//! Files of a library: the rows, their API view, keyset-paginated listing, trash and duplicates
//! (same SHA-256 within a library, ignoring derived and trashed files).

pub mod derived;
pub mod ingest;
pub mod kind;
pub mod original;
pub mod outgoing;
pub mod sidecar;
pub mod sniff;
pub mod timeline;
pub mod tus;
pub mod upload;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use std::collections::{BTreeMap, HashMap};

use crate::activity::{self, ActivityKind};
use crate::app::App;
use crate::db::schema::{audio_events, faces, file_labels, files, people, transcript_segments};
use crate::db::{Conn, Cursor, Db, now_ms};
use crate::error::{Error, Result};
use crate::jobs::store::{self, JobState, JobsOf};
use crate::storage::BlobKey;
use crate::with_conn;
pub use kind::MediaKind;

/// A file row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = files)]
pub struct File {
    pub id: String,
    pub library_id: String,
    pub folder_id: Option<String>,
    pub name: String,
    pub blob_key: String,
    pub sha256: Option<String>,
    pub size: i64,
    pub mime: String,
    pub kind: String,
    pub uploaded_by: Option<String>,
    pub source_file_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub trashed_at: Option<i64>,
    /// Path relative to the library's import folder, for files imported in place.
    pub source_path: Option<String>,
    /// Modification time, in ms: of the imported original at the last scan, or of an upload
    /// on the client that sent it (WebDAV's `X-OC-Mtime`).
    pub source_mtime: Option<i64>,
    /// What the metadata job read.
    #[diesel(embed)]
    pub media: MediaFacts,
    /// What came with the file from an import (a [`sidecar::Sidecar`] as JSON).
    pub sidecar: Option<String>,
}

/// What the metadata job read from a file's original (all empty until it ran).
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = files, treat_none_as_null = true)]
pub struct MediaFacts {
    /// When the photo or video was taken, in ms since the epoch.
    pub captured_at: Option<i64>,
    /// Where `captured_at` came from: `exif`, `xmp` or `iptc` (with `_local` when it gave no
    /// offset from UTC), `container`, `sidecar` (an import's sidecar) or `file_time`.
    pub captured_at_source: Option<String>,
    /// Upright width in pixels.
    pub width: Option<i32>,
    /// Upright height in pixels.
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
    /// Everything read, as JSON: EXIF fields, GPS, codecs, frame rate, HDR, bitrate, errors.
    pub media_info: Option<String>,
    /// Where the GPS says it was taken: "town, region, country" (see [`crate::places`]).
    pub place: Option<String>,
}

impl MediaFacts {
    /// Whether the probe found the container without a `video` or `audio` stream.
    pub fn lacks_stream(&self, stream: &str) -> bool {
        self.info()
            .is_some_and(|m| m.get(stream).is_some_and(|s| s.is_null()))
    }

    /// Whether the probe found a video or sound that browsers play as it is.
    pub fn browser_playable(&self) -> bool {
        self.info()
            .is_some_and(|m| m["browserPlayable"].as_bool() == Some(true))
    }

    /// Where the GPS (from EXIF or an import's sidecar) says the file was taken: (latitude,
    /// longitude) in degrees.
    pub fn position(&self) -> Option<(f64, f64)> {
        let info = self.info()?;
        let gps = info.get("gps")?;
        let latitude = gps.get("latitude")?.as_f64()?;
        let longitude = gps.get("longitude")?.as_f64()?;
        ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude))
            .then_some((latitude, longitude))
    }

    fn info(&self) -> Option<serde_json::Value> {
        self.media_info
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
    }
}

/// A file as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub id: String,
    pub library_id: String,
    pub folder_id: Option<String>,
    pub name: String,
    pub size: i64,
    pub mime: String,
    pub kind: MediaKind,
    pub sha256: Option<String>,
    /// Another live original in the library has the same bytes.
    pub is_duplicate: bool,
    pub uploaded_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub trashed_at: Option<i64>,
    /// Where an imported file lives under the library's import folder.
    pub source_path: Option<String>,
    pub captured_at: Option<i64>,
    pub captured_at_source: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
    /// What the metadata job read (camera, lens, GPS, codecs, ...), when it has run.
    pub media: Option<serde_json::Value>,
    /// Where it was taken: "town, region, country", from the GPS.
    pub place: Option<String>,
    /// Processing state per job kind.
    pub jobs: BTreeMap<String, JobState>,
}

impl File {
    /// The file's kind (`Other` until its metadata is read).
    pub fn media_kind(&self) -> MediaKind {
        MediaKind::parse(&self.kind).unwrap_or(MediaKind::Other)
    }

    /// The API view; `is_duplicate` comes from [`duplicated_hashes`], `jobs` from the job rows.
    pub fn view(self, is_duplicate: bool, jobs: BTreeMap<String, JobState>) -> FileView {
        let kind = self.media_kind();
        FileView {
            id: self.id,
            library_id: self.library_id,
            folder_id: self.folder_id,
            name: self.name,
            size: self.size,
            mime: self.mime,
            kind,
            sha256: self.sha256,
            is_duplicate,
            uploaded_by: self.uploaded_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            trashed_at: self.trashed_at,
            source_path: self.source_path,
            captured_at: self.media.captured_at,
            captured_at_source: self.media.captured_at_source,
            width: self.media.width,
            height: self.media.height,
            duration_ms: self.media.duration_ms,
            media: self
                .media
                .media_info
                .and_then(|m| serde_json::from_str(&m).ok()),
            place: self.media.place,
            jobs,
        }
    }
}

/// Longest file name kept.
const MAX_NAME_BYTES: usize = 255;

/// A display name from a client-supplied one: the last path component, without control
/// characters, at most 255 bytes; `upload` when nothing is left. Never used in a storage path.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect::<String>()
        .trim()
        .to_owned();
    while name.len() > MAX_NAME_BYTES {
        name.pop();
    }
    if name.is_empty() || name == "." || name == ".." {
        "upload".to_owned()
    } else {
        name
    }
}

/// Characters that reorder the text around them (`U+202E` makes `gpj.exe` read `exe.jpg`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Inserts a file row.
pub async fn insert(conn: &mut Conn, file: &File) -> Result<()> {
    with_conn!(conn, c => diesel::insert_into(files::table).values(file).execute(c).await)?;
    Ok(())
}

/// Inserts a file unless its library already has a row for the same imported path; returns
/// whether it was inserted.
pub async fn insert_if_new(conn: &mut Conn, file: &File) -> Result<bool> {
    let n = with_conn!(conn, c => diesel::insert_into(files::table)
        .values(file)
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    Ok(n == 1)
}

/// The file `id` of `library_id`.
pub async fn get(conn: &mut Conn, library_id: &str, id: &str) -> Result<File> {
    let found = with_conn!(conn, c => files::table
        .filter(files::id.eq(id))
        .filter(files::library_id.eq(library_id))
        .select(File::as_select())
        .first(c)
        .await
        .optional())?;
    found.ok_or(Error::NotFound)
}

/// The files among `ids` that belong to `library_id`, by id, in a few queries however many are
/// asked for (a selection of thousands).
pub async fn get_many(
    conn: &mut Conn,
    library_id: &str,
    ids: &[String],
) -> Result<std::collections::HashMap<String, File>> {
    /// Ids bound per query, well under both databases' limits on parameters.
    const CHUNK: usize = 1000;
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<File> = with_conn!(conn, c => files::table
            .filter(files::id.eq_any(chunk))
            .filter(files::library_id.eq(library_id))
            .select(File::as_select())
            .load(c)
            .await)?;
        found.extend(rows.into_iter().map(|f| (f.id.clone(), f)));
    }
    Ok(found)
}

/// The file `id` in any library (for workers).
pub async fn find(conn: &mut Conn, id: &str) -> Result<Option<File>> {
    Ok(
        with_conn!(conn, c => files::table.find(id).select(File::as_select()).first(c).await.optional())?,
    )
}

/// The rows of the files `ids` that still exist, by id.
pub async fn find_many(conn: &mut Conn, ids: &[String]) -> Result<HashMap<String, File>> {
    let rows: Vec<File> = with_conn!(conn, c => files::table
        .filter(files::id.eq_any(ids))
        .select(File::as_select())
        .load(c)
        .await)?;
    Ok(rows.into_iter().map(|f| (f.id.clone(), f)).collect())
}

/// What to list.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub kind: Option<MediaKind>,
    pub folder_id: Option<String>,
    /// List the trash instead of live files.
    pub trashed: bool,
    /// Only files showing this person.
    pub person_id: Option<String>,
    /// Only files carrying this object or tag label.
    pub label: Option<String>,
    /// Only files whose name, labels, people, sound events or transcript contain this text
    /// (case-insensitive).
    pub search: Option<String>,
    pub order: FileOrder,
}

/// Which time a list is sorted by, newest first.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum FileOrder {
    /// When the file arrived.
    #[default]
    Uploaded,
    /// When the photo or recording was taken (its arrival until the metadata job has run).
    Taken,
}

impl FileOrder {
    /// Parses the `order` query parameter: `uploaded` or `taken`.
    pub fn parse(text: &str) -> Option<FileOrder> {
        match text {
            "uploaded" => Some(FileOrder::Uploaded),
            "taken" => Some(FileOrder::Taken),
            _ => None,
        }
    }

    /// The time `file` is sorted by.
    pub fn time_of(self, file: &File) -> i64 {
        match self {
            FileOrder::Uploaded => file.created_at,
            FileOrder::Taken => file.media.captured_at.unwrap_or(file.created_at),
        }
    }
}

diesel::define_sql_function! {
    /// SQL `lower()`, in both backends.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// SQL `coalesce()` of a nullable time and a fallback, in both backends.
    fn coalesce(time: diesel::sql_types::Nullable<diesel::sql_types::BigInt>, fallback: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// `text` lower-cased as a LIKE pattern for itself, with `%`, `_` and `\` taken literally.
pub(crate) fn like_literal(text: &str) -> String {
    let mut out = String::new();
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A LIKE pattern matching `text` anywhere (see [`like_literal`]).
fn contains_pattern(text: &str) -> String {
    format!("%{}%", like_literal(text))
}

/// Narrows a boxed query on `files` to a [`ListFilter`]: live files or the trash, kind, folder,
/// person, label and search text (`pattern`, from [`contains_pattern`]). A macro because each
/// backend's boxed query is its own type.
macro_rules! narrowed {
    ($query:expr, $filter:expr, $pattern:expr) => {{
        let (filter, pattern): (&ListFilter, &Option<String>) = ($filter, $pattern);
        let mut query = $query;
        query = if filter.trashed {
            query.filter(files::trashed_at.is_not_null())
        } else {
            query.filter(files::trashed_at.is_null())
        };
        if let Some(kind) = &filter.kind {
            query = query.filter(files::kind.eq(kind.as_str()));
        }
        if let Some(folder) = &filter.folder_id {
            query = query.filter(files::folder_id.eq(folder));
        }
        if let Some(person) = &filter.person_id {
            query = query.filter(
                files::id.eq_any(
                    faces::table
                        .filter(faces::person_id.eq(person))
                        .select(faces::file_id),
                ),
            );
        }
        if let Some(label) = &filter.label {
            query = query.filter(
                files::id.eq_any(
                    file_labels::table
                        .filter(file_labels::name.eq(label))
                        .select(file_labels::file_id),
                ),
            );
        }
        if let Some(pattern) = pattern {
            query = query.filter(
                lower(files::name)
                    .like(pattern)
                    .escape('\\')
                    .or(files::id.eq_any(
                        file_labels::table
                            .filter(lower(file_labels::name).like(pattern).escape('\\'))
                            .select(file_labels::file_id),
                    ))
                    .or(files::id.eq_any(
                        audio_events::table
                            .filter(lower(audio_events::name).like(pattern).escape('\\'))
                            .select(audio_events::file_id),
                    ))
                    .or(files::id.eq_any(
                        transcript_segments::table
                            .filter(lower(transcript_segments::text).like(pattern).escape('\\'))
                            .select(transcript_segments::file_id),
                    ))
                    .or(files::id.eq_any(
                        faces::table
                            .inner_join(people::table)
                            .filter(
                                lower(people::name.assume_not_null())
                                    .like(pattern)
                                    .escape('\\'),
                            )
                            .select(faces::file_id),
                    )),
            );
        }
        query
    }};
}
pub(crate) use narrowed;

/// One page of a library's originals, newest first, and the cursor of the next page.
pub async fn list(
    conn: &mut Conn,
    library_id: &str,
    filter: &ListFilter,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<(Vec<File>, Option<Cursor>)> {
    let pattern = filter.search.as_deref().map(contains_pattern);
    // Built inside each backend's arm: a boxed query is tied to one backend.
    let mut rows: Vec<File> = with_conn!(conn, c => {
        let mut query = files::table
            .filter(files::library_id.eq(library_id))
            .filter(files::source_file_id.is_null())
            .select(File::as_select())
            .limit(limit + 1)
            .into_boxed();
        let taken = coalesce(files::captured_at, files::created_at);
        query = match filter.order {
            FileOrder::Uploaded => query.order((files::created_at.desc(), files::id.desc())),
            FileOrder::Taken => query.order((taken.desc(), files::id.desc())),
        };
        query = narrowed!(query, filter, &pattern);
        // After the cursor: `t <= at AND (t < at OR id < last)`. The first term bounds the
        // index range, so a deep page starts at the cursor instead of scanning from the top.
        if let Some(after) = after {
            query = match filter.order {
                FileOrder::Uploaded => query.filter(
                    files::created_at
                        .le(after.at)
                        .and(files::created_at.lt(after.at).or(files::id.lt(&after.id))),
                ),
                FileOrder::Taken => query.filter(
                    taken
                        .le(after.at)
                        .and(taken.lt(after.at).or(files::id.lt(&after.id))),
                ),
            };
        }
        query.load(c).await
    })?;
    let next = Cursor::next_page(&mut rows, limit, |f| Cursor {
        at: filter.order.time_of(f),
        id: f.id.clone(),
    });
    Ok((rows, next))
}

/// Of `hashes`, those shared by two or more live originals of the library.
pub async fn duplicated_hashes(
    conn: &mut Conn,
    library_id: &str,
    hashes: &[String],
) -> Result<Vec<String>> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Option<String>, i64)> = with_conn!(conn, c => files::table
        .filter(live_original_of(library_id))
        .filter(files::sha256.eq_any(hashes))
        .group_by(files::sha256)
        .select((files::sha256, diesel::dsl::count_star()))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .filter_map(|(h, _)| h)
        .collect())
}

/// Every group of live originals in the library sharing one SHA-256, biggest groups first.
pub async fn duplicate_groups(
    conn: &mut Conn,
    library_id: &str,
) -> Result<Vec<(String, Vec<File>)>> {
    let hashes: Vec<Option<String>> = with_conn!(conn, c => files::table
        .filter(live_original_of(library_id))
        .filter(files::sha256.is_not_null())
        .group_by(files::sha256)
        .having(diesel::dsl::count_star().gt(1))
        .select(files::sha256)
        .load(c)
        .await)?;
    let hashes: Vec<String> = hashes.into_iter().flatten().collect();
    let members: Vec<File> = with_conn!(conn, c => files::table
        .filter(live_original_of(library_id))
        .filter(files::sha256.eq_any(&hashes))
        .order((files::sha256, files::created_at, files::id))
        .select(File::as_select())
        .load(c)
        .await)?;
    let mut groups: Vec<(String, Vec<File>)> = Vec::new();
    for file in members {
        let hash = file.sha256.clone().unwrap_or_default();
        match groups.last_mut() {
            Some((h, group)) if *h == hash => group.push(file),
            _ => groups.push((hash, vec![file])),
        }
    }
    groups.sort_by_key(|(_, g)| std::cmp::Reverse(g.len()));
    Ok(groups)
}

/// Live originals of a library: not derived, not trashed.
#[diesel::dsl::auto_type]
pub(crate) fn live_original_of<'a>(library_id: &'a str) -> _ {
    files::library_id
        .eq(library_id)
        .and(files::source_file_id.is_null())
        .and(files::trashed_at.is_null())
}

/// Renames and/or moves a file.
pub async fn update(conn: &mut Conn, file: &File) -> Result<()> {
    with_conn!(conn, c => diesel::update(files::table.find(&file.id))
        .set((files::name.eq(&file.name), files::folder_id.eq(&file.folder_id), files::updated_at.eq(now_ms())))
        .execute(c)
        .await)?;
    Ok(())
}

/// Sets the modification time a client gave the file (`source_mtime`).
pub async fn set_mtime(conn: &mut Conn, id: &str, mtime: i64) -> Result<()> {
    with_conn!(conn, c => diesel::update(files::table.find(id))
        .set((files::source_mtime.eq(mtime), files::updated_at.eq(now_ms())))
        .execute(c)
        .await)?;
    Ok(())
}

/// Moves a file to or from the trash.
pub async fn set_trashed(conn: &mut Conn, id: &str, trashed: bool) -> Result<()> {
    let at = trashed.then(now_ms);
    with_conn!(conn, c => diesel::update(files::table.find(id))
        .set((files::trashed_at.eq(at), files::updated_at.eq(now_ms())))
        .execute(c)
        .await)?;
    Ok(())
}

/// Trashes or restores `file` on behalf of `actor`, with its activity entry, in one transaction.
pub async fn trash(db: &Db, actor: &str, file: &File, trashed: bool) -> Result<()> {
    let kind = if trashed {
        ActivityKind::FileTrashed
    } else {
        ActivityKind::FileRestored
    };
    let mut tx = db.begin().await?;
    set_trashed(&mut tx, &file.id, trashed).await?;
    let subject = Some((file.id.as_str(), file.name.as_str()));
    activity::record(&mut tx, &file.library_id, Some(actor), kind, subject).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a file row with its jobs (and, by cascade, the rows derived from it), then its original and derived blobs (the row goes first,
/// so nothing visible points at a missing blob; a blob left by a failure is only logged). It
/// takes one pool connection, for the transaction, and none while deleting blobs: call it
/// without holding one.
pub async fn purge(app: &App, library: &str, file: &str) -> Result<()> {
    let keys = BlobKey::original(library, file)
        .and_then(|o| Ok((o, BlobKey::derived_prefix(library, file)?)));
    let (original, derived) = keys.map_err(|e| Error::Internal(e.to_string()))?;
    let mut tx = app.db.begin().await?;
    let imported = find(&mut tx, file)
        .await?
        .is_some_and(|f| f.source_path.is_some());
    store::delete_jobs(&mut tx, JobsOf::File(file)).await?;
    with_conn!(tx, c => diesel::delete(files::table.find(file)).execute(c).await)?;
    tx.commit().await?;
    // An imported original belongs to the NAS folder and is never deleted; only its row goes.
    if !imported && let Err(e) = app.storage.delete(&original).await {
        tracing::warn!(file, "purged file left its original behind: {e}");
    }
    if let Err(e) = app.storage.delete_prefix(&derived).await {
        tracing::warn!(file, "purged file left derived blobs behind: {e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_come_from_the_gps_of_the_media_info() {
        let facts = |info: Option<&str>| MediaFacts {
            media_info: info.map(str::to_owned),
            ..MediaFacts::default()
        };
        let paris = facts(Some(
            r#"{"gps":{"latitude":48.85,"longitude":2.35,"altitude":null}}"#,
        ));
        assert_eq!(paris.position(), Some((48.85, 2.35)));
        assert_eq!(facts(Some(r#"{"gps":null}"#)).position(), None);
        let off = facts(Some(r#"{"gps":{"latitude":91,"longitude":0}}"#));
        assert_eq!(off.position(), None);
        assert_eq!(facts(None).position(), None);
    }

    #[test]
    fn names_are_reduced_to_a_safe_last_component() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("/abs/path/IMG_1.JPG"), "IMG_1.JPG");
        assert_eq!(clean_name("C:\\Users\\me\\a.png"), "a.png");
        assert_eq!(clean_name("a\0b\nc.jpg"), "abc.jpg");
        assert_eq!(clean_name("photo\u{202E}gpj.exe"), "photogpj.exe");
        assert_eq!(clean_name(".."), "upload");
        assert_eq!(clean_name(""), "upload");
        assert_eq!(clean_name(&"é".repeat(200)).len(), 254);
    }
}
