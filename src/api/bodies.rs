//! Response bodies shared by several handlers, typed so the OpenAPI document describes them.

use schemars::JsonSchema;
use serde::Serialize;

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
