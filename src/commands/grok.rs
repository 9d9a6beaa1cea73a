//! `ganymede grok`: a grok debugger. Compiles one expression the way the
//! `grok` filter does and prints, for each line of standard input, the
//! fields it captures as one JSON line (`null` when the line does not
//! match, or when a backtracking search reaches its bound, which is also
//! said on standard error).

use crate::event::json;
use crate::filters::grok::{
    CompileOptions, CompiledGrok, EcsMode, RegexEngine, backtrack_steps, compile_expression_with,
    read_patterns_dir,
};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// What `ganymede grok` was asked to do.
#[derive(Debug, Clone)]
pub struct GrokOptions {
    pub expression: String,
    pub ecs: EcsMode,
    /// Folders (or single files) of `NAME regex` lines, read in order.
    pub patterns_dirs: Vec<PathBuf>,
    /// `NAME=REGEX` definitions; they win over the library and the files.
    pub definitions: Vec<(String, String)>,
    /// As the filter's `regex_engine`.
    pub regex_engine: RegexEngine,
    /// As the filter's `timeout_millis`: the bound of one backtracking
    /// search.
    pub timeout_millis: u64,
}

/// Reads `--regex-engine`: `linear` or `backtracking`.
pub fn parse_engine(text: &str) -> Result<RegexEngine, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "linear" => Ok(RegexEngine::Linear),
        "backtracking" => Ok(RegexEngine::Backtracking),
        other => Err(format!(
            "unknown regex engine `{other}`; expected `linear` or `backtracking`"
        )),
    }
}

/// Reads `--ecs`: `v1` (or `v8`) for ECS field names, `disabled` for the
/// legacy ones.
pub fn parse_ecs(text: &str) -> Result<EcsMode, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "v1" | "v8" => Ok(EcsMode::V1),
        "disabled" | "legacy" | "off" => Ok(EcsMode::Disabled),
        other => Err(format!(
            "unknown ECS mode `{other}`; expected `v1` or `disabled`"
        )),
    }
}

/// Reads one `--pattern-definition NAME=REGEX`.
pub fn parse_definition(text: &str) -> Result<(String, String), String> {
    let Some((name, regex)) = text.split_once('=') else {
        return Err(format!("expected NAME=REGEX, found `{text}`"));
    };
    let name = name.trim();
    if !valid_pattern_name(name) {
        return Err(format!(
            "invalid pattern name `{name}`: use letters, digits, `_` and `-`"
        ));
    }
    if regex.is_empty() {
        return Err(format!("the definition of `{name}` is empty"));
    }
    Ok((name.to_owned(), regex.to_owned()))
}

fn valid_pattern_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Compiles the expression with the files' definitions, then the inline
/// ones (which win, as `pattern_definitions` do in the filter).
pub fn compile(opts: &GrokOptions) -> Result<CompiledGrok, String> {
    let mut extra = Vec::new();
    for dir in &opts.patterns_dirs {
        extra.extend(read_patterns_dir(dir, "*")?);
    }
    extra.extend(opts.definitions.iter().cloned());
    let options = CompileOptions {
        backtrack_limit: (opts.regex_engine == RegexEngine::Backtracking)
            .then(|| backtrack_steps(opts.timeout_millis.max(1))),
        ..CompileOptions::default()
    };
    compile_expression_with(&opts.expression, opts.ecs, &extra, options).map_err(|e| e.to_string())
}

/// Appends the JSON line for one input line: the captures, or `null`.
/// Returns `false` if a backtracking search reached its bound.
pub fn capture_line(grok: &CompiledGrok, line: &str, out: &mut Vec<u8>) -> bool {
    let captured = grok.try_capture(line);
    match &captured {
        Ok(Some(fields)) => json::write_map(out, fields),
        Ok(None) | Err(_) => out.extend_from_slice(b"null"),
    }
    out.push(b'\n');
    captured.is_ok()
}

/// Runs the debugger over `input`. Returns the exit code: 0, or 1 when
/// the expression does not compile or the streams fail.
pub fn grok(
    opts: &GrokOptions,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let grok = match compile(opts) {
        Ok(g) => g,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return 1;
        }
    };
    let mut raw = Vec::new();
    let mut line_out = Vec::new();
    let mut number = 0u64;
    loop {
        number += 1;
        raw.clear();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) => return 0,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "error: cannot read standard input: {e}");
                return 1;
            }
        }
        if raw.last() == Some(&b'\n') {
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
        }
        let line = String::from_utf8_lossy(&raw);
        line_out.clear();
        if !capture_line(&grok, &line, &mut line_out) {
            let _ = writeln!(
                err,
                "line {number}: the backtracking search reached its bound (--timeout-millis {}); a grok filter would tag the event `_groktimeout`",
                opts.timeout_millis
            );
        }
        // One answer per line as soon as it is known, for interactive use.
        if let Err(e) = out.write_all(&line_out).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return 0;
            }
            let _ = writeln!(err, "error: cannot write: {e}");
            return 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, ecs: EcsMode, input: &str) -> (i32, String, String) {
        run_with(expr, ecs, RegexEngine::Linear, input)
    }

    fn run_with(
        expr: &str,
        ecs: EcsMode,
        regex_engine: RegexEngine,
        input: &str,
    ) -> (i32, String, String) {
        let opts = GrokOptions {
            expression: expr.to_owned(),
            ecs,
            patterns_dirs: Vec::new(),
            definitions: vec![("ORDER".to_owned(), r"ORD-\d+".to_owned())],
            regex_engine,
            timeout_millis: 10,
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = grok(&opts, &mut input.as_bytes(), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn one_json_line_per_input_line() {
        let (code, out, _) = run(
            "%{ORDER:[order][id]} %{INT:n:int}",
            EcsMode::V1,
            "ORD-7 12\r\nnothing\nORD-8 x\n",
        );
        assert_eq!(code, 0);
        assert_eq!(out, "{\"order\":{\"id\":\"ORD-7\"},\"n\":12}\nnull\nnull\n");
    }

    #[test]
    fn a_bad_expression_is_reported() {
        let (code, out, err) = run("%{NOPE:x}", EcsMode::V1, "a\n");
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert!(err.contains("unknown grok pattern `NOPE`"), "{err}");
    }

    #[test]
    fn the_backtracking_engine_is_opt_in() {
        let expr = r"^(?<w>\w+\s?(?=\w|\s|$))*$";
        let (code, _, err) = run(expr, EcsMode::V1, "a\n");
        assert_eq!(code, 1);
        assert!(err.contains("regex_engine: backtracking"), "{err}");
        let long = format!("two words\n{}!\n", "a".repeat(64));
        let (code, out, err) = run_with(expr, EcsMode::V1, RegexEngine::Backtracking, &long);
        assert_eq!(code, 0);
        assert_eq!(out, "{\"w\":\"words\"}\nnull\n");
        assert!(
            err.contains("line 2: the backtracking search reached its bound"),
            "{err}"
        );
    }

    #[test]
    fn definitions_and_modes_are_read() {
        assert_eq!(parse_engine("Backtracking"), Ok(RegexEngine::Backtracking));
        assert!(parse_engine("pcre").is_err());
        assert_eq!(parse_ecs("disabled"), Ok(EcsMode::Disabled));
        assert_eq!(parse_ecs("V1"), Ok(EcsMode::V1));
        assert!(parse_ecs("v2").is_err());
        assert_eq!(
            parse_definition("A_B=x=y").unwrap(),
            ("A_B".to_owned(), "x=y".to_owned())
        );
        assert!(parse_definition("A B=x").is_err());
        assert!(parse_definition("AB").is_err());
    }
}
