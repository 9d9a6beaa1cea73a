//! `ganymede dlq list` and `ganymede dlq replay`: dead-letter files as a
//! user inspects and replays them, the replay against a real OpenSearch
//! node (see `support/opensearch.rs`).

#[path = "support/opensearch.rs"]
mod opensearch;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ganymede() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ganymede"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("GANYMEDE_LOG_FORMAT", "text")
        .env("GANYMEDE_LOG_LEVEL", "warn");
    c
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn record(time: &str, status: u16, error_type: Option<&str>, event: &str) -> String {
    let error = match error_type {
        Some(t) => format!(r#"{{"type":"{t}","reason":"failed to parse field [n]"}}"#),
        None => "null".to_owned(),
    };
    format!(
        r#"{{"@timestamp":"{time}","status":{status},"error":{error},"index":"logs-2026.11.27","action":{{"index":{{"_index":"logs-2026.11.27"}}}},"event":{event}}}"#
    )
}

fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(path) {
        Ok(t) => t
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn list_summarises_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let jupiter = dir.path().join("dead_letter/jupiter-aggregator");
    let web = dir.path().join("dead_letter/web");
    std::fs::create_dir_all(&jupiter).unwrap();
    std::fs::create_dir_all(&web).unwrap();
    let lines = [
        record(
            "2026-11-27T10:00:00.000Z",
            400,
            Some("mapper_parsing_exception"),
            r#"{"n":"x"}"#,
        ),
        record(
            "2026-11-27T09:00:00.000Z",
            400,
            Some("mapper_parsing_exception"),
            r#"{"n":"y"}"#,
        ),
        record(
            "2026-11-27T11:30:00.000Z",
            400,
            Some("illegal_argument_exception"),
            r#"{"n":"z"}"#,
        ),
        // A write cut short by a crash.
        r#"{"@timestamp":"2026-11-27T11:3"#.to_owned(),
    ];
    std::fs::write(
        jupiter.join("elasticsearch-0.ndjson"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    std::fs::write(
        web.join("es.ndjson"),
        record("2026-11-26T08:00:00.000Z", 413, None, "{}") + "\n",
    )
    .unwrap();
    // Not dead-letter files.
    std::fs::write(web.join("notes.txt"), "x").unwrap();
    std::fs::write(web.join(".es.ndjson.replay-1"), "x").unwrap();

    let out = ganymede()
        .args(["dlq", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        ["PIPELINE", "OUTPUT", "EVENTS", "OLDEST", "NEWEST", "ERRORS"],
        "{stdout}"
    );
    assert_eq!(
        rows[1],
        [
            "jupiter-aggregator",
            "elasticsearch-0",
            "3",
            "2026-11-27T09:00:00.000Z",
            "2026-11-27T11:30:00.000Z",
            "mapper_parsing_exception: 2, illegal_argument_exception: 1, unreadable lines: 1"
        ],
        "{stdout}"
    );
    assert_eq!(
        rows[2],
        [
            "web",
            "es",
            "1",
            "2026-11-26T08:00:00.000Z",
            "2026-11-26T08:00:00.000Z",
            "status 413: 1"
        ],
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "4 events in 2 files under {}\n",
            dir.path().join("dead_letter").display()
        )),
        "{stdout}"
    );

    let out = ganymede()
        .args(["dlq", "list", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["pipeline"], "jupiter-aggregator");
    assert_eq!(first["count"], 3);
    assert_eq!(first["errors"]["mapper_parsing_exception"], 2);
    assert_eq!(first["unreadable"], 1);
    assert_eq!(first["oldest"], "2026-11-27T09:00:00.000Z");

    let empty = tempfile::tempdir().unwrap();
    let out = ganymede()
        .args(["dlq", "list", "--data-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(text(&out).0.starts_with("no dead letters under"));
}

/// Writes the pipeline used by the replay test: JSON lines on stdin into
/// the index named by `DLQ_INDEX`.
fn pipeline(dir: &Path, url: &str) -> PathBuf {
    let p = dir.join("dlq.yml");
    std::fs::write(
        &p,
        format!(
            "name: dlq-replay\ninputs:\n  - stdin: {{ codec: json }}\noutputs:\n  - elasticsearch:\n      id: es\n      hosts: [\"{url}\"]\n      index: \"${{DLQ_INDEX}}\"\n      linger: 20ms\n      manage_template: false\n"
        ),
    )
    .unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_delivers_what_the_fixed_index_accepts_and_keeps_the_rest() {
    let url = opensearch::url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = pipeline(dir.path(), &url);
    let strict = opensearch::unique("dlq-strict");
    let fixed = opensearch::unique("dlq-fixed");

    // `n` is a number in the first index: text and objects are refused.
    let (s, v) = opensearch::http(
        "PUT",
        &format!("/{strict}"),
        Some(r#"{"mappings":{"properties":{"n":{"type":"long"}}}}"#),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let mut child = ganymede()
        .args(["run", "--once", "--http", "off", "-c"])
        .arg(&p)
        .arg("--data-dir")
        .arg(&data)
        .env("DLQ_INDEX", &strict)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            concat!(
                "{\"message\":\"good 1\",\"n\":1}\n",
                "{\"message\":\"text 1\",\"n\":\"abc\"}\n",
                "{\"message\":\"good 2\",\"n\":2}\n",
                "{\"message\":\"text 2\",\"n\":\"def\"}\n",
                "{\"message\":\"object\",\"n\":{\"deep\":1}}\n",
            )
            .as_bytes(),
        )
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(opensearch::count(&strict).await, 2);
    let file = data.join("dead_letter/dlq-replay/es.ndjson");
    let dead = dead_letters(&file);
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert!(dead.iter().all(|d| d["status"] == 400), "{dead:?}");

    let out = ganymede()
        .args(["dlq", "list", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let row = stdout.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..3], ["dlq-replay", "es", "3"], "{stdout}");
    assert!(
        row.ends_with(": 3"),
        "one error type for all three: {stdout}"
    );

    // Fix the mapping in a new index: `n` as keyword takes text, still
    // not objects.
    let (s, v) = opensearch::http(
        "PUT",
        &format!("/{fixed}"),
        Some(r#"{"mappings":{"properties":{"n":{"type":"keyword"}}}}"#),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let replay = |args: &[&str]| {
        ganymede()
            .args(["dlq", "replay", "-c"])
            .arg(&p)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("DLQ_INDEX", &fixed)
            .output()
            .unwrap()
    };
    let out = tokio::task::block_in_place(|| replay(&[]));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("dlq-replay/es: 3 replayed from")
            && stdout.contains("2 delivered, 1 rejected again, 0 unresolved"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("dlq-replay/es: 1 left in {}", file.display())),
        "{stdout}"
    );
    let docs = opensearch::documents(&fixed, "n").await;
    let messages: Vec<&str> = docs
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["text 1", "text 2"]);
    assert_eq!(docs[0]["n"], "abc");
    let dead = dead_letters(&file);
    assert_eq!(dead.len(), 1, "only the event refused again: {dead:?}");
    assert_eq!(dead[0]["event"]["message"], "object");
    assert_eq!(dead[0]["event"]["n"]["deep"], 1);
    assert_eq!(
        dead[0]["index"],
        fixed.as_str(),
        "the new record, with the new error"
    );
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["es.ndjson"], "no temporary file is left");

    // Again, by name: nothing more is delivered, nothing is lost.
    let out =
        tokio::task::block_in_place(|| replay(&["--pipeline", "dlq-replay", "--output", "es"]));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 replayed from") && stdout.contains("0 delivered, 1 rejected again"),
        "{stdout}"
    );
    assert_eq!(dead_letters(&file).len(), 1);
    assert_eq!(opensearch::count(&fixed).await, 2);

    // A wrong output id is explained.
    let out = tokio::task::block_in_place(|| replay(&["--output", "ess"]));
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("pipeline `dlq-replay` has no output with id `ess`")
            && stderr.contains("(did you mean `es`?)"),
        "{stderr}"
    );
}
