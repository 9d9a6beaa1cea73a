//! The beats input against go-lumber, the library inside Filebeat's
//! Logstash output: sync and async (pipelined) clients, compression 0 and
//! 3, windows from 1 to 2048, TLS with client certificates, and a 40 s
//! downstream stall survived thanks to keep-alive ACKs.

#[path = "support/golumber.rs"]
mod golumber;
mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{Running, ganymede};

/// The go-lumber peer, built once per test binary.
fn golumber() -> PathBuf {
    golumber::binary()
}

/// A running `ganymede` with a beats input; stdout carries the events.
struct Server {
    run: Running,
    addr: String,
    _dir: tempfile::TempDir,
}

/// Starts a pipeline `beats → console` and learns the bound port from the
/// JSON log.
fn start_server(ssl: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.yml");
    std::fs::write(
        &p,
        format!("name: beats\ninputs:\n  - beats:\n      listen: '127.0.0.1:0'\n{ssl}\noutputs:\n  - console: {{}}\n"),
    )
    .unwrap();
    let mut child = ganymede()
        .args(["run", "--http", "off", "--log-format", "json", "-c"])
        .arg(&p)
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(a) = v["address"].as_str() {
                    let _ = tx.send(Ok(a.to_owned()));
                } else if v["level"] == "ERROR" {
                    let _ = tx.send(Err(line.clone()));
                }
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(a)) => a,
        Ok(Err(line)) => panic!("ganymede failed to start: {line}"),
        Err(_) => panic!("ganymede did not report its beats address within 30 s"),
    };
    Server {
        run: Running(child),
        addr,
        _dir: dir,
    }
}

/// Collects the `seq` numbers of events printed on stdout, in a thread.
fn collect_stdout(server: &mut Server) -> std::thread::JoinHandle<Vec<u64>> {
    let stdout = server.run.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .filter_map(|v| v["seq"].as_u64())
            .collect()
    })
}

/// Runs `golumber send` and returns its JSON summary.
fn send(addr: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(golumber())
        .arg("send")
        .args(["--addr", addr, "--progress", "0"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no summary from golumber: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        out.status.success(),
        "golumber send {args:?} failed: {summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    summary
}

fn stop(mut server: Server, collector: std::thread::JoinHandle<Vec<u64>>) -> Vec<u64> {
    server.run.signal("-TERM");
    let status = server.run.wait_exit(Duration::from_secs(30));
    let mut err = String::new();
    if let Some(mut e) = server.run.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(0), "{err}");
    collector.join().unwrap()
}

#[test]
fn go_lumber_clients_sync_async_compressed_and_windows_all_acked_in_order() {
    let mut server = start_server("");
    let collector = collect_stdout(&mut server);
    let cases: [(&str, &str, &str, u64); 6] = [
        ("sync", "0", "1", 300),
        ("sync", "3", "2048", 5000),
        ("async", "0", "2048", 10000),
        ("async", "3", "2048", 10000),
        ("async", "3", "100", 3000),
        ("async", "0", "1", 300),
    ];
    let mut total = 0;
    for (i, (mode, level, window, count)) in cases.iter().enumerate() {
        let prefix = format!("case{i}");
        let summary = send(
            &server.addr,
            &[
                "--mode",
                mode,
                "--compression",
                level,
                "--window",
                window,
                "--count",
                &count.to_string(),
                "--prefix",
                &prefix,
            ],
        );
        assert_eq!(
            summary["acked"].as_u64(),
            Some(*count),
            "{mode}/{level}/{window}: {summary}"
        );
        assert_eq!(summary["resends"].as_u64(), Some(0), "{summary}");
        total += count;
    }
    let seqs = stop(server, collector);
    assert_eq!(seqs.len() as u64, total, "every event arrived exactly once");
}

/// Test certificates from the go-lumber peer (`gencerts`).
fn certs(dir: &Path) -> PathBuf {
    let out = Command::new(golumber())
        .args(["gencerts", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.to_owned()
}

#[test]
fn tls_with_required_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path());
    let ssl = format!(
        "      ssl:\n        certificate: {0}/server.pem\n        key: {0}/server.key\n        certificate_authorities: [{0}/ca.pem]\n        client_authentication: required",
        c.display()
    );
    let mut server = start_server(&ssl);
    let collector = collect_stdout(&mut server);
    let ca = c.join("ca.pem");
    let cert = c.join("client.pem");
    let key = c.join("client.key");
    let summary = send(
        &server.addr,
        &[
            "--count",
            "2000",
            "--tls-ca",
            ca.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-server-name",
            "localhost",
        ],
    );
    assert_eq!(summary["acked"].as_u64(), Some(2000), "{summary}");
    // Without a client certificate the server refuses to talk.
    let out = Command::new(golumber())
        .args([
            "send",
            "--addr",
            &server.addr,
            "--count",
            "1",
            "--max-retries",
            "1",
            "--progress",
            "0",
        ])
        .args([
            "--tls-ca",
            ca.to_str().unwrap(),
            "--tls-server-name",
            "localhost",
            "--timeout",
            "5s",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a client without certificate must be refused"
    );
    let seqs = stop(server, collector);
    assert_eq!(seqs.len(), 2000);
}

#[test]
fn keepalive_acks_carry_the_client_through_a_40_second_stall() {
    let mut server = start_server("      keepalive: 3s");
    // Nobody reads stdout for 40 s: the console output blocks on the full
    // pipe, so no window can be delivered and ACKed meanwhile.
    let stdout = server.run.0.stdout.take().unwrap();
    let addr = server.addr.clone();
    let sender = std::thread::spawn(move || {
        send(
            &addr,
            &[
                "--count",
                "4000",
                "--window",
                "500",
                "--size",
                "300",
                "--timeout",
                "30s",
                "--compression",
                "0",
            ],
        )
    });
    std::thread::sleep(Duration::from_secs(40));
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .filter_map(|v| v["seq"].as_u64())
            .collect::<Vec<u64>>()
    });
    let summary = sender.join().unwrap();
    assert_eq!(summary["acked"].as_u64(), Some(4000), "{summary}");
    assert_eq!(
        summary["resends"].as_u64(),
        Some(0),
        "the client resent a window: {summary}"
    );
    assert!(
        summary["keepalives"].as_u64().unwrap_or(0) > 0,
        "no keep-alive seen: {summary}"
    );
    let seqs = stop(server, reader);
    assert_eq!(seqs.len(), 4000);
}

/// Reads from a raw connection until the server closes it (or 30 s pass).
fn closed_by_server(mut s: std::net::TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn broken_and_idle_connections_are_closed_while_others_go_on() {
    use std::io::Write;
    let mut server = start_server("      idle_timeout: 2s");
    let collector = collect_stdout(&mut server);
    // Garbage, a wrong version byte, bad zlib, an oversized length.
    for bytes in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"3W\0\0\0\x01",
        b"2W\0\0\0\x01" as &[u8],
        b"2W\0\0\xff\xff",
    ] {
        let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
        s.write_all(bytes).unwrap();
        if bytes == b"2W\0\0\0\x01" {
            s.write_all(b"2C\0\0\0\x04junk").unwrap();
        }
        assert!(
            closed_by_server(s),
            "the server kept a broken connection open: {bytes:?}"
        );
    }
    // A half-open connection that never sends: cut by the idle timeout.
    let idle = std::net::TcpStream::connect(&server.addr).unwrap();
    // Meanwhile a well-behaved client is served.
    let summary = send(&server.addr, &["--count", "1000"]);
    assert_eq!(summary["acked"].as_u64(), Some(1000), "{summary}");
    assert!(closed_by_server(idle), "the idle connection was not closed");
    let seqs = stop(server, collector);
    assert_eq!(seqs.len(), 1000);
}
