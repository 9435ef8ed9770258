//! Security hardening: each test here failed on the code before its fix.

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Backend, TempDir, TestServer};
use crate::files::testdata;
use crate::on_both_backends;

on_both_backends!(
    import_folders_never_serve_what_a_symlink_leads_to_outside,
    another_site_cannot_change_state_or_listen_with_the_cookie,
    registration_tells_nothing_about_usernames_and_is_throttled,
    failed_logins_from_one_address_do_not_lock_the_owner_out,
    sign_out_password_change_and_revocation_end_tokens_and_sockets,
    viewers_see_no_import_path_and_names_lose_bidi_controls,
    the_image_proxy_renders_few_variants_of_a_photo,
    selections_of_thousands_are_looked_up_in_a_few_queries,
    the_image_proxy_cache_stays_within_its_budget,
);

async fn import_folders_never_serve_what_a_symlink_leads_to_outside(backend: Backend) {
    let nas = TempDir::new();
    let outside = TempDir::new();
    let root = nas.path();
    let dog = std::fs::read(testdata("dog.jpg")).unwrap();
    std::fs::write(root.join("dog.jpg"), &dog).unwrap();
    std::fs::write(outside.path().join("session.secret"), b"SECRET-SECRET").unwrap();
    std::fs::create_dir_all(outside.path().join("private")).unwrap();
    std::fs::write(outside.path().join("private/other.jpg"), &dog).unwrap();
    std::os::unix::fs::symlink(outside.path().join("session.secret"), root.join("leak.jpg"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path().join("private"), root.join("leakdir")).unwrap();
    // A link that stays inside the folder is fine.
    std::os::unix::fs::symlink("dog.jpg", root.join("same-dog.jpg")).unwrap();

    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "NAS").await;
    let (_, skipped) = crate::import::bind_and_scan(&srv, &lib, root).await;
    let outside_reason = "a symlink that leads outside the import folder";
    for link in ["leak.jpg", "leakdir"] {
        assert_eq!(
            skipped.get(link).map(String::as_str),
            Some(outside_reason),
            "{skipped:?}"
        );
    }
    let listed = srv
        .get(&format!("/api/libraries/{lib}/files?limit=100"), &owner)
        .await;
    let mut names: Vec<&str> = listed.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sourcePath"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["dog.jpg", "same-dog.jpg"]);
    let dog_id = listed.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["sourcePath"] == "dog.jpg")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The file is swapped for a symlink to the secret after it was indexed.
    std::fs::remove_file(root.join("dog.jpg")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("session.secret"), root.join("dog.jpg"))
        .unwrap();
    let (status, _, body) = srv.download(&lib, &dog_id, &owner, &[]).await;
    assert!(
        matches!(status, 403 | 404),
        "status {status}: {}",
        String::from_utf8_lossy(&body)
    );
    assert!(!String::from_utf8_lossy(&body).contains("SECRET"));
    // Read directly, whatever the watcher did with the row meanwhile.
    let original = alcoves::files::original::Original::Imported {
        root: root.to_path_buf(),
        path: root.join("dog.jpg"),
    };
    let err = original
        .read(srv.app.storage.as_ref(), None)
        .await
        .err()
        .expect("a symlink is never read");
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    assert!(original.local_path(srv.app.storage.as_ref()).is_none());
    // A folder on the way swapped for a link outside is refused the same way.
    let inner = alcoves::files::original::Original::Imported {
        root: root.to_path_buf(),
        path: root.join("leakdir/other.jpg"),
    };
    let err = inner.size(srv.app.storage.as_ref()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    srv.stop().await;
}

/// The data dir the server creates, and what it writes there, are for its own account only:
/// other accounts on the NAS read no photo and no session id. Doctor warns about an open one.
#[test]
fn a_fresh_data_dir_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = TempDir::new();
    let data = parent.path().join("data");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_alcoves"))
            .args(args)
            .env("ALCOVES_DATA_DIR", &data)
            .env("ALCOVES_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("alcoves.db")), 0o600);
    let out = run(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!report.contains("WARNING"), "{report}");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report
            .lines()
            .any(|l| l.contains("WARNING") && l.contains("chmod 700")),
        "{report}"
    );
}

/// A page on another port of the NAS is the same site: its forms and scripts carry the
/// visitor's cookie. Every state change and the live socket refuse it; the web UI's own
/// requests and token clients keep working.
async fn another_site_cannot_change_state_or_listen_with_the_cookie(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    let dog = std::fs::read(testdata("dog.jpg")).unwrap();
    let file = srv.upload(&lib, &owner, "dog.jpg", dog).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let folder = srv
        .post(
            &format!("/api/libraries/{lib}/folders"),
            &owner,
            json!({ "name": "Trip" }),
        )
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = srv.invite(&lib, &owner, "viewer").await;
    let evil = format!("http://127.0.0.1:{}", crate::common::free_port());
    let routes = [
        format!("/api/libraries/{lib}/files/{file}/trash"),
        format!("/api/libraries/{lib}/files/{file}/restore"),
        format!("/api/libraries/{lib}/folders/{folder}/trash"),
        format!("/api/libraries/{lib}/folders/{folder}/restore"),
        format!("/api/libraries/{lib}/files/{file}/thumbnails/reprocess"),
        format!("/api/libraries/{lib}/people/recluster"),
        "/api/admin/jobs/purge".to_owned(),
        format!("/api/admin/jobs/thumbnails/{file}/retry"),
        format!("/api/invites/{invite}/accept"),
        format!("/api/libraries/{lib}/leave"),
        "/api/notifications/clear".to_owned(),
        "/api/_auth/logout".to_owned(),
        format!("/api/libraries/{lib}/files"),
    ];
    let post = |path: &str, headers: &[(&str, &str)]| {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", srv.base))
            .header("content-type", "text/plain")
            .body("x");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req
    };
    for path in &routes {
        // A form post from the other port, by a browser that sends Fetch Metadata…
        let res = srv
            .raw(
                post(path, &[("origin", &evil), ("sec-fetch-site", "same-site")]),
                &owner,
            )
            .await;
        assert_eq!(
            (res.status, res.code()),
            (403, "cross_site_request"),
            "{path}"
        );
        // …and by one that sends only Origin.
        let res = srv.raw(post(path, &[("origin", &evil)]), &owner).await;
        assert_eq!(
            (res.status, res.code()),
            (403, "cross_site_request"),
            "{path}"
        );
    }
    let files = srv
        .get(&format!("/api/libraries/{lib}/files?limit=100"), &owner)
        .await;
    assert_eq!(
        files.json["items"].as_array().unwrap().len(),
        1,
        "nothing was uploaded"
    );
    assert!(
        files.json["items"][0]["trashedAt"].is_null(),
        "nothing was trashed"
    );
    assert_eq!(
        srv.get("/api/_auth/session", &owner).await.status,
        200,
        "still signed in"
    );

    // The web UI's own requests pass, and so do token clients and command-line clients.
    let trash = format!("/api/libraries/{lib}/files/{file}/trash");
    let own = srv.base.clone();
    let res = srv
        .raw(
            post(
                &trash,
                &[("origin", &own), ("sec-fetch-site", "same-origin")],
            ),
            &owner,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    let restore = format!("/api/libraries/{lib}/files/{file}/restore");
    let token = srv
        .post("/api/_auth/tokens", &owner, json!({ "name": "script" }))
        .await
        .json["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = srv
        .raw(
            post(&restore, &[("origin", &evil)]),
            &format!("Bearer {token}"),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(srv.raw(post(&trash, &[]), &owner).await.status, 200);

    // The live socket: not from another site.
    let ws = |origin: &str| {
        let mut request = format!("{}/api/ws", srv.base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("cookie", owner.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    assert!(tokio_tungstenite::connect_async(ws(&evil)).await.is_err());
    assert!(tokio_tungstenite::connect_async(ws(&own)).await.is_ok());
    srv.stop().await;
}

/// With a made-up invite, a taken name and a free one get the same answer, and an address
/// that keeps trying is slowed down.
async fn registration_tells_nothing_about_usernames_and_is_throttled(backend: Backend) {
    let srv = TestServer::start(backend).await;
    srv.register("olivia", None).await;
    let attempt = |name: &str| {
        srv.try_register(json!({
            "username": name,
            "password": crate::common::PASSWORD,
            "inviteToken": "made-up-token",
        }))
    };
    let taken = attempt("olivia").await;
    let free = attempt("someone-new").await;
    assert_eq!((taken.status, taken.code()), (404, "not_found"));
    assert_eq!((free.status, free.code()), (404, "not_found"));
    let mut last = free;
    for i in 0..20 {
        last = attempt(&format!("probe{i}")).await;
        if last.status == 429 {
            break;
        }
    }
    assert_eq!(last.status, 429, "{}", last.json);
    let wait: u64 = last.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    srv.stop().await;
}

/// An attacker's failures from one address neither lock the owner out from another nor make
/// the owner wait: the throttle holds back the failing address.
async fn failed_logins_from_one_address_do_not_lock_the_owner_out(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.trust_proxy = true).await;
    srv.register("olivia", None).await;
    let login_from = |address: &'static str, password: &'static str| {
        srv.raw(
            reqwest::Client::new()
                .post(format!("{}/api/_auth/login", srv.base))
                .header("x-forwarded-for", address)
                .json(&json!({ "username": "olivia", "password": password })),
            "",
        )
    };
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(login_from("203.0.113.66", "not the password").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let owner = login_from("198.51.100.7", crate::common::PASSWORD).await;
    assert_eq!(owner.status, 200, "{}", owner.json);
    // The attacker stays held back, even with the right password.
    let attacker = login_from("203.0.113.66", crate::common::PASSWORD).await;
    assert_eq!(attacker.status, 429);
    // Behind the proxy, the client writes the left of X-Forwarded-For and the proxy appends
    // the address it saw: a made-up left entry changes nothing.
    let spoofed = login_from("10.9.9.9, 203.0.113.66", "not the password").await;
    assert_eq!(spoofed.status, 429);
    assert!(
        spoofed.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    srv.stop().await;
}

/// Opens the live socket as `who` (a cookie pair or `Bearer …`).
async fn live_socket(
    srv: &TestServer,
    who: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("{}/api/ws", srv.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    let (name, value) = match who.strip_prefix("Bearer ") {
        Some(_) => ("authorization", who.to_owned()),
        None => ("cookie", who.to_owned()),
    };
    request.headers_mut().insert(name, value.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Whether the socket is closed by the server within `wait`.
async fn closes_within(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    wait: std::time::Duration,
) -> bool {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(message))) if message.is_close() => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// A stolen token must not survive the recovery the README documents, nor entrench itself;
/// sockets end with the session or token that opened them.
async fn sign_out_password_change_and_revocation_end_tokens_and_sockets(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (first, _) = srv.register("olivia", None).await;
    let second = srv
        .login("olivia", crate::common::PASSWORD)
        .await
        .cookie()
        .unwrap();
    let token = srv
        .post("/api/_auth/tokens", &first, json!({ "name": "phone" }))
        .await
        .json["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {token}");
    assert_eq!(srv.get("/api/_auth/session", &bearer).await.status, 200);

    // A token mints no tokens and changes no password.
    let res = srv
        .post("/api/_auth/tokens", &bearer, json!({ "name": "more" }))
        .await;
    assert_eq!((res.status, res.code()), (403, "session_required"));
    let res = srv
        .post(
            "/api/_auth/password",
            &bearer,
            json!({ "currentPassword": crate::common::PASSWORD, "newPassword": "taken over!!" }),
        )
        .await;
    assert_eq!((res.status, res.code()), (403, "session_required"));

    // Signing out closes that session's socket.
    let mut second_ws = live_socket(&srv, &second).await;
    let mut token_ws = live_socket(&srv, &bearer).await;
    let wait = std::time::Duration::from_secs(5);
    assert_eq!(
        srv.post("/api/_auth/logout", &second, json!({}))
            .await
            .status,
        204
    );
    assert!(
        closes_within(&mut second_ws, wait).await,
        "the signed-out socket closes"
    );

    // A password change revokes the tokens and closes their sockets.
    let res = srv
        .post(
            "/api/_auth/password",
            &first,
            json!({ "currentPassword": crate::common::PASSWORD, "newPassword": "a brand new one" }),
        )
        .await;
    assert_eq!((res.status, &res.json["tokensRevoked"]), (200, &json!(1)));
    assert_eq!(srv.get("/api/_auth/session", &bearer).await.status, 401);
    assert!(
        closes_within(&mut token_ws, wait).await,
        "the revoked token's socket closes"
    );

    // One user's sockets are capped (at 8); a closed one frees its place.
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(live_socket(&srv, &first).await);
    }
    let mut request = format!("{}/api/ws", srv.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", first.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 429),
        other => panic!("a socket over the cap: {:?}", other.map(|_| ())),
    }
    drop(open.pop());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    open.push(live_socket(&srv, &first).await);
    drop(open);

    // Revoking a token closes its socket too.
    let token = srv
        .post("/api/_auth/tokens", &first, json!({ "name": "laptop" }))
        .await
        .json;
    let bearer = format!("Bearer {}", token["secret"].as_str().unwrap());
    let mut ws = live_socket(&srv, &bearer).await;
    let id = token["token"]["id"].as_str().unwrap();
    let res = srv
        .call("DELETE", &format!("/api/_auth/tokens/{id}"), &first, None)
        .await;
    assert_eq!(res.status, 204);
    assert!(closes_within(&mut ws, wait).await);
    srv.stop().await;
}

/// A viewer learns nothing of the NAS's layout, and a name cannot disguise its extension.
async fn viewers_see_no_import_path_and_names_lose_bidi_controls(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "NAS").await;
    let nas = TempDir::new();
    alcoves::import::bind(&srv.app, &lib, Some(nas.path()))
        .await
        .unwrap();
    let invite = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("victor", Some(&invite)).await;
    let path = format!("/api/libraries/{lib}");
    let as_owner = srv.get(&path, &owner).await;
    assert!(as_owner.json["importPath"].is_string(), "{}", as_owner.json);
    let as_viewer = srv.get(&path, &viewer).await;
    assert_eq!(as_viewer.status, 200);
    assert!(as_viewer.json["importPath"].is_null(), "{}", as_viewer.json);
    let listed = srv.get("/api/libraries", &viewer).await;
    assert!(listed.json[0]["importPath"].is_null(), "{}", listed.json);

    let res = srv
        .upload(
            &lib,
            &owner,
            "holiday\u{202E}gpj.exe",
            b"MZ not a photo".to_vec(),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.json);
    assert_eq!(res.json["name"], "holidaygpj.exe");
    srv.stop().await;
}

/// A viewer asking for every width and quality gets a handful of renders, not one each.
async fn the_image_proxy_renders_few_variants_of_a_photo(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    let dog = std::fs::read(testdata("dog.jpg")).unwrap();
    let id = srv.upload(&lib, &owner, "dog.jpg", dog).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("victor", Some(&invite)).await;
    let requests = (130..=160)
        .step_by(2)
        .zip((71..=85).cycle())
        .map(|(width, quality)| {
            format!(
                "/api/files/proxy/{lib}/{id}/preview?width={width}&quality={quality}&format=jpeg"
            )
        });
    for path in requests {
        let (status, _, _) = srv.fetch(&path, &viewer, &[]).await;
        assert_eq!(status, 200, "{path}");
    }
    let cache = srv
        .store
        .dir
        .path()
        .join(format!("storage/cache/{lib}/{id}"));
    let variants: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("img-"))
        .collect();
    assert_eq!(variants.len(), 1, "{variants:?}");
    assert!(variants[0].starts_with("img-160x") && variants[0].ends_with("-q85.jpg"));
    srv.stop().await;
}

/// Bulk trash and the ZIP estimate take thousands of ids (one lookup per id took 1.4-2.8 s for
/// 10,000); made-up, foreign and repeated ids are skipped, the rest changed.
async fn selections_of_thousands_are_looked_up_in_a_few_queries(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    let other = srv.library(&owner, "Other").await;
    let upload = |lib: String, name: &'static str| {
        let srv = &srv;
        let owner = owner.clone();
        async move {
            srv.upload(&lib, &owner, name, name.as_bytes().repeat(100))
                .await
                .json["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let kept = upload(lib.clone(), "a.bin").await;
    let trashed = upload(lib.clone(), "b.bin").await;
    let foreign = upload(other.clone(), "c.bin").await;
    srv.post(
        &format!("/api/libraries/{lib}/files/{trashed}/trash"),
        &owner,
        json!({}),
    )
    .await;
    let mut ids: Vec<String> = (0..9_000)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    ids.extend([kept.clone(), trashed.clone(), foreign.clone(), kept.clone()]);
    let started = std::time::Instant::now();
    let estimate = srv
        .post(
            &format!("/api/libraries/{lib}/zip/estimate"),
            &owner,
            json!({ "fileIds": ids }),
        )
        .await;
    assert_eq!(estimate.status, 200, "{}", estimate.json);
    assert_eq!(estimate.json["count"], 1, "{}", estimate.json);
    let res = srv
        .post(
            &format!("/api/libraries/{lib}/files/trash"),
            &owner,
            json!({ "fileIds": ids }),
        )
        .await;
    println!(
        "estimate and trash of {} ids: {:?}",
        ids.len(),
        started.elapsed()
    );
    assert_eq!(res.status, 200, "{}", res.json);
    assert_eq!(res.json["changed"], 1);
    assert_eq!(res.json["skipped"].as_array().unwrap().len(), 9_002);
    let file = srv
        .get(&format!("/api/libraries/{lib}/files/{kept}"), &owner)
        .await;
    assert!(file.json["trashedAt"].is_i64());
    let foreign_file = srv
        .get(&format!("/api/libraries/{other}/files/{foreign}"), &owner)
        .await;
    assert!(
        foreign_file.json["trashedAt"].is_null(),
        "another library is untouched"
    );
    srv.stop().await;
}

/// A noisy camera-sized JPEG: its renders are large, as real photos' are.
fn noisy_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let pixels: Vec<u8> = (0..width * height * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// The image proxy's variants stay within `ALCOVES_IMAGE_CACHE_MB`: the least recently used
/// are removed, the one just asked for is kept.
async fn the_image_proxy_cache_stays_within_its_budget(backend: Backend) {
    let srv = TestServer::start_with(backend, |c| c.image_cache_mb = 1).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Photos").await;
    let id = srv
        .upload(&lib, &owner, "noise.jpg", noisy_jpeg(2400, 1800))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cache = srv
        .store
        .dir
        .path()
        .join(format!("storage/cache/{lib}/{id}"));
    let variants = || -> Vec<(String, u64)> {
        let mut found: Vec<_> = std::fs::read_dir(&cache)
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .filter(|(n, _)| n.starts_with("img-"))
            .collect();
        found.sort();
        found
    };
    let mut sizes = Vec::new();
    for width in [384, 512, 768, 1024] {
        let path =
            format!("/api/files/proxy/{lib}/{id}/preview?width={width}&quality=95&format=jpeg");
        let (status, _, body) = srv.fetch(&path, &owner, &[]).await;
        assert_eq!(status, 200, "{path}");
        sizes.push(body.len() as u64);
        let kept = variants();
        let total: u64 = kept.iter().map(|(_, n)| n).sum();
        assert!(
            total <= 1 << 20 || kept.len() == 1,
            "{total} bytes in {kept:?} after {width}"
        );
        assert!(
            kept.iter()
                .any(|(n, _)| n.starts_with(&format!("img-{width}x"))),
            "the variant just asked for stays: {kept:?}"
        );
    }
    assert!(
        sizes.iter().sum::<u64>() > 1 << 20,
        "the renders outgrew the budget: {sizes:?}"
    );
    assert!(
        !variants().iter().any(|(n, _)| n.starts_with("img-384x")),
        "the least recently used went first: {:?}",
        variants()
    );
    srv.stop().await;
}

/// An HTTP/2 connection that sends nothing is closed after `ALCOVES_IDLE_TIMEOUT_SECS`, instead
/// of holding its socket and memory forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = TestServer::start_with(Backend::Sqlite, |c| c.idle_timeout_secs = 1).await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // HTTP/2 with prior knowledge: the connection preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    // Answer as a client does: acknowledge the server's SETTINGS and PINGs (a graceful close
    // waits for a PING round trip), until the server closes the connection.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut got = 0;
        loop {
            let mut head = [0u8; 9];
            if stream.read_exact(&mut head).await.is_err() {
                return got;
            }
            got += 1;
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            let (kind, flags) = (head[3], head[4]);
            let mut payload = vec![0u8; len];
            if stream.read_exact(&mut payload).await.is_err() {
                return got;
            }
            let ack = match (kind, flags & 1) {
                (0x4, 0) => Some([&[0, 0, 0, 0x4, 1, 0, 0, 0, 0][..], &[][..]].concat()),
                (0x6, 0) => Some([&[0, 0, 8, 0x6, 1, 0, 0, 0, 0][..], &payload[..]].concat()),
                _ => None,
            };
            if let Some(ack) = ack
                && stream.write_all(&ack).await.is_err()
            {
                return got;
            }
        }
    })
    .await;
    let got = closed.expect("the idle connection is closed");
    assert!(
        got > 0,
        "the server spoke HTTP/2 (SETTINGS, GOAWAY) before closing"
    );
    srv.stop().await;
}
