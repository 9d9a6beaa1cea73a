//! Configuration errors that say where and what.
//!
//! Every error carries the file, the 1-based line and column, the dotted key
//! path to the offending value (`inputs[0].file.paths`), what is wrong and,
//! for a misspelt key, the nearest valid one.

use std::fmt;
use std::path::PathBuf;

/// A position in a pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One thing wrong with a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub mark: Option<Mark>,
    /// Dotted path of the key whose value is wrong, e.g. `outputs[1].file.path`.
    pub key: String,
    pub message: String,
    /// The nearest valid key, for a misspelt one.
    pub suggestion: Option<String>,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            mark: None,
            key: String::new(),
            message: message.into(),
            suggestion: None,
        }
    }

    pub fn at(mut self, mark: Mark) -> Self {
        if self.mark.is_none() {
            self.mark = Some(mark);
        }
        self
    }

    /// Prefixes the key path with `parent` (`parent.key` or `parent[i]`).
    pub fn under(mut self, parent: &str) -> Self {
        if parent.is_empty() {
            return self;
        }
        self.key = if self.key.is_empty() {
            parent.to_owned()
        } else if self.key.starts_with('[') {
            format!("{parent}{}", self.key)
        } else {
            format!("{parent}.{}", self.key)
        };
        self
    }

    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }

    pub fn with_suggestion(mut self, s: Option<String>) -> Self {
        self.suggestion = s;
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.mark) {
            (Some(file), Some(m)) => write!(f, "{}:{}: ", file.display(), m)?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(m)) => write!(f, "{m}: ")?,
            (None, None) => {}
        }
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in one or more pipeline files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// `Ok(value)` when no error was collected.
    pub fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The candidate nearest to `unknown`, if it is plausibly a misspelling.
pub fn nearest<'a>(unknown: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(unknown, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len().max(unknown.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(
            nearest("pahts", ["paths", "fields", "tags"]),
            Some("paths".into())
        );
        assert_eq!(
            nearest("fileds", ["paths", "fields"]),
            Some("fields".into())
        );
        assert_eq!(nearest("zzzzzz", ["paths", "fields"]), None);
    }

    #[test]
    fn display_names_file_line_column_and_key() {
        let e = ConfigError::new("unknown key `pahts`")
            .at(Mark { line: 3, col: 7 })
            .under("file")
            .under("inputs[0]")
            .in_file("p.yml")
            .with_suggestion(Some("paths".into()));
        assert_eq!(
            e.to_string(),
            "p.yml:3:7: `inputs[0].file`: unknown key `pahts` (did you mean `paths`?)"
        );
    }
}
