//! A YAML tree that remembers where every node came from.
//!
//! Pipeline files are read with `saphyr-parser`, a maintained, pure-Rust YAML
//! 1.2 parser (serde_yaml is archived, serde_yml unsound). Its events are
//! folded into [`Node`]s that keep their line and column, so that every later
//! error (an unknown key, a bad regex, a wrong type) can point at the text.
//! `${VAR}` and `${VAR:-default}` are expanded here, in scalar values only.

use super::error::{ConfigError, Mark};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// One YAML node and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub mark: Mark,
    pub kind: NodeKind,
}

/// The shape of a node. Scalars keep their text; their type is decided by
/// whoever reads them (a `port: 5044` can be read as a number or a string).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or nothing.
    Null,
    /// A scalar; `plain` is false for quoted and block scalars, which are
    /// always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Key/value pairs in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a scalar node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key` in a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short description of the node's type for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }
}

fn mark_of(m: &saphyr_parser::Marker) -> Mark {
    Mark {
        line: m.line(),
        col: m.col() + 1,
    }
}

/// Where `${NAME}` values come from: the process environment, or a fixed
/// map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Parses one YAML document. An empty file is a `Null` node.
pub fn parse(text: &str, env: &dyn Env) -> Result<Node, ConfigError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| {
            ConfigError::new(format!("invalid YAML: {}", e.info())).at(mark_of(e.marker()))
        })?;
        let mark = mark_of(&span.start);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(ConfigError::new(
                        "a pipeline file holds one YAML document; put each pipeline in its own file",
                    )
                    .at(mark));
                }
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => Some((n.clone(), 0)),
                None => return Err(ConfigError::new("unknown YAML alias").at(mark)),
            },
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = matches!(style, ScalarStyle::Plain);
                // A key is always text: `null: {}` names the null output.
                let is_key = matches!(stack.last(), Some(Frame::Map(_, _, _, None)));
                let kind = if plain
                    && !is_key
                    && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar {
                        text: interpolate(&text, env).map_err(|m| ConfigError::new(m).at(mark))?,
                        plain,
                    }
                };
                Some((Node { mark, kind }, anchor))
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(mark, anchor, Vec::new()));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(mark, anchor, Vec::new(), None));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(m, anchor, items)) => Some((
                    Node {
                        mark: m,
                        kind: NodeKind::Seq(items),
                    },
                    anchor,
                )),
                _ => return Err(ConfigError::new("unbalanced YAML sequence").at(mark)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(m, anchor, pairs, _)) => Some((
                    Node {
                        mark: m,
                        kind: NodeKind::Map(pairs),
                    },
                    anchor,
                )),
                _ => return Err(ConfigError::new("unbalanced YAML mapping").at(mark)),
            },
        };
        if let Some((node, anchor)) = finished {
            if anchor != 0 {
                anchors.insert(anchor, node.clone());
            }
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq(_, _, items)) => items.push(node),
                Some(Frame::Map(_, _, pairs, pending_key)) => match pending_key.take() {
                    None => {
                        if !matches!(node.kind, NodeKind::Scalar { .. }) {
                            return Err(
                                ConfigError::new("map keys must be plain text").at(node.mark)
                            );
                        }
                        if let Some((first, _)) =
                            pairs.iter().find(|(k, _)| k.as_str() == node.as_str())
                        {
                            return Err(ConfigError::new(format!(
                                "duplicate key `{}` (first given at line {})",
                                node.as_str().unwrap_or_default(),
                                first.mark.line
                            ))
                            .at(node.mark));
                        }
                        *pending_key = Some(node);
                    }
                    Some(key) => pairs.push((key, node)),
                },
            }
        }
    }
    Ok(root.unwrap_or(Node {
        mark: Mark { line: 1, col: 1 },
        kind: NodeKind::Null,
    }))
}

enum Frame {
    Seq(Mark, usize, Vec<Node>),
    Map(Mark, usize, Vec<(Node, Node)>, Option<Node>),
}

/// Expands `${NAME}` and `${NAME:-default}`; `$${` is a literal `${`.
pub fn interpolate(text: &str, env: &dyn Env) -> Result<String, String> {
    if !text.contains("${") {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if rest[..pos].ends_with('$') {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unterminated `${{` in `{text}`"));
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!(
                "`${{{inner}}}`: `{name}` is not a valid environment variable name"
            ));
        }
        match (env.var(name), default) {
            (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "environment variable `{name}` is not set (give a default with `${{{name}:-default}}`)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([
            ("HOST".to_owned(), "es1".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ])
    }

    #[test]
    fn interpolation_forms() {
        let e = env();
        assert_eq!(
            interpolate("http://${HOST}:9200", &e).unwrap(),
            "http://es1:9200"
        );
        assert_eq!(interpolate("${PORT:-9200}", &e).unwrap(), "9200");
        assert_eq!(interpolate("${EMPTY:-x}", &e).unwrap(), "x");
        assert_eq!(interpolate("$${HOST}", &e).unwrap(), "${HOST}");
        assert!(
            interpolate("${MISSING}", &e)
                .unwrap_err()
                .contains("MISSING")
        );
        assert!(interpolate("${HOST", &e).is_err());
        assert!(interpolate("${1X}", &e).is_err());
    }

    #[test]
    fn nodes_keep_positions() {
        let n = parse("name: x\ninputs:\n  - stdin: {}\n", &env()).unwrap();
        let inputs = n.get("inputs").unwrap();
        assert_eq!(inputs.mark.line, 3);
        let NodeKind::Seq(items) = &inputs.kind else {
            panic!()
        };
        assert_eq!(items[0].mark, Mark { line: 3, col: 5 });
    }

    #[test]
    fn duplicate_keys_and_bad_yaml_are_errors() {
        let e = parse("a: 1\na: 2\n", &env()).unwrap_err();
        assert_eq!(e.mark, Some(Mark { line: 2, col: 1 }));
        assert!(e.message.contains("duplicate key `a`"));
        let e = parse("a: [1, 2\n", &env()).unwrap_err();
        assert!(e.message.starts_with("invalid YAML"), "{e}");
        assert!(e.mark.is_some());
    }

    #[test]
    fn interpolation_error_points_at_the_value() {
        let e = parse("a:\n  b: ${NOPE}\n", &env()).unwrap_err();
        assert_eq!(e.mark, Some(Mark { line: 2, col: 6 }));
    }

    #[test]
    fn null_as_a_key_is_text() {
        let n = parse("outputs:\n  - null: {}\n", &env()).unwrap();
        let NodeKind::Seq(items) = &n.get("outputs").unwrap().kind else {
            panic!()
        };
        assert!(items[0].get("null").is_some());
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let n = parse("a: '5'\nb: 5\nc: ~\n", &env()).unwrap();
        assert!(matches!(
            &n.get("a").unwrap().kind,
            NodeKind::Scalar { plain: false, .. }
        ));
        assert!(matches!(
            &n.get("b").unwrap().kind,
            NodeKind::Scalar { plain: true, .. }
        ));
        assert!(matches!(&n.get("c").unwrap().kind, NodeKind::Null));
    }
}
