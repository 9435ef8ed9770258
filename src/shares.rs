//! Share links: a library admin shares some files, a folder (live, with its subfolders) or a
//! moment with anyone who has the link. Only a hash of the link's token is stored for lookup;
//! the token itself is kept sealed with the server's secret so the share's managers can see
//! the link again. Sharing is off per library until an admin turns it on, and a share of a
//! library with sharing off answers nothing.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::db::schema::{files, share_files, share_visits, shares};
use crate::db::{Conn, Db, now_ms};
use crate::error::{Error, Result};
use crate::files::File;
use crate::libraries::Library;
use crate::moments::{self, Moment};
use crate::with_conn;

/// Most files in one `files` share.
pub const MAX_SELECTION: usize = 10_000;
/// Most items a share lists.
pub const MAX_ITEMS: i64 = 10_000;
const MAX_TITLE: usize = 200;
const MAX_MESSAGE: usize = 2_000;

/// What a share shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareKind {
    /// A selection of files (one or more).
    Files,
    /// A folder with its subfolders, live: files added later appear.
    Folder,
    /// A moment of a video or audio file, as its clip.
    Moment,
}

impl ShareKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareKind::Files => "files",
            ShareKind::Folder => "folder",
            ShareKind::Moment => "moment",
        }
    }

    fn parse(s: &str) -> Option<ShareKind> {
        [ShareKind::Files, ShareKind::Folder, ShareKind::Moment]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A share row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = shares)]
#[diesel(treat_none_as_null = true)]
pub struct Share {
    pub id: String,
    pub library_id: String,
    pub created_by: Option<String>,
    pub kind: String,
    pub folder_id: Option<String>,
    pub moment_id: Option<String>,
    pub token_hash: String,
    pub token_sealed: String,
    pub title: Option<String>,
    pub message: Option<String>,
    pub expires_at: Option<i64>,
    pub password_hash: Option<String>,
    pub allow_download: bool,
    pub show_location: bool,
    pub show_metadata: bool,
    pub revoked_at: Option<i64>,
    pub views: i64,
    pub last_viewed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One file of a `files` share.
#[derive(Insertable)]
#[diesel(table_name = share_files)]
struct ShareFile<'a> {
    share_id: &'a str,
    file_id: &'a str,
    position: i32,
}

/// Whether a share answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareState {
    Active,
    Expired,
    Revoked,
}

impl Share {
    /// The share's kind.
    pub fn share_kind(&self) -> ShareKind {
        ShareKind::parse(&self.kind).unwrap_or(ShareKind::Files)
    }

    /// Whether it answers now.
    pub fn state(&self, now: i64) -> ShareState {
        if self.revoked_at.is_some() {
            ShareState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            ShareState::Expired
        } else {
            ShareState::Active
        }
    }
}

/// The options a share is created or edited with; absent fields keep their value on edit.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub title: Option<Option<String>>,
    pub message: Option<Option<String>>,
    /// Milliseconds since the epoch; `Some(None)` for no expiry.
    pub expires_at: Option<Option<i64>>,
    /// The argon2id hash of a new password; `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    pub allow_download: Option<bool>,
    pub show_location: Option<bool>,
    pub show_metadata: Option<bool>,
}

/// What a new share points at.
#[derive(Debug, Clone)]
pub enum Target {
    Files(Vec<String>),
    Folder(String),
    Moment(String),
}

/// A new share's secret parts, made by the caller: the token's hash and its sealed form.
pub struct Token {
    pub hash: String,
    pub sealed: String,
}

fn optional_text(text: Option<String>, max: usize, name: &str) -> Result<Option<String>> {
    let Some(text) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(Error::Invalid(format!(
            "the {name} is longer than {max} characters"
        )));
    }
    Ok(Some(text))
}

/// Refused unless the library has sharing turned on.
pub fn check_sharing(library: &Library) -> Result<()> {
    if library.sharing_enabled {
        Ok(())
    } else {
        Err(Error::Conflict(
            "sharing_off",
            "sharing is off for this library; an admin can turn it on in the library's settings"
                .into(),
        ))
    }
}

fn apply(share: &mut Share, options: Options, now: i64) -> Result<()> {
    if let Some(title) = options.title {
        share.title = optional_text(title, MAX_TITLE, "title")?;
    }
    if let Some(message) = options.message {
        share.message = optional_text(message, MAX_MESSAGE, "message")?;
    }
    if let Some(expires_at) = options.expires_at {
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Invalid("expiresAt must be in the future".into()));
        }
        share.expires_at = expires_at;
    }
    if let Some(password_hash) = options.password_hash {
        share.password_hash = password_hash;
    }
    share.allow_download = options.allow_download.unwrap_or(share.allow_download);
    share.show_location = options.show_location.unwrap_or(share.show_location);
    share.show_metadata = options.show_metadata.unwrap_or(share.show_metadata);
    Ok(())
}

/// Creates a share of `target` in `library` (which must have sharing on). A moment share also
/// asks for the moment's clip.
pub async fn create(
    app: &crate::app::App,
    library: &Library,
    actor: &str,
    target: Target,
    options: Options,
    token: Token,
) -> Result<Share> {
    check_sharing(library)?;
    let now = now_ms();
    let mut share = Share {
        id: uuid::Uuid::new_v4().to_string(),
        library_id: library.id.clone(),
        created_by: Some(actor.to_owned()),
        kind: String::new(),
        folder_id: None,
        moment_id: None,
        token_hash: token.hash,
        token_sealed: token.sealed,
        title: None,
        message: None,
        expires_at: None,
        password_hash: None,
        allow_download: false,
        show_location: false,
        show_metadata: true,
        revoked_at: None,
        views: 0,
        last_viewed_at: None,
        created_at: now,
        updated_at: now,
    };
    apply(&mut share, options, now)?;
    let mut conn = app.db.conn().await?;
    let (kind, file_ids, moment) = match target {
        Target::Files(ids) => {
            let ids = selection(&mut conn, &library.id, ids).await?;
            (ShareKind::Files, ids, None)
        }
        Target::Folder(folder) => {
            let folder = crate::folders::live(&mut conn, &library.id, &folder, "folderId").await?;
            share.folder_id = Some(folder.id);
            (ShareKind::Folder, Vec::new(), None)
        }
        Target::Moment(moment) => {
            let moment = moments::get(&mut conn, &library.id, &moment)
                .await
                .map_err(|_| Error::Invalid("momentId: no such moment in this library".into()))?;
            share.moment_id = Some(moment.id.clone());
            (ShareKind::Moment, Vec::new(), Some(moment))
        }
    };
    share.kind = kind.as_str().to_owned();
    drop(conn);
    let mut tx = app.db.begin().await?;
    with_conn!(tx, c => diesel::insert_into(shares::table).values(&share).execute(c).await)?;
    // One row at a time: SQLite takes no multi-row insert through this connection.
    for (position, file_id) in file_ids.iter().enumerate() {
        let row = ShareFile {
            share_id: &share.id,
            file_id,
            position: position as i32,
        };
        with_conn!(tx, c => diesel::insert_into(share_files::table).values(&row).execute(c).await)?;
    }
    tx.commit().await?;
    if let Some(moment) = moment {
        let mut conn = app.db.conn().await?;
        moments::request_export(app, &mut conn, &moment).await?;
    }
    Ok(share)
}

/// The selection checked: one to [`MAX_SELECTION`] distinct live files of the library, in the
/// order given.
async fn selection(conn: &mut Conn, library_id: &str, ids: Vec<String>) -> Result<Vec<String>> {
    let mut distinct: Vec<String> = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if seen.insert(id.clone()) {
            distinct.push(id);
        }
    }
    if distinct.is_empty() || distinct.len() > MAX_SELECTION {
        return Err(Error::Invalid(format!(
            "fileIds must name 1 to {MAX_SELECTION} files"
        )));
    }
    let found = crate::files::get_many(conn, library_id, &distinct).await?;
    if let Some(missing) = distinct
        .iter()
        .find(|id| found.get(*id).is_none_or(|f| f.trashed_at.is_some()))
    {
        return Err(Error::Invalid(format!(
            "fileIds: {missing} is not a file of this library"
        )));
    }
    Ok(distinct)
}

/// The shares of a library, newest first.
pub async fn of_library(conn: &mut Conn, library_id: &str) -> Result<Vec<Share>> {
    Ok(with_conn!(conn, c => shares::table
        .filter(shares::library_id.eq(library_id))
        .order((shares::created_at.desc(), shares::id.desc()))
        .select(Share::as_select())
        .load(c)
        .await)?)
}

/// The share `id` of `library_id`.
pub async fn get(conn: &mut Conn, library_id: &str, id: &str) -> Result<Share> {
    with_conn!(conn, c => shares::table
        .filter(shares::id.eq(id))
        .filter(shares::library_id.eq(library_id))
        .select(Share::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or(Error::NotFound)
}

/// Edits a share's options.
pub async fn update(conn: &mut Conn, mut share: Share, options: Options) -> Result<Share> {
    let now = now_ms();
    apply(&mut share, options, now)?;
    share.updated_at = now;
    with_conn!(conn, c => diesel::update(shares::table.find(&share.id)).set(&share).execute(c).await)?;
    Ok(share)
}

/// Revokes a share for good: its link stops answering.
pub async fn revoke(conn: &mut Conn, share: &Share) -> Result<()> {
    let now = now_ms();
    with_conn!(conn, c => diesel::update(shares::table.find(&share.id))
        .filter(shares::revoked_at.is_null())
        .set((shares::revoked_at.eq(now), shares::updated_at.eq(now)))
        .execute(c)
        .await)?;
    Ok(())
}

/// The share whose token hashes to `token_hash`, with its library, when the library still
/// shares: whatever its state (the caller tells expired from revoked).
pub async fn by_token(conn: &mut Conn, token_hash: &str) -> Result<(Share, Library)> {
    let share: Share = with_conn!(conn, c => shares::table
        .filter(shares::token_hash.eq(token_hash))
        .select(Share::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or(Error::NotFound)?;
    let library = crate::libraries::get(conn, &share.library_id)
        .await?
        .ok_or(Error::NotFound)?;
    check_sharing(&library).map_err(|_| Error::NotFound)?;
    Ok((share, library))
}

/// The live files a share shows, in its order: the selection as chosen, a folder's files
/// (subfolders included) newest first by capture time, or a moment's file.
pub async fn items(conn: &mut Conn, share: &Share) -> Result<Vec<File>> {
    let rows: Vec<File> = match share.share_kind() {
        ShareKind::Files => with_conn!(conn, c => share_files::table
            .inner_join(files::table)
            .filter(share_files::share_id.eq(&share.id))
            .filter(files::trashed_at.is_null())
            .order(share_files::position)
            .limit(MAX_ITEMS)
            .select(File::as_select())
            .load(c)
            .await)?,
        ShareKind::Folder => {
            let Some(root) = &share.folder_id else {
                return Ok(Vec::new());
            };
            let live_root = crate::folders::get(conn, &share.library_id, root)
                .await
                .is_ok_and(|f| f.trashed_at.is_none());
            if !live_root {
                return Ok(Vec::new());
            }
            let folders = crate::folders::subtree(conn, &share.library_id, root).await?;
            let mut found: Vec<File> = Vec::new();
            for chunk in folders.chunks(500) {
                let rows: Vec<File> = with_conn!(conn, c => files::table
                    .filter(files::library_id.eq(&share.library_id))
                    .filter(files::folder_id.eq_any(chunk))
                    .filter(files::trashed_at.is_null())
                    .limit(MAX_ITEMS)
                    .select(File::as_select())
                    .load(c)
                    .await)?;
                found.extend(rows);
            }
            found.sort_by(|a, b| {
                let at = |f: &File| f.media.captured_at.unwrap_or(f.created_at);
                at(b).cmp(&at(a)).then_with(|| b.id.cmp(&a.id))
            });
            found.truncate(MAX_ITEMS as usize);
            found
        }
        ShareKind::Moment => match moment_of(conn, share).await? {
            Some(moment) => crate::files::get(conn, &share.library_id, &moment.file_id)
                .await
                .ok()
                .filter(|f| f.trashed_at.is_none())
                .into_iter()
                .collect(),
            None => Vec::new(),
        },
    };
    Ok(rows)
}

/// The moment a moment share shows.
pub async fn moment_of(conn: &mut Conn, share: &Share) -> Result<Option<Moment>> {
    match &share.moment_id {
        Some(id) => match moments::get(conn, &share.library_id, id).await {
            Ok(m) => Ok(Some(m)),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        },
        None => Ok(None),
    }
}

/// The file `file_id` when the share shows it; not found otherwise.
pub async fn item(conn: &mut Conn, share: &Share, file_id: &str) -> Result<File> {
    let file = crate::files::get(conn, &share.library_id, file_id).await?;
    if file.trashed_at.is_some() {
        return Err(Error::NotFound);
    }
    let shown = match share.share_kind() {
        ShareKind::Files => with_conn!(conn, c => share_files::table
            .find((&share.id, file_id))
            .count()
            .get_result::<i64>(c)
            .await)?
        .eq(&1),
        ShareKind::Folder => match (&share.folder_id, &file.folder_id) {
            (Some(root), Some(folder)) => crate::folders::subtree(conn, &share.library_id, root)
                .await?
                .contains(folder),
            _ => false,
        },
        ShareKind::Moment => moment_of(conn, share)
            .await?
            .is_some_and(|m| m.file_id == file.id),
    };
    if shown {
        Ok(file)
    } else {
        Err(Error::NotFound)
    }
}

/// Counts a view of the share by `visitor` (a hash of who is looking), at most once an hour.
pub async fn count_view(db: &Db, share: &Share, visitor: &str) -> Result<()> {
    let now = now_ms();
    let hour = now / 3_600_000;
    let mut tx = db.begin().await?;
    let fresh = with_conn!(tx, c => diesel::insert_into(share_visits::table)
        .values((
            share_visits::share_id.eq(&share.id),
            share_visits::visitor.eq(visitor),
            share_visits::hour.eq(hour),
        ))
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    if fresh == 1 {
        with_conn!(tx, c => diesel::update(shares::table.find(&share.id))
            .set((
                shares::views.eq(shares::views + 1),
                shares::last_viewed_at.eq(now),
            ))
            .execute(c)
            .await)?;
        // Visits older than a day no longer decide anything.
        with_conn!(tx, c => diesel::delete(share_visits::table
            .filter(share_visits::share_id.eq(&share.id))
            .filter(share_visits::hour.lt(hour - 24)))
            .execute(c)
            .await)?;
    }
    tx.commit().await?;
    Ok(())
}
