//! Recognising the copy that `copytruncate` rotation makes.
//!
//! logrotate's copytruncate copies `app.log` to `app.log.1` (a new inode
//! with the same first bytes) and then truncates `app.log`. Read as a new
//! file, the copy would be ingested twice; not read, the lines written
//! between our last read and the truncation would be lost. So a new file
//! whose first [`FINGERPRINT_BYTES`] equal those of a file we are reading
//! is held back as a "shadow" until that original is truncated, and is
//! then read from the offset the original had been read to. A new file
//! matching a file truncated a moment ago is read from that offset at once.
//!
//! Only full-length fingerprints count for open originals, so small files
//! that merely start alike are never mistaken for copies. A file that only
//! looks like a copy (identical content, but its original is never
//! truncated) is released once it has stopped changing for
//! [`SHADOW_PATIENCE`], and read from its start as a file of its own.

use super::identity::{FINGERPRINT_BYTES, FileKey, Fingerprint};
use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a truncation is remembered while waiting for its copy.
const TRUNCATION_MEMORY: Duration = Duration::from_secs(120);

/// How long a shadow may stay unchanged without its original being
/// truncated. copytruncate truncates right after the copy is complete, so
/// a shadow still waiting after this is no copy: another file that merely
/// has the same first bytes.
const SHADOW_PATIENCE: Duration = Duration::from_secs(10);

/// What a new file is.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A file of its own.
    New,
    /// The copy of a file truncated lately: read from `offset`.
    CopyOf { offset: u64 },
    /// The copy of a file still being read: wait for its truncation.
    Shadow { original: FileKey },
    /// Too young and too short to tell (a copy may be in progress): look
    /// again on the next scan.
    Defer,
}

/// How long a short new file may be a copy still being written.
const COPY_IN_PROGRESS: Duration = Duration::from_secs(2);

/// A shadow released by its original's truncation. `offset` is where the
/// original had been read to; the copy may have been seen while still
/// being written, so the caller clips it to the copy's size now.
#[derive(Debug)]
pub struct Released {
    pub key: FileKey,
    pub path: PathBuf,
    pub fingerprint: Fingerprint,
    pub size: u64,
    pub offset: u64,
}

struct Shadow {
    key: FileKey,
    original: FileKey,
    path: PathBuf,
    fingerprint: Fingerprint,
    size: u64,
    /// When a scan last found `size` changed (or first found the file).
    changed: Instant,
}

struct Truncation {
    fingerprint: Fingerprint,
    offset: u64,
    at: Instant,
}

/// Copies being watched for.
#[derive(Default)]
pub struct Copies {
    shadows: Vec<Shadow>,
    truncations: Vec<Truncation>,
    released: Vec<Released>,
}

impl Copies {
    /// Decides what a newly found file is.
    pub fn classify(
        &mut self,
        file: &mut File,
        size: u64,
        age: Duration,
        active: &[(FileKey, Fingerprint)],
    ) -> Verdict {
        self.truncations
            .retain(|t| t.at.elapsed() < TRUNCATION_MEMORY);
        // A copy being made shows its first bytes before the rest: while a
        // young file is shorter than a fingerprint, wait if it could be one.
        let copy_possible = !self.truncations.is_empty()
            || active.iter().any(|(_, fp)| fp.len == FINGERPRINT_BYTES);
        if size < FINGERPRINT_BYTES && age < COPY_IN_PROGRESS && copy_possible {
            return Verdict::Defer;
        }
        if let Some(i) = self.truncations.iter().position(|t| {
            t.fingerprint.len > 0 && t.fingerprint.matches_prefix_of(file).unwrap_or(false)
        }) {
            if self.truncations[i].offset > size && age < COPY_IN_PROGRESS {
                // Shorter than what was read of the original: still being copied.
                return Verdict::Defer;
            }
            let t = self.truncations.swap_remove(i);
            return Verdict::CopyOf {
                offset: t.offset.min(size),
            };
        }
        for (key, fp) in active {
            if fp.len == FINGERPRINT_BYTES && fp.matches_prefix_of(file).unwrap_or(false) {
                return Verdict::Shadow { original: *key };
            }
        }
        Verdict::New
    }

    pub fn shadow(
        &mut self,
        key: FileKey,
        original: FileKey,
        path: PathBuf,
        fingerprint: Fingerprint,
        size: u64,
    ) {
        if !self.is_shadow(&key) {
            self.shadows.push(Shadow {
                key,
                original,
                path,
                fingerprint,
                size,
                changed: Instant::now(),
            });
        }
    }

    /// Notes the size a scan found a shadow at.
    pub fn observe(&mut self, key: &FileKey, size: u64) {
        if let Some(s) = self.shadows.iter_mut().find(|s| &s.key == key)
            && s.size != size
        {
            s.size = size;
            s.changed = Instant::now();
        }
    }

    /// Releases, to be read from their start, the shadows unchanged for
    /// [`SHADOW_PATIENCE`] whose originals were not truncated: files of
    /// their own with the same first bytes. Shadows the last scan did not
    /// find (`seen`) are forgotten.
    pub fn expire(&mut self, seen: &HashSet<FileKey>) {
        self.shadows.retain(|s| seen.contains(&s.key));
        let (expired, kept): (Vec<Shadow>, Vec<Shadow>) = std::mem::take(&mut self.shadows)
            .into_iter()
            .partition(|s| s.changed.elapsed() >= SHADOW_PATIENCE);
        self.shadows = kept;
        for s in expired {
            tracing::info!(path = %s.path.display(), original = %s.original,
                "same first bytes as an open file that was not truncated: not a copy, reading it from the start");
            self.released.push(Released {
                key: s.key,
                path: s.path,
                fingerprint: s.fingerprint,
                size: s.size,
                offset: 0,
            });
        }
    }

    pub fn is_shadow(&self, key: &FileKey) -> bool {
        self.shadows.iter().any(|s| &s.key == key)
    }

    /// Notes that `original` was truncated after being read to `offset`.
    pub fn truncated(&mut self, original: FileKey, fingerprint: Fingerprint, offset: u64) {
        let (released, kept): (Vec<Shadow>, Vec<Shadow>) = std::mem::take(&mut self.shadows)
            .into_iter()
            .partition(|s| s.original == original);
        self.shadows = kept;
        if released.is_empty() {
            self.truncations.push(Truncation {
                fingerprint,
                offset,
                at: Instant::now(),
            });
        }
        for s in released {
            self.released.push(Released {
                key: s.key,
                path: s.path,
                fingerprint: s.fingerprint,
                size: s.size,
                offset,
            });
        }
    }

    /// Shadows whose originals were truncated since the last call.
    pub fn take_released(&mut self) -> Vec<Released> {
        std::mem::take(&mut self.released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(dir: &std::path::Path, name: &str, bytes: &[u8]) -> (File, u64) {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        (File::open(&p).unwrap(), bytes.len() as u64)
    }

    #[test]
    fn copy_of_an_open_file_waits_for_its_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let content = vec![b'a'; 4000];
        let (mut orig, size) = file_with(dir.path(), "app.log", &content);
        let fp = Fingerprint::read(&mut orig, size).unwrap();
        let key = FileKey { dev: 1, ino: 1 };
        let (mut copy, csize) = file_with(dir.path(), "app.log.1", &content);
        let mut c = Copies::default();
        let old = Duration::from_secs(60);
        assert_eq!(
            c.classify(&mut copy, csize, old, &[(key, fp)]),
            Verdict::Shadow { original: key }
        );
        c.shadow(
            FileKey { dev: 1, ino: 2 },
            key,
            dir.path().join("app.log.1"),
            fp,
            csize,
        );
        c.truncated(key, fp, 3000);
        let released = c.take_released();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].offset, 3000);
    }

    #[test]
    fn a_shadow_whose_original_is_never_truncated_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let original = FileKey { dev: 1, ino: 1 };
        let twin = FileKey { dev: 1, ino: 2 };
        let gone = FileKey { dev: 1, ino: 3 };
        let fp = Fingerprint { len: 1024, hash: 5 };
        let mut c = Copies::default();
        c.shadow(twin, original, dir.path().join("twin.log"), fp, 2000);
        c.shadow(gone, original, dir.path().join("gone.log"), fp, 2000);
        let seen: HashSet<FileKey> = [original, twin].into();
        c.expire(&seen);
        assert!(c.take_released().is_empty(), "too early");
        assert!(c.is_shadow(&twin));
        assert!(!c.is_shadow(&gone), "a shadow no scan finds is forgotten");
        // Growing restarts the wait; then it runs out.
        c.shadows[0].changed -= SHADOW_PATIENCE;
        c.observe(&twin, 2500);
        c.expire(&seen);
        assert!(c.take_released().is_empty(), "still being written");
        c.shadows[0].changed -= SHADOW_PATIENCE;
        c.expire(&seen);
        let released = c.take_released();
        assert_eq!(released.len(), 1);
        assert_eq!((released[0].key, released[0].offset), (twin, 0));
        assert!(!c.is_shadow(&twin));
    }

    #[test]
    fn copy_found_after_the_truncation_starts_where_reading_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let content = vec![b'b'; 2000];
        let (mut copy, size) = file_with(dir.path(), "x.1", &content);
        let fp = Fingerprint::read(&mut copy, size).unwrap();
        let mut c = Copies::default();
        c.truncated(FileKey { dev: 1, ino: 9 }, fp, 1500);
        let old = Duration::from_secs(60);
        assert_eq!(
            c.classify(&mut copy, size, old, &[]),
            Verdict::CopyOf { offset: 1500 }
        );
    }

    #[test]
    fn young_short_files_wait_and_unrelated_files_are_new() {
        let dir = tempfile::tempdir().unwrap();
        let (mut big, bsize) = file_with(dir.path(), "big", &vec![b'c'; 2000]);
        let fp = Fingerprint::read(&mut big, bsize).unwrap();
        let active = [(FileKey { dev: 1, ino: 1 }, fp)];
        let (mut small, ssize) = file_with(dir.path(), "small", b"c");
        let mut c = Copies::default();
        assert_eq!(
            c.classify(&mut small, ssize, Duration::ZERO, &active),
            Verdict::Defer
        );
        assert_eq!(
            c.classify(&mut small, ssize, Duration::from_secs(5), &active),
            Verdict::New
        );
        let (mut other, osize) = file_with(dir.path(), "other", &vec![b'd'; 2000]);
        assert_eq!(
            c.classify(&mut other, osize, Duration::ZERO, &active),
            Verdict::New
        );
    }
}
