//! Unit tests of the grok filter, its compiler and its library.

use super::*;
use crate::config::PipelineConfig;
use crate::event::Map;
use std::collections::HashMap;

fn compile(expr: &str, ecs: EcsMode) -> CompiledGrok {
    compile_expression(expr, ecs, &[]).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn capture(expr: &str, ecs: EcsMode, text: &str) -> Map {
    compile(expr, ecs)
        .capture(text)
        .unwrap_or_else(|| panic!("{expr} should match {text:?}"))
}

/// The value at a dotted path of a capture map.
fn at<'a>(m: &'a Map, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = m.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn s(v: &str) -> Value {
    Value::from(v)
}

/// Asserts each (path, value) of `expected` and that nothing else was
/// captured at the top level besides `expected`'s roots.
fn expect(m: &Map, expected: &[(&str, Value)]) {
    for (path, want) in expected {
        assert_eq!(at(m, path), Some(want), "field {path} in {m:?}");
    }
    let roots: Vec<&str> = expected
        .iter()
        .map(|(p, _)| p.split('.').next().unwrap_or_default())
        .collect();
    for k in m.keys() {
        assert!(roots.contains(&k.as_str()), "unexpected field {k} in {m:?}");
    }
}

fn matches(expr: &str, text: &str) -> Option<String> {
    let g = compile(expr, EcsMode::V1);
    g.capture(text)
        .map(|m| m.get("x").map(Value::to_text).unwrap_or_default())
}

fn filter_from_yaml(options: &str) -> Result<Box<dyn Filter>, ConfigErrors> {
    filter_in(options, &BuildContext::for_tests("t"))
}

fn filter_in(options: &str, ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let text = format!(
        "inputs: [stdin: {{}}]\nfilters:\n  - grok:\n{options}\noutputs: [console: {{}}]\n"
    );
    let p = PipelineConfig::from_text(
        std::path::Path::new("p.yml"),
        &text,
        &HashMap::<String, String>::new(),
    )?;
    build(&p.filters[0], ctx)
}

fn filter(options: &str) -> Box<dyn Filter> {
    filter_from_yaml(options).unwrap_or_else(|e| panic!("{e}"))
}

fn build_error(options: &str) -> String {
    match filter_from_yaml(options) {
        Ok(_) => panic!("expected an error for {options}"),
        Err(e) => e.to_string(),
    }
}

fn get<'a>(e: &'a Event, path: &str) -> Option<&'a Value> {
    e.get(&FieldPath::parse(path).unwrap())
}

// ---------------------------------------------------------------- library

#[test]
fn every_library_name_compiles_on_its_own_in_both_sets() {
    for ecs in [EcsMode::Disabled, EcsMode::V1] {
        let names = pattern_names(ecs);
        assert!(names.len() > 100, "{ecs:?}: {}", names.len());
        for name in names {
            let g = compile_expression(&format!("%{{{name}:x}}"), ecs, &[])
                .unwrap_or_else(|e| panic!("{ecs:?} {name}: {e}"));
            assert!(g.fields().count() >= 1);
        }
    }
}

#[test]
fn library_files_have_no_duplicate_or_malformed_lines() {
    for ecs in [EcsMode::Disabled, EcsMode::V1] {
        let total: usize = families(ecs).iter().map(|(_, n)| n.len()).sum();
        assert_eq!(total, pattern_names(ecs).len());
    }
    let texts = [
        include_str!("patterns/common/grok-patterns.txt"),
        include_str!("patterns/legacy/grok-patterns.txt"),
        include_str!("patterns/ecs_v1/grok-patterns.txt"),
    ];
    for t in texts {
        for line in t.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            assert!(
                library::definitions(line).count() == 1,
                "malformed line {line:?}"
            );
            assert_eq!(line, line.trim_end(), "trailing space in {line:?}");
        }
    }
}

#[test]
fn ecs_and_legacy_sets_capture_different_names() {
    let line = "Mar  7 14:03:01 web-01 sshd[4242]: hello";
    let m = capture("%{SYSLOGBASE}", EcsMode::V1, line);
    assert_eq!(at(&m, "process.pid"), Some(&Value::Integer(4242)));
    let m = capture("%{SYSLOGBASE}", EcsMode::Disabled, line);
    assert_eq!(at(&m, "pid"), Some(&s("4242")));
    assert_eq!(at(&m, "logsource"), Some(&s("web-01")));
}

// -------------------------------------------------------- real formats

const APACHE_COMMON: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
const APACHE_COMBINED: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
const NGINX_ACCESS: &str = r#"203.0.113.9 - - [02/Jan/2024:03:04:05 +0000] "POST /api/v1/items?id=3 HTTP/1.1" 201 512 "-" "curl/8.4.0""#;
const NGINX_ERROR: &str = r#"2024/01/02 03:04:05 [error] 1234#5678: *99 open() "/usr/share/nginx/html/x" failed (2: No such file or directory), client: 203.0.113.9, server: example.com, request: "GET /x HTTP/1.1", host: "example.com""#;
const SYSLOG_3164: &str = "Mar  7 14:03:01 web-01 sshd[4242]: Accepted publickey for deploy from 10.1.2.3 port 51234 ssh2";
const SYSLOG_5424: &str = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry"#;
const HAPROXY_HTTP: &str = r#"Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1""#;

#[test]
fn apache_common_ecs() {
    let m = capture("%{COMMONAPACHELOG}", EcsMode::V1, APACHE_COMMON);
    expect(
        &m,
        &[
            ("source.address", s("127.0.0.1")),
            ("user.name", s("frank")),
            ("timestamp", s("10/Oct/2000:13:55:36 -0700")),
            ("http.request.method", s("GET")),
            ("url.original", s("/apache_pb.gif")),
            ("http.version", s("1.0")),
            ("http.response.status_code", Value::Integer(200)),
            ("http.response.body.bytes", Value::Integer(2326)),
        ],
    );
}

#[test]
fn apache_common_legacy() {
    let m = capture("%{COMMONAPACHELOG}", EcsMode::Disabled, APACHE_COMMON);
    expect(
        &m,
        &[
            ("clientip", s("127.0.0.1")),
            ("ident", s("-")),
            ("auth", s("frank")),
            ("timestamp", s("10/Oct/2000:13:55:36 -0700")),
            ("verb", s("GET")),
            ("request", s("/apache_pb.gif")),
            ("httpversion", s("1.0")),
            ("response", s("200")),
            ("bytes", s("2326")),
        ],
    );
}

#[test]
fn apache_combined_both_sets() {
    let m = capture("%{COMBINEDAPACHELOG}", EcsMode::V1, APACHE_COMBINED);
    assert_eq!(
        at(&m, "http.request.referrer"),
        Some(&s("http://www.example.com/start.html"))
    );
    assert_eq!(
        at(&m, "user_agent.original"),
        Some(&s("Mozilla/4.08 [en] (Win98; I ;Nav)"))
    );
    assert_eq!(
        at(&m, "http.response.status_code"),
        Some(&Value::Integer(200))
    );
    let m = capture("%{HTTPD_COMBINEDLOG}", EcsMode::Disabled, APACHE_COMBINED);
    assert_eq!(
        at(&m, "referrer"),
        Some(&s("\"http://www.example.com/start.html\""))
    );
    assert_eq!(
        at(&m, "agent"),
        Some(&s("\"Mozilla/4.08 [en] (Win98; I ;Nav)\""))
    );
    assert_eq!(at(&m, "clientip"), Some(&s("127.0.0.1")));
}

#[test]
fn nginx_access_is_the_combined_format() {
    let m = capture("%{HTTPD_COMBINEDLOG}", EcsMode::V1, NGINX_ACCESS);
    expect(
        &m,
        &[
            ("source.address", s("203.0.113.9")),
            ("timestamp", s("02/Jan/2024:03:04:05 +0000")),
            ("http.request.method", s("POST")),
            ("url.original", s("/api/v1/items?id=3")),
            ("http.version", s("1.1")),
            ("http.response.status_code", Value::Integer(201)),
            ("http.response.body.bytes", Value::Integer(512)),
            ("user_agent.original", s("curl/8.4.0")),
        ],
    );
    let m = capture("%{COMBINEDAPACHELOG}", EcsMode::Disabled, NGINX_ACCESS);
    assert_eq!(at(&m, "auth"), Some(&s("-")));
    assert_eq!(at(&m, "referrer"), Some(&s("\"-\"")));
    assert_eq!(at(&m, "response"), Some(&s("201")));
}

#[test]
fn nginx_error_with_library_pieces() {
    let ecs = r"(?<timestamp>%{YEAR}/%{MONTHNUM2}/%{MONTHDAY} %{TIME}) \[%{LOGLEVEL:[log][level]}\] %{POSINT:[process][pid]:int}#%{NONNEGINT:[process][thread][id]:int}: (?:\*%{NONNEGINT:[nginx][error][connection_id]:int} )?%{DATA:message}(?:, client: %{IPORHOST:[source][address]})?(?:, server: %{IPORHOST:[nginx][error][server]})?(?:, request: %{QS:[nginx][error][request]})?(?:, host: %{QS:[nginx][error][host]})?$";
    let m = capture(ecs, EcsMode::V1, NGINX_ERROR);
    expect(
        &m,
        &[
            ("timestamp", s("2024/01/02 03:04:05")),
            ("log.level", s("error")),
            ("process.pid", Value::Integer(1234)),
            ("process.thread.id", Value::Integer(5678)),
            ("nginx.error.connection_id", Value::Integer(99)),
            (
                "message",
                s(r#"open() "/usr/share/nginx/html/x" failed (2: No such file or directory)"#),
            ),
            ("source.address", s("203.0.113.9")),
            ("nginx.error.server", s("example.com")),
            ("nginx.error.request", s(r#""GET /x HTTP/1.1""#)),
            ("nginx.error.host", s(r#""example.com""#)),
        ],
    );
    let legacy = r"(?<timestamp>%{YEAR}/%{MONTHNUM2}/%{MONTHDAY} %{TIME}) \[%{LOGLEVEL:severity}\] %{POSINT:pid}#%{NONNEGINT:tid}: %{GREEDYDATA:errormessage}";
    let m = capture(legacy, EcsMode::Disabled, NGINX_ERROR);
    assert_eq!(at(&m, "severity"), Some(&s("error")));
    assert_eq!(at(&m, "tid"), Some(&s("5678")));
}

#[test]
fn syslog_rfc3164_both_sets() {
    let m = capture("%{SYSLOGLINE}", EcsMode::V1, SYSLOG_3164);
    expect(
        &m,
        &[
            ("timestamp", s("Mar  7 14:03:01")),
            ("host.hostname", s("web-01")),
            ("process.name", s("sshd")),
            ("process.pid", Value::Integer(4242)),
            (
                "message",
                s("Accepted publickey for deploy from 10.1.2.3 port 51234 ssh2"),
            ),
        ],
    );
    let m = capture("%{SYSLOGLINE}", EcsMode::Disabled, SYSLOG_3164);
    expect(
        &m,
        &[
            ("timestamp", s("Mar  7 14:03:01")),
            ("logsource", s("web-01")),
            ("program", s("sshd")),
            ("pid", s("4242")),
            (
                "message",
                s("Accepted publickey for deploy from 10.1.2.3 port 51234 ssh2"),
            ),
        ],
    );
    let m = capture(
        "%{SYSLOGLINE}",
        EcsMode::V1,
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
    );
    assert_eq!(at(&m, "process.name"), Some(&s("su")));
}

#[test]
fn syslog_rfc5424_both_sets() {
    let m = capture("%{SYSLOG5424LINE}", EcsMode::V1, SYSLOG_5424);
    expect(
        &m,
        &[
            ("log.syslog.facility.code", Value::Integer(165)),
            ("system.syslog.version", s("1")),
            (
                "system.syslog.structured_data",
                s(r#"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]"#),
            ),
            ("timestamp", s("2003-10-11T22:14:15.003Z")),
            ("host.hostname", s("mymachine.example.com")),
            ("process.name", s("evntslog")),
            ("event.code", s("ID47")),
            ("message", s("An application event log entry")),
        ],
    );
    let m = capture("%{SYSLOG5424LINE}", EcsMode::Disabled, SYSLOG_5424);
    expect(
        &m,
        &[
            ("syslog5424_pri", s("165")),
            ("syslog5424_ver", s("1")),
            ("syslog5424_ts", s("2003-10-11T22:14:15.003Z")),
            ("syslog5424_host", s("mymachine.example.com")),
            ("syslog5424_app", s("evntslog")),
            ("syslog5424_msgid", s("ID47")),
            (
                "syslog5424_sd",
                s(r#"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]"#),
            ),
            ("syslog5424_msg", s("An application event log entry")),
        ],
    );
}

#[test]
fn java_lines() {
    let frame = "\tat com.example.OrderService.place(OrderService.java:42)";
    let m = capture("%{JAVASTACKTRACEPART}", EcsMode::V1, frame);
    expect(
        &m,
        &[
            ("java.log.origin.class.name", s("com.example.OrderService")),
            ("log.origin.function", s("place")),
            ("log.origin.file.name", s("OrderService.java")),
            ("log.origin.file.line", Value::Integer(42)),
        ],
    );
    let m = capture(
        "%{JAVASTACKTRACEPART}",
        EcsMode::Disabled,
        "  at sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
    );
    expect(
        &m,
        &[
            ("class", s("sun.reflect.NativeMethodAccessorImpl")),
            ("method", s("invoke0")),
            ("file", s("Native Method")),
        ],
    );
    let m = capture(
        "%{CATALINALOG}",
        EcsMode::V1,
        "31-Jul-2020 16:40:38.578 INFO [main] org.apache.catalina.startup.Catalina.start Server startup in [1234] milliseconds",
    );
    expect(
        &m,
        &[
            ("timestamp", s("31-Jul-2020 16:40:38.578")),
            ("log.level", s("INFO")),
            ("java.log.origin.thread.name", s("main")),
            (
                "java.log.origin.class.name",
                s("org.apache.catalina.startup.Catalina"),
            ),
            ("log.origin.function", s("start")),
            ("message", s("Server startup in [1234] milliseconds")),
        ],
    );
    let m = capture(
        "%{TOMCATLOG}",
        EcsMode::Disabled,
        "2014-01-09 20:03:28,269 -0800 | ERROR | com.example.service.ExampleService - something went wrong",
    );
    expect(
        &m,
        &[
            ("timestamp", s("2014-01-09 20:03:28,269 -0800")),
            ("level", s("ERROR")),
            ("class", s("com.example.service.ExampleService")),
            ("logmessage", s("something went wrong")),
        ],
    );
    let app =
        "2024-05-06 07:08:09,123 ERROR [http-nio-8080-exec-3] com.example.App - payment failed";
    let expr = r"%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} \[%{DATA:thread}\] %{JAVACLASS:class} - %{GREEDYDATA:msg}";
    let m = capture(expr, EcsMode::V1, app);
    assert_eq!(at(&m, "thread"), Some(&s("http-nio-8080-exec-3")));
    assert_eq!(at(&m, "class"), Some(&s("com.example.App")));
}

#[test]
fn haproxy_http_ecs() {
    let m = capture("%{HAPROXYHTTP}", EcsMode::V1, HAPROXY_HTTP);
    expect(
        &m,
        &[
            ("timestamp", s("Feb  6 12:14:14")),
            ("host.hostname", s("localhost")),
            ("process.name", s("haproxy")),
            ("process.pid", Value::Integer(14389)),
            ("source.address", s("10.0.1.2")),
            ("source.port", Value::Integer(33317)),
            ("source.bytes", Value::Integer(2750)),
            ("haproxy.request_date", s("06/Feb/2009:12:14:14.655")),
            ("haproxy.frontend_name", s("http-in")),
            ("haproxy.backend_name", s("static")),
            ("haproxy.server_name", s("srv1")),
            ("haproxy.http.request.time_wait_ms", Value::Integer(10)),
            ("haproxy.total_waiting_time_ms", Value::Integer(0)),
            ("haproxy.connection_wait_time_ms", Value::Integer(30)),
            (
                "haproxy.http.request.time_wait_without_data_ms",
                Value::Integer(69),
            ),
            ("haproxy.total_time_ms", s("109")),
            ("http.response.status_code", Value::Integer(200)),
            ("haproxy.termination_state", s("----")),
            ("haproxy.connections.active", Value::Integer(1)),
            ("haproxy.connections.retries", Value::Integer(0)),
            ("haproxy.server_queue", Value::Integer(0)),
            ("haproxy.backend_queue", Value::Integer(0)),
            ("haproxy.http.request.captured_headers", s("1wt.eu")),
            ("http.request.method", s("GET")),
            ("url.original", s("/index.html")),
            ("url.path", s("/index.html")),
            ("http.version", s("1.1")),
        ],
    );
}

#[test]
fn haproxy_http_legacy() {
    let m = capture("%{HAPROXYHTTP}", EcsMode::Disabled, HAPROXY_HTTP);
    for (k, v) in [
        ("syslog_timestamp", "Feb  6 12:14:14"),
        ("syslog_server", "localhost"),
        ("program", "haproxy"),
        ("pid", "14389"),
        ("client_ip", "10.0.1.2"),
        ("client_port", "33317"),
        ("accept_date", "06/Feb/2009:12:14:14.655"),
        ("haproxy_monthday", "06"),
        ("haproxy_month", "Feb"),
        ("haproxy_year", "2009"),
        ("haproxy_time", "12:14:14"),
        ("haproxy_milliseconds", "655"),
        ("frontend_name", "http-in"),
        ("backend_name", "static"),
        ("server_name", "srv1"),
        ("time_request", "10"),
        ("time_queue", "0"),
        ("time_backend_connect", "30"),
        ("time_backend_response", "69"),
        ("time_duration", "109"),
        ("http_status_code", "200"),
        ("bytes_read", "2750"),
        ("captured_request_cookie", "-"),
        ("captured_response_cookie", "-"),
        ("termination_state", "----"),
        ("actconn", "1"),
        ("retries", "0"),
        ("srv_queue", "0"),
        ("backend_queue", "0"),
        ("captured_request_headers", "1wt.eu"),
        ("http_verb", "GET"),
        ("http_request", "/index.html"),
        ("http_version", "1.1"),
    ] {
        assert_eq!(at(&m, k), Some(&s(v)), "{k} in {m:?}");
    }
}

#[test]
fn jupiter_backend_line_overwrites_message() {
    let f = filter(
        "      match:\n        message: '%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:message}'\n      overwrite: [message]",
    );
    let mut e = Event::from_message("2026-03-01T12:00:00.123Z INFO user 42 logged in");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "message"), Some(&s("user 42 logged in")));
    assert_eq!(get(&e, "level"), Some(&s("INFO")));
    assert_eq!(get(&e, "timestamp"), Some(&s("2026-03-01T12:00:00.123Z")));
    assert!(!e.has_tag("_grokparsefailure"));

    // Without overwrite, the capture joins the existing text in an array.
    let f = filter(
        "      match:\n        message: '%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:message}'",
    );
    let mut e = Event::from_message("2026-03-01T12:00:00Z WARN disk low");
    f.process(&mut e);
    assert_eq!(
        get(&e, "message"),
        Some(&Value::Array(vec![
            s("2026-03-01T12:00:00Z WARN disk low"),
            s("disk low")
        ]))
    );

    let mut e = Event::from_message("not a backend line");
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("_grokparsefailure"));
}

// ---------------------------------------------------- linear rewrites

#[test]
fn ipv4_edges() {
    let ip = "%{IPV4:x}";
    assert_eq!(
        matches(ip, "client 10.0.0.1 ok").as_deref(),
        Some("10.0.0.1")
    );
    assert_eq!(matches(ip, "10.0.0.1:8080").as_deref(), Some("10.0.0.1"));
    assert_eq!(
        matches(ip, "ip=192.168.001.010,").as_deref(),
        Some("192.168.001.010")
    );
    assert_eq!(
        matches(ip, "255.255.255.255").as_deref(),
        Some("255.255.255.255")
    );
    // Not inside a longer run of digits, on either side.
    assert_eq!(matches(ip, "1234.1.1.1"), None);
    assert_eq!(matches(ip, "1.1.1.256"), None);
    assert_eq!(matches(ip, "1.1.1.1234"), None);
    assert_eq!(matches(ip, "v 1.2.3"), None);
    // The one documented difference: a letter glued to it.
    assert_eq!(matches(ip, "ab1.2.3.4"), None);
    // Within an expression, as the library uses it.
    assert_eq!(
        matches("%{IP:x}:%{INT}", "[10.1.2.3:443]").as_deref(),
        Some("10.1.2.3")
    );
    assert_eq!(
        matches("%{IPORHOST:x} ", "1.2.3.4abc ").as_deref(),
        Some("1.2.3.4abc")
    );
}

#[test]
fn ipv6_forms() {
    for a in [
        "2001:db8::1",
        "::1",
        "::",
        "fe80::1ff:fe23:4567:890a",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::ffff:192.0.2.128",
        "fe80::1%eth0",
    ] {
        assert_eq!(matches("^%{IPV6:x}$", a).as_deref(), Some(a), "{a}");
    }
    assert_eq!(matches("^%{IPV6:x}$", "12:34:56"), None);
}

#[test]
fn number_edges() {
    let n = "%{NUMBER:x}";
    assert_eq!(matches(n, "took -12.5ms").as_deref(), Some("-12.5"));
    assert_eq!(matches(n, "ratio .5").as_deref(), Some(".5"));
    assert_eq!(matches(n, "v1.2.3").as_deref(), Some("1.2"));
    assert_eq!(matches(n, "+7").as_deref(), Some("+7"));
    assert_eq!(matches(n, "no digits"), None);
    assert_eq!(matches("%{NUMBER:x}ms", "12ms").as_deref(), Some("12"));
    // A typed capture.
    let m = capture("%{NUMBER:x:float} %{NUMBER:y:int}", EcsMode::V1, "1.5 7");
    assert_eq!(m.get("x"), Some(&Value::Float(1.5)));
    assert_eq!(m.get("y"), Some(&Value::Integer(7)));
    // The documented difference: Logstash refuses to shorten an atomic number.
    assert_eq!(matches("%{NUMBER:x}5", "125").as_deref(), Some("12"));
}

#[test]
fn base16_edges() {
    assert_eq!(matches("%{BASE16NUM:x}", "x 0x1F").as_deref(), Some("0x1F"));
    // As in Logstash, a hex letter after a non-hex letter starts a number.
    assert_eq!(matches("%{BASE16NUM:x}", "id 0x1F").as_deref(), Some("d"));
    assert_eq!(matches("%{BASE16NUM:x}", "-ff").as_deref(), Some("-ff"));
    assert_eq!(
        matches("%{BASE16FLOAT:x}", "v 1a.8 ").as_deref(),
        Some("1a.8")
    );
    assert_eq!(matches("%{BASE16FLOAT:x}", "x.ff").as_deref(), Some(".ff"));
    assert_eq!(matches("%{BASE16FLOAT:x}", "zz"), None);
}

#[test]
fn quoted_string_edges() {
    let q = "%{QUOTEDSTRING:x}";
    assert_eq!(matches(q, r#"say "hi" now"#).as_deref(), Some(r#""hi""#));
    assert_eq!(matches(q, r#"a "" b"#).as_deref(), Some(r#""""#));
    assert_eq!(
        matches(q, r#"x "es\"caped" y"#).as_deref(),
        Some(r#""es\"caped""#)
    );
    assert_eq!(matches(q, "it's 'single'").as_deref(), Some("'s '"));
    assert_eq!(matches(q, "run `ls -l`").as_deref(), Some("`ls -l`"));
    assert_eq!(matches(q, r#""unterminated"#), None);
    assert_eq!(matches(q, r#""ends in backslash\""#), None);
    assert_eq!(
        matches(q, "\"two\nlines\"").as_deref(),
        Some("\"two\nlines\"")
    );
}

#[test]
fn winpath_year_time_edges() {
    assert_eq!(
        matches("%{WINPATH:x}", r"open C:\Windows\System32\x.dll").as_deref(),
        Some(r"C:\Windows\System32\x.dll")
    );
    assert_eq!(
        matches("%{WINPATH:x}", r"\\server\share\f").as_deref(),
        Some(r"\\server\share\f")
    );
    assert_eq!(matches("^%{YEAR:x}$", "2024").as_deref(), Some("2024"));
    assert_eq!(matches("^%{YEAR:x}$", "24").as_deref(), Some("24"));
    assert_eq!(matches("^%{YEAR:x}$", "202"), None);
    assert_eq!(matches("%{YEAR:x}", "20245").as_deref(), Some("2024"));
    assert_eq!(
        matches("%{TIME:x}", "at 12:34:56 ok").as_deref(),
        Some("12:34:56")
    );
    assert_eq!(
        matches("%{TIME:x}", "at 23:59:60.123456,").as_deref(),
        Some("23:59:60.123456")
    );
    assert_eq!(
        matches("%{TIME:x}", "112:34:56").as_deref(),
        Some("12:34:56")
    );
    assert_eq!(matches("%{TIME:x}", "12:34:567"), None);
    assert_eq!(matches("%{TIME:x}", "12:34"), None);
    assert_eq!(
        matches("%{HAPROXYTIME:x}", "at 12:14:14.655").as_deref(),
        Some("12:14:14.655")
    );
}

#[test]
fn pam_session_message_spans_the_rest() {
    let line = "Jan  1 10:00:00 host sshd[12]: pam_unix(sshd:session): session opened for user root by (uid=0)";
    let m = capture("%{SYSLOGPAMSESSION}", EcsMode::V1, line);
    assert_eq!(
        at(&m, "message"),
        Some(&s(
            "pam_unix(sshd:session): session opened for user root by (uid=0)"
        ))
    );
    assert_eq!(at(&m, "system.auth.pam.module"), Some(&s("pam_unix")));
    assert_eq!(at(&m, "system.auth.pam.origin"), Some(&s("sshd:session")));
    assert_eq!(at(&m, "system.auth.pam.session_state"), Some(&s("opened")));
    assert_eq!(at(&m, "user.name"), Some(&s("root")));
    let m = capture("%{SYSLOGPAMSESSION}", EcsMode::Disabled, line);
    assert_eq!(at(&m, "pam_by"), Some(&s("(uid=0)")));
    assert_eq!(at(&m, "username"), Some(&s("root")));
}

#[test]
fn mongo_query_and_iptables_frag_edges() {
    let q = "%{MONGO_QUERY:x}";
    assert_eq!(
        matches(q, "query: { a: { $gt: 1 } } ntoreturn:0").as_deref(),
        Some("{ a: { $gt: 1 } }")
    );
    // The documented difference: no ` ntoreturn:` needed after it.
    assert_eq!(matches(q, "{ a: 1 } done").as_deref(), Some("{ a: 1 }"));
    let part = "%{IPTABLES4_PART}";
    let base = "SRC=10.0.0.1 DST=10.0.0.2 LEN=52 TOS=0x00 PREC=0x00 TTL=64 ID=7 ";
    let m = capture(part, EcsMode::V1, &format!("{base}DF PROTO=TCP"));
    assert_eq!(at(&m, "iptables.fragment_flags"), Some(&s("DF")));
    let m = capture(part, EcsMode::V1, &format!("{base}MF FRAG: 185 PROTO=UDP"));
    assert_eq!(at(&m, "iptables.fragment_flags"), Some(&s("MF")));
    assert_eq!(
        at(&m, "iptables.fragment_offset"),
        Some(&Value::Integer(185))
    );
    let m = capture(part, EcsMode::V1, &format!("{base}PROTO=TCP"));
    assert_eq!(at(&m, "iptables.fragment_flags"), None);
    assert_eq!(
        matches("%{IPTABLES4_FRAG:x}x", "CEx").as_deref(),
        Some("CE")
    );
}

// ------------------------------------------------------------- engine

#[test]
fn pathological_inputs_complete() {
    let text = "a".repeat(100 * 1024);
    let g = compile_expression("(a+)+b", EcsMode::V1, &[]).unwrap();
    assert!(g.capture(&text).is_none());
    let g = compile_expression("%{GREEDYDATA}%{GREEDYDATA}x", EcsMode::V1, &[]).unwrap();
    assert!(g.capture(&text).is_none());
    let g = compile_expression("(?:a|aa)*(?:a|aa)*c", EcsMode::V1, &[]).unwrap();
    assert!(g.capture(&text).is_none());
    let g = compile_expression("%{DATA:x}%{DATA:y}z$", EcsMode::V1, &[]).unwrap();
    assert!(g.capture(&text).is_none());
}

#[test]
fn optimistic_run_gives_way_to_the_visited_set_on_pathological_inputs() {
    use super::engine::Engine;
    let line = &apache_lines::lines(1)[0];
    let g = compile("%{COMBINEDAPACHELOG}", EcsMode::V1);
    let mut slots = vec![UNSET_SLOT; g.slot_count()];
    assert!(g.engine_search_at(line, 0, &mut slots));
    assert!(!Engine::last_run_gave_way(), "{line}");
    for (expr, text) in [
        ("(a+)+b", "a".repeat(8_000)),
        ("(?<x>(?:a|aa)*)(?:a|aa)*c", "a".repeat(8_000)),
        ("%{DATA:x}%{DATA:y}z$", "a".repeat(8_000)),
        // Gives way, then matches with the second branch.
        ("(?<x>(?:a|aa)*)(?:a|aa)*c|(?<y>a+)", "a".repeat(8_000)),
    ] {
        let g = compile_expression(expr, EcsMode::V1, &[]).unwrap();
        let mut slots = vec![UNSET_SLOT; g.slot_count()];
        let found = g.engine_search_at(&text, 0, &mut slots);
        assert!(Engine::last_run_gave_way(), "{expr}");
        let mut expected = vec![UNSET_SLOT; g.slot_count()];
        assert_eq!(found, g.search_with_regex(&text, &mut expected), "{expr}");
        if found {
            assert_eq!(slots, expected, "{expr}");
        }
    }
}

#[test]
fn capture_engine_work_grows_linearly() {
    // The capture engine's own work (states expanded, bytes stepped over)
    // on inputs that make backtracking engines explode: doubling the input
    // must about double the work.
    let cases: &[(&str, &str)] = &[
        ("(a+)+b", "a"),
        ("%{GREEDYDATA}%{GREEDYDATA}x", "a"),
        ("(?:a|aa)*(?:a|aa)*c", "a"),
        ("%{DATA:x}%{DATA:y}z$", "a"),
        ("%{DATA}%{DATA}%{DATA}x", "ab "),
        ("(?<a>(?:.*?,)*)x", "a,"),
        (r"(?<a>(?:\S+\s?)*)$x", "ab "),
        ("%{QS:q}%{QS:r}x", "\"a\\\" "),
        ("(?<a>(?:[^\"]*\"?)*?)y", "b\""),
        (
            "%{COMBINEDAPACHELOG}",
            "1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"",
        ),
    ];
    for (expr, unit) in cases {
        let g = compile_expression(expr, EcsMode::V1, &[]).unwrap();
        let mut slots = vec![UNSET_SLOT; g.slot_count()];
        let mut work = Vec::new();
        for n in [4_000usize, 8_000] {
            let text = unit.repeat(n / unit.len());
            g.engine_search_at(&text, 0, &mut slots);
            work.push(super::engine::Engine::last_work());
        }
        assert!(
            work[1] <= work[0] * 5 / 2 + 1000,
            "{expr}: work {work:?} for inputs of 4,000 and 8,000 bytes"
        );
    }
}

#[test]
fn ruby_dialect_is_translated() {
    // `(?m)` is Ruby's dot-all.
    assert_eq!(matches("(?m)a(?<x>.*)z", "a1\n2z").as_deref(), Some("1\n2"));
    // `^` and `$` match at line starts and ends.
    assert_eq!(matches("^(?<x>b+)$", "aaa\nbb\nc").as_deref(), Some("bb"));
    // \d, \w are ASCII, \h is hex, \Z before a final newline.
    assert_eq!(matches(r"(?<x>\d+)", "٣4").as_deref(), Some("4"));
    assert_eq!(matches(r"(?<x>\h+)", "zzBEEFzz").as_deref(), Some("BEEF"));
    assert_eq!(matches(r"(?<x>b)\Z", "ab\n").as_deref(), Some("b"));
    // Literal braces and `{,n}`.
    assert_eq!(
        matches(r"(?<x>{\w+})", "x {abc} y").as_deref(),
        Some("{abc}")
    );
    assert_eq!(matches(r"(?<x>a{,2})b", "aaab").as_deref(), Some("aa"));
    assert_eq!(matches(r"(?<x>[\w.]+)@", "a.b@c").as_deref(), Some("a.b"));
    assert_eq!(matches(r"(?<x>[^\s]+)", "  ab ").as_deref(), Some("ab"));
    assert_eq!(
        matches(r"(?<x>[[:alpha:]]+)", "12ab3").as_deref(),
        Some("ab")
    );
    assert_eq!(matches(r"(?<x>\<b\>)", "a<b>c").as_deref(), Some("<b>"));
    assert_eq!(matches(r"(?#comment)(?<x>q)", "xqx").as_deref(), Some("q"));
    assert_eq!(matches(r"(?<x>\x41\p{Lu})", "zzAB").as_deref(), Some("AB"));
    assert_eq!(matches(r"(?<x>a+?)", "aaa").as_deref(), Some("a"));
}

#[test]
fn nested_and_dotted_fields_and_types() {
    let m = capture(
        "%{WORD:[a][b]} %{INT:c.d:int} %{NUMBER:[@metadata][n]:float}",
        EcsMode::V1,
        "x 5 2.5",
    );
    assert_eq!(at(&m, "a.b"), Some(&s("x")));
    assert_eq!(at(&m, "c.d"), Some(&Value::Integer(5)));
    assert_eq!(at(&m, "@metadata.n"), Some(&Value::Float(2.5)));
    let m = capture("(?<[q][r]>\\w+)", EcsMode::V1, "hi");
    assert_eq!(at(&m, "q.r"), Some(&s("hi")));
}

#[test]
fn conversions_follow_ruby() {
    use compile::convert;
    assert_eq!(convert("12ms", Conversion::Int), Value::Integer(12));
    assert_eq!(convert("-3", Conversion::Int), Value::Integer(-3));
    assert_eq!(convert("abc", Conversion::Int), Value::Integer(0));
    assert_eq!(convert("+", Conversion::Int), Value::Integer(0));
    assert_eq!(convert("  +07 ", Conversion::Int), Value::Integer(7));
    assert_eq!(convert("-0", Conversion::Int), Value::Integer(0));
    // The limits of a long, and one past each: a float, as in Logstash.
    let max = i64::MAX.to_string();
    let min = i64::MIN.to_string();
    assert_eq!(convert(&max, Conversion::Int), Value::Integer(i64::MAX));
    assert_eq!(convert(&min, Conversion::Int), Value::Integer(i64::MIN));
    assert_eq!(
        convert("9223372036854775808", Conversion::Int),
        Value::Float(9.223372036854776e18)
    );
    assert_eq!(
        convert("-9223372036854775809", Conversion::Int),
        Value::Float(-9.223372036854776e18)
    );
    assert_eq!(
        convert("123456789012345678901234567890", Conversion::Int),
        Value::Float(1.2345678901234568e29)
    );
    assert_eq!(convert("1.5e3x", Conversion::Float), Value::Float(1500.0));
    assert_eq!(convert(".5", Conversion::Float), Value::Float(0.5));
    assert_eq!(convert("-", Conversion::Float), Value::Float(0.0));
}

#[test]
fn duplicate_field_names_make_an_array_or_take_the_matching_branch() {
    let m = capture("%{INT:n} %{INT:n}", EcsMode::V1, "1 2");
    assert_eq!(m.get("n"), Some(&Value::Array(vec![s("1"), s("2")])));
    let m = capture("(?:a%{INT:n}|b%{INT:n})", EcsMode::V1, "b7");
    assert_eq!(m.get("n"), Some(&s("7")));
}

#[test]
fn extra_definitions_override_and_extend() {
    let extra = vec![
        ("MYNUM".to_owned(), r"\d+".to_owned()),
        ("WORD".to_owned(), "w+".to_owned()),
    ];
    let g = compile_expression("%{MYNUM:n:int} %{WORD:w}", EcsMode::V1, &extra).unwrap();
    let m = g.capture("12 www").unwrap();
    assert_eq!(m.get("n"), Some(&Value::Integer(12)));
    assert_eq!(m.get("w"), Some(&s("www")));
}

// ------------------------------------------------------------- errors

#[test]
fn unknown_pattern_is_named_with_its_position() {
    let e = compile_expression("%{WORD} %{NOPE:x}", EcsMode::V1, &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown grok pattern `NOPE` at column 9 of the expression"
    );
    let extra = vec![("OUTER".to_owned(), "a %{INNR}".to_owned())];
    let e = compile_expression("%{OUTER}", EcsMode::V1, &extra).unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown grok pattern `INNR` at column 3 of pattern `OUTER`"),
        "{e}"
    );
    let e = compile_expression("%{IPV5}", EcsMode::V1, &[]).unwrap_err();
    assert!(e.to_string().contains("did you mean `IPV4`"), "{e}");
}

#[test]
fn recursion_is_detected() {
    let extra = vec![
        ("A".to_owned(), "x%{B}".to_owned()),
        ("B".to_owned(), "y%{A}".to_owned()),
    ];
    let e = compile_expression("%{A}", EcsMode::V1, &extra).unwrap_err();
    assert_eq!(
        e.to_string(),
        "grok pattern `A` refers to itself: A -> B -> A"
    );
}

#[test]
fn bad_regex_names_pattern_and_column() {
    let extra = vec![("BROKEN".to_owned(), "ab(c".to_owned())];
    let e = compile_expression("%{WORD} %{BROKEN}", EcsMode::V1, &extra).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("pattern `BROKEN`"), "{msg}");
    assert!(msg.contains("column 3"), "{msg}");
    assert!(msg.contains("unclosed group"), "{msg}");
    let e = compile_expression("%{WORD} x[a-", EcsMode::V1, &[]).unwrap_err();
    assert!(e.to_string().contains("column 10 of the expression"), "{e}");
    let e = compile_expression("%{WORD:x:bool}", EcsMode::V1, &[]).unwrap_err();
    assert!(e.to_string().contains("unknown capture type `bool`"), "{e}");
}

#[test]
fn backtracking_constructs_are_refused_with_position() {
    for (expr, construct, col) in [
        ("foo(?=bar)", "lookahead", 4),
        ("(?<!x)y", "negative lookbehind", 1),
        ("a(?<=b)", "lookbehind", 2),
        ("(?>ab)", "atomic group", 1),
        (r"(\w)\1", "backreference", 5),
        ("a++", "possessive", 3),
        (r"(?<n>a)\k<n>", "named backreference", 8),
    ] {
        let e = compile_expression(expr, EcsMode::V1, &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(construct), "{expr}: {msg}");
        assert!(msg.contains(&format!("column {col} ")), "{expr}: {msg}");
        assert!(msg.contains("backtracking"), "{expr}: {msg}");
    }
    let extra = vec![("LA".to_owned(), "x(?!y)".to_owned())];
    let e = compile_expression("%{LA}", EcsMode::V1, &extra).unwrap_err();
    assert!(e.to_string().contains("column 2 of pattern `LA`"), "{e}");
}

#[test]
fn config_errors_point_at_the_pattern() {
    let e = build_error("      match:\n        message: ['%{WORD}', '%{NOPE}']");
    assert!(e.starts_with("5:30: "), "{e}");
    assert!(e.contains("match.message[1]"), "{e}");
    assert!(e.contains("unknown grok pattern `NOPE`"), "{e}");
    let e = build_error("      match: {message: 'x'}\n      overwrites: [a]");
    assert!(e.contains("unknown key `overwrites`"), "{e}");
    let e = build_error("      match: {message: '(?=x)'}");
    assert!(e.contains("backtracking"), "{e}");
    let e = build_error("      match: {message: 'x'}\n      ecs_compatibility: v2");
    assert!(e.contains("v2"), "{e}");
}

// ------------------------------------------------------------- filter

#[test]
fn options_behave_as_in_logstash() {
    // Several patterns: the first that matches wins.
    let f = filter("      match:\n        message: ['^%{INT:n:int}$', '%{WORD:w}']");
    let mut e = Event::from_message("abc");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "w"), Some(&s("abc")));
    assert_eq!(get(&e, "n"), None);

    // break_on_match: false tries all.
    let f = filter(
        "      match:\n        message: ['%{INT:n:int}', '%{WORD:w}']\n      break_on_match: false",
    );
    let mut e = Event::from_message("42");
    f.process(&mut e);
    assert_eq!(get(&e, "n"), Some(&Value::Integer(42)));
    assert_eq!(get(&e, "w"), Some(&s("42")));

    // Empty captures are dropped unless kept; kept unmatched ones are null.
    let f = filter("      match: {message: 'a(?<e>x?)b(?:(?<u>z))?'}");
    let mut e = Event::from_message("ab");
    f.process(&mut e);
    assert_eq!(get(&e, "e"), None);
    let f =
        filter("      match: {message: 'a(?<e>x?)b(?:(?<u>z))?'}\n      keep_empty_captures: true");
    let mut e = Event::from_message("ab");
    f.process(&mut e);
    assert_eq!(get(&e, "e"), Some(&s("")));
    assert_eq!(get(&e, "u"), Some(&Value::Null));

    // named_captures_only: false stores bare %{NAME} too.
    let f = filter("      match: {message: '%{INT} %{WORD:w}'}\n      named_captures_only: false");
    let mut e = Event::from_message("7 x");
    f.process(&mut e);
    assert_eq!(get(&e, "[INT]"), Some(&s("7")));

    // Custom failure tags, several fields, legacy set, inline definitions.
    let f = filter(
        "      match:\n        a: '%{MYNUM:n}'\n        b: '%{COMMONAPACHELOG}'\n      tag_on_failure: [nope, again]\n      ecs_compatibility: disabled\n      pattern_definitions: {MYNUM: '\\d+'}",
    );
    let mut e = Event::from_message("x");
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("nope") && e.has_tag("again"));
    let mut e = Event::new();
    e.set(&FieldPath::key("b"), APACHE_COMMON);
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "clientip"), Some(&s("127.0.0.1")));

    // Arrays are matched element by element; numbers as text.
    let f = filter("      match: {v: '%{INT:i:int}'}");
    let mut e = Event::new();
    e.set(&FieldPath::key("v"), vec![s("1"), s("2")]);
    f.process(&mut e);
    assert_eq!(
        get(&e, "i"),
        Some(&Value::Integer(1)),
        "a typed capture does not merge into a non-string"
    );
    let mut e = Event::new();
    e.set(&FieldPath::key("v"), 55i64);
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "i"), Some(&Value::Integer(55)));
}

#[test]
fn patterns_dir_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("extra"),
        "# my patterns\n\nQUEUEID [0-9A-F]{10,11}\nPOSTFIX %{SYSLOGBASE} %{QUEUEID:queue_id}: %{GREEDYDATA:rest}\r\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("skip.bak"), "QUEUEID nope\n").unwrap();
    let f = filter(&format!(
        "      match: {{message: '%{{POSTFIX}}'}}\n      patterns_dir: '{}'\n      patterns_files_glob: 'extra'\n      ecs_compatibility: disabled",
        dir.path().display()
    ));
    let mut e = Event::from_message("Oct  1 12:00:00 mx postfix/smtpd[99]: 4A3B2C1D0E: client=x");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "queue_id"), Some(&s("4A3B2C1D0E")));
    assert_eq!(get(&e, "program"), Some(&s("postfix/smtpd")));
    let e = build_error("      match: {message: 'x'}\n      patterns_dir: [/no/such/dir]");
    assert!(e.contains("cannot read patterns folder"), "{e}");
}

#[test]
fn filter_is_shared_across_threads() {
    let f: std::sync::Arc<dyn Filter> =
        std::sync::Arc::from(filter("      match: {message: '%{COMBINEDAPACHELOG}'}"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let mut e = Event::from_message(APACHE_COMBINED);
                    assert_eq!(f.process(&mut e), Verdict::Applied);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn every_family_is_present_in_both_sets() {
    let legacy = families(EcsMode::Disabled);
    let ecs = families(EcsMode::V1);
    for fam in [
        "grok-patterns",
        "httpd",
        "linux-syslog",
        "java",
        "haproxy",
        "aws",
        "bacula",
        "bind",
        "bro",
        "exim",
        "firewalls",
        "junos",
        "maven",
        "mcollective",
        "mongodb",
        "nagios",
        "postgresql",
        "rails",
        "redis",
        "ruby",
        "squid",
    ] {
        assert!(legacy.iter().any(|(n, _)| *n == fam), "legacy {fam}");
        assert!(ecs.iter().any(|(n, _)| *n == fam), "ecs {fam}");
    }
    assert!(ecs.iter().any(|(n, _)| *n == "zeek"));
    assert!(pattern_names(EcsMode::Disabled).len() >= 315);
    assert!(pattern_names(EcsMode::V1).len() >= 358);
}

fn check(expr: &str, ecs: EcsMode, text: &str, expected: &[(&str, Value)]) {
    let m = capture(expr, ecs, text);
    for (path, want) in expected {
        assert_eq!(at(&m, path), Some(want), "{expr}: field {path} in {m:?}");
    }
}

#[test]
fn other_families_parse_their_formats() {
    use EcsMode::{Disabled as L, V1 as E};
    let i = Value::Integer;
    let s3 = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" -"#;
    check(
        "%{S3_ACCESS_LOG}",
        E,
        s3,
        &[
            ("aws.s3access.bucket", s("awsexamplebucket1")),
            ("client.ip", s("192.0.2.3")),
            ("http.response.status_code", i(200)),
            ("aws.s3access.bytes_sent", i(113)),
            ("user_agent.original", s("S3Console/0.4")),
        ],
    );
    check(
        "%{S3_ACCESS_LOG}",
        L,
        s3,
        &[
            ("bucket", s("awsexamplebucket1")),
            ("verb", s("GET")),
            ("response", i(200)),
            ("agent", s("\"S3Console/0.4\"")),
        ],
    );
    let elb = r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 57 "GET https://www.example.com:443/path?x=1 HTTP/1.1""#;
    check(
        "%{ELB_ACCESS_LOG}",
        E,
        elb,
        &[
            ("aws.elb.name", s("my-loadbalancer")),
            ("source.port", i(2817)),
            ("aws.elb.backend.ip", s("10.0.0.1")),
            ("url.domain", s("www.example.com")),
            ("url.port", i(443)),
            ("url.path", s("/path")),
            ("url.query", s("x=1")),
            ("http.response.body.bytes", i(57)),
        ],
    );
    check(
        "%{ELB_ACCESS_LOG}",
        L,
        elb,
        &[
            ("elb", s("my-loadbalancer")),
            ("backendport", i(80)),
            ("request_processing_time", Value::Float(0.000086)),
            ("path", s("/path")),
            ("params", s("?x=1")),
            ("port", s("443")),
        ],
    );
    let bind = "17-Feb-2018 23:06:56.326 queries: info: client 172.26.0.1#12345 (example.com): query: example.com IN A +E (172.26.0.2)";
    check(
        "%{BIND9}",
        E,
        bind,
        &[
            ("client.ip", s("172.26.0.1")),
            ("client.port", i(12345)),
            ("dns.question.name", s("example.com")),
            ("dns.question.type", s("A")),
            ("dns.question.class", s("IN")),
            ("server.ip", s("172.26.0.2")),
        ],
    );
    check(
        "%{BIND9}",
        L,
        bind,
        &[
            ("clientip", s("172.26.0.1")),
            ("querytype", s("A +E")),
            ("dns", s("172.26.0.2")),
        ],
    );
    let redis = r#"1470637867.953466 [0 195.168.1.1:52500] "info" "all""#;
    check(
        "%{REDISMONLOG}",
        E,
        redis,
        &[
            ("redis.database.id", s("0")),
            ("client.ip", s("195.168.1.1")),
            ("client.port", i(52500)),
            ("redis.command.name", s("info")),
            ("redis.command.args", s("\"all\"")),
        ],
    );
    check(
        "%{REDISLOG}",
        L,
        "[4018] 14 Nov 07:01:22.119 * Background saving terminated",
        &[("pid", s("4018")), ("timestamp", s("14 Nov 07:01:22.119"))],
    );
    let ruby = "I, [2024-01-02T03:04:05.678901 #1234]  INFO -- worker: job done";
    check(
        "%{RUBY_LOGGER}",
        E,
        ruby,
        &[
            ("process.pid", i(1234)),
            ("log.level", s("INFO")),
            ("process.name", s("worker")),
            ("message", s("job done")),
        ],
    );
    check(
        "%{RUBY_LOGGER}",
        L,
        ruby,
        &[
            ("pid", s("1234")),
            ("loglevel", s("INFO")),
            ("progname", s("worker")),
        ],
    );
    let rails = "Started GET \"/users/1?x=2\" for 127.0.0.1 at 2024-01-02 03:04:05 +0000\nProcessing by UsersController#show as HTML\n  Parameters: {\"id\"=>\"1\"}\nCompleted 200 OK in 12.5ms (Views: 8.1ms | ActiveRecord: 1.2ms)";
    check(
        "%{RAILS3}",
        E,
        rails,
        &[
            ("http.request.method", s("GET")),
            ("url.original", s("/users/1?x=2")),
            ("rails.controller.class", s("UsersController")),
            ("rails.controller.action", s("show")),
            ("rails.request.format", s("HTML")),
            ("rails.request.params", s("\"id\"=>\"1\"")),
            ("http.response.status_code", i(200)),
            ("rails.request.duration.total", Value::Float(12.5)),
            ("rails.request.duration.active_record", Value::Float(1.2)),
        ],
    );
    check(
        "%{RAILS3}",
        L,
        rails,
        &[
            ("verb", s("GET")),
            ("controller", s("UsersController")),
            ("response", s("200")),
            ("viewms", s("8.1")),
        ],
    );
    let pg = "2024-01-02 03:04:05 UTC alice 5f9a.1c 4242";
    check(
        "%{POSTGRESQL}",
        E,
        pg,
        &[
            ("event.timezone", s("UTC")),
            ("user.name", s("alice")),
            ("process.pid", i(4242)),
        ],
    );
    let squid = "1525344856.899 16867 10.170.72.111 TCP_TUNNEL/200 6256 CONNECT logs.example.com:443 - HIER_DIRECT/203.0.113.7 -";
    check(
        "%{SQUID3}",
        E,
        squid,
        &[
            ("source.ip", s("10.170.72.111")),
            ("event.action", s("TCP_TUNNEL")),
            ("http.response.status_code", i(200)),
            ("http.request.method", s("CONNECT")),
            ("destination.address", s("203.0.113.7")),
        ],
    );
    check(
        "%{SQUID3}",
        L,
        squid,
        &[
            ("client_address", s("10.170.72.111")),
            ("status_code", s("200")),
            ("server", s("203.0.113.7")),
            ("content_type", s("-")),
        ],
    );
    let mongo3 = "2024-01-02T03:04:05.678+0000 I NETWORK  [conn123] end connection 10.0.0.5:51234";
    check(
        "%{MONGO3_LOG}",
        E,
        mongo3,
        &[
            ("log.level", s("I")),
            ("mongodb.component", s("NETWORK")),
            ("mongodb.context", s("conn123")),
            ("message", s("end connection 10.0.0.5:51234")),
        ],
    );
    let slow = "query test.users query: { name: \"x\" } ntoreturn:0 ntoskip:0 nscanned:10 keyUpdates:0 nreturned:1 reslen:100 120ms";
    check(
        "%{MONGO_SLOWQUERY}",
        E,
        slow,
        &[
            ("mongodb.database", s("test")),
            ("mongodb.collection", s("users")),
            ("mongodb.query.original", s("{ name: \"x\" }")),
            ("mongodb.profile.nscanned", i(10)),
            ("mongodb.profile.duration", i(120)),
        ],
    );
    check(
        "%{MONGO_SLOWQUERY}",
        L,
        slow,
        &[
            ("query", s("{ name: \"x\" }")),
            ("nreturned", s("1")),
            ("duration", s("120")),
        ],
    );
    let exim = "2024-01-02 03:04:05 [1234] 1qXyZa-000abc-Xy <= sender@example.com H=mail.example.org (helo.example.org) [192.0.2.1]:25 P=esmtps S=2048 id=abc@example.org T=\"Hello there\" for rcpt@example.net";
    check(
        "%{EXIM}",
        E,
        exim,
        &[
            ("process.pid", i(1234)),
            ("exim.log.message.id", s("1qXyZa-000abc-Xy")),
            ("exim.log.flags", s("<=")),
            ("exim.log.sender.email", s("sender@example.com")),
            ("source.address", s("mail.example.org")),
            ("source.ip", s("192.0.2.1")),
            ("network.protocol", s("esmtps")),
            ("exim.log.message.body.size", i(2048)),
            ("exim.log.message.subject", s("Hello there")),
            ("exim.log.recipient.email", s("rcpt@example.net")),
        ],
    );
    let nagios = "[1427925600] SERVICE ALERT: web01;HTTP;CRITICAL;HARD;3;Connection refused";
    check(
        "%{NAGIOSLOGLINE}",
        E,
        nagios,
        &[
            ("timestamp", s("1427925600")),
            ("nagios.log.type", s("SERVICE ALERT")),
            ("host.hostname", s("web01")),
            ("service.name", s("HTTP")),
            ("nagios.log.status", s("CRITICAL")),
            ("nagios.log.attempt", i(3)),
            ("message", s("Connection refused")),
        ],
    );
    check(
        "%{NAGIOSLOGLINE}",
        L,
        nagios,
        &[
            ("nagios_epoch", s("1427925600")),
            ("nagios_hostname", s("web01")),
            ("nagios_statelevel", s("HARD")),
            ("nagios_attempt", s("3")),
        ],
    );
    let bacula = "28-Aug 21:55 bacula-sd JobId 24: New volume \"Vol-0001\" mounted on device \"FileStorage\" (/var/lib/bacula) at 28-Aug-2024 21:55.";
    check(
        "%{BACULA_LOGLINE}",
        E,
        bacula,
        &[
            ("host.hostname", s("bacula-sd")),
            ("bacula.job.id", s("24")),
            ("bacula.volume.name", s("Vol-0001")),
            ("bacula.volume.device", s("FileStorage")),
            ("bacula.volume.path", s("/var/lib/bacula")),
        ],
    );
    check(
        "%{BACULA_LOGLINE}",
        L,
        bacula,
        &[
            ("bts", s("28-Aug 21:55")),
            ("hostname", s("bacula-sd")),
            ("jobid", s("24")),
            ("volume", s("Vol-0001")),
        ],
    );
    let asa = "Teardown TCP connection 1234 for outside:203.0.113.5/443 to inside:10.0.0.7/51515 duration 0:00:30 bytes 5120 TCP FINs";
    check(
        "%{CISCOFW302013_302014_302015_302016}",
        E,
        asa,
        &[
            ("cisco.asa.outcome", s("Teardown")),
            ("cisco.asa.network.transport", s("TCP")),
            ("source.ip", s("203.0.113.5")),
            ("source.port", i(443)),
            ("destination.port", i(51515)),
            ("network.bytes", i(5120)),
            ("event.reason", s("TCP FINs")),
        ],
    );
    check(
        "%{CISCOFW302013_302014_302015_302016}",
        L,
        asa,
        &[
            ("action", s("Teardown")),
            ("src_interface", s("outside")),
            ("dst_ip", s("10.0.0.7")),
            ("duration", s("0:00:30")),
        ],
    );
    check(
        "%{CISCO_TAGGED_SYSLOG}",
        L,
        "<166>Jan 05 2024 10:11:12 fw01 : %ASA-6-302014: Teardown",
        &[
            ("syslog_pri", s("166")),
            ("sysloghost", s("fw01")),
            ("ciscotag", s("ASA-6-302014")),
        ],
    );
    let ipt = "IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=198.51.100.4 DST=192.0.2.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=4321 DF PROTO=TCP SPT=51000 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0";
    check(
        "%{IPTABLES}",
        E,
        ipt,
        &[
            ("observer.ingress.interface.name", s("eth0")),
            ("destination.mac", s("00:11:22:33:44:55")),
            ("source.mac", s("66:77:88:99:aa:bb")),
            ("source.ip", s("198.51.100.4")),
            ("iptables.ttl", i(52)),
            ("iptables.fragment_flags", s("DF")),
            ("network.transport", s("TCP")),
            ("destination.port", i(22)),
            ("iptables.tcp.window", i(29200)),
            ("iptables.tcp.flags", s("SYN ")),
        ],
    );
    let zeek = "1300475167.096535\tCRCC5OdDlXe\t141.142.220.202\t5353\t224.0.0.251\t5353\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t73\t0\t0\t-";
    check(
        "%{ZEEK_CONN}",
        E,
        zeek,
        &[
            ("zeek.session_id", s("CRCC5OdDlXe")),
            ("source.port", i(5353)),
            ("network.transport", s("udp")),
            ("network.protocol", s("dns")),
            ("zeek.connection.state", s("S0")),
            ("zeek.connection.missed_bytes", i(0)),
            ("zeek.connection.history", s("D")),
            ("source.bytes", i(73)),
        ],
    );
    let junos = "RT_FLOW_SESSION_DENY: session denied 10.0.0.1/1234->8.8.8.8/53 junos-dns-udp 17(0) default-deny trust untrust UNKNOWN UNKNOWN N/A(N/A) ge-0/0/1.0";
    check(
        "%{RT_FLOW3}",
        E,
        junos,
        &[
            ("juniper.srx.tag", s("RT_FLOW_SESSION_DENY")),
            ("source.ip", s("10.0.0.1")),
            ("destination.port", i(53)),
            ("network.iana_number", s("17")),
            ("rule.name", s("default-deny")),
        ],
    );
    check(
        "%{MAVEN_VERSION:v}",
        L,
        "lib-1.2.3-SNAPSHOT.jar",
        &[("v", s("1.2.3-SNAPSHOT"))],
    );
    check(
        "%{MCOLLECTIVE}",
        E,
        "I, [2024-01-02T03:04:05.123456 #789]  INFO",
        &[("process.pid", i(789)), ("log.level", s("INFO"))],
    );
    let cron = "Jan  2 03:04:05 host CRON[123]: (root) CMD (run-parts /etc/cron.hourly)";
    check(
        "%{CRONLOG}",
        E,
        cron,
        &[
            ("user.name", s("root")),
            ("system.cron.action", s("CMD")),
            ("message", s("run-parts /etc/cron.hourly")),
        ],
    );
    check(
        "%{CRONLOG}",
        L,
        cron,
        &[
            ("user", s("root")),
            ("action", s("CMD")),
            ("program", s("CRON")),
        ],
    );
    let httpd24 = "[Wed Oct 11 14:32:52.123456 2000] [proxy:error] [pid 1234:tid 5678] (111)Connection refused: AH00957: HTTP: attempt to connect to 127.0.0.1:8080 (localhost) failed";
    check(
        "%{HTTPD_ERRORLOG}",
        E,
        httpd24,
        &[
            ("apache.error.module", s("proxy")),
            ("log.level", s("error")),
            ("process.pid", i(1234)),
            ("process.thread.id", i(5678)),
            ("apache.error.proxy.error.code", s("111")),
            ("apache.error.proxy.error.message", s("Connection refused")),
            ("error.code", s("AH00957")),
        ],
    );
    check(
        "%{HTTPD_ERRORLOG}",
        L,
        "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test",
        &[
            ("loglevel", s("error")),
            ("clientip", s("127.0.0.1")),
            (
                "message",
                s("client denied by server configuration: /export/home/live/ap/htdocs/test"),
            ),
        ],
    );
}

// ------------------------------------------------- capture engine vs regex

#[path = "../../../benches/common/apache_lines.rs"]
#[allow(dead_code)]
pub(super) mod apache_lines;

/// Asserts that the capture engine finds the same match and groups as
/// `regex` alone: on its own, anchored where `regex`'s match starts (and
/// finding nothing at the start when `regex` finds nothing there), and
/// through the search the filter runs; both with its optimistic first run
/// and with the visited set alone.
fn same_as_regex(g: &CompiledGrok, text: &str) {
    same_as_regex_in_mode(g, text);
    super::engine::Engine::force_visited(true);
    same_as_regex_in_mode(g, text);
    super::engine::Engine::force_visited(false);
}

fn same_as_regex_in_mode(g: &CompiledGrok, text: &str) {
    let mut a = vec![UNSET_SLOT; g.slot_count()];
    let mut b = vec![UNSET_SLOT; g.slot_count()];
    let expected = g.search_with_regex(text, &mut b);
    let start = if expected { b[0] } else { 0 };
    let found = g.engine_search_at(text, start, &mut a);
    if expected || start == 0 {
        assert_eq!(found, expected, "{} on {text:?} at {start}", g.expression());
    }
    if expected {
        assert_eq!(a, b, "{} on {text:?}", g.expression());
        if start > 0 {
            let found_at_0 = g.engine_search_at(text, 0, &mut a);
            assert!(!found_at_0, "{} on {text:?} at 0", g.expression());
        }
    }
    let found = g.search(text, &mut a).unwrap();
    assert_eq!(found, expected, "{} on {text:?}", g.expression());
    if found {
        assert_eq!(a, b, "{} on {text:?}", g.expression());
    }
}

/// Sample lines of many formats (from the tests above) plus the generated
/// Apache lines.
fn sample_texts() -> Vec<String> {
    let mut out: Vec<String> = [
        APACHE_COMMON,
        APACHE_COMBINED,
        NGINX_ACCESS,
        NGINX_ERROR,
        SYSLOG_3164,
        SYSLOG_5424,
        HAPROXY_HTTP,
        "31-Jul-2020 16:40:38.578 INFO [main] org.apache.catalina.startup.Catalina.start Server startup in [1234] milliseconds",
        "2024-05-06 07:08:09,123 ERROR [http-nio-8080-exec-3] com.example.App - payment failed",
        "Jan  1 10:00:00 host sshd[12]: pam_unix(sshd:session): session opened for user root by (uid=0)",
        "2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 57 \"GET https://www.example.com:443/path?x=1 HTTP/1.1\"",
        "17-Feb-2018 23:06:56.326 queries: info: client 172.26.0.1#12345 (example.com): query: example.com IN A +E (172.26.0.2)",
        "1525344856.899 16867 10.170.72.111 TCP_TUNNEL/200 6256 CONNECT logs.example.com:443 - HIER_DIRECT/203.0.113.7 -",
        "IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=198.51.100.4 DST=192.0.2.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=4321 DF PROTO=TCP SPT=51000 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0",
        "1300475167.096535\tCRCC5OdDlXe\t141.142.220.202\t5353\t224.0.0.251\t5353\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\tD\t1\t73\t0\t0\t-",
        "Started GET \"/users/1?x=2\" for 127.0.0.1 at 2024-01-02 03:04:05 +0000\nProcessing by UsersController#show as HTML",
        "fe80::1%eth0 2001:db8::8a2e:370:7334 ::ffff:192.0.2.1 1:2:3:4:5:6:7:8 ::",
        "C:\\Windows\\System32 /var/log/app.log urn:isbn:0451450523 550e8400-e29b-41d4-a716-446655440000",
        "Tue, 02 Jan 2024 03:04:05 +0000 Mon Jan  1 00:00:00 UTC 2024 2024-01-02T03:04:05.678+01:00",
        "user@example.com 0x1F 0xdead.beef -12.5e3 +7 WARN Warnung café naïve \u{1F600} \"quoted \\\" string\" 'single'",
        "",
        " ",
        "\"\"",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    out.extend(apache_lines::lines(40));
    out
}

/// Deterministic variations of `base`: cut, with a byte class removed or
/// inserted, with a piece repeated.
fn variations(base: &str, seed: u64, count: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        " ", "\"", "-", ":", ".", "/", "[", "]", "0", "9", "a", "Z", "é", "\n", "%", "::", "1.2",
        "\\\"", "\t", "_", "@",
    ];
    let mut rng = apache_lines::Rng::new(seed);
    let chars: Vec<(usize, char)> = base.char_indices().collect();
    let cut = |i: usize| chars.get(i).map(|c| c.0).unwrap_or(base.len());
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let n = chars.len() as u64 + 1;
        let i = rng.below(n) as usize;
        let j = (i + rng.below(6) as usize).min(chars.len());
        let v = match rng.below(4) {
            0 => base[..cut(i)].to_owned(),
            1 => format!("{}{}", &base[..cut(i)], &base[cut(j)..]),
            2 => format!("{}{}{}", &base[..cut(i)], rng.pick(PIECES), &base[cut(i)..]),
            _ => format!("{}{}", &base[..cut(j)], &base[cut(i)..]),
        };
        out.push(v);
    }
    out
}

#[test]
fn engine_matches_regex_on_apache_lines() {
    let lines = apache_lines::lines(3000);
    for ecs in [EcsMode::V1, EcsMode::Disabled] {
        for expr in [
            "%{COMBINEDAPACHELOG}",
            "%{COMMONAPACHELOG}",
            "%{HTTPD_COMBINEDLOG} %{GREEDYDATA:rest}",
        ] {
            let g = compile(expr, ecs);
            for (k, line) in lines.iter().enumerate() {
                same_as_regex(&g, line);
                if k % 10 == 0 {
                    for v in variations(line, k as u64, 8) {
                        same_as_regex(&g, &v);
                    }
                }
            }
        }
    }
}

#[test]
fn engine_matches_regex_on_the_whole_library() {
    let texts = sample_texts();
    let mut inputs: Vec<String> = texts.clone();
    for (k, t) in texts.iter().enumerate() {
        inputs.extend(variations(t, 1000 + k as u64, 3));
    }
    for ecs in [EcsMode::Disabled, EcsMode::V1] {
        for name in pattern_names(ecs) {
            let g = compile(&format!("%{{{name}:x}}"), ecs);
            for t in &inputs {
                same_as_regex(&g, t);
            }
        }
    }
}

/// Expressions where every choice matters: loops, laziness, alternation
/// order, nesting, empty matches, assertions and non-ASCII text.
const AMBIGUOUS: &[&str] = &[
    r#"(?<a>.*?)"(?<b>[^"]*)"(?<c>.*)"#,
    r#"(?<a>\S+) (?<b>.*)"#,
    r#"(?<a>a*)(?<b>a*?)b"#,
    r#"(?<a>a*?)(?<b>a*)(?<c>b*)"#,
    r#"(?<x>a|ab)(?<y>c|bcd)(?<z>d*)"#,
    r#"(?:(?<x>a+)|(?<y>b+))*c"#,
    r#"(?<a>(?:a|b)*?)(?<b>b|c)+$"#,
    r#"^(?<a>\w+)\b(?<b>.*?)$"#,
    r#"(?<a>.*)\b(?<b>\w+)"#,
    r#"(?<a>[^ ]*) (?<b>[^ ]*?) ?(?<c>.*)"#,
    r#"(?<a>é+|.)(?<b>.*?)(?<c>é|$)"#,
    r#"(?<a>(?:ab|a)(?:bc|c)?)+"#,
    r#"(?<a>a{0,3})(?<b>a{2,5}?)(?<c>a?)"#,
    r#"(?<a>.*?)(?<b>"?)$"#,
    r#"(?<a>)|(?<b>a)"#,
    r#"(?<a>b*)"#,
    r#"(?<a>[ab ]*)(?<b>"[^"]*")?(?<c>.*?)(?<d>c|d|$)"#,
    r#"(?m)^(?<a>.*?)(?<b>\n|$)"#,
    "%{WORD:a} %{NOTSPACE:b}(?: %{GREEDYDATA:c})?",
    "%{DATA:a}\"%{QS:b}?%{DATA:c}$",
    "%{IPORHOST:h}(?::%{POSINT:p})?",
    // Loops inside loops: the same positions are reached again and
    // again, so the visited set decides.
    r#"(?<a>(?:a+b?)*)(?<b>a*)c"#,
    r#"(?<a>(?:a+?b?)*?)(?<b>a*?)(?<c>c|$)"#,
    r#"(?<x>(?:\w+ ?)*)(?<y>"|$)"#,
    r#"(?<a>(?:[^"]*"?)*?)"(?<b>.*)"#,
    r#"(?<a>(?:\S+\s?)+)(?<b>d|$)"#,
    r#"(?<a>(?:(?:a|b)+c?)+)(?<b>\n|d)"#,
    r#"(?<a>(?:.*?\s)*)(?<b>\w+)$"#,
    // A loop entered at a position that a lower-priority path then
    // reaches from inside the loop.
    r#"(?:ba|b)(?<x>a+)(?<y>ab)"#,
    r#"(?:ba|b)(?<x>a+?)(?<y>ab)"#,
    r#"(?:ba|b)(?<x>a*)(?<y>ab)"#,
    r#"(?:ab|a)(?<x>[ab]*?)(?<y>bc|c)"#,
    // Loops whose body is an alternation.
    r#"(?<a>"(?:\\.|[^\\"])*")(?<b>.*)"#,
    r#"(?<a>(?:a|bc)*)(?<b>b?c?)"#,
    r#"(?<a>(?:a|ab)*?)(?<b>b*)$"#,
    r#"(?<a>(?:[ab]|a)+)(?<b>.*)"#,
    r#"(?<a>(?:c|[^c"]|"d)*)(?<b>"?)"#,
    "%{QS:a}%{DATA:b}%{QS:c}?",
];

/// Short texts over a small alphabet that makes every choice of
/// [`AMBIGUOUS`] matter.
fn ambiguous_inputs() -> Vec<String> {
    const ALPHABET: &[&str] = &[
        "a", "b", "c", "d", " ", "\"", "é", "\n", "1", ":", ".", "\\", "'",
    ];
    let mut rng = apache_lines::Rng::new(7);
    let mut inputs: Vec<String> = Vec::new();
    for _ in 0..400 {
        let len = rng.below(14) as usize;
        inputs.push((0..len).map(|_| *rng.pick(ALPHABET)).collect());
    }
    // Every text of up to six letters over a, b, c, d.
    let mut layer = vec![String::new()];
    for _ in 0..6 {
        layer = layer
            .iter()
            .flat_map(|t| ["a", "b", "c", "d"].map(|x| format!("{t}{x}")))
            .collect();
        inputs.extend(layer.iter().cloned());
    }
    inputs
}

#[test]
fn engine_matches_regex_on_ambiguous_expressions() {
    let inputs = ambiguous_inputs();
    for expr in AMBIGUOUS {
        let g = compile(expr, EcsMode::V1);
        for t in &inputs {
            same_as_regex(&g, t);
        }
    }
}

/// Logstash's own form of IPV6 (eight flat alternatives), which the
/// library's nested form must match exactly.
const IPV6_FLAT: &str = r#"(?:(?:[0-9A-Fa-f]{1,4}:){7}(?:[0-9A-Fa-f]{1,4}|:)|(?:[0-9A-Fa-f]{1,4}:){6}(?::[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}|:)|(?:[0-9A-Fa-f]{1,4}:){5}(?:(?::[0-9A-Fa-f]{1,4}){1,2}|:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}|:)|(?:[0-9A-Fa-f]{1,4}:){4}(?:(?::[0-9A-Fa-f]{1,4}){1,3}|(?::[0-9A-Fa-f]{1,4})?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}|:)|(?:[0-9A-Fa-f]{1,4}:){3}(?:(?::[0-9A-Fa-f]{1,4}){1,4}|(?::[0-9A-Fa-f]{1,4}){0,2}:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}|:)|(?:[0-9A-Fa-f]{1,4}:){2}(?:(?::[0-9A-Fa-f]{1,4}){1,5}|(?::[0-9A-Fa-f]{1,4}){0,3}:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}|:)|[0-9A-Fa-f]{1,4}:(?:(?::[0-9A-Fa-f]{1,4}){1,6}|(?::[0-9A-Fa-f]{1,4}){0,4}:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}|:)|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|(?::[0-9A-Fa-f]{1,4}){0,5}:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}|:))(?:%\S+)?"#;

#[test]
fn nested_ipv6_matches_exactly_as_the_flat_form() {
    let contexts = [
        "%{IPV6:ip}",
        "^%{IPV6:ip}$",
        "%{IPV6:ip}%{GREEDYDATA:rest}",
        "%{IPV6:ip}:%{POSINT:port}",
        r"\[%{IPV6:ip}\]:%{POSINT:port}",
        "%{IPV6:ip} %{WORD:w}",
        "%{IPV6:ip}(?:%{IPV6:more})?",
        "%{IPV6:a}/%{INT:len}",
        "(?:%{IPV6:a}|%{HOSTNAME:h})%{DATA:tail}$",
    ];
    const TOKENS: &[&str] = &[
        "0", "1", "12", "abc", "ffff", "FFFF", "12345", "db8", "g", ":", ":", ":", "::", ".", "1",
        "25", "255", "256", "192", "168", "0", "%eth0", "%", " ", "/", "]", "[",
    ];
    let mut rng = apache_lines::Rng::new(99);
    let mut inputs: Vec<String> = [
        "::",
        "::1",
        "1::",
        "fe80::1%eth0",
        "2001:db8::8a2e:370:7334",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9",
        "::ffff:192.0.2.1",
        "1:2:3:4:5:6:1.2.3.4",
        "1::2:3:4:5:6:7",
        "1:2:3:4:5:6:7::",
        "1:2:3:4:5:6::8",
        "1::1.2.3.256",
        ":::",
        "1:::2",
        "[::1]:8080",
        "2001:db8:0:0:0:0:2:1/64",
        "12345::",
        "a:b:c:d:e:f:0:1%en0 x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..3000 {
        let n = 1 + rng.below(16) as usize;
        inputs.push((0..n).map(|_| *rng.pick(TOKENS)).collect());
    }
    // Address-shaped text: 0 to 9 groups, `::` anywhere or nowhere, an
    // optional dotted-quad tail and zone, then often one token changed.
    const GROUPS: &[&str] = &["0", "1", "db8", "ffff", "ABCD", "12345", "g1"];
    const QUADS: &[&str] = &["1.2.3.4", "192.0.2.255", "1.2.3.256", "1.2.3", "01.2.3.4"];
    for _ in 0..6000 {
        let groups = rng.below(10) as usize;
        let mut parts: Vec<String> = (0..groups).map(|_| rng.pick(GROUPS).to_string()).collect();
        if rng.below(3) == 0 {
            parts.push(rng.pick(QUADS).to_string());
        }
        let mut text = parts.join(":");
        if rng.below(3) != 0 {
            let kept = rng.below(parts.len() as u64 + 1) as usize;
            let at = parts[..kept].join(":").len();
            text.insert_str(
                at,
                if at == 0 || at == text.len() {
                    "::"
                } else {
                    ":"
                },
            );
        }
        if rng.below(5) == 0 {
            text.push_str("%eth0");
        }
        match rng.below(4) {
            0 => text.push_str(rng.pick::<&str>(&[" x", ":80", "]", "/64", ":", "::1"])),
            1 if !text.is_empty() => {
                let i = rng.below(text.len() as u64) as usize;
                if text.is_char_boundary(i) && text.is_char_boundary(i + 1) {
                    text.replace_range(i..i + 1, rng.pick::<&str>(&[":", ".", "g", "1", ""]));
                }
            }
            _ => {}
        }
        inputs.push(text);
    }
    let flat = [("IPV6".to_owned(), IPV6_FLAT.to_owned())];
    for ecs in [EcsMode::V1, EcsMode::Disabled] {
        for expr in contexts {
            let nested = compile(expr, ecs);
            let flat = compile_expression(expr, ecs, &flat).unwrap();
            assert!(flat.translated().len() > nested.translated().len());
            let mut a = vec![UNSET_SLOT; nested.slot_count()];
            let mut b = vec![UNSET_SLOT; flat.slot_count()];
            for t in &inputs {
                // Both through `regex` alone: a property of the patterns.
                let ma = nested.search_with_regex(t, &mut a);
                let mb = flat.search_with_regex(t, &mut b);
                assert_eq!((ma, &a), (mb, &b), "{expr} on {t:?}");
                same_as_regex(&nested, t);
            }
        }
    }
}

// ------------------------------------------------------ storing captures

thread_local! {
    /// Makes the filter store captures one by one (the reference rule).
    pub(crate) static ONE_BY_ONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs the filter built from `options` on events made by `make` from
/// each message, storing captures in one walk and one by one, and asserts
/// the same fields, metadata, order and verdict.
fn same_storage(options: &str, messages: &[&str], make: &dyn Fn(&str) -> Event) {
    let f = filter(options);
    for message in messages {
        let run = |one_by_one: bool| {
            ONE_BY_ONE.with(|c| c.set(one_by_one));
            let mut e = make(message);
            let verdict = f.process(&mut e);
            ONE_BY_ONE.with(|c| c.set(false));
            format!("{verdict:?} {:?} {:?}", e.fields(), e.metadata())
        };
        let (walk, one) = (run(false), run(true));
        assert_eq!(walk, one, "{options} on {message:?}");
    }
}

fn event_with(message: &str, extra: &[(&str, Value)]) -> Event {
    let mut e = Event::from_message(message);
    e.set_timestamp(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap());
    for (path, value) in extra {
        e.set(&FieldPath::parse(path).unwrap(), value.clone());
    }
    e
}

#[test]
fn storing_in_one_walk_matches_storing_one_by_one() {
    let obj = |pairs: &[(&str, Value)]| {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    let prior: Vec<Vec<(&str, Value)>> = vec![
        vec![],
        vec![("http", s("a string"))],
        vec![("http", obj(&[("request", obj(&[("method", s("X"))]))]))],
        vec![("[http][request]", Value::Integer(3))],
        vec![("[source][address]", Value::Array(vec![s("a")]))],
        vec![("url", Value::Integer(5))],
        vec![(
            "user_agent",
            Value::Array(vec![obj(&[("original", s("x"))])]),
        )],
        vec![("timestamp", s("earlier")), ("zzz", s("last"))],
        vec![
            ("clientip", Value::Array(vec![])),
            ("verb", Value::Bool(true)),
        ],
        vec![("arr", Value::Array(vec![s("x"), s("y")]))],
        vec![("[@metadata][m]", s("old")), ("[@metadata][n]", obj(&[]))],
    ];
    let lines = apache_lines::lines(30);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    for ecs in ["v1", "disabled"] {
        for overwrite in ["[]", "['[http][version]', timestamp, clientip]"] {
            let options = format!(
                "      match: {{message: '%{{COMBINEDAPACHELOG}}'}}\n      ecs_compatibility: {ecs}\n      overwrite: {overwrite}"
            );
            for p in &prior {
                same_storage(&options, &lines, &|m| event_with(m, p));
            }
        }
    }
    let exprs = [
        // A field named twice, siblings, metadata, a numeric segment.
        r"%{WORD:[a][b]} %{WORD:[a][b]} %{WORD:[a][c]} %{WORD:[@metadata][m]} %{WORD:[arr][0]}",
        // A path that is also the parent of another: one by one only.
        r"%{WORD:[a]} %{WORD:[a][b]} %{WORD:c} %{WORD:[c][d]} %{WORD:e}",
        // Optional groups: with keep_empty_captures they store null.
        r"%{WORD:[x][y]}(?: %{WORD:[x][z]})?(?<[x][w]>q?) %{WORD:[@metadata][n][o]}(?: %{WORD:t})?",
        // A top-level field named twice, the second capture finding what
        // the first one appended.
        r"%{WORD:t} %{WORD:[a][b]} %{WORD:t}",
    ];
    let texts = [
        "one two three four five",
        "one two",
        "one two three",
        "alpha beta",
    ];
    for expr in exprs {
        for keep in ["false", "true"] {
            for overwrite in ["[]", "['[a][b]', '[x][z]', '[@metadata][m]', c]"] {
                let options = format!(
                    "      match: {{message: '{expr}'}}\n      keep_empty_captures: {keep}\n      overwrite: {overwrite}"
                );
                for p in &prior {
                    same_storage(&options, &texts, &|m| event_with(m, p));
                }
            }
        }
    }
}

// ------------------------------------------------- backtracking engine

/// `expr` compiled for the backtracking engine even if the linear one
/// could run it.
fn on_backtracker(expr: &str, ecs: EcsMode) -> CompiledGrok {
    let no_extra = HashMap::new();
    let why = Location {
        pattern: None,
        column: 0,
    };
    compile::compile_backtracking(
        expr,
        ecs,
        &no_extra,
        CompileOptions::default(),
        100_000_000,
        "a test",
        why,
    )
    .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// Asserts that both engines find the same match and groups.
fn same_on_both_engines(linear: &CompiledGrok, backtracking: &CompiledGrok, text: &str) {
    let mut a = vec![UNSET_SLOT; linear.slot_count()];
    let mut b = vec![UNSET_SLOT; backtracking.slot_count()];
    let expected = linear.search(text, &mut a).unwrap();
    let found = backtracking.search(text, &mut b).unwrap();
    assert_eq!(found, expected, "{} on {text:?}", linear.expression());
    if found {
        assert_eq!(a, b, "{} on {text:?}", linear.expression());
    }
}

const BACKTRACKING: &str = "      regex_engine: backtracking";

#[test]
fn backtracking_engine_runs_lookaround_and_backreferences() {
    let f = filter(&format!(
        "      match:\n        message: '(?<q>[\"''])%{{DATA:[msg][text]}}\\k<q> %{{INT:n:int}}(?= end)'\n{BACKTRACKING}"
    ));
    let mut e = Event::from_message(r#"say "it's" 42 end"#);
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "[msg][text]"), Some(&s("it's")));
    assert_eq!(get(&e, "q"), Some(&s("\"")));
    assert_eq!(get(&e, "n"), Some(&Value::Integer(42)));
    let mut e = Event::from_message(r#"say "it's" 42 done"#);
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("_grokparsefailure"));

    // `\N` counts the capturing groups of the text it is written in: in
    // the definition, its own group; in the expression, `%{WORD:a}`.
    let f = filter(&format!(
        "      match: {{message: '%{{WORD:a}} %{{TWICE:t}} (?<b>x)%{{TWICE:u}}\\1'}}\n      pattern_definitions: {{TWICE: '(\\w+)-\\1'}}\n{BACKTRACKING}"
    ));
    let mut e = Event::from_message("w ab-ab xcd-cdw");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "a"), Some(&s("w")));
    assert_eq!(get(&e, "t"), Some(&s("ab-ab")));
    assert_eq!(get(&e, "u"), Some(&s("cd-cd")));
    let mut e = Event::from_message("w ab-ab xcd-cdx");
    assert_eq!(f.process(&mut e), Verdict::Skipped);

    for (expr, text, want) in [
        // Lookbehind, negative lookahead, atomic group, possessive.
        (r"(?<=id=)(?<x>\d+)", "uid id=42", Some("42")),
        (r"(?<x>\w+)(?!\w|:)", "key: value", Some("value")),
        (r"(?<x>(?>ab|a))c", "abc ac", Some("ab")),
        (r"(?<x>(?>a|ab)c)", "abc ac", Some("ac")),
        (r"(?<x>a++)", "baaa", Some("aaa")),
        (r"(?<x>a*+a)", "aaa", None),
        // Relative and named forms, conditionals, `\K`.
        (r"(?<x>(\w)\k<-1>)", "abccd", Some("cc")),
        (r"(?<q>')?(?<x>\w+)(?(<q>)')", "'ab' cd", Some("ab")),
        (r#"(?<q>")?(?<x>\w+)(?(1)")"#, "ab", Some("ab")),
        (r"a\K(?<x>b)", "ab", Some("b")),
        // ASCII word boundaries, as on the linear engine.
        (r"\b(?<x>é\w+)(?=!)", "aébc! ébc!", Some("ébc")),
        (r"(?<x>\w+)\B(?=y)", "xy", Some("x")),
    ] {
        let options = CompileOptions {
            backtrack_limit: Some(1_000_000),
            ..CompileOptions::default()
        };
        let g = compile::compile_with(expr, EcsMode::V1, &HashMap::new(), options)
            .unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert!(g.backtracking().is_some(), "{expr}");
        let got = g
            .capture(text)
            .map(|m| m.get("x").map(Value::to_text).unwrap_or_default());
        assert_eq!(got.as_deref(), want, "{expr} on {text:?}");
    }
}

#[test]
fn linear_expressions_stay_on_the_linear_engine() {
    let f = filter(&format!(
        "      match: {{message: ['%{{COMBINEDAPACHELOG}}', '^%{{WORD:w}}$']}}\n{BACKTRACKING}"
    ));
    assert!(f.notices().is_empty());
    let mut e = Event::from_message(APACHE_COMBINED);
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "[source][address]"), Some(&s("127.0.0.1")));
    let options = CompileOptions {
        backtrack_limit: Some(1_000),
        ..CompileOptions::default()
    };
    let g = compile::compile_with("%{SYSLOGLINE}", EcsMode::V1, &HashMap::new(), options).unwrap();
    assert!(g.backtracking().is_none());
}

#[test]
fn backtracking_engine_captures_as_the_linear_engine_on_ambiguous_expressions() {
    let inputs = ambiguous_inputs();
    for expr in AMBIGUOUS {
        let (linear, backtracking) = (
            compile(expr, EcsMode::V1),
            on_backtracker(expr, EcsMode::V1),
        );
        for t in &inputs {
            same_on_both_engines(&linear, &backtracking, t);
        }
    }
}

#[test]
fn backtracking_engine_captures_as_the_linear_engine_on_the_whole_library() {
    let texts = sample_texts();
    for ecs in [EcsMode::Disabled, EcsMode::V1] {
        for name in pattern_names(ecs) {
            let expr = format!("%{{{name}:x}}");
            let (linear, backtracking) = (compile(&expr, ecs), on_backtracker(&expr, ecs));
            for t in &texts {
                same_on_both_engines(&linear, &backtracking, t);
            }
        }
    }
}

#[test]
fn both_engines_store_captures_alike() {
    // The same expression, once with a lookahead that always holds: the
    // events must come out the same, whatever they held before.
    let exprs = [
        r"%{WORD:[a][b]} %{WORD:[a][b]} %{WORD:[a][c]} %{WORD:[@metadata][m]} %{WORD:[arr][0]}",
        r"%{WORD:[a]} %{WORD:[a][b]} %{WORD:c} %{WORD:[c][d]} %{WORD:e}",
        r"%{WORD:[x][y]}(?: %{WORD:[x][z]})?(?<[x][w]>q?) %{WORD:[@metadata][n][o]}(?: %{INT:t:int})?",
    ];
    let texts = [
        "one two three four five",
        "one two",
        "one two 3",
        "alpha beta",
    ];
    let prior = [
        vec![],
        vec![("a", s("a string")), ("[x][z]", Value::Array(vec![s("z")]))],
        vec![("[a][b]", Value::Integer(3)), ("[@metadata][m]", s("old"))],
    ];
    for expr in exprs {
        for keep in ["false", "true"] {
            for overwrite in ["[]", "['[a][b]', '[x][z]', '[@metadata][m]', c]"] {
                let shared =
                    format!("      keep_empty_captures: {keep}\n      overwrite: {overwrite}");
                let linear = filter(&format!("      match: {{message: '{expr}'}}\n{shared}"));
                let backtracking = filter(&format!(
                    "      match: {{message: '{expr}(?=)'}}\n{shared}\n{BACKTRACKING}"
                ));
                assert_eq!(backtracking.notices().len(), 1);
                for text in texts {
                    for p in &prior {
                        let (mut a, mut b) = (event_with(text, p), event_with(text, p));
                        let (va, vb) = (linear.process(&mut a), backtracking.process(&mut b));
                        assert_eq!(
                            format!("{va:?} {:?} {:?}", a.fields(), a.metadata()),
                            format!("{vb:?} {:?} {:?}", b.fields(), b.metadata()),
                            "{expr} on {text:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn backtracking_constructs_name_the_option_that_allows_them() {
    let e = build_error("      match:\n        message: ['%{WORD}', '%{WORD:w}(?=x)']");
    assert!(e.starts_with("5:30: "), "{e}");
    assert!(e.contains("match.message[1]"), "{e}");
    assert!(
        e.contains("lookahead `(?=` at column 10 of the expression"),
        "{e}"
    );
    assert!(e.contains("set `regex_engine: backtracking`"), "{e}");
    let e = build_error(
        "      match: {message: '%{TWICE}'}\n      pattern_definitions: {TWICE: '(\\w)\\1'}",
    );
    assert!(
        e.contains("backreference at column 5 of pattern `TWICE`"),
        "{e}"
    );
    assert!(e.contains("regex_engine: backtracking"), "{e}");

    // What the backtracking engine cannot run either.
    for (expr, want) in [
        (
            r"(?<a>x)\g<a>",
            "subexpression call `\\g` at column 8 of the expression is not supported",
        ),
        (
            r"(\w)\2",
            "group reference `2` counts the capturing groups of the text it is written in, and only 1 open before it",
        ),
        (r"\k<nope>", "no capturing group named `nope`"),
    ] {
        let e = build_error(&format!(
            "      match: {{message: '{expr}'}}\n{BACKTRACKING}"
        ));
        assert!(e.contains(want), "{expr}: {e}");
    }
    let e = build_error(&format!(
        "      match: {{message: 'x'}}\n{BACKTRACKING}\n      timeout_millis: 0"
    ));
    assert!(
        e.contains("timeout_millis") && e.contains("unbounded"),
        "{e}"
    );
    let e = build_error("      match: {message: 'x'}\n      regex_engine: pcre");
    assert!(e.contains("regex_engine"), "{e}");
}

/// Words and spaces, then a lookahead, then the end: against a long run of
/// word characters followed by something else, the loop can split the run
/// in exponentially many ways before failing.
const PATHOLOGICAL: &str = r"^(?<w>\w+\s?(?=\w|\s|$))*$";

#[test]
fn a_search_that_reaches_its_bound_tags_the_event_and_moves_on() {
    let ctx = BuildContext::for_tests("t");
    let f = filter_in(
        &format!(
            "      match: {{message: ['{PATHOLOGICAL}', '%{{GREEDYDATA:rest}}']}}\n{BACKTRACKING}\n      timeout_millis: 10"
        ),
        &ctx,
    )
    .unwrap();
    let long = format!("{}!", "a".repeat(64));
    let mut e = Event::from_message(&long);
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("_groktimeout"), "{:?}", e.fields());
    assert!(!e.has_tag("_grokparsefailure"));
    // Nothing else changed, and the next expression was not tried.
    assert_eq!(get(&e, "rest"), None);
    assert_eq!(get(&e, "w"), None);
    assert_eq!(get(&e, "message"), Some(&s(&long)));
    assert!(
        ctx.metrics
            .render()
            .contains("ganymede_grok_timeouts_total{pipeline=\"t\",component=\"grok-0\"} 1"),
        "{}",
        ctx.metrics.render()
    );

    // The next events are matched as usual.
    let mut e = Event::from_message("two words");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "w"), Some(&s("words")));
    let mut e = Event::from_message("a!b");
    assert_eq!(f.process(&mut e), Verdict::Applied);
    assert_eq!(get(&e, "rest"), Some(&s("a!b")));

    // A backreference makes the same loop explode too; each element of an
    // array is one search; custom tag; the event scope.
    let f = filter(&format!(
        "      match: {{message: '^(?:(?<w>\\w+)\\s?)*\\k<w>$'}}\n{BACKTRACKING}\n      timeout_millis: 5\n      timeout_scope: event\n      tag_on_timeout: too_slow"
    ));
    let mut e = Event::new();
    e.set(&FieldPath::key("message"), vec![s("x x"), s(&long)]);
    assert_eq!(f.process(&mut e), Verdict::Skipped);
    assert!(e.has_tag("too_slow") && !e.has_tag("_groktimeout"));
    assert_eq!(
        get(&e, "w"),
        None,
        "captures of the matching element are dropped too"
    );
}

#[test]
fn notices_name_every_backtracking_expression() {
    let f = filter(&format!(
        "      match:\n        message: ['%{{WORD:w}}', '{PATHOLOGICAL}']\n        other: '(?<x>a)\\k<x>'\n{BACKTRACKING}\n      timeout_millis: 2000"
    ));
    let notices = f.notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    let first = &notices[0];
    assert_eq!(first.mark.map(|m| m.line), Some(5));
    for want in [
        "`filters[0].grok.match.message[1]` (id `grok-0`)",
        PATHOLOGICAL,
        "lookahead `(?=` at column 13 of the expression",
        "2000000 steps",
        "`_groktimeout`",
    ] {
        assert!(first.message.contains(want), "{want}: {}", first.message);
    }
    assert!(
        notices[1].message.contains("named backreference"),
        "{:?}",
        notices[1]
    );
}

#[test]
fn groups_crossed_by_a_dfa_match_as_through_the_nfa() {
    use super::engine::Engine;
    let cases: &[(&str, &str, Option<&str>)] = &[
        // The DFA's end (the longest name) fails what follows: the NFA
        // takes the group over and finds the shorter one.
        ("%{HOSTNAME:h}\\.com$", "a.example.com", Some("a.example")),
        ("%{IPORHOST:h}:x", "1.2.3.4a:x", Some("1.2.3.4a")),
        (
            "%{IPORHOST:h} %{IPORHOST:g}$",
            "10.0.0.1 db-1.example.com",
            Some("10.0.0.1"),
        ),
        ("%{IPORHOST:h}$", "2001:db8::1", Some("2001:db8::1")),
        // Assertions at the group's edges see the bytes around it.
        ("a%{MONTH:m}", "aJan 1", None),
        ("-%{MONTH:m}x", "-Janx", None),
        ("-%{MONTH:m} ", "-Jan ", Some("Jan")),
        (
            "%{HTTPDATE:t}]",
            "10/Oct/2025:13:55:36 +0200]",
            Some("10/Oct/2025:13:55:36 +0200"),
        ),
        // No way through the group where the search starts.
        ("^%{IPV4:ip}", "999.1.1.1", None),
        // A crossed group inside a repetition, crossed once per round.
        ("^(?:%{IPV4:ip},)+$", "1.1.1.1,10.0.0.1,", Some("10.0.0.1")),
    ];
    // Every match starts at 0, so that the engine's anchored search alone
    // must find what `regex` finds.
    for &(expr, text, expected) in cases {
        let g = compile_expression(expr, EcsMode::V1, &[]).unwrap();
        let mut want = vec![UNSET_SLOT; g.slot_count()];
        let found = g.search_with_regex(text, &mut want);
        let first = want.get(2..4).filter(|_| found).map(|s| &text[s[0]..s[1]]);
        assert_eq!(first, expected, "{expr} on {text:?}: regex");
        assert!(!found || want[0] == 0, "{expr} on {text:?}");
        for visited in [false, true] {
            Engine::force_visited(visited);
            let mut slots = vec![UNSET_SLOT; g.slot_count()];
            let got = g.engine_search_at(text, 0, &mut slots);
            Engine::force_visited(false);
            assert_eq!(got, found, "{expr} on {text:?}, visited set {visited}");
            if found {
                assert_eq!(slots, want, "{expr} on {text:?}, visited set {visited}");
            }
        }
        // Searched optimistically, the group was crossed by its DFA.
        let mut slots = vec![UNSET_SLOT; g.slot_count()];
        g.engine_search_at(text, 0, &mut slots);
        assert!(
            Engine::last_jumps() > 0,
            "{expr} on {text:?}: no DFA crossing"
        );
    }
}

#[test]
fn dense_transitions_become_runs_of_one_target() {
    use regex_automata::util::primitives::StateID;
    let s = |i: usize| StateID::new(i).unwrap();
    let mut dense = vec![StateID::ZERO; 256];
    dense[b'0' as usize..=b'9' as usize].fill(s(3));
    dense[b'a' as usize..=b'f' as usize].fill(s(4));
    dense[b'g' as usize] = s(3);
    dense[255] = s(5);
    let runs: Vec<(u8, u8, usize)> = super::engine::dense_runs(&dense)
        .map(|t| (t.start, t.end, t.next.as_usize()))
        .collect();
    assert_eq!(
        runs,
        [
            (b'0', b'9', 3),
            (b'a', b'f', 4),
            (b'g', b'g', 3),
            (255, 255, 5)
        ]
    );
}
