//! Queue administration for the instance owner: counts, failed jobs, retry, remove, purge.

use http::Response;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::bodies::Queued;
use super::state::ApiState;
use crate::files;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::jobs::{JobKind, JobStatus, store};

/// How many jobs of one kind are in one state.
#[derive(Serialize, JsonSchema)]
pub struct JobCount {
    pub kind: JobKind,
    pub status: JobStatus,
    pub count: i64,
}

/// How many failed jobs a purge removed.
#[derive(Serialize, JsonSchema)]
pub struct Removed {
    pub removed: usize,
}

/// `GET /api/admin/jobs`: `[{kind, status, count}]`.
pub async fn counts(app: &ApiState) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let rows: Vec<_> = store::counts(&mut conn)
        .await?
        .into_iter()
        .map(|(kind, status, count)| JobCount {
            kind,
            status,
            count,
        })
        .collect();
    Ok(response::ok(&rows))
}

/// `GET /api/admin/jobs/failed?limit=`.
pub async fn failed(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let limit = ctx
        .query_param("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let mut conn = app.db.conn().await?;
    Ok(response::ok(&store::failed(&mut conn, limit).await?))
}

fn kind_of(text: &str) -> ApiResult<JobKind> {
    JobKind::parse(text).ok_or(ApiError::NotFound)
}

/// `POST /api/admin/reprocess`: queues the stage again for every live file of every library.
pub async fn reprocess_all(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let kind = super::files::reprocess_kind(ctx).await?;
    let scope = crate::pipeline::reprocess::Scope::Everything;
    let queued = crate::pipeline::reprocess::reprocess(app, kind, &scope, |_, _| {}).await?;
    Ok(response::json(
        http::StatusCode::ACCEPTED,
        &Queued { queued },
    ))
}

/// `POST /api/admin/jobs/{kind}/{file}/retry`.
pub async fn retry(app: &ApiState, kind: &str, file: Uuid) -> ApiResult<Response<Body>> {
    let kind = kind_of(kind)?;
    let mut conn = app.db.conn().await?;
    let file = files::find(&mut conn, &file.to_string())
        .await?
        .ok_or(ApiError::NotFound)?;
    let queued = store::enqueue(&mut conn, &file.id, kind).await?;
    app.queue.announce(&[queued]).await;
    Ok(response::no_content())
}

/// `DELETE /api/admin/jobs/{kind}/{file}`.
pub async fn remove(app: &ApiState, kind: &str, file: Uuid) -> ApiResult<Response<Body>> {
    let kind = kind_of(kind)?;
    let mut conn = app.db.conn().await?;
    if !store::remove(&mut conn, &file.to_string(), kind).await? {
        return Err(ApiError::NotFound);
    }
    Ok(response::no_content())
}

/// `POST /api/admin/jobs/purge`: forgets every failed job.
pub async fn purge_failed(app: &ApiState) -> ApiResult<Response<Body>> {
    let mut conn = app.db.conn().await?;
    let removed = store::purge_failed(&mut conn).await?;
    Ok(response::ok(&Removed { removed }))
}
