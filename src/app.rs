//! The application context shared by the server and the workers: configuration, database,
//! queue, blob storage, cookie codec and login throttle.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use crate::auth::cookie::{SessionCookie, load_or_create_secret};
use crate::auth::throttle::LoginThrottle;
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
    pub cookies: SessionCookie,
    pub throttle: LoginThrottle,
    /// Resumable uploads being written by a request of this process.
    pub tus_locks: crate::api::tus::UploadLocks,
    /// Tells this process's import watcher that a library was bound or unbound.
    pub import_bindings: tokio::sync::Notify,
    /// Held by the import scan running in this process.
    pub import_scan: tokio::sync::Mutex<()>,
    /// Image proxy renders in progress, so identical requests share one.
    pub renders: crate::api::media::Renders,
    /// This process's folder for temporary files (uploads being received, scratch copies,
    /// transcodes) in `<data dir>/tmp`; those of stopped processes are removed at open.
    pub scratch: ScratchDir,
    /// The live feed's one poller, shared by every WebSocket of this process.
    pub live: crate::api::live::LiveFeed,
    /// The CPU budget of model runs.
    pub ml_slots: crate::ml::CpuSlots,
    /// The proxy to the web UI, when `web` is not `off`.
    pub web: Option<crate::web::proxy::WebProxy>,
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
        let secret = load_or_create_secret(config.session_secret.as_deref(), &config.data_dir)?;
        let cookies = SessionCookie::new(&secret, config.secure_cookies(), config.session_days);
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
        let web = (config.web != crate::config::WebMode::Off).then(|| {
            crate::web::proxy::WebProxy::new(
                config.web_listen,
                config.secure_cookies(),
                config.trust_proxy,
                std::time::Duration::from_secs(config.request_timeout_secs),
            )
        });
        let renders = crate::api::media::Renders::new(config.image_cache_mb << 20);
        let app = App {
            config,
            db,
            queue,
            storage,
            instance,
            disk,
            cookies,
            throttle: LoginThrottle::default(),
            tus_locks: Default::default(),
            import_bindings: tokio::sync::Notify::new(),
            import_scan: tokio::sync::Mutex::new(()),
            renders,
            scratch,
            live: Default::default(),
            ml_slots,
            web,
        };
        match crate::files::ingest::sweep_orphans(&app).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!("removed {n} blob(s) a stopped process stored without a row"),
            Err(e) => tracing::warn!("looking for blobs of stopped uploads: {e:?}"),
        }
        Ok(app)
    }
}
