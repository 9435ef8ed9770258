//! The `file_jobs` table as a durable queue: enqueue (bumping the version), claim with a lease,
//! heartbeat and progress, settle (done / skipped / retry / failed) while holding the lease,
//! reap expired leases, release on shutdown, and the admin views.

use std::time::Duration;

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::instance::Instance;
use super::{JobKind, JobStatus, MAX_ATTEMPTS, backoff};
use crate::db::schema::{file_jobs, files};
use crate::db::{Conn, Db, now_ms};
use crate::error::{Error, Result};
use crate::with_conn;

/// A claimed job: what to do and the lease token that lets the holder settle it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub file_id: String,
    pub kind: JobKind,
    pub version: i32,
    pub attempt: i32,
    pub token: String,
}

/// A job row as the API shows it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, schemars::JsonSchema)]
#[diesel(table_name = file_jobs)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    pub file_id: String,
    #[diesel(deserialize_as = String)]
    pub kind: JobKind,
    #[diesel(deserialize_as = String)]
    pub status: JobStatus,
    pub progress: i32,
    pub eta_ms: Option<i64>,
    pub error: Option<String>,
    pub version: i32,
    pub done_version: Option<i32>,
    pub attempts: i32,
    pub updated_at: i64,
}

/// A job committed as queued: what a queue dispatches to workers once it may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub file_id: String,
    pub kind: JobKind,
    pub version: i32,
    /// Earliest start, in ms since the epoch.
    pub run_after: i64,
}

impl Queued {
    fn from_row(file_id: String, kind: &str, version: i32, run_after: i64) -> Option<Queued> {
        Some(Queued {
            file_id,
            kind: JobKind::parse(kind)?,
            version,
            run_after,
        })
    }
}

/// Requests `kind` for `file_id`: a new row at version 1, or the existing row re-queued with its
/// version bumped (any running attempt loses its lease and cannot record its result). Announce
/// the result to the queue once the transaction commits.
pub async fn enqueue(conn: &mut Conn, file_id: &str, kind: JobKind) -> Result<Queued> {
    let now = now_ms();
    let version = renew(conn, file_id, kind, JobStatus::Queued, None, now).await?;
    Ok(Queued {
        file_id: file_id.to_owned(),
        kind,
        version,
        run_after: now,
    })
}

/// Marks `kind` of `file_id` skipped for `reason` without running it, as a new version of its
/// row (so an attempt still running records nothing).
pub async fn skip(conn: &mut Conn, file_id: &str, kind: JobKind, reason: &str) -> Result<()> {
    renew(
        conn,
        file_id,
        kind,
        JobStatus::Skipped,
        Some(reason),
        now_ms(),
    )
    .await?;
    Ok(())
}

/// Writes the row of `kind` for `file_id` afresh with `status` and `error`: inserted at version
/// 1, or updated with its version bumped and its attempts and lease cleared. Returns the version.
async fn renew(
    conn: &mut Conn,
    file_id: &str,
    kind: JobKind,
    status: JobStatus,
    error: Option<&str>,
    now: i64,
) -> Result<i32> {
    let row = (
        file_jobs::file_id.eq(file_id),
        file_jobs::kind.eq(kind.as_str()),
        file_jobs::status.eq(status.as_str()),
        file_jobs::error.eq(error),
        file_jobs::run_after.eq(now),
        file_jobs::created_at.eq(now),
        file_jobs::updated_at.eq(now),
    );
    with_conn!(conn, c => diesel::insert_into(file_jobs::table)
        .values(row)
        .on_conflict((file_jobs::file_id, file_jobs::kind))
        .do_update()
        .set((
            file_jobs::status.eq(excluded(file_jobs::status)),
            file_jobs::version.eq(file_jobs::version + 1),
            file_jobs::progress.eq(0),
            file_jobs::eta_ms.eq(None::<i64>),
            file_jobs::error.eq(excluded(file_jobs::error)),
            file_jobs::attempts.eq(0),
            file_jobs::run_after.eq(now),
            file_jobs::lease_token.eq(None::<String>),
            file_jobs::lease_until.eq(None::<i64>),
            file_jobs::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    let version = with_conn!(conn, c => file_jobs::table
        .find((file_id, kind.as_str()))
        .select(file_jobs::version)
        .first(c)
        .await)?;
    Ok(version)
}

/// Records `kind` as already done for a new file (e.g. the hash computed during upload).
pub async fn record_done(conn: &mut Conn, file_id: &str, kind: JobKind) -> Result<()> {
    let now = now_ms();
    let row = (
        file_jobs::file_id.eq(file_id),
        file_jobs::kind.eq(kind.as_str()),
        file_jobs::status.eq(JobStatus::Done.as_str()),
        file_jobs::progress.eq(100),
        file_jobs::done_version.eq(1),
        file_jobs::run_after.eq(now),
        file_jobs::created_at.eq(now),
        file_jobs::updated_at.eq(now),
    );
    with_conn!(conn, c => diesel::insert_into(file_jobs::table).values(row).execute(c).await)?;
    Ok(())
}

/// Queued jobs of `kind` that may run now, oldest first.
#[diesel::dsl::auto_type]
fn ready<'a>(kind: &'a str, now: i64) -> _ {
    file_jobs::table
        .filter(file_jobs::status.eq("queued"))
        .filter(file_jobs::kind.eq(kind))
        .filter(file_jobs::run_after.le(now))
        .order((file_jobs::run_after, file_jobs::created_at))
        .select((file_jobs::file_id, file_jobs::version, file_jobs::attempts))
}

/// Claims up to `max` of the oldest ready jobs of `kind` for `lease`. The ready rows are read
/// first outside a transaction, so a kind with nothing to do never takes SQLite's write lock
/// (which every stage's result waits for); on PostgreSQL concurrent workers skip each other's
/// rows (`FOR UPDATE SKIP LOCKED`).
pub async fn claim(db: &Db, kind: JobKind, max: usize, lease: Lease<'_>) -> Result<Vec<Claim>> {
    let now = now_ms();
    let limit = max as i64;
    let seen: Vec<(String, i32, i32)> = with_conn!(&mut db.conn().await?, c => ready(kind.as_str(), now)
        .limit(limit)
        .load(c)
        .await)?;
    if seen.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.begin().await?;
    let candidates = match &mut *tx {
        Conn::Pg(c) => {
            ready(kind.as_str(), now)
                .limit(limit)
                .for_update()
                .skip_locked()
                .load(c)
                .await?
        }
        // The write lock is held from here on: a row another claimer took since it was read
        // fails `take_lease`'s condition and is passed over.
        Conn::Sqlite(_) => seen,
    };
    let mut claims = Vec::with_capacity(candidates.len());
    for (file_id, version, attempts) in candidates {
        if let Some(claim) =
            take_lease(&mut tx, file_id, kind, version, attempts, lease, now).await?
        {
            claims.push(claim);
        }
    }
    tx.commit().await?;
    Ok(claims)
}

/// Claims exactly `version` of the job `(file_id, kind)` if it is queued and due (a queue that
/// dispatches jobs itself, like Redis, names the job); None when it is stale or taken.
pub async fn claim_version(
    db: &Db,
    file_id: &str,
    kind: JobKind,
    version: i32,
    lease: Lease<'_>,
) -> Result<Option<Claim>> {
    let now = now_ms();
    let attempts: Option<i32> = with_conn!(&mut db.conn().await?, c => file_jobs::table
        .find((file_id, kind.as_str()))
        .filter(file_jobs::status.eq(JobStatus::Queued.as_str()))
        .filter(file_jobs::version.eq(version))
        .filter(file_jobs::run_after.le(now))
        .select(file_jobs::attempts)
        .first(c)
        .await
        .optional())?;
    let Some(attempts) = attempts else {
        return Ok(None);
    };
    take_lease(
        &mut db.conn().await?,
        file_id.to_owned(),
        kind,
        version,
        attempts,
        lease,
        now,
    )
    .await
}

/// A lease to take: how long it lasts without a heartbeat, and whose it is.
#[derive(Clone, Copy)]
pub struct Lease<'a> {
    pub duration: Duration,
    pub holder: &'a Instance,
}

/// Marks the queued row processing under a new lease token, unless another claimer got there
/// first (the update is conditional on the row still being queued at that version).
async fn take_lease(
    conn: &mut Conn,
    file_id: String,
    kind: JobKind,
    version: i32,
    attempts: i32,
    lease: Lease<'_>,
    now: i64,
) -> Result<Option<Claim>> {
    let token = lease.holder.lease_token();
    let n = with_conn!(conn, c => diesel::update(file_jobs::table.find((&file_id, kind.as_str())))
        .filter(file_jobs::status.eq(JobStatus::Queued.as_str()))
        .filter(file_jobs::version.eq(version))
        .set((
            file_jobs::status.eq(JobStatus::Processing.as_str()),
            file_jobs::lease_token.eq(&token),
            file_jobs::lease_until.eq(now + lease.duration.as_millis() as i64),
            file_jobs::attempts.eq(attempts + 1),
            file_jobs::progress.eq(0),
            file_jobs::eta_ms.eq(None::<i64>),
            file_jobs::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    Ok((n == 1).then(|| Claim {
        file_id,
        kind,
        version,
        attempt: attempts + 1,
        token,
    }))
}

/// The row of a claim while its lease (token) is held.
#[diesel::dsl::auto_type]
fn held_row<'a>(file_id: &'a str, kind: &'a str, token: &'a str) -> _ {
    file_jobs::table
        .filter(file_jobs::file_id.eq(file_id))
        .filter(file_jobs::kind.eq(kind))
        .filter(file_jobs::lease_token.eq(token))
}

impl Claim {
    fn row(&self) -> held_row<'_> {
        held_row(&self.file_id, self.kind.as_str(), &self.token)
    }

    fn queued(&self, run_after: i64) -> Queued {
        Queued {
            file_id: self.file_id.clone(),
            kind: self.kind,
            version: self.version,
            run_after,
        }
    }
}

/// Extends the lease and records progress; false when the lease is lost.
pub async fn heartbeat(
    conn: &mut Conn,
    claim: &Claim,
    lease: Duration,
    progress: Option<(i32, Option<i64>)>,
) -> Result<bool> {
    let now = now_ms();
    let until = now + lease.as_millis() as i64;
    let n = match progress {
        Some((pct, eta)) => with_conn!(conn, c => diesel::update(claim.row())
            .set((
                file_jobs::lease_until.eq(until),
                file_jobs::progress.eq(pct.clamp(0, 100)),
                file_jobs::eta_ms.eq(eta),
                file_jobs::updated_at.eq(now),
            ))
            .execute(c)
            .await)?,
        None => with_conn!(conn, c => diesel::update(claim.row())
            .set(file_jobs::lease_until.eq(until))
            .execute(c)
            .await)?,
    };
    Ok(n == 1)
}

/// How a run ended, as the queue records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Done,
    Skipped(String),
    /// Try again later (counts as an attempt); fails for good after [`MAX_ATTEMPTS`].
    Retry(String),
    Failed(String),
}

impl From<&Error> for Settle {
    /// A domain failure ends the run by its meaning: what may pass (a service down, a full
    /// disk) is retried, anything else fails for good. The text is the error's sentence.
    fn from(e: &Error) -> Settle {
        if e.is_transient() {
            Settle::Retry(e.to_string())
        } else {
            Settle::Failed(e.to_string())
        }
    }
}

impl From<Error> for Settle {
    fn from(e: Error) -> Settle {
        Settle::from(&e)
    }
}

/// What [`settle`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The lease was lost (re-requested or reaped): nothing was recorded.
    Superseded,
    /// Done, skipped or failed for good.
    Final,
    /// Queued again for a later attempt; announce it once the transaction commits.
    Retrying(Queued),
}

impl Settled {
    /// Whether the lease was still held, i.e. the outcome was recorded.
    pub fn held(&self) -> bool {
        *self != Settled::Superseded
    }
}

/// Records how the claimed run ended, if the lease is still held. Call inside the transaction
/// that writes the job's results, and write them only when [`Settled::held`].
pub async fn settle(
    conn: &mut Conn,
    claim: &Claim,
    outcome: &Settle,
    retry_base: Duration,
) -> Result<Settled> {
    let now = now_ms();
    let (status, error, run_after) = match outcome {
        Settle::Done => (JobStatus::Done, None, now),
        Settle::Skipped(reason) => (JobStatus::Skipped, Some(reason.clone()), now),
        Settle::Retry(reason) if claim.attempt < MAX_ATTEMPTS => {
            let delay = backoff(retry_base, claim.attempt).as_millis() as i64;
            (JobStatus::Queued, Some(reason.clone()), now + delay)
        }
        Settle::Retry(reason) | Settle::Failed(reason) => {
            (JobStatus::Failed, Some(reason.clone()), now)
        }
    };
    let done_version = (status == JobStatus::Done).then_some(claim.version);
    let progress = if status == JobStatus::Done { 100 } else { 0 };
    let n = with_conn!(conn, c => diesel::update(claim.row())
        .set((
            file_jobs::status.eq(status.as_str()),
            file_jobs::error.eq(error),
            file_jobs::run_after.eq(run_after),
            file_jobs::progress.eq(progress),
            file_jobs::eta_ms.eq(None::<i64>),
            file_jobs::lease_token.eq(None::<String>),
            file_jobs::lease_until.eq(None::<i64>),
            file_jobs::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    if n == 0 {
        return Ok(Settled::Superseded);
    }
    if done_version.is_some() {
        with_conn!(conn, c => diesel::update(file_jobs::table.find((&claim.file_id, claim.kind.as_str())))
            .set(file_jobs::done_version.eq(done_version))
            .execute(c)
            .await)?;
    }
    Ok(if status == JobStatus::Queued {
        Settled::Retrying(claim.queued(run_after))
    } else {
        Settled::Final
    })
}

/// Gives a claimed job back without counting the attempt (used at shutdown); returns the job to
/// announce again.
pub async fn release(conn: &mut Conn, claim: &Claim) -> Result<Queued> {
    let now = now_ms();
    with_conn!(conn, c => diesel::update(claim.row())
        .set((
            file_jobs::status.eq(JobStatus::Queued.as_str()),
            file_jobs::attempts.eq(file_jobs::attempts - 1),
            file_jobs::lease_token.eq(None::<String>),
            file_jobs::lease_until.eq(None::<i64>),
            file_jobs::run_after.eq(now),
            file_jobs::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    Ok(claim.queued(now))
}

/// What one pass of [`reap`] did.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Jobs out of attempts, now failed.
    pub failed: usize,
    /// Jobs queued again, to announce.
    pub requeued: Vec<Queued>,
}

/// Which leases [`reap`] takes back.
pub enum Reap<'a> {
    /// Leases that expired: their worker stopped heartbeating.
    Expired,
    /// Every lease of this slot's earlier holders (see [`Instance::slot_pattern`]): they died.
    DeadSlot(&'a Instance),
}

/// Re-queues the jobs of leases that are dead; those out of attempts fail.
pub async fn reap(db: &Db, which: Reap<'_>) -> Result<Reaped> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let (held_until_before, tokens, reason) = match which {
        Reap::Expired => (
            now,
            "%".to_owned(),
            "the worker stopped answering (lease expired)",
        ),
        Reap::DeadSlot(instance) => (
            i64::MAX,
            instance.slot_pattern(),
            "the worker's process ended while running it",
        ),
    };
    let expired = file_jobs::status
        .eq(JobStatus::Processing.as_str())
        .and(file_jobs::lease_until.lt(held_until_before))
        .and(file_jobs::lease_token.like(tokens.as_str()));
    let failed = with_conn!(&mut *tx, c => diesel::update(file_jobs::table.filter(expired).filter(file_jobs::attempts.ge(MAX_ATTEMPTS)))
        .set((
            file_jobs::status.eq(JobStatus::Failed.as_str()),
            file_jobs::error.eq(reason),
            file_jobs::lease_token.eq(None::<String>),
            file_jobs::lease_until.eq(None::<i64>),
            file_jobs::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    let rows: Vec<(String, String, i32)> = with_conn!(&mut *tx, c => file_jobs::table
        .filter(expired)
        .select((file_jobs::file_id, file_jobs::kind, file_jobs::version))
        .load(c)
        .await)?;
    with_conn!(&mut *tx, c => diesel::update(file_jobs::table.filter(expired))
        .set((
            file_jobs::status.eq(JobStatus::Queued.as_str()),
            file_jobs::lease_token.eq(None::<String>),
            file_jobs::lease_until.eq(None::<i64>),
            file_jobs::run_after.eq(now),
            file_jobs::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    tx.commit().await?;
    let requeued = rows
        .into_iter()
        .filter_map(|(file_id, kind, version)| Queued::from_row(file_id, &kind, version, now))
        .collect();
    Ok(Reaped { failed, requeued })
}

/// One page of the queued jobs, ordered by (kind, file), after the `after` key: what a
/// dispatching queue re-announces when it may have lost its copy.
pub async fn queued_page(
    conn: &mut Conn,
    after: Option<&(String, String)>,
    limit: i64,
) -> Result<Vec<Queued>> {
    let (kind_after, file_after) = after.cloned().unwrap_or_default();
    let rows: Vec<(String, String, i32, i64)> = with_conn!(conn, c => file_jobs::table
        .filter(file_jobs::status.eq(JobStatus::Queued.as_str()))
        .filter(
            file_jobs::kind
                .gt(&kind_after)
                .or(file_jobs::kind.eq(&kind_after).and(file_jobs::file_id.gt(&file_after))),
        )
        .order((file_jobs::kind, file_jobs::file_id))
        .limit(limit)
        .select((file_jobs::file_id, file_jobs::kind, file_jobs::version, file_jobs::run_after))
        .load(c)
        .await)?;
    Ok(queued_rows(rows))
}

/// Queued jobs from `(file_id, kind, version, run_after)` rows (unknown kinds dropped).
fn queued_rows(rows: Vec<(String, String, i32, i64)>) -> Vec<Queued> {
    rows.into_iter()
        .filter_map(|(file_id, kind, version, run_after)| {
            Queued::from_row(file_id, &kind, version, run_after)
        })
        .collect()
}

/// Up to `limit` queued jobs of `kinds` that have been due since before `due_before`: jobs a
/// dispatching queue should have handed to a worker by then.
pub async fn overdue(
    conn: &mut Conn,
    kinds: &[JobKind],
    due_before: i64,
    limit: i64,
) -> Result<Vec<Queued>> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let rows: Vec<(String, String, i32, i64)> = with_conn!(conn, c => file_jobs::table
        .filter(file_jobs::status.eq(JobStatus::Queued.as_str()))
        .filter(file_jobs::kind.eq_any(&kinds))
        .filter(file_jobs::run_after.lt(due_before))
        .order(file_jobs::run_after)
        .limit(limit)
        .select((file_jobs::file_id, file_jobs::kind, file_jobs::version, file_jobs::run_after))
        .load(c)
        .await)?;
    Ok(queued_rows(rows))
}

/// The job rows of these files.
pub async fn states_of(conn: &mut Conn, file_ids: &[String]) -> Result<Vec<JobState>> {
    if file_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(with_conn!(conn, c => file_jobs::table
        .filter(file_jobs::file_id.eq_any(file_ids))
        .select(JobState::as_select())
        .load(c)
        .await)?)
}

/// Row counts per kind and status.
pub async fn counts(conn: &mut Conn) -> Result<Vec<(JobKind, JobStatus, i64)>> {
    let rows: Vec<(String, String, i64)> = with_conn!(conn, c => file_jobs::table
        .group_by((file_jobs::kind, file_jobs::status))
        .select((file_jobs::kind, file_jobs::status, diesel::dsl::count_star()))
        .order((file_jobs::kind, file_jobs::status))
        .load(c)
        .await)?;
    rows.into_iter()
        .map(|(kind, status, count)| {
            Ok((
                JobKind::try_from(kind).map_err(Error::Internal)?,
                JobStatus::try_from(status).map_err(Error::Internal)?,
                count,
            ))
        })
        .collect()
}

/// Whose job rows [`delete_jobs`] removes.
pub enum JobsOf<'a> {
    /// One file and the files derived from it.
    File(&'a str),
    /// Every file of a library.
    Library(&'a str),
}

/// Deletes job rows ahead of the files they belong to, in the same transaction. A worker locks
/// its job row and then the file (to record a result or queue the next stage); a file or
/// library delete that let the cascade reach the job rows last would take the same locks the
/// other way round and could deadlock with it.
pub async fn delete_jobs(conn: &mut Conn, of: JobsOf<'_>) -> Result<()> {
    match of {
        JobsOf::File(id) => with_conn!(conn, c => diesel::delete(file_jobs::table.filter(
            file_jobs::file_id.eq(id).or(file_jobs::file_id
                .eq_any(files::table.filter(files::source_file_id.eq(id)).select(files::id))),
        ))
        .execute(c)
        .await)?,
        JobsOf::Library(id) => with_conn!(conn, c => diesel::delete(file_jobs::table.filter(
            file_jobs::file_id
                .eq_any(files::table.filter(files::library_id.eq(id)).select(files::id)),
        ))
        .execute(c)
        .await)?,
    };
    Ok(())
}

/// Job rows of every library changed after `since_ms`, with their library, oldest change first
/// (the newest 500: newest first in the query, so that a burst of changes, a library
/// reprocessed, cannot hide later ones): what the live feed's one poller reads for every
/// socket of the process.
pub async fn changed_all(conn: &mut Conn, since_ms: i64) -> Result<Vec<(String, JobState)>> {
    Ok(with_conn!(conn, c => file_jobs::table
        .inner_join(files::table)
        .filter(file_jobs::updated_at.gt(since_ms))
        .order((file_jobs::updated_at.desc(), file_jobs::file_id.desc()))
        .limit(500)
        .select((files::library_id, JobState::as_select()))
        .load::<(String, JobState)>(c)
        .await)?
    .into_iter()
    .rev()
    .collect())
}

/// Failed jobs, most recent first.
pub async fn failed(conn: &mut Conn, limit: i64) -> Result<Vec<JobState>> {
    Ok(with_conn!(conn, c => file_jobs::table
        .filter(file_jobs::status.eq(JobStatus::Failed.as_str()))
        .order(file_jobs::updated_at.desc())
        .limit(limit)
        .select(JobState::as_select())
        .load(c)
        .await)?)
}

/// Deletes one job row; false when there was none.
pub async fn remove(conn: &mut Conn, file_id: &str, kind: JobKind) -> Result<bool> {
    let n = with_conn!(conn, c => diesel::delete(file_jobs::table.find((file_id, kind.as_str()))).execute(c).await)?;
    Ok(n > 0)
}

/// Deletes every failed job row; returns how many.
pub async fn purge_failed(conn: &mut Conn) -> Result<usize> {
    Ok(
        with_conn!(conn, c => diesel::delete(file_jobs::table.filter(file_jobs::status.eq(JobStatus::Failed.as_str())))
        .execute(c)
        .await)?,
    )
}
