//! Invite links: create, list and revoke (library admins), preview and accept (the invitee).

use http::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::libraries::personal_library_error;
use super::state::ApiState;
use crate::db::now_ms;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::libraries::Role;
use crate::libraries::invites::{self, Invite};

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "InviteCreate")]
pub struct CreateBody {
    #[serde(default = "default_role")]
    role: Role,
    max_uses: Option<i32>,
    expires_in_hours: Option<u32>,
}

fn default_role() -> Role {
    Role::Viewer
}

/// `POST /api/libraries/{library}/invites`: returns the token once, with the web path to share.
pub async fn create(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: CreateBody = ctx.json().await?;
    if body.role == Role::Owner {
        return Err(ApiError::BadRequest(
            "an invite gives the admin or viewer role".into(),
        ));
    }
    if body.max_uses.is_some_and(|n| n < 1) {
        return Err(ApiError::BadRequest("maxUses must be at least 1".into()));
    }
    let (library, _) = ctx.library()?;
    if library.is_personal {
        return Err(personal_library_error());
    }
    let expires_at = body
        .expires_in_hours
        .map(|h| now_ms() + i64::from(h) * 3_600_000);
    let caller = ctx.caller()?;
    let mut conn = app.db.conn().await?;
    let (invite, token) = invites::create(
        &mut conn,
        &library.id,
        &caller.user.id,
        body.role,
        body.max_uses,
        expires_at,
    )
    .await?;
    let path = format!("/invite/{token}");
    Ok(response::created(&CreatedInvite {
        invite,
        token,
        path,
    }))
}

/// A new invite link; the token is shown only here.
#[derive(Serialize, JsonSchema)]
pub struct CreatedInvite {
    pub invite: Invite,
    pub token: String,
    /// The web page that accepts the invite.
    pub path: String,
}

/// What an invite link leads to, for the accept page.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitePreview {
    pub library_name: String,
    pub library_emoji: Option<String>,
    pub role: String,
    pub expires_at: Option<i64>,
}

/// `GET /api/libraries/{library}/invites`.
pub async fn list(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let (library, _) = ctx.library()?;
    let mut conn = app.db.conn().await?;
    Ok(response::ok(&invites::list(&mut conn, &library.id).await?))
}

/// `DELETE /api/libraries/{library}/invites/{invite}`.
pub async fn revoke(app: &ApiState, ctx: &Ctx, invite: Uuid) -> ApiResult<Response<Body>> {
    let (library, _) = ctx.library()?;
    let mut conn = app.db.conn().await?;
    if !invites::revoke(&mut conn, &library.id, &invite.to_string()).await? {
        return Err(ApiError::NotFound);
    }
    Ok(response::no_content())
}

/// `GET /api/invites/{token}`: what the link leads to, for the accept page.
pub async fn preview(app: &ApiState, token: &str) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let (invite, library) = invites::find_usable(&mut conn, token).await?;
    Ok(response::ok(&InvitePreview {
        library_name: library.name,
        library_emoji: library.emoji,
        role: invite.role,
        expires_at: invite.expires_at,
    }))
}

/// `POST /api/invites/{token}/accept`: joins the library; returns it with the new role.
pub async fn accept(app: &ApiState, ctx: &Ctx, token: &str) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    let mut tx = app.db.begin().await?;
    let (library, role) = invites::redeem(&mut tx, token, &caller.user.id).await?;
    tx.commit().await?;
    Ok(response::ok(&library.view(role)))
}
