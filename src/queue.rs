//! The job queue's connection: embedded in the database (default) or Redis/Dragonfly. The job
//! system itself builds on this; here it is what `health` and `doctor` check.

use bb8_redis::RedisConnectionManager;

/// Where queued jobs live.
#[derive(Clone)]
pub enum Queue {
    /// Job rows in the application database; reachable whenever the database is.
    Embedded,
    /// A Redis-protocol server.
    Redis(bb8::Pool<RedisConnectionManager>),
}

impl Queue {
    /// Connects to `url` when given, else uses the embedded queue. The pool connects lazily, so
    /// an unreachable Redis shows up in `health`, not as a start-up failure.
    pub fn open(url: Option<&str>) -> Result<Queue, String> {
        let Some(url) = url else {
            return Ok(Queue::Embedded);
        };
        let manager =
            RedisConnectionManager::new(url).map_err(|e| format!("ALCOVES_QUEUE_URL: {e}"))?;
        let pool = bb8::Pool::builder()
            .max_size(8)
            .connection_timeout(std::time::Duration::from_secs(3))
            .build_unchecked(manager);
        Ok(Queue::Redis(pool))
    }

    /// Short name for `health` and `doctor`.
    pub fn name(&self) -> &'static str {
        match self {
            Queue::Embedded => "embedded",
            Queue::Redis(_) => "redis",
        }
    }

    /// Checks the queue answers (`PING` for Redis).
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            Queue::Embedded => Ok(()),
            Queue::Redis(pool) => {
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                redis::cmd("PING")
                    .query_async::<String>(&mut *conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }
}
