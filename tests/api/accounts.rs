//! Registration, login, sessions, tokens, password changes and throttling.

use serde_json::{Value, json};

use crate::common::{Backend, PASSWORD, TestServer};
use crate::on_both_backends;

on_both_backends!(
    first_user_is_owner_and_registration_modes_apply,
    logout_and_tampered_cookies_are_rejected,
    password_change_revokes_other_sessions,
    access_tokens_work_until_revoked,
    repeated_failed_logins_are_throttled,
);

async fn first_user_is_owner_and_registration_modes_apply(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let config = srv.get("/api/_auth/config", "").await;
    assert_eq!(
        config.json,
        json!({ "needsSetup": true, "registrationMode": "invite_only" })
    );

    let (owner, _) = srv.register("Olivia", None).await;
    let me = srv.get("/api/_auth/session", &owner).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["user"]["username"], "olivia");
    assert_eq!(me.json["user"]["isOwner"], true);
    assert_eq!(
        srv.get("/api/_auth/config", "").await.json["needsSetup"],
        false
    );

    // The personal library exists from the start and belongs to the new user.
    let libs = srv.get("/api/libraries", &owner).await;
    assert_eq!(libs.json.as_array().unwrap().len(), 1);
    assert_eq!(libs.json[0]["isPersonal"], true);
    assert_eq!(libs.json[0]["role"], "owner");

    // invite_only (the default): no token, no account.
    let body = json!({ "username": "mallory", "password": PASSWORD });
    let res = srv.try_register(body.clone()).await;
    assert_eq!((res.status, res.code()), (403, "invite_required"));
    let res = srv
        .try_register(json!({ "username": "mallory", "password": PASSWORD, "inviteToken": "nope" }))
        .await;
    assert_eq!(res.status, 404);

    let set = |mode: &str| json!({ "registrationMode": mode });
    let res = srv
        .call("PATCH", "/api/admin/settings", &owner, Some(set("closed")))
        .await;
    assert_eq!(res.json["registrationMode"], "closed");
    let res = srv.try_register(body.clone()).await;
    assert_eq!((res.status, res.code()), (403, "registration_closed"));

    srv.call("PATCH", "/api/admin/settings", &owner, Some(set("open")))
        .await;
    let (second, _) = srv.register("mallory", None).await;
    let me = srv.get("/api/_auth/session", &second).await;
    assert_eq!(me.json["user"]["isOwner"], false);
    let res = srv.try_register(body).await;
    assert_eq!((res.status, res.code()), (409, "username_taken"));
    assert_eq!(srv.get("/api/admin/users", &second).await.status, 403);
    assert_eq!(
        srv.get("/api/admin/users", &owner)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Weak passwords and bad usernames are refused with a reason.
    let res = srv
        .try_register(json!({ "username": "x y", "password": PASSWORD }))
        .await;
    assert_eq!(res.status, 400);
    let res = srv
        .try_register(json!({ "username": "short", "password": "1234" }))
        .await;
    assert_eq!(res.status, 400);
    srv.stop().await;
}

async fn logout_and_tampered_cookies_are_rejected(backend: Backend) {
    let srv = TestServer::start(backend).await;
    srv.register("olivia", None).await;
    let login = srv.login("OLIVIA", PASSWORD).await;
    assert_eq!(login.status, 200);
    let set_cookie = login.headers["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain-http public URL must not set Secure"
    );
    let cookie = login.cookie().unwrap();
    assert_eq!(srv.get("/api/_auth/session", &cookie).await.status, 200);

    // Flip one character of the encrypted value: AES-GCM authentication must fail.
    let (name, value) = cookie.split_once('=').unwrap();
    let mut chars: Vec<char> = value.chars().collect();
    chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{name}={}", chars.into_iter().collect::<String>());
    let res = srv.get("/api/_auth/session", &tampered).await;
    assert_eq!((res.status, res.code()), (401, "unauthorized"));
    assert_eq!(
        srv.get("/api/_auth/session", "alcoves-session=forged")
            .await
            .status,
        401
    );

    let wrong = srv.login("olivia", "wrong password").await;
    assert_eq!((wrong.status, wrong.code()), (401, "bad_credentials"));
    let unknown = srv.login("nobody", "wrong password").await;
    assert_eq!((unknown.status, unknown.code()), (401, "bad_credentials"));

    let out = srv.post("/api/_auth/logout", &cookie, json!({})).await;
    assert_eq!(out.status, 204);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie is still authentic, but its session is gone.
    assert_eq!(srv.get("/api/_auth/session", &cookie).await.status, 401);
    assert_eq!(srv.get("/api/libraries", &cookie).await.status, 401);
    srv.stop().await;
}

async fn password_change_revokes_other_sessions(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (first, _) = srv.register("olivia", None).await;
    let login = |password| srv.login("olivia", password);
    let second = login(PASSWORD).await.cookie().unwrap();
    let sessions = srv.get("/api/_auth/sessions", &first).await;
    assert_eq!(sessions.json.as_array().unwrap().len(), 2);
    assert_eq!(
        sessions
            .json
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["current"] == true)
            .count(),
        1
    );

    let bad = srv
        .post(
            "/api/_auth/password",
            &first,
            json!({ "currentPassword": "not it at all", "newPassword": "a brand new one" }),
        )
        .await;
    assert_eq!(bad.status, 401);
    let ok = srv
        .post(
            "/api/_auth/password",
            &first,
            json!({ "currentPassword": PASSWORD, "newPassword": "a brand new one" }),
        )
        .await;
    assert_eq!((ok.status, &ok.json["tokensRevoked"]), (200, &json!(0)));
    assert_eq!(srv.get("/api/_auth/session", &first).await.status, 200);
    assert_eq!(srv.get("/api/_auth/session", &second).await.status, 401);
    assert_eq!(login(PASSWORD).await.status, 401);
    assert_eq!(login("a brand new one").await.status, 200);

    // Revoking a session by id signs that session out.
    let third = login("a brand new one").await;
    let id = third.json["session"]["id"].as_str().unwrap().to_owned();
    let res = srv
        .call("DELETE", &format!("/api/_auth/sessions/{id}"), &first, None)
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(
        srv.get("/api/_auth/session", &third.cookie().unwrap())
            .await
            .status,
        401
    );
    let res = srv
        .call("DELETE", &format!("/api/_auth/sessions/{id}"), &first, None)
        .await;
    assert_eq!(res.status, 404);

    // The display name changes; an empty one falls back to the username.
    let me = |body: Value| srv.call("PATCH", "/api/_auth/me", &first, Some(body));
    let renamed = me(json!({ "displayName": "  Olivia O.  " })).await;
    assert_eq!(
        (renamed.status, &renamed.json["displayName"]),
        (200, &json!("Olivia O."))
    );
    let session = srv.get("/api/_auth/session", &first).await;
    assert_eq!(session.json["user"]["displayName"], "Olivia O.");
    assert_eq!(
        me(json!({ "displayName": "" })).await.json["displayName"],
        "olivia"
    );
    assert_eq!(
        me(json!({ "displayName": "x".repeat(500) })).await.status,
        400
    );
    assert_eq!(me(json!({ "name": "x" })).await.status, 400);
    let anonymous = srv.call(
        "PATCH",
        "/api/_auth/me",
        "",
        Some(json!({ "displayName": "x" })),
    );
    assert_eq!(anonymous.await.status, 401);
    srv.stop().await;
}

async fn access_tokens_work_until_revoked(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (cookie, _) = srv.register("olivia", None).await;
    let created = srv
        .post(
            "/api/_auth/tokens",
            &cookie,
            json!({ "name": "backup script" }),
        )
        .await;
    assert_eq!(created.status, 201);
    let secret = created.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("alc_") && secret.len() >= 40, "{secret}");
    let bearer = format!("Bearer {secret}");
    let me = srv.get("/api/_auth/session", &bearer).await;
    assert_eq!((me.status, me.json["via"].as_str()), (200, Some("token")));
    assert_eq!(srv.get("/api/libraries", &bearer).await.status, 200);
    let list = srv.get("/api/_auth/tokens", &cookie).await;
    assert_eq!(list.json[0]["name"], "backup script");
    assert!(
        list.json[0].get("tokenHash").is_none(),
        "the hash must not leak"
    );

    assert_eq!(
        srv.get("/api/libraries", "Bearer alc_wrong").await.status,
        401
    );
    let id = created.json["token"]["id"].as_str().unwrap();
    assert_eq!(
        srv.call("DELETE", &format!("/api/_auth/tokens/{id}"), &cookie, None)
            .await
            .status,
        204
    );
    assert_eq!(srv.get("/api/libraries", &bearer).await.status, 401);
    srv.stop().await;
}

async fn repeated_failed_logins_are_throttled(backend: Backend) {
    let srv = TestServer::start(backend).await;
    srv.register("olivia", None).await;
    for _ in 0..5 {
        let res = srv.login("olivia", "guess guess").await;
        assert_eq!(res.status, 401);
    }
    // Even the right password is refused while the account is throttled.
    let res = srv.login("olivia", PASSWORD).await;
    assert_eq!((res.status, res.code()), (429, "too_many_requests"));
    assert!(res.headers.get("retry-after").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = srv.login("olivia", PASSWORD).await;
    assert_eq!(res.status, 200);
    srv.stop().await;
}
