//! The `ganymede` binary as a user runs it: check, run, invalid files,
//! signals, and the HTTP endpoints of a running process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ganymede() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ganymede"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Kills the child when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "ganymede did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

#[test]
fn check_accepts_the_shipped_pipelines() {
    let out = ganymede()
        .args(["check", "-c", "pipelines/quickstart.yml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("quickstart: ok (1 input, 1 filter, 1 output)"),
        "{stdout}"
    );
}

#[test]
fn check_lists_every_error_with_position_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.yml",
        "name: bad\ninputs:\n  - generator:\n      lnes: [a]\nfilters:\n  - mutate:\n      if: '[a] == '\n  - jsno: {source: message}\noutputs:\n  - console: {codec: jsno}\n",
    );
    let out = ganymede()
        .args(["check", "-c"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = dir.path().join("bad.yml");
    let f = file.display();
    for expected in [
        format!("{f}:4:7: `inputs[0].generator`: unknown key `lnes`"),
        "(did you mean `lines`?)".to_owned(),
        format!("{f}:7:"),
        "invalid condition".to_owned(),
        format!("{f}:8:5: `filters[1].jsno`: unknown filter type `jsno`"),
        "(did you mean `json`?)".to_owned(),
        format!("{f}:10:22: `outputs[0].console.codec`: unknown value `jsno`"),
        "4 errors found; nothing was started".to_owned(),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn check_names_grok_expressions_on_the_backtracking_engine() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = "name: quotes\ninputs:\n  - generator: {lines: [x]}\nfilters:\n  - grok:\n      id: parse-quoted\n      match:\n        message:\n          - '%{WORD:w}'\n          - '(?<q>[\"''])%{DATA:text}\\k<q>'\n      regex_engine: backtracking\n      timeout_millis: 500\noutputs:\n  - console: {}\n";
    let file = write(dir.path(), "quotes.yml", pipeline);
    let out = ganymede()
        .args(["check", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = file.display();
    let expected = [
        "quotes: ok (1 input, 1 filter, 1 output)".to_owned(),
        format!(
            "  {f}:10:13: `filters[0].grok.match.message[1]` (id `parse-quoted`): `(?<q>[\"'])%{{DATA:text}}\\k<q>` runs on the backtracking engine (named backreference `\\k` at column 23 of the expression); each search stops after 500000 steps"
        ),
    ];
    for want in &expected {
        assert!(
            stdout.contains(want.as_str()),
            "missing {want:?} in:\n{stdout}"
        );
    }
    assert_eq!(stdout.lines().count(), 2, "only that expression:\n{stdout}");

    // Without the option, the same file does not load, and the error says
    // where and what to set.
    let refused = write(
        dir.path(),
        "refused.yml",
        &pipeline.replace("      regex_engine: backtracking\n", ""),
    );
    let out = ganymede()
        .args(["check", "-c"])
        .arg(&refused)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r = refused.display();
    for want in [
        format!(
            "{r}:10:13: `filters[0].grok.match.message[1]`: named backreference `\\k` at column 23 of the expression"
        ),
        "set `regex_engine: backtracking`".to_owned(),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
}

#[test]
fn a_grok_search_that_reaches_its_bound_tags_the_event_and_the_pipeline_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("{}!", "a".repeat(64));
    let file = write(
        dir.path(),
        "bound.yml",
        &format!(
            "name: bound\ninputs:\n  - generator: {{lines: ['{long}', 'two words'], count: 1}}\nfilters:\n  - grok:\n      match: {{message: '^(?<w>\\w+\\s?(?=\\w|\\s|$))*$'}}\n      regex_engine: backtracking\n      timeout_millis: 10\n      add_tag: [parsed]\noutputs:\n  - console: {{}}\n"
        ),
    );
    let out = ganymede()
        .args(["run", "--once", "--http", "off", "-c"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    let timed_out = events
        .iter()
        .find(|e| e["message"] == long.as_str())
        .unwrap();
    assert_eq!(timed_out["tags"], serde_json::json!(["_groktimeout"]));
    assert!(timed_out.get("w").is_none());
    let parsed = events.iter().find(|e| e["message"] == "two words").unwrap();
    assert_eq!(parsed["w"], "words");
    assert_eq!(parsed["tags"], serde_json::json!(["parsed"]));
    assert!(stderr.contains("reached its bound"), "{stderr}");
}

#[test]
fn an_invalid_file_never_starts_a_partial_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.ndjson");
    write(
        dir.path(),
        "a-good.yml",
        &format!(
            "inputs: [generator: {{lines: [x]}}]\noutputs: [file: {{path: '{}'}}]\n",
            out_file.display()
        ),
    );
    write(
        dir.path(),
        "b-bad.yml",
        "inputs: [generator: {lines: [x]}]\noutputs: [nope: {}]\n",
    );
    let out = ganymede()
        .args(["run", "--http", "off", "-c"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown output type `nope`"));
    assert!(!out_file.exists(), "the valid pipeline must not have run");
}

#[test]
fn quickstart_prints_parsed_events_and_exits_by_itself() {
    let data = tempfile::tempdir().unwrap();
    let run = |data: &Path| {
        ganymede()
            .args([
                "run",
                "-c",
                "pipelines/quickstart.yml",
                "--once",
                "--http",
                "off",
            ])
            .arg("--data-dir")
            .arg(data)
            .output()
            .unwrap()
    };
    let out = run(data.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), 8);
    let first = &events[0];
    assert_eq!(first["log"]["level"], "INFO");
    assert_eq!(first["service"]["name"], "jupiter-backend");
    assert_eq!(first["log"]["file"]["path"], "fixtures/jupiter/backend.log");
    assert_eq!(first["fields"]["type"], "backend");
    assert!(first.get("function").is_none(), "remove_field applied");
    let failed = events
        .iter()
        .filter(|e| e["tags"][0] == "_jsonparsefailure")
        .count();
    assert_eq!(failed, 1, "the non-JSON line is kept and tagged");
    // The registry remembers what was delivered: a second run has nothing to do.
    let again = run(data.path());
    assert!(again.status.success());
    assert!(
        again.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn sigterm_drains_stdin_events_to_the_file_output_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.ndjson");
    let cfg = write(
        dir.path(),
        "p.yml",
        &format!(
            "inputs: [stdin: {{linger: 10ms}}]\noutputs: [file: {{path: '{}'}}]\n",
            out_file.display()
        ),
    );
    let mut child = Running(
        ganymede()
            .args(["run", "--http", "off", "-c"])
            .arg(&cfg)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = child.0.stdin.take().unwrap();
    for i in 0..500 {
        writeln!(stdin, "line {i}").unwrap();
    }
    stdin.flush().unwrap();
    // Keep stdin open: only the signal ends this pipeline.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&out_file).map_or(0, |t| t.lines().count()) < 500 {
        assert!(
            Instant::now() < deadline,
            "events did not reach the file within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child.0, "-TERM");
    let status = wait_exit(&mut child.0, Duration::from_secs(30));
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(text.lines().count(), 500);
    drop(stdin);
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Starts `ganymede run` with the HTTP endpoint on a free port and returns
/// the process and the address it logged.
fn run_with_http(cfg: &Path) -> (Running, String) {
    let mut child = Running(
        ganymede()
            .args(["run", "--http", "127.0.0.1:0", "--log-format", "json"])
            .args(["--shutdown-timeout", "3s", "-c"])
            .arg(cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = v["address"].as_str()
            {
                let _ = tx.send(a.to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("ganymede did not log its HTTP address within 30 s");
    (child, addr)
}

#[test]
fn metrics_health_and_ready_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "p.yml",
        "name: http-test\ninputs: [generator: {lines: [hello], count: 0}]\nfilters: [mutate: {id: noop}]\noutputs: [null: {}]\n",
    );
    let (mut child, addr) = run_with_http(&cfg);

    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let (status, body) = http_get(&addr, "/ready");
        if status == 200 {
            break body;
        }
        assert!(Instant::now() < deadline, "/ready never became 200: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ready.contains("\"http-test\":\"running\""), "{ready}");
    let (status, _) = http_get(&addr, "/health");
    assert_eq!(status, 200);

    // Events flow: the filter's counter rises (polled, with a deadline).
    let labels = "pipeline=\"http-test\",kind=\"filter\",plugin=\"mutate\",component=\"noop\"";
    let counter = format!("ganymede_events_in_total{{{labels}}} ");
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (status, metrics) = http_get(&addr, "/metrics");
        assert_eq!(status, 200);
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&counter))
            .unwrap_or_else(|| panic!("no counter for the filter in:\n{metrics}"));
        let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if count > 0 {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "no event reached the filter within 30 s: {line}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for name in [
        "ganymede_build_info",
        "ganymede_events_out_total",
        "ganymede_channel_events{pipeline=\"http-test\",channel=\"filters\"}",
        "ganymede_receipt_latency_seconds_bucket",
        "ganymede_receipt_latency_seconds_count{pipeline=\"http-test\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }
    let (status, _) = http_get(&addr, "/nope");
    assert_eq!(status, 404);

    signal(&child.0, "-INT");
    assert_eq!(
        wait_exit(&mut child.0, Duration::from_secs(30)).code(),
        Some(0)
    );
}

#[test]
fn ready_is_503_with_the_reason_while_an_output_fails() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a folder must be: every write fails.
    let blocker = write(dir.path(), "blocker", "");
    let cfg = write(
        dir.path(),
        "p.yml",
        &format!(
            "name: failing\ninputs: [generator: {{lines: [x], count: 1}}]\noutputs: [file: {{path: '{}/out.ndjson'}}]\n",
            blocker.display()
        ),
    );
    let (mut child, addr) = run_with_http(&cfg);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = http_get(&addr, "/ready");
        if status == 503 && body.contains("cannot write") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/ready did not report the failing output: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("failing/file-0"), "{body}");
    assert_eq!(
        http_get(&addr, "/health").0,
        200,
        "a failing output is not a dead process"
    );
    signal(&child.0, "-TERM");
    // The event cannot be delivered: the shutdown deadline ends the run,
    // leaving it uncommitted, and says so in the exit status.
    assert_eq!(
        wait_exit(&mut child.0, Duration::from_secs(60)).code(),
        Some(2)
    );
}
