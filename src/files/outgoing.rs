//! A file's bytes as they leave the server through a share link: the original as stored, an
//! original with its location removed (a JPEG's header or an MP4/QuickTime movie header
//! rewritten on the way out, same length, the image data and samples untouched), or the preview
//! picture standing in for an original whose format keeps a location we cannot remove
//! losslessly.

use std::io;
use std::ops::Range;

use bytes::Bytes;
use futures_util::StreamExt;

use super::File;
use super::original::Original;
use crate::media::{location, mp4};
use crate::storage::{BlobKey, BlobStore, BlobStream, collect};

/// What is sent for one file.
pub enum Outgoing {
    /// The original as stored.
    Original(Original),
    /// The original (of `size` bytes) with the bytes at `at` replaced by `patch`, the same
    /// number of them: its metadata without the location.
    Patched {
        original: Original,
        size: u64,
        at: u64,
        patch: Bytes,
    },
    /// A derived file (the preview picture).
    Derived(BlobKey),
}

impl Outgoing {
    /// The original of `file` without its location: a JPEG's header or an MP4/QuickTime movie
    /// header is rewritten; any other file whose metadata shows a location, or one whose header
    /// cannot be read, is replaced by `stand_in` (its preview picture).
    pub async fn without_location(
        storage: &dyn BlobStore,
        file: &File,
        original: Original,
        stand_in: BlobKey,
    ) -> Outgoing {
        let size = file.size.max(0) as u64;
        let patch = if file.mime == "image/jpeg" {
            jpeg_patch(storage, &original, size).await
        } else if is_movie(&file.mime) {
            movie_patch(storage, &original, size).await
        } else if has_location(file) {
            Err(unremovable("its format"))
        } else {
            return Outgoing::Original(original);
        };
        match patch {
            Ok((at, patch)) => Outgoing::Patched {
                original,
                size,
                at,
                patch,
            },
            Err(e) => {
                tracing::info!(file = %file.id, "sending the preview in place of the original: {e}");
                Outgoing::Derived(stand_in)
            }
        }
    }

    /// Whether the bytes are the original's (its size and type), perhaps with metadata removed.
    pub fn is_original(&self) -> bool {
        !matches!(self, Outgoing::Derived(_))
    }

    /// The bytes in `range` (all when `None`).
    pub async fn read(
        &self,
        storage: &dyn BlobStore,
        range: Option<Range<u64>>,
    ) -> io::Result<BlobStream> {
        match self {
            Outgoing::Original(original) => original.read(storage, range).await,
            Outgoing::Derived(key) => storage.read(key, range).await,
            Outgoing::Patched {
                original,
                size,
                at,
                patch,
            } => {
                let range = range.unwrap_or(0..*size);
                let patched = *at..*at + patch.len() as u64;
                let mut parts = Vec::new();
                let before = range.start..range.end.min(patched.start);
                if !before.is_empty() {
                    parts.push(original.read(storage, Some(before)).await?);
                }
                let inside = range.start.max(patched.start)..range.end.min(patched.end);
                if !inside.is_empty() {
                    let slice = patch.slice(
                        (inside.start - patched.start) as usize
                            ..(inside.end - patched.start) as usize,
                    );
                    parts.push(futures_util::stream::once(async move { Ok(slice) }).boxed());
                }
                let after = range.start.max(patched.end)..range.end;
                if !after.is_empty() {
                    parts.push(original.read(storage, Some(after)).await?);
                }
                Ok(futures_util::stream::iter(parts).flatten().boxed())
            }
        }
    }

    /// The size of what is sent.
    pub async fn size(&self, storage: &dyn BlobStore, file: &File) -> io::Result<u64> {
        match self {
            Outgoing::Original(_) | Outgoing::Patched { .. } => Ok(file.size.max(0) as u64),
            Outgoing::Derived(key) => storage.size(key).await?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the preview is not made yet")
            }),
        }
    }
}

/// Whether a MIME type is one of the MP4/QuickTime family, whose metadata is in boxes.
fn is_movie(mime: &str) -> bool {
    matches!(
        mime,
        "video/mp4" | "video/quicktime" | "video/3gpp" | "audio/mp4" | "audio/x-m4a" | "audio/m4a"
    )
}

fn unremovable(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the location cannot be removed: {why}"),
    )
}

/// A JPEG's header without its location, to put at 0.
async fn jpeg_patch(
    storage: &dyn BlobStore,
    original: &Original,
    size: u64,
) -> io::Result<(u64, Bytes)> {
    let head = collect(
        original
            .read(storage, Some(0..size.min(location::MAX_HEADER as u64)))
            .await?,
    )
    .await?;
    let header_len = location::jpeg_header_len(&head)
        .ok_or_else(|| unremovable("no JPEG image data within the first megabyte"))?;
    let mut header = head[..header_len].to_vec();
    location::strip_jpeg_location(&mut header).map_err(|e| unremovable(&e))?;
    Ok((0, Bytes::from(header)))
}

/// An MP4/QuickTime file's movie header (`moov`) without its location, with where it starts.
async fn movie_patch(
    storage: &dyn BlobStore,
    original: &Original,
    size: u64,
) -> io::Result<(u64, Bytes)> {
    let mut at = 0;
    // Top-level boxes are few (ftyp, free, mdat, moov, ...); a file with more is not a movie.
    for _ in 0..64 {
        if at + 8 > size {
            break;
        }
        let head = collect(original.read(storage, Some(at..size.min(at + 16))).await?).await?;
        let header = mp4::box_header(&head).ok_or_else(|| unremovable("a broken box"))?;
        let len = header.len.unwrap_or(size - at);
        if &header.kind == b"moov" {
            if len > mp4::MAX_MOVIE_HEADER || at + len > size {
                return Err(unremovable("the movie header is too long or cut short"));
            }
            let mut moov = collect(original.read(storage, Some(at..at + len)).await?).await?;
            mp4::strip_movie_location(&mut moov);
            return Ok((at, Bytes::from(moov)));
        }
        at += len;
    }
    Err(unremovable("no movie header"))
}

/// Whether the file's metadata shows where it was taken.
fn has_location(file: &File) -> bool {
    file.media
        .media_info
        .as_deref()
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .is_some_and(|info| mentions_location(&info))
}

/// Whether a key of `value`, at any depth, names a location.
fn mentions_location(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| (is_location_key(k) && !v.is_null()) || mentions_location(v)),
        serde_json::Value::Array(items) => items.iter().any(mentions_location),
        _ => false,
    }
}

/// Whether a metadata key names a location (GPS fields, coordinates, places).
pub fn is_location_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("gps")
        || key.contains("latitude")
        || key.contains("longitude")
        || key.contains("altitude")
        || key.contains("location")
        || key == "place"
}

/// `value` without any key that names a location, at any depth.
pub fn without_location_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !is_location_key(k));
            map.values_mut().for_each(without_location_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_location_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_keys_are_found_and_removed_at_any_depth() {
        let mut info = serde_json::json!({
            "exif": {"make": "X", "gps": {"latitude": 1.0}, "GPSAltitude": 3},
            "video": {"codec": "h264"},
            "items": [{"location": "Paris"}]
        });
        assert!(mentions_location(&info));
        without_location_keys(&mut info);
        assert!(!mentions_location(&info));
        assert_eq!(info["exif"]["make"], "X");
        assert_eq!(info["video"]["codec"], "h264");
        assert!(!mentions_location(&serde_json::json!({"gps": null})));
    }
}
