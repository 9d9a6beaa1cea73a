//! The file input's registry: how far each file has been delivered.
//!
//! It records only offsets whose batches' receipts resolved, over
//! contiguous ranges (see `delivery::CommitTracker`), so after a crash
//! reading resumes at or before the first undelivered line: lines may be
//! read twice, never skipped. It is written atomically (temp file, fsync,
//! rename, fsync of the folder), at most once a second and at shutdown. A
//! corrupt registry is reported and moved aside, and the input starts clean.

use super::identity::{FileKey, Fingerprint};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What is known of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: FileKey,
    /// Last path the file was seen at.
    pub path: PathBuf,
    pub fingerprint: Fingerprint,
    /// Every byte before this offset was delivered.
    pub offset: u64,
    /// Unix seconds when the file was last seen by a scan.
    pub last_seen: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    entries: Vec<Entry>,
}

const VERSION: u32 = 1;

/// The registry of one file input.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    entries: BTreeMap<FileKey, Entry>,
    dirty: bool,
}

impl Registry {
    /// Loads the registry at `path`. A missing file is an empty registry; a
    /// corrupt one is moved aside with a warning.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let mut reg = Registry {
            path: path.to_owned(),
            entries: BTreeMap::new(),
            dirty: false,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(reg),
            Err(e) => return Err(e),
        };
        match serde_json::from_slice::<OnDisk>(&bytes) {
            Ok(d) if d.version == VERSION => {
                reg.entries = d.entries.into_iter().map(|e| (e.key, e)).collect();
            }
            Ok(d) => {
                let aside = reg.move_aside()?;
                tracing::warn!(registry = %path.display(), version = d.version, moved_to = %aside.display(),
                    "registry has an unknown version; moved aside, starting clean");
            }
            Err(e) => {
                let aside = reg.move_aside()?;
                tracing::warn!(registry = %path.display(), error = %e, moved_to = %aside.display(),
                    "registry is corrupt; moved aside, starting clean (files are read according to start_at)");
            }
        }
        Ok(reg)
    }

    fn move_aside(&self) -> std::io::Result<PathBuf> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
        let aside = self.path.with_extension(format!("corrupt-{stamp}"));
        std::fs::rename(&self.path, &aside)?;
        Ok(aside)
    }

    pub fn get(&self, key: &FileKey) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Inserts or replaces the entry of a file.
    pub fn put(&mut self, entry: Entry) {
        if self.entries.get(&entry.key) != Some(&entry) {
            self.entries.insert(entry.key, entry);
            self.dirty = true;
        }
    }

    /// Records a delivered offset.
    pub fn advance(&mut self, key: &FileKey, offset: u64) {
        if let Some(e) = self.entries.get_mut(key)
            && e.offset != offset
        {
            e.offset = offset;
            self.dirty = true;
        }
    }

    pub fn remove(&mut self, key: &FileKey) {
        if self.entries.remove(key).is_some() {
            self.dirty = true;
        }
    }

    /// Drops entries whose files were last seen before `cutoff` (unix s),
    /// except those `keep` says are still open.
    pub fn clean(&mut self, cutoff: i64, keep: impl Fn(&FileKey) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|k, e| e.last_seen >= cutoff || keep(k));
        let removed = before - self.entries.len();
        if removed > 0 {
            self.dirty = true;
        }
        removed
    }

    /// Writes the registry if it changed: temp file, fsync, rename, fsync
    /// of the folder.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("tmp");
        let doc = OnDisk {
            version: VERSION,
            entries: self.entries.values().cloned().collect(),
        };
        {
            let mut f = File::create(&tmp)?;
            serde_json::to_writer(&mut f, &doc).map_err(std::io::Error::other)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        File::open(dir)?.sync_all()?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ino: u64, offset: u64) -> Entry {
        Entry {
            key: FileKey { dev: 1, ino },
            path: PathBuf::from(format!("/x/{ino}.log")),
            fingerprint: Fingerprint { len: 3, hash: 7 },
            offset,
            last_seen: 100,
        }
    }

    #[test]
    fn round_trip_and_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("reg.json");
        let mut r = Registry::load(&p).unwrap();
        r.put(entry(1, 10));
        r.put(entry(2, 20));
        r.advance(&FileKey { dev: 1, ino: 1 }, 15);
        r.flush().unwrap();
        assert!(!dir.path().join("reg.tmp").exists());
        let r2 = Registry::load(&p).unwrap();
        assert_eq!(r2.get(&FileKey { dev: 1, ino: 1 }).unwrap().offset, 15);
        assert_eq!(r2.len(), 2);
    }

    #[test]
    fn corrupt_registry_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("reg.json");
        std::fs::write(&p, b"{\"version\":1,\"entr").unwrap();
        let r = Registry::load(&p).unwrap();
        assert!(r.is_empty());
        assert!(!p.exists());
        let aside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(aside.len(), 1, "the corrupt file is kept for inspection");
    }

    #[test]
    fn clean_drops_long_gone_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Registry::load(&dir.path().join("r.json")).unwrap();
        let mut old = entry(1, 0);
        old.last_seen = 10;
        r.put(old);
        r.put(entry(2, 0));
        assert_eq!(r.clean(50, |_| false), 1);
        assert_eq!(r.len(), 1);
    }
}
