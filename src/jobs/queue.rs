//! The job queue: how queued jobs reach workers. The `file_jobs` rows are the truth in both
//! back-ends (status, version, attempts, lease, heartbeat), so losing the queue never loses a
//! job. The embedded back-end claims straight from the rows and wakes workers of this process;
//! the Redis/Dragonfly back-end dispatches through Redis, which wakes idle workers of every
//! process at once and spares the database the scan for work.

use std::time::Duration;

use tokio::sync::Notify;

use super::JobKind;
use super::redis::RedisDispatch;
use super::store::{self, Claim, Lease, Queued, Reap, Reaped};
use crate::db::Db;
use crate::error::Result;

/// How long a job may sit due while workers for its kind are idle before it is re-announced.
pub const OVERDUE_AFTER: Duration = Duration::from_secs(3);

/// Where queued jobs are dispatched from.
pub enum Queue {
    /// Claimed from the job rows in the application database; `Notify` wakes this process's
    /// idle workers.
    Embedded(Notify),
    /// Dispatched through a Redis-protocol server.
    Redis(Box<RedisDispatch>),
}

impl Queue {
    /// Connects to `url` when given (keys under `prefix`), else uses the embedded queue. Redis
    /// is connected lazily, so an unreachable server shows up in `health`, not at start-up.
    pub fn open(url: Option<&str>, prefix: &str) -> Result<Queue, String> {
        match url {
            None => Ok(Queue::Embedded(Notify::new())),
            Some(url) => Ok(Queue::Redis(Box::new(RedisDispatch::open(url, prefix)?))),
        }
    }

    /// Short name for `health` and `doctor`.
    pub fn name(&self) -> &'static str {
        match self {
            Queue::Embedded(_) => "embedded",
            Queue::Redis(_) => "redis",
        }
    }

    /// Checks the queue answers (`PING` for Redis).
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            Queue::Embedded(_) => Ok(()),
            Queue::Redis(redis) => redis.ping().await,
        }
    }

    /// Tells workers about jobs committed as queued. Never fails: a job the queue missed is
    /// still queued in the database and is re-announced by [`Queue::reconcile`].
    pub async fn announce(&self, jobs: &[Queued]) {
        if jobs.is_empty() {
            return;
        }
        match self {
            Queue::Embedded(wake) => wake.notify_one(),
            Queue::Redis(redis) => {
                // A failure is logged once by the dispatcher; the jobs are re-announced.
                if let Err(e) = redis.push(jobs).await {
                    tracing::debug!("announcing {} jobs to redis: {e:?}", jobs.len());
                }
            }
        }
    }

    /// Claims up to `max` due jobs of `kind` under `lease`, oldest first.
    pub async fn claim(
        &self,
        db: &Db,
        kind: JobKind,
        max: usize,
        lease: Lease<'_>,
    ) -> Result<Vec<Claim>> {
        match self {
            Queue::Embedded(_) => store::claim(db, kind, max, lease).await,
            Queue::Redis(redis) => {
                let mut claims = Vec::new();
                while claims.len() < max {
                    match redis.claim(db, kind, lease).await? {
                        Some(claim) => claims.push(claim),
                        None => break,
                    }
                }
                Ok(claims)
            }
        }
    }

    /// Waits up to `timeout` for jobs to be announced.
    pub async fn wait(&self, timeout: Duration) {
        match self {
            Queue::Embedded(wake) => {
                let _ = tokio::time::timeout(timeout, wake.notified()).await;
            }
            Queue::Redis(redis) => redis.wait(timeout).await,
        }
    }

    /// Re-queues the jobs of dead leases and announces them; says in the log what it did (and
    /// what failed: the next round tries again) and returns it.
    pub async fn reap(&self, db: &Db, which: Reap<'_>) -> Reaped {
        let whose = match which {
            Reap::Expired => "whose worker stopped answering",
            Reap::DeadSlot(_) => "left running by a stopped process",
        };
        match store::reap(db, which).await {
            Ok(reaped) => {
                if reaped.failed + reaped.requeued.len() > 0 {
                    tracing::warn!(
                        "re-queued {} and failed {} jobs {whose}",
                        reaped.requeued.len(),
                        reaped.failed
                    );
                }
                self.announce(&reaped.requeued).await;
                reaped
            }
            Err(e) => {
                tracing::warn!("re-queueing jobs {whose}: {e:?}");
                Reaped::default()
            }
        }
    }

    /// Gives a claimed job back without spending an attempt and announces it again.
    pub async fn release(&self, db: &Db, claim: &Claim) -> Result<()> {
        let queued = store::release(&mut db.conn().await?, claim).await?;
        self.announce(&[queued]).await;
        Ok(())
    }

    /// Re-announces jobs of `kinds` that have been due for a while yet no worker took (a
    /// worker killed between Redis's pop and its lease, a Redis restored from an older
    /// snapshot); returns how many. Call when workers for those kinds sit idle.
    pub async fn recover_overdue(&self, db: &Db, kinds: &[JobKind]) -> Result<usize> {
        let Queue::Redis(redis) = self else {
            return Ok(0);
        };
        if kinds.is_empty() {
            return Ok(0);
        }
        let due_before = crate::db::now_ms() - OVERDUE_AFTER.as_millis() as i64;
        let overdue = store::overdue(&mut db.conn().await?, kinds, due_before, 1000).await?;
        if !overdue.is_empty() {
            redis.push(&overdue).await?;
        }
        Ok(overdue.len())
    }

    /// Re-announces every queued job, for when the dispatcher may have lost some (a Redis
    /// restart without persistence, a crash between commit and announce); returns how many.
    pub async fn reconcile(&self, db: &Db) -> Result<usize> {
        match self {
            Queue::Embedded(_) => Ok(0),
            Queue::Redis(redis) => redis.reconcile(db).await,
        }
    }
}
