//! The OpenAPI 3 document, generated from the route table so it cannot drift from the router.

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::bodies::{Changed, FileSelection, Items, Page, Queued};
use super::libraries;
use super::{activity, admin, archive, auth, files, findings, folders, imports, invites, jobs};
use super::{media, people, shared, shares, system, timeline};
use crate::accounts::UserView;
use crate::activity::FeedEntry;
use crate::app::VERSION;
use crate::files::FileView;
use crate::findings::LabelCount;
use crate::folders::Folder;
use crate::http::response::ErrorBody;
use crate::http::routes::{AccessRule, ROUTES, RouteInfo};
use crate::jobs::store::JobState;
use crate::libraries::LibraryView;
use crate::libraries::invites::Invite;
use crate::libraries::members::MemberView;
use crate::media::waveform::Waveform;
use crate::ml::objects::Label;
use crate::moments::{Fields as MomentFields, MomentView};
use crate::people::{FaceView, PersonChange, PersonView};
use crate::sessions::ApiToken;

/// `GET /api/openapi.json`.
pub fn serve() -> crate::http::error::ApiResult<http::Response<crate::http::response::Body>> {
    Ok(crate::http::response::ok(&document()))
}

/// The document served at `/api/openapi.json`.
pub fn document() -> Value {
    let mut schemas = Generators {
        // A `null` default (a field that may be left out or set to null) says nothing a
        // nullable optional field does not, and typed clients would take it as required.
        requests: SchemaSettings::openapi3()
            .for_deserialize()
            .with_transform(RecursiveTransform(|s: &mut Schema| {
                if s.get("default").is_some_and(Value::is_null) {
                    s.remove("default");
                }
            }))
            .into_generator(),
        responses: SchemaSettings::openapi3().for_serialize().into_generator(),
    };
    let mut paths = Map::new();
    for info in ROUTES {
        let item = paths.entry(info.path).or_insert_with(|| json!({}));
        item[info.method.as_str().to_ascii_lowercase()] = operation(info, &mut schemas);
    }
    // A type in both (an enum such as `Role`) has the same schema either way.
    let mut components = schemas.requests.take_definitions(true);
    components.extend(schemas.responses.take_definitions(true));
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

/// Schemas of what the server reads (fields with defaults are optional) and of what it writes
/// (every field it always sends is required, `null` or not).
struct Generators {
    requests: SchemaGenerator,
    responses: SchemaGenerator,
}

/// A route's JSON request and response bodies, by operation name. Routes that take no JSON
/// body (or a multipart, tus or free-form one) have no request schema; routes that answer with
/// no body or with media, a stream or a ZIP have no response schema.
fn bodies(name: &str, g: &mut Generators) -> (Option<Schema>, Option<Schema>) {
    fn req<T: JsonSchema>(g: &mut Generators) -> Option<Schema> {
        Some(g.requests.subschema_for::<T>())
    }
    fn res<T: JsonSchema>(g: &mut Generators) -> Option<Schema> {
        Some(g.responses.subschema_for::<T>())
    }
    match name {
        "Health" => (None, res::<system::Health>(g)),
        "Version" => (None, res::<system::Version>(g)),
        "AuthConfig" => (None, res::<auth::AuthConfig>(g)),
        "Register" => (req::<auth::RegisterBody>(g), res::<auth::SignedIn>(g)),
        "Login" => (req::<auth::LoginBody>(g), res::<auth::SignedIn>(g)),
        "GetSession" => (None, res::<auth::SignedIn>(g)),
        "ListSessions" => (None, res::<Vec<auth::SessionItem>>(g)),
        "ChangePassword" => (
            req::<auth::ChangePasswordBody>(g),
            res::<auth::PasswordChanged>(g),
        ),
        "UpdateProfile" => (req::<auth::ProfileChange>(g), res::<UserView>(g)),
        "ListTokens" => (None, res::<Vec<ApiToken>>(g)),
        "CreateToken" => (
            req::<auth::CreateTokenBody>(g),
            res::<auth::CreatedToken>(g),
        ),
        "GetInvite" => (None, res::<invites::InvitePreview>(g)),
        "ListNotifications" => (None, res::<activity::Notifications>(g)),
        "ListLibraries" => (None, res::<Vec<LibraryView>>(g)),
        "CreateLibrary" => (req::<libraries::CreateBody>(g), res::<LibraryView>(g)),
        "AcceptInvite" | "GetLibrary" => (None, res::<LibraryView>(g)),
        "UpdateLibrary" => (req::<libraries::UpdateBody>(g), res::<LibraryView>(g)),
        "ListMembers" => (None, res::<Vec<MemberView>>(g)),
        "UpdateMember" => (
            req::<libraries::UpdateMemberBody>(g),
            res::<Vec<MemberView>>(g),
        ),
        "ListInvites" => (None, res::<Vec<Invite>>(g)),
        "CreateInvite" => (
            req::<invites::CreateBody>(g),
            res::<invites::CreatedInvite>(g),
        ),
        "ListFiles" => (None, res::<Page<FileView>>(g)),
        "TimelineBuckets" => (None, res::<timeline::Buckets>(g)),
        "Search" => (None, res::<Page<crate::search::find::Found>>(g)),
        "Memories" => (None, res::<timeline::Memories>(g)),
        "Map" => (None, res::<super::map::MapView>(g)),
        "TimelineBucket" => (None, res::<Items<crate::files::timeline::Item>>(g)),
        "CreateImport" | "UploadImportPart" | "StartImport" | "GetImport" => {
            (None, res::<imports::ImportView>(g))
        }
        "UploadFile" | "GetFile" | "TrashFile" | "RestoreFile" | "ReprocessFileStage" => {
            (None, res::<FileView>(g))
        }
        "TrashFiles" | "RestoreFiles" | "PurgeFiles" => {
            (req::<FileSelection>(g), res::<Changed>(g))
        }
        "ReprocessFile" => (req::<files::ReprocessBody>(g), res::<FileView>(g)),
        "ReprocessLibrary" | "ReprocessAll" => (req::<files::ReprocessBody>(g), res::<Queued>(g)),
        "ReprocessLibraryStage" => (None, res::<Queued>(g)),
        "PlaybackSources" => (None, res::<media::PlaybackSources>(g)),
        "Waveform" => (None, res::<Waveform>(g)),
        "ListDuplicates" => (None, res::<Vec<files::DuplicateGroup>>(g)),
        "ListPeople" => (None, res::<Items<PersonView>>(g)),
        "UpdatePerson" => (req::<PersonChange>(g), res::<PersonView>(g)),
        "MergePeople" => (req::<people::MergeBody>(g), res::<PersonView>(g)),
        "SplitPerson" => (req::<people::SplitBody>(g), res::<PersonView>(g)),
        "Recluster" => (None, res::<people::Reclustered>(g)),
        "FileFaces" => (None, res::<Items<FaceView>>(g)),
        "ListLabels" => (None, res::<Items<LabelCount>>(g)),
        "FileLabels" => (None, res::<Items<Label>>(g)),
        "FileAudioEvents" => (None, res::<findings::SoundEvents>(g)),
        "Transcript" => (None, res::<findings::TranscriptView>(g)),
        "LibraryFeed" => (None, res::<Page<FeedEntry>>(g)),
        "ZipEstimate" => (req::<FileSelection>(g), res::<archive::ZipEstimate>(g)),
        "ZipDownload" => (req::<FileSelection>(g), None),
        "ListFolders" => (None, res::<Vec<Folder>>(g)),
        "GetFolder" => (None, res::<folders::FolderDetail>(g)),
        "CreateFolder" => (req::<folders::CreateBody>(g), res::<Folder>(g)),
        "TrashFolder" | "RestoreFolder" => (None, res::<Folder>(g)),
        // `{name?, folderId?}` / `{name?, parentId?}`, read as free-form JSON so that an explicit
        // `null` (to the root) differs from leaving the field out.
        "UpdateFile" => (req::<Map<String, Value>>(g), res::<FileView>(g)),
        "UpdateFolder" => (req::<Map<String, Value>>(g), res::<Folder>(g)),
        "JobCounts" => (None, res::<Vec<jobs::JobCount>>(g)),
        "FailedJobs" => (None, res::<Vec<JobState>>(g)),
        "PurgeFailedJobs" => (None, res::<jobs::Removed>(g)),
        "ListUsers" => (None, res::<Vec<UserView>>(g)),
        "GetInstanceSettings" => (None, res::<admin::InstanceSettings>(g)),
        "UpdateInstanceSettings" => (
            req::<admin::UpdateBody>(g),
            res::<admin::InstanceSettings>(g),
        ),
        "ListFileMoments" => (None, res::<Items<MomentView>>(g)),
        "ListMoments" => (None, res::<Page<MomentView>>(g)),
        "CreateMoment" | "UpdateMoment" => (req::<MomentFields>(g), res::<MomentView>(g)),
        "GetMoment" | "ExportMoment" => (None, res::<MomentView>(g)),
        "ListShares" => (None, res::<Items<shares::ShareView>>(g)),
        "CreateShare" => (req::<shares::CreateBody>(g), res::<shares::ShareView>(g)),
        "GetShare" => (None, res::<shares::ShareView>(g)),
        "UpdateShare" => (req::<shares::OptionsBody>(g), res::<shares::ShareView>(g)),
        "SharedLink" => (None, res::<shared::SharedView>(g)),
        "UnlockShare" => (req::<shared::UnlockBody>(g), None),
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
                || json!({ "type": "string", "enum": crate::files::MediaKind::ALL.map(|k| k.as_str()) }),
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
        "Search" => &[
            (
                "q",
                string,
                "words, \"phrases\" and `key:value` filters (`person:\"Anna\" label:dog after:2024-05`)",
            ),
            (
                "person",
                string,
                "only files showing this person (several: all)",
            ),
            ("label", string, "only files carrying this label"),
            ("sound", string, "only files where this sound is heard"),
            ("word", string, "only recordings where this is said"),
            (
                "within",
                string,
                "`5s`: sounds and words said this close together",
            ),
            ("camera", string, "make, model or lens"),
            ("folder", string, "a folder path, with its subfolders"),
            ("kind", string, "photo, video, audio or other"),
            (
                "after",
                string,
                "taken on or after `YYYY`, `YYYY-MM` or `YYYY-MM-DD`",
            ),
            (
                "before",
                string,
                "taken on or before that year, month or day",
            ),
            ("has", string, "`faces` or `transcript`"),
            ("is", string, "`duplicate`"),
            (
                "bbox",
                string,
                "taken inside west,south,east,north (degrees)",
            ),
            ("tz", integer, "the client's offset from UTC in minutes"),
            ("limit", integer, "page size, 1 to 500 (100)"),
            ("cursor", string, "`nextCursor` of the previous page"),
        ],
        "TimelineBuckets" | "TimelineBucket" => &[
            ("tz", integer, "the client's offset from UTC in minutes"),
            (
                "size",
                string,
                "`day` (the default) or `month` buckets (the bucket list only)",
            ),
            ("kind", string, "only files of this kind"),
            ("folder", string, "only files directly in this folder"),
            ("person", string, "only files showing this person"),
            ("label", string, "only files carrying this label"),
            (
                "q",
                string,
                "text in names, labels, people, sound events or transcripts",
            ),
        ],
        "Map" => &[
            (
                "bbox",
                string,
                "west,south,east,north in degrees (the whole world by default)",
            ),
            ("zoom", integer, "the map's zoom level, 0 to 22 (0)"),
        ],
        "Memories" => &[
            ("tz", integer, "the client's offset from UTC in minutes"),
            ("day", string, "`YYYY-MM-DD` instead of today"),
        ],
        "LibraryFeed" | "ListMoments" => &[("cursor", string, "`nextCursor` of the previous page")],
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

fn operation(info: &RouteInfo, schemas: &mut Generators) -> Value {
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
    let error_body = schemas.responses.subschema_for::<ErrorBody>();
    let error = json!({ "description": "error", "content": { "application/json": { "schema": error_body } } });
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
        "DeleteMoment",
        "MomentClip",
        "RevokeShare",
        "UnlockShare",
        "SharedThumbnail",
        "SharedPlayback",
        "SharedOriginal",
        "SharedClip",
        "SharedZip",
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
