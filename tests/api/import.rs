//! Import in place: a NAS folder with nested folders, a symlink loop, an unreadable entry and a
//! name that is not UTF-8 is indexed without touching the originals, and changes made on disk
//! while the server runs show up within seconds.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::{Backend, TempDir, TestServer};
use crate::files::testdata;
use crate::jobs::{job_status, wait_for};
use crate::on_both_backends;

on_both_backends!(
    import_in_place_indexes_and_follows_the_folder,
    an_unbound_librarys_jobs_fail_once_with_a_sentence
);

fn sha256_hex(bytes: &[u8]) -> String {
    alcoves::digest::sha256_hex(bytes)
}

/// Every regular file under `root` with its bytes and mtime.
fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let meta = entry.metadata().unwrap();
                let name = entry.path().strip_prefix(root).unwrap().to_owned();
                out.insert(
                    name.to_string_lossy().into_owned(),
                    (
                        std::fs::read(entry.path()).unwrap(),
                        meta.modified().unwrap(),
                    ),
                );
            }
        }
    }
    out
}

/// Binds `lib` to the folder `root` and scans it as `alcoves library scan` does; returns the
/// report and what the scan skipped (path to reason).
pub async fn bind_and_scan(
    srv: &TestServer,
    lib: &str,
    root: &Path,
) -> (alcoves::import::ScanReport, BTreeMap<String, String>) {
    alcoves::import::bind(&srv.app, lib, Some(root))
        .await
        .unwrap();
    let report = alcoves::import::scan(&srv.app, lib, |_, _| {})
        .await
        .unwrap();
    let skipped = report
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason.clone()))
        .collect();
    (report, skipped)
}

/// The library's files by source path, once `check` holds for them (10 s at most).
async fn wait_for_files(
    srv: &TestServer,
    lib: &str,
    who: &str,
    check: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    let list = || async {
        let page = srv
            .get(&format!("/api/libraries/{lib}/files?limit=100"), who)
            .await;
        page.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["sourcePath"].as_str().unwrap_or("").to_owned(), f.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    for _ in 0..200 {
        let files = list().await;
        if check(&files) {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("files never reached the expected state: {:?}", list().await);
}

/// The library's top-level folders: name to id.
async fn top_folders(srv: &TestServer, lib: &str, who: &str) -> BTreeMap<String, Value> {
    let list = srv
        .get(&format!("/api/libraries/{lib}/folders"), who)
        .await
        .json;
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_owned(), f["id"].clone()))
        .collect()
}

async fn top_folder_names(srv: &TestServer, lib: &str, who: &str) -> Vec<String> {
    top_folders(srv, lib, who).await.into_keys().collect()
}

async fn import_in_place_indexes_and_follows_the_folder(backend: Backend) {
    let nas = TempDir::new();
    let root = nas.path();
    let dog = std::fs::read(testdata("dog.jpg")).unwrap();
    let astronaut = std::fs::read(testdata("astronaut.jpg")).unwrap();
    std::fs::create_dir_all(root.join("2024/summer")).unwrap();
    std::fs::write(root.join("dog.jpg"), &dog).unwrap();
    std::fs::write(root.join("2024/summer/astronaut.jpg"), &astronaut).unwrap();
    std::fs::write(root.join(".DS_Store"), b"finder").unwrap();
    std::os::unix::fs::symlink("..", root.join("2024/loop")).unwrap();
    std::os::unix::fs::symlink("/nowhere/at/all", root.join("dangling.jpg")).unwrap();
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.jpg");
    std::fs::write(root.join(latin1), &dog).unwrap();
    let before = snapshot(root);

    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "NAS photos").await;

    // Binding starts the watcher, which scans at once; a scan as `alcoves library scan` runs
    // it reports what it skipped.
    let (report, skipped) = bind_and_scan(&srv, &lib, root).await;
    assert_eq!(report.added + report.unchanged, 2, "{report:?}");
    assert_eq!(
        skipped.get("2024/loop").map(String::as_str),
        Some("symlink loop"),
        "{skipped:?}"
    );
    assert!(
        skipped["dangling.jpg"].starts_with("unreadable"),
        "{skipped:?}"
    );
    assert_eq!(skipped["caf\u{fffd}.jpg"], "the name is not valid UTF-8");
    assert_eq!(skipped.len(), 3, "{skipped:?}");

    let files = wait_for_files(&srv, &lib, &owner, |files| {
        // A list page reads the rows and then their jobs: a job may finish in between, so wait
        // for its result on the row as well.
        files.len() == 2
            && files
                .values()
                .all(|f| job_status(f, "metadata") == "done" && f["mime"] == "image/jpeg")
    })
    .await;
    let first = &files["dog.jpg"];
    assert_eq!(
        first["folderId"],
        Value::Null,
        "top-level files are in no folder"
    );
    let summer = files["2024/summer/astronaut.jpg"]["folderId"].clone();
    assert!(summer.is_string(), "the NAS tree is mirrored as folders");
    assert_eq!(top_folder_names(&srv, &lib, &owner).await, ["2024"]);
    assert_eq!(first["sha256"], sha256_hex(&dog));
    assert_eq!(first["mime"], "image/jpeg", "{first}");
    assert_eq!(
        files["2024/summer/astronaut.jpg"]["sha256"],
        sha256_hex(&astronaut)
    );
    let (status, _, original) = srv
        .download(
            &lib,
            first["id"].as_str().unwrap(),
            &owner,
            &[("range", "bytes=10-")],
        )
        .await;
    assert_eq!(status, 206);
    assert_eq!(&original[..], &dog[10..], "downloads read the NAS file");

    // Changes on disk while the server runs: new files, a rename, a deletion.
    std::fs::write(root.join("2024/new.jpg"), &astronaut).unwrap();
    std::fs::create_dir_all(root.join("2025/trip")).unwrap();
    std::fs::write(root.join("2025/trip/beach.jpg"), &astronaut).unwrap();
    std::fs::rename(
        root.join("dog.jpg"),
        root.join("2024/summer/dog-renamed.jpg"),
    )
    .unwrap();
    std::fs::remove_file(root.join("2024/summer/astronaut.jpg")).unwrap();
    let files = wait_for_files(&srv, &lib, &owner, |files| {
        files.len() == 3
            && files.contains_key("2024/new.jpg")
            && files.contains_key("2025/trip/beach.jpg")
            && files.contains_key("2024/summer/dog-renamed.jpg")
            && files.values().all(|f| job_status(f, "metadata") == "done")
    })
    .await;
    let renamed = &files["2024/summer/dog-renamed.jpg"];
    assert_eq!(renamed["id"], first["id"], "a move keeps the row");
    assert_eq!(renamed["name"], "dog-renamed.jpg");
    assert_eq!(
        renamed["folderId"], summer,
        "a move follows into the mirrored folder"
    );
    assert_eq!(
        files["2024/new.jpg"]["folderId"],
        top_folders(&srv, &lib, &owner).await["2024"]
    );

    // A folder deleted on disk takes its mirrored folders with it.
    std::fs::remove_dir_all(root.join("2025")).unwrap();
    wait_for_files(&srv, &lib, &owner, |files| files.len() == 2).await;
    // The scan prunes emptied folders just after it removes their files.
    wait_for(
        &srv,
        &format!("/api/libraries/{lib}/folders"),
        &owner,
        |folders| folders.as_array().unwrap().len() == 1,
    )
    .await;
    assert_eq!(top_folder_names(&srv, &lib, &owner).await, ["2024"]);
    assert_eq!(files["2024/new.jpg"]["sha256"], sha256_hex(&astronaut));

    // A file changed in place is hashed again.
    std::fs::write(root.join("2024/new.jpg"), &dog).unwrap();
    wait_for_files(&srv, &lib, &owner, |files| {
        files
            .get("2024/new.jpg")
            .is_some_and(|f| f["sha256"] == sha256_hex(&dog))
    })
    .await;

    // Purging an imported file forgets the row, never the NAS original.
    let id = renamed["id"].as_str().unwrap();
    let file_path = format!("/api/libraries/{lib}/files/{id}");
    let trashed = srv
        .post(&format!("{file_path}/trash"), &owner, serde_json::json!({}))
        .await;
    assert_eq!(trashed.status, 200);
    assert_eq!(
        srv.call("DELETE", &file_path, &owner, None).await.status,
        204
    );
    assert!(root.join("2024/summer/dog-renamed.jpg").exists());

    // The originals that were left in place are byte-for-byte and mtime-for-mtime unchanged.
    let after = snapshot(root);
    assert_eq!(after["2024/summer/dog-renamed.jpg"], before["dog.jpg"]);
    assert_eq!(after["caf\u{fffd}.jpg"], before["caf\u{fffd}.jpg"]);
    assert_eq!(after[".DS_Store"], before[".DS_Store"]);

    // The library says where it imports from; doctor notices when the folder goes away.
    let shown = srv.get(&format!("/api/libraries/{lib}"), &owner).await.json;
    let canonical = std::fs::canonicalize(root).unwrap();
    assert_eq!(shown["importPath"], canonical.to_str().unwrap());
    let import_check = || async {
        let checks = alcoves::doctor::run(&srv.app.config).await;
        let found = checks.into_iter().find(|c| c.name == "import folders");
        found.map(|c| (c.status, c.detail)).unwrap()
    };
    assert_eq!(import_check().await.0, alcoves::doctor::Status::Ok);
    let unmounted = root.with_extension("unmounted");
    std::fs::rename(root, &unmounted).unwrap();
    let (status, detail) = import_check().await;
    // An empty mount point left by an unmounted share removes nothing.
    std::fs::create_dir(root).unwrap();
    let empty = alcoves::import::scan(&srv.app, &lib, |_, _| {}).await;
    assert!(empty.is_err(), "{empty:?}");
    std::fs::remove_dir(root).unwrap();
    std::fs::rename(&unmounted, root).unwrap();
    assert_eq!(status, alcoves::doctor::Status::Error, "{detail}");
    assert!(detail.contains("unbind"), "{detail}");
    let listed = srv
        .get(&format!("/api/libraries/{lib}/files"), &owner)
        .await;
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);
    srv.stop().await;
}

/// A library unbound from its folder cannot read its imported originals: the job fails on its
/// first attempt (waiting would not bind it again) and says why in words, not in Debug text.
async fn an_unbound_librarys_jobs_fail_once_with_a_sentence(backend: Backend) {
    let nas = TempDir::new();
    std::fs::write(
        nas.path().join("dog.jpg"),
        std::fs::read(testdata("dog.jpg")).unwrap(),
    )
    .unwrap();
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "NAS").await;
    bind_and_scan(&srv, &lib, nas.path()).await;
    let files = wait_for_files(&srv, &lib, &owner, |f| {
        f.get("dog.jpg")
            .is_some_and(|f| job_status(f, "thumbnails") == "done")
    })
    .await;
    let path = format!(
        "/api/libraries/{lib}/files/{}",
        files["dog.jpg"]["id"].as_str().unwrap()
    );
    alcoves::import::bind(&srv.app, &lib, None).await.unwrap();
    let again = srv
        .post(
            &format!("{path}/reprocess"),
            &owner,
            serde_json::json!({ "kind": "metadata" }),
        )
        .await;
    assert_eq!(again.status, 202, "{:?}", again.json);
    let file = wait_for(&srv, &path, &owner, |f| {
        job_status(f, "metadata") == "failed"
    })
    .await;
    let job = &file["jobs"]["metadata"];
    assert_eq!(job["attempts"], 1, "not retried: {job}");
    assert_eq!(
        job["error"], "the library is no longer bound to an import folder",
        "a sentence, not Debug text"
    );
    let failed = srv.get("/api/admin/jobs/failed", &owner).await.json;
    let listed = failed.to_string();
    assert!(listed.contains("no longer bound"), "{listed}");
    assert!(
        !listed.contains("Conflict(") && !listed.contains("Unavailable("),
        "{listed}"
    );
    srv.stop().await;
}
