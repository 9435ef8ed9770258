//! Files: upload (streamed, hashed on the way in), list, get, rename, trash, restore, purge,
//! download with Range and ETag, and duplicate groups.

use futures_util::TryStreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use std::collections::{BTreeMap, HashMap, HashSet};

use super::bodies::{Changed, FileSelection, Page, Queued};
use super::state::ApiState;
use crate::db::now_ms;
use crate::files::original::Original;
use crate::files::{self, File, FileOrder, FileView, ListFilter, MediaKind, ingest, upload};
use crate::folders;
use crate::http::error::{ApiError, ApiResult};
use crate::http::range::{self, ByteRange};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::jobs::{self, JobKind, store::JobState};

/// Default and largest page size of a listing.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

/// Views of `rows` with their duplicate flags and job states. The rows are read again after
/// the job states, so a stage shown done always shows its results (a worker records both in
/// one transaction, but two separate reads could fall on either side of it).
async fn views(app: &ApiState, library: &str, rows: Vec<File>) -> ApiResult<Vec<files::FileView>> {
    let hashes: Vec<String> = rows.iter().filter_map(|f| f.sha256.clone()).collect();
    let ids: Vec<String> = rows.iter().map(|f| f.id.clone()).collect();
    let mut conn = app.db.conn().await?;
    let duplicated = files::duplicated_hashes(&mut conn, library, &hashes).await?;
    let mut states: HashMap<String, BTreeMap<String, JobState>> = HashMap::new();
    for state in jobs::store::states_of(&mut conn, &ids).await? {
        states
            .entry(state.file_id.clone())
            .or_default()
            .insert(state.kind.as_str().to_owned(), state);
    }
    let mut fresh = files::find_many(&mut conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|f| fresh.remove(&f.id).unwrap_or(f))
        .map(|f| {
            let dup =
                f.trashed_at.is_none() && f.sha256.as_ref().is_some_and(|h| duplicated.contains(h));
            let jobs = states.remove(&f.id).unwrap_or_default();
            f.view(dup, jobs)
        })
        .collect())
}

async fn view(app: &ApiState, file: File) -> ApiResult<files::FileView> {
    let library = file.library_id.clone();
    Ok(views(app, &library, vec![file]).await?.remove(0))
}

/// `POST /api/libraries/{library}/files`: the body is the file.
pub async fn upload(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let raw_name = ctx
        .header_text(header::HeaderName::from_static("x-upload-name"))
        .unwrap_or_default();
    let name =
        files::clean_name(&percent_encoding::percent_decode_str(&raw_name).decode_utf8_lossy());
    let uploader = ctx.caller()?.user.id.clone();
    let folder_id = ctx
        .header(header::HeaderName::from_static("x-upload-folder-id"))
        .map(str::to_owned);
    if let Some(folder) = &folder_id {
        let mut conn = app.db.conn().await?;
        folders::live(&mut conn, &library, folder, "X-Upload-Folder-Id").await?;
    }
    let mut body = ctx.take_body()?;
    let target = app.scratch.temp_file(".upload");
    let staged = match upload::stage(&mut body, target, app.config.max_upload_bytes).await {
        Ok(staged) => staged,
        Err(e) => {
            body.drain().await;
            return Err(e.into());
        }
    };
    let received = ingest::Received {
        id: Uuid::new_v4().to_string(),
        library_id: library,
        folder_id,
        name,
        uploaded_by: uploader,
        path: staged.path(),
        size: staged.size,
        sha256: staged.sha256.clone(),
        head: &staged.head,
        mtime: None,
        sidecar: None,
    };
    let file = ingest::store(app, received).await?;
    Ok(response::created(&view(app, file).await?))
}

/// `GET /api/libraries/{library}/files`.
pub async fn list(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let limit = ctx.page_limit(DEFAULT_PAGE, MAX_PAGE)?;
    let after = ctx.cursor()?;
    let filter = list_filter(ctx)?;
    let (rows, next) = {
        let mut conn = app.db.conn().await?;
        files::list(&mut conn, &library, &filter, after.as_ref(), limit).await?
    };
    let items = views(app, &library, rows).await?;
    Ok(response::ok(&Page {
        items,
        next_cursor: next.map(|c| c.encode()),
    }))
}

/// The filter of a file list from the query: `kind`, `folder`, `trashed`, `person`, `label`,
/// `q` and `order`.
pub(super) fn list_filter(ctx: &Ctx) -> ApiResult<ListFilter> {
    let kind = ctx
        .query_param("kind")
        .map(|k| {
            MediaKind::parse(&k).ok_or_else(|| {
                ApiError::BadRequest("kind must be photo, video, audio or other".into())
            })
        })
        .transpose()?;
    Ok(ListFilter {
        kind,
        folder_id: ctx.query_param("folder"),
        trashed: ctx.query_param("trashed").as_deref() == Some("true"),
        person_id: ctx.query_param("person"),
        label: ctx.query_param("label"),
        search: ctx
            .query_param("q")
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty()),
        order: match ctx.query_param("order") {
            Some(order) => FileOrder::parse(&order)
                .ok_or_else(|| ApiError::BadRequest("order must be uploaded or taken".into()))?,
            None => FileOrder::Uploaded,
        },
    })
}

pub(super) async fn load(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<File> {
    let mut conn = app.db.conn().await?;
    Ok(files::get(&mut conn, &ctx.library_id()?, &file.to_string()).await?)
}

/// `GET /api/libraries/{library}/files/{file}`.
pub async fn get(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    Ok(response::ok(&view(app, file).await?))
}

#[derive(Deserialize, JsonSchema)]
pub struct ReprocessBody {
    kind: JobKind,
}

/// The job kind named by a reprocess request body.
pub(super) async fn reprocess_kind(ctx: &mut Ctx) -> ApiResult<JobKind> {
    let body: ReprocessBody = ctx.json().await?;
    Ok(body.kind)
}

/// The job kind of an ML stage's name in a path: `face-recognition`, `object-detection`,
/// `audio-detect` or `transcribe`; any other name is not found.
fn stage_kind(stage: &str) -> ApiResult<JobKind> {
    match stage {
        "face-recognition" => Ok(JobKind::Faces),
        "object-detection" => Ok(JobKind::Objects),
        "audio-detect" => Ok(JobKind::AudioEvents),
        "transcribe" => Ok(JobKind::Transcribe),
        _ => Err(ApiError::NotFound),
    }
}

/// The stage to run again: named in the path (`stage`) or in the body (`{"kind"}`).
async fn requested_kind(ctx: &mut Ctx, stage: Option<&str>) -> ApiResult<JobKind> {
    match stage {
        Some(stage) => stage_kind(stage),
        None => reprocess_kind(ctx).await,
    }
}

/// `POST /api/libraries/{library}/files/{file}/reprocess` and `…/{stage}/reprocess`: queues
/// the stage again with a new version.
pub async fn reprocess(
    app: &ApiState,
    ctx: &mut Ctx,
    file: Uuid,
    stage: Option<&str>,
) -> ApiResult<Response<Body>> {
    let kind = requested_kind(ctx, stage).await?;
    let file = load(app, ctx, file).await?;
    let scope = crate::pipeline::reprocess::Scope::File(file.id.clone());
    crate::pipeline::reprocess::reprocess(app, kind, &scope, |_, _| {}).await?;
    Ok(response::json(
        StatusCode::ACCEPTED,
        &view(app, file).await?,
    ))
}

/// `POST /api/libraries/{library}/reprocess` and `…/{stage}/reprocess`: queues the stage again
/// for every live file of the library.
pub async fn reprocess_library(
    app: &ApiState,
    ctx: &mut Ctx,
    stage: Option<&str>,
) -> ApiResult<Response<Body>> {
    let kind = requested_kind(ctx, stage).await?;
    let scope = crate::pipeline::reprocess::Scope::Library(ctx.library_id()?);
    let queued = crate::pipeline::reprocess::reprocess(app, kind, &scope, |_, _| {}).await?;
    Ok(response::json(StatusCode::ACCEPTED, &Queued { queued }))
}

/// `PATCH /api/libraries/{library}/files/{file}`: `name`, `folderId` (null for the root).
pub async fn update(app: &ApiState, ctx: &mut Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    // Read as a JSON value: `"folderId": null` (to the root) differs from leaving it out.
    let body: serde_json::Value = ctx.json().await?;
    let mut file = load(app, ctx, file).await?;
    if let Some(name) = body.get("name") {
        let name = name
            .as_str()
            .ok_or_else(|| ApiError::InvalidJson("name must be a string".into()))?;
        file.name = files::clean_name(name);
    }
    let mut conn = app.db.conn().await?;
    if let Some(folder) = super::folders::parent_change(body.get("folderId"))? {
        if let Some(id) = &folder {
            folders::live(&mut conn, &file.library_id, id, "folderId").await?;
        }
        file.folder_id = folder;
    }
    files::update(&mut conn, &file).await?;
    crate::search::refresh(&mut conn, std::slice::from_ref(&file.id)).await?;
    drop(conn);
    Ok(response::ok(&view(app, file).await?))
}

/// `POST …/trash` and `POST …/restore`.
pub async fn set_trashed(
    app: &ApiState,
    ctx: &Ctx,
    file: Uuid,
    trashed: bool,
) -> ApiResult<Response<Body>> {
    let mut file = load(app, ctx, file).await?;
    let actor = ctx.caller()?.user.id.clone();
    files::trash(&app.db, &actor, &file, trashed).await?;
    file.trashed_at = trashed.then(now_ms);
    Ok(response::ok(&view(app, file).await?))
}

/// A change made to many files at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkChange {
    Trash,
    Restore,
    Purge,
}

/// Most files one bulk change may name.
const MAX_SELECTION: usize = 10_000;

/// `POST /api/libraries/{library}/files/{trash,restore,purge}` with `{fileIds}`: the change for
/// every selected file in the state it needs (live to be trashed, trashed to be restored or
/// purged); the others are skipped and listed.
pub async fn change_many(
    app: &ApiState,
    ctx: &mut Ctx,
    change: BulkChange,
) -> ApiResult<Response<Body>> {
    let selection: FileSelection = ctx.json().await?;
    if selection.file_ids.is_empty() || selection.file_ids.len() > MAX_SELECTION {
        return Err(ApiError::BadRequest(format!(
            "select 1 to {MAX_SELECTION} files"
        )));
    }
    let library = ctx.library_id()?;
    let actor = ctx.caller()?.user.id.clone();
    let mut result = Changed {
        changed: 0,
        skipped: Vec::new(),
    };
    let mut rows =
        files::get_many(&mut app.db.conn().await?, &library, &selection.file_ids).await?;
    let mut seen = HashSet::new();
    for id in selection.file_ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let file = match rows.remove(&id) {
            Some(file) if file.trashed_at.is_none() == (change == BulkChange::Trash) => file,
            _ => {
                result.skipped.push(id);
                continue;
            }
        };
        match change {
            BulkChange::Purge => files::purge(app, &library, &file.id).await?,
            BulkChange::Trash | BulkChange::Restore => {
                files::trash(&app.db, &actor, &file, change == BulkChange::Trash).await?
            }
        }
        result.changed += 1;
    }
    Ok(response::ok(&result))
}

/// `DELETE /api/libraries/{library}/files/{file}`: only from the trash.
pub async fn purge(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    if file.trashed_at.is_none() {
        return Err(ApiError::Conflict(
            "not_trashed",
            "move the file to the trash first".into(),
        ));
    }
    files::purge(app, &file.library_id, &file.id).await?;
    Ok(response::no_content())
}

/// Live files of a library that have the same bytes.
#[derive(Serialize, JsonSchema)]
pub struct DuplicateGroup {
    pub sha256: String,
    pub files: Vec<FileView>,
}

/// `GET /api/libraries/{library}/duplicates`.
pub async fn duplicates(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let mut conn = app.db.conn().await?;
    let groups = files::duplicate_groups(&mut conn, &library).await?;
    let groups: Vec<_> = groups
        .into_iter()
        .map(|(sha256, members)| {
            let members: Vec<_> = members
                .into_iter()
                .map(|f| f.view(true, BTreeMap::new()))
                .collect();
            DuplicateGroup {
                sha256,
                files: members,
            }
        })
        .collect();
    Ok(response::ok(&groups))
}

/// `GET /api/libraries/{library}/files/{file}/original`.
pub async fn download(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let import_root = ctx.library()?.0.import_path.as_deref();
    let mut res = send_original(app, ctx, &file, import_root).await?;
    let inline = ctx.query_param("inline").as_deref() == Some("true");
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(&file.name, inline)),
    );
    Ok(res)
}

/// The original bytes of `file` (of a library importing from `import_root`), with Range, ETag
/// (its SHA-256) and If-None-Match.
pub(super) async fn send_original(
    app: &ApiState,
    ctx: &Ctx,
    file: &files::File,
    import_root: Option<&str>,
) -> ApiResult<Response<Body>> {
    let etag = format!("\"{}\"", file.sha256.as_deref().unwrap_or(&file.id));
    let original = Original::of(file, import_root)?;
    send_ranged(
        ctx,
        file.size as u64,
        &etag,
        &file.mime,
        |part| async move {
            original
                .read(app.storage.as_ref(), Some(part))
                .await
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        ApiError::Internal(format!("original of {} is missing", file.id))
                    }
                    std::io::ErrorKind::PermissionDenied => ApiError::Denied(
                        "outside_import_folder",
                        "the file now leads outside the library's import folder".into(),
                    ),
                    _ => ApiError::Unavailable(format!("reading original of {}: {e}", file.id)),
                })
        },
    )
    .await
}

/// A `size`-byte body with Range, ETag and If-None-Match handling; `read` streams the part.
pub(super) async fn send_ranged<F, Fut>(
    ctx: &Ctx,
    size: u64,
    etag: &str,
    mime: &str,
    read: F,
) -> ApiResult<Response<Body>>
where
    F: FnOnce(std::ops::Range<u64>) -> Fut,
    Fut: std::future::Future<Output = ApiResult<crate::storage::BlobStream>>,
{
    if ctx
        .header(header::IF_NONE_MATCH)
        .is_some_and(|v| etag_matches(v, etag))
    {
        let mut res = response::empty(StatusCode::NOT_MODIFIED);
        res.headers_mut().insert(header::ETAG, header_value(etag));
        return Ok(res);
    }
    let (status, part) = match range::parse(ctx.header(header::RANGE), size) {
        ByteRange::Full => (StatusCode::OK, 0..size),
        ByteRange::Part(r) => (StatusCode::PARTIAL_CONTENT, r),
        ByteRange::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(size)),
    };
    let stream = read(part.clone()).await?;
    let body = StreamBody::new(stream.map_ok(Frame::data)).boxed_unsync();
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {}-{}/{size}", part.start, part.end - 1)),
        );
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(part.end - part.start),
    );
    headers.insert(header::CONTENT_TYPE, header_value(mime));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, header_value(etag));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(res)
}

pub(super) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Whether an `If-None-Match` value names `etag` (or is `*`).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// `attachment`/`inline` with an ASCII fallback name and the exact UTF-8 name (RFC 6266).
pub(super) fn content_disposition(name: &str, inline: bool) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    let disposition = if inline { "inline" } else { "attachment" };
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        assert_eq!(
            content_disposition("a \"b\".jpg", false),
            "attachment; filename=\"a _b_.jpg\"; filename*=UTF-8''a%20%22b%22%2Ejpg"
        );
        let d = content_disposition("été\r\n.png", true);
        assert!(d.starts_with("inline; filename=\"_t___.png\""), "{d}");
        assert!(!d.contains('\r') && !d.contains('\n'));
    }

    #[test]
    fn etags_match_lists_weak_forms_and_star() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
