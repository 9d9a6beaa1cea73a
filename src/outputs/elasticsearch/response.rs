//! Reading bulk answers and deciding, per item, what happens next.
//!
//! Requests ask for `filter_path=errors,items.*.error,items.*.status`, so an
//! answer is `{"errors":false,"items":[{"index":{"status":201}},…]}`: one
//! item per action, in request order. When `errors` is false — the common
//! case — a scan of the first bytes says so and the item list is never
//! parsed.

use super::naming::ItemKind;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// What a bulk answer says about the request's items.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// `"errors":false`: every item was written.
    AllOk,
    /// At least one item failed: each item's result, in request order.
    Items(Vec<ItemResult>),
}

/// The result of one item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ItemResult {
    pub status: u16,
    /// `{"type":…,"reason":…,"caused_by":…}` for a failed item.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

impl ItemResult {
    /// The error's `type`, e.g. `mapper_parsing_exception`.
    pub fn error_type(&self) -> &str {
        self.error_field("type")
    }

    /// The error's `reason`.
    pub fn reason(&self) -> &str {
        self.error_field("reason")
    }

    fn error_field(&self, key: &str) -> &str {
        self.error
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
}

/// What to do with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Written (2xx).
    Delivered,
    /// A `create` with an id that exists already (409): a replay of a
    /// document written before, counted as delivered.
    Duplicate,
    /// Worth another try (429, 5xx).
    Retry,
    /// Refused credentials or privileges (401, 403): an operator must act;
    /// retried meanwhile, since the data is fine.
    Unauthorized,
    /// Permanently refused (400, 404, other 4xx): to the dead-letter file.
    DeadLetter,
}

/// The verdict for an item of `kind` that got `status`.
pub fn classify(status: u16, kind: ItemKind) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        409 if kind.is_idempotent() => Verdict::Duplicate,
        429 | 500..=599 => Verdict::Retry,
        401 | 403 => Verdict::Unauthorized,
        _ => Verdict::DeadLetter,
    }
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("the bulk answer is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the bulk answer has {got} items for {sent} actions")]
    Count { got: usize, sent: usize },
}

/// Reads a 2xx bulk answer for a request of `sent` items.
pub fn parse(body: &[u8], sent: usize) -> Result<Parsed, ResponseError> {
    if errors_flag(body) == Some(false) {
        return Ok(Parsed::AllOk);
    }
    let raw: Raw = serde_json::from_slice(body)?;
    if !raw.errors {
        return Ok(Parsed::AllOk);
    }
    if raw.items.len() != sent {
        return Err(ResponseError::Count {
            got: raw.items.len(),
            sent,
        });
    }
    Ok(Parsed::Items(raw.items.into_iter().map(|i| i.0).collect()))
}

/// The value of the top-level `errors` key, found by a scan of the first
/// bytes of the answer; `None` if the scan cannot tell.
pub fn errors_flag(body: &[u8]) -> Option<bool> {
    let head = &body[..body.len().min(256)];
    let at = memchr::memmem::find(head, b"\"errors\"")?;
    // Only a key of the outer object: nothing nested may precede it.
    let before = &head[..at];
    if before.contains(&b'[') || before.iter().filter(|&&b| b == b'{').count() != 1 {
        return None;
    }
    let rest = skip_ws(&head[at + b"\"errors\"".len()..]);
    let rest = skip_ws(rest.strip_prefix(b":")?);
    if rest.starts_with(b"false") {
        Some(false)
    } else if rest.starts_with(b"true") {
        Some(true)
    } else {
        None
    }
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
        .count();
    &b[n..]
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<OneItem>,
}

/// `{"<action>": {...}}`: the result under whichever action name.
struct OneItem(ItemResult);

impl<'de> Deserialize<'de> for OneItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object with one action key")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OneItem, A::Error> {
                let Some((_, result)) = map.next_entry::<de::IgnoredAny, ItemResult>()? else {
                    return Err(de::Error::custom("empty bulk item"));
                };
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(OneItem(result))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::elasticsearch::naming::Action;

    const INDEX: ItemKind = ItemKind {
        action: Action::Index,
        has_id: false,
    };
    const CREATE_ID: ItemKind = ItemKind {
        action: Action::Create,
        has_id: true,
    };

    #[test]
    fn errors_false_is_read_without_parsing_items() {
        // The item list is not even valid JSON: it must not be looked at.
        let body = br#"{"errors":false,"items":[{"index":{"status":201}},BROKEN"#;
        assert_eq!(errors_flag(body), Some(false));
        assert_eq!(parse(body, 2).unwrap(), Parsed::AllOk);
        assert_eq!(
            errors_flag(br#"{ "took" : 3 , "errors" : false }"#),
            Some(false)
        );
        assert_eq!(errors_flag(br#"{"errors":true,"items":[]}"#), Some(true));
        assert_eq!(errors_flag(br#"{"items":[{"errors":false}]}"#), None);
        assert_eq!(errors_flag(b"<html>"), None);
    }

    #[test]
    fn per_item_results_in_order() {
        let body = br#"{"errors":true,"items":[
            {"index":{"status":201}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}},
            {"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}}
        ]}"#;
        let Parsed::Items(items) = parse(body, 4).unwrap() else {
            panic!("errors is true")
        };
        assert_eq!(
            items.iter().map(|i| i.status).collect::<Vec<_>>(),
            [201, 409, 400, 429]
        );
        assert_eq!(items[2].error_type(), "mapper_parsing_exception");
        assert_eq!(items[2].reason(), "failed to parse field [n]");
        assert_eq!(items[0].reason(), "");
        assert!(matches!(
            parse(body, 3),
            Err(ResponseError::Count { got: 4, sent: 3 })
        ));
        assert!(matches!(
            parse(b"{\"errors\":true,", 1),
            Err(ResponseError::Json(_))
        ));
    }

    #[test]
    fn classification() {
        for s in [200, 201] {
            assert_eq!(classify(s, INDEX), Verdict::Delivered);
        }
        assert_eq!(classify(409, CREATE_ID), Verdict::Duplicate);
        assert_eq!(classify(409, INDEX), Verdict::DeadLetter);
        let create_no_id = ItemKind {
            action: Action::Create,
            has_id: false,
        };
        assert_eq!(classify(409, create_no_id), Verdict::DeadLetter);
        for s in [429, 500, 502, 503, 504] {
            assert_eq!(classify(s, INDEX), Verdict::Retry, "{s}");
        }
        for s in [401, 403] {
            assert_eq!(classify(s, INDEX), Verdict::Unauthorized);
        }
        for s in [400, 404, 405, 413, 422] {
            assert_eq!(classify(s, CREATE_ID), Verdict::DeadLetter, "{s}");
        }
    }
}
