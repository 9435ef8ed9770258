//! The activity log: what happened in each library (uploads, trash, folders, members,
//! processing), kept durably, shown as a feed that groups runs of similar events, and turned
//! into each member's notifications (others' actions only, dismissable, clearable).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::db::schema::{activities, dismissed_notifications, library_members, notification_marks};
use crate::db::{Conn, Cursor, now_ms};
use crate::error::Result;
use crate::with_conn;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    FileUploaded,
    FileTrashed,
    FileRestored,
    FileProcessed,
    FolderCreated,
    MemberJoined,
    MemberRemoved,
    MemberLeft,
}

impl ActivityKind {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::FileUploaded => "file.uploaded",
            ActivityKind::FileTrashed => "file.trashed",
            ActivityKind::FileRestored => "file.restored",
            ActivityKind::FileProcessed => "system.processing_done",
            ActivityKind::FolderCreated => "folder.created",
            ActivityKind::MemberJoined => "member.joined",
            ActivityKind::MemberRemoved => "member.removed",
            ActivityKind::MemberLeft => "member.left",
        }
    }
}

/// An activity row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, schemars::JsonSchema)]
#[diesel(table_name = activities)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub id: String,
    pub library_id: String,
    pub actor_id: Option<String>,
    pub kind: String,
    pub subject_id: Option<String>,
    pub subject_name: Option<String>,
    pub created_at: i64,
}

/// Records that `actor` (None for the system) did `kind` to a subject in a library.
pub async fn record(
    conn: &mut Conn,
    library_id: &str,
    actor: Option<&str>,
    kind: ActivityKind,
    subject: Option<(&str, &str)>,
) -> Result<()> {
    let row = Activity {
        id: uuid::Uuid::new_v4().to_string(),
        library_id: library_id.to_owned(),
        actor_id: actor.map(str::to_owned),
        kind: kind.as_str().to_owned(),
        subject_id: subject.map(|s| s.0.to_owned()),
        subject_name: subject.map(|s| s.1.to_owned()),
        created_at: now_ms(),
    };
    with_conn!(conn, c => diesel::insert_into(activities::table).values(&row).execute(c).await)?;
    Ok(())
}

/// Events of one kind by one actor close together, shown as one feed entry.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedEntry {
    pub kind: String,
    pub actor_id: Option<String>,
    pub count: usize,
    /// The first few subjects, newest first.
    pub subjects: Vec<Subject>,
    pub first_at: i64,
    pub last_at: i64,
}

/// What an event was about.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// Events more than this far apart are not grouped.
const GROUP_GAP_MS: i64 = 10 * 60 * 1000;
/// Subjects kept per feed entry.
const GROUP_SUBJECTS: usize = 5;

/// Groups newest-first activities: each joins the latest entry of the same kind and actor if it
/// happened within [`GROUP_GAP_MS`] of that entry's oldest event, even when other events came
/// in between (uploads interleaved with their processing still read as one "added 3 files").
pub fn group(rows: Vec<Activity>) -> Vec<FeedEntry> {
    let mut feed: Vec<FeedEntry> = Vec::new();
    for row in rows {
        let subject = Subject {
            id: row.subject_id,
            name: row.subject_name,
        };
        let open = feed
            .iter_mut()
            .rev()
            .find(|e| e.kind == row.kind && e.actor_id == row.actor_id);
        match open {
            Some(e) if e.first_at - row.created_at <= GROUP_GAP_MS => {
                e.count += 1;
                e.first_at = row.created_at;
                if e.subjects.len() < GROUP_SUBJECTS {
                    e.subjects.push(subject);
                }
            }
            _ => feed.push(FeedEntry {
                kind: row.kind,
                actor_id: row.actor_id,
                count: 1,
                subjects: vec![subject],
                first_at: row.created_at,
                last_at: row.created_at,
            }),
        }
    }
    feed
}

/// One page of a library's activities, newest first, and the cursor of the next page.
pub async fn page(
    conn: &mut Conn,
    library_id: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<(Vec<Activity>, Option<Cursor>)> {
    let mut rows: Vec<Activity> = with_conn!(conn, c => {
        let mut query = activities::table
            .filter(activities::library_id.eq(library_id))
            .order((activities::created_at.desc(), activities::id.desc()))
            .limit(limit + 1)
            .select(Activity::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(
                activities::created_at
                    .lt(after.at)
                    .or(activities::created_at.eq(after.at).and(activities::id.lt(&after.id))),
            );
        }
        query.load(c).await
    })?;
    let next = Cursor::next_page(&mut rows, limit, |a| Cursor {
        at: a.created_at,
        id: a.id.clone(),
    });
    Ok((rows, next))
}

/// A user's notifications: others' activities in their libraries since they last cleared,
/// not dismissed, newest first.
pub async fn notifications(conn: &mut Conn, user_id: &str, limit: i64) -> Result<Vec<Activity>> {
    let cleared: i64 = with_conn!(conn, c => notification_marks::table
        .find(user_id)
        .select(notification_marks::cleared_at)
        .first(c)
        .await
        .optional())?
    .unwrap_or(0);
    let mine = library_members::table
        .filter(library_members::user_id.eq(user_id))
        .select(library_members::library_id);
    let dismissed = dismissed_notifications::table
        .filter(dismissed_notifications::user_id.eq(user_id))
        .select(dismissed_notifications::activity_id);
    Ok(with_conn!(conn, c => activities::table
        .filter(activities::library_id.eq_any(mine))
        .filter(activities::created_at.gt(cleared))
        .filter(activities::actor_id.is_null().or(activities::actor_id.ne(user_id)))
        .filter(activities::id.ne_all(dismissed))
        .order((activities::created_at.desc(), activities::id.desc()))
        .limit(limit)
        .select(Activity::as_select())
        .load(c)
        .await)?)
}

/// Activities of every library after `since_ms`, oldest first (at most 500): what the live
/// feed's one poller reads for every socket of the process.
pub async fn recent_all(conn: &mut Conn, since_ms: i64) -> Result<Vec<Activity>> {
    Ok(with_conn!(conn, c => activities::table
        .filter(activities::created_at.gt(since_ms))
        .order((activities::created_at, activities::id))
        .limit(500)
        .select(Activity::as_select())
        .load(c)
        .await)?)
}

/// Hides one notification.
pub async fn dismiss(conn: &mut Conn, user_id: &str, activity_id: &str) -> Result<()> {
    let row = (
        dismissed_notifications::user_id.eq(user_id),
        dismissed_notifications::activity_id.eq(activity_id),
    );
    with_conn!(conn, c => diesel::insert_into(dismissed_notifications::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    Ok(())
}

/// Clears every current notification.
pub async fn clear(conn: &mut Conn, user_id: &str) -> Result<()> {
    let now = now_ms();
    with_conn!(conn, c => diesel::insert_into(notification_marks::table)
        .values((notification_marks::user_id.eq(user_id), notification_marks::cleared_at.eq(now)))
        .on_conflict(notification_marks::user_id)
        .do_update()
        .set(notification_marks::cleared_at.eq(now))
        .execute(c)
        .await)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(kind: &str, actor: &str, at: i64) -> Activity {
        Activity {
            id: format!("{kind}{at}"),
            library_id: "l".into(),
            actor_id: Some(actor.into()),
            kind: kind.into(),
            subject_id: None,
            subject_name: Some(format!("f{at}")),
            created_at: at,
        }
    }

    #[test]
    fn runs_of_one_kind_by_one_actor_group_while_close_in_time() {
        let minute = 60_000;
        let rows = vec![
            act("file.uploaded", "ann", 100 * minute),
            act("system.processing_done", "sys", 100 * minute - 1),
            act("file.uploaded", "ann", 99 * minute),
            act("file.uploaded", "ann", 95 * minute),
            act("file.uploaded", "bob", 94 * minute),
            act("file.uploaded", "bob", 60 * minute),
            act("file.trashed", "bob", 59 * minute),
        ];
        let feed = group(rows);
        let shape: Vec<(&str, &str, usize)> = feed
            .iter()
            .map(|e| (e.kind.as_str(), e.actor_id.as_deref().unwrap(), e.count))
            .collect();
        assert_eq!(
            shape,
            [
                ("file.uploaded", "ann", 3),
                ("system.processing_done", "sys", 1),
                ("file.uploaded", "bob", 1),
                ("file.uploaded", "bob", 1),
                ("file.trashed", "bob", 1)
            ]
        );
        assert_eq!(
            (feed[0].first_at, feed[0].last_at),
            (95 * minute, 100 * minute)
        );
    }
}
