//! The libraries as a tree of names, the way WebDAV clients see them: a user's libraries are
//! the top folders, each library's folder tree is inside, and its live originals are the files
//! (derived and trashed files never show). Names are unique within a folder: when two things
//! share one, the first keeps it and the others show as `name (1a2b3c4d).ext`, with the start
//! of their id, which is also how they are found again.

pub mod changes;

use std::collections::HashSet;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::{files as files_table, libraries as libraries_table, library_members};
use crate::error::Result;
use crate::files::File;
use crate::folders::{self, Folder};
use crate::libraries::{Library, Role};
use crate::with_conn;

/// A library with the caller's role in it.
#[derive(Debug, Clone)]
pub struct Space {
    pub library: Library,
    pub role: Role,
}

/// Something at a path. (A few live per request, so the top's emptiness is no waste to box.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Node {
    /// The top: the caller's libraries.
    Root,
    /// A library (no folder) or one of its folders.
    Dir(Space, Option<Folder>),
    /// A live original.
    File(Space, File),
}

impl Node {
    /// The library it is in (none for the top).
    pub fn space(&self) -> Option<&Space> {
        match self {
            Node::Root => None,
            Node::Dir(space, _) | Node::File(space, _) => Some(space),
        }
    }

    /// Whether it holds other things.
    pub fn is_dir(&self) -> bool {
        !matches!(self, Node::File(..))
    }
}

/// What a path leads to.
#[derive(Debug)]
pub enum Lookup {
    Found(Node),
    /// Nothing there yet, but its parent is: where a new file or folder `name` would go.
    Missing {
        parent: Node,
        name: String,
    },
    /// Not even its parent is there.
    NoParent,
}

/// Follows `segments` (decoded path segments below the top) for `user_id`. A library the user
/// is not a member of is simply not there.
pub async fn lookup(conn: &mut Conn, user_id: &str, segments: &[String]) -> Result<Lookup> {
    let mut node = Node::Root;
    for (i, segment) in segments.iter().enumerate() {
        let found = child(conn, user_id, &node, segment).await?;
        node = match found {
            Some(next) => next,
            None if i + 1 == segments.len() => {
                return Ok(Lookup::Missing {
                    parent: node,
                    name: segment.clone(),
                });
            }
            None => return Ok(Lookup::NoParent),
        };
        if let Node::File(..) = node
            && i + 1 < segments.len()
        {
            return Ok(Lookup::NoParent);
        }
    }
    Ok(Lookup::Found(node))
}

/// What `dir` holds, each under its unique name: libraries, then folders, then files.
pub async fn children(conn: &mut Conn, user_id: &str, dir: &Node) -> Result<Vec<(String, Node)>> {
    let (space, folder) = match dir {
        Node::File(..) => return Ok(Vec::new()),
        Node::Root => {
            let spaces = spaces_of(conn, user_id).await?;
            let names = unique(spaces.iter().map(|s| (&s.library.name, &s.library.id)), &[]);
            return Ok(names
                .into_iter()
                .zip(spaces.into_iter().map(|s| Node::Dir(s, None)))
                .collect());
        }
        Node::Dir(space, folder) => (space, folder.as_ref().map(|f| f.id.as_str())),
    };
    let library = &space.library.id;
    let folders = folders::children(conn, library, folder, false).await?;
    let files = files_in(conn, library, folder, None).await?;
    let folder_names = unique(folders.iter().map(|f| (&f.name, &f.id)), &[]);
    let taken: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    let file_names = unique(files.iter().map(|f| (&f.name, &f.id)), &taken);
    let mut out = Vec::with_capacity(folders.len() + files.len());
    for (name, f) in folder_names.into_iter().zip(folders) {
        out.push((name, Node::Dir(space.clone(), Some(f))));
    }
    for (name, f) in file_names.into_iter().zip(files) {
        out.push((name, Node::File(space.clone(), f)));
    }
    Ok(out)
}

/// The thing named `name` directly inside `dir`.
async fn child(conn: &mut Conn, user_id: &str, dir: &Node, name: &str) -> Result<Option<Node>> {
    let (space, folder) = match dir {
        Node::File(..) => return Ok(None),
        Node::Root => {
            return Ok(children(conn, user_id, dir)
                .await?
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, node)| node));
        }
        Node::Dir(space, folder) => (space, folder.as_ref().map(|f| f.id.as_str())),
    };
    let library = &space.library.id;
    let folders = folders::children(conn, library, folder, false).await?;
    let folder_names = unique(folders.iter().map(|f| (&f.name, &f.id)), &[]);
    if let Some(at) = folder_names.iter().position(|n| n == name) {
        return Ok(Some(Node::Dir(space.clone(), Some(folders[at].clone()))));
    }
    let shadowed = folders.iter().any(|f| f.name == name);
    if !shadowed
        && let Some(file) = files_in(conn, library, folder, Some(name))
            .await?
            .into_iter()
            .next()
    {
        return Ok(Some(Node::File(space.clone(), file)));
    }
    let Some((real, id_start)) = unalias(name) else {
        return Ok(None);
    };
    let file = files_in(conn, library, folder, Some(&real))
        .await?
        .into_iter()
        .find(|f| f.id.starts_with(&id_start));
    Ok(file.map(|f| Node::File(space.clone(), f)))
}

/// The libraries `user_id` is a member of, oldest first.
pub async fn spaces_of(conn: &mut Conn, user_id: &str) -> Result<Vec<Space>> {
    let rows: Vec<(Library, String)> = with_conn!(conn, c => libraries_table::table
        .inner_join(library_members::table)
        .filter(library_members::user_id.eq(user_id))
        .order((libraries_table::created_at, libraries_table::id))
        .select((Library::as_select(), library_members::role))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(library, role)| {
            Some(Space {
                library,
                role: Role::parse(&role)?,
            })
        })
        .collect())
}

/// Live originals directly in `folder` (the library's top when `None`), oldest first; only
/// those called `name` when given.
pub async fn files_in(
    conn: &mut Conn,
    library: &str,
    folder: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<File>> {
    Ok(with_conn!(conn, c => {
        let mut query = files_table::table
            .filter(files_table::library_id.eq(library))
            .filter(files_table::source_file_id.is_null())
            .filter(files_table::trashed_at.is_null())
            .select(File::as_select())
            .order((files_table::created_at, files_table::id))
            .into_boxed();
        query = match folder {
            Some(f) => query.filter(files_table::folder_id.eq(f)),
            None => query.filter(files_table::folder_id.is_null()),
        };
        if let Some(n) = name {
            query = query.filter(files_table::name.eq(n));
        }
        query.load(c).await
    })?)
}

/// Length of the id start that tells same-named things apart.
const ID_START: usize = 8;

/// Unique names for `items` (name, id) in order: the first of each name keeps it unless it is
/// `taken`; the rest get [`alias`]es.
fn unique<'a>(
    items: impl Iterator<Item = (&'a String, &'a String)>,
    taken: &[&str],
) -> Vec<String> {
    let mut seen: HashSet<&str> = taken.iter().copied().collect();
    items
        .map(|(name, id)| {
            if seen.insert(name) {
                name.clone()
            } else {
                alias(name, id)
            }
        })
        .collect()
}

/// `name` told apart by the start of `id`: `IMG_1.jpg` becomes `IMG_1 (1a2b3c4d).jpg`.
fn alias(name: &str, id: &str) -> String {
    let start = &id[..id.len().min(ID_START)];
    match name.rfind('.').filter(|&dot| dot > 0) {
        Some(dot) => format!("{} ({start}){}", &name[..dot], &name[dot..]),
        None => format!("{name} ({start})"),
    }
}

/// The real name and id start an [`alias`] was made from.
fn unalias(shown: &str) -> Option<(String, String)> {
    let (stem, ext) = match shown.rfind('.').filter(|&dot| dot > 0) {
        Some(dot) => (&shown[..dot], &shown[dot..]),
        None => (shown, ""),
    };
    let inner = stem.strip_suffix(')')?;
    let open = inner.rfind(" (")?;
    let id_start = &inner[open + 2..];
    let plausible = id_start.len() == ID_START && id_start.chars().all(|c| c.is_ascii_hexdigit());
    plausible.then(|| (format!("{}{ext}", &inner[..open]), id_start.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_keep_the_extension_and_lead_back_to_name_and_id() {
        let id = "1a2b3c4d-0000-4000-8000-000000000000";
        for name in ["IMG_1.jpg", "Trip", "a.b.c.mov", ".hidden", "x (2).jpg"] {
            let shown = alias(name, id);
            assert_eq!(
                unalias(&shown),
                Some((name.to_owned(), "1a2b3c4d".to_owned())),
                "{shown}"
            );
        }
        assert_eq!(alias("IMG_1.jpg", id), "IMG_1 (1a2b3c4d).jpg");
        assert_eq!(unalias("IMG_1.jpg"), None);
        assert_eq!(unalias("Holiday (2019).jpg"), None);
    }

    #[test]
    fn the_first_of_a_name_keeps_it_unless_a_folder_has_it() {
        let (a, b, c) = (
            "same.jpg".to_owned(),
            "other.jpg".to_owned(),
            "1a2b3c4d9".to_owned(),
        );
        let items = [(&a, &c), (&b, &c), (&a, &c)];
        assert_eq!(
            unique(items.into_iter(), &[]),
            ["same.jpg", "other.jpg", "same (1a2b3c4d).jpg"]
        );
        assert_eq!(
            unique(items.into_iter(), &["same.jpg"]),
            ["same (1a2b3c4d).jpg", "other.jpg", "same (1a2b3c4d).jpg"]
        );
    }
}
