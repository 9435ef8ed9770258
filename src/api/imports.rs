//! Imports of a Google Takeout (or iCloud Photos) export from the web app: the export's parts
//! are uploaded one by one into a folder of this process's scratch space, then imported in the
//! background as `alcoves import takeout` does, with progress and a summary to poll. Kept in
//! memory: an import cut off by a restart is simply run again, and imports nothing twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Response, header};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::state::ApiState;
use crate::db::now_ms;
use crate::files::{self, upload};
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::import::takeout::{self, Summary};
use crate::storage::durable::TempPath;

/// Most imports remembered per library; finished ones are forgotten oldest first to make room.
const KEPT: usize = 8;
/// Most parts one import takes.
const MAX_PARTS: usize = 500;
/// An import that took no part for this long was left behind: its room (and its parts' disk
/// space) may go to a new one.
const ABANDONED: Duration = Duration::from_secs(60 * 60);

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Taking parts.
    Receiving,
    Running,
    Done,
    Failed,
}

/// An import as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportView {
    pub id: String,
    pub library_id: String,
    pub state: ImportState,
    /// The parts received, by name, in the order they came.
    pub parts: Vec<String>,
    /// Files of the export looked at so far, of `total`.
    pub done: usize,
    pub total: usize,
    /// What it did, once done.
    pub summary: Option<Summary>,
    /// Why it failed.
    pub error: Option<String>,
    pub created_at: i64,
}

struct Import {
    view: ImportView,
    /// The folder holding the parts.
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// When it was made or last took a part.
    touched: Instant,
}

impl Import {
    /// Whether its room may go to a new import.
    fn is_over(&self) -> bool {
        match self.view.state {
            ImportState::Done | ImportState::Failed => true,
            ImportState::Receiving => self.touched.elapsed() > ABANDONED,
            ImportState::Running => false,
        }
    }
}

/// The imports of this process.
#[derive(Default)]
pub struct Imports(Mutex<HashMap<String, Import>>);

impl Imports {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Import>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The view of import `id` of `library`, changed by `change` first.
    fn with<T>(
        &self,
        library: &str,
        id: &str,
        change: impl FnOnce(&mut Import) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut imports = self.lock();
        let import = imports
            .get_mut(id)
            .filter(|i| i.view.library_id == library)
            .ok_or(ApiError::NotFound)?;
        change(import)
    }
}

/// `POST /api/libraries/{library}/imports`.
pub async fn create(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let id = Uuid::new_v4().to_string();
    let dir = app.scratch.path().join(format!("import-{id}"));
    let view = ImportView {
        id: id.clone(),
        library_id: ctx.library_id()?,
        state: ImportState::Receiving,
        parts: Vec::new(),
        done: 0,
        total: 0,
        summary: None,
        error: None,
        created_at: now_ms(),
    };
    let left_behind = {
        let mut imports = app.imports.lock();
        let mut left_behind = None;
        let of_library = || {
            imports
                .values()
                .filter(|i| i.view.library_id == view.library_id)
        };
        if of_library().count() >= KEPT {
            let over = of_library()
                .filter(|i| i.is_over())
                .min_by_key(|i| i.view.created_at)
                .map(|i| i.view.id.clone())
                .ok_or_else(|| {
                    ApiError::Conflict("busy", "too many imports at once; try later".into())
                })?;
            left_behind = imports.remove(&over).map(|i| i.dir);
        }
        imports.insert(
            id,
            Import {
                view: view.clone(),
                dir: dir.clone(),
                files: Vec::new(),
                touched: Instant::now(),
            },
        );
        left_behind
    };
    if let Some(old) = left_behind {
        let _ = tokio::fs::remove_dir_all(old).await;
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| crate::error::Error::io("making an import folder", e))?;
    Ok(response::created(&view))
}

/// `POST …/imports/{import}/parts`: one part as the raw body, named by `X-Upload-Name`.
pub async fn upload_part(app: &ApiState, ctx: &mut Ctx, import: Uuid) -> ApiResult<Response<Body>> {
    let (library, id) = (ctx.library_id()?, import.to_string());
    let raw_name = ctx
        .header_text(header::HeaderName::from_static("x-upload-name"))
        .unwrap_or_default();
    let name =
        files::clean_name(&percent_encoding::percent_decode_str(&raw_name).decode_utf8_lossy());
    let dir = if takeout::is_part_name(&name) {
        app.imports.with(&library, &id, |i| match i.view.state {
            ImportState::Receiving if i.files.len() < MAX_PARTS => Ok(i.dir.clone()),
            ImportState::Receiving => Err(ApiError::Conflict(
                "too_many_parts",
                format!("an import takes {MAX_PARTS} parts at most"),
            )),
            _ => Err(ApiError::Conflict(
                "import_started",
                "this import has started: start a new one".into(),
            )),
        })
    } else {
        Err(ApiError::BadRequest(format!(
            "`{name}` is not a part of an export: .zip, .tgz or .tar.gz"
        )))
    };
    let dir = match dir {
        Ok(dir) => dir,
        Err(e) => {
            if let Ok(body) = ctx.take_body() {
                body.drain().await;
            }
            return Err(e);
        }
    };
    let target = TempPath::new(dir.join(format!("{}-{name}", Uuid::new_v4().simple())));
    let mut body = ctx.take_body()?;
    let staged = match upload::stage(&mut body, target, app.config.max_upload_bytes).await {
        Ok(staged) => staged,
        Err(e) => {
            body.drain().await;
            return Err(e.into());
        }
    };
    let view = app.imports.with(&library, &id, |i| {
        if i.view.state != ImportState::Receiving {
            return Err(ApiError::Conflict(
                "import_started",
                "the import started while this part was arriving".into(),
            ));
        }
        i.files.push(staged.file.keep());
        i.view.parts.push(name);
        i.touched = Instant::now();
        Ok(i.view.clone())
    })?;
    Ok(response::created(&view))
}

/// `POST …/imports/{import}/start`: imports the parts in the background.
pub async fn start(app: &Arc<ApiState>, ctx: &Ctx, import: Uuid) -> ApiResult<Response<Body>> {
    let (library, id) = (ctx.library_id()?, import.to_string());
    let (view, files, dir) = app.imports.with(&library, &id, |i| {
        if i.view.state != ImportState::Receiving || i.files.is_empty() {
            return Err(ApiError::Conflict(
                "not_ready",
                "an import starts once, after its parts have arrived".into(),
            ));
        }
        i.view.state = ImportState::Running;
        Ok((i.view.clone(), i.files.clone(), i.dir.clone()))
    })?;
    let owner = ctx.caller()?.user.id.clone();
    let api = app.clone();
    tokio::spawn(async move {
        let progress = |done, total| {
            let _ = api.imports.with(&library, &id, |i| {
                (i.view.done, i.view.total) = (done, total);
                Ok(())
            });
        };
        let result = takeout::import(&api, &library, &owner, &files, progress).await;
        if let Err(e) = &result {
            tracing::warn!("import {id} into {library} failed: {e}");
        }
        let _ = api.imports.with(&library, &id, |i| {
            match result {
                Ok(summary) => {
                    i.view.state = ImportState::Done;
                    i.view.summary = Some(summary);
                }
                Err(e) => {
                    i.view.state = ImportState::Failed;
                    i.view.error = Some(e.to_string());
                }
            }
            i.files.clear();
            Ok(())
        });
        let _ = tokio::fs::remove_dir_all(&dir).await;
    });
    Ok(response::ok(&view))
}

/// `GET …/imports/{import}`.
pub async fn get(app: &ApiState, ctx: &Ctx, import: Uuid) -> ApiResult<Response<Body>> {
    let view = app
        .imports
        .with(&ctx.library_id()?, &import.to_string(), |i| {
            Ok(i.view.clone())
        })?;
    Ok(response::ok(&view))
}
