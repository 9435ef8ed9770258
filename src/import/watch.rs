//! Keeps imported libraries current while the server runs: a filesystem watcher per bound
//! folder triggers a scan shortly after changes settle, and a periodic rescan catches what the
//! watcher missed (events dropped, network mounts, changes while the server was down).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind, MetadataKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::app::App;

/// How long changes must settle before a watcher-triggered scan.
const SETTLE: Duration = Duration::from_millis(400);
/// How often newly bound or unbound libraries are noticed.
const REFRESH: Duration = Duration::from_secs(30);

/// Whether an event can change what a scan finds (reads, including our own, cannot).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// Runs until `stop` turns true.
pub async fn run(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut watchers: HashMap<String, (PathBuf, Option<RecommendedWatcher>)> = HashMap::new();
    let rescan_every = Duration::from_secs(app.config.import_rescan_minutes.max(1) * 60);
    let mut last_rescan: Option<Instant> = None;
    let mut dirty: HashSet<String> = HashSet::new();
    let mut refresh = tokio::time::interval(REFRESH);
    let mut refresh_now = false;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() {
                    return;
                }
            }
            _ = refresh.tick() => refresh_now = true,
            _ = app.import_bindings.notified() => refresh_now = true,
            Some(id) = rx.recv() => {
                dirty.insert(id);
                // Let a burst of changes (a folder copied in) settle into one scan.
                tokio::time::sleep(SETTLE).await;
                while let Ok(id) = rx.try_recv() {
                    dirty.insert(id);
                }
            }
        }
        if std::mem::take(&mut refresh_now) {
            let bound = match app.db.conn().await {
                Ok(mut conn) => super::bound_libraries(&mut conn).await.unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let newly: Vec<String> = bound
                .iter()
                .filter(|(id, root)| watchers.get(id).is_none_or(|(r, _)| r != root))
                .map(|(id, _)| id.clone())
                .collect();
            watchers.retain(|id, _| bound.iter().any(|(b, _)| b == id));
            for (id, root) in bound {
                if newly.contains(&id) {
                    let watcher = start_watcher(&id, &root, tx.clone());
                    watchers.insert(id.clone(), (root, watcher));
                    dirty.insert(id);
                }
            }
            if last_rescan.is_none_or(|t| t.elapsed() >= rescan_every) {
                last_rescan = Some(Instant::now());
                dirty.extend(watchers.keys().cloned());
            }
        }
        for library in dirty.drain() {
            match super::scan(&app, &library, |_, _| {}).await {
                Ok(r) if r.added + r.changed + r.moved + r.removed > 0 => tracing::info!(
                    library,
                    "import scan: {} added, {} changed, {} moved, {} removed, {} skipped",
                    r.added,
                    r.changed,
                    r.moved,
                    r.removed,
                    r.skipped.len()
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(library, "import scan failed: {e:?}"),
            }
        }
    }
}

/// Watches `root` recursively, sending `library` on every change; None (logged) when the
/// platform refuses, in which case the periodic rescan still runs.
fn start_watcher(
    library: &str,
    root: &std::path::Path,
    tx: mpsc::UnboundedSender<String>,
) -> Option<RecommendedWatcher> {
    let id = library.to_owned();
    let handler = move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| is_change(&e.kind)) {
            let _ = tx.send(id.clone());
        }
    };
    let started = RecommendedWatcher::new(handler, notify::Config::default())
        .and_then(|mut w| w.watch(root, RecursiveMode::Recursive).map(|()| w));
    match started {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(
                library,
                "cannot watch {}: {e}; relying on the periodic rescan",
                root.display()
            );
            None
        }
    }
}
