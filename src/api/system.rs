//! Health, version and the OpenAPI document.

use http::{Response, StatusCode};
use serde_json::json;

use crate::app::{App, VERSION};
use crate::http::error::ApiResult;
use crate::http::response::{self, Body};

/// `GET /api/health`: 200 when the database and queue answer, 503 otherwise.
pub async fn health(app: &App) -> ApiResult<Response<Body>> {
    let (db, queue) = tokio::join!(app.db.ping(), app.queue.ping());
    let status = if db.is_ok() && queue.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let check = |r: &Result<(), String>| match r {
        Ok(()) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "error": e }),
    };
    let mut database = check(&db);
    database["backend"] = app.db.backend().name().into();
    let mut queue_json = check(&queue);
    queue_json["backend"] = app.queue.name().into();
    Ok(response::json(
        status,
        &json!({
            "status": if status == StatusCode::OK { "ok" } else { "degraded" },
            "version": VERSION,
            "database": database,
            "queue": queue_json,
        }),
    ))
}

/// `GET /api/version`.
pub fn version() -> ApiResult<Response<Body>> {
    Ok(response::ok(
        &json!({ "name": "alcoves", "version": VERSION }),
    ))
}

/// `GET /api/openapi.json`.
pub fn openapi() -> ApiResult<Response<Body>> {
    Ok(response::ok(&super::openapi::document()))
}
