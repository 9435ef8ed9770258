//! Free space on the data dir's disk. Uploads are refused while it is below a reserve, so the
//! database and derived files keep room; and an emergency file of [`EMERGENCY_BYTES`] is kept
//! in the data dir and given back when the disk fills anyway (another program on the NAS, a
//! reserve of 0), so the server still starts, and signing in, trash and purge still work to
//! free space.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Size of the emergency file: room for the database's writes on a full disk.
pub const EMERGENCY_BYTES: u64 = 16 << 20;
/// The default reserve: the smaller of this and [`DEFAULT_RESERVE_PERCENT`] of the disk.
const DEFAULT_RESERVE_BYTES: u64 = 1 << 30;
const DEFAULT_RESERVE_PERCENT: u64 = 2;
const EMERGENCY_FILE: &str = "emergency-space.bin";

/// The data dir's disk as last measured.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiskUsage {
    /// Bytes free for this server.
    pub free_bytes: u64,
    /// The disk's size in bytes.
    pub total_bytes: u64,
    /// Uploads are refused while fewer than this many bytes would stay free.
    pub reserve_bytes: u64,
    /// Free space is below the reserve: uploads are refused.
    pub low: bool,
    /// No space is left at all.
    pub full: bool,
}

/// Watches the data dir's disk.
pub struct DiskSpace {
    dir: PathBuf,
    reserve_mb: Option<u64>,
}

impl DiskSpace {
    /// Watches the disk holding `data_dir`; `reserve_mb` overrides the default reserve.
    pub fn new(data_dir: &Path, reserve_mb: Option<u64>) -> DiskSpace {
        DiskSpace {
            dir: data_dir.to_path_buf(),
            reserve_mb,
        }
    }

    /// Measures the disk now (one `statvfs`, microseconds).
    pub fn usage(&self) -> io::Result<DiskUsage> {
        let (free_bytes, total_bytes) = statvfs(&self.dir)?;
        let reserve_bytes = match self.reserve_mb {
            Some(mb) => mb << 20,
            None => DEFAULT_RESERVE_BYTES.min(total_bytes * DEFAULT_RESERVE_PERCENT / 100),
        };
        Ok(DiskUsage {
            free_bytes,
            total_bytes,
            reserve_bytes,
            low: free_bytes < reserve_bytes || free_bytes == 0,
            full: free_bytes == 0,
        })
    }

    /// Refuses an upload of `incoming` bytes (0 when not declared) that would leave less than
    /// the reserve free; the error is the sentence to show.
    pub fn admit_upload(&self, incoming: u64) -> Result<(), String> {
        let Ok(usage) = self.usage() else {
            return Ok(());
        };
        let after = usage.free_bytes.saturating_sub(incoming);
        if usage.free_bytes == 0 || after < usage.reserve_bytes {
            return Err(format!(
                "the server's disk is too full for this upload: {} MB free, {} MB kept in reserve",
                usage.free_bytes >> 20,
                usage.reserve_bytes >> 20
            ));
        }
        Ok(())
    }

    /// Gives the emergency file's space back when the disk is (nearly) full, so the database can
    /// still record sign-ins, trash and purges. True when it did.
    pub fn make_room(&self) -> bool {
        let nearly_full = self
            .usage()
            .is_ok_and(|usage| usage.free_bytes < EMERGENCY_BYTES);
        if !nearly_full {
            return false;
        }
        match std::fs::remove_file(self.emergency_path()) {
            Ok(()) => {
                tracing::warn!(
                    "the disk of {} is full: gave back the {} MB emergency space so the database \
                     stays writable; uploads are refused until space is freed",
                    self.dir.display(),
                    EMERGENCY_BYTES >> 20
                );
                true
            }
            Err(_) => false,
        }
    }

    /// Puts the emergency file (back) in place once there is room for it and the reserve; a
    /// full disk makes room instead. `serve` calls it every few seconds.
    pub fn tend(&self) {
        if self.make_room() {
            return;
        }
        let path = self.emergency_path();
        let roomy = self
            .usage()
            .is_ok_and(|u| u.free_bytes > u.reserve_bytes + 2 * EMERGENCY_BYTES);
        if !roomy || path.exists() {
            return;
        }
        if let Err(e) = write_emergency(&path) {
            let _ = std::fs::remove_file(&path);
            tracing::warn!("cannot keep emergency space in {}: {e}", path.display());
        }
    }

    fn emergency_path(&self) -> PathBuf {
        self.dir.join(EMERGENCY_FILE)
    }
}

/// Writes the emergency file with bytes no file system compresses or dedups away.
fn write_emergency(path: &Path) -> io::Result<()> {
    let temp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temp)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ std::process::id() as u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..EMERGENCY_BYTES >> 20 {
        for chunk in block.chunks_exact_mut(8) {
            // xorshift64: cheap, incompressible enough.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block)?;
    }
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

/// Free bytes (for an unprivileged user) and total bytes of the file system holding `dir`.
fn statvfs(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("a path with a NUL byte"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stats` a buffer statvfs fills on success.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    let block = stats.f_frsize;
    Ok((stats.f_bavail * block, stats.f_blocks * block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reserve_is_the_smaller_of_1_gb_and_2_percent() {
        let disk = DiskSpace::new(&std::env::temp_dir(), None);
        let usage = disk.usage().unwrap();
        assert!(usage.total_bytes > 0);
        assert_eq!(
            usage.reserve_bytes,
            (1u64 << 30).min(usage.total_bytes / 50)
        );
        let fixed = DiskSpace::new(&std::env::temp_dir(), Some(5))
            .usage()
            .unwrap();
        assert_eq!(fixed.reserve_bytes, 5 << 20);
        // An upload larger than the disk never fits.
        assert!(disk.admit_upload(usage.total_bytes + 1).is_err());
    }
}
