//! Field paths: `[a][b]` (Logstash) and `a.b` (dotted) name the same field.
//!
//! A path is parsed once, when a pipeline is built, and then used for every
//! event. The first segment `@metadata` selects the event's metadata, which
//! outputs never serialise. A bare name containing dots is split on the dots;
//! to name a key that itself contains a dot, use brackets: `[log.level]`.

use super::map::Key;
use std::fmt;

/// Where a path starts: the event's fields or its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    Fields,
    Metadata,
}

/// A parsed field reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    root: Root,
    segments: Box<[Key]>,
}

/// Why a field reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty field reference")]
    Empty,
    #[error("unbalanced brackets in field reference `{0}`")]
    Unbalanced(String),
    #[error("empty segment in field reference `{0}`")]
    EmptySegment(String),
}

impl FieldPath {
    /// Parses `[a][b]`, `a.b` or `a`.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        let mut segments: Vec<Key> = Vec::new();
        if text.starts_with('[') {
            let mut rest = text;
            while !rest.is_empty() {
                let Some(inner) = rest.strip_prefix('[') else {
                    return Err(PathError::Unbalanced(text.to_owned()));
                };
                let Some(close) = inner.find(']') else {
                    return Err(PathError::Unbalanced(text.to_owned()));
                };
                let name = &inner[..close];
                if name.is_empty() || name.contains('[') {
                    return Err(PathError::EmptySegment(text.to_owned()));
                }
                segments.push(Key::from(name));
                rest = &inner[close + 1..];
            }
        } else {
            if text.contains('[') || text.contains(']') {
                return Err(PathError::Unbalanced(text.to_owned()));
            }
            for part in text.split('.') {
                if part.is_empty() {
                    return Err(PathError::EmptySegment(text.to_owned()));
                }
                segments.push(Key::from(part));
            }
        }
        let root = if segments[0] == "@metadata" {
            segments.remove(0);
            Root::Metadata
        } else {
            Root::Fields
        };
        Ok(FieldPath {
            root,
            segments: segments.into_boxed_slice(),
        })
    }

    /// A path of a single top-level key, taken literally (no dot splitting).
    pub fn key(name: &str) -> Self {
        FieldPath {
            root: Root::Fields,
            segments: vec![Key::from(name)].into_boxed_slice(),
        }
    }

    /// The path of `@timestamp`.
    pub fn timestamp() -> Self {
        Self::key(super::TIMESTAMP)
    }

    pub fn root(&self) -> Root {
        self.root
    }

    /// The keys below the root, outermost first. Empty for `[@metadata]`.
    pub fn segments(&self) -> &[Key] {
        &self.segments
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.root == Root::Metadata {
            f.write_str("[@metadata]")?;
        }
        for s in self.segments.iter() {
            write!(f, "[{s}]")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_and_dotted_forms_are_equal() {
        assert_eq!(
            FieldPath::parse("[a][b]").unwrap(),
            FieldPath::parse("a.b").unwrap()
        );
        assert_eq!(
            FieldPath::parse("[log.level]").unwrap().segments(),
            ["log.level"]
        );
    }

    #[test]
    fn metadata_root() {
        let p = FieldPath::parse("[@metadata][beat]").unwrap();
        assert_eq!(p.root(), Root::Metadata);
        assert_eq!(p.segments(), ["beat"]);
        assert_eq!(p.to_string(), "[@metadata][beat]");
        assert_eq!(
            FieldPath::parse("@metadata.x").unwrap().root(),
            Root::Metadata
        );
    }

    #[test]
    fn malformed_paths_are_rejected() {
        for bad in ["", "[a", "[a]b", "a..b", "[]", "a[b]", ".a"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?} should fail");
        }
    }
}
