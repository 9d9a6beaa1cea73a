//! Logstash conditions: `[status] >= 500 and "error" in [tags]`.
//!
//! # Syntax
//!
//! Operands:
//!
//! - a field reference, one or more bracketed names: `[status]`,
//!   `[http][request][method]`, `[@metadata][target]`;
//! - a string in double or single quotes, with backslash escapes
//!   (`\"`, `\'`, `\\`, `\n`, `\r`, `\t`, `\0`; any other backslash is kept);
//! - a number: `200`, `-1`, `0.5`;
//! - a list of strings and numbers: `["a", 'b', 1]`. A `[` followed by a
//!   quote, a digit, `-`, `]` or whitespace starts a list; anything else
//!   starts a field reference.
//! - a regex `/.../` (`\/` for a slash), only right of `=~` and `!~`.
//!
//! Expressions, from tightest to loosest binding, left-associative:
//!
//! 1. `!` applied to a parenthesised expression or a field reference,
//!    and parentheses;
//! 2. comparisons `==` `!=` `<` `<=` `>` `>=`, regex matches `=~` `!~`
//!    (right side a regex or a string holding one), membership `in` and
//!    `not in`, or an operand alone, which tests its truthiness;
//! 3. `and`, `nand`;
//! 4. `xor`;
//! 5. `or`.
//!
//! Keywords are lowercase. Whitespace between tokens is optional, except
//! between `not` and `in`.
//!
//! # Semantics
//!
//! - A comparison with a missing field is false, except `!=`, which is
//!   true. `!~` and `not in` are the negations of `=~` and `in`, so they
//!   are true for a missing field too.
//! - `==` compares integers and floats numerically, strings by content,
//!   booleans, timestamps, and arrays and objects element by element.
//!   Values of different kinds are unequal: the string `"200"` is not the
//!   number `200`, as in Logstash.
//! - `<` `<=` `>` `>=` order numbers numerically, strings by bytes and
//!   timestamps by time; any other pair compares false.
//! - `=~` is true when the value is a string the regex matches (anywhere,
//!   unless anchored); other values never match.
//! - `x in y` is true when `y` is an array with an element equal to `x`, a
//!   string containing the string `x`, or an object with key `x`.
//! - An operand alone is true when the field is present and neither `null`
//!   nor `false`; a string literal alone is true when it is not empty.
//!
//! Conditions are parsed and their regexes compiled once; evaluating one
//! only reads the event and does not allocate.

mod parser;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

use crate::event::{Event, FieldPath, Value};

/// A compiled condition, evaluated against events.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    root: Expr,
}

/// Why a condition could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ConditionError {
    /// 1-based column, in characters, where the condition went wrong.
    pub column: usize,
    pub message: String,
}

impl Condition {
    /// Parses and compiles `text`.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        match parser::parse(text) {
            Ok(root) => Ok(Condition {
                source: text.to_owned(),
                root,
            }),
            Err(syntax) => Err(ConditionError {
                column: column(text, syntax.at),
                message: syntax.message,
            }),
        }
    }

    /// True if `event` satisfies the condition.
    pub fn eval(&self, event: &Event) -> bool {
        self.root.eval(event)
    }

    /// The text the condition was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The 1-based character column where `rest`, a suffix of `text`, starts.
fn column(text: &str, rest: &str) -> usize {
    let offset = text.len().saturating_sub(rest.len());
    text.get(..offset).map_or(0, |done| done.chars().count()) + 1
}

#[derive(Debug, Clone)]
enum Expr {
    Bool {
        op: BoolOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Not(Box<Expr>),
    Compare {
        left: Operand,
        op: CompareOp,
        right: Operand,
    },
    Match {
        operand: Operand,
        regex: Regex,
        negated: bool,
    },
    In {
        needle: Operand,
        haystack: Operand,
        negated: bool,
    },
    Truthy(Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BoolOp {
    And,
    Nand,
    Xor,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A value to compare: read from the event, or fixed in the condition.
#[derive(Debug, Clone)]
enum Operand {
    Field(FieldPath),
    Literal(Value),
}

impl Expr {
    fn eval(&self, event: &Event) -> bool {
        match self {
            Expr::Bool { op, left, right } => {
                let left = left.eval(event);
                match op {
                    BoolOp::And => left && right.eval(event),
                    BoolOp::Nand => !(left && right.eval(event)),
                    BoolOp::Xor => left != right.eval(event),
                    BoolOp::Or => left || right.eval(event),
                }
            }
            Expr::Not(inner) => !inner.eval(event),
            Expr::Compare { left, op, right } => {
                match (left.resolve(event), right.resolve(event)) {
                    (Some(l), Some(r)) => op.holds(l, r),
                    _ => *op == CompareOp::Ne,
                }
            }
            Expr::Match {
                operand,
                regex,
                negated,
            } => {
                let matched = operand
                    .resolve(event)
                    .and_then(Value::as_str)
                    .is_some_and(|s| regex.is_match(s));
                matched != *negated
            }
            Expr::In {
                needle,
                haystack,
                negated,
            } => {
                let found = match (needle.resolve(event), haystack.resolve(event)) {
                    (Some(n), Some(h)) => contains(h, n),
                    _ => false,
                };
                found != *negated
            }
            Expr::Truthy(operand) => operand.is_truthy(event),
        }
    }
}

impl CompareOp {
    fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    fn holds(self, left: &Value, right: &Value) -> bool {
        match self {
            CompareOp::Eq => equal(left, right),
            CompareOp::Ne => !equal(left, right),
            CompareOp::Lt => order(left, right).is_some_and(Ordering::is_lt),
            CompareOp::Le => order(left, right).is_some_and(Ordering::is_le),
            CompareOp::Gt => order(left, right).is_some_and(Ordering::is_gt),
            CompareOp::Ge => order(left, right).is_some_and(Ordering::is_ge),
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Operand {
    fn resolve<'e>(&'e self, event: &'e Event) -> Option<&'e Value> {
        match self {
            Operand::Field(path) => event.get(path),
            Operand::Literal(value) => Some(value),
        }
    }

    fn is_truthy(&self, event: &Event) -> bool {
        match self {
            Operand::Field(path) => event.get(path).is_some_and(Value::is_truthy),
            Operand::Literal(Value::String(s)) => !s.is_empty(),
            Operand::Literal(value) => value.is_truthy(),
        }
    }
}

/// Equality as `==` sees it: numbers by value, containers element-wise,
/// different kinds never equal.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => order(a, b) == Some(Ordering::Equal),
    }
}

/// The order of two numbers, two strings or two timestamps; `None` for
/// any other pair (and for NaN).
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Some(x.cmp(y)),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

/// The value as a number if it is one. Unlike [`Value::as_f64`], numeric
/// strings are not numbers here.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Whether `haystack` holds `needle`, as `in` sees it.
fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::Array(items) => items.iter().any(|item| equal(item, needle)),
        Value::String(text) => needle.as_str().is_some_and(|n| text.contains(n)),
        Value::Object(map) => needle.as_str().is_some_and(|k| map.contains_key(k)),
        _ => false,
    }
}
