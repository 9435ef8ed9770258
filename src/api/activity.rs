//! The library feed and the signed-in user's notifications.

use http::Response;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::bodies::Page;
use super::state::ApiState;
use crate::activity;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};

/// Raw activities read per feed page (before grouping).
const FEED_PAGE: i64 = 200;
/// Notifications returned at most.
const NOTIFICATIONS: i64 = 100;

/// `GET /api/libraries/{library}/feed?cursor=`: grouped, newest first.
pub async fn feed(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let after = ctx.cursor()?;
    let mut conn = app.db.conn().await?;
    let (rows, next) = activity::page(&mut conn, &library, after.as_ref(), FEED_PAGE).await?;
    Ok(response::ok(&Page {
        items: activity::group(rows),
        next_cursor: next.map(|c| c.encode()),
    }))
}

/// `GET /api/notifications`: `{unread, items}`.
pub async fn list(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let user = &ctx.caller()?.user.id;
    let mut conn = app.db.conn().await?;
    let items = activity::notifications(&mut conn, user, NOTIFICATIONS).await?;
    Ok(response::ok(&Notifications {
        unread: items.len(),
        items,
    }))
}

/// The signed-in user's notifications.
#[derive(Serialize, JsonSchema)]
pub struct Notifications {
    pub unread: usize,
    pub items: Vec<activity::Activity>,
}

/// `POST /api/notifications/{activity}/dismiss`: only notifications the user can see.
pub async fn dismiss(app: &ApiState, ctx: &Ctx, id: Uuid) -> ApiResult<Response<Body>> {
    let user = &ctx.caller()?.user.id;
    let id = id.to_string();
    let mut conn = app.db.conn().await?;
    let visible = activity::notifications(&mut conn, user, i64::MAX)
        .await?
        .iter()
        .any(|a| a.id == id);
    if !visible {
        return Err(ApiError::NotFound);
    }
    activity::dismiss(&mut conn, user, &id).await?;
    Ok(response::no_content())
}

/// `POST /api/notifications/clear`.
pub async fn clear(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let user = &ctx.caller()?.user.id;
    let mut conn = app.db.conn().await?;
    activity::clear(&mut conn, user).await?;
    Ok(response::no_content())
}
