//! Who holds a lease: every lease token starts with the holder's *slot*, `node/n`. The node is
//! a random id kept in the data dir; `n` is the lowest slot number whose lock file in
//! `<data dir>/slots/` no running process holds (an exclusive `flock` for the process's life).
//! A process that gets slot `n` therefore knows that every lease still held under `node/n` was
//! left by a process that died (kill -9, a crash, power loss) and can queue those jobs again at
//! once instead of waiting for the leases to expire.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::storage::scratch::try_lock;

const NODE_FILE: &str = "node.id";
const SLOTS_DIR: &str = "slots";
/// Slots tried before giving up (one per process sharing a data dir).
const MAX_SLOTS: u32 = 1024;

/// This process's slot, held until it exits.
#[derive(Debug)]
pub struct Instance {
    slot: String,
    _lock: File,
}

impl Instance {
    /// Takes the lowest free slot of the data dir `data_dir`.
    pub fn claim(data_dir: &Path) -> io::Result<Instance> {
        let node = node_id(data_dir)?;
        let slots = data_dir.join(SLOTS_DIR);
        std::fs::create_dir_all(&slots)?;
        for n in 0..MAX_SLOTS {
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(slots.join(format!("{n}.lock")))?;
            if try_lock(&lock)? {
                return Ok(Instance {
                    slot: format!("{node}/{n}"),
                    _lock: lock,
                });
            }
        }
        Err(io::Error::other(format!(
            "all {MAX_SLOTS} worker slots of {} are taken",
            data_dir.display()
        )))
    }

    /// A new lease token of this process.
    pub fn lease_token(&self) -> String {
        format!("{}:{}", self.slot, uuid::Uuid::new_v4().simple())
    }

    /// The SQL `LIKE` pattern of every lease token this slot's earlier holders handed out.
    pub fn slot_pattern(&self) -> String {
        format!("{}:%", self.slot)
    }
}

/// The data dir's node id, made on first use.
fn node_id(data_dir: &Path) -> io::Result<String> {
    let path = data_dir.join(NODE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Written aside and linked into place, so two processes starting at once agree on one id.
    let id = uuid::Uuid::new_v4().simple().to_string();
    let temp = data_dir.join(format!("{NODE_FILE}.{id}"));
    std::fs::write(&temp, &id)?;
    let linked = std::fs::hard_link(&temp, &path);
    std::fs::remove_file(&temp)?;
    match linked {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&path)?.trim().to_owned())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_held_for_life_and_reused_after() {
        let dir = std::env::temp_dir().join(format!("alcoves-slots-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = Instance::claim(&dir).unwrap();
        let second = Instance::claim(&dir).unwrap();
        assert_ne!(first.slot, second.slot);
        assert!(
            first
                .lease_token()
                .starts_with(&first.slot_pattern().replace('%', ""))
        );
        let slot = first.slot.clone();
        drop(first);
        // A process started after the first one died gets its slot, and so its dead leases.
        assert_eq!(Instance::claim(&dir).unwrap().slot, slot);
        drop(second);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
