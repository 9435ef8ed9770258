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
use crate::files::{coalesce, like_literal, live_original_of, lower};
use crate::with_conn;

/// Where a file matched.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    /// `name`, `folder`, `labels`, `people`, `sounds`, `camera`, `dates`, `place`, `transcript`,
    /// `sound`, or `moment` (where a `within:` query's sounds and words come together).
    pub field: &'static str,
    /// The field's text, or the transcript line or sound event.
    pub text: String,
    /// Where the transcript line or sound event starts and ends, in ms.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

/// A file found, with its name and its hits.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Found {
    pub file: Item,
    pub name: String,
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

/// Which files a query's words may match.
enum Words<'a> {
    /// Those whose search document has every word.
    All,
    /// Those, and these files (found by meaning).
    AllOr(&'a [String]),
}

/// Which of the matching files to read, newest taken first.
enum Rows<'a> {
    /// One page (and one row more) after the cursor.
    Page(Option<&'a Cursor>, i64),
    /// The newest this many.
    Newest(i64),
}

/// The library's live originals that match `query`'s words (as `words` says) and pass every
/// filter. `shift` is the client's offset from UTC in ms.
async fn matching(
    conn: &mut Conn,
    library_id: &str,
    query: &Query,
    shift: i64,
    words: Words<'_>,
    rows: Rows<'_>,
) -> Result<Vec<LeanRow>> {
    let postgres = matches!(conn, Conn::Pg(_));
    // Words said must be in the document too; that they are in the transcript is checked later.
    let wanted_words: Vec<Vec<String>> = query.terms.iter().chain(&query.said).cloned().collect();
    let (text_query, text_sql, text_end) = full_text(&wanted_words, postgres);
    with_conn!(conn, c => {
        let taken = coalesce(files::captured_at, files::created_at);
        let mut q = files::table
            .filter(files::library_id.eq(library_id))
            .filter(files::source_file_id.is_null())
            .filter(files::trashed_at.is_null())
            .select(lean_columns())
            .order((taken.desc(), files::id.desc()))
            .into_boxed();
        if !wanted_words.is_empty() {
            let has_words = diesel::dsl::sql::<Bool>(text_sql).bind::<Text, _>(&text_query).sql(text_end);
            q = match words {
                Words::All => q.filter(has_words),
                Words::AllOr(ids) => q.filter(has_words.or(files::id.eq_any(ids))),
            };
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
                .filter(lower(search_docs::camera).like(format!("%{}%", like_literal(camera))).escape('\\'))
                .select(search_docs::file_id)));
        }
        for folder in &query.folders {
            q = q.filter(files::id.eq_any(search_docs::table
                .filter(lower(search_docs::folder).eq(folder.to_lowercase())
                    .or(lower(search_docs::folder).like(format!("{}/%", like_literal(folder))).escape('\\')))
                .select(search_docs::file_id)));
        }
        if let Some(day) = query.after {
            q = q.filter(taken.ge(day * DAY_MS - shift));
        }
        if let Some(day) = query.before {
            q = q.filter(taken.lt((day + 1) * DAY_MS - shift));
        }
        if let Some(area) = &query.area {
            q = q.filter(diesel::dsl::sql::<Bool>(&area.sql()));
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
        q = match rows {
            Rows::Page(after, limit) => {
                if let Some(after) = after {
                    q = q.filter(taken.le(after.at).and(taken.lt(after.at).or(files::id.lt(&after.id))));
                }
                q.limit(limit + 1)
            }
            Rows::Newest(most) => q.limit(most),
        };
        q.load(c).await
    })
    .map_err(Into::into)
}

/// One page of what `query` finds in the library, and the cursor of the next page.
/// `offset_minutes` is the client's offset from UTC, for `after:` and `before:`. `close` are
/// the texts whose meaning is close to the query's words (see [`super::meaning`]); with them,
/// files are ranked by how well they match, otherwise newest taken first.
pub async fn find(
    conn: &mut Conn,
    library_id: &str,
    query: &Query,
    offset_minutes: i64,
    close: Option<&[(String, f32)]>,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<(Vec<Found>, Option<Cursor>)> {
    let shift = offset_minutes * 60_000;
    let (mut rows, next, mut by_meaning) = match close {
        Some(close) if !query.terms.is_empty() => {
            ranked(conn, library_id, query, shift, close, after, limit).await?
        }
        _ => {
            let page = Rows::Page(after, limit);
            let mut rows = matching(conn, library_id, query, shift, Words::All, page).await?;
            let next = Cursor::next_page(&mut rows, limit, |r| Cursor {
                at: r.5,
                id: r.0.clone(),
            });
            (rows, next, HashMap::new())
        }
    };
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let timed = timed_of(conn, &ids).await?;
    // Words said and `within:` are checked on the page's lines and events, so a page may come
    // out shorter than the limit; the cursor still moves past every row read.
    let no_timed = Vec::new();
    rows.retain(|r| said_and_within(query, timed.get(&r.0).unwrap_or(&no_timed)).is_some());
    let items = timeline::lean_items(conn, library_id, rows).await?;
    let mut hits = hits_of(conn, &items, query, timed).await?;
    for (file, meant) in by_meaning.drain() {
        let hits = hits.entry(file).or_default();
        for hit in meant {
            if !hits.contains(&hit) {
                hits.push(hit);
            }
        }
    }
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let mut names: HashMap<String, String> = with_conn!(conn, c => files::table
        .filter(files::id.eq_any(&ids))
        .select((files::id, files::name))
        .load::<(String, String)>(c)
        .await)?
    .into_iter()
    .collect();
    let found = items
        .into_iter()
        .map(|file| Found {
            hits: hits.remove(&file.id).unwrap_or_default(),
            name: names.remove(&file.id).unwrap_or_default(),
            file,
        })
        .collect();
    Ok((found, next))
}

/// Most files ranked per query: the newest of those matching by words or by meaning.
const MOST_RANKED: i64 = 1000;
/// Most files found by meaning that are considered for ranking.
const MOST_BY_MEANING: usize = 2000;
/// Most rows read per kind of text found by meaning.
const MOST_MEANT_ROWS: i64 = 5000;
/// Reciprocal rank fusion's constant: how much the first places count more than later ones.
const FUSION_K: f32 = 60.0;

/// A page of the files that match `query`'s words or mean what they say, best first: the rank
/// by words (how many fields hold them) and the rank by meaning (the closest text) fused by
/// their reciprocal ranks, ties newest first. The cursor holds the position and id of the
/// page's last file. Also the hits by meaning of the page's files.
async fn ranked(
    conn: &mut Conn,
    library_id: &str,
    query: &Query,
    shift: i64,
    close: &[(String, f32)],
    after: Option<&Cursor>,
    limit: i64,
) -> Result<(Vec<LeanRow>, Option<Cursor>, HashMap<String, Vec<Hit>>)> {
    let (similarity, mut meant) = by_meaning(conn, library_id, close).await?;
    let mut by_similarity: Vec<(&String, f32)> = similarity.iter().map(|(f, s)| (f, *s)).collect();
    by_similarity.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let meant_ids: Vec<String> = by_similarity
        .iter()
        .take(MOST_BY_MEANING)
        .map(|(f, _)| (*f).clone())
        .collect();
    let candidates = Rows::Newest(MOST_RANKED);
    let rows = matching(
        conn,
        library_id,
        query,
        shift,
        Words::AllOr(&meant_ids),
        candidates,
    )
    .await?;
    let strength = word_strength(conn, &rows, &query.terms).await?;
    let rank_of = |score: &dyn Fn(&LeanRow) -> Option<f32>| -> HashMap<String, usize> {
        let mut scored: Vec<(usize, f32)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| score(r).map(|s| (i, s)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
            .into_iter()
            .enumerate()
            .map(|(rank, (i, _))| (rows[i].0.clone(), rank))
            .collect()
    };
    let by_words = rank_of(&|r| strength.get(&r.0).map(|n| *n as f32));
    let by_meaning = rank_of(&|r| similarity.get(&r.0).copied());
    let fused = |id: &String| {
        [&by_words, &by_meaning]
            .iter()
            .filter_map(|ranks| ranks.get(id))
            .map(|rank| 1.0 / (FUSION_K + *rank as f32 + 1.0))
            .sum::<f32>()
    };
    let mut order: Vec<(usize, f32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (i, fused(&r.0)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let start = match after {
        Some(after) => order
            .iter()
            .position(|(i, _)| rows[*i].0 == after.id)
            .map_or(after.at.max(0) as usize + 1, |p| p + 1),
        None => 0,
    };
    let end = (start + limit as usize).min(order.len());
    let page: Vec<usize> = order
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|(i, _)| *i)
        .collect();
    let next = (end < order.len() && !page.is_empty()).then(|| Cursor {
        at: end as i64 - 1,
        id: rows[order[end - 1].0].0.clone(),
    });
    let mut rows: Vec<Option<LeanRow>> = rows.into_iter().map(Some).collect();
    let page: Vec<LeanRow> = page.into_iter().filter_map(|i| rows[i].take()).collect();
    meant.retain(|file, _| page.iter().any(|r| &r.0 == file));
    Ok((page, next, meant))
}

/// How strongly each of `rows` matches `terms` by words: the number of fields holding one of
/// them (at least 1: the transcript), for files whose document has every term; others have none.
async fn word_strength(
    conn: &mut Conn,
    rows: &[LeanRow],
    terms: &[Vec<String>],
) -> Result<HashMap<String, usize>> {
    let mut out = HashMap::new();
    for chunk in rows.chunks(500) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
        for doc in docs_of(conn, &ids).await? {
            let all = words(&doc.words);
            if !terms.iter().all(|t| has_term(&all, t)) {
                continue;
            }
            let fields = doc.fields();
            let held = fields.iter().filter(|(_, f)| holds_any(f, terms)).count();
            out.insert(doc.file_id, held.max(1));
        }
    }
    Ok(out)
}

/// The search documents of files `ids`.
async fn docs_of(conn: &mut Conn, ids: &[&str]) -> Result<Vec<Doc>> {
    let docs = with_conn!(conn, c => search_docs::table
        .filter(search_docs::file_id.eq_any(ids))
        .select(Doc::as_select())
        .load(c)
        .await)?;
    Ok(docs)
}

/// The library's live files that have one of the `close` texts (labels, sounds, people's
/// names, transcript lines): each file's best similarity, and its hits, closest first.
async fn by_meaning(
    conn: &mut Conn,
    library_id: &str,
    close: &[(String, f32)],
) -> Result<(HashMap<String, f32>, HashMap<String, Vec<Hit>>)> {
    let texts: Vec<&str> = close.iter().map(|(t, _)| t.as_str()).collect();
    let similarity: HashMap<&str, f32> = close.iter().map(|(t, s)| (t.as_str(), *s)).collect();
    let live = || {
        files::table
            .filter(live_original_of(library_id))
            .select(files::id)
    };
    type Row = (String, String, Option<i64>, Option<i64>);
    let mut found: Vec<(&'static str, Row)> = Vec::new();
    if texts.is_empty() {
        return Ok(Default::default());
    }
    let labels: Vec<(String, String)> = with_conn!(conn, c => file_labels::table
        .filter(file_labels::name.eq_any(&texts))
        .filter(file_labels::file_id.eq_any(live()))
        .select((file_labels::file_id, file_labels::name))
        .distinct()
        .limit(MOST_MEANT_ROWS)
        .load(c)
        .await)?;
    found.extend(
        labels
            .into_iter()
            .map(|(f, t)| ("labels", (f, t, None, None))),
    );
    let named: Vec<(String, String)> = with_conn!(conn, c => faces::table
        .inner_join(people::table)
        .filter(people::library_id.eq(library_id))
        .filter(people::name.assume_not_null().eq_any(&texts))
        .filter(faces::file_id.eq_any(live()))
        .select((faces::file_id, people::name.assume_not_null()))
        .distinct()
        .limit(MOST_MEANT_ROWS)
        .load(c)
        .await)?;
    found.extend(
        named
            .into_iter()
            .map(|(f, t)| ("people", (f, t, None, None))),
    );
    let saying = Reading::Saying {
        library_id,
        texts: &texts,
    };
    found.extend(
        timed(conn, saying)
            .await?
            .into_iter()
            .map(|t| (t.field, (t.file, t.text, Some(t.start_ms), Some(t.end_ms)))),
    );
    let mut best: HashMap<String, f32> = HashMap::new();
    let mut hits: HashMap<String, Vec<(f32, Hit)>> = HashMap::new();
    for (field, (file, text, start_ms, end_ms)) in found {
        let s = similarity.get(text.as_str()).copied().unwrap_or_default();
        let b = best.entry(file.clone()).or_insert(s);
        *b = b.max(s);
        hits.entry(file).or_default().push((
            s,
            Hit {
                field,
                text,
                start_ms,
                end_ms,
            },
        ));
    }
    let hits = hits
        .into_iter()
        .map(|(file, mut hits)| {
            hits.sort_by(|a, b| b.0.total_cmp(&a.0));
            let hits = hits
                .into_iter()
                .take(MOST_MOMENTS)
                .map(|(_, h)| h)
                .collect();
            (file, hits)
        })
        .collect();
    Ok((best, hits))
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

/// A transcript line or a sound event of a file.
struct Timed {
    file: String,
    /// `transcript` or `sound`.
    field: &'static str,
    text: String,
    start_ms: i64,
    end_ms: i64,
}

/// Which transcript lines and sound events to read.
#[derive(Clone, Copy)]
enum Reading<'a> {
    /// All of these files', in time order per file and kind.
    Files(&'a [&'a str]),
    /// Those saying one of `texts` in the library's live files, at most
    /// [`MOST_MEANT_ROWS`] of each kind.
    Saying {
        library_id: &'a str,
        texts: &'a [&'a str],
    },
}

/// The transcript lines, then the sound events, that `reading` asks for.
async fn timed(conn: &mut Conn, reading: Reading<'_>) -> Result<Vec<Timed>> {
    let live = |library_id| {
        files::table
            .filter(live_original_of(library_id))
            .select(files::id)
    };
    // Lines and events have the same columns but for the name of their text.
    macro_rules! read {
        ($table:ident, $text:ident) => {
            with_conn!(conn, c => {
                let query = $table::table
                    .select(($table::file_id, $table::$text, $table::start_ms, $table::end_ms))
                    .into_boxed();
                match reading {
                    Reading::Files(ids) => query
                        .filter($table::file_id.eq_any(ids))
                        .order(($table::file_id, $table::position)),
                    Reading::Saying { library_id, texts } => query
                        .filter($table::$text.eq_any(texts))
                        .filter($table::file_id.eq_any(live(library_id)))
                        .limit(MOST_MEANT_ROWS),
                }
                .load::<(String, String, i64, i64)>(c)
                .await
            })
        };
    }
    let lines = read!(transcript_segments, text)?;
    let events = read!(audio_events, name)?;
    let lines = lines.into_iter().map(|l| ("transcript", l));
    let events = events.into_iter().map(|e| ("sound", e));
    Ok(lines
        .chain(events)
        .map(|(field, (file, text, start_ms, end_ms))| Timed {
            file,
            field,
            text,
            start_ms,
            end_ms,
        })
        .collect())
}

/// The transcript lines and sound events of files, by file, in time order per kind.
async fn timed_of(conn: &mut Conn, ids: &[&str]) -> Result<HashMap<String, Vec<Timed>>> {
    let mut out: HashMap<String, Vec<Timed>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for t in timed(conn, Reading::Files(ids)).await? {
        out.entry(t.file.clone()).or_default().push(t);
    }
    Ok(out)
}

/// Whether a file's lines and events hold every word said that `query` asks for and, with
/// `within:`, the moments (start, end) where one of each `sound:` and `word:` happen within
/// that time of each other; `None` when the file does not pass.
fn said_and_within(query: &Query, timed: &[Timed]) -> Option<Vec<(i64, i64)>> {
    let said = query.said.iter().map(|phrase| {
        let lines = timed.iter().filter(|t| t.field == "transcript");
        lines
            .filter(|t| has_term(&words(&t.text), phrase))
            .collect::<Vec<_>>()
    });
    let sounds = query.sounds.iter().map(|sound| {
        let events = timed.iter().filter(|t| t.field == "sound");
        events
            .filter(|t| t.text.eq_ignore_ascii_case(sound))
            .collect::<Vec<_>>()
    });
    let wanted: Vec<Vec<&Timed>> = said.collect();
    if wanted.iter().any(Vec::is_empty) {
        return None;
    }
    let Some(within) = query.within_ms else {
        return Some(Vec::new());
    };
    let wanted: Vec<Vec<&Timed>> = sounds.chain(wanted).collect();
    let moments = together(&wanted, within);
    (!moments.is_empty()).then_some(moments)
}

/// For each occurrence of the first wanted thing, the span covering it and one occurrence of
/// every other thing no further than `within` ms from it.
fn together(wanted: &[Vec<&Timed>], within: i64) -> Vec<(i64, i64)> {
    let Some((first, rest)) = wanted.split_first() else {
        return Vec::new();
    };
    let gap = |a: &Timed, b: &Timed| (b.start_ms - a.end_ms).max(a.start_ms - b.end_ms).max(0);
    first
        .iter()
        .filter_map(|a| {
            let mut span = (a.start_ms, a.end_ms);
            for others in rest {
                let b = others.iter().find(|b| gap(a, b) <= within)?;
                span = (span.0.min(b.start_ms), span.1.max(b.end_ms));
            }
            Some(span)
        })
        .collect()
}

/// The sounds and words a `within:` query brings together, as `Laughter + "goal"`.
fn query_things(query: &Query) -> String {
    let sounds = query.sounds.iter().cloned();
    let said = query.said.iter().map(|w| format!("\"{}\"", w.join(" ")));
    sounds.chain(said).collect::<Vec<_>>().join(" + ")
}

/// The hits of each found file, by id.
async fn hits_of(
    conn: &mut Conn,
    items: &[Item],
    query: &Query,
    timed: HashMap<String, Vec<Timed>>,
) -> Result<HashMap<String, Vec<Hit>>> {
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let mut out: HashMap<String, Vec<Hit>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let terms = &query.terms;
    for doc in docs_of(conn, &ids).await? {
        let hits = out.entry(doc.file_id.clone()).or_default();
        for (field, text) in doc.fields() {
            if holds_any(text, terms) {
                hits.push(Hit {
                    field,
                    text: text.to_owned(),
                    start_ms: None,
                    end_ms: None,
                });
            }
        }
    }
    let sounds: Vec<String> = query.sounds.iter().map(|s| s.to_lowercase()).collect();
    let wanted_words: Vec<Vec<String>> = terms.iter().chain(&query.said).cloned().collect();
    for (file, timed) in timed {
        let together = said_and_within(query, &timed).unwrap_or_default();
        let hits = out.entry(file).or_default();
        let matching = timed.iter().filter(|t| match t.field {
            "transcript" => holds_any(&t.text, &wanted_words),
            _ => holds_any(&t.text, terms) || sounds.contains(&t.text.to_lowercase()),
        });
        let moments = together
            .into_iter()
            .map(|(start, end)| Hit {
                field: "moment",
                text: query_things(query),
                start_ms: Some(start),
                end_ms: Some(end),
            })
            .chain(matching.map(|t| Hit {
                field: t.field,
                text: t.text.clone(),
                start_ms: Some(t.start_ms),
                end_ms: Some(t.end_ms),
            }));
        hits.extend(moments.take(MOST_MOMENTS));
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
