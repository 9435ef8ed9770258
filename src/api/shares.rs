//! Managing a library's share links (admins): create, list, see, edit, revoke.

use http::{Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::bodies::Items;
use super::state::ApiState;
use crate::auth::{password, token};
use crate::db::now_ms;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::shares::{self, Options, Share, ShareKind, ShareState, Target};

/// What the sealed token is bound to, so no other sealed value opens as a token.
const TOKEN_PURPOSE: &str = "share-token";

/// A share as its managers see it, with its link.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareView {
    pub id: String,
    pub library_id: String,
    pub kind: ShareKind,
    pub folder_id: Option<String>,
    pub moment_id: Option<String>,
    /// The link's secret (managers only; `null` if the server's secret changed since).
    pub token: Option<String>,
    /// The absolute link to the share page.
    pub url: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub expires_at: Option<i64>,
    pub has_password: bool,
    pub allow_download: bool,
    pub show_location: bool,
    pub show_metadata: bool,
    pub state: ShareState,
    pub views: i64,
    pub last_viewed_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn view(app: &ApiState, share: &Share) -> ShareView {
    let token = app.cookies.open(TOKEN_PURPOSE, &share.token_sealed);
    ShareView {
        id: share.id.clone(),
        library_id: share.library_id.clone(),
        kind: share.share_kind(),
        folder_id: share.folder_id.clone(),
        moment_id: share.moment_id.clone(),
        url: token.as_deref().map(|t| share_url(app, t)),
        token,
        title: share.title.clone(),
        message: share.message.clone(),
        expires_at: share.expires_at,
        has_password: share.password_hash.is_some(),
        allow_download: share.allow_download,
        show_location: share.show_location,
        show_metadata: share.show_metadata,
        state: share.state(now_ms()),
        views: share.views,
        last_viewed_at: share.last_viewed_at,
        created_by: share.created_by.clone(),
        created_at: share.created_at,
        updated_at: share.updated_at,
    }
}

/// The absolute address of the share page of `token`.
pub fn share_url(app: &ApiState, token: &str) -> String {
    format!("{}/s/{token}", app.config.public_url.trim_end_matches('/'))
}

/// Absent stays absent, `null` becomes `Some(None)`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The options of a create or edit request.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ShareOptions")]
pub struct OptionsBody {
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    message: Option<Option<String>>,
    /// When the link stops working, in ms since the epoch; `null` for never.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<i64>")]
    expires_at: Option<Option<i64>>,
    /// A password visitors must give; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    password: Option<Option<String>>,
    /// Whether visitors may download the originals (off by default).
    allow_download: Option<bool>,
    /// Whether visitors see where photos were taken (off by default).
    show_location: Option<bool>,
    /// Whether visitors see camera, dates and the other metadata (on by default).
    show_metadata: Option<bool>,
}

impl OptionsBody {
    /// The domain options; a new password is checked and hashed here.
    async fn options(self) -> ApiResult<Options> {
        let password_hash = match self.password {
            Some(Some(p)) => {
                password::validate(&p)?;
                Some(Some(password::hash(&p).await?))
            }
            Some(None) => Some(None),
            None => None,
        };
        Ok(Options {
            title: self.title,
            message: self.message,
            expires_at: self.expires_at,
            password_hash,
            allow_download: self.allow_download,
            show_location: self.show_location,
            show_metadata: self.show_metadata,
        })
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "ShareCreate")]
pub struct CreateBody {
    kind: ShareKind,
    file_ids: Option<Vec<String>>,
    folder_id: Option<String>,
    moment_id: Option<String>,
    #[serde(flatten)]
    options: OptionsBody,
}

/// `POST /api/libraries/{library}/shares`: answers the share with its token and link.
pub async fn create(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let body: CreateBody = ctx.json().await?;
    let (library, _) = ctx.library()?.clone();
    shares::check_sharing(&library)?;
    let missing = |name: &str| ApiError::BadRequest(format!("a {name} share needs {name}Id"));
    let target = match body.kind {
        ShareKind::Files => Target::Files(
            body.file_ids
                .ok_or_else(|| ApiError::BadRequest("a files share needs fileIds".into()))?,
        ),
        ShareKind::Folder => Target::Folder(body.folder_id.ok_or_else(|| missing("folder"))?),
        ShareKind::Moment => Target::Moment(body.moment_id.ok_or_else(|| missing("moment"))?),
    };
    let options = body.options.options().await?;
    let secret = token::random_secret();
    let token = shares::Token {
        hash: token::hash_secret(&secret),
        sealed: app.cookies.seal(TOKEN_PURPOSE, &secret),
    };
    let actor = ctx.caller()?.user.id.clone();
    let share = shares::create(app, &library, &actor, target, options, token).await?;
    Ok(response::json(StatusCode::CREATED, &view(app, &share)))
}

/// `GET /api/libraries/{library}/shares`.
pub async fn list(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let items = shares::of_library(&mut conn, &ctx.library_id()?)
        .await?
        .iter()
        .map(|s| view(app, s))
        .collect();
    Ok(response::ok(&Items { items }))
}

async fn load(app: &ApiState, ctx: &Ctx, share: Uuid) -> ApiResult<Share> {
    let mut conn = app.db.conn().await?;
    Ok(shares::get(&mut conn, &ctx.library_id()?, &share.to_string()).await?)
}

/// `GET /api/libraries/{library}/shares/{share}`.
pub async fn get(app: &ApiState, ctx: &Ctx, share: Uuid) -> ApiResult<Response<Body>> {
    let share = load(app, ctx, share).await?;
    Ok(response::ok(&view(app, &share)))
}

/// `PATCH /api/libraries/{library}/shares/{share}`: options only; what is shared stays.
pub async fn update(app: &ApiState, ctx: &mut Ctx, share: Uuid) -> ApiResult<Response<Body>> {
    let body: OptionsBody = ctx.json().await?;
    let share = load(app, ctx, share).await?;
    if share.revoked_at.is_some() {
        return Err(ApiError::Conflict(
            "share_revoked",
            "a revoked share stays revoked; make a new one".into(),
        ));
    }
    let options = body.options().await?;
    let mut conn = app.db.conn().await?;
    let share = shares::update(&mut conn, share, options).await?;
    Ok(response::ok(&view(app, &share)))
}

/// `DELETE /api/libraries/{library}/shares/{share}`: revokes the link.
pub async fn revoke(app: &ApiState, ctx: &Ctx, share: Uuid) -> ApiResult<Response<Body>> {
    let share = load(app, ctx, share).await?;
    let mut conn = app.db.conn().await?;
    shares::revoke(&mut conn, &share).await?;
    Ok(response::no_content())
}
