//! Reproducible archives: tar entries with fixed owner, mode, mtime and order; gzip without a timestamp.

use std::io::Write;

use anyhow::{Context, Result};
use flate2::{Compression, GzBuilder};

/// One entry of a tar archive: a directory (`bytes` = None) or a regular file.
#[derive(Debug)]
pub struct Entry<'a> {
    pub path: String,
    pub bytes: Option<&'a [u8]>,
}

/// A ustar archive of `entries` in the given order, every entry owned by 0:0 with mtime `mtime`.
pub fn tar(entries: &[Entry<'_>], mtime: u64) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        match entry.bytes {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, &entry.path, std::io::empty())
                    .with_context(|| format!("adding {} to a tar", entry.path))?;
            }
            Some(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                builder
                    .append_data(&mut header, &entry.path, bytes)
                    .with_context(|| format!("adding {} to a tar", entry.path))?;
            }
        }
    }
    builder.into_inner().context("finishing a tar")
}

/// Gzip with mtime 0, no file name and a fixed OS byte, so equal input gives equal output.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::best());
    encoder.write_all(bytes).context("gzip")?;
    encoder.finish().context("gzip")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn tar_gz_is_byte_identical_across_runs_and_unpacks_to_the_input() -> Result<()> {
        let make = || -> Result<Vec<u8>> {
            gzip(&tar(&[Entry { path: "plugin.wasm".into(), bytes: Some(b"\0asm\x01\0\0\0") }], 0)?)
        };
        let a = make()?;
        assert_eq!(a, make()?);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "gzip mtime must be zero");

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&a[..]));
        let mut entries = archive.entries()?;
        let mut entry = entries.next().context("one entry")??;
        assert_eq!(entry.path()?.to_str(), Some("plugin.wasm"));
        assert_eq!(entry.header().uid()?, 0);
        assert_eq!(entry.header().mtime()?, 0);
        let mut body = Vec::new();
        entry.read_to_end(&mut body)?;
        assert_eq!(body, b"\0asm\x01\0\0\0");
        assert!(entries.next().is_none());
        Ok(())
    }
}
