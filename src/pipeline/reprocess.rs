//! Re-running a stage for one file, a library or every file: each file's job is queued again
//! with a bumped version, so results of runs already under way are dropped.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::app::App;
use crate::db::schema::files;
use crate::error::Result;
use crate::jobs::JobKind;
use crate::with_conn;

/// Which files to reprocess.
#[derive(Debug, Clone)]
pub enum Scope {
    File(String),
    Library(String),
    Everything,
}

/// Files queued per transaction.
const BATCH: usize = 200;

/// Queues `kind` again for every live (not trashed) file in `scope`; `progress(done, total)`
/// follows along. Returns how many were queued.
pub async fn reprocess(
    app: &App,
    kind: JobKind,
    scope: &Scope,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize> {
    let ids: Vec<String> = {
        let mut conn = app.db.conn().await?;
        let live = files::table
            .filter(files::trashed_at.is_null())
            .select(files::id)
            .order(files::id);
        match scope {
            Scope::File(id) => {
                with_conn!(&mut conn, c => live.filter(files::id.eq(id)).load(c).await)?
            }
            Scope::Library(id) => {
                with_conn!(&mut conn, c => live.filter(files::library_id.eq(id)).load(c).await)?
            }
            Scope::Everything => with_conn!(&mut conn, c => live.load(c).await)?,
        }
    };
    let total = ids.len();
    progress(0, total);
    for (n, batch) in ids.chunks(BATCH).enumerate() {
        let mut tx = app.db.begin().await?;
        let mut queued = Vec::with_capacity(batch.len());
        for id in batch {
            queued.push(crate::jobs::store::enqueue(&mut tx, id, kind).await?);
        }
        tx.commit().await?;
        app.queue.announce(&queued).await;
        progress((n * BATCH + batch.len()).min(total), total);
    }
    Ok(total)
}
