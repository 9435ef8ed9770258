//! The database: one pool over SQLite (embedded default) or PostgreSQL (scale-out), chosen by URL,
//! with migrations embedded per backend and one query code path through [`with_conn!`].

pub mod cursor;
pub mod schema;

pub use cursor::Cursor;

use std::path::Path;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::with_conn;

/// SQLite connection type used behind the async pool.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Pragmas applied to every SQLite connection when it is opened.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

/// Errors from opening the database or running migrations.
#[derive(Debug)]
pub struct DbSetupError(pub String);

impl std::fmt::Display for DbSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbSetupError {}

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Short lowercase name, as shown by `health` and `doctor`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
enum Pools {
    Pg(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

/// A handle to the connection pool; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
}

/// A pooled connection to either backend. Use [`with_conn!`] to run a query on it.
// A connection lives briefly on one task's stack; boxing would cost an allocation per checkout.
#[allow(clippy::large_enum_variant)]
pub enum Conn {
    Pg(PooledConnection<'static, AsyncPgConnection>),
    Sqlite(PooledConnection<'static, SqliteConn>),
}

/// A connection inside an open transaction. [`Tx::commit`] commits it; dropping it without
/// committing rolls back before the connection returns to the pool. Derefs to [`Conn`], so
/// every query function taking `&mut Conn` runs inside it.
pub struct Tx {
    conn: Option<Conn>,
}

impl Tx {
    /// Commits the transaction.
    pub async fn commit(mut self) -> diesel::QueryResult<()> {
        let mut conn = self.conn.take().expect("transaction is open");
        with_conn!(&mut conn, c => c.batch_execute("COMMIT").await)
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("transaction is open")
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("transaction is open")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            tokio::spawn(async move {
                if let Err(e) = with_conn!(&mut conn, c => c.batch_execute("ROLLBACK").await) {
                    tracing::warn!("rollback failed: {e}");
                }
            });
        }
    }
}

/// Runs the same diesel-async expression on whichever backend the connection is:
/// `with_conn!(conn, c => users::table.count().get_result::<i64>(c).await)`.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match &mut *$conn {
            $crate::db::Conn::Pg($c) => $body,
            $crate::db::Conn::Sqlite($c) => $body,
        }
    };
}

/// Errors from taking a connection out of the pool.
pub type PoolError = bb8::RunError<diesel_async::pooled_connection::PoolError>;

/// Why a transaction could not be opened: no connection, or the `BEGIN` failed.
#[derive(Debug)]
pub enum DbError {
    Pool(PoolError),
    Query(diesel::result::Error),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Pool(e) => write!(f, "database pool: {e}"),
            DbError::Query(e) => write!(f, "database: {e}"),
        }
    }
}

impl Db {
    /// Opens the database named by `url` (`postgres://…` or a SQLite file path), runs pending
    /// migrations and returns the pool.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Db, DbSetupError> {
        let pools = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::migrate_pg(url).await?;
            let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
            Pools::Pg(
                Self::pool_builder(pool_size)
                    .build(manager)
                    .await
                    .map_err(pool_setup_error)?,
            )
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    DbSetupError(format!(
                        "cannot create database directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            Self::migrate_sqlite(path).await?;
            let mut config = ManagerConfig::default();
            config.custom_setup = Box::new(|url| open_sqlite(url.to_owned()).boxed());
            let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
            Pools::Sqlite(
                Self::pool_builder(pool_size)
                    .build(manager)
                    .await
                    .map_err(pool_setup_error)?,
            )
        };
        Ok(Db { pools })
    }

    fn pool_builder<M: bb8::ManageConnection>(size: u32) -> bb8::Builder<M> {
        bb8::Builder::new()
            .max_size(size.max(1))
            // Waiters queue in order; one that waits this long gets a 503 with Retry-After.
            .connection_timeout(Duration::from_secs(5))
    }

    async fn migrate_pg(url: &str) -> Result<(), DbSetupError> {
        let conn = AsyncPgConnection::establish(url)
            .await
            .map_err(|e| DbSetupError(format!("cannot connect to PostgreSQL: {e}")))?;
        run_migrations(conn, POSTGRES_MIGRATIONS).await
    }

    async fn migrate_sqlite(path: &str) -> Result<(), DbSetupError> {
        let conn = open_sqlite(path.to_owned())
            .await
            .map_err(|e| DbSetupError(format!("cannot open SQLite database {path}: {e}")))?;
        run_migrations(conn, SQLITE_MIGRATIONS).await
    }

    /// Which engine this pool talks to.
    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Pg(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Takes a connection from the pool.
    pub async fn conn(&self) -> Result<Conn, PoolError> {
        Ok(match &self.pools {
            Pools::Pg(p) => Conn::Pg(p.get_owned().await?),
            Pools::Sqlite(p) => Conn::Sqlite(p.get_owned().await?),
        })
    }

    /// Opens a transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so
    /// two transactions never deadlock upgrading read locks; the busy timeout makes others wait.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        let mut conn = self.conn().await.map_err(DbError::Pool)?;
        let begin = match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        with_conn!(&mut conn, c => c.batch_execute(begin).await).map_err(DbError::Query)?;
        Ok(Tx { conn: Some(conn) })
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.conn().await.map_err(|e| e.to_string())?;
        with_conn!(&mut conn, c => c.batch_execute("SELECT 1").await).map_err(|e| e.to_string())
    }
}

fn pool_setup_error(e: impl std::fmt::Display) -> DbSetupError {
    DbSetupError(format!("database pool: {e}"))
}

async fn open_sqlite(path: String) -> diesel::ConnectionResult<SqliteConn> {
    let mut conn = SqliteConn::establish(&path).await?;
    conn.batch_execute(SQLITE_PRAGMAS)
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

async fn run_migrations<C>(conn: C, migrations: EmbeddedMigrations) -> Result<(), DbSetupError>
where
    C: AsyncConnection + 'static,
    AsyncMigrationHarness<C>: MigrationHarness<C::Backend>,
{
    let mut harness = AsyncMigrationHarness::new(conn);
    harness
        .run_pending_migrations(migrations)
        .map(|_| ())
        .map_err(|e| DbSetupError(format!("migrations failed: {e}")))
}

/// True when a query failed because the database's disk is full (SQLite's `SQLITE_FULL`,
/// PostgreSQL's `disk_full` and its "No space left on device" I/O errors).
pub fn is_disk_full(e: &diesel::result::Error) -> bool {
    let text = e.to_string();
    text.contains("database or disk is full")
        || text.contains("No space left on device")
        || text.contains("could not extend file")
}

/// Current time in Unix milliseconds, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
