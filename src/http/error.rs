//! The one API error type: every failure a handler or the router can produce, with its HTTP
//! status, a stable machine-readable code and a JSON body `{code, message}`.

use http::StatusCode;

use crate::error::{DISK_FULL, Error};

/// An error returned to an API client.
#[derive(Debug)]
pub enum ApiError {
    /// The request is well-formed but its content is invalid.
    BadRequest(String),
    /// The body is not valid JSON or does not match the expected shape.
    InvalidJson(String),
    /// A path parameter does not parse (e.g. not a UUID).
    InvalidParam(String),
    /// No valid session or token.
    Unauthorized,
    /// Wrong username or password.
    BadCredentials,
    /// Signed in, but the role does not allow this.
    Forbidden,
    /// Refused by policy, with a specific code (e.g. registration closed).
    Denied(&'static str, String),
    /// Nothing here, or nothing this caller may know about.
    NotFound,
    /// It was here and is no more (an expired share link); the text says so.
    Gone(String),
    /// A share link's password is needed first.
    PasswordRequired,
    /// The path exists but not with this method; carries the allowed methods.
    MethodNotAllowed(Vec<http::Method>),
    /// The request conflicts with the current state; carries a specific code.
    Conflict(&'static str, String),
    /// The body is larger than allowed.
    PayloadTooLarge(u64),
    /// A protocol precondition failed (e.g. a tus version header), with a specific code.
    Precondition(&'static str, String),
    /// The requested byte range lies outside the blob of this size.
    RangeNotSatisfiable(u64),
    /// The body has a media type we do not accept.
    UnsupportedMediaType,
    /// The thing exists but is not made yet (a thumbnail or proxy still being processed).
    NotReady(String),
    /// The stored media could not be decoded (corrupt, truncated or over a limit).
    UnprocessableMedia(String),
    /// Too many attempts; retry after this many seconds.
    TooManyRequests(u64),
    /// A dependency (database, queue) is unreachable or timed out.
    Unavailable(String),
    /// The disk (or the database's disk) is full, or too full to take this upload.
    InsufficientStorage(String),
    /// The request took longer than its time limit.
    Timeout,
    /// A bug or unexpected failure; details go to the log, not the client.
    Internal(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidJson(_) | Self::InvalidParam(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized | Self::BadCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Denied(..) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::PasswordRequired => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UnprocessableMedia(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotReady(_) => StatusCode::NOT_FOUND,
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Precondition(..) => StatusCode::PRECONDITION_FAILED,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidParam(_) => "invalid_parameter",
            Self::Unauthorized => "unauthorized",
            Self::BadCredentials => "bad_credentials",
            Self::Forbidden => "forbidden",
            Self::Denied(code, _) => code,
            Self::NotFound => "not_found",
            Self::Gone(_) => "expired",
            Self::PasswordRequired => "password_required",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(code, _) => code,
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnprocessableMedia(_) => "unprocessable_media",
            Self::NotReady(_) => "not_ready",
            Self::RangeNotSatisfiable(_) => "range_not_satisfiable",
            Self::Precondition(code, _) => code,
            Self::TooManyRequests(_) => "too_many_requests",
            Self::Unavailable(_) => "unavailable",
            Self::InsufficientStorage(_) => "insufficient_storage",
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal",
        }
    }

    /// A human-readable message safe to show the client.
    pub fn message(&self) -> String {
        match self {
            Self::BadRequest(m)
            | Self::InvalidJson(m)
            | Self::InvalidParam(m)
            | Self::Conflict(_, m)
            | Self::Denied(_, m)
            | Self::Precondition(_, m)
            | Self::UnprocessableMedia(m)
            | Self::NotReady(m)
            | Self::Gone(m)
            | Self::InsufficientStorage(m) => m.clone(),
            Self::PasswordRequired => "this share needs its password".into(),
            Self::Unauthorized => "sign in first".into(),
            Self::BadCredentials => "wrong username or password".into(),
            Self::Forbidden => "your role does not allow this".into(),
            Self::NotFound => "not found".into(),
            Self::MethodNotAllowed(_) => "method not allowed on this path".into(),
            Self::PayloadTooLarge(limit) => format!("request body is larger than {limit} bytes"),
            Self::UnsupportedMediaType => {
                "expected a JSON body (Content-Type: application/json)".into()
            }
            Self::TooManyRequests(secs) => format!("too many attempts; try again in {secs} s"),
            Self::RangeNotSatisfiable(size) => format!("the range is outside the {size} bytes"),
            Self::Unavailable(_) => "a backing service is unavailable; try again".into(),
            Self::Timeout => "the request took too long".into(),
            Self::Internal(_) => "internal error".into(),
        }
    }
}

/// The status mapping of domain errors: the one place a domain failure becomes HTTP.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::Invalid(m) => ApiError::BadRequest(m),
            Error::Conflict(code, m) => ApiError::Conflict(code, m),
            Error::TooLarge(limit) => ApiError::PayloadTooLarge(limit),
            Error::Unavailable(m) => ApiError::Unavailable(m),
            Error::DiskFull => ApiError::InsufficientStorage(DISK_FULL.into()),
            e @ (Error::Database(_) | Error::Internal(_)) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Error::from(e).into()
    }
}

impl From<crate::db::PoolError> for ApiError {
    fn from(e: crate::db::PoolError) -> Self {
        Error::from(e).into()
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        Error::from(e).into()
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
