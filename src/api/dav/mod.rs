//! WebDAV at `/dav/` for phones' backup apps, file managers and `rclone`: the caller's libraries
//! as folders (see [`crate::dav`]), signed in with an app password (a personal access token, as
//! HTTP Basic's password; never the account password). Viewers read, admins and owners write;
//! an `upload` app password lists names and adds files and folders only. Uploads go through the
//! browser's ingest (hash, duplicate flag, pipeline) with the client's `X-OC-Mtime` as the file
//! time; deletes, and files replaced by a new upload, go to the trash.
//!
//! Compliance class 1 (no locks): OPTIONS, PROPFIND (depth 0 and 1), GET, HEAD, PUT, DELETE,
//! MKCOL, COPY and MOVE.

mod xml;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::{HeaderValue, Method, Response, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use uuid::Uuid;

use super::state::ApiState;
use crate::accounts::User;
use crate::dav::changes::{self, Target};
use crate::dav::{self, Lookup, Node, Space};
use crate::files::{self, File, ingest, upload};
use crate::http::error::{ApiError, ApiResult};
use crate::http::origin;
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::libraries::Role;
use crate::sessions::{self, TokenScope};
use xml::{MultiStatus, PropName, PropRequest, escape};

/// Where WebDAV lives.
const PREFIX: &str = "/dav";

/// The methods served.
const METHODS: &str = "OPTIONS, PROPFIND, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE";

/// Whether `path` is WebDAV's.
pub fn owns(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Answers one WebDAV request.
pub async fn handle(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    match serve(app, ctx).await {
        Err(e @ (ApiError::Unauthorized | ApiError::BadCredentials)) => {
            let mut res = response::error(&e);
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Alcoves\", charset=\"UTF-8\""),
            );
            Ok(res)
        }
        other => other,
    }
}

/// The caller: a user and what their app password lets them do.
struct Who {
    user: User,
    scope: TokenScope,
}

/// What a request needs of the caller where it acts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// See names, sizes and times.
    List,
    /// Read a file's bytes.
    Read,
    /// Add a new file or folder.
    Add,
    /// Rename, move, replace or delete.
    Change,
}

/// The access check, made before anything is read or changed: members list (non-members never
/// get this far: their libraries are not in their tree), viewers also read, admins and owners
/// also write; an `upload` app password lists and adds only. The top holds libraries, which
/// are made in the web app.
fn allow(who: &Who, space: Option<&Space>, need: Need) -> ApiResult<()> {
    let scope_refuses =
        who.scope == TokenScope::Upload && matches!(need, Need::Read | Need::Change);
    if scope_refuses {
        return Err(ApiError::Denied(
            "token_scope",
            "this app password may only upload".into(),
        ));
    }
    match (need, space) {
        (Need::List | Need::Read, _) => Ok(()),
        (Need::Add | Need::Change, None) => Err(changes_at_the_top()),
        (Need::Add | Need::Change, Some(space)) if space.role < Role::Admin => {
            Err(ApiError::Forbidden)
        }
        (Need::Add | Need::Change, Some(_)) => Ok(()),
    }
}

/// Refuses to delete, move or copy the top or a library itself (the web app does that).
fn below_a_library(node: &Node) -> ApiResult<()> {
    match node {
        Node::Root | Node::Dir(_, None) => Err(changes_at_the_top()),
        Node::Dir(_, Some(_)) | Node::File(..) => Ok(()),
    }
}

async fn serve(app: &ApiState, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let method = ctx.parts.method.clone();
    if method == Method::OPTIONS {
        return Ok(options());
    }
    let reads = matches!(method.as_str(), "GET" | "HEAD" | "PROPFIND");
    if !reads {
        origin::check_site(ctx, &app.config.public_url)?;
    }
    let who = authenticate(app, ctx).await?;
    let segments = segments(ctx.parts.uri.path())?;
    let found = dav::lookup(&mut app.db.conn().await?, &who.user.id, &segments).await?;
    if !reads && method != Method::PUT {
        // Whatever else changes state must work on a full disk (moving to the trash).
        app.disk.make_room();
    }
    match method.as_str() {
        "GET" | "HEAD" => get(app, ctx, &who, found, &segments).await,
        "PUT" => put(app, ctx, &who, found).await,
        "COPY" => transfer(app, ctx, &who, found, &segments, false).await,
        "MOVE" => transfer(app, ctx, &who, found, &segments, true).await,
        quick => {
            let work = async {
                match quick {
                    "PROPFIND" => propfind(app, ctx, &who, found, &segments).await,
                    "MKCOL" => mkcol(app, ctx, &who, found).await,
                    "DELETE" => delete(app, &who, found).await,
                    _ => Err(ApiError::MethodNotAllowed(allowed())),
                }
            };
            let limit = Duration::from_secs(app.config.request_timeout_secs);
            tokio::time::timeout(limit, work)
                .await
                .unwrap_or(Err(ApiError::Timeout))
        }
    }
}

fn allowed() -> Vec<Method> {
    METHODS
        .split(", ")
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .collect()
}

/// `OPTIONS`: what this server speaks (answered without signing in, as clients probe first).
fn options() -> Response<Body> {
    let mut res = response::empty(StatusCode::OK);
    let headers = res.headers_mut();
    headers.insert("dav", HeaderValue::from_static("1"));
    headers.insert(header::ALLOW, HeaderValue::from_static(METHODS));
    headers.insert("ms-author-via", HeaderValue::from_static("DAV"));
    res
}

/// Who is calling: HTTP Basic with the account's username and an app password (failures are
/// throttled like sign-ins), or a Bearer token.
async fn authenticate(app: &ApiState, ctx: &Ctx) -> ApiResult<Who> {
    let auth = ctx
        .header(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized)?;
    let (username, secret) = if let Some(token) = auth.strip_prefix("Bearer ") {
        (None, token.trim().to_owned())
    } else {
        let (user, secret) = basic_credentials(auth).ok_or(ApiError::Unauthorized)?;
        (Some(user), secret)
    };
    let address = ctx.client_ip.to_string();
    if let Some(user) = &username
        && let Some(wait) = app.throttle.wait_secs(user, &address)
    {
        return Err(ApiError::TooManyRequests(wait));
    }
    let found = sessions::find_token(&mut app.db.conn().await?, &secret).await?;
    match (found, &username) {
        (Some((token, user)), name) if name.as_ref().is_none_or(|n| *n == user.username) => {
            if let Some(name) = name {
                app.throttle.succeeded(name, &address);
            }
            Ok(Who {
                user,
                scope: token.scope(),
            })
        }
        (_, Some(name)) => {
            app.throttle.failed(name, &address);
            Err(ApiError::BadCredentials)
        }
        (_, None) => Err(ApiError::Unauthorized),
    }
}

/// The username (lower-cased, as accounts store it) and password of a Basic header.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.trim().to_lowercase(), password.to_owned()))
}

/// The decoded path segments below `/dav`.
fn segments(path: &str) -> ApiResult<Vec<String>> {
    path.strip_prefix(PREFIX)
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|raw| {
            let text = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| ApiError::BadRequest("the path is not UTF-8".into()))?;
            if text == "." || text == ".." {
                return Err(ApiError::BadRequest("`.` and `..` are not names".into()));
            }
            Ok(text.into_owned())
        })
        .collect()
}

/// Characters left as they are in a path segment (RFC 3986 `pchar` minus `%` and `/`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// The URL path of `segments`, with a trailing slash for a folder.
fn href(segments: &[String], dir: bool) -> String {
    let mut out = String::from(PREFIX);
    for s in segments {
        out.push('/');
        out.extend(utf8_percent_encode(s, SEGMENT));
    }
    if dir {
        out.push('/');
    }
    out
}

/// `PROPFIND` at depth 0 or 1 (a whole tree at once is refused, as RFC 4918 allows).
async fn propfind(
    app: &ApiState,
    ctx: &mut Ctx,
    who: &Who,
    found: Lookup,
    segments: &[String],
) -> ApiResult<Response<Body>> {
    let Lookup::Found(node) = found else {
        return Err(ApiError::NotFound);
    };
    allow(who, node.space(), Need::List)?;
    let depth_one = match ctx.header(header::HeaderName::from_static("depth")) {
        Some("0") => false,
        Some("1") | None => true,
        _ => {
            return Err(ApiError::Denied(
                "propfind_finite_depth",
                "PROPFIND goes one level deep at most".into(),
            ));
        }
    };
    let request = xml::parse_propfind(&ctx.small_body().await?).map_err(ApiError::BadRequest)?;
    let mut doc = MultiStatus::default();
    let name = segments.last().map_or("", String::as_str);
    describe(
        &mut doc,
        &href(segments, node.is_dir()),
        name,
        &node,
        &request,
    );
    if depth_one && node.is_dir() {
        let children = dav::children(&mut app.db.conn().await?, &who.user.id, &node).await?;
        let mut path = segments.to_vec();
        for (name, child) in children {
            path.push(name);
            describe(
                &mut doc,
                &href(&path, child.is_dir()),
                &path[path.len() - 1],
                &child,
                &request,
            );
            path.pop();
        }
    }
    let mut res = Response::new(response::full(doc.finish()));
    *res.status_mut() = StatusCode::MULTI_STATUS;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    Ok(res)
}

/// Adds `node`'s properties, as `request` asks for them, to `doc`.
fn describe(doc: &mut MultiStatus, href: &str, name: &str, node: &Node, request: &PropRequest) {
    let props = properties(node, name);
    match request {
        PropRequest::All => {
            let found: Vec<_> = props.into_iter().map(|(n, v)| (n, Some(v))).collect();
            doc.response(href, &found, &[]);
        }
        PropRequest::Names => {
            let found: Vec<_> = props.into_iter().map(|(n, _)| (n, None)).collect();
            doc.response(href, &found, &[]);
        }
        PropRequest::Some(wanted) => {
            let (mut found, mut missing) = (Vec::new(), Vec::new());
            for want in wanted {
                match props.iter().find(|(n, _)| n == want) {
                    Some((n, v)) => found.push((n.clone(), Some(v.clone()))),
                    None => missing.push(want.clone()),
                }
            }
            doc.response(href, &found, &missing);
        }
    }
}

/// The live properties of `node`, with values as XML.
fn properties(node: &Node, name: &str) -> Vec<(PropName, String)> {
    let modified = match node {
        Node::Root => SystemTime::now(),
        Node::Dir(space, None) => at(space.library.updated_at),
        Node::Dir(_, Some(folder)) => at(folder.updated_at),
        Node::File(_, file) => at(file_time(file)),
    };
    let mut props = vec![
        (PropName::dav("displayname"), escape(name)),
        (
            PropName::dav("getlastmodified"),
            httpdate::fmt_http_date(modified),
        ),
    ];
    match node {
        Node::File(_, file) => props.extend([
            (PropName::dav("resourcetype"), String::new()),
            (PropName::dav("getcontentlength"), file.size.to_string()),
            (PropName::dav("getcontenttype"), escape(&file.mime)),
            (PropName::dav("getetag"), escape(&etag(file))),
        ]),
        _ => props.push((PropName::dav("resourcetype"), "<D:collection/>".into())),
    }
    props
}

/// A file's time as WebDAV shows it: the client's mtime for its uploads, else when it came.
fn file_time(file: &File) -> i64 {
    file.source_mtime.unwrap_or(file.created_at)
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

fn etag(file: &File) -> String {
    format!("\"{}\"", file.sha256.as_deref().unwrap_or(&file.id))
}

/// `GET` and `HEAD`: a file's bytes (with Range), or a folder's list as a small page.
async fn get(
    app: &ApiState,
    ctx: &Ctx,
    who: &Who,
    found: Lookup,
    segments: &[String],
) -> ApiResult<Response<Body>> {
    let Lookup::Found(node) = found else {
        return Err(ApiError::NotFound);
    };
    if let Node::File(space, file) = &node {
        allow(who, Some(space), Need::Read)?;
        let import_root = space.library.import_path.as_deref();
        let mut res = super::files::send_original(app, ctx, file, import_root).await?;
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(at(file_time(file)))) {
            res.headers_mut().insert(header::LAST_MODIFIED, v);
        }
        return Ok(res);
    }
    allow(who, node.space(), Need::List)?;
    let children = dav::children(&mut app.db.conn().await?, &who.user.id, &node).await?;
    let mut page =
        String::from("<!doctype html><meta charset=\"utf-8\"><title>Alcoves</title><ul>");
    let mut path = segments.to_vec();
    for (name, child) in children {
        path.push(name);
        let link = href(&path, child.is_dir());
        let shown = escape(&path[path.len() - 1]);
        let slash = if child.is_dir() { "/" } else { "" };
        page.push_str(&format!(
            "<li><a href=\"{}\">{shown}{slash}</a></li>",
            escape(&link)
        ));
        path.pop();
    }
    page.push_str("</ul>");
    let mut res = Response::new(response::full(page));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(res)
}

/// `PUT`: a new file through the ingest, or a new version of one (the old one goes to the
/// trash; the same bytes again only take the new file time).
async fn put(app: &ApiState, ctx: &mut Ctx, who: &Who, found: Lookup) -> ApiResult<Response<Body>> {
    let (space, folder, name, replaces) = match found {
        Lookup::Found(Node::File(space, file)) => {
            allow(who, Some(&space), Need::Change)?;
            let folder = folder_of(app, &space, &file).await?;
            let name = file.name.clone();
            (space, folder, name, Some(file))
        }
        Lookup::Found(_) => {
            return Err(ApiError::MethodNotAllowed(allowed()));
        }
        Lookup::Missing {
            parent: Node::Dir(space, folder),
            name,
        } => {
            allow(who, Some(&space), Need::Add)?;
            changes::file_name(&name)?;
            (space, folder, name, None)
        }
        Lookup::Missing { .. } => return Err(changes_at_the_top()),
        Lookup::NoParent => return Err(no_parent()),
    };
    let incoming = ctx.declared_upload_bytes();
    if incoming <= app.config.max_upload_bytes
        && let Err(full) = app.disk.admit_upload(incoming)
    {
        if let Ok(body) = ctx.take_body() {
            body.drain().await;
        }
        return Err(ApiError::InsufficientStorage(full));
    }
    let mtime = client_mtime(ctx);
    let mut body = ctx.take_body()?;
    let target = app.scratch.temp_file(".upload");
    let staged = match upload::stage(&mut body, target, app.config.max_upload_bytes).await {
        Ok(staged) => staged,
        Err(e) => {
            body.drain().await;
            return Err(e.into());
        }
    };
    if let Some(old) = &replaces
        && old.sha256.as_deref() == Some(staged.sha256.as_str())
    {
        if let Some(mtime) = mtime {
            files::set_mtime(&mut app.db.conn().await?, &old.id, mtime).await?;
        }
        return Ok(put_answer(StatusCode::NO_CONTENT, old, mtime.is_some()));
    }
    let received = ingest::Received {
        id: Uuid::new_v4().to_string(),
        library_id: space.library.id.clone(),
        folder_id: folder.map(|f| f.id),
        name,
        uploaded_by: who.user.id.clone(),
        path: staged.path(),
        size: staged.size,
        sha256: staged.sha256.clone(),
        head: &staged.head,
        mtime,
        sidecar: None,
    };
    let file = ingest::store(app, received).await?;
    let status = match &replaces {
        Some(old) => {
            files::trash(&app.db, &who.user.id, old, true).await?;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::CREATED,
    };
    Ok(put_answer(status, &file, mtime.is_some()))
}

fn put_answer(status: StatusCode, file: &File, mtime_kept: bool) -> Response<Body> {
    let mut res = response::empty(status);
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag(file)) {
        headers.insert(header::ETAG, v);
    }
    if mtime_kept {
        headers.insert("x-oc-mtime", HeaderValue::from_static("accepted"));
    }
    res
}

/// The client's modification time of an upload (`X-OC-Mtime`, seconds since the epoch), in ms.
fn client_mtime(ctx: &Ctx) -> Option<i64> {
    let seconds: f64 = ctx
        .header(header::HeaderName::from_static("x-oc-mtime"))?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds > 0.0 && seconds < 1e11).then_some((seconds * 1000.0) as i64)
}

/// The live folder `file` is in (none at the library's top).
async fn folder_of(
    app: &ApiState,
    space: &Space,
    file: &File,
) -> ApiResult<Option<crate::folders::Folder>> {
    let Some(id) = &file.folder_id else {
        return Ok(None);
    };
    let mut conn = app.db.conn().await?;
    Ok(Some(
        crate::folders::get(&mut conn, &space.library.id, id).await?,
    ))
}

/// `MKCOL`: a new folder (never with a body, never over something).
async fn mkcol(app: &ApiState, ctx: &Ctx, who: &Who, found: Lookup) -> ApiResult<Response<Body>> {
    match found {
        Lookup::Found(_) => Err(ApiError::MethodNotAllowed(allowed())),
        Lookup::NoParent => Err(no_parent()),
        Lookup::Missing {
            parent: Node::Dir(space, folder),
            name,
        } => {
            allow(who, Some(&space), Need::Add)?;
            if ctx.has_body() {
                return Err(ApiError::UnsupportedMediaType);
            }
            let to = Target {
                space: &space,
                folder: folder.as_ref(),
                name: &name,
            };
            changes::make_folder(&app.db, &who.user.id, &to).await?;
            Ok(response::empty(StatusCode::CREATED))
        }
        Lookup::Missing { .. } => Err(changes_at_the_top()),
    }
}

/// `DELETE`: to the trash, with everything inside.
async fn delete(app: &ApiState, who: &Who, found: Lookup) -> ApiResult<Response<Body>> {
    let Lookup::Found(node) = found else {
        return Err(ApiError::NotFound);
    };
    allow(who, node.space(), Need::Change)?;
    below_a_library(&node)?;
    changes::trash(&app.db, &who.user.id, &node).await?;
    Ok(response::no_content())
}

/// `COPY` and `MOVE` to the `Destination` header's path; what is there already goes to the
/// trash first unless `Overwrite: F`.
async fn transfer(
    app: &ApiState,
    ctx: &Ctx,
    who: &Who,
    found: Lookup,
    segments: &[String],
    moving: bool,
) -> ApiResult<Response<Body>> {
    let Lookup::Found(node) = found else {
        return Err(ApiError::NotFound);
    };
    allow(
        who,
        node.space(),
        if moving { Need::Change } else { Need::Read },
    )?;
    below_a_library(&node)?;
    let depth = ctx.header(header::HeaderName::from_static("depth"));
    let deep = match depth {
        None | Some("infinity") => true,
        Some("0") if !moving => false,
        Some(_) => return Err(ApiError::BadRequest("Depth must be 0 or infinity".into())),
    };
    let to_segments = destination(ctx)?;
    if segments.starts_with(&to_segments) || to_segments.starts_with(segments) {
        return Err(ApiError::Denied(
            "same_place",
            "the destination is the source, inside it or above it".into(),
        ));
    }
    let overwrite = !ctx
        .header(header::HeaderName::from_static("overwrite"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("f"));
    let mut dest = dav::lookup(&mut app.db.conn().await?, &who.user.id, &to_segments).await?;
    let replaced = if let Lookup::Found(there) = &dest {
        if !overwrite {
            return Err(ApiError::Precondition(
                "destination_exists",
                "something is there already and Overwrite is F".into(),
            ));
        }
        allow(who, there.space(), Need::Change)?;
        below_a_library(there)?;
        changes::trash(&app.db, &who.user.id, there).await?;
        dest = dav::lookup(&mut app.db.conn().await?, &who.user.id, &to_segments).await?;
        true
    } else {
        false
    };
    let (space, folder, name) = match dest {
        Lookup::Missing {
            parent: Node::Dir(space, folder),
            name,
        } => (space, folder, name),
        Lookup::Missing { .. } => return Err(changes_at_the_top()),
        Lookup::NoParent => return Err(no_parent()),
        Lookup::Found(_) => {
            return Err(ApiError::Conflict(
                "busy",
                "the destination came back".into(),
            ));
        }
    };
    allow(who, Some(&space), Need::Add)?;
    let to = Target {
        space: &space,
        folder: folder.as_ref(),
        name: &name,
    };
    if moving {
        changes::relocate(app, &who.user.id, &node, &to).await?;
    } else {
        changes::copy(app, &who.user.id, &node, &to, deep).await?;
    }
    Ok(response::empty(if replaced {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    }))
}

/// The decoded segments of the `Destination` header (a full URL or a path) below `/dav`.
fn destination(ctx: &Ctx) -> ApiResult<Vec<String>> {
    let raw = ctx
        .header(header::HeaderName::from_static("destination"))
        .ok_or_else(|| ApiError::BadRequest("Destination is missing".into()))?;
    let uri: http::Uri = raw
        .parse()
        .map_err(|_| ApiError::BadRequest("Destination is not a URL".into()))?;
    if !owns(uri.path()) {
        return Err(ApiError::Denied(
            "outside_webdav",
            "the destination is not on this WebDAV server".into(),
        ));
    }
    segments(uri.path())
}

fn no_parent() -> ApiError {
    ApiError::Conflict("no_parent", "the folder to put it in does not exist".into())
}

fn changes_at_the_top() -> ApiError {
    ApiError::Denied(
        "not_through_webdav",
        "libraries are made, renamed and deleted in the web app".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode_per_segment_and_encode_back() {
        let segs = segments("/dav/My%20Photos/2024/caf%C3%A9%2Fx.jpg").unwrap();
        assert_eq!(segs, ["My Photos", "2024", "café/x.jpg"]);
        assert_eq!(
            href(&segs, false),
            "/dav/My%20Photos/2024/caf%C3%A9%2Fx.jpg"
        );
        assert_eq!(href(&[], true), "/dav/");
        assert!(segments("/dav/a/../b").is_err());
        assert!(segments("/dav/%FF").is_err());
        assert!(owns("/dav") && owns("/dav/x") && !owns("/davx") && !owns("/api/dav"));
    }

    #[test]
    fn basic_credentials_are_split_at_the_first_colon() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("Ann:alc_a:b")
        );
        assert_eq!(
            basic_credentials(&header),
            Some(("ann".into(), "alc_a:b".into()))
        );
        assert_eq!(basic_credentials("Basic !!"), None);
    }
}
