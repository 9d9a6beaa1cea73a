//! What makes a file the same file.
//!
//! The rule: a file is its device and inode, confirmed by a fingerprint of
//! its first bytes. A rename keeps device, inode and content: same file,
//! reading goes on. Delete + create that reuses the inode changes the first
//! bytes: a new file, read from the start. Two files whose first lines are
//! identical have different inodes: never confused. The fingerprint covers
//! up to [`FINGERPRINT_BYTES`] and is extended as a short file grows, so a
//! 1-byte file is tracked like any other.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;

/// How many leading bytes identify a file's content.
pub const FINGERPRINT_BYTES: u64 = 1024;

/// Device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
}

impl FileKey {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

impl std::fmt::Display for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// A hash of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Fingerprint {
    pub len: u64,
    pub hash: u64,
}

/// FNV-1a: stable across versions and platforms (the registry persists it).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Fingerprint {
    /// Reads the fingerprint of an open file (up to `FINGERPRINT_BYTES`,
    /// fewer for a shorter file). Restores nothing: callers seek as needed.
    pub fn read(file: &mut File, size: u64) -> std::io::Result<Self> {
        let len = size.min(FINGERPRINT_BYTES);
        let mut buf = vec![0u8; len as usize];
        file.seek(SeekFrom::Start(0))?;
        let mut got = 0;
        while got < buf.len() {
            let n = file.read(&mut buf[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        Ok(Fingerprint {
            len: got as u64,
            hash: fnv1a(&buf),
        })
    }

    /// Whether a file with fingerprint `now` (taken over at least as many
    /// bytes) is the file this fingerprint was taken of.
    pub fn matches_prefix_of(&self, file: &mut File) -> std::io::Result<bool> {
        if self.len == 0 {
            return Ok(true);
        }
        let mut buf = vec![0u8; self.len as usize];
        file.seek(SeekFrom::Start(0))?;
        let mut got = 0;
        while got < buf.len() {
            let n = file.read(&mut buf[got..])?;
            if n == 0 {
                return Ok(false);
            }
            got += n;
        }
        Ok(fnv1a(&buf) == self.hash)
    }

    /// True while more bytes could still be added to the fingerprint.
    pub fn is_partial(&self) -> bool {
        self.len < FINGERPRINT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn same_prefix_matches_and_changed_content_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"x").unwrap();
        let mut f = File::open(&p).unwrap();
        let fp = Fingerprint::read(&mut f, 1).unwrap();
        assert_eq!(fp.len, 1);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"yz")
            .unwrap();
        let mut f = File::open(&p).unwrap();
        assert!(
            fp.matches_prefix_of(&mut f).unwrap(),
            "a grown file is the same file"
        );
        std::fs::write(&p, b"q").unwrap();
        let mut f = File::open(&p).unwrap();
        assert!(
            !fp.matches_prefix_of(&mut f).unwrap(),
            "rewritten content is another file"
        );
    }
}
