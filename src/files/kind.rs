//! What a file is to the library: a photo, a video, a sound, or something else.

use serde::{Deserialize, Serialize};

/// A file's kind, decided by its content (sniffed MIME type, then what the media holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Video,
    Audio,
    Other,
}

impl MediaKind {
    /// Every kind.
    pub const ALL: [MediaKind; 4] = [
        MediaKind::Photo,
        MediaKind::Video,
        MediaKind::Audio,
        MediaKind::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Other => "other",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<MediaKind> {
        MediaKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of a file with this MIME type, before its media is read.
    pub fn of_mime(mime: &str) -> MediaKind {
        match mime.split('/').next() {
            Some("image") => MediaKind::Photo,
            Some("video") => MediaKind::Video,
            Some("audio") => MediaKind::Audio,
            _ => MediaKind::Other,
        }
    }

    /// Whether it has a picture to show (thumbnails, faces, objects).
    pub fn has_picture(self) -> bool {
        matches!(self, MediaKind::Photo | MediaKind::Video)
    }

    /// Whether it plays over time (proxy, sound events, transcript).
    pub fn plays(self) -> bool {
        matches!(self, MediaKind::Video | MediaKind::Audio)
    }
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_come_from_mime_types() {
        for kind in MediaKind::ALL {
            assert_eq!(MediaKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MediaKind::parse("document"), None);
        assert_eq!(MediaKind::of_mime("image/heic"), MediaKind::Photo);
        assert_eq!(MediaKind::of_mime("application/pdf"), MediaKind::Other);
    }
}
