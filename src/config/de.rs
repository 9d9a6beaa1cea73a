//! Reads component configs out of [`Node`]s with serde.
//!
//! Component configs are plain `#[derive(Deserialize)]` structs with
//! `#[serde(deny_unknown_fields)]`. This deserializer walks the positioned
//! tree, so every serde error (unknown key, wrong type, missing key) comes
//! back as a [`ConfigError`] with the line, column and key path of the node
//! it concerns, and unknown keys come with the nearest valid one.

use super::error::{ConfigError, Mark, nearest};
use super::yaml::{Node, NodeKind};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

/// Deserializes `T` from `node`.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &'de Node) -> Result<T, ConfigError> {
    T::deserialize(NodeDeserializer { node }).map_err(|e| e.0)
}

/// serde's view of a [`ConfigError`].
#[derive(Debug)]
pub struct DeError(pub ConfigError);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(ConfigError::new(msg.to_string()))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let list = expected
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let msg = if expected.is_empty() {
            format!("unknown key `{field}`: this component takes no options")
        } else {
            format!("unknown key `{field}`; valid keys are {list}")
        };
        DeError(ConfigError::new(msg).with_suggestion(nearest(field, expected.iter().copied())))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let list = expected
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        DeError(
            ConfigError::new(format!("unknown value `{variant}`; expected one of {list}"))
                .with_suggestion(nearest(variant, expected.iter().copied())),
        )
    }

    fn missing_field(field: &'static str) -> Self {
        DeError(ConfigError::new(format!("missing required key `{field}`")))
    }
}

impl DeError {
    fn at(self, mark: Mark) -> Self {
        DeError(self.0.at(mark))
    }
}

/// A serde `Deserializer` over one node.
pub struct NodeDeserializer<'a> {
    pub node: &'a Node,
}

impl<'a> NodeDeserializer<'a> {
    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.node.kind {
            NodeKind::Scalar { text, plain } => Some((text.as_str(), *plain)),
            _ => None,
        }
    }

    fn invalid(&self, expected: &str) -> DeError {
        let found = match &self.node.kind {
            NodeKind::Scalar { text, .. } => format!("`{text}`"),
            _ => self.node.describe().to_owned(),
        };
        DeError(ConfigError::new(format!(
            "expected {expected}, found {found}"
        )))
        .at(self.node.mark)
    }

    fn parse_scalar<T: std::str::FromStr>(&self, expected: &str) -> Result<T, DeError> {
        match self.scalar() {
            Some((text, _)) => text.trim().parse().map_err(|_| self.invalid(expected)),
            None => Err(self.invalid(expected)),
        }
    }
}

macro_rules! deserialize_number {
    ($method:ident, $visit:ident, $ty:ty, $what:expr) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let v: $ty = self.parse_scalar($what)?;
            visitor.$visit(v).map_err(|e: DeError| e.at(self.node.mark))
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let mark = self.node.mark;
        let r = match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Scalar { text, plain: false } => visitor.visit_borrowed_str(text),
            NodeKind::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" => visitor.visit_bool(true),
                "false" | "False" | "FALSE" => visitor.visit_bool(false),
                t => {
                    if let Ok(i) = t.parse::<i64>() {
                        visitor.visit_i64(i)
                    } else if let Some(f) = parse_yaml_float(t) {
                        visitor.visit_f64(f)
                    } else {
                        visitor.visit_borrowed_str(text)
                    }
                }
            },
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                index: 0,
            }),
            NodeKind::Map(pairs) => visitor.visit_map(MapAccess {
                pairs: pairs.iter(),
                current: None,
            }),
        };
        r.map_err(|e| e.at(mark))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let b = match self.scalar() {
            Some(("true" | "True" | "TRUE" | "yes" | "on", _)) => true,
            Some(("false" | "False" | "FALSE" | "no" | "off", _)) => false,
            _ => return Err(self.invalid("true or false")),
        };
        visitor.visit_bool(b)
    }

    deserialize_number!(deserialize_i8, visit_i8, i8, "an integer");
    deserialize_number!(deserialize_i16, visit_i16, i16, "an integer");
    deserialize_number!(deserialize_i32, visit_i32, i32, "an integer");
    deserialize_number!(deserialize_i64, visit_i64, i64, "an integer");
    deserialize_number!(deserialize_u8, visit_u8, u8, "a non-negative integer");
    deserialize_number!(deserialize_u16, visit_u16, u16, "a non-negative integer");
    deserialize_number!(deserialize_u32, visit_u32, u32, "a non-negative integer");
    deserialize_number!(deserialize_u64, visit_u64, u64, "a non-negative integer");
    deserialize_number!(deserialize_f32, visit_f32, f32, "a number");
    deserialize_number!(deserialize_f64, visit_f64, f64, "a number");

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let mut chars = self.scalar().map(|(t, _)| t.chars());
        match chars.as_mut().and_then(|c| {
            let first = c.next();
            if c.next().is_none() { first } else { None }
        }) {
            Some(c) => visitor.visit_char(c),
            None => Err(self.invalid("a single character")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some((text, _)) => visitor
                .visit_borrowed_str(text)
                .map_err(|e: DeError| e.at(self.node.mark)),
            None => Err(self.invalid("text")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            _ => Err(self.invalid("nothing")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(items) => visitor
                .visit_seq(SeqAccess {
                    items: items.iter(),
                    index: 0,
                })
                .map_err(|e| e.at(self.node.mark)),
            _ => Err(self.invalid("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(pairs) => visitor
                .visit_map(MapAccess {
                    pairs: pairs.iter(),
                    current: None,
                })
                .map_err(|e| e.at(self.node.mark)),
            // `{}` written as nothing: `stdin:` with no options.
            NodeKind::Null => visitor
                .visit_map(MapAccess {
                    pairs: [].iter(),
                    current: None,
                })
                .map_err(|e| e.at(self.node.mark)),
            _ => Err(self.invalid("a map")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(self.node.mark)),
            NodeKind::Map(pairs) if pairs.len() == 1 => visitor
                .visit_enum(EnumAccess { pair: &pairs[0] })
                .map_err(|e| e.at(self.node.mark)),
            _ => Err(self.invalid("a name, or a map with a single key")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

fn parse_yaml_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | "+.inf" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" => Some(f64::NAN),
        _ if t.bytes().any(|b| b.is_ascii_digit())
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            t.parse().ok()
        }
        _ => None,
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let i = self.index;
        self.index += 1;
        seed.deserialize(NodeDeserializer { node })
            .map(Some)
            .map_err(|e| DeError(e.0.at(node.mark).under(&format!("[{i}]"))))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    pairs: std::slice::Iter<'a, (Node, Node)>,
    current: Option<&'a (Node, Node)>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(pair) = self.pairs.next() else {
            return Ok(None);
        };
        self.current = Some(pair);
        seed.deserialize(NodeDeserializer { node: &pair.0 })
            .map(Some)
            .map_err(|e| e.at(pair.0.mark))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(pair) = self.current.take() else {
            return Err(DeError(ConfigError::new("value without a key")));
        };
        let key = pair.0.as_str().unwrap_or_default();
        seed.deserialize(NodeDeserializer { node: &pair.1 })
            .map_err(|e| DeError(e.0.at(pair.1.mark).under(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

struct EnumAccess<'a> {
    pair: &'a (Node, Node),
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let v = seed
            .deserialize(NodeDeserializer { node: &self.pair.0 })
            .map_err(|e| e.at(self.pair.0.mark))?;
        Ok((v, VariantAccess { pair: self.pair }))
    }
}

struct VariantAccess<'a> {
    pair: &'a (Node, Node),
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.pair.1.kind {
            NodeKind::Null => Ok(()),
            _ => Err(DeError(ConfigError::new("this value takes no options")).at(self.pair.1.mark)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        let key = self.pair.0.as_str().unwrap_or_default();
        seed.deserialize(NodeDeserializer { node: &self.pair.1 })
            .map_err(|e| DeError(e.0.under(key)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(NodeDeserializer { node: &self.pair.1 }, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(NodeDeserializer { node: &self.pair.1 }, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::{ProcessEnv, parse};
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        paths: Vec<String>,
        #[serde(default)]
        port: u16,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Lines,
        Json,
    }

    fn load(text: &str) -> Result<Sample, ConfigError> {
        let node = parse(text, &ProcessEnv).unwrap();
        from_node(&node)
    }

    #[test]
    fn reads_typed_values() {
        let s = load("paths: [a, 'b']\nport: 5044\nmode: json\n").unwrap();
        assert_eq!(s.paths, ["a", "b"]);
        assert_eq!(s.port, 5044);
        assert_eq!(s.mode, Some(Mode::Json));
    }

    #[test]
    fn unknown_key_has_position_and_suggestion() {
        let e = load("paths: [a]\npotr: 1\n").unwrap_err();
        assert_eq!(e.mark, Some(Mark { line: 2, col: 1 }));
        assert_eq!(e.suggestion.as_deref(), Some("port"));
        assert!(e.message.contains("unknown key `potr`"), "{e}");
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = load("paths: [a]\nport: many\n").unwrap_err();
        assert_eq!(e.mark, Some(Mark { line: 2, col: 7 }));
        assert_eq!(e.key, "port");
        assert!(e.message.contains("expected a non-negative integer"), "{e}");
        let e = load("paths: [a, [b]]\n").unwrap_err();
        assert_eq!(e.key, "paths[1]");
    }

    #[test]
    fn bad_enum_value_suggests() {
        let e = load("paths: []\nmode: jsno\n").unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("json"));
        assert_eq!(e.mark, Some(Mark { line: 2, col: 7 }));
    }

    #[test]
    fn missing_key_is_named() {
        let e = load("port: 1\n").unwrap_err();
        assert!(e.message.contains("missing required key `paths`"), "{e}");
        assert_eq!(e.mark, Some(Mark { line: 1, col: 1 }));
    }
}
