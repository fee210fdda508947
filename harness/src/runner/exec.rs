//! `exec`: run an external program — usually a third-party SMP client such as `smpmgr` or
//! `mcumgrctl` — against the device, and check how it ended.
//!
//! ```text
//!  "smpmgr --port {pty} image upload {image}"
//!        │ split (POSIX quoting, no shell)
//!        ▼
//!  [smpmgr] [--port] [{pty}] [image] [upload] [{image}]
//!        │ placeholders, word by word          ExecContext: pty, udp, image, dir, cwd
//!        ▼
//!  [/work/.venv/bin/smpmgr] [--port] [/dev/pts/7] … [/abs/app-2.0.0.bin]
//!        │ spawn: own process group, stdin null, cwd, env
//!        ▼
//!  exit code ─▶ stdout checks ─▶ stderr checks ─▶ StepStatus
//!  (first 1 MiB of each stream kept; after the time limit the process group is killed)
//! ```
//!
//! **No shell runs.** The command is split into words the way a POSIX shell splits them
//! (single quotes, double quotes, backslashes, `#` comments; newlines count as blanks) and
//! nothing else a shell does happens: no variables, no globs, no pipes. Shell syntax that would
//! need a shell — an unquoted `|`, `&`, `;`, `<`, `>`, `(`, `)`, a `$NAME`, a backquote — is an
//! error that says to quote it or to write `sh -c '...'`. `*`, `?`, `[` and `~` stay literal.
//!
//! **Placeholders** are replaced in each word after splitting, so a path with spaces stays one
//! word: `{pty}`, `{ip}`, `{port}`, `{addr}` (`ip:port`), `{image}` (absolute path), `{hash}`
//! (the image's SHA-256 image hash, hex), `{dir}`. `{{` and `}}` are literal braces (also
//! inside quotes: braces are always placeholder syntax).
//!
//! **Where programs are found.** A name with a `/` is a path, relative to the working
//! directory. Any other name is looked up in, in order:
//! 1. `$BROWNOUT_VENV/bin` when that variable is set, else the nearest `.venv/bin` in the
//!    working directory or a directory above it (the workspace's Python venv, where `smpmgr`
//!    and `imgtool` live) — as `testkit` finds peers;
//! 2. each directory of `PATH` (the step's `env: {PATH: ...}` if it sets one).
//!
//! When a venv `bin` exists it is also put first on the child's `PATH`, as activating the venv
//! would, so `sh -c 'smpmgr ...'` runs the same program.
//!
//! **Environment**: the runner's own, then `NO_COLOR=1`, `TERM=dumb` and `COLUMNS=200` (clients
//! print plain, unwrapped text that checks can match), then the step's `env`, which wins.
//!
//! **Process group.** The command runs in a process group of its own. When it exits, when its
//! time is up, or when the step is abandoned (the future dropped), the whole group is killed,
//! so nothing it started (`sleep 60 &`) outlives the step or keeps its output pipes open.

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStderr, ChildStdout};

use super::report::{StepStatus, human};
use super::steps::{check_text, file_image_hash};
use crate::scenario::{EXEC_PLACEHOLDERS, ExecStep, MAX_DEVICE_FILE};

/// How much of each output stream is kept for the checks (the rest is read and counted).
pub const MAX_CAPTURE: usize = 1 << 20;

/// The environment variable naming a Python venv to look for programs in first.
pub const VENV_VAR: &str = "BROWNOUT_VENV";

/// Set for every command (the step's `env` may override them): plain text, no wrapping.
pub const DEFAULT_ENV: &[(&str, &str)] = &[("NO_COLOR", "1"), ("TERM", "dumb"), ("COLUMNS", "200")];

/// How to get the clients scenarios usually run, for the "not found" message.
const INSTALL_HINTS: &[(&str, &str)] = &[
    ("smpmgr", "pip install smpmgr, into the workspace's .venv"),
    ("smpclient", "pip install smpclient, into the workspace's .venv"),
    ("imgtool", "pip install imgtool, into the workspace's .venv"),
    ("mcumgrctl", "bash ci/install-peers.sh, or cargo install mcumgrctl --locked --no-default-features"),
    ("mcumgr", "go install github.com/apache/mynewt-mcumgr-cli/mcumgr@latest"),
];

/// Bytes of each stream's end kept for failure messages.
const TAIL_BYTES: usize = 4096;
/// Lines of each stream's end shown in a failure.
const TAIL_LINES: usize = 20;
/// Longest line shown in a failure (longer ones are cut with `…`).
const SHOWN_LINE: usize = 200;
/// Longest command shown in notes and messages.
const SHOWN_COMMAND: usize = 160;
/// After the command ended, how long what it wrote may take to arrive.
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// How long a killed command may take to be reaped.
const REAP_LIMIT: Duration = Duration::from_secs(5);

/// What the placeholders of one `exec` step become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecContext {
    /// The device's serial port (`{pty}`): the PTY of
    /// [`Endpoints`](super::endpoints::Endpoints) on the simulator.
    pub pty: Option<PathBuf>,
    /// The device's UDP address (`{addr}`, `{ip}`, `{port}`).
    pub udp: Option<SocketAddr>,
    /// The step's `image`, resolved against the scenario's directory (`{image}`, `{hash}`):
    /// as [`Scenario::resolve`](crate::scenario::Scenario::resolve) gives it, absolute or
    /// relative to the runner's own current directory (not to `cwd`).
    pub image: Option<PathBuf>,
    /// What `{dir}` becomes.
    pub dir: PathBuf,
    /// The command's working directory (the scenario file's directory; absolute, or relative
    /// to the runner's current directory): relative program paths in the command are resolved
    /// here, and the search for a `.venv` starts here. Empty: the runner's own directory.
    pub cwd: PathBuf,
}

impl ExecContext {
    /// A context with no device endpoints and no image, working in `cwd` (also `{dir}`).
    pub fn new(cwd: impl Into<PathBuf>) -> ExecContext {
        let cwd = cwd.into();
        ExecContext { pty: None, udp: None, image: None, dir: cwd.clone(), cwd }
    }
}

/// Why an `exec` command cannot be run as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// Only blanks (or a comment).
    #[error("the command is empty")]
    Empty,
    /// A quote that is never closed.
    #[error("the quote `{quote}` at character {at} is never closed")]
    UnterminatedQuote {
        /// `'` or `"`.
        quote: char,
        /// 1-based position in the command, in characters.
        at: usize,
    },
    /// A backslash with nothing after it.
    #[error("the command ends in a lone backslash")]
    TrailingBackslash,
    /// Syntax only a shell understands (and none runs).
    #[error(
        "`{op}` at character {at} needs a shell, and exec runs none: quote it to pass it on as \
         it is, or write the command as sh -c '...'"
    )]
    ShellSyntax {
        /// The character (`|`, `;`, `$`, …).
        op: char,
        /// 1-based position in the command, in characters.
        at: usize,
    },
    /// `{name}` with a name exec does not know.
    #[error("unknown placeholder `{{{name}}}`; the placeholders are {}", known_placeholders())]
    UnknownPlaceholder {
        /// The name between the braces.
        name: String,
    },
    /// A known placeholder this step or target cannot fill.
    #[error("placeholder `{{{name}}}` cannot be filled: {why}")]
    Unavailable {
        /// The placeholder.
        name: String,
        /// Why, in words.
        why: String,
    },
    /// A `{` that does not start `{name}` or `{{`.
    #[error("unclosed or malformed placeholder in {word:?} (write `{{{{` for a literal brace)")]
    UnclosedBrace {
        /// The word, as split.
        word: String,
    },
    /// A `}` that is neither the end of a placeholder nor `}}`.
    #[error("a lone `}}` in {word:?} (write `}}}}` for a literal brace)")]
    LoneBrace {
        /// The word, as split.
        word: String,
    },
    /// The program is on none of the searched paths.
    #[error("program `{name}` not found {searched}{}", install_hint(name))]
    ProgramNotFound {
        /// The program as written.
        name: String,
        /// Where it was looked for, in words ("on PATH", "in /x/.venv/bin or on PATH").
        searched: String,
    },
}

/// `{pty}, {ip}, …`, for messages.
fn known_placeholders() -> String {
    EXEC_PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
}

/// ` (install: …)` for a client whose installation is known, else nothing.
fn install_hint(name: &str) -> String {
    INSTALL_HINTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, how)| format!(" (install: {how})"))
        .unwrap_or_default()
}

// ------------------------------------------------------------------ splitting

/// Split `command` into words as a POSIX shell would, without running one: blanks (spaces,
/// tabs, newlines) separate words; `'…'` keeps everything literally; `"…"` keeps everything but
/// `\` before `$`, `` ` ``, `"`, `\` or a newline; a `\` outside quotes keeps the next
/// character (and a `\` before a newline joins lines); `#` at the start of a word comments out
/// the rest of its line. Syntax that needs a shell is an [`ExecError::ShellSyntax`].
pub fn split(command: &str) -> Result<Vec<String>, ExecError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word has begun, even if it is still empty (`''` is an empty word).
    let mut in_word = false;
    let mut chars = command.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let at = i + 1;
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, c)) => {
                    word.push(c);
                    in_word = true;
                }
                None => return Err(ExecError::TrailingBackslash),
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => word.push(c),
                        None => return Err(ExecError::UnterminatedQuote { quote: '\'', at }),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek().map(|&(_, c)| c) {
                            Some(c @ ('$' | '`' | '"' | '\\')) => {
                                chars.next();
                                word.push(c);
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some((j, '`')) => return Err(ExecError::ShellSyntax { op: '`', at: j + 1 }),
                        Some((j, '$')) if expands(chars.peek().map(|&(_, c)| c)) => {
                            return Err(ExecError::ShellSyntax { op: '$', at: j + 1 });
                        }
                        Some((_, c)) => word.push(c),
                        None => return Err(ExecError::UnterminatedQuote { quote: '"', at }),
                    }
                }
            }
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '`' => {
                return Err(ExecError::ShellSyntax { op: c, at });
            }
            '$' if expands(chars.peek().map(|&(_, c)| c)) => {
                return Err(ExecError::ShellSyntax { op: '$', at });
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(ExecError::Empty);
    }
    Ok(words)
}

/// Would a shell expand a `$` followed by `next` (a variable, `${…}`, `$(…)`, `$?`, …)?
fn expands(next: Option<char>) -> bool {
    next.is_some_and(|c| c.is_ascii_alphanumeric() || "_{(@*#?$!-".contains(c))
}

// ------------------------------------------------------------------ placeholders

/// Replace the placeholders of one word, asking `value` for each name.
fn fill(word: &str, value: &mut dyn FnMut(&str) -> Result<String, ExecError>) -> Result<String, ExecError> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.next_if_eq(&'{').is_some() => out.push('{'),
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        _ => return Err(ExecError::UnclosedBrace { word: word.to_string() }),
                    }
                }
                out.push_str(&value(&name)?);
            }
            '}' if chars.next_if_eq(&'}').is_some() => out.push('}'),
            '}' => return Err(ExecError::LoneBrace { word: word.to_string() }),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The placeholders `command` uses, each once, in order of first use. Errors as [`expand`]
/// would give them for a command that cannot be split or names an unknown placeholder.
pub fn placeholders(command: &str) -> Result<Vec<&'static str>, ExecError> {
    let mut used: Vec<&'static str> = Vec::new();
    for word in split(command)? {
        fill(&word, &mut |name| match EXEC_PLACEHOLDERS.iter().find(|p| **p == name) {
            Some(p) => {
                if !used.contains(p) {
                    used.push(p);
                }
                Ok(String::new())
            }
            None => Err(ExecError::UnknownPlaceholder { name: name.to_string() }),
        })?;
    }
    Ok(used)
}

/// Split `command` (see [`split`]) and replace the placeholders in every word from `ctx`;
/// `image_hash` is what `{hash}` becomes (in hex). An unknown placeholder, or one `ctx`
/// cannot fill (`{pty}` on a UDP-only target), is an error naming it.
pub fn expand(command: &str, ctx: &ExecContext, image_hash: Option<&[u8]>) -> Result<Vec<String>, ExecError> {
    let mut value = |name: &str| placeholder_value(name, ctx, image_hash);
    split(command)?.iter().map(|w| fill(w, &mut value)).collect()
}

fn placeholder_value(name: &str, ctx: &ExecContext, image_hash: Option<&[u8]>) -> Result<String, ExecError> {
    let unavailable = |why: &str| ExecError::Unavailable { name: name.to_string(), why: why.to_string() };
    let no_udp = "the target gives the device no UDP address (it is reached over a serial port only)";
    let no_image = "the step has no `image`";
    match name {
        "pty" => ctx.pty.as_ref().map(|p| p.display().to_string()).ok_or_else(|| {
            unavailable("the target gives the device no PTY or serial port (it is reached over UDP only)")
        }),
        "ip" => ctx.udp.map(|a| a.ip().to_string()).ok_or_else(|| unavailable(no_udp)),
        "port" => ctx.udp.map(|a| a.port().to_string()).ok_or_else(|| unavailable(no_udp)),
        "addr" => ctx.udp.map(|a| a.to_string()).ok_or_else(|| unavailable(no_udp)),
        "image" => {
            ctx.image.as_ref().map(|p| absolute(p).display().to_string()).ok_or_else(|| unavailable(no_image))
        }
        "hash" => match (image_hash, &ctx.image) {
            (Some(h), _) => Ok(hex::encode(h)),
            (None, None) => Err(unavailable(no_image)),
            (None, Some(p)) => Err(unavailable(&format!(
                "{} has no image hash (it must be an MCUboot image with a SHA-256 TLV)",
                p.display()
            ))),
        },
        "dir" => Ok(ctx.dir.display().to_string()),
        _ => Err(ExecError::UnknownPlaceholder { name: name.to_string() }),
    }
}

/// `path` made absolute against the current directory (unchanged if that fails).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

// ------------------------------------------------------------------ programs

/// The venv `bin` directory programs are looked for in first: `venv_var/bin` when the
/// [`VENV_VAR`] variable gives a venv, else the nearest `.venv/bin` directory in `cwd` or a
/// directory above it.
pub fn venv_bin(cwd: &Path, venv_var: Option<&Path>) -> Option<PathBuf> {
    if let Some(v) = venv_var.filter(|v| !v.as_os_str().is_empty()) {
        return Some(v.join("bin"));
    }
    absolute(cwd).ancestors().map(|d| d.join(".venv").join("bin")).find(|b| b.is_dir())
}

/// Find `name`: a path if it has a `/` (relative to `cwd`), else the first executable file
/// called `name` in `venv_bin`, then in the directories of `path` (a `PATH` value).
pub fn find_program(
    name: &str,
    cwd: &Path,
    venv_bin: Option<&Path>,
    path: Option<&OsStr>,
) -> Result<PathBuf, ExecError> {
    if name.contains('/') {
        let p = cwd.join(name);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(ExecError::ProgramNotFound {
                name: name.to_string(),
                searched: format!("(no executable file at {})", absolute(&p).display()),
            })
        };
    }
    let path_dirs = path.map(|p| std::env::split_paths(p).collect::<Vec<_>>()).unwrap_or_default();
    for dir in venv_bin.map(Path::to_path_buf).into_iter().chain(path_dirs) {
        // An empty PATH entry means the working directory.
        let dir = if dir.as_os_str().is_empty() { cwd.to_path_buf() } else { dir };
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    let searched = match venv_bin {
        Some(v) => format!("in {} or on PATH", v.display()),
        None => "on PATH (and there is no .venv/bin above the scenario's directory)".to_string(),
    };
    Err(ExecError::ProgramNotFound { name: name.to_string(), searched })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

// ------------------------------------------------------------------ output

/// One output stream: its first [`MAX_CAPTURE`] bytes, its last few KiB, and its length.
#[derive(Debug, Default)]
struct Capture {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
    /// Newlines seen.
    lines: u64,
}

impl Capture {
    fn push(&mut self, bytes: &[u8]) {
        self.total = self.total.saturating_add(bytes.len() as u64);
        self.lines = self.lines.saturating_add(bytes.iter().filter(|&&b| b == b'\n').count() as u64);
        let room = MAX_CAPTURE.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.tail.extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..]);
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
    }

    /// Read `pipe` to its end (or an error), keeping what fits.
    async fn fill(&mut self, mut pipe: impl AsyncRead + Unpin) {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            self.push(&buf[..n]);
        }
    }

    fn truncated(&self) -> bool {
        self.total > self.head.len() as u64
    }

    /// What the checks see.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// The stream's last lines, as a terminal would show them, indented; with a heading.
    fn show(&self, what: &str) -> String {
        if self.total == 0 {
            return format!("{what}: (empty)");
        }
        let kept = &self.tail[self.tail.len().saturating_sub(TAIL_BYTES)..];
        let text = String::from_utf8_lossy(kept);
        let mut lines: Vec<&str> = text.lines().collect();
        let mut cut = self.total > kept.len() as u64;
        if cut && lines.len() > 1 {
            // The first line kept probably starts mid-line.
            lines.remove(0);
        }
        if lines.len() > TAIL_LINES {
            lines.drain(..lines.len() - TAIL_LINES);
            cut = true;
        }
        let heading = if !cut {
            format!("{what}:")
        } else if self.truncated() {
            format!("{what} (last {} of {} lines, {}):", lines.len(), self.lines, bytes_text(self.total))
        } else {
            format!("{what} (last {} of {} lines):", lines.len(), self.lines.max(lines.len() as u64))
        };
        let mut out = heading;
        for line in lines {
            // A progress bar redraws with `\r`: show what stayed on screen.
            let line = line.split('\r').rfind(|s| !s.is_empty()).unwrap_or("");
            out.push_str("\n  ");
            out.push_str(&shorten(line.trim_end(), SHOWN_LINE));
        }
        out
    }
}

fn bytes_text(n: u64) -> String {
    match n {
        0..1024 => format!("{n} bytes"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// At most `max` characters of `s`, ending in `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The command as shown in notes: its words, quoted where needed, shortened.
fn shown_command(argv: &[String]) -> String {
    let words: Vec<String> = argv
        .iter()
        .map(|w| {
            if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c)) {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect();
    shorten(&words.join(" "), SHOWN_COMMAND)
}

// ------------------------------------------------------------------ running

/// Kills the command's process group when asked, or when dropped (the step abandoned).
struct GroupKill(Option<rustix::process::Pid>);

impl GroupKill {
    fn new(pid: Option<u32>) -> GroupKill {
        // Never 1: `kill(-1)` would signal every process we may signal.
        GroupKill(
            pid.and_then(|p| i32::try_from(p).ok())
                .filter(|&p| p > 1)
                .and_then(rustix::process::Pid::from_raw),
        )
    }

    /// Kill the group (once: afterwards its id may belong to someone else).
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // ESRCH (nobody left in the group) is the usual answer after a clean exit.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How the wait for the command ended.
enum Waited {
    Exited(ExitStatus),
    TimedOut,
    Failed(std::io::Error),
}

/// Wait for `child` (at most `limit`) while reading its output, then kill its process group
/// and give what it wrote a moment to arrive.
async fn supervise(
    child: &mut Child,
    group: &mut GroupKill,
    pipes: (Option<ChildStdout>, Option<ChildStderr>),
    out: &mut Capture,
    err: &mut Capture,
    limit: Duration,
) -> Waited {
    let reading = async {
        let o = async {
            if let Some(p) = pipes.0 {
                out.fill(p).await;
            }
        };
        let e = async {
            if let Some(p) = pipes.1 {
                err.fill(p).await;
            }
        };
        tokio::join!(o, e);
    };
    let mut reading = std::pin::pin!(reading);
    let mut read_all = false;
    let deadline = tokio::time::Instant::now() + limit;
    let waited = loop {
        tokio::select! {
            status = child.wait() => break match status {
                Ok(s) => Waited::Exited(s),
                Err(e) => Waited::Failed(e),
            },
            () = &mut reading, if !read_all => read_all = true,
            () = tokio::time::sleep_until(deadline) => break Waited::TimedOut,
        }
    };
    // On a timeout this stops the command; after an exit, whatever it left running.
    group.kill();
    if matches!(waited, Waited::TimedOut) {
        let _ = tokio::time::timeout(REAP_LIMIT, child.wait()).await;
    }
    if !read_all {
        let _ = tokio::time::timeout(DRAIN_GRACE, &mut reading).await;
    }
    waited
}

/// The image hash of `path` for `{hash}`, or why there is none.
fn image_hash(path: &Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    if len > MAX_DEVICE_FILE {
        return Err(format!("{}: {len} bytes is more than the {MAX_DEVICE_FILE}-byte limit", path.display()));
    }
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file_image_hash(&data)
        .ok_or_else(|| format!("{} is not an MCUboot image with a SHA-256 TLV", path.display()))
}

/// Run one `exec` step: expand its command in `ctx`, run it (killed after the step's
/// `timeout`, else `default_timeout`), and check its exit code, then its stdout, then its
/// stderr. Passed notes read "`smpmgr … image upload …` exited 0 in 1.20s"; a failure shows
/// the exit code and the last lines of both streams.
pub async fn run(step: &ExecStep, ctx: &ExecContext, default_timeout: Duration) -> StepStatus {
    let limit = step.timeout.map_or(default_timeout, |t| t.to_std());
    // A check that cannot be made fails the step before anything runs.
    for (what, m) in [("stdout", &step.stdout), ("stderr", &step.stderr)] {
        if let Some(Err(e)) = m.regex.as_deref().map(regex::Regex::new) {
            return StepStatus::Failed {
                expected: format!("a valid regular expression for {what}"),
                actual: e.to_string(),
            };
        }
    }
    // The image is read only when its hash is used.
    let wants_hash = placeholders(&step.command).is_ok_and(|p| p.contains(&"hash"));
    let hash = ctx.image.as_deref().filter(|_| wants_hash).map(image_hash);
    let argv = match expand(&step.command, ctx, hash.as_ref().and_then(|h| h.as_deref().ok())) {
        Ok(argv) => argv,
        Err(ExecError::Unavailable { name, .. }) if name == "hash" && matches!(hash, Some(Err(_))) => {
            let why = hash.and_then(Result::err).unwrap_or_default();
            return failed(step, format!("placeholder `{{hash}}` cannot be filled: {why}"));
        }
        Err(e) => return failed(step, e.to_string()),
    };
    let Some(name) = argv.first() else { return failed(step, ExecError::Empty.to_string()) };
    let shown = shown_command(&argv);

    let venv_var = std::env::var_os(VENV_VAR).map(PathBuf::from);
    // An empty `cwd` (a scenario read from text, with no directory) is the runner's own.
    let cwd = if ctx.cwd.as_os_str().is_empty() { Path::new(".") } else { ctx.cwd.as_path() };
    let venv = venv_bin(cwd, venv_var.as_deref());
    let path_var: Option<OsString> =
        step.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH"));
    let program = match find_program(name, cwd, venv.as_deref(), path_var.as_deref()) {
        Ok(p) => p,
        Err(e) => return failed(step, e.to_string()),
    };
    let child_path = venv.as_ref().filter(|v| v.is_dir()).and_then(|v| {
        let rest =
            path_var.as_deref().map(|p| std::env::split_paths(p).collect::<Vec<_>>()).unwrap_or_default();
        std::env::join_paths(std::iter::once(v.clone()).chain(rest)).ok()
    });

    let mut command = tokio::process::Command::new(&program);
    command
        .arg0(name)
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for (k, v) in DEFAULT_ENV {
        command.env(k, v);
    }
    for (k, v) in &step.env {
        command.env(k, v);
    }
    if let Some(p) = &child_path {
        command.env("PATH", p);
    }
    let started = Instant::now();
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return failed(step, format!("cannot start {}: {e}", program.display())),
    };
    let mut group = GroupKill::new(child.id());
    let pipes = (child.stdout.take(), child.stderr.take());
    let (mut out, mut err) = (Capture::default(), Capture::default());
    let waited = supervise(&mut child, &mut group, pipes, &mut out, &mut err, limit).await;
    let took = started.elapsed();
    let streams = format!("{}\n{}", out.show("stdout"), err.show("stderr"));

    let status = match waited {
        Waited::Exited(s) => s,
        Waited::TimedOut => {
            return StepStatus::Failed {
                expected: format!("`{shown}` finishes within {}", human(limit)),
                actual: format!("it did not finish within {} and was killed\n{streams}", human(limit)),
            };
        }
        Waited::Failed(e) => {
            return StepStatus::Failed {
                expected: format!("`{shown}` runs to its end"),
                actual: format!("waiting for it failed: {e}\n{streams}"),
            };
        }
    };
    let code = status.code();
    let ended = match code {
        Some(c) => format!("exit code {c}"),
        None => {
            use std::os::unix::process::ExitStatusExt as _;
            match status.signal() {
                Some(s) => format!("killed by signal {s}"),
                None => format!("ended with {status}"),
            }
        }
    };
    if code != Some(step.exit_code) {
        return StepStatus::Failed {
            expected: format!("`{shown}` exits with code {}", step.exit_code),
            actual: format!("{ended}\n{streams}"),
        };
    }
    let checks =
        [("stdout", &step.stdout, &out, ("stderr", &err)), ("stderr", &step.stderr, &err, ("stdout", &out))];
    for (what, want, cap, (other_what, other)) in checks {
        if let StepStatus::Failed { expected, actual } = check_text(what, want, &cap.text()) {
            // A short text is shown as the check saw it (quoted, exact), with the other
            // stream; a long one by the last lines of both.
            let actual = if actual.len() <= 300 {
                format!("{what} was {actual}\n{ended}\n{}", other.show(other_what))
            } else if cap.truncated() {
                format!(
                    "{ended}\n{streams}\n({what} was {}; the checks saw its first {})",
                    bytes_text(cap.total),
                    bytes_text(MAX_CAPTURE as u64)
                )
            } else {
                format!("{ended}\n{streams}")
            };
            return StepStatus::Failed { expected, actual };
        }
    }
    StepStatus::Passed { note: Some(format!("`{shown}` exited {} in {}", step.exit_code, human(took))) }
}

/// A step that could not be started: the command as written, and why.
fn failed(step: &ExecStep, why: String) -> StepStatus {
    StepStatus::Failed {
        expected: format!("`{}` runs", shorten(step.command.trim(), SHOWN_COMMAND)),
        actual: why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s).unwrap()
    }

    #[test]
    fn splits_like_a_posix_shell() {
        assert_eq!(
            words("smpmgr --port {pty}  image\tupload"),
            ["smpmgr", "--port", "{pty}", "image", "upload"]
        );
        assert_eq!(words(r#"echo 'a b' "c d" e\ f"#), ["echo", "a b", "c d", "e f"]);
        assert_eq!(
            words(r#"echo 'it''s' "say \"hi\"" "\n" \\"#),
            ["echo", "its", r#"say "hi""#, r"\n", r"\"]
        );
        assert_eq!(words("echo '' \"\" x"), ["echo", "", "", "x"]);
        assert_eq!(words("echo a\\\nb # a comment\nc"), ["echo", "ab", "c"]);
        assert_eq!(words("echo a#b '|' \"$\" 'a;b' *.bin ~"), ["echo", "a#b", "|", "$", "a;b", "*.bin", "~"]);
        assert_eq!(words("echo \"cost: 5 $\""), ["echo", "cost: 5 $"]);
    }

    #[test]
    fn shell_syntax_and_bad_quoting_are_errors() {
        assert_eq!(split("a | b"), Err(ExecError::ShellSyntax { op: '|', at: 3 }));
        assert_eq!(split("a > f"), Err(ExecError::ShellSyntax { op: '>', at: 3 }));
        assert_eq!(split("echo $HOME"), Err(ExecError::ShellSyntax { op: '$', at: 6 }));
        assert_eq!(split("echo \"$(id)\""), Err(ExecError::ShellSyntax { op: '$', at: 7 }));
        assert_eq!(split("echo `id`"), Err(ExecError::ShellSyntax { op: '`', at: 6 }));
        assert_eq!(split("echo 'abc"), Err(ExecError::UnterminatedQuote { quote: '\'', at: 6 }));
        assert_eq!(split("echo \"abc"), Err(ExecError::UnterminatedQuote { quote: '"', at: 6 }));
        assert_eq!(split("echo \\"), Err(ExecError::TrailingBackslash));
        assert_eq!(split("  # nothing"), Err(ExecError::Empty));
        assert_eq!(split(""), Err(ExecError::Empty));
    }

    fn full_ctx() -> ExecContext {
        ExecContext {
            pty: Some("/dev/pts/7".into()),
            udp: Some("127.0.0.1:40123".parse().unwrap()),
            image: Some("/fw/app 2.bin".into()),
            dir: "/tmp/scratch".into(),
            cwd: "/scenarios".into(),
        }
    }

    #[test]
    fn every_documented_placeholder_is_filled() {
        let ctx = full_ctx();
        for p in EXEC_PLACEHOLDERS {
            let got = expand(&format!("x {{{p}}}"), &ctx, Some(&[0xab, 0x01]));
            assert!(got.is_ok(), "{p}: {got:?}");
        }
        let got =
            expand("t {pty} {ip} {port} {addr} {image} {hash} {dir}", &ctx, Some(&[0xab, 0x01])).unwrap();
        assert_eq!(
            got,
            [
                "t",
                "/dev/pts/7",
                "127.0.0.1",
                "40123",
                "127.0.0.1:40123",
                "/fw/app 2.bin",
                "ab01",
                "/tmp/scratch"
            ]
        );
    }

    #[test]
    fn placeholders_sit_inside_words_and_braces_escape() {
        let ctx = full_ctx();
        assert_eq!(
            expand("c --conn=udp:{addr} '{{json}}' x{{y}}z", &ctx, None).unwrap(),
            ["c", "--conn=udp:127.0.0.1:40123", "{json}", "x{y}z"]
        );
        assert_eq!(placeholders("a {pty} {image} {pty} {hash}").unwrap(), ["pty", "image", "hash"]);
        assert!(matches!(expand("a {pty", &ctx, None), Err(ExecError::UnclosedBrace { .. })));
        assert!(matches!(expand("a }", &ctx, None), Err(ExecError::LoneBrace { .. })));
        assert!(matches!(expand("a {p-t}", &ctx, None), Err(ExecError::UnclosedBrace { .. })));
    }

    #[test]
    fn a_placeholder_the_context_cannot_fill_says_why() {
        let ctx = ExecContext::new("/s");
        let e = expand("smpmgr --port {pty}", &ctx, None).unwrap_err();
        assert!(
            e.to_string().contains("`{pty}` cannot be filled") && e.to_string().contains("UDP only"),
            "{e}"
        );
        let e = expand("x {hash}", &ctx, None).unwrap_err();
        assert_eq!(e.to_string(), "placeholder `{hash}` cannot be filled: the step has no `image`");
        let e = expand("x {ip}", &ctx, None).unwrap_err();
        assert!(e.to_string().contains("no UDP address"), "{e}");
        let e = expand("x {dir}/{bogus}", &ctx, None).unwrap_err();
        assert_eq!(e, ExecError::UnknownPlaceholder { name: "bogus".into() });
    }

    #[test]
    fn relative_image_paths_become_absolute_against_the_runners_directory() {
        let mut ctx = ExecContext::new("/scen/lib");
        ctx.image = Some("scen/fw/a.bin".into());
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            expand("x {image}", &ctx, None).unwrap()[1],
            here.join("scen/fw/a.bin").display().to_string()
        );
    }

    #[test]
    fn capture_keeps_the_head_and_the_tail() {
        let mut c = Capture::default();
        for i in 0..200_000u32 {
            c.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(c.head.len(), MAX_CAPTURE);
        assert!(c.truncated());
        assert!(c.text().starts_with("line 0\nline 1\n"));
        let shown = c.show("stdout");
        assert!(
            shown.starts_with("stdout (last 20 of 200000 lines, 2.2 MiB):")
                && shown.ends_with("\n  line 199999"),
            "{shown}"
        );
        let mut small = Capture::default();
        small.push(b"10%\r50%\r100%\ndone\n");
        assert_eq!(small.show("stdout"), "stdout:\n  100%\n  done");
        assert_eq!(Capture::default().show("stderr"), "stderr: (empty)");
    }

    #[test]
    fn commands_are_shown_quoted_and_short() {
        let argv: Vec<String> =
            ["smpmgr", "--port", "/dev/pts/3", "os", "echo", "hello world"].map(String::from).into();
        assert_eq!(shown_command(&argv), "smpmgr --port /dev/pts/3 os echo 'hello world'");
        let long: Vec<String> = vec!["x".repeat(300)];
        assert_eq!(shown_command(&long).chars().count(), SHOWN_COMMAND);
    }
}
