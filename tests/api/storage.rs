//! One conformance suite for every blob store: local disk and an S3-compatible server.

use std::io::ErrorKind;

use alcoves::storage::local::LocalStore;
use alcoves::storage::s3::{S3Settings, S3Store};
use alcoves::storage::{BlobKey, BlobStore, Scope};
use bytes::Bytes;
use futures_util::TryStreamExt;

use crate::common::TempDir;

/// Deterministic test bytes that differ at every offset mod 251.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

async fn read_all(
    store: &dyn BlobStore,
    key: &BlobKey,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let chunks: Vec<Bytes> = store
        .read(key, range)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

fn key(parts: &[&str]) -> BlobKey {
    BlobKey::new(Scope::Originals, parts).unwrap()
}

/// What every store must do.
async fn conformance(store: &dyn BlobStore, scratch: &TempDir) {
    let small = key(&["lib", "a", "original"]);
    assert_eq!(store.size(&small).await.unwrap(), None);
    assert_eq!(
        store.read(&small, None).await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );

    let bytes = pattern(1000, 1);
    store
        .put_bytes(&small, Bytes::from(bytes.clone()))
        .await
        .unwrap();
    assert_eq!(store.size(&small).await.unwrap(), Some(1000));
    assert_eq!(read_all(store, &small, None).await, bytes);
    assert_eq!(read_all(store, &small, Some(0..1)).await, &bytes[..1]);
    assert_eq!(
        read_all(store, &small, Some(100..250)).await,
        &bytes[100..250]
    );
    assert_eq!(
        read_all(store, &small, Some(990..5000)).await,
        &bytes[990..],
        "end clamped"
    );
    assert_eq!(
        store
            .read(&small, Some(1000..1001))
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::InvalidInput)
    );

    // Overwrite replaces whole.
    let replaced = pattern(10, 9);
    store
        .put_bytes(&small, Bytes::from(replaced.clone()))
        .await
        .unwrap();
    assert_eq!(read_all(store, &small, None).await, replaced);

    // Empty blobs exist and read as empty.
    let empty = key(&["lib", "empty", "original"]);
    store.put_bytes(&empty, Bytes::new()).await.unwrap();
    assert_eq!(store.size(&empty).await.unwrap(), Some(0));
    assert!(read_all(store, &empty, None).await.is_empty());

    // A large file goes in from disk (multipart on S3) and reads back across chunk boundaries.
    let big_len = 20 * 1024 * 1024 + 12345;
    let big = pattern(big_len, 7);
    let source = scratch.path().join("big.bin");
    std::fs::write(&source, &big).unwrap();
    let big_key = key(&["lib", "big", "original"]);
    store.put_file(&big_key, &source).await.unwrap();
    assert_eq!(store.size(&big_key).await.unwrap(), Some(big_len as u64));
    assert!(
        read_all(store, &big_key, None).await == big,
        "whole big blob"
    );
    let across = (8 << 20) - 100..(8 << 20) + 100;
    assert_eq!(
        read_all(store, &big_key, Some(across.clone())).await,
        &big[across.start as usize..across.end as usize]
    );
    assert_eq!(
        std::fs::read(&source).unwrap().len(),
        big_len,
        "source file left alone"
    );

    // Deleting is idempotent; deleting a prefix removes everything under it.
    store.delete(&small).await.unwrap();
    store.delete(&small).await.unwrap();
    assert_eq!(store.size(&small).await.unwrap(), None);
    let cache_a = BlobKey::new(Scope::Cache, &["lib", "f1", "thumb_80.webp"]).unwrap();
    let cache_b = BlobKey::new(Scope::Cache, &["lib", "f1", "thumb_240.webp"]).unwrap();
    let other = BlobKey::new(Scope::Cache, &["lib", "f10", "thumb_80.webp"]).unwrap();
    for k in [&cache_a, &cache_b, &other] {
        store.put_bytes(k, Bytes::from_static(b"x")).await.unwrap();
    }
    store
        .delete_prefix(&BlobKey::new(Scope::Cache, &["lib", "f1"]).unwrap())
        .await
        .unwrap();
    assert_eq!(store.size(&cache_a).await.unwrap(), None);
    assert_eq!(store.size(&cache_b).await.unwrap(), None);
    assert_eq!(
        store.size(&other).await.unwrap(),
        Some(1),
        "a sibling sharing the name prefix stays"
    );
    store
        .delete_prefix(&BlobKey::new(Scope::Cache, &["nothing", "here"]).unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_store_passes_the_conformance_suite() {
    let dir = TempDir::new();
    let root = dir.path().join("storage");
    let store = LocalStore::open(&root).await.unwrap();
    conformance(&store, &dir).await;
    // Writes leave no temporaries behind, and a crash's leftovers are cleared at open.
    assert_eq!(crate::common::files_under(&root.join(".tmp")), vec![]);
    std::fs::write(root.join(".tmp").join("torn"), b"half").unwrap();
    drop(store);
    let store = LocalStore::open(&root).await.unwrap();
    assert_eq!(crate::common::files_under(&root.join(".tmp")), vec![]);
    drop(store);
    // Blobs are plain files under their key.
    let on_disk = std::fs::read(root.join("files/lib/big/original")).unwrap();
    assert_eq!(on_disk.len(), 20 * 1024 * 1024 + 12345);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_passes_the_conformance_suite() {
    let settings = S3Settings {
        endpoint: std::env::var("ALCOVES_TEST_S3_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:5055".into()),
        bucket: format!("alcoves-test-{}", uuid::Uuid::new_v4().simple()),
        region: "eu-west-1".into(),
        access_key: "testing".into(),
        secret_key: "testing".into(),
        path_style: true,
    };
    let (region, credentials) = settings.region_and_credentials().unwrap();
    s3::Bucket::create_with_path_style(
        &settings.bucket,
        region,
        credentials,
        s3::BucketConfiguration::default(),
    )
    .await
    .expect("an S3-compatible server must be running for the tests (see .ci/services)");
    let store = S3Store::open(&settings).unwrap();
    conformance(&store, &TempDir::new()).await;
}
