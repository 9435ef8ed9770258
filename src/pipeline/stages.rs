//! What each job kind does. A handler reads what it needs, reports progress, and returns either
//! the [`Effect`] to record (written only while the worker still holds the lease) or how the
//! run ended otherwise.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Progress;
use crate::app::App;
use crate::db::Conn;
use crate::db::schema::files as files_table;
use crate::error::Result;
use crate::files::original::Original;
use crate::files::{File, MediaFacts, MediaKind, sniff};
use crate::jobs::JobKind;
use crate::jobs::store::Settle;
use crate::with_conn;

/// A finished job's result, written to the file row or the file's findings.
#[derive(Debug, Clone)]
pub enum Effect {
    Hash {
        sha256: String,
    },
    Metadata {
        size: i64,
        mime: String,
        kind: MediaKind,
        facts: MediaFacts,
    },
    /// Derived files were written to the cache; the file row is unchanged.
    Derived,
    /// The thumbnails were written to the cache; the file's ThumbHash placeholder (base64).
    Thumbnails {
        thumbhash: String,
    },
    /// The file's faces, replacing earlier ones, to be clustered into people.
    Faces(Vec<crate::people::Face>),
    /// The file's objects and tags.
    Labels(Vec<crate::ml::objects::Label>),
    /// The sound events heard in the file.
    SoundEvents(Vec<crate::findings::SoundEvent>),
    /// What is said in the file.
    Transcript(crate::ml::transcribe::Transcript),
}

/// The models the faces stage needs.
pub const FACE_MODELS: [&str; 3] = ["face-detector", "face-landmarks", "face-embedder"];
/// The models the objects stage needs.
pub const OBJECT_MODELS: [&str; 2] = ["object-detector", "image-tagger"];

/// Why stage `kind` has nothing to do for `file`, known without reading the file: its kind and
/// streams, the library's switches, the models installed. `None` when the stage must run. The
/// stages ask first thing, and the worker asks before queueing a file's next stage, so stages
/// that do not apply are marked skipped in the same transaction instead of being claimed.
pub async fn inapplicable(
    app: &App,
    conn: &mut Conn,
    file: &File,
    kind: JobKind,
) -> Result<Option<String>> {
    let media = file.media_kind();
    let silent = || {
        if !media.plays() {
            Some(format!("a {media} file has no sound"))
        } else if file.media.lacks_stream("audio") {
            Some("the video has no sound track".to_owned())
        } else {
            None
        }
    };
    let missing = |models: &[&str]| {
        let dir = app.config.models_dir();
        let mut missing = models.iter().map(|m| crate::ml::models::require(&dir, m));
        missing.find_map(|r| r.err()).map(|e| e.to_string())
    };
    Ok(match kind {
        JobKind::Thumbnails => {
            (!media.has_picture()).then(|| format!("a {media} file has no picture"))
        }
        JobKind::Proxy if !media.plays() => Some(format!("a {media} file plays as it is")),
        JobKind::Proxy => file
            .media
            .browser_playable()
            .then(|| "not_needed: browsers play the original".to_owned()),
        JobKind::Waveform => {
            (media != MediaKind::Audio).then(|| format!("a {media} file gets no waveform"))
        }
        JobKind::Faces | JobKind::Objects => {
            let Some(library) = crate::libraries::get(conn, &file.library_id).await? else {
                return Ok(Some("the library no longer exists".to_owned()));
            };
            let (on, off, models) = match kind {
                JobKind::Faces => (
                    library.face_recognition_enabled,
                    "face recognition is off for this library",
                    &FACE_MODELS[..],
                ),
                _ => (
                    library.object_detection_enabled,
                    "object detection is off for this library",
                    &OBJECT_MODELS[..],
                ),
            };
            if !on {
                Some(off.to_owned())
            } else if !media.has_picture() {
                Some(format!("a {media} file has no picture"))
            } else {
                missing(models)
            }
        }
        JobKind::AudioEvents => silent().or_else(|| missing(&["audio-events"])),
        JobKind::Transcribe => silent(),
        JobKind::Hash | JobKind::Metadata | JobKind::MomentExport => None,
    })
}

/// Ends the run as skipped when [`inapplicable`] says so.
pub async fn skip_if_inapplicable(app: &App, file: &File, kind: JobKind) -> Result<(), Settle> {
    let mut conn = app
        .db
        .conn()
        .await
        .map_err(|e| Settle::Retry(format!("database: {e}")))?;
    match inapplicable(app, &mut conn, file, kind).await {
        Ok(None) => Ok(()),
        Ok(Some(why)) => Err(Settle::Skipped(why)),
        Err(e) => Err(Settle::from(&e)),
    }
}

/// Runs `kind` on `file`.
pub async fn run(
    app: &App,
    file: &File,
    kind: JobKind,
    progress: &Progress,
) -> Result<Effect, Settle> {
    match kind {
        JobKind::Hash => hash(app, file, progress).await,
        JobKind::Metadata => metadata(app, file).await,
        JobKind::Thumbnails => super::media::thumbnails(app, file)
            .await
            .map(|thumbhash| Effect::Thumbnails { thumbhash }),
        JobKind::Proxy => super::media::proxy(app, file, progress)
            .await
            .map(|()| Effect::Derived),
        JobKind::Waveform => super::media::waveform(app, file, progress)
            .await
            .map(|()| Effect::Derived),
        JobKind::Faces => super::ml::faces(app, file).await,
        JobKind::Objects => super::ml::objects(app, file).await,
        JobKind::AudioEvents => super::ml::audio_events(app, file, progress).await,
        JobKind::Transcribe => super::ml::transcribe(app, file, progress).await,
        JobKind::MomentExport => super::media::moment_export(app, file, progress)
            .await
            .map(|()| Effect::Derived),
    }
}

async fn original(app: &App, file: &File) -> Result<Original, Settle> {
    Original::find(app, file).await.map_err(Settle::from)
}

/// A storage error as a run outcome: a missing original is final, anything else is retried.
fn storage_outcome(e: std::io::Error) -> Settle {
    match e.kind() {
        std::io::ErrorKind::NotFound => Settle::Failed(format!("the original is missing: {e}")),
        _ => Settle::Retry(format!("storage: {e}")),
    }
}

async fn hash(app: &App, file: &File, progress: &Progress) -> Result<Effect, Settle> {
    let original = original(app, file).await?;
    let total = original
        .size(app.storage.as_ref())
        .await
        .map_err(storage_outcome)?;
    let started = std::time::Instant::now();
    let sha256 = original
        .sha256(app.storage.as_ref(), |seen| {
            let pct = (seen * 100 / total.max(1)) as i32;
            let elapsed = started.elapsed().as_millis() as u64;
            let eta = (seen > 0).then(|| (elapsed * (total - seen.min(total)) / seen) as i64);
            progress.send_replace(Some((pct, eta)));
        })
        .await
        .map_err(storage_outcome)?;
    Ok(Effect::Hash { sha256 })
}

async fn metadata(app: &App, file: &File) -> Result<Effect, Settle> {
    let original = original(app, file).await?;
    let size = original
        .size(app.storage.as_ref())
        .await
        .map_err(storage_outcome)?;
    let head: Vec<u8> = if size == 0 {
        Vec::new()
    } else {
        let stream = original
            .read(app.storage.as_ref(), Some(0..sniff::SNIFF_LEN as u64))
            .await
            .map_err(storage_outcome)?;
        crate::storage::collect(stream)
            .await
            .map_err(storage_outcome)?
    };
    let mime = sniff::mime_of(&head);
    let kind = MediaKind::of_mime(mime);
    let sized = File {
        size: size as i64,
        ..file.clone()
    };
    let read = super::media::read_facts(app, &sized, kind, mime).await?;
    Ok(Effect::Metadata {
        size: size as i64,
        mime: read.mime,
        kind: read.kind,
        facts: read.facts,
    })
}

/// Writes a finished job's result to the file row or its findings.
pub async fn apply(
    conn: &mut Conn,
    file: &File,
    effect: &Effect,
    clustering: crate::people::cluster::Params,
) -> Result<()> {
    let file_id = file.id.as_str();
    let library = file.library_id.as_str();
    let now = crate::db::now_ms();
    let target = files_table::table.find(file_id);
    match effect {
        Effect::Hash { sha256 } => with_conn!(conn, c => diesel::update(target)
            .set((files_table::sha256.eq(sha256), files_table::updated_at.eq(now)))
            .execute(c)
            .await)?,
        Effect::Metadata {
            size,
            mime,
            kind,
            facts,
        } => {
            let position = facts.position();
            with_conn!(conn, c => diesel::update(target)
            .set((
                files_table::latitude.eq(position.map(|p| p.0)),
                files_table::longitude.eq(position.map(|p| p.1)),
                files_table::size.eq(size),
                files_table::mime.eq(mime),
                files_table::kind.eq(kind.as_str()),
                files_table::updated_at.eq(now),
                facts,
            ))
            .execute(c)
            .await)?
        }
        Effect::Derived => 0,
        Effect::Thumbnails { thumbhash } => with_conn!(conn, c => diesel::update(target)
            .set(files_table::thumbhash.eq(thumbhash))
            .execute(c)
            .await)?,
        Effect::Faces(faces) => {
            crate::people::replace_faces(conn, library, file_id, faces, clustering).await?;
            0
        }
        Effect::Labels(labels) => {
            crate::findings::replace_labels(conn, library, file_id, labels).await?;
            0
        }
        Effect::SoundEvents(events) => {
            crate::findings::replace_sound_events(conn, library, file_id, events).await?;
            0
        }
        Effect::Transcript(transcript) => {
            crate::findings::replace_transcript(conn, library, file_id, transcript).await?;
            0
        }
    };
    Ok(())
}
