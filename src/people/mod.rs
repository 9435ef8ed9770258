//! Faces found in a library's pictures and the people they are grouped into: storing a file's
//! faces, clustering them as they arrive or all over again, and what members do with people
//! (rename, hide, choose a cover, merge, split).

pub mod cluster;

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use crate::db::schema::{faces, files, people};
use crate::db::{Conn, Db, now_ms};
use crate::error::{Error, Result};
use crate::with_conn;
use cluster::{Decision, Params, Point};

/// Who put a face with its person.
pub const BY_CLUSTERING: &str = "auto";
pub const BY_MEMBER: &str = "user";

/// A face row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = faces)]
pub struct Face {
    pub id: String,
    pub file_id: String,
    pub library_id: String,
    /// Index within its file; names the face's crop in the cache.
    pub position: i32,
    pub person_id: Option<String>,
    pub assigned_by: Option<String>,
    pub score: f64,
    pub box_x: f64,
    pub box_y: f64,
    pub box_w: f64,
    pub box_h: f64,
    /// JSON `[[x, y]; 5]` as fractions of the picture: eyes, nose, mouth corners.
    pub landmarks: String,
    /// 128 little-endian f32.
    pub embedding: Vec<u8>,
    pub created_at: i64,
}

/// A face as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceView {
    pub id: String,
    pub file_id: String,
    pub person_id: Option<String>,
    pub score: f64,
    /// `[x, y, width, height]` as fractions of the upright picture.
    pub bbox: [f64; 4],
    pub landmarks: serde_json::Value,
}

impl Face {
    /// The API view.
    pub fn view(&self) -> FaceView {
        FaceView {
            id: self.id.clone(),
            file_id: self.file_id.clone(),
            person_id: self.person_id.clone(),
            score: self.score,
            bbox: [self.box_x, self.box_y, self.box_w, self.box_h],
            landmarks: serde_json::from_str(&self.landmarks).unwrap_or_default(),
        }
    }

    fn point(&self) -> Point {
        Point {
            id: self.id.clone(),
            file_id: self.file_id.clone(),
            person_id: self.person_id.clone(),
            embedding: decode_embedding(&self.embedding),
        }
    }
}

/// An embedding as stored: little-endian f32s.
pub fn encode_embedding(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_embedding(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A person row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = people)]
pub struct Person {
    pub id: String,
    pub library_id: String,
    pub name: Option<String>,
    pub cover_face_id: Option<String>,
    pub hidden: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person as the API shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    pub id: String,
    pub name: Option<String>,
    pub hidden: bool,
    pub face_count: i64,
    pub file_count: i64,
    /// The face shown as the person's picture.
    pub cover_face_id: Option<String>,
}

/// Replaces the faces of `file_id` with `found` and clusters each new one.
pub async fn replace_faces(
    conn: &mut Conn,
    library_id: &str,
    file_id: &str,
    found: &[Face],
    params: Params,
) -> Result<()> {
    with_conn!(conn, c => diesel::delete(faces::table.filter(faces::file_id.eq(file_id))).execute(c).await)?;
    if found.is_empty() {
        return drop_empty_people(conn, library_id).await;
    }
    for face in found {
        with_conn!(conn, c => diesel::insert_into(faces::table).values(face).execute(c).await)?;
    }
    let mut points = library_points(conn, library_id).await?;
    for face in found {
        place(conn, library_id, &face.id, &mut points, params).await?;
    }
    drop_empty_people(conn, library_id).await
}

/// Every live face of a library, for clustering.
async fn library_points(conn: &mut Conn, library_id: &str) -> Result<Vec<Point>> {
    let rows: Vec<Face> = with_conn!(conn, c => faces::table
        .inner_join(files::table)
        .filter(faces::library_id.eq(library_id))
        .filter(files::trashed_at.is_null())
        .order((faces::created_at, faces::id))
        .select(Face::as_select())
        .load(c)
        .await)?;
    Ok(rows.iter().map(Face::point).collect())
}

/// Clusters one face among `points` (updated in place) and writes the outcome.
async fn place(
    conn: &mut Conn,
    library_id: &str,
    face_id: &str,
    points: &mut [Point],
    params: Params,
) -> Result<()> {
    let Some(face) = points.iter().find(|p| p.id == face_id).cloned() else {
        return Ok(());
    };
    let (person, members) = match cluster::decide(&face, points, params) {
        Decision::Wait => return Ok(()),
        Decision::Join(person) => (person, vec![face.id.clone()]),
        Decision::Found(mut members) => {
            let person = create_person(conn, library_id).await?;
            members.push(face.id.clone());
            (person, members)
        }
    };
    assign(conn, &members, Some(&person), BY_CLUSTERING).await?;
    for p in points.iter_mut().filter(|p| members.contains(&p.id)) {
        p.person_id = Some(person.clone());
    }
    Ok(())
}

/// Creates an unnamed person in the library; returns its id.
pub async fn create_person(conn: &mut Conn, library_id: &str) -> Result<String> {
    let now = now_ms();
    let person = Person {
        id: Uuid::new_v4().to_string(),
        library_id: library_id.to_owned(),
        name: None,
        cover_face_id: None,
        hidden: false,
        created_at: now,
        updated_at: now,
    };
    with_conn!(conn, c => diesel::insert_into(people::table).values(&person).execute(c).await)?;
    Ok(person.id)
}

async fn assign(
    conn: &mut Conn,
    face_ids: &[String],
    person: Option<&str>,
    by: &str,
) -> Result<()> {
    let by = person.map(|_| by);
    with_conn!(conn, c => diesel::update(faces::table.filter(faces::id.eq_any(face_ids)))
        .set((faces::person_id.eq(person), faces::assigned_by.eq(by)))
        .execute(c)
        .await)?;
    Ok(())
}

/// Deletes the library's people left without faces, unless a member named them.
async fn drop_empty_people(conn: &mut Conn, library_id: &str) -> Result<()> {
    let with_faces = faces::table
        .filter(faces::person_id.is_not_null())
        .select(faces::person_id.assume_not_null());
    with_conn!(conn, c => diesel::delete(
        people::table
            .filter(people::library_id.eq(library_id))
            .filter(people::name.is_null())
            .filter(people::id.ne_all(with_faces)),
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Clusters a library's faces all over again: what clustering decided about unnamed people is
/// undone (faces a member moved, and named people, are kept), then every unassigned face is
/// placed in the order the faces arrived. Returns how many people the library has afterwards.
/// The search documents of the files whose faces changed person are rewritten with them.
pub async fn recluster(db: &Db, library_id: &str, params: Params) -> Result<i64> {
    let mut tx = db.begin().await?;
    let before = face_people(&mut tx, library_id).await?;
    let people = recluster_in(&mut tx, library_id, params).await?;
    let after = face_people(&mut tx, library_id).await?;
    let mut changed: Vec<String> = after
        .into_iter()
        .filter(|(face, row)| before.get(face) != Some(row))
        .map(|(_, (file, _))| file)
        .collect();
    changed.sort_unstable();
    changed.dedup();
    crate::search::refresh(&mut tx, &changed).await?;
    tx.commit().await?;
    Ok(people)
}

/// Every face of the library: its file and person.
async fn face_people(
    conn: &mut Conn,
    library_id: &str,
) -> Result<HashMap<String, (String, Option<String>)>> {
    let rows: Vec<(String, String, Option<String>)> = with_conn!(conn, c => faces::table
        .filter(faces::library_id.eq(library_id))
        .select((faces::id, faces::file_id, faces::person_id))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(face, file, person)| (face, (file, person)))
        .collect())
}

async fn recluster_in(conn: &mut Conn, library_id: &str, params: Params) -> Result<i64> {
    let unnamed = people::table
        .filter(people::library_id.eq(library_id))
        .filter(people::name.is_null())
        .select(people::id.nullable());
    with_conn!(conn, c => diesel::update(
        faces::table
            .filter(faces::library_id.eq(library_id))
            .filter(faces::assigned_by.eq(BY_CLUSTERING))
            .filter(faces::person_id.eq_any(unnamed)),
    )
    .set((faces::person_id.eq(None::<String>), faces::assigned_by.eq(None::<String>)))
    .execute(c)
    .await)?;
    drop_empty_people(conn, library_id).await?;
    let mut points = library_points(conn, library_id).await?;
    let waiting: Vec<String> = points
        .iter()
        .filter(|p| p.person_id.is_none())
        .map(|p| p.id.clone())
        .collect();
    for id in waiting {
        let unplaced = points.iter().any(|p| p.id == id && p.person_id.is_none());
        if unplaced {
            place(conn, library_id, &id, &mut points, params).await?;
        }
    }
    Ok(with_conn!(conn, c => people::table
        .filter(people::library_id.eq(library_id))
        .count()
        .get_result(c)
        .await)?)
}

/// The faces of one file, in position order.
pub async fn faces_of_file(conn: &mut Conn, file_id: &str) -> Result<Vec<Face>> {
    Ok(with_conn!(conn, c => faces::table
        .filter(faces::file_id.eq(file_id))
        .order(faces::position)
        .select(Face::as_select())
        .load(c)
        .await)?)
}

/// The library's people with their face and file counts, most photographed first; hidden
/// people only when `include_hidden`.
pub async fn list(
    conn: &mut Conn,
    library_id: &str,
    include_hidden: bool,
) -> Result<Vec<PersonView>> {
    let rows: Vec<Person> = with_conn!(conn, c => {
        let mut query = people::table
            .filter(people::library_id.eq(library_id))
            .select(Person::as_select())
            .into_boxed();
        if !include_hidden {
            query = query.filter(people::hidden.eq(false));
        }
        query.load(c).await
    })?;
    let counted: Vec<(String, String)> = with_conn!(conn, c => faces::table
        .inner_join(files::table)
        .filter(faces::library_id.eq(library_id))
        .filter(faces::person_id.is_not_null())
        .filter(files::trashed_at.is_null())
        .select((faces::person_id.assume_not_null(), faces::file_id))
        .load(c)
        .await)?;
    let mut views: Vec<PersonView> = Vec::with_capacity(rows.len());
    for person in rows {
        let mine: Vec<&str> = counted
            .iter()
            .filter(|(p, _)| *p == person.id)
            .map(|(_, f)| f.as_str())
            .collect();
        let mut files: Vec<&str> = mine.clone();
        files.sort_unstable();
        files.dedup();
        let cover = cover_face(conn, &person).await?.map(|f| f.id);
        views.push(PersonView {
            id: person.id,
            name: person.name,
            hidden: person.hidden,
            face_count: mine.len() as i64,
            file_count: files.len() as i64,
            cover_face_id: cover,
        });
    }
    views.sort_by(|a, b| {
        b.face_count
            .cmp(&a.face_count)
            .then(a.name.cmp(&b.name))
            .then(a.id.cmp(&b.id))
    });
    Ok(views)
}

/// A person of the library, or 404.
pub async fn get(conn: &mut Conn, library_id: &str, person_id: &str) -> Result<Person> {
    with_conn!(conn, c => people::table
        .filter(people::library_id.eq(library_id))
        .filter(people::id.eq(person_id))
        .select(Person::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or(Error::NotFound)
}

/// The person's chosen cover face if it is still theirs, else their best-scoring face.
pub async fn cover_face(conn: &mut Conn, person: &Person) -> Result<Option<Face>> {
    let theirs: Vec<Face> = with_conn!(conn, c => faces::table
        .inner_join(files::table)
        .filter(faces::person_id.eq(&person.id))
        .filter(files::trashed_at.is_null())
        .order((faces::score.desc(), faces::id))
        .select(Face::as_select())
        .load(c)
        .await)?;
    let chosen = person
        .cover_face_id
        .as_deref()
        .and_then(|id| theirs.iter().position(|f| f.id == id))
        .unwrap_or(0);
    Ok(theirs.into_iter().nth(chosen))
}

/// What a member may change about a person.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonChange {
    /// A new name; an empty one removes it.
    pub name: Option<String>,
    pub hidden: Option<bool>,
    /// One of the person's faces.
    pub cover_face_id: Option<String>,
}

/// Applies `change` to a person.
pub async fn update(conn: &mut Conn, person: &Person, change: &PersonChange) -> Result<()> {
    if let Some(face) = &change.cover_face_id {
        let theirs: i64 = with_conn!(conn, c => faces::table
            .filter(faces::id.eq(face))
            .filter(faces::person_id.eq(&person.id))
            .count()
            .get_result(c)
            .await)?;
        if theirs == 0 {
            return Err(Error::Invalid(
                "coverFaceId is not one of this person's faces".into(),
            ));
        }
    }
    let name = match change.name.as_deref().map(str::trim) {
        Some("") => None,
        Some(name) if name.len() > 200 => {
            return Err(Error::Invalid("a name is at most 200 bytes".into()));
        }
        Some(name) => Some(name.to_owned()),
        None => person.name.clone(),
    };
    with_conn!(conn, c => diesel::update(people::table.find(&person.id))
        .set((
            people::name.eq(name),
            people::hidden.eq(change.hidden.unwrap_or(person.hidden)),
            people::cover_face_id.eq(change.cover_face_id.clone().or(person.cover_face_id.clone())),
            people::updated_at.eq(now_ms()),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// Moves every face of `others` to the person `into` (as a member's decision) and deletes
/// them, in one transaction.
pub async fn merge(db: &Db, library_id: &str, into: &str, others: &[String]) -> Result<()> {
    let mut tx = db.begin().await?;
    let into = get(&mut tx, library_id, into).await?;
    let conn = &mut *tx;
    let others: Vec<String> = others
        .iter()
        .filter(|id| **id != into.id)
        .cloned()
        .collect();
    let found: i64 = with_conn!(conn, c => people::table
        .filter(people::library_id.eq(library_id))
        .filter(people::id.eq_any(&others))
        .count()
        .get_result(c)
        .await)?;
    if found as usize != others.len() {
        return Err(Error::NotFound);
    }
    with_conn!(conn, c => diesel::update(faces::table.filter(faces::person_id.eq_any(&others)))
        .set((faces::person_id.eq(&into.id), faces::assigned_by.eq(BY_MEMBER)))
        .execute(c)
        .await)?;
    with_conn!(conn, c => diesel::delete(people::table.filter(people::id.eq_any(&others))).execute(c).await)?;
    tx.commit().await?;
    Ok(())
}

/// Takes `face_ids` (all the person's) away from `person` into a new person, in one
/// transaction (their files' search documents too); returns its id.
pub async fn split(db: &Db, library_id: &str, person: &str, face_ids: &[String]) -> Result<String> {
    if face_ids.is_empty() {
        return Err(Error::Invalid("faceIds must name at least one face".into()));
    }
    let mut tx = db.begin().await?;
    let person = get(&mut tx, library_id, person).await?;
    let conn = &mut *tx;
    let theirs: i64 = with_conn!(conn, c => faces::table
        .filter(faces::id.eq_any(face_ids))
        .filter(faces::person_id.eq(&person.id))
        .count()
        .get_result(c)
        .await)?;
    if theirs as usize != face_ids.len() {
        return Err(Error::Invalid(
            "faceIds must all be this person's faces".into(),
        ));
    }
    let new = create_person(conn, library_id).await?;
    assign(conn, face_ids, Some(&new), BY_MEMBER).await?;
    drop_empty_people(conn, library_id).await?;
    // Their files no longer show the person's name (the new person, who holds just these
    // faces, has none yet).
    crate::search::refresh_people(conn, std::slice::from_ref(&new)).await?;
    tx.commit().await?;
    Ok(new)
}
