//! `alcoves doctor`: checks configuration, data dir, database, queue, storage, FFmpeg and
//! models, and says what is missing and what falls back.

use std::path::Path;

use bytes::Bytes;

use crate::config::Config;
use crate::config::WebMode;
use crate::db::Db;
use crate::jobs::queue::Queue;
use crate::storage::{BlobKey, Scope};
use crate::web::supervisor::entry_in;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Optional and absent: the feature falls back or is skipped.
    Fallback,
    /// Works, but something should be changed (e.g. permissions that are too open).
    Warning,
    /// Required and broken: the server cannot run.
    Error,
}

/// One line of the report.
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
    }
}

/// Runs every check.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut checks = vec![check(
        "config",
        Status::Ok,
        format!(
            "data dir {}, API on {}, public URL {}",
            config.data_dir.display(),
            config.listen,
            config.public_url
        ),
    )];
    checks.push(data_dir(&config.data_dir));
    checks.push(disk_space(config));
    let secret_file = config.data_dir.join(crate::auth::cookie::SECRET_FILE);
    checks.push(match (&config.session_secret, secret_file.exists()) {
        (Some(_), _) => check("session secret", Status::Ok, "from ALCOVES_SESSION_SECRET"),
        (None, true) => check(
            "session secret",
            Status::Ok,
            format!("kept in {}", secret_file.display()),
        ),
        (None, false) => check(
            "session secret",
            Status::Ok,
            "will be generated on first start",
        ),
    });
    let url = config.effective_database_url();
    match Db::connect(&url, 1).await {
        Ok(db) => {
            checks.push(check(
                "database",
                Status::Ok,
                format!("{} reachable, migrations applied", db.backend().name()),
            ));
            checks.push(import_folders(&db).await);
        }
        Err(e) => checks.push(check("database", Status::Error, e.to_string())),
    }
    checks.push(
        match Queue::open(config.queue_url.as_deref(), &config.queue_prefix) {
            Ok(Queue::Embedded(_)) => check(
                "queue",
                Status::Ok,
                "embedded in the database (set ALCOVES_QUEUE_URL for Redis/Dragonfly)",
            ),
            Ok(queue) => match queue.ping().await {
                Ok(()) => check("queue", Status::Ok, "redis reachable"),
                Err(e) => check("queue", Status::Error, format!("redis unreachable: {e}")),
            },
            Err(e) => check("queue", Status::Error, e),
        },
    );
    checks.push(storage(config).await);
    checks.push(ffmpeg().await);
    checks.push(models(&config.models_dir()));
    checks.push(web_ui(config).await);
    checks
}

/// Whether the web UI is served, and for `start`, whether it is built and node runs.
async fn web_ui(config: &Config) -> Check {
    let entry = match config.web {
        WebMode::Off => {
            return check(
                "web UI",
                Status::Fallback,
                "off: API only (set ALCOVES_WEB=start)",
            );
        }
        WebMode::Proxy => {
            return check(
                "web UI",
                Status::Ok,
                format!("proxied to a Nitro server at {}", config.web_listen),
            );
        }
        WebMode::Start => entry_in(&config.web_dir),
    };
    let entry = match entry {
        Ok(entry) => entry,
        Err(e) => return check("web UI", Status::Error, e),
    };
    match tokio::process::Command::new(&config.web_node)
        .arg("--version")
        .output()
        .await
    {
        Ok(out) if out.status.success() => check(
            "web UI",
            Status::Ok,
            format!(
                "{} with node {}",
                entry.display(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        ),
        _ => check(
            "web UI",
            Status::Error,
            format!(
                "cannot run `{}` (set ALCOVES_WEB_NODE to a Node.js 20+ binary)",
                config.web_node
            ),
        ),
    }
}

/// Opens the blob store and writes, sizes and deletes a probe blob.
async fn storage(config: &Config) -> Check {
    let store = match crate::storage::open(config).await {
        Ok(store) => store,
        Err(e) => return check("storage", Status::Error, e),
    };
    let key = BlobKey::new(Scope::Cache, &["doctor-probe"]).expect("plain key");
    let probe = async {
        store.put_bytes(&key, Bytes::from_static(b"ok")).await?;
        let size = store.size(&key).await?;
        store.delete(&key).await?;
        Ok::<_, std::io::Error>(size)
    };
    match probe.await {
        Ok(Some(2)) => check(
            "storage",
            Status::Ok,
            format!("{} store writable", store.name()),
        ),
        Ok(other) => check(
            "storage",
            Status::Error,
            format!("{} store lost a probe blob ({other:?})", store.name()),
        ),
        Err(e) => check(
            "storage",
            Status::Error,
            format!("{} store: {e}", store.name()),
        ),
    }
}

fn data_dir(dir: &Path) -> Check {
    let probe = dir.join(".doctor-write-test");
    let result = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe));
    let open_to_others = std::fs::metadata(dir)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o077)
        .unwrap_or(0);
    match result {
        Ok(()) if open_to_others != 0 => check(
            "data dir",
            Status::Warning,
            format!(
                "{} can be read by other accounts on this machine (mode {:o}): \
                 `chmod 700` it, it holds every photo and the session ids",
                dir.display(),
                0o700 | open_to_others
            ),
        ),
        Ok(()) => check(
            "data dir",
            Status::Ok,
            format!("{} is writable and private", dir.display()),
        ),
        Err(e) => check(
            "data dir",
            Status::Error,
            format!("{} is not writable: {e}", dir.display()),
        ),
    }
}

/// Free space on the data dir's disk against the upload reserve.
fn disk_space(config: &Config) -> Check {
    let disk = crate::storage::disk::DiskSpace::new(&config.data_dir, config.disk_reserve_mb);
    match disk.usage() {
        Ok(u) => {
            let detail = format!(
                "{} MB free of {} MB, {} MB kept in reserve",
                u.free_bytes >> 20,
                u.total_bytes >> 20,
                u.reserve_bytes >> 20
            );
            if u.full {
                check(
                    "disk space",
                    Status::Error,
                    format!("the disk is full: {detail}"),
                )
            } else if u.low {
                check(
                    "disk space",
                    Status::Error,
                    format!("low, uploads are refused: {detail}"),
                )
            } else {
                check("disk space", Status::Ok, detail)
            }
        }
        Err(e) => check("disk space", Status::Error, format!("cannot measure: {e}")),
    }
}

async fn ffmpeg() -> Check {
    let (version, missing) = crate::media::av::linked_ffmpeg();
    if missing.is_empty() {
        check(
            "ffmpeg",
            Status::Ok,
            format!("{version}, H.264 and AAC encoders present"),
        )
    } else {
        check(
            "ffmpeg",
            Status::Fallback,
            format!(
                "{version} lacks {}: proxies of unplayable videos will fail (install Debian's ffmpeg libraries)",
                missing.join(", ")
            ),
        )
    }
}

/// Whether every import folder can still be read.
async fn import_folders(db: &Db) -> Check {
    let bound = match db.conn().await {
        Ok(mut conn) => crate::import::bound_libraries(&mut conn).await,
        Err(e) => Err(e.into()),
    };
    let bound = match bound {
        Ok(bound) => bound,
        Err(e) => return check("import folders", Status::Error, format!("{e:?}")),
    };
    let unreadable: Vec<String> = bound
        .iter()
        .filter(|(_, root)| std::fs::read_dir(root).is_err())
        .map(|(library, root)| format!("{} (library {library})", root.display()))
        .collect();
    match (bound.len(), unreadable.is_empty()) {
        (0, _) => check("import folders", Status::Ok, "none bound"),
        (n, true) => check(
            "import folders",
            Status::Ok,
            format!("{n} bound, all readable"),
        ),
        (_, false) => check(
            "import folders",
            Status::Error,
            format!(
                "cannot read {}: mount the folder or `alcoves library unbind` it",
                unreadable.join(", ")
            ),
        ),
    }
}

fn models(dir: &Path) -> Check {
    use crate::ml::models::{self, ModelState};
    let mut missing = Vec::new();
    let mut corrupt = Vec::new();
    for spec in models::manifest() {
        match models::verify(dir, spec) {
            ModelState::Installed => {}
            ModelState::Missing(_) => missing.push(format!("{} ({})", spec.name, spec.task)),
            ModelState::Corrupt(why) => corrupt.push(format!("{}: {why}", spec.name)),
        }
    }
    let fix = format!(
        "install them with `alcoves models install --from DIR` (into {})",
        dir.display()
    );
    if !corrupt.is_empty() {
        check(
            "models",
            Status::Fallback,
            format!("corrupt, their jobs fail: {}; {fix}", corrupt.join("; ")),
        )
    } else if !missing.is_empty() {
        check(
            "models",
            Status::Fallback,
            format!(
                "missing, their jobs are skipped: {}; {fix}",
                missing.join(", ")
            ),
        )
    } else {
        check(
            "models",
            Status::Ok,
            format!(
                "all {} verified in {}",
                models::manifest().len(),
                dir.display()
            ),
        )
    }
}

/// Prints the report; returns false when a required check failed.
pub fn print(checks: &[Check]) -> bool {
    for c in checks {
        let label = match c.status {
            Status::Ok => "ok",
            Status::Fallback => "fallback",
            Status::Warning => "WARNING",
            Status::Error => "ERROR",
        };
        println!("{label:>8}  {:<15} {}", c.name, c.detail);
    }
    checks.iter().all(|c| c.status != Status::Error)
}
