//! Login sessions (behind the cookie) and personal access tokens (Bearer), and resolving either
//! into the signed-in user.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use crate::accounts::User;
use crate::auth::token::{ACCESS_TOKEN_PREFIX, hash_secret, random_secret};
use crate::db::schema::{api_tokens, sessions, users};
use crate::db::{Conn, Db, now_ms};
use crate::error::Result;
use crate::with_conn;

/// Refresh `last_seen_at` at most this often, to keep reads from writing on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A session row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, schemars::JsonSchema)]
#[diesel(table_name = sessions)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    #[serde(skip)]
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A personal access token row (the secret itself is never stored).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, schemars::JsonSchema)]
#[diesel(table_name = api_tokens)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub id: String,
    #[serde(skip)]
    pub user_id: String,
    pub name: String,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// What it may do: `full` or `upload` (see [`TokenScope`]).
    #[schemars(with = "TokenScope")]
    pub scope: String,
}

impl ApiToken {
    /// What the token may do; an unknown stored value is read as the narrowest scope.
    pub fn scope(&self) -> TokenScope {
        TokenScope::parse(&self.scope).unwrap_or(TokenScope::Upload)
    }
}

/// What a personal access token (an app password) may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Everything its user may do.
    #[default]
    Full,
    /// Add files and folders and list names, as a phone's backup app needs; never read a
    /// file, change or delete anything.
    Upload,
}

impl TokenScope {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Full => "full",
            TokenScope::Upload => "upload",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<TokenScope> {
        match text {
            "full" => Some(TokenScope::Full),
            "upload" => Some(TokenScope::Upload),
            _ => None,
        }
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    Session(Session),
    Token(ApiToken),
}

impl Credential {
    /// Whether it still signs its holder in: the session not ended nor expired, the token not
    /// revoked nor expired (a password change or reset ends both).
    pub async fn is_live(&self, conn: &mut Conn) -> Result<bool> {
        let now = now_ms();
        let found: Option<String> = match self {
            Credential::Session(s) => with_conn!(conn, c => sessions::table
                .filter(sessions::id.eq(&s.id))
                .filter(sessions::expires_at.gt(now))
                .select(sessions::id)
                .first(c)
                .await
                .optional())?,
            Credential::Token(t) => with_conn!(conn, c => api_tokens::table
                .filter(api_tokens::id.eq(&t.id))
                .filter(api_tokens::expires_at.is_null().or(api_tokens::expires_at.gt(now)))
                .select(api_tokens::id)
                .first(c)
                .await
                .optional())?,
        };
        Ok(found.is_some())
    }
}

/// Revokes every access token of `user_id`; returns how many there were.
pub async fn revoke_all_tokens(conn: &mut Conn, user_id: &str) -> Result<usize> {
    Ok(with_conn!(conn, c => diesel::delete(
        api_tokens::table.filter(api_tokens::user_id.eq(user_id)),
    )
    .execute(c)
    .await)?)
}

/// Starts a session for `user_id` lasting `days`.
pub async fn create(
    conn: &mut Conn,
    user_id: &str,
    days: u64,
    user_agent: Option<String>,
    ip: Option<String>,
) -> Result<Session> {
    let now = now_ms();
    let session = Session {
        id: Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + days as i64 * 86_400_000,
        user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
        ip,
    };
    with_conn!(conn, c => diesel::insert_into(sessions::table).values(&session).execute(c).await)?;
    Ok(session)
}

/// The live session with this id and its user; expired sessions are deleted on sight.
pub async fn find_live(conn: &mut Conn, id: &str) -> Result<Option<(Session, User)>> {
    let found: Option<(Session, User)> = with_conn!(conn, c => sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(id))
        .select((Session::as_select(), User::as_select()))
        .first(c)
        .await
        .optional())?;
    let Some((mut session, user)) = found else {
        return Ok(None);
    };
    let now = now_ms();
    if session.expires_at <= now {
        revoke(conn, &session.user_id, id).await?;
        return Ok(None);
    }
    if now - session.last_seen_at > TOUCH_EVERY_MS {
        let touched = with_conn!(conn, c => diesel::update(sessions::table.find(id))
            .set(sessions::last_seen_at.eq(now))
            .execute(c)
            .await);
        skip_on_full_disk(touched)?;
        session.last_seen_at = now;
    }
    Ok(Some((session, user)))
}

/// A last-seen touch that a full disk refused is skipped: reading must keep working.
fn skip_on_full_disk(touched: diesel::QueryResult<usize>) -> diesel::QueryResult<()> {
    match touched {
        Err(e) if crate::db::is_disk_full(&e) => Ok(()),
        other => other.map(|_| ()),
    }
}

/// A user's live sessions, newest first.
pub async fn list(conn: &mut Conn, user_id: &str) -> Result<Vec<Session>> {
    Ok(with_conn!(conn, c => sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now_ms()))
        .order(sessions::created_at.desc())
        .select(Session::as_select())
        .load(c)
        .await)?)
}

/// Deletes one of a user's sessions; false when there was none.
pub async fn revoke(conn: &mut Conn, user_id: &str, id: &str) -> Result<bool> {
    let n = with_conn!(conn, c => diesel::delete(
        sessions::table.filter(sessions::id.eq(id)).filter(sessions::user_id.eq(user_id)),
    )
    .execute(c)
    .await)?;
    Ok(n > 0)
}

/// Creates a personal access token; returns the row and the secret, which is shown only once.
pub async fn create_token(
    conn: &mut Conn,
    user_id: &str,
    name: &str,
    expires_at: Option<i64>,
    scope: TokenScope,
) -> Result<(ApiToken, String)> {
    let secret = format!("{ACCESS_TOKEN_PREFIX}{}", random_secret());
    let token = ApiToken {
        id: Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        name: name.to_owned(),
        token_hash: hash_secret(&secret),
        created_at: now_ms(),
        last_used_at: None,
        expires_at,
        scope: scope.as_str().to_owned(),
    };
    with_conn!(conn, c => diesel::insert_into(api_tokens::table).values(&token).execute(c).await)?;
    Ok((token, secret))
}

/// The unexpired token with this secret and its user.
pub async fn find_token(conn: &mut Conn, secret: &str) -> Result<Option<(ApiToken, User)>> {
    let found: Option<(ApiToken, User)> = with_conn!(conn, c => api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(hash_secret(secret)))
        .select((ApiToken::as_select(), User::as_select()))
        .first(c)
        .await
        .optional())?;
    let now = now_ms();
    let Some((mut token, user)) = found.filter(|(t, _)| t.expires_at.is_none_or(|e| e > now))
    else {
        return Ok(None);
    };
    if token.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY_MS) {
        let touched = with_conn!(conn, c => diesel::update(api_tokens::table.find(&token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(c)
            .await);
        skip_on_full_disk(touched)?;
        token.last_used_at = Some(now);
    }
    Ok(Some((token, user)))
}

/// A user's tokens, newest first.
pub async fn list_tokens(conn: &mut Conn, user_id: &str) -> Result<Vec<ApiToken>> {
    Ok(with_conn!(conn, c => api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(c)
        .await)?)
}

/// Deletes one of a user's tokens; false when there was none.
pub async fn revoke_token(conn: &mut Conn, user_id: &str, id: &str) -> Result<bool> {
    let n = with_conn!(conn, c => diesel::delete(
        api_tokens::table.filter(api_tokens::id.eq(id)).filter(api_tokens::user_id.eq(user_id)),
    )
    .execute(c)
    .await)?;
    Ok(n > 0)
}

/// Sets a user's password hash and, in the same transaction, revokes all their sessions except
/// `keep_session` and all their access tokens; returns how many tokens were revoked.
pub async fn change_password(
    db: &Db,
    user_id: &str,
    password_hash: &str,
    keep_session: Option<&str>,
) -> Result<usize> {
    let mut tx = db.begin().await?;
    crate::accounts::set_password(&mut tx, user_id, password_hash).await?;
    let keep = keep_session.unwrap_or("");
    let conn = &mut *tx;
    with_conn!(conn, c => diesel::delete(
        sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::id.ne(keep)),
    )
    .execute(c)
    .await)?;
    let revoked = revoke_all_tokens(conn, user_id).await?;
    tx.commit().await?;
    Ok(revoked)
}
