//! Importing a Google Takeout export (or an iCloud Photos one, see [`icloud`]) into a library:
//! from its zip or tgz parts or an extracted folder,
//! every photo and video is stored like an upload, carrying what its sidecar says (when and
//! where it was taken, its description) for the metadata stage; albums become folders; the
//! same bytes are stored once (a photo in an album and in "Photos from 2019" is one file), so
//! running it again after an interruption imports only what is still missing.

pub mod icloud;
pub mod layout;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio_util::compat::FuturesAsyncReadCompatExt;
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use crate::app::App;
use crate::db::now_ms;
use crate::db::schema::{files, folders as folders_table};
use crate::error::{Error, Result};
use crate::files::sidecar::Sidecar;
use crate::files::{MediaKind, ingest, sniff, upload};
use crate::folders::{self, Folder};
use crate::import::walk::Skipped;
use crate::with_conn;
use layout::Sidecars;

/// Largest sidecar or album metadata read, in bytes.
const MAX_JSON: u64 = 1 << 20;
/// Largest photo list (iCloud's details and album lists) read, in bytes.
const MAX_CSV: u64 = 64 << 20;

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Photos and videos stored.
    pub imported: usize,
    /// Files whose bytes the library already held (album copies, or a run resumed).
    pub duplicates: usize,
    /// Files left out, with why.
    pub skipped: Vec<Skipped>,
}

/// A zip read from its file, each entry on a file handle of its own. async_zip 0.0.19 marks it
/// deprecated in favour of its new `read1` module; it stays until that one is released whole.
#[allow(deprecated)]
type ZipReader = async_zip::tokio::read::fs::ZipFileReader;

/// Where an export's files are read from.
enum Source {
    Folder,
    Zip(ZipReader),
}

/// One file of the export.
struct Item {
    /// Which source holds it.
    source: usize,
    /// Its entry in a zip, or its path under a folder.
    at: ItemAt,
    /// `/`-separated path inside the export.
    path: String,
    size: u64,
}

enum ItemAt {
    Entry(usize),
    Path(PathBuf),
}

impl Item {
    fn folder(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Whether `path` names a gzipped tar, Takeout's other archive format.
fn is_tgz(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".tgz") || name.ends_with(".tar.gz")
}

/// Whether `name` is an export part's file name: a `.zip`, `.tgz` or `.tar.gz`.
pub fn is_part_name(name: &str) -> bool {
    name.ends_with(".zip") || is_tgz(Path::new(name))
}

/// A folder a `.tgz` part is unpacked into (a tar cannot be read out of order, and sidecars may
/// come after their photos), removed when dropped.
struct Unpacked(PathBuf);

impl Unpacked {
    /// Unpacks `archive` into a new folder under `scratch`; entries that would land outside it
    /// (`..`, absolute paths) are refused by the tar reader.
    async fn new(archive: &Path, scratch: &Path) -> Result<Unpacked> {
        let unpacked = Unpacked(scratch.join(format!("takeout-{}", Uuid::new_v4().simple())));
        let (from, to) = (archive.to_path_buf(), unpacked.0.clone());
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&from)?;
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
            tar.set_preserve_permissions(false);
            std::fs::create_dir_all(&to)?;
            tar.unpack(&to)
        })
        .await
        .map_err(|e| Error::Internal(format!("unpacking crashed: {e}")))?
        .map_err(|e| Error::Invalid(format!("{}: not a readable .tgz: {e}", archive.display())))?;
        Ok(unpacked)
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens each archive (`.zip`) or folder of the export and lists its files; `.tgz` parts are
/// unpacked into `scratch` first (kept in `unpacked` until the import ends).
async fn open(
    paths: &[PathBuf],
    scratch: &Path,
    unpacked: &mut Vec<Unpacked>,
) -> Result<(Vec<Source>, Vec<Item>, Vec<Skipped>)> {
    let (mut sources, mut items, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for given in paths {
        let source = sources.len();
        let mut path = given.clone();
        if is_tgz(given) {
            let folder = Unpacked::new(given, scratch).await?;
            path = folder.0.clone();
            unpacked.push(folder);
        }
        if path.is_dir() {
            let walked = crate::import::walk::walk(&path)?;
            for entry in walked.files {
                items.push(Item {
                    source,
                    at: ItemAt::Path(path.join(&entry.path)),
                    size: entry.size,
                    path: entry.path,
                });
            }
            skipped.extend(walked.skipped);
            sources.push(Source::Folder);
        } else {
            #[allow(deprecated)]
            let zip = ZipReader::new(&path).await.map_err(|e| {
                Error::Invalid(format!("{}: not a readable zip: {e}", path.display()))
            })?;
            for (index, entry) in zip.file().entries().iter().enumerate() {
                let Ok(name) = entry.filename().as_str() else {
                    skipped.push(Skipped {
                        path: String::from_utf8_lossy(entry.filename().as_bytes()).into_owned(),
                        reason: "the name is not UTF-8".into(),
                    });
                    continue;
                };
                if name.ends_with('/') {
                    continue;
                }
                items.push(Item {
                    source,
                    at: ItemAt::Entry(index),
                    path: name.trim_start_matches('/').to_owned(),
                    size: entry.uncompressed_size(),
                });
            }
            sources.push(Source::Zip(zip));
        }
    }
    Ok((sources, items, skipped))
}

/// The bytes of `item`, as a stream.
async fn bytes_of<'a>(
    sources: &'a [Source],
    item: &Item,
) -> Result<Box<dyn Stream<Item = std::io::Result<Bytes>> + Unpin + Send + 'a>> {
    let unreadable = |e: &dyn std::fmt::Display| Error::Invalid(format!("{}: {e}", item.path));
    match (&sources[item.source], &item.at) {
        (Source::Folder, ItemAt::Path(path)) => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| unreadable(&e))?;
            Ok(Box::new(ReaderStream::new(file)))
        }
        (Source::Zip(zip), ItemAt::Entry(index)) => {
            let reader = zip
                .reader_without_entry(*index)
                .await
                .map_err(|e| unreadable(&e))?;
            Ok(Box::new(ReaderStream::new(reader.compat())))
        }
        _ => Err(Error::Internal(
            "an export item points at the wrong source".into(),
        )),
    }
}

/// Reads a small file of the export whole, up to `limit` bytes.
async fn read_small(sources: &[Source], item: &Item, limit: u64) -> Result<Vec<u8>> {
    if item.size > limit {
        return Err(Error::TooLarge(limit));
    }
    let mut stream = bytes_of(sources, item).await?;
    let mut out = Vec::with_capacity(item.size as usize);
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(|e| Error::Invalid(format!("{}: {e}", item.path)))?);
        if out.len() as u64 > limit {
            return Err(Error::TooLarge(limit));
        }
    }
    Ok(out)
}

/// Imports the export in `paths` (zip parts and extracted folders, in any mix) into `library`
/// as `owner`; `progress(done, total)` follows along.
pub async fn import(
    app: &App,
    library: &str,
    owner: &str,
    paths: &[PathBuf],
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary> {
    let mut unpacked = Vec::new();
    let (sources, items, skipped) = open(paths, app.scratch.path(), &mut unpacked).await?;
    let mut summary = Summary {
        skipped,
        ..Summary::default()
    };
    // Sidecars and album titles first: a photo's sidecar may come after it, or in another part.
    // Google gives every album folder a metadata.json with its title; iCloud lists dates and
    // albums in CSV files.
    let mut sidecars: HashMap<String, Sidecars> = HashMap::new();
    let mut albums: HashMap<String, String> = HashMap::new();
    let mut icloud_details: HashMap<String, Sidecar> = HashMap::new();
    let mut icloud_albums: HashMap<String, String> = HashMap::new();
    let mut media = Vec::new();
    for item in &items {
        let lower = item.name().to_ascii_lowercase();
        if lower.ends_with(".csv") {
            match read_small(&sources, item, MAX_CSV).await {
                Ok(csv) => {
                    let csv = String::from_utf8_lossy(&csv);
                    if icloud::is_details(item.name()) {
                        icloud_details.extend(icloud::details(&csv));
                    } else if let Some(album) = icloud::album_of_list(&item.path) {
                        for image in icloud::album_images(&csv) {
                            icloud_albums.insert(image, album.to_owned());
                        }
                    }
                }
                Err(e) => summary.skipped.push(Skipped {
                    path: item.path.clone(),
                    reason: e.to_string(),
                }),
            }
            continue;
        }
        if !lower.ends_with(".json") {
            media.push(item);
            continue;
        }
        let json = match read_small(&sources, item, MAX_JSON).await {
            Ok(json) => json,
            Err(e) => {
                summary.skipped.push(Skipped {
                    path: item.path.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if layout::is_album_metadata(item.name()) {
            if let Some(title) = layout::album_title(&json) {
                albums.insert(item.folder().to_owned(), title);
            }
        } else {
            sidecars
                .entry(item.folder().to_owned())
                .or_default()
                .add(item.name(), &json);
        }
    }
    // Albums (folders with an album title that are not a year's) before everything else, so a
    // photo in both an album and "Photos from 2019" is stored in its album.
    let album_of = |item: &Item| {
        let name = item.folder().rsplit('/').next().unwrap_or("");
        albums
            .get(item.folder())
            .filter(|_| !layout::is_year_folder(name))
            .or_else(|| icloud_albums.get(item.name()))
            .cloned()
    };
    media.sort_by_key(|item| (album_of(item).is_none(), item.path.clone()));
    let total = media.len();
    progress(0, total);
    let mut album_folders: BTreeMap<String, String> = BTreeMap::new();
    for (done, item) in media.into_iter().enumerate() {
        let said = sidecars
            .get(item.folder())
            .and_then(|s| s.of(item.name()))
            .or_else(|| icloud_details.get(item.name()));
        let album = album_of(item);
        match import_one(
            app,
            library,
            owner,
            &sources,
            item,
            said,
            album,
            &mut album_folders,
        )
        .await
        {
            Ok(Stored::New) => summary.imported += 1,
            Ok(Stored::Duplicate) => summary.duplicates += 1,
            Err(e) => summary.skipped.push(Skipped {
                path: item.path.clone(),
                reason: e.to_string(),
            }),
        }
        progress(done + 1, total);
    }
    Ok(summary)
}

/// What became of one file.
enum Stored {
    New,
    Duplicate,
}

/// Stores one photo or video unless the library already holds its bytes.
#[allow(clippy::too_many_arguments)]
async fn import_one(
    app: &App,
    library: &str,
    owner: &str,
    sources: &[Source],
    item: &Item,
    said: Option<&Sidecar>,
    album: Option<String>,
    album_folders: &mut BTreeMap<String, String>,
) -> Result<Stored> {
    let mut bytes = bytes_of(sources, item).await?;
    let staged = upload::stage(
        &mut bytes,
        app.scratch.temp_file(".takeout"),
        app.config.max_upload_bytes,
    )
    .await?;
    if MediaKind::of_mime(sniff::mime_of(&staged.head)) == MediaKind::Other {
        return Err(Error::Invalid("not a photo, video or recording".into()));
    }
    let held: i64 = with_conn!(&mut app.db.conn().await?, c => files::table
        .filter(files::library_id.eq(library))
        .filter(files::sha256.eq(&staged.sha256))
        .filter(files::trashed_at.is_null())
        .count()
        .get_result(c)
        .await)?;
    if held > 0 {
        return Ok(Stored::Duplicate);
    }
    let folder_id = match album {
        Some(title) => Some(album_folder(app, library, owner, &title, album_folders).await?),
        None => None,
    };
    let received = ingest::Received {
        id: Uuid::new_v4().to_string(),
        library_id: library.to_owned(),
        folder_id,
        name: crate::files::clean_name(item.name()),
        uploaded_by: owner.to_owned(),
        path: staged.path(),
        size: staged.size,
        sha256: staged.sha256.clone(),
        head: &staged.head,
        mtime: None,
        sidecar: said.cloned(),
    };
    ingest::store(app, received).await?;
    Ok(Stored::New)
}

/// The id of the root folder named `title`, made on first use (and found again on a resumed
/// run).
async fn album_folder(
    app: &App,
    library: &str,
    owner: &str,
    title: &str,
    known: &mut BTreeMap<String, String>,
) -> Result<String> {
    if let Some(id) = known.get(title) {
        return Ok(id.clone());
    }
    let name = folders::valid_name(title)?;
    let existing: Option<String> = with_conn!(&mut app.db.conn().await?, c => folders_table::table
        .filter(folders_table::library_id.eq(library))
        .filter(folders_table::parent_id.is_null())
        .filter(folders_table::name.eq(&name))
        .filter(folders_table::trashed_at.is_null())
        .select(folders_table::id)
        .first(c)
        .await
        .optional())?;
    let id = match existing {
        Some(id) => id,
        None => {
            let now = now_ms();
            let folder = Folder {
                id: Uuid::new_v4().to_string(),
                library_id: library.to_owned(),
                parent_id: None,
                name,
                created_at: now,
                updated_at: now,
                trashed_at: None,
                source_path: None,
            };
            folders::create(&app.db, owner, &folder).await?;
            folder.id
        }
    };
    known.insert(title.to_owned(), id.clone());
    Ok(id)
}
