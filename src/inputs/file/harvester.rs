//! Reads one open file: chunks in, lines out.

use super::config::Encoding;
use super::identity::{FileKey, Fingerprint};
use super::lines::{Line, LineSplitter};
use super::multiline::Multiline;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Instant;

/// What one read turn found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// Bytes read from the file.
    pub bytes: usize,
    /// The file was shorter than our offset and reading restarted at 0:
    /// its fingerprint and read offset before the truncation.
    pub truncated: Option<(Fingerprint, u64)>,
}

/// A file just opened, with what identifies it.
pub struct Opened {
    pub key: FileKey,
    pub path: PathBuf,
    pub file: File,
    pub fingerprint: Fingerprint,
}

/// How lines are split.
#[derive(Debug, Clone, Copy)]
pub struct LineSettings {
    pub encoding: Encoding,
    pub max_line_bytes: usize,
}

/// One open file.
pub struct Harvester {
    pub key: FileKey,
    /// Where the file was last seen.
    pub path: PathBuf,
    pub fingerprint: Fingerprint,
    file: File,
    splitter: LineSplitter,
    multiline: Option<Multiline>,
    /// Last time bytes were read.
    pub last_read: Instant,
    /// The path now names another file or nothing: the file was renamed.
    pub renamed: bool,
    /// No path names the file any more: it was deleted.
    pub removed: bool,
    /// The last read reached the end of the file.
    pub at_eof: bool,
}

impl Harvester {
    /// Opens a harvester on `file`, positioned at `offset`.
    pub fn new(
        opened: Opened,
        offset: u64,
        lines: LineSettings,
        multiline: Option<Multiline>,
    ) -> Self {
        let Opened {
            key,
            path,
            file,
            fingerprint,
        } = opened;
        let mut splitter = LineSplitter::new(lines.encoding, lines.max_line_bytes, offset);
        if !follows_newline(&file, offset, lines.encoding) {
            // Resuming after a last line that was sent without its newline.
            splitter.continue_flushed_line();
        }
        Harvester {
            key,
            path,
            fingerprint,
            file,
            splitter,
            multiline,
            last_read: Instant::now(),
            renamed: false,
            removed: false,
            at_eof: false,
        }
    }

    /// The offset just past the bytes read so far.
    pub fn read_offset(&self) -> u64 {
        self.splitter.read_offset()
    }

    /// Reads up to `buf.len()` bytes and appends completed events to `out`.
    pub fn read_turn(&mut self, buf: &mut [u8], out: &mut Vec<Line>) -> std::io::Result<Turn> {
        let mut turn = Turn::default();
        let size = self.file.metadata()?.len();
        let offset = self.read_offset();
        if size < offset {
            // copytruncate (or a writer that truncated): start over. What
            // was read but held back (a last line without newline, an open
            // multiline event) is gone from the file: send it now.
            turn.truncated = Some((self.fingerprint, offset));
            self.flush_all(out);
            self.splitter.reset(0);
            self.fingerprint = Fingerprint::default();
        }
        if self.fingerprint.is_partial() && size > self.fingerprint.len {
            self.fingerprint = Fingerprint::read(&mut self.file, size)?;
        }
        let offset = self.read_offset();
        self.file.seek(SeekFrom::Start(offset))?;
        let n = self.file.read(buf)?;
        self.at_eof = n < buf.len() || offset + n as u64 >= size;
        if n == 0 {
            return Ok(turn);
        }
        self.last_read = Instant::now();
        turn.bytes = n;
        if self.multiline.is_none() {
            self.splitter.push(&buf[..n], out);
            return Ok(turn);
        }
        let mut lines = Vec::new();
        self.splitter.push(&buf[..n], &mut lines);
        let now = self.last_read;
        for line in lines {
            self.emit(line, now, out);
        }
        Ok(turn)
    }

    fn emit(&mut self, line: Line, now: Instant, out: &mut Vec<Line>) {
        match self.multiline.as_mut() {
            Some(m) => out.extend(m.push(line, now)),
            None => out.push(line),
        }
    }

    /// At an idle moment: emits a partial last line after `partial_after`
    /// and a pending multiline event after its timeout.
    pub fn flush_idle(
        &mut self,
        now: Instant,
        partial_after: std::time::Duration,
        out: &mut Vec<Line>,
    ) {
        if self.splitter.pending_bytes() > 0
            && now.duration_since(self.last_read) >= partial_after
            && let Some(line) = self.splitter.flush()
        {
            self.emit(line, now, out);
        }
        if let Some(m) = self.multiline.as_mut() {
            out.extend(m.flush_if_idle(now));
        }
    }

    /// Emits everything pending (the file is being closed for good).
    pub fn flush_all(&mut self, out: &mut Vec<Line>) {
        let now = Instant::now();
        if let Some(line) = self.splitter.flush() {
            self.emit(line, now, out);
        }
        if let Some(m) = self.multiline.as_mut() {
            out.extend(m.flush());
        }
    }

    /// The offset reading resumes at if this harvester is closed now
    /// without flushing: before any held-back line.
    pub fn resume_offset(&self) -> u64 {
        let held = self.read_offset() - self.splitter.pending_bytes() as u64;
        match self.multiline.as_ref().and_then(Multiline::pending_start) {
            Some(start) => start.min(held),
            None => held,
        }
    }
}

/// Whether `offset` is the start of the file or follows a newline (in
/// `encoding`); unknown (a read error) counts as yes.
fn follows_newline(file: &File, offset: u64, encoding: Encoding) -> bool {
    use std::os::unix::fs::FileExt;
    let newline: &[u8] = match encoding {
        Encoding::Utf16le => b"\n\0",
        Encoding::Utf16be => b"\0\n",
        Encoding::Utf8 | Encoding::Latin1 => b"\n",
    };
    let Some(at) = offset.checked_sub(newline.len() as u64) else {
        return true;
    };
    let mut before = [0u8; 2];
    let before = &mut before[..newline.len()];
    file.read_exact_at(before, at).is_err() || before == newline
}
