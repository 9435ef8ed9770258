//! The search index: one document per file holding what the pipeline found and what members
//! gave it (name, folder path, labels, people, sound events, transcript, camera, dates, place), kept
//! current by the pipeline and by every change to those. Text is folded here, the same way for
//! both backends (lower case, accents dropped, split into letters-and-digits words), so SQLite's
//! FTS5 and PostgreSQL's `simple` tsvector index the same words and find the same files.

pub mod find;
pub mod meaning;
pub mod query;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use unicode_normalization::UnicodeNormalization;

use crate::calendar::{self, DAY_MS};
use crate::db::schema::{
    audio_events, faces, file_labels, files, folders, people, search_docs, transcript_segments,
};
use crate::db::{Conn, Db};
use crate::error::Result;
use crate::with_conn;

/// `text` folded for matching: lower case, accents dropped, every run of characters that are
/// not letters or digits one space.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for ch in text.nfd().filter(|c| !is_combining_mark(*c)) {
        if ch.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(ch.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// Whether `ch` is a combining mark (an accent once decomposed).
fn is_combining_mark(ch: char) -> bool {
    matches!(ch as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// The folded words of `text`.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A file's search document.
#[derive(Debug, Clone, Default, PartialEq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = search_docs)]
pub struct Doc {
    pub file_id: String,
    pub library_id: String,
    pub name: String,
    /// The folder path from the library's root, `A/B`; empty at the root.
    pub folder: String,
    /// Object labels and image tags, `, `-separated (as are the fields below).
    pub labels: String,
    pub people: String,
    pub sounds: String,
    /// Make, model and lens.
    pub camera: String,
    /// The year, month and day taken, as `2024 May 2024-05-06`.
    pub dates: String,
    /// Every field above and the transcript, folded.
    pub words: String,
    /// Where it was taken: "town, region, country".
    pub place: String,
}

impl Doc {
    /// The fields shown as hits, by name (all but `words`).
    pub fn fields(&self) -> [(&'static str, &str); 8] {
        [
            ("name", &self.name),
            ("folder", &self.folder),
            ("labels", &self.labels),
            ("people", &self.people),
            ("sounds", &self.sounds),
            ("camera", &self.camera),
            ("dates", &self.dates),
            ("place", &self.place),
        ]
    }
}

/// Builds the document of file `id` from the rows; `None` when the file is gone.
async fn build(conn: &mut Conn, id: &str) -> Result<Option<Doc>> {
    type FileRow = (
        String,
        String,
        Option<String>,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let file: Option<FileRow> = with_conn!(conn, c => files::table
        .find(id)
        .select((files::library_id, files::name, files::folder_id, files::created_at, files::captured_at, files::media_info, files::place))
        .first(c)
        .await
        .optional())?;
    let Some((library_id, name, folder_id, created_at, captured_at, media_info, place)) = file
    else {
        return Ok(None);
    };
    let folder = match folder_id {
        Some(folder) => folder_path(conn, &folder).await?,
        None => String::new(),
    };
    let labels: Vec<String> = with_conn!(conn, c => file_labels::table
        .filter(file_labels::file_id.eq(id))
        .select(file_labels::name)
        .distinct()
        .load(c)
        .await)?;
    let names: Vec<Option<String>> = with_conn!(conn, c => faces::table
        .inner_join(people::table)
        .filter(faces::file_id.eq(id))
        .select(people::name)
        .distinct()
        .load(c)
        .await)?;
    let sounds: Vec<String> = with_conn!(conn, c => audio_events::table
        .filter(audio_events::file_id.eq(id))
        .select(audio_events::name)
        .distinct()
        .load(c)
        .await)?;
    let transcript: Vec<String> = with_conn!(conn, c => transcript_segments::table
        .filter(transcript_segments::file_id.eq(id))
        .order(transcript_segments::position)
        .select(transcript_segments::text)
        .load(c)
        .await)?;
    let info: serde_json::Value = media_info
        .and_then(|m| serde_json::from_str(&m).ok())
        .unwrap_or_default();
    let camera: Vec<&str> = ["make", "model", "lens"]
        .iter()
        .filter_map(|k| info.get(k).and_then(|v| v.as_str()))
        .collect();
    let (y, m, d) = calendar::civil_from_days(captured_at.unwrap_or(created_at).div_euclid(DAY_MS));
    let mut doc = Doc {
        file_id: id.to_owned(),
        library_id,
        name,
        folder,
        labels: labels.join(", "),
        people: names.into_iter().flatten().collect::<Vec<_>>().join(", "),
        sounds: sounds.join(", "),
        camera: camera.join(" "),
        dates: format!(
            "{y} {} {y:04}-{m:02}-{d:02}",
            calendar::MONTHS[(m - 1) as usize]
        ),
        words: String::new(),
        place: place.unwrap_or_default(),
    };
    let mut all: Vec<String> = doc.fields().iter().map(|(_, f)| fold(f)).collect();
    all.extend(transcript.iter().map(|t| fold(t)));
    all.retain(|w| !w.is_empty());
    doc.words = all.join(" ");
    Ok(Some(doc))
}

/// The path of a folder from the library's root, `A/B/C`.
async fn folder_path(conn: &mut Conn, id: &str) -> Result<String> {
    let mut names = Vec::new();
    let mut next = Some(id.to_owned());
    while let Some(id) = next.take() {
        let row: Option<(String, Option<String>)> = with_conn!(conn, c => folders::table
            .find(&id)
            .select((folders::name, folders::parent_id))
            .first(c)
            .await
            .optional())?;
        // The depth guard keeps a damaged tree from looping forever.
        if let Some((name, parent)) = row
            && names.len() < 256
        {
            names.push(name);
            next = parent;
        }
    }
    names.reverse();
    Ok(names.join("/"))
}

/// Writes the documents of `file_ids` afresh from the rows (files that are gone have none).
/// An upsert: the pipeline and a member's change may refresh one file at the same time.
pub async fn refresh(conn: &mut Conn, file_ids: &[String]) -> Result<()> {
    for id in file_ids {
        match build(conn, id).await? {
            Some(doc) => with_conn!(conn, c => diesel::insert_into(search_docs::table)
                .values(&doc)
                .on_conflict(search_docs::file_id)
                .do_update()
                .set(&doc)
                .execute(c)
                .await)?,
            None => with_conn!(conn, c => diesel::delete(search_docs::table
                .filter(search_docs::file_id.eq(id)))
                .execute(c)
                .await)?,
        };
    }
    Ok(())
}

/// Refreshes the documents of the files showing any of `people`.
pub async fn refresh_people(conn: &mut Conn, people: &[String]) -> Result<()> {
    let ids: Vec<String> = with_conn!(conn, c => faces::table
        .filter(faces::person_id.eq_any(people))
        .select(faces::file_id)
        .distinct()
        .load(c)
        .await)?;
    refresh(conn, &ids).await
}

/// Refreshes the documents of the files in folder `root` and every folder below it.
pub async fn refresh_folder(conn: &mut Conn, library_id: &str, root: &str) -> Result<()> {
    let folders = crate::folders::subtree(conn, library_id, root).await?;
    let ids: Vec<String> = with_conn!(conn, c => files::table
        .filter(files::folder_id.eq_any(&folders))
        .select(files::id)
        .load(c)
        .await)?;
    refresh(conn, &ids).await
}

/// Files indexed per round of [`index_missing`].
const BACKFILL_BATCH: i64 = 200;

/// Indexes the files that have no document yet (made before the index existed), in rounds,
/// until there are none.
pub async fn index_missing(db: &Db) -> Result<usize> {
    let mut done = 0;
    loop {
        let mut conn = db.conn().await?;
        let conn = &mut conn;
        let ids: Vec<String> = with_conn!(conn, c => files::table
            .filter(files::source_file_id.is_null())
            .filter(files::id.ne_all(search_docs::table.select(search_docs::file_id)))
            .select(files::id)
            .limit(BACKFILL_BATCH)
            .load(c)
            .await)?;
        if ids.is_empty() {
            return Ok(done);
        }
        refresh(conn, &ids).await?;
        done += ids.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_accents_and_punctuation() {
        assert_eq!(fold("Café au Lait!"), "cafe au lait");
        assert_eq!(fold("IMG_2024-05.jpg"), "img 2024 05 jpg");
        assert_eq!(fold("  Ångström — Straße "), "angstrom straße");
        assert_eq!(fold("Привет, мир"), "привет мир");
        assert_eq!(words("¿Qué pasó?"), ["que", "paso"]);
        assert_eq!(fold("!!!"), "");
    }
}
