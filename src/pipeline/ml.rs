//! The ML stage's jobs on one file. Pictures come from the file's upright preview thumbnail
//! (a photo or a video's poster, already decoded, oriented and at most 1920x1080), sound from
//! the original resampled to 16 kHz mono. Each run holds CPU slots, so at most one model runs
//! per core, and stops at its job's time budget. Sound is heard as it is decoded.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::media::{local_original, outcome as media_outcome};
use super::stages::{Effect, skip_if_inapplicable};
use super::{Progress, report_progress};
use crate::app::App;
use crate::files::File;
use crate::files::derived::{derived_key, face_variant, thumbnail_variant};
use crate::jobs::JobKind;
use crate::jobs::store::Settle;
use crate::libraries::SpeechLanguage;
use crate::media::{Limits, av, image, thumbnails};
use crate::ml::{MlError, audio_events, faces, models, objects, transcribe};
use crate::people::{self, Face};

/// Side of a face's crop.
pub const FACE_SIDE: u32 = 300;

/// How an ML failure ends the job: a missing model or an unsupported input skips it, anything
/// else fails it for good.
fn outcome(e: MlError) -> Settle {
    match e {
        MlError::ModelMissing(why) | MlError::Unsupported(why) => Settle::Skipped(why),
        MlError::Media(e) => media_outcome(e),
        other => Settle::Failed(other.to_string()),
    }
}

/// Runs model work on the blocking pool once `slots` CPU slots are free.
async fn on_cpu<T: Send + 'static>(
    app: &App,
    slots: usize,
    work: impl FnOnce() -> Result<T, MlError> + Send + 'static,
) -> Result<T, Settle> {
    let permit = app.ml_slots.acquire(slots).await;
    let done = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Settle::Failed(format!("the model run crashed: {e}")))?
        .map_err(outcome);
    drop(permit);
    done
}

fn models_dir(app: &App) -> PathBuf {
    app.config.models_dir()
}

async fn library_flags(app: &App, file: &File) -> Result<crate::libraries::Library, Settle> {
    let mut conn = app
        .db
        .conn()
        .await
        .map_err(|e| Settle::Retry(format!("database: {e}")))?;
    crate::libraries::get(&mut conn, &file.library_id)
        .await
        .map_err(Settle::from)?
        .ok_or_else(|| Settle::Skipped("the library no longer exists".into()))
}

/// The file's upright preview, decoded.
async fn preview(app: &App, file: &File) -> Result<::image::RgbImage, Settle> {
    let key = derived_key(file, &thumbnail_variant(thumbnails::SIZES[0]))
        .map_err(|e| Settle::Failed(e.to_string()))?;
    let stream = match app.storage.read(&key, None).await {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Settle::Skipped("the file has no preview to look at".into()));
        }
        Err(e) => return Err(Settle::Retry(format!("reading the preview: {e}"))),
    };
    let bytes = crate::storage::collect(stream)
        .await
        .map_err(|e| Settle::Retry(format!("reading the preview: {e}")))?;
    let limits = Limits::new(&app.config, JobKind::Faces.time_budget());
    tokio::task::spawn_blocking(move || image::decode(&bytes, "image/jpeg", &|_, _| 1.0, &limits))
        .await
        .map_err(|e| Settle::Failed(format!("decoding the preview crashed: {e}")))?
        .map(|p| p.pixels)
        .map_err(|e| Settle::Failed(e.to_string()))
}

/// Finds the faces of a photo or video poster in a library that has face recognition on, and
/// stores a crop of each.
pub async fn faces(app: &App, file: &File) -> Result<Effect, Settle> {
    skip_if_inapplicable(app, file, JobKind::Faces).await?;
    let picture = preview(app, file).await?;
    let dir = models_dir(app);
    let (found, crops) = on_cpu(app, 1, move || {
        let found = faces::find(&dir, &picture)?;
        let crops = found
            .iter()
            .map(|f| {
                let crop = faces::thumbnail(&picture, f.bbox, FACE_SIDE);
                thumbnails::encode(&crop, thumbnails::Format::Jpeg, thumbnails::QUALITY)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((found, crops))
    })
    .await?;
    let now = crate::db::now_ms();
    let mut rows = Vec::with_capacity(found.len());
    for (position, (face, crop)) in found.into_iter().zip(crops).enumerate() {
        let position = position as i32;
        let key = derived_key(file, &face_variant(position))
            .map_err(|e| Settle::Failed(e.to_string()))?;
        app.storage
            .put_bytes(&key, Bytes::from(crop))
            .await
            .map_err(|e| Settle::Retry(format!("storing a face crop: {e}")))?;
        rows.push(Face {
            id: uuid::Uuid::new_v4().to_string(),
            file_id: file.id.clone(),
            library_id: file.library_id.clone(),
            position,
            person_id: None,
            assigned_by: None,
            score: f64::from(face.score),
            box_x: f64::from(face.bbox[0]),
            box_y: f64::from(face.bbox[1]),
            box_w: f64::from(face.bbox[2]),
            box_h: f64::from(face.bbox[3]),
            landmarks: serde_json::to_string(&face.landmarks).unwrap_or_default(),
            embedding: people::encode_embedding(&face.embedding),
            created_at: now,
        });
    }
    Ok(Effect::Faces(rows))
}

/// Finds objects and tags in a photo or video poster, in a library that has object detection on.
pub async fn objects(app: &App, file: &File) -> Result<Effect, Settle> {
    skip_if_inapplicable(app, file, JobKind::Objects).await?;
    let picture = preview(app, file).await?;
    let dir = models_dir(app);
    let (object_min, tag_min) = (app.config.object_min_score, app.config.tag_min_score);
    let labels = on_cpu(app, 1, move || {
        let mut labels = objects::detect(&dir, &picture, object_min)?;
        labels.extend(objects::tag(&dir, &picture, tag_min)?);
        Ok(labels)
    })
    .await?;
    Ok(Effect::Labels(labels))
}

/// Where a file's sound is read from, within its job's limits and the configured length.
struct Sound {
    original: super::media::LocalOriginal,
    limits: Limits,
}

async fn sound(app: &App, file: &File, kind: JobKind) -> Result<Sound, Settle> {
    let original = local_original(app, file).await?;
    let mut limits = Limits::new(&app.config, kind.time_budget());
    limits.max_duration = limits
        .max_duration
        .min(Duration::from_secs(app.config.ml_max_audio_minutes * 60));
    Ok(Sound { original, limits })
}

impl Sound {
    /// Decodes it to 16 kHz mono into `sink`, reporting the decoding's progress. Runs inside the
    /// model run's CPU slots, and the sinks hear the sound as it is decoded, so a long
    /// recording's samples are never held at once.
    fn decode_into(
        &self,
        sink: &mut dyn av::SampleSink,
        progress: &mut dyn FnMut(f64),
    ) -> Result<(), MlError> {
        av::stream_audio_16k_mono(&self.original.path, &self.limits, progress, sink)
            .map_err(MlError::Media)
    }
}

/// Hears the sound events of an audio file or a video's sound track.
pub async fn audio_events(app: &App, file: &File, progress: &Progress) -> Result<Effect, Settle> {
    skip_if_inapplicable(app, file, JobKind::AudioEvents).await?;
    let dir = models_dir(app);
    let sound = sound(app, file, JobKind::AudioEvents).await?;
    let threshold = app.config.audio_event_min_score;
    let progress = progress.clone();
    let events = on_cpu(app, 1, move || {
        let mut listener = audio_events::Listener::new(&dir, threshold)?;
        let started = Instant::now();
        sound.decode_into(&mut listener, &mut |done| {
            report_progress(&progress, started, done)
        })?;
        listener.finish()
    })
    .await?;
    Ok(Effect::SoundEvents(
        events
            .into_iter()
            .map(|e| crate::findings::SoundEvent {
                name: e.label,
                start_ms: e.start_ms as i64,
                end_ms: e.end_ms as i64,
                score: f64::from(e.peak),
            })
            .collect(),
    ))
}

/// Transcribes the speech of an audio file or a video's sound track, in the library's speech
/// language: English with the English-only model, any other language (or detection) with the
/// multilingual one.
pub async fn transcribe(app: &App, file: &File, progress: &Progress) -> Result<Effect, Settle> {
    skip_if_inapplicable(app, file, JobKind::Transcribe).await?;
    let library = library_flags(app, file).await?;
    let (model, language) = match SpeechLanguage::parse(&library.speech_language) {
        Some(SpeechLanguage::English) => (&app.config.transcribe_model, Some("en".to_owned())),
        Some(SpeechLanguage::Other(code)) => (
            &app.config.transcribe_multilingual_model,
            Some(code.to_owned()),
        ),
        Some(SpeechLanguage::Detect) => (&app.config.transcribe_multilingual_model, None),
        None => {
            return Err(Settle::Failed(format!(
                "the library's speech language {:?} is not one whisper knows",
                library.speech_language
            )));
        }
    };
    let model = model.clone();
    let dir = models_dir(app);
    transcribe::cpu_supported()
        .and_then(|()| models::require(&dir, &model))
        .and_then(|()| models::require(&dir, transcribe::VAD_MODEL))
        .map_err(outcome)?;
    let sound = sound(app, file, JobKind::Transcribe).await?;
    // whisper.cpp spreads one run over its threads: it takes every slot it uses.
    let threads = app.ml_slots.count();
    let deadline = Instant::now() + JobKind::Transcribe.time_budget();
    let progress = progress.clone();
    let transcript = on_cpu(app, threads, move || {
        let options = transcribe::Options {
            model: &model,
            language: language.as_deref(),
            threads,
            deadline,
        };
        let started = Instant::now();
        let mut report = |done| report_progress(&progress, started, done);
        let mut transcriber = transcribe::Transcriber::new(&dir, &options, &mut report)?;
        sound.decode_into(&mut transcriber, &mut |_| {})?;
        transcriber.finish()
    })
    .await?;
    Ok(Effect::Transcript(transcript))
}
