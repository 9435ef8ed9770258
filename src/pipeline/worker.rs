//! The worker pool: claims jobs per kind up to that kind's concurrency, runs each under a time
//! budget with a heartbeat that extends its lease and publishes progress, records the outcome
//! (and the next stage) while the lease is held, reaps expired leases, and on shutdown lets
//! running jobs finish within the grace period, releasing the rest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::Progress;
use super::stages;
use crate::activity::{self, ActivityKind};
use crate::app::App;
use crate::error::Result;
use crate::files;
use crate::jobs::JobKind;
use crate::jobs::store::{self, Claim, Lease, Reap, Settle, Settled};
use crate::storage::BlobKey;

/// How often expired leases are looked for.
const REAP_EVERY: Duration = Duration::from_secs(5);
/// How often a dispatching queue (Redis) is handed every queued job again, in case it missed
/// an announcement.
const RECONCILE_EVERY: Duration = Duration::from_secs(300);
/// How often idle workers look for due jobs the queue never handed out (see
/// [`crate::jobs::queue::Queue::recover_overdue`]).
const RECOVER_EVERY: Duration = Duration::from_secs(2);
/// How long the search embedder waits after being woken, gathering the texts of stages that
/// finish meanwhile.
const EMBED_DELAY: Duration = Duration::from_secs(1);

/// Runs workers until `stop` turns true.
pub async fn run(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let limits: HashMap<JobKind, Arc<Semaphore>> = JobKind::ALL
        .iter()
        .map(|k| (*k, Arc::new(Semaphore::new(k.concurrency()))))
        .collect();
    let mut running: JoinSet<()> = JoinSet::new();
    let mut claims: HashMap<tokio::task::Id, Claim> = HashMap::new();
    let mut last_reap = Instant::now() - REAP_EVERY;
    let mut last_reconcile = Instant::now() - RECONCILE_EVERY;
    let mut last_recover = Instant::now();
    let poll = Duration::from_millis(app.config.job_poll_ms);
    let mut backoff = Backoff::default();
    // A job that ends frees its kind's slot: the loop looks for more work at once rather than
    // at the next poll (a stage that queues nothing after it announces nothing).
    let finished = Arc::new(Notify::new());
    tracing::info!("workers started");
    let db = app.db.clone();
    tokio::spawn(async move {
        match crate::search::index_missing(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("indexed {n} files for search"),
            Err(e) => tracing::warn!("indexing files for search: {e}"),
        }
    });
    let namer = app.clone();
    tokio::spawn(async move {
        match crate::places::name_missing(&namer).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("named the places of {n} files"),
            Err(e) => tracing::warn!("naming places: {e}"),
        }
    });
    tokio::spawn(embed_texts(app.clone(), stop.clone()));
    while !*stop.borrow() {
        if last_reap.elapsed() >= REAP_EVERY {
            last_reap = Instant::now();
            let _ = app.queue.reap(&app.db, Reap::Expired).await;
        }
        if last_reconcile.elapsed() >= RECONCILE_EVERY {
            last_reconcile = Instant::now();
            if let Err(e) = app.queue.reconcile(&app.db).await {
                tracing::warn!("re-announcing queued jobs: {e}");
            }
        }
        while let Some(done) = running.try_join_next_with_id() {
            let id = match done {
                Ok((id, ())) => id,
                Err(e) => e.id(),
            };
            claims.remove(&id);
        }
        let mut claimed = false;
        let mut claim_error = None;
        let mut idle_kinds = Vec::new();
        for kind in JobKind::ALL {
            let free = limits[&kind].available_permits();
            if free == 0 {
                continue;
            }
            let lease = Lease {
                duration: lease(&app),
                holder: &app.instance,
            };
            match app.queue.claim(&app.db, kind, free, lease).await {
                Ok(batch) => {
                    if batch.len() < free {
                        idle_kinds.push(kind);
                    }
                    for claim in batch {
                        claimed = true;
                        // Only this loop takes permits, so the ones counted free are still free.
                        let permit = limits[&kind]
                            .clone()
                            .try_acquire_owned()
                            .expect("a free slot");
                        let (app, job, finished) = (app.clone(), claim.clone(), finished.clone());
                        let handle = running.spawn(async move {
                            run_one(&app, &job).await;
                            drop(permit);
                            finished.notify_one();
                        });
                        claims.insert(handle.id(), claim);
                    }
                }
                Err(e) => claim_error = Some(format!("claiming {} jobs: {e}", kind.as_str())),
            }
        }
        if !claimed && last_recover.elapsed() >= RECOVER_EVERY {
            last_recover = Instant::now();
            match app.queue.recover_overdue(&app.db, &idle_kinds).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    "re-announced {n} queued jobs the queue had not handed to any worker"
                ),
                Err(e) => tracing::debug!("looking for overdue jobs: {e}"),
            }
        }
        let pause = backoff.after(claim_error, poll);
        if !claimed {
            tokio::select! {
                _ = app.queue.wait(pause) => {}
                _ = finished.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }
    shutdown(&app, running, claims).await;
}

/// Claiming that keeps failing (a full disk, a database that is down) waits longer each round,
/// up to [`Backoff::MAX`], and says so once rather than every round.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(30);

    /// How long to wait for new jobs after a round that ended with `error` (or none).
    fn after(&mut self, error: Option<String>, poll: Duration) -> Duration {
        match error {
            None => {
                if self.failures > 0 {
                    tracing::info!("claiming jobs works again");
                }
                self.failures = 0;
                poll
            }
            Some(error) => {
                if self.failures == 0 {
                    tracing::warn!("{error}; backing off until it works again");
                }
                self.failures = self.failures.saturating_add(1);
                poll.saturating_mul(1 << self.failures.min(6))
                    .min(Self::MAX)
            }
        }
    }
}

fn lease(app: &App) -> Duration {
    Duration::from_secs(app.config.job_lease_secs)
}

/// Waits for running jobs within the grace period, then stops them and releases their leases.
async fn shutdown(app: &App, mut running: JoinSet<()>, claims: HashMap<tokio::task::Id, Claim>) {
    let grace = Duration::from_secs(app.config.shutdown_grace_secs);
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        for claim in claims.values() {
            if let Err(e) = app.queue.release(&app.db, claim).await {
                tracing::warn!(
                    "releasing {} of {}: {e}",
                    claim.kind.as_str(),
                    claim.file_id
                );
            }
        }
    }
    tracing::info!("workers stopped");
}

/// Runs one claimed job to its recorded outcome; every error ends up on the job row. A file
/// purged (or a library deleted) while its job ran loses what the job wrote, since the purge
/// could only delete what was there before.
async fn run_one(app: &Arc<App>, claim: &Claim) {
    let (library, outcome) = match load(app, claim).await {
        Ok(file) => (
            Some(file.library_id.clone()),
            execute(app, claim, file).await,
        ),
        Err(settle) => (None, Err(settle)),
    };
    match record(app, claim, outcome).await {
        Ok(Remains::File) => {}
        Ok(Remains::Nothing) => {
            if let Some(library) = library {
                forget_derived(app, &library, &claim.file_id).await;
            }
        }
        Err(e) => tracing::warn!(
            "recording {} of {}: {e}",
            claim.kind.as_str(),
            claim.file_id
        ),
    }
}

/// The claimed job's file, or how the job ends without it.
async fn load(app: &App, claim: &Claim) -> Result<files::File, Settle> {
    let mut conn = app
        .db
        .conn()
        .await
        .map_err(|e| Settle::Retry(format!("database: {e}")))?;
    files::find(&mut conn, &claim.file_id)
        .await
        .map_err(Settle::from)?
        .ok_or_else(|| Settle::Skipped("the file no longer exists".into()))
}

/// Deletes the derived blobs a job wrote for a file that was purged meanwhile.
async fn forget_derived(app: &App, library: &str, file: &str) {
    let deleted = match BlobKey::derived_prefix(library, file) {
        Ok(prefix) => app
            .storage
            .delete_prefix(&prefix)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = deleted {
        tracing::warn!(file, "a purged file's job left derived blobs behind: {e}");
    }
}

/// Runs the handler in its own task (so a panic is contained) under the kind's time budget,
/// heartbeating meanwhile.
async fn execute(
    app: &Arc<App>,
    claim: &Claim,
    file: files::File,
) -> Result<stages::Effect, Settle> {
    let (progress, watcher): (Progress, _) = watch::channel(None);
    let (task_app, kind) = (app.clone(), claim.kind);
    let mut task =
        tokio::spawn(async move { stages::run(&task_app, &file, kind, &progress).await });
    let deadline = tokio::time::sleep(kind.time_budget());
    tokio::pin!(deadline);
    let beat = lease(app) / 3;
    loop {
        tokio::select! {
            joined = &mut task => {
                return joined.unwrap_or_else(|e| Err(Settle::Failed(format!("the job crashed: {e}"))));
            }
            _ = &mut deadline => {
                task.abort();
                return Err(Settle::Retry(format!("took longer than {:?}", kind.time_budget())));
            }
            _ = tokio::time::sleep(beat) => {
                let progress = *watcher.borrow();
                let held = match app.db.conn().await {
                    Ok(mut conn) => store::heartbeat(&mut conn, claim, lease(app), progress).await.unwrap_or(true),
                    Err(_) => true,
                };
                if !held {
                    task.abort();
                    return Err(Settle::Skipped("superseded".into()));
                }
            }
        }
    }
}

/// Whether the job's file was still there when its outcome was recorded.
enum Remains {
    File,
    Nothing,
}

/// Gives new texts their meaning for search (see [`crate::search::meaning`]) at start and
/// whenever a stage found some, until `stop` turns true.
async fn embed_texts(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        match crate::search::meaning::embed_missing(&app).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!("embedded {n} texts for search"),
            Err(e) => tracing::warn!("embedding texts for search: {e}"),
        }
        tokio::select! {
            _ = app.new_texts.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        // Files finish stages one after another during an import: one round of looking for
        // texts without a vector serves all that finish meanwhile.
        tokio::select! {
            _ = tokio::time::sleep(EMBED_DELAY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Settles the claim; on success writes the effect and queues the next stage in the same
/// transaction, only while the lease is still held.
async fn record(
    app: &App,
    claim: &Claim,
    outcome: Result<stages::Effect, Settle>,
) -> Result<Remains> {
    let retry_base = Duration::from_millis(app.config.job_retry_base_ms);
    let mut tx = app.db.begin().await?;
    let settle = outcome
        .as_ref()
        .map(|_| Settle::Done)
        .unwrap_or_else(|s| s.clone());
    let settled = store::settle(&mut tx, claim, &settle, retry_base).await?;
    let file = files::find(&mut tx, &claim.file_id).await?;
    let remains = match file {
        Some(_) => Remains::File,
        None => Remains::Nothing,
    };
    if !settled.held() {
        tracing::info!(
            "{} of {} v{} was superseded; result dropped",
            claim.kind.as_str(),
            claim.file_id,
            claim.version
        );
        tx.commit().await?;
        return Ok(remains);
    }
    let mut queued = Vec::new();
    let retrying = matches!(settled, Settled::Retrying(_));
    if let Settled::Retrying(retry) = settled {
        queued.push(retry);
    }
    if let Ok(effect) = &outcome
        && let Some(file) = &file
    {
        stages::apply(
            &mut tx,
            file,
            effect,
            crate::people::cluster::Params::from_config(&app.config),
        )
        .await?;
        if claim.kind.is_searchable() {
            crate::search::refresh(&mut tx, std::slice::from_ref(&file.id)).await?;
        }
    }
    // A stage that does not apply to this file hands it on like a finished one, and so does
    // one that failed for good when later stages do not need what it makes.
    let advance = match &outcome {
        Ok(_) | Err(Settle::Skipped(_)) => file.is_some(),
        Err(_) if !retrying && !claim.kind.needed_later() => file.is_some(),
        Err(_) => false,
    };
    if advance {
        // What the stage wrote (a file's kind, its streams) decides which stages apply next.
        let file = match claim.kind {
            JobKind::Metadata => files::find(&mut tx, &claim.file_id).await?,
            _ => file,
        };
        let mut next = claim.kind.next();
        while let (Some(kind), Some(file)) = (next, &file) {
            match stages::inapplicable(app, &mut tx, file, kind).await? {
                Some(why) => store::skip(&mut tx, &file.id, kind, &why).await?,
                None => break,
            }
            next = kind.next();
        }
        match next {
            Some(next) => queued.push(store::enqueue(&mut tx, &claim.file_id, next).await?),
            None => {
                if let Some(file) = &file {
                    let subject = Some((file.id.as_str(), file.name.as_str()));
                    activity::record(
                        &mut tx,
                        &file.library_id,
                        None,
                        ActivityKind::FileProcessed,
                        subject,
                    )
                    .await?;
                }
            }
        }
    }
    tx.commit().await?;
    match &settle {
        Settle::Failed(reason) | Settle::Retry(reason) => {
            tracing::warn!(
                "{} of {} (attempt {}): {reason}",
                claim.kind.as_str(),
                claim.file_id,
                claim.attempt
            )
        }
        Settle::Done if claim.kind.is_searchable() => app.new_texts.notify_one(),
        Settle::Done | Settle::Skipped(_) => {}
    }
    app.queue.announce(&queued).await;
    Ok(remains)
}
