//! Exports to a destination: the store writes the files into a staging directory, then each
//! is copied to the destination (a directory or a bucket) and the staging copy removed.

use crate::destination::Destination;
use crate::error::Result;
use crate::tarstream;
use bytes::Bytes;
use spyglass_store::Store;
use spyglass_store::archive::{ArchiveFormat, ExportSpec, ExportedFile, Selection};
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

const DAY_NS: i64 = 86_400_000_000_000;

/// `[from, to)` cut at UTC midnights: an export works (and reports progress) a day at a time.
pub fn day_slices(from_ns: i64, to_ns: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = from_ns;
    while at < to_ns {
        let next = ((at.div_euclid(DAY_NS) + 1) * DAY_NS).min(to_ns);
        out.push((at, next));
        at = next;
    }
    out
}

/// A fresh directory under `root` (created if missing), removed when dropped.
fn staging_dir(root: &Path) -> std::io::Result<tempfile::TempDir> {
    std::fs::create_dir_all(root)?;
    tempfile::Builder::new().prefix("export-").tempdir_in(root)
}

/// Runs one export into a fresh staging directory under `staging_root`, copies the files to
/// `dest`, and returns them.
pub async fn export_to(
    store: &dyn Store,
    spec: &ExportSpec,
    dest: &Destination,
    staging_root: &Path,
) -> Result<Vec<ExportedFile>> {
    let staging = staging_dir(staging_root)?;
    let files = store.export(spec, staging.path()).await?;
    for f in &files {
        dest.put_file(&f.path, &staging.path().join(&f.path))
            .await?;
    }
    Ok(files)
}

/// A project's spans started in `[from_ns, to_ns)` as a tar stream of archive files, a day at
/// a time. An error ends the stream early (the client sees a truncated archive and says so).
pub fn export_stream(
    store: Arc<dyn Store>,
    project: String,
    (from_ns, to_ns): (i64, i64),
    format: ArchiveFormat,
    staging_root: std::path::PathBuf,
) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let result = async {
            for (from, to) in day_slices(from_ns, to_ns) {
                let staging = staging_dir(&staging_root)?;
                let spec = ExportSpec {
                    project: project.clone(),
                    selection: Selection::Started {
                        from_ns: from,
                        to_ns: to,
                    },
                    format,
                };
                for f in store.export(&spec, staging.path()).await? {
                    send_file(&tx, &f, &staging.path().join(&f.path)).await?;
                }
            }
            let _ = tx.send(Ok(Bytes::from_static(&tarstream::END))).await;
            Ok::<(), crate::ArchiveError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(project, error = %e, "export stream failed");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    rx
}

async fn send_file(
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
    f: &ExportedFile,
    local: &Path,
) -> Result<()> {
    let gone = || crate::ArchiveError::Format("export client went away".into());
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = tarstream::header(&f.path, f.bytes, mtime)?;
    tx.send(Ok(Bytes::copy_from_slice(&header)))
        .await
        .map_err(|_| gone())?;
    let mut file = tokio::fs::File::open(local).await?;
    let mut left = f.bytes;
    while left > 0 {
        let mut buf = vec![0u8; (1 << 20).min(left as usize)];
        file.read_exact(&mut buf).await?;
        left -= buf.len() as u64;
        tx.send(Ok(Bytes::from(buf))).await.map_err(|_| gone())?;
    }
    let pad = tarstream::padding(f.bytes);
    if !pad.is_empty() {
        tx.send(Ok(Bytes::from_static(pad)))
            .await
            .map_err(|_| gone())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cut_at_utc_midnight() {
        let d = DAY_NS;
        assert_eq!(day_slices(5, 5), vec![]);
        assert_eq!(day_slices(5, 10), vec![(5, 10)]);
        assert_eq!(
            day_slices(d - 1, 2 * d + 3),
            vec![(d - 1, d), (d, 2 * d), (2 * d, 2 * d + 3)]
        );
    }
}
