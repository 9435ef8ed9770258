//! Moments and share links over HTTP: moments cut into frame-accurate clips whose range edits
//! bump the version; shares of files, folders and moments that answer only while live, lock
//! behind a password, refuse downloads unless allowed, and never give away a location unless
//! allowed (a JPEG loses its GPS tags on the way out, keeping its other EXIF and its pixels; an
//! MP4 or QuickTime file loses its location boxes and keys, keeping every sample).
//! Fixtures are made in the test with ffmpeg, exiftool and ImageMagick.

use std::process::Command;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::common::{Backend, PASSWORD, TempDir, TestServer};
use crate::jobs::settled_at;
use crate::media::{H264_AAC, make_clip, path_str, tool};
use crate::on_both_backends;

on_both_backends!(
    moments_are_cut_into_clips_and_range_edits_bump_the_version,
    shares_answer_only_while_live_and_keep_the_location_private,
    password_shares_unlock_per_share_and_throttle_guesses,
    folder_and_moment_shares_show_what_they_cover,
    videos_leave_without_their_location,
);

/// A 4 s 25 fps 320x240 H.264/AAC MP4.
fn make_video(dir: &TempDir) -> Vec<u8> {
    let out = dir.path().join("match.mp4");
    tool(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "50",
            "-c:a",
            "aac",
            "-shortest",
            path_str(&out),
        ],
    );
    std::fs::read(out).unwrap()
}

/// A 3 s MP3 tone.
fn make_audio(dir: &TempDir) -> Vec<u8> {
    let out = dir.path().join("tone.mp3");
    tool(
        "ffmpeg",
        &[
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330",
            "-t",
            "3",
            path_str(&out),
        ],
    );
    std::fs::read(out).unwrap()
}

/// A 640x480 JPEG with a camera, a date and a place in its EXIF.
fn make_located_photo(dir: &TempDir, name: &str) -> Vec<u8> {
    let out = dir.path().join(name);
    tool(
        "convert",
        &[
            "-size",
            "640x480",
            "plasma:red-blue",
            "-quality",
            "90",
            path_str(&out),
        ],
    );
    tool(
        "exiftool",
        &[
            "-q",
            "-overwrite_original",
            "-Make=TestCam",
            "-Model=X1",
            "-DateTimeOriginal=2024:05:06 07:08:09",
            "-GPSLatitude=48.8584",
            "-GPSLatitudeRef=N",
            "-GPSLongitude=2.2945",
            "-GPSLongitudeRef=E",
            path_str(&out),
        ],
    );
    std::fs::read(out).unwrap()
}

/// exiftool's tags of `bytes` (written to `dir`), as one JSON object.
fn exif_tags(dir: &TempDir, bytes: &[u8]) -> Value {
    let path = dir.path().join("check.jpg");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("exiftool")
        .args(["-j", "-n", path_str(&path)])
        .output()
        .expect("exiftool is installed");
    let tags: Value = serde_json::from_slice(&out.stdout).unwrap();
    tags[0].clone()
}

fn has_gps_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| {
            let k = k.to_lowercase();
            k.contains("gps") || k.contains("latitude") || k.contains("longitude") || has_gps_key(v)
        }),
        Value::Array(items) => items.iter().any(has_gps_key),
        _ => false,
    }
}

/// ffprobe's container duration and video stream duration (if any), in seconds.
fn durations(dir: &TempDir, bytes: &[u8]) -> (f64, Option<f64>) {
    let path = dir.path().join("probe.bin");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type,duration",
            "-of",
            "json",
            path_str(&path),
        ])
        .output()
        .expect("ffprobe is installed");
    let probe: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seconds = |v: &Value| v.as_str().and_then(|d| d.parse::<f64>().ok());
    let video = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .and_then(|s| seconds(&s["duration"]));
    (seconds(&probe["format"]["duration"]).unwrap(), video)
}

/// A 2 s H.264/AAC clip named `name` whose container says where it was made, through `flags`.
fn make_located_video(dir: &TempDir, name: &str, flags: &[&str]) -> Vec<u8> {
    let mut codecs = H264_AAC.to_vec();
    codecs.extend(["-metadata", "title=Tour"]);
    codecs.extend(flags);
    std::fs::read(make_clip(dir, name, true, &codecs)).unwrap()
}

/// ffprobe's container tags of `bytes`, and an MD5 of every packet of every stream.
fn tags_and_packets(dir: &TempDir, bytes: &[u8]) -> (Value, String) {
    let path = dir.path().join("probe.mov");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format_tags", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe is installed");
    let tags: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            path_str(&path),
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "md5",
            "-",
        ])
        .output()
        .expect("ffmpeg is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        tags["format"]["tags"].clone(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

async fn put(srv: &TestServer, lib: &str, who: &str, name: &str, bytes: Vec<u8>) -> String {
    let res = srv.upload(lib, who, name, bytes).await;
    assert_eq!(res.status, 201, "{name}: {}", res.json);
    res.json["id"].as_str().unwrap().to_owned()
}

async fn get_bytes(
    srv: &TestServer,
    path: &str,
    who: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    srv.fetch(path, who, &[]).await
}

/// Waits until the file's moment_export job has settled, and says how.
async fn export_settled(srv: &TestServer, lib: &str, file: &str, who: &str) -> String {
    let file = settled_at(srv, lib, file, who, "moment_export").await;
    file["jobs"]["moment_export"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn moments_are_cut_into_clips_and_range_edits_bump_the_version(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let dir = TempDir::new();
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Football").await;
    let viewer_token = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("vera", Some(&viewer_token)).await;
    let video = put(&srv, &lib, &owner, "match.mp4", make_video(&dir)).await;
    let photo = put(
        &srv,
        &lib,
        &owner,
        "p.jpg",
        make_located_photo(&dir, "p.jpg"),
    )
    .await;
    settled_at(&srv, &lib, &video, &owner, "metadata").await;
    settled_at(&srv, &lib, &photo, &owner, "metadata").await;
    let moments = format!("/api/libraries/{lib}/files/{video}/moments");

    // Ranges must make sense, and only admins mark moments.
    for (body, why) in [
        (
            json!({"start": 2.0, "end": 1.0, "title": "x"}),
            "end before start",
        ),
        (
            json!({"start": 1.0, "end": 9.0, "title": "x"}),
            "past the end",
        ),
        (json!({"start": -1.0, "end": 1.0, "title": "x"}), "negative"),
        (json!({"start": 1.0, "end": 2.0, "title": "  "}), "no title"),
        (json!({"start": 1.0, "end": 2.0}), "no title"),
    ] {
        let res = srv.post(&moments, &owner, body).await;
        assert_eq!(res.status, 400, "{why}: {}", res.json);
    }
    let res = srv
        .post(
            &format!("/api/libraries/{lib}/files/{photo}/moments"),
            &owner,
            json!({"start": 0.0, "end": 1.0, "title": "x"}),
        )
        .await;
    assert_eq!(res.status, 400, "a photo has no time: {}", res.json);
    let res = srv
        .post(
            &moments,
            &viewer,
            json!({"start": 1.0, "end": 3.0, "title": "Goal"}),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.json);

    let res = srv
        .post(
            &moments,
            &owner,
            json!({"start": 1.0, "end": 3.0, "title": "Goal", "description": "left foot", "tags": ["goal", "goal", " final "]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    let moment = res.json["id"].as_str().unwrap().to_owned();
    assert_eq!(res.json["tags"], json!(["goal", "final"]));
    assert_eq!(
        (res.json["version"].as_i64(), res.json["clip"].as_str()),
        (Some(1), Some("none"))
    );
    let listed = srv.get(&moments, &viewer).await;
    assert_eq!(
        listed.json["items"][0]["id"],
        moment.as_str(),
        "viewers read moments"
    );
    let library_wide = srv
        .get(&format!("/api/libraries/{lib}/moments"), &viewer)
        .await;
    assert_eq!(library_wide.json["items"][0]["title"], "Goal");
    let at = format!("{moments}/{moment}");
    let (status, _, _) = get_bytes(&srv, &format!("{at}/clip"), &owner).await;
    assert_eq!(status, 404, "no clip before an export");

    // Export: a frame-accurate 2 s clip.
    let res = srv.post(&format!("{at}/export"), &owner, json!({})).await;
    assert_eq!(res.status, 202, "{}", res.json);
    assert_eq!(export_settled(&srv, &lib, &video, &owner).await, "done");
    let moment_now = srv.get(&at, &viewer).await.json;
    assert_eq!(moment_now["clip"], "ready", "{moment_now}");
    let (status, headers, clip) = get_bytes(&srv, &format!("{at}/clip"), &viewer).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "video/mp4");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("Goal.mp4")
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (container, video_stream) = durations(&dir, &clip);
    let frame = 1.0 / 25.0;
    assert!(
        (video_stream.unwrap() - 2.0).abs() <= frame + 1e-3,
        "video {video_stream:?}"
    );
    assert!(
        (container - 2.0).abs() <= frame + 1e-3,
        "container {container}"
    );
    let (status, _, _) = srv
        .fetch(&format!("{at}/clip"), &viewer, &[("if-none-match", &etag)])
        .await;
    assert_eq!(status, 304);
    let (status, _, part) = srv
        .fetch(&format!("{at}/clip"), &viewer, &[("range", "bytes=0-99")])
        .await;
    assert_eq!((status, part.len()), (206, 100));

    // A new range: version 2, the old clip gone, a new one cut.
    let res = srv
        .call(
            "PATCH",
            &at,
            &owner,
            Some(json!({"start": 0.5, "end": 1.5})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["version"], 2);
    assert_eq!(res.json["clip"], "pending");
    assert_eq!(export_settled(&srv, &lib, &video, &owner).await, "done");
    let (status, headers, clip) = get_bytes(&srv, &format!("{at}/clip"), &viewer).await;
    assert_eq!(status, 200);
    assert_ne!(headers["etag"].to_str().unwrap(), etag);
    let (container, _) = durations(&dir, &clip);
    assert!(
        (container - 1.0).abs() <= frame + 1e-3,
        "container {container}"
    );
    let cache = srv
        .store
        .dir
        .path()
        .join("storage/cache")
        .join(&lib)
        .join(&video);
    let clips: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("moment-"))
        .collect();
    assert_eq!(
        clips,
        vec![format!("moment-{moment}-v2.mp4")],
        "the old clip is removed"
    );
    // A title edit keeps the version and the clip.
    let res = srv
        .call("PATCH", &at, &owner, Some(json!({"title": "Great goal"})))
        .await;
    assert_eq!(
        (res.json["version"].as_i64(), res.json["clip"].as_str()),
        (Some(2), Some("ready"))
    );

    // An audio file's moment becomes an M4A.
    let audio = put(&srv, &lib, &owner, "tone.mp3", make_audio(&dir)).await;
    settled_at(&srv, &lib, &audio, &owner, "metadata").await;
    let res = srv
        .post(
            &format!("/api/libraries/{lib}/files/{audio}/moments"),
            &owner,
            json!({"start": 0.5, "end": 2.0, "title": "Tone"}),
        )
        .await;
    let tone = res.json["id"].as_str().unwrap().to_owned();
    let tone_at = format!("/api/libraries/{lib}/files/{audio}/moments/{tone}");
    srv.post(&format!("{tone_at}/export"), &owner, json!({}))
        .await;
    assert_eq!(export_settled(&srv, &lib, &audio, &owner).await, "done");
    let (status, headers, clip) = get_bytes(&srv, &format!("{tone_at}/clip"), &owner).await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "audio/mp4")
    );
    let (container, video_stream) = durations(&dir, &clip);
    assert!(video_stream.is_none());
    assert!((container - 1.5).abs() < 0.05, "audio clip {container}");

    // Deleting the moment removes its clip.
    let res = srv.call("DELETE", &tone_at, &owner, None).await;
    assert_eq!(res.status, 204);
    assert_eq!(srv.get(&tone_at, &owner).await.status, 404);
    srv.stop().await;
}

/// Creates a share; answers the response.
async fn share(srv: &TestServer, lib: &str, who: &str, body: Value) -> crate::common::Resp {
    srv.post(&format!("/api/libraries/{lib}/shares"), who, body)
        .await
}

async fn enable_sharing(srv: &TestServer, lib: &str, who: &str) {
    let res = srv
        .call(
            "PATCH",
            &format!("/api/libraries/{lib}"),
            who,
            Some(json!({ "sharing": true })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
}

/// The token of a share's link (its last path segment).
fn token_of(res: &crate::common::Resp) -> String {
    res.json["token"].as_str().unwrap().to_owned()
}

async fn shares_answer_only_while_live_and_keep_the_location_private(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let dir = TempDir::new();
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Holiday").await;
    let other_lib = srv.library(&owner, "Private").await;
    let viewer_token = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("vera", Some(&viewer_token)).await;
    let original = make_located_photo(&dir, "eiffel.jpg");
    let photo = put(&srv, &lib, &owner, "eiffel.jpg", original.clone()).await;
    let elsewhere = put(
        &srv,
        &other_lib,
        &owner,
        "secret.jpg",
        make_located_photo(&dir, "s.jpg"),
    )
    .await;
    settled_at(&srv, &lib, &photo, &owner, "thumbnails").await;

    // Sharing is off by default; only admins turn it on.
    let res = share(
        &srv,
        &lib,
        &owner,
        json!({"kind": "files", "fileIds": [photo]}),
    )
    .await;
    assert_eq!(
        (res.status, res.code()),
        (409, "sharing_off"),
        "{}",
        res.json
    );
    let res = srv
        .call(
            "PATCH",
            &format!("/api/libraries/{lib}"),
            &viewer,
            Some(json!({"sharing": true})),
        )
        .await;
    assert_eq!(res.status, 403);
    enable_sharing(&srv, &lib, &owner).await;
    let res = share(
        &srv,
        &lib,
        &viewer,
        json!({"kind": "files", "fileIds": [photo]}),
    )
    .await;
    assert_eq!(res.status, 403, "viewers do not share");
    let res = share(
        &srv,
        &lib,
        &owner,
        json!({"kind": "files", "fileIds": [elsewhere]}),
    )
    .await;
    assert_eq!(
        res.status, 400,
        "only the library's own files: {}",
        res.json
    );

    let res = share(
        &srv,
        &lib,
        &owner,
        json!({"kind": "files", "fileIds": [photo], "title": "Paris"}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.json);
    let share_id = res.json["id"].as_str().unwrap().to_owned();
    let token = token_of(&res);
    assert!(token.len() >= 22, "128+ bits: {token}");
    let public = srv.app.config.public_url.trim_end_matches('/').to_owned();
    assert_eq!(res.json["url"], format!("{public}/s/{token}"));
    assert_eq!(
        (
            res.json["allowDownload"].as_bool(),
            res.json["showLocation"].as_bool(),
            res.json["showMetadata"].as_bool()
        ),
        (Some(false), Some(false), Some(true))
    );
    let managed = format!("/api/libraries/{lib}/shares/{share_id}");

    // Only a hash of the token is stored, and the hash opens nothing.
    let stored: String = {
        use alcoves::db::schema::shares;
        let mut conn = srv.app.db.conn().await.unwrap();
        alcoves::with_conn!(&mut conn, c => shares::table
            .find(&share_id)
            .select(shares::token_hash)
            .first(c)
            .await)
        .unwrap()
    };
    assert_ne!(stored, token);
    assert_eq!(
        srv.get(&format!("/api/share/{stored}"), "").await.status,
        404
    );

    // The recipient's view: no session, no location anywhere.
    let view = srv.get(&format!("/api/share/{token}"), "").await;
    assert_eq!(view.status, 200, "{}", view.json);
    assert_eq!(view.headers["referrer-policy"], "no-referrer");
    assert_eq!(view.json["title"], "Paris");
    assert_eq!(view.json["items"].as_array().unwrap().len(), 1);
    assert!(
        view.json["items"][0]["media"].is_object(),
        "metadata shown by default"
    );
    assert!(!has_gps_key(&view.json), "no GPS in {}", view.json);
    let item = &view.json["items"][0];
    assert!(item["originalUrl"].is_null());
    let preview_url = item["thumbnailUrl"]
        .as_str()
        .unwrap()
        .replace("{size}", "preview");
    let (status, _, preview) = get_bytes(&srv, &preview_url, "").await;
    assert_eq!(status, 200);
    assert!(
        !has_gps_key(&exif_tags(&dir, &preview)),
        "the preview carries no GPS"
    );

    // Downloads are off: the original and the ZIP are refused, previews are fine.
    let original_url = format!("/api/share/{token}/files/{photo}/original");
    assert_eq!(get_bytes(&srv, &original_url, "").await.0, 403);
    assert_eq!(
        get_bytes(&srv, &format!("/api/share/{token}/zip"), "")
            .await
            .0,
        403
    );

    // Allowed: the JPEG leaves without GPS, with its other EXIF and every image byte.
    let res = srv
        .call(
            "PATCH",
            &managed,
            &owner,
            Some(json!({"allowDownload": true})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    let (status, headers, sent) = get_bytes(&srv, &original_url, "").await;
    assert_eq!(status, 200);
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(sent.len(), original.len());
    let tags = exif_tags(&dir, &sent);
    assert!(!has_gps_key(&tags), "GPS removed: {tags}");
    assert_eq!(
        (tags["Make"].as_str(), tags["Model"].as_str()),
        (Some("TestCam"), Some("X1"))
    );
    assert_eq!(tags["DateTimeOriginal"], "2024:05:06 07:08:09");
    let sos = original.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    assert_eq!(
        sent[sos..],
        original[sos..],
        "the image data is byte for byte the same"
    );
    let pixels = |b: &[u8]| image::load_from_memory(b).unwrap().to_rgb8().into_raw();
    assert_eq!(pixels(&sent), pixels(&original));
    let (status, _, part) = srv
        .fetch(&original_url, "", &[("range", "bytes=10-2009")])
        .await;
    assert_eq!((status, part.as_slice()), (206, &sent[10..2010]));
    let (_, _, stored_original) = srv.download(&lib, &photo, &owner, &[]).await;
    assert_eq!(
        stored_original, original,
        "the stored original is unchanged"
    );
    let (status, headers, _) = get_bytes(&srv, &format!("/api/share/{token}/zip"), "").await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "application/zip")
    );

    // Location allowed: the original as it is.
    srv.call(
        "PATCH",
        &managed,
        &owner,
        Some(json!({"showLocation": true})),
    )
    .await;
    assert_eq!(get_bytes(&srv, &original_url, "").await.2, original);
    assert!(has_gps_key(
        &srv.get(&format!("/api/share/{token}"), "").await.json
    ));
    srv.call(
        "PATCH",
        &managed,
        &owner,
        Some(json!({"showMetadata": false, "showLocation": false})),
    )
    .await;
    let view = srv.get(&format!("/api/share/{token}"), "").await;
    assert!(view.json["items"][0]["media"].is_null());
    assert!(view.json["items"][0]["capturedAt"].is_null());

    // The share reaches only its own items; its link is no key to anything else.
    let res = srv
        .get(
            &format!("/api/share/{token}/files/{elsewhere}/original"),
            "",
        )
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}/files"), "")
            .await
            .status,
        401
    );

    // Views count once an hour per visitor.
    async fn views_of(srv: &TestServer, managed: &str, owner: &str) -> i64 {
        srv.get(managed, owner).await.json["views"]
            .as_i64()
            .unwrap()
    }
    let before = views_of(&srv, &managed, &owner).await;
    srv.get(&format!("/api/share/{token}"), "").await;
    assert_eq!(
        views_of(&srv, &managed, &owner).await,
        before,
        "the same visitor within the hour"
    );
    srv.raw(
        reqwest::Client::new()
            .get(format!("{}/api/share/{token}", srv.base))
            .header("user-agent", "another browser"),
        "",
    )
    .await;
    assert_eq!(views_of(&srv, &managed, &owner).await, before + 1);
    let listed = srv
        .get(&format!("/api/libraries/{lib}/shares"), &owner)
        .await;
    assert_eq!(
        listed.json["items"][0]["token"],
        token.as_str(),
        "managers see the link again"
    );
    assert!(listed.json["items"][0]["lastViewedAt"].is_i64());

    // Expired: 410 with a sentence. Expiry must be in the future when set.
    let res = srv
        .call("PATCH", &managed, &owner, Some(json!({"expiresAt": 1000})))
        .await;
    assert_eq!(res.status, 400);
    {
        use alcoves::db::schema::shares;
        let mut conn = srv.app.db.conn().await.unwrap();
        alcoves::with_conn!(&mut conn, c => diesel::update(shares::table.find(&share_id))
            .set(shares::expires_at.eq(Some(1000_i64)))
            .execute(c)
            .await)
        .unwrap();
    }
    let res = srv.get(&format!("/api/share/{token}"), "").await;
    assert_eq!((res.status, res.code()), (410, "expired"), "{}", res.json);
    assert!(!res.json["message"].as_str().unwrap().is_empty());
    assert_eq!(srv.get(&managed, &owner).await.json["state"], "expired");
    let res = srv
        .call("PATCH", &managed, &owner, Some(json!({"expiresAt": null})))
        .await;
    assert_eq!(res.json["state"], "active");
    assert_eq!(
        srv.get(&format!("/api/share/{token}"), "").await.status,
        200
    );

    // Sharing turned off: nothing answers. Revoked: 404 for good.
    srv.call(
        "PATCH",
        &format!("/api/libraries/{lib}"),
        &owner,
        Some(json!({"sharing": false})),
    )
    .await;
    assert_eq!(
        srv.get(&format!("/api/share/{token}"), "").await.status,
        404
    );
    enable_sharing(&srv, &lib, &owner).await;
    assert_eq!(srv.call("DELETE", &managed, &owner, None).await.status, 204);
    assert_eq!(
        srv.get(&format!("/api/share/{token}"), "").await.status,
        404
    );
    assert_eq!(get_bytes(&srv, &preview_url, "").await.0, 404);
    assert_eq!(srv.get(&managed, &owner).await.json["state"], "revoked");
    srv.stop().await;
}

async fn password_shares_unlock_per_share_and_throttle_guesses(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let dir = TempDir::new();
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Family").await;
    enable_sharing(&srv, &lib, &owner).await;
    let photo = put(
        &srv,
        &lib,
        &owner,
        "a.jpg",
        make_located_photo(&dir, "a.jpg"),
    )
    .await;
    let locked = share(
        &srv,
        &lib,
        &owner,
        json!({"kind": "files", "fileIds": [photo], "password": PASSWORD}),
    )
    .await;
    assert_eq!(locked.status, 201, "{}", locked.json);
    assert_eq!(locked.json["hasPassword"], true);
    let token = token_of(&locked);
    let other = token_of(
        &share(
            &srv,
            &lib,
            &owner,
            json!({"kind": "files", "fileIds": [photo], "password": "another long secret"}),
        )
        .await,
    );

    let res = srv.get(&format!("/api/share/{token}"), "").await;
    assert_eq!((res.status, res.code()), (401, "password_required"));
    let thumb = format!("/api/share/{token}/files/{photo}/thumbnails/preview");
    assert_eq!(get_bytes(&srv, &thumb, "").await.0, 401);
    let unlock = format!("/api/share/{token}/unlock");
    let res = srv
        .post(&unlock, "", json!({"password": "wrong guess"}))
        .await;
    assert_eq!(res.status, 401);
    let res = srv.post(&unlock, "", json!({"password": PASSWORD})).await;
    assert_eq!(res.status, 204, "{}", res.json);
    let cookie = res.cookie().expect("an unlock cookie");
    assert!(
        res.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
    assert_eq!(
        srv.get(&format!("/api/share/{token}"), &cookie)
            .await
            .status,
        200
    );
    assert_ne!(get_bytes(&srv, &thumb, &cookie).await.0, 401);
    let res = srv.get(&format!("/api/share/{other}"), &cookie).await;
    assert_eq!(res.status, 401, "one share's cookie opens no other share");
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}/files"), &cookie)
            .await
            .status,
        401
    );

    // A plain HTML form post goes back to the share page.
    let res = srv
        .raw(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(format!("{}{unlock}", srv.base))
                .form(&[("password", PASSWORD)]),
            "",
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(res.headers["location"], format!("/s/{token}"));
    assert!(res.cookie().is_some());

    // A new password locks again.
    let share_id = locked.json["id"].as_str().unwrap();
    srv.call(
        "PATCH",
        &format!("/api/libraries/{lib}/shares/{share_id}"),
        &owner,
        Some(json!({"password": "a brand new secret"})),
    )
    .await;
    assert_eq!(
        srv.get(&format!("/api/share/{token}"), &cookie)
            .await
            .status,
        401
    );

    // Guessing is throttled like signing in.
    let mut throttled = false;
    for _ in 0..8 {
        let res = srv
            .post(&unlock, "", json!({"password": "guess again"}))
            .await;
        if res.status == 429 {
            throttled = true;
            break;
        }
        assert_eq!(res.status, 401);
    }
    assert!(throttled, "wrong passwords are throttled");
    srv.stop().await;
}

async fn folder_and_moment_shares_show_what_they_cover(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let dir = TempDir::new();
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Trips").await;
    enable_sharing(&srv, &lib, &owner).await;
    let folder = srv
        .post(
            &format!("/api/libraries/{lib}/folders"),
            &owner,
            json!({"name": "Rome"}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub = srv
        .post(
            &format!("/api/libraries/{lib}/folders"),
            &owner,
            json!({"name": "Day 1", "parentId": folder}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let move_to = |file: String, folder: String| {
        let (srv, lib, owner) = (&srv, lib.clone(), owner.clone());
        async move {
            let res = srv
                .call(
                    "PATCH",
                    &format!("/api/libraries/{lib}/files/{file}"),
                    &owner,
                    Some(json!({"folderId": folder})),
                )
                .await;
            assert_eq!(res.status, 200, "{}", res.json);
        }
    };
    let outside = put(
        &srv,
        &lib,
        &owner,
        "home.jpg",
        make_located_photo(&dir, "home.jpg"),
    )
    .await;
    let first = put(
        &srv,
        &lib,
        &owner,
        "colosseum.jpg",
        make_located_photo(&dir, "c.jpg"),
    )
    .await;
    move_to(first.clone(), folder.clone()).await;
    let res = share(
        &srv,
        &lib,
        &owner,
        json!({"kind": "folder", "folderId": folder}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.json);
    let token = token_of(&res);
    let ids = |view: &Value| -> Vec<String> {
        view["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&srv.get(&format!("/api/share/{token}"), "").await.json),
        vec![first.clone()]
    );
    // Live: a file added to a subfolder later appears; one outside never does.
    let later = put(
        &srv,
        &lib,
        &owner,
        "forum.jpg",
        make_located_photo(&dir, "f.jpg"),
    )
    .await;
    move_to(later.clone(), sub.clone()).await;
    let shown = ids(&srv.get(&format!("/api/share/{token}"), "").await.json);
    assert!(
        shown.contains(&later) && shown.contains(&first) && !shown.contains(&outside),
        "{shown:?}"
    );
    assert_eq!(
        get_bytes(
            &srv,
            &format!("/api/share/{token}/files/{outside}/thumbnails/preview"),
            ""
        )
        .await
        .0,
        404
    );

    // A moment share shows its file and, once cut, the clip.
    let video = put(&srv, &lib, &owner, "match.mp4", make_video(&dir)).await;
    settled_at(&srv, &lib, &video, &owner, "metadata").await;
    let moment = srv
        .post(
            &format!("/api/libraries/{lib}/files/{video}/moments"),
            &owner,
            json!({"start": 1.0, "end": 2.0, "title": "Penalty"}),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = share(
        &srv,
        &lib,
        &owner,
        json!({"kind": "moment", "momentId": moment}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.json);
    let token = token_of(&res);
    assert_eq!(
        export_settled(&srv, &lib, &video, &owner).await,
        "done",
        "sharing a moment cuts its clip"
    );
    let view = srv.get(&format!("/api/share/{token}"), "").await.json;
    assert_eq!(view["kind"], "moment");
    assert_eq!(view["title"], "Penalty");
    assert_eq!(ids(&view), vec![video.clone()]);
    let clip_url = view["moment"]["clipUrl"]
        .as_str()
        .expect("the clip is ready")
        .to_owned();
    let (status, _, clip) = get_bytes(&srv, &clip_url, "").await;
    assert_eq!(status, 200);
    let (container, _) = durations(&dir, &clip);
    assert!((container - 1.0).abs() <= 1.0 / 25.0 + 1e-3, "{container}");
    let (status, _, _) = get_bytes(
        &srv,
        &format!("/api/share/{token}/files/{video}/playback"),
        "",
    )
    .await;
    assert_eq!(status, 200, "the shared video plays");
    srv.stop().await;
}

async fn videos_leave_without_their_location(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let dir = TempDir::new();
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Phone").await;
    enable_sharing(&srv, &lib, &owner).await;
    let located = |tags: &Value| {
        tags.as_object()
            .unwrap()
            .iter()
            .any(|(k, v)| k.contains("location") && v.as_str().is_some_and(|v| v.contains('+')))
    };
    for (name, flags) in [
        (
            "android.mp4",
            &["-metadata", "location=+48.8584+002.2945/"][..],
        ),
        (
            "iphone.mov",
            &[
                "-movflags",
                "use_metadata_tags",
                "-metadata",
                "com.apple.quicktime.location.ISO6709=-33.8500+151.2000+010.000/",
            ][..],
        ),
    ] {
        let original = make_located_video(&dir, name, flags);
        let (tags, packets) = tags_and_packets(&dir, &original);
        assert!(located(&tags), "{name}: the fixture is located: {tags}");
        let id = put(&srv, &lib, &owner, name, original.clone()).await;
        let file = settled_at(&srv, &lib, &id, &owner, "proxy").await;
        assert!(file["media"]["gps"].is_object(), "{name}: {file}");
        let res = share(
            &srv,
            &lib,
            &owner,
            json!({"kind": "files", "fileIds": [id], "allowDownload": true}),
        )
        .await;
        assert_eq!(res.status, 201, "{}", res.json);
        let token = token_of(&res);

        // The original leaves at its size, every packet the same, its title kept, no place.
        let (status, _, sent) =
            get_bytes(&srv, &format!("/api/share/{token}/files/{id}/original"), "").await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(sent.len(), original.len(), "{name}");
        let (sent_tags, sent_packets) = tags_and_packets(&dir, &sent);
        assert!(
            !located(&sent_tags),
            "{name}: location removed: {sent_tags}"
        );
        assert_eq!(sent_tags["title"], "Tour", "{name}: {sent_tags}");
        assert_eq!(
            sent_packets, packets,
            "{name}: every sample is the original's"
        );
        let (status, _, part) = srv
            .fetch(
                &format!("/api/share/{token}/files/{id}/original"),
                "",
                &[("range", "bytes=100-")],
            )
            .await;
        assert_eq!((status, part.as_slice()), (206, &sent[100..]), "{name}");

        // Playback without a browser copy sends the same location-free bytes.
        let (status, _, played) =
            get_bytes(&srv, &format!("/api/share/{token}/files/{id}/playback"), "").await;
        assert_eq!(status, 200, "{name}: {file}");
        assert!(!located(&tags_and_packets(&dir, &played).0), "{name}");
    }
    srv.stop().await;
}
