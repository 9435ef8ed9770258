//! Resumable uploads: the rows and the data files of uploads in progress (the tus protocol
//! itself is in `api::tus`). The bytes received so far are a file under `<data>/tus/`; its
//! length is the offset, so a crash loses at most the bytes not yet synced.

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::tus_uploads;
use crate::db::{Conn, now_ms};
use crate::error::{Error, Result};
use crate::with_conn;

/// An upload in progress (or finished and kept until it expires, to answer HEAD).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tus_uploads)]
pub struct TusUpload {
    pub id: String,
    pub library_id: String,
    pub user_id: String,
    pub file_id: String,
    pub length: i64,
    pub name: String,
    pub folder_id: Option<String>,
    pub finished: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Where the bytes of upload `id` are kept.
pub fn data_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("tus").join(id)
}

/// The offset: how many bytes of the upload have been received.
pub async fn offset(data_dir: &Path, id: &str) -> Result<u64> {
    match tokio::fs::metadata(data_path(data_dir, id)).await {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::Internal(format!("tus data of {id}: {e}"))),
    }
}

/// Records a new upload and creates its empty data file.
pub async fn create(conn: &mut Conn, data_dir: &Path, upload: &TusUpload) -> Result<()> {
    let path = data_path(data_dir, &upload.id);
    let io = |e: std::io::Error| Error::io("tus data", e);
    tokio::fs::create_dir_all(path.parent().expect("tus dir"))
        .await
        .map_err(io)?;
    tokio::fs::File::create(&path).await.map_err(io)?;
    with_conn!(conn, c => diesel::insert_into(tus_uploads::table).values(upload).execute(c).await)?;
    Ok(())
}

/// The unexpired upload `id` of `library_id`.
pub async fn get(conn: &mut Conn, library_id: &str, id: &str) -> Result<TusUpload> {
    let found: Option<TusUpload> = with_conn!(conn, c => tus_uploads::table
        .filter(tus_uploads::id.eq(id))
        .filter(tus_uploads::library_id.eq(library_id))
        .filter(tus_uploads::expires_at.gt(now_ms()))
        .select(TusUpload::as_select())
        .first(c)
        .await
        .optional())?;
    found.ok_or(Error::NotFound)
}

/// Marks an upload finished and drops its data file.
pub async fn finish(conn: &mut Conn, data_dir: &Path, id: &str) -> Result<()> {
    with_conn!(conn, c => diesel::update(tus_uploads::table.find(id))
        .set(tus_uploads::finished.eq(true))
        .execute(c)
        .await)?;
    let _ = tokio::fs::remove_file(data_path(data_dir, id)).await;
    Ok(())
}

/// Forgets an upload and its data.
pub async fn remove(conn: &mut Conn, data_dir: &Path, id: &str) -> Result<()> {
    with_conn!(conn, c => diesel::delete(tus_uploads::table.find(id)).execute(c).await)?;
    let _ = tokio::fs::remove_file(data_path(data_dir, id)).await;
    Ok(())
}

/// Forgets every expired upload and its data; returns how many.
pub async fn sweep_expired(conn: &mut Conn, data_dir: &Path) -> Result<usize> {
    let expired: Vec<String> = with_conn!(conn, c => tus_uploads::table
        .filter(tus_uploads::expires_at.le(now_ms()))
        .select(tus_uploads::id)
        .load(c)
        .await)?;
    for id in &expired {
        remove(conn, data_dir, id).await?;
    }
    Ok(expired.len())
}
