//! Libraries, members and invites, end to end.

use serde_json::json;

use crate::common::{Backend, TestServer};
use crate::on_both_backends;

on_both_backends!(
    invited_viewer_reads_but_cannot_write_and_outsiders_see_nothing,
    roles_change_and_members_leave,
    personal_library_is_never_shared,
    invite_links_respect_uses_expiry_and_revocation,
);

async fn invited_viewer_reads_but_cannot_write_and_outsiders_see_nothing(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let created = srv
        .post(
            "/api/libraries",
            &owner,
            json!({ "name": "Family", "emoji": "🏡" }),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json["role"], "owner");
    assert_eq!(created.json["emoji"], "🏡");
    let lib = created.json["id"].as_str().unwrap().to_owned();

    let invite = srv
        .post(&format!("/api/libraries/{lib}/invites"), &owner, json!({}))
        .await;
    assert_eq!(invite.status, 201);
    let token = invite.json["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 22, "128+ bits of randomness: {token}");
    let preview = srv.get(&format!("/api/invites/{token}"), "").await;
    assert_eq!(preview.json["libraryName"], "Family");
    assert_eq!(preview.json["role"], "viewer");

    // A new person registers through the invite (registration is invite-only by default).
    let (viewer, _) = srv.register("victor", Some(&token)).await;
    let libs = srv.get("/api/libraries", &viewer).await;
    let family = libs
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == lib.as_str())
        .expect("joined");
    assert_eq!(family["role"], "viewer");

    // Viewer reads…
    assert_eq!(
        srv.get(&format!("/api/libraries/{lib}"), &viewer)
            .await
            .status,
        200
    );
    let members = srv
        .get(&format!("/api/libraries/{lib}/members"), &viewer)
        .await;
    let names: Vec<&str> = members
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["olivia", "victor"]);
    // …but cannot write.
    let res = srv
        .call(
            "PATCH",
            &format!("/api/libraries/{lib}"),
            &viewer,
            Some(json!({ "name": "Mine" })),
        )
        .await;
    assert_eq!((res.status, res.code()), (403, "forbidden"));
    assert_eq!(
        srv.post(&format!("/api/libraries/{lib}/invites"), &viewer, json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        srv.call("DELETE", &format!("/api/libraries/{lib}"), &viewer, None)
            .await
            .status,
        403
    );

    // An existing user accepts an invite while signed in.
    let mode = json!({ "registrationMode": "open" });
    srv.call("PATCH", "/api/admin/settings", &owner, Some(mode))
        .await;
    let (admin, _) = srv.register("ada", None).await;
    let admin_token = srv.invite(&lib, &owner, "admin").await;
    let accepted = srv
        .post(
            &format!("/api/invites/{admin_token}/accept"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (accepted.status, accepted.json["role"].as_str()),
        (200, Some("admin"))
    );
    let again = srv
        .post(
            &format!("/api/invites/{admin_token}/accept"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "already_member"));
    let renamed = srv
        .call(
            "PATCH",
            &format!("/api/libraries/{lib}"),
            &admin,
            Some(json!({ "name": "Family 2026", "faceRecognitionEnabled": true })),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.json["name"], "Family 2026");
    assert_eq!(renamed.json["faceRecognitionEnabled"], true);
    assert_eq!(
        renamed.json["emoji"], "🏡",
        "fields not sent stay as they were"
    );
    assert_eq!(
        srv.call("DELETE", &format!("/api/libraries/{lib}"), &admin, None)
            .await
            .status,
        403
    );

    // A signed-in non-member gets 404 for everything under the library, as if it did not exist.
    let (outsider, outsider_id) = srv.register("oscar", None).await;
    let victim = format!("/api/libraries/{lib}");
    for (method, path) in [
        ("GET", victim.clone()),
        ("PATCH", victim.clone()),
        ("DELETE", victim.clone()),
        ("GET", format!("{victim}/members")),
        ("PATCH", format!("{victim}/members/{outsider_id}")),
        ("DELETE", format!("{victim}/members/{outsider_id}")),
        ("POST", format!("{victim}/leave")),
        ("GET", format!("{victim}/invites")),
        ("POST", format!("{victim}/invites")),
        ("DELETE", format!("{victim}/invites/{outsider_id}")),
    ] {
        let res = srv
            .call(
                method,
                &path,
                &outsider,
                Some(json!({ "name": "x", "role": "admin" })),
            )
            .await;
        assert_eq!(
            (res.status, res.code()),
            (404, "not_found"),
            "{method} {path}"
        );
    }
    let missing = format!("/api/libraries/{}", uuid::Uuid::new_v4());
    assert_eq!(srv.get(&missing, &outsider).await.status, 404);
    assert!(
        !srv.get("/api/libraries", &outsider)
            .await
            .json
            .to_string()
            .contains(&lib)
    );

    // The owner deletes it; it is gone for everyone.
    assert_eq!(srv.call("DELETE", &victim, &owner, None).await.status, 204);
    assert_eq!(srv.get(&victim, &viewer).await.status, 404);
    srv.stop().await;
}

async fn roles_change_and_members_leave(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, owner_id) = srv.register("olivia", None).await;
    let lib = srv.library(&owner, "Trips").await;
    let token = srv.invite(&lib, &owner, "viewer").await;
    let (member, member_id) = srv.register("victor", Some(&token)).await;
    let path = format!("/api/libraries/{lib}");
    let member_path = format!("{path}/members/{member_id}");
    let set_role =
        |role: &'static str| srv.call("PATCH", &member_path, &owner, Some(json!({ "role": role })));

    let promote = set_role("admin").await;
    assert_eq!(promote.status, 200);
    assert_eq!(
        srv.call("PATCH", &path, &member, Some(json!({ "emoji": "✈️" })))
            .await
            .status,
        200
    );
    // Nobody touches the owner, and nobody is made owner through a role change.
    let res = srv
        .call(
            "DELETE",
            &format!("{path}/members/{owner_id}"),
            &member,
            None,
        )
        .await;
    assert_eq!((res.status, res.code()), (403, "owner_protected"));
    let res = set_role("owner").await;
    assert_eq!(res.status, 400);
    let res = set_role("emperor").await;
    assert_eq!((res.status, res.code()), (400, "invalid_json"));

    let demote = set_role("viewer").await;
    assert_eq!(demote.status, 200);
    assert_eq!(
        srv.call("PATCH", &path, &member, Some(json!({ "emoji": "x" })))
            .await
            .status,
        403
    );

    let res = srv.post(&format!("{path}/leave"), &owner, json!({})).await;
    assert_eq!((res.status, res.code()), (409, "owner_cannot_leave"));
    assert_eq!(
        srv.post(&format!("{path}/leave"), &member, json!({}))
            .await
            .status,
        204
    );
    assert_eq!(srv.get(&path, &member).await.status, 404);

    // Removing a member works the same way.
    let token = srv.invite(&lib, &owner, "viewer").await;
    assert_eq!(
        srv.post(&format!("/api/invites/{token}/accept"), &member, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call(
            "DELETE",
            &format!("{path}/members/{member_id}"),
            &owner,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(srv.get(&path, &member).await.status, 404);
    assert_eq!(
        srv.call(
            "DELETE",
            &format!("{path}/members/{member_id}"),
            &owner,
            None
        )
        .await
        .status,
        404
    );
    srv.stop().await;
}

async fn personal_library_is_never_shared(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    let personal = srv.get("/api/libraries", &owner).await.json[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/libraries/{personal}");
    let res = srv
        .post(&format!("{path}/invites"), &owner, json!({}))
        .await;
    assert_eq!((res.status, res.code()), (409, "personal_library"));
    let res = srv
        .call(
            "PATCH",
            &path,
            &owner,
            Some(json!({ "sharingEnabled": true })),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "personal_library"));
    let res = srv.call("DELETE", &path, &owner, None).await;
    assert_eq!((res.status, res.code()), (409, "personal_library"));
    // Renaming it is fine.
    let res = srv
        .call("PATCH", &path, &owner, Some(json!({ "name": "Just me" })))
        .await;
    assert_eq!(
        (res.status, res.json["name"].as_str()),
        (200, Some("Just me"))
    );
    srv.stop().await;
}

async fn invite_links_respect_uses_expiry_and_revocation(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (owner, _) = srv.register("olivia", None).await;
    srv.call(
        "PATCH",
        "/api/admin/settings",
        &owner,
        Some(json!({ "registrationMode": "open" })),
    )
    .await;
    let lib = srv.library(&owner, "Shared").await;
    let (a, _) = srv.register("anna", None).await;
    let (b, _) = srv.register("bert", None).await;
    let invites = format!("/api/libraries/{lib}/invites");

    let once = srv.post(&invites, &owner, json!({ "maxUses": 1 })).await;
    let token = once.json["token"].as_str().unwrap();
    assert_eq!(
        srv.post(&format!("/api/invites/{token}/accept"), &a, json!({}))
            .await
            .status,
        200
    );
    let res = srv
        .post(&format!("/api/invites/{token}/accept"), &b, json!({}))
        .await;
    assert_eq!((res.status, res.code()), (409, "invite_used_up"));

    let expired = srv
        .post(&invites, &owner, json!({ "expiresInHours": 0 }))
        .await;
    let token = expired.json["token"].as_str().unwrap();
    let res = srv
        .post(&format!("/api/invites/{token}/accept"), &b, json!({}))
        .await;
    assert_eq!((res.status, res.code()), (409, "invite_expired"));

    let revoked = srv.post(&invites, &owner, json!({})).await;
    let (token, id) = (
        revoked.json["token"].as_str().unwrap(),
        revoked.json["invite"]["id"].as_str().unwrap(),
    );
    assert_eq!(
        srv.call("DELETE", &format!("{invites}/{id}"), &owner, None)
            .await
            .status,
        204
    );
    assert_eq!(
        srv.post(&format!("/api/invites/{token}/accept"), &b, json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        srv.get(&format!("/api/invites/{token}"), "").await.status,
        404
    );

    let listed = srv.get(&invites, &owner).await;
    assert_eq!(listed.json.as_array().unwrap().len(), 3);
    assert_eq!(
        listed
            .json
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["uses"] == 1)
            .count(),
        1
    );
    assert!(!listed.json.to_string().contains("tokenHash"));
    assert_eq!(
        srv.post(&invites, &owner, json!({ "role": "owner" }))
            .await
            .status,
        400
    );
    assert_eq!(
        srv.post(&invites, &owner, json!({ "maxUses": 0 }))
            .await
            .status,
        400
    );
    srv.stop().await;
}
