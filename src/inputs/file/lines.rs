//! Splits the bytes of a file into lines, in any supported encoding.
//!
//! Bytes are read in large chunks and newlines found with memchr. A line
//! keeps its exact byte range in the file, so the registry can record the
//! offset just past it. A line longer than `max_line_bytes` is cut there:
//! the rest up to its newline is skipped without being buffered (memory
//! stays bounded), and the line is tagged truncated. A last line without a
//! newline waits until the caller decides it is complete (idle or close);
//! the newline that ends it later is not a line of its own.

use super::config::Encoding;

/// One line, decoded, with its byte range in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// Offset of the line's first byte.
    pub start: u64,
    /// Offset just past the line and its newline.
    pub end: u64,
    pub truncated: bool,
}

/// Incremental line splitter for one file.
#[derive(Debug)]
pub struct LineSplitter {
    encoding: Encoding,
    max_line_bytes: usize,
    /// Bytes not yet part of an emitted line, starting at file offset `start`.
    buf: Vec<u8>,
    start: u64,
    /// Inside an over-long line: the kept prefix is in `buf`, and
    /// `skipped` bytes after it were read and dropped.
    skipping: bool,
    skipped: u64,
    /// End of a line emitted without its newline (see [`flush`](Self::flush)):
    /// an empty line starting there is that line's late newline, not a line.
    flushed_end: Option<u64>,
    /// UTF-16 only: the odd last byte of a read, half a code unit, held
    /// until the next read so that every search stays unit-aligned.
    carry: Option<u8>,
}

impl LineSplitter {
    pub fn new(encoding: Encoding, max_line_bytes: usize, offset: u64) -> Self {
        LineSplitter {
            encoding,
            max_line_bytes: max_line_bytes.max(1),
            buf: Vec::new(),
            start: offset,
            skipping: false,
            skipped: 0,
            flushed_end: None,
            carry: None,
        }
    }

    /// Reading starts just after a line that was emitted without its
    /// newline (the byte before the start offset is no newline): a newline
    /// found right here ends that line and is not a line of its own.
    pub fn continue_flushed_line(&mut self) {
        self.flushed_end = Some(self.start);
    }

    /// The file offset just past the last byte given to [`push`](Self::push).
    pub fn read_offset(&self) -> u64 {
        self.start + self.pending_bytes() as u64 + self.skipped
    }

    /// Bytes waiting for a newline.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() + usize::from(self.carry.is_some())
    }

    /// Starts over at `offset` (after truncation).
    pub fn reset(&mut self, offset: u64) {
        self.buf.clear();
        self.start = offset;
        self.skipping = false;
        self.skipped = 0;
        self.flushed_end = None;
        self.carry = None;
    }

    /// Feeds bytes read from the file and appends complete lines to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Line>) {
        if !matches!(self.encoding, Encoding::Utf16le | Encoding::Utf16be) {
            return self.push_units(bytes, out);
        }
        // A read may end in the middle of a code unit: keep whole units.
        let joined;
        let bytes = match self.carry.take() {
            Some(b) => {
                joined = [&[b][..], bytes].concat();
                &joined[..]
            }
            None => bytes,
        };
        let whole = bytes.len() & !1;
        if whole < bytes.len() {
            self.carry = Some(bytes[whole]);
        }
        self.push_units(&bytes[..whole], out);
    }

    /// [`push`](Self::push) for whole code units.
    fn push_units(&mut self, mut bytes: &[u8], out: &mut Vec<Line>) {
        while !bytes.is_empty() {
            if self.skipping {
                match self.find_newline(bytes, 0) {
                    Some(nl_end) => {
                        self.skipped += nl_end as u64;
                        bytes = &bytes[nl_end..];
                        self.skipping = false;
                        let line = self.take_line(self.buf.len(), true);
                        self.deliver(line, out);
                    }
                    None => {
                        self.skipped += bytes.len() as u64;
                        return;
                    }
                }
                continue;
            }
            if self.buf.is_empty() {
                // At a line boundary: complete lines are decoded straight
                // from `bytes`; only what follows the last newline (a
                // partial or over-long line) is copied into the buffer.
                let mut head = 0;
                while let Some(nl_end) = self.find_newline(&bytes[head..], 0) {
                    if nl_end > self.max_line_bytes + self.newline_len() {
                        break;
                    }
                    let (start, end) = self.advance(nl_end, false);
                    let line = Line {
                        text: decode(&bytes[head..head + nl_end], self.encoding),
                        start,
                        end,
                        truncated: false,
                    };
                    head += nl_end;
                    self.deliver(line, out);
                }
                bytes = &bytes[head..];
                if bytes.is_empty() {
                    return;
                }
            }
            // Search only the new bytes (plus a unit's tail) for a newline.
            let search_from = self.buf.len().saturating_sub(1);
            self.buf.extend_from_slice(bytes);
            bytes = &[];
            let mut from = search_from;
            // Lines are decoded in place; the buffer is compacted once per
            // push, not once per line (that would move the rest each time).
            let mut head = 0;
            loop {
                match self.find_newline(&self.buf[head..], from) {
                    Some(nl_end) if nl_end <= self.max_line_bytes + self.newline_len() => {
                        let line = self.line_at(head, nl_end, false);
                        head += nl_end;
                        self.deliver(line, out);
                        from = 0;
                    }
                    Some(_) | None if self.buf.len() - head > self.max_line_bytes => {
                        self.buf.drain(..head);
                        head = 0;
                        // Over-long: keep the prefix, skip up to the newline.
                        let keep = self.unit_floor(self.max_line_bytes);
                        let rest = self.buf.split_off(keep);
                        self.skipping = true;
                        self.skipped = 0;
                        // Re-run the rest through the skipping path.
                        self.push_skipping_rest(&rest, out);
                        break;
                    }
                    _ => break,
                }
            }
            if head > 0 {
                self.buf.drain(..head);
            }
        }
    }

    fn push_skipping_rest(&mut self, rest: &[u8], out: &mut Vec<Line>) {
        match self.find_newline(rest, 0) {
            Some(nl_end) => {
                self.skipped += nl_end as u64;
                self.skipping = false;
                let line = self.take_line(self.buf.len(), true);
                self.deliver(line, out);
                let tail = rest[nl_end..].to_vec();
                self.push_units(&tail, out);
            }
            None => self.skipped += rest.len() as u64,
        }
    }

    /// Emits whatever is pending as a last line (idle file, close).
    pub fn flush(&mut self) -> Option<Line> {
        if let Some(b) = self.carry.take() {
            if self.skipping {
                self.skipped += 1;
            } else {
                self.buf.push(b);
            }
        }
        if self.buf.is_empty() && !self.skipping {
            return None;
        }
        let truncated = self.skipping;
        self.skipping = false;
        let line = self.take_line(self.buf.len(), truncated);
        self.flushed_end = Some(line.end);
        Some(line)
    }

    /// Appends a complete line, except the bare newline that ends a line
    /// already flushed without it.
    fn deliver(&mut self, line: Line, out: &mut Vec<Line>) {
        let ends_flushed = self.flushed_end.take() == Some(line.start);
        if ends_flushed && line.text.is_empty() && !line.truncated {
            return;
        }
        out.push(line);
    }

    fn take_line(&mut self, len: usize, truncated: bool) -> Line {
        let line = self.line_at(0, len, truncated);
        self.buf.drain(..len);
        line
    }

    /// The line of `len` bytes at `head` in the buffer, which must be the
    /// next line of the file (it advances the file position).
    fn line_at(&mut self, head: usize, len: usize, truncated: bool) -> Line {
        let (start, end) = self.advance(len, truncated);
        Line {
            text: decode(&self.buf[head..head + len], self.encoding),
            start,
            end,
            truncated,
        }
    }

    /// Moves the file position past the next line, of `len` bytes (plus
    /// the skipped rest of a truncated one); returns the line's range.
    fn advance(&mut self, len: usize, truncated: bool) -> (u64, u64) {
        let start = self.start;
        let end = start + len as u64 + if truncated { self.skipped } else { 0 };
        self.start = end;
        if truncated {
            self.skipped = 0;
        }
        (start, end)
    }

    fn newline_len(&self) -> usize {
        match self.encoding {
            Encoding::Utf16le | Encoding::Utf16be => 2,
            _ => 1,
        }
    }

    fn unit_floor(&self, n: usize) -> usize {
        match self.encoding {
            Encoding::Utf16le | Encoding::Utf16be => n & !1,
            _ => n,
        }
    }

    /// The index just past the first newline at or after `from`.
    fn find_newline(&self, hay: &[u8], from: usize) -> Option<usize> {
        match self.encoding {
            Encoding::Utf8 | Encoding::Latin1 => {
                memchr::memchr(b'\n', &hay[from.min(hay.len())..]).map(|i| from + i + 1)
            }
            Encoding::Utf16le | Encoding::Utf16be => {
                let (nl, zero) = if self.encoding == Encoding::Utf16le {
                    (0, 1)
                } else {
                    (1, 0)
                };
                let mut i = from & !1;
                while i + 1 < hay.len() {
                    if hay[i + nl] == b'\n' && hay[i + zero] == 0 {
                        return Some(i + 2);
                    }
                    i += 2;
                }
                None
            }
        }
    }
}

/// Decodes a raw line and strips its line ending (`\n` or `\r\n`).
fn decode(raw: &[u8], encoding: Encoding) -> String {
    let mut text = match encoding {
        // simdutf8: about three times std's validation speed on log text.
        Encoding::Utf8 => match simdutf8::basic::from_utf8(raw) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(raw).into_owned(),
        },
        Encoding::Latin1 => raw.iter().map(|&b| b as char).collect(),
        Encoding::Utf16le | Encoding::Utf16be => {
            let units = raw.chunks_exact(2).map(|c| {
                if encoding == Encoding::Utf16le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            });
            char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Just;

    fn split(enc: Encoding, max: usize, chunks: &[&[u8]]) -> (Vec<Line>, LineSplitter) {
        let mut s = LineSplitter::new(enc, max, 0);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        (out, s)
    }

    #[test]
    fn lines_keep_exact_offsets_across_chunks() {
        let (lines, s) = split(
            Encoding::Utf8,
            100,
            &[b"ab\ncd", b"e\r\nf", b"g\n", b"tail"],
        );
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.text.as_str(), l.start, l.end))
            .collect();
        assert_eq!(got, [("ab", 0, 3), ("cde", 3, 8), ("fg", 8, 11)]);
        assert_eq!(s.pending_bytes(), 4);
        assert_eq!(s.read_offset(), 15);
    }

    #[test]
    fn partial_line_is_flushed_on_demand() {
        let (_, mut s) = split(Encoding::Utf8, 100, &[b"x"]);
        let l = s.flush().unwrap();
        assert_eq!((l.text.as_str(), l.start, l.end), ("x", 0, 1));
        assert!(s.flush().is_none());
    }

    #[test]
    fn the_late_newline_of_a_flushed_line_is_no_line() {
        let (_, mut s) = split(Encoding::Utf8, 100, &[b"part"]);
        assert_eq!(s.flush().unwrap().text, "part");
        let mut out = Vec::new();
        s.push(b"\nnext\n\n", &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|l| (l.text.as_str(), l.start, l.end))
            .collect();
        assert_eq!(
            got,
            [("next", 5, 10), ("", 10, 11)],
            "later empty lines stay"
        );
        // The same when reading resumes right after such a line.
        let mut s = LineSplitter::new(Encoding::Utf8, 100, 4);
        s.continue_flushed_line();
        let mut out = Vec::new();
        s.push(b"\r\nnext\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].text.as_str(), out[0].start), ("next", 6));
    }

    #[test]
    fn long_lines_are_truncated_not_dropped() {
        let (lines, _) = split(Encoding::Utf8, 4, &[b"abcdefgh", b"ij\nok\n"]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "abcd");
        assert!(lines[0].truncated);
        assert_eq!((lines[0].start, lines[0].end), (0, 11));
        assert_eq!(
            (lines[1].text.as_str(), lines[1].start, lines[1].end),
            ("ok", 11, 14)
        );
        assert!(!lines[1].truncated);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (lines, _) = split(Encoding::Utf8, 100, &[b"a\xffb\n"]);
        assert_eq!(lines[0].text, "a\u{fffd}b");
    }

    #[test]
    fn utf16_and_latin1() {
        let le: Vec<u8> = "hé\r\nzz\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let (lines, _) = split(Encoding::Utf16le, 100, &[&le[..3], &le[3..]]);
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["hé", "zz"]
        );
        assert_eq!(lines[1].end as usize, le.len());
        let be: Vec<u8> = "a\n\u{10a}\n"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        let (lines, _) = split(Encoding::Utf16be, 100, &[&be]);
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["a", "\u{10a}"]
        );
        let (lines, _) = split(Encoding::Latin1, 100, &[b"caf\xe9\n"]);
        assert_eq!(lines[0].text, "café");
    }

    proptest::proptest! {
        /// However the bytes are cut into reads, the same lines come out
        /// (reads straight from the chunk and reads through the buffer
        /// agree), for UTF-8 and UTF-16 and across the length limit.
        #[test]
        fn chunking_does_not_change_the_lines(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    Just(b'\n'), Just(b'\r'), Just(b'a'), Just(0u8), Just(0xc3u8), Just(0xa9u8)
                ],
                0..200,
            ),
            cuts in proptest::collection::vec(0usize..200, 0..8),
            max in 1usize..12,
            utf16 in proptest::bool::ANY,
        ) {
            let enc = if utf16 { Encoding::Utf16le } else { Encoding::Utf8 };
            let (whole, s) = split(enc, max, &[&text]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                chunks.push(&text[at..c]);
                at = c;
            }
            let (pieces, t) = split(enc, max, &chunks);
            proptest::prop_assert_eq!(&whole, &pieces);
            proptest::prop_assert_eq!(s.read_offset(), t.read_offset());
            proptest::prop_assert_eq!(s.pending_bytes(), t.pending_bytes());
        }
    }
}
