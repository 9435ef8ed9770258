//! Moments of a video or audio file: list, create, edit, delete, export as a clip, download.

use http::{Response, StatusCode, header};
use uuid::Uuid;

use super::bodies::{Items, Page};
use super::files::{content_disposition, header_value, load};
use super::media::send_derived;
use super::state::ApiState;
use crate::files::{File, MediaKind};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::moments::{self, Fields, Moment, MomentView};

/// Moments listed per page of a library's moments.
const PAGE: i64 = 200;

async fn file_and_moment(
    app: &ApiState,
    ctx: &Ctx,
    file: Uuid,
    moment: Uuid,
) -> ApiResult<(File, Moment)> {
    let file = load(app, ctx, file).await?;
    let mut conn = app.db.conn().await?;
    let moment = moments::get(&mut conn, &file.library_id, &moment.to_string()).await?;
    if moment.file_id != file.id {
        return Err(ApiError::NotFound);
    }
    Ok((file, moment))
}

/// `GET …/files/{file}/moments`: the file's moments in time order.
pub async fn of_file(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let mut conn = app.db.conn().await?;
    let items: Vec<MomentView> = moments::of_file(&mut conn, &file.id)
        .await?
        .iter()
        .map(Moment::view)
        .collect();
    Ok(response::ok(&Items { items }))
}

/// `GET /api/libraries/{library}/moments?cursor=`: the library's moments, newest first.
pub async fn of_library(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let after = ctx.cursor()?;
    let mut conn = app.db.conn().await?;
    let (rows, next) = moments::of_library(&mut conn, &library, after.as_ref(), PAGE).await?;
    Ok(response::ok(&Page {
        items: rows.iter().map(Moment::view).collect::<Vec<MomentView>>(),
        next_cursor: next.map(|c| c.encode()),
    }))
}

/// `POST …/files/{file}/moments`.
pub async fn create(app: &ApiState, ctx: &mut Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let fields: Fields = ctx.json().await?;
    let file = load(app, ctx, file).await?;
    let actor = ctx.caller()?.user.id.clone();
    let mut conn = app.db.conn().await?;
    let moment = moments::create(&mut conn, &file, &actor, &fields).await?;
    Ok(response::json(StatusCode::CREATED, &moment.view()))
}

/// `GET …/files/{file}/moments/{moment}`.
pub async fn get(app: &ApiState, ctx: &Ctx, file: Uuid, moment: Uuid) -> ApiResult<Response<Body>> {
    let (_, moment) = file_and_moment(app, ctx, file, moment).await?;
    Ok(response::ok(&moment.view()))
}

/// `PATCH …/files/{file}/moments/{moment}`: a new range bumps the version.
pub async fn update(
    app: &ApiState,
    ctx: &mut Ctx,
    file: Uuid,
    moment: Uuid,
) -> ApiResult<Response<Body>> {
    let fields: Fields = ctx.json().await?;
    let (file, moment) = file_and_moment(app, ctx, file, moment).await?;
    let moment = moments::update(app, &file, moment, &fields).await?;
    Ok(response::ok(&moment.view()))
}

/// `DELETE …/files/{file}/moments/{moment}`: the moment, its clip and its shares.
pub async fn delete(
    app: &ApiState,
    ctx: &Ctx,
    file: Uuid,
    moment: Uuid,
) -> ApiResult<Response<Body>> {
    let (file, moment) = file_and_moment(app, ctx, file, moment).await?;
    moments::delete(app, &file, &moment).await?;
    Ok(response::no_content())
}

/// `POST …/files/{file}/moments/{moment}/export`: asks for the clip (202 while it is cut).
pub async fn export(
    app: &ApiState,
    ctx: &Ctx,
    file: Uuid,
    moment: Uuid,
) -> ApiResult<Response<Body>> {
    let (_, moment) = file_and_moment(app, ctx, file, moment).await?;
    let mut conn = app.db.conn().await?;
    moments::request_export(app, &mut conn, &moment).await?;
    let moment = moments::get(&mut conn, &moment.library_id, &moment.id).await?;
    let status = if moment.clip_ready() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(response::json(status, &moment.view()))
}

/// `GET …/files/{file}/moments/{moment}/clip`: the exported clip, with Range and ETag.
pub async fn clip(
    app: &ApiState,
    ctx: &Ctx,
    file: Uuid,
    moment: Uuid,
) -> ApiResult<Response<Body>> {
    let (file, moment) = file_and_moment(app, ctx, file, moment).await?;
    send_clip(app, ctx, &file, &moment).await
}

/// Sends a moment's current clip as an attachment named after the moment; 404 until it is cut.
pub(super) async fn send_clip(
    app: &ApiState,
    ctx: &Ctx,
    file: &File,
    moment: &Moment,
) -> ApiResult<Response<Body>> {
    if !moment.clip_ready() {
        return Err(ApiError::NotReady(
            "the clip is not made (yet): export the moment and wait for its job".into(),
        ));
    }
    let key = moments::clip_key(moment, file.media_kind(), moment.version)?;
    let (mime, ext) = if file.media_kind() == MediaKind::Audio {
        ("audio/mp4", "m4a")
    } else {
        ("video/mp4", "mp4")
    };
    let mut res = send_derived(app, ctx, &key, mime).await?;
    let inline = ctx.query_param("inline").as_deref() == Some("true");
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(
            &format!("{}.{ext}", moment.title),
            inline,
        )),
    );
    Ok(res)
}
