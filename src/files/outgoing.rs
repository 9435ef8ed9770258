//! A file's bytes as they leave the server through a share link: the original as stored, a
//! JPEG original with its location removed (its header rewritten on the way out, same length,
//! the image data untouched), or the preview picture standing in for an original whose format
//! keeps a location we cannot remove losslessly.

use std::io;
use std::ops::Range;

use bytes::Bytes;
use futures_util::StreamExt;

use super::File;
use super::original::Original;
use crate::media::location;
use crate::storage::{BlobKey, BlobStore, BlobStream, collect};

/// What is sent for one file.
pub enum Outgoing {
    /// The original as stored.
    Original(Original),
    /// A JPEG original (of `size` bytes) whose header is rewritten on the way out so that no
    /// location remains; the same length, the image data untouched.
    JpegWithoutLocation { original: Original, size: u64 },
    /// A derived file (the preview picture).
    Derived(BlobKey),
}

impl Outgoing {
    /// The original of `file` without its location: a JPEG's header is rewritten; any other
    /// file whose metadata shows a location is replaced by `stand_in` (its preview picture).
    pub fn without_location(file: &File, original: Original, stand_in: BlobKey) -> Outgoing {
        if file.mime == "image/jpeg" {
            let size = file.size.max(0) as u64;
            Outgoing::JpegWithoutLocation { original, size }
        } else if has_location(file) {
            Outgoing::Derived(stand_in)
        } else {
            Outgoing::Original(original)
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
            Outgoing::JpegWithoutLocation { original, size } => {
                let head = collect(
                    original
                        .read(storage, Some(0..(*size).min(location::MAX_HEADER as u64)))
                        .await?,
                )
                .await?;
                let unreadable = |why: String| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("JPEG header: {why}"))
                };
                let header_len = location::jpeg_header_len(&head)
                    .ok_or_else(|| unreadable("no image data within the first megabyte".into()))?;
                let mut header = head[..header_len].to_vec();
                location::strip_jpeg_location(&mut header).map_err(unreadable)?;
                let head = Bytes::from(header);
                let range = range.unwrap_or(0..*size);
                let head_len = head.len() as u64;
                if range.start >= head_len {
                    return original.read(storage, Some(range)).await;
                }
                let first = head.slice(range.start as usize..range.end.min(head_len) as usize);
                if range.end <= head_len {
                    return Ok(futures_util::stream::once(async move { Ok(first) }).boxed());
                }
                let rest = original.read(storage, Some(head_len..range.end)).await;
                Ok(prepend(first, rest))
            }
        }
    }

    /// The size of what is sent.
    pub async fn size(&self, storage: &dyn BlobStore, file: &File) -> io::Result<u64> {
        match self {
            Outgoing::Original(_) | Outgoing::JpegWithoutLocation { .. } => {
                Ok(file.size.max(0) as u64)
            }
            Outgoing::Derived(key) => storage.size(key).await?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the preview is not made yet")
            }),
        }
    }
}

/// `head` followed by the stream `rest`.
fn prepend(head: Bytes, rest: io::Result<BlobStream>) -> BlobStream {
    let rest = match rest {
        Ok(stream) => stream,
        Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
    };
    futures_util::stream::once(async move { Ok(head) })
        .chain(rest)
        .boxed()
}

/// Whether the file's metadata shows where it was taken.
pub fn has_location(file: &File) -> bool {
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
