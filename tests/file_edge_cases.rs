//! Edge cases of the file input, each against the real binary and real
//! files: inode reuse, truncation in place, partial lines, tiny and
//! identical files, deletion while open, unreadable files, 10,000 files,
//! multiline presets on real stack traces, new files, polling instead of
//! inotify (chosen, or as the fallback), a corrupt registry and restarts,
//! `harvester_limit` and fairness, `ignore_older`, a stalled output, and
//! `--once` progress. Waits are polls with generous deadlines; nothing
//! asserts on timing.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Running, Scratch, numbered, rss_kib};

/// Deadline for things that take well under a second on an idle machine.
const WAIT: Duration = Duration::from_secs(30);

/// `count` lines `line N <tag>`, numbered from `first`.
fn lines(first: u64, count: u64, tag: &str) -> String {
    (first..first + count)
        .map(|i| format!("line {i} {tag}\n"))
        .collect()
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// Polls `f` every 50 ms until it returns something, or panics.
fn poll<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether every number in `range` was delivered.
fn all_of(m: &[String], range: std::ops::Range<u64>) -> bool {
    let n = numbered(m);
    range.into_iter().all(|i| n.contains_key(&i))
}

/// Asserts every number in `range` was delivered exactly once.
fn exactly_once(m: &[String], range: std::ops::Range<u64>) {
    let n = numbered(m);
    let missing: Vec<u64> = range.clone().filter(|i| !n.contains_key(i)).collect();
    let twice: Vec<u64> = range.filter(|i| n.get(i).is_some_and(|c| *c > 1)).collect();
    assert!(
        missing.is_empty(),
        "{} lines missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        twice.is_empty(),
        "{} lines read twice, first {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
}

/// Messages per source file name.
fn by_file(s: &Scratch) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in s.events() {
        let path = e["log"]["file"]["path"].as_str().unwrap_or_default();
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.entry(name)
            .or_default()
            .push(e["message"].as_str().unwrap_or_default().to_owned());
    }
    out
}

/// Lines in the output file so far (cheaper than parsing them).
fn output_lines(s: &Scratch) -> usize {
    std::fs::read(s.out())
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Writes a pipeline tailing `logs/<glob>` with exactly the given file
/// input options (one YAML `key: value` each), for tests that need
/// settings other than the shared `Scratch::pipeline` defaults.
fn pipeline_with(s: &Scratch, glob: &str, options: &[&str]) -> PathBuf {
    let mut text = format!(
        "name: t\ninputs:\n  - file:\n      paths: ['{}/{glob}']\n",
        s.logs().display()
    );
    for o in options {
        text.push_str(&format!("      {o}\n"));
    }
    text.push_str(&format!(
        "outputs:\n  - file: {{path: '{}'}}\n",
        s.out().display()
    ));
    let p = s.dir.path().join("p.yml");
    std::fs::write(&p, text).unwrap();
    p
}

fn stderr_file(s: &Scratch) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.dir.path().join("stderr.log"))
        .unwrap()
}

/// Starts `ganymede run` with its HTTP endpoint on a free port and JSON
/// logs in `stderr.log`; returns the process and the address it logged.
fn start_with_http(s: &Scratch, pipeline: &Path) -> (Running, String) {
    let mut run = Running(
        support::ganymede()
            .args(["run", "--http", "127.0.0.1:0", "--log-format", "json"])
            .args(["--shutdown-timeout", "10s", "-c"])
            .arg(pipeline)
            .arg("--data-dir")
            .arg(s.dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file(s))
            .spawn()
            .unwrap(),
    );
    let addr = poll("the HTTP address in the log", WAIT, || {
        if let Some(status) = run.0.try_wait().unwrap() {
            panic!("ganymede exited with {status}:\n{}", s.stderr());
        }
        s.stderr().lines().find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("address")?
                .as_str()
                .map(str::to_owned)
        })
    });
    (run, addr)
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
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

/// The sum of a metric's samples (all label sets).
fn metric(addr: &str, name: &str) -> u64 {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Whether the process holds `path` open (deleted or not).
fn holds_open(pid: u32, path: &Path) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let plain = path.to_string_lossy().into_owned();
    let deleted = format!("{plain} (deleted)");
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|t| {
            let t = t.to_string_lossy();
            t == plain || t == deleted
        })
}

fn stop(run: &mut Running, s: &Scratch) {
    run.signal("-TERM");
    assert_eq!(
        run.wait_exit(Duration::from_secs(60)).code(),
        Some(0),
        "{}",
        s.stderr()
    );
}

/// Whether the process holds an inotify instance.
fn holds_inotify(pid: u32) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|t| t == Path::new("anon_inode:inotify"))
}

/// Creates `target` with `content` on inode `ino`, which was just freed in
/// the same folder: files are created under names the glob does not match
/// until one gets that inode (ext4 and overlayfs hand out the lowest free
/// inode of the folder's group, so usually the first one does), then it is
/// filled and renamed to `target`. Returns false if the filesystem never
/// gave the inode back; `target` is then created on a fresh inode.
fn create_on_inode(target: &Path, ino: u64, content: &str) -> bool {
    let dir = target.parent().unwrap();
    let mut misses = Vec::new();
    let mut hit = None;
    for i in 0..200 {
        let candidate = dir.join(format!(".inode-reuse-{i}.tmp"));
        std::fs::File::create(&candidate).unwrap();
        if std::fs::metadata(&candidate).unwrap().ino() == ino {
            hit = Some(candidate);
            break;
        }
        // Kept until the end, so the next candidate gets another inode.
        misses.push(candidate);
    }
    for m in misses {
        std::fs::remove_file(m).unwrap();
    }
    match hit {
        Some(c) => {
            std::fs::write(&c, content).unwrap();
            std::fs::rename(&c, target).unwrap();
            true
        }
        None => {
            std::fs::write(target, content).unwrap();
            false
        }
    }
}

/// A file deleted and recreated on the same inode, with other first
/// bytes, is a new file: all its lines are read, whether it is longer than
/// the offset the old file was read to or shorter. (On a filesystem that
/// never reuses inodes this only shows a new file is read; the same case
/// — same inode, other content — is also covered, on any filesystem, by
/// `a_closed_file_rewritten_in_place_is_read_from_its_start`.)
#[test]
fn a_new_file_on_a_reused_inode_is_read_from_its_start() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let log = s.logs().join("app.log");
    // About 1.5 KiB: the old file's fingerprint covers its full 1 KiB.
    std::fs::write(&log, lines(0, 50, "of the file deleted later")).unwrap();
    let mut run = s.start(&p, &[]);
    let pid = run.0.id();
    s.wait_for("the first file", WAIT, |m| all_of(m, 0..50));

    // Longer than the old offset, then (on the next reuse) much shorter.
    for (first, count) in [(1000, 150), (2000, 4)] {
        let ino = std::fs::metadata(&log).unwrap().ino();
        std::fs::remove_file(&log).unwrap();
        // The inode is free only once ganymede has read the deleted file
        // to its end and closed it.
        poll("the deleted file to be closed", WAIT, || {
            (!holds_open(pid, &log)).then_some(())
        });
        let reused = create_on_inode(&log, ino, &lines(first, count, "of a newer file"));
        println!(
            "file of {count} lines on {} inode",
            if reused {
                "the reused"
            } else {
                "a fresh (no reuse)"
            }
        );
        if reused {
            assert_eq!(std::fs::metadata(&log).unwrap().ino(), ino);
        }
        s.wait_for("every line of the newer file", WAIT, |m| {
            all_of(m, first..first + count)
        });
    }
    stop(&mut run, &s);
    let m = s.messages();
    exactly_once(&m, 0..50);
    exactly_once(&m, 1000..1150);
    exactly_once(&m, 2000..2004);
    assert_eq!(m.len(), 50 + 150 + 4, "unexpected events: {m:?}");
}

/// A file truncated in place while open: the truncation is counted in
/// `ganymede_file_truncations_total` and logged, and the lines written
/// after it are read — fewer than before, or (once the truncation was
/// seen) more.
#[test]
fn truncation_in_place_is_counted_and_new_lines_are_read() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let log = s.logs().join("app.log");
    std::fs::write(&log, lines(0, 100, "before any truncation")).unwrap();
    let ino = std::fs::metadata(&log).unwrap().ino();
    let (mut run, addr) = start_with_http(&s, &p);
    s.wait_for("the first lines", WAIT, |m| all_of(m, 0..100));
    assert_eq!(metric(&addr, "ganymede_file_truncations_total"), 0);

    // O_TRUNC and a few lines: shorter than the read offset at any moment.
    std::fs::write(&log, lines(100, 5, "after the first truncation")).unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().ino(), ino, "same inode");
    s.wait_for("the lines after the truncation", WAIT, |m| {
        all_of(m, 100..105)
    });
    poll("the truncation to be counted", WAIT, || {
        (metric(&addr, "ganymede_file_truncations_total") >= 1).then_some(())
    });

    // Emptied; once that is seen, more is written than was there before.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    poll("the second truncation to be counted", WAIT, || {
        (metric(&addr, "ganymede_file_truncations_total") >= 2).then_some(())
    });
    append(&log, &lines(200, 300, "after the second truncation"));
    s.wait_for("the lines after the second truncation", WAIT, |m| {
        all_of(m, 200..500)
    });
    assert_eq!(metric(&addr, "ganymede_file_truncations_total"), 2);
    stop(&mut run, &s);
    let m = s.messages();
    exactly_once(&m, 0..105);
    exactly_once(&m, 200..500);
    assert_eq!(m.len(), 405);
    let warnings = s
        .stderr()
        .lines()
        .filter(|l| l.contains("truncated") && l.contains("app.log"))
        .count();
    assert_eq!(warnings, 2, "{}", s.stderr());
}

/// A file closed (close_inactive) and then rewritten in place with
/// other content, longer than it was: the same inode now holds another
/// file, which is read from its start.
#[test]
fn a_closed_file_rewritten_in_place_is_read_from_its_start() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "      close_inactive: 1s");
    let log = s.logs().join("app.log");
    std::fs::write(&log, lines(0, 40, "of the old content")).unwrap();
    let ino = std::fs::metadata(&log).unwrap().ino();
    let mut run = s.start(&p, &[]);
    let pid = run.0.id();
    s.wait_for("the old content", WAIT, |m| all_of(m, 0..40));
    poll("the idle file to be closed", WAIT, || {
        (!holds_open(pid, &log)).then_some(())
    });
    std::fs::write(&log, lines(100, 200, "of the new content")).unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().ino(), ino, "same inode");
    s.wait_for("the new content", WAIT, |m| all_of(m, 100..300));
    stop(&mut run, &s);
    let m = s.messages();
    exactly_once(&m, 0..40);
    exactly_once(&m, 100..300);
}

/// What was read but held back when the file is truncated — a last
/// line without newline, a multiline event still open — is still sent:
/// the file no longer holds it.
#[test]
fn truncation_in_place_loses_no_held_back_line() {
    let s = Scratch::new();
    // Indented lines continue an event, which stays open 5 s (the default
    // multiline timeout) for more; a last line without newline waits 1 s.
    let p = s.pipeline(
        "*.log",
        "      multiline: { pattern: '^\\s', match: after }",
    );
    let partial = s.logs().join("partial.log");
    let open_event = s.logs().join("event.log");
    std::fs::write(&partial, "line 0 complete\nline 1 without newline").unwrap();
    std::fs::write(&open_event, "line 10 starts an event\n  and goes on\n").unwrap();
    let size =
        std::fs::metadata(&partial).unwrap().len() + std::fs::metadata(&open_event).unwrap().len();
    let (mut run, addr) = start_with_http(&s, &p);
    // Both files read to their end; truncate them at once. (Were this
    // thread slower than the flush delays, the lines would be sent
    // anyway: a pause can only hide the bug, not fail the test.)
    poll("both files to be read", WAIT, || {
        (metric(&addr, "ganymede_file_bytes_read_total") >= size).then_some(())
    });
    for f in [&partial, &open_event] {
        std::fs::OpenOptions::new()
            .write(true)
            .open(f)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    poll("the truncations to be seen", WAIT, || {
        (metric(&addr, "ganymede_file_truncations_total") >= 2).then_some(())
    });
    append(&partial, "line 2 after the truncation\n");
    append(&open_event, "line 12 after the truncation\n");
    let done = |m: &[String]| all_of(m, 0..3) && all_of(m, 10..11) && all_of(m, 12..13);
    s.wait_for("every line", WAIT, done);
    stop(&mut run, &s);
    // Sorted: batches may pass each other in the pipeline's workers.
    let mut by = by_file(&s);
    by.values_mut().for_each(|m| m.sort());
    assert_eq!(
        by["partial.log"],
        [
            "line 0 complete",
            "line 1 without newline",
            "line 2 after the truncation"
        ]
    );
    assert_eq!(
        by["event.log"],
        [
            "line 10 starts an event\n  and goes on",
            "line 12 after the truncation"
        ]
    );
}

/// A last line without newline is sent after `flush_partial_after` (1 s
/// here); the newline that ends it later adds no empty event. A line
/// written in two halves a moment apart arrives whole.
#[test]
fn partial_lines_are_flushed_and_halves_arrive_whole() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let log = s.logs().join("app.log");
    std::fs::write(&log, "a complete line\n").unwrap();
    let halves = s.logs().join("halves.log");
    std::fs::write(&halves, "first line of halves.log\n").unwrap();
    let mut run = s.start(&p, &[]);
    s.wait_for("the complete lines", WAIT, |m| m.len() == 2);

    let written = Instant::now();
    append(&log, "a last line without newline");
    s.wait_for("the partial line", WAIT, |m| {
        m.iter().any(|x| x == "a last line without newline")
    });
    println!(
        "partial line sent {:.2?} after it was written (flush_partial_after: 1s)",
        written.elapsed()
    );
    append(&log, "\nthe next line\n");
    s.wait_for("the next line", WAIT, |m| {
        m.iter().any(|x| x == "the next line")
    });

    let mut whole = false;
    for attempt in 0..3 {
        let text = format!("one line written in two halves, attempt {attempt}");
        let (first, second) = text.split_at(text.len() / 2);
        let t = Instant::now();
        append(&halves, first);
        std::thread::sleep(Duration::from_millis(150));
        append(&halves, &format!("{second}\n"));
        let gap = t.elapsed();
        let m = s.wait_for("the line written in halves", WAIT, |m| {
            m.iter().any(|x| *x == text || x == second)
        });
        if m.contains(&text) {
            assert!(!m.iter().any(|x| x == first), "{m:?}");
            whole = true;
            break;
        }
        // Split: acceptable only if this thread was itself held up past
        // flush_partial_after between the two writes.
        assert!(
            gap >= Duration::from_millis(900),
            "a line written in halves {gap:?} apart was split: {m:?}"
        );
        println!("the halves were {gap:?} apart (machine busy); trying again");
    }
    assert!(whole, "the halves never arrived as one line");
    stop(&mut run, &s);
    let by = by_file(&s);
    assert_eq!(
        by["app.log"],
        [
            "a complete line",
            "a last line without newline",
            "the next line"
        ],
        "no empty event for the newline that ended the flushed line"
    );
}

/// A file of one byte, no newline, is read — present at start or
/// created later — and goes on being read as it grows.
#[test]
fn a_one_byte_file_is_read() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let x = s.logs().join("x.log");
    std::fs::write(&x, "x").unwrap();
    let mut run = s.start(&p, &[]);
    let m = s.wait_for("the byte", WAIT, |m| !m.is_empty());
    assert_eq!(m, ["x"]);
    std::fs::write(s.logs().join("y.log"), "y").unwrap();
    s.wait_for("the byte of a later file", WAIT, |m| {
        m.iter().any(|x| x == "y")
    });
    append(&x, "\nmore\n");
    s.wait_for("the grown file's next line", WAIT, |m| {
        m.iter().any(|x| x == "more")
    });
    stop(&mut run, &s);
    let by = by_file(&s);
    assert_eq!(by["x.log"], ["x", "more"]);
    assert_eq!(by["y.log"], ["y"]);
    let first = &s.events()[0];
    assert_eq!(first["log"]["offset"], 0);
}

/// Files with identical first lines — identical as a whole, too, and
/// longer than the 1 KiB fingerprint — are all read completely, whether
/// present at start or created while the others are open.
#[test]
fn files_with_identical_content_are_all_read() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let content = lines(0, 60, "the same in every file");
    assert!(content.len() > 1024);
    for name in ["a.log", "b.log"] {
        std::fs::write(s.logs().join(name), &content).unwrap();
    }
    let mut run = s.start(&p, &[]);
    let complete = |s: &Scratch, names: &[&str]| {
        let by = by_file(s);
        names
            .iter()
            .all(|n| by.get(*n).is_some_and(|m| all_of(m, 0..60)))
    };
    poll("a.log and b.log", WAIT, || {
        complete(&s, &["a.log", "b.log"]).then_some(())
    });
    // A third copy while a.log and b.log are open (and never truncated).
    let created = Instant::now();
    std::fs::write(s.logs().join("c.log"), &content).unwrap();
    // Also small identical files: one short line each.
    for name in ["d.log", "e.log"] {
        std::fs::write(s.logs().join(name), "same\n").unwrap();
    }
    poll("c.log", Duration::from_secs(120), || {
        complete(&s, &["c.log"]).then_some(())
    });
    println!(
        "identical file created while running read after {:.1?}",
        created.elapsed()
    );
    poll("d.log and e.log", WAIT, || {
        let by = by_file(&s);
        (by.contains_key("d.log") && by.contains_key("e.log")).then_some(())
    });
    stop(&mut run, &s);
    let by = by_file(&s);
    for name in ["a.log", "b.log", "c.log"] {
        exactly_once(&by[name], 0..60);
        assert_eq!(by[name].len(), 60, "{name}");
    }
    assert_eq!(by["d.log"], ["same"]);
    assert_eq!(by["e.log"], ["same"]);
}

/// A file deleted while it is being read (a large file, read 4 KiB a
/// turn) is read to its end through the open handle, then closed.
#[test]
fn a_file_deleted_while_being_read_is_read_to_its_end() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "      read_buffer: 4KiB");
    let log = s.logs().join("big.log");
    let count = 200_000u64;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        for i in 0..count {
            writeln!(f, "line {i} of a file deleted while it is read").unwrap();
        }
    }
    let mut run = s.start(&p, &[]);
    let pid = run.0.id();
    poll("the first lines", WAIT, || {
        (output_lines(&s) > 0).then_some(())
    });
    std::fs::remove_file(&log).unwrap();
    let at_delete = output_lines(&s);
    assert!(
        holds_open(pid, &log),
        "the file should be open when it is deleted"
    );
    println!("deleted after {at_delete} of {count} lines were delivered");
    poll("every line", Duration::from_secs(300), || {
        (output_lines(&s) as u64 >= count).then_some(())
    });
    poll("the deleted file to be closed", WAIT, || {
        (!holds_open(pid, &log)).then_some(())
    });
    stop(&mut run, &s);
    let m = s.messages();
    exactly_once(&m, 0..count);
    assert_eq!(m.len() as u64, count);
}

/// The effective user id of this process.
fn euid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

/// An unreadable file does not stop the others; the error is logged
/// once, not on every scan; once readable, the file is read.
///
/// Root reads files whatever their mode, and tests run as root in CI. So
/// under root ganymede runs as `nobody` (65534) through util-linux's
/// `setpriv`, the way a service runs, and `chmod 000` is what makes the
/// file unreadable in every case; the scratch folders are opened up so
/// that `nobody` can read the logs and write the output and registry.
#[test]
fn an_unreadable_file_is_reported_once_and_read_once_readable() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let open = s.logs().join("open.log");
    let secret = s.logs().join("secret.log");
    std::fs::write(&open, lines(0, 3, "readable")).unwrap();
    std::fs::write(&secret, lines(100, 3, "readable only later")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ganymede"));
    let mut cmd = if euid() == 0 {
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("running as root needs setpriv (util-linux) to run ganymede unprivileged");
        let unprivileged = || {
            let mut c = Command::new(setpriv);
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
            c
        };
        for (dir, mode) in [
            (s.dir.path().to_owned(), 0o755),
            (s.logs(), 0o755),
            (s.dir.path().join("out"), 0o777),
            (s.dir.path().join("data"), 0o777),
        ] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        // The build folder may be private to root: then run a copy.
        let reachable = unprivileged()
            .arg(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        let bin = if reachable {
            bin
        } else {
            let copy = s.dir.path().join("ganymede");
            std::fs::copy(&bin, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
            copy
        };
        let mut c = unprivileged();
        c.arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--http", "off", "--shutdown-timeout", "10s", "-c"])
        .arg(&p)
        .arg("--data-dir")
        .arg(s.dir.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file(&s));
    let mut run = Running(cmd.spawn().unwrap());

    s.wait_for("the readable file", WAIT, |m| all_of(m, 0..3));
    let reports = |s: &Scratch| {
        s.stderr()
            .lines()
            .filter(|l| l.contains("secret.log") && l.contains("cannot open"))
            .count()
    };
    poll("the error to be logged", WAIT, || {
        (reports(&s) >= 1).then_some(())
    });
    // Scans run every second: give several of them the chance to log again
    // (a pause here can only hide a repeat, never cause a failure).
    for i in 3..8 {
        append(&open, &lines(i, 1, "readable"));
        std::thread::sleep(Duration::from_millis(700));
    }
    s.wait_for("the readable file's later lines", WAIT, |m| all_of(m, 0..8));
    assert_eq!(reports(&s), 1, "{}", s.stderr());
    assert!(!all_of(&s.messages(), 100..101), "root-like read happened");

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    s.wait_for("the file once readable", WAIT, |m| all_of(m, 100..103));
    stop(&mut run, &s);
    let m = s.messages();
    exactly_once(&m, 0..8);
    exactly_once(&m, 100..103);
    assert_eq!(reports(&s), 1, "{}", s.stderr());
}

/// 10,000 files in one folder, three lines each: every line arrives.
/// Prints the time until all arrived and the peak RSS (not asserted).
#[test]
fn ten_thousand_files_in_one_folder() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let files = 10_000u64;
    for f in 0..files {
        std::fs::write(
            s.logs().join(format!("app-{f:05}.log")),
            lines(f * 3, 3, "of one of many files"),
        )
        .unwrap();
    }
    let total = files * 3;
    let started = Instant::now();
    let mut run = s.start(&p, &[]);
    let pid = run.0.id();
    let mut peak = 0;
    poll("every line of every file", Duration::from_secs(600), || {
        peak = peak.max(rss_kib(pid));
        (output_lines(&s) as u64 >= total).then_some(())
    });
    let took = started.elapsed();
    peak = peak.max(rss_kib(pid));
    println!(
        "10,000 files: all {total} lines after {:.1?}; peak RSS {:.1} MiB",
        took,
        peak as f64 / 1024.0
    );
    stop(&mut run, &s);
    let m = s.messages();
    exactly_once(&m, 0..total);
    assert_eq!(m.len() as u64, total);
}

/// Reads a fixture with a multiline preset under `--once`; returns the
/// messages in file order (batches may pass each other in the pipeline's
/// workers) and the fixture's text.
fn read_with_preset(preset: &str, fixture: &str) -> (Vec<String>, String) {
    let s = Scratch::new();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/traces")
            .join(fixture),
    )
    .unwrap();
    std::fs::write(s.logs().join(fixture), &text).unwrap();
    let p = s.pipeline("*.log", &format!("      multiline: {{ preset: {preset} }}"));
    let mut run = s.start(&p, &["--once"]);
    assert_eq!(
        run.wait_exit(Duration::from_secs(60)).code(),
        Some(0),
        "{}",
        s.stderr()
    );
    let mut events = s.events();
    events.sort_by_key(|e| e["log"]["offset"].as_u64());
    let messages = events
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    (messages, text)
}

fn starts_with_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
}

/// Checks the events of a fixture: one per timestamped log line, each
/// starting with it, together exactly the file's text; `traces` of them
/// hold a stack trace (`marker`), each after an error or warning line.
fn check_trace_events(m: &[String], text: &str, log_lines: usize, traces: usize, marker: &str) {
    assert_eq!(
        text.lines().filter(|l| starts_with_timestamp(l)).count(),
        log_lines,
        "fixture changed?"
    );
    for e in m {
        assert!(
            starts_with_timestamp(e),
            "an event does not start with a log line:\n{e}"
        );
    }
    assert_eq!(m.len(), log_lines, "events:\n{}", m.join("\n-----\n"));
    assert_eq!(
        m.join("\n"),
        text.strip_suffix('\n').unwrap(),
        "the events are not the file's lines, in order"
    );
    let with_trace: Vec<&String> = m.iter().filter(|e| e.contains(marker)).collect();
    assert_eq!(with_trace.len(), traces);
    for e in with_trace {
        let first = e.lines().next().unwrap();
        assert!(
            ["ERROR", "WARN", "CRITICAL"]
                .iter()
                .any(|l| first.contains(l)),
            "{first}"
        );
    }
}

/// The java preset on a Spring Boot (logback, embedded Tomcat) log:
/// each stack trace — blank lines around it as Spring Boot writes them,
/// `Caused by:` chains, `Suppressed:`, `... N more` / `common frames
/// omitted` — is one event with the log line that reported it.
#[test]
fn java_preset_on_a_spring_boot_log() {
    let (m, text) = read_with_preset("java", "java.log");
    check_trace_events(&m, &text, 22, 5, "\n\tat ");
    let npe = m
        .iter()
        .find(|e| e.contains("java.lang.NullPointerException: Cannot invoke"))
        .unwrap();
    assert!(npe.contains("with root cause\n\njava.lang.NullPointerException"));
    assert!(npe.ends_with("at java.base/java.lang.Thread.run(Thread.java:840) ~[na:na]\n"));
    let chain = m
        .iter()
        .find(|e| e.contains("DataIntegrityViolationException"))
        .unwrap();
    assert_eq!(chain.matches("\nCaused by: ").count(), 2);
    assert!(chain.contains("\n  Detail: Key (customer_id)=(77120)"));
}

/// The python preset on a Python `logging` log: each traceback,
/// including chained ones ("During handling of the above exception…",
/// "The above exception was the direct cause…") with their blank lines, is
/// one event with the log line that reported it.
#[test]
fn python_preset_on_a_python_log() {
    let (m, text) = read_with_preset("python", "python.log");
    check_trace_events(&m, &text, 12, 4, "\nTraceback (most recent call last):");
    let timeout = m
        .iter()
        .find(|e| e.contains("Lookup of case C-20261127-0043 failed"))
        .unwrap();
    assert_eq!(
        timeout
            .matches("Traceback (most recent call last):")
            .count(),
        3
    );
    assert!(
        timeout.contains(
            "\n\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    );
    assert!(timeout.ends_with("Read timed out. (read timeout=10)"));
    let db = m
        .iter()
        .find(|e| e.contains("Saving case C-20261127-0044 failed"))
        .unwrap();
    assert!(db.contains("psycopg2.errors.UniqueViolation: duplicate key"));
    assert!(db.ends_with("psycopg2.InterfaceError: connection already closed"));
}

/// With `start_at: end`, a file created while running is picked up and
/// read from its first byte; lines present at start are skipped.
#[test]
fn a_new_file_is_picked_up_while_running() {
    let s = Scratch::new();
    let p = pipeline_with(
        &s,
        "*.log",
        &[
            "scan_frequency: 10s",
            "start_at: end",
            "flush_partial_after: 1s",
        ],
    );
    let old = s.logs().join("old.log");
    std::fs::write(&old, lines(0, 10, "present at start")).unwrap();
    let mut run = s.start(&p, &[]);
    // Running once a line appended to old.log arrives (appended again
    // until one does: the first may precede the first scan).
    let mut next = 100;
    poll("the input to run", WAIT, || {
        append(&old, &lines(next, 1, "appended after start"));
        next += 1;
        std::thread::sleep(Duration::from_millis(200));
        (!s.messages().is_empty()).then_some(())
    });
    let created = Instant::now();
    std::fs::write(s.logs().join("new.log"), lines(1000, 5, "of a new file")).unwrap();
    s.wait_for("the new file", Duration::from_secs(10), |m| {
        all_of(m, 1000..1005)
    });
    println!(
        "new file picked up and read {:.0?} after it was created (scan_frequency 10s)",
        created.elapsed()
    );
    stop(&mut run, &s);
    let m = s.messages();
    assert!(
        !numbered(&m).keys().any(|n| *n < 10),
        "lines present at start were read with start_at: end"
    );
    exactly_once(&m, 1000..1005);
}

/// With `watch: poll` no inotify instance is opened, yet a file created
/// after start, lines appended to it and a rotation by rename + create
/// (with lines written to the renamed file) all arrive exactly once.
/// `scan_frequency: 1h` leaves `poll_interval` (1 s) as the only way new
/// files can be found within the deadline.
#[test]
fn watch_poll_reads_new_files_appends_and_rotations_without_inotify() {
    let s = Scratch::new();
    let p = pipeline_with(
        &s,
        "*.log",
        &[
            "watch: poll",
            "scan_frequency: 1h",
            "start_at: beginning",
            "flush_partial_after: 1s",
        ],
    );
    std::fs::write(s.logs().join("first.log"), lines(0, 10, "present at start")).unwrap();
    let mut run = s.start(&p, &[]);
    s.wait_for("the file present at start", WAIT, |m| all_of(m, 0..10));
    assert!(
        !holds_inotify(run.0.id()),
        "watch: poll opened an inotify instance"
    );

    let app = s.logs().join("app.log");
    std::fs::write(&app, lines(100, 50, "of a file created after start")).unwrap();
    s.wait_for("the file created after start", WAIT, |m| {
        all_of(m, 100..150)
    });
    for first in [150, 170, 190] {
        append(&app, &lines(first, 20, "appended"));
        s.wait_for("the appended lines", WAIT, |m| all_of(m, first..first + 20));
    }

    // The writer still holds the renamed file and writes its last lines
    // there before it opens the new one.
    let rotated = s.logs().join("app.log.1");
    std::fs::rename(&app, &rotated).unwrap();
    append(&rotated, &lines(300, 20, "written after the rename"));
    std::fs::write(&app, lines(400, 30, "of the new app.log")).unwrap();
    s.wait_for("both sides of the rotation", WAIT, |m| {
        all_of(m, 300..320) && all_of(m, 400..430)
    });
    append(&app, &lines(430, 20, "appended to the new app.log"));
    s.wait_for("lines appended after the rotation", WAIT, |m| {
        all_of(m, 430..450)
    });

    stop(&mut run, &s);
    let m = s.messages();
    for range in [0..10, 100..210, 300..320, 400..450] {
        exactly_once(&m, range);
    }
    assert_eq!(m.len(), 10 + 110 + 20 + 50, "unexpected extra events");
    assert!(
        !s.stderr().contains("polling instead"),
        "watch: poll is a choice, not a failure to warn about:\n{}",
        s.stderr()
    );
}

/// With the default `watch: auto`, paths into a folder that does not
/// exist at start cannot be watched: the input warns and polls instead.
/// Once the folder and a file in it are created, every line arrives, and
/// so do lines appended later. `scan_frequency: 1h` leaves the fallback's
/// polling as the only way the file can be found within the deadline.
#[test]
fn a_folder_missing_at_start_is_found_by_the_polling_fallback() {
    let s = Scratch::new();
    let p = pipeline_with(
        &s,
        "later/app/*.log",
        &[
            "scan_frequency: 1h",
            "start_at: beginning",
            "flush_partial_after: 1s",
        ],
    );
    let mut run = s.start(&p, &[]);
    poll(
        "the warning that the folder cannot be watched",
        WAIT,
        || s.stderr().contains("polling instead").then_some(()),
    );
    assert!(s.stderr().contains("later/app"), "{}", s.stderr());

    let folder = s.logs().join("later/app");
    std::fs::create_dir_all(&folder).unwrap();
    let log = folder.join("app.log");
    std::fs::write(&log, lines(0, 50, "in a folder created after start")).unwrap();
    s.wait_for("the file in the new folder", WAIT, |m| all_of(m, 0..50));
    append(&log, &lines(50, 50, "appended"));
    s.wait_for("the appended lines", WAIT, |m| all_of(m, 50..100));
    std::fs::write(folder.join("second.log"), lines(100, 10, "another file")).unwrap();
    s.wait_for("a second file in the new folder", WAIT, |m| {
        all_of(m, 100..110)
    });

    stop(&mut run, &s);
    let m = s.messages();
    exactly_once(&m, 0..110);
    assert_eq!(m.len(), 110, "unexpected extra events");
}

/// A registry that is corrupt at start is moved aside (and kept), the
/// input reads the files from scratch and writes a good registry.
#[test]
fn a_corrupt_registry_is_moved_aside_and_reading_starts_clean() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let log = s.logs().join("app.log");
    std::fs::write(&log, lines(0, 20, "read despite the corrupt registry")).unwrap();
    let reg_dir = s.dir.path().join("data/registry/t");
    std::fs::create_dir_all(&reg_dir).unwrap();
    let garbage = "{\"version\":1,\"entries\":[{\"key\":{\"dev\":1,\"in";
    std::fs::write(reg_dir.join("file-0.json"), garbage).unwrap();
    let mut run = s.start(&p, &["--once"]);
    assert_eq!(
        run.wait_exit(Duration::from_secs(60)).code(),
        Some(0),
        "{}",
        s.stderr()
    );
    let m = s.messages();
    exactly_once(&m, 0..20);
    assert!(s.stderr().contains("corrupt"), "{}", s.stderr());
    let names: Vec<String> = std::fs::read_dir(&reg_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let aside: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("file-0.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{names:?}");
    assert_eq!(
        std::fs::read_to_string(reg_dir.join(aside[0])).unwrap(),
        garbage
    );
    let fresh: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reg_dir.join("file-0.json")).unwrap())
            .unwrap();
    let size = std::fs::metadata(&log).unwrap().len();
    assert_eq!(fresh["entries"][0]["offset"], size, "{fresh}");
}

/// `--once` twice with lines appended in between: the second run reads
/// only the new lines (and a third, with nothing new, reads nothing).
#[test]
fn a_restart_resumes_where_the_last_run_stopped() {
    let s = Scratch::new();
    let p = s.pipeline("*.log", "");
    let log = s.logs().join("app.log");
    std::fs::write(&log, lines(0, 100, "of the first run")).unwrap();
    let once = |s: &Scratch| {
        let mut run = s.start(&p, &["--once"]);
        assert_eq!(
            run.wait_exit(Duration::from_secs(60)).code(),
            Some(0),
            "{}",
            s.stderr()
        );
        s.messages()
    };
    let m = once(&s);
    exactly_once(&m, 0..100);
    assert_eq!(m.len(), 100);
    append(&log, &lines(100, 50, "of the second run"));
    let m = once(&s);
    exactly_once(&m, 0..150);
    assert_eq!(m.len(), 150, "the second run read old lines again");
    let m = once(&s);
    assert_eq!(m.len(), 150, "a run with nothing new read something");
}

/// `harvester_limit` bounds the open files; the others wait their turn and
/// are all read. A file that never stops growing does not keep the others
/// waiting: while a writer appends to it without pause, every line of the
/// other files still arrives (round-robin reading, idle files rotated out).
#[test]
fn harvester_limit_takes_turns_and_a_busy_file_starves_none() {
    let s = Scratch::new();
    let p = pipeline_with(
        &s,
        "*.log",
        &[
            "start_at: beginning",
            "scan_frequency: 1s",
            "harvester_limit: 2",
            "close_inactive: 1s",
        ],
    );
    let busy = s.logs().join("busy.log");
    append(&busy, "busy 0\n");
    let quiet = 5u64;
    for f in 0..quiet {
        std::fs::write(
            s.logs().join(format!("quiet-{f}.log")),
            lines(f * 1000, 1000, "of a quiet file"),
        )
        .unwrap();
    }
    let stop_writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop_writing = stop_writing.clone();
        let busy = busy.clone();
        std::thread::spawn(move || {
            let mut i = 1u64;
            while !stop_writing.load(std::sync::atomic::Ordering::Relaxed) {
                append(&busy, &format!("busy {i}\n"));
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut run = s.start(&p, &[]);
    let pid = run.0.id();
    let mut max_open = 0;
    poll(
        "every line of the quiet files while the busy one grows",
        Duration::from_secs(120),
        || {
            let open = (0..quiet)
                .map(|f| s.logs().join(format!("quiet-{f}.log")))
                .chain([busy.clone()])
                .filter(|f| holds_open(pid, f))
                .count();
            max_open = max_open.max(open);
            all_of(&s.messages(), 0..quiet * 1000).then_some(())
        },
    );
    assert!(
        !writer.is_finished(),
        "the busy file was still being written"
    );
    stop_writing.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    s.wait_for("the busy file's lines", WAIT, |m| {
        m.iter().any(|l| l.starts_with("busy "))
    });
    stop(&mut run, &s);
    exactly_once(&s.messages(), 0..quiet * 1000);
    assert!(
        max_open <= 2,
        "{max_open} files open at once with harvester_limit: 2"
    );
}

/// `ignore_older` skips files not modified within the span; newer files
/// in the same folder are read.
#[test]
fn ignore_older_skips_files_not_changed_recently() {
    let s = Scratch::new();
    let p = pipeline_with(
        &s,
        "*.log",
        &[
            "start_at: beginning",
            "scan_frequency: 1s",
            "ignore_older: 1h",
        ],
    );
    let old = s.logs().join("old.log");
    std::fs::write(&old, lines(0, 10, "old")).unwrap();
    let status = Command::new("touch")
        .args(["-m", "-d", "2 days ago"])
        .arg(&old)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(s.logs().join("new.log"), lines(100, 10, "new")).unwrap();
    let mut run = s.start(&p, &[]);
    s.wait_for("the new file", WAIT, |m| all_of(m, 100..110));
    // A later file proves another scan happened after the first.
    std::fs::write(s.logs().join("later.log"), lines(200, 1, "later")).unwrap();
    s.wait_for("a file created later", WAIT, |m| all_of(m, 200..201));
    stop(&mut run, &s);
    let m = s.messages();
    assert!(
        !m.iter().any(|l| l.ends_with(" old")),
        "lines of a file older than ignore_older were read"
    );
    exactly_once(&m, 100..110);
}

/// When the output cannot deliver, reading pauses: the bytes read stop
/// far short of the file, and memory stays bounded.
#[test]
fn a_stalled_output_pauses_reading_with_bounded_memory() {
    let s = Scratch::new();
    // An Elasticsearch "node" that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let accepted = std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().take(8) {
            held.push(c);
        }
        std::thread::sleep(Duration::from_secs(3600));
        drop(held);
    });
    let log = s.logs().join("big.log");
    let line = format!("{}\n", "x".repeat(199));
    let mut text = String::with_capacity(200 * 100_000);
    for _ in 0..100_000 {
        text.push_str(&line);
    }
    for _ in 0..10 {
        append(&log, &text); // 200 MB
    }
    let size = std::fs::metadata(&log).unwrap().len();
    let pipeline = s.dir.path().join("stalled.yml");
    std::fs::write(
        &pipeline,
        format!(
            "name: stalled\ninputs:\n  - file: {{paths: ['{}'], start_at: beginning}}\noutputs:\n  - elasticsearch: {{hosts: ['http://{addr}'], index: x, manage_template: false, timeout: 1h}}\n",
            log.display()
        ),
    )
    .unwrap();
    let (mut run, http) = start_with_http(&s, &pipeline);
    let pid = run.0.id();
    // Reading starts, then stops: the counter stays put across a pause.
    let read = poll("reading to start", WAIT, || {
        let n = metric(&http, "ganymede_file_bytes_read_total");
        (n > 0).then_some(n)
    });
    let stalled = poll("reading to pause", Duration::from_secs(60), || {
        let before = metric(&http, "ganymede_file_bytes_read_total");
        std::thread::sleep(Duration::from_secs(2));
        let after = metric(&http, "ganymede_file_bytes_read_total");
        (after == before).then_some(after)
    });
    assert!(read > 0);
    assert!(
        stalled < size / 4,
        "{stalled} of {size} bytes read with an output that delivers nothing"
    );
    let rss = rss_kib(pid);
    assert!(rss < 200 * 1024, "RSS {rss} KiB while stalled");
    println!(
        "stalled output: {stalled} of {size} bytes read, RSS {:.1} MiB",
        rss as f64 / 1024.0
    );
    run.signal("-KILL");
    let _ = run.wait_exit(Duration::from_secs(30));
    drop(accepted);
}

/// `--once` reads everything, waits for delivery and exits 0; not on a
/// terminal it reports progress on stderr as lines, ending with the total.
#[test]
fn backfill_reports_progress_lines_and_exits_when_done() {
    let s = Scratch::new();
    std::fs::write(s.logs().join("a.log"), lines(0, 5000, "a")).unwrap();
    std::fs::write(s.logs().join("b.log"), lines(5000, 5000, "b")).unwrap();
    let total: u64 = ["a.log", "b.log"]
        .iter()
        .map(|f| std::fs::metadata(s.logs().join(f)).unwrap().len())
        .sum();
    let p = s.pipeline("*.log", "");
    let mut run = s.start(&p, &["--once"]);
    let status = run.wait_exit(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    exactly_once(&s.messages(), 0..10_000);
    let stderr = s.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("backfill: read {total} bytes in "))),
        "no final progress line for {total} bytes in:\n{stderr}"
    );
}
