//! The key=value scanner.
//!
//! It reads text the way Logstash's kv regular expression does, without
//! backtracking: a key is a run of characters that are neither value nor
//! field separators (a backslash escapes the next character), then a value
//! separator, then an optional value — `"…"`, `'…'`, and with brackets
//! `(…)`, `[…]`, `<…>` kept whole, or else everything up to the next field
//! separator — then a field separator or the end of the text. Where no key
//! can start, the scan moves on. Each position is looked at a bounded
//! number of times, so the cost is linear in the text.

use regex::Regex;

/// A set of characters given as the inside of a regex class (`&?`, `\t`,
/// `<>\[\],`), as Logstash's `field_split`, `value_split`, `trim_*` and
/// `remove_char_*` are.
#[derive(Debug, Clone)]
pub struct CharClass {
    ascii: [bool; 128],
    /// Tests characters outside ASCII; `None` when the class has none.
    other: Option<Regex>,
}

impl CharClass {
    pub fn new(chars: &str) -> Result<CharClass, regex::Error> {
        let re = Regex::new(&format!("^[{chars}]$"))?;
        let mut ascii = [false; 128];
        let mut buf = [0u8; 4];
        for (b, slot) in ascii.iter_mut().enumerate() {
            *slot = re.is_match((b as u8 as char).encode_utf8(&mut buf));
        }
        // Plain ASCII characters with no escapes, ranges or negation
        // cannot match anything else.
        let plain = chars
            .chars()
            .all(|c| c.is_ascii() && !matches!(c, '\\' | '^' | '-' | '[' | ']' | '&' | '~' | ':'));
        Ok(CharClass {
            ascii,
            other: (!plain).then_some(re),
        })
    }

    #[inline]
    pub fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii[c as usize]
        } else {
            match &self.other {
                Some(re) => re.is_match(c.encode_utf8(&mut [0u8; 4])),
                None => false,
            }
        }
    }
}

/// A separator: a set of single characters, or a regex.
#[derive(Debug, Clone)]
pub enum Splitter {
    Chars(CharClass),
    Pattern(Regex),
}

/// Answers "does the separator match at byte `i`?" for increasing `i`
/// without searching the same text twice.
pub struct Probe<'a> {
    splitter: &'a Splitter,
    text: &'a str,
    /// For patterns: the first match at or after `from` (`None`: none).
    from: usize,
    found: Option<(usize, usize)>,
    searched: bool,
}

impl<'a> Probe<'a> {
    pub fn new(splitter: &'a Splitter, text: &'a str) -> Self {
        Probe {
            splitter,
            text,
            from: 0,
            found: None,
            searched: false,
        }
    }

    /// The length of a separator starting exactly at byte `i`, if any.
    pub fn at(&mut self, i: usize) -> Option<usize> {
        match self.splitter {
            Splitter::Chars(class) => {
                let c = self.text[i..].chars().next()?;
                class.contains(c).then(|| c.len_utf8())
            }
            Splitter::Pattern(re) => {
                let valid = self.searched
                    && i >= self.from
                    && self.found.is_none_or(|(start, _)| start >= i);
                if !valid {
                    self.found = next_match(re, self.text, i);
                    self.from = i;
                    self.searched = true;
                }
                match self.found {
                    Some((start, end)) if start == i => Some(end - start),
                    _ => None,
                }
            }
        }
    }
}

/// The first non-empty match of `re` starting at or after `from`.
fn next_match(re: &Regex, text: &str, mut from: usize) -> Option<(usize, usize)> {
    while from <= text.len() {
        let m = re.find_at(text, from)?;
        if m.end() > m.start() {
            return Some((m.start(), m.end()));
        }
        from = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// One key and its value (`None`: nothing after the separator), as byte
/// ranges of the text.
pub type Pair = ((usize, usize), Option<(usize, usize)>);

/// How the text is split.
pub struct Scanner {
    pub field: Splitter,
    pub value: Splitter,
    /// Spaces around the value separator belong to neither side.
    pub lenient: bool,
    pub brackets: bool,
}

const QUOTES: [(char, char); 5] = [('"', '"'), ('\'', '\''), ('(', ')'), ('[', ']'), ('<', '>')];

fn char_at(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// One kind of quote while scanning: where its next closing character is
/// (searched once for many openings) and a separator probe of its own for
/// the text after it.
struct Quote<'a> {
    open: char,
    close: char,
    /// `(from, first unescaped close at or after from)`.
    cached: Option<(usize, Option<usize>)>,
    after: Probe<'a>,
}

impl Quote<'_> {
    /// The first unescaped `close` at or after `from`, where `from` is just
    /// past an opening character (so escape pairs line up with any earlier
    /// search, and its answer can be reused).
    fn close_from(&mut self, text: &str, from: usize) -> Option<usize> {
        if let Some((searched, found)) = self.cached
            && searched <= from
            && found.is_none_or(|f| f >= from)
        {
            return found;
        }
        let found = find_unescaped(text, from, self.close);
        self.cached = Some((from, found));
        found
    }
}

/// The scanner's per-text state.
struct State<'a> {
    field: Probe<'a>,
    value: Probe<'a>,
    quotes: Vec<Quote<'a>>,
}

impl Scanner {
    /// Every key=value pair of `text`, in order.
    pub fn pairs(&self, text: &str) -> Vec<Pair> {
        let kinds = if self.brackets { 5 } else { 2 };
        let mut st = State {
            field: Probe::new(&self.field, text),
            value: Probe::new(&self.value, text),
            quotes: QUOTES[..kinds]
                .iter()
                .map(|&(open, close)| Quote {
                    open,
                    close,
                    cached: None,
                    after: Probe::new(&self.field, text),
                })
                .collect(),
        };
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            match self.pair_at(text, pos, &mut st) {
                Ok((pair, end)) => {
                    out.push(pair);
                    pos = end;
                }
                Err(resume) => {
                    let step = char_at(text, pos).map_or(1, char::len_utf8);
                    pos = resume.max(pos + step);
                }
            }
        }
        out
    }

    /// The pair starting at `pos` and where the next one may start, or
    /// where to try again.
    fn pair_at(&self, text: &str, pos: usize, st: &mut State) -> Result<(Pair, usize), usize> {
        let bytes = text.as_bytes();
        // The key: up to a value separator, a field separator or the end.
        let mut i = pos;
        // The last escaped value separator: a key may end at its backslash.
        let mut escaped_split: Option<(usize, usize)> = None;
        let mut split: Option<(usize, usize)> = None;
        while i < text.len() {
            if bytes[i] == b'\\' && i + 1 < text.len() {
                if let Some(len) = st.value.at(i + 1) {
                    escaped_split = Some((i + 1, len));
                }
                i += 1 + char_at(text, i + 1).map_or(1, char::len_utf8);
                continue;
            }
            if let Some(len) = st.value.at(i) {
                split = Some((i, len));
                break;
            }
            if st.field.at(i).is_some() {
                break;
            }
            i += char_at(text, i).map_or(1, char::len_utf8);
        }
        let key_end = i.min(text.len());
        let (key_end, (split_at, split_len)) = match split {
            Some(s) if key_end > pos => (key_end, s),
            Some(_) => return Err(pos),
            None => {
                // Lenient: `key =value` with spaces as field separators.
                let mut j = key_end;
                if self.lenient {
                    while bytes.get(j) == Some(&b' ') {
                        j += 1;
                    }
                }
                match (j > key_end, st.value.at(j)) {
                    (true, Some(len)) if key_end > pos => (key_end, (j, len)),
                    _ => match escaped_split {
                        Some((at, len)) => (at, (at, len)),
                        None => return Err(key_end),
                    },
                }
            }
        };
        let mut key = (pos, key_end);
        if self.lenient {
            while key.1 > key.0 && bytes[key.1 - 1] == b' ' {
                key.1 -= 1;
            }
            if key.1 == key.0 {
                return Err(split_at);
            }
        }
        // The value.
        let mut p = split_at + split_len;
        if self.lenient {
            while bytes.get(p) == Some(&b' ') {
                p += 1;
            }
        }
        let (value_range, end) = self.value_at(text, p, st);
        Ok(((key, value_range), end))
    }

    /// The value starting at `p` and the end of the pair (after its field
    /// separator).
    fn value_at(&self, text: &str, p: usize, st: &mut State) -> (Option<(usize, usize)>, usize) {
        if p >= text.len() {
            return (None, text.len());
        }
        let first = char_at(text, p);
        for q in st.quotes.iter_mut() {
            if first != Some(q.open) {
                continue;
            }
            let start = p + q.open.len_utf8();
            if let Some(close_at) = q.close_from(text, start) {
                let after = close_at + q.close.len_utf8();
                if after == text.len() {
                    return (Some((start, close_at)), after);
                }
                if let Some(len) = q.after.at(after) {
                    return (Some((start, close_at)), after + len);
                }
            }
        }
        // Unquoted: up to the next field separator.
        let bytes = text.as_bytes();
        let mut i = p;
        while i < text.len() {
            if bytes[i] == b'\\' && i + 1 < text.len() {
                i += 1 + char_at(text, i + 1).map_or(1, char::len_utf8);
                continue;
            }
            if let Some(len) = st.field.at(i) {
                let v = (i > p).then_some((p, i));
                return (v, i + len);
            }
            i += char_at(text, i).map_or(1, char::len_utf8);
        }
        let end = i.min(text.len());
        ((end > p).then_some((p, end)), end)
    }
}

/// The first `close` at or after `from` not escaped by a backslash.
fn find_unescaped(text: &str, from: usize, close: char) -> Option<usize> {
    let mut chars = text[from..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == close {
            return Some(from + i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(field: &str, value: &str) -> Scanner {
        Scanner {
            field: Splitter::Chars(CharClass::new(field).unwrap()),
            value: Splitter::Chars(CharClass::new(value).unwrap()),
            lenient: true,
            brackets: true,
        }
    }

    fn pairs(s: &Scanner, text: &str) -> Vec<(String, Option<String>)> {
        s.pairs(text)
            .into_iter()
            .map(|((ka, kb), v)| {
                (
                    text[ka..kb].to_owned(),
                    v.map(|(a, b)| text[a..b].to_owned()),
                )
            })
            .collect()
    }

    fn kv(k: &str, v: &str) -> (String, Option<String>) {
        (k.to_owned(), Some(v.to_owned()))
    }

    #[test]
    fn char_classes() {
        let c = CharClass::new(r"<>\[\],").unwrap();
        assert!(c.contains('[') && c.contains(',') && !c.contains('a'));
        let c = CharClass::new(r"\t ").unwrap();
        assert!(c.contains('\t') && c.contains(' ') && !c.contains('t'));
        let c = CharClass::new(r"\s").unwrap();
        assert!(c.contains('\u{a0}'));
        let c = CharClass::new("é&").unwrap();
        assert!(c.contains('é') && c.contains('&') && !c.contains('e'));
        assert!(CharClass::new("[").is_err());
    }

    #[test]
    fn simple_pairs() {
        let s = scanner(" ", "=");
        assert_eq!(
            pairs(&s, "ip=1.2.3.4 error=REFUSED"),
            [kv("ip", "1.2.3.4"), kv("error", "REFUSED")]
        );
        assert_eq!(
            pairs(&s, "Hey, from=<abc>, to=def foo=bar"),
            [kv("from", "<abc>,"), kv("to", "def"), kv("foo", "bar")]
        );
    }

    #[test]
    fn quotes_and_brackets() {
        let s = scanner(" ", "=");
        assert_eq!(
            pairs(
                &s,
                r#"a="x y" b='p q' c=(1 2) d=[3 4] e=<5 6> f="unterminated g=1"#
            ),
            [
                kv("a", "x y"),
                kv("b", "p q"),
                kv("c", "1 2"),
                kv("d", "3 4"),
                kv("e", "5 6"),
                kv("f", "\"unterminated"),
                kv("g", "1"),
            ]
        );
        assert_eq!(
            pairs(&s, r#"a="say \"hi\"" b=2"#),
            [kv("a", r#"say \"hi\""#), kv("b", "2")]
        );
        // A closing quote not followed by a separator is not a quoted value.
        assert_eq!(
            pairs(&s, r#"a="x"y b=1"#),
            [kv("a", r#""x"y"#), kv("b", "1")]
        );
        let no_brackets = Scanner {
            brackets: false,
            ..scanner(" ", "=")
        };
        assert_eq!(pairs(&no_brackets, "c=(1 2)"), [kv("c", "(1")]);
    }

    #[test]
    fn empty_values_and_lenient_spaces() {
        let s = scanner(" ", "=");
        assert_eq!(pairs(&s, "a= b=c"), [kv("a", "b=c")]);
        assert_eq!(pairs(&s, "a = b"), [kv("a", "b")]);
        assert_eq!(pairs(&s, "a=\"\" b=1"), [kv("a", ""), kv("b", "1")]);
        let strict = Scanner {
            lenient: false,
            ..scanner(" ", "=")
        };
        assert_eq!(
            pairs(&strict, "a= b=c"),
            [("a".to_owned(), None), kv("b", "c")]
        );
        assert_eq!(pairs(&strict, "a =b"), []);
        let s = scanner("&", "=");
        assert_eq!(pairs(&s, "a = 1&b =2"), [kv("a", "1"), kv("b", "2")]);
        assert_eq!(pairs(&s, "x=&y=2"), [("x".to_owned(), None), kv("y", "2")]);
        assert_eq!(pairs(&s, "x="), [("x".to_owned(), None)]);
    }

    #[test]
    fn several_separator_characters() {
        let s = scanner("&?", "=");
        assert_eq!(
            pairs(&s, "?pin=12345~0&d=123&e=foo@bar.com&oq=bobo&ss=12345"),
            [
                kv("pin", "12345~0"),
                kv("d", "123"),
                kv("e", "foo@bar.com"),
                kv("oq", "bobo"),
                kv("ss", "12345")
            ]
        );
        let s = scanner(" ", ":=");
        assert_eq!(pairs(&s, "a:1 b=2"), [kv("a", "1"), kv("b", "2")]);
    }

    #[test]
    fn escapes() {
        let s = scanner(" ", "=");
        assert_eq!(
            pairs(&s, r"a\ b=c\ d e=f"),
            [kv(r"a\ b", r"c\ d"), kv("e", "f")]
        );
        assert_eq!(pairs(&s, r"a\=b=c"), [kv(r"a\=b", "c")]);
        // With no other separator, the key ends at the escaped one.
        assert_eq!(pairs(&s, r"a\=b"), [kv(r"a\", "b")]);
    }

    #[test]
    fn patterns() {
        let s = Scanner {
            field: Splitter::Pattern(Regex::new(":+").unwrap()),
            value: Splitter::Chars(CharClass::new("=").unwrap()),
            lenient: true,
            brackets: true,
        };
        assert_eq!(
            pairs(&s, "k1=v1:k2=v2::k3=v3:::k4=v4"),
            [
                kv("k1", "v1"),
                kv("k2", "v2"),
                kv("k3", "v3"),
                kv("k4", "v4")
            ]
        );
        let s = Scanner {
            field: Splitter::Pattern(Regex::new(r"\+\+").unwrap()),
            value: Splitter::Pattern(Regex::new("=>").unwrap()),
            lenient: true,
            brackets: true,
        };
        assert_eq!(
            pairs(&s, "k1=>v1++k2=>v=2++k3=>\"a++b\""),
            [kv("k1", "v1"), kv("k2", "v=2"), kv("k3", "a++b")]
        );
    }

    #[test]
    fn long_texts_scan_in_linear_time() {
        let s = scanner(" ", "=");
        let text = "x".repeat(200_000);
        assert!(pairs(&s, &text).is_empty());
        let text = "a=".repeat(100_000);
        assert_eq!(s.pairs(&text).len(), 1);
        let s = Scanner {
            field: Splitter::Pattern(Regex::new(",").unwrap()),
            value: Splitter::Pattern(Regex::new("=").unwrap()),
            lenient: true,
            brackets: true,
        };
        let text = "k=v ".repeat(50_000) + ",";
        assert_eq!(s.pairs(&text).len(), 1);
    }
}
