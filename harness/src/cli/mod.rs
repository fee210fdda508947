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

/// The flash and bootloader flags `sim` and `sweep` share.
#[derive(Debug, clap::Args)]
pub struct FlashArgs {
    /// Flash layout preset: k64f, k64f-multi, stm32f4, nrf52840, nrf52840-spi, small-pages.
    #[arg(long, default_value = "k64f")]
    pub layout: String,
    /// Upgrade algorithm of the bootloader: overwrite, swap-scratch, swap-move, swap-offset.
    #[arg(long, default_value = "swap-scratch")]
    pub mode: String,
    /// Flash write size (alignment) in bytes: 1, 2, 4, 8, 16, 32.
    #[arg(long, default_value_t = 8)]
    pub align: u32,
    /// Erased value of the flash: 0xff or 0x00.
    #[arg(long, default_value = "0xff")]
    pub erased: String,
}

impl FlashArgs {
    /// The flags checked: the layout is a preset; returns the algorithm and the erased value.
    pub fn check(&self) -> anyhow::Result<(mcuboot::boot::Algorithm, u8)> {
        if mcuboot::layout::FlashMap::preset(&self.layout).is_none() {
            bail!(
                "unknown layout `{}` (known: {})",
                self.layout,
                mcuboot::layout::FlashMap::PRESETS.join(", ")
            );
        }
        let Some(algorithm) = sim_device::sweep::parse_algorithm(&self.mode) else {
            bail!("unknown mode `{}` (known: overwrite, swap-scratch, swap-move, swap-offset)", self.mode);
        };
        check_write_size(self.align)?;
        Ok((algorithm, parse_erased_value(&self.erased)?))
    }
}

/// `--erased`: the value of an erased flash byte, `0xff` or `0x00` (also `ff`, `255`, `0`).
pub(crate) fn parse_erased_value(s: &str) -> anyhow::Result<u8> {
    match s.to_ascii_lowercase().as_str() {
        "0xff" | "ff" | "255" => Ok(0xff),
        "0x00" | "0x0" | "00" | "0" => Ok(0),
        _ => bail!("--erased {s}: expected 0xff or 0x00"),
    }
}

/// `--align`: a flash write size MCUboot supports.
pub(crate) fn check_write_size(align: u32) -> anyhow::Result<()> {
    if !matches!(align, 1 | 2 | 4 | 8 | 16 | 32) {
        bail!("--align {align}: expected 1, 2, 4, 8, 16 or 32");
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erased_values_and_write_sizes() {
        assert_eq!(parse_erased_value("0x00").unwrap(), 0);
        assert_eq!(parse_erased_value("0xFF").unwrap(), 0xff);
        let err = parse_erased_value("0x7f").unwrap_err().to_string();
        assert_eq!(err, "--erased 0x7f: expected 0xff or 0x00");
        assert!(check_write_size(32).is_ok());
        assert_eq!(check_write_size(3).unwrap_err().to_string(), "--align 3: expected 1, 2, 4, 8, 16 or 32");
    }
}
