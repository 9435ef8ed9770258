//! `GET /api/ws`: a WebSocket that pushes each new activity and each job change (status,
//! progress) of the libraries the user can read (checked again every few seconds, so leaving a
//! library stops its events). One poller per process reads the durable log and the job rows
//! for every socket and hands each new change to them all; each socket keeps its user's. It
//! works the same with several API processes; clients poll the feed as a fallback.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::state::ApiState;
use crate::activity::{self, Activity};
use crate::app::App;
use crate::db::now_ms;
use crate::http::error::{ApiError, ApiResult};
use crate::http::request::Ctx;
use crate::http::response::{self, Body};
use crate::jobs::store::{self, JobState};
use crate::jobs::{JobKind, JobStatus};
use crate::libraries::members;
use crate::sessions::Credential;

/// How often the log is read for new events.
const POLL: Duration = Duration::from_millis(300);
/// How often the socket checks that its session or token still signs the user in (sign-out,
/// revocation and password changes close it).
const RECHECK_CREDENTIAL: Duration = Duration::from_secs(2);
/// Events are looked for this far back each time, so one committed late is still sent (once).
const LOOKBACK_MS: i64 = 5_000;

/// Live sockets one user may hold open at once (tabs, phones); more get 429.
pub const MAX_SOCKETS_PER_USER: usize = 8;

/// Open sockets per user in this process.
type SocketCounts = Arc<std::sync::Mutex<HashMap<String, usize>>>;

/// One open socket of a user, counted until dropped.
struct OpenSocket {
    counts: SocketCounts,
    user: String,
}

impl OpenSocket {
    /// Counts a new socket of `user`, unless they hold [`MAX_SOCKETS_PER_USER`] already.
    fn open(counts: &SocketCounts, user: &str) -> Option<OpenSocket> {
        let mut open = counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(user.to_owned()).or_default();
        if *count >= MAX_SOCKETS_PER_USER {
            return None;
        }
        *count += 1;
        Some(OpenSocket {
            counts: counts.clone(),
            user: user.to_owned(),
        })
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        let mut open = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Answers the upgrade and starts pushing events.
pub async fn websocket(app: &Arc<ApiState>, ctx: &mut Ctx) -> ApiResult<Response<Body>> {
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
    let caller = ctx.caller()?;
    let (user, credential) = (caller.user.id.clone(), caller.credential.clone());
    let slot = OpenSocket::open(&app.live.sockets, &user).ok_or(ApiError::TooManyRequests(5))?;
    let app = app.clone();
    tokio::spawn(async move {
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                push(&app, &user, &credential, ws).await;
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

async fn push(
    app: &ApiState,
    user: &str,
    credential: &Credential,
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
) {
    let (mut sink, mut source) = ws.split();
    let mut changes = app.live.subscribe(&app.app);
    let mut libraries = match app.db.conn().await {
        Ok(mut conn) => members::libraries_of(&mut conn, user)
            .await
            .unwrap_or_default(),
        Err(_) => HashSet::new(),
    };
    let mut recheck = tokio::time::interval(RECHECK_CREDENTIAL);
    loop {
        tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = recheck.tick() => {
                let Ok(mut conn) = app.db.conn().await else { continue };
                if matches!(credential.is_live(&mut conn).await, Ok(false)) {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                if let Ok(mine) = members::libraries_of(&mut conn, user).await {
                    libraries = mine;
                }
            }
            batch = changes.recv() => {
                let batch = match batch {
                    Ok(batch) => batch,
                    // Too slow to keep up: the client's feed polling covers what was skipped.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                for change in batch.iter().filter(|c| libraries.contains(c.library_id())) {
                    if sink.send(Message::text(change.message().to_string())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// One change the live feed hands to sockets.
#[derive(Debug)]
enum Change {
    Activity(Activity),
    Job(String, JobState),
}

impl Change {
    fn library_id(&self) -> &str {
        match self {
            Change::Activity(a) => &a.library_id,
            Change::Job(library, _) => library,
        }
    }

    fn message(&self) -> serde_json::Value {
        match self {
            Change::Activity(activity) => json!({ "type": "activity", "activity": activity }),
            Change::Job(library, job) => {
                json!({ "type": "job", "libraryId": library, "job": job })
            }
        }
    }
}

/// The process's one poller of the activity log and the job rows, started with the first
/// socket and polling while any socket listens, and the count of each user's open sockets.
#[derive(Default)]
pub struct LiveFeed {
    sender: std::sync::OnceLock<broadcast::Sender<Arc<Vec<Change>>>>,
    sockets: SocketCounts,
}

impl LiveFeed {
    /// The changes from now on (starting the poller the first time).
    fn subscribe(&self, app: &Arc<App>) -> broadcast::Receiver<Arc<Vec<Change>>> {
        self.sender
            .get_or_init(|| {
                let (sender, _) = broadcast::channel(64);
                tokio::spawn(poll(Arc::downgrade(app), sender.clone()));
                sender
            })
            .subscribe()
    }
}

/// Reads new changes every [`POLL`] while a socket listens, until the app is dropped.
async fn poll(app: std::sync::Weak<App>, sender: broadcast::Sender<Arc<Vec<Change>>>) {
    let now = now_ms();
    let (mut activities, mut jobs) = (Sent::new(now), Sent::new(now));
    let mut tick = tokio::time::interval(POLL);
    // What already happened before the first socket connected is not news.
    let mut first = true;
    loop {
        tick.tick().await;
        let Some(app) = app.upgrade() else { return };
        if sender.receiver_count() == 0 && !first {
            continue;
        }
        let Ok(mut conn) = app.db.conn().await else {
            continue;
        };
        let events = activity::recent_all(&mut conn, activities.window())
            .await
            .unwrap_or_default();
        let changed = store::changed_all(&mut conn, jobs.window())
            .await
            .unwrap_or_default();
        drop(conn);
        if std::mem::take(&mut first) {
            for event in &events {
                activities.is_new(event.id.clone(), event.created_at);
            }
            for (_, job) in &changed {
                jobs.is_new(JobChangeKey::of(job), job.updated_at);
            }
            continue;
        }
        let mut batch = Vec::new();
        for event in events {
            if activities.is_new(event.id.clone(), event.created_at) {
                batch.push(Change::Activity(event));
            }
        }
        for (library_id, job) in changed {
            if jobs.is_new(JobChangeKey::of(&job), job.updated_at) {
                batch.push(Change::Job(library_id, job));
            }
        }
        activities.forget_old();
        jobs.forget_old();
        if !batch.is_empty() {
            let _ = sender.send(Arc::new(batch));
        }
    }
}

/// One state of a job row: two writes in the same millisecond still differ.
#[derive(PartialEq, Eq, Hash)]
struct JobChangeKey {
    file_id: String,
    kind: JobKind,
    updated_at: i64,
    status: JobStatus,
    progress: i32,
    version: i32,
}

impl JobChangeKey {
    fn of(job: &JobState) -> Self {
        JobChangeKey {
            file_id: job.file_id.clone(),
            kind: job.kind,
            updated_at: job.updated_at,
            status: job.status,
            progress: job.progress,
            version: job.version,
        }
    }
}

/// What was already pushed of one kind of change, so that re-reading a look-back window sends
/// each change once.
struct Sent<K> {
    /// Time of the newest change pushed (or of connecting).
    latest: i64,
    pushed: HashMap<K, i64>,
}

impl<K: Hash + Eq> Sent<K> {
    fn new(now: i64) -> Self {
        Sent {
            latest: now,
            pushed: HashMap::new(),
        }
    }

    /// Where the next read starts: a little before the newest change, so one committed late
    /// is still seen.
    fn window(&self) -> i64 {
        self.latest - LOOKBACK_MS
    }

    /// Records the change `key` made at `at`; true if it was not pushed before.
    fn is_new(&mut self, key: K, at: i64) -> bool {
        if self.pushed.contains_key(&key) {
            return false;
        }
        self.latest = self.latest.max(at);
        self.pushed.insert(key, at);
        true
    }

    /// Drops what no later window can contain.
    fn forget_old(&mut self) {
        let horizon = self.window() - LOOKBACK_MS;
        self.pushed.retain(|_, at| *at > horizon);
    }
}
