//! Per-process scratch directories for temporary files. Several processes may share a data dir
//! (an api and workers on one machine), so each one writes its temporaries into a directory of
//! its own and holds an exclusive `flock` on it while it runs. Opening one removes the
//! directories whose lock is free: their process has ended (killed or crashed) and nothing will
//! ever finish those files. Locks die with their process, across containers on one kernel too.
//!
//! A process also leaves *intents* there ([`ScratchDir::intent`]): a note naming a blob it is
//! about to store and record. A note still present when its process died names a blob that may
//! have been stored without its row; the next process gets those notes
//! ([`ScratchDir::left_behind`]) and checks them.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::durable::TempPath;

const LOCK_FILE: &str = ".lock";
const INTENT_SUFFIX: &str = ".intent";

/// This process's directory under a scratch parent, removed when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    _lock: File,
    left_behind: std::sync::Mutex<Vec<String>>,
}

impl ScratchDir {
    /// Sweeps the directories that dead processes left under `parent`, then makes this process's.
    pub fn open(parent: &Path) -> io::Result<ScratchDir> {
        std::fs::create_dir_all(parent)?;
        let mut left_behind = Vec::new();
        let swept = sweep(parent, &mut left_behind)?;
        if swept > 0 {
            tracing::info!(
                "removed {swept} scratch folder(s) left by stopped processes in {}",
                parent.display()
            );
        }
        let path = parent.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir(&path)?;
        let lock = File::create(path.join(LOCK_FILE))?;
        if !try_lock(&lock)? {
            return Err(io::Error::other("a new scratch folder is locked already"));
        }
        Ok(ScratchDir {
            path,
            _lock: lock,
            left_behind: std::sync::Mutex::new(left_behind),
        })
    }

    /// Writes a durable note holding `text`; removing the returned path (dropping it) ends it.
    pub fn intent(&self, text: &str) -> io::Result<TempPath> {
        let note = self.temp_file(INTENT_SUFFIX);
        let mut file = File::create(note.path())?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        Ok(note)
    }

    /// The notes stopped processes left behind (taken once).
    pub fn left_behind(&self) -> Vec<String> {
        std::mem::take(&mut *self.left_behind.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh temporary file path inside the directory, ending in `suffix`, removed when
    /// dropped.
    pub fn temp_file(&self, suffix: &str) -> TempPath {
        TempPath::new(
            self.path
                .join(format!("{}{suffix}", uuid::Uuid::new_v4().simple())),
        )
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes every entry of `parent` that is not a live process's locked directory, collecting
/// the intents found in them into `notes`; returns how many entries it removed.
fn sweep(parent: &Path, notes: &mut Vec<String>) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(parent)? {
        let path = entry?.path();
        let alive = match File::open(path.join(LOCK_FILE)) {
            Ok(lock) => !try_lock(&lock)?,
            Err(_) => false,
        };
        if alive {
            continue;
        }
        if path.is_dir() {
            for entry in std::fs::read_dir(&path)?.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().ends_with(INTENT_SUFFIX)
                    && let Ok(text) = std::fs::read_to_string(entry.path())
                {
                    notes.push(text);
                }
            }
        }
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Takes an exclusive lock without waiting; false when another process holds it.
pub fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a file descriptor this function borrows; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_s_files_are_swept_and_a_live_one_s_are_kept() {
        let parent = std::env::temp_dir().join(format!("alcoves-scratch-{}", uuid::Uuid::new_v4()));
        // Left by a killed process: no lock held, and a stray file beside the folders.
        std::fs::create_dir_all(parent.join("dead")).unwrap();
        std::fs::write(parent.join("dead").join(LOCK_FILE), b"").unwrap();
        std::fs::write(parent.join("dead").join("half.original"), b"x").unwrap();
        std::fs::write(parent.join("dead").join("x.intent"), b"a note").unwrap();
        std::fs::write(parent.join("stray"), b"x").unwrap();
        let live = ScratchDir::open(&parent).unwrap();
        assert_eq!(live.left_behind(), ["a note"]);
        assert!(live.left_behind().is_empty(), "taken once");
        let kept = live.temp_file(".tmp");
        std::fs::write(kept.path(), b"x").unwrap();
        let note = live.intent("mine").unwrap();
        assert!(!parent.join("dead").exists());
        assert!(!parent.join("stray").exists());
        // A second process opening the same parent keeps the first one's folder and notes.
        let other = ScratchDir::open(&parent).unwrap();
        assert!(other.left_behind().is_empty());
        drop(note);
        assert!(kept.path().exists());
        assert_ne!(live.path(), other.path());
        let live_path = live.path().to_path_buf();
        drop(kept);
        drop(live);
        assert!(!live_path.exists());
        drop(other);
        std::fs::remove_dir_all(parent).unwrap();
    }
}
