//! The activity feed groups what happened; notifications show others' actions only.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, TestServer};
use crate::on_both_backends;

on_both_backends!(feed_groups_events_and_notifications_skip_my_own);

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
