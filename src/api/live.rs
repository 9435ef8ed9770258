//! `GET /api/ws`: a WebSocket that pushes each new activity of the libraries the user can read
//! (checked again on every poll, so leaving a library stops its events). It reads the durable
//! log, so it works the same with several API processes; clients poll the feed as a fallback.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::activity;
use crate::app::App;
use crate::db::now_ms;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};

/// How often the log is read for new events.
const POLL: Duration = Duration::from_millis(300);
/// Events are looked for this far back each time, so one committed late is still sent (once).
const LOOKBACK_MS: i64 = 5_000;

/// Answers the upgrade and starts pushing events.
pub async fn websocket(app: &Arc<App>, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
    let wants_ws = ctx
        .header(header::UPGRADE)
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = ctx.header(header::SEC_WEBSOCKET_KEY).map(str::to_owned);
    let (Some(key), true) = (key, wants_ws) else {
        return Err(ApiError::BadRequest(
            "this endpoint speaks WebSocket only".into(),
        ));
    };
    let on_upgrade = ctx
        .parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| ApiError::BadRequest("the connection cannot be upgraded".into()))?;
    let user = ctx.caller()?.user.id.clone();
    let app = app.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                push(&app, &user, ws).await;
            }
            Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
        }
    });
    let mut res = response::empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = res.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = derive_accept_key(key.as_bytes());
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64"),
    );
    Ok(res)
}

async fn push(app: &App, user: &str, ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) {
    let (mut sink, mut source) = ws.split();
    let mut since = now_ms();
    // What already happened before connecting is not news: only later events are pushed.
    let mut sent: HashMap<String, i64> = match app.db.conn().await {
        Ok(mut conn) => activity::recent_for(&mut conn, user, since - LOOKBACK_MS)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.id, a.created_at))
            .collect(),
        Err(_) => HashMap::new(),
    };
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                let events = match app.db.conn().await {
                    Ok(mut conn) => activity::recent_for(&mut conn, user, since - LOOKBACK_MS).await.unwrap_or_default(),
                    Err(_) => continue,
                };
                for event in events {
                    if sent.contains_key(&event.id) {
                        continue;
                    }
                    let text = serde_json::json!({ "type": "activity", "activity": event }).to_string();
                    if sink.send(Message::text(text)).await.is_err() {
                        return;
                    }
                    since = since.max(event.created_at);
                    sent.insert(event.id, event.created_at);
                }
                sent.retain(|_, at| *at > since - 2 * LOOKBACK_MS);
            }
        }
    }
}
