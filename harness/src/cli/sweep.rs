//! `brownout sweep`: cut the power at every flash operation of an MCUboot upgrade and of its
//! revert, reboot, and check that the device always comes back with the promised image.
//!
//! ```text
//! brownout sweep --layout k64f --mode swap-scratch --align 8 --erased 0xff \
//!                --cuts before,after,torn,erase --phase upgrade,revert --repeat 1 --seed 1
//! ```
//!
//! Prints the cut points tried per phase, the outcome counts, every failure and documented
//! limitation with a command line that reruns just that case, and the speed (cuts per
//! second). Exits 0 when nothing failed, 1 when a case failed or the uninterrupted boot itself
//! did not end as MCUboot documents, 2 on bad arguments. `--json` prints the whole report as
//! JSON instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use sim_device::flash::ProgramMode;
use sim_device::sweep::{
    CaseReport, CutKind, Phase, SweepImages, SweepParams, SweepReport, image_from_file, run_sweep,
};

/// Largest image file accepted (bigger than any slot of the presets).
const MAX_IMAGE_FILE: u64 = 16 << 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    geometry: super::FlashArgs,
    /// Cut kinds, comma-separated: before, after, torn-prefix, torn-word, erase-half,
    /// erase-random; `torn` = both torn-write kinds, `erase` = both interrupted-erase kinds,
    /// `all` = everything.
    #[arg(long, default_value = "before,after,torn,erase")]
    cuts: String,
    /// Phases to cut, comma-separated: upgrade, revert.
    #[arg(long, default_value = "upgrade,revert")]
    phase: String,
    /// Power cuts in a row per case (the ones after the first strike seeded random operations
    /// of the recovery boots).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Seed of every random choice (torn-word masks, erase noise, repeated cuts).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Request a permanent upgrade instead of a test one (no revert phase).
    #[arg(long)]
    permanent: bool,
    /// Let writes over written cells clear bits like real NOR cells, instead of refusing them
    /// like MCUboot's simulator.
    #[arg(long)]
    realistic: bool,
    /// Only cut at this operation number (to rerun one case).
    #[arg(long)]
    op: Option<u64>,
    /// Only use this kind for the first cut of each case (to rerun one repeated case; later
    /// cuts still draw from --cuts).
    #[arg(long)]
    only_cut: Option<String>,
    /// The running image (imgtool output); default: a synthetic 20000-byte v1.0.0 image.
    #[arg(long)]
    primary: Option<PathBuf>,
    /// The upgrade image (imgtool output); default: a synthetic 24000-byte v2.0.0 image.
    #[arg(long)]
    secondary: Option<PathBuf>,
    /// Reach every cut point by re-running the bootloader from the start instead of replaying
    /// recorded operations (slower; for cross-checking).
    #[arg(long)]
    no_fast_forward: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let params = params(&args)?;
    let images = images(&args)?;
    let report = run_sweep(&params, &images).context("sweep")?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report).context("encoding the report")?;
        json.push('\n');
        json
    } else {
        render(&report, &file_args(&args))
    };
    let code = if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the report"),
        _ => Ok(code),
    }
}

fn params(args: &Args) -> anyhow::Result<SweepParams> {
    let (algorithm, erased) = args.geometry.check()?;
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let mut phases = Vec::new();
    for word in args.phase.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match Phase::parse(word) {
            Some(p) if !phases.contains(&p) => phases.push(p),
            Some(_) => {}
            None => bail!("unknown phase `{word}` (known: upgrade, revert)"),
        }
    }
    if phases.is_empty() {
        bail!("--phase names no phase");
    }
    let mut params = SweepParams::new(&args.geometry.layout, algorithm);
    params.write_size = args.geometry.align;
    params.erased = erased;
    params.permanent = args.permanent;
    params.cuts = CutKind::parse_list(&args.cuts)?;
    params.phases = phases;
    params.repeat = args.repeat;
    params.seed = args.seed;
    params.program_mode = if args.realistic { ProgramMode::Realistic } else { ProgramMode::Strict };
    params.only_op = args.op;
    params.only_cut = match &args.only_cut {
        Some(name) => match CutKind::parse_list(name)?.as_slice() {
            [one] => Some(*one),
            _ => bail!("--only-cut takes one cut kind, not `{name}`"),
        },
        None => None,
    };
    params.fast_forward = !args.no_fast_forward;
    Ok(params)
}

fn images(args: &Args) -> anyhow::Result<SweepImages> {
    let default = SweepImages::appendix_a();
    let old = match &args.primary {
        Some(path) => image_from_file("primary", &read_image(path)?)?,
        None => default.old,
    };
    let new = match &args.secondary {
        Some(path) => image_from_file("secondary", &read_image(path)?)?,
        None => default.new,
    };
    if old == new {
        bail!("the primary and secondary images are identical: a sweep could not tell them apart");
    }
    Ok(SweepImages { old, new })
}

fn read_image(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if len > MAX_IMAGE_FILE {
        bail!("{} is {len} bytes, larger than any slot ({MAX_IMAGE_FILE} bytes max)", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The image arguments to append to reproducer command lines.
fn file_args(args: &Args) -> String {
    let mut s = String::new();
    if let Some(p) = &args.primary {
        s.push_str(&format!(" --primary {}", p.display()));
    }
    if let Some(p) = &args.secondary {
        s.push_str(&format!(" --secondary {}", p.display()));
    }
    s
}

/// The text summary.
pub fn render(r: &SweepReport, file_args: &str) -> String {
    let mut out = String::new();
    let cuts: Vec<&str> = r.cuts.iter().map(|c| c.name()).collect();
    out.push_str(&format!(
        "brownout sweep: layout {}, {}, write size {}, erased {:#04x}, {} upgrade, cuts {}, repeat {}, seed {}\n",
        r.layout,
        r.algorithm,
        r.write_size,
        r.erased,
        if r.permanent { "permanent" } else { "test" },
        cuts.join(","),
        r.repeat,
        r.seed
    ));
    for p in &r.phases {
        if let Some(why) = &p.skipped {
            out.push_str(&format!("  {:<8} skipped: {why}\n", p.phase.name()));
            continue;
        }
        let outcomes: Vec<String> = p.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!(
            "  {:<8} {} flash ops ({} writes, {} erases), {} cut points: {}\n",
            p.phase.name(),
            p.reference_ops,
            p.reference_writes,
            p.reference_erases,
            p.cases,
            if outcomes.is_empty() { "none".to_string() } else { outcomes.join(", ") }
        ));
        for problem in &p.reference_problems {
            out.push_str(&format!("    REFERENCE PROBLEM: {problem}\n"));
        }
    }
    out.push_str(&format!(
        "  {} cut points, {} boots in {:.3} s: {:.0} cuts/s\n",
        r.cases, r.boots, r.elapsed_secs, r.cases_per_second
    ));
    let list = |out: &mut String, title: &str, count: u64, cases: &[CaseReport]| {
        if count == 0 {
            return;
        }
        out.push_str(&format!(
            "  {title}: {count}{}\n",
            if count as usize > cases.len() { " (first ones listed)" } else { "" }
        ));
        for c in cases {
            out.push_str(&format!(
                "    {} op {} ({}), cut {}: {}{}{}\n      rerun: {}{}\n",
                c.phase.name(),
                c.op,
                c.operation,
                c.cut.name(),
                c.outcome.name(),
                if c.detail.is_empty() { String::new() } else { format!(" — {}", c.detail) },
                c.reason.as_ref().map(|r| format!("\n      why: {r}")).unwrap_or_default(),
                c.reproducer,
                file_args
            ));
            if c.struck.len() > 1 {
                out.push_str(&format!("      cuts that struck: {}\n", c.struck.join("; ")));
            }
        }
    };
    list(&mut out, "FAILURES", r.failure_count, &r.failures);
    list(&mut out, "documented MCUboot limitations", r.limitation_count, &r.limitations);
    list(
        &mut out,
        "tolerated (torn operation, still boots, not the reference state)",
        r.tolerated_count,
        &r.tolerated,
    );
    out.push_str(if r.passed() { "result: PASS\n" } else { "result: FAIL\n" });
    out
}
