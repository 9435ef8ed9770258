//! The route table: every API endpoint as one variant of [`Route`], parsed from method + path
//! with typed parameters, and each with its access rule, declared side by side in one table.
//! The access rule is enforced in one place (`http::access`) before any handler runs.

use std::str::FromStr;

use http::Method;
use uuid::Uuid;

use super::error::ApiError;
use crate::libraries::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRule {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user (session cookie or personal access token).
    Session,
    /// A member of the route's library with at least this role; non-members get 404.
    Library(Role),
    /// The instance owner only.
    InstanceOwner,
}

/// A library id in a path: the parameter the access check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LibraryId(pub Uuid);

impl FromStr for LibraryId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(LibraryId)
    }
}

impl std::fmt::Display for LibraryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A typed path parameter: how it parses and how OpenAPI describes it.
pub trait PathParam: FromStr + Sized {
    /// OpenAPI `format` of the string (empty for a plain string).
    const FORMAT: &'static str;
    /// The library this parameter names, if it is a library id.
    fn as_library(&self) -> Option<LibraryId> {
        None
    }
}

impl PathParam for Uuid {
    const FORMAT: &'static str = "uuid";
}

impl PathParam for LibraryId {
    const FORMAT: &'static str = "uuid";
    fn as_library(&self) -> Option<LibraryId> {
        Some(*self)
    }
}

impl PathParam for String {
    const FORMAT: &'static str = "";
}

/// One row of the route table, for the router, the OpenAPI document and the access tests.
pub struct RouteInfo {
    pub name: &'static str,
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: AccessRule,
    /// Path parameters in order: (name, OpenAPI string format).
    pub params: &'static [(&'static str, &'static str)],
}

type Builder = fn(&[&str]) -> Result<Route, ApiError>;

fn parse_param<T: PathParam>(name: &str, raw: Option<&&str>) -> Result<T, ApiError> {
    let raw = raw.copied().unwrap_or_default();
    raw.parse().map_err(|_| match T::FORMAT {
        "" => ApiError::InvalidParam(format!("invalid {name}")),
        format => ApiError::InvalidParam(format!("{name} must be a {format}, got `{raw}`")),
    })
}

macro_rules! route_table {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident { $($field:ident : $fty:ty),* } = $method:ident $path:literal, $tag:literal => $rule:expr;
    )*) => {
        /// A parsed API request target: which endpoint, with its typed path parameters.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Route {
            $( $(#[doc = $doc])+ $name { $($field: $fty),* }, )*
        }

        /// Every route, in the order they are matched.
        pub static ROUTES: &[RouteInfo] = &[
            $( RouteInfo {
                name: stringify!($name),
                method: Method::$method,
                path: $path,
                summary: concat!($($doc),+),
                tag: $tag,
                access: {
                    #[allow(unused_imports)]
                    use {AccessRule::*, Role::*};
                    $rule
                },
                params: &[ $( (stringify!($field), <$fty as PathParam>::FORMAT) ),* ],
            }, )*
        ];

        #[allow(unused_mut)]
        static BUILDERS: &[Builder] = &[
            $( |caps: &[&str]| {
                let mut _it = caps.iter();
                Ok(Route::$name { $( $field: parse_param::<$fty>(stringify!($field), _it.next())? ),* })
            }, )*
        ];

        impl Route {
            /// The endpoint's name, as in the table (used in logs and as the OpenAPI operationId).
            pub fn name(&self) -> &'static str {
                match self { $( Route::$name { .. } => stringify!($name), )* }
            }

            /// The library this request targets, if any.
            pub fn library_id(&self) -> Option<LibraryId> {
                match self {
                    $( #[allow(unused_variables)] Route::$name { $($field),* } => {
                        None $( .or($field.as_library()) )*
                    } )*
                }
            }
        }
    };
}

route_table! {
    /// Health of the server and its database and queue.
    Health {} = GET "/api/health", "system" => Public;
    /// Server version.
    Version {} = GET "/api/version", "system" => Public;
    /// This OpenAPI document.
    OpenApi {} = GET "/api/openapi.json", "system" => Public;
    /// Whether first-run setup is needed and the registration mode.
    AuthConfig {} = GET "/api/_auth/config", "auth" => Public;
    /// Create an account (the first one becomes the instance owner) and sign in.
    Register {} = POST "/api/_auth/register", "auth" => Public;
    /// Sign in with username and password; sets the session cookie.
    Login {} = POST "/api/_auth/login", "auth" => Public;
    /// End the current session.
    Logout {} = POST "/api/_auth/logout", "auth" => Session;
    /// The signed-in user and session.
    GetSession {} = GET "/api/_auth/session", "auth" => Session;
    /// The signed-in user's sessions.
    ListSessions {} = GET "/api/_auth/sessions", "auth" => Session;
    /// Revoke one of the signed-in user's sessions.
    RevokeSession { session: Uuid } = DELETE "/api/_auth/sessions/{session}", "auth" => Session;
    /// Change the signed-in user's display name (`displayName`; empty for the username).
    UpdateProfile {} = PATCH "/api/_auth/me", "auth" => Session;
    /// Change the password; other sessions are revoked.
    ChangePassword {} = POST "/api/_auth/password", "auth" => Session;
    /// The signed-in user's personal access tokens.
    ListTokens {} = GET "/api/_auth/tokens", "auth" => Session;
    /// Create a personal access token (shown once).
    CreateToken {} = POST "/api/_auth/tokens", "auth" => Session;
    /// Revoke a personal access token.
    RevokeToken { token: Uuid } = DELETE "/api/_auth/tokens/{token}", "auth" => Session;
    /// What an invite link leads to (library name and role), without accepting it.
    GetInvite { token: String } = GET "/api/invites/{token}", "invites" => Public;
    /// Join the invite's library as the signed-in user.
    AcceptInvite { token: String } = POST "/api/invites/{token}/accept", "invites" => Session;
    /// WebSocket of live activity events from the user's libraries.
    LiveEvents {} = GET "/api/ws", "activity" => Session;
    /// The signed-in user's notifications: others' activity in their libraries.
    ListNotifications {} = GET "/api/notifications", "activity" => Session;
    /// Hide one notification.
    DismissNotification { activity: Uuid } = POST "/api/notifications/{activity}/dismiss", "activity" => Session;
    /// Hide every current notification.
    ClearNotifications {} = POST "/api/notifications/clear", "activity" => Session;
    /// Libraries the signed-in user is a member of.
    ListLibraries {} = GET "/api/libraries", "libraries" => Session;
    /// Create a library owned by the signed-in user.
    CreateLibrary {} = POST "/api/libraries", "libraries" => Session;
    /// One library.
    GetLibrary { library: LibraryId } = GET "/api/libraries/{library}", "libraries" => Library(Viewer);
    /// Rename a library, set its emoji or feature flags.
    UpdateLibrary { library: LibraryId } = PATCH "/api/libraries/{library}", "libraries" => Library(Admin);
    /// Delete a library and everything in it.
    DeleteLibrary { library: LibraryId } = DELETE "/api/libraries/{library}", "libraries" => Library(Owner);
    /// Members of a library with their roles.
    ListMembers { library: LibraryId } = GET "/api/libraries/{library}/members", "members" => Library(Viewer);
    /// Change a member's role.
    UpdateMember { library: LibraryId, user: Uuid } = PATCH "/api/libraries/{library}/members/{user}", "members" => Library(Admin);
    /// Remove a member from a library.
    RemoveMember { library: LibraryId, user: Uuid } = DELETE "/api/libraries/{library}/members/{user}", "members" => Library(Admin);
    /// Leave a library.
    LeaveLibrary { library: LibraryId } = POST "/api/libraries/{library}/leave", "members" => Library(Viewer);
    /// Invite links of a library.
    ListInvites { library: LibraryId } = GET "/api/libraries/{library}/invites", "invites" => Library(Admin);
    /// Create an invite link (the token is shown once).
    CreateInvite { library: LibraryId } = POST "/api/libraries/{library}/invites", "invites" => Library(Admin);
    /// Revoke an invite link.
    RevokeInvite { library: LibraryId, invite: Uuid } = DELETE "/api/libraries/{library}/invites/{invite}", "invites" => Library(Admin);
    /// Files of a library, newest first; query: `cursor`, `limit`, `kind`, `folder`, `trashed`, `person`, `label`, `q` (search).
    ListFiles { library: LibraryId } = GET "/api/libraries/{library}/files", "files" => Library(Viewer);
    /// Upload one file as the raw request body (`X-Upload-Name`, percent-encoded UTF-8; raw bytes read as UTF-8, else Latin-1).
    UploadFile { library: LibraryId } = POST "/api/libraries/{library}/files", "files" => Library(Admin);
    /// One file.
    GetFile { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}", "files" => Library(Viewer);
    /// Rename a file or move it (`folderId`, null for the root).
    UpdateFile { library: LibraryId, file: Uuid } = PATCH "/api/libraries/{library}/files/{file}", "files" => Library(Admin);
    /// Delete a trashed file for good, with its original and derived files.
    PurgeFile { library: LibraryId, file: Uuid } = DELETE "/api/libraries/{library}/files/{file}", "files" => Library(Admin);
    /// Move a file to the trash.
    TrashFile { library: LibraryId, file: Uuid } = POST "/api/libraries/{library}/files/{file}/trash", "files" => Library(Admin);
    /// Bring a file back from the trash.
    RestoreFile { library: LibraryId, file: Uuid } = POST "/api/libraries/{library}/files/{file}/restore", "files" => Library(Admin);
    /// Move the live files among `{fileIds}` to the trash; the others are skipped.
    TrashFiles { library: LibraryId } = POST "/api/libraries/{library}/files/trash", "files" => Library(Admin);
    /// Bring the trashed files among `{fileIds}` back; the others are skipped.
    RestoreFiles { library: LibraryId } = POST "/api/libraries/{library}/files/restore", "files" => Library(Admin);
    /// Delete the trashed files among `{fileIds}` for good; the others are skipped.
    PurgeFiles { library: LibraryId } = POST "/api/libraries/{library}/files/purge", "files" => Library(Admin);
    /// The original bytes (`?inline=true` to display); supports Range, ETag and If-None-Match.
    DownloadFile { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/original", "files" => Library(Viewer);
    /// A named thumbnail: search, timeline, faces, card or preview; with `v`, the version a timeline item names, it is cached for good.
    Thumbnail { library: LibraryId, file: Uuid, size: String } = GET "/api/libraries/{library}/files/{file}/thumbnails/{size}", "media" => Library(Viewer);
    /// What a browser can play of a video or audio file: the proxy and/or the original.
    PlaybackSources { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/playback-sources", "media" => Library(Viewer);
    /// The browser-playable proxy (H.264/AAC MP4 or AAC M4A), with Range.
    Playback { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/playback", "media" => Library(Viewer);
    /// An audio file's waveform: 50 peaks a second of 16 kHz mono.
    Waveform { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/waveform", "media" => Library(Viewer);
    /// A photo or video picture at a size (`width`, `height`, `fit`, `quality`, `format`), cached.
    ImageProxy { library: LibraryId, file: Uuid, name: String } = GET "/api/files/proxy/{library}/{file}/{name}", "media" => Library(Viewer);
    /// Run a processing stage again (`{"kind": "metadata"}`); older runs' results are dropped.
    ReprocessFile { library: LibraryId, file: Uuid } = POST "/api/libraries/{library}/files/{file}/reprocess", "files" => Library(Admin);
    /// Run a stage again for every file of the library (`{"kind": "thumbnails"}`).
    ReprocessLibrary { library: LibraryId } = POST "/api/libraries/{library}/reprocess", "files" => Library(Admin);
    /// Run an ML stage again for one file: `face-recognition`, `object-detection`, `audio-detect` or `transcribe`.
    ReprocessFileStage { library: LibraryId, file: Uuid, stage: String } = POST "/api/libraries/{library}/files/{file}/{stage}/reprocess", "ml" => Library(Admin);
    /// Run an ML stage again for every file of the library (stages as for one file).
    ReprocessLibraryStage { library: LibraryId, stage: String } = POST "/api/libraries/{library}/{stage}/reprocess", "ml" => Library(Admin);
    /// People found in the library, most photographed first; `hidden=true` includes hidden ones.
    ListPeople { library: LibraryId } = GET "/api/libraries/{library}/people", "people" => Library(Viewer);
    /// Rename a person, hide them or choose their cover face (`name`, `hidden`, `coverFaceId`).
    UpdatePerson { library: LibraryId, person: Uuid } = PATCH "/api/libraries/{library}/people/{person}", "people" => Library(Admin);
    /// Merge other people (`{"people": [ids]}`) into this one.
    MergePeople { library: LibraryId, person: Uuid } = POST "/api/libraries/{library}/people/{person}/merge", "people" => Library(Admin);
    /// Move some of a person's faces (`{"faceIds": [ids]}`) to a new person.
    SplitPerson { library: LibraryId, person: Uuid } = POST "/api/libraries/{library}/people/{person}/split", "people" => Library(Admin);
    /// A person's 300x300 face picture (their cover face).
    PersonThumbnail { library: LibraryId, person: Uuid } = GET "/api/libraries/{library}/people/{person}/thumbnail", "people" => Library(Viewer);
    /// Group the library's faces into people all over again (members' decisions are kept).
    Recluster { library: LibraryId } = POST "/api/libraries/{library}/people/recluster", "people" => Library(Admin);
    /// The faces in a file, with boxes, landmarks and people.
    FileFaces { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/faces", "people" => Library(Viewer);
    /// Object and tag labels of the library with how many files carry each.
    ListLabels { library: LibraryId } = GET "/api/libraries/{library}/labels", "ml" => Library(Viewer);
    /// The objects (with boxes) and tags found in a file.
    FileLabels { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/labels", "ml" => Library(Viewer);
    /// Sound events heard in a file, as time segments with peak scores.
    FileAudioEvents { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/audio-events", "ml" => Library(Viewer);
    /// What is said in a file: JSON segments, or WebVTT with `format=vtt`.
    Transcript { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/transcript", "ml" => Library(Viewer);
    /// Moments of a file (named time ranges), in time order.
    ListFileMoments { library: LibraryId, file: Uuid } = GET "/api/libraries/{library}/files/{file}/moments", "moments" => Library(Viewer);
    /// Mark a moment: `start` and `end` in seconds, `title`, `description`, `tags`.
    CreateMoment { library: LibraryId, file: Uuid } = POST "/api/libraries/{library}/files/{file}/moments", "moments" => Library(Admin);
    /// One moment.
    GetMoment { library: LibraryId, file: Uuid, moment: Uuid } = GET "/api/libraries/{library}/files/{file}/moments/{moment}", "moments" => Library(Viewer);
    /// Edit a moment; a new range bumps its version and drops its old clip.
    UpdateMoment { library: LibraryId, file: Uuid, moment: Uuid } = PATCH "/api/libraries/{library}/files/{file}/moments/{moment}", "moments" => Library(Admin);
    /// Delete a moment with its clip and its shares.
    DeleteMoment { library: LibraryId, file: Uuid, moment: Uuid } = DELETE "/api/libraries/{library}/files/{file}/moments/{moment}", "moments" => Library(Admin);
    /// Cut the moment's clip (the file's `moment_export` job); 202 until it is made.
    ExportMoment { library: LibraryId, file: Uuid, moment: Uuid } = POST "/api/libraries/{library}/files/{file}/moments/{moment}/export", "moments" => Library(Admin);
    /// The moment's clip (MP4, or M4A for audio), with Range and ETag.
    MomentClip { library: LibraryId, file: Uuid, moment: Uuid } = GET "/api/libraries/{library}/files/{file}/moments/{moment}/clip", "moments" => Library(Viewer);
    /// Moments of the whole library, newest first; `cursor` pages.
    ListMoments { library: LibraryId } = GET "/api/libraries/{library}/moments", "moments" => Library(Viewer);
    /// Share links of a library, with their views and state.
    ListShares { library: LibraryId } = GET "/api/libraries/{library}/shares", "shares" => Library(Admin);
    /// Share files, a folder or a moment by link (`kind`, `fileIds`/`folderId`/`momentId`, options); answers the link.
    CreateShare { library: LibraryId } = POST "/api/libraries/{library}/shares", "shares" => Library(Admin);
    /// One share link.
    GetShare { library: LibraryId, share: Uuid } = GET "/api/libraries/{library}/shares/{share}", "shares" => Library(Admin);
    /// Change a share's title, message, expiry, password or permissions.
    UpdateShare { library: LibraryId, share: Uuid } = PATCH "/api/libraries/{library}/shares/{share}", "shares" => Library(Admin);
    /// Revoke a share link.
    RevokeShare { library: LibraryId, share: Uuid } = DELETE "/api/libraries/{library}/shares/{share}", "shares" => Library(Admin);
    /// A share as its recipient sees it (404 revoked or unknown, 410 expired, 401 until unlocked).
    SharedLink { token: String } = GET "/api/share/{token}", "shared" => Public;
    /// Unlock a password-protected share (`password`, JSON or an HTML form); sets its cookie.
    UnlockShare { token: String } = POST "/api/share/{token}/unlock", "shared" => Public;
    /// A thumbnail of a shared file: `timeline`, `card` or `preview`.
    SharedThumbnail { token: String, file: Uuid, size: String } = GET "/api/share/{token}/files/{file}/thumbnails/{size}", "shared" => Public;
    /// A shared video or audio file as a browser plays it, with Range.
    SharedPlayback { token: String, file: Uuid } = GET "/api/share/{token}/files/{file}/playback", "shared" => Public;
    /// A shared original, when the share allows downloads (without its location unless shown).
    SharedOriginal { token: String, file: Uuid } = GET "/api/share/{token}/files/{file}/original", "shared" => Public;
    /// A shared moment's clip, with Range.
    SharedClip { token: String } = GET "/api/share/{token}/clip", "shared" => Public;
    /// Every shared file in one ZIP, when the share allows downloads.
    SharedZip { token: String } = GET "/api/share/{token}/zip", "shared" => Public;
    /// Groups of files with identical bytes.
    ListDuplicates { library: LibraryId } = GET "/api/libraries/{library}/duplicates", "files" => Library(Viewer);
    /// What happened in a library, newest first, similar events grouped; `cursor` pages.
    LibraryFeed { library: LibraryId } = GET "/api/libraries/{library}/feed", "activity" => Library(Viewer);
    /// How many files and bytes a ZIP of `{fileIds}` would hold.
    ZipEstimate { library: LibraryId } = POST "/api/libraries/{library}/zip/estimate", "files" => Library(Viewer);
    /// A ZIP of `{fileIds}`, streamed; also takes an HTML form with `fileIds`, comma-separated.
    ZipDownload { library: LibraryId } = POST "/api/libraries/{library}/zip", "files" => Library(Viewer);
    /// tus discovery: version, extensions and the largest upload.
    TusOptions { library: LibraryId } = OPTIONS "/api/libraries/{library}/tus", "uploads" => Library(Admin);
    /// Start a resumable upload (`Upload-Length`, `Upload-Metadata` with `filename`, `folderId`).
    TusCreate { library: LibraryId } = POST "/api/libraries/{library}/tus", "uploads" => Library(Admin);
    /// How much of a resumable upload has arrived (`Upload-Offset`).
    TusHead { library: LibraryId, upload: Uuid } = HEAD "/api/libraries/{library}/tus/{upload}", "uploads" => Library(Admin);
    /// Append to a resumable upload at `Upload-Offset`; the last byte stores the file.
    TusPatch { library: LibraryId, upload: Uuid } = PATCH "/api/libraries/{library}/tus/{upload}", "uploads" => Library(Admin);
    /// Abandon a resumable upload.
    TusDelete { library: LibraryId, upload: Uuid } = DELETE "/api/libraries/{library}/tus/{upload}", "uploads" => Library(Admin);
    /// Every day of the timeline with its files' count and aspect ratios (the list's filters, `tz` in minutes east of UTC).
    TimelineBuckets { library: LibraryId } = GET "/api/libraries/{library}/timeline/buckets", "files" => Library(Viewer);
    /// One day's files as the grid needs them (`day` as `YYYY-MM-DD`, same filters and `tz`).
    TimelineBucket { library: LibraryId, day: String } = GET "/api/libraries/{library}/timeline/bucket/{day}", "files" => Library(Viewer);
    /// Files whose name, folder, labels, people, sounds, transcript, camera or dates match `q` (words, "phrases" and `key:value` filters; the filters also as parameters), with their hits.
    Search { library: LibraryId } = GET "/api/libraries/{library}/search", "files" => Library(Viewer);
    /// "On this day": files taken on today's date (on the client's calendar, `tz`; or `day`) in earlier years.
    Memories { library: LibraryId } = GET "/api/libraries/{library}/memories", "files" => Library(Viewer);
    /// Where the files were taken: clusters inside `bbox` (west,south,east,north) at `zoom`, each with its count, centre, box and newest file.
    Map { library: LibraryId } = GET "/api/libraries/{library}/map", "files" => Library(Viewer);
    /// Start importing a Google Takeout or iCloud Photos export; its parts are uploaded next.
    CreateImport { library: LibraryId } = POST "/api/libraries/{library}/imports", "imports" => Library(Admin);
    /// One part of the export (`.zip`, `.tgz`, `.tar.gz`) as the raw body, named by `X-Upload-Name`.
    UploadImportPart { library: LibraryId, import: Uuid } = POST "/api/libraries/{library}/imports/{import}/parts", "imports" => Library(Admin);
    /// Import the parts received, in the background.
    StartImport { library: LibraryId, import: Uuid } = POST "/api/libraries/{library}/imports/{import}/start", "imports" => Library(Admin);
    /// An import's progress and, once done, what it did.
    GetImport { library: LibraryId, import: Uuid } = GET "/api/libraries/{library}/imports/{import}", "imports" => Library(Admin);
    /// Folders under `parent` (the root by default); `trashed=true` lists trashed folders.
    ListFolders { library: LibraryId } = GET "/api/libraries/{library}/folders", "folders" => Library(Viewer);
    /// Create a folder (`name`, optional `parentId`).
    CreateFolder { library: LibraryId } = POST "/api/libraries/{library}/folders", "folders" => Library(Admin);
    /// One folder with the path from the library's root to it.
    GetFolder { library: LibraryId, folder: Uuid } = GET "/api/libraries/{library}/folders/{folder}", "folders" => Library(Viewer);
    /// Rename a folder or move it (`parentId`, null for the root).
    UpdateFolder { library: LibraryId, folder: Uuid } = PATCH "/api/libraries/{library}/folders/{folder}", "folders" => Library(Admin);
    /// Delete a trashed folder for good, with everything in it.
    PurgeFolder { library: LibraryId, folder: Uuid } = DELETE "/api/libraries/{library}/folders/{folder}", "folders" => Library(Admin);
    /// Move a folder, its subfolders and their files to the trash.
    TrashFolder { library: LibraryId, folder: Uuid } = POST "/api/libraries/{library}/folders/{folder}/trash", "folders" => Library(Admin);
    /// Bring a folder back with what was trashed with it.
    RestoreFolder { library: LibraryId, folder: Uuid } = POST "/api/libraries/{library}/folders/{folder}/restore", "folders" => Library(Admin);
    /// Job counts per kind and status.
    JobCounts {} = GET "/api/admin/jobs", "admin" => InstanceOwner;
    /// Failed jobs, most recent first.
    FailedJobs {} = GET "/api/admin/jobs/failed", "admin" => InstanceOwner;
    /// Run a stage again for every file of every library (`{"kind": "thumbnails"}`).
    ReprocessAll {} = POST "/api/admin/reprocess", "admin" => InstanceOwner;
    /// Queue a job again from scratch.
    RetryJob { kind: String, file: Uuid } = POST "/api/admin/jobs/{kind}/{file}/retry", "admin" => InstanceOwner;
    /// Forget a job.
    RemoveJob { kind: String, file: Uuid } = DELETE "/api/admin/jobs/{kind}/{file}", "admin" => InstanceOwner;
    /// Forget every failed job.
    PurgeFailedJobs {} = POST "/api/admin/jobs/purge", "admin" => InstanceOwner;
    /// All user accounts.
    ListUsers {} = GET "/api/admin/users", "admin" => InstanceOwner;
    /// Instance-wide settings (registration mode).
    GetInstanceSettings {} = GET "/api/admin/settings", "admin" => InstanceOwner;
    /// Change instance-wide settings.
    UpdateInstanceSettings {} = PATCH "/api/admin/settings", "admin" => InstanceOwner;
}

impl Route {
    /// Parses a request's method and path into a route. Unknown paths give `NotFound`, known
    /// paths with another method give `MethodNotAllowed`, bad parameters give `InvalidParam`.
    pub fn parse(method: &Method, path: &str) -> Result<Route, ApiError> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed = Vec::new();
        for (info, build) in ROUTES.iter().zip(BUILDERS) {
            let Some(caps) = match_template(info.path, &segments) else {
                continue;
            };
            if info.method == *method {
                return build(&caps);
            }
            allowed.push(info.method.clone());
        }
        if allowed.is_empty() {
            Err(ApiError::NotFound)
        } else {
            Err(ApiError::MethodNotAllowed(allowed))
        }
    }

    /// Routes whose bodies stream for as long as the transfer takes, exempt from the request
    /// time limit.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Route::UploadFile { .. }
                | Route::UploadImportPart { .. }
                | Route::DownloadFile { .. }
                | Route::Playback { .. }
                | Route::TusPatch { .. }
                | Route::ZipDownload { .. }
                | Route::MomentClip { .. }
                | Route::SharedPlayback { .. }
                | Route::SharedOriginal { .. }
                | Route::SharedClip { .. }
                | Route::SharedZip { .. }
        )
    }

    /// Routes that bring new bytes onto the disk: refused while free space is below the reserve.
    pub fn is_upload(&self) -> bool {
        matches!(
            self,
            Route::UploadFile { .. }
                | Route::UploadImportPart { .. }
                | Route::TusCreate { .. }
                | Route::TusPatch { .. }
        )
    }

    /// Routes an `upload` app password may call: adding files and folders, and the lists it
    /// needs to choose where.
    pub fn fits_upload_scope(&self) -> bool {
        matches!(
            self,
            Route::UploadFile { .. }
                | Route::TusOptions { .. }
                | Route::TusCreate { .. }
                | Route::TusHead { .. }
                | Route::TusPatch { .. }
                | Route::TusDelete { .. }
                | Route::ListLibraries { .. }
                | Route::ListFolders { .. }
                | Route::CreateFolder { .. }
        )
    }

    /// The table row of this route.
    pub fn info(&self) -> &'static RouteInfo {
        let name = self.name();
        ROUTES
            .iter()
            .find(|r| r.name == name)
            .expect("every route is in the table")
    }
}

fn match_template<'a>(template: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut caps = Vec::new();
    for (part, seg) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if seg.is_empty() {
                return None;
            }
            caps.push(*seg);
        } else if part != seg {
            return None;
        }
    }
    Some(caps)
}

/// The path of `info` with every parameter replaced by `value_for(name, format)`.
pub fn fill_template(info: &RouteInfo, value_for: impl Fn(&str, &str) -> String) -> String {
    info.path
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    let format = info
                        .params
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|p| p.1)
                        .unwrap_or("");
                    value_for(name, format)
                }
                None => part.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(info: &RouteInfo) -> String {
        fill_template(info, |_, format| match format {
            "uuid" => Uuid::nil().to_string(),
            _ => "abc".into(),
        })
    }

    #[test]
    fn every_template_names_its_fields_in_order_and_parses_back_to_its_route() {
        for info in ROUTES {
            let names: Vec<&str> = info
                .path
                .split('/')
                .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
                .collect();
            let fields: Vec<&str> = info.params.iter().map(|p| p.0).collect();
            assert_eq!(names, fields, "{}", info.name);
            let route = Route::parse(&info.method, &sample(info)).unwrap();
            assert_eq!(route.name(), info.name);
            assert!(std::ptr::eq(route.info(), info));
        }
    }

    #[test]
    fn library_rules_always_have_a_library_id() {
        for info in ROUTES {
            let route = Route::parse(&info.method, &sample(info)).unwrap();
            assert_eq!(
                matches!(info.access, AccessRule::Library(_)),
                route.library_id().is_some(),
                "{}",
                info.name
            );
        }
    }

    #[test]
    fn no_two_routes_share_method_and_path() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} and {}",
                    a.name,
                    b.name
                );
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn unknown_paths_wrong_methods_and_bad_ids_are_told_apart() {
        assert!(matches!(
            Route::parse(&Method::GET, "/api/nope"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            Route::parse(&Method::GET, "/api/libraries/"),
            Err(ApiError::NotFound)
        ));
        match Route::parse(&Method::PUT, "/api/libraries") {
            Err(ApiError::MethodNotAllowed(m)) => assert_eq!(m, vec![Method::GET, Method::POST]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Route::parse(&Method::GET, "/api/libraries/not-a-uuid"),
            Err(ApiError::InvalidParam(_))
        ));
        let id = Uuid::new_v4();
        assert_eq!(
            Route::parse(
                &Method::DELETE,
                &format!("/api/libraries/{id}/members/{id}")
            )
            .unwrap(),
            Route::RemoveMember {
                library: LibraryId(id),
                user: id
            }
        );
    }
}
