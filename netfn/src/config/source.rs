//! [`ConfigSource`]: the text of a YAML configuration file, parsed into any `serde` type with
//! errors that say **file, line and reason** ([`ConfigError`]).
//!
//! Two kinds of error carry a location:
//! - syntax and type errors (bad YAML, unknown key, a port that is not a number, a value a
//!   field's own `Deserialize` refuses): serde_yaml reports line and column; put checks on a
//!   single value into the type (a newtype with `try_from`) and they get a location for free;
//! - checks across values (duplicate names, an empty pool), done after parsing: name the value
//!   with a path such as `backends[2].weight` and [`ConfigSource::error_at`] finds its line in
//!   the block-style YAML text (the nearest enclosing key it can find, if not the value itself).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A configuration that cannot be used, and where the problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<command line>`).
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    /// An error about the file as a whole (cannot be read, ...).
    pub fn file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            line: None,
            column: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// A configuration file's path and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSource {
    path: PathBuf,
    text: String,
}

impl ConfigSource {
    /// Read `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))?;
        Ok(ConfigSource {
            path: path.to_owned(),
            text,
        })
    }

    /// A source from text (tests; configuration built in memory). `path` names it in errors.
    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        ConfigSource {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Deserialize the whole document. An empty document (or only comments) deserializes as an
    /// empty mapping, so a type whose fields all have defaults accepts it.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let parsed: Option<T> =
            serde_yaml::from_str(&self.text).map_err(|e| self.yaml_error(&e))?;
        match parsed {
            Some(value) => Ok(value),
            None => serde_yaml::from_str("{}").map_err(|e| self.yaml_error(&e)),
        }
    }

    /// An error about the value at `key_path` (`listen`, `health.interval_ms`,
    /// `backends[2].weight`), located on its line when it can be found.
    pub fn error_at(&self, key_path: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.clone(),
            line: line_of_path(&self.text, key_path),
            column: None,
            reason: reason.into(),
        }
    }

    /// `relative` resolved against the file's directory (absolute paths unchanged).
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        if relative.is_absolute() {
            return relative.to_owned();
        }
        self.path
            .parent()
            .map_or_else(|| relative.to_owned(), |dir| dir.join(relative))
    }

    fn yaml_error(&self, error: &serde_yaml::Error) -> ConfigError {
        let location = error.location();
        ConfigError {
            path: self.path.clone(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            reason: strip_location(&error.to_string()),
        }
    }
}

/// serde_yaml appends " at line L column C" to its messages; the location is printed first.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Split `backends[2].weight` into `Key(backends) Index(2) Key(weight)`.
fn steps(key_path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in key_path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            if let Ok(index) = inner[..end].trim().parse() {
                out.push(Step::Index(index));
            }
            rest = &inner[end + 1..];
        }
    }
    out
}

/// A line of the document as the locator sees it: indentation and content (a sequence item's
/// `- ` counts as indentation once the item is entered).
#[derive(Clone, Debug)]
struct Line {
    indent: usize,
    content: String,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.content.is_empty() || self.content.starts_with('#')
    }

    fn is_item(&self) -> bool {
        self.content == "-" || self.content.starts_with("- ")
    }

    fn has_key(&self, key: &str) -> bool {
        let unquoted = self
            .content
            .strip_prefix(key)
            .or_else(|| {
                self.content
                    .strip_prefix('"')
                    .and_then(|c| c.strip_prefix(key))
                    .and_then(|c| c.strip_prefix('"'))
            })
            .or_else(|| {
                self.content
                    .strip_prefix('\'')
                    .and_then(|c| c.strip_prefix(key))
                    .and_then(|c| c.strip_prefix('\''))
            });
        unquoted.is_some_and(|rest| rest.trim_start().starts_with(':'))
    }
}

/// The 1-based line of the value at `key_path` in block-style YAML `text`: the deepest step of
/// the path that can be found (so a path into a flow value names the line of its key).
pub fn line_of_path(text: &str, key_path: &str) -> Option<usize> {
    let mut lines: Vec<Line> = text
        .lines()
        .map(|raw| {
            let trimmed = raw.trim_start_matches(' ');
            Line {
                indent: raw.len() - trimmed.len(),
                content: trimmed.trim_end().to_owned(),
            }
        })
        .collect();
    let mut region = 0..lines.len();
    let mut found = None;
    for step in steps(key_path) {
        let Some(child_indent) = lines[region.clone()]
            .iter()
            .filter(|l| !l.is_blank())
            .map(|l| l.indent)
            .min()
        else {
            break;
        };
        let at_child = |l: &Line| !l.is_blank() && l.indent == child_indent;
        let hit = match step {
            Step::Key(key) => region
                .clone()
                .find(|&i| at_child(&lines[i]) && lines[i].has_key(key)),
            Step::Index(n) => region
                .clone()
                .filter(|&i| at_child(&lines[i]) && lines[i].is_item())
                .nth(n),
        };
        let Some(at) = hit else { break };
        found = Some(at + 1);
        // The value's region: the following lines indented deeper than the entry (for a
        // key, also a sequence written at the key's own indentation).
        let is_key = matches!(step, Step::Key(_));
        let end = (at + 1..region.end)
            .find(|&i| {
                let l = &lines[i];
                !l.is_blank()
                    && (l.indent < child_indent
                        || (l.indent == child_indent && !(is_key && l.is_item())))
            })
            .unwrap_or(region.end);
        if is_key {
            region = at + 1..end;
        } else {
            // Enter the item: its `- ` becomes indentation, and its first line belongs to it.
            let item = &mut lines[at];
            let content = item.content[1..].trim_start().to_owned();
            item.indent += item.content.len() - content.len();
            item.content = content;
            region = at..end;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# a balancer
listen: [\"127.0.0.1:4433\"]
health:
  interval_ms: 500
  # comment: fall
  fall: 2
backends:
  - name: a
    address: 127.0.0.1:1
  - name: b
    weight: 0
    address: 127.0.0.1:2
flat:
- x: 1
- x: 2
";

    #[test]
    fn nested_keys_and_items_are_found_on_their_lines() {
        assert_eq!(line_of_path(DOC, "listen"), Some(2));
        assert_eq!(line_of_path(DOC, "health.fall"), Some(6));
        assert_eq!(line_of_path(DOC, "backends[0]"), Some(8));
        assert_eq!(line_of_path(DOC, "backends[0].name"), Some(8));
        assert_eq!(line_of_path(DOC, "backends[1].weight"), Some(11));
        assert_eq!(line_of_path(DOC, "backends[1].address"), Some(12));
        assert_eq!(line_of_path(DOC, "flat[1].x"), Some(15));
    }

    #[test]
    fn missing_steps_fall_back_to_the_nearest_found() {
        assert_eq!(line_of_path(DOC, "backends[1].drain"), Some(10));
        assert_eq!(line_of_path(DOC, "listen[1]"), Some(2));
        assert_eq!(line_of_path(DOC, "nothing"), None);
        assert_eq!(line_of_path(DOC, "health.interval_ms.deeper"), Some(4));
    }

    #[test]
    fn syntax_errors_carry_file_line_and_column() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Small {
            #[allow(dead_code)]
            port: u16,
        }
        let source = ConfigSource::from_text("/etc/x.yaml", "\nport: 70000\n");
        let error = source.parse::<Small>().expect_err("out of range");
        assert_eq!(error.line, Some(2));
        assert!(error.to_string().starts_with("/etc/x.yaml:2:"), "{error}");
        let unknown = ConfigSource::from_text("x.yaml", "port: 1\nprot: 2\n");
        let error = unknown.parse::<Small>().expect_err("unknown key");
        assert_eq!(error.line, Some(2));
        assert!(error.reason.contains("unknown field `prot`"), "{error}");
    }

    #[test]
    fn empty_document_is_an_empty_mapping() {
        #[derive(Debug, Default, serde::Deserialize, PartialEq)]
        struct AllDefault {
            #[serde(default)]
            workers: usize,
        }
        let source = ConfigSource::from_text("x.yaml", "# nothing\n");
        assert_eq!(source.parse::<AllDefault>(), Ok(AllDefault::default()));
    }

    #[test]
    fn error_display_is_file_line_reason() {
        let source = ConfigSource::from_text("b.yaml", DOC);
        let error = source.error_at("backends[1].weight", "weight must be at least 1");
        assert_eq!(error.to_string(), "b.yaml:11: weight must be at least 1");
    }
}
