//! Unit tests of the fingerprint filter. The expected values are those of
//! Logstash's own fingerprint tests, so ids computed by ganymede match the
//! ones Logstash computed for the same events.

use super::*;
use crate::config::PipelineConfig;
use crate::event::json;
use std::collections::HashMap;
use std::path::Path;

fn try_filter(options: &str) -> Result<Box<dyn Filter>, ConfigErrors> {
    let text = format!(
        "inputs: [stdin: {{}}]\nfilters:\n  - fingerprint: {options}\noutputs: [console: {{}}]\n"
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

/// The fingerprint `options` give `fields`, read from `fingerprint`.
fn fp(options: &str, fields: &str) -> Option<Value> {
    let options = format!("{{target: fingerprint, {options}}}");
    let f = filter(&options);
    let mut e = event(fields);
    assert_eq!(f.process(&mut e), Verdict::Applied);
    e.fields().get("fingerprint").cloned()
}

fn s(v: &str) -> Option<Value> {
    Some(Value::from(v))
}

const IP: &str = r#"{"clientip":"123.123.123.123"}"#;

#[test]
fn sha_and_md5_as_logstash() {
    let cases = [
        ("SHA1", "3a5076c520b4b463f43806896ea0b3978d09dcae"),
        (
            "SHA256",
            "4dabcab210766e35f03e77120e6986d6e6d4752b2a9ff22980b9253d026080d8",
        ),
        (
            "SHA384",
            "fd605b0a3af3e04ce0d7a0b0d9c48d67a12dab811f60072e6eae84e35d567793ffb68a1807536f11c90874065c2a4392",
        ),
        (
            "SHA512",
            "5468e2dc64ea92b617782aae884b35af60041ac9e168a283615b6a462c54c13d42fa9542cce9b7d76a8124ac6616818905e3e5dd35d6e519f77c3b517558639a",
        ),
        ("MD5", "ccdd8d3d940a01b2fb3258c059924c0d"),
    ];
    for (method, want) in cases {
        assert_eq!(
            fp(&format!("source: clientip, method: {method}"), IP),
            s(want),
            "{method}"
        );
    }
    assert_eq!(
        fp("source: clientip", IP),
        s("3a5076c520b4b463f43806896ea0b3978d09dcae")
    );
    assert_eq!(
        fp("source: clientip, base64encode: true", IP),
        s("OlB2xSC0tGP0OAaJbqCzl40J3K4=")
    );
}

#[test]
fn hmac_as_logstash() {
    let cases = [
        ("SHA1", false, "fdc60acc4773dc5ac569ffb78fcb93c9630797f4"),
        ("SHA1", true, "/cYKzEdz3FrFaf+3j8uTyWMHl/Q="),
        (
            "SHA256",
            false,
            "345bec3eff242d53b568916c2610b3e393d885d6b96d643f38494fd74bf4a9ca",
        ),
        (
            "SHA256",
            true,
            "NFvsPv8kLVO1aJFsJhCz45PYhda5bWQ/OElP10v0qco=",
        ),
        (
            "SHA384",
            false,
            "22d4c0e8c4fbcdc4887d2038fca7650f0e2e0e2457ff41c06eb2a980dded6749561c814fe182aff93e2538d18593947a",
        ),
        (
            "SHA384",
            true,
            "ItTA6MT7zcSIfSA4/KdlDw4uDiRX/0HAbrKpgN3tZ0lWHIFP4YKv+T4lONGFk5R6",
        ),
        (
            "SHA512",
            false,
            "11c19b326936c08d6c50a3c847d883e5a1362e6a64dd55201a25f2c1ac1b673f7d8bf15b8f112a4978276d573275e3b14166e17246f670c2a539401c5bfdace8",
        ),
        (
            "SHA512",
            true,
            "EcGbMmk2wI1sUKPIR9iD5aE2Lmpk3VUgGiXywawbZz99i/FbjxEqSXgnbVcydeOxQWbhckb2cMKlOUAcW/2s6A==",
        ),
        ("MD5", false, "9336c879e305c9604a3843fc3e75948f"),
        ("MD5", true, "kzbIeeMFyWBKOEP8PnWUjw=="),
    ];
    for (method, b64, want) in cases {
        let options = format!(
            "source: clientip, method: {method}, key: longencryptionkey, base64encode: {b64}"
        );
        assert_eq!(fp(&options, IP), s(want), "{method} {b64}");
    }
}

#[test]
fn murmur3_as_logstash() {
    assert_eq!(
        fp("source: clientip, method: MURMUR3", IP),
        Some(Value::Integer(4013733395))
    );
    assert_eq!(
        fp("source: clientip, method: MURMUR3", r#"{"clientip":123}"#),
        Some(Value::Integer(823512154))
    );
    let v = fp(
        "source: clientip, method: MURMUR3_128",
        r#"{"clientip":"The quick brown fox jumps over the lazy dog"}"#,
    );
    assert_eq!(v, s("6c1b07bc7bbc4be347939ac4a93c437a"));
    let v = fp(
        "source: clientip, method: MURMUR3_128, base64encode: true",
        r#"{"clientip":"The quick brown fox jumps over the lazy dog"}"#,
    );
    assert_eq!(v, s("bBsHvHu8S+NHk5rEqTxDeg=="));
}

#[test]
fn timestamps_hash_as_logstash_prints_them() {
    let e = r#"{"@timestamp":"1970-01-01T00:00:00Z"}"#;
    assert_eq!(
        fp("source: '@timestamp', key: '0123'", e),
        s("1d5379ec92d86a67cfc642d55aa050ca312d3b9a")
    );
    assert_eq!(
        fp("source: '@timestamp', method: MURMUR3", e),
        Some(Value::Integer(743372282))
    );
}

#[test]
fn lists_give_a_list_of_fingerprints() {
    assert_eq!(
        fp(
            "source: clientip",
            r#"{"clientip":["123.123.123.123","223.223.223.223"]}"#
        ),
        Some(Value::Array(vec![
            Value::from("3a5076c520b4b463f43806896ea0b3978d09dcae"),
            Value::from("47bbc4e06edebbace047fed35abeceec64968b81"),
        ]))
    );
}

#[test]
fn several_sources() {
    let fields = r#"{"field1":"test1","field2":"test2"}"#;
    // Without concatenation the last present source wins.
    assert_eq!(
        fp("source: [field1, field2]", fields),
        s("109f4b3c50d7b0df729d299bc6f8e9ef9066971f")
    );
    assert_eq!(
        fp("source: [field1, field2, missing]", fields),
        s("109f4b3c50d7b0df729d299bc6f8e9ef9066971f")
    );
    // SHA1 of "|field1|test1|field2|test2|", whatever the order written.
    let want = s("e3b6b71eedc656f1d29408264e8a75535db985cb");
    assert_eq!(
        fp(
            "source: [field1, field2], concatenate_sources: true",
            fields
        ),
        want
    );
    assert_eq!(
        fp(
            "source: [field2, field1], concatenate_sources: true",
            fields
        ),
        want
    );
    // A missing source counts as empty text.
    let a = fp("source: [field1, nope], concatenate_sources: true", fields);
    let b = fp(
        "source: [field1, nope], concatenate_sources: true",
        r#"{"field1":"test1","other":1}"#,
    );
    assert_eq!(a, b);
    assert!(a.is_some());
}

#[test]
fn concatenate_all_fields_as_logstash() {
    let fields = r#"{"@timestamp":"2017-07-26T14:44:27.064Z","@version":"1","clientip":"123.123.123.123","message":"This is a test message","log_level":"INFO","offset":123456789,"type":"test"}"#;
    assert_eq!(
        fp("concatenate_all_fields: true", fields),
        s("cbf022518e97860403160ed8a41847c0db104e63")
    );
}

#[test]
fn object_key_order_does_not_matter() {
    let a = r#"{"a":{"a0":0,"a1":1},"b":{"b0":0,"b1":1}}"#;
    let b = r#"{"b":{"b1":1,"b0":0},"a":{"a1":1,"a0":0}}"#;
    for options in [
        "source: a",
        "source: [a, b], concatenate_sources: true",
        "concatenate_all_fields: true, source: []",
    ] {
        let with_ts = |f: &str| f.replacen('{', r#"{"@timestamp":"2020-01-01T00:00:00Z","#, 1);
        assert_eq!(
            fp(options, &with_ts(a)),
            fp(options, &with_ts(b)),
            "{options}"
        );
    }
    // Ruby's inspect form: SHA1 of {"a0"=>0, "a1"=>1}.
    let want = Digest::Sha1.compute(None, br#"{"a0"=>0, "a1"=>1}"#);
    assert_eq!(fp("source: a", b), s(&hex(&want)));
}

#[test]
fn ipv4_network() {
    assert_eq!(
        fp("source: clientip, method: IPV4_NETWORK, key: 24", IP),
        s("123.123.123.0")
    );
    assert_eq!(
        fp("source: clientip, method: IPV4_NETWORK, key: 16", IP),
        s("123.123.0.0")
    );
    assert_eq!(
        fp("source: clientip, method: IPV4_NETWORK, key: 0", IP),
        s("0.0.0.0")
    );
    assert_eq!(
        fp(
            "source: clientip, method: IPV4_NETWORK, key: 24",
            r#"{"clientip":"nope"}"#
        ),
        None
    );
    let e = try_filter("{method: IPV4_NETWORK}").err().unwrap();
    assert!(e.to_string().contains("prefix length"), "{e}");
    let e = try_filter("{method: IPV4_NETWORK, key: 33}").err().unwrap();
    assert!(e.to_string().contains("prefix length"), "{e}");
}

#[test]
fn punctuation_method() {
    let msg = r#"{"field1":"PHP Warning:  json_encode() [<a href='function.json-encode'>function.json-encode</a>]: Invalid UTF-8 sequence in argument in /var/www/htdocs/test.php on line 233"}"#;
    assert_eq!(
        fp("source: field1, method: PUNCTUATION", msg),
        s(":_()[<='.-'>.-</>]:-////.")
    );
}

#[test]
fn uuid_method() {
    let a = fp("method: UUID", "{}").unwrap();
    let b = fp("method: UUID", "{}").unwrap();
    assert_eq!(a.as_str().unwrap().len(), 36);
    assert_ne!(a, b);
}

#[test]
fn default_targets_follow_ecs_compatibility() {
    let f = filter("{}");
    let mut e = Event::from_message("x");
    f.process(&mut e);
    assert!(e.get(&FieldPath::parse("[event][hash]").unwrap()).is_some());
    let f = filter("{ecs_compatibility: disabled}");
    let mut e = Event::from_message("x");
    f.process(&mut e);
    assert!(e.fields().contains_key("fingerprint"));
    let f = filter(r#"{target: "[@metadata][_id]", method: sha256}"#);
    let mut e = Event::from_message("x");
    f.process(&mut e);
    assert_eq!(
        e.get(&FieldPath::parse("[@metadata][_id]").unwrap()),
        Some(&Value::from(hex(&Digest::Sha256.compute(None, b"x"))))
    );
}

#[test]
fn missing_source_sets_nothing() {
    assert_eq!(fp("source: nope", IP), None);
}

#[test]
fn config_errors() {
    let e = try_filter("{method: SHA3}").err().unwrap();
    assert!(e.to_string().contains("unknown value `SHA3`"), "{e}");
    let e = try_filter("{source: []}").err().unwrap();
    assert!(e.to_string().contains("at least one field"), "{e}");
    let e = try_filter("{source: ['[a'], target: 'b]'}").err().unwrap();
    assert_eq!(e.len(), 2, "{e}");
}
