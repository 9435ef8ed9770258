//! What came with a file from where it was imported (a Google Takeout sidecar): when and where
//! it was taken and its description. Kept with the file as JSON; the metadata stage uses it
//! for what the file itself does not say.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::MediaFacts;

/// Facts about a file from beside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    /// When the photo or video was taken, in ms since the epoch.
    pub taken_at: Option<i64>,
    /// Latitude and longitude.
    pub location: Option<(f64, f64)>,
    pub description: Option<String>,
}

impl Sidecar {
    /// Fills in what the file's own metadata left out: the capture time when only the file
    /// time was known (`capturedAtSource` becomes `sidecar`), the place, the description.
    pub fn fill(&self, facts: &mut MediaFacts) {
        if facts.captured_at_source.as_deref() == Some("file_time")
            && let Some(taken) = self.taken_at
        {
            facts.captured_at = Some(taken);
            facts.captured_at_source = Some("sidecar".into());
        }
        let mut info: Value = facts
            .media_info
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_else(|| json!({}));
        let Some(fields) = info.as_object_mut() else {
            return;
        };
        let missing = |fields: &serde_json::Map<String, Value>, key: &str| {
            fields.get(key).is_none_or(Value::is_null)
        };
        if let Some((latitude, longitude)) = self.location
            && missing(fields, "gps")
        {
            fields.insert(
                "gps".into(),
                json!({ "latitude": latitude, "longitude": longitude, "altitude": null }),
            );
        }
        if let Some(description) = &self.description
            && missing(fields, "description")
        {
            fields.insert("description".into(), description.clone().into());
        }
        facts.media_info = Some(info.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_fills_only_what_the_file_left_out() {
        let sidecar = Sidecar {
            taken_at: Some(1000),
            location: Some((41.89, 12.49)),
            description: Some("Rome".into()),
        };
        let mut bare = MediaFacts {
            captured_at: Some(5),
            captured_at_source: Some("file_time".into()),
            ..MediaFacts::default()
        };
        sidecar.fill(&mut bare);
        assert_eq!(
            (bare.captured_at, bare.captured_at_source.as_deref()),
            (Some(1000), Some("sidecar"))
        );
        let info: Value = serde_json::from_str(bare.media_info.as_deref().unwrap()).unwrap();
        assert_eq!(info["gps"]["latitude"], 41.89);
        assert_eq!(info["description"], "Rome");

        let mut exif = MediaFacts {
            captured_at: Some(7),
            captured_at_source: Some("exif".into()),
            media_info: Some(r#"{"gps":{"latitude":1.0,"longitude":2.0}}"#.into()),
            ..MediaFacts::default()
        };
        sidecar.fill(&mut exif);
        assert_eq!(exif.captured_at, Some(7));
        let info: Value = serde_json::from_str(exif.media_info.as_deref().unwrap()).unwrap();
        assert_eq!(info["gps"]["latitude"], 1.0);
    }
}
