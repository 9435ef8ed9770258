//! Job dispatch through Redis/Dragonfly. Per kind a sorted set holds `file|version` members
//! scored by when they may run; a Lua script pops the earliest due one atomically, and the
//! worker then takes the lease on the job row, so a stale or duplicate member is simply
//! dropped. Idle workers of every process block on a wake list. An epoch key tells when Redis
//! lost its data (restart without persistence, flush): every queued row is then re-announced.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bb8_redis::RedisConnectionManager;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use super::JobKind;
use super::store::{self, Claim, Lease, Queued};
use crate::db::{Db, now_ms};
use crate::error::{Error, Result};

/// Pops the earliest due member of KEYS[1]; -1 when the epoch key KEYS[2] is missing.
const POP_DUE: &str = r"
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return 0 end
redis.call('ZREM', KEYS[1], due[1])
return due[1]
";

/// Stale members popped per claim before giving the turn back.
const MAX_STALE_POPS: usize = 64;
/// Queued rows re-announced per round trip by [`RedisDispatch::reconcile`].
const RECONCILE_PAGE: i64 = 1000;
/// Wake tokens kept for workers that are not listening yet.
const MAX_WAKE_TOKENS: isize = 64;

/// The Redis side of the queue: a connection pool for commands and one connection, without the
/// 500 ms response timeout of redis 1.x, for the blocking wait.
pub struct RedisDispatch {
    client: redis::Client,
    pool: bb8::Pool<RedisConnectionManager>,
    waiter: Mutex<Option<MultiplexedConnection>>,
    prefix: String,
    /// Until when (ms since the epoch) Redis counts as down after a failure: requests then
    /// skip it at once instead of each waiting for a connection (the jobs are in the database
    /// and are re-announced once it is back).
    down_until: AtomicI64,
}

/// How long Redis counts as down after a failed command.
const DOWN_FOR: Duration = Duration::from_secs(5);
/// Longest wait for a pooled connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What the pop script found.
enum Popped {
    /// Redis lost its data since it was last reconciled.
    Lost,
    Empty,
    Job(String, i32),
}

fn redis_error(e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("queue: {e}"))
}

impl RedisDispatch {
    /// A lazily connecting pool for `url`, with keys under `prefix:`.
    pub fn open(url: &str, prefix: &str) -> Result<RedisDispatch, String> {
        let client = redis::Client::open(url).map_err(|e| format!("ALCOVES_QUEUE_URL: {e}"))?;
        let manager =
            RedisConnectionManager::new(url).map_err(|e| format!("ALCOVES_QUEUE_URL: {e}"))?;
        let pool = bb8::Pool::builder()
            .max_size(8)
            .connection_timeout(CONNECT_TIMEOUT)
            .build_unchecked(manager);
        Ok(RedisDispatch {
            client,
            pool,
            waiter: Mutex::new(None),
            prefix: prefix.to_owned(),
            down_until: AtomicI64::new(0),
        })
    }

    fn ready_key(&self, kind: JobKind) -> String {
        format!("{}:ready:{}", self.prefix, kind.as_str())
    }

    fn wake_key(&self) -> String {
        format!("{}:wake", self.prefix)
    }

    fn epoch_key(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    /// A pooled connection, unless Redis failed moments ago.
    async fn conn(&self) -> Result<bb8::PooledConnection<'_, RedisConnectionManager>> {
        let down_until = self.down_until.load(Ordering::Relaxed);
        if now_ms() < down_until {
            return Err(redis_error("redis is down; retrying in a few seconds"));
        }
        match self.pool.get().await {
            Ok(conn) => {
                if down_until != 0 && self.down_until.swap(0, Ordering::Relaxed) != 0 {
                    tracing::info!("the redis queue answers again");
                }
                Ok(conn)
            }
            Err(e) => {
                let until = now_ms() + DOWN_FOR.as_millis() as i64;
                if self.down_until.swap(until, Ordering::Relaxed) == 0 {
                    tracing::warn!("the redis queue is down ({e}); jobs wait in the database");
                }
                Err(redis_error(e))
            }
        }
    }

    /// `PING`, answered within a second (at once while Redis counts as down).
    pub async fn ping(&self) -> Result<(), String> {
        let ping = async {
            let mut conn = self.conn().await.map_err(|e| format!("{e:?}"))?;
            redis::cmd("PING")
                .query_async::<String>(&mut *conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        tokio::time::timeout(CONNECT_TIMEOUT, ping)
            .await
            .unwrap_or_else(|_| Err("no answer within a second".into()))
    }

    /// Adds the jobs to their kind's set (a later time wins, so a retry's back-off is kept) and
    /// wakes idle workers.
    pub async fn push(&self, jobs: &[Queued]) -> Result<()> {
        let mut pipe = redis::pipe();
        for job in jobs {
            pipe.cmd("ZADD")
                .arg(self.ready_key(job.kind))
                .arg("GT")
                .arg(job.run_after)
                .arg(format!("{}|{}", job.file_id, job.version))
                .ignore();
        }
        let tokens = vec!["1"; jobs.len().min(MAX_WAKE_TOKENS as usize)];
        pipe.cmd("RPUSH").arg(self.wake_key()).arg(tokens).ignore();
        pipe.cmd("LTRIM")
            .arg(self.wake_key())
            .arg(-MAX_WAKE_TOKENS)
            .arg(-1)
            .ignore();
        pipe.query_async::<()>(&mut *self.conn().await?)
            .await
            .map_err(redis_error)
    }

    async fn pop(&self, kind: JobKind) -> Result<Popped> {
        let reply: redis::Value = redis::cmd("EVAL")
            .arg(POP_DUE)
            .arg(2)
            .arg(self.ready_key(kind))
            .arg(self.epoch_key())
            .arg(now_ms())
            .query_async(&mut *self.conn().await?)
            .await
            .map_err(redis_error)?;
        Ok(match reply {
            redis::Value::Int(-1) => Popped::Lost,
            redis::Value::BulkString(member) => {
                let member = String::from_utf8_lossy(&member);
                match member.rsplit_once('|').map(|(f, v)| (f, v.parse())) {
                    Some((file, Ok(version))) => Popped::Job(file.to_owned(), version),
                    _ => {
                        tracing::warn!("dropping malformed queue entry {member:?}");
                        Popped::Empty
                    }
                }
            }
            _ => Popped::Empty,
        })
    }

    /// Pops due members until one names a job that is still queued at that version, and takes
    /// its lease.
    pub async fn claim(&self, db: &Db, kind: JobKind, lease: Lease<'_>) -> Result<Option<Claim>> {
        for _ in 0..MAX_STALE_POPS {
            match self.pop(kind).await? {
                Popped::Empty => return Ok(None),
                Popped::Lost => {
                    let n = self.reconcile(db).await?;
                    tracing::warn!("the redis queue lost its data; re-announced {n} queued jobs");
                }
                Popped::Job(file, version) => {
                    if let Some(claim) =
                        store::claim_version(db, &file, kind, version, lease).await?
                    {
                        return Ok(Some(claim));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Blocks on the wake list for up to `timeout` (on a connection whose response timeout
    /// allows it); after an error, just sleeps and reconnects next time.
    pub async fn wait(&self, timeout: Duration) {
        let mut waiter = self.waiter.lock().await;
        if waiter.is_none() {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(3)))
                .set_response_timeout(Some(timeout + Duration::from_secs(5)));
            *waiter = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .ok();
        }
        let Some(conn) = waiter.as_mut() else {
            tokio::time::sleep(timeout).await;
            return;
        };
        let woke = redis::cmd("BLPOP")
            .arg(self.wake_key())
            .arg(timeout.as_secs_f64())
            .query_async::<Option<(String, String)>>(conn)
            .await;
        if woke.is_err() {
            *waiter = None;
            tokio::time::sleep(timeout).await;
        }
    }

    /// Re-announces every queued row, then marks Redis as holding them (the epoch key).
    pub async fn reconcile(&self, db: &Db) -> Result<usize> {
        let mut after = None;
        let mut total = 0;
        loop {
            let page =
                store::queued_page(&mut db.conn().await?, after.as_ref(), RECONCILE_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.kind.as_str().to_owned(), last.file_id.clone()));
            self.push(&page).await?;
            total += page.len();
        }
        redis::cmd("SET")
            .arg(self.epoch_key())
            .arg(now_ms())
            .query_async::<()>(&mut *self.conn().await?)
            .await
            .map_err(redis_error)?;
        Ok(total)
    }
}
