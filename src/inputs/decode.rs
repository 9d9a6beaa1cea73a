//! Turning a line of input into an event, shared by line-based inputs.

use crate::event::{Event, FieldPath, MESSAGE, Map, Value, json};
use serde::Deserialize;

/// How a line becomes an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// The line is the `message`.
    #[default]
    Lines,
    /// The line is a JSON object whose keys become fields. A line that is
    /// not a JSON object is kept as `message` and tagged `_jsonparsefailure`.
    Json,
}

/// Makes an event of one line (without its line ending).
pub fn decode_line(line: &str, codec: Codec) -> Event {
    match codec {
        Codec::Lines => Event::from_message(line),
        Codec::Json => match json::parse(line.as_bytes()) {
            Ok(Value::Object(map)) => Event::from_map(map),
            Ok(_) | Err(_) => {
                let mut e = Event::from_map(Map::new());
                e.set(&FieldPath::key(MESSAGE), line);
                e.add_tag("_jsonparsefailure");
                e
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_and_failures() {
        let e = decode_line(r#"{"level":"INFO","n":1}"#, Codec::Json);
        assert_eq!(e.get(&FieldPath::key("level")), Some(&Value::from("INFO")));
        let bad = decode_line("not json", Codec::Json);
        assert!(bad.has_tag("_jsonparsefailure"));
        assert_eq!(
            bad.get(&FieldPath::key("message")),
            Some(&Value::from("not json"))
        );
        let arr = decode_line("[1,2]", Codec::Json);
        assert!(arr.has_tag("_jsonparsefailure"));
    }
}
