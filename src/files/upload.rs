//! Receiving an upload: the body is streamed to a temporary file while its SHA-256 and size are
//! computed, within a size limit. The temporary file is removed if anything fails, so an
//! interrupted upload leaves nothing behind.

use std::path::{Path, PathBuf};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::sniff::SNIFF_LEN;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::drain;

/// An upload received in full into a temporary file (removed when dropped).
pub struct Staged {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// The first bytes, for type sniffing.
    pub head: Vec<u8>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Streams `body` into a new file in `dir`, refusing more than `max_bytes`.
pub async fn stage(mut body: Incoming, dir: &Path, max_bytes: u64) -> ApiResult<Staged> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| ApiError::Internal(format!("upload dir {}: {e}", dir.display())))?;
    let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
    let mut staged = Staged {
        path,
        size: 0,
        sha256: String::new(),
        head: Vec::new(),
    };
    let io_err = |e: std::io::Error| ApiError::Internal(format!("writing upload: {e}"));
    let mut file = tokio::fs::File::create(&staged.path)
        .await
        .map_err(io_err)?;
    let mut hasher = Sha256::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BadRequest(format!("upload interrupted: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        staged.size += data.len() as u64;
        if staged.size > max_bytes {
            drain(body).await;
            return Err(ApiError::PayloadTooLarge(max_bytes));
        }
        if staged.head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - staged.head.len()).min(data.len());
            staged.head.extend_from_slice(&data[..take]);
        }
        hasher.update(&data);
        file.write_all(&data).await.map_err(io_err)?;
    }
    file.sync_all().await.map_err(io_err)?;
    staged.sha256 = crate::digest::hex(&hasher.finalize());
    Ok(staged)
}
