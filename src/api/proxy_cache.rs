//! The image proxy's cache budget: the variants it rendered, least recently used first, within
//! `ALCOVES_IMAGE_CACHE_MB`. Going over the budget removes the least recently used variants.
//! On local storage the index is seeded once from the variants already on disk (oldest first
//! by modification time), so the budget holds across restarts.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use crate::storage::{BlobKey, Scope};

/// The file name prefix of image proxy variants in the cache scope.
pub const VARIANT_PREFIX: &str = "img-";

/// Variants by when they were last used, within a byte budget.
pub struct ProxyCache {
    budget: u64,
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    seeded: bool,
    /// Key to (size, last use).
    entries: HashMap<BlobKey, (u64, u64)>,
    /// Last use to key: the first is the least recently used.
    by_use: BTreeMap<u64, BlobKey>,
    total: u64,
    clock: u64,
}

impl ProxyCache {
    /// An empty index with a budget of `budget` bytes.
    pub fn new(budget: u64) -> ProxyCache {
        ProxyCache {
            budget,
            index: Mutex::new(Index::default()),
        }
    }

    /// Whether the index still needs seeding from disk.
    pub fn needs_seed(&self) -> bool {
        !self.lock().seeded
    }

    /// Seeds the index from the variants under the local cache folder `cache_root` (the
    /// `cache/` scope), oldest first; returns the keys over budget.
    pub fn seed(&self, cache_root: &Path) -> Vec<BlobKey> {
        let mut found: Vec<(std::time::SystemTime, BlobKey, u64)> = Vec::new();
        let dirs = |dir: &Path| -> Vec<std::fs::DirEntry> {
            std::fs::read_dir(dir)
                .map(|d| d.flatten().collect())
                .unwrap_or_default()
        };
        for library in dirs(cache_root) {
            for file in dirs(&library.path()) {
                for variant in dirs(&file.path()) {
                    let name = variant.file_name().to_string_lossy().into_owned();
                    let Ok(meta) = variant.metadata() else {
                        continue;
                    };
                    let segments = [
                        library.file_name().to_string_lossy().into_owned(),
                        file.file_name().to_string_lossy().into_owned(),
                        name.clone(),
                    ];
                    if let (true, Ok(key)) = (
                        name.starts_with(VARIANT_PREFIX),
                        BlobKey::new(Scope::Cache, &segments),
                    ) {
                        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                        found.push((modified, key, meta.len()));
                    }
                }
            }
        }
        found.sort_by_key(|(modified, ..)| *modified);
        let mut evicted = Vec::new();
        {
            let mut index = self.lock();
            index.seeded = true;
            for (_, key, size) in found {
                evicted.extend(index.use_key(key, size, self.budget));
            }
        }
        evicted
    }

    /// Records that the variant `key` of `size` bytes was just served or stored; returns the
    /// least recently used variants to remove to stay within the budget (never `key` itself).
    pub fn used(&self, key: &BlobKey, size: u64) -> Vec<BlobKey> {
        let mut index = self.lock();
        index.seeded = true;
        index.use_key(key.clone(), size, self.budget)
    }

    /// Forgets `key` (removed by someone else).
    pub fn forget(&self, key: &BlobKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Index {
    fn remove(&mut self, key: &BlobKey) -> Option<u64> {
        let (size, used) = self.entries.remove(key)?;
        self.by_use.remove(&used);
        self.total -= size;
        Some(size)
    }

    fn use_key(&mut self, key: BlobKey, size: u64, budget: u64) -> Vec<BlobKey> {
        self.remove(&key);
        self.clock += 1;
        self.entries.insert(key.clone(), (size, self.clock));
        self.by_use.insert(self.clock, key.clone());
        self.total += size;
        let mut evicted = Vec::new();
        while self.total > budget {
            let Some((_, oldest)) = self.by_use.iter().next().map(|(u, k)| (*u, k.clone())) else {
                break;
            };
            if oldest == key {
                break;
            }
            self.remove(&oldest);
            evicted.push(oldest);
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> BlobKey {
        BlobKey::new(Scope::Cache, &["l", "f", name]).unwrap()
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_budget_holds() {
        let cache = ProxyCache::new(100);
        assert!(cache.used(&key("img-a"), 40).is_empty());
        assert!(cache.used(&key("img-b"), 40).is_empty());
        // a is used again, so b is now the oldest.
        assert!(cache.used(&key("img-a"), 40).is_empty());
        assert_eq!(cache.used(&key("img-c"), 40), vec![key("img-b")]);
        // One variant over the budget on its own stays (it is being served).
        assert_eq!(
            cache.used(&key("img-d"), 500),
            vec![key("img-a"), key("img-c")]
        );
    }
}
