//! Typed values carried by events.
//!
//! A `Value` is what a field holds: the JSON types plus a native timestamp, so
//! that `@timestamp` and dates parsed by filters keep full precision and can be
//! formatted (index names, sprintf) without being re-parsed from text.

use chrono::{DateTime, Utc};

pub use super::map::Map;

/// One field's value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// JSON `null`; also what a missing optional capture becomes.
    #[default]
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(super::map::Key),
    Array(Vec<Value>),
    Object(Map),
    /// A point in time, serialised as RFC 3339 in UTC.
    Timestamp(DateTime<Utc>),
}

impl Value {
    /// The value as text if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value as a number, for comparisons: integers, floats, and strings
    /// that parse as numbers (Logstash compares `"200"` with `200` that way).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Logstash truthiness: present and neither `null` nor `false`.
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Value::Null | Value::Bool(false))
    }

    /// A short name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Timestamp(_) => "timestamp",
        }
    }

    /// Appends the value as text, the way sprintf shows it: strings bare,
    /// scalars in their JSON form, arrays joined by commas, objects as JSON.
    pub fn write_text(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Null => {}
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Value::String(s) => out.push_str(s),
            Value::Timestamp(t) => super::json::write_timestamp_str(out, t),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_text(out);
                }
            }
            Value::Object(_) => {
                let mut buf = Vec::new();
                super::json::write_value(&mut buf, self);
                out.push_str(&String::from_utf8_lossy(&buf));
            }
        }
    }

    /// The value as owned text (see [`Value::write_text`]).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Integer(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(t: DateTime<Utc>) -> Self {
        Value::Timestamp(t)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}
