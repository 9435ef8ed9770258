//! Receiving an upload: the body is streamed to a temporary file while its SHA-256 and size are
//! computed, within a size limit. The temporary file is removed if anything fails, so an
//! interrupted upload, or one that meets a full disk, leaves nothing behind.

use std::path::Path;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::sniff::SNIFF_LEN;
use crate::error::{Error, Result};
use crate::storage::durable::{DurableWriter, TempPath};

/// An upload received in full into a temporary file (removed when dropped).
pub struct Staged {
    pub file: TempPath,
    pub size: u64,
    pub sha256: String,
    /// The first bytes, for type sniffing.
    pub head: Vec<u8>,
}

impl Staged {
    /// The temporary file holding the bytes.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Streams `body` into the new file `path`, refusing more than `max_bytes`; the bytes are on
/// disk, whole, when this returns. On an error the rest of `body` is left unread.
pub async fn stage(
    body: &mut (impl Stream<Item = std::io::Result<Bytes>> + Unpin),
    path: TempPath,
    max_bytes: u64,
) -> Result<Staged> {
    let mut staged = Staged {
        file: path,
        size: 0,
        sha256: String::new(),
        head: Vec::new(),
    };
    let io_err = |e: std::io::Error| Error::io("writing upload", e);
    let mut file = DurableWriter::create(staged.path()).await.map_err(io_err)?;
    let mut hasher = Sha256::new();
    while let Some(data) = body.next().await {
        let data = data.map_err(|e| Error::Invalid(format!("upload interrupted: {e}")))?;
        staged.size += data.len() as u64;
        if staged.size > max_bytes {
            return Err(Error::TooLarge(max_bytes));
        }
        if staged.head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - staged.head.len()).min(data.len());
            staged.head.extend_from_slice(&data[..take]);
        }
        hasher.update(&data);
        file.write(&data).await.map_err(io_err)?;
    }
    file.finish().await.map_err(io_err)?;
    staged.sha256 = crate::digest::hex(&hasher.finalize());
    Ok(staged)
}
