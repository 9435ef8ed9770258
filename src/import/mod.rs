//! Import in place: a library bound to a folder on the NAS indexes the files in it without
//! copying, modifying or moving them. A scan walks the folder and reconciles the library's
//! imported rows with it: new files get a row and a hash job, changed files (size or mtime)
//! are hashed again, moved files (same size and mtime under a new path) keep their row, and
//! files gone from disk lose their row and derived files. Symlink loops, unreadable entries
//! and names that are not UTF-8 are reported and skipped.

pub mod takeout;
pub mod tree;
pub mod walk;
pub mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::app::App;
use crate::db::schema::{files as files_table, libraries};
use crate::db::{Conn, now_ms};
use crate::error::{Error, Result};
use crate::files::{self, File};
use crate::jobs::{JobKind, store};
use crate::with_conn;
use tree::FolderTree;
use walk::{Entry, Skipped};

/// Rows written per transaction during a scan.
const BATCH: usize = 500;

/// Binds `library` to the folder at `path` (made absolute), or unbinds it with None; the
/// watcher of this process picks the change up at once, others within half a minute.
pub async fn bind(app: &App, library: &str, path: Option<&Path>) -> Result<()> {
    let path = match path {
        Some(path) => {
            let absolute = std::fs::canonicalize(path)
                .map_err(|e| Error::Invalid(format!("import folder {}: {e}", path.display())))?;
            if !absolute.is_dir() {
                return Err(Error::Invalid(format!(
                    "import folder {} is not a folder",
                    absolute.display()
                )));
            }
            let text = absolute.to_str().ok_or_else(|| {
                Error::Invalid("the import folder's path is not valid UTF-8".into())
            })?;
            Some(text.to_owned())
        }
        None => None,
    };
    let n = with_conn!(&mut app.db.conn().await?, c => diesel::update(libraries::table.find(library))
        .set(libraries::import_path.eq(path))
        .execute(c)
        .await)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    app.import_bindings.notify_one();
    Ok(())
}

/// Libraries bound to a folder, with the folder.
pub async fn bound_libraries(conn: &mut Conn) -> Result<Vec<(String, PathBuf)>> {
    let rows: Vec<(String, Option<String>)> = with_conn!(conn, c => libraries::table
        .filter(libraries::import_path.is_not_null())
        .select((libraries::id, libraries::import_path))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, path)| Some((id, PathBuf::from(path?))))
        .collect())
}

/// What a scan found and did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    pub added: usize,
    pub changed: usize,
    pub moved: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub skipped: Vec<Skipped>,
}

/// An imported row as the scan compares it with the disk.
struct Known {
    id: String,
    size: i64,
    mtime: Option<i64>,
}

/// The change the scan makes for one path.
enum Change {
    Add(Entry),
    Update(String, Entry),
    Move(String, Entry),
    Remove(String),
}

/// Scans `library`'s folder and reconciles its rows; `progress(done, total)` follows the
/// writes.
pub async fn scan(
    app: &App,
    library: &str,
    mut progress: impl FnMut(usize, usize),
) -> Result<ScanReport> {
    // One scan at a time in this process (the watcher, the periodic rescan and callers);
    // a scan in another process is kept consistent by the unique source path per library.
    let _one_at_a_time = app.import_scan.lock().await;
    let root = crate::libraries::import_root(&mut app.db.conn().await?, library)
        .await?
        .ok_or_else(|| Error::Invalid("the library is not bound to a folder".into()))?;
    let walked = tokio::task::spawn_blocking(move || walk::walk(&root))
        .await
        .map_err(|e| Error::Internal(format!("scan: {e}")))??;
    let mut report = ScanReport {
        skipped: walked.skipped,
        ..Default::default()
    };
    let mut known: HashMap<String, Known> = imported_rows(app, library).await?;
    // An unmounted share often leaves an empty mount point: never read that as "all deleted".
    if walked.files.is_empty() && !known.is_empty() {
        return Err(Error::Unavailable(
            "the import folder is empty (not mounted?); nothing was removed".into(),
        ));
    }
    let mut changes = Vec::new();
    let mut new = Vec::new();
    for entry in walked.files {
        match known.remove(&entry.path) {
            Some(row) if row.size == entry.size as i64 && row.mtime == Some(entry.mtime) => {
                report.unchanged += 1
            }
            Some(row) => changes.push(Change::Update(row.id, entry)),
            None => new.push(entry),
        }
    }
    // What vanished from one path and appeared under another with the same size and mtime
    // was moved or renamed: the row (and everything derived from it) follows.
    let mut vanished: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    for (_, row) in known {
        match row.mtime {
            Some(mtime) => vanished.entry((row.size, mtime)).or_default().push(row.id),
            None => changes.push(Change::Remove(row.id)),
        }
    }
    for entry in new {
        let moved = vanished
            .get_mut(&(entry.size as i64, entry.mtime))
            .and_then(Vec::pop);
        changes.push(match moved {
            Some(id) => Change::Move(id, entry),
            None => Change::Add(entry),
        });
    }
    changes.extend(vanished.into_values().flatten().map(Change::Remove));

    let total = changes.len();
    progress(0, total);
    let mut done = 0;
    let mut tree = FolderTree::load(&mut app.db.conn().await?, library).await?;
    let mut pending = changes.into_iter().peekable();
    while pending.peek().is_some() {
        let batch: Vec<Change> = pending.by_ref().take(BATCH).collect();
        let n = batch.len();
        apply(app, library, batch, &mut tree, &mut report).await?;
        done += n;
        progress(done, total);
    }
    if report.moved + report.removed > 0 {
        tree::prune(&mut app.db.conn().await?, library).await?;
    }
    Ok(report)
}

async fn imported_rows(app: &App, library: &str) -> Result<HashMap<String, Known>> {
    let rows: Vec<(String, Option<String>, i64, Option<i64>)> = with_conn!(&mut app.db.conn().await?, c => files_table::table
            .filter(files_table::library_id.eq(library))
            .filter(files_table::source_path.is_not_null())
            .select((
                files_table::id,
                files_table::source_path,
                files_table::size,
                files_table::source_mtime,
            ))
            .load(c)
            .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, path, size, mtime)| Some((path?, Known { id, size, mtime })))
        .collect())
}

/// Writes one batch of changes in a transaction, then announces the jobs it queued.
async fn apply(
    app: &App,
    library: &str,
    batch: Vec<Change>,
    tree: &mut FolderTree,
    report: &mut ScanReport,
) -> Result<()> {
    let now = now_ms();
    let mut queued = Vec::new();
    let mut removed = Vec::new();
    let mut tx = app.db.begin().await?;
    for change in batch {
        match change {
            Change::Add(entry) => {
                let file = File {
                    id: uuid::Uuid::new_v4().to_string(),
                    library_id: library.to_owned(),
                    folder_id: tree.folder_of(&mut tx, &entry.path, now).await?,
                    name: crate::files::clean_name(entry.name()),
                    blob_key: String::new(),
                    sha256: None,
                    size: entry.size as i64,
                    mime: "application/octet-stream".into(),
                    kind: crate::files::MediaKind::Other.as_str().into(),
                    uploaded_by: None,
                    source_file_id: None,
                    created_at: now,
                    updated_at: now,
                    trashed_at: None,
                    source_path: Some(entry.path.clone()),
                    source_mtime: Some(entry.mtime),
                    sidecar: None,
                    media: Default::default(),
                };
                // Another scan (the CLI next to the server) may have added it meanwhile.
                if files::insert_if_new(&mut tx, &file).await? {
                    queued.push(store::enqueue(&mut tx, &file.id, JobKind::Hash).await?);
                    report.added += 1;
                } else {
                    report.unchanged += 1;
                }
            }
            Change::Update(id, entry) => {
                with_conn!(&mut *tx, c => diesel::update(files_table::table.find(&id))
                    .set((
                        files_table::size.eq(entry.size as i64),
                        files_table::source_mtime.eq(entry.mtime),
                        files_table::sha256.eq(None::<String>),
                        files_table::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await)?;
                queued.push(store::enqueue(&mut tx, &id, JobKind::Hash).await?);
                report.changed += 1;
            }
            Change::Move(id, entry) => {
                let folder = tree.folder_of(&mut tx, &entry.path, now).await?;
                with_conn!(&mut *tx, c => diesel::update(files_table::table.find(&id))
                    .set((
                        files_table::folder_id.eq(folder),
                        files_table::name.eq(crate::files::clean_name(entry.name())),
                        files_table::source_path.eq(&entry.path),
                        files_table::updated_at.eq(now),
                    ))
                    .execute(c)
                    .await)?;
                report.moved += 1;
            }
            Change::Remove(id) => removed.push(id),
        }
    }
    tx.commit().await?;
    app.queue.announce(&queued).await;
    for id in removed {
        files::purge(app, library, &id).await?;
        report.removed += 1;
    }
    Ok(())
}
