//! Folders of a library: a tree (each folder has at most one parent) that files live in.
//! Trashing a folder trashes its whole subtree and the files in it with one timestamp, so
//! restoring brings back exactly what went with it.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::activity::{self, ActivityKind};
use crate::app::App;
use crate::db::schema::{files, folders};
use crate::db::{Conn, Db, now_ms};
use crate::error::{Error, Result};
use crate::with_conn;

/// A folder row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, schemars::JsonSchema)]
#[diesel(table_name = folders)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub id: String,
    pub library_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub trashed_at: Option<i64>,
    /// Path under the library's import folder, for folders an import scan mirrors.
    pub source_path: Option<String>,
}

/// Inserts a folder.
pub async fn insert(conn: &mut Conn, folder: &Folder) -> Result<()> {
    with_conn!(conn, c => diesel::insert_into(folders::table).values(folder).execute(c).await)?;
    Ok(())
}

/// The folder `id` of `library_id`.
pub async fn get(conn: &mut Conn, library_id: &str, id: &str) -> Result<Folder> {
    let found = with_conn!(conn, c => folders::table
        .filter(folders::id.eq(id))
        .filter(folders::library_id.eq(library_id))
        .select(Folder::as_select())
        .first(c)
        .await
        .optional())?;
    found.ok_or(Error::NotFound)
}

/// The folders above `folder`, from the library's root down to its parent.
pub async fn ancestors(conn: &mut Conn, folder: &Folder) -> Result<Vec<Folder>> {
    let mut path: Vec<Folder> = Vec::new();
    let mut next = folder.parent_id.clone();
    while let Some(id) = next {
        // Moves refuse cycles; the guard keeps a damaged tree from looping forever.
        if id == folder.id || path.iter().any(|f| f.id == id) {
            break;
        }
        let parent = get(conn, &folder.library_id, &id).await?;
        next = parent.parent_id.clone();
        path.push(parent);
    }
    path.reverse();
    Ok(path)
}

/// A live (not trashed) folder of the library, or a bad request naming the parameter.
pub async fn live(conn: &mut Conn, library_id: &str, id: &str, param: &str) -> Result<Folder> {
    match get(conn, library_id, id).await {
        Ok(f) if f.trashed_at.is_none() => Ok(f),
        Ok(_) | Err(Error::NotFound) => Err(Error::Invalid(format!(
            "{param}: no such folder in this library"
        ))),
        Err(e) => Err(e),
    }
}

/// The folders directly under `parent` (the root when `None`), by name.
pub async fn children(
    conn: &mut Conn,
    library_id: &str,
    parent: Option<&str>,
    trashed: bool,
) -> Result<Vec<Folder>> {
    Ok(with_conn!(conn, c => {
        let mut query = folders::table
            .filter(folders::library_id.eq(library_id))
            .select(Folder::as_select())
            .order((folders::name, folders::id))
            .into_boxed();
        query = match parent {
            Some(p) => query.filter(folders::parent_id.eq(p)),
            None if trashed => query,
            None => query.filter(folders::parent_id.is_null()),
        };
        query = if trashed {
            query.filter(folders::trashed_at.is_not_null())
        } else {
            query.filter(folders::trashed_at.is_null())
        };
        query.load(c).await
    })?)
}

/// `root` and every folder below it.
pub async fn subtree(conn: &mut Conn, library_id: &str, root: &str) -> Result<Vec<String>> {
    let edges: Vec<(String, Option<String>)> = with_conn!(conn, c => folders::table
        .filter(folders::library_id.eq(library_id))
        .select((folders::id, folders::parent_id))
        .load(c)
        .await)?;
    let mut kids: HashMap<String, Vec<String>> = HashMap::new();
    for (id, parent) in edges {
        if let Some(p) = parent {
            kids.entry(p).or_default().push(id);
        }
    }
    let (mut out, mut todo, mut seen) = (Vec::new(), vec![root.to_owned()], HashSet::new());
    while let Some(id) = todo.pop() {
        if seen.insert(id.clone()) {
            todo.extend(kids.remove(&id).unwrap_or_default());
            out.push(id);
        }
    }
    Ok(out)
}

/// Refuses to move folder `id` under `new_parent`, when that is the folder itself or below it.
pub async fn refuse_cycle(
    conn: &mut Conn,
    library_id: &str,
    id: &str,
    new_parent: &str,
) -> Result<()> {
    if subtree(conn, library_id, id)
        .await?
        .iter()
        .any(|f| f == new_parent)
    {
        return Err(Error::Conflict(
            "folder_cycle",
            "a folder cannot move into itself".into(),
        ));
    }
    Ok(())
}

/// Saves a folder's name and parent.
pub async fn save(conn: &mut Conn, folder: &Folder) -> Result<()> {
    with_conn!(conn, c => diesel::update(folders::table.find(&folder.id))
        .set((folders::name.eq(&folder.name), folders::parent_id.eq(&folder.parent_id), folders::updated_at.eq(now_ms())))
        .execute(c)
        .await)?;
    Ok(())
}

/// Trashes (`at` = now) or restores (`at` = None) a subtree and its files. Restoring touches only
/// what was trashed together with the folder (same timestamp).
pub async fn set_trashed(
    conn: &mut Conn,
    ids: &[String],
    at: Option<i64>,
    was: Option<i64>,
) -> Result<()> {
    let now = now_ms();
    match was {
        None => {
            with_conn!(conn, c => diesel::update(folders::table.filter(folders::id.eq_any(ids)).filter(folders::trashed_at.is_null()))
                .set((folders::trashed_at.eq(at), folders::updated_at.eq(now)))
                .execute(c)
                .await)?;
            with_conn!(conn, c => diesel::update(files::table.filter(files::folder_id.eq_any(ids)).filter(files::trashed_at.is_null()))
                .set((files::trashed_at.eq(at), files::updated_at.eq(now)))
                .execute(c)
                .await)?;
        }
        Some(stamp) => {
            with_conn!(conn, c => diesel::update(folders::table.filter(folders::id.eq_any(ids)).filter(folders::trashed_at.eq(stamp)))
                .set((folders::trashed_at.eq(at), folders::updated_at.eq(now)))
                .execute(c)
                .await)?;
            with_conn!(conn, c => diesel::update(files::table.filter(files::folder_id.eq_any(ids)).filter(files::trashed_at.eq(stamp)))
                .set((files::trashed_at.eq(at), files::updated_at.eq(now)))
                .execute(c)
                .await)?;
        }
    }
    Ok(())
}

/// Ids of the files inside these folders.
pub async fn file_ids_in(conn: &mut Conn, ids: &[String]) -> Result<Vec<String>> {
    Ok(
        with_conn!(conn, c => files::table.filter(files::folder_id.eq_any(ids)).select(files::id).load(c).await)?,
    )
}

/// Deletes a folder row; its subfolders go with it.
pub async fn delete(conn: &mut Conn, id: &str) -> Result<()> {
    with_conn!(conn, c => diesel::delete(folders::table.find(id)).execute(c).await)?;
    Ok(())
}

/// Checks a folder name: 1-255 bytes, no slashes or control characters, not `.` or `..`.
pub fn valid_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::Invalid("invalid folder name".into()))
    }
}

/// Creates `folder` on behalf of `actor`, with its activity entry, in one transaction.
pub async fn create(db: &Db, actor: &str, folder: &Folder) -> Result<()> {
    let mut tx = db.begin().await?;
    insert(&mut tx, folder).await?;
    let subject = Some((folder.id.as_str(), folder.name.as_str()));
    let kind = ActivityKind::FolderCreated;
    activity::record(&mut tx, &folder.library_id, Some(actor), kind, subject).await?;
    tx.commit().await?;
    Ok(())
}

/// Trashes or restores a folder with its subfolders and their files, in one transaction;
/// returns the folder as it is now.
pub async fn trash_tree(db: &Db, library: &str, folder: &str, trash: bool) -> Result<Folder> {
    let mut tx = db.begin().await?;
    let folder = get(&mut tx, library, folder).await?;
    let ids = subtree(&mut tx, library, &folder.id).await?;
    match (trash, folder.trashed_at) {
        (true, None) => set_trashed(&mut tx, &ids, Some(now_ms()), None).await?,
        (false, Some(stamp)) => set_trashed(&mut tx, &ids, None, Some(stamp)).await?,
        _ => {}
    }
    let folder = get(&mut tx, library, &folder.id).await?;
    tx.commit().await?;
    Ok(folder)
}

/// Deletes a trashed folder for good, with every file inside it and its subfolders.
pub async fn purge(app: &App, library: &str, folder: &str) -> Result<()> {
    let (folder, files) = {
        let mut conn = app.db.conn().await?;
        let folder = get(&mut conn, library, folder).await?;
        if folder.trashed_at.is_none() {
            return Err(Error::Conflict(
                "not_trashed",
                "move the folder to the trash first".into(),
            ));
        }
        let ids = subtree(&mut conn, library, &folder.id).await?;
        (folder, file_ids_in(&mut conn, &ids).await?)
    };
    for file in files {
        crate::files::purge(app, library, &file).await?;
    }
    delete(&mut app.db.conn().await?, &folder.id).await
}
