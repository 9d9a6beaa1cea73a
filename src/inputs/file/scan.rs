//! Finding the files the globs name.

use regex::RegexSet;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One file a scan found.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub meta: std::fs::Metadata,
}

/// Expands globs, applies exclusions, and reports each problem once.
pub struct Scanner {
    patterns: Vec<String>,
    exclude: RegexSet,
    symlinks: bool,
    reported: HashSet<(PathBuf, String)>,
}

impl Scanner {
    pub fn new(patterns: Vec<String>, exclude: RegexSet, symlinks: bool) -> Self {
        Scanner {
            patterns,
            exclude,
            symlinks,
            reported: HashSet::new(),
        }
    }

    /// Logs a problem with a path the first time it is seen.
    fn report(&mut self, path: &Path, what: &str, err: &dyn std::fmt::Display) {
        if self.reported.insert((path.to_owned(), what.to_owned())) {
            tracing::warn!(path = %path.display(), error = %err, "{what}; will retry on the next scan");
        }
    }

    /// The regular files the globs name now.
    pub fn scan(&mut self) -> Vec<Found> {
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        for pattern in self.patterns.clone() {
            let paths = match glob::glob_with(&pattern, options) {
                Ok(p) => p,
                Err(e) => {
                    self.report(Path::new(&pattern), "invalid glob", &e);
                    continue;
                }
            };
            for entry in paths {
                let path = match entry {
                    Ok(p) => p,
                    Err(e) => {
                        let p = e.path().to_owned();
                        self.report(&p, "cannot read folder", &e);
                        continue;
                    }
                };
                if !seen.insert(path.clone()) || self.exclude.is_match(&path.to_string_lossy()) {
                    continue;
                }
                let lmeta = match std::fs::symlink_metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        self.report(&path, "file vanished or cannot be read", &e);
                        continue;
                    }
                };
                let meta = if lmeta.file_type().is_symlink() {
                    if !self.symlinks {
                        continue;
                    }
                    match std::fs::metadata(&path) {
                        Ok(m) => m,
                        Err(e) => {
                            self.report(&path, "broken symbolic link", &e);
                            continue;
                        }
                    }
                } else {
                    lmeta
                };
                if meta.is_dir() {
                    self.report(
                        &path,
                        "glob matches a folder, not a file",
                        &"is a directory",
                    );
                    continue;
                }
                if !meta.is_file() {
                    continue;
                }
                found.push(Found { path, meta });
            }
        }
        found
    }

    /// Notes an error opening a file (once per path and error).
    pub fn open_failed(&mut self, path: &Path, err: &std::io::Error) {
        self.report(path, "cannot open file", err);
    }

    /// The folders to watch for new files: each glob's literal prefix.
    pub fn watch_roots(&self) -> Vec<(PathBuf, bool)> {
        let mut roots: Vec<(PathBuf, bool)> = Vec::new();
        for p in &self.patterns {
            let recursive = p.contains("**");
            let mut root = PathBuf::new();
            for comp in Path::new(p).components() {
                let s = comp.as_os_str().to_string_lossy();
                if s.contains(['*', '?', '[']) {
                    break;
                }
                root.push(comp);
            }
            if root.as_os_str().is_empty() || root == Path::new(p) {
                root = Path::new(p)
                    .parent()
                    .map(Path::to_owned)
                    .unwrap_or_default();
            }
            if root.as_os_str().is_empty() {
                root = PathBuf::from(".");
            }
            if !roots.iter().any(|(r, _)| r == &root) {
                roots.push((root, recursive));
            }
        }
        roots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_exclusions_folders_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        std::fs::write(d.join("a.log"), "x").unwrap();
        std::fs::write(d.join("b.log.gz"), "x").unwrap();
        std::fs::write(d.join("sub/deeper/c.log"), "x").unwrap();
        std::fs::create_dir(d.join("dir.log")).unwrap();
        std::os::unix::fs::symlink(d.join("a.log"), d.join("link.log")).unwrap();
        let exclude = RegexSet::new([r"\.gz$"]).unwrap();
        let mut s = Scanner::new(
            vec![format!("{}/**/*.log*", d.display())],
            exclude.clone(),
            false,
        );
        let mut names: Vec<_> = s
            .scan()
            .iter()
            .map(|f| f.path.strip_prefix(d).unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["a.log", "sub/deeper/c.log"]);
        let mut s = Scanner::new(vec![format!("{}/*.log", d.display())], exclude, true);
        assert_eq!(s.scan().len(), 2, "the symlink is followed when asked");
        assert_eq!(s.watch_roots(), [(d.to_owned(), false)]);
    }
}
