//! How an expected value (from YAML) is compared with a field's value.
//!
//! - Scalars compare by type and value: the YAML `200` is a number and
//!   does not equal the string `"200"`; numbers compare numerically
//!   (`200` equals `200.0`).
//! - Two strings that are both RFC 3339 times compare as instants, so
//!   `2026-11-27T08:15:02.114Z` equals `2026-11-27T09:15:02.114+01:00`
//!   (and equals a parsed `@timestamp`).
//! - An expected map is a subset: each of its keys must match, other keys
//!   of the actual object are ignored.
//! - An expected list must have the same length, item by item.

use chrono::DateTime;
use serde_json::Value as J;

/// One difference: where, what was expected, what was found (`None`:
/// the field is missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub path: String,
    pub expected: J,
    pub actual: Option<J>,
}

/// Appends the differences between `expected` and `actual` at `path`.
pub fn compare(expected: &J, actual: Option<&J>, path: &str, out: &mut Vec<Difference>) {
    let differ = |out: &mut Vec<Difference>| {
        out.push(Difference {
            path: path.to_owned(),
            expected: expected.clone(),
            actual: actual.cloned(),
        })
    };
    let Some(actual) = actual else {
        differ(out);
        return;
    };
    match (expected, actual) {
        (J::Object(want), J::Object(have)) => {
            for (k, v) in want {
                compare(v, have.get(k), &format!("{path}[{k}]"), out);
            }
        }
        (J::Array(want), J::Array(have)) if want.len() == have.len() => {
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                compare(w, Some(h), &format!("{path}[{i}]"), out);
            }
        }
        (J::Number(w), J::Number(h)) => {
            let same = match (w.as_i64(), h.as_i64()) {
                (Some(a), Some(b)) => a == b,
                _ => w.as_f64() == h.as_f64(),
            };
            if !same {
                differ(out);
            }
        }
        (J::String(w), J::String(h)) => {
            if w != h && !same_instant(w, h) {
                differ(out);
            }
        }
        (w, h) => {
            if w != h {
                differ(out);
            }
        }
    }
}

fn same_instant(a: &str, b: &str) -> bool {
    match (
        DateTime::parse_from_rfc3339(a),
        DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diffs(expected: J, actual: Option<J>) -> Vec<Difference> {
        let mut out = Vec::new();
        compare(&expected, actual.as_ref(), "[f]", &mut out);
        out
    }

    #[test]
    fn scalars_compare_by_type_and_value() {
        assert!(diffs(json!(200), Some(json!(200))).is_empty());
        assert!(diffs(json!(200), Some(json!(200.0))).is_empty());
        assert_eq!(diffs(json!(200), Some(json!("200"))).len(), 1);
        assert_eq!(diffs(json!("a"), None).len(), 1);
        assert!(diffs(json!(null), Some(json!(null))).is_empty());
        assert_eq!(diffs(json!(null), None).len(), 1);
        assert!(
            diffs(
                json!("2026-11-27T09:15:02.114+01:00"),
                Some(json!("2026-11-27T08:15:02.114Z"))
            )
            .is_empty()
        );
    }

    #[test]
    fn maps_are_subsets_and_lists_exact() {
        let actual = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        assert!(diffs(json!({"a": {"b": 1}}), Some(actual.clone())).is_empty());
        let d = diffs(json!({"a": {"b": 3}, "l": [1]}), Some(actual));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].path, "[f][a][b]");
        assert_eq!(d[0].actual, Some(json!(1)));
        assert_eq!(d[1].path, "[f][l]");
    }
}
