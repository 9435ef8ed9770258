//! CLI commands that work directly on the database, for the owner at the NAS's shell: accounts
//! (`alcoves user …`, works even when registration is closed) and import folders
//! (`alcoves library bind|unbind|scan`), reprocessing, models and people.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::accounts;
use crate::app::App;
use crate::auth::password;
use crate::error::Error;
use crate::libraries::Role;

/// Where a new password comes from.
pub enum PasswordSource {
    /// One line from standard input (for scripts).
    Stdin,
    /// Asked twice on the terminal without echo.
    Prompt,
}

fn read_password(source: PasswordSource) -> Result<String, String> {
    let password = match source {
        PasswordSource::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("reading stdin: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
        PasswordSource::Prompt => {
            let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
            let again =
                rpassword::prompt_password("Repeat password: ").map_err(|e| e.to_string())?;
            if first != again {
                return Err("passwords do not match".into());
            }
            first
        }
    };
    password::validate(&password).map_err(|e| e.to_string())?;
    Ok(password)
}

/// `alcoves user create`: the first user becomes the instance owner.
pub async fn create_user(
    app: &App,
    username: &str,
    display_name: Option<&str>,
    source: PasswordSource,
) -> Result<(), String> {
    let username = accounts::normalize_username(username).map_err(|e| e.to_string())?;
    let password = read_password(source)?;
    let hash = password::hash(&password).await.map_err(|e| e.to_string())?;
    let mut tx = app.db.begin().await.map_err(|e| e.to_string())?;
    let first = !accounts::owner_exists(&mut tx)
        .await
        .map_err(|e| e.to_string())?;
    let user = accounts::create(
        &mut tx,
        &username,
        display_name.unwrap_or(&username),
        hash,
        first,
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    println!(
        "created user {}{}",
        user.username,
        if first { " (instance owner)" } else { "" }
    );
    Ok(())
}

/// `alcoves user list`.
pub async fn list_users(app: &App) -> Result<(), String> {
    let mut conn = app.db.conn().await.map_err(|e| e.to_string())?;
    let users = accounts::list(&mut conn).await.map_err(|e| e.to_string())?;
    println!(
        "{:<24} {:<24} {:<6} {:>9}",
        "USERNAME", "DISPLAY NAME", "OWNER", "LIBRARIES"
    );
    for user in users {
        let owned = accounts::library_count(&mut conn, &user.id, Role::Owner)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "{:<24} {:<24} {:<6} {:>9}",
            user.username,
            user.display_name,
            if user.is_owner { "yes" } else { "" },
            owned
        );
    }
    Ok(())
}

/// `alcoves user reset-password`: sets a new password and signs the user out everywhere.
pub async fn reset_password(
    app: &App,
    username: &str,
    source: PasswordSource,
) -> Result<(), String> {
    let username = username.trim().to_lowercase();
    let mut conn = app.db.conn().await.map_err(|e| e.to_string())?;
    let user = accounts::find_by_username(&mut conn, &username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user named `{username}`"))?;
    let password = read_password(source)?;
    let hash = password::hash(&password).await.map_err(|e| e.to_string())?;
    let tokens = crate::sessions::change_password(&app.db, &user.id, &hash, None)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "password of {} reset; all their sessions were signed out and their {tokens} access \
         token(s) revoked",
        user.username
    );
    Ok(())
}

/// Binds a library to a NAS folder (or unbinds it with None).
pub async fn bind_library(app: &App, library: &str, path: Option<&Path>) -> Result<(), String> {
    crate::import::bind(app, library, path)
        .await
        .map_err(|e| match e {
            Error::NotFound => format!("no library {library}"),
            // Often the folder is there but this account may not read it.
            other => match path {
                Some(path) => format!("{other}\n{}", service_access_hint(path)),
                None => other.to_string(),
            },
        })?;
    match path {
        Some(path) => {
            println!("library {library} imports {}", path.display());
            println!("{}", service_access_hint(path));
        }
        None => println!("library {library} no longer imports a folder"),
    }
    Ok(())
}

/// How to let the packaged service (`alcoves.service`, hardened to see no home folders and to
/// write nowhere but its state dir) read an import folder.
fn service_access_hint(path: &Path) -> String {
    let path = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    // systemd expands `%` specifiers and splits the value at spaces unless it is quoted.
    let path = path.display().to_string().replace('%', "%%");
    let path = if path.contains(char::is_whitespace) {
        format!("\"{path}\"")
    } else {
        path
    };
    format!(
        "If Alcoves runs as the systemd service, give it read-only access to this folder:\n  \
         sudo systemctl edit alcoves.service   # and add these two lines:\n  \
         [Service]\n  \
         BindReadOnlyPaths={path}\n\
         and let the user `alcoves` read it (e.g. `sudo setfacl -R -m u:alcoves:rX,d:u:alcoves:rX <folder>`,\n\
         and `sudo setfacl -m u:alcoves:x` on each folder above it that others may not enter),\n\
         then `sudo systemctl restart alcoves.service`."
    )
}

/// Scans the given libraries (every bound one when empty) with a progress bar; prints what
/// changed and what was skipped.
pub async fn scan_libraries(app: &App, libraries: Vec<String>) -> Result<(), String> {
    let libraries = if libraries.is_empty() {
        let mut conn = app.db.conn().await.map_err(|e| e.to_string())?;
        let bound = crate::import::bound_libraries(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        bound.into_iter().map(|(id, _)| id).collect()
    } else {
        libraries
    };
    if libraries.is_empty() {
        println!("no library is bound to an import folder");
    }
    for library in libraries {
        let bar = progress_bar(&format!("scanning {library}"), "changes")?;
        let report = crate::import::scan(app, &library, follow(&bar))
            .await
            .map_err(|e| e.to_string())?;
        bar.finish_and_clear();
        println!(
            "{library}: {} added, {} changed, {} moved, {} removed, {} unchanged, {} skipped",
            report.added,
            report.changed,
            report.moved,
            report.removed,
            report.unchanged,
            report.skipped.len()
        );
        print_skipped(&report.skipped);
    }
    Ok(())
}

/// `alcoves import takeout LIBRARY ARCHIVE…`: imports a Google Takeout export as the library's
/// owner, with a progress bar, then says what was imported, found twice and left out.
pub async fn import_takeout(app: &App, library: &str, archives: &[PathBuf]) -> Result<(), String> {
    let owner = {
        let mut conn = app.db.conn().await.map_err(|e| e.to_string())?;
        crate::libraries::get(&mut conn, library)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no library {library}"))?
            .owner_id
    };
    let bar = progress_bar(&format!("importing into {library}"), "files")?;
    let summary = crate::import::takeout::import(app, library, &owner, archives, follow(&bar))
        .await
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    println!(
        "{library}: {} imported, {} already there, {} skipped",
        summary.imported,
        summary.duplicates,
        summary.skipped.len()
    );
    print_skipped(&summary.skipped);
    Ok(())
}

/// A progress callback `(done, total)` that moves `bar`.
fn follow(bar: &ProgressBar) -> impl FnMut(usize, usize) + '_ {
    |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }
}

fn print_skipped(skipped: &[crate::import::walk::Skipped]) {
    for s in skipped {
        println!("  skipped {}: {}", s.path, s.reason);
    }
}

/// Queues `kind` again for a file, a library or everything, with a progress bar; with `wait`,
/// follows the queue until no job of that kind is waiting or running.
pub async fn reprocess(
    app: &App,
    kind: &str,
    library: Option<String>,
    file: Option<String>,
    wait: bool,
) -> Result<(), String> {
    use crate::jobs::JobKind;
    use crate::pipeline::reprocess;
    let kind = JobKind::parse(kind).ok_or_else(|| {
        let known: Vec<_> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown stage `{kind}`: one of {}", known.join(", "))
    })?;
    let scope = match (library, file) {
        (_, Some(file)) => reprocess::Scope::File(file),
        (Some(library), None) => reprocess::Scope::Library(library),
        (None, None) => reprocess::Scope::Everything,
    };
    let bar = progress_bar(&format!("queueing {}", kind.as_str()), "files")?;
    let queued = reprocess::reprocess(app, kind, &scope, follow(&bar))
        .await
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    println!("queued {queued} {} jobs", kind.as_str());
    if !wait || queued == 0 {
        return Ok(());
    }
    let bar = progress_bar(&format!("running {}", kind.as_str()), "jobs settled")?;
    bar.set_length(queued as u64);
    loop {
        let mut conn = app.db.conn().await.map_err(|e| e.to_string())?;
        let pending: i64 = crate::jobs::store::counts(&mut conn)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|(k, status, _)| *k == kind && status.pending())
            .map(|(_, _, n)| n)
            .sum();
        drop(conn);
        bar.set_position((queued as u64).saturating_sub(pending as u64));
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    bar.finish_and_clear();
    println!("every {} job has settled", kind.as_str());
    Ok(())
}

/// A progress bar `{msg} [====>   ] pos/len {unit} (eta)`.
fn progress_bar(message: &str, unit: &str) -> Result<ProgressBar, String> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}})"
        ))
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    Ok(bar)
}

/// `alcoves models install --from DIR… [--redistributable]`: copies every verified model file
/// (or only those whose licence lets them be passed on) from the first of `from` that has it
/// into the models dir, with a progress bar; fails when any model could not be installed.
pub fn install_models(
    config: &crate::config::Config,
    from: &[PathBuf],
    redistributable: bool,
) -> Result<(), String> {
    use crate::ml::models;
    let to = config.models_dir();
    let specs: Vec<&'static models::ModelSpec> = models::manifest()
        .iter()
        .filter(|spec| spec.redistributable || !redistributable)
        .collect();
    let bar = progress_bar(&format!("installing into {}", to.display()), "models")?;
    bar.set_length(specs.len() as u64);
    let done = models::install(specs, from, &to, |_| bar.inc(1));
    bar.finish_and_clear();
    let mut failed = 0;
    for model in &done {
        match &model.outcome {
            Ok(what) => println!("{:<18} {what}", model.name),
            Err(why) => {
                failed += 1;
                println!("{:<18} NOT installed: {why}", model.name);
            }
        }
    }
    if failed > 0 {
        return Err(format!(
            "{failed} of {} models were not installed",
            done.len()
        ));
    }
    Ok(())
}

/// `alcoves models list`: each model's state in the models dir; true when all are installed.
pub fn list_models(config: &crate::config::Config) -> bool {
    use crate::ml::models::{self, ModelState};
    let dir = config.models_dir();
    println!("models in {}", dir.display());
    let mut complete = true;
    for spec in models::manifest() {
        let state = match models::verify(&dir, spec) {
            ModelState::Installed => "installed".to_owned(),
            ModelState::Missing(why) => {
                complete = false;
                format!("missing ({why})")
            }
            ModelState::Corrupt(why) => {
                complete = false;
                format!("CORRUPT ({why})")
            }
        };
        println!("{:<18} {:<13} {state}", spec.name, spec.task);
    }
    complete
}

/// `alcoves people recluster`: groups the faces of the given libraries (every library when
/// none is given) into people again.
pub async fn recluster(app: &App, libraries: Vec<String>) -> Result<(), String> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let libraries = if libraries.is_empty() {
        let mut conn = app.db.conn().await.map_err(|e| e.to_string())?;
        crate::with_conn!(&mut conn, c => crate::db::schema::libraries::table
            .filter(crate::db::schema::libraries::face_recognition_enabled.eq(true))
            .select(crate::db::schema::libraries::id)
            .load::<String>(c)
            .await)
        .map_err(|e| e.to_string())?
    } else {
        libraries
    };
    let bar = progress_bar("re-clustering", "libraries")?;
    bar.set_length(libraries.len() as u64);
    for library in &libraries {
        let params = crate::people::cluster::Params::from_config(&app.config);
        let people = crate::people::recluster(&app.db, library, params)
            .await
            .map_err(|e| e.to_string())?;
        bar.inc(1);
        bar.println(format!("{library}: {people} people"));
    }
    bar.finish_and_clear();
    Ok(())
}
