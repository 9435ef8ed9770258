//! Runs a [`Query`]: the library's live originals whose search document has every word (each
//! also as a prefix) and that pass every filter, newest taken first with keyset paging, each
//! with its hits (the field that matched, the matched text and, for transcript lines and sound
//! events, where in the recording).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Serialize;

use super::query::Query;
use super::{Doc, words};
use crate::calendar::DAY_MS;
use crate::db::schema::{
    audio_events, faces, file_labels, files, people, search_docs, transcript_segments,
};
use crate::db::{Conn, Cursor};
use crate::error::Result;
use crate::files::timeline::{self, Item, LeanRow, lean_columns};
use crate::files::{coalesce, lower};
use crate::with_conn;

/// Where a file matched.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    /// `name`, `folder`, `labels`, `people`, `sounds`, `camera`, `dates`, `transcript` or
    /// `sound`.
    pub field: &'static str,
    /// The field's text, or the transcript line or sound event.
    pub text: String,
    /// Where the transcript line or sound event starts and ends, in ms.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

/// A file found, with its hits.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Found {
    pub file: Item,
    pub hits: Vec<Hit>,
}

/// Most transcript lines and sound events reported per file.
const MOST_MOMENTS: usize = 20;

/// The full-text condition on `files.id` for `terms`, in each backend's syntax (the query
/// text, and the SQL before and after it): every term, its last word as a prefix. Folded words
/// hold only letters and digits, so quoting them is safe.
fn full_text(terms: &[Vec<String>], postgres: bool) -> (String, &'static str, &'static str) {
    if postgres {
        let tsquery = terms
            .iter()
            .map(|words| {
                let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
                format!("{}:*", quoted.join(" <-> "))
            })
            .collect::<Vec<_>>()
            .join(" & ");
        (
            tsquery,
            "files.id IN (SELECT file_id FROM search_docs WHERE tsv @@ to_tsquery('simple', ",
            "))",
        )
    } else {
        let fts = terms
            .iter()
            .map(|words| format!("\"{}\"*", words.join(" ")))
            .collect::<Vec<_>>()
            .join(" AND ");
        (
            fts,
            "files.id IN (SELECT d.file_id FROM search_fts JOIN search_docs d \
             ON d.id = search_fts.rowid WHERE search_fts MATCH ",
            ")",
        )
    }
}

/// `text` as a LIKE pattern for itself, with `%`, `_` and `\` taken literally, lower-cased.
fn literal(text: &str) -> String {
    let mut out = String::new();
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// One page of what `query` finds in the library, and the cursor of the next page.
/// `offset_minutes` is the client's offset from UTC, for `after:` and `before:`.
pub async fn find(
    conn: &mut Conn,
    library_id: &str,
    query: &Query,
    offset_minutes: i64,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<(Vec<Found>, Option<Cursor>)> {
    let postgres = matches!(conn, Conn::Pg(_));
    let (text_query, text_sql, text_end) = full_text(&query.terms, postgres);
    let shift = offset_minutes * 60_000;
    let mut rows: Vec<LeanRow> = with_conn!(conn, c => {
        let taken = coalesce(files::captured_at, files::created_at);
        let mut q = files::table
            .filter(files::library_id.eq(library_id))
            .filter(files::source_file_id.is_null())
            .filter(files::trashed_at.is_null())
            .select(lean_columns())
            .order((taken.desc(), files::id.desc()))
            .limit(limit + 1)
            .into_boxed();
        if !query.terms.is_empty() {
            q = q.filter(diesel::dsl::sql::<Bool>(text_sql).bind::<Text, _>(&text_query).sql(text_end));
        }
        if let Some(kind) = query.kind {
            q = q.filter(files::kind.eq(kind.as_str()));
        }
        for name in &query.people {
            q = q.filter(files::id.eq_any(faces::table
                .inner_join(people::table)
                .filter(people::library_id.eq(library_id))
                .filter(lower(people::name.assume_not_null()).eq(name.to_lowercase()))
                .select(faces::file_id)));
        }
        for label in &query.labels {
            q = q.filter(files::id.eq_any(file_labels::table
                .filter(lower(file_labels::name).eq(label.to_lowercase()))
                .select(file_labels::file_id)));
        }
        for sound in &query.sounds {
            q = q.filter(files::id.eq_any(audio_events::table
                .filter(lower(audio_events::name).eq(sound.to_lowercase()))
                .select(audio_events::file_id)));
        }
        for camera in &query.cameras {
            q = q.filter(files::id.eq_any(search_docs::table
                .filter(lower(search_docs::camera).like(format!("%{}%", literal(camera))).escape('\\'))
                .select(search_docs::file_id)));
        }
        for folder in &query.folders {
            q = q.filter(files::id.eq_any(search_docs::table
                .filter(lower(search_docs::folder).eq(folder.to_lowercase())
                    .or(lower(search_docs::folder).like(format!("{}/%", literal(folder))).escape('\\')))
                .select(search_docs::file_id)));
        }
        if let Some(day) = query.after {
            q = q.filter(taken.ge(day * DAY_MS - shift));
        }
        if let Some(day) = query.before {
            q = q.filter(taken.lt((day + 1) * DAY_MS - shift));
        }
        if query.has_faces {
            q = q.filter(files::id.eq_any(faces::table.select(faces::file_id)));
        }
        if query.has_transcript {
            q = q.filter(files::id.eq_any(transcript_segments::table.select(transcript_segments::file_id)));
        }
        if query.is_duplicate {
            q = q.filter(diesel::dsl::sql::<Bool>(
                "files.sha256 IN (SELECT d.sha256 FROM files d WHERE d.library_id = files.library_id \
                 AND d.source_file_id IS NULL AND d.trashed_at IS NULL AND d.sha256 IS NOT NULL \
                 GROUP BY d.sha256 HAVING count(*) > 1)",
            ));
        }
        if let Some(after) = after {
            q = q.filter(taken.le(after.at).and(taken.lt(after.at).or(files::id.lt(&after.id))));
        }
        q.load(c).await
    })?;
    let next = Cursor::next_page(&mut rows, limit, |r| Cursor {
        at: r.5,
        id: r.0.clone(),
    });
    let items = timeline::lean_items(conn, library_id, rows).await?;
    let mut hits = hits_of(conn, &items, query).await?;
    let found = items
        .into_iter()
        .map(|file| Found {
            hits: hits.remove(&file.id).unwrap_or_default(),
            file,
        })
        .collect();
    Ok((found, next))
}

/// Whether `term` (folded words) appears in `field`'s words: in a row, the last as a prefix.
fn has_term(field: &[String], term: &[String]) -> bool {
    let Some((last, whole)) = term.split_last() else {
        return false;
    };
    field
        .windows(term.len())
        .any(|w| w[..whole.len()] == *whole && w[whole.len()].starts_with(last.as_str()))
}

/// Whether `text` holds any of `terms`.
fn holds_any(text: &str, terms: &[Vec<String>]) -> bool {
    let field = words(text);
    terms.iter().any(|t| has_term(&field, t))
}

/// The hits of each found file, by id.
async fn hits_of(
    conn: &mut Conn,
    items: &[Item],
    query: &Query,
) -> Result<HashMap<String, Vec<Hit>>> {
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let mut out: HashMap<String, Vec<Hit>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let terms = &query.terms;
    let docs: Vec<Doc> = with_conn!(conn, c => search_docs::table
        .filter(search_docs::file_id.eq_any(&ids))
        .select(Doc::as_select())
        .load(c)
        .await)?;
    for doc in docs {
        let fields = [
            ("name", &doc.name),
            ("folder", &doc.folder),
            ("labels", &doc.labels),
            ("people", &doc.people),
            ("sounds", &doc.sounds),
            ("camera", &doc.camera),
            ("dates", &doc.dates),
        ];
        let hits = out.entry(doc.file_id.clone()).or_default();
        for (field, text) in fields {
            if holds_any(text, terms) {
                hits.push(Hit {
                    field,
                    text: text.clone(),
                    start_ms: None,
                    end_ms: None,
                });
            }
        }
    }
    let lines: Vec<(String, String, i64, i64)> = with_conn!(conn, c => transcript_segments::table
        .filter(transcript_segments::file_id.eq_any(&ids))
        .order((transcript_segments::file_id, transcript_segments::position))
        .select((transcript_segments::file_id, transcript_segments::text, transcript_segments::start_ms, transcript_segments::end_ms))
        .load(c)
        .await)?;
    let events: Vec<(String, String, i64, i64)> = with_conn!(conn, c => audio_events::table
        .filter(audio_events::file_id.eq_any(&ids))
        .order((audio_events::file_id, audio_events::position))
        .select((audio_events::file_id, audio_events::name, audio_events::start_ms, audio_events::end_ms))
        .load(c)
        .await)?;
    let sounds: Vec<String> = query.sounds.iter().map(|s| s.to_lowercase()).collect();
    let moments = lines
        .into_iter()
        .filter(|(_, text, ..)| holds_any(text, terms))
        .map(|line| ("transcript", line))
        .chain(
            events
                .into_iter()
                .filter(|(_, name, ..)| {
                    holds_any(name, terms) || sounds.contains(&name.to_lowercase())
                })
                .map(|event| ("sound", event)),
        );
    for (field, (file, text, start, end)) in moments {
        let hits = out.entry(file).or_default();
        if hits.iter().filter(|h| h.start_ms.is_some()).count() < MOST_MOMENTS {
            hits.push(Hit {
                field,
                text,
                start_ms: Some(start),
                end_ms: Some(end),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<String> {
        words(text)
    }

    #[test]
    fn terms_match_in_a_row_with_the_last_word_as_a_prefix() {
        let field = w("Happy birthday to you");
        assert!(has_term(&field, &w("happy birth")));
        assert!(has_term(&field, &w("to")));
        assert!(!has_term(&field, &w("hap birthday")));
        assert!(!has_term(&field, &w("birthday happy")));
        assert!(holds_any("Café de Flore", &[w("cafe")]));
    }

    #[test]
    fn full_text_queries_for_both_backends() {
        let terms = [w("happy birthday"), w("café")];
        assert_eq!(
            full_text(&terms, false).0,
            r#""happy birthday"* AND "cafe"*"#
        );
        assert_eq!(
            full_text(&terms, true).0,
            "'happy' <-> 'birthday':* & 'cafe':*"
        );
    }
}
