//! The media stage's jobs on one file: reading its metadata, rendering thumbnails (from the
//! photo or a video's poster frame), a browser-playable proxy, and an audio waveform. The
//! decoding runs on the blocking pool under [`Limits`] whose deadline is the job's time budget.

use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::stages::skip_if_inapplicable;
use super::{Progress, report_progress};
use crate::app::App;
use crate::files::derived::{WAVEFORM_VARIANT, derived_key, proxy_variant, thumbnail_variant};
use crate::files::original::Original;
use crate::files::{File, MediaFacts, MediaKind};
use crate::jobs::JobKind;
use crate::jobs::store::Settle;
use crate::media::av::{self, AvInfo, ProxyTarget};
use crate::media::{Limits, MediaError, exif, image, thumbnails, waveform};
use crate::moments;
use crate::storage::durable::{DurableWriter, TempPath};

/// Largest still image read into memory for decoding.
const MAX_IMAGE_BYTES: u64 = 512 * 1024 * 1024;

/// How a media failure ends the job: unsupported input is skipped, anything else fails for
/// good (retrying a corrupt file would fail the same way).
pub fn outcome(e: MediaError) -> Settle {
    match e {
        MediaError::Unsupported(why) => Settle::Skipped(why),
        other => Settle::Failed(other.to_string()),
    }
}

fn retry<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Settle {
    move |e| Settle::Retry(format!("{what}: {e}"))
}

/// A local path to a file's original: the file itself when the store is local or the file is
/// imported in place, else a temporary copy removed on drop.
pub struct LocalOriginal {
    pub path: PathBuf,
    _copy: Option<TempPath>,
}

/// A local path to `file`'s original (see [`LocalOriginal`]).
pub async fn local_original(app: &App, file: &File) -> Result<LocalOriginal, Settle> {
    let original = Original::find(app, file).await.map_err(Settle::from)?;
    if let Some(path) = original.local_path(app.storage.as_ref()) {
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(Settle::Failed("the original is missing".into()));
        }
        return Ok(LocalOriginal { path, _copy: None });
    }
    let copy = app.scratch.temp_file(".original");
    let mut out = DurableWriter::create(copy.path())
        .await
        .map_err(retry("scratch copy"))?;
    let mut stream = original
        .read(app.storage.as_ref(), None)
        .await
        .map_err(retry("reading the original"))?;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(retry("reading the original"))?
    {
        out.write(&chunk).await.map_err(retry("scratch copy"))?;
    }
    out.finish().await.map_err(retry("scratch copy"))?;
    Ok(LocalOriginal {
        path: copy.path().to_path_buf(),
        _copy: Some(copy),
    })
}

/// Runs blocking media work with limits whose deadline is `kind`'s time budget.
async fn blocking<T: Send + 'static>(
    app: &App,
    kind: JobKind,
    work: impl FnOnce(&Limits) -> Result<T, MediaError> + Send + 'static,
) -> Result<T, Settle> {
    let limits = Limits::new(&app.config, kind.time_budget());
    tokio::task::spawn_blocking(move || work(&limits))
        .await
        .map_err(|e| Settle::Failed(format!("media decoding crashed: {e}")))?
        .map_err(outcome)
}

/// Reads a still image into memory, refusing absurd sizes before reading.
fn read_image(path: &Path) -> Result<Vec<u8>, MediaError> {
    let len = std::fs::metadata(path)
        .map_err(|e| MediaError::Invalid(format!("reading the original: {e}")))?
        .len();
    if len > MAX_IMAGE_BYTES {
        return Err(MediaError::TooLarge(format!(
            "a {len}-byte image is over the {MAX_IMAGE_BYTES}-byte limit"
        )));
    }
    std::fs::read(path).map_err(|e| MediaError::Invalid(format!("reading the original: {e}")))
}

/// A file's type and media facts as the metadata job records them.
pub struct Facts {
    pub kind: MediaKind,
    pub mime: String,
    pub facts: MediaFacts,
}

/// The MIME type of an audio-only file in a container sniffed as video (WMA in ASF, M4A, MKA).
fn audio_only(mime: &str) -> String {
    match mime {
        "video/x-ms-asf" => "audio/x-ms-wma".into(),
        "video/webm" => "audio/webm".into(),
        "video/x-matroska" => "audio/x-matroska".into(),
        "video/mp4" | "video/quicktime" | "video/3gpp" => "audio/mp4".into(),
        other => other.into(),
    }
}

/// The media facts of `file` (sniffed as `kind`/`mime`); a "video" with no picture becomes
/// audio. Media that cannot be read still gets facts: the file time, and the reason in
/// `media_info.error`, so later stages fail with it.
pub async fn read_facts(
    app: &App,
    file: &File,
    kind: MediaKind,
    mime: &str,
) -> Result<Facts, Settle> {
    let facts = media_facts(app, file, kind, mime).await?;
    let pictureless = kind == MediaKind::Video && facts.lacks_stream("video");
    Ok(if pictureless {
        Facts {
            kind: MediaKind::Audio,
            mime: audio_only(mime),
            facts,
        }
    } else {
        Facts {
            kind,
            mime: mime.to_owned(),
            facts,
        }
    })
}

async fn media_facts(
    app: &App,
    file: &File,
    kind: MediaKind,
    mime: &str,
) -> Result<MediaFacts, Settle> {
    let file_time = file.source_mtime.unwrap_or(file.created_at);
    let mut facts = MediaFacts {
        captured_at: Some(file_time),
        captured_at_source: Some("file_time".into()),
        ..MediaFacts::default()
    };
    if kind == MediaKind::Other || file.size == 0 {
        return Ok(facts);
    }
    let original = local_original(app, file).await?;
    let path = original.path.clone();
    let mime = mime.to_owned();
    let read = blocking(app, JobKind::Metadata, move |limits| {
        if kind == MediaKind::Photo {
            let bytes = read_image(&path)?;
            let (width, height) = image::dimensions(&bytes, &mime)?;
            Ok(Read::Photo(exif::read(&bytes), width, height))
        } else {
            av::probe(&path, limits).map(|info| {
                let playable = av::browser_playable(&info);
                Read::Av(info, playable)
            })
        }
    })
    .await;
    match read {
        Ok(Read::Photo(info, width, height)) => {
            if let Some(taken) = &info.taken {
                facts.captured_at = Some(taken.epoch_ms);
                let local = if taken.offset_minutes.is_some() {
                    ""
                } else {
                    "_local"
                };
                facts.captured_at_source = Some(format!("{}{local}", taken.source));
            }
            facts.width = Some(width as i32);
            facts.height = Some(height as i32);
            facts.media_info = serde_json::to_string(&info).ok();
        }
        Ok(Read::Av(info, playable)) => {
            if let Some(video) = &info.video {
                let (w, h) = if video.rotation % 180 == 0 {
                    (video.width, video.height)
                } else {
                    (video.height, video.width)
                };
                facts.width = Some(w as i32);
                facts.height = Some(h as i32);
            }
            facts.duration_ms = info.duration_ms;
            if let Some(taken) = info.creation_time.as_deref().and_then(exif::utc_time) {
                facts.captured_at = Some(taken.epoch_ms);
                facts.captured_at_source = Some("container".into());
            }
            let mut json = serde_json::to_value(&info).unwrap_or_default();
            json["browserPlayable"] = playable.into();
            facts.media_info = Some(json.to_string());
        }
        Err(Settle::Failed(reason) | Settle::Skipped(reason)) => {
            facts.media_info = Some(serde_json::json!({ "error": reason }).to_string());
        }
        Err(other) => return Err(other),
    }
    let sidecar = file
        .sidecar
        .as_deref()
        .and_then(|json| serde_json::from_str::<crate::files::sidecar::Sidecar>(json).ok());
    if let Some(sidecar) = sidecar {
        sidecar.fill(&mut facts);
    }
    if let Some(position) = facts.position() {
        facts.place = crate::places::name_at(&app.config.models_dir(), position).await;
    }
    Ok(facts)
}

/// What [`read_facts`] read on the blocking pool.
enum Read {
    Photo(exif::PhotoInfo, u32, u32),
    Av(AvInfo, bool),
}

/// Renders every named thumbnail size of a photo, or of a video's poster frame, into the store;
/// returns the ThumbHash placeholder (base64) to record with the job's outcome.
pub async fn thumbnails(app: &App, file: &File) -> Result<String, Settle> {
    skip_if_inapplicable(app, file, JobKind::Thumbnails).await?;
    let kind = file.media_kind();
    let original = local_original(app, file).await?;
    let path = original.path.clone();
    let mime = file.mime.clone();
    let rendered = blocking(app, JobKind::Thumbnails, move |limits| {
        if kind == MediaKind::Photo {
            let bytes = read_image(&path)?;
            let picture = image::decode(&bytes, &mime, &thumbnails::scale_for_all, limits)?;
            thumbnails::render_all(&picture.pixels)
        } else {
            let info = av::probe(&path, limits)?;
            let frame = av::poster(&path, &info, thumbnails::SIZES[0].width, limits)?;
            thumbnails::render_all(&frame)
        }
    })
    .await?;
    drop(original);
    for thumb in rendered.thumbnails {
        let key = derived_key(file, &thumbnail_variant(thumb.size))
            .map_err(|e| Settle::Failed(e.to_string()))?;
        app.storage
            .put_bytes(&key, Bytes::from(thumb.bytes))
            .await
            .map_err(retry("storing a thumbnail"))?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(&rendered.thumbhash))
}

/// Transcodes a video or audio file browsers cannot play to H.264/AAC MP4 or AAC M4A.
pub async fn proxy(app: &App, file: &File, progress: &Progress) -> Result<(), Settle> {
    skip_if_inapplicable(app, file, JobKind::Proxy).await?;
    let target = match file.media_kind() {
        MediaKind::Video => ProxyTarget::Video,
        _ => ProxyTarget::Audio,
    };
    let original = local_original(app, file).await?;
    let path = original.path.clone();
    let out = app
        .scratch
        .temp_file(&format!(".{}", proxy_variant(file.media_kind())));
    let out_path = out.path().to_path_buf();
    let progress = progress.clone();
    let made = blocking(app, JobKind::Proxy, move |limits| {
        let info = av::probe(&path, limits)?;
        if av::browser_playable(&info) {
            return Ok(false);
        }
        let started = Instant::now();
        av::transcode(&path, &out_path, &info, target, None, limits, &mut |done| {
            report_progress(&progress, started, done)
        })?;
        Ok(true)
    })
    .await;
    match made {
        Ok(true) => {
            let key = derived_key(file, proxy_variant(file.media_kind()))
                .map_err(|e| Settle::Failed(e.to_string()))?;
            app.storage
                .put_file(&key, out.path())
                .await
                .map_err(retry("storing the proxy"))
        }
        Ok(false) => Err(Settle::Skipped(
            "not_needed: browsers play the original".into(),
        )),
        Err(e) => Err(e),
    }
}

/// Cuts the clips the file's moments ask for (see [`crate::moments`]), each re-encoded from its
/// range so the cut is frame-accurate. A clip whose range moved while it was cut is dropped.
pub async fn moment_export(app: &App, file: &File, progress: &Progress) -> Result<(), Settle> {
    let target = match file.media_kind() {
        MediaKind::Video => ProxyTarget::Video,
        MediaKind::Audio => ProxyTarget::Audio,
        other => return Err(Settle::Skipped(format!("a {other} file has no moments"))),
    };
    let wanted = {
        let mut conn = app.db.conn().await.map_err(retry("database"))?;
        moments::clips_to_cut(&mut conn, &file.id)
            .await
            .map_err(Settle::from)?
    };
    if wanted.is_empty() {
        return Err(Settle::Skipped("no clip is wanted".into()));
    }
    let original = local_original(app, file).await?;
    let total: i64 = wanted.iter().map(|m| m.duration_ms()).sum::<i64>().max(1);
    let started = Instant::now();
    let mut done_ms = 0;
    for moment in wanted {
        let out = app.scratch.temp_file(".clip");
        let (path, out_path) = (original.path.clone(), out.path().to_path_buf());
        let (progress, base) = (progress.clone(), done_ms as f64 / total as f64);
        let share = moment.duration_ms() as f64 / total as f64;
        let range = moment.start_ms * 1000..moment.end_ms * 1000;
        blocking(app, JobKind::MomentExport, move |limits| {
            let info = av::probe(&path, limits)?;
            av::transcode(
                &path,
                &out_path,
                &info,
                target,
                Some(range),
                limits,
                &mut |done| report_progress(&progress, started, base + done * share),
            )
        })
        .await?;
        let key =
            moments::clip_key(&moment, file.media_kind(), moment.version).map_err(Settle::from)?;
        let size = tokio::fs::metadata(out.path())
            .await
            .map_err(retry("reading the clip"))?
            .len();
        app.storage
            .put_file(&key, out.path())
            .await
            .map_err(retry("storing the clip"))?;
        let current = moments::record_clip(&app.db, &moment.id, moment.version, size as i64)
            .await
            .map_err(Settle::from)?;
        if !current {
            let _ = app.storage.delete(&key).await;
        }
        done_ms += moment.duration_ms();
    }
    Ok(())
}

/// Computes an audio file's waveform: peaks of 16 kHz mono, 50 a second, as JSON, as the sound
/// is decoded.
pub async fn waveform(app: &App, file: &File, progress: &Progress) -> Result<(), Settle> {
    skip_if_inapplicable(app, file, JobKind::Waveform).await?;
    let original = local_original(app, file).await?;
    let path = original.path.clone();
    let progress = progress.clone();
    let wave = blocking(app, JobKind::Waveform, move |limits| {
        let mut peaks = waveform::Peaks::default();
        let mut report = |done: f64| {
            progress.send_replace(Some(((done * 100.0) as i32, None)));
        };
        av::stream_audio_16k_mono(&path, limits, &mut report, &mut peaks)?;
        Ok(peaks.finish())
    })
    .await?;
    let json = serde_json::to_vec(&wave).map_err(|e| Settle::Failed(e.to_string()))?;
    let key = derived_key(file, WAVEFORM_VARIANT).map_err(|e| Settle::Failed(e.to_string()))?;
    app.storage
        .put_bytes(&key, Bytes::from(json))
        .await
        .map_err(retry("storing the waveform"))
}
