//! Walks every route in the route table as anonymous, instance owner, non-member, viewer, admin,
//! library owner and a share link's recipient (who holds an unlocked share's cookie and token),
//! and checks each gets what the route's access rule promises; the recipient gets what an
//! anonymous caller gets everywhere but on their own share. A new route is walked
//! automatically, so one cannot slip in unchecked.

use alcoves::http::routes::{AccessRule, ROUTES, RouteInfo, fill_template};
use alcoves::libraries::Role;
use serde_json::{Value, json};

use crate::common::{Backend, PASSWORD, TestServer};
use crate::on_both_backends;

on_both_backends!(every_route_enforces_its_access_rule);

/// Who is calling, and their role in the route's library.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Persona {
    Anonymous,
    InstanceOwner,
    Outsider,
    Member(Role),
    /// No account: the cookie of an unlocked share of the route's library.
    ShareRecipient,
}

const PERSONAS: [Persona; 7] = [
    Persona::Anonymous,
    Persona::InstanceOwner,
    Persona::Outsider,
    Persona::Member(Role::Viewer),
    Persona::Member(Role::Admin),
    Persona::Member(Role::Owner),
    Persona::ShareRecipient,
];

struct People {
    /// Bearer credentials by persona (anonymous has none).
    auth: Vec<(Persona, String)>,
    viewer_id: String,
}

impl People {
    fn auth(&self, p: Persona) -> &str {
        self.auth
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, a)| a.as_str())
            .unwrap_or("")
    }
}

/// Ids a route's path parameters are filled with.
struct Fixture {
    library: String,
    upload: String,
    folder: String,
    invite_id: String,
    invite_token: String,
    file: String,
    person: String,
    moment: String,
    share: String,
    /// A web import of an export, waiting for its parts.
    import: String,
    /// The share's link token and the cookie that unlocked it.
    share_token: String,
    share_cookie: String,
}

/// A fresh library owned by the library owner, with the admin and viewer as members, one spare
/// invite and one file.
async fn fixture(srv: &TestServer, people: &People) -> Fixture {
    let owner = people.auth(Persona::Member(Role::Owner));
    let lib = srv.library(owner, "Matrix").await;
    for role in [Role::Admin, Role::Viewer] {
        let token = srv.invite(&lib, owner, role.as_str()).await;
        let res = srv
            .post(
                &format!("/api/invites/{token}/accept"),
                people.auth(Persona::Member(role)),
                json!({}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.json);
    }
    let spare = srv
        .post(&format!("/api/libraries/{lib}/invites"), owner, json!({}))
        .await;
    let person = {
        let mut conn = srv.app.db.conn().await.unwrap();
        alcoves::people::create_person(&mut conn, &lib)
            .await
            .unwrap()
    };
    let file = srv
        .upload(&lib, owner, "matrix.txt", b"matrix".to_vec())
        .await;
    let folder = srv
        .post(
            &format!("/api/libraries/{lib}/folders"),
            owner,
            json!({ "name": "f" }),
        )
        .await;
    let upload = srv.tus_create(&lib, owner, "matrix.bin", 4).await;
    let import = srv
        .post(&format!("/api/libraries/{lib}/imports"), owner, json!({}))
        .await;
    let file_id = file.json["id"].as_str().unwrap().to_owned();
    let moment = moment_on(srv, &lib, &file_id).await;
    srv.call(
        "PATCH",
        &format!("/api/libraries/{lib}"),
        owner,
        Some(json!({ "sharing": true })),
    )
    .await;
    let shared = srv
        .post(
            &format!("/api/libraries/{lib}/shares"),
            owner,
            json!({ "kind": "files", "fileIds": [file_id], "password": PASSWORD, "allowDownload": true }),
        )
        .await;
    assert_eq!(shared.status, 201, "{}", shared.json);
    let share_token = shared.json["token"].as_str().unwrap().to_owned();
    let unlocked = srv
        .post(
            &format!("/api/share/{share_token}/unlock"),
            "",
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(unlocked.status, 204, "{}", unlocked.json);
    Fixture {
        moment,
        share: shared.json["id"].as_str().unwrap().to_owned(),
        import: import.json["id"].as_str().unwrap().to_owned(),
        share_token,
        share_cookie: unlocked.cookie().expect("the share's cookie"),
        upload: upload.rsplit('/').next().unwrap().to_owned(),
        folder: folder.json["id"].as_str().unwrap().to_owned(),
        invite_id: spare.json["invite"]["id"].as_str().unwrap().to_owned(),
        invite_token: spare.json["token"].as_str().unwrap().to_owned(),
        file: file_id,
        person,
        library: lib,
    }
}

/// A moment on `file`, written straight to the database (the fixture file is not a video).
async fn moment_on(srv: &TestServer, library: &str, file: &str) -> String {
    use diesel_async::RunQueryDsl;
    let moment = alcoves::moments::Moment {
        id: uuid::Uuid::new_v4().to_string(),
        library_id: library.to_owned(),
        file_id: file.to_owned(),
        start_ms: 0,
        end_ms: 1000,
        title: "matrix".into(),
        description: String::new(),
        tags: "[]".into(),
        version: 1,
        clip_wanted: false,
        clip_version: None,
        clip_size: None,
        created_by: None,
        created_at: 0,
        updated_at: 0,
    };
    let mut conn = srv.app.db.conn().await.unwrap();
    alcoves::with_conn!(&mut conn, c => diesel::insert_into(alcoves::db::schema::moments::table)
        .values(&moment)
        .execute(c)
        .await)
    .unwrap();
    moment.id
}

async fn sign_up(srv: &TestServer, username: &str) -> String {
    srv.register(username, None).await;
    let token = srv.login(username, PASSWORD).await;
    let cookie = token.cookie().unwrap();
    let created = srv
        .post("/api/_auth/tokens", &cookie, json!({ "name": "matrix" }))
        .await;
    format!("Bearer {}", created.json["secret"].as_str().unwrap())
}

/// A body that parses for most routes without failing on credentials.
fn body_for(info: &RouteInfo) -> Option<Value> {
    matches!(info.method, http::Method::POST | http::Method::PATCH).then(
        || json!({ "name": "matrix", "role": "viewer", "username": "root", "password": PASSWORD }),
    )
}

async fn every_route_enforces_its_access_rule(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let root = sign_up(&srv, "root").await;
    srv.call(
        "PATCH",
        "/api/admin/settings",
        &root,
        Some(json!({ "registrationMode": "open" })),
    )
    .await;
    let people = People {
        auth: vec![
            (Persona::InstanceOwner, root),
            (Persona::Outsider, sign_up(&srv, "oscar").await),
            (Persona::Member(Role::Viewer), sign_up(&srv, "vera").await),
            (Persona::Member(Role::Admin), sign_up(&srv, "ada").await),
            (Persona::Member(Role::Owner), sign_up(&srv, "olivia").await),
        ],
        viewer_id: String::new(),
    };
    let viewer_id = srv
        .get(
            "/api/_auth/session",
            people.auth(Persona::Member(Role::Viewer)),
        )
        .await
        .json["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let people = People {
        viewer_id,
        ..people
    };

    let mut checked = 0;
    for info in ROUTES {
        for persona in PERSONAS {
            // Every check gets fresh ids, so destructive routes cannot spoil the next check.
            let fx = fixture(&srv, &people).await;
            let path = fill_template(info, |name, _| match name {
                "library" => fx.library.clone(),
                "user" => people.viewer_id.clone(),
                "invite" => fx.invite_id.clone(),
                "file" => fx.file.clone(),
                "folder" => fx.folder.clone(),
                "upload" => fx.upload.clone(),
                "kind" => "metadata".to_owned(),
                "person" => fx.person.clone(),
                "stage" => "transcribe".to_owned(),
                "size" | "name" => "preview".to_owned(),
                "moment" => fx.moment.clone(),
                "share" => fx.share.clone(),
                "import" => fx.import.clone(),
                "day" => "2024-05-06".to_owned(),
                "token" if info.path.starts_with("/api/invites") => fx.invite_token.clone(),
                "token"
                    if info.path.starts_with("/api/share/")
                        && persona == Persona::ShareRecipient =>
                {
                    fx.share_token.clone()
                }
                _ => uuid::Uuid::new_v4().to_string(),
            });
            let who = match persona {
                Persona::ShareRecipient => fx.share_cookie.as_str(),
                _ => people.auth(persona),
            };
            let res = srv
                .call(info.method.as_str(), &path, who, body_for(info))
                .await;
            let what = format!(
                "{} {} as {persona:?} -> {} {}",
                info.method, path, res.status, res.json
            );
            assert!(res.status < 500, "{what}");
            assert!(
                res.json.is_null() || res.json.is_object() || res.json.is_array(),
                "{what}"
            );
            // A member may get 404 `not_ready` (a thumbnail not made yet), never `not_found`.
            let denied = |s: u16| matches!(s, 401 | 403) || (s == 404 && res.code() == "not_found");
            let granted = |s: u16| !denied(s);
            let own_share = info.path.starts_with("/api/share/");
            match (info.access, persona) {
                // On their own share the recipient is let in (the share is unlocked).
                (AccessRule::Public, Persona::ShareRecipient) if own_share => {
                    assert_ne!(res.status, 401, "{what}")
                }
                (AccessRule::Public, _) => assert!(!matches!(res.status, 401 | 403), "{what}"),
                (_, Persona::Anonymous | Persona::ShareRecipient) => {
                    assert_eq!(res.status, 401, "{what}")
                }
                // Personas call with access tokens, which may not mint tokens or change the
                // password.
                (AccessRule::Session, _)
                    if matches!(info.name, "CreateToken" | "ChangePassword") =>
                {
                    assert_eq!(
                        (res.status, res.code()),
                        (403, "session_required"),
                        "{what}"
                    )
                }
                (AccessRule::Session, _) => assert!(!matches!(res.status, 401 | 403), "{what}"),
                (AccessRule::InstanceOwner, Persona::InstanceOwner) => {
                    assert!(granted(res.status), "{what}")
                }
                (AccessRule::InstanceOwner, _) => assert_eq!(res.status, 403, "{what}"),
                (AccessRule::Library(_), Persona::InstanceOwner | Persona::Outsider) => {
                    // HEAD responses carry no body to hold the error code.
                    let code = if info.method == http::Method::HEAD {
                        "not_found"
                    } else {
                        res.code()
                    };
                    assert_eq!((res.status, code), (404, "not_found"), "{what}")
                }
                (AccessRule::Library(min), Persona::Member(role)) if role >= min => {
                    assert!(granted(res.status), "{what}")
                }
                (AccessRule::Library(_), Persona::Member(_)) => {
                    assert_eq!(res.status, 403, "{what}")
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * PERSONAS.len());
    srv.stop().await;
}
