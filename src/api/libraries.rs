//! Libraries and their members: create, list, get, update (name, emoji, feature flags), delete;
//! list members, change a role, remove a member, leave.

use http::Response;
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

use super::state::ApiState;
use crate::activity::ActivityKind;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::jobs::JobKind;
use crate::libraries::{self, members};
use crate::libraries::{Role, SpeechLanguage};
use crate::pipeline::reprocess::{Scope, reprocess};
use crate::storage::BlobKey;

/// Longest library name.
const MAX_LIBRARY_NAME: usize = 100;
/// Longest emoji text (an emoji with modifiers is several characters).
const MAX_EMOJI: usize = 16;

fn library_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_LIBRARY_NAME {
        return Err(ApiError::BadRequest(format!(
            "library name must be 1-{MAX_LIBRARY_NAME} characters"
        )));
    }
    Ok(name.to_owned())
}

/// An emoji, or `None` for the empty string (which clears it).
fn emoji(raw: &str) -> ApiResult<Option<String>> {
    let e = raw.trim();
    if e.chars().count() > MAX_EMOJI {
        return Err(ApiError::BadRequest(format!(
            "emoji must be at most {MAX_EMOJI} characters"
        )));
    }
    Ok((!e.is_empty()).then(|| e.to_owned()))
}

/// `GET /api/libraries`.
pub async fn list(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let caller = ctx.caller()?;
    let mut conn = app.db.conn().await?;
    Ok(response::ok(
        &libraries::list_for_user(&mut conn, &caller.user.id).await?,
    ))
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LibraryCreate")]
pub struct CreateBody {
    name: String,
    emoji: Option<String>,
}

/// `POST /api/libraries`.
pub async fn create(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: CreateBody = ctx.json().await?;
    let name = library_name(&body.name)?;
    let emoji = emoji(body.emoji.as_deref().unwrap_or(""))?;
    let caller = ctx.caller()?;
    let library = libraries::create_shared(&app.db, &caller.user.id, &name, emoji).await?;
    Ok(response::created(&library.view(Role::Owner)))
}

/// `GET /api/libraries/{library}`.
pub fn get(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let (library, role) = ctx.library()?;
    Ok(response::ok(&library.clone().view(*role)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "LibraryUpdate")]
pub struct UpdateBody {
    name: Option<String>,
    /// The empty string clears the emoji.
    emoji: Option<String>,
    face_recognition_enabled: Option<bool>,
    object_detection_enabled: Option<bool>,
    /// Whether share links may be made (`sharing` also accepted).
    #[serde(alias = "sharing")]
    sharing_enabled: Option<bool>,
    /// The language recordings are spoken in (`en`, `de`, …) or `auto` to detect it per file;
    /// a change transcribes the library's recordings again.
    speech_language: Option<String>,
}

/// `PATCH /api/libraries/{library}`: only the fields sent change.
pub async fn update(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: UpdateBody = ctx.json().await?;
    let (library, role) = ctx.library()?;
    let mut library = library.clone();
    if let Some(name) = &body.name {
        library.name = library_name(name)?;
    }
    if let Some(e) = &body.emoji {
        library.emoji = emoji(e)?;
    }
    if body.sharing_enabled == Some(true) && library.is_personal {
        return Err(personal_library_error());
    }
    library.face_recognition_enabled = body
        .face_recognition_enabled
        .unwrap_or(library.face_recognition_enabled);
    library.object_detection_enabled = body
        .object_detection_enabled
        .unwrap_or(library.object_detection_enabled);
    library.sharing_enabled = body.sharing_enabled.unwrap_or(library.sharing_enabled);
    let before = library.speech_language.clone();
    if let Some(code) = &body.speech_language {
        let setting = SpeechLanguage::parse(code).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "speechLanguage must be `auto` or a language code whisper knows (en, de, fr, …), not {code:?}"
            ))
        })?;
        library.speech_language = setting.code().to_owned();
    }
    {
        let mut conn = app.db.conn().await?;
        libraries::save(&mut conn, &mut library).await?;
    }
    if library.speech_language != before {
        let scope = Scope::Library(library.id.clone());
        reprocess(app, JobKind::Transcribe, &scope, |_, _| {}).await?;
    }
    Ok(response::ok(&library.view(*role)))
}

/// The error for trying to share a personal library.
pub fn personal_library_error() -> ApiError {
    ApiError::Conflict(
        "personal_library",
        "a personal library cannot be shared".into(),
    )
}

/// `DELETE /api/libraries/{library}` (owner only; never the personal library).
pub async fn delete(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let (library, _) = ctx.library()?;
    if library.is_personal {
        return Err(ApiError::Conflict(
            "personal_library",
            "a personal library cannot be deleted".into(),
        ));
    }
    libraries::delete(&app.db, &library.id).await?;
    // The rows went first, so nothing visible points at a missing blob. Originals indexed in
    // place live in the NAS folder, outside the store, and are never touched.
    let prefixes =
        BlobKey::library_prefixes(&library.id).map_err(|e| ApiError::Internal(e.to_string()))?;
    for prefix in &prefixes {
        if let Err(e) = app.storage.delete_prefix(prefix).await {
            tracing::warn!(
                library = library.id,
                "deleted library left blobs behind: {e}"
            );
        }
    }
    Ok(response::no_content())
}

/// `GET /api/libraries/{library}/members`.
pub async fn list_members(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let (library, _) = ctx.library()?;
    let mut conn = app.db.conn().await?;
    Ok(response::ok(&members::list(&mut conn, &library.id).await?))
}

/// The role of `user` in the request's library, refusing non-members (404) and the owner.
async fn changeable_member(app: &ApiState, ctx: &Ctx, user: Uuid) -> ApiResult<Role> {
    let (library, _) = ctx.library()?;
    let mut conn = app.db.conn().await?;
    match members::role_of(&mut conn, &library.id, &user.to_string()).await? {
        None => Err(ApiError::NotFound),
        Some(Role::Owner) => Err(ApiError::Denied(
            "owner_protected",
            "the library owner cannot be changed or removed".into(),
        )),
        Some(role) => Ok(role),
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct UpdateMemberBody {
    role: Role,
}

/// `PATCH /api/libraries/{library}/members/{user}`: set a member's role to admin or viewer.
pub async fn update_member(app: &ApiState, ctx: &mut Ctx, user: Uuid) -> ApiResult<Response<Body>> {
    let body: UpdateMemberBody = ctx.json().await?;
    if body.role == Role::Owner {
        return Err(ApiError::BadRequest("role must be admin or viewer".into()));
    }
    changeable_member(app, ctx, user).await?;
    let (library, _) = ctx.library()?;
    let mut conn = app.db.conn().await?;
    members::set_role(&mut conn, &library.id, &user.to_string(), body.role).await?;
    Ok(response::ok(&members::list(&mut conn, &library.id).await?))
}

/// `DELETE /api/libraries/{library}/members/{user}`.
pub async fn remove_member(app: &ApiState, ctx: &Ctx, user: Uuid) -> ApiResult<Response<Body>> {
    changeable_member(app, ctx, user).await?;
    let (library, _) = ctx.library()?;
    let actor = &ctx.caller()?.user.id;
    remove_recorded(
        app,
        &library.id,
        &user.to_string(),
        actor,
        ActivityKind::MemberRemoved,
    )
    .await
}

/// Removes a member, recording who did it.
async fn remove_recorded(
    app: &ApiState,
    library_id: &str,
    member: &str,
    actor: &str,
    kind: ActivityKind,
) -> ApiResult<Response<Body>> {
    members::remove_recorded(&app.db, library_id, member, actor, kind).await?;
    Ok(response::no_content())
}

/// `POST /api/libraries/{library}/leave`: any member but the owner.
pub async fn leave(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let (library, role) = ctx.library()?;
    if *role == Role::Owner {
        return Err(ApiError::Conflict(
            "owner_cannot_leave",
            "the owner cannot leave; delete the library instead".into(),
        ));
    }
    let me = &ctx.caller()?.user.id;
    remove_recorded(app, &library.id, me, me, ActivityKind::MemberLeft).await
}
