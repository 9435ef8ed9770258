//! ZIP download of a selection: an estimate first, then the archive streamed as it is written
//! (entries stored uncompressed: photos and videos do not shrink, and the CPU stays free).

use std::collections::HashSet;

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipEntryBuilder};
use futures_util::{AsyncWriteExt, TryStreamExt};
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use schemars::JsonSchema;
use serde::Serialize;

use super::bodies::FileSelection;
use super::state::ApiState;
use crate::files::original::Original;
use crate::files::outgoing::Outgoing;
use crate::files::{self, File};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::{Ctx, FORM};
use crate::http::response::{self, Body};

/// Most files one archive may hold.
const MAX_FILES: usize = 10_000;
/// Bytes of ZIP structure per entry besides its name (local header, data descriptor, central
/// directory record, ZIP64 extras), rounded up.
const PER_ENTRY_OVERHEAD: u64 = 200;
/// Size of the pipe between the ZIP writer and the response.
const PIPE_BYTES: usize = 256 << 10;

/// The live files of the selection that exist in the library, in the order asked, and the ids
/// that do not. The selection is JSON `{fileIds}`, or for the download also an HTML form with
/// `fileIds` (repeated or comma-separated), which lets a browser stream the archive to disk.
async fn select(app: &ApiState, ctx: &mut Ctx) -> ApiResult<(Vec<File>, Vec<String>)> {
    let file_ids = if ctx.body_is(FORM) {
        let pairs = ctx.form().await?;
        pairs
            .iter()
            .filter(|(k, _)| k == "fileIds")
            .flat_map(|(_, v)| v.split(','))
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .collect()
    } else {
        ctx.json::<FileSelection>().await?.file_ids
    };
    if file_ids.is_empty() || file_ids.len() > MAX_FILES {
        return Err(ApiError::BadRequest(format!(
            "select 1 to {MAX_FILES} files"
        )));
    }
    let library = ctx.library_id()?;
    let mut rows = files::get_many(&mut app.db.conn().await?, &library, &file_ids).await?;
    let (mut found, mut missing, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
    for id in file_ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        match rows.remove(&id) {
            Some(file) if file.trashed_at.is_none() => found.push(file),
            _ => missing.push(id),
        }
    }
    Ok((found, missing))
}

/// Unique entry names: `a.jpg`, `a (2).jpg`, …
fn entry_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut used = HashSet::new();
    names
        .map(|wanted| {
            let (stem, ext) = match wanted.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
                _ => (wanted.to_owned(), String::new()),
            };
            let mut name = wanted.to_owned();
            let mut n = 2;
            while !used.insert(name.to_lowercase()) {
                name = format!("{stem} ({n}){ext}");
                n += 1;
            }
            name
        })
        .collect()
}

/// `POST /api/libraries/{library}/zip/estimate`: `{count, bytes, missing}` for `{fileIds}`.
pub async fn estimate(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let (found, missing) = select(app, ctx).await?;
    let names = entry_names(found.iter().map(|f| f.name.as_str()));
    let bytes: u64 = found
        .iter()
        .zip(&names)
        .map(|(f, n)| f.size as u64 + PER_ENTRY_OVERHEAD + 2 * n.len() as u64)
        .sum::<u64>()
        + 100;
    Ok(response::ok(&ZipEstimate {
        count: found.len(),
        bytes,
        missing,
    }))
}

/// What a ZIP of the selection would hold.
#[derive(Serialize, JsonSchema)]
pub struct ZipEstimate {
    pub count: usize,
    /// The archive's size in bytes, rounded up.
    pub bytes: u64,
    /// Selected ids that are not live files of the library.
    pub missing: Vec<String>,
}

/// `POST /api/libraries/{library}/zip`: the archive of `{fileIds}`, streamed.
pub async fn download(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let (found, _) = select(app, ctx).await?;
    if found.is_empty() {
        return Err(ApiError::NotFound);
    }
    let import_root = ctx.library()?.0.import_path.as_deref();
    let entries = found
        .iter()
        .map(|file| {
            let original = Original::of(file, import_root)?;
            Ok((
                file.id.clone(),
                file.name.clone(),
                Outgoing::Original(original),
            ))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(stream(app, entries, "alcoves.zip"))
}

/// A ZIP of `entries` (id, wanted name, bytes) streamed as it is written, as `filename`.
pub(super) fn stream(
    app: &ApiState,
    entries: Vec<(String, String, Outgoing)>,
    filename: &'static str,
) -> Response<Body> {
    let names = entry_names(entries.iter().map(|(_, name, _)| name.as_str()));
    let storage = app.storage.clone();
    let (reader, writer) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(async move {
        if let Err(e) = write_zip(storage.as_ref(), &entries, &names, writer).await {
            // The client sees a truncated download; the server carries on.
            tracing::warn!("zip download stopped: {e}");
        }
    });
    let stream = tokio_util::io::ReaderStream::new(reader).map_ok(Frame::data);
    let mut res = Response::new(StreamBody::new(stream).boxed_unsync());
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    res
}

async fn write_zip(
    storage: &dyn crate::storage::BlobStore,
    entries: &[(String, String, Outgoing)],
    names: &[String],
    writer: tokio::io::DuplexStream,
) -> Result<(), String> {
    let mut zip = ZipFileWriter::with_tokio(writer);
    for ((id, _, outgoing), name) in entries.iter().zip(names) {
        let mut blob = outgoing
            .read(storage, None)
            .await
            .map_err(|e| format!("{id}: {e}"))?;
        let entry = ZipEntryBuilder::new(name.clone().into(), Compression::Stored);
        let mut out = zip
            .write_entry_stream(entry)
            .await
            .map_err(|e| e.to_string())?;
        while let Some(chunk) = blob.try_next().await.map_err(|e| format!("{id}: {e}"))? {
            out.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
        out.close().await.map_err(|e| e.to_string())?;
    }
    zip.close().await.map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_unique_ignoring_case() {
        let names = ["a.jpg", "a.jpg", "A.JPG", "notes", "notes", ".hidden"];
        assert_eq!(
            entry_names(names.into_iter()),
            [
                "a.jpg",
                "a (2).jpg",
                "A (3).JPG",
                "notes",
                "notes (2)",
                ".hidden"
            ]
        );
    }
}
