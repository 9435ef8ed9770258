//! Where a file's original bytes are: a blob in the store (uploads) or a file in the library's
//! import folder on the NAS (import in place), which is only ever read.

use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::File;
use crate::app::App;
use crate::digest::{sha256_file, sha256_stream};
use crate::error::{Error, Result};
use crate::storage::{BlobKey, BlobStore, BlobStream, clamp_range};

/// The location of one original.
pub enum Original {
    Blob(BlobKey),
    /// A file in an import folder: only read when its real path is inside the folder.
    Imported {
        root: PathBuf,
        path: PathBuf,
    },
}

impl Original {
    /// The original of `file`, whose library imports from `import_root` (if anywhere);
    /// imported files resolve against that folder.
    pub fn of(file: &File, import_root: Option<&str>) -> Result<Original> {
        match (&file.source_path, import_root) {
            (None, _) => BlobKey::original(&file.library_id, &file.id)
                .map(Original::Blob)
                .map_err(|e| Error::Internal(e.to_string())),
            (Some(relative), Some(root)) => Ok(Original::Imported {
                root: PathBuf::from(root),
                path: Path::new(root).join(relative),
            }),
            (Some(_), None) => Err(Error::Conflict(
                "library_unbound",
                "the library is no longer bound to an import folder".into(),
            )),
        }
    }

    /// [`Original::of`], looking the library's import folder up only for imported files.
    pub async fn find(app: &App, file: &File) -> Result<Original> {
        let root = match file.source_path {
            Some(_) => {
                crate::libraries::import_root(&mut app.db.conn().await?, &file.library_id).await?
            }
            None => None,
        };
        Original::of(file, root.as_ref().and_then(|r| r.to_str()))
    }

    /// Size in bytes; `NotFound` when it is gone.
    pub async fn size(&self, storage: &dyn BlobStore) -> io::Result<u64> {
        match self {
            Original::Blob(key) => storage
                .size(key)
                .await?
                .ok_or_else(|| io::ErrorKind::NotFound.into()),
            Original::Imported { root, path } => {
                Ok(open_inside(root, path).await?.metadata().await?.len())
            }
        }
    }

    /// Streams the bytes in `range` (all when None).
    pub async fn read(
        &self,
        storage: &dyn BlobStore,
        range: Option<Range<u64>>,
    ) -> io::Result<BlobStream> {
        match self {
            Original::Blob(key) => storage.read(key, range).await,
            Original::Imported { root, path } => {
                let mut file = open_inside(root, path).await?;
                let size = file.metadata().await?.len();
                let range = clamp_range(range, size)?;
                file.seek(io::SeekFrom::Start(range.start)).await?;
                let limited = file.take(range.end - range.start);
                Ok(tokio_util::io::ReaderStream::with_capacity(limited, 256 * 1024).boxed())
            }
        }
    }

    /// A path on this machine to read directly, when there is one.
    pub fn local_path(&self, storage: &dyn BlobStore) -> Option<PathBuf> {
        match self {
            Original::Blob(key) => storage.local_path(key),
            Original::Imported { root, path } => {
                let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
                let inside = std::fs::canonicalize(root).is_ok_and(|root| within(&root, path));
                // Otherwise readers take the checked stream, which refuses it with a reason.
                (!link && inside).then(|| path.clone())
            }
        }
    }

    /// Hex SHA-256: straight from the file when it is local (on this worker thread, via
    /// `block_in_place`), else through the store's stream; `on_bytes` gets the running count.
    pub async fn sha256(
        &self,
        storage: &dyn BlobStore,
        on_bytes: impl FnMut(u64),
    ) -> io::Result<String> {
        match self.local_path(storage) {
            Some(path) => tokio::task::block_in_place(|| sha256_file(&path, on_bytes)),
            None => sha256_stream(self.read(storage, None).await?, on_bytes).await,
        }
    }
}

/// Opens the imported file `path` for reading only if it is no symlink and its real path is
/// inside `root`: checked on the opened descriptor, so a file swapped for a symlink after the
/// scan is refused too.
async fn open_inside(root: &Path, path: &Path) -> io::Result<tokio::fs::File> {
    let (root, path) = (root.to_path_buf(), path.to_path_buf());
    let file = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::OpenOptionsExt;
        let outside = || {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} leads outside the import folder", path.display()),
            )
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => outside(),
                _ => e,
            })?;
        let real_root = std::fs::canonicalize(&root)?;
        let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        if !opened.starts_with(&real_root) {
            return Err(outside());
        }
        Ok(file)
    })
    .await
    .map_err(io::Error::other)??;
    Ok(tokio::fs::File::from_std(file))
}

/// Whether `path`'s real location (every symlink resolved) is inside `real_root`.
pub fn within(real_root: &Path, path: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|real| real.starts_with(real_root))
}
