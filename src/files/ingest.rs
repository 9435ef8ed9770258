//! Storing a fully received file: the blob under its final key, then (in one transaction) the
//! row and its first jobs. Shared by plain and resumable uploads.

use std::path::Path;

use super::sidecar::Sidecar;
use super::{File, MediaKind, sniff};
use crate::activity::{self, ActivityKind};
use crate::app::App;
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::jobs::{self, JobKind};
use crate::storage::BlobKey;

/// A received file waiting to be stored.
pub struct Received<'a> {
    /// The id the file will have (chosen by the caller, so a retried finish stays one file).
    pub id: String,
    pub library_id: String,
    pub folder_id: Option<String>,
    pub name: String,
    pub uploaded_by: String,
    /// The local file holding the bytes.
    pub path: &'a Path,
    pub size: u64,
    pub sha256: String,
    /// The first bytes, for type sniffing.
    pub head: &'a [u8],
    /// The file's modification time on the client, in ms since the epoch (WebDAV's
    /// `X-OC-Mtime`): its file time when the file itself names no capture time.
    pub mtime: Option<i64>,
    /// What came with it from an import.
    pub sidecar: Option<Sidecar>,
}

/// Stores the bytes and records the file. Empty files are refused.
pub async fn store(app: &App, received: Received<'_>) -> Result<File> {
    if received.size == 0 {
        return Err(Error::Conflict("empty_file", "the file is empty".into()));
    }
    let key = BlobKey::original(&received.library_id, &received.id)
        .map_err(|e| Error::Internal(e.to_string()))?;
    // Should this process die between storing the blob and committing its row, the next one
    // finds this note and removes the orphan blob (see `App::open`).
    let intent = app
        .scratch
        .intent(&format!("{}\n{}", received.library_id, received.id))
        .map_err(|e| Error::io("noting an upload", e))?;
    app.storage
        .put_file(&key, received.path)
        .await
        .map_err(|e| Error::blob(&format!("storing {key}"), e))?;
    let mime = sniff::mime_of(received.head);
    let now = now_ms();
    let file = File {
        id: received.id,
        library_id: received.library_id,
        folder_id: received.folder_id,
        name: received.name,
        blob_key: key.to_string(),
        sha256: Some(received.sha256),
        size: received.size as i64,
        mime: mime.to_owned(),
        kind: MediaKind::of_mime(mime).as_str().into(),
        uploaded_by: Some(received.uploaded_by),
        source_file_id: None,
        created_at: now,
        updated_at: now,
        trashed_at: None,
        source_path: None,
        source_mtime: received.mtime,
        media: Default::default(),
        sidecar: received
            .sidecar
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok()),
    };
    // The row appears only once the blob is safely stored, together with its first jobs.
    let recorded = async {
        let mut tx = app.db.begin().await?;
        super::insert(&mut tx, &file).await?;
        let subject = Some((file.id.as_str(), file.name.as_str()));
        activity::record(
            &mut tx,
            &file.library_id,
            file.uploaded_by.as_deref(),
            ActivityKind::FileUploaded,
            subject,
        )
        .await?;
        jobs::store::record_done(&mut tx, &file.id, JobKind::Hash).await?;
        let mut queued = Vec::new();
        if let Some(next) = JobKind::Hash.next() {
            queued.push(jobs::store::enqueue(&mut tx, &file.id, next).await?);
        }
        tx.commit().await?;
        Ok::<_, Error>(queued)
    };
    match recorded.await {
        Ok(queued) => app.queue.announce(&queued).await,
        Err(e) => {
            let _ = app.storage.delete(&key).await;
            return Err(e);
        }
    }
    drop(intent);
    Ok(file)
}
