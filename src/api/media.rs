//! Endpoints serving what the media stage made: thumbnails, the on-demand image proxy, what a
//! browser can play (original or proxy, streamed with Range) and waveforms.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::files::{load, send_ranged};
use super::proxy_cache::ProxyCache;
use super::state::ApiState;
use crate::db::Conn;
use crate::files::File;
use crate::files::MediaKind;
use crate::files::derived::{WAVEFORM_VARIANT, derived_key, proxy_variant, thumbnail_variant};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::jobs::store;
use crate::jobs::{JobKind, JobStatus};
use crate::media::thumbnails::{self, Fit, Format, Size};
use crate::media::{Limits, MediaError, image};
use crate::storage::BlobKey;

/// Renders of the image proxy in this process: identical requests wait for one, each user has
/// [`RENDERS_PER_USER`] render slots, and the rendered variants stay within a byte budget.
pub struct Renders {
    running: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    per_user: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    cache: ProxyCache,
}

impl Renders {
    /// No renders yet; variants are kept within `cache_budget` bytes.
    pub fn new(cache_budget: u64) -> Renders {
        Renders {
            running: Default::default(),
            per_user: Default::default(),
            cache: ProxyCache::new(cache_budget),
        }
    }

    /// The render slots of `user`.
    fn slots_of(&self, user: &str) -> Arc<tokio::sync::Semaphore> {
        let mut per_user = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
        per_user
            .entry(user.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(RENDERS_PER_USER)))
            .clone()
    }
}

/// Serves the derived blob `key` of `file`, or 404 when the stage has not made it (yet).
pub(super) async fn send_derived(
    app: &ApiState,
    ctx: &Ctx,
    key: &BlobKey,
    mime: &str,
) -> ApiResult<Response<Body>> {
    let size = app
        .storage
        .size(key)
        .await
        .map_err(|e| ApiError::Unavailable(format!("cache: {e}")))?
        .ok_or_else(|| ApiError::NotReady("not made (yet): see the file's jobs".into()))?;
    // Derived files are rewritten in place by reprocessing, so the size and key name them.
    let etag = format!("\"{size}-{:x}\"", fxhash(key.as_str()));
    send_ranged(ctx, size, &etag, mime, |part| async move {
        app.storage
            .read(key, Some(part))
            .await
            .map_err(|e| ApiError::Unavailable(format!("cache: {e}")))
    })
    .await
}

/// A small stable hash for ETags.
fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// `GET …/files/{file}/thumbnails/{size}`: one named thumbnail.
pub async fn thumbnail(
    app: &ApiState,
    ctx: &Ctx,
    file: Uuid,
    size: &str,
) -> ApiResult<Response<Body>> {
    let size = thumbnails::size(size).ok_or(ApiError::NotFound)?;
    let file = load(app, ctx, file).await?;
    let key = derived_key(&file, &thumbnail_variant(size)).map_err(internal)?;
    let mut res = send_derived(app, ctx, &key, size.format.mime()).await?;
    if let Some(asked) = ctx.query_param("v") {
        let mut conn = app.db.conn().await?;
        if thumbnails_version(&mut conn, &file.id)
            .await?
            .map(|v| v.to_string())
            == Some(asked)
        {
            // Private: a shared cache must not hand one member's photos to someone else.
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=31536000, immutable"),
            );
        }
    }
    Ok(res)
}

/// The version of the thumbnails `file` has now: its thumbnails job's last done run.
async fn thumbnails_version(conn: &mut Conn, file: &str) -> ApiResult<Option<i32>> {
    let jobs = store::states_of(conn, &[file.to_owned()]).await?;
    Ok(jobs
        .into_iter()
        .find(|j| j.kind == JobKind::Thumbnails && j.status == JobStatus::Done)
        .and_then(|j| j.done_version))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `GET …/files/{file}/playback-sources`: what a browser can play, best first.
pub async fn playback_sources(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    if !file.media_kind().plays() {
        return Ok(response::ok(&PlaybackSources { sources: vec![] }));
    }
    let base = format!("/api/libraries/{}/files/{}", file.library_id, file.id);
    let mut sources = Vec::new();
    let proxy = derived_key(&file, proxy_variant(file.media_kind())).map_err(internal)?;
    if let Some(size) = app.storage.size(&proxy).await.ok().flatten() {
        let mime = if file.media_kind() == MediaKind::Audio {
            "audio/mp4"
        } else {
            "video/mp4"
        };
        sources.push(PlaybackSource {
            kind: "proxy",
            url: format!("{base}/playback"),
            mime: mime.to_owned(),
            size,
        });
    }
    let playable = file
        .media
        .media_info
        .as_deref()
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .and_then(|m| m["browserPlayable"].as_bool())
        .unwrap_or(false);
    if playable {
        sources.push(PlaybackSource {
            kind: "original",
            url: format!("{base}/original?inline=true"),
            mime: file.mime.clone(),
            size: file.size as u64,
        });
    }
    Ok(response::ok(&PlaybackSources { sources }))
}

/// What a browser can play of a file, best first.
#[derive(Serialize, JsonSchema)]
pub struct PlaybackSources {
    pub sources: Vec<PlaybackSource>,
}

/// One playable stream of a file.
#[derive(Serialize, JsonSchema)]
pub struct PlaybackSource {
    /// `proxy` (made by the proxy job) or `original`.
    pub kind: &'static str,
    pub url: String,
    pub mime: String,
    pub size: u64,
}

/// `GET …/files/{file}/playback`: the browser-playable proxy, with Range.
pub async fn playback(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let mime = if file.media_kind() == MediaKind::Audio {
        "audio/mp4"
    } else {
        "video/mp4"
    };
    let key = derived_key(&file, proxy_variant(file.media_kind())).map_err(internal)?;
    send_derived(app, ctx, &key, mime).await
}

/// `GET …/files/{file}/waveform`: an audio file's peaks as JSON.
pub async fn waveform(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let key = derived_key(&file, WAVEFORM_VARIANT).map_err(internal)?;
    send_derived(app, ctx, &key, "application/json").await
}

/// Largest side the image proxy renders.
const MAX_PROXY_SIDE: u32 = 3840;
/// The sides the image proxy renders; a request rounds up to the next one.
const PROXY_SIDES: &[u32] = &[
    64,
    96,
    128,
    160,
    192,
    256,
    384,
    512,
    768,
    1024,
    1440,
    1920,
    2560,
    MAX_PROXY_SIDE,
];
/// The qualities the image proxy renders; a request rounds up to the next one.
const PROXY_QUALITIES: &[u32] = &[50, 70, 85, 95];
/// Image proxy renders one user may have running at once; more wait their turn.
const RENDERS_PER_USER: usize = 2;

/// `n` rounded up to the next of `steps` (ascending), or the last one.
fn snap(n: u32, steps: &[u32]) -> u32 {
    steps
        .iter()
        .copied()
        .find(|&step| step >= n)
        .unwrap_or(steps[steps.len() - 1])
}

/// What the image proxy was asked for, rounded so the cache stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProxyRequest {
    size: Size,
    quality: u8,
}

impl ProxyRequest {
    /// `name` (a named size) gives the defaults; `width`, `height`, `fit`, `quality` and
    /// `format` override them. Sides and quality round up to the next of a few steps, so a
    /// caller cannot make (and fill the disk with) thousands of variants of one photo.
    fn parse(name: &str, ctx: &Ctx) -> ApiResult<ProxyRequest> {
        let mut size = thumbnails::size(name).unwrap_or(thumbnails::SIZES[0]);
        let side = |key: &str| -> ApiResult<Option<u32>> {
            ctx.query_param(key)
                .map(|v| match v.parse::<u32>() {
                    Ok(n) if (1..=MAX_PROXY_SIDE).contains(&n) => Ok(snap(n, PROXY_SIDES)),
                    _ => Err(ApiError::BadRequest(format!(
                        "`{key}` must be 1 to {MAX_PROXY_SIDE}"
                    ))),
                })
                .transpose()
        };
        size.width = side("width")?.unwrap_or(size.width);
        size.height = side("height")?.unwrap_or(size.height);
        if let Some(fit) = ctx.query_param("fit") {
            size.fit = match fit.as_str() {
                "cover" => Fit::Cover,
                "contain" => Fit::Contain,
                _ => return Err(ApiError::BadRequest("`fit` is cover or contain".into())),
            };
        }
        if let Some(format) = ctx.query_param("format") {
            size.format = Format::parse(&format)
                .ok_or_else(|| ApiError::BadRequest("`format` is webp or jpeg".into()))?;
        }
        let quality = match ctx.query_param("quality") {
            None => thumbnails::QUALITY,
            Some(q) => match q.parse::<u8>() {
                Ok(q) if (1..=100).contains(&q) => snap(q.into(), PROXY_QUALITIES) as u8,
                _ => return Err(ApiError::BadRequest("`quality` must be 1 to 100".into())),
            },
        };
        Ok(ProxyRequest { size, quality })
    }

    /// The cache variant name of this render.
    fn variant(&self) -> String {
        let fit = match self.size.fit {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
        };
        let ext = match self.size.format {
            Format::Jpeg => "jpg",
            Format::Webp => "webp",
        };
        format!(
            "img-{}x{}-{fit}-q{}.{ext}",
            self.size.width, self.size.height, self.quality
        )
    }
}

/// `GET /api/files/proxy/{library}/{file}/{name}`: the picture of a photo or video at a
/// requested size and format, rendered once and then served from the cache.
pub async fn image_proxy(
    app: &ApiState,
    ctx: &Ctx,
    file: Uuid,
    name: &str,
) -> ApiResult<Response<Body>> {
    let request = ProxyRequest::parse(name, ctx)?;
    let file = load(app, ctx, file).await?;
    let key = derived_key(&file, &request.variant()).map_err(internal)?;
    let mime = request.size.format.mime();
    let mut stored = app.storage.size(&key).await.ok().flatten();
    if stored.is_none() {
        let lock = {
            let mut renders = app.renders.running.lock().await;
            renders.entry(key.as_str().to_owned()).or_default().clone()
        };
        let guard = lock.lock().await;
        // Whoever held the lock before may have rendered it meanwhile.
        stored = app.storage.size(&key).await.ok().flatten();
        if stored.is_none() {
            let slots = app.renders.slots_of(&ctx.caller()?.user.id);
            let _slot = slots.acquire().await.map_err(internal)?;
            let bytes = render(app, &file, request).await?;
            stored = Some(bytes.len() as u64);
            app.storage
                .put_bytes(&key, Bytes::from(bytes))
                .await
                .map_err(|e| crate::error::Error::blob("cache", e))?;
        }
        drop(guard);
        app.renders.running.lock().await.remove(key.as_str());
    }
    keep_within_budget(app, &key, stored.unwrap_or(0)).await;
    let mut res = send_derived(app, ctx, &key, mime).await?;
    res.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Authorization"),
    );
    Ok(res)
}

/// Counts `key` as just used and removes the least recently used variants over the budget
/// (seeding the budget from the variants on local disk the first time).
async fn keep_within_budget(app: &ApiState, key: &BlobKey, size: u64) {
    let cache = &app.renders.cache;
    let mut evicted = Vec::new();
    let root = BlobKey::new(crate::storage::Scope::Cache, &[] as &[&str])
        .ok()
        .and_then(|k| app.storage.local_path(&k));
    if cache.needs_seed()
        && let Some(root) = root
    {
        let seeded = tokio::task::block_in_place(|| cache.seed(&root));
        evicted.extend(seeded);
    }
    evicted.extend(cache.used(key, size));
    for old in evicted.iter().filter(|old| *old != key) {
        if let Err(e) = app.storage.delete(old).await {
            tracing::warn!("removing cached {old}: {e}");
            cache.forget(old);
        }
    }
}

/// Renders a proxy image: photos from their original, videos from their stored preview.
async fn render(app: &ApiState, file: &File, request: ProxyRequest) -> ApiResult<Vec<u8>> {
    let (key, mime) = match file.media_kind() {
        MediaKind::Photo => {
            let original = crate::files::original::Original::find(app, file).await?;
            (Some(original), file.mime.clone())
        }
        MediaKind::Video => (None, "image/jpeg".to_owned()),
        other => {
            return Err(ApiError::UnprocessableMedia(format!(
                "a {other} file has no picture"
            )));
        }
    };
    let stream = match &key {
        Some(original) => original.read(app.storage.as_ref(), None).await,
        None => {
            let preview =
                derived_key(file, &thumbnail_variant(thumbnails::SIZES[0])).map_err(internal)?;
            app.storage.read(&preview, None).await
        }
    };
    let bytes = match stream {
        Ok(s) => crate::storage::collect(s)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotReady("the picture is not made yet".into()));
        }
        Err(e) => return Err(ApiError::Unavailable(e.to_string())),
    };
    let limits = Limits::new(&app.config, std::time::Duration::from_secs(60));
    tokio::task::spawn_blocking(move || {
        let size = request.size;
        let picture = image::decode(
            &bytes,
            &mime,
            &|w, h| thumbnails::scale_needed(w, h, size),
            &limits,
        )?;
        let resized = thumbnails::resize(&picture.pixels, size)?;
        thumbnails::encode(&resized, size.format, request.quality)
    })
    .await
    .map_err(internal)?
    .map_err(|e| match e {
        MediaError::Unsupported(why) => ApiError::BadRequest(why),
        other => ApiError::UnprocessableMedia(other.to_string()),
    })
}
