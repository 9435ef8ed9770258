//! Thumbnail throughput on 12-megapixel JPEGs: the thumbnail job's work (one reduced-size
//! decode, then every named size including 240 px and 1920 px) against `vipsthumbnail` and
//! ImageMagick making the 240 px and 1920 px sizes from the same files, in one run, each using
//! both cores (two files at a time), with peak RSS.
//!
//! `cargo bench --bench thumbnails` (16 photos; `ALCOVES_BENCH_PHOTOS` changes it).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alcoves::media::{Limits, image, thumbnails};
use common::{children_peak_rss_mib, make_photos, run, run_parallel, vips_two_at_a_time};

fn main() {
    let count = common::photo_count(16);
    let dir = std::env::temp_dir().join(format!("alcoves-thumb-bench-{}", std::process::id()));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let photos: Vec<PathBuf> = make_photos(&dir, count);

    let limits = Limits {
        max_pixels: 200_000_000,
        max_dimension: 30_000,
        max_duration: Duration::from_secs(3600),
        max_frames: 1_000_000,
        deadline: Instant::now() + Duration::from_secs(3600),
    };
    let ours = run_parallel(&photos, 2, |photo| {
        let bytes = std::fs::read(photo).unwrap();
        let picture =
            image::decode(&bytes, "image/jpeg", &thumbnails::scale_for_all, &limits).unwrap();
        let rendered = thumbnails::render_all(&picture.pixels).unwrap();
        assert_eq!(rendered.thumbnails.len(), thumbnails::SIZES.len());
    });
    let ours_rss = common::own_peak_rss_mib();

    let vips = vips_two_at_a_time(&photos, &out);
    let vips_rss = children_peak_rss_mib();

    let magick = run_parallel(&photos, 2, |photo| {
        let name = photo.file_stem().unwrap().to_str().unwrap();
        run(
            "convert",
            &[
                photo.to_str().unwrap(),
                "-resize",
                "1920x1080",
                "-write",
                &format!("{}/{name}-im-1920.jpg", out.display()),
                "-resize",
                "240x240",
                &format!("{}/{name}-im-240.jpg", out.display()),
            ],
        );
    });
    let all_children_rss = children_peak_rss_mib();

    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!("Thumbnails of {count} 12-megapixel JPEGs, two at a time on 2 cores");
    println!(
        "{:<44} {:>9} {:>8} {:>14}",
        "contender", "photos/s", "x vips", "peak RSS MiB"
    );
    let row = |name: &str, d: Duration, rss: String| {
        println!(
            "{name:<44} {:>9.2} {:>8.2} {rss:>14}",
            rate(d),
            rate(d) / rate(vips)
        );
    };
    row(
        "alcoves (all 5 sizes from one decode)",
        ours,
        format!("{ours_rss:.0}"),
    );
    row(
        "vipsthumbnail (240 px + 1920 px)",
        vips,
        format!("{vips_rss:.0}"),
    );
    row(
        "ImageMagick convert (1920 px + 240 px)",
        magick,
        format!("{all_children_rss:.0} (max of all)"),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
