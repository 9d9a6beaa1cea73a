//! `ganymede grok`, the grok debugger, as a user runs it: lines on
//! standard input, one JSON line (or `null`) per line on standard output.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const COMBINED: &str = r#"203.0.113.9 - alice [27/Nov/2026:08:15:02 +0100] "GET /cases/42?tab=notes HTTP/1.1" 200 5120 "https://jupiter.example/cases" "Mozilla/5.0 (X11; Linux x86_64)""#;
const COMMON: &str =
    r#"198.51.100.7 - - [27/Nov/2026:08:15:03 +0000] "POST /api/login HTTP/1.1" 401 -"#;

fn grok(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ganymede"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("grok")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // ganymede may exit before reading (an expression that does not
    // compile): a broken pipe here is expected then.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// Runs successfully and returns one parsed JSON value per output line.
fn captures(args: &[&str], stdin: &str) -> Vec<serde_json::Value> {
    let out = grok(args, stdin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn apache_lines_with_ecs_names() {
    let v = captures(
        &["%{COMBINEDAPACHELOG}"],
        &format!("{COMBINED}\n{COMMON}\n"),
    );
    assert_eq!(v.len(), 2, "one line out per line in");
    let c = &v[0];
    assert_eq!(c["source"]["address"], "203.0.113.9");
    assert_eq!(c["user"]["name"], "alice");
    assert_eq!(c["timestamp"], "27/Nov/2026:08:15:02 +0100");
    assert_eq!(c["http"]["request"]["method"], "GET");
    assert_eq!(
        c["http"]["request"]["referrer"],
        "https://jupiter.example/cases"
    );
    assert_eq!(c["http"]["version"], "1.1");
    assert_eq!(c["http"]["response"]["status_code"], 200, "an :int capture");
    assert_eq!(c["http"]["response"]["body"]["bytes"], 5120);
    assert_eq!(c["url"]["original"], "/cases/42?tab=notes");
    assert_eq!(
        c["user_agent"]["original"],
        "Mozilla/5.0 (X11; Linux x86_64)"
    );
    // A common line lacks the referrer and agent of the combined format.
    assert_eq!(v[1], serde_json::Value::Null);

    let v = captures(&["%{COMMONAPACHELOG}"], &format!("{COMMON}\n"));
    let c = &v[0];
    assert_eq!(c["source"]["address"], "198.51.100.7");
    assert_eq!(c["http"]["response"]["status_code"], 401);
    assert!(c.get("user").is_none(), "`-` is no user: {c}");
    assert!(
        c["http"]["response"].get("body").is_none(),
        "`-` bytes: {c}"
    );
}

#[test]
fn apache_lines_with_legacy_names() {
    let v = captures(
        &["--ecs", "disabled", "%{COMBINEDAPACHELOG}"],
        &format!("{COMBINED}\n"),
    );
    let c = &v[0];
    assert_eq!(c["clientip"], "203.0.113.9");
    assert_eq!(c["auth"], "alice");
    assert_eq!(c["ident"], "-");
    assert_eq!(c["verb"], "GET");
    assert_eq!(c["request"], "/cases/42?tab=notes");
    assert_eq!(c["httpversion"], "1.1");
    assert_eq!(c["response"], "200", "legacy captures stay text");
    assert_eq!(c["bytes"], "5120");
    assert_eq!(c["referrer"], "\"https://jupiter.example/cases\"");
    assert_eq!(c["agent"], "\"Mozilla/5.0 (X11; Linux x86_64)\"");
    assert!(c.get("source").is_none(), "{c}");

    let v = captures(
        &["--ecs", "disabled", "%{COMMONAPACHELOG}"],
        &format!("{COMMON}\n"),
    );
    assert_eq!(v[0]["clientip"], "198.51.100.7");
    assert_eq!(v[0]["response"], "401");
    assert!(v[0].get("bytes").is_none(), "{}", v[0]);
}

#[test]
fn a_line_that_does_not_match_prints_null() {
    let out = grok(
        &["%{COMBINEDAPACHELOG}"],
        "not an access log\n\nAH00558: apache2\r\n",
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "null\nnull\nnull\n");
}

#[test]
fn patterns_dirs_and_inline_definitions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders"),
        "# orders\nORDER ORD-\\d+\nTOTAL %{NUMBER:[order][total]:float}\n",
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let v = captures(
        &[
            "--patterns-dir",
            d,
            "--pattern-definition",
            "CURRENCY=[A-Z]{3}",
            "--pattern-definition",
            "TOTAL=%{INT:[order][total]:int}",
            "%{ORDER:[order][id]} %{TOTAL} %{CURRENCY:[order][currency]}",
        ],
        "ORD-7 12 EUR\nORD-8 12.5 EUR\n",
    );
    assert_eq!(
        v[0],
        serde_json::json!({"order": {"id": "ORD-7", "total": 12, "currency": "EUR"}}),
        "an inline definition wins over the file's"
    );
    assert_eq!(v[1], serde_json::Value::Null);
}

#[test]
fn a_bad_expression_exits_1_naming_the_pattern_and_column() {
    let out = grok(&["%{IP:client} %{COMBINEDAPACHELOGG}"], "x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "unknown grok pattern `COMBINEDAPACHELOGG` at column 14 of the expression (did you mean `COMBINEDAPACHELOG`?)"
        ),
        "{err}"
    );

    let out = grok(&["%{WORD:w} (?<=x)y"], "x\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lookbehind") && err.contains("column 11"),
        "{err}"
    );

    let out = grok(&["--pattern-definition", "BAD=(", "%{BAD}"], "x\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pattern `BAD`"), "{err}");

    let out = grok(
        &["--patterns-dir", "/nonexistent/patterns", "%{WORD}"],
        "x\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read patterns folder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lookaround_runs_with_the_backtracking_engine() {
    let expr = r#"(?<q>["'])%{DATA:text}\k<q>(?= %{INT})"#;
    let out = grok(&[expr], "'a' 1\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set `regex_engine: backtracking`"), "{err}");

    let v = captures(
        &["--regex-engine", "backtracking", expr],
        "say 'it\"s' 42\n\"x\" y\n",
    );
    assert_eq!(v[0], serde_json::json!({"q": "'", "text": "it\"s"}));
    assert_eq!(v[1], serde_json::Value::Null);
}
