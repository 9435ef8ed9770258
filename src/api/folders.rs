//! Folders: list, create, rename and move, trash and restore with their contents, purge.

use http::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::state::ApiState;
use crate::db::now_ms;
use crate::folders::{self, Folder};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};

/// A nullable id in a PATCH body: absent = unchanged, `null` = the root.
pub fn parent_change(value: Option<&Value>) -> ApiResult<Option<Option<String>>> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(id)) => Ok(Some(Some(id.clone()))),
        Some(_) => Err(ApiError::InvalidJson(
            "folder ids are strings or null".into(),
        )),
    }
}

/// `GET /api/libraries/{library}/folders?parent=&trashed=`.
pub async fn list(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let parent = ctx.query_param("parent").filter(|p| !p.is_empty());
    let trashed = ctx.query_param("trashed").as_deref() == Some("true");
    let mut conn = app.db.conn().await?;
    Ok(response::ok(
        &folders::children(&mut conn, &library, parent.as_deref(), trashed).await?,
    ))
}

/// A folder with the way to it.
#[derive(Serialize, JsonSchema)]
pub struct FolderDetail {
    #[serde(flatten)]
    pub folder: Folder,
    /// The folders above it, from the library's root down to its parent.
    pub path: Vec<FolderStep>,
}

/// One folder on a path.
#[derive(Serialize, JsonSchema)]
pub struct FolderStep {
    pub id: String,
    pub name: String,
}

/// `GET /api/libraries/{library}/folders/{folder}`.
pub async fn get(app: &ApiState, ctx: &Ctx, folder: Uuid) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let folder = folders::get(&mut conn, &ctx.library_id()?, &folder.to_string()).await?;
    let path = folders::ancestors(&mut conn, &folder)
        .await?
        .into_iter()
        .map(|f| FolderStep {
            id: f.id,
            name: f.name,
        })
        .collect();
    Ok(response::ok(&FolderDetail { folder, path }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "FolderCreate")]
pub struct CreateBody {
    name: String,
    parent_id: Option<String>,
}

/// `POST /api/libraries/{library}/folders`.
pub async fn create(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: CreateBody = ctx.json().await?;
    let library = ctx.library_id()?;
    let name = folders::valid_name(&body.name)?;
    let mut conn = app.db.conn().await?;
    if let Some(parent) = &body.parent_id {
        folders::live(&mut conn, &library, parent, "parentId").await?;
    }
    let now = now_ms();
    let folder = Folder {
        id: Uuid::new_v4().to_string(),
        library_id: library,
        parent_id: body.parent_id,
        name,
        created_at: now,
        updated_at: now,
        trashed_at: None,
        source_path: None,
    };
    let actor = ctx.caller()?.user.id.clone();
    folders::create(&app.db, &actor, &folder).await?;
    Ok(response::created(&folder))
}

/// `PATCH /api/libraries/{library}/folders/{folder}`: `name`, `parentId` (null for the root).
pub async fn update(app: &ApiState, ctx: &mut Ctx, folder: Uuid) -> ApiResult<Response<Body>> {
    let body: Value = ctx.json().await?;
    let library = ctx.library_id()?;
    let mut conn = app.db.conn().await?;
    let mut folder = folders::get(&mut conn, &library, &folder.to_string()).await?;
    if let Some(name) = body.get("name") {
        folder.name = folders::valid_name(
            name.as_str()
                .ok_or_else(|| ApiError::InvalidJson("name must be a string".into()))?,
        )?;
    }
    if let Some(parent) = parent_change(body.get("parentId"))? {
        if let Some(p) = &parent {
            folders::live(&mut conn, &library, p, "parentId").await?;
            folders::refuse_cycle(&mut conn, &library, &folder.id, p).await?;
        }
        folder.parent_id = parent;
    }
    folders::save(&mut conn, &folder).await?;
    crate::search::refresh_folder(&mut conn, &library, &folder.id).await?;
    Ok(response::ok(&folder))
}

/// `POST …/folders/{folder}/trash` and `…/restore`: the folder, its subfolders and their files.
pub async fn set_trashed(
    app: &ApiState,
    ctx: &Ctx,
    folder: Uuid,
    trash: bool,
) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let folder = folders::trash_tree(&app.db, &library, &folder.to_string(), trash).await?;
    Ok(response::ok(&folder))
}

/// `DELETE /api/libraries/{library}/folders/{folder}`: a trashed folder, for good, with every
/// file inside it.
pub async fn purge(app: &ApiState, ctx: &Ctx, folder: Uuid) -> ApiResult<Response<Body>> {
    folders::purge(app, &ctx.library_id()?, &folder.to_string()).await?;
    Ok(response::no_content())
}
