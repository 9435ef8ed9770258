//! The tus 1.0 endpoints: OPTIONS (discovery), POST (creation), HEAD (offset), PATCH (append;
//! the last byte stores the file), DELETE (termination). Uploads expire after a while.

use std::path::Path;

use base64::Engine;
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use uuid::Uuid;

use super::state::ApiState;
use crate::db::now_ms;
use crate::files::tus::{self, TusUpload};
use crate::files::{self, ingest, sniff};
use crate::folders;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::storage::durable::DurableWriter;

/// The protocol version spoken.
pub const VERSION: &str = "1.0.0";
/// The extensions supported.
pub const EXTENSIONS: &str = "creation,termination,expiration";

const FILE_ID: HeaderName = HeaderName::from_static("alcoves-file-id");

/// Parses `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn parse_metadata(header: &str) -> ApiResult<Vec<(String, String)>> {
    header
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| {
                    ApiError::BadRequest(format!("Upload-Metadata: `{key}` is not base64"))
                })?;
            Ok((key.to_owned(), String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

/// Uploads being written right now, so two PATCHes never interleave bytes.
#[derive(Default)]
pub struct UploadLocks(std::sync::Mutex<std::collections::HashSet<String>>);

/// Held while one request writes to an upload.
pub struct UploadLock<'a> {
    locks: &'a UploadLocks,
    id: String,
}

impl UploadLocks {
    /// Takes the upload's lock, or `None` when another request holds it.
    pub fn lock(&self, id: &str) -> Option<UploadLock<'_>> {
        let mut busy = self.0.lock().unwrap_or_else(|p| p.into_inner());
        busy.insert(id.to_owned()).then(|| UploadLock {
            locks: self,
            id: id.to_owned(),
        })
    }
}

impl Drop for UploadLock<'_> {
    fn drop(&mut self) {
        self.locks
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

fn set(res: &mut Response<Body>, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

fn tus_response(status: StatusCode) -> Response<Body> {
    let mut res = response::empty(status);
    set(&mut res, "tus-resumable", VERSION.into());
    res
}

fn expires_header(upload: &TusUpload) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(upload.expires_at.max(0) as u64);
    httpdate::fmt_http_date(at)
}

/// Every request but OPTIONS must speak our tus version.
fn check_version(ctx: &Ctx) -> ApiResult<()> {
    match ctx.header(HeaderName::from_static("tus-resumable")) {
        Some(VERSION) => Ok(()),
        _ => Err(ApiError::Precondition(
            "tus_version",
            format!("send Tus-Resumable: {}", VERSION),
        )),
    }
}

fn number_header(ctx: &Ctx, name: &'static str) -> ApiResult<u64> {
    ctx.header(HeaderName::from_static(name))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::BadRequest(format!("{name} must be a non-negative integer")))
}

fn data_dir(app: &ApiState) -> &Path {
    &app.config.data_dir
}

/// `OPTIONS /api/libraries/{library}/tus`.
pub fn options(app: &ApiState) -> ApiResult<Response<Body>> {
    let mut res = tus_response(StatusCode::NO_CONTENT);
    set(&mut res, "tus-version", VERSION.into());
    set(&mut res, "tus-extension", EXTENSIONS.into());
    set(
        &mut res,
        "tus-max-size",
        app.config.max_upload_bytes.to_string(),
    );
    Ok(res)
}

/// `POST /api/libraries/{library}/tus`: `Upload-Length` and `Upload-Metadata` (`filename`,
/// `folderId`).
pub async fn create(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    check_version(ctx)?;
    let length = number_header(ctx, "upload-length")?;
    if length > app.config.max_upload_bytes {
        return Err(ApiError::PayloadTooLarge(app.config.max_upload_bytes));
    }
    let metadata = parse_metadata(
        ctx.header(HeaderName::from_static("upload-metadata"))
            .unwrap_or(""),
    )?;
    let meta = |key: &str| {
        metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let library = ctx.library_id()?;
    let mut conn = app.db.conn().await?;
    let folder_id = meta("folderId").filter(|f| !f.is_empty());
    if let Some(folder) = &folder_id {
        folders::live(&mut conn, &library, folder, "folderId").await?;
    }
    tus::sweep_expired(&mut conn, data_dir(app)).await?;
    let now = now_ms();
    let upload = TusUpload {
        id: Uuid::new_v4().to_string(),
        library_id: library.clone(),
        user_id: ctx.caller()?.user.id.clone(),
        file_id: Uuid::new_v4().to_string(),
        length: length as i64,
        name: files::clean_name(
            &meta("filename")
                .or_else(|| meta("name"))
                .unwrap_or_default(),
        ),
        folder_id,
        finished: false,
        created_at: now,
        expires_at: now + app.config.tus_expiry_hours as i64 * 3_600_000,
    };
    tus::create(&mut conn, data_dir(app), &upload).await?;
    let mut res = tus_response(StatusCode::CREATED);
    set(
        &mut res,
        "location",
        format!("/api/libraries/{library}/tus/{}", upload.id),
    );
    set(&mut res, "upload-expires", expires_header(&upload));
    Ok(res)
}

/// `HEAD /api/libraries/{library}/tus/{upload}`.
pub async fn head(app: &ApiState, ctx: &Ctx, upload: Uuid) -> ApiResult<Response<Body>> {
    check_version(ctx)?;
    let mut conn = app.db.conn().await?;
    let upload = tus::get(&mut conn, &ctx.library()?.0.id, &upload.to_string()).await?;
    let offset = if upload.finished {
        upload.length as u64
    } else {
        tus::offset(data_dir(app), &upload.id).await?
    };
    Ok(progress_response(StatusCode::OK, &upload, offset))
}

fn progress_response(status: StatusCode, upload: &TusUpload, offset: u64) -> Response<Body> {
    let mut res = tus_response(status);
    set(&mut res, "upload-offset", offset.to_string());
    set(&mut res, "upload-length", upload.length.to_string());
    set(&mut res, "upload-expires", expires_header(upload));
    if upload.finished {
        res.headers_mut().insert(
            FILE_ID,
            HeaderValue::from_str(&upload.file_id).expect("uuid"),
        );
    }
    res
}

/// `PATCH /api/libraries/{library}/tus/{upload}`: appends the body at `Upload-Offset`.
pub async fn patch(app: &ApiState, ctx: &mut Ctx, upload: Uuid) -> ApiResult<Response<Body>> {
    check_version(ctx)?;
    if ctx.header(header::CONTENT_TYPE) != Some("application/offset+octet-stream") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let claimed = number_header(ctx, "upload-offset")?;
    let upload = {
        let mut conn = app.db.conn().await?;
        tus::get(&mut conn, &ctx.library()?.0.id, &upload.to_string()).await?
    };
    let Some(_lock) = app.tus_locks.lock(&upload.id) else {
        return Err(ApiError::Conflict(
            "upload_busy",
            "another request is writing to this upload".into(),
        ));
    };
    if upload.finished {
        return Ok(progress_response(
            StatusCode::NO_CONTENT,
            &upload,
            upload.length as u64,
        ));
    }
    let path = tus::data_path(data_dir(app), &upload.id);
    let mut offset = tus::offset(data_dir(app), &upload.id).await?;
    if claimed != offset {
        return Err(ApiError::Conflict(
            "offset_mismatch",
            format!("the upload is at offset {offset}"),
        ));
    }
    let length = upload.length as u64;
    let declared = ctx
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| offset + n > length) {
        ctx.take_body()?.drain().await;
        return Err(ApiError::PayloadTooLarge(length));
    }
    let io = |e: std::io::Error| ApiError::from(crate::error::Error::io("tus data", e));
    let mut file = DurableWriter::append(&path).await.map_err(io)?;
    let mut body = ctx.take_body()?;
    let mut failure = None;
    while let Some(data) = body.next().await {
        let data = match data {
            Ok(data) => data,
            // The client went away: keep what arrived, it resumes from there.
            Err(e) => {
                failure = Some(ApiError::BadRequest(format!("upload interrupted: {e}")));
                break;
            }
        };
        if offset + data.len() as u64 > length {
            failure = Some(ApiError::PayloadTooLarge(length));
            body.drain().await;
            break;
        }
        // A full disk: what landed stays (the offset is the file's length), the client resumes
        // once there is room.
        if let Err(e) = file.write(&data).await {
            failure = Some(io(e));
            body.drain().await;
            break;
        }
        offset += data.len() as u64;
    }
    match file.finish().await {
        Ok(_) => {}
        Err(e) => return Err(failure.unwrap_or(io(e))),
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let upload = if offset == length {
        complete(app, upload).await?
    } else {
        upload
    };
    Ok(progress_response(StatusCode::NO_CONTENT, &upload, offset))
}

/// Stores the finished upload as a file (once, even if called again after a crash).
async fn complete(app: &ApiState, mut upload: TusUpload) -> ApiResult<TusUpload> {
    let path = tus::data_path(data_dir(app), &upload.id);
    let mut conn = app.db.conn().await?;
    if files::find(&mut conn, &upload.file_id).await?.is_none() {
        drop(conn);
        let hash_path = path.clone();
        let sha256 =
            tokio::task::spawn_blocking(move || crate::digest::sha256_file(&hash_path, |_| {}))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(|e| ApiError::Internal(format!("hashing tus upload: {e}")))?;
        let mut head = vec![0u8; sniff::SNIFF_LEN];
        let n = read_head(&path, &mut head)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        head.truncate(n);
        let received = ingest::Received {
            id: upload.file_id.clone(),
            library_id: upload.library_id.clone(),
            folder_id: upload.folder_id.clone(),
            name: upload.name.clone(),
            uploaded_by: upload.user_id.clone(),
            path: &path,
            size: upload.length as u64,
            sha256,
            head: &head,
            mtime: None,
            sidecar: None,
        };
        ingest::store(app, received).await?;
        conn = app.db.conn().await?;
    }
    tus::finish(&mut conn, data_dir(app), &upload.id).await?;
    upload.finished = true;
    Ok(upload)
}

async fn read_head(path: &Path, buf: &mut [u8]) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await?;
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// `DELETE /api/libraries/{library}/tus/{upload}`.
pub async fn terminate(app: &ApiState, ctx: &Ctx, upload: Uuid) -> ApiResult<Response<Body>> {
    check_version(ctx)?;
    let mut conn = app.db.conn().await?;
    let upload = tus::get(&mut conn, &ctx.library()?.0.id, &upload.to_string()).await?;
    tus::remove(&mut conn, data_dir(app), &upload.id).await?;
    Ok(tus_response(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_pairs_decode() {
        let parsed = super::parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential, filetype aW1hZ2UvanBlZw==").unwrap();
        assert_eq!(
            parsed,
            vec![
                (
                    "filename".to_owned(),
                    "world_domination_plan.pdf".to_owned()
                ),
                ("is_confidential".to_owned(), String::new()),
                ("filetype".to_owned(), "image/jpeg".to_owned()),
            ]
        );
        assert!(super::parse_metadata("filename ***").is_err());
    }
}
