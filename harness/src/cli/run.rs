//! `brownout run`: run scenario files against the in-process simulator and report.
//!
//! ```text
//! brownout run scenarios/library                    # every *.yaml / *.yml below, recursively
//! brownout run scenarios/ --filter power --jobs 4 --junit report.xml --json report.json
//! brownout run scenarios/ --shard 2/3               # the second of three CI machines
//! brownout run a.yaml --seed 7                      # repeat a run with a given seed
//! ```
//!
//! Prints one line per scenario (✓ passed, ~ skipped steps, ✗ failed) with its step counts,
//! seed and duration, in file order whatever `--jobs` is; for a failure the step, its
//! `file:line`, expected and actual, the command that repeats it and its reproducer directory;
//! for a skipped step why; then a summary. Colour only when standard output is a terminal
//! (and `NO_COLOR` is unset). While scenarios run, progress goes to standard error: a bar when
//! it is a terminal, `[3/12] name … passed` lines otherwise.
//!
//! A failed scenario leaves a reproducer directory (`--repro-dir`, default
//! `target/brownout-repro/<scenario-file-stem>/`): the scenario, its seed, every flash device
//! whole, the decoded MCUboot trailers and the SMP transcript. `--no-repro` writes none.
//!
//! Exits 0 only if every scenario passed, 1 otherwise (a scenario with skipped steps has not
//! passed), 2 on bad arguments. A shard that gets no files (more shards than files) passes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::runner::report::Style;
use crate::runner::{self, Outcome, RunOptions, ScenarioReport, report};

/// Where reproducers go unless `--repro-dir` says otherwise (relative to the current directory).
pub const DEFAULT_REPRO_DIR: &str = "target/brownout-repro";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario files, or directories searched for `*.yaml` and `*.yml`.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Run only scenario files whose path contains this text.
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// Scenarios run at once (each on its own simulated device). Default: 1.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: u16,
    /// Run one part of the files, for spreading a run over CI machines: `i/n` sorts the files
    /// (after --filter) and takes every n-th from the i-th (1-based). The n shards together
    /// run every file exactly once.
    #[arg(long, value_name = "i/n", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Seed for every scenario, overriding their `seed:` (repeat a reported run).
    #[arg(long)]
    seed: Option<u64>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Where a failed scenario's reproducer directory is written (one subdirectory per
    /// scenario file, named after it, replaced by the next failure of the same file).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_REPRO_DIR)]
    repro_dir: PathBuf,
    /// Write no reproducer directories.
    #[arg(long, conflicts_with = "repro_dir")]
    no_repro: bool,
    /// What to run against: `sim` (the in-process simulator, default), `sim-pty` / `sim-udp`
    /// (`brownout sim` as a child process behind a real PTY / UDP socket), or the name of a
    /// board in the targets file. Scenarios a target cannot run are skipped with the reason.
    #[arg(long, value_name = "NAME", default_value = "sim")]
    target: String,
    /// The targets file describing boards (serial port or UDP address, power commands).
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Keep each scenario's files (`fs_download` `save_as`, `exec`'s `{dir}`, a child
    /// simulator's flash) in DIR/<scenario>/ instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// `--shard i/n`: the i-th (1-based) of n parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, 1..=count.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

/// Why a `--shard` value is not `i/n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("expected i/n (the i-th of n shards, e.g. 2/3), found `{0}`")]
    NotAFraction(String),
    #[error("`{text}` in `{whole}` is not a whole number")]
    NotANumber { text: String, whole: String },
    #[error("there must be at least one shard (n is 0)")]
    NoShards,
    #[error("shards are counted from 1, so i must be 1 to {count} (found 0)")]
    IndexZero { count: usize },
    #[error("shard {index} of {count} does not exist: i must be 1 to {count}")]
    IndexPastCount { index: usize, count: usize },
}

impl Shard {
    /// Parse `i/n`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let Some((i, n)) = text.split_once('/') else {
            return Err(ShardError::NotAFraction(text.to_string()));
        };
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| ShardError::NotANumber { text: s.to_string(), whole: text.into() })
        };
        let (index, count) = (number(i)?, number(n)?);
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index == 0 {
            return Err(ShardError::IndexZero { count });
        }
        if index > count {
            return Err(ShardError::IndexPastCount { index, count });
        }
        Ok(Shard { index, count })
    }

    /// This shard's part of `files`: sorted (duplicates removed), every `count`-th from the
    /// `index`-th.
    pub fn select(self, mut files: Vec<PathBuf>) -> Vec<PathBuf> {
        files.sort();
        files.dedup();
        files.into_iter().skip(self.index - 1).step_by(self.count).collect()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let targets_file = match &args.targets {
        Some(path) => Some(crate::runner::targets::TargetsFile::from_path(path)?),
        None => None,
    };
    let target = crate::runner::targets::resolve(&args.target, targets_file.as_ref())?;
    let mut files = super::scenario_files(&args.paths)?;
    if let Some(f) = &args.filter {
        files.retain(|p| p.to_string_lossy().contains(f.as_str()));
    }
    if files.is_empty() {
        bail!(
            "no scenario files (*.yaml, *.yml){} in {}",
            args.filter.as_deref().map(|f| format!(" matching `{f}`")).unwrap_or_default(),
            args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let total = files.len();
    if let Some(shard) = args.shard {
        files = shard.select(files);
        if files.is_empty() {
            eprintln!(
                "shard {}/{} has no scenario files ({total} in all): nothing to run",
                shard.index, shard.count
            );
        }
    }
    let options = RunOptions {
        seed: args.seed,
        repro_dir: (!args.no_repro).then(|| args.repro_dir.clone()),
        target: Some(target),
        out_dir: args.out.clone(),
    };
    let started = Instant::now();
    let jobs = usize::from(args.jobs);
    let shard_note =
        args.shard.map(|s| format!(" (shard {}/{} of {total})", s.index, s.count)).unwrap_or_default();
    eprintln!("running {} scenario(s){shard_note}, {} at a time", files.len(), jobs.min(files.len().max(1)));

    let style = Style::for_stdout();
    let progress = Progress::new(&files, jobs, style);
    let reports = runner::run_all(&files, &options, jobs, &|r| progress.done(r));
    progress.finish(&reports);

    println!("{}", report::summary_styled(&reports, started.elapsed(), style));
    if let Some(path) = &args.junit {
        let xml = report::to_junit(&reports).context("cannot write the JUnit report")?;
        std::fs::write(path, xml).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::to_json(&reports))?;
        std::fs::write(path, text + "\n").with_context(|| format!("{}: cannot write", path.display()))?;
    }
    let all_passed = reports.iter().all(|r| r.outcome == Outcome::Passed);
    Ok(if all_passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What the user sees while scenarios run: each scenario's lines on stdout in file order as
/// soon as it and every earlier one are done, and progress on stderr.
struct Progress<'a> {
    files: &'a [PathBuf],
    jobs: usize,
    style: Style,
    /// A bar when stderr is a terminal; `[i/n]` lines otherwise.
    bar: Option<indicatif::ProgressBar>,
    state: Mutex<Printed>,
}

struct Printed {
    /// Each file's text once it is done, until printed.
    ready: Vec<Option<String>>,
    /// Files done (in any order), to tell which are still running.
    done: Vec<bool>,
    /// The first file not yet printed.
    next: usize,
    finished: usize,
}

impl<'a> Progress<'a> {
    fn new(files: &'a [PathBuf], jobs: usize, style: Style) -> Progress<'a> {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (terminal && !files.is_empty()).then(|| {
            let bar = indicatif::ProgressBar::new(files.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {wide_msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let progress = Progress {
            files,
            jobs,
            style,
            bar,
            state: Mutex::new(Printed {
                ready: vec![None; files.len()],
                done: vec![false; files.len()],
                next: 0,
                finished: 0,
            }),
        };
        if let Some(bar) = &progress.bar {
            bar.set_message(progress.running(&progress.lock()));
        }
        progress
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Printed> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The names of the scenarios running now: the runner takes files in order, so they are
    /// the first `finished + jobs` files not yet done.
    fn running(&self, state: &Printed) -> String {
        let upto = (state.finished + self.jobs).min(self.files.len());
        let names: Vec<String> = (0..upto)
            .filter(|&i| !state.done[i])
            .map(|i| {
                let f = &self.files[i];
                f.file_stem().map_or_else(|| f.display().to_string(), |s| s.to_string_lossy().into_owned())
            })
            .collect();
        if names.is_empty() { String::new() } else { format!("running {}", names.join(", ")) }
    }

    fn done(&self, report: &ScenarioReport) {
        let mut state = self.lock();
        // The same file may be listed twice: take the first not yet done. A report for a file
        // not in the list is left for `finish`, which prints every report not yet printed.
        let Some(i) = (0..self.files.len()).find(|&i| !state.done[i] && self.files[i] == report.file) else {
            return;
        };
        state.done[i] = true;
        state.finished += 1;
        state.ready[i] = Some(report.render(self.style));
        let mut text = String::new();
        loop {
            let next = state.next;
            let Some(t) = state.ready.get_mut(next).and_then(Option::take) else { break };
            text.push_str(&t);
            state.next += 1;
        }
        let print = || {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.bar {
            Some(bar) => {
                bar.suspend(print);
                bar.set_position(state.finished as u64);
                bar.set_message(self.running(&state));
            }
            None => {
                eprintln!(
                    "[{}/{}] {} … {}",
                    state.finished,
                    self.files.len(),
                    report.file.display(),
                    runner::kebab(&report.outcome)
                );
                print();
            }
        }
    }

    /// Clear the bar and print whatever has not been printed yet (in file order), so no
    /// scenario's line is lost even if its progress call never came.
    fn finish(&self, reports: &[ScenarioReport]) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let mut state = self.lock();
        let mut text = String::new();
        let from = state.next;
        for (i, r) in reports.iter().enumerate().skip(from) {
            let ready = state.ready.get_mut(i).and_then(Option::take);
            text.push_str(&ready.unwrap_or_else(|| r.render(self.style)));
        }
        state.next = state.next.max(reports.len());
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn shards_parse_and_say_what_is_wrong() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        assert_eq!(Shard::parse("1/1").unwrap(), Shard { index: 1, count: 1 });
        assert_eq!(Shard::parse("0/0").unwrap_err(), ShardError::NoShards);
        assert_eq!(Shard::parse("0/2").unwrap_err(), ShardError::IndexZero { count: 2 });
        assert_eq!(Shard::parse("3/2").unwrap_err(), ShardError::IndexPastCount { index: 3, count: 2 });
        assert_eq!(Shard::parse("x").unwrap_err(), ShardError::NotAFraction("x".into()));
        assert!(matches!(Shard::parse("a/2"), Err(ShardError::NotANumber { .. })));
        assert!(matches!(Shard::parse("1/-2"), Err(ShardError::NotANumber { .. })));
    }

    #[test]
    fn shards_cover_every_file_exactly_once() {
        let files: Vec<PathBuf> = (0..11).rev().map(|i| PathBuf::from(format!("s{i:02}.yaml"))).collect();
        for count in 1..=13 {
            let mut all: Vec<PathBuf> =
                (1..=count).flat_map(|index| Shard { index, count }.select(files.clone())).collect();
            all.sort();
            let mut want = files.clone();
            want.sort();
            assert_eq!(all, want, "{count} shards");
        }
        let first = Shard { index: 1, count: 3 }.select(files.clone());
        assert_eq!(first, ["s00.yaml", "s03.yaml", "s06.yaml", "s09.yaml"].map(PathBuf::from));
    }
}
