//! SHA-256 digests in their lowercase hex form, as stored and shown everywhere.

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};

use crate::storage::BlobStream;

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Hex SHA-256 of everything `stream` yields; `on_bytes` is told the running byte count.
/// Reading and hashing overlap: the stream is read here while a blocking thread hashes what
/// has already arrived.
pub async fn sha256_stream(
    mut stream: BlobStream,
    mut on_bytes: impl FnMut(u64),
) -> std::io::Result<String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let hasher = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
        }
        hex(&hasher.finalize())
    });
    let mut seen = 0u64;
    while let Some(chunk) = stream.try_next().await? {
        seen += chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            break;
        }
        on_bytes(seen);
    }
    drop(tx);
    hasher.await.map_err(std::io::Error::other)
}

/// Hex SHA-256 of a local file, read in 1 MiB pieces; `on_bytes` is told the running byte
/// count. Blocking: call from a blocking context.
pub fn sha256_file(
    path: &std::path::Path,
    mut on_bytes: impl FnMut(u64),
) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let (mut hasher, mut buf, mut seen) = (Sha256::new(), vec![0u8; 1 << 20], 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        seen += n as u64;
        on_bytes(seen);
    }
}
