//! Writing local files so that a failed write can never pass for a stored one.
//!
//! tokio's `File` hands each write to a background thread and reports a failed write (a full
//! disk, say) only on the next operation; `sync_all` does not report it. [`DurableWriter`]
//! therefore flushes before it fsyncs and then checks that the file on disk holds every byte it
//! was given. [`TempPath`] removes a temporary file on every error path, when it is dropped.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

/// A file path removed when dropped, unless [`TempPath::keep`] was called.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    keep: bool,
}

impl TempPath {
    /// Takes charge of `path` (which need not exist yet).
    pub fn new(path: PathBuf) -> TempPath {
        TempPath { path, keep: false }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops removing the file (it was renamed into place or is handed on) and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A local file being written; [`DurableWriter::finish`] makes it durable and checks its length.
pub struct DurableWriter {
    file: tokio::fs::File,
    path: PathBuf,
    /// The length the file must have once every write given so far has landed.
    expected: u64,
}

impl DurableWriter {
    /// Creates (or truncates) the file at `path`, with mode 0600.
    pub async fn create(path: &Path) -> io::Result<DurableWriter> {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .await?;
        Ok(DurableWriter {
            file,
            path: path.to_path_buf(),
            expected: 0,
        })
    }

    /// Opens the existing file at `path` to append to it.
    pub async fn append(path: &Path) -> io::Result<DurableWriter> {
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .await?;
        let expected = file.metadata().await?.len();
        Ok(DurableWriter {
            file,
            path: path.to_path_buf(),
            expected,
        })
    }

    /// Writes all of `data` (an earlier write's failure surfaces here at the latest).
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data).await?;
        self.expected += data.len() as u64;
        Ok(())
    }

    /// Flushes, fsyncs and checks that the file holds every byte written; returns its length.
    pub async fn finish(mut self) -> io::Result<u64> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let on_disk = self.file.metadata().await?.len();
        check_length(&self.path, on_disk, self.expected)?;
        Ok(on_disk)
    }
}

/// An error unless a file written in full has the `expected` length.
pub fn check_length(path: &Path, on_disk: u64, expected: u64) -> io::Result<()> {
    if on_disk == expected {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{} holds {on_disk} bytes after writing {expected}",
        path.display()
    )))
}

/// Copies `source` to a new file at `target`, fsyncs it and checks its length.
pub async fn copy(source: &Path, target: &Path) -> io::Result<u64> {
    let expected = tokio::fs::metadata(source).await?.len();
    tokio::fs::copy(source, target).await?;
    let file = tokio::fs::File::open(target).await?;
    file.sync_all().await?;
    let on_disk = file.metadata().await?.len();
    check_length(target, on_disk, expected)?;
    Ok(on_disk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("alcoves-durable-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn writes_land_whole_and_appends_count_from_the_end() {
        let dir = temp_dir();
        let path = dir.join("blob");
        let mut writer = DurableWriter::create(&path).await.unwrap();
        writer.write(b"hello ").await.unwrap();
        assert_eq!(writer.finish().await.unwrap(), 6);
        let mut writer = DurableWriter::append(&path).await.unwrap();
        writer.write(b"world").await.unwrap();
        assert_eq!(writer.finish().await.unwrap(), 11);
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_temp_path_is_removed_unless_kept() {
        let dir = temp_dir();
        let dropped = TempPath::new(dir.join("a"));
        std::fs::write(dropped.path(), b"x").unwrap();
        let kept = TempPath::new(dir.join("b"));
        std::fs::write(kept.path(), b"x").unwrap();
        drop(dropped);
        let kept = kept.keep();
        assert!(!dir.join("a").exists());
        assert!(kept.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_short_file_is_an_error() {
        assert!(check_length(Path::new("x"), 0, 10).is_err());
        assert!(check_length(Path::new("x"), 10, 10).is_ok());
    }
}
