//! Building responses: JSON bodies, empty bodies and the error rendering (the one place an
//! [`ApiError`] becomes HTTP).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use serde::Serialize;

use super::error::ApiError;

/// Response body type of every handler.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The full-buffer body of `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON response.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut res = Response::new(full(bytes));
            *res.status_mut() = status;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        Err(e) => error(&ApiError::Internal(format!("serialize response: {e}"))),
    }
}

/// `200 OK` with a JSON body.
pub fn ok<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    json(StatusCode::OK, value)
}

/// `201 Created` with a JSON body.
pub fn created<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    json(StatusCode::CREATED, value)
}

/// A response with no body.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(full(Bytes::new()));
    *res.status_mut() = status;
    res
}

/// `204 No Content`.
pub fn no_content() -> Response<Body> {
    empty(StatusCode::NO_CONTENT)
}

/// Adds a `Set-Cookie` header.
pub fn with_cookie(mut res: Response<Body>, set_cookie: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(set_cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The body of every error answer.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody<'a> {
    /// Stable, for programs: `not_found`, `invalid_json`, ...
    pub code: &'a str,
    /// For people.
    pub message: String,
}

/// Renders an error as `{code, message}` with its status and the headers it implies.
pub fn error(err: &ApiError) -> Response<Body> {
    let body = serde_json::to_vec(&ErrorBody {
        code: err.code(),
        message: err.message(),
    })
    .unwrap_or_else(|_| b"{\"code\":\"internal\",\"message\":\"internal error\"}".to_vec());
    let mut res = Response::new(full(body));
    *res.status_mut() = err.status();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    match err {
        ApiError::MethodNotAllowed(methods) => {
            let allow = methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(v) = HeaderValue::from_str(&allow) {
                headers.insert(header::ALLOW, v);
            }
        }
        ApiError::TooManyRequests(secs) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        // A busy pool or a backing service that blinked: worth a retry soon.
        ApiError::Unavailable(_) | ApiError::Timeout => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(2));
        }
        ApiError::Precondition("tus_version", _) => {
            headers.insert(
                "tus-version",
                HeaderValue::from_static(crate::api::tus::VERSION),
            );
        }
        ApiError::RangeNotSatisfiable(size) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
        }
        ApiError::Unauthorized => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    res
}
