//! Unit tests of the kv filter; most cases are the examples of Logstash's
//! kv documentation.

use super::*;
use crate::config::PipelineConfig;
use crate::event::json;
use std::collections::HashMap;
use std::path::Path;

fn try_filter(options: &str) -> Result<Box<dyn Filter>, ConfigErrors> {
    let text =
        format!("inputs: [stdin: {{}}]\nfilters:\n  - kv: {options}\noutputs: [console: {{}}]\n");
    let p =
        PipelineConfig::from_text(Path::new("p.yml"), &text, &HashMap::<String, String>::new())?;
    build(&p.filters[0], &BuildContext::for_tests("t"))
}

fn filter(options: &str) -> Box<dyn Filter> {
    try_filter(options).unwrap_or_else(|e| panic!("{options}: {e}"))
}

/// The fields `options` parse out of `message` (without `@timestamp` and
/// `message`).
fn parse(options: &str, message: &str) -> Map {
    let f = filter(options);
    let mut e = Event::from_message(message);
    f.process(&mut e);
    let mut m = e.fields().clone();
    m.shift_remove("@timestamp");
    m.shift_remove("message");
    m
}

fn obj(json_text: &str) -> Map {
    match json::parse(json_text.as_bytes()).unwrap() {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn defaults_split_on_spaces_and_equals() {
    assert_eq!(
        parse("{}", "ip=1.2.3.4 error=REFUSED"),
        obj(r#"{"ip":"1.2.3.4","error":"REFUSED"}"#)
    );
}

#[test]
fn url_query_string() {
    assert_eq!(
        parse(
            r#"{field_split: "&?"}"#,
            "?pin=12345~0&d=123&e=foo@bar.com&oq=bobo&ss=12345"
        ),
        obj(r#"{"pin":"12345~0","d":"123","e":"foo@bar.com","oq":"bobo","ss":"12345"}"#)
    );
}

#[test]
fn value_split_characters() {
    assert_eq!(
        parse(r#"{value_split: ":"}"#, "key1:value1 key2:value2"),
        obj(r#"{"key1":"value1","key2":"value2"}"#)
    );
}

#[test]
fn include_exclude_and_trim() {
    let msg = "Hey, from=<abc>, to=def foo=bar";
    assert_eq!(
        parse("{include_keys: [from, to]}", msg),
        obj(r#"{"from":"<abc>,","to":"def"}"#)
    );
    assert_eq!(
        parse("{exclude_keys: [from, to]}", msg),
        obj(r#"{"foo":"bar"}"#)
    );
    assert_eq!(
        parse(r#"{include_keys: [from, to], trim_value: '<>\[\],'}"#, msg),
        obj(r#"{"from":"abc","to":"def"}"#)
    );
    assert_eq!(
        parse(r#"{trim_key: '<>\[\],', field_split: ","}"#, "[a]=1,<b>=2"),
        obj(r#"{"a":"1","b":"2"}"#)
    );
}

#[test]
fn sprintf_in_include_keys_and_prefix() {
    let f = filter(r#"{include_keys: ["%{[want]}"], prefix: "%{[p]}_"}"#);
    let mut e = Event::from_message("a=1 b=2");
    e.set(&FieldPath::key("want"), "b");
    e.set(&FieldPath::key("p"), "x");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(e.fields().get("x_b"), Some(&Value::from("2")));
    assert_eq!(e.fields().get("x_a"), None);
}

#[test]
fn remove_chars_anywhere() {
    assert_eq!(
        parse(
            r#"{remove_char_key: "-", remove_char_value: '<>\[\],'}"#,
            "my-key=<a,b> x=[1,2]"
        ),
        obj(r#"{"mykey":"ab","x":"12"}"#)
    );
}

#[test]
fn transforms() {
    assert_eq!(
        parse(
            "{transform_key: lowercase, transform_value: capitalize}",
            "Level=wARN HOST=web01"
        ),
        obj(r#"{"level":"Warn","host":"Web01"}"#)
    );
    assert_eq!(
        parse("{transform_value: uppercase}", "a=b"),
        obj(r#"{"a":"B"}"#)
    );
}

#[test]
fn default_keys_fill_missing_ones() {
    assert_eq!(
        parse(
            r#"{default_keys: {from: "logstash@example.com", to: "default@dev.null"}}"#,
            "to=me@example.com"
        ),
        obj(r#"{"from":"logstash@example.com","to":"me@example.com"}"#)
    );
    // Defaults are written even when nothing parses.
    assert_eq!(
        parse(r#"{default_keys: {from: x}}"#, "nothing here"),
        obj(r#"{"from":"x"}"#)
    );
}

#[test]
fn duplicate_keys() {
    assert_eq!(
        parse("{}", "from=me from=me from=you"),
        obj(r#"{"from":["me","me","you"]}"#)
    );
    assert_eq!(
        parse(
            "{allow_duplicate_values: false}",
            "from=me from=me from=you from=you"
        ),
        obj(r#"{"from":["me","you"]}"#)
    );
}

#[test]
fn brackets_and_quotes() {
    let msg = "bracketsone=(hello world) bracketstwo=[hello world] bracketsthree=<hello world>";
    assert_eq!(
        parse("{}", msg),
        obj(
            r#"{"bracketsone":"hello world","bracketstwo":"hello world","bracketsthree":"hello world"}"#
        )
    );
    assert_eq!(
        parse("{include_brackets: false}", msg),
        obj(r#"{"bracketsone":"(hello","bracketstwo":"[hello","bracketsthree":"<hello"}"#)
    );
    assert_eq!(
        parse("{}", r#"a="x y" b='p q' c="""#),
        obj(r#"{"a":"x y","b":"p q"}"#)
    );
}

#[test]
fn empty_values() {
    assert_eq!(parse("{}", "a= b=1 c="), obj(r#"{"a":"b=1"}"#));
    assert_eq!(
        parse("{whitespace: strict}", "a= b=1 c="),
        obj(r#"{"b":"1"}"#)
    );
    assert_eq!(
        parse(
            "{whitespace: strict, allow_empty_values: true}",
            r#"a= b=1 c="" d="#
        ),
        obj(r#"{"a":"","b":"1","c":"","d":""}"#)
    );
}

#[test]
fn split_patterns() {
    assert_eq!(
        parse(
            r#"{field_split_pattern: ":+"}"#,
            "k1=v1:k2=v2::k3=v3:::k4=v4"
        ),
        obj(r#"{"k1":"v1","k2":"v2","k3":"v3","k4":"v4"}"#)
    );
    assert_eq!(
        parse(
            r#"{field_split_pattern: '\+\+'}"#,
            "k1=v1++k2=v2++k3=v3++k4=v4"
        ),
        obj(r#"{"k1":"v1","k2":"v2","k3":"v3","k4":"v4"}"#)
    );
    assert_eq!(
        parse(
            r#"{value_split_pattern: ' ?=> ?', field_split: ","}"#,
            "a => 1,b=>2,c=3"
        ),
        obj(r#"{"a":"1","b":"2"}"#)
    );
}

#[test]
fn target_and_prefix() {
    let f = filter(r#"{target: "[kv][params]", prefix: "arg_"}"#);
    let mut e = Event::from_message("a=1 b=2");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(
        e.get(&FieldPath::parse("[kv][params]").unwrap()),
        Some(&Value::Object(obj(r#"{"arg_a":"1","arg_b":"2"}"#)))
    );
}

#[test]
fn recursive_values() {
    assert_eq!(
        parse("{recursive: true}", "a=1 b=(c=2 d=3) e=[f]"),
        obj(r#"{"a":"1","b":{"c":"2","d":"3"},"e":"f"}"#)
    );
    assert_eq!(
        parse("{}", "a=1 b=(c=2 d=3)"),
        obj(r#"{"a":"1","b":"c=2 d=3"}"#)
    );
}

#[test]
fn keys_are_literal_names() {
    assert_eq!(
        parse("{}", "log.level=warn [x]=1"),
        obj(r#"{"log.level":"warn","[x]":"1"}"#)
    );
}

#[test]
fn sources_of_other_kinds() {
    let f = filter("{source: lines}");
    let mut e = Event::new();
    e.set(
        &FieldPath::key("lines"),
        Value::Array(vec![
            Value::from("a=1"),
            Value::Integer(3),
            Value::from("b=2 a=3"),
        ]),
    );
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(
        e.fields().get("a"),
        Some(&Value::Array(vec![Value::from("1"), Value::from("3")]))
    );
    assert_eq!(e.fields().get("b"), Some(&Value::from("2")));

    let mut e = Event::new();
    e.set(&FieldPath::key("lines"), 42i64);
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("_kv_filter_error"));

    let mut e = Event::new();
    assert_eq!(f.process(&mut e), Verdict::Skipped, "a missing source");
    assert!(e.tags().next().is_none());
}

#[test]
fn no_pairs_is_not_a_failure() {
    let f = filter("{}");
    let mut e = Event::from_message("just words");
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.tags().next().is_none());
}

#[test]
fn timestamp_and_metadata_are_not_overwritten() {
    let f = filter("{tag_on_failure: [kv_bad]}");
    let mut e = Event::from_message("@timestamp=yesterday a=1");
    let t = e.timestamp();
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert_eq!(e.timestamp(), t);
    assert_eq!(e.fields().get("a"), Some(&Value::from("1")));
    assert!(e.has_tag("kv_bad"));
    // Under a target they are plain keys.
    let f = filter("{target: t}");
    let mut e = Event::from_message("@timestamp=yesterday");
    assert_eq!(f.process(&mut e), Verdict::Applied);
}

#[test]
fn unicode_text() {
    assert_eq!(
        parse("{}", "clé=été ключ=значение"),
        obj(r#"{"clé":"été","ключ":"значение"}"#)
    );
    assert_eq!(
        parse(r#"{field_split: "¦"}"#, "a=1¦b=2"),
        obj(r#"{"a":"1","b":"2"}"#)
    );
}

#[test]
fn compatibility_options_are_accepted() {
    filter("{timeout_millis: 30000, tag_on_timeout: _kv_filter_timeout}");
}

#[test]
fn config_errors() {
    for (options, why) in [
        (r#"{value_split: ""}"#, "at least one character"),
        (r#"{field_split: ""}"#, "at least one character"),
        (r#"{field_split_pattern: "("}"#, "invalid regex"),
        (r#"{value_split_pattern: ":*"}"#, "empty string"),
        (r#"{trim_key: "["}"#, "invalid character set"),
        ("{transform_key: title}", "unknown value `title`"),
        ("{whitespace: loose}", "unknown value `loose`"),
        ("{source: '[a'}", "invalid field reference"),
    ] {
        let e = try_filter(options)
            .err()
            .unwrap_or_else(|| panic!("{options}"));
        assert!(e.to_string().contains(why), "{options}: {e}");
    }
    let e = try_filter(r#"{value_split: "", trim_value: "[", target: "]"}"#)
        .err()
        .unwrap();
    assert_eq!(e.len(), 3, "{e}");
}
