//! `convert` and the text forms Logstash gives values (Ruby's `to_s`).

use crate::event::Value;
use serde::Deserialize;

/// Target types of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    Integer,
    Float,
    /// `1.234,5` style: `.` groups digits, `,` is the decimal mark.
    IntegerEu,
    FloatEu,
    Boolean,
    String,
}

impl Conversion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conversion::Integer => "integer",
            Conversion::Float => "float",
            Conversion::IntegerEu => "integer_eu",
            Conversion::FloatEu => "float_eu",
            Conversion::Boolean => "boolean",
            Conversion::String => "string",
        }
    }
}

/// Why a value did not convert (the event gets `tag_on_failure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError;

/// Converts one value as Logstash 8 does. `Ok(None)` means "leave the value
/// as it is" (an object, a `null`, a boolean-looking value that is not one);
/// `Err` means the value cannot be a number.
pub fn convert(value: &Value, to: Conversion) -> Result<Option<Value>, ConvertError> {
    match value {
        Value::Object(_) | Value::Null => Ok(None),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut failed = false;
            for item in items {
                match item {
                    Value::Null => out.push(Value::Null),
                    _ => match convert(item, to) {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => out.push(item.clone()),
                        Err(_) => {
                            failed = true;
                            out.push(item.clone());
                        }
                    },
                }
            }
            if failed {
                Err(ConvertError)
            } else {
                Ok(Some(Value::Array(out)))
            }
        }
        _ => convert_scalar(value, to),
    }
}

fn convert_scalar(value: &Value, to: Conversion) -> Result<Option<Value>, ConvertError> {
    match to {
        Conversion::Integer => to_integer(value, false).map(Some),
        Conversion::IntegerEu => to_integer(value, true).map(Some),
        Conversion::Float => to_float(value, false).map(Some),
        Conversion::FloatEu => to_float(value, true).map(Some),
        Conversion::Boolean => Ok(to_boolean(value)),
        Conversion::String => Ok(Some(Value::String(text(value).into()))),
    }
}

/// Text with `,` group separators removed (`.` and `,` swapped first for
/// the `_eu` variants).
fn number_text(s: &str, eu: bool) -> String {
    let s = s.trim();
    if eu {
        s.chars()
            .filter_map(|c| match c {
                '.' => None,
                ',' => Some('.'),
                c => Some(c),
            })
            .collect()
    } else {
        s.chars().filter(|&c| c != ',').collect()
    }
}

/// `0x1A`, `-0x1a`: a hexadecimal integer.
fn parse_hex(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))?;
    let v = i64::from_str_radix(digits, 16).ok()?;
    Some(if neg { -v } else { v })
}

/// A decimal number as Ruby's `Float()` reads it: digits with an optional
/// sign, fraction and exponent (no `inf` or `nan` words).
fn parse_decimal(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn to_integer(value: &Value, eu: bool) -> Result<Value, ConvertError> {
    match value {
        Value::Integer(i) => Ok(Value::Integer(*i)),
        Value::Bool(b) => Ok(Value::Integer(*b as i64)),
        Value::Float(f) => float_to_integer(*f),
        Value::String(s) => {
            let t = number_text(s, eu);
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::Integer(i));
            }
            if let Some(i) = parse_hex(&t) {
                return Ok(Value::Integer(i));
            }
            parse_decimal(&t)
                .ok_or(ConvertError)
                .and_then(float_to_integer)
        }
        _ => Err(ConvertError),
    }
}

fn float_to_integer(f: f64) -> Result<Value, ConvertError> {
    let t = f.trunc();
    if t.is_finite() && t >= i64::MIN as f64 && t < i64::MAX as f64 {
        Ok(Value::Integer(t as i64))
    } else {
        Err(ConvertError)
    }
}

fn to_float(value: &Value, eu: bool) -> Result<Value, ConvertError> {
    match value {
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Integer(i) => Ok(Value::Float(*i as f64)),
        Value::Bool(b) => Ok(Value::Float(if *b { 1.0 } else { 0.0 })),
        Value::String(s) => {
            let t = number_text(s, eu);
            if let Some(i) = parse_hex(&t) {
                return Ok(Value::Float(i as f64));
            }
            parse_decimal(&t).map(Value::Float).ok_or(ConvertError)
        }
        _ => Err(ConvertError),
    }
}

/// `true`, `t`, `yes`, `y`, `1`, `1.0` and their `false` counterparts (any
/// case; the empty string is false). Anything else is left alone.
fn to_boolean(value: &Value) -> Option<Value> {
    if let Value::Bool(_) = value {
        return Some(value.clone());
    }
    let t = text(value);
    match t.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Value::Bool(true)),
        "false" | "f" | "no" | "n" | "0" | "0.0" | "" => Some(Value::Bool(false)),
        _ => None,
    }
}

/// A float as Ruby prints it: `1.0`, `0.1`, `1.0e+16`, `1.5e-05`.
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // Rust's shortest round-trip form; switch to Ruby's spelling.
    let s = format!("{f:?}");
    match s.split_once('e') {
        None => s,
        Some((mantissa, exp)) => {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_owned()
            } else {
                format!("{mantissa}.0")
            };
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

/// A value's text as Logstash shows it (Ruby's `to_s`): strings as they
/// are, `null` empty, floats in Ruby's form, times in ISO 8601 with
/// milliseconds, lists and objects in Ruby's inspect form.
pub fn text(value: &Value) -> String {
    let mut out = String::new();
    write_text(value, &mut out);
    out
}

fn write_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        Value::Float(f) => out.push_str(&float_text(*f)),
        Value::Array(_) | Value::Object(_) => write_inspect(value, out),
        other => other.write_text(out),
    }
}

/// Ruby's `inspect`: `["a", 1, nil]`, `{"k"=>"v"}`.
pub fn write_inspect(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("nil"),
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{1b}' => out.push_str("\\e"),
                    c if (c as u32) < 0x20 || c == '\u{7f}' => {
                        out.push_str(&format!("\\x{:02X}", c as u32));
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inspect(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inspect(&Value::String(k.clone()), out);
                out.push_str("=>");
                write_inspect(v, out);
            }
            out.push('}');
        }
        other => write_text(other, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: impl Into<Value>, to: Conversion) -> Result<Option<Value>, ConvertError> {
        convert(&v.into(), to)
    }

    #[test]
    fn integers() {
        use Conversion::Integer as I;
        assert_eq!(c("42", I), Ok(Some(Value::Integer(42))));
        assert_eq!(c(" -7 ", I), Ok(Some(Value::Integer(-7))));
        assert_eq!(c("3.7", I), Ok(Some(Value::Integer(3))));
        assert_eq!(c("1,234", I), Ok(Some(Value::Integer(1234))));
        assert_eq!(c("1e3", I), Ok(Some(Value::Integer(1000))));
        assert_eq!(c("0x1A", I), Ok(Some(Value::Integer(26))));
        assert_eq!(c("-0x1a", I), Ok(Some(Value::Integer(-26))));
        assert_eq!(c(9.99, I), Ok(Some(Value::Integer(9))));
        assert_eq!(c(true, I), Ok(Some(Value::Integer(1))));
        assert_eq!(c("abc", I), Err(ConvertError));
        assert_eq!(c("12abc", I), Err(ConvertError));
        assert_eq!(c("inf", I), Err(ConvertError));
        assert_eq!(c(1e300, I), Err(ConvertError));
        assert_eq!(
            c("1.234,56", Conversion::IntegerEu),
            Ok(Some(Value::Integer(1234)))
        );
    }

    #[test]
    fn floats() {
        use Conversion::Float as F;
        assert_eq!(c("3.5", F), Ok(Some(Value::Float(3.5))));
        assert_eq!(c("1,234.5", F), Ok(Some(Value::Float(1234.5))));
        assert_eq!(c(".5", F), Ok(Some(Value::Float(0.5))));
        assert_eq!(c(5i64, F), Ok(Some(Value::Float(5.0))));
        assert_eq!(c(false, F), Ok(Some(Value::Float(0.0))));
        assert_eq!(c("nan", F), Err(ConvertError));
        assert_eq!(c("x1", F), Err(ConvertError));
        assert_eq!(
            c("1.234,56", Conversion::FloatEu),
            Ok(Some(Value::Float(1234.56)))
        );
        assert_eq!(
            c("2.340", Conversion::FloatEu),
            Ok(Some(Value::Float(2340.0)))
        );
    }

    #[test]
    fn booleans_and_strings() {
        use Conversion::{Boolean as B, String as S};
        assert_eq!(c("Yes", B), Ok(Some(Value::Bool(true))));
        assert_eq!(c("0.0", B), Ok(Some(Value::Bool(false))));
        assert_eq!(c("", B), Ok(Some(Value::Bool(false))));
        assert_eq!(c(1i64, B), Ok(Some(Value::Bool(true))));
        assert_eq!(c("maybe", B), Ok(None));
        assert_eq!(c(2i64, B), Ok(None));
        assert_eq!(c(5i64, S), Ok(Some(Value::from("5"))));
        assert_eq!(c(1.0, S), Ok(Some(Value::from("1.0"))));
        assert_eq!(c(true, S), Ok(Some(Value::from("true"))));
    }

    #[test]
    fn arrays_convert_each_element_and_keep_nulls() {
        let v = Value::Array(vec![Value::from("1"), Value::Null, Value::from("2")]);
        assert_eq!(
            convert(&v, Conversion::Integer),
            Ok(Some(Value::Array(vec![
                Value::Integer(1),
                Value::Null,
                Value::Integer(2)
            ])))
        );
        let bad = Value::Array(vec![Value::from("1"), Value::from("x")]);
        assert_eq!(convert(&bad, Conversion::Integer), Err(ConvertError));
        assert_eq!(convert(&Value::Null, Conversion::Integer), Ok(None));
        assert_eq!(
            convert(&Value::Object(Default::default()), Conversion::String),
            Ok(None)
        );
    }

    #[test]
    fn ruby_float_text() {
        assert_eq!(float_text(1.0), "1.0");
        assert_eq!(float_text(0.1), "0.1");
        assert_eq!(float_text(-2.5), "-2.5");
        assert_eq!(float_text(1e16), "1.0e+16");
        assert_eq!(float_text(1.5e-5), "1.5e-05");
        assert_eq!(float_text(123456.0), "123456.0");
    }

    #[test]
    fn ruby_inspect_text() {
        let mut m = crate::event::Map::new();
        m.insert("k", Value::from("v\"q"));
        m.insert("n", Value::Null);
        let v = Value::Array(vec![Value::from("a"), Value::Integer(1), Value::Object(m)]);
        assert_eq!(text(&v), r#"["a", 1, {"k"=>"v\"q", "n"=>nil}]"#);
    }
}
