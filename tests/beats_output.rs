//! The beats output against go-lumber's server (the library inside
//! Filebeat's Logstash output and many Logstash stand-ins): windows and
//! ACKs, reconnect after a dropped connection, TLS both ways, load
//! balancing.

#[path = "support/golumber.rs"]
mod golumber;
mod support;

use golumber::GoServer;
use std::collections::BTreeMap;
use std::time::Duration;
use support::{Running, ganymede};

/// Runs a generator of `count` numbered events into a beats output with the
/// given options, to completion; returns ganymede's exit status and stderr.
fn ship(count: u64, options: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("lines.txt");
    let text: String = (1..=count)
        .map(|i| format!("{{\"n\":{i},\"message\":\"event {i}\"}}\n"))
        .collect();
    std::fs::write(&lines, text).unwrap();
    let p = dir.path().join("p.yml");
    std::fs::write(
        &p,
        format!(
            "inputs:\n  - generator: {{file: '{}', codec: json}}\noutputs:\n  - beats:\n{options}\n",
            lines.display()
        ),
    )
    .unwrap();
    let stderr = dir.path().join("stderr.log");
    let mut run = Running(
        ganymede()
            .args(["run", "--http", "off", "-c"])
            .arg(&p)
            .arg("--data-dir")
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = run.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ganymede did not finish within 120 s:\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        std::fs::read_to_string(&stderr).unwrap_or_default(),
    )
}

fn numbers(events: &[serde_json::Value]) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        if let Some(n) = e["n"].as_u64() {
            *m.entry(n).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn every_event_is_acked_by_go_lumber_once() {
    let mut server = GoServer::start(&[]);
    let (code, err) = ship(
        10_000,
        &format!(
            "      hosts: ['{}']\n      bulk_max_size: 500\n      compression_level: 3",
            server.addr
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    let got = numbers(server.wait_for(10_000));
    assert_eq!(got.len(), 10_000);
    assert!(
        got.values().all(|c| *c == 1),
        "an event arrived twice without a failure"
    );
    let first = &server.events()[0];
    assert_eq!(first["@metadata"]["beat"], "ganymede", "{first}");
    assert!(first["@timestamp"].is_string(), "{first}");
}

#[test]
fn a_dropped_connection_is_retried_and_nothing_is_lost() {
    // The server closes the connection instead of ACKing the window that
    // reaches 3,000 events: those events must be sent again.
    let mut server = GoServer::start(&["--drop-after", "3000"]);
    let (code, err) = ship(
        8_000,
        &format!(
            "      hosts: ['{}']\n      bulk_max_size: 1000\n      compression_level: 0\n      backoff: {{init: 100ms, max: 1s}}",
            server.addr
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    let got = numbers(server.wait_for(8_000));
    assert_eq!(got.len(), 8_000, "every event arrived");
    assert!(
        err.contains("beats connection failed"),
        "the failure was logged: {err}"
    );
}

#[test]
fn tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(golumber::binary())
        .args(["gencerts", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let d = dir.path().display();
    let mut server = GoServer::start(&[
        "--tls-cert",
        &format!("{d}/server.pem"),
        "--tls-key",
        &format!("{d}/server.key"),
        "--tls-client-ca",
        &format!("{d}/ca.pem"),
    ]);
    let port = server.addr.rsplit(':').next().unwrap().to_owned();
    let (code, err) = ship(
        2_000,
        &format!(
            "      hosts: ['localhost:{port}']\n      ssl:\n        certificate_authorities: ['{d}/ca.pem']\n        certificate: '{d}/client.pem'\n        key: '{d}/client.key'"
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(numbers(server.wait_for(2_000)).len(), 2_000);
}

#[test]
fn loadbalance_spreads_windows_over_hosts() {
    let mut a = GoServer::start(&["--ack-delay", "20ms"]);
    let mut b = GoServer::start(&["--ack-delay", "20ms"]);
    let (code, err) = ship(
        6_000,
        &format!(
            "      hosts: ['{}', '{}']\n      loadbalance: true\n      bulk_max_size: 200",
            a.addr, b.addr
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    let (na, nb) = (a.events().len(), b.events().len());
    assert_eq!(na + nb, 6_000);
    assert!(na > 0 && nb > 0, "both hosts got windows: {na} and {nb}");
}
