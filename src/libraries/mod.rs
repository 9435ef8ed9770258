//! Libraries, the unit of sharing: each has members with roles and optional invite links.
//! Every user has one personal library that can never be shared.

pub mod invites;
pub mod members;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use crate::db::schema::{libraries, library_members};
use crate::db::{Conn, Db, now_ms};
use crate::error::Result;
use crate::jobs::store::{self, JobsOf};
use crate::with_conn;

/// A library member's role, from least to most powerful.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Admin,
    Owner,
}

impl Role {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// The language a library's recordings are transcribed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechLanguage<'a> {
    /// English, with the English-only model.
    English,
    /// Another language whisper knows, by its code.
    Other(&'a str),
    /// Detected per file.
    Detect,
}

impl<'a> SpeechLanguage<'a> {
    /// Reads a stored or requested setting; `None` for a code whisper does not know.
    pub fn parse(code: &'a str) -> Option<SpeechLanguage<'a>> {
        match code {
            "en" => Some(SpeechLanguage::English),
            "auto" => Some(SpeechLanguage::Detect),
            code if crate::ml::transcribe::known_language(code) => {
                Some(SpeechLanguage::Other(code))
            }
            _ => None,
        }
    }

    /// The setting as stored and shown.
    pub fn code(self) -> &'a str {
        match self {
            SpeechLanguage::English => "en",
            SpeechLanguage::Other(code) => code,
            SpeechLanguage::Detect => "auto",
        }
    }
}

/// A library row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = libraries)]
pub struct Library {
    pub id: String,
    pub name: String,
    pub emoji: Option<String>,
    pub is_personal: bool,
    pub owner_id: String,
    pub face_recognition_enabled: bool,
    pub object_detection_enabled: bool,
    pub sharing_enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The NAS folder this library imports in place, if any.
    pub import_path: Option<String>,
    /// The language its recordings are spoken in, or `auto` (see [`SpeechLanguage`]).
    pub speech_language: String,
}

/// A library as the API shows it, with the caller's role in it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LibraryView {
    pub id: String,
    pub name: String,
    pub emoji: Option<String>,
    pub is_personal: bool,
    pub owner_id: String,
    pub face_recognition_enabled: bool,
    pub object_detection_enabled: bool,
    pub sharing_enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The NAS folder this library imports in place (`alcoves library bind`), if any; shown to
    /// admins and the owner only.
    pub import_path: Option<String>,
    /// The language recordings are transcribed in: a whisper language code (`en`, `de`, …) or
    /// `auto` to detect it per file. English uses the faster English-only model.
    pub speech_language: String,
    pub role: Role,
}

impl Library {
    /// The API view of this library for a member with `role`.
    pub fn view(self, role: Role) -> LibraryView {
        LibraryView {
            id: self.id,
            name: self.name,
            emoji: self.emoji,
            is_personal: self.is_personal,
            owner_id: self.owner_id,
            face_recognition_enabled: self.face_recognition_enabled,
            object_detection_enabled: self.object_detection_enabled,
            sharing_enabled: self.sharing_enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            import_path: self.import_path.filter(|_| role >= Role::Admin),
            speech_language: self.speech_language,
            role,
        }
    }
}

/// Creates a shared library owned by `owner_id`, with its owner's membership, in one
/// transaction.
pub async fn create_shared(
    db: &Db,
    owner_id: &str,
    name: &str,
    emoji: Option<String>,
) -> Result<Library> {
    let mut tx = db.begin().await?;
    let library = create(&mut tx, owner_id, name, emoji, false).await?;
    tx.commit().await?;
    Ok(library)
}

/// Creates a library with `owner_id` as its owner member.
pub async fn create(
    conn: &mut Conn,
    owner_id: &str,
    name: &str,
    emoji: Option<String>,
    personal: bool,
) -> Result<Library> {
    let now = now_ms();
    let library = Library {
        id: Uuid::new_v4().to_string(),
        name: name.to_owned(),
        emoji,
        is_personal: personal,
        owner_id: owner_id.to_owned(),
        face_recognition_enabled: false,
        object_detection_enabled: false,
        sharing_enabled: false,
        created_at: now,
        updated_at: now,
        import_path: None,
        speech_language: SpeechLanguage::English.code().to_owned(),
    };
    with_conn!(conn, c => diesel::insert_into(libraries::table).values(&library).execute(c).await)?;
    members::add(conn, &library.id, owner_id, Role::Owner).await?;
    Ok(library)
}

/// The libraries `user_id` belongs to, with their role, personal first then by name.
pub async fn list_for_user(conn: &mut Conn, user_id: &str) -> Result<Vec<LibraryView>> {
    let rows: Vec<(Library, String)> = with_conn!(conn, c => libraries::table
        .inner_join(library_members::table)
        .filter(library_members::user_id.eq(user_id))
        .order((libraries::is_personal.desc(), libraries::name, libraries::created_at))
        .select((Library::as_select(), library_members::role))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(lib, role)| Role::parse(&role).map(|r| lib.view(r)))
        .collect())
}

/// The library with this id.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<Library>> {
    Ok(
        with_conn!(conn, c => libraries::table.find(id).select(Library::as_select()).first(c).await.optional())?,
    )
}

/// Saves a library's editable fields (name, emoji, flags) and bumps `updated_at`.
pub async fn save(conn: &mut Conn, library: &mut Library) -> Result<()> {
    library.updated_at = now_ms();
    with_conn!(conn, c => diesel::update(libraries::table.find(&library.id)).set(&*library).execute(c).await)?;
    Ok(())
}

/// Deletes a library; members, invites, files and their jobs go with it (the job rows first,
/// see [`store::delete_jobs`]).
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    store::delete_jobs(&mut tx, JobsOf::Library(id)).await?;
    with_conn!(tx, c => diesel::delete(libraries::table.find(id)).execute(c).await)?;
    tx.commit().await?;
    Ok(())
}

/// The folder `library` is bound to, if any.
pub async fn import_root(conn: &mut Conn, library: &str) -> Result<Option<std::path::PathBuf>> {
    let path: Option<Option<String>> = with_conn!(conn, c => libraries::table
        .find(library)
        .select(libraries::import_path)
        .first(c)
        .await
        .optional())?;
    Ok(path.flatten().map(std::path::PathBuf::from))
}
