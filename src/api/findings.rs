//! What the ML stage found, as the API shows it: the library's labels, and a file's labels,
//! sound events and transcript (JSON or WebVTT).

use http::{HeaderValue, Response, header};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::bodies::Items;
use super::files::load;
use super::state::ApiState;
use crate::findings;
use crate::http::error::ApiResult;
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::ml::sound_summary::{self, Heard, SoundSummary};
use crate::ml::transcribe::{Segment, webvtt};

/// `GET /api/libraries/{library}/labels`.
pub async fn labels(app: &ApiState, ctx: &Ctx) -> ApiResult<Response<Body>> {
    let library = ctx.library_id()?;
    let mut conn = app.db.conn().await?;
    let counts = findings::label_counts(&mut conn, &library).await?;
    Ok(response::ok(&Items { items: counts }))
}

/// `GET …/files/{file}/labels`.
pub async fn file_labels(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let mut conn = app.db.conn().await?;
    let labels = findings::labels_of_file(&mut conn, &file.id).await?;
    Ok(response::ok(&Items { items: labels }))
}

/// `GET …/files/{file}/audio-events`: every event in time order, and the file's sound
/// summary.
pub async fn file_sound_events(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let mut conn = app.db.conn().await?;
    let events = findings::sound_events_of_file(&mut conn, &file.id).await?;
    let summary = sound_summary::summarize(events.iter().map(|e| Heard {
        name: &e.name,
        start_ms: e.start_ms,
        end_ms: e.end_ms,
        score: e.score,
    }));
    Ok(response::ok(&SoundEvents {
        items: events,
        summary,
    }))
}

/// The sound events heard in a recording.
#[derive(Serialize, JsonSchema)]
pub struct SoundEvents {
    /// Every event, in time order.
    pub items: Vec<findings::SoundEvent>,
    /// What the recording mostly sounds like, most characteristic first: one entry per class,
    /// ranked by seconds heard times the duration-weighted mean score, so lasting sounds
    /// outrank brief loud ones. Silence is left out, and a class gives way to the more specific
    /// classes below it in the AudioSet ontology (Dog over Animal) when those cover at least
    /// half of its time.
    pub summary: Vec<SoundSummary>,
}

/// `GET …/files/{file}/transcript`: JSON segments, or WebVTT with `format=vtt`.
pub async fn transcript(app: &ApiState, ctx: &Ctx, file: Uuid) -> ApiResult<Response<Body>> {
    let file = load(app, ctx, file).await?;
    let mut conn = app.db.conn().await?;
    let transcript = findings::transcript_of_file(&mut conn, &file.id).await?;
    let segments = transcript.segments;
    if ctx.query_param("format").as_deref() == Some("vtt") {
        let mut res = Response::new(response::full(webvtt(&segments)));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/vtt; charset=utf-8"),
        );
        return Ok(res);
    }
    let text = segments
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(response::ok(&TranscriptView {
        language: transcript.language,
        segments,
        text,
    }))
}

/// What was said in a recording, line by line and as one text.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Transcript")]
pub struct TranscriptView {
    /// The language it was heard in (a whisper code such as `en` or `de`): the library's
    /// speech language, or the one detected; null when nothing was said.
    pub language: Option<String>,
    pub segments: Vec<Segment>,
    pub text: String,
}
