//! What goes wrong when a scenario file is read, and how it is shown.
//!
//! Every message starts with `file:line:col`, says what was found and what was expected, and
//! shows the offending source line with a caret under the column, so it reads like a compiler
//! diagnostic and editors can jump to it.

use std::fmt;
use std::path::PathBuf;

/// A scenario file that could not be read, parsed, or validated.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read the scenario: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than a scenario may be.
    #[error("{path}: the scenario is {len} bytes; the limit is {limit}")]
    TooLarge { path: PathBuf, len: u64, limit: u64 },
    /// Not valid YAML, or not the shape of a scenario (unknown step or field, wrong type,
    /// bad value, missing field).
    #[error("{0}")]
    Syntax(Diagnostic),
    /// Well-formed, but wrong: a missing image file, a step the layout cannot do, a group
    /// member that is not a device, …. Every problem found is listed.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ScenarioError {
    /// Every diagnostic (one for a syntax error, all problems for a validation error).
    pub fn diagnostics(&self) -> Vec<&Diagnostic> {
        match self {
            ScenarioError::Syntax(d) => vec![d],
            ScenarioError::Invalid(all) => all.iter().collect(),
            _ => Vec::new(),
        }
    }
}

struct Problems<'a>(&'a [Diagnostic]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// One problem at one place in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or the name given to `Scenario::from_str`).
    pub file: String,
    /// 1-based line; 0 if unknown.
    pub line: u64,
    /// 1-based column; 0 if unknown.
    pub column: u64,
    /// Where in the scenario, e.g. `step 3 (upload)`; empty if not within a step.
    pub context: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// The source around the position, with a caret (already formatted).
    pub snippet: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": ")?;
        if !self.context.is_empty() {
            write!(f, "{}: ", self.context)?;
        }
        write!(f, "{}", self.message)?;
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

/// The source line `line` (1-based) with its number, and a caret under `column`.
pub(crate) fn snippet(source: &str, line: u64, column: u64) -> String {
    let Some(text) =
        usize::try_from(line).ok().and_then(|l| l.checked_sub(1)).and_then(|l| source.lines().nth(l))
    else {
        return String::new();
    };
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let caret_at = usize::try_from(column.saturating_sub(1)).unwrap_or(0).min(text.chars().count());
    // Keep tabs so the caret lines up under tab-indented text.
    let lead: String = text.chars().take(caret_at).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    format!("{pad} |\n{number} | {text}\n{pad} | {lead}^")
}

/// The first place at or after line `from` (1-based; 0 means the start) where `needle` is
/// written, as (line, column).
pub(crate) fn find(source: &str, needle: &str, from: u64) -> Option<(u64, u64)> {
    let skip = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
    source.lines().enumerate().skip(skip).find_map(|(i, text)| {
        let at = text.find(needle)?;
        Some((i as u64 + 1, text[..at].chars().count() as u64 + 1))
    })
}

/// The plain scalar written at (line, column): up to the next `,`, `}`, `]`, ` #` or the end of
/// the line.
pub(crate) fn token_at(source: &str, line: u64, column: u64) -> Option<&str> {
    let text = source.lines().nth(usize::try_from(line.checked_sub(1)?).ok()?)?;
    let start = text.char_indices().nth(usize::try_from(column.checked_sub(1)?).ok()?)?.0;
    let rest = &text[start..];
    let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
    let end = rest[..end].find(" #").unwrap_or(end);
    let token = rest[..end].trim();
    (!token.is_empty()).then_some(token)
}
