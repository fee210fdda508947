//! One module per `brownout` subcommand. `main.rs` only parses arguments and dispatches here.

pub mod check;
pub mod client;
pub mod decode;
pub mod image;
pub mod run;
pub mod sim;
pub mod sweep;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Deepest directory nesting searched for scenario files.
const MAX_DEPTH: usize = 16;

/// The scenario files named by `paths`: a file stands for itself; a directory for the `*.yaml`
/// and `*.yml` files below it, sorted, so runs are deterministic. Used by `check` and `run`.
pub(crate) fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, 0, &mut files)?;
    }
    Ok(files)
}

fn collect(path: &Path, depth: usize, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        bail!("{}: directories nested deeper than {MAX_DEPTH} levels", path.display());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("{}: cannot list", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, depth + 1, out)?;
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(entry);
        }
    }
    Ok(())
}
