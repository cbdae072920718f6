//! The export stream: a plain tar (`curl ... | tar x` works) written and read incrementally,
//! so a long export neither waits for its last day nor holds a day's files in memory.

use crate::error::{ArchiveError, Result};
use tokio::io::{AsyncRead, AsyncReadExt};

const BLOCK: usize = 512;

/// The header block of a regular file entry.
pub fn header(path: &str, size: u64, mtime_s: u64) -> Result<[u8; BLOCK]> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .map_err(|e| ArchiveError::Format(format!("tar path {path:?}: {e}")))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(mtime_s);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut out = [0u8; BLOCK];
    out.copy_from_slice(h.as_bytes());
    Ok(out)
}

/// Zero bytes that complete an entry of `size` bytes to whole blocks.
pub fn padding(size: u64) -> &'static [u8] {
    static ZEROS: [u8; BLOCK] = [0; BLOCK];
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 { &[] } else { &ZEROS[..BLOCK - rem] }
}

/// The two zero blocks that end an archive.
pub const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// One entry being read: its path and size; its bytes follow in the reader.
pub struct Entry {
    pub path: String,
    pub size: u64,
}

/// Reads entries in order, handing each one's content to `on_entry` as a reader limited to
/// its size. Ends at the end-of-archive blocks (or a clean end of stream).
pub async fn read_entries<R>(
    reader: &mut R,
    mut on_entry: impl AsyncFnMut(Entry, &mut tokio::io::Take<&mut R>) -> Result<()>,
) -> Result<u64>
where
    R: AsyncRead + Unpin,
{
    let mut entries = 0;
    loop {
        let mut block = [0u8; BLOCK];
        match reader.read_exact(&mut block).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(entries),
            Err(e) => return Err(e.into()),
        }
        if block.iter().all(|b| *b == 0) {
            return Ok(entries);
        }
        let h = tar::Header::from_byte_slice(&block);
        let bad = |what: &str| ArchiveError::Format(format!("export stream: {what}"));
        let size = h.entry_size().map_err(|e| bad(&e.to_string()))?;
        let path = h
            .path()
            .map_err(|e| bad(&e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if h.entry_type() != tar::EntryType::Regular {
            return Err(bad(&format!("{path:?} is not a regular file")));
        }
        if path.starts_with('/') || path.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(bad(&format!("unsafe path {path:?}")));
        }
        let mut body = (&mut *reader).take(size);
        on_entry(Entry { path, size }, &mut body).await?;
        // Whatever the callback left unread, then the padding.
        tokio::io::copy(&mut body, &mut tokio::io::sink()).await?;
        let mut pad = (&mut *reader).take(padding(size).len() as u64);
        tokio::io::copy(&mut pad, &mut tokio::io::sink()).await?;
        entries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_written_are_read_back_and_by_the_tar_crate() {
        let mut stream = Vec::new();
        for (path, body) in [
            ("project=p/day=2026-01-01/a.jsonl", &b"{}\n"[..]),
            ("b", &[7u8; 1024][..]),
        ] {
            stream.extend_from_slice(&header(path, body.len() as u64, 0).unwrap());
            stream.extend_from_slice(body);
            stream.extend_from_slice(padding(body.len() as u64));
        }
        stream.extend_from_slice(&END);
        let mut seen = Vec::new();
        let mut reader = &stream[..];
        let n = read_entries(
            &mut reader,
            async |e: Entry, body: &mut tokio::io::Take<&mut &[u8]>| {
                let mut v = Vec::new();
                body.read_to_end(&mut v).await?;
                seen.push((e.path, e.size, v.len()));
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen[0], ("project=p/day=2026-01-01/a.jsonl".into(), 3, 3));
        assert_eq!(seen[1], ("b".into(), 1024, 1024));
        let mut std_tar = tar::Archive::new(&stream[..]);
        assert_eq!(std_tar.entries().unwrap().count(), 2);
    }

    #[tokio::test]
    async fn unsafe_paths_are_refused() {
        // The tar crate refuses to write such a path; a hostile server would write it raw.
        let mut block = header("aa/x", 0, 0).unwrap();
        block[..2].copy_from_slice(b"..");
        let mut h = tar::Header::from_byte_slice(&block).clone();
        h.set_cksum();
        let mut stream = h.as_bytes().to_vec();
        stream.extend_from_slice(&END);
        let mut reader = &stream[..];
        let e = read_entries(
            &mut reader,
            async |_e: Entry, _b: &mut tokio::io::Take<&mut &[u8]>| Ok(()),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("unsafe path"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any entries written are read back whole and in order; the tar crate agrees.
        #[test]
        fn written_entries_read_back(
            files in proptest::collection::vec(
                ("[a-z0-9=_-]{1,20}(/[a-z0-9=_-][a-z0-9=_.-]{0,29}){0,2}", proptest::collection::vec(proptest::num::u8::ANY, 0..3000)),
                0..5,
            )
        ) {
            let mut stream = Vec::new();
            for (path, body) in &files {
                stream.extend_from_slice(&header(path, body.len() as u64, 0).unwrap());
                stream.extend_from_slice(body);
                stream.extend_from_slice(padding(body.len() as u64));
            }
            stream.extend_from_slice(&END);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut seen = Vec::new();
            let mut reader = &stream[..];
            rt.block_on(read_entries(&mut reader, async |e: Entry, body: &mut tokio::io::Take<&mut &[u8]>| {
                let mut v = Vec::new();
                body.read_to_end(&mut v).await?;
                seen.push((e.path, v));
                Ok(())
            })).unwrap();
            proptest::prop_assert_eq!(&seen, &files);
            proptest::prop_assert_eq!(tar::Archive::new(&stream[..]).entries().unwrap().count(), files.len());
        }

        /// Arbitrary bytes end in entries or an error, never a panic or a hang.
        #[test]
        fn arbitrary_streams_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let mut reader = &bytes[..];
            let _ = rt.block_on(read_entries(&mut reader, async |_e: Entry, body: &mut tokio::io::Take<&mut &[u8]>| {
                let mut v = Vec::new();
                body.read_to_end(&mut v).await?;
                Ok(())
            }));
        }
    }
}
