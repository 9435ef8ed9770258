//! The job system: the pipeline after an upload, versions and leases in the queue itself, and
//! failures that stay on their own row.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, TestServer};
use crate::on_both_backends;

on_both_backends!(
    upload_runs_the_pipeline_to_done,
    failing_jobs_fail_alone_and_admins_can_retry,
);

/// Polls a file until `check` holds (10 s at most) and returns its JSON.
pub async fn wait_for(
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

/// A file's JSON once its `kind` job has settled (done, skipped or failed; failed stages hand
/// on unless later ones need them). Two minutes at most: transcodes and models on two busy
/// cores take a while.
pub async fn settled_at(srv: &TestServer, lib: &str, id: &str, who: &str, kind: &str) -> Value {
    let path = format!("/api/libraries/{lib}/files/{id}");
    for _ in 0..1200 {
        let file = srv.get(&path, who).await.json;
        if matches!(job_status(&file, kind), "done" | "skipped" | "failed") {
            return file;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never settled: {}", srv.get(&path, who).await.json);
}

pub fn job_status<'a>(file: &'a Value, kind: &str) -> &'a str {
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
