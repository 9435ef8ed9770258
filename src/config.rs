//! Configuration: one declarative table of settings. Each setting has a TOML key, an
//! `ALCOVES_*` environment variable, a default and a doc line. Precedence: environment, then the
//! optional TOML file, then the default. A value that does not parse is an error naming its source.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A setting's value type: parsed from the text form used by both env vars and the TOML file.
pub trait SettingValue: Sized {
    fn parse_setting(text: &str) -> Result<Self, String>;
}

macro_rules! from_str_setting {
    ($($t:ty),*) => {$(
        impl SettingValue for $t {
            fn parse_setting(text: &str) -> Result<Self, String> {
                <$t as FromStr>::from_str(text.trim()).map_err(|e| e.to_string())
            }
        }
    )*};
}
from_str_setting!(PathBuf, SocketAddr, String, u32, u64, f32, bool);

impl<T: SettingValue> SettingValue for Option<T> {
    fn parse_setting(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            Ok(None)
        } else {
            T::parse_setting(text).map(Some)
        }
    }
}

/// Who may create an account once the instance owner exists.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Anyone who reaches the server.
    Open,
    /// Only people holding a valid library invite link.
    InviteOnly,
    /// Nobody; the owner creates accounts with `alcoves user create`.
    Closed,
}

impl SettingValue for RegistrationMode {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match text.trim() {
            "open" => Ok(Self::Open),
            "invite_only" | "invite-only" => Ok(Self::InviteOnly),
            "closed" => Ok(Self::Closed),
            other => Err(format!("`{other}` is not one of open, invite_only, closed")),
        }
    }
}

impl RegistrationMode {
    /// The stored and displayed form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InviteOnly => "invite_only",
            Self::Closed => "closed",
        }
    }
}

/// One row of the settings table, for `--help` style listings and docs.
pub struct SettingDoc {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

macro_rules! settings_table {
    ($( #[doc = $doc:literal] $key:ident : $ty:ty = $default:literal, env $env:literal; )*) => {
        /// The server's configuration, built by [`Config::load`].
        #[derive(Debug, Clone)]
        pub struct Config {
            $( #[doc = $doc] pub $key: $ty, )*
        }

        /// Every setting: key, environment variable, default and doc line.
        pub const SETTINGS: &[SettingDoc] = &[
            $( SettingDoc { key: stringify!($key), env: $env, default: $default, doc: $doc.trim_ascii() }, )*
        ];

        impl Config {
            /// Builds the configuration from defaults, overridden by `file` values, overridden by
            /// environment variables from `env`.
            fn from_sources(
                file: &BTreeMap<String, String>,
                env: &dyn Fn(&str) -> Option<String>,
            ) -> Result<Config, String> {
                Ok(Config {
                    $( $key: {
                        let (text, source) = match (env($env), file.get(stringify!($key))) {
                            (Some(v), _) => (v, concat!("environment variable ", $env)),
                            (None, Some(v)) => (v.clone(), concat!("config file key ", stringify!($key))),
                            (None, None) => ($default.to_owned(), concat!("default of ", stringify!($key))),
                        };
                        <$ty as SettingValue>::parse_setting(&text)
                            .map_err(|e| format!("{source}: invalid value `{text}`: {e}"))?
                    }, )*
                })
            }
        }
    };
}

settings_table! {
    /// Directory for the SQLite database, blobs, models and the session secret.
    data_dir: PathBuf = "./data", env "ALCOVES_DATA_DIR";
    /// Address and port the API listens on.
    listen: SocketAddr = "127.0.0.1:3001", env "ALCOVES_LISTEN";
    /// `postgres://user@host/db` for PostgreSQL; empty means SQLite at `<data_dir>/alcoves.db`.
    database_url: Option<String> = "", env "ALCOVES_DATABASE_URL";
    /// Connections kept in the database pool.
    database_pool_size: u32 = "8", env "ALCOVES_DATABASE_POOL_SIZE";
    /// Blob storage: `local` (under the data dir) or `s3`.
    storage: String = "local", env "ALCOVES_STORAGE";
    /// S3 endpoint URL, e.g. `https://s3.eu-central-1.amazonaws.com` or `http://nas:9000`.
    s3_endpoint: Option<String> = "", env "ALCOVES_S3_ENDPOINT";
    /// S3 bucket name.
    s3_bucket: Option<String> = "", env "ALCOVES_S3_BUCKET";
    /// S3 region name.
    s3_region: String = "us-west-2", env "ALCOVES_S3_REGION";
    /// S3 access key id.
    s3_access_key: Option<String> = "", env "ALCOVES_S3_ACCESS_KEY";
    /// S3 secret access key.
    s3_secret_key: Option<String> = "", env "ALCOVES_S3_SECRET_KEY";
    /// Address the bucket by path (`endpoint/bucket/key`), as MinIO and most NAS servers need.
    s3_path_style: bool = "true", env "ALCOVES_S3_PATH_STYLE";
    /// `redis://host:port` for a Redis/Dragonfly queue; empty means the embedded durable queue.
    queue_url: Option<String> = "", env "ALCOVES_QUEUE_URL";
    /// Prefix of the queue's Redis keys, so several instances can share one server.
    queue_prefix: String = "alcoves", env "ALCOVES_QUEUE_PREFIX";
    /// Public URL the browser uses; `https://…` makes the session cookie `Secure`.
    public_url: String = "http://127.0.0.1:3001", env "ALCOVES_PUBLIC_URL";
    /// Secret for the session cookie (32+ characters); empty generates one in the data dir.
    session_secret: Option<String> = "", env "ALCOVES_SESSION_SECRET";
    /// How long a login session lasts, in days.
    session_days: u64 = "30", env "ALCOVES_SESSION_DAYS";
    /// Registration mode used until the owner changes it: open, invite_only or closed.
    registration_mode: RegistrationMode = "invite_only", env "ALCOVES_REGISTRATION_MODE";
    /// Largest JSON request body accepted, in bytes.
    max_json_bytes: u64 = "1048576", env "ALCOVES_MAX_JSON_BYTES";
    /// Largest file accepted by an upload, in bytes (default 100 GiB).
    max_upload_bytes: u64 = "107374182400", env "ALCOVES_MAX_UPLOAD_BYTES";
    /// Free space kept on the data dir's disk for the database and derived files, in MB: uploads are refused below it (empty: the smaller of 1024 MB and 2 % of the disk).
    disk_reserve_mb: Option<u64> = "", env "ALCOVES_DISK_RESERVE_MB";
    /// Space the image proxy's rendered sizes may take, in MB; the least recently used go first.
    image_cache_mb: u64 = "1024", env "ALCOVES_IMAGE_CACHE_MB";
    /// How long an unfinished resumable (tus) upload is kept, in hours.
    tus_expiry_hours: u64 = "24", env "ALCOVES_TUS_EXPIRY_HOURS";
    /// Time limit for one API request (uploads and downloads excepted), in seconds.
    request_timeout_secs: u64 = "30", env "ALCOVES_REQUEST_TIMEOUT_SECS";
    /// A connection that sends no request for this long is closed (HTTP/2 ones would stay open), in seconds.
    idle_timeout_secs: u64 = "120", env "ALCOVES_IDLE_TIMEOUT_SECS";
    /// How long shutdown waits for in-flight requests, in seconds.
    shutdown_grace_secs: u64 = "30", env "ALCOVES_SHUTDOWN_GRACE_SECS";
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    trust_proxy: bool = "false", env "ALCOVES_TRUST_PROXY";
    /// How long a claimed job's lease lasts without a heartbeat, in seconds.
    job_lease_secs: u64 = "20", env "ALCOVES_JOB_LEASE_SECS";
    /// First retry delay of a failed job attempt, in milliseconds (doubles each attempt).
    job_retry_base_ms: u64 = "5000", env "ALCOVES_JOB_RETRY_BASE_MS";
    /// How often idle workers look for new jobs, in milliseconds.
    job_poll_ms: u64 = "1000", env "ALCOVES_JOB_POLL_MS";
    /// How often imported libraries are rescanned in full, in minutes (watchers cover between).
    import_rescan_minutes: u64 = "60", env "ALCOVES_IMPORT_RESCAN_MINUTES";
    /// Largest image accepted for decoding, in megapixels (guards against decompression bombs).
    media_max_megapixels: u64 = "200", env "ALCOVES_MEDIA_MAX_MEGAPIXELS";
    /// Longest side of an image or video frame accepted for decoding, in pixels.
    media_max_dimension: u32 = "30000", env "ALCOVES_MEDIA_MAX_DIMENSION";
    /// Longest video or audio accepted for processing, in hours.
    media_max_duration_hours: u64 = "12", env "ALCOVES_MEDIA_MAX_DURATION_HOURS";
    /// Most frames accepted in a video or animated image.
    media_max_frames: u64 = "5000000", env "ALCOVES_MEDIA_MAX_FRAMES";
    /// Where model files are installed; empty means `<data_dir>/models`.
    models_dir: Option<PathBuf> = "", env "ALCOVES_MODELS_DIR";
    /// Models run at once by one process (0: one per core).
    ml_threads: u32 = "0", env "ALCOVES_ML_THREADS";
    /// Longest stretch of a recording that audio events and transcription analyse, in minutes.
    ml_max_audio_minutes: u64 = "60", env "ALCOVES_ML_MAX_AUDIO_MINUTES";
    /// Largest cosine distance between two faces of one person (0..2; lower is stricter).
    face_max_distance: f32 = "0.55", env "ALCOVES_FACE_MAX_DISTANCE";
    /// Faces of one person needed before clustering makes them a person.
    face_min_faces: u32 = "3", env "ALCOVES_FACE_MIN_FACES";
    /// Street-map tiles for the map screen, `https://tiles.example/{z}/{x}/{y}.png`; empty keeps the map offline.
    map_tile_url: Option<TileUrl> = "", env "ALCOVES_MAP_TILE_URL";
    /// The credit the tile server asks for, shown under the map (`© OpenStreetMap contributors`).
    map_tile_attribution: String = "", env "ALCOVES_MAP_TILE_ATTRIBUTION";
    /// Lowest score of an object detection that is kept (0..1).
    object_min_score: f32 = "0.3", env "ALCOVES_OBJECT_MIN_SCORE";
    /// Lowest probability of an image tag that is kept (0..1).
    tag_min_score: f32 = "0.1", env "ALCOVES_TAG_MIN_SCORE";
    /// Lowest score of a sound event that is kept (0..1).
    audio_event_min_score: f32 = "0.3", env "ALCOVES_AUDIO_EVENT_MIN_SCORE";
    /// The speech model for libraries spoken in English (a name from `alcoves models list`).
    transcribe_model: String = "whisper-tiny.en", env "ALCOVES_TRANSCRIBE_MODEL";
    /// The speech model for other languages and for detecting the language per file.
    transcribe_multilingual_model: String = "whisper-base", env "ALCOVES_TRANSCRIBE_MULTILINGUAL_MODEL";
    /// The web UI: `off` (API only), `start` (run the built Nitro server and proxy to it) or `proxy` (to one at `web_listen`).
    web: WebMode = "off", env "ALCOVES_WEB";
    /// The built web UI: Nuxt's `.output` directory (packages use `/usr/share/alcoves/web`).
    web_dir: PathBuf = "web-dist-proxy/.output", env "ALCOVES_WEB_DIR";
    /// Where the web UI's Nitro server listens; keep it on loopback (the API's port is the public one).
    web_listen: SocketAddr = "127.0.0.1:3002", env "ALCOVES_WEB_LISTEN";
    /// The Node.js binary that runs the web UI (20 or newer).
    web_node: String = "node", env "ALCOVES_WEB_NODE";
    /// Log filter, e.g. `info` or `alcoves=debug`.
    log: String = "info", env "ALCOVES_LOG";
}

/// A tile server's URL template (XYZ tiles in Web Mercator), and its origin for the web UI's
/// Content Security Policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileUrl {
    pub template: String,
    /// `scheme://host[:port]`.
    pub origin: String,
}

impl SettingValue for TileUrl {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let template = text.trim();
        let rest = template
            .strip_prefix("https://")
            .or_else(|| template.strip_prefix("http://"))
            .ok_or_else(|| format!("`{template}` is not an http(s) URL"))?;
        let host = rest.split('/').next().unwrap_or_default();
        // The origin goes into a header: only what a host and port are made of.
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if !host_ok
            || template
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b"'\";,<>`".contains(&b))
        {
            return Err(format!("`{template}` is not a URL a browser may load"));
        }
        if !["{z}", "{x}", "{y}"].iter().all(|p| rest.contains(p)) {
            return Err(format!("`{template}` needs {{z}}, {{x}} and {{y}}"));
        }
        Ok(TileUrl {
            template: template.to_owned(),
            origin: template[..template.len() - rest.len() + host.len()].to_owned(),
        })
    }
}

impl Config {
    /// Loads the configuration from the process environment and an optional TOML file.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let table = match file {
            Some(path) => read_toml(path)?,
            None => BTreeMap::new(),
        };
        Self::from_sources(&table, &|name| std::env::var(name).ok())
    }

    /// The configuration made of defaults only, with `data_dir` replaced (used by tests).
    pub fn defaults_in(data_dir: &Path) -> Config {
        let mut config = Self::from_sources(&BTreeMap::new(), &|_| None).expect("defaults parse");
        config.data_dir = data_dir.to_path_buf();
        config
    }

    /// The database URL in effect: the configured one, or the SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => self
                .data_dir
                .join("alcoves.db")
                .to_string_lossy()
                .into_owned(),
        }
    }

    /// Where model files are installed.
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models"))
    }

    /// Whether cookies must carry the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// A configuration file listing every setting with its doc line, commented out at its default;
/// the `key=value` pairs of `set` are written uncommented instead (each key checked, each value
/// parsed as the setting would be).
pub fn example_file(set: &[String]) -> Result<String, String> {
    let mut values = BTreeMap::new();
    for pair in set {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("`{pair}` is not key=value"))?;
        if !SETTINGS.iter().any(|s| s.key == key) {
            return Err(format!("unknown setting `{key}`"));
        }
        values.insert(key.to_owned(), value.to_owned());
    }
    // Values parse as they will be read back: a bad one fails here, not when the server starts.
    Config::from_sources(&values, &|_| None)?;
    let mut text = String::from(
        "# Alcoves settings. Every setting is listed with its default; uncomment to change it.\n\
         # Environment variables (ALCOVES_*, see `alcoves --help`) override this file.\n",
    );
    for s in SETTINGS {
        text += &format!("\n# {}\n", s.doc);
        match values.get(s.key) {
            Some(value) => text += &format!("{} = {}\n", s.key, toml_value(value)),
            None => text += &format!("# {} = {}\n", s.key, toml_value(s.default)),
        }
    }
    Ok(text)
}

/// `text` as a TOML value that [`read_toml`] turns back into the same text: numbers and
/// booleans bare, everything else a quoted string.
fn toml_value(text: &str) -> String {
    if text == "true" || text == "false" || text.parse::<i64>().is_ok() {
        text.to_owned()
    } else {
        toml::Value::String(text.to_owned()).to_string()
    }
}

fn read_toml(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?;
    let known: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    table
        .into_iter()
        .map(|(key, value)| {
            if !known.contains(&key.as_str()) {
                return Err(format!(
                    "config file {}: unknown key `{key}`",
                    path.display()
                ));
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "config file {}: key `{key}` must be a string, integer or boolean, not {}",
                        path.display(),
                        other.type_str()
                    ));
                }
            };
            Ok((key, text))
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_parse_and_match_the_documented_values() {
        let c = Config::from_sources(&BTreeMap::new(), &|_| None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:3001");
        assert_eq!(c.database_url, None);
        assert_eq!(c.effective_database_url(), "./data/alcoves.db");
        assert_eq!(c.registration_mode, RegistrationMode::InviteOnly);
    }

    #[test]
    fn tile_urls_are_checked_and_give_their_origin() {
        let osm = TileUrl::parse_setting("https://tile.openstreetmap.org/{z}/{x}/{y}.png").unwrap();
        assert_eq!(osm.origin, "https://tile.openstreetmap.org");
        let local = TileUrl::parse_setting(" http://10.0.0.2:8080/t/{z}/{x}/{y} ").unwrap();
        assert_eq!(local.origin, "http://10.0.0.2:8080");
        for bad in [
            "ftp://x/{z}/{x}/{y}",
            "https://x/{z}/{x}.png",
            "https://x y/{z}/{x}/{y}",
            "https://x/{z}/{x}/{y}; script-src *",
            "https://a'b/{z}/{x}/{y}",
            "https:///{z}/{x}/{y}",
        ] {
            assert!(TileUrl::parse_setting(bad).is_err(), "{bad}");
        }
        let c = Config::from_sources(&BTreeMap::new(), &|_| None).unwrap();
        assert_eq!(c.map_tile_url, None, "the map is offline by default");
    }

    #[test]
    fn environment_overrides_file_which_overrides_default() {
        let file = BTreeMap::from([
            ("session_days".to_string(), "7".to_string()),
            ("listen".to_string(), "0.0.0.0:4000".to_string()),
        ]);
        let c =
            Config::from_sources(&file, &env_of(&[("ALCOVES_LISTEN", "127.0.0.1:5000")])).unwrap();
        assert_eq!(c.session_days, 7);
        assert_eq!(c.listen.port(), 5000);
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = Config::from_sources(
            &BTreeMap::new(),
            &env_of(&[("ALCOVES_SESSION_DAYS", "soon")]),
        )
        .unwrap_err();
        assert!(err.contains("ALCOVES_SESSION_DAYS"), "{err}");
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn unknown_toml_keys_are_rejected() {
        let dir = std::env::temp_dir().join(format!("alcoves-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alcoves.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9\"\nlisten_port = 3\n").unwrap();
        let err = read_toml(&path).unwrap_err();
        assert!(err.contains("listen_port"), "{err}");
        std::fs::write(&path, "session_days = 3\ntrust_proxy = true\n").unwrap();
        let table = read_toml(&path).unwrap();
        assert_eq!(table["session_days"], "3");
        assert_eq!(table["trust_proxy"], "true");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_example_file_reads_back_as_written() {
        let dir = std::env::temp_dir().join(format!("alcoves-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alcoves.toml");
        let all_default = example_file(&[]).unwrap();
        for s in SETTINGS {
            assert!(
                all_default.contains(&format!("# {} = ", s.key)),
                "{}",
                s.key
            );
        }
        std::fs::write(&path, &all_default).unwrap();
        assert!(read_toml(&path).unwrap().is_empty());

        let set = [
            "data_dir=/var/lib/alcoves",
            "web=start",
            "session_days=7",
            "s3_bucket=123",
        ];
        let file = example_file(&set.map(String::from)).unwrap();
        std::fs::write(&path, &file).unwrap();
        let table = read_toml(&path).unwrap();
        assert_eq!(table.len(), 4);
        let c = Config::from_sources(&table, &|_| None).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/alcoves"));
        assert_eq!(c.web, WebMode::Start);
        assert_eq!(c.session_days, 7);
        assert_eq!(c.s3_bucket.as_deref(), Some("123"));

        let err = example_file(&["web=sometimes".into()]).unwrap_err();
        assert!(err.contains("sometimes"), "{err}");
        assert!(
            example_file(&["colour=red".into()])
                .unwrap_err()
                .contains("colour")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
