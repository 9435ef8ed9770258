//! People endpoints: the library's people, what members change about them (name, hidden,
//! cover, merge, split), their face pictures, re-clustering, and the faces in one file.

use http::Response;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bodies::Items;
use super::files::load;
use super::media::send_derived;
use super::state::ApiState;
use crate::files::derived::face_variant;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::people::{self, PersonChange};
use crate::search;

/// `GET /api/libraries/{library}/people`.
pub async fn list(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let hidden = ctx.query_param("hidden").as_deref() == Some("true");
    let mut conn = app.db.conn().await?;
    let people = people::list(&mut conn, &ctx.library_id()?, hidden).await?;
    Ok(response::ok(&Items { items: people }))
}

/// The person's view after a change.
async fn person_view(app: &ApiState, library: &str, person: &str) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let views = people::list(&mut conn, library, true).await?;
    let view = views
        .into_iter()
        .find(|p| p.id == person)
        .ok_or(ApiError::NotFound)?;
    Ok(response::ok(&view))
}

/// `PATCH /api/libraries/{library}/people/{person}`.
pub async fn update(app: &ApiState, ctx: &mut Ctx, person: Uuid) -> ApiResult<Response<Body>> {
    let change: PersonChange = ctx.json().await?;
    let library = ctx.library_id()?;
    let mut conn = app.db.conn().await?;
    let person = people::get(&mut conn, &library, &person.to_string()).await?;
    people::update(&mut conn, &person, &change).await?;
    search::refresh_people(&mut conn, std::slice::from_ref(&person.id)).await?;
    drop(conn);
    // A worker of this process gives the new name its meaning (others do at their start).
    app.new_texts.notify_one();
    person_view(app, &library, &person.id).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    people: Vec<String>,
}

/// `POST /api/libraries/{library}/people/{person}/merge`.
pub async fn merge(app: &ApiState, ctx: &mut Ctx, person: Uuid) -> ApiResult<Response<Body>> {
    let body: MergeBody = ctx.json().await?;
    let library = ctx.library_id()?;
    let person = person.to_string();
    people::merge(&app.db, &library, &person, &body.people).await?;
    search::refresh_people(&mut app.db.conn().await?, std::slice::from_ref(&person)).await?;
    person_view(app, &library, &person).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SplitBody {
    face_ids: Vec<String>,
}

/// `POST /api/libraries/{library}/people/{person}/split`: answers with the new person.
pub async fn split(app: &ApiState, ctx: &mut Ctx, person: Uuid) -> ApiResult<Response<Body>> {
    let body: SplitBody = ctx.json().await?;
    let library = ctx.library_id()?;
    let new = people::split(&app.db, &library, &person.to_string(), &body.face_ids).await?;
    person_view(app, &library, &new).await
}

/// `GET /api/libraries/{library}/people/{person}/thumbnail`.
pub async fn thumbnail(app: &ApiState, ctx: &Ctx, person: Uuid) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let face = {
        let mut conn = app.db.conn().await?;
        let person = people::get(&mut conn, &library, &person.to_string()).await?;
        people::cover_face(&mut conn, &person)
            .await?
            .ok_or_else(|| ApiError::NotReady("this person has no face picture".into()))?
    };
    let file = load(
        app,
        ctx,
        face.file_id.parse().map_err(|_| ApiError::NotFound)?,
    )
    .await?;
    let key = crate::files::derived::derived_key(&file, &face_variant(face.position))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    send_derived(app, ctx, &key, "image/jpeg").await
}

/// `POST /api/libraries/{library}/people/recluster`.
pub async fn recluster(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let params = crate::people::cluster::Params::from_config(&app.config);
    let count = people::recluster(&app.db, &library, params).await?;
    Ok(response::ok(&Reclustered { people: count }))
}

/// How many people a re-clustering left.
#[derive(Serialize, JsonSchema)]
pub struct Reclustered {
    pub people: i64,
}

/// `GET /api/libraries/{library}/files/{file}/faces`.
pub async fn file_faces(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let mut conn = app.db.conn().await?;
    let faces = people::faces_of_file(&mut conn, &file.id).await?;
    let items: Vec<_> = faces.iter().map(people::Face::view).collect();
    Ok(response::ok(&Items { items }))
}
