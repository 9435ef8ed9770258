//! Request and response bodies shared by several handlers, typed so the OpenAPI document
//! describes them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One page of a list, with the cursor of the next page (`null` on the last one).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A whole list.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// How many jobs a reprocess request queued.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Queued {
    pub queued: usize,
}

/// Some files of a library, by id.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileSelection {
    pub file_ids: Vec<String>,
}

/// What a change to a selection of files did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Changed {
    /// How many files changed.
    pub changed: usize,
    /// Selected ids that are not files of the library in the state the change needs.
    pub skipped: Vec<String>,
}
