//! Test harness: a real server on an ephemeral port against a fresh SQLite file or a fresh
//! PostgreSQL database, and a small JSON client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alcoves::app::App;
use alcoves::config::Config;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::Value;
use tokio::sync::watch;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `on_both_backends!(name, …)` makes
/// `name::sqlite` and `name::postgres` from `async fn name(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

/// A TCP port free on loopback right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private `redis-server` without persistence, so a restart loses everything it held.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again, empty) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--dir", "/tmp"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/install-deps)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every regular file under `dir` except scratch locks: (path, length).
pub fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if path.file_name().is_some_and(|n| n != ".lock") {
            found.push((path.clone(), entry.metadata().unwrap().len()));
        }
    }
    found
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("alcoves-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pg_admin_url() -> String {
    std::env::var("ALCOVES_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A PostgreSQL database created for one test and dropped after it.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let name = format!("alcoves_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", pg_admin_url()))
            .await
            .expect("PostgreSQL must be running for the tests (see README)");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!("{}/{name}", pg_admin_url());
        PgDatabase { name, url }
    }

    pub async fn drop_now(&self) {
        if let Ok(mut admin) =
            AsyncPgConnection::establish(&format!("{}/postgres", pg_admin_url())).await
        {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

/// Where a test's data lives: a data dir and, for PostgreSQL, a database.
pub struct Store {
    pub dir: TempDir,
    pub pg: Option<PgDatabase>,
}

impl Store {
    pub async fn new(backend: Backend) -> Store {
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create().await),
        };
        Store {
            dir: TempDir::new(),
            pg,
        }
    }

    /// The configuration for a server on this store.
    pub fn config(&self) -> Config {
        let mut config = Config::defaults_in(self.dir.path());
        config.database_url = self.pg.as_ref().map(|p| p.url.clone());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config
    }

    /// Environment for running the real binary on this store.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("ALCOVES_DATA_DIR", self.dir.path().display().to_string())];
        if let Some(pg) = &self.pg {
            env.push(("ALCOVES_DATABASE_URL", pg.url.clone()));
        }
        env
    }

    pub async fn cleanup(self) {
        if let Some(pg) = &self.pg {
            pg.drop_now().await;
        }
    }
}

/// A response: status, headers and the body parsed as JSON (`Null` when empty or not JSON).
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Resp {
    /// The `Set-Cookie` pair (`name=value`) the server sent, if any.
    pub fn cookie(&self) -> Option<String> {
        let header = self.headers.get("set-cookie")?.to_str().ok()?;
        Some(header.split(';').next()?.to_owned())
    }

    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
}

/// A server running in this process.
pub struct TestServer {
    pub base: String,
    pub store: Store,
    /// The server's application context, for driving it in-process.
    pub app: Arc<App>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let store = Store::new(backend).await;
        let mut config = store.config();
        config.job_poll_ms = 100;
        config.job_retry_base_ms = 50;
        tweak(&mut config);
        let app = Arc::new(App::open(config).await.expect("app opens"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stop_rx) = watch::channel(false);
        let handle = app.clone();
        tokio::spawn(alcoves::import::watch::run(app.clone(), stop_rx.clone()));
        let workers = tokio::spawn(alcoves::pipeline::worker::run(app.clone(), stop_rx.clone()));
        let api = alcoves::api::state::ApiState::open(app).expect("API state");
        let task = tokio::spawn(async move {
            alcoves::http::server::serve(api, listener, stop_rx).await;
            let _ = workers.await;
        });
        TestServer {
            base,
            store,
            app: handle,
            stop,
            task,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request. `who` is "" (anonymous), "Bearer …" (a token) or a cookie pair.
    pub async fn call(&self, method: &str, path: &str, who: &str, body: Option<Value>) -> Resp {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.raw(req, who).await
    }

    /// Sends a prepared request as `who` (see [`TestServer::call`]).
    pub async fn raw(&self, mut req: reqwest::RequestBuilder, who: &str) -> Resp {
        if let Some(token) = who.strip_prefix("Bearer ") {
            req = req.bearer_auth(token);
        } else if !who.is_empty() {
            req = req.header("cookie", who);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
        }
    }

    pub async fn get(&self, path: &str, who: &str) -> Resp {
        self.call("GET", path, who, None).await
    }

    pub async fn post(&self, path: &str, who: &str, body: Value) -> Resp {
        self.call("POST", path, who, Some(body)).await
    }

    /// Tries to sign in.
    pub async fn login(&self, username: &str, password: &str) -> Resp {
        let body = serde_json::json!({ "username": username, "password": password });
        self.post("/api/_auth/login", "", body).await
    }

    /// Tries to register with this body.
    pub async fn try_register(&self, body: Value) -> Resp {
        self.post("/api/_auth/register", "", body).await
    }

    /// Registers a user and returns their session cookie and user id.
    pub async fn register(&self, username: &str, invite: Option<&str>) -> (String, String) {
        let res = self
            .post(
                "/api/_auth/register",
                "",
                serde_json::json!({ "username": username, "password": PASSWORD, "inviteToken": invite }),
            )
            .await;
        assert_eq!(res.status, 201, "register {username}: {}", res.json);
        (
            res.cookie().expect("session cookie"),
            res.json["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates an invite link for a library and returns its token.
    pub async fn invite(&self, library: &str, who: &str, role: &str) -> String {
        let res = self
            .post(
                &format!("/api/libraries/{library}/invites"),
                who,
                serde_json::json!({ "role": role }),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        res.json["token"].as_str().unwrap().to_owned()
    }

    /// Creates a library and returns its id.
    pub async fn library(&self, who: &str, name: &str) -> String {
        let res = self
            .post("/api/libraries", who, serde_json::json!({ "name": name }))
            .await;
        assert_eq!(res.status, 201, "{}", res.json);
        res.json["id"].as_str().unwrap().to_owned()
    }

    /// Stops the server (draining) and removes its data.
    pub async fn stop(self) {
        self.halt().await.cleanup().await;
    }

    /// Stops the server, letting running jobs finish, and hands back its store to look at.
    pub async fn halt(self) -> Store {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.store
    }
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";
