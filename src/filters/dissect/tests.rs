//! Unit tests of the dissect filter; most cases are the examples of
//! Logstash's dissect documentation and test suite.

use super::*;
use crate::config::PipelineConfig;
use crate::event::json;
use std::collections::HashMap;
use std::path::Path;

fn try_filter(options: &str) -> Result<Box<dyn Filter>, ConfigErrors> {
    let text = format!(
        "inputs: [stdin: {{}}]\nfilters:\n  - dissect: {options}\noutputs: [console: {{}}]\n"
    );
    let p =
        PipelineConfig::from_text(Path::new("p.yml"), &text, &HashMap::<String, String>::new())?;
    build(&p.filters[0], &BuildContext::for_tests("t"))
}

fn filter(options: &str) -> Box<dyn Filter> {
    try_filter(options).unwrap_or_else(|e| panic!("{options}: {e}"))
}

fn event(fields: &str) -> Event {
    match json::parse(fields.as_bytes()).unwrap() {
        Value::Object(m) => Event::from_map(m),
        _ => panic!("not an object"),
    }
}

fn get<'a>(e: &'a Event, path: &str) -> Option<&'a Value> {
    e.get(&FieldPath::parse(path).unwrap())
}

fn s(v: &str) -> Value {
    Value::from(v)
}

/// Dissects `message` with `pattern`, expecting a match.
fn dissect(pattern: &str, message: &str) -> Event {
    let f = filter(&format!("{{mapping: {{message: {}}}}}", yaml_str(pattern)));
    let mut e = Event::from_message(message);
    assert_eq!(
        f.process(&mut e),
        Verdict::Applied,
        "{pattern} on {message:?}"
    );
    assert!(
        e.tags().next().is_none(),
        "{:?}",
        e.tags().collect::<Vec<_>>()
    );
    e
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[test]
fn basic_dissection() {
    let e = dissect(
        "[%{occurred_at}] %{code} %{service} %{ic} %{svc_message}",
        "[25/05/16 09:10:38:425 BST] 00000001 SystemOut     O java.lang:type=MemoryPool,name=class storage",
    );
    assert_eq!(
        get(&e, "occurred_at"),
        Some(&s("25/05/16 09:10:38:425 BST"))
    );
    assert_eq!(get(&e, "code"), Some(&s("00000001")));
    assert_eq!(get(&e, "service"), Some(&s("SystemOut")));
    // Without `->`, the repeated spaces are empty fields.
    assert_eq!(get(&e, "ic"), Some(&s("")));
    assert_eq!(
        get(&e, "svc_message"),
        Some(&s("   O java.lang:type=MemoryPool,name=class storage"))
    );
}

#[test]
fn skip_and_append() {
    let e = dissect(
        "%{timestamp} %{+timestamp} %{+timestamp} %{logsource} %{} %{program}[%{pid}]: %{msg}",
        "Mar 16 00:01:25 evita skip-this postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]",
    );
    assert_eq!(get(&e, "timestamp"), Some(&s("Mar 16 00:01:25")));
    assert_eq!(get(&e, "logsource"), Some(&s("evita")));
    assert_eq!(get(&e, "program"), Some(&s("postfix/smtpd")));
    assert_eq!(get(&e, "pid"), Some(&s("1713")));
    assert_eq!(
        get(&e, "msg"),
        Some(&s("connect from camomile.cloud9.net[168.100.1.3]"))
    );
    assert_eq!(
        e.fields().len(),
        7,
        "{:?}",
        e.fields().keys().collect::<Vec<_>>()
    );
}

#[test]
fn append_joins_with_the_delimiter_before_and_follows_the_order() {
    let e = dissect("%{key}-%{+key}-%{+key}", "1-2-3");
    assert_eq!(get(&e, "key"), Some(&s("1-2-3")));
    let e = dissect("%{+key/3} %{+key/1} %{+key/2}", "1 2 3");
    assert_eq!(get(&e, "key"), Some(&s("2 3 1")));
    let e = dissect("%{+a/2} %{+a/1} %{+a/4} %{+a/3}", "1 2 3 go");
    assert_eq!(get(&e, "a"), Some(&s("2 1 go 3")));
    let e = dissect("%{a} %{b} %{+a}", "1 2 3 go");
    assert_eq!(get(&e, "a"), Some(&s("1 3 go")));
    assert_eq!(get(&e, "b"), Some(&s("2")));
}

#[test]
fn indirect_fields() {
    let e = dissect("%{key} %{&key}", "hello world");
    assert_eq!(get(&e, "key"), Some(&s("hello")));
    assert_eq!(get(&e, "hello"), Some(&s("world")));
    let e = dissect("%{?key} %{&key}", "hello world");
    assert_eq!(get(&e, "key"), None);
    assert_eq!(get(&e, "hello"), Some(&s("world")));
    let e = dissect(
        "error: %{?err}, %{&err}",
        "error: some_error, some_description",
    );
    assert_eq!(get(&e, "some_error"), Some(&s("some_description")));
    // The key is taken literally: dots do not nest.
    let e = dissect("%{?a}: %{&a}", "www.example.com: 77.98");
    assert_eq!(
        e.fields().get("www.example.com"),
        Some(&s("77.98")),
        "{:?}",
        e.fields()
    );
    // An empty key stores nothing.
    let e = dissect("%{?a}:%{&a}", ":x");
    assert_eq!(e.fields().len(), 2, "{:?}", e.fields());
}

#[test]
fn empty_fields_and_padding() {
    let e = dissect(
        "%{name},%{addr1},%{addr2},%{addr3},%{city},%{zip}",
        "Jane Doe,4321 Fifth Avenue,,,New York,87432",
    );
    assert_eq!(get(&e, "addr2"), Some(&s("")));
    assert_eq!(get(&e, "addr3"), Some(&s("")));
    assert_eq!(get(&e, "city"), Some(&s("New York")));
    let e = dissect(
        "%{id} %{function->} %{server}",
        "00000043 ViewReceive     machine-321",
    );
    assert_eq!(get(&e, "function"), Some(&s("ViewReceive")));
    assert_eq!(get(&e, "server"), Some(&s("machine-321")));
    let e = dissect(
        "%{id->} %{function} %{server}",
        "f3000a3b            Calc machine-123",
    );
    assert_eq!(get(&e, "id"), Some(&s("f3000a3b")));
    assert_eq!(get(&e, "function"), Some(&s("Calc")));
}

#[test]
fn nested_targets_and_trailing_delimiters() {
    let e = dissect("%{[log][level]}: %{[log][origin]}.", "WARN: db.");
    assert_eq!(get(&e, "[log][level]"), Some(&s("WARN")));
    assert_eq!(get(&e, "[log][origin]"), Some(&s("db")));
    let e = dissect("/var/%{key}/log", "/var/foobar/log/extra");
    assert_eq!(get(&e, "key"), Some(&s("foobar")));
}

#[test]
fn multiline_message() {
    let e = dissect(
        "%{day}-%{month}-%{year} %{hour} %{severity} [%{thread_id}] %{origin} %{message}",
        "18-Apr-2018 06:53:20.411 INFO [http-nio-8080-exec-1] org.apache.coyote.http11.Http11Processor.service Error parsing\n at line 1\n at line 2",
    );
    assert_eq!(get(&e, "thread_id"), Some(&s("http-nio-8080-exec-1")));
    assert_eq!(
        get(&e, "message"),
        Some(&s("Error parsing\n at line 1\n at line 2"))
    );
}

#[test]
fn mismatch_is_tagged_and_sets_nothing() {
    let f = filter("{mapping: {message: '[%{a}] %{b}'}}");
    let mut e = Event::from_message("no brackets here");
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("_dissectfailure"));
    assert_eq!(get(&e, "a"), None);
    assert_eq!(get(&e, "b"), None);

    let f = filter("{mapping: {message: '%{a} %{b}'}, tag_on_failure: [x, y]}");
    let mut e = Event::from_message("");
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert_eq!(e.tags().collect::<Vec<_>>(), ["x", "y"]);

    // An object cannot be dissected.
    let mut e = event(r#"{"message":{"k":1}}"#);
    assert_eq!(f.process(&mut e), Verdict::Skipped);
}

#[test]
fn missing_source_is_not_a_failure() {
    let f = filter("{mapping: {blah-di-blah: '%{timestamp} %{+timestamp}'}}");
    let mut e = Event::from_message("very random message :-)");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert!(e.tags().next().is_none());
    assert_eq!(get(&e, "timestamp"), None);
}

#[test]
fn several_mappings_chain() {
    let f = filter(
        "{mapping: {message: '%{field1} %{field2} %{description}', description: '%{field3} %{field4} %{field5}'}}",
    );
    let mut e = Event::from_message("a b c d e");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "description"), Some(&s("c d e")));
    assert_eq!(get(&e, "field5"), Some(&s("e")));
}

#[test]
fn datatype_conversion() {
    let f = filter(
        "{mapping: {message: '[%{occurred_at}] %{code} %{service} %{?ic}=%{&ic}% %{svc_message}'}, convert_datatype: {cpu: float, code: int}}",
    );
    let mut e = Event::from_message(
        "[25/05/16 09:10:38:425 BST] 00000001 SystemOut cpu=95.43% java.lang:type=MemoryPool,name=class storage",
    );
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "code"), Some(&Value::Integer(1)));
    assert_eq!(get(&e, "cpu"), Some(&Value::Float(95.43)));
    assert_eq!(get(&e, "service"), Some(&s("SystemOut")));
    assert_eq!(
        get(&e, "svc_message"),
        Some(&s("java.lang:type=MemoryPool,name=class storage"))
    );
}

#[test]
fn failed_conversions_are_tagged_per_field() {
    let f = filter("{convert_datatype: {ccu: float, code: int, other: int}}");
    let mut e = event(r#"{"code":"x1","other":{}}"#);
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(
        e.tags().collect::<Vec<_>>(),
        [
            "_dataconversionnullvalue_ccu_float",
            "_dataconversionuncoercible_code_int",
            "_dataconversionuncoercible_other_int"
        ]
    );
    assert_eq!(get(&e, "code"), Some(&s("x1")));
}

#[test]
fn config_errors() {
    let e = try_filter("{mapping: {message: '%{+&timestamp}'}}")
        .err()
        .unwrap();
    assert!(e.to_string().contains("both append"), "{e}");
    let e = try_filter("{mapping: {message: '%{a}%{b}'}}")
        .err()
        .unwrap();
    assert!(e.to_string().contains("delimiter"), "{e}");
    let e = try_filter("{convert_datatype: {a: integer}}")
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("expected one of `int`, `float`"),
        "{e}"
    );
    let e = try_filter("{}").err().unwrap();
    assert!(e.to_string().contains("needs `mapping`"), "{e}");
    // Every bad pattern is reported.
    let e = try_filter("{mapping: {a: '%{x', b: 'none', '[c': '%{y}'}}")
        .err()
        .unwrap();
    assert_eq!(e.len(), 3, "{e}");
}

#[test]
fn valid_field_formats_build() {
    filter(
        "{mapping: {message: '%{+timestamp/2} %{+timestamp/1} %{?no_name} %{&no_name} %{} %{program}[%{pid}]: %{msg}'}}",
    );
}

#[test]
fn long_lines_are_linear() {
    // A pathological line for a backtracking engine: many near-misses.
    let text = "a ".repeat(100_000) + "end";
    let f = filter("{mapping: {message: '%{x} %{y}|%{z}'}}");
    let mut e = Event::from_message(text);
    // Linear time is a property of the scanner (memchr, no backtracking);
    // the test checks the outcome, speed belongs in benchmarks.
    assert_eq!(f.process(&mut e), Verdict::Skipped);
}
