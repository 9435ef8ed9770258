//! User accounts and instance-wide settings: creating users (each with a personal library),
//! looking them up, changing passwords, and the registration mode.

use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use crate::config::{RegistrationMode, SettingValue};
use crate::db::schema::{libraries, library_members, settings, users};
use crate::db::{Conn, now_ms};
use crate::error::{Error, Result};
use crate::libraries::Role;
use crate::with_conn;

/// A user row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_owner: bool,
    pub created_at: i64,
    pub password_changed_at: i64,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub is_owner: bool,
    pub created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            is_owner: u.is_owner,
            created_at: u.created_at,
        }
    }
}

/// Normalises and checks a username: 1-64 of `a-z 0-9 . _ -`, case-insensitive.
pub fn normalize_username(raw: &str) -> Result<String> {
    let name = raw.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name)
    } else {
        Err(Error::Invalid(
            "username must be 1-64 characters of a-z, 0-9, '.', '_' or '-'".into(),
        ))
    }
}

/// Whether the instance has its owner yet (false means first-run setup is pending).
pub async fn owner_exists(conn: &mut Conn) -> Result<bool> {
    let n: i64 =
        with_conn!(conn, c => users::table.filter(users::is_owner).count().get_result(c).await)?;
    Ok(n > 0)
}

/// Inserts a user and their personal library. `as_owner` makes them the instance owner; if an
/// owner already exists that fails with `owner_exists`. A taken username fails with
/// `username_taken`. Call inside a transaction so the pair is created together.
pub async fn create(
    conn: &mut Conn,
    username: &str,
    display_name: &str,
    password_hash: String,
    as_owner: bool,
) -> Result<User> {
    let now = now_ms();
    let user = User {
        id: Uuid::new_v4().to_string(),
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        password_hash,
        is_owner: as_owner,
        created_at: now,
        password_changed_at: now,
    };
    let inserted =
        with_conn!(conn, c => diesel::insert_into(users::table).values(&user).execute(c).await);
    match inserted {
        Ok(_) => {}
        // Told apart by the violated index, as a failed statement aborts a PostgreSQL transaction.
        Err(diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
            let on_username = info
                .constraint_name()
                .unwrap_or(info.message())
                .contains("username");
            return Err(if on_username {
                Error::Conflict("username_taken", format!("username `{username}` is taken"))
            } else {
                Error::Conflict("owner_exists", "the instance already has an owner".into())
            });
        }
        Err(e) => return Err(e.into()),
    }
    crate::libraries::create(conn, &user.id, "Personal", None, true).await?;
    Ok(user)
}

/// The user with this (normalised) username.
pub async fn find_by_username(conn: &mut Conn, username: &str) -> Result<Option<User>> {
    Ok(with_conn!(conn, c => users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The user with this id.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<User>> {
    Ok(
        with_conn!(conn, c => users::table.find(id).select(User::as_select()).first(c).await.optional())?,
    )
}

/// All users, by username.
pub async fn list(conn: &mut Conn) -> Result<Vec<User>> {
    Ok(
        with_conn!(conn, c => users::table.order(users::username).select(User::as_select()).load(c).await)?,
    )
}

/// Replaces a user's password hash (a password change is
/// [`crate::sessions::change_password`]).
pub async fn set_password(conn: &mut Conn, user_id: &str, password_hash: &str) -> Result<()> {
    let now = now_ms();
    with_conn!(conn, c => diesel::update(users::table.find(user_id))
        .set((users::password_hash.eq(password_hash), users::password_changed_at.eq(now)))
        .execute(c)
        .await)?;
    Ok(())
}

/// Changes the name a user is shown by.
pub async fn set_display_name(conn: &mut Conn, user_id: &str, name: &str) -> Result<()> {
    with_conn!(conn, c => diesel::update(users::table.find(user_id))
        .set(users::display_name.eq(name))
        .execute(c)
        .await)?;
    Ok(())
}

/// Number of libraries a user belongs to with the given role (used by `user list`).
pub async fn library_count(conn: &mut Conn, user_id: &str, role: Role) -> Result<i64> {
    Ok(with_conn!(conn, c => library_members::table
        .inner_join(libraries::table)
        .filter(library_members::user_id.eq(user_id))
        .filter(library_members::role.eq(role.as_str()))
        .count()
        .get_result(c)
        .await)?)
}

const REGISTRATION_MODE_KEY: &str = "registration_mode";

/// The registration mode in effect: the stored one, else the configured default.
pub async fn registration_mode(
    conn: &mut Conn,
    default: RegistrationMode,
) -> Result<RegistrationMode> {
    let stored: Option<String> = with_conn!(conn, c => settings::table
        .find(REGISTRATION_MODE_KEY)
        .select(settings::value)
        .first(c)
        .await
        .optional())?;
    Ok(stored
        .and_then(|s| RegistrationMode::parse_setting(&s).ok())
        .unwrap_or(default))
}

/// Stores the registration mode.
pub async fn set_registration_mode(conn: &mut Conn, mode: RegistrationMode) -> Result<()> {
    let row = (
        settings::key.eq(REGISTRATION_MODE_KEY),
        settings::value.eq(mode.as_str()),
    );
    with_conn!(conn, c => diesel::insert_into(settings::table)
        .values(row)
        .on_conflict(settings::key)
        .do_update()
        .set(settings::value.eq(mode.as_str()))
        .execute(c)
        .await)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(super::normalize_username("  Ann.Lee ").unwrap(), "ann.lee");
        for bad in ["", "a b", "ann/..", "émile", &"x".repeat(65)] {
            assert!(super::normalize_username(bad).is_err(), "{bad}");
        }
    }
}
