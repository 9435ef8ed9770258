//! WebDAV at /dav/: the litmus compliance suite and rclone against the real server, app
//! passwords and their scope, roles, the trash, client mtimes and duplicates.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::common::{Backend, TempDir, TestServer};
use crate::files::testdata;
use crate::jobs::settled_at;
use crate::on_both_backends;

on_both_backends!(
    app_passwords_sign_in_to_webdav_only_as_far_as_their_scope,
    viewers_read_and_deletes_go_to_the_trash,
    client_mtime_is_the_file_time_and_duplicates_are_flagged,
);

impl TestServer {
    /// Creates an app password for the signed-in `who`; returns its id and secret.
    pub async fn app_password(&self, who: &str, scope: &str) -> (String, String) {
        let res = self
            .post(
                "/api/_auth/tokens",
                who,
                json!({ "name": format!("phone ({scope})"), "scope": scope }),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        assert_eq!(res.json["token"]["scope"], scope);
        (
            res.json["token"]["id"].as_str().unwrap().to_owned(),
            res.json["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// A WebDAV request to `/dav/{path}` with Basic credentials (none when `user` is empty).
    pub async fn dav(
        &self,
        method: &str,
        path: &str,
        (user, password): (&str, &str),
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}/dav/{path}", self.base))
            .body(body);
        if !user.is_empty() {
            req = req.basic_auth(user, Some(password));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        (status, headers, res.text().await.unwrap())
    }
}

/// `(status, body)` of a depth-1 PROPFIND.
async fn list(srv: &TestServer, path: &str, who: (&str, &str)) -> (u16, String) {
    let (status, _, body) = srv
        .dav("PROPFIND", path, who, &[("depth", "1")], vec![])
        .await;
    (status, body)
}

fn photo() -> Vec<u8> {
    std::fs::read(testdata("chelsea.png")).unwrap()
}

/// A PNG without any metadata: nothing in it says when it was taken.
fn undated() -> Vec<u8> {
    let picture = image::RgbImage::from_pixel(40, 30, image::Rgb([200, 120, 40]));
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn app_passwords_sign_in_to_webdav_only_as_far_as_their_scope(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Phone").await;
    let (_, full) = srv.app_password(&owner, "full").await;
    let (upload_id, upload) = srv.app_password(&owner, "upload").await;

    // Neither nothing, nor the account password, nor a wrong one signs in; OPTIONS needs none.
    let (status, headers, _) = srv.dav("PROPFIND", "", ("", ""), &[], vec![]).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let (status, _, _) = srv
        .dav(
            "PROPFIND",
            "",
            ("olivia", crate::common::PASSWORD),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        status, 401,
        "the account password is never a WebDAV password"
    );
    let (status, headers, _) = srv.dav("OPTIONS", "Phone/", ("", ""), &[], vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["dav"], "1");
    // Another user's name with this password does not work either.
    let other = srv.library(&owner, "Other").await;
    let invite = srv.invite(&other, &owner, "viewer").await;
    srv.register("mallory", Some(&invite)).await;
    let (status, _, _) = srv
        .dav("PROPFIND", "", ("mallory", &full), &[], vec![])
        .await;
    assert_eq!(status, 401);

    // The full app password lists the libraries and everything in them.
    let (status, body) = list(&srv, "", ("olivia", &full)).await;
    assert_eq!(status, 207, "{body}");
    assert!(body.contains("<D:href>/dav/Phone/</D:href>"), "{body}");

    // The upload-only one lists names and adds files and folders, and does nothing else.
    let me = ("Olivia", upload.as_str());
    let (status, _, _) = srv.dav("MKCOL", "Phone/Camera", me, &[], vec![]).await;
    assert_eq!(status, 201);
    let (status, _, _) = srv
        .dav("PUT", "Phone/Camera/cat.png", me, &[], photo())
        .await;
    assert_eq!(status, 201);
    let (status, body) = list(&srv, "Phone/Camera/", me).await;
    assert_eq!(status, 207);
    assert!(
        body.contains("<D:href>/dav/Phone/Camera/cat.png</D:href>"),
        "{body}"
    );
    for (method, path) in [
        ("GET", "Phone/Camera/cat.png"),
        ("DELETE", "Phone/Camera/cat.png"),
        ("PUT", "Phone/Camera/cat.png"),
    ] {
        let (status, _, body) = srv.dav(method, path, me, &[], b"x".to_vec()).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(body.contains("token_scope"), "{body}");
    }
    let (status, _, body) = srv
        .dav(
            "MOVE",
            "Phone/Camera/cat.png",
            me,
            &[("destination", "/dav/Phone/cat.png")],
            vec![],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Through the API, as a Bearer token, it may upload but not read.
    let bearer = format!("Bearer {upload}");
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}/files"), &bearer)
            .await
            .code(),
        "token_scope"
    );
    assert_eq!(
        srv.upload(&lib, &bearer, "api.png", photo()).await.status,
        201
    );

    // Revoked, it signs nobody in.
    let revoke = srv
        .call(
            "DELETE",
            &format!("/api/_auth/tokens/{upload_id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(revoke.status, 204);
    let (status, _, _) = srv.dav("PROPFIND", "", me, &[], vec![]).await;
    assert_eq!(status, 401);

    // Wrong passwords are throttled like sign-ins, and the right one waits too meanwhile.
    let mut throttled = false;
    for _ in 0..8 {
        let (status, _, _) = srv
            .dav("PROPFIND", "", ("olivia", "alc_wrong"), &[], vec![])
            .await;
        if status == 429 {
            throttled = true;
            break;
        }
        assert_eq!(status, 401);
    }
    assert!(throttled, "guessing is slowed down");
    let (status, _, _) = srv
        .dav("PROPFIND", "", ("olivia", &full), &[], vec![])
        .await;
    assert_eq!(status, 429);
    srv.stop().await;
}

async fn viewers_read_and_deletes_go_to_the_trash(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Family").await;
    let invite = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("victor", Some(&invite)).await;
    let (_, mine) = srv.app_password(&owner, "full").await;
    let (_, theirs) = srv.app_password(&viewer, "full").await;
    let (olivia, victor) = (("olivia", mine.as_str()), ("victor", theirs.as_str()));
    srv.library(&owner, "Private").await;

    assert_eq!(
        srv.dav("MKCOL", "Family/2024", olivia, &[], vec![]).await.0,
        201
    );
    assert_eq!(
        srv.dav("PUT", "Family/2024/cat.png", olivia, &[], photo())
            .await
            .0,
        201
    );

    // The viewer reads and lists; they change nothing.
    let (status, _, body) = srv
        .dav("GET", "Family/2024/cat.png", victor, &[], vec![])
        .await;
    assert_eq!(
        (status, body.len()),
        (200, String::from_utf8_lossy(&photo()).len())
    );
    assert_eq!(list(&srv, "Family/2024/", victor).await.0, 207);
    for (method, path, headers) in [
        ("PUT", "Family/2024/new.png", vec![]),
        ("MKCOL", "Family/new", vec![]),
        ("DELETE", "Family/2024/cat.png", vec![]),
        (
            "MOVE",
            "Family/2024/cat.png",
            vec![("destination", "/dav/Family/cat.png")],
        ),
        (
            "COPY",
            "Family/2024/cat.png",
            vec![("destination", "/dav/Family/cat.png")],
        ),
    ] {
        let (status, _, body) = srv.dav(method, path, victor, &headers, photo()).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    // A library they are not a member of is not there at all.
    let (status, body) = list(&srv, "", victor).await;
    assert!(
        body.contains("/dav/Family/") && !body.contains("Private"),
        "{body}"
    );
    assert_eq!(list(&srv, "Private/", victor).await.0, 404);
    assert_eq!(
        srv.dav("PUT", "Private/x.png", victor, &[], photo())
            .await
            .0,
        409
    );
    assert_eq!(status, 207);

    // Deleting through WebDAV moves to the trash: the file, then a folder with its files.
    let files = srv
        .get(&format!("/api/libraries/{lib}/files"), &owner)
        .await
        .json;
    let cat = files["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        srv.dav("DELETE", "Family/2024/cat.png", olivia, &[], vec![])
            .await
            .0,
        204
    );
    assert_eq!(
        srv.dav("GET", "Family/2024/cat.png", olivia, &[], vec![])
            .await
            .0,
        404
    );
    let trashed = srv
        .get(&format!("/api/libraries/{lib}/files?trashed=true"), &owner)
        .await
        .json;
    assert_eq!(trashed["items"][0]["id"], cat.as_str(), "{trashed}");
    assert_eq!(
        srv.dav(
            "PUT",
            "Family/2024/dog.jpg",
            olivia,
            &[],
            std::fs::read(testdata("dog.jpg")).unwrap()
        )
        .await
        .0,
        201
    );
    assert_eq!(
        srv.dav("DELETE", "Family/2024/", olivia, &[], vec![])
            .await
            .0,
        204
    );
    let folders = srv
        .get(
            &format!("/api/libraries/{lib}/folders?trashed=true"),
            &owner,
        )
        .await
        .json;
    assert_eq!(folders[0]["name"], "2024", "{folders}");
    let trashed = srv
        .get(&format!("/api/libraries/{lib}/files?trashed=true"), &owner)
        .await
        .json;
    assert_eq!(trashed["items"].as_array().unwrap().len(), 2, "{trashed}");
    // A library itself is not deleted through WebDAV.
    assert_eq!(
        srv.dav("DELETE", "Family/", olivia, &[], vec![]).await.0,
        403
    );
    srv.stop().await;
}

async fn client_mtime_is_the_file_time_and_duplicates_are_flagged(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Backup").await;
    let (_, secret) = srv.app_password(&owner, "full").await;
    let me = ("olivia", secret.as_str());
    // A picture that names no capture time: the phone's mtime becomes the file time.
    let mtime = "1500000000";
    let (status, headers, _) = srv
        .dav(
            "PUT",
            "Backup/cat.png",
            me,
            &[("x-oc-mtime", mtime)],
            undated(),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(headers["x-oc-mtime"], "accepted");
    let files = srv
        .get(&format!("/api/libraries/{lib}/files"), &owner)
        .await
        .json;
    let id = files["items"][0]["id"].as_str().unwrap().to_owned();
    let file = settled_at(&srv, &lib, &id, &owner, "metadata").await;
    assert_eq!(file["capturedAt"], 1_500_000_000_000i64, "{file}");
    assert_eq!(file["capturedAtSource"], "file_time");
    let (_, body) = list(&srv, "Backup/", me).await;
    assert!(body.contains("Fri, 14 Jul 2017 02:40:00 GMT"), "{body}");

    // The same photo again under another name is stored, flagged as a duplicate.
    assert_eq!(
        srv.dav("PUT", "Backup/cat again.png", me, &[], undated())
            .await
            .0,
        201
    );
    let files = srv
        .get(&format!("/api/libraries/{lib}/files"), &owner)
        .await
        .json;
    let items = files["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|f| f["isDuplicate"] == true), "{files}");
    // The same bytes under the same name are no new file, only a new time.
    let (status, _, _) = srv
        .dav(
            "PUT",
            "Backup/cat.png",
            me,
            &[("x-oc-mtime", "1600000000")],
            undated(),
        )
        .await;
    assert_eq!(status, 204);
    let files = srv
        .get(&format!("/api/libraries/{lib}/files"), &owner)
        .await
        .json;
    assert_eq!(files["items"].as_array().unwrap().len(), 2);
    // New bytes under an old name: the new file replaces it and the old one is in the trash.
    let dog = std::fs::read(testdata("dog.jpg")).unwrap();
    assert_eq!(
        srv.dav("PUT", "Backup/cat.png", me, &[], dog.clone())
            .await
            .0,
        204
    );
    let (status, _, body) = srv.dav("GET", "Backup/cat.png", me, &[], vec![]).await;
    assert_eq!(
        (status, body.len()),
        (200, String::from_utf8_lossy(&dog).len())
    );
    let trashed = srv
        .get(&format!("/api/libraries/{lib}/files?trashed=true"), &owner)
        .await
        .json;
    assert_eq!(trashed["items"][0]["id"], id.as_str());
    srv.stop().await;
}

/// `summary for 'group': of N tests run: P passed, F failed` lines of litmus's output.
fn litmus_summaries(output: &str) -> Vec<(String, u32, u32)> {
    output
        .lines()
        .filter_map(|line| {
            let rest = line.split("summary for `").nth(1)?;
            let (group, rest) = rest.split_once('\'')?;
            let run: u32 = rest
                .split("of ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            let passed: u32 = rest
                .split("run: ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((group.to_owned(), run, passed))
        })
        .collect()
}

/// The litmus WebDAV compliance suite (basic, copymove and http groups) against a library,
/// and rclone syncing a folder of photos up and back down byte for byte, twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litmus_passes_and_rclone_syncs_both_ways() {
    let srv = TestServer::start(Backend::Sqlite).await;
    let (owner, _) = srv.register("olivia", None).await;
    srv.library(&owner, "Litmus").await;
    srv.library(&owner, "Sync").await;
    let (_, secret) = srv.app_password(&owner, "full").await;

    let url = format!("{}/dav/Litmus/", srv.base);
    let dir = TempDir::new();
    let logs = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("litmus")
            // It writes debug.log and child.log where it runs.
            .current_dir(logs)
            .env("TESTS", "basic copymove http")
            .args([url.as_str(), "olivia", secret.as_str()])
            .output()
            .expect("litmus is installed (Debian package litmus)")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let summaries = litmus_summaries(&text);
    eprintln!("{text}");
    assert_eq!(summaries.len(), 3, "{text}");
    for (group, run, passed) in &summaries {
        assert_eq!(run, passed, "litmus {group}: {text}");
    }

    let (_, secret) = srv.app_password(&owner, "full").await;
    let obscured = String::from_utf8(
        Command::new("rclone")
            .args(["obscure", &secret])
            .output()
            .expect("rclone is installed (Debian package rclone)")
            .stdout,
    )
    .unwrap();
    let env = [
        ("RCLONE_CONFIG_ALC_TYPE", "webdav".to_owned()),
        ("RCLONE_CONFIG_ALC_URL", format!("{}/dav", srv.base)),
        ("RCLONE_CONFIG_ALC_VENDOR", "owncloud".to_owned()),
        ("RCLONE_CONFIG_ALC_USER", "olivia".to_owned()),
        ("RCLONE_CONFIG_ALC_PASS", obscured.trim().to_owned()),
    ];
    let (up, down) = (dir.path().join("phone"), dir.path().join("back"));
    std::fs::create_dir_all(up.join("DCIM/Camera")).unwrap();
    for (name, into) in [
        ("dog.jpg", "DCIM/Camera"),
        ("astronaut.jpg", "DCIM/Camera"),
        ("chelsea.png", "DCIM"),
    ] {
        std::fs::copy(testdata(name), up.join(into).join(format!("my {name}"))).unwrap();
    }
    let sync = |from: String, to: String| {
        let env = env.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let out = Command::new("rclone")
                    .envs(env)
                    .args(["sync", &from, &to, "-v", "--stats", "0", "--retries", "1"])
                    .output()
                    .unwrap();
                let log = String::from_utf8_lossy(&out.stderr).into_owned();
                assert!(out.status.success(), "rclone sync {from} {to}: {log}");
                log.lines().filter(|l| l.contains(": Copied")).count()
            })
            .await
            .unwrap()
        }
    };
    let (local, remote) = (up.to_str().unwrap().to_owned(), "alc:Sync/phone".to_owned());
    assert_eq!(sync(local.clone(), remote.clone()).await, 3);
    assert_eq!(
        sync(local, remote.clone()).await,
        0,
        "a second sync up copies nothing"
    );
    let back = down.to_str().unwrap().to_owned();
    assert_eq!(sync(remote.clone(), back.clone()).await, 3);
    assert_eq!(
        sync(remote, back).await,
        0,
        "a second sync down copies nothing"
    );
    for (name, into) in [
        ("dog.jpg", "DCIM/Camera"),
        ("astronaut.jpg", "DCIM/Camera"),
        ("chelsea.png", "DCIM"),
    ] {
        let file = Path::new(into).join(format!("my {name}"));
        assert_eq!(
            std::fs::read(down.join(&file)).unwrap(),
            std::fs::read(up.join(&file)).unwrap(),
            "{file:?} came back byte for byte"
        );
    }
    srv.stop().await;
}
