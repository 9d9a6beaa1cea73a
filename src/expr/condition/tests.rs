use proptest::prelude::*;

use super::*;
use crate::event::json;

fn event(fields: &str) -> Event {
    match json::parse(fields.as_bytes()) {
        Ok(Value::Object(m)) => Event::from_map(m),
        other => panic!("test event {fields} is not an object: {other:?}"),
    }
}

/// (condition, event fields as JSON, expected result)
const CASES: &[(&str, &str, bool)] = &[
    // A field alone: present and not null/false.
    ("[a]", r#"{"a":1}"#, true),
    ("[a]", r#"{}"#, false),
    ("[a]", r#"{"a":false}"#, false),
    ("[a]", r#"{"a":null}"#, false),
    ("[a]", r#"{"a":""}"#, true),
    ("[a][b]", r#"{"a":{"b":true}}"#, true),
    ("[a][b]", r#"{"a":"scalar"}"#, false),
    ("[list][1]", r#"{"list":[0,"x"]}"#, true),
    ("[@metadata][x]", r#"{"@metadata":{"x":"y"}}"#, true),
    ("[@metadata][x]", r#"{"x":"y"}"#, false),
    // A literal alone.
    (r#""text""#, r#"{}"#, true),
    (r#""""#, r#"{}"#, false),
    // Equality.
    ("[a] == 1", r#"{"a":1}"#, true),
    ("[a] == 1.0", r#"{"a":1}"#, true),
    ("[a] == 1", r#"{"a":"1"}"#, false),
    ("[a] == \"1\"", r#"{"a":1}"#, false),
    ("[a] == \"x\"", r#"{"a":"x"}"#, true),
    ("[a] == 'x'", r#"{"a":"x"}"#, true),
    ("[a] == \"x\"", r#"{}"#, false),
    ("[a]==-5", r#"{"a":-5}"#, true),
    ("[f] == 0.5", r#"{"f":0.5}"#, true),
    ("[n] == 9007199254740993", r#"{"n":9007199254740993}"#, true),
    ("[a] == [b]", r#"{"a":[1,"x"],"b":[1.0,"x"]}"#, true),
    ("[a] == [b]", r#"{"a":{"k":[1]},"b":{"k":[1]}}"#, true),
    ("[a] == [b]", r#"{"a":{"k":1},"b":{"k":2}}"#, false),
    ("[a] == [b]", r#"{"a":true,"b":true}"#, true),
    ("[a] == [missing]", r#"{"a":1}"#, false),
    (r#"[a] == "quote\"d""#, r#"{"a":"quote\"d"}"#, true),
    (r#"[a] == 'it\'s'"#, r#"{"a":"it's"}"#, true),
    (r#"[a] == "tab\there""#, r#"{"a":"tab\there"}"#, true),
    (r#"[a] == "back\\slash""#, r#"{"a":"back\\slash"}"#, true),
    // Inequality: true for a missing field.
    ("[a] != \"x\"", r#"{}"#, true),
    ("[a] != \"x\"", r#"{"a":"y"}"#, true),
    ("[a] != \"x\"", r#"{"a":"x"}"#, false),
    ("[a] != 1", r#"{"a":"1"}"#, true),
    // Ordering.
    ("[a] < 10", r#"{"a":5}"#, true),
    ("[a] <= 5", r#"{"a":5}"#, true),
    ("[a] > 5.5", r#"{"a":6}"#, true),
    ("[a] >= 7", r#"{"a":6}"#, false),
    ("[a] > [b]", r#"{"a":3,"b":2}"#, true),
    ("[a] < \"b\"", r#"{"a":"a"}"#, true),
    ("[a] > \"b\"", r#"{"a":"a"}"#, false),
    ("[a] < 10", r#"{"a":"5"}"#, false),
    ("[a] < 10", r#"{}"#, false),
    ("[a] >= 0", r#"{"a":true}"#, false),
    ("[n] > 9007199254740992", r#"{"n":9007199254740993}"#, true),
    ("-1 < 0", r#"{}"#, true),
    (
        "[@timestamp] == [@timestamp]",
        r#"{"@timestamp":"2026-01-02T00:00:00Z"}"#,
        true,
    ),
    (
        "[@timestamp] > \"2026\"",
        r#"{"@timestamp":"2026-01-02T00:00:00Z"}"#,
        false,
    ),
    // Regex matches.
    ("[m] =~ /err/", r#"{"m":"an error"}"#, true),
    ("[m] =~ /^err/", r#"{"m":"an error"}"#, false),
    ("[m] !~ /err/", r#"{"m":"fine"}"#, true),
    ("[m] !~ /err/", r#"{"m":"error"}"#, false),
    (r"[m] =~ /a\/b/", r#"{"m":"x a/b"}"#, true),
    (r#"[m] =~ "^\d+$""#, r#"{"m":"123"}"#, true),
    ("[m] =~ /1/", r#"{"m":1}"#, false),
    ("[m] =~ /x/", r#"{}"#, false),
    ("[m] !~ /x/", r#"{}"#, true),
    // Membership.
    ("[a] in [\"x\", 'y', 1]", r#"{"a":"y"}"#, true),
    ("[a] in [\"x\", 1]", r#"{"a":1}"#, true),
    ("[a] in [\"x\"]", r#"{"a":"z"}"#, false),
    ("[a] in []", r#"{"a":1}"#, false),
    ("[a] in [\"x\"]", r#"{}"#, false),
    ("\"error\" in [tags]", r#"{"tags":["a","error"]}"#, true),
    ("\"error\" in [tags]", r#"{"tags":["a"]}"#, false),
    ("\"err\" in [m]", r#"{"m":"an error"}"#, true),
    ("\"k\" in [o]", r#"{"o":{"k":1}}"#, true),
    ("\"x\" in [missing]", r#"{}"#, false),
    ("[a] not in [\"x\"]", r#"{"a":"z"}"#, true),
    ("[a] not in [\"x\"]", r#"{"a":"x"}"#, false),
    ("[a] not in [\"x\"]", r#"{}"#, true),
    ("\"error\" not  in [tags]", r#"{"tags":["error"]}"#, false),
    // Boolean operators.
    ("[a] and [b]", r#"{"a":1,"b":1}"#, true),
    ("[a] and [b]", r#"{"a":1}"#, false),
    ("[a] or [b]", r#"{"b":1}"#, true),
    ("[a] or [b]", r#"{}"#, false),
    ("[a] xor [b]", r#"{"a":1,"b":1}"#, false),
    ("[a] xor [b]", r#"{"a":1}"#, true),
    ("[a] nand [b]", r#"{"a":1,"b":1}"#, false),
    ("[a] nand [b]", r#"{"a":1}"#, true),
    // Negation and parentheses.
    ("![a]", r#"{}"#, true),
    ("![a]", r#"{"a":1}"#, false),
    ("!([a] == 1)", r#"{"a":2}"#, true),
    ("! ( [a] or [b] )", r#"{}"#, true),
    ("(([a]))", r#"{"a":1}"#, true),
    // Precedence: `!` > comparison > and/nand > xor > or, left to right.
    ("[a] or [b] and [c]", r#"{"a":1}"#, true),
    ("[a] and [b] or [c]", r#"{"c":1}"#, true),
    ("[a] xor [b] and [c]", r#"{"a":1,"b":1}"#, true),
    ("[a] or [b] xor [c]", r#"{"a":1,"b":1,"c":1}"#, true),
    ("[a] xor [b] or [c]", r#"{"a":1,"b":1,"c":1}"#, true),
    ("[a] nand [b] and [c]", r#"{"a":1}"#, false),
    ("[a] xor [b] xor [c]", r#"{"a":1,"b":1,"c":1}"#, true),
    ("![a] and [b]", r#"{"b":1}"#, true),
    ("!([a] and [b])", r#"{"b":1}"#, true),
    ("([a] or [b]) and [c]", r#"{"a":1}"#, false),
    ("[a] == 1 and [b] == 2", r#"{"a":1,"b":2}"#, true),
    (
        "[a] == 1 or [m] =~ /x/ and [c] in [1]",
        r#"{"a":2,"m":"x","c":1}"#,
        true,
    ),
    // Flexible whitespace.
    ("[a]==1and[b]!=2", r#"{"a":1}"#, true),
    ("  [a] ==\n 1\tand\r\n[b]  ", r#"{"a":1,"b":1}"#, true),
    ("[a]in[\"x\"]", r#"{"a":"x"}"#, true),
];

#[test]
fn evaluates_the_table() {
    assert!(CASES.len() >= 50);
    for &(text, fields, expected) in CASES {
        let condition =
            Condition::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse, got {e}"));
        assert_eq!(
            condition.eval(&event(fields)),
            expected,
            "{text:?} on {fields}"
        );
    }
}

/// (condition, expected column, part of the expected message)
const MALFORMED: &[(&str, usize, &str)] = &[
    ("", 1, "empty condition"),
    ("   ", 1, "empty condition"),
    ("[a] == ", 8, "expected a value after `==`, found the end"),
    ("[a] === 1", 7, "expected a value after `==`, found `=`"),
    ("[a] = 1", 5, "use `==`"),
    ("([a]", 5, "unclosed `(`"),
    ("([a] [b])", 6, "expected `)`"),
    ("()", 2, "expected a condition after `(`"),
    ("[a] == 1 )", 10, "unmatched `)`"),
    ("[a] =~ /(/", 8, "invalid regex: unclosed group"),
    ("[a] =~ /x/ and [b] =~ /[/", 23, "invalid regex"),
    ("[a] =~ /x", 8, "unterminated regex"),
    (
        "[a] =~ [b]",
        8,
        "expected a regex `/.../` or a string after `=~`",
    ),
    ("[a] !~ 1", 8, "after `!~`"),
    ("/x/", 1, "can only follow `=~`"),
    ("\"unterminated", 1, "unterminated string"),
    ("[a] == 'x", 8, "unterminated string: missing closing `'`"),
    ("[a] and", 8, "expected a condition after `and`"),
    ("[a] or ", 8, "expected a condition after `or`"),
    (
        "[a] xor or",
        9,
        "expected a condition after `xor`, found `or`",
    ),
    ("[a]]", 4, "found `]`"),
    ("[a", 3, "expected `]`"),
    ("[a][b", 6, "expected `]`"),
    ("[a][]", 5, "expected a field name"),
    ("[a,b] == 1", 3, "expected `]`"),
    ("[a] in", 7, "after `in`"),
    ("[a] not in", 11, "after `not in`"),
    ("[a] not [b]", 5, "found `not`"),
    ("!", 2, "expected `(` or a field reference after `!`"),
    ("!\"x\"", 2, "after `!`"),
    ("![a] == 1", 6, "unexpected operator `==`"),
    ("[a] == 1 == 2", 10, "unexpected operator `==`"),
    ("[a] == 99999999999999999999", 8, "out of range"),
    ("[a] && [b]", 5, "use `and`"),
    ("[a] || [b]", 5, "use `or`"),
    ("[a] AND [b]", 5, "found `AND`"),
    ("[a] == 1 [b]", 10, "found `[`"),
    ("[x] in [\"a\",]", 13, "expected a string or a number"),
    ("[x] in [\"a\" \"b\"]", 13, "expected `,` or `]`"),
    ("[x] in [\"a\"", 12, "expected `,` or `]`"),
    ("é == [a]", 1, "expected a condition, found `é`"),
    ("[a] == \"é\" and", 15, "after `and`"),
    ("[a] == -x", 8, "found `-`"),
];

#[test]
fn reports_the_column_of_malformed_conditions() {
    for &(text, column, message) in MALFORMED {
        let e = match Condition::parse(text) {
            Ok(c) => panic!("{text:?} should not parse, got {c:?}"),
            Err(e) => e,
        };
        assert_eq!(e.column, column, "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {e}");
    }
}

#[test]
fn error_display_names_the_column() {
    let e = Condition::parse("[a] ==").unwrap_err();
    assert_eq!(
        e.to_string(),
        "column 7: expected a value after `==`, found the end of the condition"
    );
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}[a]{}", "(".repeat(50), ")".repeat(50));
    assert!(Condition::parse(&ok).is_ok());
    let deep = format!("{}[a]{}", "(".repeat(100), ")".repeat(100));
    let e = Condition::parse(&deep).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
    let negations = "!(".repeat(10_000);
    assert!(Condition::parse(&negations).is_err());
}

#[test]
fn keeps_its_source() {
    let text = "[a] == 1 and \"x\" in [tags]";
    let condition = Condition::parse(text).unwrap();
    assert_eq!(condition.source(), text);
    assert_eq!(condition.to_string(), text);
    assert!(condition.clone().eval(&event(r#"{"a":1,"tags":["x"]}"#)));
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_text(text in any::<String>()) {
        check_error_column(&text);
    }

    #[test]
    fn parse_never_panics_on_condition_like_text(
        text in r#"[\[\]()!=<>~/"' ab0-9.,\-\\é]{0,40}|(\[a\]|and|or|xor|nand|not|in|==|=~|!|\(|\)|"x"|/x/| ){0,12}"#
    ) {
        check_error_column(&text);
    }
}

/// Parses `text`; a failure must point inside it or just past its end.
fn check_error_column(text: &str) {
    if let Err(e) = Condition::parse(text) {
        let last = text.chars().count() + 1;
        assert!(
            (1..=last).contains(&e.column),
            "{text:?}: column {} outside 1..={last}",
            e.column
        );
    }
}
