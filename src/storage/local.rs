//! Blobs as files under a root directory. Every write goes to a temporary file in the root's
//! `.tmp/`, is flushed, fsynced and checked for its full length, renamed over the key's path and
//! the directory fsynced: after a crash or a full disk a key holds the old blob or the new one,
//! never a torn or empty one. A failed write removes its temporary at once; temporaries left by
//! a stopped process are removed at open.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::durable::{self, DurableWriter, TempPath};
use super::scratch::ScratchDir;
use super::{BlobKey, BlobStore, BlobStream, clamp_range};

/// Read buffer size for streaming a file.
const READ_BUF: usize = 1 << 20;

/// A store in a local directory.
pub struct LocalStore {
    root: PathBuf,
    /// This process's folder for temporaries, in the root's `.tmp/` (same file system, so a
    /// finished temporary is renamed into place).
    tmp: ScratchDir,
}

impl LocalStore {
    /// Opens (creating) the store at `root` and clears temporaries left by stopped processes.
    pub async fn open(root: &Path) -> Result<LocalStore, String> {
        let tmp_parent = root.join(".tmp");
        let tmp = ScratchDir::open(&tmp_parent)
            .map_err(|e| format!("cannot prepare {}: {e}", tmp_parent.display()))?;
        Ok(LocalStore {
            root: root.to_path_buf(),
            tmp,
        })
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    /// Moves a finished temporary file into place and makes the rename durable; the temporary
    /// is removed if anything fails.
    async fn commit(&self, temp: TempPath, key: &BlobKey) -> io::Result<()> {
        let target = self.path_of(key);
        let dir = target
            .parent()
            .expect("keys have a scope directory")
            .to_path_buf();
        fs::create_dir_all(&dir).await?;
        if let Err(e) = fs::rename(temp.path(), &target).await {
            // A delete pruning empty folders may have taken `dir` between the two calls.
            if e.kind() != io::ErrorKind::NotFound {
                return Err(e);
            }
            fs::create_dir_all(&dir).await?;
            fs::rename(temp.path(), &target).await?;
        }
        temp.keep();
        fs::File::open(&dir).await?.sync_all().await
    }

    /// Removes the folders above `path` that a delete left empty, up to the scope's own folder.
    async fn prune_empty_parents(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir
            && d.parent()
                .is_some_and(|p| p != self.root && p.starts_with(&self.root))
            && fs::remove_dir(d).await.is_ok()
        {
            dir = d.parent();
        }
    }

    async fn write_temp(&self, bytes: &[u8]) -> io::Result<TempPath> {
        let temp = self.tmp.temp_file("");
        let mut writer = DurableWriter::create(temp.path()).await?;
        writer.write(bytes).await?;
        writer.finish().await?;
        Ok(temp)
    }

    async fn copy_temp(&self, source: &Path) -> io::Result<TempPath> {
        let temp = self.tmp.temp_file("");
        durable::copy(source, temp.path()).await?;
        Ok(temp)
    }
}

impl BlobStore for LocalStore {
    fn put_bytes<'a>(&'a self, key: &'a BlobKey, bytes: Bytes) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move { self.commit(self.write_temp(&bytes).await?, key).await })
    }

    fn put_file<'a>(&'a self, key: &'a BlobKey, path: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move { self.commit(self.copy_temp(path).await?, key).await })
    }

    fn size<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(async move {
            match fs::metadata(self.path_of(key)).await {
                Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn read<'a>(
        &'a self,
        key: &'a BlobKey,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, io::Result<BlobStream>> {
        Box::pin(async move {
            let mut file = fs::File::open(self.path_of(key)).await?;
            let range = clamp_range(range, file.metadata().await?.len())?;
            file.seek(io::SeekFrom::Start(range.start)).await?;
            let reader = file.take(range.end - range.start);
            let stream = futures_util::stream::try_unfold(reader, |mut reader| async move {
                let mut buf = vec![0u8; READ_BUF];
                let n = reader.read(&mut buf).await?;
                buf.truncate(n);
                Ok((n > 0).then(|| (Bytes::from(buf), reader)))
            });
            Ok(Box::pin(stream) as BlobStream)
        })
    }

    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let path = self.path_of(key);
            match fs::remove_file(&path).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => {
                    self.prune_empty_parents(&path).await;
                    Ok(())
                }
            }
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a BlobKey) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let path = self.path_of(prefix);
            let result = match fs::metadata(&path).await {
                Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path).await,
                Ok(_) => fs::remove_file(&path).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => {
                    self.prune_empty_parents(&path).await;
                    Ok(())
                }
            }
        })
    }

    fn name(&self) -> &'static str {
        "local"
    }

    fn local_path(&self, key: &BlobKey) -> Option<PathBuf> {
        Some(self.path_of(key))
    }
}
