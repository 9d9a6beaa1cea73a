//! JSON text to [`Value`]s, without an intermediate tree.
//!
//! Every beats event, JSON log line and `json` filter passes through here,
//! so this is a direct recursive-descent parser rather than serde's
//! visitor machinery (which costs a call through several layers per key
//! and per value). It accepts exactly RFC 8259 JSON, as serde_json does,
//! and builds the same values as decoding through serde would: integers
//! that fit an `i64` stay integers, larger ones and any number with a
//! fraction or exponent become floats, a repeated key keeps its first
//! place and its last value. The tests compare it with serde_json on
//! arbitrary documents.

use super::map::{INDEXED_FROM, Key, Map};
use super::value::Value;
use std::fmt;

/// Nesting deeper than this is refused (serde_json's limit too), so that
/// a hostile document cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Why a text is not JSON, and where (line and column, from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    reason: &'static str,
    line: usize,
    column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.reason, self.line, self.column
        )
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON value, with nothing but whitespace around it.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    // Validating the whole text once lets strings be sliced out of it
    // without checking each again: every delimiter is ASCII, so every
    // slice between delimiters is valid UTF-8 too.
    let text = match simdutf8::basic::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            let valid = std::str::from_utf8(bytes)
                .err()
                .map_or(0, |e| e.valid_up_to());
            return Err(*error_at(bytes, valid, "invalid UTF-8"));
        }
    };
    let mut p = Parser {
        text,
        bytes,
        pos: 0,
        depth: 0,
        reused: REUSED.take(),
    };
    let mut result = p.value();
    p.skip_ws();
    if result.is_ok() && p.pos < bytes.len() {
        result = Err(p.error("trailing characters"));
    }
    p.reused.scratch.clear();
    if p.reused.scratch.capacity() <= MAX_KEPT_SCRATCH {
        REUSED.set(p.reused);
    }
    result.map_err(|e| *e)
}

/// What parses on one thread reuse: the scratch space for object members
/// and the keys seen lately.
#[derive(Default)]
struct Reused {
    scratch: Vec<(Key, Value)>,
    /// Recent object keys, direct-mapped by a cheap hash (empty until the
    /// first key). The same few keys come back in every event of a
    /// stream; a cached key is copied whole, which is cheaper than
    /// assembling a new inline key from its bytes.
    keys: Vec<Key>,
}

const KEY_SLOTS: usize = 256;
/// A scratch vector grown past this by a huge document is not kept.
const MAX_KEPT_SCRATCH: usize = 4096;

thread_local! {
    static REUSED: std::cell::Cell<Reused> = const {
        std::cell::Cell::new(Reused { scratch: Vec::new(), keys: Vec::new() })
    };
}

#[cold]
fn error_at(bytes: &[u8], pos: usize, reason: &'static str) -> Fail {
    let before = &bytes[..pos.min(bytes.len())];
    let line = 1 + memchr::memchr_iter(b'\n', before).count();
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    Box::new(JsonError {
        reason,
        line,
        column: before.len() - line_start + 1,
    })
}

/// Errors are rare: boxed, so that results stay the size of a value.
type Fail = Box<JsonError>;

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// `scratch` holds the members of the objects being read, one run
    /// per nesting level (an object is allocated once, at its final size).
    reused: Reused,
}

impl Parser<'_> {
    #[cold]
    fn error(&self, reason: &'static str) -> Fail {
        error_at(self.bytes, self.pos, reason)
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value, Fail> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.string().map(Value::String)
            }
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn nested(&mut self, read: fn(&mut Self) -> Result<Value, Fail>) -> Result<Value, Fail> {
        if self.depth == MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.depth += 1;
        self.pos += 1;
        let v = read(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, Fail> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word) {
            self.pos = end;
            return Ok(value);
        }
        let rest = &self.bytes[self.pos..];
        let same = rest.iter().zip(word).take_while(|(a, b)| a == b).count();
        self.pos += same;
        Err(match self.peek() {
            None => self.error("EOF while parsing a value"),
            Some(_) => self.error("expected ident"),
        })
    }

    /// After `{`.
    fn object(&mut self) -> Result<Value, Fail> {
        let first = self.reused.scratch.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(Map::new()));
        }
        let result = self.members();
        let members = self.reused.scratch.drain(first..);
        match result {
            Ok(()) => Ok(Value::Object(build_map(members))),
            Err(e) => Err(e),
        }
    }

    /// The members of an object up to its `}`, onto the scratch space (the
    /// caller takes them off, whether this succeeds or not).
    fn members(&mut self) -> Result<(), Fail> {
        loop {
            match self.peek() {
                Some(b'"') => self.pos += 1,
                Some(_) => return Err(self.error("key must be a string")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            let key = self.key()?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(self.error("expected `:`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            let value = self.value()?;
            self.reused.scratch.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
    }

    /// After `[`.
    fn array(&mut self) -> Result<Value, Fail> {
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(_) => return Err(self.error("expected `,` or `]`")),
                None => return Err(self.error("EOF while parsing a list")),
            }
        }
    }

    /// An object key, after its opening quote: from the cache of recent
    /// keys when it is there.
    fn key(&mut self) -> Result<Key, Fail> {
        let start = self.pos;
        match super::json::next_escape(self.bytes, start) {
            Some(end) if self.bytes[end] == b'"' && end > start && end - start <= 24 => {
                let b = &self.bytes[start..end];
                self.pos = end + 1;
                let keys = &mut self.reused.keys;
                if keys.is_empty() {
                    keys.resize(KEY_SLOTS, Key::const_new(""));
                }
                let slot = (b.len() * 31 + usize::from(b[0]) * 7 + usize::from(b[b.len() - 1]))
                    % KEY_SLOTS;
                if keys[slot].as_bytes() == b {
                    return Ok(keys[slot].clone());
                }
                let key = Key::from(&self.text[start..end]);
                keys[slot] = key.clone();
                Ok(key)
            }
            _ => self.string(),
        }
    }

    /// After the opening quote; leaves `pos` after the closing one.
    fn string(&mut self) -> Result<Key, Fail> {
        let start = self.pos;
        let at = super::json::next_escape(self.bytes, start);
        match at.map(|i| self.bytes[i]) {
            Some(b'"') => {
                let end = at.unwrap_or_default();
                self.pos = end + 1;
                Ok(Key::from(&self.text[start..end]))
            }
            Some(b'\\') => self.escaped_string(start, at.unwrap_or_default()),
            Some(_) => {
                self.pos = at.unwrap_or_default();
                Err(self.error("control character (\\u0000-\\u001F) found while parsing a string"))
            }
            None => {
                self.pos = self.bytes.len();
                Err(self.error("EOF while parsing a string"))
            }
        }
    }

    /// A string with escapes: `start` is its first byte, `at` its first
    /// backslash.
    fn escaped_string(&mut self, start: usize, mut at: usize) -> Result<Key, Fail> {
        let mut out = String::with_capacity(at - start + 16);
        let mut from = start;
        loop {
            out.push_str(&self.text[from..at]);
            match self.bytes[at] {
                b'"' => {
                    self.pos = at + 1;
                    return Ok(Key::from(out));
                }
                b'\\' => {
                    self.pos = at + 1;
                    self.escape(&mut out)?;
                    from = self.pos;
                }
                _ => {
                    self.pos = at;
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
            match super::json::next_escape(self.bytes, from) {
                Some(i) => at = i,
                None => {
                    self.pos = self.bytes.len();
                    return Err(self.error("EOF while parsing a string"));
                }
            }
        }
    }

    /// After a backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), Fail> {
        let Some(b) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.pos += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        let c = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER)
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error("lone leading surrogate in hex escape"));
                    }
                    _ => char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER),
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.error("invalid escape"));
            }
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, Fail> {
        let mut n: u16 = 0;
        for _ in 0..4 {
            let Some(b) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(self.error("invalid escape")),
            };
            n = n << 4 | u16::from(d);
            self.pos += 1;
        }
        Ok(n)
    }

    fn number(&mut self) -> Result<Value, Fail> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        // Integer part: `0` or a non-zero digit and more digits.
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            Some(_) => return Err(self.error("invalid number")),
            None => return Err(self.error("EOF while parsing a value")),
        }
        let int_end = self.pos;
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
            float = true;
        }
        if !float {
            let digits = &self.bytes[int_start..int_end];
            if digits.len() <= 19 {
                let mut n: u64 = 0;
                let mut fits = true;
                for &d in digits {
                    match n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(d - b'0')))
                    {
                        Some(m) => n = m,
                        None => {
                            fits = false;
                            break;
                        }
                    }
                }
                if fits {
                    return Ok(if negative {
                        // `-0` and what is below i64::MIN are floats, as
                        // serde_json reads them.
                        match 0i64.checked_sub_unsigned(n) {
                            Some(i) if n != 0 => Value::Integer(i),
                            _ => Value::Float(-(n as f64)),
                        }
                    } else {
                        i64::try_from(n).map_or(Value::Float(n as f64), Value::Integer)
                    });
                }
            }
        }
        match self.text[start..self.pos].parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => {
                self.pos = start;
                Err(self.error("number out of range"))
            }
        }
    }

    /// One digit or more (after `.`, `e`, `e+`, `e-`).
    fn some_digits(&mut self) -> Result<(), Fail> {
        match self.peek() {
            Some(b'0'..=b'9') => {
                self.digits();
                Ok(())
            }
            Some(_) => Err(self.error("invalid number")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

/// The object of `members`, in order; a repeated key keeps its first
/// place and takes its last value.
fn build_map(members: std::vec::Drain<'_, (Key, Value)>) -> Map {
    let members: Vec<(Key, Value)> = members.collect();
    let n = members.len();
    let distinct =
        n <= INDEXED_FROM && (1..n).all(|i| !members[..i].iter().any(|(k, _)| *k == members[i].0));
    if distinct {
        return Map::from_distinct(members);
    }
    let mut map = Map::with_capacity(n);
    for (k, v) in members {
        map.insert(k, v);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn via_serde(text: &[u8]) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(text)
    }

    /// Equal values with keys in the same order; floats may differ in the
    /// last bit (serde_json's default float parsing is not always
    /// correctly rounded; ours, Rust's, is).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => {
                // Within two units in the last place.
                x == y
                    || (x.is_sign_negative() == y.is_sign_negative()
                        && x.to_bits().abs_diff(y.to_bits()) <= 2)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y.iter())
                        .all(|((k, a), (l, b))| k == l && same(a, b))
            }
            _ => a == b,
        }
    }

    fn agree(text: &str) {
        let ours = parse(text.as_bytes());
        let theirs = via_serde(text.as_bytes());
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert!(same(a, b), "{text:?}: {a:?} vs {b:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    #[test]
    fn documents_read_as_serde_json_reads_them() {
        for text in [
            r#"{"@timestamp":"2026-11-27T08:00:00.000Z","@metadata":{"beat":"filebeat","type":"_doc"},"message":"GET / 200","seq":17,"fields":{"type":"test"},"host":{"name":"app-01"}}"#,
            r#"  {"a" : [1, -2, 3.5, -0.0, 1e3, 1E-2, true, false, null, "x"], "b": {}} "#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#""\u00e9\ud83d\ude00\n\t\"\\\/""#,
            r#"[[],[[]],{"":""}]"#,
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "123456789012345678901234567890",
            "0",
            "-0",
            "1.7976931348623157e308",
            "2.2250738585072014e-308",
            "5e-324",
            "\"héllo wörld\"",
        ] {
            agree(text);
        }
    }

    #[test]
    fn malformed_documents_are_refused_with_a_place() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1e+",
            "+1",
            "tru",
            "nul",
            "truex",
            "\"abc",
            "\"a\u{1}b\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "1e400",
            "[1] [2]",
            "{\"a\":1}}",
            "NaN",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?} accepted");
            assert!(
                via_serde(bad.as_bytes()).is_err(),
                "{bad:?}: serde_json accepts it"
            );
        }
        let e = parse(b"{\"a\":1,\n  \"b\" 2}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 7), "{e}");
        assert!(e.to_string().ends_with("at line 2 column 7"), "{e}");
        assert!(parse(b"\"\xff\"").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(deep.as_bytes()).is_err(), "nesting is bounded");
        let ok = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(ok.as_bytes()).is_ok());
    }

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|i| i.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:e}")),
            "-?[0-9]{1,25}(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,3})?",
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            "\"([a-z \\\\\"]|\\\\[nrtbf/\"\\\\]|\\\\u[0-9a-fA-F]{4})*\"",
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6)
                    .prop_map(|items| format!("[{}]", items.join(" , "))),
                proptest::collection::vec(("[a-e]{0,3}", inner), 0..16).prop_map(|members| {
                    let body: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    format!("{{ {} }}", body.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_generated_documents(text in json_text()) {
            agree(&text);
        }

        #[test]
        fn agrees_with_serde_json_on_mangled_documents(
            text in json_text(),
            cut in any::<prop::sample::Index>(),
            byte in prop::sample::select(vec![b'"', b'\\', b',', b':', b'}', b']', b'x', b'0', 0x01, 0xff]),
        ) {
            let mut bytes = text.into_bytes();
            if !bytes.is_empty() {
                let i = cut.index(bytes.len());
                bytes[i] = byte;
            }
            let ours = parse(&bytes);
            let theirs = via_serde(&bytes);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}", String::from_utf8_lossy(&bytes));
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                prop_assert!(same(&a, &b), "{:?} vs {:?}", a, b);
            }
        }
    }
}
