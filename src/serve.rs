//! `alcoves serve`: runs the API, the workers or both until SIGTERM/SIGINT, then shuts down
//! gracefully (stop accepting, drain requests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::config::WebMode;
use crate::web::supervisor::{self, NitroServer};

/// Which halves of the system this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The HTTP API and the workers.
    All,
    /// Only the HTTP API.
    Api,
    /// Only the workers.
    Worker,
}

impl Mode {
    fn runs_api(self) -> bool {
        matches!(self, Mode::All | Mode::Api)
    }

    fn runs_workers(self) -> bool {
        matches!(self, Mode::All | Mode::Worker)
    }
}

/// Runs until a shutdown signal arrives.
pub async fn run(app: Arc<App>, mode: Mode) -> Result<(), String> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        crate::service::notify::stopping();
        let _ = stop_tx.send(true);
    });
    tracing::info!(
        mode = ?mode,
        database = app.db.backend().name(),
        queue = app.queue.name(),
        data_dir = %app.config.data_dir.display(),
        "alcoves {} starting",
        crate::app::VERSION
    );
    tokio::spawn(tend_disk(app.clone(), stop_rx.clone()));
    let workers = mode.runs_workers().then(|| {
        tokio::spawn(crate::import::watch::run(app.clone(), stop_rx.clone()));
        tokio::spawn(crate::pipeline::worker::run(app.clone(), stop_rx.clone()))
    });
    if mode.runs_api() {
        let listener = TcpListener::bind(app.config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", app.config.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let web_ui = match app.config.web {
            WebMode::Start => {
                let nitro = NitroServer::in_dir(
                    &app.config.web_dir,
                    &app.config.web_node,
                    app.config.web_listen,
                    format!("http://{}", loopback(addr)),
                    app.config.public_url.clone(),
                )?;
                // Its own stop signal, given once the API has drained: requests in flight may
                // still need the UI, and the UI's server-side rendering needs the API.
                let (stop_web, web_stop_rx) = watch::channel(false);
                Some((stop_web, tokio::spawn(supervisor::run(nitro, web_stop_rx))))
            }
            WebMode::Proxy | WebMode::Off => None,
        };
        tracing::info!("API listening on http://{addr}");
        let api = crate::api::state::ApiState::open(app)?;
        crate::service::notify::ready(&format!("API listening on http://{addr}"));
        crate::http::server::serve(api, listener, stop_rx).await;
        if let Some((stop_web, web_ui)) = web_ui {
            let _ = stop_web.send(true);
            let _ = web_ui.await;
        }
    } else {
        crate::service::notify::ready("workers running");
    }
    if let Some(workers) = workers {
        let _ = workers.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Keeps the emergency space of the data dir's disk (see [`crate::storage::disk`]) until `stop`.
async fn tend_disk(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    while !*stop.borrow() {
        let tending = app.clone();
        let _ = tokio::task::spawn_blocking(move || tending.disk.tend()).await;
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// `addr` with an unspecified IP (`0.0.0.0`, `::`) replaced by loopback, for local clients.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
