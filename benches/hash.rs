//! Hashing throughput: the code paths hash jobs use (a local file, or a store's stream as for
//! S3) against `sha256sum` and `openssl dgst -sha256` on the same files, in one run, with the
//! page cache warm for all.
//!
//! `cargo bench --bench hash` (1 GiB by default; `ALCOVES_BENCH_MB` changes it).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use alcoves::storage::local::LocalStore;
use alcoves::storage::{BlobKey, BlobStore, Scope};

const FILE_MB: usize = 64;

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs
}

/// Runs a checksum tool over the files; returns seconds and the hex digests it printed.
fn peer(program: &str, args: &[&str], files: &[String]) -> Option<(f64, Vec<String>)> {
    let started = Instant::now();
    let out = Command::new(program).args(args).args(files).output().ok()?;
    let secs = started.elapsed().as_secs_f64();
    out.status.success().then(|| {
        let text = String::from_utf8_lossy(&out.stdout);
        let digests = text
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .find(|w| w.len() == 64)
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        (secs, digests)
    })
}

fn main() {
    let total_mb: usize = std::env::var("ALCOVES_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let count = total_mb.div_ceil(FILE_MB);
    let dir = std::env::temp_dir().join(format!("alcoves-bench-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = LocalStore::open(&dir).await.unwrap();
        let mut keys = Vec::new();
        let mut seed = 0x9E37_79B9u32;
        for i in 0..count {
            let mut bytes = vec![0u8; FILE_MB << 20];
            for b in bytes.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *b = seed as u8;
            }
            let key =
                BlobKey::new(Scope::Originals, &["bench", &format!("f{i}"), "original"]).unwrap();
            store.put_bytes(&key, bytes.into()).await.unwrap();
            keys.push(key);
        }
        let files: Vec<String> = keys
            .iter()
            .map(|k| dir.join(k.as_str()).display().to_string())
            .collect();
        let bytes = (count * FILE_MB) as u64 * 1024 * 1024;
        // Warm the page cache so every contender reads from memory.
        peer("cat", &[], &files);

        let started = Instant::now();
        let mut ours = Vec::new();
        for key in &keys {
            let stream = store.read(key, None).await.unwrap();
            ours.push(
                alcoves::digest::sha256_stream(stream, |_| {})
                    .await
                    .unwrap(),
            );
        }
        let ours_secs = started.elapsed().as_secs_f64();

        println!(
            "SHA-256 of {count} files, {} MiB in all (one stream at a time)",
            bytes >> 20
        );
        println!("{:<28} {:>10}", "hasher", "MiB/s");
        println!(
            "{:<28} {:>10.0}",
            "alcoves (store stream)",
            mb_per_s(bytes, ours_secs)
        );
        for (name, program, args) in [
            ("sha256sum", "sha256sum", &[][..]),
            (
                "openssl dgst -sha256",
                "openssl",
                &["dgst", "-sha256", "-r"][..],
            ),
        ] {
            match peer(program, args, &files) {
                Some((secs, digests)) => {
                    assert_eq!(digests, ours, "{name} disagrees with alcoves");
                    println!("{name:<28} {:>10.0}", mb_per_s(bytes, secs));
                }
                None => println!("{name:<28} {:>10}", "n/a"),
            }
        }
    });
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
