//! The import folder's directories as library folders, so the folders view shows the NAS
//! tree: created (with their parents) as files appear in them, and removed once a scan leaves
//! them without files or subfolders.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::{files, folders};
use crate::error::Result;
use crate::folders::Folder;
use crate::with_conn;

/// The mirrored folders of one library, by directory path.
pub struct FolderTree {
    library: String,
    ids: HashMap<String, String>,
}

impl FolderTree {
    /// Loads the folders earlier scans mirrored.
    pub async fn load(conn: &mut Conn, library: &str) -> Result<FolderTree> {
        let rows: Vec<(Option<String>, String)> = with_conn!(conn, c => folders::table
            .filter(folders::library_id.eq(library))
            .filter(folders::source_path.is_not_null())
            .select((folders::source_path, folders::id))
            .load(c)
            .await)?;
        Ok(FolderTree {
            library: library.to_owned(),
            ids: rows
                .into_iter()
                .filter_map(|(path, id)| Some((path?, id)))
                .collect(),
        })
    }

    /// The folder of the directory holding `file_path` (None at the top), created with its
    /// parents as needed.
    pub async fn folder_of(
        &mut self,
        conn: &mut Conn,
        file_path: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let Some((dir, _)) = file_path.rsplit_once('/') else {
            return Ok(None);
        };
        let mut parent: Option<String> = None;
        let mut prefix = String::new();
        for segment in dir.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(segment);
            let id = match self.ids.get(&prefix) {
                Some(id) => id.clone(),
                None => {
                    let folder = Folder {
                        id: uuid::Uuid::new_v4().to_string(),
                        library_id: self.library.clone(),
                        parent_id: parent.clone(),
                        name: segment.to_owned(),
                        created_at: now,
                        updated_at: now,
                        trashed_at: None,
                        source_path: Some(prefix.clone()),
                    };
                    crate::folders::insert(conn, &folder).await?;
                    self.ids.insert(prefix.clone(), folder.id.clone());
                    folder.id
                }
            };
            parent = Some(id);
        }
        Ok(parent)
    }
}

/// Deletes mirrored folders of `library` that hold no file and no folder; returns how many.
pub async fn prune(conn: &mut Conn, library: &str) -> Result<usize> {
    let all: Vec<(String, Option<String>, Option<String>)> = with_conn!(conn, c => folders::table
        .filter(folders::library_id.eq(library))
        .select((folders::id, folders::parent_id, folders::source_path))
        .load(c)
        .await)?;
    let holding_files: HashSet<String> = with_conn!(conn, c => files::table
        .filter(files::library_id.eq(library))
        .filter(files::folder_id.is_not_null())
        .select(files::folder_id)
        .distinct()
        .load::<Option<String>>(c)
        .await)?
    .into_iter()
    .flatten()
    .collect();
    // Remove empty mirrored leaves until none is left; their parents may become leaves.
    let mut remaining: HashMap<String, (Option<String>, bool)> = all
        .into_iter()
        .map(|(id, parent, source)| (id, (parent, source.is_some())))
        .collect();
    let mut removed = Vec::new();
    loop {
        let parents: HashSet<&String> =
            remaining.values().filter_map(|(p, _)| p.as_ref()).collect();
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(id, (_, mirrored))| {
                *mirrored && !holding_files.contains(*id) && !parents.contains(id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for id in leaves {
            remaining.remove(&id);
            removed.push(id);
        }
    }
    if removed.is_empty() {
        return Ok(0);
    }
    Ok(
        with_conn!(conn, c => diesel::delete(folders::table.filter(folders::id.eq_any(&removed)))
        .execute(c)
        .await)?,
    )
}
