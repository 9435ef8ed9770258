//! The front door to the web UI: `alcoves serve` can run the built Nuxt/Nitro server as a
//! supervised child process ([`supervisor`]) and proxy every request outside `/api` and `/dav` to it
//! ([`proxy`]), so one public port serves the API and the UI.

pub mod headers;
pub mod proxy;
pub mod supervisor;

/// Whether a request path belongs to the Rust server (the API and WebDAV) rather than the web UI.
pub fn is_api_path(path: &str) -> bool {
    ["/api", "/dav"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    })
}
