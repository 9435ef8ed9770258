//! Changes made through the tree of names: new folders, moves and copies (within a library or
//! into another) and deletes, which only ever move things to the trash. New files come in
//! through the same ingest as browser uploads.

use std::future::Future;
use std::pin::Pin;

use uuid::Uuid;

use super::{Node, Space, files_in};
use crate::app::App;
use crate::db::{Db, now_ms};
use crate::error::{Error, Result};
use crate::files::original::Original;
use crate::files::sidecar::Sidecar;
use crate::files::{self, File, ingest, upload};
use crate::folders::{self, Folder};

/// Where a move or a copy puts something: a name in a library's folder (its top when `None`).
pub struct Target<'a> {
    pub space: &'a Space,
    pub folder: Option<&'a Folder>,
    pub name: &'a str,
}

impl Target<'_> {
    fn folder_id(&self) -> Option<String> {
        self.folder.map(|f| f.id.clone())
    }
}

/// `name` if it can be a file's name as given (a name the server would change is refused, so
/// the client finds its file again under the name it chose).
pub fn file_name(name: &str) -> Result<&str> {
    if files::clean_name(name) == name {
        Ok(name)
    } else {
        Err(Error::Invalid(format!(
            "`{name}` cannot be a file name here"
        )))
    }
}

/// `name` if it can be a folder's name as given.
pub fn folder_name(name: &str) -> Result<&str> {
    match folders::valid_name(name) {
        Ok(valid) if valid == name => Ok(name),
        _ => Err(Error::Invalid(format!(
            "`{name}` cannot be a folder name here"
        ))),
    }
}

/// Makes the folder `to`.
pub async fn make_folder(db: &Db, actor: &str, to: &Target<'_>) -> Result<Folder> {
    let now = now_ms();
    let folder = Folder {
        id: Uuid::new_v4().to_string(),
        library_id: to.space.library.id.clone(),
        parent_id: to.folder_id(),
        name: folder_name(to.name)?.to_owned(),
        created_at: now,
        updated_at: now,
        trashed_at: None,
        source_path: None,
    };
    folders::create(db, actor, &folder).await?;
    Ok(folder)
}

/// Moves a file or a folder (with everything in it) to the trash; libraries and the top stay.
pub async fn trash(db: &Db, actor: &str, node: &Node) -> Result<()> {
    match node {
        Node::File(_, file) => files::trash(db, actor, file, true).await,
        Node::Dir(space, Some(folder)) => {
            folders::trash_tree(db, &space.library.id, &folder.id, true).await?;
            Ok(())
        }
        Node::Dir(_, None) | Node::Root => Err(not_here("libraries are deleted in the web app")),
    }
}

/// Moves `node` to `to`: a rename or move within its library, a copy and a trash into another.
pub async fn relocate(app: &App, actor: &str, node: &Node, to: &Target<'_>) -> Result<()> {
    let same_library = node
        .space()
        .is_some_and(|s| s.library.id == to.space.library.id);
    if !same_library {
        copy(app, actor, node, to, true).await?;
        return trash(&app.db, actor, node).await;
    }
    let mut conn = app.db.conn().await?;
    match node {
        Node::File(_, file) => {
            let mut file = file.clone();
            file.name = file_name(to.name)?.to_owned();
            file.folder_id = to.folder_id();
            files::update(&mut conn, &file).await?;
            crate::search::refresh(&mut conn, &[file.id]).await
        }
        Node::Dir(space, Some(folder)) => {
            refuse_into_itself(&mut conn, &space.library.id, folder, to).await?;
            let mut folder = folder.clone();
            folder.name = folder_name(to.name)?.to_owned();
            folder.parent_id = to.folder_id();
            folders::save(&mut conn, &folder).await?;
            crate::search::refresh_folder(&mut conn, &space.library.id, &folder.id).await
        }
        Node::Dir(_, None) | Node::Root => Err(not_here("libraries are renamed in the web app")),
    }
}

/// Copies `node` to `to`: a file's bytes go through the ingest again (so the copy is flagged a
/// duplicate), a folder is made anew and, when `deep`, filled with copies of what is inside.
pub fn copy<'a>(
    app: &'a App,
    actor: &'a str,
    node: &'a Node,
    to: &'a Target<'a>,
    deep: bool,
) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        match node {
            Node::File(_, file) => copy_file(app, actor, file, to).await.map(drop),
            Node::Dir(space, Some(folder)) => {
                let library = &space.library.id;
                refuse_into_itself(&mut app.db.conn().await?, library, folder, to).await?;
                let made = make_folder(&app.db, actor, to).await?;
                if !deep {
                    return Ok(());
                }
                let (subfolders, files) = {
                    let mut conn = app.db.conn().await?;
                    let inside = Some(folder.id.as_str());
                    let subfolders = folders::children(&mut conn, library, inside, false).await?;
                    (
                        subfolders,
                        files_in(&mut conn, library, inside, None).await?,
                    )
                };
                let children = subfolders
                    .into_iter()
                    .map(|f| (f.name.clone(), Node::Dir(space.clone(), Some(f))))
                    .chain(
                        files
                            .into_iter()
                            .map(|f| (f.name.clone(), Node::File(space.clone(), f))),
                    );
                for (name, child) in children {
                    let inner = Target {
                        space: to.space,
                        folder: Some(&made),
                        name: &name,
                    };
                    copy(app, actor, &child, &inner, true).await?;
                }
                Ok(())
            }
            Node::Dir(_, None) | Node::Root => Err(not_here("libraries cannot be copied")),
        }
    })
}

/// Stores a copy of `file`'s bytes as a new file at `to`, with its file time and sidecar.
async fn copy_file(app: &App, actor: &str, file: &File, to: &Target<'_>) -> Result<File> {
    let original = Original::find(app, file).await?;
    let mut bytes = original
        .read(app.storage.as_ref(), None)
        .await
        .map_err(|e| Error::blob(&format!("reading {}", file.id), e))?;
    let staged = upload::stage(&mut bytes, app.scratch.temp_file(".copy"), u64::MAX).await?;
    let received = ingest::Received {
        id: Uuid::new_v4().to_string(),
        library_id: to.space.library.id.clone(),
        folder_id: to.folder_id(),
        name: file_name(to.name)?.to_owned(),
        uploaded_by: actor.to_owned(),
        path: staged.path(),
        size: staged.size,
        sha256: staged.sha256.clone(),
        head: &staged.head,
        mtime: Some(file.source_mtime.unwrap_or(file.created_at)),
        sidecar: file
            .sidecar
            .as_deref()
            .and_then(|s| serde_json::from_str::<Sidecar>(s).ok()),
    };
    ingest::store(app, received).await
}

/// Refuses to put `folder` inside itself or below.
async fn refuse_into_itself(
    conn: &mut crate::db::Conn,
    library: &str,
    folder: &Folder,
    to: &Target<'_>,
) -> Result<()> {
    match to.folder {
        Some(parent) if to.space.library.id == library => {
            folders::refuse_cycle(conn, library, &folder.id, &parent.id).await
        }
        _ => Ok(()),
    }
}

fn not_here(why: &str) -> Error {
    Error::Conflict("not_through_webdav", why.into())
}
