//! Test support: where the third-party peers are, and what to do when one is missing.
//!
//! Peers are looked up first in the workspace's Python venv (`<workspace>/.venv/bin`, which
//! `.ci/run` creates), then on `PATH`. A test that needs a missing peer prints
//! `skipped: <why>` and returns early — unless `BROWNOUT_REQUIRE_PEERS=1`, under which a missing
//! peer fails the test, so CI never passes by skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // testkit lives at <root>/testkit.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// True when missing peers must fail tests instead of skipping them.
pub fn peers_required() -> bool {
    std::env::var("BROWNOUT_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Report a missing peer: panics under `BROWNOUT_REQUIRE_PEERS=1`, else prints why the test is
/// skipped. Always returns `None` so callers can write `let Some(x) = ... else { return };`.
pub fn missing<T>(what: &str, how_to_get: &str) -> Option<T> {
    if peers_required() {
        panic!("BROWNOUT_REQUIRE_PEERS=1 but {what} is missing ({how_to_get})");
    }
    eprintln!(
        "skipped: {what} is missing ({how_to_get}); set BROWNOUT_REQUIRE_PEERS=1 to make this a failure"
    );
    None
}

/// Find an executable by name in the venv, then on `PATH`.
pub fn find_executable(name: &str) -> Option<PathBuf> {
    let venv = workspace_root().join(".venv").join("bin").join(name);
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// An executable peer tool, or `None` after reporting it missing (see [`missing`]).
pub fn peer_tool(name: &str, how_to_get: &str) -> Option<PathBuf> {
    find_executable(name).or_else(|| missing(&format!("`{name}`"), how_to_get))
}

/// A Python interpreter that can `import module`, or `None` after reporting it missing.
pub fn python_with(module: &str, how_to_get: &str) -> Option<PathBuf> {
    let candidates = [find_executable("python"), find_executable("python3")];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    missing(&format!("a Python with the `{module}` package"), how_to_get)
}

/// Run `python -c script` with `stdin` as its standard input and collect its output.
///
/// The input is written from another thread: a script that answers line by line fills its
/// output pipe while input is still going in, and writing everything first would deadlock.
/// Panics (this is test support) if Python cannot be started or the input cannot be written;
/// the caller checks `status` and reads `stdout`/`stderr`.
pub fn run_python(python: &Path, script: &str, stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_owned();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python finishes");
    writer.join().expect("writer thread").expect("input written to python");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn run_python_passes_input_and_returns_output() {
        // Any python3 will do; this does not need a peer package.
        let Some(py) = find_executable("python3") else { return };
        // Large enough to fill a pipe both ways if the input were written before reading.
        let input = "x".repeat(1 << 20) + "\n";
        let out = run_python(&py, "import sys\nd = sys.stdin.read()\nsys.stdout.write(d)", &input);
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), input.len());
    }

    #[test]
    fn a_tool_that_cannot_exist_is_not_found() {
        assert_eq!(find_executable("brownout-no-such-tool-3f9a"), None);
    }
}
