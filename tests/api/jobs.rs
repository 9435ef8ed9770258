//! The job system: the pipeline after an upload, versions and leases in the queue itself, and
//! failures that stay on their own row.

use std::sync::Arc;
use std::time::Duration;

use alcoves::app::App;
use alcoves::files::File;
use alcoves::jobs::JobKind;
use alcoves::jobs::store::{self, Settle};
use serde_json::{Value, json};

use crate::common::{Backend, Store, TestServer};
use crate::on_both_backends;

on_both_backends!(
    upload_runs_the_pipeline_to_done,
    queue_drops_stale_versions_and_expired_leases,
    failing_jobs_fail_alone_and_admins_can_retry,
);

/// Polls a file until `check` holds (10 s at most) and returns its JSON.
async fn wait_for(
    srv: &TestServer,
    path: &str,
    who: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let file = srv.get(path, who).await.json;
        if check(&file) {
            return file;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{path} never reached the expected state: {}",
        srv.get(path, who).await.json
    );
}

fn job_status<'a>(file: &'a Value, kind: &str) -> &'a str {
    file["jobs"][kind]["status"].as_str().unwrap_or("")
}

async fn upload_runs_the_pipeline_to_done(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Pipeline").await;
    let res = srv
        .upload(
            &lib,
            &owner,
            "dog.jpg",
            std::fs::read(crate::files::testdata("dog.jpg")).unwrap(),
        )
        .await;
    assert_eq!(
        job_status(&res.json, "hash"),
        "done",
        "hashed while uploading"
    );
    let path = format!(
        "/api/libraries/{lib}/files/{}",
        res.json["id"].as_str().unwrap()
    );
    let file = wait_for(&srv, &path, &owner, |f| job_status(f, "metadata") == "done").await;
    assert_eq!(file["jobs"]["metadata"]["progress"], 100);
    assert_eq!(file["jobs"]["metadata"]["doneVersion"], 1);
    assert_eq!(file["mime"], "image/jpeg");

    // Reprocessing bumps the version and runs again.
    let again = srv
        .post(
            &format!("{path}/reprocess"),
            &owner,
            json!({ "kind": "metadata" }),
        )
        .await;
    assert_eq!(again.status, 202);
    let file = wait_for(&srv, &path, &owner, |f| {
        f["jobs"]["metadata"]["doneVersion"] == 2
    })
    .await;
    assert_eq!(job_status(&file, "metadata"), "done");
    let bad = srv
        .post(
            &format!("{path}/reprocess"),
            &owner,
            json!({ "kind": "nonsense" }),
        )
        .await;
    assert_eq!(bad.status, 400);
    srv.stop().await;
}

/// An app without workers, with one user, library and file row, for driving the queue by hand.
async fn queue_fixture(backend: Backend) -> (Store, Arc<App>, String) {
    let store = Store::new(backend).await;
    let app = Arc::new(App::open(store.config()).await.unwrap());
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

async fn queue_drops_stale_versions_and_expired_leases(backend: Backend) {
    let (store_dir, app, file) = queue_fixture(backend).await;
    let lease = Duration::from_secs(60);
    let base = Duration::from_millis(50);
    let kind = JobKind::Hash;
    let enqueue = || async {
        let mut conn = app.db.conn().await.unwrap();
        store::enqueue(&mut conn, &file, kind).await.unwrap();
    };
    let settle = |claim: store::Claim, outcome: Settle| {
        let app = app.clone();
        async move {
            let mut conn = app.db.conn().await.unwrap();
            store::settle(&mut conn, &claim, &outcome, base)
                .await
                .unwrap()
        }
    };

    // Concurrent claimers: exactly one gets the job.
    enqueue().await;
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { store::claim(&app.db, kind, lease).await.unwrap() })
        })
        .collect();
    let mut winners = Vec::new();
    for r in racers {
        winners.extend(r.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "one claim per job");
    let v1 = winners.remove(0);
    assert_eq!((v1.version, v1.attempt), (1, 1));
    assert_eq!(state(&app, &file).await.status, "processing");

    // Re-requested while running: the old run's result is refused, the new version runs.
    enqueue().await;
    assert!(
        !settle(v1, Settle::Done).await,
        "stale version must not settle"
    );
    let s = state(&app, &file).await;
    assert_eq!(
        (s.status.as_str(), s.version, s.done_version),
        ("queued", 2, None)
    );
    let v2 = store::claim(&app.db, kind, lease).await.unwrap().unwrap();
    assert_eq!(v2.version, 2);
    assert!(settle(v2, Settle::Done).await);
    let s = state(&app, &file).await;
    assert_eq!(
        (s.status.as_str(), s.done_version, s.progress),
        ("done", Some(2), 100)
    );
    assert!(
        store::claim(&app.db, kind, lease).await.unwrap().is_none(),
        "done jobs are not claimed"
    );

    // A worker that dies: its lease expires, the reaper re-queues, the dead worker cannot settle.
    enqueue().await;
    let dead = store::claim(&app.db, kind, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut conn = app.db.conn().await.unwrap();
    assert_eq!(store::reap(&mut conn).await.unwrap(), 1);
    drop(conn);
    assert!(!settle(dead.clone(), Settle::Done).await);
    let next = store::claim(&app.db, kind, lease).await.unwrap().unwrap();
    assert_eq!((next.version, next.attempt), (dead.version, 2));

    // Retries back off, and the third failure is final with its reason.
    assert!(settle(next, Settle::Retry("flaky disk".into())).await);
    assert!(
        store::claim(&app.db, kind, lease).await.unwrap().is_none(),
        "backing off"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let third = store::claim(&app.db, kind, lease).await.unwrap().unwrap();
    assert_eq!(third.attempt, 3);
    assert!(settle(third, Settle::Retry("flaky disk".into())).await);
    let s = state(&app, &file).await;
    assert_eq!(
        (s.status.as_str(), s.error.as_deref(), s.attempts),
        ("failed", Some("flaky disk"), 3)
    );

    // Shutdown releases without spending an attempt.
    enqueue().await;
    let held = store::claim(&app.db, kind, lease).await.unwrap().unwrap();
    let mut conn = app.db.conn().await.unwrap();
    store::release(&mut conn, &held).await.unwrap();
    drop(conn);
    assert_eq!(
        store::claim(&app.db, kind, lease)
            .await
            .unwrap()
            .unwrap()
            .attempt,
        1
    );
    store_dir.cleanup().await;
}

async fn failing_jobs_fail_alone_and_admins_can_retry(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Faults").await;
    let mut paths = Vec::new();
    for name in ["a.jpg", "b.jpg"] {
        let res = srv
            .upload(
                &lib,
                &owner,
                name,
                std::fs::read(crate::files::testdata("astronaut.jpg")).unwrap(),
            )
            .await;
        let path = format!(
            "/api/libraries/{lib}/files/{}",
            res.json["id"].as_str().unwrap()
        );
        wait_for(&srv, &path, &owner, |f| job_status(f, "metadata") == "done").await;
        paths.push((res.json["id"].as_str().unwrap().to_owned(), path));
    }
    // The first file's original vanishes from storage.
    let (broken, broken_path) = &paths[0];
    std::fs::remove_file(
        srv.store
            .dir
            .path()
            .join(format!("storage/files/{lib}/{broken}/original")),
    )
    .unwrap();
    for (_, path) in &paths {
        srv.post(
            &format!("{path}/reprocess"),
            &owner,
            json!({ "kind": "metadata" }),
        )
        .await;
    }
    let failed = wait_for(&srv, broken_path, &owner, |f| {
        job_status(f, "metadata") == "failed"
    })
    .await;
    assert!(
        failed["jobs"]["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{failed}"
    );
    let fine = wait_for(&srv, &paths[1].1, &owner, |f| {
        f["jobs"]["metadata"]["doneVersion"] == 2
    })
    .await;
    assert_eq!(job_status(&fine, "metadata"), "done");

    let counts = srv.get("/api/admin/jobs", &owner).await.json;
    assert!(
        counts
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "metadata" && c["status"] == "failed" && c["count"] == 1),
        "{counts}"
    );
    let list = srv.get("/api/admin/jobs/failed", &owner).await.json;
    assert_eq!(list[0]["fileId"], broken.as_str());

    assert_eq!(
        srv.post(
            &format!("/api/admin/jobs/metadata/{broken}/retry"),
            &owner,
            json!({})
        )
        .await
        .status,
        204
    );
    let again = wait_for(&srv, broken_path, &owner, |f| {
        f["jobs"]["metadata"]["version"] == 3 && job_status(f, "metadata") == "failed"
    })
    .await;
    assert_eq!(again["jobs"]["metadata"]["attempts"], 1);
    assert_eq!(
        srv.post("/api/admin/jobs/purge", &owner, json!({}))
            .await
            .json["removed"],
        1
    );
    assert!(
        srv.get(broken_path, &owner).await.json["jobs"]
            .get("metadata")
            .is_none()
    );
    assert_eq!(
        srv.call(
            "DELETE",
            &format!("/api/admin/jobs/metadata/{broken}"),
            &owner,
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        srv.post(
            &format!("/api/admin/jobs/bogus/{broken}/retry"),
            &owner,
            json!({})
        )
        .await
        .status,
        404
    );
    srv.stop().await;
}
