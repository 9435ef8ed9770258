//! What a share link's recipient reaches, without an account: the share with its items, its
//! thumbnails and previews, playback, the moment's clip, and the originals and a ZIP when the
//! share allows downloads. The token is the only key: a revoked or unknown one is 404, an
//! expired one 410, a password-protected one 401 until unlocked (a cookie scoped to the share).
//! Unless the share shows the location, no answer carries one.

use http::{HeaderValue, Response, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::archive;
use super::files::{content_disposition, header_value, send_ranged};
use super::media::send_derived;
use super::state::ApiState;
use crate::auth::{password, token};
use crate::db::now_ms;
use crate::files::derived::{derived_key, proxy_variant, thumbnail_variant};
use crate::files::original::Original;
use crate::files::outgoing::{self, Outgoing};
use crate::files::{File, MediaKind};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::{Ctx, FORM};
use crate::http::response::{self, Body};
use crate::libraries::Library;
use crate::media::thumbnails;
use crate::moments::MomentView;
use crate::shares::{self, Share, ShareKind, ShareState};

/// Longest token looked up (ours are 43 characters).
const MAX_TOKEN: usize = 128;
/// How long an unlocked share stays unlocked in one browser.
const UNLOCK_HOURS: i64 = 12;
/// The picture that stands in for an original that cannot leave without its location.
const PREVIEW: &str = "preview";

/// A live share the caller may see.
struct Opened {
    share: Share,
    library: Library,
}

/// The cookie that marks a share unlocked in this browser.
fn unlock_cookie(share: &Share) -> String {
    format!("alcoves-share-{}", share.id)
}

/// What the unlock cookie holds: bound to the current password, so changing it locks again.
fn unlock_stamp(share: &Share) -> Option<String> {
    share
        .password_hash
        .as_deref()
        .map(|hash| crate::digest::sha256_hex(format!("{}:{hash}", share.id).as_bytes()))
}

fn unlocked(app: &ApiState, ctx: &Ctx, share: &Share) -> bool {
    let Some(stamp) = unlock_stamp(share) else {
        return true;
    };
    let cookies = ctx
        .parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    app.cookies.read_sealed(&unlock_cookie(share), cookies) == Some(stamp)
}

/// The share of `token` in its current state, whatever its password.
async fn find(app: &ApiState, token: &str) -> ApiResult<Opened> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err(ApiError::NotFound);
    }
    let mut conn = app.db.conn().await?;
    let (share, library) = shares::by_token(&mut conn, &token::hash_secret(token)).await?;
    match share.state(now_ms()) {
        ShareState::Active => Ok(Opened { share, library }),
        ShareState::Revoked => Err(ApiError::NotFound),
        ShareState::Expired => Err(ApiError::Gone(
            "this link has expired; ask whoever sent it for a new one".into(),
        )),
    }
}

/// The share of `token`, when it answers and is unlocked for this caller.
async fn open(app: &ApiState, ctx: &Ctx, token: &str) -> ApiResult<Opened> {
    let opened = find(app, token).await?;
    if !unlocked(app, ctx, &opened.share) {
        return Err(ApiError::PasswordRequired);
    }
    Ok(opened)
}

/// A shared file as a recipient sees it; URLs are relative to the server.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedItem {
    pub id: String,
    pub kind: MediaKind,
    pub name: String,
    pub mime: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
    /// When it was taken (with "show metadata" on).
    pub captured_at: Option<i64>,
    /// The thumbnail URL with `{size}` for `timeline`, `card` or `preview`.
    pub thumbnail_url: String,
    /// What a browser plays (video and audio).
    pub playback_url: Option<String>,
    /// The original (when downloads are allowed).
    pub original_url: Option<String>,
    /// Camera, codecs and the like (with "show metadata" on); never a location unless allowed.
    pub media: Option<serde_json::Value>,
    /// Where it was taken, "town, region, country" (with "show metadata" and "show location"
    /// on).
    pub place: Option<String>,
}

/// A shared moment.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedMoment {
    #[serde(flatten)]
    pub moment: MomentView,
    /// The clip, once it is cut.
    pub clip_url: Option<String>,
}

/// A share as its recipient sees it.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedView {
    pub kind: ShareKind,
    pub title: String,
    pub message: Option<String>,
    pub expires_at: Option<i64>,
    pub allow_download: bool,
    pub show_location: bool,
    pub show_metadata: bool,
    /// The first item's card-sized picture, for link previews.
    pub cover_url: Option<String>,
    /// A ZIP of every item (when downloads are allowed and there is more than one).
    pub zip_url: Option<String>,
    pub items: Vec<SharedItem>,
    pub moment: Option<SharedMoment>,
}

fn base(token: &str) -> String {
    format!("/api/share/{token}")
}

fn item(opened: &Opened, token: &str, file: &File) -> SharedItem {
    let share = &opened.share;
    let at = format!("{}/files/{}", base(token), file.id);
    let media = file
        .media
        .media_info
        .as_deref()
        .filter(|_| share.show_metadata)
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .map(|mut info| {
            if !share.show_location {
                outgoing::without_location_keys(&mut info);
            }
            info
        });
    SharedItem {
        id: file.id.clone(),
        kind: file.media_kind(),
        name: file.name.clone(),
        mime: file.mime.clone(),
        size: file.size,
        width: file.media.width,
        height: file.media.height,
        duration_ms: file.media.duration_ms,
        captured_at: file.media.captured_at.filter(|_| share.show_metadata),
        thumbnail_url: format!("{at}/thumbnails/{{size}}"),
        playback_url: file.media_kind().plays().then(|| format!("{at}/playback")),
        original_url: share.allow_download.then(|| format!("{at}/original")),
        media,
        place: (file.media.place.clone()).filter(|_| share.show_metadata && share.show_location),
    }
}

/// A hash of who is looking (address and browser), for counting views.
fn visitor(ctx: &Ctx) -> String {
    let agent = ctx.header(header::USER_AGENT).unwrap_or_default();
    crate::digest::sha256_hex(format!("{}|{agent}", ctx.client_ip).as_bytes())[..32].to_owned()
}

/// `GET /api/share/{token}`: the share and its items; 401 with the title until unlocked.
pub async fn get(app: &ApiState, ctx: &Ctx, token: &str) -> ApiResult<Response<Body>> {
    let opened = open(app, ctx, token).await?;
    let share = &opened.share;
    let mut conn = app.db.conn().await?;
    let files = shares::items(&mut conn, share).await?;
    let moment = match share.share_kind() {
        ShareKind::Moment => shares::moment_of(&mut conn, share).await?,
        _ => None,
    };
    drop(conn);
    if let Err(e) = shares::count_view(&app.db, share, &visitor(ctx)).await {
        tracing::warn!(share = %share.id, "counting a view: {e}");
    }
    let items: Vec<SharedItem> = files.iter().map(|f| item(&opened, token, f)).collect();
    let title = share
        .title
        .clone()
        .or_else(|| moment.as_ref().map(|m| m.title.clone()))
        .or_else(|| (items.len() == 1).then(|| items[0].name.clone()))
        .unwrap_or_else(|| format!("Shared from {}", opened.library.name));
    let view = SharedView {
        kind: share.share_kind(),
        title,
        message: share.message.clone(),
        expires_at: share.expires_at,
        allow_download: share.allow_download,
        show_location: share.show_location,
        show_metadata: share.show_metadata,
        cover_url: items
            .first()
            .map(|i| i.thumbnail_url.replace("{size}", "card")),
        zip_url: (share.allow_download && items.len() > 1).then(|| format!("{}/zip", base(token))),
        moment: moment.map(|m| SharedMoment {
            clip_url: m.clip_ready().then(|| format!("{}/clip", base(token))),
            moment: m.view(),
        }),
        items,
    };
    let mut res = response::ok(&view);
    no_referrer(&mut res);
    Ok(res)
}

/// Share answers name no referrer, so the token never leaks to other sites.
fn no_referrer(res: &mut Response<Body>) {
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "ShareUnlock")]
pub struct UnlockBody {
    password: String,
}

/// `POST /api/share/{token}/unlock`: with the right password (JSON, or a plain HTML form that
/// is sent back to the share page), sets a cookie that unlocks this share for 12 hours.
/// Wrong passwords are throttled like sign-ins.
pub async fn unlock(app: &ApiState, ctx: &mut Ctx, token: &str) -> ApiResult<Response<Body>> {
    let from_form = ctx.body_is(FORM);
    let password_given = if from_form {
        ctx.form()
            .await?
            .into_iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v)
            .unwrap_or_default()
    } else {
        ctx.json::<UnlockBody>().await?.password
    };
    let opened = find(app, token).await?;
    let share = &opened.share;
    let (Some(hash), Some(stamp)) = (&share.password_hash, unlock_stamp(share)) else {
        return Ok(unlocked_answer(from_form, token, None));
    };
    let key = format!("share:{}", share.id);
    let address = ctx.client_ip.to_string();
    if let Some(wait) = app.throttle.wait_secs(&key, &address) {
        return Err(ApiError::TooManyRequests(wait));
    }
    if !password::verify(&password_given, hash).await {
        app.throttle.failed(&key, &address);
        if from_form {
            return Ok(redirect(&format!("/s/{token}?error=password")));
        }
        return Err(ApiError::BadCredentials);
    }
    app.throttle.succeeded(&key, &address);
    let cookie = app.cookies.set_sealed(
        &unlock_cookie(share),
        &stamp,
        cookie::time::Duration::hours(UNLOCK_HOURS),
    );
    Ok(unlocked_answer(from_form, token, Some(cookie)))
}

fn unlocked_answer(from_form: bool, token: &str, cookie: Option<String>) -> Response<Body> {
    let mut res = if from_form {
        redirect(&format!("/s/{token}"))
    } else {
        response::no_content()
    };
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    no_referrer(&mut res);
    res
}

fn redirect(to: &str) -> Response<Body> {
    let mut res = response::empty(StatusCode::SEE_OTHER);
    res.headers_mut().insert(header::LOCATION, header_value(to));
    res
}

/// The shared file `file`, or 404 when the share does not show it.
async fn shared_file(app: &ApiState, opened: &Opened, file: Uuid) -> ApiResult<File> {
    let mut conn = app.db.conn().await?;
    Ok(shares::item(&mut conn, &opened.share, &file.to_string()).await?)
}

/// `GET /api/share/{token}/files/{file}/thumbnails/{size}`: a thumbnail or the preview
/// (pictures we make carry no metadata).
pub async fn thumbnail(
    app: &ApiState,
    ctx: &Ctx,
    token: &str,
    file: Uuid,
    size: &str,
) -> ApiResult<Response<Body>> {
    let opened = open(app, ctx, token).await?;
    let size = thumbnails::size(size).ok_or(ApiError::NotFound)?;
    let file = shared_file(app, &opened, file).await?;
    let key = derived_key(&file, &thumbnail_variant(size))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut res = send_derived(app, ctx, &key, size.format.mime()).await?;
    no_referrer(&mut res);
    Ok(res)
}

/// `GET /api/share/{token}/files/{file}/playback`: the browser-playable proxy, or the original
/// when browsers play it as it is (without the location the share hides).
pub async fn playback(
    app: &ApiState,
    ctx: &Ctx,
    token: &str,
    file: Uuid,
) -> ApiResult<Response<Body>> {
    let opened = open(app, ctx, token).await?;
    let file = shared_file(app, &opened, file).await?;
    if !file.media_kind().plays() {
        return Err(ApiError::NotFound);
    }
    let mime = if file.media_kind() == MediaKind::Audio {
        "audio/mp4"
    } else {
        "video/mp4"
    };
    let proxy = derived_key(&file, proxy_variant(file.media_kind()))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut res = if app.storage.size(&proxy).await.ok().flatten().is_some() {
        send_derived(app, ctx, &proxy, mime).await?
    } else {
        let (outgoing, _, _) = original_of(app, &opened, &file).await?;
        if !outgoing.is_original() {
            return Err(ApiError::NotReady(
                "this recording keeps its location where it cannot be removed; it plays once \
                 its browser copy is made"
                    .into(),
            ));
        }
        send_outgoing(app, ctx, &file, outgoing, &file.mime).await?
    };
    no_referrer(&mut res);
    Ok(res)
}

/// What leaves for `file` as its original under the share's rules, with its MIME type and name.
async fn original_of(
    app: &ApiState,
    opened: &Opened,
    file: &File,
) -> ApiResult<(Outgoing, String, String)> {
    let original = Original::of(file, opened.library.import_path.as_deref())?;
    if opened.share.show_location {
        return Ok((
            Outgoing::Original(original),
            file.mime.clone(),
            file.name.clone(),
        ));
    }
    let preview =
        thumbnails::size(PREVIEW).ok_or_else(|| ApiError::Internal("no preview size".into()))?;
    let stand_in = derived_key(file, &thumbnail_variant(preview))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let outgoing = Outgoing::without_location(app.storage.as_ref(), file, original, stand_in).await;
    if outgoing.is_original() {
        return Ok((outgoing, file.mime.clone(), file.name.clone()));
    }
    let stem = file
        .name
        .rsplit_once('.')
        .map_or(file.name.as_str(), |(s, _)| s);
    let name = format!("{stem}.{}", preview.format.extension());
    Ok((outgoing, preview.format.mime().to_owned(), name))
}

async fn send_outgoing(
    app: &ApiState,
    ctx: &Ctx,
    file: &File,
    outgoing: Outgoing,
    mime: &str,
) -> ApiResult<Response<Body>> {
    let storage = app.storage.as_ref();
    let size = outgoing
        .size(storage, file)
        .await
        .map_err(|_| ApiError::NotReady("the preview is not made (yet)".into()))?;
    let variant = match &outgoing {
        Outgoing::Original(_) => "o",
        Outgoing::Patched { .. } => "p",
        Outgoing::Derived(_) => "d",
    };
    let etag = format!(
        "\"{}-{variant}\"",
        file.sha256.as_deref().unwrap_or(&file.id)
    );
    let outgoing = &outgoing;
    send_ranged(ctx, size, &etag, mime, |part| async move {
        outgoing
            .read(storage, Some(part))
            .await
            .map_err(|e| ApiError::Unavailable(format!("reading {}: {e}", file.id)))
    })
    .await
}

/// `GET /api/share/{token}/files/{file}/original`: the original, when downloads are allowed
/// (403 otherwise); without its location unless the share shows it.
pub async fn original(
    app: &ApiState,
    ctx: &Ctx,
    token: &str,
    file: Uuid,
) -> ApiResult<Response<Body>> {
    let opened = open(app, ctx, token).await?;
    let file = shared_file(app, &opened, file).await?;
    if !opened.share.allow_download {
        return Err(ApiError::Denied(
            "downloads_off",
            "this share does not allow downloading originals".into(),
        ));
    }
    let (outgoing, mime, name) = original_of(app, &opened, &file).await?;
    let mut res = send_outgoing(app, ctx, &file, outgoing, &mime).await?;
    let inline = ctx.query_param("inline").as_deref() == Some("true");
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(&name, inline)),
    );
    no_referrer(&mut res);
    Ok(res)
}

/// `GET /api/share/{token}/clip`: a moment share's clip (re-encoded, so it carries no
/// location).
pub async fn clip(app: &ApiState, ctx: &Ctx, token: &str) -> ApiResult<Response<Body>> {
    let opened = open(app, ctx, token).await?;
    let mut conn = app.db.conn().await?;
    let moment = shares::moment_of(&mut conn, &opened.share)
        .await?
        .ok_or(ApiError::NotFound)?;
    let file = shares::item(&mut conn, &opened.share, &moment.file_id).await?;
    drop(conn);
    let mut res = super::moments::send_clip(app, ctx, &file, &moment).await?;
    no_referrer(&mut res);
    Ok(res)
}

/// `GET /api/share/{token}/zip`: every item in one ZIP, when downloads are allowed.
pub async fn zip(app: &ApiState, ctx: &Ctx, token: &str) -> ApiResult<Response<Body>> {
    let opened = open(app, ctx, token).await?;
    if !opened.share.allow_download {
        return Err(ApiError::Denied(
            "downloads_off",
            "this share does not allow downloading originals".into(),
        ));
    }
    let files = {
        let mut conn = app.db.conn().await?;
        shares::items(&mut conn, &opened.share).await?
    };
    if files.is_empty() {
        return Err(ApiError::NotFound);
    }
    let mut entries = Vec::with_capacity(files.len());
    for file in &files {
        let (outgoing, _, name) = original_of(app, &opened, file).await?;
        entries.push((file.id.clone(), name, outgoing));
    }
    let mut res = archive::stream(app, entries, "shared.zip");
    no_referrer(&mut res);
    Ok(res)
}
