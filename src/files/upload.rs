//! Receiving an upload: the body is streamed to a temporary file while its SHA-256 and size are
//! computed, within a size limit. The temporary file is removed if anything fails, so an
//! interrupted upload, or one that meets a full disk, leaves nothing behind.

use std::path::Path;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::sniff::SNIFF_LEN;
use crate::error::{Error, Result};
use crate::http::request::drain;
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
/// disk, whole, when this returns.
pub async fn stage(mut body: Incoming, path: TempPath, max_bytes: u64) -> Result<Staged> {
    let mut staged = Staged {
        file: path,
        size: 0,
        sha256: String::new(),
        head: Vec::new(),
    };
    let io_err = |e: std::io::Error| Error::io("writing upload", e);
    let mut file = DurableWriter::create(staged.path()).await.map_err(io_err)?;
    let mut hasher = Sha256::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::Invalid(format!("upload interrupted: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        staged.size += data.len() as u64;
        if staged.size > max_bytes {
            drain(body).await;
            return Err(Error::TooLarge(max_bytes));
        }
        if staged.head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - staged.head.len()).min(data.len());
            staged.head.extend_from_slice(&data[..take]);
        }
        hasher.update(&data);
        if let Err(e) = file.write(&data).await {
            drain(body).await;
            return Err(io_err(e));
        }
    }
    file.finish().await.map_err(io_err)?;
    staged.sha256 = crate::digest::hex(&hasher.finalize());
    Ok(staged)
}
