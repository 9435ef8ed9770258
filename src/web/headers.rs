//! Security headers on the web UI's answers, added by the front door: a strict Content Security
//! Policy whose only inline scripts are the ones in the page itself (allowed by their SHA-256,
//! computed here for each HTML answer, since Nuxt's boot scripts are inline), no framing by any
//! other page, no MIME sniffing, referrers kept on this origin (none from share pages), no
//! `X-Powered-By`, and HTML never cached.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::http::response::{self, Body};

/// Largest HTML answer read whole to hash its inline scripts; larger ones get no inline script.
const MAX_HTML_BYTES: usize = 4 << 20;

/// Inline scripts the web UI adds itself while it starts, by their SHA-256: Nuxt UI's
/// `document.head.removeChild(document.querySelector('[data-nuxt-ui-colors]'))`, which drops the
/// colour style of a page rendered in the browser. (The e2e fails on any script refused.)
const RUNTIME_SCRIPTS: [&str; 1] = ["tYCcUbFfjZ9QESuTWESGWrFg2SmiEdyD2MYUfRWUgK0="];

/// The policy without its pictures' sources and script hashes.
const POLICY: &str = "default-src 'self'; media-src 'self' blob:; \
     style-src 'self' 'unsafe-inline'; font-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Adds the headers to `res`, answering the web UI path `path`; `tiles` is the origin of the
/// map's tile server, when one is configured (pictures may come from there too).
pub async fn secure(res: Response<Body>, path: &str, tiles: Option<&str>) -> Response<Body> {
    let (mut parts, body) = res.into_parts();
    let headers = &mut parts.headers;
    headers.remove("x-powered-by");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    let referrer = if is_share_page(path) {
        "no-referrer"
    } else {
        "same-origin"
    };
    set(headers, header::REFERRER_POLICY, referrer);
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        set_policy(headers, tiles, &[]);
        return Response::from_parts(parts, body);
    }
    set(headers, header::CACHE_CONTROL, "no-store");
    // Compressed pages would need decoding first; Nitro sends plain HTML to the front door.
    let plain = !headers.contains_key(header::CONTENT_ENCODING);
    let bytes = match http_body_util::Limited::new(body, MAX_HTML_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::warn!("web UI page {path} could not be read: {e}");
            set_policy(headers, tiles, &[]);
            return Response::from_parts(parts, response::full(Bytes::new()));
        }
    };
    let hashes = if plain {
        inline_script_hashes(&bytes)
    } else {
        Vec::new()
    };
    set_policy(headers, tiles, &hashes);
    headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, response::full(bytes))
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}

fn set_policy(headers: &mut HeaderMap, tiles: Option<&str>, script_hashes: &[String]) {
    let mut images = String::from("img-src 'self' data: blob:");
    if let Some(origin) = tiles {
        images.push(' ');
        images.push_str(origin);
    }
    let mut scripts = String::from("script-src 'self'");
    let runtime = RUNTIME_SCRIPTS.iter().map(|h| h.to_string());
    for hash in script_hashes.iter().cloned().chain(runtime) {
        scripts.push_str(&format!(" 'sha256-{hash}'"));
    }
    let policy = format!("{POLICY}; {images}; {scripts}");
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Share and invite pages are read by people outside the household (their paths hold the
/// link's secret): links out tell no one where from.
fn is_share_page(path: &str) -> bool {
    path == "/s" || path.starts_with("/s/") || path.starts_with("/invite/")
}

/// Base64 SHA-256 of every inline `<script>` (one without `src`) of an HTML page.
fn inline_script_hashes(html: &[u8]) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = find(rest, b"<script") {
        let after_tag = &rest[start + b"<script".len()..];
        let Some(tag_end) = after_tag.iter().position(|&b| b == b'>') else {
            break;
        };
        let attributes = after_tag[..tag_end].to_ascii_lowercase();
        let content = &after_tag[tag_end + 1..];
        let Some(end) = find(content, b"</script") else {
            break;
        };
        let has_src = find(&attributes, b" src=").is_some();
        if !has_src {
            let digest = Sha256::digest(&content[..end]);
            hashes.push(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        rest = &content[end..];
    }
    hashes.sort();
    hashes.dedup();
    hashes
}

/// Position of `needle` in `haystack`, ASCII case-insensitive.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let page = b"<html><head><script type=\"module\" src=\"/_nuxt/e.js\"></script>\
            <SCRIPT>window.__NUXT__={}</SCRIPT><script id=\"x\">a()</script></head></html>";
        let hashes = inline_script_hashes(page);
        let expect = |s: &str| {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
        };
        let mut wanted = vec![expect("window.__NUXT__={}"), expect("a()")];
        wanted.sort();
        assert_eq!(hashes, wanted);
    }

    #[test]
    fn pictures_come_from_here_or_the_configured_tile_server_only() {
        let policy = |tiles| {
            let mut headers = HeaderMap::new();
            set_policy(&mut headers, tiles, &[]);
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert!(policy(None).contains("img-src 'self' data: blob:;"));
        let with_tiles = policy(Some("https://tiles.example"));
        assert!(with_tiles.contains("img-src 'self' data: blob: https://tiles.example;"));
        assert!(with_tiles.contains("connect-src 'self';"), "{with_tiles}");
    }
}
