//! Uploads, downloads with Range and ETag, duplicates, trash and purge, over HTTP.

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::{Backend, TestServer};
use crate::on_both_backends;

on_both_backends!(
    purges_at_once_outnumbering_the_pool_all_finish,
    real_photo_round_trips_with_hash_ranges_and_duplicates,
    large_upload_hashes_like_sha256sum,
    trash_restore_purge_and_pagination,
    hostile_uploads_leave_nothing_behind,
    folders_nest_move_trash_restore_and_purge,
    zip_of_a_selection_holds_the_originals,
);

/// The shared test pictures and sounds (see ../shared/models/MANIFEST.md).
pub fn testdata(name: &str) -> PathBuf {
    let dir = std::env::var("ALCOVES_TEST_DATA").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models/testdata").into()
    });
    PathBuf::from(dir).join(name)
}

/// `sha256sum`'s answer for a file, the reference the stored hash must equal.
fn sha256sum(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

impl TestServer {
    /// Uploads `bytes` as `name` into `library`.
    pub async fn upload(
        &self,
        library: &str,
        who: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> crate::common::Resp {
        self.raw(
            reqwest::Client::new()
                .post(format!("{}/api/libraries/{library}/files", self.base))
                .header(
                    "x-upload-name",
                    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
                        .to_string(),
                )
                .body(bytes),
            who,
        )
        .await
    }

    /// Downloads a file's original with optional extra headers; returns status, headers, bytes.
    pub async fn download(
        &self,
        library: &str,
        file: &str,
        who: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let path = format!("/api/libraries/{library}/files/{file}/original");
        self.fetch(&path, who, headers).await
    }

    /// GETs `path` as `who` with extra headers; returns status, headers and the body's bytes.
    pub async fn fetch(
        &self,
        path: &str,
        who: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .header("cookie", who);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        (status, headers, res.bytes().await.unwrap().to_vec())
    }
}

async fn real_photo_round_trips_with_hash_ranges_and_duplicates(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    let path = testdata("dog.jpg");
    let bytes = std::fs::read(&path).unwrap();

    // Named .txt on purpose: the content decides the type.
    let first = srv
        .upload(&lib, &owner, "Hund im Schnee.txt", bytes.clone())
        .await;
    assert_eq!(first.status, 201, "{}", first.json);
    assert_eq!(first.json["sha256"], sha256sum(&path));
    assert_eq!(first.json["mime"], "image/jpeg");
    assert_eq!(first.json["kind"], "photo");
    assert_eq!(first.json["size"], bytes.len());
    assert_eq!(first.json["isDuplicate"], false);
    let id = first.json["id"].as_str().unwrap().to_owned();

    let (status, headers, body) = srv.download(&lib, &id, &owner, &[]).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "download returns identical bytes");
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["accept-ranges"], "bytes");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("Hund%20im%20Schnee"),
        "{disposition}"
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256sum(&path)));

    let n = bytes.len();
    for (range, want) in [
        ("bytes=0-99", &bytes[..100]),
        ("bytes=1000-1999", &bytes[1000..2000]),
        ("bytes=-100", &bytes[n - 100..]),
        ("bytes=150000-", &bytes[150000..]),
    ] {
        let (status, headers, body) = srv.download(&lib, &id, &owner, &[("range", range)]).await;
        assert_eq!(status, 206, "{range}");
        assert!(body == want, "{range}");
        assert!(
            headers["content-range"]
                .to_str()
                .unwrap()
                .ends_with(&format!("/{n}")),
            "{range}"
        );
    }
    let (status, headers, _) = srv
        .download(&lib, &id, &owner, &[("range", &format!("bytes={n}-"))])
        .await;
    assert_eq!(status, 416);
    assert_eq!(headers["content-range"], format!("bytes */{n}"));
    let (status, _, body) = srv
        .download(&lib, &id, &owner, &[("if-none-match", &etag)])
        .await;
    assert_eq!((status, body.len()), (304, 0));
    let inline = reqwest::Client::new()
        .get(format!(
            "{}/api/libraries/{lib}/files/{id}/original?inline=true",
            srv.base
        ))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap();
    assert!(
        inline.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );

    // The same bytes again are kept, and both copies are flagged and grouped.
    let second = srv.upload(&lib, &owner, "copy.jpg", bytes.clone()).await;
    assert_eq!(
        (second.status, second.json["isDuplicate"].as_bool()),
        (201, Some(true))
    );
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}/files/{id}"), &owner)
            .await
            .json["isDuplicate"],
        true
    );
    let other = srv
        .upload(
            &lib,
            &owner,
            "astronaut.jpg",
            std::fs::read(testdata("astronaut.jpg")).unwrap(),
        )
        .await;
    assert_eq!(other.json["isDuplicate"], false);
    let groups = srv
        .get(&format!("/api/libraries/{lib}/duplicates"), &owner)
        .await
        .json;
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["files"].as_array().unwrap().len(), 2);
    assert_eq!(groups[0]["sha256"], sha256sum(&path));

    // The same bytes in another library are not a duplicate there.
    let elsewhere = srv.library(&owner, "Elsewhere").await;
    assert_eq!(
        srv.upload(&elsewhere, &owner, "dog.jpg", bytes.clone())
            .await
            .json["isDuplicate"],
        false
    );

    // A trashed copy no longer counts.
    srv.post(
        &format!(
            "/api/libraries/{lib}/files/{}/trash",
            second.json["id"].as_str().unwrap()
        ),
        &owner,
        json!({}),
    )
    .await;
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}/files/{id}"), &owner)
            .await
            .json["isDuplicate"],
        false
    );
    assert!(
        srv.get(&format!("/api/libraries/{lib}/duplicates"), &owner)
            .await
            .json
            .as_array()
            .unwrap()
            .is_empty()
    );
    srv.stop().await;
}

async fn large_upload_hashes_like_sha256sum(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Videos").await;
    let len = 50 * 1024 * 1024;
    let mut bytes = vec![0u8; len];
    let mut x: u32 = 0x1234_5678;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let source = srv.store.dir.path().join("big.bin");
    std::fs::write(&source, &bytes).unwrap();
    let res = srv.upload(&lib, &owner, "big.bin", bytes.clone()).await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(res.json["sha256"], sha256sum(&source));
    assert_eq!(res.json["size"], len);
    assert_eq!(res.json["mime"], "application/octet-stream");
    let id = res.json["id"].as_str().unwrap();
    let (_, _, body) = srv.download(&lib, id, &owner, &[]).await;
    assert!(body == bytes, "50 MB round trip");
    let (status, _, body) = srv
        .download(&lib, id, &owner, &[("range", "bytes=30000000-30999999")])
        .await;
    assert_eq!(status, 206);
    assert!(body == bytes[30_000_000..31_000_000]);
    srv.stop().await;
}

async fn trash_restore_purge_and_pagination(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Paged").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let res = srv
            .upload(
                &lib,
                &owner,
                &format!("note{i}.txt"),
                format!("note number {i}").into_bytes(),
            )
            .await;
        ids.push(res.json["id"].as_str().unwrap().to_owned());
    }
    let files = format!("/api/libraries/{lib}/files");

    // Keyset pages of two: newest first, nothing twice, nothing missed.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = srv
            .get(&format!("{files}?limit=2&cursor={cursor}"), &owner)
            .await
            .json;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen.len(), 5);
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(sorted_seen, sorted_ids);
    assert_eq!(
        srv.get(&format!("{files}?cursor=garbage"), &owner)
            .await
            .status,
        400
    );
    assert_eq!(
        srv.get(&format!("{files}?kind=photo"), &owner).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        srv.get(&format!("{files}?kind=other"), &owner).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    let one = format!("{files}/{}", ids[0]);
    let renamed = srv
        .call(
            "PATCH",
            &one,
            &owner,
            Some(json!({ "name": "../renamed.txt" })),
        )
        .await;
    assert_eq!(renamed.json["name"], "renamed.txt");

    let res = srv.call("DELETE", &one, &owner, None).await;
    assert_eq!((res.status, res.code()), (409, "not_trashed"));
    let trashed = srv.post(&format!("{one}/trash"), &owner, json!({})).await;
    assert!(trashed.json["trashedAt"].is_i64());
    let live = |v: Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(!live(srv.get(&files, &owner).await.json).contains(&ids[0]));
    assert_eq!(
        live(srv.get(&format!("{files}?trashed=true"), &owner).await.json),
        vec![ids[0].clone()]
    );
    srv.post(&format!("{one}/restore"), &owner, json!({})).await;
    assert!(live(srv.get(&files, &owner).await.json).contains(&ids[0]));

    srv.post(&format!("{one}/trash"), &owner, json!({})).await;
    assert_eq!(srv.call("DELETE", &one, &owner, None).await.status, 204);
    assert_eq!(srv.get(&one, &owner).await.status, 404);
    let blob = srv
        .store
        .dir
        .path()
        .join(format!("storage/files/{lib}/{}/original", ids[0]));
    assert!(!blob.exists(), "purge removes the original");
    let kept = srv
        .store
        .dir
        .path()
        .join(format!("storage/files/{lib}/{}/original", ids[1]));
    assert!(kept.exists());

    // Selections: what is not in the state a change needs is skipped and listed.
    let stranger = uuid::Uuid::new_v4().to_string();
    let bulk = |change: &'static str, ids: Vec<&String>| {
        let (srv, owner, files) = (&srv, &owner, &files);
        let body = json!({ "fileIds": ids });
        async move { srv.post(&format!("{files}/{change}"), owner, body).await }
    };
    let res = bulk("trash", vec![&ids[1], &ids[2], &ids[2], &stranger]).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json, json!({ "changed": 2, "skipped": [stranger] }));
    assert_eq!(
        live(srv.get(&files, &owner).await.json),
        vec![ids[4].clone(), ids[3].clone()]
    );
    let res = bulk("restore", vec![&ids[1], &ids[3]]).await;
    assert_eq!(res.json, json!({ "changed": 1, "skipped": [ids[3]] }));
    let res = bulk("purge", vec![&ids[1], &ids[2]]).await;
    assert_eq!(
        res.json,
        json!({ "changed": 1, "skipped": [ids[1]] }),
        "only trashed files are purged"
    );
    assert_eq!(
        srv.get(&format!("{files}/{}", ids[2]), &owner).await.status,
        404
    );
    assert!(
        !srv.store
            .dir
            .path()
            .join(format!("storage/files/{lib}/{}/original", ids[2]))
            .exists()
    );
    let feed = srv.get(&format!("/api/libraries/{lib}/feed"), &owner).await;
    assert!(
        feed.json.to_string().contains("file.trashed"),
        "{}",
        feed.json
    );
    for bad in [json!({ "fileIds": [] }), json!({ "ids": ["x"] })] {
        let res = srv.post(&format!("{files}/trash"), &owner, bad).await;
        assert_eq!(res.status, 400, "{}", res.json);
    }
    let token = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("vera", Some(&token)).await;
    let res = srv
        .post(
            &format!("{files}/trash"),
            &viewer,
            json!({ "fileIds": [ids[1]] }),
        )
        .await;
    assert_eq!(res.status, 403, "viewers cannot trash");

    // Deleting the library takes its originals and derived files with it, and nothing else.
    let other = srv.library(&owner, "Other").await;
    let kept = srv
        .upload(&other, &owner, "kept.txt", b"kept".to_vec())
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let photo = srv
        .upload(
            &lib,
            &owner,
            "dog.jpg",
            std::fs::read(testdata("dog.jpg")).unwrap(),
        )
        .await;
    assert_eq!(photo.status, 201);
    let storage = srv.store.dir.path().join("storage");
    let cache = storage.join(format!("cache/{lib}"));
    for _ in 0..300 {
        if cache.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(cache.exists(), "thumbnails were made");
    let res = srv
        .call("DELETE", &format!("/api/libraries/{lib}"), &owner, None)
        .await;
    assert_eq!(res.status, 204);
    // Jobs still running for the deleted library finish before anything is looked at: what
    // they write after the delete goes too.
    let store = srv.halt().await;
    assert!(!storage.join(format!("files/{lib}")).exists());
    assert!(!cache.exists());
    assert!(
        storage
            .join(format!("files/{other}/{kept}/original"))
            .exists()
    );
    store.cleanup().await;
}

async fn hostile_uploads_leave_nothing_behind(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.max_upload_bytes = 1024 * 1024).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Hostile").await;
    let files = format!("/api/libraries/{lib}/files");
    let count = || async {
        srv.get(&files, &owner).await.json["items"]
            .as_array()
            .unwrap()
            .len()
    };

    // Names cannot steer where bytes go.
    for name in [
        "../../etc/passwd",
        "/etc/passwd",
        "a\0b.jpg",
        "..",
        "C:\\evil\\x.exe",
    ] {
        let res = srv.upload(&lib, &owner, name, b"not much".to_vec()).await;
        assert_eq!(res.status, 201, "{name}");
        let stored = res.json["name"].as_str().unwrap();
        assert!(
            !stored.contains('/') && !stored.contains('\\') && !stored.contains('\0'),
            "{stored}"
        );
    }
    assert!(!srv.store.dir.path().join("etc").exists());
    assert_eq!(count().await, 5);

    // Raw bytes in X-Upload-Name: UTF-8 kept as it is, anything else read as Latin-1 (RFC 9110),
    // never dropped for "upload".
    for (raw, expected) in [
        (b"caf\xe9 cr\xe8me.jpg".to_vec(), "café crème.jpg"),
        ("Zoë 東京.jpg".as_bytes().to_vec(), "Zoë 東京.jpg"),
    ] {
        let res = srv
            .raw(
                reqwest::Client::new()
                    .post(format!("{}{files}", srv.base))
                    .header(
                        "x-upload-name",
                        reqwest::header::HeaderValue::from_bytes(&raw).unwrap(),
                    )
                    .body(expected.as_bytes().to_vec()),
                &owner,
            )
            .await;
        assert_eq!(res.status, 201, "{expected}");
        assert_eq!(res.json["name"], expected);
    }
    assert_eq!(count().await, 7);

    let empty = srv.upload(&lib, &owner, "empty.jpg", Vec::new()).await;
    assert_eq!((empty.status, empty.code()), (409, "empty_file"));
    let big = srv
        .upload(&lib, &owner, "big.bin", vec![7u8; 2 * 1024 * 1024])
        .await;
    assert_eq!((big.status, big.code()), (413, "payload_too_large"));

    // A client that vanishes mid-upload leaves no file and no temporary behind.
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST {files} HTTP/1.1\r\nHost: {addr}\r\nCookie: {owner}\r\nX-Upload-Name: cut.bin\r\nContent-Length: 500000\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[1u8; 200_000]).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(stream);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count().await, 7);
    let tmp = srv.store.dir.path().join("tmp");
    let leftovers = crate::common::files_under(&tmp);
    assert_eq!(
        leftovers,
        vec![],
        "no partial upload left in {}",
        tmp.display()
    );

    // A viewer can read but not upload, trash or purge.
    let token = srv.invite(&lib, &owner, "viewer").await;
    srv.call(
        "PATCH",
        "/api/admin/settings",
        &owner,
        Some(json!({ "registrationMode": "invite_only" })),
    )
    .await;
    let (viewer, _) = srv.register("victor", Some(&token)).await;
    let some = srv.get(&files, &viewer).await.json["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        srv.upload(&lib, &viewer, "x.jpg", b"x".to_vec())
            .await
            .status,
        403
    );
    assert_eq!(
        srv.post(&format!("{files}/{some}/trash"), &viewer, json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.call("DELETE", &format!("{files}/{some}"), &viewer, None)
            .await
            .status,
        403
    );
    assert_eq!(srv.download(&lib, &some, &viewer, &[]).await.0, 200);
    srv.stop().await;
}

async fn folders_nest_move_trash_restore_and_purge(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Tree").await;
    let folders = format!("/api/libraries/{lib}/folders");
    let mk = |name: &'static str, parent: Option<String>| {
        srv.post(
            &folders,
            &owner,
            json!({ "name": name, "parentId": parent }),
        )
    };
    let trips = mk("Trips", None).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rome = mk("Rome", Some(trips.clone())).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inbox = mk("Inbox", None).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(mk("../x", None).await.status, 400);
    assert_eq!(
        mk("Orphan", Some(uuid::Uuid::new_v4().to_string()))
            .await
            .status,
        400
    );

    let names = |v: Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(srv.get(&folders, &owner).await.json),
        ["Inbox", "Trips"]
    );
    assert_eq!(
        names(
            srv.get(&format!("{folders}?parent={trips}"), &owner)
                .await
                .json
        ),
        ["Rome"]
    );
    let deep = mk("Forum", Some(rome.clone())).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = srv.get(&format!("{folders}/{deep}"), &owner).await;
    assert_eq!(shown.json["name"], "Forum");
    assert_eq!(
        shown.json["path"],
        json!([{ "id": trips, "name": "Trips" }, { "id": rome, "name": "Rome" }]),
        "the way from the root"
    );
    assert_eq!(
        srv.get(&format!("{folders}/{trips}"), &owner).await.json["path"],
        json!([])
    );
    let stranger = srv.library(&owner, "Elsewhere").await;
    let res = srv
        .get(&format!("/api/libraries/{stranger}/folders/{deep}"), &owner)
        .await;
    assert_eq!(res.status, 404, "a folder of another library");

    // Upload straight into a folder, and move another file in.
    let in_rome = srv
        .raw(
            reqwest::Client::new()
                .post(format!("{}/api/libraries/{lib}/files", srv.base))
                .header("x-upload-name", "colosseum.jpg")
                .header("x-upload-folder-id", &rome)
                .body(std::fs::read(testdata("astronaut.jpg")).unwrap()),
            &owner,
        )
        .await;
    assert_eq!(
        (in_rome.status, in_rome.json["folderId"].as_str()),
        (201, Some(rome.as_str()))
    );
    let loose = srv
        .upload(&lib, &owner, "loose.txt", b"loose".to_vec())
        .await;
    let loose_path = format!(
        "/api/libraries/{lib}/files/{}",
        loose.json["id"].as_str().unwrap()
    );
    let moved = srv
        .call(
            "PATCH",
            &loose_path,
            &owner,
            Some(json!({ "folderId": inbox })),
        )
        .await;
    assert_eq!(moved.json["folderId"], inbox.as_str());
    let (srv_ref, owner_ref) = (&srv, &owner);
    let files_in = |folder: &str| {
        let url = format!("/api/libraries/{lib}/files?folder={folder}");
        async move {
            srv_ref.get(&url, owner_ref).await.json["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(files_in(&rome).await, 1);
    assert_eq!(files_in(&inbox).await, 1);
    assert_eq!(
        srv.call(
            "PATCH",
            &loose_path,
            &owner,
            Some(json!({ "folderId": null }))
        )
        .await
        .json["folderId"],
        Value::Null
    );

    // Moving a folder into its own subtree is refused; moving elsewhere works.
    let cycle = srv
        .call(
            "PATCH",
            &format!("{folders}/{trips}"),
            &owner,
            Some(json!({ "parentId": rome })),
        )
        .await;
    assert_eq!((cycle.status, cycle.code()), (409, "folder_cycle"));
    let renamed = srv
        .call(
            "PATCH",
            &format!("{folders}/{rome}"),
            &owner,
            Some(json!({ "name": "Roma", "parentId": inbox })),
        )
        .await;
    assert_eq!(
        (
            renamed.json["name"].as_str(),
            renamed.json["parentId"].as_str()
        ),
        (Some("Roma"), Some(inbox.as_str()))
    );

    // Trash takes the subtree and its files; restore brings back exactly those.
    srv.upload(&lib, &owner, "unrelated.txt", b"stays".to_vec())
        .await;
    assert_eq!(
        srv.post(&format!("{folders}/{inbox}/trash"), &owner, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(files_in(&rome).await, 0);
    let trash = srv
        .get(&format!("/api/libraries/{lib}/files?trashed=true"), &owner)
        .await
        .json;
    assert_eq!(trash["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        names(
            srv.get(&format!("{folders}?trashed=true"), &owner)
                .await
                .json
        ),
        ["Forum", "Inbox", "Roma"],
        "the whole subtree"
    );
    srv.post(&format!("{folders}/{inbox}/restore"), &owner, json!({}))
        .await;
    assert_eq!(files_in(&rome).await, 1);

    // Purge needs the trash first, then removes folders, files and blobs.
    assert_eq!(
        srv.call("DELETE", &format!("{folders}/{inbox}"), &owner, None)
            .await
            .status,
        409
    );
    srv.post(&format!("{folders}/{inbox}/trash"), &owner, json!({}))
        .await;
    assert_eq!(
        srv.call("DELETE", &format!("{folders}/{inbox}"), &owner, None)
            .await
            .status,
        204
    );
    let gone = srv.store.dir.path().join(format!(
        "storage/files/{lib}/{}/original",
        in_rome.json["id"].as_str().unwrap()
    ));
    assert!(!gone.exists());
    assert_eq!(names(srv.get(&folders, &owner).await.json), ["Trips"]);
    let left = srv
        .get(&format!("/api/libraries/{lib}/files"), &owner)
        .await
        .json;
    assert_eq!(
        left["items"].as_array().unwrap().len(),
        2,
        "files outside the folder stay"
    );
    srv.stop().await;
}

async fn zip_of_a_selection_holds_the_originals(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Zipped").await;
    let mut expected = std::collections::BTreeMap::new();
    let mut ids = Vec::new();
    for (name, source) in [
        ("dog.jpg", "dog.jpg"),
        ("astronaut.jpg", "astronaut.jpg"),
        ("dog.jpg", "chelsea.png"),
    ] {
        let res = srv
            .upload(&lib, &owner, name, std::fs::read(testdata(source)).unwrap())
            .await;
        ids.push(res.json["id"].as_str().unwrap().to_owned());
        let entry = if expected.contains_key(name) {
            "dog (2).jpg"
        } else {
            name
        };
        expected.insert(
            entry.to_owned(),
            res.json["sha256"].as_str().unwrap().to_owned(),
        );
    }
    let mut selection = ids.clone();
    selection.push(uuid::Uuid::new_v4().to_string());
    let estimate = srv
        .post(
            &format!("/api/libraries/{lib}/zip/estimate"),
            &owner,
            json!({ "fileIds": selection }),
        )
        .await;
    assert_eq!(estimate.json["count"], 3);
    assert_eq!(estimate.json["missing"].as_array().unwrap().len(), 1);
    let sizes: u64 = ["dog.jpg", "astronaut.jpg", "chelsea.png"]
        .iter()
        .map(|n| std::fs::metadata(testdata(n)).unwrap().len())
        .sum();
    assert!(estimate.json["bytes"].as_u64().unwrap() >= sizes);

    let res = reqwest::Client::new()
        .post(format!("{}/api/libraries/{lib}/zip", srv.base))
        .header("cookie", &owner)
        .json(&json!({ "fileIds": ids }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let bytes = res.bytes().await.unwrap();
    assert!(
        bytes.len() as u64 <= estimate.json["bytes"].as_u64().unwrap(),
        "the estimate is an upper bound"
    );
    let archive = srv.store.dir.path().join("download.zip");
    std::fs::write(&archive, &bytes).unwrap();
    // An independent reader checks the archive: CRCs, names and contents.
    let script = "import zipfile,hashlib,json,sys\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, expected);
    // A browser's form post streams the same archive.
    let form = reqwest::Client::new()
        .post(format!("{}/api/libraries/{lib}/zip", srv.base))
        .header("cookie", &owner)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("fileIds={}", ids.join("%2C")))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(
        form.headers()["content-disposition"],
        "attachment; filename=\"alcoves.zip\""
    );
    assert_eq!(form.bytes().await.unwrap().len(), bytes.len());
    assert_eq!(
        srv.post(
            &format!("/api/libraries/{lib}/zip"),
            &owner,
            json!({ "fileIds": [] })
        )
        .await
        .status,
        400
    );
    srv.stop().await;
}

/// The last SQL text run that pages the timeline after a cursor (captured by a diesel
/// instrumentation installed for every new connection of this test process).
static KEYSET_SQL: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

struct CaptureKeysetSql;

impl diesel::connection::Instrumentation for CaptureKeysetSql {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::StartQuery { query, .. } = event {
            let sql = query.to_string();
            if sql.contains("coalesce") && sql.contains("ORDER BY") && sql.contains(" OR ") {
                let text = sql.split(" -- binds").next().unwrap_or("").to_owned();
                *KEYSET_SQL.lock().unwrap() = Some(text);
            }
        }
    }
}

/// A deep page of the timeline starts at its cursor in the index: SQLite's plan bounds the
/// capture-time column, rather than walking the library's index from the top to the cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_timeline_pages_seek_to_their_cursor() {
    use diesel::{Connection, RunQueryDsl};
    let _ = diesel::connection::set_default_instrumentation(|| Some(Box::new(CaptureKeysetSql)));
    let srv = TestServer::start(Backend::Sqlite).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    for n in 0..3 {
        let res = srv
            .upload(&lib, &owner, &format!("{n}.bin"), vec![n as u8; 10])
            .await;
        assert_eq!(res.status, 201);
    }
    let files = format!("/api/libraries/{lib}/files?order=taken&limit=1");
    let first = srv.get(&files, &owner).await;
    let cursor = first.json["nextCursor"].as_str().unwrap().to_owned();
    let next = srv.get(&format!("{files}&cursor={cursor}"), &owner).await;
    assert_eq!(next.status, 200);
    let sql = KEYSET_SQL
        .lock()
        .unwrap()
        .clone()
        .expect("the keyset query ran");

    #[derive(diesel::QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let db = srv.store.dir.path().join("alcoves.db");
    let mut conn = diesel::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let plan: Vec<Step> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load(&mut conn)
        .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|s| s.detail).collect();
    assert!(
        plan.iter()
            .any(|d| d.contains("files_library_taken") && d.contains("AND <expr>")),
        "{plan:?}\n{sql}"
    );
    srv.stop().await;
}

/// Each purge takes one pool connection at a time: more purges at once than the pool holds
/// all finish (a purge that held two could leave every connection waiting for a second one
/// until the pool's timeout answered 503).
async fn purges_at_once_outnumbering_the_pool_all_finish(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.database_pool_size = 2).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Purges").await;
    let mut paths = Vec::new();
    for i in 0..8 {
        let res = srv
            .upload(
                &lib,
                &owner,
                &format!("note-{i}.txt"),
                format!("note {i}").into_bytes(),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.json);
        let path = format!(
            "/api/libraries/{lib}/files/{}",
            res.json["id"].as_str().unwrap()
        );
        assert_eq!(
            srv.post(&format!("{path}/trash"), &owner, json!({}))
                .await
                .status,
            200
        );
        paths.push(path);
    }
    let started = std::time::Instant::now();
    let purges = paths
        .iter()
        .map(|path| srv.call("DELETE", path, &owner, None));
    let statuses: Vec<u16> = futures_util::future::join_all(purges)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![204; 8], "after {:?}", started.elapsed());
    for path in &paths {
        assert_eq!(srv.get(path, &owner).await.status, 404);
    }
    srv.stop().await;
}
