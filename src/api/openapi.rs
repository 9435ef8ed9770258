//! The OpenAPI 3 document, generated from the route table so it cannot drift from the router.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::bodies::{Items, Page, Queued};
use super::{activity, admin, archive, auth, files, findings, folders, invites, jobs, libraries};
use super::{media, people, system};
use crate::accounts::UserView;
use crate::activity::FeedEntry;
use crate::app::VERSION;
use crate::files::FileView;
use crate::findings::{LabelCount, SoundEvent};
use crate::folders::Folder;
use crate::http::routes::{AccessRule, ROUTES, RouteInfo};
use crate::jobs::store::JobState;
use crate::libraries::LibraryView;
use crate::libraries::invites::Invite;
use crate::libraries::members::MemberView;
use crate::media::waveform::Waveform;
use crate::ml::objects::Label;
use crate::people::{FaceView, PersonChange, PersonView};
use crate::sessions::ApiToken;

/// The document served at `/api/openapi.json`.
pub fn document() -> Value {
    let mut schemas = SchemaSettings::openapi3().into_generator();
    let mut paths = Map::new();
    for info in ROUTES {
        let item = paths.entry(info.path).or_insert_with(|| json!({}));
        item[info.method.as_str().to_ascii_lowercase()] = operation(info, &mut schemas);
    }
    let mut components = schemas.take_definitions(true);
    components.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["code", "message"],
            "properties": { "code": { "type": "string" }, "message": { "type": "string" } },
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Alcoves API",
            "version": VERSION,
            "description": "Self-hosted media library. Errors are JSON {code, message}; non-members of a library get 404.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "sessionCookie": { "type": "apiKey", "in": "cookie", "name": crate::auth::cookie::SESSION_COOKIE },
                "accessToken": { "type": "http", "scheme": "bearer" },
            },
            "schemas": components,
        },
    })
}

/// A route's JSON request and response bodies, by operation name. Routes that take no JSON
/// body (or a multipart, tus or free-form one) have no request schema; routes that answer with
/// no body or with media, a stream or a ZIP have no response schema.
fn bodies(name: &str, g: &mut SchemaGenerator) -> (Option<Schema>, Option<Schema>) {
    fn of<T: JsonSchema>(g: &mut SchemaGenerator) -> Option<Schema> {
        Some(g.subschema_for::<T>())
    }
    match name {
        "Health" => (None, of::<system::Health>(g)),
        "Version" => (None, of::<system::Version>(g)),
        "AuthConfig" => (None, of::<auth::AuthConfig>(g)),
        "Register" => (of::<auth::RegisterBody>(g), of::<auth::SignedIn>(g)),
        "Login" => (of::<auth::LoginBody>(g), of::<auth::SignedIn>(g)),
        "GetSession" => (None, of::<auth::SignedIn>(g)),
        "ListSessions" => (None, of::<Vec<auth::SessionItem>>(g)),
        "ChangePassword" => (of::<auth::ChangePasswordBody>(g), None),
        "ListTokens" => (None, of::<Vec<ApiToken>>(g)),
        "CreateToken" => (of::<auth::CreateTokenBody>(g), of::<auth::CreatedToken>(g)),
        "GetInvite" => (None, of::<invites::InvitePreview>(g)),
        "ListNotifications" => (None, of::<activity::Notifications>(g)),
        "ListLibraries" => (None, of::<Vec<LibraryView>>(g)),
        "CreateLibrary" => (of::<libraries::CreateBody>(g), of::<LibraryView>(g)),
        "AcceptInvite" | "GetLibrary" => (None, of::<LibraryView>(g)),
        "UpdateLibrary" => (of::<libraries::UpdateBody>(g), of::<LibraryView>(g)),
        "ListMembers" => (None, of::<Vec<MemberView>>(g)),
        "UpdateMember" => (
            of::<libraries::UpdateMemberBody>(g),
            of::<Vec<MemberView>>(g),
        ),
        "ListInvites" => (None, of::<Vec<Invite>>(g)),
        "CreateInvite" => (
            of::<invites::CreateBody>(g),
            of::<invites::CreatedInvite>(g),
        ),
        "ListFiles" => (None, of::<Page<FileView>>(g)),
        "UploadFile" | "GetFile" | "UpdateFile" | "TrashFile" | "RestoreFile"
        | "ReprocessFileStage" => (None, of::<FileView>(g)),
        "ReprocessFile" => (of::<files::ReprocessBody>(g), of::<FileView>(g)),
        "ReprocessLibrary" | "ReprocessAll" => (of::<files::ReprocessBody>(g), of::<Queued>(g)),
        "ReprocessLibraryStage" => (None, of::<Queued>(g)),
        "PlaybackSources" => (None, of::<media::PlaybackSources>(g)),
        "Waveform" => (None, of::<Waveform>(g)),
        "ListDuplicates" => (None, of::<Vec<files::DuplicateGroup>>(g)),
        "ListPeople" => (None, of::<Items<PersonView>>(g)),
        "UpdatePerson" => (of::<PersonChange>(g), of::<PersonView>(g)),
        "MergePeople" => (of::<people::MergeBody>(g), of::<PersonView>(g)),
        "SplitPerson" => (of::<people::SplitBody>(g), of::<PersonView>(g)),
        "Recluster" => (None, of::<people::Reclustered>(g)),
        "FileFaces" => (None, of::<Items<FaceView>>(g)),
        "ListLabels" => (None, of::<Items<LabelCount>>(g)),
        "FileLabels" => (None, of::<Items<Label>>(g)),
        "FileAudioEvents" => (None, of::<Items<SoundEvent>>(g)),
        "Transcript" => (None, of::<findings::Transcript>(g)),
        "LibraryFeed" => (None, of::<Page<FeedEntry>>(g)),
        "ZipEstimate" => (of::<archive::Selection>(g), of::<archive::ZipEstimate>(g)),
        "ZipDownload" => (of::<archive::Selection>(g), None),
        "ListFolders" => (None, of::<Vec<Folder>>(g)),
        "CreateFolder" => (of::<folders::CreateBody>(g), of::<Folder>(g)),
        "UpdateFolder" | "TrashFolder" | "RestoreFolder" => (None, of::<Folder>(g)),
        "JobCounts" => (None, of::<Vec<jobs::JobCount>>(g)),
        "FailedJobs" => (None, of::<Vec<JobState>>(g)),
        "PurgeFailedJobs" => (None, of::<jobs::Removed>(g)),
        "ListUsers" => (None, of::<Vec<UserView>>(g)),
        "GetInstanceSettings" => (None, of::<admin::InstanceSettings>(g)),
        "UpdateInstanceSettings" => (of::<admin::UpdateBody>(g), of::<admin::InstanceSettings>(g)),
        _ => (None, None),
    }
}

/// The access rule as the `x-access` extension text.
pub fn access_text(rule: AccessRule) -> String {
    match rule {
        AccessRule::Public => "public".into(),
        AccessRule::Session => "session".into(),
        AccessRule::Library(role) => format!("library:{}", role.as_str()),
        AccessRule::InstanceOwner => "instance_owner".into(),
    }
}

/// A query parameter: name, schema and what it does.
type QueryParam = (&'static str, fn() -> Value, &'static str);

fn string() -> Value {
    json!({ "type": "string" })
}

fn boolean() -> Value {
    json!({ "type": "boolean" })
}

fn integer() -> Value {
    json!({ "type": "integer" })
}

/// The query parameters a route reads, by operation name.
fn query_parameters(name: &str) -> &'static [QueryParam] {
    match name {
        "ListFiles" => &[
            ("limit", integer, "page size, 1 to 1000 (100)"),
            ("cursor", string, "`nextCursor` of the previous page"),
            (
                "kind",
                || json!({ "type": "string", "enum": ["photo", "video", "audio", "other"] }),
                "only files of this kind",
            ),
            ("folder", string, "only files directly in this folder"),
            ("trashed", boolean, "list the trash instead of live files"),
            ("person", string, "only files showing this person"),
            (
                "label",
                string,
                "only files carrying this object or tag label",
            ),
            (
                "q",
                string,
                "text in names, labels, people, sound events or transcripts",
            ),
            (
                "order",
                || json!({ "type": "string", "enum": ["uploaded", "taken"] }),
                "newest uploaded (default) or newest taken first",
            ),
        ],
        "LibraryFeed" => &[("cursor", string, "`nextCursor` of the previous page")],
        "ListFolders" => &[
            (
                "parent",
                string,
                "the folder whose subfolders to list (the root by default)",
            ),
            ("trashed", boolean, "list trashed folders"),
        ],
        "ListPeople" => &[("hidden", boolean, "include hidden people")],
        "DownloadFile" => &[(
            "inline",
            boolean,
            "`Content-Disposition: inline` (to view rather than save)",
        )],
        "Transcript" => &[(
            "format",
            || json!({ "type": "string", "enum": ["json", "vtt"] }),
            "`vtt` for WebVTT",
        )],
        "ImageProxy" => &[
            ("width", integer, "largest width in pixels"),
            ("height", integer, "largest height in pixels"),
            (
                "fit",
                || json!({ "type": "string", "enum": ["cover", "contain"] }),
                "crop to the box or fit inside it",
            ),
            (
                "format",
                || json!({ "type": "string", "enum": ["jpeg", "webp"] }),
                "image format",
            ),
            ("quality", integer, "encoder quality, 1 to 100"),
        ],
        "FailedJobs" => &[("limit", integer, "most jobs listed, 1 to 1000 (100)")],
        _ => &[],
    }
}

fn operation(info: &RouteInfo, schemas: &mut SchemaGenerator) -> Value {
    let (request, response) = bodies(info.name, schemas);
    let path_parameters = info.params.iter().map(|(name, format)| {
        let mut schema = json!({ "type": "string" });
        if !format.is_empty() {
            schema["format"] = (*format).into();
        }
        json!({ "name": name, "in": "path", "required": true, "schema": schema })
    });
    let query = query_parameters(info.name).iter().map(|(name, schema, doc)| {
        json!({ "name": name, "in": "query", "required": false, "schema": schema(), "description": doc })
    });
    let parameters: Vec<Value> = path_parameters.chain(query).collect();
    let security = match info.access {
        AccessRule::Public => json!([]),
        _ => json!([{ "sessionCookie": [] }, { "accessToken": [] }]),
    };
    let error = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut op = json!({
        "operationId": info.name,
        "summary": info.summary.trim(),
        "tags": [info.tag],
        "parameters": parameters,
        "security": security,
        "x-access": access_text(info.access),
        "responses": {
            "2XX": match response {
                Some(schema) => json!({ "description": "success", "content": { "application/json": { "schema": schema } } }),
                None => json!({ "description": "success" }),
            },
            "default": error,
        },
    });
    if let Some(schema) = request {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": schema } },
        });
    }
    op
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_once_with_its_access_rule() {
        let doc = super::document();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let info = crate::http::routes::ROUTES
                    .iter()
                    .find(|r| r.name == op["operationId"])
                    .unwrap_or_else(|| panic!("{method} {path} is not in the route table"));
                assert_eq!(info.path, path);
                assert_eq!(info.method.as_str().to_ascii_lowercase(), *method);
                assert_eq!(op["x-access"], super::access_text(info.access));
            }
        }
        assert_eq!(operations, crate::http::routes::ROUTES.len());
    }

    /// Routes that answer with no body, media, a stream or a ZIP, in route-table order.
    const UNDESCRIBED: &[&str] = &[
        "OpenApi",
        "Logout",
        "RevokeSession",
        "ChangePassword",
        "RevokeToken",
        "LiveEvents",
        "DismissNotification",
        "ClearNotifications",
        "DeleteLibrary",
        "RemoveMember",
        "LeaveLibrary",
        "RevokeInvite",
        "PurgeFile",
        "DownloadFile",
        "Thumbnail",
        "Playback",
        "ImageProxy",
        "PersonThumbnail",
        "ZipDownload",
        "TusOptions",
        "TusCreate",
        "TusHead",
        "TusPatch",
        "TusDelete",
        "PurgeFolder",
        "RetryJob",
        "RemoveJob",
    ];

    #[test]
    fn every_schema_reference_resolves_and_json_answers_are_described() {
        let doc = super::document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but not defined"
            );
        }
        assert!(
            schemas.keys().all(|k| k.chars().all(char::is_alphanumeric)),
            "{:?}",
            schemas.keys()
        );
        let files = &doc["paths"]["/api/libraries/{library}/files"]["get"]["responses"]["2XX"];
        assert_eq!(
            files["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/FileViewPage"
        );
        let undescribed: Vec<&str> = crate::http::routes::ROUTES
            .iter()
            .filter(|r| {
                let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
                op["responses"]["2XX"].get("content").is_none()
            })
            .map(|r| r.name)
            .collect();
        // Only routes that answer with no body, media, a stream or a ZIP.
        assert_eq!(undescribed, UNDESCRIBED);
    }
}
