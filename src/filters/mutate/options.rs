//! Option shapes Logstash accepts loosely: a list that may be written as a
//! single value, and `gsub`'s flat list of triples.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::fmt;

/// One value written as text, a number or a boolean, kept as text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of strings, also accepted as one string (`tag_on_failure: x`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringList(pub Vec<String>);

impl StringList {
    pub fn one(s: &str) -> Self {
        StringList(vec![s.to_owned()])
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<StringList, E> {
                Ok(StringList::default())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_owned()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_string()]))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut out = Vec::new();
                while let Some(Scalar(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(StringList(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `gsub` entry as written: a bare string of the flat Logstash form
/// (`[field, regex, replacement, field, …]`) or a `[field, regex,
/// replacement]` list.
enum GsubItem {
    Scalar(String),
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for GsubItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GsubItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a [field, regex, replacement] list")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GsubItem, E> {
                Ok(GsubItem::Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GsubItem, E> {
                Ok(GsubItem::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GsubItem, E> {
                Ok(GsubItem::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<GsubItem, E> {
                Ok(GsubItem::Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<GsubItem, E> {
                Ok(GsubItem::Scalar(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GsubItem, A::Error> {
                let mut out = Vec::new();
                while let Some(Scalar(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(GsubItem::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `gsub` as `(field, regex, replacement)` triples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GsubList(pub Vec<[String; 3]>);

impl<'de> Deserialize<'de> for GsubList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GsubList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of field, regex, replacement triples")
            }
            fn visit_unit<E: de::Error>(self) -> Result<GsubList, E> {
                Ok(GsubList::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GsubList, A::Error> {
                let mut out = Vec::new();
                let mut flat: Vec<String> = Vec::new();
                while let Some(item) = seq.next_element::<GsubItem>()? {
                    match item {
                        GsubItem::Scalar(s) => {
                            flat.push(s);
                            if flat.len() == 3 {
                                let [a, b, c]: [String; 3] =
                                    std::mem::take(&mut flat)
                                        .try_into()
                                        .map_err(|_| de::Error::custom("gsub: internal error"))?;
                                out.push([a, b, c]);
                            }
                        }
                        GsubItem::List(list) => {
                            if !flat.is_empty() {
                                return Err(de::Error::custom(
                                    "gsub: a [field, regex, replacement] list cannot follow an incomplete flat triple",
                                ));
                            }
                            let n = list.len();
                            let triple: [String; 3] = list.try_into().map_err(|_| {
                                de::Error::custom(format!(
                                    "gsub: each list needs exactly 3 elements (field, regex, replacement), found {n}"
                                ))
                            })?;
                            out.push(triple);
                        }
                    }
                }
                if !flat.is_empty() {
                    return Err(de::Error::custom(format!(
                        "gsub takes 3 elements per substitution (field, regex, replacement); {} left over",
                        flat.len()
                    )));
                }
                Ok(GsubList(out))
            }
        }
        d.deserialize_any(V)
    }
}
