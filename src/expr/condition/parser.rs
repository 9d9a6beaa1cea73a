//! The condition grammar, written with nom.
//!
//! Each rule returns a recoverable [`nom::Err::Error`] when the input does
//! not start the way the rule needs, so the caller can try something else,
//! and a [`nom::Err::Failure`] once it has committed and then finds a
//! problem. A failure carries a message and the position it is about, and
//! ends the parse at once; that is what makes reported columns exact.
//! Between alternatives the error that got furthest wins.

use nom::branch::alt;
use nom::bytes::complete::{is_not, tag};
use nom::character::complete::{char, digit1, multispace0, multispace1, one_of, satisfy};
use nom::combinator::{not, opt, recognize, value};
use nom::error::{ErrorKind, ParseError};
use nom::multi::many1_count;
use nom::sequence::terminated;
use nom::{Err, IResult, Parser};
use regex::Regex;

use super::{BoolOp, CompareOp, Expr, Operand};
use crate::event::{FieldPath, Value};

/// How deeply `(` and `!` may nest; bounds recursion on hostile input.
const MAX_DEPTH: usize = 64;

/// A syntax error: what went wrong, and the unparsed input where it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Syntax<'a> {
    pub(super) at: &'a str,
    pub(super) message: String,
}

impl<'a> ParseError<&'a str> for Syntax<'a> {
    fn from_error_kind(input: &'a str, _: ErrorKind) -> Self {
        Syntax {
            at: input,
            message: format!("unexpected {}", found(input)),
        }
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        if other.at.len() < self.at.len() {
            other
        } else {
            self
        }
    }
}

type PResult<'a, T> = IResult<&'a str, T, Syntax<'a>>;

/// Parses a whole condition.
pub(super) fn parse(text: &str) -> Result<Expr, Syntax<'_>> {
    let (input, _) = multispace0(text).map_err(into_syntax)?;
    if input.is_empty() {
        return Err(Syntax {
            at: text,
            message: "empty condition".to_owned(),
        });
    }
    let (rest, expr) = required(or_expr(input, 0), input, || {
        "expected a condition".to_owned()
    })
    .map_err(into_syntax)?;
    let (rest, _) = multispace0(rest).map_err(into_syntax)?;
    if rest.is_empty() {
        Ok(expr)
    } else {
        Err(trailing(rest))
    }
}

fn into_syntax(e: Err<Syntax<'_>>) -> Syntax<'_> {
    match e {
        Err::Error(s) | Err::Failure(s) => s,
        // Only streaming parsers ask for more input; these are complete.
        Err::Incomplete(_) => Syntax {
            at: "",
            message: "unexpected end of condition".to_owned(),
        },
    }
}

/// The error for text left over after a complete expression.
fn trailing(rest: &str) -> Syntax<'_> {
    let token = found(rest);
    let message = match token.as_str() {
        "`)`" => "unmatched `)`".to_owned(),
        "`&&`" => "unknown operator `&&`; use `and`".to_owned(),
        "`||`" => "unknown operator `||`; use `or`".to_owned(),
        "`=`" => "unknown operator `=`; use `==` to compare".to_owned(),
        _ if rest.starts_with(is_symbol) => format!(
            "unexpected operator {token}; only `and`, `or`, `xor` or `nand` can follow a complete condition"
        ),
        _ => format!(
            "expected `and`, `or`, `xor`, `nand` or the end of the condition, found {token}"
        ),
    };
    Syntax { at: rest, message }
}

/// A short description of what is at the start of `input`, for messages.
fn found(input: &str) -> String {
    let token = match input.chars().next() {
        None => return "the end of the condition".to_owned(),
        Some(c) if is_word(c) => input.split(|c| !is_word(c)).next(),
        Some(c) if is_symbol(c) => input.split(|c| !is_symbol(c)).next(),
        Some(c) => input.get(..c.len_utf8()),
    };
    format!("`{}`", token.unwrap_or(input))
}

fn is_symbol(c: char) -> bool {
    "=!<>~&|".contains(c)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn failure<'a, T>(at: &'a str, message: String) -> PResult<'a, T> {
    Err(Err::Failure(Syntax { at, message }))
}

/// Commits to `result`: if it is a recoverable "not here" error, turns it
/// into a failure at `at` saying what was expected and what was found.
fn required<'a, T>(
    result: PResult<'a, T>,
    at: &'a str,
    expected: impl FnOnce() -> String,
) -> PResult<'a, T> {
    match result {
        Err(Err::Error(_)) => failure(at, format!("{}, found {}", expected(), found(at))),
        other => other,
    }
}

/// A lowercase keyword that is not the start of a longer word.
fn keyword<'a>(word: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = Syntax<'a>> {
    terminated(tag(word), not(satisfy(is_word)))
}

type Rule = for<'a> fn(&'a str, usize) -> PResult<'a, Expr>;

fn or_expr(input: &str, depth: usize) -> PResult<'_, Expr> {
    chain(input, depth, &[("or", BoolOp::Or)], xor_expr)
}

fn xor_expr(input: &str, depth: usize) -> PResult<'_, Expr> {
    chain(input, depth, &[("xor", BoolOp::Xor)], and_expr)
}

fn and_expr(input: &str, depth: usize) -> PResult<'_, Expr> {
    chain(
        input,
        depth,
        &[("and", BoolOp::And), ("nand", BoolOp::Nand)],
        unary,
    )
}

/// `operand (op operand)*` for one precedence level, left-associative.
fn chain<'a>(
    input: &'a str,
    depth: usize,
    operators: &[(&'static str, BoolOp)],
    operand: Rule,
) -> PResult<'a, Expr> {
    let (mut input, mut left) = operand(input, depth)?;
    loop {
        let (spaced, _) = multispace0(input)?;
        let next = operators.iter().find_map(|&(word, op)| {
            let (rest, _) = keyword(word).parse(spaced).ok()?;
            Some((rest, word, op))
        });
        let Some((rest, word, op)) = next else {
            return Ok((input, left));
        };
        let (rest, _) = multispace0(rest)?;
        let (rest, right) = required(operand(rest, depth), rest, || {
            format!("expected a condition after `{word}`")
        })?;
        left = Expr::Bool {
            op,
            left: Box::new(left),
            right: Box::new(right),
        };
        input = rest;
    }
}

fn unary(input: &str, depth: usize) -> PResult<'_, Expr> {
    if depth >= MAX_DEPTH {
        return failure(input, "condition is nested too deeply".to_owned());
    }
    match input.chars().next() {
        Some('!') => negation(input, depth + 1),
        Some('(') => parenthesised(input, depth + 1),
        Some('/') => failure(
            input,
            "a regex `/.../` can only follow `=~` or `!~`".to_owned(),
        ),
        _ => comparison(input),
    }
}

/// `!(expr)` or `![field]`.
fn negation(input: &str, depth: usize) -> PResult<'_, Expr> {
    let (rest, _) = (char('!'), multispace0).parse(input)?;
    let (rest, inner) = if rest.starts_with('(') {
        parenthesised(rest, depth)?
    } else {
        let (rest, path) = required(selector(rest), rest, || {
            "expected `(` or a field reference after `!`".to_owned()
        })?;
        (rest, Expr::Truthy(Operand::Field(path)))
    };
    Ok((rest, Expr::Not(Box::new(inner))))
}

fn parenthesised(input: &str, depth: usize) -> PResult<'_, Expr> {
    let (rest, _) = (char('('), multispace0).parse(input)?;
    let (rest, expr) = required(or_expr(rest, depth), rest, || {
        "expected a condition after `(`".to_owned()
    })?;
    let (rest, _) = multispace0(rest)?;
    match rest.strip_prefix(')') {
        Some(rest) => Ok((rest, expr)),
        None if rest.is_empty() => failure(rest, "unclosed `(`: expected `)`".to_owned()),
        None => failure(
            rest,
            format!(
                "expected `)`, `and`, `or`, `xor` or `nand`, found {}",
                found(rest)
            ),
        ),
    }
}

/// An operand, optionally followed by a comparison, match or membership
/// operator and its right side.
fn comparison(input: &str) -> PResult<'_, Expr> {
    let (after_left, left) = operand(input)?;
    let (rest, _) = multispace0(after_left)?;
    if let Ok((rest, op)) = compare_operator(rest) {
        let (rest, _) = multispace0(rest)?;
        let (rest, right) = required(operand(rest), rest, || {
            format!("expected a value after `{op}`")
        })?;
        return Ok((rest, Expr::Compare { left, op, right }));
    }
    if let Ok((rest, negated)) = match_operator(rest) {
        let (rest, _) = multispace0(rest)?;
        let word = if negated { "!~" } else { "=~" };
        let (rest, regex) = required(regex_operand(rest), rest, || {
            format!("expected a regex `/.../` or a string after `{word}`")
        })?;
        return Ok((
            rest,
            Expr::Match {
                operand: left,
                regex,
                negated,
            },
        ));
    }
    if let Ok((rest, negated)) = in_operator(rest) {
        let (rest, _) = multispace0(rest)?;
        let word = if negated { "not in" } else { "in" };
        let (rest, haystack) = required(operand(rest), rest, || {
            format!("expected a list or a field reference after `{word}`")
        })?;
        return Ok((
            rest,
            Expr::In {
                needle: left,
                haystack,
                negated,
            },
        ));
    }
    Ok((after_left, Expr::Truthy(left)))
}

fn compare_operator(input: &str) -> PResult<'_, CompareOp> {
    alt((
        value(CompareOp::Eq, tag("==")),
        value(CompareOp::Ne, tag("!=")),
        value(CompareOp::Le, tag("<=")),
        value(CompareOp::Ge, tag(">=")),
        value(CompareOp::Lt, tag("<")),
        value(CompareOp::Gt, tag(">")),
    ))
    .parse(input)
}

/// `=~` or `!~`; true for the negated form.
fn match_operator(input: &str) -> PResult<'_, bool> {
    alt((value(false, tag("=~")), value(true, tag("!~")))).parse(input)
}

/// `in` or `not in`; true for the negated form.
fn in_operator(input: &str) -> PResult<'_, bool> {
    alt((
        value(false, keyword("in")),
        value(true, (keyword("not"), multispace1, keyword("in"))),
    ))
    .parse(input)
}

fn operand(input: &str) -> PResult<'_, Operand> {
    alt((
        string.map(|s| Operand::Literal(Value::String(s.into()))),
        number.map(Operand::Literal),
        list.map(|items| Operand::Literal(Value::Array(items))),
        selector.map(Operand::Field),
    ))
    .parse(input)
}

/// A quoted string with backslash escapes.
fn string(input: &str) -> PResult<'_, String> {
    let (body, quote) = one_of("\"'").parse(input)?;
    let mut text = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((&body[i + 1..], text));
        }
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some((_, escaped)) => unescape(escaped, &mut text),
            None => break,
        }
    }
    failure(
        input,
        format!("unterminated string: missing closing `{quote}`"),
    )
}

fn unescape(escaped: char, text: &mut String) {
    match escaped {
        'n' => text.push('\n'),
        't' => text.push('\t'),
        'r' => text.push('\r'),
        '0' => text.push('\0'),
        '\\' | '"' | '\'' => text.push(escaped),
        other => {
            text.push('\\');
            text.push(other);
        }
    }
}

/// An integer or a decimal, optionally negative.
fn number(input: &str) -> PResult<'_, Value> {
    let (rest, text) =
        recognize((opt(char('-')), digit1, opt((char('.'), digit1)))).parse(input)?;
    let parsed = if text.contains('.') {
        text.parse().ok().map(Value::Float)
    } else {
        text.parse().ok().map(Value::Integer)
    };
    match parsed {
        Some(value) => Ok((rest, value)),
        None => failure(input, format!("number `{text}` is out of range")),
    }
}

/// True if the `[` at the start of `input` opens a list rather than a
/// field reference.
fn starts_list(input: &str) -> bool {
    let mut chars = input.chars();
    chars.next() == Some('[')
        && chars.next().is_some_and(|c| {
            matches!(c, '"' | '\'' | '-' | ']') || c.is_ascii_digit() || c.is_whitespace()
        })
}

/// `[item, ...]` of strings and numbers.
fn list(input: &str) -> PResult<'_, Vec<Value>> {
    if !starts_list(input) {
        return Err(Err::Error(Syntax::from_error_kind(input, ErrorKind::Char)));
    }
    let (mut rest, _) = (char('['), multispace0).parse(input)?;
    let mut items = Vec::new();
    if let Some(after) = rest.strip_prefix(']') {
        return Ok((after, items));
    }
    loop {
        let (after, item) = required(list_item(rest), rest, || {
            "expected a string or a number in the list".to_owned()
        })?;
        items.push(item);
        let (after, _) = multispace0(after)?;
        if let Some(after) = after.strip_prefix(']') {
            return Ok((after, items));
        }
        let Some(after) = after.strip_prefix(',') else {
            let message = format!("expected `,` or `]` in the list, found {}", found(after));
            return failure(after, message);
        };
        rest = multispace0(after)?.0;
    }
}

fn list_item(input: &str) -> PResult<'_, Value> {
    alt((string.map(|s| Value::String(s.into())), number)).parse(input)
}

/// A field reference: one or more `[name]` segments.
fn selector(input: &str) -> PResult<'_, FieldPath> {
    if starts_list(input) {
        return Err(Err::Error(Syntax::from_error_kind(input, ErrorKind::Char)));
    }
    let (rest, text) = recognize(many1_count(segment)).parse(input)?;
    match FieldPath::parse(text) {
        Ok(path) => Ok((rest, path)),
        Err(e) => failure(input, format!("invalid field reference: {e}")),
    }
}

/// `[name]`, committed once the `[` is seen.
fn segment(input: &str) -> PResult<'_, &str> {
    let (rest, _) = char('[').parse(input)?;
    let (rest, name) = required(is_not("[],").parse(rest), rest, || {
        "expected a field name after `[`".to_owned()
    })?;
    match rest.strip_prefix(']') {
        Some(rest) => Ok((rest, name)),
        None => failure(
            rest,
            format!("expected `]` to end the field name, found {}", found(rest)),
        ),
    }
}

/// The right side of `=~`: a regex literal or a string, compiled.
fn regex_operand(input: &str) -> PResult<'_, Regex> {
    let (rest, pattern) = alt((regex_literal, string)).parse(input)?;
    match Regex::new(&pattern) {
        Ok(regex) => Ok((rest, regex)),
        Err(e) => failure(input, format!("invalid regex: {}", regex_problem(&e))),
    }
}

/// `/.../`, where `\/` stands for a slash and other escapes are left for
/// the regex engine.
fn regex_literal(input: &str) -> PResult<'_, String> {
    let (body, _) = char('/').parse(input)?;
    let mut pattern = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' => return Ok((&body[i + 1..], pattern)),
            '\\' => match chars.next() {
                Some((_, '/')) => pattern.push('/'),
                Some((_, other)) => {
                    pattern.push('\\');
                    pattern.push(other);
                }
                None => break,
            },
            _ => pattern.push(c),
        }
    }
    failure(input, "unterminated regex: missing closing `/`".to_owned())
}

/// The one-line cause from a regex error, whose full text spans several
/// lines with a picture of the pattern.
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or(text.as_str())
        .to_owned()
}
