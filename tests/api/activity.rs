//! The activity feed groups what happened; notifications show others' actions only.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Backend, TestServer};
use crate::on_both_backends;

on_both_backends!(
    feed_groups_events_and_notifications_skip_my_own,
    websocket_pushes_to_members_only
);

fn kinds(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["count"].as_u64().unwrap_or(1),
            )
        })
        .collect()
}

async fn feed_groups_events_and_notifications_skip_my_own(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Family").await;
    let token = srv.invite(&lib, &owner, "viewer").await;
    let (viewer, _) = srv.register("victor", Some(&token)).await;
    srv.call(
        "PATCH",
        "/api/admin/settings",
        &owner,
        Some(json!({ "registrationMode": "open" })),
    )
    .await;
    let (outsider, _) = srv.register("oscar", None).await;

    for i in 0..3 {
        srv.upload(
            &lib,
            &owner,
            &format!("p{i}.txt"),
            format!("photo {i}").into_bytes(),
        )
        .await;
    }
    srv.post(
        &format!("/api/libraries/{lib}/folders"),
        &owner,
        json!({ "name": "2026" }),
    )
    .await;
    // Wait for the three files to finish processing.
    let feed_path = format!("/api/libraries/{lib}/feed");
    let mut feed = Value::Null;
    for _ in 0..100 {
        feed = srv.get(&feed_path, &viewer).await.json;
        if kinds(&feed["items"]).contains(&("system.processing_done".into(), 3)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = kinds(&feed["items"]);
    assert!(
        items.contains(&("file.uploaded".into(), 3)),
        "three uploads grouped: {items:?}"
    );
    assert!(items.contains(&("folder.created".into(), 1)), "{items:?}");
    assert!(items.contains(&("member.joined".into(), 1)), "{items:?}");
    assert!(
        items.contains(&("system.processing_done".into(), 3)),
        "{items:?}"
    );
    let uploads = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "file.uploaded")
        .unwrap();
    assert_eq!(uploads["subjects"].as_array().unwrap().len(), 3);

    // The viewer is told about the owner's actions, not about joining themselves.
    let mine = srv.get("/api/notifications", &viewer).await.json;
    let kinds_seen: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds_seen.contains(&"file.uploaded") && !kinds_seen.contains(&"member.joined"),
        "{kinds_seen:?}"
    );
    let unread = mine["unread"].as_u64().unwrap();
    let first = mine["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        srv.post(
            &format!("/api/notifications/{first}/dismiss"),
            &viewer,
            json!({})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        srv.get("/api/notifications", &viewer).await.json["unread"]
            .as_u64()
            .unwrap(),
        unread - 1
    );

    // The owner is told the viewer joined, and nothing of their own.
    let owners = srv.get("/api/notifications", &owner).await.json;
    let owner_kinds: Vec<&str> = owners["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        owner_kinds.contains(&"member.joined") && !owner_kinds.contains(&"file.uploaded"),
        "{owner_kinds:?}"
    );

    // Outsiders see none of it and cannot touch it.
    assert_eq!(
        srv.get("/api/notifications", &outsider).await.json["unread"],
        0
    );
    assert_eq!(
        srv.post(
            &format!("/api/notifications/{first}/dismiss"),
            &outsider,
            json!({})
        )
        .await
        .status,
        404
    );

    // Clearing empties the list until something new happens.
    assert_eq!(
        srv.post("/api/notifications/clear", &viewer, json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        srv.get("/api/notifications", &viewer).await.json["unread"],
        0
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let file = srv
        .upload(&lib, &owner, "later.txt", b"later".to_vec())
        .await;
    srv.post(
        &format!(
            "/api/libraries/{lib}/files/{}/trash",
            file.json["id"].as_str().unwrap()
        ),
        &owner,
        json!({}),
    )
    .await;
    let after = srv.get("/api/notifications", &viewer).await.json;
    let after_kinds: Vec<&str> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        after_kinds.contains(&"file.uploaded") && after_kinds.contains(&"file.trashed"),
        "{after_kinds:?}"
    );
    srv.stop().await;
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(srv: &TestServer, cookie: &str) -> Socket {
    let mut request = format!("{}/api/ws", srv.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects")
        .0
}

/// The next message of `kind` (`activity`, `job`, or `any`) pushed within `wait`, if any.
async fn next_message(socket: &mut Socket, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if kind == "any" || message["type"] == kind {
                    return Some(message);
                }
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

async fn websocket_pushes_to_members_only(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Live").await;
    let token = srv.invite(&lib, &owner, "viewer").await;
    let (member, _) = srv.register("victor", Some(&token)).await;
    srv.call(
        "PATCH",
        "/api/admin/settings",
        &owner,
        Some(json!({ "registrationMode": "open" })),
    )
    .await;
    let (outsider, _) = srv.register("oscar", None).await;

    // Without a session there is no socket.
    let anonymous = format!("{}/api/ws", srv.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    assert!(tokio_tungstenite::connect_async(anonymous).await.is_err());

    let mut member_ws = connect(&srv, &member).await;
    let mut outsider_ws = connect(&srv, &outsider).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    srv.upload(
        &lib,
        &owner,
        "live.jpg",
        std::fs::read(crate::files::testdata("dog.jpg")).unwrap(),
    )
    .await;
    let event = next_message(&mut member_ws, "activity", Duration::from_secs(1))
        .await
        .expect("member hears the upload within a second");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(event["activity"]["kind"], "file.uploaded");
    assert_eq!(event["activity"]["subjectName"], "live.jpg");
    let file = event["activity"]["subjectId"].as_str().unwrap().to_owned();
    // Then each job of the file as it changes, up to its thumbnails being done.
    let mut seen = Vec::new();
    while !seen.contains(&("thumbnails".to_owned(), "done".to_owned())) {
        let message = next_message(&mut member_ws, "job", Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("job changes stopped after {seen:?}"));
        assert_eq!(message["libraryId"], lib.as_str());
        assert_eq!(message["job"]["fileId"], file.as_str());
        let change = (
            message["job"]["kind"].as_str().unwrap().to_owned(),
            message["job"]["status"].as_str().unwrap().to_owned(),
        );
        assert!(
            !seen.contains(&change) || change.1 == "processing",
            "{change:?} pushed twice: {seen:?}"
        );
        seen.push(change);
    }
    assert!(
        seen.contains(&("metadata".to_owned(), "done".to_owned())),
        "{seen:?}"
    );
    assert!(
        next_message(&mut outsider_ws, "any", Duration::from_millis(1500))
            .await
            .is_none(),
        "outsiders hear nothing"
    );
    srv.stop().await;
}
