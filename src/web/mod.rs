//! The front door to the web UI: `alcoves serve` can run the built Nuxt/Nitro server as a
//! supervised child process ([`supervisor`]) and proxy every request outside `/api` to it
//! ([`proxy`]), so one public port serves the API and the UI.

pub mod headers;
pub mod proxy;
pub mod supervisor;

use crate::config::SettingValue;

/// What `serve` does about the web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebMode {
    /// Serve the API only; paths outside `/api` are 404.
    Off,
    /// Start the Nitro server from `web_dir`, restart it if it dies, and proxy to it.
    Start,
    /// Proxy to a Nitro server started by someone else at `web_listen`.
    Proxy,
}

impl SettingValue for WebMode {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim() {
            "off" => Ok(Self::Off),
            "start" => Ok(Self::Start),
            "proxy" => Ok(Self::Proxy),
            other => Err(format!("`{other}` is not one of off, start, proxy")),
        }
    }
}

/// Whether a request path belongs to the Rust API rather than the web UI.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}
