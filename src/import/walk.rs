//! Walking an import folder: every readable regular file with its UTF-8 relative path, size and
//! mtime. Symlinks are followed only when their real path stays inside the folder, and never
//! into a folder that is already being walked (a loop); anything that cannot be read or named
//! is reported, never fatal.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// A file found by the walk.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Modification time in ms since the epoch.
    pub mtime: i64,
}

impl Entry {
    /// The file name (last path segment).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Something the walk could not index, and why.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Skipped {
    /// Relative path, with bytes that are not UTF-8 replaced.
    pub path: String,
    pub reason: String,
}

/// The result of a walk.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<Entry>,
    pub skipped: Vec<Skipped>,
}

/// Folder names NAS systems keep their own data in (thumbnails, recycle bins).
fn is_system_folder(name: &str) -> bool {
    matches!(
        name,
        "@eaDir" | "#recycle" | "#snapshot" | "lost+found" | ".@__thumb"
    )
}

/// Walks `root`; fails only when `root` itself cannot be read.
pub fn walk(root: &Path) -> Result<Walked> {
    let meta = std::fs::metadata(root)
        .map_err(|e| Error::Unavailable(format!("import folder {}: {e}", root.display())))?;
    let real_root = std::fs::canonicalize(root)
        .map_err(|e| Error::Unavailable(format!("import folder {}: {e}", root.display())))?;
    let mut walked = Walked::default();
    let mut ancestors = HashSet::from([(meta.dev(), meta.ino())]);
    let mut walk = Walk {
        real_root: &real_root,
        ancestors: &mut ancestors,
        out: &mut walked,
    };
    walk.visit(root, "");
    Ok(walked)
}

/// One walk's state.
struct Walk<'a> {
    /// The root with every symlink resolved: nothing outside it is indexed.
    real_root: &'a Path,
    /// The folders being walked, by device and inode, to spot symlink loops.
    ancestors: &'a mut HashSet<(u64, u64)>,
    out: &'a mut Walked,
}

impl Walk<'_> {
    /// Walks the folder `dir` (at `relative` under the root).
    fn visit(&mut self, dir: &Path, relative: &str) {
        let out = &mut *self.out;
        let skip = |out: &mut Walked, path: String, reason: String| {
            tracing::info!("import: skipping {path}: {reason}");
            out.skipped.push(Skipped { path, reason });
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => return skip(out, relative.to_owned(), format!("unreadable folder: {e}")),
        };
        let mut children: Vec<(PathBuf, String)> = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    skip(out, relative.to_owned(), format!("unreadable folder: {e}"));
                    continue;
                }
            };
            let raw = entry.file_name();
            let join = |name: &str| match relative {
                "" => name.to_owned(),
                _ => format!("{relative}/{name}"),
            };
            let Some(name) = raw.to_str() else {
                skip(
                    out,
                    join(&raw.to_string_lossy()),
                    "the name is not valid UTF-8".into(),
                );
                continue;
            };
            if name.starts_with('.') || is_system_folder(name) {
                continue;
            }
            children.push((entry.path(), join(name)));
        }
        children.sort();
        for (path, rel) in children {
            let out = &mut *self.out;
            let is_link =
                std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            // A dangling link is reported below as unreadable.
            let escapes = is_link
                && std::fs::canonicalize(&path).is_ok_and(|real| !real.starts_with(self.real_root));
            if escapes {
                skip(
                    out,
                    rel,
                    "a symlink that leads outside the import folder".into(),
                );
                continue;
            }
            // Follows symlinks: a dangling link or a permission problem shows up here.
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    skip(out, rel, format!("unreadable: {e}"));
                    continue;
                }
            };
            if meta.is_dir() {
                let id = (meta.dev(), meta.ino());
                if !self.ancestors.insert(id) {
                    skip(out, rel, "symlink loop".into());
                    continue;
                }
                self.visit(&path, &rel);
                self.ancestors.remove(&id);
            } else if meta.is_file() {
                if let Err(e) = std::fs::File::open(&path) {
                    skip(out, rel, format!("unreadable: {e}"));
                    continue;
                }
                let mtime = meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000;
                out.files.push(Entry {
                    path: rel,
                    size: meta.len(),
                    mtime,
                });
            }
        }
    }
}
