//! A full disk: the data dir on a small tmpfs, filled to the last byte. Every upload either
//! fails with a clear 507 or is stored whole; no empty or cut blob is recorded, no temporary
//! file stays behind, and trash and purge still work so the user can free space.

use std::io::Write;
use std::path::{Path, PathBuf};

use alcoves::storage::BlobStore;
use alcoves::storage::disk::DiskSpace;
use serde_json::json;

use crate::common::{Backend, TempDir, TestServer, files_under};
use crate::on_both_backends;

on_both_backends!(a_full_disk_loses_no_upload_and_trash_and_purge_still_work);

/// A tmpfs of `size` bytes mounted on a fresh directory, unmounted when dropped.
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    pub fn mount(size: u64) -> Tmpfs {
        let dir = TempDir::new();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "the full-disk tests mount a tmpfs and need root (CI runs as root)"
        );
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with a filler file until only `leave` bytes are free (0: the last byte).
    pub fn fill(&self, leave: u64) -> PathBuf {
        let filler = self.path().join(format!("filler-{}", uuid::Uuid::new_v4()));
        let free = DiskSpace::new(self.path(), Some(0))
            .usage()
            .unwrap()
            .free_bytes;
        let mut file = std::fs::File::create(&filler).unwrap();
        let mut left = free.saturating_sub(leave);
        let block = vec![0x5a_u8; 64 * 1024];
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            match file.write(&block[..n]) {
                Ok(0) | Err(_) => break,
                Ok(written) => left -= written as u64,
            }
        }
        if leave == 0 {
            // To the last byte: whatever page is left, a byte at a time.
            while file.write(&[0x5a]).is_ok_and(|n| n == 1) {}
        }
        filler
    }

    pub fn free(&self) -> u64 {
        DiskSpace::new(self.path(), Some(0))
            .usage()
            .unwrap()
            .free_bytes
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.path())
            .status();
    }
}

/// Bytes that no two tests share and no codec recognises.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

impl TestServer {
    /// Uploads `bytes` with chunked transfer encoding (no Content-Length, as a browser stream).
    async fn upload_chunked(
        &self,
        library: &str,
        who: &str,
        bytes: Vec<u8>,
    ) -> crate::common::Resp {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        self.raw(
            reqwest::Client::new()
                .post(format!("{}/api/libraries/{library}/files", self.base))
                .header("x-upload-name", "chunked.bin")
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                ))),
            who,
        )
        .await
    }
}

async fn a_full_disk_loses_no_upload_and_trash_and_purge_still_work(backend: Backend) {
    let disk = Tmpfs::mount(48 << 20);
    let data = disk.path().join("data");
    let srv = TestServer::start_with(backend, |c| {
        c.data_dir = data.clone();
        c.disk_reserve_mb = Some(0);
    })
    .await;
    // What `serve` does every few seconds: keep the emergency space.
    srv.app.disk.tend();
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    let kept = noise(300 << 10, 1);
    let first = srv.upload(&lib, &owner, "kept.bin", kept.clone()).await;
    assert_eq!(first.status, 201, "{}", first.json);
    let kept_id = first.json["id"].as_str().unwrap().to_owned();
    // Its jobs are done before the disk fills, so nothing else writes meanwhile.
    crate::jobs::settled_at(&srv, &lib, &kept_id, &owner, "transcribe").await;

    // Room for part of the body only: the write meets the full disk halfway.
    let filler = disk.fill(200 << 10);
    let res = srv.upload_chunked(&lib, &owner, noise(2 << 20, 2)).await;
    assert_eq!(
        (res.status, res.code()),
        (507, "insufficient_storage"),
        "{}",
        res.json
    );
    assert!(
        res.json["message"].as_str().unwrap().contains("disk is"),
        "{}",
        res.json
    );

    // A declared size that does not fit is refused before a byte is written.
    let res = srv.upload(&lib, &owner, "big.bin", noise(1 << 20, 3)).await;
    assert_eq!((res.status, res.code()), (507, "insufficient_storage"));

    // A resumable upload that meets the full disk keeps what landed and resumes after.
    std::fs::remove_file(&filler).unwrap();
    let resumed = noise(600 << 10, 4);
    let tus = srv
        .tus_create(&lib, &owner, "resumed.bin", resumed.len())
        .await;
    let filler = disk.fill(100 << 10);
    let res = srv.tus_patch(&tus, &owner, 0, resumed.clone()).await;
    assert_eq!((res.status, res.code()), (507, "insufficient_storage"));
    let (_, offset) = srv.tus_offset(&tus, &owner).await;
    let offset = offset.unwrap();
    assert!(offset < resumed.len(), "offset {offset}");
    std::fs::remove_file(&filler).unwrap();
    let res = srv
        .tus_patch(&tus, &owner, offset, resumed[offset..].to_vec())
        .await;
    assert_eq!(res.status, 204, "{}", res.json);
    let resumed_id = res.headers["alcoves-file-id"].to_str().unwrap().to_owned();
    let (status, _, body) = srv.download(&lib, &resumed_id, &owner, &[]).await;
    assert_eq!(status, 200);
    assert!(body == resumed, "the resumed upload is stored whole");

    // Full to the last byte.
    let _filler = disk.fill(0);
    assert_eq!(disk.free(), 0);
    let health = srv.get("/api/health", "").await;
    assert_eq!(health.json["disk"]["full"], true, "{}", health.json);
    assert_eq!(health.json["disk"]["low"], true);
    let res = srv
        .upload(&lib, &owner, "late.bin", noise(10 << 10, 5))
        .await;
    assert_eq!((res.status, res.code()), (507, "insufficient_storage"));
    let res = srv.upload_chunked(&lib, &owner, noise(10 << 10, 6)).await;
    assert_eq!((res.status, res.code()), (507, "insufficient_storage"));

    // Only the uploads that were acknowledged exist, each whole; nothing empty or cut is
    // recorded or served.
    let listed = srv
        .get(&format!("/api/libraries/{lib}/files?limit=100"), &owner)
        .await;
    let mut sizes: Vec<i64> = listed.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["size"].as_i64().unwrap())
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![kept.len() as i64, resumed.len() as i64]);
    let (status, headers, body) = srv.download(&lib, &kept_id, &owner, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], kept.len().to_string().as_str());
    assert!(body == kept);
    for (path, len) in files_under(&data.join("storage/files")) {
        assert!(len > 0, "{} is empty", path.display());
    }
    // No temporary file of a failed write stays behind.
    for dir in ["tmp", "storage/.tmp"] {
        assert_eq!(files_under(&data.join(dir)), vec![], "{dir}");
    }

    // The user frees space: trash and purge work on the full disk.
    let file = format!("/api/libraries/{lib}/files/{kept_id}");
    let res = srv.post(&format!("{file}/trash"), &owner, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.json);
    let res = srv.call("DELETE", &file, &owner, None).await;
    assert_eq!(res.status, 204, "{}", res.json);
    assert!(disk.free() > kept.len() as u64);
    srv.stop().await;
}

/// A blob store write that meets a full disk fails, stores nothing under the key and leaves no
/// temporary behind (derived files, thumbnails and proxies go through the same writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_writes_on_a_full_disk_fail_and_leave_nothing() {
    let disk = Tmpfs::mount(8 << 20);
    let root = disk.path().join("storage");
    let store = alcoves::storage::local::LocalStore::open(&root)
        .await
        .unwrap();
    let key = alcoves::storage::BlobKey::new(alcoves::storage::Scope::Cache, &["l", "f", "thumb"])
        .unwrap();
    let source = TempDir::new();
    let big = source.path().join("big");
    std::fs::write(&big, noise(1 << 20, 7)).unwrap();
    let _filler = disk.fill(64 << 10);
    let err = store
        .put_bytes(&key, bytes::Bytes::from(noise(512 << 10, 8)))
        .await
        .unwrap_err();
    assert!(alcoves::error::is_disk_full(&err), "{err}");
    let err = store.put_file(&key, &big).await.unwrap_err();
    assert!(alcoves::error::is_disk_full(&err), "{err}");
    assert_eq!(store.size(&key).await.unwrap(), None);
    assert_eq!(files_under(&root), vec![]);
    // What fits is stored whole.
    store
        .put_bytes(&key, bytes::Bytes::from(noise(16 << 10, 9)))
        .await
        .unwrap();
    assert_eq!(store.size(&key).await.unwrap(), Some(16 << 10));
}

/// Scratch files of a killed process (any mode) are removed when the next one starts, and so
/// is a blob it stored without committing the row (killed between the two): its note says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch_files_of_a_killed_process_are_swept_at_start() {
    let dir = TempDir::new();
    let orphan = "storage/files/lib1/file1/original";
    let unrelated = "storage/files/lib1/file2/original";
    for (leftover, text) in [
        ("tmp/1234abcd/x.original", "half a copy"),
        ("tmp/1234abcd/n.intent", "lib1\nfile1"),
        ("tmp/uploads/y", "half an upload"),
        ("storage/.tmp/z", "half a blob"),
        (orphan, "a whole blob, no row"),
        (unrelated, "not named by any note"),
    ] {
        let path = dir.path().join(leftover);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let config = alcoves::config::Config::defaults_in(dir.path());
    let app = alcoves::app::App::open(config).await.unwrap();
    assert_eq!(files_under(&dir.path().join("tmp")), vec![]);
    assert_eq!(files_under(&dir.path().join("storage/.tmp")), vec![]);
    assert!(
        !dir.path().join(orphan).exists(),
        "the orphan blob is removed"
    );
    assert!(dir.path().join(unrelated).exists());
    drop(app);
}
