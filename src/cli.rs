//! CLI commands that manage accounts directly in the database (`alcoves user …`), for the
//! owner at the NAS's shell: works even when registration is closed.

use std::io::BufRead;

use crate::accounts;
use crate::app::App;
use crate::auth::password;
use crate::http::error::ApiError;
use crate::http::routes::Role;

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
    password::validate(&password).map_err(|e| e.message())?;
    Ok(password)
}

fn api_err(e: ApiError) -> String {
    match e {
        ApiError::Internal(detail) | ApiError::Unavailable(detail) => detail,
        other => other.message(),
    }
}

/// `alcoves user create`: the first user becomes the instance owner.
pub async fn create_user(
    app: &App,
    username: &str,
    display_name: Option<&str>,
    source: PasswordSource,
) -> Result<(), String> {
    let username = accounts::normalize_username(username).map_err(api_err)?;
    let password = read_password(source)?;
    let hash = password::hash(&password).await.map_err(api_err)?;
    let mut tx = app.db.begin().await.map_err(api_err)?;
    let first = !accounts::owner_exists(&mut tx).await.map_err(api_err)?;
    let user = accounts::create(
        &mut tx,
        &username,
        display_name.unwrap_or(&username),
        hash,
        first,
    )
    .await
    .map_err(api_err)?;
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
    let users = accounts::list(&mut conn).await.map_err(api_err)?;
    println!(
        "{:<24} {:<24} {:<6} {:>9}",
        "USERNAME", "DISPLAY NAME", "OWNER", "LIBRARIES"
    );
    for user in users {
        let owned = accounts::library_count(&mut conn, &user.id, Role::Owner)
            .await
            .map_err(api_err)?;
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
        .map_err(api_err)?
        .ok_or_else(|| format!("no user named `{username}`"))?;
    let password = read_password(source)?;
    let hash = password::hash(&password).await.map_err(api_err)?;
    accounts::set_password(&mut conn, &user.id, &hash, None)
        .await
        .map_err(api_err)?;
    println!(
        "password of {} reset; all their sessions were signed out",
        user.username
    );
    Ok(())
}
