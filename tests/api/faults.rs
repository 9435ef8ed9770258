//! The fault run (issue 13), as an ignored test that prints a table:
//! `cargo test --test api faults -- --ignored --nocapture` (or `bash .ci/faults`).
//!
//! Against the real binary: kill -9 during uploads and jobs (three times per backend), Redis
//! restarted empty and from an older snapshot, and a data dir on a small tmpfs filled to the
//! last byte and freed. After each, it counts acknowledged uploads lost, uploads whose bytes
//! differ, duplicate rows, orphan or empty blobs, temp files left, jobs stuck, and the seconds
//! until every job settled after the restart.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alcoves::db::Db;

use crate::common::{Backend, Store, files_under, free_port};
use crate::disk::Tmpfs;
use crate::process::{JsonReply, Running, kill_hard, owner_with_library, serve_with, wait_exit};

/// One row of the table.
#[derive(Default)]
struct Outcome {
    acknowledged: usize,
    lost: usize,
    bad_bytes: usize,
    duplicates: usize,
    orphan_or_empty_blobs: usize,
    temp_files: usize,
    jobs_stuck: usize,
    settle_secs: f64,
}

impl Outcome {
    /// Waits for every job to settle, keeping the slowest settle and counting stuck jobs.
    async fn settle(&mut self, db: &Db) {
        let (secs, stuck) = settle(db).await;
        self.settle_secs = self.settle_secs.max(secs);
        self.jobs_stuck += stuck;
    }
}

/// What the uploaders saw acknowledged: file id to SHA-256.
type Acked = Arc<Mutex<HashMap<String, String>>>;

/// A Redis with its own folder, so it can save a snapshot and restart from it.
struct Redis {
    port: u16,
    dir: crate::common::TempDir,
    child: Option<std::process::Child>,
}

impl Redis {
    fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            dir: crate::common::TempDir::new(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) {
        std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
    }

    /// Kills it and starts it again from whatever `dump.rdb` its folder holds.
    fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Uploads random files as fast as it can until stopped, recording what was acknowledged.
fn uploaders(
    base: &str,
    cookie: &str,
    files: &str,
    acked: &Acked,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4u32)
        .map(|n| {
            let (base, cookie, files) = (base.to_owned(), cookie.to_owned(), files.to_owned());
            let (acked, stop) = (acked.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut i = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let len = 64 * 1024 + (i * 7919 + n * 104_729) as usize % (900 * 1024);
                    let seed = rand_seed();
                    let bytes: Vec<u8> = (0..len as u64)
                        .map(|k| (k.wrapping_add(seed).wrapping_mul(0x9E37_79B9) >> 24) as u8)
                        .collect();
                    let sha = alcoves::digest::sha256_hex(&bytes);
                    let sent = http
                        .post(format!("{base}{files}"))
                        .header("cookie", &cookie)
                        .header("x-upload-name", format!("f{n}-{i}.bin"))
                        .body(bytes)
                        .send()
                        .await;
                    let Ok(res) = sent else { break };
                    if res.status() == 201
                        && let Ok(json) = res.json::<serde_json::Value>().await
                    {
                        let id = json["id"].as_str().unwrap_or("").to_owned();
                        acked.lock().unwrap().insert(id, sha);
                    }
                }
            })
        })
        .collect()
}

/// Uploads for `after`, then does `fault` while uploads are in flight, then stops uploading.
async fn under_load(
    (base, cookie, files): (&str, &str, &str),
    acked: &Acked,
    after: Duration,
    fault: impl FnOnce(),
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = uploaders(base, cookie, files, acked, &stop);
    tokio::time::sleep(after).await;
    fault();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
}

fn rand_seed() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// Seconds until no job is queued or processing (a minute at most; then the count stuck).
async fn settle(db: &Db) -> (f64, usize) {
    let started = Instant::now();
    loop {
        let mut conn = db.conn().await.unwrap();
        let open: i64 = alcoves::jobs::store::counts(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .filter(|(_, status, _)| status.pending())
            .map(|(_, _, n)| n)
            .sum();
        if open == 0 {
            return (started.elapsed().as_secs_f64(), 0);
        }
        if started.elapsed() > Duration::from_secs(60) {
            return (started.elapsed().as_secs_f64(), open as usize);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks every acknowledged upload against the server and the data dir.
async fn audit(
    store_dir: &Path,
    base: &str,
    cookie: &str,
    files: &str,
    acked: &Acked,
    out: &mut Outcome,
) {
    let http = reqwest::Client::new();
    let acked = acked.lock().unwrap().clone();
    out.acknowledged = acked.len();
    let mut listed: Vec<serde_json::Value> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = http
            .get(format!("{base}{files}?limit=200&cursor={cursor}"))
            .header("cookie", cookie)
            .json_reply()
            .await;
        listed.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["nextCursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = next.to_owned(),
            _ => break,
        }
    }
    let mut by_sha: HashMap<String, usize> = HashMap::new();
    for file in &listed {
        *by_sha
            .entry(file["sha256"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    out.duplicates = by_sha.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    for (id, sha) in &acked {
        let res = http
            .get(format!("{base}{files}/{id}/original"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            out.lost += 1;
            continue;
        }
        let bytes = res.bytes().await.unwrap();
        if &alcoves::digest::sha256_hex(&bytes) != sha {
            out.bad_bytes += 1;
        }
    }
    let ids: std::collections::HashSet<&str> =
        listed.iter().filter_map(|f| f["id"].as_str()).collect();
    for (path, len) in files_under(&store_dir.join("storage/files")) {
        let id = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if len == 0 || !ids.contains(id) {
            out.orphan_or_empty_blobs += 1;
        }
    }
    out.temp_files = ["tmp", "storage/.tmp"]
        .iter()
        .map(|dir| files_under(&store_dir.join(dir)).len())
        .sum();
}

/// Audits the run (the data dir `data`), stops the server and removes its store.
#[allow(clippy::too_many_arguments)]
async fn finish(
    server: Running,
    store: Store,
    data: &Path,
    base: &str,
    cookie: &str,
    files: &str,
    acked: &Acked,
    mut outcome: Outcome,
) -> Outcome {
    audit(data, base, cookie, files, acked, &mut outcome).await;
    drop(server);
    store.cleanup().await;
    outcome
}

/// Kill -9 during uploads and jobs, `rounds` times, then restart and audit.
async fn kill_run(backend: Backend, redis: Option<&Redis>) -> Outcome {
    let store = Store::new(backend).await;
    let prefix = format!("faults-{}", uuid::Uuid::new_v4().simple());
    let mut env: Vec<(&str, String)> = Vec::new();
    if let Some(redis) = redis {
        env.push(("ALCOVES_QUEUE_URL", redis.url()));
        env.push(("ALCOVES_QUEUE_PREFIX", prefix.clone()));
    }
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut server, mut base): (Running, String) = serve_with(&store, &["serve"], &pairs).await;
    let http = reqwest::Client::new();
    let (cookie, files) = owner_with_library(&http, &base).await;
    let acked: Acked = Arc::default();
    let mut outcome = Outcome::default();
    for _ in 0..3 {
        let site = (base.as_str(), cookie.as_str(), files.as_str());
        under_load(site, &acked, Duration::from_millis(1500), || {
            kill_hard(&server)
        })
        .await;
        let _ = wait_exit(server).await;
        (server, base) = serve_with(&store, &["serve"], &pairs).await;
        let db = Db::connect(&store.config().effective_database_url(), 1)
            .await
            .unwrap();
        outcome.settle(&db).await;
    }
    let data = store.dir.path().to_path_buf();
    finish(
        server, store, &data, &base, &cookie, &files, &acked, outcome,
    )
    .await
}

/// Redis restarted empty, then from a snapshot older than the jobs it should hold.
async fn redis_run(redis: &mut Redis) -> Outcome {
    let store = Store::new(Backend::Postgres).await;
    let prefix = format!("faults-{}", uuid::Uuid::new_v4().simple());
    let url = redis.url();
    let env = [
        ("ALCOVES_QUEUE_URL", url.as_str()),
        ("ALCOVES_QUEUE_PREFIX", prefix.as_str()),
    ];
    let (server, base) = serve_with(&store, &["serve"], &env).await;
    let http = reqwest::Client::new();
    let (cookie, files) = owner_with_library(&http, &base).await;
    let acked: Acked = Arc::default();
    let db = Db::connect(&store.config().effective_database_url(), 1)
        .await
        .unwrap();
    let mut outcome = Outcome::default();
    for from_snapshot in [false, true] {
        if from_snapshot {
            redis.cli(&["SAVE"]);
        } else {
            std::fs::remove_file(redis.dir.path().join("dump.rdb")).ok();
        }
        let site = (base.as_str(), cookie.as_str(), files.as_str());
        under_load(site, &acked, Duration::from_millis(1500), || {
            redis.restart()
        })
        .await;
        outcome.settle(&db).await;
    }
    let data = store.dir.path().to_path_buf();
    finish(
        server, store, &data, &base, &cookie, &files, &acked, outcome,
    )
    .await
}

/// The data dir on a small tmpfs: uploads until the disk is full, then space freed.
async fn disk_run() -> Outcome {
    let disk = Tmpfs::mount(96 << 20);
    let store = Store::new(Backend::Sqlite).await;
    let data = disk.path().join("data");
    let data_env = data.display().to_string();
    let env = [
        ("ALCOVES_DATA_DIR", data_env.as_str()),
        ("ALCOVES_DISK_RESERVE_MB", "0"),
    ];
    let (server, base) = serve_with(&store, &["serve"], &env).await;
    let http = reqwest::Client::new();
    let (cookie, files) = owner_with_library(&http, &base).await;
    let acked: Acked = Arc::default();
    let filler = disk.fill(8 << 20);
    let site = (base.as_str(), cookie.as_str(), files.as_str());
    under_load(site, &acked, Duration::from_secs(3), || {
        std::fs::remove_file(filler).unwrap()
    })
    .await;
    under_load(site, &acked, Duration::from_secs(1), || {}).await;
    let db = Db::connect(&data.join("alcoves.db").display().to_string(), 1)
        .await
        .unwrap();
    let mut outcome = Outcome::default();
    outcome.settle(&db).await;
    drop(db);
    finish(
        server, store, &data, &base, &cookie, &files, &acked, outcome,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the fault run: minutes long, run it with --ignored"]
async fn fault_run() {
    let mut redis = Redis::start();
    let rows = vec![
        (
            "kill -9 x3, sqlite + embedded",
            kill_run(Backend::Sqlite, None).await,
        ),
        (
            "kill -9 x3, postgres + redis",
            kill_run(Backend::Postgres, Some(&redis)).await,
        ),
        (
            "redis restarts (empty, old snapshot)",
            redis_run(&mut redis).await,
        ),
        ("disk full and freed (tmpfs)", disk_run().await),
    ];
    println!(
        "\n{:<38} {:>6} {:>5} {:>5} {:>5} {:>7} {:>5} {:>5} {:>8}",
        "scenario", "acked", "lost", "bad", "dups", "orphans", "temp", "stuck", "settle s"
    );
    let mut clean = true;
    for (name, o) in &rows {
        println!(
            "{name:<38} {:>6} {:>5} {:>5} {:>5} {:>7} {:>5} {:>5} {:>8.1}",
            o.acknowledged,
            o.lost,
            o.bad_bytes,
            o.duplicates,
            o.orphan_or_empty_blobs,
            o.temp_files,
            o.jobs_stuck,
            o.settle_secs
        );
        clean &= o.lost
            + o.bad_bytes
            + o.duplicates
            + o.orphan_or_empty_blobs
            + o.temp_files
            + o.jobs_stuck
            == 0
            && o.settle_secs < 10.0
            && o.acknowledged > 0;
    }
    assert!(clean, "the fault run found problems (table above)");
}
