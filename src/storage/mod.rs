//! Blob storage: one [`BlobStore`] trait with a local-disk and an S3-compatible implementation.
//! Blobs live under validated [`BlobKey`]s in three scopes (originals, cache, avatars); reads
//! take an optional byte range that each store pushes down (a file seek, an S3 `Range` request).

pub mod disk;
pub mod durable;
pub mod key;
pub mod local;
pub mod s3;
pub mod scratch;

use std::io;
use std::ops::Range;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;

pub use key::{BlobKey, Scope};

use crate::config::Config;

/// A blob's bytes as they arrive.
pub type BlobStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Size of the pieces reads are streamed in.
pub const CHUNK: u64 = 8 << 20;

/// Where blobs are kept. Writes are all-or-nothing: a reader never sees half a blob under a key.
/// A missing blob is an `io::ErrorKind::NotFound` error.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing what was there.
    fn put_bytes<'a>(&'a self, key: &'a BlobKey, bytes: Bytes) -> BoxFuture<'a, io::Result<()>>;

    /// Stores the contents of the local file at `path` under `key`, replacing what was there.
    fn put_file<'a>(&'a self, key: &'a BlobKey, path: &'a Path) -> BoxFuture<'a, io::Result<()>>;

    /// The blob's size in bytes, or `None` when there is no such blob.
    fn size<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, io::Result<Option<u64>>>;

    /// Streams the blob, or the `range` of it (clamped to its end; must start inside it).
    fn read<'a>(
        &'a self,
        key: &'a BlobKey,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, io::Result<BlobStream>>;

    /// Removes the blob; removing a missing blob is not an error.
    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, io::Result<()>>;

    /// Removes every blob whose key starts with `prefix` (e.g. all cache entries of one file).
    fn delete_prefix<'a>(&'a self, prefix: &'a BlobKey) -> BoxFuture<'a, io::Result<()>>;

    /// Short name for logs, `health` and `doctor`.
    fn name(&self) -> &'static str;

    /// The blob's path on this machine's disk, for stores that keep blobs as local files (lets
    /// CPU-bound readers such as hashing skip the async stream).
    fn local_path(&self, _key: &BlobKey) -> Option<std::path::PathBuf> {
        None
    }
}

/// Everything `stream` yields, in one buffer.
pub async fn collect(stream: BlobStream) -> io::Result<Vec<u8>> {
    let chunks: Vec<Bytes> = futures_util::TryStreamExt::try_collect(stream).await?;
    Ok(chunks.concat())
}

/// Opens the store the configuration names.
pub async fn open(config: &Config) -> Result<Arc<dyn BlobStore>, String> {
    match config.storage.as_str() {
        "local" => Ok(Arc::new(
            local::LocalStore::open(&config.data_dir.join("storage")).await?,
        )),
        "s3" => Ok(Arc::new(s3::S3Store::open(&s3::S3Settings::from_config(
            config,
        )?)?)),
        other => Err(format!(
            "ALCOVES_STORAGE: `{other}` is not one of local, s3"
        )),
    }
}

/// Checks that a requested range starts inside a blob of `size` bytes and clamps its end.
pub fn clamp_range(range: Option<Range<u64>>, size: u64) -> io::Result<Range<u64>> {
    let range = range.unwrap_or(0..size);
    if range.start > range.end
        || (range.start >= size && size > 0)
        || (size == 0 && range.start > 0)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "range {}..{} is outside a blob of {size} bytes",
                range.start, range.end
            ),
        ));
    }
    Ok(range.start..range.end.min(size))
}

#[cfg(test)]
mod tests {
    use super::clamp_range;

    #[test]
    fn ranges_are_clamped_to_the_blob_and_must_start_inside_it() {
        assert_eq!(clamp_range(None, 10).unwrap(), 0..10);
        assert_eq!(clamp_range(Some(2..5), 10).unwrap(), 2..5);
        assert_eq!(clamp_range(Some(8..100), 10).unwrap(), 8..10);
        assert!(clamp_range(Some(10..12), 10).is_err());
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 5..2;
        assert!(clamp_range(Some(reversed), 10).is_err());
        assert_eq!(clamp_range(None, 0).unwrap(), 0..0);
    }
}
