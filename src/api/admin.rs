//! Instance administration (instance owner only): users and the registration mode.

use http::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::state::ApiState;
use crate::accounts::{self, UserView};
use crate::config::RegistrationMode;
use crate::http::error::ApiResult;
use crate::http::request::Ctx;
use crate::http::response::{self, Body};

/// `GET /api/admin/users`.
pub async fn list_users(app: &ApiState) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let users: Vec<UserView> = accounts::list(&mut conn)
        .await?
        .iter()
        .map(UserView::from)
        .collect();
    Ok(response::ok(&users))
}

/// `GET /api/admin/settings`.
pub async fn settings(app: &ApiState) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let mode = accounts::registration_mode(&mut conn, app.config.registration_mode).await?;
    Ok(response::ok(&InstanceSettings {
        registration_mode: mode,
    }))
}

/// The instance-wide settings the owner can change.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSettings {
    pub registration_mode: RegistrationMode,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "InstanceSettingsUpdate")]
pub struct UpdateBody {
    registration_mode: Option<RegistrationMode>,
}

/// `PATCH /api/admin/settings`.
pub async fn update_settings(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: UpdateBody = ctx.json().await?;
    let mut conn = app.db.conn().await?;
    if let Some(mode) = body.registration_mode {
        accounts::set_registration_mode(&mut conn, mode).await?;
    }
    settings(app).await
}
