//! What the API needs beside the services: the session cookie codec, the login throttle, the
//! locks of resumable uploads being written, the image proxy's renders, the live feed, the
//! proxy to the web UI and the texts' meanings for search. Workers and CLI commands open an
//! [`App`] only.

use std::sync::Arc;

use crate::app::App;
use crate::auth::cookie::{SessionCookie, load_or_create_secret};
use crate::auth::throttle::LoginThrottle;
use crate::config::WebMode;

/// The API's state: the application's services plus what only requests use. Derefs to
/// [`App`], so handlers reach the services as `api.db`, `api.config` and so on.
pub struct ApiState {
    pub app: Arc<App>,
    pub cookies: SessionCookie,
    pub throttle: LoginThrottle,
    /// Resumable uploads being written by a request of this process.
    pub tus_locks: super::tus::UploadLocks,
    /// Image proxy renders in progress and recently made, so identical requests share one.
    pub renders: super::media::Renders,
    /// Exports being imported from the web app.
    pub imports: super::imports::Imports,
    /// The live feed's one poller, shared by every WebSocket of this process.
    pub live: super::live::LiveFeed,
    /// The proxy to the web UI, when `web` is not `off`.
    pub web: Option<crate::web::proxy::WebProxy>,
    /// What the library's texts mean, for search.
    pub meaning: crate::search::meaning::Meaning,
}

impl ApiState {
    /// Loads (or makes) the session secret and sets up the API's state around `app`.
    pub fn open(app: Arc<App>) -> Result<Arc<ApiState>, String> {
        let config = &app.config;
        let secret = load_or_create_secret(config.session_secret.as_deref(), &config.data_dir)?;
        let cookies = SessionCookie::new(&secret, config.secure_cookies(), config.session_days);
        let web = (config.web != WebMode::Off).then(|| {
            crate::web::proxy::WebProxy::new(
                config.web_listen,
                config.secure_cookies(),
                config.trust_proxy,
                std::time::Duration::from_secs(config.request_timeout_secs),
                config.map_tile_url.as_ref().map(|t| t.origin.clone()),
            )
        });
        let renders = super::media::Renders::new(config.image_cache_mb << 20);
        Ok(Arc::new(ApiState {
            cookies,
            throttle: LoginThrottle::default(),
            tus_locks: Default::default(),
            renders,
            imports: Default::default(),
            live: Default::default(),
            web,
            meaning: Default::default(),
            app,
        }))
    }
}

impl std::ops::Deref for ApiState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}
