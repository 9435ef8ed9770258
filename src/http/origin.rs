//! The cross-site request check, run before the access check: a page on another site (another
//! port of the NAS counts: it is the same *site*, so `SameSite` cookies do not help) must not
//! change anything with the visitor's session cookie, nor open the live WebSocket.
//!
//! A state-changing request (any method but GET, HEAD and OPTIONS) and the WebSocket handshake
//! pass when the browser says the request is its own (`Sec-Fetch-Site: same-origin` or `none`),
//! when `Origin` is the public URL's or the request's own host, when no browser headers are
//! present at all (command-line clients), or when a Bearer token authenticates it (a page
//! cannot attach one without a CORS preflight, which is never granted).

use http::{Method, header};

use super::error::{ApiError, ApiResult};
use super::request::Ctx;
use super::routes::Route;

/// Refuses a cross-site state change or WebSocket with 403 `cross_site_request`.
pub fn check(ctx: &Ctx, method: &Method, route: &Route, public_url: &str) -> ApiResult<()> {
    let guarded = !method.is_safe() || matches!(route, Route::LiveEvents { .. });
    if !guarded || ctx.header(header::AUTHORIZATION).is_some() {
        return Ok(());
    }
    check_site(ctx, public_url)
}

/// Refuses a request a browser says comes from another site (or another port of this host),
/// whatever its credentials: WebDAV's Basic credentials are sent by the browser by itself.
pub fn check_site(ctx: &Ctx, public_url: &str) -> ApiResult<()> {
    let origin = ctx.header(header::ORIGIN);
    let own_origin = origin.is_some_and(|o| same_origin(o, public_url, ctx.header(header::HOST)));
    let allowed = match ctx.header(header::HeaderName::from_static("sec-fetch-site")) {
        Some("same-origin" | "none") => true,
        Some(_) => own_origin,
        None => origin.is_none() || own_origin,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Denied(
            "cross_site_request",
            "refused: the request comes from another site".into(),
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) is the public URL's origin or the request's host.
fn same_origin(origin: &str, public_url: &str, host: Option<&str>) -> bool {
    let origin = origin.trim_end_matches('/');
    if origin.eq_ignore_ascii_case(origin_of(public_url)) {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    origin.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
    })
}

/// The `scheme://host[:port]` part of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_the_public_url_or_the_request_s_host() {
        assert_eq!(
            origin_of("https://photos.example/app/"),
            "https://photos.example"
        );
        assert_eq!(origin_of("http://127.0.0.1:3001"), "http://127.0.0.1:3001");
        let public = "https://photos.example/";
        assert!(same_origin("https://photos.example", public, None));
        assert!(same_origin("http://nas:3001", public, Some("nas:3001")));
        assert!(!same_origin("http://nas:5000", public, Some("nas:3001")));
        assert!(!same_origin("null", public, Some("nas:3001")));
        assert!(!same_origin("https://photos.example.evil", public, None));
    }
}
