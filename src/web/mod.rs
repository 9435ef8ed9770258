//! The front door to the web UI: `alcoves serve` can run the built Nuxt/Nitro server as a
//! supervised child process ([`supervisor`]) and proxy every request outside `/api` to it
//! ([`proxy`]), so one public port serves the API and the UI.

pub mod headers;
pub mod proxy;
pub mod supervisor;

/// Whether a request path belongs to the Rust API rather than the web UI.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}
