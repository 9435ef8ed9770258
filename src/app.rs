//! The application's services, shared by the server, the workers and the CLI: configuration,
//! database, queue, blob storage, scratch space, CPU slots and import coordination.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::jobs::instance::Instance;
use crate::jobs::queue::Queue;
use crate::jobs::store::Reap;
use crate::storage::BlobStore;
use crate::storage::disk::DiskSpace;
use crate::storage::scratch::ScratchDir;

/// Version reported by the API and the CLI.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a request or job needs, opened once at start-up.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub queue: Queue,
    pub storage: Arc<dyn BlobStore>,
    /// This process's worker slot: the prefix of every lease it takes.
    pub instance: Instance,
    /// Free space on the data dir's disk.
    pub disk: DiskSpace,
    /// Tells this process's import watcher that a library was bound or unbound.
    pub import_bindings: tokio::sync::Notify,
    /// Tells this process's workers that files got labels, sounds, names or transcript lines
    /// whose meaning may not be known yet.
    pub new_texts: tokio::sync::Notify,
    /// Held by the import scan running in this process.
    pub import_scan: tokio::sync::Mutex<()>,
    /// This process's folder for temporary files (uploads being received, scratch copies,
    /// transcodes) in `<data dir>/tmp`; those of stopped processes are removed at open.
    pub scratch: ScratchDir,
    /// The CPU budget of model runs.
    pub ml_slots: crate::ml::CpuSlots,
}

impl App {
    /// Opens the data dir, the database (running migrations), the queue and the blob store.
    pub async fn open(config: Config) -> Result<App, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", config.data_dir.display()))?;
        // On a full disk, give the emergency space back before the database needs it (`serve`
        // keeps the emergency file; other commands need not write it).
        let disk = DiskSpace::new(&config.data_dir, config.disk_reserve_mb);
        disk.make_room();
        let db = Db::connect(&config.effective_database_url(), config.database_pool_size)
            .await
            .map_err(|e| e.to_string())?;
        let queue = Queue::open(config.queue_url.as_deref(), &config.queue_prefix)?;
        let instance = Instance::claim(&config.data_dir).map_err(|e| {
            format!(
                "cannot take a worker slot in {}: {e}",
                config.data_dir.display()
            )
        })?;
        // Leases still held under this slot were left by a process that died: no need to wait
        // for them to expire.
        let _ = queue.reap(&db, Reap::DeadSlot(&instance)).await;
        let storage = crate::storage::open(&config).await?;
        let scratch_parent = config.data_dir.join("tmp");
        let scratch = ScratchDir::open(&scratch_parent)
            .map_err(|e| format!("cannot prepare {}: {e}", scratch_parent.display()))?;
        let ml_slots = crate::ml::CpuSlots::new(config.ml_threads);
        let app = App {
            config,
            db,
            queue,
            storage,
            instance,
            disk,
            import_bindings: tokio::sync::Notify::new(),
            new_texts: tokio::sync::Notify::new(),
            import_scan: tokio::sync::Mutex::new(()),
            scratch,
            ml_slots,
        };
        match app.sweep_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!("removed {n} blob(s) a stopped process stored without a row"),
            Err(e) => tracing::warn!("looking for blobs of stopped uploads: {e}"),
        }
        Ok(app)
    }

    /// Removes the blobs that stopped processes stored without committing their rows (killed
    /// between the two), named by the notes they left (see [`ScratchDir::intent`]); returns
    /// how many it removed.
    async fn sweep_orphans(&self) -> crate::error::Result<usize> {
        use crate::db::schema::files;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let mut removed = 0;
        for note in self.scratch.left_behind() {
            let Some((library, id)) = note.split_once('\n') else {
                continue;
            };
            let Ok(key) = crate::storage::BlobKey::original(library, id) else {
                continue;
            };
            let mut conn = self.db.conn().await?;
            let rows: i64 = crate::with_conn!(&mut conn, c => files::table
                .filter(files::id.eq(id))
                .count()
                .get_result(c)
                .await)?;
            if rows == 0 {
                self.storage
                    .delete(&key)
                    .await
                    .map_err(|e| crate::error::Error::blob(&format!("removing orphan {key}"), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
