//! The cache keys of a file's derived files: thumbnails, the playable proxy, the waveform and
//! face crops, all under the file's folder in the cache scope.

use super::{File, MediaKind};
use crate::media::thumbnails;
use crate::storage::BlobKey;
use crate::storage::key::InvalidKey;

/// The cache key of one derived file (`thumb-preview.jpg`, `proxy.mp4`, `waveform.json`, …).
pub fn derived_key(file: &File, variant: &str) -> Result<BlobKey, InvalidKey> {
    BlobKey::new(
        crate::storage::Scope::Cache,
        &[file.library_id.as_str(), file.id.as_str(), variant],
    )
}

/// The cache variant name of a named thumbnail size.
pub fn thumbnail_variant(size: thumbnails::Size) -> String {
    format!("thumb-{}.{}", size.name, size.format.extension())
}

/// The cache variant name of the browser-playable copy of a file of `kind`.
pub fn proxy_variant(kind: MediaKind) -> &'static str {
    if kind == MediaKind::Audio {
        "proxy.m4a"
    } else {
        "proxy.mp4"
    }
}

/// The cache variant name of an audio file's waveform.
pub const WAVEFORM_VARIANT: &str = "waveform.json";

/// The cache variant of a face's 300x300 crop.
pub fn face_variant(position: i32) -> String {
    format!("face-{position}.jpg")
}
