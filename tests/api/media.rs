//! The media stage over HTTP: photos shown upright with their EXIF date, place and camera,
//! thumbnails and the image proxy, HEIC/AVIF and RAW previews, video posters and proxies made
//! only when browsers need them, audio waveforms, and hostile files that fail alone while the
//! worker keeps going. Fixtures are made in the test with ffmpeg, exiftool and ImageMagick.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{Backend, TempDir, TestServer};
use crate::files::testdata;
use crate::jobs::{job_status, settled_at};
use crate::on_both_backends;

on_both_backends!(
    photos_are_upright_dated_located_and_sized,
    videos_get_posters_and_proxies_only_when_needed,
    audio_gets_waveforms_and_proxies_only_when_needed,
    hostile_media_fails_alone_and_the_worker_keeps_going,
    a_file_purged_while_its_proxy_is_made_leaves_nothing,
);

/// ffmpeg output options for H.264 video with AAC sound, as browsers play it.
pub(crate) const H264_AAC: [&str; 7] = [
    "-c:v",
    "libx264",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-shortest",
];

/// Runs a fixture-making tool and fails the test unless it succeeds.
pub(crate) fn tool(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// Makes `name` in `dir`: 2 s of a 320x240 test picture (unless `video` is None) and a 440 Hz
/// tone, encoded with `codecs` (ffmpeg output options); returns its path.
pub(crate) fn make_clip(dir: &TempDir, name: &str, video: bool, codecs: &[&str]) -> PathBuf {
    let out = dir.path().join(name);
    let mut args = vec!["-y", "-v", "error"];
    if video {
        args.extend(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]);
    }
    args.extend(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "2"]);
    args.extend(codecs);
    args.push(path_str(&out));
    tool("ffmpeg", &args);
    out
}

/// A 2 s 320x240 H.264/AAC MP4 with its moov atom at the end (no faststart), stamped with a
/// creation time.
fn make_h264(dir: &TempDir) -> Vec<u8> {
    let mut codecs = H264_AAC.to_vec();
    codecs.extend(["-metadata", "creation_time=2024-07-14T16:30:05Z"]);
    std::fs::read(make_clip(dir, "h264.mp4", true, &codecs)).unwrap()
}

/// ffprobe's JSON of the container duration and the streams' codecs.
fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn duration_s(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(f64::NAN)
}

fn codecs(probe: &Value) -> Vec<&str> {
    probe["streams"]
        .as_array()
        .map(|streams| {
            streams
                .iter()
                .filter_map(|s| s["codec_name"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Uploads `bytes` as `name` and returns the new file's id.
async fn put(srv: &TestServer, lib: &str, who: &str, name: &str, bytes: Vec<u8>) -> String {
    let res = srv.upload(lib, who, name, bytes).await;
    assert_eq!(res.status, 201, "{name}: {}", res.json);
    res.json["id"].as_str().unwrap().to_owned()
}

/// A file's JSON once the media stage's last job (waveform) has settled.
async fn settled(srv: &TestServer, lib: &str, id: &str, who: &str) -> Value {
    settled_at(srv, lib, id, who, "waveform").await
}

fn job_error<'a>(file: &'a Value, kind: &str) -> &'a str {
    file["jobs"][kind]["error"].as_str().unwrap_or("")
}

/// An error a person can read: present, and not a crash report.
fn readable(error: &str) -> bool {
    !error.trim().is_empty() && !error.contains("crashed")
}

fn content_type(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn decode(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes)
        .expect("a decodable picture")
        .to_rgb8()
}

fn is_red(p: [u8; 3]) -> bool {
    p[0] > 200 && p[1] < 70 && p[2] < 70
}

fn is_blue(p: [u8; 3]) -> bool {
    p[2] > 200 && p[0] < 70 && p[1] < 70
}

/// The `kind` of each playback source, in the order listed.
fn source_kinds(sources: &Value) -> Vec<&str> {
    sources["sources"]
        .as_array()
        .map(|list| list.iter().filter_map(|s| s["kind"].as_str()).collect())
        .unwrap_or_default()
}

/// A little-endian TIFF shaped like a Nikon NEF: IFD0 with the make, orientation 6 and a SubIFD
/// of sensor data (CFA, uncompressed), and, when given, a JPEG preview referenced from IFD0.
fn fake_nef(preview: Option<&[u8]>) -> Vec<u8> {
    let make = b"NIKON CORPORATION\0";
    let entries: u32 = if preview.is_some() { 5 } else { 3 };
    let sub_ifd = 8 + 2 + entries * 12 + 4;
    let make_at = sub_ifd + 2 + 2 * 12 + 4;
    let jpeg_at = make_at + make.len() as u32;
    let entry = |out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    };
    let mut out = b"II*\0\x08\0\0\0".to_vec();
    out.extend_from_slice(&(entries as u16).to_le_bytes());
    entry(&mut out, 0x010F, 2, make.len() as u32, make_at);
    entry(&mut out, 0x0112, 3, 1, 6);
    entry(&mut out, 0x014A, 4, 1, sub_ifd);
    if let Some(jpeg) = preview {
        entry(&mut out, 0x0201, 4, 1, jpeg_at);
        entry(&mut out, 0x0202, 4, 1, jpeg.len() as u32);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(out.len() as u32, sub_ifd);
    out.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut out, 0x0103, 3, 1, 1);
    entry(&mut out, 0x0106, 3, 1, 32803);
    out.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(out.len() as u32, make_at);
    out.extend_from_slice(make);
    if let Some(jpeg) = preview {
        out.extend_from_slice(jpeg);
    }
    out
}

/// CRC-32 as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A valid PNG header claiming 30000x30000 8-bit RGB (2.7 GB of pixels) over a few bytes.
fn png_bomb() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&30_000u32.to_be_bytes());
    ihdr.extend_from_slice(&30_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    // A zlib stream holding one stored byte: the first row's filter type.
    png_chunk(
        &mut png,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x01, 0x00, 0xFE, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x01,
        ],
    );
    png_chunk(&mut png, b"IEND", &[]);
    png
}

async fn photos_are_upright_dated_located_and_sized(backend: Backend) {
    let dir = TempDir::new();
    let dog_path = testdata("dog.jpg");
    let dog = std::fs::read(&dog_path).unwrap();
    // 300x100, red on the left and blue on the right; orientation 6 shows it turned 90°
    // clockwise, so red on top and blue below, 100 wide and 300 high.
    let oriented = dir.path().join("oriented.jpg");
    let oriented_arg = path_str(&oriented);
    tool(
        "convert",
        &[
            "-size",
            "150x100",
            "xc:red",
            "-size",
            "150x100",
            "xc:blue",
            "+append",
            oriented_arg,
        ],
    );
    tool(
        "exiftool",
        &[
            "-q",
            "-overwrite_original",
            "-Orientation#=6",
            "-DateTimeOriginal=2024:07:14 18:30:05",
            "-OffsetTimeOriginal=+02:00",
            "-GPSLatitude=48.8584",
            "-GPSLatitudeRef=N",
            "-GPSLongitude=2.2945",
            "-GPSLongitudeRef=E",
            "-Make=Canon",
            "-Model=EOS R5",
            oriented_arg,
        ],
    );
    // Capture times only in XMP, or only in IPTC (with its offset), as editors and scanning
    // software write them.
    let dated: Vec<(&str, Vec<u8>)> = [
        (
            "xmp.jpg",
            &["-XMP-xmp:CreateDate=2015:06:07 08:09:10+03:00"][..],
        ),
        (
            "iptc.jpg",
            &[
                "-IPTC:DateCreated=2012:03:04",
                "-IPTC:TimeCreated=05:06:07+01:00",
            ][..],
        ),
    ]
    .into_iter()
    .map(|(name, tags)| {
        let path = dir.path().join(name);
        tool("convert", &["-size", "64x48", "xc:green", path_str(&path)]);
        let mut args = vec!["-q", "-overwrite_original"];
        args.extend(tags);
        args.push(path_str(&path));
        tool("exiftool", &args);
        (name, std::fs::read(&path).unwrap())
    })
    .collect();
    let mut converted = Vec::new();
    for ext in ["heic", "avif"] {
        let out = dir.path().join(format!("dog.{ext}"));
        tool(
            "convert",
            &[path_str(&dog_path), "-resize", "320x", path_str(&out)],
        );
        converted.push((ext, std::fs::read(out).unwrap()));
    }

    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    let oriented_id = put(
        &srv,
        &lib,
        &owner,
        "oriented.jpg",
        std::fs::read(oriented).unwrap(),
    )
    .await;
    let mut heif_ids = Vec::new();
    for (ext, bytes) in converted {
        heif_ids.push((
            ext,
            put(&srv, &lib, &owner, &format!("dog.{ext}"), bytes).await,
        ));
    }
    let bare_raw = put(&srv, &lib, &owner, "raw.nef", fake_nef(None)).await;
    let raw_with_preview = put(
        &srv,
        &lib,
        &owner,
        "preview.nef",
        fake_nef(Some(dog.as_slice())),
    )
    .await;
    let dog_id = put(&srv, &lib, &owner, "dog.jpg", dog).await;
    let mut dated_ids = Vec::new();
    for (name, bytes) in dated {
        dated_ids.push(put(&srv, &lib, &owner, name, bytes).await);
    }

    // The oriented JPEG: upright size, EXIF time with its offset, place and camera.
    let file = settled(&srv, &lib, &oriented_id, &owner).await;
    assert_eq!(job_status(&file, "metadata"), "done", "{file}");
    assert_eq!(job_status(&file, "thumbnails"), "done", "{file}");
    assert_eq!(file["width"], 100, "upright width: {file}");
    assert_eq!(file["height"], 300, "upright height: {file}");
    assert_eq!(file["capturedAtSource"], "exif", "{file}");
    assert_eq!(
        file["capturedAt"], 1_720_974_605_000_i64,
        "18:30:05 at +02:00 is 16:30:05 UTC: {file}"
    );
    let media = &file["media"];
    assert_eq!(media["make"], "Canon", "{media}");
    assert_eq!(media["model"], "EOS R5", "{media}");
    assert_eq!(media["orientation"], 6, "{media}");
    assert_eq!(media["taken"]["offsetMinutes"], 120, "{media}");
    let latitude = media["gps"]["latitude"].as_f64().unwrap_or(f64::NAN);
    let longitude = media["gps"]["longitude"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (latitude - 48.8584).abs() < 1e-4 && (longitude - 2.2945).abs() < 1e-4,
        "{media}"
    );

    // 2015-06-07 08:09:10 at +03:00 from XMP; 2012-03-04 05:06:07 at +01:00 from IPTC.
    for (id, source, epoch_ms) in [
        (&dated_ids[0], "xmp", 1_433_653_750_000_i64),
        (&dated_ids[1], "iptc", 1_330_833_967_000_i64),
    ] {
        let file = settled(&srv, &lib, id, &owner).await;
        assert_eq!(file["capturedAtSource"], source, "{file}");
        assert_eq!(file["capturedAt"], epoch_ms, "{file}");
    }

    let thumbs = format!("/api/libraries/{lib}/files/{oriented_id}/thumbnails");
    let (status, headers, body) = srv.fetch(&format!("{thumbs}/preview"), &owner, &[]).await;
    assert_eq!((status, content_type(&headers)), (200, "image/jpeg"));
    let preview = decode(&body);
    assert_eq!(preview.dimensions(), (100, 300), "upright, never enlarged");
    let (top, bottom) = (preview.get_pixel(50, 40).0, preview.get_pixel(50, 260).0);
    assert!(
        is_red(top) && is_blue(bottom),
        "turned clockwise: red on top ({top:?}), blue below ({bottom:?})"
    );
    let (status, headers, body) = srv.fetch(&format!("{thumbs}/timeline"), &owner, &[]).await;
    assert_eq!((status, content_type(&headers)), (200, "image/webp"));
    assert!(
        body.starts_with(b"RIFF") && body.get(8..12) == Some(&b"WEBP"[..]),
        "a WebP"
    );
    let timeline = decode(&body);
    assert_eq!(timeline.dimensions(), (240, 240));
    let (top, bottom) = (
        timeline.get_pixel(120, 30).0,
        timeline.get_pixel(120, 210).0,
    );
    assert!(
        is_red(top) && is_blue(bottom),
        "the timeline crop is upright too: {top:?} over {bottom:?}"
    );
    let (status, headers, body) = srv.fetch(&format!("{thumbs}/search"), &owner, &[]).await;
    assert_eq!((status, content_type(&headers)), (200, "image/webp"));
    assert_eq!(decode(&body).dimensions(), (80, 80));
    let (status, _, _) = srv.fetch(&format!("{thumbs}/huge"), &owner, &[]).await;
    assert_eq!(status, 404, "no such named size");
    let (status, _, body) = srv
        .fetch(
            &format!("/api/files/proxy/{lib}/{oriented_id}/preview?width=64&format=jpeg"),
            &owner,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let small = decode(&body);
    assert_eq!(
        small.dimensions(),
        (64, 192),
        "the proxy fits the upright photo"
    );
    assert!(is_red(small.get_pixel(32, 30).0) && is_blue(small.get_pixel(32, 160).0));

    // HEIC and AVIF made from the 768x576 dog at 320 wide.
    for (ext, id) in &heif_ids {
        let file = settled(&srv, &lib, id, &owner).await;
        assert_eq!(file["mime"], format!("image/{ext}"), "{file}");
        assert_eq!(job_status(&file, "thumbnails"), "done", "{ext}: {file}");
        assert_eq!(
            (file["width"].as_i64(), file["height"].as_i64()),
            (Some(320), Some(240)),
            "{ext}: {file}"
        );
        let (status, _, body) = srv
            .fetch(
                &format!("/api/libraries/{lib}/files/{id}/thumbnails/preview"),
                &owner,
                &[],
            )
            .await;
        assert_eq!(status, 200, "{ext}");
        assert_eq!(decode(&body).dimensions(), (320, 240), "{ext}");
    }

    // A RAW without an embedded preview is skipped with the reason; nothing is rendered.
    let file = settled(&srv, &lib, &bare_raw, &owner).await;
    assert_eq!(file["mime"], "image/tiff", "{file}");
    assert_eq!(job_status(&file, "metadata"), "done", "{file}");
    assert_eq!(job_status(&file, "thumbnails"), "skipped", "{file}");
    assert!(
        job_error(&file, "thumbnails").contains("no embedded JPEG preview"),
        "{file}"
    );
    let (status, _, _) = srv
        .fetch(
            &format!("/api/libraries/{lib}/files/{bare_raw}/thumbnails/preview"),
            &owner,
            &[],
        )
        .await;
    assert_eq!(status, 404, "no thumbnail was made");

    // With a preview (the dog), it is used, turned by the RAW's orientation.
    let file = settled(&srv, &lib, &raw_with_preview, &owner).await;
    assert_eq!(job_status(&file, "thumbnails"), "done", "{file}");
    assert_eq!(file["media"]["make"], "NIKON CORPORATION", "{file}");
    assert_eq!(
        (file["width"].as_i64(), file["height"].as_i64()),
        (Some(576), Some(768)),
        "{file}"
    );
    let (status, _, body) = srv
        .fetch(
            &format!("/api/libraries/{lib}/files/{raw_with_preview}/thumbnails/preview"),
            &owner,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(decode(&body).dimensions(), (576, 768));

    // The image proxy: sizes, formats and fits on request, bad requests refused, identical
    // concurrent requests rendered once.
    let proxy = format!("/api/files/proxy/{lib}/{dog_id}");
    let (status, headers, body) = srv
        .fetch(
            &format!("{proxy}/preview?width=160&format=jpeg"),
            &owner,
            &[],
        )
        .await;
    assert_eq!((status, content_type(&headers)), (200, "image/jpeg"));
    let picture = decode(&body);
    assert!(picture.width() <= 160);
    assert_eq!(picture.dimensions(), (160, 120), "768x576 fitted 160 wide");
    let (status, headers, body) = srv
        .fetch(
            &format!("{proxy}/preview?format=webp&width=64&height=64&fit=cover"),
            &owner,
            &[],
        )
        .await;
    assert_eq!((status, content_type(&headers)), (200, "image/webp"));
    assert!(body.starts_with(b"RIFF") && body.get(8..12) == Some(&b"WEBP"[..]));
    assert_eq!(decode(&body).dimensions(), (64, 64));
    let (status, _, _) = srv
        .fetch(&format!("{proxy}/preview?width=99999"), &owner, &[])
        .await;
    assert_eq!(status, 400, "out-of-range width");
    let same = format!("{proxy}/card?width=192&height=96&quality=70");
    let answers =
        futures_util::future::join_all((0..6).map(|_| srv.fetch(&same, &owner, &[]))).await;
    for (status, headers, body) in &answers {
        assert_eq!((*status, content_type(headers)), (200, "image/jpeg"));
        assert!(
            *body == answers[0].2,
            "identical requests get identical bytes"
        );
    }
    assert_eq!(decode(&answers[0].2).dimensions(), (192, 96));

    // Uploads of empty files are refused; an empty file imported in place goes through the
    // pipeline cleanly: metadata done, thumbnails skipped with the reason.
    let nas = TempDir::new();
    std::fs::write(nas.path().join("empty.jpg"), b"").unwrap();
    let nas_lib = srv.library(&owner, "NAS").await;
    alcoves::import::bind(&srv.app, &nas_lib, Some(nas.path()))
        .await
        .unwrap();
    alcoves::import::scan(&srv.app, &nas_lib, |_, _| {})
        .await
        .unwrap();
    let list = srv
        .get(&format!("/api/libraries/{nas_lib}/files?limit=100"), &owner)
        .await
        .json;
    let empty_id = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|f| f["name"] == "empty.jpg"))
        .and_then(|f| f["id"].as_str())
        .unwrap_or_else(|| panic!("empty.jpg is indexed: {list}"))
        .to_owned();
    let file = settled(&srv, &nas_lib, &empty_id, &owner).await;
    assert_eq!(file["size"], 0, "{file}");
    assert_eq!(job_status(&file, "metadata"), "done", "{file}");
    assert_eq!(job_status(&file, "thumbnails"), "skipped", "{file}");
    assert!(readable(job_error(&file, "thumbnails")), "{file}");

    // The timeline's order: by when a photo was taken, not when it arrived, across pages.
    let again = put(
        &srv,
        &lib,
        &owner,
        "oriented-again.jpg",
        std::fs::read(dir.path().join("oriented.jpg")).unwrap(),
    )
    .await;
    settled(&srv, &lib, &again, &owner).await;
    let listed = |order: &'static str| {
        let (srv, lib, owner) = (&srv, &lib, &owner);
        async move {
            let (mut files, mut cursor) = (Vec::new(), String::new());
            loop {
                let page = srv
                    .get(
                        &format!(
                            "/api/libraries/{lib}/files?order={order}&limit=2&cursor={cursor}"
                        ),
                        owner,
                    )
                    .await
                    .json;
                files.extend(page["items"].as_array().unwrap().iter().map(|f| {
                    let taken = f["capturedAt"]
                        .as_i64()
                        .or(f["createdAt"].as_i64())
                        .unwrap();
                    (f["name"].as_str().unwrap().to_owned(), taken)
                }));
                match page["nextCursor"].as_str() {
                    Some(next) => cursor = next.to_owned(),
                    None => return files,
                }
            }
        }
    };
    let uploaded = listed("uploaded").await;
    let taken = listed("taken").await;
    assert_eq!(uploaded.len(), 9, "{uploaded:?}");
    assert_eq!(
        (uploaded[0].0.as_str(), uploaded[8].0.as_str()),
        ("oriented-again.jpg", "oriented.jpg")
    );
    assert_eq!(
        taken.len(),
        9,
        "every file once across the pages: {taken:?}"
    );
    assert!(
        taken.windows(2).all(|w| w[0].1 >= w[1].1),
        "newest taken first: {taken:?}"
    );
    assert_ne!(
        taken[0].0, "oriented-again.jpg",
        "taken in 2024, uploaded last: {taken:?}"
    );
    let bad = srv
        .get(&format!("/api/libraries/{lib}/files?order=random"), &owner)
        .await;
    assert_eq!(bad.status, 400);
    srv.stop().await;
}

async fn videos_get_posters_and_proxies_only_when_needed(backend: Backend) {
    let dir = TempDir::new();
    let h264 = make_h264(&dir);
    let avi = make_clip(
        &dir,
        "mpeg4.avi",
        true,
        &["-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest"],
    );
    let avi_seconds = duration_s(&ffprobe(&avi));

    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Videos").await;
    let h264_id = put(&srv, &lib, &owner, "clip.mp4", h264).await;
    let avi_id = put(&srv, &lib, &owner, "old.avi", std::fs::read(avi).unwrap()).await;

    // H.264/AAC in MP4 plays as it is: a poster, no proxy, the original as the only source.
    let file = settled(&srv, &lib, &h264_id, &owner).await;
    assert_eq!(file["kind"], "video", "{file}");
    assert_eq!(job_status(&file, "thumbnails"), "done", "{file}");
    assert_eq!(job_status(&file, "proxy"), "skipped", "{file}");
    assert!(
        job_error(&file, "proxy").starts_with("not_needed"),
        "{file}"
    );
    assert_eq!(file["media"]["video"]["codec"], "h264", "{file}");
    assert_eq!(
        file["media"]["browserPlayable"],
        Value::Bool(true),
        "{file}"
    );
    let ms = file["durationMs"].as_i64().unwrap_or(0);
    assert!((1900..=2100).contains(&ms), "about 2 s: {file}");
    assert_eq!(file["capturedAtSource"], "container", "{file}");
    assert_eq!(file["capturedAt"], 1_720_974_605_000_i64, "{file}");
    assert_eq!(
        (file["width"].as_i64(), file["height"].as_i64()),
        (Some(320), Some(240)),
        "{file}"
    );
    let base = format!("/api/libraries/{lib}/files/{h264_id}");
    let (status, headers, body) = srv
        .fetch(&format!("{base}/thumbnails/preview"), &owner, &[])
        .await;
    assert_eq!((status, content_type(&headers)), (200, "image/jpeg"));
    assert_eq!(decode(&body).dimensions(), (320, 240), "the poster frame");
    let sources = srv
        .get(&format!("{base}/playback-sources"), &owner)
        .await
        .json;
    assert_eq!(source_kinds(&sources), ["original"], "{sources}");
    let (status, _, _) = srv.fetch(&format!("{base}/playback"), &owner, &[]).await;
    assert_eq!(status, 404, "no proxy was made");

    // MPEG-4 Part 2 in AVI does not play in browsers: an H.264 proxy of the same length.
    let file = settled(&srv, &lib, &avi_id, &owner).await;
    assert_eq!(file["media"]["video"]["codec"], "mpeg4", "{file}");
    assert_eq!(
        file["media"]["browserPlayable"],
        Value::Bool(false),
        "{file}"
    );
    assert_eq!(job_status(&file, "thumbnails"), "done", "{file}");
    assert_eq!(job_status(&file, "proxy"), "done", "{file}");
    let base = format!("/api/libraries/{lib}/files/{avi_id}");
    let (status, headers, proxy) = srv.fetch(&format!("{base}/playback"), &owner, &[]).await;
    assert_eq!((status, content_type(&headers)), (200, "video/mp4"));
    let (status, headers, part) = srv
        .fetch(
            &format!("{base}/playback"),
            &owner,
            &[("range", "bytes=0-99")],
        )
        .await;
    assert_eq!((status, part.len()), (206, 100));
    assert!(
        part[..] == proxy[..100],
        "the range is the proxy's first bytes"
    );
    assert_eq!(
        headers["content-range"],
        format!("bytes 0-99/{}", proxy.len())
    );
    let proxy_path = dir.path().join("proxy.mp4");
    std::fs::write(&proxy_path, proxy).unwrap();
    let probe = ffprobe(&proxy_path);
    assert!(codecs(&probe).contains(&"h264"), "{probe}");
    assert!(
        (duration_s(&probe) - avi_seconds).abs() <= 0.1,
        "{probe} vs {avi_seconds} s"
    );
    let sources = srv
        .get(&format!("{base}/playback-sources"), &owner)
        .await
        .json;
    assert_eq!(source_kinds(&sources), ["proxy"], "{sources}");
    assert_eq!(sources["sources"][0]["mime"], "video/mp4", "{sources}");

    // A copy cut short (its index intact up front, its media data cut at 60 %) says so, and its
    // poster and proxy are made from the part that plays.
    let mut codecs = H264_AAC.to_vec();
    codecs.extend(["-movflags", "+faststart"]);
    let whole = make_clip(&dir, "whole.mp4", true, &codecs);
    let bytes = std::fs::read(whole).unwrap();
    let cut_id = put(
        &srv,
        &lib,
        &owner,
        "cut.mp4",
        bytes[..bytes.len() * 6 / 10].to_vec(),
    )
    .await;
    let file = settled(&srv, &lib, &cut_id, &owner).await;
    let damage = file["media"]["damage"].as_str().unwrap_or_default();
    assert!(damage.contains("cut short"), "{file}");
    assert_eq!(job_status(&file, "thumbnails"), "done", "{file}");
    assert_eq!(job_status(&file, "proxy"), "done", "{file}");
    let played = file["durationMs"].as_i64().unwrap_or(0);
    assert!(played > 0 && played < 1900, "the part that plays: {file}");
    let sources = srv
        .get(
            &format!("/api/libraries/{lib}/files/{cut_id}/playback-sources"),
            &owner,
        )
        .await
        .json;
    assert_eq!(
        source_kinds(&sources),
        ["proxy"],
        "not the cut original: {sources}"
    );

    // A phone's location in a video, as QuickTime `©xyz` or Apple's ISO 6709 key, lands in the
    // same GPS fields a photo's does.
    for (name, flags, (latitude, longitude)) in [
        (
            "xyz.mp4",
            &["-metadata", "location=+48.8584+002.2945/"][..],
            (48.8584, 2.2945),
        ),
        (
            "apple.mov",
            &[
                "-movflags",
                "use_metadata_tags",
                "-metadata",
                "com.apple.quicktime.location.ISO6709=-33.8500+151.2000+010.000/",
            ][..],
            (-33.85, 151.2),
        ),
    ] {
        let mut codecs = H264_AAC.to_vec();
        codecs.extend(flags);
        let clip = std::fs::read(make_clip(&dir, name, true, &codecs)).unwrap();
        let id = put(&srv, &lib, &owner, name, clip).await;
        let file = settled(&srv, &lib, &id, &owner).await;
        let gps = &file["media"]["gps"];
        assert!(
            (gps["latitude"].as_f64().unwrap_or(f64::NAN) - latitude).abs() < 1e-6
                && (gps["longitude"].as_f64().unwrap_or(f64::NAN) - longitude).abs() < 1e-6,
            "{name}: {file}"
        );
    }
    srv.stop().await;
}

async fn audio_gets_waveforms_and_proxies_only_when_needed(backend: Backend) {
    let dir = TempDir::new();
    let wma = make_clip(&dir, "tone.wma", false, &["-c:a", "wmav2"]);
    let wma_seconds = duration_s(&ffprobe(&wma));

    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Sounds").await;
    let wav_id = put(
        &srv,
        &lib,
        &owner,
        "jfk.wav",
        std::fs::read(testdata("jfk.wav")).unwrap(),
    )
    .await;
    let wma_id = put(&srv, &lib, &owner, "tone.wma", std::fs::read(wma).unwrap()).await;

    // 16-bit WAV plays as it is; its waveform has 50 peaks a second.
    let file = settled(&srv, &lib, &wav_id, &owner).await;
    assert_eq!(file["kind"], "audio", "{file}");
    assert_eq!(file["media"]["audio"]["codec"], "pcm_s16le", "{file}");
    assert_eq!(job_status(&file, "thumbnails"), "skipped", "{file}");
    assert_eq!(job_status(&file, "proxy"), "skipped", "{file}");
    assert!(
        job_error(&file, "proxy").starts_with("not_needed"),
        "{file}"
    );
    assert_eq!(job_status(&file, "waveform"), "done", "{file}");
    let ms = file["durationMs"].as_i64().unwrap_or(0);
    assert!((10_500..=11_500).contains(&ms), "about 11 s: {file}");
    let base = format!("/api/libraries/{lib}/files/{wav_id}");
    let wave = srv.get(&format!("{base}/waveform"), &owner).await;
    assert_eq!(wave.status, 200);
    assert_eq!(wave.json["peaksPerSecond"], 50);
    let peaks = wave.json["peaks"].as_array().map_or(0, Vec::len) as i64;
    assert!(
        (peaks - 50 * ms / 1000).abs() <= 2,
        "{peaks} peaks for {ms} ms"
    );
    assert!(
        wave.json["peaks"]
            .as_array()
            .is_some_and(|p| p.iter().any(|v| v.as_f64().unwrap_or(0.0) > 0.1)),
        "a speech has loud moments"
    );
    let sources = srv
        .get(&format!("{base}/playback-sources"), &owner)
        .await
        .json;
    assert_eq!(source_kinds(&sources), ["original"], "{sources}");

    // WMA does not play in browsers: an AAC proxy, and a waveform too.
    let file = settled(&srv, &lib, &wma_id, &owner).await;
    assert_eq!(job_status(&file, "proxy"), "done", "{file}");
    assert_eq!(job_status(&file, "waveform"), "done", "{file}");
    let base = format!("/api/libraries/{lib}/files/{wma_id}");
    let (status, headers, proxy) = srv.fetch(&format!("{base}/playback"), &owner, &[]).await;
    assert_eq!((status, content_type(&headers)), (200, "audio/mp4"));
    let proxy_path = dir.path().join("proxy.m4a");
    std::fs::write(&proxy_path, proxy).unwrap();
    let probe = ffprobe(&proxy_path);
    assert_eq!(codecs(&probe), ["aac"], "{probe}");
    assert!(
        (duration_s(&probe) - wma_seconds).abs() <= 0.1,
        "{probe} vs {wma_seconds} s"
    );
    let sources = srv
        .get(&format!("{base}/playback-sources"), &owner)
        .await
        .json;
    assert_eq!(source_kinds(&sources).first(), Some(&"proxy"), "{sources}");
    let wave = srv.get(&format!("{base}/waveform"), &owner).await;
    assert_eq!(wave.status, 200);
    assert_eq!(wave.json["peaksPerSecond"], 50);
    srv.stop().await;
}

async fn hostile_media_fails_alone_and_the_worker_keeps_going(backend: Backend) {
    let dir = TempDir::new();
    let dog = std::fs::read(testdata("dog.jpg")).unwrap();
    let mp4 = make_h264(&dir);
    assert_eq!(crc32(b"IEND"), 0xAE42_6082, "PNG's CRC-32");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut impostor = b"\x89PNG\r\n\x1a\n".to_vec();
    impostor.extend((0..4096).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 32) as u8
    }));

    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Hostile").await;
    let uploads = [
        ("dog.jpg", dog[..dog.len() / 2].to_vec()),
        ("clip.mp4", mp4[..mp4.len() / 2].to_vec()),
        ("bomb.png", png_bomb()),
        ("photo.png", impostor),
        (
            "astronaut.jpg",
            std::fs::read(testdata("astronaut.jpg")).unwrap(),
        ),
    ];
    let mut ids = Vec::new();
    for (name, bytes) in uploads {
        ids.push((name, put(&srv, &lib, &owner, name, bytes).await));
    }
    let mut files = BTreeMap::new();
    for (name, id) in &ids {
        files.insert(*name, settled(&srv, &lib, id, &owner).await);
    }

    // Half a JPEG: its metadata says why, its thumbnails fail for good.
    let truncated = &files["dog.jpg"];
    assert_eq!(job_status(truncated, "metadata"), "done", "{truncated}");
    assert!(
        truncated["media"]["error"].as_str().is_some_and(readable),
        "{truncated}"
    );
    assert_eq!(job_status(truncated, "thumbnails"), "failed", "{truncated}");
    assert!(
        job_error(truncated, "thumbnails").contains("truncated"),
        "{truncated}"
    );

    // Half an MP4 without its moov atom.
    let clip = &files["clip.mp4"];
    assert_eq!(clip["kind"], "video", "{clip}");
    let failed = ["thumbnails", "proxy"]
        .into_iter()
        .find(|kind| job_status(clip, kind) == "failed");
    assert!(
        failed.is_some_and(|kind| readable(job_error(clip, kind))),
        "{clip}"
    );

    // A decompression bomb: its claimed size is recorded, decoding it is refused.
    let bomb = &files["bomb.png"];
    assert_eq!(
        (bomb["width"].as_i64(), bomb["height"].as_i64()),
        (Some(30_000), Some(30_000)),
        "{bomb}"
    );
    assert_eq!(job_status(bomb, "thumbnails"), "failed", "{bomb}");
    let why = job_error(bomb, "thumbnails");
    assert!(
        why.contains("megapixel") || why.contains("too large"),
        "{bomb}"
    );

    // A PNG signature over garbage.
    let liar = &files["photo.png"];
    assert_eq!(liar["mime"], "image/png", "{liar}");
    assert_eq!(job_status(liar, "thumbnails"), "failed", "{liar}");
    assert!(readable(job_error(liar, "thumbnails")), "{liar}");

    // The good photo among them is unharmed.
    let good = &files["astronaut.jpg"];
    assert_eq!(job_status(good, "thumbnails"), "done", "{good}");

    // And the worker still processes what comes after the failures.
    let after = put(&srv, &lib, &owner, "after.jpg", dog).await;
    let file = settled(&srv, &lib, &after, &owner).await;
    assert_eq!(job_status(&file, "thumbnails"), "done", "{file}");
    let (status, _, body) = srv
        .fetch(
            &format!("/api/libraries/{lib}/files/{after}/thumbnails/preview"),
            &owner,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(decode(&body).dimensions(), (768, 576));
    srv.stop().await;
}

/// A file purged while its proxy is being made leaves no derived blob behind: the purge
/// deletes what was there, and the job deletes what it wrote after.
async fn a_file_purged_while_its_proxy_is_made_leaves_nothing(backend: Backend) {
    let dir = TempDir::new();
    let codecs = ["-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest"];
    let avi = std::fs::read(make_clip(&dir, "mpeg4.avi", true, &codecs)).unwrap();
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Purged").await;
    let mut caught = Vec::new();
    for attempt in 0..5 {
        let id = put(
            &srv,
            &lib,
            &owner,
            &format!("old{attempt}.avi"),
            avi.clone(),
        )
        .await;
        let path = format!("/api/libraries/{lib}/files/{id}");
        let mut status = String::new();
        while !matches!(
            status.as_str(),
            "processing" | "done" | "skipped" | "failed"
        ) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            status = job_status(&srv.get(&path, &owner).await.json, "proxy").to_owned();
        }
        let trashed = srv
            .post(&format!("{path}/trash"), &owner, serde_json::json!({}))
            .await;
        assert_eq!(trashed.status, 200, "{}", trashed.json);
        assert_eq!(srv.call("DELETE", &path, &owner, None).await.status, 204);
        if status == "processing" {
            caught.push(id);
            break;
        }
    }
    assert!(!caught.is_empty(), "a proxy job was seen processing");
    let store = srv.halt().await;
    let cache = store.dir.path().join(format!("storage/cache/{lib}"));
    assert!(
        !cache.exists(),
        "derived blobs left behind: {:?}",
        crate::common::files_under(&cache)
    );
    store.cleanup().await;
}
