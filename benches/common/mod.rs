//! What the benchmarks share: running work on both cores, external tools, peak memory, and a
//! corpus of camera-like photos.

#![allow(dead_code)] // each bench uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How many photos a bench makes: `ALCOVES_BENCH_PHOTOS`, or `default`.
pub fn photo_count(default: usize) -> usize {
    std::env::var("ALCOVES_BENCH_PHOTOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident set of this process so far, in MiB.
pub fn own_peak_rss_mib() -> f64 {
    peak_rss_mib(std::process::id())
}

/// Peak resident set of process `pid` so far (`VmHWM`), in MiB; 0 when it is gone.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Peak resident set of the largest child process waited for so far, in MiB.
pub fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// Runs `job` over `items` on `workers` threads; returns the elapsed time.
pub fn run_parallel<T: Sync>(items: &[T], workers: usize, job: impl Fn(&T) + Sync) -> Duration {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    job(item);
                }
            });
        }
    });
    started.elapsed()
}

/// Runs a command, panicking with its output if it fails.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shared test data folder (../shared/models/testdata).
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models/testdata")
        .join(name)
}

/// `count` camera-like 12-megapixel JPEGs in `dir` (4000x3000, grain so each compresses like a
/// real photo, 4:2:0, quality 90, with a camera's EXIF: make, model, time taken, GPS), read once
/// so everyone finds them in the page cache.
pub fn make_photos(dir: &Path, count: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let source = testdata("astronaut.jpg");
    eprintln!("making {count} 12-megapixel JPEGs…");
    let photos: Vec<PathBuf> = (0..count)
        .map(|i| dir.join(format!("IMG_{i:04}.jpg")))
        .collect();
    let numbered: Vec<(usize, &PathBuf)> = photos.iter().enumerate().collect();
    run_parallel(&numbered, 2, |(i, photo)| {
        let photo = photo.to_str().unwrap();
        run(
            "convert",
            &[
                source.to_str().unwrap(),
                "-resize",
                "4000x3000!",
                "-seed",
                &i.to_string(),
                "-attenuate",
                "0.4",
                "+noise",
                "Gaussian",
                "-sampling-factor",
                "4:2:0",
                "-quality",
                "90",
                photo,
            ],
        );
        run(
            "exiftool",
            &[
                "-q",
                "-overwrite_original",
                "-Make=Canon",
                "-Model=Canon EOS 80D",
                &format!(
                    "-DateTimeOriginal=2024:05:{:02} 10:{:02}:00",
                    1 + i % 28,
                    i % 60
                ),
                "-GPSLatitude=48.8584",
                "-GPSLatitudeRef=N",
                "-GPSLongitude=2.2945",
                "-GPSLongitudeRef=E",
                photo,
            ],
        );
    });
    for p in &photos {
        std::fs::read(p).unwrap();
    }
    photos
}

/// `vipsthumbnail` making the 240 px and 1920 px sizes of every photo into `out`, two photos at
/// a time; returns the elapsed time.
pub fn vips_two_at_a_time(photos: &[PathBuf], out: &Path) -> Duration {
    std::fs::create_dir_all(out).unwrap();
    run_parallel(photos, 2, |photo| {
        let name = photo.file_stem().unwrap().to_str().unwrap();
        for size in ["240", "1920x1080"] {
            let target = format!("{}/{name}-vips-{size}.jpg", out.display());
            run(
                "vipsthumbnail",
                &[photo.to_str().unwrap(), "-s", size, "-o", &target],
            );
        }
    })
}
