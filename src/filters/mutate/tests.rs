//! Unit tests of the mutate filter. Several cases are the examples of
//! Logstash's mutate documentation.

use super::*;
use crate::config::PipelineConfig;
use crate::event::{Map, json};
use std::collections::HashMap;
use std::path::Path;

fn try_filter(options: &str) -> Result<Box<dyn Filter>, ConfigErrors> {
    let text = format!(
        "inputs: [stdin: {{}}]\nfilters:\n  - mutate: {options}\noutputs: [console: {{}}]\n"
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

fn p(s: &str) -> FieldPath {
    FieldPath::parse(s).unwrap()
}

fn get<'a>(e: &'a Event, path: &str) -> Option<&'a Value> {
    e.get(&p(path))
}

fn s(v: &str) -> Value {
    Value::from(v)
}

fn list(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|i| s(i)).collect())
}

#[test]
fn operations_run_in_logstash_order() {
    // Written in reverse; applied as coerce, rename, update, replace,
    // convert, gsub, uppercase, capitalize, lowercase, strip, split, join,
    // merge, copy.
    let f = filter(
        r#"
      copy: { "[log][level]": severity }
      merge: { names: extra }
      join: { joined: "+" }
      split: { csv: "," }
      strip: [pad]
      lowercase: ["[log][level]"]
      capitalize: [name]
      uppercase: ["[log][level]", name]
      gsub: [msg, "got", "has"]
      convert: { status: integer }
      replace: { msg: "got %{[log][level]}" }
      update: { lvl: "ignored: renamed away before update" }
      rename: { lvl: "[log][level]" }
      coerce: { nothing: "default" }"#,
    );
    let mut e = event(
        r#"{"lvl":"WaRN","status":"404","pad":"  x  ","name":"aDA","csv":"a,b","joined":["a","b"],"names":"n1","extra":"n2","nothing":null}"#,
    );
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "lvl"), None);
    assert_eq!(get(&e, "[log][level]"), Some(&s("warn")));
    assert_eq!(get(&e, "msg"), Some(&s("has WaRN")));
    assert_eq!(get(&e, "status"), Some(&Value::Integer(404)));
    assert_eq!(get(&e, "pad"), Some(&s("x")));
    assert_eq!(get(&e, "name"), Some(&s("Ada")));
    assert_eq!(get(&e, "csv"), Some(&list(&["a", "b"])));
    assert_eq!(get(&e, "joined"), Some(&s("a+b")));
    assert_eq!(get(&e, "names"), Some(&list(&["n1", "n2"])));
    assert_eq!(get(&e, "severity"), Some(&s("warn")));
    assert_eq!(get(&e, "nothing"), Some(&s("default")));
}

#[test]
fn no_operation_passes_events_through() {
    let f = filter("{}");
    let mut e = event(r#"{"a":1}"#);
    let before = e.clone();
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(e, before);
}

#[test]
fn coerce_sets_only_null_fields() {
    let f = filter(r#"{coerce: {a: "def", b: "def", c: "from %{[d]}"}}"#);
    let mut e = event(r#"{"a":null,"b":"kept","c":null,"d":"d-value"}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "a"), Some(&s("def")));
    assert_eq!(get(&e, "b"), Some(&s("kept")));
    assert_eq!(get(&e, "c"), Some(&s("from d-value")));
    let mut e = event("{}");
    f.process(&mut e);
    assert_eq!(get(&e, "a"), None, "a missing field is not created");
}

#[test]
fn rename_moves_present_fields_and_accepts_sprintf() {
    let f = filter(
        r#"{rename: {HOSTORIP: client_ip, "%{[which]}": "[moved][%{[which]}]", missing: x}}"#,
    );
    let mut e = event(r#"{"HOSTORIP":"1.2.3.4","which":"w","w":7}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "HOSTORIP"), None);
    assert_eq!(get(&e, "client_ip"), Some(&s("1.2.3.4")));
    assert_eq!(get(&e, "[moved][w]"), Some(&Value::Integer(7)));
    assert_eq!(get(&e, "x"), None);
}

#[test]
fn update_only_touches_existing_fields_replace_always_sets() {
    let f = filter(
        r#"{update: {sample: "My new message", absent: "x"}, replace: {message: "%{source_host}: My new message", other: "y"}}"#,
    );
    let mut e = event(r#"{"sample":"old","message":"m","source_host":"h1"}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "sample"), Some(&s("My new message")));
    assert_eq!(get(&e, "absent"), None);
    assert_eq!(get(&e, "message"), Some(&s("h1: My new message")));
    assert_eq!(get(&e, "other"), Some(&s("y")));
}

#[test]
fn convert_types_and_lists() {
    let f = filter(
        r#"{convert: {i: integer, f: float, b: boolean, s: string, l: integer, eu: float_eu, ieu: integer_eu, o: integer, n: float}}"#,
    );
    let mut e = event(
        r#"{"i":"1,234","f":"3.25","b":"yes","s":12,"l":["1","2",null],"eu":"1.234,5","ieu":"2.340","o":{"k":1},"n":null}"#,
    );
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "i"), Some(&Value::Integer(1234)));
    assert_eq!(get(&e, "f"), Some(&Value::Float(3.25)));
    assert_eq!(get(&e, "b"), Some(&Value::Bool(true)));
    assert_eq!(get(&e, "s"), Some(&s("12")));
    assert_eq!(
        get(&e, "l"),
        Some(&Value::Array(vec![
            Value::Integer(1),
            Value::Integer(2),
            Value::Null
        ]))
    );
    assert_eq!(get(&e, "eu"), Some(&Value::Float(1234.5)));
    assert_eq!(get(&e, "ieu"), Some(&Value::Integer(2340)));
    assert!(matches!(get(&e, "o"), Some(Value::Object(_))));
    assert_eq!(get(&e, "n"), Some(&Value::Null));
}

#[test]
fn failed_conversion_tags_and_keeps_going() {
    let f = filter(r#"{convert: {a: integer, b: float}, uppercase: [c]}"#);
    let mut e = event(r#"{"a":"not a number","b":"2.5","c":"up"}"#);
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("_mutate_error"));
    assert_eq!(get(&e, "a"), Some(&s("not a number")));
    assert_eq!(get(&e, "b"), Some(&Value::Float(2.5)));
    assert_eq!(get(&e, "c"), Some(&s("UP")));

    let f = filter(r#"{convert: {a: float}, tag_on_failure: [bad, worse]}"#);
    let mut e = event(r#"{"a":"x"}"#);
    f.process(&mut e);
    assert_eq!(e.tags().collect::<Vec<_>>(), ["bad", "worse"]);

    // An unconvertible boolean is left alone without a tag, as in Logstash.
    let f = filter(r#"{convert: {a: boolean}}"#);
    let mut e = event(r#"{"a":"maybe"}"#);
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert!(!e.has_tag("_mutate_error"));
}

#[test]
fn unknown_conversion_is_a_config_error() {
    let e = try_filter("{convert: {a: int}}").err().unwrap();
    let msg = e.to_string();
    assert!(msg.contains("unknown value `int`"), "{msg}");
    assert!(msg.contains("integer_eu"), "{msg}");
}

#[test]
fn gsub_logstash_examples() {
    // Logstash's documented example, in the flat form.
    let f = filter(
        r#"
      gsub: [
        "fieldname", "/", "_",
        "fieldname2", '[\\?#-]', "."
        ]"#,
    );
    let mut e = event(r#"{"fieldname":"a/b/c","fieldname2":"x?y#z-w\\v"}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "fieldname"), Some(&s("a_b_c")));
    assert_eq!(get(&e, "fieldname2"), Some(&s("x.y.z.w.v")));
}

#[test]
fn gsub_backreferences_lists_and_sprintf() {
    let f = filter(
        r##"
      gsub:
        - [email, '(\w+)@(\w+)\.com', '\2 at \1 ($$\0)']
        - [tags_like, '^x', "y"]
        - [num, '\d', "#"]
        - [dyn, 'o', '%{[with]}']
        - [named, '(?P<word>\w+)!', '\k<word>?']"##,
    );
    let mut e = event(
        r#"{"email":"ada@example.com","tags_like":["xa","b",3],"num":12,"dyn":"foo","with":"0","named":"hi!"}"#,
    );
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(
        get(&e, "email"),
        Some(&s("example at ada ($$ada@example.com)"))
    );
    assert_eq!(
        get(&e, "tags_like"),
        Some(&Value::Array(vec![s("ya"), s("b"), Value::Integer(3)]))
    );
    assert_eq!(
        get(&e, "num"),
        Some(&Value::Integer(12)),
        "numbers are left alone"
    );
    assert_eq!(get(&e, "dyn"), Some(&s("f00")));
    assert_eq!(get(&e, "named"), Some(&s("hi?")));
}

#[test]
fn gsub_with_a_per_event_pattern() {
    let f = filter(r#"{gsub: [msg, "%{[word]}", "*"]}"#);
    let mut e = event(r#"{"msg":"a secret b secret","word":"secret"}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "msg"), Some(&s("a * b *")));
    let mut e = event(r#"{"msg":"m","word":"("}"#);
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("_mutate_error"));
}

#[test]
fn gsub_config_errors() {
    let e = try_filter(r#"{gsub: [a, "x"]}"#).err().unwrap();
    assert!(e.to_string().contains("3 elements"), "{e}");
    let e = try_filter(r#"{gsub: [[a, "x"]]}"#).err().unwrap();
    assert!(e.to_string().contains("exactly 3"), "{e}");
    let e = try_filter(r#"{gsub: [a, "(", "x"]}"#).err().unwrap();
    assert!(e.to_string().contains("invalid regex"), "{e}");
    let e = try_filter(r#"{gsub: [a, '(?<=x)y', "x"]}"#).err().unwrap();
    assert!(e.to_string().contains("invalid regex"), "{e}");
}

#[test]
fn ruby_replacements_translate() {
    assert_eq!(ruby_replacement(r"\1-\2"), "${1}-${2}");
    assert_eq!(ruby_replacement(r"\0|\&"), "${0}|${0}");
    assert_eq!(ruby_replacement(r"\k<name>x"), "${name}x");
    assert_eq!(ruby_replacement(r"a\\b"), r"a\b");
    assert_eq!(ruby_replacement("cost $5"), "cost $$5");
    assert_eq!(ruby_replacement(r"\q\k"), r"\q\k");
}

#[test]
fn case_operations_on_strings_and_lists() {
    let f = filter(r#"{uppercase: [u, l], capitalize: c, lowercase: [l]}"#);
    let mut e = event(r#"{"u":["ab","Cd",1],"c":"hELLO wORLD","l":"MiXeD"}"#);
    f.process(&mut e);
    assert_eq!(
        get(&e, "u"),
        Some(&Value::Array(vec![s("AB"), s("CD"), Value::Integer(1)]))
    );
    assert_eq!(get(&e, "c"), Some(&s("Hello world")));
    assert_eq!(
        get(&e, "l"),
        Some(&s("mixed")),
        "lowercase runs after uppercase"
    );
    assert_eq!(capitalize("éCOLE"), "École");
    assert_eq!(capitalize(""), "");
}

#[test]
fn strip_removes_surrounding_whitespace() {
    let f = filter(r#"{strip: [field1, field2]}"#);
    let mut e = event(r#"{"field1":"\t a b \n","field2":[" x ", 5]}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "field1"), Some(&s("a b")));
    assert_eq!(
        get(&e, "field2"),
        Some(&Value::Array(vec![s("x"), Value::Integer(5)]))
    );
}

#[test]
fn split_follows_ruby() {
    let f = filter(r#"{split: {a: ",", b: " ", c: "", d: ","}}"#);
    let mut e = event(r#"{"a":"x,,y,,","b":"  one  two three ","c":"héj","d":7}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "a"), Some(&list(&["x", "", "y"])));
    assert_eq!(get(&e, "b"), Some(&list(&["one", "two", "three"])));
    assert_eq!(get(&e, "c"), Some(&list(&["h", "é", "j"])));
    assert_eq!(get(&e, "d"), Some(&Value::Integer(7)));
}

#[test]
fn join_lists_only() {
    let f = filter(r#"{join: {a: ", ", b: ",", c: "-"}}"#);
    let mut e = event(r#"{"a":["x",1,2.0,true,null,["n","m"]],"b":"not a list","c":[]}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "a"), Some(&s("x, 1, 2.0, true, , n, m")));
    assert_eq!(get(&e, "b"), Some(&s("not a list")));
    assert_eq!(get(&e, "c"), Some(&s("")));
}

#[test]
fn merge_lists_strings_and_objects() {
    let f = filter(
        r#"{merge: {s: s2, a: s2, o: o2, bad: o2, new: s2, multi: [s2, a2], keep: missing}}"#,
    );
    let mut e = event(
        r#"{"s":"x","s2":"y","a":["p"],"o":{"k":1,"j":1},"o2":{"k":2,"m":3},"bad":"str","multi":"m","a2":["q","r"],"keep":"k"}"#,
    );
    f.process(&mut e);
    assert_eq!(get(&e, "s"), Some(&list(&["x", "y"])));
    assert_eq!(get(&e, "a"), Some(&list(&["p", "y"])));
    let mut want = Map::new();
    want.insert("k", Value::Integer(2));
    want.insert("j", Value::Integer(1));
    want.insert("m", Value::Integer(3));
    assert_eq!(get(&e, "o"), Some(&Value::Object(want)));
    assert_eq!(
        get(&e, "bad"),
        Some(&s("str")),
        "a string and an object do not merge"
    );
    assert_eq!(get(&e, "new"), Some(&list(&["y"])));
    assert_eq!(get(&e, "multi"), Some(&list(&["m", "y", "q", "r"])));
    assert_eq!(get(&e, "keep"), Some(&s("k")));
}

#[test]
fn copy_clones_and_overwrites() {
    let f = filter(r#"{copy: {src: dest, "[obj]": "[copy][obj]", missing: gone, nul: other}}"#);
    let mut e = event(r#"{"src":"v","dest":"old","obj":{"a":[1]},"nul":null,"other":"o"}"#);
    f.process(&mut e);
    assert_eq!(get(&e, "dest"), Some(&s("v")));
    assert_eq!(get(&e, "src"), Some(&s("v")));
    assert_eq!(get(&e, "[copy][obj][a][0]"), Some(&Value::Integer(1)));
    assert_eq!(get(&e, "gone"), None);
    assert_eq!(get(&e, "other"), Some(&s("o")));
}

#[test]
fn bad_field_references_are_reported_together() {
    let e = try_filter(r#"{rename: {"[a": b}, copy: {x: "y]"}, uppercase: ["a..b"]}"#)
        .err()
        .unwrap();
    assert_eq!(e.len(), 3, "{e}");
}
