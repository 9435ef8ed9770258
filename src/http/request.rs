//! The request context handed to handlers: the request head, its body (read on demand with a
//! size limit), the client address and, after the access check, the caller and library.

use std::borrow::Cow;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header;
use http::request::Parts;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};
use crate::accounts::User;
use crate::db::Cursor;
use crate::libraries::Library;
use crate::libraries::Role;
use crate::sessions::Credential;

/// The signed-in user making a request and how they proved it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub credential: Credential,
}

impl Caller {
    /// The session id when signed in with the cookie.
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session(s) => Some(&s.id),
            Credential::Token(_) => None,
        }
    }
}

/// Everything a handler may look at besides its typed route parameters.
pub struct Ctx {
    pub parts: Parts,
    body: Option<Incoming>,
    pub client_ip: IpAddr,
    pub request_id: String,
    /// Set by the access check for every non-public route.
    pub caller: Option<Caller>,
    /// Set by the access check for library routes: the library and the caller's role in it.
    pub library: Option<(Library, Role)>,
    max_json_bytes: u64,
}

impl Ctx {
    /// Wraps a request.
    pub fn new(
        parts: Parts,
        body: Incoming,
        client_ip: IpAddr,
        request_id: String,
        max_json_bytes: u64,
    ) -> Ctx {
        Ctx {
            parts,
            body: Some(body),
            client_ip,
            request_id,
            caller: None,
            library: None,
            max_json_bytes,
        }
    }

    /// The caller; only `None` on public routes.
    pub fn caller(&self) -> ApiResult<&Caller> {
        self.caller.as_ref().ok_or(ApiError::Unauthorized)
    }

    /// The library resolved by the access check (library routes only).
    pub fn library(&self) -> ApiResult<&(Library, Role)> {
        self.library
            .as_ref()
            .ok_or_else(|| ApiError::Internal("library route without library".into()))
    }

    /// The id of the route's library (after the access check).
    pub fn library_id(&self) -> ApiResult<String> {
        Ok(self.library()?.0.id.clone())
    }

    /// A request header as text.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header's text, whatever its bytes: UTF-8 when they are, else Latin-1 (the charset
    /// RFC 9110 gives header values), so a client sending raw non-ASCII bytes keeps its text.
    pub fn header_text(&self, name: header::HeaderName) -> Option<Cow<'_, str>> {
        let bytes = self.parts.headers.get(name)?.as_bytes();
        Some(match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
        })
    }

    /// How many bytes an upload says it brings: tus's `Upload-Length`, else `Content-Length`
    /// (0 when neither is given).
    pub fn declared_upload_bytes(&self) -> u64 {
        [
            header::HeaderName::from_static("upload-length"),
            header::CONTENT_LENGTH,
        ]
        .into_iter()
        .find_map(|name| self.header(name)?.trim().parse().ok())
        .unwrap_or(0)
    }

    /// The body as a stream of data chunks, for handlers that stream it themselves.
    pub fn take_body(&mut self) -> ApiResult<BodyReader> {
        self.body
            .take()
            .map(|body| BodyReader(BodyDataStream::new(body)))
            .ok_or_else(|| ApiError::Internal("body read twice".into()))
    }

    /// The query string's parameters, percent-decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        let raw = self.parts.uri.query().unwrap_or("");
        form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect()
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The `limit` query parameter of a paged list, `default` when absent, clamped to 1..=`max`.
    pub fn page_limit(&self, default: i64, max: i64) -> ApiResult<i64> {
        let limit = match self.query_param("limit") {
            Some(l) => l
                .parse::<i64>()
                .map_err(|_| ApiError::BadRequest("limit must be a number".into()))?,
            None => default,
        };
        Ok(limit.clamp(1, max))
    }

    /// The `cursor` query parameter of a paged list (`nextCursor` of the previous page).
    pub fn cursor(&self) -> ApiResult<Option<Cursor>> {
        self.query_param("cursor")
            .filter(|c| !c.is_empty())
            .map(|c| {
                Cursor::decode(&c).ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))
            })
            .transpose()
    }

    /// Whether the body is declared as `mime` (`type/subtype`, parameters ignored).
    pub fn body_is(&self, mime: &str) -> bool {
        self.header(header::CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
    }

    /// Reads an HTML form body (`application/x-www-form-urlencoded`) as its decoded pairs, with
    /// the JSON size limit.
    pub async fn form(&mut self) -> ApiResult<Vec<(String, String)>> {
        if !self.body_is(FORM) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = self.read_body(self.max_json_bytes).await?;
        Ok(form_urlencoded::parse(&bytes).into_owned().collect())
    }

    /// Reads a small body whole (an XML request), with the JSON size limit.
    pub async fn small_body(&mut self) -> ApiResult<Bytes> {
        self.read_body(self.max_json_bytes).await
    }

    /// Whether the request says it carries a body.
    pub fn has_body(&self) -> bool {
        self.parts.headers.contains_key(header::TRANSFER_ENCODING)
            || self
                .header(header::CONTENT_LENGTH)
                .is_some_and(|n| n.trim() != "0")
    }

    /// Reads the body as JSON of type `T`, enforcing the content type and the size limit.
    pub async fn json<T: DeserializeOwned>(&mut self) -> ApiResult<T> {
        let content_type = self.header(header::CONTENT_TYPE).unwrap_or("");
        if !content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = self.read_body(self.max_json_bytes).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::InvalidJson(format!("invalid JSON body: {e}")))
    }

    /// Reads the whole body, refusing more than `limit` bytes. A moderately oversized body is
    /// read to its end and discarded before the 413 goes out, so the client sees the answer
    /// instead of a reset connection; a huge one is cut off at once.
    async fn read_body(&mut self, limit: u64) -> ApiResult<Bytes> {
        let declared = self
            .header(header::CONTENT_LENGTH)
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = self.take_body()?;
        if declared.is_some_and(|n| n > limit) {
            if declared.is_some_and(|n| n <= DRAIN_LIMIT) {
                body.drain().await;
            }
            return Err(ApiError::PayloadTooLarge(limit));
        }
        let mut buf = BytesMut::new();
        while let Some(data) = body.next().await {
            let data = data.map_err(|e| {
                ApiError::BadRequest(format!("could not read the request body: {e}"))
            })?;
            buf.extend_from_slice(&data);
            if buf.len() as u64 > limit {
                body.drain().await;
                return Err(ApiError::PayloadTooLarge(limit));
            }
        }
        Ok(buf.freeze())
    }
}

/// The content type of an HTML form post.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Bodies up to this size are drained after a 413; larger ones get the connection closed.
const DRAIN_LIMIT: u64 = 8 << 20;
/// Longest time spent draining an oversized body.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// A request body read as its data chunks (trailers are skipped), the one way every handler
/// reads a body. A read error is an `io::Error`, so domain code can take it as a plain stream.
pub struct BodyReader(BodyDataStream<Incoming>);

impl Stream for BodyReader {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|chunk| chunk.map(|r| r.map_err(std::io::Error::other)))
    }
}

impl BodyReader {
    /// Reads and discards what is left of a refused body, up to [`DRAIN_LIMIT`] bytes and
    /// [`DRAIN_TIME`]. Closing a connection with unread bytes makes the kernel send a reset
    /// that can overtake the error response, so the client would see "connection reset"
    /// instead of the 413.
    pub async fn drain(mut self) {
        let discard = async {
            let mut seen = 0u64;
            while let Some(Ok(data)) = self.next().await {
                seen += data.len() as u64;
                if seen > DRAIN_LIMIT {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
    }
}
