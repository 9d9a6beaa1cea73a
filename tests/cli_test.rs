//! `ganymede test`, pipeline unit tests, as a user runs it: passing and
//! failing suites, their report and exit status, and invalid test files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ganymede(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ganymede"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

fn test_cmd(paths: &[&Path]) -> (Option<i32>, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ganymede"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["test", "-c"]);
    for p in paths {
        c.arg(p);
    }
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or_default()
}

const PIPELINE: &str = r#"name: backend
inputs:
  - stdin: {}
filters:
  - grok:
      match:
        message: '%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:[log][level]} %{GREEDYDATA:message}'
      overwrite: [message]
  - date:
      match: [timestamp, ISO8601]
      timezone: UTC
      remove_field: [timestamp]
  - mutate:
      if: '[log][level] == "ERROR"'
      add_tag: [alert]
outputs:
  - console: {}
"#;

#[test]
fn the_shipped_apache_example_passes() {
    let out = ganymede(&["test", "-c", "pipelines/examples/apache.yml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("test apache: a combined line becomes ECS fields ... ok"));
    assert_eq!(last_line(&stdout), "6 passed, 0 failed", "{stdout}");

    // Naming the test file runs the same suite; so does the folder.
    let out = ganymede(&["test", "-c", "pipelines/examples/apache.test.yml"]);
    assert!(out.status.success());
    let out = ganymede(&["test", "-c", "pipelines/examples/"]);
    assert!(out.status.success());
    assert_eq!(
        last_line(&String::from_utf8_lossy(&out.stdout)),
        "6 passed, 0 failed"
    );
}

#[test]
fn cases_in_the_pipeline_file_and_its_sidecar_all_run() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{PIPELINE}tests:\n  - name: inline case\n    input: '2026-11-27T08:15:02.114Z INFO Processing case'\n    expect:\n      \"[log][level]\": INFO\n      message: Processing case\n      \"@timestamp\": 2026-11-27T08:15:02.114Z\n    absent: [timestamp]\n    absent_tags: [alert]\n"
    );
    let p = write(dir.path(), "backend.yml", &text);
    write(
        dir.path(),
        "backend.test.yml",
        "tests:\n  - name: errors are tagged\n    input: '2026-11-27T08:15:03Z ERROR Lost connection'\n    expect: { log.level: ERROR }\n    tags: [alert]\n  - name: text that is not a backend line\n    lines: [hello, world]\n    count: 2\n    tags: [_grokparsefailure]\n",
    );
    let (code, stdout, stderr) = test_cmd(&[&p]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    for line in [
        "running 3 tests of pipeline backend",
        "test backend: inline case ... ok",
        "test backend: errors are tagged ... ok",
        "test backend: text that is not a backend line ... ok",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(last_line(&stdout), "3 passed, 0 failed");
}

#[test]
fn a_failing_suite_shows_each_difference_and_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "backend.yml", PIPELINE);
    let tests = write(
        dir.path(),
        "backend.test.yml",
        r#"tests:
  - name: passes
    input: '2026-11-27T08:15:02.114Z INFO Processing case'
    expect: { log.level: INFO }
  - name: wrong level and missing tag
    input: '2026-11-27T08:15:02.114Z INFO Processing case'
    expect:
      "[log][level]": WARN
      message: Processing case
      user.id: 42
    tags: [alert]
    absent: [message]
  - name: expects a drop
    input: '2026-11-27T08:15:02.114Z DEBUG noisy'
    dropped: true
"#,
    );
    let (code, stdout, stderr) = test_cmd(&[&p]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let t = tests.display();
    assert!(stdout.contains("test backend: passes ... ok"), "{stdout}");
    assert!(
        stdout.contains("test backend: wrong level and missing tag ... FAILED"),
        "{stdout}"
    );
    for expected in [
        "failures:".to_owned(),
        format!("---- backend: wrong level and missing tag ({t}:5:5) ----"),
        format!("  [log][level] ({t}:8:7)\n    expected: \"WARN\"\n    actual:   \"INFO\"\n"),
        format!("  [user][id] ({t}:10:7)\n    expected: 42\n    actual:   (missing)\n"),
        format!("  tag `alert` ({t}:11:12)\n    expected: present\n    actual:   missing"),
        format!("  [message] ({t}:12:14)\n    expected: (absent)\n    actual:   \"Processing case\""),
        // The whole event, as pretty JSON.
        "  the event as it left the filters:\n    {\n      \"@timestamp\": \"2026-11-27T08:15:02.114Z\",".to_owned(),
        "      \"log\": {\n        \"level\": \"INFO\"\n      }".to_owned(),
        format!("---- backend: expects a drop ({t}:13:5) ----\n  expected every input event to be dropped; 1 event left the filters"),
    ] {
        assert!(stdout.contains(&expected), "missing {expected:?} in:\n{stdout}");
    }
    // The expectation that holds is not reported.
    assert!(!stdout.contains(&format!("{t}:9:7")), "{stdout}");
    assert_eq!(last_line(&stdout), "1 passed, 2 failed", "{stdout}");
}

#[test]
fn per_event_checks_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "backend.yml", PIPELINE);
    write(
        dir.path(),
        "backend.test.yml",
        r#"- name: two lines, checked one by one
  lines:
    - '2026-11-27T08:15:02Z INFO first'
    - '2026-11-27T08:15:03Z ERROR second'
  outputs:
    - expect: { message: first }
      absent_tags: [alert]
    - expect: { message: second, log: { level: ERROR } }
      tags: [alert]
- name: wrong count
  lines: [a, b]
  count: 3
- name: types matter
  event: { message: '2026-11-27T08:15:02Z INFO x', n: 5 }
  expect: { n: "5" }
"#,
    );
    let (code, stdout, _) = test_cmd(&[&p]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("test backend: two lines, checked one by one ... ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  expected 3 events to leave the filters, got 2\nevent 1 of 2:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("    expected: \"5\"\n    actual:   5\n"),
        "{stdout}"
    );
    assert_eq!(last_line(&stdout), "1 passed, 2 failed");
}

#[test]
fn an_invalid_test_file_is_reported_with_its_position_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "backend.yml", PIPELINE);
    let tests = write(
        dir.path(),
        "backend.test.yml",
        "tests:\n  - name: fine\n    input: x\n    count: 1\n  - name: typo\n    input: x\n    expekt: { a: 1 }\n  - name: two inputs\n    input: x\n    lines: [y]\n    count: 1\n  - name: bad reference\n    input: x\n    expect: { '[a': 1 }\n",
    );
    let (code, stdout, stderr) = test_cmd(&[&p]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let t = tests.display();
    for expected in [
        format!("error: {t}:7:5: `tests[1]`: unknown key `expekt`"),
        "(did you mean `expect`?)".to_owned(),
        format!("error: {t}:10:5: `tests[2]`: `input` and `lines` exclude each other"),
        format!("error: {t}:14:15: `tests[3].expect`: invalid field reference"),
        "3 errors found; no test was run".to_owned(),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stdout.contains("passed"), "{stdout}");

    // Broken YAML, and cases under the pipeline's own `tests:` key.
    write(
        dir.path(),
        "backend.test.yml",
        "tests:\n  - name: [unclosed\n",
    );
    let (code, _, stderr) = test_cmd(&[&p]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!("error: {t}:")), "{stderr}");
    assert!(stderr.contains("invalid YAML"), "{stderr}");
    std::fs::remove_file(&tests).unwrap();
    write(
        dir.path(),
        "backend.yml",
        &format!("{PIPELINE}tests:\n  - name: no input\n    count: 1\n"),
    );
    let (code, _, stderr) = test_cmd(&[&p]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "{}:19:5: `tests[0]`: a test needs an input",
            p.display()
        )),
        "{stderr}"
    );
}

#[test]
fn no_tests_or_an_invalid_pipeline_fail() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "backend.yml", PIPELINE);
    let (code, _, stderr) = test_cmd(&[&p]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no tests found"), "{stderr}");

    let p = write(
        dir.path(),
        "broken.yml",
        "inputs: [stdin: {}]\nfilters:\n  - grok: { match: { message: '%{NOPE}' } }\noutputs: [console: {}]\ntests:\n  - {name: x, input: y, count: 1}\n",
    );
    let (code, stdout, stderr) = test_cmd(&[&p]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("unknown grok pattern `NOPE`"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    let orphan = write(dir.path(), "orphan.test.yml", "tests: []\n");
    let (code, _, stderr) = test_cmd(&[&orphan]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no orphan.yml here"), "{stderr}");
}
