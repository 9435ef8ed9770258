//! Blobs in an S3-compatible bucket (AWS, MinIO, Garage, moto…) through rust-s3. Objects are
//! uploaded whole (multipart for large files), so a key never shows a partial object; reads
//! fetch the requested range in [`CHUNK`]-sized `Range` requests.

use std::io;
use std::ops::Range;
use std::path::Path;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::{Bucket, Region};

use super::durable::check_length;
use super::{BlobKey, BlobStore, BlobStream, CHUNK, clamp_range};
use crate::config::Config;

/// How to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub path_style: bool,
}

impl S3Settings {
    /// The S3 settings from the configuration; all of endpoint, bucket and keys are required.
    pub fn from_config(config: &Config) -> Result<S3Settings, String> {
        let need = |value: &Option<String>, var: &str| {
            value
                .clone()
                .ok_or_else(|| format!("{var} must be set when ALCOVES_STORAGE=s3"))
        };
        Ok(S3Settings {
            endpoint: need(&config.s3_endpoint, "ALCOVES_S3_ENDPOINT")?,
            bucket: need(&config.s3_bucket, "ALCOVES_S3_BUCKET")?,
            region: config.s3_region.clone(),
            access_key: need(&config.s3_access_key, "ALCOVES_S3_ACCESS_KEY")?,
            secret_key: need(&config.s3_secret_key, "ALCOVES_S3_SECRET_KEY")?,
            path_style: config.s3_path_style,
        })
    }

    /// The region and credentials rust-s3 wants.
    pub fn region_and_credentials(&self) -> Result<(Region, Credentials), String> {
        let region = Region::Custom {
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
        };
        let credentials = Credentials::new(
            Some(&self.access_key),
            Some(&self.secret_key),
            None,
            None,
            None,
        )
        .map_err(|e| format!("S3 credentials: {e}"))?;
        Ok((region, credentials))
    }
}

/// A store in one S3 bucket.
pub struct S3Store {
    bucket: Box<Bucket>,
}

fn to_io(e: S3Error) -> io::Error {
    match e {
        S3Error::HttpFailWithBody(404, _) => {
            io::Error::new(io::ErrorKind::NotFound, "no such blob")
        }
        other => io::Error::other(format!("S3: {other}")),
    }
}

impl S3Store {
    /// Connects lazily to the bucket described by `settings`.
    pub fn open(settings: &S3Settings) -> Result<S3Store, String> {
        let (region, credentials) = settings.region_and_credentials()?;
        let bucket = Bucket::new(&settings.bucket, region, credentials)
            .map_err(|e| format!("S3 bucket: {e}"))?;
        let bucket = if settings.path_style {
            bucket.with_path_style()
        } else {
            bucket
        };
        Ok(S3Store { bucket })
    }

    /// Deletes one object; a missing object is fine.
    async fn delete_object(&self, path: &str) -> io::Result<()> {
        match self.bucket.delete_object(path).await {
            Ok(_) | Err(S3Error::HttpFailWithBody(404, _)) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }
}

impl BlobStore for S3Store {
    fn put_bytes<'a>(&'a self, key: &'a BlobKey, bytes: Bytes) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            self.bucket
                .put_object(key.as_str(), &bytes)
                .await
                .map(|_| ())
                .map_err(to_io)
        })
    }

    fn put_file<'a>(&'a self, key: &'a BlobKey, path: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let mut file = tokio::fs::File::open(path).await?;
            let expected = file.metadata().await?.len();
            match self.bucket.put_object_stream(&mut file, key.as_str()).await {
                Ok(_) => {}
                // CompleteMultipartUpload answers 200 even when it failed, with an <Error> body;
                // rust-s3 also refuses a 200 whose root element is spelled differently (moto,
                // some NAS servers). Only a real <Error> is a failure.
                Err(S3Error::HttpFailWithBody(200, body)) if !body.contains("<Error>") => {}
                Err(e) => return Err(to_io(e)),
            }
            // Given that leniency, the stored object's length is what says it landed whole.
            let stored = self.size(key).await?.unwrap_or(0);
            check_length(Path::new(key.as_str()), stored, expected)
        })
    }

    fn size<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, io::Result<Option<u64>>> {
        Box::pin(async move {
            match self.bucket.head_object(key.as_str()).await {
                Ok((head, 200)) => Ok(Some(head.content_length.unwrap_or(0).max(0) as u64)),
                Ok((_, 404)) | Err(S3Error::HttpFailWithBody(404, _)) => Ok(None),
                Ok((_, status)) => Err(io::Error::other(format!("S3 HEAD returned {status}"))),
                Err(e) => Err(to_io(e)),
            }
        })
    }

    fn read<'a>(
        &'a self,
        key: &'a BlobKey,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, io::Result<BlobStream>> {
        Box::pin(async move {
            let size = self
                .size(key)
                .await?
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such blob"))?;
            let range = clamp_range(range, size)?;
            let (bucket, path) = (self.bucket.clone(), key.as_str().to_owned());
            let stream = futures_util::stream::try_unfold(range.start, move |at| {
                let (bucket, path, end) = (bucket.clone(), path.clone(), range.end);
                async move {
                    if at >= end {
                        return Ok(None);
                    }
                    let last = (at + CHUNK).min(end) - 1;
                    let data = bucket
                        .get_object_range(&path, at, Some(last))
                        .await
                        .map_err(to_io)?;
                    Ok(Some((Bytes::from(data.to_vec()), last + 1)))
                }
            });
            Ok(Box::pin(stream) as BlobStream)
        })
    }

    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(self.delete_object(key.as_str()))
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a BlobKey) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let pages = self
                .bucket
                .list(format!("{prefix}/"), None)
                .await
                .map_err(to_io)?;
            for object in pages.into_iter().flat_map(|p| p.contents) {
                self.delete_object(&object.key).await?;
            }
            self.delete_object(prefix.as_str()).await
        })
    }

    fn name(&self) -> &'static str {
        "s3"
    }
}
