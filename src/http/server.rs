//! The server loop: accept connections, give each request an id, parse its route, run the access
//! check and the handler under a time limit, render errors, log, and on shutdown stop accepting
//! and drain in-flight requests within a grace period.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::error::ApiError;
use super::request::Ctx;
use super::response::{self, Body};
use super::routes::Route;
use crate::api::state::ApiState;

/// Time allowed for a client to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the API on `listener` until `shutdown` turns true, then drains connections.
pub async fn serve(app: Arc<ApiState>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let idle = Duration::from_secs(app.config.idle_timeout_secs);
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let last_request = Arc::new(Mutex::new(Instant::now()));
        let service = service_fn({
            let (app, last_request) = (app.clone(), last_request.clone());
            move |req| {
                *last_request.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                handle(app.clone(), req, peer)
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let mut stop = shutdown.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    done = conn.as_mut() => {
                        if let Err(e) = done {
                            tracing::debug!("connection from {peer}: {e}");
                        }
                        return;
                    }
                    // Shutdown, or no request for a while (HTTP/2 keeps connections open
                    // otherwise): finish what is in flight, then close.
                    () = stopped(&mut stop), if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    () = idle_for(&last_request, idle), if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        });
    }
    drop(listener);
    let grace = Duration::from_secs(app.config.shutdown_grace_secs);
    tracing::info!("stopped accepting; draining in-flight requests (up to {grace:?})");
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period over; closing remaining connections");
        connections.abort_all();
    }
}

/// Resolves once no request has arrived for `idle` since the last one.
async fn idle_for(last_request: &Mutex<Instant>, idle: Duration) {
    loop {
        let last = *last_request.lock().unwrap_or_else(|p| p.into_inner());
        let quiet = last.elapsed();
        if quiet >= idle {
            return;
        }
        tokio::time::sleep(idle - quiet).await;
    }
}

/// Resolves once shutdown has been asked for.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Handles one request end to end; never fails at the HTTP level.
async fn handle(
    app: Arc<ApiState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let request_id = request_id(req.headers());
    let client_ip = client_ip(&app, req.headers(), peer.ip());
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    if let Some(web) = &app.web
        && !crate::web::is_api_path(&path)
    {
        let res = web.forward(req, peer.ip()).await;
        log_access(&request_id, client_ip, &method, &path, "web", &res, started);
        return Ok(res);
    }
    let (parts, body) = req.into_parts();
    let mut ctx = Ctx::new(
        parts,
        body,
        client_ip,
        request_id.clone(),
        app.config.max_json_bytes,
    );

    if crate::api::dav::owns(&path) {
        let result = crate::api::dav::handle(&app, &mut ctx).await;
        return Ok(finish(
            result,
            &request_id,
            client_ip,
            &method,
            &path,
            "dav",
            started,
        ));
    }
    let route = Route::parse(&method, &path);
    let name = route.as_ref().map(|r| r.name()).unwrap_or("-");
    let result = match route {
        Ok(route) => {
            let route_streams = route.is_streaming();
            let limit = Duration::from_secs(app.config.request_timeout_secs);
            let upload = route.is_upload();
            if !upload && !method.is_safe() {
                // Whatever else changes state must work on a full disk (signing in, trash, purge).
                app.disk.make_room();
            }
            let work = async {
                super::origin::check(&ctx, &method, &route, &app.config.public_url)?;
                super::access::authorize(&app, &mut ctx, &route).await?;
                // A body over the size limit gets its 413 from the handler instead.
                let incoming = ctx.declared_upload_bytes();
                if upload
                    && incoming <= app.config.max_upload_bytes
                    && let Err(full) = app.disk.admit_upload(incoming)
                {
                    if let Ok(body) = ctx.take_body() {
                        body.drain().await;
                    }
                    return Err(ApiError::InsufficientStorage(full));
                }
                crate::api::dispatch(&app, &mut ctx, route).await
            };
            if route_streams {
                work.await
            } else {
                tokio::time::timeout(limit, work)
                    .await
                    .unwrap_or(Err(ApiError::Timeout))
            }
        }
        Err(e) => Err(e),
    };
    Ok(finish(
        result,
        &request_id,
        client_ip,
        &method,
        &path,
        name,
        started,
    ))
}

/// The response for a handler's result: errors rendered (and logged when they are the
/// server's), the request id and the standard headers set, the access logged.
fn finish(
    result: Result<Response<Body>, ApiError>,
    request_id: &str,
    client_ip: IpAddr,
    method: &http::Method,
    path: &str,
    name: &str,
    started: Instant,
) -> Response<Body> {
    let mut res = result.unwrap_or_else(|err| {
        match &err {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                tracing::error!(request_id = %request_id, route = name, "{detail}");
            }
            _ => {}
        }
        response::error(&err)
    });
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", v);
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    log_access(request_id, client_ip, method, path, name, &res, started);
    res
}

/// One access log line: the request, the route that answered (`web` for the web UI) and the
/// time until the response head.
fn log_access(
    request_id: &str,
    client: IpAddr,
    method: &http::Method,
    path: &str,
    route: &str,
    res: &Response<Body>,
    started: Instant,
) {
    tracing::info!(
        target: "alcoves::access",
        request_id,
        client = %client,
        "{method} {} {route} {} {}ms",
        without_secrets(path),
        res.status().as_u16(),
        started.elapsed().as_millis()
    );
}

/// Paths whose next segment is a secret (share links, invite links).
const SECRET_PREFIXES: [&str; 4] = ["/api/share/", "/s/", "/api/invites/", "/invite/"];

/// `path` with the secret segment of a share or invite link replaced, for logs.
fn without_secrets(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in SECRET_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map_or("", |at| &rest[at..]);
            return format!("{prefix}[redacted]{tail}").into();
        }
    }
    path.into()
}

/// The client's `X-Request-Id` when it is short and plain, else a new one.
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// The peer address, or the last outside `X-Forwarded-For` entry behind a trusted proxy or
/// from loopback (our own web server rendering a page for a visitor: the front door stripped
/// what the client sent, unless a proxy is trusted, and appended the address it saw).
fn client_ip(app: &ApiState, headers: &http::HeaderMap, peer: IpAddr) -> IpAddr {
    if !app.config.trust_proxy && !peer.is_loopback() {
        return peer;
    }
    // The proxy appends the address it saw; entries to its left are whatever the client sent.
    // Proxies on this machine (loopback) may add themselves after it.
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|v| v.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|ip| !ip.is_loopback())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_secrets_never_reach_the_log() {
        assert_eq!(
            without_secrets("/api/share/abc/files/x/original"),
            "/api/share/[redacted]/files/x/original"
        );
        assert_eq!(without_secrets("/s/abc"), "/s/[redacted]");
        assert_eq!(
            without_secrets("/api/invites/abc/accept"),
            "/api/invites/[redacted]/accept"
        );
        assert_eq!(without_secrets("/api/libraries"), "/api/libraries");
    }
}
