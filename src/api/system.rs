//! Health, version and the OpenAPI document.

use crate::api::state::ApiState;
use http::{Response, StatusCode};
use schemars::JsonSchema;
use serde::Serialize;

use crate::app::VERSION;
use crate::http::error::ApiResult;
use crate::http::response::{self, Body};

/// `GET /api/health`: 200 when the database and queue answer and the disk has room, 503
/// otherwise.
pub async fn health(app: &ApiState) -> ApiResult<Response<Body>> {
    let (db, queue) = tokio::join!(app.db.ping(), app.queue.ping());
    let disk = app.disk.usage().ok();
    let status = if db.is_ok() && queue.is_ok() && !disk.is_some_and(|d| d.full) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(response::json(
        status,
        &Health {
            status: if status == StatusCode::OK {
                "ok"
            } else {
                "degraded"
            },
            version: VERSION,
            database: Check::of(db, app.db.backend().name()),
            queue: Check::of(queue, app.queue.name()),
            disk,
        },
    ))
}

/// Whether the server and what it depends on answer.
#[derive(Serialize, JsonSchema)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    pub version: &'static str,
    pub database: Check,
    pub queue: Check,
    /// Free space on the data dir's disk (absent when it cannot be measured).
    pub disk: Option<crate::storage::disk::DiskUsage>,
}

/// One dependency's answer.
#[derive(Serialize, JsonSchema)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub backend: &'static str,
}

impl Check {
    fn of(result: Result<(), String>, backend: &'static str) -> Check {
        Check {
            ok: result.is_ok(),
            error: result.err(),
            backend,
        }
    }
}

/// The server's name and version.
#[derive(Serialize, JsonSchema)]
pub struct Version {
    pub name: &'static str,
    pub version: &'static str,
}

/// `GET /api/version`.
pub fn version() -> ApiResult<Response<Body>> {
    Ok(response::ok(&Version {
        name: "alcoves",
        version: VERSION,
    }))
}
