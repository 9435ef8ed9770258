//! Runs the built Nitro server (`node <web_dir>/server/index.mjs`) as a child process: its output
//! goes to the log, it is restarted with a growing delay when it dies, and it is stopped
//! (SIGTERM, then SIGKILL) when the server shuts down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

use crate::http::server::stopped;

/// Environment variables the Nitro server inherits; everything else is withheld.
const PASSED_ENV: [&str; 6] = ["PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HOME"];
/// First delay before a restart; doubles up to [`MAX_BACKOFF`] while the child keeps dying.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long was healthy: the next restart starts from the first delay.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How long a child gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to start the Nitro server.
#[derive(Debug, Clone)]
pub struct NitroServer {
    /// The node binary.
    pub node: String,
    /// The Nitro entry point, `<web_dir>/server/index.mjs`.
    pub entry: PathBuf,
    /// Where Nitro listens.
    pub listen: SocketAddr,
    /// The API's base URL, for server-side rendering.
    pub api_base: String,
    /// The address people reach Alcoves at, for absolute links in shared pages' previews.
    pub public_url: String,
}

/// The Nitro entry point built into `web_dir`, or an error saying how to build it.
pub fn entry_in(web_dir: &Path) -> Result<PathBuf, String> {
    let entry = web_dir.join("server").join("index.mjs");
    if entry.is_file() {
        Ok(entry)
    } else {
        Err(format!(
            "the web UI is not built: {} is missing (run `npm ci && npm run build` in web-dist-proxy/, \
             or set ALCOVES_WEB=off)",
            entry.display()
        ))
    }
}

impl NitroServer {
    /// The server built into `web_dir`, or an error saying how to build it.
    pub fn in_dir(
        web_dir: &Path,
        node: &str,
        listen: SocketAddr,
        api_base: String,
        public_url: String,
    ) -> Result<NitroServer, String> {
        Ok(NitroServer {
            node: node.to_owned(),
            entry: entry_in(web_dir)?,
            listen,
            api_base,
            public_url,
        })
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let mut command = Command::new(&self.node);
        let parent = std::process::id();
        // SAFETY: prctl(2) and getppid(2) are async-signal-safe. The child gets SIGTERM when
        // the thread that forked it exits: [`run`] forks from a thread of its own that outlives
        // the child, so this fires only if the whole process dies without stopping it (SIGKILL,
        // a crash), and no orphaned Nitro keeps the port.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::other(
                        "the server exited while starting the web UI",
                    ));
                }
                Ok(())
            });
        }
        // Only what Node needs: the server's own settings (the session secret, database and S3
        // credentials) stay out of the child's environment.
        command.env_clear();
        for name in PASSED_ENV {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let mut child = command
            .arg(&self.entry)
            .env("HOST", self.listen.ip().to_string())
            .env("PORT", self.listen.port().to_string())
            .env("NITRO_HOST", self.listen.ip().to_string())
            .env("NITRO_PORT", self.listen.port().to_string())
            .env("NUXT_API_BASE", &self.api_base)
            .env("NUXT_PUBLIC_URL", &self.public_url)
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(log_lines(out, false));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(log_lines(err, true));
        }
        Ok(child)
    }
}

/// Keeps the Nitro server running until `shutdown` turns true, then stops it.
pub async fn run(server: NitroServer, mut shutdown: watch::Receiver<bool>) {
    let forker = Forker::start(server.clone());
    let mut backoff = FIRST_BACKOFF;
    while !*shutdown.borrow() {
        let started = Instant::now();
        match forker.spawn().await {
            Ok(mut child) => {
                tracing::info!(
                    pid = child.id(),
                    "web UI started on http://{}",
                    server.listen
                );
                tokio::select! {
                    status = child.wait() => {
                        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                        tracing::warn!("web UI exited ({status}); restarting");
                    }
                    () = stopped(&mut shutdown) => {
                        stop(&mut child).await;
                        return;
                    }
                }
            }
            Err(e) => tracing::error!("cannot start the web UI with `{}`: {e}", server.node),
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut shutdown) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A thread that forks the Nitro server and lives until [`run`] ends: the kernel ties the
/// child's death signal to the forking thread, and the runtime's threads come and go.
struct Forker {
    requests: std::sync::mpsc::Sender<oneshot::Sender<std::io::Result<Child>>>,
}

impl Forker {
    fn start(server: NitroServer) -> Forker {
        let (requests, incoming) = std::sync::mpsc::channel::<oneshot::Sender<_>>();
        let runtime = tokio::runtime::Handle::current();
        let thread = std::thread::Builder::new()
            .name("web-ui".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                for reply in incoming {
                    let _ = reply.send(server.spawn());
                }
            });
        if let Err(e) = thread {
            tracing::error!("cannot start the web UI's thread: {e}");
        }
        Forker { requests }
    }

    async fn spawn(&self) -> std::io::Result<Child> {
        let (reply, child) = oneshot::channel();
        self.requests
            .send(reply)
            .map_err(|_| std::io::Error::other("the web UI's thread is gone"))?;
        child
            .await
            .map_err(|_| std::io::Error::other("the web UI's thread is gone"))?
    }
}

/// SIGTERM, then SIGKILL if the child is still there after [`STOP_GRACE`].
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    tracing::info!("web UI stopped");
}

async fn log_lines(stream: impl AsyncRead + Unpin, is_stderr: bool) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if is_stderr {
            tracing::warn!(target: "alcoves::web", "{line}");
        } else {
            tracing::info!(target: "alcoves::web", "{line}");
        }
    }
}
