//! The whole pipeline through the real server: camera-like 12-megapixel JPEGs (and two videos
//! and two recordings beside them) brought in by import in place (`library bind` + `library
//! scan`) and by upload, with and without the models, against `vipsthumbnail` making two sizes
//! of the same photos two at a time, in one run. For each run: photos/s until every photo's
//! stage was done (per stage, from when the import or upload began), the same for every job of
//! every file, and the server's peak RSS.
//!
//! A last run uploads one photo, one video and a one-hour recording (speech every minute) at
//! once with every model, for the server's peak memory while a long recording is heard and
//! transcribed.
//!
//! `cargo bench --bench pipeline` (20 photos; `ALCOVES_BENCH_PHOTOS` changes it).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use common::{make_photos, run, vips_two_at_a_time};

const BIN: &str = env!("CARGO_BIN_EXE_alcoves");
const PASSWORD: &str = "correct horse battery staple";
/// The stages a photo goes through, in the order they are reported.
const PHOTO_STAGES: [&str; 5] = ["hash", "metadata", "thumbnails", "faces", "objects"];

/// A server process on its own data dir, killed when dropped.
struct Server {
    child: Child,
    base: String,
    env: Vec<(&'static str, String)>,
}

impl Server {
    fn start(data: &Path, models: Option<&Path>) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut env = vec![
            ("ALCOVES_DATA_DIR", data.display().to_string()),
            ("ALCOVES_LISTEN", format!("127.0.0.1:{port}")),
            ("ALCOVES_JOB_POLL_MS", "100".into()),
            ("ALCOVES_LOG", "warn".into()),
        ];
        // Without models the ML stages are skipped; an empty folder says so.
        let models = models.map_or_else(|| data.join("no-models"), Path::to_path_buf);
        env.push(("ALCOVES_MODELS_DIR", models.display().to_string()));
        let child = Command::new(BIN)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            env,
        }
    }

    /// Runs an `alcoves` command on the same data dir.
    fn command(&self, args: &[&str]) {
        let out = Command::new(BIN)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }

    fn peak_rss_mib(&self) -> f64 {
        common::peak_rss_mib(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed-in owner's client and a library with face and object detection on.
struct Owner {
    http: reqwest::Client,
    cookie: String,
    files: String,
}

async fn owner(server: &Server) -> Owner {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("{}/api/health", server.base))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = http
        .post(format!("{}/api/_auth/register", server.base))
        .json(&json!({ "username": "bench", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let library: Value = http
        .post(format!("{}/api/libraries", server.base))
        .header("cookie", &cookie)
        .json(&json!({ "name": "Bench" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = library["id"].as_str().unwrap().to_owned();
    http.patch(format!("{}/api/libraries/{id}", server.base))
        .header("cookie", &cookie)
        .json(&json!({ "faceRecognitionEnabled": true, "objectDetectionEnabled": true }))
        .send()
        .await
        .unwrap();
    Owner {
        http,
        cookie,
        files: format!("{}/api/libraries/{id}/files", server.base),
    }
}

/// Every file's job states once all `expected` files have settled (no job queued or running).
async fn settled(owner: &Owner, expected: usize) -> Vec<Value> {
    loop {
        let page: Value = owner
            .http
            .get(format!("{}?limit=1000", owner.files))
            .header("cookie", &owner.cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let busy = items.iter().any(|f| {
            f["jobs"].as_object().is_some_and(|jobs| {
                jobs.values()
                    .any(|j| matches!(j["status"].as_str(), Some("queued" | "processing")))
            })
        });
        if items.len() >= expected && !busy {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One run's figures: seconds from the start until each photo stage, and every job, were done.
struct Figures {
    stages: BTreeMap<&'static str, f64>,
    all: f64,
    failed: usize,
    peak_rss: f64,
}

fn figures(files: &[Value], started_ms: i64, peak_rss: f64) -> Figures {
    let seconds = |ms: i64| (ms - started_ms) as f64 / 1000.0;
    let mut stages = BTreeMap::new();
    let mut all = 0i64;
    let mut failed = 0;
    for file in files {
        for (kind, job) in file["jobs"].as_object().unwrap() {
            let at = job["updatedAt"].as_i64().unwrap();
            all = all.max(at);
            failed += usize::from(job["status"] == "failed");
            let stage = PHOTO_STAGES.iter().find(|s| **s == kind.as_str());
            if let (Some(stage), "photo", "done") = (
                stage,
                file["kind"].as_str().unwrap_or(""),
                job["status"].as_str().unwrap_or(""),
            ) {
                let entry = stages.entry(*stage).or_insert(0.0f64);
                *entry = entry.max(seconds(at));
            }
        }
    }
    Figures {
        stages,
        all: seconds(all),
        failed,
        peak_rss,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Imports `folder` in place into a fresh server and waits until every file has settled.
async fn import_in_place(
    data: &Path,
    models: Option<&Path>,
    folder: &Path,
    files: usize,
) -> Figures {
    let server = Server::start(data, models);
    let owner = owner(&server).await;
    let library = owner.files.rsplit('/').nth(1).unwrap().to_owned();
    server.command(&["library", "bind", &library, folder.to_str().unwrap()]);
    let started = now_ms();
    server.command(&["library", "scan", &library]);
    let done = settled(&owner, files).await;
    figures(&done, started, server.peak_rss_mib())
}

/// Uploads `media` (two at a time) into a fresh server and waits until every file has settled.
async fn upload(data: &Path, models: Option<&Path>, media: &[PathBuf]) -> Figures {
    let server = Server::start(data, models);
    let owner = owner(&server).await;
    let started = now_ms();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let uploader = || async {
        while let Some(path) = media.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            let res = owner
                .http
                .post(&owner.files)
                .header("cookie", &owner.cookie)
                .header("x-upload-name", path.file_name().unwrap().to_str().unwrap())
                .body(tokio::fs::read(path).await.unwrap())
                .send()
                .await
                .unwrap();
            assert!(
                res.status().is_success(),
                "upload {}: {}",
                path.display(),
                res.status()
            );
        }
    };
    tokio::join!(uploader(), uploader());
    let done = settled(&owner, media.len()).await;
    figures(&done, started, server.peak_rss_mib())
}

/// Two short 1080p H.264 videos and two recordings (WAV speech, MP3 tone) in `dir`.
fn make_media(dir: &Path) -> Vec<PathBuf> {
    let video = |name: &str, source: &str| {
        let path = dir.join(name);
        run(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                source,
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=8",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-shortest",
                "-y",
                path.to_str().unwrap(),
            ],
        );
        path
    };
    let mut media = vec![
        video("clip1.mp4", "testsrc2=size=1920x1080:rate=30:duration=8"),
        video("clip2.mp4", "smptebars=size=1920x1080:rate=30:duration=8"),
    ];
    let speech = dir.join("speech.wav");
    std::fs::copy(common::testdata("jfk.wav"), &speech).unwrap();
    media.push(speech);
    let tone = dir.join("tone.mp3");
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:duration=30",
            "-y",
            tone.to_str().unwrap(),
        ],
    );
    media.push(tone);
    media
}

/// An hour of a phone-like recording (AAC, mono) in `dir`: jfk.wav's 11 s of speech, then
/// silence, every minute.
fn make_hour_recording(dir: &Path) -> PathBuf {
    let path = dir.join("hour.m4a");
    let speech = common::testdata("jfk.wav");
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            speech.to_str().unwrap(),
            "-af",
            "aresample=16000,apad=whole_dur=60,aloop=loop=59:size=960000",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-y",
            path.to_str().unwrap(),
        ],
    );
    path
}

#[tokio::main]
async fn main() {
    let count = common::photo_count(20);
    let root = std::env::temp_dir().join(format!("alcoves-pipeline-bench-{}", std::process::id()));
    let library = root.join("library");
    let mut media = make_photos(&library, count);
    media.extend(make_media(&library));
    let vips = vips_two_at_a_time(&media[..count], &root.join("vips"));
    let vips_rate = count as f64 / vips.as_secs_f64();
    let models = common::testdata("").parent().unwrap().to_path_buf();

    let mut runs: Vec<(&str, Figures)> = Vec::new();
    eprintln!("import in place, no models…");
    runs.push((
        "import in place, no models",
        import_in_place(&root.join("a"), None, &library, media.len()).await,
    ));
    eprintln!("upload, no models…");
    runs.push((
        "upload, no models",
        upload(&root.join("b"), None, &media).await,
    ));
    eprintln!("import in place, with models…");
    runs.push((
        "import in place, models",
        import_in_place(&root.join("c"), Some(&models), &library, media.len()).await,
    ));

    eprintln!("upload a photo, a video and an hour's recording, with models…");
    let hour = make_hour_recording(&root);
    let long = upload(
        &root.join("d"),
        Some(&models),
        &[media[0].clone(), media[count].clone(), hour],
    )
    .await;

    println!(
        "Pipeline on {count} 12-megapixel JPEGs (+2 videos, 2 recordings), 2 cores; photos/s until every photo's stage was done"
    );
    print!("{:<28}", "run");
    for stage in PHOTO_STAGES {
        print!(" {stage:>10}");
    }
    println!(
        " {:>10} {:>8} {:>7} {:>9}",
        "all jobs", "x vips", "failed", "peak MiB"
    );
    for (name, f) in &runs {
        print!("{name:<28}");
        for stage in PHOTO_STAGES {
            match f.stages.get(stage) {
                Some(s) => print!(" {:>10.2}", count as f64 / s),
                None => print!(" {:>10}", "-"),
            }
        }
        let whole = count as f64 / f.stages.values().copied().fold(0.0, f64::max);
        println!(
            " {:>9.1}s {:>8.2} {:>7} {:>9.0}",
            f.all,
            whole / vips_rate,
            f.failed,
            f.peak_rss
        );
    }
    println!(
        "{:<28} {vips_rate:>10.2} photos/s (240 px + 1920 px, two at a time)",
        "vipsthumbnail"
    );
    println!(
        "{:<28} {:>10.1}s all jobs, {} failed, peak {:.0} MiB (a photo, a video and a one-hour recording at once)",
        "hour recording, models", long.all, long.failed, long.peak_rss
    );
    let _ = std::fs::remove_dir_all(&root);
}
