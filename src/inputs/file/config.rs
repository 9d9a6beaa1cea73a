//! Options of the `file` input.

use crate::config::{ByteSize, Span};
use indexmap::IndexMap;
use serde::Deserialize;

/// Where reading starts in a file seen for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    Beginning,
    End,
}

/// How new files and changes are noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Watch {
    /// inotify, and polling every `poll_interval` when it is unavailable
    /// (a folder missing at start, inotify limits exhausted).
    #[default]
    Auto,
    /// Never inotify. For file systems whose changes inotify does not
    /// report (NFS, CIFS, FUSE, some bind mounts) and hosts short of
    /// inotify watches.
    Poll,
}

/// Text encodings a log file may use. Lines are split on the encoded
/// newline, so offsets stay exact byte positions in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    #[serde(rename = "utf-16le", alias = "utf16le")]
    Utf16le,
    #[serde(rename = "utf-16be", alias = "utf16be")]
    Utf16be,
    #[serde(rename = "latin1", alias = "iso-8859-1", alias = "latin-1")]
    Latin1,
}

/// `multiline:` — Filebeat's semantics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// `java` or `python`: a ready-made pattern for stack traces.
    #[serde(default)]
    pub preset: Option<MultilinePreset>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub negate: bool,
    #[serde(default = "default_match")]
    pub r#match: MultilineMatch,
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    #[serde(default = "default_ml_timeout")]
    pub timeout: Span,
}

/// Ready-made multiline settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultilinePreset {
    /// The exception line, `at …`, `Caused by: …`, `... N more`, indented
    /// and blank lines continue the previous line: a stack trace is one
    /// event with the log line that reported it.
    Java,
    /// A `Traceback (most recent call last):` block, its indented frames,
    /// chained tracebacks (with their blank lines) and the final exception
    /// line form one event with the line before.
    Python,
}

/// Whether continuation lines join the line before or the line after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultilineMatch {
    After,
    Before,
}

fn default_match() -> MultilineMatch {
    MultilineMatch::After
}
fn default_max_lines() -> usize {
    500
}
fn default_max_bytes() -> ByteSize {
    ByteSize(10 * 1024 * 1024)
}
fn default_ml_timeout() -> Span {
    Span::secs(5)
}

/// `json:` — decode each line as a JSON object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonLinesConfig {
    /// Field that receives the decoded object; empty or absent: the top level.
    #[serde(default)]
    pub target: Option<String>,
    /// Decoded keys replace fields ganymede set (`message`, `@timestamp`, …).
    #[serde(default)]
    pub overwrite_keys: bool,
    /// On a decoding error, add `error.message` (and the tag
    /// `_jsonparsefailure` in any case).
    #[serde(default)]
    pub add_error_key: bool,
}

/// Options of the `file` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Glob patterns: `*`, `?`, `[..]`, `**`.
    pub paths: Vec<String>,
    /// Regexes on the full path of files to leave alone. Default: `\.gz$`.
    #[serde(default = "default_exclude_files")]
    pub exclude_files: Vec<String>,
    /// Keep only lines matching one of these regexes.
    #[serde(default)]
    pub include_lines: Vec<String>,
    /// Drop lines matching one of these regexes (after `include_lines`).
    #[serde(default)]
    pub exclude_lines: Vec<String>,
    /// Follow symbolic links found by the globs.
    #[serde(default)]
    pub symlinks: bool,
    /// Full rescan of the globs, the safety net behind file notifications.
    #[serde(default = "default_scan")]
    pub scan_frequency: Span,
    /// `auto` (inotify, polling as the fallback) or `poll`.
    #[serde(default)]
    pub watch: Watch,
    /// Rescan period when polling: under `watch: poll`, or when
    /// notifications are unavailable.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Span,
    /// For files present at start: `end` (default) or `beginning`
    /// (default under `--once`). Files that appear later are always read
    /// from their beginning.
    #[serde(default)]
    pub start_at: Option<StartAt>,
    /// Emit a last line without newline after the file was idle this long.
    #[serde(default = "default_flush_partial")]
    pub flush_partial_after: Span,
    /// Longer lines are cut there and tagged `_truncated`.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: ByteSize,
    #[serde(default)]
    pub encoding: Encoding,
    /// Close a file not written for this long (it is reopened if it grows).
    #[serde(default = "default_close_inactive")]
    pub close_inactive: Span,
    /// Close a renamed file as soon as it is read to its end.
    #[serde(default)]
    pub close_renamed: bool,
    /// Forget registry entries of files gone for this long.
    #[serde(default = "default_clean_removed")]
    pub clean_removed_after: Span,
    /// Most files open at once; the others wait their turn.
    #[serde(default = "default_harvester_limit")]
    pub harvester_limit: usize,
    /// Skip files not modified for this long.
    #[serde(default)]
    pub ignore_older: Option<Span>,
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    #[serde(default)]
    pub json: Option<JsonLinesConfig>,
    /// Extra fields, under `fields` or at the top level.
    #[serde(default)]
    pub fields: IndexMap<String, serde_json::Value>,
    #[serde(default)]
    pub fields_under_root: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Bytes read from a file per turn.
    #[serde(default = "default_read_buffer")]
    pub read_buffer: ByteSize,
}

fn default_exclude_files() -> Vec<String> {
    vec![r"\.gz$".to_owned()]
}
fn default_scan() -> Span {
    Span::secs(10)
}
fn default_poll_interval() -> Span {
    Span::secs(1)
}
fn default_flush_partial() -> Span {
    Span::secs(5)
}
fn default_max_line() -> ByteSize {
    ByteSize(1024 * 1024)
}
fn default_close_inactive() -> Span {
    Span::secs(300)
}
fn default_clean_removed() -> Span {
    Span::secs(3600)
}
fn default_harvester_limit() -> usize {
    1024
}
fn default_read_buffer() -> ByteSize {
    ByteSize(256 * 1024)
}
