//! What the ML stage found in a file besides faces: labels (objects and tags), sound events and
//! the transcript. Each job replaces its file's rows as a whole; the API reads them back.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::Conn;
use crate::db::schema::{audio_events, file_labels, files, transcript_segments};
use crate::error::Result;
use crate::ml::objects::Label;
use crate::ml::transcribe::{Segment, Transcript};
use crate::with_conn;

/// A label row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_labels)]
struct LabelRow {
    file_id: String,
    source: String,
    position: i32,
    library_id: String,
    name: String,
    score: f64,
    box_x: Option<f64>,
    box_y: Option<f64>,
    box_w: Option<f64>,
    box_h: Option<f64>,
}

/// A sound heard from `start_ms` to `end_ms`, with its highest score.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable, schemars::JsonSchema)]
#[diesel(table_name = audio_events)]
#[serde(rename_all = "camelCase")]
pub struct SoundEvent {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub score: f64,
}

/// How a file's labels are counted across a library.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelCount {
    pub name: String,
    pub source: String,
    /// Live files carrying the label.
    pub files: i64,
}

/// Replaces the labels of `file_id` found by `source`'s job (`object` or `tag`).
pub async fn replace_labels(
    conn: &mut Conn,
    library_id: &str,
    file_id: &str,
    labels: &[Label],
) -> Result<()> {
    with_conn!(conn, c => diesel::delete(file_labels::table.filter(file_labels::file_id.eq(file_id))).execute(c).await)?;
    let rows: Vec<LabelRow> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| LabelRow {
            file_id: file_id.to_owned(),
            source: l.source.clone(),
            position: i as i32,
            library_id: library_id.to_owned(),
            name: l.name.clone(),
            score: f64::from(l.score),
            box_x: l.bbox.map(|b| f64::from(b[0])),
            box_y: l.bbox.map(|b| f64::from(b[1])),
            box_w: l.bbox.map(|b| f64::from(b[2])),
            box_h: l.bbox.map(|b| f64::from(b[3])),
        })
        .collect();
    for row in &rows {
        with_conn!(conn, c => diesel::insert_into(file_labels::table).values(row).execute(c).await)?;
    }
    Ok(())
}

/// The labels of one file, best first.
pub async fn labels_of_file(conn: &mut Conn, file_id: &str) -> Result<Vec<Label>> {
    let rows: Vec<LabelRow> = with_conn!(conn, c => file_labels::table
        .filter(file_labels::file_id.eq(file_id))
        .order(file_labels::score.desc())
        .select(LabelRow::as_select())
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|r| Label {
            bbox: match (r.box_x, r.box_y, r.box_w, r.box_h) {
                (Some(x), Some(y), Some(w), Some(h)) => {
                    Some([x as f32, y as f32, w as f32, h as f32])
                }
                _ => None,
            },
            source: r.source,
            name: r.name,
            score: r.score as f32,
        })
        .collect())
}

/// Every label of a library's live files with how many files carry it, most common first.
pub async fn label_counts(conn: &mut Conn, library_id: &str) -> Result<Vec<LabelCount>> {
    let pairs: Vec<(String, String, String)> = with_conn!(conn, c => file_labels::table
        .inner_join(files::table)
        .filter(file_labels::library_id.eq(library_id))
        .filter(files::trashed_at.is_null())
        .select((file_labels::name, file_labels::source, file_labels::file_id))
        .distinct()
        .load(c)
        .await)?;
    let mut counts: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for (name, source, _) in pairs {
        *counts.entry((name, source)).or_default() += 1;
    }
    let mut out: Vec<LabelCount> = counts
        .into_iter()
        .map(|((name, source), files)| LabelCount {
            name,
            source,
            files,
        })
        .collect();
    out.sort_by(|a, b| b.files.cmp(&a.files).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// Replaces the sound events of `file_id`.
pub async fn replace_sound_events(
    conn: &mut Conn,
    library_id: &str,
    file_id: &str,
    events: &[SoundEvent],
) -> Result<()> {
    with_conn!(conn, c => diesel::delete(audio_events::table.filter(audio_events::file_id.eq(file_id))).execute(c).await)?;
    for (i, e) in events.iter().enumerate() {
        let row = (
            audio_events::file_id.eq(file_id),
            audio_events::position.eq(i as i32),
            audio_events::library_id.eq(library_id),
            audio_events::name.eq(&e.name),
            audio_events::start_ms.eq(e.start_ms),
            audio_events::end_ms.eq(e.end_ms),
            audio_events::score.eq(e.score),
        );
        with_conn!(conn, c => diesel::insert_into(audio_events::table).values(row).execute(c).await)?;
    }
    Ok(())
}

/// The sound events of one file, in time order.
pub async fn sound_events_of_file(conn: &mut Conn, file_id: &str) -> Result<Vec<SoundEvent>> {
    Ok(with_conn!(conn, c => audio_events::table
        .filter(audio_events::file_id.eq(file_id))
        .order((audio_events::start_ms, audio_events::score.desc()))
        .select(SoundEvent::as_select())
        .load(c)
        .await)?)
}

/// Replaces the transcript of `file_id`.
pub async fn replace_transcript(
    conn: &mut Conn,
    library_id: &str,
    file_id: &str,
    transcript: &Transcript,
) -> Result<()> {
    with_conn!(conn, c => diesel::delete(transcript_segments::table.filter(transcript_segments::file_id.eq(file_id))).execute(c).await)?;
    for (i, segment) in transcript.segments.iter().enumerate() {
        let row = (
            transcript_segments::file_id.eq(file_id),
            transcript_segments::position.eq(i as i32),
            transcript_segments::library_id.eq(library_id),
            transcript_segments::start_ms.eq(segment.start_ms),
            transcript_segments::end_ms.eq(segment.end_ms),
            transcript_segments::text.eq(&segment.text),
            transcript_segments::language.eq(&transcript.language),
        );
        with_conn!(conn, c => diesel::insert_into(transcript_segments::table).values(row).execute(c).await)?;
    }
    Ok(())
}

/// The transcript of one file, in time order, with the language it was heard in.
pub async fn transcript_of_file(conn: &mut Conn, file_id: &str) -> Result<Transcript> {
    let rows: Vec<(i64, i64, String, Option<String>)> = with_conn!(conn, c => transcript_segments::table
        .filter(transcript_segments::file_id.eq(file_id))
        .order(transcript_segments::position)
        .select((
            transcript_segments::start_ms,
            transcript_segments::end_ms,
            transcript_segments::text,
            transcript_segments::language,
        ))
        .load(c)
        .await)?;
    let language = rows.iter().find_map(|row| row.3.clone());
    let segments = rows
        .into_iter()
        .map(|(start_ms, end_ms, text, _)| Segment {
            start_ms,
            end_ms,
            text,
        })
        .collect();
    Ok(Transcript { language, segments })
}
