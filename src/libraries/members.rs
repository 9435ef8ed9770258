//! Library membership: who belongs to a library and with which role.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::Role;
use crate::activity::{self, ActivityKind};
use crate::db::schema::{library_members, users};
use crate::db::{Conn, Db, now_ms};
use crate::error::Result;
use crate::with_conn;

/// A member as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: i64,
}

/// `user_id`'s role in `library_id`, or `None` for a non-member.
pub async fn role_of(conn: &mut Conn, library_id: &str, user_id: &str) -> Result<Option<Role>> {
    let role: Option<String> = with_conn!(conn, c => library_members::table
        .find((library_id, user_id))
        .select(library_members::role)
        .first(c)
        .await
        .optional())?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// The libraries `user_id` belongs to, by id.
pub async fn libraries_of(
    conn: &mut Conn,
    user_id: &str,
) -> Result<std::collections::HashSet<String>> {
    let ids: Vec<String> = with_conn!(conn, c => library_members::table
        .filter(library_members::user_id.eq(user_id))
        .select(library_members::library_id)
        .load(c)
        .await)?;
    Ok(ids.into_iter().collect())
}

/// Adds a member.
pub async fn add(conn: &mut Conn, library_id: &str, user_id: &str, role: Role) -> Result<()> {
    let row = (
        library_members::library_id.eq(library_id),
        library_members::user_id.eq(user_id),
        library_members::role.eq(role.as_str()),
        library_members::created_at.eq(now_ms()),
    );
    with_conn!(conn, c => diesel::insert_into(library_members::table).values(row).execute(c).await)?;
    Ok(())
}

/// A library's members, owner first, then admins, then viewers, each by username.
pub async fn list(conn: &mut Conn, library_id: &str) -> Result<Vec<MemberView>> {
    let rows: Vec<(String, String, String, String, i64)> = with_conn!(conn, c => library_members::table
        .inner_join(users::table)
        .filter(library_members::library_id.eq(library_id))
        .order(users::username)
        .select((users::id, users::username, users::display_name, library_members::role, library_members::created_at))
        .load(c)
        .await)?;
    let mut members: Vec<MemberView> = rows
        .into_iter()
        .filter_map(|(user_id, username, display_name, role, joined_at)| {
            Some(MemberView {
                user_id,
                username,
                display_name,
                role: Role::parse(&role)?,
                joined_at,
            })
        })
        .collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.role));
    Ok(members)
}

/// Changes a member's role.
pub async fn set_role(conn: &mut Conn, library_id: &str, user_id: &str, role: Role) -> Result<()> {
    with_conn!(conn, c => diesel::update(library_members::table.find((library_id, user_id)))
        .set(library_members::role.eq(role.as_str()))
        .execute(c)
        .await)?;
    Ok(())
}

/// Removes a member.
pub async fn remove(conn: &mut Conn, library_id: &str, user_id: &str) -> Result<()> {
    with_conn!(conn, c => diesel::delete(library_members::table.find((library_id, user_id))).execute(c).await)?;
    Ok(())
}

/// Removes a member with the activity entry saying who did it (`actor`; the member when they
/// left), in one transaction.
pub async fn remove_recorded(
    db: &Db,
    library_id: &str,
    member: &str,
    actor: &str,
    kind: ActivityKind,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let name: Option<String> = with_conn!(tx, c => users::table
        .find(member)
        .select(users::username)
        .first(c)
        .await
        .optional())?;
    remove(&mut tx, library_id, member).await?;
    let subject = Some((member, name.as_deref().unwrap_or_default()));
    activity::record(&mut tx, library_id, Some(actor), kind, subject).await?;
    tx.commit().await?;
    Ok(())
}
