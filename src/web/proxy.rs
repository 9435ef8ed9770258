//! Forwards a request to the web UI's Nitro server and streams the answer back, WebSocket
//! (and any other HTTP/1.1) upgrades included.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, Version, header,
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::http::response::{self, Body};

/// Headers that describe one hop of a connection and are never forwarded as they are.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Idle connections to Nitro are dropped before Node's 5 s keep-alive timeout would close them
/// under a request.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// Headers about earlier hops that only a trusted reverse proxy may set.
const FORWARDED: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// A pooled HTTP/1.1 client for the Nitro server at one address.
pub struct WebProxy {
    upstream: SocketAddr,
    client: Client<HttpConnector, Incoming>,
    secure: bool,
    trust_proxy: bool,
    head_timeout: Duration,
    /// The map's tile server's origin, allowed as a source of pictures.
    tiles: Option<String>,
}

impl WebProxy {
    /// A proxy to `upstream`; `secure` says the public URL is `https` (for `X-Forwarded-Proto`),
    /// `trust_proxy` that the `X-Forwarded-*` headers of incoming requests are kept,
    /// `head_timeout` how long Nitro may take to start answering (the body then streams freely),
    /// and `tiles` the origin of the map's tile server.
    pub fn new(
        upstream: SocketAddr,
        secure: bool,
        trust_proxy: bool,
        head_timeout: Duration,
        tiles: Option<String>,
    ) -> WebProxy {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build_http();
        WebProxy {
            upstream,
            client,
            secure,
            trust_proxy,
            head_timeout,
            tiles,
        }
    }

    /// Forwards `req`, which came from `peer`; a Nitro server that is down or starting gives
    /// a 503.
    pub async fn forward(&self, mut req: Request<Incoming>, peer: IpAddr) -> Response<Body> {
        let upgrade = upgrade_protocol(req.headers());
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        // HTTP/2 clients name the host in the URI, not in a header; Nitro speaks HTTP/1.1.
        if !parts.headers.contains_key(header::HOST)
            && let Some(host) = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            parts.headers.insert(header::HOST, host);
        }
        parts.version = Version::HTTP_11;
        let page = parts.uri.path().to_owned();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = match Uri::try_from(format!("http://{}{path}", self.upstream)) {
            Ok(uri) => uri,
            Err(_) => return response::empty(StatusCode::BAD_REQUEST),
        };
        self.prepare_headers(&mut parts.headers, peer, upgrade.as_ref());

        let request = self.client.request(Request::from_parts(parts, body));
        let mut res = match tokio::time::timeout(self.head_timeout, request).await {
            Ok(Ok(res)) => res,
            Ok(Err(e)) => {
                tracing::warn!("web UI at {} did not answer: {e}", self.upstream);
                return unavailable();
            }
            Err(_) => {
                tracing::warn!(
                    "web UI at {} took over {:?} to answer",
                    self.upstream,
                    self.head_timeout
                );
                return response::empty(StatusCode::GATEWAY_TIMEOUT);
            }
        };
        if res.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_upgrade) = client_upgrade
        {
            let upstream_upgrade = hyper::upgrade::on(&mut res);
            tokio::spawn(async move {
                match tokio::try_join!(client_upgrade, upstream_upgrade) {
                    Ok((client, upstream)) => {
                        let (mut client, mut upstream) =
                            (TokioIo::new(client), TokioIo::new(upstream));
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                    Err(e) => tracing::debug!("web UI upgrade failed: {e}"),
                }
            });
            return res.map(|body| body.map_err(std::io::Error::other).boxed_unsync());
        }
        strip_hop_by_hop(res.headers_mut());
        let res = res.map(|body| body.map_err(std::io::Error::other).boxed_unsync());
        super::headers::secure(res, &page, self.tiles.as_deref()).await
    }

    fn prepare_headers(
        &self,
        headers: &mut HeaderMap,
        peer: IpAddr,
        upgrade: Option<&HeaderValue>,
    ) {
        strip_hop_by_hop(headers);
        if !self.trust_proxy {
            for name in FORWARDED {
                headers.remove(name);
            }
        }
        if let Some(protocol) = upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
            headers.insert("x-forwarded-for", v);
        }
        let proto = if self.secure { "https" } else { "http" };
        headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
        if let Some(host) = headers.get(header::HOST).cloned()
            && !headers.contains_key("x-forwarded-host")
        {
            headers.insert("x-forwarded-host", host);
        }
    }
}

/// The comma-separated tokens of the `Connection` headers.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The protocol a request asks to upgrade to, if it does.
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let wants_upgrade =
        connection_tokens(headers).any(|token| token.eq_ignore_ascii_case("upgrade"));
    wants_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Removes the hop-by-hop headers, including any a `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|name| HeaderName::try_from(name).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// The answer while the web UI is down: a small page that reloads itself.
fn unavailable() -> Response<Body> {
    let page = "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=2>\
                <title>Alcoves</title><p>Alcoves is starting its web interface…</p>";
    let mut res = Response::new(response::full(Bytes::from_static(page.as_bytes())));
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[header::COOKIE], "a=b");
    }

    #[test]
    fn upgrade_is_recognised_only_with_connection_upgrade() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(upgrade_protocol(&headers), None);
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert_eq!(upgrade_protocol(&headers).unwrap(), "websocket");
    }
}
