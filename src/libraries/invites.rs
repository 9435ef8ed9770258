//! Invite links: a random token (only its hash is stored) that lets people join a library with
//! a role, limited by a number of uses and an expiry, revocable.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use super::Library;
use super::Role;
use crate::activity::{self, ActivityKind};
use crate::auth::token::{hash_secret, random_secret};
use crate::db::schema::{libraries, library_invites};
use crate::db::{Conn, now_ms};
use crate::error::{Error, Result};
use crate::with_conn;

/// An invite row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, schemars::JsonSchema)]
#[diesel(table_name = library_invites)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub id: String,
    pub library_id: String,
    #[serde(skip)]
    pub token_hash: String,
    pub role: String,
    pub created_by: String,
    pub max_uses: Option<i32>,
    pub uses: i32,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

/// Creates an invite; returns the row and the token, which is shown only once.
pub async fn create(
    conn: &mut Conn,
    library_id: &str,
    created_by: &str,
    role: Role,
    max_uses: Option<i32>,
    expires_at: Option<i64>,
) -> Result<(Invite, String)> {
    let token = random_secret();
    let invite = Invite {
        id: Uuid::new_v4().to_string(),
        library_id: library_id.to_owned(),
        token_hash: hash_secret(&token),
        role: role.as_str().to_owned(),
        created_by: created_by.to_owned(),
        max_uses,
        uses: 0,
        expires_at,
        revoked_at: None,
        created_at: now_ms(),
    };
    with_conn!(conn, c => diesel::insert_into(library_invites::table).values(&invite).execute(c).await)?;
    Ok((invite, token))
}

/// A library's invites, newest first.
pub async fn list(conn: &mut Conn, library_id: &str) -> Result<Vec<Invite>> {
    Ok(with_conn!(conn, c => library_invites::table
        .filter(library_invites::library_id.eq(library_id))
        .order(library_invites::created_at.desc())
        .select(Invite::as_select())
        .load(c)
        .await)?)
}

/// Revokes an invite of `library_id`; false when there was none.
pub async fn revoke(conn: &mut Conn, library_id: &str, id: &str) -> Result<bool> {
    let n = with_conn!(conn, c => diesel::update(
        library_invites::table
            .filter(library_invites::id.eq(id))
            .filter(library_invites::library_id.eq(library_id))
            .filter(library_invites::revoked_at.is_null()),
    )
    .set(library_invites::revoked_at.eq(now_ms()))
    .execute(c)
    .await)?;
    Ok(n > 0)
}

/// The invite behind `token` and its library, if the invite can still be used. Unknown and
/// revoked tokens are `NotFound`; expired and used-up ones say so.
pub async fn find_usable(conn: &mut Conn, token: &str) -> Result<(Invite, Library)> {
    let found: Option<(Invite, Library)> = with_conn!(conn, c => library_invites::table
        .inner_join(libraries::table)
        .filter(library_invites::token_hash.eq(hash_secret(token)))
        .filter(library_invites::revoked_at.is_null())
        .select((Invite::as_select(), Library::as_select()))
        .first(c)
        .await
        .optional())?;
    let (invite, library) = found.ok_or(Error::NotFound)?;
    if invite.expires_at.is_some_and(|e| e <= now_ms()) {
        return Err(Error::Conflict(
            "invite_expired",
            "this invite link has expired".into(),
        ));
    }
    if invite.max_uses.is_some_and(|m| invite.uses >= m) {
        return Err(Error::Conflict(
            "invite_used_up",
            "this invite link has been used up".into(),
        ));
    }
    Ok((invite, library))
}

/// Uses the invite behind `token` to add `user_id` to its library; returns the library and the
/// role given. Call inside a transaction.
pub async fn redeem(conn: &mut Conn, token: &str, user_id: &str) -> Result<(Library, Role)> {
    let (invite, library) = find_usable(conn, token).await?;
    let role = Role::parse(&invite.role).unwrap_or(Role::Viewer);
    if super::members::role_of(conn, &library.id, user_id)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(
            "already_member",
            "you are already a member of this library".into(),
        ));
    }
    // Counting the use is conditional, so two people racing for the last use cannot both win.
    let counted = with_conn!(conn, c => diesel::update(
        library_invites::table
            .filter(library_invites::id.eq(&invite.id))
            .filter(library_invites::max_uses.is_null().or(library_invites::uses.lt(library_invites::max_uses.assume_not_null()))),
    )
    .set(library_invites::uses.eq(library_invites::uses + 1))
    .execute(c)
    .await)?;
    if counted == 0 {
        return Err(Error::Conflict(
            "invite_used_up",
            "this invite link has been used up".into(),
        ));
    }
    super::members::add(conn, &library.id, user_id, role).await?;
    activity::record(
        conn,
        &library.id,
        Some(user_id),
        ActivityKind::MemberJoined,
        None,
    )
    .await?;
    Ok((library, role))
}
