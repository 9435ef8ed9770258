//! Google Takeout import: an export in two zip parts (and as one .tgz), built here the way Google lays one out
//! (sidecars beside the photos, one of them in the other part; a sidecar name cut short; a
//! numbered same-named photo; an `-edited` copy; an album and a "Photos from" folder holding the
//! same photo; a photo without a sidecar; a page that is not a photo), imports with the
//! sidecars' dates, places and descriptions, albums as folders and the duplicate stored once;
//! interrupted and resumed, or run again, it imports nothing twice; the same export extracted to
//! a folder imports through the command line.

use std::path::Path;

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipEntryBuilder};
use serde_json::{Value, json};

use crate::common::{Backend, TempDir, TestServer};
use crate::jobs::settled_at;
use crate::on_both_backends;

on_both_backends!(
    a_takeout_export_imports_with_its_sidecars_once,
    an_icloud_export_imports_with_its_dates_and_albums
);

const ROOT: &str = "Takeout/Google Photos";
/// A name longer than Google keeps in a sidecar's name.
const LONG: &str = "a-very-long-file-name-from-a-phone-camera-app-2019-05-12.jpg";

/// A small JPEG of one colour, without EXIF: its date can only come from the sidecar.
fn photo(shade: u8) -> Vec<u8> {
    let picture = image::RgbImage::from_pixel(64, 48, image::Rgb([shade, 100, 200 - shade]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&picture)
        .unwrap();
    out
}

fn sidecar(title: &str, taken_s: i64, place: Option<(f64, f64)>, description: &str) -> Vec<u8> {
    let (lat, lon) = place.unwrap_or((0.0, 0.0));
    json!({
        "title": title,
        "description": description,
        "imageViews": "3",
        "creationTime": { "timestamp": "1700000000", "formatted": "" },
        "photoTakenTime": { "timestamp": taken_s.to_string(), "formatted": "" },
        "geoData": { "latitude": lat, "longitude": lon, "altitude": 0.0 },
    })
    .to_string()
    .into_bytes()
}

async fn zip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let file = tokio::fs::File::create(path).await.unwrap();
    let mut writer = ZipFileWriter::with_tokio(file);
    for (name, bytes) in entries {
        let entry = ZipEntryBuilder::new(name.clone().into(), Compression::Deflate);
        writer.write_entry_whole(entry, bytes).await.unwrap();
    }
    writer.close().await.unwrap();
}

async fn a_takeout_export_imports_with_its_sidecars_once(backend: Backend) {
    let dir = TempDir::new();
    let rome = format!("{ROOT}/Rome 2019");
    let year = format!("{ROOT}/Photos from 2019");
    let cut = format!("{}.json", &LONG[..46]);
    let part1 = vec![
        (
            format!("{rome}/metadata.json"),
            br#"{"title":"Rome, May 2019"}"#.to_vec(),
        ),
        (format!("{rome}/colosseum.jpg"), photo(10)),
        (
            format!("{rome}/colosseum.jpg.json"),
            sidecar(
                "colosseum.jpg",
                1_557_662_533,
                Some((41.8902, 12.4922)),
                "The Colosseum",
            ),
        ),
        // The sidecar of a photo that lies in the other part.
        (
            format!("{year}/IMG.jpg(1).json"),
            sidecar("IMG.jpg", 1_557_700_000, None, ""),
        ),
        (
            "Takeout/archive_browser.html".into(),
            b"<html></html>".to_vec(),
        ),
    ];
    let part2 = vec![
        (format!("{year}/colosseum.jpg"), photo(10)),
        (
            format!("{year}/colosseum.jpg.json"),
            sidecar("colosseum.jpg", 1_557_662_533, Some((41.8902, 12.4922)), ""),
        ),
        (format!("{year}/colosseum-edited.jpg"), photo(20)),
        (format!("{year}/IMG.jpg"), photo(30)),
        (
            format!("{year}/IMG.jpg.json"),
            sidecar("IMG.jpg", 1_557_600_000, None, ""),
        ),
        (format!("{year}/IMG(1).jpg"), photo(40)),
        (format!("{year}/{LONG}"), photo(50)),
        (
            format!("{year}/{cut}"),
            sidecar("renamed by google.jpg", 1_557_800_000, None, ""),
        ),
        (format!("{year}/no-sidecar.jpg"), photo(60)),
    ];
    let parts = [
        dir.path().join("takeout-001.zip"),
        dir.path().join("takeout-002.zip"),
    ];
    zip(&parts[0], &part1).await;
    zip(&parts[1], &part2).await;

    let srv = TestServer::start(backend).await;
    let (owner, owner_id) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Family").await;
    let list = format!("/api/libraries/{lib}/files?limit=50");
    let count = || async {
        srv.get(&list, &owner).await.json["items"]
            .as_array()
            .unwrap()
            .len()
    };

    // Interrupted once three files are in (as if the machine went down).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let run = {
        let (app, lib, owner_id, parts) = (
            srv.app.clone(),
            lib.clone(),
            owner_id.clone(),
            parts.clone(),
        );
        tokio::spawn(async move {
            alcoves::import::takeout::import(&app, &lib, &owner_id, &parts, |done, _| {
                let _ = tx.send(done);
                if done == 3 {
                    // Hold still until the abort comes, as a machine going down would.
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
            })
            .await
        })
    };
    while let Some(done) = rx.recv().await {
        if done >= 3 {
            run.abort();
            break;
        }
    }
    let _ = run.await;
    let before = count().await;
    assert!(
        (3..6).contains(&before),
        "{before} files in before the interruption"
    );

    // Resumed: the rest comes in, nothing twice.
    let summary = alcoves::import::takeout::import(&srv.app, &lib, &owner_id, &parts, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (summary.imported, summary.duplicates),
        (6 - before, 1 + before),
        "{summary:?}"
    );
    assert_eq!(summary.skipped.len(), 1, "{summary:?}");
    assert!(summary.skipped[0].path.ends_with("archive_browser.html"));
    assert_eq!(count().await, 6);

    let files = srv.get(&list, &owner).await.json;
    let by_name: std::collections::BTreeMap<String, Value> = files["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    assert_eq!(by_name.len(), 6, "{files}");
    let taken = |name: &str| {
        let id = by_name[name]["id"].as_str().unwrap().to_owned();
        let (srv, lib, owner) = (&srv, &lib, &owner);
        async move { settled_at(srv, lib, &id, owner, "thumbnails").await }
    };
    let colosseum = taken("colosseum.jpg").await;
    assert_eq!(
        colosseum["capturedAt"], 1_557_662_533_000_i64,
        "{colosseum}"
    );
    assert_eq!(colosseum["capturedAtSource"], "sidecar", "{colosseum}");
    assert_eq!(
        colosseum["media"]["gps"]["latitude"], 41.8902,
        "{colosseum}"
    );
    assert_eq!(
        colosseum["media"]["description"], "The Colosseum",
        "{colosseum}"
    );
    let folder = colosseum["folderId"].as_str().expect("in its album");
    let album = srv
        .get(&format!("/api/libraries/{lib}/folders/{folder}"), &owner)
        .await
        .json;
    assert_eq!(album["name"], "Rome, May 2019", "{album}");
    for (name, at) in [
        ("colosseum-edited.jpg", 1_557_662_533_000_i64),
        ("IMG.jpg", 1_557_600_000_000),
        ("IMG(1).jpg", 1_557_700_000_000),
        (LONG, 1_557_800_000_000),
    ] {
        let file = taken(name).await;
        assert_eq!(file["capturedAt"], at, "{name}: {file}");
        assert_eq!(
            file["folderId"],
            Value::Null,
            "{name}: a year folder is no album"
        );
    }
    let plain = taken("no-sidecar.jpg").await;
    assert_eq!(plain["capturedAtSource"], "file_time", "{plain}");

    // Run once more: nothing is imported twice.
    let again = alcoves::import::takeout::import(&srv.app, &lib, &owner_id, &parts, |_, _| {})
        .await
        .unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 7), "{again:?}");
    assert_eq!(count().await, 6);

    // The same export as one .tgz.
    let tgz = dir.path().join("takeout.tgz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in part1.iter().chain(&part2) {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, bytes.as_slice())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let packed = srv.library(&owner, "Packed").await;
    let from_tgz =
        alcoves::import::takeout::import(&srv.app, &packed, &owner_id, &[tgz], |_, _| {})
            .await
            .unwrap();
    assert_eq!(
        (from_tgz.imported, from_tgz.duplicates),
        (6, 1),
        "{from_tgz:?}"
    );

    // The same export extracted to a folder, through the command line.
    let extracted = dir.path().join("extracted");
    for (name, bytes) in part1.iter().chain(&part2) {
        let path = extracted.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let other = srv.library(&owner, "Extracted").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alcoves"))
        .envs(srv.store.env())
        .args(["import", "takeout", &other])
        .arg(&extracted)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("6 imported, 1 already there, 1 skipped"),
        "{stdout}"
    );

    // The same export uploaded from the web app, part by part, imported in the background.
    let web = srv.library(&owner, "Uploaded").await;
    let created = srv
        .post(&format!("/api/libraries/{web}/imports"), &owner, json!({}))
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let import = format!(
        "/api/libraries/{web}/imports/{}",
        created.json["id"].as_str().unwrap()
    );
    let send_part = |name: &str, bytes: Vec<u8>| {
        let req = reqwest::Client::new()
            .post(format!("{}{import}/parts", srv.base))
            .header("x-upload-name", name)
            .body(bytes);
        srv.raw(req, &owner)
    };
    assert_eq!(
        send_part("notes.txt", b"hi".to_vec()).await.code(),
        "bad_request"
    );
    let too_early = srv
        .post(&format!("{import}/start"), &owner, json!({}))
        .await;
    assert_eq!(too_early.status, 409, "nothing to import yet");
    for part in &parts {
        let name = part.file_name().unwrap().to_str().unwrap();
        let res = send_part(name, std::fs::read(part).unwrap()).await;
        assert_eq!(res.status, 201, "{}", res.json);
    }
    let started = srv
        .post(&format!("{import}/start"), &owner, json!({}))
        .await;
    assert_eq!(started.json["state"], "running", "{}", started.json);
    assert_eq!(
        started.json["parts"],
        json!(["takeout-001.zip", "takeout-002.zip"])
    );
    assert_eq!(
        send_part("late.zip", b"x".to_vec()).await.code(),
        "import_started"
    );
    let mut view = Value::Null;
    for _ in 0..600 {
        view = srv.get(&import, &owner).await.json;
        if view["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(view["state"], "done", "{view}");
    assert_eq!(
        (view["done"].clone(), view["total"].clone()),
        (json!(8), json!(8)),
        "{view}"
    );
    let summary = &view["summary"];
    assert_eq!(
        (summary["imported"].clone(), summary["duplicates"].clone()),
        (json!(6), json!(1)),
        "{view}"
    );
    assert!(summary["skipped"][0]["reason"].is_string(), "{view}");
    // Someone else's library does not have it.
    let elsewhere = import.replace(&web, &other);
    assert_eq!(srv.get(&elsewhere, &owner).await.status, 404);
    srv.stop().await;
}

/// Apple's export: dates from `Photo Details.csv` (its dates' commas unquoted), albums from
/// `Albums/<name>.csv`.
async fn an_icloud_export_imports_with_its_dates_and_albums(backend: Backend) {
    let dir = TempDir::new();
    let part = dir.path().join("iCloud Photos Part 1 of 1.zip");
    let details = "imgName,fileChecksum,favorite,hidden,deleted,originalCreationDate,viewCount,importDate\n\
                   IMG_0001.JPG,a,no,no,no,Saturday June 27,2020 5:09 PM GMT,3,Saturday June 27,2020 5:10 PM GMT\n\
                   IMG_0002.JPG,b,no,no,no,Monday January 1,2018 12:00 AM GMT,0,\n";
    zip(
        &part,
        &[
            ("iCloud Photos/Photos/IMG_0001.JPG".into(), photo(70)),
            ("iCloud Photos/Photos/IMG_0002.JPG".into(), photo(80)),
            (
                "iCloud Photos/Photo Details.csv".into(),
                details.as_bytes().to_vec(),
            ),
            (
                "iCloud Photos/Albums/Summer.csv".into(),
                b"Images\nIMG_0001.JPG\n".to_vec(),
            ),
        ],
    )
    .await;
    let srv = TestServer::start(backend).await;
    let (owner, owner_id) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Apple").await;
    let summary = alcoves::import::takeout::import(&srv.app, &lib, &owner_id, &[part], |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (summary.imported, summary.duplicates),
        (2, 0),
        "{summary:?}"
    );
    assert!(summary.skipped.is_empty(), "{summary:?}");
    let files = srv
        .get(&format!("/api/libraries/{lib}/files?limit=50"), &owner)
        .await
        .json;
    for item in files["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let file = settled_at(&srv, &lib, id, &owner, "thumbnails").await;
        let (at, in_album) = match file["name"].as_str().unwrap() {
            "IMG_0001.JPG" => (1_593_277_740_000_i64, true),
            _ => (1_514_764_800_000, false),
        };
        assert_eq!(file["capturedAt"], at, "{file}");
        assert_eq!(file["capturedAtSource"], "sidecar", "{file}");
        assert_eq!(file["folderId"].is_string(), in_album, "{file}");
    }
    srv.stop().await;
}
