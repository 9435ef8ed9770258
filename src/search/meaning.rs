//! Search by meaning. Every distinct label, sound, person's name and transcript line gets a
//! vector from [`crate::ml::text`], stored as int8 numbers with a scale in `text_vectors` by the
//! worker ([`embed_missing`]). The API keeps all of them in memory ([`Meaning`]: 388 bytes per
//! text, loaded incrementally since rows are only ever added), compares a query's vector with
//! each, and hands the texts close enough to [`super::find`], which leads them to the library's
//! files.

use std::path::Path;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::app::App;
use crate::db::Conn;
use crate::db::schema::{audio_events, file_labels, people, text_vectors, transcript_segments};
use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::ml::{MlError, models, text};
use crate::with_conn;

/// How close (cosine) a text's meaning must be to the query's to count.
pub const MIN_SIMILARITY: f32 = 0.55;
/// Most texts one query leads to.
const MOST_TEXTS: usize = 200;
/// Texts embedded per round of [`embed_missing`], per source.
const EMBED_BATCH: i64 = 64;
/// Rows read per round when the index catches up.
const LOAD_BATCH: i64 = 5000;

/// A unit vector as stored: the scale and the numbers in -127..=127 (as bytes).
fn quantize(vector: &[f32]) -> (f32, Vec<u8>) {
    let largest = vector.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let scale = largest / 127.0;
    let numbers = vector
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8)
        .collect();
    (scale, numbers)
}

/// Every stored vector, in memory.
#[derive(Default)]
struct Index {
    /// The largest row id loaded.
    last_id: i64,
    texts: Vec<String>,
    scales: Vec<f32>,
    /// [`text::DIMENSIONS`] numbers per text, one after the other.
    numbers: Vec<i8>,
}

impl Index {
    fn add(&mut self, rows: Vec<(i64, String, f32, Vec<u8>)>) {
        for (id, text, scale, numbers) in rows {
            self.last_id = self.last_id.max(id);
            if numbers.len() == text::DIMENSIONS {
                self.texts.push(text);
                self.scales.push(scale);
                self.numbers.extend(numbers.into_iter().map(|b| b as i8));
            }
        }
    }

    /// The texts at least [`MIN_SIMILARITY`] close to `query`, closest first.
    fn closest(&self, query: &[f32]) -> Vec<(String, f32)> {
        let mut close: Vec<(usize, f32)> = self
            .numbers
            .chunks_exact(text::DIMENSIONS)
            .zip(&self.scales)
            .map(|(numbers, scale)| {
                let dot: f32 = numbers.iter().zip(query).map(|(n, q)| *n as f32 * q).sum();
                dot * scale
            })
            .enumerate()
            .filter(|(_, similarity)| *similarity >= MIN_SIMILARITY)
            .collect();
        close.sort_by(|a, b| b.1.total_cmp(&a.1));
        close.truncate(MOST_TEXTS);
        close
            .into_iter()
            .map(|(i, similarity)| (self.texts[i].clone(), similarity))
            .collect()
    }
}

/// How often at most the API counts the stored vectors to find rows it missed.
const RECOUNT_EVERY: Duration = Duration::from_secs(30);

/// The API's copy of the stored vectors, brought up to date before each search.
#[derive(Default)]
pub struct Meaning {
    index: RwLock<Index>,
    /// When the stored vectors were last counted.
    counted_at: Mutex<Option<Instant>>,
}

impl Meaning {
    /// The known texts whose meaning is close to `query`'s, with their similarity, closest
    /// first; `None` when the model is not installed (search then goes by words only).
    pub async fn close_to(
        &self,
        conn: &mut Conn,
        models_dir: &Path,
        query: &str,
    ) -> Result<Option<Vec<(String, f32)>>> {
        if models::require(models_dir, text::MODEL).is_err() {
            return Ok(None);
        }
        let (dir, owned) = (models_dir.to_owned(), query.to_owned());
        let embedded = tokio::task::spawn_blocking(move || text::embedder(&dir)?.embed(&owned))
            .await
            .map_err(|e| Error::Internal(format!("embedding the query crashed: {e}")))?;
        let vector = match embedded {
            Ok(vector) => vector,
            Err(MlError::ModelMissing(_)) => return Ok(None),
            Err(e) => return Err(Error::Unavailable(format!("embedding the query: {e}"))),
        };
        self.catch_up(conn).await?;
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        Ok(Some(index.closest(&vector)))
    }

    /// Loads the rows added since the last call. On PostgreSQL, rows may be committed out of
    /// id order, and a row committed late would be skipped: every [`RECOUNT_EVERY`] the rows
    /// are counted, and all are loaded again when some were missed. (SQLite commits one writer
    /// at a time, so its ids come in order.)
    async fn catch_up(&self, conn: &mut Conn) -> Result<()> {
        for _ in 0..2 {
            loop {
                let last = self.read(|i| i.last_id);
                let rows: Vec<(i64, String, f32, Vec<u8>)> = with_conn!(conn, c => text_vectors::table
                    .filter(text_vectors::id.gt(last))
                    .order(text_vectors::id)
                    .select((text_vectors::id, text_vectors::text, text_vectors::scale, text_vectors::vector))
                    .limit(LOAD_BATCH)
                    .load(c)
                    .await)?;
                if rows.is_empty() {
                    break;
                }
                let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
                // Another search may have loaded them meanwhile.
                if index.last_id == last {
                    index.add(rows);
                }
            }
            if !self.recount_due(conn) {
                break;
            }
            let stored: i64 =
                with_conn!(conn, c => text_vectors::table.count().get_result(c).await)?;
            if stored == self.read(|i| i.texts.len() as i64) {
                break;
            }
            *self.index.write().unwrap_or_else(|e| e.into_inner()) = Index::default();
        }
        Ok(())
    }

    /// Whether the rows should be counted now (see [`Meaning::catch_up`]).
    fn recount_due(&self, conn: &Conn) -> bool {
        if matches!(conn, Conn::Sqlite(_)) {
            return false;
        }
        let mut counted_at = self.counted_at.lock().unwrap_or_else(|e| e.into_inner());
        if counted_at.is_some_and(|at| at.elapsed() < RECOUNT_EVERY) {
            return false;
        }
        *counted_at = Some(Instant::now());
        true
    }

    fn read<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.index.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Up to [`EMBED_BATCH`] texts of each source that have no vector yet.
async fn missing_texts(conn: &mut Conn) -> Result<Vec<String>> {
    macro_rules! without_vector {
        ($column:expr) => {
            diesel::dsl::not(diesel::dsl::exists(
                text_vectors::table.filter(text_vectors::text.eq($column)),
            ))
        };
    }
    let mut texts: Vec<String> = with_conn!(conn, c => file_labels::table
        .filter(without_vector!(file_labels::name))
        .select(file_labels::name)
        .distinct()
        .limit(EMBED_BATCH)
        .load(c)
        .await)?;
    texts.extend(with_conn!(conn, c => audio_events::table
        .filter(without_vector!(audio_events::name))
        .select(audio_events::name)
        .distinct()
        .limit(EMBED_BATCH)
        .load::<String>(c)
        .await)?);
    texts.extend(with_conn!(conn, c => transcript_segments::table
        .filter(transcript_segments::text.ne(""))
        .filter(without_vector!(transcript_segments::text))
        .select(transcript_segments::text)
        .distinct()
        .limit(EMBED_BATCH)
        .load::<String>(c)
        .await)?);
    texts.extend(with_conn!(conn, c => people::table
        .filter(people::name.is_not_null())
        .filter(without_vector!(people::name.assume_not_null()))
        .select(people::name.assume_not_null())
        .distinct()
        .limit(EMBED_BATCH)
        .load::<String>(c)
        .await)?);
    texts.retain(|t| !t.trim().is_empty());
    texts.sort();
    texts.dedup();
    Ok(texts)
}

/// Gives a vector to every label, sound, person's name and transcript line that has none, in
/// rounds, each holding one CPU slot; returns how many were added (none without the model).
pub async fn embed_missing(app: &App) -> Result<usize> {
    let dir = app.config.models_dir();
    if models::require(&dir, text::MODEL).is_err() {
        return Ok(0);
    }
    let mut added = 0;
    loop {
        let texts = missing_texts(&mut app.db.conn().await?).await?;
        if texts.is_empty() {
            return Ok(added);
        }
        let permit = app.ml_slots.acquire(1).await;
        let (dir, batch) = (dir.clone(), texts.clone());
        let embedded = tokio::task::spawn_blocking(move || {
            let embedder = text::embedder(&dir)?;
            batch
                .iter()
                .map(|t| embedder.embed(t))
                .collect::<Result<Vec<_>, MlError>>()
        })
        .await
        .map_err(|e| Error::Internal(format!("embedding texts crashed: {e}")))?
        .map_err(|e| Error::Internal(format!("embedding texts for search: {e}")))?;
        drop(permit);
        let mut tx = app.db.begin().await?;
        let conn: &mut Conn = &mut tx;
        for (text, vector) in texts.iter().zip(embedded) {
            let (scale, numbers) = quantize(&vector);
            let row = (
                text_vectors::digest.eq(sha256_hex(text.as_bytes())),
                text_vectors::text.eq(text),
                text_vectors::scale.eq(scale),
                text_vectors::vector.eq(numbers),
            );
            added += with_conn!(conn, c => diesel::insert_into(text_vectors::table)
                .values(row)
                .on_conflict(text_vectors::digest)
                .do_nothing()
                .execute(c)
                .await)?;
        }
        tx.commit().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_vectors_keep_their_similarity() {
        let a: Vec<f32> = (0..text::DIMENSIONS)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let norm = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let a: Vec<f32> = a.iter().map(|x| x / norm).collect();
        let (scale, numbers) = quantize(&a);
        let mut index = Index::default();
        index.add(vec![(7, "a".into(), scale, numbers)]);
        let found = index.closest(&a);
        assert_eq!(found.len(), 1);
        assert!((found[0].1 - 1.0).abs() < 0.01, "{found:?}");
        assert_eq!(index.last_id, 7);
        let opposite: Vec<f32> = a.iter().map(|x| -x).collect();
        assert!(index.closest(&opposite).is_empty());
    }
}
