//! The queue conformance suite, run on the embedded queue and on Redis (each on SQLite and
//! PostgreSQL), and the Redis queue surviving a Redis restart.

use std::sync::Arc;
use std::time::Duration;

use alcoves::app::App;
use alcoves::files::File;
use alcoves::jobs::store::{self, Claim, Settle, Settled};
use alcoves::jobs::{JobKind, JobStatus};

use crate::common::{Backend, RedisServer, Store, TestServer};
use crate::jobs::{job_status, wait_for};
use crate::on_both_backends;

/// Where a test's queue lives.
#[derive(Debug, Clone, Copy)]
enum QueueBackend {
    Embedded,
    Redis,
}

/// The shared Redis started by `.ci/services` (each test uses its own key prefix).
fn shared_redis_url() -> String {
    std::env::var("ALCOVES_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

macro_rules! on_every_queue {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::QueueBackend::{Embedded, Redis};
            use $crate::common::Backend::{Postgres, Sqlite};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded_sqlite() { super::$name(Sqlite, Embedded).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded_postgres() { super::$name(Postgres, Embedded).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_sqlite() { super::$name(Sqlite, Redis).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_postgres() { super::$name(Postgres, Redis).await }
        }
    )*};
}

on_every_queue!(queue_conformance);
on_both_backends!(
    redis_queue_survives_a_restart,
    a_restarted_process_requeues_its_dead_leases_at_once
);

/// An app without workers on `queue_url`, with one user, library and file row, for driving the
/// queue by hand.
async fn queue_fixture(backend: Backend, queue_url: Option<String>) -> (Store, Arc<App>, String) {
    let store = Store::new(backend).await;
    let mut config = store.config();
    config.queue_url = queue_url;
    config.queue_prefix = format!("alcoves-test-{}", uuid::Uuid::new_v4().simple());
    let app = Arc::new(App::open(config).await.unwrap());
    let mut tx = app.db.begin().await.unwrap();
    let user = alcoves::accounts::create(&mut tx, "q", "q", "x".into(), true)
        .await
        .unwrap();
    let lib = alcoves::libraries::create(&mut tx, &user.id, "Q", None, false)
        .await
        .unwrap();
    let file = File {
        id: uuid::Uuid::new_v4().to_string(),
        library_id: lib.id.clone(),
        folder_id: None,
        name: "f".into(),
        blob_key: "files/x".into(),
        sha256: None,
        size: 1,
        mime: "application/octet-stream".into(),
        kind: "other".into(),
        uploaded_by: None,
        source_file_id: None,
        created_at: 1,
        updated_at: 1,
        trashed_at: None,
        source_path: None,
        source_mtime: None,
        sidecar: None,
        media: Default::default(),
    };
    alcoves::files::insert(&mut tx, &file).await.unwrap();
    tx.commit().await.unwrap();
    (store, app, file.id)
}

async fn state(app: &App, file: &str) -> store::JobState {
    let mut conn = app.db.conn().await.unwrap();
    store::states_of(&mut conn, &[file.to_owned()])
        .await
        .unwrap()
        .remove(0)
}

/// Queues `kind` for `file` and announces it, as the API does.
async fn enqueue(app: &App, file: &str, kind: JobKind) {
    let mut conn = app.db.conn().await.unwrap();
    let queued = store::enqueue(&mut conn, file, kind).await.unwrap();
    app.queue.announce(&[queued]).await;
}

async fn claim(app: &App, kind: JobKind, lease: Duration) -> Option<Claim> {
    claim_batch(app, kind, 1, lease).await.pop()
}

async fn claim_batch(app: &App, kind: JobKind, max: usize, lease: Duration) -> Vec<Claim> {
    let lease = store::Lease {
        duration: lease,
        holder: &app.instance,
    };
    app.queue.claim(&app.db, kind, max, lease).await.unwrap()
}

/// Settles as a worker does and announces a retry; returns whether the lease was held.
async fn settle(app: &App, claim: Claim, outcome: Settle) -> bool {
    let mut conn = app.db.conn().await.unwrap();
    let settled = store::settle(&mut conn, &claim, &outcome, Duration::from_millis(50))
        .await
        .unwrap();
    if let Settled::Retrying(retry) = &settled {
        app.queue.announce(std::slice::from_ref(retry)).await;
    }
    settled.held()
}

async fn queue_conformance(backend: Backend, queue: QueueBackend) {
    let url = matches!(queue, QueueBackend::Redis).then(shared_redis_url);
    let (store_dir, app, file) = queue_fixture(backend, url).await;
    let lease = Duration::from_secs(60);
    let kind = JobKind::Hash;
    assert!(claim(&app, kind, lease).await.is_none(), "empty queue");

    // Concurrent claimers: exactly one gets the job.
    enqueue(&app, &file, kind).await;
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { claim(&app, kind, lease).await })
        })
        .collect();
    let mut winners = Vec::new();
    for r in racers {
        winners.extend(r.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "one claim per job");
    let v1 = winners.remove(0);
    assert_eq!((v1.version, v1.attempt), (1, 1));
    assert_eq!(state(&app, &file).await.status, JobStatus::Processing);

    // Heartbeats keep the lease and publish progress.
    let mut conn = app.db.conn().await.unwrap();
    assert!(
        store::heartbeat(&mut conn, &v1, lease, Some((40, Some(1000))))
            .await
            .unwrap()
    );
    drop(conn);
    assert_eq!(state(&app, &file).await.progress, 40);

    // Re-requested while running: the old run's result is refused, the new version runs.
    enqueue(&app, &file, kind).await;
    assert!(
        !settle(&app, v1, Settle::Done).await,
        "stale version must not settle"
    );
    let s = state(&app, &file).await;
    assert_eq!(
        (s.status.as_str(), s.version, s.done_version),
        ("queued", 2, None)
    );
    let v2 = claim(&app, kind, lease).await.unwrap();
    assert_eq!(v2.version, 2);
    assert!(settle(&app, v2, Settle::Done).await);
    let s = state(&app, &file).await;
    assert_eq!(
        (s.status.as_str(), s.done_version, s.progress),
        ("done", Some(2), 100)
    );
    assert!(
        claim(&app, kind, lease).await.is_none(),
        "done jobs are not claimed"
    );

    // A worker that dies: its lease expires, the reaper re-queues, the dead worker cannot settle.
    enqueue(&app, &file, kind).await;
    let dead = claim(&app, kind, Duration::ZERO).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reaped = app.queue.reap(&app.db, store::Reap::Expired).await;
    assert_eq!((reaped.requeued.len(), reaped.failed), (1, 0));
    let mut conn = app.db.conn().await.unwrap();
    assert!(
        !store::heartbeat(&mut conn, &dead, lease, None)
            .await
            .unwrap(),
        "a reaped lease is lost"
    );
    drop(conn);
    assert!(!settle(&app, dead.clone(), Settle::Done).await);
    let next = claim(&app, kind, lease).await.unwrap();
    assert_eq!((next.version, next.attempt), (dead.version, 2));

    // Retries back off, and the third failure is final with its reason.
    assert!(settle(&app, next, Settle::Retry("flaky disk".into())).await);
    assert!(claim(&app, kind, lease).await.is_none(), "backing off");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let third = claim(&app, kind, lease).await.unwrap();
    assert_eq!(third.attempt, 3);
    assert!(settle(&app, third, Settle::Retry("flaky disk".into())).await);
    let s = state(&app, &file).await;
    assert_eq!(
        (s.status.as_str(), s.error.as_deref(), s.attempts),
        ("failed", Some("flaky disk"), 3)
    );
    assert!(claim(&app, kind, lease).await.is_none(), "failed for good");

    // Shutdown releases without spending an attempt.
    enqueue(&app, &file, kind).await;
    let held = claim(&app, kind, lease).await.unwrap();
    app.queue.release(&app.db, &held).await.unwrap();
    assert_eq!(claim(&app, kind, lease).await.unwrap().attempt, 1);

    // Kinds are separate queues.
    enqueue(&app, &file, JobKind::Metadata).await;
    assert!(claim(&app, kind, lease).await.is_none());
    assert!(claim(&app, JobKind::Metadata, lease).await.is_some());

    // A worker with free slots claims that many jobs at once, each job once.
    let mut conn = app.db.conn().await.unwrap();
    let mut other = alcoves::files::find(&mut conn, &file)
        .await
        .unwrap()
        .unwrap();
    let mut files = vec![file.clone()];
    for _ in 0..2 {
        other.id = uuid::Uuid::new_v4().to_string();
        alcoves::files::insert(&mut conn, &other).await.unwrap();
        files.push(other.id.clone());
    }
    drop(conn);
    for id in &files {
        enqueue(&app, id, JobKind::Thumbnails).await;
    }
    let first = claim_batch(&app, JobKind::Thumbnails, 2, lease).await;
    let rest = claim_batch(&app, JobKind::Thumbnails, 2, lease).await;
    assert_eq!(
        (first.len(), rest.len()),
        (2, 1),
        "two free slots, then one job left"
    );
    let mut claimed: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|c| c.file_id.clone())
        .collect();
    claimed.sort();
    files.sort();
    assert_eq!(claimed, files, "every job claimed once");
    assert!(
        claim_batch(&app, JobKind::Thumbnails, 2, lease)
            .await
            .is_empty()
    );
    store_dir.cleanup().await;
}

async fn redis_queue_survives_a_restart(backend: Backend) {
    // Jobs announced to Redis, then Redis crashes and comes back empty: they are re-queued
    // from the job rows, not lost.
    let mut redis = RedisServer::start().await;
    let (store_dir, app, file) = queue_fixture(backend, Some(redis.url())).await;
    let lease = Duration::from_secs(60);
    enqueue(&app, &file, JobKind::Hash).await;
    enqueue(&app, &file, JobKind::Metadata).await;
    redis.restart().await;
    let hash = claim(&app, JobKind::Hash, lease).await;
    let metadata = claim(&app, JobKind::Metadata, lease).await;
    assert_eq!(hash.map(|c| c.file_id), Some(file.clone()));
    assert_eq!(metadata.map(|c| c.version), Some(1));
    drop(app);
    store_dir.cleanup().await;

    // A running server: uploads while Redis is down still land, report a degraded queue, and
    // are processed once Redis is back.
    let srv = TestServer::start_with(backend, |config| {
        config.queue_url = Some(redis.url());
        config.queue_prefix = format!("alcoves-test-{}", uuid::Uuid::new_v4().simple());
    })
    .await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Restart").await;
    let photo = std::fs::read(crate::files::testdata("dog.jpg")).unwrap();
    let first = srv.upload(&lib, &owner, "before.jpg", photo.clone()).await;
    let path = |res: &crate::common::Resp| {
        format!(
            "/api/libraries/{lib}/files/{}",
            res.json["id"].as_str().unwrap()
        )
    };
    wait_for(&srv, &path(&first), &owner, |f| {
        job_status(f, "metadata") == "done"
    })
    .await;
    assert_eq!(srv.get("/api/health", "").await.json["queue"]["ok"], true);

    redis.kill();
    let mut during = Vec::new();
    let started = std::time::Instant::now();
    for name in ["a.jpg", "b.jpg", "c.jpg"] {
        let res = srv.upload(&lib, &owner, name, photo.clone()).await;
        assert_eq!(res.status, 201, "uploads work while redis is down");
        during.push(path(&res));
    }
    // Redis is marked down once, not waited for by every upload (3 s each before).
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let health = srv.get("/api/health", "").await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        (health.status, &health.json["queue"]["ok"]),
        (503, &false.into())
    );
    redis.restart().await;
    for path in &during {
        let file = wait_for(&srv, path, &owner, |f| job_status(f, "metadata") == "done").await;
        assert_eq!(file["mime"], "image/jpeg");
    }

    // A job queued in the database that Redis never got (a worker killed between its pop and
    // its lease, Redis restored from an older snapshot): idle workers find it in seconds, not
    // at the five-minute reconcile.
    let id = first.json["id"].as_str().unwrap().to_owned();
    let mut conn = srv.app.db.conn().await.unwrap();
    store::enqueue(&mut conn, &id, JobKind::Metadata)
        .await
        .unwrap();
    drop(conn);
    wait_for(&srv, &path(&first), &owner, |f| {
        f["jobs"]["metadata"]["doneVersion"] == 2
    })
    .await;
    srv.stop().await;
}

/// A process killed while running jobs, started again: the slot it gets back tells it those
/// leases are dead, so the jobs are queued again at once rather than when the leases expire.
/// A second process running beside it keeps its own.
async fn a_restarted_process_requeues_its_dead_leases_at_once(backend: Backend) {
    let (store_dir, app, file) = queue_fixture(backend, None).await;
    let mut config = store_dir.config();
    config.queue_prefix = app.config.queue_prefix.clone();
    enqueue(&app, &file, JobKind::Metadata).await;
    let running = claim(&app, JobKind::Metadata, Duration::from_secs(600)).await;
    assert!(running.is_some());
    let beside = App::open(config.clone()).await.unwrap();
    assert_eq!(
        state(&app, &file).await.status,
        JobStatus::Processing,
        "{:?}",
        state(&app, &file).await
    );
    enqueue(&beside, &file, JobKind::Hash).await;
    let other = claim(&beside, JobKind::Hash, Duration::from_secs(600)).await;
    assert!(other.is_some());
    drop(app);
    let restarted = App::open(config).await.unwrap();
    let rows = {
        let mut conn = restarted.db.conn().await.unwrap();
        store::states_of(&mut conn, std::slice::from_ref(&file))
            .await
            .unwrap()
    };
    let status = |kind: JobKind| {
        let row = rows.iter().find(|r| r.kind == kind).unwrap();
        (row.status, row.error.clone())
    };
    assert_eq!(status(JobKind::Metadata).0, JobStatus::Queued, "{rows:?}");
    assert_eq!(
        status(JobKind::Hash).0,
        JobStatus::Processing,
        "the live process keeps its lease"
    );
    assert!(
        claim(&restarted, JobKind::Metadata, Duration::from_secs(60))
            .await
            .is_some()
    );
    drop((beside, restarted));
    store_dir.cleanup().await;
}
