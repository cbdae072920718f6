//! Where archives go: a local directory or an S3-compatible bucket, through `object_store`.
//! S3 credentials, region and endpoint come from the standard `AWS_*` environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP` for a local endpoint).

use crate::error::{ArchiveError, Result};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// Parts of at least this size go to S3 one multipart upload part at a time.
const PART_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    display: String,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Destination {
    /// `s3://bucket/prefix`, `file:///dir`, or a directory path (created if missing).
    pub fn parse(spec: &str) -> Result<Destination> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(ArchiveError::Destination("is empty".into()));
        }
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ArchiveError::Destination(format!(
                    "{spec:?} names no bucket (s3://bucket/prefix)"
                )));
            }
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| ArchiveError::Destination(format!("{spec:?}: {e}")))?;
            return Ok(Destination {
                store: Arc::new(store),
                prefix: ObjectPath::from(prefix.trim_matches('/')),
                display: spec.to_string(),
            });
        }
        if spec.contains("://") && !spec.starts_with("file://") {
            return Err(ArchiveError::Destination(format!(
                "{spec:?}: only directories, file:// and s3:// are supported"
            )));
        }
        let dir = std::path::PathBuf::from(spec.strip_prefix("file://").unwrap_or(spec));
        std::fs::create_dir_all(&dir)
            .map_err(|e| ArchiveError::Destination(format!("{}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| ArchiveError::Destination(format!("{}: {e}", dir.display())))?;
        Ok(Destination {
            store: Arc::new(store),
            prefix: ObjectPath::default(),
            display: dir.display().to_string(),
        })
    }

    fn path(&self, rel: &str) -> ObjectPath {
        let mut parts: Vec<_> = self.prefix.parts().collect();
        parts.extend(rel.split('/').filter(|p| !p.is_empty()).map(Into::into));
        ObjectPath::from_iter(parts)
    }

    /// Streams `bytes` of `from` to `rel` under the destination.
    pub async fn put_reader(
        &self,
        rel: &str,
        mut from: impl tokio::io::AsyncRead + Unpin,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        let upload = self.store.put_multipart(&self.path(rel)).await?;
        let mut out = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; 1024 * 1024];
        let mut total = 0u64;
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            out.wait_for_capacity(4).await?;
            out.write(&buf[..n]);
            total += n as u64;
            progress(n as u64);
        }
        out.finish().await?;
        Ok(total)
    }

    /// Copies a local file to `rel` under the destination.
    pub async fn put_file(&self, rel: &str, file: &std::path::Path) -> Result<u64> {
        let f = tokio::fs::File::open(file).await?;
        self.put_reader(rel, f, |_| {}).await
    }

    /// Names of the objects under the destination (relative, `/`-separated), for tests and
    /// listings.
    pub async fn list(&self) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let metas: Vec<_> = self.store.list(prefix).try_collect().await?;
        let skip = self.prefix.parts().count();
        let mut names: Vec<String> = metas
            .into_iter()
            .map(|m| {
                m.location
                    .parts()
                    .skip(skip)
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_directory_destination_creates_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = Destination::parse(dir.path().join("out").to_str().unwrap()).unwrap();
        let n = d
            .put_reader("project=p/day=2026-01-02/a.jsonl", &b"{}\n"[..], |_| {})
            .await
            .unwrap();
        assert_eq!(n, 3);
        let text = std::fs::read_to_string(dir.path().join("out/project=p/day=2026-01-02/a.jsonl"))
            .unwrap();
        assert_eq!(text, "{}\n");
        assert_eq!(
            d.list().await.unwrap(),
            ["project=p/day=2026-01-02/a.jsonl"]
        );
    }

    #[test]
    fn unsupported_destinations_are_refused_clearly() {
        let e = Destination::parse("gs://bucket").unwrap_err().to_string();
        assert!(e.contains("only directories"), "{e}");
        let e = Destination::parse("s3:///x").unwrap_err().to_string();
        assert!(e.contains("no bucket"), "{e}");
        assert!(Destination::parse("  ").is_err());
    }
}
